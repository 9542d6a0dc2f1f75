/* libFuzzer target: the WebSocket frame parser (ws.c), differentially.
 * The same bytes are fed whole, split at an input-chosen point, and one
 * byte at a time; messages, control frames, the error (if any) and its
 * offset must be identical, and the message cap (chosen by the first byte,
 * small so oversize paths run) must hold.  The handshake checker gets the
 * input as a response head too. */
#include "buf.h"
#include "ws.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct trace {
    struct buf log;
    size_t cap;
};

static int t_msg(void *ctx, int op, const char *p, size_t n)
{
    struct trace *t = ctx;
    if (n > t->cap)
        abort();                        /* the cap was not honoured */
    buf_printf(&t->log, "M%d:%zu:", op, n);
    buf_append(&t->log, p, n);
    return 0;
}

static void t_over(void *ctx, uint64_t size)
{
    struct trace *t = ctx;
    if (size <= t->cap)
        abort();
    buf_printf(&t->log, "O:%llu|", (unsigned long long)size);
}

static int t_ctl(void *ctx, int op, const unsigned char *p, size_t n)
{
    struct trace *t = ctx;
    buf_printf(&t->log, "C%d:%zu:", op, n);
    buf_append(&t->log, p, n);
    return op == WS_CLOSE;
}

static const struct ws_parser_cbs cbs = {t_msg, t_over, t_ctl};

static void run(const uint8_t *d, size_t n, size_t cap, size_t piece, struct trace *t)
{
    struct ws_parser p;
    size_t off = 0;
    int r = 0;

    buf_init(&t->log, 1 << 20);
    t->cap = cap;
    ws_parser_init(&p, cap);
    while (off < n && r == 0) {
        size_t k = piece && piece < n - off ? piece : n - off;
        r = ws_parser_feed(&p, (const char *)d + off, k, &cbs, t);
        off += k;
    }
    buf_printf(&t->log, "|r=%d code=%d err=%s", r, p.close_code, p.err);
    if (p.msg.alloc > cap + 64)
        abort();                        /* grew past the cap */
    ws_parser_free(&p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct trace a, b, c;
    size_t cap, cut;
    long status;
    char err[200];

    if (size < 2)
        return 0;
    cap = 16 + data[0];
    cut = 1 + data[1] % (size - 1);
    data += 2;
    size -= 2;
    run(data, size, cap, 0, &a);
    run(data, size, cap, cut, &b);
    run(data, size, cap, 1, &c);
    if (a.log.len != b.log.len || memcmp(a.log.data, b.log.data, a.log.len) != 0 || a.log.len != c.log.len ||
        memcmp(a.log.data, c.log.data, a.log.len) != 0) {
        fprintf(stderr, "split changed the result:\n whole: %s\n split: %s\n bytes: %s\n", a.log.data,
                b.log.data, c.log.data);
        abort();
    }
    buf_free(&a.log);
    buf_free(&b.log);
    buf_free(&c.log);
    ws_handshake_check((const char *)data, size, "dGhlIHNhbXBsZSBub25jZQ==", "xrpc.v1.json", &status, err, sizeof err);
    ws_head_content_length((const char *)data, size);
    return 0;
}
