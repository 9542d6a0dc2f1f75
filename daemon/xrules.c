/* xrules: X's stream rules in step with ours; see xrules.h. */
#include "xrules.h"
#include "buf.h"
#include "config.h"
#include "http_client.h"
#include "json.h"
#include "log.h"
#include "rules.h"
#include "source_driver.h"
#include "util.h"
#include "xquery.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define XR_RETRY_MS 30000
#define XR_BODY_MAX (4u << 20)          /* an answer listing 25,000 rules of 2,048 characters fits */
#define XR_TIMEOUT_S 30

enum xr_step { XR_IDLE, XR_LIST, XR_DRYRUN, XR_DELETE, XR_ADD };

struct want {
    char *tag, *value;
    int at_x;                           /* X holds it already */
    int refused;                        /* X's dry run refused it */
};

struct have {
    char *id, *tag, *value;
    int wanted;
};

struct xr_src {
    struct xrules *x;
    char *name, *url, *token;
    struct want *want;
    int nwant;
    struct want *next;                  /* a plan made during a sync: taken when it ends */
    int nnext, has_next, next_refused;
    struct have *have;
    int nhave;
    enum xr_step step;
    struct http_stream *req;
    struct buf body;
    struct event *retry;
    int hold;                           /* the day's budget is spent: best_effort rules held back */
    int max_rules, max_len;
    struct xrules_stats st;
};

struct xrules {
    struct event_base *base;
    struct http_client *http;
    const struct ruleset *rs;           /* the rules in force (the daemon's, until the next apply) */
    struct xr_src **src;
    int n;
};

static void sync_start(struct xr_src *s);

static void want_list_free(struct want **w, int *n)
{
    for (int i = 0; i < *n; i++) {
        free((*w)[i].tag);
        free((*w)[i].value);
    }
    free(*w);
    *w = NULL;
    *n = 0;
}

static void wants_free(struct xr_src *s)
{
    want_list_free(&s->want, &s->nwant);
    want_list_free(&s->next, &s->nnext);
}

static void haves_free(struct xr_src *s)
{
    for (int i = 0; i < s->nhave; i++) {
        free(s->have[i].id);
        free(s->have[i].tag);
        free(s->have[i].value);
    }
    free(s->have);
    s->have = NULL;
    s->nhave = 0;
}

static void src_free(struct xr_src *s)
{
    http_stream_cancel(s->req);
    if (s->retry)
        event_free(s->retry);
    wants_free(s);
    haves_free(s);
    buf_free(&s->body);
    free(s->name);
    free(s->url);
    if (s->token) {
        explicit_bzero(s->token, strlen(s->token));
        free(s->token);
    }
    free(s);
}

/* ---- X's answers ----------------------------------------------------- */

/* "/data/3/id" -> 3 and "/id"; -1 if not below "/<array>/<i>". */
static int item_of(const char *ptr, const char *array, const char **field)
{
    size_t n = strlen(array);
    const char *rest;

    if (strncmp(ptr, array, n) != 0 || ptr[n] != '/' || !(rest = json_ptr_skip_index(ptr + n)))
        return -1;
    *field = rest;
    return atoi(ptr + n + 1);
}

/* The rules X lists (data[]: id, value, tag), or the rules a dry run
 * refused (errors[]: value, title, details[0]). */
struct answer {
    struct xr_src *s;
    int refusals;                       /* dry run: wants marked refused */
    char title[200], detail[300], value[4200];
    int cur;                            /* errors[] item being read */
};

static char *val_dup(const struct json_event *ev)
{
    return ev->type == JSON_STRING || ev->type == JSON_NUMBER ? xstrndup(ev->val, ev->val_len) : NULL;
}

static void refusal_done(struct answer *a)
{
    struct xr_src *s = a->s;

    if (a->cur < 0 || !a->value[0])
        return;
    /* the same query under another tag (a renamed rule): deleted before the add */
    for (int h = 0; h < s->nhave && !strcmp(a->title, "DuplicateRule"); h++)
        if (!s->have[h].wanted && s->have[h].value && !strcmp(s->have[h].value, a->value)) {
            a->value[0] = a->title[0] = a->detail[0] = '\0';
            return;
        }
    for (int i = 0; i < s->nwant; i++)
        if (!s->want[i].at_x && !s->want[i].refused && strcmp(s->want[i].value, a->value) == 0) {
            s->want[i].refused = 1;
            a->refusals++;
            log_msg(LOG_ERR, "x rules for source %s: rule %s not pushed: X refused it (%s%s%s): %s", s->name,
                    s->want[i].tag, a->title[0] ? a->title : "no reason given", a->detail[0] ? ": " : "",
                    a->detail, a->value);
        }
    a->value[0] = a->title[0] = a->detail[0] = '\0';
}

