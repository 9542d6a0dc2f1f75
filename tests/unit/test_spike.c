/* spike: the surge detector on generated rate series.
 *
 * Each series is Poisson counts per second from a rate function, with a
 * fixed seed, so a run is reproducible; the detector sees exactly what the
 * daemon's one-second tick would give it. */
#include "testutil.h"
#include "spike.h"

#include <math.h>

static uint64_t rng_state;

static double uniform(void)
{
    /* xorshift64*: enough for test data, and the same on every machine */
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;
    return (double)((rng_state * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static uint32_t poisson(double lambda)
{
    if (lambda <= 0)
        return 0;
    if (lambda > 40) {          /* normal approximation */
        double u1 = uniform(), u2 = uniform(), z;
        z = sqrt(-2.0 * log(u1 > 0 ? u1 : 1e-12)) * cos(2 * M_PI * u2);
        z = lambda + sqrt(lambda) * z + 0.5;
        return z < 0 ? 0 : (uint32_t)z;
    }
    {
        double l = exp(-lambda), p = 1.0;
        uint32_t k = 0;
        do {
            k++;
            p *= uniform();
        } while (p > l);
        return k - 1;
    }
}

typedef double (*rate_fn)(uint64_t t);

struct run {
    int starts, escalations, ends;
    uint64_t first_start, first_end;    /* seconds, 0: none */
    uint64_t starts_at[16];
};

#define T0 1000000u

/* Seconds [0, seconds) of f into a series that started at T0. */
static void feed(struct spike_series *s, rate_fn f, uint64_t seconds, const struct spike_params *p, struct run *r)
{
    enum spike_event ev;
    const uint64_t t0 = T0;

    memset(r, 0, sizeof *r);
    rng_state = 0x9E3779B97F4A7C15ULL;
    for (uint64_t t = 0; t < seconds; t++) {
        uint32_t n = poisson(f(t));
        if (n)
            spike_count(s, p, t0 + t, n);
        while (spike_poll(s, p, t0 + t, &ev)) {
            if (ev == SPIKE_START) {
                if (r->starts < 16)
                    r->starts_at[r->starts] = t;
                if (!r->starts++)
                    r->first_start = t;
            } else if (ev == SPIKE_ESCALATE) {
                r->escalations++;
            } else if (ev == SPIKE_END && !r->ends++) {
                r->first_end = t;
            }
        }
    }
}

static void drive(rate_fn f, uint64_t seconds, const struct spike_params *p, struct run *r)
{
    struct spike_series s;

    assert_int_equal(spike_init(&s, p->window_s, T0), 0);
    feed(&s, f, seconds, p, r);
    spike_free(&s);
}

#define HOUR 3600u
#define DAY 86400u

static double flat(uint64_t t) { (void)t; return 2.0; }
static double daily(uint64_t t) { return 3.0 + 2.5 * sin(2 * M_PI * (double)t / DAY); }
static double growth(uint64_t t) { return 1.0 + 9.0 * (double)t / DAY; }
static double step(uint64_t t) { return t < 2 * HOUR ? 2.0 : 20.0; }
static double spike10(uint64_t t) { return t >= 2 * HOUR && t < 2 * HOUR + 600 ? 20.0 : 2.0; }
static double escalating(uint64_t t)
{
    if (t >= 2 * HOUR && t < 2 * HOUR + 300)
        return 10.0;
    if (t >= 2 * HOUR + 300 && t < 2 * HOUR + 900)
        return 40.0;
    return 1.0;
}
static double warmup_spike(uint64_t t) { return t >= 300 && t < 600 ? 20.0 : 2.0; }
static double quiet_burst(uint64_t t)
{
    /* a rule that sees a post every few minutes, then 12 in ten seconds */
    if (t >= 2 * HOUR && t < 2 * HOUR + 10)
        return 1.2;
    return 0.005;
}
static double busy_noise(uint64_t t) { (void)t; return 400.0; }

static void no_page_on_flat(void **state)
{
    struct spike_params p;
    struct run r;
    (void)state;
    spike_params_default(&p);
    drive(flat, 12 * HOUR, &p, &r);
    assert_int_equal(r.starts, 0);
}

static void no_page_on_daily_cycle(void **state)
{
    struct spike_params p;
    struct run r;
    (void)state;
    spike_params_default(&p);
    drive(daily, 2 * DAY, &p, &r);
    assert_int_equal(r.starts, 0);
}

static void no_page_on_slow_growth(void **state)
{
    struct spike_params p;
    struct run r;
    (void)state;
    spike_params_default(&p);
    drive(growth, DAY, &p, &r);
    assert_int_equal(r.starts, 0);
}

static void no_page_on_busy_noise(void **state)
{
    /* a high-volume series: a z test alone would fire on normal variation;
     * the ratio keeps it quiet */
    struct spike_params p;
    struct run r;
    (void)state;
    spike_params_default(&p);
    drive(busy_noise, 6 * HOUR, &p, &r);
    assert_int_equal(r.starts, 0);
}

static void step_pages_once_and_is_accepted(void **state)
{
    struct spike_params p;
    struct run r;
    (void)state;
    spike_params_default(&p);
    drive(step, 10 * HOUR, &p, &r);
    assert_int_equal(r.starts, 1);
    assert_true(r.first_start >= 2 * HOUR && r.first_start < 2 * HOUR + 60);
    /* the new level becomes the baseline: the incident ends, and never
     * re-opens while the rate stays there */
    assert_int_equal(r.ends, 1);
    assert_true(r.first_end > r.first_start && r.first_end < 6 * HOUR);
    assert_int_equal(r.escalations, 0);
}

static void spike_pages_within_a_window_and_resolves(void **state)
{
    struct spike_params p;
    struct run r;
    (void)state;
    spike_params_default(&p);
    drive(spike10, 6 * HOUR, &p, &r);
    assert_int_equal(r.starts, 1);
    assert_true(r.first_start >= 2 * HOUR && r.first_start < 2 * HOUR + 30);
    assert_int_equal(r.escalations, 0);       /* the ramp is not an escalation */
    assert_int_equal(r.ends, 1);
    /* over once the window has emptied and resolve_s has passed */
    assert_true(r.first_end >= 2 * HOUR + 600 + p.resolve_s);
    assert_true(r.first_end <= 2 * HOUR + 600 + p.window_s + p.resolve_s);
}

static void escalation_when_rate_doubles(void **state)
{
    struct spike_params p;
    struct run r;
    (void)state;
    spike_params_default(&p);
    drive(escalating, 6 * HOUR, &p, &r);
    assert_int_equal(r.starts, 1);
    assert_int_equal(r.escalations, 1);
    assert_int_equal(r.ends, 1);
}

static void spike_during_warmup_never_pages(void **state)
{
    struct spike_params p;
    struct run r;
    (void)state;
    spike_params_default(&p);
    drive(warmup_spike, 6 * HOUR, &p, &r);
    assert_int_equal(r.starts, 0);
    /* and the same surge after the warm-up does page: the test is not
     * passing because the detector is deaf */
    p.warmup_s = 60;
    drive(warmup_spike, 6 * HOUR, &p, &r);
    assert_int_equal(r.starts, 1);
}

static double restart_surge(uint64_t t) { return t >= 30 && t < 330 ? 20.0 : 2.0; }

/* A restart: the baseline an earlier run learnt (2 h of 2 posts/s) is
 * given to the new series, which then pages a surge 30 s after the start,
 * well inside the 900 s warm-up; the same surge without it pages nothing. */
static void restored_baseline_pages_without_warmup(void **state)
{
    struct spike_params p;
    struct spike_series learnt, fresh;
    struct spike_state st, bad;
    struct run r;
    (void)state;

    spike_params_default(&p);
    assert_int_equal(spike_init(&learnt, p.window_s, T0), 0);
    feed(&learnt, flat, 2 * HOUR, &p, &r);
    assert_int_equal(spike_state_get(&learnt, &st), 0);
    assert_true(st.samples >= 2 * HOUR - 1 && st.mean > 100 && st.mean < 140);    /* 2/s over 60 s */

    assert_int_equal(spike_init(&fresh, p.window_s, T0), 0);
    assert_int_equal(spike_state_get(&fresh, &bad), -1);        /* nothing learnt: nothing to keep */
    bad = st;
    bad.mean = NAN;
    assert_int_equal(spike_state_set(&fresh, &bad), 0);
    bad = st;
    bad.var = -1;
    assert_int_equal(spike_state_set(&fresh, &bad), 0);
    bad = st;
    bad.samples = 0;
    assert_int_equal(spike_state_set(&fresh, &bad), 0);
    bad = st;
    bad.window_s = 10;                                          /* another window's mean */
    assert_int_equal(spike_state_set(&fresh, &bad), 0);
    assert_int_equal(spike_state_set(&fresh, &st), 1);
    assert_int_equal(spike_state_set(&fresh, &st), 0);          /* taught once */
    feed(&fresh, restart_surge, 600, &p, &r);
    assert_int_equal(r.starts, 1);
    assert_true(r.first_start >= 30 && r.first_start < 90);     /* within a window of the surge */
    spike_free(&fresh);

    drive(restart_surge, 600, &p, &r);                          /* no saved baseline: warm-up */
    assert_int_equal(r.starts, 0);

    /* A series that learnt as long itself (Redis was away) keeps its own. */
    st.samples = 10;
    assert_int_equal(spike_state_set(&learnt, &st), 0);
    spike_free(&learnt);
}

static void quiet_rule_needs_min_count(void **state)
{
    struct spike_params p;
    struct run r;
    (void)state;
    spike_params_default(&p);
    drive(quiet_burst, 4 * HOUR, &p, &r);
    assert_int_equal(r.starts, 0);
    p.min_count = 5;
    drive(quiet_burst, 4 * HOUR, &p, &r);
    assert_int_equal(r.starts, 1);
}

static void late_poll_loses_no_event(void **state)
{
    /* counts arrive but the tick is late: the seconds judged inside
     * spike_count keep their events for the next poll */
    struct spike_params p;
    struct spike_series s;
    enum spike_event ev;
    int got = 0;
    (void)state;
    spike_params_default(&p);
    p.warmup_s = 10;
    assert_int_equal(spike_init(&s, p.window_s, 100), 0);
    for (uint64_t t = 100; t < 400; t++)
        spike_count(&s, &p, t, 1);
    for (uint64_t t = 400; t < 420; t++)
        spike_count(&s, &p, t, 50);
    spike_count(&s, &p, 421, 0);
    while (spike_poll(&s, &p, 421, &ev))
        got |= 1 << ev;
    assert_true(got & (1 << SPIKE_START));
    assert_true(s.firing);
    spike_free(&s);
}

static void bad_window_rejected(void **state)
{
    struct spike_series s;
    (void)state;
    assert_int_equal(spike_init(&s, 0, 1), -1);
    assert_int_equal(spike_init(&s, SPIKE_MAX_WINDOW + 1, 1), -1);
    assert_int_equal(spike_init(&s, SPIKE_MAX_WINDOW, 1), 0);
    spike_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(no_page_on_flat),
        cmocka_unit_test(no_page_on_daily_cycle),
        cmocka_unit_test(no_page_on_slow_growth),
        cmocka_unit_test(no_page_on_busy_noise),
        cmocka_unit_test(step_pages_once_and_is_accepted),
        cmocka_unit_test(spike_pages_within_a_window_and_resolves),
        cmocka_unit_test(escalation_when_rate_doubles),
        cmocka_unit_test(spike_during_warmup_never_pages),
        cmocka_unit_test(restored_baseline_pages_without_warmup),
        cmocka_unit_test(quiet_rule_needs_min_count),
        cmocka_unit_test(late_poll_loses_no_event),
        cmocka_unit_test(bad_window_rejected),
    };
    return cmocka_run_group_tests_name("spike", tests, NULL, NULL);
}
