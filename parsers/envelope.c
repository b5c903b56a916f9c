/* envelope.c - INJ1 signature header: parse, HMAC-SHA256 (OpenSSL EVP_MAC), keys. */
#include "parsers/envelope.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

bool envelope_present(const char *buf, size_t len)
{
    return len >= 5 && memcmp(buf, ENVELOPE_MAGIC, 5) == 0;
}

/* Copy the next space-terminated word of at most max bytes; advance *p. */
static int word(const char **p, const char *end, char *out, size_t max, char stop)
{
    size_t n = 0;
    while (*p < end && **p != stop) {
        if (n >= max || (unsigned char)**p <= ' ')
            return -EBADMSG;
        out[n++] = *(*p)++;
    }
    if (*p >= end || n == 0)
        return -EBADMSG;
    out[n] = '\0';
    (*p)++;
    return 0;
}

int envelope_parse(const char *buf, size_t len, struct envelope *out)
{
    const char *p = buf + 5, *end = buf + len;
    char t[24];
    if (!envelope_present(buf, len))
        return -EBADMSG;
    if (word(&p, end, out->keyid, ENVELOPE_ID_MAX, ' ') != 0 ||
        word(&p, end, t, sizeof(t) - 1, ' ') != 0 ||
        word(&p, end, out->nonce, ENVELOPE_NONCE_MAX, ' ') != 0 ||
        word(&p, end, out->mac, 64, '\n') != 0 || strlen(out->mac) != 64)
        return -EBADMSG;
    char *tend;
    errno = 0;
    long long v = strtoll(t, &tend, 10);
    if (errno != 0 || *tend != '\0' || v < 0)
        return -EBADMSG;
    out->time = v;
    out->body = p;
    out->body_len = (size_t)(end - p);
    return 0;
}

int envelope_mac(const struct envelope_key *key, const char *keyid, int64_t time, const char *nonce,
                 const char *body, size_t body_len, char hex[65])
{
    static const char digits[] = "0123456789abcdef";
    char head[160];
    unsigned char mac[32];
    size_t maclen = 0;
    int rc = -ENOMEM;
    int n = snprintf(head, sizeof(head), "%s %" PRId64 " %s\n", keyid, time, nonce);
    EVP_MAC *m = EVP_MAC_fetch(NULL, "HMAC", NULL);
    EVP_MAC_CTX *ctx = m ? EVP_MAC_CTX_new(m) : NULL;
    OSSL_PARAM params[] = {
        OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
        OSSL_PARAM_construct_end(),
    };
    if (ctx != NULL && EVP_MAC_init(ctx, key->key, key->len, params) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)head, (size_t)n) == 1 &&
        EVP_MAC_update(ctx, (const unsigned char *)body, body_len) == 1 &&
        EVP_MAC_final(ctx, mac, &maclen, sizeof(mac)) == 1 && maclen == sizeof(mac)) {
        for (size_t i = 0; i < 32; i++) {
            hex[2 * i] = digits[mac[i] >> 4];
            hex[2 * i + 1] = digits[mac[i] & 15];
        }
        hex[64] = '\0';
        rc = 0;
    }
    EVP_MAC_CTX_free(ctx);
    EVP_MAC_free(m);
    return rc;
}

bool envelope_verify(const struct envelope_key *key, const struct envelope *e)
{
    char want[65];
    if (envelope_mac(key, e->keyid, e->time, e->nonce, e->body, e->body_len, want) != 0)
        return false;
    return CRYPTO_memcmp(want, e->mac, 64) == 0;
}

int envelope_sign(const struct envelope_key *key, int64_t time, const char *nonce, const char *body,
                  size_t body_len, char *out, size_t size)
{
    char hex[65];
    if (envelope_mac(key, key->id, time, nonce, body, body_len, hex) != 0)
        return -ENOMEM;
    int n = snprintf(out, size, ENVELOPE_MAGIC "%s %" PRId64 " %s %s\n", key->id, time, nonce, hex);
    if (n < 0 || (size_t)n + body_len >= size)
        return -ENOSPC;
    memcpy(out + n, body, body_len);
    out[n + (int)body_len] = '\0';
    return n + (int)body_len;
}

static int unhex(char c)
{
    return isdigit((unsigned char)c)    ? c - '0'
           : isxdigit((unsigned char)c) ? (tolower(c) - 'a' + 10)
                                        : -1;
}

int envelope_load_keys(const char *path, struct envelope_key *keys, size_t max, char *err,
                       size_t errlen)
{
    FILE *f = fopen(path, "r");
    char line[512];
    int lineno = 0;
    size_t n = 0;
    if (f == NULL) {
        int e = errno;
        snprintf(err, errlen, "%s: %s", path, strerror(e));
        return -e;
    }
    while (fgets(line, sizeof(line), f) != NULL) {
        char id[64], hex[256];
        lineno++;
        char *hash = strchr(line, '#');
        if (hash != NULL)
            *hash = '\0';
        int k = sscanf(line, "%63s %255s", id, hex);
        if (k <= 0)
            continue;
        size_t hl = k == 2 ? strlen(hex) : 0;
        if (k != 2 || strlen(id) > ENVELOPE_ID_MAX || hl % 2 != 0 || hl < 32 ||
            hl > 2 * ENVELOPE_KEY_MAX || n >= max) {
            snprintf(err, errlen,
                     "%s:%d: want 'keyid hexkey' (id up to %d characters, key 16 "
                     "to %d bytes in hex), at most %zu keys",
                     path, lineno, ENVELOPE_ID_MAX, ENVELOPE_KEY_MAX, max);
            fclose(f);
            return -EINVAL;
        }
        struct envelope_key *key = &keys[n];
        memcpy(key->id, id, strlen(id) + 1); /* length checked above */
        key->len = hl / 2;
        for (size_t i = 0; i < key->len; i++) {
            int hi = unhex(hex[2 * i]), lo = unhex(hex[2 * i + 1]);
            if (hi < 0 || lo < 0) {
                snprintf(err, errlen, "%s:%d: the key is not hex", path, lineno);
                fclose(f);
                return -EINVAL;
            }
            key->key[i] = (unsigned char)(hi << 4 | lo);
        }
        n++;
    }
    fclose(f);
    if (n == 0) {
        snprintf(err, errlen, "%s: no keys", path);
        return -EINVAL;
    }
    return (int)n;
}
