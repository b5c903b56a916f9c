/* test_auth.c - which signed datagrams the collector believes: keys, MAC, clock skew, the
 * replay window and its bounded cache, key rotation on reload. Pins today's behaviour
 * through auth.h (datagrams are signed with parsers/envelope.h, as injector-send does). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/auth.h"
#include "parsers/envelope.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define NOW 1795676400

static const char *DOC = "<Alert><Action>Upd</Action><ProblemHost>web12</ProblemHost>"
                         "<Component>disk</Component></Alert>";
static const char *HEX_OLD = "00112233445566778899aabbccddeeff";
static const char *HEX_NEW = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct fixture {
    char path[64];
    char err[256];
};

static int setup(void **st)
{
    static struct fixture f;
    snprintf(f.path, sizeof(f.path), "/tmp/injector-test-auth-%d", (int)getpid());
    f.err[0] = '\0';
    *st = &f;
    return 0;
}

static int teardown(void **st)
{
    struct fixture *f = *st;
    unlink(f->path);
    return 0;
}

static void write_keys(const struct fixture *f, const char *text)
{
    FILE *fp = fopen(f->path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

static struct envelope_key key_of(const char *id, const char *hex)
{
    struct envelope_key k;
    memset(&k, 0, sizeof(k));
    snprintf(k.id, sizeof(k.id), "%s", id);
    k.len = strlen(hex) / 2;
    for (size_t i = 0; i < k.len; i++) {
        unsigned v;
        sscanf(hex + 2 * i, "%2x", &v);
        k.key[i] = (unsigned char)v;
    }
    return k;
}

/* A signed datagram of DOC under key id/hex at time t with nonce; its length. */
static size_t sign(char *out, size_t size, const char *id, const char *hex, int64_t t,
                   const char *nonce)
{
    struct envelope_key k = key_of(id, hex);
    int n = envelope_sign(&k, t, nonce, DOC, strlen(DOC), out, size);
    assert_true(n > 0);
    return (size_t)n;
}

static enum auth_reason check(struct auth *a, const char *buf, size_t len, int64_t now,
                              bool must_sign)
{
    const char *body = NULL;
    size_t body_len = 0;
    enum auth_reason r = auth_check(a, buf, len, now, must_sign, &body, &body_len);
    if (r == AUTH_ACCEPT) {
        assert_non_null(body);
        assert_int_equal(body_len, strlen(DOC));
        assert_memory_equal(body, DOC, body_len);
    }
    return r;
}

static struct auth *make(struct fixture *f, const struct auth_config *cfg)
{
    struct auth *a = NULL;
    assert_int_equal(auth_new(cfg, &a, f->err, sizeof(f->err)), 0);
    assert_non_null(a);
    return a;
}

static void test_auth_good_signature_gives_the_document(void **st)
{
    struct fixture *f = *st;
    char buf[1024];
    write_keys(f, "old 00112233445566778899aabbccddeeff\n");
    struct auth_config cfg = {.key_file = f->path};
    struct auth *a = make(f, &cfg);
    size_t n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "n1");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    /* Required or must_sign change nothing for a good signed datagram. */
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "n2");
    assert_int_equal(check(a, buf, n, NOW, true), AUTH_ACCEPT);
    auth_free(a);
}

static void test_auth_unsigned_passes_unless_required(void **st)
{
    struct fixture *f = *st;
    write_keys(f, "old 00112233445566778899aabbccddeeff\n");
    struct auth_config cfg = {.key_file = f->path};
    struct auth *a = make(f, &cfg);
    /* Unsigned: the whole datagram is the document. */
    assert_int_equal(check(a, DOC, strlen(DOC), NOW, false), AUTH_ACCEPT);
    /* The same unsigned datagram twice: there is no nonce, so no replay check. */
    assert_int_equal(check(a, DOC, strlen(DOC), NOW, false), AUTH_ACCEPT);
    /* A +signed allow-list block asks for a signature from this sender. */
    assert_int_equal(check(a, DOC, strlen(DOC), NOW, true), AUTH_UNSIGNED);
    auth_free(a);

    cfg.required = true;
    a = make(f, &cfg);
    assert_int_equal(check(a, DOC, strlen(DOC), NOW, false), AUTH_UNSIGNED);
    assert_int_equal(check(a, DOC, strlen(DOC), NOW, true), AUTH_UNSIGNED);
    auth_free(a);
}

