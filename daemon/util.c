/* util: see util.h. */
#include "util.h"

#include <errno.h>
#include <execinfo.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

static void oom(size_t n)
{
    fprintf(stderr, "mentiond: out of memory allocating %zu bytes\n", n);
    abort();
}

#ifdef MENTIOND_ALLOC_FAIL
static unsigned long alloc_calls, alloc_fail_n;
static int alloc_fired;

/* Atomics: worker threads allocate too (their order against the loop
 * thread's varies from run to run, so with workers the nth allocation is
 * not always the same one; each is still a failure to survive). */
unsigned long alloc_fail_at(unsigned long n)
{
    unsigned long was = __atomic_exchange_n(&alloc_calls, 0, __ATOMIC_SEQ_CST);

    __atomic_store_n(&alloc_fail_n, n, __ATOMIC_SEQ_CST);
    __atomic_store_n(&alloc_fired, 0, __ATOMIC_SEQ_CST);
    return was;
}

int alloc_fail_fired(void)
{
    return __atomic_load_n(&alloc_fired, __ATOMIC_SEQ_CST);
}

/* Whether this allocation is the one to fail.  MENTIOND_ALLOC_TRACE=1 in
 * the environment prints where (to find an unchecked path). */
static int alloc_inject(void)
{
    unsigned long call = __atomic_add_fetch(&alloc_calls, 1, __ATOMIC_SEQ_CST);

    if (call != __atomic_load_n(&alloc_fail_n, __ATOMIC_SEQ_CST))
        return 0;
    __atomic_store_n(&alloc_fired, 1, __ATOMIC_SEQ_CST);
    if (getenv("MENTIOND_ALLOC_TRACE")) {
        void *frames[16];
        fprintf(stderr, "mentiond: injected allocation failure %lu at:\n", call);
        backtrace_symbols_fd(frames, backtrace(frames, 16), 2);
    }
    return 1;
}
#else
#define alloc_inject() 0
#endif

void *xmalloc_try(size_t n)
{
    return alloc_inject() ? NULL : malloc(n ? n : 1);
}

void *xcalloc_try(size_t nmemb, size_t n)
{
    return alloc_inject() ? NULL : calloc(nmemb ? nmemb : 1, n ? n : 1);
}

void *xrealloc_try(void *p, size_t n)
{
    return alloc_inject() ? NULL : realloc(p, n ? n : 1);
}

char *xstrndup_try(const char *s, size_t n)
{
    char *p = xmalloc_try(n + 1);

    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

char *xstrdup_try(const char *s)
{
    return xstrndup_try(s, strlen(s));
}

void *xmalloc(size_t n)
{
    void *p = xmalloc_try(n);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t nmemb, size_t n)
{
    void *p = xcalloc_try(nmemb, n);
    if (!p)
        oom(nmemb * n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = xrealloc_try(p, n);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

char *xstrndup(const char *s, size_t n)
{
    char *p = xstrndup_try(s, n);
    if (!p)
        oom(n + 1);
    return p;
}

uint64_t now_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t now_mono_ms(void)
{
    return now_mono_us() / 1000u;
}

struct timeval ms_to_timeval(uint64_t ms)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    return tv;
}

uint64_t now_real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

void format_iso8601_ms(uint64_t epoch_ms, char *out, size_t outlen)
{
    time_t secs = (time_t)(epoch_ms / 1000u);
    struct tm tm;
    char tmp[32];

    gmtime_r(&secs, &tm);
    strftime(tmp, sizeof tmp, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, outlen, "%s.%03uZ", tmp, (unsigned)(epoch_ms % 1000u));
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++, (*p)++) {
        if (**p < '0' || **p > '9')
            return -1;
        v = v * 10 + (**p - '0');
    }
    *out = v;
    return 0;
}

int parse_iso8601_ms(const char *s, uint64_t *out)
{
    int y, mo, d, h, mi, se, ms = 0, sign, oh = 0, om = 0;
    int64_t t;

    if (!s || digits(&s, 4, &y) || *s++ != '-' || digits(&s, 2, &mo) || *s++ != '-' || digits(&s, 2, &d) ||
        (*s != 'T' && *s != 't' && *s != ' ') || (s++, digits(&s, 2, &h)) || *s++ != ':' || digits(&s, 2, &mi) ||
        *s++ != ':' || digits(&s, 2, &se))
        return -1;
    if (*s == '.') {
        int scale = 100;
        for (s++; *s >= '0' && *s <= '9'; s++, scale /= 10)
            ms += (*s - '0') * scale;
    }
    if (*s == 'Z' || *s == 'z') {
        s++;
    } else if (*s == '+' || *s == '-') {
        sign = *s++ == '+' ? 1 : -1;
        if (digits(&s, 2, &oh))
            return -1;
        if (*s == ':')
            s++;
        if (digits(&s, 2, &om))
            return -1;
        oh *= sign;
        om *= sign;
    } else {
        return -1;                      /* no zone: not a time we can place */
    }
    if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || y < 1970)
        return -1;
    t = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h - oh) * 60 + mi - om) * 60 + se;
    if (t < 0)
        return -1;
    *out = (uint64_t)t * 1000 + (uint64_t)ms;
    return 0;
}

