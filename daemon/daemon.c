/* daemon: loop, signals, reload, shutdown; see daemon.h. */
#include "daemon.h"
#include "builder.h"
#include "config.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "paging.h"
#include "pipeline.h"
#include "redis_sink.h"
#include "spool.h"
#include "rules.h"
#include "sdnotify.h"
#include "source.h"
#include "store.h"
#include "util.h"
#include "ws_client.h"

#include <event2/event.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHUTDOWN_POLL_MS 20
#define CLOSE_WAIT_MS 1000              /* for Redis to answer the last writes */

enum job_kind { JOB_RELOAD, JOB_REDIS_RULES };

/* A configuration and/or ruleset built on the worker thread.  Inputs are
 * copies: the thread touches nothing the loop owns. */
struct build_job {
    enum job_kind kind;
    struct daemon *d;
    char *config_path;                  /* JOB_RELOAD */
    char *rules_glob, *lexicons;        /* JOB_REDIS_RULES: the current settings */
    int fold;
    struct rule_text *extra;            /* rules from the Redis hash */
    int nextra;
    uint64_t digest;                    /* of extra */
    char *origin;
    struct config *cfg;                 /* results */
    struct ruleset *rs;
    struct errlist errs;
};

struct daemon {
    struct event_base *base;
    struct config *cfg;
    struct ruleset *rs;
    struct pipeline pl;
    struct http_client *http;
    struct ws_client *ws;
    struct redis_sink *sink;
    struct store *store;                /* positions and the rules hash, in Redis */
    struct source **src;
    int nsrc;
    struct event *ev_term, *ev_int, *ev_hup;
    struct event *watchdog, *status, *shutdown, *closing;
    uint64_t watchdog_usec;
    uint64_t last_tick_ms;
    uint64_t shutdown_deadline_ms;
    int stopping;
    int finishing;                      /* closing Redis, then out of the loop */
    int exit_code;
    struct builder *builder;
    int reload_pending;                 /* SIGHUP while a build ran */
    struct rule_text *extra;            /* applied rules from the Redis hash */
    int nextra;
    uint64_t extra_digest;
    struct rule_text *next_extra;       /* fetched, not yet built */
    int next_nextra;
    uint64_t next_digest;
    int have_next;
    uint64_t building_digest;
    struct event *rules_poll;
    struct event *ev_workers;           /* a batch finished on a worker thread */
    struct metrics_server *metrics;
    struct paging *paging;
    uint64_t started_ms;
    struct event *heartbeat;
    uint64_t heartbeat_ms;              /* last sent (monotonic) */
    uint64_t reloads[2][2];             /* [kind][applied] */
    int last_build_ok;                  /* of the last reload or Redis rules build */
    uint64_t last_build_ok_ms;          /* wall clock of the last applied one */
};

/* Rules beyond this many get one aggregated series, so a 100,000-rule
 * deployment does not flood Prometheus. */
#define METRICS_MAX_RULES 500

static void start_build(struct daemon *d);
static void heartbeat_send(struct daemon *d, const char *state);
static struct event *persist_timer(struct daemon *d, uint64_t ms, event_callback_fn fn);
static void on_status(evutil_socket_t fd, short what, void *arg);

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
            s = source_new(d->base, d->http, d->ws, store_positions(d->store), sc, &d->pl);
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

static void rule_texts_free(struct rule_text *t, int n)
{
    if (!t)
        return;
    for (int i = 0; i < n; i++) {
        free(t[i].name);
        free(t[i].json);
    }
    free(t);
}

static struct rule_text *rule_texts_dup(const struct rule_text *t, int n)
{
    struct rule_text *c = xcalloc((size_t)n + 1, sizeof *c);
    for (int i = 0; i < n; i++) {
        c[i].name = xstrdup(t[i].name);
        c[i].json = xstrdup(t[i].json);
    }
    return c;
}

static void job_free(struct build_job *j)
{
    free(j->config_path);
    free(j->rules_glob);
    free(j->lexicons);
    free(j->origin);
    rule_texts_free(j->extra, j->nextra);
    config_free(j->cfg);
    rules_free(j->rs);
    errlist_free(&j->errs);
    free(j);
}

int daemon_load(const char *config_path, const struct rule_text *extra, int nextra, const char *origin,
                struct config **cfg, struct ruleset **rs, struct errlist *errs)
{
    int before = errs->n;
    struct config *c = config_parse(config_path, errs);
    struct ruleset *r = NULL;

    if (c && config_rules_usable(c))
        r = rules_load_with(c->rules, (int)c->accents_fold, c->lexicons, extra, nextra, origin, errs);
    if (errs->n > before || !c || !r) {
        rules_free(r);
        config_free(c);
        return -1;
    }
    *cfg = c;
    *rs = r;
    return 0;
}

/* Worker thread: read and compile, touching only the job. */
static void job_work(void *arg)
{
    struct build_job *j = arg;
    const char *glob = j->rules_glob, *lex = j->lexicons;
    int fold = j->fold;

    if (j->kind == JOB_RELOAD) {
        daemon_load(j->config_path, j->extra, j->nextra, j->origin, &j->cfg, &j->rs, &j->errs);
        return;
    }
    j->rs = rules_load_with(glob, fold, lex, j->extra, j->nextra, j->origin, &j->errs);
}

/* <prefix>:rules:status: what the last build did, for the services that
 * manage rules through the hash. */
static void publish_status(struct daemon *d, const struct build_job *j, int applied)
{
    struct json_writer *w;
    const char *out;
    char key[512], at[40];
    size_t len;

    if (!d->cfg->rules_key[0] || !(w = jw_new()))
        return;
    format_iso8601_ms(now_real_ms(), at, sizeof at);
    jw_map_open(w);
    jw_key(w, "applied");
    jw_bool(w, applied);
    jw_key(w, "rules");
    jw_int(w, d->rs->n);
    jw_key(w, "redis_rules");
    jw_int(w, d->nextra);
    jw_key(w, "trigger");
    jw_str(w, j->kind == JOB_RELOAD ? "reload" : "redis");
    jw_key(w, "errors");
    jw_array_open(w);
    for (int i = 0; i < j->errs.n; i++)
        jw_str(w, j->errs.msgs[i]);
    jw_array_close(w);
    jw_key(w, "at");
    jw_str(w, at);
    jw_map_close(w);
    if (jw_finish(w, &out, &len) == 0) {
        snprintf(key, sizeof key, "%s:rules:status", d->cfg->key_prefix);
        redis_sink_set(d->sink, key, out, len, 0);
    }
    jw_free(w);
}

