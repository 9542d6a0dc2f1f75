/* readiness: GET /readyz's answer.  Ready when Redis is connected and
 * every source (in a fleet: every source run here) is up, done, or
 * reconnecting within its budget; else why not, for the 503's body. */
#ifndef MENTIOND_READINESS_H
#define MENTIOND_READINESS_H

#include <stddef.h>

struct running;

/* 1 ready (why: a note, "" for none: a fleet's standby says so); 0 with
 * why set.  Sources a fleet runs elsewhere do not count. */
int readiness_check(const struct running *r, char *why, size_t whylen);

#endif
