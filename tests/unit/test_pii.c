/* pii: what is masked, what must not be, and how. */
#include "testutil.h"
#include "pii.h"

static const char *mask(const char *text, int *found, const struct pii_patterns *pat)
{
    static struct buf out;
    static int init;
    if (!init) {
        buf_init(&out, 1 << 16);
        init = 1;
    }
    *found = pii_mask(text, strlen(text), pat, &out);
    return out.data;
}

struct pcase {
    const char *text;
    const char *want;       /* masked text */
    int found;
};

static const struct pcase cases[] = {
    /* cards: Luhn-valid, 13-19 digits, spaces or dashes; first and last four kept */
    {"card 4111 1111 1111 1111 charged twice", "card 4111 **** **** 1111 charged twice", 1 << PII_CARD},
    {"4111-1111-1111-1111", "4111-****-****-1111", 1 << PII_CARD},
    {"my card 4111111111111111.", "my card 4111********1111.", 1 << PII_CARD},
    {"amex 3782 822463 10005 please help", "amex 3782 ****** *0005 please help", 1 << PII_CARD},
    {"5555555555554444", "5555********4444", 1 << PII_CARD},
    {"two: 4012888888881881 and 4222222222222", "two: 4012********1881 and 4222*****2222",
     1 << PII_CARD},
    /* not cards: Luhn fails, too short or long, phone numbers, dates, orders, tracking */
    {"4111 1111 1111 1112", "4111 1111 1111 1112", 0},
    {"call +46 70 123 45 67", "call +46 70 123 45 67", 0},
    {"order 123456789012", "order 123456789012", 0},
    {"on 2026-11-22 at 10:30", "on 2026-11-22 at 10:30", 0},
    {"tracking 9400111899223344556677", "tracking 9400111899223344556677", 0},
    {"ref 1234567812345670 is Luhn-valid but starts with 1", "ref 1234567812345670 is Luhn-valid but starts with 1", 0},
    {"id A4111111111111111", "id A4111111111111111", 0},
    {"x41111111111111111111y", "x41111111111111111111y", 0},
    /* IBANs: mod-97, spaces allowed; first and last four kept */
    {"IBAN SE45 5000 0000 0583 9825 7466 thanks", "IBAN SE45 **** **** **** **** 7466 thanks", 1 << PII_IBAN},
    {"GB82WEST12345698765432", "GB82**************5432", 1 << PII_IBAN},
    {"de89 3704 0044 0532 0130 00", "de89 **** **** **** **30 00", 1 << PII_IBAN},
    {"GB82WEST12345698765433", "GB82WEST12345698765433", 0},
    {"SE45 is my area code", "SE45 is my area code", 0},
};

static void cards_and_ibans(void **state)
{
    int bad = 0, found;
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *got = mask(cases[i].text, &found, NULL);
        if (strcmp(got, cases[i].want) != 0 || found != cases[i].found) {
            print_error("case %zu: [%s] -> [%s] (found %d), want [%s] (found %d)\n", i, cases[i].text, got,
                        found, cases[i].want, cases[i].found);
            bad++;
        }
    }
    assert_int_equal(bad, 0);
}

static void account_patterns(void **state)
{
    struct pii_patterns pat = {.shape = {"dddd-ddddddd", "ddd ddd ddd"}, .n = 2};
    int found;
    (void)state;
    assert_string_equal(mask("konto 8327-9123456 tack", &found, &pat), "konto ****-***3456 tack");
    assert_int_equal(found, 1 << PII_ACCOUNT);
    assert_string_equal(mask("acct 123 456 789", &found, &pat), "acct *** **6 789");
    assert_string_equal(mask("8327-91234567", &found, &pat), "8327-91234567");   /* longer: not the shape */
    assert_int_equal(found, 0);
    assert_null(pii_shape_check("dddd-ddddddd"));
    assert_non_null(pii_shape_check("dd-dd"));
    assert_non_null(pii_shape_check("aaaaaaaa"));
}

static void validators(void **state)
{
    (void)state;
    assert_true(pii_luhn_ok("79927398713", 11));
    assert_false(pii_luhn_ok("79927398710", 11));
    assert_true(pii_iban_ok("SE4550000000058398257466", 24));
    assert_false(pii_iban_ok("SE4550000000058398257467", 24));
    assert_false(pii_iban_ok("1234", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cards_and_ibans),
        cmocka_unit_test(account_patterns),
        cmocka_unit_test(validators),
    };
    return cmocka_run_group_tests_name("pii", tests, NULL, NULL);
}
