/* ws: RFC 6455 handshake, server-frame parser (every split of the input
 * gives the same messages), protocol errors, size caps, client encoding;
 * zdec: zstd frames with and without the Jetstream dictionary. */
#include "testutil.h"

#include "buf.h"
#include "ws.h"
#include "zdec.h"

#include <zstd.h>

/* ---- server frames, built by hand ------------------------------------- */

static void frame(struct buf *b, int fin, int op, const void *p, size_t n)
{
    unsigned char h[10];
    size_t hl = 2;

    h[0] = (unsigned char)((fin ? 0x80 : 0) | op);
    if (n < 126) {
        h[1] = (unsigned char)n;
    } else if (n <= 0xFFFF) {
        h[1] = 126;
        h[2] = (unsigned char)(n >> 8);
        h[3] = (unsigned char)n;
        hl = 4;
    } else {
        h[1] = 127;
        for (int i = 0; i < 8; i++)
            h[2 + i] = (unsigned char)((uint64_t)n >> (56 - 8 * i));
        hl = 10;
    }
    assert_int_equal(buf_append(b, h, hl), 0);
    if (n)
        assert_int_equal(buf_append(b, p, n), 0);
}

/* What the callbacks saw, as text: "T:<msg>|" "B:<len>|" "O:<size>|"
 * "ping:<payload>|" "close:<code>|". */
struct seen {
    struct buf log;
    int stop_on_close;
};

static int s_msg(void *ctx, int op, const char *p, size_t n)
{
    struct seen *s = ctx;
    if (op == WS_TEXT)
        buf_printf(&s->log, "T:%.*s|", (int)n, p);
    else
        buf_printf(&s->log, "B:%zu|", n);
    return 0;
}

static void s_over(void *ctx, uint64_t size)
{
    struct seen *s = ctx;
    buf_printf(&s->log, "O:%llu|", (unsigned long long)size);
}

static int s_ctl(void *ctx, int op, const unsigned char *p, size_t n)
{
    struct seen *s = ctx;
    char reason[130];
    if (op == WS_PING)
        buf_printf(&s->log, "ping:%.*s|", (int)n, (const char *)p);
    else if (op == WS_PONG)
        buf_printf(&s->log, "pong|");
    else {
        buf_printf(&s->log, "close:%d|", ws_close_code(p, n, reason, sizeof reason));
        return s->stop_on_close;
    }
    return 0;
}

static const struct ws_parser_cbs cbs = {s_msg, s_over, s_ctl};

/* Feed b in pieces of the given sizes (cycled); returns the last result. */
static int feed_split(struct ws_parser *p, const struct buf *b, struct seen *s, const size_t *sizes, int nsizes)
{
    size_t off = 0;
    int i = 0, r = 0;

    while (off < b->len && r == 0) {
        size_t n = sizes[i++ % nsizes];
        if (n > b->len - off)
            n = b->len - off;
        r = ws_parser_feed(p, b->data + off, n, &cbs, s);
        off += n;
    }
    return r;
}

static void stream_sample(struct buf *b, char *big, size_t bigsz)
{
    const char *json = "{\"did\":\"did:plc:x\",\"kind\":\"commit\"}";
    unsigned char bin[300];

    for (size_t i = 0; i < sizeof bin; i++)
        bin[i] = (unsigned char)i;
    memset(big, 'a', bigsz);
    big[0] = '[';
    big[bigsz - 1] = ']';
    frame(b, 1, WS_TEXT, json, strlen(json));
    frame(b, 1, WS_PING, "hi", 2);
    frame(b, 0, WS_TEXT, "frag", 4);              /* fragmented, ping inside */
    frame(b, 1, WS_PING, "mid", 3);
    frame(b, 0, WS_CONT, "men", 3);
    frame(b, 1, WS_CONT, "ted", 3);
    frame(b, 1, WS_BINARY, bin, sizeof bin);      /* 16-bit length */
    frame(b, 1, WS_TEXT, big, bigsz);             /* 64-bit length */
    frame(b, 1, WS_TEXT, "", 0);                  /* empty message */
    frame(b, 1, WS_PONG, NULL, 0);
    frame(b, 1, WS_CLOSE, "\x03\xe8" "bye", 5);
}

static const char *expected_log(char *out, size_t len, size_t bigsz)
{
    snprintf(out, len, "T:{\"did\":\"did:plc:x\",\"kind\":\"commit\"}|ping:hi|ping:mid|T:fragmented|B:300|T:[");
    memset(out + strlen(out), 'a', bigsz - 2);
    out[strlen("T:{\"did\":\"did:plc:x\",\"kind\":\"commit\"}|ping:hi|ping:mid|T:fragmented|B:300|T:[") + bigsz - 2] = 0;
    strcat(out, "]|T:|pong|close:1000|");
    return out;
}

