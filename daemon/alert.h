/* alert: an alert as delivery sees it, the wire form: its id, queue, level
 * and finished JSON (README "Alerts").  alert_build.h makes them from
 * matched posts; the sink (redis_sink, spool) only stores them, and needs
 * nothing of the rule engine.
 *
 * Owner: whoever holds the pointer; the pipeline hands an alert to a sink,
 * which owns it from then on and frees it with alert_free().
 */
#ifndef MENTIOND_ALERT_H
#define MENTIOND_ALERT_H

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
    int level;                  /* enum level (level.h) */
    int score;
    char *json;
    size_t len;
    uint64_t received_us;       /* monotonic, for end-to-end latency */
    uint64_t seq;               /* order of arrival at the sink */
    uint64_t spool_seg;         /* spool segment holding it; 0: not on disk */
    /* In a fleet ([daemon] fleet), the post's "<source type>:<post id>" and,
     * for a retweet, its original's: the enqueue checks them against what
     * the other members alerted (redis_sink.c).  NULL otherwise, and for
     * alerts read back from the spool (which keeps neither). */
    char *mark, *fold;
    struct alert *next;         /* for the sink's queues */
    void *sink;                 /* the sink sending it (its reply's privdata is the alert) */
};

/* A new alert holding copies of its strings and of json[0..len); NULL
 * without memory.  author_id may be NULL. */
struct alert *alert_new(const char *id, const char *source, const char *author_id, const char *queue, int level,
                        int score, const char *json, size_t len);
/* Set a's fleet marks (copies; either may be NULL).  0, or -1 without
 * memory (a then has none). */
int alert_set_marks(struct alert *a, const char *mark, const char *fold);
void alert_free(struct alert *a);

#endif
