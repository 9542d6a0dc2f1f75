/* x_v2: the X API v2 filtered stream (newline-delimited JSON over HTTP). */
#include "config_key.h"
#include "decode.h"
#include "source_driver.h"

#include "spend.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern const struct source_driver source_driver_x_v2;

/* Its own settings: this file and x_v2_managed() read them. */
struct x_v2_own {
    long long backfill_minutes;         /* asked for on every connect (1..5), 0 = off */
    long long manage_rules;             /* push the rules to X's rules endpoint */
    char *rules_url;                    /* NULL: the stream's URL + "/rules" */
    long long max_rules, max_rule_length;
    char *daily_budget;                 /* "20000", "20000 posts", "50 USD"; NULL: none */
    char *gap_fill_name;                /* "off" or "search": a gap the backfill does not cover is asked of
                                         * X's recent search, each rule's query from the newest id seen */
    char *search_url;                   /* NULL: the stream's URL, .../stream -> .../recent */
    char *post_price;                   /* a post read, in the budget's currency */
};

static const struct ckey keys[] = {
    SOURCE_OWN_KEY("backfill_minutes", CT_INT, struct x_v2_own, backfill_minutes, "0", 0, 5),
    SOURCE_OWN_KEY("manage_rules", CT_BOOL, struct x_v2_own, manage_rules, "off", 0, 0),
    SOURCE_OWN_KEY("rules_url", CT_STR, struct x_v2_own, rules_url, NULL, 0, 0),
    SOURCE_OWN_KEY("max_rules", CT_INT, struct x_v2_own, max_rules, "1000", 1, 100000),
    SOURCE_OWN_KEY("max_rule_length", CT_INT, struct x_v2_own, max_rule_length, "1024", 16, 4096),
    SOURCE_OWN_KEY("daily_budget", CT_STR, struct x_v2_own, daily_budget, NULL, 0, 0),
    SOURCE_OWN_KEY("post_price", CT_STR, struct x_v2_own, post_price, "0.005", 0, 0),
    SOURCE_OWN_KEY("gap_fill", CT_STR, struct x_v2_own, gap_fill_name, "off", 0, 0),
    SOURCE_OWN_KEY("search_url", CT_STR, struct x_v2_own, search_url, NULL, 0, 0),
};

uint64_t x_v2_budget(const struct source_conf *sc)
{
    const struct x_v2_own *own = sc->driver == &source_driver_x_v2 ? source_own(sc, &source_driver_x_v2) : NULL;
    uint64_t posts = 0;
    char why[160];

    if (!own || !own->daily_budget || !*own->daily_budget ||
        spend_parse_budget(own->daily_budget, own->post_price ? strtod(own->post_price, NULL) : 0, &posts, why,
                           sizeof why) != 0)
        return 0;
    return posts;
}

int x_v2_managed(const struct source_conf *sc, char *rules_url, size_t len, int *max_rules, int *max_len)
{
    const struct x_v2_own *own = sc->driver == &source_driver_x_v2 ? source_own(sc, &source_driver_x_v2) : NULL;
    size_t n;

    if (!own || !own->manage_rules || !sc->url)
        return 0;
    *max_rules = (int)own->max_rules;
    *max_len = (int)own->max_rule_length;
    if (own->rules_url)
        return snprintf(rules_url, len, "%s", own->rules_url) < (int)len;
    n = strcspn(sc->url, "?");
    while (n && sc->url[n - 1] == '/')
        n--;
    return snprintf(rules_url, len, "%.*s/rules", (int)n, sc->url) < (int)len;
}

static void validate(struct config *c, struct source_conf *s, struct errlist *errs)
{
    const struct x_v2_own *own = source_own(s, &source_driver_x_v2);
    char *end, why[160];
    uint64_t posts;
    double price = own && own->post_price ? strtod(own->post_price, &end) : 0;

    if (own && (!own->post_price || price <= 0 || *end))
        source_key_error(errs, c, s, "post_price", "expected the price of a post read (0.005)");
    else if (own && own->daily_budget && *own->daily_budget &&
             spend_parse_budget(own->daily_budget, price, &posts, why, sizeof why) != 0)
        source_key_error(errs, c, s, "daily_budget", "%s", why);
    else if (own && own->gap_fill_name && strcmp(own->gap_fill_name, "off") && strcmp(own->gap_fill_name, "search"))
        source_key_error(errs, c, s, "gap_fill", "expected off or search");
    else if (own && own->search_url && strncmp(own->search_url, "http://", 7) && strncmp(own->search_url, "https://", 8))
        source_key_error(errs, c, s, "search_url", "needs an http:// or https:// URL "
                         "(X's: https://api.x.com/2/tweets/search/recent)");
    else if (own && own->daily_budget && *own->daily_budget && !own->manage_rules)
        source_key_error(errs, c, s, "daily_budget", "needs manage_rules = on: only rules X no longer holds "
                         "stop the bill");

    if (own && own->rules_url && strncmp(own->rules_url, "http://", 7) && strncmp(own->rules_url, "https://", 8))
        source_key_error(errs, c, s, "rules_url", "needs an http:// or https:// URL "
                         "(X's: https://api.x.com/2/tweets/search/stream/rules)");
}

