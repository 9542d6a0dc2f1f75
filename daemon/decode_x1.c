/* decode_x1: X (Twitter) API v1.1 statuses/filter records and recorded
 * v1.1 datasets.
 *
 * A record is one status object, or a control message ({"limit":...},
 * {"disconnect":...}, {"warning":...}, {"delete":...}, {"scrub_geo":...}),
 * or a search page {"statuses":[...]} (recorded datasets).  As the stream
 * docs say, the text to match is extended_tweet.full_text when present
 * (compatibility mode truncates "text"), and a retweet is matched on the
 * retweeted status too: the post keeps the outer "RT @x: ..." text and
 * carries the inner full text as referenced_text, like an X v2 retweet.
 * Ids are taken from id_str (the number loses precision in JavaScript
 * clients and in re-serialised datasets).  A status delete becomes a
 * deletion notice, which withdraws or follows an alert for it.
 */
#include "decode.h"
#include "json.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define X1_MAX_URLS 16
#define X1_MAX_STATUSES 1000

enum { T_MAIN, T_RT, T_QUOTE, T_N };

struct x1_ent {
    const char *urls[X1_MAX_URLS];
    int nurls, nmentions, nhashtags, nmedia;
};

struct x1_tweet {
    const char *id_str, *id_num, *text, *full_text, *lang, *created_at;
    const char *user_id, *screen_name, *name, *description, *user_created_at;
    const char *reply_id, *reply_screen_name, *quoted_id;
    long long followers;
    int verified, seen;
    struct x1_ent ent, ext_ent;         /* entities / extended_tweet.entities */
    int nmedia;                         /* extended_entities.media */
};

struct x1_status {
    struct x1_tweet t[T_N];
};

struct decoder {
    struct json_decoder jd;             /* first: json_decoder_new() */
    struct x1_status *st;               /* [0]: a single status; pages use more */
    int nst, alloc, page, overflow;
    const char *ctl;                    /* control message kind */
    const char *ctl_a, *ctl_b, *ctl_c;  /* its fields */
    const char *del_id, *del_user;
    int activity;                       /* Gnip activity-streams keys seen */
    const char *reject;
};

static const char *x1_str(struct decoder *x, const struct json_event *ev)
{
    return decode_str(&x->jd.arena, ev, &x->reject);
}

static int starts(const char *p, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);

    if (strncmp(p, prefix, n) != 0 || (p[n] != '\0' && p[n] != '/'))
        return 0;
    *rest = p + n;
    return 1;
}

static void x1_entity(struct decoder *x, struct x1_ent *e, const char *rest, const struct json_event *ev)
{
    const char *r;

    if (starts(rest, "/urls", &r) && (r = json_ptr_skip_index(r))) {
        if (strcmp(r, "/expanded_url") == 0 && e->nurls < X1_MAX_URLS && ev->type == JSON_STRING)
            e->urls[e->nurls++] = x1_str(x, ev);
    } else if (starts(rest, "/user_mentions", &r) && (r = json_ptr_skip_index(r))) {
        if (*r == '\0' && ev->type == JSON_MAP_START)
            e->nmentions++;
    } else if (starts(rest, "/hashtags", &r) && (r = json_ptr_skip_index(r))) {
        if (*r == '\0' && ev->type == JSON_MAP_START)
            e->nhashtags++;
    } else if (starts(rest, "/media", &r) && (r = json_ptr_skip_index(r))) {
        if (*r == '\0' && ev->type == JSON_MAP_START)
            e->nmedia++;
    }
}

static void x1_user(struct decoder *x, struct x1_tweet *t, const char *rest, const struct json_event *ev)
{
    /* a user object has some forty fields: the first letter rules most out */
    if (!strchr("isndfvc", rest[0] ? rest[1] : 0))
        return;
    if (strcmp(rest, "/id_str") == 0)
        t->user_id = x1_str(x, ev);
    else if (strcmp(rest, "/screen_name") == 0)
        t->screen_name = x1_str(x, ev);
    else if (strcmp(rest, "/name") == 0)
        t->name = x1_str(x, ev);
    else if (strcmp(rest, "/description") == 0)
        t->description = x1_str(x, ev);
    else if (strcmp(rest, "/followers_count") == 0 && ev->type == JSON_NUMBER)
        t->followers = strtoll(ev->val, NULL, 10);
    else if (strcmp(rest, "/verified") == 0 && ev->type == JSON_BOOL)
        t->verified = ev->boolean;
    else if (strcmp(rest, "/created_at") == 0)
        t->user_created_at = x1_str(x, ev);
}

