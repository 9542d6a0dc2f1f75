/* redis_sink: hiredis async on libevent; see redis_sink.h. */
#include "redis_sink.h"
#include "log.h"
#include "util.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>

/* Idempotent enqueue, one step on the server: the alert is pushed only if
 * its seen key was not already set, so a resend after a lost reply, a
 * reconnect or a restart never doubles it.  The seen key holds the queue
 * the alert went to, so a deletion can follow it there.
 *   KEYS: seen key, queue list, author history list ("" for none)
 *   ARGV: alert JSON, alert id, dedup TTL, max queue length, history
 *         length, history TTL, "deleted" for a deletion record, "1" if
 *         this process alerted the deleted post
 * Returns 1 if pushed, 0 if it was a duplicate (or, for a deletion, if
 * the post was never alerted: then nothing is written unless the alert
 * may still be on its way, whose push the "!" mark then stops). */
static const char enqueue_lua[] =
    "if ARGV[7] == 'deleted' then\n"
    "  local q = redis.call('GET', KEYS[1])\n"
    "  if not q then\n"
    "    if ARGV[8] == '1' then redis.call('SET', KEYS[1], '!', 'EX', ARGV[3]) end\n"
    "    return 0\n"
    "  end\n"
    "  if q == '1' or string.sub(q, 1, 1) == '!' then return 0 end\n"
    "  redis.call('RPUSH', q, ARGV[1])\n"
    "  redis.call('SET', KEYS[1], '!' .. q, 'KEEPTTL')\n"
    "  return 1\n"
    "end\n"
    "if not redis.call('SET', KEYS[1], KEYS[2], 'NX', 'EX', ARGV[3]) then return 0 end\n"
    "local n = redis.call('RPUSH', KEYS[2], ARGV[1])\n"
    "local cap = tonumber(ARGV[4])\n"
    "if n > cap then redis.call('LTRIM', KEYS[2], -cap, -1) end\n"
    "if KEYS[3] ~= '' then\n"
    "  redis.call('LPUSH', KEYS[3], ARGV[2])\n"
    "  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)\n"
    "  redis.call('EXPIRE', KEYS[3], ARGV[6])\n"
    "end\n"
    "return 1\n";

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 30000
#define ERROR_PAUSE_MS 1000
#define KEY_MAX 512

