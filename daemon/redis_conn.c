/* redis_conn: hiredis async on libevent, one server or a Redis Cluster;
 * see redis_conn.h. */
#include "redis_conn.h"
#include "cluster.h"
#include "log.h"
#include "util.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 30000
#define LINKS_MAX 64                    /* nodes known at once: primaries, seeds, ASK targets */
#define REDIRECTS_MAX 5                 /* per command; then its caller sees the error */
#define RETRY_MIN_MS 20                 /* TRYAGAIN, CLUSTERDOWN: doubling to... */
#define RETRY_MAX_MS 1000
#define REFRESH_MAX_MS 2000             /* the map read again while the cluster is not whole */
#define HELD_CHECK_MS 50
#define NO_LINK 0xffff

/* A command sent and not yet answered, or held (cluster).  Replies come in
 * order on one connection, so the callbacks wait in a ring per link in
 * sending order and hiredis's privdata is the link itself. */
struct cmd {
    redis_reply_fn fn;
    void *privdata;
    char *buf;                  /* cluster: the command as sent, to send again; NULL otherwise */
    size_t len;
    uint64_t seq;               /* order given (cluster) */
    uint64_t held_ms;           /* when first held; 0: never */
    int slot;                   /* -1: keyless */
    int redirects;
    struct link *ask;           /* after ASK: sent there, behind ASKING */
};

/* One connection to one server. */
struct link {
    struct redis_conn *c;
    char *host, *unix_path;
    int port;
    char address[300];
    redisAsyncContext *ac;
    int ready;
    int primary;                /* cluster: serves slots in the map */
    int seed;                   /* cluster: given in the configuration */
    struct cmd *ring;           /* outstanding commands, oldest at head */
    size_t head, n, cap;
    uint64_t progress_us;       /* last reply, or the first send with none outstanding */
    struct event *connect_timer, *deadline_timer, *reconnect_timer;
    uint64_t reconnect_delay_ms;
};

struct redis_conn {
    struct event_base *base;
    char *username, *password;
    int db;
    uint64_t connect_timeout_ms, command_timeout_ms;
    const struct redis_conn_events *ev;
    void *ctx;
    int closing;                        /* shutdown: no reconnect */
    int cluster;
    struct link *links[LINKS_MAX];      /* one server: links[0] only */
    int nlinks;
    char address[320];
    /* cluster */
    uint16_t slots[CLUSTER_SLOTS];      /* index into links, or NO_LINK */
    int map_read;                       /* a map was read since the start */
    int map_wanted;                     /* read it when a link is ready */
    int reading_map;
    int use_slots;                      /* the servers have no CLUSTER SHARDS */
    int whole;                          /* every primary connected: "ready" was told */
    uint64_t refresh_delay_ms;
    struct event *refresh_timer, *held_timer;
    uint64_t retry_delay_ms, retry_at_ms;
    struct cmd *held;                   /* in the order given */
    size_t nheld, aheld;
    uint64_t seq;
    struct redis_cluster_stats cst;
};

/* ---- replies ---- */

static const redisReply *rr(const struct redis_reply *r)
{
    return (const redisReply *)r;
}

enum redis_reply_type redis_reply_type(const struct redis_reply *r)
{
    switch (rr(r)->type) {
    case REDIS_REPLY_NIL:
        return RREPLY_NIL;
    case REDIS_REPLY_INTEGER:
        return RREPLY_INTEGER;
    case REDIS_REPLY_STRING:
        return RREPLY_STRING;
    case REDIS_REPLY_STATUS:
        return RREPLY_STATUS;
    case REDIS_REPLY_ERROR:
        return RREPLY_ERROR;
    case REDIS_REPLY_ARRAY:
        return RREPLY_ARRAY;
    default:
        return RREPLY_OTHER;
    }
}

long long redis_reply_integer(const struct redis_reply *r)
{
    return rr(r)->type == REDIS_REPLY_INTEGER ? rr(r)->integer : 0;
}

const char *redis_reply_str(const struct redis_reply *r, size_t *len)
{
    int t = rr(r)->type;

    if (t != REDIS_REPLY_STRING && t != REDIS_REPLY_STATUS && t != REDIS_REPLY_ERROR) {
        if (len)
            *len = 0;
        return "";
    }
    if (len)
        *len = (size_t)rr(r)->len;
    return rr(r)->str;
}

size_t redis_reply_count(const struct redis_reply *r)
{
    return rr(r)->type == REDIS_REPLY_ARRAY ? rr(r)->elements : 0;
}

const struct redis_reply *redis_reply_at(const struct redis_reply *r, size_t i)
{
    return (const struct redis_reply *)rr(r)->element[i];
}

/* ---- commands ---- */