/* The containers of a tweet the decoder reads from; every other one (the
 * user's entities, place, coordinates, metadata, symbols, indices, the
 * insides of mentions, hashtags and media, which are only counted...) is
 * skipped whole: the field allow-list (json.h's JSON_SKIP). */
static int x1_reads(const char *rest)
{
    static const char *const keep[] = {
        "", "/user", "/entities", "/extended_tweet", "/extended_entities", "/extended_tweet/entities",
        "/extended_tweet/extended_entities",
    };
    static const char *const lists[] = {"/entities", "/extended_tweet/entities"};
    const char *r, *item;

    for (size_t i = 0; i < sizeof keep / sizeof keep[0]; i++)
        if (strcmp(rest, keep[i]) == 0)
            return 1;
    for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++)
        if (starts(rest, lists[i], &r)) {
            if (!strcmp(r, "/urls") || !strcmp(r, "/user_mentions") || !strcmp(r, "/hashtags") || !strcmp(r, "/media"))
                return 1;
            /* a URL's expanded_url is read; the other items only counted */
            return starts(r, "/urls", &item) && (item = json_ptr_skip_index(item)) && *item == '\0';
        }
    return !strcmp(rest, "/extended_entities/media") || !strcmp(rest, "/extended_tweet/extended_entities/media");
}

static int x1_tweet_field(struct decoder *x, struct x1_tweet *t, const char *rest, const struct json_event *ev)
{
    const char *r;

    t->seen = 1;
    /* by the field's first letter: the user's forty fields and the
     * entities' insides meet one prefix test, not the whole list */
    switch (rest[0] ? rest[1] : 0) {
    case 'u':
        if (starts(rest, "/user", &r))
            x1_user(x, t, r, ev);
        break;
    case 'e':
        if (starts(rest, "/entities", &r))
            x1_entity(x, &t->ent, r, ev);
        else if (starts(rest, "/extended_tweet/entities", &r))
            x1_entity(x, &t->ext_ent, r, ev);
        else if (strcmp(rest, "/extended_tweet/full_text") == 0)
            t->full_text = x1_str(x, ev);
        else if ((starts(rest, "/extended_entities/media", &r) ||
                  starts(rest, "/extended_tweet/extended_entities/media", &r)) &&
                 (r = json_ptr_skip_index(r)) && *r == '\0' && ev->type == JSON_MAP_START)
            t->nmedia++;
        break;
    case 'i':
        if (strcmp(rest, "/id_str") == 0)
            t->id_str = x1_str(x, ev);
        else if (strcmp(rest, "/id") == 0)
            t->id_num = x1_str(x, ev);
        else if (strcmp(rest, "/in_reply_to_status_id_str") == 0)
            t->reply_id = x1_str(x, ev);
        else if (strcmp(rest, "/in_reply_to_screen_name") == 0)
            t->reply_screen_name = x1_str(x, ev);
        break;
    case 't':
        if (strcmp(rest, "/text") == 0)
            t->text = x1_str(x, ev);
        break;
    case 'l':
        if (strcmp(rest, "/lang") == 0)
            t->lang = x1_str(x, ev);
        break;
    case 'c':
        if (strcmp(rest, "/created_at") == 0)
            t->created_at = x1_str(x, ev);
        break;
    case 'q':
        if (strcmp(rest, "/quoted_status_id_str") == 0)
            t->quoted_id = x1_str(x, ev);
        break;
    }
    if ((ev->type == JSON_MAP_START || ev->type == JSON_ARRAY_START) && !x1_reads(rest))
        return JSON_SKIP;
    return 0;
}

