/* json: yajl reader with JSON pointers, yajl_gen writer; see json.h. */
#include "json.h"
#include "buf.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_parse.h>

#define JSON_MAX_DEPTH_HARD 256

struct json_frame {
    size_t ptr_len;             /* pointer length of this container */
    long index;                 /* next array index, or -1 for maps */
};

struct json_reader {
    yajl_handle h;
    json_event_fn fn;
    void *ctx;
    int max_depth;
    int depth;                  /* open containers */
    int skip;                   /* containers open inside one the decoder skipped */
    int docs;                   /* top-level values completed */
    const char *abort_reason;   /* why a callback stopped the parse */
    struct buf clean;           /* a string value with its control characters replaced */
    unsigned controls;          /* replaced since json_reader_take_controls() */
    char ptr[JSON_MAX_POINTER];
    size_t ptr_len;
    struct json_frame stack[JSON_MAX_DEPTH_HARD + 1];
};

/* Before a value inside an array, the pointer gets its index segment. */
static int reader_enter_value(struct json_reader *r)
{
    struct json_frame *top;

    if (r->depth == 0) {
        if (r->docs > 0) {
            r->abort_reason = "more than one JSON value in the record";
            return 0;
        }
        r->ptr_len = 0;
        r->ptr[0] = '\0';
        return 1;
    }
    top = &r->stack[r->depth];
    if (top->index < 0)
        return 1;               /* map: the key callback set the pointer */
    /* The index by hand: snprintf here was a tenth of a post's decoding. */
    {
        char digits[24];
        long v = top->index;
        size_t nd = 0, o = top->ptr_len;
        do
            digits[nd++] = (char)('0' + v % 10);
        while ((v /= 10) > 0);
        if (o + 1 + nd >= sizeof r->ptr) {
            r->abort_reason = "JSON pointer too long";
            return 0;
        }
        r->ptr[o++] = '/';
        while (nd)
            r->ptr[o++] = digits[--nd];
        r->ptr[o] = '\0';
        r->ptr_len = o;
    }
    top->index++;
    return 1;
}

/* 1 to go on, JSON_SKIP (containers only), or 0 to stop the parse. */
static int reader_emit(struct json_reader *r, enum json_type t, const char *v, size_t vl, int b)
{
    struct json_event ev = {
        .type = t, .ptr = r->ptr, .ptr_len = r->ptr_len, .depth = r->depth,
        .val = v, .val_len = vl, .boolean = b, .reject = &r->abort_reason,
    };
    int rc = r->fn(r->ctx, &ev);

    if (rc == JSON_SKIP && (t == JSON_MAP_START || t == JSON_ARRAY_START))
        return JSON_SKIP;
    if (rc) {
        if (!r->abort_reason)
            r->abort_reason = "rejected by the decoder";
        return 0;
    }
    return 1;
}

static int reader_scalar(struct json_reader *r, enum json_type t, const char *v, size_t vl, int b)
{
    if (r->skip)
        return 1;
    if (!reader_enter_value(r))
        return 0;
    if (!reader_emit(r, t, v, vl, b))
        return 0;
    if (r->depth == 0)
        r->docs++;
    return 1;
}

static int cb_null(void *c) { return reader_scalar(c, JSON_NULL, NULL, 0, 0); }
static int cb_bool(void *c, int b) { return reader_scalar(c, JSON_BOOL, NULL, 0, b); }
static int cb_number(void *c, const char *s, size_t l) { return reader_scalar(c, JSON_NUMBER, s, l, 0); }

static int is_control(unsigned char c)
{
    return c < 0x20 && c != '\t' && c != '\n';
}

/* A string with control characters in it: NUL would cut every C string
 * made of it (the rest of a post hidden from matching and from the agent),
 * others hide text.  Each becomes U+FFFD, counted; a CR is a line break
 * (CR LF -> LF, a lone CR -> LF), not counted. */
