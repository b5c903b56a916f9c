/* test_intake.c - the receive thread and its queue on real UDP sockets on loopback: order,
 * sender and time; the memory cap (the thread waits, the kernel drops, the counts add up);
 * chunks given back; a datagram bigger than the cap; stop and close while datagrams wait. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/intake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

struct fixture {
    uv_loop_t loop;
    struct intake_pool *pool;
    struct intake *in;
    int rx, tx; /* the intake's socket; the sender's */
    struct sockaddr_in rx_addr, tx_addr;
    /* what the callback saw */
    long got;
    long out_of_order;
    long wrong_sender;
    long bad_time, truncated;
    size_t max_len;
    int64_t t_min, t_max;
    const char *last_buf; /* where the last datagram was, in the queue's memory */
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int bound_socket(struct sockaddr_in *a, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf)), 0);
    *a = (struct sockaddr_in){.sin_family = AF_INET};
    a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)a, sizeof(*a)), 0);
    socklen_t len = sizeof(*a);
    assert_int_equal(getsockname(fd, (struct sockaddr *)a, &len), 0);
    return fd;
}

/* Each datagram is "<n> " and then padding: n counts from 0. */
static void on_datagram(const struct intake_datagram *d, void *data)
{
    struct fixture *f = data;
    const struct sockaddr_in *from = (const struct sockaddr_in *)d->from;
    if (atol(d->buf) != f->got)
        f->out_of_order++;
    if (from->sin_family != AF_INET || from->sin_port != f->tx_addr.sin_port ||
        from->sin_addr.s_addr != f->tx_addr.sin_addr.s_addr)
        f->wrong_sender++;
    if (d->received_ms < f->t_min || d->received_ms > wall_ms())
        f->bad_time++;
    if (d->truncated)
        f->truncated++;
    if (d->len > f->max_len)
        f->max_len = d->len;
    f->last_buf = d->buf;
    f->got++;
}

static void open_fixture(struct fixture *f, size_t cap, int rcvbuf)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    assert_int_equal(intake_pool_new(cap, &f->pool), 0);
    f->rx = bound_socket(&f->rx_addr, rcvbuf);
    f->tx = bound_socket(&f->tx_addr, 0);
    int big = 4 << 20;
    setsockopt(f->tx, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
    f->t_min = wall_ms();
    struct intake_config ic = {.fd = f->rx, .pool = f->pool, .cb = on_datagram, .data = f};
    assert_int_equal(intake_new(&f->loop, &ic, &f->in), 0);
}

static void close_fixture(struct fixture *f)
{
    intake_close(f->in);
    assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&f->loop), 0);
    close(f->rx);
    close(f->tx);
    intake_pool_free(f->pool);
}

/* Send datagrams from..to-1, each `size` bytes (at least the number and a space). */
static void send_range(struct fixture *f, long from, long to, size_t size)
{
    static char buf[65536];
    for (long i = from; i < to; i++) {
        int n = snprintf(buf, sizeof(buf), "%ld ", i);
        if ((size_t)n < size)
            memset(buf + n, 'x', size - (size_t)n);
        size_t len = (size_t)n > size ? (size_t)n : size;
        ssize_t r;
        while ((r = sendto(f->tx, buf, len, 0, (struct sockaddr *)&f->rx_addr,
                           sizeof(f->rx_addr))) < 0 &&
               (errno == EAGAIN || errno == ENOBUFS || errno == EINTR)) {
        }
        assert_int_equal(r, (ssize_t)len);
    }
}

