/* rules: the query language (parse errors with columns), matching semantics
 * and rule files (every error at once, with file:line:col). */
#include "testutil.h"
#include <ctype.h>
#include "matcher.h"
#include "query.h"
#include "rules.h"
#include "util.h"

static void parse_error(const char *q, const char *want, int want_col)
{
    struct query *out;
    char err[256];
    int col;
    if (query_parse(q, NULL, &out, err, sizeof err, &col) == 0) {
        query_free(out);
        fail_msg("query accepted but should fail: %s", q);
    }
    if (!strstr(err, want))
        fail_msg("query %s: error '%s' does not say '%s'", q, err, want);
    if (want_col && col != want_col)
        fail_msg("query %s: column %d, expected %d", q, col, want_col);
}

static int query_ok(const char *q)
{
    struct query *out;
    char err[256];
    int col;

    if (query_parse(q, NULL, &out, err, sizeof err, &col) != 0)
        return 0;
    query_free(out);
    return 1;
}

/* Every operator in the README's operator table parses (so the table and
 * the parser agree); near misses of each are errors at their column that
 * name the operator meant; other word: prefixes are errors too. */
static void operators_known_and_near_misses(void **state)
{
    static const char *const values[][2] = {     /* a valid value per operator */
        {"from", "x"}, {"to", "x"}, {"retweets_of", "x"}, {"min_followers", "10"}, {"followers_count", "1..9"},
        {"bio", "word"}, {"lang", "sv"}, {"url", "word"}, {"conversation_id", "1"}, {"sample", "10"},
        {"contains", "vik"}, {"raw", "BankID"}, {"list", "x"},
    };
    char path[600], *readme, *table, *end, q[128], want[256];
    int ops = 0;
    (void)state;

    readme = file_read_all(SRC_PATH(path, "README.md"), 1 << 20, NULL, q, sizeof q);
    assert_non_null(readme);
    table = strstr(readme, "| group | operator | matches |");
    assert_non_null(table);
    end = strstr(table, "\n\n");
    assert_non_null(end);
    *end = '\0';
    for (char *t = table; (t = strchr(t, '`')); ) {
        char *close = strchr(t + 1, '`'), name[64], *colon;
        const char *val = NULL;
        size_t n;
        if (!close)
            break;
        n = (size_t)(close - t - 1);
        snprintf(name, sizeof name, "%.*s", (int)(n < sizeof name ? n : sizeof name - 1), t + 1);
        t = close + 1;
        if (!(colon = strchr(name, ':')) || colon == name || !islower((unsigned char)name[0]) ||
            !strncmp(name, "list:", 5))         /* list: needs a lexicons directory: test_conformance */
            continue;
        /* as the README writes it (is:retweet, from:handle), else with a
         * real value in place of its placeholder (min_followers:N) */
        snprintf(q, sizeof q, "bank %s", name);
        if (query_ok(q)) {
            ops++;
            continue;
        }
        *colon = '\0';
        for (size_t i = 0; i < ARRAY_LEN(values); i++)
            if (!strcmp(values[i][0], name))
                val = values[i][1];
        if (!val)
            fail_msg("README operator '%s:' does not parse as written and has no value in this test", name);
        snprintf(q, sizeof q, "bank %s:%s", name, val);
        if (!query_ok(q))
            fail_msg("README's operator '%s' does not parse", q);
        ops++;
    }
    free(readme);
    assert_true(ops >= 20);

    /* near misses: a transposition, a letter dropped, a letter added */
    parse_error("nordvik fraud -form:user013", "unknown operator 'form:' (did you mean from:?)", 16);
    parse_error("nordvik langs:sv", "unknown operator 'langs:' (did you mean lang:?)", 9);
    parse_error("nordvik retweet_of:x", "did you mean retweets_of:?", 9);
    parse_error("nordvik min_folowers:10", "did you mean min_followers:?", 9);
    parse_error("nordvik conversationid:1", "did you mean conversation_id:?", 9);
    parse_error("nordvik cotnains:vik", "did you mean contains:?", 9);
    parse_error("nordvik is:retweets", "did you mean is:retweet?", 9);
    parse_error("nordvik has:link", "did you mean has:links?", 9);
    parse_error("nordvik foo:bar", "unknown operator 'foo:' (quote it to match the text: \"foo:bar\")", 9);
    parse_error("nordvik hashtag:bank", "write #NAME for a hashtag", 9);
    parse_error("nordvik https://nordvik.example/x", "write a link as url:", 9);
    for (size_t i = 0; i < ARRAY_LEN(values); i++) {
        char miss[64];
        size_t n = strlen(values[i][0]);
        if (n < 4)
            continue;                               /* to:, bio:, url:, raw: have no safe near miss */
        snprintf(miss, sizeof miss, "%.*s%s", (int)(n - 1), values[i][0], "x");   /* last letter changed */
        snprintf(q, sizeof q, "nordvik %s:%s", miss, values[i][1]);
        snprintf(want, sizeof want, "did you mean %s:?", values[i][0]);
        parse_error(q, want, 9);
    }
    /* not operator-shaped: still words */
    {
        struct query *out;
        char err[256];
        int col;
        assert_int_equal(query_parse("meeting 10:30", NULL, &out, err, sizeof err, &col), 0);
        query_free(out);
    }
}

