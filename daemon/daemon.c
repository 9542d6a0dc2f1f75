/* daemon: loop, signals, reload, shutdown; see daemon.h. */
#include "daemon.h"
#include "config.h"
#include "http_client.h"
#include "log.h"
#include "pipeline.h"
#include "redis_sink.h"
#include "rules.h"
#include "sdnotify.h"
#include "source.h"
#include "util.h"

#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHUTDOWN_POLL_MS 20

struct daemon {
    struct event_base *base;
    struct config *cfg;
    struct ruleset *rs;
    struct pipeline pl;
    struct http_client *http;
    struct redis_sink *sink;
    struct source **src;
    int nsrc;
    struct event *ev_term, *ev_int, *ev_hup;
    struct event *watchdog, *status, *shutdown;
    uint64_t watchdog_usec;
    uint64_t last_tick_ms;
    uint64_t shutdown_deadline_ms;
    int stopping;
    int exit_code;
};

static void log_errors(const struct errlist *e, const char *what)
{
    for (int i = 0; i < e->n; i++)
        log_msg(LOG_ERR, "%s: %s", what, e->msgs[i]);
}

static void sink_push(void *ctx, struct alert *a)
{
    redis_sink_push(ctx, a);
}

static void status_text(struct daemon *d, char *out, size_t len)
{
    int up = 0;
    for (int i = 0; i < d->nsrc; i++)
        up += source_state(d->src[i]) == SOURCE_UP;
    snprintf(out, len, "%d/%d sources up, %d rules, redis %s", up, d->nsrc, d->rs->n,
             redis_sink_state(d->sink) == REDIS_UP ? "up" : "down");
}

static void start_sources(struct daemon *d, const struct config *cfg, struct source **keep, int nkeep)
{
    struct source **next = xcalloc((size_t)cfg->nsources + 1, sizeof *next);
    int n = 0;

    for (const struct source_conf *sc = cfg->sources; sc; sc = sc->next) {
        struct source *s = NULL;
        for (int i = 0; i < nkeep; i++)
            if (keep[i] && source_conf_equal(source_conf_of(keep[i]), sc)) {
                s = keep[i];
                keep[i] = NULL;
                break;
            }
        if (!s) {
            s = source_new(d->base, d->http, sc, &d->pl);
            if (!s)
                continue;
            source_start(s);
        }
        next[n++] = s;
    }
    for (int i = 0; i < nkeep; i++)
        source_free(keep[i]);           /* removed or changed */
    free(d->src);
    d->src = next;
    d->nsrc = n;
}

/* SIGHUP: build the new configuration and rules off to the side; swap only
 * if both are valid.  Redis settings apply at the next restart. */
static void reload(struct daemon *d)
{
    struct errlist errs = {0};
    struct config *cfg;
    struct ruleset *rs = NULL;
    char status[256];

    sdnotify_reloading();
    log_msg(LOG_NOTICE, "reload: reading %s", d->cfg->path);
    cfg = config_load(d->cfg->path, &errs);
    if (cfg)
        rs = rules_load(cfg->rules, (int)cfg->accents_fold, cfg->lexicons, &errs);
    if (!cfg || !rs) {
        log_errors(&errs, "reload rejected");
        log_msg(LOG_ERR, "reload rejected (%d errors); the previous configuration and %d rules keep running",
                errs.n, d->rs->n);
        errlist_free(&errs);
        config_free(cfg);
        status_text(d, status, sizeof status);
        sdnotify_ready(status);
        return;
    }
    if (strcmp(cfg->redis_url, d->cfg->redis_url) || cfg->redis_db != d->cfg->redis_db ||
        strcmp(cfg->key_prefix, d->cfg->key_prefix))
        log_msg(LOG_WARNING, "reload: [redis] settings changed; they apply at the next restart");
    log_set_level((int)cfg->log_level);
    d->pl.instance = cfg->name;
    pipeline_set_rules(&d->pl, rs);
    rules_free(d->rs);
    d->rs = rs;
    start_sources(d, cfg, d->src, d->nsrc);
    config_free(d->cfg);
    d->cfg = cfg;
    log_msg(LOG_NOTICE, "reload applied: %d rules from %d files, %d sources", rs->n, rs->nfiles, d->nsrc);
    status_text(d, status, sizeof status);
    sdnotify_ready(status);
}

