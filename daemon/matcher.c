/* matcher: term dictionaries + boolean confirmation; see matcher.h. */
#include "matcher.h"
#include "mpm.h"
#include "strmap.h"
#include "util.h"

#include <stdio.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Where a term is looked up. */
enum ns {
    NS_WORD, NS_WORD_F, NS_ENT, NS_ENT_F, NS_PREFIX, NS_PREFIX_F, NS_BIO, NS_BIO_F, NS_URL,
    NS_FROM, NS_TO, NS_RT, NS_CONV, NS_COUNT, NS_NONE = -1,
};

#define MAX_OCCURRENCES 64      /* of one operand, for NEAR */
#define MAX_PROX_TOKENS 32
/* Phrases whose tokens are all at most this long go in the phrase trie;
 * a longer token (a URL path, say) keeps its phrase in the first-token
 * dictionary, confirmed in place. */
#define PHRASE_TOKEN_MAX 124
/* Up to this many phrases sharing a first token are also confirmed in
 * place from that token's list (cheaper than walking for a few); past it,
 * only the trie finds them. */
#define PHRASE_DIRECT 4

struct mterm {
    const struct qterm *q;      /* borrowed from the first rule that has it */
    int kind;                   /* q->kind and q->ntoks, inline: confirming a */
    int ntoks;                  /* one-word term then needs no pointer chase */
    int stream;                 /* token stream it is confirmed on */
    int in_trie;                /* a phrase reachable through the phrase trie */
    int *rules;                 /* rules where it occurs positively and standalone */
    int nrules, arules;
};

/* One entry per key, all it needs in one place: with 100,000 rules the
 * dictionaries outgrow the caches, and separate arrays of counts, lists
 * and trie nodes cost a miss each per token.  Most keys have one term,
 * kept inline. */
struct dent {
    int *more;                  /* the terms after the first */
    int n;                      /* terms on the list */
    int first;
    int nphrase;                /* how many phrases start here */
    uint32_t phrase;            /* trie node number, 0: no phrase starts here */
};

/* A dictionary maps a key to a list of term ids (and, in the word
 * namespaces, to the trie node of the phrases that start with the key, so
 * one lookup per token serves both). */
struct dict {
    struct strmap map;          /* key -> index into ent */
    struct dent *ent;
    int nlists;
    uint64_t *filter;           /* two bits per key's hash, 8 bits per key */
    uint32_t fmask;
};

/* Most tokens of a post are in no rule (78% of the lookups with 100,000
 * rules), and a dictionary of 100,000 rules' terms is megabytes: its
 * filter, a few hundred kilobytes, answers them from the cache. */
static uint32_t filter_bit2(uint32_t h)
{
    return (h * 0x9E3779B1u) >> 7;
}

static int filter_may_have(const struct dict *d, uint32_t h)
{
    uint32_t a = h & d->fmask, b = filter_bit2(h) & d->fmask;

    return (d->filter[a >> 6] >> (a & 63) & 1) && (d->filter[b >> 6] >> (b & 63) & 1);
}

/* Made once the dictionary is complete: 0, or -1 without memory. */
static int dict_seal(struct dict *d)
{
    size_t bits = 512;

    while (bits < d->map.n * 8)
        bits <<= 1;
    if (!d->map.n)
        return 0;
    if (!(d->filter = xcalloc_try(bits / 64, sizeof *d->filter)))
        return -1;
    d->fmask = (uint32_t)(bits - 1);
    for (size_t i = 0; i < d->map.cap; i++) {
        uint32_t h = d->map.slots[i].hash, a = h & d->fmask, b = filter_bit2(h) & d->fmask;
        if (!d->map.slots[i].key)
            continue;
        d->filter[a >> 6] |= 1ull << (a & 63);
        d->filter[b >> 6] |= 1ull << (b & 63);
    }
    return 0;
}

static const int *dict_get(const struct dict *d, const char *key, size_t klen)
{
    uint32_t h;

    if (!d->nlists)
        return NULL;
    h = strmap_hash(key, klen);
    if (d->filter && !filter_may_have(d, h))
        return NULL;
    return strmap_get_hashed(&d->map, key, klen, h);
}

static inline int dent_term(const struct dent *e, int j)
{
    return j ? e->more[j - 1] : e->first;
}

struct matcher {
    uint64_t gen;               /* build number: scratch is sized per build */
    struct rule *rules;         /* borrowed from the ruleset */
    int nrules;
    struct mterm *terms;
    int nterms;
    struct dict dict[NS_COUNT];
    /* Phrases (two tokens or more) of the word, bio and url namespaces as a
     * trie over tokens: a node's key is its parent's number (4 bytes, the
     * root 0, a node its dictionary index + 1) and the next token, and its
     * list holds the phrases that end there.  Walking it from each token
     * costs at most the longest phrase's length in lookups, however many
     * phrases share a first token (every kana is a token). */
    struct dict phrases[NS_COUNT];
    int phrase_depth[NS_COUNT];
    uint64_t prefix_lens[2];    /* bit L: some prefix term is L bytes long */
    int need[MS_COUNT];         /* streams some term needs */
    struct mpm *contains[2];    /* folded text, by accent folding */
    struct mpm *raw;            /* original text */
    int32_t *prog;              /* every rule's query as a flat program */
    size_t *prog_off;           /* rule -> its program */
    size_t prog_len, prog_alloc;
    int nomem;                  /* an allocation failed during the build */
};

