/* spool: records round-trip, priority order, settle-and-delete, the size
 * cap's drop order, recovery after a crash, torn and corrupt records. */
#include "testutil.h"
#include "alert.h"
#include "log.h"
#include "spool.h"
#include "util.h"

#include <dirent.h>
#include <fcntl.h>

static char dir[256];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/mentiond-spool-XXXXXX");
    assert_non_null(mkdtemp(dir));
    log_set_level(LOG_CRIT);            /* the warnings are what is tested, not shown */
    return 0;
}

static int teardown(void **state)
{
    char cmd[300];
    (void)state;
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd);
}

static struct alert *mk(int level, int n)
{
    struct alert *a = xcalloc(1, sizeof *a);
    char buf[64];

    a->level = level;
    a->score = 100 - n;
    snprintf(buf, sizeof buf, "x-main:%d", n);
    a->id = xstrdup(buf);
    a->source = xstrdup("x-main");
    a->author_id = n % 2 ? xstrdup("author-7") : NULL;
    a->queue = xstrdup("cards");
    snprintf(buf, sizeof buf, "{\"n\":%d,\"level\":%d}", n, level);
    a->json = xstrdup(buf);
    a->len = strlen(buf);
    a->received_us = 1234567890123ull + (uint64_t)n;
    a->kind = n % 5 == 4 ? ALERT_DELETED : ALERT_MENTION;
    a->known = n % 3 == 0;
    return a;
}

static struct spool *open_ok(uint64_t max, uint64_t seg)
{
    char err[512] = "";
    struct spool *s = spool_open(dir, max, seg, SPOOL_FSYNC_NEVER, err, sizeof err);
    if (!s)
        fail_msg("spool_open: %s", err);
    return s;
}

static int count_segments(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d)))
        n += strstr(e->d_name, ".spool") != NULL;
    closedir(d);
    return n;
}

/* Append n alerts (disk only) spread over the levels; return them in order. */
static void append_many(struct spool *s, int n)
{
    for (int i = 0; i < n; i++) {
        struct alert *a = mk(i % LEVEL_COUNT, i);
        assert_int_equal(spool_append(s, a, 0), SPOOL_OK);
        assert_true(a->spool_seg > 0);
        alert_free(a);
    }
}

static void check_equal(const struct alert *got, const struct alert *want, int same_run)
{
    assert_string_equal(got->id, want->id);
    assert_string_equal(got->source, want->source);
    if (want->author_id)
        assert_string_equal(got->author_id, want->author_id);
    else
        assert_null(got->author_id);
    assert_string_equal(got->queue, want->queue);
    assert_int_equal(got->len, want->len);
    assert_memory_equal(got->json, want->json, want->len);
    assert_int_equal(got->level, want->level);
    assert_int_equal(got->score, want->score);
    assert_int_equal(got->kind, want->kind);
    assert_int_equal(got->known, want->known);
    assert_int_equal(got->received_us, same_run ? want->received_us : 0);
}

/* Read everything back, most urgent level first, each level in order;
 * settle as we go.  Returns how many. */
static int drain(struct spool *s, int total, int same_run)
{
    int got = 0;

    for (int l = 0; l < LEVEL_COUNT; l++) {
        struct alert *a;
        int next = l;                   /* append_many put i at level i % 4 */
        while ((a = spool_read(s, l))) {
            struct alert *want = mk(l, next);
            check_equal(a, want, same_run);
            alert_free(want);
            spool_settle(s, a);
            alert_free(a);
            next += LEVEL_COUNT;
            got++;
        }
        assert_int_equal(next, l + LEVEL_COUNT * ((total - l + LEVEL_COUNT - 1) / LEVEL_COUNT));
        assert_int_equal(spool_unread(s, l), 0);
    }
    return got;
}

static void round_trip_in_priority_order(void **state)
{
    struct spool *s = open_ok(1 << 20, 4096);
    (void)state;

    append_many(s, 203);
    assert_int_equal(spool_unread(s, 0), 51);
    assert_int_equal(spool_records(s), 203);
    assert_true(count_segments() > 4);          /* small segments: rotated */
    assert_int_equal(drain(s, 203, 1), 203);
    /* every segment read and settled is gone but the writers being filled */
    assert_int_equal(spool_records(s), 0);
    spool_close(s);
    assert_int_equal(count_segments(), 0);
}

