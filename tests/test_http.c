/* test_http.c - the HTTP API's connection handling on a real libuv loop and real loopback
 * sockets, one loop iteration at a time: how much one wake-up may do when descriptors run
 * out, and which connections the once-a-second look may close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/address.h"
#include "collector/http.h"
#include "collector/ingest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* http.c's HTTP_ACCEPT_BATCH: what one wake-up may accept. */
#define ACCEPT_BATCH 16

struct fixture {
    uv_loop_t loop;
    struct ingest *ingest;
    struct http *http;
    struct sockaddr_storage addr;
};

static void open_fixture(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    struct ingest_config ic = {.collector_id = "test"};
    assert_int_equal(ingest_new(&ic, NULL, 0, &f->ingest), 0);
    struct sockaddr_storage any;
    assert_int_equal(address_parse("127.0.0.1:0", &any), 0);
    struct http_config hc = {
        .addr = (const struct sockaddr *)&any, .ingest = f->ingest, .collector_id = "test"};
    assert_int_equal(http_new(&f->loop, &hc, &f->http), 0);
    assert_int_equal(address_parse(http_name(f->http), &f->addr), 0);
}

static void close_fixture(struct fixture *f)
{
    http_close(f->http);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* the handles' close callbacks */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    ingest_free(f->ingest);
}

static const struct stats *stats(struct fixture *f)
{
    return ingest_stats(f->ingest);
}

/* A client connected to the API (the kernel completes it from the listen queue: no accept
 * needed). */
static int client(struct fixture *f)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&f->addr, sizeof(struct sockaddr_in)), 0);
    return fd;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run loop iterations until cond holds (5 s at most). */
static void run_until(struct fixture *f, bool (*cond)(struct fixture *, void *), void *arg)
{
    int64_t deadline = mono_ms() + 5000;
    while (!cond(f, arg)) {
        assert_true(mono_ms() < deadline);
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
}

static bool refused_at_least(struct fixture *f, void *arg)
{
    return stats(f)->http_refused >= *(uint64_t *)arg;
}

static bool taken_at_least(struct fixture *f, void *arg)
{
    return stats(f)->http_connections >= *(uint64_t *)arg;
}

/* Every descriptor number below the limit in use, the limit lowered to the highest one:
 * the next accept fails with EMFILE. Returns the fillers opened (*n of them; free it). */
static int *exhaust_descriptors(size_t *n, struct rlimit *saved)
{
    int top = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (atoi(e->d_name) > top)
            top = atoi(e->d_name);
    closedir(d); /* its own descriptor was counted: top is at least one above the rest */
    int *fill = calloc((size_t)top + 1, sizeof(*fill));
    assert_non_null(fill);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, saved), 0);
    struct rlimit low = {.rlim_cur = (rlim_t)top + 1, .rlim_max = saved->rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    *n = 0;
    int fd;
    while (*n <= (size_t)top && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        fill[(*n)++] = fd;
    assert_int_equal(errno, EMFILE);
    return fill;
}

/* Out of descriptors with 40 clients in the listen queue: one loop iteration closes at
 * most a batch of them, and the loop comes back for the rest. It used to accept and close
 * until EAGAIN, which a flood refilling the queue may never let come, with UDP and the
 * timers waiting all the while. */
static void test_http_out_of_descriptors_sheds_a_batch_per_iteration(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f);
    int clients[40];
    for (size_t i = 0; i < 40; i++)
        clients[i] = client(&f);
    struct rlimit saved;
    size_t n_fill;
    int *fill = exhaust_descriptors(&n_fill, &saved);

    uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_int_equal(stats(&f)->http_refused, ACCEPT_BATCH);
    uint64_t all = 40;
    run_until(&f, refused_at_least, &all);
    assert_int_equal(stats(&f)->http_refused, 40);
    assert_int_equal(stats(&f)->http_connections, 0);

    for (size_t i = 0; i < n_fill; i++)
        close(fill[i]);
    free(fill);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    /* Descriptors back: a client is taken again. */
    int again = client(&f);
    uint64_t one = 1;
    run_until(&f, taken_at_least, &one);
    close(again);
    for (size_t i = 0; i < 40; i++)
        close(clients[i]);
    close_fixture(&f);
}

/* Run the loop until fd, a client, has its whole answer (the server closed); returns its
 * length in buf (NUL-terminated). */
static size_t answer(struct fixture *f, int fd, char *buf, size_t size)
{
    size_t n = 0;
    int64_t deadline = mono_ms() + 5000;
    for (;;) {
        assert_true(mono_ms() < deadline);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        ssize_t k = recv(fd, buf + n, size - 1 - n, MSG_DONTWAIT);
        if (k > 0)
            n += (size_t)k;
        else if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            break; /* closed (or reset: then what came is all there is) */
    }
    buf[n] = '\0';
    return n;
}

/* A whole request and the client's FIN in the socket, not read yet, when the once-a-second
 * look comes (timers run before the loop polls): the request is answered. It was shut
 * unanswered (POLLRDHUP was taken for "the client has gone"): an HTTP/1.0 client that
 * half-closes after its request, as "printf 'GET ...' | nc -N" does. */
static void test_http_request_then_half_close_is_answered(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f);
    int fd = client(&f);
    uint64_t one = 1;
    run_until(&f, taken_at_least, &one); /* libmicrohttpd holds the connection */
    const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)(sizeof(req) - 1));
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    /* The look is a 1 s timer: with the loop not run for longer than that, it is due and
     * runs first in the next iteration, before anything reads the request. */
    struct timespec pause = {1, 100 * 1000000};
    nanosleep(&pause, NULL);
    char buf[4096];
    answer(&f, fd, buf, sizeof(buf));
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strstr(buf, " 200 ") == NULL)
        fail_msg("no answer to a request followed by FIN: \"%s\"", buf);
    assert_non_null(strstr(buf, "\r\n\r\nok\n"));
    assert_int_equal(stats(&f)->http_dropped, 0);
    close(fd);
    close_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_out_of_descriptors_sheds_a_batch_per_iteration),
        cmocka_unit_test(test_http_request_then_half_close_is_answered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