/* A rule's query compiled to a flat array, so evaluating a candidate touches
 * one contiguous run of memory instead of the AST's scattered nodes:
 *   [OP_HIT, 3, term]       a standalone term hit this post
 *   [OP_FLAG, 3, term]      a conjunction-required term, tested on the post
 *   [OP_NOT, len, child]    [OP_AND|OP_OR, len, child, child, ...]
 * len counts the node's words, header included, so siblings can be skipped. */
enum { OP_HIT, OP_FLAG, OP_NOT, OP_AND, OP_OR };

static void dict_free(struct dict *d)
{
    for (int i = 0; i < d->nlists; i++)
        free(d->ent[i].more);
    free(d->ent);
    free(d->filter);
    strmap_free(&d->map);
}

/* The list of key, made empty if new: its index, or -1 without memory
 * (the dictionary stays consistent, to be freed). */
static int dict_slot(struct dict *d, const char *key, size_t klen)
{
    int *idx = strmap_get(&d->map, key, klen);

    if (!idx) {
        /* Room for the new list before the key goes in: a key in the map
         * always has its list. */
        if ((d->nlists & (d->nlists - 1)) == 0) {
            size_t n = (size_t)(d->nlists ? d->nlists * 2 : 1);
            struct dent *ent = xrealloc_try(d->ent, sizeof *d->ent * n);
            if (!ent)
                return -1;
            d->ent = ent;
        }
        if (!(idx = strmap_put_try(&d->map, key, klen, d->nlists, NULL)))
            return -1;
        memset(&d->ent[d->nlists], 0, sizeof *d->ent);
        d->nlists++;
    }
    return *idx;
}

static void dent_set(struct dent *e, int j, int term)
{
    if (j)
        e->more[j - 1] = term;
    else
        e->first = term;
}

static int dict_push(struct dict *d, int i, int term)
{
    struct dent *e = &d->ent[i];

    if (e->n) {
        int *more = xrealloc_try(e->more, sizeof(int) * (size_t)e->n);
        if (!more)
            return -1;
        e->more = more;
    }
    dent_set(e, e->n++, term);
    return 0;
}

static int dict_add(struct dict *d, const char *key, size_t klen, int term)
{
    int i = dict_slot(d, key, klen);

    return i < 0 ? -1 : dict_push(d, i, term);
}

/* A trie node's key below the first token: its parent's number and the
 * token.  The first token's node is found through the word dictionary. */
static size_t phrase_key(char *key, uint32_t parent, const char *tok, size_t len)
{
    memcpy(key, &parent, sizeof parent);
    memcpy(key + sizeof parent, tok, len);
    return sizeof parent + len;
}

/* The first PHRASE_DIRECT phrases of a first token are on its list too;
 * once there are more, the trie alone finds them: off the list. */
static int phrase_list(struct matcher *m, struct dict *d, int e, int term)
{
    struct dent *en = &d->ent[e];
    int w = 0;

    if (++en->nphrase <= PHRASE_DIRECT)
        return dict_push(d, e, term);
    if (en->nphrase == PHRASE_DIRECT + 1) {
        for (int j = 0; j < en->n; j++)
            if (!m->terms[dent_term(en, j)].in_trie)
                dent_set(en, w++, dent_term(en, j));
        en->n = w;
    }
    return 0;
}

/* 1 when the phrase term q goes in the trie (and is put there), 0 when
 * it stays in the first-token dictionary only; -1 without memory. */
static int phrase_add(struct matcher *m, enum ns ns, const struct qterm *q, int term)
{
    char key[sizeof(uint32_t) + PHRASE_TOKEN_MAX];
    uint32_t node;
    int i, e;

    if (q->ntoks < 2 || !(q->kind == TERM_WORDS || q->kind == TERM_BIO || q->kind == TERM_URL))
        return 0;
    for (int k = 0; k < q->ntoks; k++)
        if (strlen(q->toks[k]) > PHRASE_TOKEN_MAX)
            return 0;
    /* the first token: an entry of the word dictionary pointing at its node */
    if ((e = dict_slot(&m->dict[ns], q->toks[0], strlen(q->toks[0]))) < 0)
        return -1;
    if (!m->dict[ns].ent[e].phrase) {
        int r = dict_slot(&m->phrases[ns], key, phrase_key(key, 0, q->toks[0], strlen(q->toks[0])));
        if (r < 0)
            return -1;
        m->dict[ns].ent[e].phrase = (uint32_t)r + 1;
    }
    node = m->dict[ns].ent[e].phrase;
    i = (int)node - 1;
    for (int k = 1; k < q->ntoks; k++) {
        if ((i = dict_slot(&m->phrases[ns], key, phrase_key(key, node, q->toks[k], strlen(q->toks[k])))) < 0)
            return -1;
        node = (uint32_t)i + 1;
    }
    if (dict_push(&m->phrases[ns], i, term) < 0)
        return -1;
    m->terms[term].in_trie = 1;
    if (q->ntoks > m->phrase_depth[ns])
        m->phrase_depth[ns] = q->ntoks;
    return phrase_list(m, &m->dict[ns], e, term) < 0 ? -1 : 1;
}

/* Namespace, key and stream of a term. */
static enum ns term_index(const struct qterm *q, const char **key, int *stream)
{
    int f = q->fold;

