/* replay: offline matching of a recorded stream; see replay.h. */
#include "replay.h"
#include "config.h"
#include "log.h"
#include "pipeline.h"
#include "rules.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REPLAY_CHUNK (256u * 1024u)

struct replay_out {
    FILE *out;
    uint64_t alerts;
    uint64_t by_level[LEVEL_COUNT];
};

static void print_alert(void *ctx, struct alert *a)
{
    struct replay_out *o = ctx;

    /* A deletion is printed only when it follows an alert printed here. */
    if (a->kind == ALERT_DELETED) {
        if (a->known) {
            fwrite(a->json, 1, a->len, o->out);
            fputc('\n', o->out);
        }
        alert_free(a);
        return;
    }
    fwrite(a->json, 1, a->len, o->out);
    fputc('\n', o->out);
    o->alerts++;
    o->by_level[a->level]++;
    alert_free(a);
}

static void print_errors(struct errlist *e)
{
    for (int i = 0; i < e->n; i++)
        fprintf(stderr, "mentiond: %s\n", e->msgs[i]);
    errlist_free(e);
}

int replay_run(const char *input, const char *format, const char *framing, const char *rules_glob,
               const char *config_path)
{
    struct errlist errs = {0};
    struct config *cfg = NULL;
    struct ruleset *rs = NULL;
    struct replay_out out = {.out = stdout};
    struct pipeline pl;
    struct feed feed;
    FILE *in;
    char *chunk;
    size_t n;
    int rc = 0;

    int type = source_type_parse(format);
    int mode = framing ? framing_mode_parse(framing)
                       : source_framing_default(type < 0 ? SRC_X_V2 : (enum source_type)type, 1, NULL);

    if (!decoder_find(format)) {
        fprintf(stderr, "mentiond: --format %s: unknown (x_v2, x_v1, mastodon, jetstream, ndjson, sse, rss)\n", format);
        return 2;
    }
    if (mode < 0) {
        fprintf(stderr, "mentiond: --framing %s: unknown (lines, length, sse, document)\n", framing);
        return 2;
    }
    if (config_path && !(cfg = config_load(config_path, &errs))) {
        print_errors(&errs);
        return 1;
    }
    if (!rules_glob)
        rules_glob = cfg->rules;
    if (!cfg) {
        cfg = config_defaults_new();
        free(cfg->name);
        cfg->name = xstrdup("replay");
    }
    rs = rules_load(rules_glob, (int)cfg->accents_fold, config_path ? cfg->lexicons : NULL, &errs);
    if (!rs) {
        print_errors(&errs);
        config_free(cfg);
        return 1;
    }
    in = strcmp(input, "-") == 0 ? stdin : fopen(input, "rb");
    if (!in) {
        fprintf(stderr, "mentiond: %s: %s\n", input, strerror(errno));
        rules_free(rs);
        config_free(cfg);
        return 3;
    }
    pipeline_init(&pl, cfg, rs, print_alert, &out);
    feed_init(&feed, "replay", format, format, NULL, &pl);
    framer_set_mode(&feed.fr, (enum framing_mode)mode);
    chunk = xmalloc(REPLAY_CHUNK);
    while ((n = fread(chunk, 1, REPLAY_CHUNK, in)) > 0)
        feed_bytes(&feed, chunk, n);
    if (ferror(in)) {
        fprintf(stderr, "mentiond: %s: read error\n", input);
        rc = 3;
    }
    feed_finish(&feed, 1);
    fflush(stdout);
    fprintf(stderr, "replay: %llu records, %llu posts, %llu alerts (critical %llu, high %llu, "
            "normal %llu, low %llu); %llu malformed, %llu control, %llu skipped, %llu oversized\n",
            (unsigned long long)feed.fr.stats.records, (unsigned long long)feed.st.posts,
            (unsigned long long)out.alerts, (unsigned long long)out.by_level[LEVEL_CRITICAL],
            (unsigned long long)out.by_level[LEVEL_HIGH], (unsigned long long)out.by_level[LEVEL_NORMAL],
            (unsigned long long)out.by_level[LEVEL_LOW], (unsigned long long)feed.st.malformed,
            (unsigned long long)feed.st.control, (unsigned long long)feed.st.skipped,
            (unsigned long long)feed.fr.stats.oversized);
    free(chunk);
    feed_free(&feed);
    pipeline_free(&pl);
    if (in != stdin)
        fclose(in);
    rules_free(rs);
    config_free(cfg);
    return rc;
}
