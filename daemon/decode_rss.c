/* decode_rss: RSS 0.91/1.0/2.0 and Atom documents; the one module that
 * talks to expat.
 *
 * A record is a whole feed document (the rss source polls it).  Items
 * (<item>, <entry>) become posts: id from guid / Atom id / link (else a
 * hash of title and date), text = title, a blank line, then the description,
 * summary or content:encoded as plain text (html.c), url from <link> (Atom:
 * the alternate href), author from dc:creator / author/name / author, date
 * from pubDate / published / updated / dc:date, language from the channel's
 * <language> or xml:lang.  Items already emitted (bounded memory of ids per
 * feed) are not emitted again, so a feed polled every few minutes gives
 * each item once.
 *
 * Charsets: a BOM or an encoding expat knows (UTF-8, UTF-16, ISO-8859-1,
 * US-ASCII) is left to expat; any other declared encoding (GB2312,
 * ISO-8859-2, windows-1252, ...) is converted to UTF-8 with iconv and the
 * parser told so.  A document with no declaration uses the HTTP charset
 * (decoder hint "content_type"), and if it is not valid UTF-8 either, is
 * read as windows-1252, as feed readers do.  Entity expansion is bounded
 * by expat's billion-laughs protection; no external entity is loaded;
 * element nesting is capped by max_depth.
 */
#include "decode.h"
#include "html.h"
#include "util.h"

#include <ctype.h>
#include <expat.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RSS_SEEN 4096                   /* item ids remembered per feed */
#define RSS_FIELD_CAP (256u * 1024u)    /* bytes kept of one item field */

enum rss_field { F_TITLE, F_LINK, F_ID, F_BODY, F_CONTENT, F_DATE, F_AUTHOR, F_N };

struct decoder {
    XML_Parser xp;
    int max_depth, depth, item_depth, in_author, author_named, field;
    const char *reject;
    struct buf f[F_N];                  /* fields of the current item */
    struct buf chan_lang, text;
    char *conv;                         /* the document converted to UTF-8 */
    size_t conv_len;
    char lang_attr[16];
    char charset_hint[40];
    int atom_link_set;
    uint64_t seen[RSS_SEEN];            /* hashes of emitted item ids, ring */
    int seen_next;
    struct arena arena;
    const char *urls[1];                /* the post's link, for url:/has:links */
    decode_post_fn fn;
    void *ctx;
    int posts, items;
};

static const char *local_name(const char *name)
{
    const char *c = strrchr(name, ':');
    return c ? c + 1 : name;
}

static int is_prefixed(const char *name, const char *prefix)
{
    size_t n = strlen(prefix);
    return strncmp(name, prefix, n) == 0 && name[n] == ':';
}

static void rss_item_reset(struct decoder *d)
{
    for (int i = 0; i < F_N; i++)
        buf_reset(&d->f[i]);
    d->atom_link_set = 0;
    d->lang_attr[0] = '\0';
}

static const char *attr(const char **atts, const char *name)
{
    for (int i = 0; atts[i]; i += 2)
        if (strcmp(atts[i], name) == 0)
            return atts[i + 1];
    return NULL;
}

