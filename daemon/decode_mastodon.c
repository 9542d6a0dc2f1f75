/* decode_mastodon: Mastodon streaming events and Status entities.
 *
 * From an SSE source a record is "<event>\n<data>" (framing.h): "update"
 * and "status.update" (an edit) carry a Status as JSON, "delete" a bare
 * status id, and the other events (notification, filters_changed with
 * "data: undefined", conversation, announcement...) are skipped and
 * counted.  A record that starts with '{' is a bare Status (recorded
 * streams), treated as an update; one that starts with '[' a timeline page
 * (the REST API, polled where streaming is off): each Status in it is a
 * post (newest first, as the page lists them), a malformed one skipped and
 * the page reported malformed after the rest.
 *
 * content is HTML: it becomes plain text (html.c) with the spoiler text
 * (content warning) in front, so rules match what the reader sees; links
 * are kept as their URLs and collected for url:/has:links.  A boost
 * (reblog) is a retweet: the boosted status's text is the referenced text,
 * as the docs say to match the inner status.  account.acct is the handle
 * (user or user@domain); followers_count the reach.
 */
#include "decode.h"
#include "html.h"
#include "json.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define M_MAX_URLS 16
#define M_MAX_MENTIONS 8

struct m_status {
    const char *id, *content, *spoiler, *lang, *created_at, *url, *uri;
    const char *reply_id, *reply_account;
    const char *acct_id, *acct, *display_name, *note, *acct_created;
    long long followers;
    int bot, nmentions, ntags, nmedia;
    const char *mention_ids[M_MAX_MENTIONS], *mention_accts[M_MAX_MENTIONS];
    const char *card_url;
    int seen;
};

struct decoder {
    struct json_decoder jd;             /* first: json_decoder_new() */
    struct m_status s, rb;              /* the status and its reblog */
    struct buf text, links;
    const char *urls[M_MAX_URLS];
    const char *reject;
    /* a timeline page: each Status emitted as its object closes */
    int page;
    decode_post_fn fn;
    void *ctx;
    int page_posts, page_bad;
    char page_err[160];
};

static const char *m_str(struct decoder *m, const struct json_event *ev)
{
    return decode_str(&m->jd.arena, ev, &m->reject);
}

/* mentions[]: counted, and the first M_MAX_MENTIONS kept (id, acct) so a
 * reply can name the account it answers. */
static void m_mention(struct decoder *m, struct m_status *s, const char *r, const struct json_event *ev)
{
    int i = s->nmentions - 1;

    if (*r == '\0' && ev->type == JSON_MAP_START) {
        s->nmentions++;
        return;
    }
    if (i < 0 || i >= M_MAX_MENTIONS)
        return;
    if (strcmp(r, "/id") == 0)
        s->mention_ids[i] = m_str(m, ev);
    else if (strcmp(r, "/acct") == 0)
        s->mention_accts[i] = m_str(m, ev);
}

