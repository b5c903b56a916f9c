/* ratelimit.c - per-address token buckets on uthash, bounded, with an overflow bucket. */
#include "collector/ratelimit.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

#include "collector/hash.h"

#define KEY_LEN 18 /* family, 16 address bytes */

struct bucket {
    UT_hash_handle hh;
    unsigned char key[KEY_LEN];
    double tokens;
    int64_t last_ms;
};

struct ratelimit {
    double rate, burst;
    size_t max, n;
    struct bucket *table;
    struct bucket overflow;
};

int ratelimit_new(double rate, double burst, size_t max, struct ratelimit **out)
{
    struct ratelimit *r = calloc(1, sizeof(*r));
    if (r == NULL)
        return -ENOMEM;
    r->max = max ? max : 65536;
    ratelimit_set(r, rate, burst);
    r->overflow.tokens = r->burst;
    *out = r;
    return 0;
}

void ratelimit_free(struct ratelimit *r)
{
    if (r == NULL)
        return;
    struct bucket *b, *tmp;
    HASH_ITER(hh, r->table, b, tmp)
    {
        HASH_DELETE(hh, r->table, b);
        free(b);
    }
    free(r);
}

void ratelimit_set(struct ratelimit *r, double rate, double burst)
{
    r->rate = rate;
    r->burst = burst > 0 ? burst : rate;
}

static void make_key(const struct sockaddr *sa, unsigned char *key)
{
    memset(key, 0, KEY_LEN);
    memcpy(key, &sa->sa_family, 2);
    if (sa->sa_family == AF_INET6)
        memcpy(key + 2, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    else
        memcpy(key + 2, &((const struct sockaddr_in *)sa)->sin_addr, 4);
}

static struct bucket *find(struct ratelimit *r, const struct sockaddr *addr, int64_t now)
{
    unsigned char key[KEY_LEN];
    struct bucket *b;
    make_key(addr, key);
    HASH_FIND(hh, r->table, key, KEY_LEN, b);
    if (b != NULL)
        return b;
    if (r->n >= r->max || (b = calloc(1, sizeof(*b))) == NULL)
        return &r->overflow;
    memcpy(b->key, key, KEY_LEN);
    b->tokens = r->burst;
    b->last_ms = now;
    oom_flag = false;
    HASH_ADD(hh, r->table, key, KEY_LEN, b);
    if (oom_flag) {
        free(b);
        return &r->overflow;
    }
    r->n++;
    return b;
}

size_t ratelimit_take(struct ratelimit *r, const struct sockaddr *addr, size_t n, int64_t mono_ms)
{
    if (r->rate <= 0 || addr == NULL)
        return n;
    struct bucket *b = find(r, addr, mono_ms);
    if (mono_ms > b->last_ms) {
        b->tokens += (double)(mono_ms - b->last_ms) * r->rate / 1000.0;
        b->last_ms = mono_ms;
    }
    if (b->tokens > r->burst)
        b->tokens = r->burst;
    size_t pass = b->tokens >= (double)n ? n : (size_t)b->tokens;
    b->tokens -= (double)pass;
    return pass;
}
