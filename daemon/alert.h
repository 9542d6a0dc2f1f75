/* alert: the JSON object of README "Alerts", built with json.c (yajl_gen).
 *
 * struct alert is what the pipeline hands to a sink; the sink owns it from
 * then on and frees it with alert_free().  The JSON is complete and final
 * when built: a sink only stores it.
 */
#ifndef MENTIOND_ALERT_H
#define MENTIOND_ALERT_H

#include "incident.h"
#include "json.h"
#include "matcher.h"
#include "post.h"
#include "rules.h"
#include "scorer.h"

#include <stddef.h>
#include <stdint.h>

enum alert_kind {
    ALERT_MENTION,              /* an alert (mention, canned_reply) */
    ALERT_DELETED,              /* the post of alert id was deleted: withdraw it,
                                 * or follow it with this record */
};

struct alert {
    enum alert_kind kind;
    int known;                  /* ALERT_DELETED: this process alerted the post */
    char *id;                   /* "<source>:<post id>" */
    char *source;               /* source name, for the author history key */
    char *author_id;            /* NULL if unknown */
    char *queue;
    int level;
    int score;
    char *json;
    size_t len;
    uint64_t received_us;       /* monotonic, for end-to-end latency */
    uint64_t seq;               /* order of arrival at the sink */
    uint64_t spool_seg;         /* spool segment holding it; 0: not on disk */
    struct alert *next;         /* for the sink's queues */
};

/* What the pipeline adds around the post (context and privacy). */
struct alert_context {
    int pii;                    /* bit mask of kinds masked in the text */
    uint32_t author_recent;     /* the author's earlier alerts in the repeat window */
    const char *const *author_ids;      /* their ids, most recent first */
    int nids;
    uint32_t shares;            /* shares seen of this post (or the post it shares) */
    /* per hit of mc: 1 when the rule matched only with the referenced
     * post's text (matches[].in = "referenced"); NULL: all in the text */
    const unsigned char *in_referenced;
};

/* Build the alert for a matched post (its text already masked).  instance
 * is [daemon] name.  Returns NULL if the JSON could not be generated. */
struct alert *alert_build(struct json_writer *w, const char *instance, const struct ruleset *rs,
                          const struct match_ctx *mc, const struct score *sc, const struct post *p,
                          const struct alert_context *cx, uint64_t now_ms);

/* One of the brand's own accounts sent the same reply to several people:
 * a "canned_reply" alert (type canned_reply), at level, on queue. */
struct alert *alert_build_canned(struct json_writer *w, const char *instance, const char *queue, int level,
                                 const struct post *p, const char *const *recipients, int nrecipients,
                                 uint64_t first_ms, uint64_t now_ms);
/* The post behind alert "<source>:<post id>" was deleted by its author:
 * a record of type "deleted" that follows the alert on its queue. */
struct alert *alert_build_deleted(struct json_writer *w, const char *instance, const struct post *p,
                                  uint64_t now_ms);
/* A surge or viral incident's report (type "spike" or "viral", action
 * open | escalate | reopen | resolve) for the incident queue, at critical. */
struct alert *alert_build_incident(struct json_writer *w, const char *instance, const char *queue,
                                   const struct incident *inc, enum incident_action act, uint64_t now_ms);
void alert_free(struct alert *a);

#endif
