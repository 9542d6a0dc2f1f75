/* bench_rules: replay throughput against the JSON-parse ceiling, in one
 * process, on the same bytes (README "Performance").
 *
 *   bench_rules INPUT RULES_FILE
 *
 * 1. yajl with empty callbacks over every record of INPUT (the ceiling);
 * 2. the rules file loaded (time, RSS after);
 * 3. the replay pipeline (frame, decode, normalise, match, score, encode)
 *    over the same bytes with a sink that drops the alerts.
 * Each timing is the best of BENCH_ROUNDS.  Prints one JSON object.
 */
#include "framing.h"
#include "pipeline.h"
#include "rules.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <yajl/yajl_parse.h>

/* BENCH_ROUNDS in the environment overrides; BENCH_NO_WORKERS=1 leaves out
 * the runs with worker threads; BENCH_INLINE_ONLY=1 runs the
 * parse and one inline replay only (for callgrind's instruction counts). */
static int rounds = 3;
#define BENCH_ROUNDS rounds

static int cb_null(void *c) { (void)c; return 1; }
static int cb_bool(void *c, int b) { (void)c; (void)b; return 1; }
static int cb_num(void *c, const char *s, size_t l) { (void)c; (void)s; (void)l; return 1; }
static int cb_str(void *c, const unsigned char *s, size_t l) { (void)c; (void)s; (void)l; return 1; }

static const yajl_callbacks empty = {
    cb_null, cb_bool, NULL, NULL, cb_num, cb_str, cb_null, cb_str, cb_null, cb_null, cb_null,
};

struct counts {
    uint64_t records, alerts;
};

/* The ceiling: parse every record, one document per line, as mentiond
 * frames them, with a handle reused across records. */
static int parse_rec(void *ctx, const char *rec, size_t len, uint64_t off)
{
    yajl_handle h = ctx;
    (void)off;
    yajl_parse(h, (const unsigned char *)rec, len);
    yajl_complete_parse(h);
    return 0;
}

__attribute__((noinline)) static double parse_only(const char *data, size_t len, uint64_t *records)
{
    double best = 1e30;
    for (int r = 0; r < BENCH_ROUNDS; r++) {
        yajl_handle h = yajl_alloc(&empty, NULL, NULL);
        struct framer f;
        uint64_t t0;
        yajl_config(h, yajl_allow_multiple_values, 1);
        framer_init(&f, 4 << 20);
        t0 = now_mono_us();
        framer_feed(&f, data, len, parse_rec, h);
        framer_finish(&f, 1, parse_rec, h);
        if ((double)(now_mono_us() - t0) < best)
            best = (double)(now_mono_us() - t0);
        *records = f.stats.records;
        framer_free(&f);
        yajl_free(h);
    }
    return best / 1e6;
}

/* Match only: the engine's own cost, without scoring and encoding alerts
 * (whose volume grows with the number of matching rules). */
struct match_only {
    struct match_ctx mc;
    const struct ruleset *rs;
    struct decoder_inst dec;
    uint64_t matched;
};

static void mo_post(void *ctx, struct post *p)
{
    struct match_only *mo = ctx;
    if (mo->rs)
        mo->matched += matcher_match(&mo->mc, mo->rs->m, p) > 0;
}

/* BENCH_PER_BYTE: matching alone, timed around each post's matcher_match
 * (tokenising and folding its text, dictionary, rule programs), per byte
 * of the text it matched.  Two clock reads per post, the same at every
 * rule count. */
