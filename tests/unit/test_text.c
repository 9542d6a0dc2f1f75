/* text: normalisation and tokenisation, the ground both rules and posts
 * stand on. */
#include "testutil.h"
#include "text.h"

#include <dirent.h>
#include <utf8proc.h>

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

/* text_fold sends only the stretches around non-ASCII characters through
 * utf8proc; the result must be what folding the whole text gives. */
static void fold_same_as_whole(const char *s, size_t n, int accents)
{
    static struct tokens t;
    static int init;
    utf8proc_uint8_t *whole = NULL;
    utf8proc_ssize_t m;
    if (!init) {
        tokens_init(&t);
        init = 1;
    }
    m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &whole,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT | UTF8PROC_CASEFOLD |
                     UTF8PROC_IGNORE | (accents ? UTF8PROC_STRIPMARK : 0));
    if (m < 0) {
        assert_int_equal(text_tokenize(&t, s, n, accents), -1);
        return;
    }
    assert_int_equal(text_tokenize(&t, s, n, accents), 0);
    if ((size_t)m != t.folded.len || memcmp(whole, t.folded.data, (size_t)m) != 0)
        fail_msg("fold differs for \"%.*s\": \"%.*s\" != \"%s\"", (int)n, s, (int)t.folded.len,
                 t.folded.data, whole);
    free(whole);
}

static void fold_by_stretches(void **state)
{
    static const char *cases[] = {
        "",  "plain ASCII Text", "caf\x65\xcc\x81 ok", "e\xcc\x81", "A\xcc\x8a\xcc\xa3 B",
        "x\xe2\x80\x8by", "Bank \xf0\x9f\x98\xa1 DOWN \xf0\x9f\x91\xa8\xe2\x80\x8d\xf0\x9f\x91\xa9 ok",
        "\xef\xbc\xae\xef\xbc\xaf x", "\xe1\x84\x80\xe1\x85\xa1 \xea\xb0\x80", "STRASSE Stra\xc3\x9f" "e",
        "ab\xc3\xa9", "\xc3\xa9" "ab", "a\xcc\x81\xcc\x81" "b\xcc\xa3" "c", "ok \xff\xfe bad", "I\xcc\x87 x",
    };
    char path[8192];
    DIR *d;
    struct dirent *e;
    int files = 0;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        for (int a = 0; a < 2; a++)
            fold_same_as_whole(cases[i], strlen(cases[i]), a);
    /* Every line of the corpus's X v2 captures, as a whole: real mixtures. */
    if (!corpus_dir()) {
        printf("fold_by_stretches: ../shared/corpus absent; corpus part SKIPPED\n");
        return;
    }
    snprintf(path, sizeof path, "%s/twitter-v2-stream/twarc-csv", corpus_dir());
    if (!(d = opendir(path)))
        return;
    while ((e = readdir(d))) {
        char file[16384], *line = NULL;
        size_t cap = 0;
        ssize_t n;
        FILE *f;
        if (!strstr(e->d_name, ".jsonl"))
            continue;
        snprintf(file, sizeof file, "%s/%s", path, e->d_name);
        if (!(f = fopen(file, "r")))
            continue;
        files++;
        while ((n = getline(&line, &cap, f)) > 0)
            fold_same_as_whole(line, (size_t)n, files & 1);
        free(line);
        fclose(f);
    }
    closedir(d);
    assert_true(files > 0);
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
        cmocka_unit_test(fold_by_stretches),
    };
    return cmocka_run_group_tests_name("text", tests, NULL, NULL);
}
