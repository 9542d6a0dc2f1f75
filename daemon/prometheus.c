/* prometheus: the /metrics page, every family in the Prometheus text
 * format (metrics.c serves it and writes the lines), read from the running
 * parts through running.h.  The README's metrics list names the same. */
#include "prometheus.h"
#include "baseline.h"
#include "fleet.h"
#include "fleet_rates.h"
#include "fleet_shares.h"
#include "impersonation.h"
#include "ledger.h"
#include "level.h"
#include "metrics.h"
#include "paging.h"
#include "pipeline.h"
#include "redis_conn.h"
#include "redis_sink.h"
#include "rules.h"
#include "running.h"
#include "source.h"
#include "spend.h"
#include "spool.h"
#include "xrules.h"
#include "config.h"

#include <stdio.h>

/* Rules beyond this many get one aggregated series, so a 100,000-rule
 * deployment does not flood Prometheus. */
#define METRICS_MAX_RULES 500

/* The completeness ledger's gaps, closed, by cause and whether the source
 * asked for what it missed. */
/* What each x_v2 source with a daily_budget read today. */
static void render_spend(const struct running *r, struct buf *o)
{
    int any = 0;

    for (int i = 0; i < r->nsrc && !any; i++)
        any = source_spend(r->src[i]) != NULL;
    if (!any)
        return;
#define EACH_SPEND(stmt)                                                                     \
    for (int i = 0; i < r->nsrc; i++) {                                                      \
        const struct spend *sp = source_spend(r->src[i]);                                    \
        const char *name = source_conf_of(r->src[i])->name;                                  \
        if (sp) {                                                                            \
            stmt;                                                                            \
        }                                                                                    \
    }
    metrics_family(o, "mentiond_x_posts_read_today", "gauge",
                   "Posts read from X this UTC day, each once (X bills a post read twice in a day once)");
    EACH_SPEND(metrics_sample(o, "mentiond_x_posts_read_today", (double)sp->read, "source", name, NULL));
    metrics_family(o, "mentiond_x_budget_posts", "gauge", "The daily_budget, in posts");
    EACH_SPEND(metrics_sample(o, "mentiond_x_budget_posts", (double)sp->budget, "source", name, NULL));
    metrics_family(o, "mentiond_x_budget_spent", "gauge", "1 once the day's budget is spent (best_effort rules off X)");
    EACH_SPEND(metrics_sample(o, "mentiond_x_budget_spent", (double)sp->spent, "source", name, NULL));
    metrics_family(o, "mentiond_x_rule_posts_read_today", "gauge", "Posts read this UTC day by X rule (its tag)");
    EACH_SPEND(for (int k = 0; k < sp->nrules; k++) metrics_sample(o, "mentiond_x_rule_posts_read_today",
                                                                   (double)sp->rules[k].read, "source", name,
                                                                   "rule", sp->rules[k].name, NULL));
#undef EACH_SPEND
}

/* X's stream rules, for each x_v2 source with manage_rules = on. */
static void render_xrules(const struct running *r, struct buf *o)
{
    const struct xrules_stats *st;

    if (!xrules_stats(r->xrules, 0))
        return;
    metrics_family(o, "mentiond_x_rules_in_force", "gauge", "Our rules in force at X after the last sync");
    for (int i = 0; (st = xrules_stats(r->xrules, i)); i++)
        metrics_sample(o, "mentiond_x_rules_in_force", (double)st->in_force, "source", st->source, NULL);
    metrics_family(o, "mentiond_x_rules_not_pushed", "gauge",
                   "Our rules X does not get: not expressible, over the account's limits, or refused by X");
    for (int i = 0; (st = xrules_stats(r->xrules, i)); i++)
        metrics_sample(o, "mentiond_x_rules_not_pushed", (double)st->refused, "source", st->source, NULL);
    metrics_family(o, "mentiond_x_rules_changes_total", "counter", "Rules added to or deleted from X");
    for (int i = 0; (st = xrules_stats(r->xrules, i)); i++) {
        metrics_sample(o, "mentiond_x_rules_changes_total", (double)st->added, "source", st->source, "change",
                       "added", NULL);
        metrics_sample(o, "mentiond_x_rules_changes_total", (double)st->deleted, "source", st->source, "change",
                       "deleted", NULL);
    }
    metrics_family(o, "mentiond_x_rules_sync_errors_total", "counter", "Requests to X's rules endpoint that failed");
    for (int i = 0; (st = xrules_stats(r->xrules, i)); i++)
        metrics_sample(o, "mentiond_x_rules_sync_errors_total", (double)st->errors, "source", st->source, NULL);
}

