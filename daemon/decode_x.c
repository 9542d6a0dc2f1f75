/* decode_x: X API v2 filtered-stream records.
 *
 * A stream record is {"data":{post},"includes":{"users":[...],"tweets":[...]},
 * "matching_rules":[...]}; search/timeline pages carry "data":[posts] and
 * are accepted too (the corpus has both).  Fields may come in any order, so
 * posts, users and included tweets are collected first and joined when the
 * record is complete: author by data.author_id, retweeted/quoted text from
 * includes.tweets.  matching_rules ids arrive as strings (docs) or numbers
 * (real captures); both are accepted.  {"errors":[...]} without data is an
 * in-stream control message (operational disconnect, too many connections).
 */
#include "decode.h"
#include "json.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define X_MAX_ITEMS 1000

#define X_MAX_URLS 16
#define X_MAX_TAGS 16                   /* matching_rules tags kept (the stream's rules the post matched) */

struct x_tweet {
    const char *id, *text, *author_id, *lang, *created_at, *conversation_id;
    const char *rt_id, *quote_id, *reply_id, *reply_user_id;
    const char *ref_type, *ref_id;      /* referenced_tweets entry being read */
    const char *urls[X_MAX_URLS];
    int nurls, nmentions, nhashtags, nmedia;
};

struct x_user {
    const char *id, *username, *name, *description, *created_at, *verified_type;
    long long followers;
    int verified;
};

struct x_vec {
    void *items;
    size_t size;                        /* element size */
    int n, alloc, overflow;
    int nomem;                          /* a push found no memory */
};

struct decoder {
    struct json_decoder jd;             /* first: json_decoder_new() */
    struct x_vec data, users, tweets;
    int data_kind;                      /* 0 none, 1 object, 2 array */
    int errors_seen;
    int rules_seen;
    int empty_page;                     /* a search page: "meta":{"result_count":0} */
    const char *tags[X_MAX_TAGS];       /* matching_rules[].tag */
    int ntags;
    const char *err_title, *err_detail, *err_kind;
    const char *reject;                 /* reason a field was rejected */
};

static void *vec_push(struct x_vec *v)
{
    if (v->n >= X_MAX_ITEMS) {
        v->overflow = 1;
        return NULL;
    }
    if (v->n == v->alloc) {
        int na = v->alloc ? v->alloc * 2 : 8;
        void *grown = xrealloc_try(v->items, v->size * (size_t)na);
        if (!grown) {
            v->overflow = v->nomem = 1;     /* the record is rejected at its end */
            return NULL;
        }
        v->items = grown;
        v->alloc = na;
    }
    memset((char *)v->items + v->size * (size_t)v->n, 0, v->size);
    return (char *)v->items + v->size * (size_t)v->n++;
}

static void *vec_last(struct x_vec *v)
{
    return v->n && !v->overflow ? (char *)v->items + v->size * (size_t)(v->n - 1) : NULL;
}

static const char *x_str(struct decoder *x, const struct json_event *ev)
{
    return decode_str(&x->jd.arena, ev, &x->reject);
}

/* entities.{urls,mentions,hashtags}: counts, and the expanded URLs that
 * url: and has:links look at. */
static int x_entity_field(struct decoder *x, struct x_tweet *t, const char *rest,
                          const struct json_event *ev)
{
    int open = ev->type == JSON_MAP_START || ev->type == JSON_ARRAY_START;
    const char *r;

    if (strncmp(rest, "urls", 4) == 0 && (r = json_ptr_skip_index(rest + 4))) {
        if (strcmp(r, "/expanded_url") == 0 && t->nurls < X_MAX_URLS)
            t->urls[t->nurls++] = x_str(x, ev);
        else if (open && *r)
            return JSON_SKIP;           /* images, and whatever comes next */
    } else if (strncmp(rest, "mentions", 8) == 0 && (r = json_ptr_skip_index(rest + 8))) {
        if (*r == '\0' && ev->type == JSON_MAP_START) {
            t->nmentions++;
            return JSON_SKIP;
        }
    } else if (strncmp(rest, "hashtags", 8) == 0 && (r = json_ptr_skip_index(rest + 8))) {
        if (*r == '\0' && ev->type == JSON_MAP_START) {
            t->nhashtags++;
            return JSON_SKIP;
        }
    } else if (open && strcmp(rest, "urls") && strcmp(rest, "mentions") && strcmp(rest, "hashtags")) {
        return JSON_SKIP;               /* annotations, cashtags */
    }
    return x->reject != NULL;           /* an expanded URL past the arena's cap */
}

