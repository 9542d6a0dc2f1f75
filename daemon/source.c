/* source: connection life cycle, backoff and stall detection; see source.h. */
#include "source.h"
#include "http_client.h"
#include "ledger.h"
#include "log.h"
#include "position.h"
#include "source_driver.h"
#include "util.h"
#include "ws.h"
#include "ws_client.h"
#include "rules.h"
#include "spend.h"
#include "xquery.h"
#include "zdec.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FILE_SLICE (64u * 1024u)
#define FILE_TICK_MS 10
/* Backing off for longer than this makes the source unhealthy (readyz). */
#define SOURCE_BACKOFF_BUDGET_MS 60000
/* How long a start waits for the saved position before starting live. */
#define POSITION_WAIT_MS 5000
/* A type that reads a document before connecting (source_driver.probe)
 * reads it again after a drop, and this often while polling, so a stream
 * that comes back is used again. */
#define PROBE_EVERY_MS 600000
#define PROBE_MAX (256u * 1024u)        /* the probe's answer is read up to this */
/* Pages asked from a timeline for what a stream missed, at most. */
#define CATCHUP_PAGES 10

struct source {
    struct source_conf *conf;           /* owned copy */
    const struct source_driver *drv;    /* conf->driver */
    struct event_base *base;
    struct http_client *http;
    struct pipeline *pl;
    struct feed feed;
    int feed_ok;
    enum source_state state;
    struct http_stream *stream;
    /* WebSocket */
    struct ws_client *wsc;
    struct ws_conn *ws;
    struct zdec *zdec;                  /* compressed messages (Jetstream compress = on) */
    char *hello;                        /* the request's message to send on open, or NULL */
    int plain;                          /* the server refused our dictionary: uncompressed */
    int refusals;                       /* upgrades refused in a row for a reason the type knows */
    /* a position (DRIVER_POSITION) */
    const struct position_store *ps;
    struct position *pos;               /* our handle, or NULL */
    int waiting;                        /* start waits for the saved position */
    uint64_t saved;                     /* the saved position it started from (0: live) */
    uint64_t asked;                     /* the position this connection asked from (0: live) */
    int first_record;                   /* no record yet on this connection */
    struct event *timer;                /* reconnect, stall check, file ticks */
    struct backoff bo;
    uint64_t up_since_ms;
    uint64_t last_byte_ms;
    uint64_t down_since_ms;             /* not up since (0: up, or done) */
    struct source_stats st;
    /* completeness: posts, lag, the rate, gaps (ledger.h); checked each second */
    struct ledger led;
    struct event *ledger_timer;
    uint64_t led_posts;                 /* the feed's posts the ledger has seen */
    uint64_t up_since_real_ms;
    enum ledger_cause next_cause;       /* of the next gap: why the connection goes */
    /* polled documents: validators of the last one, for conditional GET */
    char etag[256], last_modified[64];
    int polls_ok;
    uint64_t poll_ms;
    /* a type that streams or polls (source_driver.probe: Mastodon) */
    int polling;                        /* this connection is a poll (one document) */
    int poll_mode;                      /* the stream is not served: poll instead */
    struct http_stream *probe;          /* reading the probe's document, or NULL */
    int reprobe;                        /* read the probe again before the next connection */
    uint64_t probed_ms;                 /* when it last answered (mono; 0: never) */
    struct buf probe_body;
    struct spend spend;                 /* an X source with daily_budget: posts read today */
    int has_spend;
    int catchup;                        /* requests still to make for what the stream missed */
    enum source_catchup catchup_kind;
    char **queries;                     /* CATCHUP_QUERIES: each rule's X query (owned) */
    int catchup_tried;                  /* asked for this gap already (refused: not again) */
    int nqueries, qi;
    int page;                           /* this poll's page size (0: not paged) */
    uint64_t page_from;                 /* the feed's posts before this poll */
    /* file source */
    int fd;
    char *fbuf;
    size_t flen, fpos;
    int feof;
};

static const struct http_stream_cbs source_http_cbs;
static void position_note(struct source *s);
static void source_connect(struct source *s);

const char *source_state_name(enum source_state st)
{
    static const char *const names[] = {"idle", "connecting", "up", "backoff", "done", "stopped"};
    return st <= SOURCE_STOPPED ? names[st] : "?";
}

static void timer_in(struct source *s, uint64_t ms)
{
    struct timeval tv = ms_to_timeval(ms);
    evtimer_add(s->timer, &tv);
}

static void source_schedule(struct source *s, enum backoff_kind kind, const char *why, int immediate)
{
    uint64_t delay = immediate ? 0 : backoff_next(&s->bo, kind, (uint32_t)random());

    ledger_gap_open(&s->led, now_real_ms(), s->next_cause);
    s->next_cause = GAP_RECONNECT;
    s->reprobe = 1;

    /* from the first failure: attempts in between do not reset it */
    if (!s->down_since_ms)
        s->down_since_ms = now_mono_ms();
    s->state = SOURCE_BACKOFF;
    log_msg(LOG_WARNING, "source %s: disconnected: %s; reconnecting in %.1fs (%s backoff, attempt %d)",
            s->conf->name, why, (double)delay / 1000.0,
            immediate ? "immediate" : backoff_kind_name(s->bo.kind), immediate ? 1 : s->bo.attempts);
    timer_in(s, delay);
}