static void m_field(struct decoder *m, struct m_status *s, const char *p, const struct json_event *ev)
{
    const char *r;

    s->seen = 1;
    if (strcmp(p, "/id") == 0)
        s->id = m_str(m, ev);
    else if (strcmp(p, "/content") == 0)
        s->content = m_str(m, ev);
    else if (strcmp(p, "/spoiler_text") == 0)
        s->spoiler = m_str(m, ev);
    else if (strcmp(p, "/language") == 0)
        s->lang = m_str(m, ev);
    else if (strcmp(p, "/created_at") == 0)
        s->created_at = m_str(m, ev);
    else if (strcmp(p, "/url") == 0)
        s->url = m_str(m, ev);
    else if (strcmp(p, "/uri") == 0)
        s->uri = m_str(m, ev);
    else if (strcmp(p, "/in_reply_to_id") == 0)
        s->reply_id = m_str(m, ev);
    else if (strcmp(p, "/in_reply_to_account_id") == 0)
        s->reply_account = m_str(m, ev);
    else if (strcmp(p, "/account/id") == 0)
        s->acct_id = m_str(m, ev);
    else if (strcmp(p, "/account/acct") == 0)
        s->acct = m_str(m, ev);
    else if (strcmp(p, "/account/display_name") == 0)
        s->display_name = m_str(m, ev);
    else if (strcmp(p, "/account/note") == 0)
        s->note = m_str(m, ev);
    else if (strcmp(p, "/account/created_at") == 0)
        s->acct_created = m_str(m, ev);
    else if (strcmp(p, "/account/followers_count") == 0 && ev->type == JSON_NUMBER)
        s->followers = strtoll(ev->val, NULL, 10);
    else if (strcmp(p, "/account/bot") == 0 && ev->type == JSON_BOOL)
        s->bot = ev->boolean;
    else if (strcmp(p, "/card/url") == 0)
        s->card_url = m_str(m, ev);
    else if (strncmp(p, "/mentions", 9) == 0 && (r = json_ptr_skip_index(p + 9)))
        m_mention(m, s, r, ev);
    else if (strncmp(p, "/tags", 5) == 0 && (r = json_ptr_skip_index(p + 5)) && *r == '\0' && ev->type == JSON_MAP_START)
        s->ntags++;
    else if (strncmp(p, "/media_attachments", 18) == 0 && (r = json_ptr_skip_index(p + 18)) && *r == '\0' &&
             ev->type == JSON_MAP_START)
        s->nmedia++;
}

static void m_reset(struct decoder *m)
{
    memset(&m->s, 0, sizeof m->s);
    memset(&m->rb, 0, sizeof m->rb);
    m->s.followers = m->rb.followers = -1;
}

static void m_emit(struct decoder *m);

/* A timeline page: "/<i>/..." is the i-th Status's field. */
static int m_page_event(struct decoder *m, const struct json_event *ev)
{
    const char *r;

    if (ev->depth == 0) {
        if (ev->type != JSON_ARRAY_START && ev->type != JSON_ARRAY_END) {
            *ev->reject = "timeline page is not a JSON array";
            return 1;
        }
        return 0;
    }
    if (ev->depth == 1) {
        if (ev->type == JSON_MAP_START)
            m_reset(m);
        else if (ev->type == JSON_MAP_END)
            m_emit(m);
        else
            m->page_bad++;
        return 0;
    }
    if (!(r = json_ptr_skip_index(ev->ptr)))
        return 0;
    if (strncmp(r, "/reblog/", 8) == 0)
        m_field(m, &m->rb, r + 7, ev);
    else if (strcmp(r, "/reblog") != 0)
        m_field(m, &m->s, r, ev);
    if (m->reject) {
        *ev->reject = m->reject;
        return 1;
    }
    return 0;
}

static int m_event(void *ctx, const struct json_event *ev)
{
    struct decoder *m = ctx;

    if (m->page)
        return m_page_event(m, ev);
    if (ev->depth == 0) {
        if (ev->type != JSON_MAP_START && ev->type != JSON_MAP_END) {
            *ev->reject = "Status is not a JSON object";
            return 1;
        }
        return 0;
    }
    if (strncmp(ev->ptr, "/reblog/", 8) == 0)
        m_field(m, &m->rb, ev->ptr + 7, ev);
    else if (strcmp(ev->ptr, "/reblog") != 0)
        m_field(m, &m->s, ev->ptr, ev);
    if (m->reject) {
        *ev->reject = m->reject;
        return 1;
    }
    return 0;
}

static struct decoder *m_create(const struct source_conf *sc)
{
    /* the arena holds the text and links made from the HTML too */
    struct decoder *m = json_decoder_new(sizeof *m, sc, m_event, 3);
    size_t max_record = sc ? (size_t)sc->max_record : 1024 * 1024;

