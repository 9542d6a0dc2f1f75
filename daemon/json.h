/* json: the one module that talks to yajl.
 *
 * Reader: a streaming (SAX) parse of one JSON document per call that reports
 * every value together with its JSON pointer ("/includes/users/0/id"), so
 * decoders select fields by pointer and never build a tree.  Nesting deeper
 * than max_depth is rejected; numbers are delivered as their source text so
 * 64-bit ids never lose precision.  yajl errors are sticky in 2.1.0, so after
 * an error the handle is replaced before the next document.
 *
 * Writer: a thin yajl_gen wrapper for alerts, with UTF-8 validation on.  The
 * first error is remembered and reported by jw_finish().
 *
 * Ownership: event strings (ptr, val) are valid only during the callback.
 */
#ifndef MENTIOND_JSON_H
#define MENTIOND_JSON_H

#include <stddef.h>
#include <stdint.h>

#define JSON_DEFAULT_MAX_DEPTH 64
#define JSON_MAX_POINTER 1024
#define JSON_MAX_STRING (192u * 1024u * 1024u)  /* a cleaned string value (3 x the largest record) */

enum json_type {
    JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING,
    JSON_MAP_START, JSON_MAP_END, JSON_ARRAY_START, JSON_ARRAY_END,
};

struct json_event {
    enum json_type type;
    const char *ptr;            /* JSON pointer of the value, NUL-terminated */
    size_t ptr_len;
    int depth;                  /* 0 for the top-level value */
    const char *val;            /* STRING/NUMBER text (not NUL-terminated) */
    size_t val_len;
    int boolean;                /* BOOL */
    const char **reject;        /* set *reject to say why, then return non-zero */
};

/* Return 0 to continue, non-zero to abort the document with an error; for
 * MAP_START and ARRAY_START, JSON_SKIP to hear nothing of that container's
 * contents nor its end (the field allow-list: yajl still checks the syntax
 * and the nesting limit still applies, but no pointer is built). */
#define JSON_SKIP 2
typedef int (*json_event_fn)(void *ctx, const struct json_event *ev);

struct json_reader;

struct json_reader *json_reader_new(int max_depth, json_event_fn fn, void *ctx);
void json_reader_free(struct json_reader *r);
/* Parse exactly one JSON document.  Returns 0, or -1 with err naming the
 * byte offset and the reason. */
int json_reader_parse(struct json_reader *r, const char *p, size_t n, char *err, size_t errlen);

/* String values reach the callback without control characters: each C0
 * control but tab and newline is replaced by U+FFFD (a CR by a newline, a
 * CR LF by LF).  How many were replaced since the last call. */
unsigned json_reader_take_controls(struct json_reader *r);

/* After "/<digits>" at p (an array index): the rest, or NULL. */
const char *json_ptr_skip_index(const char *p);

/* Compare a pointer with a pattern in which "*" matches one segment. */
int json_ptr_match(const char *ptr, const char *pattern);

struct json_writer;

struct json_writer *jw_new(void);
void jw_free(struct json_writer *w);
void jw_reset(struct json_writer *w);           /* start a new document */
void jw_map_open(struct json_writer *w);
void jw_map_close(struct json_writer *w);
void jw_array_open(struct json_writer *w);
void jw_array_close(struct json_writer *w);
void jw_key(struct json_writer *w, const char *key);
void jw_str(struct json_writer *w, const char *s);         /* NULL -> null */
void jw_strn(struct json_writer *w, const char *s, size_t n);
void jw_int(struct json_writer *w, long long v);
void jw_bool(struct json_writer *w, int v);
void jw_null(struct json_writer *w);
/* "key": value pairs inside a map.  jw_put_time writes the wall-clock
 * milliseconds as "2026-11-22T10:00:00.012Z", or null for 0. */
void jw_put_str(struct json_writer *w, const char *key, const char *s);
void jw_put_int(struct json_writer *w, const char *key, long long v);
/* A count or age: null when negative (unknown). */
void jw_put_count(struct json_writer *w, const char *key, long long v);
void jw_put_time(struct json_writer *w, const char *key, uint64_t epoch_ms);
/* Returns 0 and the document (valid until the next writer call), or -1. */
int jw_finish(struct json_writer *w, const char **out, size_t *len);

#endif