static void on_open(void *ctx, long status, const char *rate_limit)
{
    struct source *s = ctx;
    int quiet = s->polling && s->polls_ok;

    s->state = SOURCE_UP;
    s->up_since_ms = now_mono_ms();
    s->up_since_real_ms = now_real_ms();
    s->down_since_ms = 0;
    s->refusals = 0;
    s->catchup_tried = 0;               /* the gap is over */
    s->st.connects++;
    /* the gap ends; it is filled if this type asks for what it missed */
    ledger_gap_close(&s->led, s->up_since_real_ms, source_driver_resumes(s->conf));
    framer_reset(&s->feed.fr);
    log_msg(quiet ? LOG_DEBUG : LOG_NOTICE, "source %s: connected (HTTP %ld%s%s)", s->conf->name, status,
            rate_limit ? "; connection rate limit " : "", rate_limit ? rate_limit : "");
}

static int on_data(void *ctx, const char *p, size_t n)
{
    struct source *s = ctx;

    s->last_byte_ms = now_mono_ms();
    feed_bytes(&s->feed, p, n);
    if (s->pos)
        position_note(s);
    return 0;
}

/* X: an established connection that drops is retried at once; one that
 * dies young backs off like a network error, so a server that accepts and
 * closes cannot make us spin. */
static void source_dropped(struct source *s, const char *why, int was_up)
{
    int healthy = was_up && now_mono_ms() - s->up_since_ms >= BACKOFF_HEALTHY_MS;

    if (healthy)
        backoff_reset(&s->bo);
    source_schedule(s, BACKOFF_NETWORK, why, healthy);
}

static void queries_free(struct source *s)
{
    for (int i = 0; i < s->nqueries; i++)
        free(s->queries[i]);
    free(s->queries);
    s->queries = NULL;
    s->nqueries = s->qi = 0;
}

/* A catch-up request (what a stream missed) was answered: the next page
 * while the last was full (a timeline read forward) or the next rule's
 * query, else the stream again, at once.  A page still full where it stops
 * leaves the gap not filled.  1 if it was a catch-up. */
static int catchup_next(struct source *s)
{
    int full = s->page && s->feed.st.posts - s->page_from >= (uint64_t)s->page;

    if (!s->catchup)
        return 0;
    if (s->catchup_kind == CATCHUP_FORWARD && full && --s->catchup) {
        timer_in(s, 0);                 /* the next page */
        return 1;
    }
    if (full) {
        if (s->catchup_kind == CATCHUP_FORWARD)
            log_msg(LOG_WARNING, "source %s: still a full page after %d pages of what the stream missed; "
                    "the rest is lost", s->conf->name, CATCHUP_PAGES);
        else
            log_msg(LOG_WARNING, "source %s: a full page for %s: what the stream missed of it is cut there",
                    s->conf->name, s->queries[s->qi]);
        ledger_gap_lost(&s->led, now_real_ms(), s->up_since_real_ms, GAP_BACKFILL_PARTIAL);
    }
    if (s->catchup_kind == CATCHUP_QUERIES && --s->catchup) {
        s->qi++;                        /* the next rule's query */
        timer_in(s, 0);
        return 1;
    }
    s->catchup = 0;
    queries_free(s);
    timer_in(s, 0);                     /* the stream again */
    return 1;
}

/* Asking for what was missed failed (X without search access, say): the
 * gap stays unfilled, and the stream connects again at once.  1 if it was
 * such a request. */
static int catchup_failed(struct source *s, const char *why)
{
    if (!s->catchup)
        return 0;
    log_msg(LOG_ERR, "source %s: asking for what the stream missed failed (%s); the gap is not filled",
            s->conf->name, why);
    ledger_gap_open(&s->led, now_real_ms(), GAP_BACKFILL_REFUSED);
    ledger_gap_lost(&s->led, now_real_ms(), now_real_ms(), GAP_BACKFILL_REFUSED);
    s->catchup = 0;
    queries_free(s);
    source_schedule(s, BACKOFF_HTTP, why, 1);
    return 1;
}

/* A feed document arrived whole (or was not modified): hand it on, keep
 * its validators, and poll again after the interval (with up to 10% jitter,
 * so many feeds do not poll in step). */
static void poll_done(struct source *s, const struct http_result *r)
{
    uint64_t ms = s->poll_ms ? s->poll_ms : 300000;   /* a driver that sets no interval: five minutes */

    if (r->status == 304) {
        log_msg(LOG_DEBUG, "source %s: not modified", s->conf->name);
    } else {
        decoder_hint(&s->feed.dec, "content_type", r->content_type);
        feed_finish(&s->feed, 1);
        str_copy(s->etag, r->etag ? r->etag : "", sizeof s->etag);
        str_copy(s->last_modified, r->last_modified ? r->last_modified : "", sizeof s->last_modified);
    }
    backoff_reset(&s->bo);
    s->state = SOURCE_UP;
    s->down_since_ms = 0;
    if (s->page)
        pipeline_drain(s->pl);          /* its posts counted (and the position moved) before the next ask */
    if (s->pos)
        position_note(s);
    if (catchup_next(s))
        return;
    if (!s->polls_ok++)
        log_msg(LOG_NOTICE, "source %s: polled (HTTP %ld); polling every %llus", s->conf->name, r->status,
                (unsigned long long)(ms / 1000));
    /* a full page may have more after it: the next one at once */
    timer_in(s, s->page && s->feed.st.posts - s->page_from >= (uint64_t)s->page
                    ? 0 : ms + (uint64_t)random() % (ms / 10 + 1));
}

