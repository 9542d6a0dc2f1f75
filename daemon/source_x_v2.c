/* x_v2: the X API v2 filtered stream (newline-delimited JSON over HTTP). */
#include "config_key.h"
#include "decode.h"
#include "source_driver.h"

#include <string.h>

static const struct ckey keys[] = {
    SOURCE_KEY("backfill_minutes", CT_INT, backfill_minutes, "0", 0, 5),
};

/* With backfill_minutes, every connect asks for what it missed while away:
 * a reconnect's gap, and on the first one a restart's (what was alerted
 * before is dropped by the seen keys). */
static int request(const struct source_conf *sc, const struct source_resume *at, struct source_request *rq,
                   const char **why)
{
    if (source_request_http(sc, at, rq, why) != 0)
        return -1;
    if (sc->backfill_minutes > 0 &&
        buf_printf(&rq->url, "%cbackfill_minutes=%lld", strchr(sc->url, '?') ? '&' : '?', sc->backfill_minutes)) {
        *why = "the URL is too long";
        return -1;
    }
    return 0;
}

const struct source_driver source_driver_x_v2 = {
    .name = "x_v2",
    .transport = TRANSPORT_HTTP_STREAM,
    .decoder = &decode_x_v2_ops,
    .framing = FRAMING_LINES,
    .flags = DRIVER_NEEDS_TOKEN,
    .token_why = "",
    .keys = keys,
    .nkeys = sizeof keys / sizeof keys[0],
    .request = request,
};
