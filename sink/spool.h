/* spool.h - the on-disk spool: append-only segment files of encoded changes.
 *
 * Changes the broker cannot take now are appended here and read back, in order, once it
 * can. A segment is named by the first version it holds (seg-<version>.spool), so replay
 * order is file-name order. Each record carries a CRC; a segment whose tail was cut by a
 * crash is recovered up to its last whole record.
 *
 * Writes are group-committed: appends go to a buffer, spool_flush() writes it (once per
 * loop iteration), and durability comes from spool_sync() on a timer and at close, never
 * from an fsync per record. A segment leaves the disk only when every record in it has been
 * read and confirmed (spool_confirm).
 *
 * Not thread-safe: the outbox serialises every call under its lock, except that
 * spool_sync_fds() hands out duplicated descriptors so the fsyncs run outside it.
 */
#ifndef INJECTOR_SPOOL_H
#define INJECTOR_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SPOOL_SEGMENT_MAX (64u << 20) /* roll to a new segment past this size */

struct spool_record {
    uint64_t version;
    const char *rk; /* routing key */
    uint16_t rk_len;
    const char *body;
    uint32_t body_len;
};

/* What spool_open found on disk. */
struct spool_recovery {
    size_t segments;
    uint64_t records;
    uint64_t bytes;
    uint64_t bytes_cut;   /* partial or corrupt tails removed */
    uint64_t max_version; /* 0 when empty */
};

struct spool;

/* Open (creating) dir, recover every segment in it. Returns 0 and *out, or a negative
 * errno (the directory cannot be created or read). */
int spool_open(const char *dir, struct spool **out, struct spool_recovery *rec);

/* Flush, fsync and close everything. Safe on NULL. */
void spool_close(struct spool *s);

/* Append one record to the write buffer. Returns 0, or a negative errno when the buffer
 * could not be written out to make room (the record is then lost and counted). */
int spool_append(struct spool *s, uint64_t version, const char *rk, uint16_t rk_len,
                 const char *body, uint32_t body_len);

/* Write the buffer to the current segment. Returns 0, or a negative errno: then the
 * buffered records are lost (spool_lost counts them) and the segment is sealed. */
int spool_flush(struct spool *s);

/* Seal the current segment: the next append starts a new one. Called when the spool has
 * been drained, so that a later spooling period never shares a segment with an earlier
 * one (replay order is segment order). */
void spool_seal(struct spool *s);

/* Read the next unread, flushed record. Returns 0 and fills *out (pointers valid until the
 * next read), or -EAGAIN when nothing flushed is left unread. */
int spool_read(struct spool *s, struct spool_record *out);

/* Whether every record (flushed or buffered) has been read. */
bool spool_drained(const struct spool *s);

/* Records with version <= v are confirmed: delete every segment read and confirmed to its
 * end. */
void spool_confirm(struct spool *s, uint64_t v);

/* Write records (in version order) as one new, sealed, fsynced segment: what was still in
 * memory at shutdown. Returns 0 or a negative errno. */
int spool_write_segment(struct spool *s, const struct spool_record *recs, size_t n);

/* Descriptors (dup'd) of segments written since their last fsync; the caller fsyncs and
 * closes them outside its lock. Returns how many were put in fds (at most max). */
size_t spool_sync_fds(struct spool *s, int *fds, size_t max);

uint64_t spool_bytes(const struct spool *s);    /* on disk and buffered, not deleted */
uint64_t spool_appended(const struct spool *s); /* records appended since open */
uint64_t spool_lost(const struct spool *s);     /* records lost to write errors */

#endif
