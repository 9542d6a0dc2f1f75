/* paging: incidents to Redis and on-call; see paging.h. */
#include "paging.h"
#include "alert_build.h"
#include "config.h"
#include "incident.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "oncall.h"
#include "rules.h"
#include "util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TICK_MS 1000
#define AM_HORIZON 5            /* a firing alert's endsAt: this many resend intervals ahead */

struct paging {
    struct event_base *base;
    const struct config *cfg;
    struct incidents *inc;
    struct notifier *nt;
    struct json_writer *jw;
    struct event *tick;
    alert_sink_fn sink;
    void *sink_ctx;
    struct pipeline_observer obs;
    uint64_t last_resend_s;
    /* A fleet: the series judge the fleet's totals (fed by fleet_rates),
     * and only the member holding the judge's lease reports and pages. */
    int shared, judge;
    const char *who;                    /* on-call's "instance": the fleet's name in a fleet */
    uint64_t silent;                    /* reports left to the judge */
};

static void params_of(const struct config *c, struct incident_params *p)
{
    spike_params_default(&p->spike);
    p->spike.window_s = (uint32_t)c->spike_window;
    p->spike.sensitivity = (double)c->spike_sensitivity;
    p->spike.min_count = (uint32_t)c->spike_min_count;
    p->spike.min_ratio = (double)c->spike_min_ratio;
    p->spike.baseline_s = (uint32_t)c->spike_baseline;
    p->spike.warmup_s = (uint32_t)c->spike_warmup;
    p->spike.resolve_s = (uint32_t)c->spike_resolve;
    p->spike.escalate = (double)c->escalate_ratio;
    p->cooldown_s = (uint32_t)c->incident_cooldown;
    p->max_pages_per_hour = (uint32_t)c->max_pages_per_hour;
    p->viral_window_s = (uint32_t)c->viral_window;
    p->queues = (int)c->spike_queues;
}

/* The detector's clock: monotonic alone; in a fleet the wall clock the
 * members' per-second counts are named by, PAGING_SHARED_DELAY_S behind,
 * as the totals are read. */
static uint64_t clock_s(const struct paging *pg)
{
    return pg->shared ? now_real_ms() / 1000 - PAGING_SHARED_DELAY_S : now_mono_ms() / 1000;
}

/* A firing alert's endsAt: Alertmanager resolves it by itself there if
 * mentiond stops refreshing it. */
static uint64_t am_horizon(const struct paging *pg)
{
    return now_real_ms() + (uint64_t)pg->cfg->resend_interval * 1000 * AM_HORIZON;
}

/* rc, doc, len: a builder's result, called before this (not as an
 * argument: the order arguments are evaluated in is unspecified). */
static void send_doc(struct paging *pg, enum receiver r, int rc, const char *doc, size_t len, const char *what)
{
    if (rc != 0) {
        log_limited(LOG_ERR, "notify %s: %s: document could not be built", receiver_names[r], what);
        return;
    }
    notifier_send(pg->nt, r, doc, len, what);
}

/* The incident to every receiver configured. */
static void page(struct paging *pg, const struct incident *inc, enum incident_action act)
{
    const struct config *c = pg->cfg;
    const char *doc;
    size_t len;
    char what[480];
    int rc;

    snprintf(what, sizeof what, "%s %s", incident_action_names[act], inc->key);
    if (notifier_enabled(pg->nt, RECEIVER_ALERTMANAGER)) {
        uint64_t ends = act == INCIDENT_RESOLVE ? inc->resolved_ms : am_horizon(pg);
        rc = oncall_alertmanager(pg->jw, pg->who, inc, act, ends, &doc, &len);
        send_doc(pg, RECEIVER_ALERTMANAGER, rc, doc, len, what);
    }
    if (notifier_enabled(pg->nt, RECEIVER_PAGERDUTY) && c->pagerduty_key) {
        rc = oncall_pagerduty(pg->jw, c->pagerduty_key, pg->who, inc, act, &doc, &len);
        send_doc(pg, RECEIVER_PAGERDUTY, rc, doc, len, what);
    }
    if (notifier_enabled(pg->nt, RECEIVER_WEBHOOK)) {
        rc = oncall_webhook(pg->jw, pg->who, inc, act, &doc, &len);
        send_doc(pg, RECEIVER_WEBHOOK, rc, doc, len, what);
    }
}

/* In a fleet, rate series are judged alike everywhere and reported by the
 * judge; a viral post is reported by the one member whose share count took
 * the fleet's count past viral_shares (fleet_shares.c). */
