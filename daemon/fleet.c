/* fleet: sources shared by leases in Redis; see fleet.h. */
#include "fleet.h"
#include "log.h"
#include "redis_conn.h"
#include "rendezvous.h"
#include "util.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Read from Redis, so capped: members beyond this are not considered. */
#define FLEET_MAX_MEMBERS 256
#define FLEET_MAX_NAME 200
#define FLEET_TICK_MAX_MS 500
#define FLEET_TICK_MIN_MS 100
#define HELD_TTL_MS "604800000"         /* the last holders: 7 days */
#define JUDGE ":judge"

/* KEYS[1] members (name -> expiry, Redis ms), KEYS[2] held (source -> last
 * holder, "-" once released), KEYS[3] sources (member -> digest of its
 * sources), KEYS[4..] the leases.  ARGV[1] member, ARGV[2] token, ARGV[3]
 * lease_ttl ms, ARGV[4] "run" or "leave", ARGV[5] one flag per lease (w:
 * take or renew, r: release if held), ARGV[6] the digest, ARGV[7..] the
 * leases' names.  Answers {members, holders, previous holders of the
 * leases taken now, the members' digests as name/digest pairs}. */
static const char script[] =
    "local t = redis.call('TIME')\n"
    "local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)\n"
    "local ttl = tonumber(ARGV[3])\n"
    "if ARGV[4] == 'leave' then\n"
    "  redis.call('ZREM', KEYS[1], ARGV[1]); redis.call('HDEL', KEYS[3], ARGV[1])\n"
    "else\n"
    "  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1]); redis.call('HSET', KEYS[3], ARGV[1], ARGV[6])\n"
    "end\n"
    "for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now)) do redis.call('HDEL', KEYS[3], m) end\n"
    "redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)\n"
    "redis.call('PEXPIRE', KEYS[1], ttl * 3)\n"
    "redis.call('PEXPIRE', KEYS[3], ttl * 3)\n"
    "local holders, prevs = {}, {}\n"
    "for i = 4, #KEYS do\n"
    "  local flag, src = string.sub(ARGV[5], i - 3, i - 3), ARGV[i + 3]\n"
    "  local cur, prev = redis.call('GET', KEYS[i]), ''\n"
    "  if cur == ARGV[2] then\n"
    "    if flag == 'r' then\n"
    "      redis.call('DEL', KEYS[i]); redis.call('HSET', KEYS[2], src, '-'); cur = false\n"
    "    else redis.call('PEXPIRE', KEYS[i], ttl) end\n"
    "  elseif not cur and flag == 'w' then\n"
    "    redis.call('SET', KEYS[i], ARGV[2], 'PX', ttl)\n"
    "    prev = redis.call('HGET', KEYS[2], src) or ''\n"
    "    redis.call('HSET', KEYS[2], src, ARGV[2]); cur = ARGV[2]\n"
    "  end\n"
    "  holders[#holders + 1] = cur or ''\n"
    "  prevs[#prevs + 1] = prev\n"
    "end\n"
    "redis.call('PEXPIRE', KEYS[2], " HELD_TTL_MS ")\n"
    "return {redis.call('ZRANGE', KEYS[1], 0, -1), holders, prevs, redis.call('HGETALL', KEYS[3])}\n";

struct fsource {
    char *name;                         /* the judge's: JUDGE (no source has a ':' in its name) */
    char *key;                          /* its lease */
    int judge;                          /* the judge's lease, not a source's */
    int resumes;
    int owned;
    uint64_t until_ms;                  /* monotonic: held (as far as this member knows) until */
};

struct fleet {
    struct redis_conn *conn;
    char *name, *member, *token;
    char *members_key, *held_key, *sources_key, *lease_prefix;
    char digest[20];                    /* of this member's sources: order-free */
    int odd;                            /* members whose sources differ from this one's */
    uint64_t odd_hash;                  /* which ones, so a change is logged once */
    uint64_t ttl_ms, tick_ms;
    fleet_run_fn run;
    void *ctx;
    struct event *timer;
    struct fsource *src;
    int nsrc;
    unsigned gen;                       /* bumped when the sources change */
    char **members;                     /* live, sorted by name, as last answered */
    int nmembers;
    int inflight;
    unsigned sent_gen;
    uint64_t sent_ms;
    uint64_t picked_from;               /* hash of the member list the flags were computed from */
    int left;
    uint64_t joined_ms;                 /* monotonic: the first answer; 0: none yet */
    struct fleet_stats st;
};

