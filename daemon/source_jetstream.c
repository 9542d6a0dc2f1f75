/* jetstream: Bluesky Jetstream over WebSocket, one message one JSON event,
 * zstd-compressed with its dictionary when compress = on.  The URL's path
 * says which wire:
 *   .../subscribe   the legacy (v1) endpoint: wantedCollections, wantedDids,
 *                   requireHello + options_update for long lists,
 *                   compress=true; the position is time_us (unix µs).
 *   .../xrpc/network.bsky.jetstream.subscribeEvents   the v2 endpoint:
 *                   kinds, collections, dids (the v1 names get HTTP 400),
 *                   subprotocol xrpc.v1.json, zstdDictionary=<id>; the
 *                   position is the event's seq, and a seq cursor past
 *                   the lookback is refused (CursorTooOld) rather than
 *                   clamped.
 * The position, the highest processed, is saved per source: a restart or a
 * dropped connection resumes from it. */
#include "config_key.h"
#include "decode.h"
#include "json.h"
#include "source_driver.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* time_us is not strictly ordered across repositories, so a connection
 * resumes this far before the position reached; the duplicates that
 * rewinding brings are dropped by the duplicate window and the seen keys. */
#define JETSTREAM_REWIND_US 3000000ULL
/* Filters that make the URL longer than this go in an options_update
 * message after connecting (requireHello), as Jetstream documents; v2 has
 * no such message, so its filters must fit (ws.h's target cap). */
#define JETSTREAM_URL_MAX 6000
#define JETSTREAM_V2_PATH "/xrpc/network.bsky.jetstream.subscribeEvents"
/* Cursors at or above this are unix microseconds, below it v2 sequence
 * numbers (the server tells them apart the same way). */
#define JETSTREAM_US_MIN 1000000000000000ULL

static const struct ckey keys[] = {
    SOURCE_KEY("collections", CT_STR, collections, "app.bsky.feed.post", 0, 0),
    SOURCE_KEY("dids", CT_STR, dids, "", 0, 0),
    SOURCE_KEY("dids_file", CT_STR, dids_file, NULL, 0, 0),
    SOURCE_KEY("compress", CT_BOOL, compress, "off", 0, 0),
    SOURCE_KEY("dictionary", CT_STR, dictionary, NULL, 0, 0),
    SOURCE_KEY("ca_file", CT_STR, ca_file, NULL, 0, 0),
};

static void count_item(void *ctx, const char *item)
{
    (void)item;
    (*(int *)ctx)++;
}

/* Counts DIDs and the first that is not one ("did:METHOD:ID"). */
struct did_count {
    int n;
    char bad[80];
};

static void count_did(void *ctx, const char *item)
{
    struct did_count *dc = ctx;
    const char *m = strncmp(item, "did:", 4) == 0 ? strchr(item + 4, ':') : NULL;

    if ((!m || m == item + 4 || !m[1]) && !dc->bad[0])
        snprintf(dc->bad, sizeof dc->bad, "%.60s", item);
    dc->n++;
}

/* A long list lives in a file (one DID per line, or separated by commas or
 * blanks); it is read now, so a reload re-reads it. */
