/* framing: line, length-prefixed and SSE record framing with caps; see
 * framing.h. */
#include "framing.h"

#include <stdlib.h>
#include <string.h>

/* Room in the line buffer past max_record: the "data: " of an SSE line,
 * the CRLF counted in a length-prefixed body. */
#define SSE_LINE_SLACK 80

void framer_init(struct framer *f, size_t max_record)
{
    memset(f, 0, sizeof *f);
    f->max_record = max_record ? max_record : FRAMING_DEFAULT_MAX_RECORD;
    f->sse_retry_ms = -1;
    /* +1: room for a '\r' that is stripped after the record is complete. */
    buf_init(&f->pending, f->max_record + 1);
    buf_init(&f->sse, 0);
}

void framer_set_mode(struct framer *f, enum framing_mode mode)
{
    f->mode = mode;
    buf_free(&f->pending);
    buf_free(&f->sse);
    if (mode == FRAMING_SSE) {
        buf_init(&f->pending, f->max_record + SSE_LINE_SLACK);
        buf_init(&f->sse, f->max_record + FRAMING_SSE_MAX_EVENT + 1);
    } else {
        buf_init(&f->pending, f->max_record + 2);
        buf_init(&f->sse, 0);
    }
}

void framer_free(struct framer *f)
{
    buf_free(&f->pending);
    buf_free(&f->sse);
}

/* A record over max_record: counted, and where it began (for the log). */
static void framer_oversized(struct framer *f, uint64_t start)
{
    f->stats.oversized++;
    f->oversized_at = start;
}

static void sse_clear_event(struct framer *f)
{
    buf_reset(&f->sse);
    f->sse_event[0] = '\0';
    f->sse_has_data = 0;
    f->sse_skip = 0;
}

void framer_reset(struct framer *f)
{
    buf_reset(&f->pending);
    f->skipping = 0;
    f->in_body = 0;
    f->body_skip = 0;
    f->want = 0;
    sse_clear_event(f);
}

int framing_mode_parse(const char *name)
{
    if (strcmp(name, "lines") == 0)
        return FRAMING_LINES;
    if (strcmp(name, "length") == 0)
        return FRAMING_LENGTH;
    if (strcmp(name, "sse") == 0)
        return FRAMING_SSE;
    if (strcmp(name, "document") == 0)
        return FRAMING_DOCUMENT;
    return -1;
}

const char *framing_mode_name(enum framing_mode m)
{
    static const char *const names[] = {"lines", "length", "sse", "document"};
    return m <= FRAMING_DOCUMENT ? names[m] : "?";
}

/* Deliver one complete record, or count a keep-alive. */
static int framer_emit(struct framer *f, const char *rec, size_t len, uint64_t off,
                       framer_record_fn fn, void *ctx)
{
    if (len == 0) {
        f->stats.keepalives++;
        return 0;
    }
    if (len > f->max_record) {
        framer_oversized(f, off);
        return 0;
    }
    f->stats.records++;
    return fn(ctx, rec, len, off);
}

/* ---- FRAMING_LENGTH ---- */

static void length_line(struct framer *f, const char *line, size_t len)
{
    unsigned long long v = 0;

    if (len == 0) {
        f->stats.keepalives++;
        return;
    }
    if (len > 10) {
        f->stats.garbage++;
        return;
    }
    for (size_t i = 0; i < len; i++) {
        if (line[i] < '0' || line[i] > '9') {
            f->stats.garbage++;
            return;
        }
        v = v * 10 + (unsigned)(line[i] - '0');
    }
    if (v == 0) {
        f->stats.keepalives++;
        return;
    }
    f->want = (size_t)v;
    f->in_body = 1;
    f->record_start = f->offset;
    /* The count includes the record's CRLF. */
    f->body_skip = v > f->max_record + 2;
    if (f->body_skip)
        framer_oversized(f, f->record_start);
}

static int length_emit(struct framer *f, const char *rec, size_t len, framer_record_fn fn, void *ctx)
{
    while (len && (rec[len - 1] == '\n' || rec[len - 1] == '\r'))
        len--;
    return framer_emit(f, rec, len, f->record_start, fn, ctx);
}