/* The first byte of the field name picks the comparisons; containers no
 * field below reads are skipped whole (context_annotations, public_metrics,
 * edit_history_tweet_ids...: most of a post's JSON). */
static int x_tweet_field(struct decoder *x, struct x_tweet *t, const char *rest,
                         const struct json_event *ev)
{
    int open = ev->type == JSON_MAP_START || ev->type == JSON_ARRAY_START;
    const char *r;

    if (!t || rest[0] != '/')
        return 0;
    switch (rest[1]) {
    case 'i':
        if (strcmp(rest, "/id") == 0)
            t->id = x_str(x, ev);
        else if (strcmp(rest, "/in_reply_to_user_id") == 0)
            t->reply_user_id = x_str(x, ev);
        else if (open)
            return JSON_SKIP;
        break;
    case 't':
        if (strcmp(rest, "/text") == 0)
            t->text = x_str(x, ev);
        else if (open)
            return JSON_SKIP;
        break;
    case 'a':
        if (strcmp(rest, "/author_id") == 0)
            t->author_id = x_str(x, ev);
        else if (strncmp(rest, "/attachments", 12) == 0) {
            if (strncmp(rest + 12, "/media_keys/", 12) == 0 && ev->type == JSON_STRING)
                t->nmedia++;
            else if (open && rest[12] == '/' && strcmp(rest + 12, "/media_keys") != 0)
                return JSON_SKIP;       /* poll_ids */
        } else if (open)
            return JSON_SKIP;
        break;
    case 'l':
        if (strcmp(rest, "/lang") == 0)
            t->lang = x_str(x, ev);
        else if (open)
            return JSON_SKIP;
        break;
    case 'c':
        if (strcmp(rest, "/created_at") == 0)
            t->created_at = x_str(x, ev);
        else if (strcmp(rest, "/conversation_id") == 0)
            t->conversation_id = x_str(x, ev);
        else if (open)
            return JSON_SKIP;           /* context_annotations */
        break;
    case 'e':
        if (strncmp(rest, "/entities/", 10) == 0)
            return x_entity_field(x, t, rest + 10, ev);
        if (open && strcmp(rest, "/entities") != 0)
            return JSON_SKIP;           /* edit_history_tweet_ids, edit_controls */
        break;
    case 'r':
        if (strncmp(rest, "/referenced_tweets", 18) == 0 && (r = json_ptr_skip_index(rest + 18))) {
            if (strcmp(r, "/type") == 0)
                t->ref_type = x_str(x, ev);
            else if (strcmp(r, "/id") == 0)
                t->ref_id = x_str(x, ev);
            else if (*r == '\0' && ev->type == JSON_MAP_START)
                t->ref_type = t->ref_id = NULL;
            else if (*r == '\0' && ev->type == JSON_MAP_END && t->ref_type && t->ref_id) {
                if (strcmp(t->ref_type, "retweeted") == 0)
                    t->rt_id = t->ref_id;
                else if (strcmp(t->ref_type, "quoted") == 0)
                    t->quote_id = t->ref_id;
                else if (strcmp(t->ref_type, "replied_to") == 0)
                    t->reply_id = t->ref_id;
            }
        } else if (open && strcmp(rest, "/referenced_tweets") != 0) {
            return JSON_SKIP;
        }
        break;
    default:
        if (open)
            return JSON_SKIP;           /* public_metrics, geo, withheld... */
        break;
    }
    return x->reject != NULL;
}

/* A user object has some twenty fields and users come with most posts:
 * the comparison is picked by the field's first letter, as for tweets. */
