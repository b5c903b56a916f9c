/* test_history.c - the counter history behind /v1/history: rates over the real step,
 * rounding, sums, gauges, the ring wrapping at 360, counters that start again, the JSON. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/history.h"

#include <stdlib.h>
#include <string.h>

/* A sink reporting what the journal and the outputs report about loss and lag. */
struct fake_sink {
    struct sink base;
    uint64_t journal_lost, output_lost, lag_changes;
    double lag_seconds;
};

static void fake_counters(struct sink *sk, counter_fn fn, void *data)
{
    struct fake_sink *f = (struct fake_sink *)sk;
    counter_total(fn, data, "journal_lost", COUNTER_UNIT_NONE, f->journal_lost, "lost");
    counter_info(fn, data, "amqp_node", "mq1:5672", "The node in use.");
    counter_total(fn, data, "output_lost", COUNTER_UNIT_NONE, f->output_lost, "lost");
    counter_gauge(fn, data, "lag_changes", COUNTER_UNIT_NONE, f->lag_changes, "lag");
    counter_seconds(fn, data, "lag_seconds", f->lag_seconds, "lag");
}

static int fake_write(struct sink *sk, const struct change *c, const char *json, size_t len)
{
    (void)sk, (void)c, (void)json, (void)len;
    return 0;
}

static void fake_free(struct sink *sk)
{
    (void)sk;
}

static const struct sink_ops fake_ops = {
    .name = "fake", .write = fake_write, .counters = fake_counters, .free = fake_free};

static struct stats s;
static struct fake_sink fake;
static struct sink *sinks[] = {&fake.base};
static struct history *h;

/* The fake clocks: monotonic ms, and the wall clock 2026-11-30 15:00:00 UTC at start. */
static int64_t mono;
#define WALL0 1764514800000LL

static void sample(void)
{
    struct stats_report r = {.stats = &s, .sinks = sinks, .n_sinks = 1};
    history_sample(h, &r, mono, WALL0 + mono);
}

static int setup(void **st)
{
    (void)st;
    memset(&s, 0, sizeof(s));
    fake = (struct fake_sink){.base = {&fake_ops}};
    mono = 5000;
    assert_int_equal(history_new(&(struct history_config){.step_s = 10}, &h), 0);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    history_free(h);
    h = NULL;
    return 0;
}

static json_t *doc(void)
{
    json_t *o = history_json(h);
    assert_non_null(o);
    return o;
}

/* Point k (from the oldest) of a series, "changes.raise" for an outcome. */
static double point(json_t *o, const char *key, const char *outcome, size_t k)
{
    json_t *v = json_object_get(json_object_get(o, "series"), key);
    if (outcome != NULL)
        v = json_object_get(v, outcome);
    assert_true(json_is_array(v));
    assert_true(k < json_array_size(v));
    assert_true(json_is_number(json_array_get(v, k)));
    return json_number_value(json_array_get(v, k));
}

static void assert_close(double got, double want)
{
    if (got < want - 1e-9 || got > want + 1e-9)
        fail_msg("%.17g, expected %.17g", got, want);
}

static void test_history_first_sample_is_only_the_baseline(void **st)
{
    (void)st;
    s.datagrams = 1000; /* counted before the history started: not a rate of anything */
    sample();
    assert_int_equal(history_points(h), 0);
    json_t *o = doc();
    assert_int_equal(json_integer_value(json_object_get(o, "points")), 0);
    assert_int_equal(json_array_size(json_object_get(o, "t")), 0);
    assert_int_equal(json_array_size(json_object_get(json_object_get(o, "series"), "datagrams")),
                     0);
    json_decref(o);

    mono += 10000;
    s.datagrams += 50;
    sample();
    assert_int_equal(history_points(h), 1);
    o = doc();
    assert_close(point(o, "datagrams", NULL, 0), 5.0);
    json_decref(o);
}

static void test_history_rates_are_per_second_over_the_real_step(void **st)
{
    (void)st;
    sample();
    mono += 10000;
    s.datagrams += 1205;
    s.outcomes[CHANGE_RAISE] += 31;
    s.outcomes[CHANGE_DUPLICATE] += 1174;
    s.outcomes[CHANGE_REDUNDANT_CLEAR] += 99; /* not forwarded: in no series */
    s.kernel_drops += 20;
    sample();
    /* The timer ran 2.5 s late (a busy loop): the same count over 12.5 s. */
    mono += 12500;
    s.datagrams += 1000;
    sample();
    json_t *o = doc();
    assert_close(point(o, "datagrams", NULL, 0), 120.5);
    assert_close(point(o, "changes", "raise", 0), 3.1);
    assert_close(point(o, "changes", "update", 0), 0);
    assert_close(point(o, "duplicates", NULL, 0), 117.4);
    assert_close(point(o, "kernel_drops", NULL, 0), 2.0);
    assert_close(point(o, "datagrams", NULL, 1), 80.0);
    assert_close(point(o, "changes", "raise", 1), 0);
    json_t *t = json_object_get(o, "t");
    assert_int_equal(json_integer_value(json_array_get(t, 0)), 1764514815);
    assert_int_equal(json_integer_value(json_array_get(t, 1)), 1764514828); /* 27.5 s: nearest */
    json_decref(o);
}

