/* decoders: X v2 and generic NDJSON, on our fixtures and the real corpus. */
#include "testutil.h"
#include "decode.h"
#include "framing.h"
#include "util.h"

#include <dirent.h>

#define MAX_POSTS 64

struct got {
    int n;
    struct {
        char id[64], text[256], handle[64], ref_text[256], in_reply_to[64], lang[8];
        long long followers;
        int verified, rt, quote, reply;
    } p[MAX_POSTS];
};

static void on_post(void *ctx, struct post *p)
{
    struct got *g = ctx;
    if (g->n >= MAX_POSTS)
        return;
    str_copy(g->p[g->n].id, p->id, sizeof g->p[0].id);
    str_copy(g->p[g->n].text, p->text, sizeof g->p[0].text);
    str_copy(g->p[g->n].handle, p->author.handle ? p->author.handle : "", sizeof g->p[0].handle);
    str_copy(g->p[g->n].ref_text, p->referenced_text ? p->referenced_text : "", sizeof g->p[0].ref_text);
    str_copy(g->p[g->n].in_reply_to, p->in_reply_to ? p->in_reply_to : "", sizeof g->p[0].in_reply_to);
    str_copy(g->p[g->n].lang, p->lang ? p->lang : "", sizeof g->p[0].lang);
    g->p[g->n].followers = p->author.followers;
    g->p[g->n].verified = p->author.verified;
    g->p[g->n].rt = p->is_retweet;
    g->p[g->n].quote = p->is_quote;
    g->p[g->n].reply = p->is_reply;
    g->n++;
}

/* Read line `no` (1-based) of a fixture file. */
static char *fixture_line(const char *rel, int no)
{
    char path[1024], err[256];
    char *data = file_read_all(SRC_PATH(path, rel), 1 << 20, NULL, err, sizeof err);
    char *line = data, *nl;
    assert_non_null(data);
    for (int i = 1; i < no; i++) {
        line = strchr(line, '\n');
        assert_non_null(line);
        line++;
    }
    nl = strchr(line, '\n');
    if (nl)
        *nl = '\0';
    line = xstrdup(line);
    free(data);
    return line;
}

static enum decode_ret decode_line(struct decoder_inst *d, const char *rel, int no, struct got *g,
                                   char *err, size_t errlen)
{
    char *line = fixture_line(rel, no);
    enum decode_ret r;
    memset(g, 0, sizeof *g);
    err[0] = '\0';
    r = decoder_run(d, line, strlen(line), on_post, g, err, errlen);
    free(line);
    return r;
}

#define XF "tests/fixtures/x_v2/cases.jsonl"

static void x_fixtures(void **state)
{
    struct decoder_inst d;
    struct got g;
    char err[256];
    (void)state;

    assert_int_equal(decoder_open(&d, "x_v2", NULL), 0);
    /* includes before data: the author is still joined */
    assert_int_equal(decode_line(&d, XF, 1, &g, err, sizeof err), DECODE_OK);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.p[0].id, "1900000000000000101");
    assert_string_equal(g.p[0].handle, "karin_m");
    assert_int_equal(g.p[0].followers, 5120);
    assert_true(g.p[0].verified);
    assert_string_equal(g.p[0].lang, "sv");
    assert_string_equal(g.p[0].text, "@NordvikHelp kortet spärrat utan förvarning");
    /* numeric matching_rules ids and null tags are accepted */
    assert_int_equal(decode_line(&d, XF, 2, &g, err, sizeof err), DECODE_OK);
    assert_int_equal(g.p[0].followers, 12);
    /* in-stream errors are control messages, described for the log */
    assert_int_equal(decode_line(&d, XF, 3, &g, err, sizeof err), DECODE_CONTROL);
    assert_non_null(strstr(err, "operational-disconnect"));
    assert_int_equal(decode_line(&d, XF, 4, &g, err, sizeof err), DECODE_CONTROL);
    assert_non_null(strstr(err, "TooManyConnections"));
    /* retweet: the retweeted post's full text comes from includes.tweets */
    assert_int_equal(decode_line(&d, XF, 5, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].rt);
    assert_string_equal(g.p[0].ref_text, "@NordvikHelp kortet spärrat utan förvarning");
    /* reply */
    assert_int_equal(decode_line(&d, XF, 6, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].reply);
    assert_string_equal(g.p[0].in_reply_to, "1900000000000000101");
    assert_string_equal(g.p[0].handle, "NordvikHelp");
    /* a page (search shape) gives one post per entry, each joined */
    assert_int_equal(decode_line(&d, XF, 7, &g, err, sizeof err), DECODE_OK);
    assert_int_equal(g.n, 2);
    assert_string_equal(g.p[0].handle, "karin_m");
    assert_string_equal(g.p[1].handle, "u8");
    /* bad records are malformed, with a reason; decoding goes on after them */
    assert_int_equal(decode_line(&d, XF, 8, &g, err, sizeof err), DECODE_MALFORMED);
    assert_non_null(strstr(err, "text"));
    assert_int_equal(decode_line(&d, XF, 9, &g, err, sizeof err), DECODE_MALFORMED);
    assert_non_null(strstr(err, "not a JSON object"));
    assert_int_equal(decode_line(&d, XF, 10, &g, err, sizeof err), DECODE_MALFORMED);
    assert_non_null(strstr(err, "offset"));
    assert_int_equal(decode_line(&d, XF, 11, &g, err, sizeof err), DECODE_OK);
    assert_string_equal(g.p[0].text, "after the damage, decoding goes on");
    assert_int_equal(decode_line(&d, XF, 12, &g, err, sizeof err), DECODE_OK);
    /* a page of users is valid JSON but holds no posts */
    assert_int_equal(decode_line(&d, XF, 13, &g, err, sizeof err), DECODE_SKIP);
    assert_int_equal(g.n, 0);
    decoder_close(&d);
}

