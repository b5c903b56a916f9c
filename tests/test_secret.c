/* test_secret.c - passwords kept out of shown URLs, and starred out of argv in place. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sink/secret.h"

#include <string.h>

static void assert_masked(const char *url, const char *want)
{
    char buf[256];
    assert_string_equal(secret_mask_url(url, buf, sizeof(buf)), want);
}

static void test_secret_mask_leaves_the_password_out(void **st)
{
    (void)st;
    assert_masked("amqp://guest:secret@127.0.0.1:5672/", "amqp://guest@127.0.0.1:5672/");
    assert_masked("amqps://u:p@ss@broker:5671/vhost", "amqps://u@broker:5671/vhost");
    assert_masked("amqp://guest@host/", "amqp://guest@host/");
    assert_masked("amqp://host:5672/", "amqp://host:5672/");
    assert_masked("amqp://host/a@b:c", "amqp://host/a@b:c"); /* '@' in the path only */
    assert_masked("not a url", "not a url");
}

static void test_secret_scrub_stars_in_place(void **st)
{
    (void)st;
    char arg[] = "--amqp=amqp://guest:secret@host:5672/";
    secret_scrub_url(arg);
    assert_string_equal(arg, "--amqp=amqp://guest:******@host:5672/");
    char plain[] = "amqp://guest@host/";
    secret_scrub_url(plain);
    assert_string_equal(plain, "amqp://guest@host/");
    char other[] = "--rcvbuf";
    secret_scrub_url(other);
    assert_string_equal(other, "--rcvbuf");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_secret_mask_leaves_the_password_out),
        cmocka_unit_test(test_secret_scrub_stars_in_place),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
