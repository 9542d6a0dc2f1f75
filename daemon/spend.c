/* spend: posts read against a daily budget; see spend.h. */
#include "spend.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS 86400000ULL

static uint64_t id_hash(const char *id)
{
    uint64_t h = hash_bytes(id, strlen(id));

    return h ? h : 1;                   /* 0 marks an empty slot */
}

void spend_init(struct spend *s, uint64_t budget_posts)
{
    memset(s, 0, sizeof *s);
    s->budget = budget_posts;
}

void spend_free(struct spend *s)
{
    free(s->ids);
    free(s->rules);
    memset(s, 0, sizeof *s);
}

static void new_day(struct spend *s, uint64_t day)
{
    s->day = day;
    s->read = 0;
    s->nids = 0;
    s->warned = s->spent = 0;
    if (s->ids)
        memset(s->ids, 0, SPEND_IDS * sizeof *s->ids);
    for (int i = 0; i < s->nrules; i++)
        s->rules[i].read = 0;
}

int spend_tick(struct spend *s, uint64_t now_ms)
{
    uint64_t day = now_ms / DAY_MS;
    int was_spent = s->spent;

    if (day == s->day)
        return 0;
    new_day(s, day);
    return was_spent;
}

/* 1 if id was read today already; else remembers it (while there is room). */
static int seen_today(struct spend *s, const char *id)
{
    uint64_t h = id_hash(id);
    size_t i;

    if (!s->ids && !(s->ids = xcalloc_try(SPEND_IDS, sizeof *s->ids)))
        return 0;
    for (i = h & (SPEND_IDS - 1);; i = (i + 1) & (SPEND_IDS - 1)) {
        if (s->ids[i] == h)
            return 1;
        if (!s->ids[i])
            break;
    }
    if (s->nids < SPEND_IDS / 2) {      /* half full at most: probes stay short */
        s->ids[i] = h;
        s->nids++;
    }
    return 0;
}

static void count_rule(struct spend *s, const char *name)
{
    int i;

    for (i = 0; i < s->nrules; i++)
        if (!strcmp(s->rules[i].name, name))
            break;
    if (i == s->nrules) {
        if (s->nrules >= SPEND_RULES)
            name = "_other";
        for (i = 0; i < s->nrules && strcmp(s->rules[i].name, name); i++)
            ;
        if (i == s->nrules) {
            struct spend_rule *g = xrealloc_try(s->rules, (size_t)(s->nrules + 1) * sizeof *g);
            if (!g)
                return;
            s->rules = g;
            memset(&g[i], 0, sizeof *g);
            str_copy(g[i].name, name, sizeof g[i].name);
            s->nrules++;
        }
    }
    s->rules[i].read++;
}

enum spend_event spend_read(struct spend *s, uint64_t now_ms, const char *id, const char *const *tags, int ntags)
{
    spend_tick(s, now_ms);
    if (id && seen_today(s, id))
        return SPEND_NONE;              /* billed once a day */
    s->read++;
    s->read_total++;
    for (int i = 0; i < ntags; i++)
        if (tags[i])
            count_rule(s, tags[i]);
    if (!s->budget)
        return SPEND_NONE;
    if (!s->spent && s->read >= s->budget) {
        s->spent = s->warned = 1;
        return SPEND_SPENT;
    }
    if (!s->warned && s->read * 100 >= s->budget * SPEND_WARN_PERCENT) {
        s->warned = 1;
        return SPEND_WARN;
    }
    return SPEND_NONE;
}

int spend_parse_budget(const char *v, double price, uint64_t *posts, char *why, size_t whylen)
{
    char *end, unit[16] = "";
    double n = strtod(v, &end);
    size_t ul = 0;

    while (isspace((unsigned char)*end))
        end++;
    while (end[ul] && !isspace((unsigned char)end[ul]) && ul < sizeof unit - 1) {
        unit[ul] = (char)tolower((unsigned char)end[ul]);
        ul++;
    }
    if (end == v || n <= 0 || end[ul]) {
        snprintf(why, whylen, "expected posts a day (20000, 20000 posts) or an amount (50 USD)");
        return -1;
    }
    if (!unit[0] || !strcmp(unit, "posts")) {
        *posts = (uint64_t)n;
        return 0;
    }
    if (ul != 3 || !isalpha((unsigned char)unit[0]) || price <= 0) {
        snprintf(why, whylen, "'%s' is not a currency code (USD, EUR, ...) or 'posts'", unit);
        return -1;
    }
    *posts = (uint64_t)(n / price);
    if (!*posts) {
        snprintf(why, whylen, "buys no post at post_price");
        return -1;
    }
    return 0;
}