struct per_byte {
    struct match_only mo;
    uint64_t ns, text_bytes, posts;
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void pb_post(void *ctx, struct post *p)
{
    struct per_byte *pb = ctx;
    uint64_t t0;
    if (!p->text)
        return;
    t0 = now_ns();
    pb->mo.matched += matcher_match(&pb->mo.mc, pb->mo.rs->m, p) > 0;
    pb->ns += now_ns() - t0;
    pb->text_bytes += strlen(p->text);
    pb->posts++;
}

static int pb_rec(void *ctx, const char *rec, size_t len, uint64_t off)
{
    struct per_byte *pb = ctx;
    char err[256];
    (void)off;
    decoder_run(&pb->mo.dec, rec, len, pb_post, pb, err, sizeof err);
    return 0;
}

static int mo_rec(void *ctx, const char *rec, size_t len, uint64_t off)
{
    struct match_only *mo = ctx;
    char err[256];
    (void)off;
    decoder_run(&mo->dec, rec, len, mo_post, mo, err, sizeof err);
    return 0;
}

/* BENCH_FORMAT: the decoder of the input (x_v2 unless set; x_v1 for the
 * v1.1 captures). */
static const char *bench_format(void)
{
    const char *f = getenv("BENCH_FORMAT");
    return f && *f ? f : "x_v2";
}

/* rs NULL: decoding alone (the JSON reader and the decoder, no matching). */
static double match_only(const char *data, size_t len, const struct ruleset *rs)
{
    double best = 1e30;
    for (int r = 0; r < BENCH_ROUNDS; r++) {
        struct match_only mo = {.rs = rs};
        struct framer f;
        uint64_t t0;
        match_ctx_init(&mo.mc);
        decoder_open(&mo.dec, bench_format(), NULL);
        framer_init(&f, 4 << 20);
        t0 = now_mono_us();
        framer_feed(&f, data, len, mo_rec, &mo);
        framer_finish(&f, 1, mo_rec, &mo);
        if ((double)(now_mono_us() - t0) < best)
            best = (double)(now_mono_us() - t0);
        framer_free(&f);
        decoder_close(&mo.dec);
        match_ctx_free(&mo.mc);
    }
    return best / 1e6;
}

/* Best of BENCH_ROUNDS of matching alone over the input; prints its JSON. */
static void per_byte(const char *data, size_t len, const struct ruleset *rs)
{
    struct per_byte best = {.ns = UINT64_MAX};
    for (int r = 0; r < BENCH_ROUNDS; r++) {
        struct per_byte pb = {.mo = {.rs = rs}};
        struct framer f;
        match_ctx_init(&pb.mo.mc);
        decoder_open(&pb.mo.dec, bench_format(), NULL);
        framer_init(&f, 4 << 20);
        framer_feed(&f, data, len, pb_rec, &pb);
        framer_finish(&f, 1, pb_rec, &pb);
        if (pb.ns < best.ns)
            best = pb;
        framer_free(&f);
        decoder_close(&pb.mo.dec);
        match_ctx_free(&pb.mo.mc);
    }
    printf("{\"rules\": %d, \"posts\": %llu, \"matched\": %llu, \"text_bytes\": %llu, \"match_ns\": %llu}\n", rs->n,
           (unsigned long long)best.posts, (unsigned long long)best.mo.matched, (unsigned long long)best.text_bytes,
           (unsigned long long)best.ns);
}

static void drop_alert(void *ctx, struct alert *a)
{
    ((struct counts *)ctx)->alerts++;
    alert_free(a);
}

/* The replay pipeline over the same bytes, inline or with worker threads;
 * best of BENCH_ROUNDS, in seconds. */
static double replay(const char *data, size_t len, const struct config *cfg, const struct ruleset *rs, int workers,
                     struct counts *cnt, uint64_t *posts)
{
    double best = 1e30;
    for (int r = 0; r < BENCH_ROUNDS; r++) {
        struct pipeline pl;
        struct feed f;
        uint64_t t0;
        cnt->alerts = 0;
        pipeline_init(&pl, cfg, rs, drop_alert, cnt);
        if (pipeline_start_workers(&pl, workers) != 0) {
            fprintf(stderr, "bench_rules: could not start %d worker threads\n", workers);
            exit(1);
        }
        feed_init(&f, "bench", bench_format(), bench_format(), NULL, &pl);
        t0 = now_mono_us();
        feed_bytes(&f, data, len);
        feed_finish(&f, 1);
        if ((double)(now_mono_us() - t0) < best)
            best = (double)(now_mono_us() - t0);
        *posts = f.st.posts;
        feed_free(&f);
        pipeline_free(&pl);
    }
    return best / 1e6;
}

static long rss_kb(void)
{
    char line[256];
    long kb = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0)
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    struct errlist errs = {0};
    struct ruleset *rs = NULL;
    size_t len;
    char err[512];
    char *data;
    uint64_t records = 0, posts = 0, t0;
    double parse_s, load_s, best, threaded[2];
    struct counts cnt = {0, 0};
    long rss_before, rss_after = 0;
    struct config *cfg = config_defaults_new();

