/* config: table-driven INI configuration; see config.h. */
#include "config.h"
#include "buf.h"
#include "config_key.h"
#include "framing.h"
#include "inifile.h"
#include "log.h"
#include "rules.h"
#include "source_driver.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <netdb.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
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

static const char *check_name(struct kcheck *k, const char *v);
static const char *check_glob(struct kcheck *k, const char *v);
static const char *check_lexicons(struct kcheck *k, const char *v);
static const char *check_spool_dir(struct kcheck *k, const char *v);
static const char *check_listen(struct kcheck *k, const char *v);
static const char *check_host_ports(struct kcheck *k, const char *v);
static const char *check_handles(struct kcheck *k, const char *v);
static const char *check_name_or_empty(struct kcheck *k, const char *v);
static const char *check_key_name(struct kcheck *k, const char *v);
static const char *check_word(struct kcheck *k, const char *v);
static const char *check_http(struct kcheck *k, const char *v);
static const char *check_http_or_empty(struct kcheck *k, const char *v);
static const char *check_file_or_empty(struct kcheck *k, const char *v);
static int carry_redis_address(struct config *next, const struct config *running);
static int carry_redis_password(struct config *next, const struct config *running);
static int carry_pagerduty_key(struct config *next, const struct config *running);
static int carry_webhook(struct config *next, const struct config *running);

#define R KEY_RESTART
#define C(f) offsetof(struct config, f)
#define S(f) offsetof(struct source_conf, f)
/* Every global key: its type, default, range, whether a reload applies it
 * (R: only a restart does) and what its value must satisfy.  The README's
 * configuration tables say the same, column for column. */
static const struct ckey keys[] = {
    {"daemon", "name", CT_STR, C(name), "mentiond-1", 0, 0, R, check_name, NULL},
    {"daemon", "rules", CT_STR, C(rules), "/etc/mentiond/rules.d/*.rules", 0, 0, 0, check_glob, NULL},
    {"daemon", "lexicons", CT_STR, C(lexicons), "/etc/mentiond/lexicons", 0, 0, 0, check_lexicons, NULL},
    {"daemon", "log_level", CT_LOGLEVEL, C(log_level), "info", 0, 0, 0, NULL, NULL},
    {"daemon", "syslog_facility", CT_FACILITY, C(syslog_facility), "daemon", 0, 0, R, NULL, NULL},
    {"daemon", "spool_dir", CT_STR, C(spool_dir), "/var/lib/mentiond/spool", 0, 0, R, check_spool_dir, NULL},
    {"daemon", "durability", CT_DURABILITY, C(durability), "memory", 0, 0, R, NULL, NULL},
    {"daemon", "spool_max_bytes", CT_INT, C(spool_max_bytes), "1073741824", 1048576, 1LL << 40, R, NULL, NULL},
    {"daemon", "spool_fsync", CT_FSYNC, C(spool_fsync), "second", 0, 0, R, NULL, NULL},
    {"daemon", "metrics_listen", CT_STR, C(metrics_listen), "127.0.0.1:9187", 0, 0, R, check_listen, NULL},
    {"daemon", "accents", CT_ACCENTS, C(accents_fold), "keep", 0, 0, 0, NULL, NULL},
    {"daemon", "shutdown_timeout", CT_INT, C(shutdown_timeout), "5", 0, 300, 0, NULL, NULL},
    {"daemon", "status_interval", CT_INT, C(status_interval), "60", 0, 86400, 0, NULL, NULL},
    {"daemon", "heartbeat_interval", CT_INT, C(heartbeat_interval), "10", 0, 3600, 0, NULL, NULL},
    {"daemon", "own_handles", CT_STR, C(own_handles), "", 0, 0, 0, check_handles, NULL},
    {"daemon", "impersonation_window", CT_INT, C(imp_window), "86400", 60, 2592000, 0, NULL, NULL},
    {"daemon", "impersonation_queue", CT_STR, C(imp_queue), "", 0, 0, 0, check_name_or_empty, NULL},
    {"daemon", "impersonation_allow", CT_STR, C(imp_allow_handles), "", 0, 0, 0, check_handles, NULL},
    {"daemon", "impersonation_new_days", CT_INT, C(imp_new_days), "30", 0, 3650, 0, NULL, NULL},
    {"daemon", "workers", CT_INT, C(workers), "0", 0, 8, R, NULL, NULL},
    {"daemon", "fleet", CT_STR, C(fleet), "", 0, 0, R, check_name_or_empty, NULL},
    {"daemon", "lease_ttl", CT_INT, C(lease_ttl), "10", 2, 300, R, NULL, NULL},
    {"priority", "reach_followers", CT_STR, C(reach_followers), "1000, 10000, 100000, 1000000", 0, 0, 0, NULL, NULL},
    {"priority", "reach_points", CT_INT, C(reach_points), "4", 0, 100, 0, NULL, NULL},
    {"priority", "verified_points", CT_INT, C(verified_points), "3", 0, 100, 0, NULL, NULL},
    {"priority", "urgency_points", CT_INT, C(urgency_points), "6", 0, 100, 0, NULL, NULL},
    {"priority", "negative_points", CT_INT, C(negative_points), "3", 0, 100, 0, NULL, NULL},
    {"priority", "terms_max", CT_INT, C(terms_max), "2", 0, 10, 0, NULL, NULL},
    {"priority", "urgency_escalate_followers", CT_INT, C(urgency_escalate_followers), "10000", 0, 1000000000000LL, 0,
     NULL, NULL},
    {"priority", "pii_level", CT_LEVEL, C(pii_level), "high", 0, 0, 0, NULL, NULL},
    {"priority", "account_pattern", CT_STR, C(account_pattern), "", 0, 0, 0, NULL, NULL},
    {"priority", "repeat_window", CT_INT, C(repeat_window), "3600", 1, 604800, 0, NULL, NULL},
    {"priority", "repeat_count", CT_INT, C(repeat_count), "3", 2, 1000, 0, NULL, NULL},
    {"priority", "repeat_points", CT_INT, C(repeat_points), "5", 0, 100, 0, NULL, NULL},
    {"priority", "spread_window", CT_INT, C(spread_window), "900", 1, 604800, 0, NULL, NULL},
    {"priority", "spread_count", CT_INT, C(spread_count), "10", 2, 1000000, 0, NULL, NULL},
    {"priority", "spread_points", CT_INT, C(spread_points), "8", 0, 100, 0, NULL, NULL},
    {"priority", "dedup_window", CT_INT, C(dedup_window), "3600", 1, 604800, 0, NULL, NULL},
    {"priority", "author_history", CT_INT, C(author_history), "20", 1, 1000, R, NULL, NULL},
    {"priority", "author_history_ttl", CT_INT, C(author_history_ttl), "604800", 60, 31536000, R, NULL, NULL},
    {"priority", "canned_reply_count", CT_INT, C(canned_count), "3", 2, 1000, 0, NULL, NULL},
    {"priority", "canned_reply_window", CT_INT, C(canned_window), "3600", 60, 604800, 0, NULL, NULL},
    {"priority", "canned_reply_queue", CT_STR, C(canned_queue), "default", 0, 0, 0, check_name, NULL},
    {"redis", "url", CT_STR, C(redis_url), "redis://127.0.0.1:6379/0", 0, 0, R, NULL, carry_redis_address},
    {"redis", "username", CT_STR, C(redis_username), "", 0, 0, R, check_word, NULL},
    {"redis", "password_file", CT_STR, C(redis_password_file), "", 0, 0, R, check_file_or_empty,
     carry_redis_password},
    {"redis", "key_prefix", CT_STR, C(key_prefix), "mentiond", 0, 0, R, check_key_name, NULL},
    {"redis", "mode", CT_MODE, C(redis_mode), "list", 0, 0, R, NULL, NULL},
    {"redis", "stream_groups", CT_STR, C(stream_groups), "", 0, 0, R, NULL, NULL},
    {"redis", "dedup_ttl", CT_INT, C(dedup_ttl), "86400", 1, 31536000, R, NULL, NULL},
    {"redis", "max_queue_length", CT_INT, C(max_queue_length), "1000000", 1, 1000000000, R, NULL, NULL},
    {"redis", "buffer_alerts", CT_INT, C(buffer_alerts), "100000", 1, 100000000, R, NULL, NULL},
    {"redis", "max_inflight", CT_INT, C(max_inflight), "1000", 1, 1000000, R, NULL, NULL},
    {"redis", "connect_timeout_ms", CT_INT, C(redis_connect_timeout), "2000", 10, 600000, R, NULL, NULL},
    {"redis", "command_timeout_ms", CT_INT, C(redis_command_timeout), "5000", 10, 600000, R, NULL, NULL},
    {"redis", "cluster", CT_BOOL, C(redis_cluster), "off", 0, 0, R, NULL, NULL},
    {"redis", "cluster_nodes", CT_STR, C(cluster_nodes), "", 0, 0, R, check_host_ports, NULL},
    {"redis", "rules_key", CT_STR, C(rules_key), "", 0, 0, 0, check_word, NULL},
    {"redis", "rules_poll_ms", CT_INT, C(rules_poll_interval), "1000", 100, 60000, 0, NULL, NULL},
    {"alerting", "alertmanager_url", CT_STR, C(alertmanager_url), "", 0, 0, R, check_http_or_empty, NULL},
    {"alerting", "pagerduty_url", CT_STR, C(pagerduty_url), "https://events.pagerduty.com/v2/enqueue", 0, 0, R,
     check_http, NULL},
    {"alerting", "pagerduty_routing_key_file", CT_STR, C(pagerduty_routing_key_file), "", 0, 0, R,
     check_file_or_empty, carry_pagerduty_key},
    {"alerting", "webhook_url", CT_STR, C(webhook_url), "", 0, 0, R | KEY_SECRET, check_http_or_empty, carry_webhook},
    {"alerting", "webhook_url_file", CT_STR, C(webhook_url_file), "", 0, 0, R, check_file_or_empty, carry_webhook},
    {"alerting", "queue", CT_STR, C(incident_queue), "incidents", 0, 0, 0, check_name, NULL},
    {"alerting", "spike_queues", CT_BOOL, C(spike_queues), "off", 0, 0, 0, NULL, NULL},
    {"alerting", "spike_window", CT_INT, C(spike_window), "60", 10, 3600, 0, NULL, NULL},
    {"alerting", "spike_sensitivity", CT_INT, C(spike_sensitivity), "5", 1, 100, 0, NULL, NULL},
    {"alerting", "spike_min_count", CT_INT, C(spike_min_count), "20", 1, 1000000000, 0, NULL, NULL},
    {"alerting", "spike_min_ratio", CT_INT, C(spike_min_ratio), "2", 1, 1000, 0, NULL, NULL},
    {"alerting", "spike_baseline", CT_INT, C(spike_baseline), "3600", 60, 604800, 0, NULL, NULL},
    {"alerting", "spike_warmup", CT_INT, C(spike_warmup), "900", 0, 86400, 0, NULL, NULL},
    {"alerting", "spike_resolve", CT_INT, C(spike_resolve), "120", 1, 86400, 0, NULL, NULL},
    {"alerting", "spike_save_interval", CT_INT, C(spike_save_interval), "60", 1, 3600, R, NULL, NULL},
    {"alerting", "escalate_ratio", CT_INT, C(escalate_ratio), "2", 2, 1000, 0, NULL, NULL},
    {"alerting", "cooldown", CT_INT, C(incident_cooldown), "1800", 0, 86400, 0, NULL, NULL},
    {"alerting", "max_pages_per_hour", CT_INT, C(max_pages_per_hour), "20", 0, 100000, 0, NULL, NULL},
    {"alerting", "viral_shares", CT_INT, C(viral_shares), "500", 0, 1000000000, 0, NULL, NULL},
    {"alerting", "viral_window", CT_INT, C(viral_window), "900", 60, 86400, 0, NULL, NULL},
    {"alerting", "notify_timeout", CT_INT, C(notify_timeout), "10", 1, 300, R, NULL, NULL},
    {"alerting", "notify_retries", CT_INT, C(notify_retries), "6", 0, 100, R, NULL, NULL},
    {"alerting", "notify_queue", CT_INT, C(notify_queue), "256", 1, 100000, R, NULL, NULL},
    {"alerting", "resend_interval", CT_INT, C(resend_interval), "60", 5, 3600, 0, NULL, NULL},
};
/* The keys of every [source "NAME"] section; each type's own are in its
 * driver's table (source_TYPE.c).  A reload that changes any of them (or the
 * secret or file a key names) reconnects that source with the new values. */
