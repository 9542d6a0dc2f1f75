/* inifile: inih with line numbers and long-line detection; see inifile.h. */
#include "inifile.h"
#include "util.h"

#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INIFILE_MAX_SIZE (64u * 1024u * 1024u)

struct inifile_state {
    const char *path;
    const char *data;           /* whole file, NUL-terminated */
    const char *pos;
    int line;                   /* number of the line last handed to inih */
    const char *line_start;     /* that line in data */
    int section_line;           /* last [section] header seen */
    size_t line_len;
    int errors;
    int reported_line;          /* a syntax error already reported here */
    inifile_fn fn;
    void *ctx;
    struct errlist *errs;
};

/* Report a line ourselves and hand inih an empty line instead. */
static void inifile_reject_line(struct inifile_state *st, char *str, const char *msg)
{
    errlist_add(st->errs, "%s:%d: %s", st->path, st->line, msg);
    st->errors++;
    st->reported_line = st->line;
    str[0] = '\n';
    str[1] = '\0';
}

/* inih reports only the first bad line of a file; we check the syntax of
 * every line so that all errors are listed at once. */
static const char *inifile_syntax_check(const char *line)
{
    while (*line == ' ' || *line == '\t')
        line++;
    if (*line == '\0' || *line == '\n' || *line == '\r' || *line == ';' || *line == '#')
        return NULL;
    if (*line == '[')
        return strchr(line, ']') ? NULL : "unterminated [section] header";
    if (!strpbrk(line, "=:"))
        return "expected key = value";
    if (*line == '=' || *line == ':')
        return "missing key before '='";
    return NULL;
}

/* fgets-style reader over the in-memory file that counts lines, so the
 * handler knows which line it is looking at (Debian's inih is built without
 * INI_HANDLER_LINENO). */
static char *inifile_reader(char *str, int num, void *stream)
{
    struct inifile_state *st = stream;
    const char *nl;
    size_t len;

    if (!*st->pos)
        return NULL;
    nl = strchr(st->pos, '\n');
    len = nl ? (size_t)(nl - st->pos) + 1 : strlen(st->pos);
    st->line++;
    st->line_start = st->pos;
    st->line_len = len;
    if (len + 1 > (size_t)num) {
        char msg[96];
        snprintf(msg, sizeof msg, "line longer than %d bytes", INIFILE_MAX_LINE);
        inifile_reject_line(st, str, msg);
    } else {
        const char *why;
        memcpy(str, st->pos, len);
        str[len] = '\0';
        why = inifile_syntax_check(str);
        if (why)
            inifile_reject_line(st, str, why);
        else if (str[strspn(str, " \t")] == '[')
            st->section_line = st->line;
    }
    st->pos += len;
    return str;
}

static int inifile_handler(void *user, const char *section, const char *key, const char *value)
{
    struct inifile_state *st = user;

    struct inifile_pos pos = {
        .file = st->path, .line = st->line, .raw = st->line_start, .rawlen = st->line_len,
        .section_line = st->section_line,
    };

    if (st->fn(st->ctx, &pos, section, key, value) != 0) {
        st->errors++;
        st->reported_line = st->line;
        return 0;
    }
    return 1;
}

int inifile_parse(const char *path, inifile_fn fn, void *ctx, struct errlist *errs)
{
    struct inifile_state st = {
        .path = path, .fn = fn, .ctx = ctx, .errs = errs,
    };
    char err[512];
    char *data;
    int rc;

    data = file_read_all(path, INIFILE_MAX_SIZE, NULL, err, sizeof err);
    if (!data) {
        errlist_add(errs, "%s", err);
        return -1;
    }
    st.data = data;
    st.pos = data;
    /* Heap line buffer of a fixed size: our reader never hands inih more
     * than fits, and reports longer lines itself. */
    ini_use_stack = false;
    ini_allow_realloc = false;
    ini_max_line = INIFILE_MAX_LINE + 3;
    ini_initial_alloc = INIFILE_MAX_LINE + 3;
    ini_allow_inline_comments = true;
    ini_allow_multiline = false;
    ini_stop_on_first_error = false;
    rc = ini_parse_stream(inifile_reader, &st, inifile_handler, &st);
    /* inih reports the first line with an error; if it was a syntax error
     * (no '=' or unterminated section) we have not reported it yet. */
    if (rc > 0 && rc != st.reported_line && st.errors == 0) {
        errlist_add(errs, "%s:%d: syntax error (expected [section] or key = value)", path, rc);
        st.errors++;
    } else if (rc == -2) {
        errlist_add(errs, "%s: out of memory", path);
        st.errors++;
    }
    free(data);
    return st.errors;
}

int inifile_column(const struct inifile_pos *pos, const char *value, size_t off)
{
    size_t vlen = strlen(value);
    const char *at = vlen ? memmem(pos->raw, pos->rawlen, value, vlen) : NULL;
    int col = 1;

    if (!at)
        return 0;
    for (const char *c = pos->raw; c < at + off; c++)
        if (((unsigned char)*c & 0xC0) != 0x80)
            col++;
    return col;
}