/* Stream or poll, as the instance said (logged when it changes). */
static void set_poll_mode(struct source *s, int on, const char *why)
{
    if (on == s->poll_mode)
        return;
    s->poll_mode = on;
    if (on)
        log_msg(LOG_WARNING, "source %s: streaming is off: %s; polling its timeline instead", s->conf->name, why);
    else
        log_msg(LOG_NOTICE, "source %s: streaming is back on; streaming again", s->conf->name);
}

/* An answer refusing the connection for a reason the type knows
 * (source_driver.refused): reconnect at once as it says, once; refused
 * again, the usual backoff.  1 if it reconnects. */
static int source_refused(struct source *s, long status, const char *body)
{
    struct source_refusal rf = {0};
    int again;

    if (!s->drv->refused || !s->drv->refused(s->conf, status, body ? body : "", s->asked, &rf))
        return 0;
    again = s->refusals++ > 0;
    if (rf.poll) {
        set_poll_mode(s, 1, rf.why);
        s->probed_ms = now_mono_ms();   /* the stream said so: no need to ask before the next poll */
        s->reprobe = 0;
    } else {
        log_msg(LOG_ERR, "source %s: %s%s", s->conf->name, rf.why, again ? " (again: backing off)" : "");
    }
    if (rf.resume)
        s->saved = rf.resume;
    s->plain |= rf.plain;
    if (rf.lost) {
        ledger_gap_open(&s->led, now_real_ms(), GAP_CURSOR_TOO_OLD);
        ledger_gap_lost(&s->led, now_real_ms(), now_real_ms(), GAP_CURSOR_TOO_OLD);
    }
    if (again || !rf.retry)
        return 0;
    source_schedule(s, BACKOFF_HTTP, rf.why, 1);
    return 1;
}

static void reconnect_now(struct source *s, enum ledger_cause cause, const char *why);
static int probe_start(struct source *s);

static int probe_data(void *ctx, const char *p, size_t n)
{
    struct source *s = ctx;

    buf_append(&s->probe_body, p, n);   /* past PROBE_MAX: cut, and read as unreadable */
    return 0;
}

/* The probe answered (or failed: the stream then tells): stream or poll.
 * Before a connection, it is made now; beside a stream that should now be
 * a poll, the stream ends (the poll asks from its position). */
static void probe_done(void *ctx, const struct http_result *r)
{
    struct source *s = ctx;
    char why[200] = "";
    int poll = 0, streaming = s->stream && !s->polling;

    s->probe = NULL;
    s->probed_ms = now_mono_ms();
    s->reprobe = 0;
    if (r->transport_ok && s->probe_body.len < PROBE_MAX)
        poll = s->drv->probed(s->conf, r->status, s->probe_body.data ? s->probe_body.data : "",
                              s->probe_body.len, why, sizeof why);
    else if (r->transport_ok)
        log_limited(LOG_WARNING, "source %s: the instance's document is over %u KiB; not read", s->conf->name,
                    PROBE_MAX / 1024);
    buf_reset(&s->probe_body);
    set_poll_mode(s, poll, why);
    if (s->state == SOURCE_STOPPED)
        return;
    if (streaming && poll)
        reconnect_now(s, GAP_RECONNECT, why);
    else if (!s->stream)
        source_connect(s);
}

static const struct http_stream_cbs probe_cbs = {
    .on_data = probe_data,
    .on_done = probe_done,
};

static void on_done(void *ctx, const struct http_result *r)
{
    struct source *s = ctx;
    char why[512];
    int was_up = s->state == SOURCE_UP;

    s->stream = NULL;
    if (s->polling && s->state != SOURCE_STOPPED && r->transport_ok &&
        ((r->status >= 200 && r->status < 300) || r->status == 304)) {
        poll_done(s, r);
        return;
    }
    feed_finish(&s->feed, 0);
    if (s->state == SOURCE_STOPPED)
        return;
    if (s->polling)
        s->polls_ok = 0;                /* say so when it works again */
    if (!r->transport_ok) {
        s->st.network_errors++;
        snprintf(why, sizeof why, "%s", r->error ? r->error : "network error");
        source_dropped(s, why, was_up);
        return;
    }
    if (r->status >= 200 && r->status < 300) {
        /* X closes a connection that another one replaced ("too many
         * connections"); reconnecting at once would close that one in turn,
         * so this backs off like an HTTP error. */
        int replaced = s->feed.control_seen && (strstr(s->feed.last_control, "TooManyConnections") ||
                                                strstr(s->feed.last_control, "code 2 "));
        snprintf(why, sizeof why, "stream ended by the server%s%s",
                 s->feed.control_seen ? " after: " : "", s->feed.control_seen ? s->feed.last_control : "");
        if (s->feed.control_seen && strstr(s->feed.last_control, "operational-disconnect"))
            s->next_cause = GAP_OPERATIONAL;
        s->feed.control_seen = 0;
        if (replaced)
            source_schedule(s, BACKOFF_HTTP, why, 0);
        else
            source_dropped(s, why, was_up);
        return;
    }
    s->st.http_errors++;
    /* The body of an error may echo request details but never our token;
     * keep it short in the log. */
    snprintf(why, sizeof why, "HTTP %ld%s%.200s%s%s", r->status, r->body[0] ? ": " : "", r->body,
             r->rate_limit ? "; connection rate limit " : "", r->rate_limit ? r->rate_limit : "");
    for (char *c = why; *c; c++)
        if (*c == '\n' || *c == '\r')
            *c = ' ';
    if (catchup_failed(s, why) || source_refused(s, r->status, r->body))
        return;
    if (r->status == 401 || r->status == 403)
        log_msg(LOG_ERR, "source %s: HTTP %ld: the server refused our credentials; check the token",
                s->conf->name, r->status);
    source_schedule(s, r->status == 429 || r->status == 420 ? BACKOFF_RATE_LIMIT : BACKOFF_HTTP, why, 0);
}