static const struct ckey skeys[] = {
    {"source", "type", CT_SRCTYPE, S(driver), NULL, 0, 0, 0, NULL, NULL},
    {"source", "url", CT_STR, S(url), NULL, 0, 0, 0, NULL, NULL},
    {"source", "framing", CT_STR, S(framing_name), NULL, 0, 0, 0, NULL, NULL},
    {"source", "token_file", CT_STR, S(token_file), NULL, 0, 0, 0, NULL, NULL},
    {"source", "stall_timeout", CT_INT, S(stall_timeout), "30", 1, 3600, 0, NULL, NULL},
    {"source", "quiet_timeout", CT_INT, S(quiet_timeout), "600", 0, 86400, 0, NULL, NULL},
    {"source", "connect_timeout", CT_INT, S(connect_timeout), "10", 1, 600, 0, NULL, NULL},
    {"source", "max_record", CT_INT, S(max_record), "1048576", 1024, 64 * 1024 * 1024, 0, NULL, NULL},
    {"source", "max_depth", CT_INT, S(max_depth), "64", 2, 256, 0, NULL, NULL},
};
#undef C
#undef S
#undef R
#define NKEYS ARRAY_LEN(keys)
#define NSKEYS ARRAY_LEN(skeys)
_Static_assert(ARRAY_LEN(keys) <= CONFIG_MAX_KEYS, "raise CONFIG_MAX_KEYS");
_Static_assert(ARRAY_LEN(skeys) <= CONFIG_MAX_SOURCE_KEYS, "raise CONFIG_MAX_SOURCE_KEYS");

struct loader {
    struct config *c;
    struct errlist *errs;
    struct source_conf *cur;            /* source section being read */
    int too_many;                       /* sources over the cap: said once */
};

static void *field_ptr(const void *base, size_t off)
{
    return (char *)base + off;
}

/* Parse one value into its field.  Returns NULL or a reason (in why, or
 * static). */
static const char *ckey_set(const struct ckey *k, void *base, const char *v, char *why, size_t whylen)
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
        if (parse_ll(v, k->min, k->max, &n)) {
            snprintf(why, whylen, "expected an integer from %lld to %lld", k->min, k->max);
            return why;
        }
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
        const struct source_driver *d = source_driver_find(v);
        char names[200];
        if (!d) {
            snprintf(why, whylen, "expected %s", source_driver_names(names, sizeof names, 0));
            return why;
        }
        char *dup = xstrdup_try(v);
        if (!dup)
            return "out of memory";
        s->driver = d;
        free(s->type_name);
        s->type_name = dup;
        return NULL;
    }
    }
    return "internal: unknown key type";
}

/* The value as it would be written (secrets hidden), into out. */
static void ckey_format(const struct ckey *k, const void *base, char *out, size_t len)
{
    long long v = k->type == CT_STR || k->type == CT_SRCTYPE ? 0 : *(const long long *)field_ptr(base, k->off);
    const char *str;

    switch (k->type) {
    case CT_STR:
        str = *(char *const *)field_ptr(base, k->off);
        snprintf(out, len, "%s", (k->flags & KEY_SECRET) && str && *str ? "(hidden)" : str ? str : "");
        return;
    case CT_SRCTYPE:
        str = ((const struct source_conf *)base)->type_name;
        snprintf(out, len, "%s", str ? str : "");
        return;
    case CT_INT:
        snprintf(out, len, "%lld", v);
        return;
    case CT_BOOL:
        snprintf(out, len, "%s", v ? "on" : "off");
        return;
    case CT_LOGLEVEL:
        snprintf(out, len, "%s", log_level_name((int)v));
        return;
    case CT_FACILITY:
        snprintf(out, len, "%s", log_facility_name((int)v));
        return;
    case CT_LEVEL:
        snprintf(out, len, "%s", v >= 0 && v < LEVEL_COUNT ? level_names[v] : "?");
        return;
    case CT_ACCENTS:
    case CT_MODE:
    case CT_DURABILITY:
    case CT_FSYNC:
        snprintf(out, len, "%s", v >= 0 && v < (long long)ARRAY_LEN(choices[0]) && choices[k->type][v]
                                     ? choices[k->type][v] : "?");
        return;
    }
}