static int x_user_field(struct decoder *x, struct x_user *u, const char *rest,
                        const struct json_event *ev)
{
    const char **str = NULL;

    if (!u)
        return 0;
    switch (*rest ? rest[1] : 0) {
    case 'i': str = strcmp(rest, "/id") == 0 ? &u->id : NULL; break;
    case 'u': str = strcmp(rest, "/username") == 0 ? &u->username : NULL; break;
    case 'n': str = strcmp(rest, "/name") == 0 ? &u->name : NULL; break;
    case 'd': str = strcmp(rest, "/description") == 0 ? &u->description : NULL; break;
    case 'c': str = strcmp(rest, "/created_at") == 0 ? &u->created_at : NULL; break;
    case 'v':
        if (strcmp(rest, "/verified") == 0 && ev->type == JSON_BOOL) {
            u->verified = ev->boolean;
            return x->reject != NULL;
        }
        str = strcmp(rest, "/verified_type") == 0 ? &u->verified_type : NULL;
        break;
    case 'p':
        if (strcmp(rest, "/public_metrics/followers_count") == 0 && ev->type == JSON_NUMBER) {
            u->followers = strtoll(ev->val, NULL, 10);
            return x->reject != NULL;
        }
        if (strcmp(rest, "/public_metrics") == 0)
            return x->reject != NULL;
        break;
    }
    if (str)
        *str = x_str(x, ev);
    else if ((ev->type == JSON_MAP_START || ev->type == JSON_ARRAY_START) && *rest)
        return JSON_SKIP;               /* entities, withheld, and the metrics' insides */
    return x->reject != NULL;
}

/* Items of an array of objects: a new item starts at its MAP_START. */
static void *x_item(struct x_vec *v, const char *p, const char **rest, const struct json_event *ev)
{
    const char *r = json_ptr_skip_index(p);

    if (!r) {
        *rest = NULL;
        return NULL;
    }
    *rest = r;
    if (*r == '\0' && ev->type == JSON_MAP_START)
        return vec_push(v);
    return vec_last(v);
}

static int x_event_fields(void *ctx, const struct json_event *ev)
{
    struct decoder *x = ctx;
    const char *p = ev->ptr, *rest;
    void *item;

    if (ev->depth == 0) {
        if (ev->type != JSON_MAP_START && ev->type != JSON_MAP_END) {
            *ev->reject = "record is not a JSON object";
            return 1;
        }
        return 0;
    }
    if (strncmp(p, "/data", 5) == 0 && (p[5] == '\0' || p[5] == '/')) {
        if (p[5] == '\0') {
            if (ev->type == JSON_MAP_START) {
                x->data_kind = 1;
                vec_push(&x->data);
            } else if (ev->type == JSON_ARRAY_START) {
                x->data_kind = 2;
            } else if (ev->type != JSON_MAP_END && ev->type != JSON_ARRAY_END) {
                *ev->reject = "\"data\" is neither an object nor an array";
                return 1;
            }
            return 0;
        }
        if (x->data_kind == 1)
            return x_tweet_field(x, vec_last(&x->data), p + 5, ev);
        item = x_item(&x->data, p + 5, &rest, ev);
        return rest ? x_tweet_field(x, item, rest, ev) : 0;
    }
    if (strncmp(p, "/includes/users/", 16) == 0) {
        struct x_user *u = x_item(&x->users, p + 15, &rest, ev);
        if (u && *rest == '\0' && ev->type == JSON_MAP_START)
            u->followers = -1;          /* unknown until public_metrics says */
        return rest ? x_user_field(x, u, rest, ev) : 0;
    }
    if (strncmp(p, "/includes/tweets/", 17) == 0) {
        item = x_item(&x->tweets, p + 16, &rest, ev);
        return rest ? x_tweet_field(x, item, rest, ev) : 0;
    }
    if (strncmp(p, "/matching_rules/", 16) == 0) {
        rest = json_ptr_skip_index(p + 15);
        if (rest && *rest == '\0' && ev->type == JSON_MAP_START) {
            x->rules_seen++;
            return 0;
        }
        if (rest && strcmp(rest, "/tag") == 0 && ev->type == JSON_STRING && x->ntags < X_MAX_TAGS &&
            (x->tags[x->ntags] = decode_str(&x->jd.arena, ev, &x->reject)))
            x->ntags++;
        /* ids: strings in the docs, numbers in real captures; tags may be null. */
        return 0;
    }
    if (strncmp(p, "/errors/", 8) == 0) {
        rest = json_ptr_skip_index(p + 7);
        if (!rest)
            return 0;
        if (*rest == '\0' && ev->type == JSON_MAP_START)
            x->errors_seen++;
        if (x->errors_seen != 1)
            return 0;                   /* the first error describes it */
        if (strcmp(rest, "/title") == 0)
            x->err_title = x_str(x, ev);
        else if (strcmp(rest, "/detail") == 0)
            x->err_detail = x_str(x, ev);
        else if (strcmp(rest, "/disconnect_type") == 0 || strcmp(rest, "/connection_issue") == 0)
            x->err_kind = x_str(x, ev);
        return x->reject != NULL;
    }
    if (strcmp(p, "/meta/result_count") == 0 && ev->type == JSON_NUMBER && ev->val_len == 1 && ev->val[0] == '0')
        x->empty_page = 1;
    /* includes.media, .places, .polls, .topics; __twarc and other extras */
    if ((ev->type == JSON_MAP_START || ev->type == JSON_ARRAY_START) && strcmp(p, "/includes") != 0 &&
        strcmp(p, "/includes/users") != 0 && strcmp(p, "/includes/tweets") != 0 && strcmp(p, "/errors") != 0 &&
        strcmp(p, "/matching_rules") != 0 && strcmp(p, "/meta") != 0)
        return JSON_SKIP;
    return 0;
}