static void test_history_rounds_to_a_tenth(void **st)
{
    (void)st;
    sample();
    uint64_t adds[] = {1, 2, 1, 0, 7};
    for (size_t i = 0; i < sizeof(adds) / sizeof(adds[0]); i++) {
        mono += i == 2 ? 4000 : 3000;
        s.datagrams += adds[i];
        sample();
    }
    json_t *o = doc();
    assert_close(point(o, "datagrams", NULL, 0), 0.3); /* 1/3 */
    assert_close(point(o, "datagrams", NULL, 1), 0.7); /* 2/3 */
    assert_close(point(o, "datagrams", NULL, 2), 0.3); /* 1/4 = 0.25: half away from 0 */
    assert_close(point(o, "datagrams", NULL, 3), 0);   /* nothing */
    assert_close(point(o, "datagrams", NULL, 4), 2.3); /* 7/3 */
    char *text = json_dumps(json_object_get(json_object_get(o, "series"), "datagrams"),
                            JSON_COMPACT | JSON_REAL_PRECISION(15));
    assert_string_equal(text, "[0.3,0.7,0.3,0,2.3]"); /* as the API prints them */
    free(text);
    json_decref(o);
}

static void test_history_refused_and_lost_are_sums_of_their_counters(void **st)
{
    (void)st;
    sample();
    mono += 10000;
    s.malformed += 3;
    s.invalid += 7;
    s.rejected_acl += 4; /* every refusal, whichever check made it */
    s.rate_limited += 3;
    s.refused_full += 2;
    s.auth_refused[AUTH_BAD_MAC] += 1;
    s.nomem += 2;
    s.shutdown_unread += 3;
    fake.journal_lost += 10;
    fake.output_lost += 5;
    s.kernel_drops += 500; /* its own series, not in lost */
    sample();
    json_t *o = doc();
    assert_close(point(o, "refused", NULL, 0), 2.0);
    assert_close(point(o, "lost", NULL, 0), 2.0);
    json_decref(o);
}

/* Every reason the signature check refuses for, whichever reasons enum auth_reason has
 * (history.h names the family, not its members): each lands in refused, once. */
static void test_history_refused_takes_every_auth_reason(void **st)
{
    (void)st;
    sample();
    mono += 10000;
    double want = 0;
    for (int r = AUTH_ACCEPT + 1; r < AUTH_REASON_COUNT; r++) {
        s.auth_refused[r] += 10u * (unsigned)r; /* distinct: a reason counted twice shows */
        want += r;
    }
    sample();
    json_t *o = doc();
    assert_close(point(o, "refused", NULL, 0), want);
    assert_close(point(o, "lost", NULL, 0), 0);
    json_decref(o);
}

static void test_history_gauges_are_the_value_at_the_step_end(void **st)
{
    (void)st;
    fake.lag_changes = 1000;
    sample();
    mono += 10000;
    fake.lag_changes = 4;
    fake.lag_seconds = 0.213;
    sample();
    mono += 10000;
    fake.lag_changes = 4; /* unchanged: still 4, not a rate of 0 */
    fake.lag_seconds = 0;
    sample();
    json_t *o = doc();
    assert_close(point(o, "lag_changes", NULL, 0), 4);
    assert_close(point(o, "lag_seconds", NULL, 0), 0.2);
    assert_close(point(o, "lag_changes", NULL, 1), 4);
    assert_close(point(o, "lag_seconds", NULL, 1), 0);
    json_decref(o);
}

static void test_history_ring_keeps_the_last_360(void **st)
{
    (void)st;
    sample();
    /* Step k (1..365) carries 10*k datagrams: a rate of k per second. */
    for (int k = 1; k <= HISTORY_POINTS + 5; k++) {
        mono += 10000;
        s.datagrams += 10 * (uint64_t)k;
        sample();
        assert_int_equal(history_points(h), k < HISTORY_POINTS ? k : HISTORY_POINTS);
    }
    json_t *o = doc();
    assert_int_equal(json_integer_value(json_object_get(o, "points")), HISTORY_POINTS);
    json_t *t = json_object_get(o, "t");
    assert_int_equal(json_array_size(t), HISTORY_POINTS);
    for (size_t i = 0; i < HISTORY_POINTS; i++) {
        /* The oldest kept is step 6; each t is the step's end, 10 s apart. */
        assert_close(point(o, "datagrams", NULL, i), (double)(i + 6));
        assert_int_equal(json_integer_value(json_array_get(t, i)),
                         (WALL0 + 5000) / 1000 + 10 * (json_int_t)(i + 6));
    }
    json_decref(o);
}