static void test_auth_bad_mac_unknown_key_bad_header(void **st)
{
    struct fixture *f = *st;
    char buf[1024];
    write_keys(f, "old 00112233445566778899aabbccddeeff\n");
    struct auth_config cfg = {.key_file = f->path};
    struct auth *a = make(f, &cfg);

    /* The body changed in transit. */
    size_t n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "n1");
    buf[n - 3] ^= 1;
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_BAD_MAC);
    /* A forgery did not spend the nonce: the real datagram still passes. */
    buf[n - 3] ^= 1;
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);

    /* The right key id with the wrong key. */
    n = sign(buf, sizeof(buf), "old", HEX_NEW, NOW, "n2");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_BAD_MAC);

    n = sign(buf, sizeof(buf), "stranger", HEX_OLD, NOW, "n3");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_UNKNOWN_KEY);

    const char *bad = "INJ1 old 1795676400 n4\n<Alert/>"; /* no MAC */
    assert_int_equal(check(a, bad, strlen(bad), NOW, false), AUTH_BAD_HEADER);
    auth_free(a);
}

static void test_auth_clock_skew_default_and_configured(void **st)
{
    struct fixture *f = *st;
    char buf[1024];
    write_keys(f, "old 00112233445566778899aabbccddeeff\n");
    struct auth_config cfg = {.key_file = f->path}; /* skew 0: 60 s */
    struct auth *a = make(f, &cfg);
    size_t n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW - 60, "a");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW + 60, "b");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW - 61, "c");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_STALE);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW + 61, "d");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_STALE);
    /* A stale datagram did not spend its nonce either. */
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "c");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    auth_free(a);

    cfg.skew_s = 5;
    a = make(f, &cfg);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW - 5, "e");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW - 6, "f");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_STALE);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW + 6, "g");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_STALE);
    auth_free(a);
}

static void test_auth_replay_is_refused(void **st)
{
    struct fixture *f = *st;
    char buf[1024];
    write_keys(f, "old 00112233445566778899aabbccddeeff\n"
                  "new 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
    struct auth_config cfg = {.key_file = f->path};
    struct auth *a = make(f, &cfg);
    size_t n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "once");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_REPLAY);
    assert_int_equal(check(a, buf, n, NOW + 30, false), AUTH_REPLAY);
    /* The same nonce signed again at another time is still a replay of (key id, nonce). */
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW + 1, "once");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_REPLAY);
    /* Nonces are per key id. */
    n = sign(buf, sizeof(buf), "new", HEX_NEW, NOW, "once");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    auth_free(a);
}

static void test_auth_nonce_cache_forgets_the_oldest(void **st)
{
    struct fixture *f = *st;
    char buf[1024];
    write_keys(f, "old 00112233445566778899aabbccddeeff\n");
    struct auth_config cfg = {.key_file = f->path, .nonce_cache = 3};
    struct auth *a = make(f, &cfg);
    const char *nonces[] = {"n1", "n2", "n3", "n4"};
    for (int i = 0; i < 4; i++) {
        size_t n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, nonces[i]);
        assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    }
    /* The cache holds n2..n4: n1 was forgotten (the skew bounds how long that matters). */
    size_t n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "n4");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_REPLAY);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "n2");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_REPLAY);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "n1");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    /* Taking n1 back in pushed n2 out. */
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "n2");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "n3");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    auth_free(a);
}

static void test_auth_key_rotation_on_reload(void **st)
{
    struct fixture *f = *st;
    char buf[1024], old1[1024];
    write_keys(f, "old 00112233445566778899aabbccddeeff\n");
    struct auth_config cfg = {.key_file = f->path};
    struct auth *a = make(f, &cfg);
    size_t n_old1 = sign(old1, sizeof(old1), "old", HEX_OLD, NOW, "o1");
    assert_int_equal(check(a, old1, n_old1, NOW, false), AUTH_ACCEPT);
    size_t n = sign(buf, sizeof(buf), "new", HEX_NEW, NOW, "x1");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_UNKNOWN_KEY);

    /* Step 1: both keys, while senders move over. */
    write_keys(f, "old 00112233445566778899aabbccddeeff\n"
                  "new 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
    assert_int_equal(auth_reload(a, &cfg, f->err, sizeof(f->err)), 0);
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "o2");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    /* The nonce cache survived the reload: no replay window opened. */
    assert_int_equal(check(a, old1, n_old1, NOW, false), AUTH_REPLAY);

    /* Step 2: the old key retired. */
    write_keys(f, "new 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\n");
    assert_int_equal(auth_reload(a, &cfg, f->err, sizeof(f->err)), 0);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "o3");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_UNKNOWN_KEY);
    n = sign(buf, sizeof(buf), "new", HEX_NEW, NOW, "x2");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);

    /* A key changed under the same id: datagrams under the old secret are bad MACs. */
    write_keys(f, "new 00112233445566778899aabbccddeeff\n");
    assert_int_equal(auth_reload(a, &cfg, f->err, sizeof(f->err)), 0);
    n = sign(buf, sizeof(buf), "new", HEX_NEW, NOW, "x3");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_BAD_MAC);
    auth_free(a);
}

