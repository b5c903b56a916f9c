/* test_amqp_nodes.c - the broker nodes of a cluster, as the publisher and injector-consume
 * use them: the URLs taken, the names said, which node comes next, how long to wait, and
 * how much is said about the trouble. No sockets: the test says which attempts failed and
 * which served, as the callers do. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sink/amqp_nodes.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

static struct amqp_nodes *make(const char *urls)
{
    struct amqp_nodes *n;
    char err[256];
    assert_int_equal(amqp_nodes_new(&n), 0);
    if (urls != NULL)
        assert_int_equal(amqp_nodes_add(n, urls, err, sizeof(err)), 0);
    return n;
}

static void test_nodes_repeated_option_and_a_spaced_list(void **st)
{
    (void)st;
    struct amqp_nodes *n = make("amqp://guest:secret@10.0.0.1:5672/");
    char err[256];
    assert_int_equal(
        amqp_nodes_add(n, " amqp://u@mq2:5673/v  amqps://u:pw@[::1]:5671 ", err, sizeof(err)), 0);
    assert_int_equal(amqp_nodes_count(n), 3);
    assert_string_equal(amqp_nodes_url(n, 0), "amqp://guest:secret@10.0.0.1:5672/");
    assert_string_equal(amqp_nodes_url(n, 1), "amqp://u@mq2:5673/v");
    assert_string_equal(amqp_nodes_url(n, 2), "amqps://u:pw@[::1]:5671");
    /* names say which node and where, never who or the password */
    assert_string_equal(amqp_nodes_name(n, 0), "node 1 (10.0.0.1:5672)");
    assert_string_equal(amqp_nodes_name(n, 1), "node 2 (mq2:5673)");
    assert_string_equal(amqp_nodes_name(n, 2), "node 3 ([::1]:5671)");
    assert_string_equal(amqp_nodes_where(n, 2), "[::1]:5671");
    /* the URL as the publisher's log shows it: without its password */
    assert_string_equal(amqp_nodes_shown(n, 0), "amqp://guest@10.0.0.1:5672/");
    assert_string_equal(amqp_nodes_shown(n, 2), "amqps://u@[::1]:5671");
    assert_null(amqp_nodes_url(n, 3));
    assert_string_equal(amqp_nodes_name(n, 3), "");
    amqp_nodes_free(n);
}

static void test_nodes_one_broker_is_named_by_its_address(void **st)
{
    (void)st;
    struct amqp_nodes *n = make("amqp://guest:guest@127.0.0.1/");
    assert_string_equal(amqp_nodes_name(n, 0), "127.0.0.1:5672"); /* the default port */
    assert_string_equal(amqp_nodes_where(n, 0), "127.0.0.1:5672");
    amqp_nodes_free(n);
}

static void test_nodes_bad_url_is_named_by_position_not_echoed(void **st)
{
    (void)st;
    struct amqp_nodes *n = make("amqp://a@h1/");
    char err[256];
    assert_int_equal(amqp_nodes_add(n, "http://user:hunter2@h2/", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "broker URL 2 is not amqp[s]://"));
    assert_null(strstr(err, "hunter2"));
    assert_int_equal(amqp_nodes_count(n), 1);
    assert_int_equal(amqp_nodes_add(n, "   ", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "empty"));
    /* a list with a bad URL in it adds none of it */
    assert_int_equal(amqp_nodes_add(n, "amqp://h2/ nope amqp://h3/", err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "broker URL 3 is not"));
    assert_int_equal(amqp_nodes_count(n), 1);
    assert_string_equal(amqp_nodes_name(n, 0), "h1:5672"); /* still the single broker's name */
    amqp_nodes_free(n);
}

static void test_nodes_too_many(void **st)
{
    (void)st;
    struct amqp_nodes *n = make(NULL);
    char err[256];
    for (int i = 0; i < AMQP_NODES_MAX; i++)
        assert_int_equal(amqp_nodes_add(n, "amqp://h/", err, sizeof(err)), 0);
    assert_int_equal(amqp_nodes_add(n, "amqp://h/", err, sizeof(err)), -E2BIG);
    assert_int_equal(amqp_nodes_count(n), AMQP_NODES_MAX);
    amqp_nodes_free(n);
    amqp_nodes_free(NULL);
}

/* A lost node gives way to the next at once; only a whole round of failures pauses, from
 * 0.25 s doubling to 1 s (a node that is back is found within a second). */
