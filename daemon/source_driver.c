/* source_driver: the table of source types and the request helpers; see
 * source_driver.h. */
#include "source_driver.h"
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct source_driver source_driver_x_v2, source_driver_x_v1, source_driver_mastodon,
    source_driver_jetstream, source_driver_ndjson, source_driver_sse, source_driver_rss, source_driver_file;

/* The one list of source types (and of the formats --replay and file
 * sources read). */
const struct source_driver *const source_drivers[] = {
    &source_driver_x_v2, &source_driver_x_v1, &source_driver_mastodon, &source_driver_jetstream,
    &source_driver_ndjson, &source_driver_sse, &source_driver_rss, &source_driver_file,
};
const size_t source_driver_count = sizeof source_drivers / sizeof source_drivers[0];

const struct source_driver *source_driver_find(const char *name)
{
    for (size_t i = 0; i < source_driver_count; i++)
        if (strcmp(source_drivers[i]->name, name) == 0)
            return source_drivers[i];
    return NULL;
}

const char *source_driver_names(char *out, size_t len, int formats)
{
    size_t n = 0, total = 0, k = 0;

    for (size_t i = 0; i < source_driver_count; i++)
        total += !formats || source_drivers[i]->decoder;
    out[0] = '\0';
    for (size_t i = 0; i < source_driver_count && n < len; i++) {
        if (formats && !source_drivers[i]->decoder)
            continue;
        k++;
        n += (size_t)snprintf(out + n, len - n, "%s%s", k == 1 ? "" : k == total ? " or " : ", ",
                              source_drivers[i]->name);
    }
    return out;
}

const void *source_own(const struct source_conf *sc, const struct source_driver *d)
{
    if (sc->driver == d)
        return sc->own[0];
    if (sc->format_driver == d)
        return sc->own[1];
    return NULL;
}

enum framing_mode source_driver_framing(const struct source_driver *d, const struct source_conf *sc, int from_file)
{
    return d->framing_for ? d->framing_for(sc, from_file) : d->framing;
}

int source_driver_resumes(const struct source_conf *sc)
{
    const struct source_driver *d = sc->driver;

    if (!d)
        return 0;
    if ((d->flags & DRIVER_POSITION) || d->transport == TRANSPORT_HTTP_POLL)
        return 1;
    return d->resumes ? d->resumes(sc) : 0;
}

void source_request_init(struct source_request *rq)
{
    memset(rq, 0, sizeof *rq);
    buf_init(&rq->url, SOURCE_REQUEST_MAX_URL);
}

void source_request_free(struct source_request *rq)
{
    buf_free(&rq->url);
    free(rq->hello);
    rq->hello = NULL;
}

void source_request_header(struct source_request *rq, const char *fmt, ...)
{
    va_list ap;

    if (rq->nheaders >= SOURCE_REQUEST_HEADERS)
        return;
    va_start(ap, fmt);
    vsnprintf(rq->line[rq->nheaders], sizeof rq->line[0], fmt, ap);
    va_end(ap);
    rq->headers[rq->nheaders] = rq->line[rq->nheaders];
    rq->headers[++rq->nheaders] = NULL;
}

int source_request_http(const struct source_conf *sc, const struct source_resume *at, struct source_request *rq,
                        const char **why)
{
    if (buf_append(&rq->url, sc->url, strlen(sc->url)) != 0) {
        *why = "the URL is too long";
        return -1;
    }
    if (sc->framing == FRAMING_SSE) {
        source_request_header(rq, "Accept: text/event-stream");
        source_request_header(rq, "Cache-Control: no-cache");
        if (at->last_event_id && at->last_event_id[0])
            source_request_header(rq, "Last-Event-ID: %s", at->last_event_id);
    }
    return 0;
}
