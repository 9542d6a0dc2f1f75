/* text: normalisation and tokenisation, the ground both rules and posts
 * stand on. */
#include "testutil.h"
#include "text.h"

/* Tokens joined by '|', entities after a '#'. */
static char *toks(const char *s, int fold)
{
    static char out[2048];
    static struct tokens t;
    static int init;
    size_t o = 0;
    if (!init) {
        tokens_init(&t);
        init = 1;
    }
    assert_int_equal(text_tokenize(&t, s, strlen(s), fold), 0);
    out[0] = '\0';
    for (int i = 0; i < t.nw; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, "%s%.*s", i ? "|" : "", (int)t.w[i].len,
                              tok_ptr(&t, &t.w[i]));
    o += (size_t)snprintf(out + o, sizeof out - o, " #");
    for (int i = 0; i < t.ne; i++)
        o += (size_t)snprintf(out + o, sizeof out - o, " %.*s", (int)t.e[i].len, tok_ptr(&t, &t.e[i]));
    return out;
}

static void ascii_and_punctuation(void **state)
{
    (void)state;
    assert_string_equal(toks("I like Coca-Cola!", 0), "i|like|coca|cola #");
    assert_string_equal(toks("e-mail me: jane@example.com", 0), "e|mail|me|jane|example|com #");
    assert_string_equal(toks("can't log in", 0), "can|t|log|in #");
    assert_string_equal(toks("can’t log in", 0), "can|t|log|in #");       /* curly apostrophe */
    assert_string_equal(toks("   ", 0), " #");
}

static void entities(void **state)
{
    (void)state;
    assert_string_equal(toks("@BofA_help #Fraud $BAC", 0),
                        "bofa|help|fraud|bac # @bofa_help #fraud $bac");
    /* not entities: inside a word, a price, a bare sigil */
    assert_string_equal(toks("mail@x.se costs $5 # @", 0), "mail|x|se|costs|5 #");
    assert_string_equal(toks("https://x.com/NordvikHelp/status/1", 0), "https|x|com|nordvikhelp|status|1 #");
}

static void unicode_folding(void **state)
{
    (void)state;
    /* Swedish: case-folded, accents kept by default */
    assert_string_equal(toks("SPÄRRAT Kort", 0), "spärrat|kort #");
    assert_string_equal(toks("SPÄRRAT Kort", 1), "sparrat|kort #");
    /* German sharp s folds to ss */
    assert_string_equal(toks("STRASSE Straße", 0), "strasse|strasse #");
    /* Turkish dotted capital I keeps its dot as a combining mark */
    assert_string_equal(toks("İstanbul", 0), "i\xcc\x87stanbul #");
    /* full-width letters are NFKC-folded to ASCII */
    assert_string_equal(toks("ＮＯＲＤＶＩＫ", 0), "nordvik #");
    /* emoji are tokens of their own, CJK ideographs one per token */
    assert_string_equal(toks("bank😡down", 0), "bank|😡|down #");
    assert_string_equal(toks("銀行が遅い", 0), "銀|行|が|遅|い #");
}

static void invalid_utf8(void **state)
{
    struct tokens t;
    (void)state;
    tokens_init(&t);
    assert_int_equal(text_tokenize(&t, "ok \xff\xfe bad", 9, 0), -1);
    tokens_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ascii_and_punctuation),
        cmocka_unit_test(entities),
        cmocka_unit_test(unicode_folding),
        cmocka_unit_test(invalid_utf8),
    };
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
