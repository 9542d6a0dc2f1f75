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
    p->referenced_followers = -1;
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

/* n bytes, at an 8-byte boundary when align, or NULL (cap, or no memory). */
static char *arena_take(struct arena *a, size_t n, int align)
{
    struct arena_block *b = a->head;
    size_t pad;

    pad = b && align ? (8 - (b->used & 7)) & 7 : 0;
    if (a->used_total > a->cap || n + pad > a->cap - a->used_total)
        return NULL;
    if (!b || b->size - b->used < n + pad) {
        size_t size = n > ARENA_BLOCK_MIN ? n : ARENA_BLOCK_MIN;
        b = xmalloc_try(sizeof *b + size);
        if (!b) {
            a->nomem = 1;
            return NULL;
        }
        b->size = size;
        b->used = 0;
        b->next = a->head;
        a->head = b;
        pad = 0;                        /* data[] follows two size_t and a pointer */
    }
    b->used += pad;
    a->used_total += pad + n;
    b->used += n;
    return b->data + b->used - n;
}

char *arena_strndup(struct arena *a, const char *s, size_t n)
{
    char *p = arena_take(a, n + 1, 0);

    if (!p)
        return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void *arena_alloc(struct arena *a, size_t n)
{
    return arena_take(a, n ? n : 1, 1);
}

static int copy_str(struct arena *a, const char **dst, const char *src)
{
    *dst = src ? arena_strndup(a, src, strlen(src)) : NULL;
    return src && !*dst ? -1 : 0;
}

int post_copy(struct post *dst, const struct post *src, struct arena *a)
{
    const char **urls = NULL;
    int rc = 0;

    *dst = *src;
    rc |= copy_str(a, &dst->id, src->id);
    rc |= copy_str(a, &dst->text, src->text);
    rc |= copy_str(a, &dst->lang, src->lang);
    rc |= copy_str(a, &dst->created_at, src->created_at);
    rc |= copy_str(a, &dst->url, src->url);
    rc |= copy_str(a, &dst->conversation_id, src->conversation_id);
    rc |= copy_str(a, &dst->in_reply_to, src->in_reply_to);
    rc |= copy_str(a, &dst->referenced_text, src->referenced_text);
    rc |= copy_str(a, &dst->referenced_id, src->referenced_id);
    rc |= copy_str(a, &dst->referenced_author, src->referenced_author);
    rc |= copy_str(a, &dst->referenced_author_id, src->referenced_author_id);
    rc |= copy_str(a, &dst->referenced_name, src->referenced_name);
    rc |= copy_str(a, &dst->to_handle, src->to_handle);
    rc |= copy_str(a, &dst->author.id, src->author.id);
    rc |= copy_str(a, &dst->author.handle, src->author.handle);
    rc |= copy_str(a, &dst->author.name, src->author.name);
    rc |= copy_str(a, &dst->author.bio, src->author.bio);
    rc |= copy_str(a, &dst->author.verified_type, src->author.verified_type);
    rc |= copy_str(a, &dst->author.created_at, src->author.created_at);
    if (src->nurls > 0 && src->urls) {
        if (!(urls = arena_alloc(a, sizeof *urls * (size_t)src->nurls)))
            return -1;
        for (int i = 0; i < src->nurls; i++)
            rc |= copy_str(a, &urls[i], src->urls[i]);
        dst->urls = urls;
    }
    if (src->nrule_tags > 0 && src->rule_tags) {
        const char **tags = arena_alloc(a, sizeof *tags * (size_t)src->nrule_tags);
        if (!tags)
            return -1;
        for (int i = 0; i < src->nrule_tags; i++)
            rc |= copy_str(a, &tags[i], src->rule_tags[i]);
        dst->rule_tags = tags;
    }
    return rc;
}
