/* paging: the daemon's surge and viral detection wired to Redis and
 * on-call.
 *
 *   pipeline --observer--> incidents (incident.c, pure)
 *                            |-- report --> alert (type spike/viral) --> sink (incident queue, critical)
 *                            '-- page ----> oncall documents --> notifier (Alertmanager, PagerDuty, webhook)
 *
 * Ticks once a second on the loop; resends firing incidents to
 * Alertmanager every resend_interval.  Detection settings and the rules
 * follow reloads; the receivers' URLs are read at start (a reload that
 * changes them says it applies at restart).  Owner: the daemon.
 */
#ifndef MENTIOND_PAGING_H
#define MENTIOND_PAGING_H

#include "incident.h"
#include "pipeline.h"

struct event_base;
struct http_client;
struct buf;
struct config;
struct ruleset;
struct paging;

struct paging *paging_new(struct event_base *base, struct http_client *http, const struct config *cfg,
                          const struct ruleset *rs, alert_sink_fn sink, void *sink_ctx);
void paging_free(struct paging *pg);
/* After a reload: the new configuration and rules (borrowed). */
void paging_set(struct paging *pg, const struct config *cfg, const struct ruleset *rs);
const struct pipeline_observer *paging_observer(struct paging *pg);
void paging_metrics(const struct paging *pg, struct buf *o);
/* Pages still waiting to be delivered (shutdown waits for them). */
size_t paging_pending(const struct paging *pg);
/* Incidents open now (the heartbeat reports it). */
uint64_t paging_open(const struct paging *pg);
/* The rate series' learnt baselines (incidents_each_state), and one an
 * earlier run saved (incidents_restore: 1 taken, 0 refused, -1 no such
 * series now). */
void paging_each_state(const struct paging *pg, incident_state_fn fn, void *ctx);
int paging_restore(struct paging *pg, const char *series, const struct spike_state *st);

/* A fleet ([daemon] fleet): every member counts its matched posts per
 * series and second (taken here, for Redis), is fed the fleet's totals a
 * few seconds behind and judges them with the same clock (paging_judge:
 * every second before s is complete), so every member learns the same
 * baselines and opens the same incidents, keyed by the fleet's name; only
 * the member holding the judge's lease (fleet_judge) writes them to Redis
 * and pages.  fleet_rates.c does the Redis side. */
#define PAGING_SHARED_DELAY_S 3
void paging_set_judge(struct paging *pg, int on);
void paging_take_counts(struct paging *pg, incident_count_fn fn, void *ctx);
int paging_add_count(struct paging *pg, const char *series, uint64_t s, uint32_t n);
void paging_judge(struct paging *pg, uint64_t s);

#endif
