/* mastodon: the Mastodon streaming API (server-sent events of statuses),
 * and the timelines API where an instance streams no more.
 *
 * Two ways to name what to read:
 *   url = https://host/api/v1/streaming/...   that stream, as written;
 *   url = https://host (or instances = a, b, each a host or a base URL:
 *   config.c makes one source of each, "<name>@<host>", its token from
 *   token_file with {instance} replaced, or the credential of that name)
 *   and stream = public | public:local | public:remote | hashtag:NAME |
 *   list:ID | user.
 * The second way knows the instance: before connecting it reads
 * /api/v2/instance, where Mastodon 4.5 says which feeds it switched off
 * (configuration.timelines_access: "disabled"; mastodon.social's public
 * stream then carries only deletes), and a stream refused as absent (404,
 * 410, 501) says the same.  Then the matching timeline is polled every
 * poll_interval from the newest status id seen (min_id: the page right
 * after it, so a busy minute is paged through, not cut), and streaming is
 * tried again when the instance says it is back (read every 10 minutes).
 * The position (the highest status id) is kept and saved like Jetstream's,
 * so a stream that comes back after a drop first asks the timeline for
 * what it missed.
 */
#include "config_key.h"
#include "decode.h"
#include "json.h"
#include "source_driver.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct source_driver source_driver_mastodon;

#define M_STREAMING "/api/v1/streaming"
#define M_PAGE 40                       /* statuses a timeline page holds at most (Mastodon's cap) */

struct mastodon_own {
    char *instances;                    /* expanded by config.c */
    char *stream;
    long long poll_interval;            /* seconds */
};

static const struct ckey keys[] = {
    SOURCE_OWN_KEY("instances", CT_STR, struct mastodon_own, instances, NULL, 0, 0),
    SOURCE_OWN_KEY("stream", CT_STR, struct mastodon_own, stream, "public", 0, 0),
    SOURCE_OWN_KEY("poll_interval", CT_INT, struct mastodon_own, poll_interval, "30", 1, 3600),
};

/* Each kind of stream: where it streams, the timeline that holds the same
 * statuses, and the feed of /api/v2/instance's timelines_access that can
 * switch it off (scope local/remote, or NULL: either). */
static const struct m_kind {
    const char *name;
    int arg;                            /* takes ":NAME" */
    const char *stream, *timeline;      /* "%s": the argument, URL-escaped */
    const char *feed, *scope;
} kinds[] = {
    {"public", 0, M_STREAMING "/public", "/api/v1/timelines/public", "live_feeds", NULL},
    {"public:local", 0, M_STREAMING "/public/local", "/api/v1/timelines/public?local=true", "live_feeds", "local"},
    {"public:remote", 0, M_STREAMING "/public/remote", "/api/v1/timelines/public?remote=true", "live_feeds",
     "remote"},
    {"hashtag", 1, M_STREAMING "/hashtag?tag=%s", "/api/v1/timelines/tag/%s", "hashtag_feeds", NULL},
    {"list", 1, M_STREAMING "/list?list=%s", "/api/v1/timelines/list/%s", NULL, NULL},
    {"user", 0, M_STREAMING "/user", "/api/v1/timelines/home", NULL, NULL},
};

/* The kind of "hashtag:bank" and its argument ("bank"); NULL if unknown. */
static const struct m_kind *kind_of(const char *stream, const char **arg)
{
    for (size_t i = 0; stream && i < sizeof kinds / sizeof kinds[0]; i++) {
        size_t n = strlen(kinds[i].name);
        if (strncmp(stream, kinds[i].name, n) != 0)
            continue;
        if (!kinds[i].arg && stream[n] == '\0') {
            *arg = "";
            return &kinds[i];
        }
        if (kinds[i].arg && stream[n] == ':' && stream[n + 1]) {
            *arg = stream + n + 1;
            return &kinds[i];
        }
    }
    return NULL;
}

/* The section names the instance (url = its base, or instances), not a
 * stream's URL. */
