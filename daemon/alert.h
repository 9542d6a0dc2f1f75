/* alert: the JSON object of DESIGN §3.4, built with json.c (yajl_gen).
 *
 * struct alert is what the pipeline hands to a sink; the sink owns it from
 * then on and frees it with alert_free().  The JSON is complete and final
 * when built: a sink only stores it.
 */
#ifndef MENTIOND_ALERT_H
#define MENTIOND_ALERT_H

#include "json.h"
#include "matcher.h"
#include "post.h"
#include "rules.h"
#include "scorer.h"

#include <stddef.h>
#include <stdint.h>

struct alert {
    char *id;                   /* "<source>:<post id>" */
    char *queue;
    int level;
    int score;
    char *json;
    size_t len;
    uint64_t received_us;       /* monotonic, for end-to-end latency */
    struct alert *next;         /* for the sink's queues */
};

/* Build the alert for a matched post.  instance is [daemon] name.
 * Returns NULL if the JSON could not be generated (invalid UTF-8). */
struct alert *alert_build(struct json_writer *w, const char *instance, const struct ruleset *rs,
                          const struct match_ctx *mc, const struct score *sc, const struct post *p,
                          uint64_t now_ms);
void alert_free(struct alert *a);

#endif