const double redis_latency_bounds[REDIS_LATENCY_BUCKETS] = {
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

struct aqueue {
    struct alert *head, *tail;
    uint64_t n;
};

struct redis_sink {
    struct event_base *base;
    /* settings copied from the config: the sink outlives reloads */
    char *unix_path, *host, *password, *prefix;
    int port, db;
    uint64_t buffer_max, inflight_max, connect_timeout_ms, command_timeout_ms;
    long long max_queue_length;
    long long author_history, author_ttl, dedup_ttl;
    char sha[48];                       /* of enqueue_lua, from SCRIPT LOAD */

    redisAsyncContext *ac;
    enum redis_state state;
    int closing;                        /* shutdown: no reconnect */
    int paused;                         /* after an error reply */
    int failure_logged;                 /* since the last time it was up */
    struct aqueue pending[LEVEL_COUNT]; /* not yet sent */
    struct aqueue inflight;             /* sent, awaiting reply, in order */
    struct aqueue retry;                /* refused (error reply), sent again after a pause */
    uint64_t inflight_since_us;         /* send time of the oldest in flight */
    struct event *connect_timer, *reconnect_timer, *deadline_timer, *pause_timer;
    uint64_t reconnect_delay_ms;
    uint64_t seq;                       /* of the last alert pushed */
    struct redis_stats st;
};

static void sink_flush(struct redis_sink *r);
static void sink_connect(struct redis_sink *r);

static void q_push_tail(struct aqueue *q, struct alert *a)
{
    a->next = NULL;
    if (q->tail)
        q->tail->next = a;
    else
        q->head = a;
    q->tail = a;
    q->n++;
}

static void q_push_head(struct aqueue *q, struct alert *a)
{
    a->next = q->head;
    q->head = a;
    if (!q->tail)
        q->tail = a;
    q->n++;
}

static struct alert *q_pop(struct aqueue *q)
{
    struct alert *a = q->head;
    if (!a)
        return NULL;
    q->head = a->next;
    if (!q->head)
        q->tail = NULL;
    q->n--;
    a->next = NULL;
    return a;
}

static void timer_in(struct event *ev, uint64_t ms)
{
    struct timeval tv = ms_to_timeval(ms);
    evtimer_add(ev, &tv);
}

uint64_t redis_sink_pending(const struct redis_sink *r)
{
    uint64_t n = r->inflight.n + r->retry.n;
    for (int l = 0; l < LEVEL_COUNT; l++)
        n += r->pending[l].n;
    return n;
}

/* Alerts of q (unacknowledged, or refused) go back to the front of their
 * levels in their original order, to be sent again. */
static void requeue(struct redis_sink *r, struct aqueue *q)
{
    struct alert *list = NULL, *a;

    while ((a = q_pop(q))) {                    /* reverse... */
        a->next = list;
        list = a;
    }
    while ((a = list)) {                        /* ...then push each to the head */
        list = a->next;
        q_push_head(&r->pending[a->level], a);
        r->st.requeued++;
    }
}

static void set_state(struct redis_sink *r, enum redis_state st, const char *why)
{
    static const char *const names[] = {"down", "connecting", "up"};

    if (r->state == st)
        return;
    if (st == REDIS_UP)
        log_msg(LOG_NOTICE, "redis: up (%s)", why);
    else if (st == REDIS_DOWN)
        log_msg(LOG_WARNING, "redis: down: %s; %llu alerts buffered", why,
                (unsigned long long)redis_sink_pending(r));
    else
        log_msg(LOG_DEBUG, "redis: %s -> %s", names[r->state], names[st]);
    r->state = st;
}

/* The context is gone (failed connect, disconnect, or freed by a deadline):
 * put the unacknowledged back and schedule the next attempt. */
static void sink_lost(struct redis_sink *r, const char *why)
{
    r->ac = NULL;
    evtimer_del(r->connect_timer);
    evtimer_del(r->deadline_timer);
    requeue(r, &r->inflight);
    requeue(r, &r->retry);
    r->paused = 0;
    evtimer_del(r->pause_timer);
    if (r->state == REDIS_UP) {
        set_state(r, REDIS_DOWN, why);
        r->failure_logged = 1;
    } else {
        /* Retries while down: say it once, then only at debug level. */
        log_msg(r->failure_logged ? LOG_DEBUG : LOG_WARNING, "redis: cannot connect to %s: %s; "
                "retrying with backoff, %llu alerts buffered", r->unix_path ? r->unix_path : r->host,
                why, (unsigned long long)redis_sink_pending(r));
        r->failure_logged = 1;
        r->state = REDIS_DOWN;
    }
    if (r->closing)
        return;
    r->reconnect_delay_ms = r->reconnect_delay_ms ? r->reconnect_delay_ms * 2 : RECONNECT_MIN_MS;
    if (r->reconnect_delay_ms > RECONNECT_MAX_MS)
        r->reconnect_delay_ms = RECONNECT_MAX_MS;
    timer_in(r->reconnect_timer, r->reconnect_delay_ms + (uint64_t)random() % (r->reconnect_delay_ms / 5 + 1));
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_sink *r = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context itself after a failed connect. */
        char why[256];
        snprintf(why, sizeof why, "connect failed: %s", ac->errstr);
        sink_lost(r, why);
        return;
    }
    /* The connect deadline stays armed until the handshake completes. */
    r->st.connects++;
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_sink *r = ac->data;
    char why[256];

    if (!r->ac)
        return;                 /* already handled (deadline freed it) */
    snprintf(why, sizeof why, "%s", status == REDIS_OK ? "connection closed" : ac->errstr);
    sink_lost(r, why);
}

/* AUTH, SELECT and SCRIPT LOAD replies: the connection is usable after the
 * script is loaded (privdata marks that last one). */
