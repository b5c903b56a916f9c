/* test_envelope.c - the INJ1 signature: a test vector computed with the openssl CLI,
 * tampering, malformed headers, key files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parsers/envelope.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* printf 'k1 1795676400 n0nce\n%s' "$BODY" |
 *     openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1f */
static const char *BODY = "<Alert><Action>Upd</Action><ProblemHost>web12</ProblemHost>"
                          "<Component>disk</Component></Alert>";
static const char *VECTOR = "312932b53eb002868eab0aa6b14174e332abde949f3b2cc253ad0a7654cb7e16";

static struct envelope_key test_key(void)
{
    struct envelope_key k = {.id = "k1", .len = 32};
    for (int i = 0; i < 32; i++)
        k.key[i] = (unsigned char)i;
    return k;
}

static void test_envelope_matches_the_openssl_vector(void **st)
{
    (void)st;
    struct envelope_key k = test_key();
    char hex[65], out[1024];
    assert_int_equal(envelope_mac(&k, "k1", 1795676400, "n0nce", BODY, strlen(BODY), hex), 0);
    assert_string_equal(hex, VECTOR);
    int n = envelope_sign(&k, 1795676400, "n0nce", BODY, strlen(BODY), out, sizeof(out));
    assert_true(n > 0);
    char want[512];
    snprintf(want, sizeof(want), "INJ1 k1 1795676400 n0nce %s\n%s", VECTOR, BODY);
    assert_string_equal(out, want);
}

static void test_envelope_parse_verify_and_tamper(void **st)
{
    (void)st;
    struct envelope_key k = test_key();
    char out[1024];
    int n = envelope_sign(&k, 1795676400, "abc", BODY, strlen(BODY), out, sizeof(out));
    struct envelope e;
    assert_int_equal(envelope_parse(out, (size_t)n, &e), 0);
    assert_string_equal(e.keyid, "k1");
    assert_int_equal(e.time, 1795676400);
    assert_int_equal(e.body_len, strlen(BODY));
    assert_true(envelope_verify(&k, &e));
    out[n - 3] ^= 1; /* the body changed in transit */
    assert_int_equal(envelope_parse(out, (size_t)n, &e), 0);
    assert_false(envelope_verify(&k, &e));
    struct envelope_key other = test_key();
    other.key[0] = 0xff;
    out[n - 3] ^= 1;
    assert_int_equal(envelope_parse(out, (size_t)n, &e), 0);
    assert_false(envelope_verify(&other, &e));
}

static void test_envelope_malformed_headers(void **st)
{
    (void)st;
    struct envelope e;
    const char *bad[] = {
        "INJ1 k1 1795676400 n0nce\n<Alert/>", /* no MAC */
        "INJ1 k1 soon n0nce 0000000000000000000000000000000000000000000000000000000000000000\nx",
        "INJ1 k1 1 n0nce 00\nx", /* short MAC */
        "INJ1 k1 1 n0nce 0000000000000000000000000000000000000000000000000000000000000000", /* no
                                                                                               body
                                                                                               line
                                                                                             */
        "INJ1  1 n 0000000000000000000000000000000000000000000000000000000000000000\nx", /* empty id
                                                                                          */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (envelope_parse(bad[i], strlen(bad[i]), &e) != -EBADMSG)
            fail_msg("accepted header %zu", i);
    assert_false(envelope_present("<Alert/>", 8));
}

static void test_envelope_key_files(void **st)
{
    (void)st;
    char path[64], err[256];
    struct envelope_key keys[4];
    snprintf(path, sizeof(path), "/tmp/injector-keys-%d", (int)getpid());
    FILE *f = fopen(path, "w");
    fputs("# rotation: old and new\nold 00112233445566778899aabbccddeeff\n"
          "new 000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f # current\n",
          f);
    fclose(f);
    assert_int_equal(envelope_load_keys(path, keys, 4, err, sizeof(err)), 2);
    assert_string_equal(keys[1].id, "new");
    assert_int_equal(keys[1].len, 32);
    assert_int_equal(keys[0].key[1], 0x11);
    f = fopen(path, "w");
    fputs("k1 0011\n", f); /* too short a key */
    fclose(f);
    assert_int_equal(envelope_load_keys(path, keys, 4, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":1:"));
    unlink(path);
    assert_true(envelope_load_keys(path, keys, 4, err, sizeof(err)) < 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_envelope_matches_the_openssl_vector),
        cmocka_unit_test(test_envelope_parse_verify_and_tamper),
        cmocka_unit_test(test_envelope_malformed_headers),
        cmocka_unit_test(test_envelope_key_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
