/* query: recursive-descent parser for rule queries; see query.h. */
#include "query.h"
#include "text.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ltype { L_END, L_LPAREN, L_RPAREN, L_OR, L_MINUS, L_NEAR, L_WORD, L_PHRASE };

struct lexeme {
    enum ltype type;
    size_t off, len;            /* WORD/PHRASE text (a phrase without its quotes) */
    int near_n, near_ordered;   /* L_NEAR */
    int prox;                   /* L_PHRASE followed by ~N: N, else -1 */
};

struct parser {
    const char *s;
    size_t pos;
    struct lexeme cur;
    struct query *q;
    const struct query_env *env;
    struct tokens tk;
    int written;                /* terms written in the query itself */
    int depth;
    char *err;
    size_t errlen;
    size_t err_off;
    int failed;
};

static void perr(struct parser *p, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void perr(struct parser *p, size_t off, const char *fmt, ...)
{
    va_list ap;

    if (p->failed)
        return;
    p->failed = 1;
    p->err_off = off;
    va_start(ap, fmt);
    vsnprintf(p->err, p->errlen, fmt, ap);
    va_end(ap);
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* "NEAR/5" or "ONEAR/5" (upper case, like OR) */
static int lex_near(struct parser *p, size_t start, size_t len)
{
    const char *w = p->s + start;
    size_t k = w[0] == 'O' ? 1 : 0;
    long long n;
    char num[16];

    if (len < k + 6 || strncmp(w + k, "NEAR/", 5) != 0 || len - k - 5 >= sizeof num)
        return 0;
    memcpy(num, w + k + 5, len - k - 5);
    num[len - k - 5] = '\0';
    if (parse_ll(num, 1, QUERY_MAX_NEAR, &n)) {
        perr(p, start, "%.*s: the distance must be 1 to %d", (int)len, w, QUERY_MAX_NEAR);
        return 0;
    }
    p->cur.type = L_NEAR;
    p->cur.near_n = (int)n;
    p->cur.near_ordered = k == 1;
    return 1;
}

static void lex_next(struct parser *p)
{
    const char *s = p->s;
    size_t i = p->pos, start;

    while (is_space(s[i]))
        i++;
    start = i;
    memset(&p->cur, 0, sizeof p->cur);
    p->cur.off = i;
    p->cur.prox = -1;
    if (!s[i]) {
        p->cur.type = L_END;
    } else if (s[i] == '(') {
        p->cur.type = L_LPAREN;
        i++;
    } else if (s[i] == ')') {
        p->cur.type = L_RPAREN;
        i++;
    } else if (s[i] == '-' && s[i + 1] && !is_space(s[i + 1]) && s[i + 1] != ')') {
        p->cur.type = L_MINUS;
        i++;
    } else if (s[i] == '"') {
        const char *end = strchr(s + i + 1, '"');
        if (!end) {
            perr(p, start, "unterminated quote");
            p->cur.type = L_END;
            return;
        }
        p->cur.type = L_PHRASE;
        p->cur.off = i + 1;
        p->cur.len = (size_t)(end - (s + i + 1));
        i = (size_t)(end - s) + 1;
        if (s[i] == '~') {
            long long n;
            char num[16];
            size_t j = i + 1;
            while (s[j] >= '0' && s[j] <= '9' && j - i < sizeof num)
                j++;
            snprintf(num, sizeof num, "%.*s", (int)(j - i - 1), s + i + 1);
            if (parse_ll(num, 1, QUERY_MAX_PROXIMITY, &n)) {
                perr(p, i, "proximity \"...\"~N needs N from 1 to %d (X's limit; NEAR/N allows more)",
                     QUERY_MAX_PROXIMITY);
                p->cur.type = L_END;
                return;
            }
            p->cur.prox = (int)n;
            i = j;
        }
    } else {
        /* A word; an operator may take a quoted value: bio:"a b". */
        while (s[i] && !is_space(s[i]) && s[i] != '(' && s[i] != ')') {
            if (s[i] == '"') {
                const char *end;
                if (i == start || s[i - 1] != ':')
                    break;
                if (!(end = strchr(s + i + 1, '"'))) {
                    perr(p, i, "unterminated quote");
                    p->cur.type = L_END;
                    return;
                }
                i = (size_t)(end - s) + 1;
                break;
            }
            i++;
        }
        p->cur.len = i - start;
        if (p->cur.len == 2 && s[start] == 'O' && s[start + 1] == 'R')
            p->cur.type = L_OR;
        else if (!lex_near(p, start, p->cur.len))
            p->cur.type = L_WORD;
    }
    p->pos = i;
}

/* Allocation failures become the parse error "out of memory" (at off). */
static void *pnomem(struct parser *p, size_t off)
{
    perr(p, off, "out of memory");
    return NULL;
}

static char *pdup(struct parser *p, size_t off, const char *s, size_t n)
{
    char *d = xstrndup_try(s, n);
    return d ? d : pnomem(p, off);
}

/* text_tokenize's failure as a parse error. */
static int ptext_fail(struct parser *p, size_t off, int rc)
{
    if (rc == TEXT_NOMEM)
        pnomem(p, off);
    else
        perr(p, off, "term is not valid UTF-8");
    return -1;
}

static struct qnode *node_new(struct parser *p, enum qtype t)
{
    struct qnode *n = xcalloc_try(1, sizeof *n);

    if (!n)
        return pnomem(p, p->cur.off);
    n->type = t;
    return n;
}

static void node_free(struct qnode *n);

/* Add kid to n; on failure both are freed (and the parse has failed). */
static int node_add(struct parser *p, struct qnode *n, struct qnode *kid)
{
    struct qnode **kids = xrealloc_try(n->kids, sizeof *n->kids * (size_t)(n->nkids + 1));

    if (!kids) {
        pnomem(p, p->cur.off);
        node_free(kid);
        node_free(n);
        return -1;
    }
    n->kids = kids;
    n->kids[n->nkids++] = kid;
    return 0;
}

/* A new node of type t with kid as its first child; kid freed on failure. */
static struct qnode *node_with(struct parser *p, enum qtype t, struct qnode *kid)
{
    struct qnode *n = node_new(p, t);

    if (!n) {
        node_free(kid);
        return NULL;
    }
    return node_add(p, n, kid) ? NULL : n;
}

static void node_free(struct qnode *n)
{
    if (!n)
        return;
    for (int i = 0; i < n->nkids; i++)
        node_free(n->kids[i]);
    free(n->kids);
    free(n);
}

static void term_clear(struct qterm *t)
{
    free(t->raw);
    free(t->value);
    free(t->toks);                      /* each one block: the pointers, then */
    free(t->toks2);                     /* the strings (fold_tokens) */
}

static struct qterm *term_new(struct parser *p, enum term_kind k, size_t off, size_t len)
{
    struct query *q = p->q;
    struct qterm *t;

    if (q->nterms >= QUERY_MAX_LIST_TERMS) {
        perr(p, off, "too many terms through list: (max %d)", QUERY_MAX_LIST_TERMS);
        return NULL;
    }
    if ((q->nterms & (q->nterms - 1)) == 0) {
        struct qterm *grown = xrealloc_try(q->terms, sizeof *q->terms * (size_t)(q->nterms ? q->nterms * 2 : 1));
        if (!grown)
            return pnomem(p, off);
        q->terms = grown;
    }
    t = &q->terms[q->nterms++];
    memset(t, 0, sizeof *t);
    t->kind = k;
    t->fold = p->env->fold;
    if (!(t->raw = pdup(p, off, p->s + off, len)))
        return NULL;                    /* the term stays, freed with the query */
    return t;
}

static void term_pop(struct parser *p)
{
    term_clear(&p->q->terms[--p->q->nterms]);
}

/* Fold and split s with the post tokenizer into *toks, one block: the
 * pointer array, then the strings it points into (loading 100,000 rules
 * made a million small allocations); *value, if asked for, the tokens
 * joined by spaces. */
static int fold_tokens(struct parser *p, size_t off, const char *s, size_t len, int fold,
                       char ***toks, int *ntoks, char **value)
{
    size_t bytes = 0;
    char *at;
    int rc;

    if ((rc = text_tokenize(&p->tk, s, len, fold)) != 0)
        return ptext_fail(p, off, rc);
    if (p->tk.nw == 0) {
        perr(p, off, "term '%.*s' has no letters, digits or emoji", (int)len, s);
        return -1;
    }
    for (int i = 0; i < p->tk.nw; i++)
        bytes += p->tk.w[i].len + 1;
    if (!(*toks = xmalloc_try(sizeof **toks * (size_t)p->tk.nw + bytes)) ||
        (value && !(*value = xmalloc_try(bytes)))) {
        pnomem(p, off);                 /* the toks are freed with the term */
        return -1;
    }
    *ntoks = p->tk.nw;
    at = (char *)(*toks + p->tk.nw);
    for (int i = 0; i < p->tk.nw; i++) {
        (*toks)[i] = at;
        memcpy(at, tok_ptr(&p->tk, &p->tk.w[i]), p->tk.w[i].len);
        at += p->tk.w[i].len;
        *at++ = '\0';
    }
    if (value) {                        /* the tokens joined by spaces */
        memcpy(*value, *toks + p->tk.nw, bytes);
        for (size_t i = 0; i + 1 < bytes; i++)
            if ((*value)[i] == '\0')
                (*value)[i] = ' ';
    }
    return 0;
}

static int term_words(struct parser *p, struct qterm *t, size_t off, const char *s, size_t len)
{
    return fold_tokens(p, off, s, len, t->fold, &t->toks, &t->ntoks, &t->value);
}

/* The whole text folded (no tokenising): contains: values. */
static int fold_all(struct parser *p, size_t off, const char *s, size_t len, int fold, char **out)
{
    int rc;

    if ((rc = text_tokenize(&p->tk, s, len, fold)) != 0)
        return ptext_fail(p, off, rc);
    if (p->tk.folded.len == 0) {
        perr(p, off, "empty value");
        return -1;
    }
    return (*out = pdup(p, off, p->tk.folded.data, p->tk.folded.len)) ? 0 : -1;
}

static char *lower_dup(struct parser *p, size_t off, const char *s, size_t n)
{
    char *d = pdup(p, off, s, n);
    for (char *c = d; c && *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c + 32);
    return d;
}

static const char *const unsupported_ops[] = {
    "place", "place_country", "point_radius", "bounding_box", "context", "entity", "bio_name",
    "bio_location", "source", "in_reply_to_tweet_id", "retweets_of_tweet_id", "url_contains",
    "url_title", "url_description", "tweets_count", "following_count", "listed_count",
    "statuses_count", "friends_count", "from_affiliate_of", "to_affiliate_of", "embedding",
    "embedding_threshold", "has_profile_geo", "profile_country", "profile_region",
    "profile_locality", "profile_subregion", "profile_point_radius", "profile_bounding_box",
    "is", "has",
};

/* Every operator name the parser knows (the README's operator table);
 * is: and has: take the flags below. */
static const char *const known_ops[] = {
    "from", "to", "retweets_of", "lang", "conversation_id", "is", "has", "min_followers",
    "followers_count", "sample", "bio", "url", "contains", "raw", "list",
};
static const char *const flag_ops[] = {
    "is:retweet", "is:reply", "is:quote", "is:verified", "has:links", "has:mentions", "has:hashtags", "has:media",
};

/* The closest of names to w (len n) within a third of its length (at
 * least 1, at most 2 edits), or NULL. */
static const char *closest(const char *w, size_t n, const char *const *names, size_t count)
{
    const char *best = NULL;
    size_t bestd = n / 3 < 1 ? 1 : n / 3 > 2 ? 2 : n / 3;

    for (size_t i = 0; i < count; i++) {
        size_t dist = str_edit_distance(w, n, names[i], strlen(names[i]));
        if (dist <= bestd && (!best || dist < bestd)) {
            best = names[i];
            bestd = dist;
        }
    }
    return best;
}

/* op: looks like an operator (letters and '_'), so X would refuse it and
 * so do we: a typo in an exclusion must not silently exclude nothing. */
static int operator_shaped(const char *op)
{
    for (const char *c = op; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || *c == '_'))
            return 0;
    return *op != '\0';
}

static void unknown_operator(struct parser *p, size_t off, const char *op, const char *w, size_t len)
{
    static const struct { const char *op, *hint; } hints[] = {
        {"hashtag", "write #NAME for a hashtag"}, {"mention", "write @NAME for a mention"},
        {"cashtag", "write $NAME for a cashtag"}, {"http", "write a link as url:\"...\""},
        {"https", "write a link as url:\"...\""},
    };
    const char *near = closest(op, strlen(op), known_ops, ARRAY_LEN(known_ops));

    for (size_t i = 0; i < ARRAY_LEN(hints); i++)
        if (strcmp(op, hints[i].op) == 0) {
            perr(p, off, "unknown operator '%s:' (%s; quote it to match the text: \"%.*s\")", op, hints[i].hint,
                 (int)len, w);
            return;
        }
    if (near)
        perr(p, off, "unknown operator '%s:' (did you mean %s:?)", op, near);
    else
        perr(p, off, "unknown operator '%s:' (quote it to match the text: \"%.*s\")", op, (int)len, w);
}

/* The node for the term just made; NULL if the parse has failed (a term
 * field that could not be allocated). */
static struct qnode *term_node(struct parser *p)
{
    struct qnode *n;

    if (p->failed || !(n = node_new(p, Q_TERM)))
        return NULL;
    n->term = p->q->nterms - 1;
    return n;
}

static struct qnode *parse_list(struct parser *p, size_t off, const char *name, size_t nlen);

/* op:value, value possibly quoted.  Returns the node, NULL on error, or
 * (struct qnode *)1 when op is not an operator name (read as a keyword). */
#define NOT_AN_OPERATOR ((struct qnode *)1)

static struct qnode *parse_operator(struct parser *p, size_t off, size_t len)
{
    const char *w = p->s + off, *colon = memchr(w, ':', len), *v;
    size_t kl = (size_t)(colon - w), vl = len - kl - 1;
    char op[32];
    struct qterm *t;
    long long a, b;

    if (kl >= sizeof op)
        return NOT_AN_OPERATOR;
    memcpy(op, w, kl);
    op[kl] = '\0';
    v = colon + 1;
    if (vl >= 2 && v[0] == '"' && v[vl - 1] == '"') {
        v++;
        vl -= 2;
    }
#define OP(name) (strcmp(op, name) == 0)
    if (OP("from") || OP("to") || OP("retweets_of")) {
        if (vl && v[0] == '@') {
            v++;
            vl--;
        }
        if (!vl) {
            perr(p, off, "%s: needs a handle", op);
            return NULL;
        }
        if (!(t = term_new(p, OP("from") ? TERM_FROM : OP("to") ? TERM_TO : TERM_RETWEETS_OF, off, len)))
            return NULL;
        t->value = lower_dup(p, off, v, vl);
    } else if (OP("lang") || OP("conversation_id")) {
        if (!vl) {
            perr(p, off, "%s: needs a value", op);
            return NULL;
        }
        if (!(t = term_new(p, OP("lang") ? TERM_LANG : TERM_CONVERSATION, off, len)))
            return NULL;
        t->value = OP("lang") ? lower_dup(p, off, v, vl) : pdup(p, off, v, vl);
    } else if (OP("is") || OP("has")) {
        /* in the order of flag_ops */
        static const enum term_kind flags[] = {
            TERM_IS_RETWEET, TERM_IS_REPLY, TERM_IS_QUOTE, TERM_IS_VERIFIED,
            TERM_HAS_LINKS, TERM_HAS_MENTIONS, TERM_HAS_HASHTAGS, TERM_HAS_MEDIA,
        };
        _Static_assert(ARRAY_LEN(flags) == ARRAY_LEN(flag_ops), "one kind per flag");
        t = NULL;
        for (size_t i = 0; i < ARRAY_LEN(flags); i++)
            if (strlen(flag_ops[i]) == len && memcmp(flag_ops[i], w, len) == 0)
                t = term_new(p, flags[i], off, len);
        if (!t) {
            const char *near = closest(w, len, flag_ops, ARRAY_LEN(flag_ops));
            if (near)
                perr(p, off, "unknown operator '%.*s' (did you mean %s?)", (int)len, w, near);
            else
                perr(p, off, "unknown operator '%.*s' (is:retweet, is:reply, is:quote, is:verified, "
                     "has:links, has:mentions, has:hashtags, has:media)", (int)len, w);
            return NULL;
        }
        t->value = pdup(p, off, w, len);
    } else if (OP("min_followers") || OP("followers_count")) {
        const char *dots = vl > 2 ? strstr(v, "..") : NULL;
        char lo[24] = "", hi[24] = "";
        if (dots && (size_t)(dots - v) < vl) {
            snprintf(lo, sizeof lo, "%.*s", (int)(dots - v), v);
            snprintf(hi, sizeof hi, "%.*s", (int)(vl - (size_t)(dots - v) - 2), dots + 2);
        } else {
            snprintf(lo, sizeof lo, "%.*s", (int)vl, v);
        }
        if (parse_ll(lo, 0, 1000000000000LL, &a) ||
            (hi[0] && (OP("min_followers") || parse_ll(hi, a, 1000000000000LL, &b)))) {
            perr(p, off, "%s: expected %s", op, OP("min_followers") ? "a number" : "N or A..B (A <= B)");
            return NULL;
        }
        if (!(t = term_new(p, TERM_FOLLOWERS, off, len)))
            return NULL;
        t->lo = a;
        t->hi = hi[0] ? b : -1;
        t->value = pdup(p, off, w, len);
    } else if (OP("sample")) {
        if (parse_ll(v, 1, 100, &a) || vl > 3) {
            perr(p, off, "sample: expected a percentage from 1 to 100");
            return NULL;
        }
        if (!(t = term_new(p, TERM_SAMPLE, off, len)))
            return NULL;
        t->n = (int)a;
        t->value = pdup(p, off, w, len);
    } else if (OP("bio") || OP("url")) {
        if (!(t = term_new(p, OP("bio") ? TERM_BIO : TERM_URL, off, len)) ||
            fold_tokens(p, off, v, vl, t->fold, &t->toks, &t->ntoks, &t->value))
            return NULL;
    } else if (OP("contains")) {
        if (!(t = term_new(p, TERM_CONTAINS, off, len)) || fold_all(p, off, v, vl, t->fold, &t->value))
            return NULL;
    } else if (OP("raw")) {
        if (!vl) {
            perr(p, off, "raw: needs a value");
            return NULL;
        }
        if (!(t = term_new(p, TERM_RAW, off, len)))
            return NULL;
        t->value = pdup(p, off, v, vl);
    } else if (OP("list")) {
        return parse_list(p, off, v, vl);
    } else {
        for (size_t i = 0; i < ARRAY_LEN(unsupported_ops); i++)
            if (OP(unsupported_ops[i])) {
                perr(p, off, "operator '%s:' is not supported", op);
                return NULL;
            }
        if (operator_shaped(op)) {
            unknown_operator(p, off, op, w, len);
            return NULL;
        }
        return NOT_AN_OPERATOR;
    }
#undef OP
    return term_node(p);
}

static struct qnode *parse_word(struct parser *p, size_t off, size_t len)
{
    const char *w = p->s + off, *colon = memchr(w, ':', len);
    struct qterm *t;
    struct qnode *n;

    if (colon && colon > w) {
        n = parse_operator(p, off, len);
        if (n != NOT_AN_OPERATOR)
            return n;
    }
    if (w[0] == '#' || w[0] == '@' || w[0] == '$') {
        if (!(t = term_new(p, TERM_ENTITY, off, len)))
            return NULL;
        int rc = text_tokenize(&p->tk, w, len, t->fold);
        if (rc == TEXT_NOMEM)
            return pnomem(p, off);
        if (rc != 0 || p->tk.ne != 1 || p->tk.e[0].off != 0 || p->tk.e[0].len != p->tk.folded.len) {
            perr(p, off, "'%.*s' is not a valid #hashtag, @mention or $cashtag", (int)len, w);
            return NULL;
        }
        t->value = pdup(p, off, p->tk.folded.data, p->tk.folded.len);
        return term_node(p);
    }
    if (len > 1 && w[len - 1] == '*') {
        /* Prefix wildcard: one token of at least three characters. */
        if (!(t = term_new(p, TERM_PREFIX, off, len)) ||
            fold_tokens(p, off, w, len - 1, t->fold, &t->toks, &t->ntoks, &t->value))
            return NULL;
        int rc = t->ntoks != 1 || memchr(w, '*', len - 1) ? -1 : text_tokenize(&p->tk, w, len - 1, 0);
        if (rc == TEXT_NOMEM)
            return pnomem(p, off);
        if (rc || p->tk.folded.len != len - 1 || p->tk.nw != 1 || p->tk.w[0].len != len - 1) {
            perr(p, off, "a wildcard is a single word followed by '*' (bank*)");
            return NULL;
        }
        {
            int chars = 0;
            for (const char *c = t->value; *c; c++)
                chars += ((unsigned char)*c & 0xC0) != 0x80;
            if (chars < 3) {
                perr(p, off, "a wildcard needs at least 3 letters before '*'");
                return NULL;
            }
        }
        return term_node(p);
    }
    if (!(t = term_new(p, TERM_WORDS, off, len)) || term_words(p, t, off, w, len))
        return NULL;
    return term_node(p);
}

static struct qnode *parse_term(struct parser *p)
{
    struct lexeme lx = p->cur;
    struct qterm *t;
    struct qnode *n;

    if (++p->written > QUERY_MAX_TERMS) {
        perr(p, lx.off, "too many terms in one rule (max %d)", QUERY_MAX_TERMS);
        return NULL;
    }
    if (lx.type == L_PHRASE) {
        if (!(t = term_new(p, lx.prox >= 0 ? TERM_PROX : TERM_WORDS, lx.off, lx.len)) ||
            term_words(p, t, lx.off, p->s + lx.off, lx.len))
            return NULL;
        if (lx.prox >= 0) {
            t->n = lx.prox;
            if (t->ntoks < 2) {
                perr(p, lx.off, "proximity needs at least two words in the quotes");
                return NULL;
            }
        }
        n = term_node(p);
    } else {
        n = parse_word(p, lx.off, lx.len);
    }
    if (n)
        lex_next(p);
    return n;
}

/* A NEAR/N B: fold the right operand into the left term. */
static struct qnode *parse_near(struct parser *p, struct qnode *left)
{
    struct lexeme op = p->cur;
    struct qterm *l, *r;
    struct qnode *right;

    l = left->type == Q_TERM ? &p->q->terms[left->term] : NULL;
    if (!l || l->kind != TERM_WORDS) {
        perr(p, op.off, "NEAR/N joins two keywords or \"phrases\"");
        node_free(left);
        return NULL;
    }
    lex_next(p);
    if ((p->cur.type != L_WORD && p->cur.type != L_PHRASE) || p->cur.prox >= 0 ||
        !(right = parse_term(p))) {
        perr(p, op.off, "NEAR/N joins two keywords or \"phrases\"");
        node_free(left);
        return NULL;
    }
    r = &p->q->terms[right->term];
    l = &p->q->terms[left->term];       /* terms may have moved */
    if (r->kind != TERM_WORDS || right->term != left->term + 1) {
        perr(p, op.off, "NEAR/N joins two keywords or \"phrases\"");
        node_free(left);
        node_free(right);
        return NULL;
    }
    l->kind = TERM_NEAR;
    l->n = op.near_n;
    l->ordered = op.near_ordered;
    l->toks2 = r->toks;
    l->ntoks2 = r->ntoks;
    r->toks = NULL;
    r->ntoks = 0;
    {
        size_t vl = strlen(l->value) + strlen(r->value) + 16, rl = strlen(l->raw) + strlen(r->raw) + 16;
        char *v = xmalloc_try(vl), *raw = xmalloc_try(rl);
        if (!v || !raw) {
            free(v);
            free(raw);
            pnomem(p, op.off);
            node_free(left);
            node_free(right);
            return NULL;
        }
        snprintf(v, vl, "%s %s/%d %s", l->value, op.near_ordered ? "ONEAR" : "NEAR", op.near_n, r->value);
        free(l->value);
        l->value = v;
        snprintf(raw, rl, "%s %s/%d %s", l->raw, op.near_ordered ? "ONEAR" : "NEAR", op.near_n, r->raw);
        free(l->raw);
        l->raw = raw;
    }
    term_pop(p);
    node_free(right);
    if (p->cur.type == L_NEAR) {
        perr(p, p->cur.off, "NEAR/N joins exactly two terms; combine more with AND");
        node_free(left);
        return NULL;
    }
    return left;
}

/* list:NAME -> (entry1 OR entry2 OR ...), each entry parsed as one term. */
static struct qnode *parse_list(struct parser *p, size_t off, const char *name, size_t nlen)
{
    const char *const *entries;
    char lname[128], err[256];
    struct qnode *or;
    int n;

    if (!p->env->list || nlen == 0 || nlen >= sizeof lname) {
        perr(p, off, "list: needs a list name (a file NAME.txt under lexicons/)");
        return NULL;
    }
    memcpy(lname, name, nlen);
    lname[nlen] = '\0';
    if (p->env->list(p->env->ctx, lname, &entries, &n, err, sizeof err) != 0) {
        perr(p, off, "list:%s: %s", lname, err);
        return NULL;
    }
    if (!(or = node_new(p, Q_OR)))
        return NULL;
    for (int i = 0; i < n; i++) {
        struct parser sub = *p;         /* shares the query and the token scratch */
        char suberr[256] = "";
        struct qnode *kid;

        sub.s = entries[i];
        sub.pos = 0;
        sub.failed = 0;
        sub.written = 0;
        sub.err = suberr;
        sub.errlen = sizeof suberr;
        lex_next(&sub);
        kid = !sub.failed && (sub.cur.type == L_WORD || sub.cur.type == L_PHRASE) ? parse_term(&sub) : NULL;
        p->tk = sub.tk;                 /* its buffers may have grown */
        if (!kid || sub.cur.type != L_END || kid->type != Q_TERM ||
            !qterm_standalone(&p->q->terms[kid->term])) {
            perr(p, off, "list:%s entry %d (%s): %s", lname, i + 1, entries[i],
                 suberr[0] ? suberr : "not a single keyword, phrase, entity or wildcard");
            node_free(kid);
            node_free(or);
            return NULL;
        }
        if (node_add(p, or, kid))
            return NULL;
    }
    if (or->nkids == 0) {
        perr(p, off, "list:%s is empty", lname);
        node_free(or);
        return NULL;
    }
    return or;
}

static struct qnode *parse_or(struct parser *p);

static struct qnode *parse_unary(struct parser *p)
{
    struct qnode *n, *kid;
    size_t off = p->cur.off;

    if (p->cur.type == L_MINUS) {
        lex_next(p);
        if (p->cur.type == L_LPAREN) {
            perr(p, off, "a group cannot be negated: negate each term (-a -b)");
            return NULL;
        }
        if (p->cur.type != L_WORD && p->cur.type != L_PHRASE) {
            perr(p, off, "'-' must be followed by a term");
            return NULL;
        }
        if (!(kid = parse_term(p)))
            return NULL;
        if (kid->type == Q_TERM) {
            struct qterm *t = &p->q->terms[kid->term];
            if (t->kind == TERM_SAMPLE) {
                perr(p, off, "sample: cannot be negated");
                node_free(kid);
                return NULL;
            }
            t->negated = 1;
        } else {
            for (int i = 0; i < kid->nkids; i++)        /* -list:NAME */
                p->q->terms[kid->kids[i]->term].negated = 1;
        }
        return node_with(p, Q_NOT, kid);
    }
    if (p->cur.type == L_LPAREN) {
        if (++p->depth > QUERY_MAX_DEPTH) {
            perr(p, off, "parentheses nested too deeply");
            return NULL;
        }
        lex_next(p);
        if (p->cur.type == L_RPAREN) {
            perr(p, off, "empty parentheses");
            return NULL;
        }
        if (p->cur.type == L_END) {
            perr(p, off, "unbalanced parenthesis: '(' is never closed");
            return NULL;
        }
        if (!(n = parse_or(p)))
            return NULL;
        if (p->cur.type != L_RPAREN) {
            node_free(n);
            perr(p, off, "unbalanced parenthesis: '(' is never closed");
            return NULL;
        }
        p->depth--;
        lex_next(p);
        return n;
    }
    if (p->cur.type == L_WORD || p->cur.type == L_PHRASE) {
        n = parse_term(p);
        if (n && p->cur.type == L_NEAR)
            n = parse_near(p, n);
        return n;
    }
    if (p->cur.type == L_RPAREN)
        perr(p, off, "unbalanced parenthesis: ')' without '('");
    else if (p->cur.type == L_OR)
        perr(p, off, "OR needs a term on each side");
    else if (p->cur.type == L_NEAR)
        perr(p, off, "NEAR/N needs a term on each side");
    else
        perr(p, off, "a term is missing here");
    return NULL;
}

static struct qnode *parse_and(struct parser *p)
{
    struct qnode *first = parse_unary(p), *n, *kid;

    if (!first)
        return NULL;
    if (p->cur.type == L_END || p->cur.type == L_OR || p->cur.type == L_RPAREN)
        return first;
    if (!(n = node_with(p, Q_AND, first)))
        return NULL;
    while (p->cur.type != L_END && p->cur.type != L_OR && p->cur.type != L_RPAREN) {
        if (!(kid = parse_unary(p))) {
            node_free(n);
            return NULL;
        }
        if (node_add(p, n, kid))
            return NULL;
    }
    return n;
}

/* X: a clause can match on its own only through a positive standalone term. */
static int node_positive(const struct query *q, const struct qnode *n)
{
    switch (n->type) {
    case Q_TERM:
        return qterm_standalone(&q->terms[n->term]);
    case Q_NOT:
        return 0;
    case Q_AND:
        for (int i = 0; i < n->nkids; i++)
            if (node_positive(q, n->kids[i]))
                return 1;
        return 0;
    case Q_OR:
        for (int i = 0; i < n->nkids; i++)
            if (!node_positive(q, n->kids[i]))
                return 0;
        return 1;
    }
    return 0;
}

static void or_side_error(struct parser *p, size_t off)
{
    perr(p, off, "each side of OR needs a positive term "
         "(negated terms and lang:, is:, has:, sample:, follower counts cannot stand alone)");
}

static struct qnode *parse_or(struct parser *p)
{
    size_t first_off = p->cur.off, kid_off;
    struct qnode *first = parse_and(p), *n, *kid;
    size_t or_off;

    if (!first)
        return NULL;
    if (p->cur.type != L_OR)
        return first;
    if (!(n = node_with(p, Q_OR, first)))
        return NULL;
    /* the caret goes under the side that cannot stand alone */
    if (!node_positive(p->q, first)) {
        or_side_error(p, first_off);
        node_free(n);
        return NULL;
    }
    while (p->cur.type == L_OR) {
        or_off = p->cur.off;
        lex_next(p);
        if (p->cur.type == L_END || p->cur.type == L_RPAREN || p->cur.type == L_OR) {
            perr(p, or_off, "OR needs a term on each side");
            node_free(n);
            return NULL;
        }
        kid_off = p->cur.off;
        if (!(kid = parse_and(p))) {
            node_free(n);
            return NULL;
        }
        if (node_add(p, n, kid))
            return NULL;
        if (!node_positive(p->q, kid)) {
            or_side_error(p, kid_off);
            node_free(n);
            return NULL;
        }
    }
    return n;
}

int term_kind_standalone(enum term_kind k)
{
    return k <= TERM_CONVERSATION;
}

int qterm_standalone(const struct qterm *t)
{
    return !t->negated && term_kind_standalone(t->kind);
}

static int char_column(const char *s, size_t off)
{
    int col = 1;
    for (size_t i = 0; i < off && s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            col++;
    return col;
}

int query_parse(const char *s, const struct query_env *env, struct query **out, char *err,
                size_t errlen, int *col)
{
    static const struct query_env no_env = {0, NULL, NULL};
    struct parser p = {.s = s, .env = env ? env : &no_env, .err = err, .errlen = errlen};
    size_t len = strlen(s);

    *out = NULL;
    *col = 1;
    if (len > QUERY_MAX_LEN) {
        snprintf(err, errlen, "query longer than %d bytes", QUERY_MAX_LEN);
        return -1;
    }
    if (!(p.q = xcalloc_try(1, sizeof *p.q))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    tokens_init(&p.tk);
    lex_next(&p);
    if (!p.failed && p.cur.type == L_END)
        perr(&p, 0, "empty query");
    if (!p.failed)
        p.q->root = parse_or(&p);
    if (!p.failed && p.cur.type == L_RPAREN)
        perr(&p, p.cur.off, "unbalanced parenthesis: ')' without '('");
    else if (!p.failed && p.cur.type != L_END)
        perr(&p, p.cur.off, "unexpected text");
    if (!p.failed && !node_positive(p.q, p.q->root))
        perr(&p, 0, "a rule needs at least one positive term "
             "(negated terms and lang:, is:, has:, sample:, follower counts cannot stand alone)");
    tokens_free(&p.tk);
    if (p.failed) {
        *col = char_column(s, p.err_off);
        query_free(p.q);
        return -1;
    }
    *out = p.q;
    return 0;
}

void query_free(struct query *q)
{
    if (!q)
        return;
    node_free(q->root);
    for (int i = 0; i < q->nterms; i++)
        term_clear(&q->terms[i]);
    free(q->terms);
    free(q);
}
