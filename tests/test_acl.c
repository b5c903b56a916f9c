/* test_acl.c - the source allow-list: parsing, IPv4 and IPv6 matching, bad blocks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static bool allows(const struct acl *a, const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (strchr(ip, ':') != NULL) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        assert_int_equal(inet_pton(AF_INET6, ip, &s6->sin6_addr), 1);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        assert_int_equal(inet_pton(AF_INET, ip, &s4->sin_addr), 1);
    }
    return acl_match(a, (struct sockaddr *)&ss) >= 0;
}

static void test_acl_blocks_match_by_prefix(void **st)
{
    (void)st;
    struct acl *a;
    char err[256];
    assert_int_equal(
        acl_parse("10.0.0.0/8, 2001:db8::/32 127.0.0.1,192.168.4.0/22", &a, err, sizeof(err)), 0);
    assert_int_equal(acl_size(a), 4);
    assert_true(allows(a, "10.200.3.4"));
    assert_false(allows(a, "11.0.0.1"));
    assert_true(allows(a, "127.0.0.1"));
    assert_false(allows(a, "127.0.0.2"));
    assert_true(allows(a, "192.168.7.255"));
    assert_false(allows(a, "192.168.8.0"));
    assert_true(allows(a, "2001:db8:1::5"));
    assert_false(allows(a, "2001:db9::1"));
    assert_false(allows(a, "::1"));
    acl_free(a);
}

static int match(const struct acl *a, const char *ip)
{
    struct sockaddr_in s4;
    memset(&s4, 0, sizeof(s4));
    s4.sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &s4.sin_addr), 1);
    return acl_match(a, (struct sockaddr *)&s4);
}

static void test_acl_signed_blocks(void **st)
{
    (void)st;
    struct acl *a;
    char err[256];
    assert_int_equal(acl_parse("10.0.0.0/8+signed, 127.0.0.1", &a, err, sizeof(err)), 0);
    assert_true(acl_any_signed(a));
    assert_int_equal(match(a, "10.1.2.3"), 1);
    assert_int_equal(match(a, "127.0.0.1"), 0);
    assert_int_equal(match(a, "192.0.2.1"), -1);
    acl_free(a);
    assert_int_equal(acl_parse("10.0.0.0/8", &a, err, sizeof(err)), 0);
    assert_false(acl_any_signed(a));
    acl_free(a);
    assert_int_equal(acl_parse("10.0.0.0/8+sighed", &a, err, sizeof(err)), -EINVAL);
}

static void test_acl_empty_allows_everyone(void **st)
{
    (void)st;
    struct acl *a = (struct acl *)1;
    char err[256];
    assert_int_equal(acl_parse("  ", &a, err, sizeof(err)), 0);
    assert_null(a);
    assert_true(allows(a, "203.0.113.9"));
}

static void test_acl_bad_blocks_are_named(void **st)
{
    (void)st;
    struct acl *a;
    char err[256];
    const char *bad[] = {"10.0.0.0/33", "example.org", "10.1.2.3/8", "::1/129", "1.2.3.4/"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_int_equal(acl_parse(bad[i], &a, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, bad[i]));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acl_blocks_match_by_prefix),
        cmocka_unit_test(test_acl_signed_blocks),
        cmocka_unit_test(test_acl_empty_allows_everyone),
        cmocka_unit_test(test_acl_bad_blocks_are_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