static int string_cleaned(struct json_reader *r, const unsigned char *s, size_t l)
{
    buf_reset(&r->clean);
    for (size_t i = 0; i < l; i++) {
        int rc;
        if (!is_control(s[i]))
            rc = buf_appendc(&r->clean, (char)s[i]);
        else if (s[i] == '\r')
            rc = i + 1 < l && s[i + 1] == '\n' ? BUF_OK : buf_appendc(&r->clean, '\n');
        else {
            rc = buf_append(&r->clean, "\xEF\xBF\xBD", 3);
            r->controls++;
        }
        if (rc != BUF_OK) {
            r->abort_reason = rc == BUF_NOMEM ? "out of memory" : "string too long";
            return 0;
        }
    }
    return reader_scalar(r, JSON_STRING, r->clean.data ? r->clean.data : "", r->clean.len, 0);
}

/* Whether s holds a control character.  Every string of every record
 * passes here, so eight bytes at a time: a word with no byte below 0x20
 * (the common case) costs a subtraction and two masks; only a word with
 * one (a tab or a newline, mostly) is looked at byte by byte. */
static int has_control(const unsigned char *s, size_t l)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;

    for (; i + 8 <= l; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        if (((x - ones * 0x20) & ~x & highs) == 0)
            continue;                   /* no byte below 0x20 in these eight */
        for (size_t k = i; k < i + 8; k++)
            if (is_control(s[k]))
                return 1;
    }
    for (; i < l; i++)
        if (is_control(s[i]))
            return 1;
    return 0;
}

static int cb_string(void *c, const unsigned char *s, size_t l)
{
    struct json_reader *r = c;

    if (!r->skip && has_control(s, l))
        return string_cleaned(r, s, l);
    return reader_scalar(r, JSON_STRING, (const char *)s, l, 0);
}

unsigned json_reader_take_controls(struct json_reader *r)
{
    unsigned n = r->controls;
    r->controls = 0;
    return n;
}

/* A skipped container is still parsed (yajl checks its syntax) and its
 * depth still counts, but nothing inside it builds a pointer or an event. */
static int reader_open(struct json_reader *r, enum json_type t, long index)
{
    int rc;

    if (r->skip) {
        if (r->depth + r->skip >= r->max_depth) {
            r->abort_reason = "nesting too deep";
            return 0;
        }
        r->skip++;
        return 1;
    }
    if (!reader_enter_value(r))
        return 0;
    if (r->depth >= r->max_depth) {
        r->abort_reason = "nesting too deep";
        return 0;
    }
    if (!(rc = reader_emit(r, t, NULL, 0, 0)))
        return 0;
    if (rc == JSON_SKIP) {
        r->skip = 1;
        return 1;
    }
    r->depth++;
    r->stack[r->depth].ptr_len = r->ptr_len;
    r->stack[r->depth].index = index;
    return 1;
}

static int reader_close(struct json_reader *r, enum json_type t)
{
    if (r->skip) {
        if (--r->skip == 0 && r->depth == 0)
            r->docs++;
        return 1;
    }
    r->ptr_len = r->stack[r->depth].ptr_len;
    r->ptr[r->ptr_len] = '\0';
    r->depth--;
    if (!reader_emit(r, t, NULL, 0, 0))
        return 0;
    if (r->depth == 0)
        r->docs++;
    return 1;
}

static int cb_start_map(void *c) { return reader_open(c, JSON_MAP_START, -1); }
static int cb_end_map(void *c) { return reader_close(c, JSON_MAP_END); }
static int cb_start_array(void *c) { return reader_open(c, JSON_ARRAY_START, 0); }
static int cb_end_array(void *c) { return reader_close(c, JSON_ARRAY_END); }

