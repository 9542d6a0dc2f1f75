/* decode: turn one framed record into zero or more normalised posts.
 *
 * Each source type has a decoder (decode_x.c, decode_ndjson.c, ...) behind
 * this one interface, so sources, replay and tests share them.  A decoder
 * owns the arena its posts point into; posts are valid only during the
 * callback.  Return codes say what the record was, so the caller counts it:
 *   DECODE_OK         a post record (posts emitted through fn)
 *   DECODE_CONTROL    a control message (in-stream error, disconnect notice):
 *                     err describes it, for the log
 *   DECODE_SKIP       valid but not a post (unknown message type)
 *   DECODE_MALFORMED  bad JSON or a post missing required fields: err says
 *                     why, with the byte offset inside the record
 */
#ifndef MENTIOND_DECODE_H
#define MENTIOND_DECODE_H

#include "config.h"
#include "json.h"
#include "post.h"

#include <stddef.h>
#include <stdint.h>

enum decode_ret { DECODE_OK = 0, DECODE_CONTROL = 1, DECODE_SKIP = 2, DECODE_MALFORMED = -1 };

typedef void (*decode_post_fn)(void *ctx, struct post *p);

struct decoder;

struct decoder_ops {
    const char *name;
    struct decoder *(*create)(const struct source_conf *sc);
    void (*destroy)(struct decoder *d);
    enum decode_ret (*decode)(struct decoder *d, const char *rec, size_t len,
                              decode_post_fn fn, void *ctx, char *err, size_t errlen);
    /* Optional: transport facts the format needs ("content_type"). */
    void (*hint)(struct decoder *d, const char *key, const char *val);
    /* Optional: the stream position reached (Jetstream: the highest
     * time_us seen), 0 if none; a source resumes from it. */
    uint64_t (*position)(struct decoder *d);
    /* Optional: 1, once, after the stream said events before this point
     * may be missing (Jetstream v2's #info OutdatedCursor, FutureCursor). */
    int (*moved)(struct decoder *d);
};

/* What every JSON decoder begins with (its struct's first member): the
 * streaming reader and the arena its posts' strings live in. */
struct json_decoder {
    struct json_reader *reader;
    struct arena arena;
};
/* A decoder of size bytes, zeroed, whose first member is a struct
 * json_decoder: its reader (sc's max_depth, events to fn with the decoder)
 * and an arena of arena_records times sc's max_record plus 4 KiB (strings
 * copied out of a record never exceed it, plus a NUL each; a decoder that
 * also makes text from HTML needs more).  sc may be NULL (defaults).  NULL
 * without memory. */
void *json_decoder_new(size_t size, const struct source_conf *sc, json_event_fn fn, size_t arena_records);
/* Frees the reader, the arena and the decoder itself (jd is its start):
 * the last call of a decoder's destroy. */
void json_decoder_free(struct json_decoder *jd);

/* A string or number value copied into the arena (NULL for other types).
 * When the arena is full, *reject says so and NULL is returned. */
struct json_event;
const char *decode_str(struct arena *a, const struct json_event *ev, const char **reject);

/* The decoder for a format name ("x_v2", "ndjson": the source types' names,
 * source_driver.h); NULL if unknown or not a format (file). */
const struct decoder_ops *decoder_find(const char *format);

/* Convenience wrappers that keep the ops with the instance. */
struct decoder_inst {
    const struct decoder_ops *ops;
    struct decoder *d;
};
int decoder_open(struct decoder_inst *di, const char *format, const struct source_conf *sc);
void decoder_close(struct decoder_inst *di);
static inline void decoder_hint(struct decoder_inst *di, const char *key, const char *val)
{
    if (di->ops->hint)
        di->ops->hint(di->d, key, val);
}
static inline uint64_t decoder_position(const struct decoder_inst *di)
{
    return di->ops->position ? di->ops->position(di->d) : 0;
}
static inline int decoder_moved(const struct decoder_inst *di)
{
    return di->ops->moved ? di->ops->moved(di->d) : 0;
}
static inline enum decode_ret decoder_run(struct decoder_inst *di, const char *rec, size_t len,
                                          decode_post_fn fn, void *ctx, char *err, size_t errlen)
{
    return di->ops->decode(di->d, rec, len, fn, ctx, err, errlen);
}

extern const struct decoder_ops decode_x_v2_ops;
extern const struct decoder_ops decode_ndjson_ops;
extern const struct decoder_ops decode_x_v1_ops;
extern const struct decoder_ops decode_mastodon_ops;
extern const struct decoder_ops decode_sse_ops;
extern const struct decoder_ops decode_rss_ops;
extern const struct decoder_ops decode_jetstream_ops;

#endif
