/* libFuzzer target: Jetstream events (decode_jetstream.c) through the
 * whole pipeline, one JSON event per line as recordings hold them. */
#include "fuzz_common.h"
#include "framing.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct source_conf sc = {.max_record = 8192, .max_depth = 24, .framing = FRAMING_LINES};

    fuzz_stream("jetstream", &sc, data, size);
    return 0;
}