static int searches(const struct x_v2_own *own)
{
    return own && own->gap_fill_name && strcmp(own->gap_fill_name, "search") == 0;
}

/* The recent search's URL: search_url, or the stream's with its last path
 * segment "recent" (https://api.x.com/2/tweets/search/recent). */
static int search_url(const struct source_conf *sc, const struct x_v2_own *own, struct buf *out)
{
    size_t n = strcspn(sc->url, "?");

    if (own->search_url)
        return buf_printf(out, "%s", own->search_url);
    while (n && sc->url[n - 1] == '/')
        n--;
    while (n && sc->url[n - 1] != '/')
        n--;
    return buf_printf(out, "%.*srecent", (int)n, sc->url);
}

/* Recent search for one rule's query from the newest id seen, with the
 * stream's own fields and expansions (the same post shape), one page of
 * 100: a full one is a gap only partly filled. */
static int search_request(const struct source_conf *sc, const struct x_v2_own *own, const struct source_resume *at,
                          struct source_request *rq)
{
    const char *q = strchr(sc->url, '?');
    uint64_t from = at->position > at->saved ? at->position : at->saved;
    int r = search_url(sc, own, &rq->url) || buf_printf(&rq->url, "?query=");

    if (!r)
        r = buf_append_escaped(&rq->url, at->query, NULL);
    if (!r)
        r = buf_printf(&rq->url, "&since_id=%llu&max_results=100%s%s", (unsigned long long)from, q ? "&" : "",
                       q ? q + 1 : "");
    rq->poll = 1;
    rq->page = 100;
    return r;
}

/* With backfill_minutes, every connect asks for what it missed while away:
 * a reconnect's gap, and on the first one a restart's (what was alerted
 * before is dropped by the seen keys). */
static int request(const struct source_conf *sc, const struct source_resume *at, struct source_request *rq,
                   const char **why)
{
    const struct x_v2_own *own = source_own(sc, &source_driver_x_v2);

    if (at->query && own) {
        if (search_request(sc, own, at, rq) == 0)
            return 0;
        *why = "the search URL is too long";
        return -1;
    }
    if (source_request_http(sc, at, rq, why) != 0)
        return -1;
    if (own && own->backfill_minutes > 0 &&
        buf_printf(&rq->url, "%cbackfill_minutes=%lld", strchr(sc->url, '?') ? '&' : '?', own->backfill_minutes)) {
        *why = "the URL is too long";
        return -1;
    }
    return 0;
}

static int resumes(const struct source_conf *sc)
{
    const struct x_v2_own *own = source_own(sc, &source_driver_x_v2);
    return own && (own->backfill_minutes > 0 || searches(own));
}

/* A gap longer than the backfill (or any, without one) is asked of recent
 * search; after a start the backfill covers it when there is one. */
static enum source_catchup catchup(const struct source_conf *sc, uint64_t gap_ms)
{
    const struct x_v2_own *own = source_own(sc, &source_driver_x_v2);

    if (!searches(own))
        return CATCHUP_NONE;
    if (own->backfill_minutes > 0 && (gap_ms == UINT64_MAX || gap_ms <= (uint64_t)own->backfill_minutes * 60000))
        return CATCHUP_NONE;
    return CATCHUP_QUERIES;
}

const struct source_driver source_driver_x_v2 = {
    .name = "x_v2",
    .transport = TRANSPORT_HTTP_STREAM,
    .decoder = &decode_x_v2_ops,
    .framing = FRAMING_LINES,
    .flags = DRIVER_NEEDS_TOKEN | DRIVER_POSITION_ID,
    .token_why = "",
    .keys = keys,
    .nkeys = sizeof keys / sizeof keys[0],
    .own_size = sizeof(struct x_v2_own),
    .validate = validate,
    .request = request,
    .resumes = resumes,
    .catchup = catchup,
};
