/* incident: grouping, cooldown, the page budget, topics and viral posts,
 * driven with exact counts on a clock the test owns. */
#include "testutil.h"
#include "incident.h"
#include "oncall.h"
#include "post.h"
#include "rules.h"

struct seen {
    int n;
    enum incident_action act[64];
    int page[64];
    char key[64][400];
    int limits, limit_over;
    uint64_t suppressed;
};

static void on_incident(void *ctx, const struct incident *inc, enum incident_action act, int page)
{
    struct seen *s = ctx;
    if (s->n < 64) {
        s->act[s->n] = act;
        s->page[s->n] = page;
        snprintf(s->key[s->n], sizeof s->key[0], "%s", inc->key);
    }
    s->n++;
}

static void on_limit(void *ctx, uint32_t limit, uint64_t suppressed, int hour_over, uint64_t now_ms)
{
    struct seen *s = ctx;
    (void)limit;
    (void)now_ms;
    s->limits++;
    s->limit_over += hour_over;
    s->suppressed = suppressed;
}

static const struct incident_cbs cbs = {on_incident, on_limit};

/* Two rules: "a" (spike on, topic t) and "b" (topic t only). */
static struct ruleset *two_rules(void)
{
    struct ruleset *rs = calloc(1, sizeof *rs);
    rs->n = 2;
    rs->rules = calloc(2, sizeof *rs->rules);
    rs->rules[0].name = "a";
    rs->rules[0].queue = "qa";
    rs->rules[0].spike = 1;
    rs->rules[0].topic = "t";
    rs->rules[1].name = "b";
    rs->rules[1].queue = "qb";
    rs->rules[1].topic = "t";
    return rs;
}

static void free_rules(struct ruleset *rs)
{
    free(rs->rules);
    free(rs);
}

static void params(struct incident_params *p)
{
    memset(p, 0, sizeof *p);
    spike_params_default(&p->spike);
    p->spike.window_s = 10;
    p->spike.warmup_s = 0;
    p->spike.resolve_s = 5;
    p->cooldown_s = 600;
    p->max_pages_per_hour = 0;
    p->viral_window_s = 60;
}

/* from..to seconds at rate posts a second, each matching rules[0..nr) */
static void run(struct incidents *in, uint64_t from, uint64_t to, int rate, const int *rules, int nr)
{
    struct post p;
    memset(&p, 0, sizeof p);
    p.id = "1";
    p.text = "t";
    p.author.handle = "h";
    for (uint64_t t = from; t < to; t++) {
        for (int k = 0; k < rate; k++)
            incidents_match(in, rules, nr, "qa", &p, t);
        incidents_tick(in, t, t * 1000);
    }
}

static void surge_opens_resolves_and_topic_counts_once(void **state)
{
    struct incident_params p;
    struct seen s = {0};
    struct ruleset *rs = two_rules();
    struct incidents *in;
    const int both[] = {0, 1};
    (void)state;
    params(&p);
    in = incidents_new("i1", &p, &cbs, &s);
    assert_int_equal(incidents_set_rules(in, rs, 1000, 1000000), 0);
    assert_int_equal(incidents_stats(in)->series, 2);     /* rule a, topic t */
    run(in, 1000, 1300, 1, both, 2);
    assert_int_equal(s.n, 0);
    run(in, 1300, 1340, 30, both, 2);
    /* one incident for the rule and one for the topic (a post matching two
     * rules of the topic counts once there, or it would read as a surge) */
    assert_int_equal(s.n, 2);
    assert_int_equal(s.act[0], INCIDENT_OPEN);
    assert_int_equal(s.act[1], INCIDENT_OPEN);
    assert_true(s.page[0] && s.page[1]);
    assert_true(strstr(s.key[0], "i1:rule:a:") == s.key[0] || strstr(s.key[1], "i1:rule:a:") == s.key[1]);
    assert_true(strstr(s.key[0], "i1:topic:t:") == s.key[0] || strstr(s.key[1], "i1:topic:t:") == s.key[1]);
    run(in, 1340, 1400, 1, both, 2);
    assert_int_equal(s.n, 4);
    assert_int_equal(s.act[2], INCIDENT_RESOLVE);
    assert_int_equal(s.act[3], INCIDENT_RESOLVE);
    assert_true(s.page[2] && s.page[3]);       /* on-call heard of it: all-clear */
    assert_int_equal(incidents_stats(in)->open, 0);
    incidents_free(in);
    free_rules(rs);
}

