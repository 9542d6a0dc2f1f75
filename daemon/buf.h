/* buf: a growable byte buffer with a mandatory cap (curl's dynbuf idea).
 *
 * Every buffer fed from outside is a struct buf with a cap chosen by its
 * owner.  Appends past the cap fail with BUF_TOOBIG and leave the buffer
 * unchanged; the contents are always NUL-terminated for convenience.
 * Owner: whoever embeds the struct; buf_free() releases the storage.
 */
#ifndef MENTIOND_BUF_H
#define MENTIOND_BUF_H

#include <stddef.h>

enum buf_ret { BUF_OK = 0, BUF_TOOBIG = -1, BUF_NOMEM = -2 };

struct buf {
    char *data;
    size_t len;
    size_t alloc;
    size_t cap;                 /* max len, excluding the terminating NUL */
};

void buf_init(struct buf *b, size_t cap);
void buf_free(struct buf *b);
void buf_reset(struct buf *b);                      /* len = 0, keeps storage */
int buf_append(struct buf *b, const void *p, size_t n);
int buf_appendc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_consume(struct buf *b, size_t n);          /* drop n leading bytes */
/* s percent-encoded for a URL: letters, digits, "-._~" and the characters
 * of keep as they are, every other byte as %XX.  0, or -1 at the cap. */
int buf_append_escaped(struct buf *b, const char *s, const char *keep);

#endif