/* A status (at the top level or in a page): its own fields, the retweeted
 * status, the quoted status (also the one inside a retweet). */
static int x1_status_field(struct decoder *x, struct x1_status *s, const char *p, const struct json_event *ev)
{
    const char *r;

    if (p[1] == 'r' && starts(p, "/retweeted_status", &r)) {
        const char *q;
        if (starts(r, "/quoted_status", &q))
            return *q ? x1_tweet_field(x, &s->t[T_QUOTE], q, ev) : 0;
        if (*r)
            return x1_tweet_field(x, &s->t[T_RT], r, ev);
        if (ev->type == JSON_MAP_START)
            s->t[T_RT].seen = 1;
        return 0;
    }
    if (p[1] == 'q' && starts(p, "/quoted_status", &r))
        return *r ? x1_tweet_field(x, &s->t[T_QUOTE], r, ev) : 0;
    return x1_tweet_field(x, &s->t[T_MAIN], p, ev);
}

static struct x1_status *x1_new_status(struct decoder *x)
{
    if (x->nst >= X1_MAX_STATUSES) {
        x->overflow = 1;
        return NULL;
    }
    if (x->nst == x->alloc) {
        int na = x->alloc ? x->alloc * 2 : 4;
        struct x1_status *grown = xrealloc_try(x->st, sizeof *x->st * (size_t)na);
        if (!grown) {
            x->reject = "out of memory";
            return NULL;
        }
        x->st = grown;
        x->alloc = na;
    }
    memset(&x->st[x->nst], 0, sizeof x->st[0]);
    for (int i = 0; i < T_N; i++)
        x->st[x->nst].t[i].followers = -1;
    return &x->st[x->nst++];
}

static int x1_control(struct decoder *x, const char *p, const struct json_event *ev)
{
    const char *r;

    if (!strchr("ldwsu", p[0] ? p[1] : 0) || !p[1])
        return 0;                       /* a tweet's field: no control message starts so */
    if (starts(p, "/limit", &r)) {
        x->ctl = "limit";
        if (strcmp(r, "/track") == 0)
            x->ctl_a = x1_str(x, ev);
    } else if (starts(p, "/disconnect", &r)) {
        x->ctl = "disconnect";
        if (strcmp(r, "/code") == 0)
            x->ctl_a = x1_str(x, ev);
        else if (strcmp(r, "/reason") == 0)
            x->ctl_b = x1_str(x, ev);
        else if (strcmp(r, "/stream_name") == 0)
            x->ctl_c = x1_str(x, ev);
    } else if (starts(p, "/warning", &r)) {
        x->ctl = "warning";
        if (strcmp(r, "/code") == 0)
            x->ctl_a = x1_str(x, ev);
        else if (strcmp(r, "/message") == 0)
            x->ctl_b = x1_str(x, ev);
        else if (strcmp(r, "/percent_full") == 0)
            x->ctl_c = x1_str(x, ev);
    } else if (starts(p, "/delete", &r)) {
        x->ctl = "delete";
        if (strcmp(r, "/status/id_str") == 0)
            x->del_id = x1_str(x, ev);
        else if (strcmp(r, "/status/user_id_str") == 0)
            x->del_user = x1_str(x, ev);
    } else if (starts(p, "/scrub_geo", &r) || starts(p, "/status_withheld", &r) ||
               starts(p, "/user_withheld", &r)) {
        x->ctl = p + 1;
    } else {
        return 0;
    }
    return 1;
}

