/* notify.h - tell systemd how we are doing (Type=notify): ready, status, watchdog, stopping.
 *
 * Built on libsystemd's sd_notify when it was found at build time; otherwise every call
 * does nothing and the service runs as Type=simple would. Loop thread only.
 */
#ifndef INJECTOR_NOTIFY_H
#define INJECTOR_NOTIFY_H

#include <stdint.h>

void notify_ready(const char *status);
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *status);
void notify_watchdog(void);

/* The interval to send WATCHDOG=1 at (half of WatchdogSec), in ms; 0 when not asked for. */
uint64_t notify_watchdog_ms(void);

#endif
