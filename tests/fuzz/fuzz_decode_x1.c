/* libFuzzer target: X v1.1 statuses/filter records (statuses, retweets,
 * quotes, control messages, deletes, search pages) through the whole
 * pipeline, with length-prefixed framing when the first byte is odd. */
#include "fuzz_common.h"
#include "framing.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct source_conf sc = {.max_record = 8192, .max_depth = 24};

    sc.framing = size && (data[0] & 1) ? FRAMING_LENGTH : FRAMING_LINES;
    fuzz_stream("x_v1", &sc, data, size);
    return 0;
}
