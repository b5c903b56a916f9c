/* history.h - the last hour of the collector's counters, for GET /v1/history.
 *
 * A ring of HISTORY_POINTS samples, one per step (10 s unless configured): the rates per
 * second of the counters HISTORY_SERIES names, over the step, and the gauges at its end.
 * Each sample reads the same report the stats line shows (stats.h: the collector's
 * counters, the journal's and the sinks'), so nothing is counted twice and a series can
 * name any counter a report has. Rates are counter differences divided by the step's real
 * elapsed time (a monotonic clock, so a late timer gives the right rate over a longer
 * step); every value is rounded to 0.1. A counter that went down (a sink started anew)
 * counts from 0 again: its difference is its new value, not a negative rate.
 *
 * The first call to history_sample() only takes the counters as they are; each later one
 * adds a point. All memory is taken by history_new(); a sample allocates nothing.
 *
 * Loop thread only (it reads the report there, as the stats line does).
 */
#ifndef INJECTOR_HISTORY_H
#define INJECTOR_HISTORY_H

#include "collector/stats.h"

#include <stdint.h>

#include <jansson.h>

/* Samples kept: an hour at the default 10 s step. */
#define HISTORY_POINTS 360

/* The default step, seconds (--history-step). */
#define HISTORY_STEP_S 10

/* HISTORY_SERIES(S): every series of /v1/history, in its order.
 *   S(key, KIND, {"counter", "label"|"*"|NULL}, ...) the sum of the counters named, each by
 *                                              its name in a report (and a family member's
 *                                              label, or "*": every member of the family,
 *                                              whichever the family has), the collector's or
 *                                              a sink's
 * KIND: RATE, per second over the step; GAUGE, the value at the step's end; FORWARDED, an
 * object of rates, one per outcome that goes to the sinks (change_outcome_forwarded: raise,
 * update, clear, expire, and any outcome added there), from the family named.
 *
 *   refused: every refusal, whatever refused it: malformed (datagrams refused whole) +
 *            invalid (alerts refused inside a datagram), every parser reason; the
 *            allow-list (rejected_acl), the signature check (auth_refused, every reason),
 *            the per-sender rate limit (rate_limited) and the active-alert cap
 *            (refused_full). A person on call asks "is anything turned away", not which
 *            check did it: /v1/stats tells them apart.
 *   lost:    journal_lost (neither disk nor memory had room), journal_skipped (never
 *            published: a segment that could not be read back), output_lost (the JSON-lines
 *            output's buffer full), returned (unroutable at the broker, with
 *            --amqp-mandatory), shutdown_unread (datagrams left in the sockets when stopping
 *            gave up), nomem (alerts not applied for want of memory). The kernel's drops
 *            are their own series, kernel_drops. */
#define HISTORY_SERIES(S)                                                                          \
    S(datagrams, RATE, {"datagrams", NULL})                                                        \
    S(changes, FORWARDED, {"outcomes", NULL})                                                      \
    S(duplicates, RATE, {"outcomes", "duplicate"})                                                 \
    S(kernel_drops, RATE, {"kernel_drops", NULL})                                                  \
    S(refused, RATE, {"malformed", NULL}, {"invalid", NULL}, {"rejected_acl", NULL},               \
      {"rate_limited", NULL}, {"refused_full", NULL}, {"auth_refused", "*"})                       \
    S(lost, RATE, {"journal_lost", NULL}, {"journal_skipped", NULL}, {"output_lost", NULL},        \
      {"returned", NULL}, {"shutdown_unread", NULL}, {"nomem", NULL})                              \
    S(lag_changes, GAUGE, {"lag_changes", NULL})                                                   \
    S(lag_seconds, GAUGE, {"lag_seconds", NULL})

struct history_config {
    unsigned step_s; /* the sampling step the caller keeps, for the document; 0: 10 */
};

struct history;

/* Returns 0 and *out, or -ENOMEM. */
int history_new(const struct history_config *cfg, struct history **out);

/* Safe on NULL. */
void history_free(struct history *h);

/* Take one sample from r (valid for the call): mono_ms a monotonic clock (the step's length),
 * wall_ms the time of day (ms since the epoch; the point's t). The first call only records
 * the counters; every later call adds a point, the oldest going once HISTORY_POINTS are kept.
 * A call no later than the previous one on the monotonic clock adds nothing (no elapsed
 * time to divide by). */
void history_sample(struct history *h, const struct stats_report *r, int64_t mono_ms,
                    int64_t wall_ms);

/* Points kept now. */
size_t history_points(const struct history *h);

/* The document GET /v1/history answers, oldest point first:
 *   {"step_seconds":10,"points":N,"t":[unix seconds, ...],
 *    "series":{"datagrams":[...],"changes":{"raise":[...],...},...,"lag_seconds":[...]}}
 * Whole numbers are JSON integers. Returns a new reference, or NULL without memory. */
json_t *history_json(const struct history *h);

#endif
