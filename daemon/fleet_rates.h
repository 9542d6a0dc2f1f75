/* fleet_rates: the surge detector's counts shared by a fleet, so that a
 * surge split across members is seen, and judged and paged once.
 *
 * Every second each member adds what it counted per series and second
 * (paging_take_counts) to <prefix>:fleet:{<fleet>}:rate:<unix second>, a
 * hash (series -> posts), HINCRBY in one script, kept 120 s.  Each member
 * reads the fleet's totals PAGING_SHARED_DELAY_S seconds behind the wall
 * clock (HGETALL, one second at a time, in order; after Redis was away it
 * catches up on the seconds still kept), feeds them to its series
 * (paging_add_count) and judges that second (paging_judge), so all
 * members learn the same baselines and make the same incidents; the
 * member holding the fleet's judge lease (fleet_judge) is the one that
 * writes them to Redis and pages (paging_set_judge, each second).
 * Members' clocks are assumed to agree within a second (NTP).
 * Owner: the daemon; free it after the Redis connection.  Every function
 * accepts NULL.
 */
#ifndef MENTIOND_FLEET_RATES_H
#define MENTIOND_FLEET_RATES_H

#include <stdint.h>

struct event_base;
struct fleet;
struct paging;
struct store;

struct fleet_rates;

struct fleet_rates_stats {
    uint64_t seconds_read;      /* seconds of fleet totals judged */
    uint64_t seconds_missed;    /* skipped: Redis away longer than they are kept */
    uint64_t publish_failed;    /* seconds of counts not written (Redis away) */
    uint64_t fields_rejected;   /* read: not a count, or past the cap */
};

/* NULL when its timer cannot be made. */
struct fleet_rates *fleet_rates_new(struct event_base *base, struct store *store, struct paging *pg,
                                    const struct fleet *f, const char *prefix, const char *fleet);
const struct fleet_rates_stats *fleet_rates_stats(const struct fleet_rates *r);
void fleet_rates_free(struct fleet_rates *r);

#endif
