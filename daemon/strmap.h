/* strmap: open-addressing hash map from byte strings to an int.
 * Keys are copied and owned by the map; lookups take (ptr, len) so tokens
 * inside a larger buffer need no copy. */
#ifndef MENTIOND_STRMAP_H
#define MENTIOND_STRMAP_H

#include <stddef.h>
#include <stdint.h>

struct strmap_slot {
    char *key;                  /* NULL = empty */
    uint32_t klen;
    uint32_t hash;
    int val;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap;                 /* power of two */
    size_t n;
};

void strmap_init(struct strmap *m);
void strmap_free(struct strmap *m);
/* Pointer to the value, or NULL. */
int *strmap_get(const struct strmap *m, const char *key, size_t klen);
/* The same with the key's hash already made (strmap_hash), for a caller
 * that tests a filter first. */
uint32_t strmap_hash(const char *key, size_t klen);
int *strmap_get_hashed(const struct strmap *m, const char *key, size_t klen, uint32_t h);
/* Insert key with value val if absent; returns the value slot either way.
 * strmap_put() aborts without memory; strmap_put_try() returns NULL (the
 * map unchanged). */
int *strmap_put_try(struct strmap *m, const char *key, size_t klen, int val, int *inserted);
int *strmap_put(struct strmap *m, const char *key, size_t klen, int val, int *inserted);

#endif
