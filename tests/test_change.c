/* test_change.c - the JSON encoding of a change: names, types, escaping, round trip. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sink/change.h"

#include <errno.h>
#include <jansson.h>
#include <string.h>
#include <time.h>

static struct alert base(void)
{
    struct alert a;
    alert_clear(&a);
    a.host = "n0418";
    a.host_len = 5;
    a.component = "node";
    a.component_len = 4;
    return a;
}

static json_t *encode_and_load(const struct change *c)
{
    struct change_json out = {0};
    assert_int_equal(change_json_encode(&out, c), 0);
    assert_int_equal(strlen(out.buf), out.len);
    assert_null(strchr(out.buf, '\n')); /* one change is one line */
    json_error_t err;
    json_t *o = json_loads(out.buf, 0, &err);
    if (o == NULL)
        fail_msg("not JSON: %s: %s", err.text, out.buf);
    change_json_free(&out);
    return o;
}

static void test_change_every_field_round_trips(void **st)
{
    (void)st;
    struct alert a = base();
    const char *texts[ALERT_TEXT_COUNT] = {
        "Node n0418 is Down", "long", "ops", "me", "T1", "hyak", "nagios", "I7", "It9"};
    for (int i = 0; i < ALERT_TEXT_COUNT; i++) {
        a.text[i] = texts[i];
        a.text_len[i] = (uint32_t)strlen(texts[i]);
    }
    alert_set_num(&a, ALERT_SEVERITY, 3);
    alert_set_num(&a, ALERT_COUNT, 1);
    alert_set_num(&a, ALERT_INCREMENT, 0);
    alert_set_num(&a, ALERT_START_TIME, 1298044800000LL);
    alert_set_num(&a, ALERT_AUTOCLEAR, 1);
    alert_set_num(&a, ALERT_SEQ, 17);
    alert_set_num(&a, ALERT_TTL, 180);
    a.n_extra = 1;
    a.extra[0] = (struct alert_extra){"Foo", "bar"};
    struct change c = {.outcome = CHANGE_RAISE,
                       .version = 1ULL << 40,
                       .collector = "mon1",
                       .received_ms = 1795676400123LL,
                       .sender = "10.1.2.3:40112",
                       .alert = &a};
    json_t *o = encode_and_load(&c);

    assert_string_equal(json_string_value(json_object_get(o, "outcome")), "raise");
    assert_true(json_integer_value(json_object_get(o, "version")) == (json_int_t)(1ULL << 40));
    assert_string_equal(json_string_value(json_object_get(o, "collector")), "mon1");
    assert_string_equal(json_string_value(json_object_get(o, "received")),
                        "2026-11-26T07:00:00.123Z");
    assert_string_equal(json_string_value(json_object_get(o, "sender")), "10.1.2.3:40112");
    assert_string_equal(json_string_value(json_object_get(o, "host")), "n0418");
    assert_string_equal(json_string_value(json_object_get(o, "component")), "node");
    const char *keys[ALERT_TEXT_COUNT] = {"msg",    "longmsg", "contact",   "owner",   "ticket",
                                          "flavor", "origin",  "issue_num", "item_num"};
    for (int i = 0; i < ALERT_TEXT_COUNT; i++)
        assert_string_equal(json_string_value(json_object_get(o, keys[i])), texts[i]);
    assert_int_equal(json_integer_value(json_object_get(o, "severity")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "count")), 1);
    assert_true(json_is_false(json_object_get(o, "increment")));
    assert_true(json_is_true(json_object_get(o, "autoclear")));
    assert_int_equal(json_integer_value(json_object_get(o, "start_time")), 1298044800000LL);
    assert_int_equal(json_integer_value(json_object_get(o, "seq")), 17);
    assert_int_equal(json_integer_value(json_object_get(o, "ttl")), 180);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "extra"), "Foo")),
                        "bar");
    json_decref(o);
}

static void test_change_absent_fields_are_omitted(void **st)
{
    (void)st;
    struct alert a = base();
    struct change c = {.outcome = CHANGE_CLEAR, .version = 7, .alert = &a};
    json_t *o = encode_and_load(&c);
    assert_int_equal(json_object_size(o), 4); /* outcome, version, host, component */
    assert_string_equal(json_string_value(json_object_get(o, "outcome")), "clear");
    assert_null(json_object_get(o, "severity"));
    assert_null(json_object_get(o, "extra"));
    json_decref(o);
}

