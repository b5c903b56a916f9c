/* test_config.c - settings: the table, defaults, every kind of bad value, the command line,
 * the INI file, and the effective configuration read back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/config.h"
#include "parsers/alert.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static struct config c; /* tens of KB: off the stack */

static int args(char *err, int argc, char **argv)
{
    config_defaults(&c);
    return config_parse_args(&c, argc, argv, err, 256);
}

static void test_config_defaults(void **st)
{
    (void)st;
    config_defaults(&c);
    assert_int_equal(c.listen.n, 1);
    assert_string_equal(c.listen.a[0].text, "0.0.0.0:8341");
    const struct sockaddr_in *a = (const struct sockaddr_in *)&c.listen.a[0].sa;
    assert_int_equal(a->sin_family, AF_INET);
    assert_int_equal(ntohs(a->sin_port), 8341);
    assert_int_equal(c.rcvbuf, 32u << 20);
    assert_string_equal(c.output, "-");
    assert_true(c.collector_id[0] != '\0');
    assert_int_equal(c.stats_interval_ms, 60000);
    assert_int_equal(c.log_level, LOG_LEVEL_INFO);
    assert_string_equal(c.http.text, "127.0.0.1:8342");
    assert_int_equal(c.amqp.n, 0);
    for (int i = 0; i < CONFIG_N; i++)
        assert_false(c.given[i]);
}

/* The table itself: every setting has a unique option, a unique [section] key, an argument
 * name and help; no help repeats the default (--help adds it). */
static void test_config_table_is_well_formed(void **st)
{
    (void)st;
    for (int i = 0; i < CONFIG_N; i++) {
        const struct config_setting *s = &config_settings[i];
        assert_non_null(s->option);
        assert_true(s->help[0] != '\0' && s->arg[0] != '\0' && s->key[0] != '\0');
        assert_true(s->help[strlen(s->help) - 1] != ']');
        assert_int_equal(config_find(s->option), i);
        for (int j = 0; j < i; j++) {
            const struct config_setting *t = &config_settings[j];
            if (strcmp(s->option, t->option) == 0 ||
                (strcmp(s->section, t->section) == 0 && strcmp(s->key, t->key) == 0))
                fail_msg("settings %s and %s collide", s->option, t->option);
        }
    }
}

static void test_config_listen_replaces_default_and_repeats(void **st)
{
    (void)st;
    char err[256];
    char *argv[] = {"injectord",      "--listen", "127.0.0.1:9000", "--listen", "[::1]:9001",
                    "--listen=:9002", NULL};
    assert_int_equal(args(err, 6, argv), 0);
    assert_int_equal(c.listen.n, 3);
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&c.listen.a[1].sa;
    assert_int_equal(a6->sin6_family, AF_INET6);
    assert_int_equal(ntohs(a6->sin6_port), 9001);
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&c.listen.a[2].sa;
    assert_int_equal(a4->sin_addr.s_addr, htonl(INADDR_ANY));
    assert_true(c.given[CONFIG_listen]);
}

/* Several broker URLs: repeated --amqp, or several in one value. */
static void test_config_amqp_is_a_list(void **st)
{
    (void)st;
    char err[256];
    char *argv[] = {
        "injectord", "--amqp", "amqp://a:1/", "--amqp", "amqp://b:2/, amqps://u:pw@c:3/", NULL};
    assert_int_equal(args(err, 5, argv), 0);
    assert_int_equal(c.amqp.n, 3);
    assert_string_equal(c.amqp.url[0], "amqp://a:1/");
    assert_string_equal(c.amqp.url[2], "amqps://u:pw@c:3/");
    char shown[4096];
    config_format(CONFIG_amqp, &c, shown, sizeof(shown));
    assert_string_equal(shown, "amqp://a:1/, amqp://b:2/, amqps://u@c:3/");
    /* A bad one is named without its password. */
    char *bad[] = {"injectord", "--amqp", "http://u:secret@host/", NULL};
    assert_int_equal(args(err, 3, bad), -EINVAL);
    assert_non_null(strstr(err, "'http://u@host/'"));
    assert_null(strstr(err, "secret"));
}

