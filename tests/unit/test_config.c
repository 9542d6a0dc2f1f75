/* config: defaults, every error with file:line, secrets, redis URLs. */
#include "testutil.h"
#include "config.h"
#include "framing.h"
#include "source_driver.h"
#include "buf.h"

/* text, then what every loadable configuration needs on a machine where
 * mentiond was never installed: rule files that exist and no spool (the
 * defaults name /etc/mentiond and /var/lib/mentiond). */
static const char *load_path(const char *name, const char *text)
{
    size_t len = strlen(text) + 1024;
    char *all = xmalloc(len), rules[600];
    const char *path;

    snprintf(all, len, "%s\n[daemon]\nrules = %s\nspool_dir =\n", text, SRC_PATH(rules, "conf/rules.d/*.rules"));
    path = write_temp(name, all);
    free(all);
    return path;
}

static void minimal_and_defaults(void **state)
{
    struct errlist errs = {0};
    struct config *c;
    const char *tok = write_temp("x.token", "  secret-token-123\n");
    char text[1024];
    (void)state;

    snprintf(text, sizeof text,
             "[source \"x-main\"]\ntype = x_v2\nurl = https://api.x.com/2/tweets/search/stream\n"
             "token_file = %s\n", tok);
    c = config_load(load_path("min.conf", text), &errs);
    assert_non_null(c);
    assert_int_equal(errs.n, 0);
    assert_string_equal(c->name, "mentiond-1");
    assert_string_equal(c->key_prefix, "mentiond");
    assert_int_equal(c->dedup_ttl, 86400);
    assert_string_equal(c->redis_host, "127.0.0.1");
    assert_int_equal(c->redis_port, 6379);
    assert_int_equal(c->nsources, 1);
    assert_string_equal(c->sources->token, "secret-token-123");
    assert_int_equal(c->sources->stall_timeout, 30);
    assert_int_equal(c->sources->max_record, 1048576);
    config_free(c);
}

static void errors_name_file_and_line(void **state)
{
    struct errlist errs = {0};
    char want[1024];
    const char *path = write_temp("bad.conf",
                                  "[daemon]\n"                                   /* 1 */
                                  "name = ok\n"                                  /* 2 */
                                  "colour = blue\n"                              /* 3 */
                                  "log_level = chatty\n"                         /* 4 */
                                  "[redis]\n"                                    /* 5 */
                                  "dedup_ttl = -5\n"                             /* 6 */
                                  "mode = queue\n"                               /* 7 */
                                  "[metrics]\n"                                  /* 8 */
                                  "port = 1\n"                                   /* 9 */
                                  "[source \"a\"]\n"                             /* 10 */
                                  "type = mastodon\n"                            /* 11 */
                                  "[source \"b\"]\n"                             /* 12 */
                                  "type = x_v2\n"                                /* 13 */
                                  "url = ftp://nope\n"                           /* 14 */
                                  "field.bogus = /x\n"                           /* 15 */
                                  "stall_timeout = 0\n"                          /* 16 */
                                  "[daemon]\n"                                   /* 17 */
                                  "name = again\n");                             /* 18 */
    (void)state;

    unsetenv("CREDENTIALS_DIRECTORY");
    assert_null(config_load(path, &errs));
#define EXPECT(fmt) do { snprintf(want, sizeof want, fmt, path); \
        if (!ERRLIST_HAS(&errs, want)) fail_msg("missing error: %s", want); } while (0)
    EXPECT("%s:3: unknown key 'colour' in [daemon]");
    EXPECT("%s:4: [daemon] log_level = chatty: expected debug");
    EXPECT("%s:6: [redis] dedup_ttl = -5: expected an integer from 1 to 31536000");
    EXPECT("%s:7: [redis] mode = queue: expected list or stream");
    EXPECT("%s:9: unknown section [metrics]");
    EXPECT("%s:10: [source \"a\"]: mastodon needs a bearer token (Mastodon 4.2+");
    EXPECT("%s:14: [source \"b\"] url = ftp://nope: needs 'url' (http:// or https://)");
    EXPECT("%s:12: [source \"b\"]: x_v2 needs a bearer token");
    EXPECT("%s:15: unknown field 'bogus'");
    EXPECT("%s:16: [source \"b\"] stall_timeout = 0: expected an integer from 1 to 3600");
    EXPECT("%s:18: duplicate key 'name' in [daemon] (first set at line 2)");
#undef EXPECT
    errlist_free(&errs);

    assert_null(config_load("/nonexistent/mentiond.conf", &errs));
    assert_true(ERRLIST_HAS(&errs, "/nonexistent/mentiond.conf: No such file or directory"));
    errlist_free(&errs);

    /* no source yet (a fresh install): valid, it starts and waits for one */
    {
        struct config *c = config_load(load_path("empty.conf", "[daemon]\nname = x\n"), &errs);
        assert_non_null(c);
        assert_int_equal(c->nsources, 0);
        assert_int_equal(errs.n, 0);
        config_free(c);
    }
}