static void composition_errors(void **state)
{
    (void)state;
    parse_error("(bofa OR chase", "'(' is never closed", 1);
    parse_error("bofa)", "')' without '('", 5);
    parse_error("bofa (fraud OR (scam)", "never closed", 6);
    parse_error("-(fraud scam)", "cannot be negated", 1);
    parse_error("-fraud", "positive term", 1);
    parse_error("-fraud -scam", "positive term", 0);
    parse_error("apple OR -ipad", "each side of OR", 10);        /* under the side, not past the end */
    parse_error("-ipad OR apple", "each side of OR", 1);
    parse_error("nordvik OR (lang:sv OR bank)", "each side of OR", 13);
    parse_error("lang:en", "positive term", 0);
    parse_error("is:retweet OR bofa", "each side of OR", 0);
    parse_error("fraud OR", "OR needs a term", 7);
    parse_error("OR fraud", "OR needs a term", 1);
    parse_error("fraud OR OR scam", "OR needs a term", 7);
    parse_error("\"charged twice", "unterminated quote", 1);
    parse_error("bank ()", "empty parentheses", 6);
    parse_error("place:stockholm bank", "'place:' is not supported", 1);
    parse_error("bank \"a b\"~7", "from 1 to 6", 11);
    parse_error("bank !!!", "no letters", 6);
    parse_error("bank is:cat", "unknown operator 'is:cat'", 6);
    parse_error("", "empty query", 1);
    parse_error("kundtjänst (", "never closed", 12);   /* columns count characters */
}

/* --- matching ---------------------------------------------------------- */

struct mcase {
    const char *query;
    const char *text;
    const char *handle;
    const char *lang;
    const char *ref_text;
    int fold;
    int want;
};

