/* builder: one worker thread per job, completion through a pipe; see builder.h. */
#include "builder.h"
#include "log.h"
#include "util.h"

#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

struct builder {
    struct event_base *base;
    int pipefd[2];
    struct event *ev;
    pthread_t thread;
    int busy;
    void (*work)(void *);
    void (*done)(void *);
    void *arg;
};

static void *builder_main(void *p)
{
    struct builder *b = p;
    char c = 1;

    b->work(b->arg);
    /* Wake the loop; a full pipe cannot happen with one job at a time. */
    while (write(b->pipefd[1], &c, 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void builder_on_done(evutil_socket_t fd, short what, void *p)
{
    struct builder *b = p;
    char c;

    (void)what;
    while (read(fd, &c, 1) < 0 && errno == EINTR)
        ;
    pthread_join(b->thread, NULL);
    b->busy = 0;
    b->done(b->arg);
}

struct builder *builder_new(struct event_base *base)
{
    struct builder *b = xcalloc(1, sizeof *b);

    b->base = base;
    if (pipe2(b->pipefd, O_CLOEXEC) != 0) {
        free(b);
        return NULL;
    }
    b->ev = event_new(base, b->pipefd[0], EV_READ | EV_PERSIST, builder_on_done, b);
    event_add(b->ev, NULL);
    return b;
}

int builder_run(struct builder *b, void (*work)(void *), void (*done)(void *), void *arg)
{
    if (b->busy)
        return -1;
    b->work = work;
    b->done = done;
    b->arg = arg;
    if (pthread_create(&b->thread, NULL, builder_main, b) != 0) {
        log_msg(LOG_ERR, "cannot start a build thread");
        return -1;
    }
    b->busy = 1;
    return 0;
}

int builder_busy(const struct builder *b)
{
    return b->busy;
}

void builder_free(struct builder *b)
{
    if (!b)
        return;
    if (b->busy) {
        pthread_join(b->thread, NULL);
        b->done(b->arg);            /* lets the owner free the job's results */
    }
    event_free(b->ev);
    close(b->pipefd[0]);
    close(b->pipefd[1]);
    free(b);
}
