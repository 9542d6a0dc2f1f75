/* running: the view of a running daemon that its reports read: the status
 * line and the shutdown summary (status.c), the instance heartbeat
 * (heartbeat.c), readiness (readiness.c) and the Prometheus page
 * (prometheus.c).  Pointers to the running parts, each read through its
 * owner's accessors, plus the few facts only the daemon knows (when it
 * started, its builds).  The daemon fills one before each report; reports
 * never keep it and never change what it points to.
 */
#ifndef MENTIOND_RUNNING_H
#define MENTIOND_RUNNING_H

#include <stdint.h>

struct baselines;
struct config;
struct fleet;
struct fleet_rates;
struct fleet_shares;
struct paging;
struct pipeline;
struct redis_conn;
struct redis_sink;
struct ruleset;
struct source;
struct xrules;

enum build_trigger { BUILD_SIGHUP, BUILD_REDIS_RULES };

struct running {
    const struct config *cfg;
    const struct ruleset *rs;
    struct source *const *src;
    int nsrc;
    const struct redis_sink *sink;
    const struct redis_conn *redis;     /* the connection (a cluster's nodes) */
    const struct pipeline *pl;
    const struct paging *paging;
    const struct baselines *baselines;
    const struct fleet *fleet;          /* NULL: not in a fleet */
    const struct fleet_rates *rates;    /* NULL: not in a fleet */
    const struct fleet_shares *shares;  /* NULL: not in a fleet */
    const struct xrules *xrules;        /* X's rules in step (x_v2 manage_rules) */
    uint64_t started_ms;                /* wall clock */
    int stopping;                       /* a signal asked it to stop */
    int redis_rules;                    /* rules from the Redis hash in rs */
    uint64_t builds[2][2];              /* [enum build_trigger][applied] */
    int last_build_ok;                  /* of the last build, either trigger */
    uint64_t last_build_ok_ms;          /* wall clock of the last applied one (0: none since the start) */
};

#endif
