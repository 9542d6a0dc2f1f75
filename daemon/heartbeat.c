/* heartbeat: the instance hash; see heartbeat.h. */
#include "heartbeat.h"
#include "config.h"
#include "fleet.h"
#include "ledger.h"
#include "paging.h"
#include "pipeline.h"
#include "redis_sink.h"
#include "rules.h"
#include "running.h"
#include "source.h"
#include "status.h"
#include "store.h"
#include "util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct heartbeat {
    struct store *store;
    running_fn view;
    void *ctx;
    struct event *timer;
    uint64_t sent_ms;                   /* last sent (monotonic); 0: send when up */
    int stopped;
};

/* The completeness ledger: the last post, the lag, the last gap. */
static void add_ledger(struct kvlist *k, const char *n, const struct ledger *l)
{
    const struct ledger_gap *g = ledger_last_gap(l);
    char f[300], t0[40], t1[40];
    uint64_t gaps = 0;

    for (int c = 0; c < GAP_CAUSES; c++)
        gaps += l->gaps_total[c][GAP_FILLED] + l->gaps_total[c][GAP_UNFILLED];
    snprintf(f, sizeof f, "source:%s:last_post", n);
    if (l->last_post_ms)
        format_iso8601_ms(l->last_post_ms, t0, sizeof t0);
    kvlist_add(k, f, "%s", l->last_post_ms ? t0 : "none");
    snprintf(f, sizeof f, "source:%s:lag_ms", n);
    kvlist_add(k, f, "%lld", (long long)l->lag_ms);
    snprintf(f, sizeof f, "source:%s:gaps", n);
    kvlist_add(k, f, "%llu", (unsigned long long)gaps);
    if (!g)
        return;
    format_iso8601_ms(g->start_ms, t0, sizeof t0);
    if (g->end_ms)
        format_iso8601_ms(g->end_ms, t1, sizeof t1);
    snprintf(f, sizeof f, "source:%s:last_gap", n);
    kvlist_add(k, f, "%s %s %s %s", t0, g->end_ms ? t1 : "open", ledger_cause_names[g->cause],
               ledger_fill_names[g->fill]);
}

static void add_sources(const struct running *r, struct kvlist *k)
{
    char f[300];

    for (int i = 0; i < r->nsrc; i++) {
        const char *n = source_conf_of(r->src[i])->name;
        struct feed_counts c;
        feed_counts(source_feed(r->src[i]), &c);
        snprintf(f, sizeof f, "source:%s", n);
        kvlist_add(k, f, "%s", fleet_owns(r->fleet, n) ? source_state_name(source_state(r->src[i])) : "elsewhere");
        snprintf(f, sizeof f, "source:%s:posts", n);
        kvlist_add(k, f, "%llu", (unsigned long long)c.posts);
        snprintf(f, sizeof f, "source:%s:reconnects", n);
        kvlist_add(k, f, "%llu", (unsigned long long)source_stats(r->src[i])->reconnects);
        add_ledger(k, n, source_ledger(r->src[i]));
    }
}

