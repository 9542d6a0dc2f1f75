/* buf: capped dynamic buffer; see buf.h. */
#include "buf.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void buf_init(struct buf *b, size_t cap)
{
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
    b->cap = cap;
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = 0;
    b->alloc = 0;
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_reserve(struct buf *b, size_t need)
{
    size_t n;
    char *p;

    if (need <= b->alloc)
        return BUF_OK;
    n = b->alloc ? b->alloc : 256;
    while (n < need)
        n *= 2;
    if (n > b->cap + 1)
        n = b->cap + 1;
    p = xrealloc_try(b->data, n);
    if (!p)
        return BUF_NOMEM;
    b->data = p;
    b->alloc = n;
    return BUF_OK;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    int rc;

    if (n > b->cap - b->len)
        return BUF_TOOBIG;
    rc = buf_reserve(b, b->len + n + 1);
    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return BUF_OK;
}

int buf_appendc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (n < 0)
        return BUF_NOMEM;
    if ((size_t)n < sizeof tmp)
        return buf_append(b, tmp, (size_t)n);
    /* Long output: format straight into the buffer. */
    if ((size_t)n > b->cap - b->len)
        return BUF_TOOBIG;
    if (buf_reserve(b, b->len + (size_t)n + 1))
        return BUF_NOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return BUF_OK;
}

int buf_append_escaped(struct buf *b, const char *s, const char *keep)
{
    int r = 0;

    for (; *s && !r; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || strchr("-._~", c) ||
            (keep && strchr(keep, c)))
            r = buf_appendc(b, (char)c);
        else
            r = buf_printf(b, "%%%02X", c);
    }
    return r;
}

void buf_consume(struct buf *b, size_t n)
{
    if (n >= b->len) {
        buf_reset(b);
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
    b->data[b->len] = '\0';
}
