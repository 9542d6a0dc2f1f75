/* store: positions, the rules hash and the status records, in Redis over
 * redis_conn; see store.h. */
#include "store.h"
#include "log.h"
#include "position.h"
#include "redis_conn.h"
#include "redis_sink.h"
#include "util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define POSITION_TICK_MS 250
#define POSITION_TTL_S (7 * 86400)      /* longer than Jetstream's 36 h window */

/* One source's position.  A snapshot (sink sequence number, position) is
 * saved once the sink has settled every alert up to that number. */
struct position {
    struct store *st;
    uint64_t id;                        /* a GET's reply finds its handle by it */
    char *source;
    position_done_fn done;              /* a load is wanted */
    void *arg;
    int requested;                      /* its GET is in flight */
    uint64_t reached, saved;
    int snap_pending;
    uint64_t snap_seq, snap_pos;
    struct position *next;
};

struct store {
    struct redis_conn *conn;
    struct redis_sink *sink;            /* which alerts are settled, for positions */
    char *prefix;
    struct event *tick;
    struct position *positions;
    uint64_t next_id;
    struct position_store ps;
    /* hash reads, one in flight per reader (the rules hash, the baselines) */
    struct hash_read {
        int inflight;
        store_hash_fn done;
        void *ctx;
    } reads[STORE_READERS];
};

struct get_req {
    struct store *st;
    uint64_t id;
};

static void position_key(const struct store *st, const char *source, char *key, size_t len)
{
    snprintf(key, len, "%s:cursor:%s", st->prefix, source);
}

