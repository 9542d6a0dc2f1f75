/* metrics: the HTTP endpoint for Prometheus and health checks.
 *
 *   GET /metrics   the Prometheus text format (0.0.4), rendered on demand
 *   GET /healthz   200 while the loop runs
 *   GET /readyz    200 when the owner says ready (Redis up, sources healthy), else 503
 *   GET /config    the running configuration (the owner renders it; secrets hidden)
 * Anything but GET gets 405.  Listens where [daemon] metrics_listen says
 * (loopback by default; port 0 picks a free one, logged).  The owner renders
 * the metrics into a capped buffer with metrics_family()/metrics_sample(),
 * which write the names, escape label values and format numbers.
 */
#ifndef MENTIOND_METRICS_H
#define MENTIOND_METRICS_H

#include "buf.h"

#include <stdint.h>

struct event_base;
struct metrics_server;

typedef void (*metrics_render_fn)(void *ctx, struct buf *out);
/* 1 when ready; why: the reason when not, or a note when ready ("" for none). */
typedef int (*metrics_ready_fn)(void *ctx, char *why, size_t whylen);

/* NULL with err if the address is bad or cannot be bound. */
struct metrics_server *metrics_server_new(struct event_base *base, const char *listen,
                                          metrics_render_fn render, metrics_render_fn render_config,
                                          metrics_ready_fn ready, void *ctx, char *err, size_t errlen);
void metrics_server_free(struct metrics_server *m);
int metrics_server_port(const struct metrics_server *m);

void metrics_family(struct buf *out, const char *name, const char *type, const char *help);
/* labels: "k", "v", "k2", "v2", ..., NULL */
void metrics_sample(struct buf *out, const char *name, double value, ...);

#endif
