/* Allocation-failure injection (curl's torture idea): each scenario runs
 * once to count its allocations, then once per allocation with that one
 * failing, in a forked child.  Every failure must end in an error that
 * says "out of memory" (configuration and rules) or in a post dropped and
 * counted (decoding, matching, building the alert), never in a crash; under
 * `make sanitize` LeakSanitizer checks each child at exit, so a failure
 * path that leaks fails its case.
 *
 * Built with -DMENTIOND_ALLOC_FAIL (its own objects, $(B)/alloc/). */
#include "testutil.h"
#include "config.h"
#include "log.h"
#include "pipeline.h"
#include "rules.h"
#include "util.h"

#include <errno.h>
#include <signal.h>
#include <sys/wait.h>

#ifndef MENTIOND_ALLOC_FAIL
#error "test_alloc needs the allocation-failure build (-DMENTIOND_ALLOC_FAIL)"
#endif

/* One run of a scenario with allocation n failing (0: none).  Returns 0 if
 * the outcome is acceptable for that run, else prints why and returns -1. */
typedef int (*scenario_fn)(void *arg, unsigned long n);

/* Allocations counted by the last run without a failure: each scenario
 * calls walk_end() when the walked part is over (before its cleanup). */
static unsigned long walked;
static int fired;               /* whether the armed failure happened */

static void walk_end(void)
{
    fired = alloc_fail_fired();
    walked = alloc_fail_at(0);
}

/* Run fn in a child with allocation n failing; the child's status. */
static int run_child(scenario_fn fn, void *arg, unsigned long n)
{
    pid_t pid;
    int st;

    fflush(NULL);
    pid = fork();
    if (pid < 0)
        fail_msg("fork: %s", strerror(errno));
    if (pid == 0) {
        /* A crash must kill the child, not land in cmocka's handlers. */
        static const int sigs[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT, SIGSYS};
        for (size_t i = 0; i < ARRAY_LEN(sigs); i++)
            signal(sigs[i], SIG_DFL);
        exit(fn(arg, n) == 0 ? 0 : 1);  /* exit(), not _exit(): LeakSanitizer runs at exit */
    }
    if (waitpid(pid, &st, 0) != pid)
        fail_msg("waitpid: %s", strerror(errno));
    return st;
}

/* Count the scenario's allocations, then fail each in turn.  Returns the
 * number walked. */
static unsigned long walk(const char *what, scenario_fn fn, void *arg)
{
    unsigned long count, bad = 0;

    if (fn(arg, 0) != 0)
        fail_msg("%s: fails without any injected failure", what);
    count = walked;
    assert_true(count > 0);
    for (unsigned long n = 1; n <= count + 1; n++) {
        int st = run_child(fn, arg, n);
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            continue;
        if (WIFSIGNALED(st))
            print_error("%s: allocation %lu of %lu failing: killed by signal %d\n", what, n, count,
                        WTERMSIG(st));
        else
            print_error("%s: allocation %lu of %lu failing: exit status %d\n", what, n, count,
                        WEXITSTATUS(st));
        if (++bad >= 5)
            break;
    }
    print_message("%s: %lu allocations, each failed in turn: %s\n", what, count, bad ? "FAILED" : "ok");
    assert_int_equal(bad, 0);
    return count;
}

static int errs_say_oom(const struct errlist *e)
{
    for (int i = 0; i < e->n; i++)
        if (strstr(e->msgs[i], "out of memory"))
            return 1;
    return 0;
}

/* ---- configuration loading ---- */

