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
#include <unistd.h>

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

/* Days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's algorithm). */
static void civil_from_days(int64_t days, int *y, unsigned *m, unsigned *d)
{
    days += 719468;
    int64_t era = (days >= 0 ? days : days - 146096) / 146097;
    unsigned doe = (unsigned)(days - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int)((int64_t)yoe + era * 400 + (*m <= 2));
}

/* One write(2) per line, no stdio: lines from several threads never interleave, and a
 * forked child can log without stdio's locks, which another thread may have held at the
 * fork. The time is formatted by hand for the same reason (gmtime_r takes glibc's
 * timezone lock). */
static void vlog(enum log_level level, const char *fmt, va_list ap)
{
    char line[1100];
    int n;
    /* journald reads "<N>" as the priority; a terminal gets a readable time instead. */
    if (getenv("JOURNAL_STREAM") != NULL) {
        n = snprintf(line, sizeof(line), "<%d>", (int)level);
    } else {
        struct timespec ts;
        int y;
        unsigned mo, d;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t secs = (int64_t)ts.tv_sec, day = secs / 86400, sod = secs % 86400;
        if (sod < 0) {
            sod += 86400;
            day--;
        }
        civil_from_days(day, &y, &mo, &d);
        n = snprintf(line, sizeof(line), "%04d-%02u-%02uT%02d:%02d:%02d.%03ldZ %s: ", y, mo, d,
                     (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), ts.tv_nsec / 1000000,
                     log_level_name(level));
    }
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    size_t len =
        (size_t)n + (m < 0                                      ? 0
                     : (size_t)m < sizeof(line) - (size_t)n - 1 ? (size_t)m
                                                                : sizeof(line) - (size_t)n - 2);
    line[len++] = '\n';
    for (size_t off = 0; off < len;) {
        ssize_t w = write(STDERR_FILENO, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* nowhere to say it */
        off += (size_t)w;
    }
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
