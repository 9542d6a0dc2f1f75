/* sdnotify: the one module that talks to libsystemd (sd_notify).
 * Every call is a no-op outside systemd (no NOTIFY_SOCKET). */
#ifndef MENTIOND_SDNOTIFY_H
#define MENTIOND_SDNOTIFY_H

#include <stdint.h>

void sdnotify_ready(const char *status);
void sdnotify_reloading(void);
void sdnotify_stopping(void);
void sdnotify_status(const char *status);
void sdnotify_watchdog(void);
/* Watchdog interval in microseconds, 0 if the watchdog is off. */
uint64_t sdnotify_watchdog_usec(void);

#endif