static void timer_in(struct event *ev, uint64_t ms)
{
    struct timeval tv = ms_to_timeval(ms);
    evtimer_add(ev, &tv);
}

static void ring_push(struct link *l, const struct cmd *cmd)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 64;
        struct cmd *ring = xcalloc(cap, sizeof *ring);
        for (size_t i = 0; i < l->n; i++)
            ring[i] = l->ring[(l->head + i) % l->cap];
        free(l->ring);
        l->ring = ring;
        l->head = 0;
        l->cap = cap;
    }
    l->ring[(l->head + l->n++) % l->cap] = *cmd;
}

/* The command's end: its callback, once, and its copy freed. */
static void cmd_done(struct cmd *cmd, const redisReply *reply)
{
    if (cmd->fn)
        cmd->fn(cmd->privdata, (const struct redis_reply *)reply);
    if (cmd->buf)
        redisFreeCommand(cmd->buf);
    cmd->buf = NULL;
}

static int held_redirect(struct redis_conn *c, struct link *l, struct cmd *cmd, const char *err);
static void try_release(struct redis_conn *c);

/* Every reply (and every NULL when the context goes) lands here first. */
static void on_reply(redisAsyncContext *ac, void *reply_, void *privdata)
{
    struct link *l = privdata;
    struct redis_conn *c = l->c;
    const redisReply *reply = reply_;
    struct cmd cmd;

    (void)ac;
    if (!l->n) {
        log_msg(LOG_ERR, "redis: a reply from %s with no command waiting (a bug)", l->address);
        return;
    }
    cmd = l->ring[l->head];
    l->head = (l->head + 1) % l->cap;
    l->n--;
    l->progress_us = now_mono_us();
    if (c->cluster && reply && reply->type == REDIS_REPLY_ERROR && cmd.buf &&
        held_redirect(c, l, &cmd, reply->str)) {
        try_release(c);
        return;
    }
    if (c->cluster && reply && reply->type != REDIS_REPLY_ERROR)
        c->retry_delay_ms = 0;
    cmd_done(&cmd, reply);
    if (c->cluster && c->nheld && !l->n)
        try_release(c);
}

static void arm_deadline(struct link *l)
{
    /* armed once: on expiry it measures the time since the last progress
     * and re-arms for the rest, so sending more never pushes it away */
    if (!evtimer_pending(l->deadline_timer, NULL))
        timer_in(l->deadline_timer, l->c->command_timeout_ms);
}

/* Sends cmd (its buf) on l; 0, or -1 (nothing taken: cmd is the caller's). */
static int link_send(struct link *l, const struct cmd *cmd)
{
    if (!l->ac || !l->ready || redisAsyncFormattedCommand(l->ac, on_reply, l, cmd->buf, cmd->len) != REDIS_OK)
        return -1;
    if (!l->n)
        l->progress_us = now_mono_us();
    ring_push(l, cmd);
    arm_deadline(l);
    return 0;
}

/* A command of our own (the map, ASKING) formatted and sent on l. */
static int link_send_argv(struct link *l, redis_reply_fn fn, void *privdata, int argc, const char **argv)
{
    struct cmd cmd = {.fn = fn, .privdata = privdata, .slot = -1};
    int len = redisFormatCommandArgv(&cmd.buf, argc, argv, NULL);

    if (len < 0)
        return -1;
    cmd.len = (size_t)len;
    if (link_send(l, &cmd) != 0) {
        redisFreeCommand(cmd.buf);
        return -1;
    }
    return 0;
}

/* ---- the cluster: holding, redirects, the map ---- */

static int link_index(const struct redis_conn *c, const struct link *l)
{
    for (int i = 0; i < c->nlinks; i++)
        if (c->links[i] == l)
            return i;
    return -1;
}

static struct link *link_new(struct redis_conn *c, const char *unix_path, const char *host, int port);
static void link_connect(struct link *l);

/* The link to host:port, or NULL. */
static struct link *link_find(const struct redis_conn *c, const char *host, int port)
{
    for (int i = 0; i < c->nlinks; i++)
        if (c->links[i]->port == port && c->links[i]->host && strcmp(c->links[i]->host, host) == 0)
            return c->links[i];
    return NULL;
}

/* The link to host:port, made (and connecting) if new; NULL past LINKS_MAX. */
static struct link *link_for(struct redis_conn *c, const char *host, int port)
{
    struct link *l = link_find(c, host, port);

    if (l)
        return l;
    if (!(l = link_new(c, NULL, host, port))) {
        log_limited(LOG_ERR, "redis: cluster node %s:%d: more than %d nodes known; not used", host, port,
                    LINKS_MAX);
        return NULL;
    }
    link_connect(l);
    return l;
}

static struct link *any_primary(const struct redis_conn *c)
{
    for (int i = 0; i < c->nlinks; i++)
        if (c->links[i]->primary && c->links[i]->ready)
            return c->links[i];
    return NULL;
}

