/* redis_sink: alerts onto Redis, over redis_conn; see redis_sink.h. */
#include "redis_sink.h"
#include "log.h"
#include "redis_conn.h"
#include "spool.h"
#include "strmap.h"
#include "util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Idempotent enqueue, one step on the server: the alert is pushed only if
 * its seen key was not already set, so a resend after a lost reply, a
 * reconnect, a restart or a spool replay never doubles it.  The seen key
 * holds the key the alert went to, so a deletion can follow it there.
 *   KEYS: 1 seen key, 2 destination (this level's list or stream; "" for a
 *         deletion), 3 author history ("" for none), 4-7 the queue's keys
 *         from critical to low (for the cap), 8 the post's fleet mark, 9 the
 *         retweeted post's ("" for none: not in a fleet, not a retweet)
 *   ARGV: 1 alert JSON, 2 alert id, 3 dedup TTL, 4 max queue length,
 *         5 history length, 6 history TTL, 7 "deleted" for a deletion
 *         record, 8 "1" if this process alerted the deleted post,
 *         9 "list" or "stream", 10... consumer groups to create with a
 *         new stream (from 0, so they see its first entry)
 * max_queue_length caps the queue's four keys together: past it the oldest
 * entries of the least urgent non-empty level go first, so a critical alert
 * is trimmed only when nothing less urgent is left.
 * Returns {pushed (1/0), trimmed critical, high, normal, low}.  pushed is 0
 * for a duplicate or, for a deletion, if the post was never alerted: then
 * nothing is written unless the alert may still be on its way, whose push
 * the "!" mark then stops.
 * In a cluster every key of one call must be in one slot: the queue's
 * keys and its seen keys share the queue's hash tag, and a key that is
 * absent is given as the seen key itself instead of "" (has() below).
 * A fleet's marks ("<prefix>:fleet:{<fleet>}:post:<source type>:<post id>",
 * dedup TTL) say which posts some member alerted, whichever source it read
 * them from: the value is the alert's id, or "~<id>" for the original of
 * a retweet that was alerted.  A retweet whose original is marked is
 * folded into it: {2}, nothing written (its share is counted by
 * fleet_shares.c).  A post marked by another alert (another source of the
 * same type, on another member) is a duplicate: {3}. */
static const char enqueue_lua[] =
    "local stream = ARGV[9] == 'stream'\n"
    "local function has(i) return KEYS[i] ~= '' and KEYS[i] ~= KEYS[1] end\n"
    "local function add(key, as_stream)\n"
    "  if as_stream then\n"
    "    if redis.call('EXISTS', key) == 0 then\n"
    "      for i = 10, #ARGV do redis.pcall('XGROUP', 'CREATE', key, ARGV[i], '0', 'MKSTREAM') end\n"
    "    end\n"
    "    redis.call('XADD', key, 'MAXLEN', '~', ARGV[4], '*', 'alert', ARGV[1])\n"
    "  else\n"
    "    redis.call('RPUSH', key, ARGV[1])\n"
    "  end\n"
    "end\n"
    "if ARGV[7] == 'deleted' then\n"
    "  local q = redis.call('GET', KEYS[1])\n"
    "  if not q then\n"
    "    if ARGV[8] == '1' then redis.call('SET', KEYS[1], '!', 'EX', ARGV[3]) end\n"
    "    return {0}\n"
    "  end\n"
    "  if q == '1' or string.sub(q, 1, 1) == '!' then return {0} end\n"
    "  local t = redis.call('TYPE', q)['ok']\n"
    "  if t == 'none' then add(q, stream) else add(q, t == 'stream') end\n"
    "  redis.call('SET', KEYS[1], '!' .. q, 'KEEPTTL')\n"
    "  return {1}\n"
    "end\n"
    "if has(9) then\n"
    "  local o = redis.call('GET', KEYS[9])\n"
    "  if o and o ~= '~' .. ARGV[2] then return {2} end\n"
    "end\n"
    "if has(8) then\n"
    "  local m = redis.call('GET', KEYS[8])\n"
    "  if m and m ~= ARGV[2] and string.sub(m, 1, 1) ~= '~' then return {3} end\n"
    "end\n"
    "if not redis.call('SET', KEYS[1], KEYS[2], 'NX', 'EX', ARGV[3]) then return {0} end\n"
    "add(KEYS[2], stream)\n"
    "if has(8) then redis.call('SET', KEYS[8], ARGV[2], 'EX', ARGV[3]) end\n"
    "if has(9) then redis.call('SET', KEYS[9], '~' .. ARGV[2], 'NX', 'EX', ARGV[3]) end\n"
    "local out, lens, total = {1, 0, 0, 0, 0}, {}, 0\n"
    "for i = 4, 7 do\n"
    "  lens[i] = redis.call(stream and 'XLEN' or 'LLEN', KEYS[i])\n"
    "  total = total + lens[i]\n"
    "end\n"
    "local excess = total - tonumber(ARGV[4])\n"
    "for i = 7, 4, -1 do\n"
    "  local k = math.min(excess, lens[i])\n"
    "  if k > 0 then\n"
    "    if stream then redis.call('XTRIM', KEYS[i], 'MAXLEN', lens[i] - k)\n"
    "    else redis.call('LTRIM', KEYS[i], k, -1) end\n"
    "    out[i - 2] = k\n"
    "    excess = excess - k\n"
    "  end\n"
    "end\n"
    "if has(3) then\n"
    "  redis.call('LPUSH', KEYS[3], ARGV[2])\n"
    "  redis.call('LTRIM', KEYS[3], 0, tonumber(ARGV[5]) - 1)\n"
    "  redis.call('EXPIRE', KEYS[3], ARGV[6])\n"
    "end\n"
    "return out\n";