static void split_everywhere(void **state)
{
    struct buf b;
    size_t bigsz = 70000;
    char *big = malloc(bigsz), *want = malloc(bigsz + 256);
    (void)state;

    buf_init(&b, 1 << 20);
    stream_sample(&b, big, bigsz);
    expected_log(want, bigsz + 256, bigsz);
    /* One feed, byte at a time, and every two-piece split of the head. */
    for (size_t cut = 0; cut <= 400; cut++) {
        struct ws_parser p;
        struct seen s = {.stop_on_close = 0};
        size_t sizes[2] = {cut ? cut : b.len, b.len};
        buf_init(&s.log, 1 << 20);
        ws_parser_init(&p, 100000);
        assert_int_equal(feed_split(&p, &b, &s, sizes, cut ? 2 : 1), 0);
        assert_string_equal(s.log.data, want);
        assert_int_equal(p.st.messages, 5);
        assert_int_equal(p.st.pings, 2);
        ws_parser_free(&p);
        buf_free(&s.log);
    }
    {
        struct ws_parser p;
        struct seen s = {0};
        size_t one = 1, odd[3] = {7, 1, 4093};
        buf_init(&s.log, 1 << 20);
        ws_parser_init(&p, 100000);
        assert_int_equal(feed_split(&p, &b, &s, &one, 1), 0);
        assert_string_equal(s.log.data, want);
        ws_parser_free(&p);
        ws_parser_init(&p, 100000);
        buf_reset(&s.log);
        assert_int_equal(feed_split(&p, &b, &s, odd, 3), 0);
        assert_string_equal(s.log.data, want);
        ws_parser_free(&p);
        buf_free(&s.log);
    }
    buf_free(&b);
    free(big);
    free(want);
}

/* Over max_message: skipped as it arrives (whole or fragmented), reported
 * once with its size, and the next message is intact. */
static void oversize_skipped(void **state)
{
    struct buf b;
    char big[500];
    struct ws_parser p;
    struct seen s = {0};
    size_t sizes[1] = {13};
    (void)state;

    memset(big, 'z', sizeof big);
    buf_init(&b, 1 << 16);
    buf_init(&s.log, 1 << 16);
    frame(&b, 1, WS_TEXT, big, 200);
    frame(&b, 1, WS_TEXT, "ok1", 3);
    frame(&b, 0, WS_TEXT, big, 60);               /* 60 + 60 > 100 */
    frame(&b, 0, WS_CONT, big, 60);
    frame(&b, 1, WS_CONT, big, 1);
    frame(&b, 1, WS_TEXT, big, 100);              /* exactly the cap: kept */
    ws_parser_init(&p, 100);
    assert_int_equal(feed_split(&p, &b, &s, sizes, 1), 0);
    assert_true(strncmp(s.log.data, "O:200|T:ok1|O:121|T:zzz", 23) == 0);
    assert_int_equal(p.st.oversized, 2);
    assert_int_equal(p.st.messages, 2);
    assert_true(p.msg.alloc <= 128 + 1);          /* never grew past the cap */
    ws_parser_free(&p);
    buf_free(&s.log);
    buf_free(&b);
}

static int fails_with(const void *bytes, size_t n, int code, const char *why)
{
    struct ws_parser p;
    struct seen s = {0};
    int r;

    buf_init(&s.log, 1024);
    ws_parser_init(&p, 1000);
    r = ws_parser_feed(&p, bytes, n, &cbs, &s);
    if (r != -1 || p.close_code != code || !strstr(p.err, why)) {
        fprintf(stderr, "r=%d code=%d err=%s (wanted %d, %s)\n", r, p.close_code, p.err, code, why);
        r = 0;
    } else {
        r = ws_parser_feed(&p, "\x81\x00", 2, &cbs, &s) == -1;   /* sticky */
    }
    ws_parser_free(&p);
    buf_free(&s.log);
    return r;
}

