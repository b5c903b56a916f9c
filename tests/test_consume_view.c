/* test_consume_view.c - the consumer's exact view: snapshot, in-order changes, gaps,
 * restarts (new series, new id), collectors it does not know, unreachable collectors.
 * The snapshot fetch is a seam: canned /v1/alerts documents instead of HTTP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tools/consume_view.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define E1 "00000000000000e1"
#define E2 "00000000000000e2"

struct fake {
    const char *docs[8]; /* answers, in order; NULL: unreachable */
    int next, fetches;
    char emitted[8192];
    int n_emitted;
};

static int fetch(const char *url, json_t **doc, char *err, size_t errlen, void *data)
{
    struct fake *f = data;
    (void)url;
    f->fetches++;
    const char *d = f->next < 8 ? f->docs[f->next++] : NULL;
    if (d == NULL) {
        snprintf(err, errlen, "unreachable");
        return -1;
    }
    *doc = json_loads(d, 0, NULL);
    return *doc != NULL ? 0 : -1;
}

static void emit(const char *line, size_t len, void *data)
{
    struct fake *f = data;
    size_t used = strlen(f->emitted);
    snprintf(f->emitted + used, sizeof(f->emitted) - used, "%.*s\n", (int)len, line);
    f->n_emitted++;
}

static void apply(struct view *v, const char *json)
{
    view_apply(v, json, strlen(json));
}

static struct view *make(struct fake *f, size_t n_urls)
{
    static const char *const urls[] = {"http://c1/v1/alerts", "http://c2/v1/alerts"};
    struct view_config cfg = {
        .urls = urls, .n_urls = n_urls, .fetch = fetch, .emit = emit, .data = f};
    struct view *v;
    assert_int_equal(view_new(&cfg, &v), 0);
    return v;
}

/* Whether the view holds (collector, host, component) at version ver. */
static bool has(const struct view *v, const char *col, const char *host, long long ver)
{
    json_t *doc = view_to_json(v, 0);
    size_t i;
    json_t *a;
    bool found = false;
    json_array_foreach(json_object_get(doc, "alerts"), i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "collector")), col) == 0 &&
            strcmp(json_string_value(json_object_get(a, "host")), host) == 0 &&
            json_integer_value(json_object_get(a, "version")) == ver)
            found = true;
    }
    json_decref(doc);
    return found;
}

static void test_view_snapshot_then_changes_in_order(void **st)
{
    (void)st;
    struct fake f = {.docs = {"{\"version\":2,\"epoch\":\"" E1
                              "\",\"collector\":\"c1\",\"alerts\":["
                              "{\"version\":1,\"host\":\"a\",\"component\":\"x\",\"severity\":3},"
                              "{\"version\":2,\"host\":\"b\",\"component\":\"x\"}]}"}};
    struct view *v = make(&f, 1);
    assert_int_equal(view_sync(v), 0);
    assert_int_equal(view_count(v), 2);
    assert_int_equal(f.n_emitted, 2); /* the starting table, as made-up raises */
    assert_non_null(strstr(f.emitted, "\"outcome\":\"raise\",\"resync\":true"));
    /* Queued before the snapshot was taken: already in it. */
    apply(v, "{\"outcome\":\"clear\",\"version\":2,\"collector\":\"c1\",\"epoch\":\"" E1
             "\",\"host\":\"b\",\"component\":\"x\"}");
    assert_int_equal(view_count(v), 2);
    apply(v, "{\"outcome\":\"raise\",\"version\":3,\"collector\":\"c1\",\"epoch\":\"" E1
             "\",\"host\":\"c\",\"component\":\"x\",\"severity\":1}");
    apply(v, "{\"outcome\":\"update\",\"version\":4,\"collector\":\"c1\",\"epoch\":\"" E1
             "\",\"host\":\"a\",\"component\":\"x\",\"severity\":2}");
    apply(v, "{\"outcome\":\"expire\",\"version\":5,\"collector\":\"c1\",\"epoch\":\"" E1
             "\",\"host\":\"b\",\"component\":\"x\"}");
    assert_int_equal(view_count(v), 2);
    assert_true(has(v, "c1", "a", 4));
    assert_true(has(v, "c1", "c", 3));
    /* A redelivery of an applied change changes nothing. */
    apply(v, "{\"outcome\":\"raise\",\"version\":3,\"collector\":\"c1\",\"epoch\":\"" E1
             "\",\"host\":\"c\",\"component\":\"x\",\"severity\":9}");
    assert_true(has(v, "c1", "c", 3));
    const struct view_stats *s = view_get_stats(v);
    assert_int_equal(s->applied, 3);
    assert_int_equal(s->skipped, 2);
    assert_int_equal(s->gaps, 0);
    assert_int_equal(f.fetches, 1);
    /* Sorted by severity: c (1) before a (2). */
    json_t *doc = view_to_json(v, 0);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(doc, "alerts"), 0), "host")),
                        "c");
    json_decref(doc);
    view_free(v);
}