char *file_read_all(const char *path, size_t cap, size_t *len_out, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    size_t len = 0, alloc = 0, n;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    for (;;) {
        if (alloc - len < 4096) {
            alloc = alloc ? alloc * 2 : 8192;
            if (alloc > cap + 1)
                alloc = cap + 1;
            char *grown = xrealloc_try(data, alloc + 1);
            if (!grown) {
                snprintf(err, errlen, "%s: out of memory", path);
                goto fail;
            }
            data = grown;
        }
        n = fread(data + len, 1, alloc - len, f);
        len += n;
        if (len > cap) {
            snprintf(err, errlen, "%s: larger than %zu bytes", path, cap);
            goto fail;
        }
        if (n == 0)
            break;
    }
    if (ferror(f)) {
        snprintf(err, errlen, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    fclose(f);
    data[len] = '\0';
    if (len_out)
        *len_out = len;
    return data;
fail:
    fclose(f);
    free(data);
    return NULL;
}

char *secret_read(const char *path, char *err, size_t errlen)
{
    size_t len;
    char *s = file_read_all(path, 64 * 1024, &len, err, errlen);
    char *start, *end;

    if (!s)
        return NULL;
    start = s;
    while (*start == ' ' || *start == '\t' || *start == '\r' || *start == '\n')
        start++;
    end = start;
    while (*end && *end != '\n' && *end != '\r')
        end++;
    while (end > start && (end[-1] == ' ' || end[-1] == '\t'))
        end--;
    if (end == start) {
        snprintf(err, errlen, "%s: empty secret file", path);
        free(s);
        return NULL;
    }
    memmove(s, start, (size_t)(end - start));
    s[end - start] = '\0';
    return s;
}

int parse_ll(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    if (!s || !*s)
        return -1;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max)
        return -1;
    *out = v;
    return 0;
}

size_t utf8_cut(const char *s, size_t n, size_t max)
{
    if (n <= max)
        return n;
    n = max;
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

size_t str_copy(char *dst, const char *src, size_t dstlen)
{
    size_t n = strlen(src);
    if (dstlen) {
        size_t c = n < dstlen - 1 ? n : dstlen - 1;
        memcpy(dst, src, c);
        dst[c] = '\0';
    }
    return n;
}

uint64_t hash_bytes(const void *p, size_t n)
{
    const unsigned char *c = p;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= c[i];
        h *= 1099511628211ull;
    }
    return h;
}

static char errlist_oom[] = "out of memory (the message was lost)";
static char *errlist_only[] = {errlist_oom};     /* a list that could not grow at all */

void errlist_add(struct errlist *e, const char *fmt, ...)
{
    char msg[1024], *m, **grown;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (!(m = xstrdup_try(msg)))
        m = errlist_oom;
    if (e->msgs == errlist_only) {              /* never realloc the static list */
        if ((grown = xmalloc_try(sizeof(char *) * 2)))
            grown[0] = errlist_oom;
    } else {
        grown = xrealloc_try(e->msgs, sizeof(char *) * (size_t)(e->n + 1));
    }
    if (grown) {
        e->msgs = grown;
        e->msgs[e->n++] = m;
        return;
    }
    /* No room for another entry: the list must still say it failed. */
    if (m != errlist_oom)
        free(m);
    if (e->n == 0) {
        e->msgs = errlist_only;
        e->n = 1;
    } else if (e->msgs[e->n - 1] != errlist_oom) {
        free(e->msgs[e->n - 1]);
        e->msgs[e->n - 1] = errlist_oom;
    }
}

void errlist_free(struct errlist *e)
{
    for (int i = 0; i < e->n; i++)
        if (e->msgs[i] != errlist_oom)
            free(e->msgs[i]);
    if (e->msgs != errlist_only)
        free(e->msgs);
    e->msgs = NULL;
    e->n = 0;
}

size_t str_edit_distance(const char *a, size_t n, const char *b, size_t m)
{
    /* three rows: the one before the previous, for transpositions */
    size_t r0[STR_EDIT_MAX + 1], r1[STR_EDIT_MAX + 1], r2[STR_EDIT_MAX + 1], *pp = r0, *p = r1, *c = r2;

    if (n > STR_EDIT_MAX || m > STR_EDIT_MAX)
        return (size_t)-1;
    for (size_t j = 0; j <= m; j++)
        p[j] = j;
    for (size_t i = 1; i <= n; i++) {
        size_t *t;
        c[0] = i;
        for (size_t j = 1; j <= m; j++) {
            size_t v = p[j - 1] + (a[i - 1] != b[j - 1]);
            if (p[j] + 1 < v)
                v = p[j] + 1;
            if (c[j - 1] + 1 < v)
                v = c[j - 1] + 1;
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && pp[j - 2] + 1 < v)
                v = pp[j - 2] + 1;
            c[j] = v;
        }
        t = pp;
        pp = p;
        p = c;
        c = t;
    }
    return p[m];
}

void kvlist_add(struct kvlist *k, const char *f, const char *fmt, ...)
{
    va_list ap;
    char v[512];

    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->f = xrealloc(k->f, (size_t)k->cap * sizeof *k->f);
        k->v = xrealloc(k->v, (size_t)k->cap * sizeof *k->v);
    }
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    k->f[k->n] = xstrdup(f);
    k->v[k->n++] = xstrdup(v);
}

void kvlist_free(struct kvlist *k)
{
    for (int i = 0; i < k->n; i++) {
        free(k->f[i]);
        free(k->v[i]);
    }
    free(k->f);
    free(k->v);
    k->f = k->v = NULL;
    k->n = k->cap = 0;
}
