/* Helpers shared by the unit tests (cmocka). */
#ifndef MENTIOND_TESTUTIL_H
#define MENTIOND_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

/* The project's top directory (make sets MENTIOND_SRCDIR). */
static inline const char *srcdir(void)
{
    const char *d = getenv("MENTIOND_SRCDIR");
    return d && *d ? d : ".";
}

/* Path under the project, in a static buffer per call site. */
#define SRC_PATH(buf, rel) (snprintf((buf), sizeof(buf), "%s/%s", srcdir(), (rel)), (buf))

/* ../shared/corpus beside the project, or NULL: tests that need it say they
 * skipped, so a clone of the project alone still tests cleanly. */
static inline const char *corpus_dir(void)
{
    static char path[4096];
    struct stat st;
    const char *env = getenv("MENTIOND_CORPUS");
    if (env && *env)
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/../shared/corpus", srcdir());
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

#define SKIP_WITHOUT_CORPUS()                                                         \
    do {                                                                              \
        if (!corpus_dir()) {                                                          \
            print_message("SKIPPED: ../shared/corpus is absent; real-payload test not run\n"); \
            skip();                                                                   \
        }                                                                             \
    } while (0)

/* Whether an error list holds a message containing want. */
#define ERRLIST_HAS(e, want) errlist_has_((e)->msgs, (e)->n, (want))
static inline int errlist_has_(char **msgs, int n, const char *want)
{
    for (int i = 0; i < n; i++)
        if (strstr(msgs[i], want))
            return 1;
    return 0;
}

/* Write text to a fresh temporary file; returns its path (static). */
static inline const char *write_temp(const char *name, const char *text)
{
    static char dir[256];
    static char path[512];
    FILE *f;
    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/mentiond-unit-XXXXXX");
        if (!mkdtemp(dir))
            abort();
    }
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "w");
    if (!f)
        abort();
    fputs(text, f);
    fclose(f);
    return path;
}

#endif
