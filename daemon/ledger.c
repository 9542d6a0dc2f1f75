/* ledger: a source's completeness ledger; see ledger.h. */
#include "ledger.h"

#include <string.h>

const char *const ledger_cause_names[GAP_CAUSES] = {"reconnect", "stall", "quiet", "operational",
                                                        "cursor_too_old", "cursor_jump", "backfill_partial",
                                                        "backfill_refused"};
const char *const ledger_fill_names[GAP_FILLS] = {"open", "filled", "unfilled"};

/* 10 s buckets, 5 minutes of memory: each bucket weighs 1/30. */
#define RATE_WEIGHT (1.0 / 30.0)

void ledger_init(struct ledger *l)
{
    memset(l, 0, sizeof *l);
}

void ledger_post(struct ledger *l, uint64_t now_ms, uint32_t n, uint64_t created_ms)
{
    l->last_post_ms = now_ms;
    if (created_ms) {
        l->last_created_ms = created_ms;
        l->lag_ms = (int64_t)now_ms - (int64_t)created_ms;
    }
    l->bucket_posts += n;
}

void ledger_tick(struct ledger *l, uint64_t now_ms, int up)
{
    if (!up) {
        /* what a broken connection did not bring says nothing of the rate */
        l->bucket_start_ms = 0;
        l->bucket_posts = 0;
        return;
    }
    if (!l->bucket_start_ms) {
        l->bucket_start_ms = now_ms;
        l->bucket_posts = 0;
        return;
    }
    while (now_ms - l->bucket_start_ms >= LEDGER_BUCKET_MS) {
        double r = l->bucket_posts / (LEDGER_BUCKET_MS / 1000.0);
        l->rate = l->learnt ? l->rate + RATE_WEIGHT * (r - l->rate) : r;
        l->learnt++;
        l->bucket_posts = 0;
        l->bucket_start_ms += LEDGER_BUCKET_MS;
    }
}

int ledger_quiet(const struct ledger *l, uint64_t now_ms, uint64_t up_since_ms, uint64_t quiet_ms)
{
    uint64_t since = l->last_post_ms > up_since_ms ? l->last_post_ms : up_since_ms;

    if (!quiet_ms || !l->learnt || now_ms < since || now_ms - since < quiet_ms)
        return 0;
    return l->rate * ((double)quiet_ms / 1000.0) >= LEDGER_QUIET_MIN_EXPECTED;
}

void ledger_gap_open(struct ledger *l, uint64_t now_ms, enum ledger_cause cause)
{
    struct ledger_gap *g;

    if (l->open)
        return;
    l->head = (l->head + 1) % LEDGER_GAPS;
    if (l->ngaps < LEDGER_GAPS)
        l->ngaps++;
    g = &l->gaps[l->head];
    g->start_ms = l->last_post_ms && l->last_post_ms <= now_ms ? l->last_post_ms : now_ms;
    g->end_ms = 0;
    g->cause = cause;
    g->fill = GAP_OPEN;
    l->open = 1;
    if (cause == GAP_QUIET)
        l->quiet++;
}

void ledger_gap_close(struct ledger *l, uint64_t now_ms, int filled)
{
    struct ledger_gap *g = &l->gaps[l->head];

    if (!l->open)
        return;
    g->end_ms = now_ms > g->start_ms ? now_ms : g->start_ms;
    g->fill = filled && !l->open_lost ? GAP_FILLED : GAP_UNFILLED;
    l->gaps_total[g->cause][g->fill]++;
    l->gap_ms_total[g->fill] += g->end_ms - g->start_ms;
    l->open = 0;
    l->open_lost = 0;
}

void ledger_gap_lost(struct ledger *l, uint64_t now_ms, uint64_t since_ms, enum ledger_cause cause)
{
    struct ledger_gap *g = &l->gaps[l->head];

    if (l->open) {
        g->cause = cause;
        l->open_lost = 1;
        return;
    }
    if (l->ngaps && g->end_ms >= since_ms) {
        /* counted when it closed: counted again as what it turned out to be */
        l->gaps_total[g->cause][g->fill]--;
        l->gap_ms_total[g->fill] -= g->end_ms - g->start_ms;
        g->cause = cause;
        g->fill = GAP_UNFILLED;
        l->gaps_total[g->cause][g->fill]++;
        l->gap_ms_total[g->fill] += g->end_ms - g->start_ms;
        return;
    }
    ledger_gap_open(l, now_ms, cause);
    ledger_gap_close(l, now_ms, 0);
}

const struct ledger_gap *ledger_last_gap(const struct ledger *l)
{
    return l->ngaps ? &l->gaps[l->head] : NULL;
}
