/* inifile: the one module that talks to inih.
 *
 * Parses an INI file and calls back with file, line, section, key, value, so
 * every error can name file:line.  Lines longer than INIFILE_MAX_LINE are
 * reported (not silently split, as a fixed-size fgets would) and skipped.
 * The callback returns 0 to accept, -1 to reject; parsing continues after a
 * rejection so that every error in a file is reported at once.
 */
#ifndef MENTIOND_INIFILE_H
#define MENTIOND_INIFILE_H

#include "util.h"

#include <stddef.h>

#define INIFILE_MAX_LINE 8192

/* raw: the line as written in the file (rawlen bytes, not NUL-terminated),
 * so callers can turn an offset inside a value into a line column. */
struct inifile_pos {
    const char *file;
    int line;
    const char *raw;
    size_t rawlen;
    int section_line;           /* line of the [section] header in force */
};
typedef int (*inifile_fn)(void *ctx, const struct inifile_pos *pos, const char *section,
                          const char *key, const char *value);
/* 1-based column of value[off] within its raw line (0 if not found). */
int inifile_column(const struct inifile_pos *pos, const char *value, size_t off);
/* Problems of the INI syntax itself (line too long, no '=', unreadable file)
 * are added to errs as "file:line: message".  Returns the number of errors
 * (callback rejections plus syntax errors), or -1 if the file cannot be read. */
int inifile_parse(const char *path, inifile_fn fn, void *ctx, struct errlist *errs);

#endif
