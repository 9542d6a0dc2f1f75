/* framing: newline record framing with a cap; see framing.h. */
#include "framing.h"

#include <string.h>

void framer_init(struct framer *f, size_t max_record)
{
    memset(f, 0, sizeof *f);
    f->max_record = max_record ? max_record : FRAMING_DEFAULT_MAX_RECORD;
    /* +1: room for a '\r' that is stripped after the record is complete. */
    buf_init(&f->pending, f->max_record + 1);
}

void framer_free(struct framer *f)
{
    buf_free(&f->pending);
}

void framer_reset(struct framer *f)
{
    buf_reset(&f->pending);
    f->skipping = 0;
}

/* Deliver one complete record (without its '\n'), or count a keep-alive. */
static int framer_emit(struct framer *f, const char *rec, size_t len, uint64_t off,
                       framer_record_fn fn, void *ctx)
{
    if (len && rec[len - 1] == '\r')
        len--;
    if (len == 0) {
        f->stats.keepalives++;
        return 0;
    }
    if (len > f->max_record) {
        f->stats.oversized++;
        return 0;
    }
    f->stats.records++;
    return fn(ctx, rec, len, off);
}

int framer_feed(struct framer *f, const char *p, size_t n, framer_record_fn fn, void *ctx)
{
    const char *end = p + n;
    int rc;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t seg = nl ? (size_t)(nl - p) : (size_t)(end - p);
        uint64_t seg_off = f->offset;

        f->offset += seg + (nl ? 1 : 0);
        if (f->skipping) {
            if (nl)
                f->skipping = 0;
            p += seg + (nl ? 1 : 0);
            continue;
        }
        if (!nl) {
            if (f->pending.len == 0)
                f->record_start = seg_off;
            if (buf_append(&f->pending, p, seg) != BUF_OK) {
                f->stats.oversized++;
                buf_reset(&f->pending);
                f->skipping = 1;
            }
            return 0;
        }
        if (f->pending.len == 0) {
            /* Whole record inside this chunk: no copy. */
            rc = framer_emit(f, p, seg, seg_off, fn, ctx);
        } else if (buf_append(&f->pending, p, seg) != BUF_OK) {
            f->stats.oversized++;
            buf_reset(&f->pending);
            rc = 0;
        } else {
            rc = framer_emit(f, f->pending.data, f->pending.len, f->record_start, fn, ctx);
            buf_reset(&f->pending);
        }
        p = nl + 1;
        if (rc)
            return rc;
    }
    return 0;
}

int framer_finish(struct framer *f, int deliver_partial, framer_record_fn fn, void *ctx)
{
    int rc = 0;

    if (f->pending.len) {
        if (deliver_partial)
            rc = framer_emit(f, f->pending.data, f->pending.len, f->record_start, fn, ctx);
        else
            f->stats.truncated++;
    } else if (f->skipping && !deliver_partial) {
        f->stats.truncated++;
    }
    framer_reset(f);
    return rc;
}
