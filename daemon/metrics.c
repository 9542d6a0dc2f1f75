/* metrics: evhttp endpoint and Prometheus text helpers; see metrics.h. */
#include "metrics.h"
#include "log.h"
#include "util.h"

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/util.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/socket.h>

#define METRICS_MAX_BYTES (16u * 1024u * 1024u)

struct metrics_server {
    struct evhttp *http;
    struct evhttp_bound_socket *sock;
    metrics_render_fn render;
    metrics_render_fn render_config;
    metrics_ready_fn ready;
    void *ctx;
    int port;
};

static void reply_text(struct evhttp_request *req, int code, const char *reason, const char *type,
                       const char *body, size_t len)
{
    struct evbuffer *b = evbuffer_new();

    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evbuffer_add(b, body, len);
    evhttp_send_reply(req, code, reason, b);
    evbuffer_free(b);
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct metrics_server *m = arg;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    struct buf out;
    char why[256] = "";

    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET");
        reply_text(req, 405, "Method Not Allowed", "text/plain", "only GET\n", 9);
        return;
    }
    if (!path)
        path = "/";
    if (strcmp(path, "/metrics") == 0) {
        buf_init(&out, METRICS_MAX_BYTES);
        m->render(m->ctx, &out);
        reply_text(req, 200, "OK", "text/plain; version=0.0.4; charset=utf-8", out.data ? out.data : "",
                   out.len);
        buf_free(&out);
    } else if (strcmp(path, "/config") == 0) {
        buf_init(&out, METRICS_MAX_BYTES);
        m->render_config(m->ctx, &out);
        reply_text(req, 200, "OK", "text/plain; charset=utf-8", out.data ? out.data : "", out.len);
        buf_free(&out);
    } else if (strcmp(path, "/healthz") == 0) {
        reply_text(req, 200, "OK", "text/plain", "ok\n", 3);
    } else if (strcmp(path, "/readyz") == 0) {
        /* not ready: the reason; ready: "ready", and a note if there is one (a standby) */
        int ok = m->ready(m->ctx, why, sizeof why);
        char line[sizeof why + 16];
        int n = snprintf(line, sizeof line, "%s%s%s\n", ok ? "ready" : "", ok && *why ? ": " : "", why);
        reply_text(req, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", "text/plain", line,
                   n < (int)sizeof line ? (size_t)n : sizeof line - 1);
    } else {
        reply_text(req, 404, "Not Found", "text/plain", "not found\n", 10);
    }
}

struct metrics_server *metrics_server_new(struct event_base *base, const char *listen,
                                          metrics_render_fn render, metrics_render_fn render_config,
                                          metrics_ready_fn ready, void *ctx, char *err, size_t errlen)
{
    struct metrics_server *m;
    char host[256];
    const char *colon = strrchr(listen, ':');
    long long port;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;

    if (!colon || parse_ll(colon + 1, 0, 65535, &port) || colon == listen) {
        snprintf(err, errlen, "metrics_listen = %s: expected address:port", listen);
        return NULL;
    }
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    if (host[0] == '[' && host[strlen(host) - 1] == ']') {      /* [::1]:9187 */
        memmove(host, host + 1, strlen(host));
        host[strlen(host) - 1] = '\0';
    }
    m = xcalloc(1, sizeof *m);
    m->render = render;
    m->render_config = render_config;
    m->ready = ready;
    m->ctx = ctx;
    m->http = evhttp_new(base);
    if (!m->http || !(m->sock = evhttp_bind_socket_with_handle(m->http, host, (uint16_t)port))) {
        snprintf(err, errlen, "metrics_listen = %s: cannot listen there", listen);
        metrics_server_free(m);
        return NULL;
    }
    evhttp_set_gencb(m->http, on_request, m);
    evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST |
                                            EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE);
    evhttp_set_max_headers_size(m->http, 8192);
    evhttp_set_max_body_size(m->http, 0);
    evhttp_set_timeout(m->http, 10);
    if (getsockname(evhttp_bound_socket_get_fd(m->sock), (struct sockaddr *)&ss, &sl) == 0)
        m->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                                 : ((struct sockaddr_in *)&ss)->sin_port);
    return m;
}

void metrics_server_free(struct metrics_server *m)
{
    if (!m)
        return;
    if (m->http)
        evhttp_free(m->http);
    free(m);
}

int metrics_server_port(const struct metrics_server *m)
{
    return m->port;
}

void metrics_family(struct buf *out, const char *name, const char *type, const char *help)
{
    buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void escape_label(struct buf *out, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_appendc(out, '\\');
        if (*v == '\n') {
            buf_append(out, "\\n", 2);
            continue;
        }
        buf_appendc(out, *v);
    }
}

void metrics_sample(struct buf *out, const char *name, double value, ...)
{
    va_list ap;
    const char *k;
    int first = 1;

    buf_append(out, name, strlen(name));
    va_start(ap, value);
    while ((k = va_arg(ap, const char *))) {
        const char *v = va_arg(ap, const char *);
        buf_append(out, first ? "{" : ",", 1);
        buf_printf(out, "%s=\"", k);
        escape_label(out, v ? v : "");
        buf_appendc(out, '"');
        first = 0;
    }
    va_end(ap);
    if (!first)
        buf_appendc(out, '}');
    if (value == (double)(long long)value)
        buf_printf(out, " %lld\n", (long long)value);
    else
        buf_printf(out, " %.6f\n", value);
}
