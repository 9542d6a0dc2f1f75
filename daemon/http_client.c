/* http_client: libcurl multi_socket on libevent; see http_client.h. */
#include "http_client.h"
#include "buf.h"
#include "log.h"
#include "util.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#define HTTP_ERROR_BODY_CAP 4096
#define HTTP_HEADER_CAP 512

struct http_client {
    struct event_base *base;
    CURLM *multi;
    struct event *timer;
    struct http_stream *streams;        /* all live streams, for free */
};

struct http_stream {
    struct http_client *c;
    CURL *easy;
    const struct http_stream_cbs *cb;
    void *ctx;
    long status;
    int opened;
    struct buf errbody;
    char rl_limit[32], rl_remaining[32], rl_reset[32];
    char rate_limit[128];
    char etag[256], last_modified[64], content_type[128];
    struct curl_slist *headers;
    char errbuf[CURL_ERROR_SIZE];
    struct http_stream *prev, *next;
};

struct sock_ctx {
    struct event *ev;
    curl_socket_t fd;
    struct http_client *c;
};

int http_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void http_global_cleanup(void)
{
    curl_global_cleanup();
}

static void stream_unlink(struct http_stream *s)
{
    if (s->prev)
        s->prev->next = s->next;
    else
        s->c->streams = s->next;
    if (s->next)
        s->next->prev = s->prev;
    s->prev = s->next = NULL;
}

static void stream_destroy(struct http_stream *s)
{
    curl_multi_remove_handle(s->c->multi, s->easy);
    curl_easy_cleanup(s->easy);
    curl_slist_free_all(s->headers);
    stream_unlink(s);
    buf_free(&s->errbody);
    free(s);
}

/* Drain finished transfers.  Only here are handles removed (never from a
 * curl callback), then the owner is told. */
static void check_multi_info(struct http_client *c)
{
    CURLMsg *msg;
    int left;

    while ((msg = curl_multi_info_read(c->multi, &left))) {
        struct http_stream *s;
        struct http_result r;
        CURLcode res;

        if (msg->msg != CURLMSG_DONE)
            continue;
        res = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
        memset(&r, 0, sizeof r);
        r.transport_ok = res == CURLE_OK;
        r.status = s->status;
        r.error = res == CURLE_OK ? NULL : s->errbuf[0] ? s->errbuf
                  /* libcurl 7.88 says only "Out of memory" when a response
                   * header line passes its 100 KiB limit (CURL_MAX_HTTP_HEADER) */
                  : res == CURLE_OUT_OF_MEMORY ? "a response header over libcurl's 100 KiB limit, or out of memory"
                  : curl_easy_strerror(res);
        r.body = s->errbody.data ? s->errbody.data : "";
        r.rate_limit = s->rate_limit[0] ? s->rate_limit : NULL;
        r.etag = s->etag[0] ? s->etag : NULL;
        r.last_modified = s->last_modified[0] ? s->last_modified : NULL;
        r.content_type = s->content_type[0] ? s->content_type : NULL;
        /* An HTTP error status ends the transfer normally; report it as such
         * even when curl saw the body end early. */
        if (s->status >= 300)
            r.transport_ok = 1;
        s->cb->on_done(s->ctx, &r);
        stream_destroy(s);
    }
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct http_client *c = arg;
    int running;

    (void)fd;
    (void)what;
    curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(c);
}

/* CURLMOPT_TIMERFUNCTION: only (re)arm the one-shot timer; never call curl
 * from here (recursion).  0 -> next loop pass, -1 -> delete. */