static void shrink_rcvbuf(struct fixture *f)
{
    int small = 4096;
    assert_int_equal(setsockopt(f->rx, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
}

static uint64_t kernel_drops(int fd)
{
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t len = sizeof(mem);
    assert_int_equal(getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len), 0);
    return mem[SK_MEMINFO_DROPS];
}

static struct intake_stats stats(const struct fixture *f)
{
    struct intake_stats s;
    intake_stats(f->in, &s);
    return s;
}

/* Run the loop until pred holds (checked every millisecond); fail after 20 s. */
struct wait {
    struct fixture *f;
    bool (*pred)(struct fixture *f);
    bool met;
    uint64_t deadline;
};

static void on_check(uv_timer_t *t)
{
    struct wait *w = t->data;
    if (w->pred(w->f) || uv_now(t->loop) > w->deadline) {
        w->met = w->pred(w->f);
        uv_timer_stop(t);
        uv_stop(t->loop);
    }
}

static void run_until(struct fixture *f, bool (*pred)(struct fixture *f))
{
    uv_timer_t t;
    struct wait w = {.f = f, .pred = pred, .deadline = uv_now(&f->loop) + 20000};
    uv_timer_init(&f->loop, &t);
    t.data = &w;
    uv_timer_start(&t, on_check, 1, 1);
    uv_run(&f->loop, UV_RUN_DEFAULT);
    uv_close((uv_handle_t *)&t, NULL);
    uv_run(&f->loop, UV_RUN_NOWAIT);
    assert_true(w.met);
}

/* Without running the loop (nothing is delivered meanwhile): wait until pred holds. */
static void wait_until(struct fixture *f, bool (*pred)(struct fixture *f))
{
    for (int i = 0; i < 20000 && !pred(f); i++) {
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    assert_true(pred(f));
}

static long want;

static bool got_all(struct fixture *f)
{
    return f->got >= want;
}

static bool received_all(struct fixture *f)
{
    return stats(f).received >= (uint64_t)want;
}

/* Send datagrams 0..n-1 in rounds of 50, each taken in whole by the thread before the
 * next: a socket buffer at the kernel's default size never overflows. */
static void send_rounds(struct fixture *f, long n, size_t size)
{
    for (long i = 0; i < n; i += 50) {
        long to = i + 50 < n ? i + 50 : n;
        send_range(f, i, to, size);
        want = to;
        wait_until(f, received_all);
    }
}

static bool received_all_or_waits(struct fixture *f)
{
    struct intake_stats s = stats(f);
    return s.waiting || s.received >= (uint64_t)want;
}

/* With the loop not consuming: send in rounds of 10 until the thread waits at the cap.
 * Returns how many were sent (all of them taken in, but for the rest of the last round). */
static long fill_to_cap(struct fixture *f, size_t size)
{
    long sent = 0;
    while (!stats(f).waiting) {
        send_range(f, sent, sent + 10, size);
        sent += 10;
        want = sent;
        wait_until(f, received_all_or_waits);
    }
    return sent;
}

static bool accounted(struct fixture *f)
{
    return (uint64_t)f->got + kernel_drops(f->rx) >= (uint64_t)want && stats(f).queued == 0;
}

static void test_intake_delivers_in_order_with_sender_and_time(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f, 64u << 20, 0);
    send_rounds(&f, 2000, 100);
    run_until(&f, got_all);
    assert_int_equal(f.got, want);
    assert_int_equal(f.out_of_order, 0);
    assert_int_equal(f.wrong_sender, 0);
    assert_int_equal(f.bad_time, 0);
    assert_int_equal(f.truncated, 0);
    assert_int_equal(kernel_drops(f.rx), 0);
    struct intake_stats s = stats(&f);
    assert_int_equal(s.received, 2000);
    assert_int_equal(s.delivered, 2000);
    assert_int_equal(s.queued, 0);
    assert_int_equal(s.queued_bytes, 0);
    assert_true(s.peak >= 1 && s.peak <= 2000);
    assert_true(s.peak_bytes >= s.peak * 100);
    close_fixture(&f);
}

/* With the loop thread not consuming, the thread fills the cap, waits, and the kernel's
 * small buffer overflows; once the loop runs, everything taken in is delivered in order and
 * the thread reads on. Every datagram sent is delivered or a kernel drop. */
static void test_intake_cap_makes_the_thread_wait_and_the_kernel_drop(void **st)
{
    (void)st;
    struct fixture f;
    size_t cap = 64 << 10;
    open_fixture(&f, cap, 0);
    long sent = fill_to_cap(&f, 200);
    /* the rest of the burst: a small socket buffer takes a few, the kernel drops the rest */
    shrink_rcvbuf(&f);
    want = 3000;
    send_range(&f, sent, want, 200);
    struct intake_stats s = stats(&f);
    assert_true(s.waiting);
    assert_true(s.received < (uint64_t)want);
    assert_int_equal(s.delivered, 0);
    /* the cap holds, give or take the one chunk past it when the tail is all one holds */
    assert_true(intake_pool_memory(f.pool) <= cap + cap / 4);
    /* queued also counts the rest of the batch the thread holds while it waits */
    size_t slack = INTAKE_BATCH * 256;
    assert_true(s.queued_bytes <= cap + slack);
    /* A measurable wait. */
    struct timespec pause = {0, 5000000};
    nanosleep(&pause, NULL);

    run_until(&f, accounted);
    uint64_t drops = kernel_drops(f.rx);
    assert_true(drops > 0);
    assert_int_equal((uint64_t)f.got + drops, (uint64_t)want);
    s = stats(&f);
    assert_int_equal(s.received, (uint64_t)f.got);
    assert_int_equal(s.delivered, (uint64_t)f.got);
    assert_false(s.waiting);
    assert_true(s.full_ms >= 5);
    assert_true(s.peak_bytes <= cap + slack);
    /* Delivered in order: the numbers go up, with gaps only where the kernel dropped. */
    assert_int_equal(f.wrong_sender, 0);
    close_fixture(&f);
}

/* Order with gaps: the callback of the test above counts any jump as out of order, so this
 * one checks the weaker property on its own. */
static long last_seen;
static long backwards;

static void on_datagram_mono(const struct intake_datagram *d, void *data)
{
    struct fixture *f = data;
    long n = atol(d->buf);
    if (n <= last_seen)
        backwards++;
    last_seen = n;
    f->got++;
}

static void test_intake_order_kept_across_a_wait_at_the_cap(void **st)
{
    (void)st;
    struct fixture f;
    memset(&f, 0, sizeof(f));
    assert_int_equal(uv_loop_init(&f.loop), 0);
    assert_int_equal(intake_pool_new(64 << 10, &f.pool), 0);
    f.rx = bound_socket(&f.rx_addr, 0);
    f.tx = bound_socket(&f.tx_addr, 0);
    struct intake_config ic = {.fd = f.rx, .pool = f.pool, .cb = on_datagram_mono, .data = &f};
    assert_int_equal(intake_new(&f.loop, &ic, &f.in), 0);
    last_seen = -1;
    backwards = 0;
    long sent = fill_to_cap(&f, 200);
    shrink_rcvbuf(&f);
    want = 3000;
    send_range(&f, sent, want, 200);
    run_until(&f, accounted);
    assert_true(kernel_drops(f.rx) > 0);
    assert_int_equal(backwards, 0);
    assert_int_equal((uint64_t)f.got + kernel_drops(f.rx), (uint64_t)want);
    close_fixture(&f);
}

/* A burst that needs many chunks: memory grows while it waits, and goes back to the
 * intake's own chunk and the pool's reserve once it is delivered. */
static void test_intake_chunks_are_given_back(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f, 64u << 20, 0);
    assert_int_equal(intake_pool_memory(f.pool), INTAKE_CHUNK_SIZE);
    /* 8,000 datagrams of 1,000 bytes: ~8 MiB queued */
    send_rounds(&f, 8000, 1000);
    assert_true(intake_pool_memory(f.pool) >= 8 * (size_t)INTAKE_CHUNK_SIZE);
    assert_int_equal(stats(&f).queued, 8000);
    run_until(&f, got_all);
    assert_int_equal(f.out_of_order, 0);
    assert_int_equal(kernel_drops(f.rx), 0);
    /* the tail chunk, plus at most the reserve of two */
    assert_true(intake_pool_memory(f.pool) <= 3 * (size_t)INTAKE_CHUNK_SIZE);
    close_fixture(&f);
}

