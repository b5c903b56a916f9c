/* test_ratelimit.c - token buckets per sender address, on a fake clock. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/ratelimit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static struct sockaddr_in addr(const char *ip, int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static void test_ratelimit_burst_then_rate(void **st)
{
    (void)st;
    struct ratelimit *r;
    assert_int_equal(ratelimit_new(10, 20, 0, &r), 0);
    struct sockaddr_in a = addr("10.0.0.1", 1000), a2 = addr("10.0.0.1", 2000);
    assert_int_equal(ratelimit_take(r, (struct sockaddr *)&a, 15, 0), 15);
    /* Another port, the same address: the same bucket. */
    assert_int_equal(ratelimit_take(r, (struct sockaddr *)&a2, 15, 0), 5);
    assert_int_equal(ratelimit_take(r, (struct sockaddr *)&a, 1, 0), 0);
    assert_int_equal(ratelimit_take(r, (struct sockaddr *)&a, 100, 1000), 10);  /* 1 s: 10 */
    assert_int_equal(ratelimit_take(r, (struct sockaddr *)&a, 100, 60000), 20); /* capped */
    struct sockaddr_in b = addr("10.0.0.2", 1000);
    assert_int_equal(ratelimit_take(r, (struct sockaddr *)&b, 5, 60000), 5); /* its own */
    ratelimit_free(r);
}

static void test_ratelimit_off_and_reload(void **st)
{
    (void)st;
    struct ratelimit *r;
    assert_int_equal(ratelimit_new(0, 0, 0, &r), 0);
    struct sockaddr_in a = addr("10.0.0.1", 1);
    assert_int_equal(ratelimit_take(r, (struct sockaddr *)&a, 1000000, 0), 1000000);
    ratelimit_set(r, 1, 1);
    assert_int_equal(ratelimit_take(r, (struct sockaddr *)&a, 5, 0), 1);
    ratelimit_free(r);
}

static void test_ratelimit_table_is_bounded(void **st)
{
    (void)st;
    struct ratelimit *r;
    char ip[32];
    assert_int_equal(ratelimit_new(1, 1, 100, &r), 0);
    /* 1,000 spoofed senders: the first 100 get a bucket each, the rest share one. */
    size_t passed = 0;
    for (int i = 0; i < 1000; i++) {
        snprintf(ip, sizeof(ip), "10.1.%d.%d", i / 256, i % 256);
        struct sockaddr_in a = addr(ip, 1);
        passed += ratelimit_take(r, (struct sockaddr *)&a, 1, 0);
    }
    assert_int_equal(passed, 101);
    ratelimit_free(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ratelimit_burst_then_rate),
        cmocka_unit_test(test_ratelimit_off_and_reload),
        cmocka_unit_test(test_ratelimit_table_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