static int reports_here(const struct paging *pg, const struct incident *inc)
{
    return !pg->shared || pg->judge || inc->kind == INCIDENT_VIRAL;
}

static void on_incident(void *ctx, const struct incident *inc, enum incident_action act, int paged)
{
    struct paging *pg = ctx;
    char text[1024];
    struct alert *a;

    oncall_text(text, sizeof text, pg->who, inc, act);
    if (!reports_here(pg, inc)) {
        pg->silent++;
        log_msg(LOG_INFO, "incident %s: %s (left to the fleet's judge)", inc->key, text);
        return;
    }
    log_msg(act == INCIDENT_RESOLVE ? LOG_NOTICE : LOG_WARNING, "incident %s: %s%s", inc->key, text,
            paged || act == INCIDENT_RESOLVE ? "" : " (not paged: cooldown or page limit)");
    a = alert_build_incident(pg->jw, pg->cfg->name, pg->cfg->incident_queue, inc, act, now_real_ms());
    if (a)
        pg->sink(pg->sink_ctx, a);
    else
        log_limited(LOG_ERR, "incident %s: record could not be encoded", inc->key);
    if (paged)
        page(pg, inc, act);
}

static void on_limit(void *ctx, uint32_t limit, uint64_t suppressed, int hour_over, uint64_t now_ms)
{
    struct paging *pg = ctx;
    const struct config *c = pg->cfg;
    char text[512];
    const char *doc;
    size_t len;
    int rc;

    if (pg->shared && !pg->judge)
        return;
    oncall_limit_text(text, sizeof text, pg->who, limit, suppressed, hour_over);
    log_msg(LOG_WARNING, "%s", text);
    if (notifier_enabled(pg->nt, RECEIVER_ALERTMANAGER)) {
        rc = oncall_limit_alertmanager(pg->jw, pg->who, text, now_ms, now_ms + 3600000, &doc, &len);
        send_doc(pg, RECEIVER_ALERTMANAGER, rc, doc, len, "page limit");
    }
    if (notifier_enabled(pg->nt, RECEIVER_PAGERDUTY) && c->pagerduty_key) {
        rc = oncall_limit_pagerduty(pg->jw, c->pagerduty_key, pg->who, text, now_ms, &doc, &len);
        send_doc(pg, RECEIVER_PAGERDUTY, rc, doc, len, "page limit");
    }
    if (notifier_enabled(pg->nt, RECEIVER_WEBHOOK)) {
        rc = oncall_limit_webhook(pg->jw, pg->who, text, suppressed, &doc, &len);
        send_doc(pg, RECEIVER_WEBHOOK, rc, doc, len, "page limit");
    }
}

static const struct incident_cbs incident_cbs = {.on_incident = on_incident, .on_limit = on_limit};

static void resend_one(void *ctx, const struct incident *inc)
{
    struct paging *pg = ctx;
    const char *doc;
    size_t len;
    char what[480];
    int rc;

    if (!reports_here(pg, inc))
        return;
    snprintf(what, sizeof what, "refresh %s", inc->key);
    rc = oncall_alertmanager(pg->jw, pg->who, inc, INCIDENT_OPEN, am_horizon(pg), &doc, &len);
    send_doc(pg, RECEIVER_ALERTMANAGER, rc, doc, len, what);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct paging *pg = arg;
    uint64_t s = clock_s(pg);

    (void)fd;
    (void)what;
    if (!pg->shared)                    /* shared: paging_judge() ticks, as the totals come */
        incidents_tick(pg->inc, s, now_real_ms());
    /* Alertmanager forgets an alert at its endsAt: keep firing ones alive,
     * as Prometheus re-sends its firing alerts. */
    if (notifier_enabled(pg->nt, RECEIVER_ALERTMANAGER) && s - pg->last_resend_s >= (uint64_t)pg->cfg->resend_interval) {
        pg->last_resend_s = s;
        incidents_each_paged(pg->inc, resend_one, pg);
    }
}

static void on_matched(void *ctx, const struct match_ctx *mc, const struct post *p, const char *queue)
{
    struct paging *pg = ctx;
    int rules[64], n = 0;

    for (int i = 0; i < mc->nhits && n < (int)ARRAY_LEN(rules); i++)
        rules[n++] = mc->hits[i].rule;
    /* shared: counted into the second it arrived in, as the fleet names it */
    incidents_match(pg->inc, rules, n, queue, p, pg->shared ? now_real_ms() / 1000 : clock_s(pg));
}

