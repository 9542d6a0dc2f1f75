/* incident: surge and viral incidents, grouping and the page budget; see
 * incident.h. */
#include "incident.h"
#include "post.h"
#include "rules.h"
#include "strmap.h"
#include "text.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOUR_S 3600

const char *const incident_kind_names[INCIDENT_KINDS] = {"rule", "queue", "topic", "viral"};
const char *const incident_action_names[] = {"open", "escalate", "reopen", "resolve"};

/* One tracked series (or one viral post) and its latest incident. */
struct tracked {
    enum incident_kind kind;
    char name[192];
    char queue[80];
    int has_series;
    struct spike_series s;
    int live;                   /* wanted by the current rules (or viral and open) */
    int has_inc;
    struct incident inc;
    uint64_t ended_s;           /* monotonic second the last incident resolved */
    uint64_t viral_until_s;
    struct incident_sample recent[INCIDENT_SAMPLES];    /* ring, newest at head */
    int nrecent, head;
    uint64_t acc_s;             /* shared: the second being counted here, and its count */
    uint32_t acc_n;
};

/* shared: a completed second's count, to be handed out. */
struct shared_count {
    char series[256];
    uint64_t s;
    uint32_t n;
};

struct incidents {
    char instance[72];
    struct incident_params p;
    const struct incident_cbs *cb;
    void *ctx;
    struct tracked **t;
    int n, cap;
    struct strmap index;        /* "<kind>/<name>" -> slot in t */
    int *rule_series, *rule_topic;      /* per rule of the ruleset: slot or -1 */
    int nrules;
    uint64_t hour_start_s;      /* the page budget's hour; 0 = none running */
    uint32_t hour_pages;
    uint64_t hour_suppressed;
    int shared;                 /* counts handed out, series fed by incidents_add_count */
    struct shared_count *out;
    int nout, capout;
    struct incident_stats st;
};

struct incidents *incidents_new(const char *instance, const struct incident_params *p,
                                const struct incident_cbs *cb, void *ctx)
{
    struct incidents *in = xcalloc(1, sizeof *in);

    str_copy(in->instance, instance, sizeof in->instance);
    in->p = *p;
    in->cb = cb;
    in->ctx = ctx;
    strmap_init(&in->index);
    return in;
}

static void tracked_free(struct tracked *t)
{
    if (t) {
        if (t->has_series)
            spike_free(&t->s);
        free(t);
    }
}

void incidents_free(struct incidents *in)
{
    if (!in)
        return;
    for (int i = 0; i < in->n; i++)
        tracked_free(in->t[i]);
    free(in->t);
    free(in->rule_series);
    free(in->rule_topic);
    free(in->out);
    strmap_free(&in->index);
    free(in);
}

static int index_key(char *out, size_t len, enum incident_kind k, const char *name)
{
    return snprintf(out, len, "%s/%s", incident_kind_names[k], name);
}

static int find(const struct incidents *in, enum incident_kind k, const char *name)
{
    char key[256];
    int *v, n = index_key(key, sizeof key, k, name);

    v = strmap_get(&in->index, key, (size_t)n);
    return v && *v >= 0 && *v < in->n ? *v : -1;
}

/* The slot for (kind, name), created if absent; -1 when over the cap. */
static int get(struct incidents *in, enum incident_kind k, const char *name, const char *queue,
               int with_series, uint64_t now_s)
{
    char key[256];
    int i = find(in, k, name), n, inserted;
    struct tracked *t;

    if (i >= 0)
        return i;
    if (in->n >= INCIDENT_MAX_SERIES + INCIDENT_MAX_VIRAL)
        return -1;
    t = xcalloc(1, sizeof *t);
    t->kind = k;
    str_copy(t->name, name, sizeof t->name);
    str_copy(t->queue, queue ? queue : "", sizeof t->queue);
    if (with_series) {
        if (spike_init(&t->s, in->p.spike.window_s, now_s) != 0) {
            free(t);
            return -1;
        }
        t->has_series = 1;
    }
    if (in->n == in->cap) {
        in->cap = in->cap ? in->cap * 2 : 64;
        in->t = xrealloc(in->t, sizeof *in->t * (size_t)in->cap);
    }
    in->t[in->n] = t;
    n = index_key(key, sizeof key, k, name);
    *strmap_put(&in->index, key, (size_t)n, in->n, &inserted) = in->n;
    return in->n++;
}

