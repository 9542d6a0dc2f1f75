/* scorer, windows and the pipeline stages around them: each reason alone
 * and combined, duplicates, folded retweets, own accounts, canned replies,
 * and masking before the alert is built. */
#include "testutil.h"
#include "pipeline.h"
#include "scorer.h"
#include "util.h"
#include "window.h"

static struct ruleset *load(void)
{
    struct errlist errs = {0};
    const char *rules;
    struct ruleset *rs;
    char dir[600];

    write_temp("urgency.txt", "; test list\nfraud\n\"charged twice\"\nstolen\nlawyer\n\"banken ligger nere\"\nnere\n");
    write_temp("negative.txt", "worst\n😡\n");
    rules = write_temp("s.rules", "[rule \"n\"]\nquery = nordvik\npriority = normal\nqueue = care\n"
                                  "[rule \"l\"]\nquery = sponsor\npriority = low\n");
    snprintf(dir, sizeof dir, "%s", rules);
    *strrchr(dir, '/') = '\0';
    rs = rules_load(rules, 0, dir, &errs);
    if (!rs)
        fail_msg("%s", errs.msgs[0]);
    assert_non_null(rs->lex);
    return rs;
}

struct scored {
    struct score sc;
    char all[1024];
};

static struct scored score(struct ruleset *rs, struct config *cfg, const char *text, long long followers,
                           int verified, struct score_input in)
{
    struct match_ctx mc, lex;
    struct post p;
    struct scored r;
    size_t o = 0;

    post_clear(&p);
    p.id = "1";
    p.text = text;
    p.author.followers = followers;
    p.author.verified = verified;
    match_ctx_init(&mc);
    match_ctx_init(&lex);
    assert_true(matcher_match(&mc, rs->m, &p) > 0);
    matcher_match(&lex, rs->lex->m, &p);
    if (!in.author_alerts)
        in.author_alerts = 1;
    scorer_score(cfg, rs, &mc, &lex, &p, &in, &r.sc);
    r.all[0] = '\0';
    for (int i = 0; i < r.sc.nreasons; i++)
        o += (size_t)snprintf(r.all + o, sizeof r.all - o, "%s%s", i ? " " : "", r.sc.reasons[i]);
    match_ctx_free(&mc);
    match_ctx_free(&lex);
    return r;
}

#define EXPECT(r, lvl, sc_, reasons)                                                        \
    do {                                                                                    \
        if ((r).sc.level != (lvl) || (r).sc.score != (sc_) || strcmp((r).all, reasons)) \
            fail_msg("got %s %d [%s], want %s %d [%s]", level_names[(r).sc.level], (r).sc.score, \
                     (r).all, level_names[lvl], sc_, reasons);                              \
    } while (0)

