/* libFuzzer target: an X v2 stream through framing, decoding, matching,
 * masking, scoring and alert encoding. */
#include "fuzz_common.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct source_conf sc;

    if (!sc.max_record) {
        sc.max_record = 4096;           /* small, so the cap is exercised */
        sc.max_depth = 16;
    }
    fuzz_stream("x_v2", &sc, data, size);
    return 0;
}
