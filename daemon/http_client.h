/* http_client: the one module that talks to libcurl.
 *
 * One curl multi handle driven by the libevent loop with the multi_socket
 * API (the hiperfifo pattern and the pitfalls of c-daemon-notes.md B1): the
 * timer callback only arms a one-shot timer, curl_multi_info_read is drained
 * after every socket_action, handles are removed only there, and every
 * stream is pinned to HTTP/1.1 (one connection per stream).
 *
 * A stream delivers its 2xx body through on_data in arbitrary slices; a non-
 * 2xx body is kept (capped) for the log.  on_done runs exactly once, from
 * loop context, after the handle is removed; the stream is freed right after
 * it returns.  http_stream_cancel() may be called from loop context (timers),
 * never from inside on_data; on_done is not called for a cancelled stream.
 */
#ifndef MENTIOND_HTTP_CLIENT_H
#define MENTIOND_HTTP_CLIENT_H

#include <stddef.h>

struct event_base;
struct http_client;
struct http_stream;

struct http_result {
    int transport_ok;           /* 1 if the HTTP exchange completed */
    long status;                /* HTTP status, 0 if none */
    const char *error;          /* curl's message when !transport_ok */
    const char *body;           /* non-2xx body (capped), NUL-terminated */
    const char *rate_limit;     /* "remaining/limit reset=..." or NULL */
    const char *etag;           /* response validators and type, or NULL */
    const char *last_modified;
    const char *content_type;
};

struct http_stream_opts {
    const char *url;
    const char *bearer;         /* token or NULL; never logged */
    long connect_timeout_s;
    const char *user_agent;
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
    long long max_body;         /* polled documents: refuse a larger body (0: no cap) */
    const char *post_body;      /* POST this (copied) instead of GET; NULL: GET */
    size_t post_len;
    long timeout_s;             /* whole request (0: none, for endless streams) */
};

struct http_stream_cbs {
    /* First body byte of a 2xx response: the stream is up. */
    void (*on_open)(void *ctx, long status, const char *rate_limit);
    /* Return 0 to continue, non-zero to abort the transfer. */
    int (*on_data)(void *ctx, const char *p, size_t n);
    void (*on_done)(void *ctx, const struct http_result *r);
};

struct http_client *http_client_new(struct event_base *base);
void http_client_free(struct http_client *c);
/* Global libcurl setup, once per process before any other thread exists. */
int http_global_init(void);
void http_global_cleanup(void);

struct http_stream *http_stream_start(struct http_client *c, const struct http_stream_opts *o,
                                      const struct http_stream_cbs *cb, void *ctx);
void http_stream_cancel(struct http_stream *s);

#endif
