/* xquery: a query as its widest X filtered-stream rule; see xquery.h. */
#include "xquery.h"
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What a node became: an expression, or "anything" (all). */
struct xres {
    int all;                            /* matches any post: nothing to send */
    int standalone;                     /* has a positive term X lets stand alone */
    int is_or;                          /* an OR: parenthesised inside an AND */
};

struct xq {
    const struct query *q;
    int exact;                          /* nothing widened so far */
};

/* Which kinds X has (the rest are our extensions). */
static const unsigned char native[] = {
    [TERM_WORDS] = 1, [TERM_PROX] = 1, [TERM_ENTITY] = 1, [TERM_FROM] = 1, [TERM_TO] = 1,
    [TERM_RETWEETS_OF] = 1, [TERM_BIO] = 1, [TERM_URL] = 1, [TERM_CONVERSATION] = 1, [TERM_LANG] = 1,
    [TERM_IS_RETWEET] = 1, [TERM_IS_REPLY] = 1, [TERM_IS_QUOTE] = 1, [TERM_IS_VERIFIED] = 1,
    [TERM_HAS_LINKS] = 1, [TERM_HAS_MENTIONS] = 1, [TERM_HAS_HASHTAGS] = 1, [TERM_HAS_MEDIA] = 1,
    [TERM_FOLLOWERS] = 1, [TERM_SAMPLE] = 1,
    [TERM_NEAR] = 0, [TERM_PREFIX] = 0, [TERM_CONTAINS] = 0, [TERM_RAW] = 0,
};

static int non_ascii(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s >= 0x80)
            return 1;
    return 0;
}

/* Tokens as X reads them: a keyword, or a "phrase". */
static int toks_out(struct buf *o, char **toks, int n)
{
    int r = buf_printf(o, "%s", n > 1 ? "\"" : "");

    for (int i = 0; i < n && !r; i++)
        r = buf_printf(o, "%s%s", i ? " " : "", toks[i]);
    return r ? r : buf_printf(o, "%s", n > 1 ? "\"" : "");
}

/* An accent-folded term X would read with accents: as written and folded. */
static int folded(const struct qterm *t)
{
    return t->fold && (t->kind == TERM_WORDS || t->kind == TERM_ENTITY) && non_ascii(t->raw) &&
           t->toks && t->ntoks;
}

/* A term as written; a phrase (its raw text lost the quotes) quoted again. */
static int raw_out(struct buf *o, const struct qterm *t, const char *sign)
{
    int phrase = t->kind == TERM_WORDS && (t->ntoks > 1 || strpbrk(t->raw, " \t:()"));

    if (t->kind == TERM_PROX)
        return buf_printf(o, "%s\"%s\"~%d", sign, t->raw, t->n);
    return buf_printf(o, "%s%s%s%s", sign, phrase ? "\"" : "", t->raw, phrase ? "\"" : "");
}

static int x_term(struct xq *x, const struct qterm *t, struct buf *o, struct xres *r)
{
    memset(r, 0, sizeof *r);
    if (t->negated) {
        /* excluding less is wider: only what X excludes exactly as we do */
        if (!native[t->kind] || folded(t)) {
            x->exact = 0;
            r->all = 1;
            return 0;
        }
        return raw_out(o, t, "-");
    }
    r->standalone = term_kind_standalone(t->kind);
    if (t->kind == TERM_NEAR) {         /* both operands present */
        x->exact = 0;
        if (toks_out(o, t->toks, t->ntoks) || buf_printf(o, " "))
            return -1;
        return toks_out(o, t->toks2, t->ntoks2);
    }
    if (!native[t->kind]) {             /* contains:, raw:, word*: anything */
        x->exact = 0;
        r->all = 1;
        r->standalone = 0;
        return 0;
    }
    if (folded(t)) {
        x->exact = 0;
        r->is_or = 1;
        if (raw_out(o, t, "") || buf_printf(o, " OR "))
            return -1;
        return t->kind == TERM_ENTITY ? buf_printf(o, "%s", t->value) : toks_out(o, t->toks, t->ntoks);
    }
    return raw_out(o, t, "");
}

static int x_node(struct xq *x, const struct qnode *n, struct buf *o, struct xres *r);

