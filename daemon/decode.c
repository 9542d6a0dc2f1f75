/* decode: decoder registry; see decode.h. */
#include "decode.h"
#include "json.h"

#include <string.h>

static const struct decoder_ops *const decoders[] = {
    &decode_x_v2_ops,
    &decode_ndjson_ops,
    &decode_x_v1_ops,
    &decode_mastodon_ops,
    &decode_sse_ops,
    &decode_rss_ops,
    &decode_jetstream_ops,
};

const struct decoder_ops *decoder_find(const char *format)
{
    for (size_t i = 0; i < sizeof decoders / sizeof decoders[0]; i++)
        if (strcmp(decoders[i]->name, format) == 0)
            return decoders[i];
    return NULL;
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
