/* pipeline with worker threads: the same alerts, in the same order, as on
 * one thread; a rules swap waits for the posts matched against the old
 * rules; the worker ring hands jobs back in the order they went in. */
#include "testutil.h"
#include "pipeline.h"
#include "util.h"
#include "workers.h"

#include <glob.h>
#include <limits.h>
#include <time.h>

#define MAX_ALERTS 4096

struct got {
    int n;
    char *json[MAX_ALERTS];
};

/* The alert without its "times" (wall clock of this run). */
static void collect(void *ctx, struct alert *a)
{
    struct got *g = ctx;
    char *j = xstrndup(a->json, a->len), *t = strstr(j, ",\"times\":{");
    if (t) {
        char *end = strchr(t + 1, '}');
        memmove(t, end + 1, strlen(end + 1) + 1);
    }
    assert_true(g->n < MAX_ALERTS);
    g->json[g->n++] = j;
    alert_free(a);
}

static void got_free(struct got *g)
{
    for (int i = 0; i < g->n; i++)
        free(g->json[i]);
    g->n = 0;
}

static char *demo_posts(size_t *len)
{
    char path[4096], err[256];
    char *data = file_read_all(SRC_PATH(path, "scripts/demo/posts.jsonl"), 1 << 24, len, err, sizeof err);
    assert_non_null(data);
    return data;
}

/* Every record in its own read, REPEAT times (later rounds are duplicates,
 * which must be dropped the same way): more batches than the ring holds. */
#define REPEAT 20

static void run(const struct config *cfg, const struct ruleset *rs, int workers, const struct ruleset *swap_to,
                int repeat, struct got *g)
{
    struct pipeline pl;
    struct feed f;
    size_t len;
    char *data = demo_posts(&len);

    pipeline_init(&pl, cfg, rs, collect, g);
    assert_int_equal(pipeline_start_workers(&pl, workers), 0);
    assert_int_equal(pipeline_worker_count(&pl), workers);
    assert_int_equal(feed_init(&f, "t", "x_v2", "x_v2", NULL, &pl), 0);
    assert_true(workers == 0 || f.wdec != NULL);
    for (int r = 0; r < repeat; r++)
        for (char *p = data, *nl; p < data + len; p = nl + 1) {
            nl = memchr(p, '\n', (size_t)(data + len - p));
            feed_bytes(&f, p, (size_t)(nl - p) + 1);
        }
    if (swap_to)
        pipeline_set_rules(&pl, swap_to);   /* batches still in flight */
    feed_finish(&f, 1);
    assert_int_equal(pipeline_pending(&pl), 0);
    assert_int_equal(f.st.posts, 32 * repeat);
    feed_free(&f);
    pipeline_free(&pl);
    free(data);
}

static struct ruleset *load(const char *glob)
{
    char lex[4096];
    struct errlist errs = {0};
    struct ruleset *rs = rules_load(glob, 0, SRC_PATH(lex, "conf/lexicons"), &errs);
    if (!rs)
        fail_msg("%s", errs.n ? errs.msgs[0] : "rules did not load");
    return rs;
}

static void same_as_inline(void **state)
{
    char glob[4096];
    struct config *cfg = config_defaults_new();
    struct ruleset *rs = load(SRC_PATH(glob, "conf/rules.d/*.rules"));
    struct got ref = {0}, g = {0};
    (void)state;
    run(cfg, rs, 0, NULL, REPEAT, &ref);
    assert_true(ref.n >= 10);
    for (int w = 1; w <= 2; w++) {
        run(cfg, rs, w, NULL, REPEAT, &g);
        assert_int_equal(g.n, ref.n);
        for (int i = 0; i < ref.n; i++)
            assert_string_equal(g.json[i], ref.json[i]);
        got_free(&g);
    }
    got_free(&ref);
    rules_free(rs);
    config_free(cfg);
}

/* The new rules put one rule first, so every rule's index moves: results
 * matched against the old rules but read against the new would name the
 * wrong rule and queue. */
static void swap_waits_for_old_results(void **state)
{
    char pattern[4096], dir[] = "/tmp/mentiond-pl-XXXXXX", path[8300];
    struct config *cfg = config_defaults_new();
    struct ruleset *a = load(SRC_PATH(pattern, "conf/rules.d/*.rules")), *b;
    struct got ref = {0}, g = {0};
    FILE *f;
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/00-first.rules", dir);
    assert_non_null(f = fopen(path, "w"));
    fputs("[rule \"never\"]\nquery = zzqqxxvvnever\nqueue = never\n", f);
    fclose(f);
    {
        glob_t gl;
        char abs[4096];
        assert_int_equal(glob(pattern, 0, NULL, &gl), 0);
        for (size_t i = 0; i < gl.gl_pathc; i++) {
            snprintf(path, sizeof path, "%s/%s", dir, strrchr(gl.gl_pathv[i], '/') + 1);
            assert_non_null(realpath(gl.gl_pathv[i], abs));
            assert_int_equal(symlink(abs, path), 0);
        }
        globfree(&gl);
    }
    snprintf(path, sizeof path, "%s/*.rules", dir);
    b = load(path);
    assert_int_equal(b->n, a->n + 1);
    /* one round: the batches still in flight at the swap hold alerting posts */
    run(cfg, a, 0, NULL, 1, &ref);
    run(cfg, a, 2, b, 1, &g);
    assert_int_equal(g.n, ref.n);
    for (int i = 0; i < ref.n; i++)
        assert_string_equal(g.json[i], ref.json[i]);
    got_free(&ref);
    got_free(&g);
    {
        glob_t gl;
        snprintf(path, sizeof path, "%s/*.rules", dir);
        assert_int_equal(glob(path, 0, NULL, &gl), 0);
        for (size_t i = 0; i < gl.gl_pathc; i++)
            unlink(gl.gl_pathv[i]);
        globfree(&gl);
    }
    rmdir(dir);
    rules_free(a);
    rules_free(b);
    config_free(cfg);
}

/* The ring: jobs that finish out of order are collected in order. */
struct ring_job {
    int seq, sleep_us;
};

static int collected[1000], ncollected;

static void ring_work(void *job, int worker)
{
    struct ring_job *j = job;
    struct timespec ts = {0, (long)j->sleep_us * 1000};
    (void)worker;
    nanosleep(&ts, NULL);
}

static void ring_collect(void *ctx, void *job)
{
    (void)ctx;
    collected[ncollected++] = ((struct ring_job *)job)->seq;
}

static void ring_order(void **state)
{
    static struct ring_job jobs[1000];
    struct workers *w = workers_new(3, 5, ring_work, ring_collect, NULL);
    (void)state;
    assert_non_null(w);
    for (int i = 0; i < 1000; i++) {
        jobs[i].seq = i;
        jobs[i].sleep_us = (i * 7919) % 200;    /* later jobs often finish first */
        workers_submit(w, &jobs[i]);
        assert_true(workers_pending(w) <= 5);
    }
    workers_drain(w);
    assert_int_equal(workers_pending(w), 0);
    assert_int_equal(ncollected, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(collected[i], i);
    workers_free(w);
    assert_null(workers_new(0, 5, ring_work, ring_collect, NULL));
    assert_null(workers_new(WORKERS_MAX + 1, 5, ring_work, ring_collect, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(same_as_inline),
        cmocka_unit_test(swap_waits_for_old_results),
        cmocka_unit_test(ring_order),
    };
    return cmocka_run_group_tests_name("pipeline", tests, NULL, NULL);
}
