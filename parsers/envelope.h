/* envelope.h - the optional signature around an alert datagram (parsers/FORMAT.md).
 *
 *   INJ1 <keyid> <unix-time> <nonce> <hex-mac>\n<the XML document, untouched>
 *
 * mac = HMAC-SHA256(key, "<keyid> <unix-time> <nonce>\n" + document), 64 lowercase hex
 * digits. Keys come from a key file, one "keyid hexkey" per line (several ids, so keys can
 * be rotated). This module parses, signs and checks the MAC; the freshness policy (time
 * skew, nonces already seen) is the collector's. No OpenSSL type leaves this module.
 */
#ifndef INJECTOR_ENVELOPE_H
#define INJECTOR_ENVELOPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ENVELOPE_MAGIC     "INJ1 "
#define ENVELOPE_ID_MAX    32
#define ENVELOPE_NONCE_MAX 64
#define ENVELOPE_KEY_MAX   64 /* bytes */

struct envelope {
    char keyid[ENVELOPE_ID_MAX + 1];
    int64_t time;
    char nonce[ENVELOPE_NONCE_MAX + 1];
    char mac[65];
    const char *body; /* points into the datagram */
    size_t body_len;
};

struct envelope_key {
    char id[ENVELOPE_ID_MAX + 1];
    unsigned char key[ENVELOPE_KEY_MAX];
    size_t len;
};

/* Whether the datagram starts with the envelope magic. */
bool envelope_present(const char *buf, size_t len);

/* Split a signed datagram. Returns 0, or -EBADMSG for a malformed header. */
int envelope_parse(const char *buf, size_t len, struct envelope *out);

/* The MAC (64 hex digits and a NUL in hex) of keyid/time/nonce/body under key. 0 or
 * -ENOMEM. */
int envelope_mac(const struct envelope_key *key, const char *keyid, int64_t time, const char *nonce,
                 const char *body, size_t body_len, char hex[65]);

/* Whether e's MAC is right for key (constant-time comparison). */
bool envelope_verify(const struct envelope_key *key, const struct envelope *e);

/* Write a signed datagram for body into out. Returns its length, or -ENOSPC / -ENOMEM. */
int envelope_sign(const struct envelope_key *key, int64_t time, const char *nonce, const char *body,
                  size_t body_len, char *out, size_t size);

/* Read a key file: "keyid hexkey" lines, # comments. Returns how many keys were read into
 * keys (at most max), or -EINVAL with file:line in err, or another negative errno. */
int envelope_load_keys(const char *path, struct envelope_key *keys, size_t max, char *err,
                       size_t errlen);

#endif
