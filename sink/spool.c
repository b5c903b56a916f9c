/* spool.c - append-only segment files with CRC'd records, group commit, tail recovery. */
#include "sink/spool.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

/* Record: u32 payload length, u32 crc32(payload), payload = u64 version, u16 rk_len, rk,
 * body. Host byte order: a spool never leaves the machine that wrote it. */
#define HDR       8
#define PAY_FIXED 10
#define BUF_SIZE  (1u << 20)
#define REC_MAX   (BUF_SIZE - HDR) /* far above any change; larger lengths mean corruption */

struct segment {
    char *path;
    int fd;
    uint64_t first, last; /* versions */
    uint64_t size;        /* bytes on disk */
    bool sealed;          /* no more appends */
    bool dirty;           /* written since its last fsync */
    struct segment *next;
};

struct spool {
    char *dir;
    struct segment *head, *tail; /* in version order; tail takes appends unless sealed */
    char *buf;                   /* appends not yet written */
    size_t buf_len;
    uint64_t buf_first, buf_last, buf_records;
    /* reader */
    struct segment *rseg;
    uint64_t roff;
    char *rbuf;
    size_t rcap;
    uint64_t appended, lost;
};

static void put32(char *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t get32(const char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static int segment_new(struct spool *s, uint64_t first, struct segment **out)
{
    struct segment *g = calloc(1, sizeof(*g));
    if (g == NULL)
        return -ENOMEM;
    if (asprintf(&g->path, "%s/seg-%020" PRIu64 ".spool", s->dir, first) < 0) {
        free(g);
        return -ENOMEM;
    }
    g->fd = open(g->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (g->fd < 0) {
        int rc = -errno;
        free(g->path);
        free(g);
        return rc;
    }
    g->first = g->last = first;
    *out = g;
    return 0;
}

static void segment_free(struct segment *g)
{
    if (g->fd >= 0)
        close(g->fd);
    free(g->path);
    free(g);
}

/* Insert keeping version order (a shutdown segment can hold versions older than the
 * segments still on disk). */
static void segment_insert(struct spool *s, struct segment *g)
{
    struct segment **pp = &s->head;
    while (*pp != NULL && (*pp)->first < g->first)
        pp = &(*pp)->next;
    g->next = *pp;
    *pp = g;
    if (g->next == NULL)
        s->tail = g;
}

/* Scan a segment, cut it after the last whole record, note its versions. */
static int segment_recover(struct segment *g, struct spool_recovery *rec)
{
    struct stat st;
    if (fstat(g->fd, &st) != 0)
        return -errno;
    char *data = malloc((size_t)st.st_size + 1);
    if (data == NULL)
        return -ENOMEM;
    ssize_t n = pread(g->fd, data, (size_t)st.st_size, 0);
    if (n != st.st_size) {
        free(data);
        return n < 0 ? -errno : -EIO;
    }
    uint64_t off = 0, records = 0;
    bool first = true;
    while (off + HDR + PAY_FIXED <= (uint64_t)n) {
        uint32_t len = get32(data + off), crc = get32(data + off + 4);
        if (len < PAY_FIXED || len > REC_MAX || off + HDR + len > (uint64_t)n)
            break;
        if (crc32(0, (const Bytef *)data + off + HDR, len) != crc)
            break;
        uint64_t v;
        memcpy(&v, data + off + HDR, 8);
        if (first)
            g->first = v;
        first = false;
        g->last = v;
        records++;
        off += HDR + len;
    }
    free(data);
    if (off < (uint64_t)n) {
        if (ftruncate(g->fd, (off_t)off) != 0)
            return -errno;
        rec->bytes_cut += (uint64_t)n - off;
    }
    g->size = off;
    g->sealed = true;
    rec->records += records;
    rec->bytes += off;
    if (records > 0 && g->last > rec->max_version)
        rec->max_version = g->last;
    return (int)(records > 0);
}

int spool_open(const char *dir, struct spool **out, struct spool_recovery *rec)
{
    int rc = -ENOMEM;
    struct dirent **names = NULL;
    int n = 0;
    memset(rec, 0, sizeof(*rec));
    struct spool *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->dir = strdup(dir)) == NULL || (s->buf = malloc(BUF_SIZE)) == NULL)
        goto fail;
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        rc = -errno;
        goto fail;
    }
    n = scandir(dir, &names, NULL, alphasort);
    if (n < 0) {
        rc = -errno;
        goto fail;
    }
    for (int i = 0; i < n; i++) {
        const char *name = names[i]->d_name;
        size_t len = strlen(name);
        if (strncmp(name, "seg-", 4) != 0 || len < 10 || strcmp(name + len - 6, ".spool") != 0)
            continue;
        struct segment *g = calloc(1, sizeof(*g));
        if (g == NULL || asprintf(&g->path, "%s/%s", dir, name) < 0) {
            free(g);
            goto fail;
        }
        g->fd = open(g->path, O_RDWR | O_APPEND | O_CLOEXEC);
        if (g->fd < 0) {
            rc = -errno;
            segment_free(g);
            goto fail;
        }
        int r = segment_recover(g, rec);
        if (r < 0) {
            rc = r;
            segment_free(g);
            goto fail;
        }
        if (r == 0) { /* nothing whole in it */
            unlink(g->path);
            segment_free(g);
            continue;
        }
        rec->segments++;
        segment_insert(s, g);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    s->rseg = s->head;
    *out = s;
    return 0;
fail:
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    spool_close(s);
    return rc;
}

void spool_close(struct spool *s)
{
    if (s == NULL)
        return;
    if (s->buf_len > 0)
        spool_flush(s);
    for (struct segment *g = s->head, *next; g != NULL; g = next) {
        next = g->next;
        if (g->dirty)
            fsync(g->fd);
        segment_free(g);
    }
    free(s->rbuf);
    free(s->buf);
    free(s->dir);
    free(s);
}

int spool_flush(struct spool *s)
{
    if (s->buf_len == 0)
        return 0;
    int rc = 0;
    struct segment *g = s->tail;
    if (g == NULL || g->sealed || g->size >= SPOOL_SEGMENT_MAX) {
        if (g != NULL)
            g->sealed = true;
        if ((rc = segment_new(s, s->buf_first, &g)) != 0)
            goto lost;
        segment_insert(s, g);
        if (s->rseg == NULL)
            s->rseg = g;
    }
    size_t off = 0;
    while (off < s->buf_len) {
        ssize_t n = write(g->fd, s->buf + off, s->buf_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            /* A partial record at the tail would be cut at the next start; cut it now
             * so the reader never sees it, and start afresh in a new segment. */
            if (ftruncate(g->fd, (off_t)g->size) != 0) { /* nothing more to do */
            }
            g->sealed = true;
            goto lost;
        }
        off += (size_t)n;
    }
    if (g->size == 0)
        g->first = s->buf_first;
    g->last = s->buf_last;
    g->size += s->buf_len;
    g->dirty = true;
    s->buf_len = 0;
    s->buf_records = 0;
    return 0;
lost:
    s->lost += s->buf_records;
    s->buf_len = 0;
    s->buf_records = 0;
    return rc;
}

int spool_append(struct spool *s, uint64_t version, const char *rk, uint16_t rk_len,
                 const char *body, uint32_t body_len)
{
    size_t len = PAY_FIXED + rk_len + (size_t)body_len;
    if (len > REC_MAX) {
        s->lost++;
        return -EMSGSIZE;
    }
    if (HDR + len > BUF_SIZE - s->buf_len) {
        int rc = spool_flush(s);
        if (rc != 0) {
            s->lost++;
            return rc;
        }
    }
    char *p = s->buf + s->buf_len;
    put32(p, (uint32_t)len);
    memcpy(p + HDR, &version, 8);
    memcpy(p + HDR + 8, &rk_len, 2);
    memcpy(p + HDR + PAY_FIXED, rk, rk_len);
    memcpy(p + HDR + PAY_FIXED + rk_len, body, body_len);
    put32(p + 4, (uint32_t)crc32(0, (const Bytef *)p + HDR, (uInt)len));
    if (s->buf_records == 0)
        s->buf_first = version;
    s->buf_last = version;
    s->buf_records++;
    s->buf_len += HDR + len;
    s->appended++;
    return 0;
}

void spool_seal(struct spool *s)
{
    if (s->tail != NULL)
        s->tail->sealed = true;
}

int spool_read(struct spool *s, struct spool_record *out)
{
    while (s->rseg != NULL) {
        struct segment *g = s->rseg;
        if (s->roff + HDR <= g->size) {
            char hdr[HDR];
            if (pread(g->fd, hdr, HDR, (off_t)s->roff) != HDR)
                return -EIO;
            uint32_t len = get32(hdr);
            if (len < PAY_FIXED || len > REC_MAX || s->roff + HDR + len > g->size)
                return -EIO;
            if (len > s->rcap) {
                char *b = realloc(s->rbuf, len);
                if (b == NULL)
                    return -ENOMEM;
                s->rbuf = b;
                s->rcap = len;
            }
            if (pread(g->fd, s->rbuf, len, (off_t)(s->roff + HDR)) != (ssize_t)len)
                return -EIO;
            memcpy(&out->version, s->rbuf, 8);
            memcpy(&out->rk_len, s->rbuf + 8, 2);
            out->rk = s->rbuf + PAY_FIXED;
            out->body = out->rk + out->rk_len;
            out->body_len = len - PAY_FIXED - out->rk_len;
            s->roff += HDR + len;
            return 0;
        }
        if (!g->sealed || g->next == NULL)
            return -EAGAIN;
        s->rseg = g->next;
        s->roff = 0;
    }
    return -EAGAIN;
}

bool spool_drained(const struct spool *s)
{
    if (s->buf_len > 0)
        return false;
    for (const struct segment *g = s->rseg; g != NULL; g = g->next)
        if ((g == s->rseg ? s->roff : 0) < g->size)
            return false;
    return true;
}

void spool_confirm(struct spool *s, uint64_t v)
{
    while (s->head != NULL) {
        struct segment *g = s->head;
        bool read_past = s->rseg != g || (g->sealed && s->roff >= g->size);
        if (!read_past || !g->sealed || g->last > v)
            return;
        if (s->rseg == g) {
            s->rseg = g->next;
            s->roff = 0;
        }
        s->head = g->next;
        if (s->tail == g)
            s->tail = NULL;
        unlink(g->path);
        segment_free(g);
    }
}

int spool_write_segment(struct spool *s, const struct spool_record *recs, size_t n)
{
    if (n == 0)
        return 0;
    int rc = spool_flush(s);
    if (rc != 0)
        return rc;
    spool_seal(s);
    for (size_t i = 0; i < n; i++) {
        rc = spool_append(s, recs[i].version, recs[i].rk, recs[i].rk_len, recs[i].body,
                          recs[i].body_len);
        if (rc != 0)
            return rc;
    }
    /* The records are older than the sealed tail: flush writes them as a new segment
     * named by their first version, which sorts before the newer segments. */
    if ((rc = spool_flush(s)) != 0)
        return rc;
    spool_seal(s);
    return 0;
}

size_t spool_sync_fds(struct spool *s, int *fds, size_t max)
{
    size_t n = 0;
    for (struct segment *g = s->head; g != NULL && n < max; g = g->next) {
        if (!g->dirty)
            continue;
        int fd = dup(g->fd);
        if (fd < 0)
            continue;
        fds[n++] = fd;
        g->dirty = false;
    }
    return n;
}

uint64_t spool_bytes(const struct spool *s)
{
    uint64_t b = s->buf_len;
    for (const struct segment *g = s->head; g != NULL; g = g->next)
        b += g->size;
    return b;
}

uint64_t spool_appended(const struct spool *s)
{
    return s->appended;
}

uint64_t spool_lost(const struct spool *s)
{
    return s->lost;
}
