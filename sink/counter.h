/* counter.h - a counter or gauge as a report shows it: name, kind, unit, help, value.
 *
 * The one vocabulary for everything the collector reports: its own registry
 * (collector/stats.h) and each sink's counters (sink.h, sink_counters) are handed to the
 * same renderers (the stats line, /v1/stats, /metrics) as struct counter values, so a
 * counter is declared once, where it is kept, and shown the same way everywhere.
 * Header only: types and small helpers for reporters; any thread.
 */
#ifndef INJECTOR_COUNTER_H
#define INJECTOR_COUNTER_H

#include <stdint.h>

enum counter_kind {
    COUNTER_TOTAL, /* only grows (Prometheus counter, name_total) */
    COUNTER_GAUGE, /* a level, set by its owner before a report */
    COUNTER_INFO,  /* a string (the broker node in use): name_info{name="text"} 1 */
};

enum counter_unit {
    COUNTER_UNIT_NONE,
    COUNTER_UNIT_BYTES,
    COUNTER_UNIT_SECONDS, /* a duration: shown with ms precision, value in .seconds */
};

/* When the one-line stats summary shows it. */
enum counter_line {
    COUNTER_LINE_ALWAYS,
    COUNTER_LINE_NONZERO, /* once it happened: a quiet line while all is well */
    COUNTER_LINE_NEVER,
};

struct counter {
    const char *name; /* stats line and JSON key; Prometheus injector_<name>[_total] */
    enum counter_kind kind;
    enum counter_unit unit;
    enum counter_line line;
    const char *help; /* one sentence, for Prometheus HELP */
    uint64_t value;   /* TOTAL and GAUGE without a unit of time */
    double seconds;   /* COUNTER_UNIT_SECONDS */
    const char *text; /* COUNTER_INFO; valid for the call only */
    /* A family member (outcomes by outcome, refusals by reason): the family's name is
     * name, each member has a label; NULL otherwise. */
    const char *label_name, *label;
    const char *line_name; /* its token on the stats line, when not name */
};

/* Called once per counter by whoever reports them; c is valid for the call only. */
typedef void (*counter_fn)(const struct counter *c, void *data);

static inline void counter_total(counter_fn fn, void *data, const char *name,
                                 enum counter_unit unit, uint64_t value, const char *help)
{
    struct counter c = {
        .name = name, .kind = COUNTER_TOTAL, .unit = unit, .help = help, .value = value};
    fn(&c, data);
}

static inline void counter_gauge(counter_fn fn, void *data, const char *name,
                                 enum counter_unit unit, uint64_t value, const char *help)
{
    struct counter c = {
        .name = name, .kind = COUNTER_GAUGE, .unit = unit, .help = help, .value = value};
    fn(&c, data);
}

static inline void counter_seconds(counter_fn fn, void *data, const char *name, double seconds,
                                   const char *help)
{
    struct counter c = {.name = name,
                        .kind = COUNTER_GAUGE,
                        .unit = COUNTER_UNIT_SECONDS,
                        .help = help,
                        .seconds = seconds};
    fn(&c, data);
}

static inline void counter_info(counter_fn fn, void *data, const char *name, const char *text,
                                const char *help)
{
    struct counter c = {.name = name, .kind = COUNTER_INFO, .help = help, .text = text};
    fn(&c, data);
}

#endif