static void redis_urls_and_secrets(void **state)
{
    struct errlist errs = {0};
    struct config *c;
    char text[1024], dir[600];
    (void)state;

    snprintf(text, sizeof text, "[redis]\nurl = unix:///run/r.sock?db=3\n"
             "[source \"f\"]\ntype = file\npath = /dev/null\n");
    c = config_load(load_path("u.conf", text), &errs);
    assert_non_null(c);
    assert_string_equal(c->redis_unix, "/run/r.sock");
    assert_int_equal(c->redis_db, 3);
    assert_string_equal(c->sources->format, "x_v2");
    config_free(c);

    snprintf(text, sizeof text, "[redis]\nurl = redis://[::1]:6380/2\n"
             "[source \"f\"]\ntype = file\npath = /dev/null\nformat = ndjson\n");
    c = config_load(load_path("t.conf", text), &errs);
    assert_non_null(c);
    assert_string_equal(c->redis_host, "::1");
    assert_int_equal(c->redis_port, 6380);
    assert_int_equal(c->redis_db, 2);
    config_free(c);

    /* A password in the URL is refused: secrets come from files. */
    snprintf(text, sizeof text, "[redis]\nurl = redis://:hunter2@127.0.0.1/0\n"
             "[source \"f\"]\ntype = file\npath = /dev/null\n");
    assert_null(config_load(write_temp("p.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, "credentials in the URL are not accepted"));
    for (int i = 0; i < errs.n; i++)
        assert_null(strstr(errs.msgs[i], "hunter2"));
    errlist_free(&errs);

    /* systemd credentials: $CREDENTIALS_DIRECTORY/<source> and redis-password */
    snprintf(dir, sizeof dir, "%s", write_temp("x-cred", "tok-from-credential\n"));
    *strrchr(dir, '/') = '\0';
    write_temp("redis-password", "pw-from-credential\n");
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    snprintf(text, sizeof text, "[source \"x-cred\"]\ntype = x_v2\nurl = http://127.0.0.1:1/s\n");
    c = config_load(load_path("c.conf", text), &errs);
    assert_non_null(c);
    assert_string_equal(c->sources->token, "tok-from-credential");
    assert_string_equal(c->redis_password, "pw-from-credential");
    config_free(c);
    unsetenv("CREDENTIALS_DIRECTORY");
}

static void alerting_settings(void **state)
{
    struct errlist errs = {0};
    struct config *c;
    const char *src = "[source \"f\"]\ntype = file\npath = /dev/null\n";
    char text[2048], key[512], hook[512];
    (void)state;

    unsetenv("CREDENTIALS_DIRECTORY");
    snprintf(key, sizeof key, "%s", write_temp("pd.key", "ROUTINGKEY\n"));
    snprintf(hook, sizeof hook, "%s", write_temp("hook.url", "https://hooks.example/T/B/secret\n"));
    snprintf(text, sizeof text, "[alerting]\npagerduty_routing_key_file = %s\nwebhook_url_file = %s\n"
             "spike_window = 30\nmax_pages_per_hour = 0\n%s", key, hook, src);
    c = config_load(load_path("a0.conf", text), &errs);
    assert_non_null(c);
    assert_string_equal(c->pagerduty_key, "ROUTINGKEY");
    assert_string_equal(c->webhook, "https://hooks.example/T/B/secret");
    assert_string_equal(c->incident_queue, "incidents");
    assert_int_equal(c->spike_window, 30);
    assert_int_equal(c->viral_shares, 500);
    config_free(c);

    snprintf(text, sizeof text, "[alerting]\nalertmanager_url = 127.0.0.1:9093\nwebhook_url = ftp://secret-hook/T/B\n"
             "webhook_url_file = %s\nspike_window = 5\nqueue = a b\nviral_shares = 1\n"
             "pagerduty_routing_key_file = /nonexistent/key\n%s", hook, src);
    assert_null(config_load(write_temp("a1.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, ":2: [alerting] alertmanager_url = 127.0.0.1:9093: expected http:// or https://"));
    assert_true(ERRLIST_HAS(&errs, ":4: [alerting] webhook_url_file = "));
    assert_true(ERRLIST_HAS(&errs, ": webhook_url is set too: set one"));
    assert_true(ERRLIST_HAS(&errs, ":5: [alerting] spike_window = 5: expected an integer from 10 to 3600"));
    assert_true(ERRLIST_HAS(&errs, ":6: [alerting] queue = a b: use 1-64 letters"));
    assert_true(ERRLIST_HAS(&errs, ":7: [alerting] viral_shares = 1: use 0 (off) or at least 2"));
    assert_true(ERRLIST_HAS(&errs, ":8: [alerting] pagerduty_routing_key_file = /nonexistent/key: No such file"));
    /* the webhook URL is a secret: its value is never in a message */
    assert_true(ERRLIST_HAS(&errs, ":3: [alerting] webhook_url = (hidden)"));
    for (int i = 0; i < errs.n; i++)
        assert_null(strstr(errs.msgs[i], "secret-hook"));
    errlist_free(&errs);
}

static void delivery_settings(void **state)
{
    struct errlist errs = {0};
    struct config *c;
    const char *src = "[source \"f\"]\ntype = file\npath = /dev/null\n";
    char text[2048], dir[600], rules[600], want[1024];
    (void)state;

    unsetenv("CREDENTIALS_DIRECTORY");
    snprintf(text, sizeof text, "%s", src);
    c = config_load(load_path("d0.conf", text), &errs);
    assert_non_null(c);
    assert_int_equal(c->durability, DURABILITY_MEMORY);
    assert_int_equal(c->spool_fsync, 1);                /* second */
    assert_int_equal(c->spool_max_bytes, 1073741824);
    assert_int_equal(c->redis_mode, REDIS_MODE_LIST);
    config_free(c);

    snprintf(dir, sizeof dir, "%s", write_temp("spool-parent", ""));
    *strrchr(dir, '/') = '\0';                          /* the temporary directory: exists */
    snprintf(text, sizeof text, "[daemon]\ndurability = spool\nspool_fsync = always\nspool_dir = %s/spool\n"
             "rules = %s\n[redis]\nmode = stream\nstream_groups = workers, audit\n%s", dir,
             SRC_PATH(rules, "conf/rules.d/*.rules"), src);
    c = config_load(write_temp("d1.conf", text), &errs);
    assert_non_null(c);
    assert_int_equal(c->durability, DURABILITY_SPOOL);
    assert_int_equal(c->spool_fsync, 2);
    assert_int_equal(c->redis_mode, REDIS_MODE_STREAM);
    assert_int_equal(c->ngroups, 2);
    config_free(c);

    snprintf(text, sizeof text, "[daemon]\nspool_dir =\ndurability = spool\nspool_fsync = sometimes\n"
             "spool_max_bytes = 1000\n[redis]\nstream_groups = bad/name\nusername = app\n%s", src);
    assert_null(config_load(write_temp("d2.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, ":4: [daemon] spool_fsync = sometimes: expected never, second or always"));
    assert_true(ERRLIST_HAS(&errs, ":5: [daemon] spool_max_bytes = 1000: expected an integer from 1048576 to "
                                   "1099511627776"));
    errlist_free(&errs);

    snprintf(text, sizeof text, "[daemon]\nspool_dir =\ndurability = spool\n"
             "[redis]\nstream_groups = bad/name\nusername = app\n%s", src);
    assert_null(config_load(write_temp("d3.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, ":3: [daemon] durability = spool: needs a spool_dir"));
    assert_true(ERRLIST_HAS(&errs, ":5: [redis] stream_groups = bad/name: 'bad/name': use 1-64 letters"));
    assert_true(ERRLIST_HAS(&errs, ":5: [redis] stream_groups = bad/name: groups are for mode = stream"));
    assert_true(ERRLIST_HAS(&errs, ":6: [redis] username = app: needs a password"));
    errlist_free(&errs);

    /* a cluster: TCP, database 0, seeds that parse; cluster_nodes only with it */
    snprintf(text, sizeof text, "[daemon]\nspool_dir =\n[redis]\nurl = unix:///run/redis.sock\ncluster = on\n%s", src);
    assert_null(config_load(write_temp("c1.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, ":5: [redis] cluster = on: a cluster is reached over TCP"));
    errlist_free(&errs);
    snprintf(text, sizeof text, "[daemon]\nspool_dir =\n[redis]\nurl = redis://127.0.0.1:7000/2\ncluster = on\n"
             "cluster_nodes = 127.0.0.1:7001, 127.0.0.1\n%s", src);
    assert_null(config_load(write_temp("c2.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, ":5: [redis] cluster = on: a cluster has only database 0 (url names database 2)"));
    assert_true(ERRLIST_HAS(&errs, ":6: [redis] cluster_nodes = 127.0.0.1:7001, 127.0.0.1: '127.0.0.1': "
                                   "expected host:port"));
    errlist_free(&errs);
    snprintf(text, sizeof text, "[daemon]\nspool_dir =\n[redis]\ncluster_nodes = 127.0.0.1:7001\n%s", src);
    assert_null(config_load(write_temp("c3.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, ":4: [redis] cluster_nodes = 127.0.0.1:7001: only with cluster = on"));
    errlist_free(&errs);
    snprintf(text, sizeof text, "[redis]\nurl = redis://127.0.0.1:7000\ncluster = on\n"
             "cluster_nodes = [::1]:7001, localhost:7002\n%s", src);
    {
        struct config *cc = config_load(load_path("c4.conf", text), &errs);
        assert_non_null(cc);
        config_free(cc);
    }

    snprintf(text, sizeof text, "[daemon]\nspool_dir = var/spool\n%s", src);
    assert_null(config_load(write_temp("d4.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, ":2: [daemon] spool_dir = var/spool: use an absolute path"));
    errlist_free(&errs);

    /* What the start needs is checked by the load (and so by -t): the
     * packaged spool directory where mentiond was never installed, a port
     * past 65535, a word-list directory that is not there. */
    snprintf(text, sizeof text, "[daemon]\nspool_dir = /nonexistent-parent/spool\nmetrics_listen = 127.0.0.1:99999\n"
             "lexicons = /nonexistent-lexicons\n%s", src);
    assert_null(config_load(write_temp("d5.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, ":2: [daemon] spool_dir = /nonexistent-parent/spool: cannot be created: its "
                                   "parent /nonexistent-parent does not exist"));
    assert_true(ERRLIST_HAS(&errs, ":3: [daemon] metrics_listen = 127.0.0.1:99999: expected a port from 0 to 65535"));
    assert_true(ERRLIST_HAS(&errs, ":4: [daemon] lexicons = /nonexistent-lexicons: No such file or directory"));
    errlist_free(&errs);

    /* A key left at a default the start cannot use says so, without a line. */
    snprintf(text, sizeof text, "[daemon]\nrules = %s\n%s", SRC_PATH(rules, "conf/rules.d/*.rules"), src);
    c = config_load(write_temp("d6.conf", text), &errs);
    if (access("/var/lib/mentiond", F_OK) != 0) {
        snprintf(want, sizeof want, "%s: [daemon] spool_dir = /var/lib/mentiond/spool (the default): cannot be "
                 "created: its parent /var/lib/mentiond does not exist", write_temp("d6.conf", text));
        assert_null(c);
        assert_true(ERRLIST_HAS(&errs, want));
    } else {
        print_message("note: /var/lib/mentiond exists here (installed); the default-spool error is not checked\n");
        config_free(c);
    }
    errlist_free(&errs);
}

static void source_count_is_capped(void **state)
{
    struct errlist errs = {0};
    size_t cap = (size_t)(CONFIG_MAX_SOURCES + 5) * 64, o = 0;
    char *text = xmalloc(cap);
    (void)state;
    for (int i = 0; i < CONFIG_MAX_SOURCES + 5; i++)
        o += (size_t)snprintf(text + o, cap - o, "[source \"s%d\"]\ntype = file\npath = /dev/null\n", i);
    assert_null(config_load(load_path("many.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, "more than 10000 sources"));
    assert_int_equal(errs.n, 1);                /* said once, not 5 times */
    errlist_free(&errs);
    free(text);
}

/* Framing follows the type (and X v1.1's delimited=length URL) unless
 * written; a bad framing or backfill is an error at its line. */
static void framing_by_type(void **state)
{
    struct errlist errs = {0};
    struct config *c;
    const struct source_conf *s;
    char want[1024];
    const char *tok = write_temp("tok", "t0k\n");
    char text[4096];
    const char *path;
    (void)state;

    snprintf(text, sizeof text,
             "[source \"v1\"]\ntype = x_v1\nurl = https://stream.example/1.1/statuses/filter.json?delimited=length\n"
             "[source \"v1lines\"]\ntype = x_v1\nurl = https://stream.example/1.1/statuses/filter.json\n"
             "[source \"m\"]\ntype = mastodon\nurl = https://m.example/api/v1/streaming/public\ntoken_file = %s\n"
             "[source \"s\"]\ntype = sse\nurl = http://127.0.0.1:1/events\nevents = put, patch\n"
             "[source \"f\"]\ntype = file\npath = /dev/null\nformat = mastodon\n"
             "[source \"x\"]\ntype = x_v2\nurl = https://api.example/2/tweets/search/stream\ntoken_file = %s\n"
             "backfill_minutes = 2\n", tok, tok);
    path = load_path("framing.conf", text);
    unsetenv("CREDENTIALS_DIRECTORY");
    c = config_load(path, &errs);
    assert_non_null(c);
    assert_int_equal(config_source(c, "v1")->framing, FRAMING_LENGTH);
    assert_int_equal(config_source(c, "v1lines")->framing, FRAMING_LINES);
    assert_int_equal(config_source(c, "m")->framing, FRAMING_SSE);
    s = config_source(c, "s");
    assert_int_equal(s->framing, FRAMING_SSE);
    assert_string_equal(s->events, "put, patch");
    assert_int_equal(config_source(c, "f")->framing, FRAMING_LINES);
    /* x_v2's own setting, in its own struct (its first field) */
    s = config_source(c, "x");
    assert_int_equal(*(const long long *)source_own(s, source_driver_find("x_v2")), 2);
    assert_null(source_own(s, source_driver_find("rss")));
    config_free(c);

    path = write_temp("framing-bad.conf",
                      "[source \"a\"]\ntype = ndjson\nurl = http://127.0.0.1:1/\nframing = xml\n"
                      "[source \"b\"]\ntype = x_v2\nurl = http://127.0.0.1:1/\nbackfill_minutes = 6\n"
                      "[source \"c\"]\ntype = file\npath = /dev/null\nformat = file\n");
    assert_null(config_load(path, &errs));
    snprintf(want, sizeof want, "%s:4: [source \"a\"] framing = xml: expected lines, length, sse or document", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:8: [source \"b\"] backfill_minutes = 6: expected an integer from 0 to 5", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:12: [source \"c\"] format = file: expected x_v2", path);
    assert_true(ERRLIST_HAS(&errs, want));
    errlist_free(&errs);
}

/* A type's own keys come from its driver's table: on another type they
 * are an error naming the types that have them (whatever the order of
 * the section's lines); a file source takes its format's keys too. */
static void keys_of_the_type(void **state)
{
    struct errlist errs = {0};
    struct config *c;
    char want[1024];
    const char *path;
    (void)state;

    path = load_path("types.conf",
                      "[source \"a\"]\ninterval = 60\nurl = http://127.0.0.1:1/\ntype = ndjson\n"
                      "[source \"b\"]\ntype = rss\nurl = http://127.0.0.1:1/\npath = /dev/null\n"
                      "[source \"c\"]\ntype = ndjson\nurl = http://127.0.0.1:1/\ncompress = on\ncompress = off\n"
                      "[source \"d\"]\ntype = sse\nurl = http://127.0.0.1:1/\nbogus = 1\n");
    assert_null(config_load(path, &errs));
    snprintf(want, sizeof want, "%s:2: [source \"a\"] interval = 60: not a key of type ndjson (it is one of rss)", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:8: [source \"b\"] path = /dev/null: not a key of type rss (it is one of file)",
             path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:13: duplicate key 'compress' in [source \"c\"] (first set at line 12)", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:17: unknown key 'bogus' in [source \"d\"]", path);
    assert_true(ERRLIST_HAS(&errs, want));
    assert_int_equal(errs.n, 5);        /* c's compress is not ndjson's either */
    errlist_free(&errs);

    /* type last; a file of server-sent events takes sse's events */
    path = load_path("types-ok.conf",
                      "[source \"r\"]\ninterval = 60\nurl = http://127.0.0.1:1/feed\ntype = rss\n"
                      "[source \"f\"]\ntype = file\npath = /dev/null\nformat = sse\nevents = update\nrate = 5\n");
    c = config_load(path, &errs);
    assert_non_null(c);
    assert_int_equal(config_source(c, "r")->interval, 60);
    assert_string_equal(config_source(c, "f")->events, "update");
    assert_int_equal(config_source(c, "f")->framing, FRAMING_SSE);
    assert_int_equal(config_source(c, "f")->rate, 5);
    config_free(c);

    path = load_path("types-file.conf", "[source \"f\"]\ntype = file\npath = /dev/null\nformat = x_v2\nevents = update\n");
    assert_null(config_load(path, &errs));
    snprintf(want, sizeof want, "%s:5: [source \"f\"] events = update: not a key of type file (it is one of sse)", path);
    assert_true(ERRLIST_HAS(&errs, want));
    errlist_free(&errs);
}

/* Jetstream: ws/wss URL, filters as keys (a long DID list from a file),
 * compress needs a readable dictionary, the server's limits checked. */
static void jetstream_sources(void **state)
{
    struct errlist errs = {0};
    struct config *c;
    const struct source_conf *s;
    char text[8192], want[1024], colls[4096] = "";
    const char *dict = write_temp("j.zdict", "not really a dictionary");
    const char *dids = write_temp("dids.txt", "did:plc:bbb\ndid:plc:ccc\r\n");
    const char *path;
    (void)state;

    snprintf(text, sizeof text,
             "[source \"j\"]\ntype = jetstream\nurl = wss://jetstream2.us-east.bsky.network/subscribe\n"
             "collections = app.bsky.feed.post, app.bsky.graph.*\ndids = did:plc:aaa\ndids_file = %s\n"
             "compress = on\ndictionary = %s\n", dids, dict);
    path = load_path("j.conf", text);
    c = config_load(path, &errs);
    assert_non_null(c);
    s = config_source(c, "j");
    assert_string_equal(s->driver->name, "jetstream");
    assert_int_equal(s->compress, 1);
    assert_string_equal(s->collections, "app.bsky.feed.post, app.bsky.graph.*");
    assert_string_equal(s->dids, "did:plc:aaa did:plc:bbb did:plc:ccc  ");
    assert_int_equal(s->framing, FRAMING_LINES);       /* recordings; live messages need none */
    config_free(c);

    for (int i = 0; i < 101; i++)
        snprintf(colls + strlen(colls), sizeof colls - strlen(colls), "%sapp.x.c%d", i ? "," : "", i);
    snprintf(text, sizeof text,
             "[source \"a\"]\ntype = jetstream\nurl = https://jetstream.example/subscribe\n"
             "[source \"b\"]\ntype = jetstream\nurl = ws://127.0.0.1:1/subscribe?wantedDids=x\n"
             "[source \"c\"]\ntype = jetstream\nurl = ws://127.0.0.1:1/subscribe\ncompress = yes\n"
             "[source \"d\"]\ntype = jetstream\nurl = ws://127.0.0.1:1/subscribe\ncompress = on\n"
             "dictionary = /nonexistent.zdict\ncollections = %s\n"
             "[source \"e\"]\ntype = jetstream\nurl = ws://127.0.0.1:1/subscribe\ncompress = maybe\n"
             "dids_file = /nonexistent-dids\n", colls);
    path = write_temp("j-bad.conf", text);
    assert_null(config_load(path, &errs));
    snprintf(want, sizeof want, "%s:3: [source \"a\"] url = https://jetstream.example/subscribe: jetstream needs "
             "'url' (ws:// or wss://", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:6: [source \"b\"] url = ws://127.0.0.1:1/subscribe?wantedDids=x: give the "
             "filters as 'collections' and 'dids'", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:10: [source \"c\"] compress = on: needs 'dictionary'", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:15: [source \"d\"] dictionary = /nonexistent.zdict: No such file", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:16: [source \"d\"] collections = app.x.c0,", path);
    assert_true(ERRLIST_HAS(&errs, want));
    assert_true(ERRLIST_HAS(&errs, ": 101 given, Jetstream takes at most 100"));
    snprintf(want, sizeof want, "%s:20: [source \"e\"] compress = maybe: expected on or off", path);
    assert_true(ERRLIST_HAS(&errs, want));
    snprintf(want, sizeof want, "%s:21: [source \"e\"] dids_file = /nonexistent-dids: ", path);
    assert_true(ERRLIST_HAS(&errs, want));
    errlist_free(&errs);
}

static void reload_equality(void **state)
{
    struct errlist errs = {0};
    struct config *a, *b;
    const char *one = "[source \"f\"]\ntype = file\npath = /dev/null\n"
                      "[source \"g\"]\ntype = file\npath = /dev/zero\n";
    const char *two = "[source \"f\"]\ntype = file\npath = /dev/null\n"
                      "[source \"g\"]\ntype = file\npath = /dev/zero\nrate = 5\n";
    (void)state;
    a = config_load(load_path("a.conf", one), &errs);
    b = config_load(load_path("b.conf", two), &errs);
    assert_non_null(a);
    assert_non_null(b);
    assert_true(source_conf_equal(config_source(a, "f"), config_source(b, "f")));
    assert_false(source_conf_equal(config_source(a, "g"), config_source(b, "g")));
    {
        struct source_conf *d = source_conf_dup(config_source(b, "g"));
        assert_true(source_conf_equal(d, config_source(b, "g")));
        source_conf_free(d);
    }
    config_free(a);
    config_free(b);
}

/* A bad value for every key of the table, each at line 2 of its own file:
 * the message must name the file, the line, the section and the key (and
 * for a number, its range).  A key added to the table without a bad value
 * here fails the test. */
static const struct { const char *key, *bad; } bad_values[] = {
    {"name", "bad name!"}, {"rules", "/nonexistent/*.rules"}, {"lexicons", "/nonexistent-lexicons"},
    {"log_level", "chatty"}, {"syslog_facility", "kern9"}, {"spool_dir", "relative/spool"},
    {"durability", "disk"}, {"spool_fsync", "sometimes"}, {"metrics_listen", "127.0.0.1:99999"},
    {"accents", "strip"}, {"own_handles", "Nordvik Help!"}, {"impersonation_queue", "a b"}, {"fleet", "bank{1}"},
    {"impersonation_allow", "Nordvik Support!"}, {"reach_followers", "10, 5"},
    {"pii_level", "urgent"}, {"account_pattern", "ddd"}, {"canned_reply_queue", "a b"},
    {"url", "redis//nowhere"}, {"username", "two words"}, {"password_file", "/nonexistent/pw"},
    {"key_prefix", "has space"}, {"mode", "queue"}, {"stream_groups", "bad/name"}, {"rules_key", "two words"},
    {"cluster", "sometimes"}, {"cluster_nodes", "127.0.0.1:0"},
    {"alertmanager_url", "127.0.0.1:9093"}, {"pagerduty_url", "events.example"},
    {"pagerduty_routing_key_file", "/nonexistent/key"}, {"webhook_url", "ftp://hook"},
    {"webhook_url_file", "/nonexistent/hook"}, {"queue", "a b"}, {"spike_queues", "sometimes"},
    /* [source] keys */
    {"type", "bogus"}, {"path", "/dev/null"}, {"format", "file"}, {"framing", "xml"}, {"events", "put;patch"},
    {"token_file", "/nonexistent/token"}, {"collections", NULL}, {"dids", "did:plc:ok, handle.example"},
    {"dids_file", "/nonexistent/dids"}, {"compress", "maybe"}, {"dictionary", "/nonexistent.zdict"},
    {"ca_file", "/nonexistent/ca.pem"}, {"instances", "https://a.example/api"}, {"stream", "hashtag"},
    {"manage_rules", "sometimes"}, {"rules_url", "api.x.com/rules"}, {"daily_budget", "lots"},
    {"post_price", "free"}, {"gap_fill", "always"}, {"search_url", "x.com/recent"},
};

static const char *bad_value_of(const struct config_key_info *k, char *buf, size_t len)
{
    if (k->is_int) {
        snprintf(buf, len, "%lld", k->max + 1);
        return buf;
    }
    if (!strcmp(k->key, "collections")) {       /* 101 collections */
        buf[0] = '\0';
        for (int i = 0; i < 101; i++)
            snprintf(buf + strlen(buf), len - strlen(buf), "%sa.b.c%d", i ? "," : "", i);
        return buf;
    }
    if (!strcmp(k->key, "url") && !strcmp(k->section, "source"))
        return "ftp://nope";
    for (size_t i = 0; i < ARRAY_LEN(bad_values); i++)
        if (!strcmp(bad_values[i].key, k->key))
            return bad_values[i].bad;
    fail_msg("no bad value for [%s] %s: add one to bad_values", k->section, k->key);
    return NULL;
}

/* What a source key needs around it to be judged: its type's section. */
static const char *source_context(const char *key, const char *type)
{
    if (type && !strcmp(type, "rss"))
        return "type = rss\nurl = http://127.0.0.1:1/feed\n";
    if (type && !strcmp(type, "x_v2"))
        return "type = x_v2\nurl = http://127.0.0.1:1/stream\n";
    if (type && !strcmp(type, "sse"))
        return "type = sse\nurl = http://127.0.0.1:1/events\n";
    if (!strcmp(key, "type"))
        return "url = http://127.0.0.1:1/feed\n";
    if (!strcmp(key, "format") || !strcmp(key, "rate"))
        return "type = file\npath = /dev/null\n";
    if (!strcmp(key, "dictionary"))
        return "type = jetstream\nurl = ws://127.0.0.1:1/subscribe\ncompress = on\n";
    if (!strcmp(key, "collections") || !strcmp(key, "dids") || !strcmp(key, "dids_file") ||
        !strcmp(key, "compress") || !strcmp(key, "ca_file"))
        return "type = jetstream\nurl = ws://127.0.0.1:1/subscribe\n";
    if (!strcmp(key, "instances") || !strcmp(key, "stream") || !strcmp(key, "poll_interval"))
        return type && !strcmp(type, "mastodon") && strcmp(key, "instances") ? "type = mastodon\nurl = http://127.0.0.1:1\n"
                                                                              : "type = mastodon\n";
    if (!strcmp(key, "url"))
        return "type = ndjson\n";
    return "type = ndjson\nurl = http://127.0.0.1:1/feed\n";
}

static void every_key_bad_value(void **state)
{
    struct config_key_info k;
    char text[8192], want[2048], value[4096], rules[600], path[600];
    int checked = 0;
    (void)state;

    unsetenv("CREDENTIALS_DIRECTORY");
    for (int kind = CK_GLOBAL; kind <= CK_SOURCE; kind++)
        for (size_t i = 0; config_key_info((enum config_key_kind)kind, i, &k) == 0; i++) {
            struct errlist errs = {0};
            const char *bad = bad_value_of(&k, value, sizeof value);
            int is_src = kind == CK_SOURCE;
            char section[64];

            snprintf(section, sizeof section, "%s", is_src ? "source \"s\"" : k.section);
            snprintf(text, sizeof text, "[%s]\n%s = %s\n%s[daemon]\n%s%s%s%s", section, k.key, bad,
                     is_src ? source_context(k.key, k.type) : "",
                     strcmp(k.key, "rules") ? "rules = " : "", strcmp(k.key, "rules") ? SRC_PATH(rules,
                     "conf/rules.d/*.rules") : "", strcmp(k.key, "rules") ? "\n" : "",
                     strcmp(k.key, "spool_dir") ? "spool_dir =\n" : "");
            snprintf(path, sizeof path, "%s", write_temp("bad-key.conf", text));
            assert_null(config_load(path, &errs));
            snprintf(want, sizeof want, "%s:2: [%s] %s = %s", path, section, k.key, k.secret ? "(hidden)" : "");
            if (!ERRLIST_HAS(&errs, want))
                fail_msg("[%s] %s = %s: no error naming %s; got %d: %s", k.section, k.key, bad, want, errs.n,
                         errs.n ? errs.msgs[0] : "-");
            if (k.is_int) {
                snprintf(want, sizeof want, "expected an integer from %lld to %lld", k.min, k.max);
                assert_true(ERRLIST_HAS(&errs, want));
            }
            errlist_free(&errs);
            checked++;
        }
    assert_true(checked > 90);
}

/* A reload keeps restart-only keys and what they derive at their running
 * values and names them; live keys take the new value. */
static void restart_keys_kept(void **state)
{
    struct errlist errs = {0};
    struct config *a, *b;
    char text[2048], pw[600], changed[1024];
    const char *src = "[source \"f\"]\ntype = file\npath = /dev/null\n";
    (void)state;

    unsetenv("CREDENTIALS_DIRECTORY");
    snprintf(pw, sizeof pw, "%s", write_temp("redis.pw", "first-password\n"));
    snprintf(text, sizeof text, "[redis]\nurl = unix:///run/a.sock\npassword_file = %s\n"
             "[daemon]\nworkers = 0\n[priority]\nurgency_points = 6\n%s", pw, src);
    a = config_load(load_path("r-a.conf", text), &errs);
    assert_non_null(a);

    snprintf(text, sizeof text, "[redis]\nurl = unix:///run/b.sock?db=2\npassword_file = %s\nkey_prefix = other\n"
             "[daemon]\nworkers = 2\n[priority]\nurgency_points = 9\n%s", pw, src);
    b = config_load(load_path("r-b.conf", text), &errs);
    assert_non_null(b);
    assert_int_equal(config_keep_restart(b, a, changed, sizeof changed), 3);
    assert_string_equal(changed, "[daemon] workers, [redis] url, [redis] key_prefix");
    assert_string_equal(b->redis_url, "unix:///run/a.sock");
    assert_string_equal(b->redis_unix, "/run/a.sock");          /* derived, kept with it */
    assert_int_equal(b->redis_db, 0);
    assert_string_equal(b->key_prefix, "mentiond");
    assert_int_equal(b->workers, 0);
    assert_int_equal(b->urgency_points, 9);                     /* live */
    config_free(b);

    /* the same file names a new secret: kept too, and said */
    write_temp("redis.pw", "second-password\n");
    snprintf(text, sizeof text, "[redis]\nurl = unix:///run/a.sock\npassword_file = %s\n"
             "[daemon]\nworkers = 0\n[priority]\nurgency_points = 6\n%s", pw, src);
    b = config_load(load_path("r-c.conf", text), &errs);
    assert_non_null(b);
    assert_string_equal(b->redis_password, "second-password");
    assert_int_equal(config_keep_restart(b, a, changed, sizeof changed), 1);
    assert_string_equal(changed, "[redis] password_file (the file's content)");
    assert_string_equal(b->redis_password, "first-password");
    assert_int_equal(config_keep_restart(b, a, changed, sizeof changed), 0);
    config_free(b);
    config_free(a);
}

static void dump_hides_secrets(void **state)
{
    struct errlist errs = {0};
    struct config *c;
    struct buf out;
    (void)state;

    c = config_load(load_path("dump.conf", "[alerting]\nwebhook_url = https://hooks.example/T/secret-part\n"
                                           "[source \"f\"]\ntype = file\npath = /dev/null\nfield.text = /body\n"), &errs);
    assert_non_null(c);
    buf_init(&out, 1 << 20);
    config_dump(c, &out);
    assert_non_null(strstr(out.data, "\nwebhook_url = (hidden)\n"));
    assert_null(strstr(out.data, "secret-part"));
    assert_non_null(strstr(out.data, "\n[source \"f\"]\ntype = file\n"));
    assert_non_null(strstr(out.data, "\nfield.text = /body\n"));
    assert_non_null(strstr(out.data, "# restart-only: [daemon] name, "));
    assert_non_null(strstr(out.data, "\nspool_dir = \n"));
    buf_free(&out);
    config_free(c);
}

/* instances = a, b: a source per instance, "<name>@<host>", its base URL,
 * its own token (token_file with {instance}, or the credential of its
 * name); what cannot be one is named. */
static void mastodon_instances(void **state)
{
    struct errlist errs = {0};
    struct config *c;
    const struct source_conf *a, *b, *x;
    char text[2048], dir[600];
    (void)state;

    write_temp("masto-a.example.token", "token-of-a\n");
    write_temp("masto-127.0.0.1:8080.token", "token-of-local\n");
    snprintf(dir, sizeof dir, "%s", write_temp("masto-a.example.token", "token-of-a\n"));
    *strrchr(dir, '/') = '\0';
    snprintf(text, sizeof text,
             "[source \"masto\"]\ntype = mastodon\ninstances = a.example, http://127.0.0.1:8080\n"
             "stream = hashtag:nordvik\npoll_interval = 15\ntoken_file = %s/masto-{instance}.token\n"
             "[source \"x\"]\ntype = ndjson\nurl = http://127.0.0.1:1/feed\n", dir);
    c = config_load(load_path("m0.conf", text), &errs);
    assert_int_equal(errs.n, 0);
    assert_non_null(c);
    assert_int_equal(c->nsources, 3);
    a = config_source(c, "masto@a.example");
    b = config_source(c, "masto@127.0.0.1:8080");
    x = config_source(c, "x");
    assert_true(a && b && x);
    assert_ptr_equal(c->sources, a);    /* in the order written */
    assert_ptr_equal(a->next, b);
    assert_ptr_equal(b->next, x);
    assert_string_equal(a->url, "https://a.example");
    assert_string_equal(b->url, "http://127.0.0.1:8080");
    assert_string_equal(a->token, "token-of-a");
    assert_string_equal(b->token, "token-of-local");
    assert_null(config_source(c, "masto"));
    config_free(c);

    /* one token file for two instances, url beside instances, a path */
    snprintf(text, sizeof text,
             "[source \"m\"]\ntype = mastodon\ninstances = a.example, b.example\ntoken_file = %s/masto-a.example.token\n"
             "[source \"n\"]\ntype = mastodon\ninstances = a.example\nurl = https://a.example\n"
             "[source \"o\"]\ntype = mastodon\ninstances = https://a.example/api/v1\n", dir);
    assert_null(config_load(load_path("m1.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, "token_file = ") && ERRLIST_HAS(&errs, "put {instance} in the path"));
    assert_true(ERRLIST_HAS(&errs, "give either url (one instance) or instances, not both"));
    assert_true(ERRLIST_HAS(&errs, "'https://a.example/api/v1' is not a host or a base URL"));
    errlist_free(&errs);

    /* credentials by the source's name; a stream given as a url takes no stream key */
    write_temp("m2@b.example", "token-from-credential\n");
    setenv("CREDENTIALS_DIRECTORY", dir, 1);
    c = config_load(load_path("m2.conf", "[source \"m2\"]\ntype = mastodon\ninstances = b.example\n"), &errs);
    assert_non_null(c);
    assert_string_equal(config_source(c, "m2@b.example")->token, "token-from-credential");
    config_free(c);
    unsetenv("CREDENTIALS_DIRECTORY");
    snprintf(text, sizeof text, "[source \"m3\"]\ntype = mastodon\nurl = https://a.example/api/v1/streaming/public\n"
             "stream = user\ntoken_file = %s/masto-a.example.token\n", dir);
    assert_null(config_load(load_path("m3.conf", text), &errs));
    assert_true(ERRLIST_HAS(&errs, "the url names a stream already"));
    errlist_free(&errs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(minimal_and_defaults),
        cmocka_unit_test(errors_name_file_and_line),
        cmocka_unit_test(redis_urls_and_secrets),
        cmocka_unit_test(framing_by_type),
        cmocka_unit_test(keys_of_the_type),
        cmocka_unit_test(reload_equality),
        cmocka_unit_test(jetstream_sources),
        cmocka_unit_test(mastodon_instances),
        cmocka_unit_test(delivery_settings),
        cmocka_unit_test(alerting_settings),
        cmocka_unit_test(source_count_is_capped),
        cmocka_unit_test(every_key_bad_value),
        cmocka_unit_test(restart_keys_kept),
        cmocka_unit_test(dump_hides_secrets),
    };
    return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
