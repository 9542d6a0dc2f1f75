/* zdec: zstd decompression with a dictionary; the one module that talks to
 * libzstd.
 *
 * Jetstream with compress=true sends each message as one zstd frame made
 * with a fixed dictionary (source-protocols.md §4).  The dictionary is read
 * once from the file named in the source's configuration; every frame is
 * decompressed into a buffer capped at the record limit, so a small frame
 * that claims to expand hugely (a zstd bomb) costs nothing past the cap.
 * Owner: the source; zdec_free() accepts NULL.
 */
#ifndef MENTIOND_ZDEC_H
#define MENTIOND_ZDEC_H

#include "buf.h"

#include <stddef.h>

struct zdec;

/* The project's return convention (buf.h): 0 ok, negative an error; "too
 * big" has buf's value, so a caller may treat both caps alike. */
enum zdec_ret { ZDEC_OK = 0, ZDEC_TOOBIG = BUF_TOOBIG, ZDEC_CORRUPT = -3 };

/* Load the dictionary at path (NULL: frames without one).  Returns NULL
 * with err naming the file and the reason. */
struct zdec *zdec_new(const char *dict_path, size_t max_out, char *err, size_t errlen);
void zdec_free(struct zdec *z);
/* Decompress one frame.  On ZDEC_OK *out (valid until the next call) holds
 * *outlen bytes; ZDEC_TOOBIG: it would expand past max_out; ZDEC_CORRUPT:
 * err says why. */
enum zdec_ret zdec_frame(struct zdec *z, const void *in, size_t n, const char **out, size_t *outlen, char *err,
                         size_t errlen);
/* The dictionary's id (0 when none), for the log. */
unsigned zdec_dict_id(const struct zdec *z);

#endif
