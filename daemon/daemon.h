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

/* Returns the process exit code (0 ok, 1 bad configuration, 3 runtime). */
int daemon_run(const char *config_path, int foreground);

#endif
