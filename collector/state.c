/* state.c - active-alert table: uthash on "host\0component" and on host names, per-host
 * lists, and deadline heaps for alerts' and acks' expiry. */
#include "collector/state.h"

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

/* Keys hashed with FNV-1a, not uthash's default (Jenkins): keys are short (a 12-byte key
 * costs 50 instructions, Jenkins 150), and FNV-1a spreads keys that differ in a digit or
 * two (n000417, n000418, 10.0.3.7) evenly over the buckets. */
#define HASH_FUNCTION HASH_FNV
/* A bloom filter per table (uthash's HASH_BLOOM: one bit per key, at the hash's low 22
 * bits, 512 KiB per table, made with the table's first key): a raise looks its key and
 * host up and usually misses, and a miss whose bit is clear skips the walk of the bucket
 * chain, each hop of which is a cache miss on another alert. Measured with bench-parse,
 * new alerts: 9% less time per alert at 100,000 and at 1,000,000 alerts; repeats the same.
 * False positives (a walk as before) are 1 - e^(-keys / 2^22): 2% at 100,000 keys, 21% at
 * 1,000,000. A larger filter has fewer of them but stops fitting in L2 and measured slower
 * (2^24: 4% less time at 100,000). Deleting a key leaves its bit set (uthash never clears
 * bits): the filter fills with every distinct key seen since the table was made, so churn
 * through ever-new keys slowly brings lookups back to the cost without it, never to a wrong
 * answer; the same keys coming and going set the same bits. A table that empties is freed
 * with its filter. */
#define HASH_BLOOM 22
#include "collector/hash.h"

#define TEXT_ABSENT UINT32_MAX
#define KEY_BUF     STATE_KEY_MAX

struct host;

/* One active alert, in one allocation: this header, the key (host \0 component \0), then
 * the text fields and extras (name \0 value \0 pairs) in a blob. The blob is inline at
 * first; an update that needs more room than it has moves it to an allocation of its own,
 * one that fits is written in place. */
struct entry {
    UT_hash_handle hh; /* in s->entries, keyed by key (host \0 component, no final NUL) */
    struct host *host;
    struct entry *hprev, *hnext; /* this host's alerts */
    char *blob;
    uint64_t version; /* also the generation the repeat path checks: every change bumps it */
    int64_t first_seen_ms, last_seen_ms;
    int64_t expires_ms; /* 0: never */
    int64_t num[ALERT_NUM_COUNT];
    uint32_t heap_idx; /* position in s->expiry while expires_ms != 0 */
    /* Who last raised or updated it: an index into s->sender_ids, 0 for unknown. 4 bytes, not a
     * pointer: num_present gave up 2 of them, so an alert costs 2 bytes more than without a sender.
     */
    uint32_t sender;
    uint32_t text_off[ALERT_TEXT_COUNT]; /* into blob, TEXT_ABSENT when absent */
    uint32_t extra_off;                  /* extras start; texts end */
    uint32_t blob_cap;
    uint16_t num_present; /* ALERT_NUM_COUNT bits */
    uint16_t n_extra;
    uint16_t host_len, component_len;
    /* Its acknowledgement: an index into s->acks, 0 for none. 4 bytes that were padding
     * before key: an alert without an ack costs nothing more. */
    uint32_t ack;
    char key[]; /* host \0 component \0, then the first blob */
};

struct host {
    UT_hash_handle hh; /* in s->hosts, keyed by name */
    struct entry *first;
    uint32_t n;
    uint16_t len;
    char name[];
};

/* A sender address as change lines show it ("10.1.2.3:40112"), shared by the alerts it
 * last set: few senders set many alerts. Freed with the last alert that names it. */
struct sender {
    UT_hash_handle hh; /* in s->senders, keyed by text */
    uint32_t refs;
    uint32_t id; /* index in s->sender_ids */
    char text[];
};

/* An acknowledgement, in one allocation with its text (author \0 comment \0). Few alerts
 * have one, so it lives apart from the entry, which holds only its index. */
struct ack {
    struct change_ack pub; /* what results and state_meta show; points into text */
    struct entry *e;
    uint32_t heap_idx; /* position in s->ack_expiry while pub.expires_ms != 0 */
    char text[];
};

/* A binary min-heap of items by a deadline (int64_t, ms) each item holds, each item also
 * holding its position in the heap (uint32_t), so that one is moved or taken out in
 * O(log n). Entries (their TTL) and acks (their expiry) have one each; a layout says where
 * an item keeps the two, so an item costs nothing beyond those fields, and the heap one
 * pointer per item. */
struct deadline_heap {
    void **v;
    size_t n, cap;
};

/* Where an item of a heap keeps its deadline and its position: one of the two constant
 * objects below, entry_expiry and ack_expiry. */
struct deadline_layout {
    size_t when_off, idx_off; /* offsetof the deadline and the position in an item */
    size_t first_cap;         /* the first allocation, in items */
};

struct state {
    struct state_config cfg;
    struct sender *senders;     /* uthash head */
    struct sender **sender_ids; /* [0] unused: 0 means no sender */
    uint32_t *sender_free;      /* ids given back, reused first */
    uint32_t sender_n, sender_cap, sender_n_free;
    uint32_t sender_last;  /* the id state_apply_from last used: a burst has one sender */
    struct entry *entries; /* uthash head */
    struct host *hosts;    /* uthash head */
    uint64_t version;
    uint64_t epoch;
    /* Expiry: the entries with a deadline, by expires_ms. */
    struct deadline_heap expiry;
    /* Acknowledgements: acks[1..n_acks] (dense: a removal moves the last one into the
     * hole), and those with an expiry, by pub.expires_ms. */
    struct ack **acks;
    uint32_t n_acks, acks_cap;
    struct deadline_heap ack_expiry;
    /* A cleared entry is handed back as the result's alert, so it is freed on the next
     * call rather than at once. */
    struct entry *dead;
    /* An Updonly's merged view points into the blob it replaces: built here first. */
    char *scratch;
    size_t scratch_cap;
};

