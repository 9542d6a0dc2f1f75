/* impersonation: the similarity of handles and names to the brand's own, and
 * what a post asks for. */
#include "testutil.h"
#include "impersonation.h"
#include "text.h"

static struct tokens tk;

/* Look-alikes of NordvikHelp seen in the wild's shapes: digit and symbol
 * swaps, case tricks (I for l), Cyrillic letters, separators, affixes, one
 * slip of the keyboard; and the display names such accounts use. */
static const struct {
    const char *own, *cand;
    int is_name;
} must_match[] = {
    {"NordvikHelp", "NordvikHe1p", 0},
    {"NordvikHelp", "NordvikHeIp", 0},                  /* capital I */
    {"NordvikHelp", "Nordv1kHelp", 0},
    {"NordvikHelp", "N0rdvikHelp", 0},
    {"NordvikHelp", "Nordvik_Help", 0},
    {"NordvikHelp", "Nordvik.Help", 0},
    {"NordvikHelp", "NordvikHelpp", 0},
    {"NordvikHelp", "NordvlkHelp", 0},
    {"NordvikHelp", "Nordvik_Help_Desk", 0},
    {"NordvikHelp", "NordvikSupport", 0},
    {"NordvikHelp", "NordvikCare", 0},
    {"NordvikHelp", "NordvikCustomerService", 0},
    {"NordvikHelp", "TheNordvikTeam", 0},
    {"NordvikHelp", "NordvikOfficial", 0},
    {"NordvikHelp", "NordvickSupport", 0},              /* one slip in the brand */
    {"NordvikHelp", "NordvikKundtjanst", 0},
    {"NordvikHelp", "N\xd0\xbe" "rdvikHelp", 0},        /* Cyrillic o */
    {"NordvikHelp", "Nordvik\xd0\x9d" "elp", 0},        /* Cyrillic capital En for H */
    {"NordvikHelp", "\xef\xbc\xae" "ordvikHelp", 0},    /* fullwidth N */
    {"NordvikBank", "NordvikBank_", 0},
    {"NordvikBank", "Nordvik_Bank_Support", 0},
    {"NordvikHelp", "Nordvik Help", 1},
    {"NordvikHelp", "Nordvik Support Team", 1},
    {"NordvikHelp", "Nordvik Bank Kundtj\xc3\xa4nst", 1},
    {"NordvikHelp", "NORDVIK HELP \xe2\x9c\x85", 1},     /* a check mark emoji */
};

/* Customers, fans, other brands, the account itself. */
static const struct {
    const char *own, *cand;
    int is_name;
} must_not[] = {
    {"NordvikHelp", "NordvikHelp", 0},                  /* the account itself */
    {"NordvikHelp", "nordvikhelp", 0},                  /* the same, case aside */
    {"NordvikHelp", "Nordvik_Anna", 0},
    {"NordvikHelp", "AnnaNordvik", 0},
    {"NordvikHelp", "NordvikFans", 0},
    {"NordvikHelp", "NordvikFanClub", 0},
    {"NordvikHelp", "Nordvikingar", 0},
    {"NordvikHelp", "anna_k", 0},
    {"NordvikHelp", "SvenskBankHelp", 0},
    {"NordvikHelp", "HelpDesk", 0},
    {"NordvikHelp", "support", 0},
    {"NordvikHelp", "Anna Nordvik", 1},
    {"NordvikHelp", "Nordvik", 1},                      /* a surname alone */
    {"NordvikHelp", "Sven (Nordvik customer since 1998)", 1},
    {"NordvikHelp", "", 1},
};

static void similarity_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof must_match / sizeof must_match[0]; i++)
        if (!imp_lookalike(&tk, must_match[i].own, must_match[i].cand, must_match[i].is_name))
            fail_msg("%s should look like %s", must_match[i].cand, must_match[i].own);
    for (size_t i = 0; i < sizeof must_not / sizeof must_not[0]; i++)
        if (imp_lookalike(&tk, must_not[i].own, must_not[i].cand, must_not[i].is_name))
            fail_msg("%s should not look like %s", must_not[i].cand, must_not[i].own);
}

