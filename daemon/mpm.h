/* mpm: multi-pattern literal search, the one module that talks to
 * vectorscan (the Hyperscan API).
 *
 * A set of byte-string literals is compiled once into an immutable database
 * (shared, like the matcher that owns it); a scan reports each literal found
 * in a text at most once, in one pass whose cost does not grow with the
 * number of literals.  Scratch space is per thread of matching and must be
 * prepared for every database it will scan.
 */
#ifndef MENTIOND_MPM_H
#define MENTIOND_MPM_H

#include <stddef.h>

struct mpm;
struct mpm_scratch;

/* ids[i] is reported when pats[i] (lens[i] bytes) occurs.  NULL with err on
 * failure; n == 0 gives NULL with err empty (nothing to scan for). */
struct mpm *mpm_build(const char *const *pats, const size_t *lens, const unsigned *ids, unsigned n,
                      char *err, size_t errlen);
void mpm_free(struct mpm *m);

/* Allocate or grow *s so it can scan m.  Returns 0 or -1. */
int mpm_scratch_prepare(struct mpm_scratch **s, const struct mpm *m);
void mpm_scratch_free(struct mpm_scratch *s);

typedef void (*mpm_hit_fn)(void *ctx, unsigned id);
/* Returns 0, or -1 if the scan failed. */
int mpm_scan(const struct mpm *m, struct mpm_scratch *s, const char *text, size_t len,
             mpm_hit_fn fn, void *ctx);

#endif
