/* backoff: see backoff.h. */
#include "backoff.h"

void backoff_reset(struct backoff *b)
{
    b->attempts = 0;
    b->kind = BACKOFF_NETWORK;
}

static uint64_t expo(uint64_t start, uint64_t cap, int n)
{
    uint64_t d = start;
    for (int i = 1; i < n && d < cap; i++)
        d *= 2;
    return d < cap ? d : cap;
}

uint64_t backoff_base_ms(enum backoff_kind kind, int n)
{
    if (n < 1)
        n = 1;
    switch (kind) {
    case BACKOFF_NETWORK:
        return (uint64_t)n * 250 < 16000 ? (uint64_t)n * 250 : 16000;
    case BACKOFF_HTTP:
        return expo(5000, 320000, n);
    case BACKOFF_RATE_LIMIT:
        return expo(60000, 960000, n);
    }
    return 16000;
}

uint64_t backoff_next(struct backoff *b, enum backoff_kind kind, uint32_t rnd)
{
    uint64_t d;

    /* A different kind of failure starts its own sequence, except that a
     * 429 penalty is never shortened by an intervening network error. */
    if (kind != b->kind && !(b->kind == BACKOFF_RATE_LIMIT && b->attempts > 0)) {
        b->kind = kind;
        b->attempts = 0;
    }
    if (b->attempts < 1000)
        b->attempts++;
    d = backoff_base_ms(b->kind, b->attempts);
    return d + (d / 5) * (rnd % 1001) / 1000;
}

const char *backoff_kind_name(enum backoff_kind kind)
{
    switch (kind) {
    case BACKOFF_NETWORK:
        return "network";
    case BACKOFF_HTTP:
        return "http";
    case BACKOFF_RATE_LIMIT:
        return "rate-limit";
    }
    return "?";
}
