/* snapshot.h - the state table on disk, so a restart neither forgets nor re-announces.
 *
 * JSON lines: a header {"injector_snapshot":1,"collector":..,"version":N,"count":n}, one
 * line per active alert (its fields, version, times and expiry deadline), and an end line
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
int snapshot_write(const struct state *s, const char *path, const char *collector_id,
                   bool clean, char *err, size_t errlen);

/* Fork a child that writes the table to path and exits: status 0, or the errno that made
 * it fail (it logs nothing itself). Returns the child's pid, or a negative errno (fork
 * failed; nothing written). Reap it with waitpid. */
pid_t snapshot_write_async(const struct state *s, const char *path, const char *collector_id);

/* Read path into the (empty) table. Returns 0; -ENOENT when there is no snapshot;
 * -EBADMSG when it is corrupt or truncated (err says where; the alerts read before the
 * damage are kept, info says how many); another negative errno when it cannot be read. */
int snapshot_load(struct state *s, const char *path, struct snapshot_info *info, char *err,
                  size_t errlen);

#endif
