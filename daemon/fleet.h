/* fleet: instances started with the same [daemon] fleet name, the same
 * Redis and the same sources share the sources: each source is run by
 * exactly one live member at a time.
 *
 * Every tick (lease_ttl / 20, at most 500 ms) one script runs in Redis
 * (EVAL, atomic, on Redis's clock, so the members' clocks do not matter):
 *   - the member's entry in <prefix>:fleet:{<fleet>}:members (a sorted set,
 *     name -> expiry) is renewed for lease_ttl; expired entries go;
 *   - each source's lease, <prefix>:fleet:{<fleet>}:lease:<source> (its
 *     holder's token "<member> <nonce>", PX lease_ttl), is renewed if held
 *     here, taken (SET NX semantics) if free and wanted, or released;
 *   - <prefix>:fleet:{<fleet>}:held remembers each source's last holder
 *     ("-" once released), so a gain tells a handover from a takeover of
 *     a dead member's source (a gap, which the source's resume fills).
 * Each member also writes a digest of its sources' names to
 * <prefix>:fleet:{<fleet>}:sources; one whose sources differ is logged.
 * One more lease, <prefix>:fleet:{<fleet>}:judge, names the member that
 * judges the fleet's surges and pages for them (fleet_rates.h); it moves
 * like a source's.
 * It answers the live members and every lease's holder.  A source is
 * wanted by the member that rendezvous (highest-random-weight) hashing
 * picks among the live members, so a join or a leave moves only the
 * sources that must move; a member that holds a source it is no longer
 * picked for stops it and releases it in the same tick.
 *
 * Fencing: a lease counts as held until lease_ttl after the tick that last
 * renewed it was sent, less a fifth of lease_ttl; past that (Redis away,
 * or not answering) the source is stopped here, before the lease can have
 * expired in Redis and been taken elsewhere.
 *
 * The {<fleet>} hash tag keeps the script's keys in one cluster slot.
 * Owner: the daemon; free it after the Redis connection (its callback is
 * answered, with nothing, when the connection goes).  Every function
 * accepts NULL (no fleet: every source runs here).
 */
#ifndef MENTIOND_FLEET_H
#define MENTIOND_FLEET_H

#include <stdint.h>

struct event_base;
struct redis_conn;

struct fleet;

struct fleet_stats {
    uint64_t gained;            /* leases taken */
    uint64_t released;          /* given up: a member joined, or this one leaves */
    uint64_t lost;              /* found held by another member */
    uint64_t fenced;            /* stopped: no renewal answered in time */
    uint64_t gaps_recovered;    /* taken from a member that died, by a source that resumes */
    uint64_t gaps_open;         /* the same by a source that cannot fill the gap */
    uint64_t ticks_failed;      /* scripts refused or unanswered */
    uint64_t members_rejected;  /* names read that were too long, or past FLEET_MAX_MEMBERS */
};

/* run: start (on = 1) or stop (on = 0) the source called name here. */
typedef void (*fleet_run_fn)(void *ctx, const char *name, int on);

/* NULL when its timer cannot be made. */
struct fleet *fleet_new(struct event_base *base, struct redis_conn *conn, const char *prefix, const char *fleet,
                        const char *member, uint64_t lease_ttl_ms, fleet_run_fn run, void *ctx);
/* The sources, at start and after each reload (the same in every member).
 * resumes[i]: whether source i fills the gap of a takeover (a position,
 * a backfill, a polled document).  A source owned here that is gone stops
 * being renewed; one owned that is new (changed) must be started by the
 * caller: fleet_owns() says so. */
void fleet_set_sources(struct fleet *f, const char *const *names, const int *resumes, int n);
/* 1 when the source is leased here (always 1 without a fleet). */
int fleet_owns(const struct fleet *f, const char *name);
/* 1 when this member holds the judge's lease (always 1 without a fleet). */
int fleet_judge(const struct fleet *f);
/* A clean stop: every source stopped here and its lease released at once,
 * the member's entry removed; no more ticks. */
void fleet_leave(struct fleet *f);
void fleet_free(struct fleet *f);

const char *fleet_name(const struct fleet *f);
int fleet_members(const struct fleet *f);     /* live, as Redis last said */
int fleet_owned(const struct fleet *f);
int fleet_sources(const struct fleet *f);
/* Members whose [source] sections differ from this one's (by a digest of
 * the names each writes to <prefix>:fleet:{<fleet>}:sources). */
int fleet_odd_members(const struct fleet *f);
const struct fleet_stats *fleet_stats(const struct fleet *f);

#endif
