/* spend: what an X source reads against its daily budget (X bills per
 * post read; a post read twice in one UTC day is billed once).
 *
 * Posts are counted once per UTC day by id (a set of up to SPEND_IDS ids;
 * past it every post counts, erring on the side of the bill), and per X
 * rule that matched them (matching_rules tags).  At 80% of the budget a
 * warning, at 100% the day is spent: the source's best_effort rules come
 * off X until the next UTC day (xrules.c).  Pure: the caller gives the
 * time.  Owner: the source.
 */
#ifndef MENTIOND_SPEND_H
#define MENTIOND_SPEND_H

#include <stddef.h>
#include <stdint.h>

#define SPEND_IDS (1u << 20)            /* ids remembered a day (8 MiB) */
#define SPEND_RULES 1000                /* rules counted by name; the rest as "_other" */
#define SPEND_WARN_PERCENT 80

enum spend_event { SPEND_NONE, SPEND_WARN, SPEND_SPENT };

struct spend_rule {
    char name[64];
    uint64_t read;
};

struct spend {
    uint64_t budget;                    /* posts a UTC day; 0: none (counted only) */
    uint64_t day;                       /* the UTC day counted (days since 1970) */
    uint64_t read;                      /* posts read today, each once */
    uint64_t read_total;                /* since the start, each once a day */
    uint64_t *ids;                      /* open addressing; 0 = empty */
    size_t nids;
    struct spend_rule *rules;
    int nrules;
    int warned, spent;                  /* today */
};

void spend_init(struct spend *s, uint64_t budget_posts);
void spend_free(struct spend *s);
/* A post read at now_ms (wall): id, the X rules it matched.  A post read
 * before today is not counted again.  Returns the threshold crossed now. */
enum spend_event spend_read(struct spend *s, uint64_t now_ms, const char *id, const char *const *tags, int ntags);
/* At a new UTC day the counts start again; 1 if today is new and the
 * previous day had been spent (its held rules go back). */
int spend_tick(struct spend *s, uint64_t now_ms);
/* "20000", "20000 posts", "50 USD" with price (currency a post) into
 * posts a day; 0, or -1 with why. */
int spend_parse_budget(const char *v, double price, uint64_t *posts, char *why, size_t whylen);

#endif
