/* baseline: surge baselines kept in Redis; see baseline.h. */
#include "baseline.h"
#include "log.h"
#include "paging.h"
#include "spike.h"
#include "store.h"
#include "util.h"

#include <event2/event.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BASELINE_TTL_S (7 * 86400)
#define BASELINE_TICK_MS 1000
/* Saved series not watched at the start wait this long for their rule
 * (rules read from Redis arrive after the start), and are kept in the
 * saves meanwhile; then they are dropped. */
#define BASELINE_PENDING_MS (600 * 1000)
/* A hash is read from outside: no more fields are taken than series can
 * be tracked (incident.h), twice over. */
#define BASELINE_MAX_SAVED (2 * INCIDENT_MAX_SERIES)

struct baselines {
    struct store *store;
    struct paging *pg;
    char key[320];
    long long interval_s;
    struct event *timer;
    int loaded;                         /* the saved hash has answered */
    uint64_t loaded_ms, saved_ms;       /* monotonic */
    struct kvlist pending;              /* saved, for series not (yet) watched */
    uint64_t rejected;                  /* saved fields that were not baselines */
};

/* "<mean> <variance> <seconds learnt> <window seconds>", as add_state
 * writes it. */
static int parse_state(const char *v, struct spike_state *st)
{
    unsigned long long w;
    char *end;

    errno = 0;
    st->mean = strtod(v, &end);
    if (end == v || *end != ' ')
        return -1;
    v = end + 1;
    st->var = strtod(v, &end);
    if (end == v || *end != ' ')
        return -1;
    v = end + 1;
    st->samples = strtoull(v, &end, 10);
    if (end == v || *end != ' ')
        return -1;
    v = end + 1;
    w = strtoull(v, &end, 10);
    st->window_s = (uint32_t)w;
    return end == v || *end || errno || w > UINT32_MAX ? -1 : 0;
}

/* The pending saved states whose series are watched now: given to them
 * (taken or refused) and off the list.  Returns how many were taken. */
static int apply_pending(struct baselines *b)
{
    int taken = 0;

    for (int i = 0; i < b->pending.n;) {
        struct spike_state st;
        int rc = parse_state(b->pending.v[i], &st) == 0 ? paging_restore(b->pg, b->pending.f[i], &st) : 0;
        if (rc < 0) {
            i++;
            continue;
        }
        taken += rc;
        free(b->pending.f[i]);
        free(b->pending.v[i]);
        b->pending.f[i] = b->pending.f[--b->pending.n];
        b->pending.v[i] = b->pending.v[b->pending.n];
    }
    return taken;
}

static void on_saved(void *ctx, int ok, const char *const *fields, const char *const *vals, int n)
{
    struct baselines *b = ctx;
    int taken, bad = 0;

    if (!ok)
        return;                         /* Redis away, or the connection went: the tick asks again */
    for (int i = 0; i < n; i++) {
        struct spike_state st;
        if (parse_state(vals[i], &st) != 0 || strlen(fields[i]) > 255 || b->pending.n >= BASELINE_MAX_SAVED) {
            log_limited(LOG_WARNING, "spike baselines: %s field %.100s = \"%.60s\": %s; ignored", b->key, fields[i],
                        vals[i], b->pending.n >= BASELINE_MAX_SAVED ? "more fields than series can be tracked"
                        : "not \"mean variance seconds window\" of a series name");
            bad++;
            b->rejected++;
            continue;
        }
        kvlist_add(&b->pending, fields[i], "%s", vals[i]);
    }
    taken = apply_pending(b);
    b->loaded = 1;
    b->loaded_ms = b->saved_ms = now_mono_ms();
    log_msg(LOG_NOTICE, "spike baselines: %d of %d saved series restored from %s (they page without a warm-up)%s%s",
            taken, n, b->key, b->pending.n ? "; the others wait 10 minutes for their rules" : "",
            bad ? "; some fields were not baselines" : "");
}

static void add_state(void *ctx, const char *series, const struct spike_state *st)
{
    kvlist_add(ctx, series, "%.17g %.17g %llu %u", st->mean, st->var, (unsigned long long)st->samples,
               (unsigned)st->window_s);
}

void baselines_save(struct baselines *b)
{
    struct kvlist k = {0};

    if (!b || !b->loaded)
        return;
    paging_each_state(b->pg, add_state, &k);
    for (int i = 0; i < b->pending.n; i++)      /* not watched (yet): kept as saved */
        kvlist_add(&k, b->pending.f[i], "%s", b->pending.v[i]);
    if (k.n && store_hash_replace(b->store, b->key, (const char *const *)k.f, (const char *const *)k.v, k.n,
                                  BASELINE_TTL_S) == 0)
        b->saved_ms = now_mono_ms();
    kvlist_free(&k);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct baselines *b = arg;
    int taken;

    (void)fd;
    (void)what;
    if (!b->loaded) {
        if (store_ready(b->store))
            store_hash_read(b->store, STORE_READ_BASELINES, b->key, on_saved, b);
        return;
    }
    if (b->pending.n && (taken = apply_pending(b)))
        log_msg(LOG_NOTICE, "spike baselines: %d more saved series restored (their rules came after the start)",
                taken);
    if (b->pending.n && now_mono_ms() - b->loaded_ms >= BASELINE_PENDING_MS) {
        log_msg(LOG_INFO, "spike baselines: %d saved series no rule watches are dropped", b->pending.n);
        kvlist_free(&b->pending);
    }
    if (now_mono_ms() - b->saved_ms >= (uint64_t)b->interval_s * 1000)
        baselines_save(b);
}

struct baselines *baselines_new(struct event_base *base, struct store *store, struct paging *pg, const char *prefix,
                                const char *instance, long long save_interval_s)
{
    struct baselines *b = xcalloc(1, sizeof *b);
    struct timeval tv = ms_to_timeval(BASELINE_TICK_MS);

    b->store = store;
    b->pg = pg;
    b->interval_s = save_interval_s;
    snprintf(b->key, sizeof b->key, "%s:spike:%s", prefix, instance);
    if (!(b->timer = event_new(base, -1, EV_PERSIST, on_tick, b)) || event_add(b->timer, &tv) != 0) {
        baselines_free(b);
        return NULL;
    }
    return b;
}

uint64_t baselines_rejected(const struct baselines *b)
{
    return b ? b->rejected : 0;
}

void baselines_free(struct baselines *b)
{
    if (!b)
        return;
    if (b->timer)
        event_free(b->timer);
    kvlist_free(&b->pending);
    free(b);
}
