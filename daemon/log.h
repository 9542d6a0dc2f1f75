/* log: the one logging path of mentiond.
 *
 * Messages go to syslog(3) (ident "mentiond", LOG_PID) and, in foreground
 * mode, also to stderr.  log_msg() filters on the level *before* formatting
 * (as Redis's serverLog does), so a disabled debug line costs one compare.
 * Never pass outside data as the format; never log secrets or card numbers.
 */
#ifndef MENTIOND_LOG_H
#define MENTIOND_LOG_H

#include <syslog.h>
#include <time.h>

extern int log_threshold;               /* highest syslog priority emitted */

#define log_msg(lvl, ...)                                              \
    do {                                                               \
        if ((lvl) <= log_threshold)                                    \
            log_write((lvl), __VA_ARGS__);                             \
    } while (0)

void log_write(int level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_open(int facility, int to_stderr);
void log_close(void);
void log_set_level(int level);
/* "debug".."err" -> LOG_DEBUG..LOG_ERR; -1 if unknown. */
int log_level_parse(const char *s);
/* "daemon", "local0".."local7", "user" -> LOG_*; -1 if unknown. */
int log_facility_parse(const char *s);
/* The words those parse ("?" for anything else). */
const char *log_level_name(int level);
const char *log_facility_name(int facility);

/* Rate limit for messages that outside input can trigger once per record:
 * at most LOG_RL_BURST lines per LOG_RL_WINDOW seconds per call site, then a
 * summary of how many were suppressed when the next window opens. */
#define LOG_RL_BURST 5
#define LOG_RL_WINDOW 60
struct log_rl {
    time_t window_start;
    unsigned emitted;
    unsigned suppressed;
};
int log_rl_allow(struct log_rl *rl, int level);

#define log_limited(lvl, ...)                                          \
    do {                                                               \
        static struct log_rl log_rl_site_;                             \
        if ((lvl) <= log_threshold && log_rl_allow(&log_rl_site_, (lvl))) \
            log_write((lvl), __VA_ARGS__);                             \
    } while (0)

#endif