/* Copy at most max-1 bytes of s without cutting a UTF-8 character. */
static void copy_cut(char *dst, size_t max, const char *s)
{
    size_t n;

    if (!s) {
        dst[0] = '\0';
        return;
    }
    n = utf8_cut(s, strlen(s), max - 1);
    memcpy(dst, s, n);
    dst[n] = '\0';
}

static void sample_of(struct incident_sample *sm, const struct post *p, const char *text)
{
    copy_cut(sm->id, sizeof sm->id, p->id);
    copy_cut(sm->url, sizeof sm->url, p->url);
    copy_cut(sm->author, sizeof sm->author, p->author.handle);
    copy_cut(sm->text, sizeof sm->text, text ? text : p->text);
}

static void remember(struct tracked *t, const struct post *p)
{
    t->head = (t->head + INCIDENT_SAMPLES - 1) % INCIDENT_SAMPLES;
    sample_of(&t->recent[t->head], p, NULL);
    if (t->nrecent < INCIDENT_SAMPLES)
        t->nrecent++;
}

/* Page budget: 1 if a page may go out now. */
static int budget_take(struct incidents *in, uint64_t now_s, uint64_t now_ms)
{
    if (!in->p.max_pages_per_hour)
        return 1;
    if (!in->hour_start_s) {
        in->hour_start_s = now_s;
        in->hour_pages = 0;
        in->hour_suppressed = 0;
    }
    if (in->hour_pages < in->p.max_pages_per_hour) {
        in->hour_pages++;
        return 1;
    }
    if (in->hour_suppressed++ == 0 && in->cb->on_limit)
        in->cb->on_limit(in->ctx, in->p.max_pages_per_hour, 1, 0, now_ms);
    in->st.suppressed++;
    return 0;
}

static void budget_roll(struct incidents *in, uint64_t now_s, uint64_t now_ms)
{
    if (!in->hour_start_s || now_s - in->hour_start_s < HOUR_S)
        return;
    if (in->hour_suppressed && in->cb->on_limit)
        in->cb->on_limit(in->ctx, in->p.max_pages_per_hour, in->hour_suppressed, 1, now_ms);
    in->hour_start_s = 0;
}

static void report(struct incidents *in, struct tracked *t, enum incident_action act, int page)
{
    struct incident *inc = &t->inc;

    inc->seq++;
    if (page && act != INCIDENT_RESOLVE) {
        inc->pages++;
        inc->paged_count = inc->count;
        inc->oncall_open = 1;
        in->st.pages++;
    }
    in->cb->on_incident(in->ctx, inc, act, page);
    if (act == INCIDENT_RESOLVE)
        inc->oncall_open = 0;
}

static void fill_samples(struct tracked *t)
{
    struct incident *inc = &t->inc;

    inc->nsamples = t->nrecent;
    for (int i = 0; i < t->nrecent; i++)
        inc->samples[i] = t->recent[(t->head + i) % INCIDENT_SAMPLES];
}

static void open_incident(struct incidents *in, struct tracked *t, uint64_t count, uint64_t now_s,
                          uint64_t now_ms)
{
    struct incident *inc = &t->inc;
    int page;

    if (t->has_inc && inc->resolved && now_s - t->ended_s < in->p.cooldown_s) {
        /* The same surge again, soon after: one incident, and a page only
         * if it is worse than what on-call last heard. */
        inc->resolved = 0;
        inc->resolved_ms = 0;
        inc->updated_ms = now_ms;
        inc->count = count;
        if (count > inc->peak)
            inc->peak = count;
        fill_samples(t);
        in->st.reopened++;
        in->st.open++;
        page = inc->paged_count && (double)inc->count >= in->p.spike.escalate * (double)inc->paged_count &&
               budget_take(in, now_s, now_ms);
        report(in, t, INCIDENT_REOPEN, page);
        return;
    }
    memset(inc, 0, sizeof *inc);
    t->has_inc = 1;
    inc->kind = t->kind;
    str_copy(inc->name, t->name, sizeof inc->name);
    str_copy(inc->queue, t->queue, sizeof inc->queue);
    snprintf(inc->key, sizeof inc->key, "%s:%s:%s:%llu", in->instance, incident_kind_names[t->kind], t->name,
             (unsigned long long)(now_ms / 1000));
    inc->started_ms = inc->updated_ms = now_ms;
    inc->window_s = t->has_series ? t->s.window_s : in->p.viral_window_s;
    inc->count = inc->peak = count;
    if (t->has_series)
        inc->baseline = (uint64_t)(t->s.mean + 0.5);
    fill_samples(t);
    in->st.opened[t->kind]++;
    in->st.open++;
    report(in, t, INCIDENT_OPEN, budget_take(in, now_s, now_ms));
}

