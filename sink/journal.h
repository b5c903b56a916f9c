/* journal.h - the change journal: every change, in version order, written before any sink
 * sees it; the table's redo log at start and the queue the AMQP publisher reads from.
 *
 * On disk (a directory given): segment files seg-<first version>.jnl of CRC'd records
 * (u32 length, u32 CRC-32C of the payload, payload = u64 version, u16 routing-key length, routing
 * key, the change's JSON), rolled at segment_max bytes, and a small `meta` file (epoch, the
 * broker's confirmed position, boot id, whether the run is still going). Redis AOF
 * "everysec" model: the loop thread appends to memory (no syscall) and writes once per
 * loop iteration (journal_flush: one write(2) into the page cache, which a kill -9 does not
 * lose); a thread of the journal's own runs fdatasync at most every sync_ms, outside any
 * lock, and only then lets the publisher see those changes. Compaction (unlink) and the
 * meta file are that thread's too. Nothing ever syncs per change.
 *
 * In memory the journal keeps a cache of its tail (chunks of records, bounded by
 * cache_changes and cache_bytes): the publisher reads from it, and from the files when it
 * has fallen behind what the cache holds. Without a directory the cache is the whole
 * journal (memory only): a change leaves it once the broker confirmed it, and a change
 * that does not fit is lost (counted).
 *
 * A write error (disk full, EFBIG, EIO) never loses what memory still holds: the writes are
 * retried after a back-off into the same segment; meanwhile those changes are published
 * anyway (counted as not durable: a crash would lose them). Only a change that fits
 * neither disk nor cache is lost, and counted.
 *
 * Threads: journal_open/replay/start/finish/free on the thread that owns the journal
 * (before and after the loop runs); journal_append/flush/snapshot_done on the loop thread;
 * journal_next/confirmed/wakefd/clear_wake on the one reader (the publisher); journal_sync
 * from any thread, but it blocks until the sync is done: not on the loop thread while the
 * loop runs (the daemon calls it there after uv_run returns); stats from any thread.
 */
#ifndef INJECTOR_JOURNAL_H
#define INJECTOR_JOURNAL_H

#include "sink/change.h"
#include "sink/sink.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JOURNAL_SEGMENT_MAX (16u << 20)
#define JOURNAL_SYNC_MS     50

struct journal_config {
    const char *dir;      /* the journal's directory (created); NULL: memory only */
    unsigned sync_ms;     /* fdatasync at most this often; 0: JOURNAL_SYNC_MS */
    size_t cache_changes; /* changes held in memory at most; 0: no count limit */
    size_t cache_bytes;   /* and bytes; 0: 256 MiB */
    size_t chunk_bytes;   /* memory is taken in chunks of this size; 0: 1 MiB */
    uint64_t segment_max; /* roll to a new segment past this size (at the next write: one
                           * write, a loop iteration's changes, goes whole into one segment);
                           * 0: JOURNAL_SEGMENT_MAX */
    bool reader;          /* a publisher reads it: changes stay until it confirms them */
    sink_log_fn log;      /* may be NULL */
};

/* What journal_open found. */
struct journal_recovery {
    bool meta_found;         /* the meta file was there and whole */
    bool meta_damaged;       /* it was there, but not whole: treated as an unclean stop */
    uint64_t epoch;          /* the version series the last run used (0: unknown) */
    uint64_t confirmed;      /* the broker had confirmed every version up to this */
    uint64_t issued;         /* the highest version the last run numbered (as last recorded) */
    bool clean;              /* the last run stopped cleanly */
    bool same_boot;          /* it ran since this boot of the machine */
    bool degraded;           /* it ran with changes it had numbered and not written */
    size_t segments;         /* segment files kept */
    uint64_t records, bytes; /* whole records in them */
    uint64_t first_version, last_version; /* 0 when empty */
    unsigned torn;    /* segments whose partial last record was cut (each logged with its bytes) */
    unsigned corrupt; /* segments with a bad record inside: the rest set aside (logged too) */
};

struct journal;

/* Open (creating) cfg->dir and recover every segment in it: a partial record at a
 * segment's end is cut; a bad record inside one keeps the part before it and moves the
 * file aside (<name>.corrupt-<time>, the good part written back under the old name); each
 * is logged. rec gets what was found. Returns 0 and *out, or a negative errno (the
 * directory cannot be created or read). */
int journal_open(const struct journal_config *cfg, struct journal **out,
                 struct journal_recovery *rec);

/* Before journal_start: call cb for each whole record with a version > after, in version
 * order (body: the change's JSON, len bytes, valid for the call). A non-zero return from
 * cb stops the walk and is returned. Returns 0, cb's value or a negative errno. */
typedef int (*journal_replay_cb)(uint64_t version, const char *body, size_t len, void *data);
int journal_replay(struct journal *j, uint64_t after, journal_replay_cb cb, void *data);

