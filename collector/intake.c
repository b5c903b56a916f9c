/* intake.c - receive thread + single-producer single-consumer queue of chunks per socket. */
#include "collector/intake.h"

#include "collector/log.h"
#include "sink/change.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

/* ---- the pool: one cap over every intake's chunks ---------------------------------- */

/* A chunk of packed records. The producer (receive thread) appends records and publishes
 * how far it wrote with a release store of `used`; when a record does not fit, it stores
 * the final `used`, then `next` (release): a consumer that sees `next` set also sees the
 * final `used`. The consumer frees a chunk once it has read up to the final `used`. */
struct chunk {
    _Atomic size_t used;
    struct chunk *_Atomic next;
    size_t size; /* bytes mapped, this header included */
    struct chunk *free_next;
    /* records follow, 8-aligned */
};

#define HDR_SIZE ((sizeof(struct chunk) + 7) & ~(size_t)7)

struct intake_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond; /* a chunk was given back, the cap changed, or a stop */
    size_t chunk_size;
    _Atomic size_t cap;
    _Atomic size_t mapped; /* every chunk, the free ones included */
    struct chunk *free;    /* standard-size chunks kept for reuse */
    size_t n_free, reserve;
};

int intake_pool_new(size_t cap, struct intake_pool **out)
{
    if (cap < 4096)
        return -EINVAL;
    struct intake_pool *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    p->chunk_size = INTAKE_CHUNK_SIZE;
    if (cap < 8 * (size_t)INTAKE_CHUNK_SIZE) {
        p->chunk_size = (cap / 8 + page - 1) / page * page;
        if (p->chunk_size < 16 * 1024)
            p->chunk_size = 16 * 1024;
    }
    /* Two spare chunks: a consumer that keeps up hands chunks back to a producer that
     * needs them without a map/unmap pair each time. */
    p->reserve = 2;
    atomic_init(&p->cap, cap);
    atomic_init(&p->mapped, 0);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    if (pthread_mutex_init(&p->lock, NULL) != 0) {
        pthread_condattr_destroy(&ca);
        free(p);
        return -ENOMEM;
    }
    if (pthread_cond_init(&p->cond, &ca) != 0) {
        pthread_condattr_destroy(&ca);
        pthread_mutex_destroy(&p->lock);
        free(p);
        return -ENOMEM;
    }
    pthread_condattr_destroy(&ca);
    *out = p;
    return 0;
}

void intake_pool_free(struct intake_pool *p)
{
    if (p == NULL)
        return;
    while (p->free != NULL) {
        struct chunk *c = p->free;
        p->free = c->free_next;
        munmap(c, c->size);
    }
    pthread_cond_destroy(&p->cond);
    pthread_mutex_destroy(&p->lock);
    free(p);
}

void intake_pool_set_cap(struct intake_pool *p, size_t cap)
{
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->cap, cap < 4096 ? 4096 : cap);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

size_t intake_pool_memory(const struct intake_pool *p)
{
    return atomic_load_explicit(&p->mapped, memory_order_relaxed);
}

/* Queue memory stays out of forked children (the snapshot writer): fork() would copy the
 * page tables of every populated chunk, up to --queue-memory, mid-burst (and mark the pages
 * copy-on-write under the receive thread), for a child that never reads them. Advice only:
 * a kernel that refuses it costs the copy, nothing else. */
static void not_inherited(void *m, size_t size)
{
    (void)madvise(m, size, MADV_DONTFORK);
}

static struct chunk *chunk_map(size_t size)
{
    /* mmap, not malloc: unmapping gives the memory straight back to the system, where a
     * freed malloc block may stay in the heap. MAP_POPULATE: the pages are faulted in by
     * this one call, not one trap per 4 KiB as the records land (measured: the receive
     * thread's CPU per datagram 0.74 us with it, 0.84 without). */
    void *m =
        mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    not_inherited(m, size);
    struct chunk *c = m;
    atomic_init(&c->used, 0);
    atomic_init(&c->next, NULL);
    c->size = size;
    c->free_next = NULL;
    return c;
}

