/* test_consume_nodes.c - injector-consume's list of cluster nodes: the URLs it takes, the
 * names it says, which node comes next and how long it waits. No sockets: the test says
 * which attempts failed, as the consumer does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tools/consume_nodes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct consume_nodes *make(const char *urls)
{
    const struct consume_nodes_config cfg = {.first_pause_s = 0.5, .max_pause_s = 2};
    struct consume_nodes *n;
    char err[256];
    assert_int_equal(consume_nodes_new(&cfg, &n), 0);
    if (urls != NULL)
        assert_int_equal(consume_nodes_add(n, urls, err, sizeof(err)), 0);
    return n;
}

static void test_nodes_repeated_option_and_a_spaced_list(void **st)
{
    (void)st;
    struct consume_nodes *n = make("amqp://guest:secret@10.0.0.1:5672/");
    char err[256];
    assert_int_equal(
        consume_nodes_add(n, " amqp://u@mq2:5673/v  amqps://u@[::1]:5671 ", err, sizeof(err)), 0);
    assert_int_equal(consume_nodes_count(n), 3);
    assert_string_equal(consume_nodes_url(n, 0), "amqp://guest:secret@10.0.0.1:5672/");
    assert_string_equal(consume_nodes_url(n, 1), "amqp://u@mq2:5673/v");
    assert_string_equal(consume_nodes_url(n, 2), "amqps://u@[::1]:5671");
    /* names say which node and where, never who or the password */
    assert_string_equal(consume_nodes_name(n, 0), "node 1 (10.0.0.1:5672)");
    assert_string_equal(consume_nodes_name(n, 1), "node 2 (mq2:5673)");
    assert_string_equal(consume_nodes_name(n, 2), "node 3 ([::1]:5671)");
    assert_null(consume_nodes_url(n, 3));
    consume_nodes_free(n);
}

static void test_nodes_one_broker_is_named_by_its_address(void **st)
{
    (void)st;
    struct consume_nodes *n = make("amqp://guest:guest@127.0.0.1/");
    assert_string_equal(consume_nodes_name(n, 0), "127.0.0.1:5672"); /* the default port */
    consume_nodes_free(n);
}

static void test_nodes_bad_url_is_named_by_position_not_echoed(void **st)
{
    (void)st;
    struct consume_nodes *n = make("amqp://a@h1/");
    char err[256];
    assert_int_equal(consume_nodes_add(n, "http://user:hunter2@h2/", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "broker URL 2 is not amqp[s]://"));
    assert_null(strstr(err, "hunter2"));
    assert_int_equal(consume_nodes_count(n), 1);
    assert_int_equal(consume_nodes_add(n, "   ", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "empty"));
    consume_nodes_free(n);
}

static void test_nodes_too_many(void **st)
{
    (void)st;
    struct consume_nodes *n = make(NULL);
    char err[256];
    for (int i = 0; i < CONSUME_NODES_MAX; i++)
        assert_int_equal(consume_nodes_add(n, "amqp://h/", err, sizeof(err)), 0);
    assert_int_equal(consume_nodes_add(n, "amqp://h/", err, sizeof(err)), -E2BIG);
    assert_int_equal(consume_nodes_count(n), CONSUME_NODES_MAX);
    consume_nodes_free(n);
}

static void test_nodes_bad_pauses_refused(void **st)
{
    (void)st;
    struct consume_nodes *n = (void *)1;
    const struct consume_nodes_config cfg = {.first_pause_s = 3, .max_pause_s = 2};
    assert_int_equal(consume_nodes_new(&cfg, &n), -EINVAL);
    assert_null(n);
    consume_nodes_free(NULL);
}