static void on_handshake(redisAsyncContext *ac, void *reply_, void *privdata)
{
    struct redis_sink *r = ac->data;
    redisReply *reply = reply_;
    int last = privdata != NULL;

    if (!reply)
        return;                 /* connection lost; on_disconnect handles it */
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Never log the password; the server's message does not contain it. */
        log_msg(LOG_ERR, "redis: handshake refused: %s", reply->str);
        redisAsyncDisconnect(ac);
        return;
    }
    if (last) {
        if (reply->type != REDIS_REPLY_STRING || reply->len >= (int)sizeof r->sha) {
            log_msg(LOG_ERR, "redis: SCRIPT LOAD gave no digest");
            redisAsyncDisconnect(ac);
            return;
        }
        memcpy(r->sha, reply->str, (size_t)reply->len);
        r->sha[reply->len] = '\0';
        if (r->state == REDIS_UP) {     /* a reload after NOSCRIPT */
            r->paused = 0;
            requeue(r, &r->retry);
            sink_flush(r);
            return;
        }
        evtimer_del(r->connect_timer);
        r->reconnect_delay_ms = 0;
        r->failure_logged = 0;
        set_state(r, REDIS_UP, r->unix_path ? r->unix_path : r->host);
        sink_flush(r);
    }
}

static void load_script(struct redis_sink *r)
{
    const char *argv[] = {"SCRIPT", "LOAD", enqueue_lua};
    redisAsyncCommandArgv(r->ac, on_handshake, r, 3, argv, NULL);
}

static void on_pushed(redisAsyncContext *ac, void *reply_, void *privdata)
{
    struct redis_sink *r = ac->data;
    redisReply *reply = reply_;
    struct alert *a = privdata, *head;
    uint64_t lat;

    if (!reply)
        return;                 /* stays in inflight; requeued on disconnect */
    head = q_pop(&r->inflight);
    if (head != a)              /* Redis replies in order; anything else is a bug */
        log_msg(LOG_ERR, "redis: reply order mismatch (%s != %s)", head ? head->id : "-", a->id);
    r->inflight_since_us = now_mono_us();
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Kept in order and sent again: after reloading the script if the
         * server lost it (restart, failover), else after a pause. */
        q_push_tail(&r->retry, a);
        r->st.requeued++;
        if (!r->paused) {
            r->paused = 1;
            if (strncmp(reply->str, "NOSCRIPT", 8) == 0) {
                log_msg(LOG_NOTICE, "redis: the enqueue script is gone (restart or failover); loading it again");
                load_script(r);
            } else {
                r->st.errors++;
                log_limited(LOG_WARNING, "redis: enqueue refused for %s: %s; retrying in %dms", a->id,
                            reply->str, ERROR_PAUSE_MS);
                timer_in(r->pause_timer, ERROR_PAUSE_MS);
            }
        }
        return;
    }
    if (a->kind == ALERT_DELETED) {
        if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 1)
            r->st.deletions_pushed++;       /* 0: the post was never alerted */
    } else if (reply->type == REDIS_REPLY_INTEGER && reply->integer == 0) {
        r->st.duplicates++;     /* already in Redis: a resend, or another instance */
    } else {
        r->st.enqueued[a->level]++;
        lat = a->received_us ? now_mono_us() - a->received_us : 0;
        r->st.latency_us_sum += lat;
        {
            int b = 0;
            while (b < REDIS_LATENCY_BUCKETS && (double)lat / 1e6 > redis_latency_bounds[b])
                b++;
            r->st.latency_hist[b]++;
            r->st.latency_count++;
        }
    }
    alert_free(a);
    sink_flush(r);
}

