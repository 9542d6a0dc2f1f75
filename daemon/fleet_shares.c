/* fleet_shares: a fleet's share counts in Redis; see fleet_shares.h. */
#include "fleet_shares.h"
#include "log.h"
#include "post.h"
#include "redis_conn.h"
#include "strmap.h"
#include "util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SHARES_TICK_MS 1000
/* Posts a second: more are dropped (counted), so one script stays short. */
#define SHARES_BATCH_MAX 2048
/* A share's text kept for a viral report only up to this (a longer one is
 * reported without: cutting it could leave half a card number unmasked). */
#define SAMPLE_TEXT_MAX 4096

/* KEYS: per post its mark and its count; ARGV: 1 spread_window (s),
 * 2 viral_shares (0: off), 3... each post's shares.  Answers per post 0
 * (not alerted: nothing written), the fleet's count, or minus the count
 * when these shares took it to viral_shares. */
static const char script[] =
    "local v = tonumber(ARGV[2])\n"
    "local out = {}\n"
    "for i = 1, #KEYS / 2 do\n"
    "  local d = tonumber(ARGV[i + 2])\n"
    "  out[i] = 0\n"
    "  if redis.call('EXISTS', KEYS[2 * i - 1]) == 1 then\n"
    "    local c = redis.call('INCRBY', KEYS[2 * i], d)\n"
    "    if c == d then redis.call('EXPIRE', KEYS[2 * i], ARGV[1]) end\n"
    "    if v > 0 and c >= v and c - d < v then out[i] = -c else out[i] = c end\n"
    "  end\n"
    "end\n"
    "return out\n";

/* One shared post's count this second, and the first share read of it. */
struct entry {
    char *key;
    uint32_t n;
    char *id, *url, *author, *text, *ref_id, *ref_author;
};

struct batch {
    struct strmap idx;                  /* key -> entry */
    struct entry *e;
    int n, cap;
};

struct fleet_shares {
    struct redis_conn *conn;
    struct fleet_shares_hooks h;
    char marks[320], counts[320];       /* key prefixes: "<prefix>:fleet:{<fleet>}:post:", ":shares:" */
    long long spread_window, viral_shares;
    struct event *timer;
    struct batch gather, sent;          /* this second's; the one Redis is answering */
    int inflight;
    struct fleet_shares_stats st;
};

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

/* "<a><b>", allocated. */
static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = xmalloc(la + lb + 1);

    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

static void batch_clear(struct batch *b)
{
    for (int i = 0; i < b->n; i++) {
        struct entry *e = &b->e[i];
        free(e->key);
        free(e->id);
        free(e->url);
        free(e->author);
        free(e->text);
        free(e->ref_id);
        free(e->ref_author);
    }
    b->n = 0;
    strmap_free(&b->idx);
    strmap_init(&b->idx);
}

static void batch_free(struct batch *b)
{
    batch_clear(b);
    strmap_free(&b->idx);
    free(b->e);
}

/* A new entry with the share as its sample: the text a viral report shows
 * is the original's for a retweet, the share's own otherwise. */
static struct entry *entry_new(struct batch *b, const char *key, const struct post *p)
{
    const char *text = p->is_retweet && p->referenced_text ? p->referenced_text : p->text;
    struct entry *e;

    if (b->n == b->cap) {
        b->cap = b->cap ? 2 * b->cap : 64;
        b->e = xrealloc(b->e, (size_t)b->cap * sizeof *b->e);
    }
    strmap_put(&b->idx, key, strlen(key), b->n, NULL);
    e = &b->e[b->n++];
    memset(e, 0, sizeof *e);
    e->key = xstrdup(key);
    e->id = dup_or_null(p->id);
    e->url = dup_or_null(p->url);
    e->author = dup_or_null(p->author.handle);
    e->text = text && strlen(text) <= SAMPLE_TEXT_MAX ? xstrdup(text) : NULL;
    e->ref_id = dup_or_null(p->referenced_id);
    e->ref_author = dup_or_null(p->referenced_author);
    return e;
}

void fleet_shares_add(struct fleet_shares *fs, const char *key, const struct post *share)
{
    int *i;

    if (!fs)
        return;
    if ((i = strmap_get(&fs->gather.idx, key, strlen(key)))) {
        fs->gather.e[*i].n++;
        return;
    }
    if (fs->gather.n >= SHARES_BATCH_MAX) {
        fs->st.dropped++;
        log_limited(LOG_WARNING, "fleet shares: more than %d posts shared within a second; the shares of the "
                    "rest are not counted for the fleet", SHARES_BATCH_MAX);
        return;
    }
    entry_new(&fs->gather, key, share)->n = 1;
}

static void viral_from(struct fleet_shares *fs, const struct entry *e, uint32_t shares)
{
    struct post p;

    memset(&p, 0, sizeof p);
    p.id = e->id;
    p.url = e->url;
    p.author.handle = e->author;
    p.text = e->text ? e->text : "";
    p.referenced_id = e->ref_id;
    p.referenced_author = e->ref_author;
    fs->st.viral++;
    fs->h.viral(fs->h.ctx, e->key, &p, shares);
}

