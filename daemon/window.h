/* window: bounded, approximate recent-history tables for the scorer.
 *
 * A fixed number of slots keyed by string; a key lives in one of the 8
 * slots after its hash, and when all 8 are taken the entry updated least
 * recently is replaced.  Memory never grows, whatever the stream sends;
 * under pressure the oldest history is forgotten first.  Each entry keeps a
 * count within a tumbling window and the last few ids recorded for it.
 */
#ifndef MENTIOND_WINDOW_H
#define MENTIOND_WINDOW_H

#include <stddef.h>
#include <stdint.h>

#define WINDOW_KEY_MAX 96
#define WINDOW_IDS 5
#define WINDOW_ID_MAX 64

struct window_entry {
    char key[WINDOW_KEY_MAX];
    uint64_t start_ms;          /* window start */
    uint64_t last_ms;           /* last update */
    uint32_t count;             /* events in the window */
    uint32_t flags;             /* owner's use (e.g. "already alerted") */
    uint32_t nids;
    char (*ids)[WINDOW_ID_MAX]; /* most recent first; NULL in tables without ids */
};

struct window {
    struct window_entry *slots;
    char (*idstore)[WINDOW_IDS][WINDOW_ID_MAX]; /* per slot, only if with_ids */
    size_t nslots;              /* power of two */
    uint64_t span_ms;
};

/* with_ids: entries remember their last WINDOW_IDS ids (costs 320 bytes a
 * slot); without, window_add ignores ids. */
void window_init(struct window *w, size_t nslots, uint64_t span_ms, int with_ids);
void window_free(struct window *w);
/* The entry for key, or NULL.  An entry whose window has passed is reset
 * (count 0, ids kept) before it is returned. */
struct window_entry *window_find(struct window *w, const char *key, uint64_t now_ms);
/* Find or create; never fails (it may evict). */
struct window_entry *window_get(struct window *w, const char *key, uint64_t now_ms);
/* count++ and remember id (may be NULL); returns the new count. */
uint32_t window_add(struct window_entry *e, const char *id, uint64_t now_ms);

#endif
