/* sink_file.c - JSON lines to stdout or an append-only file, never blocking the loop. */
#include "sink/sink_file.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

/* At most one line about a stall per this long: a reader that stops and starts many
 * times a second must not turn the log into the biggest output. */
#define REPORT_MS 10000
/* At exit, how long a slow reader gets for what is still buffered. */
#define EXIT_WAIT_MS 2000
/* A pipe is grown to this (the unprivileged limit by default): while the reader lags, each
 * retry (every 20 ms: the flush timer of collector/daemon.c, on_flush_check) moves this
 * much rather than the default 64 KiB. */
#define PIPE_SIZE (1 << 20)

struct sink_file {
    struct sink base;
    char *path;       /* NULL for stdout */
    const char *name; /* path or "stdout", for the log */
    int fd;
    bool own_fd;       /* ours to close: the file, or our own opening of stdout */
    bool sock;         /* stdout is a socket: send(MSG_DONTWAIT) */
    int restore_flags; /* -1, or stdout's flags to put back at exit */
    /* Whole lines waiting to go out, a ring: head is the oldest byte. */
    char *buf;
    size_t cap, head, len;
    sink_log_fn log;
    uint64_t lost; /* changes that did not fit: output_lost */
    /* The current stall: the output takes nothing (a reader that stopped, a full disk). */
    bool stalled;
    bool said; /* this stall was announced */
    int err;   /* why, an errno */
    int64_t stalled_ms;
    struct sink_log_limit limit; /* every line about the output: one per REPORT_MS */
};

static const char *why(int err)
{
    return err == EAGAIN || err == EWOULDBLOCK ? "the reader is not reading" : strerror(err);
}

/* While stalled: announce it, then at most a line per REPORT_MS with the count so far. */
static void report(struct sink_file *f, int64_t now)
{
    if (!sink_log_limit_pass(&f->limit, now, NULL))
        return;
    if (!f->said)
        sink_log_say(f->log, SINK_LOG_WARNING,
                     "output %s: cannot write (%s); changes wait in the %zu KiB buffer, those that "
                     "do not fit are lost until it can (output_lost=%" PRIu64 " so far)",
                     f->name, why(f->err), f->cap / 1024, f->lost);
    else
        sink_log_say(f->log, SINK_LOG_WARNING,
                     "output %s: still cannot write (%s) after %.0f s (output_lost=%" PRIu64 ")",
                     f->name, why(f->err), (double)(now - f->stalled_ms) / 1000.0, f->lost);
    f->said = true;
}

static void stall(struct sink_file *f, int err)
{
    int64_t now = sink_log_now_ms();
    if (!f->stalled) {
        f->stalled = true;
        f->said = false;
        f->stalled_ms = now;
    }
    f->err = err;
    report(f, now);
}

/* The output takes everything again. A stall that was announced gets its end said; one
 * that was not (it came within REPORT_MS of the last line) only if the quiet time is over,
 * else its losses show in the next line. */
static void resume(struct sink_file *f)
{
    int64_t now = sink_log_now_ms();
    bool say = f->said || sink_log_limit_pass(&f->limit, now, NULL);
    if (say) {
        sink_log_say(f->log, SINK_LOG_NOTICE,
                     "output %s: writing again after %.1f s (output_lost=%" PRIu64 ")", f->name,
                     (double)(now - f->stalled_ms) / 1000.0, f->lost);
        sink_log_limit_said(&f->limit, now);
    }
    f->stalled = false;
}

static int ring_iov(const struct sink_file *f, struct iovec iov[2])
{
    size_t first = f->cap - f->head < f->len ? f->cap - f->head : f->len;
    iov[0] = (struct iovec){f->buf + f->head, first};
    iov[1] = (struct iovec){f->buf, f->len - first};
    return f->len > first ? 2 : 1;
}

static void ring_put(struct sink_file *f, const char *p, size_t n)
{
    size_t tail = (f->head + f->len) % f->cap;
    size_t first = f->cap - tail < n ? f->cap - tail : n;
    memcpy(f->buf + tail, p, first);
    memcpy(f->buf, p + first, n - first);
    f->len += n;
}

