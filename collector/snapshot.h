/* snapshot.h - the state table on disk, so a restart neither forgets nor re-announces.
 *
 * JSON lines: a header {"injector_snapshot":1,"collector":..,"version":N,"count":n}, one
 * line per active alert (its fields, version, times, expiry deadline and ack), and an end line
 * {"end":n}; a file without its end line is truncated. Written to a temporary file,
 * fsynced, renamed over the old one, directory fsynced: a crash leaves the old snapshot or
 * the new one, never half of one.
 *
 * snapshot_write_async() forks: the child writes the copy-on-write image of the table while
 * the parent goes on reading datagrams (the table is never locked, never copied by hand).
 * Loop thread only.
 */
#ifndef INJECTOR_SNAPSHOT_H
#define INJECTOR_SNAPSHOT_H

#include "collector/state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct snapshot_info {
    uint64_t version; /* the table's version when it was written */
    bool clean;       /* written at a clean exit (else periodic: the run may have crashed
                       * after it, having numbered more changes than it holds) */
    size_t count;     /* alerts in the file (header) */
    size_t loaded;    /* alerts put back into the table */
};

/* Write the table to path now; clean marks the last snapshot of a clean exit. Returns 0,
 * or a negative errno with err filled. */
int snapshot_write(const struct state *s, const char *path, const char *collector_id, bool clean,
                   char *err, size_t errlen);

/* Fork a child that writes the table to path and exits: status 0, or the errno that made
 * it fail (it logs nothing itself). Returns the child's pid, or a negative errno (fork
 * failed; nothing written). Reap it with waitpid. */
pid_t snapshot_write_async(const struct state *s, const char *path, const char *collector_id);

/* Read path into the (empty) table. Returns 0; -ENOENT when there is no snapshot;
 * -EBADMSG when it is corrupt or truncated (err says where; the alerts read before the
 * damage are kept, info says how many); another negative errno when it cannot be read. */
int snapshot_load(struct state *s, const char *path, struct snapshot_info *info, char *err,
                  size_t errlen);

/* What snapshot_restore found and did, for the caller to report. */
struct snapshot_restored {
    int rc; /* snapshot_load's answer: 0, -ENOENT, -EBADMSG, ... */
    struct snapshot_info info;
    uint64_t jumped_to; /* numbering goes on after this, not info.version; 0: no jump */
    char err[512];      /* rc != 0: what is wrong with the file */
    char aside[1100];   /* damaged: where the file now is; "" when it could not move */
    int aside_errno;    /* damaged and not moved: why */
};

/* Start-up: read path into the (empty) table, with the rules that keep every version
 * unique and damage in sight:
 *  - A snapshot not written at a clean exit is a periodic one: the run that wrote it may
 *    have numbered up to interval_s seconds of changes after it, then died. Numbering
 *    jumps past anything it could have issued (a million changes a second, above what
 *    one collector does, for interval_s + 10 seconds), so no version is used twice; a
 *    consumer sees the gap and resyncs.
 *  - A damaged file (corrupt, truncated, unreadable) keeps the alerts read before the
 *    damage, and is renamed to PATH.corrupt-<now_s> so the next snapshot does not
 *    overwrite what someone may want to look at.
 * interval_s 0: the caller keeps a change journal, which knows what came after the
 * snapshot: no jump.
 * A missing file is an empty table (rc -ENOENT). Returns r->rc. */
int snapshot_restore(struct state *s, const char *path, unsigned interval_s, int64_t now_s,
                     struct snapshot_restored *r);

#endif