static void test_config_sizes_and_durations(void **st)
{
    (void)st;
    uint64_t v;
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

    assert_int_equal(alert_parse_duration("60", &v), 0);
    assert_int_equal(v, 60000);
    assert_int_equal(alert_parse_duration("100ms", &v), 0);
    assert_int_equal(v, 100);
    assert_int_equal(alert_parse_duration("2m", &v), 0);
    assert_int_equal(v, 120000);
    assert_int_equal(alert_parse_duration("1h", &v), 0);
    assert_int_equal(v, 3600000);
    assert_int_equal(alert_parse_duration("5 s", &v), -EINVAL);
    assert_int_equal(alert_parse_duration("1.5", &v), -EINVAL);
    assert_int_equal(alert_parse_duration("soon", &v), -EINVAL);

    /* Booleans: the wire format's spellings and on/off, in any case; nothing else. */
    static const char *const yes[] = {"true", "TRUE", "yes", "Yes", "on", "ON", "1"};
    static const char *const no[] = {"false", "False", "no", "NO", "off", "Off", "0"};
    static const char *const neither[] = {"", "2", "y", "n", "enable", "onn", "tru", "00"};
    bool b;
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        b = false;
        assert_int_equal(config_parse_bool(yes[i], &b), 0);
        assert_true(b);
        assert_int_equal(config_parse_bool(no[i], &b), 0);
        assert_false(b);
    }
    for (size_t i = 0; i < sizeof(neither) / sizeof(neither[0]); i++)
        assert_int_equal(config_parse_bool(neither[i], &b), -EINVAL);

    char err[256];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "stats-interval", "2m", err, sizeof(err)), 0);
    assert_int_equal(c.stats_interval_ms, 120000);
    assert_int_equal(config_set(&c, "stats-interval", "1500ms", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "whole number of seconds"));
}

/* One boolean parser, for every boolean setting. */
static void test_config_one_boolean_spelling_set(void **st)
{
    (void)st;
    const char *yes[] = {"true", "yes", "on", "1", "TRUE", "Yes"};
    const char *no[] = {"false", "no", "off", "0", "False"};
    char err[256];
    for (int i = 0; i < CONFIG_N; i++) {
        if (config_settings[i].type != CONFIG_TYPE_BOOL)
            continue;
        config_defaults(&c);
        bool *b = (bool *)((char *)&c + config_settings[i].offset);
        for (size_t k = 0; k < sizeof(yes) / sizeof(yes[0]); k++) {
            assert_int_equal(config_set(&c, config_settings[i].option, yes[k], err, 256), 0);
            assert_true(*b);
        }
        for (size_t k = 0; k < sizeof(no) / sizeof(no[0]); k++) {
            assert_int_equal(config_set(&c, config_settings[i].option, no[k], err, 256), 0);
            assert_false(*b);
        }
        assert_int_equal(config_set(&c, config_settings[i].option, "maybe", err, 256), -EINVAL);
        assert_non_null(strstr(err, "true or false"));
    }
}

static void assert_bad(const char *key, const char *value, const char *needle)
{
    char err[256] = "";
    config_defaults(&c);
    assert_int_equal(config_set(&c, key, value, err, sizeof(err)), -EINVAL);
    if (strstr(err, needle) == NULL)
        fail_msg("error for %s=%s is '%s', expected it to mention '%s'", key, value, err, needle);
}

