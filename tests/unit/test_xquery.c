/* xquery: each rule as its widest X rule -- X's operators as written, our
 * extensions widened, negations kept only when exact, and the rules X
 * cannot take named. */
#include "testutil.h"
#include "query.h"
#include "rules.h"
#include "xquery.h"

static const char *const list_entries[] = {"fraud", "\"charged twice\"", "scam*"};

static int lists(void *ctx, const char *name, const char *const **entries, int *n, char *err, size_t errlen)
{
    (void)ctx;
    (void)err;
    (void)errlen;
    (void)name;
    *entries = list_entries;
    *n = 3;
    return 0;
}

/* The X rule of query s (NULL if it has none, why in why). */
static const char *x_of(const char *s, int fold, int *exact, char *why)
{
    static char out[4096];
    struct query_env env = {.fold = fold, .list = lists};
    struct query *q;
    struct buf b;
    char err[256];
    int col, rc;

    if (query_parse(s, &env, &q, err, sizeof err, &col) != 0)
        fail_msg("%s: %s", s, err);
    buf_init(&b, 1 << 20);
    rc = xquery_widest(q, &b, why, 256);
    snprintf(out, sizeof out, "%s", rc == 0 && b.data ? b.data : "");
    if (exact)
        *exact = xquery_exact(q);
    buf_free(&b);
    query_free(q);
    return rc == 0 ? out : NULL;
}

static void native_rules_go_as_written(void **state)
{
    char why[256];
    int exact;
    (void)state;

    assert_string_equal(x_of("(bofa OR @BofA_help) (fraud OR \"charged twice\") -from:BofA_help", 0, &exact, why),
                        "(bofa OR @BofA_help) (fraud OR \"charged twice\") -from:BofA_help");
    assert_true(exact);
    assert_string_equal(x_of("nordvik lang:sv -is:retweet has:media", 0, &exact, why),
                        "nordvik lang:sv -is:retweet has:media");
    assert_true(exact);
    assert_string_equal(x_of("\"card blocked\"~3 OR #nordvik OR $NVK", 0, &exact, why),
                        "\"card blocked\"~3 OR #nordvik OR $NVK");
    assert_string_equal(x_of("apple OR iphone ipad", 0, NULL, why), "apple OR iphone ipad");
}

static void extensions_widen(void **state)
{
    char why[256];
    int exact;
    (void)state;

    /* NEAR: both operands; contains:/raw:/prefix*: anything, dropped from an AND */
    assert_string_equal(x_of("nordvik NEAR/3 \"card blocked\"", 0, &exact, why), "nordvik \"card blocked\"");
    assert_false(exact);
    assert_string_equal(x_of("nordvik contains:vik raw:BankID", 0, &exact, why), "nordvik");
    assert_false(exact);
    assert_string_equal(x_of("nordvik (fraud OR scam*)", 0, NULL, why), "nordvik");
    /* a negation X cannot do exactly is dropped (excluding less) */
    assert_string_equal(x_of("nordvik -contains:test -from:nordvikhelp", 0, NULL, why), "nordvik -from:nordvikhelp");
    /* a list: its entries, the prefix one making the OR anything */
    assert_string_equal(x_of("nordvik list:fraud", 0, NULL, why), "nordvik");
    assert_string_equal(x_of("nordvik -list:fraud", 0, NULL, why), "nordvik -fraud -\"charged twice\"");
    /* accents folded: as written and folded */
    assert_string_equal(x_of("bedrägeri nordvik", 1, &exact, why), "(bedrägeri OR bedrageri) nordvik");
    assert_false(exact);
    assert_string_equal(x_of("bedrägeri nordvik", 0, &exact, why), "bedrägeri nordvik");
    assert_true(exact);
    assert_string_equal(x_of("nordvik -bedrägeri", 1, NULL, why), "nordvik");
}

static void what_x_cannot_take(void **state)
{
    char why[256];
    (void)state;

    assert_null(x_of("contains:vik", 0, NULL, why));
    assert_non_null(strstr(why, "matches anything"));
    assert_null(x_of("nordvik* OR bank", 0, NULL, why));
    assert_null(x_of("contains:vik lang:sv", 0, NULL, why));
    assert_non_null(strstr(why, "stand alone"));
}

struct planned {
    char lines[8][300];
    int n;
};

static void planned(void *ctx, const struct rule *r, const char *value, const char *why)
{
    struct planned *p = ctx;

    snprintf(p->lines[p->n++], sizeof p->lines[0], "%s: %s", r->name, value ? value : why);
}

/* The plan within the account's limits, in load order; budget =
 * best_effort held back once the day is spent; a bad budget value named. */
static void plan_with_limits_and_budget(void **state)
{
    struct errlist errs = {0};
    struct planned p = {0};
    struct ruleset *rs;
    const char *path = write_temp("plan.rules",
                                  "[rule \"a\"]\nquery = nordvik card\n"
                                  "[rule \"b\"]\nquery = contains:vik\n"
                                  "[rule \"c\"]\nquery = weather stockholm\nbudget = best_effort\n"
                                  "[rule \"d\"]\nquery = \"a very long phrase that goes on\"\n"
                                  "[rule \"e\"]\nquery = savings account\nbudget = keep\n");
    (void)state;

    assert_non_null(rs = rules_load(path, 0, NULL, &errs));
    assert_true(rs->rules[2].best_effort && !rs->rules[4].best_effort);
    xquery_plan(rs, 3, 20, 0, planned, &p);
    assert_int_equal(p.n, 5);
    assert_string_equal(p.lines[0], "a: nordvik card");
    assert_non_null(strstr(p.lines[1], "b: once its contains:"));
    assert_string_equal(p.lines[2], "c: weather stockholm");
    assert_string_equal(p.lines[3], "d: its X rule is 33 characters, over the account's 20");
    assert_string_equal(p.lines[4], "e: savings account");
    memset(&p, 0, sizeof p);
    xquery_plan(rs, 2, 1024, 1, planned, &p);
    assert_string_equal(p.lines[2], "c: budget = best_effort, and the day's budget is spent");
    assert_string_equal(p.lines[3], "d: \"a very long phrase that goes on\"");
    assert_string_equal(p.lines[4], "e: over the account's 2 rules");
    rules_free(rs);
    path = write_temp("plan-bad.rules", "[rule \"a\"]\nquery = nordvik\nbudget = cheap\n");
    assert_null(rules_load(path, 0, NULL, &errs));
    assert_true(ERRLIST_HAS(&errs, "budget = cheap: expected keep or best_effort"));
    errlist_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(native_rules_go_as_written),
        cmocka_unit_test(extensions_widen),
        cmocka_unit_test(what_x_cannot_take),
        cmocka_unit_test(plan_with_limits_and_budget),
    };
    return cmocka_run_group_tests_name("xquery", tests, NULL, NULL);
}
