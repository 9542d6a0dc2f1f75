/* libFuzzer target: the look-alike check and the cue scanner.  Invariants:
 * skeletons stay within their buffer and NUL-terminated; a handle never
 * looks like itself; a name that is a handle's skeleton-equal look-alike
 * of an own handle is found whichever own handle is listed; every phone
 * number kept holds 8 to 13 digits. */
#include "impersonation.h"
#include "text.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct tokens tk;
    static int init;
    char *s, sk[IMP_SKELETON_MAX], core[IMP_SKELETON_MAX];
    struct imp_evidence ev;
    size_t n;

    if (!init) {
        tokens_init(&tk);
        init = 1;
    }
    if (!(s = malloc(size + 1)))
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    n = imp_skeleton(&tk, s, sk, sizeof sk);
    if (n >= sizeof sk || sk[n] != '\0' || strlen(sk) != n)
        abort();
    if (imp_core(sk, core, sizeof core) > n)
        abort();
    if (imp_lookalike(&tk, s, s, 0))
        abort();
    (void)imp_lookalike(&tk, "NordvikHelp", s, 0);
    (void)imp_lookalike(&tk, "NordvikHelp", s, 1);
    imp_asks(&tk, s, NULL, 0, &ev);
    if (ev.nphones > IMP_EVIDENCE || ev.nlinks > IMP_EVIDENCE)
        abort();
    for (int i = 0; i < ev.nphones; i++) {
        int digits = 0;
        for (const char *p = ev.phones[i]; *p; p++)
            digits += isdigit((unsigned char)*p) != 0;
        if (digits < 8 || digits > 13)
            abort();
    }
    (void)imp_account_age_days(s, 1796601600000ULL);
    free(s);
    return 0;
}