static int take_body(struct framer *f, const char **pp, const char *end, framer_record_fn fn, void *ctx)
{
    const char *p = *pp;
    size_t avail = (size_t)(end - p), take = avail < f->want ? avail : f->want;
    int rc = 0;

    *pp = p + take;
    f->offset += take;
    f->want -= take;
    if (!f->body_skip) {
        if (f->pending.len == 0 && f->want == 0)
            rc = length_emit(f, p, take, fn, ctx);      /* whole body in this chunk */
        else if (buf_append(&f->pending, p, take) != BUF_OK)
            f->body_skip = 1;                           /* cannot happen: count <= cap */
        else if (f->want == 0)
            rc = length_emit(f, f->pending.data, f->pending.len, fn, ctx);
    }
    if (f->want == 0) {
        f->in_body = 0;
        f->body_skip = 0;
        buf_reset(&f->pending);
    }
    return rc;
}

/* ---- FRAMING_SSE ---- */

static int sse_dispatch(struct framer *f, framer_record_fn fn, void *ctx)
{
    const char *name = f->sse_event[0] ? f->sse_event : "message";
    size_t nl = strlen(name) + 1, old = f->sse.len;
    int rc = 0;

    if (f->sse_skip || !f->sse_has_data) {
        sse_clear_event(f);
        return 0;
    }
    /* Prefix the event name: grow by its length, then shift the data. */
    if (buf_append(&f->sse, name, nl) != BUF_OK) {
        framer_oversized(f, f->sse_start);
    } else {
        memmove(f->sse.data + nl, f->sse.data, old);
        memcpy(f->sse.data, name, nl - 1);
        f->sse.data[nl - 1] = '\n';
        f->stats.records++;
        rc = fn(ctx, f->sse.data, f->sse.len, f->sse_start);
    }
    sse_clear_event(f);
    return rc;
}

static void sse_data(struct framer *f, const char *v, size_t vlen)
{
    if (f->sse_skip)
        return;
    if ((f->sse_has_data && buf_appendc(&f->sse, '\n') != BUF_OK) ||
        buf_append(&f->sse, v, vlen) != BUF_OK || f->sse.len > f->max_record) {
        framer_oversized(f, f->sse_start);
        f->sse_skip = 1;
        return;
    }
    f->sse_has_data = 1;
}

static int sse_line(struct framer *f, const char *line, size_t len, uint64_t off,
                    framer_record_fn fn, void *ctx)
{
    const char *colon, *v;
    size_t flen, vlen;

    if (len == 0)
        return sse_dispatch(f, fn, ctx);
    if (line[0] == ':') {
        f->stats.keepalives++;                  /* ":)" on connect, ":thump" */
        return 0;
    }
    if (!f->sse_has_data && !f->sse_skip && !f->sse_event[0])
        f->sse_start = off;
    colon = memchr(line, ':', len);
    flen = colon ? (size_t)(colon - line) : len;
    v = colon ? colon + 1 : line + len;
    vlen = (size_t)(line + len - v);
    if (vlen && *v == ' ') {
        v++;
        vlen--;
    }
    if (flen == 5 && memcmp(line, "event", 5) == 0) {
        if (vlen >= sizeof f->sse_event)
            vlen = sizeof f->sse_event - 1;
        memcpy(f->sse_event, v, vlen);
        f->sse_event[vlen] = '\0';
    } else if (flen == 4 && memcmp(line, "data", 4) == 0) {
        sse_data(f, v, vlen);
    } else if (flen == 2 && memcmp(line, "id", 2) == 0) {
        if (!memchr(v, '\0', vlen) && vlen < sizeof f->sse_last_id) {
            memcpy(f->sse_last_id, v, vlen);
            f->sse_last_id[vlen] = '\0';
        }
    } else if (flen == 5 && memcmp(line, "retry", 5) == 0 && vlen > 0 && vlen < 10 &&
               strspn(v, "0123456789") >= vlen) {
        f->sse_retry_ms = strtol(v, NULL, 10);
    }
    return 0;                                   /* other fields are ignored */
}

/* ---- lines, shared by all modes ---- */

static int framer_line(struct framer *f, const char *line, size_t len, uint64_t off,
                       framer_record_fn fn, void *ctx)
{
    if (len && line[len - 1] == '\r')
        len--;
    switch (f->mode) {
    case FRAMING_LENGTH:
        length_line(f, line, len);
        return 0;
    case FRAMING_SSE:
        return sse_line(f, line, len, off, fn, ctx);
    case FRAMING_LINES:
    case FRAMING_DOCUMENT:
        break;
    }
    return framer_emit(f, line, len, off, fn, ctx);
}