static void finish(struct daemon *d)
{
    uint64_t left = redis_sink_pending(d->sink);

    if (left)
        log_msg(LOG_ERR, "shutdown: %llu alerts could not be delivered to Redis within %llds and are lost",
                (unsigned long long)left, d->cfg->shutdown_timeout);
    else
        log_msg(LOG_NOTICE, "shutdown: all alerts delivered");
    redis_sink_close(d->sink);
    event_base_loopexit(d->base, NULL);
}

static void on_shutdown_poll(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    struct timeval tv = {0, SHUTDOWN_POLL_MS * 1000};

    (void)fd;
    (void)what;
    if (redis_sink_pending(d->sink) == 0 || now_mono_ms() >= d->shutdown_deadline_ms) {
        finish(d);
        return;
    }
    evtimer_add(d->shutdown, &tv);
}

static void begin_shutdown(struct daemon *d, int sig)
{
    if (d->stopping) {
        log_msg(LOG_WARNING, "second signal %d: exiting now", sig);
        finish(d);
        return;
    }
    d->stopping = 1;
    sdnotify_stopping();
    log_msg(LOG_NOTICE, "signal %d: stopping sources, flushing %llu alerts (up to %llds)", sig,
            (unsigned long long)redis_sink_pending(d->sink), d->cfg->shutdown_timeout);
    for (int i = 0; i < d->nsrc; i++)
        source_stop(d->src[i]);
    evtimer_del(d->status);
    d->shutdown_deadline_ms = now_mono_ms() + (uint64_t)d->cfg->shutdown_timeout * 1000;
    on_shutdown_poll(-1, 0, d);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;

    (void)what;
    if (sig == SIGHUP) {
        if (!d->stopping)
            reload(d);
        return;
    }
    begin_shutdown(d, (int)sig);
}

/* Ping the watchdog only while the loop keeps its own schedule. */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    uint64_t now = now_mono_ms(), interval = d->watchdog_usec / 2000;

    (void)fd;
    (void)what;
    if (!d->last_tick_ms || now - d->last_tick_ms < interval * 2)
        sdnotify_watchdog();
    else
        log_msg(LOG_WARNING, "watchdog: loop was blocked for %llums", (unsigned long long)(now - d->last_tick_ms));
    d->last_tick_ms = now;
}

/* Periodic summary at info: what an on-call engineer wants from the log. */
static void on_status(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    const struct redis_stats *rst = redis_sink_stats(d->sink);
    uint64_t enq = 0, drop = 0, posts = 0, rej = 0;
    char status[256];

    (void)fd;
    (void)what;
    for (int l = 0; l < LEVEL_COUNT; l++) {
        enq += rst->enqueued[l];
        drop += rst->dropped[l];
    }
    for (int i = 0; i < d->nsrc; i++) {
        posts += source_feed(d->src[i])->st.posts;
        rej += feed_rejected(source_feed(d->src[i]));
    }
    status_text(d, status, sizeof status);
    log_msg(LOG_INFO, "status: %s; posts %llu, rejected records %llu, matched %llu, alerts enqueued %llu, "
            "buffered %llu, dropped %llu", status, (unsigned long long)posts, (unsigned long long)rej,
            (unsigned long long)d->pl.st.matched, (unsigned long long)enq,
            (unsigned long long)redis_sink_pending(d->sink), (unsigned long long)drop);
    sdnotify_status(status);
}

