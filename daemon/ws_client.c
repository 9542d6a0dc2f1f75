/* ws_client: WebSocket transport on bufferevents (plain or OpenSSL); see
 * ws_client.h. */
#include "ws_client.h"
#include "log.h"
#include "util.h"
#include "ws.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LINGER_MS 1000                  /* time to flush our close frame */
#define OUT_CAP (64u * 1024u)           /* our frames: pongs, closes, pings */

struct ws_client {
    struct event_base *base;
    struct evdns_base *dns;
    SSL_CTX *tls;                       /* system CA store; made on first wss */
    struct ws_conn *lingering;          /* cancelled, flushing their close */
};

enum ws_state { WSC_CONNECTING, WSC_HANDSHAKE, WSC_REFUSED, WSC_OPEN, WSC_CLOSING, WSC_LINGER };

struct ws_conn {
    struct ws_client *client;
    struct bufferevent *bev;
    struct event *timer;                /* connect deadline, pings, linger */
    enum ws_state state;
    struct ws_url url;
    char key[WS_KEY_LEN + 1];
    struct ws_parser parser;
    struct buf out;
    const struct ws_conn_cbs *cb;
    void *ctx;
    long ping_interval_s;
    uint64_t last_rx_ms;
    int in_feed;                        /* inside ws_parser_feed: defer frees */
    int cancelled;
    int done;
    struct ws_conn *lnext, **lprev;     /* on client->lingering */
    struct ws_result res;
    char err[256];
    char protocol[64];                  /* the subprotocol asked for, "" if none */
    long body_want;                     /* refused: its Content-Length (-1: to the end) */
    size_t body_len;
    char body[WS_REFUSED_BODY + 1];
};

struct ws_client *ws_client_new(struct event_base *base)
{
    struct ws_client *c = xcalloc(1, sizeof *c);

    c->base = base;
    c->dns = evdns_base_new(base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (!c->dns)                        /* no resolv.conf: numeric hosts still work */
        c->dns = evdns_base_new(base, 0);
    return c;
}

static void conn_free(struct ws_conn *w);

void ws_client_free(struct ws_client *c)
{
    if (!c)
        return;
    while (c->lingering)
        conn_free(c->lingering);
    if (c->dns)
        evdns_base_free(c->dns, 0);
    SSL_CTX_free(c->tls);
    free(c);
}

static SSL_CTX *tls_ctx_new(const char *ca_file, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());