/* A lost node gives way to the next at once; only a whole round of failures pauses. */
static void test_nodes_next_at_once_then_pause_per_round(void **st)
{
    (void)st;
    struct consume_nodes *n = make("amqp://h1/ amqp://h2/ amqp://h3/");
    assert_int_equal(consume_nodes_current(n), 0);
    consume_nodes_ok(n);                       /* consuming from node 1 */
    assert_true(consume_nodes_failed(n) == 0); /* node 1 lost: node 2 at once */
    assert_int_equal(consume_nodes_current(n), 1);
    assert_false(consume_nodes_all_failed(n));
    assert_true(consume_nodes_failed(n) == 0); /* node 2 down too: node 3 at once */
    assert_int_equal(consume_nodes_current(n), 2);
    assert_true(consume_nodes_failed(n) == 0.5); /* node 3 too: every node failed */
    assert_int_equal(consume_nodes_current(n), 0);
    assert_true(consume_nodes_all_failed(n));
    /* the next rounds: three attempts each, pauses 1, 2, then capped at 2 */
    double want[] = {0, 0, 1, 0, 0, 2, 0, 0, 2, 0, 0, 2};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_true(consume_nodes_failed(n) == want[i]);
        assert_int_equal(consume_nodes_current(n), (i + 1) % 3);
    }
    assert_int_equal(consume_nodes_failures(n), 15);
    /* node 1 answers: all is forgotten; its next loss moves on at once again */
    consume_nodes_ok(n);
    assert_int_equal(consume_nodes_failures(n), 0);
    assert_false(consume_nodes_all_failed(n));
    assert_true(consume_nodes_failed(n) == 0);
    assert_int_equal(consume_nodes_current(n), 1);
    assert_true(consume_nodes_failed(n) == 0);
    assert_true(consume_nodes_failed(n) == 0.5); /* the pause starts over too */
    consume_nodes_free(n);
}

/* One broker: a loss is a whole round (nothing else to try): the pause at once. */
static void test_nodes_single_broker_backs_off(void **st)
{
    (void)st;
    struct consume_nodes *n = make("amqp://h1/");
    consume_nodes_ok(n);
    assert_true(consume_nodes_failed(n) == 0.5);
    assert_true(consume_nodes_all_failed(n)); /* a command gives up here */
    assert_true(consume_nodes_failed(n) == 1);
    assert_true(consume_nodes_failed(n) == 2);
    assert_true(consume_nodes_failed(n) == 2);
    assert_int_equal(consume_nodes_current(n), 0);
    consume_nodes_free(n);
}

/* A cluster down for hours: every failure of the first three rounds is logged, then one
 * round in 30, so the log stays bounded (about three lines a minute at the 2 s cap). */
static void test_nodes_log_stays_bounded(void **st)
{
    (void)st;
    struct consume_nodes *n = make("amqp://h1/ amqp://h2/ amqp://h3/");
    consume_nodes_ok(n);
    unsigned logged = 0, first_rounds = 0;
    for (int i = 0; i < 3 * 300; i++) { /* 300 rounds */
        consume_nodes_failed(n);
        if (consume_nodes_should_log(n)) {
            logged++;
            if (i < 9)
                first_rounds++;
        }
    }
    assert_int_equal(first_rounds, 9);   /* every one of the first three rounds */
    assert_int_equal(logged, 9 + 3 * 9); /* then rounds 30, 60, ..., 270 */
    consume_nodes_ok(n);
    consume_nodes_failed(n);
    assert_true(consume_nodes_should_log(n)); /* after a success, the next loss is said */
    consume_nodes_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nodes_repeated_option_and_a_spaced_list),
        cmocka_unit_test(test_nodes_one_broker_is_named_by_its_address),
        cmocka_unit_test(test_nodes_bad_url_is_named_by_position_not_echoed),
        cmocka_unit_test(test_nodes_too_many),
        cmocka_unit_test(test_nodes_bad_pauses_refused),
        cmocka_unit_test(test_nodes_next_at_once_then_pause_per_round),
        cmocka_unit_test(test_nodes_single_broker_backs_off),
        cmocka_unit_test(test_nodes_log_stays_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
