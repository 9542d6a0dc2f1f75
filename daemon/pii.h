/* pii: finding and masking card and account numbers in post text.
 *
 * Customers post card numbers in public.  Before an alert is built, the
 * text is scanned for:
 *   card     13-19 digits, single spaces or dashes allowed between digits,
 *            a card-network prefix (2, 3, 4, 5, 6) and a valid Luhn check
 *   iban     two letters, two check digits, 11-30 more letters or digits
 *            (spaces allowed), valid mod-97 (ISO 13616)
 *   account  shapes configured per deployment ([priority] account_pattern,
 *            'd' a digit, 'a' a letter, anything else literal), e.g. the
 *            Swedish "dddd-ddddddd"
 * at token boundaries (not inside a longer run of digits or letters).  A
 * match is masked in place with '*', separators kept: cards keep their
 * first four and last four digits, IBANs their first four and last four
 * characters, accounts their last four digits; never more.
 */
#ifndef MENTIOND_PII_H
#define MENTIOND_PII_H

#include "buf.h"

#include <stddef.h>

enum pii_kind { PII_CARD, PII_IBAN, PII_ACCOUNT, PII_COUNT };
extern const char *const pii_kind_names[PII_COUNT];

#define PII_MAX_PATTERNS 16

struct pii_patterns {
    char *shape[PII_MAX_PATTERNS];
    int n;
};

/* Validate a shape ('d', 'a', literals; 6 to 40 characters, at least 6 'd').
 * Returns NULL or why not. */
const char *pii_shape_check(const char *shape);

/* Mask text into out (text unchanged when nothing is found).  Returns a
 * bit mask of the kinds found (1 << PII_CARD ...), or -1 if out is full. */
int pii_mask(const char *text, size_t len, const struct pii_patterns *pat, struct buf *out);

int pii_luhn_ok(const char *digits, size_t n);
int pii_iban_ok(const char *iban, size_t n);          /* letters/digits only */

#endif