static void XMLCALL on_start(void *ud, const char *name, const char **atts)
{
    struct decoder *d = ud;
    const char *ln = local_name(name);

    if (++d->depth > d->max_depth) {
        d->reject = "XML nested deeper than max_depth";
        XML_StopParser(d->xp, XML_FALSE);
        return;
    }
    if (d->item_depth == 0) {
        if (strcmp(ln, "item") == 0 || strcmp(ln, "entry") == 0) {
            const char *lang = attr(atts, "xml:lang");
            d->item_depth = d->depth;
            rss_item_reset(d);
            if (lang)
                str_copy(d->lang_attr, lang, sizeof d->lang_attr);
        } else if (strcmp(name, "language") == 0 || strcmp(name, "dc:language") == 0) {
            buf_reset(&d->chan_lang);
            d->field = -2;                          /* the channel's language */
        } else if (d->depth <= 2 && attr(atts, "xml:lang") && d->chan_lang.len == 0) {
            buf_append(&d->chan_lang, attr(atts, "xml:lang"), strlen(attr(atts, "xml:lang")));
        }
        return;
    }
    if (d->depth != d->item_depth + 1) {
        /* Inside a field its text is collected, except that an Atom
         * <author> gives only its <name>. */
        if (d->in_author && strcmp(ln, "name") == 0) {
            buf_reset(&d->f[F_AUTHOR]);
            d->field = F_AUTHOR;
            d->author_named = 1;
        } else if (d->in_author) {
            d->field = -3;
        }
        return;
    }
    d->field = -1;
    if (strcmp(ln, "title") == 0)
        d->field = F_TITLE;
    else if (strcmp(ln, "link") == 0) {
        const char *href = attr(atts, "href"), *rel = attr(atts, "rel");
        if (href) {                                 /* Atom: the alternate link */
            if (!d->atom_link_set && (!rel || strcmp(rel, "alternate") == 0)) {
                buf_reset(&d->f[F_LINK]);
                buf_append(&d->f[F_LINK], href, strlen(href));
                d->atom_link_set = 1;
            }
        } else {
            d->field = F_LINK;
        }
    } else if (strcmp(ln, "guid") == 0 || (strcmp(ln, "id") == 0 && !is_prefixed(name, "itunes")))
        d->field = F_ID;
    else if (strcmp(ln, "description") == 0 || strcmp(ln, "summary") == 0)
        d->field = is_prefixed(name, "itunes") || is_prefixed(name, "media") ? -1 : F_BODY;
    else if (strcmp(name, "content:encoded") == 0 || strcmp(name, "content") == 0)
        d->field = F_CONTENT;
    else if (strcmp(ln, "pubDate") == 0 || strcmp(ln, "published") == 0 ||
             (strcmp(ln, "updated") == 0 && d->f[F_DATE].len == 0) || strcmp(name, "dc:date") == 0)
        d->field = F_DATE;
    else if (strcmp(name, "dc:creator") == 0 || strcmp(name, "author") == 0) {
        d->field = F_AUTHOR;
        d->in_author = 1;
        d->author_named = 0;
    }
    if (d->field >= 0)
        buf_reset(&d->f[d->field]);
}

static void rss_emit(struct decoder *d);

static void XMLCALL on_end(void *ud, const char *name)
{
    struct decoder *d = ud;

    (void)name;
    if (d->item_depth && d->depth == d->item_depth) {
        rss_emit(d);
        d->item_depth = 0;
    } else if (d->item_depth && d->depth == d->item_depth + 1) {
        d->field = -1;
        d->in_author = 0;
    } else if (d->item_depth && d->in_author && d->depth > d->item_depth + 1) {
        d->field = d->author_named ? -3 : F_AUTHOR;
    } else if (d->field == -2) {
        d->field = -1;
    }
    d->depth--;
}

static void XMLCALL on_text(void *ud, const char *s, int len)
{
    struct decoder *d = ud;
    struct buf *b = d->field == -2 ? &d->chan_lang : d->field >= 0 && d->item_depth ? &d->f[d->field] : NULL;

    if (b)
        buf_append(b, s, (size_t)len);              /* past its cap a field stays cut */
}

static const char *trimmed(struct arena *a, const struct buf *b)
{
    const char *p = b->data ? b->data : "";
    size_t n = b->len;

    while (n && isspace((unsigned char)*p))
        p++, n--;
    while (n && isspace((unsigned char)p[n - 1]))
        n--;
    return n ? arena_strndup(a, p, n) : NULL;
}

static int seen_before(struct decoder *d, uint64_t h)
{
    for (int i = 0; i < RSS_SEEN; i++)
        if (d->seen[i] == h)
            return 1;
    d->seen[d->seen_next] = h;
    d->seen_next = (d->seen_next + 1) % RSS_SEEN;
    return 0;
}

