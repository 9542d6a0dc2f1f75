/* builder: run one heavy job (building a configuration and ruleset) on a
 * worker thread so the loop keeps streaming, then finish it on the loop.
 *
 * work() runs on the thread and must touch nothing the loop owns; done()
 * runs on the loop thread after the worker has been joined.  One job at a
 * time: builder_run() refuses while busy.  builder_free() waits for a job
 * still running.
 */
#ifndef MENTIOND_BUILDER_H
#define MENTIOND_BUILDER_H

struct event_base;
struct builder;

struct builder *builder_new(struct event_base *base);
void builder_free(struct builder *b);
/* Returns 0, or -1 if a job is running or the thread cannot start. */
int builder_run(struct builder *b, void (*work)(void *), void (*done)(void *), void *arg);
int builder_busy(const struct builder *b);

#endif