static char *nested(int depth)
{
    char *s = xmalloc((size_t)depth * 8 + 64);
    size_t o = 0;
    o += (size_t)sprintf(s + o, "{\"data\":{\"id\":\"1\",\"text\":\"t\",\"x\":");
    for (int i = 0; i < depth - 2; i++)
        s[o++] = '[';
    for (int i = 0; i < depth - 2; i++)
        s[o++] = ']';
    o += (size_t)sprintf(s + o, "}}");
    s[o] = '\0';
    return s;
}

/* Nesting deeper than 64 is rejected; 64 is fine. */
static void nesting_limit(void **state)
{
    struct decoder_inst d;
    struct got g = {0};
    char err[256];
    char *ok = nested(64), *deep = nested(65);
    (void)state;
    assert_int_equal(decoder_open(&d, "x_v2", NULL), 0);
    assert_int_equal(decoder_run(&d, ok, strlen(ok), on_post, &g, err, sizeof err), DECODE_OK);
    assert_int_equal(decoder_run(&d, deep, strlen(deep), on_post, &g, err, sizeof err), DECODE_MALFORMED);
    assert_non_null(strstr(err, "nesting too deep"));
    assert_int_equal(decoder_run(&d, ok, strlen(ok), on_post, &g, err, sizeof err), DECODE_OK);
    free(ok);
    free(deep);
    decoder_close(&d);
}

/* A generic source's settings: defaults, then the given pointers. */
static void generic_conf(struct source_conf *sc)
{
    memset(sc, 0, sizeof *sc);
    sc->max_record = 1 << 20;
    sc->max_depth = 64;
    for (int i = 0; i < PF_COUNT; i++)
        sc->field[i] = (char *)post_field_defaults[i];
}

static void ndjson_mapping(void **state)
{
    struct source_conf sc;
    struct decoder_inst d;
    struct got g;
    char err[256];
    (void)state;

    generic_conf(&sc);
    sc.field[PF_id] = "/msg/uid";
    sc.field[PF_text] = "/msg/body";
    sc.field[PF_lang] = "/msg/lang";
    sc.field[PF_author_handle] = "/who/login";
    sc.field[PF_author_followers] = "/who/fans";
    sc.field[PF_author_verified] = "/who/blue";
    assert_int_equal(decoder_open(&d, "ndjson", &sc), 0);
    assert_int_equal(decode_line(&d, "tests/fixtures/ndjson/feed.jsonl", 1, &g, err, sizeof err), DECODE_OK);
    assert_string_equal(g.p[0].id, "a-1");
    assert_string_equal(g.p[0].text, "Nordvik app down again?");
    assert_string_equal(g.p[0].handle, "pat");
    assert_int_equal(g.p[0].followers, 1200);
    assert_true(g.p[0].verified);
    assert_int_equal(decode_line(&d, "tests/fixtures/ndjson/feed.jsonl", 2, &g, err, sizeof err),
                     DECODE_MALFORMED);
    assert_non_null(strstr(err, "/msg/body"));
    assert_int_equal(decode_line(&d, "tests/fixtures/ndjson/feed.jsonl", 3, &g, err, sizeof err), DECODE_OK);
    assert_string_equal(g.p[0].id, "3");
    decoder_close(&d);

    /* Escaped pointer segments (RFC 6901): "/a~1b/c~0d" */
    sc.field[PF_text] = "/a~1b/c~0d";
    sc.field[PF_id] = "/msg/uid";
    assert_int_equal(decoder_open(&d, "ndjson", &sc), 0);
    assert_int_equal(decode_line(&d, "tests/fixtures/ndjson/feed.jsonl", 1, &g, err, sizeof err), DECODE_OK);
    assert_string_equal(g.p[0].text, "slash and tilde keys");
    decoder_close(&d);
}

