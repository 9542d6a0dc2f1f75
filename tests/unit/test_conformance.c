/* The rule-language conformance table: tests/conformance/cases.jsonl.
 *
 * Each case is a query and either a post (text plus any field the operators
 * look at) with the expected verdict, or the expected error (and column).
 * Every case goes through a real rule file, and list: through real files in
 * a lexicons directory, exactly as the daemon loads them.  Cases that use a
 * real post from ../shared/corpus are skipped, and counted as such, when the
 * corpus is absent. */
#include "testutil.h"
#include "decode.h"
#include "framing.h"
#include "json.h"
#include "matcher.h"
#include "rules.h"
#include "util.h"
#include "xquery.h"

#define MAXS 8
#define SLEN 1024

struct kase {
    int n;
    char q[SLEN], text[SLEN], error[SLEN], corpus[SLEN], format[32], post_id[64];
    int match, col, fold;
    char handle[128], to[128], rt_author[128], bio[SLEN], lang[16], conv[64], ref_text[SLEN];
    long long followers;
    int verified, is_retweet, is_reply, is_quote, media;
    char urls[MAXS][256];
    int nurls;
    char list_name[MAXS][64];
    char list_entry[MAXS][MAXS][128];
    int list_n[MAXS], nlists;
    char map_field[PF_COUNT][32], map_ptr[PF_COUNT][128];
    int nmap;
};

static void cp(char *dst, size_t dl, const struct json_event *ev)
{
    size_t n = ev->val_len < dl - 1 ? ev->val_len : dl - 1;
    memcpy(dst, ev->val, n);
    dst[n] = '\0';
}

#define STR(field) cp(k->field, sizeof k->field, ev)

static int on_field(void *ctx, const struct json_event *ev)
{
    struct kase *k = ctx;
    const char *p = ev->ptr;
    int idx;

    if (ev->type == JSON_MAP_START || ev->type == JSON_ARRAY_START || ev->type == JSON_MAP_END ||
        ev->type == JSON_ARRAY_END) {
        if (ev->type == JSON_ARRAY_START && strncmp(p, "/lists/", 7) == 0 && k->nlists < MAXS)
            snprintf(k->list_name[k->nlists++], 64, "%s", p + 7);
        return 0;
    }
    if (!strcmp(p, "/n")) k->n = atoi(ev->val);
    else if (!strcmp(p, "/q")) STR(q);
    else if (!strcmp(p, "/text")) STR(text);
    else if (!strcmp(p, "/error")) STR(error);
    else if (!strcmp(p, "/corpus")) STR(corpus);
    else if (!strcmp(p, "/format")) STR(format);
    else if (!strcmp(p, "/post_id")) STR(post_id);
    else if (!strcmp(p, "/match")) k->match = ev->boolean;
    else if (!strcmp(p, "/fold")) k->fold = ev->boolean;
    else if (!strcmp(p, "/col")) k->col = atoi(ev->val);
    else if (!strcmp(p, "/post/handle")) STR(handle);
    else if (!strcmp(p, "/post/to")) STR(to);
    else if (!strcmp(p, "/post/rt_author")) STR(rt_author);
    else if (!strcmp(p, "/post/bio")) STR(bio);
    else if (!strcmp(p, "/post/lang")) STR(lang);
    else if (!strcmp(p, "/post/conversation_id")) STR(conv);
    else if (!strcmp(p, "/post/ref_text")) STR(ref_text);
    else if (!strcmp(p, "/post/followers")) k->followers = atoll(ev->val);
    else if (!strcmp(p, "/post/verified")) k->verified = ev->boolean;
    else if (!strcmp(p, "/post/is_retweet")) k->is_retweet = ev->boolean;
    else if (!strcmp(p, "/post/is_reply")) k->is_reply = ev->boolean;
    else if (!strcmp(p, "/post/is_quote")) k->is_quote = ev->boolean;
    else if (!strcmp(p, "/post/media")) k->media = ev->boolean;
    else if (!strncmp(p, "/post/urls/", 11) && k->nurls < MAXS) cp(k->urls[k->nurls++], 256, ev);
    else if (!strncmp(p, "/lists/", 7) && k->nlists && (idx = k->list_n[k->nlists - 1]) < MAXS) {
        cp(k->list_entry[k->nlists - 1][idx], 128, ev);
        k->list_n[k->nlists - 1]++;
    } else if (!strncmp(p, "/map/", 5) && k->nmap < PF_COUNT) {
        snprintf(k->map_field[k->nmap], 32, "%s", p + 5);
        cp(k->map_ptr[k->nmap++], 128, ev);
    }
    return 0;
}

