/* heartbeat: <prefix>:instance:<name> in Redis, a hash that says who runs,
 * since when, what it did, and the state of every source; rewritten every
 * heartbeat_interval (and at once when Redis comes back: it may have
 * expired meanwhile), it expires after three intervals, so a dead
 * instance's hash goes away by itself.  state is running, stopping or
 * stopped.  Owner: the daemon; every function accepts NULL (no heartbeat:
 * the timer could not be made, which the daemon logs).
 */
#ifndef MENTIOND_HEARTBEAT_H
#define MENTIOND_HEARTBEAT_H

struct event_base;
struct running;
struct store;

/* Fills the view of the running daemon for one report. */
typedef void (*running_fn)(void *ctx, struct running *r);

struct heartbeat;

/* NULL if the timer cannot be made. */
struct heartbeat *heartbeat_new(struct event_base *base, struct store *store, running_fn view, void *ctx);
/* Now, whatever the interval; state: "running", "stopping" or "stopped". */
void heartbeat_send(struct heartbeat *hb, const char *state);
/* After "stopped", the last word: no more. */
void heartbeat_stop(struct heartbeat *hb);
void heartbeat_free(struct heartbeat *hb);

#endif
