/* backoff: X's documented reconnect schedule. */
#include "testutil.h"
#include "backoff.h"
#include "util.h"

static void network_linear(void **state)
{
    struct backoff b;
    (void)state;
    backoff_reset(&b);
    for (int i = 1; i <= 70; i++) {
        uint64_t d = backoff_next(&b, BACKOFF_NETWORK, 0);
        assert_int_equal(d, i * 250 < 16000 ? i * 250 : 16000);
    }
}

static void http_exponential(void **state)
{
    static const uint64_t want[] = {5000, 10000, 20000, 40000, 80000, 160000, 320000, 320000};
    struct backoff b;
    (void)state;
    backoff_reset(&b);
    for (size_t i = 0; i < ARRAY_LEN(want); i++)
        assert_int_equal(backoff_next(&b, BACKOFF_HTTP, 0), want[i]);
}

static void rate_limit_from_a_minute(void **state)
{
    struct backoff b;
    (void)state;
    backoff_reset(&b);
    assert_int_equal(backoff_next(&b, BACKOFF_RATE_LIMIT, 0), 60000);
    assert_int_equal(backoff_next(&b, BACKOFF_RATE_LIMIT, 0), 120000);
    /* a network error in between does not shorten the 429 penalty */
    assert_int_equal(backoff_next(&b, BACKOFF_NETWORK, 0), 240000);
    backoff_reset(&b);
    assert_int_equal(backoff_next(&b, BACKOFF_NETWORK, 0), 250);
    /* a new kind starts its own sequence */
    assert_int_equal(backoff_next(&b, BACKOFF_HTTP, 0), 5000);
}

static void jitter_bounded(void **state)
{
    (void)state;
    for (uint32_t r = 0; r < 5000; r += 7) {
        struct backoff b;
        uint64_t d;
        backoff_reset(&b);
        d = backoff_next(&b, BACKOFF_HTTP, r);
        assert_true(d >= 5000 && d <= 6000);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(network_linear),
        cmocka_unit_test(http_exponential),
        cmocka_unit_test(rate_limit_from_a_minute),
        cmocka_unit_test(jitter_bounded),
    };
    return cmocka_run_group_tests_name("backoff", tests, NULL, NULL);
}