    if (!ctx) {
        snprintf(err, errlen, "TLS: cannot create a context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    if ((ca_file ? SSL_CTX_load_verify_locations(ctx, ca_file, NULL) : SSL_CTX_set_default_verify_paths(ctx)) != 1) {
        snprintf(err, errlen, "TLS: cannot load %s", ca_file ? ca_file : "the system CA store");
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

static int is_ip_literal(const char *host)
{
    unsigned char a[16];

    return evutil_inet_pton(AF_INET, host, a) == 1 || evutil_inet_pton(AF_INET6, host, a) == 1;
}

static void timer_in(struct event *ev, uint64_t ms)
{
    struct timeval tv = ms_to_timeval(ms);
    evtimer_add(ev, &tv);
}

static void conn_free(struct ws_conn *w)
{
    if (w->lprev) {
        *w->lprev = w->lnext;
        if (w->lnext)
            w->lnext->lprev = w->lprev;
    }
    if (w->bev)
        bufferevent_free(w->bev);       /* closes the socket and frees the SSL */
    event_free(w->timer);
    ws_parser_free(&w->parser);
    buf_free(&w->out);
    free(w);
}

/* Report the end once (unless cancelled) and free. */
static void conn_finish(struct ws_conn *w, const char *why)
{
    if (w->in_feed) {                   /* after the parser returns */
        if (!w->done && !w->cancelled) {
            w->done = 1;
            str_copy(w->err, why, sizeof w->err);
        }
        return;
    }
    if (!w->cancelled) {
        if (why != w->err)
            str_copy(w->err, why, sizeof w->err);
        w->res.error = w->err;
        w->res.body = w->body;
        w->cb->on_done(w->ctx, &w->res);
    }
    conn_free(w);
}

static void send_frame(struct ws_conn *w, int opcode, const void *p, size_t n)
{
    buf_reset(&w->out);
    if (ws_frame_encode(&w->out, opcode, p, n, NULL) == 0)
        bufferevent_write(w->bev, w->out.data, w->out.len);
}

static void send_close(struct ws_conn *w, int code, const char *reason)
{
    buf_reset(&w->out);
    if (ws_close_encode(&w->out, code, reason) == 0)
        bufferevent_write(w->bev, w->out.data, w->out.len);
}

/* After our close frame: wait for it to leave, then free (at most LINGER_MS). */
static void on_linger_write(struct bufferevent *bev, void *arg)
{
    struct ws_conn *w = arg;

    (void)bev;
    if (w->state == WSC_LINGER)
        conn_free(w);
    else
        conn_finish(w, w->err);
}

/* A cancelled connection belongs to the client from now on. */
static void adopt(struct ws_conn *w)
{
    struct ws_client *c = w->client;

    if (w->lprev)
        return;
    w->lnext = c->lingering;
    if (c->lingering)
        c->lingering->lprev = &w->lnext;
    c->lingering = w;
    w->lprev = &c->lingering;
}

static void linger(struct ws_conn *w)
{
    w->state = w->cancelled ? WSC_LINGER : WSC_CLOSING;
    if (w->cancelled)
        adopt(w);
    bufferevent_disable(w->bev, EV_READ);
    bufferevent_setcb(w->bev, NULL, on_linger_write, NULL, w);
    bufferevent_setwatermark(w->bev, EV_WRITE, 0, 0);
    evtimer_del(w->timer);
    timer_in(w->timer, LINGER_MS);
    if (evbuffer_get_length(bufferevent_get_output(w->bev)) == 0)
        on_linger_write(w->bev, w);
}

static int on_msg(void *ctx, int opcode, const char *p, size_t n)
{
    struct ws_conn *w = ctx;

    if (!w->cancelled && !w->done)
        w->cb->on_message(w->ctx, opcode, p, n);
    return w->cancelled || w->done;
}

static void on_over(void *ctx, uint64_t size)
{
    struct ws_conn *w = ctx;

    if (!w->cancelled && !w->done && w->cb->on_oversize)
        w->cb->on_oversize(w->ctx, size);
}

static int on_ctl(void *ctx, int opcode, const unsigned char *p, size_t n)
{
    struct ws_conn *w = ctx;
    char reason[WS_MAX_CONTROL + 1];

    if (opcode == WS_PING) {
        send_frame(w, WS_PONG, p, n);
        return 0;
    }
    if (opcode != WS_CLOSE)
        return 0;
    w->res.close_code = ws_close_code(p, n, reason, sizeof reason);
    /* Echo the code (RFC 6455 5.5.1), then let the server close TCP. */
    send_close(w, w->res.close_code == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : w->res.close_code, NULL);
    snprintf(w->err, sizeof w->err, "server closed the WebSocket: code %d%s%s", w->res.close_code,
             reason[0] ? ", " : "", reason);
    return 1;
}

static const struct ws_parser_cbs parser_cbs = {
    .on_message = on_msg,
    .on_oversize = on_over,
    .on_control = on_ctl,
};

/* Frames: feed every contiguous piece of the input to the parser. */
static void read_frames(struct ws_conn *w, struct evbuffer *in)
{
    int r = 0;

    w->in_feed = 1;
    while (r == 0 && evbuffer_get_length(in)) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        r = ws_parser_feed(&w->parser, v.iov_base, v.iov_len, &parser_cbs, w);
        evbuffer_drain(in, v.iov_len);
    }
    w->in_feed = 0;
    if (w->cancelled) {
        linger(w);
        return;
    }
    if (w->done) {                      /* a callback failed us: finish now */
        w->done = 0;
        conn_finish(w, w->err);
        return;
    }
    if (r < 0) {
        w->res.protocol_error = 1;
        str_copy(w->err, w->parser.err, sizeof w->err);
        send_close(w, w->parser.close_code, NULL);
        linger(w);
    } else if (r > 0) {
        linger(w);                      /* the server's close, answered */
    }
}

/* A refused upgrade: its body says why (Jetstream's CursorTooOld), so it is
 * read up to its length, the end of the connection or the cap. */
static void refused_read(struct ws_conn *w, struct evbuffer *in)
{
    size_t n = evbuffer_get_length(in), room = WS_REFUSED_BODY - w->body_len;
    size_t want = w->body_want >= 0 && (size_t)w->body_want < WS_REFUSED_BODY ? (size_t)w->body_want
                                                                                : WS_REFUSED_BODY;

    evbuffer_remove(in, w->body + w->body_len, n < room ? n : room);
    w->body_len += n < room ? n : room;
    w->body[w->body_len] = '\0';
    evbuffer_drain(in, evbuffer_get_length(in));
    if (w->body_len >= want)
        conn_finish(w, w->err);
}

static void handshake_read(struct ws_conn *w, struct evbuffer *in)
{
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);
    size_t hl;
    char *head;
    char err[200];

    if (end.pos < 0) {
        if (evbuffer_get_length(in) > WS_MAX_HANDSHAKE)
            conn_finish(w, "handshake response head over 16 KiB");
        return;
    }
    hl = (size_t)end.pos + 4;
    head = xmalloc(hl + 1);
    evbuffer_remove(in, head, hl);
    head[hl] = '\0';
    if (ws_handshake_check(head, hl, w->key, w->protocol[0] ? w->protocol : NULL, &w->res.status, err,
                           sizeof err) != 0) {
        w->body_want = ws_head_content_length(head, hl);
        free(head);
        if (w->res.status && w->res.status != 101) {
            str_copy(w->err, err, sizeof w->err);
            w->state = WSC_REFUSED;
            refused_read(w, in);
        } else {
            conn_finish(w, err);
        }
        return;
    }
    free(head);
    w->res.status = 0;
    w->res.upgraded = 1;
    w->state = WSC_OPEN;
    bufferevent_set_timeouts(w->bev, NULL, NULL);
    evtimer_del(w->timer);
    if (w->ping_interval_s > 0)
        timer_in(w->timer, (uint64_t)w->ping_interval_s * 1000);
    w->cb->on_open(w->ctx);
    if (w->cancelled) {
        linger(w);
        return;
    }
    if (evbuffer_get_length(in))
        read_frames(w, in);
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct ws_conn *w = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    size_t n = evbuffer_get_length(in);

    w->last_rx_ms = now_mono_ms();
    if (w->state == WSC_OPEN && w->cb->on_bytes)
        w->cb->on_bytes(w->ctx, n);
    if (w->state == WSC_HANDSHAKE)
        handshake_read(w, in);
    else if (w->state == WSC_OPEN)
        read_frames(w, in);
    else if (w->state == WSC_REFUSED)
        refused_read(w, in);
    else
        evbuffer_drain(in, n);
}

static void tls_error(struct ws_conn *w, char *out, size_t len)
{
    unsigned long e = bufferevent_get_openssl_error(w->bev);
    SSL *ssl = bufferevent_openssl_get_ssl(w->bev);
    long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;

    if (vr != X509_V_OK)
        snprintf(out, len, "TLS: certificate of %s not accepted: %s", w->url.host,
                 X509_verify_cert_error_string(vr));
    else if (e)
        snprintf(out, len, "TLS: %s", ERR_reason_error_string(e) ? ERR_reason_error_string(e) : "error");
    else
        out[0] = '\0';
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct ws_conn *w = arg;
    char why[300];
    int dns_err;

    if (what & BEV_EVENT_CONNECTED) {
        w->state = WSC_HANDSHAKE;       /* the request was queued at start */
        return;
    }
    if (w->state == WSC_REFUSED) {       /* the refusal's body ends here */
        conn_finish(w, w->err);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        conn_finish(w, w->state == WSC_CONNECTING ? "connect timeout" : "no answer to the upgrade request");
        return;
    }
    dns_err = bufferevent_socket_get_dns_error(bev);
    if (dns_err) {
        snprintf(why, sizeof why, "cannot resolve %s: %s", w->url.host, evutil_gai_strerror(dns_err));
    } else {
        tls_error(w, why, sizeof why);
        if (!why[0]) {
            int e = EVUTIL_SOCKET_ERROR();
            if (what & BEV_EVENT_EOF)
                snprintf(why, sizeof why, "%s", w->state == WSC_OPEN ? "connection closed without a close frame"
                                                                     : "connection closed during the handshake");
            else
                snprintf(why, sizeof why, "%s", e ? evutil_socket_error_to_string(e) : "connection error");
        }
    }
    if (w->state == WSC_CLOSING) {      /* the server closed after our echo */
        conn_finish(w, w->err);
        return;
    }
    conn_finish(w, why);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct ws_conn *w = arg;
    uint64_t idle, iv;

    (void)fd;
    (void)what;
    switch (w->state) {
    case WSC_CONNECTING:
    case WSC_HANDSHAKE:
        conn_finish(w, w->state == WSC_CONNECTING ? "connect timeout" : "no answer to the upgrade request");
        break;
    case WSC_REFUSED:
        conn_finish(w, w->err);
        break;
    case WSC_OPEN:
        iv = (uint64_t)w->ping_interval_s * 1000;
        idle = now_mono_ms() - w->last_rx_ms;
        if (idle >= iv) {
            send_frame(w, WS_PING, "mentiond", 8);
            idle = 0;
        }
        timer_in(w->timer, iv - idle);
        break;
    case WSC_CLOSING:
        conn_finish(w, w->err);
        break;
    case WSC_LINGER:
        conn_free(w);
        break;
    }
}

/* The upgrade request goes out as soon as TCP (and TLS) are up: it is
 * written now and libevent sends it on connect. */
static int queue_request(struct ws_conn *w, const struct ws_conn_opts *o)
{
    struct buf req;
    int r;

    buf_init(&req, 64 * 1024);
    r = ws_handshake_request(&req, &w->url, w->key, o->user_agent, o->protocol, o->headers);
    if (r == 0)
        r = bufferevent_write(w->bev, req.data, req.len);
    buf_free(&req);
    return r;
}

struct ws_conn *ws_conn_start(struct ws_client *c, const struct ws_conn_opts *o, const struct ws_conn_cbs *cb,
                              void *ctx, char *err, size_t errlen)
{
    struct ws_conn *w = xcalloc(1, sizeof *w);
    struct timeval tmo = {.tv_sec = o->connect_timeout_s > 0 ? o->connect_timeout_s : 10};
    SSL_CTX *tls = NULL;

    w->client = c;
    w->cb = cb;
    w->ctx = ctx;
    w->ping_interval_s = o->ping_interval_s;
    str_copy(w->protocol, o->protocol ? o->protocol : "", sizeof w->protocol);
    ws_parser_init(&w->parser, o->max_message);
    buf_init(&w->out, OUT_CAP);
    w->timer = evtimer_new(c->base, on_timer, w);
    if (ws_url_parse(o->url, &w->url, err, errlen) != 0 || ws_key_new(w->key) != 0)
        goto fail;
    if (w->url.tls) {
        SSL *ssl;
        if (o->ca_file)
            tls = tls_ctx_new(o->ca_file, err, errlen);
        else if (!c->tls)
            tls = c->tls = tls_ctx_new(NULL, err, errlen);
        else
            tls = c->tls;
        if (!tls)
            goto fail;
        ssl = SSL_new(tls);
        if (o->ca_file)
            SSL_CTX_free(tls);          /* the SSL holds its own reference */
        if (!ssl) {
            snprintf(err, errlen, "TLS: cannot create a session");
            goto fail;
        }
        if (is_ip_literal(w->url.host)) {   /* no SNI; the certificate must name the IP */
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), w->url.host);
        } else {
            SSL_set_tlsext_host_name(ssl, w->url.host);
            SSL_set1_host(ssl, w->url.host);
        }
        w->bev = bufferevent_openssl_socket_new(c->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                BEV_OPT_CLOSE_ON_FREE);
        if (w->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(w->bev, 1);
    } else {
        w->bev = bufferevent_socket_new(c->base, -1, BEV_OPT_CLOSE_ON_FREE);
    }
    if (!w->bev) {
        snprintf(err, errlen, "cannot create a connection");
        goto fail;
    }
    bufferevent_setcb(w->bev, on_read, NULL, on_event, w);
    bufferevent_set_timeouts(w->bev, &tmo, &tmo);
    bufferevent_enable(w->bev, EV_READ | EV_WRITE);
    if (queue_request(w, o) != 0) {
        snprintf(err, errlen, "handshake request too large");
        goto fail;
    }
    timer_in(w->timer, (uint64_t)tmo.tv_sec * 1000);
    w->state = WSC_CONNECTING;
    w->last_rx_ms = now_mono_ms();
    if (bufferevent_socket_connect_hostname(w->bev, c->dns, AF_UNSPEC, w->url.host, w->url.port) != 0) {
        snprintf(err, errlen, "cannot connect to %s:%d", w->url.host, w->url.port);
        goto fail;
    }
    return w;
fail:
    conn_free(w);
    return NULL;
}

void ws_conn_cancel(struct ws_conn *w)
{
    if (!w || w->cancelled)
        return;
    w->cancelled = 1;
    if (w->in_feed)
        return;                         /* read_frames lingers when the parser returns */
    if (w->state == WSC_OPEN) {
        send_close(w, WS_CLOSE_GOING_AWAY, "client stopping");
        linger(w);
    } else if (w->state == WSC_CLOSING) {
        w->state = WSC_LINGER;          /* already closing: just stop reporting */
        adopt(w);
    } else {
        conn_free(w);
    }
}

int ws_client_busy(const struct ws_client *c)
{
    return c && c->lingering != NULL;
}

int ws_conn_send_text(struct ws_conn *w, const char *p, size_t n)
{
    struct buf f;
    int r = -1;

    if (w->state != WSC_OPEN || w->cancelled)
        return -1;
    buf_init(&f, n + 16);
    if (ws_frame_encode(&f, WS_TEXT, p, n, NULL) == 0)
        r = bufferevent_write(w->bev, f.data, f.len);
    buf_free(&f);
    return r;
}
