/* ledger: a source's completeness ledger, and the ISO 8601 times it reads
 * the sources' own clocks from. */
#include "testutil.h"
#include "ledger.h"
#include "util.h"

#define T0 1796630400000ull             /* 2026-12-07T08:00:00Z */

static void iso_times(void **state)
{
    uint64_t t;

    (void)state;
    assert_int_equal(parse_iso8601_ms("2026-12-07T08:00:00.000Z", &t), 0);
    assert_true(t == T0);
    assert_int_equal(parse_iso8601_ms("2026-12-07T08:00:00Z", &t), 0);
    assert_true(t == T0);
    assert_int_equal(parse_iso8601_ms("2026-12-07T09:30:00.25+01:30", &t), 0);
    assert_true(t == T0 + 250);
    assert_int_equal(parse_iso8601_ms("2026-12-07T07:00:00-0100", &t), 0);
    assert_true(t == T0);
    assert_int_equal(parse_iso8601_ms("1970-01-01T00:00:00Z", &t), 0);
    assert_true(t == 0);
    assert_int_equal(parse_iso8601_ms("2024-02-29T00:00:00.123456Z", &t), 0);   /* leap day, µs cut */
    assert_true(t == 1709164800123ull);
    /* no zone, no time, wrong fields: not placed */
    assert_int_equal(parse_iso8601_ms("2026-12-07T08:00:00", &t), -1);
    assert_int_equal(parse_iso8601_ms("2026-12-07", &t), -1);
    assert_int_equal(parse_iso8601_ms("Mon, 07 Dec 2026 08:00:00 GMT", &t), -1);
    assert_int_equal(parse_iso8601_ms("2026-13-07T08:00:00Z", &t), -1);
    assert_int_equal(parse_iso8601_ms("2026-12-07T08:00:00Zjunk", &t), -1);
    assert_int_equal(parse_iso8601_ms(NULL, &t), -1);
}

/* 20 posts a second for a minute, then silence: quiet after quiet_ms, not
 * before, and never for a source that brings a post a minute. */
static void quiet_needs_a_rate(void **state)
{
    struct ledger l, slow;
    uint64_t now = T0;

    (void)state;
    ledger_init(&l);
    ledger_init(&slow);
    for (int s = 0; s <= 60; s++, now += 1000) {
        ledger_post(&l, now, 20, now - 1500);
        if (s % 60 == 0)
            ledger_post(&slow, now, 1, 0);
        ledger_tick(&l, now, 1);
        ledger_tick(&slow, now, 1);
    }
    assert_true(l.rate > 19 && l.rate < 21);
    assert_true(l.lag_ms == 1500);
    assert_false(ledger_quiet(&l, l.last_post_ms + 2999, T0, 3000));
    assert_true(ledger_quiet(&l, l.last_post_ms + 3000, T0, 3000));
    assert_false(ledger_quiet(&l, l.last_post_ms + 3000, l.last_post_ms + 1000, 3000));  /* up again since */
    assert_false(ledger_quiet(&l, l.last_post_ms + 10000, T0, 0));                     /* off */
    assert_false(ledger_quiet(&slow, now + 300000, T0, 300000));   /* 1 a minute: 5 expected, under 10 */
    /* a source that has learnt nothing is never quiet */
    ledger_init(&slow);
    assert_false(ledger_quiet(&slow, now + 600000, T0, 3000));
}