/* Where cmd goes now: its ASK target, its slot's primary, or any primary. */
static struct link *target_of(const struct redis_conn *c, const struct cmd *cmd)
{
    if (cmd->ask)
        return cmd->ask;
    if (cmd->slot < 0)
        return any_primary(c);
    return c->slots[cmd->slot] == NO_LINK ? NULL : c->links[c->slots[cmd->slot]];
}

static void schedule_refresh(struct redis_conn *c, uint64_t ms)
{
    if (!c->closing && !evtimer_pending(c->refresh_timer, NULL))
        timer_in(c->refresh_timer, ms);
}

/* Into the held list, in the order the commands were given. */
static void hold(struct redis_conn *c, const struct cmd *cmd)
{
    size_t i;

    if (c->nheld == c->aheld) {
        c->aheld = c->aheld ? 2 * c->aheld : 64;
        c->held = xrealloc(c->held, c->aheld * sizeof *c->held);
    }
    for (i = c->nheld; i > 0 && c->held[i - 1].seq > cmd->seq; i--)
        ;
    memmove(&c->held[i + 1], &c->held[i], (c->nheld - i) * sizeof *c->held);
    c->held[i] = *cmd;
    if (!c->held[i].held_ms)
        c->held[i].held_ms = now_mono_ms();
    c->nheld++;
    if (!evtimer_pending(c->held_timer, NULL))
        timer_in(c->held_timer, HELD_CHECK_MS);
}

/* An error reply that asks for a redirect or a retry: cmd is held (1), or
 * it is an answer for the caller (0). */
static int held_redirect(struct redis_conn *c, struct link *l, struct cmd *cmd, const char *err)
{
    struct cluster_target t;
    enum cluster_redirect kind = cluster_parse_error(err, &t);
    struct link *to = NULL;

    if (kind == CLUSTER_NONE || cmd->redirects >= REDIRECTS_MAX)
        return 0;
    if ((kind == CLUSTER_MOVED || kind == CLUSTER_ASK) && !(to = link_for(c, t.host[0] ? t.host : l->host, t.port)))
        return 0;
    cmd->redirects++;
    switch (kind) {
    case CLUSTER_MOVED:
        c->cst.moved++;
        c->slots[t.slot] = (uint16_t)link_index(c, to);
        to->primary = 1;
        cmd->ask = NULL;
        log_limited(LOG_INFO, "redis: slot %d moved to %s; reading the cluster's map again", t.slot, to->address);
        schedule_refresh(c, 0);
        break;
    case CLUSTER_ASK:
        c->cst.ask++;
        cmd->ask = to;
        break;
    default:
        if (kind == CLUSTER_TRYAGAIN)
            c->cst.tryagain++;
        else
            c->cst.clusterdown++;
        c->retry_delay_ms = c->retry_delay_ms ? c->retry_delay_ms * 2 : RETRY_MIN_MS;
        if (c->retry_delay_ms > RETRY_MAX_MS)
            c->retry_delay_ms = RETRY_MAX_MS;
        c->retry_at_ms = now_mono_ms() + c->retry_delay_ms;
        log_limited(LOG_INFO, "redis: %s answered %.60s; the command goes again in %llums", l->address, err,
                    (unsigned long long)c->retry_delay_ms);
        if (kind == CLUSTER_DOWN)
            schedule_refresh(c, c->retry_delay_ms);
        break;
    }
    hold(c, cmd);
    return 1;
}

/* Send the held commands, in order, once nothing sent before them is
 * still unanswered and every one has a connected node to go to. */
static void try_release(struct redis_conn *c)
{
    struct cmd *list;
    size_t n;

    if (!c->nheld || c->closing || now_mono_ms() < c->retry_at_ms)
        return;
    for (int i = 0; i < c->nlinks; i++)
        if (c->links[i]->n)
            return;
    for (size_t i = 0; i < c->nheld; i++) {
        struct link *l = target_of(c, &c->held[i]);
        if (!l || !l->ready) {
            if (!l)
                schedule_refresh(c, 0);
            return;
        }
    }
    list = c->held;
    n = c->nheld;
    c->held = NULL;
    c->nheld = c->aheld = 0;
    for (size_t i = 0; i < n; i++) {
        struct link *l = target_of(c, &list[i]);
        const char *asking[] = {"ASKING"};
        if (list[i].ask && link_send_argv(l, NULL, NULL, 1, asking) != 0) {
            cmd_done(&list[i], NULL);
            continue;
        }
        list[i].ask = NULL;
        if (link_send(l, &list[i]) != 0)
            cmd_done(&list[i], NULL);
    }
    free(list);
}