static int answer_event(void *ctx, const struct json_event *ev)
{
    struct answer *a = ctx;
    struct xr_src *s = a->s;
    const char *f;
    int i;

    if ((i = item_of(ev->ptr, "/data", &f)) >= 0 && s->step == XR_LIST) {
        if (*f == '\0' && ev->type == JSON_MAP_START && i == s->nhave) {
            s->have = xrealloc(s->have, (size_t)(s->nhave + 1) * sizeof *s->have);
            memset(&s->have[s->nhave++], 0, sizeof *s->have);
        } else if (i == s->nhave - 1 && i >= 0) {
            char **dst = !strcmp(f, "/id") ? &s->have[i].id : !strcmp(f, "/tag") ? &s->have[i].tag
                         : !strcmp(f, "/value") ? &s->have[i].value : NULL;
            if (dst && !*dst)
                *dst = val_dup(ev);
        }
    } else if ((i = item_of(ev->ptr, "/errors", &f)) >= 0) {
        if (i != a->cur) {
            refusal_done(a);
            a->cur = i;
        }
        if (!strcmp(f, "/value") && ev->type == JSON_STRING)
            snprintf(a->value, sizeof a->value, "%.*s", (int)ev->val_len, ev->val);
        else if (!strcmp(f, "/title") && ev->type == JSON_STRING)
            snprintf(a->title, sizeof a->title, "%.*s", (int)ev->val_len, ev->val);
        else if (!strcmp(f, "/details/0") && ev->type == JSON_STRING)
            snprintf(a->detail, sizeof a->detail, "%.*s", (int)ev->val_len, ev->val);
    }
    return 0;
}

static int answer_read(struct xr_src *s, struct answer *a)
{
    struct json_reader *r = json_reader_new(16, answer_event, a);
    char err[200];
    int rc;

    memset(a, 0, sizeof *a);
    a->s = s;
    a->cur = -1;
    if (!r)
        return -1;
    rc = json_reader_parse(r, s->body.data ? s->body.data : "", s->body.len, err, sizeof err);
    json_reader_free(r);
    if (rc == 0)
        refusal_done(a);
    else
        log_limited(LOG_WARNING, "x rules for source %s: X's answer unreadable: %s", s->name, err);
    return rc;
}

/* ---- the steps --------------------------------------------------------- */

static int on_data(void *ctx, const char *p, size_t n)
{
    struct xr_src *s = ctx;

    return buf_append(&s->body, p, n) == 0 ? 0 : 1;     /* past XR_BODY_MAX: abort */
}

static void on_done(void *ctx, const struct http_result *r);

static const struct http_stream_cbs cbs = {.on_data = on_data, .on_done = on_done};

static void request(struct xr_src *s, enum xr_step step, const char *post)
{
    static const char *const json_headers[] = {"Content-Type: application/json", NULL};
    char url[2100];
    struct http_stream_opts o = {
        .url = url,
        .bearer = s->token,
        .connect_timeout_s = 10,
        .timeout_s = XR_TIMEOUT_S,
        .user_agent = "mentiond/" MENTIOND_VERSION,
        .headers = post ? json_headers : NULL,
        .post_body = post,
        .post_len = post ? strlen(post) : 0,
    };

    snprintf(url, sizeof url, "%s%s", s->url, step == XR_DRYRUN ? "?dry_run=true" : "");
    s->step = step;
    buf_reset(&s->body);
    if (!(s->req = http_stream_start(s->x->http, &o, &cbs, s))) {
        s->st.errors++;
        s->step = XR_IDLE;
        log_limited(LOG_ERR, "x rules for source %s: cannot start a request", s->name);
        event_add(s->retry, &(struct timeval){XR_RETRY_MS / 1000, 0});
    }
}

/* The document w holds, as a string of its own (NULL without memory). */
static char *doc_of(struct json_writer *w)
{
    const char *out;
    size_t len;
    char *doc = jw_finish(w, &out, &len) == 0 ? xstrndup(out, len) : NULL;

    jw_free(w);
    return doc;
}

/* {"add":[{"value","tag"}...]} of the wants X lacks and did not refuse. */
static char *adds_json(const struct xr_src *s, int *n)
{
    struct json_writer *w = jw_new();

    *n = 0;
    jw_map_open(w);
    jw_key(w, "add");
    jw_array_open(w);
    for (int i = 0; i < s->nwant; i++)
        if (!s->want[i].at_x && !s->want[i].refused) {
            jw_map_open(w);
            jw_put_str(w, "value", s->want[i].value);
            jw_put_str(w, "tag", s->want[i].tag);
            jw_map_close(w);
            (*n)++;
        }
    jw_array_close(w);
    jw_map_close(w);
    return doc_of(w);
}