static int multi_timer_cb(CURLM *multi, long timeout_ms, void *arg)
{
    struct http_client *c = arg;
    struct timeval tv;

    (void)multi;
    if (timeout_ms < 0) {
        evtimer_del(c->timer);
        return 0;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(c->timer, &tv);
    return 0;
}

static void on_socket(evutil_socket_t fd, short what, void *arg)
{
    struct http_client *c = arg;
    int running, flags = 0;

    if (what & EV_READ)
        flags |= CURL_CSELECT_IN;
    if (what & EV_WRITE)
        flags |= CURL_CSELECT_OUT;
    curl_multi_socket_action(c->multi, fd, flags, &running);
    check_multi_info(c);
}

/* CURLMOPT_SOCKETFUNCTION: keep one persistent event per socket, keyed on
 * the socketp curl hands back; event_del before every re-assign. */
static int multi_sock_cb(CURL *e, curl_socket_t fd, int what, void *arg, void *sockp)
{
    struct http_client *c = arg;
    struct sock_ctx *sc = sockp;
    short kind;

    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (sc) {
            event_free(sc->ev);
            free(sc);
        }
        curl_multi_assign(c->multi, fd, NULL);
        return 0;
    }
    kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) |
                   EV_PERSIST);
    if (!sc) {
        sc = xcalloc(1, sizeof *sc);
        sc->fd = fd;
        sc->c = c;
        sc->ev = event_new(c->base, fd, kind, on_socket, c);
        if (!sc->ev) {
            free(sc);
            return -1;
        }
        curl_multi_assign(c->multi, fd, sc);
    } else {
        event_del(sc->ev);
        event_assign(sc->ev, c->base, fd, kind, on_socket, c);
    }
    event_add(sc->ev, NULL);
    return 0;
}

struct http_client *http_client_new(struct event_base *base)
{
    struct http_client *c = xcalloc(1, sizeof *c);

    c->base = base;
    c->multi = curl_multi_init();
    c->timer = evtimer_new(base, on_timer, c);
    if (!c->multi || !c->timer) {
        http_client_free(c);
        return NULL;
    }
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, multi_sock_cb);
    curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, multi_timer_cb);
    curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
    /* No multiplexing: every stream its own connection and failure domain. */
    curl_multi_setopt(c->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_NOTHING);
    return c;
}

void http_client_free(struct http_client *c)
{
    if (!c)
        return;
    while (c->streams)
        stream_destroy(c->streams);
    if (c->multi)
        curl_multi_cleanup(c->multi);
    if (c->timer)
        event_free(c->timer);
    free(c);
}

static size_t write_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    struct http_stream *s = arg;
    size_t n = size * nmemb;

    if (!s->status)
        curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &s->status);
    if (s->status < 200 || s->status >= 300) {
        /* Keep the start of an error body for the log; drop the rest. */
        size_t room = s->errbody.cap - s->errbody.len;
        buf_append(&s->errbody, p, n < room ? n : room);
        return n;
    }
    if (!s->opened) {
        s->opened = 1;
        if (s->cb->on_open)
            s->cb->on_open(s->ctx, s->status, s->rate_limit[0] ? s->rate_limit : NULL);
    }
    if (s->cb->on_data(s->ctx, p, n) != 0)
        return CURL_WRITEFUNC_ERROR;
    return n;
}

/* "remaining 3 of 50, reset 2026-12-06T21:40:05Z": only what the server
 * sent (a plain feed may send one header or none). */
static void rate_limit_text(struct http_stream *s)
{
    char *o = s->rate_limit, reset[40];
    size_t len = sizeof s->rate_limit, n = 0;
    long long t;

    o[0] = '\0';
    if (s->rl_remaining[0])
        n += (size_t)snprintf(o + n, len - n, "remaining %s", s->rl_remaining);
    if (s->rl_limit[0] && n < len)
        n += (size_t)snprintf(o + n, len - n, n ? " of %s" : "limit %s", s->rl_limit);
    if (s->rl_reset[0] && n < len) {
        if (parse_ll(s->rl_reset, 1, 32503680000LL, &t) == 0) {
            format_iso8601_ms((uint64_t)t * 1000, reset, sizeof reset);
            reset[19] = 'Z';            /* whole seconds */
            reset[20] = '\0';
        } else {
            str_copy(reset, s->rl_reset, sizeof reset);
        }
        snprintf(o + n, len - n, "%sreset %s", n ? ", " : "", reset);
    }
}