    if (!m)
        return NULL;
    buf_init(&m->text, max_record + 1024);
    buf_init(&m->links, max_record);
    return m;
}

static void m_destroy(struct decoder *m)
{
    if (!m)
        return;
    buf_free(&m->text);
    buf_free(&m->links);
    json_decoder_free(&m->jd);
}

/* Spoiler text and content as plain text, copied into the arena. */
static const char *m_plain(struct decoder *m, const struct m_status *s, int collect_links)
{
    buf_reset(&m->text);
    if (s->spoiler && *s->spoiler &&
        (html_to_text(s->spoiler, strlen(s->spoiler), &m->text, NULL) != 0 || buf_appendc(&m->text, '\n')))
        return NULL;
    if (s->content && html_to_text(s->content, strlen(s->content), &m->text,
                                   collect_links ? &m->links : NULL) != 0)
        return NULL;
    return arena_strndup(&m->jd.arena, m->text.data ? m->text.data : "", m->text.len);
}

static const char *m_note(struct decoder *m, const char *note)
{
    if (!note)
        return NULL;
    buf_reset(&m->text);
    if (html_to_text(note, strlen(note), &m->text, NULL) != 0)
        return NULL;
    return arena_strndup(&m->jd.arena, m->text.data ? m->text.data : "", m->text.len);
}

static int m_build(struct decoder *m, struct post *p, int edit, char *err, size_t errlen)
{
    const struct m_status *s = &m->s, *rb = m->rb.seen && m->rb.id ? &m->rb : NULL;
    const char *text;
    int nurls = 0;

    buf_reset(&m->links);
    if (!s->id || (!s->content && !rb)) {
        snprintf(err, errlen, "Status without %s", s->id ? "\"content\"" : "\"id\"");
        return -1;
    }
    if (!(text = m_plain(m, s, 1))) {
        snprintf(err, errlen, "Status text over the record cap");
        return -1;
    }
    post_clear(p);
    p->id = s->id;
    p->text = text;
    p->lang = s->lang;
    p->created_at = s->created_at;
    p->url = s->url ? s->url : s->uri;
    p->author.id = s->acct_id;
    p->author.handle = s->acct;
    p->author.name = s->display_name && *s->display_name ? s->display_name : NULL;
    p->author.bio = m_note(m, s->note);
    p->author.followers = s->acct ? s->followers : -1;
    p->author.created_at = s->acct_created;
    p->in_reply_to = s->reply_id;
    p->is_reply = s->reply_id != NULL;
    for (int i = 0; i < s->nmentions && i < M_MAX_MENTIONS && s->reply_account; i++)
        if (s->mention_ids[i] && strcmp(s->mention_ids[i], s->reply_account) == 0)
            p->to_handle = s->mention_accts[i];
    p->nmentions = s->nmentions;
    p->nhashtags = s->ntags;
    p->has_media = s->nmedia > 0;
    p->is_edit = edit;
    if (rb) {
        p->is_retweet = 1;
        p->referenced_id = rb->id;
        p->referenced_author = rb->acct;
        p->referenced_author_id = rb->acct_id;
        p->referenced_name = rb->display_name;
        p->referenced_followers = rb->followers;
        buf_reset(&m->links);
        p->referenced_text = m_plain(m, rb, 1);
        p->has_media = rb->nmedia > 0;
    }
    for (size_t off = 0; off < m->links.len && nurls < M_MAX_URLS - 1;) {
        const char *l = m->links.data + off;
        m->urls[nurls++] = arena_strndup(&m->jd.arena, l, strlen(l));
        off += strlen(l) + 1;
    }
    if (s->card_url && nurls < M_MAX_URLS)
        m->urls[nurls++] = s->card_url;
    p->urls = m->urls;
    p->nurls = nurls;
    return 0;
}

