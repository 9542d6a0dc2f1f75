/* decode_jetstream: Bluesky Jetstream events, both wires.
 *
 * The legacy /subscribe endpoint (v1), one JSON event per record:
 *   {"did","time_us","kind":"commit","commit":{"operation","collection",
 *    "rkey","record":{"text","createdAt","langs","reply","facets","embed"}}}
 * The v2 endpoint (subscribeEvents, lexicon network.bsky.jetstream.
 * subscribeEvents, framing xrpc.v1.json), one frame per record:
 *   {"$type":"message","payload":{"$type":"...subscribeEvents#commit",
 *    "seq","did","time","operation","collection","rkey","record":{...}}}
 *   {"$type":"message","payload":{"$type":"...#info","name","message"}}
 *   {"$type":"error","error":"ConsumerTooSlow","message"}   (then closed)
 * A v2 commit is a v1 commit with its fields one level up; the two are read
 * by one table of fields below the commit.  #info OutdatedCursor (a time
 * cursor clamped) and FutureCursor (a seq from elsewhere: live from the
 * tip) say events were skipped: moved() reports it once, and FutureCursor
 * starts the position anew.  Errors are control messages.
 *
 * Only app.bsky.feed.post commits are posts: create is a new post, update
 * an edit (looked at again, like Mastodon's status.update), delete a
 * deletion (no record; the id is enough).  Other collections (likes,
 * follows, reposts...) and the identity/account kinds are skipped and
 * counted; a source normally asks for posts only (wantedCollections).
 *
 * The post id is its AT URI (at://<did>/app.bsky.feed.post/<rkey>), the
 * identifier the Bluesky API takes; the URL is the bsky.app page.  The
 * stream carries no handle and no follower count: the author's id and
 * handle are both the DID (so from:/to: rules name DIDs), followers are
 * unknown.  Facets give the counts and URLs: a #mention feature has "did",
 * a #link "uri", a #tag "tag" (the lexicon's shapes, read by key so key
 * order does not matter).  A reply's parent is in_reply_to, its root the
 * conversation; an embedded record is a quote; images or video are media.
 *
 * The stream position is time_us (v1) or seq (v2): the highest seen is kept
 * for the cursor the source resumes from.
 */
#include "decode.h"
#include "json.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define J_MAX_URLS 16
#define J_POST "app.bsky.feed.post"

struct j_event {
    const char *frame, *error, *message;    /* v2: "message" or "error"; error name; its text */
    const char *did, *kind, *op, *collection, *rkey;
    const char *text, *created_at, *lang;
    const char *parent_uri, *root_uri, *quote_uri, *parent_did;
    int has_record, nmentions, ntags, media;
    uint64_t time_us;
};

struct decoder {
    struct json_decoder jd;             /* first: json_decoder_new() */
    struct j_event e;
    const char *urls[J_MAX_URLS];
    int nurls;
    const char *reject;
    uint64_t position;                  /* highest time_us (v1) or seq (v2) seen */
    int moved;                          /* an #info said events were skipped */
};

static const char *j_str(struct decoder *j, const struct json_event *ev)
{
    return decode_str(&j->jd.arena, ev, &j->reject);
}

static void j_url(struct decoder *j, const struct json_event *ev)
{
    const char *u;

    if (j->nurls < J_MAX_URLS && (u = j_str(j, ev)))
        j->urls[j->nurls++] = u;
}

/* One facet feature field: "/<i>/features/<k>/<key>". */
static void j_facet(struct decoder *j, const char *r, const struct json_event *ev)
{
    if (!(r = json_ptr_skip_index(r)) || strncmp(r, "/features", 9) != 0 || !(r = json_ptr_skip_index(r + 9)))
        return;
    if (strcmp(r, "/did") == 0 && ev->type == JSON_STRING)
        j->e.nmentions++;
    else if (strcmp(r, "/tag") == 0 && ev->type == JSON_STRING)
        j->e.ntags++;
    else if (strcmp(r, "/uri") == 0 && ev->type == JSON_STRING)
        j_url(j, ev);
}

/* Fields of commit.record (r is the pointer below it). */
static void j_record(struct decoder *j, const char *r, const struct json_event *ev)
{
    struct j_event *e = &j->e;

    if (*r == '\0') {
        e->has_record = ev->type == JSON_MAP_START ? 1 : e->has_record;
        return;
    }
    if (strcmp(r, "/text") == 0)
        e->text = j_str(j, ev);
    else if (strcmp(r, "/createdAt") == 0)
        e->created_at = j_str(j, ev);
    else if (strcmp(r, "/langs/0") == 0)
        e->lang = j_str(j, ev);
    else if (strcmp(r, "/reply/parent/uri") == 0)
        e->parent_uri = j_str(j, ev);
    else if (strcmp(r, "/reply/root/uri") == 0)
        e->root_uri = j_str(j, ev);
    else if (strncmp(r, "/facets", 7) == 0)
        j_facet(j, r + 7, ev);
    else if (strcmp(r, "/embed/record/uri") == 0 || strcmp(r, "/embed/record/record/uri") == 0)
        e->quote_uri = j_str(j, ev);    /* app.bsky.embed.record / recordWithMedia */
    else if (strcmp(r, "/embed/external/uri") == 0)
        j_url(j, ev);
    else if ((strcmp(r, "/embed/images") == 0 || strcmp(r, "/embed/video") == 0 ||
              strcmp(r, "/embed/media/images") == 0 || strcmp(r, "/embed/media/video") == 0) &&
             (ev->type == JSON_ARRAY_START || ev->type == JSON_MAP_START))
        e->media = 1;
}