static void on_viral(void *ctx, const char *key, const struct post *share, const char *text, uint32_t shares)
{
    struct paging *pg = ctx;

    incidents_viral(pg->inc, key, share, text, shares, clock_s(pg), now_real_ms());
}

static void set_rules(struct paging *pg, const struct ruleset *rs)
{
    int over = incidents_set_rules(pg->inc, rs, clock_s(pg), now_real_ms());

    if (over)
        log_msg(LOG_WARNING, "spike detection: %d series over the limit of %d are not tracked", over,
                INCIDENT_MAX_SERIES);
}

struct paging *paging_new(struct event_base *base, struct http_client *http, const struct config *cfg,
                          const struct ruleset *rs, alert_sink_fn sink, void *sink_ctx)
{
    struct paging *pg = xcalloc(1, sizeof *pg);
    struct incident_params p;
    char am[4096];
    const char *urls[RECEIVER_COUNT] = {NULL};
    struct timeval tv = ms_to_timeval(TICK_MS);

    pg->base = base;
    pg->cfg = cfg;
    pg->sink = sink;
    pg->sink_ctx = sink_ctx;
    pg->jw = jw_new();
    if (!pg->jw)
        abort();
    params_of(cfg, &p);
    pg->shared = cfg->fleet[0] != '\0';
    pg->who = pg->shared ? cfg->fleet : cfg->name;     /* both restart-only: they outlive reloads */
    pg->inc = incidents_new(pg->who, &p, &incident_cbs, pg);
    incidents_set_shared(pg->inc, pg->shared);
    if (cfg->alertmanager_url[0]) {
        size_t n = strlen(cfg->alertmanager_url);
        while (n && cfg->alertmanager_url[n - 1] == '/')
            n--;
        snprintf(am, sizeof am, "%.*s/api/v2/alerts", (int)n, cfg->alertmanager_url);
        urls[RECEIVER_ALERTMANAGER] = am;
    }
    urls[RECEIVER_PAGERDUTY] = cfg->pagerduty_key ? cfg->pagerduty_url : NULL;
    urls[RECEIVER_WEBHOOK] = cfg->webhook;
    pg->nt = notifier_new(base, http, urls, (long)cfg->notify_timeout, (int)cfg->notify_retries,
                          (size_t)cfg->notify_queue);
    set_rules(pg, rs);
    pg->obs.matched = on_matched;
    pg->obs.viral = on_viral;
    pg->obs.ctx = pg;
    pg->tick = event_new(base, -1, EV_PERSIST, on_tick, pg);
    event_add(pg->tick, &tv);
    pg->last_resend_s = clock_s(pg);
    log_msg(LOG_INFO, "paging: alertmanager %s, pagerduty %s, webhook %s; incidents to queue %s",
            urls[RECEIVER_ALERTMANAGER] ? "on" : "off", urls[RECEIVER_PAGERDUTY] ? "on" : "off",
            urls[RECEIVER_WEBHOOK] ? "on" : "off", cfg->incident_queue);
    return pg;
}

void paging_free(struct paging *pg)
{
    if (!pg)
        return;
    if (pg->tick)
        event_free(pg->tick);
    notifier_free(pg->nt);
    incidents_free(pg->inc);
    jw_free(pg->jw);
    free(pg);
}

void paging_set(struct paging *pg, const struct config *cfg, const struct ruleset *rs)
{
    struct incident_params p;

    /* The receivers were made from the configuration at start: their keys
     * are restart-only (config.c), so the daemon kept them in cfg. */
    pg->cfg = cfg;
    params_of(cfg, &p);
    incidents_set_params(pg->inc, &p, clock_s(pg));
    set_rules(pg, rs);
}

const struct pipeline_observer *paging_observer(struct paging *pg)
{
    return &pg->obs;
}

size_t paging_pending(const struct paging *pg)
{
    return pg ? notifier_pending(pg->nt) : 0;
}

uint64_t paging_open(const struct paging *pg)
{
    return pg ? (uint64_t)incidents_stats(pg->inc)->open : 0;
}

