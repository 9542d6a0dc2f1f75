/* mpm: vectorscan literal sets; see mpm.h. */
#include "mpm.h"
#include "util.h"

#include <hs/hs.h>
#include <stdio.h>
#include <stdlib.h>

struct mpm {
    hs_database_t *db;
};

struct mpm *mpm_build(const char *const *pats, const size_t *lens, const unsigned *ids, unsigned n,
                      char *err, size_t errlen)
{
    hs_compile_error_t *cerr = NULL;
    unsigned *flags;
    struct mpm *m;

    if (errlen)
        err[0] = '\0';
    if (n == 0)
        return NULL;
    flags = xcalloc_try(n, sizeof *flags);
    m = xcalloc_try(1, sizeof *m);
    if (!flags || !m) {
        snprintf(err, errlen, "out of memory");
        free(flags);
        free(m);
        return NULL;
    }
    for (unsigned i = 0; i < n; i++)
        flags[i] = HS_FLAG_SINGLEMATCH;     /* one report per literal is all we need */
    if (hs_compile_lit_multi(pats, flags, ids, lens, n, HS_MODE_BLOCK, NULL, &m->db, &cerr) != HS_SUCCESS) {
        snprintf(err, errlen, "vectorscan: %s", cerr && cerr->message ? cerr->message : "compile failed");
        hs_free_compile_error(cerr);
        free(flags);
        free(m);
        return NULL;
    }
    free(flags);
    return m;
}

void mpm_free(struct mpm *m)
{
    if (!m)
        return;
    hs_free_database(m->db);
    free(m);
}

int mpm_scratch_prepare(struct mpm_scratch **s, const struct mpm *m)
{
    hs_scratch_t *sc = (hs_scratch_t *)*s;

    if (!m)
        return 0;
    if (hs_alloc_scratch(m->db, &sc) != HS_SUCCESS)
        return -1;
    *s = (struct mpm_scratch *)sc;
    return 0;
}

void mpm_scratch_free(struct mpm_scratch *s)
{
    if (s)
        hs_free_scratch((hs_scratch_t *)s);
}

struct scan_ctx {
    mpm_hit_fn fn;
    void *ctx;
};

static int on_match(unsigned id, unsigned long long from, unsigned long long to, unsigned flags, void *arg)
{
    struct scan_ctx *sc = arg;
    (void)from;
    (void)to;
    (void)flags;
    sc->fn(sc->ctx, id);
    return 0;
}

int mpm_scan(const struct mpm *m, struct mpm_scratch *s, const char *text, size_t len,
             mpm_hit_fn fn, void *ctx)
{
    struct scan_ctx sc = {fn, ctx};

    if (!m || len == 0)
        return 0;
    if (len > 0xffffffffu)
        return -1;
    return hs_scan(m->db, text, (unsigned)len, 0, (hs_scratch_t *)s, on_match, &sc) == HS_SUCCESS ? 0 : -1;
}