static void skeleton_and_core(void **state)
{
    char s[IMP_SKELETON_MAX], c[IMP_SKELETON_MAX];
    (void)state;

    assert_int_equal(imp_skeleton(&tk, "Nordvik_He1p", s, sizeof s), 11);
    assert_string_equal(s, "nordvlkhelp");
    imp_skeleton(&tk, "\xf0\x9d\x90\x8d\xf0\x9d\x90\xa8rdvik", s, sizeof s);    /* mathematical bold N, o */
    assert_string_equal(s, "nordvlk");
    imp_skeleton(&tk, "Bernhard", s, sizeof s);                                 /* rn reads as m */
    assert_string_equal(s, "bemhard");
    imp_skeleton(&tk, "H\xc3\xa4lsa", s, sizeof s);                             /* accents folded */
    assert_string_equal(s, "halsa");
    assert_int_equal(imp_skeleton(&tk, "___", s, sizeof s), 0);
    assert_int_equal(imp_skeleton(&tk, NULL, s, sizeof s), 0);
    imp_skeleton(&tk, "TheNordvikSupportTeam", s, sizeof s);
    imp_core(s, c, sizeof c);
    assert_string_equal(c, "nordvlk");
    imp_core("help", c, sizeof c);                                              /* never cut to nothing */
    assert_string_equal(c, "help");
    /* long input: bounded */
    {
        char big[2000];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        assert_true(imp_skeleton(&tk, big, s, sizeof s) < sizeof s);
    }
}

static void asks_and_evidence(void **state)
{
    struct imp_evidence ev;
    const char *urls[] = {"https://nordvik-refunds.example/form"};
    (void)state;

    assert_int_equal(imp_asks(&tk, "Call our fraud team on +46 8 123 456 78 or call us", NULL, 0, &ev),
                     IMP_ASK_PHONE | IMP_ASK_DM);
    assert_int_equal(ev.nphones, 1);
    assert_string_equal(ev.phones[0], "+46 8 123 456 78");
    assert_int_equal(imp_asks(&tk, "ring 08-123 456 78 eller 1-800-555-0199", NULL, 0, &ev), IMP_ASK_PHONE);
    assert_int_equal(ev.nphones, 2);
    assert_string_equal(ev.phones[1], "1-800-555-0199");
    /* not phones: a date, an amount, a year, an order number glued to a word */
    assert_int_equal(imp_asks(&tk, "since 2026-12-07 I paid 12 500 000 kr, in 2026, order A12345678901", NULL, 0, &ev),
                     0);
    assert_int_equal(ev.nphones, 0);
    assert_int_equal(imp_asks(&tk, "Fill in the form", urls, 1, &ev), IMP_ASK_LINK);
    assert_string_equal(ev.links[0], urls[0]);
    assert_int_equal(imp_asks(&tk, "see https://x.example/a and https://x.example/a", NULL, 0, &ev), IMP_ASK_LINK);
    assert_int_equal(ev.nlinks, 1);
    assert_int_equal(imp_asks(&tk, "Please DM us your card details and the CVV", NULL, 0, &ev),
                     IMP_ASK_DM | IMP_ASK_CARD);
    assert_int_equal(imp_asks(&tk, "Skicka ditt kortnummer och engångskod i ett privatmeddelande", NULL, 0, &ev),
                     IMP_ASK_DM | IMP_ASK_CARD);
    assert_int_equal(imp_asks(&tk, "My card was charged twice, I want a refund", NULL, 0, &ev), 0);
    assert_int_equal(imp_asks(&tk, "the meeting is at 3 pm", NULL, 0, &ev), 0);
    assert_int_equal(imp_asks(&tk, NULL, NULL, 0, &ev), 0);
}

static void account_age(void **state)
{
    uint64_t now = 1796601600000ULL;    /* 2026-12-07T00:00:00Z */
    (void)state;

    assert_int_equal(imp_account_age_days("2026-12-01T00:00:00.000Z", now), 6);
    assert_int_equal(imp_account_age_days("2015-12-25T18:50:44.000Z", now), 3999);
    assert_int_equal(imp_account_age_days("Wed Aug 27 13:08:45 +0000 2008", now), 6675);
    assert_int_equal(imp_account_age_days("2027-01-01T00:00:00Z", now), 0);    /* in the future: new */
    assert_int_equal(imp_account_age_days("yesterday", now), -1);
    assert_int_equal(imp_account_age_days(NULL, now), -1);
    assert_int_equal(imp_account_age_days("", now), -1);
}

static void reason_names(void **state)
{
    (void)state;
    for (int i = 0; i < IMP_R_COUNT; i++)
        assert_non_null(imp_reason_names[i]);
    assert_string_equal(imp_reason_names[IMP_R_NO_VICTIM], "no_victim_seen");
}

static int setup(void **state)
{
    (void)state;
    tokens_init(&tk);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tokens_free(&tk);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(similarity_table),
        cmocka_unit_test(skeleton_and_core),
        cmocka_unit_test(asks_and_evidence),
        cmocka_unit_test(account_age),
        cmocka_unit_test(reason_names),
    };
    return cmocka_run_group_tests_name("impersonation", tests, setup, teardown);
}