    *stream = f ? MS_TEXT_FOLD : MS_TEXT;
    *key = q->value;
    switch (q->kind) {
    case TERM_WORDS: case TERM_PROX: case TERM_NEAR:
        *key = q->toks[0];
        return f ? NS_WORD_F : NS_WORD;
    case TERM_PREFIX:
        return f ? NS_PREFIX_F : NS_PREFIX;
    case TERM_ENTITY:
        return f ? NS_ENT_F : NS_ENT;
    case TERM_BIO:
        *key = q->toks[0];
        *stream = f ? MS_BIO_FOLD : MS_BIO;
        return f ? NS_BIO_F : NS_BIO;
    case TERM_URL:
        *key = q->toks[0];
        *stream = MS_URL;
        return NS_URL;
    case TERM_FROM:
        return NS_FROM;
    case TERM_TO:
        return NS_TO;
    case TERM_RETWEETS_OF:
        return NS_RT;
    case TERM_CONVERSATION:
        return NS_CONV;
    default:
        return NS_NONE;         /* substrings, and conjunction-required terms */
    }
}

static int term_key(const struct qterm *q, char *key, size_t keylen)
{
    /* Packed, not printed: snprintf of every term was a quarter of loading
     * 100,000 rules.  The fixed fields, then the value; NEAR and PROX add
     * their text after a NUL, which no value contains. */
    struct {
        int kind, fold, n, ordered;
        long long lo, hi;
    } head = {(int)q->kind, q->fold, q->n, q->ordered, q->lo, q->hi};
    size_t n = sizeof head, vlen = q->value ? strlen(q->value) : 0;

    memcpy(key, &head, sizeof head);
    n += vlen < keylen - n ? vlen : keylen - n;
    memcpy(key + sizeof head, q->value ? q->value : "", n - sizeof head);
    if ((q->kind == TERM_NEAR || q->kind == TERM_PROX) && n < keylen) {
        size_t rlen = strlen(q->raw);
        key[n++] = '\0';
        rlen = rlen < keylen - n ? rlen : keylen - n;
        memcpy(key + n, q->raw, rlen);
        n += rlen;
    }
    return (int)n;
}

/* Intern a term: kind, folding and canonical value identify it.  Returns
 * its id, or -1 without memory. */
static int matcher_intern(struct matcher *m, struct strmap *ids, const struct qterm *q)
{
    char key[QUERY_MAX_LEN * 8];
    size_t klen = (size_t)term_key(q, key, sizeof key);
    int *id = strmap_get(ids, key, klen), stream;
    const char *k;
    struct mterm *t;
    enum ns ns;

    if (id)
        return *id;
    if ((m->nterms & (m->nterms - 1)) == 0) {   /* room before the id goes in */
        struct mterm *grown = xrealloc_try(m->terms, sizeof *m->terms * (size_t)(m->nterms ? m->nterms * 2 : 1));
        if (!grown)
            return -1;
        m->terms = grown;
    }
    if (!strmap_put_try(ids, key, klen, m->nterms, NULL))
        return -1;
    t = &m->terms[m->nterms];
    memset(t, 0, sizeof *t);
    t->q = q;
    t->kind = (int)q->kind;
    t->ntoks = q->ntoks;
    ns = term_index(q, &k, &stream);
    t->stream = stream;
    if (ns != NS_NONE) {
        int in_trie = phrase_add(m, ns, q, m->nterms);
        if (in_trie < 0 || (!in_trie && dict_add(&m->dict[ns], k, strlen(k), m->nterms) < 0)) {
            m->nterms++;                /* interned: freed with the matcher */
            return -1;
        }
        if (ns == NS_PREFIX || ns == NS_PREFIX_F)
            m->prefix_lens[ns == NS_PREFIX_F] |= 1ull << (strlen(k) < 63 ? strlen(k) : 63);
        m->need[stream] = 1;
    } else if (q->kind == TERM_CONTAINS) {
        m->need[q->fold ? MS_TEXT_FOLD : MS_TEXT] = 1;
    }
    return m->nterms++;
}

static int mterm_add_rule(struct mterm *t, int rule)
{
    if (t->nrules && t->rules[t->nrules - 1] == rule)
        return 0;
    if (t->nrules == t->arules) {
        int na = t->arules ? t->arules * 2 : 2;
        int *grown = xrealloc_try(t->rules, sizeof(int) * (size_t)na);
        if (!grown)
            return -1;
        t->rules = grown;
        t->arules = na;
    }
    t->rules[t->nrules++] = rule;
    return 0;
}

/* How rare a term is likely to be in posts: higher is rarer.  Entities,
 * handles and exact ids are rare; phrases rarer than words; long words
 * rarer than short ones; wildcards and short substrings common. */
static int term_selectivity(const struct qterm *q)
{
    size_t longest = 0;

    switch (q->kind) {
    case TERM_WORDS: case TERM_PROX: case TERM_NEAR: case TERM_BIO: case TERM_URL:
        for (int i = 0; i < q->ntoks; i++)
            if (strlen(q->toks[i]) > longest)
                longest = strlen(q->toks[i]);
        return (q->ntoks + q->ntoks2) * 16 + (int)(longest < 15 ? longest : 15);
    case TERM_PREFIX: case TERM_CONTAINS: case TERM_RAW:
        return (int)(strlen(q->value) < 40 ? strlen(q->value) : 40);
    default:
        return 100;
    }
}

/* A rule's terms and how many rules of the set use each (by term id). */
struct trig_ctx {
    const struct query *q;
    const int *ids;
    const int *rules_using;
};