static void test_view_gap_resyncs_and_reports_the_difference(void **st)
{
    (void)st;
    struct fake f = {
        .docs = {"{\"version\":2,\"epoch\":\"" E1 "\",\"collector\":\"c1\",\"alerts\":["
                 "{\"version\":1,\"host\":\"a\",\"component\":\"x\"},"
                 "{\"version\":2,\"host\":\"b\",\"component\":\"x\"}]}",
                 "{\"version\":9,\"epoch\":\"" E1 "\",\"collector\":\"c1\",\"alerts\":["
                 "{\"version\":1,\"host\":\"a\",\"component\":\"x\"},"
                 "{\"version\":8,\"host\":\"d\",\"component\":\"x\"}]}"}};
    struct view *v = make(&f, 1);
    view_sync(v);
    f.emitted[0] = '\0';
    f.n_emitted = 0;
    /* 3..6 never arrive. */
    apply(v, "{\"outcome\":\"raise\",\"version\":7,\"collector\":\"c1\",\"epoch\":\"" E1
             "\",\"host\":\"z\",\"component\":\"x\"}");
    assert_int_equal(f.fetches, 2);
    assert_int_equal(view_count(v), 2);
    assert_true(has(v, "c1", "a", 1));
    assert_true(has(v, "c1", "d", 8));
    assert_false(has(v, "c1", "z", 7)); /* older than the snapshot: not applied */
    /* The difference as lines: d raised, b cleared; a untouched. */
    assert_int_equal(f.n_emitted, 2);
    assert_non_null(strstr(f.emitted, "\"outcome\":\"raise\",\"resync\":true,\"collector\":\"c1\","
                                      "\"version\":8"));
    assert_non_null(strstr(f.emitted, "\"outcome\":\"clear\",\"resync\":true,\"collector\":\"c1\","
                                      "\"version\":2"));
    apply(v, "{\"outcome\":\"clear\",\"version\":10,\"collector\":\"c1\",\"epoch\":\"" E1
             "\",\"host\":\"d\",\"component\":\"x\"}");
    assert_int_equal(view_count(v), 1);
    const struct view_stats *s = view_get_stats(v);
    assert_int_equal(s->gaps, 1);
    assert_int_equal(s->resyncs, 1);
    view_free(v);
}

