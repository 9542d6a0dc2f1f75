/* readiness: see readiness.h. */
#include "readiness.h"
#include "fleet.h"
#include "redis_sink.h"
#include "running.h"
#include "source.h"

#include <stdio.h>

int readiness_check(const struct running *r, char *why, size_t whylen)
{
    if (redis_sink_state(r->sink) != REDIS_UP) {
        snprintf(why, whylen, "redis is not connected");
        return 0;
    }
    if (r->fleet && !fleet_members(r->fleet)) {
        snprintf(why, whylen, "fleet %s: no answer from the lease script yet (the log says why if it fails)",
                 fleet_name(r->fleet));
        return 0;
    }
    if (!r->nsrc) {
        snprintf(why, whylen, "no sources configured");
        return 0;
    }
    for (int i = 0; i < r->nsrc; i++)
        if (fleet_owns(r->fleet, source_conf_of(r->src[i])->name) && !source_healthy(r->src[i])) {
            snprintf(why, whylen, "source %s is %s beyond its budget", source_conf_of(r->src[i])->name,
                     source_state_name(source_state(r->src[i])));
            return 0;
        }
    if (r->fleet && !fleet_owned(r->fleet))
        snprintf(why, whylen, "standby: none of the %d sources of fleet %s runs here (%d members)",
                 fleet_sources(r->fleet), fleet_name(r->fleet), fleet_members(r->fleet));
    return 1;
}
