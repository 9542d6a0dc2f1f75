/* rendezvous: which fleet member runs a source.  The properties a fleet
 * relies on: every member computes the same pick, the load spreads, and a
 * join or a leave moves only what it must. */
#include "testutil.h"
#include "rendezvous.h"

#include <stdio.h>

#define KEYS 6000

static const char *const five[] = {"fleet-a", "fleet-b", "fleet-c", "fleet-d", "fleet-e"};

static void key_name(int i, char *out, size_t len)
{
    snprintf(out, len, "source-%d", i);
}

/* The README's example (and test_fleet.py's): fixed picks, so another
 * hash or another mixing is a failing test, not a silent reshuffle of
 * every fleet on upgrade. */
static void picks_are_stable(void **state)
{
    static const char *const want3[] = {"fleet-a", "fleet-b", "fleet-a", "fleet-c", "fleet-c", "fleet-b"};
    static const char *const want4[] = {"fleet-d", "fleet-b", "fleet-a", "fleet-c", "fleet-c", "fleet-b"};
    char k[32];

    (void)state;
    for (int i = 0; i < 6; i++) {
        snprintf(k, sizeof k, "x%d", i + 1);
        assert_string_equal(five[rendezvous_pick(five, 3, k)], want3[i]);
        assert_string_equal(five[rendezvous_pick(five, 4, k)], want4[i]);
    }
    assert_int_equal(rendezvous_pick(five, 0, "x1"), -1);
    assert_int_equal(rendezvous_pick(five, 1, "x1"), 0);
}

/* The order members are listed in does not matter. */
static void order_does_not_matter(void **state)
{
    const char *rev[5];
    char k[32];

    (void)state;
    for (int i = 0; i < 5; i++)
        rev[i] = five[4 - i];
    for (int i = 0; i < KEYS; i++) {
        key_name(i, k, sizeof k);
        assert_string_equal(five[rendezvous_pick(five, 5, k)], rev[rendezvous_pick(rev, 5, k)]);
    }
}

/* 6000 sources over four members: each gets a quarter, give or take 10%. */
static void load_spreads(void **state)
{
    int got[4] = {0};
    char k[32];

    (void)state;
    for (int i = 0; i < KEYS; i++) {
        key_name(i, k, sizeof k);
        got[rendezvous_pick(five, 4, k)]++;
    }
    for (int m = 0; m < 4; m++)
        assert_true(got[m] > KEYS / 4 * 9 / 10 && got[m] < KEYS / 4 * 11 / 10);
}

/* A fifth member joins: what moves, moves to it, and about a fifth moves;
 * a member leaves: only what it had moves. */
static void join_and_leave_move_little(void **state)
{
    int moved = 0;
    char k[32];

    (void)state;
    for (int i = 0; i < KEYS; i++) {
        int before, after;
        key_name(i, k, sizeof k);
        before = rendezvous_pick(five, 4, k);
        after = rendezvous_pick(five, 5, k);
        if (before != after) {
            assert_int_equal(after, 4);
            moved++;
        }
        /* fleet-a leaves the four: only its sources move */
        if (before != 0)
            assert_int_equal(rendezvous_pick(five + 1, 3, k) + 1, before);
    }
    assert_true(moved > KEYS / 5 * 9 / 10 && moved < KEYS / 5 * 11 / 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(picks_are_stable),
        cmocka_unit_test(order_does_not_matter),
        cmocka_unit_test(load_spreads),
        cmocka_unit_test(join_and_leave_move_little),
    };
    return cmocka_run_group_tests_name("rendezvous", tests, NULL, NULL);
}
