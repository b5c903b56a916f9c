/* test_sink_file.c - the JSON-lines sink never blocks: a stalled reader or a full file
 * costs changes, counted one by one and said in few lines, and writing resumes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sink/sink_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

static int log_lines;
static char last_log[512];

static void test_log(int level, const char *msg)
{
    (void)level;
    log_lines++;
    snprintf(last_log, sizeof(last_log), "%s", msg);
}

/* A change's JSON line: 99 bytes and the newline, numbered. */
static const char *line(unsigned i, size_t *len)
{
    static char buf[128];
    int n = snprintf(buf, sizeof(buf), "{\"version\":%08u,\"pad\":\"", i);
    memset(buf + n, 'x', 99 - 2 - (size_t)n);
    memcpy(buf + 97, "\"}", 3);
    *len = 99;
    return buf;
}

struct stat_want {
    const char *key;
    uint64_t value;
    bool found;
};

static void stat_cb(const struct counter *c, void *data)
{
    struct stat_want *w = data;
    if (strcmp(c->name, w->key) == 0) {
        w->value = c->value;
        w->found = true;
    }
}

static uint64_t stat_of(struct sink *sk, const char *key)
{
    struct stat_want w = {.key = key};
    sink_counters(sk, stat_cb, &w);
    assert_true(w.found);
    return w.value;
}

/* Read what fd holds now (non-blocking); check every line is whole and numbered on from
 * *next; return how many lines. */