/* Send buffered alerts, most urgent level first, up to the in-flight cap. */
static void sink_flush(struct redis_sink *r)
{
    char key[KEY_MAX];
    struct alert *a;

    if (r->state != REDIS_UP || r->paused || !r->ac)
        return;
    for (int l = 0; l < LEVEL_COUNT; l++) {
        while (r->inflight.n < r->inflight_max && (a = q_pop(&r->pending[l]))) {
            char seen[KEY_MAX], author[KEY_MAX], ttl[24], cap[24], hist[24], hist_ttl[24];
            const char *argv[14];
            size_t lens[14];
            int n = 0, del = a->kind == ALERT_DELETED;

            if (del)
                key[0] = '\0';
            else
                snprintf(key, sizeof key, "%s:q:%s:%s", r->prefix, a->queue, level_names[a->level]);
            snprintf(seen, sizeof seen, "%s:seen:%s", r->prefix, a->id);
            if (a->author_id && !del)
                snprintf(author, sizeof author, "%s:author:%s:%s", r->prefix, a->source, a->author_id);
            else
                author[0] = '\0';
            snprintf(ttl, sizeof ttl, "%lld", r->dedup_ttl);
            snprintf(cap, sizeof cap, "%lld", r->max_queue_length);
            snprintf(hist, sizeof hist, "%lld", r->author_history);
            snprintf(hist_ttl, sizeof hist_ttl, "%lld", r->author_ttl);
#define ARG(s_, l_) (argv[n] = (s_), lens[n++] = (l_))
            ARG("EVALSHA", 7);
            ARG(r->sha, strlen(r->sha));
            ARG("3", 1);
            ARG(seen, strlen(seen));
            ARG(key, strlen(key));
            ARG(author, strlen(author));
            ARG(a->json, a->len);
            ARG(a->id, strlen(a->id));
            ARG(ttl, strlen(ttl));
            ARG(cap, strlen(cap));
            ARG(hist, strlen(hist));
            ARG(hist_ttl, strlen(hist_ttl));
            ARG(del ? "deleted" : "alert", del ? 7 : 5);
            ARG(a->known ? "1" : "0", 1);
#undef ARG
            if (redisAsyncCommandArgv(r->ac, on_pushed, a, n, argv, lens) != REDIS_OK) {
                /* The callback will never run: the alert is still ours. */
                q_push_head(&r->pending[l], a);
                return;
            }
            if (r->inflight.n == 0)
                r->inflight_since_us = now_mono_us();
            q_push_tail(&r->inflight, a);
        }
    }
    if (r->inflight.n)
        timer_in(r->deadline_timer, r->command_timeout_ms);
}

/* Connect deadline and command deadline: free the context from the timer. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct redis_sink *r = arg;
    redisAsyncContext *ac = r->ac;
    uint64_t age_ms;
    char why[128];

    (void)fd;
    (void)what;
    if (!ac)
        return;
    if (r->state == REDIS_UP) {
        if (!r->inflight.n)
            return;
        age_ms = (now_mono_us() - r->inflight_since_us) / 1000;
        if (age_ms < r->command_timeout_ms) {
            timer_in(r->deadline_timer, r->command_timeout_ms - age_ms);
            return;
        }
        snprintf(why, sizeof why, "no reply for %llums", (unsigned long long)age_ms);
    } else {
        snprintf(why, sizeof why, "connect timed out after %llums", (unsigned long long)r->connect_timeout_ms);
    }
    r->st.timeouts++;
    r->ac = NULL;
    redisAsyncFree(ac);         /* pending callbacks run with NULL replies */
    sink_lost(r, why);
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sink_connect(arg);
}

static void on_unpause(evutil_socket_t fd, short what, void *arg)
{
    struct redis_sink *r = arg;
    (void)fd;
    (void)what;
    r->paused = 0;
    requeue(r, &r->retry);
    sink_flush(r);
}

static void sink_connect(struct redis_sink *r)
{
    redisAsyncContext *ac;
    char db[16];

    if (r->ac || r->closing)
        return;
    ac = r->unix_path ? redisAsyncConnectUnix(r->unix_path) : redisAsyncConnect(r->host, r->port);
    if (!ac) {
        sink_lost(r, "out of memory");
        return;
    }
    if (ac->err) {
        char why[256];
        snprintf(why, sizeof why, "connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        sink_lost(r, why);
        return;
    }
    ac->data = r;
    if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
        redisAsyncFree(ac);
        sink_lost(r, "cannot attach to the event loop");
        return;
    }
    if (!r->unix_path)
        redisEnableKeepAlive(&ac->c);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    r->ac = ac;
    set_state(r, REDIS_CONNECTING, "connecting");
    timer_in(r->connect_timer, r->connect_timeout_ms);
    /* Commands queue until the connection is up; the last one says "ready". */
    snprintf(db, sizeof db, "%d", r->db);
    if (r->password) {
        const char *argv[] = {"AUTH", r->password};
        redisAsyncCommandArgv(ac, on_handshake, NULL, 2, argv, NULL);
    }
    {
        const char *argv[] = {"SELECT", db};
        redisAsyncCommandArgv(ac, on_handshake, NULL, 2, argv, NULL);
    }
    load_script(r);
}

struct redis_sink *redis_sink_new(struct event_base *base, const struct config *cfg)
{
    struct redis_sink *r = xcalloc(1, sizeof *r);

