/* x_v1: X v1.1 statuses/filter and compatible firehoses (JSON lines, or
 * length-prefixed records when the URL asks for delimited=length). */
#include "decode.h"
#include "source_driver.h"
#include "config.h"

#include <string.h>

static enum framing_mode framing_for(const struct source_conf *sc, int from_file)
{
    return !from_file && sc && sc->url && strstr(sc->url, "delimited=length") ? FRAMING_LENGTH : FRAMING_LINES;
}

const struct source_driver source_driver_x_v1 = {
    .name = "x_v1",
    .transport = TRANSPORT_HTTP_STREAM,
    .decoder = &decode_x_v1_ops,
    .framing = FRAMING_LINES,
    .framing_for = framing_for,
};