static void protocol_errors(void **state)
{
    (void)state;
    assert_true(fails_with("\x81\x82\x01\x02\x03\x04" "ab", 8, WS_CLOSE_PROTOCOL, "masked frame"));
    assert_true(fails_with("\xC1\x01x", 3, WS_CLOSE_PROTOCOL, "reserved bits"));
    assert_true(fails_with("\x83\x01x", 3, WS_CLOSE_PROTOCOL, "unknown opcode"));
    assert_true(fails_with("\x09\x01x", 3, WS_CLOSE_PROTOCOL, "fragmented control"));
    assert_true(fails_with("\x89\x7e\x00\x80", 4, WS_CLOSE_PROTOCOL, "over 125"));
    assert_true(fails_with("\x80\x01x", 3, WS_CLOSE_PROTOCOL, "continuation frame outside"));
    assert_true(fails_with("\x01\x01x\x81\x01y", 6, WS_CLOSE_PROTOCOL, "new data frame inside"));
    assert_true(fails_with("\x81\x02\xc3\x28", 4, WS_CLOSE_BAD_DATA, "not UTF-8"));
    assert_true(fails_with("\x81\x03\xed\xa0\x80", 5, WS_CLOSE_BAD_DATA, "not UTF-8"));   /* surrogate */
    assert_true(fails_with("\x88\x01\x03", 3, WS_CLOSE_PROTOCOL, "1-byte payload"));
    assert_true(fails_with("\x88\x02\x03\xed", 4, WS_CLOSE_PROTOCOL, "invalid code"));  /* 1005 */
    assert_true(fails_with("\x82\x7f\x80\x00\x00\x00\x00\x00\x00\x01", 10, WS_CLOSE_PROTOCOL, "top bit"));
}

static void utf8_rules(void **state)
{
    (void)state;
    assert_true(ws_utf8_valid((const unsigned char *)"kundtj\xc3\xa4nst \xf0\x9f\x92\xb3", 16));
    assert_false(ws_utf8_valid((const unsigned char *)"\xc0\xaf", 2));           /* overlong */
    assert_false(ws_utf8_valid((const unsigned char *)"\xf4\x90\x80\x80", 4));   /* > U+10FFFF */
    assert_false(ws_utf8_valid((const unsigned char *)"\xe2\x82", 2));           /* cut */
}

