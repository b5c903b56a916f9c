/* log.c - stderr logging with journal priorities and per-kind rate limits. */
#include "collector/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Written by the loop thread (a reload), read by every thread that logs (the AMQP
 * publisher too): atomic. Relaxed: a line logged at the old level around a reload is fine,
 * only a torn or cached-forever read is not. */
static atomic_int max_level = LOG_LEVEL_INFO;

const char *const log_level_names[LOG_LEVEL_DEBUG + 1] = {
    [LOG_LEVEL_ERROR] = "error", [LOG_LEVEL_WARNING] = "warning", [LOG_LEVEL_NOTICE] = "notice",
    [LOG_LEVEL_INFO] = "info",   [LOG_LEVEL_DEBUG] = "debug",
};

void log_set_level(enum log_level level)
{
    atomic_store_explicit(&max_level, (int)level, memory_order_relaxed);
}

static bool enabled(enum log_level level)
{
    return (int)level <= atomic_load_explicit(&max_level, memory_order_relaxed);
}

int log_level_parse(const char *s, enum log_level *out)
{
    for (int l = LOG_LEVEL_ERROR; l <= LOG_LEVEL_DEBUG; l++) {
        if (strcmp(s, log_level_names[l]) == 0) {
            *out = (enum log_level)l;
            return 0;
        }
    }
    return -EINVAL;
}

const char *log_level_name(enum log_level level)
{
    if (level < LOG_LEVEL_ERROR || level > LOG_LEVEL_DEBUG)
        return "?";
    return log_level_names[level];
}

static void vlog(enum log_level level, const char *fmt, va_list ap)
{
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    /* journald reads "<N>" as the priority; a terminal gets a readable time instead. */
    if (getenv("JOURNAL_STREAM") != NULL) {
        fprintf(stderr, "<%d>%s\n", (int)level, msg);
        return;
    }
    struct timespec ts;
    struct tm tm;
    char when[32];
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    fprintf(stderr, "%s.%03ldZ %s: %s\n", when, ts.tv_nsec / 1000000, log_level_name(level), msg);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!enabled(level))
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}

void log_ratelimit_flush(struct log_ratelimit *rl, int64_t now_ms)
{
    if (now_ms - rl->window_start_ms < LOG_RATELIMIT_WINDOW_MS)
        return;
    if (rl->suppressed > 0)
        log_warning("... %" PRIu64 " more %s in the last %d s", rl->suppressed, rl->what,
                    LOG_RATELIMIT_WINDOW_MS / 1000);
    rl->window_start_ms = now_ms;
    rl->used = 0;
    rl->suppressed = 0;
}

void log_ratelimited(struct log_ratelimit *rl, int64_t now_ms, enum log_level level,
                     const char *fmt, ...)
{
    if (!enabled(level))
        return;
    log_ratelimit_flush(rl, now_ms);
    if (rl->used >= LOG_RATELIMIT_BURST) {
        rl->suppressed++;
        return;
    }
    rl->used++;
    va_list ap;
    va_start(ap, fmt);
    vlog(level, fmt, ap);
    va_end(ap);
}