static void each_reason(void **state)
{
    struct ruleset *rs = load();
    struct config *cfg = config_defaults_new();
    struct score_input none = {0}, pii = {.pii = 1 << PII_CARD}, rep = {.author_alerts = 3},
                       spread = {.shares = 10};
    (void)state;

    EXPECT(score(rs, cfg, "nordvik", -1, 0, none), LEVEL_NORMAL, 40, "rule:normal");
    EXPECT(score(rs, cfg, "sponsor", -1, 0, none), LEVEL_LOW, 20, "rule:low");
    /* reach: 4 points per threshold passed (1k, 10k, 100k, 1M) */
    EXPECT(score(rs, cfg, "nordvik", 999, 0, none), LEVEL_NORMAL, 40, "rule:normal");
    EXPECT(score(rs, cfg, "nordvik", 150000, 0, none), LEVEL_NORMAL, 52, "rule:normal reach:150000");
    EXPECT(score(rs, cfg, "nordvik", -1, 1, none), LEVEL_NORMAL, 43, "rule:normal verified");
    /* urgency: 6 points; with reach it lifts to high */
    EXPECT(score(rs, cfg, "nordvik fraud", 50, 0, none), LEVEL_NORMAL, 46, "rule:normal urgency:fraud");
    EXPECT(score(rs, cfg, "nordvik fraud", 20000, 0, none), LEVEL_HIGH, 74,
           "rule:normal reach:20000 urgency:fraud");
    /* accents folded in lexicons; at most terms_max (2) words counted */
    EXPECT(score(rs, cfg, "nordvik FRAUD stolen, charged twice", -1, 0, none), LEVEL_NORMAL, 52,
           "rule:normal urgency:fraud urgency:charged twice");
    /* a term inside a longer one that matched is the same urgency, once */
    EXPECT(score(rs, cfg, "nordvik: banken ligger nere", -1, 0, none), LEVEL_NORMAL, 46,
           "rule:normal urgency:banken ligger nere");
    EXPECT(score(rs, cfg, "nordvik nere igen", -1, 0, none), LEVEL_NORMAL, 46, "rule:normal urgency:nere");
    EXPECT(score(rs, cfg, "nordvik worst 😡", -1, 0, none), LEVEL_NORMAL, 46,
           "rule:normal sentiment:worst sentiment:😡");
    EXPECT(score(rs, cfg, "nordvik", -1, 0, pii), LEVEL_HIGH, 60, "rule:normal pii:card_number");
    EXPECT(score(rs, cfg, "nordvik", -1, 0, rep), LEVEL_HIGH, 65, "rule:normal repeat_author:3");
    EXPECT(score(rs, cfg, "sponsor", -1, 0, rep), LEVEL_NORMAL, 45, "rule:low repeat_author:3");
    EXPECT(score(rs, cfg, "sponsor", -1, 0, spread), LEVEL_HIGH, 68, "rule:low spreading:10");
    /* combined: the score stays inside the level's band */
    {
        struct score_input all = {.pii = 1 << PII_IBAN, .author_alerts = 5, .shares = 40};
        struct scored a = score(rs, cfg, "nordvik fraud lawyer worst", 2000000, 1, all);
        struct scored b = score(rs, cfg, "nordvik fraud lawyer worst", 2000000, 1, all);
        EXPECT(a, LEVEL_HIGH, 79, "rule:normal reach:2000000 verified urgency:fraud urgency:lawyer "
                                  "sentiment:worst pii:iban repeat_author:5 spreading:40");
        assert_string_equal(a.all, b.all);          /* deterministic */
    }
    config_free(cfg);
    rules_free(rs);
}

static void windows_are_bounded(void **state)
{
    struct window w;
    struct window_entry *e;
    char key[32];
    (void)state;

    window_init(&w, 64, 1000, 1);
    e = window_get(&w, "a", 0);
    assert_int_equal(window_add(e, "id1", 0), 1);
    assert_int_equal(window_add(window_get(&w, "a", 500), "id2", 500), 2);
    assert_string_equal(window_find(&w, "a", 900)->ids[0], "id2");
    assert_int_equal(window_find(&w, "a", 1500)->count, 0);       /* the window rolled */
    assert_int_equal(window_find(&w, "a", 1500)->nids, 2);         /* history kept */
    for (int i = 0; i < 10000; i++) {                               /* far more keys than slots */
        snprintf(key, sizeof key, "k%d", i);
        window_add(window_get(&w, key, 2000 + (uint64_t)i), NULL, 2000 + (uint64_t)i);
    }
    assert_int_equal(w.nslots, 64);
    assert_non_null(window_find(&w, "k9999", 20000));              /* the newest survive */
    window_free(&w);
}

/* --- pipeline stages ---------------------------------------------------- */

struct sunk {
    int n;
    char json[8][4096];
};

static void sink(void *ctx, struct alert *a)
{
    struct sunk *s = ctx;
    if (s->n < 8)
        str_copy(s->json[s->n], a->json, sizeof s->json[0]);
    s->n++;
    alert_free(a);
}

static void post_of(struct post *p, const char *id, const char *handle, const char *text)
{
    post_clear(p);
    p->source_name = "x-main";
    p->source_type = "x_v2";
    p->id = id;
    p->author.id = handle;
    p->author.handle = handle;
    p->text = text;
}