static void render_gaps(const struct running *r, struct buf *o)
{
    metrics_family(o, "mentiond_source_gaps_total", "counter",
                   "Gaps in what a source brought, by cause, filled (the source asked for the missed posts: "
                   "backfill, cursor, poll) or unfilled");
    for (int i = 0; i < r->nsrc; i++) {
        const struct ledger *l = source_ledger(r->src[i]);
        for (int c = 0; c < GAP_CAUSES; c++)
            for (int f = GAP_FILLED; f < GAP_FILLS; f++)
                metrics_sample(o, "mentiond_source_gaps_total", (double)l->gaps_total[c][f], "source",
                               source_conf_of(r->src[i])->name, "cause", ledger_cause_names[c], "filled",
                               f == GAP_FILLED ? "yes" : "no", NULL);
    }
    metrics_family(o, "mentiond_source_gap_seconds_total", "counter",
                   "Seconds of closed gaps, from the last post before to the connection up again");
    for (int i = 0; i < r->nsrc; i++) {
        const struct ledger *l = source_ledger(r->src[i]);
        for (int f = GAP_FILLED; f < GAP_FILLS; f++)
            metrics_sample(o, "mentiond_source_gap_seconds_total", (double)l->gap_ms_total[f] / 1000.0, "source",
                           source_conf_of(r->src[i])->name, "filled", f == GAP_FILLED ? "yes" : "no", NULL);
    }
}

