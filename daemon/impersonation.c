/* impersonation: look-alike accounts and what a post asks for; see
 * impersonation.h. */
#include "impersonation.h"
#include "text.h"
#include "util.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

const char *const imp_reason_names[IMP_R_COUNT] = {
    [IMP_R_LOOKALIKE] = "lookalike", [IMP_R_LOOKALIKE_NAME] = "lookalike_name", [IMP_R_NEW_ACCOUNT] = "new_account",
    [IMP_R_PHONE] = "phone_number", [IMP_R_LINK] = "link", [IMP_R_DM] = "asks_for_dm",
    [IMP_R_CARD] = "asks_for_card", [IMP_R_NO_VICTIM] = "no_victim_seen",
};

/* Every character that passes for a letter, after NFKC and case folding
 * (so fullwidth and mathematical letters are ASCII already and capitals
 * are small): the letter it passes for.  1, l, i, I (folded to i), |, !,
 * dotless i and their Cyrillic and Greek cousins are all 'l'. */
static const struct {
    uint32_t cp;
    char to;
} homoglyphs[] = {
    {'0', 'o'}, {'1', 'l'}, {'3', 'e'}, {'4', 'a'}, {'5', 's'}, {'7', 't'}, {'8', 'b'}, {'9', 'g'},
    {'$', 's'}, {'@', 'a'}, {'|', 'l'}, {'!', 'l'}, {'i', 'l'},
    /* Cyrillic */
    {0x0430, 'a'}, {0x0432, 'b'}, {0x0435, 'e'}, {0x0451, 'e'}, {0x043a, 'k'}, {0x043c, 'm'}, {0x043d, 'h'},
    {0x043e, 'o'}, {0x0440, 'p'}, {0x0441, 'c'}, {0x0442, 't'}, {0x0443, 'y'}, {0x0445, 'x'}, {0x0455, 's'},
    {0x0456, 'l'}, {0x0457, 'l'}, {0x0458, 'j'}, {0x04bb, 'h'}, {0x04cf, 'l'}, {0x0501, 'd'}, {0x051b, 'q'},
    {0x051d, 'w'}, {0x0261, 'g'},
    /* Greek */
    {0x03b1, 'a'}, {0x03b2, 'b'}, {0x03b5, 'e'}, {0x03b7, 'n'}, {0x03b9, 'l'}, {0x03ba, 'k'}, {0x03bd, 'v'},
    {0x03bf, 'o'}, {0x03c1, 'p'}, {0x03c4, 't'}, {0x03c5, 'u'}, {0x03c7, 'x'}, {0x03c9, 'w'}, {0x03f2, 'c'},
    /* Latin look-alikes that NFKC keeps */
    {0x0131, 'l'}, {0x0269, 'l'}, {0x026a, 'l'}, {0x01c0, 'l'}, {0x0142, 'l'}, {0x0111, 'd'}, {0x00f8, 'o'},
    {0x00f0, 'd'}, {0x0127, 'h'}, {0x0167, 't'}, {0x1d00, 'a'}, {0x1d04, 'c'}, {0x1d05, 'd'}, {0x1d07, 'e'},
    {0x1d0b, 'k'}, {0x1d0d, 'm'}, {0x1d0f, 'o'}, {0x1d18, 'p'}, {0x1d1b, 't'}, {0x1d1c, 'u'}, {0x1d20, 'v'},
    {0x1d21, 'w'}, {0x1d22, 'z'}, {0x0299, 'b'}, {0x0262, 'g'}, {0x029c, 'h'}, {0x029f, 'l'}, {0x0274, 'n'},
    {0x0280, 'r'}, {0x028f, 'y'},
};

/* The words support accounts put around a brand's name (skeleton form,
 * so "i" is written "l"), longest first where one ends another. */
static const char *const affixes[] = {
    "customerservlce", "customercare", "customersupport", "helpdesk", "servlcedesk", "servlces", "servlce",
    "support", "offlclal", "asslstance", "asslst", "kundtjanst", "kundservlce", "kundsupport",
    "contact", "kontakt", "help", "hjalp", "care", "desk", "team", "lnfo", "admln", "bank", "hq", "cs",
    "the", "real", "247", "24", "se", "uk", "us", "global", "app",
};

