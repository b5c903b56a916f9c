/* journal.c - CRC'd segment files, an in-memory tail cache, group commit on a thread. */
#include "sink/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* Record: u32 payload length, u32 crc32c(payload), payload = u64 version, u16 rk_len, rk,
 * body. Host byte order: a journal never leaves the machine that wrote it. CRC-32C
 * (Castagnoli), not zlib's CRC-32: the loop thread checksums every change, and zlib's
 * crc32 took ~1,800 instructions for a 430-byte change, the SSE4.2 instruction ~100. */
#define HDR            8
#define PAY_FIXED      10
#define REC_MAX        (16u << 20) /* far above any change; larger lengths mean damage */
#define META_MAGIC     "INJJRNL1"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 1000
#define IOV_BATCH      64
#define RBUF_SIZE      (256u << 10)
#define SYNC_BATCH     16
/* A segment that cannot be read back is given up once its reads have failed for
 * READ_GIVE_UP_MS and READ_TRIES times at least: the publisher tries again whenever its poll
 * returns (at once on an ack or a heartbeat), so a count alone could pass in milliseconds
 * and one transient EIO would give up up to a segment (16 MiB) of changes. */
#define READ_TRIES      3
#define READ_GIVE_UP_MS 10000
#define NAG_MS          30000 /* while writes or syncs fail, a reminder this often */

/* The meta file: rewritten in place (same size), so it needs no new space on a full
 * disk. Its durability only ever costs republishing (consumers drop repeated versions). */
struct meta_disk {
    char magic[8];
    uint64_t epoch;
    uint64_t confirmed;
    uint64_t issued;
    char boot_id[40];
    uint32_t running;
    uint32_t degraded;
    uint32_t crc; /* CRC-32C of everything before it */
    uint32_t pad;
};

/* A piece of the in-memory tail: whole records, back to back. The loop thread appends to
 * the last chunk; others read only up to the published mark (pub_chunk, pub_len). */
struct chunk {
    struct chunk *next;
    uint64_t seq; /* increasing along the list */
    size_t len, cap;
    uint64_t first, last; /* versions; final once the chunk is no longer the tail */
    uint32_t n;
    _Atomic int64_t t0_ms; /* when its first record came (monotonic) */
    char data[];
};

struct segment {
    struct segment *next;
    char *path;
    uint64_t first, last; /* versions of its whole records; 0 while it has none */
    uint64_t size;        /* bytes in the file (partial record included) */
    uint64_t whole;       /* bytes up to the end of its last whole record */
    int fd;               /* the loop's append descriptor; -1 once sealed */
    int sync_fd;          /* the sync thread's; -1 when it needs no more syncs */
    bool dirty;           /* written since its last sync */
    bool sealed;          /* no more writes */
    int64_t t0_ms;
};

struct journal {
    struct journal_config cfg;
    char *dir; /* NULL: memory only */
    int dirfd, metafd;
    int wakefd;
    char boot_id[40];
    uint64_t epoch;
    struct journal_recovery rec;

    pthread_mutex_t mu;
    pthread_cond_t cond;      /* the sync thread waits on it */
    pthread_cond_t done_cond; /* journal_sync waits on it */
    pthread_t thread;
    bool thread_started;

    /* ---- under mu ---- */
    bool started; /* journal_start ran: the reader's position is set */
    bool stop;
    struct chunk *head, *tail; /* tail: the loop's; linking and freeing under mu */
    struct chunk *pub_chunk;   /* readers see records up to (pub_chunk, pub_len) */
    size_t pub_len;
    uint64_t pub_version;  /* the last version readers may see */
    uint64_t evicted_upto; /* every record <= this has left memory (it is in a file) */
    struct segment *segs, *cur;
    uint64_t written_version; /* last whole record written */
    uint64_t release_upto;    /* may be read though not synced: writes are failing */
    uint64_t snap_version;
    uint64_t sync_req, sync_done;
    int sync_rc;
    /* A sync trouble: from the first failure until syncs have worked for NAG_MS (a disk
     * that fails every other sync is one trouble, not a line pair a round). */
    uint64_t sync_failed; /* syncs failed in this trouble */
    int64_t sync_fail_since_ms;
    struct sink_log_limit sync_limit; /* active while the trouble lasts */
    bool sync_waiting;                /* the sync thread sleeps until something is written */
    bool dir_dirty;                   /* a segment was created since the directory's last fsync */
    bool degraded;                    /* numbered changes are not (all) in a file */
    uint64_t bytes, n_segments;

    /* ---- atomics: counters and positions others read ---- */
    _Atomic uint64_t synced;
    _Atomic uint64_t confirmed;
    _Atomic uint64_t issued;
    _Atomic uint64_t appended_version;
    _Atomic uint64_t appended_n, written_n, cached_n, mem_bytes;
    _Atomic uint64_t lost, not_durable, write_errors, sync_errors, torn, corrupt, unreadable;
    _Atomic uint64_t skipped; /* changes the reader gave up with a segment */
    atomic_bool reader_idle;

    /* ---- loop thread only ---- */
    uint64_t next_seq;
    struct chunk *spare;
    struct chunk *wchunk; /* first byte not yet in a file */
    size_t woff;
    struct chunk *hchunk; /* first record not yet known whole in a file */
    size_t hoff;
    uint64_t released_n; /* appended_n at the last release while failing */
    bool failing;        /* the last write failed: retried after backoff_ms */
    int backoff_ms;
    int64_t retry_at_ms;
    /* A write trouble, like a sync trouble: from the first failure until writes have worked
     * for NAG_MS. Its first failure said, then one line per NAG_MS at most. */
    int64_t fail_since_ms;
    uint64_t write_failed; /* writes failed in this trouble */
    struct sink_log_limit write_limit;
    int64_t roll_retry_ms;
    int64_t roll_fail_since_ms;
    struct sink_log_limit roll_limit; /* a new segment cannot be started: until one is */

    /* ---- reader only ---- */
    uint64_t rpos; /* last version handed out */
    bool rin_cache;
    struct chunk *rchunk;
    uint64_t rseq;
    size_t roff;
    int rfd;
    uint64_t rseg_first;
    uint64_t rfoff; /* file offset of the next record */
    char *rbuf;     /* file bytes [rbase, rbase + rlen) */
    size_t rcap, rlen;
    uint64_t rbase;
    unsigned rerr_tries;              /* reads failed in a row */
    int64_t rerr_since_ms;            /* when the first of them failed */
    struct sink_log_limit read_limit; /* lines about segments skipped */

    /* ---- sync thread only ---- */
    struct meta_disk meta_written;
};

/* ---- CRC-32C ----------------------------------------------------------------------- */

static uint32_t crc_table[256];
static bool crc_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82f63b78u : c >> 1;
        crc_table[i] = c;
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc_hw = __builtin_cpu_supports("sse4.2");
#endif
}

#if defined(__x86_64__)
__attribute__((target("sse4.2"))) static uint32_t crc32c_hw(uint32_t crc, const char *p, size_t n)
{
    uint64_t c = crc;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        c = _mm_crc32_u64(c, w);
    }
    crc = (uint32_t)c;
    for (; n > 0; n--, p++)
        crc = _mm_crc32_u8(crc, (unsigned char)*p);
    return crc;
}
#endif

static uint32_t crc32c(const void *buf, size_t n)
{
    const char *p = buf;
    uint32_t crc = 0xffffffffu;
#if defined(__x86_64__)
    if (crc_hw)
        return ~crc32c_hw(crc, p, n);
#endif
    for (size_t i = 0; i < n; i++)
        crc = crc_table[(crc ^ (unsigned char)p[i]) & 0xff] ^ (crc >> 8);
    return ~crc;
}

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

