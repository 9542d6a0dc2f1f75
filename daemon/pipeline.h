/* pipeline: the one-way path from bytes to alerts.
 *
 *   feed (framer -> decoder) -> pipeline (matcher -> scorer -> alert) -> sink
 *
 * A feed belongs to one source (or one replay input) and owns its framer and
 * decoder and their counters; the pipeline is shared by all feeds and owns
 * the matching scratch and the JSON writer.  The sink receives each alert
 * and owns it from then on.  The ruleset is borrowed and may be swapped
 * between posts (reload); nothing keeps a pointer into it across posts.
 *
 * Worker threads ([daemon] workers = N): a feed whose decoder keeps nothing
 * between records (no hint, no stream position) hands its framed records
 * in batches, one batch per read, to N threads that decode and match them,
 * each with its own decoder per feed and its own matching scratch, and copy
 * each post with its match result; the loop thread then runs everything
 * stateful (windows, duplicates, shares, scores, alerts, the sink, the
 * observers, the counters and the logs) on those results in the order the
 * records arrived.  pipeline_drain() waits for every batch in flight and
 * must run before the rules, the configuration or a feed go away.
 */
#ifndef MENTIOND_PIPELINE_H
#define MENTIOND_PIPELINE_H

#include "alert_build.h"
#include "decode.h"
#include "framing.h"
#include "matcher.h"
#include "rules.h"
#include "window.h"

#include <stdint.h>

typedef void (*alert_sink_fn)(void *ctx, struct alert *a);

/* What the surge detector wants to see (the daemon's incidents); NULL
 * members are not called.  Both run on the posting thread, in line. */
struct pipeline_observer {
    /* A post alerted: its rule hits are in mc, its text is masked. */
    void (*matched)(void *ctx, const struct match_ctx *mc, const struct post *p, const char *queue);
    /* Shares (retweets, quotes, replies) of an alerted post reached
     * [alerting] viral_shares within spread_window: once per post and window.
     * key is "<source type>:<post id>" of the shared post; text masked. */
    void (*viral)(void *ctx, const char *key, const struct post *share, const char *text, uint32_t shares);
    void *ctx;
};

/* In a fleet, every share (retweet, quote, reply) of a post goes to the
 * fleet's count (fleet_shares.h) instead of the local viral check: key is
 * the shared post's "<source type>:<post id>", share the post sharing it. */
typedef void (*pipeline_share_fn)(void *ctx, const char *key, const struct post *share);

/* Masked copies of a post's fields (pii.h): its text and author's name,
 * and the referenced post's. */
enum { MASK_TEXT, MASK_NAME, MASK_REF_TEXT, MASK_REF_NAME, MASK_FIELDS };
struct pl_masks {
    struct buf f[MASK_FIELDS];
};

struct pipeline_stats {
    uint64_t posts;
    uint64_t matched;
    uint64_t unmatched;         /* looked at and matched no rule */
    uint64_t duplicates;        /* the same post again (other source, backfill) */
    uint64_t shares_folded;     /* retweets of an alerted post: counted, not alerted */
    uint64_t viral;             /* posts whose shares reached viral_shares */
    uint64_t own_posts;         /* from [daemon] own_handles: not mentions */
    uint64_t canned_replies;    /* canned_reply alerts raised */
    uint64_t pii_masked;        /* alerts whose text had numbers masked */
    uint64_t encode_failed;     /* dropped: alert JSON could not be built */
    uint64_t bad_text;          /* dropped: text not valid UTF-8 */
    uint64_t nomem;             /* dropped: no memory to match it */
    uint64_t deletions;         /* deletion notices from the sources */
    uint64_t deletions_forwarded; /* ... handed to the sink (alerted or unknown) */
    uint64_t controls_replaced; /* control characters in posts' strings, replaced (json.h) */
    uint64_t impersonation[IMP_R_COUNT]; /* impersonation alerts, by reason */
};

/* Stages in order: shares counted -> own accounts watched -> duplicates
 * dropped -> look-alikes of own accounts checked (or the post remembered
 * as written to one) -> rules matched -> personal data masked -> lexicons
 * matched -> scored with the author's history -> alert built -> sink, and
 * an impersonation alert beside it.  The windows (history of authors,
 * shares, posts, own replies, complaints) are bounded and survive reloads;
 * the configuration and the rules are borrowed and swapped. */
struct pl_job;
struct pl_worker;
struct workers;

struct pipeline {
    const struct config *cfg;
    const struct ruleset *rs;
    struct match_ctx mc;
    struct match_ctx mc_own;    /* a share's own text alone: which rules the referenced post made */
    unsigned char *in_ref;      /* per hit of mc (alert_context.in_referenced) */
    size_t in_ref_alloc;
    struct match_ctx lexmc;
    struct json_writer *jw;
    struct pl_masks masked;
    struct tokens canned_tk;
    struct window authors, shares, seen, canned;
    /* impersonation: who wrote to an own handle (by handle, and by post),
     * and each look-alike account's alerts */
    struct window complainers, complaints, imp_accounts;
    struct tokens imp_tk;
    /* of cfg->own_list, made when the configuration is set: each own
     * handle's user name (without an @instance) and comparison form */
    struct own_form {
        char user[WINDOW_ID_MAX];
        struct imp_form f;
    } *own_forms;
    alert_sink_fn sink;
    void *sink_ctx;
    struct pipeline_stats st;
    uint64_t *rule_matches;     /* per rule of rs */
    struct pipeline_observer obs;
    pipeline_share_fn fleet_share;      /* NULL: not in a fleet */
    void *fleet_ctx;
    struct workers *workers;    /* NULL: everything on the calling thread */
    struct pl_worker *wk;       /* per worker thread: matching scratch */
    struct pl_job *jobs;        /* as many as the ring holds */
    struct pl_job *free_jobs;
    int nwk, njobs;
};