static void test_nodes_next_at_once_then_pause_per_round(void **st)
{
    (void)st;
    struct amqp_nodes *n = make("amqp://h1/ amqp://h2/ amqp://h3/");
    assert_int_equal(amqp_nodes_current(n), 0);
    amqp_nodes_ok(n);                          /* consuming from node 1 */
    assert_int_equal(amqp_nodes_failed(n), 0); /* node 1 lost: node 2 at once */
    assert_int_equal(amqp_nodes_current(n), 1);
    assert_false(amqp_nodes_all_failed(n));
    assert_int_equal(amqp_nodes_failed(n), 0); /* node 2 down too: node 3 at once */
    assert_int_equal(amqp_nodes_current(n), 2);
    assert_int_equal(amqp_nodes_failed(n), 250); /* node 3 too: every node failed */
    assert_int_equal(amqp_nodes_current(n), 0);
    assert_true(amqp_nodes_all_failed(n));
    /* the next rounds: three attempts each, pauses 0.5 s, 1 s, then capped at 1 s */
    int want[] = {0, 0, 500, 0, 0, 1000, 0, 0, 1000, 0, 0, 1000};
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        assert_int_equal(amqp_nodes_failed(n), want[i]);
        assert_int_equal(amqp_nodes_current(n), (i + 1) % 3);
    }
    assert_int_equal(amqp_nodes_failures(n), 15);
    /* node 1 serves: all is forgotten; its next loss moves on at once again */
    amqp_nodes_ok(n);
    assert_int_equal(amqp_nodes_failures(n), 0);
    assert_false(amqp_nodes_all_failed(n));
    assert_int_equal(amqp_nodes_failed(n), 0);
    assert_int_equal(amqp_nodes_current(n), 1);
    assert_int_equal(amqp_nodes_failed(n), 0);
    assert_int_equal(amqp_nodes_failed(n), 250); /* the pause starts over too */
    amqp_nodes_free(n);
}

/* One broker: a loss is a whole round (nothing else to try): the pause at once. */
static void test_nodes_single_broker_backs_off(void **st)
{
    (void)st;
    struct amqp_nodes *n = make("amqp://h1/");
    amqp_nodes_ok(n);
    assert_int_equal(amqp_nodes_failed(n), 250);
    assert_true(amqp_nodes_all_failed(n)); /* a command gives up here */
    assert_int_equal(amqp_nodes_failed(n), 500);
    assert_int_equal(amqp_nodes_failed(n), 1000);
    assert_int_equal(amqp_nodes_failed(n), 1000);
    assert_int_equal(amqp_nodes_current(n), 0);
    amqp_nodes_free(n);
}

/* The publisher's case: a node that takes every connection and refuses every change (a
 * quorum queue without its majority nacks). Connecting is not a success (only a confirm
 * is), so the caller does not call amqp_nodes_ok: each lost connection counts, and ten
 * seconds of it are about a dozen attempts, not a tight loop. */
static void test_nodes_a_node_that_takes_connections_but_no_change_is_backed_off_from(void **st)
{
    (void)st;
    struct amqp_nodes *n = make("amqp://h1/");
    int attempts = 0, waited = 0;
    while (waited < 10000) {
        attempts++;                     /* connected, published, nacked: lost */
        waited += amqp_nodes_failed(n); /* no amqp_nodes_ok: nothing was confirmed */
    }
    assert_true(attempts <= 15);
    assert_true(attempts >= 8); /* yet tried again about every second */
    /* once the broker confirms something, the next loss is a fresh start */
    amqp_nodes_ok(n);
    assert_int_equal(amqp_nodes_failed(n), 250);
    amqp_nodes_free(n);
}

/* A cluster down for hours: the first six lines of the streak are said, then one a
 * minute (with how many were left out); the success that ends it tells how many lines
 * were left out since the last, and the next trouble is said in full again. */
static void test_nodes_log_stays_bounded(void **st)
{
    (void)st;
    struct amqp_nodes *n = make("amqp://h1/ amqp://h2/ amqp://h3/");
    int64_t t = 1000000; /* ms, monotonic */
    unsigned said = 0, first = 0;
    uint64_t untold, left_out = 0;
    for (int i = 0; i < 3 * 3600; i++) { /* an hour of rounds, one a second */
        if (amqp_nodes_failed(n) > 0)
            t += 1000;
        if (amqp_nodes_may_say(n, t, &untold)) {
            said++;
            first += i < AMQP_NODES_TOLD;
            left_out += untold;
        }
    }
    assert_int_equal(first, AMQP_NODES_TOLD);
    assert_true(said <= AMQP_NODES_TOLD + 61); /* then one a minute */
    assert_true(said >= AMQP_NODES_TOLD + 59);
    uint64_t rest = amqp_nodes_ok(n);
    assert_true(rest > 0);
    assert_int_equal(said + left_out + rest, 3 * 3600); /* every line said or counted */
    assert_int_equal(amqp_nodes_ok(n), 0);              /* nothing more to tell */
    amqp_nodes_failed(n);
    assert_true(amqp_nodes_may_say(n, t + 1, &untold)); /* after a success, said at once */
    assert_int_equal(untold, 0);
    amqp_nodes_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nodes_repeated_option_and_a_spaced_list),
        cmocka_unit_test(test_nodes_one_broker_is_named_by_its_address),
        cmocka_unit_test(test_nodes_bad_url_is_named_by_position_not_echoed),
        cmocka_unit_test(test_nodes_too_many),
        cmocka_unit_test(test_nodes_next_at_once_then_pause_per_round),
        cmocka_unit_test(test_nodes_single_broker_backs_off),
        cmocka_unit_test(test_nodes_a_node_that_takes_connections_but_no_change_is_backed_off_from),
        cmocka_unit_test(test_nodes_log_stays_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