static void ring_drop(struct sink_file *f, size_t n)
{
    f->head = (f->head + n) % f->cap;
    f->len -= n;
    if (f->len == 0)
        f->head = 0;
}

static ssize_t out(struct sink_file *f, struct iovec *iov, int n)
{
    if (f->sock) {
        struct msghdr m = {.msg_iov = iov, .msg_iovlen = (size_t)n};
        return sendmsg(f->fd, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
    return writev(f->fd, iov, n);
}

/* Write out what the buffer holds, as far as the output takes it now. Returns 0 (all
 * out) or -EAGAIN (some left: the output is stalled). */
static int push(struct sink_file *f)
{
    while (f->len > 0) {
        struct iovec iov[2];
        ssize_t w = out(f, iov, ring_iov(f, iov));
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            stall(f, w < 0 ? errno : EIO);
            return -EAGAIN;
        }
        ring_drop(f, (size_t)w);
    }
    if (f->stalled)
        resume(f);
    return 0;
}

static int file_write(struct sink *sk, const struct change *c, const char *json, size_t len)
{
    struct sink_file *f = (struct sink_file *)sk;
    (void)c;
    /* Full: make room if the output takes something now. While stalled, the flush once
     * per loop iteration tries, not every change (a syscall each that would fail). */
    if (len + 1 > f->cap - f->len && !f->stalled)
        push(f);
    if (len + 1 > f->cap - f->len) {
        int64_t now = sink_log_now_ms();
        f->lost++;
        if (f->stalled) {
            report(f, now);
        } else if (sink_log_limit_pass(&f->limit, now, NULL)) {
            /* Not stalled, so the change alone is larger than the whole buffer. */
            sink_log_say(f->log, SINK_LOG_WARNING,
                         "output %s: a change of %zu bytes is larger than the buffer: lost "
                         "(output_lost=%" PRIu64 ")",
                         f->name, len, f->lost);
        }
        return -ENOBUFS;
    }
    ring_put(f, json, len);
    ring_put(f, "\n", 1);
    return 0;
}

static int file_flush(struct sink *sk)
{
    return push((struct sink_file *)sk);
}

static int open_path(const char *path)
{
    /* O_NONBLOCK: a FIFO must not stall the loop (a regular file ignores it). */
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
}

static int file_reopen(struct sink *sk)
{
    struct sink_file *f = (struct sink_file *)sk;
    if (f->path == NULL)
        return 0;
    push(f);
    int fd = open_path(f->path);
    if (fd < 0)
        return -errno;
    close(f->fd);
    f->fd = fd;
    if (f->stalled)
        push(f); /* a new file may take what the old one did not */
    return 0;
}

static void file_counters(struct sink *sk, counter_fn fn, void *data)
{
    struct sink_file *f = (struct sink_file *)sk;
    counter_total(fn, data, "output_lost", COUNTER_UNIT_NONE, f->lost,
                  "Changes the output could not take (a stalled reader, a full disk): lost.");
    counter_gauge(fn, data, "output_buffered", COUNTER_UNIT_BYTES, f->len,
                  "Bytes of changes waiting for the output's reader.");
}

/* At exit: a slow reader gets EXIT_WAIT_MS for what is buffered; what it does not take is
 * counted and said. */
static void drain_at_exit(struct sink_file *f)
{
    int64_t deadline = sink_log_now_ms() + EXIT_WAIT_MS;
    while (push(f) != 0) {
        int64_t left = deadline - sink_log_now_ms();
        if (left <= 0 || (f->err != EAGAIN && f->err != EWOULDBLOCK))
            break; /* a full disk does not empty in two seconds */
        struct pollfd p = {.fd = f->fd, .events = POLLOUT};
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            break;
    }
    if (f->len == 0)
        return;
    uint64_t n = 0;
    for (size_t i = 0; i < f->len; i++)
        n += f->buf[(f->head + i) % f->cap] == '\n';
    f->lost += n;
    sink_log_say(f->log, SINK_LOG_ERROR,
                 "output %s: %" PRIu64 " change(s) (%zu bytes) still buffered at exit could not be "
                 "written (%s): lost (output_lost=%" PRIu64 ")",
                 f->name, n, f->len, why(f->err), f->lost);
}

static void file_free(struct sink *sk)
{
    struct sink_file *f = (struct sink_file *)sk;
    if (f->buf != NULL && f->fd >= 0)
        drain_at_exit(f);
    if (f->restore_flags >= 0)
        fcntl(STDOUT_FILENO, F_SETFL, f->restore_flags);
    if (f->own_fd && f->fd >= 0)
        close(f->fd);
    free(f->path);
    free(f->buf);
    free(f);
}

static const struct sink_ops file_ops = {
    .name = "file",
    .write = file_write,
    .flush = file_flush,
    .reopen = file_reopen,
    .counters = file_counters,
    .free = file_free,
};

/* A bigger pipe, if the kernel allows; harmless to the reader, so errors are ignored. */
static void grow_pipe(int fd)
{
    struct stat st;
    if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode))
        (void)fcntl(fd, F_SETPIPE_SZ, PIPE_SIZE);
}