static void render_sources(const struct running *r, struct buf *o)
{
#define PER_SOURCE(mname, type, help, expr)                                                       \
    do {                                                                                          \
        metrics_family(o, mname, type, help);                                                     \
        for (int i = 0; i < r->nsrc; i++) {                                                       \
            const struct source *s_ = r->src[i];                                                  \
            const struct source_stats *ss_ = source_stats(s_);                                    \
            struct feed_counts c_;                                                                \
            feed_counts(source_feed(s_), &c_);                                                    \
            (void)ss_;                                                                            \
            metrics_sample(o, mname, (double)(expr), "source", source_conf_of(s_)->name, NULL);   \
        }                                                                                         \
    } while (0)
    PER_SOURCE("mentiond_source_up", "gauge", "1 while the source is connected (or a file is read)",
               source_state(s_) == SOURCE_UP);
    PER_SOURCE("mentiond_source_polling", "gauge",
               "1 while the source polls its timeline because the instance does not stream it (Mastodon)",
               source_polling(s_));
    PER_SOURCE("mentiond_source_down_seconds", "gauge",
               "Seconds the source has been trying to (re)connect, across attempts (0 while up or done)",
               (double)(source_down_ms(s_) / 1000));
    PER_SOURCE("mentiond_source_bytes_total", "counter", "Bytes received", c_.bytes);
    PER_SOURCE("mentiond_posts_received_total", "counter", "Records framed", c_.records);
    PER_SOURCE("mentiond_posts_decoded_total", "counter", "Posts decoded", c_.posts);
    PER_SOURCE("mentiond_keepalives_total", "counter", "Keep-alive lines received", c_.keepalives);
    PER_SOURCE("mentiond_control_messages_total", "counter", "In-stream control messages (errors, notices)",
               c_.control);
    PER_SOURCE("mentiond_source_connects_total", "counter", "Successful connections", ss_->connects);
    PER_SOURCE("mentiond_source_reconnects_total", "counter", "Connection attempts after the first",
               ss_->reconnects);
    PER_SOURCE("mentiond_source_stalls_total", "counter", "Connections dropped as stalled", ss_->stalls);
    PER_SOURCE("mentiond_source_http_errors_total", "counter", "HTTP error responses", ss_->http_errors);
    PER_SOURCE("mentiond_source_network_errors_total", "counter", "Network errors", ss_->network_errors);
    PER_SOURCE("mentiond_source_last_post_timestamp_seconds", "gauge",
               "Wall clock of the last post the source brought (0: none yet)",
               (double)source_ledger(s_)->last_post_ms / 1000.0);
    PER_SOURCE("mentiond_source_lag_seconds", "gauge",
               "The last post's arrival less its own time (created_at): how far behind the source it runs",
               (double)source_ledger(s_)->lag_ms / 1000.0);
    PER_SOURCE("mentiond_source_rate_posts_per_second", "gauge",
               "The rate the source usually brings posts at, learnt while up (5-minute memory)",
               source_ledger(s_)->rate);
    PER_SOURCE("mentiond_source_quiet_total", "counter",
               "Connections reconnected as quiet: open, no post for quiet_timeout while the rate said otherwise",
               source_ledger(s_)->quiet);
    PER_SOURCE("mentiond_source_gap_open", "gauge", "1 while a gap is open (the source is not bringing posts)",
               source_ledger(s_)->open);
#undef PER_SOURCE
    render_gaps(r, o);
    render_xrules(r, o);
    render_spend(r, o);
    metrics_family(o, "mentiond_records_rejected_total", "counter", "Records skipped, by reason");
    for (int i = 0; i < r->nsrc; i++) {
        const char *n = source_conf_of(r->src[i])->name;
        struct feed_counts c;
        feed_counts(source_feed(r->src[i]), &c);
        metrics_sample(o, "mentiond_records_rejected_total", (double)c.malformed, "source", n, "reason", "malformed", NULL);
        metrics_sample(o, "mentiond_records_rejected_total", (double)c.oversized, "source", n, "reason", "oversized", NULL);
        metrics_sample(o, "mentiond_records_rejected_total", (double)c.truncated, "source", n, "reason", "truncated", NULL);
        metrics_sample(o, "mentiond_records_rejected_total", (double)c.not_a_post, "source", n, "reason", "not_a_post", NULL);
        metrics_sample(o, "mentiond_records_rejected_total", (double)c.bad_length, "source", n, "reason", "bad_length", NULL);
    }
}

/* A fleet's share counts, and the alerts its marks kept out. */
static void render_fleet_shares(const struct running *r, struct buf *o)
{
    const struct fleet_shares_stats *ss = fleet_shares_stats(r->shares);
    const struct redis_stats *rs = redis_sink_stats(r->sink);

    metrics_family(o, "mentiond_fleet_shares_total", "counter",
                   "Shares (retweets, quotes, replies) read here and sent to the fleet's counts: of posts some "
                   "member alerted, of others (not kept), or dropped (over 2048 posts a second, or Redis went "
                   "before it answered)");
    metrics_sample(o, "mentiond_fleet_shares_total", (double)ss->of_alerted, "result", "alerted", NULL);
    metrics_sample(o, "mentiond_fleet_shares_total", (double)(ss->sent - ss->of_alerted), "result", "other", NULL);
    metrics_sample(o, "mentiond_fleet_shares_total", (double)ss->dropped, "result", "dropped", NULL);
    metrics_family(o, "mentiond_fleet_share_batches_failed_total", "counter",
                   "Seconds of share counts Redis refused or did not answer");
    metrics_sample(o, "mentiond_fleet_share_batches_failed_total", (double)ss->batches_failed, NULL);
    metrics_family(o, "mentiond_fleet_viral_total", "counter",
                   "Posts whose shares this member's count took to viral_shares (it reports them)");
    metrics_sample(o, "mentiond_fleet_viral_total", (double)ss->viral, NULL);
    metrics_family(o, "mentiond_fleet_alerts_not_pushed_total", "counter",
                   "Alerts the fleet's marks kept out of the queues: retweets of a post a member alerted "
                   "(folded), posts another member alerted from another source (duplicate)");
    metrics_sample(o, "mentiond_fleet_alerts_not_pushed_total", (double)rs->fleet_marked[0], "reason", "folded",
                   NULL);
    metrics_sample(o, "mentiond_fleet_alerts_not_pushed_total", (double)rs->fleet_marked[1], "reason",
                   "duplicate", NULL);
}