static void test_config_bad_values_say_what_is_allowed(void **st)
{
    (void)st;
    assert_bad("listen", "localhost:8341", "ADDR:PORT");
    assert_bad("listen", "1.2.3.4", "ADDR:PORT");
    assert_bad("listen", "1.2.3.4:70000", "ADDR:PORT");
    assert_bad("listen", "[::1:8341", "ADDR:PORT");
    assert_bad("listen", "", "at least one");
    assert_bad("rcvbuf", "lots", "4K to 1G");
    assert_bad("rcvbuf", "1K", "4K to 1G");
    assert_bad("stats-interval", "-5", "seconds");
    assert_bad("stats-interval", "2d", "from 0 to 86400s");
    assert_bad("snapshot-interval", "0", "from 1s to 86400s");
    assert_bad("log-level", "loud", "error, warning, notice, info, debug");
    assert_bad("max-alerts", "many", "count");
    assert_bad("amqp-confirm-window", "0", "from 1 to 65535");
    assert_bad("reuseport", "65", "from 0 to 64");
    assert_bad("rate-limit", "-1", "number from 0 to 1000000000");
    assert_bad("output", "", "file path");
    assert_bad("collector-id", "", "1 to 255 characters");
    assert_bad("http", "8342", "or off");
    assert_bad("allow", "10.1.2.3/8", "is not an address or CIDR block");
    assert_bad("nosuch", "1", "unknown setting 'nosuch'");
    assert_bad("rcvbf", "1M", "did you mean '--rcvbuf'?");
}

static void test_config_ini_style_keys_accepted(void **st)
{
    (void)st;
    char err[256];
    config_defaults(&c);
    assert_int_equal(config_set(&c, "stats_interval", "7", err, sizeof(err)), 0);
    assert_int_equal(c.stats_interval_ms, 7000);
    assert_int_equal(config_set(&c, "collector_id", "mon1", err, sizeof(err)), 0);
    assert_string_equal(c.collector_id, "mon1");
    assert_int_equal(config_set(&c, "http", "off", err, sizeof(err)), 0);
    assert_string_equal(c.http.text, "");
}

static void test_config_command_line_errors(void **st)
{
    (void)st;
    char err[256];
    char *unknown[] = {"injectord", "--frobnicate", NULL};
    assert_int_equal(args(err, 2, unknown), -EINVAL);
    assert_non_null(strstr(err, "--frobnicate"));
    char *near[] = {"injectord", "--lisen=127.0.0.1:1", NULL};
    assert_int_equal(args(err, 2, near), -EINVAL);
    assert_non_null(strstr(err, "did you mean '--listen'?"));
    char *missing[] = {"injectord", "--rcvbuf", NULL};
    assert_int_equal(args(err, 2, missing), -EINVAL);
    assert_non_null(strstr(err, "needs a value"));
    char *stray[] = {"injectord", "extra", NULL};
    assert_int_equal(args(err, 2, stray), -EINVAL);
    char *bad[] = {"injectord", "--rcvbuf", "huge", NULL};
    assert_int_equal(args(err, 3, bad), -EINVAL);
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

static char *printed(const struct config *cfg)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    config_print(cfg, f);
    fclose(f);
    return out;
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
               "[limits]\nkey_file = /etc/injector/keys\n"
               "[http]\nlisten = 127.0.0.1:9200\n");
    char err[512];
    enum config_mode mode;
    char *argv[] = {"injectord", "-c", cfgpath, "--rcvbuf", "8M", "--check-config", NULL};
    assert_int_equal(config_load(&c, 6, argv, &mode, err, sizeof(err)), 0);
    assert_int_equal(mode, CONFIG_CHECK);
    assert_int_equal(c.listen.n, 2);
    assert_string_equal(c.listen.a[1].text, "[::1]:9100");
    assert_int_equal(c.rcvbuf, 8u << 20); /* the option wins */
    assert_string_equal(c.amqp_exchange, "alerts");
    assert_int_equal(c.amqp_confirm_window, 64);
    assert_string_equal(c.state_dir, "/var/lib/injector");
    assert_int_equal(c.journal_sync_ms, 20);
    assert_string_equal(c.snapshot, "/var/lib/injector/snapshot.json");
    assert_int_equal(c.snapshot_interval_ms, 30000);
    assert_int_equal(c.log_level, LOG_LEVEL_WARNING);
    assert_int_equal(c.stats_interval_ms, 10000);
    assert_string_equal(c.http.text, "127.0.0.1:9200");
    assert_string_equal(c.key_file, "/etc/injector/keys"); /* an option name, any section */
    assert_string_equal(c.amqp_key_file, "");

    char *out = printed(&c);
    assert_null(strstr(out, "secret")); /* the password never shows */
    assert_non_null(strstr(out, "\n[amqp]\nurl = amqp://guest@127.0.0.1:5672/\n"));
    assert_non_null(strstr(out, "\n[listen]\naddress = 127.0.0.1:9100\naddress = [::1]:9100\n"));
    assert_non_null(strstr(out, "rcvbuf = 8M\n"));
    assert_non_null(strstr(out, "\n[snapshot]\npath = /var/lib/injector/snapshot.json\n"
                                "interval = 30s\n"));
    free(out);

    /* --listen on the command line replaces the file's listeners. */
    char *argv2[] = {"injectord", "-c", cfgpath, "--listen", "127.0.0.1:9300", NULL};
    assert_int_equal(config_load(&c, 5, argv2, &mode, err, sizeof(err)), 0);
    assert_int_equal(mode, CONFIG_RUN);
    assert_int_equal(c.listen.n, 1);
    assert_string_equal(c.listen.a[0].text, "127.0.0.1:9300");

    char *argv3[] = {"injectord", "-c", cfgpath, "--check-config=bind", NULL};
    assert_int_equal(config_load(&c, 4, argv3, &mode, err, sizeof(err)), 0);
    assert_int_equal(mode, CONFIG_CHECK_BIND);
    char *argv4[] = {"injectord", "-c", cfgpath, "--check-config=loud", NULL};
    assert_int_equal(config_load(&c, 4, argv4, &mode, err, sizeof(err)), -EINVAL);
    assert_int_equal(mode, CONFIG_CHECK);
    unlink(cfgpath);
}

