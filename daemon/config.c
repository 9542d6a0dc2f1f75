/* config: table-driven INI configuration; see config.h. */
#include "config.h"
#include "framing.h"
#include "inifile.h"
#include "log.h"
#include "rules.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

const char *const post_field_names[PF_COUNT] = {
#define X(name, def) #name,
    CONFIG_POST_FIELDS(X)
#undef X
};

const char *const post_field_defaults[PF_COUNT] = {
#define X(name, def) def,
    CONFIG_POST_FIELDS(X)
#undef X
};

enum ctype { CT_STR, CT_INT, CT_BOOL, CT_LOGLEVEL, CT_FACILITY, CT_ACCENTS, CT_MODE, CT_DURABILITY, CT_FSYNC,
             CT_SRCTYPE, CT_LEVEL };

/* Keys with a fixed set of words: the value stored is the word's index,
 * in the order of the matching enum. */
static const char *const choices[][4] = {
    [CT_ACCENTS] = {"keep", "fold"},
    [CT_MODE] = {"list", "stream"},                     /* enum redis_mode */
    [CT_DURABILITY] = {"memory", "spool"},              /* enum durability */
    [CT_FSYNC] = {"never", "second", "always"},         /* enum spool_fsync */
};
static const char *const choice_errors[] = {
    [CT_ACCENTS] = "expected keep or fold",
    [CT_MODE] = "expected list or stream",
    [CT_DURABILITY] = "expected memory or spool",
    [CT_FSYNC] = "expected never, second or always",
};

struct ckey {
    const char *section;        /* "daemon", "redis", "alerting", "source" */
    const char *key;
    enum ctype type;
    size_t off;                 /* into struct config, or struct source_conf */
    const char *def;            /* default, parsed like a value; NULL = unset */
    long long min, max;
};