/* Only in a fleet: who runs what, and how leases moved. */
static void render_fleet(const struct running *r, struct buf *o)
{
    const struct fleet_stats *fs = fleet_stats(r->fleet);

    if (!r->fleet)
        return;
    metrics_family(o, "mentiond_fleet_members", "gauge", "Live members of the fleet, as Redis last said");
    metrics_sample(o, "mentiond_fleet_members", fleet_members(r->fleet), "fleet", fleet_name(r->fleet), NULL);
    metrics_family(o, "mentiond_fleet_members_with_other_sources", "gauge",
                   "Members whose [source] sections differ from this one's (a source some lack may run nowhere)");
    metrics_sample(o, "mentiond_fleet_members_with_other_sources", fleet_odd_members(r->fleet), NULL);
    metrics_family(o, "mentiond_source_owned", "gauge", "1 while this member holds the source's lease and runs it");
    for (int i = 0; i < r->nsrc; i++) {
        const char *n = source_conf_of(r->src[i])->name;
        metrics_sample(o, "mentiond_source_owned", fleet_owns(r->fleet, n), "source", n, NULL);
    }
    metrics_family(o, "mentiond_fleet_leases_total", "counter",
                   "Source leases gained, released (a join moved it, or a stop), lost (held elsewhere) "
                   "or fenced (stopped: not renewed in time)");
    metrics_sample(o, "mentiond_fleet_leases_total", (double)fs->gained, "event", "gained", NULL);
    metrics_sample(o, "mentiond_fleet_leases_total", (double)fs->released, "event", "released", NULL);
    metrics_sample(o, "mentiond_fleet_leases_total", (double)fs->lost, "event", "lost", NULL);
    metrics_sample(o, "mentiond_fleet_leases_total", (double)fs->fenced, "event", "fenced", NULL);
    metrics_family(o, "mentiond_fleet_takeover_gaps_total", "counter",
                   "Sources taken over from a member that stopped renewing, by whether the source asks for "
                   "the posts of the gap (recovered) or cannot");
    metrics_sample(o, "mentiond_fleet_takeover_gaps_total", (double)fs->gaps_recovered, "recovered", "yes", NULL);
    metrics_sample(o, "mentiond_fleet_takeover_gaps_total", (double)fs->gaps_open, "recovered", "no", NULL);
    metrics_family(o, "mentiond_fleet_lease_errors_total", "counter",
                   "Lease scripts refused by Redis or left unanswered (the connection went)");
    metrics_sample(o, "mentiond_fleet_lease_errors_total", (double)fs->ticks_failed, NULL);
    metrics_family(o, "mentiond_fleet_rate_seconds_total", "counter",
                   "Seconds of the fleet's surge counts: read and judged, or missed (Redis away longer than "
                   "they are kept)");
    metrics_sample(o, "mentiond_fleet_rate_seconds_total", (double)fleet_rates_stats(r->rates)->seconds_read,
                   "result", "read", NULL);
    metrics_sample(o, "mentiond_fleet_rate_seconds_total", (double)fleet_rates_stats(r->rates)->seconds_missed,
                   "result", "missed", NULL);
    metrics_family(o, "mentiond_fleet_records_rejected_total", "counter",
                   "Read from the fleet's keys and refused: a member name over 200 bytes or past 256 members, "
                   "a second's count that is not a number or past the cap");
    metrics_sample(o, "mentiond_fleet_records_rejected_total",
                   (double)(fs->members_rejected + fleet_rates_stats(r->rates)->fields_rejected), NULL);
    metrics_family(o, "mentiond_fleet_rate_publish_failed_total", "counter",
                   "Seconds of this member's surge counts not written to Redis (away)");
    metrics_sample(o, "mentiond_fleet_rate_publish_failed_total",
                   (double)fleet_rates_stats(r->rates)->publish_failed, NULL);
    render_fleet_shares(r, o);
}

