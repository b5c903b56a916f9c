/* outbox.h - the hand-off between the loop thread and the publisher thread.
 *
 * A bounded in-memory queue of encoded changes, backed by the on-disk spool: when the
 * queue is full (the broker is slow or down), changes go to the spool, and from then on
 * every newer change goes there too until the publisher has read the spool dry, so the
 * publisher always sees changes in version order: queue, then spool, then queue again.
 * The loop thread never waits here for anything but a short mutex.
 *
 * Threads: outbox_push/outbox_flush from the loop thread, outbox_take/outbox_confirmed/
 * outbox_sync from the publisher thread, outbox_new/outbox_spool_rest/outbox_free when
 * the publisher is not running. The stats getters from any thread.
 */
#ifndef INJECTOR_OUTBOX_H
#define INJECTOR_OUTBOX_H

#include "sink/spool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One change, encoded. Owned by whoever took it from the outbox, until outbox_confirmed. */
struct outbox_msg {
    uint64_t version;
    uint32_t body_len;
    uint16_t rk_len;
    bool from_spool; /* its record is still on disk: spooling it again would duplicate it */
    char data[];     /* routing key, then body */
};

static inline const char *outbox_msg_rk(const struct outbox_msg *m)
{
    return m->data;
}

static inline const char *outbox_msg_body(const struct outbox_msg *m)
{
    return m->data + m->rk_len;
}

struct outbox_config {
    size_t capacity;       /* changes held in memory */
    const char *spool_dir; /* NULL: no spool, a full queue loses changes (counted) */
};

struct outbox_stats {
    uint64_t queued;       /* in memory now */
    uint64_t spooled;      /* appended to the spool since start */
    uint64_t spool_bytes;  /* on disk (and buffered) now */
    uint64_t lost;         /* could not be queued nor spooled */
    uint64_t spool_errors; /* failed spool writes */
};

struct outbox;

/* Open the spool (recovering it) and build the queue. rec (may be NULL) gets what was
 * found on disk. Returns 0 and *out, or a negative errno (the spool directory). */
int outbox_new(const struct outbox_config *cfg, struct outbox **out, struct spool_recovery *rec);

/* Close the spool (flush, fsync) and free what is left in memory. Safe on NULL. */
void outbox_free(struct outbox *ob);

/* Loop thread: queue one change (copied). Returns 0, or a negative errno when it could be
 * neither queued nor spooled: it is lost, and counted. */
int outbox_push(struct outbox *ob, uint64_t version, const char *rk, size_t rk_len,
                const char *body, size_t body_len);

/* Loop thread, once per iteration: write spooled changes out (no fsync). Returns 0 or the
 * write error (counted; those changes are lost). */
int outbox_flush(struct outbox *ob);

/* Publisher: the next change in version order, or NULL when none is ready. */
struct outbox_msg *outbox_take(struct outbox *ob);

/* Publisher: m was confirmed by the broker; frees it. Must be called in version order. */
void outbox_confirmed(struct outbox *ob, struct outbox_msg *m);

/* Publisher, on a timer: fsync the spool segments written since the last sync (outside the
 * lock, so pushes do not wait for the disk). */
void outbox_sync(struct outbox *ob);

/* A descriptor that becomes readable when there may be something to take (eventfd). */
int outbox_wakefd(const struct outbox *ob);

/* Consume one wake-up (after the descriptor polled readable). */
void outbox_clear_wake(struct outbox *ob);

/* Shutdown, publisher stopped: write the unconfirmed changes (in order; those still on
 * disk are skipped) and everything still queued to the spool, then free those messages.
 * Returns how many changes were spooled, or a negative errno (no spool, or write error:
 * they are counted as lost). */
long outbox_spool_rest(struct outbox *ob, struct outbox_msg **unconfirmed, size_t n);

void outbox_stats(struct outbox *ob, struct outbox_stats *out);

#endif
