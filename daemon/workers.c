/* workers: threads with an ordered ring of jobs; see workers.h. */
#include "workers.h"
#include "util.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

struct slot {
    void *job;
    int done;
};

struct worker_arg {
    struct workers *w;
    int index;
};

/* head <= next <= tail: [head, next) taken (some done), [next, tail)
 * waiting for a worker.  All three and the done flags are under mu. */
struct workers {
    pthread_mutex_t mu;
    pthread_cond_t work_cv;     /* a job was submitted, or stop */
    pthread_cond_t done_cv;     /* the head job finished */
    pthread_t th[WORKERS_MAX];
    struct worker_arg arg[WORKERS_MAX];
    int n, started, depth, stop;
    struct slot *ring;
    uint64_t head, next, tail;
    int efd;
    work_fn work;
    collect_fn collect;
    void *ctx;
};

static void *worker_main(void *arg)
{
    struct worker_arg *a = arg;
    struct workers *w = a->w;

    pthread_mutex_lock(&w->mu);
    for (;;) {
        uint64_t i;
        void *job;
        while (!w->stop && w->next == w->tail)
            pthread_cond_wait(&w->work_cv, &w->mu);
        if (w->next == w->tail)
            break;                      /* stopping, and nothing left */
        i = w->next++;
        job = w->ring[i % (uint64_t)w->depth].job;
        pthread_mutex_unlock(&w->mu);
        w->work(job, a->index);
        pthread_mutex_lock(&w->mu);
        w->ring[i % (uint64_t)w->depth].done = 1;
        /* Only the head unblocks collection; later jobs are collected with it. */
        if (i == w->head) {
            uint64_t one = 1;
            pthread_cond_broadcast(&w->done_cv);
            if (write(w->efd, &one, sizeof one) < 0) {
                /* the counter is far from full; nothing to do */
            }
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

struct workers *workers_new(int n, int depth, work_fn work, collect_fn collect, void *ctx)
{
    struct workers *w;
    sigset_t all, old;

    if (n < 1 || n > WORKERS_MAX || depth < 1)
        return NULL;
    w = xcalloc(1, sizeof *w);
    w->n = n;
    w->depth = depth;
    w->work = work;
    w->collect = collect;
    w->ctx = ctx;
    w->ring = xcalloc((size_t)depth, sizeof *w->ring);
    pthread_mutex_init(&w->mu, NULL);
    pthread_cond_init(&w->work_cv, NULL);
    pthread_cond_init(&w->done_cv, NULL);
    if ((w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
        goto fail;
    /* Signals stay with the loop thread (they are flags handled there):
     * the threads start with every signal blocked. */
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    for (; w->started < n; w->started++) {
        w->arg[w->started].w = w;
        w->arg[w->started].index = w->started;
        if (pthread_create(&w->th[w->started], NULL, worker_main, &w->arg[w->started]) != 0)
            break;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (w->started < n)
        goto fail;
    return w;
fail:
    workers_free(w);
    return NULL;
}

int workers_count(const struct workers *w)
{
    return w->n;
}

int workers_fd(const struct workers *w)
{
    return w->efd;
}

int workers_pending(const struct workers *w)
{
    return (int)(w->tail - w->head);    /* loop thread only: it alone moves head and tail */
}

int workers_collect(struct workers *w)
{
    int n = 0;

    pthread_mutex_lock(&w->mu);
    while (w->head < w->tail && w->ring[w->head % (uint64_t)w->depth].done) {
        struct slot *s = &w->ring[w->head % (uint64_t)w->depth];
        void *job = s->job;
        s->done = 0;
        s->job = NULL;
        w->head++;
        pthread_mutex_unlock(&w->mu);
        w->collect(w->ctx, job);
        n++;
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
    return n;
}

/* Wait until the head job is done (mu held); 0 if the ring is empty. */
static int wait_head(struct workers *w)
{
    if (w->head == w->tail)
        return 0;
    while (!w->ring[w->head % (uint64_t)w->depth].done)
        pthread_cond_wait(&w->done_cv, &w->mu);
    return 1;
}

void workers_submit(struct workers *w, void *job)
{
    pthread_mutex_lock(&w->mu);
    while (w->tail - w->head >= (uint64_t)w->depth) {
        wait_head(w);
        pthread_mutex_unlock(&w->mu);
        workers_collect(w);
        pthread_mutex_lock(&w->mu);
    }
    w->ring[w->tail % (uint64_t)w->depth].job = job;
    w->ring[w->tail % (uint64_t)w->depth].done = 0;
    w->tail++;
    pthread_cond_signal(&w->work_cv);
    pthread_mutex_unlock(&w->mu);
}

void workers_drain(struct workers *w)
{
    pthread_mutex_lock(&w->mu);
    while (wait_head(w)) {
        pthread_mutex_unlock(&w->mu);
        workers_collect(w);
        pthread_mutex_lock(&w->mu);
    }
    pthread_mutex_unlock(&w->mu);
}

void workers_free(struct workers *w)
{
    if (!w)
        return;
    if (w->started == w->n)
        workers_drain(w);
    pthread_mutex_lock(&w->mu);
    w->stop = 1;
    pthread_cond_broadcast(&w->work_cv);
    pthread_mutex_unlock(&w->mu);
    for (int i = 0; i < w->started; i++)
        pthread_join(w->th[i], NULL);
    if (w->efd >= 0)
        close(w->efd);
    pthread_cond_destroy(&w->work_cv);
    pthread_cond_destroy(&w->done_cv);
    pthread_mutex_destroy(&w->mu);
    free(w->ring);
    free(w);
}
