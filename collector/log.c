/* log.c - stderr logging with journal priorities and per-kind rate limits. */
#include "collector/log.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
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

/* A line's start: the time and level on a terminal, the priority for the journal. Returns
 * its length (< size). The time is formatted by hand: gmtime_r takes glibc's timezone lock,
 * which another thread may have held at a fork. */
static size_t line_start(enum log_level level, char *buf, size_t size)
{
    int n;
    /* journald reads "<N>" as the priority; a terminal gets a readable time instead. */
    if (getenv("JOURNAL_STREAM") != NULL) {
        n = snprintf(buf, size, "<%d>", (int)level);
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
        n = snprintf(buf, size, "%04d-%02u-%02uT%02d:%02d:%02d.%03ldZ %s: ", y, mo, d,
                     (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60), ts.tv_nsec / 1000000,
                     log_level_name(level));
    }
    return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* One writev(2) per line (and more only for what a pipe took in part), no stdio: lines
 * from several threads do not interleave (up to PIPE_BUF bytes, which all but the
 * longest stats lines are), and a forked child can log without stdio's locks. */
static void write_line(struct iovec *iov, int n)
{
    while (n > 0) {
        ssize_t w = writev(STDERR_FILENO, iov, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return; /* nowhere to say it */
        size_t done = (size_t)w;
        while (n > 0 && done >= iov->iov_len) {
            done -= iov->iov_len;
            iov++;
            n--;
        }
        if (n > 0) {
            iov->iov_base = (char *)iov->iov_base + done;
            iov->iov_len -= done;
        }
    }
}

/* A message longer than the line buffer is cut: every message fits it but the stats line,
 * which goes through log_text. */
static void vlog(enum log_level level, const char *fmt, va_list ap)
{
    char line[1100];
    size_t n = line_start(level, line, sizeof(line));
    int m = vsnprintf(line + n, sizeof(line) - n - 1, fmt, ap);
    size_t len = n + (m < 0                              ? 0
                      : (size_t)m < sizeof(line) - n - 1 ? (size_t)m
                                                         : sizeof(line) - n - 2);
    line[len++] = '\n';
    struct iovec iov = {line, len};
    write_line(&iov, 1);
}

void log_text(enum log_level level, const char *head, const char *text)
{
    if (!enabled(level))
        return;
    char start[64];
    size_t n = line_start(level, start, sizeof(start));
    struct iovec iov[4] = {
        {start, n}, {(char *)head, strlen(head)}, {(char *)text, strlen(text)}, {(char *)"\n", 1}};
    write_line(iov, 4);
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
