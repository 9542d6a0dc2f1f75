/* libFuzzer target: the rule query parser, and for queries it accepts, the
 * matcher built from them run over a fixed post.  Nothing a rule author
 * writes may crash the daemon, leak, or read out of bounds. */
#include "matcher.h"
#include "query.h"
#include "rules.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fuzz_list(void *ctx, const char *name, const char *const **entries, int *n, char *err,
                     size_t errlen)
{
    static const char *const words[] = {"nordvik", "\"charged twice\"", "#fraud", "bank*", "@help"};
    (void)ctx;
    if (strcmp(name, "words") != 0) {
        snprintf(err, errlen, "no such list");
        return -1;
    }
    *entries = words;
    *n = 5;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct query_env env = {.fold = size & 1, .list = fuzz_list};
    char *s = xmalloc(size + 1), err[256];
    struct query *q;
    int col;

    memcpy(s, data, size);
    s[size] = '\0';
    if (query_parse(s, &env, &q, err, sizeof err, &col) == 0) {
        struct rule r;
        struct matcher *m;
        struct match_ctx mc;
        struct post p;
        static const char *const urls[] = {"https://status.nordvik.example/a?b=c"};

        memset(&r, 0, sizeof r);
        r.name = "fuzz";
        r.queue = "q";
        r.q = q;
        m = matcher_build(&r, 1, err, sizeof err);
        if (m) {
            post_clear(&p);
            p.id = "1900000000000000001";
            p.text = "@Help my Nordvik card was charged twice! #fraud bankid https://x.example/1 銀行 😡";
            p.referenced_text = "RT text with outage";
            p.author.handle = "jane";
            p.author.bio = "Journalist, money";
            p.author.followers = 1500;
            p.lang = "en";
            p.to_handle = "help";
            p.conversation_id = "1";
            p.urls = urls;
            p.nurls = 1;
            match_ctx_init(&mc);
            matcher_match(&mc, m, &p);
            match_ctx_free(&mc);
            matcher_free(m);
        }
        free(r.term_ids);
        query_free(q);
    }
    free(s);
    return 0;
}