static void test_view_new_series_and_new_id(void **st)
{
    (void)st;
    const char *e2 = "{\"version\":1,\"epoch\":\"" E2 "\",\"collector\":\"c1\",\"alerts\":["
                     "{\"version\":1,\"host\":\"new\",\"component\":\"x\"}]}";
    struct fake f = {
        .docs = {"{\"version\":50,\"epoch\":\"" E1 "\",\"collector\":\"c1\",\"alerts\":["
                 "{\"version\":50,\"host\":\"old\",\"component\":\"x\"}]}",
                 e2, /* restarted without its snapshot: numbering from 1 again */
                 e2,
                 /* then under another id */
                 "{\"version\":1,\"epoch\":\"" E1 "\",\"collector\":\"c9\",\"alerts\":["
                 "{\"version\":1,\"host\":\"nine\",\"component\":\"x\"}]}"}};
    struct view *v = make(&f, 1);
    view_sync(v);
    apply(v, "{\"outcome\":\"raise\",\"version\":1,\"collector\":\"c1\",\"epoch\":\"" E2
             "\",\"host\":\"new\",\"component\":\"x\"}");
    assert_int_equal(f.fetches, 2);
    assert_int_equal(view_count(v), 1);
    assert_true(has(v, "c1", "new", 1));
    /* The old series still draining from the queue: one look at the collector, then its
     * changes are skipped without asking again. */
    apply(v, "{\"outcome\":\"raise\",\"version\":51,\"collector\":\"c1\",\"epoch\":\"" E1
             "\",\"host\":\"late\",\"component\":\"x\"}");
    apply(v, "{\"outcome\":\"raise\",\"version\":52,\"collector\":\"c1\",\"epoch\":\"" E1
             "\",\"host\":\"later\",\"component\":\"x\"}");
    assert_int_equal(f.fetches, 3);
    assert_int_equal(view_count(v), 1);
    assert_int_equal(view_get_stats(v)->skipped, 3);
    /* A change from an id nobody has: the collectors are asked again; c1 became c9. */
    apply(v, "{\"outcome\":\"raise\",\"version\":2,\"collector\":\"c9\",\"epoch\":\"" E1
             "\",\"host\":\"nine2\",\"component\":\"x\"}");
    assert_int_equal(f.fetches, 4);
    assert_true(has(v, "c9", "nine", 1));
    assert_true(has(v, "c9", "nine2", 2));
    assert_false(has(v, "c1", "new", 1));
    assert_int_equal(view_count(v), 2);
    view_free(v);
}

static void test_view_foreign_collector_and_unreachable(void **st)
{
    (void)st;
    struct fake f = {
        .docs = {NULL, /* first attempt: unreachable */
                 "{\"version\":1,\"epoch\":\"" E1 "\",\"collector\":\"c1\",\"alerts\":[]}",
                 "{\"version\":1,\"epoch\":\"" E1 "\",\"collector\":\"c1\",\"alerts\":[]}"}};
    struct view *v = make(&f, 1);
    assert_int_equal(view_sync(v), 1);
    json_t *doc = view_to_json(v, 0);
    assert_true(json_is_false(
        json_object_get(json_array_get(json_object_get(doc, "collectors"), 0), "synced")));
    json_decref(doc);
    assert_int_equal(view_sync(v), 0);
    /* An id no URL serves: one round of asking, then counted without asking again. */
    apply(v, "{\"outcome\":\"raise\",\"version\":1,\"collector\":\"zz\",\"host\":\"h\","
             "\"component\":\"x\"}");
    apply(v, "{\"outcome\":\"raise\",\"version\":2,\"collector\":\"zz\",\"host\":\"h\","
             "\"component\":\"x\"}");
    assert_int_equal(f.fetches, 3);
    assert_int_equal(view_get_stats(v)->foreign, 2);
    assert_int_equal(view_count(v), 0);
    /* Not a change at all. */
    apply(v, "not json");
    apply(v, "{\"outcome\":\"duplicate\",\"version\":3,\"collector\":\"c1\",\"host\":\"h\","
             "\"component\":\"x\"}");
    assert_int_equal(view_get_stats(v)->malformed, 2);
    view_free(v);
}

/* Invented collector ids cannot make the consumer ask the collectors for each one, and an
 * unreachable collector is not asked once per change. */
