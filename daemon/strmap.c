/* strmap: see strmap.h. */
#include "strmap.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void strmap_init(struct strmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->n = 0;
}

void strmap_free(struct strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    strmap_init(m);
}

static struct strmap_slot *strmap_find(const struct strmap *m, const char *key, size_t klen,
                                       uint32_t h)
{
    size_t mask = m->cap - 1, i = h & mask;

    for (;;) {
        struct strmap_slot *s = &m->slots[i];
        if (!s->key || (s->hash == h && s->klen == klen && memcmp(s->key, key, klen) == 0))
            return s;
        i = (i + 1) & mask;
    }
}

/* Eight bytes a step, then a 64-bit finaliser (MurmurHash3's): a map's
 * hash is its own (never stored outside), so it need not be hash_bytes,
 * whose byte-at-a-time FNV was a sixth of loading 100,000 rules. */
uint32_t strmap_hash(const char *key, size_t klen)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (uint64_t)klen, w;
    size_t i = 0;

    for (; i + 8 <= klen; i += 8) {
        memcpy(&w, key + i, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    if (i < klen) {
        w = 0;
        memcpy(&w, key + i, klen - i);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
    }
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 33;
    return (uint32_t)h;
}

int *strmap_get_hashed(const struct strmap *m, const char *key, size_t klen, uint32_t h)
{
    struct strmap_slot *s;

    if (!m->cap)
        return NULL;
    s = strmap_find(m, key, klen, h);
    return s->key ? &s->val : NULL;
}

int *strmap_get(const struct strmap *m, const char *key, size_t klen)
{
    return strmap_get_hashed(m, key, klen, strmap_hash(key, klen));
}

static int strmap_grow(struct strmap *m)
{
    struct strmap old = *m;
    size_t cap = old.cap ? old.cap * 2 : 64;
    struct strmap_slot *slots = xcalloc_try(cap, sizeof *slots);

    if (!slots)
        return -1;
    m->cap = cap;
    m->slots = slots;
    for (size_t i = 0; i < old.cap; i++)
        if (old.slots[i].key)
            *strmap_find(m, old.slots[i].key, old.slots[i].klen, old.slots[i].hash) = old.slots[i];
    free(old.slots);
    return 0;
}

int *strmap_put_try(struct strmap *m, const char *key, size_t klen, int val, int *inserted)
{
    uint32_t h = strmap_hash(key, klen);
    struct strmap_slot *s;

    if ((m->n + 1) * 4 > m->cap * 3 && strmap_grow(m) < 0)     /* load factor <= 0.75 */
        return NULL;
    s = strmap_find(m, key, klen, h);
    if (inserted)
        *inserted = !s->key;
    if (!s->key) {
        if (!(s->key = xstrndup_try(key, klen)))
            return NULL;
        s->klen = (uint32_t)klen;
        s->hash = h;
        s->val = val;
        m->n++;
    }
    return &s->val;
}

int *strmap_put(struct strmap *m, const char *key, size_t klen, int val, int *inserted)
{
    int *v = strmap_put_try(m, key, klen, val, inserted);

    if (!v) {
        fprintf(stderr, "mentiond: out of memory in a string map\n");
        abort();
    }
    return v;
}