static int knows_instance(const struct source_conf *sc)
{
    return sc->url && !strstr(sc->url, M_STREAMING);
}

static const struct mastodon_own *own_of(const struct source_conf *sc)
{
    return source_own(sc, &source_driver_mastodon);
}

static void validate(struct config *c, struct source_conf *s, struct errlist *errs)
{
    const struct mastodon_own *own = own_of(s);
    const char *arg;

    if (!own)
        return;
    if (!kind_of(own->stream, &arg))
        source_key_error(errs, c, s, "stream", "expected public, public:local, public:remote, hashtag:NAME, "
                         "list:ID or user");
    if (s->url && !knows_instance(s) && source_key_written(s, "stream"))
        source_key_error(errs, c, s, "stream", "the url names a stream already: give the instance "
                         "(url = https://host, or instances) with stream, or the stream's url alone");
}

/* "/api/v1/timelines/tag/%s" with arg, escaped, appended to out. */
static int path_append(struct buf *out, const char *fmt, const char *arg)
{
    const char *s = strstr(fmt, "%s");

    if (!s)
        return buf_append(out, fmt, strlen(fmt));
    if (buf_append(out, fmt, (size_t)(s - fmt)) != 0 || buf_append_escaped(out, arg, NULL) != 0)
        return -1;
    return buf_append(out, s + 2, strlen(s + 2));
}

/* The base URL without a trailing slash. */
static int base_append(struct buf *out, const char *url)
{
    size_t n = strlen(url);

    while (n && url[n - 1] == '/')
        n--;
    return buf_append(out, url, n);
}

static int request(const struct source_conf *sc, const struct source_resume *at, struct source_request *rq,
                   const char **why)
{
    const struct mastodon_own *own = own_of(sc);
    const struct m_kind *k;
    const char *arg;
    uint64_t from = at->position > at->saved ? at->position : at->saved;
    int r;

    if (!knows_instance(sc) || !own || !(k = kind_of(own->stream, &arg)))
        return source_request_http(sc, at, rq, why);
    r = base_append(&rq->url, sc->url);
    if (!at->poll) {
        r = r ? r : path_append(&rq->url, k->stream, arg);
        source_request_header(rq, "Accept: text/event-stream");
        source_request_header(rq, "Cache-Control: no-cache");
    } else {
        r = r ? r : path_append(&rq->url, k->timeline, arg);
        r = r ? r : buf_printf(&rq->url, "%climit=%d", strchr(k->timeline, '?') ? '&' : '?', M_PAGE);
        /* min_id: the page right after it (since_id alone gives the newest page) */
        if (!r && from)
            r = buf_printf(&rq->url, "&since_id=%llu&min_id=%llu", (unsigned long long)from,
                           (unsigned long long)from);
        rq->poll = 1;
        rq->poll_interval_ms = (uint64_t)own->poll_interval * 1000;
        rq->page = M_PAGE;
    }
    if (r != 0)
        *why = "the URL is too long";
    return r ? -1 : 0;
}

static int probe(const struct source_conf *sc, struct source_request *rq)
{
    if (!knows_instance(sc))
        return -1;
    return base_append(&rq->url, sc->url) || buf_printf(&rq->url, "/api/v2/instance") ? -1 : 0;
}

/* What /api/v2/instance says of the feed a kind reads. */
struct m_probe {
    const struct m_kind *k;
    char version[32];
    char local[16], remote[16];         /* "public", "authenticated", "disabled", "" if not said */
};

static int probe_event(void *ctx, const struct json_event *ev)
{
    struct m_probe *p = ctx;
    char want[96];
    char *dst = NULL;
    size_t cap = 0;

    if (ev->type != JSON_STRING)
        return 0;
    if (strcmp(ev->ptr, "/version") == 0) {
        dst = p->version;
        cap = sizeof p->version;
    } else if (p->k->feed) {
        snprintf(want, sizeof want, "/configuration/timelines_access/%s/", p->k->feed);
        if (strncmp(ev->ptr, want, strlen(want)) == 0) {
            const char *scope = ev->ptr + strlen(want);
            dst = strcmp(scope, "local") == 0 ? p->local : strcmp(scope, "remote") == 0 ? p->remote : NULL;
            cap = sizeof p->local;
        }
    }
    if (dst) {
        size_t n = ev->val_len < cap - 1 ? ev->val_len : cap - 1;
        memcpy(dst, ev->val, n);
        dst[n] = '\0';
    }
    return 0;
}