/* A term that many rules share is a context word ("card", "fraud", the
 * help handle) and likely common in posts too; the term only this rule has
 * is what sets it apart (the brand, the product).  Triggering on the shared
 * term made every post with it a candidate for every rule sharing it: with
 * 100,000 rules, thousands of rule programs run per post and fail.  Each
 * doubling of the rules sharing a term costs it what one more letter gains. */
static int trig_selectivity(const struct trig_ctx *c, int term)
{
    int sel = term_selectivity(&c->q->terms[term]), shared = c->rules_using[c->ids[term]];

    while (shared > 1) {
        sel -= 4;
        shared >>= 1;
    }
    return sel;
}

/* The standalone terms through which the node can become true: for OR all
 * of its alternatives', for AND only its most selective positive child's
 * (X's composition rules make every matching rule true through them).
 * Returns the selectivity of the set (its weakest term), or INT_MIN if the
 * node cannot become true on its own. */
static int trigger_set(const struct trig_ctx *c, const struct qnode *n, int *out, int *nout)
{
    int best = INT_MIN, save = *nout, sel, worst;

    switch (n->type) {
    case Q_TERM:
        if (!qterm_standalone(&c->q->terms[n->term]))
            return INT_MIN;
        out[(*nout)++] = n->term;
        return trig_selectivity(c, n->term);
    case Q_NOT:
        return INT_MIN;
    case Q_OR:
        worst = INT_MAX;
        for (int i = 0; i < n->nkids; i++) {
            sel = trigger_set(c, n->kids[i], out, nout);
            if (sel == INT_MIN) {       /* cannot happen after parsing */
                *nout = save;
                return INT_MIN;
            }
            if (sel < worst)
                worst = sel;
        }
        return worst;
    case Q_AND: {
        int best_kid = -1;
        for (int i = 0; i < n->nkids; i++) {
            int tmp = *nout;
            sel = trigger_set(c, n->kids[i], out, nout);
            *nout = tmp;
            if (sel > best) {
                best = sel;
                best_kid = i;
            }
        }
        if (best_kid >= 0)
            trigger_set(c, n->kids[best_kid], out, nout);
        return best;
    }
    }
    return INT_MIN;
}

/* One vectorscan database for the substring terms of a kind (and folding). */
static int build_mpm(struct matcher *m, enum term_kind kind, int fold, struct mpm **out,
                     char *err, size_t errlen)
{
    const char **pats = xcalloc_try((size_t)m->nterms + 1, sizeof *pats);
    size_t *lens = xcalloc_try((size_t)m->nterms + 1, sizeof *lens);
    unsigned *ids = xcalloc_try((size_t)m->nterms + 1, sizeof *ids), n = 0;
    int rc = -1;

    *out = NULL;
    if (!pats || !lens || !ids) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    for (int i = 0; i < m->nterms; i++) {
        const struct qterm *q = m->terms[i].q;
        if (q->kind != kind || (kind == TERM_CONTAINS && q->fold != fold))
            continue;
        pats[n] = q->value;
        lens[n] = strlen(q->value);
        ids[n++] = (unsigned)i;
    }
    *out = n ? mpm_build(pats, lens, ids, n, err, errlen) : NULL;
    rc = n && !*out ? -1 : 0;
out:
    free(pats);
    free(lens);
    free(ids);
    return rc;
}

/* Without memory, m->nomem is set and the program is left short. */
static void prog_emit(struct matcher *m, int32_t w)
{
    if (m->prog_len == m->prog_alloc) {
        size_t na = m->prog_alloc ? m->prog_alloc * 2 : 4096;
        int32_t *grown = m->nomem ? NULL : xrealloc_try(m->prog, sizeof *m->prog * na);
        if (!grown) {
            m->nomem = 1;
            return;
        }
        m->prog = grown;
        m->prog_alloc = na;
    }
    m->prog[m->prog_len++] = w;
}

static void prog_compile(struct matcher *m, const struct rule *r, const struct qnode *n)
{
    size_t start = m->prog_len;

    switch (n->type) {
    case Q_TERM:
        prog_emit(m, term_kind_standalone(r->q->terms[n->term].kind) ? OP_HIT : OP_FLAG);
        prog_emit(m, 3);
        prog_emit(m, r->term_ids[n->term]);
        return;
    case Q_NOT: case Q_AND: case Q_OR:
        prog_emit(m, n->type == Q_NOT ? OP_NOT : n->type == Q_AND ? OP_AND : OP_OR);
        prog_emit(m, 0);
        for (int i = 0; i < n->nkids; i++)
            prog_compile(m, r, n->kids[i]);
        if (!m->nomem)
            m->prog[start + 1] = (int32_t)(m->prog_len - start);
        return;
    }
}

/* Every term is looked up, but only the triggers make a rule a candidate:
 * evaluation stays proportional to the likely matches. */
static void set_triggers(struct matcher *m, struct rule *rules, int n)
{
    int *using = xcalloc_try((size_t)m->nterms + 1, sizeof *using), *trig = NULL, most = 0;

    for (int r = 0; r < n; r++)
        most = rules[r].q->nterms > most ? rules[r].q->nterms : most;
    m->nomem = !using || !(trig = xcalloc_try((size_t)most + 1, sizeof *trig));
    for (int r = 0; r < n && !m->nomem; r++)
        for (int t = 0; t < rules[r].q->nterms; t++)
            using[rules[r].term_ids[t]]++;
    for (int r = 0; r < n && !m->nomem; r++) {
        struct trig_ctx c = {rules[r].q, rules[r].term_ids, using};
        int ntrig = 0;
        trigger_set(&c, rules[r].q->root, trig, &ntrig);
        for (int i = 0; i < ntrig && !m->nomem; i++)
            m->nomem = mterm_add_rule(&m->terms[rules[r].term_ids[trig[i]]], r) < 0;
    }
    free(trig);
    free(using);
}

