/* alert_build: alert JSON encoding; see alert_build.h. */
#include "alert_build.h"
#include "oncall.h"
#include "pii.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void put_priority(struct json_writer *w, int level, int score, const char *const *reasons, int n)
{
    jw_key(w, "priority");
    jw_map_open(w);
    jw_put_str(w, "level", level_names[level]);
    jw_key(w, "score");
    jw_int(w, score);
    jw_key(w, "reasons");
    jw_array_open(w);
    for (int i = 0; i < n; i++)
        jw_str(w, reasons[i]);
    jw_array_close(w);
    jw_map_close(w);
}

static void put_times(struct json_writer *w, const struct post *p, uint64_t now_ms)
{
    jw_key(w, "times");
    jw_map_open(w);
    jw_put_time(w, "received", p->received_ms ? p->received_ms : now_ms);
    jw_put_time(w, "enqueued", now_ms);
    jw_map_close(w);
}

static void put_referenced(struct json_writer *w, const struct post *p);

static void put_post(struct json_writer *w, const struct post *p)
{
    jw_key(w, "post");
    jw_map_open(w);
    jw_put_str(w, "id", p->id);
    jw_put_str(w, "url", p->url);
    jw_put_str(w, "text", p->text);
    jw_put_str(w, "lang", p->lang);
    jw_put_str(w, "created_at", p->created_at);
    jw_key(w, "author");
    jw_map_open(w);
    jw_put_str(w, "id", p->author.id);
    jw_put_str(w, "handle", p->author.handle);
    jw_put_str(w, "name", p->author.name);
    jw_put_count(w, "followers", p->author.followers);
    jw_key(w, "verified");
    jw_bool(w, p->author.verified);
    jw_map_close(w);
    jw_put_str(w, "in_reply_to", p->in_reply_to);
    jw_put_str(w, "conversation_id", p->conversation_id);
    jw_key(w, "is_retweet");
    jw_bool(w, p->is_retweet);
    jw_key(w, "is_quote");
    jw_bool(w, p->is_quote);
    if (p->referenced_id) {
        jw_put_str(w, "referenced_id", p->referenced_id);
        put_referenced(w, p);
    }
    jw_map_close(w);
}

/* The retweeted or quoted post as the source gave it (text masked like the
 * post's): what the agent reads, and whose it is. */
static void put_referenced(struct json_writer *w, const struct post *p)
{
    jw_key(w, "referenced");
    jw_map_open(w);
    jw_put_str(w, "id", p->referenced_id);
    jw_put_str(w, "text", p->referenced_text);
    jw_key(w, "author");
    jw_map_open(w);
    jw_put_str(w, "id", p->referenced_author_id);
    jw_put_str(w, "handle", p->referenced_author);
    jw_put_str(w, "name", p->referenced_name);
    jw_put_count(w, "followers", p->referenced_followers);
    jw_map_close(w);
    jw_map_close(w);
}

/* Whom to answer: a retweet's customer is the original author (the
 * retweeter only passed the complaint on); anyone else's, the author. */
static void put_customer(struct json_writer *w, const struct post *p)
{
    int ref = p->is_retweet && (p->referenced_author || p->referenced_author_id);

    jw_key(w, "customer");
    jw_map_open(w);
    jw_put_str(w, "id", ref ? p->referenced_author_id : p->author.id);
    jw_put_str(w, "handle", ref ? p->referenced_author : p->author.handle);
    jw_put_str(w, "name", ref ? p->referenced_name : p->author.name);
    jw_put_str(w, "is", ref ? "referenced_author" : "author");
    jw_map_close(w);
}

static void put_matches(struct json_writer *w, const struct ruleset *rs, const struct match_ctx *mc,
                        const unsigned char *in_referenced)
{
    jw_key(w, "matches");
    jw_array_open(w);
    for (int i = 0; i < mc->nhits; i++) {
        const struct rule *r = &rs->rules[mc->hits[i].rule];
        jw_map_open(w);
        jw_put_str(w, "rule", r->name);
        jw_put_str(w, "tag", r->tag);
        jw_put_str(w, "queue", r->queue);
        jw_put_str(w, "in", in_referenced && in_referenced[i] ? "referenced" : "text");
        jw_key(w, "terms");
        jw_array_open(w);
        for (int t = 0; t < r->q->nterms; t++)
            if (!r->q->terms[t].negated && matcher_term_hit(mc, r, t))
                jw_str(w, r->q->terms[t].value);
        jw_array_close(w);
        jw_map_close(w);
    }
    jw_array_close(w);
}

/* meta.* of every matched rule; on a clash the highest-priority rule wins,
 * so its keys are written first and later duplicates skipped. */
