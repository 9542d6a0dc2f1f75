/* readiness: see readiness.h. */
#include "readiness.h"
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
    if (!r->nsrc) {
        snprintf(why, whylen, "no sources configured");
        return 0;
    }
    for (int i = 0; i < r->nsrc; i++)
        if (!source_healthy(r->src[i])) {
            snprintf(why, whylen, "source %s is %s beyond its budget", source_conf_of(r->src[i])->name,
                     source_state_name(source_state(r->src[i])));
            return 0;
        }
    return 1;
}