/* A datagram larger than the whole cap still passes (the cap is exceeded by one chunk while
 * it is all the intake holds), whole. */
static void test_intake_datagram_bigger_than_the_cap(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f, 64 << 10, 0);
    want = 3;
    send_range(&f, 0, 3, 65000);
    run_until(&f, got_all);
    assert_int_equal(f.out_of_order, 0);
    assert_int_equal(f.truncated, 0);
    assert_int_equal(f.max_len, 65000);
    assert_int_equal(kernel_drops(f.rx), 0);
    close_fixture(&f);
    /* pool freed with nothing left over: ASan's leak check covers the chunks */
}

/* intake_stop: reading stops, what was queued is still delivered; more datagrams wait in
 * the socket. */
static void test_intake_stop_keeps_the_queue(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f, 64u << 20, 0);
    send_rounds(&f, 500, 100);
    intake_stop(f.in);
    intake_stop(f.in); /* idempotent */
    send_range(&f, 500, 600, 100);
    run_until(&f, got_all);
    assert_int_equal(f.got, 500);
    assert_int_equal(f.out_of_order, 0);
    struct intake_stats s = stats(&f);
    assert_int_equal(s.received, 500);
    assert_int_equal(s.queued, 0);
    /* the 100 sent after the stop are in the socket, not taken */
    uint32_t mem[SK_MEMINFO_VARS];
    socklen_t len = sizeof(mem);
    assert_int_equal(getsockopt(f.rx, SOL_SOCKET, SO_MEMINFO, mem, &len), 0);
    assert_true(mem[SK_MEMINFO_RMEM_ALLOC] > 0);
    close_fixture(&f);
}

