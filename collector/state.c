/* state.c - active-alert table: uthash on "host\0component", plus a per-host list. */
#include "collector/state.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "collector/hash.h"

#define TEXT_ABSENT UINT32_MAX
#define KEY_BUF     (2 * (ALERT_KEY_MAX + 1))

struct host;

/* One active alert. Strings live in two places: the key (never changes) inline, the text
 * fields and extras in one blob that an update replaces whole. */
struct entry {
    UT_hash_handle hh;
    struct host *host;
    struct entry *hprev, *hnext; /* this host's alerts */
    char *blob;                  /* text fields, then extras as name\0value\0 pairs */
    uint64_t version;
    int64_t first_seen_ms, last_seen_ms;
    int64_t expires_ms; /* 0: never */
    size_t heap_idx;    /* position in the expiry heap while expires_ms != 0 */
    int64_t num[ALERT_NUM_COUNT];
    uint32_t num_present;
    uint32_t text_off[ALERT_TEXT_COUNT]; /* into blob, TEXT_ABSENT when absent */
    uint32_t extra_off;
    uint16_t n_extra;
    uint16_t host_len, component_len;
    char key[]; /* host \0 component \0 */
};

struct host {
    UT_hash_handle hh;
    struct entry *first;
    size_t n;
    char name[];
};

struct state {
    struct state_config cfg;
    struct entry *entries; /* uthash head */
    struct host *hosts;    /* uthash head */
    size_t n;
    uint64_t version;
    uint64_t epoch;
    /* Expiry: a binary min-heap of entries by expires_ms. */
    struct entry **heap;
    size_t heap_n, heap_cap;
    /* A cleared entry is handed back as the result's alert, so it is freed on the next
     * call rather than at once. */
    struct entry *dead;
};

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

/* A raise allocates the entry and its first blob together (one malloc on the raise
 * path); an update puts its blob in an allocation of its own. */
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
    free(s->heap);
    free(s);
}

/* ---- expiry heap ------------------------------------------------------------------ */

static void heap_set(struct state *s, size_t i, struct entry *e)
{
    s->heap[i] = e;
    e->heap_idx = i;
}

static void heap_up(struct state *s, size_t i)
{
    struct entry *e = s->heap[i];
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (s->heap[parent]->expires_ms <= e->expires_ms)
            break;
        heap_set(s, i, s->heap[parent]);
        i = parent;
    }
    heap_set(s, i, e);
}

static void heap_down(struct state *s, size_t i)
{
    struct entry *e = s->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, m = i;
        int64_t best = e->expires_ms;
        if (l < s->heap_n && s->heap[l]->expires_ms < best) {
            m = l;
            best = s->heap[l]->expires_ms;
        }
        if (r < s->heap_n && s->heap[r]->expires_ms < best)
            m = r;
        if (m == i)
            break;
        heap_set(s, i, s->heap[m]);
        i = m;
    }
    heap_set(s, i, e);
}

static void heap_remove(struct state *s, struct entry *e)
{
    if (e->expires_ms == 0)
        return;
    size_t i = e->heap_idx;
    struct entry *last = s->heap[--s->heap_n];
    e->expires_ms = 0;
    if (i == s->heap_n)
        return;
    heap_set(s, i, last);
    heap_down(s, i);
    heap_up(s, last->heap_idx);
}

/* Set e's deadline: its own TTL, else the default, counted from now. Returns -ENOMEM when
 * the heap cannot grow (the alert then does not expire; counted by the caller as nomem). */