static uint64_t j_uint(const struct json_event *ev)
{
    char num[24];

    if (ev->type != JSON_NUMBER || ev->val_len >= sizeof num)
        return 0;
    memcpy(num, ev->val, ev->val_len);
    num[ev->val_len] = '\0';
    return num[0] == '-' ? 0 : strtoull(num, NULL, 10);
}

/* A field of the commit: below "/commit" in v1, of the payload in v2. */
static void j_commit(struct decoder *j, const char *c, const struct json_event *ev)
{
    struct j_event *e = &j->e;

    if (strcmp(c, "/operation") == 0)
        e->op = j_str(j, ev);
    else if (strcmp(c, "/collection") == 0)
        e->collection = j_str(j, ev);
    else if (strcmp(c, "/rkey") == 0)
        e->rkey = j_str(j, ev);
    else if (strncmp(c, "/record", 7) == 0 && (c[7] == '\0' || c[7] == '/'))
        j_record(j, c + 7, ev);
}

/* v2's payload: "/$type" ("network.bsky.jetstream.subscribeEvents#commit":
 * the kind is the fragment), seq, did, #info's name and message, and the
 * commit's own fields. */
static void j_payload(struct decoder *j, const char *c, const struct json_event *ev)
{
    struct j_event *e = &j->e;

    if (strcmp(c, "/$type") == 0) {
        const char *t = j_str(j, ev), *h = t ? strrchr(t, '#') : NULL;
        e->kind = h ? h + 1 : t;
    } else if (strcmp(c, "/seq") == 0) {
        e->time_us = j_uint(ev);
    } else if (strcmp(c, "/did") == 0) {
        e->did = j_str(j, ev);
    } else if (strcmp(c, "/name") == 0) {
        e->error = j_str(j, ev);
    } else if (strcmp(c, "/message") == 0) {
        e->message = j_str(j, ev);
    } else {
        j_commit(j, c, ev);
    }
}

static int j_event_cb(void *ctx, const struct json_event *ev)
{
    struct decoder *j = ctx;
    struct j_event *e = &j->e;
    const char *p = ev->ptr;

    if (ev->depth == 0) {
        if (ev->type != JSON_MAP_START && ev->type != JSON_MAP_END) {
            *ev->reject = "event is not a JSON object";
            return 1;
        }
        return 0;
    }
    if (strcmp(p, "/did") == 0)
        e->did = j_str(j, ev);
    else if (strcmp(p, "/kind") == 0)
        e->kind = j_str(j, ev);
    else if (strcmp(p, "/time_us") == 0)
        e->time_us = j_uint(ev);
    else if (strncmp(p, "/commit/", 8) == 0)
        j_commit(j, p + 7, ev);
    else if (strcmp(p, "/$type") == 0)
        e->frame = j_str(j, ev);
    else if (strncmp(p, "/payload/", 9) == 0)
        j_payload(j, p + 8, ev);
    else if (strcmp(p, "/error") == 0)
        e->error = j_str(j, ev);
    else if (strcmp(p, "/message") == 0)
        e->message = j_str(j, ev);
    if (j->reject) {
        *ev->reject = j->reject;
        return 1;
    }
    return 0;
}

static struct decoder *j_create(const struct source_conf *sc)
{
    return json_decoder_new(sizeof(struct decoder), sc, j_event_cb, 2);
}

static void j_destroy(struct decoder *j)
{
    if (!j)
        return;
    json_decoder_free(&j->jd);
}

/* "at://<did>/..." -> "<did>", in the arena. */
static const char *uri_did(struct decoder *j, const char *uri)
{
    const char *s, *e;

    if (!uri || strncmp(uri, "at://", 5) != 0)
        return NULL;
    s = uri + 5;
    e = strchr(s, '/');
    return arena_strndup(&j->jd.arena, s, e ? (size_t)(e - s) : strlen(s));
}

/* a + b + c + d, in the arena (NULL past 1 KiB or the arena cap). */
static const char *j_cat(struct decoder *j, const char *a, const char *b, const char *c, const char *d)
{
    char tmp[1024];
    int n = snprintf(tmp, sizeof tmp, "%s%s%s%s", a, b, c, d);

    return n < 0 || n >= (int)sizeof tmp ? NULL : arena_strndup(&j->jd.arena, tmp, (size_t)n);
}