static void test_auth_reload_changes_the_policy(void **st)
{
    struct fixture *f = *st;
    char buf[1024];
    write_keys(f, "old 00112233445566778899aabbccddeeff\n");
    struct auth_config cfg = {.key_file = f->path};
    struct auth *a = make(f, &cfg);
    assert_int_equal(check(a, DOC, strlen(DOC), NOW, false), AUTH_ACCEPT);
    cfg.required = true;
    cfg.skew_s = 10;
    assert_int_equal(auth_reload(a, &cfg, f->err, sizeof(f->err)), 0);
    assert_int_equal(check(a, DOC, strlen(DOC), NOW, false), AUTH_UNSIGNED);
    size_t n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW - 30, "s1");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_STALE);
    cfg.required = false;
    cfg.skew_s = 0; /* back to the default 60 s */
    assert_int_equal(auth_reload(a, &cfg, f->err, sizeof(f->err)), 0);
    assert_int_equal(check(a, DOC, strlen(DOC), NOW, false), AUTH_ACCEPT);
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    auth_free(a);
}

static void test_auth_bad_key_file_keeps_the_old_keys(void **st)
{
    struct fixture *f = *st;
    char buf[1024];
    write_keys(f, "old 00112233445566778899aabbccddeeff\n");
    struct auth_config cfg = {.key_file = f->path};
    struct auth *a = make(f, &cfg);

    write_keys(f, "# rotated badly\nnew 0011\n"); /* too short a key */
    cfg.required = true;
    assert_int_equal(auth_reload(a, &cfg, f->err, sizeof(f->err)), -EINVAL);
    assert_non_null(strstr(f->err, ":2:"));
    /* Nothing changed: the old key works, and the policy is the old one too. */
    size_t n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "k1");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    assert_int_equal(check(a, DOC, strlen(DOC), NOW, false), AUTH_ACCEPT);

    unlink(f->path);
    assert_true(auth_reload(a, &cfg, f->err, sizeof(f->err)) < 0);
    n = sign(buf, sizeof(buf), "old", HEX_OLD, NOW, "k2");
    assert_int_equal(check(a, buf, n, NOW, false), AUTH_ACCEPT);
    auth_free(a);
}

static void test_auth_new_refuses_a_bad_key_file(void **st)
{
    struct fixture *f = *st;
    struct auth *a = NULL;
    struct auth_config cfg = {.key_file = f->path};
    write_keys(f, "k1 zz112233445566778899aabbccddeeff\n");
    assert_int_equal(auth_new(&cfg, &a, f->err, sizeof(f->err)), -EINVAL);
    assert_null(a);
    assert_non_null(strstr(f->err, ":1:"));
    unlink(f->path);
    assert_true(auth_new(&cfg, &a, f->err, sizeof(f->err)) < 0);
    assert_null(a);
    auth_free(NULL);
}

static void test_auth_reason_names(void **st)
{
    (void)st;
    /* The names are counter labels (stats line, /v1/stats, /metrics): stable. */
    assert_string_equal(auth_reason_name(AUTH_ACCEPT), "ok");
    assert_string_equal(auth_reason_name(AUTH_UNSIGNED), "unsigned");
    assert_string_equal(auth_reason_name(AUTH_BAD_HEADER), "bad_header");
    assert_string_equal(auth_reason_name(AUTH_UNKNOWN_KEY), "unknown_key");
    assert_string_equal(auth_reason_name(AUTH_BAD_MAC), "bad_mac");
    assert_string_equal(auth_reason_name(AUTH_STALE), "stale");
    assert_string_equal(auth_reason_name(AUTH_REPLAY), "replay");
    assert_string_equal(auth_reason_name(AUTH_REASON_COUNT), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_auth_good_signature_gives_the_document, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_auth_unsigned_passes_unless_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_bad_mac_unknown_key_bad_header, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_clock_skew_default_and_configured, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_auth_replay_is_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_nonce_cache_forgets_the_oldest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_key_rotation_on_reload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_reload_changes_the_policy, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_bad_key_file_keeps_the_old_keys, setup, teardown),
        cmocka_unit_test_setup_teardown(test_auth_new_refuses_a_bad_key_file, setup, teardown),
        cmocka_unit_test(test_auth_reason_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
