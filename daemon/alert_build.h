/* alert_build: the JSON object of README "Alerts" made from a matched post
 * (or a deletion, a canned reply, an incident report), with json.c
 * (yajl_gen).  The result is an alert (alert.h) whose JSON is complete and
 * final: a sink only stores it.
 */
#ifndef MENTIOND_ALERT_BUILD_H
#define MENTIOND_ALERT_BUILD_H

#include "alert.h"
#include "impersonation.h"
#include "incident.h"
#include "json.h"
#include "matcher.h"
#include "post.h"
#include "rules.h"
#include "scorer.h"

#include <stddef.h>
#include <stdint.h>

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
/* What the pipeline found about a look-alike of an own account. */
struct imp_report {
    const char *imitates;               /* the own handle, as configured */
    const char *const *reasons;         /* "lookalike:NordvikHelp~NordvikHe1p", "phone_number", ... */
    int nreasons;
    const char *victim_handle;          /* who wrote to the own handle; NULL: none seen */
    const char *victim_post;            /* their post */
    long long age_days;                 /* of the account; -1 unknown */
    const struct imp_evidence *ev;      /* phone numbers and links, kept unmasked: the evidence */
    uint32_t account_alerts;            /* impersonation alerts for this account within the window, this one too */
};
/* An account that looks like an own handle replied to someone who wrote to
 * it, or asks for contact details: an "impersonation" alert, at level, on
 * queue, id "<source>:impersonation:<post id>". */
struct alert *alert_build_impersonation(struct json_writer *w, const char *instance, const char *queue, int level,
                                        const struct post *p, const struct imp_report *r, uint64_t now_ms);
/* The post behind alert "<source>:<post id>" was deleted by its author:
 * a record of type "deleted" that follows the alert on its queue. */
struct alert *alert_build_deleted(struct json_writer *w, const char *instance, const struct post *p,
                                  uint64_t now_ms);
/* A surge or viral incident's report (type "spike" or "viral", action
 * open | escalate | reopen | resolve) for the incident queue, at critical. */
struct alert *alert_build_incident(struct json_writer *w, const char *instance, const char *queue,
                                   const struct incident *inc, enum incident_action act, uint64_t now_ms);

#endif