#define C(f) offsetof(struct config, f)
#define S(f) offsetof(struct source_conf, f)
static const struct ckey keys[] = {
    {"daemon", "name", CT_STR, C(name), "mentiond-1", 0, 0},
    {"daemon", "rules", CT_STR, C(rules), "/etc/mentiond/rules.d/*.rules", 0, 0},
    {"daemon", "lexicons", CT_STR, C(lexicons), "/etc/mentiond/lexicons", 0, 0},
    {"daemon", "log_level", CT_LOGLEVEL, C(log_level), "info", 0, 0},
    {"daemon", "syslog_facility", CT_FACILITY, C(syslog_facility), "daemon", 0, 0},
    {"daemon", "spool_dir", CT_STR, C(spool_dir), "/var/lib/mentiond/spool", 0, 0},
    {"daemon", "durability", CT_DURABILITY, C(durability), "memory", 0, 0},
    {"daemon", "spool_max_bytes", CT_INT, C(spool_max_bytes), "1073741824", 1048576, 1LL << 40},
    {"daemon", "spool_fsync", CT_FSYNC, C(spool_fsync), "second", 0, 0},
    {"daemon", "metrics_listen", CT_STR, C(metrics_listen), "127.0.0.1:9187", 0, 0},
    {"daemon", "accents", CT_ACCENTS, C(accents_fold), "keep", 0, 0},
    {"daemon", "shutdown_timeout", CT_INT, C(shutdown_timeout), "5", 0, 300},
    {"daemon", "status_interval", CT_INT, C(status_interval), "60", 0, 86400},
    {"daemon", "heartbeat_interval", CT_INT, C(heartbeat_interval), "10", 0, 3600},
    {"daemon", "own_handles", CT_STR, C(own_handles), "", 0, 0},
    {"daemon", "workers", CT_INT, C(workers), "0", 0, 8},
    {"priority", "reach_followers", CT_STR, C(reach_followers), "1000, 10000, 100000, 1000000", 0, 0},
    {"priority", "reach_points", CT_INT, C(reach_points), "4", 0, 100},
    {"priority", "verified_points", CT_INT, C(verified_points), "3", 0, 100},
    {"priority", "urgency_points", CT_INT, C(urgency_points), "6", 0, 100},
    {"priority", "negative_points", CT_INT, C(negative_points), "3", 0, 100},
    {"priority", "terms_max", CT_INT, C(terms_max), "2", 0, 10},
    {"priority", "urgency_escalate_followers", CT_INT, C(urgency_escalate_followers), "10000", 0, 1000000000000LL},
    {"priority", "pii_level", CT_LEVEL, C(pii_level), "high", 0, 0},
    {"priority", "account_pattern", CT_STR, C(account_pattern), "", 0, 0},
    {"priority", "repeat_window", CT_INT, C(repeat_window), "3600", 1, 604800},
    {"priority", "repeat_count", CT_INT, C(repeat_count), "3", 2, 1000},
    {"priority", "repeat_points", CT_INT, C(repeat_points), "5", 0, 100},
    {"priority", "spread_window", CT_INT, C(spread_window), "900", 1, 604800},
    {"priority", "spread_count", CT_INT, C(spread_count), "10", 2, 1000000},
    {"priority", "spread_points", CT_INT, C(spread_points), "8", 0, 100},
    {"priority", "dedup_window", CT_INT, C(dedup_window), "3600", 1, 604800},
    {"priority", "author_history", CT_INT, C(author_history), "20", 1, 1000},
    {"priority", "author_history_ttl", CT_INT, C(author_history_ttl), "604800", 60, 31536000},
    {"priority", "canned_reply_count", CT_INT, C(canned_count), "3", 2, 1000},
    {"priority", "canned_reply_window", CT_INT, C(canned_window), "3600", 60, 604800},
    {"priority", "canned_reply_queue", CT_STR, C(canned_queue), "default", 0, 0},
    {"redis", "url", CT_STR, C(redis_url), "redis://127.0.0.1:6379/0", 0, 0},
    {"redis", "username", CT_STR, C(redis_username), "", 0, 0},
    {"redis", "password_file", CT_STR, C(redis_password_file), "", 0, 0},
    {"redis", "key_prefix", CT_STR, C(key_prefix), "mentiond", 0, 0},
    {"redis", "mode", CT_MODE, C(redis_mode), "list", 0, 0},
    {"redis", "stream_groups", CT_STR, C(stream_groups), "", 0, 0},
    {"redis", "dedup_ttl", CT_INT, C(dedup_ttl), "86400", 1, 31536000},
    {"redis", "max_queue_length", CT_INT, C(max_queue_length), "1000000", 1, 1000000000},
    {"redis", "buffer_alerts", CT_INT, C(buffer_alerts), "100000", 1, 100000000},
    {"redis", "max_inflight", CT_INT, C(max_inflight), "1000", 1, 1000000},
    {"redis", "connect_timeout_ms", CT_INT, C(redis_connect_timeout), "2000", 10, 600000},
    {"redis", "command_timeout_ms", CT_INT, C(redis_command_timeout), "5000", 10, 600000},
    {"redis", "rules_key", CT_STR, C(rules_key), "", 0, 0},
    {"redis", "rules_poll_ms", CT_INT, C(rules_poll_interval), "1000", 100, 60000},
    {"alerting", "alertmanager_url", CT_STR, C(alertmanager_url), "", 0, 0},
    {"alerting", "pagerduty_url", CT_STR, C(pagerduty_url), "https://events.pagerduty.com/v2/enqueue", 0, 0},
    {"alerting", "pagerduty_routing_key_file", CT_STR, C(pagerduty_routing_key_file), "", 0, 0},
    {"alerting", "webhook_url", CT_STR, C(webhook_url), "", 0, 0},
    {"alerting", "webhook_url_file", CT_STR, C(webhook_url_file), "", 0, 0},
    {"alerting", "queue", CT_STR, C(incident_queue), "incidents", 0, 0},
    {"alerting", "spike_queues", CT_BOOL, C(spike_queues), "off", 0, 0},
    {"alerting", "spike_window", CT_INT, C(spike_window), "60", 10, 3600},
    {"alerting", "spike_sensitivity", CT_INT, C(spike_sensitivity), "5", 1, 100},
    {"alerting", "spike_min_count", CT_INT, C(spike_min_count), "20", 1, 1000000000},
    {"alerting", "spike_min_ratio", CT_INT, C(spike_min_ratio), "2", 1, 1000},
    {"alerting", "spike_baseline", CT_INT, C(spike_baseline), "3600", 60, 604800},
    {"alerting", "spike_warmup", CT_INT, C(spike_warmup), "900", 0, 86400},
    {"alerting", "spike_resolve", CT_INT, C(spike_resolve), "120", 1, 86400},
    {"alerting", "escalate_ratio", CT_INT, C(escalate_ratio), "2", 2, 1000},
    {"alerting", "cooldown", CT_INT, C(incident_cooldown), "1800", 0, 86400},
    {"alerting", "max_pages_per_hour", CT_INT, C(max_pages_per_hour), "20", 0, 100000},
    {"alerting", "viral_shares", CT_INT, C(viral_shares), "500", 0, 1000000000},
    {"alerting", "viral_window", CT_INT, C(viral_window), "900", 60, 86400},
    {"alerting", "notify_timeout", CT_INT, C(notify_timeout), "10", 1, 300},
    {"alerting", "notify_retries", CT_INT, C(notify_retries), "6", 0, 100},
    {"alerting", "notify_queue", CT_INT, C(notify_queue), "256", 1, 100000},
    {"alerting", "resend_interval", CT_INT, C(resend_interval), "60", 5, 3600},
    {"source", "type", CT_SRCTYPE, S(type), NULL, 0, 0},
    {"source", "url", CT_STR, S(url), NULL, 0, 0},
    {"source", "path", CT_STR, S(path), NULL, 0, 0},
    {"source", "format", CT_STR, S(format), NULL, 0, 0},
    {"source", "framing", CT_STR, S(framing_name), NULL, 0, 0},
    {"source", "events", CT_STR, S(events), "message", 0, 0},
    {"source", "token_file", CT_STR, S(token_file), NULL, 0, 0},
    {"source", "stall_timeout", CT_INT, S(stall_timeout), "30", 1, 3600},
    {"source", "connect_timeout", CT_INT, S(connect_timeout), "10", 1, 600},
    {"source", "max_record", CT_INT, S(max_record), "1048576", 1024, 64 * 1024 * 1024},
    {"source", "max_depth", CT_INT, S(max_depth), "64", 2, 256},
    {"source", "rate", CT_INT, S(rate), "0", 0, 10000000},
    {"source", "backfill_minutes", CT_INT, S(backfill_minutes), "0", 0, 5},
    {"source", "interval", CT_INT, S(interval), "300", 1, 86400},
    {"source", "collections", CT_STR, S(collections), "app.bsky.feed.post", 0, 0},
    {"source", "dids", CT_STR, S(dids), "", 0, 0},
    {"source", "dids_file", CT_STR, S(dids_file), NULL, 0, 0},
    {"source", "compress", CT_BOOL, S(compress), "off", 0, 0},
    {"source", "dictionary", CT_STR, S(dictionary), NULL, 0, 0},
    {"source", "ca_file", CT_STR, S(ca_file), NULL, 0, 0},
};
#undef C
#undef S
#define NKEYS ARRAY_LEN(keys)