static void handshake(void **state)
{
    char acc[WS_ACCEPT_LEN + 1], key[WS_KEY_LEN + 1], key2[WS_KEY_LEN + 1], err[200], head[512];
    long status;
    struct ws_url u;
    struct buf req;
    const char *hdrs[] = {"X-Test: 1", NULL};
    (void)state;

    /* RFC 6455 section 1.3's example. */
    ws_accept_for("dGhlIHNhbXBsZSBub25jZQ==", acc);
    assert_string_equal(acc, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(ws_key_new(key), 0);
    assert_int_equal(ws_key_new(key2), 0);
    assert_int_equal(strlen(key), WS_KEY_LEN);
    assert_string_not_equal(key, key2);

#define RESP(extra) "HTTP/1.1 101 Switching Protocols\r\nUpgrade: WebSocket\r\nConnection: keep-alive, Upgrade\r\n" \
                    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n" extra "\r\n"
    snprintf(head, sizeof head, RESP(""));
    assert_int_equal(ws_handshake_check(head, strlen(head), "dGhlIHNhbXBsZSBub25jZQ==", NULL, &status, err, sizeof err), 0);
    assert_int_equal(ws_handshake_check(head, strlen(head), key, NULL, &status, err, sizeof err), -1);
    assert_non_null(strstr(err, "Sec-WebSocket-Accept"));
    snprintf(head, sizeof head, RESP("Sec-WebSocket-Extensions: permessage-deflate\r\n"));
    assert_int_equal(ws_handshake_check(head, strlen(head), "dGhlIHNhbXBsZSBub25jZQ==", NULL, &status, err, sizeof err), -1);
    snprintf(head, sizeof head, "HTTP/1.1 101 OK\r\nConnection: Upgrade\r\n\r\n");
    assert_int_equal(ws_handshake_check(head, strlen(head), "k", NULL, &status, err, sizeof err), -1);
    assert_non_null(strstr(err, "Upgrade: websocket"));
    snprintf(head, sizeof head, "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 10\r\n\r\n");
    assert_int_equal(ws_handshake_check(head, strlen(head), "k", NULL, &status, err, sizeof err), -1);
    assert_int_equal(status, 429);
    assert_int_equal(ws_handshake_check("garbage\r\n\r\n", 11, "k", NULL, &status, err, sizeof err), -1);
    assert_int_equal(status, 0);
    /* the subprotocol: the one asked for, or none; never another */
    snprintf(head, sizeof head, RESP("Sec-WebSocket-Protocol: xrpc.v1.json\r\n"));
    assert_int_equal(ws_handshake_check(head, strlen(head), "dGhlIHNhbXBsZSBub25jZQ==", "xrpc.v1.json", &status,
                                        err, sizeof err), 0);
    assert_int_equal(ws_handshake_check(head, strlen(head), "dGhlIHNhbXBsZSBub25jZQ==", NULL, &status, err,
                                        sizeof err), -1);
    assert_int_equal(ws_handshake_check(head, strlen(head), "dGhlIHNhbXBsZSBub25jZQ==", "xrpc.v1", &status, err,
                                        sizeof err), -1);
    assert_non_null(strstr(err, "Sec-WebSocket-Protocol"));
    snprintf(head, sizeof head, RESP(""));
    assert_int_equal(ws_handshake_check(head, strlen(head), "dGhlIHNhbXBsZSBub25jZQ==", "xrpc.v1.json", &status,
                                        err, sizeof err), 0);
    /* a refused upgrade's body is read up to its length */
    snprintf(head, sizeof head, "HTTP/1.1 400 Bad Request\r\ncontent-length:  57\r\n\r\n");
    assert_int_equal(ws_head_content_length(head, strlen(head)), 57);
    snprintf(head, sizeof head, "HTTP/1.1 400 Bad Request\r\nX-Content-Length: 5\r\n\r\n");
    assert_int_equal(ws_head_content_length(head, strlen(head)), -1);

    assert_int_equal(ws_url_parse("wss://jetstream2.us-east.bsky.network/subscribe", &u, err, sizeof err), 0);
    assert_true(u.tls && u.port == 443);
    assert_string_equal(u.host, "jetstream2.us-east.bsky.network");
    assert_string_equal(u.target, "/subscribe");
    assert_int_equal(ws_url_parse("ws://[::1]:6008?x=1", &u, err, sizeof err), 0);
    assert_string_equal(u.host, "::1");
    assert_int_equal(u.port, 6008);
    assert_string_equal(u.target, "/?x=1");
    assert_int_equal(ws_url_parse("http://x/", &u, err, sizeof err), -1);
    assert_int_equal(ws_url_parse("ws://x:0/", &u, err, sizeof err), -1);
    assert_int_equal(ws_url_parse("ws://user@x/", &u, err, sizeof err), -1);
    assert_int_equal(ws_url_parse("ws://x/#frag", &u, err, sizeof err), -1);
    assert_int_equal(ws_url_parse("ws:///x", &u, err, sizeof err), -1);

    buf_init(&req, 4096);
    assert_int_equal(ws_url_parse("ws://[::1]:6008/subscribe?wantedCollections=app.bsky.feed.post", &u, err,
                                  sizeof err), 0);
    assert_int_equal(ws_handshake_request(&req, &u, key, "mentiond/test", "xrpc.v1.json", hdrs), 0);
    assert_non_null(strstr(req.data, "GET /subscribe?wantedCollections=app.bsky.feed.post HTTP/1.1\r\n"));
    assert_non_null(strstr(req.data, "Host: [::1]:6008\r\n"));
    assert_non_null(strstr(req.data, "Sec-WebSocket-Version: 13\r\n"));
    assert_non_null(strstr(req.data, "Sec-WebSocket-Protocol: xrpc.v1.json\r\n"));
    assert_non_null(strstr(req.data, "X-Test: 1\r\n\r\n"));
    buf_free(&req);
}

/* Client frames are masked (RFC 6455 5.3) and carry the payload. */
static void encode_masked(void **state)
{
    struct buf b;
    const unsigned char mask[4] = {0x37, 0xfa, 0x21, 0x3d};
    char payload[70000];
    (void)state;

    buf_init(&b, 1 << 20);
    assert_int_equal(ws_frame_encode(&b, WS_TEXT, "Hello", 5, mask), 0);
    /* RFC 6455 5.7: a masked "Hello". */
    assert_memory_equal(b.data, "\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58", 11);
    buf_reset(&b);
    memset(payload, 'q', sizeof payload);
    assert_int_equal(ws_frame_encode(&b, WS_BINARY, payload, sizeof payload, NULL), 0);
    assert_int_equal(b.len, 2 + 8 + 4 + sizeof payload);
    assert_int_equal((unsigned char)b.data[1], 0x80 | 127);
    for (size_t i = 0; i < sizeof payload; i++)
        assert_int_equal(b.data[14 + i] ^ b.data[10 + (i & 3)], 'q');
    buf_reset(&b);
    assert_int_equal(ws_frame_encode(&b, WS_PING, payload, 126, NULL), -1);   /* control cap */
    assert_int_equal(ws_close_encode(&b, 1001, "client stopping"), 0);
    assert_int_equal((unsigned char)b.data[0], 0x88);
    assert_int_equal((b.data[6] ^ b.data[2]) & 0xff, 0x03);
    assert_int_equal((b.data[7] ^ b.data[3]) & 0xff, 0xe9);
    buf_free(&b);
}

/* zstd: plain frames, the cap, corrupt input; the Jetstream dictionary
 * from the corpus when it is there. */
static void zstd_frames(void **state)
{
    char err[200], in[4096], comp[8192];
    const char *out;
    size_t outlen, n;
    struct zdec *z;
    (void)state;

    for (size_t i = 0; i < sizeof in; i++)
        in[i] = "{\"did\":\"did:plc:"[i % 16];
    n = ZSTD_compress(comp, sizeof comp, in, sizeof in, 3);
    assert_false(ZSTD_isError(n));
    z = zdec_new(NULL, 8192, err, sizeof err);
    assert_non_null(z);
    assert_int_equal(zdec_frame(z, comp, n, &out, &outlen, err, sizeof err), ZDEC_OK);
    assert_int_equal(outlen, sizeof in);
    assert_memory_equal(out, in, sizeof in);
    assert_int_equal(zdec_frame(z, "not zstd", 8, &out, &outlen, err, sizeof err), ZDEC_CORRUPT);
    /* Cut short (a frame without a checksum can hide a flipped byte, not
     * a missing end). */
    assert_int_equal(zdec_frame(z, comp, n - 3, &out, &outlen, err, sizeof err), ZDEC_CORRUPT);
    assert_non_null(strstr(err, "zstd: "));
    zdec_free(z);
    n = ZSTD_compress(comp, sizeof comp, in, sizeof in, 3);
    z = zdec_new(NULL, 1000, err, sizeof err);     /* 4096 bytes do not fit */
    assert_int_equal(zdec_frame(z, comp, n, &out, &outlen, err, sizeof err), ZDEC_TOOBIG);
    zdec_free(z);
    assert_null(zdec_new("/nonexistent/dict", 1000, err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/dict"));
}

static void zstd_jetstream_dictionary(void **state)
{
    char path[4200], err[300], comp[65536];
    const char *out;
    size_t outlen, n, dlen;
    struct zdec *z;
    FILE *f;
    char *dict, *line = NULL;
    size_t cap = 0;
    ZSTD_CDict *cd;
    ZSTD_CCtx *cc;
    int lines = 0;
    (void)state;

    SKIP_WITHOUT_CORPUS();
    snprintf(path, sizeof path, "%s/bluesky-jetstream/legacy_subscribe.zdict", corpus_dir());
    z = zdec_new(path, 1 << 20, err, sizeof err);
    assert_non_null(z);
    assert_int_equal(zdec_dict_id(z), 1612007021u);            /* source-protocols.md */
    f = fopen(path, "rb");
    dict = malloc(200000);
    dlen = fread(dict, 1, 200000, f);
    fclose(f);
    cd = ZSTD_createCDict(dict, dlen, 3);
    cc = ZSTD_createCCtx();
    snprintf(path, sizeof path, "%s/bluesky-jetstream/corpus-expected_v1.jsonl", corpus_dir());
    f = fopen(path, "r");
    assert_non_null(f);
    while (getline(&line, &cap, f) > 0) {
        size_t len = strcspn(line, "\n");
        n = ZSTD_compress_usingCDict(cc, comp, sizeof comp, line, len, cd);
        assert_false(ZSTD_isError(n));
        assert_int_equal(zdec_frame(z, comp, n, &out, &outlen, err, sizeof err), ZDEC_OK);
        assert_int_equal(outlen, len);
        assert_memory_equal(out, line, len);
        lines++;
    }
    assert_int_equal(lines, 152);
    free(line);
    fclose(f);
    ZSTD_freeCDict(cd);
    ZSTD_freeCCtx(cc);
    free(dict);
    zdec_free(z);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(split_everywhere),
        cmocka_unit_test(oversize_skipped),
        cmocka_unit_test(protocol_errors),
        cmocka_unit_test(utf8_rules),
        cmocka_unit_test(handshake),
        cmocka_unit_test(encode_masked),
        cmocka_unit_test(zstd_frames),
        cmocka_unit_test(zstd_jetstream_dictionary),
    };
    return cmocka_run_group_tests_name("ws", tests, NULL, NULL);
}
