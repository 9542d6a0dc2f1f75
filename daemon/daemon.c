/* daemon: loop, signals, reload, shutdown; see daemon.h. */
#include "daemon.h"
#include "builder.h"
#include "config.h"
#include "baseline.h"
#include "fleet.h"
#include "fleet_rates.h"
#include "fleet_shares.h"
#include "heartbeat.h"
#include "http_client.h"
#include "log.h"
#include "metrics.h"
#include "paging.h"
#include "pipeline.h"
#include "prometheus.h"
#include "readiness.h"
#include "redis_conn.h"
#include "redis_sink.h"
#include "rules.h"
#include "running.h"
#include "spend.h"
#include "xrules.h"
#include "sdnotify.h"
#include "source.h"
#include "source_driver.h"
#include "spool.h"
#include "status.h"
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

/* A build's trigger: SIGHUP (the configuration and its rules) or a
 * change of the Redis rules hash (the rules only). */
enum job_kind { JOB_RELOAD = BUILD_SIGHUP, JOB_REDIS_RULES = BUILD_REDIS_RULES };

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
    struct redis_conn *redis;           /* the one connection: sink and store use it */
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
    struct heartbeat *heartbeat;
    struct baselines *baselines;        /* surge baselines kept in Redis across restarts */
    struct fleet *fleet;                /* [daemon] fleet: which sources run here; NULL: all */
    struct fleet_rates *rates;          /* a fleet's surge counts, judged once for the fleet */
    struct fleet_shares *shares;        /* a fleet's share counts: retweets fold, viral posts once */
    struct xrules *xrules;              /* X's stream rules kept in step with ours (manage_rules) */
    struct event *budget;               /* each second: X sources' daily budgets (spend.h) */
    uint64_t reloads[2][2];             /* [kind][applied] */
    int last_build_ok;                  /* of the last reload or Redis rules build */
    uint64_t last_build_ok_ms;          /* wall clock of the last applied one */
};

static void start_build(struct daemon *d);
static struct event *persist_timer(struct daemon *d, uint64_t ms, event_callback_fn fn);
static void on_status(evutil_socket_t fd, short what, void *arg);

static void sink_push(void *ctx, struct alert *a)
{
    redis_sink_push(ctx, a);
}

/* What the reports read (running.h), as of now. */
static void running_view(void *ctx, struct running *r)
{
    struct daemon *d = ctx;

    *r = (struct running){
        .cfg = d->cfg,
        .rs = d->rs,
        .src = d->src,
        .nsrc = d->nsrc,
        .sink = d->sink,
        .redis = d->redis,
        .pl = &d->pl,
        .paging = d->paging,
        .baselines = d->baselines,
        .fleet = d->fleet,
        .rates = d->rates,
        .shares = d->shares,
        .xrules = d->xrules,
        .started_ms = d->started_ms,
        .stopping = d->stopping,
        .redis_rules = d->nextra,
        .last_build_ok = d->last_build_ok,
        .last_build_ok_ms = d->last_build_ok_ms,
    };
    memcpy(r->builds, d->reloads, sizeof r->builds);
}

static void status_now(struct daemon *d, char *out, size_t len)
{
    struct running r;

    running_view(d, &r);
    status_text(&r, out, len);
}

/* The fleet hands a source to this member or takes it away. */
static void fleet_run(void *ctx, const char *name, int on)
{
    struct daemon *d = ctx;

    for (int i = 0; i < d->nsrc; i++)
        if (strcmp(source_conf_of(d->src[i])->name, name) == 0) {
            if (!on)
                source_stop(d->src[i]);
            else if (!d->stopping)
                source_start(d->src[i]);
        }
}

static void add_seed(void *ctx, const char *host, int port)
{
    redis_conn_add_seed(ctx, host, port);
}

/* The pipeline's shares go to the fleet's count; the fleet's answers come
 * back to the pipeline. */
static void share_to_fleet(void *ctx, const char *key, const struct post *share)
{
    fleet_shares_add(ctx, key, share);
}

static void fleet_alerted(void *ctx, const char *key, uint32_t shares)
{
    struct daemon *d = ctx;
    pipeline_fleet_shares(&d->pl, key, shares);
}

static void fleet_viral(void *ctx, const char *key, const struct post *share, uint32_t shares)
{
    struct daemon *d = ctx;
    pipeline_report_viral(&d->pl, key, share, shares);
}