static void test_history_counter_that_starts_again_counts_from_zero(void **st)
{
    (void)st;
    fake.output_lost = 50;
    s.datagrams = 100;
    sample();
    mono += 10000;
    fake.output_lost = 5; /* the sink was made anew: its count starts again */
    s.datagrams = 130;
    sample();
    mono += 10000;
    fake.output_lost = 25;
    s.datagrams = 150;
    sample();
    json_t *o = doc();
    assert_close(point(o, "lost", NULL, 0), 0.5); /* the 5 since it started again */
    assert_close(point(o, "lost", NULL, 1), 2.0);
    assert_close(point(o, "datagrams", NULL, 0), 3.0);
    assert_close(point(o, "datagrams", NULL, 1), 2.0);
    json_decref(o);
}

static void test_history_no_time_elapsed_adds_no_point(void **st)
{
    (void)st;
    sample();
    s.datagrams += 10;
    sample(); /* the same monotonic ms: no rate to compute */
    assert_int_equal(history_points(h), 0);
    mono += 10000;
    sample();
    assert_int_equal(history_points(h), 1);
    json_t *o = doc();
    assert_close(point(o, "datagrams", NULL, 0), 1.0); /* the 10 are in the step that ended */
    json_decref(o);
}

/* The document's shape (SPEC16 contract B): its keys in order, every series an array as
 * long as t, changes an object of one array per forwarded outcome. */
static void test_history_json_shape(void **st)
{
    (void)st;
    sample();
    for (int k = 0; k < 3; k++) {
        mono += 10000;
        s.datagrams += 5;
        sample();
    }
    json_t *o = doc();
    const char *top[] = {"step_seconds", "points", "t", "series"};
    size_t i = 0;
    for (void *it = json_object_iter(o); it != NULL; it = json_object_iter_next(o, it), i++) {
        assert_true(i < 4);
        assert_string_equal(json_object_iter_key(it), top[i]);
    }
    assert_int_equal(i, 4);
    assert_int_equal(json_integer_value(json_object_get(o, "step_seconds")), 10);
    assert_int_equal(json_integer_value(json_object_get(o, "points")), 3);
    assert_true(json_is_integer(json_array_get(json_object_get(o, "t"), 0)));

    const char *keys[] = {"datagrams", "changes", "duplicates",  "kernel_drops",
                          "refused",   "lost",    "lag_changes", "lag_seconds"};
    json_t *series = json_object_get(o, "series");
    i = 0;
    for (void *it = json_object_iter(series); it != NULL;
         it = json_object_iter_next(series, it), i++) {
        assert_true(i < 8);
        assert_string_equal(json_object_iter_key(it), keys[i]);
        json_t *v = json_object_iter_value(it);
        if (strcmp(keys[i], "changes") == 0)
            continue;
        assert_true(json_is_array(v));
        assert_int_equal(json_array_size(v), 3);
    }
    assert_int_equal(i, 8);
    json_t *changes = json_object_get(series, "changes");
    size_t forwarded = 0;
    for (int c = 0; c < CHANGE_OUTCOME_COUNT; c++) {
        json_t *v = json_object_get(changes, change_outcome_name((enum change_outcome)c));
        if (!change_outcome_forwarded((enum change_outcome)c)) {
            assert_null(v);
            continue;
        }
        forwarded++;
        assert_true(json_is_array(v));
        assert_int_equal(json_array_size(v), 3);
    }
    assert_int_equal(json_object_size(changes), forwarded);
    for (const char *const *n = (const char *const[]){"raise", "update", "clear", "expire", NULL};
         *n; n++)
        assert_non_null(json_object_get(changes, *n));

    char *text = json_dumps(json_object_get(series, "datagrams"), JSON_COMPACT);
    assert_string_equal(text, "[0.5,0.5,0.5]");
    free(text);
    text = json_dumps(json_object_get(series, "lag_changes"), JSON_COMPACT);
    assert_string_equal(text, "[0,0,0]"); /* whole numbers as integers */
    free(text);
    json_decref(o);
}

static void test_history_step_defaults_to_10(void **st)
{
    (void)st;
    struct history *other;
    assert_int_equal(history_new(&(struct history_config){0}, &other), 0);
    json_t *o = history_json(other);
    assert_int_equal(json_integer_value(json_object_get(o, "step_seconds")), HISTORY_STEP_S);
    json_decref(o);
    history_free(other);
    history_free(NULL);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_history_first_sample_is_only_the_baseline),
        T(test_history_rates_are_per_second_over_the_real_step),
        T(test_history_rounds_to_a_tenth),
        T(test_history_refused_and_lost_are_sums_of_their_counters),
        T(test_history_refused_takes_every_auth_reason),
        T(test_history_gauges_are_the_value_at_the_step_end),
        T(test_history_ring_keeps_the_last_360),
        T(test_history_counter_that_starts_again_counts_from_zero),
        T(test_history_no_time_elapsed_adds_no_point),
        T(test_history_json_shape),
        T(test_history_step_defaults_to_10),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