/* The size of a chunk for a record of `need` bytes: the standard size, or bigger for a
 * record that does not fit one. */
static size_t chunk_size_for(const struct intake_pool *p, size_t need)
{
    if (HDR_SIZE + need <= p->chunk_size)
        return p->chunk_size;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (HDR_SIZE + need + page - 1) / page * page;
}

/* Pool lock held. Returns a spare chunk of `size`, or NULL and *grant: the bytes the caller
 * may now map (counted in `mapped` already), 0 at the cap. force: grant even past the cap.
 * Spares that had to go to make room for a bigger chunk are put on *unmap (the caller
 * unmaps them after unlocking). The mapping itself is done by the caller without the lock,
 * so the loop thread's pool_put never waits behind a system call. */
static struct chunk *pool_take_locked(struct intake_pool *p, size_t size, bool force, size_t *grant,
                                      struct chunk **unmap)
{
    *grant = 0;
    if (size == p->chunk_size && p->free != NULL) {
        struct chunk *c = p->free;
        p->free = c->free_next;
        p->n_free--;
        atomic_store_explicit(&c->used, 0, memory_order_relaxed);
        atomic_store_explicit(&c->next, NULL, memory_order_relaxed);
        c->free_next = NULL;
        return c;
    }
    size_t cap = atomic_load(&p->cap);
    while (atomic_load(&p->mapped) + size > cap && p->free != NULL) {
        struct chunk *c = p->free;
        p->free = c->free_next;
        p->n_free--;
        atomic_fetch_sub(&p->mapped, c->size);
        c->free_next = *unmap;
        *unmap = c;
    }
    if (atomic_load(&p->mapped) + size <= cap || force) {
        atomic_fetch_add(&p->mapped, size);
        *grant = size;
    }
    return NULL;
}

static void unmap_list(struct chunk *c)
{
    while (c != NULL) {
        struct chunk *next = c->free_next;
        munmap(c, c->size);
        c = next;
    }
}

/* Map a granted chunk; on failure the grant is returned to the pool. */
static struct chunk *pool_map(struct intake_pool *p, size_t grant)
{
    struct chunk *c = chunk_map(grant);
    if (c == NULL) {
        pthread_mutex_lock(&p->lock);
        atomic_fetch_sub(&p->mapped, grant);
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
    }
    return c;
}

/* The consumer is done with c: keep it as a spare, or unmap it. */
static void pool_put(struct intake_pool *p, struct chunk *c)
{
    struct chunk *unmap = NULL;
    pthread_mutex_lock(&p->lock);
    if (c->size == p->chunk_size && p->n_free < p->reserve &&
        atomic_load(&p->mapped) <= atomic_load(&p->cap)) {
        c->free_next = p->free;
        p->free = c;
        p->n_free++;
    } else {
        atomic_fetch_sub(&p->mapped, c->size);
        unmap = c;
    }
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (unmap != NULL)
        munmap(unmap, unmap->size);
}

/* ---- the queue's records -------------------------------------------------------------- */

struct record {
    uint32_t len;
    uint16_t truncated;
    uint16_t addrlen;
    int64_t received_ms;
    union {
        struct sockaddr sa;
        struct sockaddr_in in4;
        struct sockaddr_in6 in6;
    } from;
    /* the payload follows */
};

#define REC_HDR       ((sizeof(struct record) + 7) & ~(size_t)7)
#define REC_SIZE(len) ((REC_HDR + (size_t)(len) + 7) & ~(size_t)7)

/* Staging slots one cache line apart beyond 64 KiB: at a 64 KiB stride every slot would
 * start in the same cache set, and a batch of small datagrams would evict itself. */
#define SLOT_STRIDE (INTAKE_MAX_DATAGRAM + 64)

/* ---- the intake ----------------------------------------------------------------------- */

struct intake {
    uv_loop_t *loop;
    uv_async_t async; /* the thread's "a batch is queued" */
    uv_idle_t idle;   /* keeps delivering while a backlog remains */
    int handles_open;
    int fd;
    int wake_fd; /* eventfd: wakes the thread's poll for a stop */
    struct intake_pool *pool;
    intake_datagram_cb cb;
    void *data;
    pthread_t thread;
    bool started, stopped;
    _Atomic bool stop;

