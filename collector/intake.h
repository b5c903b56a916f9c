/* intake.h - a socket's receive thread and the queue it fills, so a burst waits in our
 * memory and not in the kernel's socket buffer.
 *
 * One intake per socket. Its thread only receives: recvmmsg batches into a staging buffer,
 * each datagram then copied with its sender, receive time and truncated flag into the tail
 * chunk of a single-producer single-consumer queue of chunks (large chunks of packed records:
 * no allocation per datagram), and the loop thread woken with uv_async_send once per batch,
 * never once per datagram. The loop thread delivers the datagrams to the callback in arrival
 * order, at most INTAKE_SLICE per loop iteration (an idle handle keeps it going while a
 * backlog remains, so HTTP and timers run during a long burst), and gives spent chunks back.
 *
 * Memory: the chunks of every intake of a pool count against one cap. At the cap the thread
 * stops reading and waits for the loop thread to give a chunk back; meanwhile the kernel's
 * socket buffer takes the rest, and what overflows it is counted by the kernel's drop
 * counter (SO_MEMINFO), so no loss goes uncounted. Chunks beyond a small reserve are unmapped
 * as soon as they are given back: memory returns to the system as the backlog drains.
 *
 * The receive thread runs at a nice value 10 below the process's when it may (CAP_SYS_NICE,
 * or RLIMIT_NICE: the unit's LimitNICE), so that on a busy machine it keeps the kernel's
 * pace ahead of the parser.
 *
 * Threads: everything here is called on the loop thread (the one that runs `loop`), except
 * intake_pool_set_cap and intake_pool_memory, which any thread may call. The receive thread
 * is internal.
 */
#ifndef INJECTOR_INTAKE_H
#define INJECTOR_INTAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/* recvmmsg batch. Measured here (bench-recvmmsg BATCH, and the intake thread's CPU time):
 * 20 (libuv's), 64 and 256 cost the same CPU per datagram within 2-4% (~0.53 us bare,
 * ~0.65 us for the intake): the kernel's work per datagram dwarfs the call. 64 keeps the
 * staging area at 4 MiB of address space (only the pages datagrams touch are resident). */
#define INTAKE_BATCH 64
/* Datagrams delivered per loop iteration and intake before timers, HTTP and the other
 * listeners get their turn (~1-3 ms of parsing). */
#define INTAKE_SLICE 1024
/* Chunk size when the cap allows (smaller caps get smaller chunks, see intake_pool_new). */
#define INTAKE_CHUNK_SIZE (1u << 20)

struct intake_pool;
struct intake;

/* A pool of queue memory shared by intakes: cap bytes in all (>= 4096). Chunks are
 * INTAKE_CHUNK_SIZE, or cap / 8 (at least 16 KiB) for caps below 8 MiB, so a small cap still
 * holds several chunks. Returns 0 and *out, or -ENOMEM, -EINVAL. */
int intake_pool_new(size_t cap, struct intake_pool **out);

/* Free the pool. Every intake that used it must have been closed (its close completed). Safe
 * on NULL. */
void intake_pool_free(struct intake_pool *p);

/* Change the cap (SIGHUP); an intake waiting for memory looks again. Any thread. */
void intake_pool_set_cap(struct intake_pool *p, size_t cap);

/* Queue memory mapped now, bytes (chunks holding datagrams, the intakes' current chunks and
 * the reserve). Any thread. */
size_t intake_pool_memory(const struct intake_pool *p);

struct intake_datagram {
    const char *buf; /* valid for the duration of the callback only */
    size_t len;
    const struct sockaddr *from;
    int64_t received_ms; /* wall clock (ms since the epoch) when the batch was read */
    bool truncated;      /* longer than INTAKE_MAX_DATAGRAM: buf holds only the start */
};

/* The largest datagram kept whole (UDP's own limit is 65,507 bytes over IPv4). */
#define INTAKE_MAX_DATAGRAM (64 * 1024)

/* Called on the loop thread for each datagram, in arrival order. It must not close the
 * intake. */
typedef void (*intake_datagram_cb)(const struct intake_datagram *d, void *data);

struct intake_config {
    int fd;                   /* a bound datagram socket; not owned (close it after intake_close) */
    struct intake_pool *pool; /* must outlive the intake */
    intake_datagram_cb cb;
    void *data;
};

/* Start the receive thread on cfg->fd. Returns 0 and *out, or a negative errno; then nothing
 * is left running and cb is never called. */
int intake_new(uv_loop_t *loop, const struct intake_config *cfg, struct intake **out);

/* Stop reading: the thread is told to stop and joined (it never blocks for long: it waits
 * in poll or for memory, and both wake up for this). What was queued stays queued and is
 * still delivered while the intake is open. Idempotent. */
void intake_stop(struct intake *in);

/* Stop (as intake_stop), drop what is still queued (see intake_stats first: it is counted
 * there as queued), and free once libuv has closed the handles. The fd may be closed as soon
 * as this returns. Safe on NULL. */
void intake_close(struct intake *in);

struct intake_stats {
    uint64_t received;     /* datagrams taken from the socket */
    uint64_t delivered;    /* datagrams handed to the callback */
    uint64_t queued;       /* received - delivered: waiting in the queue now */
    uint64_t queued_bytes; /* the queue memory they take (payload, sender, time: ~48 bytes
                              more than the payload each) */
    uint64_t peak;         /* the most ever queued at once (datagrams) */
    uint64_t peak_bytes;   /* the most queue bytes ever taken at once */
    uint64_t full_ms;      /* time the thread spent waiting for memory (the cap reached) */
    bool waiting;          /* the thread waits for memory now (intake_waiting) */
};

void intake_stats(const struct intake *in, struct intake_stats *out);

#endif
