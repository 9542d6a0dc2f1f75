/* matcher: term dictionary + boolean confirmation; see matcher.h. */
#include "matcher.h"
#include "strmap.h"
#include "util.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct mterm {
    enum term_kind kind;
    char **toks;                /* TERM_WORDS, borrowed from the first rule's query */
    int ntoks;
    int fold;
    int *rules;                 /* rules where it occurs positively and standalone */
    int nrules, arules;
};

/* A dictionary maps a key to a list of term ids. */
struct dict {
    struct strmap map;          /* key -> index into lists */
    int **lists;
    int *nlist;
    int nlists;
};

struct matcher {
    struct rule *rules;         /* borrowed from the ruleset */
    int nrules;
    struct mterm *terms;
    int nterms;
    struct dict words[2];       /* by first token; [1] = accent-folded */
    struct dict entities[2];
    struct dict from;           /* lower-cased handle */
    int any_fold;
};

static void dict_init(struct dict *d)
{
    memset(d, 0, sizeof *d);
    strmap_init(&d->map);
}

static void dict_free(struct dict *d)
{
    for (int i = 0; i < d->nlists; i++)
        free(d->lists[i]);
    free(d->lists);
    free(d->nlist);
    strmap_free(&d->map);
}

static void dict_add(struct dict *d, const char *key, size_t klen, int term)
{
    int inserted, *idx = strmap_put(&d->map, key, klen, d->nlists, &inserted);
    int i;

    if (inserted) {
        d->lists = xrealloc(d->lists, sizeof *d->lists * (size_t)(d->nlists + 1));
        d->nlist = xrealloc(d->nlist, sizeof *d->nlist * (size_t)(d->nlists + 1));
        d->lists[d->nlists] = NULL;
        d->nlist[d->nlists] = 0;
        d->nlists++;
    }
    i = *idx;
    d->lists[i] = xrealloc(d->lists[i], sizeof(int) * (size_t)(d->nlist[i] + 1));
    d->lists[i][d->nlist[i]++] = term;
}

static const int *dict_get(const struct dict *d, const char *key, size_t klen, int *n)
{
    const int *idx = strmap_get(&d->map, key, klen);
    if (!idx) {
        *n = 0;
        return NULL;
    }
    *n = d->nlist[*idx];
    return d->lists[*idx];
}

/* Intern key: kind, fold flag and folded value identify a term. */
static int matcher_intern(struct matcher *m, struct strmap *ids, const struct qterm *qt)
{
    char key[QUERY_MAX_LEN * 4 + 8];
    size_t klen;
    int inserted, *id;
    struct mterm *t;

    klen = (size_t)snprintf(key, sizeof key, "%d%d%s", (int)qt->kind, qt->fold,
                            qt->value ? qt->value : "");
    if (klen >= sizeof key)
        klen = sizeof key - 1;
    id = strmap_put(ids, key, klen, m->nterms, &inserted);
    if (!inserted)
        return *id;
    if ((m->nterms & (m->nterms - 1)) == 0)
        m->terms = xrealloc(m->terms, sizeof *m->terms * (size_t)(m->nterms ? m->nterms * 2 : 1));
    t = &m->terms[m->nterms];
    memset(t, 0, sizeof *t);
    t->kind = qt->kind;
    t->toks = qt->toks;
    t->ntoks = qt->ntoks;
    t->fold = qt->fold;
    if (qt->kind == TERM_WORDS)
        dict_add(&m->words[qt->fold], qt->toks[0], strlen(qt->toks[0]), m->nterms);
    else if (qt->kind == TERM_ENTITY)
        dict_add(&m->entities[qt->fold], qt->value, strlen(qt->value), m->nterms);
    else if (qt->kind == TERM_FROM)
        dict_add(&m->from, qt->value, strlen(qt->value), m->nterms);
    if (qt->fold)
        m->any_fold = 1;
    return m->nterms++;
}

static void mterm_add_rule(struct mterm *t, int rule)
{
    if (t->nrules && t->rules[t->nrules - 1] == rule)
        return;
    if (t->nrules == t->arules) {
        t->arules = t->arules ? t->arules * 2 : 2;
        t->rules = xrealloc(t->rules, sizeof(int) * (size_t)t->arules);
    }
    t->rules[t->nrules++] = rule;
}