static void rss_emit(struct decoder *d)
{
    struct post p;
    const char *title = trimmed(&d->arena, &d->f[F_TITLE]), *id = trimmed(&d->arena, &d->f[F_ID]);
    const char *link = trimmed(&d->arena, &d->f[F_LINK]), *date = trimmed(&d->arena, &d->f[F_DATE]);
    const struct buf *body = d->f[F_CONTENT].len ? &d->f[F_CONTENT] : &d->f[F_BODY];
    char hid[32];

    d->items++;
    if (!id)
        id = link;
    if (!id) {
        uint64_t h = hash_bytes(d->f[F_TITLE].data ? d->f[F_TITLE].data : "", d->f[F_TITLE].len) ^
                     hash_bytes(d->f[F_DATE].data ? d->f[F_DATE].data : "", d->f[F_DATE].len);
        snprintf(hid, sizeof hid, "h%016llx", (unsigned long long)h);
        id = arena_strndup(&d->arena, hid, strlen(hid));
    }
    if (!id || seen_before(d, hash_bytes(id, strlen(id))))
        return;
    buf_reset(&d->text);
    /* Past the text cap the text is cut; the item is still handed on. */
    if (title && html_to_text(title, strlen(title), &d->text, NULL) == 0 && body->len)
        buf_append(&d->text, "\n\n", 2);
    if (body->len)
        html_to_text(body->data, body->len, &d->text, NULL);
    post_clear(&p);
    p.id = id;
    p.text = arena_strndup(&d->arena, d->text.data ? d->text.data : "", d->text.len);
    p.url = link;
    p.created_at = date;
    p.author.handle = trimmed(&d->arena, &d->f[F_AUTHOR]);
    p.author.name = p.author.handle;
    p.lang = d->lang_attr[0] ? arena_strndup(&d->arena, d->lang_attr, strlen(d->lang_attr))
                             : trimmed(&d->arena, &d->chan_lang);
    if (link) {
        d->urls[0] = link;
        p.urls = d->urls;
        p.nurls = 1;
    }
    if (!p.text || !p.id)
        return;
    d->posts++;
    d->fn(d->ctx, &p);
}

static void rss_hint(struct decoder *d, const char *key, const char *val)
{
    const char *cs;

    if (strcmp(key, "content_type") != 0)
        return;
    d->charset_hint[0] = '\0';
    if (val && (cs = strcasestr(val, "charset="))) {
        cs += 8;
        cs += *cs == '"';
        str_copy(d->charset_hint, cs, sizeof d->charset_hint);
        d->charset_hint[strcspn(d->charset_hint, "\"; ")] = '\0';
    }
}

static struct decoder *rss_create(const struct source_conf *sc)
{
    struct decoder *d = xcalloc_try(1, sizeof *d);
    size_t max_record = sc ? (size_t)sc->max_record : 8u * 1024 * 1024;

    if (!d)
        return NULL;
    d->max_depth = sc ? (int)sc->max_depth : 64;
    for (int i = 0; i < F_N; i++)
        buf_init(&d->f[i], RSS_FIELD_CAP);
    buf_init(&d->chan_lang, 64);
    buf_init(&d->text, RSS_FIELD_CAP * 2 + 16);
    arena_init(&d->arena, max_record * 2 + 4096);
    return d;
}

static void rss_destroy(struct decoder *d)
{
    if (!d)
        return;
    if (d->xp)
        XML_ParserFree(d->xp);
    for (int i = 0; i < F_N; i++)
        buf_free(&d->f[i]);
    buf_free(&d->chan_lang);
    buf_free(&d->text);
    free(d->conv);
    arena_free(&d->arena);
    free(d);
}

/* The encoding named in the XML declaration, or "" if none. */
static void declared_encoding(const char *doc, size_t len, char *out, size_t outlen)
{
    const char *end, *e;
    size_t n;

    out[0] = '\0';
    if (len < 6 || memcmp(doc, "<?xml", 5) != 0 || !(end = memmem(doc, len < 512 ? len : 512, "?>", 2)))
        return;
    e = memmem(doc, (size_t)(end - doc), "encoding=", 9);
    if (!e || (e[9] != '"' && e[9] != '\''))
        return;
    e += 10;
    n = strcspn(e, "\"'?");
    if (n >= outlen || e + n > end)
        return;
    memcpy(out, e, n);
    out[n] = '\0';
}

static int utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i], k = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2
                                                 : (c & 0xF8) == 0xF0 ? 3 : 9;
        if (k == 9 || i + k >= n + (k == 0))
            return k == 0;
        for (unsigned j = 1; j <= k; j++)
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        i += k + 1;
    }
    return 1;
}

static int expat_native(const char *enc)
{
    return !strcasecmp(enc, "UTF-8") || !strcasecmp(enc, "UTF8") || !strcasecmp(enc, "UTF-16") ||
           !strcasecmp(enc, "ISO-8859-1") || !strcasecmp(enc, "US-ASCII") || !strcasecmp(enc, "latin1");
}

/* Convert doc from enc to UTF-8 into d->conv (at most 4 bytes per input
 * byte, which bounds it by the record cap).  0, or -1 with err. */
