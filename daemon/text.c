/* text: normalisation and tokenisation; see text.h. */
#include "text.h"
#include "util.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

void tokens_init(struct tokens *t)
{
    memset(t, 0, sizeof *t);
    buf_init(&t->folded, TEXT_MAX_FOLDED);
}

void tokens_free(struct tokens *t)
{
    buf_free(&t->folded);
    free(t->w);
    free(t->e);
    t->w = t->e = NULL;
    t->nw = t->aw = t->ne = t->ae = 0;
}

static int tok_push(struct tok **v, int *n, int *alloc, size_t off, size_t len)
{
    if (*n == *alloc) {
        int na = *alloc ? *alloc * 2 : 64;
        struct tok *grown = xrealloc_try(*v, sizeof **v * (size_t)na);
        if (!grown)
            return -1;
        *v = grown;
        *alloc = na;
    }
    (*v)[*n].off = (uint32_t)off;
    (*v)[*n].len = (uint32_t)len;
    (*n)++;
    return 0;
}

enum cpclass { CP_DELIM, CP_WORD, CP_SINGLE };

static int is_cjk(utf8proc_int32_t c)
{
    return (c >= 0x3040 && c <= 0x30FF) ||      /* hiragana, katakana */
           (c >= 0x3400 && c <= 0x4DBF) ||      /* CJK ext A */
           (c >= 0x4E00 && c <= 0x9FFF) ||      /* CJK unified */
           (c >= 0xF900 && c <= 0xFAFF) ||      /* compatibility */
           (c >= 0x20000 && c <= 0x3FFFF);      /* ext B.. */
}

/* ASCII letters and digits: the only ASCII word characters. */
static const unsigned char ascii_word[128] = {
    ['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1,
    ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1,
    ['u'] = 1, ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1, ['I'] = 1, ['J'] = 1,
    ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1,
    ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1, ['Y'] = 1, ['Z'] = 1,
};

static enum cpclass cp_class(utf8proc_int32_t c)
{
    if (c < 0x80)
        return ascii_word[c] ? CP_WORD : CP_DELIM;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU: case UTF8PROC_CATEGORY_LL: case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM: case UTF8PROC_CATEGORY_LO:
        return is_cjk(c) ? CP_SINGLE : CP_WORD;
    case UTF8PROC_CATEGORY_MN: case UTF8PROC_CATEGORY_MC: case UTF8PROC_CATEGORY_ME:
    case UTF8PROC_CATEGORY_ND: case UTF8PROC_CATEGORY_NL: case UTF8PROC_CATEGORY_NO:
        return CP_WORD;
    case UTF8PROC_CATEGORY_SO:
        return CP_SINGLE;
    default:
        return CP_DELIM;
    }
}

static int fold_ascii(struct buf *b, const char *s, size_t n)
{
    size_t at = b->len;
    int rc = buf_append(b, s, n);

    if (rc != BUF_OK)
        return rc == BUF_NOMEM ? TEXT_NOMEM : -1;
    for (size_t i = at; i < b->len; i++)
        if (b->data[i] >= 'A' && b->data[i] <= 'Z')
            b->data[i] = (char)(b->data[i] + 32);
    return 0;
}

static int fold_unicode(struct buf *b, const char *s, size_t n, int fold_accents)
{
    utf8proc_uint8_t *out = NULL;
    utf8proc_ssize_t m;
    int rc;

    m = utf8proc_map((const utf8proc_uint8_t *)s, (utf8proc_ssize_t)n, &out,
                     UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT |
                     UTF8PROC_CASEFOLD | UTF8PROC_IGNORE |
                     (fold_accents ? UTF8PROC_STRIPMARK : 0));
    if (m < 0)
        return m == UTF8PROC_ERROR_NOMEM ? TEXT_NOMEM : -1;
    rc = buf_append(b, out, (size_t)m);
    free(out);
    return rc == BUF_OK ? 0 : rc == BUF_NOMEM ? TEXT_NOMEM : -1;
}

/* Fold s into t->folded: NFKC, case folded, default-ignorables dropped.
 * ASCII is already NFKC and only needs lower-casing, so only the stretches
 * around non-ASCII characters go through utf8proc (most of the cost of a
 * post once it was all of a post with one emoji).  Each such stretch starts
 * one character early: an ASCII letter may compose with a combining mark
 * after it ("e" U+0301 is "é"), while nothing composes with an ASCII
 * character after it, and ASCII bytes never occur inside a UTF-8 sequence. */
