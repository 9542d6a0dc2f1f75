/* redis_conn: the connection to Redis (one server, or a Redis Cluster),
 * and the one module that talks to hiredis.
 *
 * It connects (TCP or a unix socket), authenticates (AUTH, with the ACL
 * user when one is set), selects the database, and reconnects with
 * exponential backoff (100 ms doubling to 30 s, with jitter) whenever the
 * connection is lost, until it is closed.  Its users, the alert sink
 * (redis_sink.c) and the store (store.c), send commands as argument
 * vectors and read replies through the accessors below, so neither
 * includes hiredis.
 *
 * hiredis 0.14 has no timeouts: connect and command deadlines are libevent
 * timers, and on expiry the context is freed from the timer (never from a
 * hiredis callback).  A command deadline is progress, not age: it fires
 * when commands are outstanding and no reply came for command_timeout_ms.
 * hiredis resolves names synchronously, so only numeric addresses or unix
 * sockets reach it (config.c resolves at load time).
 *
 * A cluster (opts.cluster): from the seed nodes it reads the slot map
 * (CLUSTER SHARDS, or CLUSTER SLOTS from a server without it) and keeps
 * one connection ("link") per primary; each command goes to the primary
 * of its routing key's slot (cluster.h).  MOVED (the map is read again),
 * ASK (ASKING, then the command) and TRYAGAIN / CLUSTERDOWN (again after a
 * backoff) are followed here, at most 5 times a command, and the caller
 * sees only the final reply.  So that a redirect cannot reorder what was
 * sent, a redirected command is held, and every command after it too,
 * until nothing sent earlier is still unanswered; then they go in the
 * order they were first given.  Held longer than command_timeout_ms, or
 * with no primary for its slot, they fail like a lost connection.  The
 * cluster is ready when every primary of the map is connected; losing one
 * is a loss ("lost"), and the map is read again until the cluster is whole
 * (a replica promoted), which is "ready" again.
 *
 * Replies come in the order commands were sent on one server; in a
 * cluster only among commands of one slot.  Every command's callback runs
 * exactly once: with its reply, or with NULL when the connection was lost
 * before the reply (the command may or may not have run), always before
 * the "lost" event that reports it.  Owner: the daemon; redis_conn_free()
 * accepts NULL and runs the outstanding callbacks (with NULL) before it
 * returns, so their owners must still be there.  The password is copied
 * and wiped at free; it is never logged.
 */
#ifndef MENTIOND_REDIS_CONN_H
#define MENTIOND_REDIS_CONN_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct redis_conn;
struct redis_reply;                     /* valid during its callback only */

enum redis_reply_type { RREPLY_NIL, RREPLY_INTEGER, RREPLY_STRING, RREPLY_STATUS, RREPLY_ERROR, RREPLY_ARRAY,
                        RREPLY_OTHER };

enum redis_reply_type redis_reply_type(const struct redis_reply *r);
long long redis_reply_integer(const struct redis_reply *r);
/* A string, status or error reply's bytes (NUL-terminated), else "". */
const char *redis_reply_str(const struct redis_reply *r, size_t *len);
/* An array's elements. */
size_t redis_reply_count(const struct redis_reply *r);
const struct redis_reply *redis_reply_at(const struct redis_reply *r, size_t i);

/* reply NULL: the connection was lost before the answer. */
typedef void (*redis_reply_fn)(void *privdata, const struct redis_reply *reply);

struct redis_conn_opts {
    const char *unix_path;              /* else host and port */
    const char *host;                   /* numeric */
    int port, db;
    int cluster;                        /* host:port is a seed node of a Redis Cluster */
    const char *username;               /* ACL user, or NULL */
    const char *password;               /* or NULL */
    uint64_t connect_timeout_ms, command_timeout_ms;
};

/* What the connection's owner hears (the alert sink): every transition. */
struct redis_conn_events {
    void (*connecting)(void *ctx);
    void (*connected)(void *ctx);       /* TCP (or the socket) is up; the handshake follows */
    void (*ready)(void *ctx);           /* authenticated, database selected: commands may go */
    /* Gone, or an attempt failed; reconnecting with backoff unless closed.
     * timed_out: a connect or command deadline freed it. */
    void (*lost)(void *ctx, const char *why, int timed_out);
};

struct redis_conn *redis_conn_new(struct event_base *base, const struct redis_conn_opts *o);
void redis_conn_set_events(struct redis_conn *c, const struct redis_conn_events *ev, void *ctx);
void redis_conn_start(struct redis_conn *c);
/* 1 when ready (the handshake done). */
int redis_conn_ready(const struct redis_conn *c);
/* The address, for messages. */
const char *redis_conn_address(const struct redis_conn *c);
/* Sends a command (argv with lengths, or NULL lens for C strings); fn may
 * be NULL (fire and forget).  0, or -1 when not ready or hiredis refused
 * (fn is then not called). */
int redis_conn_command(struct redis_conn *c, redis_reply_fn fn, void *privdata, int argc, const char **argv,
                       const size_t *lens);
/* Cluster: one more seed node (numeric host), before redis_conn_start. */
void redis_conn_add_seed(struct redis_conn *c, const char *host, int port);

/* A cluster's state, for metrics: its nodes (primaries of the map, seeds)
 * and the redirects followed. */
struct redis_cluster_stats {
    uint64_t moved, ask, tryagain, clusterdown;
    uint64_t map_reads, map_failures;   /* slot map read (CLUSTER SHARDS/SLOTS), or not */
    uint64_t held_expired;              /* commands held past command_timeout_ms */
    int primaries;                      /* in the map */
};
/* NULL for one server. */
const struct redis_cluster_stats *redis_conn_cluster_stats(const struct redis_conn *c);
/* Each node: its address, 1 if a primary of the map, 1 if connected. */
void redis_conn_each_node(const struct redis_conn *c, void (*fn)(void *ctx, const char *address, int primary,
                                                                  int up), void *ctx);

/* Drop the connection (an unusable reply): lost, then a reconnect. */
void redis_conn_drop(struct redis_conn *c);
/* Shutdown: close after the outstanding replies; no reconnect. */
void redis_conn_close(struct redis_conn *c);
/* After redis_conn_close(): 1 once the connection is gone. */
int redis_conn_closed(const struct redis_conn *c);
void redis_conn_free(struct redis_conn *c);

#endif
