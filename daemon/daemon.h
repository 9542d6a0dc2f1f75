/* daemon: the event loop that owns all I/O.
 *
 * Signals arrive as libevent events, so their work runs in loop context
 * (memcached's flags-handled-in-the-loop idea): SIGTERM/SIGINT stop the
 * sources, flush buffered alerts to Redis within shutdown_timeout and exit;
 * SIGHUP re-reads configuration and rules, builds them off to the side and
 * swaps them in only if valid (unchanged sources keep their connections).
 */
#ifndef MENTIOND_DAEMON_H
#define MENTIOND_DAEMON_H

struct config;
struct errlist;
struct rule_text;
struct ruleset;

/* Returns the process exit code (0 ok, 1 bad configuration, 3 runtime). */
int daemon_run(const char *config_path, int foreground);

/* The configuration and its rules (plus extra rules, e.g. from the Redis
 * hash), every error of both in one round: the rule files are checked even
 * when the configuration has errors, as long as the keys they are loaded
 * with are good.  -t, the start, a reload and --replay -c all load this way.
 * Returns 0 with *cfg and *rs set, or -1 with errs filled and nothing set. */
int daemon_load(const char *config_path, const struct rule_text *extra, int nextra, const char *origin,
                struct config **cfg, struct ruleset **rs, struct errlist *errs);

#endif