static void test_change_escapes_hostile_strings(void **st)
{
    (void)st;
    struct alert a = base();
    const char *evil = "a\"b\\c\n\t\x01</script><img src=x onerror=alert(1)> \xc3\xa9 \xe2\x9c\x93";
    a.host = evil;
    a.host_len = (uint32_t)strlen(evil);
    a.text[ALERT_MSG] = evil;
    a.text_len[ALERT_MSG] = (uint32_t)strlen(evil);
    a.n_extra = 1;
    a.extra[0] = (struct alert_extra){"We\"ird", evil};
    struct change c = {.outcome = CHANGE_UPDATE, .version = 2, .alert = &a};
    json_t *o = encode_and_load(&c);
    assert_string_equal(json_string_value(json_object_get(o, "host")), evil);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), evil);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "extra"), "We\"ird")),
                        evil);
    json_decref(o);
}

/* C0, DEL and C1 controls leave the encoder escaped: a change line shown on a terminal (the
 * stdout sink, injector-consume --format json) carries no escape sequence a terminal obeys;
 * decoded, the string is the same. U+00A0 (0xc2 0xa0) is not a control and stays as it is. */
static void test_change_escapes_every_control_character(void **st)
{
    (void)st;
    struct alert a = base();
    const char *msg = "\x1b[2J \x7f \xc2\x80 \xc2\x9b"
                      "2J \xc2\x9f \xc2\xa0";
    a.text[ALERT_MSG] = msg;
    a.text_len[ALERT_MSG] = (uint32_t)strlen(msg);
    struct change c = {.outcome = CHANGE_UPDATE, .version = 2, .alert = &a};
    struct change_json out = {0};
    assert_int_equal(change_json_encode(&out, &c), 0);
    assert_non_null(strstr(out.buf, "\"\\u001b[2J \\u007f \\u0080 \\u009b2J \\u009f \xc2\xa0\""));
    for (size_t i = 0; i < out.len; i++) {
        unsigned char b = (unsigned char)out.buf[i];
        assert_false(b < 0x20 || b == 0x7f);
        if (b == 0xc2)
            assert_true((unsigned char)out.buf[i + 1] >= 0xa0);
    }
    json_t *o = json_loads(out.buf, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), msg);
    json_decref(o);
    change_json_free(&out);
}

static void test_change_invalid_utf8_fails_instead_of_emitting_bad_json(void **st)
{
    (void)st;
    struct alert a = base();
    a.text[ALERT_MSG] = "bad \xff byte";
    a.text_len[ALERT_MSG] = 10;
    struct change c = {.outcome = CHANGE_RAISE, .version = 1, .alert = &a};
    struct change_json out = {0};
    assert_int_equal(change_json_encode(&out, &c), -EINVAL);
    change_json_free(&out);
}

static void test_change_every_ascii_byte_round_trips(void **st)
{
    (void)st;
    char all[128];
    for (int i = 1; i < 128; i++)
        all[i - 1] = (char)i;
    all[127] = '\0';
    const char *multi = "caf\xc3\xa9 \xe2\x9c\x93 \xf0\x9f\x94\xa5 \xf4\x8f\xbf\xbf";
    struct alert a = base();
    a.text[ALERT_MSG] = all;
    a.text_len[ALERT_MSG] = 127;
    a.text[ALERT_LONGMSG] = multi;
    a.text_len[ALERT_LONGMSG] = (uint32_t)strlen(multi);
    alert_set_num(&a, ALERT_SEVERITY, INT32_MIN);
    alert_set_num(&a, ALERT_START_TIME, INT64_C(1) << 52);
    struct change c = {
        .outcome = CHANGE_UPDATE, .version = UINT64_C(9007199254740991), .alert = &a};
    json_t *o = encode_and_load(&c);
    assert_string_equal(json_string_value(json_object_get(o, "msg")), all);
    assert_string_equal(json_string_value(json_object_get(o, "longmsg")), multi);
    assert_true(json_integer_value(json_object_get(o, "severity")) == INT32_MIN);
    assert_true(json_integer_value(json_object_get(o, "start_time")) == (INT64_C(1) << 52));
    assert_true(json_integer_value(json_object_get(o, "version")) == INT64_C(9007199254740991));
    json_decref(o);
}