static const struct mcase cases[] = {
    {"fraud", "Fraud alert!", NULL, NULL, NULL, 0, 1},
    {"fraud", "I was defrauded", NULL, NULL, NULL, 0, 0},
    {"\"charged twice\"", "I was CHARGED twice.", NULL, NULL, NULL, 0, 1},
    {"\"charged twice\"", "charged me twice", NULL, NULL, NULL, 0, 0},
    {"\"charged twice\"", "overcharged twice", NULL, NULL, NULL, 0, 0},
    {"\"can't log in\"", "I can’t log in since 9am", NULL, NULL, NULL, 0, 1},
    {"coca-cola", "I like coca cola", NULL, NULL, NULL, 0, 1},
    {"coca-cola", "cola and coca", NULL, NULL, NULL, 0, 0},
    {"apple OR iphone ipad", "apple pie", NULL, NULL, NULL, 0, 1},
    {"apple OR iphone ipad", "new iphone", NULL, NULL, NULL, 0, 0},
    {"apple OR iphone ipad", "iphone and ipad", NULL, NULL, NULL, 0, 1},
    {"(apple OR iphone) ipad", "apple pie", NULL, NULL, NULL, 0, 0},
    {"(apple OR iphone) ipad", "apple ipad", NULL, NULL, NULL, 0, 1},
    {"bank -fee", "bank fee again", NULL, NULL, NULL, 0, 0},
    {"bank -fee", "bank again", NULL, NULL, NULL, 0, 1},
    {"bank -\"late fee\"", "bank fee late", NULL, NULL, NULL, 0, 1},
    {"bank -\"late fee\"", "bank late fee", NULL, NULL, NULL, 0, 0},
    {"bank or loan", "bank or loan", NULL, NULL, NULL, 0, 1},          /* lower-case or is a keyword */
    {"bank or loan", "bank loan", NULL, NULL, NULL, 0, 0},
    {"bank AND loan", "bank loan", NULL, NULL, NULL, 0, 0},            /* AND is a keyword too */
    {"@NordvikHelp", "hi @nordvikhelp!", NULL, NULL, NULL, 0, 1},
    {"@NordvikHelp", "hi nordvikhelp", NULL, NULL, NULL, 0, 0},
    {"@NordvikHelp", "hi @NordvikHelpDesk", NULL, NULL, NULL, 0, 0},
    {"#fraud", "#Fraud!", NULL, NULL, NULL, 0, 1},
    {"#fraud", "fraud", NULL, NULL, NULL, 0, 0},
    {"$NVK", "buying $nvk today", NULL, NULL, NULL, 0, 1},
    {"fraud", "#fraud", NULL, NULL, NULL, 0, 1},
    {"bedrägeri", "BEDRÄGERI!", NULL, NULL, NULL, 0, 1},
    {"bedrägeri", "bedrageri", NULL, NULL, NULL, 0, 0},                /* accents kept by default */
    {"bedrageri", "bedrägeri", NULL, NULL, NULL, 0, 0},
    {"bedrägeri", "bedrageri", NULL, NULL, NULL, 1, 1},                /* accents = fold */
    {"bedrageri", "Bedrägeri", NULL, NULL, NULL, 1, 1},
    {"straße", "STRASSE", NULL, NULL, NULL, 0, 1},
    {"kort from:NordvikHelp", "kort", "nordvikhelp", NULL, NULL, 0, 1},
    {"kort from:NordvikHelp", "kort", "someone", NULL, NULL, 0, 0},
    {"kort -from:NordvikHelp", "kort", "NordvikHelp", NULL, NULL, 0, 0},
    {"kort -from:NordvikHelp", "kort", "someone", NULL, NULL, 0, 1},
    {"from:@NordvikHelp", "anything", "NordvikHelp", NULL, NULL, 0, 1},
    {"kort lang:sv", "kort", NULL, "sv", NULL, 0, 1},
    {"kort lang:sv", "kort", NULL, "en", NULL, 0, 0},
    {"kort -lang:sv", "kort", NULL, "en", NULL, 0, 1},
    {"bank 😡", "my bank😡😡", NULL, NULL, NULL, 0, 1},
    {"銀行", "銀行が遅い", NULL, NULL, NULL, 0, 1},
    {"銀行", "銀の行", NULL, NULL, NULL, 0, 0},
    {"outage", "RT @x: see below", NULL, NULL, "massive outage at the bank", 0, 1},
    {"\"see outage\"", "RT @x: see", NULL, NULL, "outage", 0, 1},
};

