/* html: HTML fragments to plain text; see html.h. */
#include "html.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define HTML_NAME_MAX 16

static const struct { const char *name; unsigned cp; } entities[] = {
    {"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0},
    {"hellip", 0x2026}, {"mdash", 0x2014}, {"ndash", 0x2013}, {"lsquo", 0x2018}, {"rsquo", 0x2019},
    {"ldquo", 0x201C}, {"rdquo", 0x201D}, {"laquo", 0xAB}, {"raquo", 0xBB}, {"copy", 0xA9},
    {"reg", 0xAE}, {"trade", 0x2122}, {"euro", 0x20AC}, {"pound", 0xA3}, {"bull", 0x2022},
    {"middot", 0xB7}, {"shy", 0xAD}, {"zwj", 0x200D}, {"zwnj", 0x200C},
    {"auml", 0xE4}, {"ouml", 0xF6}, {"uuml", 0xFC}, {"Auml", 0xC4}, {"Ouml", 0xD6}, {"Uuml", 0xDC},
    {"aring", 0xE5}, {"Aring", 0xC5}, {"eacute", 0xE9}, {"Eacute", 0xC9}, {"egrave", 0xE8},
    {"agrave", 0xE0}, {"aacute", 0xE1}, {"oslash", 0xF8}, {"Oslash", 0xD8}, {"aelig", 0xE6},
    {"AElig", 0xC6}, {"szlig", 0xDF}, {"ccedil", 0xE7}, {"ntilde", 0xF1}, {"iacute", 0xED},
    {"oacute", 0xF3}, {"uacute", 0xFA},
};

int html_put_utf8(struct buf *out, unsigned long cp)
{
    char u[4];
    size_t n;

    /* NUL and other controls from a character reference hide text as a
     * raw one would (json.h): U+FFFD; a CR is a line break. */
    if (cp == '\r')
        cp = '\n';
    if ((cp < 0x20 && cp != '\t' && cp != '\n') || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xC0 | (cp >> 6));
        u[1] = (char)(0x80 | (cp & 0x3F));
        n = 2;
    } else if (cp < 0x10000) {
        u[0] = (char)(0xE0 | (cp >> 12));
        u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[2] = (char)(0x80 | (cp & 0x3F));
        n = 3;
    } else {
        u[0] = (char)(0xF0 | (cp >> 18));
        u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
        u[3] = (char)(0x80 | (cp & 0x3F));
        n = 4;
    }
    return buf_append(out, u, n);
}

/* A character reference at p ('&'); returns bytes consumed, 0 if it is not
 * one (the '&' is then literal). */
static size_t char_ref(const char *p, const char *end, struct buf *out, int *err)
{
    const char *q = p + 1;
    unsigned long cp = 0;
    size_t len;

    if (q < end && *q == '#') {
        int hex = q + 1 < end && (q[1] == 'x' || q[1] == 'X');
        const char *d = q + 1 + hex, *s = d;
        while (d < end && d - s < 8 && (hex ? strchr("0123456789abcdefABCDEF", *d) != NULL
                                            : (*d >= '0' && *d <= '9')) && *d)
            cp = cp * (hex ? 16 : 10) + (unsigned long)(*d <= '9' ? *d - '0' : (*d | 0x20) - 'a' + 10), d++;
        if (d == s)
            return 0;
        if (d < end && *d == ';')
            d++;
        *err = html_put_utf8(out, cp) != BUF_OK;
        return (size_t)(d - p);
    }
    for (len = 0; q + len < end && len < HTML_NAME_MAX &&
                  ((q[len] | 0x20) >= 'a' && (q[len] | 0x20) <= 'z'); len++)
        ;
    if (len == 0 || q + len >= end || q[len] != ';')
        return 0;
    for (size_t i = 0; i < sizeof entities / sizeof entities[0]; i++)
        if (strlen(entities[i].name) == len && memcmp(entities[i].name, q, len) == 0) {
            *err = html_put_utf8(out, entities[i].cp == 0xA0 ? ' ' : entities[i].cp) != BUF_OK;
            return len + 2;
        }
    return 0;
}

/* The value of attribute name inside a tag's text [p, end), or NULL. */
static const char *tag_attr(const char *p, const char *end, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);

    for (; p + nl < end; p++) {
        const char *v;
        char quote;
        if ((p[-1] != ' ' && p[-1] != '\t' && p[-1] != '\n') || strncasecmp(p, name, nl) != 0 ||
            p[nl] != '=')
            continue;
        v = p + nl + 1;
        quote = v < end && (*v == '"' || *v == '\'') ? *v++ : ' ';
        for (*vlen = 0; v + *vlen < end && v[*vlen] != quote && v[*vlen] != '>'; (*vlen)++)
            ;
        return v;
    }
    return NULL;
}

