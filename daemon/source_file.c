/* file: a recorded file, read once from the loop in bounded slices
 * (optionally paced), decoded as the format it was recorded in. */
#include "config_key.h"
#include "source_driver.h"

#include <string.h>

static const struct ckey keys[] = {
    SOURCE_KEY("path", CT_STR, path, NULL, 0, 0),
    SOURCE_KEY("format", CT_STR, format, "x_v2", 0, 0),
    SOURCE_KEY("rate", CT_INT, rate, "0", 0, 10000000),
};

/* Records framed as a file of that format holds them. */
static enum framing_mode framing_for(const struct source_conf *sc, int from_file)
{
    const struct source_driver *f = sc && sc->format ? source_driver_find(sc->format) : NULL;

    (void)from_file;
    return f && f->decoder ? source_driver_framing(f, sc, 1) : FRAMING_LINES;
}

static void validate(struct config *c, struct source_conf *s, struct errlist *errs)
{
    const struct source_driver *f = source_driver_find(s->format);
    char names[200];

    if (!s->path)
        source_key_error(errs, c, s, NULL, "type = file needs 'path'");
    if (!f || !f->decoder)
        source_key_error(errs, c, s, "format", "expected %s", source_driver_names(names, sizeof names, 1));
    if (s->url)
        source_key_error(errs, c, s, "url", "a file source takes 'path', not 'url'");
}

const struct source_driver source_driver_file = {
    .name = "file",
    .transport = TRANSPORT_FILE,
    .decoder = NULL,
    .framing = FRAMING_LINES,
    .keys = keys,
    .nkeys = sizeof keys / sizeof keys[0],
    .framing_for = framing_for,
    .validate = validate,
};