static void add_totals(const struct running *r, struct kvlist *k)
{
    struct status_totals t;
    uint64_t buffered = redis_sink_buffered(r->sink);
    uint64_t builds = r->builds[0][0] + r->builds[0][1] + r->builds[1][0] + r->builds[1][1];

    status_totals(r, &t);
    kvlist_add(k, "rules", "%d", rules_count(r->rs));
    kvlist_add(k, "rules_from_redis", "%d", r->redis_rules);
    kvlist_add(k, "last_reload", "%s", !builds ? "none" : r->last_build_ok ? "applied" : "rejected");
    kvlist_add(k, "sources", "%d", r->nsrc);
    kvlist_add(k, "sources_up", "%d", t.sources_up);
    kvlist_add(k, "records_received", "%llu", (unsigned long long)t.records);
    kvlist_add(k, "posts_decoded", "%llu", (unsigned long long)t.posts);
    kvlist_add(k, "records_rejected", "%llu", (unsigned long long)t.rejected);
    kvlist_add(k, "posts_matched", "%llu", (unsigned long long)pipeline_stats(r->pl)->matched);
    kvlist_add(k, "alerts_enqueued", "%llu", (unsigned long long)t.enqueued);
    kvlist_add(k, "alerts_deduplicated", "%llu", (unsigned long long)redis_sink_stats(r->sink)->duplicates);
    kvlist_add(k, "alerts_buffered", "%llu", (unsigned long long)buffered);
    kvlist_add(k, "alerts_spooled", "%llu", (unsigned long long)(redis_sink_pending(r->sink) - buffered));
    kvlist_add(k, "alerts_dropped", "%llu", (unsigned long long)t.dropped);
    if (r->fleet) {
        const struct fleet_stats *fs = fleet_stats(r->fleet);
        kvlist_add(k, "fleet", "%s", fleet_name(r->fleet));
        kvlist_add(k, "fleet_members", "%d", fleet_members(r->fleet));
        kvlist_add(k, "sources_owned", "%d", fleet_owned(r->fleet));
        kvlist_add(k, "judge", "%d", fleet_judge(r->fleet));
        kvlist_add(k, "leases_gained", "%llu", (unsigned long long)fs->gained);
        kvlist_add(k, "leases_released", "%llu", (unsigned long long)fs->released);
        kvlist_add(k, "leases_lost", "%llu", (unsigned long long)(fs->lost + fs->fenced));
        kvlist_add(k, "takeover_gaps_recovered", "%llu", (unsigned long long)fs->gaps_recovered);
    }
    kvlist_add(k, "incidents_open", "%llu", (unsigned long long)paging_open(r->paging));
}

void heartbeat_send(struct heartbeat *hb, const char *state)
{
    struct running r;
    uint64_t now = now_real_ms();
    long long ttl;
    struct kvlist k = {0};
    char key[512], host[256] = "", at[40];

    if (!hb)
        return;
    hb->view(hb->ctx, &r);
    ttl = r.cfg->heartbeat_interval * 3;
    if (hb->stopped || r.cfg->heartbeat_interval <= 0 || !store_ready(hb->store))
        return;
    gethostname(host, sizeof host - 1);
    kvlist_add(&k, "state", "%s", state);
    kvlist_add(&k, "version", "%s", MENTIOND_VERSION);
    kvlist_add(&k, "host", "%s", host);
    kvlist_add(&k, "pid", "%ld", (long)getpid());
    format_iso8601_ms(r.started_ms, at, sizeof at);
    kvlist_add(&k, "started", "%s", at);
    format_iso8601_ms(now, at, sizeof at);
    kvlist_add(&k, "updated", "%s", at);
    kvlist_add(&k, "uptime_seconds", "%llu", (unsigned long long)((now - r.started_ms) / 1000));
    kvlist_add(&k, "heartbeat_interval", "%lld", r.cfg->heartbeat_interval);
    add_totals(&r, &k);
    add_sources(&r, &k);
    snprintf(key, sizeof key, "%s:instance:%s", r.cfg->key_prefix, r.cfg->name);
    if (store_hash_replace(hb->store, key, (const char *const *)k.f, (const char *const *)k.v, k.n,
                           ttl < 3 ? 3 : ttl) == 0)
        hb->sent_ms = now_mono_ms();
    kvlist_free(&k);
}

/* Every second: due, or Redis just came back (the hash may have expired). */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct heartbeat *hb = arg;
    struct running r;

    (void)fd;
    (void)what;
    if (hb->stopped)
        return;
    hb->view(hb->ctx, &r);
    if (!store_ready(hb->store))
        hb->sent_ms = 0;
    else if (!hb->sent_ms || now_mono_ms() - hb->sent_ms >= (uint64_t)r.cfg->heartbeat_interval * 1000)
        heartbeat_send(hb, r.stopping ? "stopping" : "running");
}

struct heartbeat *heartbeat_new(struct event_base *base, struct store *store, running_fn view, void *ctx)
{
    struct heartbeat *hb = xcalloc(1, sizeof *hb);
    struct timeval tv = ms_to_timeval(1000);

    hb->store = store;
    hb->view = view;
    hb->ctx = ctx;
    if (!(hb->timer = event_new(base, -1, EV_PERSIST, on_tick, hb))) {
        free(hb);
        return NULL;
    }
    evtimer_add(hb->timer, &tv);
    return hb;
}

void heartbeat_stop(struct heartbeat *hb)
{
    if (hb)
        hb->stopped = 1;
}

void heartbeat_free(struct heartbeat *hb)
{
    if (!hb)
        return;
    event_free(hb->timer);
    free(hb);
}
