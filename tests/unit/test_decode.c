/* decoders: X v2 and generic NDJSON, on our fixtures and the real corpus. */
#include "testutil.h"
#include "decode.h"
#include "framing.h"
#include "html.h"
#include "json.h"
#include "util.h"

#include <dirent.h>

#define MAX_POSTS 64

struct got {
    int n;
    struct {
        char id[128], text[256], handle[64], ref_text[256], in_reply_to[128], lang[8];
        char ref_id[128], ref_author[64], to[64], url[256], bio[128];
        long long followers;
        int verified, rt, quote, reply, deleted, edit, nurls, media;
        unsigned controls;
    } p[MAX_POSTS];
};

static void on_post(void *ctx, struct post *p)
{
    struct got *g = ctx;
    if (g->n >= MAX_POSTS)
        return;
    str_copy(g->p[g->n].id, p->id, sizeof g->p[0].id);
    str_copy(g->p[g->n].text, p->text ? p->text : "", sizeof g->p[0].text);
    str_copy(g->p[g->n].ref_id, p->referenced_id ? p->referenced_id : "", sizeof g->p[0].ref_id);
    str_copy(g->p[g->n].ref_author, p->referenced_author ? p->referenced_author : "", sizeof g->p[0].ref_author);
    str_copy(g->p[g->n].to, p->to_handle ? p->to_handle : "", sizeof g->p[0].to);
    str_copy(g->p[g->n].url, p->nurls > 0 && p->urls[0] ? p->urls[0] : "", sizeof g->p[0].url);
    str_copy(g->p[g->n].bio, p->author.bio ? p->author.bio : "", sizeof g->p[0].bio);
    g->p[g->n].deleted = p->deleted;
    g->p[g->n].controls = p->controls;
    g->p[g->n].edit = p->is_edit;
    g->p[g->n].nurls = p->nurls;
    g->p[g->n].media = p->has_media;
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

/* The field allow-list: a container the callback skips reports nothing
 * inside it nor its end, array indexes after it are still right, its depth
 * still counts, and a record that is one skipped value is complete. */
struct skip_log {
    char s[1024];
    const char *skip[4];
};

static int skip_event(void *ctx, const struct json_event *ev)
{
    struct skip_log *l = ctx;
    size_t o = strlen(l->s);
    snprintf(l->s + o, sizeof l->s - o, "%d%s ", (int)ev->type, ev->ptr);
    for (int i = 0; i < 4 && l->skip[i]; i++)
        if (strcmp(ev->ptr, l->skip[i]) == 0 && (ev->type == JSON_MAP_START || ev->type == JSON_ARRAY_START))
            return JSON_SKIP;
    return 0;
}

static int keep_string(void *ctx, const struct json_event *ev)
{
    if (ev->type == JSON_STRING)
        snprintf(ctx, 256, "%.*s", (int)ev->val_len, ev->val);
    return 0;
}

/* The reader's control scan looks at eight bytes at a time: a control at
 * every position of strings of every length up to 40, among ASCII and
 * two-byte UTF-8 neighbours (bytes with the high bit set), is found, and
 * only a control: a tab, a newline and U+007F stay as they are. */
static void json_controls_at_every_position(void **state)
{
    char got[256], doc[512], want[256];
    struct json_reader *r = json_reader_new(4, keep_string, got);
    (void)state;

    assert_non_null(r);
    for (int utf8 = 0; utf8 < 2; utf8++)
        for (int len = 1; len <= 40; len++)
            for (int pos = 0; pos < len; pos++) {
                size_t d = 0, w = 0;
                char err[256];
                d += (size_t)snprintf(doc + d, sizeof doc - d, "{\"t\":\"");
                for (int i = 0; i < len; i++) {
                    const char *c = i == pos ? "\\u0001" : utf8 ? "\xc3\xa9" : (i % 3 ? "a" : "\\t");
                    const char *o = i == pos ? "\xef\xbf\xbd" : utf8 ? "\xc3\xa9" : (i % 3 ? "a" : "\t");
                    d += (size_t)snprintf(doc + d, sizeof doc - d, "%s", c);
                    w += (size_t)snprintf(want + w, sizeof want - w, "%s", o);
                }
                snprintf(doc + d, sizeof doc - d, "\"}");
                assert_int_equal(json_reader_parse(r, doc, strlen(doc), err, sizeof err), 0);
                if (strcmp(got, want) != 0)
                    fail_msg("utf8 %d, length %d, control at %d: got '%s'", utf8, len, pos, got);
                assert_int_equal(json_reader_take_controls(r), 1);
            }
    /* nothing to replace: the same bytes, nothing counted */
    {
        const char *plain = "{\"t\":\"tab\\there\\nand \\u007f\"}";
        char err[256];
        assert_int_equal(json_reader_parse(r, plain, strlen(plain), err, sizeof err), 0);
    }
    assert_string_equal(got, "tab\there\nand \x7f");
    assert_int_equal(json_reader_take_controls(r), 0);
    json_reader_free(r);
}

static void json_skip(void **state)
{
    struct skip_log l = {.skip = {"/b", "/e/1"}};
    struct json_reader *r = json_reader_new(4, skip_event, &l);
    const char *doc = "{\"a\":1,\"b\":{\"c\":[1,{\"d\":2}]},\"e\":[10,[20,[21]],{\"f\":30}],\"g\":true}";
    const char *deep = "{\"b\":[[[[1]]]]}", *fits = "{\"b\":[[[1]]]}";
    char err[256];
    (void)state;
    assert_non_null(r);
    assert_int_equal(json_reader_parse(r, doc, strlen(doc), err, sizeof err), 0);
    assert_string_equal(l.s, "4 2/a 4/b 6/e 2/e/0 6/e/1 4/e/2 2/e/2/f 5/e/2 7/e 1/g 5 ");
    l.s[0] = '\0';
    assert_int_equal(json_reader_parse(r, fits, strlen(fits), err, sizeof err), 0);
    assert_int_equal(json_reader_parse(r, deep, strlen(deep), err, sizeof err), -1);
    assert_non_null(strstr(err, "nesting too deep"));
    l.skip[0] = "";
    l.skip[1] = NULL;
    assert_int_equal(json_reader_parse(r, doc, strlen(doc), err, sizeof err), 0);
    assert_int_equal(json_reader_parse(r, "{} {}", 5, err, sizeof err), -1);
    assert_non_null(strstr(err, "more than one JSON value"));
    json_reader_free(r);
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
    int ok, control, skip, malformed, posts, no_author, deleted, rt, quote, edit, longer;
};

static void tally_post(void *ctx, struct post *p)
{
    struct tally *t = ctx;
    assert_non_null(p->id);
    if (p->deleted) {
        t->deleted++;
        return;
    }
    assert_non_null(p->text);
    t->posts++;
    t->rt += p->is_retweet;
    t->quote += p->is_quote;
    t->edit += p->is_edit;
    t->longer += strlen(p->text) > 140 && !p->is_retweet;
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

static struct tally decode_file_framed(const char *format, const struct source_conf *sc, const char *path,
                                       enum framing_mode mode);

static struct tally decode_file(const char *format, const struct source_conf *sc, const char *path)
{
    return decode_file_framed(format, sc, path, FRAMING_LINES);
}

static struct tally decode_file_framed(const char *format, const struct source_conf *sc, const char *path,
                                       enum framing_mode mode)
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
    framer_set_mode(&f, mode);
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


#define X1F "tests/fixtures/x_v1/cases.jsonl"

/* X v1.1: full_text over text, retweets matched on the inner status,
 * quotes, replies, and the control messages of the stream. */
static void x_v1_fixtures(void **state)
{
    struct decoder_inst d;
    struct got g;
    char err[256];
    (void)state;

    assert_int_equal(decoder_open(&d, "x_v1", NULL), 0);
    assert_int_equal(decode_line(&d, X1F, 1, &g, err, sizeof err), DECODE_OK);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.p[0].id, "1994000000000000101");
    assert_non_null(strstr(g.p[0].text, "what is going on with Nordvik Bank?"));
    assert_string_equal(g.p[0].handle, "karin_m");
    assert_int_equal(g.p[0].followers, 5120);
    assert_string_equal(g.p[0].to, "NordvikHelp");
    assert_int_equal(g.p[0].nurls, 0);          /* extended entities replace the truncated ones */
    assert_int_equal(decode_line(&d, X1F, 2, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].rt);
    assert_string_equal(g.p[0].ref_id, "1994000000000000101");
    assert_string_equal(g.p[0].ref_author, "karin_m");
    assert_non_null(strstr(g.p[0].ref_text, "what is going on with Nordvik Bank?"));
    assert_int_equal(decode_line(&d, X1F, 3, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].quote);
    assert_false(g.p[0].rt);
    assert_true(g.p[0].verified);
    assert_string_equal(g.p[0].url, "https://twitter.com/karin_m/status/1994000000000000101");
    assert_int_equal(decode_line(&d, X1F, 4, &g, err, sizeof err), DECODE_CONTROL);
    assert_non_null(strstr(err, "limit notice: 13"));
    assert_int_equal(decode_line(&d, X1F, 5, &g, err, sizeof err), DECODE_CONTROL);
    assert_non_null(strstr(err, "code 7 (admin logout)"));
    assert_int_equal(decode_line(&d, X1F, 6, &g, err, sizeof err), DECODE_OK);
    assert_int_equal(g.n, 1);
    assert_true(g.p[0].deleted);
    assert_string_equal(g.p[0].id, "1994000000000000101");
    assert_int_equal(decode_line(&d, X1F, 7, &g, err, sizeof err), DECODE_CONTROL);
    assert_non_null(strstr(err, "FALLING_BEHIND"));
    assert_int_equal(decode_line(&d, X1F, 8, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].reply);
    assert_string_equal(g.p[0].in_reply_to, "1994000000000000101");
    assert_string_equal(g.p[0].to, "karin_m");
    decoder_close(&d);
}

struct sse_got {
    struct decoder_inst *d;
    struct got g;
    int skipped;
};

static int sse_rec(void *ctx, const char *rec, size_t len, uint64_t off)
{
    struct sse_got *s = ctx;
    char err[256];
    (void)off;
    if (decoder_run(s->d, rec, len, on_post, &s->g, err, sizeof err) == DECODE_SKIP)
        s->skipped++;
    return 0;
}

/* Mastodon over SSE: HTML to text, links kept as URLs, boosts, edits,
 * deletes, other events skipped. */
static void mastodon_fixtures(void **state)
{
    struct decoder_inst d;
    struct sse_got s = {.d = &d};
    struct framer f;
    char path[1024], err[256];
    size_t len;
    char *data = file_read_all(SRC_PATH(path, "tests/fixtures/mastodon/stream.sse"), 1 << 20, &len, err, sizeof err);
    (void)state;

    assert_non_null(data);
    assert_int_equal(decoder_open(&d, "mastodon", NULL), 0);
    framer_init(&f, 1 << 20);
    framer_set_mode(&f, FRAMING_SSE);
    for (size_t i = 0; i < len; i += 7)     /* in small pieces, like a slow stream */
        framer_feed(&f, data + i, len - i < 7 ? len - i : 7, sse_rec, &s);
    framer_finish(&f, 0, sse_rec, &s);
    assert_int_equal(s.g.n, 5);
    assert_int_equal(s.skipped, 2);
    assert_string_equal(s.g.p[0].text, "Kortet sp\xc3\xa4rrat igen & ingen svarar hos @NordvikHelp\n\n"
                                       "Se https://status.nordvik.example/incident/42\n#nordvik");
    assert_string_equal(s.g.p[0].handle, "karin@mastodon.example");
    assert_string_equal(s.g.p[0].lang, "sv");
    assert_int_equal(s.g.p[0].followers, 312);
    assert_string_equal(s.g.p[0].url, "https://status.nordvik.example/incident/42");
    assert_string_equal(s.g.p[0].bio, "Commuter & coffee");
    /* a boost: matched on the boosted status */
    assert_true(s.g.p[1].rt);
    assert_string_equal(s.g.p[1].ref_id, "113500000000000001");
    assert_string_equal(s.g.p[1].ref_author, "karin@mastodon.example");
    assert_non_null(strstr(s.g.p[1].ref_text, "ingen svarar"));
    /* an edit */
    assert_true(s.g.p[2].edit);
    assert_string_equal(s.g.p[2].id, "113500000000000001");
    /* content warning in front; a reply names the account replied to */
    assert_string_equal(s.g.p[3].text, "bank rant\n\ncard blocked <again>");
    assert_true(s.g.p[3].reply);
    assert_string_equal(s.g.p[3].to, "NordvikHelp@social.example");
    /* delete: a bare id */
    assert_true(s.g.p[4].deleted);
    assert_string_equal(s.g.p[4].id, "113500000000000001");
    framer_free(&f);
    decoder_close(&d);
    free(data);
}

/* A timeline page (REST, polled where streaming is off): each Status a
 * post, newest first as listed; a malformed one skipped and the page said
 * malformed; an empty page is nothing new. */
static void mastodon_page(void **state)
{
    struct decoder_inst d;
    struct got g;
    struct buf page;
    char path[1024], err[256];
    size_t len;
    char *data = file_read_all(SRC_PATH(path, "tests/fixtures/mastodon/stream.sse"), 1 << 20, &len, err, sizeof err);
    int n = 0;
    (void)state;

    assert_non_null(data);
    buf_init(&page, 1 << 20);
    buf_append(&page, "[", 1);
    for (char *l = strstr(data, "event: update\ndata: "); l; l = strstr(l, "event: update\ndata: ")) {
        char *j = l + 20, *e = strchr(j, '\n');
        buf_printf(&page, "%s%.*s", n++ ? "," : "", (int)(e - j), j);
        l = e;
    }
    buf_printf(&page, ",{\"content\":\"<p>no id</p>\"}]");
    assert_int_equal(n, 3);
    assert_int_equal(decoder_open(&d, "mastodon", NULL), 0);
    memset(&g, 0, sizeof g);
    assert_int_equal(decoder_run(&d, page.data, page.len, on_post, &g, err, sizeof err), DECODE_MALFORMED);
    assert_non_null(strstr(err, "1 of the page's 4 statuses skipped: Status without \"id\""));
    assert_int_equal(g.n, 3);
    assert_string_equal(g.p[0].handle, "karin@mastodon.example");
    assert_non_null(strstr(g.p[0].text, "ingen svarar"));
    assert_true(g.p[1].rt);
    assert_string_equal(g.p[2].text, "bank rant\n\ncard blocked <again>");
    memset(&g, 0, sizeof g);
    assert_int_equal(decoder_run(&d, "[]", 2, on_post, &g, err, sizeof err), DECODE_OK);
    assert_int_equal(g.n, 0);
    assert_int_equal(decoder_run(&d, "[1]", 3, on_post, &g, err, sizeof err), DECODE_MALFORMED);
    decoder_close(&d);
    buf_free(&page);
    free(data);
}

static void html_text(void **state)
{
    struct buf out, links;
    static const struct { const char *in, *want; } cases[] = {
        {"<p>a</p><p>b</p>", "a\n\nb"},
        {"x<br>y<br/>z", "x\ny\nz"},
        {"&amp;&lt;&gt;&quot;&#39;&#x263A;&nbsp;&unknown; & x", "&<>\"'\xe2\x98\xba &unknown; & x"},
        {"&#0;&#xD800;&#1114112;", "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        /* control characters by reference hide text as raw ones would */
        {"a&#1;b&#x7;c&#9;d", "a\xef\xbf\xbd" "b\xef\xbf\xbd" "c\td"},
        {"<script>evil()</script>ok<style>p{}</style>", "ok"},
        {"see <a href=\"https://e.example/a?b=1&amp;c=2\">e.example/a\xe2\x80\xa6</a> now",
         "see https://e.example/a?b=1&c=2 now"},
        {"<a href=\"https://m.example/@u\" class=\"u-url mention\">@<span>u</span></a>", "@u"},
        {"<ul><li>one</li><li>two</li></ul>", "one\ntwo"},
        {"cut <a href=\"x", "cut"},
        {"<!-- hidden -->shown", "shown"},
        {"\n   two\n\t words  <br>  next", "two words\nnext"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_init(&out, 1024);
        buf_init(&links, 1024);
        assert_int_equal(html_to_text(cases[i].in, strlen(cases[i].in), &out, &links), 0);
        assert_string_equal(out.data ? out.data : "", cases[i].want);
        buf_free(&out);
        buf_free(&links);
    }
    /* the cap holds */
    buf_init(&out, 4);
    assert_int_equal(html_to_text("<p>abcdef</p>", 13, &out, NULL), -1);
    assert_true(out.len <= 4);
    buf_free(&out);
}

/* Real v1.1 payloads: the tweet_parser examples (25 statuses: 3 retweets,
 * 8 quotes, extended tweets longer than 140), its activity-streams twins
 * (skipped, not misread), and a 100-status search page. */
static void corpus_x_v1(void **state)
{
    char path[8192];
    struct tally t;
    (void)state;

    SKIP_WITHOUT_CORPUS();
    snprintf(path, sizeof path, "%s/twitter-v1.1-tweets/tweet_parser/original_format_examples.json", corpus_dir());
    t = decode_file("x_v1", NULL, path);
    print_message("corpus x_v1 original: %d posts, %d retweets, %d quotes, %d longer than 140\n",
                  t.posts, t.rt, t.quote, t.longer);
    assert_int_equal(t.posts, 25);
    assert_int_equal(t.malformed, 0);
    assert_int_equal(t.rt, 3);
    assert_true(t.quote >= 8);
    assert_true(t.longer >= 3);
    snprintf(path, sizeof path, "%s/twitter-v1.1-tweets/tweet_parser/activity_streams_examples.json", corpus_dir());
    t = decode_file("x_v1", NULL, path);
    assert_int_equal(t.posts, 0);
    assert_int_equal(t.skip, 25);
    snprintf(path, sizeof path, "%s/twitter-v1.1-tweets/nativejson-benchmark-twitter.json", corpus_dir());
    {
        /* pretty-printed: one document, so framed as a single record */
        struct decoder_inst d;
        struct tally one = {.d = &d};
        char err[256];
        size_t len;
        char *data = file_read_all(path, 4 << 20, &len, err, sizeof err);
        assert_non_null(data);
        assert_int_equal(decoder_open(&d, "x_v1", NULL), 0);
        tally_rec(&one, data, len, 0);
        assert_int_equal(one.posts, 100);
        decoder_close(&d);
        free(data);
    }
}

/* Real Mastodon: 48 streamed statuses, the real fragment line rejected,
 * and the docs' SSE examples (7 updates, 6 edits, 6 deletes, 7 others). */
#define JF "tests/fixtures/jetstream/events.jsonl"
#define JA "at://did:plc:a2c4e6g8i0k2m4o6q8s0u2w4/app.bsky.feed.post/"
#define JB "at://did:plc:b3d5f7h9j1l3n5p7r9t1v3x5/app.bsky.feed.post/"

/* Jetstream events (our fixtures, in the real shape): posts are
 * app.bsky.feed.post commits; other collections and kinds are skipped;
 * replies, quotes with media, facets, edits and deletes map as documented. */
static void jetstream_fixtures(void **state)
{
    struct decoder_inst d;
    struct got g;
    char err[256];
    static const int skipped[] = {2, 4, 7};
    (void)state;

    assert_int_equal(decoder_open(&d, "jetstream", NULL), 0);
    assert_int_equal(decoder_position(&d), 0);
    assert_int_equal(decode_line(&d, JF, 1, &g, err, sizeof err), DECODE_OK);
    assert_string_equal(g.p[0].id, JA "3mnv0001aaa2a");
    assert_string_equal(g.p[0].handle, "did:plc:a2c4e6g8i0k2m4o6q8s0u2w4");
    assert_int_equal(g.p[0].followers, -1);
    assert_string_equal(g.p[0].lang, "en");
    assert_false(g.p[0].reply || g.p[0].quote || g.p[0].edit || g.p[0].media);
    assert_int_equal(decoder_position(&d), 1783175888000001ULL);
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
        assert_int_equal(decode_line(&d, JF, skipped[i], &g, err, sizeof err), DECODE_SKIP);
    assert_int_equal(decoder_position(&d), 1783175888000007ULL);   /* skipped events move it too */
    assert_int_equal(decode_line(&d, JF, 3, &g, err, sizeof err), DECODE_OK);
    assert_int_equal(g.p[0].nurls, 1);
    assert_string_equal(g.p[0].url, "https://status.example.com");
    assert_int_equal(decode_line(&d, JF, 5, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].reply);
    assert_string_equal(g.p[0].in_reply_to, JB "3mnv0003ccc2a");
    assert_string_equal(g.p[0].to, "did:plc:b3d5f7h9j1l3n5p7r9t1v3x5");
    assert_int_equal(decode_line(&d, JF, 6, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].quote && g.p[0].media);
    assert_string_equal(g.p[0].ref_id, JA "3mnv0001aaa2a");
    assert_string_equal(g.p[0].ref_author, "did:plc:a2c4e6g8i0k2m4o6q8s0u2w4");
    assert_int_equal(decode_line(&d, JF, 9, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].edit);
    assert_string_equal(g.p[0].id, JB "3mnv0003ccc2a");
    assert_int_equal(decode_line(&d, JF, 10, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].deleted);
    assert_string_equal(g.p[0].id, JA "3mnv0008fff2a");
    assert_int_equal(decode_line(&d, JF, 11, &g, err, sizeof err), DECODE_OK);
    assert_string_equal(g.p[0].lang, "en");
    /* Broken events name what is missing. */
    assert_int_equal(decoder_run(&d, "{\"kind\":\"commit\"}", 17, on_post, &g, err, sizeof err), DECODE_MALFORMED);
    assert_non_null(strstr(err, "did"));
    {
        const char *nr = "{\"did\":\"did:plc:x\",\"time_us\":1,\"kind\":\"commit\",\"commit\":{\"operation\":"
                         "\"create\",\"collection\":\"app.bsky.feed.post\",\"rkey\":\"r\"}}";
        assert_int_equal(decoder_run(&d, nr, strlen(nr), on_post, &g, err, sizeof err), DECODE_MALFORMED);
        assert_non_null(strstr(err, "record.text"));
    }
    assert_int_equal(decoder_run(&d, "[1]", 3, on_post, &g, err, sizeof err), DECODE_MALFORMED);
    decoder_close(&d);
}

/* The v2 wire (our fixture, in the lexicon's shape: the same events as
 * JF): the same posts from the frames' payloads, the seq as the position,
 * markers as deletes; #info notices that say events were skipped are
 * reported once, FutureCursor starts the position anew; error frames are
 * control messages. */
#define JF2 "tests/fixtures/jetstream/events-v2.jsonl"
static void jetstream_v2_frames(void **state)
{
    struct decoder_inst d;
    struct got g;
    char err[256];
    static const int skipped[] = {2, 4, 7};
    (void)state;

    assert_int_equal(decoder_open(&d, "jetstream", NULL), 0);
    assert_int_equal(decode_line(&d, JF2, 1, &g, err, sizeof err), DECODE_OK);
    assert_string_equal(g.p[0].id, JA "3mnv0001aaa2a");
    assert_string_equal(g.p[0].handle, "did:plc:a2c4e6g8i0k2m4o6q8s0u2w4");
    assert_string_equal(g.p[0].lang, "en");
    assert_non_null(strstr(g.p[0].text, "charged twice"));
    assert_int_equal(decoder_position(&d), 101);
    for (size_t i = 0; i < sizeof skipped / sizeof skipped[0]; i++)
        assert_int_equal(decode_line(&d, JF2, skipped[i], &g, err, sizeof err), DECODE_SKIP);
    assert_int_equal(decoder_position(&d), 107);
    assert_int_equal(decode_line(&d, JF2, 5, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].reply);
    assert_string_equal(g.p[0].in_reply_to, JB "3mnv0003ccc2a");
    assert_int_equal(decode_line(&d, JF2, 6, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].quote && g.p[0].media);
    assert_int_equal(decode_line(&d, JF2, 9, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].edit);
    assert_int_equal(decode_line(&d, JF2, 10, &g, err, sizeof err), DECODE_OK);
    assert_true(g.p[0].deleted);
    assert_string_equal(g.p[0].id, JA "3mnv0008fff2a");
    assert_int_equal(decoder_position(&d), 110);
    assert_int_equal(decoder_moved(&d), 0);
    assert_int_equal(decode_line(&d, JF2, 13, &g, err, sizeof err), DECODE_CONTROL);
    assert_non_null(strstr(err, "OutdatedCursor"));
    assert_int_equal(decoder_moved(&d), 1);
    assert_int_equal(decoder_moved(&d), 0);         /* once */
    assert_int_equal(decoder_position(&d), 110);
    assert_int_equal(decode_line(&d, JF2, 14, &g, err, sizeof err), DECODE_CONTROL);
    assert_int_equal(decoder_moved(&d), 1);
    assert_int_equal(decoder_position(&d), 0);      /* another archive's seqs follow */
    assert_int_equal(decode_line(&d, JF2, 3, &g, err, sizeof err), DECODE_OK);
    assert_int_equal(decoder_position(&d), 103);
    assert_int_equal(decode_line(&d, JF2, 15, &g, err, sizeof err), DECODE_CONTROL);
    assert_non_null(strstr(err, "ConsumerTooSlow"));
    assert_int_equal(decoder_moved(&d), 0);
    assert_int_equal(decode_line(&d, JF2, 16, &g, err, sizeof err), DECODE_SKIP);
    {
        const char *nt = "{\"$type\":\"message\",\"payload\":{\"seq\":5}}";
        assert_int_equal(decoder_run(&d, nt, strlen(nt), on_post, &g, err, sizeof err), DECODE_MALFORMED);
        assert_non_null(strstr(err, "payload.$type"));
    }
    decoder_close(&d);
}

/* Real Jetstream v1 output: the 152-event capture (18 post creates among
 * likes, reposts, follows, identity and account events) and the golden set. */
static void corpus_jetstream(void **state)
{
    char path[8192];
    struct tally t;
    (void)state;

    SKIP_WITHOUT_CORPUS();
    snprintf(path, sizeof path, "%s/bluesky-jetstream/corpus-expected_v1.jsonl", corpus_dir());
    t = decode_file("jetstream", NULL, path);
    print_message("corpus jetstream: %d posts, %d deletes, %d other events\n", t.posts, t.deleted, t.skip);
    assert_int_equal(t.posts + t.deleted, 18);
    assert_int_equal(t.skip, 134);
    assert_int_equal(t.malformed, 0);
    snprintf(path, sizeof path, "%s/bluesky-jetstream/subscribe-golden_v1.jsonl", corpus_dir());
    t = decode_file("jetstream", NULL, path);
    assert_int_equal(t.posts, 1);
    assert_int_equal(t.skip, 9);
    assert_int_equal(t.malformed, 0);
}

static void corpus_mastodon(void **state)
{
    char path[8192];
    struct tally t;
    (void)state;

    SKIP_WITHOUT_CORPUS();
    snprintf(path, sizeof path, "%s/mastodon/rtoot/stream/mastodonsocial.jsonl", corpus_dir());
    t = decode_file("mastodon", NULL, path);
    assert_int_equal(t.posts, 48);
    assert_int_equal(t.malformed, 0);
    snprintf(path, sizeof path, "%s/mastodon/rtoot/stream/malformed.jsonl", corpus_dir());
    t = decode_file("mastodon", NULL, path);
    assert_int_equal(t.posts, 49);
    assert_int_equal(t.malformed, 1);
    snprintf(path, sizeof path, "%s/mastodon/docs/streaming-examples.sse", corpus_dir());
    t = decode_file_framed("mastodon", NULL, path, FRAMING_SSE);
    print_message("corpus mastodon SSE: %d posts (%d edits), %d deletes, %d other events\n", t.posts, t.edit,
                  t.deleted, t.skip);
    assert_int_equal(t.posts, 13);
    assert_int_equal(t.edit, 6);
    assert_int_equal(t.deleted, 6);
    assert_int_equal(t.skip, 7);
    assert_int_equal(t.malformed, 0);
}

/* Real RSS 0.91/1.0/2.0 and Atom feeds: every item of every feed, the
 * ISO-8859-1 ones (declared, and one undeclared) included; the HTML page
 * among them is rejected, not misread. */
static void corpus_rss(void **state)
{
    char dir[8192], path[16384];
    struct source_conf sc = {.max_record = 8 << 20, .max_depth = 64};
    struct tally all = {0}, t;
    DIR *dp;
    struct dirent *de;
    (void)state;

    SKIP_WITHOUT_CORPUS();
    snprintf(dir, sizeof dir, "%s/rss-atom/rss-parser", corpus_dir());
    dp = opendir(dir);
    assert_non_null(dp);
    while ((de = readdir(dp))) {
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
        t = decode_file_framed("rss", &sc, path, FRAMING_DOCUMENT);
        if (strcmp(de->d_name, "uolNoticias.rss") == 0)
            assert_int_equal(t.posts, 15);      /* no declaration, Latin-1 bytes */
        else if (strcmp(de->d_name, "encoding.rss") == 0)
            assert_int_equal(t.posts, 40);
        else if (strcmp(de->d_name, "unrecognized.rss") == 0)
            assert_int_equal(t.malformed, 1);
        else
            assert_int_equal(t.malformed, 0);
        all.posts += t.posts;
        all.malformed += t.malformed;
    }
    closedir(dp);
    print_message("corpus rss/atom: %d items, %d documents rejected\n", all.posts, all.malformed);
    assert_int_equal(all.malformed, 1);
    assert_true(all.posts >= 1360);            /* the corpus counts 1,371 items and entries */
}

/* Control characters in a post's text never cut it short: every JSON
 * decoder gets a record of its own fixture with "\u0000hidden\u0007 " and a
 * CR LF and a lone CR put in front of the text.  The text keeps all of it,
 * each control shown as U+FFFD and counted, the line breaks as newlines. */
static void controls_replaced_in_every_decoder(void **state)
{
    static const struct { const char *format, *rel; int line; const char *key, *skip, *want; } cases[] = {
        {"x_v2", XF, 1, "\"text\":\"", NULL, NULL},
        {"x_v1", "tests/fixtures/x_v1/cases.jsonl", 1, "\"full_text\":\"", NULL, NULL},  /* the long text wins */
        {"ndjson", "tests/fixtures/ndjson/feed.jsonl", 1, "\"body\":\"", NULL, NULL},
        {"jetstream", JF, 1, "\"text\":\"", NULL, NULL},
        /* HTML: a line break in the markup is a space */
        {"mastodon", "tests/fixtures/mastodon/stream.sse", 3, "\"content\": \"", "data: ",
         "\xEF\xBF\xBDhidden\xEF\xBF\xBD line next end"},
    };
    const char *inject = "\\u0000hidden\\u0007 line\\r\\nnext\\rend ";
    const char *want = "\xEF\xBF\xBDhidden\xEF\xBF\xBD line\nnext\nend ";
    (void)state;

    for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
        struct decoder_inst d;
        struct source_conf sc;
        struct got g;
        char err[256], *line = fixture_line(cases[i].rel, cases[i].line), *rec, *at;
        const char *json = line;
        size_t klen = strlen(cases[i].key);

        if (cases[i].skip) {
            assert_memory_equal(line, cases[i].skip, strlen(cases[i].skip));
            json += strlen(cases[i].skip);
        }
        at = strstr(json, cases[i].key);
        if (!at)
            fail_msg("%s: no %s in %s:%d", cases[i].format, cases[i].key, cases[i].rel, cases[i].line);
        rec = xmalloc(strlen(json) + strlen(inject) + 1);
        sprintf(rec, "%.*s%s%s", (int)(at - json + (long)klen), json, inject, at + klen);
        generic_conf(&sc);
        if (!strcmp(cases[i].format, "ndjson")) {
            sc.field[PF_id] = "/msg/uid";
            sc.field[PF_text] = "/msg/body";
        }
        assert_int_equal(decoder_open(&d, cases[i].format, &sc), 0);
        memset(&g, 0, sizeof g);
        if (decoder_run(&d, rec, strlen(rec), on_post, &g, err, sizeof err) != DECODE_OK)
            fail_msg("%s: %s", cases[i].format, err);
        assert_int_equal(g.n, 1);
        if (!strstr(g.p[0].text, cases[i].want ? cases[i].want : want))
            fail_msg("%s: the text lost its controls' context: '%s'", cases[i].format, g.p[0].text);
        assert_true(strlen(g.p[0].text) > strlen(want) + 5);    /* the original text after it */
        assert_int_equal(g.p[0].controls, 2);
        decoder_close(&d);
        free(rec);
        free(line);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(x_fixtures),
        cmocka_unit_test(controls_replaced_in_every_decoder),
        cmocka_unit_test(x_v1_fixtures),
        cmocka_unit_test(mastodon_fixtures),
        cmocka_unit_test(html_text),
        cmocka_unit_test(corpus_x_v1),
        cmocka_unit_test(corpus_mastodon),
        cmocka_unit_test(jetstream_fixtures),
        cmocka_unit_test(jetstream_v2_frames),
        cmocka_unit_test(mastodon_page),
        cmocka_unit_test(corpus_jetstream),
        cmocka_unit_test(corpus_rss),
        cmocka_unit_test(nesting_limit),
        cmocka_unit_test(json_skip),
        cmocka_unit_test(json_controls_at_every_position),
        cmocka_unit_test(ndjson_mapping),
        cmocka_unit_test(corpus_x_v2),
        cmocka_unit_test(corpus_ndjson_mastodon),
    };
    return cmocka_run_group_tests_name("decode", tests, NULL, NULL);
}