static void test_view_invented_ids_and_down_collector_cost_bounded(void **st)
{
    (void)st;
    struct fake f = {
        .docs = {"{\"version\":1,\"epoch\":\"" E1 "\",\"collector\":\"c1\",\"alerts\":[]}"}};
    struct view *v = make(&f, 1);
    assert_int_equal(view_sync(v), 0);
    char buf[200];
    for (int i = 0; i < 40; i++) {
        snprintf(buf, sizeof(buf),
                 "{\"outcome\":\"raise\",\"version\":1,\"collector\":\"x%d\","
                 "\"host\":\"h\",\"component\":\"x\"}",
                 i);
        apply(v, buf);
    }
    assert_int_equal(view_get_stats(v)->foreign, 40);
    assert_int_equal(f.fetches, 1 + 16); /* one look for each of the first 16 ids */
    /* Those looks found c1 gone: its changes are dropped, not each one a new look. */
    for (int i = 2; i < 12; i++) {
        snprintf(buf, sizeof(buf),
                 "{\"outcome\":\"raise\",\"version\":%d,\"collector\":\"c1\","
                 "\"epoch\":\"" E1 "\",\"host\":\"h\",\"component\":\"x\"}",
                 i);
        apply(v, buf);
    }
    assert_int_equal(view_get_stats(v)->unsynced, 10);
    assert_int_equal(f.fetches, 17);
    view_free(v);
}

static void test_view_two_collectors_same_key(void **st)
{
    (void)st;
    struct fake f = {
        .docs = {"{\"version\":1,\"epoch\":\"" E1 "\",\"collector\":\"c1\",\"alerts\":["
                 "{\"version\":1,\"host\":\"h\",\"component\":\"x\",\"severity\":5}]}",
                 "{\"version\":7,\"epoch\":\"" E2 "\",\"collector\":\"c2\",\"alerts\":["
                 "{\"version\":7,\"host\":\"h\",\"component\":\"x\",\"severity\":1}]}"}};
    struct view *v = make(&f, 2);
    assert_int_equal(view_sync(v), 0);
    assert_int_equal(view_count(v), 2);
    apply(v, "{\"outcome\":\"clear\",\"version\":8,\"collector\":\"c2\",\"epoch\":\"" E2
             "\",\"host\":\"h\",\"component\":\"x\"}");
    assert_int_equal(view_count(v), 1);
    assert_true(has(v, "c1", "h", 1));
    view_free(v);
}

/* ---- the terminal table ---------------------------------------------------------------- */

/* 2026-11-26T07:00:00Z, the first_seen of the table tests' alerts. */
#define T0 1795676400000LL

/* The table drawn with t, as a string (caller frees). */
static char *draw(struct view *v, const struct view_table *t)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    view_print_table(v, f, t);
    fclose(f);
    return out;
}