static void resolve_incident(struct incidents *in, struct tracked *t, uint64_t now_s, uint64_t now_ms)
{
    struct incident *inc = &t->inc;

    if (!t->has_inc || inc->resolved)
        return;
    inc->resolved = 1;
    inc->resolved_ms = inc->updated_ms = now_ms;
    if (t->has_series)
        inc->count = t->s.last_c;
    t->ended_s = now_s;
    in->st.resolved++;
    in->st.open--;
    report(in, t, INCIDENT_RESOLVE, inc->oncall_open);
}

static void judge(struct incidents *in, struct tracked *t, uint64_t now_s, uint64_t now_ms)
{
    enum spike_event ev;

    while (spike_poll(&t->s, &in->p.spike, now_s, &ev)) {
        struct incident *inc = &t->inc;
        if (ev == SPIKE_START) {
            open_incident(in, t, t->s.last_c, now_s, now_ms);
        } else if (ev == SPIKE_END) {
            resolve_incident(in, t, now_s, now_ms);
        } else if (ev == SPIKE_ESCALATE && t->has_inc && !inc->resolved) {
            inc->count = t->s.last_c;
            inc->updated_ms = now_ms;
            fill_samples(t);
            in->st.escalated++;
            report(in, t, INCIDENT_ESCALATE, budget_take(in, now_s, now_ms));
        }
        if (t->has_inc && !inc->resolved && t->s.peak > inc->peak)
            inc->peak = t->s.peak;
    }
    if (t->has_inc && !t->inc.resolved)
        t->inc.count = t->s.last_c;
}

static void count_series(struct incidents *in)
{
    in->st.series = 0;
    for (int i = 0; i < in->n; i++)
        in->st.series += in->t[i]->has_series;
}

/* Slots moved: old slot i is now remap[i] (-1: gone).  Rebuild the name
 * index and move the rule maps (a rule's series is live, never gone). */
static void reindex(struct incidents *in, const int *remap)
{
    strmap_free(&in->index);
    strmap_init(&in->index);
    for (int i = 0; i < in->n; i++) {
        char key[256];
        int inserted, kl = index_key(key, sizeof key, in->t[i]->kind, in->t[i]->name);
        *strmap_put(&in->index, key, (size_t)kl, i, &inserted) = i;
    }
    for (int r = 0; r < in->nrules; r++) {
        if (in->rule_series[r] >= 0)
            in->rule_series[r] = remap[in->rule_series[r]];
        if (in->rule_topic[r] >= 0)
            in->rule_topic[r] = remap[in->rule_topic[r]];
    }
}

void incidents_tick(struct incidents *in, uint64_t now_s, uint64_t now_ms)
{
    int w = 0, *remap = NULL;

    for (int i = 0; i < in->n; i++) {
        struct tracked *t = in->t[i];
        if (t->has_series)
            judge(in, t, now_s, now_ms);
        else if (t->has_inc && !t->inc.resolved && now_s >= t->viral_until_s)
            resolve_incident(in, t, now_s, now_ms);
    }
    budget_roll(in, now_s, now_ms);
    /* Drop what is no longer wanted and has nothing open, keeping order. */
    for (int i = 0; i < in->n; i++) {
        struct tracked *t = in->t[i];
        int open = t->has_inc && !t->inc.resolved;
        if (t->live || open || (t->kind == INCIDENT_VIRAL && now_s - t->ended_s < in->p.cooldown_s))
            continue;
        if (!remap) {
            remap = xcalloc((size_t)in->n, sizeof *remap);
            for (int k = 0; k < in->n; k++)
                remap[k] = k;
        }
        tracked_free(t);
        in->t[i] = NULL;
    }
    if (remap) {
        for (int i = 0; i < in->n; i++) {
            remap[i] = in->t[i] ? w : -1;
            if (in->t[i])
                in->t[w++] = in->t[i];
        }
        in->n = w;
        reindex(in, remap);
        free(remap);
    }
    count_series(in);
}