static void pipeline_stages(void **state)
{
    struct ruleset *rs = load();
    struct config *cfg = config_defaults_new();
    struct pipeline pl;
    struct sunk s = {0};
    struct post p;
    (void)state;

    cfg->own_list.lower = xcalloc(2, sizeof *cfg->own_list.lower);
    cfg->own_list.shown = xcalloc(2, sizeof *cfg->own_list.shown);
    cfg->own_list.lower[0] = xstrdup("nordvikhelp");
    cfg->own_list.shown[0] = xstrdup("NordvikHelp");
    cfg->own_list.n = 1;
    pipeline_init(&pl, cfg, rs, sink, &s);

    /* the same post twice (a second source, a backfill): one alert */
    post_of(&p, "100", "jane", "nordvik charged my card 4111 1111 1111 1111 twice");
    pipeline_post(&pl, &p);
    post_of(&p, "100", "jane", "nordvik charged my card 4111 1111 1111 1111 twice");
    pipeline_post(&pl, &p);
    assert_int_equal(s.n, 1);
    assert_int_equal(pl.st.duplicates, 1);
    /* the number never reaches the alert; the alert says what was masked */
    assert_null(strstr(s.json[0], "4111 1111 1111 1111"));
    assert_non_null(strstr(s.json[0], "4111 **** **** 1111"));
    assert_non_null(strstr(s.json[0], "\"redacted\":[\"card_number\"]"));
    assert_non_null(strstr(s.json[0], "\"level\":\"high\""));

    /* a retweet of it is folded into its shares, not a new alert */
    post_of(&p, "101", "bob", "RT @jane: nordvik charged my card");
    p.is_retweet = 1;
    p.referenced_id = "100";
    pipeline_post(&pl, &p);
    assert_int_equal(s.n, 1);
    assert_int_equal(pl.st.shares_folded, 1);

    /* the same author again: context carries the earlier alert */
    post_of(&p, "102", "jane", "nordvik still nothing");
    pipeline_post(&pl, &p);
    assert_int_equal(s.n, 2);
    assert_non_null(strstr(s.json[1], "\"author_recent_alerts\":1"));
    assert_non_null(strstr(s.json[1], "\"author_alert_ids\":[\"x-main:100\"]"));
    assert_non_null(strstr(s.json[1], "\"shares\":0"));

    /* the bank's own replies are not mentions; the same reply to three
     * people is one canned_reply alert */
    for (int i = 0; i < 4; i++) {
        static const char *const who[] = {"ann", "ben", "cid", "dan"};
        char id[16], text[128];
        snprintf(id, sizeof id, "20%d", i);
        snprintf(text, sizeof text, "@%s Sorry for the trouble with nordvik! Please DM us your details.", who[i]);
        post_of(&p, id, "NordvikHelp", text);
        p.is_reply = 1;
        pipeline_post(&pl, &p);
    }
    assert_int_equal(pl.st.own_posts, 4);
    assert_int_equal(pl.st.canned_replies, 1);
    assert_int_equal(s.n, 3);
    assert_non_null(strstr(s.json[2], "\"type\":\"canned_reply\""));
    assert_non_null(strstr(s.json[2], "\"recipients\":[\"cid\",\"ben\",\"ann\"]"));
    {
        /* first_seen is wall-clock time (the window's clock is monotonic) */
        char want[40], got[5];
        const char *fs = strstr(s.json[2], "\"first_seen\":\"");
        format_iso8601_ms(now_real_ms(), want, sizeof want);
        assert_non_null(fs);
        memcpy(got, fs + 14, 4);
        got[4] = '\0';
        assert_memory_equal(got, want, 4);  /* this year, not 1970 */
    }

    pipeline_free(&pl);
    config_free(cfg);
    rules_free(rs);
}

/* A fleet's member: alerts carry the fleet's marks, shares go to the fleet
 * and not to the local viral check, and what the fleet says was alerted
 * folds here and scores with the fleet's count. */
struct fleet_seen {
    int alerts, shares, viral;
    char mark[8][64], fold[8][64], share_key[16][64], viral_text[128], json[4096];
    uint32_t viral_n;
};

static void fleet_sink(void *ctx, struct alert *a)
{
    struct fleet_seen *f = ctx;
    if (f->alerts < 8) {
        str_copy(f->mark[f->alerts], a->mark ? a->mark : "-", sizeof f->mark[0]);
        str_copy(f->fold[f->alerts], a->fold ? a->fold : "-", sizeof f->fold[0]);
    }
    str_copy(f->json, a->json, sizeof f->json);
    f->alerts++;
    alert_free(a);
}

static void fleet_share(void *ctx, const char *key, const struct post *share)
{
    struct fleet_seen *f = ctx;
    (void)share;
    if (f->shares < 16)
        str_copy(f->share_key[f->shares], key, sizeof f->share_key[0]);
    f->shares++;
}

