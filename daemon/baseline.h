/* baseline: what the surge detector has learnt, kept in Redis, so that a
 * restart (a deploy, a crash) does not blind on-call for a warm-up.
 *
 * <prefix>:spike:<instance>, a hash: one field per rate series
 * ("rule/<name>", "topic/<name>", "queue/<name>"), its value "<mean>
 * <variance> <seconds learnt> <window seconds>"; rewritten every spike_save_interval
 * seconds and at a clean stop, kept 7 days.  At start it is read once
 * (again each second while Redis is away); each series named there that
 * is watched again takes its baseline and judges at once, without
 * spike_warmup (spike_state_set); one whose rule is not there yet (rules
 * read from Redis come after the start) waits 10 minutes for it, kept in
 * the saves meanwhile.  A new rule or topic still warms up.
 * Nothing is written before that read has answered, so a start never
 * replaces what the last run learnt with what it has just begun to learn.
 * Owner: the daemon; free it after the Redis connection (a read in flight
 * is answered, with nothing, when the connection goes).  Every function
 * accepts NULL.
 */
#ifndef MENTIOND_BASELINE_H
#define MENTIOND_BASELINE_H

#include <stdint.h>

struct event_base;
struct paging;
struct store;

struct baselines;

/* NULL if its timer cannot be made (the daemon logs it). */
struct baselines *baselines_new(struct event_base *base, struct store *store, struct paging *pg, const char *prefix,
                                const char *instance, long long save_interval_s);
/* Now (a clean stop), if the saved hash was read at start. */
void baselines_save(struct baselines *b);
/* Saved fields refused at start (not a baseline, a name too long, more than
 * can be tracked): each is logged (rate-limited) and counted here. */
uint64_t baselines_rejected(const struct baselines *b);
void baselines_free(struct baselines *b);

#endif