static const char conf_text[] =
    "[daemon]\n"
    "name = torture-1\n"
    "rules = %s/rules.d/*.rules\n"
    "lexicons = %s/lexicons\n"
    "spool_dir =\n"
    "own_handles = NordvikHelp, @NordvikBank, nordvik_se\n"
    "log_level = info\n"
    "[redis]\n"
    "url = unix:///run/redis/redis.sock?db=2\n"
    "key_prefix = mt\n"
    "[alerting]\n"
    "queue = incidents\n"
    "webhook_url = http://127.0.0.1:9/hook\n"
    "[priority]\n"
    "account_pattern = dddd-ddddddd, dd-dddddd\n"
    "reach_followers = 100, 1000, 100000\n"
    "[source \"x-main\"]\n"
    "type = x_v2\n"
    "url = http://127.0.0.1:9/2/tweets/search/stream\n"
    "token_file = %s\n"
    "[source \"feed\"]\n"
    "type = ndjson\n"
    "url = http://127.0.0.1:9/feed\n"
    "field.text = /body/text\n"
    "field.author_handle = /user/name\n"
    "[source \"sky\"]\n"
    "type = jetstream\n"
    "url = ws://127.0.0.1:9/subscribe\n"
    "collections = app.bsky.feed.post\n"
    "dids = did:plc:aaaa\n"
    "dids_file = %s\n"
    "[source \"replay\"]\n"
    "type = file\n"
    "path = /tmp/posts.jsonl\n";

struct conf_case {
    char path[512];
};

static int conf_scenario(void *arg, unsigned long n)
{
    struct conf_case *cc = arg;
    struct errlist errs = {0};
    struct config *c;
    int ok;

    alloc_fail_at(n);
    c = config_load(cc->path, &errs);
    walk_end();
    if (!fired)
        ok = c != NULL;
    else
        ok = c == NULL && errs_say_oom(&errs);
    if (!ok)
        fprintf(stderr, "config_load: %s, %d errors, first: %s\n", c ? "loaded" : "refused", errs.n,
                errs.n ? errs.msgs[0] : "-");
    config_free(c);
    errlist_free(&errs);
    return ok ? 0 : -1;
}

static void config_loading(void **state)
{
    struct conf_case cc;
    char text[sizeof conf_text + 4096];
    const char *token = write_temp("torture.token", "AAAA-secret\n");
    char tok[512], dids[512], rules[600];
    (void)state;

    SRC_PATH(rules, "conf");
    snprintf(tok, sizeof tok, "%s", token);
    snprintf(dids, sizeof dids, "%s", write_temp("torture.dids", "did:plc:bbbb\ndid:plc:cccc\n"));
    snprintf(text, sizeof text, conf_text, rules, rules, tok, dids);
    snprintf(cc.path, sizeof cc.path, "%s", write_temp("torture.conf", text));
    assert_true(walk("config_load", conf_scenario, &cc) > 50);
}

/* ---- rule compilation ---- */

static const char rules_text[] =
    "[rule \"near\"]\n"
    "query = (nordvik NEAR/3 \"card blocked\") OR (bank ONEAR/2 fees) -is:retweet lang:sv\n"
    "queue = cards\npriority = high\ntag = near\nmeta.faq = https://example.org/faq\n"
    "[rule \"wild\"]\n"
    "query = (refund* OR #nordvikbank OR $NVK OR @NordvikHelp) -from:NordvikHelp has:links\n"
    "topic = money\nspike = on\n"
    "[rule \"strings\"]\n"
    "query = contains:\"kort spärr\" OR raw:ÅÄÖ OR bio:journalist OR url:nordvik.example\n"
    "accents = fold\n"
    "[rule \"listed\"]\n"
    "query = list:brands \"charged twice\"~3 followers_count:100..5000 sample:50\n";

struct rules_case {
    char pattern[600], lexicons[512];
};

static int rules_scenario(void *arg, unsigned long n)
{
    struct rules_case *rc = arg;
    struct errlist errs = {0};
    struct rule_text extra[] = {
        {.name = "json-rule", .json = (char *)"{\"query\": \"nordvik (fraud OR bedrägeri)\", "
                                              "\"priority\": \"critical\", \"meta\": {\"team\": \"fraud\"}}"},
    };
    struct ruleset *rs;
    int ok;

    alloc_fail_at(n);
    rs = rules_load_with(rc->pattern, 0, rc->lexicons, extra, 1, "redis", &errs);
    walk_end();
    if (!fired)
        ok = rs != NULL && rs->lex != NULL;
    else
        ok = rs == NULL && errs_say_oom(&errs);
    if (!ok)
        fprintf(stderr, "rules_load: %s, %d errors, first: %s\n", rs ? "loaded" : "refused", errs.n,
                errs.n ? errs.msgs[0] : "-");
    rules_free(rs);
    errlist_free(&errs);
    return ok ? 0 : -1;
}