/* Closing while datagrams are queued: the count was visible before (queued), nothing is
 * delivered after, and every chunk goes back (ASan would see a leak). */
static void test_intake_close_while_queued(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f, 64u << 20, 0);
    send_rounds(&f, 3000, 1000);
    struct intake_stats s = stats(&f);
    assert_int_equal(s.queued, 3000);
    assert_true(intake_pool_memory(f.pool) >= 3 * (size_t)INTAKE_CHUNK_SIZE);
    intake_close(f.in);
    assert_int_equal(uv_run(&f.loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(f.got, 0);
    /* everything back but the reserve */
    assert_true(intake_pool_memory(f.pool) <= 2 * (size_t)INTAKE_CHUNK_SIZE);
    assert_int_equal(uv_loop_close(&f.loop), 0);
    close(f.rx);
    close(f.tx);
    intake_pool_free(f.pool);
}

/* Raising the cap (SIGHUP) lets a waiting thread go on. */
static void test_intake_pool_cap_raised_while_waiting(void **st)
{
    (void)st;
    struct fixture f;
    size_t cap = 64 << 10;
    open_fixture(&f, cap, 0);
    long sent = fill_to_cap(&f, 200);
    /* a few more wait in the socket meanwhile */
    want = sent + 20;
    send_range(&f, sent, want, 200);
    intake_pool_set_cap(f.pool, 64u << 20);
    wait_until(&f, received_all);
    assert_false(stats(&f).waiting);
    run_until(&f, got_all);
    assert_int_equal(f.out_of_order, 0);
    assert_int_equal(kernel_drops(f.rx), 0);
    close_fixture(&f);
}

static void test_intake_pool_rejects_a_tiny_cap(void **st)
{
    (void)st;
    struct intake_pool *p = NULL;
    assert_int_equal(intake_pool_new(100, &p), -EINVAL);
    assert_null(p);
    intake_pool_free(NULL);
    intake_close(NULL);
}

/* Whether the page holding p is mapped in this process. */
static bool mapped(const void *p)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return msync((void *)((uintptr_t)p & ~(uintptr_t)(page - 1)), page, MS_ASYNC) == 0;
}

/* A forked child (the snapshot writer) does not get the queue's memory: fork() copied the
 * page tables of every chunk (populated, up to --queue-memory) mid-burst, for a child that
 * never reads them. */
static void test_intake_queue_memory_is_not_inherited_by_a_fork(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f, 64u << 20, 0);
    send_rounds(&f, 100, 100);
    run_until(&f, got_all);
    assert_non_null(f.last_buf);
    assert_true(mapped(f.last_buf));
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(mapped(f.last_buf) ? 1 : 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("the queue's chunk at %p is mapped in the forked child", (void *)f.last_buf);
    close_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_intake_delivers_in_order_with_sender_and_time),
        cmocka_unit_test(test_intake_cap_makes_the_thread_wait_and_the_kernel_drop),
        cmocka_unit_test(test_intake_order_kept_across_a_wait_at_the_cap),
        cmocka_unit_test(test_intake_chunks_are_given_back),
        cmocka_unit_test(test_intake_datagram_bigger_than_the_cap),
        cmocka_unit_test(test_intake_stop_keeps_the_queue),
        cmocka_unit_test(test_intake_close_while_queued),
        cmocka_unit_test(test_intake_pool_cap_raised_while_waiting),
        cmocka_unit_test(test_intake_pool_rejects_a_tiny_cap),
        cmocka_unit_test(test_intake_queue_memory_is_not_inherited_by_a_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