/* Rule "a" alone (no topics), a quiet 300 s, then a surge of 40 s. */
static struct incidents *surge_on_a(struct seen *s, struct ruleset **rs)
{
    struct incident_params p;
    struct incidents *in;
    const int a[] = {0};

    params(&p);
    *rs = two_rules();
    (*rs)->rules[0].topic = (*rs)->rules[1].topic = NULL;
    in = incidents_new("i1", &p, &cbs, s);
    incidents_set_rules(in, *rs, 1000, 1000000);
    run(in, 1000, 1300, 1, a, 1);
    run(in, 1300, 1340, 30, a, 1);
    return in;
}

static void cooldown_reopens_without_a_page(void **state)
{
    struct seen s = {0};
    struct ruleset *rs;
    struct incidents *in = surge_on_a(&s, &rs);
    const int a[] = {0};
    (void)state;
    run(in, 1340, 1400, 1, a, 1);
    assert_int_equal(s.n, 2);                   /* open, resolve */
    run(in, 1400, 1440, 30, a, 1);              /* the same again, within cooldown */
    assert_int_equal(s.n, 3);
    assert_int_equal(s.act[2], INCIDENT_REOPEN);
    assert_int_equal(s.page[2], 0);
    assert_string_equal(s.key[2], s.key[0]);    /* the same incident */
    run(in, 1440, 1500, 1, a, 1);
    assert_int_equal(s.act[3], INCIDENT_RESOLVE);
    assert_int_equal(s.page[3], 0);             /* on-call was told it was over already */
    /* after the cooldown: a new incident, paged */
    run(in, 1500, 2100, 1, a, 1);
    run(in, 2100, 2140, 30, a, 1);
    assert_int_equal(s.act[4], INCIDENT_OPEN);
    assert_int_equal(s.page[4], 1);
    assert_string_not_equal(s.key[4], s.key[0]);
    incidents_free(in);
    free_rules(rs);
}

static void page_budget_suppresses_and_summarises(void **state)
{
    struct incident_params p;
    struct seen s = {0};
    struct incidents *in;
    struct post post;
    (void)state;
    params(&p);
    p.max_pages_per_hour = 2;
    memset(&post, 0, sizeof post);
    post.id = "9";
    post.author.handle = "x";
    post.text = "viral";
    in = incidents_new("i1", &p, &cbs, &s);
    for (int i = 0; i < 5; i++) {
        char key[32];
        snprintf(key, sizeof key, "x:%d", i);
        incidents_viral(in, key, &post, "viral text", 100, 1000 + (uint64_t)i, (1000 + (uint64_t)i) * 1000);
    }
    assert_int_equal(s.n, 5);                   /* every incident recorded */
    assert_int_equal(s.page[0] + s.page[1] + s.page[2] + s.page[3] + s.page[4], 2);
    assert_int_equal(s.limits, 1);              /* said once when it was hit */
    assert_int_equal(incidents_stats(in)->suppressed, 3);
    /* the same post again while open: nothing new */
    incidents_viral(in, "x:0", &post, "viral text", 150, 1010, 1010000);
    assert_int_equal(s.n, 5);
    /* viral incidents end after their window; the suppressed ones end
     * without an all-clear (on-call never heard of them) */
    for (uint64_t t = 1010; t < 1100; t++)
        incidents_tick(in, t, t * 1000);
    assert_int_equal(s.n, 10);
    assert_int_equal(s.page[5] + s.page[6] + s.page[7] + s.page[8] + s.page[9], 2);
    /* the hour ends: the summary with the count */
    for (uint64_t t = 1100; t < 1000 + 3601; t += 10)
        incidents_tick(in, t, t * 1000);
    assert_int_equal(s.limits, 2);
    assert_int_equal(s.limit_over, 1);
    assert_int_equal(s.suppressed, 3);
    incidents_free(in);
}