static void node_state(void *ctx, const char *address, int primary, int up)
{
    (void)primary;
    metrics_sample(ctx, "mentiond_redis_node_state", up, "node", address, NULL);
}

/* Only with [redis] cluster = on: its nodes and the redirects followed. */
static void render_cluster(const struct running *r, struct buf *o)
{
    const struct redis_cluster_stats *cs = redis_conn_cluster_stats(r->redis);

    if (!cs)
        return;
    metrics_family(o, "mentiond_redis_cluster_primaries", "gauge", "Primaries in the cluster's map as last read");
    metrics_sample(o, "mentiond_redis_cluster_primaries", cs->primaries, NULL);
    metrics_family(o, "mentiond_redis_node_state", "gauge",
                   "1 while connected to the cluster node (its primaries, and the seeds)");
    redis_conn_each_node(r->redis, node_state, o);
    metrics_family(o, "mentiond_redis_cluster_redirects_total", "counter",
                   "Replies that sent a command elsewhere or again: MOVED, ASK, TRYAGAIN, CLUSTERDOWN");
    metrics_sample(o, "mentiond_redis_cluster_redirects_total", (double)cs->moved, "kind", "moved", NULL);
    metrics_sample(o, "mentiond_redis_cluster_redirects_total", (double)cs->ask, "kind", "ask", NULL);
    metrics_sample(o, "mentiond_redis_cluster_redirects_total", (double)cs->tryagain, "kind", "tryagain", NULL);
    metrics_sample(o, "mentiond_redis_cluster_redirects_total", (double)cs->clusterdown, "kind", "clusterdown",
                   NULL);
    metrics_family(o, "mentiond_redis_cluster_map_reads_total", "counter",
                   "Reads of the cluster's slot map (CLUSTER SHARDS or SLOTS), by result");
    metrics_sample(o, "mentiond_redis_cluster_map_reads_total", (double)cs->map_reads, "result", "ok", NULL);
    metrics_sample(o, "mentiond_redis_cluster_map_reads_total", (double)cs->map_failures, "result", "failed", NULL);
    metrics_family(o, "mentiond_redis_cluster_held_expired_total", "counter",
                   "Commands held behind a redirect or for a slot without a primary past command_timeout_ms");
    metrics_sample(o, "mentiond_redis_cluster_held_expired_total", (double)cs->held_expired, NULL);
}

/* One family with a sample per priority level. */
static void render_levels(struct buf *o, const char *name, const char *type, const char *help,
                          const uint64_t v[LEVEL_COUNT])
{
    metrics_family(o, name, type, help);
    for (int l = 0; l < LEVEL_COUNT; l++)
        metrics_sample(o, name, (double)v[l], "level", level_names[l], NULL);
}

