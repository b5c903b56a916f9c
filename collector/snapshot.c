/* snapshot.c - write (in place or from a forked child) and read back the state table. */
#include "collector/snapshot.h"

#include "sink/change.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#define FLUSH_AT (1u << 20)

struct writer {
    int fd;
    struct change_json buf;
    size_t count;
    int rc;
};

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0)
            return -errno;
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int drain(struct writer *w)
{
    int rc = write_all(w->fd, w->buf.buf, w->buf.len);
    w->buf.len = 0;
    return rc;
}

static int write_alert(const struct alert *a, const struct state_meta *m, void *data)
{
    struct writer *w = data;
    if ((w->rc = change_json_append_stored(&w->buf, a, m->version, m->first_seen_ms,
                                           m->last_seen_ms, m->expires_ms, m->sender, m->ack)) !=
            0 ||
        (w->rc = change_json_append(&w->buf, "\n", 1)) != 0)
        return w->rc;
    w->count++;
    if (w->buf.len >= FLUSH_AT)
        w->rc = drain(w);
    return w->rc;
}

static int fsync_dir(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL)
        return -ENOMEM;
    int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (fd < 0)
        return -errno;
    int rc = fsync(fd) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

int snapshot_write(const struct state *s, const char *path, const char *collector_id, bool clean,
                   char *err, size_t errlen)
{
    char tmp[4096], head[512];
    struct writer w = {.fd = -1};
    int rc;
    snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid());
    if ((w.fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0) {
        rc = -errno;
        snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(-rc));
        return rc;
    }
    int n = snprintf(head, sizeof(head),
                     "{\"injector_snapshot\":1,\"version\":%" PRIu64 ",\"epoch\":\"%016" PRIx64
                     "\",\"count\":%zu,\"clean\":%s,\"collector\":",
                     state_version(s), state_epoch(s), state_count(s), clean ? "true" : "false");
    if ((rc = change_json_append(&w.buf, head, (size_t)n)) != 0 ||
        (rc = change_json_append_str(&w.buf, collector_id, strlen(collector_id))) != 0 ||
        (rc = change_json_append(&w.buf, "}\n", 2)) != 0)
        goto fail;
    if ((rc = state_foreach(s, NULL, write_alert, &w)) != 0)
        goto fail;
    n = snprintf(head, sizeof(head), "{\"end\":%zu}\n", w.count);
    if ((rc = change_json_append(&w.buf, head, (size_t)n)) != 0 || (rc = drain(&w)) != 0)
        goto fail;
    if (fsync(w.fd) != 0) {
        rc = -errno;
        goto fail;
    }
    close(w.fd);
    w.fd = -1;
    if (rename(tmp, path) != 0) {
        rc = -errno;
        goto fail;
    }
    change_json_free(&w.buf);
    if ((rc = fsync_dir(path)) != 0)
        snprintf(err, errlen, "%s written, but syncing its directory: %s", path, strerror(-rc));
    return rc;
fail:
    snprintf(err, errlen, "writing %s: %s", tmp, strerror(-rc));
    if (w.fd >= 0)
        close(w.fd);
    unlink(tmp);
    change_json_free(&w.buf);
    return rc;
}

pid_t snapshot_write_async(const struct state *s, const char *path, const char *collector_id)
{
    pid_t pid = fork();
    if (pid < 0)
        return -errno;
    if (pid > 0)
        return pid;
    /* The child: only this thread exists here; it writes and leaves without running any
     * of the parent's exit handlers or flushing its stdio buffers. Its error goes back as
     * the exit status (an errno), and the parent says it in its rate-limited line: the
     * child logging itself would repeat every interval, unlimited. */
    char err[512];
    int rc = snapshot_write(s, path, collector_id, false, err, sizeof(err));
    _exit(rc == 0 ? 0 : -rc > 0 && -rc < 256 ? -rc : EIO);
}

int snapshot_load(struct state *s, const char *path, struct snapshot_info *info, char *err,
                  size_t errlen)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    struct alert_json aj = {0};
    int rc = -EBADMSG;
    memset(info, 0, sizeof(*info));
    if (f == NULL) {
        rc = -errno;
        snprintf(err, errlen, "%s: %s", path, strerror(-rc));
        return rc;
    }
    bool ended = false;
    while ((len = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (lineno == 1) {
            json_error_t je;
            json_t *h = json_loadb(line, (size_t)len, 0, &je);
            json_t *v = json_object_get(h, "version");
            if (json_integer_value(json_object_get(h, "injector_snapshot")) != 1 ||
                !json_is_integer(v)) {
                json_decref(h);
                snprintf(err, errlen, "%s:1: not an injector snapshot header", path);
                goto out;
            }
            info->version = (uint64_t)json_integer_value(v);
            info->count = (size_t)json_integer_value(json_object_get(h, "count"));
            info->clean = json_is_true(json_object_get(h, "clean"));
            const char *ep = json_string_value(json_object_get(h, "epoch"));
            if (ep != NULL)
                state_set_epoch(s, strtoull(ep, NULL, 16)); /* older files: a new series */
            json_decref(h);
            state_set_version(s, info->version);
            continue;
        }
        if (strncmp(line, "{\"end\":", 7) == 0) {
            ended = true;
            break;
        }
        int r = change_json_decode_stored(line, (size_t)len, &aj);
        if (r != 0) {
            rc = r;
            snprintf(err, errlen, "%s:%ld: not a stored alert", path, lineno);
            goto out;
        }
        struct state_meta m = {aj.version,    aj.first_seen_ms, aj.last_seen_ms,
                               aj.expires_ms, aj.sender,        aj.ack};
        if ((r = state_restore(s, &aj.alert, &m)) != 0) {
            rc = r == -EEXIST ? -EBADMSG : r;
            snprintf(err, errlen, "%s:%ld: alert %s/%s: %s", path, lineno, aj.alert.host,
                     aj.alert.component, r == -EEXIST ? "listed twice" : strerror(-r));
            goto out;
        }
        info->loaded++;
    }
    if (lineno == 0) {
        snprintf(err, errlen, "%s: empty", path);
        goto out;
    }
    if (!ended || info->loaded != info->count) {
        snprintf(err, errlen, "%s: truncated: %zu of %zu alerts, no end line", path, info->loaded,
                 info->count);
        goto out;
    }
    rc = 0;
out:
    alert_json_free(&aj);
    free(line);
    fclose(f);
    return rc;
}

int snapshot_restore(struct state *s, const char *path, unsigned interval_s, int64_t now_s,
                     struct snapshot_restored *r)
{
    memset(r, 0, sizeof(*r));
    r->rc = snapshot_load(s, path, &r->info, r->err, sizeof(r->err));
    if (r->rc == 0 && !r->info.clean && interval_s > 0) {
        uint64_t jump = ((uint64_t)interval_s + 10) * 1000000u;
        r->jumped_to = r->info.version + jump;
        state_set_version(s, r->jumped_to);
    } else if (r->rc != 0 && r->rc != -ENOENT) {
        snprintf(r->aside, sizeof(r->aside), "%s.corrupt-%lld", path, (long long)now_s);
        if (rename(path, r->aside) != 0) {
            r->aside_errno = errno;
            r->aside[0] = '\0';
        }
    }
    return r->rc;
}
