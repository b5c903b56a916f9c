/* test_stats.c - the counter registry: every value in the stats line, /v1/stats and
 * /metrics from one list; families; a sink's typed counters; durations as durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/stats.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A sink that only reports counters: one of each kind. */
struct fake_sink {
    struct sink base;
    uint64_t sent;
};

static void fake_counters(struct sink *sk, counter_fn fn, void *data)
{
    struct fake_sink *f = (struct fake_sink *)sk;
    counter_total(fn, data, "fake_sent", COUNTER_UNIT_NONE, f->sent, "Changes sent.");
    counter_gauge(fn, data, "fake_queued", COUNTER_UNIT_BYTES, 7, "Bytes waiting.");
    counter_seconds(fn, data, "fake_lag_seconds", 16.877, "How far behind.");
    counter_info(fn, data, "fake_node", "amqp://guest@node \"2\"/", "The node in use.");
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
static struct fake_sink fake = {.base = {&fake_ops}, .sent = 41};
static struct sink *sinks[] = {&fake.base};

static struct stats_report report(void)
{
    return (struct stats_report){.stats = &s, .sinks = sinks, .n_sinks = 1};
}

static int setup(void **st)
{
    (void)st;
    memset(&s, 0, sizeof(s));
    s.datagrams = 504;
    s.outcomes[CHANGE_RAISE] = 4;
    s.refused[ALERT_XML_SYNTAX] = 2;
    s.forwarded = 4;
    s.active_alerts = 4;
    s.uptime_seconds = 12.3456;
    return 0;
}

static void test_stats_line_shows_what_it_should(void **st)
{
    (void)st;
    char line[2048];
    struct stats_report r = report();
    int n = stats_format_line(&r, line, sizeof(line));
    assert_int_equal(n, (int)strlen(line));
    assert_non_null(strstr(line, "datagrams=504 bytes=0 "));
    assert_non_null(strstr(line, " refused_syntax=2 ")); /* a family member, once non-zero */
    assert_null(strstr(line, "refused_doctype"));        /* zero: quiet */
    assert_null(strstr(line, "rate_limited"));           /* NONZERO and zero */
    assert_non_null(strstr(line, " raise=4 update=0 ")); /* outcomes always, bare */
    assert_non_null(strstr(line, " forwarded=4 "));
    assert_null(strstr(line, "published"));
    assert_non_null(strstr(line, " active_alerts=4 "));
    assert_null(strstr(line, "uptime")); /* NEVER */
    assert_non_null(strstr(line, " fake_sent=41 fake_queued=7 fake_lag_seconds=16.877 "
                                 "fake_node=amqp://guest@node \"2\"/"));
    /* Cut short, it says how long it would have been. */
    char small[16];
    assert_int_equal(stats_format_line(&r, small, sizeof(small)), n > 0 ? n : -1);
}

static void test_stats_json_has_every_value(void **st)
{
    (void)st;
    struct stats_report r = report();
    json_t *o = json_object();
    stats_json(&r, o);
    assert_int_equal(json_integer_value(json_object_get(o, "datagrams")), 504);
    assert_int_equal(json_integer_value(json_object_get(o, "forwarded")), 4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "outcomes"), "raise")),
                     4);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(o, "refused"), "syntax")),
                     2);
    assert_non_null(json_object_get(json_object_get(o, "auth_refused"), "replay"));
    assert_null(json_object_get(json_object_get(o, "refused"), "ok")); /* from index 1 */
    json_t *sk = json_object_get(o, "sink");
    assert_int_equal(json_integer_value(json_object_get(sk, "fake_sent")), 41);
    assert_string_equal(json_string_value(json_object_get(sk, "fake_node")),
                        "amqp://guest@node \"2\"/");
    /* Durations with ms precision, printed as such. */
    char *text = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    assert_non_null(strstr(text, "\"uptime_seconds\":12.346"));
    assert_non_null(strstr(text, "\"fake_lag_seconds\":16.877"));
    free(text);
    json_decref(o);
}