static int schedule(struct state *s, struct entry *e, int64_t now_ms)
{
    int64_t ttl =
        (e->num_present >> ALERT_TTL & 1u) ? e->num[ALERT_TTL] : (int64_t)s->cfg.default_ttl_s;
    if (ttl <= 0) {
        heap_remove(s, e);
        return 0;
    }
    int64_t when = now_ms + ttl * 1000;
    if (e->expires_ms != 0) {
        int64_t old = e->expires_ms;
        e->expires_ms = when;
        if (when > old)
            heap_down(s, e->heap_idx);
        else
            heap_up(s, e->heap_idx);
        return 0;
    }
    if (s->heap_n == s->heap_cap) {
        size_t cap = s->heap_cap ? s->heap_cap * 2 : 1024;
        struct entry **h = realloc(s->heap, cap * sizeof(*h));
        if (h == NULL)
            return -ENOMEM;
        s->heap = h;
        s->heap_cap = cap;
    }
    e->expires_ms = when;
    heap_set(s, s->heap_n++, e);
    heap_up(s, e->heap_idx);
    return 0;
}

int64_t state_next_expiry(const struct state *s)
{
    return s->heap_n > 0 ? s->heap[0]->expires_ms : -1;
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
    return s->n;
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

static size_t make_key(const struct alert *a, char *key)
{
    memcpy(key, a->host, a->host_len);
    key[a->host_len] = '\0';
    memcpy(key + a->host_len + 1, a->component, a->component_len);
    key[a->host_len + 1 + a->component_len] = '\0';
    return a->host_len + a->component_len + 2;
}

/* The alert an entry holds, as a struct alert pointing into the entry. */
static void entry_view(const struct entry *e, struct alert *a)
{
    a->action = ALERT_UPD;
    a->host = e->key;
    a->host_len = e->host_len;
    a->component = e->key + e->host_len + 1;
    a->component_len = e->component_len;
    for (int i = 0; i < ALERT_TEXT_COUNT; i++) {
        if (e->text_off[i] == TEXT_ABSENT) {
            a->text[i] = NULL;
            a->text_len[i] = 0;
        } else {
            a->text[i] = e->blob + e->text_off[i];
            a->text_len[i] = (uint32_t)strlen(a->text[i]);
        }
    }
    memcpy(a->num, e->num, sizeof(a->num));
    a->num_present = e->num_present;
    a->n_extra = e->n_extra;
    const char *p = e->blob != NULL ? e->blob + e->extra_off : NULL;
    for (uint16_t i = 0; i < e->n_extra; i++) {
        a->extra[i].name = p;
        p += strlen(p) + 1;
        a->extra[i].value = p;
        p += strlen(p) + 1;
    }
}

/* Seq numbers the datagram, not the alert: it never makes two alerts different. */
#define COMPARED_NUMS (~(1u << ALERT_SEQ))

static bool same_str(const char *a, const char *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a, b) == 0;
}

/* Whether entry e already holds exactly the fields of a. */
static bool entry_matches(const struct entry *e, const struct alert *a)
{
    if ((e->num_present & COMPARED_NUMS) != (a->num_present & COMPARED_NUMS))
        return false;
    for (int i = 0; i < ALERT_NUM_COUNT; i++)
        if (((COMPARED_NUMS & a->num_present) >> i & 1u) && e->num[i] != a->num[i])
            return false;
    for (int i = 0; i < ALERT_TEXT_COUNT; i++) {
        const char *t = e->text_off[i] == TEXT_ABSENT ? NULL : e->blob + e->text_off[i];
        if (!same_str(t, a->text[i]))
            return false;
    }
    if (e->n_extra != a->n_extra)
        return false;
    const char *p = e->blob != NULL ? e->blob + e->extra_off : NULL;
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
    e->num_present = a->num_present;
}

/* Replace e's fields (all but the key) by a's, in a new blob: a may point into the old one
 * (Updonly's merged view). Returns 0 or -ENOMEM (e unchanged). */
static int entry_store(struct entry *e, const struct alert *a)
{
    size_t size = blob_size(a);
    char *blob = malloc(size ? size : 1);
    if (blob == NULL)
        return -ENOMEM;
    char *old = e->blob;
    entry_fill(e, a, blob);
    if (old != inline_blob(e))
        free(old);
    return 0;
}