static void fleet_viral(void *ctx, const char *key, const struct post *share, const char *text, uint32_t n)
{
    struct fleet_seen *f = ctx;
    (void)key;
    (void)share;
    f->viral++;
    f->viral_n = n;
    str_copy(f->viral_text, text, sizeof f->viral_text);
}

static void fleet_member_stages(void **state)
{
    struct ruleset *rs = load();
    struct config *cfg = config_defaults_new();
    struct pipeline pl;
    struct fleet_seen f = {0};
    struct pipeline_observer obs = {.viral = fleet_viral, .ctx = &f};
    struct post p;
    (void)state;

    cfg->viral_shares = 2;
    pipeline_init(&pl, cfg, rs, fleet_sink, &f);
    pipeline_set_observer(&pl, &obs);
    pipeline_set_fleet(&pl, fleet_share, &f);

    post_of(&p, "100", "jane", "nordvik charged my card twice");
    pipeline_post(&pl, &p);
    assert_int_equal(f.alerts, 1);
    assert_string_equal(f.mark[0], "x_v2:100");
    assert_string_equal(f.fold[0], "-");
    /* its retweets fold here, and each is a share for the fleet; past
     * viral_shares locally, the fleet decides, not this member */
    for (int i = 0; i < 3; i++) {
        post_of(&p, i == 0 ? "101" : i == 1 ? "102" : "103", "bob", "RT @jane: nordvik charged my card twice");
        p.is_retweet = 1;
        p.referenced_id = "100";
        pipeline_post(&pl, &p);
    }
    assert_int_equal(f.alerts, 1);
    assert_int_equal(pl.st.shares_folded, 3);
    assert_int_equal(f.shares, 3);
    assert_string_equal(f.share_key[2], "x_v2:100");
    assert_int_equal(f.viral, 0);

    /* a retweet of a post this member never saw alerts, marked with both */
    post_of(&p, "301", "amy", "RT @cy: nordvik app is down");
    p.is_retweet = 1;
    p.referenced_id = "300";
    p.referenced_text = "nordvik app is down";
    pipeline_post(&pl, &p);
    assert_int_equal(f.alerts, 2);
    assert_string_equal(f.mark[1], "x_v2:301");
    assert_string_equal(f.fold[1], "x_v2:300");
    assert_string_equal(f.share_key[3], "x_v2:300");

    /* another member alerted 500 and the fleet counts 42 shares: its
     * retweets fold here, and a quote of it scores with the fleet's count */
    pipeline_fleet_shares(&pl, "x_v2:500", 42);
    post_of(&p, "501", "bob", "RT @dee: nordvik lost my transfer");
    p.is_retweet = 1;
    p.referenced_id = "500";
    pipeline_post(&pl, &p);
    assert_int_equal(f.alerts, 2);
    assert_int_equal(pl.st.shares_folded, 4);
    post_of(&p, "502", "eve", "same here, nordvik lost mine too");
    p.is_quote = 1;
    p.referenced_id = "500";
    pipeline_post(&pl, &p);
    assert_int_equal(f.alerts, 3);
    assert_string_equal(f.fold[2], "-");            /* a quote is its own post */
    assert_non_null(strstr(f.json, "\"shares\":44"));  /* the fleet's 42, the retweet, the quote */

    /* the fleet says 100 is viral: the observer hears it, text masked */
    post_of(&p, "104", "bob", "RT @jane: nordvik charged 4111 1111 1111 1111");
    p.is_retweet = 1;
    p.referenced_id = "100";
    p.referenced_text = "nordvik charged 4111 1111 1111 1111";
    pipeline_report_viral(&pl, "x_v2:100", &p, 9);
    assert_int_equal(f.viral, 1);
    assert_int_equal(f.viral_n, 9);
    assert_string_equal(f.viral_text, "nordvik charged 4111 **** **** 1111");

    pipeline_free(&pl);
    config_free(cfg);
    rules_free(rs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(each_reason),
        cmocka_unit_test(windows_are_bounded),
        cmocka_unit_test(pipeline_stages),
        cmocka_unit_test(fleet_member_stages),
    };
    return cmocka_run_group_tests_name("scorer", tests, NULL, NULL);
}
