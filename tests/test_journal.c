/* test_journal.c - the change journal: order in memory and across segment files, recovery
 * of a torn tail and of a corrupt middle segment, the confirmed position, compaction,
 * memory only (no thread, the cache left out of a fork), a write error (RLIMIT_FSIZE), a
 * failing fdatasync (a seam), writes and syncs that fail now and then (one trouble, its log
 * bounded: a seam for the sinks' clock moves time on), a segment unreadable under the
 * reader, the reader's wake-up descriptor, and how a start resumes the version series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sink/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static char dir[256];
static char logged[65536];
static unsigned n_logged; /* lines logged, should logged be full */

/* A seam: the journal's fdatasync calls come here (this definition comes before libc's
 * at link time); while sync_fails is set they fail with EIO, as on a dying device; while
 * sync_flaky is set every other one does (a writeback error is reported once, then the
 * retry returns 0). */
static atomic_int sync_fails, sync_flaky, sync_calls;

int fdatasync(int fd)
{
    int n = atomic_fetch_add(&sync_calls, 1);
    if (atomic_load(&sync_fails) || (atomic_load(&sync_flaky) && n % 2 == 0)) {
        errno = EIO;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

/* A seam: the sinks' clock (sink_log_now_ms is weak) runs clock_shift ahead of the
 * monotonic clock, so a test moves time on by minutes in a moment. It only ever grows. */
static _Atomic int64_t clock_shift;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + atomic_load(&clock_shift);
}

int64_t sink_log_now_ms(void)
{
    return now_ms();
}

static void move_clock(int64_t ms)
{
    atomic_fetch_add(&clock_shift, ms);
}

#define NAG_MS 30000 /* journal.c's: while a trouble lasts, a line this often */

static unsigned count_lines(const char *what)
{
    unsigned n = 0;
    for (const char *p = logged; (p = strstr(p, what)) != NULL; p++)
        n++;
    return n;
}

static void test_log(int level, const char *msg)
{
    (void)level;
    size_t n = strlen(logged);
    snprintf(logged + n, sizeof(logged) - n, "%s\n", msg);
    n_logged++;
}

static void clear_log(void)
{
    logged[0] = '\0';
    n_logged = 0;
}

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof(dir), "/tmp/injector-journal.XXXXXX");
    assert_non_null(mkdtemp(dir));
    clear_log();
    atomic_store(&sync_fails, 0); /* a test that failed midway leaves syncs working */
    atomic_store(&sync_flaky, 0);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct journal *open_j(const struct journal_config *cfg, struct journal_recovery *rec)
{
    struct journal *j = NULL;
    struct journal_config c = *cfg;
    c.log = test_log;
    assert_int_equal(journal_open(&c, &j, rec), 0);
    return j;
}

/* A config on disk in dir/journal. */
static struct journal_config disk(bool reader)
{
    static char jdir[300];
    snprintf(jdir, sizeof(jdir), "%s/journal", dir);
    return (struct journal_config){.dir = jdir, .sync_ms = 5, .reader = reader};
}

/* Change v: a raise of host h<v>, its JSON naming the version. */
static void append(struct journal *j, uint64_t v)
{
    char host[32], json[128];
    struct alert a;
    alert_clear(&a);
    int hn = snprintf(host, sizeof(host), "h%llu", (unsigned long long)v);
    a.host = host;
    a.host_len = (uint32_t)hn;
    a.component = "c";
    a.component_len = 1;
    alert_set_num(&a, ALERT_SEVERITY, 2);
    struct change c = {.outcome = CHANGE_RAISE, .version = v, .alert = &a};
    int n = snprintf(json, sizeof(json), "{\"outcome\":\"raise\",\"version\":%llu,\"pad\":\"%s\"}",
                     (unsigned long long)v, "0123456789012345678901234567890123456789");
    assert_int_equal(journal_append(j, &c, json, (size_t)n), 0);
}

static void append_range(struct journal *j, uint64_t from, uint64_t to, uint64_t flush_every)
{
    for (uint64_t v = from; v <= to; v++) {
        append(j, v);
        if (v % flush_every == 0)
            journal_flush(j, now_ms());
    }
    journal_flush(j, now_ms());
}

/* Wait for the journal's wake-up as the publisher does; false when none came within ms
 * (a lost wake-up: the publisher would sit until its next timer). */
static bool wait_wake(struct journal *j, int ms)
{
    struct pollfd p = {.fd = journal_wakefd(j), .events = POLLIN};
    int n;
    while ((n = poll(&p, 1, ms)) < 0 && errno == EINTR) {
    }
    if (n != 1)
        return false;
    journal_clear_wake(j);
    return true;
}

/* Read up to want records, waiting on the wake descriptor as the publisher does (5 s at
 * most each time: a lost wake-up ends the reading); checks each is the next version after
 * *pos and carries its routing key and JSON. Returns how many. */
static uint64_t read_n(struct journal *j, uint64_t *pos, uint64_t want)
{
    char *buf = NULL;
    size_t cap = 0;
    uint64_t got = 0;
    while (got < want) {
        struct journal_record r;
        int rc = journal_next(j, &buf, &cap, &r);
        if (rc == -EAGAIN) {
            if (!wait_wake(j, 5000))
                break;
            continue;
        }
        assert_int_equal(rc, 0);
        assert_int_equal(r.version, *pos + 1);
        char rk[64], body[64];
        snprintf(rk, sizeof(rk), "raise.2.h%llu", (unsigned long long)r.version);
        assert_int_equal(r.rk_len, strlen(rk));
        assert_memory_equal(buf, rk, r.rk_len);
        snprintf(body, sizeof(body), "{\"outcome\":\"raise\",\"version\":%llu,",
                 (unsigned long long)r.version);
        assert_memory_equal(buf + r.rk_len, body, strlen(body));
        *pos = r.version;
        got++;
    }
    free(buf);
    return got;
}

