/* libFuzzer target: a generic NDJSON feed with field mapping by JSON
 * pointers, through the whole pipeline. */
#include "fuzz_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct source_conf sc;

    if (!sc.max_record) {
        sc.max_record = 4096;
        sc.max_depth = 16;
        for (int i = 0; i < PF_COUNT; i++)
            sc.field[i] = (char *)post_field_defaults[i];
        sc.field[PF_text] = "/m/body";
        sc.field[PF_author_handle] = "/a~1b/0";
        sc.field[PF_author_followers] = "/f";
    }
    fuzz_stream("ndjson", &sc, data, size);
    return 0;
}
