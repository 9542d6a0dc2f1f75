/* util: allocation wrappers, time helpers, small string and file helpers.
 *
 * xmalloc/xcalloc/xstrdup abort on OOM (like Redis's zmalloc) and are for
 * the daemon's own long-lived objects (event loop, sockets, sink).  The
 * *_try variants return NULL and let the caller fail cleanly: buffers fed
 * from outside (buf.h) and every allocation of the four paths that must
 * survive an allocation failure with an error (configuration loading, rule
 * compilation, decoding a post, building an alert; tests/unit/test_alloc.c
 * fails each of their allocations in turn).
 *
 * Built with -DMENTIOND_ALLOC_FAIL (make ALLOC_FAIL=1, or the test_alloc
 * build) every allocator here counts its calls and alloc_fail_at(n) makes
 * the nth from then on return NULL (the x* ones then abort, which the test
 * reports as a crash).
 */
#ifndef MENTIOND_UTIL_H
#define MENTIOND_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void *xmalloc(size_t n);
void *xcalloc(size_t nmemb, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
void *xrealloc_try(void *p, size_t n);
void *xmalloc_try(size_t n);
void *xcalloc_try(size_t nmemb, size_t n);
char *xstrdup_try(const char *s);
char *xstrndup_try(const char *s, size_t n);

#ifdef MENTIOND_ALLOC_FAIL
/* Fail the nth allocation counted from this call (0: none); returns the
 * number counted since the previous call. */
unsigned long alloc_fail_at(unsigned long n);
/* Whether the armed failure has happened. */
int alloc_fail_fired(void);
#endif

uint64_t now_mono_ms(void);                 /* CLOCK_MONOTONIC, ms */
/* ms as a struct timeval, for libevent timers. */
struct timeval ms_to_timeval(uint64_t ms);
uint64_t now_mono_us(void);
uint64_t now_real_ms(void);                 /* wall clock, ms since epoch */
/* "2026-11-22T10:00:00.012Z" into out (>= 25 bytes). */
void format_iso8601_ms(uint64_t epoch_ms, char *out, size_t outlen);
/* "2026-12-07T08:00:00.000Z" (fraction optional, Z or +hh:mm / -hhmm) to
 * ms since the epoch; 0, or -1 for anything else (no zone included). */
int parse_iso8601_ms(const char *s, uint64_t *out);
/* Edits (insert, delete, substitute, swap two neighbours: form -> from is
 * 1) from a to b, bytes; (size_t)-1 when either is over STR_EDIT_MAX. */
#define STR_EDIT_MAX 64
size_t str_edit_distance(const char *a, size_t n, const char *b, size_t m);

/* Read a whole file, at most cap bytes; NUL-terminated.  Returns NULL and
 * fills err on failure (names the file). */
char *file_read_all(const char *path, size_t cap, size_t *len_out, char *err, size_t errlen);
/* Read a secret (token, password) file: first line, whitespace trimmed.
 * The secret itself never appears in err. */
char *secret_read(const char *path, char *err, size_t errlen);

/* Parse a decimal integer in [min,max]; 0 ok, -1 bad. */
int parse_ll(const char *s, long long min, long long max, long long *out);

/* The length of s[0..n) cut to at most max bytes without splitting a
 * UTF-8 character. */
size_t utf8_cut(const char *s, size_t n, size_t max);
/* Copy with truncation, always NUL-terminated; returns strlen(src). */
size_t str_copy(char *dst, const char *src, size_t dstlen);

/* 64-bit FNV-1a, for hashing tokens and ids. */
uint64_t hash_bytes(const void *p, size_t n);

/* errlist: messages collected so that a check reports every error at once.
 * Adding never fails: without memory for a message it stores a static "out
 * of memory" instead (and errlist_free knows not to free it). */
struct errlist {
    char **msgs;
    int n;
};
void errlist_add(struct errlist *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void errlist_free(struct errlist *e);

/* Field/value pairs built as owned strings, for a Redis hash (HSET). */
struct kvlist {
    char **f, **v;
    int n, cap;
};
void kvlist_add(struct kvlist *k, const char *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void kvlist_free(struct kvlist *k);

#endif
