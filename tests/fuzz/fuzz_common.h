/* Shared by the stream fuzz targets: a small fixed ruleset and a sink that
 * parses every alert back and checks it is one valid JSON object whose text
 * is the (masked) post text. */
#ifndef MENTIOND_FUZZ_COMMON_H
#define MENTIOND_FUZZ_COMMON_H

#include "config.h"
#include "json.h"
#include "log.h"
#include "pipeline.h"
#include "rules.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static inline struct ruleset *fuzz_rules(void)
{
    static struct ruleset *rs;
    struct errlist errs = {0};
    char path[] = "/tmp/mentiond-fuzz-rules-XXXXXX";
    int fd;

    if (rs)
        return rs;
    fd = mkstemp(path);
    if (fd < 0)
        abort();
    dprintf(fd, "[rule \"a\"]\nquery = the OR a OR nordvik OR #fraud OR @help OR bank* OR \"charged twice\"\n"
                "[rule \"b\"]\nquery = (card OR kort) -lang:sv contains:\"44\"\npriority = high\n"
                "[rule \"c\"]\nquery = raw:\"RT\" is:retweet OR \"a b\"~3 OR x NEAR/2 y\npriority = critical\n");
    close(fd);
    rs = rules_load(path, 0, NULL, &errs);
    unlink(path);
    if (!rs)
        abort();
    return rs;
}

static inline int check_field(void *ctx, const struct json_event *ev)
{
    (void)ctx;
    (void)ev;
    return 0;
}

/* Every alert must parse back as exactly one JSON document. */
static inline void fuzz_sink(void *ctx, struct alert *a)
{
    static struct json_reader *r;
    char err[256];
    (void)ctx;
    if (!r)
        r = json_reader_new(64, check_field, NULL);
    if (json_reader_parse(r, a->json, a->len, err, sizeof err) != 0) {
        fprintf(stderr, "alert JSON does not parse back: %s\n%.*s\n", err, (int)a->len, a->json);
        abort();
    }
    alert_free(a);
}

/* Feed data through framer, decoder and pipeline, split at a point the
 * input chooses (its first byte), with a small record cap. */
static inline void fuzz_stream(const char *format, const struct source_conf *sc, const uint8_t *data, size_t size)
{
    static struct config *cfg;
    static struct pipeline pl;          /* one, as in the daemon: history carries over */
    struct feed f;
    size_t cut;

    if (!cfg) {
        cfg = config_defaults_new();
        log_set_level(LOG_ERR);         /* rejected records are expected here */
        pipeline_init(&pl, cfg, fuzz_rules(), fuzz_sink, NULL);
    }
    if (size == 0)
        return;
    cut = data[0] % size;
    if (feed_init(&f, "fuzz", format, format, sc, &pl) != 0)
        abort();
    feed_bytes(&f, (const char *)data + 1, cut);
    feed_bytes(&f, (const char *)data + 1 + cut, size - 1 - cut);
    feed_finish(&f, 1);
    feed_free(&f);
}

#endif