static size_t count_files(const char *suffix)
{
    char jdir[300];
    snprintf(jdir, sizeof(jdir), "%s/journal", dir);
    DIR *d = opendir(jdir);
    size_t n = 0;
    struct dirent *e;
    if (d == NULL)
        return 0;
    while ((e = readdir(d)) != NULL)
        if (strstr(e->d_name, suffix) != NULL)
            n++;
    closedir(d);
    return n;
}

/* The newest segment file's path (they sort by name: seg-<20 digits>.jnl). */
static void segment_path(size_t index, char *out, size_t size)
{
    char jdir[300];
    struct dirent **names;
    snprintf(jdir, sizeof(jdir), "%s/journal", dir);
    int n = scandir(jdir, &names, NULL, alphasort);
    assert_true(n > 0);
    size_t k = 0;
    out[0] = '\0';
    for (int i = 0; i < n; i++) {
        const char *nm = names[i]->d_name;
        size_t len = strlen(nm);
        if (strncmp(nm, "seg-", 4) == 0 && len > 4 && strcmp(nm + len - 4, ".jnl") == 0 &&
            k++ == index)
            snprintf(out, size, "%s/%s", jdir, nm);
        free(names[i]);
    }
    free(names);
    assert_true(out[0] != '\0');
}

struct collect {
    uint64_t n, first, last;
    bool ordered;
};

static int collect_cb(uint64_t v, const char *body, size_t len, void *data)
{
    struct collect *c = data;
    char want[64];
    snprintf(want, sizeof(want), "{\"outcome\":\"raise\",\"version\":%llu,", (unsigned long long)v);
    if (len < strlen(want) || memcmp(body, want, strlen(want)) != 0)
        return -EBADMSG;
    if (c->n == 0)
        c->first = v;
    else if (v <= c->last)
        c->ordered = false;
    c->last = v;
    c->n++;
    return 0;
}

/* ---- tests ------------------------------------------------------------------------ */

static void test_journal_memory_only_in_order_and_freed_when_confirmed(void **st)
{
    (void)st;
    struct journal_config cfg = {
        .dir = NULL, .reader = true, .cache_changes = 5000, .chunk_bytes = 4096};
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 7, 100), 0);
    uint64_t pos = 100;
    append_range(j, 101, 3100, 64);
    assert_int_equal(read_n(j, &pos, 3000), 3000);
    struct journal_stats s;
    journal_stats(j, &s);
    assert_int_equal(s.appended, 3000);
    assert_int_equal(s.cached, 3000);
    assert_false(s.disk);
    assert_int_equal(count_files(".jnl"), 0);
    /* Confirmed: memory is given back at the next flush (only the tail chunk stays). */
    journal_confirmed(j, 3100);
    append_range(j, 3101, 3101, 1);
    journal_stats(j, &s);
    assert_true(s.cached < 100);
    assert_int_equal(s.lost, 0);
    journal_free(j);
}

static int threads_now(void)
{
    DIR *d = opendir("/proc/self/task");
    int n = 0;
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

/* Memory only there is nothing to sync: no thread (one woke every second to do nothing);
 * on disk the sync thread runs. journal_sync has nothing to wait for in memory. */
static void test_journal_memory_only_starts_no_thread(void **st)
{
    (void)st;
    int before = threads_now();
    struct journal_config cfg = {.dir = NULL, .reader = true};
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 7, 0), 0);
    assert_int_equal(threads_now(), before);
    append_range(j, 1, 10, 10);
    assert_int_equal(journal_sync(j), 0);
    uint64_t pos = 0;
    assert_int_equal(read_n(j, &pos, 10), 10);
    assert_int_equal(journal_finish(j), 0);
    journal_free(j);
    cfg = disk(true);
    j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 7, 0), 0);
    assert_int_equal(threads_now(), before + 1);
    journal_free(j);
    assert_int_equal(threads_now(), before);
}

/* Bytes of this process's mappings that fork() leaves out of the child (VmFlags "dc",
 * MADV_DONTFORK). */
static uint64_t dontfork_bytes(void)
{
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    uint64_t total = 0, size_kb = 0;
    assert_non_null(f);
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long kb;
        if (sscanf(line, "Size: %llu kB", &kb) == 1)
            size_kb = kb;
        else if (strncmp(line, "VmFlags:", 8) == 0 && strstr(line, " dc") != NULL)
            total += size_kb * 1024;
    }
    fclose(f);
    return total;
}

/* The snapshot writer is a fork of the daemon, and never reads the journal's cache: its
 * chunks are left out of the child, so a fork does not copy the page tables of up to
 * --outbox-size changes of memory at every snapshot. */
static void test_journal_cache_is_left_out_of_a_fork(void **st)
{
    (void)st;
    struct journal_config cfg = {.dir = NULL, .reader = true, .chunk_bytes = 256 << 10};
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 7, 0), 0);
    uint64_t before = dontfork_bytes();
    append_range(j, 1, 20000, 500); /* ~2 MiB: several chunks */
    struct journal_stats s;
    journal_stats(j, &s);
    assert_true(s.cache_bytes >= 4 * (256 << 10));
    assert_true(dontfork_bytes() - before >= s.cache_bytes);
    /* and the child runs without them */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0)
        _exit(0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* Given back when they go. */
    journal_confirmed(j, 20000);
    append_range(j, 20001, 20001, 1);
    journal_free(j);
    assert_true(dontfork_bytes() <= before);
}

static void test_journal_memory_only_overflow_is_lost_and_counted(void **st)
{
    (void)st;
    struct journal_config cfg = {
        .dir = NULL, .reader = true, .cache_changes = 1000, .chunk_bytes = 4096};
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 7, 0), 0);
    int lost = 0;
    for (uint64_t v = 1; v <= 1500; v++) {
        char json[] = "{\"outcome\":\"raise\"}";
        struct alert a;
        alert_clear(&a);
        a.host = "h";
        a.host_len = 1;
        a.component = "c";
        a.component_len = 1;
        struct change c = {.outcome = CHANGE_RAISE, .version = v, .alert = &a};
        if (journal_append(j, &c, json, sizeof(json) - 1) == -ENOBUFS)
            lost++;
        if (v % 50 == 0)
            journal_flush(j, now_ms());
    }
    struct journal_stats s;
    journal_stats(j, &s);
    assert_int_equal(lost, 500);
    assert_int_equal(s.lost, 500);
    assert_int_equal(s.appended, 1000);
    journal_free(j);
}

