/* sink_log.c - one formatted log line, the sinks' clock, and the limiter for lasting trouble. */
#include "sink/sink_log.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void sink_log_say(sink_log_fn log, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    if (log == NULL)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log(level, msg);
}

/* Weak: tests/test_journal.c replaces it to move time on (see sink_log.h). */
__attribute__((weak)) int64_t sink_log_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool sink_log_limit_pass(struct sink_log_limit *l, int64_t now_ms, uint64_t *untold)
{
    unsigned burst = l->burst > 0 ? l->burst : 1;
    if (l->streak < UINT_MAX)
        l->streak++;
    l->last_ms = now_ms;
    if (l->streak > burst && now_ms < l->next_ms) {
        l->untold++;
        return false;
    }
    if (untold != NULL)
        *untold = l->untold;
    l->untold = 0;
    if (l->streak >= burst)
        l->next_ms = now_ms + l->every_ms;
    return true;
}

void sink_log_limit_said(struct sink_log_limit *l, int64_t now_ms)
{
    unsigned burst = l->burst > 0 ? l->burst : 1;
    if (l->streak < burst)
        l->streak = burst;
    l->untold = 0;
    l->next_ms = now_ms + l->every_ms;
}

bool sink_log_limit_quiet(struct sink_log_limit *l, int64_t now_ms, int64_t quiet_ms,
                          uint64_t *untold)
{
    if (l->streak == 0 || now_ms - l->last_ms < quiet_ms)
        return false;
    uint64_t n = sink_log_limit_end(l);
    if (untold != NULL)
        *untold = n;
    return true;
}

uint64_t sink_log_limit_end(struct sink_log_limit *l)
{
    uint64_t untold = l->untold;
    l->streak = 0;
    l->untold = 0;
    l->next_ms = 0;
    return untold;
}