/* What a configuration says that is worth a line: its warnings, and the
 * word lists the scorer uses. */
static void log_config_notes(const struct config *cfg, const struct ruleset *rs)
{
    char lex[1024];

    for (int i = 0; i < cfg->warnings.n; i++)
        log_msg(LOG_WARNING, "%s", cfg->warnings.msgs[i]);
    rules_lexicons_describe(rs, lex, sizeof lex);
    log_msg(rs->lex ? LOG_INFO : LOG_WARNING, "priorities are scored %s", lex);
}

static void arm_status(struct daemon *d)
{
    if (d->status)
        event_free(d->status);
    d->status = NULL;
    if (d->cfg->status_interval > 0)
        d->status = persist_timer(d, (uint64_t)d->cfg->status_interval * 1000, on_status);
}

/* Restart-only keys (the configuration table's column) keep their running
 * values in the new configuration, so what runs is what it says; one
 * warning names them. */
static void keep_restart_keys(struct daemon *d, struct config *cfg)
{
    char changed[2048];
    int n = config_keep_restart(cfg, d->cfg, changed, sizeof changed);

    if (n)
        log_msg(LOG_WARNING, "reload: %s changed; %s at the next restart (the running value%s kept)", changed,
                n == 1 ? "it applies" : "they apply", n == 1 ? " is" : "s are");
}

static void apply_reload(struct daemon *d, struct build_job *j)
{
    struct config *cfg = j->cfg;
    int status_changed = cfg->status_interval != d->cfg->status_interval;

    log_set_level((int)cfg->log_level);
    pipeline_set_config(&d->pl, cfg);
    start_sources(d, cfg, d->src, d->nsrc);
    config_free(d->cfg);
    d->cfg = cfg;
    j->cfg = NULL;
    if (status_changed)
        arm_status(d);
}

/* The queues the rules (and canned replies) write to, for stream mode's
 * consumer groups. */
static void sink_queues(struct daemon *d)
{
    const char **q = xcalloc((size_t)d->rs->n + 2, sizeof *q);
    int n = 0;

    q[n++] = d->cfg->canned_queue;
    if (strcmp(d->cfg->incident_queue, d->cfg->canned_queue))
        q[n++] = d->cfg->incident_queue;
    for (int i = 0; i < d->rs->n; i++) {
        int dup = 0;
        for (int k = 0; k < n && !dup; k++)
            dup = strcmp(q[k], d->rs->rules[i].queue) == 0;
        if (!dup)
            q[n++] = d->rs->rules[i].queue;
        if (n > 1000)
            break;                      /* groups for the rest are made with their streams */
    }
    redis_sink_set_queues(d->sink, q, n);
    free(q);
}

/* Loop thread: swap in what the worker built, or keep what runs. */
static void job_done(void *arg)
{
    struct build_job *j = arg;
    struct daemon *d = j->d;
    char status[256];
    const char *what = j->kind == JOB_RELOAD ? "reload" : "rules from Redis";

    d->building_digest = 0;
    if (d->stopping) {
        job_free(j);
        return;
    }
    d->reloads[j->kind][j->rs != NULL]++;
    d->last_build_ok = j->rs != NULL;
    if (j->rs)
        d->last_build_ok_ms = now_real_ms();
    if (!j->rs) {
        for (int i = 0; i < j->errs.n; i++)
            log_msg(LOG_ERR, "%s rejected: %s", what, j->errs.msgs[i]);
        log_msg(LOG_ERR, "%s rejected (%d error%s); the previous configuration and %d rules keep running",
                what, j->errs.n, j->errs.n == 1 ? "" : "s", d->rs->n);
        if (j->kind == JOB_REDIS_RULES)
            d->extra_digest = j->digest;   /* do not rebuild the same bad hash every poll */
        publish_status(d, j, 0);
    } else {
        /* Posts matched against the old rules go through first: their
         * results index the old rules, in the pipeline and in paging. */
        pipeline_drain(&d->pl);
        if (j->kind == JOB_RELOAD)
            keep_restart_keys(d, j->cfg);
        /* paging takes the new configuration (restart-only keys kept above) */
        paging_set(d->paging, j->kind == JOB_RELOAD ? j->cfg : d->cfg, j->rs);
        if (j->kind == JOB_RELOAD)
            apply_reload(d, j);
        pipeline_set_rules(&d->pl, j->rs);
        rules_free(d->rs);
        d->rs = j->rs;
        j->rs = NULL;
        sink_queues(d);
        rule_texts_free(d->extra, d->nextra);
        d->extra = j->extra;
        d->nextra = j->nextra;
        d->extra_digest = j->digest;
        j->extra = NULL;
        j->nextra = 0;
        log_msg(LOG_NOTICE, "%s applied: %d rules from %d files and %d from Redis, %d sources", what,
                d->rs->n, d->rs->nfiles, d->nextra, d->nsrc);
        if (j->kind == JOB_RELOAD)
            log_config_notes(d->cfg, d->rs);
        publish_status(d, j, 1);
    }
    if (j->kind == JOB_RELOAD) {
        status_text(d, status, sizeof status);
        sdnotify_ready(status);
    }
    job_free(j);
    start_build(d);                     /* whatever arrived meanwhile */
}

