/* cluster: the pure parts of speaking to a Redis Cluster (redis_conn.c
 * does the talking): a key's hash slot, where a command's routing key is,
 * and what a redirect says.  No I/O.
 *
 * Slots (the cluster specification): CRC16 (XMODEM) of the key modulo
 * 16384; if the key holds a '{' followed by a '}' with at least one byte
 * between, only those bytes are hashed (a hash tag), so keys sharing a tag
 * share a slot.
 */
#ifndef MENTIOND_CLUSTER_H
#define MENTIOND_CLUSTER_H

#include <stddef.h>

#define CLUSTER_SLOTS 16384

int cluster_slot(const char *key, size_t len);

/* The argv index of the key a command is routed by, CLUSTER_KEYLESS for a
 * command any node answers (PING, TIME, an EVAL with no keys), or
 * CLUSTER_EVERY_NODE for one every primary must see (SCRIPT LOAD).  One
 * table in cluster.c says, per command mentiond sends; a command not in
 * it is routed by argv[1]. */
enum { CLUSTER_KEYLESS = -1, CLUSTER_EVERY_NODE = -2 };
int cluster_command_key(int argc, const char *const *argv);

/* A redirect or a retry asked for in an error reply. */
enum cluster_redirect { CLUSTER_NONE, CLUSTER_MOVED, CLUSTER_ASK, CLUSTER_TRYAGAIN, CLUSTER_DOWN };
struct cluster_target {
    int slot;
    char host[256];             /* "" when the node gave none (use the one asked) */
    int port;
};
/* MOVED <slot> <host>:<port>, ASK <slot> <host>:<port>, TRYAGAIN...,
 * CLUSTERDOWN...; CLUSTER_NONE for any other error (t untouched), and for
 * a MOVED or ASK that does not parse. */
enum cluster_redirect cluster_parse_error(const char *err, struct cluster_target *t);

#endif
