/* sink.h - where changes go. The collector knows this interface and nothing else of sinks.
 *
 * A sink is a small struct of function pointers (statsite's model). The collector encodes
 * each forwarded change once and hands every sink the change and its JSON. Sinks are called
 * from the loop thread only and must not block it for long: one that talks to a slow peer
 * (AMQP) works on its own thread, reading the change journal (journal.h), which the
 * collector fills before any sink sees a change.
 */
#ifndef INJECTOR_SINK_H
#define INJECTOR_SINK_H

#include "sink/change.h"
#include "sink/counter.h"
#include "sink/sink_log.h" /* how sinks log: sink_log_fn, levels, the limiter */

#include <stddef.h>

struct sink;

struct sink_ops {
    const char *name;
    /* Take one change. json (len bytes, NUL-terminated, no newline) is valid for the call
     * only. Returns 0, or a negative errno when the change could not be taken (counted by
     * the caller; the sink logs the why). */
    int (*write)(struct sink *sk, const struct change *c, const char *json, size_t len);
    /* Push buffered output out; called once per loop iteration that wrote, and again on
     * later iterations while it returns -EAGAIN (output still waiting, nothing lost).
     * Returns 0, -EAGAIN, or another negative errno (logged by the caller); what could not
     * be written stays buffered for the next flush (a sink that has to drop it counts it).
     * Must not block. May be NULL. */
    int (*flush)(struct sink *sk);
    /* Reopen output (log rotation). May be NULL. */
    int (*reopen)(struct sink *sk);
    /* Report the sink's counters and gauges: fn(c, data) once each (counter.h), in a fixed
     * order, with names no other sink uses (a sink's own prefix where two could clash:
     * "file_lost"). Shown on the stats line, in /v1/stats under "sink" and in /metrics as
     * injector_sink_<name>. Loop thread, at each report. May be NULL. */
    void (*counters)(struct sink *sk, counter_fn fn, void *data);
    /* Flush and free. Called once; safe for a half-built sink. */
    void (*free)(struct sink *sk);
};

struct sink {
    const struct sink_ops *ops;
};

static inline int sink_write(struct sink *sk, const struct change *c, const char *json, size_t len)
{
    return sk->ops->write(sk, c, json, len);
}

static inline int sink_flush(struct sink *sk)
{
    return sk->ops->flush != NULL ? sk->ops->flush(sk) : 0;
}

static inline int sink_reopen(struct sink *sk)
{
    return sk->ops->reopen != NULL ? sk->ops->reopen(sk) : 0;
}

static inline void sink_counters(struct sink *sk, counter_fn fn, void *data)
{
    if (sk->ops->counters != NULL)
        sk->ops->counters(sk, fn, data);
}

static inline void sink_free(struct sink *sk)
{
    if (sk != NULL)
        sk->ops->free(sk);
}

#endif
