/* auth.c - keys, skew window and a bounded replay cache for signed datagrams. */
#include "collector/auth.h"

#include "parsers/envelope.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collector/hash.h"

#define MAX_KEYS 16

struct seen {
    UT_hash_handle hh;
    char key[ENVELOPE_ID_MAX + ENVELOPE_NONCE_MAX + 2]; /* keyid \x1f nonce */
};

struct auth {
    struct envelope_key keys[MAX_KEYS];
    size_t n_keys;
    bool required;
    int64_t skew;
    struct seen *table; /* uthash on key */
    struct seen **ring; /* insertion order, for forgetting the oldest */
    size_t cap, head, n;
};

static const char *const names[AUTH_REASON_COUNT] = {
    [AUTH_ACCEPT] = "ok",
    [AUTH_UNSIGNED] = "unsigned",
    [AUTH_BAD_HEADER] = "bad_header",
    [AUTH_UNKNOWN_KEY] = "unknown_key",
    [AUTH_BAD_MAC] = "bad_mac",
    [AUTH_STALE] = "stale",
    [AUTH_REPLAY] = "replay",
};

const char *auth_reason_name(enum auth_reason r)
{
    return (unsigned)r < AUTH_REASON_COUNT ? names[r] : "?";
}

int auth_reload(struct auth *a, const struct auth_config *cfg, char *err, size_t errlen)
{
    struct envelope_key keys[MAX_KEYS];
    int n = envelope_load_keys(cfg->key_file, keys, MAX_KEYS, err, errlen);
    if (n < 0)
        return n;
    memcpy(a->keys, keys, sizeof(keys));
    a->n_keys = (size_t)n;
    a->required = cfg->required;
    a->skew = cfg->skew_s ? cfg->skew_s : 60;
    memset(keys, 0, sizeof(keys));
    return 0;
}

int auth_new(const struct auth_config *cfg, struct auth **out, char *err, size_t errlen)
{
    struct auth *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    a->cap = cfg->nonce_cache ? cfg->nonce_cache : 262144;
    if ((a->ring = calloc(a->cap, sizeof(*a->ring))) == NULL) {
        free(a);
        return -ENOMEM;
    }
    int rc = auth_reload(a, cfg, err, errlen);
    if (rc != 0) {
        auth_free(a);
        return rc;
    }
    *out = a;
    return 0;
}

void auth_free(struct auth *a)
{
    if (a == NULL)
        return;
    struct seen *s, *tmp;
    HASH_ITER(hh, a->table, s, tmp)
    {
        HASH_DELETE(hh, a->table, s);
        free(s);
    }
    memset(a->keys, 0, sizeof(a->keys));
    free(a->ring);
    free(a);
}

/* Remember a nonce; the oldest goes when the cache is full. Returns false when it was
 * seen already. */
static bool remember(struct auth *a, const struct envelope *e)
{
    char key[sizeof(((struct seen *)0)->key)];
    int n = snprintf(key, sizeof(key), "%s\x1f%s", e->keyid, e->nonce);
    struct seen *s;
    HASH_FIND(hh, a->table, key, (size_t)n, s);
    if (s != NULL)
        return false;
    if (a->n == a->cap) {
        struct seen *old = a->ring[a->head];
        HASH_DELETE(hh, a->table, old);
        free(old);
        a->n--;
        a->head = (a->head + 1) % a->cap;
    }
    if ((s = calloc(1, sizeof(*s))) == NULL)
        return true; /* cannot remember it: accept rather than refuse a good alert */
    memcpy(s->key, key, (size_t)n + 1);
    oom_flag = false;
    HASH_ADD(hh, a->table, key, (size_t)n, s);
    if (oom_flag) {
        free(s);
        return true;
    }
    a->ring[(a->head + a->n) % a->cap] = s;
    a->n++;
    return true;
}

enum auth_reason auth_check(struct auth *a, const char *buf, size_t len, int64_t now_s,
                            bool must_sign, const char **body, size_t *body_len)
{
    struct envelope e;
    if (!envelope_present(buf, len)) {
        if (a->required || must_sign)
            return AUTH_UNSIGNED;
        *body = buf;
        *body_len = len;
        return AUTH_ACCEPT;
    }
    if (envelope_parse(buf, len, &e) != 0)
        return AUTH_BAD_HEADER;
    const struct envelope_key *key = NULL;
    for (size_t i = 0; i < a->n_keys && key == NULL; i++)
        if (strcmp(a->keys[i].id, e.keyid) == 0)
            key = &a->keys[i];
    if (key == NULL)
        return AUTH_UNKNOWN_KEY;
    if (!envelope_verify(key, &e))
        return AUTH_BAD_MAC;
    /* Only a datagram that is authentic gets to spend a place in the cache. */
    if (e.time < now_s - a->skew || e.time > now_s + a->skew)
        return AUTH_STALE;
    if (!remember(a, &e))
        return AUTH_REPLAY;
    *body = e.body;
    *body_len = e.body_len;
    return AUTH_ACCEPT;
}