static void render_spool(struct buf *o, const struct spool *sp)
{
    const struct spool_stats *st;
    uint64_t unread[LEVEL_COUNT];

    if (!sp)
        return;
    st = spool_stats(sp);
    for (int l = 0; l < LEVEL_COUNT; l++)
        unread[l] = spool_unread(sp, l);
    metrics_family(o, "mentiond_spool_bytes", "gauge", "Bytes in the spool directory's segments");
    metrics_sample(o, "mentiond_spool_bytes", (double)spool_bytes(sp), NULL);
    render_levels(o, "mentiond_spool_alerts", "gauge", "Alerts waiting on disk to be sent, by level", unread);
    render_levels(o, "mentiond_alerts_spooled_total", "counter", "Alerts written to the spool, by level",
                  st->written);
    render_levels(o, "mentiond_spool_replayed_total", "counter", "Alerts read back from the spool, by level",
                  st->read);
    metrics_family(o, "mentiond_spool_recovered", "gauge", "Alerts found in the spool at start (an earlier run's)");
    metrics_sample(o, "mentiond_spool_recovered", (double)st->recovered, NULL);
    metrics_family(o, "mentiond_spool_withdrawn_total", "counter",
                   "Spool records blanked on disk because their post was deleted (their text gone)");
    metrics_sample(o, "mentiond_spool_withdrawn_total", (double)st->withdrawn, NULL);
    metrics_family(o, "mentiond_spool_corrupt_records_total", "counter", "Spool records skipped: bad checksum or torn");
    metrics_sample(o, "mentiond_spool_corrupt_records_total", (double)st->corrupt, NULL);
    metrics_family(o, "mentiond_spool_write_errors_total", "counter", "Spool writes that failed");
    metrics_sample(o, "mentiond_spool_write_errors_total", (double)st->write_errors, NULL);
}

/* Per queue and level; queues with no alert yet show nothing. */
static void render_enqueued(const struct running *r, struct buf *o)
{
    char *const *names;
    const uint64_t(*counts)[LEVEL_COUNT];
    int n = redis_sink_queue_counts(r->sink, &names, &counts);

    metrics_family(o, "mentiond_alerts_enqueued_total", "counter",
                   "Alerts acknowledged by Redis, by queue (the first 200 by name, then _other) and level");
    for (int i = 0; i < n; i++)
        for (int l = 0; l < LEVEL_COUNT; l++)
            metrics_sample(o, "mentiond_alerts_enqueued_total", (double)counts[i][l], "queue", names[i], "level",
                           level_names[l], NULL);
}

/* The running state's families; what each counts is in its help text. */
static void render_builds(const struct running *r, struct buf *o)
{
    metrics_family(o, "mentiond_reloads_total", "counter",
                   "Configuration and rule builds, by trigger (SIGHUP or the Redis rules hash) and result");
    for (int k = 0; k < 2; k++)
        for (int ok = 0; ok < 2; ok++)
            metrics_sample(o, "mentiond_reloads_total", (double)r->builds[k][ok], "trigger",
                           k == BUILD_SIGHUP ? "sighup" : "redis", "result", ok ? "applied" : "rejected", NULL);
    metrics_family(o, "mentiond_config_last_reload_successful", "gauge",
                   "1 unless the last reload or Redis rules build was rejected");
    metrics_sample(o, "mentiond_config_last_reload_successful",
                   r->builds[0][0] + r->builds[1][0] == 0 || r->last_build_ok, NULL);
    metrics_family(o, "mentiond_config_last_reload_success_timestamp_seconds", "gauge",
                   "When the running configuration and rules were applied (the start, or the last reload)");
    metrics_sample(o, "mentiond_config_last_reload_success_timestamp_seconds",
                   (double)((r->last_build_ok_ms ? r->last_build_ok_ms : r->started_ms) / 1000), NULL);
}

