/* config: the one settings struct, loaded from mentiond.conf (INI).
 *
 * Table-driven (as Redis's config.c): every key has a type, bounds and a
 * documented default in one table.  Unknown sections and keys, bad values and
 * missing files are errors naming file:line; all errors of a file are
 * collected so `mentiond -t` lists them at once.  A config is built whole and
 * then swapped in (reload), never half-applied.  Owner: the caller of
 * config_load(); config_free() accepts NULL.
 */
#ifndef MENTIOND_CONFIG_H
#define MENTIOND_CONFIG_H

#include "pii.h"
#include "util.h"

/* Fields a generic (ndjson/file) source can map from JSON pointers. */
#define CONFIG_POST_FIELDS(X)                                      \
    X(id, "/id") X(text, "/text") X(lang, "/lang")                 \
    X(created_at, "/created_at") X(url, "/url")                    \
    X(author_id, "/author/id") X(author_handle, "/author/handle")  \
    X(author_name, "/author/name")                                 \
    X(author_followers, "/author/followers")                       \
    X(author_verified, "/author/verified")                         \
    X(conversation_id, "/conversation_id")                         \
    X(in_reply_to, "/in_reply_to")

enum post_field {
#define X(name, def) PF_##name,
    CONFIG_POST_FIELDS(X)
#undef X
    PF_COUNT
};
extern const char *const post_field_names[PF_COUNT];
extern const char *const post_field_defaults[PF_COUNT];

#define CONFIG_MAX_SOURCES 10000        /* streams in one process (target: 1,000+) */
#define CONFIG_MAX_GROUPS 16            /* [redis] stream_groups */
#define CONFIG_MAX_KEYS 96              /* entries of the global key table (checked at build) */
#define CONFIG_MAX_SOURCE_KEYS 32       /* a section's keys: every source's, its type's, its format's */

struct source_driver;
struct source_pending;

/* Handles as configured: lower case for matching, and as written (no '@'). */
struct handle_list {
    char **lower;
    char **shown;
    int n;
};

/* One [source "NAME"] section.  The keys of every source first; then the
 * fields of the keys each type's driver declares (source_TYPE.c). */
struct source_conf {
    char *name;
    const struct source_driver *driver; /* by type; NULL until a valid type is read */
    const struct source_driver *format_driver; /* file sources: the format's */
    char *type_name;            /* as written */
    char *url;                  /* network sources */
    char *path;                 /* file source */
    char *format;               /* decoder for file sources (x_v2, x_v1, mastodon, ndjson, sse) */
    char *framing_name;         /* lines | length | sse, as written (NULL: by type) */
    int framing;                /* enum framing_mode, resolved at validation */
    char *events;               /* sse: event names whose data is a post */
    char *token_file;
    char *token;                /* secret, loaded at validation; never logged */
    long long stall_timeout;    /* seconds */
    long long quiet_timeout;    /* seconds open without a post while its rate says otherwise; 0: off */
    long long connect_timeout;  /* seconds */
    long long max_record;       /* bytes */
    long long max_depth;
    long long rate;             /* file source: records per second, 0 = unpaced */
    long long interval;         /* rss: seconds between polls */
    char *collections;          /* jetstream: wantedCollections (list) */
    char *dids;                 /* jetstream: wantedDids (list; dids_file's added at load) */
    char *dids_file;            /* jetstream: more DIDs, from a file */
    long long compress;         /* jetstream: zstd with the dictionary */
    char *dictionary;           /* jetstream: the zstd dictionary file */
    char *ca_file;              /* wss: CA bundle instead of the system's */
    char *field[PF_COUNT];      /* JSON pointers for generic decoders */
    int line;                   /* where the section starts, for messages */
    int key_line[CONFIG_MAX_SOURCE_KEYS]; /* where each key was set; 0: its default */
    int keys_applied;           /* the type's own keys are set (validation) */
    int expanded;               /* one of the sources an `instances` list made */
    void *own[2];               /* the type's and the format's own settings (source_own()) */
    struct source_pending *pending; /* the type's own keys as written, until then */
    struct source_conf *next;
};

enum redis_mode { REDIS_MODE_LIST, REDIS_MODE_STREAM };
enum durability { DURABILITY_MEMORY, DURABILITY_SPOOL };

