/* notify: delivery of on-call documents (oncall.h) over HTTP POST.
 *
 * One FIFO queue per receiver (Alertmanager, PagerDuty, webhook), one
 * request in flight per receiver so a resolution never overtakes the page
 * it resolves.  Everything goes through the daemon's libcurl multi
 * (http_client.c) on the loop thread.  A request that fails in transport,
 * gets 5xx or 429 is retried with exponential backoff (1 s doubling to
 * 60 s, jittered) up to `retries` times; any other non-2xx answer is final
 * (logged with the start of its body).  Each queue holds at most `cap`
 * documents; past it the oldest waiting one is dropped and counted.  URLs
 * and bodies are never logged (a webhook URL and a routing key are
 * secrets): only the receiver's name and a short description.
 * Owner: the daemon; notifier_free() cancels what is in flight.
 */
#ifndef MENTIOND_NOTIFY_H
#define MENTIOND_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct http_client;

enum receiver { RECEIVER_ALERTMANAGER, RECEIVER_PAGERDUTY, RECEIVER_WEBHOOK, RECEIVER_COUNT };
extern const char *const receiver_names[RECEIVER_COUNT];

struct receiver_stats {
    uint64_t sent;              /* answered 2xx */
    uint64_t failed;            /* given up: final error or retries spent */
    uint64_t retries;
    uint64_t dropped;           /* queue full */
    uint64_t queued;            /* waiting now, in flight included */
};

struct notifier;

/* url per receiver, NULL = receiver off (copied). */
struct notifier *notifier_new(struct event_base *base, struct http_client *http,
                              const char *const url[RECEIVER_COUNT], long timeout_s, int retries, size_t cap);
void notifier_free(struct notifier *n);
int notifier_enabled(const struct notifier *n, enum receiver r);
/* Queue body (copied) for receiver r; what is for the log. */
void notifier_send(struct notifier *n, enum receiver r, const char *body, size_t len, const char *what);
const struct receiver_stats *notifier_stats(const struct notifier *n, enum receiver r);
/* Documents waiting or in flight, all receivers (for shutdown). */
size_t notifier_pending(const struct notifier *n);

#endif
