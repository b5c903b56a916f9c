/* auth.h - which signed datagrams to believe: known key, right MAC, fresh, not replayed.
 *
 * The envelope (parsers/envelope.h) says who signed what; this module holds the keys and
 * the freshness policy: the signing time within +-skew of ours, and a nonce not seen
 * before within that window (a bounded cache of recent nonces: past its size the oldest
 * are forgotten, which the skew bounds: a datagram older than the window is stale
 * anyway). Unsigned datagrams pass unless signatures are required. Loop thread only.
 */
#ifndef INJECTOR_AUTH_H
#define INJECTOR_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum auth_reason {
    AUTH_ACCEPT,      /* signed and good, or unsigned where that is allowed */
    AUTH_UNSIGNED,    /* unsigned, and signatures are required */
    AUTH_BAD_HEADER,  /* an INJ1 header that does not parse */
    AUTH_UNKNOWN_KEY, /* a key id not in the key file */
    AUTH_BAD_MAC,     /* the MAC does not match */
    AUTH_STALE,       /* signed too long ago, or in the future, past the skew */
    AUTH_REPLAY,      /* this key id and nonce were seen already */
    AUTH_REASON_COUNT
};

const char *auth_reason_name(enum auth_reason r);

struct auth_config {
    const char *key_file; /* "keyid hexkey" lines */
    bool required;        /* refuse unsigned datagrams */
    unsigned skew_s;      /* accepted clock difference; 0: 60 */
    size_t nonce_cache;   /* nonces remembered; 0: 262144 */
};

struct auth;

/* Returns 0 and *out, or a negative errno with err ("file:line: ..."). */
int auth_new(const struct auth_config *cfg, struct auth **out, char *err, size_t errlen);
void auth_free(struct auth *a);

/* Read the key file again and change the policy (SIGHUP); the nonce cache is kept, so a
 * reload opens no replay window. On error the old keys stay. */
int auth_reload(struct auth *a, const struct auth_config *cfg, char *err, size_t errlen);

/* Check a datagram received at now_s (unix time); must_sign requires a signature even where
 * they are not required in general (an allow-list block marked +signed). On AUTH_ACCEPT,
 * *body and *body_len give the document to parse (past the header, or the whole datagram
 * when unsigned). */
enum auth_reason auth_check(struct auth *a, const char *buf, size_t len, int64_t now_s,
                            bool must_sign, const char **body, size_t *body_len);

#endif