/* Field handlers record why they gave up in x->reject; hand it to the reader
 * so the error names the reason and the offset. */
static int x_event(void *ctx, const struct json_event *ev)
{
    struct decoder *x = ctx;
    int rc = x_event_fields(ctx, ev);

    if (rc && x->reject)
        *ev->reject = x->reject;
    return rc;
}

static struct decoder *x_create(const struct source_conf *sc)
{
    struct decoder *x = json_decoder_new(sizeof *x, sc, x_event, 2);

    if (!x)
        return NULL;
    x->data.size = sizeof(struct x_tweet);
    x->users.size = sizeof(struct x_user);
    x->tweets.size = sizeof(struct x_tweet);
    return x;
}

static void x_destroy(struct decoder *x)
{
    if (!x)
        return;
    free(x->data.items);
    free(x->users.items);
    free(x->tweets.items);
    json_decoder_free(&x->jd);
}

static void x_reset(struct decoder *x)
{
    arena_reset(&x->jd.arena);
    x->data.n = x->users.n = x->tweets.n = 0;
    x->data.overflow = x->users.overflow = x->tweets.overflow = 0;
    x->data.nomem = x->users.nomem = x->tweets.nomem = 0;
    x->data_kind = 0;
    x->errors_seen = 0;
    x->rules_seen = 0;
    x->ntags = 0;
    x->empty_page = 0;
    x->err_title = x->err_detail = x->err_kind = NULL;
    x->reject = NULL;
}

static const struct x_user *x_find_user(struct decoder *x, const char *id)
{
    struct x_user *u = x->users.items;
    if (!id)
        return NULL;
    for (int i = 0; i < x->users.n; i++)
        if (u[i].id && strcmp(u[i].id, id) == 0)
            return &u[i];
    return NULL;
}

static const struct x_tweet *x_find_tweet(struct decoder *x, const char *id)
{
    struct x_tweet *t = x->tweets.items;
    if (!id)
        return NULL;
    for (int i = 0; i < x->tweets.n; i++)
        if (t[i].id && strcmp(t[i].id, id) == 0)
            return &t[i];
    return NULL;
}

/* Handle of a user in this record's includes, or NULL. */
static const char *x_handle(struct decoder *x, const char *user_id)
{
    const struct x_user *u = x_find_user(x, user_id);
    return u ? u->username : NULL;
}