static void on_reply(void *privdata, const struct redis_reply *reply)
{
    struct fleet_shares *fs = privdata;
    struct batch *b = &fs->sent;
    uint64_t n = 0;

    fs->inflight = 0;
    for (int i = 0; i < b->n; i++)
        n += b->e[i].n;
    if (!reply || redis_reply_type(reply) != RREPLY_ARRAY || redis_reply_count(reply) != (size_t)b->n) {
        fs->st.batches_failed++;
        fs->st.dropped += n;
        log_limited(LOG_WARNING, "fleet shares: %llu shares of %d posts not counted for the fleet: %s",
                    (unsigned long long)n, b->n, !reply ? "the Redis connection went before the answer"
                    : redis_reply_type(reply) == RREPLY_ERROR ? redis_reply_str(reply, NULL)
                    : "an unexpected answer");
        batch_clear(b);
        return;
    }
    fs->st.sent += n;
    for (int i = 0; i < b->n; i++) {
        long long c = redis_reply_integer(redis_reply_at(reply, (size_t)i));
        uint32_t total = (uint32_t)(c < 0 ? -c : c);
        if (!c)
            continue;
        fs->st.of_alerted += b->e[i].n;
        if (fs->h.alerted)
            fs->h.alerted(fs->h.ctx, b->e[i].key, total);
        if (c < 0 && fs->h.viral)
            viral_from(fs, &b->e[i], total);
    }
    batch_clear(b);
}

static void send_batch(struct fleet_shares *fs)
{
    struct batch *b = &fs->gather, swap;
    int np = b->n, nk = 2 * np, argc = 3 + nk + 2 + np, k = 0;
    const char **argv = xcalloc((size_t)argc, sizeof *argv);
    char **own = xcalloc((size_t)(nk + np), sizeof *own), nkeys[16], win[24], viral[24];

    snprintf(nkeys, sizeof nkeys, "%d", nk);
    snprintf(win, sizeof win, "%lld", fs->spread_window);
    snprintf(viral, sizeof viral, "%lld", fs->viral_shares);
    argv[k++] = "EVAL";
    argv[k++] = script;
    argv[k++] = nkeys;
    for (int i = 0; i < b->n; i++) {
        own[2 * i] = concat(fs->marks, b->e[i].key);
        own[2 * i + 1] = concat(fs->counts, b->e[i].key);
        argv[k++] = own[2 * i];
        argv[k++] = own[2 * i + 1];
    }
    argv[k++] = win;
    argv[k++] = viral;
    for (int i = 0; i < np; i++) {
        char n[16];
        snprintf(n, sizeof n, "%u", b->e[i].n);
        argv[k++] = own[nk + i] = xstrdup(n);
    }
    /* what was gathered is now the batch in flight; a new second begins */
    swap = fs->sent;
    fs->sent = *b;
    *b = swap;
    if (redis_conn_command(fs->conn, on_reply, fs, argc, argv, NULL) == 0)
        fs->inflight = 1;
    else
        on_reply(fs, NULL);
    for (int i = 0; i < nk + np; i++)
        free(own[i]);
    free(own);
    free(argv);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct fleet_shares *fs = arg;

    (void)fd;
    (void)what;
    /* Redis away or slow: the counts wait for the next second (bounded) */
    if (fs->gather.n && !fs->inflight && redis_conn_ready(fs->conn))
        send_batch(fs);
}

struct fleet_shares *fleet_shares_new(struct event_base *base, struct redis_conn *conn, const char *prefix,
                                      const char *fleet, const struct fleet_shares_hooks *h)
{
    struct fleet_shares *fs = xcalloc(1, sizeof *fs);
    struct timeval tv = ms_to_timeval(SHARES_TICK_MS);

    fs->conn = conn;
    fs->h = *h;
    snprintf(fs->marks, sizeof fs->marks, "%s:fleet:{%s}:post:", prefix, fleet);
    snprintf(fs->counts, sizeof fs->counts, "%s:fleet:{%s}:shares:", prefix, fleet);
    strmap_init(&fs->gather.idx);
    strmap_init(&fs->sent.idx);
    if (!(fs->timer = event_new(base, -1, EV_PERSIST, on_tick, fs)) || event_add(fs->timer, &tv) != 0) {
        fleet_shares_free(fs);
        return NULL;
    }
    return fs;
}

void fleet_shares_set_limits(struct fleet_shares *fs, long long spread_window, long long viral_shares)
{
    if (!fs)
        return;
    fs->spread_window = spread_window > 0 ? spread_window : 1;
    fs->viral_shares = viral_shares;
}

const struct fleet_shares_stats *fleet_shares_stats(const struct fleet_shares *fs)
{
    static const struct fleet_shares_stats none;
    return fs ? &fs->st : &none;
}

void fleet_shares_free(struct fleet_shares *fs)
{
    if (!fs)
        return;
    if (fs->timer)
        event_free(fs->timer);
    batch_free(&fs->gather);
    batch_free(&fs->sent);
    free(fs);
}