    r->base = base;
    r->unix_path = cfg->redis_unix ? xstrdup(cfg->redis_unix) : NULL;
    r->host = cfg->redis_host ? xstrdup(cfg->redis_host) : NULL;
    r->password = cfg->redis_password ? xstrdup(cfg->redis_password) : NULL;
    r->prefix = xstrdup(cfg->key_prefix);
    r->port = cfg->redis_port;
    r->db = cfg->redis_db;
    r->buffer_max = (uint64_t)cfg->buffer_alerts;
    r->inflight_max = (uint64_t)cfg->max_inflight;
    r->connect_timeout_ms = (uint64_t)cfg->redis_connect_timeout;
    r->command_timeout_ms = (uint64_t)cfg->redis_command_timeout;
    r->max_queue_length = cfg->max_queue_length;
    r->author_history = cfg->author_history;
    r->dedup_ttl = cfg->dedup_ttl;
    r->author_ttl = cfg->author_history_ttl;
    r->connect_timer = evtimer_new(base, on_deadline, r);
    r->deadline_timer = evtimer_new(base, on_deadline, r);
    r->reconnect_timer = evtimer_new(base, on_reconnect, r);
    r->pause_timer = evtimer_new(base, on_unpause, r);
    r->state = REDIS_DOWN;
    return r;
}

void redis_sink_start(struct redis_sink *r)
{
    sink_connect(r);
}

/* Remove the unsent alert with id from q; 1 if found. */
static int q_withdraw(struct aqueue *q, const char *id)
{
    struct alert **pp = &q->head, *prev = NULL;

    for (; *pp; prev = *pp, pp = &(*pp)->next) {
        struct alert *a = *pp;
        if (a->kind != ALERT_MENTION || strcmp(a->id, id) != 0)
            continue;
        *pp = a->next;
        if (q->tail == a)
            q->tail = prev;
        q->n--;
        alert_free(a);
        return 1;
    }
    return 0;
}

void redis_sink_push(struct redis_sink *r, struct alert *a)
{
    a->seq = ++r->seq;
    if (a->kind == ALERT_DELETED) {
        int found = q_withdraw(&r->retry, a->id);
        for (int l = 0; l < LEVEL_COUNT && !found; l++)
            found = q_withdraw(&r->pending[l], a->id);
        if (found) {
            r->st.withdrawn++;
            log_msg(LOG_INFO, "redis: alert %s withdrawn: its post was deleted before it was sent", a->id);
            alert_free(a);
            return;
        }
        a->level = LEVEL_LOW;
    }
    if (redis_sink_pending(r) >= r->buffer_max) {
        /* Full: drop the oldest of the least urgent level below a's, or a. */
        struct alert *victim = NULL;
        for (int l = LEVEL_COUNT - 1; l > a->level && !victim; l--)
            victim = q_pop(&r->pending[l]);
        if (!victim)
            victim = a;
        r->st.dropped[victim->level]++;
        log_limited(LOG_WARNING, "redis: buffer full (%llu alerts); dropped a %s alert (%llu %s dropped so far)",
                    (unsigned long long)r->buffer_max, level_names[victim->level],
                    (unsigned long long)r->st.dropped[victim->level], level_names[victim->level]);
        alert_free(victim);
        if (victim == a)
            return;
    }
    q_push_tail(&r->pending[a->level], a);
    sink_flush(r);
}

struct hash_req {
    redis_hash_fn fn;
    void *ctx;
};

static void on_hash(redisAsyncContext *ac, void *reply_, void *privdata)
{
    struct hash_req *req = privdata;
    redisReply *reply = reply_;
    const char **f = NULL, **v = NULL;
    int n = 0, ok = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements % 2 == 0;

    (void)ac;
    if (ok) {
        n = (int)(reply->elements / 2);
        f = xcalloc((size_t)n + 1, sizeof *f);
        v = xcalloc((size_t)n + 1, sizeof *v);
        for (int i = 0; i < n && ok; i++) {
            redisReply *k = reply->element[2 * i], *val = reply->element[2 * i + 1];
            ok = k->type == REDIS_REPLY_STRING && val->type == REDIS_REPLY_STRING;
            f[i] = ok ? k->str : NULL;
            v[i] = ok ? val->str : NULL;
        }
    } else if (reply && reply->type == REDIS_REPLY_ERROR) {
        log_limited(LOG_WARNING, "redis: HGETALL refused: %s", reply->str);
    }
    req->fn(req->ctx, ok, f, v, ok ? n : 0);
    free(f);
    free(v);
    free(req);
}