static uint32_t utf8_next(const unsigned char **p, const unsigned char *end)
{
    const unsigned char *s = *p;
    uint32_t c = s[0];
    int n = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 1;

    if (n == 1 || s + n > end) {
        *p = s + 1;
        return c;
    }
    c &= 0x3f >> (n - 1);
    for (int i = 1; i < n; i++)
        c = (c << 6) | (s[i] & 0x3f);
    *p = s + n;
    return c;
}

static char glyph_letter(uint32_t cp)
{
    for (size_t i = 0; i < sizeof homoglyphs / sizeof homoglyphs[0]; i++)
        if (homoglyphs[i].cp == cp)
            return homoglyphs[i].to;
    return 0;
}

/* Punctuation, symbols, emoji and their modifiers: no part of a name to
 * compare (text.c's classes would need utf8proc, which only text.c uses;
 * these blocks are what handles and names carry). */
static int is_symbol(uint32_t cp)
{
    return (cp >= 0x2000 && cp <= 0x2bff) || (cp >= 0x3000 && cp <= 0x303f) || (cp >= 0xfe00 && cp <= 0xfe0f) ||
           cp == 0xfffd || cp == 0xa0 || (cp >= 0x1f000 && cp <= 0x1faff) || cp >= 0xe0000;
}

/* "rn" reads as "m" and "vv" as "w", in place. */
static size_t merge_pairs(char *s, size_t n)
{
    size_t w = 0;

    for (size_t r = 0; r < n; r++) {
        if (r + 1 < n && s[r] == 'r' && s[r + 1] == 'n') {
            s[w++] = 'm';
            r++;
        } else if (r + 1 < n && s[r] == 'v' && s[r + 1] == 'v') {
            s[w++] = 'w';
            r++;
        } else {
            s[w++] = s[r];
        }
    }
    s[w] = '\0';
    return w;
}

size_t imp_skeleton(struct tokens *tk, const char *s, char *out, size_t outlen)
{
    const unsigned char *p, *end;
    size_t n = 0;

    if (!outlen)
        return 0;
    out[0] = '\0';
    if (!s || text_tokenize(tk, s, strlen(s), 1) != 0)
        return 0;
    p = (const unsigned char *)tk->folded.data;
    end = p + tk->folded.len;
    while (p < end && n + 4 < outlen) {
        const unsigned char *at = p;
        uint32_t cp = utf8_next(&p, end);
        char c = glyph_letter(cp);
        if (c)
            out[n++] = c;
        else if (cp < 0x80 && isalnum((int)cp))
            out[n++] = (char)cp;
        else if (cp >= 0x80 && !is_symbol(cp)) {
            /* a letter of another script: kept as it is */
            memcpy(out + n, at, (size_t)(p - at));
            n += (size_t)(p - at);
        }
        /* separators, punctuation, marks: dropped */
    }
    out[n] = '\0';
    return merge_pairs(out, n);
}

size_t imp_core(const char *skel, char *out, size_t outlen)
{
    size_t n = strlen(skel), start = 0, cut = 1;

    while (cut) {
        cut = 0;
        for (size_t i = 0; i < sizeof affixes / sizeof affixes[0] && !cut; i++) {
            size_t a = strlen(affixes[i]);
            if (n - start <= a)
                continue;
            if (strncmp(skel + start, affixes[i], a) == 0) {
                start += a;
                cut = 1;
            } else if (strncmp(skel + n - a, affixes[i], a) == 0) {
                n -= a;
                cut = 1;
            }
        }
    }
    snprintf(out, outlen, "%.*s", (int)(n - start), skel + start);
    return strlen(out);
}

void imp_form(struct tokens *tk, const char *s, struct imp_form *f)
{
    f->ls = imp_skeleton(tk, s, f->skel, sizeof f->skel);
    f->lc = imp_core(f->skel, f->core, sizeof f->core);
}