static void rule_compilation(void **state)
{
    struct rules_case rc;
    const char *p;
    (void)state;

    /* The shipped rule set and lexicons, plus one file using every kind of term. */
    p = write_temp("rules.d-torture.rules", rules_text);
    snprintf(rc.lexicons, sizeof rc.lexicons, "%s", p);
    *strrchr(rc.lexicons, '/') = '\0';
    write_temp("brands.txt", "nordvik\n\"nordvik bank\"\n#nordvikbank\n");
    write_temp("urgency.txt", "fraud\n\"charged twice\"\nstulet\n");
    write_temp("negative.txt", "worst\n😡\n");
    /* One glob for both: two shipped files are copied beside ours (all four
     * walk about 1,100 allocations: slow under ASan for nothing new). */
    for (int i = 0; i < 2; i++) {
        static const char *const names[] = {"10-cards.rules", "90-mentions.rules"};
        char src[700], dst[64], err[256];
        char *text;
        snprintf(src, sizeof src, "%s/conf/rules.d/%s", srcdir(), names[i]);
        text = file_read_all(src, 1 << 20, NULL, err, sizeof err);
        assert_non_null(text);
        snprintf(dst, sizeof dst, "rules.d-%s", names[i]);
        write_temp(dst, text);
        free(text);
    }
    snprintf(rc.pattern, sizeof rc.pattern, "%s/rules.d-*.rules", rc.lexicons);
    assert_true(walk("rules_load", rules_scenario, &rc) > 200);
}

/* ---- decoding a post, matching it and building its alert ---- */

struct feed_case {
    const char *format;
    int workers;                /* decode-and-match threads (started before the walk) */
    enum framing_mode framing;
    char *data;
    size_t len;
    struct config *cfg;
    struct ruleset *rs;
    int alerts;                 /* without a failure */
    uint64_t dropped;
};

/* Mention alerts only: a post lost to a failure can turn its later
 * deletion notice into a record of its own, which is right. */
static void count_alert(void *ctx, struct alert *a)
{
    if (a->kind == ALERT_MENTION)
        (*(int *)ctx)++;
    alert_free(a);
}

static int feed_scenario(void *arg, unsigned long n)
{
    struct feed_case *fc = arg;
    struct pipeline pl;
    struct feed f;
    uint64_t dropped;
    int alerts = 0, ok;

    pipeline_init(&pl, fc->cfg, fc->rs, count_alert, &alerts);
    if (pipeline_start_workers(&pl, fc->workers) != 0)
        return -1;
    alloc_fail_at(n);
    if (feed_init(&f, "src", fc->format, fc->format, NULL, &pl) != 0) {
        walk_end();
        ok = fired;                     /* a decoder without memory: refused */
        pipeline_free(&pl);
        return ok ? 0 : -1;
    }
    framer_set_mode(&f.fr, fc->framing);
    feed_bytes(&f, fc->data, fc->len);
    feed_finish(&f, 1);
    walk_end();
    dropped = feed_rejected(&f) + pl.st.nomem + pl.st.encode_failed;
    if (!fired) {
        fc->alerts = alerts;
        fc->dropped = dropped;
        ok = alerts > 0 && pl.st.bad_text == 0;
    } else {
        /* Every alert the failure cost is counted as a record rejected or a
         * post dropped (never as bad text).  There may be more: the edit of
         * a post lost to the failure alerts on its own. */
        ok = (alerts >= fc->alerts || (uint64_t)(fc->alerts - alerts) <= dropped - fc->dropped) &&
             pl.st.bad_text == 0;
    }
    if (!ok)
        fprintf(stderr, "%s: %d alerts (%d without a failure), %llu dropped (%llu), %llu rejected, %llu nomem, "
                "%llu unencodable, %llu bad text\n", fc->format, alerts, fc->alerts, (unsigned long long)dropped,
                (unsigned long long)fc->dropped, (unsigned long long)feed_rejected(&f), (unsigned long long)pl.st.nomem,
                (unsigned long long)pl.st.encode_failed, (unsigned long long)pl.st.bad_text);
    feed_free(&f);
    pipeline_free(&pl);
    return ok ? 0 : -1;
}

