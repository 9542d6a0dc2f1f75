/* libFuzzer target: the configuration parser and the rule-file parser on
 * the same bytes (both INI, both must report errors, never crash). */
#include "config.h"
#include "rules.h"
#include "util.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[] = "/tmp/mentiond-fuzz-conf-XXXXXX";
    struct errlist errs = {0};
    int fd = mkstemp(path);

    if (fd < 0)
        abort();
    if (write(fd, data, size) != (ssize_t)size)
        abort();
    close(fd);
    config_free(config_load(path, &errs));
    rules_free(rules_load(path, 0, "/nonexistent", &errs));
    errlist_free(&errs);
    unlink(path);
    return 0;
}
