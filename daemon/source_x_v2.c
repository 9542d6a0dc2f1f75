/* x_v2: the X API v2 filtered stream (newline-delimited JSON over HTTP). */
#include "config_key.h"
#include "decode.h"
#include "source_driver.h"

#include <string.h>

extern const struct source_driver source_driver_x_v2;

/* Its own settings: only this file reads them. */
struct x_v2_own {
    long long backfill_minutes;         /* asked for on every connect (1..5), 0 = off */
};

static const struct ckey keys[] = {
    SOURCE_OWN_KEY("backfill_minutes", CT_INT, struct x_v2_own, backfill_minutes, "0", 0, 5),
};

/* With backfill_minutes, every connect asks for what it missed while away:
 * a reconnect's gap, and on the first one a restart's (what was alerted
 * before is dropped by the seen keys). */
static int request(const struct source_conf *sc, const struct source_resume *at, struct source_request *rq,
                   const char **why)
{
    const struct x_v2_own *own = source_own(sc, &source_driver_x_v2);

    if (source_request_http(sc, at, rq, why) != 0)
        return -1;
    if (own && own->backfill_minutes > 0 &&
        buf_printf(&rq->url, "%cbackfill_minutes=%lld", strchr(sc->url, '?') ? '&' : '?', own->backfill_minutes)) {
        *why = "the URL is too long";
        return -1;
    }
    return 0;
}

static int resumes(const struct source_conf *sc)
{
    const struct x_v2_own *own = source_own(sc, &source_driver_x_v2);
    return own && own->backfill_minutes > 0;
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
    .own_size = sizeof(struct x_v2_own),
    .request = request,
    .resumes = resumes,
};
