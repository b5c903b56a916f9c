/* notify.c - sd_notify wrappers; no-ops without libsystemd. */
#include "collector/notify.h"

#include <stdio.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>

void notify_ready(const char *status)
{
    sd_notifyf(0, "READY=1\nSTATUS=%s", status);
}

void notify_reloading(void)
{
    sd_notify(0, "RELOADING=1");
}

void notify_stopping(void)
{
    sd_notify(0, "STOPPING=1");
}

void notify_status(const char *status)
{
    sd_notifyf(0, "STATUS=%s", status);
}

void notify_watchdog(void)
{
    sd_notify(0, "WATCHDOG=1");
}

uint64_t notify_watchdog_ms(void)
{
    uint64_t usec = 0;
    if (sd_watchdog_enabled(0, &usec) <= 0)
        return 0;
    return usec / 2000; /* half the deadline, in ms */
}
#else
void notify_ready(const char *status)
{
    (void)status;
}
void notify_reloading(void)
{
}
void notify_stopping(void)
{
}
void notify_status(const char *status)
{
    (void)status;
}
void notify_watchdog(void)
{
}
uint64_t notify_watchdog_ms(void)
{
    return 0;
}
#endif
