/* mastodon: the Mastodon streaming API, server-sent events of statuses. */
#include "decode.h"
#include "source_driver.h"

/* A recorded file of Mastodon statuses holds one per line, not events. */
static enum framing_mode framing_for(const struct source_conf *sc, int from_file)
{
    (void)sc;
    return from_file ? FRAMING_LINES : FRAMING_SSE;
}

const struct source_driver source_driver_mastodon = {
    .name = "mastodon",
    .transport = TRANSPORT_HTTP_STREAM,
    .decoder = &decode_mastodon_ops,
    .framing = FRAMING_SSE,
    .flags = DRIVER_NEEDS_TOKEN,
    .token_why = " (Mastodon 4.2+ refuses anonymous streaming)",
    .framing_for = framing_for,
};