static void test_journal_on_disk_publishes_only_synced_in_order(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    struct journal_recovery rec;
    struct journal *j = open_j(&cfg, &rec);
    assert_false(rec.meta_found);
    assert_int_equal(rec.records, 0);
    assert_int_equal(journal_start(j, 42, 0), 0);
    append_range(j, 1, 2000, 100);
    uint64_t pos = 0;
    assert_int_equal(read_n(j, &pos, 2000), 2000);
    struct journal_stats s;
    journal_stats(j, &s);
    /* The reader got nothing past what the sync thread had synced. */
    assert_true(s.synced >= 2000);
    assert_int_equal(s.unwritten, 0);
    assert_int_equal(s.segments, 1);
    assert_int_equal(count_files(".jnl"), 1);
    journal_confirmed(j, 1500);
    assert_int_equal(journal_finish(j), 0);
    journal_free(j);

    /* A clean stop: everything back, the confirmed position too, same boot. */
    j = open_j(&cfg, &rec);
    assert_true(rec.meta_found);
    assert_true(rec.clean);
    assert_true(rec.same_boot);
    assert_false(rec.degraded);
    assert_int_equal(rec.epoch, 42);
    assert_int_equal(rec.confirmed, 1500);
    assert_int_equal(rec.records, 2000);
    assert_int_equal(rec.first_version, 1);
    assert_int_equal(rec.last_version, 2000);
    struct collect c = {.ordered = true};
    assert_int_equal(journal_replay(j, 1200, collect_cb, &c), 0);
    assert_int_equal(c.n, 800);
    assert_int_equal(c.first, 1201);
    assert_int_equal(c.last, 2000);
    assert_true(c.ordered);
    /* The unconfirmed ones are read again first, then new ones. */
    assert_int_equal(journal_start(j, 42, 2000), 0);
    pos = 1500;
    assert_int_equal(read_n(j, &pos, 500), 500);
    append_range(j, 2001, 2100, 50);
    assert_int_equal(read_n(j, &pos, 100), 100);
    assert_int_equal(pos, 2100);
    journal_free(j);
}

static void test_journal_order_across_segments_read_back_from_files(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    cfg.segment_max = 8192;  /* ~80 records a segment */
    cfg.chunk_bytes = 4096;  /* memory holds little: */
    cfg.cache_bytes = 16384; /* the reader has to go to the files */
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 3000, 25);
    struct journal_stats s;
    journal_stats(j, &s);
    assert_int_equal(s.lost, 0);
    assert_true(s.segments > 20);
    assert_true(s.cached < 1000);
    uint64_t pos = 0;
    assert_int_equal(read_n(j, &pos, 3000), 3000);
    /* And new ones after, from memory. */
    append_range(j, 3001, 3010, 5);
    assert_int_equal(read_n(j, &pos, 10), 10);
    assert_int_equal(journal_finish(j), 0);
    journal_free(j);

    struct journal_recovery rec;
    j = open_j(&cfg, &rec);
    assert_int_equal(rec.records, 3010);
    assert_true(rec.segments > 20);
    struct collect c = {.ordered = true};
    assert_int_equal(journal_replay(j, 0, collect_cb, &c), 0);
    assert_int_equal(c.n, 3010);
    assert_true(c.ordered);
    journal_free(j);
}

static void test_journal_torn_tail_is_cut_at_the_last_whole_record(void **st)
{
    (void)st;
    struct journal_config cfg = disk(false);
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 100, 10);
    journal_sync(j);
    journal_free(j); /* no finish: a crash */
    char seg[512];
    segment_path(0, seg, sizeof(seg));
    struct stat st0;
    assert_int_equal(stat(seg, &st0), 0);
    assert_int_equal(truncate(seg, st0.st_size - 7), 0); /* the last record loses its end */

    struct journal_recovery rec;
    j = open_j(&cfg, &rec);
    assert_false(rec.clean);
    assert_true(rec.same_boot);
    assert_int_equal(rec.torn, 1);
    assert_int_equal(rec.corrupt, 0);
    assert_int_equal(rec.records, 99);
    assert_int_equal(rec.last_version, 99);
    assert_non_null(strstr(logged, "ended in a partial record"));
    struct stat st1;
    assert_int_equal(stat(seg, &st1), 0);
    assert_true(st1.st_size < st0.st_size - 7); /* cut at the record boundary */
    struct journal_stats s;
    journal_stats(j, &s);
    assert_int_equal(s.torn, 1);
    /* A crash on this boot with everything written: the same series, no jump. */
    struct journal_resume r;
    journal_resume(&rec, 0, 0, &r);
    assert_int_equal(r.epoch, 1);
    assert_int_equal(r.version, 99);
    assert_null(r.why);
    journal_free(j);
}

