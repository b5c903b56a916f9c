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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static char cfgpath[64];

static void write_file(const char *text)
{
    snprintf(cfgpath, sizeof(cfgpath), "/tmp/injector-cfg-%d.conf", (int)getpid());
    FILE *f = fopen(cfgpath, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void test_config_file_sections_and_options_win(void **st)
{
    (void)st;
    write_file("# a comment\n"
               "[listen]\naddress = 127.0.0.1:9100\naddress = [::1]:9100\nrcvbuf = 4M\n"
               "[amqp]\nurl = amqp://guest:secret@127.0.0.1:5672/\nexchange = alerts\n"
               "confirm_window = 64\n"
               "[state]\ndir = /var/lib/injector\n[journal]\nsync = 20ms\n"
               "[snapshot]\npath = /var/lib/injector/snapshot.json\ninterval = 30\n"
               "[logging]\nlevel = warning\nstats_interval = 10\n"
               "[http]\nlisten = 127.0.0.1:9200\n");
    struct config c;
    char err[512];
    bool check;
    char *argv[] = {"injectord", "-c", cfgpath, "--rcvbuf", "8M", "--check-config", NULL};
    assert_int_equal(config_load(&c, 6, argv, &check, err, sizeof(err)), 0);
    assert_true(check);
    assert_int_equal(c.n_listen, 2);
    assert_string_equal(c.listen[1], "[::1]:9100");
    assert_int_equal(c.rcvbuf, 8u << 20); /* the option wins */
    assert_string_equal(c.amqp_exchange, "alerts");
    assert_int_equal(c.amqp_confirm_window, 64);
    assert_string_equal(c.state_dir, "/var/lib/injector");
    assert_int_equal(c.journal_sync_ms, 20);
    assert_string_equal(c.snapshot, "/var/lib/injector/snapshot.json");
    assert_int_equal(c.snapshot_interval_s, 30);
    assert_int_equal(c.log_level, LOG_LEVEL_WARNING);
    assert_int_equal(c.stats_interval_s, 10);
    assert_string_equal(c.http, "127.0.0.1:9200");

    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    config_print(&c, f);
    fclose(f);
    assert_null(strstr(out, "secret")); /* the password never shows */
    assert_non_null(strstr(out, "amqp = amqp://guest:***@127.0.0.1:5672/"));
    assert_non_null(strstr(out, "rcvbuf = 8388608"));
    free(out);

    /* --listen on the command line replaces the file's listeners. */
    char *argv2[] = {"injectord", "-c", cfgpath, "--listen", "127.0.0.1:9300", NULL};
    assert_int_equal(config_load(&c, 5, argv2, &check, err, sizeof(err)), 0);
    assert_int_equal(c.n_listen, 1);
    assert_string_equal(c.listen[0], "127.0.0.1:9300");
    unlink(cfgpath);
}

/* The state directory holds the journal and, unless --snapshot says otherwise, the
 * snapshot; --spool-dir is gone and says what replaced it. */
static void test_config_state_dir_and_journal_sync(void **st)
{
    (void)st;
    struct config c;
    char err[512];
    bool check;
    char *argv[] = {"injectord", "--state-dir", "/var/lib/x", "--journal-sync", "0.2s", NULL};
    assert_int_equal(config_load(&c, 5, argv, &check, err, sizeof(err)), 0);
    assert_string_equal(c.snapshot, "/var/lib/x/snapshot.json");
    assert_int_equal(c.journal_sync_ms, 200);
    char *argv2[] = {"injectord", "--state-dir", "/var/lib/x", "--snapshot", "/s.json", NULL};
    assert_int_equal(config_load(&c, 5, argv2, &check, err, sizeof(err)), 0);
    assert_string_equal(c.snapshot, "/s.json");
    config_defaults(&c);
    assert_int_equal(c.journal_sync_ms, 50);
    assert_int_equal(config_set(&c, "journal-sync", "15", err, sizeof(err)), 0);
    assert_int_equal(c.journal_sync_ms, 15);
    assert_int_equal(config_set(&c, "journal-sync", "1m", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "journal-sync: '1m'"));
    assert_int_equal(config_set(&c, "journal-sync", "0ms", err, sizeof(err)), -EINVAL);
    assert_int_equal(config_set(&c, "spool-dir", "/var/spool", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "use state-dir"));
}

/* --amqp repeats for the nodes of a cluster (or takes a list); the first one on the
 * command line replaces the file's list. */
static void test_config_amqp_urls_repeat_and_list(void **st)
{
    (void)st;
    struct config c;
    char err[512];
    bool check;
    const char *u[CONFIG_MAX_AMQP];
    write_file("[amqp]\nurl = amqp://a:1@h1:5672/, amqp://a:1@h2:5672/\n");
    char *argv[] = {"injectord", "-c", cfgpath, NULL};
    assert_int_equal(config_load(&c, 3, argv, &check, err, sizeof(err)), 0);
    char list[sizeof(c.amqp_url)];
    snprintf(list, sizeof(list), "%s", c.amqp_url);
    assert_int_equal(config_amqp_urls(list, u, CONFIG_MAX_AMQP), 2);
    assert_string_equal(u[1], "amqp://a:1@h2:5672/");
    char *argv2[] = {"injectord", "-c", cfgpath, "--amqp", "amqp://g@n1:1/", "--amqp",
                     "amqp://g@n2:2/", "--amqp", "amqps://g@n3:3/", NULL};
    assert_int_equal(config_load(&c, 9, argv2, &check, err, sizeof(err)), 0);
    snprintf(list, sizeof(list), "%s", c.amqp_url);
    assert_int_equal(config_amqp_urls(list, u, CONFIG_MAX_AMQP), 3);
    assert_string_equal(u[0], "amqp://g@n1:1/");
    assert_string_equal(u[2], "amqps://g@n3:3/");
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    config_print(&c, f);
    fclose(f);
    assert_non_null(strstr(out, "amqp = amqp://g@n1:1/, amqp://g@n2:2/, amqps://g@n3:3/\n"));
    free(out);
    config_defaults(&c);
    assert_int_equal(config_set(&c, "amqp", "amqp://h/, http://x/", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'http://x/' is not amqp"));
    unlink(cfgpath);
}

static void test_config_file_errors_name_file_and_line(void **st)
{
    (void)st;
    struct config c;
    char err[512];
    bool check;
    char *argv[] = {"injectord", "-c", cfgpath, NULL};

    write_file("[listen]\nrcvbuf = 4M\nrcvbuf = lots\n");
    assert_int_equal(config_load(&c, 3, argv, &check, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":3: rcvbuf: 'lots'"));

    write_file("[amqp]\nfrobnicate = yes\n");
    assert_int_equal(config_load(&c, 3, argv, &check, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":2: unknown setting 'frobnicate' in [amqp]"));

    write_file("this line is not ini\n");
    assert_int_equal(config_load(&c, 3, argv, &check, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":1:"));
    unlink(cfgpath);

    assert_int_equal(config_load(&c, 3, argv, &check, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no such file"));
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
        cmocka_unit_test(test_config_file_sections_and_options_win),
        cmocka_unit_test(test_config_file_errors_name_file_and_line),
        cmocka_unit_test(test_config_state_dir_and_journal_sync),
        cmocka_unit_test(test_config_amqp_urls_repeat_and_list),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