static void test_change_every_invalid_utf8_form_is_refused(void **st)
{
    (void)st;
    const char *bad[] = {
        "\x80",             /* lone continuation byte */
        "\xc0\xaf",         /* overlong '/' */
        "\xe0\x80\xaf",     /* overlong, 3 bytes */
        "\xed\xa0\x80",     /* UTF-16 surrogate */
        "\xf4\x90\x80\x80", /* past U+10FFFF */
        "\xe2\x9c",         /* cut short */
        "\xff",             /* never valid */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct alert a = base();
        a.text[ALERT_MSG] = bad[i];
        a.text_len[ALERT_MSG] = (uint32_t)strlen(bad[i]);
        struct change c = {.outcome = CHANGE_RAISE, .version = 1, .alert = &a};
        struct change_json out = {0};
        if (change_json_encode(&out, &c) != -EINVAL)
            fail_msg("invalid UTF-8 form %zu was encoded: %s", i, out.buf);
        assert_int_equal(out.len, 0);
        change_json_free(&out);
    }
}

static void test_change_buffer_is_reused_and_grows(void **st)
{
    (void)st;
    static char big[20000];
    memset(big, 'x', sizeof(big) - 1);
    struct alert a = base();
    struct change c = {.outcome = CHANGE_RAISE, .version = 1, .alert = &a};
    struct change_json out = {0};
    assert_int_equal(change_json_encode(&out, &c), 0);
    size_t small = out.len;
    a.text[ALERT_LONGMSG] = big;
    a.text_len[ALERT_LONGMSG] = sizeof(big) - 1;
    assert_int_equal(change_json_encode(&out, &c), 0);
    assert_true(out.len > sizeof(big));
    a.text[ALERT_LONGMSG] = NULL;
    assert_int_equal(change_json_encode(&out, &c), 0);
    assert_int_equal(out.len, small);
    change_json_free(&out);
}

static void test_change_outcome_names_and_forwarding(void **st)
{
    (void)st;
    assert_string_equal(change_outcome_name(CHANGE_REDUNDANT_CLEAR), "redundant_clear");
    assert_string_equal(change_outcome_name(CHANGE_UPDONLY_MISS), "updonly_miss");
    assert_true(change_outcome_forwarded(CHANGE_EXPIRE));
    assert_false(change_outcome_forwarded(CHANGE_DUPLICATE));
    assert_false(change_outcome_forwarded(CHANGE_REDUNDANT_CLEAR));
    assert_string_equal(change_outcome_name(CHANGE_ACK), "ack");
    assert_string_equal(change_outcome_name(CHANGE_UNACK), "unack");
    assert_true(change_outcome_forwarded(CHANGE_ACK));
    assert_true(change_outcome_forwarded(CHANGE_UNACK));
}

/* A change read back from its JSON (a journal record) gives the alert, the outcome and the
 * receive time it was encoded with: what start-up replays onto the table. */
static void test_change_decodes_back_for_replay(void **st)
{
    (void)st;
    struct alert a = base();
    a.text[ALERT_MSG] = "disk \"full\"";
    a.text_len[ALERT_MSG] = (uint32_t)strlen(a.text[ALERT_MSG]);
    alert_set_num(&a, ALERT_SEVERITY, 2);
    alert_set_num(&a, ALERT_TTL, 60);
    a.n_extra = 1;
    a.extra[0] = (struct alert_extra){"Rack", "r7"};
    struct change c = {.outcome = CHANGE_UPDATE,
                       .version = 77,
                       .collector = "mon1",
                       .epoch = 0xabc,
                       .received_ms = 1795676400123LL,
                       .sender = "[::1]:5",
                       .alert = &a};
    struct change_json out = {0};
    assert_int_equal(change_json_encode(&out, &c), 0);
    struct alert_json aj = {0};
    enum change_outcome oc;
    int64_t received;
    assert_int_equal(change_json_decode_change(out.buf, out.len, &aj, &oc, &received), 0);
    assert_int_equal(oc, CHANGE_UPDATE);
    assert_int_equal(received, 1795676400123LL);
    assert_int_equal(aj.version, 77);
    assert_string_equal(aj.alert.host, "n0418");
    assert_string_equal(aj.alert.component, "node");
    assert_string_equal(aj.alert.text[ALERT_MSG], "disk \"full\"");
    assert_int_equal(aj.alert.num[ALERT_SEVERITY], 2);
    assert_int_equal(aj.alert.num[ALERT_TTL], 60);
    assert_int_equal(aj.alert.n_extra, 1);
    assert_string_equal(aj.alert.extra[0].value, "r7");
    char rk[300];
    assert_int_equal(change_routing_key(&c, rk, sizeof(rk)), (int)strlen("update.2.n0418"));
    assert_string_equal(rk, "update.2.n0418");
    /* Not a change: no outcome, or not JSON. */
    const char *bad = "{\"version\":1,\"host\":\"h\",\"component\":\"c\"}";
    assert_int_equal(change_json_decode_change(bad, strlen(bad), &aj, &oc, &received), -EBADMSG);
    assert_int_equal(change_json_decode_change("{\"outc", 6, &aj, &oc, &received), -EBADMSG);
    alert_json_free(&aj);
    change_json_free(&out);
}

