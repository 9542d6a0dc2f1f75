/* alert: the wire form of an alert; see alert.h. */
#include "alert.h"
#include "util.h"

#include <stdlib.h>

struct alert *alert_new(const char *id, const char *source, const char *author_id, const char *queue, int level,
                        int score, const char *json, size_t len)
{
    struct alert *a = xcalloc_try(1, sizeof *a);

    if (!a)
        return NULL;
    a->level = level;
    a->score = score;
    a->len = len;
    if (!(a->id = xstrdup_try(id)) || !(a->source = xstrdup_try(source)) ||
        (author_id && !(a->author_id = xstrdup_try(author_id))) || !(a->queue = xstrdup_try(queue)) ||
        !(a->json = xstrndup_try(json, len))) {
        alert_free(a);
        return NULL;
    }
    return a;
}

int alert_set_marks(struct alert *a, const char *mark, const char *fold)
{
    if ((mark && !(a->mark = xstrdup_try(mark))) || (fold && !(a->fold = xstrdup_try(fold)))) {
        free(a->mark);
        a->mark = NULL;
        return -1;
    }
    return 0;
}

void alert_free(struct alert *a)
{
    if (!a)
        return;
    free(a->mark);
    free(a->fold);
    free(a->id);
    free(a->source);
    free(a->author_id);
    free(a->queue);
    free(a->json);
    free(a);
}
