/* redis_sink: alerts onto Redis, over the one connection (redis_conn.h,
 * the module that talks to hiredis); it neither reads Redis nor knows the
 * rule engine: what it sends is the alert's wire form (alert.h).
 *
 * Alerts handed to redis_sink_push() are owned by the sink until Redis has
 * acknowledged them.  Each is enqueued by one server-side script (EVALSHA,
 * loaded again after NOSCRIPT) that sets mentiond:seen:<alert id> with NX
 * and the dedup TTL and only then pushes onto mentiond:q:<queue>:<level>
 * (RPUSH, mode = list) or mentiond:s:<queue>:<level> (XADD MAXLEN ~, mode =
 * stream) and the author's history, so a resend never doubles an alert.
 * Up to max_inflight commands are pipelined; an alert leaves only when its
 * reply arrives.  A command whose connection dies before its reply is put
 * back at the front of its level, so a Redis restart loses nothing, and
 * the seen key makes the resend harmless.
 *
 * While Redis is away (or slow) alerts wait in a bounded memory buffer, per
 * level, and past it in the disk spool (spool.h), which owns the files;
 * with durability = spool every alert is written there first.  They are
 * sent most urgent level first, memory before disk within a level.  Past
 * both limits the least urgent are dropped first, each drop counted and
 * logged (rate-limited).
 *
 * The connection's deadlines and reconnects are redis_conn's; the sink
 * hears when it is ready (then loads the script: "redis: up") and when it
 * is lost (the alerts in flight go back to the front of their levels).
 */
#ifndef MENTIOND_REDIS_SINK_H
#define MENTIOND_REDIS_SINK_H

#include "alert.h"
#include "config.h"
#include "level.h"

#include <stdint.h>

struct event_base;
struct redis_conn;
struct redis_sink;

enum redis_state { REDIS_DOWN, REDIS_CONNECTING, REDIS_UP };

/* End-to-end latency buckets (received -> acknowledged), upper bounds in
 * seconds; the histogram has one more bucket for +Inf. */
#define REDIS_LATENCY_BUCKETS 17
extern const double redis_latency_bounds[REDIS_LATENCY_BUCKETS];

struct redis_stats {
    uint64_t latency_hist[REDIS_LATENCY_BUCKETS + 1];
    uint64_t latency_count;
    uint64_t enqueued[LEVEL_COUNT];     /* acknowledged by Redis */
    uint64_t dropped[LEVEL_COUNT];      /* memory full, no spool (or it failed) */
    uint64_t dropped_spool[LEVEL_COUNT];/* memory full and the spool refused */
    uint64_t trimmed[LEVEL_COUNT];      /* removed from Redis by max_queue_length */
    uint64_t requeued;                  /* sent, connection lost, sent again */
    uint64_t withdrawn;                 /* alerts deleted before they left: never sent */
    uint64_t deletions_pushed;          /* "deleted" records after a sent alert */
    uint64_t duplicates;                /* already in Redis (seen key set): not pushed */
    uint64_t fleet_marked[2];           /* not pushed by a fleet's marks: folded retweets,
                                         * posts another member alerted */
    uint64_t errors;                    /* error replies */
    uint64_t connects;
    uint64_t went_up, went_down;        /* state changes */
    uint64_t timeouts;
    uint64_t latency_us_sum;            /* received -> acknowledged */
};

struct spool;
/* spool (may be NULL) is owned by the sink from here on; conn is not (the
 * sink hears its events).  Free the sink after the connection: freeing
 * the connection runs its outstanding callbacks, some into the sink. */
struct redis_sink *redis_sink_new(struct event_base *base, const struct config *cfg, struct redis_conn *conn,
                                  struct spool *spool);
void redis_sink_free(struct redis_sink *r);
/* Take ownership of a; never fails (a full buffer drops the least urgent).
 * A deletion record withdraws its alert if that has not been sent yet;
 * otherwise it is sent after every alert already here (it waits at the
 * lowest level, which is flushed last). */
void redis_sink_push(struct redis_sink *r, struct alert *a);
/* Alerts not yet acknowledged: in memory (buffered or in flight) or
 * waiting on disk; and those in memory only. */
uint64_t redis_sink_pending(const struct redis_sink *r);
uint64_t redis_sink_buffered(const struct redis_sink *r);
/* mode = stream: the queue names whose streams get the consumer groups
 * (the rules' queues; again after a reload).  Copied. */
void redis_sink_set_queues(struct redis_sink *r, const char *const *queues, int n);
/* Shutdown: write what is in memory and not yet on disk to the spool.
 * Returns how many could not be written (no spool, or it refused);
 * *written says how many were. */
uint64_t redis_sink_spill(struct redis_sink *r, uint64_t *written);
/* The spool, for metrics (NULL if none). */
const struct spool *redis_sink_spool(const struct redis_sink *r);
enum redis_state redis_sink_state(const struct redis_sink *r);
const struct redis_stats *redis_sink_stats(const struct redis_sink *r);
/* Alerts acknowledged by Redis per queue and level, for metrics: the first
 * REDIS_QUEUE_SERIES queues seen by name, the rest together as "_other".
 * Returns how many; *names and *counts stay valid until the next push. */
#define REDIS_QUEUE_SERIES 200
int redis_sink_queue_counts(const struct redis_sink *r, char *const **names,
                            const uint64_t (**counts)[LEVEL_COUNT]);
/* Every alert pushed gets the next sequence number.  redis_sink_seq() is
 * the last one given; redis_sink_oldest() the lowest one still waiting
 * (UINT64_MAX when none).  Every alert numbered below it was acknowledged,
 * withdrawn or dropped, which is when a source may record a stream
 * position as processed.  One pass over the buffer: call it once per tick. */
uint64_t redis_sink_seq(const struct redis_sink *r);
uint64_t redis_sink_oldest(const struct redis_sink *r);

/* After redis_sink_close(): 1 once the connection is gone (every reply in). */
int redis_sink_closed(const struct redis_sink *r);
/* Close the connection after in-flight replies; called at shutdown. */
void redis_sink_close(struct redis_sink *r);

#endif