static const struct http_stream_cbs source_http_cbs = {
    .on_open = on_open,
    .on_data = on_data,
    .on_done = on_done,
};

/* Drop a connection that is open but not bringing what it should, and
 * connect again at once; the gap it leaves is of this cause. */
static void reconnect_now(struct source *s, enum ledger_cause cause, const char *why)
{
    http_stream_cancel(s->stream);
    s->stream = NULL;
    ws_conn_cancel(s->ws);
    s->ws = NULL;
    feed_finish(&s->feed, 0);
    s->next_cause = cause;
    backoff_reset(&s->bo);
    source_schedule(s, BACKOFF_NETWORK, why, 1);
}

/* Stall check: no byte (keep-alives count) for stall_timeout seconds. */
static void stall_check(struct source *s)
{
    uint64_t now = now_mono_ms(), limit = (uint64_t)s->conf->stall_timeout * 1000;
    uint64_t since = s->last_byte_ms;
    char why[96];

    if (now - since < limit) {
        timer_in(s, limit - (now - since) + 1);
        return;
    }
    s->st.stalls++;
    snprintf(why, sizeof why, "stalled: no data or keep-alive for %llds", s->conf->stall_timeout);
    reconnect_now(s, GAP_STALL, why);
}

static void file_tick(struct source *s);

/* Open, keep-alives coming, and no post for quiet_timeout while the
 * learnt rate says there should have been: reconnect (the stream the
 * service keeps open may be one it no longer feeds). */
static void quiet_reconnect(struct source *s)
{
    char why[160];

    snprintf(why, sizeof why, "quiet: no post for %llds while it usually brings %.1f a second",
             s->conf->quiet_timeout, s->led.rate);
    reconnect_now(s, GAP_QUIET, why);
}

/* Each second: the posts since the last tick, the rate, a quiet stream. */
static void on_ledger(evutil_socket_t fd, short what, void *arg)
{
    struct source *s = arg;
    uint64_t now = now_real_ms(), n = s->feed.st.posts;
    int up = s->state == SOURCE_UP;

    (void)fd;
    (void)what;
    if (n > s->led_posts)
        ledger_post(&s->led, now, (uint32_t)(n - s->led_posts), s->feed.st.last_created_ms);
    s->led_posts = n;
    ledger_tick(&s->led, now, up);
    if (up && s->stream && !s->polling)
        probe_start(s);                 /* every PROBE_EVERY_MS: is the stream still served? */
    if (up && !s->polling && (s->drv->transport == TRANSPORT_HTTP_STREAM || s->drv->transport == TRANSPORT_WEBSOCKET) &&
        ledger_quiet(&s->led, now, s->up_since_real_ms, (uint64_t)s->conf->quiet_timeout * 1000))
        quiet_reconnect(s);
}

const struct ledger *source_ledger(const struct source *s)
{
    return &s->led;
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct source *s = arg;

    (void)fd;
    (void)what;
    switch (s->state) {
    case SOURCE_IDLE:
        if (s->waiting) {
            s->waiting = 0;
            s->ps->ops->load(s->pos, NULL, NULL);
            log_msg(LOG_WARNING, "source %s: no saved position from Redis within %ds; starting live",
                    s->conf->name, POSITION_WAIT_MS / 1000);
            source_connect(s);
        }
        break;
    case SOURCE_BACKOFF:
        s->st.reconnects++;
        source_connect(s);
        break;
    case SOURCE_CONNECTING:
    case SOURCE_UP:
        if (s->drv->transport == TRANSPORT_FILE)
            file_tick(s);
        else if (s->polling && !s->stream)
            source_connect(s);          /* the next poll, or the stream after a catch-up */
        else
            stall_check(s);
        break;
    default:
        break;
    }
}

/* Feed the next slice of the file; paced sources feed at most rate/100
 * records per 10 ms tick. */
