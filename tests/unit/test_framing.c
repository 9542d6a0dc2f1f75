/* framing: records split at every byte boundary, CRLF, keep-alives, caps. */
#include "testutil.h"
#include "framing.h"
#include "buf.h"

struct collect {
    char out[8192];
    size_t len;
    int n;
    uint64_t offsets[64];
};

static int collect_rec(void *ctx, const char *rec, size_t len, uint64_t off)
{
    struct collect *c = ctx;
    memcpy(c->out + c->len, rec, len);
    c->len += len;
    c->out[c->len++] = '|';
    c->out[c->len] = '\0';
    if (c->n < 64)
        c->offsets[c->n] = off;
    c->n++;
    return 0;
}

static const char stream[] = "{\"a\":1}\r\n\r\n{\"b\":2}\n\n\r\n{\"c\":\"x y\"}\r\n";

/* Every way of cutting the stream in two gives the same records. */
static void split_everywhere(void **state)
{
    size_t n = strlen(stream);
    (void)state;
    for (size_t cut = 0; cut <= n; cut++) {
        struct framer f;
        struct collect c = {0};
        framer_init(&f, 1024);
        framer_feed(&f, stream, cut, collect_rec, &c);
        framer_feed(&f, stream + cut, n - cut, collect_rec, &c);
        framer_finish(&f, 0, collect_rec, &c);
        assert_string_equal(c.out, "{\"a\":1}|{\"b\":2}|{\"c\":\"x y\"}|");
        assert_int_equal(f.stats.records, 3);
        assert_int_equal(f.stats.keepalives, 3);
        assert_int_equal(f.stats.truncated, 0);
        assert_int_equal(c.offsets[0], 0);
        assert_int_equal(c.offsets[1], 11);
        assert_int_equal(c.offsets[2], 22);
        framer_free(&f);
    }
}

/* One byte at a time (a slow drip). */
static void byte_at_a_time(void **state)
{
    struct framer f;
    struct collect c = {0};
    (void)state;
    framer_init(&f, 1024);
    for (size_t i = 0; stream[i]; i++)
        framer_feed(&f, stream + i, 1, collect_rec, &c);
    assert_string_equal(c.out, "{\"a\":1}|{\"b\":2}|{\"c\":\"x y\"}|");
    framer_free(&f);
}

/* A record over the cap is skipped and the stream resynchronises at the
 * next newline, whether the big record arrives whole or in pieces. */
static void oversized_skipped_then_resync(void **state)
{
    char big[200];
    (void)state;
    memset(big, 'x', sizeof big);
    for (size_t piece = 1; piece <= sizeof big; piece += 37) {
        struct framer f;
        struct collect c = {0};
        framer_init(&f, 64);
        framer_feed(&f, "ok1\n", 4, collect_rec, &c);
        for (size_t i = 0; i < sizeof big; i += piece)
            framer_feed(&f, big + i, i + piece > sizeof big ? sizeof big - i : piece, collect_rec, &c);
        framer_feed(&f, "\nok2\n", 5, collect_rec, &c);
        assert_string_equal(c.out, "ok1|ok2|");
        assert_int_equal(f.stats.oversized, 1);
        assert_int_equal(f.oversized_at, 4);            /* where the big record began */
        /* Memory stayed within the cap. */
        assert_true(f.pending.alloc <= 64 + 2);
        framer_free(&f);
    }
}

/* Exactly at the cap is accepted; a CR beyond it does not count. */
static void cap_boundary(void **state)
{
    struct framer f;
    struct collect c = {0};
    char rec[66];
    (void)state;
    memset(rec, 'y', 64);
    rec[64] = '\r';
    rec[65] = '\n';
    framer_init(&f, 64);
    framer_feed(&f, rec, 10, collect_rec, &c);
    framer_feed(&f, rec + 10, 56, collect_rec, &c);
    assert_int_equal(c.n, 1);
    assert_int_equal(f.stats.oversized, 0);
    framer_free(&f);
}

