/* alert: the §3.4 JSON, checked by parsing it back. */
#include "testutil.h"
#include "alert_build.h"
#include "json.h"
#include "matcher.h"
#include "scorer.h"
#include "pii.h"
#include "util.h"

#define MAXF 128

struct fields {
    int n;
    char ptr[MAXF][96];
    char val[MAXF][512];
    int type[MAXF];
};

static int collect(void *ctx, const struct json_event *ev)
{
    struct fields *f = ctx;
    if (ev->type == JSON_MAP_START || ev->type == JSON_MAP_END || ev->type == JSON_ARRAY_START ||
        ev->type == JSON_ARRAY_END || f->n >= MAXF)
        return 0;
    str_copy(f->ptr[f->n], ev->ptr, sizeof f->ptr[0]);
    if (ev->type == JSON_BOOL)
        snprintf(f->val[f->n], sizeof f->val[0], "%s", ev->boolean ? "true" : "false");
    else if (ev->type == JSON_NULL)
        snprintf(f->val[f->n], sizeof f->val[0], "null");
    else
        snprintf(f->val[f->n], sizeof f->val[0], "%.*s", (int)ev->val_len, ev->val);
    f->type[f->n++] = ev->type;
    return 0;
}

static const char *get(const struct fields *f, const char *ptr)
{
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->ptr[i], ptr) == 0)
            return f->val[i];
    return NULL;
}

static const char rules_text[] =
    "[rule \"general\"]\nquery = nordvik\nqueue = service\npriority = low\ntag = mention\n"
    "meta.owner = service-desk\nmeta.faq = https://low.example\n"
    "[rule \"fraud\"]\nquery = nordvik (fraud OR \"charged twice\")\nqueue = cards\npriority = high\n"
    "tag = fraud\nmeta.faq = https://high.example\n";