static int x1_event_fields(struct decoder *x, const struct json_event *ev)
{
    const char *p = ev->ptr, *r;
    int rc = 0;

    if (ev->depth == 0) {
        if (ev->type != JSON_MAP_START && ev->type != JSON_MAP_END) {
            *ev->reject = "record is not a JSON object";
            return 1;
        }
        return 0;
    }
    if (p[1] == 's' && starts(p, "/statuses", &r)) {
        const char *rest = json_ptr_skip_index(r);
        x->page = 1;
        if (!rest)
            return 0;
        if (*rest == '\0' && ev->type == JSON_MAP_START)
            x1_new_status(x);
        else if (*rest && x->nst && !x->overflow)
            rc = x1_status_field(x, &x->st[x->nst - 1], rest, ev);
        return x->reject != NULL ? 1 : rc;
    }
    if (x->page && ev->depth == 1 && (ev->type == JSON_MAP_START || ev->type == JSON_ARRAY_START))
        return JSON_SKIP;               /* search_metadata */
    if (x->page || (ev->depth == 1 && x1_control(x, p, ev)) ||
        (ev->depth > 1 && x->ctl && x1_control(x, p, ev)))
        return x->reject != NULL;
    if (ev->depth == 1 && strchr("vab", p[1]) && p[1] &&
        (strcmp(p, "/verb") == 0 || strcmp(p, "/actor") == 0 || strcmp(p, "/body") == 0))
        x->activity = 1;
    if (x->nst == 0 && !x1_new_status(x))
        return 1;                       /* out of memory: x->reject says so */
    rc = x1_status_field(x, &x->st[0], p, ev);
    return x->reject != NULL ? 1 : rc;
}

static int x1_event(void *ctx, const struct json_event *ev)
{
    struct decoder *x = ctx;
    int rc = x1_event_fields(x, ev);

    if (rc && rc != JSON_SKIP && x->reject)
        *ev->reject = x->reject;
    return rc;
}

static struct decoder *x1_create(const struct source_conf *sc)
{
    return json_decoder_new(sizeof(struct decoder), sc, x1_event, 2);
}

static void x1_destroy(struct decoder *x)
{
    if (!x)
        return;
    free(x->st);
    json_decoder_free(&x->jd);
}

static const char *tid(const struct x1_tweet *t)
{
    return t->id_str ? t->id_str : t->id_num;
}

static const char *ttext(const struct x1_tweet *t)
{
    return t->full_text ? t->full_text : t->text;
}

static void x1_build(struct decoder *x, const struct x1_status *s, struct post *p)
{
    const struct x1_tweet *t = &s->t[T_MAIN], *rt = &s->t[T_RT], *q = &s->t[T_QUOTE];
    const struct x1_tweet *ref = rt->seen && tid(rt) ? rt : q->seen && tid(q) ? q : NULL;
    const struct x1_ent *e = t->full_text ? &t->ext_ent : &t->ent;
    char url[256];

    post_clear(p);
    p->id = tid(t);
    p->text = ttext(t);
    p->lang = t->lang;
    p->created_at = t->created_at;
    p->author.id = t->user_id;
    p->author.handle = t->screen_name;
    p->author.name = t->name;
    p->author.bio = t->description;
    p->author.followers = t->followers;
    p->author.verified = t->verified;
    p->author.created_at = t->user_created_at;
    p->is_retweet = rt->seen && tid(rt) != NULL;
    p->is_quote = !p->is_retweet && ((q->seen && tid(q)) || t->quoted_id);
    p->in_reply_to = t->reply_id;
    p->is_reply = t->reply_id != NULL;
    p->to_handle = t->reply_screen_name;
    p->referenced_id = ref ? tid(ref) : t->quoted_id;
    if (ref) {
        /* A retweet of a quote: match the quoted text too. */
        if (ref == rt && q->seen && ttext(q) && ttext(rt)) {
            size_t a = strlen(ttext(rt)), b = strlen(ttext(q));
            char *both = arena_strndup(&x->jd.arena, ttext(rt), a + b + 1);
            if (both) {
                both[a] = '\n';
                memcpy(both + a + 1, ttext(q), b);
                both[a + 1 + b] = '\0';
            }
            p->referenced_text = both ? both : ttext(rt);
        } else {
            p->referenced_text = ttext(ref);
        }
        p->referenced_author = ref->screen_name;
        p->referenced_author_id = ref->user_id;
        p->referenced_name = ref->name;
        p->referenced_followers = ref->followers;
    }
    p->urls = e->urls;
    p->nurls = e->nurls;
    p->nmentions = e->nmentions;
    p->nhashtags = e->nhashtags;
    p->has_media = t->nmedia > 0 || e->nmedia > 0 || t->ent.nmedia > 0;
    if (t->screen_name)
        snprintf(url, sizeof url, "https://x.com/%s/status/%s", t->screen_name, p->id);
    else
        snprintf(url, sizeof url, "https://x.com/i/web/status/%s", p->id);
    p->url = arena_strndup(&x->jd.arena, url, strlen(url));
}

