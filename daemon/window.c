/* window: bounded recent-history tables; see window.h. */
#include "window.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>

#define PROBE 8

void window_init(struct window *w, size_t nslots, uint64_t span_ms, int with_ids)
{
    size_t n = 64;
    while (n < nslots)
        n *= 2;
    w->slots = xcalloc(n, sizeof *w->slots);
    w->idstore = with_ids ? xcalloc(n, sizeof *w->idstore) : NULL;
    for (size_t i = 0; with_ids && i < n; i++)
        w->slots[i].ids = w->idstore[i];
    w->nslots = n;
    w->span_ms = span_ms;
}

void window_free(struct window *w)
{
    free(w->slots);
    free(w->idstore);
    w->slots = NULL;
    w->idstore = NULL;
}

static void roll(struct window *w, struct window_entry *e, uint64_t now)
{
    if (now - e->start_ms >= w->span_ms) {
        e->start_ms = now;
        e->count = 0;
        e->flags = 0;
    }
}

struct window_entry *window_find(struct window *w, const char *key, uint64_t now)
{
    size_t h = (size_t)hash_bytes(key, strlen(key));

    for (size_t i = 0; i < PROBE; i++) {
        struct window_entry *e = &w->slots[(h + i) & (w->nslots - 1)];
        if (e->key[0] && strcmp(e->key, key) == 0) {
            roll(w, e, now);
            return e;
        }
    }
    return NULL;
}

struct window_entry *window_get(struct window *w, const char *key, uint64_t now)
{
    struct window_entry *e = window_find(w, key, now), *victim = NULL;
    size_t h;

    if (e)
        return e;
    h = (size_t)hash_bytes(key, strlen(key));
    for (size_t i = 0; i < PROBE; i++) {
        e = &w->slots[(h + i) & (w->nslots - 1)];
        if (!e->key[0]) {
            victim = e;
            break;
        }
        if (!victim || e->last_ms < victim->last_ms)
            victim = e;
    }
    {
        char (*ids)[WINDOW_ID_MAX] = victim->ids;  /* the slot keeps its id store */
        memset(victim, 0, sizeof *victim);
        victim->ids = ids;
    }
    str_copy(victim->key, key, sizeof victim->key);
    victim->start_ms = now;
    victim->last_ms = now;
    return victim;
}

uint32_t window_add(struct window_entry *e, const char *id, uint64_t now)
{
    e->last_ms = now;
    e->count++;
    if (id && e->ids) {
        memmove(e->ids[1], e->ids[0], sizeof e->ids[0] * (WINDOW_IDS - 1));
        str_copy(e->ids[0], id, sizeof e->ids[0]);
        if (e->nids < WINDOW_IDS)
            e->nids++;
    }
    return e->count;
}