static struct position *position_by_id(struct store *st, uint64_t id)
{
    for (struct position *p = st->positions; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

/* The saved position arrived (or the GET failed: asked again next tick).
 * A handle closed meanwhile is not found, and nothing is called. */
static void on_get(void *ctx, const struct redis_reply *reply)
{
    struct get_req *req = ctx;
    struct position *p = position_by_id(req->st, req->id);
    char num[32];
    unsigned long long v = 0;
    position_done_fn done;
    size_t len = 0;
    const char *val = NULL;

    free(req);
    if (reply && redis_reply_type(reply) == RREPLY_STRING)
        val = redis_reply_str(reply, &len);
    else if (reply && redis_reply_type(reply) != RREPLY_NIL) {
        if (redis_reply_type(reply) == RREPLY_ERROR)
            log_limited(LOG_WARNING, "redis: GET refused: %s", redis_reply_str(reply, NULL));
        reply = NULL;                   /* not read: asked again */
    }
    if (!p)
        return;
    p->requested = 0;
    if (!reply || !p->done)
        return;
    if (val && len < sizeof num) {
        memcpy(num, val, len);
        num[len] = '\0';
        v = strtoull(num, NULL, 10);
    }
    if (val && !v)
        log_msg(LOG_WARNING, "source %s: saved position in Redis is not a number; starting live", p->source);
    p->saved = v;
    done = p->done;
    p->done = NULL;
    done(p->arg, v != 0, v);
}

static void position_save(struct store *st, struct position *p, uint64_t pos)
{
    char key[512], val[32];
    int n;

    if (pos <= p->saved)
        return;
    position_key(st, p->source, key, sizeof key);
    n = snprintf(val, sizeof val, "%llu", (unsigned long long)pos);
    if (store_set(st, key, val, (size_t)n, POSITION_TTL_S) == 0)
        p->saved = pos;
}

/* Fetch positions for sources waiting on them; save each position once
 * every alert from the records before it is settled in Redis. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct store *st = arg;
    uint64_t oldest = 0;
    int have_oldest = 0;

    (void)fd;
    (void)what;
    if (!store_ready(st))
        return;
    for (struct position *p = st->positions; p; p = p->next) {
        if (p->done && !p->requested) {
            struct get_req *req = xmalloc(sizeof *req);
            char key[512];
            req->st = st;
            req->id = p->id;
            const char *argv[] = {"GET", key};
            position_key(st, p->source, key, sizeof key);
            if (redis_conn_command(st->conn, on_get, req, 2, argv, NULL) == 0)
                p->requested = 1;
            else
                free(req);
            continue;
        }
        if (p->snap_pending && !have_oldest) {
            oldest = redis_sink_oldest(st->sink);
            have_oldest = 1;
        }
        if (p->snap_pending && p->snap_seq < oldest) {
            position_save(st, p, p->snap_pos);
            p->snap_pending = 0;
        }
        if (!p->snap_pending && p->reached > p->saved) {
            p->snap_seq = redis_sink_seq(st->sink);
            p->snap_pos = p->reached;
            p->snap_pending = 1;
        }
    }
}

static struct position *ps_open(void *ctx, const char *source)
{
    struct store *st = ctx;
    struct position *p = xcalloc(1, sizeof *p);

    p->st = st;
    p->id = ++st->next_id;
    p->source = xstrdup(source);
    p->next = st->positions;
    st->positions = p;
    return p;
}

static void ps_load(struct position *p, position_done_fn done, void *arg)
{
    p->done = done;
    p->arg = arg;
}

static void ps_reached(struct position *p, uint64_t pos)
{
    if (pos > p->reached)
        p->reached = pos;
}

static void ps_restart(struct position *p, uint64_t pos)
{
    p->reached = pos;
    p->saved = 0;                       /* so the lower one is saved */
    p->snap_pending = 0;                /* of the old series */
}

static void ps_close(struct position *p)
{
    for (struct position **pp = &p->st->positions; *pp; pp = &(*pp)->next)
        if (*pp == p) {
            *pp = p->next;
            break;
        }
    free(p->source);
    free(p);
}

static const struct position_store_ops redis_positions = {
    .open = ps_open,
    .load = ps_load,
    .reached = ps_reached,
    .restart = ps_restart,
    .close = ps_close,
};

struct store *store_new(struct event_base *base, struct redis_conn *conn, struct redis_sink *sink,
                        const char *key_prefix)
{
    struct store *st = xcalloc(1, sizeof *st);
    struct timeval tv = ms_to_timeval(POSITION_TICK_MS);

    st->conn = conn;
    st->sink = sink;
    st->prefix = xstrdup(key_prefix);
    st->ps.ops = &redis_positions;
    st->ps.ctx = st;
    st->tick = event_new(base, -1, EV_PERSIST, on_tick, st);
    if (!st->tick) {
        store_free(st);
        return NULL;
    }
    evtimer_add(st->tick, &tv);
    return st;
}

const struct position_store *store_positions(struct store *st)
{
    return &st->ps;
}

void store_positions_final(struct store *st)
{
    for (struct position *p = st->positions; p; p = p->next)
        position_save(st, p, p->reached);
}

/* HGETALL's reply: pairs of strings. */
static void on_hash(void *ctx, const struct redis_reply *reply)
{
    struct hash_read *rd = ctx;
    const char **f = NULL, **v = NULL;
    int n = 0, ok = reply && redis_reply_type(reply) == RREPLY_ARRAY && redis_reply_count(reply) % 2 == 0;

    rd->inflight = 0;
    if (ok) {
        n = (int)(redis_reply_count(reply) / 2);
        f = xcalloc((size_t)n + 1, sizeof *f);
        v = xcalloc((size_t)n + 1, sizeof *v);
        for (int i = 0; i < n && ok; i++) {
            const struct redis_reply *k = redis_reply_at(reply, 2 * (size_t)i);
            const struct redis_reply *val = redis_reply_at(reply, 2 * (size_t)i + 1);
            ok = redis_reply_type(k) == RREPLY_STRING && redis_reply_type(val) == RREPLY_STRING;
            f[i] = ok ? redis_reply_str(k, NULL) : NULL;
            v[i] = ok ? redis_reply_str(val, NULL) : NULL;
        }
    } else if (reply && redis_reply_type(reply) == RREPLY_ERROR) {
        log_limited(LOG_WARNING, "redis: HGETALL refused: %s", redis_reply_str(reply, NULL));
    }
    rd->done(rd->ctx, ok, f, v, ok ? n : 0);
    free(f);
    free(v);
}

int store_hash_read(struct store *st, enum store_reader who, const char *key, store_hash_fn done, void *ctx)
{
    const char *argv[] = {"HGETALL", key};
    struct hash_read *rd = &st->reads[who];

    if (rd->inflight)
        return -1;
    rd->done = done;
    rd->ctx = ctx;
    if (redis_conn_command(st->conn, on_hash, rd, 2, argv, NULL) != 0)
        return -1;
    rd->inflight = 1;
    return 0;
}

int store_ready(const struct store *st)
{
    return redis_conn_ready(st->conn);
}

int store_set(struct store *st, const char *key, const char *val, size_t len, long long ttl_s)
{
    char ttl[24];
    const char *argv[] = {"SET", key, val, "EX", ttl};
    size_t lens[] = {3, strlen(key), len, 2, 0};

    lens[4] = (size_t)snprintf(ttl, sizeof ttl, "%lld", ttl_s);
    return redis_conn_command(st->conn, NULL, NULL, ttl_s > 0 ? 5 : 3, argv, lens);
}

/* The hash writes are Lua scripts, not MULTI...EXEC: one command, with
 * its key declared, is atomic on one server and routed by its key in a
 * cluster (a transaction's commands could not be). */
static const char hash_replace_lua[] =
    "redis.call('DEL', KEYS[1])\n"
    "for i = 2, #ARGV, 2 do redis.call('HSET', KEYS[1], ARGV[i], ARGV[i + 1]) end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[1])\n";
static const char hash_add_lua[] =
    "for i = 2, #ARGV, 2 do redis.call('HINCRBY', KEYS[1], ARGV[i], ARGV[i + 1]) end\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[1])\n";

static void on_script(void *privdata, const struct redis_reply *reply)
{
    const char *what = privdata;

    if (reply && redis_reply_type(reply) == RREPLY_ERROR)
        log_limited(LOG_WARNING, "redis: %s refused: %s", what, redis_reply_str(reply, NULL));
}

/* EVAL script 1 key ttl field value...; vals or incr (as numbers). */
static int hash_script(struct store *st, const char *script, const char *what, const char *key,
                       const char *const *fields, const char *const *vals, const long long *incr, int n,
                       long long ttl_s)
{
    int argc = 5 + 2 * n, rc;
    const char **argv;
    char ttl[24], (*nums)[24] = NULL;

    if (!store_ready(st) || n <= 0)
        return -1;
    argv = xcalloc((size_t)argc, sizeof *argv);
    if (incr)
        nums = xcalloc((size_t)n, sizeof *nums);
    snprintf(ttl, sizeof ttl, "%lld", ttl_s);
    argv[0] = "EVAL";
    argv[1] = script;
    argv[2] = "1";
    argv[3] = key;
    argv[4] = ttl;
    for (int i = 0; i < n; i++) {
        argv[5 + 2 * i] = fields[i];
        if (incr)
            snprintf(nums[i], sizeof nums[i], "%lld", incr[i]);
        argv[6 + 2 * i] = incr ? nums[i] : vals[i];
    }
    rc = redis_conn_command(st->conn, on_script, (void *)what, argc, argv, NULL);
    free(nums);
    free(argv);
    return rc;
}

int store_hash_replace(struct store *st, const char *key, const char *const *fields, const char *const *vals, int n,
                       long long ttl_s)
{
    return hash_script(st, hash_replace_lua, "hash update", key, fields, vals, NULL, n, ttl_s);
}

int store_hash_add(struct store *st, const char *key, const char *const *fields, const long long *incr, int n,
                   long long ttl_s)
{
    return hash_script(st, hash_add_lua, "hash increments", key, fields, NULL, incr, n, ttl_s);
}

void store_free(struct store *st)
{
    if (!st)
        return;
    if (st->positions)
        log_msg(LOG_ERR, "store: freed with positions still open (a bug)");
    if (st->tick)
        event_free(st->tick);
    free(st->prefix);
    free(st);
}