static char *deletes_json(const struct xr_src *s, int *n)
{
    struct json_writer *w = jw_new();

    *n = 0;
    jw_map_open(w);
    jw_key(w, "delete");
    jw_map_open(w);
    jw_key(w, "ids");
    jw_array_open(w);
    for (int i = 0; i < s->nhave; i++)
        if (!s->have[i].wanted && s->have[i].id) {
            jw_str(w, s->have[i].id);
            (*n)++;
        }
    jw_array_close(w);
    jw_map_close(w);
    jw_map_close(w);
    return doc_of(w);
}

/* What X holds against what we want: each side marked. */
static void diff(struct xr_src *s)
{
    for (int i = 0; i < s->nwant; i++)
        s->want[i].at_x = 0;
    for (int h = 0; h < s->nhave; h++) {
        s->have[h].wanted = 0;
        for (int i = 0; i < s->nwant && s->have[h].value; i++)
            if (!s->want[i].at_x && !strcmp(s->want[i].value, s->have[h].value) &&
                !strcmp(s->want[i].tag, s->have[h].tag ? s->have[h].tag : "")) {
                s->want[i].at_x = s->have[h].wanted = 1;
                break;
            }
    }
}

/* The request of step if it has something to send: 1 if sent. */
static int step_send(struct xr_src *s, enum xr_step step)
{
    int n = 0;
    char *doc = step == XR_DELETE ? deletes_json(s, &n) : adds_json(s, &n);

    if (doc && n) {
        request(s, step, doc);
        if (step == XR_DELETE)
            s->st.deleted += (uint64_t)n;
        else if (step == XR_ADD)
            s->st.added += (uint64_t)n;
    }
    free(doc);
    return doc && n;
}

/* The next step after `after`: dry run, delete, add, done. */
static void next_step(struct xr_src *s, enum xr_step after)
{
    for (enum xr_step st = after + 1; st <= XR_ADD; st++)
        if (step_send(s, st))
            return;
    /* done: X holds what it was listed with, less the deleted, plus the added */
    s->step = XR_IDLE;
    s->st.syncs++;
    s->st.in_force = 0;
    for (int i = 0; i < s->nwant; i++)
        s->st.in_force += !s->want[i].refused;
    s->st.in_sync = 1;
    for (int i = 0; i < s->nwant; i++)
        s->st.in_sync &= !s->want[i].refused;
    log_msg(LOG_NOTICE, "x rules for source %s: %d in force at X (%llu added, %llu deleted so far); %d of ours "
            "not pushed", s->name, s->st.in_force, (unsigned long long)s->st.added,
            (unsigned long long)s->st.deleted, s->st.refused + (s->nwant - s->st.in_force));
    if (s->has_next) {                  /* the rules changed meanwhile */
        want_list_free(&s->want, &s->nwant);
        s->want = s->next;
        s->nwant = s->nnext;
        s->st.refused = s->next_refused;
        s->next = NULL;
        s->nnext = s->has_next = 0;
        sync_start(s);
    }
}

static void on_done(void *ctx, const struct http_result *r)
{
    struct xr_src *s = ctx;
    struct answer a;
    enum xr_step step = s->step;

    s->req = NULL;
    if (!r->transport_ok || r->status < 200 || r->status >= 300) {
        static const char *const what[] = {"", "listing", "checking", "deleting", "adding"};
        char why[300];
        if (r->transport_ok)
            snprintf(why, sizeof why, "HTTP %ld %.200s", r->status, r->body ? r->body : "");
        else
            snprintf(why, sizeof why, "%s", r->error ? r->error : "network error");
        s->st.errors++;
        s->step = XR_IDLE;
        s->st.in_sync = 0;
        log_limited(LOG_ERR, "x rules for source %s: %s the rules failed: %s; again in %ds", s->name, what[step],
                    why, XR_RETRY_MS / 1000);
        event_add(s->retry, &(struct timeval){XR_RETRY_MS / 1000, 0});
        return;
    }
    if (step == XR_LIST) {
        haves_free(s);
        if (answer_read(s, &a) != 0) {
            s->st.errors++;
            s->step = XR_IDLE;
            event_add(s->retry, &(struct timeval){XR_RETRY_MS / 1000, 0});
            return;
        }
        diff(s);
    } else if (step == XR_DRYRUN) {
        answer_read(s, &a);             /* marks the refused */
    }
    next_step(s, step);
}

