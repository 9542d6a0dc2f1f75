/* query: recursive-descent parser for rule queries; see query.h. */
#include "query.h"
#include "text.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum ltype { L_END, L_LPAREN, L_RPAREN, L_OR, L_MINUS, L_WORD, L_PHRASE };

struct lexeme {
    enum ltype type;
    size_t off, len;            /* WORD/PHRASE: the text (phrase without quotes) */
};

struct parser {
    const char *s;
    size_t pos;
    struct lexeme cur;
    struct query *q;
    struct tokens tk;
    int fold;
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

static void lex_next(struct parser *p)
{
    const char *s = p->s;
    size_t i = p->pos, start;

    while (is_space(s[i]))
        i++;
    start = i;
    p->cur.off = i;
    p->cur.len = 0;
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
            perr(p, i, "proximity \"...\"~N is not supported yet");
            p->cur.type = L_END;
            return;
        }
    } else {
        while (s[i] && !is_space(s[i]) && s[i] != '(' && s[i] != ')' && s[i] != '"')
            i++;
        p->cur.type = (i - start == 2 && s[start] == 'O' && s[start + 1] == 'R') ? L_OR : L_WORD;
        p->cur.len = i - start;
    }
    p->pos = i;
}

static struct qnode *node_new(enum qtype t)
{
    struct qnode *n = xcalloc(1, sizeof *n);
    n->type = t;
    return n;
}

