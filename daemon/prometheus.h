/* prometheus: the /metrics page; see prometheus.c. */
#ifndef MENTIOND_PROMETHEUS_H
#define MENTIOND_PROMETHEUS_H

struct buf;
struct running;

void prometheus_render(const struct running *r, struct buf *o);

#endif