static void x_build_post(struct decoder *x, const struct x_tweet *t, struct post *p)
{
    const struct x_user *u = x_find_user(x, t->author_id);
    const struct x_tweet *ref;
    char url[256];

    post_clear(p);
    p->id = t->id;
    p->text = t->text;
    p->lang = t->lang;
    p->created_at = t->created_at;
    p->conversation_id = t->conversation_id;
    p->author.id = t->author_id;
    if (u) {
        p->author.handle = u->username;
        p->author.name = u->name;
        p->author.bio = u->description;
        p->author.followers = u->followers;
        p->author.verified = u->verified;
        p->author.verified_type = u->verified_type;
        p->author.created_at = u->created_at;
    }
    p->is_retweet = t->rt_id != NULL;
    p->is_quote = t->quote_id != NULL;
    p->is_reply = t->reply_id != NULL;
    p->in_reply_to = t->reply_id;
    p->to_handle = x_handle(x, t->reply_user_id);
    p->referenced_id = t->rt_id ? t->rt_id : t->quote_id;
    ref = x_find_tweet(x, p->referenced_id);
    p->referenced_text = ref ? ref->text : NULL;
    if (ref) {
        const struct x_user *ru = x_find_user(x, ref->author_id);
        p->referenced_author_id = ref->author_id;
        if (ru) {
            p->referenced_author = ru->username;
            p->referenced_name = ru->name;
            p->referenced_followers = ru->followers;
        }
    }
    p->urls = t->urls;
    p->rule_tags = x->tags;
    p->nrule_tags = x->ntags;
    p->nurls = t->nurls;
    p->nmentions = t->nmentions;
    p->nhashtags = t->nhashtags;
    p->has_media = t->nmedia > 0;
    if (u && u->username)
        snprintf(url, sizeof url, "https://x.com/%s/status/%s", u->username, t->id);
    else
        snprintf(url, sizeof url, "https://x.com/i/web/status/%s", t->id);
    p->url = arena_strndup(&x->jd.arena, url, strlen(url));
}

static enum decode_ret x_decode(struct decoder *x, const char *rec, size_t len,
                                decode_post_fn fn, void *ctx, char *err, size_t errlen)
{
    struct x_tweet *t;
    struct post post;
    int good = 0;

    x_reset(x);
    if (json_reader_parse(x->jd.reader, rec, len, err, errlen) != 0)
        return DECODE_MALFORMED;
    if (!x->reject && (x->data.nomem || x->users.nomem || x->tweets.nomem))
        x->reject = "out of memory";
    if (x->reject) {
        snprintf(err, errlen, "%s", x->reject);
        return DECODE_MALFORMED;
    }
    if (x->data.n == 0) {
        if (x->errors_seen) {
            snprintf(err, errlen, "in-stream error: %s%s%s%s%s%s",
                     x->err_title ? x->err_title : "(no title)",
                     x->err_kind ? " (" : "", x->err_kind ? x->err_kind : "", x->err_kind ? ")" : "",
                     x->err_detail ? ": " : "", x->err_detail ? x->err_detail : "");
            return DECODE_CONTROL;
        }
        if (x->empty_page)
            return DECODE_OK;           /* a search that found nothing new */
        snprintf(err, errlen, "record without \"data\"");
        return DECODE_SKIP;
    }
    t = x->data.items;
    for (int i = 0; i < x->data.n; i++) {
        if (!t[i].id || !t[i].text)
            continue;
        x_build_post(x, &t[i], &post);
        post.controls = json_reader_take_controls(x->jd.reader);
        fn(ctx, &post);
        good++;
    }
    if (good == 0 && x->data_kind == 2) {
        /* A page of users, counts or lists: valid, but not posts. */
        snprintf(err, errlen, "\"data\" holds no posts (no \"id\" with \"text\")");
        return DECODE_SKIP;
    }
    if (good == 0) {
        snprintf(err, errlen, "post without \"id\" or \"text\"");
        return DECODE_MALFORMED;
    }
    return DECODE_OK;
}

const struct decoder_ops decode_x_v2_ops = {
    .name = "x_v2",
    .create = x_create,
    .destroy = x_destroy,
    .decode = x_decode,
};
