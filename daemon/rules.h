/* rules: rule files (rules.d/NAME.rules, INI) -> a compiled, immutable ruleset.
 *
 *   [rule "cards-fraud"]
 *   query    = (bofa OR @BofA_help) (fraud OR "charged twice") -from:BofA_help
 *   queue    = cards          ; default "default"
 *   priority = high           ; critical | high | normal | low (default normal)
 *   tag      = fraud
 *   accents  = fold           ; keep (default: [daemon] accents) | fold
 *   spike    = on             ; surges of this rule's matches page on-call
 *   topic    = outage         ; rules sharing a topic are one surge series
 *   budget   = best_effort    ; keep (default) | best_effort: held back from X
 *                             ; once an x_v2 source's daily_budget is spent
 *   meta.faq = https://...    ; every meta.* key is copied into the alert
 *
 * list:NAME in a query reads LEXICONS/NAME.txt: one term per line (keyword,
 * "phrase", #tag, @handle, prefix*), ';' starts a comment line.
 *
 * rules_load() reads every file of a glob in sorted order and either returns
 * a complete ruleset or NULL with every error collected ("file:line:col:
 * message" plus the query), so a reload can build off to the side and swap.
 * Owner: the caller; a ruleset is immutable once built and may be shared.
 */
#ifndef MENTIOND_RULES_H
#define MENTIOND_RULES_H

#include "level.h"
#include "query.h"
#include "util.h"

#define RULES_MAX_COUNT 1000000
/* The rule count limit in force: RULES_MAX_COUNT (tests lower it, since a
 * million rules are too slow to write for every run). */
extern int rules_max_count;
#define RULES_MAX_META 32
#define RULES_MAX_LIST_BYTES (8u * 1024u * 1024u)

struct rule {
    char *name;
    char *queue;
    char *tag;
    int level;
    int fold;
    int spike;                  /* a surge series of its own */
    char *topic;                /* NULL, or the topic series it adds to */
    int best_effort;            /* budget = best_effort: off X once the day's budget is spent */
    struct query *q;
    int nmeta;
    char **meta_key;            /* NULL until a meta.* key; then one block */
    char **meta_val;            /* of RULES_MAX_META keys and as many values */
    char *file;                 /* for messages */
    int line;
    int *term_ids;              /* query term -> matcher's global term id */
};

struct matcher;

struct ruleset {
    struct rule *rules;
    int n;
    int nfiles;
    struct matcher *m;
    /* The scorer's word lists (LEXICONS/urgency.txt, negative.txt), one rule
     * per list that exists, built and swapped with the rules; NULL if none. */
    struct ruleset *lex;
    char *lexicons;             /* the directory they were looked for in */
};

#define LEXICON_URGENCY "urgency"
#define LEXICON_NEGATIVE "negative"

/* Load all files of glob_pattern.  accents_fold is the [daemon] default;
 * lexicons is the term-list directory (NULL: "lexicons" beside the rule
 * files' directory, e.g. conf/rules.d/ -> conf/lexicons/).  A pattern that
 * matches no file is an error (a typo must not leave the daemon rule-less). */
struct ruleset *rules_load(const char *glob_pattern, int accents_fold, const char *lexicons,
                           struct errlist *errs);

/* A rule given as a JSON object instead of a file section (the Redis hash
 * [redis] rules_key: field = rule name, value = the object):
 *   {"query": "...", "queue": "cards", "priority": "high", "tag": "...",
 *    "accents": "fold", "meta": {"faq": "https://..."}}
 * Validated exactly like a file; errors name "<origin>/<name>:1:col". */
struct rule_text {
    char *name;
    char *json;
};

/* rules_load() plus extra rules, all or nothing.  glob_pattern may be NULL
 * (extra rules only). */
struct ruleset *rules_load_with(const char *glob_pattern, int accents_fold, const char *lexicons,
                                const struct rule_text *extra, int nextra, const char *origin,
                                struct errlist *errs);
void rules_free(struct ruleset *rs);
/* How many rules, and the name of rule i (for reports). */
int rules_count(const struct ruleset *rs);
const char *rules_name(const struct ruleset *rs, int i);
/* "lexicons" beside the directory of a rule glob's files. */
void rules_default_lexicons(const char *pattern, char *out, size_t outlen);
/* "with the word lists urgency, negative from DIR", or "without word
 * lists (...)": what the scorer uses, for the log and --replay. */
void rules_lexicons_describe(const struct ruleset *rs, char *out, size_t outlen);
const struct rule *rules_find(const struct ruleset *rs, const char *name);

#endif
