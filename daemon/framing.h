/* framing: cut a byte stream into records.
 *
 * Three framings, chosen per source:
 *
 *  - FRAMING_LINES (NDJSON, X v2, X v1.1 CRLF): a record ends at '\n'; a
 *    trailing '\r' is dropped; blank lines are keep-alives and are counted,
 *    not delivered.
 *  - FRAMING_LENGTH (X v1.1 delimited=length): a line holding a decimal byte
 *    count precedes each record; blank lines before it are keep-alives.  The
 *    count includes the record's own CRLF, which is stripped.  A line that is
 *    not a count is garbage: counted, skipped, and framing resumes at the
 *    next line.
 *  - FRAMING_SSE (Mastodon, generic server-sent events): "field: value"
 *    lines, comments (":thump") counted as keep-alives, multi-line data
 *    joined with '\n', an event dispatched at a blank line.  The record
 *    handed on is "<event name>\n<data>" (name "message" when none was
 *    given), so decoders see the event type without a second channel.  The
 *    last "id:" is kept for Last-Event-ID on reconnect; a line ended by a
 *    bare '\r' is not recognised (no server we speak sends one).
 *  - FRAMING_DOCUMENT (polled feeds: RSS/Atom): the whole input is one
 *    record, delivered by framer_finish(); past max_record it is counted as
 *    oversized and dropped.
 *
 * A record longer than max_record is skipped (up to the next newline, the
 * end of its counted body, or the end of its event) and counted as
 * oversized, so one bad record never desynchronises the stream and never
 * grows memory past the cap.  Lines and counted bodies that lie whole inside
 * one fed chunk are delivered without a copy; the pointer passed to the
 * callback is valid only during the callback.
 * Owner: the source that feeds it; framer_free() releases the buffers.
 */
#ifndef MENTIOND_FRAMING_H
#define MENTIOND_FRAMING_H

#include "buf.h"

#include <stdint.h>

#define FRAMING_DEFAULT_MAX_RECORD (1024u * 1024u)
#define FRAMING_SSE_MAX_EVENT 64        /* event name bytes kept */
#define FRAMING_SSE_MAX_ID 256          /* last event id bytes kept */

enum framing_mode { FRAMING_LINES, FRAMING_LENGTH, FRAMING_SSE, FRAMING_DOCUMENT };

/* Called for each complete record; offset is the stream offset of its first
 * byte.  Return 0 to continue, non-zero to stop feeding (returned by feed). */
typedef int (*framer_record_fn)(void *ctx, const char *rec, size_t len, uint64_t offset);

struct framer_stats {
    uint64_t records;
    uint64_t keepalives;        /* blank lines, SSE comments */
    uint64_t oversized;
    uint64_t truncated;         /* partial record at end of stream */
    uint64_t garbage;           /* length mode: a line that is not a count */
};

struct framer {
    enum framing_mode mode;
    struct buf pending;         /* bytes of a line or body split across chunks */
    size_t max_record;
    int skipping;               /* discarding an oversized line */
    uint64_t offset;            /* stream offset of the next fed byte */
    uint64_t record_start;      /* stream offset of the pending record */
    /* FRAMING_LENGTH */
    int in_body;                /* reading a counted body */
    int body_skip;              /* ... of an oversized record */
    size_t want;                /* body bytes still to come */
    /* FRAMING_SSE */
    struct buf sse;             /* data lines of the event being read */
    char sse_event[FRAMING_SSE_MAX_EVENT];
    int sse_has_data, sse_skip;
    uint64_t sse_start;
    char sse_last_id[FRAMING_SSE_MAX_ID];
    long sse_retry_ms;          /* from "retry:", -1 if never sent */
    struct framer_stats stats;
    uint64_t oversized_at;      /* stream offset of the last oversized record */
};

void framer_init(struct framer *f, size_t max_record);
/* Choose the framing (default FRAMING_LINES) before the first feed. */
void framer_set_mode(struct framer *f, enum framing_mode mode);
void framer_free(struct framer *f);
/* Forget any partial record (new connection); stats, offset and the SSE
 * last event id continue. */
void framer_reset(struct framer *f);
int framer_feed(struct framer *f, const char *p, size_t n, framer_record_fn fn, void *ctx);
/* End of input.  A final record without its terminator is delivered if
 * deliver_partial (files), else counted as truncated (a cut connection). */
int framer_finish(struct framer *f, int deliver_partial, framer_record_fn fn, void *ctx);
/* "lines", "length", "sse", "document" -> mode; -1 if unknown. */
int framing_mode_parse(const char *name);
const char *framing_mode_name(enum framing_mode m);

#endif
