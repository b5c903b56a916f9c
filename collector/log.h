/* log.h - leveled logging to stderr, and rate limiting for messages a sender can provoke.
 *
 * Lines go to stderr: with a timestamp on a terminal, with a syslog priority prefix
 * ("<4>") when stderr is the journal (JOURNAL_STREAM set), which journald turns into the
 * entry's priority. log_msg and log_set_level: any thread (one fprintf per line). A
 * struct log_ratelimit belongs to one thread.
 */
#ifndef INJECTOR_LOG_H
#define INJECTOR_LOG_H

#include <stdbool.h>
#include <stdint.h>

enum log_level {
    LOG_LEVEL_ERROR = 3, /* syslog priorities, so the journal prefix is the level itself */
    LOG_LEVEL_WARNING = 4,
    LOG_LEVEL_NOTICE = 5,
    LOG_LEVEL_INFO = 6,
    LOG_LEVEL_DEBUG = 7,
};

/* Messages above this level are dropped; the default is info. Any thread (the level is
 * an atomic: the loop sets it on reload while the publisher thread logs). */
void log_set_level(enum log_level level);

/* The names by level ("error" at LOG_LEVEL_ERROR, ...; NULL below it), for the config. */
extern const char *const log_level_names[LOG_LEVEL_DEBUG + 1];

/* "error", "warning", "notice", "info", "debug". Returns 0 or -EINVAL. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* One line of any length, head then text, never cut (log_msg cuts a message at about 1 KB,
 * which every message but the stats line is far below; that line grows with the sinks'
 * counters and their texts). Any thread. */
void log_text(enum log_level level, const char *head, const char *text);

#define log_error(...)   log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_notice(...)  log_msg(LOG_LEVEL_NOTICE, __VA_ARGS__)
#define log_info(...)    log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)   log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

/* One rate limit per kind of message: at most LOG_RATELIMIT_BURST lines per window, then
 * silence, then one summary line ("... 1,234 more like this in the last 10 s"). */
#define LOG_RATELIMIT_BURST     5
#define LOG_RATELIMIT_WINDOW_MS 10000

struct log_ratelimit {
    const char *what; /* names the kind in the summary line: "malformed datagrams" */
    int64_t window_start_ms;
    unsigned used;
    uint64_t suppressed;
};

/* Log through rl at now_ms (any monotonic ms clock). */
void log_ratelimited(struct log_ratelimit *rl, int64_t now_ms, enum log_level level,
                     const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Print the summary for a window that has ended with suppressed lines, if any; call it
 * from a timer so a burst that stopped is still accounted for. */
void log_ratelimit_flush(struct log_ratelimit *rl, int64_t now_ms);

#endif