static uint64_t members_hash(const struct fleet *f)
{
    uint64_t h = (uint64_t)f->nmembers;

    for (int i = 0; i < f->nmembers; i++)
        h = rendezvous_mix(h ^ hash_bytes(f->members[i], strlen(f->members[i])));
    return h;
}

/* Whether rendezvous picks this member for source i, among the members
 * Redis last named (this one among them once its first tick answered). */
static int picked_here(const struct fleet *f, int i)
{
    int p;

    /* Members started together register in the same tick: one that took
     * sources on its first answer, seeing only itself, would hand most of
     * them over a tick later.  So a tick passes first. */
    if (!f->joined_ms || now_mono_ms() - f->joined_ms < f->tick_ms)
        return 0;
    p = rendezvous_pick((const char *const *)f->members, f->nmembers, f->src[i].name);
    return p >= 0 && strcmp(f->members[p], f->member) == 0;
}

static void source_off(struct fleet *f, struct fsource *s)
{
    s->owned = 0;
    if (!s->judge)
        f->run(f->ctx, s->name, 0);
}

static void on_reply(void *privdata, const struct redis_reply *reply);

static void send_tick(struct fleet *f, int leaving)
{
    int argc = 3 + 3 + f->nsrc + 6 + f->nsrc, k = 0;
    const char **argv = xcalloc((size_t)argc, sizeof *argv);
    char *flags = xcalloc((size_t)f->nsrc + 1, 1), nkeys[16], ttl[32];

    f->picked_from = members_hash(f);
    for (int i = 0; i < f->nsrc; i++) {
        int want = !leaving && picked_here(f, i);
        if (f->src[i].owned && !want) {
            log_msg(LOG_NOTICE, "fleet %s: %s%s %s; its lease is released", f->name,
                    f->src[i].judge ? "judging" : "source ", f->src[i].judge ? "" : f->src[i].name,
                    leaving ? "stops (this member leaves)" : "moves to another member");
            source_off(f, &f->src[i]);
            f->st.released++;
        }
        flags[i] = want ? 'w' : 'r';
    }
    snprintf(nkeys, sizeof nkeys, "%d", 3 + f->nsrc);
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)f->ttl_ms);
    argv[k++] = "EVAL";
    argv[k++] = script;
    argv[k++] = nkeys;
    argv[k++] = f->members_key;
    argv[k++] = f->held_key;
    argv[k++] = f->sources_key;
    for (int i = 0; i < f->nsrc; i++)
        argv[k++] = f->src[i].key;
    argv[k++] = f->member;
    argv[k++] = f->token;
    argv[k++] = ttl;
    argv[k++] = leaving ? "leave" : "run";
    argv[k++] = flags;
    argv[k++] = f->digest;
    for (int i = 0; i < f->nsrc; i++)
        argv[k++] = f->src[i].name;
    f->sent_ms = now_mono_ms();
    f->sent_gen = f->gen;
    if (redis_conn_command(f->conn, leaving ? NULL : on_reply, f, argc, argv, NULL) == 0)
        f->inflight = !leaving;
    free(argv);
    free(flags);
}

/* Stop what this member can no longer be sure it holds: the lease was
 * last renewed by a tick sent more than lease_ttl less a fifth ago. */
