/* bench_spike: the surge detector on replayed day-shaped streams.
 *
 * Each simulated day is a rule's matches per second: a daily cycle (quiet
 * at night, busy at noon, 0.3 to 6 posts a second), overdispersed noise
 * (the rate itself wanders by 20% over minutes, as real chatter does), and
 * four injected surges of different shapes: an outage (8x for 20 min), a
 * short burst (15x for 3 min), a slow ramp (to 5x over 15 min, 15 min),
 * and a night-time complaint wave (10x at 03:00 for 10 min).  The detector
 * runs with the daemon's defaults (after its warm-up) and we count, per
 * surge, the seconds from its start to the page, and the pages outside any
 * surge (false pages).  Prints one table; deterministic for a seed.
 *
 *   bench_spike [days]      (default 30)
 */
#include "spike.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY 86400u

static uint64_t rng = 0x2545F4914F6CDD1DULL;

static double uniform(void)
{
    rng ^= rng >> 12;
    rng ^= rng << 25;
    rng ^= rng >> 27;
    return (double)((rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

static uint32_t poisson(double l)
{
    if (l > 40) {
        double z = sqrt(-2.0 * log(uniform() + 1e-300)) * cos(2 * M_PI * uniform());
        z = l + sqrt(l) * z + 0.5;
        return z < 0 ? 0 : (uint32_t)z;
    }
    {
        double L = exp(-l), p = 1.0;
        uint32_t k = 0;
        do {
            k++;
            p *= uniform();
        } while (p > L);
        return k - 1;
    }
}

struct surge {
    const char *name;
    uint32_t start, len;        /* seconds into the day */
    double factor;
    int ramp;                   /* grows linearly to factor over len */
};

static const struct surge surges[] = {
    {"outage 8x 20 min", 10 * 3600, 1200, 8.0, 0},
    {"burst 15x 3 min", 14 * 3600, 180, 15.0, 0},
    {"ramp to 5x 15 min", 17 * 3600, 900, 5.0, 1},
    {"night wave 10x 10 min", 3 * 3600, 600, 10.0, 0},
};
#define NSURGES (sizeof surges / sizeof surges[0])

static double base_rate(uint32_t t)
{
    /* lowest at 04:00, highest at 16:00 */
    return 3.15 - 2.85 * cos(2 * M_PI * ((double)t - 4 * 3600) / DAY);
}

int main(int argc, char **argv)
{
    int days = argc > 1 ? atoi(argv[1]) : 30;
    struct spike_params p;
    struct spike_series s;
    uint64_t t0 = 1000000;
    double wander = 1.0;
    long false_pages = 0, pages = 0;
    long detected[NSURGES] = {0};
    double delay_sum[NSURGES] = {0}, delay_max[NSURGES] = {0};

    spike_params_default(&p);
    if (days < 2)
        days = 2;
    spike_init(&s, p.window_s, t0);
    /* Day 0 is the warm-up and learning day: not scored. */
    for (int d = 0; d < days; d++) {
        int paged[NSURGES] = {0};
        for (uint32_t t = 0; t < DAY; t++) {
            uint64_t now = t0 + (uint64_t)d * DAY + t;
            double rate = base_rate(t);
            enum spike_event ev;
            int in_surge = -1;

            if (t % 60 == 0)    /* the level wanders, mean-reverting */
                wander = 1.0 + 0.8 * (wander - 1.0) + 0.08 * (uniform() * 2 - 1);
            rate *= wander;
            for (unsigned k = 0; k < NSURGES; k++) {
                const struct surge *g = &surges[k];
                if (t >= g->start && t < g->start + g->len) {
                    double f = g->ramp ? 1.0 + (g->factor - 1.0) * (t - g->start) / g->len : g->factor;
                    rate *= f;
                }
                /* a page up to 10 minutes after a surge belongs to it */
                if (t >= g->start && t < g->start + g->len + 600)
                    in_surge = (int)k;
            }
            spike_count(&s, &p, now, poisson(rate));
            while (spike_poll(&s, &p, now + 1, &ev)) {
                if (ev != SPIKE_START || d == 0)
                    continue;
                pages++;
                if (in_surge < 0) {
                    false_pages++;
                } else if (!paged[in_surge]) {
                    double delay = (double)(t - surges[in_surge].start);
                    paged[in_surge] = 1;
                    detected[in_surge]++;
                    delay_sum[in_surge] += delay;
                    if (delay > delay_max[in_surge])
                        delay_max[in_surge] = delay;
                }
            }
        }
    }
    spike_free(&s);
    printf("surge detection on %d replayed days (day-shaped rule traffic, 0.3-6 posts/s, defaults: window %us, "
           "%.0f sd, ratio %.0fx, min %u)\n", days - 1, p.window_s, p.sensitivity, p.min_ratio, p.min_count);
    printf("%-24s %10s %14s %12s\n", "surge", "detected", "mean delay s", "max delay s");
    for (unsigned k = 0; k < NSURGES; k++)
        printf("%-24s %5ld/%-4d %14.1f %12.0f\n", surges[k].name, detected[k], days - 1,
               detected[k] ? delay_sum[k] / (double)detected[k] : 0.0, delay_max[k]);
    printf("pages: %ld in all, %ld false (outside a surge): %.2f false pages a day\n", pages, false_pages,
           (double)false_pages / (days - 1));
    return 0;
}