/* fixture: a file under the project, or the records themselves. */
static void feed_walk_with(const char *format, enum framing_mode framing, const char *fixture, int workers)
{
    struct feed_case fc = {.format = format, .framing = framing, .workers = workers};
    struct errlist errs = {0};
    char path[600], err[256], what[64];
    const char *rules;

    if (fixture[0] == '{') {
        fc.data = xstrdup(fixture);
        fc.len = strlen(fixture);
    } else {
        fc.data = file_read_all(SRC_PATH(path, fixture), 1 << 20, &fc.len, err, sizeof err);
    }
    assert_non_null(fc.data);
    /* Words the fixtures' posts contain, so that each record alerts. */
    rules = write_temp("feed-torture.rules",
                       "[rule \"any\"]\n"
                       "query = nordvik OR @NordvikHelp OR bank OR kortet OR card OR the OR och OR app "
                       "OR login OR fraud OR 银行 OR is OR i OR a\n"
                       "priority = high\n");
    fc.rs = rules_load(rules, 0, NULL, &errs);
    assert_non_null(fc.rs);
    fc.cfg = config_defaults_new();
    snprintf(what, sizeof what, "feed %s%s", format, workers ? " with 2 workers" : "");
    walk(what, feed_scenario, &fc);
    print_message("feed %s: %d alerts without a failure\n", format, fc.alerts);
    rules_free(fc.rs);
    config_free(fc.cfg);
    free(fc.data);
}

static void feed_walk(const char *format, enum framing_mode framing, const char *fixture)
{
    feed_walk_with(format, framing, fixture, 0);
}

static void decode_x_v2(void **state)
{
    (void)state;
    feed_walk("x_v2", FRAMING_LINES, "tests/fixtures/x_v2/cases.jsonl");
}

/* The same through worker threads: batches, post copies, exported matches. */
static void decode_x_v2_workers(void **state)
{
    (void)state;
    feed_walk_with("x_v2", FRAMING_LINES, "tests/fixtures/x_v2/cases.jsonl", 2);
}

static void decode_x_v1(void **state)
{
    (void)state;
    feed_walk("x_v1", FRAMING_LINES, "tests/fixtures/x_v1/cases.jsonl");
}

static void decode_mastodon(void **state)
{
    (void)state;
    feed_walk("mastodon", FRAMING_SSE, "tests/fixtures/mastodon/stream.sse");
}

static void decode_jetstream(void **state)
{
    (void)state;
    feed_walk("jetstream", FRAMING_LINES, "tests/fixtures/jetstream/events.jsonl");
}

static void decode_ndjson(void **state)
{
    (void)state;
    feed_walk("ndjson", FRAMING_LINES,
              "{\"id\": \"n1\", \"text\": \"Nordvik app down again?\", \"lang\": \"en\", "
              "\"author\": {\"id\": \"9\", \"handle\": \"pat\", \"followers\": 1200}}\n"
              "{\"id\": 2, \"text\": \"card 4111 1111 1111 1111 charged twice, nordvik\"}\n"
              "{\"id\": \"n3\"}\n");
}

static void decode_rss(void **state)
{
    (void)state;
    feed_walk("rss", FRAMING_DOCUMENT, "tests/fixtures/rss/forum.rss");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(config_loading),
        cmocka_unit_test(rule_compilation),
        cmocka_unit_test(decode_x_v2),
        cmocka_unit_test(decode_x_v2_workers),
        cmocka_unit_test(decode_x_v1),
        cmocka_unit_test(decode_mastodon),
        cmocka_unit_test(decode_jetstream),
        cmocka_unit_test(decode_ndjson),
        cmocka_unit_test(decode_rss),
    };
    log_set_level(LOG_CRIT);            /* the failures' warnings are expected */
    return cmocka_run_group_tests(tests, NULL, NULL);
}