static void truncated_at_end(void **state)
{
    struct framer f;
    struct collect c = {0};
    (void)state;
    framer_init(&f, 1024);
    framer_feed(&f, "{\"a\":1}\n{\"b\":", 13, collect_rec, &c);
    framer_finish(&f, 0, collect_rec, &c);
    assert_string_equal(c.out, "{\"a\":1}|");
    assert_int_equal(f.stats.truncated, 1);
    /* A new connection starts clean. */
    framer_feed(&f, "{\"c\":3}\n", 8, collect_rec, &c);
    assert_string_equal(c.out, "{\"a\":1}|{\"c\":3}|");
    framer_free(&f);
}

static void partial_delivered_for_files(void **state)
{
    struct framer f;
    struct collect c = {0};
    (void)state;
    framer_init(&f, 1024);
    framer_feed(&f, "one\ntwo", 7, collect_rec, &c);
    framer_finish(&f, 1, collect_rec, &c);
    assert_string_equal(c.out, "one|two|");
    framer_free(&f);
}


/* delimited=length: keep-alives before the count, the count includes the
 * CRLF, bodies may hold newlines; every cut gives the same records. */
static const char lstream[] = "\r\n\r\n9\r\n{\"a\":1}\r\n\r\n13\r\n{\"b\":\"x\ny\"}\r\n4\r\n{}\r\n\r\n";

static void length_split_everywhere(void **state)
{
    size_t n = strlen(lstream);
    (void)state;
    for (size_t cut = 0; cut <= n; cut++) {
        for (size_t cut2 = cut; cut2 <= n; cut2 += 3) {
            struct framer f;
            struct collect c = {0};
            framer_init(&f, 1024);
            framer_set_mode(&f, FRAMING_LENGTH);
            framer_feed(&f, lstream, cut, collect_rec, &c);
            framer_feed(&f, lstream + cut, cut2 - cut, collect_rec, &c);
            framer_feed(&f, lstream + cut2, n - cut2, collect_rec, &c);
            framer_finish(&f, 0, collect_rec, &c);
            assert_string_equal(c.out, "{\"a\":1}|{\"b\":\"x\ny\"}|{}|");
            assert_int_equal(f.stats.records, 3);
            assert_int_equal(f.stats.keepalives, 4);
            assert_int_equal(f.stats.garbage, 0);
            assert_int_equal(f.stats.truncated, 0);
            assert_int_equal(c.offsets[0], 7);
            assert_int_equal(c.offsets[1], 22);
            framer_free(&f);
        }
    }
}

/* An oversized count skips exactly its body; garbage lines are counted and
 * framing resumes; a cut body is truncated. */
static void length_oversized_garbage_truncated(void **state)
{
    static const char s[] = "70\r\n" "0123456789012345678901234567890123456789012345678901234567890123456789"
                            "not a count\r\n4\r\nok\r\n12345678901\r\n9\r\n{\"a\":";
    struct framer f;
    struct collect c = {0};
    (void)state;
    framer_init(&f, 32);
    framer_set_mode(&f, FRAMING_LENGTH);
    for (size_t i = 0; s[i]; i++)
        framer_feed(&f, s + i, 1, collect_rec, &c);
    framer_finish(&f, 1, collect_rec, &c);
    assert_string_equal(c.out, "ok|");
    assert_int_equal(f.stats.oversized, 1);
    assert_int_equal(f.stats.garbage, 2);
    assert_int_equal(f.stats.truncated, 1);
    assert_true(f.pending.alloc <= 32 + 3);
    framer_free(&f);
}

/* Mastodon's SSE: ":)" preamble, ":thump" heartbeats, event/data pairs, a
 * multi-line data field, an event without a name, ids and retry kept. */
