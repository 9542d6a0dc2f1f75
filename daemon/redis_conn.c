/* redis_conn: hiredis async on libevent; see redis_conn.h. */
#include "redis_conn.h"
#include "log.h"
#include "util.h"

#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RECONNECT_MIN_MS 100
#define RECONNECT_MAX_MS 30000

/* A command sent and not yet answered.  Replies come in order, so the
 * callbacks wait in a ring in sending order and hiredis's privdata is
 * the connection itself. */
struct pending_cmd {
    redis_reply_fn fn;
    void *privdata;
};

struct redis_conn {
    struct event_base *base;
    char *unix_path, *host, *username, *password;
    int port, db;
    char address[300];
    uint64_t connect_timeout_ms, command_timeout_ms;
    const struct redis_conn_events *ev;
    void *ctx;

    redisAsyncContext *ac;
    int ready;
    int closing;                        /* shutdown: no reconnect */
    struct pending_cmd *ring;           /* outstanding commands, oldest at head */
    size_t head, n, cap;
    uint64_t progress_us;               /* last reply, or the first send with none outstanding */
    struct event *connect_timer, *deadline_timer, *reconnect_timer;
    uint64_t reconnect_delay_ms;
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

/* ---- the connection ---- */

static void timer_in(struct event *ev, uint64_t ms)
{
    struct timeval tv = ms_to_timeval(ms);
    evtimer_add(ev, &tv);
}

static void ring_push(struct redis_conn *c, redis_reply_fn fn, void *privdata)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 64;
        struct pending_cmd *ring = xcalloc(cap, sizeof *ring);
        for (size_t i = 0; i < c->n; i++)
            ring[i] = c->ring[(c->head + i) % c->cap];
        free(c->ring);
        c->ring = ring;
        c->head = 0;
        c->cap = cap;
    }
    c->ring[(c->head + c->n++) % c->cap] = (struct pending_cmd){fn, privdata};
}

/* Every reply (and every NULL when the context goes) lands here first. */
static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    struct redis_conn *c = privdata;
    struct pending_cmd p;

    (void)ac;
    if (!c->n) {
        log_msg(LOG_ERR, "redis: a reply with no command waiting (a bug)");
        return;
    }
    p = c->ring[c->head];
    c->head = (c->head + 1) % c->cap;
    c->n--;
    c->progress_us = now_mono_us();
    if (p.fn)
        p.fn(p.privdata, (const struct redis_reply *)reply);
}

int redis_conn_command(struct redis_conn *c, redis_reply_fn fn, void *privdata, int argc, const char **argv,
                       const size_t *lens)
{
    if (!c->ac || !c->ready)
        return -1;
    if (redisAsyncCommandArgv(c->ac, on_reply, c, argc, argv, lens) != REDIS_OK)
        return -1;                      /* the callback will never run */
    if (!c->n)
        c->progress_us = now_mono_us();
    ring_push(c, fn, privdata);
    /* armed once: on expiry it measures the time since the last progress
     * and re-arms for the rest, so sending more never pushes it away */
    if (!evtimer_pending(c->deadline_timer, NULL))
        timer_in(c->deadline_timer, c->command_timeout_ms);
    return 0;
}

/* The context is gone (failed connect, disconnect, or freed by a deadline):
 * tell the owner and schedule the next attempt. */
static void conn_lost(struct redis_conn *c, const char *why, int timed_out)
{
    c->ac = NULL;
    c->ready = 0;
    /* hiredis ran every outstanding callback with NULL as it let the
     * context go; any left would wait forever */
    while (c->n)
        on_reply(NULL, NULL, c);
    evtimer_del(c->connect_timer);
    evtimer_del(c->deadline_timer);
    if (c->ev && c->ev->lost)
        c->ev->lost(c->ctx, why, timed_out);
    if (c->closing)
        return;
    c->reconnect_delay_ms = c->reconnect_delay_ms ? c->reconnect_delay_ms * 2 : RECONNECT_MIN_MS;
    if (c->reconnect_delay_ms > RECONNECT_MAX_MS)
        c->reconnect_delay_ms = RECONNECT_MAX_MS;
    timer_in(c->reconnect_timer, c->reconnect_delay_ms + (uint64_t)random() % (c->reconnect_delay_ms / 5 + 1));
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *c = ac->data;

    if (status != REDIS_OK) {
        /* hiredis frees the context itself after a failed connect. */
        char why[256];
        snprintf(why, sizeof why, "connect failed: %s", ac->errstr);
        conn_lost(c, why, 0);
        return;
    }
    /* The connect deadline stays armed until the handshake completes. */
    if (c->ev && c->ev->connected)
        c->ev->connected(c->ctx);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct redis_conn *c = ac->data;
    char why[256];

    if (!c->ac)
        return;                         /* already handled (a deadline freed it) */
    snprintf(why, sizeof why, "%s", status == REDIS_OK ? "connection closed" : ac->errstr);
    conn_lost(c, why, 0);
}