static void sync_start(struct xr_src *s)
{
    if (s->step != XR_IDLE)
        return;
    for (int i = 0; i < s->nwant; i++)
        s->want[i].refused = 0;
    request(s, XR_LIST, NULL);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    sync_start(arg);
}

/* ---- the plan ---------------------------------------------------------- */

static void plan_rule(void *ctx, const struct rule *r, const char *value, const char *why)
{
    struct xr_src *s = ctx;
    int held = r->best_effort && s->hold;
    struct want **w = s->step == XR_IDLE ? &s->want : &s->next;
    int *n = s->step == XR_IDLE ? &s->nwant : &s->nnext;

    if (!value) {
        if (held) {
            s->st.held++;
            return;                     /* said once, when the budget was spent */
        }
        if (s->step == XR_IDLE)
            s->st.refused++;
        else
            s->next_refused++;
        log_msg(LOG_WARNING, "x rules for source %s: rule %s (%s:%d) not pushed to X: %s; X will not send the "
                "posts only it matches", s->name, r->name, r->file ? r->file : "?", r->line, why);
        return;
    }
    *w = xrealloc(*w, (size_t)(*n + 1) * sizeof **w);
    memset(&(*w)[*n], 0, sizeof **w);
    (*w)[*n].tag = xstrdup(r->name);
    (*w)[(*n)++].value = xstrdup(value);
}

static struct xr_src *src_find(struct xrules *x, const char *name)
{
    for (int i = 0; i < x->n; i++)
        if (!strcmp(x->src[i]->name, name))
            return x->src[i];
    return NULL;
}

struct xrules *xrules_new(struct event_base *base, struct http_client *http)
{
    struct xrules *x = xcalloc(1, sizeof *x);

    x->base = base;
    x->http = http;
    return x;
}

void xrules_free(struct xrules *x)
{
    if (!x)
        return;
    for (int i = 0; i < x->n; i++)
        src_free(x->src[i]);
    free(x->src);
    free(x);
}

/* The plan made again (now if idle, else when the sync ends), then synced. */
static void replan(struct xr_src *s)
{
    s->st.held = 0;
    if (s->step == XR_IDLE) {
        wants_free(s);
        s->st.refused = 0;
        xquery_plan(s->x->rs, s->max_rules, s->max_len, s->hold, plan_rule, s);
        evtimer_del(s->retry);
        sync_start(s);
    } else {                            /* taken when this sync ends */
        want_list_free(&s->next, &s->nnext);
        s->next_refused = 0;
        s->has_next = 1;
        xquery_plan(s->x->rs, s->max_rules, s->max_len, s->hold, plan_rule, s);
    }
}

void xrules_hold(struct xrules *x, const char *source, int hold)
{
    struct xr_src *s = x ? src_find(x, source) : NULL;

    if (!s || s->hold == hold)
        return;
    s->hold = hold;
    log_msg(hold ? LOG_WARNING : LOG_NOTICE, "x rules for source %s: %s", s->name,
            hold ? "the day's budget is spent: its best_effort rules come off X" :
                   "a new day: its best_effort rules go back to X");
    replan(s);
}

void xrules_apply(struct xrules *x, const struct config *cfg, const struct ruleset *rs)
{
    x->rs = rs;
    for (const struct source_conf *sc = cfg->sources; sc; sc = sc->next) {
        char url[2048];
        int max_rules, max_len;
        struct xr_src *s;

        if (!x_v2_managed(sc, url, sizeof url, &max_rules, &max_len) || !sc->token)
            continue;
        if (!(s = src_find(x, sc->name))) {
            s = xcalloc(1, sizeof *s);
            s->x = x;
            s->name = xstrdup(sc->name);
            s->st.source = s->name;
            buf_init(&s->body, XR_BODY_MAX);
            s->retry = evtimer_new(x->base, on_retry, s);
            x->src = xrealloc(x->src, (size_t)(x->n + 1) * sizeof *x->src);
            x->src[x->n++] = s;
        }
        free(s->url);
        s->url = xstrdup(url);
        if (s->token) {
            explicit_bzero(s->token, strlen(s->token));
            free(s->token);
        }
        s->token = xstrdup(sc->token);
        s->max_rules = max_rules;
        s->max_len = max_len;
        replan(s);
    }
}

const struct xrules_stats *xrules_stats(const struct xrules *x, int i)
{
    return x && i >= 0 && i < x->n ? &x->src[i]->st : NULL;
}