    /* receive thread only (until it is joined) */
    struct chunk *tail;
    size_t wpos;
    char *staging; /* batch * INTAKE_MAX_DATAGRAM, mapped */
    size_t staging_size;
    struct mmsghdr *msgs;
    struct iovec *iov;
    struct sockaddr_storage *names;

    /* loop thread only */
    struct chunk *head;
    size_t rpos;
    struct chunk *_Atomic head_pub; /* head, for the thread's "is the tail all we hold?" */

    /* statistics: each written by one thread only, read by both */
    _Atomic uint64_t received, received_bytes;   /* receive thread */
    _Atomic uint64_t delivered, delivered_bytes; /* loop thread */
    _Atomic uint64_t peak, peak_bytes, full_ns;  /* receive thread */
    _Atomic bool waiting;                        /* receive thread: at the cap now */
};

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Make what the thread wrote visible, and wake the loop thread (libuv coalesces: while a
 * wake-up is pending, this is one atomic load). */
static void publish(struct intake *in)
{
    atomic_store_explicit(&in->tail->used, in->wpos, memory_order_release);
    uv_async_send(&in->async);
}

/* A new tail chunk with room for a record of `need` bytes; waits while the pool is at its
 * cap (or the system has no memory to give). Returns false when told to stop meanwhile. */
static bool next_chunk(struct intake *in, size_t need)
{
    struct intake_pool *p = in->pool;
    size_t size = chunk_size_for(p, need);
    struct chunk *c = NULL;
    uint64_t t0 = 0;
    /* What is written so far becomes visible before we wait: the loop thread can drain it
     * and hand chunks back. */
    publish(in);
    while (c == NULL && !atomic_load(&in->stop)) {
        struct chunk *unmap = NULL;
        size_t grant = 0;
        pthread_mutex_lock(&p->lock);
        for (;;) {
            /* When the tail is all this intake holds, no chunk of ours will come back:
             * waiting could be forever (other listeners' tails, or a record bigger than the
             * cap). Then take one past the cap: it is exceeded by at most one chunk per
             * intake. */
            bool alone = atomic_load_explicit(&in->head_pub, memory_order_acquire) == in->tail;
            c = pool_take_locked(p, size, alone, &grant, &unmap);
            if (c != NULL || grant > 0 || atomic_load(&in->stop))
                break;
            if (t0 == 0) {
                t0 = mono_ns();
                atomic_store_explicit(&in->waiting, true, memory_order_relaxed);
            }
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += 1; /* every give-back, cap change and stop broadcasts: a safety net */
            pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        }
        pthread_mutex_unlock(&p->lock);
        unmap_list(unmap);
        if (grant > 0 && (c = pool_map(p, grant)) == NULL) {
            /* No memory from the system: wait as at the cap, the datagrams held stay. */
            if (t0 == 0) {
                t0 = mono_ns();
                atomic_store_explicit(&in->waiting, true, memory_order_relaxed);
            }
            struct timespec pause = {0, 10 * 1000000};
            nanosleep(&pause, NULL);
        }
    }
    if (t0 != 0) {
        atomic_fetch_add_explicit(&in->full_ns, mono_ns() - t0, memory_order_relaxed);
        atomic_store_explicit(&in->waiting, false, memory_order_relaxed);
    }
    if (c == NULL)
        return false;
    struct chunk *old = in->tail;
    atomic_store_explicit(&old->used, in->wpos, memory_order_release);
    atomic_store_explicit(&old->next, c, memory_order_release);
    in->tail = c;
    in->wpos = 0;
    return true;
}