static void rules_gone_resolve_their_incident(void **state)
{
    struct seen s = {0};
    struct ruleset *rs, empty = {0};
    struct incidents *in = surge_on_a(&s, &rs);
    (void)state;
    assert_int_equal(s.n, 1);
    incidents_set_rules(in, &empty, 1340, 1340000);      /* reload without the rule */
    assert_int_equal(s.n, 2);
    assert_int_equal(s.act[1], INCIDENT_RESOLVE);
    incidents_tick(in, 1341, 1341000);
    assert_int_equal(incidents_stats(in)->series, 0);
    incidents_free(in);
    free_rules(rs);
}

struct kept {
    char series[8][64];
    struct spike_state st[8];
    int n;
};

static void keep_state(void *ctx, const char *series, const struct spike_state *st)
{
    struct kept *k = ctx;
    if (k->n < 8) {
        snprintf(k->series[k->n], sizeof k->series[k->n], "%s", series);
        k->st[k->n++] = *st;
    }
}

/* The states a run learnt, by series name, into a new run: the names are
 * those of the index ("rule/a", "topic/t"); an unknown name is -1, a
 * series that was taught already refuses. */
static void states_saved_and_restored(void **state)
{
    struct incident_params p;
    struct seen s = {0};
    struct ruleset *rs = two_rules();
    struct incidents *in;
    struct kept k = {0};
    const int both[] = {0, 1};
    (void)state;
    params(&p);
    in = incidents_new("i1", &p, &cbs, &s);
    incidents_set_rules(in, rs, 1000, 1000000);
    incidents_each_state(in, keep_state, &k);
    assert_int_equal(k.n, 0);                   /* nothing learnt yet */
    run(in, 1000, 1100, 1, both, 2);
    incidents_each_state(in, keep_state, &k);
    assert_int_equal(k.n, 2);
    assert_true((!strcmp(k.series[0], "rule/a") && !strcmp(k.series[1], "topic/t")) ||
                (!strcmp(k.series[1], "rule/a") && !strcmp(k.series[0], "topic/t")));
    assert_true(k.st[0].samples >= 99 && k.st[0].mean > 5);    /* 1/s over 10 s windows */
    incidents_free(in);

    in = incidents_new("i1", &p, &cbs, &s);     /* the next start */
    incidents_set_rules(in, rs, 5000, 5000000);
    assert_int_equal(incidents_restore(in, k.series[0], &k.st[0]), 1);
    assert_int_equal(incidents_restore(in, k.series[0], &k.st[0]), 0);
    assert_int_equal(incidents_restore(in, "rule/gone", &k.st[0]), -1);
    assert_int_equal(incidents_restore(in, "queue/qa", &k.st[0]), -1);  /* spike_queues off */
    incidents_free(in);
    free_rules(rs);
}

/* The fleet's Redis hash of one second, as fleet_rates keeps it. */
struct second_totals {
    char series[8][64];
    uint64_t s[8];
    uint32_t n[8];
    int len;
};

static void add_total(void *ctx, const char *series, uint64_t s, uint32_t n)
{
    struct second_totals *t = ctx;
    for (int i = 0; i < t->len; i++)
        if (!strcmp(t->series[i], series) && t->s[i] == s) {
            t->n[i] += n;
            return;
        }
    assert_true(t->len < 8);
    snprintf(t->series[t->len], sizeof t->series[0], "%s", series);
    t->s[t->len] = s;
    t->n[t->len++] = n;
}

/* Three members each see a third of a surge, too little for any to page
 * (min_count 40; 30 a window each): judged on the fleet's total, every
 * member opens the same incident, keyed by the fleet; judged alone (the
 * control), none does. */