/* Start the next pending build, if any and if none runs. */
static void start_build(struct daemon *d)
{
    struct build_job *j;

    if (d->stopping || builder_busy(d->builder) || (!d->reload_pending && !d->have_next))
        return;
    j = xcalloc(1, sizeof *j);
    j->d = d;
    {
        char origin[600];
        snprintf(origin, sizeof origin, "redis:%s", d->cfg->rules_key);
        j->origin = xstrdup(origin);
    }
    if (d->have_next) {                 /* newest Redis rules go into either kind */
        j->extra = d->next_extra;
        j->nextra = d->next_nextra;
        j->digest = d->next_digest;
        d->next_extra = NULL;
        d->next_nextra = 0;
        d->have_next = 0;
    } else {
        j->extra = rule_texts_dup(d->extra, d->nextra);
        j->nextra = d->nextra;
        j->digest = d->extra_digest;
    }
    if (d->reload_pending) {
        j->kind = JOB_RELOAD;
        j->config_path = xstrdup(d->cfg->path);
        d->reload_pending = 0;
        sdnotify_reloading();
        log_msg(LOG_NOTICE, "reload: reading %s (building off the loop)", d->cfg->path);
    } else {
        j->kind = JOB_REDIS_RULES;
        j->rules_glob = xstrdup(d->cfg->rules);
        j->lexicons = xstrdup(d->cfg->lexicons);
        j->fold = (int)d->cfg->accents_fold;
        log_msg(LOG_NOTICE, "rules from Redis: %s changed (%d rules); building", d->cfg->rules_key, j->nextra);
    }
    d->building_digest = j->digest;
    if (builder_run(d->builder, job_work, job_done, j) != 0) {
        log_msg(LOG_ERR, "cannot start the build; keeping the current rules");
        job_free(j);
    }
}

/* Fields sorted by name, so the digest does not depend on HGETALL's order. */
static int cmp_rule_text(const void *a, const void *b)
{
    return strcmp(((const struct rule_text *)a)->name, ((const struct rule_text *)b)->name);
}

/* Digest of a rules hash (fields sorted by name), to build only on change. */
static uint64_t rule_texts_digest(const struct rule_text *t, int n)
{
    uint64_t h = 1469598103934665603ull;
    for (int i = 0; i < n; i++) {
        h ^= hash_bytes(t[i].name, strlen(t[i].name)) * 31 + hash_bytes(t[i].json, strlen(t[i].json));
        h *= 1099511628211ull;
    }
    return h;
}

static void on_rules_hash(void *ctx, int ok, const char *const *fields, const char *const *vals, int n)
{
    struct daemon *d = ctx;
    struct rule_text *t;
    uint64_t h;

    log_msg(LOG_DEBUG, "rules hash %s: %s, %d fields", d->cfg->rules_key, ok ? "read" : "not read", n);
    if (!ok || d->stopping)
        return;
    t = xcalloc((size_t)n + 1, sizeof *t);
    for (int i = 0; i < n; i++) {
        t[i].name = xstrdup(fields[i]);
        t[i].json = xstrdup(vals[i]);
    }
    qsort(t, (size_t)n, sizeof *t, cmp_rule_text);
    h = rule_texts_digest(t, n);
    if (h == d->extra_digest || h == d->building_digest || (d->have_next && h == d->next_digest)) {
        rule_texts_free(t, n);
        return;
    }
    rule_texts_free(d->next_extra, d->next_nextra);
    d->next_extra = t;
    d->next_nextra = n;
    d->next_digest = h;
    d->have_next = 1;
    start_build(d);
}

static void arm_rules_poll(struct daemon *d)
{
    uint64_t ms = (uint64_t)d->cfg->rules_poll_interval;
    struct timeval tv = ms_to_timeval(ms);
    evtimer_add(d->rules_poll, &tv);
}

static void on_rules_poll(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;

    (void)fd;
    (void)what;
    if (d->cfg->rules_key[0])
        store_rules_read(d->store, d->cfg->rules_key, on_rules_hash, d);
    arm_rules_poll(d);
}

static void on_close_poll(evutil_socket_t fd, short what, void *arg);

/* What the status line and the heartbeat report, summed over levels and
 * sources. */
struct totals {
    uint64_t enqueued, dropped, records, posts, rejected;
    int sources_up;
};

static void totals_get(struct daemon *d, struct totals *t)
{
    const struct redis_stats *rst = redis_sink_stats(d->sink);
    const struct spool *sp = redis_sink_spool(d->sink);

    memset(t, 0, sizeof *t);
    for (int l = 0; l < LEVEL_COUNT; l++) {
        t->enqueued += rst->enqueued[l];
        t->dropped += rst->dropped[l] + rst->dropped_spool[l] + (sp ? spool_stats(sp)->dropped[l] : 0);
    }
    for (int i = 0; i < d->nsrc; i++) {
        const struct feed *f = source_feed(d->src[i]);
        t->records += f->fr.stats.records;
        t->posts += f->st.posts;
        t->rejected += feed_rejected(f);
        t->sources_up += source_state(d->src[i]) == SOURCE_UP;
    }
}

static void finish(struct daemon *d)
{
    uint64_t left = redis_sink_pending(d->sink), written = 0, lost;
    struct totals t;

    /* What was read and what became of it, so a stop can be checked
     * against what the sources sent. */
    totals_get(d, &t);
    log_msg(LOG_NOTICE, "shutdown: since the start %llu records read, %llu posts decoded, %llu rejected; "
            "%llu alerts acknowledged by Redis, %llu still to deliver", (unsigned long long)t.records,
            (unsigned long long)t.posts, (unsigned long long)t.rejected, (unsigned long long)t.enqueued,
            (unsigned long long)left);

    if (!left) {
        log_msg(LOG_NOTICE, "shutdown: all alerts delivered");
        store_positions_final(d->store);
    } else if (!(lost = redis_sink_spill(d->sink, &written))) {
        /* On disk, replayed first at the next start: positions are safe. */
        log_msg(LOG_NOTICE, "shutdown: %llu alerts not delivered to Redis within %llds are in the spool %s "
                "(%llu written now); the next start sends them first", (unsigned long long)left,
                d->cfg->shutdown_timeout, d->cfg->spool_dir, (unsigned long long)written);
        store_positions_final(d->store);
    } else {
        log_msg(LOG_ERR, "shutdown: %llu alerts could not be delivered to Redis within %llds and are lost%s",
                (unsigned long long)lost, d->cfg->shutdown_timeout,
                d->cfg->spool_dir[0] ? " (the spool refused them)" : " (no spool_dir)");
        if (written)
            log_msg(LOG_NOTICE, "shutdown: %llu more written to the spool %s", (unsigned long long)written,
                    d->cfg->spool_dir);
    }
    heartbeat_send(d, "stopped");
    redis_sink_close(d->sink);
    /* the last writes (cursors, heartbeat) are on the wire once Redis has
     * answered them and hiredis closed the connection */
    d->finishing = 1;
    d->shutdown_deadline_ms = now_mono_ms() + CLOSE_WAIT_MS;
    on_close_poll(-1, 0, d);
}