static int ckey_equal(const struct ckey *k, const void *a, const void *b)
{
    const char *x, *y;

    if (k->type == CT_SRCTYPE)
        return ((const struct source_conf *)a)->driver == ((const struct source_conf *)b)->driver;
    if (k->type != CT_STR)
        return *(const long long *)field_ptr(a, k->off) == *(const long long *)field_ptr(b, k->off);
    x = *(char *const *)field_ptr(a, k->off);
    y = *(char *const *)field_ptr(b, k->off);
    return x && y ? strcmp(x, y) == 0 : x == y;
}

static const struct ckey *ckey_find(const struct ckey *tab, size_t n, const char *section, const char *key,
                                    size_t *idx)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(tab[i].section, section) == 0 && strcmp(tab[i].key, key) == 0) {
            *idx = i;
            return &tab[i];
        }
    return NULL;
}

/* The index of a key the code names (a message about a key not in the
 * table is a bug: abort). */
static size_t key_index(const char *key)
{
    for (size_t i = 0; i < NKEYS; i++)
        if (strcmp(keys[i].key, key) == 0)
            return i;
    abort();
}

/* A source section's keys, in the order of its key_line slots: the keys of
 * every source, then (once the type's keys are applied) its type's own,
 * then for a file source its format's.  NULL past the last. */
static const struct ckey *source_key_at(const struct source_conf *s, size_t i)
{
    const struct source_driver *d[2] = {s->driver, s->format_driver};

    if (i < NSKEYS)
        return &skeys[i];
    i -= NSKEYS;
    for (int j = 0; j < 2 && s->keys_applied && d[j]; j++) {
        if (i < d[j]->nkeys)
            return &d[j]->keys[i];
        i -= d[j]->nkeys;
    }
    return NULL;
}

static const struct ckey *source_key_find(const struct source_conf *s, const char *key, size_t *slot)
{
    const struct ckey *k;

    for (size_t i = 0; (k = source_key_at(s, i)); i++)
        if (strcmp(k->key, key) == 0) {
            *slot = i;
            return k;
        }
    return NULL;
}

/* Where a source key's value lives: the section, or for a KEY_OWN key the
 * own settings of the driver whose table holds it. */
static void *key_base(const struct source_conf *s, const struct ckey *k)
{
    const struct source_driver *d = s->driver;

    if (!(k->flags & KEY_OWN))
        return (void *)s;
    return d && k >= d->keys && k < d->keys + d->nkeys ? s->own[0] : s->own[1];
}

/* The types whose own keys include key ("rss" or "x_v2, jetstream"); ""
 * if none. */
static const char *source_key_types(const char *key, char *out, size_t len)
{
    size_t n = 0;

    out[0] = '\0';
    for (size_t i = 0; i < source_driver_count; i++)
        for (size_t j = 0; j < source_drivers[i]->nkeys; j++)
            if (strcmp(source_drivers[i]->keys[j].key, key) == 0 && n < len)
                n += (size_t)snprintf(out + n, len - n, "%s%s", n ? ", " : "", source_drivers[i]->name);
    return out;
}

/* A source section's name as written in messages: source "x-main". */
static const char *source_section(const char *name, char *out, size_t len)
{
    snprintf(out, len, "source \"%s\"", name);
    return out;
}

/* An error about one key: "file:line: [section] key = value: why"; a key
 * left at its default names no line but says so.  Every message about a
 * value goes through here (or key_error for a source's keys). */
static void key_error_at(struct errlist *errs, const char *file, const char *section, const struct ckey *k,
                         const void *base, int line, const char *fmt, va_list ap)
    __attribute__((format(printf, 7, 0)));
static void key_error_at(struct errlist *errs, const char *file, const char *section, const struct ckey *k,
                         const void *base, int line, const char *fmt, va_list ap)
{
    char val[256], why[1500];

    ckey_format(k, base, val, sizeof val);
    vsnprintf(why, sizeof why, fmt, ap);
    if (line > 0)
        errlist_add(errs, "%s:%d: [%s] %s = %s: %s", file, line, section, k->key, val, why);
    else
        errlist_add(errs, "%s: [%s] %s = %s (the default): %s", file, section, k->key, val, why);
}

