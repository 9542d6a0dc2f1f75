/* spike: a surge detector for one rate series; see spike.h. */
#include "spike.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define CLIP_SD 3.0             /* baseline samples are clipped to mean + 3 sd */
#define RESOLVE_SD 2.0          /* "back to baseline": C below mean + 2 sd */
#define MAX_GAP 3600            /* seconds replayed after a stall; beyond, skipped */

void spike_params_default(struct spike_params *p)
{
    p->window_s = 60;
    p->sensitivity = 5.0;
    p->min_count = 20;
    p->min_ratio = 2.0;
    p->baseline_s = 3600;
    p->warmup_s = 900;
    p->resolve_s = 120;
    p->escalate = 2.0;
}

int spike_init(struct spike_series *s, uint32_t window_s, uint64_t now_s)
{
    memset(s, 0, sizeof *s);
    if (window_s < 1 || window_s > SPIKE_MAX_WINDOW)
        return -1;
    s->ring = calloc(window_s, sizeof *s->ring);
    if (!s->ring)
        return -1;
    s->window_s = window_s;
    s->cur_s = s->start_s = now_s;
    return 0;
}

void spike_free(struct spike_series *s)
{
    if (s) {
        free(s->ring);
        s->ring = NULL;
    }
}

static double sd_of(const struct spike_series *s)
{
    double v = s->var;

    if (v < s->mean)
        v = s->mean;
    return v < 1.0 ? 1.0 : sqrt(v);
}

double spike_z(const struct spike_series *s)
{
    return s->samples ? ((double)s->last_c - s->mean) / sd_of(s) : 0.0;
}

static void push_event(struct spike_series *s, enum spike_event ev)
{
    if (s->evn == SPIKE_EVENTS) {       /* never polled: forget the oldest */
        s->evhead = (s->evhead + 1) % SPIKE_EVENTS;
        s->evn--;
    }
    s->evq[(s->evhead + s->evn++) % SPIKE_EVENTS] = (uint8_t)ev;
}

static int warmed(const struct spike_series *s, const struct spike_params *p, uint64_t t)
{
    return s->warm || t - s->start_s >= p->warmup_s;
}

/* Judge second t, whose window count is s->count, then learn from it. */
static void judge(struct spike_series *s, const struct spike_params *p, uint64_t t)
{
    double c = (double)s->count, sd = sd_of(s), alpha, x, d;

    s->last_c = s->count;
    if (!s->firing) {
        if (warmed(s, p, t) && s->samples && c >= p->min_count &&
            c >= p->min_ratio * s->mean && (c - s->mean) / sd >= p->sensitivity) {
            s->firing = 1;
            s->quiet = 0;
            s->since = 0;
            s->peak = s->reported = s->count;
            push_event(s, SPIKE_START);
        }
    } else {
        if (s->count > s->peak)
            s->peak = s->count;
        /* The first window of a surge is its ramp: a page said "surge",
         * so growth within it is not news.  Escalation is measured from the
         * count a full window after the start. */
        if (++s->since == p->window_s && s->peak > s->reported)
            s->reported = s->peak;
        else if (s->since > p->window_s && c >= p->escalate * (double)s->reported) {
            s->reported = s->count;
            push_event(s, SPIKE_ESCALATE);
        }
        if (c < s->mean + RESOLVE_SD * sd || c < p->min_count / 2.0)
            s->quiet++;
        else
            s->quiet = 0;
        if (s->quiet >= p->resolve_s) {
            s->firing = 0;
            push_event(s, SPIKE_END);
        }
    }
    /* Learn: the plain average while young (so warm-up converges), then an
     * EWMA; samples clipped once there is a baseline to clip against. */
    s->samples++;
    alpha = 1.0 / (double)p->baseline_s;
    if (alpha < 1.0 / (double)s->samples)
        alpha = 1.0 / (double)s->samples;
    x = c;
    if (warmed(s, p, t) && x > s->mean + CLIP_SD * sd)
        x = s->mean + CLIP_SD * sd;
    d = x - s->mean;
    s->mean += alpha * d;
    s->var = (1.0 - alpha) * (s->var + alpha * d * d);
}

static void advance(struct spike_series *s, const struct spike_params *p, uint64_t now_s)
{
    if (now_s <= s->cur_s)
        return;
    if (now_s - s->cur_s > MAX_GAP) {
        memset(s->ring, 0, sizeof *s->ring * s->window_s);
        s->count = 0;
        s->cur_s = now_s;
        return;
    }
    while (s->cur_s < now_s) {
        uint32_t *next;

        judge(s, p, s->cur_s);
        s->cur_s++;
        /* The bucket of cur_s - window_s leaves the window. */
        next = &s->ring[s->cur_s % s->window_s];
        s->count -= *next;
        *next = 0;
    }
}

void spike_count(struct spike_series *s, const struct spike_params *p, uint64_t now_s, uint32_t n)
{
    advance(s, p, now_s);
    s->ring[s->cur_s % s->window_s] += n;
    s->count += n;
}

int spike_poll(struct spike_series *s, const struct spike_params *p, uint64_t now_s,
               enum spike_event *ev)
{
    advance(s, p, now_s);
    if (!s->evn)
        return 0;
    *ev = (enum spike_event)s->evq[s->evhead];
    s->evhead = (s->evhead + 1) % SPIKE_EVENTS;
    s->evn--;
    return 1;
}

int spike_state_get(const struct spike_series *s, struct spike_state *st)
{
    if (!s->samples)
        return -1;
    st->mean = s->mean;
    st->var = s->var;
    st->samples = s->samples;
    st->window_s = s->window_s;
    return 0;
}

int spike_state_set(struct spike_series *s, const struct spike_state *st)
{
    if (!st->samples || !isfinite(st->mean) || !isfinite(st->var) || st->mean < 0 || st->var < 0 ||
        st->window_s != s->window_s)
        return 0;
    if (s->warm || s->samples >= st->samples)   /* it learnt as much itself */
        return 0;
    s->mean = st->mean;
    s->var = st->var;
    s->samples = st->samples;
    s->warm = 1;
    return 1;
}
