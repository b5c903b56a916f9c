/* test_config.c - settings: defaults, every kind of bad value, the command line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/config.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>

static int args(struct config *c, char *err, int argc, char **argv)
{
    config_defaults(c);
    return config_parse_args(c, argc, argv, err, 256);
}

static void test_config_defaults(void **st)
{
    (void)st;
    struct config c;
    config_defaults(&c);
    assert_int_equal(c.n_listen, 1);
    assert_string_equal(c.listen[0], "0.0.0.0:8341");
    const struct sockaddr_in *a = (const struct sockaddr_in *)&c.listen_addr[0];
    assert_int_equal(a->sin_family, AF_INET);
    assert_int_equal(ntohs(a->sin_port), 8341);
    assert_int_equal(c.rcvbuf, 32u << 20);
    assert_string_equal(c.output, "-");
    assert_true(c.collector_id[0] != '\0');
}

static void test_config_listen_replaces_default_and_repeats(void **st)
{
    (void)st;
    struct config c;
    char err[256];
    char *argv[] = {"injectord", "--listen", "127.0.0.1:9000", "--listen", "[::1]:9001",
                    "--listen=:9002", NULL};
    assert_int_equal(args(&c, err, 6, argv), 0);
    assert_int_equal(c.n_listen, 3);
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&c.listen_addr[1];
    assert_int_equal(a6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(a6->sin6_port), 9001);
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&c.listen_addr[2];
    assert_int_equal(a4->sin_addr.s_addr, htonl(INADDR_ANY));
}

static void test_config_sizes(void **st)
{
    (void)st;
    size_t v;
    assert_int_equal(config_parse_size("33554432", &v), 0);
    assert_int_equal(v, 33554432);
    assert_int_equal(config_parse_size("208K", &v), 0);
    assert_int_equal(v, 208 * 1024);
    assert_int_equal(config_parse_size("4MiB", &v), 0);
    assert_int_equal(v, 4 << 20);
    assert_int_equal(config_parse_size("1g", &v), 0);
    assert_int_equal(v, 1 << 30);
    assert_int_equal(config_parse_size("12Q", &v), -EINVAL);
    assert_int_equal(config_parse_size("-1", &v), -EINVAL);
    assert_int_equal(config_parse_size("", &v), -EINVAL);
    assert_int_equal(config_parse_size("3MBs", &v), -EINVAL);
}

static void assert_bad(const char *key, const char *value, const char *needle)
{
    struct config c;
    char err[256] = "";
    config_defaults(&c);
    assert_int_equal(config_set(&c, key, value, err, sizeof(err)), -EINVAL);
    if (strstr(err, needle) == NULL)
        fail_msg("error for %s=%s is '%s', expected it to mention '%s'", key, value, err,
                 needle);
}

static void test_config_bad_values_say_what_is_allowed(void **st)
{
    (void)st;
    assert_bad("listen", "localhost:8341", "ADDR:PORT");
    assert_bad("listen", "1.2.3.4", "ADDR:PORT");
    assert_bad("listen", "1.2.3.4:70000", "ADDR:PORT");
    assert_bad("listen", "[::1:8341", "ADDR:PORT");
    assert_bad("rcvbuf", "lots", "4K to 1G");
    assert_bad("rcvbuf", "1K", "4K to 1G");
    assert_bad("stats-interval", "-5", "seconds");
    assert_bad("log-level", "loud", "error, warning");
    assert_bad("max-alerts", "many", "count");
    assert_bad("output", "", "file path");
    assert_bad("nosuch", "1", "unknown setting 'nosuch'");
}

static void test_config_ini_style_keys_accepted(void **st)
{
    (void)st;
    struct config c;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "stats_interval", "7", err, sizeof(err)), 0);
    assert_int_equal(c.stats_interval_s, 7);
    assert_int_equal(config_set(&c, "collector_id", "mon1", err, sizeof(err)), 0);
    assert_string_equal(c.collector_id, "mon1");
}

static void test_config_command_line_errors(void **st)
{
    (void)st;
    struct config c;
    char err[256];
    char *unknown[] = {"injectord", "--frobnicate", NULL};
    assert_int_equal(args(&c, err, 2, unknown), -EINVAL);
    assert_non_null(strstr(err, "--frobnicate"));
    char *missing[] = {"injectord", "--rcvbuf", NULL};
    assert_int_equal(args(&c, err, 2, missing), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));
    char *stray[] = {"injectord", "extra", NULL};
    assert_int_equal(args(&c, err, 2, stray), -EINVAL);
    char *bad[] = {"injectord", "--rcvbuf", "huge", NULL};
    assert_int_equal(args(&c, err, 3, bad), -EINVAL);
    assert_non_null(strstr(err, "rcvbuf"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_listen_replaces_default_and_repeats),
        cmocka_unit_test(test_config_sizes),
        cmocka_unit_test(test_config_bad_values_say_what_is_allowed),
        cmocka_unit_test(test_config_ini_style_keys_accepted),
        cmocka_unit_test(test_config_command_line_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