static void encode_and_parse_back(void **state)
{
    struct errlist errs = {0};
    struct ruleset *rs = rules_load(write_temp("alert.rules", rules_text), 0, NULL, &errs);
    struct json_writer *w = jw_new();
    struct match_ctx mc;
    struct score sc;
    struct post p;
    struct alert *a;
    struct fields f = {0};
    struct config *cfg = config_defaults_new();
    struct score_input in = {.author_alerts = 1};
    const char *ids[] = {"x-main:1111", "x-main:1000"};
    struct alert_context cx = {.pii = 1 << PII_CARD, .author_recent = 2, .author_ids = ids, .nids = 2, .shares = 4};
    struct json_reader *r = json_reader_new(64, collect, &f);
    char err[256];
    const char *text = "Nordvik \"charged twice\"\n\ttab 😡 \\ done";
    (void)state;

    assert_non_null(rs);
    post_clear(&p);
    p.source_name = "x-main";
    p.source_type = "x_v2";
    p.id = "1234567890";
    p.text = text;
    p.author.id = "42";
    p.author.handle = "jane";
    p.author.followers = 143000;
    p.url = "https://x.com/jane/status/1234567890";
    p.received_ms = 1795342800000ull + 12;            /* 2026-11-22T10:20:00.012Z */
    match_ctx_init(&mc);
    assert_int_equal(matcher_match(&mc, rs->m, &p), 2);
    scorer_score(cfg, rs, &mc, NULL, &p, &in, &sc);
    a = alert_build(w, "mentiond-1", rs, &mc, &sc, &p, &cx, 1795342800000ull + 13);
    assert_non_null(a);
    assert_string_equal(a->id, "x-main:1234567890");
    assert_string_equal(a->queue, "cards");
    assert_int_equal(a->level, LEVEL_HIGH);
    assert_int_equal(json_reader_parse(r, a->json, a->len, err, sizeof err), 0);

    assert_string_equal(get(&f, "/v"), "1");
    assert_string_equal(get(&f, "/type"), "mention");
    assert_string_equal(get(&f, "/pii/redacted/0"), "card_number");
    assert_string_equal(get(&f, "/context/author_recent_alerts"), "2");
    assert_string_equal(get(&f, "/context/author_alert_ids/1"), "x-main:1000");
    assert_string_equal(get(&f, "/context/shares"), "4");
    assert_string_equal(get(&f, "/context/in_reply_to"), "null");
    assert_string_equal(get(&f, "/id"), "x-main:1234567890");
    assert_string_equal(get(&f, "/instance"), "mentiond-1");
    assert_string_equal(get(&f, "/source/name"), "x-main");
    assert_string_equal(get(&f, "/source/type"), "x_v2");
    assert_string_equal(get(&f, "/post/text"), text);          /* escapes round-trip */
    assert_string_equal(get(&f, "/post/author/handle"), "jane");
    assert_string_equal(get(&f, "/post/author/followers"), "143000");
    assert_string_equal(get(&f, "/post/author/verified"), "false");
    assert_string_equal(get(&f, "/post/lang"), "null");
    assert_string_equal(get(&f, "/post/in_reply_to"), "null");
    assert_string_equal(get(&f, "/post/is_retweet"), "false");
    /* every matched rule, in rule order, with its matched terms */
    assert_string_equal(get(&f, "/matches/0/rule"), "general");
    assert_string_equal(get(&f, "/matches/0/terms/0"), "nordvik");
    assert_string_equal(get(&f, "/matches/1/rule"), "fraud");
    assert_string_equal(get(&f, "/matches/1/queue"), "cards");
    assert_string_equal(get(&f, "/matches/1/terms/1"), "charged twice");
    assert_null(get(&f, "/matches/1/terms/2"));
    /* the alert goes to the queue of its highest-priority match */
    assert_string_equal(get(&f, "/queue"), "cards");
    assert_string_equal(get(&f, "/priority/level"), "high");
    assert_string_equal(get(&f, "/priority/reasons/0"), "rule:high");
    assert_string_equal(get(&f, "/priority/reasons/1"), "reach:143000");
    /* meta of all matched rules; the highest-priority rule wins a clash */
    assert_string_equal(get(&f, "/meta/faq"), "https://high.example");
    assert_string_equal(get(&f, "/meta/owner"), "service-desk");
    assert_string_equal(get(&f, "/times/received"), "2026-11-22T10:20:00.012Z");
    assert_string_equal(get(&f, "/times/enqueued"), "2026-11-22T10:20:00.013Z");

    /* The writer is reusable, and invalid UTF-8 gives no alert (not bad JSON). */
    p.text = "nordvik fraud \xc3";
    a->next = alert_build(w, "mentiond-1", rs, &mc, &sc, &p, &cx, 1);
    assert_null(a->next);
    p.text = "nordvik fraud";
    a->next = alert_build(w, "mentiond-1", rs, &mc, &sc, &p, &cx, 1);
    assert_non_null(a->next);
    alert_free(a->next);

    alert_free(a);
    json_reader_free(r);
    jw_free(w);
    match_ctx_free(&mc);
    rules_free(rs);
    config_free(cfg);
}

static void score_order(void **state)
{
    struct errlist errs = {0};
    struct ruleset *rs = rules_load(write_temp("s.rules", rules_text), 0, NULL, &errs);
    struct match_ctx mc;
    struct score small, big, verified;
    struct post p;
    struct config *cfg = config_defaults_new();
    struct score_input in = {.author_alerts = 1};
    (void)state;

    post_clear(&p);
    p.id = "1";
    p.text = "nordvik";
    match_ctx_init(&mc);
    matcher_match(&mc, rs->m, &p);
    p.author.followers = 10;
    scorer_score(cfg, rs, &mc, NULL, &p, &in, &small);
    p.author.followers = 5000000;
    scorer_score(cfg, rs, &mc, NULL, &p, &in, &big);
    p.author.verified = 1;
    scorer_score(cfg, rs, &mc, NULL, &p, &in, &verified);
    assert_int_equal(small.level, LEVEL_LOW);
    assert_true(small.score < big.score);
    assert_true(big.score < verified.score);
    assert_true(verified.score < 40);      /* a low alert stays below the normal band */
    match_ctx_free(&mc);
    rules_free(rs);
    config_free(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(encode_and_parse_back),
        cmocka_unit_test(score_order),
    };
    return cmocka_run_group_tests_name("alert", tests, NULL, NULL);
}
