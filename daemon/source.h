/* source: one configured stream and its life cycle.
 *
 *   idle -> connecting -> up -> (dropped | stalled | HTTP error) -> backoff
 *        -> connecting ...      stopped (shutdown, reload removed it)
 *
 * HTTP sources (x_v2, ndjson...) use http_client; jetstream uses
 * ws_client (one WebSocket message is one record, zstd-decompressed when
 * compress = on); a file source reads a file from the loop in bounded
 * slices (optionally paced) and then stays done.
 *
 * Jetstream keeps a position (the highest time_us processed).  On start it
 * waits briefly for the position saved in Redis (source_resume_from(); live
 * if none comes within 5 s), and every reconnect resumes a few seconds
 * before the position reached, so a restart or a dropped connection loses
 * nothing inside Jetstream's 36-hour window; the duplicates that rewinding
 * brings are dropped by the duplicate window and the seen keys.
 * Bytes go into the source's feed (framer -> decoder -> pipeline).  Every
 * state change is logged once; counters are kept for metrics and the
 * periodic summary.  Owner: the daemon; source_free() accepts NULL.
 */
#ifndef MENTIOND_SOURCE_H
#define MENTIOND_SOURCE_H

#include "backoff.h"
#include "config.h"
#include "pipeline.h"

#include <stdint.h>

struct event_base;
struct http_client;
struct ws_client;

enum source_state { SOURCE_IDLE, SOURCE_CONNECTING, SOURCE_UP, SOURCE_BACKOFF,
                    SOURCE_DONE, SOURCE_STOPPED };

struct source_stats {
    uint64_t connects;          /* successful (2xx) connections */
    uint64_t reconnects;        /* attempts after the first */
    uint64_t stalls;
    uint64_t http_errors;
    uint64_t network_errors;
};

struct source;

/* What a source saves of its position, tracked by the daemon: a snapshot
 * (sink sequence number, position) is saved once the sink has settled
 * every alert up to that number. */
struct source_cursor {
    int waiting;                /* start waits for the saved position */
    int requested;              /* its GET is in flight */
    int snap_pending;
    uint64_t snap_seq, snap_us;
    uint64_t saved_us;
};

struct source *source_new(struct event_base *base, struct http_client *http, struct ws_client *ws,
                          const struct source_conf *sc, struct pipeline *pl);
void source_start(struct source *s);
void source_stop(struct source *s);
void source_free(struct source *s);

const struct source_conf *source_conf_of(const struct source *s);
enum source_state source_state(const struct source *s);
const char *source_state_name(enum source_state st);
const struct feed *source_feed(const struct source *s);
const struct source_stats *source_stats(const struct source *s);
/* Sources with a stream position (jetstream): their cursor, else NULL. */
struct source_cursor *source_cursor(struct source *s);
/* The highest position processed (0: none yet). */
uint64_t source_position(const struct source *s);
/* The saved position (0: none, start live); starts a source waiting for it. */
void source_resume_from(struct source *s, uint64_t us);
/* How long it has been trying to (re)connect, across attempts: 0 while up,
 * done or stopped. */
uint64_t source_down_ms(const struct source *s);
/* 1 when connected, done, or reconnecting for less than a minute (readiness). */
int source_healthy(const struct source *s);

#endif
