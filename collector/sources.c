/* sources.c - per-sender table on uthash, keyed by (family, port, address). */
#include "collector/sources.h"

#include "collector/address.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "collector/hash.h"

#define KEY_LEN 20 /* family, port, 16 address bytes */

struct source {
    UT_hash_handle hh;
    unsigned char key[KEY_LEN];
    struct sockaddr_storage addr;
    uint64_t datagrams, alerts, seq_gaps, reordered, duplicates;
    int64_t last_seq;
    int64_t last_seen_ms;
};

struct sources {
    struct source *table;
    struct source *last; /* the last sender looked up: a burst comes from one address */
    size_t n, max;
    struct sources_totals totals;
};

int sources_new(size_t max, struct sources **out)
{
    struct sources *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return -ENOMEM;
    s->max = max ? max : 65536;
    *out = s;
    return 0;
}

void sources_free(struct sources *s)
{
    if (s == NULL)
        return;
    struct source *e, *tmp;
    HASH_ITER(hh, s->table, e, tmp)
    {
        HASH_DELETE(hh, s->table, e);
        free(e);
    }
    free(s);
}

static void make_key(const struct sockaddr *sa, unsigned char *key)
{
    memset(key, 0, KEY_LEN);
    memcpy(key, &sa->sa_family, 2);
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        memcpy(key + 2, &a->sin6_port, 2);
        memcpy(key + 4, &a->sin6_addr, 16);
    } else {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        memcpy(key + 2, &a->sin_port, 2);
        memcpy(key + 4, &a->sin_addr, 4);
    }
}

void *sources_datagram(struct sources *s, const struct sockaddr *from, int64_t now_ms)
{
    unsigned char key[KEY_LEN];
    struct source *e;
    if (from == NULL)
        return NULL;
    make_key(from, key);
    if (s->last != NULL && memcmp(s->last->key, key, KEY_LEN) == 0)
        e = s->last;
    else
        HASH_FIND(hh, s->table, key, KEY_LEN, e);
    if (e == NULL) {
        if (s->n >= s->max || (e = calloc(1, sizeof(*e))) == NULL) {
            s->totals.untracked++;
            return NULL;
        }
        memcpy(e->key, key, KEY_LEN);
        memcpy(&e->addr, from, address_len(from));
        e->last_seq = -1;
        oom_flag = false;
        HASH_ADD(hh, s->table, key, KEY_LEN, e);
        if (oom_flag) {
            free(e);
            s->totals.untracked++;
            return NULL;
        }
        s->n++;
    }
    e->datagrams++;
    e->last_seen_ms = now_ms;
    s->last = e; /* entries are freed only with the table */
    return e;
}

void sources_alert(struct sources *s, void *entry, int has_seq, int64_t seq)
{
    struct source *e = entry;
    if (e == NULL)
        return;
    e->alerts++;
    if (!has_seq)
        return;
    if (e->last_seq < 0 || seq == e->last_seq + 1) {
        e->last_seq = seq;
    } else if (seq > e->last_seq + 1) {
        uint64_t missing = (uint64_t)(seq - e->last_seq - 1);
        e->seq_gaps += missing;
        s->totals.seq_gaps += missing;
        e->last_seq = seq;
    } else if (seq == e->last_seq) {
        e->duplicates++;
        s->totals.duplicates++;
    } else {
        /* Late: it was counted as missing when the numbers jumped past it. */
        e->reordered++;
        s->totals.reordered++;
        if (e->seq_gaps > 0) {
            e->seq_gaps--;
            s->totals.seq_gaps--;
        }
    }
}

void sources_totals(const struct sources *s, struct sources_totals *out)
{
    *out = s->totals;
    out->tracked = s->n;
}

int sources_foreach(const struct sources *s, sources_cb cb, void *data)
{
    int rc = 0;
    for (const struct source *e = s->table; e != NULL && rc == 0; e = e->hh.next) {
        struct source_info info = {
            .addr = (const struct sockaddr *)&e->addr,
            .datagrams = e->datagrams,
            .alerts = e->alerts,
            .last_seq = e->last_seq,
            .seq_gaps = e->seq_gaps,
            .reordered = e->reordered,
            .duplicates = e->duplicates,
            .last_seen_ms = e->last_seen_ms,
        };
        rc = cb(&info, data);
    }
    return rc;
}
