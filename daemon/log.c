/* log: syslog + optional stderr; see log.h. */
#include "log.h"
#include "util.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int log_threshold = LOG_INFO;
static int log_to_stderr;
static int log_syslog_open;

static const char *const level_names[] = {
    [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
    [LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
    [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

void log_open(int facility, int to_stderr)
{
    /* The ident must stay valid for the process lifetime: a literal. */
    openlog("mentiond", LOG_PID | LOG_NDELAY, facility);
    log_syslog_open = 1;
    log_to_stderr = to_stderr;
}

void log_close(void)
{
    if (log_syslog_open)
        closelog();
    log_syslog_open = 0;
}

void log_set_level(int level)
{
    log_threshold = level;
}

int log_level_parse(const char *s)
{
    for (int i = LOG_ERR; i <= LOG_DEBUG; i++)
        if (strcasecmp(s, level_names[i]) == 0)
            return i;
    if (strcasecmp(s, "error") == 0)
        return LOG_ERR;
    if (strcasecmp(s, "warn") == 0)
        return LOG_WARNING;
    return -1;
}

const char *log_level_name(int level)
{
    return level >= 0 && level <= LOG_DEBUG ? level_names[level] : "?";
}

static const struct { const char *name; int fac; } facilities[] = {
    {"daemon", LOG_DAEMON}, {"user", LOG_USER}, {"local0", LOG_LOCAL0},
    {"local1", LOG_LOCAL1}, {"local2", LOG_LOCAL2}, {"local3", LOG_LOCAL3},
    {"local4", LOG_LOCAL4}, {"local5", LOG_LOCAL5}, {"local6", LOG_LOCAL6},
    {"local7", LOG_LOCAL7},
};

int log_facility_parse(const char *s)
{
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
        if (strcasecmp(s, facilities[i].name) == 0)
            return facilities[i].fac;
    return -1;
}

const char *log_facility_name(int facility)
{
    for (size_t i = 0; i < sizeof facilities / sizeof facilities[0]; i++)
        if (facilities[i].fac == facility)
            return facilities[i].name;
    return "?";
}

void log_write(int level, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (log_syslog_open)
        syslog(level, "%s", msg);
    /* -f: the daemon's stderr, timestamped like a log file.  Before
     * log_open (command-line tools, tests) stderr is the only sink. */
    if (log_to_stderr) {
        char at[40];
        format_iso8601_ms(now_real_ms(), at, sizeof at);
        fprintf(stderr, "%s mentiond[%s]: %s\n", at, log_level_name(level), msg);
    } else if (!log_syslog_open) {
        fprintf(stderr, "mentiond[%s]: %s\n", log_level_name(level), msg);
    }
}

int log_rl_allow(struct log_rl *rl, int level)
{
    time_t now = time(NULL);

    if (now - rl->window_start >= LOG_RL_WINDOW) {
        if (rl->suppressed)
            log_write(level, "(%u similar messages suppressed in the last %ds)",
                      rl->suppressed, LOG_RL_WINDOW);
        rl->window_start = now;
        rl->emitted = 0;
        rl->suppressed = 0;
    }
    if (rl->emitted < LOG_RL_BURST) {
        rl->emitted++;
        return 1;
    }
    rl->suppressed++;
    return 0;
}