/* AUTH and SELECT replies; privdata marks the last one. */
static void on_handshake(redisAsyncContext *ac, void *reply_, void *privdata)
{
    struct redis_conn *c = ac->data;
    redisReply *reply = reply_;

    if (!reply)
        return;                         /* connection lost; on_disconnect handles it */
    if (reply->type == REDIS_REPLY_ERROR) {
        /* Never log the password; the server's message does not contain it. */
        log_msg(LOG_ERR, "redis: handshake refused: %s", reply->str);
        redisAsyncDisconnect(ac);
        return;
    }
    if (!privdata)
        return;
    evtimer_del(c->connect_timer);
    c->reconnect_delay_ms = 0;
    c->ready = 1;
    if (c->ev && c->ev->ready)
        c->ev->ready(c->ctx);
}

/* Connect deadline and command deadline: free the context from the timer. */
static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct redis_conn *c = arg;
    redisAsyncContext *ac = c->ac;
    uint64_t age_ms;
    char why[128];

    (void)fd;
    (void)what;
    if (!ac)
        return;
    if (c->ready) {
        if (!c->n)
            return;
        age_ms = (now_mono_us() - c->progress_us) / 1000;
        if (age_ms < c->command_timeout_ms) {
            timer_in(c->deadline_timer, c->command_timeout_ms - age_ms);
            return;
        }
        snprintf(why, sizeof why, "no reply for %llums", (unsigned long long)age_ms);
    } else {
        snprintf(why, sizeof why, "connect timed out after %llums", (unsigned long long)c->connect_timeout_ms);
    }
    c->ac = NULL;
    c->ready = 0;
    redisAsyncFree(ac);                 /* outstanding callbacks run with NULL replies */
    conn_lost(c, why, 1);
}

static void conn_connect(struct redis_conn *c)
{
    redisAsyncContext *ac;
    char db[16];

    if (c->ac || c->closing)
        return;
    ac = c->unix_path ? redisAsyncConnectUnix(c->unix_path) : redisAsyncConnect(c->host, c->port);
    if (!ac) {
        conn_lost(c, "out of memory", 0);
        return;
    }
    if (ac->err) {
        char why[256];
        snprintf(why, sizeof why, "connect failed: %s", ac->errstr);
        redisAsyncFree(ac);
        conn_lost(c, why, 0);
        return;
    }
    ac->data = c;
    if (redisLibeventAttach(ac, c->base) != REDIS_OK) {
        redisAsyncFree(ac);
        conn_lost(c, "cannot attach to the event loop", 0);
        return;
    }
    if (!c->unix_path)
        redisEnableKeepAlive(&ac->c);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    if (c->ev && c->ev->connecting)
        c->ev->connecting(c->ctx);
    timer_in(c->connect_timer, c->connect_timeout_ms);
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
        redisAsyncCommandArgv(ac, on_handshake, c, 2, argv, NULL);
    }
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_connect(arg);
}

struct redis_conn *redis_conn_new(struct event_base *base, const struct redis_conn_opts *o)
{
    struct redis_conn *c = xcalloc(1, sizeof *c);

    c->base = base;
    c->unix_path = o->unix_path ? xstrdup(o->unix_path) : NULL;
    c->host = o->host ? xstrdup(o->host) : NULL;
    c->username = o->username && *o->username ? xstrdup(o->username) : NULL;
    c->password = o->password ? xstrdup(o->password) : NULL;
    c->port = o->port;
    c->db = o->db;
    c->connect_timeout_ms = o->connect_timeout_ms;
    c->command_timeout_ms = o->command_timeout_ms;
    snprintf(c->address, sizeof c->address, "%s", c->unix_path ? c->unix_path : c->host ? c->host : "?");
    c->connect_timer = evtimer_new(base, on_deadline, c);
    c->deadline_timer = evtimer_new(base, on_deadline, c);
    c->reconnect_timer = evtimer_new(base, on_reconnect, c);
    return c;
}

void redis_conn_set_events(struct redis_conn *c, const struct redis_conn_events *ev, void *ctx)
{
    c->ev = ev;
    c->ctx = ctx;
}

void redis_conn_start(struct redis_conn *c)
{
    conn_connect(c);
}

int redis_conn_ready(const struct redis_conn *c)
{
    return c->ac && c->ready;
}

const char *redis_conn_address(const struct redis_conn *c)
{
    return c->address;
}

void redis_conn_drop(struct redis_conn *c)
{
    if (c->ac)
        redisAsyncDisconnect(c->ac);
}

void redis_conn_close(struct redis_conn *c)
{
    c->closing = 1;
    evtimer_del(c->reconnect_timer);
    if (c->ac)
        redisAsyncDisconnect(c->ac);    /* after the outstanding replies */
}

int redis_conn_closed(const struct redis_conn *c)
{
    return c->closing && !c->ac;
}

void redis_conn_free(struct redis_conn *c)
{
    if (!c)
        return;
    c->closing = 1;
    c->ev = NULL;                       /* freeing is not a loss to report */
    if (c->ac) {
        redisAsyncContext *ac = c->ac;
        c->ac = NULL;
        redisAsyncFree(ac);             /* outstanding callbacks run with NULL */
    }
    event_free(c->connect_timer);
    event_free(c->deadline_timer);
    event_free(c->reconnect_timer);
    free(c->ring);
    free(c->unix_path);
    free(c->host);
    free(c->username);
    if (c->password) {
        explicit_bzero(c->password, strlen(c->password));
        free(c->password);
    }
    free(c);
}