/* Copy datagram i of the batch into the queue. False: stopped while waiting for memory. */
static bool append(struct intake *in, unsigned i, int64_t now_ms)
{
    const struct mmsghdr *m = &in->msgs[i];
    size_t len = m->msg_len;
    size_t need = REC_SIZE(len);
    if (in->wpos + need > in->tail->size - HDR_SIZE && !next_chunk(in, need))
        return false;
    struct record *r = (struct record *)((char *)in->tail + HDR_SIZE + in->wpos);
    socklen_t alen = m->msg_hdr.msg_namelen;
    if (alen > sizeof(r->from))
        alen = sizeof(r->from);
    r->len = (uint32_t)len;
    r->truncated = (m->msg_hdr.msg_flags & MSG_TRUNC) != 0;
    r->addrlen = (uint16_t)alen;
    r->received_ms = now_ms;
    memset(&r->from, 0, sizeof(r->from));
    memcpy(&r->from, &in->names[i], alen);
    memcpy((char *)r + REC_HDR, in->iov[i].iov_base, len);
    in->wpos += need;
    return true;
}

static void *run(void *arg)
{
    struct intake *in = arg;
    /* Ahead of the loop thread (nice 10 lower, this thread only on Linux): the intake must
     * keep the kernel's pace, the parser may lag (the queue absorbs it; at the cap the intake
     * sleeps, so it cannot starve the parser). Measured on the loaded 2-core machine: the
     * intake's rate vs. a bare recvmmsg loop 0.35 at the same nice, 0.67-0.75 at -10. Needs
     * CAP_SYS_NICE or RLIMIT_NICE (the unit's LimitNICE); without, it stays as it is. */
    errno = 0;
    int nice = getpriority(PRIO_PROCESS, 0);
    if (errno == 0 && setpriority(PRIO_PROCESS, 0, nice - 10 < -20 ? -20 : nice - 10) != 0) {
        /* EACCES: no limit allows it; EPERM: a system call filter refused it (the unit's
         * lets it through: tests/integration/systemd.sh tells the two apart by this line). */
        log_debug("intake: the receive thread stays at nice %d, the loop thread's "
                  "(setpriority: %s)",
                  nice, strerror(errno));
    }
    struct pollfd pf[2] = {{.fd = in->fd, .events = POLLIN}, {.fd = in->wake_fd, .events = POLLIN}};
    while (!atomic_load_explicit(&in->stop, memory_order_relaxed)) {
        for (unsigned i = 0; i < INTAKE_BATCH; i++) {
            in->msgs[i].msg_hdr.msg_namelen = sizeof(in->names[i]);
            in->msgs[i].msg_hdr.msg_flags = 0;
        }
        int k = recvmmsg(in->fd, in->msgs, INTAKE_BATCH, MSG_DONTWAIT, NULL);
        if (k <= 0) {
            /* Empty (EAGAIN), or a transient error (ICMP feedback and the like; reading it
             * clears it): nothing was lost. Sleep until there is more, or a stop. */
            if (k < 0 && errno == EINTR)
                continue;
            if (poll(pf, 2, -1) > 0 && (pf[1].revents & POLLIN)) {
                uint64_t v;
                if (read(in->wake_fd, &v, sizeof(v)) < 0) {
                    /* nothing to do: the flag is what counts */
                }
            }
            continue;
        }
        /* One clock read per batch: its datagrams arrived within microseconds. */
        int64_t now_ms = change_now_ms();
        uint64_t bytes = 0;
        for (int i = 0; i < k; i++)
            bytes += REC_SIZE(in->msgs[i].msg_len);
        /* Counted as received now: held by us from here on, delivered or dropped at close. */
        uint64_t rcv = atomic_load_explicit(&in->received, memory_order_relaxed) + (uint64_t)k;
        uint64_t rcvb = atomic_load_explicit(&in->received_bytes, memory_order_relaxed) + bytes;
        atomic_store_explicit(&in->received, rcv, memory_order_relaxed);
        atomic_store_explicit(&in->received_bytes, rcvb, memory_order_relaxed);
        uint64_t q = rcv - atomic_load_explicit(&in->delivered, memory_order_relaxed);
        uint64_t qb = rcvb - atomic_load_explicit(&in->delivered_bytes, memory_order_relaxed);
        if (q > atomic_load_explicit(&in->peak, memory_order_relaxed))
            atomic_store_explicit(&in->peak, q, memory_order_relaxed);
        if (qb > atomic_load_explicit(&in->peak_bytes, memory_order_relaxed))
            atomic_store_explicit(&in->peak_bytes, qb, memory_order_relaxed);
        for (int i = 0; i < k; i++)
            if (!append(in, (unsigned)i, now_ms))
                break;
        publish(in);
    }
    publish(in);
    return NULL;
}