void incidents_set_params(struct incidents *in, const struct incident_params *p, uint64_t now_s)
{
    uint32_t old_window = in->p.spike.window_s;

    in->p = *p;
    if (p->spike.window_s == old_window)
        return;
    for (int i = 0; i < in->n; i++) {
        struct tracked *t = in->t[i];
        if (!t->has_series)
            continue;
        spike_free(&t->s);
        if (spike_init(&t->s, p->spike.window_s, now_s) != 0)
            t->has_series = 0, t->live = 0;
    }
}

static int want(struct incidents *in, enum incident_kind k, const char *name, const char *queue,
                uint64_t now_s, int *over)
{
    int i = get(in, k, name, queue, 1, now_s);

    if (i < 0 || !in->t[i]->has_series) {
        (*over)++;
        return -1;
    }
    in->t[i]->live = 1;
    return i;
}

int incidents_set_rules(struct incidents *in, const struct ruleset *rs, uint64_t now_s, uint64_t now_ms)
{
    int over = 0, series = 0;

    for (int i = 0; i < in->n; i++)
        if (in->t[i]->kind != INCIDENT_VIRAL)
            in->t[i]->live = 0;
    free(in->rule_series);
    free(in->rule_topic);
    in->nrules = rs->n;
    in->rule_series = xcalloc((size_t)rs->n + 1, sizeof *in->rule_series);
    in->rule_topic = xcalloc((size_t)rs->n + 1, sizeof *in->rule_topic);
    for (int r = 0; r < rs->n; r++) {
        const struct rule *ru = &rs->rules[r];
        in->rule_series[r] = in->rule_topic[r] = -1;
        if (ru->spike && series < INCIDENT_MAX_SERIES && (in->rule_series[r] = want(in, INCIDENT_RULE, ru->name,
                                                                                      ru->queue, now_s, &over)) >= 0)
            series++;
        else if (ru->spike && series >= INCIDENT_MAX_SERIES)
            over++;
        if (ru->topic && (in->rule_topic[r] = find(in, INCIDENT_TOPIC, ru->topic)) < 0 &&
            series < INCIDENT_MAX_SERIES &&
            (in->rule_topic[r] = want(in, INCIDENT_TOPIC, ru->topic, "", now_s, &over)) >= 0)
            series++;
        else if (ru->topic && in->rule_topic[r] >= 0)
            in->t[in->rule_topic[r]]->live = 1;
    }
    if (in->p.queues)
        for (int r = 0; r < rs->n; r++)
            if (find(in, INCIDENT_QUEUE, rs->rules[r].queue) < 0 || !in->t[find(in, INCIDENT_QUEUE, rs->rules[r].queue)]->live) {
                if (series < INCIDENT_MAX_SERIES && want(in, INCIDENT_QUEUE, rs->rules[r].queue, rs->rules[r].queue,
                                                        now_s, &over) >= 0)
                    series++;
            }
    /* Series no longer wanted: their open incidents end now. */
    for (int i = 0; i < in->n; i++)
        if (!in->t[i]->live && in->t[i]->kind != INCIDENT_VIRAL)
            resolve_incident(in, in->t[i], now_s, now_ms);
    count_series(in);
    return over;
}

/* shared: a series' counted second goes to the outbox (named, since
 * slots move), up to twice the series that can be tracked. */
static void acc_flush(struct incidents *in, struct tracked *t)
{
    struct shared_count *c;

    if (!t->acc_n)
        return;
    if (in->nout >= 2 * INCIDENT_MAX_SERIES) {
        in->st.counts_dropped++;
        t->acc_n = 0;
        return;
    }
    if (in->nout == in->capout) {
        in->capout = in->capout ? 2 * in->capout : 64;
        in->out = xrealloc(in->out, (size_t)in->capout * sizeof *in->out);
    }
    c = &in->out[in->nout++];
    index_key(c->series, sizeof c->series, t->kind, t->name);
    c->s = t->acc_s;
    c->n = t->acc_n;
    t->acc_n = 0;
}

static void count_in(struct incidents *in, int slot, const struct post *p, uint64_t now_s)
{
    struct tracked *t;

    if (slot < 0 || slot >= in->n)
        return;
    t = in->t[slot];
    remember(t, p);
    if (!in->shared) {
        spike_count(&t->s, &in->p.spike, now_s, 1);
        return;
    }
    if (t->acc_s != now_s)
        acc_flush(in, t);
    t->acc_s = now_s;
    t->acc_n++;
}