static void node_add(struct qnode *n, struct qnode *kid)
{
    n->kids = xrealloc(n->kids, sizeof *n->kids * (size_t)(n->nkids + 1));
    n->kids[n->nkids++] = kid;
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

static struct qterm *term_new(struct parser *p, enum term_kind k, size_t off, size_t len)
{
    struct query *q = p->q;
    struct qterm *t;

    if (q->nterms >= QUERY_MAX_TERMS) {
        perr(p, off, "too many terms in one rule (max %s)", "256");
        return NULL;
    }
    q->terms = xrealloc(q->terms, sizeof *q->terms * (size_t)(q->nterms + 1));
    t = &q->terms[q->nterms++];
    memset(t, 0, sizeof *t);
    t->kind = k;
    t->raw = xstrndup(p->s + off, len);
    t->fold = p->fold;
    return t;
}

/* Keyword or phrase: fold and split with the post tokenizer. */
static int term_words(struct parser *p, struct qterm *t, size_t off, size_t len)
{
    struct buf joined;

    if (text_tokenize(&p->tk, p->s + off, len, p->fold) != 0) {
        perr(p, off, "term is not valid UTF-8");
        return -1;
    }
    if (p->tk.nw == 0) {
        perr(p, off, "term '%s' has no letters, digits or emoji", t->raw);
        return -1;
    }
    t->ntoks = p->tk.nw;
    t->toks = xcalloc((size_t)t->ntoks, sizeof *t->toks);
    buf_init(&joined, QUERY_MAX_LEN * 4);
    for (int i = 0; i < p->tk.nw; i++) {
        t->toks[i] = xstrndup(tok_ptr(&p->tk, &p->tk.w[i]), p->tk.w[i].len);
        if (i)
            buf_appendc(&joined, ' ');
        buf_append(&joined, t->toks[i], p->tk.w[i].len);
    }
    t->value = xstrdup(joined.data);
    buf_free(&joined);
    return 0;
}

static int term_entity(struct parser *p, struct qterm *t, size_t off, size_t len)
{
    if (text_tokenize(&p->tk, p->s + off, len, p->fold) != 0 || p->tk.ne != 1 ||
        p->tk.e[0].off != 0 || p->tk.e[0].len != p->tk.folded.len) {
        perr(p, off, "'%s' is not a valid #hashtag, @mention or $cashtag", t->raw);
        return -1;
    }
    t->value = xstrdup(p->tk.folded.data);
    return 0;
}

static const char *const later_ops[] = {
    "to", "retweets_of", "min_followers", "followers_count", "bio", "url", "has",
    "conversation_id", "sample", "contains", "raw", "list", "place", "place_country",
    "context", "entity", "bio_name", "bio_location", "source", "in_reply_to_tweet_id",
    "retweets_of_tweet_id", "point_radius", "bounding_box", "url_contains", "tweets_count",
    "following_count", "listed_count",
};

static struct qnode *parse_term(struct parser *p)
{
    struct lexeme lx = p->cur;
    const char *w = p->s + lx.off;
    struct qterm *t = NULL;
    const char *colon;
    struct qnode *n;

    if (lx.type == L_PHRASE) {
        if (!(t = term_new(p, TERM_WORDS, lx.off, lx.len)) || term_words(p, t, lx.off, lx.len))
            return NULL;
    } else if (w[0] == '#' || w[0] == '@' || w[0] == '$') {
        if (!(t = term_new(p, TERM_ENTITY, lx.off, lx.len)) || term_entity(p, t, lx.off, lx.len))
            return NULL;
    } else if ((colon = memchr(w, ':', lx.len)) && colon > w) {
        size_t kl = (size_t)(colon - w), vl = lx.len - kl - 1;
        const char *v = colon + 1;
        char opname[40];
        snprintf(opname, sizeof opname, "%.*s", (int)(kl < 30 ? kl : 30), w);
        if (strcmp(opname, "from") == 0 || strcmp(opname, "lang") == 0) {
            if (vl == 0 || (v[0] == '@' && vl == 1)) {
                perr(p, lx.off, "operator '%s:' needs a value", opname);
                return NULL;
            }
            if (v[0] == '@') {
                v++;
                vl--;
            }
            t = term_new(p, opname[0] == 'f' ? TERM_FROM : TERM_LANG, lx.off, lx.len);
            if (!t)
                return NULL;
            t->value = xstrndup(v, vl);
            for (char *c = t->value; *c; c++)
                if (*c >= 'A' && *c <= 'Z')
                    *c = (char)(*c + 32);
        } else if (strcmp(opname, "is") == 0) {
            static const struct { const char *v; enum term_kind k; } is_ops[] = {
                {"retweet", TERM_IS_RETWEET}, {"reply", TERM_IS_REPLY},
                {"quote", TERM_IS_QUOTE}, {"verified", TERM_IS_VERIFIED},
            };
            for (size_t i = 0; i < ARRAY_LEN(is_ops); i++)
                if (strlen(is_ops[i].v) == vl && memcmp(v, is_ops[i].v, vl) == 0)
                    t = term_new(p, is_ops[i].k, lx.off, lx.len);
            if (!t) {
                perr(p, lx.off, "unknown operator '%.*s' (is:retweet, is:reply, is:quote, is:verified)", (int)lx.len, w);
                return NULL;
            }
        } else {
            for (size_t i = 0; i < ARRAY_LEN(later_ops); i++)
                if (strcmp(opname, later_ops[i]) == 0) {
                    perr(p, lx.off, "operator '%s:' is not supported yet", opname);
                    return NULL;
                }
            /* Not an operator name (e.g. "10:30"): an ordinary keyword. */
            if (!(t = term_new(p, TERM_WORDS, lx.off, lx.len)) || term_words(p, t, lx.off, lx.len))
                return NULL;
        }
    } else {
        if (!(t = term_new(p, TERM_WORDS, lx.off, lx.len)) || term_words(p, t, lx.off, lx.len))
            return NULL;
    }
    n = node_new(Q_TERM);
    n->term = p->q->nterms - 1;
    lex_next(p);
    return n;
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
        p->q->terms[kid->term].negated = 1;
        n = node_new(Q_NOT);
        node_add(n, kid);
        return n;
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
    if (p->cur.type == L_WORD || p->cur.type == L_PHRASE)
        return parse_term(p);
    if (p->cur.type == L_RPAREN)
        perr(p, off, "unbalanced parenthesis: ')' without '('");
    else if (p->cur.type == L_OR)
        perr(p, off, "OR needs a term on each side");
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
    n = node_new(Q_AND);
    node_add(n, first);
    while (p->cur.type != L_END && p->cur.type != L_OR && p->cur.type != L_RPAREN) {
        if (!(kid = parse_unary(p))) {
            node_free(n);
            return NULL;
        }
        node_add(n, kid);
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

static struct qnode *parse_or(struct parser *p)
{
    struct qnode *first = parse_and(p), *n, *kid;
    size_t or_off;

    if (!first)
        return NULL;
    if (p->cur.type != L_OR)
        return first;
    n = node_new(Q_OR);
    node_add(n, first);
    while (p->cur.type == L_OR) {
        or_off = p->cur.off;
        lex_next(p);
        if (p->cur.type == L_END || p->cur.type == L_RPAREN || p->cur.type == L_OR) {
            perr(p, or_off, "OR needs a term on each side");
            node_free(n);
            return NULL;
        }
        if (!(kid = parse_and(p))) {
            node_free(n);
            return NULL;
        }
        node_add(n, kid);
    }
    for (int i = 0; i < n->nkids; i++)
        if (!node_positive(p->q, n->kids[i])) {
            perr(p, p->cur.off, "each side of OR needs a positive term "
                 "(a negated term or lang:/is: cannot stand alone)");
            node_free(n);
            return NULL;
        }
    return n;
}

int qterm_standalone(const struct qterm *t)
{
    return !t->negated && (t->kind == TERM_WORDS || t->kind == TERM_ENTITY || t->kind == TERM_FROM);
}

static int char_column(const char *s, size_t off)
{
    int col = 1;
    for (size_t i = 0; i < off && s[i]; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80)
            col++;
    return col;
}

int query_parse(const char *s, int fold_accents, struct query **out, char *err, size_t errlen, int *col)
{
    struct parser p = {.s = s, .fold = fold_accents, .err = err, .errlen = errlen};
    size_t len = strlen(s);

    *out = NULL;
    *col = 1;
    if (len > QUERY_MAX_LEN) {
        snprintf(err, errlen, "query longer than %d bytes", QUERY_MAX_LEN);
        return -1;
    }
    p.q = xcalloc(1, sizeof *p.q);
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
             "(negated terms and lang:/is: cannot stand alone)");
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
    for (int i = 0; i < q->nterms; i++) {
        free(q->terms[i].raw);
        free(q->terms[i].value);
        for (int j = 0; j < q->terms[i].ntoks; j++)
            free(q->terms[i].toks[j]);
        free(q->terms[i].toks);
    }
    free(q->terms);
    free(q);
}