static void test_journal_corrupt_middle_segment_keeps_the_good_part(void **st)
{
    (void)st;
    struct journal_config cfg = disk(false);
    cfg.segment_max = 4096;
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 300, 10);
    assert_int_equal(journal_finish(j), 0);
    journal_free(j);
    struct journal_recovery rec;
    j = open_j(&cfg, &rec);
    uint64_t segments = rec.segments;
    journal_free(j);
    assert_true(segments >= 5);

    /* A flipped byte in the middle of the second segment. */
    char seg[512];
    segment_path(1, seg, sizeof(seg));
    struct stat sb;
    assert_int_equal(stat(seg, &sb), 0);
    int fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    char b;
    off_t at = sb.st_size / 2;
    assert_int_equal(pread(fd, &b, 1, at), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, at), 1);
    close(fd);

    clear_log();
    j = open_j(&cfg, &rec);
    assert_int_equal(rec.corrupt, 1);
    assert_int_equal(rec.torn, 0);
    assert_true(rec.records < 300 && rec.records > 200);
    assert_int_equal(rec.segments, segments);
    assert_int_equal(count_files(".corrupt-"), 1);
    assert_non_null(strstr(logged, " at byte "));
    assert_non_null(strstr(logged, "set aside"));
    struct collect c = {.ordered = true};
    assert_int_equal(journal_replay(j, 0, collect_cb, &c), 0);
    assert_int_equal(c.n, rec.records);
    assert_int_equal(c.first, 1);
    assert_int_equal(c.last, 300); /* the segments after it are all there */
    assert_true(c.ordered);
    /* Consumers may hold changes the table now lacks: a new series makes them resync. */
    struct journal_resume r;
    journal_resume(&rec, 1, 0, &r);
    assert_int_equal(r.epoch, 0);
    assert_int_equal(r.version, 300);
    assert_non_null(strstr(r.why, "damaged"));
    journal_free(j);
    /* Set aside once: a second start finds nothing more to do. */
    j = open_j(&cfg, &rec);
    assert_int_equal(rec.corrupt, 0);
    journal_free(j);
}

static uint64_t segments_now(struct journal *j)
{
    struct journal_stats s;
    journal_sync(j); /* compaction runs with it */
    journal_stats(j, &s);
    return s.segments;
}

static void test_journal_segments_go_once_confirmed_and_in_a_snapshot(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    cfg.segment_max = 4096;
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 400, 10);
    uint64_t all = segments_now(j);
    assert_true(all >= 8);
    /* In a snapshot but unconfirmed: kept (the broker still needs them). */
    journal_snapshot_done(j, 400);
    assert_int_equal(segments_now(j), all);
    /* Half confirmed: the segments wholly below go. */
    journal_confirmed(j, 200);
    uint64_t half = segments_now(j);
    assert_true(half < all && half > 1);
    /* All confirmed: all but the one being written go. */
    journal_confirmed(j, 400);
    assert_int_equal(segments_now(j), 1);
    assert_int_equal(count_files(".jnl"), 1);
    journal_free(j);

    /* Without a reader (no broker) the snapshot alone decides. */
    teardown(NULL);
    setup(NULL);
    cfg = disk(false);
    cfg.segment_max = 4096;
    j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 400, 10);
    journal_sync(j);
    uint64_t before = segments_now(j);
    /* Confirmed or not, nobody reads it: in the snapshot is enough. */
    journal_snapshot_done(j, 200);
    uint64_t after = segments_now(j);
    assert_true(after < before && after > 1);
    journal_free(j);
    struct journal_recovery rec;
    j = open_j(&cfg, &rec);
    assert_true(rec.first_version > 1 && rec.first_version <= 201);
    assert_int_equal(rec.last_version, 400);
    journal_free(j);
}

static void test_journal_write_error_holds_in_memory_and_recovers(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 10, 10);
    journal_sync(j);
    /* Files may not grow past 16 KiB: writes fail with EFBIG (SIGXFSZ ignored). */
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = (struct rlimit){16384, old.rlim_max}; /* the soft limit only: it goes back up */
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    for (uint64_t v = 11; v <= 1000; v++) {
        append(j, v);
        if (v % 10 == 0)
            journal_flush(j, now_ms());
    }
    struct journal_stats s;
    journal_stats(j, &s);
    assert_true(s.write_errors > 0);
    assert_true(s.unwritten > 500);
    assert_int_equal(s.lost, 0);
    assert_true(s.not_durable > 500);
    assert_non_null(strstr(logged, "File too large"));
    /* Never a new segment per failed write: still the one file. */
    assert_int_equal(count_files(".jnl"), 1);
    /* The reader gets every change all the same (counted as not durable). */
    uint64_t pos = 0;
    assert_int_equal(read_n(j, &pos, 1000), 1000);
    /* Room again: the next flush after the back-off writes what memory held; the log says
     * so once writes have worked for NAG_MS (a disk that comes and goes is one trouble). */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    journal_flush(j, now_ms() + 10000);
    journal_stats(j, &s);
    assert_int_equal(s.unwritten, 0);
    assert_null(strstr(logged, "writing again"));
    journal_flush(j, now_ms() + 10000 + NAG_MS);
    assert_int_equal(count_lines("writing again"), 1);
    journal_confirmed(j, 1000);
    assert_int_equal(journal_finish(j), 0);
    journal_free(j);
    struct journal_recovery rec;
    j = open_j(&cfg, &rec);
    assert_int_equal(rec.records, 1000);
    assert_int_equal(rec.torn, 0);
    assert_true(rec.clean);
    journal_free(j);
    signal(SIGXFSZ, SIG_DFL);
}

static void test_journal_crash_while_writes_fail_starts_a_new_series(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 5, 0), 0);
    append_range(j, 1, 10, 10);
    journal_sync(j);
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = (struct rlimit){4096, old.rlim_max};
    signal(SIGXFSZ, SIG_IGN);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
    append_range(j, 11, 200, 10);
    journal_sync(j); /* the meta file now says "degraded" */
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
    signal(SIGXFSZ, SIG_DFL);
    journal_free(j); /* a crash: the unwritten changes are gone */

    struct journal_recovery rec;
    j = open_j(&cfg, &rec);
    assert_false(rec.clean);
    assert_true(rec.degraded);
    assert_true(rec.issued >= 200);
    struct journal_resume r;
    journal_resume(&rec, 0, 0, &r);
    assert_int_equal(r.epoch, 0); /* a new series: versions past the file were published */
    assert_true(r.version >= 200);
    assert_non_null(r.why);
    journal_free(j);
}