static const struct deadline_layout entry_expiry = {offsetof(struct entry, expires_ms),
                                                    offsetof(struct entry, heap_idx), 1024};
static const struct deadline_layout ack_expiry = {offsetof(struct ack, pub.expires_ms),
                                                  offsetof(struct ack, heap_idx), 16};

/* ---- lookups ---------------------------------------------------------------------- */

/* The hash uthash files key under: computed once per alert, for the lookup and a raise's
 * insert (and by state_key, for the repeat path). */
static uint32_t key_hash(const char *key, size_t len)
{
    unsigned h;
    HASH_VALUE(key, len, h);
    return (uint32_t)h;
}

/* The entry with key ("host\0component", klen bytes without a final NUL), or NULL. */
static struct entry *entry_find(const struct state *s, const char *key, size_t klen, uint32_t hash)
{
    struct entry *e;
    HASH_FIND_BYHASHVALUE(hh, s->entries, key, klen, hash, e);
    return e;
}

static struct host *host_find(const struct state *s, const char *name, size_t len, uint32_t hash)
{
    struct host *h;
    HASH_FIND_BYHASHVALUE(hh, s->hosts, name, len, hash, h);
    return h;
}

int state_new(const struct state_config *cfg, struct state **out)
{
    struct state *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    if (cfg != NULL)
        s->cfg = *cfg;
    *out = s;
    return 0;
}

static char *inline_blob(struct entry *e)
{
    return e->key + e->host_len + e->component_len + 2;
}

static void entry_free(struct entry *e)
{
    if (e == NULL)
        return;
    if (e->blob != inline_blob(e))
        free(e->blob);
    free(e);
}

void state_free(struct state *s)
{
    if (s == NULL)
        return;
    struct entry *e, *etmp;
    HASH_ITER(hh, s->entries, e, etmp)
    {
        HASH_DELETE(hh, s->entries, e);
        entry_free(e);
    }
    struct host *h, *htmp;
    HASH_ITER(hh, s->hosts, h, htmp)
    {
        HASH_DELETE(hh, s->hosts, h);
        free(h);
    }
    entry_free(s->dead);
    struct sender *sd, *sdtmp;
    HASH_ITER(hh, s->senders, sd, sdtmp)
    {
        HASH_DELETE(hh, s->senders, sd);
        free(sd);
    }
    for (uint32_t i = 1; i <= s->n_acks; i++)
        free(s->acks[i]);
    free(s->acks);
    free(s->ack_expiry.v);
    free(s->sender_ids);
    free(s->sender_free);
    free(s->expiry.v);
    free(s->scratch);
    free(s);
}

/* ---- senders ---------------------------------------------------------------------- */

/* The id of text, a reference taken; 0 when it could not be stored (the alert then shows
 * no sender: nothing else depends on it). */
static uint32_t sender_ref(struct state *s, const char *text)
{
    struct sender *sd = NULL;
    size_t len = strlen(text);
    if (s->sender_last != 0 && strcmp(s->sender_ids[s->sender_last]->text, text) == 0)
        sd = s->sender_ids[s->sender_last];
    else
        HASH_FIND(hh, s->senders, text, len, sd);
    if (sd == NULL) {
        uint32_t id;
        if (s->sender_n_free > 0) {
            id = s->sender_free[--s->sender_n_free];
        } else {
            if (s->sender_n + 1 >= s->sender_cap) {
                uint32_t cap = s->sender_cap ? s->sender_cap * 2 : 16;
                struct sender **ids = realloc(s->sender_ids, cap * sizeof(*ids));
                if (ids == NULL)
                    return 0;
                s->sender_ids = ids;
                uint32_t *fr = realloc(s->sender_free, cap * sizeof(*fr));
                if (fr == NULL)
                    return 0;
                s->sender_free = fr;
                s->sender_cap = cap;
            }
            id = ++s->sender_n;
        }
        if ((sd = malloc(sizeof(*sd) + len + 1)) == NULL) {
            s->sender_free[s->sender_n_free++] = id;
            return 0;
        }
        memcpy(sd->text, text, len + 1);
        sd->refs = 0;
        sd->id = id;
        oom_flag = false;
        HASH_ADD_KEYPTR(hh, s->senders, sd->text, len, sd);
        if (oom_flag) {
            free(sd);
            s->sender_free[s->sender_n_free++] = id;
            return 0;
        }
        s->sender_ids[id] = sd;
    }
    sd->refs++;
    s->sender_last = sd->id;
    return sd->id;
}

static void sender_unref(struct state *s, uint32_t id)
{
    if (id == 0)
        return;
    struct sender *sd = s->sender_ids[id];
    if (--sd->refs > 0)
        return;
    HASH_DELETE(hh, s->senders, sd);
    free(sd);
    s->sender_ids[id] = NULL;
    s->sender_free[s->sender_n_free++] = id;
    if (s->sender_last == id)
        s->sender_last = 0;
}

static const char *sender_text(const struct state *s, uint32_t id)
{
    return id != 0 ? s->sender_ids[id]->text : NULL;
}

/* ---- deadline heaps --------------------------------------------------------------- */

/* Inlined at every call, where the layout is one of the two constant objects: the offsets
 * are then constants, as in the two hand-written heaps this replaces (same instruction
 * count under callgrind on a TTL refresh storm; called through the layout, 1% more). */
#define DH_INLINE static inline __attribute__((always_inline))