struct tally {
    struct decoder_inst *d;
    int ok, control, skip, malformed, posts, no_author;
};

static void tally_post(void *ctx, struct post *p)
{
    struct tally *t = ctx;
    assert_non_null(p->id);
    assert_non_null(p->text);
    t->posts++;
    if (p->author.id && !p->author.handle)
        t->no_author++;
}

static int tally_rec(void *ctx, const char *rec, size_t len, uint64_t off)
{
    struct tally *t = ctx;
    char err[256];
    (void)off;
    switch (decoder_run(t->d, rec, len, tally_post, t, err, sizeof err)) {
    case DECODE_OK: t->ok++; break;
    case DECODE_CONTROL: t->control++; break;
    case DECODE_SKIP: t->skip++; break;
    case DECODE_MALFORMED: t->malformed++; break;
    }
    return 0;
}

static struct tally decode_file(const char *format, const struct source_conf *sc, const char *path)
{
    struct decoder_inst d;
    struct framer f;
    struct tally t = {.d = &d};
    char err[256];
    size_t len;
    char *data = file_read_all(path, 64 << 20, &len, err, sizeof err);

    assert_non_null(data);
    assert_int_equal(decoder_open(&d, format, sc), 0);
    framer_init(&f, 4 << 20);
    framer_feed(&f, data, len, tally_rec, &t);
    framer_finish(&f, 1, tally_rec, &t);
    framer_free(&f);
    decoder_close(&d);
    free(data);
    return t;
}

/* Every real v2 capture in the corpus decodes without a crash, and the
 * stream captures give exactly the posts and control messages they hold. */
static void corpus_x_v2(void **state)
{
    char dir[8192], path[16384];
    struct tally all = {0}, t;
    DIR *dp;
    struct dirent *de;
    (void)state;

    SKIP_WITHOUT_CORPUS();
    snprintf(dir, sizeof dir, "%s/twitter-v2-stream/twarc-csv", corpus_dir());
    dp = opendir(dir);
    assert_non_null(dp);
    while ((de = readdir(dp))) {
        if (!strstr(de->d_name, ".jsonl"))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        t = decode_file("x_v2", NULL, path);
        if (strcmp(de->d_name, "streaming_output.jsonl") == 0) {
            assert_int_equal(t.posts, 8);
            assert_int_equal(t.control, 1);
            assert_int_equal(t.malformed, 0);
        } else if (strcmp(de->d_name, "streaming_output_with_error.jsonl") == 0) {
            assert_int_equal(t.posts, 7);
            assert_int_equal(t.malformed, 1);     /* the real unparseable line */
        } else if (strcmp(de->d_name, "withheld.jsonl") == 0) {
            assert_int_equal(t.posts, 215);
        }
        all.posts += t.posts;
        all.malformed += t.malformed;
        all.control += t.control;
        all.skip += t.skip;
        all.no_author += t.no_author;
    }
    closedir(dp);
    print_message("corpus x_v2: %d posts, %d control, %d skipped, %d malformed, %d without joined author\n",
                  all.posts, all.control, all.skip, all.malformed, all.no_author);
    assert_int_equal(all.posts, 1417);
    assert_int_equal(all.malformed, 1);
    assert_int_equal(all.control, 1);
    /* Nearly every post's author is in its record's includes. */
    assert_true(all.no_author * 20 < all.posts);
}

/* The generic decoder maps real Mastodon statuses by JSON pointer; the
 * real fragment line in malformed.jsonl is rejected, not fatal. */
static void corpus_ndjson_mastodon(void **state)
{
    struct source_conf sc;
    char path[8192];
    struct tally t;
    (void)state;

    SKIP_WITHOUT_CORPUS();
    generic_conf(&sc);
    sc.field[PF_text] = "/content";
    sc.field[PF_author_handle] = "/account/acct";
    sc.field[PF_author_followers] = "/account/followers_count";
    sc.field[PF_lang] = "/language";
    snprintf(path, sizeof path, "%s/mastodon/rtoot/stream/mastodonsocial.jsonl", corpus_dir());
    t = decode_file("ndjson", &sc, path);
    assert_true(t.posts >= 40);
    assert_int_equal(t.malformed, 0);
    snprintf(path, sizeof path, "%s/mastodon/rtoot/stream/malformed.jsonl", corpus_dir());
    t = decode_file("ndjson", &sc, path);
    assert_true(t.malformed >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(x_fixtures),
        cmocka_unit_test(nesting_limit),
        cmocka_unit_test(ndjson_mapping),
        cmocka_unit_test(corpus_x_v2),
        cmocka_unit_test(corpus_ndjson_mastodon),
    };
    return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