static void file_tick(struct source *s)
{
    ssize_t n;
    size_t end;
    long long budget = s->conf->rate > 0 ? (s->conf->rate * FILE_TICK_MS + 999) / 1000 : -1;

    if (s->fpos == s->flen && !s->feof) {
        n = read(s->fd, s->fbuf, FILE_SLICE);
        if (n < 0 && errno != EINTR) {
            log_msg(LOG_ERR, "source %s: %s: read error: %s", s->conf->name, s->conf->path, strerror(errno));
            s->feof = 1;
        } else if (n == 0) {
            s->feof = 1;
        } else if (n > 0) {
            s->flen = (size_t)n;
            s->fpos = 0;
        }
    }
    if (s->fpos < s->flen) {
        end = s->flen;
        if (budget > 0) {
            const char *p = s->fbuf + s->fpos, *nl;
            while (budget > 0 && (nl = memchr(p, '\n', (size_t)(s->fbuf + s->flen - p)))) {
                p = nl + 1;
                budget--;
            }
            end = budget > 0 ? s->flen : (size_t)(p - s->fbuf);
        }
        s->last_byte_ms = now_mono_ms();
        feed_bytes(&s->feed, s->fbuf + s->fpos, end - s->fpos);
        s->fpos = end;
    }
    if (s->feof && s->fpos == s->flen) {
        feed_finish(&s->feed, 1);
        close(s->fd);
        s->fd = -1;
        s->state = SOURCE_DONE;
        log_msg(LOG_NOTICE, "source %s: end of %s: %llu posts, %llu rejected records",
                s->conf->name, s->conf->path, (unsigned long long)s->feed.st.posts,
                (unsigned long long)feed_rejected(&s->feed));
        return;
    }
    timer_in(s, budget >= 0 ? FILE_TICK_MS : 0);
}

/* The request of one connection attempt, built by the type's driver from
 * what the life cycle knows: the position to resume from (the highest
 * processed, or the saved one when it is higher: in a fleet, another
 * member ran the source since), the last event id, the validators. */
static int source_request(struct source *s, struct source_request *rq, const char **why)
{
    struct source_resume at = {
        .position = source_position(s),
        .saved = s->saved,
        .dict_id = s->zdec && !s->plain ? zdec_dict_id(s->zdec) : 0,
        .poll = s->poll_mode || s->catchup > 0,
        .query = s->catchup && s->catchup_kind == CATCHUP_QUERIES ? s->queries[s->qi] : NULL,
        .last_event_id = s->feed.fr.sse_last_id,
        .etag = s->etag,
        .last_modified = s->last_modified,
    };

    source_request_init(rq);
    *why = NULL;
    if ((s->drv->request ? s->drv->request : source_request_http)(s->conf, &at, rq, why) != 0) {
        if (!*why)
            *why = "could not build the request";
        source_request_free(rq);
        return -1;
    }
    s->asked = rq->cursor;
    s->first_record = 1;
    return 0;
}

/* The position reached, for the store to save once it is safe.  The
 * first position of a connection below the one it asked from starts a new
 * series (a seq after a time cursor, seqs of another server, say): the
 * saved one no longer applies.  A stream that says it skipped events
 * leaves a gap that is not filled. */
static void position_note(struct source *s)
{
    uint64_t pos = source_position(s);

    if (decoder_moved(&s->feed.dec))
        ledger_gap_lost(&s->led, now_real_ms(), s->up_since_real_ms, GAP_CURSOR_JUMP);
    if (!pos)
        return;
    if (s->first_record && pos < s->asked) {
        log_msg(LOG_NOTICE, "source %s: the server numbers its positions anew (asked from %llu, got %llu)",
                s->conf->name, (unsigned long long)s->asked, (unsigned long long)pos);
        s->saved = 0;
        if (s->pos)
            s->ps->ops->restart(s->pos, pos);
    }
    s->first_record = 0;
    if (s->pos)
        s->ps->ops->reached(s->pos, pos);
}

/* ---- WebSocket: one message is one record ----------------------------- */

static void ws_on_open(void *ctx)
{
    struct source *s = ctx;

    on_open(s, 101, NULL);
    if (s->hello && ws_conn_send_text(s->ws, s->hello, strlen(s->hello)) != 0)
        log_msg(LOG_ERR, "source %s: could not send the filter options", s->conf->name);
}

static void ws_on_bytes(void *ctx, size_t n)
{
    struct source *s = ctx;

    (void)n;
    s->last_byte_ms = now_mono_ms();
}

static void ws_on_message(void *ctx, int opcode, const char *p, size_t n)
{
    struct source *s = ctx;
    const char *out;
    size_t outlen;
    char err[128];

    if (!s->zdec || opcode == WS_TEXT) {
        feed_record(&s->feed, p, n);
        position_note(s);
        return;
    }
    switch (zdec_frame(s->zdec, p, n, &out, &outlen, err, sizeof err)) {
    case ZDEC_OK:
        feed_record(&s->feed, out, outlen);
        position_note(s);
        break;
    case ZDEC_TOOBIG:
        feed_oversized(&s->feed, n);
        break;
    case ZDEC_CORRUPT:
        s->feed.st.malformed++;
        log_limited(LOG_WARNING, "source %s: stream offset %llu: compressed message (%zu bytes) skipped: %s",
                    s->conf->name, (unsigned long long)s->feed.st.bytes, n, err);
        s->feed.st.bytes += n;
        break;
    }
}

static void ws_on_oversize(void *ctx, uint64_t size)
{
    struct source *s = ctx;

    feed_oversized(&s->feed, size);
}

static void ws_on_done(void *ctx, const struct ws_result *r)
{
    struct source *s = ctx;
    char why[400];
    int was_up = s->state == SOURCE_UP;

    s->ws = NULL;
    if (s->state == SOURCE_STOPPED)
        return;
    if (!r->upgraded && r->status) {
        s->st.http_errors++;
        snprintf(why, sizeof why, "%s%s%.200s", r->error, r->body[0] ? ": " : "", r->body);
        for (char *c = why; *c; c++)
            if (*c == '\n' || *c == '\r')
                *c = ' ';
        if (source_refused(s, r->status, r->body))
            return;
        if (r->status == 401 || r->status == 403)
            log_msg(LOG_ERR, "source %s: HTTP %ld: the server refused the upgrade; check the URL and filters",
                    s->conf->name, r->status);
        source_schedule(s, r->status == 429 ? BACKOFF_RATE_LIMIT : BACKOFF_HTTP, why, 0);
        return;
    }
    if (!r->upgraded || r->protocol_error) {
        s->st.network_errors++;
        source_schedule(s, BACKOFF_NETWORK, r->error, 0);
        return;
    }
    source_dropped(s, r->error, was_up);
}

