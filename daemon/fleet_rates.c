/* fleet_rates: a fleet's per-second surge counts in Redis; see fleet_rates.h. */
#include "fleet_rates.h"
#include "fleet.h"
#include "log.h"
#include "paging.h"
#include "store.h"
#include "util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RATES_TTL_S 120
#define RATES_TICK_MS 1000
/* Read from Redis: no more fields are taken from a second's hash. */
#define RATES_MAX_FIELDS (2 * INCIDENT_MAX_SERIES)

struct fleet_rates {
    struct store *store;
    struct paging *pg;
    const struct fleet *fleet;
    char prefix[320];                   /* "<prefix>:fleet:{<fleet>}:rate:" */
    struct event *timer;
    uint64_t next_s;                    /* the next second to read (0: not started) */
    int reading;
    struct fleet_rates_stats st;
};

/* The counts taken, grouped by second (normally one or two seconds). */
struct counts {
    struct count_second {
        uint64_t s;
        const char **fields;
        long long *n;
        int len, cap;
    } sec[4];
    int nsec;
    struct fleet_rates *r;
};

static void add_count(void *ctx, const char *series, uint64_t s, uint32_t n)
{
    struct counts *c = ctx;
    struct count_second *cs = NULL;

    for (int i = 0; i < c->nsec; i++)
        if (c->sec[i].s == s)
            cs = &c->sec[i];
    if (!cs && c->nsec == (int)ARRAY_LEN(c->sec)) {
        c->r->st.publish_failed++;      /* seconds long gone (a stalled loop): not the fleet's now */
        return;
    }
    if (!cs) {
        cs = &c->sec[c->nsec++];
        cs->s = s;
    }
    if (cs->len == cs->cap) {
        cs->cap = cs->cap ? 2 * cs->cap : 16;
        cs->fields = xrealloc(cs->fields, (size_t)cs->cap * sizeof *cs->fields);
        cs->n = xrealloc(cs->n, (size_t)cs->cap * sizeof *cs->n);
    }
    cs->fields[cs->len] = xstrdup(series);
    cs->n[cs->len++] = n;
}

static void publish(struct fleet_rates *r)
{
    struct counts c = {.r = r};
    char key[400];

    paging_take_counts(r->pg, add_count, &c);
    for (int i = 0; i < c.nsec; i++) {
        struct count_second *cs = &c.sec[i];
        snprintf(key, sizeof key, "%s%llu", r->prefix, (unsigned long long)cs->s);
        if (store_hash_add(r->store, key, cs->fields, cs->n, cs->len, RATES_TTL_S) != 0)
            r->st.publish_failed++;
        for (int k = 0; k < cs->len; k++)
            free((char *)cs->fields[k]);
        free(cs->fields);
        free(cs->n);
    }
}

static void read_next(struct fleet_rates *r);

static void on_second(void *ctx, int ok, const char *const *fields, const char *const *vals, int n)
{
    struct fleet_rates *r = ctx;

    r->reading = 0;
    if (!ok)
        return;                         /* Redis away: this second is asked again */
    if (n > RATES_MAX_FIELDS) {
        r->st.fields_rejected += (uint64_t)(n - RATES_MAX_FIELDS);
        log_limited(LOG_WARNING, "fleet rates: %s%llu has %d fields; the first %d are read", r->prefix,
                    (unsigned long long)r->next_s, n, RATES_MAX_FIELDS);
        n = RATES_MAX_FIELDS;
    }
    for (int i = 0; i < n; i++) {
        long long v;
        if (parse_ll(vals[i], 0, UINT32_MAX, &v) != 0) {
            log_limited(LOG_WARNING, "fleet rates: %s%llu field %.100s = \"%.40s\" is not a count; ignored",
                        r->prefix, (unsigned long long)r->next_s, fields[i], vals[i]);
            r->st.fields_rejected++;
            continue;
        }
        /* a series not watched here (another member's newer rules): skipped */
        if (paging_add_count(r->pg, fields[i], r->next_s, (uint32_t)v) != 0)
            log_limited(LOG_DEBUG, "fleet rates: %s is not watched here; its count is not judged", fields[i]);
    }
    r->st.seconds_read++;
    paging_judge(r->pg, ++r->next_s);
    read_next(r);                       /* catching up, if behind */
}

/* The oldest second not yet read, if the fleet's members are done with
 * it (PAGING_SHARED_DELAY_S behind the clock) and Redis still keeps it. */
static void read_next(struct fleet_rates *r)
{
    uint64_t due = now_real_ms() / 1000 - PAGING_SHARED_DELAY_S;
    char key[400];

    if (r->reading || !store_ready(r->store))
        return;
    if (!r->next_s)
        r->next_s = due;
    if (r->next_s + RATES_TTL_S - 10 < due) {
        r->st.seconds_missed += due - r->next_s;
        log_msg(LOG_WARNING, "fleet rates: %llu seconds of the fleet's counts are gone (Redis away); the surge "
                "detector goes on from now", (unsigned long long)(due - r->next_s));
        r->next_s = due;
    }
    if (r->next_s > due)
        return;
    snprintf(key, sizeof key, "%s%llu", r->prefix, (unsigned long long)r->next_s);
    if (store_hash_read(r->store, STORE_READ_RATES, key, on_second, r) == 0)
        r->reading = 1;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct fleet_rates *r = arg;

    (void)fd;
    (void)what;
    paging_set_judge(r->pg, fleet_judge(r->fleet));
    publish(r);
    read_next(r);
}

struct fleet_rates *fleet_rates_new(struct event_base *base, struct store *store, struct paging *pg,
                                    const struct fleet *f, const char *prefix, const char *fleet)
{
    struct fleet_rates *r = xcalloc(1, sizeof *r);
    struct timeval tv = ms_to_timeval(RATES_TICK_MS);

    r->store = store;
    r->pg = pg;
    r->fleet = f;
    snprintf(r->prefix, sizeof r->prefix, "%s:fleet:{%s}:rate:", prefix, fleet);
    if (!(r->timer = event_new(base, -1, EV_PERSIST, on_tick, r)) || event_add(r->timer, &tv) != 0) {
        fleet_rates_free(r);
        return NULL;
    }
    return r;
}

const struct fleet_rates_stats *fleet_rates_stats(const struct fleet_rates *r)
{
    static const struct fleet_rates_stats none;
    return r ? &r->st : &none;
}

void fleet_rates_free(struct fleet_rates *r)
{
    if (!r)
        return;
    if (r->timer)
        event_free(r->timer);
    free(r);
}
