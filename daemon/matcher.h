/* matcher: rules compiled so that a post's cost depends on the post.
 *
 * Every distinct term of every rule is interned once and indexed where a
 * post can reveal it: keywords by their token, phrases in a trie over their
 * tokens (so a post's cost does not grow with how many phrases share a
 * first token), proximity terms by their first token, wildcards by their
 * prefix, entities, handles and conversation ids by
 * value, bio: and url: terms by the first token of those fields, and
 * contains:/raw: substrings in one vectorscan database each.  A post is
 * normalised and tokenised once per field (twice if some rule folds
 * accents), each token is looked up, phrases and distances are confirmed in
 * place, and only rules that own a hit term are evaluated.  X's composition
 * rules guarantee that a matching rule has a positive standalone term, so no
 * other rule can match.
 *
 * The matcher is immutable after matcher_build() and can be shared; the
 * per-post scratch lives in struct match_ctx, one per thread of matching.
 */
#ifndef MENTIOND_MATCHER_H
#define MENTIOND_MATCHER_H

#include "post.h"
#include "rules.h"
#include "text.h"

#include <stdint.h>

struct matcher;
struct mpm_scratch;

enum mstream { MS_TEXT, MS_TEXT_FOLD, MS_BIO, MS_BIO_FOLD, MS_URL, MS_COUNT };

struct match_hit {
    int rule;                   /* index into ruleset.rules */
};

struct match_ctx {
    const struct matcher *m;
    uint64_t gen;               /* build of m the scratch is sized for */
    struct tokens tk[MS_COUNT]; /* the post's fields, tokenised as needed */
    struct buf scratch;         /* field text being assembled */
    struct mpm_scratch *mpm;
    uint32_t epoch;
    uint32_t *term_stamp;       /* term hit when == epoch */
    uint32_t *check_stamp;      /* term's full check done when == epoch */
    uint32_t *rule_stamp;       /* rule already a candidate */
    int *cand;
    int ncand;
    struct match_hit *hits;     /* result of the last matcher_match */
    int nhits;
    /* Work counters, cumulative (the cost test reads them, not time):
     * dictionary and trie lookups, and terms they handed to confirmation. */
    uint64_t probes, confirms;
    int nterms_alloc, nrules_alloc;
};

/* Returns NULL and fills err only if vectorscan cannot compile the
 * substring terms. */
struct matcher *matcher_build(struct rule *rules, int n, char *err, size_t errlen);
void matcher_free(struct matcher *m);

void match_ctx_init(struct match_ctx *c);
void match_ctx_free(struct match_ctx *c);
#define MATCHER_NOMEM (-2)

/* Match p against the compiled rules.  Returns the number of matched rules
 * (in rule order) in c->hits, -1 if the text is not valid UTF-8 (or too
 * large), or MATCHER_NOMEM. */
int matcher_match(struct match_ctx *c, const struct matcher *m, const struct post *p);
/* Whether term t of rule r (its query term index) hit in the last match. */
int matcher_term_hit(const struct match_ctx *c, const struct rule *r, int t);

/* A match made on one thread, read on another: the result of the last
 * matcher_match in c as the hit rules and the global ids of the hit
 * terms of those rules (what alerts, scores and incidents read), and that
 * result loaded into another context for the same matcher.  export writes
 * at most max ids in all (rules first) and returns how many, or -1 if max
 * is too small; import returns 0, or MATCHER_NOMEM. */
int matcher_export(const struct match_ctx *c, const struct rule *rules, uint32_t *ids, int max, int *nterms);
int matcher_import(struct match_ctx *c, const struct matcher *m, const uint32_t *ids, int nhits, int nterms);

#endif