/* The line of out that starts with prefix (a copy in line), or NULL. */
static const char *line_of(const char *out, const char *prefix, char *line, size_t size)
{
    for (const char *p = out; p != NULL && *p != '\0';) {
        const char *end = strchr(p, '\n');
        size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
        if (strncmp(p, prefix, strlen(prefix)) == 0) {
            snprintf(line, size, "%.*s", (int)n, p);
            return line;
        }
        p = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

static size_t count_of(const char *s, const char *what)
{
    size_t n = 0;
    for (const char *p = s; (p = strstr(p, what)) != NULL; p += strlen(what))
        n++;
    return n;
}

#define SNAP(alerts)                                                                               \
    "{\"version\":2,\"epoch\":\"" E1 "\",\"collector\":\"vm\",\"alerts\":[" alerts "]}"
#define SEEN "\"first_seen\":\"2026-11-26T07:00:00.000Z\""

static void test_view_table_header_in_words_ages_and_ellipsis(void **st)
{
    (void)st;
    struct fake f = {
        .docs = {
            SNAP("{\"version\":1,\"host\":\"web-frontend-01.example.org\",\"component\":"
                 "\"disk-usage-of-var-log\",\"severity\":3," SEEN ",\"msg\":\"full\"},"
                 "{\"version\":2,\"host\":\"\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4"
                 "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4"
                 "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\",\"component\":\"x\\u001b[2J\","
                 "\"severity\":5,\"msg\":\"m\"}")}};
    struct view *v = make(&f, 1);
    assert_int_equal(view_sync(v), 0);
    struct view_table t = {.width = 100, .now_ms = T0 + 42000, .status = "reconnecting to node 2"};
    char *out = draw(v, &t), line[512];
    /* The header says what each number is, and carries the status line. */
    assert_non_null(line_of(out, "collector vm, 2 alerts, version 2 at ", line, sizeof(line)));
    assert_non_null(strstr(line, " | reconnecting to node 2"));
    assert_non_null(line_of(out, "SEV  AGE  HOST", line, sizeof(line)));
    /* Cut names end with an ellipsis, in the column's width (20 and 16); the age of an
     * alert raised 42 s before now is 42s. */
    assert_non_null(line_of(out, "3    42s  web-frontend-01.exa\u2026 disk-usage-of-v\u2026 full",
                            line, sizeof(line)));
    /* Cut by columns, not bytes, and never inside a character; control bytes shown as '?';
     * an alert without first_seen has no age. */
    assert_non_null(line_of(out,
                            "5    -    \xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4"
                            "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4"
                            "\xc3\xa4\xc3\xa4\xc3\xa4\xc3\xa4\u2026 x?[2J",
                            line, sizeof(line)));
    assert_null(strchr(out, '\x1b'));
    free(out);
    /* What fits is not marked cut (the header, the component "x?[2J", the messages). */
    t.width = 0;
    out = draw(v, &t);
    assert_int_equal(count_of(out, "\u2026"), 3);
    free(out);
    view_free(v);
}

static void test_view_table_header_with_two_collectors_one_unreachable(void **st)
{
    (void)st;
    struct fake f = {.docs = {"{\"version\":1,\"epoch\":\"" E1
                              "\",\"collector\":\"c1\",\"alerts\":["
                              "{\"version\":1,\"host\":\"h\",\"component\":\"x\",\"severity\":5}]}",
                              NULL}};
    struct view *v = make(&f, 2);
    assert_int_equal(view_sync(v), 1);
    struct view_table t = {.width = 200, .now_ms = T0};
    char *out = draw(v, &t), line[512];
    assert_non_null(line_of(out,
                            "1 alert; collector c1: 1, version 1; collector http://c2/v1/alerts "
                            "not reached yet at ",
                            line, sizeof(line)));
    assert_non_null(line_of(out, "SEV  AGE  HOST                 COMPONENT        COLLECTOR", line,
                            sizeof(line)));
    free(out);
    view_free(v);

    /* One that was in step and no longer answers says so. */
    struct fake g = {.docs = {SNAP(""), NULL}};
    v = make(&g, 1);
    assert_int_equal(view_sync(v), 0);
    view_resync_all(v, "test");
    out = draw(v, &t);
    assert_non_null(line_of(out, "collector vm, 0 alerts, version 2 (unreachable: retrying) at ",
                            line, sizeof(line)));
    free(out);
    view_free(v);
}

static void test_view_table_colour_by_severity_only_when_asked(void **st)
{
    (void)st;
    struct fake f = {
        .docs = {SNAP("{\"version\":1,\"host\":\"a\",\"component\":\"x\",\"severity\":1},"
                      "{\"version\":1,\"host\":\"b\",\"component\":\"x\",\"severity\":4},"
                      "{\"version\":2,\"host\":\"c\",\"component\":\"x\",\"severity\":7}")}};
    struct view *v = make(&f, 1);
    assert_int_equal(view_sync(v), 0);
    /* Not a terminal, or NO_COLOR: the caller says no colour, and there is none. */
    struct view_table t = {.width = 80, .now_ms = T0};
    char *out = draw(v, &t), line[512];
    assert_null(strchr(out, '\x1b'));
    free(out);
    t.color = true;
    out = draw(v, &t);
    assert_non_null(line_of(out, "\x1b[31m1    -    a ", line, sizeof(line)));
    assert_non_null(strstr(line, "\x1b[0m"));
    assert_non_null(line_of(out, "\x1b[33m4    -    b ", line, sizeof(line)));
    assert_non_null(line_of(out, "7    -    c ", line, sizeof(line))); /* default colour */
    assert_null(strchr(line, '\x1b'));
    assert_int_equal(count_of(out, "\x1b["), 4); /* two rows: a colour and a reset each */
    free(out);
    view_free(v);
}

static void test_view_table_new_rows_marked_until_the_next_change(void **st)
{
    (void)st;
    struct fake f = {
        .docs = {SNAP("{\"version\":1,\"host\":\"a\",\"component\":\"x\",\"severity\":3},"
                      "{\"version\":2,\"host\":\"b\",\"component\":\"x\",\"severity\":5}")}};
    struct view *v = make(&f, 1);
    assert_int_equal(view_sync(v), 0);
    struct view_table t = {.width = 80, .now_ms = T0};
    char line[512];
    /* The first table marks nothing: everything is new to it. */
    char *out = draw(v, &t);
    assert_null(strchr(out, '*'));
    free(out);
    apply(v, "{\"outcome\":\"raise\",\"version\":3,\"collector\":\"vm\",\"epoch\":\"" E1
             "\",\"host\":\"c\",\"component\":\"x\",\"severity\":1}");
    out = draw(v, &t);
    assert_non_null(line_of(out, "1*   -    c ", line, sizeof(line)));
    assert_int_equal(count_of(out, "*"), 1);
    free(out);
    /* Drawn again with no change (the ages move): still marked, and bold with colour. */
    t.color = true;
    out = draw(v, &t);
    assert_non_null(line_of(out, "\x1b[1;31m1*   -    c ", line, sizeof(line)));
    assert_int_equal(count_of(out, "*"), 1);
    free(out);
    /* The next change drawn: the mark is gone; an update is not a new row. */
    apply(v, "{\"outcome\":\"update\",\"version\":4,\"collector\":\"vm\",\"epoch\":\"" E1
             "\",\"host\":\"a\",\"component\":\"x\",\"severity\":2}");
    out = draw(v, &t);
    assert_non_null(line_of(out, "\x1b[31m1    -    c ", line, sizeof(line)));
    assert_null(strchr(out, '*'));
    free(out);
    view_free(v);
}

/* The ack of (collector, host) in the view, as JSON text ("" when none). */
static void ack_in_view(const struct view *v, const char *host, char *buf, size_t size)
{
    json_t *doc = view_to_json(v, 0);
    size_t i;
    json_t *a;
    buf[0] = '\0';
    json_array_foreach(json_object_get(doc, "alerts"), i, a)
    {
        if (strcmp(json_string_value(json_object_get(a, "host")), host) != 0)
            continue;
        assert_null(json_object_get(a, "unack")); /* a delivery's, not the alert's */
        char *t = json_dumps(json_object_get(a, "ack"), JSON_COMPACT | JSON_ENCODE_ANY);
        if (t != NULL && json_object_get(a, "ack") != NULL)
            snprintf(buf, size, "%s", t);
        free(t);
    }
    json_decref(doc);
}

#define ACK_ALICE                                                                                  \
    "\"ack\":{\"author\":\"alice\",\"comment\":\"on it\",\"at\":\"2026-11-30T15:00:00.000Z\"}"

/* ack and unack lines are applied like updates: the view carries the ack from the snapshot
 * or an ack line, keeps it over an update that carries it, loses it on an unack and on an
 * update without it (worse), and the table shows who acknowledged. */
static void test_view_applies_ack_and_unack(void **st)
{
    (void)st;
    char ack[512];
    struct fake f = {
        .docs = {SNAP("{\"version\":1,\"host\":\"a\",\"component\":\"x\",\"severity\":3,"
                      "\"msg\":\"m\"},"
                      "{\"version\":2,\"host\":\"b\",\"component\":\"x\",\"severity\":4,"
                      "\"msg\":\"n\",\"ack\":{\"author\":\"zoe\",\"comment\":\"known\","
                      "\"at\":\"2026-11-30T14:00:00.000Z\"}}")}};
    struct view *v = make(&f, 1);
    assert_int_equal(view_sync(v), 0);
    ack_in_view(v, "b", ack, sizeof(ack));
    assert_non_null(strstr(ack, "\"author\":\"zoe\""));
    ack_in_view(v, "a", ack, sizeof(ack));
    assert_string_equal(ack, "");
    apply(v, "{\"outcome\":\"ack\",\"version\":3,\"collector\":\"vm\",\"epoch\":\"" E1
             "\",\"host\":\"a\",\"component\":\"x\",\"severity\":3,\"msg\":\"m\"," ACK_ALICE "}");
    ack_in_view(v, "a", ack, sizeof(ack));
    assert_non_null(strstr(ack, "\"author\":\"alice\""));
    assert_non_null(strstr(ack, "\"comment\":\"on it\""));
    assert_true(has(v, "vm", "a", 3));
    /* The table: an ACK column with who acknowledged each row. */
    struct view_table t = {.width = 120, .now_ms = T0};
    char *out = draw(v, &t), line[512];
    assert_non_null(line_of(out,
                            "SEV  AGE  HOST                 COMPONENT        ACK        MESSAGE",
                            line, sizeof(line)));
    assert_non_null(line_of(out, "3    -    a                    x                alice      m",
                            line, sizeof(line)));
    assert_non_null(line_of(out, "4    -    b                    x                zoe        n",
                            line, sizeof(line)));
    free(out);
    /* An update that keeps it (better) carries it; one that does not (worse) has none. */
    apply(v, "{\"outcome\":\"update\",\"version\":4,\"collector\":\"vm\",\"epoch\":\"" E1
             "\",\"host\":\"a\",\"component\":\"x\",\"severity\":5,\"msg\":\"m\"," ACK_ALICE "}");
    ack_in_view(v, "a", ack, sizeof(ack));
    assert_non_null(strstr(ack, "alice"));
    apply(v, "{\"outcome\":\"update\",\"version\":5,\"collector\":\"vm\",\"epoch\":\"" E1
             "\",\"host\":\"b\",\"component\":\"x\",\"severity\":1,\"msg\":\"n\"}");
    ack_in_view(v, "b", ack, sizeof(ack));
    assert_string_equal(ack, "");
    out = draw(v, &t); /* a row nobody acknowledged has a blank ACK cell */
    assert_non_null(line_of(out, "1    -    b                    x                           n",
                            line, sizeof(line)));
    free(out);
    /* An unack line: the alert without its ack. */
    apply(v, "{\"outcome\":\"unack\",\"version\":6,\"collector\":\"vm\",\"epoch\":\"" E1
             "\",\"host\":\"a\",\"component\":\"x\",\"severity\":5,\"msg\":\"m\","
             "\"unack\":{\"author\":\"bob\",\"reason\":\"taken back\"}}");
    ack_in_view(v, "a", ack, sizeof(ack));
    assert_string_equal(ack, "");
    assert_true(has(v, "vm", "a", 6));
    /* Nobody acknowledged: no ACK column. */
    out = draw(v, &t);
    assert_non_null(line_of(out, "SEV  AGE  HOST                 COMPONENT        MESSAGE", line,
                            sizeof(line)));
    free(out);
    const struct view_stats *vs = view_get_stats(v);
    assert_int_equal(vs->applied, 4);
    assert_int_equal(vs->malformed, 0);
    assert_int_equal(vs->gaps, 0);
    view_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_view_snapshot_then_changes_in_order),
        cmocka_unit_test(test_view_gap_resyncs_and_reports_the_difference),
        cmocka_unit_test(test_view_new_series_and_new_id),
        cmocka_unit_test(test_view_foreign_collector_and_unreachable),
        cmocka_unit_test(test_view_invented_ids_and_down_collector_cost_bounded),
        cmocka_unit_test(test_view_two_collectors_same_key),
        cmocka_unit_test(test_view_table_header_in_words_ages_and_ellipsis),
        cmocka_unit_test(test_view_table_header_with_two_collectors_one_unreachable),
        cmocka_unit_test(test_view_table_colour_by_severity_only_when_asked),
        cmocka_unit_test(test_view_table_new_rows_marked_until_the_next_change),
        cmocka_unit_test(test_view_applies_ack_and_unack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
