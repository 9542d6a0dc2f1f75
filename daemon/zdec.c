/* zdec: zstd frames with a dictionary; see zdec.h. */
#include "zdec.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#define ZDEC_MAX_DICT (16u * 1024u * 1024u)

struct zdec {
    ZSTD_DCtx *dctx;
    ZSTD_DDict *ddict;
    unsigned dict_id;
    char *out;
    size_t max_out;
};

static char *read_dict(const char *path, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    char *data = NULL;
    long sz;

    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fseek(f, 0, SEEK_END) != 0 || (sz = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        snprintf(err, errlen, "%s: cannot size the file", path);
        goto out;
    }
    if (sz == 0 || (unsigned long)sz > ZDEC_MAX_DICT) {
        snprintf(err, errlen, "%s: %s", path, sz == 0 ? "empty file" : "larger than 16 MiB");
        goto out;
    }
    data = xmalloc((size_t)sz);
    if (fread(data, 1, (size_t)sz, f) != (size_t)sz) {
        snprintf(err, errlen, "%s: read error", path);
        free(data);
        data = NULL;
        goto out;
    }
    *len = (size_t)sz;
out:
    fclose(f);
    return data;
}

struct zdec *zdec_new(const char *dict_path, size_t max_out, char *err, size_t errlen)
{
    struct zdec *z = xcalloc(1, sizeof *z);

    z->max_out = max_out;
    z->dctx = ZSTD_createDCtx();
    if (!z->dctx) {
        snprintf(err, errlen, "zstd: cannot create a decompression context");
        goto fail;
    }
    if (dict_path && *dict_path) {
        size_t len = 0;
        char *dict = read_dict(dict_path, &len, err, errlen);
        if (!dict)
            goto fail;
        z->dict_id = ZSTD_getDictID_fromDict(dict, len);
        z->ddict = ZSTD_createDDict(dict, len);  /* copies the bytes */
        free(dict);
        if (!z->ddict || z->dict_id == 0) {
            snprintf(err, errlen, "%s: not a zstd dictionary", dict_path);
            goto fail;
        }
    }
    z->out = xmalloc(max_out + 1);
    return z;
fail:
    zdec_free(z);
    return NULL;
}

void zdec_free(struct zdec *z)
{
    if (!z)
        return;
    ZSTD_freeDDict(z->ddict);
    ZSTD_freeDCtx(z->dctx);
    free(z->out);
    free(z);
}

unsigned zdec_dict_id(const struct zdec *z)
{
    return z->dict_id;
}

enum zdec_ret zdec_frame(struct zdec *z, const void *in, size_t n, const char **out, size_t *outlen, char *err,
                         size_t errlen)
{
    size_t r;
    unsigned long long claimed = ZSTD_getFrameContentSize(in, n);

    if (claimed == ZSTD_CONTENTSIZE_ERROR) {
        snprintf(err, errlen, "not a zstd frame");
        return ZDEC_CORRUPT;
    }
    if (claimed != ZSTD_CONTENTSIZE_UNKNOWN && claimed > z->max_out)
        return ZDEC_TOOBIG;
    r = z->ddict ? ZSTD_decompress_usingDDict(z->dctx, z->out, z->max_out, in, n, z->ddict)
                 : ZSTD_decompressDCtx(z->dctx, z->out, z->max_out, in, n);
    if (ZSTD_isError(r)) {
        if (ZSTD_getErrorCode(r) == ZSTD_error_dstSize_tooSmall)
            return ZDEC_TOOBIG;
        snprintf(err, errlen, "zstd: %s", ZSTD_getErrorName(r));
        return ZDEC_CORRUPT;
    }
    z->out[r] = '\0';
    *out = z->out;
    *outlen = r;
    return ZDEC_OK;
}
