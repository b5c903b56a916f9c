/* sink_file.c - JSON lines to stdout or an append-only file. */
#include "sink/sink_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BUF_SIZE (256 * 1024)

struct sink_file {
    struct sink base;
    char *path; /* NULL for stdout */
    int fd;
    char *buf;
    size_t len;
};

/* Write all of the buffer; a short write is retried, EINTR too. */
static int drain(struct sink_file *f)
{
    size_t off = 0;
    while (off < f->len) {
        ssize_t n = write(f->fd, f->buf + off, f->len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            int err = -errno;
            /* Keep what did not go out; a later flush tries again. */
            memmove(f->buf, f->buf + off, f->len - off);
            f->len -= off;
            return err;
        }
        off += (size_t)n;
    }
    f->len = 0;
    return 0;
}

static int file_write(struct sink *sk, const struct change *c, const char *json, size_t len)
{
    struct sink_file *f = (struct sink_file *)sk;
    (void)c;
    if (len + 1 > BUF_SIZE - f->len) {
        int rc = drain(f);
        if (rc != 0)
            return rc;
        if (len + 1 > BUF_SIZE) { /* larger than the buffer: straight through */
            ssize_t n = write(f->fd, json, len);
            if (n != (ssize_t)len || write(f->fd, "\n", 1) != 1)
                return n < 0 ? -errno : -EIO;
            return 0;
        }
    }
    memcpy(f->buf + f->len, json, len);
    f->buf[f->len + len] = '\n';
    f->len += len + 1;
    return 0;
}

static int file_flush(struct sink *sk)
{
    return drain((struct sink_file *)sk);
}

static int open_path(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
}

static int file_reopen(struct sink *sk)
{
    struct sink_file *f = (struct sink_file *)sk;
    if (f->path == NULL)
        return 0;
    int rc = drain(f);
    int fd = open_path(f->path);
    if (fd < 0)
        return -errno;
    close(f->fd);
    f->fd = fd;
    return rc;
}

static void file_free(struct sink *sk)
{
    struct sink_file *f = (struct sink_file *)sk;
    if (f->buf != NULL)
        drain(f);
    if (f->path != NULL && f->fd >= 0)
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
    .free = file_free,
};

int sink_file_new(const char *path, struct sink **out)
{
    int rc = -ENOMEM;
    struct sink_file *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -ENOMEM;
    f->base.ops = &file_ops;
    f->fd = -1;
    if ((f->buf = malloc(BUF_SIZE)) == NULL)
        goto fail;
    if (strcmp(path, "-") == 0) {
        f->fd = STDOUT_FILENO;
    } else {
        if ((f->path = strdup(path)) == NULL)
            goto fail;
        if ((f->fd = open_path(path)) < 0) {
            rc = -errno;
            goto fail;
        }
    }
    *out = &f->base;
    return 0;
fail:
    file_free(&f->base);
    return rc;
}