static void put_meta(struct json_writer *w, const struct ruleset *rs, const struct match_ctx *mc,
                     int best, int backfill)
{
    const char *seen[64];
    int nseen = 0;

    jw_key(w, "meta");
    jw_map_open(w);
    if (backfill) {                     /* from a catch-up: late, and in its own order */
        jw_key(w, "backfill");
        jw_bool(w, 1);
        seen[nseen++] = "backfill";
    }
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < mc->nhits; i++) {
            const struct rule *r = &rs->rules[mc->hits[i].rule];
            if ((pass == 0) != (mc->hits[i].rule == best))
                continue;
            for (int k = 0; k < r->nmeta; k++) {
                int dup = 0;
                for (int s = 0; s < nseen; s++)
                    dup |= strcmp(seen[s], r->meta_key[k]) == 0;
                if (dup || nseen >= (int)ARRAY_LEN(seen))
                    continue;
                seen[nseen++] = r->meta_key[k];
                jw_put_str(w, r->meta_key[k], r->meta_val[k]);
            }
        }
    jw_map_close(w);
}

static void put_context(struct json_writer *w, const struct post *p, const struct alert_context *cx)
{
    jw_key(w, "pii");
    jw_map_open(w);
    jw_key(w, "redacted");
    jw_array_open(w);
    for (int k = 0; k < PII_COUNT; k++)
        if (cx->pii & (1 << k))
            jw_str(w, pii_kind_names[k]);
    jw_array_close(w);
    jw_map_close(w);
    jw_key(w, "context");
    jw_map_open(w);
    jw_key(w, "author_recent_alerts");
    jw_int(w, cx->author_recent);
    jw_key(w, "author_alert_ids");
    jw_array_open(w);
    for (int i = 0; i < cx->nids; i++)
        jw_str(w, cx->author_ids[i]);
    jw_array_close(w);
    jw_put_str(w, "conversation_id", p->conversation_id);
    jw_put_str(w, "in_reply_to", p->in_reply_to);
    jw_key(w, "shares");
    jw_int(w, cx->shares);
    jw_map_close(w);
}

/* The alert of the document in w; NULL if it could not be finished or
 * without memory (the caller counts it as dropped). */
/* The document just written, as an alert. */
static struct alert *alert_make(struct json_writer *w, const char *id, const char *source, const char *author_id,
                                const char *queue, int level, int score)
{
    const char *out;
    size_t len;

    if (jw_finish(w, &out, &len) != 0)
        return NULL;
    return alert_new(id, source, author_id, queue, level, score, out, len);
}

static struct alert *alert_of_post(struct json_writer *w, const char *id, const char *queue, int level, int score,
                                   const struct post *p)
{
    struct alert *a = alert_make(w, id, p->source_name ? p->source_name : "", p->author.id, queue, level, score);

    if (a)
        a->received_us = p->received_us_mono;
    return a;
}

/* The envelope every record starts with; the post follows unless the
 * record is only about its id (deleted). */
static void put_head(struct json_writer *w, const char *type, const char *id, const char *instance,
                     const struct post *p)
{
    jw_reset(w);
    jw_map_open(w);
    jw_key(w, "v");
    jw_int(w, 1);
    jw_put_str(w, "type", type);
    jw_put_str(w, "id", id);
    jw_put_str(w, "instance", instance);
    jw_key(w, "source");
    jw_map_open(w);
    jw_put_str(w, "name", p->source_name);
    jw_put_str(w, "type", p->source_type);
    jw_map_close(w);
    if (!p->deleted) {
        put_post(w, p);
        return;
    }
    jw_key(w, "post");
    jw_map_open(w);
    jw_put_str(w, "id", p->id);
    jw_map_close(w);
}

struct alert *alert_build_canned(struct json_writer *w, const char *instance, const char *queue, int level,
                                 const struct post *p, const char *const *recipients, int nrecipients,
                                 uint64_t first_ms, uint64_t now_ms)
{
    /* The bottom of the level's band: canned replies order by time alone. */
    int score = level == LEVEL_CRITICAL ? 80 : level == LEVEL_HIGH ? 60 : level == LEVEL_NORMAL ? 40 : 20;
    char id[512], reason[64];

    snprintf(id, sizeof id, "%s:canned:%s", p->source_name ? p->source_name : "", p->id);
    put_head(w, "canned_reply", id, instance, p);
    jw_key(w, "matches");
    jw_array_open(w);
    jw_array_close(w);
    jw_put_str(w, "queue", queue);
    snprintf(reason, sizeof reason, "canned_reply:%d", nrecipients);
    put_priority(w, level, score, (const char *const[]){reason}, 1);
    jw_key(w, "context");
    jw_map_open(w);
    jw_key(w, "recipients");
    jw_array_open(w);
    for (int i = 0; i < nrecipients; i++)
        jw_str(w, recipients[i]);
    jw_array_close(w);
    jw_put_time(w, "first_seen", first_ms);
    jw_map_close(w);
    put_times(w, p, now_ms);
    jw_map_close(w);
    return alert_of_post(w, id, queue, level, score, p);
}

static void put_account(struct json_writer *w, const struct post *p, long long age_days)
{
    jw_key(w, "account");
    jw_map_open(w);
    jw_put_str(w, "id", p->author.id);
    jw_put_str(w, "handle", p->author.handle);
    jw_put_str(w, "name", p->author.name);
    jw_put_str(w, "created_at", p->author.created_at);
    jw_put_count(w, "age_days", age_days);
    jw_put_count(w, "followers", p->author.followers);
    jw_key(w, "verified");
    jw_bool(w, p->author.verified);
    jw_put_str(w, "verified_type", p->author.verified_type);
    jw_put_str(w, "bio", p->author.bio);
    jw_map_close(w);
}

