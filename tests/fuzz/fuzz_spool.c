/* libFuzzer target: the spool's reader.  The input is a segment file's body
 * (after the file magic) as a crash or a bad disk could leave it; the spool
 * must open it, count what it can trust, hand back exactly that many
 * alerts with sane fields, and delete the file once all are settled.  Then
 * a round trip: an alert made of the input is appended, the spool reopened
 * (as after a crash), and the alert read back must be equal. */
#include "alert.h"
#include "log.h"
#include "spool.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];

static struct spool *open_or_die(void)
{
    char err[512];
    struct spool *s = spool_open(dir, 1 << 30, 1 << 20, SPOOL_FSYNC_NEVER, err, sizeof err);
    if (!s) {
        fprintf(stderr, "%s\n", err);
        abort();
    }
    return s;
}

static void read_back(const uint8_t *data, size_t size)
{
    char path[128];
    FILE *f;
    struct spool *s;
    uint64_t n = 0, recovered;

    snprintf(path, sizeof path, "%s/normal-0000000000000001.spool", dir);
    if (!(f = fopen(path, "wb")))
        abort();
    fwrite("MNTSPL01", 1, 8, f);
    fwrite(data, 1, size, f);
    fclose(f);
    s = open_or_die();
    recovered = spool_stats(s)->recovered;
    for (int l = 0; l < LEVEL_COUNT; l++) {
        struct alert *a;
        while ((a = spool_read(s, l))) {
            if (!a->id || !a->id[0] || !a->json || strlen(a->json) > a->len || a->level != l)
                abort();
            spool_settle(s, a);
            alert_free(a);
            n++;
        }
    }
    /* a record may decode to inconsistent fields (skipped), never more */
    if (n > recovered || spool_records(s) != 0)
        abort();
    spool_close(s);
    if (access(path, F_OK) == 0 && recovered > 0)
        abort();                        /* settled segments are deleted */
    unlink(path);
}

static void round_trip(const uint8_t *data, size_t size)
{
    struct alert a = {0}, *b;
    struct spool *s = open_or_die();

    a.id = xstrdup("fuzz:1");
    a.source = xstrdup("fuzz");
    a.author_id = size & 1 ? xstrndup((const char *)data, size / 2) : NULL;
    a.queue = xstrdup("q");
    a.json = xmalloc(size + 1);
    memcpy(a.json, data, size);
    a.json[size] = '\0';
    a.len = size;
    a.level = size % LEVEL_COUNT;
    a.score = (int)size;
    if (spool_append(s, &a, 0) != SPOOL_OK)
        abort();
    spool_close(s);
    s = open_or_die();
    b = spool_read(s, a.level);
    if (!b || b->len != a.len || memcmp(b->json, a.json, a.len) || strcmp(b->id, a.id) ||
        (a.author_id ? !b->author_id || strcmp(a.author_id, b->author_id) : b->author_id != NULL) ||
        b->score != a.score)
        abort();
    spool_settle(s, b);
    alert_free(b);
    spool_close(s);
    free(a.id);
    free(a.source);
    free(a.author_id);
    free(a.queue);
    free(a.json);
}

static void cleanup(void)
{
    char path[128];
    snprintf(path, sizeof path, "%s/lock", dir);
    unlink(path);
    rmdir(dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/mentiond-fuzz-spool-XXXXXX");
        if (!mkdtemp(dir))
            abort();
        log_set_level(LOG_CRIT);
        atexit(cleanup);
    }
    read_back(data, size);
    round_trip(data, size);
    return 0;
}