void paging_metrics(const struct paging *pg, struct buf *o)
{
    const struct incident_stats *st = incidents_stats(pg->inc);

    metrics_family(o, "mentiond_incidents_total", "counter", "Incidents opened, by kind");
    for (int k = 0; k < INCIDENT_KINDS; k++)
        metrics_sample(o, "mentiond_incidents_total", (double)st->opened[k], "kind", incident_kind_names[k], NULL);
    metrics_family(o, "mentiond_incident_updates_total", "counter", "Incident reports after the opening, by action");
    metrics_sample(o, "mentiond_incident_updates_total", (double)st->escalated, "action", "escalate", NULL);
    metrics_sample(o, "mentiond_incident_updates_total", (double)st->reopened, "action", "reopen", NULL);
    metrics_sample(o, "mentiond_incident_updates_total", (double)st->resolved, "action", "resolve", NULL);
    metrics_family(o, "mentiond_incidents_open", "gauge", "Incidents open now");
    metrics_sample(o, "mentiond_incidents_open", (double)st->open, NULL);
    metrics_family(o, "mentiond_spike_series", "gauge", "Rate series watched for surges (rules, topics, queues)");
    metrics_sample(o, "mentiond_spike_series", (double)st->series, NULL);
    metrics_family(o, "mentiond_pages_total", "counter", "Pages decided (opening or escalation), by outcome");
    metrics_sample(o, "mentiond_pages_total", (double)st->pages, "outcome", "paged", NULL);
    metrics_sample(o, "mentiond_pages_total", (double)st->suppressed, "outcome", "suppressed", NULL);
    metrics_family(o, "mentiond_viral_refused_total", "counter", "Viral posts not tracked: too many open at once");
    metrics_sample(o, "mentiond_viral_refused_total", (double)st->viral_refused, NULL);
    if (pg->shared) {
        metrics_family(o, "mentiond_fleet_judge", "gauge", "1 while this member judges the fleet's surges and pages");
        metrics_sample(o, "mentiond_fleet_judge", pg->judge, NULL);
        metrics_family(o, "mentiond_incident_reports_left_to_judge_total", "counter",
                       "Incident reports this member made and left to the fleet's judge to record and page");
        metrics_sample(o, "mentiond_incident_reports_left_to_judge_total", (double)pg->silent, NULL);
        metrics_family(o, "mentiond_fleet_counts_dropped_total", "counter",
                       "Per-second series counts not published: too many at once");
        metrics_sample(o, "mentiond_fleet_counts_dropped_total", (double)st->counts_dropped, NULL);
    }
#define PER_RECEIVER(mname, type, help, field)                                                         \
    do {                                                                                               \
        metrics_family(o, mname, type, help);                                                          \
        for (int r_ = 0; r_ < RECEIVER_COUNT; r_++)                                                    \
            if (notifier_enabled(pg->nt, (enum receiver)r_))                                           \
                metrics_sample(o, mname, (double)notifier_stats(pg->nt, (enum receiver)r_)->field,     \
                               "receiver", receiver_names[r_], NULL);                                  \
    } while (0)
    PER_RECEIVER("mentiond_notifications_sent_total", "counter", "Documents delivered to on-call receivers", sent);
    PER_RECEIVER("mentiond_notifications_failed_total", "counter", "Documents given up (final error or retries spent)",
                 failed);
    PER_RECEIVER("mentiond_notification_retries_total", "counter", "Delivery attempts retried", retries);
    PER_RECEIVER("mentiond_notifications_dropped_total", "counter", "Documents dropped: receiver queue full",
                 dropped);
    PER_RECEIVER("mentiond_notifications_queued", "gauge", "Documents waiting or in flight", queued);
#undef PER_RECEIVER
}

void paging_each_state(const struct paging *pg, incident_state_fn fn, void *ctx)
{
    incidents_each_state(pg->inc, fn, ctx);
}

int paging_restore(struct paging *pg, const char *series, const struct spike_state *st)
{
    return incidents_restore(pg->inc, series, st);
}

void paging_set_judge(struct paging *pg, int on)
{
    if (pg->shared && on != pg->judge)
        log_msg(LOG_NOTICE, "paging: %s", on ? "this member judges the fleet's surges and pages for them now"
                                              : "the fleet's surges are judged and paged by another member now");
    pg->judge = on;
}

void paging_take_counts(struct paging *pg, incident_count_fn fn, void *ctx)
{
    incidents_take_counts(pg->inc, now_real_ms() / 1000, fn, ctx);
}

int paging_add_count(struct paging *pg, const char *series, uint64_t s, uint32_t n)
{
    return incidents_add_count(pg->inc, series, s, n);
}

void paging_judge(struct paging *pg, uint64_t s)
{
    incidents_tick(pg->inc, s, now_real_ms());
}
