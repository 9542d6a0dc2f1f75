/* xrules: X's filtered-stream rules kept in step with ours, for each x_v2
 * source with manage_rules = on, so X sends only what our rules can match
 * (and the bill follows the rules).
 *
 * Each rule goes as its widest X form (xquery.c), tagged with its name; a
 * rule X cannot take (one that widens to everything, too long, past the
 * account's count) is named in the log with why, and counted.  A sync:
 * GET the rules X holds; the ones not wanted (by value and tag) are
 * deleted by id, the wanted ones X lacks are sent first with dry_run=true
 * (X's refusal of one, with X's reason, is logged and that rule left out),
 * then added.  Rules already in force are not touched.  It runs at start
 * and on every change of the rules (reload, the Redis hash); a change
 * during a sync syncs again after it; an error retries in 30 s.
 * Owner: the daemon; the token is the source's, never logged.
 */
#ifndef MENTIOND_XRULES_H
#define MENTIOND_XRULES_H

#include <stdint.h>

struct event_base;
struct http_client;
struct config;
struct ruleset;
struct xrules;

struct xrules_stats {
    const char *source;
    uint64_t syncs, errors;             /* syncs finished, failed requests */
    uint64_t added, deleted;            /* rules added to and deleted from X */
    int in_force;                       /* rules at X after the last sync */
    int refused;                        /* ours that X does not get, in the last plan */
    int held;                           /* best_effort ones held back: the day's budget is spent */
    int in_sync;                        /* X holds exactly what we want */
};

struct xrules *xrules_new(struct event_base *base, struct http_client *http);
void xrules_free(struct xrules *x);
/* The configuration and rules in force: each managed source's rules at X
 * follow them. */
void xrules_apply(struct xrules *x, const struct config *cfg, const struct ruleset *rs);
/* A source's day's budget is spent (hold = 1: its best_effort rules come
 * off X) or a new day began (0: they go back). */
void xrules_hold(struct xrules *x, const char *source, int hold);
/* Each managed source's counters (i from 0; NULL past the last). */
const struct xrules_stats *xrules_stats(const struct xrules *x, int i);

#endif