static int j_build(struct decoder *j, struct post *p, char *err, size_t errlen)
{
    struct j_event *e = &j->e;
    const char *uri;

    post_clear(p);
    if (!e->rkey || !*e->rkey || !(uri = j_cat(j, "at://", e->did, "/" J_POST "/", e->rkey))) {
        snprintf(err, errlen, "post commit without a usable \"rkey\"");
        return -1;
    }
    p->id = uri;
    p->author.id = e->did;
    p->author.handle = e->did;
    p->author.followers = -1;
    if (strcmp(e->op, "delete") == 0) {
        p->deleted = 1;
        return 0;
    }
    if (!e->has_record || !e->text) {
        snprintf(err, errlen, "post %s without \"record.text\"", e->op);
        return -1;
    }
    p->text = e->text;
    p->created_at = e->created_at;
    p->lang = e->lang;
    p->url = j_cat(j, "https://bsky.app/profile/", e->did, "/post/", e->rkey);
    p->in_reply_to = e->parent_uri;
    p->is_reply = e->parent_uri != NULL;
    p->to_handle = uri_did(j, e->parent_uri);
    p->conversation_id = e->root_uri ? e->root_uri : uri;
    p->is_quote = e->quote_uri != NULL;
    p->referenced_id = e->quote_uri;
    p->referenced_author = uri_did(j, e->quote_uri);
    p->nmentions = e->nmentions;
    p->nhashtags = e->ntags;
    p->has_media = e->media;
    p->urls = j->urls;
    p->nurls = j->nurls;
    p->is_edit = strcmp(e->op, "update") == 0;
    return 0;
}

/* A v2 frame that is not a commit message: an error (the server closes
 * next), an #info about the cursor, or a kind we did not ask for. */
static enum decode_ret j_frame(struct decoder *j, char *err, size_t errlen)
{
    struct j_event *e = &j->e;
    const char *msg = e->message ? e->message : "";

    if (strcmp(e->frame, "error") == 0) {
        snprintf(err, errlen, "Jetstream error %.60s: %.150s", e->error ? e->error : "(unnamed)", msg);
        return DECODE_CONTROL;
    }
    if (strcmp(e->frame, "message") != 0) {
        snprintf(err, errlen, "unknown frame type \"%.40s\"", e->frame);
        return DECODE_SKIP;
    }
    if (!e->kind) {
        snprintf(err, errlen, "message without \"payload.$type\"");
        return DECODE_MALFORMED;
    }
    if (strcmp(e->kind, "info") == 0) {
        /* a time cursor clamped, or a seq from another archive: from the tip */
        int future = e->error && strcmp(e->error, "FutureCursor") == 0;
        j->moved = future || (e->error && strcmp(e->error, "OutdatedCursor") == 0);
        if (future)
            j->position = 0;
        snprintf(err, errlen, "Jetstream notice %.40s: %.150s%s", e->error ? e->error : "(unnamed)", msg,
                 j->moved ? "; events before it may be missing" : "");
        return DECODE_CONTROL;
    }
    return DECODE_OK;
}

static enum decode_ret j_decode(struct decoder *j, const char *rec, size_t len, decode_post_fn fn, void *ctx,
                                char *err, size_t errlen)
{
    struct j_event *e = &j->e;
    struct post post;
    enum decode_ret ret;

    arena_reset(&j->jd.arena);
    memset(e, 0, sizeof *e);
    j->nurls = 0;
    j->reject = NULL;
    if (json_reader_parse(j->jd.reader, rec, len, err, errlen) != 0)
        return DECODE_MALFORMED;
    if (e->frame && (ret = j_frame(j, err, errlen)) != DECODE_OK)
        return ret;
    if (!e->did || !e->kind) {
        snprintf(err, errlen, "event without \"%s\"", e->did ? "kind" : "did");
        return DECODE_MALFORMED;
    }
    if (e->time_us > j->position)
        j->position = e->time_us;
    if (strcmp(e->kind, "commit") != 0) {
        snprintf(err, errlen, "%.40s event", e->kind);
        return DECODE_SKIP;
    }
    if (!e->collection || !e->op) {
        snprintf(err, errlen, "commit without \"%s\"", e->collection ? "operation" : "collection");
        return DECODE_MALFORMED;
    }
    if (strcmp(e->collection, J_POST) != 0) {
        snprintf(err, errlen, "%.80s commit is not a post", e->collection);
        return DECODE_SKIP;
    }
    if (strcmp(e->op, "create") != 0 && strcmp(e->op, "update") != 0 && strcmp(e->op, "delete") != 0) {
        snprintf(err, errlen, "unknown commit operation \"%.40s\"", e->op);
        return DECODE_SKIP;
    }
    if (j_build(j, &post, err, errlen) != 0)
        return DECODE_MALFORMED;
    post.controls = json_reader_take_controls(j->jd.reader);
    fn(ctx, &post);
    return DECODE_OK;
}

static uint64_t j_position(struct decoder *j)
{
    return j->position;
}

static int j_moved(struct decoder *j)
{
    int m = j->moved;

    j->moved = 0;
    return m;
}

const struct decoder_ops decode_jetstream_ops = {
    .name = "jetstream",
    .create = j_create,
    .destroy = j_destroy,
    .decode = j_decode,
    .position = j_position,
    .moved = j_moved,
};