static void on_close_poll(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    struct timeval tv = {0, SHUTDOWN_POLL_MS * 1000};

    (void)fd;
    (void)what;
    if (redis_sink_closed(d->sink) || now_mono_ms() >= d->shutdown_deadline_ms)
        event_base_loopexit(d->base, NULL);
    else
        evtimer_add(d->closing, &tv);
}

static void on_shutdown_poll(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    struct timeval tv = {0, SHUTDOWN_POLL_MS * 1000};

    (void)fd;
    (void)what;
    /* pages still going out get the same grace as alerts */
    if ((redis_sink_pending(d->sink) == 0 && !ws_client_busy(d->ws) && paging_pending(d->paging) == 0) ||
        now_mono_ms() >= d->shutdown_deadline_ms) {
        if (paging_pending(d->paging))
            log_msg(LOG_WARNING, "shutdown: %zu on-call notifications not delivered", paging_pending(d->paging));
        finish(d);
        return;
    }
    evtimer_add(d->shutdown, &tv);
}

static void begin_shutdown(struct daemon *d, int sig)
{
    if (d->finishing) {
        event_base_loopexit(d->base, NULL);
        return;
    }
    if (d->stopping) {
        log_msg(LOG_WARNING, "second signal %d: exiting now", sig);
        evtimer_del(d->shutdown);
        finish(d);
        return;
    }
    d->stopping = 1;
    sdnotify_stopping();
    log_msg(LOG_NOTICE, "signal %d: stopping sources, flushing %llu alerts (up to %llds)", sig,
            (unsigned long long)redis_sink_pending(d->sink), d->cfg->shutdown_timeout);
    for (int i = 0; i < d->nsrc; i++)
        source_stop(d->src[i]);
    if (d->status)
        evtimer_del(d->status);
    evtimer_del(d->rules_poll);
    heartbeat_send(d, "stopping");
    d->shutdown_deadline_ms = now_mono_ms() + (uint64_t)d->cfg->shutdown_timeout * 1000;
    on_shutdown_poll(-1, 0, d);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;

    (void)what;
    if (sig == SIGHUP) {
        d->reload_pending = 1;
        start_build(d);
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
    struct totals t;
    char status[256];

    (void)fd;
    (void)what;
    totals_get(d, &t);
    status_text(d, status, sizeof status);
    log_msg(LOG_INFO, "status: %s; posts %llu, rejected records %llu, matched %llu, alerts enqueued %llu, "
            "buffered %llu, spooled %llu, dropped %llu", status, (unsigned long long)t.posts,
            (unsigned long long)t.rejected, (unsigned long long)d->pl.st.matched, (unsigned long long)t.enqueued,
            (unsigned long long)redis_sink_buffered(d->sink),
            (unsigned long long)(redis_sink_pending(d->sink) - redis_sink_buffered(d->sink)),
            (unsigned long long)t.dropped);
    sdnotify_status(status);
}

/* The heartbeat hash's fields, built as owned strings. */
struct kv {
    char **f, **v;
    int n, cap;
};

static void kv_add(struct kv *k, const char *f, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void kv_add(struct kv *k, const char *f, const char *fmt, ...)
{
    va_list ap;
    char v[512];

    if (k->n == k->cap) {
        k->cap = k->cap ? 2 * k->cap : 64;
        k->f = xrealloc(k->f, (size_t)k->cap * sizeof *k->f);
        k->v = xrealloc(k->v, (size_t)k->cap * sizeof *k->v);
    }
    va_start(ap, fmt);
    vsnprintf(v, sizeof v, fmt, ap);
    va_end(ap);
    k->f[k->n] = xstrdup(f);
    k->v[k->n++] = xstrdup(v);
}

static void kv_free(struct kv *k)
{
    for (int i = 0; i < k->n; i++) {
        free(k->f[i]);
        free(k->v[i]);
    }
    free(k->f);
    free(k->v);
}

static void heartbeat_sources(struct daemon *d, struct kv *k)
{
    char f[300];

    for (int i = 0; i < d->nsrc; i++) {
        const char *n = source_conf_of(d->src[i])->name;
        snprintf(f, sizeof f, "source:%s", n);
        kv_add(k, f, "%s", source_state_name(source_state(d->src[i])));
        snprintf(f, sizeof f, "source:%s:posts", n);
        kv_add(k, f, "%llu", (unsigned long long)source_feed(d->src[i])->st.posts);
        snprintf(f, sizeof f, "source:%s:reconnects", n);
        kv_add(k, f, "%llu", (unsigned long long)source_stats(d->src[i])->reconnects);
    }
}

/* <prefix>:instance:<name>: who runs, since when, what it did, and the state
 * of every source; expires after three intervals, so a dead instance's hash
 * goes away by itself.  state is running, stopping or stopped. */
static void heartbeat_send(struct daemon *d, const char *state)
{
    uint64_t now = now_real_ms();
    long long ttl = d->cfg->heartbeat_interval * 3;
    struct kv k = {0};
    struct totals t;
    char key[512], host[256] = "", at[40];

    if (d->cfg->heartbeat_interval <= 0 || redis_sink_state(d->sink) != REDIS_UP)
        return;
    totals_get(d, &t);
    gethostname(host, sizeof host - 1);
    kv_add(&k, "state", "%s", state);
    kv_add(&k, "version", "%s", MENTIOND_VERSION);
    kv_add(&k, "host", "%s", host);
    kv_add(&k, "pid", "%ld", (long)getpid());
    format_iso8601_ms(d->started_ms, at, sizeof at);
    kv_add(&k, "started", "%s", at);
    format_iso8601_ms(now, at, sizeof at);
    kv_add(&k, "updated", "%s", at);
    kv_add(&k, "uptime_seconds", "%llu", (unsigned long long)((now - d->started_ms) / 1000));
    kv_add(&k, "heartbeat_interval", "%lld", d->cfg->heartbeat_interval);
    kv_add(&k, "rules", "%d", d->rs->n);
    kv_add(&k, "rules_from_redis", "%d", d->nextra);
    kv_add(&k, "last_reload", "%s", d->reloads[0][0] + d->reloads[0][1] + d->reloads[1][0] + d->reloads[1][1] == 0
                                        ? "none" : d->last_build_ok ? "applied" : "rejected");
    kv_add(&k, "sources", "%d", d->nsrc);
    kv_add(&k, "sources_up", "%d", t.sources_up);
    kv_add(&k, "records_received", "%llu", (unsigned long long)t.records);
    kv_add(&k, "posts_decoded", "%llu", (unsigned long long)t.posts);
    kv_add(&k, "records_rejected", "%llu", (unsigned long long)t.rejected);
    kv_add(&k, "posts_matched", "%llu", (unsigned long long)d->pl.st.matched);
    kv_add(&k, "alerts_enqueued", "%llu", (unsigned long long)t.enqueued);
    kv_add(&k, "alerts_deduplicated", "%llu", (unsigned long long)redis_sink_stats(d->sink)->duplicates);
    kv_add(&k, "alerts_buffered", "%llu", (unsigned long long)redis_sink_buffered(d->sink));
    kv_add(&k, "alerts_spooled", "%llu",
           (unsigned long long)(redis_sink_pending(d->sink) - redis_sink_buffered(d->sink)));
    kv_add(&k, "alerts_dropped", "%llu", (unsigned long long)t.dropped);
    kv_add(&k, "incidents_open", "%llu", (unsigned long long)paging_open(d->paging));
    heartbeat_sources(d, &k);
    snprintf(key, sizeof key, "%s:instance:%s", d->cfg->key_prefix, d->cfg->name);
    if (redis_sink_hash_replace(d->sink, key, (const char *const *)k.f, (const char *const *)k.v, k.n,
                                ttl < 3 ? 3 : ttl) == 0)
        d->heartbeat_ms = now_mono_ms();
    kv_free(&k);
}

/* Every second: due, or Redis just came back (the hash may have expired). */
static void on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    int up = redis_sink_state(d->sink) == REDIS_UP;

    (void)fd;
    (void)what;
    if (d->finishing)
        return;                         /* "stopped" was the last word */
    if (!up)
        d->heartbeat_ms = 0;
    else if (!d->heartbeat_ms || now_mono_ms() - d->heartbeat_ms >= (uint64_t)d->cfg->heartbeat_interval * 1000)
        heartbeat_send(d, d->stopping ? "stopping" : "running");
}

/* Worker threads finished batches: their posts go on, in arrival order. */
static void on_workers(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    uint64_t n;

    (void)what;
    if (read(fd, &n, sizeof n) < 0) {
        /* EAGAIN: another wake-up already emptied the counter */
    }
    pipeline_collect(&d->pl);
}

static struct event *persist_timer(struct daemon *d, uint64_t ms, event_callback_fn fn)
{
    struct timeval tv = ms_to_timeval(ms);
    struct event *ev = event_new(d->base, -1, EV_PERSIST, fn, d);
    event_add(ev, &tv);
    return ev;
}

static int ready_check(void *ctx, char *why, size_t whylen)
{
    struct daemon *d = ctx;

    if (redis_sink_state(d->sink) != REDIS_UP) {
        snprintf(why, whylen, "redis is not connected");
        return 0;
    }
    if (!d->nsrc) {
        snprintf(why, whylen, "no sources configured");
        return 0;
    }
    for (int i = 0; i < d->nsrc; i++)
        if (!source_healthy(d->src[i])) {
            snprintf(why, whylen, "source %s is %s beyond its budget", source_conf_of(d->src[i])->name,
                     source_state_name(source_state(d->src[i])));
            return 0;
        }
    return 1;
}

static void render_sources(struct daemon *d, struct buf *o)
{
#define PER_SOURCE(mname, type, help, expr)                                                       \
    do {                                                                                          \
        metrics_family(o, mname, type, help);                                                     \
        for (int i = 0; i < d->nsrc; i++) {                                                       \
            const struct source *s_ = d->src[i];                                                  \
            const struct feed *f_ = source_feed(s_);                                              \
            const struct source_stats *ss_ = source_stats(s_);                                    \
            (void)f_;                                                                             \
            (void)ss_;                                                                            \
            metrics_sample(o, mname, (double)(expr), "source", source_conf_of(s_)->name, NULL);   \
        }                                                                                         \
    } while (0)
    PER_SOURCE("mentiond_source_up", "gauge", "1 while the source is connected (or a file is read)",
               source_state(s_) == SOURCE_UP);
    PER_SOURCE("mentiond_source_down_seconds", "gauge",
               "Seconds the source has been trying to (re)connect, across attempts (0 while up or done)",
               (double)(source_down_ms(s_) / 1000));
    PER_SOURCE("mentiond_source_bytes_total", "counter", "Bytes received", f_->st.bytes);
    PER_SOURCE("mentiond_posts_received_total", "counter", "Records framed", f_->fr.stats.records);
    PER_SOURCE("mentiond_posts_decoded_total", "counter", "Posts decoded", f_->st.posts);
    PER_SOURCE("mentiond_keepalives_total", "counter", "Keep-alive lines received", f_->fr.stats.keepalives);
    PER_SOURCE("mentiond_control_messages_total", "counter", "In-stream control messages (errors, notices)",
               f_->st.control);
    PER_SOURCE("mentiond_source_connects_total", "counter", "Successful connections", ss_->connects);
    PER_SOURCE("mentiond_source_reconnects_total", "counter", "Connection attempts after the first",
               ss_->reconnects);
    PER_SOURCE("mentiond_source_stalls_total", "counter", "Connections dropped as stalled", ss_->stalls);
    PER_SOURCE("mentiond_source_http_errors_total", "counter", "HTTP error responses", ss_->http_errors);
    PER_SOURCE("mentiond_source_network_errors_total", "counter", "Network errors", ss_->network_errors);
#undef PER_SOURCE
    metrics_family(o, "mentiond_records_rejected_total", "counter", "Records skipped, by reason");
    for (int i = 0; i < d->nsrc; i++) {
        const struct feed *f = source_feed(d->src[i]);
        const char *n = source_conf_of(d->src[i])->name;
        metrics_sample(o, "mentiond_records_rejected_total", (double)f->st.malformed, "source", n, "reason", "malformed", NULL);
        metrics_sample(o, "mentiond_records_rejected_total", (double)f->fr.stats.oversized, "source", n, "reason", "oversized", NULL);
        metrics_sample(o, "mentiond_records_rejected_total", (double)f->fr.stats.truncated, "source", n, "reason", "truncated", NULL);
        metrics_sample(o, "mentiond_records_rejected_total", (double)f->st.skipped, "source", n, "reason", "not_a_post", NULL);
        metrics_sample(o, "mentiond_records_rejected_total", (double)f->fr.stats.garbage, "source", n, "reason", "bad_length", NULL);
    }
}

/* One family with a sample per priority level. */
static void render_levels(struct buf *o, const char *name, const char *type, const char *help,
                          const uint64_t v[LEVEL_COUNT])
{
    metrics_family(o, name, type, help);
    for (int l = 0; l < LEVEL_COUNT; l++)
        metrics_sample(o, name, (double)v[l], "level", level_names[l], NULL);
}

static void render_spool(struct buf *o, const struct spool *sp)
{
    const struct spool_stats *st;
    uint64_t unread[LEVEL_COUNT];

    if (!sp)
        return;
    st = spool_stats(sp);
    for (int l = 0; l < LEVEL_COUNT; l++)
        unread[l] = spool_unread(sp, l);
    metrics_family(o, "mentiond_spool_bytes", "gauge", "Bytes in the spool directory's segments");
    metrics_sample(o, "mentiond_spool_bytes", (double)spool_bytes(sp), NULL);
    render_levels(o, "mentiond_spool_alerts", "gauge", "Alerts waiting on disk to be sent, by level", unread);
    render_levels(o, "mentiond_alerts_spooled_total", "counter", "Alerts written to the spool, by level",
                  st->written);
    render_levels(o, "mentiond_spool_replayed_total", "counter", "Alerts read back from the spool, by level",
                  st->read);
    metrics_family(o, "mentiond_spool_recovered", "gauge", "Alerts found in the spool at start (an earlier run's)");
    metrics_sample(o, "mentiond_spool_recovered", (double)st->recovered, NULL);
    metrics_family(o, "mentiond_spool_corrupt_records_total", "counter", "Spool records skipped: bad checksum or torn");
    metrics_sample(o, "mentiond_spool_corrupt_records_total", (double)st->corrupt, NULL);
    metrics_family(o, "mentiond_spool_write_errors_total", "counter", "Spool writes that failed");
    metrics_sample(o, "mentiond_spool_write_errors_total", (double)st->write_errors, NULL);
}

/* Per queue and level; queues with no alert yet show nothing. */
static void render_enqueued(struct daemon *d, struct buf *o)
{
    char *const *names;
    const uint64_t(*counts)[LEVEL_COUNT];
    int n = redis_sink_queue_counts(d->sink, &names, &counts);

    metrics_family(o, "mentiond_alerts_enqueued_total", "counter",
                   "Alerts acknowledged by Redis, by queue (the first 200 by name, then _other) and level");
    for (int i = 0; i < n; i++)
        for (int l = 0; l < LEVEL_COUNT; l++)
            metrics_sample(o, "mentiond_alerts_enqueued_total", (double)counts[i][l], "queue", names[i], "level",
                           level_names[l], NULL);
}

static void render_metrics(void *ctx, struct buf *o)
{
    struct daemon *d = ctx;
    const struct redis_stats *rs = redis_sink_stats(d->sink);
    const struct spool *sp = redis_sink_spool(d->sink);
    const struct pipeline_stats *ps = &d->pl.st;
    uint64_t other = 0, cum = 0;

    metrics_family(o, "mentiond_build_info", "gauge", "Version and instance");
    metrics_sample(o, "mentiond_build_info", 1, "version", MENTIOND_VERSION, "instance", d->cfg->name, NULL);
    metrics_family(o, "mentiond_start_time_seconds", "gauge", "Start time, seconds since the epoch");
    metrics_sample(o, "mentiond_start_time_seconds", (double)(d->started_ms / 1000), NULL);
    render_sources(d, o);
    metrics_family(o, "mentiond_reloads_total", "counter",
                   "Configuration and rule builds, by trigger (SIGHUP or the Redis rules hash) and result");
    for (int k = 0; k < 2; k++)
        for (int ok = 0; ok < 2; ok++)
            metrics_sample(o, "mentiond_reloads_total", (double)d->reloads[k][ok], "trigger",
                           k == JOB_RELOAD ? "sighup" : "redis", "result", ok ? "applied" : "rejected", NULL);
    metrics_family(o, "mentiond_config_last_reload_successful", "gauge",
                   "1 unless the last reload or Redis rules build was rejected");
    metrics_sample(o, "mentiond_config_last_reload_successful",
                   d->reloads[0][0] + d->reloads[1][0] == 0 || d->last_build_ok, NULL);
    metrics_family(o, "mentiond_config_last_reload_success_timestamp_seconds", "gauge",
                   "When the running configuration and rules were applied (the start, or the last reload)");
    metrics_sample(o, "mentiond_config_last_reload_success_timestamp_seconds",
                   (double)((d->last_build_ok_ms ? d->last_build_ok_ms : d->started_ms) / 1000), NULL);
    metrics_family(o, "mentiond_rules", "gauge", "Rules loaded");
    metrics_sample(o, "mentiond_rules", d->rs->n, NULL);
    metrics_family(o, "mentiond_rule_matches_total", "counter",
                   "Posts matched, per rule (rules beyond the first 500 aggregated as _other)");
    for (int i = 0; i < d->rs->n; i++) {
        if (i < METRICS_MAX_RULES)
            metrics_sample(o, "mentiond_rule_matches_total", (double)d->pl.rule_matches[i], "rule",
                           d->rs->rules[i].name, NULL);
        else
            other += d->pl.rule_matches[i];
    }
    if (d->rs->n > METRICS_MAX_RULES)
        metrics_sample(o, "mentiond_rule_matches_total", (double)other, "rule", "_other", NULL);
    metrics_family(o, "mentiond_worker_threads", "gauge", "Decode-and-match threads ([daemon] workers; 0: the loop)");
    metrics_sample(o, "mentiond_worker_threads", (double)pipeline_worker_count(&d->pl), NULL);
    metrics_family(o, "mentiond_worker_batches_pending", "gauge",
                   "Batches of records handed to the worker threads and not yet through the pipeline");
    metrics_sample(o, "mentiond_worker_batches_pending", (double)pipeline_pending(&d->pl), NULL);
#define PIPE(mname, help, v)                            \
    do {                                                \
        metrics_family(o, mname, "counter", help);      \
        metrics_sample(o, mname, (double)(v), NULL);    \
    } while (0)
    PIPE("mentiond_posts_matched_total", "Posts that matched at least one rule", ps->matched);
    PIPE("mentiond_posts_unmatched_total", "Posts looked at that matched no rule", ps->unmatched);
    PIPE("mentiond_posts_duplicate_total", "The same post again within dedup_window: no alert", ps->duplicates);
    PIPE("mentiond_shares_folded_total", "Retweets of an alerted post, counted as its shares", ps->shares_folded);
    PIPE("mentiond_own_posts_total", "Posts of own_handles (not mentions)", ps->own_posts);
    PIPE("mentiond_canned_replies_total", "canned_reply alerts raised", ps->canned_replies);
    PIPE("mentiond_pii_masked_total", "Alerts whose text had numbers masked", ps->pii_masked);
    PIPE("mentiond_text_controls_replaced_total",
         "Control characters (NUL and C0 but tab and newline) in posts, replaced by U+FFFD before matching",
         ps->controls_replaced);
    PIPE("mentiond_alerts_deduplicated_total", "Alerts Redis already had (seen key): not pushed", rs->duplicates);
    PIPE("mentiond_redis_requeued_total", "Alerts sent again after a lost or refused command", rs->requeued);
    PIPE("mentiond_post_deletions_total", "Deletion notices from the sources", ps->deletions);
    PIPE("mentiond_alerts_withdrawn_total", "Alerts not sent because their post was deleted first", rs->withdrawn);
    PIPE("mentiond_deleted_records_total", "\"deleted\" records pushed after an alert already sent",
         rs->deletions_pushed);
    PIPE("mentiond_redis_errors_total", "Error replies from Redis", rs->errors);
    PIPE("mentiond_redis_timeouts_total", "Connect or command deadlines hit", rs->timeouts);
    PIPE("mentiond_redis_connects_total", "Connections to Redis", rs->connects);
#undef PIPE
    metrics_family(o, "mentiond_alerts_dropped_total", "counter", "Alerts dropped, by reason and level");
    metrics_sample(o, "mentiond_alerts_dropped_total", (double)(ps->encode_failed + ps->bad_text), "reason",
                   "unencodable", "level", "any", NULL);
    metrics_sample(o, "mentiond_alerts_dropped_total", (double)ps->nomem, "reason", "out_of_memory", "level",
                   "any", NULL);
    for (int l = 0; l < LEVEL_COUNT; l++) {
        metrics_sample(o, "mentiond_alerts_dropped_total", (double)rs->dropped[l], "reason", "buffer_full",
                       "level", level_names[l], NULL);
        metrics_sample(o, "mentiond_alerts_dropped_total",
                       (double)(rs->dropped_spool[l] + (sp ? spool_stats(sp)->dropped[l] : 0)), "reason",
                       "spool_full", "level", level_names[l], NULL);
    }
    render_levels(o, "mentiond_alerts_trimmed_total", "counter",
                  "Alerts removed from a Redis queue by max_queue_length (least urgent first), by level", rs->trimmed);
    render_spool(o, sp);
    paging_metrics(d->paging, o);
    metrics_family(o, "mentiond_viral_posts_total", "counter", "Alerted posts whose shares reached viral_shares");
    metrics_sample(o, "mentiond_viral_posts_total", (double)ps->viral, NULL);
    metrics_family(o, "mentiond_redis_state_changes_total", "counter", "Redis connection state changes");
    metrics_sample(o, "mentiond_redis_state_changes_total", (double)rs->went_up, "to", "up", NULL);
    metrics_sample(o, "mentiond_redis_state_changes_total", (double)rs->went_down, "to", "down", NULL);
    render_enqueued(d, o);
    metrics_family(o, "mentiond_alerts_buffered", "gauge", "Alerts held in memory (buffered or in flight)");
    metrics_sample(o, "mentiond_alerts_buffered", (double)redis_sink_buffered(d->sink), NULL);
    metrics_family(o, "mentiond_redis_up", "gauge", "1 while connected to Redis");
    metrics_sample(o, "mentiond_redis_up", redis_sink_state(d->sink) == REDIS_UP, NULL);
    metrics_family(o, "mentiond_alert_latency_seconds", "histogram",
                   "From a post's arrival to Redis acknowledging its alert");
    for (int b = 0; b <= REDIS_LATENCY_BUCKETS; b++) {
        char le[32];
        cum += rs->latency_hist[b];
        if (b < REDIS_LATENCY_BUCKETS)
            snprintf(le, sizeof le, "%g", redis_latency_bounds[b]);
        else
            snprintf(le, sizeof le, "+Inf");
        metrics_sample(o, "mentiond_alert_latency_seconds_bucket", (double)cum, "le", le, NULL);
    }
    metrics_sample(o, "mentiond_alert_latency_seconds_sum", (double)rs->latency_us_sum / 1e6, NULL);
    metrics_sample(o, "mentiond_alert_latency_seconds_count", (double)rs->latency_count, NULL);
}

/* GET /config: the configuration as it runs (restart-only keys at their
 * running values after a reload), secrets hidden. */
static void render_config(void *ctx, struct buf *o)
{
    struct daemon *d = ctx;
    config_dump(d->cfg, o);
}

static void daemon_free(struct daemon *d)
{
    pipeline_drain(&d->pl);             /* while paging and the sink are there */
    if (d->ev_workers)
        event_free(d->ev_workers);
    metrics_server_free(d->metrics);
    builder_free(d->builder);           /* waits for a build still running */
    paging_free(d->paging);
    rule_texts_free(d->extra, d->nextra);
    rule_texts_free(d->next_extra, d->next_nextra);
    if (d->rules_poll)
        event_free(d->rules_poll);
    for (int i = 0; i < d->nsrc; i++)
        source_free(d->src[i]);
    free(d->src);
    d->src = NULL;
    d->nsrc = 0;
    redis_sink_free(d->sink);           /* its last callbacks reach the store */
    store_free(d->store);
    http_client_free(d->http);
    ws_client_free(d->ws);
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
    if (d->closing)
        event_free(d->closing);
    if (d->heartbeat)
        event_free(d->heartbeat);
    if (d->base)
        event_base_free(d->base);
}

int daemon_run(const char *config_path, int foreground)
{
    struct daemon d = {0};
    struct errlist errs = {0};
    char status[256];

    if (daemon_load(config_path, NULL, 0, NULL, &d.cfg, &d.rs, &errs) != 0) {
        for (int i = 0; i < errs.n; i++)
            fprintf(stderr, "mentiond: %s\n", errs.msgs[i]);
        fprintf(stderr, "mentiond: %s: %d error%s\n", config_path, errs.n, errs.n == 1 ? "" : "s");
        errlist_free(&errs);
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
    d.ws = d.base ? ws_client_new(d.base) : NULL;
    if (!d.base || !d.http) {
        log_msg(LOG_ERR, "cannot create the event loop");
        daemon_free(&d);
        http_global_cleanup();
        return 3;
    }
    if (d.cfg->spool_dir[0]) {
        char err[512];
        struct spool *sp = spool_open(d.cfg->spool_dir, (uint64_t)d.cfg->spool_max_bytes,
                                      spool_segment_bytes((uint64_t)d.cfg->spool_max_bytes),
                                      (enum spool_fsync)d.cfg->spool_fsync, err, sizeof err);
        if (!sp) {
            log_msg(LOG_ERR, "%s", err);
            daemon_free(&d);
            http_global_cleanup();
            return 3;
        }
        d.sink = redis_sink_new(d.base, d.cfg, sp);
    } else {
        d.sink = redis_sink_new(d.base, d.cfg, NULL);
    }
    if (!(d.store = store_new(d.base, d.sink, d.cfg->key_prefix))) {
        log_msg(LOG_ERR, "cannot create the event loop's timers");
        daemon_free(&d);
        http_global_cleanup();
        return 3;
    }
    sink_queues(&d);
    pipeline_init(&d.pl, d.cfg, d.rs, sink_push, d.sink);
    d.paging = paging_new(d.base, d.http, d.cfg, d.rs, sink_push, d.sink);
    pipeline_set_observer(&d.pl, paging_observer(d.paging));
    if (d.cfg->workers > 0) {
        if (pipeline_start_workers(&d.pl, (int)d.cfg->workers) != 0) {
            log_msg(LOG_ERR, "cannot start %lld worker threads", d.cfg->workers);
            daemon_free(&d);
            http_global_cleanup();
            return 3;
        }
        d.ev_workers = event_new(d.base, pipeline_workers_fd(&d.pl), EV_READ | EV_PERSIST, on_workers, &d);
        event_add(d.ev_workers, NULL);
    }
    d.ev_term = evsignal_new(d.base, SIGTERM, on_signal, &d);
    d.ev_int = evsignal_new(d.base, SIGINT, on_signal, &d);
    d.ev_hup = evsignal_new(d.base, SIGHUP, on_signal, &d);
    event_add(d.ev_term, NULL);
    event_add(d.ev_int, NULL);
    event_add(d.ev_hup, NULL);
    d.shutdown = evtimer_new(d.base, on_shutdown_poll, &d);
    d.closing = evtimer_new(d.base, on_close_poll, &d);
    d.builder = builder_new(d.base);
    d.rules_poll = evtimer_new(d.base, on_rules_poll, &d);
    arm_rules_poll(&d);
    d.extra_digest = rule_texts_digest(NULL, 0);   /* an empty hash builds nothing */
    log_msg(LOG_NOTICE, "mentiond %s starting: instance %s, %d rules from %d files, %d sources",
            MENTIOND_VERSION, d.cfg->name, d.rs->n, d.rs->nfiles, d.cfg->nsources);
    log_config_notes(d.cfg, d.rs);
    d.started_ms = now_real_ms();
    if (d.cfg->metrics_listen[0]) {
        char err[256];
        d.metrics = metrics_server_new(d.base, d.cfg->metrics_listen, render_metrics, render_config, ready_check, &d,
                                       err, sizeof err);
        if (!d.metrics) {
            log_msg(LOG_ERR, "%s", err);
            daemon_free(&d);
            http_global_cleanup();
            return 3;
        }
        log_msg(LOG_NOTICE, "metrics: listening on %s (port %d): /metrics /healthz /readyz /config",
                d.cfg->metrics_listen, metrics_server_port(d.metrics));
    }
    redis_sink_start(d.sink);
    if (!d.cfg->nsources)
        log_msg(LOG_WARNING, "no [source \"name\"] section in %s: nothing is watched until one is added "
                "(then reload); not ready meanwhile", d.cfg->path);
    start_sources(&d, d.cfg, NULL, 0);
    if ((d.watchdog_usec = sdnotify_watchdog_usec()))
        d.watchdog = persist_timer(&d, d.watchdog_usec / 2000, on_watchdog);
    arm_status(&d);
    d.heartbeat = persist_timer(&d, 1000, on_heartbeat);
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