static unsigned read_lines(int fd, unsigned *next, char *partial, size_t *plen)
{
    char buf[65536];
    unsigned n = 0;
    ssize_t r;
    while ((r = read(fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < r; i++) {
            partial[(*plen)++] = buf[i];
            if (buf[i] != '\n')
                continue;
            unsigned v;
            assert_int_equal(*plen, 100);
            assert_int_equal(sscanf(partial, "{\"version\":%08u", &v), 1);
            assert_true(v >= *next); /* in order; the lost ones are gaps */
            *next = v + 1;
            *plen = 0;
            n++;
        }
    }
    return n;
}

static void test_sink_file_stalled_pipe_counts_lost_changes_and_resumes(void **state)
{
    (void)state;
    int p[2];
    char path[64];
    struct sink *sk;
    assert_int_equal(pipe(p), 0);
    /* The test hangs (and the alarm ends it) if a write ever blocks. */
    alarm(20);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", p[1]);
    log_lines = 0;
    assert_int_equal(sink_file_new(path, 64 * 1024, test_log, &sk), 0);
    fcntl(p[0], F_SETFL, O_NONBLOCK);

    /* 30,000 changes, a flush every 100 (a loop iteration), nobody reading: the pipe (the
     * sink grows it to 1 MiB) and the buffer (64 KiB) take about 11,000; the rest are lost,
     * one each. */
    int pipe_size = fcntl(p[1], F_GETPIPE_SZ);
    assert_true(pipe_size >= 65536);
    unsigned taken = 0, refused = 0;
    for (unsigned i = 0; i < 30000; i++) {
        size_t len;
        const char *j = line(i, &len);
        int rc = sink_write(sk, NULL, j, len);
        if (rc == 0)
            taken++;
        else {
            assert_int_equal(rc, -ENOBUFS);
            refused++;
        }
        if (i % 100 == 99) {
            int fr = sink_flush(sk);
            assert_true(fr == 0 || fr == -EAGAIN);
        }
    }
    assert_int_equal(taken + refused, 30000);
    assert_true(taken <= (unsigned)(pipe_size + 64 * 1024) / 100 + 1);
    assert_true(refused > 15000);
    assert_int_equal(stat_of(sk, "output_lost"), refused);
    assert_int_equal(sink_flush(sk), -EAGAIN);
    /* Said, not once per change. */
    assert_true(log_lines >= 1 && log_lines <= 2);
    assert_non_null(strstr(last_log, path));

    /* The reader comes back: everything taken arrives, whole and in order. */
    char partial[256];
    size_t plen = 0;
    unsigned next = 0, got = 0;
    for (int k = 0; k < 100 && (got < taken); k++) {
        got += read_lines(p[0], &next, partial, &plen);
        sink_flush(sk);
    }
    got += read_lines(p[0], &next, partial, &plen);
    assert_int_equal(got, taken);
    assert_int_equal(stat_of(sk, "output_buffered"), 0);
    assert_int_equal(sink_flush(sk), 0);
    assert_non_null(strstr(last_log, "writing again"));

    /* And it goes on. */
    size_t len;
    const char *j = line(20000, &len);
    assert_int_equal(sink_write(sk, NULL, j, len), 0);
    assert_int_equal(sink_flush(sk), 0);
    assert_int_equal(read_lines(p[0], &next, partial, &plen), 1);
    sink_free(sk);
    close(p[0]);
    close(p[1]);
    alarm(0);
}

/* A regular file that cannot grow (RLIMIT_FSIZE: EFBIG, as ENOSPC on a full disk):
 * the same accounting, and writing resumes when it can grow again. */
static void test_sink_file_full_file_counts_lost_changes_and_resumes(void **state)
{
    (void)state;
    char path[] = "/tmp/test_sink_file.XXXXXX";
    int fd = mkstemp(path);
    struct sink *sk;
    struct rlimit old, lim;
    assert_true(fd >= 0);
    close(fd);
    signal(SIGXFSZ, SIG_IGN);
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 100 * 100; /* room for 100 lines */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    log_lines = 0;
    assert_int_equal(sink_file_new(path, 16 * 1024, test_log, &sk), 0);

    unsigned taken = 0, refused = 0;
    for (unsigned i = 0; i < 2000; i++) {
        size_t len;
        const char *j = line(i, &len);
        if (sink_write(sk, NULL, j, len) == 0)
            taken++;
        else
            refused++;
        if (i % 50 == 49)
            sink_flush(sk);
    }
    assert_true(taken >= 100 + 150 && taken < 100 + 170); /* the file, then the buffer */
    assert_int_equal(stat_of(sk, "output_lost"), refused);
    assert_int_equal(taken + refused, 2000);
    assert_int_equal(sink_flush(sk), -EAGAIN);
    assert_true(log_lines >= 1 && log_lines <= 2);
    assert_non_null(strstr(last_log, "File too large"));

    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    assert_int_equal(sink_flush(sk), 0);
    sink_free(sk);

    int in = open(path, O_RDONLY);
    char partial[256];
    size_t plen = 0;
    unsigned next = 0;
    assert_int_equal(read_lines(in, &next, partial, &plen), taken);
    assert_int_equal(plen, 0);
    close(in);
    unlink(path);
    signal(SIGXFSZ, SIG_DFL);
}

/* At exit, what a stalled reader never took is counted and said. */
static void test_sink_file_exit_counts_what_is_left(void **state)
{
    (void)state;
    int p[2];
    char path[64];
    struct sink *sk;
    assert_int_equal(pipe(p), 0);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", p[1]);
    alarm(20);
    log_lines = 0;
    assert_int_equal(sink_file_new(path, 64 * 1024, test_log, &sk), 0);
    unsigned taken = 0;
    for (unsigned i = 0; i < 20000; i++) {
        size_t len;
        const char *j = line(i, &len);
        taken += sink_write(sk, NULL, j, len) == 0;
        if (i % 100 == 99)
            sink_flush(sk);
    }
    sink_free(sk); /* waits EXIT_WAIT_MS for the reader, then gives up */
    assert_non_null(strstr(last_log, "still buffered at exit"));
    unsigned at_exit = 0;
    assert_int_equal(sscanf(strstr(last_log, ": ") + 2, "%u", &at_exit), 1);
    /* The pipe holds the rest, the last line maybe cut. */
    fcntl(p[0], F_SETFL, O_NONBLOCK);
    char buf[65536];
    ssize_t r;
    unsigned in_pipe = 0;
    while ((r = read(p[0], buf, sizeof(buf))) > 0)
        for (ssize_t i = 0; i < r; i++)
            in_pipe += buf[i] == '\n';
    assert_int_equal(in_pipe + at_exit, taken);
    close(p[0]);
    close(p[1]);
    alarm(0);
}

int main(void)
{
    /* A reader that went away must be an error on write, as in the daemon. */
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_file_stalled_pipe_counts_lost_changes_and_resumes),
        cmocka_unit_test(test_sink_file_full_file_counts_lost_changes_and_resumes),
        cmocka_unit_test(test_sink_file_exit_counts_what_is_left),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