/* Deliver at most max datagrams; returns how many. */
static size_t deliver(struct intake *in, size_t max)
{
    size_t n = 0;
    uint64_t done = atomic_load_explicit(&in->delivered, memory_order_relaxed);
    uint64_t done_bytes = atomic_load_explicit(&in->delivered_bytes, memory_order_relaxed);
    while (n < max) {
        struct chunk *c = in->head;
        size_t used = atomic_load_explicit(&c->used, memory_order_acquire);
        if (in->rpos >= used) {
            struct chunk *next = atomic_load_explicit(&c->next, memory_order_acquire);
            if (next == NULL)
                break;
            /* next was stored after the final used: look once more before leaving c. */
            if (in->rpos < atomic_load_explicit(&c->used, memory_order_acquire))
                continue;
            in->head = next;
            in->rpos = 0;
            atomic_store_explicit(&in->head_pub, next, memory_order_release);
            pool_put(in->pool, c);
            continue;
        }
        const struct record *r = (const struct record *)((const char *)c + HDR_SIZE + in->rpos);
        struct intake_datagram d = {
            .buf = (const char *)r + REC_HDR,
            .len = r->len,
            .from = &r->from.sa,
            .received_ms = r->received_ms,
            .truncated = r->truncated != 0,
        };
        in->rpos += REC_SIZE(r->len);
        in->cb(&d, in->data);
        n++;
        atomic_store_explicit(&in->delivered, ++done, memory_order_relaxed);
        done_bytes += REC_SIZE(d.len);
        atomic_store_explicit(&in->delivered_bytes, done_bytes, memory_order_relaxed);
    }
    return n;
}

static void on_idle(uv_idle_t *h);

/* One slice; while a backlog remains, the idle handle brings us back next iteration (after
 * timers and I/O had their turn) instead of the loop sleeping in poll. */
static void slice(struct intake *in)
{
    if (deliver(in, INTAKE_SLICE) == INTAKE_SLICE)
        uv_idle_start(&in->idle, on_idle);
    else
        uv_idle_stop(&in->idle);
}

static void on_async(uv_async_t *a)
{
    slice(a->data);
}

static void on_idle(uv_idle_t *h)
{
    slice(h->data);
}

static void destroy(struct intake *in)
{
    if (in->head != NULL) {
        /* Whatever is still queued is dropped (counted as queued in intake_stats). */
        struct chunk *c = in->head;
        while (c != NULL) {
            struct chunk *next = atomic_load(&c->next);
            pool_put(in->pool, c);
            c = next;
        }
    }
    if (in->staging != NULL)
        munmap(in->staging, in->staging_size);
    if (in->wake_fd >= 0)
        close(in->wake_fd);
    free(in->msgs);
    free(in->iov);
    free(in->names);
    free(in);
}

static void on_close(uv_handle_t *h)
{
    struct intake *in = h->data;
    if (--in->handles_open == 0)
        destroy(in);
}

