/* framing: cut a byte stream into records.
 *
 * Newline framing (NDJSON, X v2, X v1.1 CRLF): a record ends at '\n'; a
 * trailing '\r' is dropped; blank lines are keep-alives and are counted, not
 * delivered.  A record longer than max_record is skipped up to the next
 * newline and counted as oversized, so one bad record never desynchronises
 * the stream and never grows memory past the cap.
 *
 * Records that lie whole inside one fed chunk are delivered without a copy;
 * the pointer passed to the callback is valid only during the callback.
 * Owner: the source that feeds it; framer_free() releases the buffer.
 */
#ifndef MENTIOND_FRAMING_H
#define MENTIOND_FRAMING_H

#include "buf.h"

#include <stdint.h>

#define FRAMING_DEFAULT_MAX_RECORD (1024u * 1024u)

/* Called for each complete record; offset is the stream offset of its first
 * byte.  Return 0 to continue, non-zero to stop feeding (returned by feed). */
typedef int (*framer_record_fn)(void *ctx, const char *rec, size_t len, uint64_t offset);

struct framer_stats {
    uint64_t records;
    uint64_t keepalives;
    uint64_t oversized;
    uint64_t truncated;         /* partial record at end of stream */
};

struct framer {
    struct buf pending;         /* bytes of a record split across chunks */
    size_t max_record;
    int skipping;               /* discarding an oversized record */
    uint64_t offset;            /* stream offset of the next fed byte */
    uint64_t record_start;      /* stream offset of the pending record */
    struct framer_stats stats;
};

void framer_init(struct framer *f, size_t max_record);
void framer_free(struct framer *f);
/* Forget any partial record (new connection); stats and offset continue. */
void framer_reset(struct framer *f);
int framer_feed(struct framer *f, const char *p, size_t n, framer_record_fn fn, void *ctx);
/* End of input.  A final record without a newline is delivered if
 * deliver_partial (files), else counted as truncated (a cut connection). */
int framer_finish(struct framer *f, int deliver_partial, framer_record_fn fn, void *ctx);

#endif