static const struct ws_conn_cbs source_ws_cbs = {
    .on_open = ws_on_open,
    .on_bytes = ws_on_bytes,
    .on_message = ws_on_message,
    .on_oversize = ws_on_oversize,
    .on_done = ws_on_done,
};

static void ws_connect(struct source *s)
{
    struct source_request rq;
    const char *why;
    char err[256];
    struct ws_conn_opts o = {
        .connect_timeout_s = (long)s->conf->connect_timeout,
        .ping_interval_s = s->conf->stall_timeout / 3 > 0 ? (long)(s->conf->stall_timeout / 3) : 1,
        .max_message = (size_t)s->conf->max_record,
        .user_agent = "mentiond/" MENTIOND_VERSION,
        .ca_file = s->conf->ca_file,
    };

    if (source_request(s, &rq, &why) != 0) {
        source_schedule(s, BACKOFF_HTTP, why, 0);
        return;
    }
    free(s->hello);
    s->hello = rq.hello;
    rq.hello = NULL;
    o.url = rq.url.data;
    o.protocol = rq.protocol;
    o.headers = rq.nheaders ? rq.headers : NULL;
    s->state = SOURCE_CONNECTING;
    s->last_byte_ms = now_mono_ms();
    s->ws = ws_conn_start(s->wsc, &o, &source_ws_cbs, s, err, sizeof err);
    if (!s->ws) {
        source_request_free(&rq);
        source_schedule(s, BACKOFF_NETWORK, err, 0);
        return;
    }
    log_msg(LOG_INFO, "source %s: connecting to %s%s", s->conf->name, s->conf->url,
            !s->pos ? "" : source_position(s) || s->saved ? " (resuming from the saved position)" : " (live)");
    log_msg(LOG_DEBUG, "source %s: request %s", s->conf->name, rq.url.data);
    source_request_free(&rq);
    timer_in(s, (uint64_t)s->conf->stall_timeout * 1000);
}

static void file_open(struct source *s)
{
    s->fd = open(s->conf->path, O_RDONLY | O_CLOEXEC);
    if (s->fd < 0) {
        log_msg(LOG_ERR, "source %s: %s: %s", s->conf->name, s->conf->path, strerror(errno));
        s->state = SOURCE_DONE;
        return;
    }
    s->state = SOURCE_UP;
    s->down_since_ms = 0;
    log_msg(LOG_NOTICE, "source %s: reading %s", s->conf->name, s->conf->path);
    timer_in(s, 0);
}

/* The document a type reads before connecting (source_driver.probe): on
 * the first connection, after a drop, and every PROBE_EVERY_MS (beside a
 * stream too).  1 if it was started. */
static int probe_start(struct source *s)
{
    struct source_request rq;
    struct http_stream_opts o = {
        .bearer = s->conf->token,
        .connect_timeout_s = (long)s->conf->connect_timeout,
        .timeout_s = 30,                /* a document, not a stream: a hung one must end */
        .user_agent = "mentiond/" MENTIOND_VERSION,
    };

    if (!s->drv->probe || s->probe ||
        (s->probed_ms && !s->reprobe && now_mono_ms() - s->probed_ms < PROBE_EVERY_MS))
        return 0;
    source_request_init(&rq);
    if (s->drv->probe(s->conf, &rq) != 0) {
        source_request_free(&rq);
        return 0;
    }
    o.url = rq.url.data;
    buf_reset(&s->probe_body);
    s->probe = http_stream_start(s->http, &o, &probe_cbs, s);
    log_msg(LOG_DEBUG, "source %s: asking %s", s->conf->name, rq.url.data);
    source_request_free(&rq);
    return s->probe != NULL;
}

struct query_list {
    struct source *s;
    int cap;
};

static void query_of(void *ctx, const struct rule *r, const char *value, const char *why)
{
    struct query_list *ql = ctx;
    struct source *s = ql->s;

    (void)r;
    (void)why;
    if (!value)
        return;
    if (s->nqueries == ql->cap) {
        ql->cap = ql->cap ? 2 * ql->cap : 16;
        s->queries = xrealloc(s->queries, (size_t)ql->cap * sizeof *s->queries);
    }
    s->queries[s->nqueries++] = xstrdup(value);
}

/* A stream that comes back after a gap (or starts with a saved position)
 * first asks for what it missed, as its type can: a timeline read forward
 * (Mastodon), or each rule's query (X's recent search; best_effort rules
 * not once the day's budget is spent). */