DH_INLINE int64_t dh_when(const struct deadline_layout *L, const void *item)
{
    return *(const int64_t *)((const char *)item + L->when_off);
}

DH_INLINE uint32_t dh_index(const struct deadline_layout *L, const void *item)
{
    return *(const uint32_t *)((const char *)item + L->idx_off);
}

DH_INLINE void dh_set(struct deadline_heap *h, const struct deadline_layout *L, size_t i,
                      void *item)
{
    h->v[i] = item;
    *(uint32_t *)((char *)item + L->idx_off) = (uint32_t)i;
}

DH_INLINE void dh_up(struct deadline_heap *h, const struct deadline_layout *L, size_t i)
{
    void *item = h->v[i];
    int64_t when = dh_when(L, item);
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (dh_when(L, h->v[parent]) <= when)
            break;
        dh_set(h, L, i, h->v[parent]);
        i = parent;
    }
    dh_set(h, L, i, item);
}

DH_INLINE void dh_down(struct deadline_heap *h, const struct deadline_layout *L, size_t i)
{
    void *item = h->v[i];
    int64_t when = dh_when(L, item);
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int64_t best = when;
        if (l < h->n && dh_when(L, h->v[l]) < best) {
            m = l;
            best = dh_when(L, h->v[l]);
        }
        if (r < h->n && dh_when(L, h->v[r]) < best)
            m = r;
        if (m == i)
            break;
        dh_set(h, L, i, h->v[m]);
        i = m;
    }
    dh_set(h, L, i, item);
}

/* Room for one more item: 0, or -ENOMEM with the heap as it was. */
static int dh_reserve(struct deadline_heap *h, const struct deadline_layout *L)
{
    if (h->n < h->cap)
        return 0;
    size_t cap = h->cap ? h->cap * 2 : L->first_cap;
    void **v = realloc(h->v, cap * sizeof(*v));
    if (v == NULL)
        return -ENOMEM;
    h->v = v;
    h->cap = cap;
    return 0;
}

/* Add item (its deadline set; dh_reserve made room). */
DH_INLINE void dh_push(struct deadline_heap *h, const struct deadline_layout *L, void *item)
{
    dh_set(h, L, h->n++, item);
    dh_up(h, L, h->n - 1);
}

/* item, in the heap, has a new deadline: later (sift down) or not (up). */
DH_INLINE void dh_moved(struct deadline_heap *h, const struct deadline_layout *L, void *item,
                        bool later)
{
    if (later)
        dh_down(h, L, dh_index(L, item));
    else
        dh_up(h, L, dh_index(L, item));
}

/* Take item, which is in the heap, out of it. */
DH_INLINE void dh_remove(struct deadline_heap *h, const struct deadline_layout *L, void *item)
{
    size_t i = dh_index(L, item);
    void *last = h->v[--h->n];
    if (i == h->n)
        return;
    dh_set(h, L, i, last);
    dh_down(h, L, i);
    dh_up(h, L, dh_index(L, last));
}

/* The item due first, or NULL. */
static void *dh_first(const struct deadline_heap *h)
{
    return h->n > 0 ? h->v[0] : NULL;
}

/* ---- expiry ----------------------------------------------------------------------- */

/* Take e out of the expiry heap, if it is in it: it does not expire. */
static void unschedule(struct state *s, struct entry *e)
{
    if (e->expires_ms == 0)
        return;
    dh_remove(&s->expiry, &entry_expiry, e);
    e->expires_ms = 0;
}

/* Set e's deadline: its own TTL, else the default, counted from now. Returns -ENOMEM when
 * the heap cannot grow (the alert then does not expire; counted by the caller as nomem). */
static int schedule(struct state *s, struct entry *e, int64_t now_ms)
{
    int64_t ttl =
        (e->num_present >> ALERT_TTL & 1u) ? e->num[ALERT_TTL] : (int64_t)s->cfg.default_ttl_s;
    if (ttl <= 0) {
        unschedule(s, e);
        return 0;
    }
    int64_t when = now_ms + ttl * 1000;
    if (e->expires_ms != 0) {
        int64_t old = e->expires_ms;
        e->expires_ms = when;
        dh_moved(&s->expiry, &entry_expiry, e, when > old);
        return 0;
    }
    if (dh_reserve(&s->expiry, &entry_expiry) != 0)
        return -ENOMEM;
    e->expires_ms = when;
    dh_push(&s->expiry, &entry_expiry, e);
    return 0;
}

/* ---- acknowledgements ------------------------------------------------------------- */

static const struct change_ack *ack_of(const struct state *s, const struct entry *e)
{
    return e->ack != 0 ? &s->acks[e->ack]->pub : NULL;
}

/* Take e's acknowledgement away (none: nothing to do). */
static void ack_drop(struct state *s, struct entry *e)
{
    if (e->ack == 0)
        return;
    struct ack *a = s->acks[e->ack], *last = s->acks[s->n_acks];
    if (a->pub.expires_ms != 0)
        dh_remove(&s->ack_expiry, &ack_expiry, a);
    s->acks[e->ack] = last; /* the last one fills the hole (itself, when it is the last) */
    last->e->ack = e->ack;
    s->acks[s->n_acks--] = NULL;
    e->ack = 0;
    free(a);
}

/* Give e the acknowledgement in (copied; its severity fields as given), replacing the one it
 * had. Returns 0, or -ENOMEM with e's ack unchanged. */