void pipeline_init(struct pipeline *pl, const struct config *cfg, const struct ruleset *rs,
                   alert_sink_fn sink, void *sink_ctx);
void pipeline_free(struct pipeline *pl);
void pipeline_set_rules(struct pipeline *pl, const struct ruleset *rs);
void pipeline_set_config(struct pipeline *pl, const struct config *cfg);
void pipeline_set_observer(struct pipeline *pl, const struct pipeline_observer *o);
void pipeline_post(struct pipeline *pl, struct post *p);
/* A fleet's member: shares go to fn (the fleet counts them, and says which
 * posts are viral: pipeline_report_viral), and alerts carry fleet marks
 * (alert.h).  fn NULL: on its own again. */
void pipeline_set_fleet(struct pipeline *pl, pipeline_share_fn fn, void *ctx);
/* The fleet says the post key (see pipeline_share_fn) was alerted by some
 * member and has `shares` within spread_window: its retweets fold here
 * too, and alerts about it are scored with the fleet's count. */
void pipeline_fleet_shares(struct pipeline *pl, const char *key, uint32_t shares);
/* The fleet's shares of the post key reached viral_shares; share is one of
 * them (its text masked here before the observer sees it). */
void pipeline_report_viral(struct pipeline *pl, const char *key, const struct post *share, uint32_t shares);
/* Start n decode-and-match threads (before any feed_init).  0, or -1. */
int pipeline_start_workers(struct pipeline *pl, int n);
int pipeline_worker_count(const struct pipeline *pl);
/* Readable when a batch is finished (-1 without workers); the loop then
 * calls pipeline_collect().  */
int pipeline_workers_fd(const struct pipeline *pl);
void pipeline_collect(struct pipeline *pl);
/* Batches submitted and not yet collected (loop thread). */
int pipeline_pending(const struct pipeline *pl);
/* Every batch in flight finished and its posts through the pipeline. */
void pipeline_drain(struct pipeline *pl);

struct feed_stats {
    uint64_t bytes;
    uint64_t posts;             /* decoded */
    uint64_t malformed;
    uint64_t control;
    uint64_t skipped;
    uint64_t last_created_ms;   /* the last post's own time (ISO 8601 created_at), 0: none */
    uint64_t max_id;            /* the highest numeric post id (X, Mastodon), 0: none */
};

struct spend;

struct feed {
    const char *name;           /* source name (borrowed) */
    const char *type;           /* source type name (borrowed) */
    struct framer fr;
    struct decoder_inst dec;
    struct pipeline *pl;
    uint64_t chunk_ms, chunk_us;        /* arrival time of the current chunk */
    struct feed_stats st;
    char last_control[256];     /* last control message, for the source */
    int control_seen;           /* set when a control message arrives */
    struct decoder_inst *wdec;  /* one per worker thread, or NULL: inline */
    struct spend *spend;        /* an X source's posts read against its budget, or NULL (the source's) */
    int backfill;               /* what comes now is a catch-up: its alerts say meta.backfill */
    struct pl_job *job;         /* batch being filled during a read */
};

/* format: decoder name; sc may be NULL (defaults).  Returns 0 or -1. */
int feed_init(struct feed *f, const char *name, const char *type, const char *format,
              const struct source_conf *sc, struct pipeline *pl);
void feed_free(struct feed *f);
void feed_bytes(struct feed *f, const char *p, size_t n);
/* A record framed by its transport (a WebSocket message), and one that
 * was over max_record and skipped by it (counted as oversized). */
void feed_record(struct feed *f, const char *p, size_t n);
void feed_oversized(struct feed *f, uint64_t n);
/* End of input: partial records are delivered (files) or counted (streams). */
void feed_finish(struct feed *f, int deliver_partial);
/* Records rejected by the framer (oversized, truncated) plus malformed. */
uint64_t feed_rejected(const struct feed *f);
/* A feed's counters, the framer's and the decoder's together, for reports. */
struct feed_counts {
    uint64_t bytes, records, keepalives, posts, control, rejected;
    uint64_t malformed, oversized, truncated, not_a_post, bad_length;   /* rejected, by reason */
};
void feed_counts(const struct feed *f, struct feed_counts *out);
const struct pipeline_stats *pipeline_stats(const struct pipeline *pl);
/* Posts matched by rule i of the running ruleset. */
uint64_t pipeline_rule_matches(const struct pipeline *pl, int i);

#endif