static void line_too_long(struct framer *f)
{
    buf_reset(&f->pending);
    if (f->mode == FRAMING_LENGTH) {
        f->stats.garbage++;
    } else if (f->mode == FRAMING_SSE) {
        if (!f->sse_skip)
            framer_oversized(f, f->sse_start);
        f->sse_skip = 1;                        /* the whole event goes */
    } else {
        framer_oversized(f, f->record_start);
    }
}

/* Consume bytes up to and including the next '\n'. */
static int take_line(struct framer *f, const char **pp, const char *end, framer_record_fn fn, void *ctx)
{
    const char *p = *pp;
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t seg = nl ? (size_t)(nl - p) : (size_t)(end - p);
    uint64_t seg_off = f->offset;
    int rc;

    f->offset += seg + (nl ? 1 : 0);
    *pp = p + seg + (nl ? 1 : 0);
    if (f->skipping) {
        if (nl)
            f->skipping = 0;
        return 0;
    }
    if (!nl) {
        if (f->pending.len == 0)
            f->record_start = seg_off;
        if (buf_append(&f->pending, p, seg) != BUF_OK) {
            line_too_long(f);
            f->skipping = 1;
        }
        return 0;
    }
    if (f->pending.len == 0) {
        /* Whole line: no copy, but the same cap as a line that was split. */
        if (seg > f->pending.cap) {
            line_too_long(f);
            return 0;
        }
        return framer_line(f, p, seg, seg_off, fn, ctx);
    }
    if (buf_append(&f->pending, p, seg) != BUF_OK) {
        line_too_long(f);
        return 0;
    }
    rc = framer_line(f, f->pending.data, f->pending.len, f->record_start, fn, ctx);
    buf_reset(&f->pending);
    return rc;
}

int framer_feed(struct framer *f, const char *p, size_t n, framer_record_fn fn, void *ctx)
{
    const char *end = p + n;
    int rc = 0;

    if (f->mode == FRAMING_DOCUMENT) {
        if (f->pending.len == 0 && !f->skipping)
            f->record_start = f->offset;
        f->offset += n;
        if (!f->skipping && buf_append(&f->pending, p, n) != BUF_OK) {
            framer_oversized(f, f->record_start);
            f->skipping = 1;
            buf_reset(&f->pending);
        }
        return 0;
    }
    while (p < end && rc == 0) {
        if (f->in_body)
            rc = take_body(f, &p, end, fn, ctx);
        else
            rc = take_line(f, &p, end, fn, ctx);
    }
    return rc;
}

int framer_finish(struct framer *f, int deliver_partial, framer_record_fn fn, void *ctx)
{
    int rc = 0;

    switch (f->mode) {
    case FRAMING_DOCUMENT:
        if (f->pending.len && deliver_partial)
            rc = framer_emit(f, f->pending.data, f->pending.len, f->record_start, fn, ctx);
        else if (f->pending.len)
            f->stats.truncated++;
        break;
    case FRAMING_LINES:
        if (f->pending.len) {
            if (deliver_partial)
                rc = framer_line(f, f->pending.data, f->pending.len, f->record_start, fn, ctx);
            else
                f->stats.truncated++;
        } else if (f->skipping && !deliver_partial) {
            f->stats.truncated++;
        }
        break;
    case FRAMING_LENGTH:
        /* A counted body short of its count is cut, file or not. */
        if (f->in_body || (f->pending.len && strspn(f->pending.data, "0123456789\r") == f->pending.len))
            f->stats.truncated++;
        else if (f->pending.len)
            f->stats.garbage++;
        break;
    case FRAMING_SSE:
        if (f->pending.len && deliver_partial)
            rc = framer_line(f, f->pending.data, f->pending.len, f->record_start, fn, ctx);
        else if (f->pending.len)
            f->sse_has_data = 1;                /* a cut line makes the event partial */
        if (rc == 0 && (f->sse_has_data || f->sse_skip)) {
            if (deliver_partial)
                rc = sse_dispatch(f, fn, ctx);
            else
                f->stats.truncated++;
        }
        break;
    }
    framer_reset(f);
    return rc;
}