static int ack_set(struct state *s, struct entry *e, const struct change_ack *in)
{
    size_t al = strlen(in->author), cl = strlen(in->comment);
    if (s->n_acks + 2 > s->acks_cap) {
        uint32_t cap = s->acks_cap ? s->acks_cap * 2 : 16;
        struct ack **v = realloc(s->acks, cap * sizeof(*v));
        if (v == NULL)
            return -ENOMEM;
        s->acks = v;
        s->acks_cap = cap;
    }
    if (in->expires_ms != 0 && dh_reserve(&s->ack_expiry, &ack_expiry) != 0)
        return -ENOMEM;
    struct ack *a = malloc(sizeof(*a) + al + cl + 2);
    if (a == NULL)
        return -ENOMEM;
    ack_drop(s, e);
    memcpy(a->text, in->author, al + 1);
    memcpy(a->text + al + 1, in->comment, cl + 1);
    a->pub = *in;
    a->pub.author = a->text;
    a->pub.comment = a->text + al + 1;
    a->e = e;
    s->acks[++s->n_acks] = a;
    e->ack = s->n_acks;
    if (a->pub.expires_ms != 0)
        dh_push(&s->ack_expiry, &ack_expiry, a);
    return 0;
}

/* Whether an alert now at severity (present or not) is worse than when ack was made: a
 * lower number. Without a severity on either side there is nothing to compare: not worse. */
static bool ack_worse(const struct change_ack *ack, const struct entry *e)
{
    return ack->has_severity && (e->num_present >> ALERT_SEVERITY & 1u) &&
           e->num[ALERT_SEVERITY] < ack->severity;
}

size_t state_ack_count(const struct state *s)
{
    return s->n_acks;
}

int64_t state_next_expiry(const struct state *s)
{
    const struct entry *e = dh_first(&s->expiry);
    const struct ack *a = dh_first(&s->ack_expiry);
    int64_t alert = e != NULL ? e->expires_ms : -1;
    int64_t ack = a != NULL ? a->pub.expires_ms : -1;
    return alert < 0 || (ack >= 0 && ack < alert) ? ack : alert;
}

void state_set_default_ttl(struct state *s, unsigned ttl_s)
{
    s->cfg.default_ttl_s = ttl_s;
}

void state_set_caps(struct state *s, size_t max_alerts, size_t max_hosts)
{
    s->cfg.max_alerts = max_alerts;
    s->cfg.max_hosts = max_hosts;
}

size_t state_count(const struct state *s)
{
    return HASH_COUNT(s->entries);
}

size_t state_host_count(const struct state *s)
{
    return HASH_COUNT(s->hosts);
}

uint64_t state_version(const struct state *s)
{
    return s->version;
}

void state_set_version(struct state *s, uint64_t v)
{
    if (v > s->version)
        s->version = v;
}

uint64_t state_epoch(const struct state *s)
{
    return s->epoch;
}

void state_set_epoch(struct state *s, uint64_t epoch)
{
    s->epoch = epoch;
}

bool state_begin_series(struct state *s, uint64_t (*random64)(void))
{
    if (s->epoch != 0)
        return false; /* a snapshot's series goes on */
    uint64_t e = 0;
    for (int tries = 0; e == 0 && tries < 8; tries++)
        e = random64();
    /* A source that keeps saying 0 still must not leave the series unnamed. */
    s->epoch = e != 0 ? e : (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ 1;
    return true;
}

uint64_t state_random64(void)
{
    uint64_t e = 0;
    if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e))
        e = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    return e;
}

/* "host\0component"; returns its length without a final NUL (one is written too). */
static size_t make_key(const struct alert *a, char *key)
{
    alert_copy_bytes(key, a->host, a->host_len);
    key[a->host_len] = '\0';
    alert_copy_bytes(key + a->host_len + 1, a->component, a->component_len);
    key[a->host_len + 1 + a->component_len] = '\0';
    return a->host_len + a->component_len + 1;
}

/* The alert an entry holds, as a struct alert pointing into the entry. */
static void entry_view(const struct entry *e, struct alert *a)
{
    a->action = ALERT_UPD;
    a->host = e->key;
    a->host_len = e->host_len;
    a->component = e->key + e->host_len + 1;
    a->component_len = e->component_len;
    uint32_t end = e->extra_off;
    for (int i = ALERT_TEXT_COUNT - 1; i >= 0; i--) {
        if (e->text_off[i] == TEXT_ABSENT) {
            a->text[i] = NULL;
            a->text_len[i] = 0;
        } else {
            a->text[i] = e->blob + e->text_off[i];
            a->text_len[i] = end - e->text_off[i] - 1;
            end = e->text_off[i];
        }
    }
    memcpy(a->num, e->num, sizeof(a->num));
    a->num_present = e->num_present;
    a->n_extra = e->n_extra;
    const char *p = e->blob + e->extra_off;
    for (uint16_t i = 0; i < e->n_extra; i++) {
        a->extra[i].name = p;
        p += strlen(p) + 1;
        a->extra[i].value = p;
        p += strlen(p) + 1;
    }
}

/* Seq numbers the datagram, not the alert: it never makes two alerts different. */
#define COMPARED_NUMS (~(1u << ALERT_SEQ))

/* Whether entry e already holds exactly the fields of a. */
static bool entry_matches(const struct entry *e, const struct alert *a)
{
    uint32_t present = a->num_present & COMPARED_NUMS;
    if ((e->num_present & COMPARED_NUMS) != present)
        return false;
    for (int i = 0; i < ALERT_NUM_COUNT; i++)
        if ((present >> i & 1u) && e->num[i] != a->num[i])
            return false;
    /* Backwards, so each present text's end is the start of the one after it. */
    uint32_t end = e->extra_off;
    for (int i = ALERT_TEXT_COUNT - 1; i >= 0; i--) {
        uint32_t off = e->text_off[i];
        if (a->text[i] == NULL) {
            if (off != TEXT_ABSENT)
                return false;
            continue;
        }
        if (off == TEXT_ABSENT || end - off - 1 != a->text_len[i] ||
            !alert_same_bytes(e->blob + off, a->text[i], a->text_len[i]))
            return false;
        end = off;
    }
    if (e->n_extra != a->n_extra)
        return false;
    const char *p = e->blob + e->extra_off;
    for (uint32_t i = 0; i < a->n_extra; i++) {
        if (strcmp(p, a->extra[i].name) != 0)
            return false;
        p += strlen(p) + 1;
        if (strcmp(p, a->extra[i].value) != 0)
            return false;
        p += strlen(p) + 1;
    }
    return true;
}