static void catchup_plan(struct source *s)
{
    const struct ledger_gap *g = ledger_last_gap(&s->led);
    uint64_t now = now_real_ms(), gap = s->led.open && g ? now - g->start_ms : UINT64_MAX;
    struct query_list ql = {.s = s};

    if (!s->drv->catchup || s->poll_mode || s->catchup || s->catchup_tried || !(s->led.open || !s->st.connects) ||
        !(source_position(s) || s->saved))
        return;
    s->catchup_kind = s->drv->catchup(s->conf, gap);
    s->catchup_tried = s->catchup_kind != CATCHUP_NONE;
    if (s->catchup_kind == CATCHUP_FORWARD) {
        s->catchup = CATCHUP_PAGES;
    } else if (s->catchup_kind == CATCHUP_QUERIES && s->pl->rs) {
        queries_free(s);
        xquery_plan(s->pl->rs, INT32_MAX, QUERY_MAX_LEN, s->has_spend && s->spend.spent, query_of, &ql);
        s->catchup = s->nqueries;
        if (s->nqueries)
            log_msg(LOG_NOTICE, "source %s: asking X's recent search for what the stream missed (%d rules)",
                    s->conf->name, s->nqueries);
    }
}

static void http_connect(struct source *s)
{
    struct source_request rq;
    const char *why;
    struct http_stream_opts o = {
        .bearer = s->conf->token,
        .connect_timeout_s = (long)s->conf->connect_timeout,
        .user_agent = "mentiond/" MENTIOND_VERSION,
    };

    if (probe_start(s)) {
        s->state = SOURCE_CONNECTING;   /* probe_done() connects */
        return;
    }
    catchup_plan(s);
    if (source_request(s, &rq, &why) != 0) {
        source_schedule(s, BACKOFF_HTTP, why, 0);
        return;
    }
    o.url = rq.url.data;
    o.headers = rq.headers;
    s->poll_ms = rq.poll_interval_ms;
    s->polling = s->drv->transport == TRANSPORT_HTTP_POLL || rq.poll;
    s->feed.backfill = s->catchup > 0;  /* its alerts say meta.backfill */
    s->page = rq.page;
    s->page_from = s->feed.st.posts;
    /* a poll's answer is one document, whatever the stream's framing */
    framer_set_mode(&s->feed.fr, s->polling ? FRAMING_DOCUMENT : (enum framing_mode)s->conf->framing);
    s->state = SOURCE_CONNECTING;
    s->last_byte_ms = now_mono_ms();
    s->stream = http_stream_start(s->http, &o, &source_http_cbs, s);
    if (!s->stream) {
        source_request_free(&rq);
        source_schedule(s, BACKOFF_NETWORK, "could not start the HTTP transfer", 0);
        return;
    }
    log_msg(s->polls_ok ? LOG_DEBUG : LOG_INFO, "source %s: %s %s", s->conf->name,
            s->polling ? "polling" : "connecting to", rq.url.data);
    source_request_free(&rq);
    /* Also covers a server that accepts and then sends nothing. */
    timer_in(s, (uint64_t)s->conf->stall_timeout * 1000);
}

/* The life cycle dispatches on the transport only. */
static void source_connect(struct source *s)
{
    switch (s->drv->transport) {
    case TRANSPORT_FILE:
        file_open(s);
        break;
    case TRANSPORT_WEBSOCKET:
        ws_connect(s);
        break;
    case TRANSPORT_HTTP_STREAM:
    case TRANSPORT_HTTP_POLL:
        http_connect(s);
        break;
    }
}

/* A position saved per source: the type's own (Jetstream), or the newest
 * post id where its catch-up asks from it (Mastodon given the instance, X
 * with gap_fill = search; X's backfill alone needs none, and a start does
 * not wait for one). */
static int keeps_position(const struct source_conf *sc)
{
    const struct source_driver *d = sc->driver;

    if (d->flags & DRIVER_POSITION)
        return 1;
    return (d->flags & DRIVER_POSITION_ID) && d->catchup && d->catchup(sc, UINT64_MAX - 1) != CATCHUP_NONE;
}

struct source *source_new(struct event_base *base, struct http_client *http, struct ws_client *ws,
                          const struct position_store *ps, const struct source_conf *sc, struct pipeline *pl)
{
    struct source *s = xcalloc(1, sizeof *s);
    /* a file source's records are in its format */
    const char *format = (sc->format_driver ? sc->format_driver : sc->driver)->name;

    s->conf = source_conf_dup(sc);
    s->drv = sc->driver;
    s->base = base;
    s->http = http;
    s->wsc = ws;
    s->pl = pl;
    buf_init(&s->probe_body, PROBE_MAX);
    if (x_v2_budget(sc)) {
        spend_init(&s->spend, x_v2_budget(sc));
        s->has_spend = 1;
    }
    s->fd = -1;
    s->state = SOURCE_IDLE;
    s->down_since_ms = now_mono_ms();   /* until the first connection */
    backoff_reset(&s->bo);
    ledger_init(&s->led);
    s->next_cause = GAP_RECONNECT;
    s->timer = evtimer_new(base, on_timer, s);
    s->ledger_timer = event_new(base, -1, EV_PERSIST, on_ledger, s);
    if (!s->timer || !s->ledger_timer ||
        feed_init(&s->feed, s->conf->name, s->conf->type_name, format, s->conf, pl) != 0) {
        log_msg(LOG_ERR, "source %s: cannot set up decoder '%s'", sc->name, format);
        if (s->timer)
            event_free(s->timer);
        if (s->ledger_timer)
            event_free(s->ledger_timer);
        source_conf_free(s->conf);
        free(s);
        return NULL;
    }
    {
        struct timeval sec = {1, 0};
        event_add(s->ledger_timer, &sec);
    }
    s->feed_ok = 1;
    s->feed.spend = s->has_spend ? &s->spend : NULL;
    if (s->drv->transport == TRANSPORT_FILE)
        s->fbuf = xmalloc(FILE_SLICE);
    if (keeps_position(sc) && ps) {
        s->ps = ps;
        s->pos = ps->ops->open(ps->ctx, sc->name);
    }
    if (s->drv->transport == TRANSPORT_WEBSOCKET && sc->compress) {
        char err[512];
        if (!(s->zdec = zdec_new(sc->dictionary, (size_t)sc->max_record, err, sizeof err))) {
            log_msg(LOG_ERR, "source %s: %s", sc->name, err);
            s->state = SOURCE_STOPPED;
            source_free(s);
            return NULL;
        }
        log_msg(LOG_INFO, "source %s: zstd dictionary %s (id %u)", sc->name, sc->dictionary,
                zdec_dict_id(s->zdec));
    }
    return s;
}