static void key_error(struct errlist *errs, struct config *c, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void key_error(struct errlist *errs, struct config *c, const char *key, const char *fmt, ...)
{
    size_t i = key_index(key);
    va_list ap;

    c->key_bad[i] = 1;
    va_start(ap, fmt);
    key_error_at(errs, c->path, keys[i].section, &keys[i], c, c->key_line[i], fmt, ap);
    va_end(ap);
}

/* The same for a source's key; a key the section lacks points at the
 * section's header.  Without a key, about the section as a whole:
 * "file:line: [source "x"]: why". */
void source_key_error(struct errlist *errs, const struct config *c, const struct source_conf *s, const char *key,
                      const char *fmt, ...)
{
    char section[100], why[1500];
    const struct ckey *k;
    size_t i = 0;
    va_list ap;

    source_section(s->name, section, sizeof section);
    va_start(ap, fmt);
    if (!key) {
        vsnprintf(why, sizeof why, fmt, ap);
        errlist_add(errs, "%s:%d: [%s]: %s", c->path, s->line, section, why);
    } else if ((k = source_key_find(s, key, &i))) {
        key_error_at(errs, c->path, section, k, key_base(s, k), s->key_line[i] ? s->key_line[i] : s->line, fmt, ap);
    } else {
        abort();                        /* a key the section's tables lack: a bug */
    }
    va_end(ap);
}

int source_key_written(const struct source_conf *s, const char *key)
{
    size_t i;

    return source_key_find(s, key, &i) && s->key_line[i] != 0;
}

/* The defaults of one table's keys (-1 if out of memory: the defaults
 * themselves are valid). */
static int config_defaults(void *base, const struct ckey *tab, size_t n)
{
    char why[128];

    for (size_t i = 0; i < n; i++)
        if (tab[i].def && ckey_set(&tab[i], base, tab[i].def, why, sizeof why))
            return -1;
    return 0;
}

/* A new source section, appended; NULL if out of memory. */
static struct source_conf *source_new(struct loader *ld, const char *name, int line)
{
    struct source_conf *s = xcalloc_try(1, sizeof *s), **tail;

    if (!s)
        return NULL;
    s->line = line;
    if (!(s->name = xstrdup_try(name)) || config_defaults(s, skeys, NSKEYS) < 0) {
        source_conf_free(s);
        return NULL;
    }
    for (tail = &ld->c->sources; *tail; tail = &(*tail)->next)
        ;
    *tail = s;
    ld->c->nsources++;
    return s;
}

/* Keys of the type's own, held until the type is known. */
struct source_pending {
    char *key, *value, *file;
    int line;
    struct source_pending *next;
};

static void pending_free(struct source_conf *s)
{
    while (s->pending) {
        struct source_pending *p = s->pending;
        s->pending = p->next;
        free(p->key);
        free(p->value);
        free(p->file);
        free(p);
    }
}

void source_conf_free(struct source_conf *s)
{
    if (!s)
        return;
    const struct ckey *k;

    for (size_t i = 0; (k = source_key_at(s, i)); i++)
        if (k->type == CT_STR && key_base(s, k))
            free(*(char **)field_ptr(key_base(s, k), k->off));
    pending_free(s);
    free(s->own[0]);
    free(s->own[1]);
    free(s->name);
    free(s->type_name);
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

/* One key of a table into base: unknown, duplicate and unparsable values
 * are errors at their line. */
static int loader_set(struct loader *ld, const struct ckey *tab, size_t n, void *base, int *lines,
                      const char *section, const char *shown, const struct inifile_pos *pos, const char *key,
                      const char *value)
{
    size_t idx;
    const struct ckey *k = ckey_find(tab, n, section, key, &idx);
    const char *why;
    char buf[128];

    if (!k) {
        errlist_add(ld->errs, "%s:%d: unknown key '%s' in [%s]", pos->file, pos->line, key, shown);
        return -1;
    }
    if (lines[idx]) {
        errlist_add(ld->errs, "%s:%d: duplicate key '%s' in [%s] (first set at line %d)", pos->file, pos->line,
                    key, shown, lines[idx]);
        return -1;
    }
    lines[idx] = pos->line;
    if ((why = ckey_set(k, base, value, buf, sizeof buf))) {
        if (tab == keys)
            ld->c->key_bad[idx] = 1;
        /* the value as written: the field keeps its default */
        if (k->flags & KEY_SECRET)
            errlist_add(ld->errs, "%s:%d: [%s] %s = (hidden): %s", pos->file, pos->line, shown, key, why);
        else
            errlist_add(ld->errs, "%s:%d: [%s] %s = %s: %s", pos->file, pos->line, shown, key, value, why);
        return -1;
    }
    return 0;
}

static int loader_source_key(struct loader *ld, const struct inifile_pos *pos, const char *key, const char *value)
{
    char shown[100], types[200];
    size_t idx;

    source_section(ld->cur->name, shown, sizeof shown);
    if (strncmp(key, "field.", 6) == 0) {
        for (int i = 0; i < PF_COUNT; i++)
            if (strcmp(key + 6, post_field_names[i]) == 0) {
                if (value[0] != '/' && value[0] != '\0') {
                    errlist_add(ld->errs, "%s:%d: [%s] %s = %s: a JSON pointer starts with '/'", pos->file,
                                pos->line, shown, key, value);
                    return -1;
                }
                char *dup = xstrdup_try(value);
                if (!dup) {
                    errlist_add(ld->errs, "%s:%d: %s: out of memory", pos->file, pos->line, key);
                    return -1;
                }
                free(ld->cur->field[i]);
                ld->cur->field[i] = dup;
                return 0;
            }
        errlist_add(ld->errs, "%s:%d: unknown field '%s' in [%s]", pos->file, pos->line, key + 6, shown);
        return -1;
    }
    if (ckey_find(skeys, NSKEYS, "source", key, &idx))
        return loader_set(ld, skeys, NSKEYS, ld->cur, ld->cur->key_line, "source", shown, pos, key, value);
    if (!*source_key_types(key, types, sizeof types)) {
        errlist_add(ld->errs, "%s:%d: unknown key '%s' in [%s]", pos->file, pos->line, key, shown);
        return -1;
    }
    /* A key of some type's own: kept until the whole section (its type
     * above all) is read. */
    for (struct source_pending **t = &ld->cur->pending;; t = &(*t)->next) {
        if (*t && strcmp((*t)->key, key) == 0) {
            errlist_add(ld->errs, "%s:%d: duplicate key '%s' in [%s] (first set at line %d)", pos->file,
                        pos->line, key, shown, (*t)->line);
            return -1;
        }
        if (!*t) {
            struct source_pending *p = xcalloc_try(1, sizeof *p);
            if (!p || !(p->key = xstrdup_try(key)) || !(p->value = xstrdup_try(value)) ||
                !(p->file = xstrdup_try(pos->file))) {
                if (p) {
                    free(p->key);
                    free(p->value);
                    free(p);
                }
                errlist_add(ld->errs, "%s:%d: %s: out of memory", pos->file, pos->line, key);
                return -1;
            }
            p->line = pos->line;
            *t = p;
            return 0;
        }
    }
}

static int loader_key(void *ctx, const struct inifile_pos *pos, const char *section,
                      const char *key, const char *value)
{
    struct loader *ld = ctx;
    const char *file = pos->file;
    int line = pos->line;
    char name[80], shown[100];
    size_t idx;

    if (parse_source_header(section, name, sizeof name) == 0) {
        source_section(name, shown, sizeof shown);
        if (!ld->cur || strcmp(ld->cur->name, name) != 0) {
            if (!valid_name(name)) {
                errlist_add(ld->errs, "%s:%d: source name '%s': use 1-64 letters, digits, '-', '_' or '.'",
                            file, line, name);
                return -1;
            }
            if (config_source(ld->c, name)) {
                errlist_add(ld->errs, "%s:%d: duplicate [%s]", file, line, shown);
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
                errlist_add(ld->errs, "%s:%d: [%s]: out of memory", file, line, shown);
                return -1;
            }
        }
        return loader_source_key(ld, pos, key, value);
    }
    ld->cur = NULL;
    if (!ckey_find(keys, NKEYS, section, key, &idx)) {
        int known = 0;
        for (size_t i = 0; i < NKEYS && !known; i++)
            known = strcmp(keys[i].section, section) == 0;
        if (section[0] == '\0')
            errlist_add(ld->errs, "%s:%d: key '%s' outside any [section]", file, line, key);
        else if (!known)
            errlist_add(ld->errs, "%s:%d: unknown section [%s] (daemon, redis, priority, alerting, "
                        "source \"NAME\")", file, line, section);
        else
            errlist_add(ld->errs, "%s:%d: unknown key '%s' in [%s]", file, line, key, section);
        return -1;
    }
    return loader_set(ld, keys, NKEYS, ld->c, ld->c->key_line, section, section, pos, key, value);
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

static int parse_redis_url(struct config *c, struct errlist *errs)
{
    const char *u = c->redis_url, *p, *slash, *colon, *q;
    long long n;
    char host[256];

    c->redis_db = 0;
    if (strncmp(u, "unix://", 7) == 0) {
        p = u + 7;
        q = strchr(p, '?');
        if (*p != '/') {
            key_error(errs, c, "url", "a unix socket path must be absolute");
            return -1;
        }
        c->redis_unix = q ? xstrndup_try(p, (size_t)(q - p)) : xstrdup_try(p);
        if (!c->redis_unix) {
            key_error(errs, c, "url", "out of memory");
            return -1;
        }
        if (q) {
            if (strncmp(q, "?db=", 4) || parse_ll(q + 4, 0, 1000, &n)) {
                key_error(errs, c, "url", "expected ?db=N after the path");
                return -1;
            }
            c->redis_db = (int)n;
        }
        return 0;
    }
    if (strncmp(u, "redis://", 8) != 0) {
        key_error(errs, c, "url", "expected redis://host:port/db or unix:///path");
        return -1;
    }
    p = u + 8;
    if (strchr(p, '@')) {
        /* not key_error: the value holds the password */
        errlist_add(errs, "%s:%d: [redis] url: credentials in the URL are not accepted; use password_file or "
                    "the redis-password credential", c->path, c->key_line[key_index("url")]);
        return -1;
    }
    slash = strchr(p, '/');
    if (slash && slash[1] && parse_ll(slash + 1, 0, 1000, &n) == 0)
        c->redis_db = (int)n;
    else if (slash && slash[1]) {
        key_error(errs, c, "url", "bad database number (0 to 1000)");
        return -1;
    }
    if (*p == '[') {                    /* [::1]:6379 */
        q = strchr(p, ']');
        if (!q) {
            key_error(errs, c, "url", "unterminated IPv6 address");
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
            key_error(errs, c, "url", "bad port (1 to 65535)");
            return -1;
        }
        c->redis_port = (int)n;
    }
    if (!host[0] || resolve_host(host, &c->redis_host)) {
        key_error(errs, c, "url", "cannot resolve host '%s'", host);
        return -1;
    }
    return 0;
}

static void validate_framing(struct config *c, struct source_conf *s, struct errlist *errs)
{
    int m;

    if (s->framing_name) {
        if ((m = framing_mode_parse(s->framing_name)) < 0)
            source_key_error(errs, c, s, "framing", "expected lines, length, sse or document");
        s->framing = m < 0 ? FRAMING_LINES : m;
    } else {
        s->framing = (int)source_driver_framing(s->driver, s, 0);
    }
}

/* The keys of the type's own (and for a file source, of its format's):
 * their defaults, then the values the section gave; a key that belongs to
 * other types only is an error naming them.  -1 without memory for the
 * defaults (nothing more can be checked). */
static int apply_type_keys(struct config *c, struct source_conf *s, struct errlist *errs)
{
    struct loader ld = {.c = c, .errs = errs, .cur = s};
    const struct source_driver *d[2] = {s->driver, NULL};
    char shown[100], types[200];
    size_t base = NSKEYS, idx;

    source_section(s->name, shown, sizeof shown);
    s->keys_applied = 1;
    for (int j = 0; j < 2 && d[j]; j++) {
        if (d[j]->own_size && !(s->own[j] = xcalloc_try(1, d[j]->own_size)))
            goto nomem;
        for (size_t i = 0; i < d[j]->nkeys; i++)
            if (config_defaults(key_base(s, &d[j]->keys[i]), &d[j]->keys[i], 1) < 0)
                goto nomem;
        for (struct source_pending *p = s->pending; p; p = p->next) {
            struct inifile_pos pos = {.file = p->file, .line = p->line};
            const struct ckey *k = p->line ? ckey_find(d[j]->keys, d[j]->nkeys, "source", p->key, &idx) : NULL;
            if (k) {
                loader_set(&ld, d[j]->keys, d[j]->nkeys, key_base(s, k), s->key_line + base, "source", shown, &pos,
                           p->key, p->value);
                p->line = 0;            /* applied */
            }
        }
        base += d[j]->nkeys;
        /* a file source reads its format's keys too (events, for sse) */
        if (d[j]->transport == TRANSPORT_FILE && s->format && (d[1] = source_driver_find(s->format)) &&
            d[1]->decoder)
            s->format_driver = d[1];
        else
            d[1] = NULL;
    }
    for (struct source_pending *p = s->pending; p; p = p->next)
        if (p->line)
            errlist_add(errs, "%s:%d: [%s] %s = %s: not a key of type %s (it is one of %s)", p->file, p->line,
                        shown, p->key, p->value, s->driver->name,
                        source_key_types(p->key, types, sizeof types));
    pending_free(s);
    return 0;
nomem:
    source_key_error(errs, c, s, NULL, "out of memory");
    pending_free(s);
    return -1;
}

/* A network source's URL by its transport; its token if it takes one. */
static void validate_endpoint(struct config *c, struct source_conf *s, struct errlist *errs)
{
    const struct source_driver *d = s->driver;
    char err[512];
    int missing;

    if (d->transport == TRANSPORT_WEBSOCKET) {
        if (!s->url)
            source_key_error(errs, c, s, NULL, "%s needs 'url' (ws:// or wss://, e.g. %s)", d->name, d->url_example);
        else if (strncmp(s->url, "ws://", 5) && strncmp(s->url, "wss://", 6))
            source_key_error(errs, c, s, "url", "%s needs 'url' (ws:// or wss://, e.g. %s)", d->name,
                             d->url_example);
        return;
    }
    if (!s->url)
        source_key_error(errs, c, s, NULL, "needs 'url' (http:// or https://)");
    else if (strncmp(s->url, "http://", 7) && strncmp(s->url, "https://", 8))
        source_key_error(errs, c, s, "url", "needs 'url' (http:// or https://)");
    s->token = secret_load(s->token_file, s->name, &missing, err, sizeof err);
    if (!s->token && !missing)
        source_key_error(errs, c, s, "token_file", "%s", err);
    else if (!s->token && (d->flags & DRIVER_NEEDS_TOKEN))
        source_key_error(errs, c, s, NULL, "%s needs a bearer token%s: set token_file or provide the credential '%s' "
                         "(LoadCredential=)", d->name, d->token_why, s->name);
}

/* One instance of an `instances` list: "a.example", "a.example:8443" or a
 * base URL ("http://127.0.0.1:8080"); out: the base URL and the host. */
static int instance_parse(const char *item, char *base, size_t blen, char *host, size_t hlen)
{
    const char *h = item;
    size_t n;

    if (strncmp(item, "https://", 8) == 0 || strncmp(item, "http://", 7) == 0)
        h = strstr(item, "://") + 3;
    else if (strstr(item, "://"))
        return -1;
    n = strcspn(h, "/");
    if (n == 0 || n >= hlen || (h[n] && strcmp(h + n, "/") != 0))
        return -1;                      /* a host, not a path */
    memcpy(host, h, n);
    host[n] = '\0';
    for (const char *p = host; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr(".-:[]", *p))
            return -1;
    return snprintf(base, blen, "%s%.*s", h == item ? "https://" : "", (int)(h - item + n), item) >= (int)blen
               ? -1 : 0;
}

struct instances_ctx {
    struct config *c;
    struct source_conf *s, *last;       /* the section; the last source made of it */
    struct errlist *errs;
    char section[80];
    const char *token_file;             /* as written, {instance} in it */
    int n;
};

/* "{instance}" in a path replaced by host, in place; 1 if there was one. */
static int instance_subst(char **path, const char *host)
{
    char *at = *path ? strstr(*path, "{instance}") : NULL, *out;

    if (!at || !(out = xmalloc_try(strlen(*path) + strlen(host) + 1)))
        return 0;
    sprintf(out, "%.*s%s%s", (int)(at - *path), *path, host, at + 10);
    free(*path);
    *path = out;
    return 1;
}

static void add_instance(void *p, const char *item)
{
    struct instances_ctx *ic = p;
    char base[600], host[256], name[400];
    struct source_conf *t;

    if (instance_parse(item, base, sizeof base, host, sizeof host) != 0) {
        source_key_error(ic->errs, ic->c, ic->s, "instances", "'%s' is not a host or a base URL "
                         "(https://host[:port])", item);
        return;
    }
    if (ic->c->nsources >= CONFIG_MAX_SOURCES) {
        source_key_error(ic->errs, ic->c, ic->s, "instances", "more than %d sources", CONFIG_MAX_SOURCES);
        return;
    }
    t = ic->n++ ? source_conf_dup(ic->s) : ic->s;
    snprintf(name, sizeof name, "%s@%s", ic->section, host);
    if (config_source(ic->c, name)) {
        source_key_error(ic->errs, ic->c, ic->s, "instances", "'%s' is named twice", item);
        if (t != ic->s)
            source_conf_free(t);
        return;
    }
    if (t != ic->s) {                   /* after the section's others, in order */
        t->next = ic->last->next;
        ic->last->next = t;
        ic->c->nsources++;
    }
    ic->last = t;
    free(t->name);
    free(t->url);
    t->name = xstrdup(name);
    t->url = xstrdup(base);
    t->expanded = 1;
    if (ic->token_file) {
        free(t->token_file);
        t->token_file = xstrdup(ic->token_file);
        instance_subst(&t->token_file, host);
    }
}

/* A section with `instances` (Mastodon) stands for one source per
 * instance, "<name>@<host>", each with the instance's base URL and its own
 * token (token_file with {instance} replaced, or the credential of the
 * source's name). */
static void expand_instances(struct config *c, struct source_conf *s, struct errlist *errs)
{
    const char *list = s->driver->instances ? s->driver->instances(s) : NULL;
    struct instances_ctx ic = {.c = c, .s = s, .last = s, .errs = errs};
    char *copy;

    if (!list || !*list || s->expanded)
        return;
    if (s->url) {
        source_key_error(errs, c, s, "instances", "give either url (one instance) or instances, not both");
        return;
    }
    if (strchr(list, ',') && s->token_file && !strstr(s->token_file, "{instance}"))
        source_key_error(errs, c, s, "token_file", "each instance has its own token: put {instance} in the "
                         "path (or give each the credential '%s@<host>')", s->name);
    str_copy(ic.section, s->name, sizeof ic.section);
    if (!(copy = xstrdup_try(list)))
        return;
    ic.token_file = s->token_file ? xstrdup(s->token_file) : NULL;
    config_split_list(copy, add_instance, &ic);
    free((char *)ic.token_file);
    free(copy);
}

static void validate_source(struct config *c, struct source_conf *s, struct errlist *errs)
{
    char names[200];

    if (!s->driver) {
        source_key_error(errs, c, s, NULL, "missing 'type' (%s)", source_driver_names(names, sizeof names, 0));
        pending_free(s);
        return;
    }
    if (!s->expanded && apply_type_keys(c, s, errs) < 0)
        return;
    expand_instances(c, s, errs);
    validate_framing(c, s, errs);
    if (s->driver->transport != TRANSPORT_FILE)
        validate_endpoint(c, s, errs);
    if (s->driver->validate)
        s->driver->validate(c, s, errs);
    if (s->format_driver && s->format_driver->validate)
        s->format_driver->validate(c, s, errs);
    for (int i = 0; i < PF_COUNT; i++)
        if (!s->field[i] && !(s->field[i] = xstrdup_try(post_field_defaults[i]))) {
            source_key_error(errs, c, s, NULL, "out of memory");
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
        key_error(lc->errs, lc->c, "reach_followers", "expected up to 8 ascending numbers, not '%s'", item);
        return;
    }
    lc->c->reach[lc->c->nreach++] = v;
}

static void add_account(void *p, const char *item)
{
    struct list_ctx *lc = p;
    const char *why = pii_shape_check(item);
    if (why || lc->c->accounts.n >= PII_MAX_PATTERNS) {
        key_error(lc->errs, lc->c, "account_pattern", "'%s': %s", item, why ? why : "too many patterns");
        return;
    }
    if (!(lc->c->accounts.shape[lc->c->accounts.n] = xstrdup_try(item))) {
        key_error(lc->errs, lc->c, "account_pattern", "out of memory");
        return;
    }
    lc->c->accounts.n++;
}

/* A list of handles: lower case for matching, and as written (without
 * the '@') for messages and alerts. */
struct handles_ctx {
    struct list_ctx lc;
    const char *key;
    struct handle_list *list;
};

static void add_handle(void *p, const char *item)
{
    struct handles_ctx *hc = p;
    struct handle_list *l = hc->list;
    const char *name = item[0] == '@' ? item + 1 : item;
    char *h = xstrdup_try(name), *shown = xstrdup_try(name);
    char **lower = h && shown ? xrealloc_try(l->lower, sizeof *l->lower * (size_t)(l->n + 1)) : NULL;
    char **as = lower ? xrealloc_try(l->shown, sizeof *l->shown * (size_t)(l->n + 1)) : NULL;

    if (lower)
        l->lower = lower;
    if (!as) {
        free(h);
        free(shown);
        key_error(hc->lc.errs, hc->lc.c, hc->key, "out of memory");
        return;
    }
    l->shown = as;
    for (char *c = h; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    l->lower[l->n] = h;
    l->shown[l->n++] = shown;
}

static void handle_list_free(struct handle_list *l)
{
    for (int i = 0; i < l->n; i++) {
        free(l->lower[i]);
        free(l->shown[i]);
    }
    free(l->lower);
    free(l->shown);
}

static void check_group(void *p, const char *item)
{
    struct list_ctx *lc = p;
    if (!valid_name(item))
        key_error(lc->errs, lc->c, "stream_groups", "'%s': use 1-64 letters, digits, '-', '_' or '.'", item);
    lc->c->ngroups++;
}

/* ---- checks of single values (the table's check column) ---- */

static const char *check_name(struct kcheck *k, const char *v)
{
    (void)k;
    return valid_name(v) ? NULL : "use 1-64 letters, digits, '-', '_' or '.'";
}

/* A rule glob must match: a typo must not leave the daemon rule-less. */
static const char *check_glob(struct kcheck *k, const char *v)
{
    glob_t g;
    int rc = glob(v, 0, NULL, &g);

    if (rc == 0)
        globfree(&g);
    if (rc == GLOB_NOMATCH)
        return "no rule file matches this pattern (missing or unreadable directory?)";
    if (rc != 0) {
        snprintf(k->why, sizeof k->why, "cannot list rule files (%s)", rc == GLOB_NOSPACE ? "out of memory"
                                                                                        : "read error");
        return k->why;
    }
    return NULL;
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Word lists: a directory written in the file must exist (priorities
 * silently scored without them would mislead); the packaged default may be
 * missing (a warning, the daemon scores without them). */
static const char *check_lexicons(struct kcheck *k, const char *v)
{
    if (is_dir(v))
        return NULL;
    if (k->configured) {
        snprintf(k->why, sizeof k->why, "%s", access(v, F_OK) == 0 ? "not a directory" : strerror(errno));
        return k->why;
    }
    errlist_add(&k->c->warnings, "%s: [daemon] lexicons = %s (the default) does not exist: priorities are scored "
                "without the urgency and negative word lists", k->c->path, v);
    return NULL;
}

/* The spool directory is created at start: it must be absolute and
 * creatable (its parent a directory), or empty for no spool. */
static const char *check_spool_dir(struct kcheck *k, const char *v)
{
    char parent[4096];
    char *slash;

    if (!*v)
        return NULL;
    if (*v != '/')
        return "use an absolute path (or empty for no spool)";
    if (is_dir(v))
        return access(v, W_OK | X_OK) == 0 ? NULL : "not writable";
    if (access(v, F_OK) == 0)
        return "not a directory";
    str_copy(parent, v, sizeof parent);
    while ((slash = strrchr(parent, '/')) && slash[1] == '\0' && slash != parent)
        *slash = '\0';                  /* trailing slashes */
    slash = strrchr(parent, '/');
    if (slash == parent)
        slash[1] = '\0';
    else
        *slash = '\0';
    if (!is_dir(parent)) {
        snprintf(k->why, sizeof k->why, "cannot be created: its parent %.1024s does not exist (create it, or set "
                 "spool_dir to a directory that can be, or empty for no spool)", parent);
        return k->why;
    }
    if (access(parent, W_OK | X_OK) != 0) {
        snprintf(k->why, sizeof k->why, "cannot be created: %.1024s is not writable", parent);
        return k->why;
    }
    return NULL;
}

/* address:port, [v6]:port or empty (off); the port 0..65535 (0: any). */
static const char *check_listen(struct kcheck *k, const char *v)
{
    const char *colon = strrchr(v, ':');
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE}, *res;
    char host[256];
    long long port;
    size_t hl;

    if (!*v)
        return NULL;
    if (!colon || colon == v)
        return "expected address:port (e.g. 127.0.0.1:9187), or empty for off";
    if (parse_ll(colon + 1, 0, 65535, &port))
        return "expected a port from 0 to 65535 (0: any free port)";
    hl = (size_t)(colon - v);
    if (v[0] == '[' && hl >= 2 && v[hl - 1] == ']')
        snprintf(host, sizeof host, "%.*s", (int)(hl - 2), v + 1);
    else
        snprintf(host, sizeof host, "%.*s", (int)hl, v);
    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        snprintf(k->why, sizeof k->why, "cannot resolve '%s'", host);
        return k->why;
    }
    freeaddrinfo(res);
    return NULL;
}

/* "host:port" (or "[v6]:port") into host and port; 0, or -1. */
static int split_host_port(const char *v, char *host, size_t hlen, int *port)
{
    const char *colon = strrchr(v, ':');
    long long n;
    size_t hl;

    if (!colon || colon == v || parse_ll(colon + 1, 1, 65535, &n))
        return -1;
    hl = (size_t)(colon - v);
    if (v[0] == '[' && hl >= 2 && v[hl - 1] == ']') {
        v++;
        hl -= 2;
    }
    if (hl >= hlen)
        return -1;
    memcpy(host, v, hl);
    host[hl] = '\0';
    *port = (int)n;
    return 0;
}

struct host_ports_ctx {
    struct kcheck *k;
    const char *why;
};

static void check_host_port(void *ctx, const char *item)
{
    struct host_ports_ctx *hp = ctx;
    char host[256], *ip;
    int port;

    if (hp->why)
        return;
    if (split_host_port(item, host, sizeof host, &port)) {
        snprintf(hp->k->why, sizeof hp->k->why, "'%.200s': expected host:port", item);
        hp->why = hp->k->why;
    } else if (resolve_host(host, &ip)) {
        snprintf(hp->k->why, sizeof hp->k->why, "cannot resolve '%s'", host);
        hp->why = hp->k->why;
    } else {
        free(ip);
    }
}

/* "host:port, host:port", or empty. */
static const char *check_host_ports(struct kcheck *k, const char *v)
{
    struct host_ports_ctx hp = {k, NULL};

    config_split_list(v, check_host_port, &hp);
    return hp.why;
}

struct seeds_ctx {
    void (*fn)(void *ctx, const char *host, int port);
    void *ctx;
};

static void seed_of(void *ctx, const char *item)
{
    struct seeds_ctx *sc = ctx;
    char host[256], *ip;
    int port;

    if (split_host_port(item, host, sizeof host, &port) == 0 && resolve_host(host, &ip) == 0) {
        sc->fn(sc->ctx, ip, port);
        free(ip);
    } else {
        log_msg(LOG_WARNING, "redis: cluster node %s cannot be resolved now; left out", item);
    }
}

void config_cluster_seeds(const struct config *c, void (*fn)(void *ctx, const char *host, int port), void *ctx)
{
    struct seeds_ctx sc = {fn, ctx};

    if (c->redis_host)
        fn(ctx, c->redis_host, c->redis_port);
    config_split_list(c->cluster_nodes, seed_of, &sc);
}

/* Handles: letters, digits and _ . - (Mastodon's user@instance too). */
/* A queue name, or empty for "the usual one". */
static const char *check_name_or_empty(struct kcheck *k, const char *v)
{
    return *v ? check_name(k, v) : NULL;
}

static const char *check_handles(struct kcheck *k, const char *v)
{
    for (const char *p = v; *p; p++)
        if (!isalnum((unsigned char)*p) && !strchr("_.-@, \t", *p)) {
            snprintf(k->why, sizeof k->why, "'%c' in a handle: handles are letters, digits, '_', '.', '-' and "
                     "'@', separated by commas", *p);
            return k->why;
        }
    return NULL;
}

/* A Redis key prefix: printable, no blanks, at most 64 bytes. */
static const char *check_key_name(struct kcheck *k, const char *v)
{
    size_t n = strlen(v);

    if (n == 0 || n > 64)
        return "use 1-64 printable characters without blanks";
    return check_word(k, v);
}

/* Printable, no blanks (ACL user names, key names); may be empty. */
static const char *check_word(struct kcheck *k, const char *v)
{
    (void)k;
    for (const unsigned char *p = (const unsigned char *)v; *p; p++)
        if (*p <= ' ' || *p == 0x7f)
            return "no blanks or control characters";
    return NULL;
}

static int http_url(const char *u)
{
    return strncmp(u, "http://", 7) == 0 || strncmp(u, "https://", 8) == 0;
}

static const char *check_http(struct kcheck *k, const char *v)
{
    (void)k;
    return http_url(v) ? NULL : "expected http:// or https://";
}

static const char *check_http_or_empty(struct kcheck *k, const char *v)
{
    return *v ? check_http(k, v) : NULL;
}

static const char *check_file_or_empty(struct kcheck *k, const char *v)
{
    if (!*v || access(v, R_OK) == 0)
        return NULL;
    snprintf(k->why, sizeof k->why, "%s", strerror(errno));
    return k->why;
}

/* Every global key's check, with the line it was written at. */
static void check_keys(struct config *c, struct errlist *errs)
{
    struct kcheck k = {.c = c};
    const char *why;

    for (size_t i = 0; i < NKEYS; i++) {
        if (!keys[i].check)
            continue;
        k.configured = c->key_line[i] > 0;
        if ((why = keys[i].check(&k, *(char **)field_ptr(c, keys[i].off))))
            key_error(errs, c, keys[i].key, "%s", why);
    }
}

/* [daemon] durability and the spool, [redis] mode and stream_groups. */
static void validate_delivery(struct config *c, struct errlist *errs)
{
    struct list_ctx lc = {c, errs};

    if (c->durability == DURABILITY_SPOOL && !c->spool_dir[0])
        key_error(errs, c, "durability", "needs a spool_dir");
    config_split_list(c->stream_groups, check_group, &lc);
    if (c->ngroups && c->redis_mode != REDIS_MODE_STREAM)
        key_error(errs, c, "stream_groups", "groups are for mode = stream");
    if (c->ngroups > CONFIG_MAX_GROUPS)
        key_error(errs, c, "stream_groups", "%d groups, at most %d", c->ngroups, CONFIG_MAX_GROUPS);
}

/* [alerting]: receivers' secrets. */
static void validate_alerting(struct config *c, struct errlist *errs)
{
    int missing;
    char err[512];

    if (c->viral_shares == 1)
        key_error(errs, c, "viral_shares", "use 0 (off) or at least 2");
    c->pagerduty_key = secret_load(c->pagerduty_routing_key_file, "pagerduty-routing-key", &missing, err,
                                   sizeof err);
    if (!c->pagerduty_key && !missing)
        key_error(errs, c, "pagerduty_routing_key_file", "%s", err);
    /* A chat webhook's URL is its secret: from a file, never logged. */
    if (c->webhook_url[0] && c->webhook_url_file[0])
        key_error(errs, c, "webhook_url_file", "webhook_url is set too: set one");
    if (c->webhook_url[0]) {
        if (!(c->webhook = xstrdup_try(c->webhook_url)))
            key_error(errs, c, "webhook_url", "out of memory");
    } else {
        c->webhook = secret_load(c->webhook_url_file, "webhook-url", &missing, err, sizeof err);
        if (!c->webhook && !missing)
            key_error(errs, c, "webhook_url_file", "%s", err);
        else if (c->webhook && !http_url(c->webhook))
            key_error(errs, c, "webhook_url_file", "the URL in the file: expected http:// or https://");
    }
}

static void validate_redis(struct config *c, struct errlist *errs)
{
    int missing;
    char err[512];

    parse_redis_url(c, errs);
    c->redis_password = secret_load(c->redis_password_file, "redis-password", &missing, err, sizeof err);
    if (!c->redis_password && !missing)
        key_error(errs, c, "password_file", "%s", err);
    if (c->redis_username[0] && !c->redis_password)
        key_error(errs, c, "username", "needs a password (password_file or the redis-password credential)");
    if (c->redis_cluster && c->redis_unix)
        key_error(errs, c, "cluster", "a cluster is reached over TCP: url must be redis://host:port");
    else if (c->redis_cluster && c->redis_db)
        key_error(errs, c, "cluster", "a cluster has only database 0 (url names database %d)", c->redis_db);
    if (c->cluster_nodes[0] && !c->redis_cluster)
        key_error(errs, c, "cluster_nodes", "only with cluster = on");
}

static void parse_priority(struct config *c, struct errlist *errs)
{
    struct list_ctx lc = {c, errs};
    config_split_list(c->reach_followers, add_reach, &lc);
    config_split_list(c->account_pattern, add_account, &lc);
    struct handles_ctx own = {lc, "own_handles", &c->own_list}, allow = {lc, "impersonation_allow", &c->imp_allow};

    config_split_list(c->own_handles, add_handle, &own);
    config_split_list(c->imp_allow_handles, add_handle, &allow);
}

struct config *config_parse(const char *path, struct errlist *errs)
{
    struct config *c = xcalloc_try(1, sizeof *c);
    struct loader ld = {.c = c, .errs = errs};

    if (!c || !(c->path = xstrdup_try(path)) || config_defaults(c, keys, NKEYS) < 0) {
        errlist_add(errs, "%s: out of memory", path);
        config_free(c);
        return NULL;
    }
    if (inifile_parse(path, loader_key, &ld, errs) < 0) {
        config_free(c);
        return NULL;
    }
    check_keys(c, errs);
    for (struct source_conf *s = c->sources; s; s = s->next)
        validate_source(c, s, errs);
    validate_redis(c, errs);
    validate_delivery(c, errs);
    validate_alerting(c, errs);
    parse_priority(c, errs);
    return c;
}

struct config *config_load(const char *path, struct errlist *errs)
{
    int before = errs->n;
    struct config *c = config_parse(path, errs);

    if (errs->n > before) {
        config_free(c);
        return NULL;
    }
    return c;
}

int config_rules_usable(const struct config *c)
{
    static const char *const need[] = {"rules", "lexicons", "accents"};

    for (size_t i = 0; i < ARRAY_LEN(need); i++)
        if (c->key_bad[key_index(need[i])])
            return 0;
    return 1;
}

struct config *config_defaults_new(void)
{
    struct config *c = xcalloc(1, sizeof *c);
    struct errlist errs = {0};

    c->path = xstrdup("(defaults)");
    if (config_defaults(c, keys, NKEYS) < 0)
        abort();                        /* only without memory (xcalloc would have) */
    parse_priority(c, &errs);           /* the defaults are valid */
    errlist_free(&errs);
    return c;
}

static void secret_free(char *s)
{
    if (s) {
        explicit_bzero(s, strlen(s));
        free(s);
    }
}

void config_free(struct config *c)
{
    struct source_conf *s, *next;

    if (!c)
        return;
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].type == CT_STR)
            free(*(char **)field_ptr(c, keys[i].off));
    for (s = c->sources; s; s = next) {
        next = s->next;
        source_conf_free(s);
    }
    for (int i = 0; i < c->accounts.n; i++)
        free(c->accounts.shape[i]);
    handle_list_free(&c->own_list);
    handle_list_free(&c->imp_allow);
    free(c->path);
    free(c->redis_unix);
    free(c->redis_host);
    secret_free(c->redis_password);
    secret_free(c->pagerduty_key);
    secret_free(c->webhook);
    errlist_free(&c->warnings);
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

/* Equal keys, and equal what they derive (the token read, the framing
 * resolved, the DIDs read from dids_file). */
int source_conf_equal(const struct source_conf *a, const struct source_conf *b)
{
    const struct ckey *k;

    if (!str_eq(a->name, b->name) || !str_eq(a->token, b->token) || a->framing != b->framing ||
        a->driver != b->driver || a->format_driver != b->format_driver || a->keys_applied != b->keys_applied)
        return 0;
    for (size_t i = 0; (k = source_key_at(a, i)); i++)
        if (!ckey_equal(k, key_base(a, k), key_base(b, k)))
            return 0;
    for (int i = 0; i < PF_COUNT; i++)
        if (!str_eq(a->field[i], b->field[i]))
            return 0;
    return 1;
}

int config_key_info(enum config_key_kind kind, size_t n, struct config_key_info *out)
{
    const struct ckey *k = NULL;

    out->type = NULL;
    if (kind == CK_GLOBAL) {
        if (n >= NKEYS)
            return -1;
        k = &keys[n];
    } else if (n < NSKEYS) {
        k = &skeys[n];
    } else {
        n -= NSKEYS;
        for (size_t i = 0; i < source_driver_count && !k; i++) {
            if (n < source_drivers[i]->nkeys) {
                k = &source_drivers[i]->keys[n];
                out->type = source_drivers[i]->name;
            }
            n -= source_drivers[i]->nkeys;
        }
        if (!k)
            return -1;
    }
    out->section = k->section;
    out->key = k->key;
    out->def = k->def;
    out->is_int = k->type == CT_INT;
    out->min = k->min;
    out->max = k->max;
    out->restart = (k->flags & KEY_RESTART) != 0;
    out->secret = (k->flags & KEY_SECRET) != 0;
    return 0;
}

/* ---- reload: restart-only keys keep their running values ---- */

static void str_set(char **dst, const char *src)
{
    char *d = src ? xstrdup(src) : NULL;
    free(*dst);
    *dst = d;
}

/* Copies a secret; 1 if it differed. */
static int secret_carry(char **dst, const char *src)
{
    int differ = !str_eq(*dst, src);
    char *d = src ? xstrdup(src) : NULL;

    secret_free(*dst);
    *dst = d;
    return differ;
}

static int carry_redis_address(struct config *next, const struct config *running)
{
    int differ = !str_eq(next->redis_unix, running->redis_unix) || !str_eq(next->redis_host, running->redis_host) ||
                 next->redis_port != running->redis_port || next->redis_db != running->redis_db;
    str_set(&next->redis_unix, running->redis_unix);
    str_set(&next->redis_host, running->redis_host);
    next->redis_port = running->redis_port;
    next->redis_db = running->redis_db;
    return differ;
}

static int carry_redis_password(struct config *next, const struct config *running)
{
    return secret_carry(&next->redis_password, running->redis_password);
}

static int carry_pagerduty_key(struct config *next, const struct config *running)
{
    return secret_carry(&next->pagerduty_key, running->pagerduty_key);
}

static int carry_webhook(struct config *next, const struct config *running)
{
    return secret_carry(&next->webhook, running->webhook);
}

static void name_append(char *out, size_t outlen, const char *section, const char *key, const char *note)
{
    size_t n = strlen(out);
    snprintf(out + n, outlen - n, "%s[%s] %s%s", n ? ", " : "", section, key, note);
}

int config_keep_restart(struct config *next, const struct config *running, char *out, size_t outlen)
{
    carry_fn explained[NKEYS], done[NKEYS];
    int nexpl = 0, ndone = 0, changed = 0;

    out[0] = '\0';
    for (size_t i = 0; i < NKEYS; i++) {
        const struct ckey *k = &keys[i];
        if (!(k->flags & KEY_RESTART) || ckey_equal(k, next, running))
            continue;
        name_append(out, outlen, k->section, k->key, "");
        changed++;
        if (k->type == CT_STR)
            str_set(field_ptr(next, k->off), *(char *const *)field_ptr(running, k->off));
        else
            *(long long *)field_ptr(next, k->off) = *(const long long *)field_ptr(running, k->off);
        if (k->carry)
            explained[nexpl++] = k->carry;
    }
    /* What a key derives, copied once per kind; a difference no changed
     * key explains is the content of the file it names. */
    for (size_t i = 0; i < NKEYS; i++) {
        const struct ckey *k = &keys[i];
        int seen = 0, expl = 0;
        if (!(k->flags & KEY_RESTART) || !k->carry)
            continue;
        for (int j = 0; j < ndone; j++)
            seen |= done[j] == k->carry;
        if (seen)
            continue;
        done[ndone++] = k->carry;
        for (int j = 0; j < nexpl; j++)
            expl |= explained[j] == k->carry;
        if (k->carry(next, running) && !expl) {
            name_append(out, outlen, k->section, k->key, " (the file's content)");
            changed++;
        }
    }
    return changed;
}

/* ---- the running configuration, for GET /config ---- */

/* Every key of a table, a [section] line before each new section (the
 * table keeps a section's keys together); strings whole, not cut. */
static void dump_table(struct buf *out, const struct ckey *tab, size_t n, const void *base, const char *header)
{
    char val[256];

    for (size_t i = 0; i < n; i++) {
        const char *str = tab[i].type == CT_STR ? *(char *const *)field_ptr(base, tab[i].off) : NULL;
        if (header && (i == 0 || strcmp(tab[i].section, tab[i - 1].section)))
            buf_printf(out, "\n[%s]\n", tab[i].section);
        if (str && !(tab[i].flags & KEY_SECRET)) {
            buf_printf(out, "%s = %s\n", tab[i].key, str);
            continue;
        }
        ckey_format(&tab[i], base, val, sizeof val);
        buf_printf(out, "%s = %s\n", tab[i].key, val);
    }
}

void config_dump(const struct config *c, struct buf *out)
{
    buf_printf(out, "# running configuration of %s (secrets hidden)\n# restart-only:", c->path);
    for (size_t i = 0; i < NKEYS; i++)
        if (keys[i].flags & KEY_RESTART)
            buf_printf(out, " [%s] %s,", keys[i].section, keys[i].key);
    buf_printf(out, "\n");
    dump_table(out, keys, NKEYS, c, "sections");
    for (const struct source_conf *s = c->sources; s; s = s->next) {
        const struct ckey *k;
        char shown[100];
        buf_printf(out, "\n[%s]\n", source_section(s->name, shown, sizeof shown));
        for (size_t i = 0; (k = source_key_at(s, i)); i++)
            dump_table(out, k, 1, key_base(s, k), NULL);
        for (int i = 0; i < PF_COUNT; i++)
            if (s->field[i] && strcmp(s->field[i], post_field_defaults[i]))
                buf_printf(out, "field.%s = %s\n", post_field_names[i], s->field[i]);
    }
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

struct source_conf *source_conf_dup(const struct source_conf *s)
{
    struct source_conf *d = xmalloc(sizeof *d);
    const struct ckey *k;

    *d = *s;
    d->pending = NULL;                  /* applied by validation */
    for (int j = 0; j < 2; j++) {
        const struct source_driver *drv = j ? s->format_driver : s->driver;
        d->own[j] = s->own[j] ? xmalloc(drv->own_size) : NULL;
        if (d->own[j])
            memcpy(d->own[j], s->own[j], drv->own_size);
    }
    for (size_t i = 0; (k = source_key_at(s, i)); i++)
        if (k->type == CT_STR)
            *(char **)field_ptr(key_base(d, k), k->off) = dup_or_null(*(char *const *)field_ptr(key_base(s, k), k->off));
    d->name = dup_or_null(s->name);
    d->type_name = dup_or_null(s->type_name);
    d->token = dup_or_null(s->token);
    for (int i = 0; i < PF_COUNT; i++)
        d->field[i] = dup_or_null(s->field[i]);
    d->next = NULL;
    return d;
}
