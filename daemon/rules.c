/* rules: rule files to a compiled ruleset; see rules.h. */
#include "rules.h"
#include "inifile.h"
#include "json.h"
#include "matcher.h"
#include "strmap.h"

#include <ctype.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct rloader {
    struct ruleset *rs;
    struct errlist *errs;
    int accents_fold;
    int cur;                    /* index of the rule being read, -1 none */
    char *query_text;           /* of the current rule */
    struct inifile_pos query_pos;
    char *query_raw;            /* copy of the raw line */
    unsigned seen;              /* bitmask of keys set in the current rule */
    struct strmap names;        /* rule name -> index, for duplicates */
    char lexicons[4096];        /* term-list directory */
    struct strmap lists;        /* list name -> index into the loaded lists */
    struct term_list *loaded;
    int nloaded;
};

/* A term list file, read once per load and shared by every rule using it. */
struct term_list {
    char *data;                 /* the file, split in place */
    const char **entries;
    int n;
    char *error;                /* why it could not be read, or NULL */
};

static int valid_list_name(const char *n)
{
    if (!*n || strlen(n) > 64)
        return 0;
    for (; *n; n++)
        if (!isalnum((unsigned char)*n) && *n != '-' && *n != '_')
            return 0;
    return 1;
}

int rules_max_count = RULES_MAX_COUNT;

static char rules_oom[] = "out of memory";

/* A list's error: a copy, or the static "out of memory". */
static void term_list_fail(struct term_list *l, const char *err)
{
    if (!(l->error = xstrdup_try(err)))
        l->error = rules_oom;
}

