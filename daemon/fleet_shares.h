/* fleet_shares: a fleet's share counts, so that retweets fold and viral
 * posts are seen whichever member reads the shares.
 *
 * The pipeline hands every share (retweet, quote, reply) of a post to
 * fleet_shares_add(); each second the member sends what it gathered, one
 * count per shared post, in one Lua script.  For each post some member
 * alerted (its fleet mark, <prefix>:fleet:{<fleet>}:post:<type>:<id>, set
 * by the enqueue: redis_sink.c) the script adds the count to
 * <prefix>:fleet:{<fleet>}:shares:<type>:<id> (INCRBY; its TTL,
 * spread_window, starts with the fleet's first share, like the pipeline's
 * tumbling window) and answers the total; shares of posts nobody alerted
 * write nothing.  The member hears each alerted post's total (hooks
 * alerted: its retweets then fold here too, and its shares score), and the
 * one member whose count took a post to viral_shares hears it (hooks
 * viral), with one of the shares it read: so a viral post is reported once
 * for the fleet.  A second's counts that Redis may not have taken (the
 * connection went before the answer) are dropped, not sent twice.
 * Owner: the daemon; free it after the Redis connection.  Every function
 * accepts NULL.
 */
#ifndef MENTIOND_FLEET_SHARES_H
#define MENTIOND_FLEET_SHARES_H

#include <stdint.h>

struct event_base;
struct post;
struct redis_conn;

struct fleet_shares_hooks {
    /* The post key was alerted by a member; shares: the fleet's count. */
    void (*alerted)(void *ctx, const char *key, uint32_t shares);
    /* This member's shares took the post key to viral_shares. */
    void (*viral)(void *ctx, const char *key, const struct post *share, uint32_t shares);
    void *ctx;
};

struct fleet_shares_stats {
    uint64_t sent;              /* shares sent in batches Redis answered */
    uint64_t of_alerted;        /* ... of them, shares of posts the fleet alerted */
    uint64_t viral;             /* posts this member's count made viral */
    uint64_t dropped;           /* over the cap of posts a second, or in a batch lost */
    uint64_t batches_failed;    /* refused by Redis, or unanswered (the connection went) */
};

/* NULL when its timer cannot be made. */
struct fleet_shares *fleet_shares_new(struct event_base *base, struct redis_conn *conn, const char *prefix,
                                      const char *fleet, const struct fleet_shares_hooks *h);
/* [alerting] spread_window (s) and viral_shares (0: no viral posts). */
void fleet_shares_set_limits(struct fleet_shares *fs, long long spread_window, long long viral_shares);
/* One share of the post key ("<source type>:<post id>"). */
void fleet_shares_add(struct fleet_shares *fs, const char *key, const struct post *share);
const struct fleet_shares_stats *fleet_shares_stats(const struct fleet_shares *fs);
void fleet_shares_free(struct fleet_shares *fs);

#endif