/* An acknowledged alert's line carries "ack" (expires only when set); an unack line carries
 * no ack and "unack" with who and why; the routing key is ack.<severity>.<host>. Read back,
 * the ack comes out as it went in (what the journal replays). */
static void test_change_ack_and_unack_lines(void **st)
{
    (void)st;
    struct alert a = base();
    alert_set_num(&a, ALERT_SEVERITY, 3);
    struct change_ack k = {.author = "alice \"ops\"",
                           .comment = "disk ordered\nETA 4h",
                           .at_ms = 1796050800000LL,
                           .expires_ms = 1796065200000LL,
                           .has_severity = true,
                           .severity = 3};
    struct change c = {
        .outcome = CHANGE_ACK, .version = 8, .collector = "mon1", .alert = &a, .ack = &k};
    json_t *o = encode_and_load(&c);
    assert_string_equal(json_string_value(json_object_get(o, "outcome")), "ack");
    json_t *ack = json_object_get(o, "ack");
    assert_true(json_is_object(ack));
    assert_int_equal(json_object_size(ack), 4); /* the severity is a snapshot's only */
    assert_string_equal(json_string_value(json_object_get(ack, "author")), "alice \"ops\"");
    assert_string_equal(json_string_value(json_object_get(ack, "comment")), "disk ordered\nETA 4h");
    assert_string_equal(json_string_value(json_object_get(ack, "at")), "2026-11-30T15:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(ack, "expires")),
                        "2026-11-30T19:00:00.000Z");
    assert_null(json_object_get(o, "unack"));
    json_decref(o);
    char rk[300];
    change_routing_key(&c, rk, sizeof(rk));
    assert_string_equal(rk, "ack.3.n0418");

    struct change_json out = {0};
    struct alert_json aj = {0};
    enum change_outcome oc;
    int64_t received;
    assert_int_equal(change_json_encode(&out, &c), 0);
    assert_int_equal(change_json_decode_change(out.buf, out.len, &aj, &oc, &received), 0);
    assert_int_equal(oc, CHANGE_ACK);
    assert_non_null(aj.ack);
    assert_string_equal(aj.ack->author, "alice \"ops\"");
    assert_string_equal(aj.ack->comment, "disk ordered\nETA 4h");
    assert_int_equal(aj.ack->at_ms, k.at_ms);
    assert_int_equal(aj.ack->expires_ms, k.expires_ms);
    assert_false(aj.ack->has_severity);

    /* No expiry: no "expires". */
    k.expires_ms = 0;
    o = encode_and_load(&c);
    assert_null(json_object_get(json_object_get(o, "ack"), "expires"));
    json_decref(o);

    /* An unack, taken back by someone, then one that lapsed (no author). */
    struct change_unack u = {.author = "bob", .reason = "taken back"};
    struct change d = {.outcome = CHANGE_UNACK, .version = 9, .alert = &a, .unack = &u};
    o = encode_and_load(&d);
    assert_null(json_object_get(o, "ack"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "unack"), "author")),
                        "bob");
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "unack"), "reason")),
                        "taken back");
    json_decref(o);
    u = (struct change_unack){.reason = "expired"};
    o = encode_and_load(&d);
    assert_int_equal(json_object_size(json_object_get(o, "unack")), 1);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "unack"), "reason")),
                        "expired");
    json_decref(o);
    assert_int_equal(change_json_encode(&out, &d), 0);
    assert_int_equal(change_json_decode_change(out.buf, out.len, &aj, &oc, &received), 0);
    assert_int_equal(oc, CHANGE_UNACK);
    assert_null(aj.ack);

    /* An ack that is not valid UTF-8 is refused like any field. */
    k.comment = "bad \xff";
    assert_int_equal(change_json_encode(&out, &c), -EINVAL);
    alert_json_free(&aj);
    change_json_free(&out);
}

/* A stored alert (snapshot line) and an API item carry the ack; the stored one with the
 * severity it was made at, read back. A broken ack is a broken line. */