/* stdout, made non-blocking without touching what others share. */
static int open_stdout(struct sink_file *f)
{
    struct stat st;
    if (fstat(STDOUT_FILENO, &st) != 0)
        return -errno;
    f->fd = STDOUT_FILENO;
    if (S_ISREG(st.st_mode))
        return 0; /* a file: a write waits for no reader (a full disk fails it instead) */
    if (S_ISSOCK(st.st_mode)) {
        f->sock = true; /* the journal's stream: MSG_DONTWAIT is per call, nothing shared */
        return 0;
    }
    /* A pipe or a terminal. O_NONBLOCK belongs to the open file description, which our
     * stdout shares with whoever started us: set there, their reads and writes would fail
     * with EAGAIN too (the shell's terminal after we exit, another writer to the pipe).
     * Opening /proc/self/fd/1 gives a description of our own on the same pipe or
     * terminal, non-blocking for us alone. */
    int fd = open("/proc/self/fd/1", O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd >= 0) {
        f->fd = fd;
        f->own_fd = true;
        grow_pipe(fd);
        return 0;
    }
    int err = errno;
    /* No /proc, or a pipe whose reader is already gone (ENXIO): the shared description
     * then, its flags put back at exit; never blocking the loop comes first. */
    int flags = fcntl(STDOUT_FILENO, F_GETFL);
    if (flags < 0 || fcntl(STDOUT_FILENO, F_SETFL, flags | O_NONBLOCK) != 0)
        return -errno;
    f->restore_flags = flags;
    grow_pipe(STDOUT_FILENO);
    sink_log_say(f->log, SINK_LOG_NOTICE,
                 "output stdout: cannot open it anew (%s); made the shared descriptor "
                 "non-blocking until exit",
                 strerror(err));
    return 0;
}

int sink_file_new(const char *path, size_t buffer, sink_log_fn log, struct sink **out)
{
    int rc = -ENOMEM;
    struct sink_file *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    f->base.ops = &file_ops;
    f->fd = -1;
    f->restore_flags = -1;
    f->log = log;
    f->limit = SINK_LOG_LIMIT(1, REPORT_MS);
    f->cap = buffer != 0 ? buffer : SINK_FILE_BUFFER;
    if ((f->buf = malloc(f->cap)) == NULL)
        goto fail;
    if (strcmp(path, "-") == 0) {
        f->name = "stdout";
        if ((rc = open_stdout(f)) != 0)
            goto fail;
    } else {
        if ((f->path = strdup(path)) == NULL)
            goto fail;
        f->name = f->path;
        if ((f->fd = open_path(path)) < 0) {
            rc = -errno;
            goto fail;
        }
        f->own_fd = true;
        grow_pipe(f->fd);
    }
    *out = &f->base;
    return 0;
fail:
    file_free(&f->base);
    return rc;
}