static struct host *host_get(struct state *s, const char *name, size_t len)
{
    struct host *h;
    HASH_FIND(hh, s->hosts, name, len, h);
    if (h != NULL)
        return h;
    h = calloc(1, sizeof(*h) + len + 1);
    if (h == NULL)
        return NULL;
    memcpy(h->name, name, len);
    oom_flag = false;
    HASH_ADD_KEYPTR(hh, s->hosts, h->name, len, h);
    if (oom_flag) {
        free(h);
        return NULL;
    }
    return h;
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
    if (--h->n == 0) {
        HASH_DELETE(hh, s->hosts, h);
        free(h);
    }
}

static bool wants_increment(const struct alert *in)
{
    return alert_has_num(in, ALERT_INCREMENT) && in->num[ALERT_INCREMENT];
}

static int raise_alert(struct state *s, const struct alert *in, const char *key, size_t klen,
                       unsigned hv, int64_t now_ms, struct state_result *out)
{
    if (s->cfg.max_alerts != 0 && s->n >= s->cfg.max_alerts)
        return -ENOSPC;
    if (s->cfg.max_hosts != 0 && HASH_COUNT(s->hosts) >= s->cfg.max_hosts) {
        struct host *known;
        HASH_FIND(hh, s->hosts, in->host, in->host_len, known);
        if (known == NULL)
            return -ENOSPC;
    }

    const struct alert *a = in;
    struct alert counted;
    if (wants_increment(in) && !alert_has_num(in, ALERT_COUNT)) {
        counted = *in;
        alert_set_num(&counted, ALERT_COUNT, 1);
        a = &counted;
    }
    struct entry *e = malloc(sizeof(*e) + klen + blob_size(a));
    if (e == NULL)
        return -ENOMEM;
    memset(e, 0, sizeof(*e));
    memcpy(e->key, key, klen);
    e->host_len = (uint16_t)in->host_len;
    e->component_len = (uint16_t)in->component_len;
    entry_fill(e, a, inline_blob(e));
    struct host *h = host_get(s, in->host, in->host_len);
    if (h == NULL)
        goto fail;
    oom_flag = false;
    HASH_ADD_KEYPTR_BYHASHVALUE(hh, s->entries, e->key, klen - 1, hv, e);
    if (oom_flag) {
        if (h->n == 0) {
            HASH_DELETE(hh, s->hosts, h);
            free(h);
        }
        goto fail;
    }
    e->host = h;
    e->hnext = h->first;
    if (h->first != NULL)
        h->first->hprev = e;
    h->first = e;
    h->n++;
    s->n++;

    e->first_seen_ms = e->last_seen_ms = now_ms;
    schedule(s, e, now_ms);
    e->version = ++s->version;
    out->outcome = CHANGE_RAISE;
    out->version = e->version;
    entry_view(e, &out->alert);
    return 0;
fail:
    entry_free(e);
    return -ENOMEM;
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
    if (entry_store(e, want) != 0)
        return -ENOMEM;
    schedule(s, e, now_ms);
    e->version = ++s->version;
    out->outcome = CHANGE_UPDATE;
    out->version = e->version;
    entry_view(e, &out->alert);
    return 0;
}

/* Take e out of the table; it stays readable (s->dead) until the next call. */
static void remove_entry(struct state *s, struct entry *e, enum change_outcome outcome,
                         struct state_result *out)
{
    HASH_DELETE(hh, s->entries, e);
    host_unlink(s, e);
    heap_remove(s, e);
    s->n--;
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

int state_expire(struct state *s, int64_t now_ms, struct state_result *out)
{
    entry_free(s->dead);
    s->dead = NULL;
    if (s->heap_n == 0 || s->heap[0]->expires_ms > now_ms)
        return 0;
    remove_entry(s, s->heap[0], CHANGE_EXPIRE, out);
    out->alert.num_present &= ~(1u << ALERT_SEQ); /* no datagram caused it */
    return 1;
}

int state_apply(struct state *s, const struct alert *in, int64_t now_ms, struct state_result *out)
{
    char key[KEY_BUF];
    struct entry *e;

    entry_free(s->dead);
    s->dead = NULL;

    size_t klen = make_key(in, key);
    unsigned hv;
    HASH_VALUE(key, klen - 1, hv); /* once, for the lookup and a raise's insert */
    HASH_FIND_BYHASHVALUE(hh, s->entries, key, klen - 1, hv, e);

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
        return update_alert(s, e, in, now_ms, out);
    case ALERT_UPD:
    case ALERT_POST:
        if (e == NULL)
            return raise_alert(s, in, key, klen, hv, now_ms, out);
        return update_alert(s, e, in, now_ms, out);
    }
    return -EINVAL;
}