/* The saved position arrived: resume from it, or start live. */
static void on_position(void *arg, int found, uint64_t pos)
{
    struct source *s = arg;

    if (!s->waiting)
        return;
    s->waiting = 0;
    s->saved = found ? pos : 0;
    if (s->saved) {
        /* a time in microseconds (Jetstream v1) says how long ago; a seq does not */
        int64_t ago = (int64_t)now_real_ms() / 1000 - (int64_t)(pos / 1000000);
        char when[40] = "";
        if (ago >= 0 && ago < 10LL * 365 * 86400)
            snprintf(when, sizeof when, " (%llds ago)", (long long)ago);
        log_msg(LOG_NOTICE, "source %s: resuming from the saved position %llu%s", s->conf->name,
                (unsigned long long)pos, when);
    } else {
        log_msg(LOG_NOTICE, "source %s: no saved position; starting live", s->conf->name);
    }
    evtimer_del(s->timer);
    source_connect(s);
}

void source_start(struct source *s)
{
    if (s->state == SOURCE_STOPPED && s->drv->transport != TRANSPORT_FILE) {
        /* again (a fleet gave it back): the saved position is asked for
         * anew, since another member may have moved it on */
        s->state = SOURCE_IDLE;
        backoff_reset(&s->bo);
        s->down_since_ms = 0;
        s->saved = 0;
    }
    if (s->state != SOURCE_IDLE)
        return;
    if (s->pos && !s->saved) {
        s->waiting = 1;                 /* on_position() or the timer */
        timer_in(s, POSITION_WAIT_MS);
        s->ps->ops->load(s->pos, on_position, s);
        return;
    }
    source_connect(s);
}

uint64_t source_position(const struct source *s)
{
    if (!s->feed_ok)
        return 0;
    return (s->drv->flags & DRIVER_POSITION_ID) ? s->feed.st.max_id : decoder_position(&s->feed.dec);
}

struct spend *source_spend(struct source *s)
{
    return s->has_spend ? &s->spend : NULL;
}

int source_polling(const struct source *s)
{
    return s->poll_mode;
}

void source_stop(struct source *s)
{
    if (!s || s->state == SOURCE_STOPPED)
        return;
    evtimer_del(s->timer);
    if (s->stream) {
        http_stream_cancel(s->stream);
        s->stream = NULL;
        feed_finish(&s->feed, 0);
    }
    ws_conn_cancel(s->ws);
    s->ws = NULL;
    http_stream_cancel(s->probe);
    s->probe = NULL;
    if (s->waiting)
        s->ps->ops->load(s->pos, NULL, NULL);
    s->waiting = 0;
    if (s->fd >= 0) {
        close(s->fd);
        s->fd = -1;
    }
    if (s->state != SOURCE_DONE)
        log_msg(LOG_INFO, "source %s: stopped", s->conf->name);
    s->state = SOURCE_STOPPED;
}

void source_free(struct source *s)
{
    if (!s)
        return;
    source_stop(s);
    event_free(s->timer);
    event_free(s->ledger_timer);
    if (s->feed_ok)
        feed_free(&s->feed);
    if (s->pos)
        s->ps->ops->close(s->pos);
    source_conf_free(s->conf);
    zdec_free(s->zdec);
    free(s->hello);
    free(s->fbuf);
    buf_free(&s->probe_body);
    spend_free(&s->spend);
    queries_free(s);
    free(s);
}

const struct source_conf *source_conf_of(const struct source *s) { return s->conf; }
enum source_state source_state(const struct source *s) { return s->state; }
const struct feed *source_feed(const struct source *s) { return &s->feed; }
const struct source_stats *source_stats(const struct source *s) { return &s->st; }

uint64_t source_down_ms(const struct source *s)
{
    if (s->state == SOURCE_UP || s->state == SOURCE_DONE || s->state == SOURCE_STOPPED || !s->down_since_ms)
        return 0;
    return now_mono_ms() - s->down_since_ms;
}

int source_healthy(const struct source *s)
{
    switch (s->state) {
    case SOURCE_UP:
    case SOURCE_DONE:
        return 1;
    case SOURCE_IDLE:
        return s->waiting;              /* for its saved position, briefly */
    case SOURCE_CONNECTING:
    case SOURCE_BACKOFF:
        return source_down_ms(s) < SOURCE_BACKOFF_BUDGET_MS;
    default:
        return 0;
    }
}