/* A device whose fdatasync keeps failing: the segments are synced again every
 * --journal-sync (here 5 ms), and every failure is counted, but the log says it once, then
 * once every 30 s, and once when syncs have worked again for 30 s (it said every failure:
 * ~20 lines a second at the default 50 ms). The changes are published all the same (not
 * durable). */
static void test_journal_failing_sync_keeps_the_log_bounded(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    atomic_store(&sync_fails, 1);
    atomic_store(&sync_calls, 0);
    uint64_t v = 0;
    int64_t until = now_ms() + 1000;
    while (now_ms() < until) {
        append_range(j, v + 1, v + 10, 10);
        v += 10;
        usleep(5000);
    }
    struct journal_stats s;
    journal_stats(j, &s);
    assert_true(atomic_load(&sync_calls) >= 20); /* retried all along */
    assert_true(s.sync_errors >= 20);
    assert_true(s.not_durable > 0);
    uint64_t pos = 0;
    assert_int_equal(read_n(j, &pos, v), v); /* the reader was not held back */
    assert_int_equal(count_lines("fdatasync"), 1);
    /* The device works again: what was written is synced now; said once no sync has
     * failed for NAG_MS. */
    atomic_store(&sync_fails, 0);
    assert_int_equal(journal_sync(j), 0);
    journal_stats(j, &s);
    assert_int_equal(s.synced, v);
    move_clock(NAG_MS);
    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(count_lines("fdatasync"), 2);
    assert_non_null(strstr(logged, "fdatasync works again"));
    journal_free(j);
}

/* Lines about the journal's syncs (all of them name fdatasync). */
static unsigned sync_lines(void)
{
    return count_lines("fdatasync");
}

/* A dying disk reports a writeback error once and the retry returns 0: with new changes
 * every sync, every other fdatasync fails, here for ten minutes (a clock moved on 2 s a
 * round). That is one trouble: its first line, then one per NAG_MS saying how many failed
 * meanwhile, and "works again" only once syncs have worked for NAG_MS. (Every success
 * ended the streak, so each round said "failed" and "works again": 20-40 lines a second at
 * the default 50 ms.) */
static void test_journal_sync_failing_now_and_then_is_one_trouble(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 10, 10);
    assert_int_equal(journal_sync(j), 0);
    atomic_store(&sync_calls, 0);
    atomic_store(&sync_flaky, 1);
    uint64_t v = 10;
    int64_t t0 = now_ms();
    for (int round = 0; round < 300; round++) {
        append_range(j, v + 1, v + 5, 5);
        v += 5;
        journal_sync(j);
        move_clock(2000);
    }
    int64_t lasted = now_ms() - t0;
    struct journal_stats s;
    journal_stats(j, &s);
    /* At least one fdatasync a round, every other one failing: a failure every 4 s. */
    assert_true(atomic_load(&sync_calls) >= 300);
    assert_true(s.sync_errors >= 150);
    /* The first line, then one per NAG_MS at most, each with the count left out. */
    assert_true(sync_lines() >= 2);
    assert_true(sync_lines() <= 1 + lasted / NAG_MS + 1);
    assert_int_equal(n_logged, sync_lines());
    assert_non_null(strstr(logged, "attempts failed since the last line"));
    assert_null(strstr(logged, "works again"));
    /* Syncs work again: 20 s of them is not yet the end of the trouble. */
    atomic_store(&sync_flaky, 0);
    for (int round = 0; round < 10; round++) {
        append_range(j, v + 1, v + 5, 5);
        v += 5;
        assert_int_equal(journal_sync(j), 0);
        move_clock(2000);
    }
    assert_null(strstr(logged, "works again"));
    unsigned before = sync_lines();
    /* Past NAG_MS without a failure: said once. */
    move_clock(NAG_MS - 20000 + 1000);
    append_range(j, v + 1, v + 5, 5);
    v += 5;
    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(journal_sync(j), 0);
    assert_int_equal(count_lines("fdatasync works again"), 1);
    assert_int_equal(sync_lines(), before + 1);
    journal_stats(j, &s);
    assert_int_equal(s.synced, v);
    uint64_t pos = 0;
    assert_int_equal(read_n(j, &pos, v), v); /* published all along */
    journal_free(j);
}

/* A disk whose writes fail and work by turns (here RLIMIT_FSIZE lowered and raised around
 * every other flush, for ten minutes of flushes a second apart): one trouble, as for syncs.
 * Every change ends in the file. (Each good write ended the streak: a "failed" and a
 * "writing again" line a round.) */
static void test_journal_write_failing_now_and_then_is_one_trouble(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 100, 10); /* ~12 KiB: past the small limit below */
    assert_int_equal(journal_sync(j), 0);
    struct rlimit old, small;
    assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
    small = (struct rlimit){4096, old.rlim_max};
    signal(SIGXFSZ, SIG_IGN);
    int64_t t = now_ms();
    uint64_t v = 100;
    int failed = 0;
    for (int round = 0; round < 600; round++, t += 1000) {
        append(j, ++v);
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
        failed += journal_flush(j, t) != 0;
        assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
        assert_int_equal(journal_flush(j, t + 500), 0); /* past the back-off: written */
    }
    signal(SIGXFSZ, SIG_DFL);
    assert_int_equal(failed, 600);
    struct journal_stats s;
    journal_stats(j, &s);
    assert_int_equal(s.write_errors, 600);
    assert_int_equal(s.unwritten, 0);
    assert_int_equal(s.lost, 0);
    /* The first line, then one per NAG_MS at most (600 s: 20), each with the count. */
    assert_int_equal(count_lines("File too large"), n_logged);
    assert_true(n_logged >= 2 && n_logged <= 1 + 600000 / NAG_MS);
    assert_non_null(strstr(logged, "failed since the last line"));
    assert_null(strstr(logged, "writing again"));
    /* No write failed for 20 s: not yet; for NAG_MS: said once (a flush with nothing to
     * write says it too). */
    journal_flush(j, t + 20000);
    assert_null(strstr(logged, "writing again"));
    journal_flush(j, t + NAG_MS);
    journal_flush(j, t + NAG_MS + 1000);
    assert_int_equal(count_lines("writing again"), 1);
    assert_int_equal(journal_finish(j), 0);
    journal_free(j);
    struct journal_recovery rec;
    j = open_j(&cfg, &rec);
    assert_int_equal(rec.records, v);
    journal_free(j);
}

