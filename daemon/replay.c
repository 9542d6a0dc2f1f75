/* replay: offline matching of a recorded stream; see replay.h. */
#include "replay.h"
#include "config.h"
#include "log.h"
#include "pipeline.h"
#include "rules.h"
#include "source_driver.h"
#include "util.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLAY_CHUNK (256u * 1024u)
#define REPLAY_INSTALLED_LEXICONS "/etc/mentiond/lexicons"

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

/* Without a configuration, the word lists a rule author most likely means:
 * beside the rule files (conf/rules.d -> conf/lexicons), the project's
 * conf/lexicons beside this binary's build directory, the installed ones.
 * The first directory holding either list wins; NULL if none does. */
static const char *replay_lexicons(const char *rules_glob, char *out, size_t len)
{
    char exe[4096], cand[3][4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    char *slash;

    rules_default_lexicons(rules_glob, cand[0], sizeof cand[0]);
    cand[1][0] = '\0';
    if (n > 0) {
        exe[n] = '\0';
        if ((slash = strrchr(exe, '/'))) {
            *slash = '\0';
            snprintf(cand[1], sizeof cand[1], "%.4000s/../conf/lexicons", exe);
        }
    }
    snprintf(cand[2], sizeof cand[2], "%s", REPLAY_INSTALLED_LEXICONS);
    for (size_t i = 0; i < ARRAY_LEN(cand); i++) {
        char u[4200], g[4200];
        if (!cand[i][0])
            continue;
        snprintf(u, sizeof u, "%.4096s/%s.txt", cand[i], LEXICON_URGENCY);
        snprintf(g, sizeof g, "%.4096s/%s.txt", cand[i], LEXICON_NEGATIVE);
        if (access(u, R_OK) == 0 || access(g, R_OK) == 0) {
            char real[PATH_MAX];
            str_copy(out, realpath(cand[i], real) ? real : cand[i], len);
            return out;
        }
    }
    return NULL;
}

/* Why posts gave no alert, and a hint when the framing looks wrong for
 * the input (an event-stream capture read as lines, or the other way). */
static void replay_summary(const struct pipeline *pl, const struct feed *f, int mode, const char *head,
                           int framing_given)
{
    const struct pipeline_stats *st = &pl->st;
    int looks_sse = !strncmp(head, "event:", 6) || !strncmp(head, "data:", 5) || head[0] == ':';

    fprintf(stderr, "replay: of %llu posts: %llu matched a rule, %llu matched none, %llu folded as shares of an "
            "alerted post, %llu duplicates, %llu by own_handles; %llu control characters replaced\n",
            (unsigned long long)st->posts, (unsigned long long)st->matched, (unsigned long long)st->unmatched,
            (unsigned long long)st->shares_folded, (unsigned long long)st->duplicates,
            (unsigned long long)st->own_posts, (unsigned long long)st->controls_replaced);
    if (framing_given)
        return;
    if (mode == FRAMING_SSE && f->fr.stats.records == 0 && head[0] && !looks_sse)
        fprintf(stderr, "replay: hint: no server-sent event in the input; for one record per line "
                "give --framing lines\n");
    else if (mode == FRAMING_LINES && f->st.malformed && looks_sse)
        fprintf(stderr, "replay: hint: the input looks like an event stream (server-sent events); "
                "give --framing sse\n");
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
    char *chunk, lexdir[4096], head[16] = "";
    const char *lexicons;
    size_t n;
    int rc = 0;

    const struct source_driver *d = source_driver_find(format);
    /* The framing the live source of this format uses (a Mastodon capture
     * is an event stream); --framing lines for a file of statuses. */
    int mode = framing ? framing_mode_parse(framing) : d && d->decoder ? (int)source_driver_framing(d, NULL, 0) : 0;
    char names[200];

    if (!d || !d->decoder) {
        fprintf(stderr, "mentiond: --format %s: unknown (%s)\n", format, source_driver_names(names, sizeof names, 1));
        return 2;
    }
    if (mode < 0) {
        fprintf(stderr, "mentiond: --framing %s: unknown (lines, length, sse, document)\n", framing);
        return 2;
    }
    /* every error of the configuration and of the rules in one round */
    if (config_path && !(cfg = config_parse(config_path, &errs))) {
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
    if (config_path) {
        lexicons = cfg->lexicons;
        for (int i = 0; i < cfg->warnings.n; i++)
            fprintf(stderr, "mentiond: warning: %s\n", cfg->warnings.msgs[i]);
    } else {
        /* none found: the default beside the rules, which still serves
         * list:NAME files (the scorer then has no lists, and says so) */
        lexicons = replay_lexicons(rules_glob, lexdir, sizeof lexdir);
    }
    if (!config_path || config_rules_usable(cfg))
        rs = rules_load(rules_glob, (int)cfg->accents_fold, lexicons, &errs);
    if (!rs || errs.n) {
        print_errors(&errs);
        rules_free(rs);
        config_free(cfg);
        return 1;
    }
    /* The priorities depend on the word lists: say which were used. */
    if (rs->lex) {
        rules_lexicons_describe(rs, lexdir, sizeof lexdir);
        fprintf(stderr, "replay: priorities scored %s\n", lexdir);
    } else {
        fprintf(stderr, "replay: priorities scored without the urgency and negative word lists (%s); "
                "give -c CONFIG or put them beside the rules' directory\n",
                config_path ? "none in the configuration's lexicons directory" : "none found beside the rules, "
                "in the project's conf/lexicons or in " REPLAY_INSTALLED_LEXICONS);
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
    while ((n = fread(chunk, 1, REPLAY_CHUNK, in)) > 0) {
        if (!head[0])
            snprintf(head, sizeof head, "%.*s", (int)(n < sizeof head - 1 ? n : sizeof head - 1), chunk);
        feed_bytes(&feed, chunk, n);
    }
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
    replay_summary(&pl, &feed, mode, head, framing != NULL);
    free(chunk);
    feed_free(&feed);
    pipeline_free(&pl);
    if (in != stdin)
        fclose(in);
    rules_free(rs);
    config_free(cfg);
    return rc;
}