static size_t blob_size(const struct alert *a)
{
    size_t size = 0;
    for (int i = 0; i < ALERT_TEXT_COUNT; i++)
        if (a->text[i] != NULL)
            size += a->text_len[i] + 1;
    for (uint32_t i = 0; i < a->n_extra; i++)
        size += strlen(a->extra[i].name) + strlen(a->extra[i].value) + 2;
    return size;
}

/* Lay a's text fields and extras into blob (blob_size(a) bytes) and a's numbers into e. */
static void entry_fill(struct entry *e, const struct alert *a, char *blob)
{
    size_t at = 0;
    for (int i = 0; i < ALERT_TEXT_COUNT; i++) {
        if (a->text[i] == NULL) {
            e->text_off[i] = TEXT_ABSENT;
            continue;
        }
        e->text_off[i] = (uint32_t)at;
        memcpy(blob + at, a->text[i], a->text_len[i]);
        at += a->text_len[i];
        blob[at++] = '\0';
    }
    e->extra_off = (uint32_t)at;
    for (uint32_t i = 0; i < a->n_extra; i++) {
        size_t n = strlen(a->extra[i].name) + 1;
        memcpy(blob + at, a->extra[i].name, n);
        at += n;
        n = strlen(a->extra[i].value) + 1;
        memcpy(blob + at, a->extra[i].value, n);
        at += n;
    }
    e->blob = blob;
    e->n_extra = (uint16_t)a->n_extra;
    memcpy(e->num, a->num, sizeof(e->num));
    e->num_present = (uint16_t)a->num_present;
}

/* Replace e's fields (all but the key) by a's. In place when they fit the blob e has (no
 * allocation for an update of the same size or smaller); a that points into that blob
 * (aliased: Updonly's merged view) is laid out in the scratch buffer first. Returns 0 or
 * -ENOMEM (e unchanged). */
static int entry_store(struct state *s, struct entry *e, const struct alert *a, bool aliased)
{
    size_t size = blob_size(a);
    if (size <= e->blob_cap) {
        if (!aliased) {
            entry_fill(e, a, e->blob);
            return 0;
        }
        if (size > s->scratch_cap) {
            char *sc = realloc(s->scratch, size);
            if (sc == NULL)
                return -ENOMEM;
            s->scratch = sc;
            s->scratch_cap = size;
        }
        char *blob = e->blob;
        entry_fill(e, a, s->scratch);
        if (size > 0)
            memcpy(blob, s->scratch, size);
        e->blob = blob;
        return 0;
    }
    char *blob = malloc(size); /* size > blob_cap >= 0: never malloc(0) */
    if (blob == NULL)
        return -ENOMEM;
    char *old = e->blob;
    entry_fill(e, a, blob);
    e->blob_cap = (uint32_t)size;
    if (old != inline_blob(e))
        free(old);
    return 0;
}

/* The host named in a, made when new. NULL for lack of memory. */
static struct host *host_get(struct state *s, const struct alert *a)
{
    uint32_t hash = key_hash(a->host, a->host_len);
    struct host *h = host_find(s, a->host, a->host_len, hash);
    if (h != NULL)
        return h;
    if ((h = malloc(sizeof(*h) + a->host_len)) == NULL)
        return NULL;
    h->first = NULL;
    h->n = 0;
    h->len = (uint16_t)a->host_len;
    memcpy(h->name, a->host, a->host_len);
    oom_flag = false;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, s->hosts, h->name, h->len, hash, h);
    if (oom_flag) {
        free(h);
        return NULL;
    }
    return h;
}

static void host_drop(struct state *s, struct host *h)
{
    HASH_DELETE(hh, s->hosts, h);
    free(h);
}

static void host_unlink(struct state *s, struct entry *e)
{
    struct host *h = e->host;
    if (e->hprev != NULL)
        e->hprev->hnext = e->hnext;
    else
        h->first = e->hnext;
    if (e->hnext != NULL)
        e->hnext->hprev = e->hprev;
    if (--h->n == 0)
        host_drop(s, h);
}

static bool wants_increment(const struct alert *in)
{
    return alert_has_num(in, ALERT_INCREMENT) && in->num[ALERT_INCREMENT];
}

static int raise_alert(struct state *s, const struct alert *in, const char *key, size_t klen,
                       uint32_t hash, int64_t now_ms, struct state_result *out)
{
    if (s->cfg.max_alerts != 0 && HASH_COUNT(s->entries) >= s->cfg.max_alerts)
        return -ENOSPC;
    if (s->cfg.max_hosts != 0 && HASH_COUNT(s->hosts) >= s->cfg.max_hosts &&
        host_find(s, in->host, in->host_len, key_hash(in->host, in->host_len)) == NULL)
        return -ENOSPC;

    const struct alert *a = in;
    struct alert counted;
    if (wants_increment(in) && !alert_has_num(in, ALERT_COUNT)) {
        counted = *in;
        alert_set_num(&counted, ALERT_COUNT, 1);
        a = &counted;
    }
    size_t size = blob_size(a);
    struct entry *e = malloc(sizeof(*e) + klen + 1 + size);
    if (e == NULL)
        return -ENOMEM;
    struct host *h = host_get(s, in);
    if (h == NULL) {
        free(e);
        return -ENOMEM;
    }
    memcpy(e->key, key, klen + 1);
    e->sender = 0;
    e->ack = 0;
    e->host_len = (uint16_t)in->host_len;
    e->component_len = (uint16_t)in->component_len;
    e->blob_cap = (uint32_t)size;
    entry_fill(e, a, inline_blob(e));
    oom_flag = false;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, s->entries, e->key, klen, hash, e);
    if (oom_flag) {
        if (h->n == 0)
            host_drop(s, h);
        free(e);
        return -ENOMEM;
    }
    e->host = h;
    e->hprev = NULL;
    e->hnext = h->first;
    if (h->first != NULL)
        h->first->hprev = e;
    h->first = e;
    h->n++;

    e->first_seen_ms = e->last_seen_ms = now_ms;
    e->expires_ms = 0;
    schedule(s, e, now_ms);
    e->version = ++s->version;
    out->outcome = CHANGE_RAISE;
    out->version = e->version;
    entry_view(e, &out->alert);
    return 0;
}