static void read_dids_file(struct config *c, struct source_conf *s, struct errlist *errs)
{
    char err[512];
    char *list = file_read_all(s->dids_file, 1024 * 1024, NULL, err, sizeof err);

    if (!list) {
        source_key_error(errs, c, s, "dids_file", "%s", err);
        return;
    }
    for (char *p = list; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    if (*s->dids) {
        char *both = xmalloc_try(strlen(s->dids) + strlen(list) + 2);
        if (both)
            sprintf(both, "%s %s", s->dids, list);
        else
            source_key_error(errs, c, s, "dids_file", "out of memory");
        free(list);
        list = both;
    }
    if (list) {
        free(s->dids);
        s->dids = list;
    }
}

/* Filters within the server's limits (100 collections, 10,000 DIDs), a
 * dictionary for compress = on. */
static int jetstream_v2(const char *url)
{
    const char *q = url ? strchr(url, '?') : NULL;
    size_t n = url ? (q ? (size_t)(q - url) : strlen(url)) : 0, pl = sizeof JETSTREAM_V2_PATH - 1;

    return n >= pl && memcmp(url + n - pl, JETSTREAM_V2_PATH, pl) == 0;
}

static void validate(struct config *c, struct source_conf *s, struct errlist *errs)
{
    int ncoll = 0;
    struct did_count dids = {0};
    const char *dkey = source_key_written(s, "dids") ? "dids" : "dids_file";

    if (s->url && strchr(s->url, '?'))
        source_key_error(errs, c, s, "url", "give the filters as 'collections' and 'dids', not in the url");
    if (s->dids_file)
        read_dids_file(c, s, errs);
    config_split_list(s->collections, count_item, &ncoll);
    config_split_list(s->dids, count_did, &dids);
    if (ncoll > 100)
        source_key_error(errs, c, s, "collections", "%d given, Jetstream takes at most 100", ncoll);
    if (dids.n > 10000)
        source_key_error(errs, c, s, dkey, "%d DIDs given, Jetstream takes at most 10000", dids.n);
    if (dids.bad[0])
        source_key_error(errs, c, s, dkey, "'%s' is not a DID (did:METHOD:ID, e.g. did:plc:...)", dids.bad);
    if (s->compress && (!s->dictionary || !*s->dictionary))
        source_key_error(errs, c, s, "compress", "needs 'dictionary' (Jetstream's zstd dictionary file, see README)");
    else if (s->compress && access(s->dictionary, R_OK) != 0)
        source_key_error(errs, c, s, "dictionary", "%s", strerror(errno));
    if (s->ca_file && access(s->ca_file, R_OK) != 0)
        source_key_error(errs, c, s, "ca_file", "%s", strerror(errno));
    if (jetstream_v2(s->url) && s->url && s->dids && strlen(s->url) + strlen(s->dids) + 6 * (size_t)dids.n > JETSTREAM_URL_MAX)
        source_key_error(errs, c, s, dkey, "%d DIDs make the v2 request too long (v2 takes filters in the URL "
                         "only): use the /subscribe endpoint, which sends long lists after connecting", dids.n);
}

struct js_params {
    struct buf *q;
    struct json_writer *w;              /* options_update instead, when set */
    const char *name;
};

/* Query-string value: unreserved characters, ':' and '*' as they are. */
static void query_add(struct buf *q, const char *name, const char *v)
{
    buf_printf(q, "%s%s=", q->len ? "&" : "", name);
    buf_append_escaped(q, v, ":*");
}

static void js_param(void *ctx, const char *item)
{
    struct js_params *jp = ctx;

    if (jp->w)
        jw_str(jp->w, item);
    else
        query_add(jp->q, jp->name, item);
}

/* The options_update message that carries long filter lists. */
static char *hello(const struct source_conf *c)
{
    struct json_writer *w = jw_new();
    struct js_params jp = {.w = w};
    const char *out;
    size_t len;
    char *msg = NULL;

    if (!w)
        return NULL;
    jw_map_open(w);
    jw_key(w, "type");
    jw_str(w, "options_update");
    jw_key(w, "payload");
    jw_map_open(w);
    jw_key(w, "wantedCollections");
    jw_array_open(w);
    config_split_list(c->collections, js_param, &jp);
    jw_array_close(w);
    jw_key(w, "wantedDids");
    jw_array_open(w);
    config_split_list(c->dids, js_param, &jp);
    jw_array_close(w);
    jw_key(w, "maxMessageSizeBytes");
    jw_int(w, c->max_record);
    jw_map_close(w);
    jw_map_close(w);
    if (jw_finish(w, &out, &len) == 0)
        msg = xstrndup(out, len);
    jw_free(w);
    return msg;
}

/* The cursor to ask from: the position this process reached, or the saved
 * one when it is further on (a fleet's member ran the source since) or of
 * the other kind (a v1 time saved before the URL moved to v2, the oldest
 * time a refusal gave): the server reads either, and the first event's
 * seq then starts the position anew (source.c). */
static uint64_t cursor_of(const struct source_resume *at)
{
    int same = (at->position >= JETSTREAM_US_MIN) == (at->saved >= JETSTREAM_US_MIN);

    if (!at->position || (at->saved && (!same || at->saved > at->position)))
        return at->saved;
    return at->position;
}

/* wantedCollections, wantedDids, maxMessageSizeBytes, compress and the
 * cursor; filters past JETSTREAM_URL_MAX go in an options_update. */
static void request_v1(const struct source_conf *c, struct buf *q, struct source_request *rq)
{
    struct js_params jp = {.q = q};

    jp.name = "wantedCollections";
    config_split_list(c->collections, js_param, &jp);
    jp.name = "wantedDids";
    config_split_list(c->dids, js_param, &jp);
    if (q->len + strlen(c->url) > JETSTREAM_URL_MAX) {
        buf_reset(q);
        query_add(q, "requireHello", "true");
        rq->hello = hello(c);
    }
    buf_printf(q, "&maxMessageSizeBytes=%lld", c->max_record);
    if (c->compress)
        query_add(q, "compress", "true");
}

/* kinds=commit (posts are commits; a delete is a commit too), collections,
 * dids, maxMessageSizeBytes, the dictionary by its id. */
static void request_v2(const struct source_conf *c, const struct source_resume *at, struct buf *q,
                      struct source_request *rq)
{
    struct js_params jp = {.q = q};

    query_add(q, "kinds", "commit");
    jp.name = "collections";
    config_split_list(c->collections, js_param, &jp);
    jp.name = "dids";
    config_split_list(c->dids, js_param, &jp);
    buf_printf(q, "&maxMessageSizeBytes=%lld", c->max_record);
    if (c->compress && at->dict_id)
        buf_printf(q, "&zstdDictionary=%u", at->dict_id);
    rq->protocol = "xrpc.v1.json";
}

static int request(const struct source_conf *c, const struct source_resume *at, struct source_request *rq,
                   const char **why)
{
    struct buf q;
    uint64_t cursor = cursor_of(at);
    int rc;

    buf_init(&q, SOURCE_REQUEST_MAX_URL / 2);
    if (jetstream_v2(c->url))
        request_v2(c, at, &q, rq);
    else
        request_v1(c, &q, rq);
    /* time_us is not ordered across repositories: a time cursor rewinds */
    if (cursor >= JETSTREAM_US_MIN + JETSTREAM_REWIND_US)
        cursor -= JETSTREAM_REWIND_US;
    if (cursor)
        buf_printf(&q, "&cursor=%llu", (unsigned long long)cursor);
    rq->cursor = cursor;
    rc = buf_printf(&rq->url, "%s?%s", c->url, q.data[0] == '&' ? q.data + 1 : q.data);
    buf_free(&q);
    if (rc != 0)
        *why = "the filters make the URL too long";
    return rc ? -1 : 0;
}

/* The number after the last "seq" in an XRPC error's message ("cursor 12
 * is below the floor seq 3400"), 0 if none. */
static uint64_t floor_in(const char *body)
{
    const char *m = strstr(body, "\"message\""), *p;
    uint64_t v = 0;

    if (!m)
        return 0;
    for (p = m; (p = strstr(p, "seq")) != NULL; p += 3) {
        const char *d = p + 3;
        while (*d == ' ' || *d == ':' || *d == '=')
            d++;
        if (*d >= '0' && *d <= '9')
            v = strtoull(d, NULL, 10);
    }
    return v < JETSTREAM_US_MIN ? v : 0;
}

/* v2's pre-upgrade XRPC errors ({"error":"CursorTooOld","message":...}).
 * A cursor past the lookback resumes from the oldest event kept (the floor
 * the message names; failing that, the oldest time, which the server
 * clamps), the events in between lost.  A retired dictionary: plain
 * frames until the file is replaced. */
static int refused(const struct source_conf *c, long status, const char *body, uint64_t asked,
                   struct source_refusal *out)
{
    if (status != 400 || !jetstream_v2(c->url))
        return 0;
    if (strstr(body, "\"CursorTooOld\"")) {
        uint64_t floor = floor_in(body);
        out->retry = 1;
        out->lost = 1;
        out->resume = floor ? floor : JETSTREAM_US_MIN;
        snprintf(out->why, sizeof out->why, "cursor %llu is older than the server keeps (CursorTooOld): "
                 "resuming from %s %llu; the events in between are lost", (unsigned long long)asked,
                 floor ? "its oldest, seq" : "the oldest it keeps, time", (unsigned long long)out->resume);
        return 1;
    }
    if (strstr(body, "\"UnknownZstdDictionary\"")) {
        out->retry = 1;
        out->plain = 1;
        snprintf(out->why, sizeof out->why, "the server no longer has the zstd dictionary in %s "
                 "(UnknownZstdDictionary): reading uncompressed; fetch the current one from "
                 "/xrpc/network.bsky.jetstream.getZstdDictionary into that file and restart", c->dictionary);
        return 1;
    }
    return 0;
}

const struct source_driver source_driver_jetstream = {
    .name = "jetstream",
    .transport = TRANSPORT_WEBSOCKET,
    .decoder = &decode_jetstream_ops,
    .framing = FRAMING_LINES,
    .flags = DRIVER_POSITION,
    .url_example = "wss://jetstream2.us-east.bsky.network" JETSTREAM_V2_PATH,
    .keys = keys,
    .nkeys = sizeof keys / sizeof keys[0],
    .validate = validate,
    .request = request,
    .refused = refused,
};
