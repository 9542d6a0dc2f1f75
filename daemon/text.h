/* text: the normaliser, the one module that talks to utf8proc.
 *
 * Both rules and posts go through text_tokenize(), so a term and a post are
 * always folded the same way: NFKC + Unicode case folding + removal of
 * default-ignorable code points (utf8proc_NFKC_Casefold), with combining
 * marks stripped only when accent folding is asked for.  The folded text is
 * split into word tokens on Unicode punctuation, symbol, separator and
 * control characters (X's rule), except that each symbol of category So
 * (emoji) and each CJK ideograph or kana is a token of its own.  Entities
 * (#hashtag, @mention, $cashtag) are listed separately, sigil included.
 *
 * Owner: the caller embeds struct tokens and calls tokens_free().
 */
#ifndef MENTIOND_TEXT_H
#define MENTIOND_TEXT_H

#include "buf.h"

#include <stddef.h>
#include <stdint.h>

struct tok {
    uint32_t off;               /* into tokens.folded */
    uint32_t len;
};

struct tokens {
    struct buf folded;
    struct tok *w;              /* word tokens, in order */
    int nw, aw;
    struct tok *e;              /* entities, sigil included */
    int ne, ae;
};

#define TEXT_MAX_FOLDED (4u * 1024u * 1024u)

void tokens_init(struct tokens *t);
void tokens_free(struct tokens *t);
#define TEXT_NOMEM (-2)

/* Returns 0, -1 if s is not valid UTF-8 or is too large, or TEXT_NOMEM. */
int text_tokenize(struct tokens *t, const char *s, size_t n, int fold_accents);

static inline const char *tok_ptr(const struct tokens *t, const struct tok *k)
{
    return t->folded.data + k->off;
}

#endif
