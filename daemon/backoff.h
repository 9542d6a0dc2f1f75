/* backoff: X's documented reconnect policy, pure and unit-tested.
 *
 *   network (TCP/TLS/DNS errors, stalls):  linear, +250 ms per attempt, max 16 s
 *   HTTP errors (4xx/5xx except 429):      exponential from 5 s, max 320 s
 *   HTTP 429 (and 420):                    exponential from 60 s, max 960 s
 *
 * A connection that was up for BACKOFF_HEALTHY_MS or longer and then drops is
 * retried at once (delay 0), as X asks; a failure of that retry backs off.
 * Jitter adds up to 20% on top, never below the documented minimum, so many
 * instances do not reconnect in lockstep.
 */
#ifndef MENTIOND_BACKOFF_H
#define MENTIOND_BACKOFF_H

#include <stdint.h>

enum backoff_kind { BACKOFF_NETWORK, BACKOFF_HTTP, BACKOFF_RATE_LIMIT };

#define BACKOFF_HEALTHY_MS 10000

struct backoff {
    enum backoff_kind kind;
    int attempts;               /* consecutive failures of this kind */
};

void backoff_reset(struct backoff *b);
/* Delay before the next attempt after a failure of kind.  rnd: any random
 * 32-bit value (jitter); pass 0 for none. */
uint64_t backoff_next(struct backoff *b, enum backoff_kind kind, uint32_t rnd);
/* Base delay without jitter for attempt n (1-based) of kind. */
uint64_t backoff_base_ms(enum backoff_kind kind, int n);
const char *backoff_kind_name(enum backoff_kind kind);

#endif