struct alert *alert_build_impersonation(struct json_writer *w, const char *instance, const char *queue, int level,
                                        const struct post *p, const struct imp_report *r, uint64_t now_ms)
{
    /* The bottom of the level's band, as canned replies: time orders them. */
    int score = level == LEVEL_CRITICAL ? 80 : 60;
    char id[512];

    snprintf(id, sizeof id, "%s:impersonation:%s", p->source_name ? p->source_name : "", p->id);
    put_head(w, "impersonation", id, instance, p);
    jw_key(w, "matches");
    jw_array_open(w);
    jw_array_close(w);
    jw_put_str(w, "queue", queue);
    put_priority(w, level, score, r->reasons, r->nreasons);
    jw_key(w, "impersonation");
    jw_map_open(w);
    jw_put_str(w, "imitates", r->imitates);
    jw_key(w, "victim");
    if (r->victim_handle) {
        jw_map_open(w);
        jw_put_str(w, "handle", r->victim_handle);
        jw_put_str(w, "post_id", r->victim_post);
        jw_map_close(w);
    } else {
        jw_null(w);
    }
    put_account(w, p, r->age_days);
    jw_key(w, "evidence");
    jw_map_open(w);
    jw_key(w, "phones");
    jw_array_open(w);
    for (int i = 0; i < r->ev->nphones; i++)
        jw_str(w, r->ev->phones[i]);
    jw_array_close(w);
    jw_key(w, "links");
    jw_array_open(w);
    for (int i = 0; i < r->ev->nlinks; i++)
        jw_str(w, r->ev->links[i]);
    jw_array_close(w);
    jw_map_close(w);
    jw_key(w, "account_alerts");
    jw_int(w, r->account_alerts);
    jw_map_close(w);
    put_times(w, p, now_ms);
    jw_map_close(w);
    return alert_of_post(w, id, queue, level, score, p);
}

struct alert *alert_build(struct json_writer *w, const char *instance, const struct ruleset *rs,
                          const struct match_ctx *mc, const struct score *sc, const struct post *p,
                          const struct alert_context *cx, uint64_t now_ms)
{
    const struct rule *best = &rs->rules[sc->best_rule];
    char id[512];

    snprintf(id, sizeof id, "%s:%s", p->source_name ? p->source_name : "", p->id);
    put_head(w, "mention", id, instance, p);
    put_matches(w, rs, mc, cx->in_referenced);
    put_customer(w, p);
    jw_put_str(w, "queue", best->queue);
    {
        const char *reasons[SCORER_MAX_REASONS];
        for (int i = 0; i < sc->nreasons; i++)
            reasons[i] = sc->reasons[i];
        put_priority(w, sc->level, sc->score, reasons, sc->nreasons);
    }
    put_context(w, p, cx);
    put_meta(w, rs, mc, sc->best_rule, p->backfill);
    put_times(w, p, now_ms);
    jw_map_close(w);
    return alert_of_post(w, id, best->queue, sc->level, sc->score, p);
}

struct alert *alert_build_deleted(struct json_writer *w, const char *instance, const struct post *p,
                                  uint64_t now_ms)
{
    char id[512];
    struct alert *a;

    snprintf(id, sizeof id, "%s:%s", p->source_name ? p->source_name : "", p->id);
    put_head(w, "deleted", id, instance, p);
    put_times(w, p, now_ms);
    jw_map_close(w);
    a = alert_of_post(w, id, "", LEVEL_LOW, 0, p);
    if (a)
        a->kind = ALERT_DELETED;
    return a;
}

struct alert *alert_build_incident(struct json_writer *w, const char *instance, const char *queue,
                                   const struct incident *inc, enum incident_action act, uint64_t now_ms)
{
    char id[448], reason[256];

    /* One record per report: the incident key plus its report number. */
    snprintf(id, sizeof id, "%s:%u", inc->key, inc->seq);
    jw_reset(w);
    jw_map_open(w);
    jw_key(w, "v");
    jw_int(w, 1);
    jw_put_str(w, "type", inc->kind == INCIDENT_VIRAL ? "viral" : "spike");
    jw_put_str(w, "id", id);
    jw_put_str(w, "instance", instance);
    jw_put_str(w, "action", incident_action_names[act]);
    jw_key(w, "incident");
    oncall_put_incident(w, inc, act);
    jw_put_str(w, "queue", queue);
    snprintf(reason, sizeof reason, "%s:%s", incident_kind_names[inc->kind], inc->name);
    put_priority(w, LEVEL_CRITICAL, 100, (const char *const[]){reason}, 1);
    jw_key(w, "times");
    jw_map_open(w);
    jw_put_time(w, "enqueued", now_ms);
    jw_map_close(w);
    jw_map_close(w);
    return alert_make(w, id, "", NULL, queue, LEVEL_CRITICAL, 100);
}