struct matcher *matcher_build(struct rule *rules, int n, char *err, size_t errlen)
{
    static uint64_t builds;
    struct matcher *m = xcalloc_try(1, sizeof *m);
    struct strmap ids;

    if (!m) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    m->gen = __atomic_add_fetch(&builds, 1, __ATOMIC_RELAXED);   /* builds run on a thread */
    m->rules = rules;
    m->nrules = n;
    for (int i = 0; i < NS_COUNT; i++) {
        strmap_init(&m->dict[i].map);
        strmap_init(&m->phrases[i].map);
    }
    strmap_init(&ids);
    m->need[MS_TEXT] = 1;               /* entities, has: and the tokens of every post */
    for (int r = 0; r < n && !m->nomem; r++) {
        struct query *q = rules[r].q;
        rules[r].term_ids = xcalloc_try((size_t)q->nterms + 1, sizeof(int));
        m->nomem = !rules[r].term_ids;
        for (int t = 0; t < q->nterms && !m->nomem; t++)
            m->nomem = (rules[r].term_ids[t] = matcher_intern(m, &ids, &q->terms[t])) < 0;
    }
    if (!m->nomem)
        set_triggers(m, rules, n);
    for (int i = 0; i < NS_COUNT && !m->nomem; i++)
        m->nomem = dict_seal(&m->dict[i]) || dict_seal(&m->phrases[i]);
    if (!m->nomem && !(m->prog_off = xcalloc_try((size_t)n + 1, sizeof *m->prog_off)))
        m->nomem = 1;
    for (int r = 0; r < n && !m->nomem; r++) {
        m->prog_off[r] = m->prog_len;
        prog_compile(m, &rules[r], rules[r].q->root);
    }
    strmap_free(&ids);
    if (m->nomem) {
        snprintf(err, errlen, "out of memory");
        matcher_free(m);
        return NULL;
    }
    if (build_mpm(m, TERM_CONTAINS, 0, &m->contains[0], err, errlen) ||
        build_mpm(m, TERM_CONTAINS, 1, &m->contains[1], err, errlen) ||
        build_mpm(m, TERM_RAW, 0, &m->raw, err, errlen)) {
        matcher_free(m);
        return NULL;
    }
    return m;
}

void matcher_free(struct matcher *m)
{
    if (!m)
        return;
    for (int i = 0; i < m->nterms; i++)
        free(m->terms[i].rules);
    free(m->terms);
    for (int i = 0; i < NS_COUNT; i++) {
        dict_free(&m->dict[i]);
        dict_free(&m->phrases[i]);
    }
    mpm_free(m->contains[0]);
    mpm_free(m->contains[1]);
    mpm_free(m->raw);
    free(m->prog);
    free(m->prog_off);
    free(m);
}

void match_ctx_init(struct match_ctx *c)
{
    memset(c, 0, sizeof *c);
    for (int i = 0; i < MS_COUNT; i++)
        tokens_init(&c->tk[i]);
    buf_init(&c->scratch, TEXT_MAX_FOLDED);
}

void match_ctx_free(struct match_ctx *c)
{
    for (int i = 0; i < MS_COUNT; i++)
        tokens_free(&c->tk[i]);
    buf_free(&c->scratch);
    mpm_scratch_free(c->mpm);
    free(c->term_stamp);
    free(c->check_stamp);
    free(c->rule_stamp);
    free(c->cand);
    free(c->hits);
    memset(c, 0, sizeof *c);
}

/* Size the scratch for matcher m.  A reload brings a new matcher, possibly
 * at the old one's address, so the build number decides. */
static int ctx_prepare(struct match_ctx *c, const struct matcher *m)
{
    if (c->m != m || c->gen != m->gen) {
        free(c->term_stamp);
        free(c->check_stamp);
        free(c->rule_stamp);
        free(c->cand);
        free(c->hits);
        c->m = NULL;                    /* sized for no matcher until all succeed */
        c->term_stamp = xcalloc_try((size_t)m->nterms + 1, sizeof *c->term_stamp);
        c->check_stamp = xcalloc_try((size_t)m->nterms + 1, sizeof *c->check_stamp);
        c->rule_stamp = xcalloc_try((size_t)m->nrules + 1, sizeof *c->rule_stamp);
        c->cand = xcalloc_try((size_t)m->nrules + 1, sizeof *c->cand);
        c->hits = xcalloc_try((size_t)m->nrules + 1, sizeof *c->hits);
        c->nterms_alloc = m->nterms;
        c->nrules_alloc = m->nrules;
        c->epoch = 0;
        if (!c->term_stamp || !c->check_stamp || !c->rule_stamp || !c->cand || !c->hits ||
            mpm_scratch_prepare(&c->mpm, m->contains[0]) || mpm_scratch_prepare(&c->mpm, m->contains[1]) ||
            mpm_scratch_prepare(&c->mpm, m->raw))
            return -1;
        c->m = m;
        c->gen = m->gen;
    }
    if (++c->epoch == 0) {              /* wrapped: clear the stamps */
        memset(c->term_stamp, 0, sizeof *c->term_stamp * ((size_t)c->nterms_alloc + 1));
        memset(c->check_stamp, 0, sizeof *c->check_stamp * ((size_t)c->nterms_alloc + 1));
        memset(c->rule_stamp, 0, sizeof *c->rule_stamp * ((size_t)c->nrules_alloc + 1));
        c->epoch = 1;
    }
    c->ncand = 0;
    c->nhits = 0;
    return 0;
}