/* Updonly: the active alert with the fields the datagram carries laid over it. */
static void merge(const struct entry *e, const struct alert *in, struct alert *m)
{
    entry_view(e, m);
    for (int i = 0; i < ALERT_TEXT_COUNT; i++) {
        if (in->text[i] != NULL) {
            m->text[i] = in->text[i];
            m->text_len[i] = in->text_len[i];
        }
    }
    for (int i = 0; i < ALERT_NUM_COUNT; i++)
        if (alert_has_num(in, (enum alert_num)i))
            alert_set_num(m, (enum alert_num)i, in->num[i]);
    for (uint32_t i = 0; i < in->n_extra; i++) {
        uint32_t k = 0;
        while (k < m->n_extra && strcmp(m->extra[k].name, in->extra[i].name) != 0)
            k++;
        if (k < m->n_extra)
            m->extra[k].value = in->extra[i].value;
        else if (m->n_extra < ALERT_EXTRA_MAX)
            m->extra[m->n_extra++] = in->extra[i];
    }
}

static int update_alert(struct state *s, struct entry *e, const struct alert *in, int64_t now_ms,
                        struct state_result *out)
{
    const struct alert *want = in;
    struct alert tmp;

    if (in->action == ALERT_UPDONLY) {
        merge(e, in, &tmp);
        want = &tmp;
    }
    /* A datagram with Increment=true adds its Count (1 when it has none) to the active
     * count; so an incrementing alert is never a duplicate. Saturates, never wraps. */
    if (wants_increment(in)) {
        int64_t add = alert_has_num(in, ALERT_COUNT) ? in->num[ALERT_COUNT] : 1;
        int64_t old = (e->num_present >> ALERT_COUNT & 1u) ? e->num[ALERT_COUNT] : 0;
        if (want != &tmp) {
            tmp = *in;
            want = &tmp;
        }
        alert_set_num(&tmp, ALERT_COUNT, old > INT64_MAX - add ? INT64_MAX : old + add);
    }

    e->last_seen_ms = now_ms;
    if (entry_matches(e, want)) {
        schedule(s, e, now_ms); /* a refresh: the TTL starts again */
        out->outcome = CHANGE_DUPLICATE;
        out->version = 0;
        return 0;
    }
    if (entry_store(s, e, want, in->action == ALERT_UPDONLY) != 0)
        return -ENOMEM;
    schedule(s, e, now_ms);
    /* Worse than when acknowledged: the ack goes, and this update's line shows none. */
    if (e->ack != 0 && ack_worse(&s->acks[e->ack]->pub, e))
        ack_drop(s, e);
    out->ack = ack_of(s, e);
    e->version = ++s->version;
    out->outcome = CHANGE_UPDATE;
    out->version = e->version;
    entry_view(e, &out->alert);
    return 0;
}

/* Take e out of the table; it stays readable (s->dead) until the next call. */
/* Take e out of every structure of the table (its key, its host, the expiry heap, its ack,
 * its sender); the caller frees it. */
static void entry_unlink(struct state *s, struct entry *e)
{
    HASH_DELETE(hh, s->entries, e);
    host_unlink(s, e);
    unschedule(s, e);
    ack_drop(s, e); /* gone with the alert, with no change of its own */
    sender_unref(s, e->sender);
    e->sender = 0;
}

static void remove_entry(struct state *s, struct entry *e, enum change_outcome outcome,
                         struct state_result *out)
{
    entry_unlink(s, e);
    s->dead = e;

    e->version = ++s->version;
    out->outcome = outcome;
    out->version = e->version;
    entry_view(e, &out->alert);
    out->alert.action = ALERT_DEL;
}

static void clear_alert(struct state *s, struct entry *e, const struct alert *in,
                        struct state_result *out)
{
    remove_entry(s, e, CHANGE_CLEAR, out);
    if (alert_has_num(in, ALERT_SEQ))
        alert_set_num(&out->alert, ALERT_SEQ, in->num[ALERT_SEQ]);
    else
        out->alert.num_present &= ~(1u << ALERT_SEQ);
}

/* A result's fields that only some outcomes set. */
static void result_reset(struct state_result *out)
{
    out->ack = NULL;
    out->unack = (struct change_unack){NULL, NULL};
}

/* Every call that gives a result starts here: the alert a clear or expiry removed in the
 * previous call (its result pointed into it until now) is freed, and *out emptied. */
static void begin_call(struct state *s, struct state_result *out)
{
    entry_free(s->dead);
    s->dead = NULL;
    result_reset(out);
}

/* An ack or unack happened to e: its next version, and the result. */
static void ack_changed(struct state *s, struct entry *e, enum change_outcome outcome,
                        struct state_result *out)
{
    e->version = ++s->version;
    out->outcome = outcome;
    out->version = e->version;
    out->ack = ack_of(s, e);
    entry_view(e, &out->alert);
}

