/* source_driver: everything that makes one type of source what it is, in
 * one place (curl's protocol handlers are the model).
 *
 * A driver names its type, the transport that carries it, the decoder of
 * its records and their framing, the [source] keys of its own (a table the
 * generic [source] parser reads), the checks its section needs beyond the
 * table's, the request of each connection attempt (URL, headers, the
 * message sent once a WebSocket is open), and whether it keeps a stream
 * position.  source.c runs the life cycle and dispatches on the transport
 * only; config.c, decode.c and replay.c find everything else here.
 *
 * Adding a type: its driver file, source_TYPE.c, its line in the table in
 * source_driver.c, its object in the Makefile (and its decoder, if it
 * brings a new format).  Pure (no I/O library): unit-tested.
 */
#ifndef MENTIOND_SOURCE_DRIVER_H
#define MENTIOND_SOURCE_DRIVER_H

#include "buf.h"
#include "framing.h"

#include <stddef.h>
#include <stdint.h>

struct ckey;
struct config;
struct decoder_ops;
struct errlist;
struct source_conf;

enum source_transport {
    TRANSPORT_HTTP_STREAM,      /* one long HTTP response (X, Mastodon, SSE, NDJSON) */
    TRANSPORT_HTTP_POLL,        /* a document fetched every `interval` (RSS, Atom) */
    TRANSPORT_WEBSOCKET,        /* one message is one record (Jetstream) */
    TRANSPORT_FILE,             /* a recorded file, read once */
};

/* What the life cycle knows when it (re)connects, for the request. */
struct source_resume {
    uint64_t position;          /* the position reached by this process (0: none) */
    uint64_t saved;             /* the saved one to start from (0: none): from Redis, or one a refusal gave */
    unsigned dict_id;           /* the zstd dictionary's id (0: none, or not to be used) */
    int poll;                   /* ask the polled form (Mastodon's timeline where streaming is off) */
    const char *query;          /* a catch-up by queries (CATCHUP_QUERIES): this request's, else NULL */
    const char *last_event_id;  /* event streams: the last id the server gave, "" if none */
    const char *etag;           /* polled documents: the last one's validators, "" if none */
    const char *last_modified;
};

#define SOURCE_REQUEST_HEADERS 8
#define SOURCE_REQUEST_MAX_URL (1024 * 1024)

/* One connection attempt's request.  Owner: the caller of
 * source_request_init(), which frees it with source_request_free(). */
struct source_request {
    struct buf url;
    const char *headers[SOURCE_REQUEST_HEADERS + 1];    /* "Name: value", NULL-terminated */
    char line[SOURCE_REQUEST_HEADERS][FRAMING_SSE_MAX_ID + 64];
    int nheaders;
    char *hello;                /* WebSocket: text sent once open, or NULL */
    const char *protocol;       /* WebSocket: the subprotocol asked for, or NULL */
    uint64_t cursor;            /* the position asked from (0: live) */
    uint64_t poll_interval_ms;  /* polled documents: until the next poll */
    int poll;                   /* this request is a poll (a document), though the type streams */
    int page;                   /* a poll's page size: a page this full may have more after it */
};

enum {
    DRIVER_NEEDS_TOKEN = 1,     /* refused without a bearer token */
    DRIVER_POSITION = 2,        /* keeps a stream position (decoder_ops.position), saved per source */
    DRIVER_POSITION_ID = 4,     /* the position is the highest numeric post id seen, when it resumes */
};

/* What a refused connection's answer means, when the type can tell more
 * than its status (Jetstream v2's XRPC errors, source_driver.refused). */
struct source_refusal {
    int retry;                  /* reconnect at once from `resume`, no backoff */
    uint64_t resume;            /* the position to resume from (0: as before) */
    int lost;                   /* what lay before `resume` is lost: an unfilled gap */
    int plain;                  /* ask without compression from now on */
    int poll;                   /* poll from now on: the stream is not served */
    char why[300];              /* for the log: what happened and what to do */
};

/* How a type asks for what its stream missed (source_driver.catchup). */
enum source_catchup {
    CATCHUP_NONE,
    CATCHUP_FORWARD,            /* its timeline read forward from the position, page after full page */
    CATCHUP_QUERIES,            /* a request per rule, its X query from the position (at->query) */
};