struct loader {
    struct config *c;
    struct errlist *errs;
    struct source_conf *cur;            /* source section being read */
    unsigned char seen[NKEYS];          /* global keys already set */
    unsigned char *src_seen;            /* per current source, NKEYS */
    unsigned char field_seen[PF_COUNT];
    int too_many;                       /* sources over the cap: said once */
};

static void *field_ptr(void *base, size_t off)
{
    return (char *)base + off;
}

/* Parse one value into its field.  Returns NULL or a static reason. */
static const char *ckey_set(const struct ckey *k, void *base, const char *v)
{
    long long n;
    int r;

    switch (k->type) {
    case CT_STR: {
        char **p = field_ptr(base, k->off), *dup = xstrdup_try(v);
        if (!dup)
            return "out of memory";
        free(*p);
        *p = dup;
        return NULL;
    }
    case CT_INT:
        if (parse_ll(v, k->min, k->max, &n))
            return "expected an integer in range";
        *(long long *)field_ptr(base, k->off) = n;
        return NULL;
    case CT_BOOL:
        if (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true") || !strcmp(v, "1"))
            n = 1;
        else if (!strcmp(v, "off") || !strcmp(v, "no") || !strcmp(v, "false") || !strcmp(v, "0"))
            n = 0;
        else
            return "expected on or off";
        *(long long *)field_ptr(base, k->off) = n;
        return NULL;
    case CT_LOGLEVEL:
        if ((r = log_level_parse(v)) < 0)
            return "expected debug, info, notice, warning or err";
        *(long long *)field_ptr(base, k->off) = r;
        return NULL;
    case CT_FACILITY:
        if ((r = log_facility_parse(v)) < 0)
            return "expected daemon, user or local0..local7";
        *(long long *)field_ptr(base, k->off) = r;
        return NULL;
    case CT_ACCENTS:
    case CT_MODE:
    case CT_DURABILITY:
    case CT_FSYNC:
        for (r = 0; r < (int)ARRAY_LEN(choices[0]) && choices[k->type][r]; r++)
            if (strcmp(v, choices[k->type][r]) == 0) {
                *(long long *)field_ptr(base, k->off) = r;
                return NULL;
            }
        return choice_errors[k->type];
    case CT_LEVEL:
        if ((r = level_parse(v)) < 0)
            return "expected critical, high, normal or low";
        *(long long *)field_ptr(base, k->off) = r;
        return NULL;
    case CT_SRCTYPE: {
        struct source_conf *s = base;
        int t = source_type_parse(v);
        if (t < 0)
            return "expected x_v2, x_v1, mastodon, jetstream, ndjson, sse, rss or file";
        char *dup = xstrdup_try(v);
        if (!dup)
            return "out of memory";
        s->type = (enum source_type)t;
        free(s->type_name);
        s->type_name = dup;
        return NULL;
    }
    }
    return "internal: unknown key type";
}

static const char *const source_type_names[] = {
    [SRC_X_V2] = "x_v2", [SRC_X_V1] = "x_v1", [SRC_MASTODON] = "mastodon", [SRC_NDJSON] = "ndjson",
    [SRC_SSE] = "sse", [SRC_JETSTREAM] = "jetstream", [SRC_RSS] = "rss", [SRC_FILE] = "file",
};

int source_type_parse(const char *name)
{
    for (size_t i = 0; i < ARRAY_LEN(source_type_names); i++)
        if (strcmp(name, source_type_names[i]) == 0)
            return (int)i;
    return -1;
}

static const struct ckey *ckey_find(const char *section, const char *key, size_t *idx)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].section, section) == 0 && strcmp(keys[i].key, key) == 0) {
            *idx = i;
            return &keys[i];
        }
    return NULL;
}

/* The defaults of one section's keys ("source" or every other); -1 if out
 * of memory (the defaults themselves are valid). */
static int config_defaults(void *base, int source)
{
    for (size_t i = 0; i < NKEYS; i++)
        if ((strcmp(keys[i].section, "source") == 0) == source && (!source || keys[i].def) &&
            ckey_set(&keys[i], base, keys[i].def))
            return -1;
    return 0;
}

/* A new source section, appended; NULL if out of memory. */
static struct source_conf *source_new(struct loader *ld, const char *name, int line)
{
    struct source_conf *s = xcalloc_try(1, sizeof *s), **tail;

    if (!s)
        return NULL;
    s->type = (enum source_type)-1;
    s->line = line;
    if (!(s->name = xstrdup_try(name)) || config_defaults(s, 1) < 0) {
        source_conf_free(s);
        return NULL;
    }
    for (tail = &ld->c->sources; *tail; tail = &(*tail)->next)
        ;
    *tail = s;
    ld->c->nsources++;
    return s;
}

void source_conf_free(struct source_conf *s)
{
    if (!s)
        return;
    free(s->name);
    free(s->type_name);
    free(s->url);
    free(s->path);
    free(s->format);
    free(s->framing_name);
    free(s->events);
    free(s->collections);
    free(s->dids);
    free(s->dids_file);
    free(s->dictionary);
    free(s->ca_file);
    free(s->token_file);
    if (s->token) {
        explicit_bzero(s->token, strlen(s->token));
        free(s->token);
    }
    for (int i = 0; i < PF_COUNT; i++)
        free(s->field[i]);
    free(s);
}