static int text_fold(struct tokens *t, const char *s, size_t n, int fold_accents)
{
    size_t i = 0, j, k;
    int rc;

    buf_reset(&t->folded);
    while (i < n) {
        for (j = i; j < n && !((unsigned char)s[j] & 0x80); j++)
            ;
        if (j == n)
            return fold_ascii(&t->folded, s + i, n - i);
        if (j > i) {
            if ((rc = fold_ascii(&t->folded, s + i, j - 1 - i)))
                return rc;
            i = j - 1;
        }
        /* non-ASCII, and ASCII followed by non-ASCII, up to plain ASCII */
        for (k = j; k < n && (((unsigned char)s[k] & 0x80) || (k + 1 < n && ((unsigned char)s[k + 1] & 0x80))); k++)
            ;
        if ((rc = fold_unicode(&t->folded, s + i, k - i, fold_accents)))
            return rc;
        i = k;
    }
    if (!t->folded.data && (rc = buf_append(&t->folded, "", 0)) != BUF_OK)
        return rc == BUF_NOMEM ? TEXT_NOMEM : -1;
    return 0;
}

/* Hashtags and handles run over letters, marks, digits and '_', CJK
 * included (#アジアンポップ), but not emoji. */
static int is_entity_char(utf8proc_int32_t c)
{
    return c == '_' || cp_class(c) == CP_WORD || is_cjk(c);
}

int text_tokenize(struct tokens *t, const char *s, size_t n, int fold_accents)
{
    const utf8proc_uint8_t *p;
    utf8proc_ssize_t len, pos = 0, start = -1, k;
    utf8proc_int32_t c, prev = ' ';

    int rc;

    t->nw = t->ne = 0;
    if ((rc = text_fold(t, s, n, fold_accents)))
        return rc;
    p = (const utf8proc_uint8_t *)t->folded.data;
    len = (utf8proc_ssize_t)t->folded.len;
    while (pos < len) {
        enum cpclass cl;
        if (p[pos] < 0x80 && ascii_word[p[pos]]) {
            /* A run of ASCII letters and digits, most of most posts: no
             * class lookup per character, no entity check (no sigils). */
            if (start < 0)
                start = pos;
            while (++pos < len && p[pos] < 0x80 && ascii_word[p[pos]])
                ;
            prev = p[pos - 1];
            continue;
        }
        if (p[pos] < 0x80) {
            c = p[pos];
            k = 1;
            cl = CP_DELIM;
        } else if ((k = utf8proc_iterate(p + pos, len - pos, &c)) < 0) {
            return -1;
        } else {
            cl = cp_class(c);
        }
        if (cl != CP_WORD && start >= 0) {
            if (tok_push(&t->w, &t->nw, &t->aw, (size_t)start, (size_t)(pos - start)))
                return TEXT_NOMEM;
            start = -1;
        }
        if (cl == CP_SINGLE) {
            if (tok_push(&t->w, &t->nw, &t->aw, (size_t)pos, (size_t)k))
                return TEXT_NOMEM;
        } else if (cl == CP_WORD && start < 0)
            start = pos;
        /* Entity: sigil at a word start followed by entity characters. */
        if ((c == '#' || c == '@' || c == '$') && !is_entity_char(prev)) {
            utf8proc_ssize_t q = pos + k, kk;
            utf8proc_int32_t d;
            int first = 1, ok = 1;
            while (q < len && (kk = utf8proc_iterate(p + q, len - q, &d)) > 0 && is_entity_char(d)) {
                if (first && c == '$' && !((d >= 'a' && d <= 'z')))
                    ok = 0;
                first = 0;
                q += kk;
            }
            if (ok && q > pos + k && tok_push(&t->e, &t->ne, &t->ae, (size_t)pos, (size_t)(q - pos)))
                return TEXT_NOMEM;
        }
        prev = c;
        pos += k;
    }
    if (start >= 0 && tok_push(&t->w, &t->nw, &t->aw, (size_t)start, (size_t)(pos - start)))
        return TEXT_NOMEM;
    return 0;
}
