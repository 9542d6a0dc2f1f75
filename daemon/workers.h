/* workers: a fixed set of threads that run jobs off the loop thread and hand
 * them back in the order they were submitted.
 *
 * The loop thread submits; any idle worker takes the oldest job not yet
 * taken and runs work(job, worker_index); the loop thread collects finished
 * jobs strictly in submission order (collect(ctx, job)), so what a stream
 * brought in one order leaves in that order whichever worker finished
 * first.  The ring holds `depth` jobs: a submit into a full ring waits for
 * the oldest job and collects it first, which is the backpressure (the
 * source's socket is not read meanwhile, and TCP slows the sender).
 *
 * Ownership: the caller owns the jobs; the ring only holds pointers to them
 * between submit and collect.  workers_fd() is readable when a job finished
 * (an eventfd the loop watches); collect never runs on a worker.
 */
#ifndef MENTIOND_WORKERS_H
#define MENTIOND_WORKERS_H

#define WORKERS_MAX 8

typedef void (*work_fn)(void *job, int worker);
typedef void (*collect_fn)(void *ctx, void *job);

struct workers;

/* NULL if the threads or the eventfd could not be made. */
struct workers *workers_new(int n, int depth, work_fn work, collect_fn collect, void *ctx);
/* Finishes and collects every job, then joins the threads. */
void workers_free(struct workers *w);
int workers_count(const struct workers *w);
void workers_submit(struct workers *w, void *job);
/* Collects the finished jobs at the head of the ring; returns how many. */
int workers_collect(struct workers *w);
/* Waits for every submitted job and collects it. */
void workers_drain(struct workers *w);
/* Submitted and not yet collected. */
int workers_pending(const struct workers *w);
int workers_fd(const struct workers *w);

#endif