int intake_new(uv_loop_t *loop, const struct intake_config *cfg, struct intake **out)
{
    int rc = -ENOMEM;
    struct intake *in = calloc(1, sizeof(*in));
    if (in == NULL)
        return -ENOMEM;
    in->loop = loop;
    in->fd = cfg->fd;
    in->wake_fd = -1;
    in->pool = cfg->pool;
    in->cb = cfg->cb;
    in->data = cfg->data;
    in->staging_size = (size_t)INTAKE_BATCH * SLOT_STRIDE;
    /* Mapped, not malloc'd: only the pages datagrams touch become resident. */
    in->staging = mmap(NULL, in->staging_size, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (in->staging == MAP_FAILED) {
        in->staging = NULL;
        goto fail;
    }
    not_inherited(in->staging, in->staging_size);
    in->msgs = calloc(INTAKE_BATCH, sizeof(*in->msgs));
    in->iov = calloc(INTAKE_BATCH, sizeof(*in->iov));
    in->names = calloc(INTAKE_BATCH, sizeof(*in->names));
    if (in->msgs == NULL || in->iov == NULL || in->names == NULL)
        goto fail;
    for (unsigned i = 0; i < INTAKE_BATCH; i++) {
        in->iov[i] = (struct iovec){in->staging + (size_t)i * SLOT_STRIDE, INTAKE_MAX_DATAGRAM};
        in->msgs[i].msg_hdr.msg_name = &in->names[i];
        in->msgs[i].msg_hdr.msg_iov = &in->iov[i];
        in->msgs[i].msg_hdr.msg_iovlen = 1;
    }
    if ((in->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK)) < 0) {
        rc = -errno;
        goto fail;
    }
    /* The first chunk is granted whatever the cap: each intake needs its tail. */
    struct chunk *unmap = NULL;
    size_t grant = 0;
    pthread_mutex_lock(&in->pool->lock);
    in->tail = pool_take_locked(in->pool, in->pool->chunk_size, true, &grant, &unmap);
    pthread_mutex_unlock(&in->pool->lock);
    unmap_list(unmap);
    if (in->tail == NULL && (in->tail = pool_map(in->pool, grant)) == NULL)
        goto fail;
    in->head = in->tail;
    atomic_init(&in->head_pub, in->head);
    if ((rc = uv_async_init(loop, &in->async, on_async)) != 0)
        goto fail;
    uv_idle_init(loop, &in->idle);
    in->async.data = in->idle.data = in;
    in->handles_open = 2;

    /* The thread takes no signals: they are the loop thread's business (libuv's handlers). */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int prc = pthread_create(&in->thread, NULL, run, in);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (prc != 0) {
        uv_close((uv_handle_t *)&in->async, on_close);
        uv_close((uv_handle_t *)&in->idle, on_close);
        return -prc;
    }
    /* "intake" in top -H, ps -L and /proc/PID/task/TID/comm (the benchmark reads its CPU
     * time there); named here, so it has the name before intake_new returns. */
    pthread_setname_np(in->thread, "intake");
    in->started = true;
    *out = in;
    return 0;
fail:
    destroy(in);
    return rc;
}

void intake_stop(struct intake *in)
{
    if (!in->started || in->stopped)
        return;
    atomic_store(&in->stop, true);
    uint64_t one = 1;
    if (write(in->wake_fd, &one, sizeof(one)) < 0) {
        /* an eventfd write fails only at its counter's maximum: the thread is awake then */
    }
    pthread_mutex_lock(&in->pool->lock);
    pthread_cond_broadcast(&in->pool->cond);
    pthread_mutex_unlock(&in->pool->lock);
    pthread_join(in->thread, NULL);
    in->stopped = true;
}

void intake_close(struct intake *in)
{
    if (in == NULL)
        return;
    intake_stop(in);
    uv_idle_stop(&in->idle);
    uv_close((uv_handle_t *)&in->async, on_close);
    uv_close((uv_handle_t *)&in->idle, on_close);
}

void intake_stats(const struct intake *in, struct intake_stats *o)
{
    /* delivered first: received only grows, so queued never comes out negative. */
    o->delivered = atomic_load_explicit(&in->delivered, memory_order_relaxed);
    uint64_t db = atomic_load_explicit(&in->delivered_bytes, memory_order_relaxed);
    o->received = atomic_load_explicit(&in->received, memory_order_acquire);
    uint64_t rb = atomic_load_explicit(&in->received_bytes, memory_order_acquire);
    o->queued = o->received - o->delivered;
    o->queued_bytes = rb > db ? rb - db : 0;
    o->peak = atomic_load_explicit(&in->peak, memory_order_relaxed);
    o->peak_bytes = atomic_load_explicit(&in->peak_bytes, memory_order_relaxed);
    o->full_ms = atomic_load_explicit(&in->full_ns, memory_order_relaxed) / 1000000u;
    o->waiting = atomic_load_explicit(&in->waiting, memory_order_relaxed);
}