/* A key sets the last pointer segment, escaped as RFC 6901 says. */
static int cb_map_key(void *c, const unsigned char *k, size_t l)
{
    struct json_reader *r = c;
    size_t base = r->stack[r->depth].ptr_len, o = base;

    if (r->skip)
        return 1;
    if (o + 1 >= sizeof r->ptr)
        goto toolong;
    r->ptr[o++] = '/';
    if (o + l < sizeof r->ptr && !memchr(k, '~', l) && !memchr(k, '/', l)) {
        memcpy(r->ptr + o, k, l);       /* nearly every key: nothing to escape */
        o += l;
        l = 0;
    }
    for (size_t i = 0; i < l; i++) {
        if (o + 3 >= sizeof r->ptr)
            goto toolong;
        if (k[i] == '~') {
            r->ptr[o++] = '~';
            r->ptr[o++] = '0';
        } else if (k[i] == '/') {
            r->ptr[o++] = '~';
            r->ptr[o++] = '1';
        } else {
            r->ptr[o++] = (char)k[i];
        }
    }
    r->ptr[o] = '\0';
    r->ptr_len = o;
    return 1;
toolong:
    r->abort_reason = "JSON pointer too long";
    return 0;
}

static const yajl_callbacks reader_callbacks = {
    cb_null, cb_bool, NULL, NULL, cb_number, cb_string,
    cb_start_map, cb_map_key, cb_end_map, cb_start_array, cb_end_array,
};

static int reader_handle_new(struct json_reader *r)
{
    r->h = yajl_alloc(&reader_callbacks, NULL, r);
    if (!r->h)
        return -1;
    /* Several documents on one handle (one per record); we check ourselves
     * that a record holds exactly one. */
    yajl_config(r->h, yajl_allow_multiple_values, 1);
    return 0;
}

struct json_reader *json_reader_new(int max_depth, json_event_fn fn, void *ctx)
{
    struct json_reader *r = xcalloc_try(1, sizeof *r);

    if (!r)
        return NULL;
    r->fn = fn;
    r->ctx = ctx;
    buf_init(&r->clean, JSON_MAX_STRING);
    r->max_depth = max_depth > 0 && max_depth <= JSON_MAX_DEPTH_HARD ? max_depth
                                                                     : JSON_DEFAULT_MAX_DEPTH;
    if (reader_handle_new(r)) {
        free(r);
        return NULL;
    }
    return r;
}

void json_reader_free(struct json_reader *r)
{
    if (!r)
        return;
    if (r->h)
        yajl_free(r->h);
    buf_free(&r->clean);
    free(r);
}

int json_reader_parse(struct json_reader *r, const char *p, size_t n, char *err, size_t errlen)
{
    yajl_status st;
    size_t off;

    r->depth = 0;
    r->skip = 0;
    r->controls = 0;
    r->docs = 0;
    r->abort_reason = NULL;
    r->ptr_len = 0;
    r->ptr[0] = '\0';
    st = yajl_parse(r->h, (const unsigned char *)p, n);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(r->h);
    if (st == yajl_status_ok && r->docs == 1 && r->depth == 0)
        return 0;

    off = yajl_get_bytes_consumed(r->h);
    if (st == yajl_status_ok) {
        snprintf(err, errlen, "offset %zu: incomplete JSON value", n);
    } else if (st == yajl_status_client_canceled && r->abort_reason) {
        snprintf(err, errlen, "offset %zu: %s", off, r->abort_reason);
    } else {
        unsigned char *msg = yajl_get_error(r->h, 0, (const unsigned char *)p, n);
        char *nl;
        if (msg && (nl = strchr((char *)msg, '\n')))
            *nl = '\0';
        snprintf(err, errlen, "offset %zu: %s", off, msg ? (char *)msg : "parse error");
        if (msg)
            yajl_free_error(r->h, msg);
    }
    /* Errors are sticky in yajl 2.1.0 (no reset): start a fresh handle.
     * Also after an incomplete value, whose state would leak into the next. */
    yajl_free(r->h);
    r->h = NULL;
    if (reader_handle_new(r))
        snprintf(err, errlen, "out of memory");
    return -1;
}

int json_ptr_match(const char *ptr, const char *pat)
{
    while (*pat) {
        if (*ptr != '/' || *pat != '/')
            return 0;
        ptr++;
        pat++;
        if (pat[0] == '*' && (pat[1] == '/' || pat[1] == '\0')) {
            while (*ptr && *ptr != '/')
                ptr++;
            pat++;
            continue;
        }
        while (*pat && *pat != '/') {
            if (*ptr != *pat)
                return 0;
            ptr++;
            pat++;
        }
        if (*ptr && *ptr != '/')
            return 0;
    }
    return *ptr == '\0';
}

