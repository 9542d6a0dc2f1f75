/* scorer: see scorer.h and README "Priority". */
#include "scorer.h"
#include "pii.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Score bands per level: [base, base + 19]. */
static const int level_base[LEVEL_COUNT] = {80, 60, 40, 20};
#define BAND 19

static void add_reason(struct score *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void add_reason(struct score *s, const char *fmt, ...)
{
    va_list ap;

    if (s->nreasons >= SCORER_MAX_REASONS)
        return;
    va_start(ap, fmt);
    vsnprintf(s->reasons[s->nreasons++], sizeof s->reasons[0], fmt, ap);
    va_end(ap);
}

static void raise_to(struct score *s, int level)
{
    if (level < s->level)
        s->level = level;
}

/* Whether term a's tokens stand, in order and adjacent, inside term b's
 * ("nere" inside "banken ligger nere"): one urgency, not two. */
static int term_within(const struct qterm *a, const struct qterm *b)
{
    if (!a->ntoks || b->ntoks <= a->ntoks)
        return 0;
    for (int s = 0; s + a->ntoks <= b->ntoks; s++) {
        int k = 0;
        while (k < a->ntoks && strcmp(a->toks[k], b->toks[s + k]) == 0)
            k++;
        if (k == a->ntoks)
            return 1;
    }
    return 0;
}

#define LEXICON_HITS_MAX 64             /* terms of one list looked at per post */

/* Words of one lexicon found in the post: up to max, each a reason; a term
 * inside a longer one that also matched counts with it, not again. */
static int lexicon_terms(const struct ruleset *lex, const struct match_ctx *lexmc, const char *list,
                         const char *kind, int max, struct score *out)
{
    int found = 0;

    if (!lex || !lexmc)
        return 0;
    for (int i = 0; i < lexmc->nhits && found < max; i++) {
        const struct rule *r = &lex->rules[lexmc->hits[i].rule];
        int hit[LEXICON_HITS_MAX], nhit = 0;
        if (strcmp(r->name, list) != 0)
            continue;
        for (int t = 0; t < r->q->nterms && nhit < LEXICON_HITS_MAX; t++)
            if (matcher_term_hit(lexmc, r, t))
                hit[nhit++] = t;
        for (int h = 0; h < nhit && found < max; h++) {
            int inside = 0;
            for (int o = 0; o < nhit && !inside; o++)
                inside = o != h && term_within(&r->q->terms[hit[h]], &r->q->terms[hit[o]]);
            if (inside)
                continue;
            add_reason(out, "%s:%s", kind, r->q->terms[hit[h]].raw);    /* as the list has it */
            found++;
        }
    }
    return found;
}

void scorer_score(const struct config *cfg, const struct ruleset *rs, const struct match_ctx *mc,
                  const struct match_ctx *lexmc, const struct post *p, const struct score_input *in,
                  struct score *out)
{
    int best = -1, points = 0, passed = 0, urgent;

    out->nreasons = 0;
    /* Highest priority wins; ties go to the first rule in load order. */
    for (int i = 0; i < mc->nhits; i++) {
        int r = mc->hits[i].rule;
        if (best < 0 || rs->rules[r].level < rs->rules[best].level)
            best = r;
    }
    out->best_rule = best;
    out->level = best >= 0 ? rs->rules[best].level : LEVEL_LOW;
    add_reason(out, "rule:%s", level_names[out->level]);

    /* A retweet carries the original author's complaint to the
     * retweeter's followers; the complaint's own author is the customer,
     * so the reach counted is theirs (and the reason says whose). */
    int theirs = p->is_retweet && p->referenced_followers >= 0;
    long long followers = theirs ? p->referenced_followers : p->author.followers;

    for (int i = 0; i < cfg->nreach; i++)
        passed += followers >= cfg->reach[i];
    if (passed) {
        points += passed * (int)cfg->reach_points;
        if (theirs)
            add_reason(out, "reach:%lld:@%s", followers, p->referenced_author ? p->referenced_author : "?");
        else
            add_reason(out, "reach:%lld", followers);
    }
    if (p->author.verified) {
        points += (int)cfg->verified_points;
        add_reason(out, "verified");
    }
    urgent = lexicon_terms(rs->lex, lexmc, LEXICON_URGENCY, "urgency", (int)cfg->terms_max, out);
    points += urgent * (int)cfg->urgency_points;
    points += lexicon_terms(rs->lex, lexmc, LEXICON_NEGATIVE, "sentiment", (int)cfg->terms_max, out) *
              (int)cfg->negative_points;
    if (urgent && followers >= cfg->urgency_escalate_followers)
        raise_to(out, LEVEL_HIGH);
    for (int k = 0; k < PII_COUNT; k++)
        if (in->pii & (1 << k)) {
            add_reason(out, "pii:%s", pii_kind_names[k]);
            raise_to(out, (int)cfg->pii_level);
        }
    if (in->author_alerts >= (uint32_t)cfg->repeat_count) {
        /* Someone escalating: one level up, to high at most. */
        points += (int)cfg->repeat_points;
        add_reason(out, "repeat_author:%u", in->author_alerts);
        if (out->level > LEVEL_HIGH)
            out->level--;
    }
    if (in->shares >= (uint32_t)cfg->spread_count) {
        points += (int)cfg->spread_points;
        add_reason(out, "spreading:%u", in->shares);
        raise_to(out, LEVEL_HIGH);
    }
    out->score = level_base[out->level] + (points < BAND ? points : BAND);
}