static void crash_leaves_everything_for_the_next_run(void **state)
{
    struct spool *s = open_ok(1 << 20, 4096);
    struct alert *a;
    (void)state;

    append_many(s, 40);
    /* one read and settled, one read but never acknowledged */
    a = spool_read(s, 0);
    spool_settle(s, a);
    alert_free(a);
    alert_free(spool_read(s, 0));
    spool_close(s);                     /* as after SIGKILL: nothing more settled */

    s = open_ok(1 << 20, 4096);
    /* the segment is kept whole while anything in it is unsettled: both
     * come back (the seen keys make the resend harmless) */
    assert_int_equal(spool_stats(s)->recovered, 40);
    assert_int_equal(drain(s, 40, 0), 40);
    spool_close(s);
    assert_int_equal(count_segments(), 0);
}

static void kept_alerts_are_not_read_back(void **state)
{
    struct spool *s = open_ok(1 << 20, 1 << 16);
    struct alert *a = mk(LEVEL_HIGH, 1), *b = mk(LEVEL_HIGH, 2), *c, *r;
    (void)state;

    assert_int_equal(spool_append(s, a, 1), SPOOL_OK);  /* in memory too */
    assert_null(spool_read(s, LEVEL_HIGH));
    assert_int_equal(spool_append(s, b, 0), SPOOL_OK);  /* disk only */
    r = spool_read(s, LEVEL_HIGH);
    assert_non_null(r);
    assert_string_equal(r->id, b->id);
    assert_true(spool_holds(s, a) && spool_holds(s, r));
    spool_settle(s, a);
    spool_settle(s, r);
    alert_free(r);
    assert_int_equal(spool_records(s), 0);
    /* a new disk-only record after the reader caught up is found */
    c = mk(LEVEL_HIGH, 3);
    assert_int_equal(spool_append(s, c, 0), SPOOL_OK);
    r = spool_read(s, LEVEL_HIGH);
    assert_non_null(r);
    assert_string_equal(r->id, c->id);
    spool_settle(s, r);
    alert_free(r);
    alert_free(a);
    alert_free(b);
    alert_free(c);
    spool_close(s);
    assert_int_equal(count_segments(), 0);
}

static void full_spool_drops_the_least_urgent_first(void **state)
{
    /* room for about 60 records in segments of about 10 */
    struct spool *s = open_ok(6000, 1000);
    int refused = 0;
    (void)state;

    for (int i = 0; i < 100; i++) {
        struct alert *a = mk(LEVEL_LOW, i);
        refused += spool_append(s, a, 0) == SPOOL_FULL;
        alert_free(a);
    }
    assert_true(refused > 0);            /* nothing less urgent to make room */
    assert_int_equal(spool_stats(s)->dropped[LEVEL_LOW], 0);
    assert_true(spool_bytes(s) <= 6000);
    /* criticals push the lows out, oldest segment first */
    for (int i = 0; i < 30; i++) {
        struct alert *a = mk(LEVEL_CRITICAL, 1000 + i);
        assert_int_equal(spool_append(s, a, 0), SPOOL_OK);
        alert_free(a);
    }
    assert_true(spool_stats(s)->dropped[LEVEL_LOW] >= 20);
    assert_int_equal(spool_stats(s)->dropped[LEVEL_CRITICAL], 0);
    assert_true(spool_bytes(s) <= 6000);
    assert_int_equal(spool_unread(s, LEVEL_CRITICAL), 30);
    {
        /* the lows left are the newest ones, still in order */
        struct alert *a = spool_read(s, LEVEL_LOW);
        int first, prev;
        assert_non_null(a);
        first = prev = atoi(strchr(a->id, ':') + 1);
        assert_true(first > 0);
        alert_free(a);
        while ((a = spool_read(s, LEVEL_LOW))) {
            int n = atoi(strchr(a->id, ':') + 1);
            assert_int_equal(n, prev + 1);
            prev = n;
            alert_free(a);
        }
    }
    /* a low that does not fit once only criticals are left is refused */
    for (int i = 0; i < 40; i++) {
        struct alert *a = mk(LEVEL_CRITICAL, 2000 + i);
        enum spool_rc rc = spool_append(s, a, 0);
        alert_free(a);
        if (rc == SPOOL_FULL)
            break;
    }
    {
        struct alert *a = mk(LEVEL_LOW, 5000);
        assert_int_equal(spool_append(s, a, 0), SPOOL_FULL);
        alert_free(a);
    }
    spool_close(s);
}