/* A directory with the case's rule file and its lexicons/ lists. */
static const char *case_rules(const struct kase *k, char *lexdir, size_t lexlen)
{
    static char dir[256], rules[512];
    char path[1024], text[SLEN + 64];
    FILE *f;

    snprintf(dir, sizeof dir, "/tmp/mentiond-conf-XXXXXX");
    if (!mkdtemp(dir))
        abort();
    snprintf(lexdir, lexlen, "%s/lexicons", dir);
    mkdir(lexdir, 0700);
    for (int i = 0; i < k->nlists; i++) {
        snprintf(path, sizeof path, "%s/%s.txt", lexdir, k->list_name[i]);
        f = fopen(path, "w");
        fputs("; written by the conformance runner\n", f);
        for (int j = 0; j < k->list_n[i]; j++)
            fprintf(f, "%s\n", k->list_entry[i][j]);
        fclose(f);
    }
    snprintf(rules, sizeof rules, "%s/case.rules", dir);
    snprintf(text, sizeof text, "[rule \"case\"]\nquery = %s\naccents = %s\n", k->q, k->fold ? "fold" : "keep");
    f = fopen(rules, "w");
    fputs(text, f);
    fclose(f);
    return rules;
}

struct find {
    const char *id;
    struct ruleset *rs;
    struct match_ctx *mc;
    int found, result;
    struct decoder_inst *d;
};

static void find_post(void *ctx, struct post *p)
{
    struct find *fd = ctx;
    if (!fd->found && strcmp(p->id, fd->id) == 0) {
        fd->found = 1;
        fd->result = matcher_match(fd->mc, fd->rs->m, p);
    }
}

static int find_rec(void *ctx, const char *rec, size_t len, uint64_t off)
{
    struct find *fd = ctx;
    char err[256];
    (void)off;
    decoder_run(fd->d, rec, len, find_post, fd, err, sizeof err);
    return 0;
}

/* Match the case's corpus post: -1 not found, else the match count. */
static int corpus_match(const struct kase *k, struct ruleset *rs, struct match_ctx *mc)
{
    struct source_conf sc;
    struct decoder_inst d;
    struct framer fr;
    struct find fd = {.id = k->post_id, .rs = rs, .mc = mc, .d = &d};
    char path[8192], err[256];
    size_t len;
    char *data;

    memset(&sc, 0, sizeof sc);
    sc.max_record = 4 << 20;
    sc.max_depth = 64;
    for (int i = 0; i < PF_COUNT; i++)
        sc.field[i] = (char *)post_field_defaults[i];
    for (int i = 0; i < k->nmap; i++)
        for (int f = 0; f < PF_COUNT; f++)
            if (!strcmp(k->map_field[i], post_field_names[f]))
                sc.field[f] = (char *)k->map_ptr[i];
    snprintf(path, sizeof path, "%s/%s", corpus_dir(), k->corpus);
    data = file_read_all(path, 64 << 20, &len, err, sizeof err);
    if (!data || decoder_open(&d, k->format, &sc) != 0) {
        free(data);
        return -1;
    }
    framer_init(&fr, 4 << 20);
    framer_feed(&fr, data, len, find_rec, &fd);
    framer_finish(&fr, 1, find_rec, &fd);
    framer_free(&fr);
    decoder_close(&d);
    free(data);
    return fd.found ? fd.result : -1;
}

static void case_cleanup(const struct kase *k, const char *rules, const char *lexdir)
{
    char path[1024], dir[512];

    for (int i = 0; i < k->nlists; i++) {
        snprintf(path, sizeof path, "%s/%s.txt", lexdir, k->list_name[i]);
        unlink(path);
    }
    rmdir(lexdir);
    unlink(rules);
    snprintf(dir, sizeof dir, "%s", rules);
    *strrchr(dir, '/') = '\0';
    rmdir(dir);
}

static int widened_total, widened_refused;

/* X's rule for the case's query is wider: it matches this post too (read
 * by our own parser, which takes X's syntax, with the same accent
 * setting).  1 if it does, or if X cannot take the rule (counted). */
static int widened_matches(const struct kase *k, const struct ruleset *rs, const struct post *p,
                           const char *lexdir)
{
    struct errlist errs = {0};
    struct kase wk = *k;
    struct buf x;
    char why[256], wlex[512];
    struct ruleset *wrs;
    struct match_ctx mc;
    const char *rules;
    int got = -1;

    buf_init(&x, 1 << 20);
    widened_total++;
    if (xquery_widest(rs->rules[0].q, &x, why, sizeof why) != 0) {
        widened_refused++;
        buf_free(&x);
        return 1;
    }
    snprintf(wk.q, sizeof wk.q, "%s", x.data);
    wk.nlists = 0;
    rules = case_rules(&wk, wlex, sizeof wlex);
    (void)lexdir;
    if ((wrs = rules_load(rules, 0, wlex, &errs))) {
        match_ctx_init(&mc);
        got = matcher_match(&mc, wrs->m, p);
        match_ctx_free(&mc);
    }
    if (got <= 0)
        print_error("case %d: [%s] widened for X to [%s]: %s\n", k->n, k->q, x.data,
                    wrs ? "does not match the post" : errs.n ? errs.msgs[0] : "?");
    case_cleanup(&wk, rules, wlex);
    rules_free(wrs);
    errlist_free(&errs);
    buf_free(&x);
    return got > 0;
}