/* No descriptor left (EMFILE: RLIMIT_NOFILE lowered to the lowest free one) while writes
 * to the current segment work: a new segment cannot be started, the roll is retried every
 * second for ten minutes and the current one takes the writes. The log says it once, then
 * one line per NAG_MS with the count, and once a roll works again. (It said every retry:
 * ~3,600 lines an hour.) */
static void test_journal_roll_that_fails_keeps_the_log_bounded(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    cfg.segment_max = 4096;
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 100, 10);
    assert_int_equal(journal_sync(j), 0);
    size_t files = count_files(".jnl");
    struct rlimit old, none;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
    int lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
    assert_true(lowest >= 0);
    close(lowest);
    none = (struct rlimit){(rlim_t)lowest, old.rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &none), 0);
    int64_t t = now_ms();
    uint64_t v = 100;
    int errors = 0;
    for (int round = 0; round < 600; round++, t += 1000) {
        append(j, ++v);
        errors += journal_flush(j, t) != 0;
    }
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
    assert_int_equal(errors, 0); /* written all the same, to the current segment */
    assert_int_equal(count_files(".jnl"), files);
    struct journal_stats s;
    journal_stats(j, &s);
    assert_int_equal(s.unwritten, 0);
    assert_int_equal(s.write_errors, 0);
    assert_int_equal(count_lines("new segment"), n_logged);
    assert_int_equal(count_lines("Too many open files"), n_logged);
    assert_true(n_logged >= 2 && n_logged <= 1 + 600000 / NAG_MS);
    assert_non_null(strstr(logged, "failed since the last line"));
    /* Descriptors again: the next roll works, and says so once. */
    append(j, ++v);
    assert_int_equal(journal_flush(j, t), 0);
    append(j, ++v);
    assert_int_equal(journal_flush(j, t + 1000), 0);
    assert_int_equal(count_files(".jnl"), files + 1);
    assert_int_equal(count_lines("started a new segment"), 1);
    assert_int_equal(journal_sync(j), 0);
    uint64_t pos = 0;
    assert_int_equal(read_n(j, &pos, v), v);
    journal_free(j);
}

/* Cut segment index's file at the first record that starts past its middle, plus into
 * bytes of that record (into < 8: inside its header). */
static void cut_segment(size_t index, off_t into)
{
    char seg[512];
    segment_path(index, seg, sizeof(seg));
    int fd = open(seg, O_RDONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    off_t off = 0;
    while (off < sb.st_size / 2) {
        uint32_t len;
        assert_int_equal(pread(fd, &len, 4, off), 4);
        off += 8 + (off_t)len;
    }
    close(fd);
    assert_true(off + into < sb.st_size);
    assert_int_equal(truncate(seg, off + into), 0);
}

/* A segment the reader cannot read back (here cut under it; a failing disk gives EIO):
 * once its reads have failed for 10 s (three tries at least) the rest of that segment is
 * skipped and counted, in segments and in changes, the reader goes on with the next one,
 * and the log says so in a bounded number of lines. (It returned -EIO for ever, its
 * position never moving on: the publisher was stuck, ~5 lines a second.) */
static void test_journal_unreadable_segment_is_skipped_and_counted(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    cfg.segment_max = 8192;  /* ~65 records a segment */
    cfg.chunk_bytes = 4096;  /* memory holds little: */
    cfg.cache_bytes = 16384; /* the reader has to go to the files */
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 1000, 25);
    assert_int_equal(journal_sync(j), 0);
    uint64_t pos = 0;
    assert_int_equal(read_n(j, &pos, 100), 100);
    /* Two segments not read yet lose their second half: one is cut inside a record's
     * header, the other inside a record's body. */
    cut_segment(3, 4);
    cut_segment(6, 20);
    clear_log();

    /* As the publisher reads: on news, wait for the wake-up; on a failed read, try again
     * later (here 4 s later, by the clock the journal reads). */
    char *buf = NULL;
    size_t cap = 0;
    unsigned errors = 0, jumps = 0;
    uint64_t gaps = 0;
    while (pos < 1000) {
        struct journal_record r;
        int rc = journal_next(j, &buf, &cap, &r);
        if (rc == -EAGAIN) {
            if (!wait_wake(j, 5000))
                break;
            continue;
        }
        if (rc == -EIO) {
            errors++;
            move_clock(4000);
            continue;
        }
        assert_int_equal(rc, 0);
        assert_true(r.version > pos);
        jumps += r.version != pos + 1;
        gaps += r.version - pos - 1;
        pos = r.version;
    }
    free(buf);
    assert_int_equal(pos, 1000); /* not stuck */
    assert_int_equal(jumps, 2);  /* the rest of each cut segment skipped, nothing else */
    /* Each given up at its fourth failed read: the first three at 0, 4 and 8 s returned
     * -EIO, the fourth came 12 s after the first (10 s and three tries are the minimum). */
    assert_int_equal(errors, 6);
    struct journal_stats s;
    journal_stats(j, &s);
    assert_int_equal(s.unreadable, 2);
    assert_int_equal(s.skipped, gaps); /* every change skipped counted, not only segments */
    assert_true(gaps > 20);
    assert_int_equal(s.corrupt, 0); /* a read that fails is not a damaged record */
    assert_int_equal(n_logged, 2);
    assert_non_null(strstr(logged, "cannot be read back"));
    assert_non_null(strstr(logged, "is skipped"));
    journal_free(j);
}

/* A read that fails is tried again at every journal_next, and the publisher's poll returns
 * at once on acks and heartbeats: tries can come milliseconds apart. So a segment is given
 * up (with up to 16 MiB of changes in it) only once its reads have failed for 10 s, not
 * after three tries whenever they came (one transient EIO gave a segment up). */
