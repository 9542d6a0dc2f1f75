/* post: normalised post and its string arena; see post.h. */
#include "post.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK_MIN (16u * 1024u)

struct arena_block {
    struct arena_block *next;
    size_t size;
    size_t used;
    char data[];
};

void post_clear(struct post *p)
{
    memset(p, 0, sizeof *p);
    p->author.followers = -1;
    p->nmentions = -1;
    p->nhashtags = -1;
}

void arena_init(struct arena *a, size_t cap)
{
    a->head = NULL;
    a->used_total = 0;
    a->cap = cap;
    a->nomem = 0;
}

void arena_reset(struct arena *a)
{
    struct arena_block *b = a->head, *next;

    a->nomem = 0;
    if (!b)
        return;
    /* Keep the last (oldest, first-allocated) block; free the rest. */
    while (b->next) {
        next = b->next;
        free(b);
        b = next;
    }
    b->used = 0;
    a->head = b;
    a->used_total = 0;
}

void arena_free(struct arena *a)
{
    struct arena_block *b = a->head, *next;

    while (b) {
        next = b->next;
        free(b);
        b = next;
    }
    a->head = NULL;
    a->used_total = 0;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    struct arena_block *b = a->head;
    char *p;

    if (n + 1 > a->cap - a->used_total || a->used_total + n + 1 > a->cap)
        return NULL;
    if (!b || b->size - b->used < n + 1) {
        size_t size = n + 1 > ARENA_BLOCK_MIN ? n + 1 : ARENA_BLOCK_MIN;
        b = xmalloc_try(sizeof *b + size);
        if (!b) {
            a->nomem = 1;
            return NULL;
        }
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    p = b->data + b->used;
    memcpy(p, s, n);
    p[n] = '\0';
    b->used += n + 1;
    a->used_total += n + 1;
    return p;
}