void incidents_match(struct incidents *in, const int *rules, int n, const char *queue,
                     const struct post *p, uint64_t now_s)
{
    int topics[8], nt = 0;

    if (!in->rule_series)
        return;                 /* no rules set yet */
    for (int i = 0; i < n; i++) {
        int r = rules[i], dup = 0;
        if (r < 0 || r >= in->nrules)
            continue;
        count_in(in, in->rule_series[r], p, now_s);
        /* a post counts once per topic, however many of its rules share it */
        for (int k = 0; k < nt; k++)
            dup |= topics[k] == in->rule_topic[r];
        if (in->rule_topic[r] >= 0 && !dup) {
            count_in(in, in->rule_topic[r], p, now_s);
            if (nt < (int)ARRAY_LEN(topics))
                topics[nt++] = in->rule_topic[r];
        }
    }
    if (in->p.queues && queue)
        count_in(in, find(in, INCIDENT_QUEUE, queue), p, now_s);
}

void incidents_viral(struct incidents *in, const char *key, const struct post *share, const char *text,
                     uint32_t shares, uint64_t now_s, uint64_t now_ms)
{
    int open = 0, i;
    struct tracked *t;

    for (i = 0; i < in->n; i++)
        open += in->t[i]->kind == INCIDENT_VIRAL && in->t[i]->has_inc && !in->t[i]->inc.resolved;
    i = find(in, INCIDENT_VIRAL, key);
    if (i >= 0 && in->t[i]->has_inc && !in->t[i]->inc.resolved)
        return;                 /* already open: one alert per post */
    if (i < 0 && open >= INCIDENT_MAX_VIRAL) {
        in->st.viral_refused++;
        return;
    }
    if (i < 0 && (i = get(in, INCIDENT_VIRAL, key, "", 0, now_s)) < 0) {
        in->st.viral_refused++;
        return;
    }
    t = in->t[i];
    t->live = 0;
    t->viral_until_s = now_s + in->p.viral_window_s;
    t->nrecent = 1;
    t->head = 0;
    sample_of(&t->recent[0], share, text);
    if (share->referenced_id) {         /* the sample is the shared post itself */
        copy_cut(t->recent[0].id, sizeof t->recent[0].id, share->referenced_id);
        copy_cut(t->recent[0].author, sizeof t->recent[0].author, share->referenced_author);
        t->recent[0].url[0] = '\0';
    }
    open_incident(in, t, shares, now_s, now_ms);
}

void incidents_each_paged(const struct incidents *in, void (*fn)(void *, const struct incident *), void *ctx)
{
    for (int i = 0; i < in->n; i++)
        if (in->t[i]->has_inc && in->t[i]->inc.oncall_open)
            fn(ctx, &in->t[i]->inc);
}

const struct incident_stats *incidents_stats(const struct incidents *in)
{
    return &in->st;
}

void incidents_each_state(const struct incidents *in, incident_state_fn fn, void *ctx)
{
    char key[256];
    struct spike_state st;

    for (int i = 0; i < in->n; i++) {
        const struct tracked *t = in->t[i];
        if (!t->has_series || spike_state_get(&t->s, &st) != 0)
            continue;
        index_key(key, sizeof key, t->kind, t->name);
        fn(ctx, key, &st);
    }
}

int incidents_restore(struct incidents *in, const char *series, const struct spike_state *st)
{
    int *v = strmap_get(&in->index, series, strlen(series));

    if (!v || *v < 0 || *v >= in->n || !in->t[*v]->has_series)
        return -1;
    return spike_state_set(&in->t[*v]->s, st);
}

void incidents_set_shared(struct incidents *in, int on)
{
    in->shared = on;
}

void incidents_take_counts(struct incidents *in, uint64_t now_s, incident_count_fn fn, void *ctx)
{
    for (int i = 0; i < in->n; i++)
        if (in->t[i]->acc_n && in->t[i]->acc_s < now_s)
            acc_flush(in, in->t[i]);
    for (int i = 0; i < in->nout; i++)
        fn(ctx, in->out[i].series, in->out[i].s, in->out[i].n);
    in->nout = 0;
}

int incidents_add_count(struct incidents *in, const char *series, uint64_t s, uint32_t n)
{
    int *v = strmap_get(&in->index, series, strlen(series));

    if (!v || *v < 0 || *v >= in->n || !in->t[*v]->has_series)
        return -1;
    spike_count(&in->t[*v]->s, &in->p.spike, s, n);
    return 0;
}
