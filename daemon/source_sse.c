/* sse: any server-sent-events feed whose events carry JSON posts. */
#include "config_key.h"
#include "decode.h"
#include "source_driver.h"

#include <ctype.h>
#include <string.h>

static const struct ckey keys[] = {
    SOURCE_KEY("events", CT_STR, events, "message", 0, 0),
};

static int events_valid(const char *e)
{
    int names = 0;

    for (const char *p = e; *p; p++) {
        if (isalnum((unsigned char)*p) || strchr("_.-", *p))
            names++;
        else if (!strchr(", \t", *p))
            return 0;
    }
    return names > 0;
}

static void validate(struct config *c, struct source_conf *s, struct errlist *errs)
{
    if (!events_valid(s->events))
        source_key_error(errs, c, s, "events",
                         "expected event names (letters, digits, '_', '.', '-') separated by commas");
}

const struct source_driver source_driver_sse = {
    .name = "sse",
    .transport = TRANSPORT_HTTP_STREAM,
    .decoder = &decode_sse_ops,
    .framing = FRAMING_SSE,
    .keys = keys,
    .nkeys = sizeof keys / sizeof keys[0],
    .validate = validate,
};