static int run_case(const struct kase *k, int *skipped)
{
    struct errlist errs = {0};
    char lexdir[512], want[64];
    const char *rules = case_rules(k, lexdir, sizeof lexdir);
    struct ruleset *rs = rules_load(rules, 0, lexdir, &errs);
    const char *urls[MAXS];
    struct match_ctx mc;
    struct post p;
    int got, ok = 0;

    if (k->error[0]) {
        ok = !rs && errs.n == 1 && strstr(errs.msgs[0], k->error);
        /* the query starts at column 9 of "query = ..." */
        snprintf(want, sizeof want, ":2:%d:", 8 + k->col);
        if (ok && k->col)
            ok = strstr(errs.msgs[0], want) != NULL;
        if (!ok)
            print_error("case %d: [%s] wanted error '%s' (col %d), got: %s\n", k->n, k->q, k->error,
                        k->col, rs ? "(accepted)" : errs.n ? errs.msgs[0] : "?");
        goto out;
    }
    if (!rs) {
        print_error("case %d: [%s] did not load: %s\n", k->n, k->q, errs.n ? errs.msgs[0] : "?");
        goto out;
    }
    match_ctx_init(&mc);
    if (k->corpus[0]) {
        if (!corpus_dir()) {
            (*skipped)++;
            ok = 1;
            match_ctx_free(&mc);
            goto out;
        }
        got = corpus_match(k, rs, &mc);
        if (got < 0)
            print_error("case %d: post %s not found in %s\n", k->n, k->post_id, k->corpus);
    } else {
        post_clear(&p);
        p.id = "1900000000000000001";
        p.text = k->text;
        p.author.handle = k->handle[0] ? k->handle : NULL;
        p.author.bio = k->bio[0] ? k->bio : NULL;
        p.author.followers = k->followers ? k->followers : -1;
        p.author.verified = k->verified;
        p.to_handle = k->to[0] ? k->to : NULL;
        p.referenced_author = k->rt_author[0] ? k->rt_author : NULL;
        p.referenced_text = k->ref_text[0] ? k->ref_text : NULL;
        p.lang = k->lang[0] ? k->lang : NULL;
        p.conversation_id = k->conv[0] ? k->conv : NULL;
        p.is_retweet = k->is_retweet;
        p.is_reply = k->is_reply;
        p.is_quote = k->is_quote;
        p.has_media = k->media;
        for (int i = 0; i < k->nurls; i++)
            urls[i] = k->urls[i];
        p.urls = urls;
        p.nurls = k->nurls;
        got = matcher_match(&mc, rs->m, &p);
        if (got > 0 && !widened_matches(k, rs, &p, lexdir))
            got = -1;
    }
    ok = got >= 0 && (got > 0) == k->match;
    if (!ok && got >= 0)
        print_error("case %d: [%s] on [%s]: %s, expected %s\n", k->n, k->q,
                    k->corpus[0] ? k->post_id : k->text, got ? "match" : "no match",
                    k->match ? "match" : "no match");
    match_ctx_free(&mc);
out:
    case_cleanup(k, rules, lexdir);
    errlist_free(&errs);
    rules_free(rs);
    return ok;
}

static void conformance_table(void **state)
{
    char path[1024], err[256], *data, *line, *next;
    struct json_reader *r;
    int total = 0, passed = 0, failed = 0, skipped = 0;
    (void)state;

    data = file_read_all(SRC_PATH(path, "tests/conformance/cases.jsonl"), 4 << 20, NULL, err, sizeof err);
    assert_non_null(data);
    for (line = data; line && *line; line = next) {
        struct kase *k = xcalloc(1, sizeof *k);
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        r = json_reader_new(16, on_field, k);
        if (json_reader_parse(r, line, strlen(line), err, sizeof err) != 0)
            fail_msg("cases.jsonl line %d: %s", total + 1, err);
        json_reader_free(r);
        total++;
        if (run_case(k, &skipped))
            passed++;
        else
            failed++;
        free(k);
    }
    free(data);
    if (skipped)
        print_message("SKIPPED: %d corpus cases: ../shared/corpus is absent\n", skipped);
    print_message("conformance: %d cases: %d passed, %d failed (%d of the passed skipped)\n", total, passed,
                  failed, skipped);
    print_message("widened for X: %d matching rules, %d of them refused (X cannot take them)\n",
                  widened_total, widened_refused);
    assert_true(total >= 150);
    assert_int_equal(failed, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(conformance_table),
    };
    return cmocka_run_group_tests_name("conformance", tests, NULL, NULL);
}