/* Damage a spool the way a crash or a bad disk would. */
static void corrupt_and_torn_records_are_skipped(void **state)
{
    struct spool *s = open_ok(1 << 20, 1 << 20);
    char path[600], name[300] = "";
    struct stat st;
    DIR *d;
    struct dirent *e;
    int fd, got = 0;
    struct alert *a;
    (void)state;

    for (int i = 0; i < 10; i++) {
        a = mk(LEVEL_NORMAL, i);
        free(a->author_id);             /* records of one size, to find the 4th */
        a->author_id = xstrdup("author-7");
        assert_int_equal(spool_append(s, a, 0), SPOOL_OK);
        alert_free(a);
    }
    spool_close(s);
    d = opendir(dir);
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".spool"))
            snprintf(name, sizeof name, "%s", e->d_name);
    closedir(d);
    snprintf(path, sizeof path, "%s/%s", dir, name);
    assert_int_equal(stat(path, &st), 0);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    /* flip a byte inside the 4th record's JSON, cut the last record short */
    {
        off_t rec = (st.st_size - 8) / 10;
        char c;
        assert_int_equal(pread(fd, &c, 1, 8 + 3 * rec + rec - 3), 1);
        c ^= 0x20;
        assert_int_equal(pwrite(fd, &c, 1, 8 + 3 * rec + rec - 3), 1);
        assert_int_equal(ftruncate(fd, st.st_size - 5), 0);
    }
    close(fd);

    s = open_ok(1 << 20, 1 << 20);
    assert_int_equal(spool_stats(s)->recovered, 8);
    assert_int_equal(spool_stats(s)->corrupt, 2);
    while ((a = spool_read(s, LEVEL_NORMAL))) {
        int n = atoi(strchr(a->id, ':') + 1);
        assert_true(n != 3 && n != 9);
        got++;
        spool_settle(s, a);
        alert_free(a);
    }
    assert_int_equal(got, 8);
    assert_int_equal(spool_stats(s)->corrupt, 2);    /* reported once, at open */
    spool_close(s);
    assert_int_equal(count_segments(), 0);
}

static void one_process_per_directory(void **state)
{
    struct spool *s = open_ok(1 << 20, 4096);
    char err[512] = "", path[512];
    FILE *f;
    (void)state;

    assert_null(spool_open(dir, 1 << 20, 4096, SPOOL_FSYNC_NEVER, err, sizeof err));
    assert_non_null(strstr(err, "in use by another mentiond"));
    assert_non_null(strstr(err, dir));
    spool_close(s);
    /* a file with a segment's name but not our format is left alone */
    snprintf(path, sizeof path, "%s/high-0000000000000007.spool", dir);
    f = fopen(path, "w");
    fputs("not a spool", f);
    fclose(f);
    s = open_ok(1 << 20, 4096);
    assert_int_equal(spool_records(s), 0);
    {
        /* and new segments are numbered past it */
        struct alert *a = mk(LEVEL_HIGH, 1);
        assert_int_equal(spool_append(s, a, 0), SPOOL_OK);
        assert_true(a->spool_seg > 7);
        alert_free(a);
    }
    spool_close(s);
    assert_int_equal(access(path, F_OK), 0);
    /* an unusable directory is an error naming it */
    assert_null(spool_open("/proc/mentiond-spool", 1 << 20, 4096, SPOOL_FSYNC_NEVER, err, sizeof err));
    assert_non_null(strstr(err, "/proc/mentiond-spool"));
}

