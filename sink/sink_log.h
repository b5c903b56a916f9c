/* sink_log.h - how sinks log: one formatted line through the collector's log function,
 * and one limiter for lines about a trouble that lasts (writes or syncs failing, a broker
 * away, a reader that stopped), so an outage of hours stays a few lines.
 *
 * Sinks never include collector/: the collector hands them a sink_log_fn. sink_log_say and
 * sink_log_now_ms may be called from any thread. A struct sink_log_limit has one owner
 * (a thread, or whoever holds the lock that guards it); nothing in it is shared.
 */
#ifndef INJECTOR_SINK_LOG_H
#define INJECTOR_SINK_LOG_H

#include <stdbool.h>
#include <stdint.h>

/* A line's level is a syslog priority; msg is one line, valid for the call. Called from
 * any thread. */
enum sink_log_level {
    SINK_LOG_ERROR = 3,
    SINK_LOG_WARNING = 4,
    SINK_LOG_NOTICE = 5,
    SINK_LOG_INFO = 6,
};
typedef void (*sink_log_fn)(int level, const char *msg);

/* Format one line and hand it to log (nothing when log is NULL). Lines longer than 1 KiB
 * are cut. */
void sink_log_say(sink_log_fn log, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The monotonic clock in milliseconds: what the sinks time back-offs and limiters with.
 * Defined weak: a unit test may define its own (a clock it moves on) to drive a trouble of
 * minutes in a moment. */
int64_t sink_log_now_ms(void);

/* A streak of lines about one trouble: the first `burst` lines are said, then at most one
 * every `every_ms`, and the lines left out meanwhile are counted so the next line said
 * (or the one that ends the trouble) can say how many. Zero the state to start
 * (SINK_LOG_LIMIT). */
struct sink_log_limit {
    unsigned burst;   /* lines said in full at the start of a streak (0 counts as 1) */
    int64_t every_ms; /* then one this often */
    unsigned streak;  /* lines asked for in this streak */
    uint64_t untold;  /* left out since the last line said */
    int64_t next_ms;  /* past the burst, when the next line may be said */
    int64_t last_ms;  /* when the last line was asked for */
};

#define SINK_LOG_LIMIT(b, ms) ((struct sink_log_limit){.burst = (b), .every_ms = (ms)})

/* A line is due at now_ms: returns whether to say it. When it is to be said, *untold (may
 * be NULL) gets how many lines were left out since the last one said (then 0 again); when
 * not, it is counted as left out. */
bool sink_log_limit_pass(struct sink_log_limit *l, int64_t now_ms, uint64_t *untold);

/* A line was said without asking (the end of a trouble that had been announced): the next
 * one waits every_ms from now, as if it had passed. */
void sink_log_limit_said(struct sink_log_limit *l, int64_t now_ms);

/* The trouble is over: returns how many lines were left out since the last one said, and
 * the next streak starts with its burst again. */
uint64_t sink_log_limit_end(struct sink_log_limit *l);

/* Things work at now_ms: a streak ends only once no line was asked for during quiet_ms, so a
 * trouble that comes and goes (a sync that fails, then works, then fails) stays one streak
 * rather than a "failed" and a "works again" line per round. Returns true when it ends now
 * (say so), with *untold (may be NULL) the lines left out since the last one said; false
 * when no streak is going on or the last trouble is too recent. */
bool sink_log_limit_quiet(struct sink_log_limit *l, int64_t now_ms, int64_t quiet_ms,
                          uint64_t *untold);

/* Whether a streak is going on (a line was asked for since the last end). */
static inline bool sink_log_limit_active(const struct sink_log_limit *l)
{
    return l->streak > 0;
}

#endif