int redis_sink_hgetall(struct redis_sink *r, const char *key, redis_hash_fn fn, void *ctx)
{
    struct hash_req *req;
    const char *argv[] = {"HGETALL", key};

    if (r->state != REDIS_UP || !r->ac)
        return -1;
    req = xcalloc(1, sizeof *req);
    req->fn = fn;
    req->ctx = ctx;
    if (redisAsyncCommandArgv(r->ac, on_hash, req, 2, argv, NULL) != REDIS_OK) {
        free(req);              /* the callback will never run */
        return -1;
    }
    return 0;
}

int redis_sink_set(struct redis_sink *r, const char *key, const char *val, size_t len, long long ttl_s)
{
    char ttl[24];
    const char *argv[] = {"SET", key, val, "EX", ttl};
    size_t lens[] = {3, strlen(key), len, 2, 0};

    if (r->state != REDIS_UP || !r->ac)
        return -1;
    lens[4] = (size_t)snprintf(ttl, sizeof ttl, "%lld", ttl_s);
    return redisAsyncCommandArgv(r->ac, NULL, NULL, ttl_s > 0 ? 5 : 3, argv, lens) == REDIS_OK ? 0 : -1;
}

struct get_req {
    redis_get_fn fn;
    void *ctx;
};

static void on_get(redisAsyncContext *ac, void *reply_, void *privdata)
{
    struct get_req *req = privdata;
    redisReply *reply = reply_;

    (void)ac;
    if (reply && reply->type == REDIS_REPLY_STRING)
        req->fn(req->ctx, 1, reply->str, reply->len);
    else if (reply && reply->type == REDIS_REPLY_NIL)
        req->fn(req->ctx, 1, NULL, 0);
    else {
        if (reply && reply->type == REDIS_REPLY_ERROR)
            log_limited(LOG_WARNING, "redis: GET refused: %s", reply->str);
        req->fn(req->ctx, 0, NULL, 0);
    }
    free(req);
}

int redis_sink_get(struct redis_sink *r, const char *key, redis_get_fn fn, void *ctx)
{
    struct get_req *req;
    const char *argv[] = {"GET", key};

    if (r->state != REDIS_UP || !r->ac)
        return -1;
    req = xcalloc(1, sizeof *req);
    req->fn = fn;
    req->ctx = ctx;
    if (redisAsyncCommandArgv(r->ac, on_get, req, 2, argv, NULL) != REDIS_OK) {
        free(req);
        return -1;
    }
    return 0;
}

uint64_t redis_sink_seq(const struct redis_sink *r)
{
    return r->seq;
}

static uint64_t q_oldest(const struct aqueue *q, uint64_t min)
{
    for (const struct alert *a = q->head; a; a = a->next)
        if (a->seq < min)
            min = a->seq;
    return min;
}

uint64_t redis_sink_oldest(const struct redis_sink *r)
{
    uint64_t min = q_oldest(&r->retry, q_oldest(&r->inflight, UINT64_MAX));

    for (int l = 0; l < LEVEL_COUNT; l++)
        min = q_oldest(&r->pending[l], min);
    return min;
}

enum redis_state redis_sink_state(const struct redis_sink *r) { return r->state; }
const struct redis_stats *redis_sink_stats(const struct redis_sink *r) { return &r->st; }

void redis_sink_close(struct redis_sink *r)
{
    r->closing = 1;
    evtimer_del(r->reconnect_timer);
    if (r->ac)
        redisAsyncDisconnect(r->ac);    /* after the pending replies */
}

void redis_sink_free(struct redis_sink *r)
{
    struct alert *a;

    if (!r)
        return;
    r->closing = 1;
    if (r->ac) {
        redisAsyncContext *ac = r->ac;
        r->ac = NULL;
        redisAsyncFree(ac);
    }
    requeue(r, &r->inflight);
    requeue(r, &r->retry);
    for (int l = 0; l < LEVEL_COUNT; l++)
        while ((a = q_pop(&r->pending[l])))
            alert_free(a);
    event_free(r->connect_timer);
    event_free(r->deadline_timer);
    event_free(r->reconnect_timer);
    event_free(r->pause_timer);
    free(r->unix_path);
    free(r->host);
    if (r->password) {
        explicit_bzero(r->password, strlen(r->password));
        free(r->password);
    }
    free(r->prefix);
    free(r);
}
