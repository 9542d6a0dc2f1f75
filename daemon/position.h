/* position: where a source keeps its resume position (Jetstream's time_us),
 * behind an interface, so the source does not know what stores it.
 *
 * A source whose driver keeps a position (DRIVER_POSITION) opens a handle
 * when it is created and closes it when freed.  At start it asks once for
 * the saved position (load: done is called once, unless the source cancels
 * with a NULL done or closes the handle first); as records are processed it
 * reports the position reached (reached: cheap, called per record).  The
 * store decides when a reached position is safe to save (the daemon's,
 * in store.c, saves it once every alert from the records before it is in
 * Redis) and saves the last one at a clean shutdown.  Owner of a handle:
 * the source that opened it.
 */
#ifndef MENTIOND_POSITION_H
#define MENTIOND_POSITION_H

#include <stdint.h>

struct position;

/* found = 0: nothing saved (start live); pos is the saved position. */
typedef void (*position_done_fn)(void *arg, int found, uint64_t pos);

struct position_store_ops {
    struct position *(*open)(void *ctx, const char *source);
    void (*load)(struct position *p, position_done_fn done, void *arg);
    void (*reached)(struct position *p, uint64_t pos);
    /* The position starts a new series below the old one (Jetstream v2's
     * seqs after a v1 time, another server's seqs): saved as reached is. */
    void (*restart)(struct position *p, uint64_t pos);
    void (*close)(struct position *p);
};

struct position_store {
    const struct position_store_ops *ops;
    void *ctx;
};

#endif
