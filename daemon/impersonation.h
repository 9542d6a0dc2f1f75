/* impersonation: what tells an account that poses as the brand's support.
 *
 * Pure functions, unit-tested and fuzzed; the pipeline keeps who wrote to
 * an own handle and raises the alerts (README "Impersonation").
 *
 * Similarity works on skeletons: a handle or display name folded as rules
 * and posts are (NFKC, case, accents: text.c), then every character that
 * looks like a letter mapped to that letter (one table: Cyrillic and Greek
 * homoglyphs, dotless i, digits and symbols used for letters, 1/l/i/I all
 * one), separators and punctuation dropped, "rn" read as "m" and "vv" as
 * "w".  The core is the skeleton without the words support accounts add at
 * either end (help, support, care, desk, official, team, service...).  A
 * candidate looks like an own handle when it is not that handle and
 *   - its skeleton equals the own one's, or is one edit from it (two past
 *     eight characters): NordvikHe1p, Nordv1k_Help, NordvikHelpp;
 *   - or its core equals the own handle's core (at least four characters)
 *     with affixes of its own: NordvikSupport, Nordvik_Help_Desk,
 *     TheNordvikTeam; or is one edit from it past five: NordvickSupport.
 * A customer called Nordvik_Anna or a NordvikFans account is neither.
 */
#ifndef MENTIOND_IMPERSONATION_H
#define MENTIOND_IMPERSONATION_H

#include <stddef.h>
#include <stdint.h>

struct tokens;

#define IMP_SKELETON_MAX 64

/* The skeleton of s into out (NUL-terminated, at most outlen - 1 bytes);
 * its length, 0 if nothing is left.  tk: scratch for the folding. */
size_t imp_skeleton(struct tokens *tk, const char *s, char *out, size_t outlen);
/* The core of a skeleton (affixes removed from both ends, repeatedly),
 * into out; its length. */
size_t imp_core(const char *skel, char *out, size_t outlen);
/* A handle or name ready to compare: its skeleton and its core, made once
 * (the pipeline keeps the own handles' for the configuration's life). */
struct imp_form {
    char skel[IMP_SKELETON_MAX], core[IMP_SKELETON_MAX];
    size_t ls, lc;
};
void imp_form(struct tokens *tk, const char *s, struct imp_form *f);
/* 1 when cand looks like own by the rules above (the caller has ruled out
 * that cand is own itself). */
int imp_alike(const struct imp_form *own, const struct imp_form *cand);
/* Both steps: 1 when cand (a handle, or a display name when is_name)
 * looks like the own handle own without being it (a handle equal but for
 * case is it). */
int imp_lookalike(struct tokens *tk, const char *own, const char *cand, int is_name);

/* What a post asks of the reader, by its words (folded, in English and
 * Swedish: one cue table) and its numbers and links. */
enum imp_ask { IMP_ASK_PHONE = 1, IMP_ASK_LINK = 2, IMP_ASK_DM = 4, IMP_ASK_CARD = 8 };

#define IMP_EVIDENCE 4
struct imp_evidence {
    char phones[IMP_EVIDENCE][40];      /* as written */
    int nphones;
    char links[IMP_EVIDENCE][256];      /* expanded URLs, else as written */
    int nlinks;
};

/* The imp_ask bits of text (urls: the post's expanded links), with the
 * phone numbers and links found copied into ev. */
unsigned imp_asks(struct tokens *tk, const char *text, const char *const *urls, int nurls, struct imp_evidence *ev);

/* The reasons an impersonation alert gives, by kind (the metric's label;
 * a lookalike reason adds ":OWN~AS_WRITTEN"). */
enum imp_reason { IMP_R_LOOKALIKE, IMP_R_LOOKALIKE_NAME, IMP_R_NEW_ACCOUNT, IMP_R_PHONE, IMP_R_LINK, IMP_R_DM,
                  IMP_R_CARD, IMP_R_NO_VICTIM, IMP_R_COUNT };
extern const char *const imp_reason_names[IMP_R_COUNT];

/* Days since an account's creation date ("2015-12-25T18:50:44.000Z", or
 * X v1.1's "Wed Aug 27 13:08:45 +0000 2008"); -1 if absent or unreadable. */
long long imp_account_age_days(const char *created_at, uint64_t now_ms);

#endif
