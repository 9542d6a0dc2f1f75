/* rss: an RSS or Atom feed, fetched every `interval` with a conditional GET
 * (only a changed feed is sent again). */
#include "config_key.h"
#include "decode.h"
#include "source_driver.h"

static const struct ckey keys[] = {
    SOURCE_KEY("interval", CT_INT, interval, "300", 1, 86400),
};

static int request(const struct source_conf *sc, const struct source_resume *at, struct source_request *rq,
                   const char **why)
{
    if (at->etag && at->etag[0])
        source_request_header(rq, "If-None-Match: %s", at->etag);
    if (at->last_modified && at->last_modified[0])
        source_request_header(rq, "If-Modified-Since: %s", at->last_modified);
    source_request_header(rq, "Accept: application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5");
    rq->poll_interval_ms = (uint64_t)sc->interval * 1000;
    return source_request_http(sc, at, rq, why);
}

const struct source_driver source_driver_rss = {
    .name = "rss",
    .transport = TRANSPORT_HTTP_POLL,
    .decoder = &decode_rss_ops,
    .framing = FRAMING_DOCUMENT,
    .keys = keys,
    .nkeys = sizeof keys / sizeof keys[0],
    .request = request,
};