/* The fleet learns the configuration's sources (each member has the same). */
static void tell_fleet(struct daemon *d, const struct config *cfg)
{
    const char **names = xcalloc((size_t)cfg->nsources + 1, sizeof *names);
    int *resumes = xcalloc((size_t)cfg->nsources + 1, sizeof *resumes), n = 0;

    for (const struct source_conf *sc = cfg->sources; sc; sc = sc->next, n++) {
        names[n] = sc->name;
        resumes[n] = source_driver_resumes(sc);
    }
    fleet_set_sources(d->fleet, names, resumes, n);
    free(names);
    free(resumes);
}

/* Sources kept across a reload go on as they are; new or changed ones are
 * made, and started here unless a fleet runs them elsewhere. */
static void start_sources(struct daemon *d, const struct config *cfg, struct source **keep, int nkeep)
{
    struct source **next = xcalloc((size_t)cfg->nsources + 1, sizeof *next);
    int n = 0;

    tell_fleet(d, cfg);
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
            if (fleet_owns(d->fleet, sc->name))
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
        store_set(d->store, key, out, len, 0);
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
    for (const struct source_conf *sc = cfg->sources; cfg->fleet[0] && sc; sc = sc->next)
        if (!source_driver_resumes(sc))
            log_msg(LOG_WARNING, "source %s: when a member of fleet %s dies, the posts between its last renewal "
                    "and the takeover are lost: a %s source cannot ask for them%s", sc->name, cfg->fleet,
                    sc->driver ? sc->driver->name : "file",
                    sc->driver && sc->driver->resumes ? " (set backfill_minutes)" : "");
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
    fleet_shares_set_limits(d->shares, cfg->spread_window, cfg->viral_shares);
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
        xrules_apply(d->xrules, d->cfg, d->rs);
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
        status_now(d, status, sizeof status);
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
        store_hash_read(d->store, STORE_READ_RULES, d->cfg->rules_key, on_rules_hash, d);
    arm_rules_poll(d);
}

static void on_close_poll(evutil_socket_t fd, short what, void *arg);

