/* status: the status line and the totals; see status.h. */
#include "status.h"
#include "fleet.h"
#include "level.h"
#include "log.h"
#include "pipeline.h"
#include "redis_sink.h"
#include "rules.h"
#include "running.h"
#include "sdnotify.h"
#include "source.h"
#include "spool.h"

#include <stdio.h>
#include <string.h>

void status_totals(const struct running *r, struct status_totals *t)
{
    const struct redis_stats *rst = redis_sink_stats(r->sink);
    const struct spool *sp = redis_sink_spool(r->sink);

    memset(t, 0, sizeof *t);
    for (int l = 0; l < LEVEL_COUNT; l++) {
        t->enqueued += rst->enqueued[l];
        t->dropped += rst->dropped[l] + rst->dropped_spool[l] + (sp ? spool_stats(sp)->dropped[l] : 0);
    }
    for (int i = 0; i < r->nsrc; i++) {
        struct feed_counts c;
        feed_counts(source_feed(r->src[i]), &c);
        t->records += c.records;
        t->posts += c.posts;
        t->rejected += c.rejected;
        t->sources_up += source_state(r->src[i]) == SOURCE_UP;
    }
}

void status_text(const struct running *r, char *out, size_t len)
{
    int up = 0, n;

    for (int i = 0; i < r->nsrc; i++)
        up += source_state(r->src[i]) == SOURCE_UP;
    n = snprintf(out, len, "%d/%d sources up, %d rules, redis %s", up, r->nsrc, rules_count(r->rs),
                 redis_sink_state(r->sink) == REDIS_UP ? "up" : "down");
    if (r->fleet && n > 0 && (size_t)n < len)
        snprintf(out + n, len - (size_t)n, ", fleet %s: %d of its sources run here, %d members", fleet_name(r->fleet),
                 fleet_owned(r->fleet), fleet_members(r->fleet));
}

void status_log(const struct running *r)
{
    struct status_totals t;
    char status[256];
    uint64_t buffered = redis_sink_buffered(r->sink);

    status_totals(r, &t);
    status_text(r, status, sizeof status);
    log_msg(LOG_INFO, "status: %s; posts %llu, rejected records %llu, matched %llu, alerts enqueued %llu, "
            "buffered %llu, spooled %llu, dropped %llu", status, (unsigned long long)t.posts,
            (unsigned long long)t.rejected, (unsigned long long)pipeline_stats(r->pl)->matched,
            (unsigned long long)t.enqueued, (unsigned long long)buffered,
            (unsigned long long)(redis_sink_pending(r->sink) - buffered), (unsigned long long)t.dropped);
    sdnotify_status(status);
}
