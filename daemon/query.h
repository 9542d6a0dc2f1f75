/* query: the rule query language (PowerTrack / X filtered-stream syntax).
 *
 * Parses one query into an AST of AND/OR/NOT nodes over terms, enforcing X's
 * composition rules: upper-case OR only ("or" and "AND" are keywords), AND
 * (juxtaposition) binds tighter than OR, '-' negates a single term (never a
 * group), a negated or conjunction-required term (lang:, is:) cannot stand
 * alone, and every side of an OR needs a positive term.  Terms are folded
 * with text.c, exactly as posts are.
 *
 * Supported now: keywords, "exact phrases", #hashtags, @mentions, $cashtags,
 * from:, lang:, is:retweet, is:reply, is:quote, is:verified.  Other X
 * operators are rejected by name, never silently read as keywords.
 * Owner: query_parse() returns a query that the caller frees.
 */
#ifndef MENTIOND_QUERY_H
#define MENTIOND_QUERY_H

#include <stddef.h>

#define QUERY_MAX_LEN 4096
#define QUERY_MAX_TERMS 256
#define QUERY_MAX_DEPTH 32

enum term_kind {
    TERM_WORDS,                 /* keyword or phrase: a token sequence */
    TERM_ENTITY,                /* #tag, @handle, $CASH: folded, sigil kept */
    TERM_FROM,                  /* from:handle */
    TERM_LANG,                  /* lang:xx */
    TERM_IS_RETWEET, TERM_IS_REPLY, TERM_IS_QUOTE, TERM_IS_VERIFIED,
};

struct qterm {
    enum term_kind kind;
    char *raw;                  /* as written (for matches[].terms) */
    char *value;                /* folded: tokens joined by ' ', or entity/handle/lang */
    char **toks;                /* TERM_WORDS: folded tokens */
    int ntoks;
    int fold;                   /* accents folded on both sides */
    int negated;
};

enum qtype { Q_TERM, Q_AND, Q_OR, Q_NOT };

struct qnode {
    enum qtype type;
    int term;                   /* Q_TERM: index into query.terms */
    int nkids;
    struct qnode **kids;
};

struct query {
    struct qnode *root;
    struct qterm *terms;
    int nterms;
};

/* Parse s.  On error returns -1, err says why and *col is the 1-based
 * character column where the problem is. */
int query_parse(const char *s, int fold_accents, struct query **out, char *err, size_t errlen, int *col);
void query_free(struct query *q);
/* 1 if the term can make a rule match on its own (not lang:/is:). */
int qterm_standalone(const struct qterm *t);

#endif