static int match_one(const struct mcase *c)
{
    char rules[1024];
    const char *path;
    struct errlist errs = {0};
    struct ruleset *rs;
    struct match_ctx mc;
    struct post p;
    int n;

    snprintf(rules, sizeof rules, "[rule \"r\"]\nquery = %s\naccents = %s\n", c->query,
             c->fold ? "fold" : "keep");
    path = write_temp("case.rules", rules);
    rs = rules_load(path, 0, NULL, &errs);
    if (!rs)
        fail_msg("rule did not load: %s: %s", c->query, errs.n ? errs.msgs[0] : "?");
    post_clear(&p);
    p.id = "1";
    p.text = c->text;
    p.author.handle = c->handle;
    p.lang = c->lang;
    p.referenced_text = c->ref_text;
    match_ctx_init(&mc);
    n = matcher_match(&mc, rs->m, &p);
    match_ctx_free(&mc);
    rules_free(rs);
    return n;
}

static void match_table(void **state)
{
    int bad = 0;
    (void)state;
    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        int got = match_one(&cases[i]);
        if (got != cases[i].want) {
            print_error("case %zu: query [%s] text [%s]: got %d, want %d\n", i, cases[i].query,
                        cases[i].text, got, cases[i].want);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

/* --- rule files ---------------------------------------------------------- */

static const char good_rules[] =
    "; comment\n"
    "[rule \"cards-fraud\"]\n"
    "query    = (nordvik OR @NordvikHelp) (fraud OR \"charged twice\") -from:NordvikHelp\n"
    "queue    = cards\n"
    "priority = high\n"
    "tag      = fraud\n"
    "meta.faq = https://nordvik.example/help\n"
    "\n"
    "[rule \"mentions\"]\n"
    "query = @NordvikHelp\n";

static void load_good(void **state)
{
    struct errlist errs = {0};
    struct ruleset *rs;
    const struct rule *r;
    struct match_ctx mc;
    struct post p;
    (void)state;

    rs = rules_load(write_temp("good.rules", good_rules), 0, NULL, &errs);
    assert_non_null(rs);
    assert_int_equal(errs.n, 0);
    assert_int_equal(rs->n, 2);
    r = rules_find(rs, "cards-fraud");
    assert_string_equal(r->queue, "cards");
    assert_int_equal(r->level, LEVEL_HIGH);
    assert_string_equal(r->tag, "fraud");
    assert_int_equal(r->nmeta, 1);
    assert_string_equal(r->meta_key[0], "faq");
    r = rules_find(rs, "mentions");
    assert_string_equal(r->queue, "default");
    assert_int_equal(r->level, LEVEL_NORMAL);

    post_clear(&p);
    p.id = "1";
    p.text = "@NordvikHelp I was charged twice";
    p.author.handle = "jane";
    match_ctx_init(&mc);
    assert_int_equal(matcher_match(&mc, rs->m, &p), 2);
    /* the bank's own account does not trigger the fraud rule */
    p.author.handle = "NordvikHelp";
    assert_int_equal(matcher_match(&mc, rs->m, &p), 1);
    assert_string_equal(rs->rules[mc.hits[0].rule].name, "mentions");
    match_ctx_free(&mc);
    rules_free(rs);
}

/* Every error of every file at once, each with file:line (and column). */
static void load_errors(void **state)
{
    struct errlist errs = {0};
    char want[1200];
    const char *path;
    (void)state;

    path = write_temp("bad.rules",
                      "[rule \"a\"]\n"                               /* 1 */
                      "query = (bofa OR chase\n"                     /* 2 */
                      "priority = urgent\n"                          /* 3 */
                      "colour = red\n"                               /* 4 */
                      "[rule \"b\"]\n"                               /* 5 */
                      "queue = cards\n"                              /* 6 */
                      "[rule \"a\"]\n"                               /* 7 */
                      "query = x\n"                                  /* 8 */
                      "[settings]\n"                                 /* 9 */
                      "x = 1\n"                                      /* 10 */
                      "this line has no equals sign\n"               /* 11 */
                      "[rule \"c\"]\n"                               /* 12 */
                      "query = fraud OR -scam\n");                   /* 13 */
    assert_null(rules_load(path, 0, NULL, &errs));
    snprintf(want, sizeof want, "%s:2:9: rule \"a\": unbalanced parenthesis", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:3: priority = urgent", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:4: unknown key 'colour'", path);
    assert_true(ERRLIST_HAS(&errs, want));
    /* the message lists every key a rule takes */
    assert_true(ERRLIST_HAS(&errs, "(query, queue, priority, tag, accents, spike, topic, budget, meta.*)"));
    snprintf(want, sizeof want, "%s:5: rule \"b\" has no query", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:7: duplicate rule \"a\" (first defined at %s:1)", path, path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:10: expected a [rule \"name\"] section", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:11: expected key = value", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:13:", path);
    assert_true(ERRLIST_HAS(&errs, want));
    assert_true(ERRLIST_HAS(&errs, "each side of OR needs a positive term"));
    assert_true(ERRLIST_HAS(&errs, "\n    fraud OR -scam\n"));
    assert_int_equal(errs.n, 8);
    errlist_free(&errs);

    assert_null(rules_load("/nonexistent/dir/*.rules", 0, NULL, &errs));
    assert_true(ERRLIST_HAS(&errs, "no rule file matches"));
    errlist_free(&errs);
}

/* Many rules sharing terms: each rule is still evaluated on its own. */
static void many_rules(void **state)
{
    char *text = xmalloc(2 << 20);
    size_t o = 0;
    struct errlist errs = {0};
    struct ruleset *rs;
    struct match_ctx mc;
    struct post p;
    (void)state;

    for (int i = 0; i < 5000; i++)
        o += (size_t)sprintf(text + o, "[rule \"r%d\"]\nquery = bank w%d -w%d\n", i, i, i + 1);
    rs = rules_load(write_temp("many.rules", text), 0, NULL, &errs);
    assert_non_null(rs);
    post_clear(&p);
    p.id = "1";
    p.text = "the bank w17 w42 w43";
    match_ctx_init(&mc);
    /* r17 and r43 match; r42 is negated by w43 */
    assert_int_equal(matcher_match(&mc, rs->m, &p), 2);
    assert_string_equal(rs->rules[mc.hits[0].rule].name, "r17");
    assert_string_equal(rs->rules[mc.hits[1].rule].name, "r43");
    p.text = "w17 alone";
    assert_int_equal(matcher_match(&mc, rs->m, &p), 0);
    match_ctx_free(&mc);
    rules_free(rs);
    free(text);
}

/* The rules of text (written to file) and a post of post_text. */
static struct ruleset *rules_for_post(const char *file, const char *text, struct post *p, const char *post_text)
{
    struct errlist errs = {0};
    struct ruleset *rs = rules_load(write_temp(file, text), 0, NULL, &errs);

    assert_non_null(rs);
    post_clear(p);
    p->id = "1";
    p->text = post_text;
    return rs;
}

/* The work a post costs (lookups and confirmations, counted, not timed)
 * against 1 rule and against 10,000 whose phrases all start with the
 * kana the post is full of: it must not grow with the rule count.  Every
 * kana is a token, so with the phrases indexed by their first token each
 * of the post's 100 "の" would confirm 10,000 phrases. */
static uint64_t kana_cost(int nrules, uint64_t *confirms, int *matched)
{
    static const char *const kana[] = {"あ", "い", "う", "え", "お", "か", "き", "く", "け", "こ",
                                       "さ", "し", "す", "せ", "そ", "た", "ち", "つ", "て", "と",
                                       "な", "に", "ぬ", "ね", "は", "ひ", "ふ", "へ", "ほ", "ま",
                                       "み", "む", "め", "も", "や", "ゆ", "よ", "ら", "り", "る",
                                       "れ", "ろ", "わ", "を", "が", "ぎ", "ぐ", "げ", "ご", "ざ",
                                       "じ", "ず", "ぜ", "ぞ", "だ", "ぢ", "づ", "で", "ど", "ば",
                                       "び", "ぶ", "べ", "ぼ", "ぱ", "ぴ", "ぷ", "ぺ", "ぽ", "ア",
                                       "イ", "ウ", "エ", "オ", "カ", "キ", "ク", "ケ", "コ", "サ",
                                       "シ", "ス", "セ", "ソ", "タ", "チ", "ツ", "テ", "ト", "ナ",
                                       "ニ", "ヌ", "ネ", "ハ", "ヒ", "フ", "ヘ", "ホ", "マ", "ミ"};
    char *text = xmalloc(4 << 20), post_text[1024] = "";
    size_t o = 0;
    struct ruleset *rs;
    struct match_ctx mc;
    struct post p;
    uint64_t probes;

    for (int i = 0; i < nrules; i++)
        o += (size_t)sprintf(text + o, "[rule \"k%d\"]\nquery = \"の%s%s\"\n", i, kana[i / 100 % 100], kana[i % 100]);
    /* "のん" 99 times, then "のああ": k0's phrase, and no other rule's */
    for (int i = 0; i < 99; i++)
        strcat(post_text, "のん");
    strcat(post_text, "のああ");
    rs = rules_for_post("kana.rules", text, &p, post_text);
    match_ctx_init(&mc);
    *matched = matcher_match(&mc, rs->m, &p);
    probes = mc.probes;
    *confirms = mc.confirms;
    match_ctx_free(&mc);
    rules_free(rs);
    free(text);
    return probes;
}

static void cost_follows_the_post(void **state)
{
    uint64_t c1, c10k, p1, p10k;
    int m1, m10k;
    (void)state;

    p1 = kana_cost(1, &c1, &m1);
    p10k = kana_cost(10000, &c10k, &m10k);
    assert_int_equal(m1, 1);
    assert_int_equal(m10k, 1);
    print_message("kana post: 1 rule %llu lookups %llu confirmations; 10,000 rules %llu and %llu\n",
                  (unsigned long long)p1, (unsigned long long)c1, (unsigned long long)p10k, (unsigned long long)c10k);
    /* the same order of work: at most a few lookups and confirmations per
     * token, whatever the rule count (a handful of phrases per first token
     * are confirmed in place, more are walked in the trie) */
    assert_true(p1 + c1 <= 4 * 203);
    assert_true(p10k + c10k <= 4 * 203);
    assert_true(p10k + c10k <= 2 * (p1 + c1));
}

/* Rules that share a context word ("creditcard", longer than the words
 * that set each rule apart) and a post with the shared word only: the
 * rules it makes candidates, and whether a post with one rule's own word
 * too matches that rule. */
static int shared_word_candidates(int nrules, int *matched)
{
    char *text = xmalloc(4 << 20);
    size_t o = 0;
    struct ruleset *rs;
    struct match_ctx mc;
    struct post p;
    int ncand;

    for (int i = 0; i < nrules; i++)
        o += (size_t)sprintf(text + o, "[rule \"c%d\"]\nquery = creditcard q%c%c%c\n", i, 'a' + i / 676 % 26,
                             'a' + i / 26 % 26, 'a' + i % 26);
    rs = rules_for_post("shared.rules", text, &p, "my creditcard was charged twice");
    match_ctx_init(&mc);
    assert_int_equal(matcher_match(&mc, rs->m, &p), 0);
    ncand = mc.ncand;
    p.text = "my creditcard was charged twice, qaab";
    *matched = matcher_match(&mc, rs->m, &p);
    match_ctx_free(&mc);
    rules_free(rs);
    free(text);
    return ncand;
}

static void shared_words_do_not_trigger(void **state)
{
    int m1, m10k, c1, c10k;
    (void)state;

    c1 = shared_word_candidates(2, &m1);
    c10k = shared_word_candidates(10000, &m10k);
    print_message("post with the shared word only: 2 rules %d candidates, 10,000 rules %d\n", c1, c10k);
    assert_int_equal(m1, 1);            /* c1, "creditcard qaab", matches either way */
    assert_int_equal(m10k, 1);
    /* triggered through the word each rule has alone, not the one all share */
    assert_true(c10k <= 2);
}

/* Every limit a rule author can reach, at the limit and one past it. */
static void limits(void **state)
{
    char *q = xmalloc(QUERY_MAX_LEN + 2), *text = xmalloc(4 << 20);
    struct query *out;
    char err[256];
    struct errlist errs = {0};
    struct ruleset *rs;
    size_t o;
    int col;
    (void)state;

    /* query length: 4,096 bytes */
    memset(q, 'a', QUERY_MAX_LEN);
    q[QUERY_MAX_LEN] = '\0';
    assert_int_equal(query_parse(q, NULL, &out, err, sizeof err, &col), 0);
    query_free(out);
    q[QUERY_MAX_LEN] = 'a';
    q[QUERY_MAX_LEN + 1] = '\0';
    parse_error(q, "query longer than 4096 bytes", 0);
    /* written terms per rule: 256 */
    o = 0;
    for (int i = 0; i < QUERY_MAX_TERMS; i++)
        o += (size_t)sprintf(q + o, "%st%d", i ? " OR " : "", i);
    assert_true(o < QUERY_MAX_LEN);
    assert_int_equal(query_parse(q, NULL, &out, err, sizeof err, &col), 0);
    assert_int_equal(out->nterms, QUERY_MAX_TERMS);
    query_free(out);
    sprintf(q + o, " OR x");
    parse_error(q, "too many terms in one rule (max 256)", (int)o + 5);
    /* parentheses: 32 deep */
    o = 0;
    for (int i = 0; i < QUERY_MAX_DEPTH + 1; i++)
        q[o++] = '(';
    q[o++] = 'a';
    for (int i = 0; i < QUERY_MAX_DEPTH + 1; i++)
        q[o++] = ')';
    q[o] = '\0';
    parse_error(q, "nested too deeply", 0);
    q[o - 1] = '\0';                    /* 32 deep: accepted */
    assert_int_equal(query_parse(q + 1, NULL, &out, err, sizeof err, &col), 0);
    query_free(out);
    /* terms through one list: 100,000 entries */
    o = 0;
    for (int i = 0; i <= QUERY_MAX_LIST_TERMS; i++)
        o += (size_t)sprintf(text + o, "w%d\n", i);
    {
        char dir[600];
        snprintf(dir, sizeof dir, "%s", write_temp("huge.txt", text));
        *strrchr(dir, '/') = '\0';
        rs = rules_load(write_temp("huge.rules", "[rule \"h\"]\nquery = list:huge\n"), 0, dir, &errs);
    }
    assert_null(rs);
    if (!ERRLIST_HAS(&errs, "huge.txt: more than 100000 entries"))
        fail_msg("%s", errs.msgs[0]);
    errlist_free(&errs);
    /* rules: 1,000,000 (lowered here to 50: the check is the same) */
    rules_max_count = 50;
    o = 0;
    for (int i = 0; i < 51; i++)
        o += (size_t)sprintf(text + o, "[rule \"r%d\"]\nquery = w%d\n", i, i);
    rs = rules_load(write_temp("count.rules", text), 0, NULL, &errs);
    assert_null(rs);
    if (!ERRLIST_HAS(&errs, "count.rules:101: more than 50 rules"))
        fail_msg("%s (%d errors)", errs.msgs[0], errs.n);
    assert_int_equal(errs.n, 1);
    errlist_free(&errs);
    text[o - strlen("[rule \"r50\"]\nquery = w50\n")] = '\0';
    rs = rules_load(write_temp("count.rules", text), 0, NULL, &errs);
    assert_non_null(rs);
    assert_int_equal(rs->n, 50);
    rules_free(rs);
    rules_max_count = RULES_MAX_COUNT;
    free(q);
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(composition_errors),
        cmocka_unit_test(operators_known_and_near_misses),
        cmocka_unit_test(match_table),
        cmocka_unit_test(load_good),
        cmocka_unit_test(load_errors),
        cmocka_unit_test(many_rules),
        cmocka_unit_test(cost_follows_the_post),
        cmocka_unit_test(shared_words_do_not_trigger),
        cmocka_unit_test(limits),
    };
    return cmocka_run_group_tests_name("rules", tests, NULL, NULL);
}