/* e's ack is taken back (by author, NULL: by the table itself, for reason): the unack. */
static void take_back(struct state *s, struct entry *e, const char *author, const char *reason,
                      struct state_result *out)
{
    ack_drop(s, e);
    ack_changed(s, e, CHANGE_UNACK, out);
    out->unack.author = author;
    out->unack.reason = reason;
}

int state_expire(struct state *s, int64_t now_ms, struct state_result *out)
{
    begin_call(s, out);
    struct entry *first = dh_first(&s->expiry);
    struct ack *first_ack = dh_first(&s->ack_expiry);
    int64_t alert = first != NULL ? first->expires_ms : INT64_MAX;
    int64_t ack = first_ack != NULL ? first_ack->pub.expires_ms : INT64_MAX;
    if (ack <= now_ms && ack < alert) {
        /* The ack lapsed before the alert did: taken back by the table itself. (Due at the
         * same time as the alert, it goes with the alert, with no line of its own.) */
        take_back(s, first_ack->e, NULL, "expired", out);
        return 1;
    }
    if (alert > now_ms)
        return 0;
    remove_entry(s, first, CHANGE_EXPIRE, out);
    out->alert.num_present &= ~(1u << ALERT_SEQ); /* no datagram caused it */
    return 1;
}

/* After a raise or update that succeeded (rc 0): the alert was set by sender. A duplicate
 * changes nothing, so it keeps the sender of the change lines. Returns rc. */
static int set_sender(struct state *s, struct entry *e, const char *sender, int rc,
                      enum change_outcome outcome)
{
    if (rc != 0 || sender == NULL || e == NULL ||
        (outcome != CHANGE_RAISE && outcome != CHANGE_UPDATE))
        return rc;
    if (e->sender == 0 || strcmp(sender_text(s, e->sender), sender) != 0) {
        uint32_t id = sender_ref(s, sender);
        sender_unref(s, e->sender);
        e->sender = id;
    }
    return rc;
}

int state_apply(struct state *s, const struct alert *in, int64_t now_ms, struct state_result *out)
{
    return state_apply_from(s, in, NULL, now_ms, out);
}

int state_apply_from(struct state *s, const struct alert *in, const char *sender, int64_t now_ms,
                     struct state_result *out)
{
    char key[KEY_BUF];

    begin_call(s, out);

    size_t klen = make_key(in, key);
    uint32_t hash = key_hash(key, klen); /* once, for the lookup and a raise's insert */
    struct entry *e = entry_find(s, key, klen, hash);

    switch (in->action) {
    case ALERT_DEL:
        if (e == NULL) {
            out->outcome = CHANGE_REDUNDANT_CLEAR;
            out->version = 0;
            return 0;
        }
        clear_alert(s, e, in, out);
        return 0;
    case ALERT_UPDONLY:
        if (e == NULL) {
            out->outcome = CHANGE_UPDONLY_MISS;
            out->version = 0;
            return 0;
        }
        break;
    case ALERT_UPD:
    case ALERT_POST:
        if (e == NULL) {
            int rc = raise_alert(s, in, key, klen, hash, now_ms, out);
            if (rc == 0 && sender != NULL)
                e = entry_find(s, key, klen, hash);
            return rc != 0 ? rc : set_sender(s, e, sender, rc, out->outcome);
        }
        break;
    default:
        return -EINVAL;
    }
    /* Sequenced: the outcome is known only once the update is done. */
    int rc = update_alert(s, e, in, now_ms, out);
    return rc != 0 ? rc : set_sender(s, e, sender, rc, out->outcome);
}

/* Put back an ack read from a snapshot or the journal. One that does not say the severity it
 * was made at (a change line: the alert's severity is the line's) takes the alert's; one
 * made when the alert had none (a snapshot says so) keeps none. */
static int restore_ack(struct state *s, struct entry *e, const struct change_ack *ack)
{
    struct change_ack a = *ack;
    if (!a.has_severity && !a.no_severity && (e->num_present >> ALERT_SEVERITY & 1u)) {
        a.has_severity = true;
        a.severity = e->num[ALERT_SEVERITY];
    }
    return ack_set(s, e, &a);
}

int state_restore(struct state *s, const struct alert *a, const struct state_meta *meta)
{
    char key[KEY_BUF];
    struct state_result r;
    size_t klen = make_key(a, key);
    uint32_t hash = key_hash(key, klen);
    if (entry_find(s, key, klen, hash) != NULL)
        return -EEXIST;
    /* Insert as a raise would, then undo what a raise does to numbering. */
    uint64_t before = s->version;
    int rc = raise_alert(s, a, key, klen, hash, meta->last_seen_ms, &r);
    if (rc != 0)
        return rc;
    s->version = before > meta->version ? before : meta->version;
    struct entry *e = entry_find(s, key, klen, hash);
    if (meta->sender != NULL)
        e->sender = sender_ref(s, meta->sender);
    e->version = meta->version;
    e->first_seen_ms = meta->first_seen_ms;
    e->last_seen_ms = meta->last_seen_ms;
    if (meta->expires_ms != 0 && e->expires_ms != 0) {
        int64_t old = e->expires_ms;
        e->expires_ms = meta->expires_ms;
        dh_moved(&s->expiry, &entry_expiry, e, meta->expires_ms > old);
    }
    return meta->ack != NULL ? restore_ack(s, e, meta->ack) : 0;
}

size_t state_key(const char *host, size_t host_len, const char *component, size_t component_len,
                 char *key, uint32_t *hash)
{
    struct alert a = {.host = host,
                      .host_len = (uint32_t)host_len,
                      .component = component,
                      .component_len = (uint32_t)component_len};
    size_t klen = make_key(&a, key);
    *hash = key_hash(key, klen);
    return klen;
}

