/* query: the rule query language (PowerTrack / X filtered-stream syntax plus
 * the listening-tool extensions of README "Writing rules").
 *
 * Parses one query into an AST of AND/OR/NOT nodes over terms, enforcing X's
 * composition rules: upper-case OR only ("or" and "AND" are keywords), AND
 * (juxtaposition) binds tighter than OR, '-' negates a single term (never a
 * parenthesised group), conjunction-required operators (lang:, is:, has:,
 * min_followers:, followers_count:, sample:) and negated terms cannot stand
 * alone, every side of an OR needs a positive term, and sample: cannot be
 * negated.  Keyword-like terms are folded with text.c, exactly as posts are.
 * Operators X has and we do not (place:, context:, ...) are rejected by name,
 * never silently read as keywords.
 *
 * Owner: query_parse() returns a query that the caller frees.
 */
#ifndef MENTIOND_QUERY_H
#define MENTIOND_QUERY_H

#include <stddef.h>

#define QUERY_MAX_LEN 4096
#define QUERY_MAX_TERMS 256             /* written terms */
#define QUERY_MAX_LIST_TERMS 100000     /* terms a rule may pull in through list: */
#define QUERY_MAX_DEPTH 32
#define QUERY_MAX_PROXIMITY 6           /* "a b"~N, X's limit */
#define QUERY_MAX_NEAR 100              /* NEAR/N, ONEAR/N */

enum term_kind {
    /* standalone: can make a rule match on their own */
    TERM_WORDS,                 /* keyword or "phrase": toks */
    TERM_PROX,                  /* "a b"~N: toks, n (unordered, within N tokens) */
    TERM_NEAR,                  /* A NEAR/N B, A ONEAR/N B: toks, toks2, n, ordered */
    TERM_PREFIX,                /* word*: value = folded prefix */
    TERM_ENTITY,                /* #tag, @handle, $CASH: value folded, sigil kept */
    TERM_CONTAINS,              /* contains:"...": value = folded substring */
    TERM_RAW,                   /* raw:"...": value = exact, case-sensitive substring */
    TERM_FROM, TERM_TO, TERM_RETWEETS_OF,      /* value = lower-case handle */
    TERM_BIO,                   /* bio:"...": toks, matched in the author's bio */
    TERM_URL,                   /* url:"...": toks, matched in the post's URLs */
    TERM_CONVERSATION,          /* conversation_id:ID: value */
    /* conjunction-required */
    TERM_LANG,                  /* value */
    TERM_IS_RETWEET, TERM_IS_REPLY, TERM_IS_QUOTE, TERM_IS_VERIFIED,
    TERM_HAS_LINKS, TERM_HAS_MENTIONS, TERM_HAS_HASHTAGS, TERM_HAS_MEDIA,
    TERM_FOLLOWERS,             /* min_followers:N, followers_count:A..B: lo, hi */
    TERM_SAMPLE,                /* sample:N: n percent, by post id */
};

struct qterm {
    enum term_kind kind;
    char *raw;                  /* as written (for matches[].terms) */
    char *value;                /* folded canonical form; identifies the term */
    char **toks;                /* folded tokens (WORDS, PROX, NEAR, BIO, URL) */
    int ntoks;
    char **toks2;               /* NEAR: the second operand */
    int ntoks2;
    int n;                      /* PROX/NEAR distance, SAMPLE percent */
    int ordered;                /* ONEAR */
    long long lo, hi;           /* FOLLOWERS */
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

/* Term lists (list:NAME) come from the caller: entries are term texts
 * (keyword, "phrase", #tag, prefix*, ...), valid until the caller frees them. */
struct query_env {
    int fold;                   /* default accent folding */
    /* Returns 0 and the entries, or -1 with err. */
    int (*list)(void *ctx, const char *name, const char *const **entries, int *n,
                char *err, size_t errlen);
    void *ctx;
};

/* Parse s.  On error returns -1, err says why and *col is the 1-based
 * character column where the problem is. */
int query_parse(const char *s, const struct query_env *env, struct query **out, char *err,
                size_t errlen, int *col);
void query_free(struct query *q);
/* 1 if the term can make a rule match on its own. */
int qterm_standalone(const struct qterm *t);
int term_kind_standalone(enum term_kind k);

#endif