/* How a start goes on from what was found: the snapshot (its epoch and version; 0 when
 * there was none) and the journal. The same series, numbering on from the last journaled
 * version with no jump, when the last stop was clean or a crash on this boot of the
 * machine with every numbered change written (kill -9, OOM, watchdog: the page cache kept
 * it all). A new series (consumers resync) when the last run stopped uncleanly on an
 * earlier boot (power loss may have taken its unsynced tail, whose versions /v1/alerts may
 * have shown), or with changes it could not write, or when damaged records were set aside
 * (consumers may hold changes the table lacks); numbering then goes on past anything it
 * may have issued. */
struct journal_resume {
    uint64_t epoch;   /* 0: start a new series */
    uint64_t version; /* number on after this */
    const char *why;  /* for the log: why a new series, or NULL */
};
void journal_resume(const struct journal_recovery *rec, uint64_t snap_epoch, uint64_t snap_version,
                    struct journal_resume *out);

/* Begin this run: versions go on after `version` in the series `epoch`; the meta file
 * records that the run is going (and on which boot) before this returns; the sync thread
 * starts (on disk only: a memory-only journal has none). The reader begins after the recovered
 * confirmed position. Returns 0 or a negative errno (the thread cannot start). A meta file that
 * cannot be written is logged, not an error: the journal goes on (a full disk is lived with, see
 * above). */
int journal_start(struct journal *j, uint64_t epoch, uint64_t version);

/* Loop thread: add one change (copied; routing key made here). Returns 0, or -ENOBUFS when
 * it fits neither the cache nor (the disk failing) anywhere: lost and counted. */
int journal_append(struct journal *j, const struct change *c, const char *json, size_t len);

/* Loop thread, once per loop iteration: write what was appended (one write(2), no sync),
 * hand it on, retry a failed write when its back-off is over. mono_ms: a monotonic clock.
 * Cheap when there is nothing to do. Returns 0 or the write error (logged, counted). */
int journal_flush(struct journal *j, int64_t mono_ms);

/* Loop thread: a snapshot holding every version <= version is safely on disk; segments
 * older than it may go (once confirmed, when there is a reader). */
void journal_snapshot_done(struct journal *j, uint64_t version);

/* Reader: the next change in version order that may be published (synced, or not
 * writable and counted as not durable), copied into *buf (grown as needed; the caller
 * frees it). Returns 0 and fills the out values, or -EAGAIN when none is ready (the wake
 * descriptor turns readable when one may be). */
struct journal_record {
    uint64_t version;
    uint16_t rk_len;   /* routing key: (*buf)[0 .. rk_len) */
    uint32_t body_len; /* the JSON: (*buf)[rk_len .. rk_len + body_len) */
};
int journal_next(struct journal *j, char **buf, size_t *cap, struct journal_record *out);

/* Reader: the broker confirmed every version <= version. */
void journal_confirmed(struct journal *j, uint64_t version);

/* Reader: a descriptor (eventfd) that turns readable when journal_next may have more;
 * consume a wake-up with journal_clear_wake. */
int journal_wakefd(const struct journal *j);
void journal_clear_wake(struct journal *j);

/* Any thread, but it blocks (not the loop thread while the loop runs): fdatasync what is
 * written now, bring the meta file and compaction up to date, and return when it is done.
 * Memory only: nothing to do, returns 0. Returns 0 or the sync error. */
int journal_sync(struct journal *j);

/* A clean stop, after the last append and once the reader has stopped: write, sync,
 * compact, and record the confirmed position and that the run stopped cleanly. Returns 0
 * or a negative errno (then the next start takes the stop for unclean). */
int journal_finish(struct journal *j);

/* Stop the thread and free. Safe on NULL and on a half-built journal. Without a
 * journal_finish first, the next start sees an unclean stop. */
void journal_free(struct journal *j);

struct journal_stats {
    uint64_t appended;    /* changes appended since start */
    uint64_t newest;      /* version of the newest change */
    uint64_t synced;      /* version up to which everything is on disk (fdatasync) */
    uint64_t confirmed;   /* version up to which the broker confirmed (reader) */
    uint64_t bytes;       /* in segment files now */
    uint64_t segments;    /* segment files now */
    uint64_t cached;      /* changes in memory now */
    uint64_t cache_bytes; /* bytes of memory held now */
    uint64_t unwritten;   /* changes in memory that are not in a file (disk failing) */
    uint64_t not_durable; /* changes handed to the reader before they were on disk */
    uint64_t lost;        /* changes that fit neither disk nor memory */
    uint64_t write_errors, sync_errors;
    uint64_t torn, corrupt; /* recoveries: cut tails, bad records set aside */
    uint64_t unreadable;    /* segments the reader could not read back: the rest skipped */
    uint64_t skipped;       /* changes in the rest of those (and of corrupt ones): not read */
    double lag_s;           /* age of the oldest unconfirmed change (reader), 0 when none */
    bool disk;              /* files, not memory only */
};

void journal_stats(struct journal *j, struct journal_stats *out);

/* Report the journal's counters (counter.h): fn(c, data) once each, in a fixed order. Any
 * thread. */
void journal_counters(struct journal *j, counter_fn fn, void *data);

/* Read this machine's boot id (36 characters) into buf (37 bytes). Returns 0 or a negative
 * errno. */
int journal_boot_id(char *buf, size_t size);

#endif
