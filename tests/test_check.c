/* test_check.c - --check-config finds what start-up would run into: missing and bad files,
 * unwritable places, rules between settings, addresses taken. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/check.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static char dir[64], path[256];
static struct config c;

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof(dir), "/tmp/injector-check.XXXXXX");
    assert_non_null(mkdtemp(dir));
    config_defaults(&c);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static const char *in_dir(const char *name)
{
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return path;
}

static void put(const char *name, const char *text)
{
    FILE *f = fopen(in_dir(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static void set(const char *key, const char *value)
{
    char err[256];
    if (config_set(&c, key, value, err, sizeof(err)) != 0)
        fail_msg("%s", err);
}

struct found {
    char all[4096];
    int n;
};

static void collect(const char *problem, void *data)
{
    struct found *f = data;
    strncat(f->all, problem, sizeof(f->all) - strlen(f->all) - 2);
    strcat(f->all, "\n");
    f->n++;
}

static struct found check(bool bind)
{
    struct found f = {.n = 0};
    int n = check_config(&c, bind, collect, &f);
    assert_int_equal(n, f.n);
    return f;
}

static void assert_found(const struct found *f, const char *needle)
{
    if (strstr(f->all, needle) == NULL)
        fail_msg("no problem mentions '%s'; found:\n%s", needle, f->all);
}

static void test_check_defaults_are_clean(void **st)
{
    (void)st;
    struct found f = check(false);
    assert_int_equal(f.n, 0);
}

/* The snapshot, the output and the state directory: places this user must be able to
 * write. */
static void test_check_places_to_write(void **st)
{
    (void)st;
    char want[512];
    set("snapshot", in_dir("missing/snap.json"));
    set("output", in_dir("missing/out.json"));
    struct found f = check(false);
    assert_int_equal(f.n, 2);
    snprintf(want, sizeof(want),
             "snapshot %s/missing/snap.json: cannot create files in "
             "%s/missing: No such file or directory",
             dir, dir);
    assert_found(&f, want);
    assert_found(&f, "output ");

    char why[512];
    assert_int_equal(check_path(&c, CONFIG_snapshot, why, sizeof(why)), -ENOENT);
    set("snapshot", dir); /* a directory where a file belongs */
    assert_int_equal(check_path(&c, CONFIG_snapshot, why, sizeof(why)), -EISDIR);
    set("snapshot", in_dir("snap.json"));
    assert_int_equal(check_path(&c, CONFIG_snapshot, why, sizeof(why)), 0);
    set("output", "-");
    put("plain", "x");
    /* The state directory: created when missing, if its parent exists; not a file. */
    set("state-dir", in_dir("state"));
    assert_int_equal(check(false).n, 0);
    set("state-dir", in_dir("plain"));
    assert_found((f = check(false), &f), "state-dir");
    set("state-dir", in_dir("plain/sub"));
    assert_found((f = check(false), &f), "plain/sub: Not a directory");
    set("state-dir", in_dir("missing/sub"));
    assert_found((f = check(false), &f), "does not exist, and cannot be created in");
    /* Nothing was left behind by the probes. */
    snprintf(want, sizeof(want), "ls -A '%s' | grep -q injectord-check", dir);
    assert_int_not_equal(system(want), 0);
}

/* Key, token and password files: readable and well-formed, when start-up reads them. */
static void test_check_files_to_read(void **st)
{
    (void)st;
    set("key-file", in_dir("keys"));
    assert_found((struct found[]){check(false)}, "key-file");
    put("keys", "# none yet\n");
    assert_found((struct found[]){check(false)}, ": no keys");
    put("keys", "k1 nothex\n");
    assert_found((struct found[]){check(false)}, "key-file: ");
    put("keys", "k1 00112233445566778899aabbccddeeff\n");
    assert_int_equal(check(false).n, 0);

    set("http-token-file", in_dir("token"));
    put("token", "\n");
    assert_found((struct found[]){check(false)}, "its first line is empty");
    put("token", "s3cret\n");
    assert_int_equal(check(false).n, 0);
    set("http", "off"); /* no HTTP API: the token is not read */
    put("token", "");
    assert_int_equal(check(false).n, 0);

    /* Broker files only with a broker. */
    set("amqp-password-file", in_dir("nopw"));
    set("amqp-ca-file", in_dir("noca"));
    assert_int_equal(check(false).n, 0);
    set("amqp", "amqps://guest@127.0.0.1:1/");
    struct found f = check(false);
    assert_int_equal(f.n, 2);
    assert_found(&f, "amqp-password-file");
    assert_found(&f, "amqp-ca-file");
}

/* What start-up refuses between settings. */
static void test_check_rules_between_settings(void **st)
{
    (void)st;
    set("require-signature", "true");
    set("allow", "10.0.0.0/8+signed");
    struct found f = check(false);
    assert_int_equal(f.n, 2);
    assert_found(&f, "require-signature: needs key-file");
    assert_found(&f, "+signed");
    /* The same rules, alone, as the daemon runs them at start. */
    struct found rules = {.n = 0};
    assert_int_equal(check_rules(&c, collect, &rules), 2);
    assert_string_equal(rules.all, f.all);
    config_defaults(&c);
    set("amqp", "amqps://guest@127.0.0.1:1/");
    put("cert.pem", "x");
    set("amqp-cert-file", in_dir("cert.pem"));
    assert_found((struct found[]){check(false)}, "give both");
}

/* =bind: a port someone holds, and two settings naming one port. */
static void test_check_bind(void **st)
{
    (void)st;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    char addr[64];
    snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(a.sin_port));
    set("listen", addr);
    set("http", "127.0.0.1:0");
    assert_int_equal(check(false).n, 0); /* not asked to bind */
    struct found f = check(true);
    assert_int_equal(f.n, 1);
    assert_found(&f, "listen (udp) 127.0.0.1:");
    assert_found(&f, "Address already in use");
    close(fd);
    /* (Not the port just closed: another process may take it before the check binds it.) */
    set("listen", "127.0.0.1:0");
    assert_int_equal(check(true).n, 0);

    /* The TCP listener and the HTTP API on one port: start-up would fail on the second. A
     * free port is picked and let go first; another process may take it in between (other
     * tests bind ports all the time), so a finding about anything else is tried again. */
    set("tcp", "true");
    for (int attempt = 0;; attempt++) {
        assert_true(attempt < 5);
        fd = socket(AF_INET, SOCK_STREAM, 0);
        a.sin_port = 0;
        len = sizeof(a);
        assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
        assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
        close(fd);
        snprintf(addr, sizeof(addr), "127.0.0.1:%u", ntohs(a.sin_port));
        set("listen", addr);
        set("http", addr);
        f = check(true);
        if (f.n == 1)
            break;
    }
    assert_found(&f, "http 127.0.0.1:");
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_check_defaults_are_clean),
        T(test_check_places_to_write),
        T(test_check_files_to_read),
        T(test_check_rules_between_settings),
        T(test_check_bind),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
