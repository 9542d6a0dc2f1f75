/* sdnotify: see sdnotify.h. */
#include "sdnotify.h"
#include "log.h"

#include <stdio.h>
#include <systemd/sd-daemon.h>
#include <time.h>

static void notify(const char *msg)
{
    int rc = sd_notify(0, msg);
    if (rc < 0)
        log_msg(LOG_WARNING, "sd_notify failed: %d", rc);
}

void sdnotify_ready(const char *status)
{
    char msg[512];
    snprintf(msg, sizeof msg, "READY=1\nSTATUS=%s", status);
    notify(msg);
}

void sdnotify_reloading(void)
{
    struct timespec ts;
    char msg[128];

    /* MONOTONIC_USEC is ignored by systemd 252 and required by the
     * notify-reload protocol of 253+: harmless now, right later. */
    clock_gettime(CLOCK_MONOTONIC, &ts);
    snprintf(msg, sizeof msg, "RELOADING=1\nMONOTONIC_USEC=%llu",
             (unsigned long long)ts.tv_sec * 1000000ull + (unsigned long long)ts.tv_nsec / 1000ull);
    notify(msg);
}

void sdnotify_stopping(void)
{
    notify("STOPPING=1");
}

void sdnotify_status(const char *status)
{
    char msg[512];
    snprintf(msg, sizeof msg, "STATUS=%s", status);
    notify(msg);
}

void sdnotify_watchdog(void)
{
    notify("WATCHDOG=1");
}

uint64_t sdnotify_watchdog_usec(void)
{
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
}