static void collect_name(const struct counter *c, void *data)
{
    char *names = data;
    strcat(names, c->name);
    strcat(names, " ");
}

/* Whether the Prometheus text has a sample line of metric name: injector_ or injector_sink_,
 * the name whole, then its suffix (_total, _info) if any, then a label set or the value.
 * (A search for "_<name>" alone passed for a missing "bytes" or "version": other metrics
 * end in those.) */
static bool has_metric(const char *text, const char *name)
{
    static const char *const prefix[] = {"injector_", "injector_sink_"};
    static const char *const suffix[] = {" ", "{", "_total ", "_total{", "_info{"};
    char want[160];
    for (size_t i = 0; i < 2; i++)
        for (size_t k = 0; k < sizeof(suffix) / sizeof(suffix[0]); k++) {
            snprintf(want, sizeof(want), "\n%s%s%s", prefix[i], name, suffix[k]);
            if (strstr(text, want) != NULL)
                return true;
        }
    return false;
}

/* Each value of the registry and the sink appears in the JSON and in /metrics. */
static void test_stats_every_value_reaches_every_view(void **st)
{
    (void)st;
    static char names[8192];
    names[0] = '\0';
    struct stats_report r = report();
    stats_foreach(&r, collect_name, names);
    json_t *o = json_object();
    stats_json(&r, o);
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    stats_prometheus(&r, f);
    fclose(f);
    for (char *save = NULL, *name = strtok_r(names, " ", &save); name != NULL;
         name = strtok_r(NULL, " ", &save)) {
        if (json_object_get(o, name) == NULL &&
            json_object_get(json_object_get(o, "sink"), name) == NULL)
            fail_msg("%s is not in the JSON", name);
        if (!has_metric(text, name))
            fail_msg("%s is not in /metrics", name);
    }
    /* The check itself: the tail of another metric's name is not a metric. */
    assert_true(has_metric(text, "intake_queued_bytes"));
    assert_false(has_metric(text, "queued_bytes"));
    json_decref(o);
    free(text);
}

/* The Prometheus text: HELP and TYPE once per metric, _total on counters, a family under
 * one name with a label, a sink's under injector_sink_, an info value as a label. */
static void test_stats_prometheus_text(void **st)
{
    (void)st;
    struct stats_report r = report();
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    stats_prometheus(&r, f);
    fclose(f);
    assert_non_null(strstr(text, "# HELP injector_datagrams_total Datagrams received on the "
                                 "UDP sockets.\n# TYPE injector_datagrams_total counter\n"
                                 "injector_datagrams_total 504\n"));
    assert_non_null(
        strstr(text, "# TYPE injector_active_alerts gauge\ninjector_active_alerts 4\n"));
    assert_non_null(strstr(text, "injector_outcomes_total{outcome=\"raise\"} 4\n"
                                 "injector_outcomes_total{outcome=\"update\"} 0\n"));
    const char *first = strstr(text, "# TYPE injector_outcomes_total");
    assert_non_null(first);
    assert_null(strstr(first + 1, "# TYPE injector_outcomes_total"));
    assert_non_null(strstr(text, "injector_uptime_seconds 12.346\n"));
    assert_non_null(strstr(text, "injector_sink_fake_sent_total 41\n"));
    assert_non_null(strstr(text, "# TYPE injector_sink_fake_queued gauge\n"));
    assert_non_null(strstr(text, "injector_sink_fake_lag_seconds 16.877\n"));
    assert_non_null(strstr(text, "injector_sink_fake_node_info{fake_node=\"amqp://guest@node "
                                 "\\\"2\\\"/\"} 1\n"));
    free(text);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup(name, setup)
    const struct CMUnitTest tests[] = {
        T(test_stats_line_shows_what_it_should),
        T(test_stats_json_has_every_value),
        T(test_stats_every_value_reaches_every_view),
        T(test_stats_prometheus_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