struct config {
    char *path;
    int key_line[CONFIG_MAX_KEYS];      /* where each key was set; 0: its default */
    unsigned char key_bad[CONFIG_MAX_KEYS]; /* an error named this key */
    struct errlist warnings;            /* valid but worth saying (-t prints, the daemon logs) */
    /* [daemon] */
    char *name;
    char *rules;
    char *lexicons;
    long long log_level;
    long long syslog_facility;
    char *spool_dir;                    /* "" = no spool */
    long long durability;               /* enum durability */
    long long spool_max_bytes;
    long long spool_fsync;              /* enum spool_fsync (spool.h) */
    char *metrics_listen;
    long long accents_fold;
    long long shutdown_timeout;         /* seconds */
    long long workers;                  /* decode-and-match threads; 0: on the loop thread */
    long long status_interval;          /* seconds between summary log lines */
    long long heartbeat_interval;       /* seconds between <prefix>:instance:<name> updates; 0: none */
    char *fleet;                        /* "" = not in a fleet: every source runs here (fleet.h) */
    long long lease_ttl;                /* seconds a source's lease lasts unrenewed */
    /* [redis] */
    char *redis_url;
    char *redis_username;               /* ACL user, "" = default */
    char *redis_password_file;
    char *key_prefix;
    long long redis_mode;               /* enum redis_mode */
    char *stream_groups;                /* consumer groups created on each stream key (list) */
    int ngroups;
    long long dedup_ttl;
    long long max_queue_length;
    long long buffer_alerts;            /* memory buffer while Redis is away */
    long long max_inflight;
    long long redis_connect_timeout;    /* ms */
    long long redis_command_timeout;    /* ms */
    long long redis_cluster;            /* on: a Redis Cluster, url one of its nodes */
    char *cluster_nodes;                /* more seed nodes: "host:port, host:port" */
    char *rules_key;                    /* Redis hash of extra rules, "" = off */
    long long rules_poll_interval;      /* ms */
    /* derived from redis_url */
    char *redis_unix;                   /* socket path, or NULL for TCP */
    char *redis_host;                   /* numeric address */
    int redis_port;
    int redis_db;
    char *redis_password;               /* secret */
    /* [priority] (the scoring model; README "Priority") */
    char *reach_followers;              /* as written: "1000, 10000, ..." */
    long long reach[8];                 /* parsed thresholds, ascending */
    int nreach;
    long long reach_points;
    long long verified_points;
    long long urgency_points;
    long long negative_points;
    long long terms_max;                /* lexicon terms counted per list */
    long long urgency_escalate_followers;
    long long pii_level;
    char *account_pattern;              /* as written, comma-separated shapes */
    struct pii_patterns accounts;       /* parsed */
    long long repeat_window, repeat_count, repeat_points;
    long long spread_window, spread_count, spread_points;
    long long dedup_window;
    long long author_history, author_history_ttl;
    long long canned_count, canned_window;
    char *canned_queue;
    char *own_handles;                  /* [daemon], as written */
    struct handle_list own_list;        /* parsed */
    long long imp_window;               /* seconds a complaint to an own handle is remembered */
    char *imp_queue;                    /* "" = the post's rule's queue, else default */
    char *imp_allow_handles;            /* as written */
    struct handle_list imp_allow;       /* parsed: the brand's other accounts, never flagged */
    long long imp_new_days;             /* an account younger than this is new; 0 = not judged */
    /* [alerting]: surges, viral posts and on-call (README "Spikes and paging") */
    char *alertmanager_url;             /* "" = off */
    char *pagerduty_url;
    char *pagerduty_routing_key_file;
    char *webhook_url;                  /* "" = off; or webhook_url_file */
    char *webhook_url_file;
    char *incident_queue;
    long long spike_queues;
    long long spike_window, spike_sensitivity, spike_min_count, spike_min_ratio;
    long long spike_baseline, spike_warmup, spike_resolve, escalate_ratio;
    long long spike_save_interval;
    long long incident_cooldown, max_pages_per_hour;
    long long viral_shares, viral_window;
    long long notify_timeout, notify_retries, notify_queue, resend_interval;
    /* derived: secrets, loaded at validation, never logged */
    char *pagerduty_key;                /* NULL = PagerDuty off */
    char *webhook;                      /* NULL = webhook off */

    struct source_conf *sources;
    int nsources;
};

/* Load and validate: everything the start needs checked here, so `-t`, the
 * start and a reload accept and refuse the same files (values, ranges,
 * addresses, files that must exist, directories that must be creatable,
 * secrets).  Returns NULL and fills errs ("file:line: [section] key = value:
 * why"; a key left at a bad default says "(the default)" instead of a line). */
struct config *config_load(const char *path, struct errlist *errs);
/* The same checks, but the configuration comes back even when some failed
 * (NULL only if the file cannot be read or without memory), so that -t and
 * the start can check the rule files too and report every error in one
 * round.  Never run a daemon on it with errors. */
struct config *config_parse(const char *path, struct errlist *errs);
/* Whether the keys the rules are loaded with (rules, lexicons, accents)
 * passed their checks. */
int config_rules_usable(const struct config *c);
void config_free(struct config *c);
/* Every key at its default, no sources: for --replay without -c, and tests. */
struct config *config_defaults_new(void);
const struct source_conf *config_source(const struct config *c, const char *name);
/* Deep copy, so a running source outlives the config it came from. */
struct source_conf *source_conf_dup(const struct source_conf *s);
void source_conf_free(struct source_conf *s);
/* 1 if two source sections would open the same connection. */
/* Split "a, b c" on commas and blanks (items up to 255 bytes); fn gets
 * each item. */
void config_split_list(const char *s, void (*fn)(void *, const char *), void *ctx);
/* A cluster's seed nodes: the url's host and port, then cluster_nodes',
 * each resolved to a numeric address (as at load time; a name that no
 * longer resolves is left out, with a warning). */
void config_cluster_seeds(const struct config *c, void (*fn)(void *ctx, const char *host, int port), void *ctx);
int source_conf_equal(const struct source_conf *a, const struct source_conf *b);

/* The key table, for tests and the running configuration's dump. */
enum config_key_kind { CK_GLOBAL, CK_SOURCE };
struct config_key_info {
    const char *section, *key;          /* section "source" for [source "NAME"] keys */
    const char *type;                   /* a type's own key: the type; NULL: every source's */
    const char *def;                    /* NULL: required or unset */
    int is_int;                         /* with its range: */
    long long min, max;
    int restart;                        /* a reload keeps the running value */
    int secret;                         /* never printed */
};
/* The nth key of a table; -1 past its end. */
int config_key_info(enum config_key_kind kind, size_t n, struct config_key_info *out);

/* A reload keeps every restart-only key (and what is derived from it: the
 * resolved Redis address, secrets read from files) at its running value:
 * copies it from running into next.  Returns how many had changed in the
 * file and names them in out ("[redis] url, [daemon] workers"). */
int config_keep_restart(struct config *next, const struct config *running, char *out, size_t outlen);

/* The configuration as INI text (every key, secrets hidden), for GET /config. */
struct buf;
void config_dump(const struct config *c, struct buf *out);

#endif