static int valid_name(const char *n)
{
    size_t len = strlen(n);
    if (len == 0 || len > 64)
        return 0;
    for (; *n; n++)
        if (!isalnum((unsigned char)*n) && *n != '-' && *n != '_' && *n != '.')
            return 0;
    return 1;
}

/* "source \"x-main\"" -> x-main; NULL if not a source header. */
static int parse_source_header(const char *section, char *name, size_t namelen)
{
    const char *p, *q;

    if (strncmp(section, "source", 6) != 0 || (section[6] != ' ' && section[6] != '\t'))
        return -1;
    p = section + 6;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p != '"' || !(q = strchr(p + 1, '"')) || q[1] != '\0')
        return -1;
    if ((size_t)(q - p - 1) >= namelen)
        return -1;
    memcpy(name, p + 1, (size_t)(q - p - 1));
    name[q - p - 1] = '\0';
    return 0;
}

static int loader_source_key(struct loader *ld, const char *file, int line,
                             const char *key, const char *value)
{
    size_t idx;
    const struct ckey *k;
    const char *why;

    if (strncmp(key, "field.", 6) == 0) {
        for (int i = 0; i < PF_COUNT; i++)
            if (strcmp(key + 6, post_field_names[i]) == 0) {
                if (value[0] != '/' && value[0] != '\0') {
                    errlist_add(ld->errs, "%s:%d: %s: a JSON pointer starts with '/'", file, line, key);
                    return -1;
                }
                char *dup = xstrdup_try(value);
                if (!dup) {
                    errlist_add(ld->errs, "%s:%d: %s: out of memory", file, line, key);
                    return -1;
                }
                free(ld->cur->field[i]);
                ld->cur->field[i] = dup;
                return 0;
            }
        errlist_add(ld->errs, "%s:%d: unknown field '%s' in [source \"%s\"]", file, line,
                    key + 6, ld->cur->name);
        return -1;
    }
    k = ckey_find("source", key, &idx);
    if (!k) {
        errlist_add(ld->errs, "%s:%d: unknown key '%s' in [source \"%s\"]", file, line, key,
                    ld->cur->name);
        return -1;
    }
    if (ld->src_seen[idx]++) {
        errlist_add(ld->errs, "%s:%d: duplicate key '%s'", file, line, key);
        return -1;
    }
    if ((why = ckey_set(k, ld->cur, value))) {
        errlist_add(ld->errs, "%s:%d: %s = %s: %s", file, line, key, value, why);
        return -1;
    }
    return 0;
}

static int loader_key(void *ctx, const struct inifile_pos *pos, const char *section,
                      const char *key, const char *value)
{
    struct loader *ld = ctx;
    const char *file = pos->file;
    int line = pos->line;
    char name[80];
    size_t idx;
    const struct ckey *k;
    const char *why;

    if (parse_source_header(section, name, sizeof name) == 0) {
        if (!ld->cur || strcmp(ld->cur->name, name) != 0) {
            if (!valid_name(name)) {
                errlist_add(ld->errs, "%s:%d: source name '%s': use 1-64 letters, digits, '-', '_' or '.'",
                            file, line, name);
                return -1;
            }
            if (config_source(ld->c, name)) {
                errlist_add(ld->errs, "%s:%d: duplicate [source \"%s\"]", file, line, name);
                return -1;
            }
            if (ld->c->nsources >= CONFIG_MAX_SOURCES) {
                if (ld->c->nsources == CONFIG_MAX_SOURCES && !ld->too_many++)
                    errlist_add(ld->errs, "%s:%d: more than %d sources in one configuration", file, line,
                                CONFIG_MAX_SOURCES);
                return -1;
            }
            ld->cur = source_new(ld, name, pos->section_line ? pos->section_line : line);
            if (!ld->cur) {
                errlist_add(ld->errs, "%s:%d: [source \"%s\"]: out of memory", file, line, name);
                return -1;
            }
            memset(ld->src_seen, 0, NKEYS);
        }
        return loader_source_key(ld, file, line, key, value);
    }
    ld->cur = NULL;
    if (strcmp(section, "daemon") && strcmp(section, "redis") && strcmp(section, "alerting") &&
        strcmp(section, "priority")) {
        if (section[0] == '\0')
            errlist_add(ld->errs, "%s:%d: key '%s' outside any [section]", file, line, key);
        else
            errlist_add(ld->errs, "%s:%d: unknown section [%s]", file, line, section);
        return -1;
    }
    k = ckey_find(section, key, &idx);
    if (!k) {
        errlist_add(ld->errs, "%s:%d: unknown key '%s' in [%s]", file, line, key, section);
        return -1;
    }
    if (ld->seen[idx]++) {
        errlist_add(ld->errs, "%s:%d: duplicate key '%s' in [%s]", file, line, key, section);
        return -1;
    }
    if ((why = ckey_set(k, ld->c, value))) {
        errlist_add(ld->errs, "%s:%d: %s = %s: %s", file, line, key, value, why);
        return -1;
    }
    return 0;
}

/* A secret from a file, else from $CREDENTIALS_DIRECTORY/<cred>.  Returns
 * NULL with *missing = 1 when neither exists. */
static char *secret_load(const char *file, const char *cred, int *missing, char *err, size_t errlen)
{
    const char *dir = getenv("CREDENTIALS_DIRECTORY");
    char path[4096];

    *missing = 0;
    if (file && *file)
        return secret_read(file, err, errlen);
    if (dir && *dir) {
        snprintf(path, sizeof path, "%s/%s", dir, cred);
        if (access(path, F_OK) == 0)
            return secret_read(path, err, errlen);
    }
    *missing = 1;
    return NULL;
}