static void test_journal_unreadable_segment_is_given_up_only_after_a_while(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true);
    cfg.segment_max = 8192;
    cfg.chunk_bytes = 4096;
    cfg.cache_bytes = 16384;
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 1000, 25);
    assert_int_equal(journal_sync(j), 0);
    uint64_t pos = 0;
    assert_int_equal(read_n(j, &pos, 100), 100);
    cut_segment(3, 4);
    char *buf = NULL;
    size_t cap = 0;
    struct journal_record r;
    int rc;
    while ((rc = journal_next(j, &buf, &cap, &r)) == 0) {
        assert_int_equal(r.version, pos + 1);
        pos = r.version;
    }
    assert_int_equal(rc, -EIO);
    /* A hundred tries at once, then 5 s on: still tried, nothing given up. */
    for (int i = 0; i < 100; i++)
        assert_int_equal(journal_next(j, &buf, &cap, &r), -EIO);
    move_clock(5000);
    assert_int_equal(journal_next(j, &buf, &cap, &r), -EIO);
    struct journal_stats s;
    journal_stats(j, &s);
    assert_int_equal(s.unreadable, 0);
    assert_int_equal(s.skipped, 0);
    assert_int_equal(n_logged, 0);
    /* 10 s of failed reads: given up, the next record is the next segment's first. */
    move_clock(5000);
    assert_int_equal(journal_next(j, &buf, &cap, &r), 0);
    assert_true(r.version > pos + 1);
    journal_stats(j, &s);
    assert_int_equal(s.unreadable, 1);
    assert_int_equal(s.skipped, r.version - pos - 1);
    assert_int_equal(count_lines("cannot be read back"), 1);
    pos = r.version;
    assert_int_equal(read_n(j, &pos, 1000 - pos), 1000 - r.version);
    free(buf);
    journal_free(j);
}

/* Flip a byte in the body of the record of version v in segment index's file. */
static void spoil_record(size_t index, uint64_t v)
{
    char seg[512];
    segment_path(index, seg, sizeof(seg));
    int fd = open(seg, O_RDWR);
    assert_true(fd >= 0);
    off_t off = 0;
    for (;;) {
        uint32_t len;
        uint64_t ver;
        assert_int_equal(pread(fd, &len, 4, off), 4);
        assert_int_equal(pread(fd, &ver, 8, off + 8), 8);
        if (ver == v)
            break;
        off += 8 + (off_t)len;
    }
    char b;
    assert_int_equal(pread(fd, &b, 1, off + 30), 1);
    b ^= 0x5a;
    assert_int_equal(pwrite(fd, &b, 1, off + 30), 1);
    close(fd);
}

/* A bad spot in the segment still being written: the rest of it at that moment is skipped
 * (and counted), but what is appended after it is read. (Skipping closed the segment, and
 * reading it again began at byte 0, met the same bad spot and skipped everything appended
 * since, for as long as the segment was written: up to 16 MiB of changes.) */
static void test_journal_bad_spot_in_the_current_segment_skips_only_what_was_there(void **st)
{
    (void)st;
    struct journal_config cfg = disk(true); /* one segment: 16 MiB */
    cfg.chunk_bytes = 4096;                 /* memory holds little: */
    cfg.cache_bytes = 16384;                /* the reader has to go to the file */
    struct journal *j = open_j(&cfg, NULL);
    assert_int_equal(journal_start(j, 1, 0), 0);
    append_range(j, 1, 600, 25);
    assert_int_equal(journal_sync(j), 0);
    struct journal_stats s;
    journal_stats(j, &s);
    assert_true(s.cached < 400); /* version 200 is only in the file */
    spoil_record(0, 200);
    uint64_t pos = 0;
    assert_int_equal(read_n(j, &pos, 199), 199);
    char *buf = NULL;
    size_t cap = 0;
    struct journal_record r;
    assert_int_equal(journal_next(j, &buf, &cap, &r), -EAGAIN); /* 200-600 skipped */
    free(buf);
    journal_stats(j, &s);
    assert_int_equal(s.corrupt, 1);
    assert_int_equal(s.skipped, 401);
    assert_int_equal(count_lines("is skipped"), 1);
    /* Appended after the bad spot, read back from the same file. */
    append_range(j, 601, 1400, 25);
    assert_int_equal(journal_sync(j), 0);
    journal_stats(j, &s);
    assert_true(s.cached < 400);
    assert_int_equal(count_files(".jnl"), 1);
    pos = 600;
    assert_int_equal(read_n(j, &pos, 800), 800);
    journal_stats(j, &s);
    assert_int_equal(s.corrupt, 1);
    assert_int_equal(s.skipped, 401);
    journal_free(j);
}

struct reader_arg {
    struct journal *j;
    uint64_t want, pos;
    bool ok, lost_wake;
};

/* A publisher's life: read until there is nothing, then wait on the wake descriptor (with
 * a timeout that fails the test: no busy polling that would hide a lost wake-up), and
 * "confirm" every 100, in order, from another thread. */
static void *reader_main(void *arg)
{
    struct reader_arg *r = arg;
    char *buf = NULL;
    size_t cap = 0;
    r->ok = true;
    while (r->pos < r->want) {
        struct journal_record rec;
        int rc = journal_next(r->j, &buf, &cap, &rec);
        if (rc == -EAGAIN) {
            if (!wait_wake(r->j, 3000)) {
                r->lost_wake = true;
                break;
            }
            continue;
        }
        if (rc != 0 || rec.version != r->pos + 1) {
            r->ok = false;
            break;
        }
        r->pos = rec.version;
        if (r->pos % 100 == 0)
            journal_confirmed(r->j, r->pos);
    }
    free(buf);
    return NULL;
}

/* The loop thread appends while the publisher reads: through memory and, with a small
 * cache, through the files; nothing skipped, nothing twice. */