static int to_utf8(struct decoder *d, const char *enc, const char *doc, size_t len, char *err, size_t errlen)
{
    iconv_t cd = iconv_open("UTF-8", enc);
    char *in = (char *)doc, *out;
    size_t inleft = len, outleft = len * 4;

    if (cd == (iconv_t)-1) {
        snprintf(err, errlen, "unknown charset \"%.40s\"", enc);
        return -1;
    }
    free(d->conv);
    if (!(d->conv = xmalloc_try(outleft + 1))) {
        iconv_close(cd);
        snprintf(err, errlen, "out of memory converting from %.40s", enc);
        return -1;
    }
    out = d->conv;
    if (iconv(cd, &in, &inleft, &out, &outleft) == (size_t)-1) {
        iconv_close(cd);
        snprintf(err, errlen, "bytes not valid in charset %.40s at offset %zu", enc, (size_t)(in - doc));
        return -1;
    }
    iconv_close(cd);
    d->conv_len = (size_t)(out - d->conv);
    return 0;
}

static enum decode_ret rss_decode(struct decoder *d, const char *rec, size_t len,
                                  decode_post_fn fn, void *ctx, char *err, size_t errlen)
{
    char enc[48];
    const char *force = NULL;
    int bom = len >= 2 && ((unsigned char)rec[0] == 0xFE || (unsigned char)rec[0] == 0xFF ||
                           (len >= 3 && !memcmp(rec, "\xEF\xBB\xBF", 3)));

    arena_reset(&d->arena);
    /* Blank lines before the declaration are a common server bug that
     * feed readers forgive; expat does not. */
    while (!bom && len && (*rec == ' ' || *rec == '\t' || *rec == '\r' || *rec == '\n'))
        rec++, len--;
    declared_encoding(rec, len, enc, sizeof enc);
    if (!bom && enc[0] && !expat_native(enc)) {
        if (to_utf8(d, enc, rec, len, err, errlen) != 0)
            return DECODE_MALFORMED;
        rec = d->conv;
        len = d->conv_len;
        force = "UTF-8";
    } else if (!bom && !enc[0] && !utf8_valid((const unsigned char *)rec, len)) {
        const char *cs = d->charset_hint[0] ? d->charset_hint : "WINDOWS-1252";
        if (to_utf8(d, cs, rec, len, err, errlen) != 0)
            return DECODE_MALFORMED;
        rec = d->conv;
        len = d->conv_len;
        force = "UTF-8";
    }
    if (d->xp)
        XML_ParserFree(d->xp);
    d->xp = XML_ParserCreate(force);
    if (!d->xp) {
        snprintf(err, errlen, "out of memory");
        return DECODE_MALFORMED;
    }
    XML_SetUserData(d->xp, d);
    XML_SetElementHandler(d->xp, on_start, on_end);
    XML_SetCharacterDataHandler(d->xp, on_text);
    d->depth = d->item_depth = d->in_author = 0;
    d->field = -1;
    d->reject = NULL;
    d->fn = fn;
    d->ctx = ctx;
    d->posts = d->items = 0;
    buf_reset(&d->chan_lang);
    if (XML_Parse(d->xp, rec, (int)len, XML_TRUE) != XML_STATUS_OK) {
        snprintf(err, errlen, "%s at line %lu, column %lu (byte %ld)%s",
                 d->reject ? d->reject : XML_ErrorString(XML_GetErrorCode(d->xp)),
                 (unsigned long)XML_GetCurrentLineNumber(d->xp),
                 (unsigned long)XML_GetCurrentColumnNumber(d->xp), (long)XML_GetCurrentByteIndex(d->xp),
                 d->posts ? "; items before it were read" : "");
        return d->posts ? DECODE_OK : DECODE_MALFORMED;
    }
    if (d->items == 0) {
        snprintf(err, errlen, "no <item> or <entry>: not an RSS or Atom feed");
        return DECODE_SKIP;
    }
    if (d->posts == 0) {
        snprintf(err, errlen, "%d items, all seen before", d->items);
        return DECODE_SKIP;
    }
    return DECODE_OK;
}

const struct decoder_ops decode_rss_ops = {
    .name = "rss",
    .create = rss_create,
    .destroy = rss_destroy,
    .decode = rss_decode,
    .hint = rss_hint,
};