uint64_t state_generation(const struct state *s, const char *key, size_t klen, uint32_t hash)
{
    const struct entry *e = entry_find(s, key, klen, hash);
    return e != NULL ? e->version : 0;
}

int state_refresh(struct state *s, const char *key, size_t klen, uint32_t hash, int64_t now_ms)
{
    entry_free(s->dead);
    s->dead = NULL;
    struct entry *e = entry_find(s, key, klen, hash);
    if (e == NULL)
        return -ENOENT;
    /* Exactly what update_alert does for a duplicate. */
    e->last_seen_ms = now_ms;
    schedule(s, e, now_ms);
    return 0;
}

static int foreach_entry(const struct state *s, const struct entry *e, state_foreach_cb cb,
                         void *data)
{
    struct alert a;
    struct state_meta m = {e->version,    e->first_seen_ms,          e->last_seen_ms,
                           e->expires_ms, sender_text(s, e->sender), ack_of(s, e)};
    entry_view(e, &a);
    return cb(&a, &m, data);
}

int state_foreach(const struct state *s, const char *host, state_foreach_cb cb, void *data)
{
    int rc = 0;
    if (host != NULL) {
        size_t len = strlen(host);
        const struct host *h = host_find(s, host, len, key_hash(host, len));
        for (const struct entry *e = h != NULL ? h->first : NULL; e != NULL && rc == 0;
             e = e->hnext)
            rc = foreach_entry(s, e, cb, data);
        return rc;
    }
    for (const struct entry *e = s->entries; e != NULL && rc == 0; e = e->hh.next)
        rc = foreach_entry(s, e, cb, data);
    return rc;
}

/* The ack a replayed change line carries, onto e: none drops e's; the one e has already
 * (same time, author and comment: carried on by a later line) stays as it is, keeping the
 * severity it was made at. */
static int replay_ack(struct state *s, struct entry *e, const struct change_ack *ack)
{
    if (ack == NULL) {
        ack_drop(s, e);
        return 0;
    }
    const struct change_ack *had = ack_of(s, e);
    if (had != NULL && had->at_ms == ack->at_ms && strcmp(had->author, ack->author) == 0 &&
        strcmp(had->comment, ack->comment) == 0)
        return 0;
    return restore_ack(s, e, ack);
}

int state_replay(struct state *s, const struct alert *a, const char *sender,
                 enum change_outcome outcome, uint64_t version, int64_t received_ms,
                 const struct change_ack *ack)
{
    char key[KEY_BUF];
    size_t klen = make_key(a, key);
    struct entry *e = entry_find(s, key, klen, key_hash(key, klen));
    state_set_version(s, version);
    switch (outcome) {
    case CHANGE_RAISE:
    case CHANGE_UPDATE:
    case CHANGE_ACK:
    case CHANGE_UNACK:
        if (e == NULL) {
            struct state_meta m = {version, received_ms, received_ms, 0, sender, ack};
            return state_restore(s, a, &m);
        }
        if (outcome == CHANGE_ACK || outcome == CHANGE_UNACK) {
            /* The alert is as it was: only its ack changed (and an ack is no refresh). */
            e->version = version;
            return replay_ack(s, e, ack);
        }
        if (entry_store(s, e, a, false) != 0)
            return -ENOMEM;
        set_sender(s, e, sender, 0, CHANGE_UPDATE);
        if (outcome == CHANGE_RAISE)
            e->first_seen_ms = received_ms;
        e->last_seen_ms = received_ms;
        e->version = version;
        if (replay_ack(s, e, ack) != 0)
            return -ENOMEM;
        return schedule(s, e, received_ms);
    case CHANGE_CLEAR:
    case CHANGE_EXPIRE:
        if (e != NULL) {
            entry_unlink(s, e);
            entry_free(e);
        }
        return 0;
    default:
        return 0;
    }
}

/* The entry for (host, component) as NUL-terminated strings, or NULL. */
static struct entry *entry_by_name(const struct state *s, const char *host, const char *component)
{
    char key[KEY_BUF];
    uint32_t hash;
    size_t hl = strlen(host), cl = strlen(component);
    if (hl == 0 || cl == 0 || hl > ALERT_KEY_MAX || cl > ALERT_KEY_MAX)
        return NULL;
    size_t klen = state_key(host, hl, component, cl, key, &hash);
    return entry_find(s, key, klen, hash);
}

int state_ack(struct state *s, const char *host, const char *component,
              const struct change_ack *ack, struct state_result *out)
{
    begin_call(s, out);
    struct entry *e = entry_by_name(s, host, component);
    if (e == NULL)
        return -ENOENT;
    struct change_ack a = *ack;
    a.has_severity = (e->num_present >> ALERT_SEVERITY & 1u) != 0;
    a.no_severity = !a.has_severity;
    a.severity = a.has_severity ? e->num[ALERT_SEVERITY] : 0;
    int rc = ack_set(s, e, &a);
    if (rc != 0)
        return rc;
    ack_changed(s, e, CHANGE_ACK, out);
    return 0;
}

int state_unack(struct state *s, const char *host, const char *component, const char *author,
                struct state_result *out)
{
    begin_call(s, out);
    struct entry *e = entry_by_name(s, host, component);
    if (e == NULL)
        return -ENOENT;
    if (e->ack == 0)
        return -ENODATA;
    take_back(s, e, author, "taken back", out);
    return 0;
}

int state_lookup(const struct state *s, const char *host, const char *component,
                 state_foreach_cb cb, void *data)
{
    const struct entry *e = entry_by_name(s, host, component);
    return e != NULL ? foreach_entry(s, e, cb, data) : -ENOENT;
}