static void test_change_stored_alert_carries_the_ack(void **st)
{
    (void)st;
    struct alert a = base();
    alert_set_num(&a, ALERT_SEVERITY, 4);
    struct change_ack k = {
        .author = "alice", .comment = "c", .at_ms = 1000, .has_severity = true, .severity = 2};
    struct change_json out = {0};
    struct alert_json aj = {0};
    assert_int_equal(change_json_append_stored(&out, &a, 5, 1, 2, 0, NULL, &k), 0);
    assert_int_equal(change_json_decode_stored(out.buf, out.len, &aj), 0);
    assert_non_null(aj.ack);
    assert_string_equal(aj.ack->author, "alice");
    assert_int_equal(aj.ack->at_ms, 1000);
    assert_int_equal(aj.ack->expires_ms, 0);
    assert_true(aj.ack->has_severity);
    assert_int_equal(aj.ack->severity, 2);
    out.len = 0;
    assert_int_equal(change_json_append_stored(&out, &a, 5, 1, 2, 0, NULL, NULL), 0);
    assert_int_equal(change_json_decode_stored(out.buf, out.len, &aj), 0);
    assert_null(aj.ack);
    /* Made when the alert had no severity: stored as null and read back as "none", not as
     * "not said" (which takes the alert's severity). */
    struct change_ack none = {.author = "alice", .comment = "c", .at_ms = 1000};
    out.len = 0;
    assert_int_equal(change_json_append_stored(&out, &a, 5, 1, 2, 0, NULL, &none), 0);
    assert_non_null(strstr(out.buf, "\"severity\":null"));
    assert_int_equal(change_json_decode_stored(out.buf, out.len, &aj), 0);
    assert_non_null(aj.ack);
    assert_false(aj.ack->has_severity);
    assert_true(aj.ack->no_severity);
    const char *unsaid = "{\"version\":1,\"host\":\"h\",\"component\":\"c\",\"ack\":{"
                         "\"author\":\"a\",\"comment\":\"c\",\"at\":\"2026-11-30T15:00:00.000Z\"}}";
    assert_int_equal(change_json_decode_stored(unsaid, strlen(unsaid), &aj), 0);
    assert_false(aj.ack->has_severity);
    assert_false(aj.ack->no_severity);

    out.len = 0;
    assert_int_equal(change_json_append_alert(&out, &a, 5, 1, 2, "10.0.0.1:5", &k), 0);
    json_t *o = json_loads(out.buf, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "ack"), "author")),
                        "alice");
    assert_null(json_object_get(json_object_get(o, "ack"), "severity"));
    json_decref(o);

    const char *bad[] = {
        "{\"version\":1,\"host\":\"h\",\"component\":\"c\",\"ack\":{\"author\":\"a\"}}",
        ("{\"version\":1,\"host\":\"h\",\"component\":\"c\",\"ack\":{\"author\":\"a\","
         "\"comment\":\"c\",\"at\":\"yesterday\"}}"),
        "{\"version\":1,\"host\":\"h\",\"component\":\"c\",\"ack\":3}",
        ("{\"version\":1,\"host\":\"h\",\"component\":\"c\",\"ack\":{\"author\":\"a\","
         "\"comment\":\"c\",\"at\":\"2026-11-30T15:00:00.000Z\",\"severity\":\"3\"}}"),
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(change_json_decode_stored(bad[i], strlen(bad[i]), &aj), -EBADMSG);
    alert_json_free(&aj);
    change_json_free(&out);
}

/* The clock change lines are stamped with is the wall clock, in ms, and formats as such. */
static void test_change_now_is_the_wall_clock_in_ms(void **st)
{
    (void)st;
    int64_t before = (int64_t)time(NULL) * 1000;
    int64_t now = change_now_ms();
    int64_t after = ((int64_t)time(NULL) + 1) * 1000;
    assert_true(now >= before && now < after);
    char t[32];
    int64_t back;
    assert_int_equal(change_parse_time(change_format_time(now, t, sizeof(t)), &back), 0);
    assert_int_equal(back, now);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_change_every_field_round_trips),
        cmocka_unit_test(test_change_now_is_the_wall_clock_in_ms),
        cmocka_unit_test(test_change_absent_fields_are_omitted),
        cmocka_unit_test(test_change_escapes_hostile_strings),
        cmocka_unit_test(test_change_escapes_every_control_character),
        cmocka_unit_test(test_change_invalid_utf8_fails_instead_of_emitting_bad_json),
        cmocka_unit_test(test_change_every_ascii_byte_round_trips),
        cmocka_unit_test(test_change_every_invalid_utf8_form_is_refused),
        cmocka_unit_test(test_change_buffer_is_reused_and_grows),
        cmocka_unit_test(test_change_outcome_names_and_forwarding),
        cmocka_unit_test(test_change_decodes_back_for_replay),
        cmocka_unit_test(test_change_ack_and_unack_lines),
        cmocka_unit_test(test_change_stored_alert_carries_the_ack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