/* 1: poll (the instance switched off the feed this stream reads), 0:
 * stream (also when the document is absent or unreadable: older servers
 * have no /api/v2/instance, and the stream itself will tell). */
static int probed(const struct source_conf *sc, long status, const char *body, size_t len, char *why,
                  size_t whylen)
{
    const struct mastodon_own *own = own_of(sc);
    struct m_probe p = {0};
    struct json_reader *jr;
    const char *arg, *off = NULL;
    char err[160];

    if (!own || !(p.k = kind_of(own->stream, &arg)) || status < 200 || status >= 300 || !p.k->feed)
        return 0;
    if (!(jr = json_reader_new(16, probe_event, &p)))
        return 0;
    if (json_reader_parse(jr, body, len, err, sizeof err) != 0)
        p.local[0] = p.remote[0] = '\0';
    json_reader_free(jr);
    if ((!p.k->scope || strcmp(p.k->scope, "local") == 0) && strcmp(p.local, "disabled") == 0)
        off = "local";
    else if ((!p.k->scope || strcmp(p.k->scope, "remote") == 0) && strcmp(p.remote, "disabled") == 0)
        off = "remote";
    if (!off)
        return 0;
    snprintf(why, whylen, "the instance (Mastodon %s) has its %s %s feeds off (timelines_access)",
             p.version[0] ? p.version : "?", off, p.k->feed[0] == 'l' ? "live" : "hashtag");
    return 1;
}

/* A stream refused as absent: no streaming API here (or not this stream):
 * its timeline is polled instead.  Other refusals back off as usual. */
static int refused(const struct source_conf *sc, long status, const char *body, uint64_t asked,
                   struct source_refusal *out)
{
    (void)body;
    (void)asked;
    if (!knows_instance(sc) || (status != 404 && status != 410 && status != 501))
        return 0;
    out->retry = 1;
    out->poll = 1;
    snprintf(out->why, sizeof out->why, "the instance answers HTTP %ld to streaming: polling its timeline "
             "instead", status);
    return 1;
}

/* A recorded file of Mastodon statuses holds one per line, not events. */
static enum framing_mode framing_for(const struct source_conf *sc, int from_file)
{
    (void)sc;
    return from_file ? FRAMING_LINES : FRAMING_SSE;
}

/* Knowing the instance, it asks the timeline for what it missed. */
static int resumes(const struct source_conf *sc)
{
    return knows_instance(sc);
}

static enum source_catchup catchup(const struct source_conf *sc, uint64_t gap_ms)
{
    (void)gap_ms;
    return knows_instance(sc) ? CATCHUP_FORWARD : CATCHUP_NONE;
}

static const char *instances(const struct source_conf *sc)
{
    const struct mastodon_own *own = own_of(sc);
    return own ? own->instances : NULL;
}

const struct source_driver source_driver_mastodon = {
    .name = "mastodon",
    .transport = TRANSPORT_HTTP_STREAM,
    .decoder = &decode_mastodon_ops,
    .framing = FRAMING_SSE,
    .flags = DRIVER_NEEDS_TOKEN | DRIVER_POSITION_ID,
    .token_why = " (Mastodon 4.2+ refuses anonymous streaming)",
    .keys = keys,
    .nkeys = sizeof keys / sizeof keys[0],
    .own_size = sizeof(struct mastodon_own),
    .framing_for = framing_for,
    .validate = validate,
    .request = request,
    .resumes = resumes,
    .refused = refused,
    .catchup = catchup,
    .probe = probe,
    .probed = probed,
    .instances = instances,
};
