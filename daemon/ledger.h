/* ledger: a source's completeness ledger -- when it last brought a post,
 * how far behind the source's own clock, the gaps in what it brought (each
 * with its start, end, cause and whether it was filled), and the rate it
 * usually brings posts at, so that a connection that stays open and goes
 * silent when it should not (a "quiet" source) can be told from a quiet
 * hour.  Pure: the caller gives every time (wall clock, ms).
 *
 * The rate is learnt over 10-second buckets while the source is up, an
 * exponential average with a 5-minute memory.  A source is quiet when no
 * post came for quiet_ms and the learnt rate expected at least
 * LEDGER_QUIET_MIN_EXPECTED posts in that time: by Poisson, silence then
 * happens by chance less than once in 20,000 windows.
 */
#ifndef MENTIOND_LEDGER_H
#define MENTIOND_LEDGER_H

#include <stdint.h>

#define LEDGER_GAPS 8                   /* the last gaps kept for reports */
#define LEDGER_QUIET_MIN_EXPECTED 10.0
#define LEDGER_BUCKET_MS 10000

/* Why a gap opened; one table in ledger.c names them. */
enum ledger_cause {
    GAP_RECONNECT,                      /* the connection dropped, was cut or refused */
    GAP_STALL,                          /* no byte for stall_timeout */
    GAP_QUIET,                          /* open, keep-alives, no post for quiet_timeout */
    GAP_OPERATIONAL,                    /* the service said it disconnects (X's operational disconnect) */
    GAP_CURSOR_TOO_OLD,                 /* the cursor was past the lookback; resumed from the oldest kept */
    GAP_CURSOR_JUMP,                    /* the server moved the cursor (clamped it, or started live) */
    GAP_BACKFILL_PARTIAL,               /* what was missed was asked for, and more was missed than given */
    GAP_BACKFILL_REFUSED,               /* what was missed was asked for, and the service refused */
    GAP_CAUSES
};
extern const char *const ledger_cause_names[GAP_CAUSES];

enum ledger_fill { GAP_OPEN, GAP_FILLED, GAP_UNFILLED, GAP_FILLS };
extern const char *const ledger_fill_names[GAP_FILLS];

struct ledger_gap {
    uint64_t start_ms, end_ms;          /* the last post before it; the source up again (0: open) */
    enum ledger_cause cause;
    enum ledger_fill fill;
};

struct ledger {
    uint64_t last_post_ms;              /* wall clock of the last post (0: none yet) */
    uint64_t last_created_ms;           /* its own time, as the source gave it (0: none) */
    int64_t lag_ms;                     /* last_post_ms - last_created_ms of the last post with one */
    double rate;                        /* learnt posts per second (0: not yet) */
    uint64_t bucket_start_ms;
    uint32_t bucket_posts;
    int learnt;                         /* buckets learnt */
    struct ledger_gap gaps[LEDGER_GAPS];
    int ngaps, head;                    /* ring, head = the newest */
    int open;                           /* gaps[head] is open */
    int open_lost;                      /* ... and what it missed is lost, whatever the fill */
    uint64_t gaps_total[GAP_CAUSES][GAP_FILLS];
    uint64_t gap_ms_total[GAP_FILLS];
    uint64_t quiet;                     /* quiet spells found */
};

void ledger_init(struct ledger *l);
/* n posts arrived by now_ms (wall); created_ms: the last one's own time
 * (0: unknown). */
void ledger_post(struct ledger *l, uint64_t now_ms, uint32_t n, uint64_t created_ms);
/* While up, once in a while: closes the buckets the rate learns from. */
void ledger_tick(struct ledger *l, uint64_t now_ms, int up);
/* 1 when up for quiet_ms without a post while the rate says there should
 * have been some (since max(last post, up_since_ms)). */
int ledger_quiet(const struct ledger *l, uint64_t now_ms, uint64_t up_since_ms, uint64_t quiet_ms);
/* The stream broke at now_ms: a gap opens from the last post (or now).
 * A gap already open stays the one open. */
void ledger_gap_open(struct ledger *l, uint64_t now_ms, enum ledger_cause cause);
/* The source is up again: the open gap ends; filled says whether the source
 * asks for what it missed (a cursor, backfill, a conditional poll). */
void ledger_gap_close(struct ledger *l, uint64_t now_ms, int filled);
/* The source says posts were lost here (a cursor refused or moved): the
 * open gap, else the one that closed last at or after since_ms (the
 * connection the notice came on), else a new one at now_ms takes this
 * cause and is not filled. */
void ledger_gap_lost(struct ledger *l, uint64_t now_ms, uint64_t since_ms, enum ledger_cause cause);
/* The newest gap (open or not), or NULL. */
const struct ledger_gap *ledger_last_gap(const struct ledger *l);

#endif