static void finish(struct daemon *d)
{
    uint64_t left = redis_sink_pending(d->sink), written = 0, lost;
    struct status_totals t;
    struct running r;

    /* What was read and what became of it, so a stop can be checked
     * against what the sources sent. */
    running_view(d, &r);
    status_totals(&r, &t);
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
    baselines_save(d->baselines);       /* what the surge detector learnt, for the next start */
    heartbeat_send(d->heartbeat, "stopped");
    heartbeat_stop(d->heartbeat);       /* the last word */
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
    fleet_leave(d->fleet);              /* the others take them over now, not after lease_ttl */
    if (d->status)
        evtimer_del(d->status);
    evtimer_del(d->rules_poll);
    heartbeat_send(d->heartbeat, "stopping");
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
    struct running r;

    (void)fd;
    (void)what;
    running_view(arg, &r);
    status_log(&r);
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

/* Each second: a new UTC day for the X budgets, and the best_effort rules
 * of a source whose day is spent held back from X (or given back). */
static void on_budget(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;
    uint64_t now = now_real_ms();

    (void)fd;
    (void)what;
    for (int i = 0; i < d->nsrc; i++) {
        struct spend *sp = source_spend(d->src[i]);
        if (!sp)
            continue;
        spend_tick(sp, now);
        xrules_hold(d->xrules, source_conf_of(d->src[i])->name, sp->spent);
    }
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
    struct running r;

    running_view(ctx, &r);
    return readiness_check(&r, why, whylen);
}

static void render_metrics(void *ctx, struct buf *o)
{
    struct running r;

    running_view(ctx, &r);
    prometheus_render(&r, o);
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
    redis_conn_free(d->redis);          /* its last callbacks reach the sink, the store, the baselines, the fleet */
    redis_sink_free(d->sink);
    baselines_free(d->baselines);
    fleet_rates_free(d->rates);
    fleet_shares_free(d->shares);
    fleet_free(d->fleet);
    store_free(d->store);
    if (d->budget)
        event_free(d->budget);
    xrules_free(d->xrules);
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
    heartbeat_free(d->heartbeat);
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
    {
        struct redis_conn_opts ro = {
            .unix_path = d.cfg->redis_unix,
            .host = d.cfg->redis_host,
            .port = d.cfg->redis_port,
            .db = d.cfg->redis_db,
            .username = d.cfg->redis_username,
            .password = d.cfg->redis_password,
            .connect_timeout_ms = (uint64_t)d.cfg->redis_connect_timeout,
            .command_timeout_ms = (uint64_t)d.cfg->redis_command_timeout,
            .cluster = (int)d.cfg->redis_cluster,
        };
        d.redis = redis_conn_new(d.base, &ro);
        if (d.cfg->redis_cluster)
            config_cluster_seeds(d.cfg, add_seed, d.redis);
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
        d.sink = redis_sink_new(d.base, d.cfg, d.redis, sp);
    } else {
        d.sink = redis_sink_new(d.base, d.cfg, d.redis, NULL);
    }
    if (!(d.store = store_new(d.base, d.redis, d.sink, d.cfg->key_prefix))) {
        log_msg(LOG_ERR, "cannot create the event loop's timers");
        daemon_free(&d);
        http_global_cleanup();
        return 3;
    }
    sink_queues(&d);
    pipeline_init(&d.pl, d.cfg, d.rs, sink_push, d.sink);
    d.paging = paging_new(d.base, d.http, d.cfg, d.rs, sink_push, d.sink);
    d.xrules = xrules_new(d.base, d.http);
    xrules_apply(d.xrules, d.cfg, d.rs);
    pipeline_set_observer(&d.pl, paging_observer(d.paging));
    if (!(d.baselines = baselines_new(d.base, d.store, d.paging, d.cfg->key_prefix, d.cfg->name,
                                      d.cfg->spike_save_interval)))
        log_msg(LOG_ERR, "spike baselines: cannot make their timer; a restart starts every series' warm-up");
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
    if (d.cfg->fleet[0]) {
        d.fleet = fleet_new(d.base, d.redis, d.cfg->key_prefix, d.cfg->fleet, d.cfg->name,
                            (uint64_t)d.cfg->lease_ttl * 1000, fleet_run, &d);
        if (!d.fleet) {
            log_msg(LOG_ERR, "fleet %s: cannot make its timer", d.cfg->fleet);
            daemon_free(&d);
            http_global_cleanup();
            return 3;
        }
        d.rates = fleet_rates_new(d.base, d.store, d.paging, d.fleet, d.cfg->key_prefix, d.cfg->fleet);
        if (!d.rates) {
            log_msg(LOG_ERR, "fleet %s: cannot make the surge counts' timer", d.cfg->fleet);
            daemon_free(&d);
            http_global_cleanup();
            return 3;
        }
        struct fleet_shares_hooks sh = {.alerted = fleet_alerted, .viral = fleet_viral, .ctx = &d};
        d.shares = fleet_shares_new(d.base, d.redis, d.cfg->key_prefix, d.cfg->fleet, &sh);
        if (!d.shares) {
            log_msg(LOG_ERR, "fleet %s: cannot make the share counts' timer", d.cfg->fleet);
            daemon_free(&d);
            http_global_cleanup();
            return 3;
        }
        fleet_shares_set_limits(d.shares, d.cfg->spread_window, d.cfg->viral_shares);
        pipeline_set_fleet(&d.pl, share_to_fleet, d.shares);
        log_msg(LOG_NOTICE, "fleet %s: member %s; each source runs where its lease is (lease_ttl %llds); "
                "surges, shares and retweets are counted for the fleet", d.cfg->fleet, d.cfg->name,
                d.cfg->lease_ttl);
    }
    redis_conn_start(d.redis);
    if (!d.cfg->nsources)
        log_msg(LOG_WARNING, "no [source \"name\"] section in %s: nothing is watched until one is added "
                "(then reload); not ready meanwhile", d.cfg->path);
    start_sources(&d, d.cfg, NULL, 0);
    if ((d.watchdog_usec = sdnotify_watchdog_usec()))
        d.watchdog = persist_timer(&d, d.watchdog_usec / 2000, on_watchdog);
    arm_status(&d);
    d.budget = persist_timer(&d, 1000, on_budget);
    if (!(d.heartbeat = heartbeat_new(d.base, d.store, running_view, &d)))
        log_msg(LOG_ERR, "heartbeat: cannot make its timer; %s:instance:%s is not kept", d.cfg->key_prefix,
                d.cfg->name);
    status_now(&d, status, sizeof status);
    sdnotify_ready(status);
    if (event_base_dispatch(d.base) < 0)
        d.exit_code = 3;
    log_msg(LOG_NOTICE, "mentiond stopped");
    daemon_free(&d);
    http_global_cleanup();
    log_close();
    return d.exit_code;
}
