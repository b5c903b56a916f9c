/* test_sink_log.c - the sinks' log helpers: one formatted line, and the limiter every sink
 * uses for a trouble that lasts (a burst, then one line a period with what was left out). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sink/sink_log.h"

#include <stdio.h>
#include <string.h>

static char last[2048];
static int last_level, lines;

static void test_log(int level, const char *msg)
{
    snprintf(last, sizeof(last), "%s", msg);
    last_level = level;
    lines++;
}

static void test_sink_log_say_formats_one_line_and_cuts_long_ones(void **st)
{
    (void)st;
    lines = 0;
    sink_log_say(test_log, SINK_LOG_WARNING, "journal: %s at byte %d", "a bad record", 42);
    assert_string_equal(last, "journal: a bad record at byte 42");
    assert_int_equal(last_level, SINK_LOG_WARNING);
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    sink_log_say(test_log, SINK_LOG_ERROR, "%s", big);
    assert_int_equal(strlen(last), 1023);
    sink_log_say(NULL, SINK_LOG_ERROR, "nobody listens"); /* no log function: nothing */
    assert_int_equal(lines, 2);
}

/* The first burst lines of a streak are said; then one per period, with the count of
 * those left out; a streak that ends says how many were left out and starts over. */
static void test_sink_log_limit_burst_then_one_a_period(void **st)
{
    (void)st;
    struct sink_log_limit l = SINK_LOG_LIMIT(3, 1000);
    uint64_t untold = 99;
    int64_t t = 5000;
    assert_false(sink_log_limit_active(&l));
    for (int i = 0; i < 3; i++) {
        assert_true(sink_log_limit_pass(&l, t, &untold));
        assert_int_equal(untold, 0);
    }
    assert_true(sink_log_limit_active(&l));
    /* a line every 10 ms for 10 s: 10 more lines said, one a second */
    unsigned said = 0;
    for (int i = 1; i <= 1000; i++)
        if (sink_log_limit_pass(&l, t + 10 * i, &untold)) {
            said++;
            assert_int_equal(untold, 99); /* the 99 left out since the one before */
        }
    assert_int_equal(said, 10);
    /* two more left out, then the trouble ends */
    assert_false(sink_log_limit_pass(&l, t + 10005, NULL));
    assert_false(sink_log_limit_pass(&l, t + 10006, NULL));
    assert_int_equal(sink_log_limit_end(&l), 2);
    assert_false(sink_log_limit_active(&l));
    /* a new streak: its burst again, at once */
    assert_true(sink_log_limit_pass(&l, t + 10007, &untold));
    assert_int_equal(untold, 0);
}

/* A limiter that never ends (the output's: one line per period whatever happens), and a
 * line said without asking (a stall's end), which the next waits a period after. */
static void test_sink_log_limit_said_counts_as_a_line(void **st)
{
    (void)st;
    struct sink_log_limit l = SINK_LOG_LIMIT(1, 10000);
    assert_true(sink_log_limit_pass(&l, 100, NULL));
    assert_false(sink_log_limit_pass(&l, 5000, NULL));
    sink_log_limit_said(&l, 9000);
    assert_false(
        sink_log_limit_pass(&l, 10100, NULL)); /* a period after the first, not the said one */
    assert_false(sink_log_limit_pass(&l, 18999, NULL));
    uint64_t untold = 0;
    assert_true(sink_log_limit_pass(&l, 19000, &untold));
    assert_int_equal(untold, 2);
    /* burst 0 is taken for 1: the first line of a streak is always said */
    struct sink_log_limit z = SINK_LOG_LIMIT(0, 1000);
    assert_true(sink_log_limit_pass(&z, 0, NULL));
    assert_false(sink_log_limit_pass(&z, 1, NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink_log_say_formats_one_line_and_cuts_long_ones),
        cmocka_unit_test(test_sink_log_limit_burst_then_one_a_period),
        cmocka_unit_test(test_sink_log_limit_said_counts_as_a_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