static enum decode_ret x1_control_ret(struct decoder *x, decode_post_fn fn, void *ctx, char *err, size_t errlen)
{
    struct post p;

    if (strcmp(x->ctl, "delete") == 0) {
        if (!x->del_id) {
            snprintf(err, errlen, "delete notice without status.id_str");
            return DECODE_MALFORMED;
        }
        post_clear(&p);
        p.id = x->del_id;
        p.author.id = x->del_user;
        p.deleted = 1;
        fn(ctx, &p);
        return DECODE_OK;
    }
    if (strcmp(x->ctl, "limit") == 0)
        snprintf(err, errlen, "limit notice: %s posts withheld since connecting (rate cap)",
                 x->ctl_a ? x->ctl_a : "?");
    else if (strcmp(x->ctl, "disconnect") == 0)
        snprintf(err, errlen, "disconnect notice: code %s%s%s%s%s%s", x->ctl_a ? x->ctl_a : "?",
                 x->ctl_b ? " (" : "", x->ctl_b ? x->ctl_b : "", x->ctl_b ? ")" : "",
                 x->ctl_c && *x->ctl_c ? " on stream " : "", x->ctl_c && *x->ctl_c ? x->ctl_c : "");
    else if (strcmp(x->ctl, "warning") == 0)
        snprintf(err, errlen, "stall warning %s: %s (%s%% full)", x->ctl_a ? x->ctl_a : "?",
                 x->ctl_b ? x->ctl_b : "", x->ctl_c ? x->ctl_c : "?");
    else
        snprintf(err, errlen, "%.40s notice", x->ctl);
    return DECODE_CONTROL;
}

static enum decode_ret x1_decode(struct decoder *x, const char *rec, size_t len,
                                 decode_post_fn fn, void *ctx, char *err, size_t errlen)
{
    struct post post;
    int good = 0;

    arena_reset(&x->jd.arena);
    x->nst = 0;
    x->page = x->overflow = x->activity = 0;
    x->ctl = x->ctl_a = x->ctl_b = x->ctl_c = x->del_id = x->del_user = NULL;
    x->reject = NULL;
    if (json_reader_parse(x->jd.reader, rec, len, err, errlen) != 0)
        return DECODE_MALFORMED;
    if (x->reject) {
        snprintf(err, errlen, "%s", x->reject);
        return DECODE_MALFORMED;
    }
    if (x->ctl && !x->page && (x->nst == 0 || !tid(&x->st[0].t[T_MAIN])))
        return x1_control_ret(x, fn, ctx, err, errlen);
    for (int i = 0; i < x->nst; i++) {
        const struct x1_tweet *t = &x->st[i].t[T_MAIN];
        if (!tid(t) || !ttext(t))
            continue;
        x1_build(x, &x->st[i], &post);
        post.controls = json_reader_take_controls(x->jd.reader);
        fn(ctx, &post);
        good++;
    }
    if (good)
        return DECODE_OK;
    if (x->activity) {
        snprintf(err, errlen, "Gnip activity-streams record (verb/actor/body): not the v1.1 format");
        return DECODE_SKIP;
    }
    if (x->page) {
        snprintf(err, errlen, "\"statuses\" holds no posts");
        return DECODE_SKIP;
    }
    if (x->nst && (tid(&x->st[0].t[T_MAIN]) || ttext(&x->st[0].t[T_MAIN]))) {
        snprintf(err, errlen, "status without %s", tid(&x->st[0].t[T_MAIN]) ? "\"text\"" : "\"id_str\"");
        return DECODE_MALFORMED;
    }
    snprintf(err, errlen, "not a v1.1 status or control message");
    return DECODE_SKIP;
}

const struct decoder_ops decode_x_v1_ops = {
    .name = "x_v1",
    .create = x1_create,
    .destroy = x1_destroy,
    .decode = x1_decode,
};
