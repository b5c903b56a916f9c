/* outbox.c - bounded queue plus spool, in version order, between two threads. */
#include "sink/outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#define SYNC_FDS 32

struct outbox {
    pthread_mutex_t mu;
    struct outbox_msg **ring;
    size_t cap, head, count;
    struct spool *spool; /* NULL without a spool directory */
    bool spooling;       /* newer changes go to the spool until it is read dry */
    int wakefd;
    uint64_t lost, spool_errors;
};

static void wake(struct outbox *ob)
{
    uint64_t one = 1;
    /* EAGAIN means the counter is already non-zero: the publisher will wake anyway. */
    if (write(ob->wakefd, &one, sizeof(one)) < 0) {
    }
}

int outbox_new(const struct outbox_config *cfg, struct outbox **out, struct spool_recovery *rec)
{
    struct spool_recovery tmp;
    int rc = -ENOMEM;
    struct outbox *ob = calloc(1, sizeof(*ob));
    if (ob == NULL)
        return -ENOMEM;
    pthread_mutex_init(&ob->mu, NULL);
    ob->wakefd = -1;
    ob->cap = cfg->capacity ? cfg->capacity : 1;
    if ((ob->ring = calloc(ob->cap, sizeof(*ob->ring))) == NULL)
        goto fail;
    if ((ob->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    if (rec == NULL)
        rec = &tmp;
    memset(rec, 0, sizeof(*rec));
    if (cfg->spool_dir != NULL) {
        if ((rc = spool_open(cfg->spool_dir, &ob->spool, rec)) != 0)
            goto fail;
        /* What a previous run left is older than anything this run will produce. */
        ob->spooling = rec->records > 0;
    }
    *out = ob;
    return 0;
fail:
    outbox_free(ob);
    return rc;
}

void outbox_free(struct outbox *ob)
{
    if (ob == NULL)
        return;
    for (size_t i = 0; i < ob->count; i++)
        free(ob->ring[(ob->head + i) % ob->cap]);
    free(ob->ring);
    spool_close(ob->spool);
    if (ob->wakefd >= 0)
        close(ob->wakefd);
    pthread_mutex_destroy(&ob->mu);
    free(ob);
}

static struct outbox_msg *msg_new(uint64_t version, const char *rk, size_t rk_len, const char *body,
                                  size_t body_len)
{
    struct outbox_msg *m = malloc(sizeof(*m) + rk_len + body_len);
    if (m == NULL)
        return NULL;
    m->version = version;
    m->rk_len = (uint16_t)rk_len;
    m->body_len = (uint32_t)body_len;
    m->from_spool = false;
    memcpy(m->data, rk, rk_len);
    memcpy(m->data + rk_len, body, body_len);
    return m;
}

int outbox_push(struct outbox *ob, uint64_t version, const char *rk, size_t rk_len,
                const char *body, size_t body_len)
{
    int rc = 0;
    if (rk_len > UINT16_MAX || body_len > UINT32_MAX)
        return -EMSGSIZE;
    /* Allocate outside the lock; most pushes go to memory. */
    struct outbox_msg *m = msg_new(version, rk, rk_len, body, body_len);

    pthread_mutex_lock(&ob->mu);
    if (!ob->spooling && ob->count < ob->cap && m != NULL) {
        ob->ring[(ob->head + ob->count) % ob->cap] = m;
        if (ob->count++ == 0)
            wake(ob);
        m = NULL;
    } else if (ob->spool != NULL) {
        ob->spooling = true;
        rc = spool_append(ob->spool, version, rk, (uint16_t)rk_len, body, (uint32_t)body_len);
        if (rc != 0) {
            ob->lost++;
            ob->spool_errors++;
        }
    } else {
        ob->lost++;
        rc = m == NULL ? -ENOMEM : -ENOBUFS;
    }
    pthread_mutex_unlock(&ob->mu);
    free(m);
    return rc;
}

int outbox_flush(struct outbox *ob)
{
    int rc = 0;
    pthread_mutex_lock(&ob->mu);
    if (ob->spool != NULL) {
        uint64_t before = spool_lost(ob->spool);
        rc = spool_flush(ob->spool);
        if (rc != 0) {
            ob->lost += spool_lost(ob->spool) - before;
            ob->spool_errors++;
        }
        if (ob->spooling)
            wake(ob);
    }
    pthread_mutex_unlock(&ob->mu);
    return rc;
}

struct outbox_msg *outbox_take(struct outbox *ob)
{
    struct outbox_msg *m = NULL;
    pthread_mutex_lock(&ob->mu);
    if (ob->count > 0) {
        m = ob->ring[ob->head];
        ob->head = (ob->head + 1) % ob->cap;
        ob->count--;
    } else if (ob->spooling) {
        struct spool_record r;
        int rc = spool_read(ob->spool, &r);
        if (rc == 0) {
            m = msg_new(r.version, r.rk, r.rk_len, r.body, r.body_len);
            if (m != NULL)
                m->from_spool = true;
            else
                ob->lost++; /* read past and never published: counted, not silent */
        } else if (rc == -EAGAIN && spool_drained(ob->spool)) {
            /* Dry: back to memory. Seal the segment so a later spooling period starts a
             * new one and replay order stays segment order. */
            ob->spooling = false;
            spool_seal(ob->spool);
        }
    }
    pthread_mutex_unlock(&ob->mu);
    return m;
}

void outbox_confirmed(struct outbox *ob, struct outbox_msg *m)
{
    if (ob->spool != NULL) {
        pthread_mutex_lock(&ob->mu);
        spool_confirm(ob->spool, m->version);
        pthread_mutex_unlock(&ob->mu);
    }
    free(m);
}

void outbox_sync(struct outbox *ob)
{
    int fds[SYNC_FDS];
    size_t n = 0;
    if (ob->spool == NULL)
        return;
    pthread_mutex_lock(&ob->mu);
    n = spool_sync_fds(ob->spool, fds, SYNC_FDS);
    pthread_mutex_unlock(&ob->mu);
    for (size_t i = 0; i < n; i++) {
        fsync(fds[i]);
        close(fds[i]);
    }
}

int outbox_wakefd(const struct outbox *ob)
{
    return ob->wakefd;
}

void outbox_clear_wake(struct outbox *ob)
{
    uint64_t v;
    if (read(ob->wakefd, &v, sizeof(v)) < 0) {
    }
}

/* Write one run of consecutive in-memory changes as a segment of its own. */
static int write_run(struct outbox *ob, struct spool_record *recs, size_t *n, long *spooled)
{
    if (*n == 0)
        return 0;
    int rc = spool_write_segment(ob->spool, recs, *n);
    if (rc == 0)
        *spooled += (long)*n;
    else
        ob->lost += *n;
    *n = 0;
    return rc;
}

long outbox_spool_rest(struct outbox *ob, struct outbox_msg **unconfirmed, size_t n)
{
    long spooled = 0;
    int rc = 0;
    size_t total = n + ob->count, k = 0;
    struct spool_record *recs = NULL;

    if (total == 0)
        return 0; /* nothing left over: nothing to spool, nothing lost */

    if (ob->spool == NULL || (recs = calloc(total ? total : 1, sizeof(*recs))) == NULL) {
        for (size_t i = 0; i < n; i++)
            if (!unconfirmed[i]->from_spool)
                ob->lost++;
        ob->lost += ob->count;
        rc = ob->spool == NULL ? -ENOENT : -ENOMEM;
        goto out;
    }
    /* Unconfirmed changes read from the spool are still on disk; the ones around them are
     * written as separate runs so that no segment spans a version range another holds. */
    for (size_t i = 0; i < n; i++) {
        struct outbox_msg *m = unconfirmed[i];
        if (m->from_spool) {
            if (write_run(ob, recs, &k, &spooled) != 0)
                rc = -EIO;
            continue;
        }
        recs[k++] = (struct spool_record){m->version, outbox_msg_rk(m), m->rk_len,
                                          outbox_msg_body(m), m->body_len};
    }
    for (size_t i = 0; i < ob->count; i++) {
        struct outbox_msg *m = ob->ring[(ob->head + i) % ob->cap];
        recs[k++] = (struct spool_record){m->version, outbox_msg_rk(m), m->rk_len,
                                          outbox_msg_body(m), m->body_len};
    }
    if (write_run(ob, recs, &k, &spooled) != 0)
        rc = -EIO;
out:
    free(recs);
    for (size_t i = 0; i < n; i++)
        free(unconfirmed[i]);
    for (size_t i = 0; i < ob->count; i++)
        free(ob->ring[(ob->head + i) % ob->cap]);
    ob->count = 0;
    return rc != 0 ? rc : spooled;
}

void outbox_stats(struct outbox *ob, struct outbox_stats *out)
{
    pthread_mutex_lock(&ob->mu);
    out->queued = ob->count;
    out->spooled = ob->spool != NULL ? spool_appended(ob->spool) : 0;
    out->spool_bytes = ob->spool != NULL ? spool_bytes(ob->spool) : 0;
    out->lost = ob->lost;
    out->spool_errors = ob->spool_errors;
    pthread_mutex_unlock(&ob->mu);
}