/* Header lines: note the status and X's x-rate-limit-* values. */
static size_t header_cb(char *p, size_t size, size_t nmemb, void *arg)
{
    struct http_stream *s = arg;
    size_t n = size * nmemb, vl;
    char line[HTTP_HEADER_CAP];
    char *v, *dst = NULL;
    size_t dstlen = 0;
    int rl = 0;

    if (n >= sizeof line)
        return n;
    memcpy(line, p, n);
    line[n] = '\0';
#define HDR(name_, field_, is_rl_)                                                   \
    else if (strncasecmp(line, name_ ":", sizeof name_) == 0)                        \
        dst = s->field_, dstlen = sizeof s->field_, rl = is_rl_;
    if (0)
        ;
    HDR("x-rate-limit-limit", rl_limit, 1)
    HDR("x-rate-limit-remaining", rl_remaining, 1)
    HDR("x-rate-limit-reset", rl_reset, 1)
    HDR("etag", etag, 0)
    HDR("last-modified", last_modified, 0)
    HDR("content-type", content_type, 0)
#undef HDR
    if (!dst)
        return n;
    v = strchr(line, ':') + 1;
    while (*v == ' ' || *v == '\t')
        v++;
    vl = strcspn(v, "\r\n");
    v[vl] = '\0';
    str_copy(dst, v, dstlen);
    if (rl)
        rate_limit_text(s);
    return n;
}

/* TCP_KEEPCNT is not settable through libcurl 7.88 options. */
static int sockopt_cb(void *arg, curl_socket_t fd, curlsocktype purpose)
{
    int cnt = 3;
    (void)arg;
    if (purpose == CURLSOCKTYPE_IPCXN)
        setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof cnt);
    return CURL_SOCKOPT_OK;
}

struct http_stream *http_stream_start(struct http_client *c, const struct http_stream_opts *o,
                                      const struct http_stream_cbs *cb, void *ctx)
{
    struct http_stream *s = xcalloc(1, sizeof *s);
    CURL *e = curl_easy_init();

    if (!e) {
        free(s);
        return NULL;
    }
    s->c = c;
    s->easy = e;
    s->cb = cb;
    s->ctx = ctx;
    buf_init(&s->errbody, HTTP_ERROR_BODY_CAP);
    curl_easy_setopt(e, CURLOPT_URL, o->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, s);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, s);
    curl_easy_setopt(e, CURLOPT_SOCKOPTFUNCTION, sockopt_cb);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, o->connect_timeout_s);
    curl_easy_setopt(e, CURLOPT_TIMEOUT, o->timeout_s);  /* 0: endless stream */
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPIDLE, 30L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPINTVL, 10L);
    curl_easy_setopt(e, CURLOPT_ACCEPT_ENCODING, "");   /* gzip if offered */
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_USERAGENT, o->user_agent);
    for (const char *const *h = o->headers; h && *h; h++) {
        struct curl_slist *l = curl_slist_append(s->headers, *h);
        if (l)
            s->headers = l;
    }
    if (s->headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, s->headers);
    if (o->max_body)
        curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body);
    if (o->post_body) {
        /* size first: COPYPOSTFIELDS copies exactly that many bytes */
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)o->post_len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, o->post_body);
    }
    if (o->bearer) {
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
        curl_easy_setopt(e, CURLOPT_XOAUTH2_BEARER, o->bearer);
    }
    s->next = c->streams;
    if (c->streams)
        c->streams->prev = s;
    c->streams = s;
    if (curl_multi_add_handle(c->multi, e) != CURLM_OK) {
        stream_unlink(s);
        curl_easy_cleanup(e);
        curl_slist_free_all(s->headers);
        buf_free(&s->errbody);
        free(s);
        return NULL;
    }
    return s;
}

void http_stream_cancel(struct http_stream *s)
{
    if (s)
        stream_destroy(s);
}