/* A value of the setting's type, in range, that differs from the one c holds: the test's
 * way of changing every setting, whatever the table holds. */
static const char *another_value(int id, char *buf, size_t size)
{
    const struct config_setting *s = &config_settings[id];
    const void *f = (const char *)&c + s->offset;
    uint64_t u = s->type == CONFIG_TYPE_COUNT || s->type == CONFIG_TYPE_SIZE ||
                         s->type == CONFIG_TYPE_DURATION
                     ? *(const uint64_t *)f
                     : 0;
    switch (s->type) {
    case CONFIG_TYPE_BOOL:
        return *(const bool *)f ? "false" : "true";
    case CONFIG_TYPE_COUNT:
        snprintf(buf, size, "%llu", (unsigned long long)(u < s->lim.max ? u + 1 : u - 1));
        return buf;
    case CONFIG_TYPE_NUMBER:
        snprintf(buf, size, "%g", *(const double *)f + 1.5);
        return buf;
    case CONFIG_TYPE_SIZE:
        snprintf(buf, size, "%lluK",
                 (unsigned long long)(u / 1024 < s->lim.max / 1024 ? u / 1024 + 4 : u / 1024 - 4));
        return buf;
    case CONFIG_TYPE_DURATION:
        snprintf(buf, size, "%llus",
                 (unsigned long long)(u < s->lim.max ? u / 1000 + 1 : u / 1000 - 1));
        return buf;
    case CONFIG_TYPE_ENUM:
        return *(const int *)f == LOG_LEVEL_DEBUG ? "warning" : "debug";
    case CONFIG_TYPE_TEXT:
        snprintf(buf, size, "%s-2", (const char *)f);
        return buf;
    case CONFIG_TYPE_PATH:
        snprintf(buf, size, "/tmp/another-%s", s->field);
        return buf;
    case CONFIG_TYPE_CIDRS:
        return "192.0.2.0/24, 2001:db8::/32";
    case CONFIG_TYPE_ADDRESS:
        return "[::1]:2";
    case CONFIG_TYPE_ADDRESSES:
        return "127.0.0.1:1, [::1]:2";
    case CONFIG_TYPE_URLS:
        return "amqp://u:pw@127.0.0.1:1/ amqp://127.0.0.2:2/";
    }
    return NULL;
}