static void lost_whole(struct redis_conn *c, const char *why, int timed_out)
{
    c->whole = 0;
    if (c->ev && c->ev->lost)
        c->ev->lost(c->ctx, why, timed_out);
}

/* Held too long (no node for a slot, redirects that do not settle): every
 * held command fails, in order, and that is a loss. */
static void on_held_timer(evutil_socket_t fd, short what, void *arg)
{
    struct redis_conn *c = arg;
    uint64_t now = now_mono_ms(), oldest = UINT64_MAX;
    char why[160];

    (void)fd;
    (void)what;
    try_release(c);
    for (size_t i = 0; i < c->nheld; i++)
        if (c->held[i].held_ms < oldest)
            oldest = c->held[i].held_ms;
    if (c->nheld && now - oldest >= c->command_timeout_ms) {
        struct cmd *list = c->held;
        size_t n = c->nheld;
        c->held = NULL;
        c->nheld = c->aheld = 0;
        c->cst.held_expired += n;
        for (size_t i = 0; i < n; i++)
            cmd_done(&list[i], NULL);
        free(list);
        snprintf(why, sizeof why, "%zu commands waited %llums for the cluster (no primary for their slots, or "
                 "redirects that did not settle)", n, (unsigned long long)(now - oldest));
        lost_whole(c, why, 1);
        schedule_refresh(c, 0);
    }
    if (c->nheld)
        timer_in(c->held_timer, HELD_CHECK_MS);
}

/* Every primary of the map connected: the cluster is ready. */
static void check_whole(struct redis_conn *c)
{
    int n = 0;

    if (c->whole || !c->map_read || c->closing)
        return;
    for (int i = 0; i < c->nlinks; i++) {
        if (c->links[i]->primary && !c->links[i]->ready)
            return;
        n += c->links[i]->primary;
    }
    if (!n)
        return;
    c->whole = 1;
    c->refresh_delay_ms = 0;
    snprintf(c->address, sizeof c->address, "cluster of %d primaries", n);
    log_msg(LOG_INFO, "redis: %s, every one connected", c->address);
    if (c->ev && c->ev->ready)
        c->ev->ready(c->ctx);
    try_release(c);
}

/* A node of a CLUSTER SHARDS shard: its "ip", "port", "role", "health". */
static const redisReply *field(const redisReply *map, const char *name)
{
    if (map->type != REDIS_REPLY_ARRAY)
        return NULL;
    for (size_t i = 0; i + 1 < map->elements; i += 2)
        if (map->element[i]->type == REDIS_REPLY_STRING && strcmp(map->element[i]->str, name) == 0)
            return map->element[i + 1];
    return NULL;
}

static int str_is(const redisReply *r, const char *s)
{
    return r && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) && strcmp(r->str, s) == 0;
}

/* Slots start..end to host:port in slots[]; -1 if unusable. */
static int map_range(struct redis_conn *c, uint16_t *slots, long long start, long long end, const char *host,
                     long long port)
{
    struct link *l;

    if (start < 0 || end >= CLUSTER_SLOTS || start > end || port < 1 || port > 65535 || !host || !*host)
        return -1;
    if (!(l = link_for(c, host, (int)port)))
        return -1;
    for (long long s = start; s <= end; s++)
        slots[s] = (uint16_t)link_index(c, l);
    return 0;
}

/* CLUSTER SHARDS: [{"slots": [start, end, ...], "nodes": [{"ip", "port",
 * "role", "health", ...}, ...]}, ...] (flat key-value arrays in RESP2). */
static int parse_shards(struct redis_conn *c, const redisReply *r, uint16_t *slots)
{
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *sl = field(r->element[i], "slots"), *nodes = field(r->element[i], "nodes"), *master = NULL;
        if (!sl || !nodes || sl->type != REDIS_REPLY_ARRAY || nodes->type != REDIS_REPLY_ARRAY)
            return -1;
        for (size_t k = 0; k < nodes->elements && !master; k++)
            if (str_is(field(nodes->element[k], "role"), "master") &&
                str_is(field(nodes->element[k], "health"), "online"))
                master = nodes->element[k];
        if (!master)
            continue;                   /* no primary now (a failover): its slots wait */
        for (size_t k = 0; k + 1 < sl->elements; k += 2) {
            const redisReply *ip = field(master, "ip"), *port = field(master, "port");
            if (sl->element[k]->type != REDIS_REPLY_INTEGER || !ip || ip->type != REDIS_REPLY_STRING || !port ||
                port->type != REDIS_REPLY_INTEGER ||
                map_range(c, slots, sl->element[k]->integer, sl->element[k + 1]->integer, ip->str,
                          port->integer) != 0)
                return -1;
        }
    }
    return 0;
}

