/* repeat.c - the repeat cache: a ring of records, found through a 4-way set-associative table. */
#include "collector/repeat.h"

#include "collector/state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* uthash for a hash function only: SuperFastHash, four bytes a round, the cheapest of
 * uthash's over a 300-byte datagram (1,200 instructions; Jenkins 2,100), and as even as
 * chance over the slots for datagrams that differ in a host name. */
#include <uthash.h>

#define MIN_MEMORY (64u << 10)

/* A datagram may take any of the WAYS slots of its set (one cache line). One way is not
 * enough: datagrams whose hashes meet in a slot and that come in turns (a monitor's cycle)
 * evict each other every time, and none ever hits; with 20,000 datagrams in turn and 65,536
 * slots (injector-burst --hosts 20000), two ways missed 12% of the repeats, four ways 3.5%. */
#define WAYS 4

/* A record in the ring, 8-aligned: this header, the datagram, the key. */
struct record {
    uint64_t generation;
    uint32_t key_hash;
    uint16_t klen;
    uint16_t kind;
};

/* A slot: where its record starts (an absolute ring position + 1; 0: empty) and what a
 * lookup can reject on without reading the ring. 16 bytes. */
struct slot {
    uint64_t pos;
    uint32_t hash;
    uint32_t len;
};

struct repeat {
    char *ring;
    size_t ring_size;
    uint64_t head; /* absolute position of the next write: ring offset is head % ring_size */
    struct slot *slots;
    size_t mask;
};

int repeat_new(size_t memory, struct repeat **out)
{
    if (memory == 0)
        memory = REPEAT_DEFAULT_MEMORY;
    if (memory < MIN_MEMORY)
        memory = MIN_MEMORY;
    struct repeat *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    /* Slots: the largest power of two that fits an eighth of the memory (a slot per 128
     * bytes of ring: records are ~300 bytes, so a slot is rarely fought over); at least a
     * set. */
    size_t n_slots = WAYS;
    while (2 * n_slots * sizeof(struct slot) <= memory / 8)
        n_slots *= 2;
    r->mask = n_slots - 1;
    r->ring_size = (memory - n_slots * sizeof(struct slot)) & ~(size_t)7;
    r->slots = aligned_alloc(64, n_slots * sizeof(struct slot)); /* a set per cache line */
    if (r->slots != NULL)
        memset(r->slots, 0, n_slots * sizeof(struct slot));
    r->ring = malloc(r->ring_size);
    if (r->slots == NULL || r->ring == NULL) {
        repeat_free(r);
        return -ENOMEM;
    }
    *out = r;
    return 0;
}

void repeat_free(struct repeat *r)
{
    if (r == NULL)
        return;
    free(r->slots);
    free(r->ring);
    free(r);
}

uint32_t repeat_hash(const char *buf, size_t len)
{
    uint32_t h;
    HASH_SFH(buf, len, h);
    return h;
}

/* Whether the record at absolute position pos is still whole: the writes since reached no
 * further than one ring length past its start (records never wrap, see repeat_insert). */
static bool alive(const struct repeat *r, uint64_t pos)
{
    return r->head - pos <= r->ring_size;
}

static struct slot *set_of(const struct repeat *r, uint32_t hash)
{
    return &r->slots[hash & r->mask & ~(size_t)(WAYS - 1)];
}

bool repeat_lookup(struct repeat *r, const char *buf, size_t len, uint32_t hash,
                   struct repeat_hit *hit)
{
    struct slot *set = set_of(r, hash);
    for (int w = 0; w < WAYS; w++) {
        const struct slot *s = &set[w];
        if (s->pos == 0 || s->hash != hash || s->len != len || !alive(r, s->pos - 1))
            continue;
        const char *at = r->ring + (s->pos - 1) % r->ring_size;
        const struct record *rec = (const struct record *)(const void *)at;
        if (memcmp(at + sizeof(*rec), buf, len) != 0)
            continue; /* the same hash and length, other bytes: not this one */
        hit->kind = (enum repeat_kind)rec->kind;
        hit->key = at + sizeof(*rec) + len;
        hit->klen = rec->klen;
        hit->key_hash = rec->key_hash;
        hit->generation = rec->generation;
        return true;
    }
    return false;
}

void repeat_insert(struct repeat *r, const char *buf, size_t len, uint32_t hash,
                   enum repeat_kind kind, const char *key, size_t klen, uint32_t key_hash,
                   uint64_t generation)
{
    if (len > REPEAT_MAX_DATAGRAM || klen > STATE_KEY_MAX)
        return;
    size_t size = (sizeof(struct record) + len + klen + 7) & ~(size_t)7;
    if (size > r->ring_size / 4)
        return; /* a tiny cache (tests): keep several records in it */
    size_t off = (size_t)(r->head % r->ring_size);
    if (off + size > r->ring_size) { /* never across the end: start the next lap */
        r->head += r->ring_size - off;
        off = 0;
    }
    /* The slot: one that holds the same datagram (its record is stale: replace it), else
     * an empty or overwritten one, else the oldest of the set. */
    struct slot *set = set_of(r, hash), *s = NULL;
    for (int w = 0; w < WAYS && s == NULL; w++)
        if (set[w].pos != 0 && set[w].hash == hash && set[w].len == len &&
            alive(r, set[w].pos - 1) &&
            memcmp(r->ring + (set[w].pos - 1) % r->ring_size + sizeof(struct record), buf, len) ==
                0)
            s = &set[w];
    for (int w = 0; w < WAYS && s == NULL; w++)
        if (set[w].pos == 0 || !alive(r, set[w].pos - 1))
            s = &set[w];
    if (s == NULL) {
        s = &set[0];
        for (int w = 1; w < WAYS; w++)
            if (set[w].pos < s->pos)
                s = &set[w];
    }
    char *at = r->ring + off;
    struct record rec = {.generation = generation,
                         .key_hash = key_hash,
                         .klen = (uint16_t)klen,
                         .kind = (uint16_t)kind};
    memcpy(at, &rec, sizeof(rec));
    memcpy(at + sizeof(rec), buf, len);
    memcpy(at + sizeof(rec) + len, key, klen);
    *s = (struct slot){.pos = r->head + 1, .hash = hash, .len = (uint32_t)len};
    r->head += size;
}
