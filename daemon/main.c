/* main: the command line (README "Command line"). */
#include "config.h"
#include "daemon.h"
#include "log.h"
#include "replay.h"
#include "rules.h"
#include "util.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_CONFIG "/etc/mentiond/mentiond.conf"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: mentiond [-c FILE] [-f] [-t] [--replay FILE --format FORMAT [--framing F] [--rules GLOB]]\n"
            "                [--version] [--help]\n"
            "  -c, --config FILE    configuration (default " DEFAULT_CONFIG ")\n"
            "  -f, --foreground     stay in the foreground and also log to stderr\n"
            "  -t, --check          validate configuration and rules, print a summary, exit 0 or 1\n"
            "      --replay FILE    offline: match posts from FILE ('-' = stdin) and print one\n"
            "                       alert JSON object per line on stdout; no Redis\n"
            "      --format FORMAT  decoder for --replay: x_v2, x_v1, mastodon, jetstream,\n"
            "                       ndjson, sse, rss\n"
            "      --framing F      lines, length (X v1.1 delimited=length), sse (an\n"
            "                       event stream) or document (the whole file); the default\n"
            "                       is the live source's: sse for mastodon and sse, document\n"
            "                       for rss, lines for the others\n"
            "      --rules GLOB     rule files for --replay (default: the configuration's)\n"
            "      --version        print the version\n"
            "      --help           this text\n"
            "exit codes: 0 ok, 1 invalid configuration or rules, 2 usage error, 3 runtime failure\n");
}

/* -t: every error of the configuration and of every rule file at once. */
static int check(const char *path)
{
    struct errlist errs = {0};
    struct config *cfg = NULL;
    struct ruleset *rs = NULL;
    int rc;

    daemon_load(path, NULL, 0, NULL, &cfg, &rs, &errs);
    for (int i = 0; i < errs.n; i++)
        fprintf(stderr, "mentiond: %s\n", errs.msgs[i]);
    for (int i = 0; cfg && i < cfg->warnings.n; i++)
        fprintf(stderr, "mentiond: warning: %s\n", cfg->warnings.msgs[i]);
    if (cfg && rs) {
        printf("mentiond: %s: ok: instance %s, %d source%s, %d rule%s in %d file%s (%s), redis %s\n", path,
               cfg->name, cfg->nsources, cfg->nsources == 1 ? "" : "s", rs->n, rs->n == 1 ? "" : "s",
               rs->nfiles, rs->nfiles == 1 ? "" : "s", cfg->rules, cfg->redis_url);
        if (!cfg->nsources)
            fprintf(stderr, "mentiond: %s: warning: no [source \"name\"] section: nothing is watched until one "
                    "is added (then reload)\n", path);
        rc = 0;
    } else {
        fprintf(stderr, "mentiond: %s: %d error%s\n", path, errs.n, errs.n == 1 ? "" : "s");
        rc = 1;
    }
    errlist_free(&errs);
    rules_free(rs);
    config_free(cfg);
    return rc;
}

int main(int argc, char **argv)
{
    enum { OPT_REPLAY = 256, OPT_FORMAT, OPT_FRAMING, OPT_RULES, OPT_VERSION, OPT_HELP };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"foreground", no_argument, NULL, 'f'},
        {"check", no_argument, NULL, 't'},
        {"replay", required_argument, NULL, OPT_REPLAY},
        {"format", required_argument, NULL, OPT_FORMAT},
        {"framing", required_argument, NULL, OPT_FRAMING},
        {"rules", required_argument, NULL, OPT_RULES},
        {"version", no_argument, NULL, OPT_VERSION},
        {"help", no_argument, NULL, OPT_HELP},
        {NULL, 0, NULL, 0},
    };
    const char *config = NULL, *replay = NULL, *format = NULL, *framing = NULL, *rules = NULL;
    int foreground = 0, do_check = 0, c;

    while ((c = getopt_long(argc, argv, "c:ft", opts, NULL)) != -1) {
        switch (c) {
        case 'c': config = optarg; break;
        case 'f': foreground = 1; break;
        case 't': do_check = 1; break;
        case OPT_REPLAY: replay = optarg; break;
        case OPT_FORMAT: format = optarg; break;
        case OPT_FRAMING: framing = optarg; break;
        case OPT_RULES: rules = optarg; break;
        case OPT_VERSION:
            printf("mentiond %s\n", MENTIOND_VERSION);
            return 0;
        case OPT_HELP:
            usage(stdout);
            return 0;
        default:
            usage(stderr);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "mentiond: unexpected argument '%s'\n", argv[optind]);
        usage(stderr);
        return 2;
    }
    if ((format || framing || rules) && !replay) {
        fprintf(stderr, "mentiond: --format, --framing and --rules go with --replay\n");
        return 2;
    }
    if (replay && !format) {
        fprintf(stderr, "mentiond: --replay needs --format (x_v2, x_v1, mastodon, jetstream, ndjson, sse, rss)\n");
        return 2;
    }
    if (replay && do_check) {
        fprintf(stderr, "mentiond: -t and --replay cannot be combined\n");
        return 2;
    }
    if (replay)
        return replay_run(replay, format, framing, rules, config ? config : rules ? NULL : DEFAULT_CONFIG);
    if (!config)
        config = DEFAULT_CONFIG;
    if (do_check)
        return check(config);
    return daemon_run(config, foreground);
}