static void term_hit(struct match_ctx *c, int id)
{
    const struct mterm *t = &c->m->terms[id];

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

static void mpm_hit(void *ctx, unsigned id)
{
    term_hit(ctx, (int)id);
}

static int tok_eq(const struct tokens *tk, int i, const char *s)
{
    size_t l = strlen(s);
    return tk->w[i].len == l && memcmp(tok_ptr(tk, &tk->w[i]), s, l) == 0;
}

static int phrase_at(const struct tokens *tk, int i, char *const *toks, int n)
{
    if (i + n > tk->nw)
        return 0;
    for (int k = 0; k < n; k++)
        if (!tok_eq(tk, i + k, toks[k]))
            return 0;
    return 1;
}

/* "a b c"~N: every word within a window with at most N other tokens. */
static int prox_check(const struct tokens *tk, const struct qterm *q)
{
    int k = q->ntoks < MAX_PROX_TOKENS ? q->ntoks : MAX_PROX_TOKENS;
    uint32_t all = k == 32 ? 0xffffffffu : (1u << k) - 1;

    for (int i = 0; i < tk->nw; i++) {
        uint32_t seen = 0;
        for (int j = i; j < tk->nw && j - i <= q->n + k - 1; j++)
            for (int t = 0; t < k; t++)
                if (!(seen & (1u << t)) && tok_eq(tk, j, q->toks[t])) {
                    seen |= 1u << t;
                    break;
                }
        if (seen == all)
            return 1;
    }
    return 0;
}

/* A NEAR/N B (either order) or A ONEAR/N B (A first): at most N tokens
 * between the end of one and the start of the other. */
static int near_check(const struct tokens *tk, const struct qterm *q)
{
    int a[MAX_OCCURRENCES], b[MAX_OCCURRENCES], na = 0, nb = 0;

    for (int i = 0; i < tk->nw; i++) {
        if (na < MAX_OCCURRENCES && phrase_at(tk, i, q->toks, q->ntoks))
            a[na++] = i;
        if (nb < MAX_OCCURRENCES && phrase_at(tk, i, q->toks2, q->ntoks2))
            b[nb++] = i;
    }
    for (int i = 0; i < na; i++)
        for (int j = 0; j < nb; j++) {
            if (b[j] >= a[i] + q->ntoks && b[j] - (a[i] + q->ntoks) <= q->n)
                return 1;
            if (!q->ordered && a[i] >= b[j] + q->ntoks2 && a[i] - (b[j] + q->ntoks2) <= q->n)
                return 1;
        }
    return 0;
}

/* A candidate term found at token i of its stream: confirm it. */
static void confirm(struct match_ctx *c, const struct tokens *tk, int i, int id)
{
    const struct mterm *t = &c->m->terms[id];
    const struct qterm *q;

    if (c->term_stamp[id] == c->epoch)
        return;
    if (t->ntoks == 1 && (t->kind == TERM_WORDS || t->kind == TERM_BIO || t->kind == TERM_URL)) {
        term_hit(c, id);                /* the dictionary key was the whole term */
        return;
    }
    q = t->q;
    switch (q->kind) {
    case TERM_WORDS: case TERM_BIO: case TERM_URL:
        if (phrase_at(tk, i, q->toks, q->ntoks))
            term_hit(c, id);
        return;
    case TERM_PROX: case TERM_NEAR:
        if (c->check_stamp[id] == c->epoch)
            return;                     /* the whole stream was checked already */
        c->check_stamp[id] = c->epoch;
        if (q->kind == TERM_PROX ? prox_check(tk, q) : near_check(tk, q))
            term_hit(c, id);
        return;
    default:
        term_hit(c, id);
    }
}

static void walk_phrases(struct match_ctx *c, enum ns ns, const struct tokens *tk, int i, uint32_t node);

static void lookup(struct match_ctx *c, enum ns ns, const struct tokens *tk, int i, const char *key,
                   size_t klen)
{
    const struct dict *d = &c->m->dict[ns];
    const int *idx = dict_get(d, key, klen);
    const struct dent *e;

    c->probes++;
    if (!idx)
        return;
    e = &d->ent[*idx];
    c->confirms += (uint64_t)e->n;
    for (int j = 0; j < e->n; j++)
        confirm(c, tk, i, dent_term(e, j));
    if (e->nphrase > PHRASE_DIRECT)
        walk_phrases(c, ns, tk, i, e->phrase);
}

/* The phrases that start at token i (whose node is node): the terms that
 * end there, then one lookup per following token, down the trie while the
 * post's tokens follow a branch. */
static void walk_phrases(struct match_ctx *c, enum ns ns, const struct tokens *tk, int i, uint32_t node)
{
    const struct dict *d = &c->m->phrases[ns];
    char key[sizeof(uint32_t) + PHRASE_TOKEN_MAX];

    for (int j = i + 1; j < tk->nw && j - i < c->m->phrase_depth[ns]; j++) {
        const int *idx;
        if (tk->w[j].len > PHRASE_TOKEN_MAX)
            return;
        c->probes++;
        if (!(idx = dict_get(d, key, phrase_key(key, node, tok_ptr(tk, &tk->w[j]), tk->w[j].len))))
            return;
        node = (uint32_t)*idx + 1;
        c->confirms += (uint64_t)d->ent[*idx].n;
        for (int k = 0; k < d->ent[*idx].n; k++)
            term_hit(c, dent_term(&d->ent[*idx], k));
    }
}

/* Prefixes of a token that some wildcard term has, at character starts. */
static void lookup_prefixes(struct match_ctx *c, enum ns ns, uint64_t lens, const struct tokens *tk, int i)
{
    const char *t = tok_ptr(tk, &tk->w[i]);
    size_t len = tk->w[i].len;

    for (size_t l = 3; l <= len && l < 64; l++)
        if ((lens >> l) & 1 && (l == len || ((unsigned char)t[l] & 0xC0) != 0x80))
            lookup(c, ns, tk, i, t, l);
}

static void scan_stream(struct match_ctx *c, int s)
{
    const struct matcher *m = c->m;
    const struct tokens *tk = &c->tk[s];
    static const enum ns word_ns[MS_COUNT] = {NS_WORD, NS_WORD_F, NS_BIO, NS_BIO_F, NS_URL};
    int text = s == MS_TEXT || s == MS_TEXT_FOLD, f = s == MS_TEXT_FOLD;

    for (int i = 0; i < tk->nw; i++) {
        lookup(c, word_ns[s], tk, i, tok_ptr(tk, &tk->w[i]), tk->w[i].len);
        if (text && m->prefix_lens[f])
            lookup_prefixes(c, f ? NS_PREFIX_F : NS_PREFIX, m->prefix_lens[f], tk, i);
    }
    if (text)
        for (int i = 0; i < tk->ne; i++)
            lookup(c, f ? NS_ENT_F : NS_ENT, tk, i, tok_ptr(tk, &tk->e[i]), tk->e[i].len);
}

static int starts_with_ci(const char *s, const char *prefix)
{
    return strncasecmp(s, prefix, strlen(prefix)) == 0;
}

/* The text of a field stream: the post text (with the quoted or retweeted
 * post's, as X matches), the author's bio, or the post's URLs (from the
 * entities and any http(s) words of the text). */
/* The text of stream s in *out; 0, or BUF_TOOBIG / BUF_NOMEM. */
static int stream_text(struct match_ctx *c, const struct post *p, int s, const char **out, size_t *len)
{
    struct buf *b = &c->scratch;
    int rc;

    buf_reset(b);
    switch (s) {
    case MS_TEXT: case MS_TEXT_FOLD:
        if (!p->referenced_text) {
            *len = strlen(p->text);
            *out = p->text;
            return 0;
        }
        if ((rc = buf_append(b, p->text, strlen(p->text))) || (rc = buf_appendc(b, '\n')) ||
            (rc = buf_append(b, p->referenced_text, strlen(p->referenced_text))))
            return rc;
        break;
    case MS_BIO: case MS_BIO_FOLD:
        *len = p->author.bio ? strlen(p->author.bio) : 0;
        *out = p->author.bio ? p->author.bio : "";
        return 0;
    case MS_URL:
        for (int i = 0; i < p->nurls; i++)
            if (p->urls[i] && ((rc = buf_append(b, p->urls[i], strlen(p->urls[i]))) || (rc = buf_appendc(b, '\n'))))
                return rc;
        for (const char *w = p->text; *w;) {
            size_t wl = strcspn(w, " \t\r\n");
            if ((starts_with_ci(w, "http://") || starts_with_ci(w, "https://")) &&
                ((rc = buf_append(b, w, wl)) || (rc = buf_appendc(b, '\n'))))
                return rc;
            w += wl;
            w += strspn(w, " \t\r\n");
        }
        break;
    }
    *len = b->len;
    *out = b->data ? b->data : "";
    return 0;
}

static int handle_lookup(struct match_ctx *c, enum ns ns, const char *handle)
{
    char h[128];
    size_t l;

    if (!handle || !c->m->dict[ns].nlists)
        return 0;
    l = str_copy(h, handle, sizeof h);
    if (l >= sizeof h)
        return 0;
    for (size_t i = 0; i < l; i++)
        if (h[i] >= 'A' && h[i] <= 'Z')
            h[i] = (char)(h[i] + 32);
    lookup(c, ns, NULL, 0, h, l);
    return 0;
}

static int has_entity(const struct tokens *tk, char sigil)
{
    for (int i = 0; i < tk->ne; i++)
        if (tok_ptr(tk, &tk->e[i])[0] == sigil)
            return 1;
    return 0;
}

static int eval_flag(const struct match_ctx *c, const struct qterm *q, const struct post *p)
{
    switch (q->kind) {
    case TERM_LANG:
        return p->lang && strcasecmp(p->lang, q->value) == 0;
    case TERM_IS_RETWEET:
        return p->is_retweet;
    case TERM_IS_REPLY:
        return p->is_reply;
    case TERM_IS_QUOTE:
        return p->is_quote;
    case TERM_IS_VERIFIED:
        return p->author.verified;
    case TERM_HAS_LINKS:
        return p->nurls > 0 || strstr(c->tk[MS_TEXT].folded.data ? c->tk[MS_TEXT].folded.data : "", "http://") ||
               strstr(c->tk[MS_TEXT].folded.data ? c->tk[MS_TEXT].folded.data : "", "https://");
    case TERM_HAS_MENTIONS:
        return p->nmentions > 0 || has_entity(&c->tk[MS_TEXT], '@');
    case TERM_HAS_HASHTAGS:
        return p->nhashtags > 0 || has_entity(&c->tk[MS_TEXT], '#');
    case TERM_HAS_MEDIA:
        return p->has_media;
    case TERM_FOLLOWERS:
        return p->author.followers >= 0 && p->author.followers >= q->lo &&
               (q->hi < 0 || p->author.followers <= q->hi);
    case TERM_SAMPLE:
        /* Deterministic on the post id: the same post is always in or out. */
        return (int)(hash_bytes(p->id, strlen(p->id)) % 100) < q->n;
    default:
        return 0;
    }
}

static int eval(const struct match_ctx *c, const int32_t *pc, const struct post *p)
{
    const int32_t *kid, *end = pc + pc[1];

    switch (pc[0]) {
    case OP_HIT:
        return c->term_stamp[pc[2]] == c->epoch;
    case OP_FLAG:
        return eval_flag(c, c->m->terms[pc[2]].q, p);
    case OP_NOT:
        return !eval(c, pc + 2, p);
    case OP_AND:
        for (kid = pc + 2; kid < end; kid += kid[1])
            if (!eval(c, kid, p))
                return 0;
        return 1;
    case OP_OR:
        for (kid = pc + 2; kid < end; kid += kid[1])
            if (eval(c, kid, p))
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

int matcher_match(struct match_ctx *c, const struct matcher *m, const struct post *p)
{
    static const int fold_of[MS_COUNT] = {0, 1, 0, 1, 0};

    if (!p->text)
        return 0;
    if (ctx_prepare(c, m) != 0)
        return MATCHER_NOMEM;
    for (int s = 0; s < MS_COUNT; s++) {
        size_t len;
        const char *t;
        int rc;
        if (!m->need[s])
            continue;
        if ((rc = stream_text(c, p, s, &t, &len)))
            return rc == BUF_NOMEM ? MATCHER_NOMEM : -1;
        if ((rc = text_tokenize(&c->tk[s], t, len, fold_of[s])) != 0)
            return rc == TEXT_NOMEM ? MATCHER_NOMEM : -1;
        scan_stream(c, s);
    }
    for (int f = 0; f < 2; f++)
        if (m->contains[f] && mpm_scan(m->contains[f], c->mpm, c->tk[f ? MS_TEXT_FOLD : MS_TEXT].folded.data,
                                       c->tk[f ? MS_TEXT_FOLD : MS_TEXT].folded.len, mpm_hit, c) != 0)
            return -1;
    if (m->raw) {
        size_t len;
        const char *t;
        int rc = stream_text(c, p, MS_TEXT, &t, &len);
        if (rc)
            return rc == BUF_NOMEM ? MATCHER_NOMEM : -1;
        if (mpm_scan(m->raw, c->mpm, t, len, mpm_hit, c) != 0)
            return -1;
    }
    handle_lookup(c, NS_FROM, p->author.handle);
    handle_lookup(c, NS_TO, p->to_handle);
    if (p->is_retweet)
        handle_lookup(c, NS_RT, p->referenced_author);
    if (p->conversation_id && m->dict[NS_CONV].nlists)
        lookup(c, NS_CONV, NULL, 0, p->conversation_id, strlen(p->conversation_id));
    for (int i = 0; i < c->ncand; i++)
        if (eval(c, m->prog + m->prog_off[c->cand[i]], p))
            c->hits[c->nhits++].rule = c->cand[i];
    /* Deterministic output: matches in rule order (few, so sort those). */
    qsort(c->hits, (size_t)c->nhits, sizeof *c->hits, cmp_int);
    return c->nhits;
}

int matcher_term_hit(const struct match_ctx *c, const struct rule *r, int t)
{
    if (!term_kind_standalone(r->q->terms[t].kind))
        return 0;
    return c->term_stamp[r->term_ids[t]] == c->epoch;
}

int matcher_export(const struct match_ctx *c, const struct rule *rules, uint32_t *ids, int max, int *nterms)
{
    int n = 0;

    if (c->nhits > max)
        return -1;
    for (int i = 0; i < c->nhits; i++)
        ids[n++] = (uint32_t)c->hits[i].rule;
    *nterms = 0;
    for (int i = 0; i < c->nhits; i++) {
        const struct rule *r = &rules[c->hits[i].rule];
        for (int t = 0; t < r->q->nterms; t++) {
            if (c->term_stamp[r->term_ids[t]] != c->epoch)
                continue;
            if (n >= max)
                return -1;
            ids[n++] = (uint32_t)r->term_ids[t];
            (*nterms)++;
        }
    }
    return n;
}

int matcher_import(struct match_ctx *c, const struct matcher *m, const uint32_t *ids, int nhits, int nterms)
{
    if (ctx_prepare(c, m) != 0)
        return MATCHER_NOMEM;
    for (int i = 0; i < nhits; i++)
        c->hits[i].rule = (int)ids[i];
    c->nhits = nhits;
    for (int i = 0; i < nterms; i++)
        c->term_stamp[ids[nhits + i]] = c->epoch;
    return 0;
}