static uint64_t get64(const char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static uint64_t max64(uint64_t a, uint64_t b)
{
    return a > b ? a : b;
}

static void wake_reader(struct journal *j)
{
    uint64_t one = 1;
    if (!atomic_exchange(&j->reader_idle, false))
        return;
    /* EAGAIN: the counter is already non-zero, the reader wakes anyway. */
    if (write(j->wakefd, &one, sizeof(one)) < 0) {
    }
}

int journal_boot_id(char *buf, size_t size)
{
    int fd = open("/proc/sys/kernel/random/boot_id", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = read(fd, buf, size - 1);
    int rc = n < 0 ? -errno : 0;
    close(fd);
    if (rc != 0)
        return rc;
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
        n--;
    buf[n] = '\0';
    return n > 0 ? 0 : -EINVAL;
}

/* ---- the meta file ----------------------------------------------------------------- */

static uint32_t meta_crc(const struct meta_disk *m)
{
    return crc32c(m, offsetof(struct meta_disk, crc));
}

static void meta_fill(struct journal *j, struct meta_disk *m, bool running)
{
    memset(m, 0, sizeof(*m));
    memcpy(m->magic, META_MAGIC, 8);
    m->epoch = j->epoch;
    m->confirmed = atomic_load(&j->confirmed);
    m->issued = atomic_load(&j->issued);
    snprintf(m->boot_id, sizeof(m->boot_id), "%s", j->boot_id);
    m->running = running;
    pthread_mutex_lock(&j->mu);
    m->degraded = j->degraded;
    pthread_mutex_unlock(&j->mu);
    m->crc = meta_crc(m);
}

static int meta_write(struct journal *j, const struct meta_disk *m, bool sync)
{
    if (j->metafd < 0)
        return -EBADF;
    ssize_t n = pwrite(j->metafd, m, sizeof(*m), 0);
    if (n != (ssize_t)sizeof(*m))
        return n < 0 ? -errno : -EIO;
    if (sync && fdatasync(j->metafd) != 0)
        return -errno;
    j->meta_written = *m;
    return 0;
}

static void meta_read(struct journal *j, struct journal_recovery *rec)
{
    struct meta_disk m;
    char path[4200];
    snprintf(path, sizeof(path), "%s/meta", j->dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return; /* a first start */
    ssize_t n = pread(fd, &m, sizeof(m), 0);
    close(fd);
    if (n != (ssize_t)sizeof(m) || memcmp(m.magic, META_MAGIC, 8) != 0 || m.crc != meta_crc(&m)) {
        rec->meta_damaged = true;
        sink_log_say(j->cfg.log, SINK_LOG_WARNING,
                     "journal: %s is damaged; the last stop is taken for an unclean one", path);
        return;
    }
    m.boot_id[sizeof(m.boot_id) - 1] = '\0';
    rec->meta_found = true;
    rec->epoch = m.epoch;
    rec->confirmed = m.confirmed;
    rec->issued = m.issued;
    rec->clean = m.running == 0;
    rec->same_boot = j->boot_id[0] != '\0' && strcmp(m.boot_id, j->boot_id) == 0;
    rec->degraded = m.degraded != 0;
}

/* ---- recovery ---------------------------------------------------------------------- */

static bool all_zero(const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != 0)
            return false;
    return true;
}

static void segment_free(struct segment *s)
{
    if (s == NULL)
        return;
    if (s->fd >= 0)
        close(s->fd);
    if (s->sync_fd >= 0)
        close(s->sync_fd);
    free(s->path);
    free(s);
}

/* Where the whole records of data[0..size) end, walking from the start; *why says what
 * stopped the walk (NULL: the end was reached). Versions must grow. */
static uint64_t scan_records(const char *data, uint64_t size, uint64_t after, uint64_t *first,
                             uint64_t *last, uint64_t *records, const char **why, bool *torn)
{
    uint64_t off = 0;
    *why = NULL;
    *torn = false;
    while (off < size) {
        uint64_t left = size - off;
        if (left < HDR + PAY_FIXED) {
            *why = "a partial record";
            *torn = true;
            break;
        }
        uint32_t len = get32(data + off), crc = get32(data + off + 4);
        if (len < PAY_FIXED || len > REC_MAX) {
            *why = "a bad record length";
            *torn = all_zero(data + off, left); /* a tail the file system left zero-filled */
            break;
        }
        if (HDR + (uint64_t)len > left) {
            *why = "a partial record";
            *torn = true;
            break;
        }
        if (crc32c(data + off + HDR, len) != crc) {
            *why = "a CRC mismatch";
            *torn = off + HDR + len == size; /* the last record, half written */
            break;
        }
        uint64_t v = get64(data + off + HDR);
        uint16_t rk_len;
        memcpy(&rk_len, data + off + HDR + 8, 2);
        if (v <= after || PAY_FIXED + (uint32_t)rk_len > len) {
            *why = v <= after ? "versions out of order" : "a bad routing key length";
            break;
        }
        if (*records == 0)
            *first = v;
        *last = after = v;
        (*records)++;
        off += HDR + len;
    }
    return off;
}

/* Set a damaged segment aside: the file keeps its name with the good part only, the whole
 * original goes to <path>.corrupt-<time>. */
static int set_aside(struct journal *j, struct segment *s, const char *data, uint64_t good,
                     char *aside, size_t aside_size)
{
    snprintf(aside, aside_size, "%s.corrupt-%lld", s->path, (long long)time(NULL));
    if (rename(s->path, aside) != 0)
        return -errno;
    if (good == 0)
        return 0;
    int fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    int rc = 0;
    for (uint64_t off = 0; off < good && rc == 0;) {
        ssize_t n = write(fd, data + off, good - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            rc = n < 0 ? -errno : -EIO;
        else
            off += (uint64_t)n;
    }
    if (rc == 0 && fdatasync(fd) != 0)
        rc = -errno;
    close(fd);
    (void)j;
    return rc;
}

/* Recover one segment file. Returns 1 (kept), 0 (nothing whole in it: removed) or a
 * negative errno. */
static int segment_recover(struct journal *j, struct segment *s, uint64_t after, bool last_one,
                           struct journal_recovery *rec)
{
    int fd = open(s->path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    uint64_t size = (uint64_t)st.st_size, records = 0, good = 0;
    const char *why = NULL;
    bool torn = false;
    char *data = NULL;
    if (size > 0) {
        data = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (data == MAP_FAILED) {
            int rc = -errno;
            close(fd);
            return rc;
        }
        good = scan_records(data, size, after, &s->first, &s->last, &records, &why, &torn);
        /* A crash tears only the end of what was being written: damage in an older
         * segment (unless the file system left zeros) is corruption. */
        if (why != NULL && torn && !last_one && !all_zero(data + good, size - good))
            torn = false;
    }
    const char *name = strrchr(s->path, '/') ? strrchr(s->path, '/') + 1 : s->path;
    int rc = 0;
    if (why != NULL && torn) {
        if (ftruncate(fd, (off_t)good) != 0)
            rc = -errno;
        else
            fdatasync(fd);
        rec->torn++;
        sink_log_say(j->cfg.log, SINK_LOG_WARNING,
                     "journal: %s ended in %s (a crash mid-write): cut %" PRIu64 " bytes, kept "
                     "%" PRIu64 " changes%s",
                     name, why, size - good, records, rc ? " (the cut failed: read-only?)" : "");
    } else if (why != NULL) {
        char aside[4300];
        rc = set_aside(j, s, data, good, aside, sizeof(aside));
        rec->corrupt++;
        sink_log_say(j->cfg.log, SINK_LOG_ERROR,
                     "journal: %s: %s at byte %" PRIu64 "; kept the %" PRIu64 " changes before it "
                     "(versions %" PRIu64 "-%" PRIu64 "), %s the rest (%" PRIu64 " bytes) as %s",
                     name, why, good, records, s->first, s->last,
                     rc ? "could not set aside" : "set aside", size - good, aside);
        if (rc != 0)
            sink_log_say(j->cfg.log, SINK_LOG_ERROR, "journal: setting %s aside failed: %s", name,
                         strerror(-rc));
    }
    if (data != NULL)
        munmap(data, size);
    close(fd);
    if (rc != 0 && why != NULL && !torn)
        return rc;
    s->size = s->whole = good;
    s->sealed = true;
    if (records == 0) {
        unlink(s->path);
        return 0;
    }
    rec->records += records;
    rec->bytes += good;
    return 1;
}

static int name_is_segment(const char *name)
{
    size_t n = strlen(name);
    return strncmp(name, "seg-", 4) == 0 && n > 8 && strcmp(name + n - 4, ".jnl") == 0;
}

/* First version a segment's name says (seg-<version>[-k].jnl), for the scan order. */
static uint64_t name_version(const char *name)
{
    return strtoull(name + 4, NULL, 10);
}

static int cmp_names(const struct dirent **a, const struct dirent **b)
{
    uint64_t x = name_version((*a)->d_name), y = name_version((*b)->d_name);
    if (x != y)
        return x < y ? -1 : 1;
    return strcmp((*a)->d_name, (*b)->d_name);
}

static int filter_segments(const struct dirent *d)
{
    return name_is_segment(d->d_name);
}

static int recover_all(struct journal *j, struct journal_recovery *rec)
{
    struct dirent **names = NULL;
    int n = scandir(j->dir, &names, filter_segments, cmp_names), rc = 0;
    if (n < 0)
        return -errno;
    struct segment **tailp = &j->segs;
    uint64_t after = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        struct segment *s = calloc(1, sizeof(*s));
        if (s == NULL || asprintf(&s->path, "%s/%s", j->dir, names[i]->d_name) < 0) {
            free(s);
            rc = -ENOMEM;
            break;
        }
        s->fd = s->sync_fd = -1;
        s->t0_ms = sink_log_now_ms();
        int r = segment_recover(j, s, after, i == n - 1, rec);
        if (r <= 0) {
            if (r < 0)
                sink_log_say(j->cfg.log, SINK_LOG_ERROR,
                             "journal: cannot recover %s: %s; it is left alone", s->path,
                             strerror(-r));
            segment_free(s);
            continue;
        }
        after = s->last;
        if (rec->first_version == 0)
            rec->first_version = s->first;
        rec->last_version = s->last;
        rec->segments++;
        j->bytes += s->size;
        j->n_segments++;
        *tailp = s;
        tailp = &s->next;
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    return rc;
}

/* ---- open, replay, start ----------------------------------------------------------- */

int journal_open(const struct journal_config *cfg, struct journal **out,
                 struct journal_recovery *rec)
{
    struct journal_recovery tmp;
    int rc = -ENOMEM;
    if (rec == NULL)
        rec = &tmp;
    memset(rec, 0, sizeof(*rec));
    pthread_once(&crc_once, crc_init);
    struct journal *j = calloc(1, sizeof(*j));
    if (j == NULL)
        return -ENOMEM;
    j->cfg = *cfg;
    j->dirfd = j->metafd = j->wakefd = j->rfd = -1;
    pthread_mutex_init(&j->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&j->cond, &ca);
    pthread_cond_init(&j->done_cond, &ca);
    pthread_condattr_destroy(&ca);
    if (j->cfg.sync_ms == 0)
        j->cfg.sync_ms = JOURNAL_SYNC_MS;
    if (j->cfg.cache_bytes == 0)
        j->cfg.cache_bytes = 256u << 20;
    if (j->cfg.chunk_bytes == 0)
        j->cfg.chunk_bytes = 1u << 20;
    if (j->cfg.segment_max == 0)
        j->cfg.segment_max = JOURNAL_SEGMENT_MAX;
    j->backoff_ms = BACKOFF_MIN_MS;
    j->write_limit = j->sync_limit = j->roll_limit = SINK_LOG_LIMIT(1, NAG_MS);
    j->read_limit = SINK_LOG_LIMIT(3, 60000);
    if ((j->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    if (journal_boot_id(j->boot_id, sizeof(j->boot_id)) != 0)
        j->boot_id[0] = '\0';
    if (cfg->dir != NULL) {
        if ((j->dir = strdup(cfg->dir)) == NULL)
            goto fail;
        if (mkdir(j->dir, 0700) != 0 && errno != EEXIST) {
            rc = -errno;
            goto fail;
        }
        if ((j->dirfd = open(j->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
            rc = -errno;
            goto fail;
        }
        meta_read(j, rec);
        if ((rc = recover_all(j, rec)) != 0)
            goto fail;
        atomic_store(&j->torn, rec->torn);
        atomic_store(&j->corrupt, rec->corrupt);
    }
    j->rec = *rec;
    *out = j;
    return 0;
fail:
    journal_free(j);
    return rc;
}

int journal_replay(struct journal *j, uint64_t after, journal_replay_cb cb, void *data)
{
    int rc = 0;
    for (struct segment *s = j->segs; s != NULL && rc == 0; s = s->next) {
        if (s->last <= after || s->whole == 0)
            continue;
        int fd = open(s->path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        char *m = mmap(NULL, s->whole, PROT_READ, MAP_PRIVATE, fd, 0);
        close(fd);
        if (m == MAP_FAILED)
            return -errno;
        for (uint64_t off = 0; off + HDR <= s->whole && rc == 0;) {
            uint32_t len = get32(m + off);
            uint64_t v = get64(m + off + HDR);
            uint16_t rk_len;
            memcpy(&rk_len, m + off + HDR + 8, 2);
            if (v > after) {
                const char *body = m + off + HDR + PAY_FIXED + rk_len;
                rc = cb(v, body, len - PAY_FIXED - rk_len, data);
            }
            off += HDR + len;
        }
        munmap(m, s->whole);
    }
    return rc;
}

void journal_resume(const struct journal_recovery *rec, uint64_t snap_epoch, uint64_t snap_version,
                    struct journal_resume *out)
{
    out->epoch = rec->meta_found && rec->epoch != 0 ? rec->epoch : snap_epoch;
    out->version = max64(snap_version, rec->last_version);
    out->why = NULL;
    if (rec->corrupt > 0) {
        /* Records set aside: consumers may hold changes the table now lacks. */
        out->why = "the journal had damaged records (set aside): the table may lack changes "
                   "consumers have seen";
        out->epoch = 0;
        out->version = max64(out->version, rec->issued);
        return;
    }
    if (rec->meta_found && rec->clean) {
        out->version = max64(out->version, rec->issued); /* exact at a clean stop */
        return;
    }
    if (!rec->meta_found && !rec->meta_damaged)
        return; /* no journal before: the snapshot alone says where we are */
    if (rec->meta_damaged)
        out->why = "the journal's meta file is damaged";
    else if (!rec->same_boot)
        out->why = "the last run stopped uncleanly before this boot (its unsynced changes "
                   "may be lost)";
    else if (rec->degraded)
        out->why = "the last run stopped uncleanly with changes it could not write";
    else
        return; /* a crash on this boot: the page cache kept every written change */
    out->epoch = 0;
    out->version = max64(out->version, rec->issued);
}

/* fdatasync a recovered segment by path (the previous run may not have). */
static void sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        fdatasync(fd);
        close(fd);
    }
}

static void *sync_main(void *arg);

int journal_start(struct journal *j, uint64_t epoch, uint64_t version)
{
    uint64_t last = j->rec.last_version;
    int rc = 0;
    /* What the previous run wrote is on disk before the reader may send it on. */
    if (j->dir != NULL && !j->rec.clean)
        for (struct segment *s = j->segs; s != NULL; s = s->next)
            sync_path(s->path);
    /* The reader may already be asking (the publisher starts first): under mu. */
    pthread_mutex_lock(&j->mu);
    j->epoch = epoch;
    atomic_store(&j->issued, max64(version, j->rec.issued));
    atomic_store(&j->appended_version, version);
    j->pub_version = last;
    j->evicted_upto = last;
    j->written_version = last;
    atomic_store(&j->synced, last);
    /* The reader goes on after what the broker confirmed; memory only, after this run's
     * first change (nothing older is left). */
    j->rpos = j->dir != NULL ? j->rec.confirmed : version;
    atomic_store(&j->confirmed, j->dir != NULL ? j->rec.confirmed : version);
    if (j->dir == NULL) {
        j->pub_version = version;
        j->written_version = version;
        atomic_store(&j->synced, version);
    }
    j->started = true;
    pthread_mutex_unlock(&j->mu);
    wake_reader(j);
    if (j->dir != NULL) {
        /* "Running, on this boot" is on disk before the first change is numbered. A
         * failure here (a full disk) is said and lived with: the next start then sees no
         * record of this run and takes the snapshot's and the journal's word. */
        char path[4200];
        snprintf(path, sizeof(path), "%s/meta", j->dir);
        struct meta_disk m;
        meta_fill(j, &m, true);
        if ((j->metafd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0)
            rc = -errno;
        else if ((rc = meta_write(j, &m, true)) == 0 && fsync(j->dirfd) != 0)
            rc = -errno;
        if (rc != 0)
            sink_log_say(j->cfg.log, SINK_LOG_ERROR, "journal: cannot write %s: %s", path,
                         strerror(-rc));
    }
    if (j->dir == NULL)
        return 0; /* memory only: nothing to sync, no thread */
    if ((rc = pthread_create(&j->thread, NULL, sync_main, j)) != 0)
        return -rc;
    j->thread_started = true;
    return 0;
}

/* ---- the loop thread: append and flush --------------------------------------------- */

/* The bytes mapped for a chunk of cap bytes of records. */
static size_t chunk_map_size(size_t cap)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    return (sizeof(struct chunk) + cap + page - 1) / page * page;
}

/* Chunks are mappings of their own, marked MADV_DONTFORK: the snapshot writer is a fork of
 * the daemon that never reads them, and fork() would otherwise copy the page tables of the
 * whole cache (up to --outbox-size changes of memory) at every snapshot. Not malloc's
 * memory: a heap page also holds the allocator's own data, which the child needs. */
static struct chunk *chunk_map(size_t cap)
{
    size_t size = chunk_map_size(cap);
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    (void)madvise(p, size, MADV_DONTFORK); /* without it (an old kernel): copied, as before */
    return p;
}

static void chunk_unmap(struct chunk *c)
{
    if (c != NULL)
        munmap(c, chunk_map_size(c->cap));
}

static struct chunk *chunk_alloc(struct journal *j, size_t need)
{
    struct chunk *c;
    size_t cap = need > j->cfg.chunk_bytes ? need : j->cfg.chunk_bytes;
    if (cap == j->cfg.chunk_bytes && j->spare != NULL) {
        c = j->spare;
        j->spare = NULL;
    } else if ((c = chunk_map(cap)) == NULL) {
        return NULL;
    }
    c->next = NULL;
    c->cap = cap;
    c->len = 0;
    c->n = 0;
    c->first = c->last = 0;
    atomic_store(&c->t0_ms, 0);
    return c;
}

static void chunk_release(struct journal *j, struct chunk *c)
{
    if (c->cap == j->cfg.chunk_bytes && j->spare == NULL)
        j->spare = c;
    else
        chunk_unmap(c);
}

/* Under mu, loop thread: take the head chunk off the list. */
static void drop_head(struct journal *j)
{
    struct chunk *c = j->head;
    j->head = c->next;
    if (c->n > 0)
        j->evicted_upto = max64(j->evicted_upto, c->last);
    if (j->pub_chunk == c) { /* every record of a chunk that goes was published */
        j->pub_chunk = c->next;
        j->pub_len = 0;
    }
    atomic_fetch_sub(&j->cached_n, c->n);
    atomic_fetch_sub(&j->mem_bytes, c->cap);
    chunk_release(j, c);
}

/* Whether every byte of chunk c is in a file (disk mode). */
static bool chunk_written(const struct journal *j, const struct chunk *c)
{
    return j->wchunk != NULL && (c->seq < j->wchunk->seq || (c == j->wchunk && j->woff == c->len));
}

/* Under mu, loop thread: free the head chunks nobody needs any more: in a file and (with
 * a reader) confirmed; memory only: confirmed. pressure: also what is in a file but
 * unconfirmed (the reader goes to the file for it). Never the tail. */
static void free_chunks(struct journal *j, bool pressure)
{
    uint64_t confirmed = atomic_load(&j->confirmed);
    while (j->head != NULL && j->head != j->tail) {
        struct chunk *c = j->head;
        bool done = c->n == 0 || c->last <= confirmed;
        bool ok =
            j->dir != NULL ? chunk_written(j, c) && (done || !j->cfg.reader || pressure) : done;
        if (!ok)
            break;
        drop_head(j);
    }
}

/* Changes held that could not go anywhere else: memory only, those the broker has not
 * confirmed; on disk, those not yet in a file. These are what the count limit bounds. */
static bool over_limit(const struct journal *j)
{
    if (j->cfg.cache_changes == 0)
        return false;
    uint64_t held = j->dir != NULL ? atomic_load(&j->appended_n) - atomic_load(&j->written_n)
                                   : atomic_load(&j->appended_version) - atomic_load(&j->confirmed);
    return held >= j->cfg.cache_changes;
}

/* Under mu, loop thread: a new tail chunk (the old one, complete, may then go). */
static int new_tail(struct journal *j, size_t need)
{
    struct chunk *c = chunk_alloc(j, need), *old = j->tail;
    if (c == NULL)
        return -ENOMEM;
    c->seq = j->next_seq++;
    if (old != NULL)
        old->next = c;
    else
        j->head = c;
    j->tail = c;
    atomic_fetch_add(&j->mem_bytes, c->cap);
    if (j->dir != NULL) {
        if (j->wchunk == NULL || (j->wchunk == old && j->woff == old->len)) {
            j->wchunk = c;
            j->woff = 0;
        }
        if (j->hchunk == NULL || (j->hchunk == old && j->hoff == old->len)) {
            j->hchunk = c;
            j->hoff = 0;
        }
    }
    return 0;
}

/* Loop thread: make room for a record of rec bytes: free what is done, under pressure
 * evict what is in a file, take a new chunk. Returns 0 or -ENOBUFS. */
static int make_room(struct journal *j, size_t rec)
{
    int rc = 0;
    pthread_mutex_lock(&j->mu);
    free_chunks(j, false);
    if (j->tail == NULL || j->tail->cap - j->tail->len < rec) {
        size_t cap = rec > j->cfg.chunk_bytes ? rec : j->cfg.chunk_bytes;
        if (j->dir != NULL && atomic_load(&j->mem_bytes) + cap > j->cfg.cache_bytes)
            free_chunks(j, true);
        /* Still over: a new chunk only when the old tail can go in its place. */
        bool tail_goes = j->head == j->tail && j->tail != NULL &&
                         (j->dir != NULL ? chunk_written(j, j->tail)
                                         : j->tail->last <= atomic_load(&j->confirmed));
        if (atomic_load(&j->mem_bytes) + cap > j->cfg.cache_bytes && !tail_goes)
            rc = -ENOBUFS;
        else if (new_tail(j, rec) != 0)
            rc = -ENOBUFS;
        else
            free_chunks(j, j->dir != NULL && tail_goes);
    }
    if (rc == 0 && over_limit(j))
        rc = -ENOBUFS;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

int journal_append(struct journal *j, const struct change *c, const char *json, size_t len)
{
    char rk[ALERT_KEY_MAX + 64];
    size_t rk_len = 0;
    if (j->cfg.reader) { /* the routing key is the publisher's; without one, none */
        int k = change_routing_key(c, rk, sizeof(rk));
        rk_len = k < 0 ? 0 : (size_t)k < sizeof(rk) ? (size_t)k : sizeof(rk) - 1;
    }
    size_t pay = PAY_FIXED + rk_len + len;
    if (c->version > atomic_load_explicit(&j->issued, memory_order_relaxed))
        atomic_store_explicit(&j->issued, c->version, memory_order_relaxed);
    /* On disk the count limit bounds changes not yet in a file. Normally that is one loop
     * iteration's worth, written at its end; an iteration that made more (a large batch
     * from the intake queue, a 1,024-alert document) writes them out now rather than lose
     * any. Only while writes fail does the limit refuse changes. */
    if (j->dir != NULL && !j->failing && over_limit(j))
        journal_flush(j, sink_log_now_ms());
    struct chunk *t = j->tail;
    if (pay > REC_MAX || ((t == NULL || t->cap - t->len < HDR + pay || over_limit(j)) &&
                          make_room(j, HDR + pay) != 0)) {
        atomic_fetch_add(&j->lost, 1);
        pthread_mutex_lock(&j->mu);
        j->degraded = true; /* a numbered change is in no file */
        pthread_mutex_unlock(&j->mu);
        return -ENOBUFS;
    }
    t = j->tail;
    char *p = t->data + t->len;
    uint16_t rk16 = (uint16_t)rk_len;
    put32(p, (uint32_t)pay);
    memcpy(p + HDR, &c->version, 8);
    memcpy(p + HDR + 8, &rk16, 2);
    memcpy(p + HDR + PAY_FIXED, rk, rk_len);
    memcpy(p + HDR + PAY_FIXED + rk_len, json, len);
    put32(p + 4, crc32c(p + HDR, pay));
    t->len += HDR + pay;
    if (t->n++ == 0) {
        t->first = c->version;
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        atomic_store_explicit(&t->t0_ms, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000,
                              memory_order_relaxed);
    }
    t->last = c->version;
    atomic_store_explicit(&j->appended_version, c->version, memory_order_relaxed);
    atomic_fetch_add_explicit(&j->appended_n, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&j->cached_n, 1, memory_order_relaxed);
    return 0;
}

/* Loop thread: open a new segment named after first. Returns 0 or a negative errno. */
static int segment_create(struct journal *j, uint64_t first, struct segment **out)
{
    struct segment *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->fd = s->sync_fd = -1;
    for (int k = 0; k < 100; k++) {
        free(s->path);
        int r = k == 0 ? asprintf(&s->path, "%s/seg-%020" PRIu64 ".jnl", j->dir, first)
                       : asprintf(&s->path, "%s/seg-%020" PRIu64 "-%d.jnl", j->dir, first, k);
        if (r < 0) {
            s->path = NULL;
            segment_free(s);
            return -ENOMEM;
        }
        s->fd = open(s->path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
        if (s->fd >= 0 || errno != EEXIST)
            break;
    }
    if (s->fd < 0 || (s->sync_fd = dup(s->fd)) < 0) {
        int rc = -errno;
        if (s->fd >= 0)
            unlink(s->path);
        segment_free(s);
        return rc;
    }
    s->t0_ms = sink_log_now_ms();
    *out = s;
    return 0;
}

/* Loop thread: the segment to write to, rolling past segment_max (only between records,
 * and never more than one new file per second while that fails). */
static int current_segment(struct journal *j, int64_t now, struct segment **out)
{
    struct segment *cur = j->cur;
    bool roll = cur == NULL || (cur->size >= j->cfg.segment_max && cur->size == cur->whole);
    if (!roll) {
        *out = cur;
        return 0;
    }
    if (cur != NULL && now < j->roll_retry_ms) {
        *out = cur;
        return 0;
    }
    /* The first version not yet in a file names the new segment. */
    while (j->hoff >= j->hchunk->len && j->hchunk->next != NULL) {
        j->hchunk = j->hchunk->next;
        j->hoff = 0;
    }
    uint64_t first = get64(j->hchunk->data + j->hoff + HDR);
    struct segment *s = NULL;
    int rc = segment_create(j, first, &s);
    if (rc != 0) {
        j->roll_retry_ms = now + 1000;
        if (cur == NULL)
            return rc;
        /* Retried every second while writes to the current one work (EMFILE, EACCES): said
         * once, then once a NAG_MS, and once a roll works again. */
        uint64_t untold = 0;
        bool first_line = !sink_log_limit_active(&j->roll_limit);
        if (first_line)
            j->roll_fail_since_ms = now;
        bool say = sink_log_limit_pass(&j->roll_limit, now, &untold);
        if (say && first_line)
            sink_log_say(j->cfg.log, SINK_LOG_WARNING,
                         "journal: cannot start a new segment: %s; going on in the current one "
                         "(%s), tried again every second",
                         strerror(-rc), cur->path);
        else if (say)
            sink_log_say(j->cfg.log, SINK_LOG_WARNING,
                         "journal: still cannot start a new segment (%s), the trouble began %lld "
                         "s ago: %" PRIu64 " tries failed since the last line; going on in %s "
                         "(%" PRIu64 " bytes)",
                         strerror(-rc), (long long)((now - j->roll_fail_since_ms) / 1000),
                         untold + 1, cur->path, cur->size);
        *out = cur;
        return 0;
    }
    if (sink_log_limit_active(&j->roll_limit)) {
        sink_log_limit_end(&j->roll_limit);
        sink_log_say(j->cfg.log, SINK_LOG_NOTICE,
                     "journal: started a new segment again (%s) after %lld s of failures", s->path,
                     (long long)((now - j->roll_fail_since_ms) / 1000));
    }
    pthread_mutex_lock(&j->mu);
    int old_fd = -1;
    if (cur != NULL) {
        cur->sealed = true;
        old_fd = cur->fd;
        cur->fd = -1;
    }
    struct segment **pp = &j->segs;
    while (*pp != NULL)
        pp = &(*pp)->next;
    *pp = s;
    j->cur = s;
    j->n_segments++;
    j->dir_dirty = true;
    pthread_mutex_unlock(&j->mu);
    if (old_fd >= 0)
        close(old_fd);
    *out = s;
    return 0;
}

/* Loop thread: write (wchunk, woff) .. the tail's end to the current segment. */
static int write_out(struct journal *j, int64_t now)
{
    struct segment *s;
    int rc = current_segment(j, now, &s);
    bool wrote = false;
    if (rc != 0)
        return rc;
    for (;;) {
        struct iovec iov[IOV_BATCH];
        int cnt = 0;
        for (struct chunk *c = j->wchunk; c != NULL && cnt < IOV_BATCH; c = c->next) {
            size_t start = c == j->wchunk ? j->woff : 0;
            if (c->len > start)
                iov[cnt++] = (struct iovec){c->data + start, c->len - start};
        }
        if (cnt == 0)
            break;
        ssize_t n = writev(s->fd, iov, cnt);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = n < 0 ? -errno : -EIO;
            break;
        }
        s->size += (uint64_t)n;
        wrote = true;
        size_t left = (size_t)n;
        while (left > 0) {
            size_t avail = j->wchunk->len - j->woff;
            if (left < avail) {
                j->woff += left;
                left = 0;
            } else {
                left -= avail;
                j->woff = j->wchunk->len;
                if (j->wchunk->next != NULL) {
                    j->wchunk = j->wchunk->next;
                    j->woff = 0;
                }
            }
        }
    }
    /* Which records are now whole in the file (a short write may end inside one). */
    uint64_t whole = 0, wn = 0, first = 0, last = 0;
    for (;;) {
        struct chunk *c = j->hchunk;
        if (j->hoff >= c->len) {
            if (c == j->wchunk || c->next == NULL)
                break;
            j->hchunk = c->next;
            j->hoff = 0;
            continue;
        }
        uint32_t len = get32(c->data + j->hoff);
        size_t end = j->hoff + HDR + len;
        if (c == j->wchunk && end > j->woff)
            break;
        last = get64(c->data + j->hoff + HDR);
        if (first == 0)
            first = last;
        whole += HDR + len;
        wn++;
        j->hoff = end;
    }
    if (wn > 0) {
        pthread_mutex_lock(&j->mu);
        if (s->first == 0)
            s->first = first;
        s->last = last;
        s->whole += whole;
        j->bytes += whole;
        j->written_version = last;
        pthread_mutex_unlock(&j->mu);
        atomic_fetch_add(&j->written_n, wn);
    }
    if (wrote) {
        pthread_mutex_lock(&j->mu);
        s->dirty = true;
        pthread_mutex_unlock(&j->mu);
    }
    return rc;
}

/* Loop thread: a write failed with rc at now. The first failure of a trouble is said, then
 * one line per NAG_MS at most with how many failed meanwhile. */
static void write_failed(struct journal *j, int rc, int64_t now)
{
    uint64_t untold = 0;
    bool first = !sink_log_limit_active(&j->write_limit);
    bool say = sink_log_limit_pass(&j->write_limit, now, &untold);
    atomic_fetch_add(&j->write_errors, 1);
    if (first) {
        j->fail_since_ms = now;
        j->write_failed = 0;
    }
    j->write_failed++;
    if (!j->failing)
        j->released_n = atomic_load(&j->written_n);
    if (first)
        sink_log_say(j->cfg.log, SINK_LOG_ERROR,
                     "journal: writing to %s failed: %s; the changes stay in memory "
                     "(published all the same, counted as not durable) and the write "
                     "is retried",
                     j->cur != NULL ? j->cur->path : j->dir, strerror(-rc));
    else if (say)
        sink_log_say(j->cfg.log, SINK_LOG_ERROR,
                     "journal: writes keep failing (%s), the trouble began %lld s ago: %" PRIu64
                     " failed since the last line; %" PRIu64 " changes in memory only, %" PRIu64
                     " lost so far",
                     strerror(-rc), (long long)((now - j->fail_since_ms) / 1000), untold + 1,
                     atomic_load(&j->appended_n) - atomic_load(&j->written_n),
                     atomic_load(&j->lost));
    j->failing = true;
    j->retry_at_ms = now + j->backoff_ms;
    j->backoff_ms = j->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : j->backoff_ms * 2;
}

int journal_flush(struct journal *j, int64_t now)
{
    struct chunk *t = j->tail;
    /* The end of a write trouble is said once no write has failed for NAG_MS, at the first
     * flush after (with news or not). */
    if (!j->failing && sink_log_limit_quiet(&j->write_limit, now, NAG_MS, NULL))
        sink_log_say(j->cfg.log, SINK_LOG_NOTICE,
                     "journal: writing again: no write failed for %d s (the trouble began %lld "
                     "s ago, %" PRIu64 " writes failed); the changes held in memory are in %s",
                     NAG_MS / 1000, (long long)((now - j->fail_since_ms) / 1000), j->write_failed,
                     j->cur != NULL ? j->cur->path : j->dir);
    if (t == NULL)
        return 0;
    bool news = t != j->pub_chunk || t->len != j->pub_len;
    bool unwritten = j->dir != NULL && (j->wchunk != t || j->woff != t->len);
    if (!news && !unwritten)
        return 0;
    int rc = 0;
    if (unwritten && (!j->failing || now >= j->retry_at_ms)) {
        rc = write_out(j, now);
        if (rc != 0) {
            write_failed(j, rc, now);
        } else if (j->failing) {
            /* Written: the changes are safe again, but the trouble is not over until no
             * write has failed for NAG_MS (said at the top of a later flush). */
            j->failing = false;
            j->backoff_ms = BACKOFF_MIN_MS;
        }
    }
    bool still_unwritten = j->dir != NULL && (j->wchunk != t || j->woff != t->len);
    uint64_t appended = atomic_load(&j->appended_version);
    pthread_mutex_lock(&j->mu);
    j->pub_chunk = t;
    j->pub_len = t->len;
    j->pub_version = appended;
    bool release = j->dir == NULL;
    if (j->dir != NULL && still_unwritten && j->failing) {
        /* Not writable now: publish them anyway rather than hold the broker back. */
        uint64_t an = atomic_load(&j->appended_n), wn = atomic_load(&j->written_n);
        uint64_t from = max64(j->released_n, wn);
        if (an > from)
            atomic_fetch_add(&j->not_durable, an - from);
        j->released_n = an;
        j->release_upto = appended;
        j->degraded = true;
        release = true;
    } else if (j->dir != NULL && !still_unwritten && j->degraded && atomic_load(&j->lost) == 0) {
        j->degraded = false;
    }
    free_chunks(j, false);
    /* On disk, memory keeps about cache_changes of them for the reader; the older ones it
     * reads back from the files. */
    if (j->dir != NULL && j->cfg.cache_changes != 0 &&
        atomic_load(&j->cached_n) > j->cfg.cache_changes)
        free_chunks(j, true);
    bool signal = j->sync_waiting && j->dir != NULL;
    pthread_mutex_unlock(&j->mu);
    if (signal)
        pthread_cond_signal(&j->cond);
    if (release)
        wake_reader(j);
    return rc;
}

void journal_snapshot_done(struct journal *j, uint64_t version)
{
    pthread_mutex_lock(&j->mu);
    j->snap_version = max64(j->snap_version, version);
    pthread_mutex_unlock(&j->mu);
}

/* ---- the sync thread --------------------------------------------------------------- */

/* Under mu (dropped to log): a sync trouble ends once no sync has failed for NAG_MS. Called
 * after a good sync, and while the thread waits for something to sync (the end is said
 * though nothing more is written). */
static void sync_trouble_over(struct journal *j, int64_t now)
{
    if (j->sync_rc != 0 || !sink_log_limit_quiet(&j->sync_limit, now, NAG_MS, NULL))
        return;
    uint64_t failed = j->sync_failed;
    int64_t since = j->sync_fail_since_ms;
    pthread_mutex_unlock(&j->mu);
    sink_log_say(j->cfg.log, SINK_LOG_NOTICE,
                 "journal: fdatasync works again: none failed for %d s (the trouble began %lld s "
                 "ago, %" PRIu64 " attempts failed)",
                 NAG_MS / 1000, (long long)((now - since) / 1000), failed);
    pthread_mutex_lock(&j->mu);
}

/* Under mu (dropped for the I/O): fdatasync every segment written since its last sync,
 * then let the reader see what they hold. */
static void do_sync(struct journal *j)
{
    int fds[SYNC_BATCH];
    struct segment *segs[SYNC_BATCH];
    int n = 0, rc = 0;
    for (struct segment *s = j->segs; s != NULL && n < SYNC_BATCH; s = s->next) {
        if (s->dirty && s->sync_fd >= 0) {
            s->dirty = false;
            fds[n] = s->sync_fd;
            segs[n++] = s;
        }
    }
    uint64_t target = j->written_version;
    bool dir = j->dir_dirty;
    j->dir_dirty = false;
    pthread_mutex_unlock(&j->mu);
    if (dir && fsync(j->dirfd) != 0)
        rc = -errno;
    for (int i = 0; i < n; i++)
        if (fdatasync(fds[i]) != 0 && rc == 0)
            rc = -errno;
    int close_fds[SYNC_BATCH], nc = 0;
    int64_t now = sink_log_now_ms();
    pthread_mutex_lock(&j->mu);
    j->sync_rc = rc;
    /* Failed segments are synced again every sync_ms: said once, then once a NAG_MS with
     * the count, and once when no sync has failed for NAG_MS (a sync that works between two
     * failures does not end the trouble). */
    enum { QUIET, FIRST, STILL } tell = QUIET;
    uint64_t untold = 0;
    if (rc != 0) {
        bool first = !sink_log_limit_active(&j->sync_limit);
        if (first) {
            j->sync_failed = 0;
            j->sync_fail_since_ms = now;
        }
        j->sync_failed++;
        if (sink_log_limit_pass(&j->sync_limit, now, &untold))
            tell = first ? FIRST : STILL;
    }
    int64_t since = j->sync_fail_since_ms;
    if (rc == 0) {
        if (target > atomic_load(&j->synced))
            atomic_store(&j->synced, target);
        for (int i = 0; i < n; i++) {
            if (segs[i]->sealed && !segs[i]->dirty) {
                close_fds[nc++] = segs[i]->sync_fd;
                segs[i]->sync_fd = -1;
            }
        }
    } else {
        atomic_fetch_add(&j->sync_errors, 1);
        for (int i = 0; i < n; i++)
            segs[i]->dirty = true;
        j->dir_dirty |= dir;
        /* What the page cache holds may not reach the disk: publish it rather than hold
         * the broker back, counted as not durable. */
        uint64_t synced = atomic_load(&j->synced);
        if (target > j->release_upto && target > synced) {
            atomic_fetch_add(&j->not_durable, target - max64(synced, j->release_upto));
            j->release_upto = target;
        }
    }
    pthread_mutex_unlock(&j->mu);
    for (int i = 0; i < nc; i++)
        close(close_fds[i]);
    if (tell == FIRST)
        sink_log_say(j->cfg.log, SINK_LOG_ERROR,
                     "journal: fdatasync failed: %s; the changes written since the last good "
                     "sync may not be on disk (published all the same, counted as not durable); "
                     "retried every %u ms",
                     strerror(-rc), j->cfg.sync_ms);
    else if (tell == STILL)
        sink_log_say(j->cfg.log, SINK_LOG_ERROR,
                     "journal: fdatasync keeps failing (%s), the trouble began %lld s ago: %" PRIu64
                     " attempts failed since the last line",
                     strerror(-rc), (long long)((now - since) / 1000), untold + 1);
    wake_reader(j);
    pthread_mutex_lock(&j->mu);
    if (rc == 0)
        sync_trouble_over(j, now);
}

/* Sync thread, mu not held: drop segments every version of which is in the last snapshot
 * (and confirmed, with a reader), and rewrite the meta file when it changed. */
static void housekeeping(struct journal *j)
{
    struct segment *gone = NULL, **gp = &gone;
    uint64_t confirmed = atomic_load(&j->confirmed);
    pthread_mutex_lock(&j->mu);
    uint64_t limit = j->snap_version;
    if (j->cfg.reader && confirmed < limit)
        limit = confirmed;
    while (j->segs != NULL && j->segs != j->cur && j->segs->sealed && !j->segs->dirty &&
           j->segs->last <= limit) {
        struct segment *s = j->segs;
        j->segs = s->next;
        j->bytes -= s->size;
        j->n_segments--;
        s->next = NULL;
        *gp = s;
        gp = &s->next;
    }
    pthread_mutex_unlock(&j->mu);
    while (gone != NULL) {
        struct segment *s = gone;
        gone = s->next;
        unlink(s->path);
        segment_free(s);
    }
    struct meta_disk m;
    meta_fill(j, &m, true);
    if (memcmp(&m, &j->meta_written, sizeof(m)) != 0)
        meta_write(j, &m, m.degraded != j->meta_written.degraded);
}

static void wait_ms(struct journal *j, pthread_cond_t *c, int64_t ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (ms % 1000) * 1000000;
    if (ts.tv_nsec >= 1000000000) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000;
    }
    pthread_cond_timedwait(c, &j->mu, &ts);
}

static bool sync_wanted(const struct journal *j)
{
    if (j->dir_dirty || j->written_version > atomic_load(&j->synced))
        return true;
    for (const struct segment *s = j->segs; s != NULL; s = s->next)
        if (s->dirty)
            return true;
    return false;
}

static void *sync_main(void *arg)
{
    struct journal *j = arg;
    int64_t last_sync = 0, last_house = 0;
    pthread_mutex_lock(&j->mu);
    while (!j->stop) {
        int64_t now = sink_log_now_ms();
        bool asked = j->sync_req > j->sync_done;
        if (!asked && !sync_wanted(j)) {
            sync_trouble_over(j, now);
            j->sync_waiting = true;
            wait_ms(j, &j->cond, 1000);
            j->sync_waiting = false;
        } else if (!asked && now < last_sync + (int64_t)j->cfg.sync_ms) {
            wait_ms(j, &j->cond, last_sync + (int64_t)j->cfg.sync_ms - now);
            continue;
        } else {
            uint64_t req = j->sync_req;
            do_sync(j);
            last_sync = sink_log_now_ms();
            if (asked) {
                /* journal_sync also wants the meta file and compaction up to date. */
                pthread_mutex_unlock(&j->mu);
                housekeeping(j);
                pthread_mutex_lock(&j->mu);
                last_house = sink_log_now_ms();
            }
            j->sync_done = req;
            pthread_cond_broadcast(&j->done_cond);
        }
        now = sink_log_now_ms();
        if (now - last_house >= (int64_t)j->cfg.sync_ms || j->stop) {
            last_house = now;
            pthread_mutex_unlock(&j->mu);
            housekeeping(j);
            pthread_mutex_lock(&j->mu);
        }
    }
    pthread_mutex_unlock(&j->mu);
    return NULL;
}

int journal_sync(struct journal *j)
{
    int rc;
    pthread_mutex_lock(&j->mu);
    if (!j->thread_started || j->stop) {
        if (j->dir != NULL)
            do_sync(j);
        rc = j->sync_rc;
        pthread_mutex_unlock(&j->mu);
        return rc;
    }
    uint64_t my = ++j->sync_req;
    pthread_cond_signal(&j->cond);
    while (j->sync_done < my && !j->stop)
        pthread_cond_wait(&j->done_cond, &j->mu);
    rc = j->sync_rc;
    pthread_mutex_unlock(&j->mu);
    return rc;
}

static void stop_thread(struct journal *j)
{
    if (!j->thread_started)
        return;
    pthread_mutex_lock(&j->mu);
    j->stop = true;
    pthread_cond_broadcast(&j->cond);
    pthread_cond_broadcast(&j->done_cond);
    pthread_mutex_unlock(&j->mu);
    pthread_join(j->thread, NULL);
    j->thread_started = false;
}

/* ---- the reader -------------------------------------------------------------------- */

static int copy_out(const char *pay, uint32_t len, char **buf, size_t *cap,
                    struct journal_record *out)
{
    size_t need = len - 8;
    if (*cap < need) {
        char *b = realloc(*buf, need);
        if (b == NULL)
            return -ENOMEM;
        *buf = b;
        *cap = need;
    }
    out->version = get64(pay);
    memcpy(&out->rk_len, pay + 8, 2);
    out->body_len = len - PAY_FIXED - out->rk_len;
    memcpy(*buf, pay + PAY_FIXED, len - PAY_FIXED);
    return 0;
}

/* Under mu: the end of what readers may see in chunk c. */
static size_t visible_len(const struct journal *j, const struct chunk *c)
{
    return c == j->pub_chunk ? j->pub_len : c->len;
}

/* Under mu: put the reader on the first cached record after rpos. */
static void seek_cache(struct journal *j)
{
    for (struct chunk *c = j->head; c != NULL; c = c->next) {
        size_t end = visible_len(j, c);
        if (c != j->pub_chunk && c->n > 0 && c->last <= j->rpos)
            continue;
        for (size_t off = 0; off + HDR <= end; off += HDR + get32(c->data + off)) {
            if (get64(c->data + off + HDR) > j->rpos) {
                j->rchunk = c;
                j->rseq = c->seq;
                j->roff = off;
                j->rin_cache = true;
                return;
            }
        }
        if (c == j->pub_chunk)
            break;
    }
    j->rchunk = j->pub_chunk;
    j->rseq = j->pub_chunk->seq;
    j->roff = j->pub_len;
    j->rin_cache = true;
}

/* Under mu: the next cached record. Returns 0, -EAGAIN (none ready) or -ENOMEM. */
static int read_cache(struct journal *j, uint64_t limit, char **buf, size_t *cap,
                      struct journal_record *out)
{
    struct chunk *c = j->rchunk;
    size_t off = j->roff;
    for (;;) {
        size_t end = visible_len(j, c);
        if (off + HDR <= end) {
            uint32_t len = get32(c->data + off);
            uint64_t v = get64(c->data + off + HDR);
            if (v > limit) {
                j->rchunk = c;
                j->rseq = c->seq;
                j->roff = off;
                return -EAGAIN;
            }
            int rc = copy_out(c->data + off + HDR, len, buf, cap, out);
            if (rc != 0)
                return rc;
            j->rchunk = c;
            j->rseq = c->seq;
            j->roff = off + HDR + len;
            j->rpos = v;
            return 0;
        }
        if (c == j->pub_chunk || c->next == NULL) {
            j->rchunk = c;
            j->rseq = c->seq;
            j->roff = off;
            return -EAGAIN;
        }
        c = c->next;
        off = 0;
    }
}

/* Reader: have file bytes [off, off + n) in rbuf, at *p. Returns 0, -EBADMSG (they would
 * go past whole: a bad length), -ENOMEM, -ENODATA (the file ends before whole: cut under
 * us) or the read's error. */
static int rbuf_get(struct journal *j, uint64_t off, size_t n, uint64_t whole, const char **p)
{
    if (off >= j->rbase && off + n <= j->rbase + j->rlen) {
        *p = j->rbuf + (off - j->rbase);
        return 0;
    }
    size_t want = n > RBUF_SIZE ? n : RBUF_SIZE;
    if (off + want > whole)
        want = (size_t)(whole - off);
    if (want < n)
        return -EBADMSG;
    if (j->rcap < want) {
        char *b = realloc(j->rbuf, want);
        if (b == NULL)
            return -ENOMEM;
        j->rbuf = b;
        j->rcap = want;
    }
    size_t got = 0;
    int rc = 0;
    while (got < want) {
        ssize_t k = pread(j->rfd, j->rbuf + got, want - got, (off_t)(off + got));
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            rc = k < 0 ? -errno : -ENODATA;
            break;
        }
        got += (size_t)k;
    }
    j->rbase = off;
    j->rlen = got;
    *p = j->rbuf;
    return got >= n ? 0 : rc;
}

static void reader_close(struct journal *j)
{
    if (j->rfd >= 0)
        close(j->rfd);
    j->rfd = -1;
    j->rlen = 0;
    j->rseg_first = 0;
    j->rfoff = 0;
}

/* The segment the reader is at, as journal_next saw it under mu. */
struct rseg {
    const char *path;
    uint64_t first, whole, last; /* whole: bytes of whole records; last: the version ending them */
    bool sealed;                 /* no more writes: once read to whole, done */
};

/* Reader: the rest of the segment (up to version g->last) is given up: the changes counted
 * here (journal_skipped; the caller counts the segment), said here (rate-limited: a dying
 * disk can fail every segment in turn), and the reader goes on after it. A sealed segment
 * is done with; in the one still being written the reader goes on from the end it had at
 * this moment, so what is appended after the bad spot is read (from byte 0 it would meet
 * the same spot again, and skip everything appended since). Returns 1 (look again). */
static int skip_segment(struct journal *j, const struct rseg *g, const char *why)
{
    uint64_t untold = 0;
    if (sink_log_limit_pass(&j->read_limit, sink_log_now_ms(), &untold))
        sink_log_say(j->cfg.log, SINK_LOG_ERROR,
                     "journal: %s: %s at byte %" PRIu64 "; the rest of it (versions %" PRIu64
                     "-%" PRIu64 ") is skipped, not published%s%s",
                     g->path, why, j->rfoff, j->rpos + 1, g->last,
                     g->sealed ? "" : "; what is appended to it from now on is read",
                     untold > 0 ? " (and more segments like it in the last minute)" : "");
    /* Versions are numbered one by one: those from the reader's position to the segment's
     * last are the changes left out. */
    if (g->last > j->rpos)
        atomic_fetch_add(&j->skipped, g->last - j->rpos);
    j->rpos = max64(j->rpos, g->last);
    j->rerr_tries = 0;
    if (g->sealed) {
        reader_close(j);
        return 1;
    }
    j->rseg_first = g->first; /* kept with the descriptor closed too: read_disk reopens here */
    j->rfoff = g->whole;
    j->rlen = 0;
    return 1;
}

/* Reader: reading the segment failed with err. Out of memory or descriptors passes (the
 * same read is tried again); anything else is tried again until the reads have failed for
 * READ_GIVE_UP_MS, READ_TRIES times at least, then the rest of the segment is skipped and
 * counted (journal_unreadable, journal_skipped), so the publisher never stays stuck on it.
 * Returns err (try again later) or 1 (skipped: look again). */
static int read_failed(struct journal *j, const struct rseg *g, int err)
{
    if (err == -ENOMEM || err == -EMFILE || err == -ENFILE)
        return err;
    int64_t now = sink_log_now_ms();
    if (j->rerr_tries++ == 0)
        j->rerr_since_ms = now;
    if (j->rerr_tries < READ_TRIES || now - j->rerr_since_ms < READ_GIVE_UP_MS)
        return err == -ENODATA ? -EIO : err;
    char why[200];
    snprintf(why, sizeof(why), "cannot be read back (%s; %u tries in %lld s)",
             err == -ENODATA ? "the file is shorter than what was written to it" : strerror(-err),
             j->rerr_tries, (long long)((now - j->rerr_since_ms) / 1000));
    atomic_fetch_add(&j->unreadable, 1);
    return skip_segment(j, g, why);
}

/* Reader, mu not held: the next record from segment g. Returns 0, -EAGAIN (none ready), 1
 * (segment done: look again) or a negative errno (a read that failed and is tried again at
 * the next call). */
static int read_disk(struct journal *j, const struct rseg *g, uint64_t limit, char **buf,
                     size_t *cap, struct journal_record *out)
{
    if (j->rfd < 0 || j->rseg_first != g->first) {
        /* Back at a segment whose open failed, or at the one being written past a bad spot
         * (skip_segment): on from where the reader was in it. */
        uint64_t from = j->rfd < 0 && j->rseg_first == g->first ? j->rfoff : 0;
        reader_close(j);
        j->rseg_first = g->first;
        j->rfoff = from;
        if ((j->rfd = open(g->path, O_RDONLY | O_CLOEXEC)) < 0) {
            if (errno != ENOENT)
                return read_failed(j, g, -errno);
            /* Compacted meanwhile: nothing left to read. */
            j->rpos = max64(j->rpos, g->last);
            j->rerr_tries = 0;
            reader_close(j);
            return 1;
        }
    }
    for (;;) {
        if (j->rfoff + HDR > g->whole) {
            if (!g->sealed)
                return -EAGAIN;
            j->rpos = max64(j->rpos, g->last);
            reader_close(j);
            return 1;
        }
        const char *h, *p = NULL;
        int rc = rbuf_get(j, j->rfoff, HDR, g->whole, &h);
        if (rc != 0)
            return read_failed(j, g, rc);
        uint32_t len = get32(h), crc = get32(h + 4);
        rc = len >= PAY_FIXED && len <= REC_MAX ? rbuf_get(j, j->rfoff + HDR, len, g->whole, &p)
                                                : -EBADMSG;
        if (rc != 0 && rc != -EBADMSG)
            return read_failed(j, g, rc);
        if (rc == -EBADMSG || crc32c(p, len) != crc) {
            atomic_fetch_add(&j->corrupt, 1);
            return skip_segment(j, g, "a bad record while reading it back");
        }
        uint64_t v = get64(p);
        if (v <= j->rpos) {
            j->rfoff += HDR + len;
            continue;
        }
        if (v > limit)
            return -EAGAIN;
        if ((rc = copy_out(p, len, buf, cap, out)) != 0)
            return rc;
        j->rfoff += HDR + len;
        j->rpos = v;
        j->rerr_tries = 0;
        return 0;
    }
}

int journal_next(struct journal *j, char **buf, size_t *cap, struct journal_record *out)
{
    for (;;) {
        pthread_mutex_lock(&j->mu);
        uint64_t limit =
            j->dir != NULL ? max64(atomic_load(&j->synced), j->release_upto) : j->pub_version;
        if (limit > j->pub_version)
            limit = j->pub_version;
        if (j->rpos >= limit) {
            atomic_store(&j->reader_idle, true);
            pthread_mutex_unlock(&j->mu);
            return -EAGAIN;
        }
        if (j->rin_cache && (j->head == NULL || j->rseq < j->head->seq))
            j->rin_cache = false; /* the chunk it was in is gone: the rest is in files */
        if (!j->rin_cache && j->rpos >= j->evicted_upto && j->pub_chunk != NULL)
            seek_cache(j);
        if (j->rin_cache) {
            int rc = read_cache(j, limit, buf, cap, out);
            if (rc == -EAGAIN)
                atomic_store(&j->reader_idle, true);
            pthread_mutex_unlock(&j->mu);
            return rc;
        }
        const struct segment *s = j->segs;
        while (s != NULL && s->last <= j->rpos)
            s = s->next;
        if (s == NULL) {
            atomic_store(&j->reader_idle, true);
            pthread_mutex_unlock(&j->mu);
            return -EAGAIN;
        }
        char *path = strdup(s->path);
        struct rseg g = {path, s->first, s->whole, s->last, s->sealed};
        pthread_mutex_unlock(&j->mu);
        if (path == NULL)
            return -ENOMEM;
        int rc = read_disk(j, &g, limit, buf, cap, out);
        free(path);
        if (rc == 1)
            continue;
        if (rc == -EAGAIN)
            atomic_store(&j->reader_idle, true);
        return rc;
    }
}

void journal_confirmed(struct journal *j, uint64_t version)
{
    uint64_t cur = atomic_load(&j->confirmed);
    while (version > cur && !atomic_compare_exchange_weak(&j->confirmed, &cur, version)) {
    }
}

int journal_wakefd(const struct journal *j)
{
    return j->wakefd;
}

void journal_clear_wake(struct journal *j)
{
    uint64_t v;
    if (read(j->wakefd, &v, sizeof(v)) < 0) {
    }
}

/* ---- stop -------------------------------------------------------------------------- */

int journal_finish(struct journal *j)
{
    int rc = 0;
    if (j->dir == NULL) {
        stop_thread(j);
        return 0;
    }
    j->retry_at_ms = 0; /* one last try, whatever the back-off says */
    journal_flush(j, sink_log_now_ms());
    rc = journal_sync(j);
    stop_thread(j);
    /* Sealed, the last segment may go too when a snapshot and the broker cover it. */
    if (j->cur != NULL && j->cur->size == j->cur->whole) {
        pthread_mutex_lock(&j->mu);
        j->cur->sealed = true;
        if (j->cur->fd >= 0)
            close(j->cur->fd);
        j->cur->fd = -1;
        j->cur = NULL;
        pthread_mutex_unlock(&j->mu);
    }
    housekeeping(j);
    uint64_t unwritten = atomic_load(&j->appended_n) - atomic_load(&j->written_n);
    if (unwritten > 0) {
        sink_log_say(j->cfg.log, SINK_LOG_ERROR,
                     "journal: %" PRIu64 " changes could not be written before the stop: they "
                     "are lost; the next start begins a new version series",
                     unwritten);
        atomic_fetch_add(&j->lost, unwritten);
        return -EIO; /* the meta file keeps saying "running": an unclean stop */
    }
    if (rc != 0)
        return rc;
    struct meta_disk m;
    meta_fill(j, &m, false);
    return meta_write(j, &m, true);
}

void journal_free(struct journal *j)
{
    if (j == NULL)
        return;
    stop_thread(j);
    while (j->head != NULL) {
        struct chunk *c = j->head;
        j->head = c->next;
        chunk_unmap(c);
    }
    chunk_unmap(j->spare);
    while (j->segs != NULL) {
        struct segment *s = j->segs;
        j->segs = s->next;
        segment_free(s);
    }
    reader_close(j);
    free(j->rbuf);
    if (j->metafd >= 0)
        close(j->metafd);
    if (j->dirfd >= 0)
        close(j->dirfd);
    if (j->wakefd >= 0)
        close(j->wakefd);
    pthread_cond_destroy(&j->cond);
    pthread_cond_destroy(&j->done_cond);
    pthread_mutex_destroy(&j->mu);
    free(j->dir);
    free(j);
}

/* ---- stats ------------------------------------------------------------------------- */

void journal_stats(struct journal *j, struct journal_stats *o)
{
    memset(o, 0, sizeof(*o));
    o->disk = j->dir != NULL;
    o->appended = atomic_load(&j->appended_n);
    o->newest = atomic_load(&j->appended_version);
    o->synced = atomic_load(&j->synced);
    o->confirmed = atomic_load(&j->confirmed);
    o->cached = atomic_load(&j->cached_n);
    o->cache_bytes = atomic_load(&j->mem_bytes);
    o->unwritten = j->dir != NULL ? o->appended - atomic_load(&j->written_n) : 0;
    o->not_durable = atomic_load(&j->not_durable);
    o->lost = atomic_load(&j->lost);
    o->write_errors = atomic_load(&j->write_errors);
    o->sync_errors = atomic_load(&j->sync_errors);
    o->torn = atomic_load(&j->torn);
    o->corrupt = atomic_load(&j->corrupt);
    o->unreadable = atomic_load(&j->unreadable);
    o->skipped = atomic_load(&j->skipped);
    int64_t t0 = 0;
    pthread_mutex_lock(&j->mu);
    o->bytes = j->bytes;
    o->segments = j->n_segments;
    if (j->cfg.reader && o->confirmed < o->newest) {
        /* The oldest unconfirmed change: when its chunk (or, evicted, its segment) began. */
        uint64_t want = o->confirmed + 1;
        for (struct chunk *c = j->head; c != NULL && t0 == 0; c = c->next) {
            /* The tail's own fields move under the loop thread: only its t0 is read. */
            if (c == j->tail || c->last >= want)
                t0 = atomic_load_explicit(&c->t0_ms, memory_order_relaxed);
            if (c == j->tail)
                break;
        }
        for (struct segment *s = j->segs; s != NULL && t0 == 0; s = s->next)
            if (s->last >= want)
                t0 = s->t0_ms;
    }
    pthread_mutex_unlock(&j->mu);
    if (t0 != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        o->lag_s = now > t0 ? (double)(now - t0) / 1000.0 : 0.0;
    }
}

void journal_counters(struct journal *j, counter_fn fn, void *d)
{
    struct journal_stats s;
    journal_stats(j, &s);
    counter_total(fn, d, "journal_changes", COUNTER_UNIT_NONE, s.appended,
                  "Changes appended to the journal since start.");
    counter_gauge(fn, d, "journal_synced", COUNTER_UNIT_NONE, s.synced,
                  "Every version up to this one is on disk (fdatasync).");
    counter_gauge(fn, d, "journal_bytes", COUNTER_UNIT_BYTES, s.bytes,
                  "Bytes in the journal's segment files now.");
    counter_gauge(fn, d, "journal_segments", COUNTER_UNIT_NONE, s.segments,
                  "The journal's segment files now.");
    counter_gauge(fn, d, "journal_cached", COUNTER_UNIT_NONE, s.cached,
                  "Changes the journal holds in memory now.");
    counter_gauge(fn, d, "journal_unwritten", COUNTER_UNIT_NONE, s.unwritten,
                  "Changes in memory that are in no file (writes failing).");
    counter_total(fn, d, "not_durable", COUNTER_UNIT_NONE, s.not_durable,
                  "Changes handed to the broker before they were on disk (writes failing).");
    counter_total(fn, d, "journal_lost", COUNTER_UNIT_NONE, s.lost,
                  "Changes lost: neither the disk nor memory had room.");
    counter_total(fn, d, "journal_write_errors", COUNTER_UNIT_NONE, s.write_errors,
                  "Journal writes that failed (retried).");
    counter_total(fn, d, "journal_sync_errors", COUNTER_UNIT_NONE, s.sync_errors,
                  "Journal syncs that failed.");
    counter_total(fn, d, "journal_torn", COUNTER_UNIT_NONE, s.torn,
                  "Segments whose partial last record was cut at start.");
    counter_total(fn, d, "journal_corrupt", COUNTER_UNIT_NONE, s.corrupt,
                  "Damaged records found: the rest of their segment set aside.");
    counter_total(fn, d, "journal_unreadable", COUNTER_UNIT_NONE, s.unreadable,
                  "Segments the publisher could not read back (an I/O error, a file cut): "
                  "the rest of each skipped, not published.");
    counter_total(fn, d, "journal_skipped", COUNTER_UNIT_NONE, s.skipped,
                  "Changes never published: the rest of a segment the publisher could not read "
                  "back or met a damaged record in.");
    if (!j->cfg.reader)
        return;
    counter_gauge(fn, d, "lag_changes", COUNTER_UNIT_NONE,
                  s.newest > s.confirmed ? s.newest - s.confirmed : 0,
                  "Changes between the newest one and the last the broker confirmed.");
    counter_seconds(fn, d, "lag_seconds", s.lag_s,
                    "Age of the oldest change the broker has not confirmed.");
}