#define ERROR_PAUSE_MS 1000
#define KEY_MAX 512

const double redis_latency_bounds[REDIS_LATENCY_BUCKETS] = {
    /* fine below the 2 ms target, so its quantiles can be read off */
    0.0001, 0.00025, 0.0005, 0.00075, 0.001, 0.0015, 0.002, 0.003, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5,
};

struct aqueue {
    struct alert *head, *tail;
    uint64_t n;
};

struct redis_sink {
    struct strmap qidx;                 /* queue name -> row of qcount */
    char **qnames;
    uint64_t (*qcount)[LEVEL_COUNT];
    int nq;
    struct redis_conn *conn;            /* the daemon's */
    /* settings copied from the config: the sink outlives reloads */
    char *prefix;
    int stream;                         /* mode = stream */
    char **groups;                      /* consumer groups of each stream */
    int ngroups;
    char **queues;                      /* queue names of the rules, for the groups */
    int nqueues;
    int durability;                     /* enum durability */
    struct spool *spool;                /* NULL: no disk tier */
    uint64_t buffer_max, inflight_max;
    long long max_queue_length;
    long long author_history, author_ttl, dedup_ttl;
    char sha[48];                       /* of enqueue_lua, from SCRIPT LOAD */
    char *marks;                        /* "<prefix>:fleet:{<fleet>}:post:"; NULL: not in a fleet */
    int cluster;                        /* keys tagged by queue; author history by a second call */

    enum redis_state state;
    int closing;                        /* shutdown: no reconnect */
    int paused;                         /* after an error reply */
    int failure_logged;                 /* since the last time it was up */
    struct aqueue pending[LEVEL_COUNT]; /* not yet sent */
    struct aqueue inflight;             /* sent, awaiting reply, in sending order */
    struct aqueue lost;                 /* sent, and the connection went before the reply */
    struct aqueue retry;                /* refused (error reply), sent again after a pause */
    struct event *pause_timer, *sync_timer;
    uint64_t seq;                       /* of the last alert pushed */
    struct redis_stats st;
};

static void sink_flush(struct redis_sink *r);
static void send_history(struct redis_sink *r, const struct alert *a);
static void send_marks(struct redis_sink *r, const struct alert *a);
static void create_groups(struct redis_sink *r);

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

/* Unlink a from q; 1 if it was there.  Replies come in sending order on
 * one connection, so a is nearly always the head. */