int state_restore(struct state *s, const struct alert *a, const struct state_meta *meta)
{
    char key[KEY_BUF];
    struct entry *e;
    struct state_result r;
    size_t klen = make_key(a, key);
    unsigned hv;
    HASH_VALUE(key, klen - 1, hv);
    HASH_FIND_BYHASHVALUE(hh, s->entries, key, klen - 1, hv, e);
    if (e != NULL)
        return -EEXIST;
    /* Insert as a raise would, then undo what a raise does to numbering. */
    uint64_t before = s->version;
    int rc = raise_alert(s, a, key, klen, hv, meta->last_seen_ms, &r);
    if (rc != 0)
        return rc;
    s->version = before > meta->version ? before : meta->version;
    HASH_FIND_BYHASHVALUE(hh, s->entries, key, klen - 1, hv, e);
    e->version = meta->version;
    e->first_seen_ms = meta->first_seen_ms;
    e->last_seen_ms = meta->last_seen_ms;
    if (meta->expires_ms != 0 && e->expires_ms != 0) {
        int64_t old = e->expires_ms;
        e->expires_ms = meta->expires_ms;
        if (meta->expires_ms > old)
            heap_down(s, e->heap_idx);
        else
            heap_up(s, e->heap_idx);
    }
    return 0;
}

static int foreach_entry(const struct entry *e, state_foreach_cb cb, void *data)
{
    struct alert a;
    struct state_meta m = {e->version, e->first_seen_ms, e->last_seen_ms, e->expires_ms};
    entry_view(e, &a);
    return cb(&a, &m, data);
}

int state_foreach(const struct state *s, const char *host, state_foreach_cb cb, void *data)
{
    int rc = 0;
    if (host != NULL) {
        struct host *h;
        HASH_FIND(hh, s->hosts, host, strlen(host), h);
        for (const struct entry *e = h != NULL ? h->first : NULL; e != NULL && rc == 0;
             e = e->hnext)
            rc = foreach_entry(e, cb, data);
        return rc;
    }
    for (const struct entry *e = s->entries; e != NULL && rc == 0; e = e->hh.next)
        rc = foreach_entry(e, cb, data);
    return rc;
}

int state_replay(struct state *s, const struct alert *a, enum change_outcome outcome,
                 uint64_t version, int64_t received_ms)
{
    char key[KEY_BUF];
    struct entry *e;
    size_t klen = make_key(a, key);
    unsigned hv;
    HASH_VALUE(key, klen - 1, hv);
    HASH_FIND_BYHASHVALUE(hh, s->entries, key, klen - 1, hv, e);
    state_set_version(s, version);
    switch (outcome) {
    case CHANGE_RAISE:
    case CHANGE_UPDATE:
        if (e == NULL) {
            struct state_meta m = {version, received_ms, received_ms, 0};
            return state_restore(s, a, &m);
        }
        if (entry_store(e, a) != 0)
            return -ENOMEM;
        if (outcome == CHANGE_RAISE)
            e->first_seen_ms = received_ms;
        e->last_seen_ms = received_ms;
        e->version = version;
        return schedule(s, e, received_ms);
    case CHANGE_CLEAR:
    case CHANGE_EXPIRE:
        if (e != NULL) {
            HASH_DELETE(hh, s->entries, e);
            host_unlink(s, e);
            heap_remove(s, e);
            s->n--;
            entry_free(e);
        }
        return 0;
    default:
        return 0;
    }
}
