/* libFuzzer target: the three framers (lines, length prefixes, SSE), as a
 * differential test: the records of a stream do not depend on how it is
 * cut into chunks (whole, at a fuzzed point, or byte by byte), none is
 * longer than the cap, and the framer's buffers stay within their caps. */
#include "framing.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define FZ_MAX 256

struct fz_out {
    uint64_t h, n;
};

static int fz_rec(void *ctx, const char *rec, size_t len, uint64_t off)
{
    struct fz_out *o = ctx;

    (void)off;
    if (len > FZ_MAX + FRAMING_SSE_MAX_EVENT + 1)
        abort();                                /* a record past the cap */
    o->n++;
    o->h = (o->h ^ len) * 1099511628211ull;
    for (size_t i = 0; i < len; i++)
        o->h = (o->h ^ (unsigned char)rec[i]) * 1099511628211ull;
    o->h = (o->h ^ 0xff) * 1099511628211ull;
    return 0;
}

static struct fz_out fz_run(enum framing_mode mode, const char *p, size_t n, size_t step)
{
    struct framer f;
    struct fz_out o = {.h = 14695981039346656037ull};

    framer_init(&f, FZ_MAX);
    framer_set_mode(&f, mode);
    for (size_t i = 0; i < n; i += step)
        framer_feed(&f, p + i, n - i < step ? n - i : step, fz_rec, &o);
    if (f.pending.alloc > FZ_MAX + 128 || f.sse.alloc > FZ_MAX + FRAMING_SSE_MAX_EVENT + 2)
        abort();
    framer_finish(&f, 0, fz_rec, &o);
    framer_free(&f);
    return o;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    enum framing_mode mode;
    struct fz_out whole, cut, drip;
    size_t step;

    if (size < 2)
        return 0;
    mode = (enum framing_mode)(data[0] % 3);
    step = 1 + data[1] % 97;
    whole = fz_run(mode, (const char *)data + 2, size - 2, size);
    cut = fz_run(mode, (const char *)data + 2, size - 2, step);
    drip = fz_run(mode, (const char *)data + 2, size - 2, 1);
    if (whole.n != cut.n || whole.h != cut.h || whole.n != drip.n || whole.h != drip.h)
        abort();                                /* the chunking changed the records */
    return 0;
}
