/* libFuzzer target: Mastodon's SSE stream (event/data lines, heartbeats,
 * update/status.update/delete) and the HTML of statuses, through the whole
 * pipeline; bare Status lines when the first byte is odd. */
#include "fuzz_common.h"
#include "framing.h"

#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct source_conf sc = {.max_record = 8192, .max_depth = 24};

    sc.framing = size && (data[0] & 1) ? FRAMING_LINES : FRAMING_SSE;
    fuzz_stream("mastodon", &sc, data, size);
    return 0;
}
