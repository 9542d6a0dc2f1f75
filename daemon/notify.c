/* notify: on-call documents over HTTP POST with retries; see notify.h. */
#include "notify.h"
#include "http_client.h"
#include "log.h"
#include "util.h"

#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_FIRST_MS 1000
#define RETRY_MAX_MS 60000

const char *const receiver_names[RECEIVER_COUNT] = {"alertmanager", "pagerduty", "webhook"};

struct job {
    char *body;
    size_t len;
    char what[200];
    int attempts;
    struct job *next;
};

struct queue {
    struct notifier *n;
    enum receiver r;
    char *url;                  /* NULL: off */
    struct job *head, *tail;
    size_t len;
    struct http_stream *inflight;       /* serving head */
    struct event *retry;                /* head waits for its next attempt */
    struct receiver_stats st;
};

struct notifier {
    struct event_base *base;
    struct http_client *http;
    long timeout_s;
    int retries;
    size_t cap;
    struct queue q[RECEIVER_COUNT];
};

static const char *const json_headers[] = {
    "Content-Type: application/json",
    "Expect:",                          /* no 100-continue round trip */
    NULL,
};

static void job_free(struct job *j)
{
    if (j) {
        free(j->body);
        free(j);
    }
}

static void start_head(struct queue *q);

static void pop_head(struct queue *q)
{
    struct job *j = q->head;

    q->head = j->next;
    if (!q->head)
        q->tail = NULL;
    q->len--;
    q->st.queued = q->len;
    job_free(j);
}

static int retryable(const struct http_result *r)
{
    return !r->transport_ok || r->status >= 500 || r->status == 429 || r->status == 0;
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    start_head(arg);
}

static void schedule_retry(struct queue *q)
{
    uint64_t ms = RETRY_FIRST_MS;
    struct timeval tv;

    for (int i = 1; i < q->head->attempts && ms < RETRY_MAX_MS; i++)
        ms *= 2;
    if (ms > RETRY_MAX_MS)
        ms = RETRY_MAX_MS;
    ms = ms / 2 + (uint64_t)random() % (ms / 2 + 1);    /* jitter: half to all of it */
    tv = ms_to_timeval(ms);
    event_add(q->retry, &tv);
}

static int on_data(void *ctx, const char *p, size_t n)
{
    (void)ctx;
    (void)p;
    (void)n;
    return 0;                   /* a 2xx answer's body says nothing we need */
}

static void on_done(void *ctx, const struct http_result *r)
{
    struct queue *q = ctx;
    struct job *j = q->head;
    int ok = r->transport_ok && r->status >= 200 && r->status < 300;

    q->inflight = NULL;
    if (ok) {
        q->st.sent++;
        log_msg(LOG_INFO, "notify %s: %s: sent (HTTP %ld)", receiver_names[q->r], j->what, r->status);
    } else if (retryable(r) && j->attempts <= q->n->retries) {
        q->st.retries++;
        log_limited(LOG_WARNING, "notify %s: %s: %s; attempt %d, retrying", receiver_names[q->r], j->what,
                    r->transport_ok ? "HTTP error" : r->error ? r->error : "transport error", j->attempts);
        schedule_retry(q);
        return;
    } else {
        q->st.failed++;
        log_limited(LOG_ERR, "notify %s: %s: given up after %d attempts: HTTP %ld %s%.200s",
                    receiver_names[q->r], j->what, j->attempts, r->status,
                    r->transport_ok ? "" : r->error ? r->error : "transport error",
                    r->body ? r->body : "");
    }
    pop_head(q);
    start_head(q);
}

static const struct http_stream_cbs cbs = {.on_data = on_data, .on_done = on_done};

static void start_head(struct queue *q)
{
    struct job *j = q->head;
    struct http_stream_opts o = {
        .url = q->url,
        .connect_timeout_s = q->n->timeout_s,
        .timeout_s = q->n->timeout_s,
        .user_agent = "mentiond/" MENTIOND_VERSION,
        .headers = json_headers,
        .max_body = 65536,
    };

    if (!j || q->inflight || evtimer_pending(q->retry, NULL))
        return;
    o.post_body = j->body;
    o.post_len = j->len;
    j->attempts++;
    q->inflight = http_stream_start(q->n->http, &o, &cbs, q);
    if (!q->inflight) {
        q->st.retries++;
        schedule_retry(q);
    }
}

struct notifier *notifier_new(struct event_base *base, struct http_client *http,
                              const char *const url[RECEIVER_COUNT], long timeout_s, int retries, size_t cap)
{
    struct notifier *n = xcalloc(1, sizeof *n);

    n->base = base;
    n->http = http;
    n->timeout_s = timeout_s;
    n->retries = retries;
    n->cap = cap;
    for (int r = 0; r < RECEIVER_COUNT; r++) {
        struct queue *q = &n->q[r];
        q->n = n;
        q->r = (enum receiver)r;
        q->url = url[r] && url[r][0] ? xstrdup(url[r]) : NULL;
        q->retry = evtimer_new(base, on_retry, q);
    }
    return n;
}

void notifier_free(struct notifier *n)
{
    if (!n)
        return;
    for (int r = 0; r < RECEIVER_COUNT; r++) {
        struct queue *q = &n->q[r];
        http_stream_cancel(q->inflight);
        while (q->head)
            pop_head(q);
        if (q->retry)
            event_free(q->retry);
        if (q->url) {
            explicit_bzero(q->url, strlen(q->url));
            free(q->url);
        }
    }
    free(n);
}

int notifier_enabled(const struct notifier *n, enum receiver r)
{
    return n && n->q[r].url != NULL;
}

void notifier_send(struct notifier *n, enum receiver r, const char *body, size_t len, const char *what)
{
    struct queue *q = &n->q[r];
    struct job *j;

    if (!q->url)
        return;
    if (q->len >= n->cap) {
        /* drop the oldest that is not being sent */
        struct job **pp = q->inflight || evtimer_pending(q->retry, NULL) ? &q->head->next : &q->head, *d = *pp;
        if (d) {
            *pp = d->next;
            if (q->tail == d)
                q->tail = q->head == d ? NULL : q->head;
            q->len--;
            q->st.dropped++;
            log_limited(LOG_WARNING, "notify %s: queue full (%zu): dropped %s", receiver_names[r], n->cap, d->what);
            job_free(d);
        }
    }
    j = xcalloc(1, sizeof *j);
    j->body = xstrndup(body, len);
    j->len = len;
    str_copy(j->what, what, sizeof j->what);
    if (q->tail)
        q->tail->next = j;
    else
        q->head = j;
    q->tail = j;
    q->len++;
    q->st.queued = q->len;
    start_head(q);
}

const struct receiver_stats *notifier_stats(const struct notifier *n, enum receiver r)
{
    return &n->q[r].st;
}

size_t notifier_pending(const struct notifier *n)
{
    size_t t = 0;

    for (int r = 0; n && r < RECEIVER_COUNT; r++)
        t += n->q[r].len;
    return t;
}