static struct event *persist_timer(struct daemon *d, uint64_t ms, event_callback_fn fn)
{
    struct timeval tv = {.tv_sec = (time_t)(ms / 1000), .tv_usec = (suseconds_t)(ms % 1000) * 1000};
    struct event *ev = event_new(d->base, -1, EV_PERSIST, fn, d);
    event_add(ev, &tv);
    return ev;
}

static void daemon_free(struct daemon *d)
{
    for (int i = 0; i < d->nsrc; i++)
        source_free(d->src[i]);
    free(d->src);
    redis_sink_free(d->sink);
    http_client_free(d->http);
    pipeline_free(&d->pl);
    rules_free(d->rs);
    config_free(d->cfg);
    if (d->ev_term)
        event_free(d->ev_term);
    if (d->ev_int)
        event_free(d->ev_int);
    if (d->ev_hup)
        event_free(d->ev_hup);
    if (d->watchdog)
        event_free(d->watchdog);
    if (d->status)
        event_free(d->status);
    if (d->shutdown)
        event_free(d->shutdown);
    if (d->base)
        event_base_free(d->base);
}

int daemon_run(const char *config_path, int foreground)
{
    struct daemon d = {0};
    struct errlist errs = {0};
    char status[256];

    d.cfg = config_load(config_path, &errs);
    if (d.cfg)
        d.rs = rules_load(d.cfg->rules, (int)d.cfg->accents_fold, d.cfg->lexicons, &errs);
    if (!d.cfg || !d.rs) {
        for (int i = 0; i < errs.n; i++)
            fprintf(stderr, "mentiond: %s\n", errs.msgs[i]);
        errlist_free(&errs);
        config_free(d.cfg);
        return 1;
    }
    log_set_level((int)d.cfg->log_level);
    log_open((int)d.cfg->syslog_facility, foreground);
    signal(SIGPIPE, SIG_IGN);           /* hiredis and curl write to sockets */
    srandom((unsigned)(now_mono_us() ^ (uint64_t)getpid()));
    if (http_global_init() != 0) {
        log_msg(LOG_ERR, "libcurl initialisation failed");
        return 3;
    }
    d.base = event_base_new();
    d.http = d.base ? http_client_new(d.base) : NULL;
    if (!d.base || !d.http) {
        log_msg(LOG_ERR, "cannot create the event loop");
        daemon_free(&d);
        http_global_cleanup();
        return 3;
    }
    d.sink = redis_sink_new(d.base, d.cfg);
    pipeline_init(&d.pl, d.cfg->name, d.rs, sink_push, d.sink);
    d.ev_term = evsignal_new(d.base, SIGTERM, on_signal, &d);
    d.ev_int = evsignal_new(d.base, SIGINT, on_signal, &d);
    d.ev_hup = evsignal_new(d.base, SIGHUP, on_signal, &d);
    event_add(d.ev_term, NULL);
    event_add(d.ev_int, NULL);
    event_add(d.ev_hup, NULL);
    d.shutdown = evtimer_new(d.base, on_shutdown_poll, &d);
    log_msg(LOG_NOTICE, "mentiond %s starting: instance %s, %d rules from %d files, %d sources",
            MENTIOND_VERSION, d.cfg->name, d.rs->n, d.rs->nfiles, d.cfg->nsources);
    redis_sink_start(d.sink);
    start_sources(&d, d.cfg, NULL, 0);
    if ((d.watchdog_usec = sdnotify_watchdog_usec()))
        d.watchdog = persist_timer(&d, d.watchdog_usec / 2000, on_watchdog);
    if (d.cfg->status_interval > 0)
        d.status = persist_timer(&d, (uint64_t)d.cfg->status_interval * 1000, on_status);
    status_text(&d, status, sizeof status);
    sdnotify_ready(status);
    if (event_base_dispatch(d.base) < 0)
        d.exit_code = 3;
    log_msg(LOG_NOTICE, "mentiond stopped");
    daemon_free(&d);
    http_global_cleanup();
    log_close();
    return d.exit_code;
}