static void gaps_are_kept_and_counted(void **state)
{
    struct ledger l;
    const struct ledger_gap *g;

    (void)state;
    ledger_init(&l);
    assert_null(ledger_last_gap(&l));
    ledger_post(&l, T0, 1, 0);
    ledger_gap_open(&l, T0 + 5000, GAP_QUIET);
    ledger_gap_open(&l, T0 + 6000, GAP_RECONNECT);      /* already open: the first cause stays */
    g = ledger_last_gap(&l);
    assert_true(g->start_ms == T0 && g->end_ms == 0);
    assert_int_equal(g->cause, GAP_QUIET);
    assert_int_equal(g->fill, GAP_OPEN);
    ledger_gap_close(&l, T0 + 7000, 1);
    assert_int_equal(g->fill, GAP_FILLED);
    assert_true(g->end_ms == T0 + 7000);
    assert_true(l.gaps_total[GAP_QUIET][GAP_FILLED] == 1 && l.gap_ms_total[GAP_FILLED] == 7000);
    assert_true(l.quiet == 1);
    ledger_gap_close(&l, T0 + 8000, 0);                 /* none open: nothing */
    assert_true(l.gaps_total[GAP_QUIET][GAP_UNFILLED] == 0);
    /* the ring keeps the last LEDGER_GAPS; the totals keep them all */
    for (int i = 0; i < 3 * LEDGER_GAPS; i++) {
        ledger_gap_open(&l, T0 + 10000 + (uint64_t)i * 10, GAP_STALL);
        ledger_gap_close(&l, T0 + 10005 + (uint64_t)i * 10, 0);
    }
    assert_int_equal(l.ngaps, LEDGER_GAPS);
    assert_true(l.gaps_total[GAP_STALL][GAP_UNFILLED] == 3 * LEDGER_GAPS);
    g = ledger_last_gap(&l);
    assert_int_equal(g->cause, GAP_STALL);
    assert_true(g->end_ms == T0 + 10005 + (3 * LEDGER_GAPS - 1) * 10);
    /* a broken connection teaches the rate nothing */
    ledger_tick(&l, T0, 0);
    assert_true(l.bucket_start_ms == 0);
}

/* Posts lost at a cursor: the open gap takes the cause and is not filled
 * even by a source that resumes; a notice that comes on the connection
 * after the gap closed recounts that gap; with no gap, one at now. */
static void lost_posts_leave_unfilled_gaps(void **state)
{
    struct ledger l;
    const struct ledger_gap *g;

    (void)state;
    ledger_init(&l);
    ledger_post(&l, T0, 1, 0);
    ledger_gap_open(&l, T0 + 1000, GAP_RECONNECT);
    ledger_gap_lost(&l, T0 + 2000, T0 + 2000, GAP_CURSOR_TOO_OLD);
    ledger_gap_close(&l, T0 + 3000, 1);
    g = ledger_last_gap(&l);
    assert_int_equal(g->cause, GAP_CURSOR_TOO_OLD);
    assert_int_equal(g->fill, GAP_UNFILLED);
    assert_true(l.gaps_total[GAP_CURSOR_TOO_OLD][GAP_UNFILLED] == 1 && l.gap_ms_total[GAP_UNFILLED] == 3000);
    /* the next gap is filled again */
    ledger_gap_open(&l, T0 + 4000, GAP_RECONNECT);
    ledger_gap_close(&l, T0 + 5000, 1);
    assert_int_equal(ledger_last_gap(&l)->fill, GAP_FILLED);
    assert_true(l.gaps_total[GAP_RECONNECT][GAP_FILLED] == 1 && l.gap_ms_total[GAP_FILLED] == 5000);
    /* the server says so just after: that gap was not filled after all */
    ledger_gap_lost(&l, T0 + 5100, T0 + 5000, GAP_CURSOR_JUMP);
    g = ledger_last_gap(&l);
    assert_int_equal(g->cause, GAP_CURSOR_JUMP);
    assert_int_equal(g->fill, GAP_UNFILLED);
    assert_true(l.gaps_total[GAP_RECONNECT][GAP_FILLED] == 0 && l.gap_ms_total[GAP_FILLED] == 0);
    assert_true(l.gaps_total[GAP_CURSOR_JUMP][GAP_UNFILLED] == 1 && l.gap_ms_total[GAP_UNFILLED] == 8000);
    /* a notice on a connection up since after the last gap: a new one */
    ledger_post(&l, T0 + 9000, 1, 0);
    ledger_gap_lost(&l, T0 + 9500, T0 + 6000, GAP_CURSOR_JUMP);
    assert_int_equal(l.ngaps, 3);
    g = ledger_last_gap(&l);
    assert_true(g->start_ms == T0 + 9000 && g->end_ms == T0 + 9500 && g->fill == GAP_UNFILLED);
    assert_false(l.open);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(iso_times),
        cmocka_unit_test(quiet_needs_a_rate),
        cmocka_unit_test(gaps_are_kept_and_counted),
        cmocka_unit_test(lost_posts_leave_unfilled_gaps),
    };
    return cmocka_run_group_tests_name("ledger", tests, NULL, NULL);
}
