/* source: one configured stream and its life cycle.
 *
 *   idle -> connecting -> up -> (dropped | stalled | HTTP error) -> backoff
 *        -> connecting ...      stopped (shutdown, reload removed it)
 *
 * What a type is (its transport, decoder, keys and requests) is its
 * driver's (source_driver.h); this module runs the life cycle and
 * dispatches on the transport only: an HTTP stream or a polled document
 * through http_client, a WebSocket through ws_client (one message is one
 * record, zstd-decompressed when compress = on), a file read from the loop
 * in bounded slices (optionally paced) that then stays done.
 *
 * A type that keeps a position (DRIVER_POSITION: Jetstream's time_us) has
 * a handle in the position store (position.h): on start it waits briefly
 * for the saved position (live if none comes within 5 s), reports the
 * position reached as records are processed, and every reconnect resumes
 * from the highest processed, so a restart or a dropped connection loses
 * nothing inside the service's window.
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
struct position_store;
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

/* ps: where a type that keeps a position keeps it (NULL: it starts live). */
struct source *source_new(struct event_base *base, struct http_client *http, struct ws_client *ws,
                          const struct position_store *ps, const struct source_conf *sc, struct pipeline *pl);
/* From idle, or again after source_stop() (a fleet hands sources back
 * and forth; a file is read once only). */
void source_start(struct source *s);
void source_stop(struct source *s);
void source_free(struct source *s);

const struct source_conf *source_conf_of(const struct source *s);
enum source_state source_state(const struct source *s);
const char *source_state_name(enum source_state st);
const struct feed *source_feed(const struct source *s);
const struct source_stats *source_stats(const struct source *s);
/* The highest position processed (0: none yet, or the type keeps none). */
uint64_t source_position(const struct source *s);
/* 1 while it polls because its stream is not served (Mastodon 4.5 with the
 * feed off, or no streaming API). */
int source_polling(const struct source *s);
/* An X source's posts read against its daily_budget, or NULL. */
struct spend *source_spend(struct source *s);
/* How long it has been trying to (re)connect, across attempts: 0 while up,
 * done or stopped. */
uint64_t source_down_ms(const struct source *s);
/* Its completeness ledger (ledger.h): posts, lag, rate, gaps. */
struct ledger;
const struct ledger *source_ledger(const struct source *s);
/* 1 when connected, done, or reconnecting for less than a minute (readiness). */
int source_healthy(const struct source *s);

#endif