/* AND (sep " ") or OR (sep " OR ") of n's kids. */
static int x_group(struct xq *x, const struct qnode *n, struct buf *o, struct xres *r, int is_or)
{
    struct buf kid;
    struct xres kr;
    int parts = 0, rc = 0;

    memset(r, 0, sizeof *r);
    r->standalone = is_or;
    buf_init(&kid, QUERY_MAX_LEN * 64);
    for (int i = 0; i < n->nkids && !rc; i++) {
        buf_reset(&kid);
        if ((rc = x_node(x, n->kids[i], &kid, &kr)) != 0)
            break;
        if (kr.all) {
            if (is_or) {                /* anything OR x: anything */
                r->all = 1;
                break;
            }
            continue;                   /* anything AND x: x */
        }
        r->standalone = is_or ? r->standalone && kr.standalone : r->standalone || kr.standalone;
        if (parts++)
            rc = buf_printf(o, "%s", is_or ? " OR " : " ");
        if (!rc && kr.is_or && !is_or)
            rc = buf_printf(o, "(%s)", kid.data);
        else if (!rc)
            rc = buf_printf(o, "%s", kid.data ? kid.data : "");
        r->is_or = is_or ? 1 : kr.is_or && parts == 1;
    }
    buf_free(&kid);
    if (!rc && !r->all && !parts)
        r->all = 1;                     /* every part was anything */
    if (!rc && !is_or && parts > 1)
        r->is_or = 0;
    return rc;
}

static int x_node(struct xq *x, const struct qnode *n, struct buf *o, struct xres *r)
{
    switch (n->type) {
    case Q_TERM:
        return x_term(x, &x->q->terms[n->term], o, r);
    case Q_NOT:                         /* -term, or -list:NAME (each term negated) */
        return n->kids[0]->type == Q_TERM ? x_term(x, &x->q->terms[n->kids[0]->term], o, r)
                                          : x_group(x, n->kids[0], o, r, 0);
    case Q_AND:
        return x_group(x, n, o, r, 0);
    case Q_OR:
        return x_group(x, n, o, r, 1);
    }
    return -1;
}

static int widest(const struct query *q, struct buf *out, struct xq *x, char *why, size_t whylen)
{
    struct xres r;

    x->q = q;
    x->exact = 1;
    buf_reset(out);
    if (x_node(x, q->root, out, &r) != 0) {
        snprintf(why, whylen, "too long to write as an X rule");
        return -1;
    }
    if (r.all) {
        snprintf(why, whylen, "once its contains:, raw: or word* terms are widened it matches anything: "
                 "X would send the whole stream");
        return -1;
    }
    if (!r.standalone) {
        snprintf(why, whylen, "once widened it keeps only operators X does not let stand alone "
                 "(lang:, is:, has:, ...)");
        return -1;
    }
    return 0;
}

int xquery_widest(const struct query *q, struct buf *out, char *why, size_t whylen)
{
    struct xq x;

    return widest(q, out, &x, why, whylen);
}

int xquery_exact(const struct query *q)
{
    struct xq x;
    struct buf b;
    char why[200];
    int rc;

    buf_init(&b, QUERY_MAX_LEN * 64);
    rc = widest(q, &b, &x, why, sizeof why);
    buf_free(&b);
    return rc == 0 && x.exact;
}

/* Characters, as X counts a rule's length (UTF-8 code points). */
static size_t chars_of(const char *s, size_t n)
{
    size_t c = 0;

    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xc0) != 0x80;
    return c;
}

void xquery_plan(const struct ruleset *rs, int max_rules, int max_len, int hold_best_effort, xquery_plan_fn fn,
                 void *ctx)
{
    struct buf x;
    char why[300];
    int taken = 0;

    buf_init(&x, QUERY_MAX_LEN * 64);
    for (int i = 0; rs && i < rs->n; i++) {
        const struct rule *r = &rs->rules[i];
        size_t chars;
        if (hold_best_effort && r->best_effort) {
            fn(ctx, r, NULL, "budget = best_effort, and the day's budget is spent");
            continue;
        }
        if (xquery_widest(r->q, &x, why, sizeof why) != 0) {
            fn(ctx, r, NULL, why);
            continue;
        }
        chars = chars_of(x.data, x.len);
        if (chars > (size_t)max_len) {
            snprintf(why, sizeof why, "its X rule is %zu characters, over the account's %d", chars, max_len);
            fn(ctx, r, NULL, why);
        } else if (taken >= max_rules) {
            snprintf(why, sizeof why, "over the account's %d rules", max_rules);
            fn(ctx, r, NULL, why);
        } else {
            taken++;
            fn(ctx, r, x.data, NULL);
        }
    }
    buf_free(&x);
}
