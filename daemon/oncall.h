/* oncall: the documents on-call receivers get for an incident.
 *
 *   Alertmanager API v2   POST /api/v2/alerts, a JSON array of one alert:
 *                         labels (alertname, instance, severity, kind, name,
 *                         queue, incident), annotations (summary,
 *                         description, samples), startsAt, endsAt.  A firing
 *                         incident is sent again every resend_interval with
 *                         endsAt a few intervals ahead (as Prometheus does),
 *                         so Alertmanager resolves it by itself if mentiond
 *                         dies; the resolution sends endsAt = the end.
 *   PagerDuty Events v2   {"routing_key", "event_action": "trigger" |
 *                         "resolve", "dedup_key": the incident key, payload
 *                         {summary, source, severity, timestamp, component,
 *                         group, class, custom_details}, "client"}; resolve
 *                         carries routing_key, event_action and dedup_key only.
 *   webhook               {"text": one line (Slack's incoming-webhook field),
 *                         "instance", "action", "incident": {...}}.
 *
 * The incident object (also in the Redis record, alert.c) is
 *   {"key", "kind", "name", "queue", "status", "started", "resolved",
 *    "window_seconds", "count", "baseline", "peak", "samples": [{"id",
 *    "url", "author", "text"}]}.
 * Pure: builds bytes with json.c, sends nothing.
 */
#ifndef MENTIOND_ONCALL_H
#define MENTIOND_ONCALL_H

#include "incident.h"
#include "json.h"

#include <stddef.h>
#include <stdint.h>

/* "firing", "escalated", "firing" (reopened) or "resolved". */
const char *oncall_status(enum incident_action act);
/* One line: "[inst] Surge: rule cards-fraud, 240 posts in 60s (baseline 12)". */
void oncall_text(char *out, size_t len, const char *instance, const struct incident *inc,
                 enum incident_action act);
void oncall_put_incident(struct json_writer *w, const struct incident *inc, enum incident_action act);

/* Each returns 0 with the document in *out (valid until the writer's next
 * use), or -1.  ends_ms: endsAt (the end, or a firing incident's horizon). */
int oncall_alertmanager(struct json_writer *w, const char *instance, const struct incident *inc,
                        enum incident_action act, uint64_t ends_ms, const char **out, size_t *len);
int oncall_pagerduty(struct json_writer *w, const char *routing_key, const char *instance,
                     const struct incident *inc, enum incident_action act, const char **out, size_t *len);
int oncall_webhook(struct json_writer *w, const char *instance, const struct incident *inc,
                   enum incident_action act, const char **out, size_t *len);

/* The page budget's notices (incident.h on_limit), as a warning to each
 * receiver: Alertmanager alert MentiondPageLimit (ends at the hour's end),
 * a PagerDuty trigger of severity warning, a webhook text. */
void oncall_limit_text(char *out, size_t len, const char *instance, uint32_t limit, uint64_t suppressed,
                       int hour_over);
int oncall_limit_alertmanager(struct json_writer *w, const char *instance, const char *text, uint64_t now_ms,
                              uint64_t ends_ms, const char **out, size_t *len);
int oncall_limit_pagerduty(struct json_writer *w, const char *routing_key, const char *instance,
                           const char *text, uint64_t now_ms, const char **out, size_t *len);
int oncall_limit_webhook(struct json_writer *w, const char *instance, const char *text, uint64_t suppressed,
                         const char **out, size_t *len);

#endif