static const char sstream[] =
    ":)\n"
    "event: update\ndata: {\"id\":\"1\"}\n\n"
    ":thump\n"
    "event: delete\r\ndata: 107214471804101576\r\n\r\n"
    "data: line one\ndata:line two\nid: 42\nretry: 3000\n\n"
    "event: filters_changed\ndata: undefined\n\n"
    "event: empty\n\n";

static void sse_split_everywhere(void **state)
{
    size_t n = strlen(sstream);
    (void)state;
    for (size_t cut = 0; cut <= n; cut++) {
        struct framer f;
        struct collect c = {0};
        framer_init(&f, 1024);
        framer_set_mode(&f, FRAMING_SSE);
        framer_feed(&f, sstream, cut, collect_rec, &c);
        framer_feed(&f, sstream + cut, n - cut, collect_rec, &c);
        framer_finish(&f, 0, collect_rec, &c);
        assert_string_equal(c.out, "update\n{\"id\":\"1\"}|delete\n107214471804101576|"
                                   "message\nline one\nline two|filters_changed\nundefined|");
        assert_int_equal(f.stats.records, 4);
        assert_int_equal(f.stats.keepalives, 2);
        assert_int_equal(f.stats.truncated, 0);
        assert_string_equal(f.sse_last_id, "42");
        assert_int_equal(f.sse_retry_ms, 3000);
        assert_int_equal(c.offsets[0], 3);
        framer_free(&f);
    }
}

/* An event whose data passes the cap is dropped whole (one oversized), the
 * next event is intact, and a connection cut mid-event is truncated. */
static void sse_oversized_and_cut(void **state)
{
    char big[300];
    struct framer f;
    struct collect c = {0};
    (void)state;
    memset(big, 'x', sizeof big);
    framer_init(&f, 64);
    framer_set_mode(&f, FRAMING_SSE);
    framer_feed(&f, "event: update\ndata: ", 20, collect_rec, &c);
    framer_feed(&f, big, sizeof big, collect_rec, &c);
    framer_feed(&f, "\ndata: more\n\nevent: update\ndata: ", 34, collect_rec, &c);
    framer_feed(&f, big, 40, collect_rec, &c);
    framer_feed(&f, "\ndata: ", 7, collect_rec, &c);
    framer_feed(&f, big, 40, collect_rec, &c);
    framer_feed(&f, "\n\nevent: update\ndata: {}\n\nevent: update\ndata: {\"cut", 51, collect_rec, &c);
    framer_finish(&f, 0, collect_rec, &c);
    assert_string_equal(c.out, "update\n{}|");
    assert_int_equal(f.stats.oversized, 2);
    assert_int_equal(f.stats.truncated, 1);
    assert_true(f.sse.alloc <= 64 + FRAMING_SSE_MAX_EVENT + 2);
    framer_free(&f);
}

static void buf_caps(void **state)
{
    struct buf b;
    (void)state;
    buf_init(&b, 8);
    assert_int_equal(buf_append(&b, "12345678", 8), BUF_OK);
    assert_int_equal(buf_append(&b, "9", 1), BUF_TOOBIG);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "12345678");
    buf_consume(&b, 3);
    assert_string_equal(b.data, "45678");
    assert_int_equal(buf_printf(&b, "%d", 123), BUF_OK);
    assert_int_equal(buf_printf(&b, "%s", "toolong"), BUF_TOOBIG);
    assert_string_equal(b.data, "45678123");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_everywhere),
        cmocka_unit_test(byte_at_a_time),
        cmocka_unit_test(oversized_skipped_then_resync),
        cmocka_unit_test(cap_boundary),
        cmocka_unit_test(truncated_at_end),
        cmocka_unit_test(partial_delivered_for_files),
        cmocka_unit_test(length_split_everywhere),
        cmocka_unit_test(length_oversized_garbage_truncated),
        cmocka_unit_test(sse_split_everywhere),
        cmocka_unit_test(sse_oversized_and_cut),
        cmocka_unit_test(buf_caps),
    };
    return cmocka_run_group_tests_name("framing", tests, NULL, NULL);
}