/* Every setting changed at once, printed as --check-config prints it and read back: the
 * same configuration, setting by setting (and each one did change). */
static void test_config_print_reads_back_for_every_setting(void **st)
{
    (void)st;
    static struct config back, dflt;
    char err[512], value[256];
    config_defaults(&dflt);
    config_defaults(&c);
    for (int i = 0; i < CONFIG_N; i++) {
        const char *v = another_value(i, value, sizeof(value));
        if (config_set(&c, config_settings[i].option, v, err, sizeof(err)) != 0)
            fail_msg("%s = %s: %s", config_settings[i].option, v, err);
        if (config_equal(i, &c, &dflt))
            fail_msg("%s = %s did not change it", config_settings[i].option, v);
    }
    char *out = printed(&c);
    assert_null(strstr(out, ":pw@"));
    /* The password is left out of the print: put it back to compare the rest. */
    char *u = strstr(out, "amqp://u@");
    assert_non_null(u);
    write_file(out);
    free(out);
    config_defaults(&back);
    if (config_load_file(&back, cfgpath, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    snprintf(back.amqp.url[0], sizeof(back.amqp.url[0]), "%s", c.amqp.url[0]);
    for (int i = 0; i < CONFIG_N; i++)
        if (!config_equal(i, &c, &back))
            fail_msg("%s did not read back", config_settings[i].option);
    unlink(cfgpath);
}

/* The state directory holds the journal and, unless --snapshot says otherwise, the
 * snapshot; --spool-dir is gone and says what replaced it. */
static void test_config_state_dir_and_journal(void **st)
{
    (void)st;
    char err[512];
    enum config_mode mode;
    char *argv[] = {"injectord", "--state-dir", "/var/lib/x", "--journal-sync", "200ms", NULL};
    assert_int_equal(config_load(&c, 5, argv, &mode, err, sizeof(err)), 0);
    assert_string_equal(c.snapshot, "/var/lib/x/snapshot.json");
    assert_int_equal(c.journal_sync_ms, 200);
    assert_int_equal(c.journal_segment, 16u << 20);
    char *argv2[] = {"injectord", "--state-dir", "/var/lib/x", "--snapshot", "/s.json", NULL};
    assert_int_equal(config_load(&c, 5, argv2, &mode, err, sizeof(err)), 0);
    assert_string_equal(c.snapshot, "/s.json");
    config_defaults(&c);
    assert_int_equal(c.journal_sync_ms, 50);
    assert_int_equal(config_set(&c, "journal-sync", "15ms", err, sizeof(err)), 0);
    assert_int_equal(c.journal_sync_ms, 15);
    assert_int_equal(config_set(&c, "journal-sync", "1m", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "journal-sync: '1m'"));
    assert_int_equal(config_set(&c, "journal-segment", "1K", err, sizeof(err)), -EINVAL);
    char *argv3[] = {"injectord", "--spool-dir", "/var/spool", NULL};
    assert_int_equal(config_load(&c, 3, argv3, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "spool-dir is gone: use state-dir"));
    write_file("[spool]\ndir = /var/spool\n");
    char *argv4[] = {"injectord", "-c", cfgpath, NULL};
    assert_int_equal(config_load(&c, 3, argv4, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":2: unknown setting 'dir' in [spool]: spool-dir is gone"));
    write_file("[state]\ndir = /srv/inj\n[journal]\nsync = 20ms\nmemory = 5000\n");
    assert_int_equal(config_load(&c, 3, argv4, &mode, err, sizeof(err)), 0);
    assert_string_equal(c.state_dir, "/srv/inj");
    assert_int_equal(c.journal_sync_ms, 20);
    assert_int_equal(c.outbox_size, 5000);
    assert_string_equal(c.snapshot, "/srv/inj/snapshot.json");
    unlink(cfgpath);
}

static void test_config_file_errors_name_file_and_line(void **st)
{
    (void)st;
    char err[512];
    enum config_mode mode;
    char *argv[] = {"injectord", "-c", cfgpath, NULL};

    write_file("[listen]\nrcvbuf = 4M\nrcvbuf = lots\n");
    assert_int_equal(config_load(&c, 3, argv, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":3: rcvbuf: 'lots'"));

    /* Two bad values: the first one's line with the first one's message. */
    write_file("[limits]\nmax_alerts = -1\nrate_limit = x\n");
    assert_int_equal(config_load(&c, 3, argv, &mode, err, sizeof(err)), -EINVAL);
    if (strstr(err, ":2: max-alerts: '-1'") == NULL)
        fail_msg("%s", err);

    /* A syntax error before a bad value, and after one. */
    write_file("[limits]\nnot ini\nrate_limit = x\n");
    assert_int_equal(config_load(&c, 3, argv, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":2: not a 'key = value' line"));
    write_file("[limits]\nrate_limit = x\nnot ini\n");
    assert_int_equal(config_load(&c, 3, argv, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":2: rate-limit: 'x'"));

    write_file("[amqp]\nfrobnicate = yes\n");
    assert_int_equal(config_load(&c, 3, argv, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":2: unknown setting 'frobnicate' in [amqp]"));

    write_file("[listen]\n\nadress = 127.0.0.1:1\n");
    assert_int_equal(config_load(&c, 3, argv, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":3: unknown setting 'adress' in [listen] (did you mean "
                                "'address'?)"));
    write_file("[http]\naddress = 127.0.0.1:1\n");
    assert_int_equal(config_load(&c, 3, argv, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "(did you mean [listen] address?)"));

    write_file("this line is not ini\n");
    assert_int_equal(config_load(&c, 3, argv, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":1:"));

    /* A line too long for the parser is an error of its own, not cut in two. */
    char big[600];
    snprintf(big, sizeof(big), "[listen]\nallow = 10.0.0.0/8");
    while (strlen(big) < 500)
        strcat(big, ", 10.0.0.0/8");
    strcat(big, "\n");
    write_file(big);
    assert_int_equal(config_load(&c, 3, argv, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, ":2: line longer than"));
    unlink(cfgpath);

    assert_int_equal(config_load(&c, 3, argv, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "no such file"));

    /* -c DIRECTORY is an error, not the defaults. */
    char *dir[] = {"injectord", "-c", "/tmp", NULL};
    assert_int_equal(config_load(&c, 3, dir, &mode, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "/tmp: is a directory"));
}

/* List keys repeated in a file add up; the first one replaces the default. */
static void test_config_file_lists(void **st)
{
    (void)st;
    char err[512];
    write_file("[listen]\nallow = 10.0.0.0/8\nallow = 192.0.2.0/24\naddress = 127.0.0.1:1, "
               "127.0.0.1:2\n[amqp]\nurl = amqp://a/ amqp://b/\nurl = amqp://c/\n");
    config_defaults(&c);
    assert_int_equal(config_load_file(&c, cfgpath, err, sizeof(err)), 0);
    assert_string_equal(c.allow, "10.0.0.0/8, 192.0.2.0/24");
    assert_int_equal(c.listen.n, 2);
    assert_int_equal(c.amqp.n, 3);
    assert_string_equal(c.amqp.url[2], "amqp://c/");
    unlink(cfgpath);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_defaults),
        cmocka_unit_test(test_config_table_is_well_formed),
        cmocka_unit_test(test_config_listen_replaces_default_and_repeats),
        cmocka_unit_test(test_config_amqp_is_a_list),
        cmocka_unit_test(test_config_sizes_and_durations),
        cmocka_unit_test(test_config_one_boolean_spelling_set),
        cmocka_unit_test(test_config_bad_values_say_what_is_allowed),
        cmocka_unit_test(test_config_ini_style_keys_accepted),
        cmocka_unit_test(test_config_command_line_errors),
        cmocka_unit_test(test_config_file_sections_and_options_win),
        cmocka_unit_test(test_config_print_reads_back_for_every_setting),
        cmocka_unit_test(test_config_file_errors_name_file_and_line),
        cmocka_unit_test(test_config_state_dir_and_journal),
        cmocka_unit_test(test_config_file_lists),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
