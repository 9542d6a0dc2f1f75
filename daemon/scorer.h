/* scorer: priority level and score of a post that matched rules.
 *
 * Level: the most urgent base level among the matched rules.  Score (0-100)
 * orders alerts within a level: the level's base plus author reach on a
 * logarithmic scale.  Every contribution is listed in reasons, so an agent
 * can see why an alert is where it is.  Deterministic: same post, same rules,
 * same result.  (The full model of urgency words, personal data, repeat
 * authors and spreading posts extends this module.)
 */
#ifndef MENTIOND_SCORER_H
#define MENTIOND_SCORER_H

#include "matcher.h"
#include "post.h"
#include "rules.h"

#define SCORER_MAX_REASONS 8

struct score {
    int level;                  /* enum level */
    int score;                  /* 0..100 */
    int best_rule;              /* rule whose queue the alert goes to */
    int nreasons;
    char reasons[SCORER_MAX_REASONS][64];
};

void scorer_score(const struct ruleset *rs, const struct match_ctx *mc, const struct post *p,
                  struct score *out);

#endif
