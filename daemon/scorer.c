/* scorer: see scorer.h. */
#include "scorer.h"

#include <math.h>
#include <stdio.h>

/* Score bands per level: a low alert never outranks a normal one by score. */
static const int level_base[LEVEL_COUNT] = {80, 60, 40, 20};
#define REACH_MAX_BONUS 15
#define REACH_MIN_FOLLOWERS 1000

static void add_reason(struct score *s, const char *kind, const char *val)
{
    if (s->nreasons < SCORER_MAX_REASONS)
        snprintf(s->reasons[s->nreasons++], sizeof s->reasons[0], "%s:%s", kind, val);
}

void scorer_score(const struct ruleset *rs, const struct match_ctx *mc, const struct post *p,
                  struct score *out)
{
    int best = -1;

    out->nreasons = 0;
    /* Highest priority wins; ties go to the first rule in load order. */
    for (int i = 0; i < mc->nhits; i++) {
        int r = mc->hits[i].rule;
        if (best < 0 || rs->rules[r].level < rs->rules[best].level)
            best = r;
    }
    out->best_rule = best;
    out->level = best >= 0 ? rs->rules[best].level : LEVEL_LOW;
    out->score = level_base[out->level];
    add_reason(out, "rule", level_names[out->level]);
    /* Reach: +3 per decade of followers from 1,000 (1k: +3 ... 10M+: +15). */
    if (p->author.followers >= REACH_MIN_FOLLOWERS) {
        char v[24];
        int bonus = (int)(3.0 * (log10((double)p->author.followers) - 2.0));
        if (bonus > REACH_MAX_BONUS)
            bonus = REACH_MAX_BONUS;
        out->score += bonus;
        snprintf(v, sizeof v, "%lld", p->author.followers);
        add_reason(out, "reach", v);
    }
    if (p->author.verified) {
        out->score += 4;
        add_reason(out, "verified", "true");
    }
    if (out->score > 100)
        out->score = 100;
}