static void shared_series_judge_the_fleets_total(void **state)
{
    struct incident_params p;
    struct seen s[3] = {{0}}, alone[3] = {{0}};
    struct ruleset *rs = two_rules();
    struct incidents *in[3], *solo[3];
    const int a[] = {0};
    struct post post;
    (void)state;
    params(&p);
    p.spike.min_count = 40;
    memset(&post, 0, sizeof post);
    post.id = "1";
    post.text = "t";
    post.author.handle = "h";
    for (int m = 0; m < 3; m++) {
        in[m] = incidents_new("bank", &p, &cbs, &s[m]);
        incidents_set_shared(in[m], 1);
        incidents_set_rules(in[m], rs, 1000, 1000000);
        solo[m] = incidents_new("bank", &p, &cbs, &alone[m]);
        incidents_set_rules(solo[m], rs, 1000, 1000000);
    }
    for (uint64_t t = 1000; t < 1400; t++) {
        struct second_totals tot = {0};
        int rate = t < 1300 ? 1 : 3;            /* a member's posts a second: 10, then 30 a window */
        for (int m = 0; m < 3; m++) {
            for (int k = 0; k < rate; k++) {
                incidents_match(in[m], a, 1, "qa", &post, t);
                incidents_match(solo[m], a, 1, "qa", &post, t);
            }
            incidents_tick(solo[m], t, t * 1000);
            incidents_take_counts(in[m], t + 1, add_total, &tot);      /* second t is over */
        }
        for (int m = 0; m < 3; m++) {
            for (int i = 0; i < tot.len; i++) {
                assert_int_equal(tot.s[i], t);
                assert_int_equal(incidents_add_count(in[m], tot.series[i], tot.s[i], tot.n[i]), 0);
            }
            incidents_tick(in[m], t + 1, (t + 1) * 1000);
        }
    }
    for (int m = 0; m < 3; m++) {
        assert_int_equal(alone[m].n, 0);
        assert_true(s[m].n >= 1);
        assert_int_equal(s[m].act[0], INCIDENT_OPEN);
        assert_true(!strncmp(s[m].key[0], "bank:rule:a:", 12));
        assert_string_equal(s[m].key[0], s[0].key[0]);
        assert_int_equal(incidents_add_count(in[m], "rule/gone", 1400, 1), -1);
        incidents_free(in[m]);
        incidents_free(solo[m]);
    }
    free_rules(rs);
}

static void pagerduty_document_shape(void **state)
{
    struct incident inc;
    struct json_writer *w = jw_new();
    const char *out;
    size_t len;
    (void)state;
    memset(&inc, 0, sizeof inc);
    snprintf(inc.key, sizeof inc.key, "i1:rule:a:1");
    snprintf(inc.name, sizeof inc.name, "a");
    inc.started_ms = inc.updated_ms = 1000;
    assert_int_equal(oncall_pagerduty(w, "KEY", "i1", &inc, INCIDENT_RESOLVE, &out, &len), 0);
    assert_memory_equal(out, "{\"routing_key\":\"KEY\",\"event_action\":\"resolve\",\"dedup_key\":\"i1:rule:a:1\"}", len);
    /* a summary over PagerDuty's 1,024 is cut on a character boundary */
    memset(inc.name, 'x', sizeof inc.name - 1);
    inc.name[sizeof inc.name - 1] = '\0';
    assert_int_equal(oncall_pagerduty(w, "KEY", "i1", &inc, INCIDENT_OPEN, &out, &len), 0);
    assert_non_null(strstr(out, "\"severity\":\"critical\""));
    jw_free(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(surge_opens_resolves_and_topic_counts_once),
        cmocka_unit_test(cooldown_reopens_without_a_page),
        cmocka_unit_test(page_budget_suppresses_and_summarises),
        cmocka_unit_test(rules_gone_resolve_their_incident),
        cmocka_unit_test(states_saved_and_restored),
        cmocka_unit_test(shared_series_judge_the_fleets_total),
        cmocka_unit_test(pagerduty_document_shape),
    };
    return cmocka_run_group_tests_name("incident", tests, NULL, NULL);
}