struct matcher *matcher_build(struct rule *rules, int n)
{
    struct matcher *m = xcalloc(1, sizeof *m);
    struct strmap ids;

    m->rules = rules;
    m->nrules = n;
    for (int i = 0; i < 2; i++) {
        dict_init(&m->words[i]);
        dict_init(&m->entities[i]);
    }
    dict_init(&m->from);
    strmap_init(&ids);
    for (int r = 0; r < n; r++) {
        struct query *q = rules[r].q;
        rules[r].term_ids = xcalloc((size_t)q->nterms, sizeof(int));
        for (int t = 0; t < q->nterms; t++) {
            int id = matcher_intern(m, &ids, &q->terms[t]);
            rules[r].term_ids[t] = id;
            if (qterm_standalone(&q->terms[t]))
                mterm_add_rule(&m->terms[id], r);
        }
    }
    strmap_free(&ids);
    return m;
}

void matcher_free(struct matcher *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nterms; i++)
        free(m->terms[i].rules);
    free(m->terms);
    for (int i = 0; i < 2; i++) {
        dict_free(&m->words[i]);
        dict_free(&m->entities[i]);
    }
    dict_free(&m->from);
    free(m);
}

void match_ctx_init(struct match_ctx *c)
{
    memset(c, 0, sizeof *c);
    tokens_init(&c->tk);
    tokens_init(&c->tkf);
}

void match_ctx_free(struct match_ctx *c)
{
    tokens_free(&c->tk);
    tokens_free(&c->tkf);
    free(c->term_stamp);
    free(c->rule_stamp);
    free(c->cand);
    free(c->hits);
    memset(c, 0, sizeof *c);
}

/* Size the scratch for matcher m (a reload may bring a bigger one). */
static void ctx_prepare(struct match_ctx *c, const struct matcher *m)
{
    if (c->m != m || c->nterms_alloc < m->nterms || c->nrules_alloc < m->nrules) {
        free(c->term_stamp);
        free(c->rule_stamp);
        free(c->cand);
        free(c->hits);
        c->term_stamp = xcalloc((size_t)m->nterms + 1, sizeof *c->term_stamp);
        c->rule_stamp = xcalloc((size_t)m->nrules + 1, sizeof *c->rule_stamp);
        c->cand = xcalloc((size_t)m->nrules + 1, sizeof *c->cand);
        c->hits = xcalloc((size_t)m->nrules + 1, sizeof *c->hits);
        c->nterms_alloc = m->nterms;
        c->nrules_alloc = m->nrules;
        c->m = m;
        c->epoch = 0;
    }
    if (++c->epoch == 0) {              /* wrapped: clear the stamps */
        memset(c->term_stamp, 0, sizeof *c->term_stamp * (size_t)c->nterms_alloc);
        memset(c->rule_stamp, 0, sizeof *c->rule_stamp * (size_t)c->nrules_alloc);
        c->epoch = 1;
    }
    c->ncand = 0;
    c->nhits = 0;
}

static void term_hit(struct match_ctx *c, const struct matcher *m, int id)
{
    const struct mterm *t = &m->terms[id];

    if (c->term_stamp[id] == c->epoch)
        return;
    c->term_stamp[id] = c->epoch;
    for (int i = 0; i < t->nrules; i++) {
        int r = t->rules[i];
        if (c->rule_stamp[r] != c->epoch) {
            c->rule_stamp[r] = c->epoch;
            c->cand[c->ncand++] = r;
        }
    }
}

static int tok_eq(const struct tokens *tk, int i, const char *s)
{
    size_t l = strlen(s);
    return tk->w[i].len == l && memcmp(tok_ptr(tk, &tk->w[i]), s, l) == 0;
}

static void scan_tokens(struct match_ctx *c, const struct matcher *m, const struct tokens *tk, int fold)
{
    int n;

    for (int i = 0; i < tk->nw; i++) {
        const int *ids = dict_get(&m->words[fold], tok_ptr(tk, &tk->w[i]), tk->w[i].len, &n);
        for (int j = 0; j < n; j++) {
            const struct mterm *t = &m->terms[ids[j]];
            int k;
            if (c->term_stamp[ids[j]] == c->epoch || i + t->ntoks > tk->nw)
                continue;
            for (k = 1; k < t->ntoks && tok_eq(tk, i + k, t->toks[k]); k++)
                ;
            if (k == t->ntoks)
                term_hit(c, m, ids[j]);
        }
    }
    for (int i = 0; i < tk->ne; i++) {
        const int *ids = dict_get(&m->entities[fold], tok_ptr(tk, &tk->e[i]), tk->e[i].len, &n);
        for (int j = 0; j < n; j++)
            term_hit(c, m, ids[j]);
    }
}