/* Resolve once at load time: hiredis 0.14 resolves synchronously inside the
 * event loop, so the sink only ever connects to a numeric address. */
static int resolve_host(const char *host, char **out)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res;
    char buf[INET6_ADDRSTRLEN];
    const void *addr;

    if (getaddrinfo(host, NULL, &hints, &res) != 0)
        return -1;
    if (res->ai_family == AF_INET)
        addr = &((struct sockaddr_in *)res->ai_addr)->sin_addr;
    else
        addr = &((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
    inet_ntop(res->ai_family, addr, buf, sizeof buf);
    freeaddrinfo(res);
    *out = xstrdup_try(buf);
    return *out ? 0 : -1;
}

static int parse_redis_url(struct config *c, const char *file, struct errlist *errs)
{
    const char *u = c->redis_url, *p, *slash, *colon, *q;
    long long n;
    char host[256];

    c->redis_db = 0;
    if (strncmp(u, "unix://", 7) == 0) {
        p = u + 7;
        q = strchr(p, '?');
        if (*p != '/') {
            errlist_add(errs, "%s: [redis] url = %s: a unix socket path must be absolute", file, u);
            return -1;
        }
        c->redis_unix = q ? xstrndup_try(p, (size_t)(q - p)) : xstrdup_try(p);
        if (!c->redis_unix) {
            errlist_add(errs, "%s: [redis] url: out of memory", file);
            return -1;
        }
        if (q) {
            if (strncmp(q, "?db=", 4) || parse_ll(q + 4, 0, 1000, &n)) {
                errlist_add(errs, "%s: [redis] url = %s: expected ?db=N after the path", file, u);
                return -1;
            }
            c->redis_db = (int)n;
        }
        return 0;
    }
    if (strncmp(u, "redis://", 8) != 0) {
        errlist_add(errs, "%s: [redis] url = %s: expected redis://host:port/db or unix:///path", file, u);
        return -1;
    }
    p = u + 8;
    if (strchr(p, '@')) {
        errlist_add(errs, "%s: [redis] url: credentials in the URL are not accepted; "
                    "use password_file or the redis-password credential", file);
        return -1;
    }
    slash = strchr(p, '/');
    if (slash && slash[1] && parse_ll(slash + 1, 0, 1000, &n) == 0)
        c->redis_db = (int)n;
    else if (slash && slash[1]) {
        errlist_add(errs, "%s: [redis] url = %s: bad database number", file, u);
        return -1;
    }
    if (*p == '[') {                    /* [::1]:6379 */
        q = strchr(p, ']');
        if (!q) {
            errlist_add(errs, "%s: [redis] url = %s: unterminated IPv6 address", file, u);
            return -1;
        }
        snprintf(host, sizeof host, "%.*s", (int)(q - p - 1), p + 1);
        colon = q[1] == ':' ? q + 1 : NULL;
    } else {
        size_t hl;
        colon = strchr(p, ':');
        if (colon && slash && colon > slash)
            colon = NULL;
        hl = colon ? (size_t)(colon - p) : slash ? (size_t)(slash - p) : strlen(p);
        snprintf(host, sizeof host, "%.*s", (int)hl, p);
    }
    c->redis_port = 6379;
    if (colon) {
        char port[16];
        size_t pl = slash ? (size_t)(slash - colon - 1) : strlen(colon + 1);
        snprintf(port, sizeof port, "%.*s", (int)pl, colon + 1);
        if (parse_ll(port, 1, 65535, &n)) {
            errlist_add(errs, "%s: [redis] url = %s: bad port", file, u);
            return -1;
        }
        c->redis_port = (int)n;
    }
    if (!host[0] || resolve_host(host, &c->redis_host)) {
        errlist_add(errs, "%s: [redis] url = %s: cannot resolve host '%s'", file, u, host);
        return -1;
    }
    return 0;
}

int source_framing_default(enum source_type t, int from_file, const char *url)
{
    if (t == SRC_RSS)
        return FRAMING_DOCUMENT;
    if (t == SRC_SSE || (t == SRC_MASTODON && !from_file))
        return FRAMING_SSE;
    if (t == SRC_X_V1 && url && strstr(url, "delimited=length"))
        return FRAMING_LENGTH;
    return FRAMING_LINES;
}

static void validate_framing(struct config *c, struct source_conf *s, struct errlist *errs)
{
    int m;

    if (s->framing_name) {
        if ((m = framing_mode_parse(s->framing_name)) < 0)
            errlist_add(errs, "%s:%d: [source \"%s\"]: framing = %s: expected lines, length, sse or document",
                        c->path, s->line, s->name, s->framing_name);
        s->framing = m < 0 ? FRAMING_LINES : m;
    } else if (s->type == SRC_FILE) {
        m = s->format ? source_type_parse(s->format) : SRC_X_V2;
        s->framing = source_framing_default(m < 0 ? SRC_X_V2 : (enum source_type)m, 1, NULL);
    } else {
        s->framing = source_framing_default(s->type, 0, s->url);
    }
}

static void count_item(void *ctx, const char *item)
{
    (void)item;
    (*(int *)ctx)++;
}

/* Jetstream: a ws:// or wss:// URL, filters within the server's limits
 * (100 collections, 10,000 DIDs), a dictionary for compress = on. */
static void validate_jetstream(struct config *c, struct source_conf *s, struct errlist *errs)
{
    const char *f = c->path;
    int ncoll = 0, ndids = 0;

    if (!s->url || (strncmp(s->url, "ws://", 5) && strncmp(s->url, "wss://", 6)))
        errlist_add(errs, "%s:%d: [source \"%s\"]: jetstream needs 'url' (ws:// or wss://, e.g. "
                    "wss://jetstream2.us-east.bsky.network/subscribe)", f, s->line, s->name);
    else if (strchr(s->url, '?'))
        errlist_add(errs, "%s:%d: [source \"%s\"]: give the filters as 'collections' and 'dids', "
                    "not in the url", f, s->line, s->name);
    if (s->path || s->format)
        errlist_add(errs, "%s:%d: [source \"%s\"]: 'path' and 'format' belong to file sources",
                    f, s->line, s->name);
    if (s->dids_file) {
        /* A long list lives in a file (one DID per line, or separated by
         * commas or blanks); it is read now, so a reload re-reads it. */
        char err[512];
        char *list = file_read_all(s->dids_file, 1024 * 1024, NULL, err, sizeof err);
        if (!list) {
            errlist_add(errs, "%s:%d: [source \"%s\"]: dids_file = %s: %s", f, s->line, s->name,
                        s->dids_file, err);
        } else {
            for (char *p = list; *p; p++)
                if (*p == '\n' || *p == '\r')
                    *p = ' ';
            if (*s->dids) {
                char *both = xmalloc_try(strlen(s->dids) + strlen(list) + 2);
                if (both)
                    sprintf(both, "%s %s", s->dids, list);
                else
                    errlist_add(errs, "%s:%d: [source \"%s\"]: dids_file: out of memory", f, s->line,
                                s->name);
                free(list);
                list = both;
            }
            if (list) {
                free(s->dids);
                s->dids = list;
            }
        }
    }
    config_split_list(s->collections, count_item, &ncoll);
    config_split_list(s->dids, count_item, &ndids);
    if (ncoll > 100)
        errlist_add(errs, "%s:%d: [source \"%s\"]: collections: %d given, Jetstream takes at most 100",
                    f, s->line, s->name, ncoll);
    if (ndids > 10000)
        errlist_add(errs, "%s:%d: [source \"%s\"]: dids: %d given, Jetstream takes at most 10000",
                    f, s->line, s->name, ndids);
    if (s->compress && (!s->dictionary || !*s->dictionary))
        errlist_add(errs, "%s:%d: [source \"%s\"]: compress = on needs 'dictionary' (Jetstream's zstd "
                    "dictionary file, see README)", f, s->line, s->name);
    else if (s->compress && access(s->dictionary, R_OK) != 0)
        errlist_add(errs, "%s:%d: [source \"%s\"]: dictionary = %s: %s", f, s->line, s->name,
                    s->dictionary, strerror(errno));
}

static void validate_source(struct config *c, struct source_conf *s, struct errlist *errs)
{
    const char *f = c->path;
    char err[512];
    int missing;

    if ((int)s->type < 0) {
        errlist_add(errs, "%s:%d: [source \"%s\"]: missing 'type'", f, s->line, s->name);
        return;
    }
    validate_framing(c, s, errs);
    if (s->type == SRC_FILE) {
        int ft;
        if (!s->path)
            errlist_add(errs, "%s:%d: [source \"%s\"]: type = file needs 'path'", f, s->line, s->name);
        if (!s->format && !(s->format = xstrdup_try("x_v2"))) {
            errlist_add(errs, "%s:%d: [source \"%s\"]: out of memory", f, s->line, s->name);
            return;
        }
        ft = source_type_parse(s->format);
        if (ft < 0 || ft == SRC_FILE)
            errlist_add(errs, "%s:%d: [source \"%s\"]: format = %s: expected x_v2, x_v1, mastodon, "
                        "ndjson or sse", f, s->line, s->name, s->format);
        if (s->url)
            errlist_add(errs, "%s:%d: [source \"%s\"]: a file source takes 'path', not 'url'",
                        f, s->line, s->name);
    } else if (s->type == SRC_JETSTREAM) {
        validate_jetstream(c, s, errs);
    } else {
        if (!s->url || (strncmp(s->url, "http://", 7) && strncmp(s->url, "https://", 8)))
            errlist_add(errs, "%s:%d: [source \"%s\"]: needs 'url' (http:// or https://)",
                        f, s->line, s->name);
        if (s->path || s->format)
            errlist_add(errs, "%s:%d: [source \"%s\"]: 'path' and 'format' belong to file sources",
                        f, s->line, s->name);
        s->token = secret_load(s->token_file, s->name, &missing, err, sizeof err);
        if (!s->token && !missing)
            errlist_add(errs, "%s:%d: [source \"%s\"]: token: %s", f, s->line, s->name, err);
        else if (!s->token && (s->type == SRC_X_V2 || s->type == SRC_MASTODON))
            errlist_add(errs, "%s:%d: [source \"%s\"]: %s needs a bearer token%s: set token_file "
                        "or provide the credential '%s' (LoadCredential=)", f, s->line, s->name,
                        s->type_name, s->type == SRC_MASTODON ? " (Mastodon 4.2+ refuses anonymous streaming)" : "",
                        s->name);
    }
    for (int i = 0; i < PF_COUNT; i++)
        if (!s->field[i] && !(s->field[i] = xstrdup_try(post_field_defaults[i]))) {
            errlist_add(errs, "%s:%d: [source \"%s\"]: out of memory", f, s->line, s->name);
            return;
        }
}

/* Split "a, b c" on commas and blanks; calls fn for each item. */
void config_split_list(const char *s, void (*fn)(void *, const char *), void *ctx)
{
    char item[256];

    while (*s) {
        size_t n;
        s += strspn(s, ", \t");
        n = strcspn(s, ", \t");
        if (n) {
            snprintf(item, sizeof item, "%.*s", (int)(n < sizeof item ? n : sizeof item - 1), s);
            fn(ctx, item);
        }
        s += n;
    }
}

struct list_ctx {
    struct config *c;
    struct errlist *errs;
};

static void add_reach(void *p, const char *item)
{
    struct list_ctx *lc = p;
    long long v;
    if (parse_ll(item, 1, 1000000000000LL, &v) || lc->c->nreach >= (int)ARRAY_LEN(lc->c->reach) ||
        (lc->c->nreach && v <= lc->c->reach[lc->c->nreach - 1])) {
        errlist_add(lc->errs, "%s: [priority] reach_followers: expected up to 8 ascending numbers, not '%s'",
                    lc->c->path, item);
        return;
    }
    lc->c->reach[lc->c->nreach++] = v;
}

static void add_account(void *p, const char *item)
{
    struct list_ctx *lc = p;
    const char *why = pii_shape_check(item);
    if (why || lc->c->accounts.n >= PII_MAX_PATTERNS) {
        errlist_add(lc->errs, "%s: [priority] account_pattern '%s': %s", lc->c->path, item,
                    why ? why : "too many patterns");
        return;
    }
    if (!(lc->c->accounts.shape[lc->c->accounts.n] = xstrdup_try(item))) {
        errlist_add(lc->errs, "%s: [priority] account_pattern: out of memory", lc->c->path);
        return;
    }
    lc->c->accounts.n++;
}

static void add_own(void *p, const char *item)
{
    struct list_ctx *lc = p;
    char *h = xstrdup_try(item[0] == '@' ? item + 1 : item);
    char **own = h ? xrealloc_try(lc->c->own, sizeof *lc->c->own * (size_t)(lc->c->nown + 1)) : NULL;

    if (!own) {
        free(h);
        errlist_add(lc->errs, "%s: [priority] own_handles: out of memory", lc->c->path);
        return;
    }
    for (char *c = h; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    lc->c->own = own;
    lc->c->own[lc->c->nown++] = h;
}

static void check_group(void *p, const char *item)
{
    struct list_ctx *lc = p;
    if (!valid_name(item))
        errlist_add(lc->errs, "%s: [redis] stream_groups: '%s': use 1-64 letters, digits, '-', '_' or '.'",
                    lc->c->path, item);
    lc->c->ngroups++;
}

/* [daemon] durability and the spool, [redis] mode and stream_groups. */
static void validate_delivery(struct config *c, struct errlist *errs)
{
    struct list_ctx lc = {c, errs};

    if (c->durability == DURABILITY_SPOOL && !c->spool_dir[0])
        errlist_add(errs, "%s: [daemon] durability = spool needs a spool_dir", c->path);
    if (c->spool_dir[0] && c->spool_dir[0] != '/')
        errlist_add(errs, "%s: [daemon] spool_dir = %s: use an absolute path", c->path, c->spool_dir);
    config_split_list(c->stream_groups, check_group, &lc);
    if (c->ngroups && c->redis_mode != REDIS_MODE_STREAM)
        errlist_add(errs, "%s: [redis] stream_groups is for mode = stream", c->path);
    if (c->ngroups > CONFIG_MAX_GROUPS)
        errlist_add(errs, "%s: [redis] stream_groups: %d groups, at most %d", c->path, c->ngroups,
                    CONFIG_MAX_GROUPS);
}

static int http_url(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

/* [alerting]: receivers' URLs and secrets. */
static void validate_alerting(struct config *c, struct errlist *errs)
{
    int missing;
    char err[512];

    if (c->alertmanager_url[0] && !http_url(c->alertmanager_url))
        errlist_add(errs, "%s: [alerting] alertmanager_url = %s: expected http:// or https://", c->path,
                    c->alertmanager_url);
    if (!http_url(c->pagerduty_url))
        errlist_add(errs, "%s: [alerting] pagerduty_url = %s: expected http:// or https://", c->path,
                    c->pagerduty_url);
    if (!valid_name(c->incident_queue))
        errlist_add(errs, "%s: [alerting] queue = %s: use 1-64 letters, digits, '-', '_' or '.'", c->path,
                    c->incident_queue);
    if (c->viral_shares == 1)
        errlist_add(errs, "%s: [alerting] viral_shares = 1: use 0 (off) or at least 2", c->path);
    c->pagerduty_key = secret_load(c->pagerduty_routing_key_file, "pagerduty-routing-key", &missing, err,
                                   sizeof err);
    if (!c->pagerduty_key && !missing)
        errlist_add(errs, "%s: [alerting] pagerduty_routing_key_file: %s", c->path, err);
    /* A chat webhook's URL is its secret: from a file, never logged. */
    if (c->webhook_url[0] && c->webhook_url_file[0])
        errlist_add(errs, "%s: [alerting] webhook_url and webhook_url_file: set one", c->path);
    if (c->webhook_url[0]) {
        if (!(c->webhook = xstrdup_try(c->webhook_url)))
            errlist_add(errs, "%s: [alerting] webhook_url: out of memory", c->path);
    } else {
        c->webhook = secret_load(c->webhook_url_file, "webhook-url", &missing, err, sizeof err);
        if (!c->webhook && !missing)
            errlist_add(errs, "%s: [alerting] webhook_url_file: %s", c->path, err);
    }
    if (c->webhook && !http_url(c->webhook))
        errlist_add(errs, "%s: [alerting] webhook URL: expected http:// or https://", c->path);
}

static void parse_priority(struct config *c, struct errlist *errs)
{
    struct list_ctx lc = {c, errs};
    config_split_list(c->reach_followers, add_reach, &lc);
    config_split_list(c->account_pattern, add_account, &lc);
    config_split_list(c->own_handles, add_own, &lc);
}

struct config *config_load(const char *path, struct errlist *errs)
{
    struct config *c = xcalloc_try(1, sizeof *c);
    struct loader ld = {.c = c, .errs = errs};
    unsigned char src_seen[NKEYS];
    int before = errs->n, missing;
    char err[512];

    if (!c || !(c->path = xstrdup_try(path)) || config_defaults(c, 0) < 0) {
        errlist_add(errs, "%s: out of memory", path);
        goto fail;
    }
    ld.src_seen = src_seen;
    if (inifile_parse(path, loader_key, &ld, errs) < 0)
        goto fail;
    if (!valid_name(c->name))
        errlist_add(errs, "%s: [daemon] name = %s: use 1-64 letters, digits, '-', '_' or '.'", path, c->name);
    for (struct source_conf *s = c->sources; s; s = s->next)
        validate_source(c, s, errs);
    parse_redis_url(c, path, errs);
    validate_delivery(c, errs);
    validate_alerting(c, errs);
    parse_priority(c, errs);
    c->redis_password = secret_load(c->redis_password_file, "redis-password", &missing, err, sizeof err);
    if (!c->redis_password && !missing)
        errlist_add(errs, "%s: [redis] password_file: %s", path, err);
    if (c->redis_username[0] && !c->redis_password)
        errlist_add(errs, "%s: [redis] username = %s needs a password (password_file or the redis-password "
                    "credential)", path, c->redis_username);
    if (errs->n > before)
        goto fail;
    return c;
fail:
    config_free(c);
    return NULL;
}

struct config *config_defaults_new(void)
{
    struct config *c = xcalloc(1, sizeof *c);
    struct errlist errs = {0};

    c->path = xstrdup("(defaults)");
    if (config_defaults(c, 0) < 0)
        abort();                        /* only without memory (xcalloc would have) */
    parse_priority(c, &errs);           /* the defaults are valid */
    errlist_free(&errs);
    return c;
}

void config_free(struct config *c)
{
    struct source_conf *s, *next;

    if (!c)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type == CT_STR && strcmp(keys[i].section, "source") != 0)
            free(*(char **)field_ptr(c, keys[i].off));
    for (s = c->sources; s; s = next) {
        next = s->next;
        source_conf_free(s);
    }
    for (int i = 0; i < c->accounts.n; i++)
        free(c->accounts.shape[i]);
    for (int i = 0; i < c->nown; i++)
        free(c->own[i]);
    free(c->own);
    free(c->path);
    free(c->redis_unix);
    free(c->redis_host);
    if (c->redis_password) {
        explicit_bzero(c->redis_password, strlen(c->redis_password));
        free(c->redis_password);
    }
    if (c->pagerduty_key) {
        explicit_bzero(c->pagerduty_key, strlen(c->pagerduty_key));
        free(c->pagerduty_key);
    }
    if (c->webhook) {
        explicit_bzero(c->webhook, strlen(c->webhook));
        free(c->webhook);
    }
    free(c);
}

const struct source_conf *config_source(const struct config *c, const char *name)
{
    for (const struct source_conf *s = c->sources; s; s = s->next)
        if (strcmp(s->name, name) == 0)
            return s;
    return NULL;
}

static int str_eq(const char *a, const char *b)
{
    if (!a || !b)
        return a == b;
    return strcmp(a, b) == 0;
}

int source_conf_equal(const struct source_conf *a, const struct source_conf *b)
{
    if (!str_eq(a->name, b->name) || a->type != b->type || !str_eq(a->url, b->url) ||
        !str_eq(a->path, b->path) || !str_eq(a->format, b->format) || a->framing != b->framing ||
        !str_eq(a->events, b->events) || !str_eq(a->collections, b->collections) ||
        !str_eq(a->dids, b->dids) || !str_eq(a->dids_file, b->dids_file) || a->compress != b->compress || !str_eq(a->dictionary, b->dictionary) ||
        !str_eq(a->ca_file, b->ca_file) ||
        !str_eq(a->token, b->token) || a->stall_timeout != b->stall_timeout ||
        a->connect_timeout != b->connect_timeout || a->max_record != b->max_record ||
        a->max_depth != b->max_depth || a->rate != b->rate || a->backfill_minutes != b->backfill_minutes ||
        a->interval != b->interval)
        return 0;
    for (int i = 0; i < PF_COUNT; i++)
        if (!str_eq(a->field[i], b->field[i]))
            return 0;
    return 1;
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct source_conf *source_conf_dup(const struct source_conf *s)
{
    struct source_conf *d = xmalloc(sizeof *d);

    *d = *s;
    d->name = dup_or_null(s->name);
    d->type_name = dup_or_null(s->type_name);
    d->url = dup_or_null(s->url);
    d->path = dup_or_null(s->path);
    d->format = dup_or_null(s->format);
    d->framing_name = dup_or_null(s->framing_name);
    d->events = dup_or_null(s->events);
    d->collections = dup_or_null(s->collections);
    d->dids = dup_or_null(s->dids);
    d->dids_file = dup_or_null(s->dids_file);
    d->dictionary = dup_or_null(s->dictionary);
    d->ca_file = dup_or_null(s->ca_file);
    d->token_file = dup_or_null(s->token_file);
    d->token = dup_or_null(s->token);
    for (int i = 0; i < PF_COUNT; i++)
        d->field[i] = dup_or_null(s->field[i]);
    d->next = NULL;
    return d;
}
