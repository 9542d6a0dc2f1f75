/* source: one configured stream and its life cycle.
 *
 *   idle -> connecting -> up -> (dropped | stalled | HTTP error) -> backoff
 *        -> connecting ...      stopped (shutdown, reload removed it)
 *
 * HTTP sources (x_v2, ndjson) use http_client; a file source reads a file
 * from the loop in bounded slices (optionally paced) and then stays done.
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

struct source *source_new(struct event_base *base, struct http_client *http,
                          const struct source_conf *sc, struct pipeline *pl);
void source_start(struct source *s);
void source_stop(struct source *s);
void source_free(struct source *s);

const struct source_conf *source_conf_of(const struct source *s);
enum source_state source_state(const struct source *s);
const char *source_state_name(enum source_state st);
const struct feed *source_feed(const struct source *s);
const struct source_stats *source_stats(const struct source *s);
/* 1 when connected, done, or backing off within its budget (readiness). */
int source_healthy(const struct source *s);

#endif