/* CLUSTER SLOTS: [[start, end, [ip, port, id], replicas...], ...]. */
static int parse_slots(struct redis_conn *c, const redisReply *r, uint16_t *slots)
{
    for (size_t i = 0; i < r->elements; i++) {
        const redisReply *e = r->element[i], *node;
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 || (node = e->element[2])->type != REDIS_REPLY_ARRAY ||
            node->elements < 2 || node->element[0]->type != REDIS_REPLY_STRING ||
            node->element[1]->type != REDIS_REPLY_INTEGER || e->element[0]->type != REDIS_REPLY_INTEGER ||
            e->element[1]->type != REDIS_REPLY_INTEGER ||
            map_range(c, slots, e->element[0]->integer, e->element[1]->integer, node->element[0]->str,
                      node->element[1]->integer) != 0)
            return -1;
    }
    return 0;
}

static void read_map(struct redis_conn *c);

/* The map read: the slots' primaries, each with a link. */
static void on_map(void *privdata, const struct redis_reply *reply_)
{
    struct redis_conn *c = privdata;
    const redisReply *r = (const redisReply *)reply_;
    uint16_t *slots;
    int covered = 0, primaries = 0;

    c->reading_map = 0;
    if (c->closing)
        return;
    if (r && r->type == REDIS_REPLY_ERROR && !c->use_slots) {
        /* before Redis 7 (ERR unknown subcommand), or not allowed (NOPERM) */
        log_msg(LOG_INFO, "redis: CLUSTER SHARDS refused (%s); reading the map with CLUSTER SLOTS", r->str);
        c->use_slots = 1;
        read_map(c);
        return;
    }
    slots = xmalloc(sizeof c->slots);
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        slots[s] = NO_LINK;
    if (!r || r->type != REDIS_REPLY_ARRAY ||
        (c->use_slots ? parse_slots(c, r, slots) : parse_shards(c, r, slots)) != 0) {
        c->cst.map_failures++;
        log_limited(LOG_WARNING, "redis: the cluster's map could not be read (%s); trying again",
                    !r ? "connection lost" : r->type == REDIS_REPLY_ERROR ? r->str : "an answer not understood");
        free(slots);
        c->refresh_delay_ms = c->refresh_delay_ms ? c->refresh_delay_ms * 2 : RECONNECT_MIN_MS;
        if (c->refresh_delay_ms > REFRESH_MAX_MS)
            c->refresh_delay_ms = REFRESH_MAX_MS;
        schedule_refresh(c, c->refresh_delay_ms);
        return;
    }
    memcpy(c->slots, slots, sizeof c->slots);
    free(slots);
    c->cst.map_reads++;
    c->map_read = 1;
    for (int i = 0; i < c->nlinks; i++)
        c->links[i]->primary = 0;
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        if (c->slots[s] != NO_LINK) {
            covered++;
            c->links[c->slots[s]]->primary = 1;
        }
    for (int i = 0; i < c->nlinks; i++) {
        primaries += c->links[i]->primary;
        if (c->links[i]->primary)
            link_connect(c->links[i]);  /* one not connected and not waiting to (known before, or failed at once) */
    }
    c->cst.primaries = primaries;
    if (covered < CLUSTER_SLOTS)
        log_limited(LOG_WARNING, "redis: the cluster's map covers %d of %d slots (a failover?); reading it again",
                    covered, CLUSTER_SLOTS);
    check_whole(c);
    try_release(c);
    if (!c->whole || covered < CLUSTER_SLOTS) {
        /* a primary is away: read the map until a replica takes its place */
        c->refresh_delay_ms = c->refresh_delay_ms ? c->refresh_delay_ms * 2 : RECONNECT_MIN_MS;
        if (c->refresh_delay_ms > REFRESH_MAX_MS)
            c->refresh_delay_ms = REFRESH_MAX_MS;
        schedule_refresh(c, c->refresh_delay_ms);
    }
}

static void read_map(struct redis_conn *c)
{
    struct link *l = any_primary(c);
    const char *shards[] = {"CLUSTER", "SHARDS"}, *slots[] = {"CLUSTER", "SLOTS"};

    if (c->reading_map || c->closing)
        return;
    for (int i = 0; !l && i < c->nlinks; i++)
        if (c->links[i]->ready)
            l = c->links[i];
    c->map_wanted = !l;
    if (l && link_send_argv(l, on_map, c, 2, c->use_slots ? slots : shards) == 0)
        c->reading_map = 1;
}

static void on_refresh_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    read_map(arg);
}

/* ---- links ---- */

static void link_reconnect_later(struct link *l)
{
    l->reconnect_delay_ms = l->reconnect_delay_ms ? l->reconnect_delay_ms * 2 : RECONNECT_MIN_MS;
    if (l->reconnect_delay_ms > RECONNECT_MAX_MS)
        l->reconnect_delay_ms = RECONNECT_MAX_MS;
    timer_in(l->reconnect_timer, l->reconnect_delay_ms + (uint64_t)random() % (l->reconnect_delay_ms / 5 + 1));
}

