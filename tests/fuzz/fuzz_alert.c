/* libFuzzer target: the alert encoder round trip.  A post is made of the
 * input (fields separated by NUL bytes), matched against the fuzz rules,
 * encoded as an alert (mention, and deleted), and parsed back: every post
 * field must come back byte for byte where it went in (as the JSON reader
 * gives strings: its control characters replaced, json.h), the document must be
 * one JSON object, and an input of printable ASCII must always encode (only
 * bytes that are not UTF-8 may make the encoder refuse). */
#include "fuzz_common.h"
#include "alert_build.h"
#include "matcher.h"
#include "scorer.h"

#include <stdint.h>

/* The post fields the input fills, and where each appears in the alert. */
enum { F_ID, F_TEXT, F_LANG, F_CREATED, F_URL, F_AUTHOR_ID, F_HANDLE, F_NAME, F_REPLY, F_CONV, F_SOURCE, F_N };
static const char *const field_ptr[F_N] = {
    "/post/id", "/post/text", "/post/lang", "/post/created_at", "/post/url", "/post/author/id",
    "/post/author/handle", "/post/author/name", "/post/in_reply_to", "/post/conversation_id", "/source/name",
};

struct seen {
    const char *want[F_N];
    int found[F_N];
    int bad;                    /* a field came back different */
};

static int check_event(void *ctx, const struct json_event *ev)
{
    struct seen *s = ctx;

    for (int i = 0; i < F_N; i++) {
        if (strcmp(ev->ptr, field_ptr[i]) != 0)
            continue;
        s->found[i]++;
        if (!s->want[i] ? ev->type != JSON_NULL
                        : ev->type != JSON_STRING || ev->val_len != strlen(s->want[i]) ||
                              memcmp(ev->val, s->want[i], ev->val_len) != 0) {
            fprintf(stderr, "%s came back as %.*s\n", field_ptr[i], (int)ev->val_len, ev->val ? ev->val : "");
            s->bad = 1;
        }
    }
    return 0;
}

static void round_trip(const struct alert *a, struct seen *s, int deleted)
{
    struct json_reader *r = json_reader_new(64, check_event, s);
    char err[256];

    if (!r)
        abort();
    if (json_reader_parse(r, a->json, a->len, err, sizeof err) != 0) {
        fprintf(stderr, "alert does not parse back: %s\n%.*s\n", err, (int)a->len, a->json);
        abort();
    }
    json_reader_free(r);
    for (int i = 0; i < F_N; i++)
        if ((deleted ? i == F_ID || i == F_SOURCE : 1) && s->found[i] != 1) {
            fprintf(stderr, "%s appears %d times\n", field_ptr[i], s->found[i]);
            abort();
        }
    if (s->bad)
        abort();
}

/* s as the JSON reader hands it back: each C0 control but tab and newline
 * U+FFFD, CR LF a newline, a lone CR a newline. */
static char *reader_view(const char *s)
{
    char *out, *o;

    if (!s)
        return NULL;
    o = out = xmalloc(strlen(s) * 3 + 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c >= 0x20 || c == '\t' || c == '\n')
            *o++ = (char)c;
        else if (c == '\r') {
            if (s[1] != '\n')
                *o++ = '\n';
        } else {
            memcpy(o, "\xEF\xBF\xBD", 3);
            o += 3;
        }
    }
    *o = '\0';
    return out;
}

static int printable(const char *const *f)
{
    for (int i = 0; i < F_N; i++)
        for (const char *c = f[i]; c && *c; c++)
            if ((unsigned char)*c < 0x20 || (unsigned char)*c >= 0x7f)
                return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct json_writer *w;
    static struct match_ctx mc;
    struct ruleset *rs = fuzz_rules();
    char *copy, *f[F_N] = {0}, *p;
    struct score sc = {0};
    struct alert_context cx = {0};
    struct seen s = {0};
    struct post post;
    struct alert *a;
    int n, flags;

    if (!w) {
        w = jw_new();
        match_ctx_init(&mc);
    }
    if (size < 2)
        return 0;
    flags = data[0];
    copy = xmalloc(size);
    memcpy(copy, data + 1, size - 1);
    copy[size - 1] = '\0';
    /* Fields in order, NUL-separated; a missing or empty one is NULL. */
    p = copy;
    for (int i = 0; i < F_N && p < copy + size - 1; i++) {
        f[i] = *p ? p : NULL;
        p += strlen(p) + 1;
    }
    post_clear(&post);
    post.id = f[F_ID] ? f[F_ID] : "0";
    f[F_ID] = (char *)post.id;
    post.text = f[F_TEXT] ? f[F_TEXT] : "";
    f[F_TEXT] = (char *)post.text;
    post.lang = f[F_LANG];
    post.created_at = f[F_CREATED];
    post.url = f[F_URL];
    post.author.id = f[F_AUTHOR_ID];
    post.author.handle = f[F_HANDLE];
    post.author.name = f[F_NAME];
    post.author.followers = flags & 1 ? (long long)flags * 1000 : -1;
    post.author.verified = (flags & 2) != 0;
    post.in_reply_to = f[F_REPLY];
    post.conversation_id = f[F_CONV];
    post.source_name = f[F_SOURCE];
    post.source_type = "x_v2";
    post.is_retweet = (flags & 4) != 0;

    n = matcher_match(&mc, rs->m, &post);
    if (n < 0)
        mc.nhits = 0;                   /* not UTF-8: the encoder is still tried */
    sc.best_rule = n > 0 ? mc.hits[0].rule : 0;
    sc.level = flags % LEVEL_COUNT;
    sc.score = flags % 101;
    cx.pii = flags >> 5;
    cx.shares = (uint32_t)flags;
    for (int i = 0; i < F_N; i++)
        s.want[i] = reader_view(f[i]);

    a = alert_build(w, "fuzz", rs, &mc, &sc, &post, &cx, 1700000000000ull);
    if (a) {
        round_trip(a, &s, 0);
        alert_free(a);
    } else if (printable((const char *const *)f)) {
        fprintf(stderr, "a printable post was not encoded\n");
        abort();
    }

    post.deleted = 1;
    memset(&s.found, 0, sizeof s.found);
    a = alert_build_deleted(w, "fuzz", &post, 1700000000000ull);
    if (a) {
        round_trip(a, &s, 1);
        alert_free(a);
    } else if (printable((const char *const *)f)) {
        fprintf(stderr, "a printable deletion was not encoded\n");
        abort();
    }
    for (int i = 0; i < F_N; i++)
        free((char *)s.want[i]);
    free(copy);
    return 0;
}
