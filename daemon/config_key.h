/* config_key: the shape of one configuration key, for config.c's tables
 * and the source drivers' own (source_TYPE.c).
 *
 * A key is a row: section, name, type, where its value is stored (an
 * offset into struct config, or struct source_conf for [source] keys), its
 * default as written, its range, flags and an optional check.  The generic
 * loader parses, defaults, compares, copies, frees and prints every key
 * from these rows; nothing else lists keys.
 */
#ifndef MENTIOND_CONFIG_KEY_H
#define MENTIOND_CONFIG_KEY_H

#include "config.h"

#include <stddef.h>

enum ctype { CT_STR, CT_INT, CT_BOOL, CT_LOGLEVEL, CT_FACILITY, CT_ACCENTS, CT_MODE, CT_DURABILITY, CT_FSYNC,
             CT_SRCTYPE, CT_LEVEL };

/* What a value must satisfy beyond its type, checked once the file is
 * read (a default too: the start needs it as much as a written value).
 * Returns NULL or why not, in why. */
struct kcheck {
    struct config *c;                   /* for warnings */
    int configured;                     /* written in the file (else the default) */
    char why[1400];
};
typedef const char *(*check_fn)(struct kcheck *k, const char *v);
/* Copies what a restart-only key derives (the resolved address, a secret
 * read from its file) from the running configuration; 1 if it differed. */
typedef int (*carry_fn)(struct config *next, const struct config *running);

/* KEY_OWN: a source key stored in its driver's own settings (see
 * SOURCE_OWN_KEY), not in struct source_conf. */
enum { KEY_RESTART = 1, KEY_SECRET = 2, KEY_OWN = 4 };

struct ckey {
    const char *section;        /* "daemon", "redis", "priority", "alerting"; "source" for [source] keys */
    const char *key;
    enum ctype type;
    size_t off;                 /* into struct config, struct source_conf, or (KEY_OWN) a driver's own */
    const char *def;            /* default, parsed like a value; NULL = unset */
    long long min, max;
    unsigned flags;             /* KEY_RESTART: a reload keeps the running value; KEY_SECRET */
    check_fn check;
    carry_fn carry;
};

/* A [source] key of a driver's table: name, type, field, default, range.
 * SOURCE_KEY stores it in struct source_conf (for keys other modules read:
 * a decoder, the life cycle); SOURCE_OWN_KEY in the driver's own struct
 * (own_size bytes; the driver reads it with source_own()), so a new type's
 * keys need nothing outside its file. */
#define SOURCE_KEY(name, type, field, def, min, max) \
    {"source", name, type, offsetof(struct source_conf, field), def, min, max, 0, NULL, NULL}
#define SOURCE_OWN_KEY(name, type, own_struct, field, def, min, max) \
    {"source", name, type, offsetof(own_struct, field), def, min, max, KEY_OWN, NULL, NULL}

/* For drivers' checks: an error about a source's key, "file:line: [source
 * "NAME"] key = value: why" (the section's line when the key is not set);
 * with key NULL, about the section: "file:line: [source "NAME"]: why". */
void source_key_error(struct errlist *errs, const struct config *c, const struct source_conf *s, const char *key,
                      const char *fmt, ...) __attribute__((format(printf, 5, 6)));
/* 1 if the section sets key (else it has its default). */
int source_key_written(const struct source_conf *s, const char *key);

#endif
