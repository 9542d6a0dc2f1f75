/* util: allocation wrappers, time helpers, small string and file helpers.
 *
 * xmalloc/xcalloc/xstrdup abort on OOM (like Redis's zmalloc) and are for
 * small fixed-size objects; buffers fed from outside use buf.h and the
 * *_try variants, which return NULL and let the caller fail cleanly.
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

uint64_t now_mono_ms(void);                 /* CLOCK_MONOTONIC, ms */
/* ms as a struct timeval, for libevent timers. */
struct timeval ms_to_timeval(uint64_t ms);
uint64_t now_mono_us(void);
uint64_t now_real_ms(void);                 /* wall clock, ms since epoch */
/* "2026-11-22T10:00:00.012Z" into out (>= 25 bytes). */
void format_iso8601_ms(uint64_t epoch_ms, char *out, size_t outlen);

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

/* errlist: messages collected so that a check reports every error at once. */
struct errlist {
    char **msgs;
    int n;
};
void errlist_add(struct errlist *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void errlist_free(struct errlist *e);

#endif