int imp_alike(const struct imp_form *own, const struct imp_form *cand)
{
    size_t d;

    if (own->ls < 3 || cand->ls < 3)
        return 0;
    d = str_edit_distance(own->skel, own->ls, cand->skel, cand->ls);
    if (d <= (own->ls >= 8 ? 2u : 1u))
        return 1;
    if (cand->lc == cand->ls || own->lc < 4)
        return 0;                       /* the candidate has no affix: a name of its own */
    d = str_edit_distance(own->core, own->lc, cand->core, cand->lc);
    return d == 0 || (own->lc >= 5 && d <= 1);
}

int imp_lookalike(struct tokens *tk, const char *own, const char *cand, int is_name)
{
    struct imp_form o, c;

    if (!own || !cand || (!is_name && strcasecmp(own, cand) == 0))
        return 0;
    imp_form(tk, own, &o);
    imp_form(tk, cand, &c);
    return imp_alike(&o, &c);
}

/* ---- what a post asks for ---- */

/* Word sequences (folded with accents, as text.c folds posts) that ask the
 * reader to move to a private channel or to hand over card or login data. */
static const struct {
    const char *words;
    unsigned ask;
} cues[] = {
    {"dm", IMP_ASK_DM}, {"dms", IMP_ASK_DM}, {"dm us", IMP_ASK_DM}, {"direct message", IMP_ASK_DM},
    {"message us", IMP_ASK_DM}, {"send us a message", IMP_ASK_DM}, {"inbox", IMP_ASK_DM},
    {"whatsapp", IMP_ASK_DM}, {"telegram", IMP_ASK_DM}, {"private message", IMP_ASK_DM},
    {"call us", IMP_ASK_DM}, {"text us", IMP_ASK_DM}, {"reach us", IMP_ASK_DM}, {"contact us", IMP_ASK_DM},
    {"privat", IMP_ASK_DM}, {"privatmeddelande", IMP_ASK_DM}, {"direktmeddelande", IMP_ASK_DM},
    {"skriv till oss", IMP_ASK_DM}, {"ring oss", IMP_ASK_DM}, {"kontakta oss", IMP_ASK_DM},
    {"card number", IMP_ASK_CARD}, {"card details", IMP_ASK_CARD}, {"card info", IMP_ASK_CARD},
    {"cvv", IMP_ASK_CARD}, {"cvc", IMP_ASK_CARD}, {"pin", IMP_ASK_CARD}, {"pin code", IMP_ASK_CARD},
    {"security code", IMP_ASK_CARD}, {"expiry date", IMP_ASK_CARD}, {"account number", IMP_ASK_CARD},
    {"login details", IMP_ASK_CARD}, {"password", IMP_ASK_CARD}, {"one time code", IMP_ASK_CARD},
    {"otp", IMP_ASK_CARD}, {"verify your account", IMP_ASK_CARD}, {"bankid", IMP_ASK_CARD},
    {"kortnummer", IMP_ASK_CARD}, {"kortuppgifter", IMP_ASK_CARD}, {"kontonummer", IMP_ASK_CARD},
    {"pinkod", IMP_ASK_CARD}, {"sakerhetskod", IMP_ASK_CARD}, {"engangskod", IMP_ASK_CARD},
    {"losenord", IMP_ASK_CARD}, {"personnummer", IMP_ASK_CARD},
};

/* 1 when the words of cue start at token i. */
static int cue_at(const struct tokens *tk, int i, const char *words)
{
    const char *w = words;

    for (; *w; i++) {
        size_t n = strcspn(w, " ");
        const struct tok *k;
        if (i >= tk->nw)
            return 0;
        k = &tk->w[i];
        if (k->len != n || memcmp(tok_ptr(tk, k), w, n) != 0)
            return 0;
        w += n;
        w += *w == ' ';
    }
    return 1;
}

/* Phone numbers as people write them: starting with '+', '0' (a national
 * prefix), '(' or "1 " / "1-" (North America), then digits, blanks, '-',
 * '.', '(' and ')', holding 8 to 13 digits, standing alone (not inside a
 * longer word or number), and not a date (2026-12-07). */
