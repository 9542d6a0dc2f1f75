/* xquery: a rule's query as an X filtered-stream rule -- the widest form X
 * can express, so that X sends every post the rule can match and the rule
 * narrows them here.
 *
 * X's own operators go as written (keywords, "phrases", "a b"~N, #, @, $,
 * from:, to:, retweets_of:, url:, conversation_id:, bio:, lang:, is:, has:,
 * min_followers:, followers_count:, sample:).  Our extensions widen:
 * A NEAR/N B is sent as A B (both present), and contains:, raw: and word*
 * match anything (dropped from an AND, making an OR anything).  A negated
 * term stays only when X matches it as we do (excluding less is wider); an
 * accent-folded term goes as written and as folded.  A query that widens
 * to everything, or to conjunction-required operators only, cannot be
 * sent: X would have to send the whole stream.  Pure: unit-tested.
 */
#ifndef MENTIOND_XQUERY_H
#define MENTIOND_XQUERY_H

#include "buf.h"
#include "query.h"

#include <stddef.h>

/* The X rule for q into out (reset first).  0, or -1 with why. */
int xquery_widest(const struct query *q, struct buf *out, char *why, size_t whylen);
/* 1 if the X rule is the query itself (nothing widened): X sends only
 * what the rule matches. */
int xquery_exact(const struct query *q);

struct ruleset;
struct rule;

/* The X rules of a ruleset within an account's limits, in load order:
 * fn(ctx, rule, value, NULL) for each rule X takes (value: its X rule),
 * fn(ctx, rule, NULL, why) for each it does not (cannot be written for X,
 * longer than max_len characters, past max_rules, or budget = best_effort
 * while hold_best_effort: the day's budget is spent). */
typedef void (*xquery_plan_fn)(void *ctx, const struct rule *r, const char *value, const char *why);
void xquery_plan(const struct ruleset *rs, int max_rules, int max_len, int hold_best_effort, xquery_plan_fn fn,
                 void *ctx);

#endif
