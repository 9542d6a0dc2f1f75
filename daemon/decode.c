/* decode: a format name to its decoder (through the source types' table), and
 * the wrappers; see decode.h. */
#include "decode.h"
#include "json.h"
#include "source_driver.h"

#include <stdlib.h>
#include <string.h>

const struct decoder_ops *decoder_find(const char *format)
{
    const struct source_driver *d = source_driver_find(format);

    return d ? d->decoder : NULL;
}

int decoder_open(struct decoder_inst *di, const char *format, const struct source_conf *sc)
{
    di->ops = decoder_find(format);
    di->d = di->ops ? di->ops->create(sc) : NULL;
    return di->d ? 0 : -1;
}

void decoder_close(struct decoder_inst *di)
{
    if (di->ops && di->d)
        di->ops->destroy(di->d);
    di->d = NULL;
}

const char *decode_str(struct arena *a, const struct json_event *ev, const char **reject)
{
    const char *s;

    if (ev->type != JSON_STRING && ev->type != JSON_NUMBER)
        return NULL;
    s = arena_strndup(a, ev->val, ev->val_len);
    if (!s)
        *reject = a->nomem ? "out of memory" : "record strings exceed the arena cap";
    return s;
}

void *json_decoder_new(size_t size, const struct source_conf *sc, json_event_fn fn, size_t arena_records)
{
    struct json_decoder *jd = xcalloc_try(1, size);

    if (!jd)
        return NULL;
    if (!(jd->reader = json_reader_new(sc ? (int)sc->max_depth : JSON_DEFAULT_MAX_DEPTH, fn, jd))) {
        free(jd);
        return NULL;
    }
    arena_init(&jd->arena, (sc ? (size_t)sc->max_record : 1024 * 1024) * arena_records + 4096);
    return jd;
}

void json_decoder_free(struct json_decoder *jd)
{
    json_reader_free(jd->reader);
    arena_free(&jd->arena);
    free(jd);
}