/* The text of a segment file, or "" (for grepping what is on disk). */
static int on_disk(const char *needle)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int hits = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        char path[600], err[200];
        size_t len;
        char *data;
        if (!strstr(e->d_name, ".spool"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if ((data = file_read_all(path, 1 << 20, &len, err, sizeof err))) {
            hits += memmem(data, len, needle, strlen(needle)) != NULL;
            free(data);
        }
    }
    closedir(d);
    return hits;
}

/* A deleted post's alert: blanked on disk wherever it is (its text gone),
 * skipped when read back, withdrawn when it was never read (never sent);
 * the records around it untouched and still checksummed. */
static void deleted_posts_are_blanked(void **state)
{
    struct spool *s = open_ok(1 << 20, 4096);
    struct alert *a, *k = mk(LEVEL_HIGH, 50);
    int unread, n = 0;
    (void)state;

    for (int i = 0; i < 12; i++) {          /* disk only: 0..11 at levels i % 4 */
        a = mk(i % LEVEL_COUNT, i);
        a->kind = ALERT_MENTION;
        assert_int_equal(spool_append(s, a, 0), SPOOL_OK);
        alert_free(a);
    }
    assert_true(on_disk("{\"n\":5,"));
    assert_int_equal(spool_withdraw(s, "x-main:5", &unread), 1);
    assert_true(unread);
    assert_false(on_disk("{\"n\":5,"));
    assert_true(on_disk("{\"n\":6,") && on_disk("x-main:5"));      /* the id stays, for the count */
    assert_int_equal(spool_withdraw(s, "x-main:99", &unread), 0);
    assert_false(unread);
    assert_int_equal(spool_stats(s)->withdrawn, 1);
    /* level 1 (5 was there) reads 1 and 9, not 5 */
    assert_int_equal(spool_unread(s, 1), 3);
    while ((a = spool_read(s, 1))) {
        assert_true(strcmp(a->id, "x-main:1") == 0 || strcmp(a->id, "x-main:9") == 0);
        spool_settle(s, a);
        alert_free(a);
        n++;
    }
    assert_int_equal(n, 2);
    assert_int_equal(spool_unread(s, 1), 0);
    assert_int_equal(spool_stats(s)->corrupt, 0);
    /* one read back already (sent): blanked, but not "unread" */
    a = spool_read(s, 0);
    assert_string_equal(a->id, "x-main:0");
    assert_int_equal(spool_withdraw(s, "x-main:0", &unread), 1);
    assert_false(unread);
    spool_settle(s, a);
    alert_free(a);
    /* kept in memory and on disk (durability = spool): blanked, read */
    k->kind = ALERT_MENTION;
    assert_int_equal(spool_append(s, k, 1), SPOOL_OK);
    assert_true(on_disk("{\"n\":50,"));
    assert_int_equal(spool_withdraw(s, "x-main:50", &unread), 1);
    assert_false(unread);
    assert_false(on_disk("{\"n\":50,"));
    spool_settle(s, k);
    alert_free(k);
    spool_close(s);
    /* the next run reads the rest whole and skips what was blanked */
    s = open_ok(1 << 20, 4096);
    n = 0;
    for (int l = 0; l < LEVEL_COUNT; l++)
        while ((a = spool_read(s, l))) {
            assert_null(strstr(a->id, "x-main:5"));
            n++;
            spool_settle(s, a);
            alert_free(a);
        }
    assert_int_equal(spool_stats(s)->corrupt, 0);
    assert_true(n >= 8);
    spool_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(round_trip_in_priority_order, setup, teardown),
        cmocka_unit_test_setup_teardown(crash_leaves_everything_for_the_next_run, setup, teardown),
        cmocka_unit_test_setup_teardown(kept_alerts_are_not_read_back, setup, teardown),
        cmocka_unit_test_setup_teardown(full_spool_drops_the_least_urgent_first, setup, teardown),
        cmocka_unit_test_setup_teardown(corrupt_and_torn_records_are_skipped, setup, teardown),
        cmocka_unit_test_setup_teardown(one_process_per_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(deleted_posts_are_blanked, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
