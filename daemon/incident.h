/* incident: surges and viral posts turned into incidents, with grouping,
 * cooldown and a page budget.
 *
 * One rate series (spike.h) per rule marked `spike = on`, per `topic` (the
 * rules that share a topic name), and per queue when [alerting]
 * spike_queues is on.  The pipeline reports every matched post; the
 * daemon ticks once a second.  A surge opens an incident with a stable key
 * ("<instance>:<kind>:<name>:<start unix seconds>"), a start, a peak and up
 * to three sample posts (their text already masked by the pipeline).  It
 * escalates when the rate doubles (spike.h), and resolves when the rate is
 * back at its baseline.
 *
 * Grouping and paging:
 *   - one page per incident: opening pages, an escalation pages again;
 *   - a surge of the same series within `cooldown_s` of the last one's end
 *     re-opens that incident instead of a new one, and pages only if it is
 *     an escalation of the last page;
 *   - at most `max_pages_per_hour` pages in any clock hour that started
 *     with a page; past it pages are suppressed (the incidents are still
 *     reported, for the Redis queue), on_limit says so once, and once more
 *     with the count when that hour ends;
 *   - a resolution goes to on-call only if on-call was told of the incident.
 *
 * Viral posts: the pipeline reports a post whose shares reached the
 * threshold; it becomes an incident of kind "viral" that resolves when
 * `viral_window_s` has passed.  Pure: the caller owns clocks and I/O.
 */
#ifndef MENTIOND_INCIDENT_H
#define MENTIOND_INCIDENT_H

#include "spike.h"

#include <stdint.h>

struct ruleset;
struct post;

enum incident_kind { INCIDENT_RULE, INCIDENT_QUEUE, INCIDENT_TOPIC, INCIDENT_VIRAL, INCIDENT_KINDS };
extern const char *const incident_kind_names[INCIDENT_KINDS];

enum incident_action { INCIDENT_OPEN, INCIDENT_ESCALATE, INCIDENT_REOPEN, INCIDENT_RESOLVE };
extern const char *const incident_action_names[];

#define INCIDENT_SAMPLES 3
#define INCIDENT_TEXT_MAX 281           /* 280 bytes, cut on a character */
#define INCIDENT_MAX_SERIES 4096        /* rules + topics + queues tracked */
#define INCIDENT_MAX_VIRAL 256          /* viral incidents open at once */

struct incident_sample {
    char id[96];
    char url[256];
    char author[80];
    char text[INCIDENT_TEXT_MAX];
};

struct incident {
    char key[400];
    enum incident_kind kind;
    char name[192];             /* rule, queue or topic; viral: "<source>:<post id>" */
    char queue[80];             /* the rule's queue ("" for a topic) */
    uint64_t started_ms, resolved_ms, updated_ms;       /* wall clock */
    uint64_t count;             /* posts in the window now */
    uint64_t peak;
    uint64_t baseline;          /* expected posts in the window (rounded) */
    uint32_t window_s;
    uint32_t seq;               /* reports of this incident so far (1 = open) */
    uint32_t pages;             /* pages sent (not suppressed) */
    uint64_t paged_count;       /* count at the last page */
    int resolved;
    int oncall_open;            /* on-call was paged and not yet told it is over */
    int nsamples;
    struct incident_sample samples[INCIDENT_SAMPLES];   /* most recent first */
};

struct incident_params {
    struct spike_params spike;
    uint32_t cooldown_s;
    uint32_t max_pages_per_hour;        /* 0: no limit */
    uint32_t viral_window_s;
    int queues;                 /* a series per queue */
};

struct incident_cbs {
    /* page: 1 if on-call is to hear of this (a page for OPEN, ESCALATE and
     * REOPEN; the all-clear for RESOLVE), 0 if only recorded. */
    void (*on_incident)(void *ctx, const struct incident *inc, enum incident_action act, int page);
    /* The page budget: first suppressed page of an hour (suppressed = 1),
     * then at the hour's end with the total suppressed in it. */
    void (*on_limit)(void *ctx, uint32_t limit, uint64_t suppressed, int hour_over, uint64_t now_ms);
};

struct incident_stats {
    uint64_t opened[INCIDENT_KINDS];
    uint64_t escalated, reopened, resolved;
    uint64_t pages, suppressed;
    uint64_t viral_refused;     /* viral incidents over INCIDENT_MAX_VIRAL */
    uint64_t counts_dropped;    /* shared: seconds' counts not handed out (outbox full) */
    uint32_t open, series;
};

struct incidents;

struct incidents *incidents_new(const char *instance, const struct incident_params *p,
                                const struct incident_cbs *cb, void *ctx);
void incidents_free(struct incidents *in);
/* New parameters (reload).  A series whose window changed starts afresh. */
void incidents_set_params(struct incidents *in, const struct incident_params *p, uint64_t now_s);
/* The rules in force: series are kept by name across reloads; a series no
 * longer wanted resolves its incident and goes.  Returns the number of
 * series wanted beyond INCIDENT_MAX_SERIES (not tracked), 0 normally. */
int incidents_set_rules(struct incidents *in, const struct ruleset *rs, uint64_t now_s, uint64_t now_ms);
/* A post matched rules[0..n) of the ruleset last set; queue is its alert's. */
void incidents_match(struct incidents *in, const int *rules, int n, const char *queue,
                     const struct post *p, uint64_t now_s);
/* The post key ("<source type>:<post id>") was shared `shares` times;
 * text is the shared post's masked text. */
void incidents_viral(struct incidents *in, const char *key, const struct post *share, const char *text,
                     uint32_t shares, uint64_t now_s, uint64_t now_ms);
/* Once a second: judge the series, end viral incidents, roll the budget. */
void incidents_tick(struct incidents *in, uint64_t now_s, uint64_t now_ms);
/* Every incident on-call was paged for and not yet told is over. */
void incidents_each_paged(const struct incidents *in, void (*fn)(void *, const struct incident *), void *ctx);
const struct incident_stats *incidents_stats(const struct incidents *in);
/* What every rate series has learnt, to keep across restarts: fn gets the
 * series' name ("<kind>/<name>", kind as in incident_kind_names) and its
 * state; series that learnt nothing yet are left out. */
typedef void (*incident_state_fn)(void *ctx, const char *series, const struct spike_state *st);
void incidents_each_state(const struct incidents *in, incident_state_fn fn, void *ctx);
/* A state an earlier run saved for the named series: 1 taken, 0 refused
 * (spike_state_set), -1 no series of that name is tracked (yet: rules
 * read from Redis come after the start). */
int incidents_restore(struct incidents *in, const char *series, const struct spike_state *st);

/* Shared series (a fleet's members judge the fleet's total): a matched post
 * is counted into its second and remembered as a sample, but not judged;
 * incidents_take_counts hands out every completed second's count per
 * series (before now_s), and the series are fed the totals with
 * incidents_add_count (the second's count from every member) and judged
 * by incidents_tick with the clock those totals follow. */
void incidents_set_shared(struct incidents *in, int on);
typedef void (*incident_count_fn)(void *ctx, const char *series, uint64_t s, uint32_t n);
void incidents_take_counts(struct incidents *in, uint64_t now_s, incident_count_fn fn, void *ctx);
/* 0, or -1 when no series of that name is tracked. */
int incidents_add_count(struct incidents *in, const char *series, uint64_t s, uint32_t n);

#endif
