/* ndjson: any newline-delimited JSON feed over HTTP, fields mapped by JSON
 * pointer (field.NAME). */
#include "decode.h"
#include "source_driver.h"

const struct source_driver source_driver_ndjson = {
    .name = "ndjson",
    .transport = TRANSPORT_HTTP_STREAM,
    .decoder = &decode_ndjson_ops,
    .framing = FRAMING_LINES,
};
