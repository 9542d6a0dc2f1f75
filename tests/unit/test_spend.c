/* spend: posts read against a daily budget -- each post once a UTC day, by
 * rule, the 80% warning and the spent day once, a new day starting again;
 * budgets in posts or in money. */
#include "testutil.h"
#include "spend.h"

#define DAY 86400000ULL
#define T0 (20000 * DAY + 3600000ULL)   /* 01:00 UTC of some day */

static void budgets(void **state)
{
    uint64_t posts;
    char why[200];
    (void)state;

    assert_int_equal(spend_parse_budget("20000", 0.005, &posts, why, sizeof why), 0);
    assert_true(posts == 20000);
    assert_int_equal(spend_parse_budget("1500 posts", 0.005, &posts, why, sizeof why), 0);
    assert_true(posts == 1500);
    assert_int_equal(spend_parse_budget("50 USD", 0.005, &posts, why, sizeof why), 0);
    assert_true(posts == 10000);
    assert_int_equal(spend_parse_budget("12.5 eur", 0.0025, &posts, why, sizeof why), 0);
    assert_true(posts == 5000);
    assert_int_equal(spend_parse_budget("lots", 0.005, &posts, why, sizeof why), -1);
    assert_int_equal(spend_parse_budget("50 dollars", 0.005, &posts, why, sizeof why), -1);
    assert_non_null(strstr(why, "currency code"));
    assert_int_equal(spend_parse_budget("-5", 0.005, &posts, why, sizeof why), -1);
    assert_int_equal(spend_parse_budget("0.001 USD", 0.005, &posts, why, sizeof why), -1);
}

static void a_day_of_reading(void **state)
{
    struct spend s;
    const char *cards[] = {"cards"}, *both[] = {"cards", "login"};
    char id[32];
    (void)state;

    spend_init(&s, 10);
    for (int i = 0; i < 7; i++) {
        snprintf(id, sizeof id, "19000000000000%02d", i);
        assert_int_equal(spend_read(&s, T0 + (uint64_t)i, id, i % 2 ? both : cards, i % 2 ? 2 : 1), SPEND_NONE);
    }
    /* the same post again the same day: billed once */
    assert_int_equal(spend_read(&s, T0 + 10, "1900000000000000", cards, 1), SPEND_NONE);
    assert_true(s.read == 7);
    assert_int_equal(spend_read(&s, T0 + 11, "1900000000000007", cards, 1), SPEND_WARN);   /* 8 of 10 */
    assert_int_equal(spend_read(&s, T0 + 12, "1900000000000008", cards, 1), SPEND_NONE);
    assert_int_equal(spend_read(&s, T0 + 13, "1900000000000009", cards, 1), SPEND_SPENT);
    assert_true(s.spent);
    assert_int_equal(spend_read(&s, T0 + 14, "1900000000000010", cards, 1), SPEND_NONE);   /* said once */
    assert_int_equal(s.nrules, 2);
    assert_string_equal(s.rules[0].name, "cards");
    assert_true(s.rules[0].read == 11 && s.rules[1].read == 3);
    /* the next UTC day: counted again, and the day before had been spent */
    assert_int_equal(spend_tick(&s, T0 + 5 * 3600000ULL), 0);
    assert_int_equal(spend_tick(&s, T0 + DAY), 1);
    assert_false(s.spent);
    assert_true(s.read == 0 && s.read_total == 11 && s.rules[0].read == 0);
    assert_int_equal(spend_read(&s, T0 + DAY + 1, "1900000000000000", cards, 1), SPEND_NONE);
    assert_true(s.read == 1);           /* yesterday's post, read again today: billed again */
    spend_free(&s);
    /* no budget: counted, never spent */
    spend_init(&s, 0);
    for (int i = 0; i < 100; i++) {
        snprintf(id, sizeof id, "%d", i);
        assert_int_equal(spend_read(&s, T0, id, NULL, 0), SPEND_NONE);
    }
    assert_true(s.read == 100 && !s.spent);
    spend_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(budgets),
        cmocka_unit_test(a_day_of_reading),
    };
    return cmocka_run_group_tests_name("spend", tests, NULL, NULL);
}