/* The context is gone (failed connect, disconnect, or freed by a deadline):
 * tell the owner and schedule the next attempt. */
static void link_lost(struct link *l, const char *why, int timed_out)
{
    struct redis_conn *c = l->c;
    int primary = l->primary;

    l->ac = NULL;
    l->ready = 0;
    /* hiredis ran every outstanding callback with NULL as it let the
     * context go; any left would wait forever */
    while (l->n)
        on_reply(NULL, NULL, l);
    evtimer_del(l->connect_timer);
    evtimer_del(l->deadline_timer);
    if (!c->cluster) {
        if (c->ev && c->ev->lost)
            c->ev->lost(c->ctx, why, timed_out);
    } else if (primary || !c->map_read) {
        char msg[400];
        snprintf(msg, sizeof msg, "node %s: %s", l->address, why);
        lost_whole(c, msg, timed_out);
        schedule_refresh(c, c->refresh_delay_ms);
    }
    /* a cluster keeps its primaries, and its seeds until it has a map */
    if (c->closing || (c->cluster && !l->primary && !(l->seed && !c->map_read)))
        return;
    link_reconnect_later(l);
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct link *l = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context itself after a failed connect. */
        char why[256];
        snprintf(why, sizeof why, "connect failed: %s", ac->errstr);
        link_lost(l, why, 0);
        return;
    }
    /* The connect deadline stays armed until the handshake completes. */
    if (l->c->ev && l->c->ev->connected)
        l->c->ev->connected(l->c->ctx);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct link *l = ac->data;
    char why[256];

    if (!l->ac)
        return;                         /* already handled (a deadline freed it) */
    snprintf(why, sizeof why, "%s", status == REDIS_OK ? "connection closed" : ac->errstr);
    link_lost(l, why, 0);
}

/* Handshake done: one server is ready; a cluster reads its map, or is
 * whole once every primary is. */
static void link_ready(struct link *l)
{
    struct redis_conn *c = l->c;

    evtimer_del(l->connect_timer);
    l->reconnect_delay_ms = 0;
    l->ready = 1;
    if (!c->cluster) {
        if (c->ev && c->ev->ready)
            c->ev->ready(c->ctx);
        return;
    }
    if (!c->map_read || c->map_wanted)
        read_map(c);
    check_whole(c);
    try_release(c);
}

/* AUTH and SELECT replies; privdata marks the last one. */
static void on_handshake(redisAsyncContext *ac, void *reply_, void *privdata)
{
    struct link *l = ac->data;
    redisReply *reply = reply_;

    if (!reply)
        return;                         /* connection lost; on_disconnect handles it */
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Never log the password; the server's message does not contain it. */
        log_msg(LOG_ERR, "redis: handshake refused: %s (%s)", reply->str, l->address);
        redisAsyncDisconnect(ac);
        return;
    }
    if (privdata)
        link_ready(l);
}

/* Connect deadline and command deadline: free the context from the timer. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct link *l = arg;
    redisAsyncContext *ac = l->ac;
    uint64_t age_ms;
    char why[128];

    (void)fd;
    (void)what;
    if (!ac)
        return;
    if (l->ready) {
        if (!l->n)
            return;
        age_ms = (now_mono_us() - l->progress_us) / 1000;
        if (age_ms < l->c->command_timeout_ms) {
            timer_in(l->deadline_timer, l->c->command_timeout_ms - age_ms);
            return;
        }
        snprintf(why, sizeof why, "no reply for %llums", (unsigned long long)age_ms);
    } else {
        snprintf(why, sizeof why, "connect timed out after %llums", (unsigned long long)l->c->connect_timeout_ms);
    }
    l->ac = NULL;
    l->ready = 0;
    redisAsyncFree(ac);                 /* outstanding callbacks run with NULL replies */
    link_lost(l, why, 1);
}