/* Append text that came from an attribute, decoding its references. */
static int put_decoded(struct buf *out, const char *s, size_t n)
{
    const char *end = s + n;
    int err = 0;

    while (s < end && !err) {
        size_t used = *s == '&' ? char_ref(s, end, out, &err) : 0;
        if (used) {
            s += used;
            continue;
        }
        err = buf_appendc(out, *s++) != BUF_OK;
    }
    return err ? -1 : 0;
}

static int newline(struct buf *out, int n)
{
    /* Never start with, or stack more than n, line breaks. */
    size_t have = 0;

    while (out->len && out->data[out->len - 1] == ' ')
        out->data[--out->len] = '\0';
    if (out->len == 0)
        return 0;
    while (have < out->len && out->data[out->len - 1 - have] == '\n')
        have++;
    for (; (int)have < n; have++)
        if (buf_appendc(out, '\n') != BUF_OK)
            return -1;
    return 0;
}

struct html_state {
    int skip_depth;             /* inside <script>/<style> */
    int in_link;                /* inside a plain link: its text is replaced by the href */
};

static int html_tag(struct html_state *st, const char *t, const char *end, struct buf *out, struct buf *links)
{
    int closing = t < end && *t == '/';
    const char *name = t + closing;
    size_t nl = 0;

    while (name + nl < end && (((name[nl] | 0x20) >= 'a' && (name[nl] | 0x20) <= 'z') ||
                               (name[nl] >= '0' && name[nl] <= '9')))
        nl++;
#define IS(s) (nl == sizeof(s) - 1 && strncasecmp(name, s, nl) == 0)
    if (IS("script") || IS("style")) {
        st->skip_depth += closing ? (st->skip_depth > 0 ? -1 : 0) : 1;
        return 0;
    }
    if (IS("br"))
        return newline(out, 1);
    if (IS("p") || IS("blockquote") || IS("h1") || IS("h2") || IS("h3") || IS("h4") || IS("pre"))
        return newline(out, 2);
    if (IS("li") || IS("div") || IS("tr") || IS("ul") || IS("ol"))
        return newline(out, 1);
    if (IS("a")) {
        size_t hl = 0, cl = 0;
        const char *href, *cls;
        if (closing) {
            st->in_link = 0;
            return 0;
        }
        href = tag_attr(name + nl, end, "href", &hl);
        cls = tag_attr(name + nl, end, "class", &cl);
        if (!href || hl == 0 || (cls && (memmem(cls, cl, "mention", 7) || memmem(cls, cl, "hashtag", 7))) ||
            (hl > 0 && *href == '#'))
            return 0;
        st->in_link = 1;
        if (out->len && out->data[out->len - 1] != ' ' && out->data[out->len - 1] != '\n' &&
            buf_appendc(out, ' ') != BUF_OK)
            return -1;
        if (put_decoded(out, href, hl) != 0)
            return -1;
        if (links && (put_decoded(links, href, hl) != 0 || buf_appendc(links, '\0') != BUF_OK))
            return -1;
    }
#undef IS
    return 0;
}

int html_to_text(const char *html, size_t n, struct buf *out, struct buf *links)
{
    const char *p = html, *end = html + n;
    struct html_state st = {0};
    int err = 0;

    while (p < end && !err) {
        if (*p == '<') {
            const char *gt = memchr(p, '>', (size_t)(end - p));
            if (!gt)
                break;                          /* a cut tag: drop it */
            if (p + 3 < end && memcmp(p, "<!--", 4) == 0) {
                const char *c = memmem(p, (size_t)(end - p), "-->", 3);
                p = c ? c + 3 : end;
                continue;
            }
            err = html_tag(&st, p + 1, gt, out, links) != 0;
            p = gt + 1;
            continue;
        }
        if (st.skip_depth || st.in_link) {
            p++;
            continue;
        }
        if (*p == '&') {
            size_t used = char_ref(p, end, out, &err);
            if (used) {
                p += used;
                continue;
            }
        }
        if (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') {
            /* HTML collapses white space; line breaks come from tags. */
            p++;
            if (out->len && out->data[out->len - 1] != ' ' && out->data[out->len - 1] != '\n')
                err = buf_appendc(out, ' ') != BUF_OK;
            continue;
        }
        err = buf_appendc(out, *p++) != BUF_OK;
    }
    /* No trailing blanks or line breaks. */
    while (out->len && (out->data[out->len - 1] == '\n' || out->data[out->len - 1] == ' '))
        out->data[--out->len] = '\0';
    return err ? -1 : 0;
}