static void fence(struct fleet *f)
{
    uint64_t now = now_mono_ms();

    for (int i = 0; i < f->nsrc; i++) {
        struct fsource *s = &f->src[i];
        if (s->owned && now + f->ttl_ms / 5 >= s->until_ms) {
            log_msg(LOG_WARNING, "fleet %s: %s%s stopped: its lease was not renewed for %llums (Redis %s); "
                    "another member takes it after lease_ttl", f->name, s->judge ? "judging" : "source ",
                    s->judge ? "" : s->name,
                    (unsigned long long)(now - (s->until_ms - f->ttl_ms)),
                    redis_conn_ready(f->conn) ? "not answering" : "away");
            source_off(f, s);
            f->st.fenced++;
        }
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct fleet *f = arg;

    (void)fd;
    (void)what;
    fence(f);
    if (!f->left && !f->inflight && redis_conn_ready(f->conn))
        send_tick(f, 0);
}

static void take_members(struct fleet *f, const struct redis_reply *arr)
{
    size_t n = redis_reply_count(arr);
    int k = 0;

    for (int i = 0; i < f->nmembers; i++)
        free(f->members[i]);
    if (n > FLEET_MAX_MEMBERS) {
        f->st.members_rejected += n - FLEET_MAX_MEMBERS;
        log_limited(LOG_WARNING, "fleet %s: %zu members in %s; the first %d are considered", f->name, n,
                    f->members_key, FLEET_MAX_MEMBERS);
        n = FLEET_MAX_MEMBERS;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *m = redis_reply_str(redis_reply_at(arr, i), &len);
        if (len && len <= FLEET_MAX_NAME) {
            f->members[k++] = xstrndup(m, len);
        } else {
            f->st.members_rejected++;
            log_limited(LOG_WARNING, "fleet %s: a member name of %zu bytes in %s is ignored (1 to %d)", f->name,
                        len, f->members_key, FLEET_MAX_NAME);
        }
    }
    f->nmembers = k;
}

static void gained(struct fleet *f, struct fsource *s, const char *prev)
{
    int takeover = !s->judge && *prev && strcmp(prev, "-") != 0 && strcmp(prev, f->token) != 0;

    s->owned = 1;
    f->st.gained++;
    if (takeover) {
        if (s->resumes)
            f->st.gaps_recovered++;
        else
            f->st.gaps_open++;
        log_msg(LOG_WARNING, "fleet %s: source %s taken over from %.*s, which stopped renewing its lease; %s",
                f->name, s->name, (int)strcspn(prev, " "), prev,
                s->resumes ? "the posts of the gap are asked for again (resume)"
                : "its type cannot ask for the posts of the gap: they are lost");
    } else if (s->judge) {
        log_msg(LOG_NOTICE, "fleet %s: this member judges the fleet's surges and pages for them", f->name);
    } else {
        log_msg(LOG_NOTICE, "fleet %s: source %s runs here", f->name, s->name);
    }
    if (!s->judge)
        f->run(f->ctx, s->name, 1);
}

static void take_holders(struct fleet *f, const struct redis_reply *holders, const struct redis_reply *prevs)
{
    int fresh = now_mono_ms() + f->ttl_ms / 5 < f->sent_ms + f->ttl_ms;

    for (int i = 0; i < f->nsrc && (size_t)i < redis_reply_count(holders); i++) {
        struct fsource *s = &f->src[i];
        const char *h = redis_reply_str(redis_reply_at(holders, i), NULL);
        if (strcmp(h, f->token) == 0) {
            s->until_ms = f->sent_ms + f->ttl_ms;
            /* an answer so late that the lease may be near its end (Redis
             * was stalled): not started on it; the next tick renews it */
            if (!s->owned && !fresh)
                continue;
            if (!s->owned)
                gained(f, s, (size_t)i < redis_reply_count(prevs) ? redis_reply_str(redis_reply_at(prevs, i), NULL)
                                                                   : "");
        } else if (s->owned) {
            const char *who = *h ? h : "nobody";
            log_msg(LOG_WARNING, "fleet %s: %s%s stopped: its lease is held by %.*s", f->name,
                    s->judge ? "judging" : "source ", s->judge ? "" : s->name, (int)strcspn(who, " "), who);
            source_off(f, s);
            f->st.lost++;
        }
    }
}

/* Members configured with other sources than this one: a source only some
 * of them have may be picked for a member that does not run it. */
static void check_digests(struct fleet *f, const struct redis_reply *pairs)
{
    uint64_t h = 0;
    int odd = 0;
    char names[256] = "";

    for (size_t i = 0; i + 1 < redis_reply_count(pairs) && i < 2 * FLEET_MAX_MEMBERS; i += 2) {
        size_t len;
        const char *m = redis_reply_str(redis_reply_at(pairs, i), &len);
        if (strcmp(redis_reply_str(redis_reply_at(pairs, i + 1), NULL), f->digest) == 0)
            continue;
        odd++;
        h = rendezvous_mix(h ^ hash_bytes(m, len));
        if (strlen(names) + len + 3 < sizeof names)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", *names ? ", " : "", m);
    }
    if (h != f->odd_hash && odd)
        log_msg(LOG_WARNING, "fleet %s: %d member%s (%s) run other [source] sections than this one: a source "
                "not in every member's configuration may run nowhere", f->name, odd, odd == 1 ? "" : "s", names);
    else if (h != f->odd_hash)
        log_msg(LOG_NOTICE, "fleet %s: every member runs the same [source] sections again", f->name);
    f->odd_hash = h;
    f->odd = odd;
}

static void on_reply(void *privdata, const struct redis_reply *reply)
{
    struct fleet *f = privdata;
    const struct redis_reply *m, *h, *p, *d;

    f->inflight = 0;
    if (f->left)
        return;                         /* answered after the leave was sent: nothing runs here any more */
    if (!reply || redis_reply_type(reply) != RREPLY_ARRAY || redis_reply_count(reply) != 4 ||
        redis_reply_type(m = redis_reply_at(reply, 0)) != RREPLY_ARRAY ||
        redis_reply_type(h = redis_reply_at(reply, 1)) != RREPLY_ARRAY ||
        redis_reply_type(p = redis_reply_at(reply, 2)) != RREPLY_ARRAY ||
        redis_reply_type(d = redis_reply_at(reply, 3)) != RREPLY_ARRAY) {
        f->st.ticks_failed++;
        if (reply)
            log_limited(LOG_WARNING, "fleet %s: the lease script was refused: %s", f->name,
                        redis_reply_type(reply) == RREPLY_ERROR ? redis_reply_str(reply, NULL) : "an unexpected reply");
        return;
    }
    take_members(f, m);
    check_digests(f, d);
    if (!f->joined_ms)
        f->joined_ms = now_mono_ms();
    if (f->sent_gen == f->gen)          /* the sources the script saw */
        take_holders(f, h, p);
    /* The member list moved since the flags were computed: want again at
     * once, not a tick later (a leave or a join hands over in one round trip). */
    if (members_hash(f) != f->picked_from && redis_conn_ready(f->conn))
        send_tick(f, 0);
}

struct fleet *fleet_new(struct event_base *base, struct redis_conn *conn, const char *prefix, const char *fleet,
                        const char *member, uint64_t lease_ttl_ms, fleet_run_fn run, void *ctx)
{
    struct fleet *f = xcalloc(1, sizeof *f);
    char buf[600];
    uint64_t tick = lease_ttl_ms / 20;
    struct timeval tv;

    f->conn = conn;
    f->name = xstrdup(fleet);
    f->member = xstrdup(member);
    snprintf(buf, sizeof buf, "%s %016llx", member,
             (unsigned long long)rendezvous_mix(now_mono_us() ^ now_real_ms() ^ ((uint64_t)getpid() << 32)));
    f->token = xstrdup(buf);
    snprintf(buf, sizeof buf, "%s:fleet:{%s}:members", prefix, fleet);
    f->members_key = xstrdup(buf);
    snprintf(buf, sizeof buf, "%s:fleet:{%s}:held", prefix, fleet);
    f->held_key = xstrdup(buf);
    snprintf(buf, sizeof buf, "%s:fleet:{%s}:sources", prefix, fleet);
    f->sources_key = xstrdup(buf);
    snprintf(buf, sizeof buf, "%s:fleet:{%s}:lease:", prefix, fleet);
    f->lease_prefix = xstrdup(buf);
    f->ttl_ms = lease_ttl_ms;
    f->tick_ms = tick > FLEET_TICK_MAX_MS ? FLEET_TICK_MAX_MS : tick < FLEET_TICK_MIN_MS ? FLEET_TICK_MIN_MS : tick;
    f->run = run;
    f->ctx = ctx;
    f->members = xcalloc(FLEET_MAX_MEMBERS, sizeof *f->members);
    tv = ms_to_timeval(f->tick_ms);
    if (!(f->timer = event_new(base, -1, EV_PERSIST, on_tick, f)) || event_add(f->timer, &tv) != 0) {
        fleet_free(f);
        return NULL;
    }
    return f;
}

void fleet_set_sources(struct fleet *f, const char *const *names, const int *resumes, int n)
{
    struct fsource *next;
    char buf[600];
    uint64_t dig = (uint64_t)n;

    if (!f)
        return;
    for (int i = 0; i < n; i++)         /* order-free: the same sections in another order are the same */
        dig += rendezvous_mix(hash_bytes(names[i], strlen(names[i])));
    snprintf(f->digest, sizeof f->digest, "%016llx", (unsigned long long)rendezvous_mix(dig));
    next = xcalloc((size_t)n + 2, sizeof *next);
    for (int i = 0; i <= n; i++) {      /* the sources, then the judge */
        next[i].judge = i == n;
        next[i].name = xstrdup(i < n ? names[i] : JUDGE);
        next[i].resumes = i < n && resumes[i];
        if (i < n)
            snprintf(buf, sizeof buf, "%s%s", f->lease_prefix, names[i]);
        else
            snprintf(buf, sizeof buf, "%.*sjudge", (int)(strlen(f->lease_prefix) - strlen("lease:")),
                     f->lease_prefix);
        next[i].key = xstrdup(buf);
        for (int j = 0; j < f->nsrc; j++)
            if (f->src[j].owned && strcmp(f->src[j].name, names[i]) == 0) {
                next[i].owned = 1;
                next[i].until_ms = f->src[j].until_ms;
            }
    }
    for (int j = 0; j < f->nsrc; j++) {
        free(f->src[j].name);
        free(f->src[j].key);
    }
    free(f->src);
    f->src = next;
    f->nsrc = n + 1;
    f->gen++;
}

int fleet_owns(const struct fleet *f, const char *name)
{
    if (!f)
        return 1;
    for (int i = 0; i < f->nsrc; i++)
        if (!f->src[i].judge && strcmp(f->src[i].name, name) == 0)
            return f->src[i].owned;
    return 0;
}

int fleet_judge(const struct fleet *f)
{
    if (!f)
        return 1;
    for (int i = 0; i < f->nsrc; i++)
        if (f->src[i].judge)
            return f->src[i].owned;
    return 0;
}

void fleet_leave(struct fleet *f)
{
    if (!f || f->left)
        return;
    f->left = 1;
    if (redis_conn_ready(f->conn))
        send_tick(f, 1);
    for (int i = 0; i < f->nsrc; i++)   /* Redis away: they expire */
        if (f->src[i].owned) {
            source_off(f, &f->src[i]);
            f->st.released++;
        }
}

void fleet_free(struct fleet *f)
{
    if (!f)
        return;
    if (f->timer)
        event_free(f->timer);
    for (int j = 0; j < f->nsrc; j++) {
        free(f->src[j].name);
        free(f->src[j].key);
    }
    free(f->src);
    for (int i = 0; i < f->nmembers; i++)
        free(f->members[i]);
    free(f->members);
    free(f->name);
    free(f->member);
    free(f->token);
    free(f->members_key);
    free(f->held_key);
    free(f->sources_key);
    free(f->lease_prefix);
    free(f);
}

const char *fleet_name(const struct fleet *f)
{
    return f ? f->name : "";
}

int fleet_members(const struct fleet *f)
{
    return f ? f->nmembers : 0;
}

int fleet_owned(const struct fleet *f)
{
    int n = 0;

    for (int i = 0; f && i < f->nsrc; i++)
        n += f->src[i].owned && !f->src[i].judge;
    return n;
}

int fleet_odd_members(const struct fleet *f)
{
    return f ? f->odd : 0;
}

int fleet_sources(const struct fleet *f)
{
    return f && f->nsrc ? f->nsrc - 1 : 0;
}

const struct fleet_stats *fleet_stats(const struct fleet *f)
{
    static const struct fleet_stats none;
    return f ? &f->st : &none;
}
