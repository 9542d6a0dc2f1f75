/* status: the summaries an on-call engineer reads in the log: the periodic
 * status line (also systemd's STATUS=) and the totals the shutdown line
 * reports.  Reads the running parts through running.h. */
#ifndef MENTIOND_STATUS_H
#define MENTIOND_STATUS_H

#include <stddef.h>
#include <stdint.h>

struct running;

/* Summed over levels and sources. */
struct status_totals {
    uint64_t enqueued, dropped, records, posts, rejected;
    int sources_up;
};

void status_totals(const struct running *r, struct status_totals *t);
/* "2/3 sources up, 40 rules, redis up" */
void status_text(const struct running *r, char *out, size_t len);
/* The periodic line, at info; the same text to systemd. */
void status_log(const struct running *r);

#endif