static int phone_start(const char *p)
{
    return *p == '+' || *p == '0' || *p == '(' || (*p == '1' && (p[1] == ' ' || p[1] == '-'));
}

static int is_date(const char *s)
{
    return isdigit((unsigned char)s[0]) && isdigit((unsigned char)s[1]) && isdigit((unsigned char)s[2]) &&
           isdigit((unsigned char)s[3]) && s[4] == '-' && isdigit((unsigned char)s[5]) &&
           isdigit((unsigned char)s[6]) && s[7] == '-';
}

static void find_phones(const char *text, struct imp_evidence *ev, unsigned *ask)
{
    const char *p = text;

    while (*p) {
        const char *s = p, *last = NULL;
        int digits = 0;
        if (!phone_start(p) || (p > text && isalnum((unsigned char)p[-1])) || is_date(p)) {
            p++;
            continue;
        }
        /* two separators in a row end it, but for a bracket beside one */
        for (p = s + (*s == '+'); *p && (isdigit((unsigned char)*p) || strchr(" -.()", *p)); p++) {
            if (isdigit((unsigned char)*p)) {
                digits++;
                last = p;
            } else if (p > s && !isdigit((unsigned char)p[-1]) && !strchr("()", *p) && !strchr("()", p[-1])) {
                break;
            }
        }
        if (!last || isalnum((unsigned char)last[1]) || digits < 8 || digits > 13 ||
            (size_t)(last + 1 - s) >= sizeof ev->phones[0])
            continue;
        *ask |= IMP_ASK_PHONE;
        if (ev->nphones < IMP_EVIDENCE)
            snprintf(ev->phones[ev->nphones++], sizeof ev->phones[0], "%.*s", (int)(last + 1 - s), s);
        p = last + 1;
    }
}

static void add_link(struct imp_evidence *ev, const char *s, size_t n)
{
    for (int i = 0; i < ev->nlinks; i++)
        if (strlen(ev->links[i]) == n && strncmp(ev->links[i], s, n) == 0)
            return;
    if (ev->nlinks < IMP_EVIDENCE)
        snprintf(ev->links[ev->nlinks++], sizeof ev->links[0], "%.*s", (int)n, s);
}

unsigned imp_asks(struct tokens *tk, const char *text, const char *const *urls, int nurls, struct imp_evidence *ev)
{
    unsigned ask = 0;

    memset(ev, 0, sizeof *ev);
    if (!text)
        return 0;
    find_phones(text, ev, &ask);
    for (int i = 0; i < nurls; i++)
        if (urls[i]) {
            add_link(ev, urls[i], strlen(urls[i]));
            ask |= IMP_ASK_LINK;
        }
    for (const char *p = text; (p = strstr(p, "http")); p++)
        if (!strncmp(p, "http://", 7) || !strncmp(p, "https://", 8)) {
            size_t n = strcspn(p, " \t\r\n\"'<>");
            if (!nurls)
                add_link(ev, p, n);
            ask |= IMP_ASK_LINK;
        }
    if (text_tokenize(tk, text, strlen(text), 1) == 0)
        for (int i = 0; i < tk->nw; i++)
            for (size_t c = 0; c < sizeof cues / sizeof cues[0]; c++)
                if (!(ask & cues[c].ask) && cue_at(tk, i, cues[c].words))
                    ask |= cues[c].ask;
    return ask;
}

long long imp_account_age_days(const char *created_at, uint64_t now_ms)
{
    struct tm tm;
    const char *end;
    time_t t;

    if (!created_at || !*created_at)
        return -1;
    memset(&tm, 0, sizeof tm);
    if (!(end = strptime(created_at, "%Y-%m-%dT%H:%M:%S", &tm))) {
        memset(&tm, 0, sizeof tm);
        if (!(end = strptime(created_at, "%a %b %d %H:%M:%S +0000 %Y", &tm)))
            return -1;
    }
    if ((t = timegm(&tm)) == (time_t)-1 || (uint64_t)t * 1000 > now_ms)
        return t == (time_t)-1 ? -1 : 0;
    return (long long)((now_ms / 1000 - (uint64_t)t) / 86400);
}