static int lang_eq(const char *post_lang, const char *want)
{
    return post_lang && strcasecmp(post_lang, want) == 0;
}

static int eval(const struct match_ctx *c, const struct rule *r, const struct qnode *n,
                const struct post *p)
{
    const struct qterm *qt;

    switch (n->type) {
    case Q_TERM:
        qt = &r->q->terms[n->term];
        switch (qt->kind) {
        case TERM_WORDS: case TERM_ENTITY: case TERM_FROM:
            return c->term_stamp[r->term_ids[n->term]] == c->epoch;
        case TERM_LANG:
            return lang_eq(p->lang, qt->value);
        case TERM_IS_RETWEET:
            return p->is_retweet;
        case TERM_IS_REPLY:
            return p->is_reply;
        case TERM_IS_QUOTE:
            return p->is_quote;
        case TERM_IS_VERIFIED:
            return p->author.verified;
        }
        return 0;
    case Q_NOT:
        return !eval(c, r, n->kids[0], p);
    case Q_AND:
        for (int i = 0; i < n->nkids; i++)
            if (!eval(c, r, n->kids[i], p))
                return 0;
        return 1;
    case Q_OR:
        for (int i = 0; i < n->nkids; i++)
            if (eval(c, r, n->kids[i], p))
                return 1;
        return 0;
    }
    return 0;
}

static int cmp_int(const void *a, const void *b)
{
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

/* Text matched: the post's own text and, as X does for quotes (and as the
 * retweet's full text), the referenced post's text. */
static int tokenize_post(struct tokens *tk, const struct post *p, int fold, struct buf *scratch)
{
    if (!p->referenced_text)
        return text_tokenize(tk, p->text, strlen(p->text), fold);
    buf_reset(scratch);
    if (buf_append(scratch, p->text, strlen(p->text)) || buf_append(scratch, "\n", 1) ||
        buf_append(scratch, p->referenced_text, strlen(p->referenced_text)))
        return -1;
    return text_tokenize(tk, scratch->data, scratch->len, fold);
}

int matcher_match(struct match_ctx *c, const struct matcher *m, const struct post *p)
{
    struct buf scratch;
    int n, rc = 0;

    ctx_prepare(c, m);
    if (!p->text)
        return 0;
    buf_init(&scratch, TEXT_MAX_FOLDED);
    if (tokenize_post(&c->tk, p, 0, &scratch) != 0)
        rc = -1;
    else
        scan_tokens(c, m, &c->tk, 0);
    if (rc == 0 && m->any_fold) {
        if (tokenize_post(&c->tkf, p, 1, &scratch) != 0)
            rc = -1;
        else
            scan_tokens(c, m, &c->tkf, 1);
    }
    buf_free(&scratch);
    if (rc)
        return -1;
    if (p->author.handle && m->from.nlists) {
        char h[128];
        size_t l = str_copy(h, p->author.handle, sizeof h);
        for (size_t i = 0; i < l && i < sizeof h; i++)
            if (h[i] >= 'A' && h[i] <= 'Z')
                h[i] = (char)(h[i] + 32);
        const int *ids = dict_get(&m->from, h, l < sizeof h ? l : sizeof h - 1, &n);
        for (int j = 0; j < n; j++)
            term_hit(c, m, ids[j]);
    }
    /* Deterministic output: candidates in rule order. */
    qsort(c->cand, (size_t)c->ncand, sizeof *c->cand, cmp_int);
    for (int i = 0; i < c->ncand; i++) {
        const struct rule *r = &m->rules[c->cand[i]];
        if (eval(c, r, r->q->root, p))
            c->hits[c->nhits++].rule = c->cand[i];
    }
    return c->nhits;
}

int matcher_term_hit(const struct match_ctx *c, const struct rule *r, int t)
{
    const struct qterm *qt = &r->q->terms[t];
    if (qt->kind != TERM_WORDS && qt->kind != TERM_ENTITY && qt->kind != TERM_FROM)
        return 0;
    return c->term_stamp[r->term_ids[t]] == c->epoch;
}
