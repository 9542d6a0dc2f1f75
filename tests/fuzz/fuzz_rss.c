/* libFuzzer target: RSS/Atom documents (expat, charset conversion, HTML
 * to text) through the whole pipeline; the first byte picks the charset
 * hint the HTTP response would give. */
#include "fuzz_common.h"
#include "framing.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct source_conf sc = {.max_record = 65536, .max_depth = 32, .framing = FRAMING_DOCUMENT};

    fuzz_stream("rss", &sc, data, size);
    return 0;
}