    if (argc != 3) {
        fprintf(stderr, "usage: bench_rules INPUT RULES_FILE\n");
        return 2;
    }
    if (getenv("BENCH_ROUNDS"))
        rounds = atoi(getenv("BENCH_ROUNDS")) > 0 ? atoi(getenv("BENCH_ROUNDS")) : 1;
    /* The rules first, before the input is in memory, so the RSS is what a
     * daemon holding them would have; the load time is the best of
     * BENCH_ROUNDS loads, like every other figure. */
    rss_before = rss_kb();
    load_s = 1e30;
    for (int r = 0; r < BENCH_ROUNDS; r++) {
        struct ruleset *again;
        double s;
        t0 = now_mono_us();
        again = rules_load(argv[2], 0, NULL, &errs);
        s = (double)(now_mono_us() - t0) / 1e6;
        load_s = s < load_s ? s : load_s;
        if (!again) {
            fprintf(stderr, "%s\n", errs.n ? errs.msgs[0] : "rules did not load");
            return 1;
        }
        if (r == 0)
            rss_after = rss_kb();
        if (r > 0)
            rules_free(again);
        else
            rs = again;
    }
    if (!(data = file_read_all(argv[1], 1u << 30, &len, err, sizeof err))) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    parse_s = parse_only(data, len, &records);
    if (getenv("BENCH_PER_BYTE")) {
        per_byte(data, len, rs);
        rules_free(rs);
        config_free(cfg);
        free(data);
        return 0;
    }
    best = replay(data, len, cfg, rs, 0, &cnt, &posts);
    threaded[0] = threaded[1] = 0;
    for (int w = 1; w <= 2 && !getenv("BENCH_INLINE_ONLY") && !getenv("BENCH_NO_WORKERS"); w++) {
        struct counts wc = {0, 0};
        uint64_t wposts = 0;
        threaded[w - 1] = replay(data, len, cfg, rs, w, &wc, &wposts);
        if (wc.alerts != cnt.alerts || wposts != posts) {
            fprintf(stderr, "bench_rules: %d worker threads gave %llu alerts from %llu posts, inline %llu from %llu\n", w,
                    (unsigned long long)wc.alerts, (unsigned long long)wposts, (unsigned long long)cnt.alerts,
                    (unsigned long long)posts);
            return 1;
        }
    }
    double match_s = getenv("BENCH_INLINE_ONLY") ? 0 : match_only(data, len, rs);
    double decode_s = getenv("BENCH_INLINE_ONLY") ? 0 : match_only(data, len, NULL);
    printf("{\"decode_s\": %.4f, \"match_s\": %.4f, \"rules\": %d, \"bytes\": %zu, \"records\": %llu, \"posts\": %llu, \"alerts\": %llu, "
           "\"parse_s\": %.4f, \"replay_s\": %.4f, \"replay_w1_s\": %.4f, \"replay_w2_s\": %.4f, \"load_s\": %.3f, "
           "\"rules_rss_kb\": %ld, \"rss_kb\": %ld}\n",
           decode_s, match_s, rs->n, len, (unsigned long long)records, (unsigned long long)posts, (unsigned long long)cnt.alerts,
           parse_s, best, threaded[0], threaded[1], load_s, rss_after - rss_before, rss_after);
    rules_free(rs);
    config_free(cfg);
    free(data);
    return 0;
}