static void link_connect(struct link *l)
{
    struct redis_conn *c = l->c;
    redisAsyncContext *ac;
    char db[16];

    if (l->ac || c->closing || evtimer_pending(l->reconnect_timer, NULL))
        return;
    ac = l->unix_path ? redisAsyncConnectUnix(l->unix_path) : redisAsyncConnect(l->host, l->port);
    if (!ac) {
        link_lost(l, "out of memory", 0);
        return;
    }
    if (ac->err) {
        char why[256];
        snprintf(why, sizeof why, "connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        link_lost(l, why, 0);
        return;
    }
    ac->data = l;
    if (redisLibeventAttach(ac, c->base) != REDIS_OK) {
        redisAsyncFree(ac);
        link_lost(l, "cannot attach to the event loop", 0);
        return;
    }
    if (!l->unix_path)
        redisEnableKeepAlive(&ac->c);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->ac = ac;
    /* a cluster that is up stays up while one more node connects */
    if (c->ev && c->ev->connecting && !c->whole)
        c->ev->connecting(c->ctx);
    timer_in(l->connect_timer, c->connect_timeout_ms);
    /* Commands queue until the connection is up; the last one says "ready". */
    snprintf(db, sizeof db, "%d", c->db);
    if (c->password && c->username) {
        const char *argv[] = {"AUTH", c->username, c->password};
        redisAsyncCommandArgv(ac, on_handshake, NULL, 3, argv, NULL);
    } else if (c->password) {
        const char *argv[] = {"AUTH", c->password};
        redisAsyncCommandArgv(ac, on_handshake, NULL, 2, argv, NULL);
    }
    {
        const char *argv[] = {"SELECT", db};
        redisAsyncCommandArgv(ac, on_handshake, l, 2, argv, NULL);
    }
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    link_connect(arg);
}

static struct link *link_new(struct redis_conn *c, const char *unix_path, const char *host, int port)
{
    struct link *l;

    if (c->nlinks == LINKS_MAX)
        return NULL;
    l = xcalloc(1, sizeof *l);
    l->c = c;
    l->unix_path = unix_path ? xstrdup(unix_path) : NULL;
    l->host = host ? xstrdup(host) : NULL;
    l->port = port;
    if (unix_path || !c->cluster)
        snprintf(l->address, sizeof l->address, "%s", unix_path ? unix_path : host ? host : "?");
    else if (strchr(host, ':'))
        snprintf(l->address, sizeof l->address, "[%s]:%d", host, port);
    else
        snprintf(l->address, sizeof l->address, "%s:%d", host, port);
    l->connect_timer = evtimer_new(c->base, on_deadline, l);
    l->deadline_timer = evtimer_new(c->base, on_deadline, l);
    l->reconnect_timer = evtimer_new(c->base, on_reconnect, l);
    c->links[c->nlinks++] = l;
    return l;
}

static void link_free(struct link *l)
{
    if (l->ac) {
        redisAsyncContext *ac = l->ac;
        l->ac = NULL;
        redisAsyncFree(ac);             /* outstanding callbacks run with NULL */
    }
    event_free(l->connect_timer);
    event_free(l->deadline_timer);
    event_free(l->reconnect_timer);
    free(l->ring);
    free(l->unix_path);
    free(l->host);
    free(l);
}

/* ---- the interface ---- */

/* SCRIPT LOAD and the like: every primary, in link order; the callback
 * goes with the last one, so it runs after each primary took the command
 * (replies come in order per link, and commands sent after it on a link
 * run after it there).  0, or -1 when the last could not be sent. */
static int command_every_primary(struct redis_conn *c, redis_reply_fn fn, void *privdata, int argc,
                                 const char **argv, const size_t *lens)
{
    int last = -1, rc = -1;

    for (int i = 0; i < c->nlinks; i++)
        if (c->links[i]->primary)
            last = i;
    for (int i = 0; i <= last; i++) {
        struct cmd cmd = {.fn = i == last ? fn : NULL, .privdata = privdata, .slot = -1};
        int len;
        if (!c->links[i]->primary || (len = redisFormatCommandArgv(&cmd.buf, argc, argv, lens)) < 0)
            continue;
        cmd.len = (size_t)len;
        if (link_send(c->links[i], &cmd) != 0)
            redisFreeCommand(cmd.buf);
        else if (i == last)
            rc = 0;
    }
    return rc;
}

static int command_cluster(struct redis_conn *c, redis_reply_fn fn, void *privdata, int argc, const char **argv,
                           const size_t *lens)
{
    int k = cluster_command_key(argc, argv), len;
    struct cmd cmd = {.fn = fn, .privdata = privdata, .slot = -1};
    struct link *l;

    if (!c->whole || c->closing)
        return -1;
    if (k == CLUSTER_EVERY_NODE)
        return command_every_primary(c, fn, privdata, argc, argv, lens);
    if (k >= 0)
        cmd.slot = cluster_slot(argv[k], lens ? lens[k] : strlen(argv[k]));
    if ((len = redisFormatCommandArgv(&cmd.buf, argc, argv, lens)) < 0)
        return -1;
    cmd.len = (size_t)len;
    cmd.seq = ++c->seq;
    if (c->nheld || !(l = target_of(c, &cmd)) || !l->ready) {
        hold(c, &cmd);                  /* behind a redirect, or no node for the slot yet */
        if (c->nheld == 1)
            schedule_refresh(c, 0);
        return 0;
    }
    if (link_send(l, &cmd) != 0) {
        redisFreeCommand(cmd.buf);
        return -1;                      /* the callback will never run */
    }
    return 0;
}

int redis_conn_command(struct redis_conn *c, redis_reply_fn fn, void *privdata, int argc, const char **argv,
                       const size_t *lens)
{
    struct link *l = c->links[0];
    struct cmd cmd = {.fn = fn, .privdata = privdata, .slot = -1};

    if (c->cluster)
        return command_cluster(c, fn, privdata, argc, argv, lens);
    if (!l->ac || !l->ready)
        return -1;
    if (redisAsyncCommandArgv(l->ac, on_reply, l, argc, argv, lens) != REDIS_OK)
        return -1;                      /* the callback will never run */
    if (!l->n)
        l->progress_us = now_mono_us();
    ring_push(l, &cmd);
    arm_deadline(l);
    return 0;
}

struct redis_conn *redis_conn_new(struct event_base *base, const struct redis_conn_opts *o)
{
    struct redis_conn *c = xcalloc(1, sizeof *c);
    struct link *l;

    c->base = base;
    c->cluster = o->cluster && !o->unix_path;
    c->username = o->username && *o->username ? xstrdup(o->username) : NULL;
    c->password = o->password ? xstrdup(o->password) : NULL;
    c->db = o->db;
    c->connect_timeout_ms = o->connect_timeout_ms;
    c->command_timeout_ms = o->command_timeout_ms;
    for (int s = 0; s < CLUSTER_SLOTS; s++)
        c->slots[s] = NO_LINK;
    c->refresh_timer = evtimer_new(base, on_refresh_timer, c);
    c->held_timer = evtimer_new(base, on_held_timer, c);
    l = link_new(c, o->unix_path, o->host, o->port);
    l->seed = 1;
    snprintf(c->address, sizeof c->address, c->cluster ? "cluster via %s" : "%s", l->address);
    return c;
}

void redis_conn_add_seed(struct redis_conn *c, const char *host, int port)
{
    struct link *l;

    if (!c->cluster || link_find(c, host, port))
        return;
    if ((l = link_new(c, NULL, host, port)))
        l->seed = 1;
}

void redis_conn_set_events(struct redis_conn *c, const struct redis_conn_events *ev, void *ctx)
{
    c->ev = ev;
    c->ctx = ctx;
}

void redis_conn_start(struct redis_conn *c)
{
    for (int i = 0; i < c->nlinks; i++)
        link_connect(c->links[i]);
}

int redis_conn_ready(const struct redis_conn *c)
{
    return c->cluster ? c->whole : c->links[0]->ac && c->links[0]->ready;
}

const char *redis_conn_address(const struct redis_conn *c)
{
    return c->cluster ? c->address : c->links[0]->address;
}

const struct redis_cluster_stats *redis_conn_cluster_stats(const struct redis_conn *c)
{
    return c && c->cluster ? &c->cst : NULL;
}

void redis_conn_each_node(const struct redis_conn *c, void (*fn)(void *ctx, const char *address, int primary, int up),
                          void *ctx)
{
    for (int i = 0; c && c->cluster && i < c->nlinks; i++)
        if (c->links[i]->primary || c->links[i]->seed)
            fn(ctx, c->links[i]->address, c->links[i]->primary, c->links[i]->ready);
}

void redis_conn_drop(struct redis_conn *c)
{
    for (int i = 0; i < c->nlinks; i++)
        if (c->links[i]->ac && (!c->cluster || c->links[i]->primary))
            redisAsyncDisconnect(c->links[i]->ac);
}

void redis_conn_close(struct redis_conn *c)
{
    c->closing = 1;
    evtimer_del(c->refresh_timer);
    for (int i = 0; i < c->nlinks; i++) {
        evtimer_del(c->links[i]->reconnect_timer);
        if (c->links[i]->ac)
            redisAsyncDisconnect(c->links[i]->ac);  /* after the outstanding replies */
    }
    /* held commands will not be sent now */
    while (c->nheld) {
        struct cmd cmd = c->held[0];
        memmove(&c->held[0], &c->held[1], --c->nheld * sizeof *c->held);
        cmd_done(&cmd, NULL);
    }
}

int redis_conn_closed(const struct redis_conn *c)
{
    if (!c->closing)
        return 0;
    for (int i = 0; i < c->nlinks; i++)
        if (c->links[i]->ac)
            return 0;
    return 1;
}

void redis_conn_free(struct redis_conn *c)
{
    if (!c)
        return;
    c->closing = 1;
    c->ev = NULL;                       /* freeing is not a loss to report */
    for (int i = 0; i < c->nlinks; i++)
        link_free(c->links[i]);
    for (size_t i = 0; i < c->nheld; i++)
        cmd_done(&c->held[i], NULL);
    free(c->held);
    event_free(c->refresh_timer);
    event_free(c->held_timer);
    free(c->username);
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c);
}
