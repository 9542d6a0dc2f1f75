/* spike: a surge detector for one rate series (a rule, a queue, a topic).
 *
 * Events are counted into one-second buckets; every completed second the
 * count of the last `window_s` seconds (C) is compared with a baseline that
 * adapts: an exponentially weighted mean and variance of C with time
 * constant `baseline_s`.  A surge starts when, after the warm-up,
 *
 *     C >= min_count  and  C >= min_ratio * mean  and
 *     (C - mean) / sd >= sensitivity,   sd = sqrt(max(var, mean, 1))
 *
 * (the variance floor is the Poisson one, so a quiet series is judged as
 * counts, not as a smooth curve).  The baseline learns from each second's C
 * clipped to mean + 3 sd, so one surge cannot teach it that surges are
 * normal, yet a lasting step is accepted within about an hour.  A surge
 * escalates when C reaches `escalate` times the count last reported (the
 * first window of a surge is its ramp and does not escalate), and
 * ends after C has stayed below mean + 2 sd (or under min_count / 2) for
 * `resolve_s` seconds.  Pure and single-threaded: the caller owns the clock.
 *
 * What a series has learnt (its baseline) can outlive the process: a
 * series given the state an earlier run saved judges at once, with no
 * warm-up, so a restart does not blind on-call.
 */
#ifndef MENTIOND_SPIKE_H
#define MENTIOND_SPIKE_H

#include <stdint.h>

#define SPIKE_MAX_WINDOW 3600
#define SPIKE_EVENTS 8

struct spike_params {
    uint32_t window_s;          /* 1..SPIKE_MAX_WINDOW */
    double sensitivity;         /* standard deviations */
    uint32_t min_count;         /* posts in the window before anything pages */
    double min_ratio;           /* C over the baseline mean */
    uint32_t baseline_s;        /* EWMA time constant */
    uint32_t warmup_s;          /* no surge starts this soon after the series began */
    uint32_t resolve_s;         /* quiet seconds before a surge ends */
    double escalate;            /* re-report when C grows by this factor */
};

enum spike_event { SPIKE_NONE, SPIKE_START, SPIKE_ESCALATE, SPIKE_END };

struct spike_series {
    uint32_t *ring;             /* window_s buckets */
    uint32_t window_s;
    uint64_t cur_s;             /* the second being filled */
    uint64_t start_s;           /* when the series began */
    uint64_t count;             /* sum of the ring (completed seconds and cur) */
    uint64_t last_c;            /* C at the last completed second */
    double mean, var;           /* baseline of C */
    uint64_t samples;
    int warm;                   /* taught an earlier run's baseline: no warm-up */
    int firing;
    uint32_t quiet;             /* consecutive quiet seconds while firing */
    uint32_t since;             /* seconds since the surge started */
    uint64_t peak;              /* largest C in the current surge */
    uint64_t reported;          /* C when last reported (start / escalation) */
    uint8_t evq[SPIKE_EVENTS];  /* events not yet polled */
    unsigned evhead, evn;
};

/* Returns 0, or -1 if window_s is out of range. */
int spike_init(struct spike_series *s, uint32_t window_s, uint64_t now_s);
void spike_free(struct spike_series *s);
/* n events at second now_s.  Every second before now_s is completed
 * (judged) first; a clock that goes back counts into the current second.
 * After a gap longer than an hour (a suspended machine) the missed seconds
 * are skipped with the baseline untouched. */
void spike_count(struct spike_series *s, const struct spike_params *p, uint64_t now_s, uint32_t n);
/* Complete every second before now_s, then hand out the next event they
 * produced, oldest first: returns 1 with *ev set, 0 when there is none.
 * Call it in a loop: events of seconds completed by spike_count wait here
 * (up to SPIKE_EVENTS; older ones are lost first if a caller never asks). */
int spike_poll(struct spike_series *s, const struct spike_params *p, uint64_t now_s,
               enum spike_event *ev);
/* What a series has learnt, to keep across restarts. */
struct spike_state {
    double mean, var;           /* of the count in a window of window_s */
    uint64_t samples;
    uint32_t window_s;
};

/* 0, or -1 when the series has learnt nothing yet (nothing to keep). */
int spike_state_get(const struct spike_series *s, struct spike_state *st);
/* Teach the series an earlier run's state: its baseline, and no warm-up.
 * Not taken (0) when the state is not a baseline (negative, not finite, no
 * samples, another window: a mean of 60 s windows is not one of 10 s),
 * when the series was taught already, or when it has learnt
 * from as many seconds itself (Redis was away longer than the state's
 * history); 1 taken. */
int spike_state_set(struct spike_series *s, const struct spike_state *st);
/* Current z of C (0 when not computable), for logs and incidents. */
double spike_z(const struct spike_series *s);
void spike_params_default(struct spike_params *p);

#endif