static void test_journal_reader_on_another_thread(void **st)
{
    (void)st;
    for (int mode = 0; mode < 2; mode++) {
        struct journal_config cfg =
            mode ? disk(true) : (struct journal_config){.reader = true, .cache_changes = 100000};
        cfg.chunk_bytes = 4096;
        cfg.cache_bytes = mode ? 32768 : 0;
        cfg.segment_max = 65536;
        struct journal *j = open_j(&cfg, NULL);
        struct reader_arg r = {.j = j, .want = 20000};
        pthread_t t;
        assert_int_equal(pthread_create(&t, NULL, reader_main, &r), 0);
        assert_int_equal(journal_start(j, 1, 0), 0);
        append_range(j, 1, 20000, 37);
        pthread_join(t, NULL);
        assert_true(r.ok);
        assert_false(r.lost_wake);
        assert_int_equal(r.pos, 20000);
        struct journal_stats s;
        journal_stats(j, &s);
        assert_int_equal(s.lost, 0);
        journal_free(j);
    }
}

/* The wake descriptor turns readable when there is news for a reader that found none:
 * memory only, at the flush that publishes; on disk, at the sync that makes them readable
 * (not before). A lost wake-up fails here rather than passing unseen behind a poll loop. */
static void test_journal_wakefd_wakes_the_idle_reader(void **st)
{
    (void)st;
    char *buf = NULL;
    size_t cap = 0;
    struct journal_record r;
    for (int mode = 0; mode < 2; mode++) {
        struct journal_config cfg =
            mode ? disk(true) : (struct journal_config){.dir = NULL, .reader = true};
        if (mode)
            cfg.sync_ms = 100;
        struct journal *j = open_j(&cfg, NULL);
        assert_int_equal(journal_start(j, 1, 0), 0);
        wait_wake(j, 0); /* the start's own wake-up */
        for (uint64_t v = 1; v <= 30; v++) {
            assert_int_equal(journal_next(j, &buf, &cap, &r), -EAGAIN); /* idle now */
            append(j, v);
            journal_flush(j, now_ms());
            assert_true(wait_wake(j, 2000));
            /* A wake-up may come early (a sync that began before this write ends after the
             * reader went idle): the reader finds nothing and waits again, as the publisher
             * does. A lost wake-up still fails the wait. */
            int rc, again = 0;
            while ((rc = journal_next(j, &buf, &cap, &r)) == -EAGAIN && again++ < 3)
                assert_true(wait_wake(j, 2000));
            assert_int_equal(rc, 0);
            assert_int_equal(r.version, v);
            if (mode) {
                struct journal_stats s;
                journal_stats(j, &s);
                assert_true(s.synced >= v); /* woken by the sync, not by the write */
            }
        }
        /* Nothing new: no wake-up. */
        assert_int_equal(journal_next(j, &buf, &cap, &r), -EAGAIN);
        assert_false(wait_wake(j, mode ? 300 : 50));
        journal_free(j);
    }
    free(buf);
}

static void test_journal_resume_decides_the_series(void **st)
{
    (void)st;
    struct journal_resume r;
    struct journal_recovery rec = {.meta_found = true,
                                   .epoch = 9,
                                   .clean = true,
                                   .same_boot = false,
                                   .last_version = 50,
                                   .issued = 52};
    journal_resume(&rec, 9, 40, &r);
    assert_int_equal(r.epoch, 9);
    assert_int_equal(r.version, 52); /* a clean stop knows exactly what it numbered */

    rec = (struct journal_recovery){
        .meta_found = true, .epoch = 9, .same_boot = true, .last_version = 50, .issued = 50};
    journal_resume(&rec, 9, 40, &r);
    assert_int_equal(r.epoch, 9);
    assert_int_equal(r.version, 50);

    rec.same_boot = false; /* power loss: the unsynced tail may be gone */
    rec.issued = 60;
    journal_resume(&rec, 9, 40, &r);
    assert_int_equal(r.epoch, 0);
    assert_int_equal(r.version, 60);
    assert_non_null(strstr(r.why, "before this boot"));

    rec = (struct journal_recovery){.meta_damaged = true, .last_version = 50};
    journal_resume(&rec, 9, 70, &r);
    assert_int_equal(r.epoch, 0);
    assert_int_equal(r.version, 70);

    rec = (struct journal_recovery){0}; /* no journal before: the snapshot's word */
    journal_resume(&rec, 9, 70, &r);
    assert_int_equal(r.epoch, 9);
    assert_int_equal(r.version, 70);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_journal_memory_only_in_order_and_freed_when_confirmed),
        T(test_journal_memory_only_overflow_is_lost_and_counted),
        T(test_journal_memory_only_starts_no_thread),
        T(test_journal_cache_is_left_out_of_a_fork),
        T(test_journal_on_disk_publishes_only_synced_in_order),
        T(test_journal_order_across_segments_read_back_from_files),
        T(test_journal_torn_tail_is_cut_at_the_last_whole_record),
        T(test_journal_corrupt_middle_segment_keeps_the_good_part),
        T(test_journal_segments_go_once_confirmed_and_in_a_snapshot),
        T(test_journal_write_error_holds_in_memory_and_recovers),
        T(test_journal_crash_while_writes_fail_starts_a_new_series),
        T(test_journal_failing_sync_keeps_the_log_bounded),
        T(test_journal_sync_failing_now_and_then_is_one_trouble),
        T(test_journal_write_failing_now_and_then_is_one_trouble),
        T(test_journal_roll_that_fails_keeps_the_log_bounded),
        T(test_journal_unreadable_segment_is_skipped_and_counted),
        T(test_journal_unreadable_segment_is_given_up_only_after_a_while),
        T(test_journal_bad_spot_in_the_current_segment_skips_only_what_was_there),
        T(test_journal_reader_on_another_thread),
        T(test_journal_wakefd_wakes_the_idle_reader),
        T(test_journal_resume_decides_the_series),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
