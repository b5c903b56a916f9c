/* repeat.h - repeats skip the parser: the datagrams the full path has seen, by their bytes.
 *
 * A refresh storm is the same datagrams again and again (a restarted monitor re-sends every
 * state it knows, byte for byte). A datagram byte-identical to the one that last set an
 * active alert's whole content, nothing having changed that alert since, is a duplicate; a
 * Del byte-identical to one whose key is clear is a redundant clear. This cache remembers,
 * for datagrams that held one plain alert (ingest decides which), the alert's key, whether
 * it set the alert or cleared it, and the alert's generation (state.h: its version) right
 * after. A lookup finds a record by a hash of the bytes and then compares the bytes
 * themselves: the hash never decides. Whether the record still holds (same generation, or
 * still no active alert) is the state table's to say, not the cache's.
 *
 * Memory is fixed when the cache is made: records are appended to a ring of bytes (the
 * oldest are overwritten) and found through a table of slots, four for each hash (a new
 * record takes the oldest of its four). A record lost either way is only a miss: the
 * datagram takes the full path and is remembered again. Nothing is allocated per datagram.
 *
 * Why not uthash (DESIGN.md's library for tables): this is a bounded, lossy cache, not a
 * table. uthash keeps each item (an allocation of the caller's, with a 56-byte handle)
 * until it is deleted, grows its buckets with the count and never evicts: a cache on it
 * would allocate and free per datagram and need an eviction order of its own. Here the
 * memory is fixed at start, records are bytes in a ring that later ones overwrite, and a
 * new record takes the oldest slot of its set, with nothing to free or unlink. Only
 * uthash's hash function is used (repeat.c). The state table, a real table, is uthash.
 *
 * Loop thread only.
 */
#ifndef INJECTOR_REPEAT_H
#define INJECTOR_REPEAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Datagrams longer than this are not remembered (a record never spans the ring's end, and
 * this keeps the ring from holding only a few). */
#define REPEAT_MAX_DATAGRAM 4096

#define REPEAT_DEFAULT_MEMORY (8u << 20)

enum repeat_kind {
    REPEAT_SET,   /* Upd, Post or Updonly: the alert's content as it set it (a duplicate) */
    REPEAT_CLEAR, /* Del: the key is clear (a redundant clear) */
};

/* What a record says; pointers into the cache, valid until the next repeat_insert. */
struct repeat_hit {
    enum repeat_kind kind;
    const char *key; /* state_key() form: "host\0component" */
    size_t klen;
    uint32_t key_hash;   /* state_key()'s hash of it */
    uint64_t generation; /* REPEAT_SET: the alert's version right after; REPEAT_CLEAR: 0 */
};

struct repeat;

/* A cache of about memory bytes (0: REPEAT_DEFAULT_MEMORY; at least 64 KiB): seven eighths
 * for the ring of records, the rest for the slots. Returns 0 and *out, or -ENOMEM. */
int repeat_new(size_t memory, struct repeat **out);

/* Safe on NULL. */
void repeat_free(struct repeat *r);

/* The hash a datagram is filed under: compute it once, for repeat_lookup and, on a miss,
 * repeat_insert. */
uint32_t repeat_hash(const char *buf, size_t len);

/* Whether a record holds exactly these bytes; if so, fills *hit. */
bool repeat_lookup(struct repeat *r, const char *buf, size_t len, uint32_t hash,
                   struct repeat_hit *hit);

/* Remember buf (hash: repeat_hash(buf, len)) as what the full path just found: its one
 * alert, with key (state_key() form, klen bytes, key_hash), did kind, and the alert's
 * generation is now generation (0 for REPEAT_CLEAR). Replaces a record of the same bytes,
 * else an empty slot's, else the oldest of the four its hash may use. A datagram longer than
 * REPEAT_MAX_DATAGRAM is not remembered. */
void repeat_insert(struct repeat *r, const char *buf, size_t len, uint32_t hash,
                   enum repeat_kind kind, const char *key, size_t klen, uint32_t key_hash,
                   uint64_t generation);

#endif
