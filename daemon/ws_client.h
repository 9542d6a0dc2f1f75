/* ws_client: WebSocket connections over libevent bufferevents, with TLS
 * (OpenSSL) for wss://; the one module that uses libevent_openssl and
 * libssl.  libcurl 7.88 has no WebSocket support, so Jetstream needs this.
 *
 * A connection: resolve (evdns) and connect, TLS handshake with the
 * system's CA store (or ca_file) and host name verification, the HTTP
 * upgrade (ws.c checks the answer), then frames through ws_parser.  Pings
 * from the server are answered with pongs; when nothing has arrived for
 * ping_interval the client sends a ping of its own, so a quiet but healthy
 * stream keeps producing bytes and the source's stall timer only fires on
 * a dead one.  An upgrade refused with a body (an XRPC error envelope) is
 * reported with that body, read up to its Content-Length, the end of the
 * connection or WS_REFUSED_BODY bytes.  A close from the server is answered with the same code; a
 * protocol error is answered with 1002/1007 and reported.
 *
 * Callbacks run from loop context.  on_done runs exactly once unless the
 * connection was cancelled; the connection is freed right after it
 * returns.  ws_conn_cancel() may be called at any time before on_done,
 * including from inside on_message: it sends a close (1001, going away)
 * when the connection is open and lingers at most a second to flush it.
 * Owner: the source that started it.
 */
#ifndef MENTIOND_WS_CLIENT_H
#define MENTIOND_WS_CLIENT_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct ws_client;
struct ws_conn;

struct ws_result {
    int upgraded;               /* the handshake succeeded */
    long status;                /* HTTP status when the upgrade was refused */
    int close_code;             /* from the server's close frame, 0 if none */
    int protocol_error;         /* we failed the connection (ws.c said why) */
    const char *error;          /* what happened, for the log */
    const char *body;           /* a refused upgrade's body (first WS_REFUSED_BODY bytes), or "" */
};

#define WS_REFUSED_BODY 1024

struct ws_conn_opts {
    const char *url;            /* ws:// or wss:// */
    long connect_timeout_s;     /* connect, TLS and upgrade together */
    long ping_interval_s;       /* ping after this long without a byte (0: never) */
    size_t max_message;         /* larger messages are skipped (on_oversize) */
    const char *user_agent;
    const char *protocol;       /* the subprotocol asked for, or NULL */
    const char *const *headers; /* extra "Name: value" lines, NULL-terminated, or NULL */
    const char *ca_file;        /* NULL: the system's CA store */
};

struct ws_conn_cbs {
    void (*on_open)(void *ctx);
    /* Bytes received (frames of any kind, pongs included): liveness. */
    void (*on_bytes)(void *ctx, size_t n);
    void (*on_message)(void *ctx, int opcode, const char *p, size_t n);
    void (*on_oversize)(void *ctx, uint64_t size);
    void (*on_done)(void *ctx, const struct ws_result *r);
};

struct ws_client *ws_client_new(struct event_base *base);
void ws_client_free(struct ws_client *c);        /* frees lingering connections */
/* 1 while cancelled connections are still flushing their close frame;
 * shutdown waits for this (each lingers at most a second). */
int ws_client_busy(const struct ws_client *c);

/* NULL with err set if the connection could not even be started. */
struct ws_conn *ws_conn_start(struct ws_client *c, const struct ws_conn_opts *o, const struct ws_conn_cbs *cb,
                              void *ctx, char *err, size_t errlen);
void ws_conn_cancel(struct ws_conn *w);
/* Send one text message (after on_open).  Returns 0 or -1. */
int ws_conn_send_text(struct ws_conn *w, const char *p, size_t n);

#endif