static void term_list_read(struct term_list *l, const char *path)
{
    char err[9000], *line, *next;
    size_t len;

    l->data = file_read_all(path, RULES_MAX_LIST_BYTES, &len, err, sizeof err);
    if (!l->data) {
        term_list_fail(l, err);
        return;
    }
    for (line = l->data; line && *line; line = next) {
        char *end;
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        while (*line == ' ' || *line == '\t')
            line++;
        end = line + strlen(line);
        while (end > line && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\r'))
            *--end = '\0';
        if (!*line || *line == ';')
            continue;
        if (l->n >= QUERY_MAX_LIST_TERMS) {
            snprintf(err, sizeof err, "%s: more than %d entries", path, QUERY_MAX_LIST_TERMS);
            term_list_fail(l, err);
            return;
        }
        if ((l->n & (l->n - 1)) == 0) {
            const char **grown = xrealloc_try(l->entries, sizeof *l->entries * (size_t)(l->n ? l->n * 2 : 1));
            if (!grown) {
                term_list_fail(l, rules_oom);
                return;
            }
            l->entries = grown;
        }
        l->entries[l->n++] = line;
    }
}

/* query_env.list: LEXICONS/NAME.txt, read at most once per load. */
static int rloader_list(void *ctx, const char *name, const char *const **entries, int *n,
                        char *err, size_t errlen)
{
    struct rloader *ld = ctx;
    struct term_list *l;
    char path[8192];
    int inserted, *idx;

    if (!valid_list_name(name)) {
        snprintf(err, errlen, "a list name is 1-64 letters, digits, '-' or '_'");
        return -1;
    }
    if (!(idx = strmap_put_try(&ld->lists, name, strlen(name), ld->nloaded, &inserted)))
        goto nomem;
    if (inserted) {
        struct term_list *grown = xrealloc_try(ld->loaded, sizeof *ld->loaded * (size_t)(ld->nloaded + 1));
        if (!grown) {
            *idx = -1;                  /* in the map, not loaded: read again next time */
            goto nomem;
        }
        ld->loaded = grown;
        memset(&ld->loaded[ld->nloaded], 0, sizeof *ld->loaded);
        snprintf(path, sizeof path, "%s/%s.txt", ld->lexicons, name);
        term_list_read(&ld->loaded[ld->nloaded++], path);
    }
    if (*idx < 0)
        goto nomem;
    l = &ld->loaded[*idx];
    if (l->error) {
        snprintf(err, errlen, "%s", l->error);
        return -1;
    }
    *entries = l->entries;
    *n = l->n;
    return 0;
nomem:
    snprintf(err, errlen, "%s", rules_oom);
    return -1;
}

static void rloader_free_lists(struct rloader *ld)
{
    for (int i = 0; i < ld->nloaded; i++) {
        free(ld->loaded[i].data);
        free(ld->loaded[i].entries);
        if (ld->loaded[i].error != rules_oom)
            free(ld->loaded[i].error);
    }
    free(ld->loaded);
    strmap_free(&ld->lists);
}

enum { K_QUERY = 1, K_QUEUE = 2, K_PRIORITY = 4, K_TAG = 8, K_ACCENTS = 16, K_SPIKE = 32, K_TOPIC = 64,
       K_BUDGET = 128 };

static int valid_ident(const char *n, size_t max)
{
    size_t len = strlen(n);
    if (len == 0 || len > max)
        return 0;
    for (; *n; n++)
        if (!isalnum((unsigned char)*n) && *n != '-' && *n != '_' && *n != '.')
            return 0;
    return 1;
}

static void rule_free_fields(struct rule *r)
{
    free(r->name);
    free(r->queue);
    free(r->tag);
    free(r->topic);
    free(r->file);
    free(r->term_ids);
    query_free(r->q);
    for (int i = 0; i < r->nmeta; i++) {
        free(r->meta_key[i]);
        free(r->meta_val[i]);
    }
    free(r->meta_key);                  /* meta_val is in the same block */
}

/* Compile the query of the rule just finished, now that its accents key
 * (which may follow the query) is known. */
static void rloader_finish_rule(struct rloader *ld)
{
    struct rule *r;
    char err[512];
    int col, lcol;

    if (ld->cur < 0)
        return;
    r = &ld->rs->rules[ld->cur];
    if (!(ld->seen & K_QUERY)) {
        errlist_add(ld->errs, "%s:%d: rule \"%s\" has no query", r->file, r->line, r->name);
    } else if (!ld->query_text || !ld->query_raw) {
        ;                               /* out of memory, said already */
    } else if (query_parse(ld->query_text,
                           &(struct query_env){.fold = r->fold, .list = rloader_list, .ctx = ld},
                           &r->q, err, sizeof err, &col) != 0) {
        ld->query_pos.raw = ld->query_raw;
        lcol = inifile_column(&ld->query_pos, ld->query_text, 0);
        /* The query on its own line with a caret under the column. */
        errlist_add(ld->errs, "%s:%d:%d: rule \"%s\": %s\n    %s\n    %*s^", r->file,
                    ld->query_pos.line, lcol ? lcol + col - 1 : col, r->name, err,
                    ld->query_text, col - 1, "");
    }
    free(ld->query_text);
    free(ld->query_raw);
    ld->query_text = ld->query_raw = NULL;
    ld->cur = -1;
}

static int rloader_new_rule(struct rloader *ld, const struct inifile_pos *pos, const char *name)
{
    struct ruleset *rs = ld->rs;
    struct rule *r;

    if (!valid_ident(name, 128)) {
        errlist_add(ld->errs, "%s:%d: rule name '%s': use 1-128 letters, digits, '-', '_' or '.'",
                    pos->file, pos->line, name);
        return -1;
    }
    int *idx = strmap_get(&ld->names, name, strlen(name));
    if (idx) {
        const struct rule *o = &rs->rules[*idx];
        errlist_add(ld->errs, "%s:%d: duplicate rule \"%s\" (first defined at %s:%d)",
                    pos->file, pos->section_line ? pos->section_line : pos->line, name, o->file, o->line);
        return -1;
    }
    if (rs->n >= rules_max_count) {
        errlist_add(ld->errs, "%s:%d: more than %d rules", pos->file,
                    pos->section_line ? pos->section_line : pos->line, rules_max_count);
        return -1;
    }
    if ((rs->n & (rs->n - 1)) == 0) {       /* grow at powers of two */
        struct rule *grown = xrealloc_try(rs->rules, sizeof *rs->rules * (size_t)(rs->n ? rs->n * 2 : 1));
        if (!grown)
            goto nomem;
        rs->rules = grown;
    }
    r = &rs->rules[rs->n];
    memset(r, 0, sizeof *r);
    r->level = LEVEL_NORMAL;
    r->fold = ld->accents_fold;
    r->line = pos->section_line ? pos->section_line : pos->line;
    /* Named in the map last: a name there always has its rule. */
    if (!(r->name = xstrdup_try(name)) || !(r->queue = xstrdup_try("default")) ||
        !(r->file = xstrdup_try(pos->file)) || !strmap_put_try(&ld->names, name, strlen(name), rs->n, NULL)) {
        rule_free_fields(r);
        goto nomem;
    }
    ld->cur = rs->n++;
    ld->seen = 0;
    return 0;
nomem:
    errlist_add(ld->errs, "%s:%d: rule \"%s\": out of memory", pos->file, pos->line, name);
    return -1;
}

/* Replace a rule's string field with a copy of value. */
static int rule_set_str(struct rloader *ld, const struct inifile_pos *pos, char **field, const char *value)
{
    char *dup = xstrdup_try(value);

    if (!dup) {
        errlist_add(ld->errs, "%s:%d: out of memory", pos->file, pos->line);
        return -1;
    }
    free(*field);
    *field = dup;
    return 0;
}

static int rloader_key(void *ctx, const struct inifile_pos *pos, const char *section,
                       const char *key, const char *value)
{
    struct rloader *ld = ctx;
    struct rule *r;
    const char *q, *e;
    char name[160];
    unsigned bit = 0;

    if (strncmp(section, "rule", 4) != 0 || (section[4] != ' ' && section[4] != '\t') ||
        !(q = strchr(section + 4, '"')) || !(e = strchr(q + 1, '"')) || e[1] ||
        (size_t)(e - q - 1) >= sizeof name) {
        errlist_add(ld->errs, "%s:%d: expected a [rule \"name\"] section, not [%s]", pos->file,
                    pos->line, section);
        return -1;
    }
    memcpy(name, q + 1, (size_t)(e - q - 1));
    name[e - q - 1] = '\0';
    if (ld->cur < 0 || strcmp(ld->rs->rules[ld->cur].name, name) != 0) {
        rloader_finish_rule(ld);
        if (rloader_new_rule(ld, pos, name))
            return -1;
    }
    r = &ld->rs->rules[ld->cur];
    if (strcmp(key, "query") == 0)
        bit = K_QUERY;
    else if (strcmp(key, "queue") == 0)
        bit = K_QUEUE;
    else if (strcmp(key, "priority") == 0)
        bit = K_PRIORITY;
    else if (strcmp(key, "tag") == 0)
        bit = K_TAG;
    else if (strcmp(key, "accents") == 0)
        bit = K_ACCENTS;
    else if (strcmp(key, "spike") == 0)
        bit = K_SPIKE;
    else if (strcmp(key, "topic") == 0)
        bit = K_TOPIC;
    else if (strcmp(key, "budget") == 0)
        bit = K_BUDGET;
    if (bit && (ld->seen & bit)) {
        errlist_add(ld->errs, "%s:%d: duplicate key '%s' in rule \"%s\"", pos->file, pos->line, key, name);
        return -1;
    }
    ld->seen |= bit;
    switch (bit) {
    case K_QUERY:
        ld->query_text = xstrdup_try(value);
        ld->query_pos = *pos;
        ld->query_raw = xstrndup_try(pos->raw, pos->rawlen);
        if (!ld->query_text || !ld->query_raw)
            goto nomem;                 /* rloader_finish_rule frees what was made */
        return 0;
    case K_QUEUE:
        if (!valid_ident(value, 64)) {
            errlist_add(ld->errs, "%s:%d: queue '%s': use 1-64 letters, digits, '-', '_' or '.'",
                        pos->file, pos->line, value);
            return -1;
        }
        return rule_set_str(ld, pos, &r->queue, value);
    case K_PRIORITY:
        if ((r->level = level_parse(value)) < 0) {
            errlist_add(ld->errs, "%s:%d: priority = %s: expected critical, high, normal or low",
                        pos->file, pos->line, value);
            r->level = LEVEL_NORMAL;
            return -1;
        }
        return 0;
    case K_TAG:
        return rule_set_str(ld, pos, &r->tag, value);
    case K_ACCENTS:
        if (strcmp(value, "fold") && strcmp(value, "keep")) {
            errlist_add(ld->errs, "%s:%d: accents = %s: expected fold or keep", pos->file, pos->line, value);
            return -1;
        }
        r->fold = strcmp(value, "fold") == 0;
        return 0;
    case K_SPIKE:
        if (strcmp(value, "on") && strcmp(value, "off")) {
            errlist_add(ld->errs, "%s:%d: spike = %s: expected on or off", pos->file, pos->line, value);
            return -1;
        }
        r->spike = strcmp(value, "on") == 0;
        return 0;
    case K_BUDGET:
        if (strcmp(value, "keep") && strcmp(value, "best_effort")) {
            errlist_add(ld->errs, "%s:%d: budget = %s: expected keep or best_effort", pos->file, pos->line, value);
            return -1;
        }
        r->best_effort = strcmp(value, "best_effort") == 0;
        return 0;
    case K_TOPIC:
        if (!valid_ident(value, 64)) {
            errlist_add(ld->errs, "%s:%d: topic '%s': use 1-64 letters, digits, '-', '_' or '.'",
                        pos->file, pos->line, value);
            return -1;
        }
        return rule_set_str(ld, pos, &r->topic, value);
    }
    if (strncmp(key, "meta.", 5) == 0 && key[5]) {
        if (r->nmeta >= RULES_MAX_META) {
            errlist_add(ld->errs, "%s:%d: more than %d meta.* keys", pos->file, pos->line, RULES_MAX_META);
            return -1;
        }
        for (int i = 0; i < r->nmeta; i++)
            if (strcmp(r->meta_key[i], key + 5) == 0) {
                errlist_add(ld->errs, "%s:%d: duplicate key '%s'", pos->file, pos->line, key);
                return -1;
            }
        /* Most rules have none: the arrays would be half a kilobyte of
         * every rule (50 MB of 100,000 rules) */
        if (!r->meta_key) {
            if (!(r->meta_key = xcalloc_try(2 * RULES_MAX_META, sizeof *r->meta_key)))
                goto nomem;
            r->meta_val = r->meta_key + RULES_MAX_META;
        }
        r->meta_key[r->nmeta] = xstrdup_try(key + 5);
        r->meta_val[r->nmeta] = xstrdup_try(value);
        if (!r->meta_key[r->nmeta] || !r->meta_val[r->nmeta]) {
            free(r->meta_key[r->nmeta]);
            free(r->meta_val[r->nmeta]);
            goto nomem;
        }
        r->nmeta++;
        return 0;
    }
    errlist_add(ld->errs, "%s:%d: unknown key '%s' in rule \"%s\" (query, queue, priority, tag, "
                "accents, spike, topic, budget, meta.*)", pos->file, pos->line, key, name);
    return -1;
nomem:
    errlist_add(ld->errs, "%s:%d: %s: out of memory", pos->file, pos->line, key);
    return -1;
}

/* LEXICONS default: "lexicons" beside the directory of the rule files. */
void rules_default_lexicons(const char *pattern, char *out, size_t outlen)
{
    char dir[4096];
    char *slash;

    str_copy(dir, pattern, sizeof dir);
    slash = strrchr(dir, '/');
    if (!slash) {
        snprintf(out, outlen, "../lexicons");
        return;
    }
    *slash = '\0';
    slash = strrchr(dir, '/');
    if (slash)
        snprintf(out, outlen, "%.*s/lexicons", (int)(slash - dir), dir);
    else
        snprintf(out, outlen, "lexicons");
}

/* The keys of a JSON rule, as rule-file keys and values. */
struct json_rule {
    char keys[RULES_MAX_META + 8][80];
    char *vals[RULES_MAX_META + 8];
    int n;
    const char *error;
};

static int json_rule_field(void *ctx, const struct json_event *ev)
{
    struct json_rule *jr = ctx;
    static const char *const plain[] = {"/query", "/queue", "/priority", "/tag", "/accents", "/spike",
                                         "/topic", "/budget"};
    const char *p = ev->ptr;

    if (ev->depth == 0 || (ev->depth == 1 && !strcmp(p, "/meta") &&
                           (ev->type == JSON_MAP_START || ev->type == JSON_MAP_END))) {
        if (ev->depth == 0 && ev->type != JSON_MAP_START && ev->type != JSON_MAP_END) {
            *ev->reject = "a rule is a JSON object";
            return 1;
        }
        return 0;
    }
    if (ev->type != JSON_STRING) {
        *ev->reject = "every value of a rule is a string (meta is an object of strings)";
        return 1;
    }
    if (jr->n >= (int)ARRAY_LEN(jr->keys)) {
        *ev->reject = "too many keys";
        return 1;
    }
    for (size_t i = 0; i < ARRAY_LEN(plain); i++)
        if (!strcmp(p, plain[i]))
            snprintf(jr->keys[jr->n], sizeof jr->keys[0], "%s", p + 1);
    if (!strncmp(p, "/meta/", 6) && ev->depth == 2)
        snprintf(jr->keys[jr->n], sizeof jr->keys[0], "meta.%s", p + 6);
    if (!jr->keys[jr->n][0]) {
        *ev->reject = "unknown key (query, queue, priority, tag, accents, spike, topic, budget, meta)";
        return 1;
    }
    if (!(jr->vals[jr->n] = xstrndup_try(ev->val, ev->val_len))) {
        *ev->reject = "out of memory";
        return 1;
    }
    jr->n++;
    return 0;
}

static void rloader_json_rule(struct rloader *ld, const struct rule_text *rt, const char *origin)
{
    struct json_rule jr;
    struct json_reader *r;
    char file[512], section[200], err[256];
    struct inifile_pos pos = {.file = file, .line = 1, .section_line = 1};

    memset(&jr, 0, sizeof jr);
    snprintf(file, sizeof file, "%s/%s", origin, rt->name);
    r = json_reader_new(4, json_rule_field, &jr);
    if (!r) {
        errlist_add(ld->errs, "%s:1: out of memory", file);
    } else if (json_reader_parse(r, rt->json, strlen(rt->json), err, sizeof err) != 0) {
        errlist_add(ld->errs, "%s:1: %s", file, err);
    } else if (jr.n == 0) {
        errlist_add(ld->errs, "%s:1: rule \"%s\" has no query", file, rt->name);
    } else {
        snprintf(section, sizeof section, "rule \"%s\"", rt->name);
        for (int i = 0; i < jr.n; i++) {
            /* The value is its own "line": columns count from the query. */
            pos.raw = jr.vals[i];
            pos.rawlen = strlen(jr.vals[i]);
            rloader_key(ld, &pos, section, jr.keys[i], jr.vals[i]);
        }
        rloader_finish_rule(ld);
    }
    json_reader_free(r);
    for (int i = 0; i < jr.n; i++)
        free(jr.vals[i]);
}

/* The scorer's lexicons: a rule per word list present, accents folded
 * (customers write "bedrageri" as often as "bedrägeri"). */
static struct ruleset *lexicon_build(const char *dir, struct errlist *errs)
{
    static const char *const names[] = {LEXICON_URGENCY, LEXICON_NEGATIVE};
    struct rule_text rt[2];
    char path[8192], json[128];
    int n = 0;

    for (size_t i = 0; i < ARRAY_LEN(names); i++) {
        snprintf(path, sizeof path, "%s/%s.txt", dir, names[i]);
        if (access(path, R_OK) != 0)
            continue;
        snprintf(json, sizeof json, "{\"query\": \"list:%s\", \"accents\": \"fold\"}", names[i]);
        rt[n].name = (char *)names[i];
        if (!(rt[n].json = xstrdup_try(json))) {
            errlist_add(errs, "%s: out of memory", path);
            while (n > 0)
                free(rt[--n].json);
            return NULL;
        }
        n++;
    }
    if (n == 0)
        return NULL;
    struct ruleset *lex = rules_load_with(NULL, 1, dir, rt, n, "lexicon", errs);
    for (int i = 0; i < n; i++)
        free(rt[i].json);
    return lex;
}

struct ruleset *rules_load(const char *pattern, int accents_fold, const char *lexicons,
                           struct errlist *errs)
{
    return rules_load_with(pattern, accents_fold, lexicons, NULL, 0, NULL, errs);
}

struct ruleset *rules_load_with(const char *pattern, int accents_fold, const char *lexicons,
                                const struct rule_text *extra, int nextra, const char *origin,
                                struct errlist *errs)
{
    struct ruleset *rs = xcalloc_try(1, sizeof *rs);
    struct rloader ld = {.rs = rs, .errs = errs, .accents_fold = accents_fold, .cur = -1};
    int before = errs->n, grc;
    glob_t g;

    strmap_init(&ld.names);
    strmap_init(&ld.lists);
    if (!rs) {
        errlist_add(errs, "%s: out of memory", pattern ? pattern : "rules");
        return NULL;
    }
    if (lexicons && *lexicons)
        str_copy(ld.lexicons, lexicons, sizeof ld.lexicons);
    else
        rules_default_lexicons(pattern, ld.lexicons, sizeof ld.lexicons);
    memset(&g, 0, sizeof g);
    grc = pattern ? glob(pattern, 0, NULL, &g) : 0;
    if (grc == GLOB_NOMATCH) {
        errlist_add(errs, "%s: no rule file matches this pattern (missing or unreadable directory?)", pattern);
        goto fail;
    } else if (grc != 0) {
        errlist_add(errs, "%s: cannot list rule files", pattern);
        goto fail;
    }
    for (size_t i = 0; pattern && i < g.gl_pathc; i++) {    /* glob() sorts */
        inifile_parse(g.gl_pathv[i], rloader_key, &ld, errs);
        rloader_finish_rule(&ld);
        rs->nfiles++;
    }
    globfree(&g);
    for (int i = 0; i < nextra; i++)
        rloader_json_rule(&ld, &extra[i], origin ? origin : "extra");
    strmap_free(&ld.names);
    if (errs->n > before)
        goto fail;
    {
        char err[512];
        rs->m = matcher_build(rs->rules, rs->n, err, sizeof err);
        if (!rs->m) {
            errlist_add(errs, "%s: cannot compile the rules: %s", pattern, err);
            goto fail;
        }
    }
    rloader_free_lists(&ld);
    if (pattern && !(rs->lexicons = xstrdup_try(ld.lexicons))) {
        errlist_add(errs, "%s: out of memory", ld.lexicons);
        goto fail_built;
    }
    if (pattern && !(rs->lex = lexicon_build(ld.lexicons, errs)) && errs->n > before)
        goto fail_built;
    return rs;
fail_built:
    rules_free(rs);
    return NULL;
fail:
    rloader_free_lists(&ld);
    strmap_free(&ld.names);
    free(ld.query_text);
    free(ld.query_raw);
    rules_free(rs);
    return NULL;
}

int rules_count(const struct ruleset *rs)
{
    return rs->n;
}

const char *rules_name(const struct ruleset *rs, int i)
{
    return rs->rules[i].name;
}

void rules_free(struct ruleset *rs)
{
    if (!rs)
        return;
    rules_free(rs->lex);
    free(rs->lexicons);
    matcher_free(rs->m);
    for (int i = 0; i < rs->n; i++)
        rule_free_fields(&rs->rules[i]);
    free(rs->rules);
    free(rs);
}

void rules_lexicons_describe(const struct ruleset *rs, char *out, size_t outlen)
{
    size_t n = 0;

    if (!rs->lex || rs->lex->n == 0) {
        snprintf(out, outlen, "without word lists (no %s.txt or %s.txt in %s)", LEXICON_URGENCY, LEXICON_NEGATIVE,
                 rs->lexicons ? rs->lexicons : "any directory");
        return;
    }
    n = (size_t)snprintf(out, outlen, "with the word lists ");
    for (int i = 0; i < rs->lex->n && n < outlen; i++)
        n += (size_t)snprintf(out + n, outlen - n, "%s%s", i ? ", " : "", rs->lex->rules[i].name);
    if (n < outlen)
        snprintf(out + n, outlen - n, " from %s", rs->lexicons ? rs->lexicons : "?");
}

const struct rule *rules_find(const struct ruleset *rs, const char *name)
{
    /* Linear: used at load time only, for duplicate checks. */
    for (int i = rs->n - 1; i >= 0; i--)
        if (strcmp(rs->rules[i].name, name) == 0)
            return &rs->rules[i];
    return NULL;
}