struct source_driver {
    const char *name;                   /* type = NAME; for a file source, format = NAME */
    enum source_transport transport;
    const struct decoder_ops *decoder;  /* NULL: type = file (its format's decoder) */
    enum framing_mode framing;          /* unless the section sets `framing` */
    unsigned flags;
    const char *url_example;            /* in the message when `url` is missing or wrong */
    const char *token_why;              /* appended to "needs a bearer token", or "" */
    const struct ckey *keys;            /* its own [source] keys */
    size_t nkeys;
    size_t own_size;                    /* its own settings (SOURCE_OWN_KEY's struct), or 0 */
    /* Optional: the framing by the section's other keys (X v1.1: the URL
     * asks for delimited=length), and when records come from a file. */
    enum framing_mode (*framing_for)(const struct source_conf *sc, int from_file);
    /* Optional: checks beyond the key table's, reported through
     * source_key_error() (config_key.h); may derive fields (dids_file). */
    void (*validate)(struct config *c, struct source_conf *s, struct errlist *errs);
    /* The request of one connection attempt; NULL: source_request_http().
     * Returns 0, or -1 with *why set (the attempt backs off). */
    int (*request)(const struct source_conf *sc, const struct source_resume *at, struct source_request *rq,
                   const char **why);
    /* Optional: whether a connection made by a process that never ran the
     * source asks for what was missed before it (X's backfill_minutes).
     * Types that keep a position and polled documents always do. */
    int (*resumes)(const struct source_conf *sc);
    /* Optional: the meaning of an upgrade refused with status and body
     * (asked: the position the request asked from).  Returns 1 when it
     * knows (out filled), 0 for the usual backoff. */
    int (*refused)(const struct source_conf *sc, long status, const char *body, uint64_t asked,
                   struct source_refusal *out);
    /* Optional: a document read before connecting (rq: its URL; -1: none
     * for this section), and what its answer says: 1 to poll instead of
     * streaming (why, for the log), 0 to stream (Mastodon's
     * /api/v2/instance, where 4.5 says which feeds are off). */
    int (*probe)(const struct source_conf *sc, struct source_request *rq);
    int (*probed)(const struct source_conf *sc, long status, const char *body, size_t len, char *why,
                  size_t whylen);
    /* Optional: whether and how it asks for what its stream missed before
     * connecting again, the gap being gap_ms long (UINT64_MAX: unknown,
     * the first connection after a start). */
    enum source_catchup (*catchup)(const struct source_conf *sc, uint64_t gap_ms);
    /* Optional: the instances a section stands for (a list; config.c
     * makes a source of each), NULL or "" if none. */
    const char *(*instances)(const struct source_conf *sc);
};

/* An x_v2 section with manage_rules = on: 1 with the rules endpoint's URL
 * and the account's limits (rule count, characters a rule); else 0. */
int x_v2_managed(const struct source_conf *sc, char *rules_url, size_t len, int *max_rules, int *max_len);
/* An x_v2 section's daily_budget in posts a day (0: none). */
uint64_t x_v2_budget(const struct source_conf *sc);

/* Every type, in the order messages list them. */
extern const struct source_driver *const source_drivers[];
extern const size_t source_driver_count;

/* The driver of a type name; NULL if unknown. */
const struct source_driver *source_driver_find(const char *name);
/* "x_v2, x_v1, ... or file": the types, or (formats = 1) the ones a file or
 * --replay can be read as. */
const char *source_driver_names(char *out, size_t len, int formats);
/* A section's settings of driver d's own (SOURCE_OWN_KEY); NULL if d has
 * none or is not the section's type or format. */
const void *source_own(const struct source_conf *sc, const struct source_driver *d);
/* The framing a section of this driver uses unless it sets one. */
enum framing_mode source_driver_framing(const struct source_driver *d, const struct source_conf *sc, int from_file);

/* Whether a section's source, started anew elsewhere (a fleet's takeover,
 * a restart), fills the gap since it last ran: a saved position, a
 * backfill, a polled document that still holds the recent items. */
int source_driver_resumes(const struct source_conf *sc);

void source_request_init(struct source_request *rq);
void source_request_free(struct source_request *rq);
/* Adds a header line (formatted); ignored past SOURCE_REQUEST_HEADERS. */
void source_request_header(struct source_request *rq, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* What every HTTP source asks: its URL as written and, for an event
 * stream, text/event-stream, no caching and the last event id to resume
 * after (Mastodon gives none; generic SSE servers may). */
int source_request_http(const struct source_conf *sc, const struct source_resume *at, struct source_request *rq,
                        const char **why);

#endif