/* One Status of a page, as its object closes. */
static void m_emit(struct decoder *m)
{
    struct post post;
    char err[160];

    if (m_build(m, &post, 0, err, sizeof err) != 0) {
        if (!m->page_bad++)
            str_copy(m->page_err, err, sizeof m->page_err);
        return;
    }
    post.controls = json_reader_take_controls(m->jd.reader);
    m->page_posts++;
    m->fn(m->ctx, &post);
}

static enum decode_ret m_page(struct decoder *m, const char *json, size_t len, decode_post_fn fn, void *ctx,
                              char *err, size_t errlen)
{
    int rc;

    m->page = 1;
    m->fn = fn;
    m->ctx = ctx;
    m->page_posts = m->page_bad = 0;
    m->page_err[0] = '\0';
    m->reject = NULL;
    rc = json_reader_parse(m->jd.reader, json, len, err, errlen);
    m->page = 0;
    if (rc != 0)
        return DECODE_MALFORMED;
    if (m->page_bad) {
        snprintf(err, errlen, "%d of the page's %d statuses skipped: %s", m->page_bad,
                 m->page_bad + m->page_posts, m->page_err[0] ? m->page_err : "not an object");
        return DECODE_MALFORMED;
    }
    return DECODE_OK;                   /* an empty page too: nothing new */
}

static enum decode_ret m_status(struct decoder *m, const char *json, size_t len, int edit,
                                decode_post_fn fn, void *ctx, char *err, size_t errlen)
{
    struct post post;

    m_reset(m);
    m->reject = NULL;
    if (json_reader_parse(m->jd.reader, json, len, err, errlen) != 0)
        return DECODE_MALFORMED;
    if (m_build(m, &post, edit, err, errlen) != 0)
        return DECODE_MALFORMED;
    post.controls = json_reader_take_controls(m->jd.reader);
    fn(ctx, &post);
    return DECODE_OK;
}

static enum decode_ret m_decode(struct decoder *m, const char *rec, size_t len,
                                decode_post_fn fn, void *ctx, char *err, size_t errlen)
{
    const char *nl, *data;
    size_t elen, dlen;
    struct post post;

    arena_reset(&m->jd.arena);
    if (len && rec[0] == '{')
        return m_status(m, rec, len, 0, fn, ctx, err, errlen);
    if (len && rec[0] == '[')
        return m_page(m, rec, len, fn, ctx, err, errlen);
    nl = memchr(rec, '\n', len);
    if (!nl) {
        snprintf(err, errlen, "neither an SSE event nor a Status object");
        return DECODE_MALFORMED;
    }
    elen = (size_t)(nl - rec);
    data = nl + 1;
    dlen = len - elen - 1;
    if ((elen == 6 && memcmp(rec, "update", 6) == 0) || (elen == 13 && memcmp(rec, "status.update", 13) == 0))
        return m_status(m, data, dlen, elen == 13, fn, ctx, err, errlen);
    if (elen == 6 && memcmp(rec, "delete", 6) == 0) {
        /* A bare id, not JSON-quoted (some servers quote it anyway). */
        while (dlen && (*data == '"' || *data == ' '))
            data++, dlen--;
        while (dlen && (data[dlen - 1] == '"' || data[dlen - 1] == ' '))
            dlen--;
        if (dlen == 0 || dlen > 64 || memchr(data, '\n', dlen)) {
            snprintf(err, errlen, "delete event without a status id");
            return DECODE_MALFORMED;
        }
        post_clear(&post);
        post.id = arena_strndup(&m->jd.arena, data, dlen);
        post.deleted = 1;
        fn(ctx, &post);
        return DECODE_OK;
    }
    snprintf(err, errlen, "event \"%.*s\" is not a post", (int)(elen < 40 ? elen : 40), rec);
    return DECODE_SKIP;
}

const struct decoder_ops decode_mastodon_ops = {
    .name = "mastodon",
    .create = m_create,
    .destroy = m_destroy,
    .decode = m_decode,
};
