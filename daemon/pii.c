/* pii: card, IBAN and account-number masking; see pii.h. */
#include "pii.h"

#include <ctype.h>
#include <string.h>

const char *const pii_kind_names[PII_COUNT] = {"card_number", "iban", "account_number"};

#define IS_DIGIT(c) ((c) >= '0' && (c) <= '9')
#define IS_ALPHA(c) (((c) >= 'A' && (c) <= 'Z') || ((c) >= 'a' && (c) <= 'z'))
#define IS_ALNUM(c) (IS_DIGIT(c) || IS_ALPHA(c))

int pii_luhn_ok(const char *d, size_t n)
{
    int sum = 0, dbl = 0;

    for (size_t i = n; i-- > 0;) {
        int v = d[i] - '0';
        if (dbl && (v *= 2) > 9)
            v -= 9;
        sum += v;
        dbl = !dbl;
    }
    return sum % 10 == 0;
}

int pii_iban_ok(const char *s, size_t n)
{
    unsigned rem = 0;

    if (n < 15 || n > 34 || !IS_ALPHA(s[0]) || !IS_ALPHA(s[1]) || !IS_DIGIT(s[2]) || !IS_DIGIT(s[3]))
        return 0;
    /* Move the first four characters to the end; letters count as 10..35. */
    for (size_t k = 0; k < n; k++) {
        char c = s[(k + 4) % n];
        if (IS_DIGIT(c)) {
            rem = (rem * 10 + (unsigned)(c - '0')) % 97;
        } else if (IS_ALPHA(c)) {
            unsigned v = (unsigned)(toupper((unsigned char)c) - 'A' + 10);
            rem = (rem * 100 + v) % 97;
        } else {
            return 0;
        }
    }
    return rem == 1;
}

/* Not glued to a letter or digit on either side (UTF-8 letters count as
 * glue too, by their lead byte). */
static int boundary_before(const char *t, size_t i)
{
    return i == 0 || !(IS_ALNUM(t[i - 1]) || ((unsigned char)t[i - 1] & 0x80));
}

static int boundary_after(const char *t, size_t len, size_t i)
{
    return i >= len || !(IS_ALNUM(t[i]) || ((unsigned char)t[i] & 0x80));
}

/* Digits with single ' ' or '-' between them, starting at i.  Fills the
 * positions of the digits; returns how many, and *end. */
static int digit_run(const char *t, size_t len, size_t i, size_t *pos, int max, size_t *end)
{
    int n = 0;

    while (i < len && IS_DIGIT(t[i]) && n < max) {
        pos[n++] = i++;
        if (i + 1 < len && (t[i] == ' ' || t[i] == '-') && IS_DIGIT(t[i + 1]))
            i++;
    }
    *end = i;
    return n;
}

static int card_prefix_ok(const char *t, const size_t *pos)
{
    char c = t[pos[0]];
    return c >= '2' && c <= '6';
}

/* Try a card number at i: the longest run of 13-19 digits that passes Luhn. */
static size_t try_card(const char *t, size_t len, size_t i, char *m)
{
    size_t pos[20], end;
    char digits[20];
    int n = digit_run(t, len, i, pos, 20, &end);

    if (n < 13 || n > 19 || !boundary_after(t, len, end) || !card_prefix_ok(t, pos))
        return 0;
    for (int k = 0; k < n; k++)
        digits[k] = t[pos[k]];
    if (!pii_luhn_ok(digits, (size_t)n))
        return 0;
    for (int k = 4; k < n - 4; k++)
        m[pos[k]] = '*';
    return end - i;
}

static size_t try_iban(const char *t, size_t len, size_t i, char *m)
{
    size_t pos[34], j = i;
    char chars[34];
    int n = 0;

    if (!(IS_ALPHA(t[i]) && i + 1 < len && IS_ALPHA(t[i + 1])))
        return 0;
    while (j < len && IS_ALNUM(t[j]) && n < 34) {
        chars[n] = t[j];
        pos[n++] = j++;
        if (j + 1 < len && t[j] == ' ' && IS_ALNUM(t[j + 1]) && n >= 4)
            j++;
    }
    /* A trailing word glued by a space is not part of the IBAN: back off to
     * the longest prefix that validates. */
    for (int k = n; k >= 15; k--) {
        size_t e = pos[k - 1] + 1;
        if (boundary_after(t, len, e) && pii_iban_ok(chars, (size_t)k)) {
            for (int x = 4; x < k - 4; x++)
                m[pos[x]] = '*';
            return e - i;
        }
    }
    return 0;
}

static size_t try_shape(const char *t, size_t len, size_t i, const char *shape, char *m)
{
    size_t j = i, k;
    size_t pos[64];
    int nd = 0;

    for (k = 0; shape[k]; k++, j++) {
        if (j >= len)
            return 0;
        if (shape[k] == 'd') {
            if (!IS_DIGIT(t[j]))
                return 0;
            if (nd < 64)
                pos[nd++] = j;
        } else if (shape[k] == 'a') {
            if (!IS_ALPHA(t[j]))
                return 0;
        } else if (t[j] != shape[k]) {
            return 0;
        }
    }
    if (!boundary_after(t, len, j))
        return 0;
    for (int x = 0; x < nd - 4; x++)
        m[pos[x]] = '*';
    return j - i;
}

const char *pii_shape_check(const char *s)
{
    size_t len = strlen(s);
    int digits = 0;

    if (len < 6 || len > 40)
        return "an account pattern is 6 to 40 characters";
    for (; *s; s++)
        digits += *s == 'd';
    return digits >= 6 ? NULL : "an account pattern needs at least 6 digits ('d')";
}

int pii_mask(const char *t, size_t len, const struct pii_patterns *pat, struct buf *out)
{
    int found = 0;
    size_t i = 0, n;

    buf_reset(out);
    if (buf_append(out, t, len) != BUF_OK)
        return -1;
    while (i < len) {
        if (!boundary_before(t, i) || !IS_ALNUM(t[i])) {
            i++;
            continue;
        }
        n = 0;
        if (IS_DIGIT(t[i])) {
            for (int p = 0; p < (pat ? pat->n : 0) && !n; p++)
                if ((n = try_shape(t, len, i, pat->shape[p], out->data)))
                    found |= 1 << PII_ACCOUNT;
            if (!n && (n = try_card(t, len, i, out->data)))
                found |= 1 << PII_CARD;
        } else if ((n = try_iban(t, len, i, out->data))) {
            found |= 1 << PII_IBAN;
        }
        if (!n) {                       /* skip the rest of this word */
            while (i < len && IS_ALNUM(t[i]))
                i++;
            continue;
        }
        i += n;
    }
    return found;
}
