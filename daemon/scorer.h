/* scorer: priority level and score of a post that matched rules, as a
 * social-care lead would rank it (README "Priority" has the formula).
 *
 * Level: the most urgent base level among the matched rules, raised (never
 * lowered) by exposed personal data, a spreading post, an urgent word from
 * an author with reach, or an author who keeps writing.  Score (0-100)
 * orders alerts within a level: the level's band plus the points of reach,
 * verification, urgency and negative words, repetition and spreading,
 * capped inside the band so a lower level never outranks a higher one.
 * Every contribution is listed in reasons.  Deterministic: the same inputs
 * give the same result.
 */
#ifndef MENTIOND_SCORER_H
#define MENTIOND_SCORER_H

#include "config.h"
#include "matcher.h"
#include "post.h"
#include "rules.h"

#include <stdint.h>

#define SCORER_MAX_REASONS 16

struct score {
    int level;                  /* enum level */
    int score;                  /* 0..100 */
    int best_rule;              /* rule whose queue the alert goes to */
    int nreasons;
    char reasons[SCORER_MAX_REASONS][96];
};

/* What the pipeline knows about the post beyond its text. */
struct score_input {
    int pii;                    /* bit mask of pii kinds masked */
    uint32_t author_alerts;     /* this author's alerts in the repeat window, this one included */
    uint32_t shares;            /* shares of this post (or of the post it shares) in the spread window */
};

/* lexmc: the lexicon match of the post (NULL if no lexicons). */
void scorer_score(const struct config *cfg, const struct ruleset *rs, const struct match_ctx *mc,
                  const struct match_ctx *lexmc, const struct post *p, const struct score_input *in,
                  struct score *out);

#endif