static void render_rules(const struct running *r, struct buf *o)
{
    int n = rules_count(r->rs);
    uint64_t other = 0;

    metrics_family(o, "mentiond_rules", "gauge", "Rules loaded");
    metrics_sample(o, "mentiond_rules", n, NULL);
    metrics_family(o, "mentiond_rule_matches_total", "counter",
                   "Posts matched, per rule (rules beyond the first 500 aggregated as _other)");
    for (int i = 0; i < n; i++) {
        if (i < METRICS_MAX_RULES)
            metrics_sample(o, "mentiond_rule_matches_total", (double)pipeline_rule_matches(r->pl, i), "rule",
                           rules_name(r->rs, i), NULL);
        else
            other += pipeline_rule_matches(r->pl, i);
    }
    if (n > METRICS_MAX_RULES)
        metrics_sample(o, "mentiond_rule_matches_total", (double)other, "rule", "_other", NULL);
}

void prometheus_render(const struct running *r, struct buf *o)
{
    const struct redis_stats *rs = redis_sink_stats(r->sink);
    const struct spool *sp = redis_sink_spool(r->sink);
    const struct pipeline_stats *ps = pipeline_stats(r->pl);
    uint64_t cum = 0;

    metrics_family(o, "mentiond_build_info", "gauge", "Version and instance");
    metrics_sample(o, "mentiond_build_info", 1, "version", MENTIOND_VERSION, "instance", r->cfg->name, NULL);
    metrics_family(o, "mentiond_start_time_seconds", "gauge", "Start time, seconds since the epoch");
    metrics_sample(o, "mentiond_start_time_seconds", (double)(r->started_ms / 1000), NULL);
    render_sources(r, o);
    render_fleet(r, o);
    render_builds(r, o);
    render_rules(r, o);
    metrics_family(o, "mentiond_worker_threads", "gauge", "Decode-and-match threads ([daemon] workers; 0: the loop)");
    metrics_sample(o, "mentiond_worker_threads", (double)pipeline_worker_count(r->pl), NULL);
    metrics_family(o, "mentiond_worker_batches_pending", "gauge",
                   "Batches of records handed to the worker threads and not yet through the pipeline");
    metrics_sample(o, "mentiond_worker_batches_pending", (double)pipeline_pending(r->pl), NULL);
#define PIPE(mname, help, v)                            \
    do {                                                \
        metrics_family(o, mname, "counter", help);      \
        metrics_sample(o, mname, (double)(v), NULL);    \
    } while (0)
    PIPE("mentiond_posts_matched_total", "Posts that matched at least one rule", ps->matched);
    PIPE("mentiond_posts_unmatched_total", "Posts looked at that matched no rule", ps->unmatched);
    PIPE("mentiond_posts_duplicate_total", "The same post again within dedup_window: no alert", ps->duplicates);
    PIPE("mentiond_shares_folded_total", "Retweets of an alerted post, counted as its shares", ps->shares_folded);
    PIPE("mentiond_own_posts_total", "Posts of own_handles (not mentions)", ps->own_posts);
    PIPE("mentiond_canned_replies_total", "canned_reply alerts raised", ps->canned_replies);
    PIPE("mentiond_pii_masked_total", "Alerts whose text had numbers masked", ps->pii_masked);
    PIPE("mentiond_text_controls_replaced_total",
         "Control characters (NUL and C0 but tab and newline) in posts, replaced by U+FFFD before matching",
         ps->controls_replaced);
    PIPE("mentiond_alerts_deduplicated_total", "Alerts Redis already had (seen key): not pushed", rs->duplicates);
    PIPE("mentiond_redis_requeued_total", "Alerts sent again after a lost or refused command", rs->requeued);
    PIPE("mentiond_post_deletions_total", "Deletion notices from the sources", ps->deletions);
    PIPE("mentiond_alerts_withdrawn_total", "Alerts not sent because their post was deleted first", rs->withdrawn);
    PIPE("mentiond_deleted_records_total", "\"deleted\" records pushed after an alert already sent",
         rs->deletions_pushed);
    PIPE("mentiond_redis_errors_total", "Error replies from Redis", rs->errors);
    PIPE("mentiond_redis_timeouts_total", "Connect or command deadlines hit", rs->timeouts);
    PIPE("mentiond_redis_connects_total", "Connections to Redis", rs->connects);
#undef PIPE
    metrics_family(o, "mentiond_impersonation_alerts_total", "counter",
                   "Impersonation alerts (look-alikes of own_handles), by each reason they gave");
    for (int i = 0; i < IMP_R_COUNT; i++)
        metrics_sample(o, "mentiond_impersonation_alerts_total", (double)ps->impersonation[i], "reason",
                       imp_reason_names[i], NULL);
    metrics_family(o, "mentiond_alerts_dropped_total", "counter", "Alerts dropped, by reason and level");
    metrics_sample(o, "mentiond_alerts_dropped_total", (double)(ps->encode_failed + ps->bad_text), "reason",
                   "unencodable", "level", "any", NULL);
    metrics_sample(o, "mentiond_alerts_dropped_total", (double)ps->nomem, "reason", "out_of_memory", "level",
                   "any", NULL);
    for (int l = 0; l < LEVEL_COUNT; l++) {
        metrics_sample(o, "mentiond_alerts_dropped_total", (double)rs->dropped[l], "reason", "buffer_full",
                       "level", level_names[l], NULL);
        metrics_sample(o, "mentiond_alerts_dropped_total",
                       (double)(rs->dropped_spool[l] + (sp ? spool_stats(sp)->dropped[l] : 0)), "reason",
                       "spool_full", "level", level_names[l], NULL);
    }
    render_levels(o, "mentiond_alerts_trimmed_total", "counter",
                  "Alerts removed from a Redis queue by max_queue_length (least urgent first), by level", rs->trimmed);
    render_spool(o, sp);
    paging_metrics(r->paging, o);
    metrics_family(o, "mentiond_spike_baselines_rejected_total", "counter",
                   "Saved surge baselines refused at start: not a baseline, or more than can be tracked");
    metrics_sample(o, "mentiond_spike_baselines_rejected_total", (double)baselines_rejected(r->baselines), NULL);
    metrics_family(o, "mentiond_viral_posts_total", "counter", "Alerted posts whose shares reached viral_shares");
    metrics_sample(o, "mentiond_viral_posts_total", (double)ps->viral, NULL);
    metrics_family(o, "mentiond_redis_state_changes_total", "counter", "Redis connection state changes");
    metrics_sample(o, "mentiond_redis_state_changes_total", (double)rs->went_up, "to", "up", NULL);
    metrics_sample(o, "mentiond_redis_state_changes_total", (double)rs->went_down, "to", "down", NULL);
    render_enqueued(r, o);
    metrics_family(o, "mentiond_alerts_buffered", "gauge", "Alerts held in memory (buffered or in flight)");
    metrics_sample(o, "mentiond_alerts_buffered", (double)redis_sink_buffered(r->sink), NULL);
    metrics_family(o, "mentiond_redis_up", "gauge", "1 while connected to Redis");
    metrics_sample(o, "mentiond_redis_up", redis_sink_state(r->sink) == REDIS_UP, NULL);
    render_cluster(r, o);
    metrics_family(o, "mentiond_alert_latency_seconds", "histogram",
                   "From a post's arrival to Redis acknowledging its alert");
    for (int b = 0; b <= REDIS_LATENCY_BUCKETS; b++) {
        char le[32];
        cum += rs->latency_hist[b];
        if (b < REDIS_LATENCY_BUCKETS)
            snprintf(le, sizeof le, "%g", redis_latency_bounds[b]);
        else
            snprintf(le, sizeof le, "+Inf");
        metrics_sample(o, "mentiond_alert_latency_seconds_bucket", (double)cum, "le", le, NULL);
    }
    metrics_sample(o, "mentiond_alert_latency_seconds_sum", (double)rs->latency_us_sum / 1e6, NULL);
    metrics_sample(o, "mentiond_alert_latency_seconds_count", (double)rs->latency_count, NULL);
}
