/* test_address.c - socket addresses to text and back: IPv4, IPv6, the any-address form,
 * and what is refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/address.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static void assert_round_trip(const char *text)
{
    struct sockaddr_storage a;
    char buf[ADDRESS_TEXT_MAX];
    assert_int_equal(address_parse(text, &a), 0);
    assert_string_equal(address_format((struct sockaddr *)&a, buf, sizeof(buf)), text);
}

static void test_address_round_trips(void **st)
{
    (void)st;
    assert_round_trip("127.0.0.1:8341");
    assert_round_trip("0.0.0.0:0");
    assert_round_trip("[::1]:8341");
    assert_round_trip("[2001:db8::42]:65535");
}

static void test_address_parse_fills_family_and_port(void **st)
{
    (void)st;
    struct sockaddr_storage a;
    assert_int_equal(address_parse(":9002", &a), 0);
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&a;
    assert_int_equal(a4->sin_family, AF_INET);
    assert_int_equal(a4->sin_addr.s_addr, htonl(INADDR_ANY));
    assert_int_equal(ntohs(a4->sin_port), 9002);
    assert_int_equal(address_len((struct sockaddr *)&a), sizeof(struct sockaddr_in));

    assert_int_equal(address_parse("[::]:8341", &a), 0);
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&a;
    assert_int_equal(a6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(a6->sin6_port), 8341);
    assert_int_equal(address_len((struct sockaddr *)&a), sizeof(struct sockaddr_in6));
}

static void test_address_refuses_names_and_bad_ports(void **st)
{
    (void)st;
    struct sockaddr_storage a;
    const char *bad[] = {"localhost:8341", "1.2.3.4",  "1.2.3.4:70000", "[::1:8341", "[::1]8341",
                         "::1:8341",       "1.2.3.4:", "1.2.3.4:80x",   "",          "[nope]:80",
                         "1.2.3.999:80"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (address_parse(bad[i], &a) != -EINVAL)
            fail_msg("'%s' was accepted", bad[i]);
}

static void test_address_format_of_unknown_family(void **st)
{
    (void)st;
    struct sockaddr_storage a;
    char buf[ADDRESS_TEXT_MAX];
    memset(&a, 0, sizeof(a));
    a.ss_family = AF_UNIX;
    assert_string_equal(address_format((struct sockaddr *)&a, buf, sizeof(buf)), "?");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_address_round_trips),
        cmocka_unit_test(test_address_parse_fills_family_and_port),
        cmocka_unit_test(test_address_refuses_names_and_bad_ports),
        cmocka_unit_test(test_address_format_of_unknown_family),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