struct json_writer {
    yajl_gen g;
    int failed;
};

static void jw_check(struct json_writer *w, yajl_gen_status st)
{
    if (st != yajl_gen_status_ok)
        w->failed = 1;
}

static yajl_gen jw_gen_new(void)
{
    yajl_gen g = yajl_gen_alloc(NULL);
    if (g)
        yajl_gen_config(g, yajl_gen_validate_utf8, 1);
    return g;
}

struct json_writer *jw_new(void)
{
    struct json_writer *w = xcalloc_try(1, sizeof *w);

    if (!w)
        return NULL;
    w->g = jw_gen_new();
    if (!w->g) {
        free(w);
        return NULL;
    }
    return w;
}

void jw_free(struct json_writer *w)
{
    if (!w)
        return;
    yajl_gen_free(w->g);
    free(w);
}

void jw_reset(struct json_writer *w)
{
    /* yajl_gen_clear keeps the generator state; a failed generator is also
     * stuck, so a fresh one is the simple correct reset. */
    if (w->failed) {
        yajl_gen_free(w->g);
        w->g = jw_gen_new();
        if (!w->g)
            abort();
    } else {
        yajl_gen_reset(w->g, NULL);
        yajl_gen_clear(w->g);
    }
    w->failed = 0;
}

void jw_map_open(struct json_writer *w) { jw_check(w, yajl_gen_map_open(w->g)); }
void jw_map_close(struct json_writer *w) { jw_check(w, yajl_gen_map_close(w->g)); }
void jw_array_open(struct json_writer *w) { jw_check(w, yajl_gen_array_open(w->g)); }
void jw_array_close(struct json_writer *w) { jw_check(w, yajl_gen_array_close(w->g)); }
void jw_null(struct json_writer *w) { jw_check(w, yajl_gen_null(w->g)); }
void jw_bool(struct json_writer *w, int v) { jw_check(w, yajl_gen_bool(w->g, v)); }
void jw_int(struct json_writer *w, long long v) { jw_check(w, yajl_gen_integer(w->g, v)); }

void jw_put_str(struct json_writer *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_str(w, s);
}

void jw_put_int(struct json_writer *w, const char *key, long long v)
{
    jw_key(w, key);
    jw_int(w, v);
}

void jw_put_count(struct json_writer *w, const char *key, long long v)
{
    jw_key(w, key);
    if (v >= 0)
        jw_int(w, v);
    else
        jw_null(w);
}

void jw_put_time(struct json_writer *w, const char *key, uint64_t epoch_ms)
{
    char t[40];

    jw_key(w, key);
    if (!epoch_ms) {
        jw_null(w);
        return;
    }
    format_iso8601_ms(epoch_ms, t, sizeof t);
    jw_str(w, t);
}

void jw_strn(struct json_writer *w, const char *s, size_t n)
{
    jw_check(w, yajl_gen_string(w->g, (const unsigned char *)s, n));
}

void jw_str(struct json_writer *w, const char *s)
{
    if (s)
        jw_strn(w, s, strlen(s));
    else
        jw_null(w);
}

void jw_key(struct json_writer *w, const char *key)
{
    jw_strn(w, key, strlen(key));
}

int jw_finish(struct json_writer *w, const char **out, size_t *len)
{
    const unsigned char *b;

    if (w->failed)
        return -1;
    if (yajl_gen_get_buf(w->g, &b, len) != yajl_gen_status_ok)
        return -1;
    *out = (const char *)b;
    return 0;
}

const char *json_ptr_skip_index(const char *p)
{
    if (*p != '/' || p[1] < '0' || p[1] > '9')
        return NULL;
    p++;
    while (*p >= '0' && *p <= '9')
        p++;
    return p;
}