static int q_remove(struct aqueue *q, struct alert *a)
{
    struct alert **pp = &q->head, *prev = NULL;

    for (; *pp && *pp != a; prev = *pp, pp = &(*pp)->next)
        ;
    if (!*pp)
        return 0;
    *pp = a->next;
    if (q->tail == a)
        q->tail = prev;
    q->n--;
    a->next = NULL;
    return 1;
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

/* a leaves our custody without (more) delivery: acknowledged, a
 * duplicate, withdrawn or dropped.  Its spool record is done with too. */
static void sink_release(struct redis_sink *r, struct alert *a)
{
    spool_settle(r->spool, a);
    alert_free(a);
}

/* A queue's key for a level: <prefix>:q:<queue>:<level> (s: in stream
 * mode); in a cluster <prefix>:{<queue>}:q:<level>, so that one enqueue
 * stays in the queue's slot. */
static void key_for(const struct redis_sink *r, const char *queue, int level, char *out, size_t outlen)
{
    snprintf(out, outlen, r->cluster ? "%s:{%s}:%s:%s" : "%s:%s:%s:%s", r->prefix,
             r->cluster ? queue : r->stream ? "s" : "q", r->cluster ? r->stream ? "s" : "q" : queue,
             level_names[level]);
}

static void timer_in(struct event *ev, uint64_t ms)
{
    struct timeval tv = ms_to_timeval(ms);
    evtimer_add(ev, &tv);
}

uint64_t redis_sink_buffered(const struct redis_sink *r)
{
    uint64_t n = r->inflight.n + r->lost.n + r->retry.n;
    for (int l = 0; l < LEVEL_COUNT; l++)
        n += r->pending[l].n;
    return n;
}

uint64_t redis_sink_pending(const struct redis_sink *r)
{
    uint64_t n = redis_sink_buffered(r);
    for (int l = 0; l < LEVEL_COUNT; l++)
        n += spool_unread(r->spool, l);
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
    if (st == REDIS_UP) {
        r->st.went_up++;
        log_msg(LOG_NOTICE, "redis: up (%s)", why);
    } else if (st == REDIS_DOWN && r->closing && !redis_sink_pending(r)) {
        r->st.went_down++;              /* our own close at shutdown, nothing left: not a fault */
        log_msg(LOG_INFO, "redis: closed (%s)", why);
    } else if (st == REDIS_DOWN) {
        r->st.went_down++;
        log_msg(LOG_WARNING, "redis: down: %s; %llu alerts waiting (%llu in memory)", why,
                (unsigned long long)redis_sink_pending(r), (unsigned long long)redis_sink_buffered(r));
    } else {
        log_msg(LOG_DEBUG, "redis: %s -> %s", names[r->state], names[st]);
    }
    r->state = st;
}

/* The connection is gone (failed connect, disconnect, or freed by a
 * deadline; redis_conn reconnects): the unacknowledged (their callbacks
 * ran with no reply first) go back. */
static void on_lost(void *ctx, const char *why, int timed_out)
{
    struct redis_sink *r = ctx;

    if (timed_out)
        r->st.timeouts++;
    requeue(r, &r->lost);
    requeue(r, &r->retry);
    r->paused = 0;
    evtimer_del(r->pause_timer);
    if (r->state == REDIS_UP) {
        set_state(r, REDIS_DOWN, why);
        r->failure_logged = 1;
    } else {
        /* Retries while down: say it once, then only at debug level. */
        log_msg(r->failure_logged ? LOG_DEBUG : LOG_WARNING, "redis: cannot connect to %s: %s; "
                "retrying with backoff, %llu alerts buffered", redis_conn_address(r->conn),
                why, (unsigned long long)redis_sink_pending(r));
        r->failure_logged = 1;
        r->state = REDIS_DOWN;
    }
}

static void on_connecting(void *ctx)
{
    set_state(ctx, REDIS_CONNECTING, "connecting");
}

static void on_connected(void *ctx)
{
    struct redis_sink *r = ctx;
    r->st.connects++;
}

static void load_script(struct redis_sink *r);

/* The connection is usable for alerts once the enqueue script is loaded. */
static void on_script(void *privdata, const struct redis_reply *reply)
{
    struct redis_sink *r = privdata;
    size_t len;
    const char *sha;

    if (!reply)
        return;                 /* connection lost; on_lost handles it */
    sha = redis_reply_str(reply, &len);
    if (redis_reply_type(reply) == RREPLY_ERROR) {
        log_msg(LOG_ERR, "redis: handshake refused: %s", sha);
        redis_conn_drop(r->conn);
        return;
    }
    if (redis_reply_type(reply) != RREPLY_STRING || len >= sizeof r->sha) {
        log_msg(LOG_ERR, "redis: SCRIPT LOAD gave no digest");
        redis_conn_drop(r->conn);
        return;
    }
    memcpy(r->sha, sha, len);
    r->sha[len] = '\0';
    if (r->state == REDIS_UP) {         /* a reload after NOSCRIPT */
        r->paused = 0;
        requeue(r, &r->retry);
        sink_flush(r);
        return;
    }
    r->failure_logged = 0;
    set_state(r, REDIS_UP, redis_conn_address(r->conn));
    create_groups(r);
    sink_flush(r);
}

static void on_ready(void *ctx)
{
    load_script(ctx);
}

static const struct redis_conn_events sink_events = {
    .connecting = on_connecting,
    .connected = on_connected,
    .ready = on_ready,
    .lost = on_lost,
};

static void on_group(void *privdata, const struct redis_reply *reply)
{
    const char *why = reply ? redis_reply_str(reply, NULL) : "";

    (void)privdata;
    if (reply && redis_reply_type(reply) == RREPLY_ERROR && strncmp(why, "BUSYGROUP", 9) != 0)
        log_limited(LOG_WARNING, "redis: cannot create a consumer group: %s", why);
}

/* mode = stream: every configured group on every level of every queue the
 * rules name, from 0, so workers can start before the first alert. */
static void create_groups(struct redis_sink *r)
{
    char key[KEY_MAX];

    if (!r->stream || !r->ngroups || r->state != REDIS_UP)
        return;
    for (int q = 0; q < r->nqueues; q++)
        for (int l = 0; l < LEVEL_COUNT; l++) {
            key_for(r, r->queues[q], l, key, sizeof key);
            for (int g = 0; g < r->ngroups; g++) {
                const char *argv[] = {"XGROUP", "CREATE", key, r->groups[g], "0", "MKSTREAM"};
                redis_conn_command(r->conn, on_group, NULL, 6, argv, NULL);
            }
        }
}

void redis_sink_set_queues(struct redis_sink *r, const char *const *queues, int n)
{
    for (int i = 0; i < r->nqueues; i++)
        free(r->queues[i]);
    free(r->queues);
    r->queues = xcalloc((size_t)n + 1, sizeof *r->queues);
    for (int i = 0; i < n; i++)
        r->queues[i] = xstrdup(queues[i]);
    r->nqueues = n;
    create_groups(r);
}

static void load_script(struct redis_sink *r)
{
    const char *argv[] = {"SCRIPT", "LOAD", enqueue_lua};
    redis_conn_command(r->conn, on_script, r, 3, argv, NULL);
}

static void count_latency(struct redis_sink *r, const struct alert *a)
{
    uint64_t lat;
    int b = 0;

    if (!a->received_us)
        return;                 /* read back from an earlier run's spool */
    lat = now_mono_us() - a->received_us;
    r->st.latency_us_sum += lat;
    while (b < REDIS_LATENCY_BUCKETS && (double)lat / 1e6 > redis_latency_bounds[b])
        b++;
    r->st.latency_hist[b]++;
    r->st.latency_count++;
}

/* The script's {pushed, trimmed critical..low}. */
static void count_queue(struct redis_sink *r, const struct alert *a)
{
    const char *q = a->queue ? a->queue : "";
    int *row = strmap_get(&r->qidx, q, strlen(q)), i;

    if (row) {
        i = *row;
    } else {
        if (r->nq == REDIS_QUEUE_SERIES + 1)
            i = REDIS_QUEUE_SERIES;     /* the "_other" row */
        else {
            if (r->nq == REDIS_QUEUE_SERIES)
                q = "_other";
            r->qnames = xrealloc(r->qnames, (size_t)(r->nq + 1) * sizeof *r->qnames);
            r->qcount = xrealloc(r->qcount, (size_t)(r->nq + 1) * sizeof *r->qcount);
            memset(r->qcount[r->nq], 0, sizeof r->qcount[r->nq]);
            r->qnames[r->nq] = xstrdup(q);
            if (r->nq < REDIS_QUEUE_SERIES)
                strmap_put(&r->qidx, q, strlen(q), r->nq, NULL);
            i = r->nq++;
        }
    }
    r->qcount[i][a->level]++;
}

int redis_sink_queue_counts(const struct redis_sink *r, char *const **names,
                            const uint64_t (**counts)[LEVEL_COUNT])
{
    *names = r->qnames;
    *counts = (const uint64_t(*)[LEVEL_COUNT])r->qcount;
    return r->nq;
}

static void count_pushed(struct redis_sink *r, const struct alert *a, const struct redis_reply *reply)
{
    long long pushed = redis_reply_integer(redis_reply_at(reply, 0));

    if (a->kind == ALERT_DELETED) {
        if (pushed == 1)
            r->st.deletions_pushed++;       /* 0: the post was never alerted */
        return;
    }
    if (pushed == 0) {
        r->st.duplicates++;     /* already in Redis: a resend, or another instance */
        return;
    }
    if (pushed == 2 || pushed == 3) {   /* the fleet's marks (see enqueue_lua) */
        r->st.fleet_marked[pushed - 2]++;
        log_msg(LOG_DEBUG, "redis: %s not pushed: %s", a->id,
                pushed == 2 ? "a retweet of a post the fleet alerted" : "another member alerted the post");
        return;
    }
    r->st.enqueued[a->level]++;
    if (r->cluster && a->author_id)
        send_history(r, a);
    if (r->cluster && r->marks && a->mark)
        send_marks(r, a);
    count_queue(r, a);
    count_latency(r, a);
    for (size_t i = 1; i < redis_reply_count(reply) && i <= LEVEL_COUNT; i++) {
        long long k = redis_reply_integer(redis_reply_at(reply, i));
        if (k <= 0)
            continue;
        r->st.trimmed[i - 1] += (uint64_t)k;
        log_limited(LOG_WARNING, "redis: queue %s over max_queue_length (%lld): trimmed the %lld oldest %s "
                    "alerts (%llu %s trimmed so far)", a->queue, r->max_queue_length, k, level_names[i - 1],
                    (unsigned long long)r->st.trimmed[i - 1], level_names[i - 1]);
    }
}

static void on_pushed(void *privdata, const struct redis_reply *reply)
{
    struct alert *a = privdata;
    struct redis_sink *r = a->sink;
    const char *why;

    if (!q_remove(&r->inflight, a)) {
        log_msg(LOG_ERR, "redis: an enqueue reply for %s, which is not in flight (a bug)", a->id);
        return;
    }
    if (!reply) {
        q_push_tail(&r->lost, a);       /* requeued when the loss is reported */
        return;
    }
    why = redis_reply_str(reply, NULL);
    if (redis_reply_type(reply) == RREPLY_ERROR) {
        /* Kept in order and sent again: after reloading the script if the
         * server lost it (restart, failover), else after a pause. */
        q_push_tail(&r->retry, a);
        r->st.requeued++;
        if (!r->paused) {
            r->paused = 1;
            if (strncmp(why, "NOSCRIPT", 8) == 0) {
                log_msg(LOG_NOTICE, "redis: the enqueue script is gone (restart or failover); loading it again");
                load_script(r);
            } else {
                r->st.errors++;
                log_limited(LOG_WARNING, "redis: enqueue refused for %s: %s; retrying in %dms", a->id,
                            why, ERROR_PAUSE_MS);
                timer_in(r->pause_timer, ERROR_PAUSE_MS);
            }
        }
        return;
    }
    if (redis_reply_type(reply) == RREPLY_ARRAY && redis_reply_count(reply) >= 1 &&
        redis_reply_type(redis_reply_at(reply, 0)) == RREPLY_INTEGER)
        count_pushed(r, a, reply);
    else
        log_limited(LOG_ERR, "redis: unexpected reply type %d to the enqueue script for %s",
                    (int)redis_reply_type(reply), a->id);
    sink_release(r, a);
    sink_flush(r);
}

static void author_key(const struct redis_sink *r, const struct alert *a, char *out, size_t len)
{
    snprintf(out, len, "%s:author:%s:%s", r->prefix, a->source, a->author_id);
}

/* The author history's part of the enqueue, in a cluster a call of its own
 * (the key lives in another slot than the queue's); after the push, so a
 * lost connection between the two loses one history entry, no alert. */
static const char history_lua[] =
    "redis.call('LPUSH', KEYS[1], ARGV[1])\n"
    "redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n";

static void send_history(struct redis_sink *r, const struct alert *a)
{
    char key[KEY_MAX], hist[24], ttl[24];
    const char *argv[] = {"EVAL", history_lua, "1", key, a->id, hist, ttl};

    author_key(r, a, key, sizeof key);
    snprintf(hist, sizeof hist, "%lld", r->author_history);
    snprintf(ttl, sizeof ttl, "%lld", r->author_ttl);
    redis_conn_command(r->conn, NULL, NULL, 7, argv, NULL);
}

/* In a cluster a fleet's marks live in the fleet's slot, not the queue's:
 * they are set by a call of their own after the push (so the fleet's
 * share counts find them), and not checked before it. */
static const char marks_lua[] =
    "redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])\n"
    "if KEYS[2] ~= KEYS[1] then redis.call('SET', KEYS[2], '~' .. ARGV[1], 'NX', 'EX', ARGV[2]) end\n";

static void mark_key(const struct redis_sink *r, const char *mark, char *out, size_t len);

static void send_marks(struct redis_sink *r, const struct alert *a)
{
    char mark[KEY_MAX], fold[KEY_MAX], ttl[24];
    const char *argv[] = {"EVAL", marks_lua, "2", mark, fold, a->id, ttl};

    mark_key(r, a->mark, mark, sizeof mark);
    mark_key(r, a->fold, fold, sizeof fold);
    if (!mark[0])
        return;
    if (!fold[0])
        str_copy(fold, mark, sizeof fold);
    snprintf(ttl, sizeof ttl, "%lld", r->dedup_ttl);
    redis_conn_command(r->conn, NULL, NULL, 7, argv, NULL);
}

/* A fleet mark's key, or "" (not in a fleet, no mark, or too long). */
static void mark_key(const struct redis_sink *r, const char *mark, char *out, size_t len)
{
    if (!r->marks || !mark || (size_t)snprintf(out, len, "%s%s", r->marks, mark) >= len)
        out[0] = '\0';
}

/* EVALSHA of the enqueue script for a.  0, or -1 if it could not be sent. */
static int send_alert(struct redis_sink *r, struct alert *a)
{
    char keys[LEVEL_COUNT][KEY_MAX], seen[KEY_MAX], author[KEY_MAX], mark[KEY_MAX], fold[KEY_MAX];
    char ttl[24], cap[24], hist[24], hist_ttl[24];
    const char *argv[20 + CONFIG_MAX_GROUPS];
    size_t lens[20 + CONFIG_MAX_GROUPS];
    int n = 0, del = a->kind == ALERT_DELETED;
    static const char absent[] = "";

    if (r->cluster)
        snprintf(seen, sizeof seen, "%s:{%s}:seen:%s", r->prefix, a->queue, a->id);
    else
        snprintf(seen, sizeof seen, "%s:seen:%s", r->prefix, a->id);
    for (int l = 0; l < LEVEL_COUNT; l++) {
        if (del)
            str_copy(keys[l], absent, sizeof keys[l]);
        else
            key_for(r, a->queue, l, keys[l], sizeof keys[l]);
    }
    if (a->author_id && !del && !r->cluster)
        author_key(r, a, author, sizeof author);
    else
        str_copy(author, absent, sizeof author);
    mark_key(r, del || r->cluster ? NULL : a->mark, mark, sizeof mark);
    mark_key(r, del || r->cluster ? NULL : a->fold, fold, sizeof fold);
    if (r->cluster) {                   /* absent keys: the seen key (one slot) */
        for (int l = 0; l < LEVEL_COUNT; l++)
            if (!keys[l][0])
                str_copy(keys[l], seen, sizeof keys[l]);
        if (!author[0])
            str_copy(author, seen, sizeof author);
        if (!mark[0])
            str_copy(mark, seen, sizeof mark);
        if (!fold[0])
            str_copy(fold, seen, sizeof fold);
    }
    snprintf(ttl, sizeof ttl, "%lld", r->dedup_ttl);
    snprintf(cap, sizeof cap, "%lld", r->max_queue_length);
    snprintf(hist, sizeof hist, "%lld", r->author_history);
    snprintf(hist_ttl, sizeof hist_ttl, "%lld", r->author_ttl);
#define ARG(s_, l_) (argv[n] = (s_), lens[n++] = (l_))
#define ARGS(s_) ARG((s_), strlen(s_))
    ARGS("EVALSHA");
    ARGS(r->sha);
    ARGS("9");
    ARGS(seen);
    ARGS(keys[a->level]);               /* "" for a deletion: it follows its alert */
    ARGS(author);
    for (int l = 0; l < LEVEL_COUNT; l++)
        ARGS(keys[l]);
    ARGS(mark);
    ARGS(fold);
    ARG(a->json, a->len);
    ARGS(a->id);
    ARGS(ttl);
    ARGS(cap);
    ARGS(hist);
    ARGS(hist_ttl);
    ARGS(del ? "deleted" : "alert");
    ARGS(a->known ? "1" : "0");
    ARGS(r->stream ? "stream" : "list");
    for (int g = 0; g < r->ngroups; g++)
        ARGS(r->groups[g]);
#undef ARGS
#undef ARG
    a->sink = r;
    return redis_conn_command(r->conn, on_pushed, a, n, argv, lens);
}

/* Send waiting alerts, most urgent level first, up to the in-flight cap.
 * Within a level, memory holds the older ones (an alert goes to disk only
 * behind others of its level), so memory is sent before the spool. */
static void sink_flush(struct redis_sink *r)
{
    struct alert *a;

    if (r->state != REDIS_UP || r->paused || !redis_conn_ready(r->conn))
        return;
    for (int l = 0; l < LEVEL_COUNT; l++) {
        while (r->inflight.n < r->inflight_max &&
               ((a = q_pop(&r->pending[l])) || (a = spool_read(r->spool, l)))) {
            if (send_alert(r, a) != 0) {
                /* The callback will never run: the alert is still ours. */
                q_push_head(&r->pending[l], a);
                return;
            }
            q_push_tail(&r->inflight, a);
        }
    }
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

static void on_sync(evutil_socket_t fd, short what, void *arg)
{
    struct redis_sink *r = arg;
    (void)fd;
    (void)what;
    spool_sync(r->spool);
}

static void add_group(void *ctx, const char *name)
{
    struct redis_sink *r = ctx;
    r->groups = xrealloc(r->groups, sizeof *r->groups * (size_t)(r->ngroups + 1));
    r->groups[r->ngroups++] = xstrdup(name);
}

struct redis_sink *redis_sink_new(struct event_base *base, const struct config *cfg, struct redis_conn *conn,
                                  struct spool *spool)
{
    struct redis_sink *r = xcalloc(1, sizeof *r);

    r->conn = conn;
    redis_conn_set_events(conn, &sink_events, r);
    strmap_init(&r->qidx);
    r->prefix = xstrdup(cfg->key_prefix);
    r->stream = cfg->redis_mode == REDIS_MODE_STREAM;
    config_split_list(cfg->stream_groups, add_group, r);
    r->durability = (int)cfg->durability;
    r->spool = spool;
    r->buffer_max = (uint64_t)cfg->buffer_alerts;
    r->inflight_max = (uint64_t)cfg->max_inflight;
    r->max_queue_length = cfg->max_queue_length;
    r->author_history = cfg->author_history;
    r->dedup_ttl = cfg->dedup_ttl;
    r->author_ttl = cfg->author_history_ttl;
    r->cluster = (int)cfg->redis_cluster;
    if (cfg->fleet[0]) {
        size_t n = strlen(cfg->key_prefix) + strlen(cfg->fleet) + 32;
        r->marks = xmalloc(n);
        snprintf(r->marks, n, "%s:fleet:{%s}:post:", cfg->key_prefix, cfg->fleet);
    }
    r->pause_timer = evtimer_new(base, on_unpause, r);
    if (spool && cfg->spool_fsync == SPOOL_FSYNC_SECOND) {
        struct timeval sec = {1, 0};
        r->sync_timer = event_new(base, -1, EV_PERSIST, on_sync, r);
        event_add(r->sync_timer, &sec);
    }
    r->state = REDIS_DOWN;
    return r;
}

/* Remove the unsent alert with id from q; 1 if found. */
static int q_withdraw(struct redis_sink *r, struct aqueue *q, const char *id)
{
    for (struct alert *a = q->head; a; a = a->next)
        if (a->kind == ALERT_MENTION && strcmp(a->id, id) == 0) {
            q_remove(q, a);
            sink_release(r, a);
            return 1;
        }
    return 0;
}

/* Memory has room for one more of level, and none of that level waits on
 * disk (which would have to go first). */
static int fits_memory(const struct redis_sink *r, int level)
{
    return redis_sink_buffered(r) < r->buffer_max && spool_unread(r->spool, level) == 0;
}

/* Into memory; when it is full, the oldest of the least urgent level below
 * a's is dropped, or a itself. */
static void push_memory(struct redis_sink *r, struct alert *a, int spool_refused)
{
    if (redis_sink_buffered(r) >= r->buffer_max) {
        struct alert *victim = NULL;
        uint64_t *dropped = spool_refused ? r->st.dropped_spool : r->st.dropped;

        for (int l = LEVEL_COUNT - 1; l > a->level && !victim; l--)
            victim = q_pop(&r->pending[l]);
        if (!victim)
            victim = a;
        dropped[victim->level]++;
        log_limited(LOG_WARNING, "redis: buffer full (%llu alerts%s); dropped a %s alert (%llu %s dropped so far)",
                    (unsigned long long)r->buffer_max, spool_refused ? ", spool full" : "",
                    level_names[victim->level], (unsigned long long)dropped[victim->level],
                    level_names[victim->level]);
        sink_release(r, victim);
        if (victim == a)
            return;
    }
    q_push_tail(&r->pending[a->level], a);
}

/* In a cluster an alert's seen key lives in its queue's slot, and a
 * deletion does not know the queue: one deletion record per queue the
 * rules name, each finding (or not) the seen key in its slot. */
static void deletion_to_each_queue(struct redis_sink *r, struct alert *a)
{
    for (int q = 0; q < r->nqueues; q++) {
        struct alert *d = alert_new(a->id, a->source, a->author_id, r->queues[q], a->level, 0, a->json, a->len);
        if (!d) {
            log_limited(LOG_ERR, "redis: no memory for the deletion of %s on queue %s", a->id, r->queues[q]);
            continue;
        }
        d->kind = ALERT_DELETED;
        d->known = a->known;
        d->received_us = a->received_us;
        redis_sink_push(r, d);
    }
    alert_free(a);
}

void redis_sink_push(struct redis_sink *r, struct alert *a)
{
    enum spool_rc rc = SPOOL_OK;

    a->seq = ++r->seq;
    if (a->kind == ALERT_DELETED) {
        /* its text leaves the disk too, sent or not; one never read back is withdrawn */
        int unread = 0, blanked = r->spool ? spool_withdraw(r->spool, a->id, &unread) : 0;
        int found = q_withdraw(r, &r->retry, a->id);
        for (int l = 0; l < LEVEL_COUNT && !found; l++)
            found = q_withdraw(r, &r->pending[l], a->id);
        if (found || unread) {
            r->st.withdrawn++;
            log_msg(LOG_INFO, "redis: alert %s withdrawn: its post was deleted before it was sent%s", a->id,
                    blanked ? " (blanked in the spool)" : "");
            alert_free(a);
            return;
        }
        a->level = LEVEL_LOW;
        if (r->cluster && !a->queue[0]) {
            deletion_to_each_queue(r, a);
            return;
        }
    }
    if (r->spool && (r->durability == DURABILITY_SPOOL || !fits_memory(r, a->level))) {
        /* durability = spool: on disk before anything else; memory: only
         * what does not fit. */
        int keep = fits_memory(r, a->level);
        if ((rc = spool_append(r->spool, a, keep)) == SPOOL_OK) {
            if (!keep) {
                alert_free(a);          /* disk only until read back */
                a = NULL;
            }
        } else if (r->durability == DURABILITY_SPOOL) {
            log_limited(LOG_WARNING, "redis: alert %s could not be spooled (%s); held in memory only", a->id,
                        rc == SPOOL_FULL ? "spool full" : "write error");
        }
    }
    if (a) {
        if (a->spool_seg)
            q_push_tail(&r->pending[a->level], a);      /* kept: fits_memory said so */
        else
            push_memory(r, a, rc == SPOOL_FULL);
    }
    sink_flush(r);
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
    uint64_t min = q_oldest(&r->retry, q_oldest(&r->lost, q_oldest(&r->inflight, UINT64_MAX)));

    for (int l = 0; l < LEVEL_COUNT; l++)
        min = q_oldest(&r->pending[l], min);
    return min;
}

enum redis_state redis_sink_state(const struct redis_sink *r) { return r->state; }
const struct redis_stats *redis_sink_stats(const struct redis_sink *r) { return &r->st; }

int redis_sink_closed(const struct redis_sink *r)
{
    return redis_conn_closed(r->conn);
}

void redis_sink_close(struct redis_sink *r)
{
    r->closing = 1;
    redis_conn_close(r->conn);          /* after the outstanding replies */
}

/* Shutdown: whatever is still in memory and not on disk goes to the spool,
 * to be sent by the next start.  Returns how many could not be written. */
uint64_t redis_sink_spill(struct redis_sink *r, uint64_t *written)
{
    struct aqueue *qs[LEVEL_COUNT + 3];
    uint64_t failed = 0;

    *written = 0;
    qs[0] = &r->inflight;
    qs[1] = &r->lost;
    qs[2] = &r->retry;
    for (int l = 0; l < LEVEL_COUNT; l++)
        qs[3 + l] = &r->pending[l];
    for (size_t i = 0; i < ARRAY_LEN(qs); i++)
        for (struct alert *a = qs[i]->head; a; a = a->next) {
            if (spool_holds(r->spool, a))
                continue;
            if (r->spool && spool_append(r->spool, a, 0) == SPOOL_OK)
                (*written)++;
            else
                failed++;
        }
    if (r->spool)
        spool_sync(r->spool);
    return failed;
}

const struct spool *redis_sink_spool(const struct redis_sink *r) { return r->spool; }

void redis_sink_free(struct redis_sink *r)
{
    struct alert *a;

    if (!r)
        return;
    r->closing = 1;
    requeue(r, &r->inflight);
    requeue(r, &r->lost);
    requeue(r, &r->retry);
    /* Freed, not settled: what was not delivered stays in the spool. */
    for (int l = 0; l < LEVEL_COUNT; l++)
        while ((a = q_pop(&r->pending[l])))
            alert_free(a);
    spool_close(r->spool);
    for (int i = 0; i < r->nq; i++)
        free(r->qnames[i]);
    free(r->qnames);
    free(r->qcount);
    strmap_free(&r->qidx);
    event_free(r->pause_timer);
    if (r->sync_timer)
        event_free(r->sync_timer);
    for (int i = 0; i < r->ngroups; i++)
        free(r->groups[i]);
    free(r->groups);
    for (int i = 0; i < r->nqueues; i++)
        free(r->queues[i]);
    free(r->queues);
    free(r->prefix);
    free(r->marks);
    free(r);
}
