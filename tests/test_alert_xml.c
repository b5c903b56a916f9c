/* test_alert_xml.c - the XML alert parser: every wire form, every hostile case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "parsers/alert_xml.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *load(const char *name, size_t *len)
{
    const char *dir = getenv("INJECTOR_TESTDATA");
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir ? dir : "tests/data", name);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[1 << 16];
    *len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    return buf;
}

static int setup(void **state)
{
    struct alert_xml *p;
    assert_int_equal(alert_xml_new(NULL, &p), 0);
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    alert_xml_free(*state);
    return 0;
}

static int parse(void **state, const char *doc, struct alert_xml_result *r)
{
    return alert_xml_parse(*state, doc, strlen(doc), r);
}

static int parse_file(void **state, const char *name, struct alert_xml_result *r)
{
    size_t len;
    char *doc = load(name, &len);
    return alert_xml_parse(*state, doc, len, r);
}

static void test_alert_xml_del_example(void **state)
{
    struct alert_xml_result r;
    assert_int_equal(parse_file(state, "del.xml", &r), 0);
    assert_int_equal(r.n_alerts, 1);
    const struct alert *a = &r.alerts[0];
    assert_int_equal(a->action, ALERT_DEL);
    assert_string_equal(a->host, "web12");
    assert_int_equal(a->host_len, 5);
    assert_string_equal(a->component, "disk");
    assert_int_equal(a->num_present, 0);
    for (int i = 0; i < ALERT_TEXT_COUNT; i++)
        assert_null(a->text[i]);
    assert_int_equal(r.reason, ALERT_XML_OK);
}

static void test_alert_xml_full_upd_example_any_order(void **state)
{
    struct alert_xml_result r;
    assert_int_equal(parse_file(state, "upd_full.xml", &r), 0);
    assert_int_equal(r.n_alerts, 1);
    const struct alert *a = &r.alerts[0];
    assert_int_equal(a->action, ALERT_UPD); /* Action is the last element */
    assert_string_equal(a->host, "h1");
    assert_string_equal(a->component, "c1");
    assert_string_equal(a->text[ALERT_MSG], "Test");
    assert_string_equal(a->text[ALERT_LONGMSG], "Just a test");
    assert_string_equal(a->text[ALERT_CONTACT], "someone");
    assert_string_equal(a->text[ALERT_FLAVOR], "prox");
    /* Sent empty is present and empty, not absent. */
    assert_string_equal(a->text[ALERT_OWNER], "");
    assert_string_equal(a->text[ALERT_ORIGIN], "");
    assert_string_equal(a->text[ALERT_ISSUE_NUM], "");
    assert_true(alert_has_num(a, ALERT_SEVERITY));
    assert_int_equal(a->num[ALERT_SEVERITY], 10);
    assert_int_equal(a->num[ALERT_COUNT], 1);
    assert_true(alert_has_num(a, ALERT_INCREMENT));
    assert_int_equal(a->num[ALERT_INCREMENT], 0);
    assert_int_equal(a->num[ALERT_START_TIME], 1283699633122LL);
    assert_int_equal(a->num[ALERT_AUTOCLEAR], 1);
    assert_false(alert_has_num(a, ALERT_SEQ));
    assert_int_equal(a->n_extra, 0);
}

static void test_alert_xml_event_wrapper_cdata_and_blanks(void **state)
{
    struct alert_xml_result r;
    assert_int_equal(parse_file(state, "event_wrapper.xml", &r), 0);
    assert_int_equal(r.n_alerts, 1);
    const struct alert *a = &r.alerts[0];
    assert_string_equal(a->host, "n0418"); /* blanks around keys are trimmed */
    assert_int_equal(a->host_len, 5);
    assert_int_equal(a->num[ALERT_SEVERITY], 3);
    assert_string_equal(a->text[ALERT_MSG], "Node n0418 is <Down> & out");
    assert_int_equal(a->n_extra, 0); /* wrapper fields (Id, Source) are not the alert's */
}

static void test_alert_xml_batch_keeps_order(void **state)
{
    struct alert_xml_result r;
    assert_int_equal(parse_file(state, "batch.xml", &r), 0);
    assert_int_equal(r.n_alerts, 3);
    assert_string_equal(r.alerts[0].component, "c1");
    assert_string_equal(r.alerts[1].component, "c2");
    assert_string_equal(r.alerts[2].host, "b");
    assert_int_equal(r.alerts[2].action, ALERT_DEL);
}

static void test_alert_xml_proxd_attribute_form(void **state)
{
    struct alert_xml_result r;
    assert_int_equal(parse_file(state, "proxd.xml", &r), 0);
    assert_int_equal(r.n_alerts, 2);
    assert_int_equal(r.alerts[0].action, ALERT_DEL);
    assert_string_equal(r.alerts[0].host, "h");
    assert_string_equal(r.alerts[0].component, "c");
    const struct alert *a = &r.alerts[1];
    assert_int_equal(a->action, ALERT_UPD);
    assert_string_equal(a->host, "h2");
    assert_string_equal(a->component, "c2");
    assert_int_equal(a->num[ALERT_SEVERITY], 3);
    assert_string_equal(a->text[ALERT_MSG], "x & y");
    assert_int_equal(a->text_len[ALERT_MSG], 5);
    assert_string_equal(a->text[ALERT_LONGMSG], "long");
    assert_string_equal(a->text[ALERT_CONTACT], "ops");
    assert_int_equal(a->num[ALERT_AUTOCLEAR], 1);
    assert_int_equal(a->num[ALERT_COUNT], 2);
}

static void test_alert_xml_declaration_whitespace_newline(void **state)
{
    struct alert_xml_result r;
    const char *doc = "\n  <?xml version=\"1.0\"?>\n<Alert><Action>Post</Action>"
                      "<ProblemHost>h</ProblemHost><Component>c</Component></Alert>\n\n";
    assert_int_equal(parse(state, doc, &r), 0);
    assert_int_equal(r.n_alerts, 1);
    assert_int_equal(r.alerts[0].action, ALERT_POST);
}

static void test_alert_xml_latin1_is_transcoded(void **state)
{
    struct alert_xml_result r;
    const char *doc = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><Alert><Action>Upd</Action>"
                      "<ProblemHost>h</ProblemHost><Component>c</Component>"
                      "<Msg>caf\xe9</Msg></Alert>";
    assert_int_equal(parse(state, doc, &r), 0);
    assert_string_equal(r.alerts[0].text[ALERT_MSG], "caf\xc3\xa9");
}

static void test_alert_xml_seq_ttl_and_extras(void **state)
{
    struct alert_xml_result r;
    const char *doc = "<Alert><Action>updonly</Action><ProblemHost>h</ProblemHost>"
                      "<Component>c</Component><Seq>17</Seq><TTL>180</TTL>"
                      "<Foo>bar</Foo><Rack>r<b>ignored</b>12</Rack></Alert>";
    assert_int_equal(parse(state, doc, &r), 0);
    const struct alert *a = &r.alerts[0];
    assert_int_equal(a->action, ALERT_UPDONLY); /* actions are case-insensitive */
    assert_int_equal(a->num[ALERT_SEQ], 17);
    assert_int_equal(a->num[ALERT_TTL], 180);
    assert_int_equal(a->n_extra, 2);
    assert_string_equal(a->extra[0].name, "Foo");
    assert_string_equal(a->extra[0].value, "bar");
    assert_string_equal(a->extra[1].name, "Rack");
    assert_string_equal(a->extra[1].value, "r12"); /* markup inside a value is dropped */
}

static void test_alert_xml_extras_past_the_cap_are_dropped_and_counted(void **state)
{
    char doc[4096];
    int n = snprintf(doc, sizeof(doc),
                     "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>"
                     "<Component>c</Component>");
    for (int i = 0; i < ALERT_EXTRA_MAX + 3; i++)
        n += snprintf(doc + n, sizeof(doc) - (size_t)n, "<X%d>v</X%d>", i, i);
    snprintf(doc + n, sizeof(doc) - (size_t)n, "</Alert>");
    struct alert_xml_result r;
    assert_int_equal(parse(state, doc, &r), 0);
    assert_int_equal(r.alerts[0].n_extra, ALERT_EXTRA_MAX);
    assert_int_equal(r.n_extra_dropped, 3);
}

static void assert_refused(void **state, const char *doc, size_t len, enum alert_xml_reason reason)
{
    struct alert_xml_result r;
    assert_int_equal(alert_xml_parse(*state, doc, len, &r), -EBADMSG);
    assert_int_equal(r.n_alerts, 0);
    if (r.reason != reason)
        fail_msg("reason %s, expected %s (%s)", alert_xml_reason_name(r.reason),
                 alert_xml_reason_name(reason), r.error);
    assert_true(r.error[0] != '\0');
    assert_true(alert_xml_reason_is_document(r.reason));
}

static void test_alert_xml_billion_laughs_refused_at_doctype(void **state)
{
    size_t len;
    char *doc = load("billion_laughs.xml", &len);
    assert_refused(state, doc, len, ALERT_XML_DOCTYPE);
}

static void test_alert_xml_external_entity_refused(void **state)
{
    size_t len;
    char *doc = load("xxe_passwd.xml", &len);
    assert_refused(state, doc, len, ALERT_XML_DOCTYPE);
    doc = load("xxe_external_dtd.xml", &len);
    assert_refused(state, doc, len, ALERT_XML_DOCTYPE);
}

static void test_alert_xml_undeclared_entity_is_syntax_error(void **state)
{
    const char *doc = "<Alert><Action>Upd</Action><ProblemHost>&xxe;</ProblemHost>"
                      "<Component>c</Component></Alert>";
    assert_refused(state, doc, strlen(doc), ALERT_XML_SYNTAX);
    struct alert_xml_result r;
    parse(state, doc, &r);
    assert_non_null(strstr(r.error, "xxe"));
    assert_non_null(strstr(r.error, "line 1"));
}

static void test_alert_xml_deep_nesting_refused(void **state)
{
    size_t depth = 10000;
    char *doc = malloc(depth * 7 + 1);
    size_t n = 0;
    for (size_t i = 0; i < depth; i++)
        n += (size_t)sprintf(doc + n, "<a>");
    for (size_t i = 0; i < depth; i++)
        n += (size_t)sprintf(doc + n, "</a>");
    (void)state;
    /* 70,000 bytes: past the UDP size limit, so lift it to reach the depth limit. */
    struct alert_xml *big;
    struct alert_xml_limits lim = {.max_datagram = 1 << 20};
    assert_int_equal(alert_xml_new(&lim, &big), 0);
    struct alert_xml_result r;
    int rc = alert_xml_parse(big, doc, n, &r);
    free(doc);
    alert_xml_free(big);
    assert_int_equal(rc, -EBADMSG);
    assert_int_equal(r.reason, ALERT_XML_DEPTH);
}

static char *alert_with_field(const char *field, size_t len, size_t *total)
{
    char *doc = malloc(len + 256);
    size_t n = (size_t)sprintf(doc,
                               "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>"
                               "<Component>c</Component><%s>",
                               field);
    memset(doc + n, 'x', len);
    n += len;
    n += (size_t)sprintf(doc + n, "</%s></Alert>", field);
    *total = n;
    return doc;
}

static void test_alert_xml_megabyte_field_refused(void **state)
{
    size_t n;
    char *doc = alert_with_field("Msg", 1 << 20, &n);
    /* Longer than any UDP datagram: refused before libxml2 sees a byte. */
    assert_refused(state, doc, n, ALERT_XML_TOO_LARGE);
    free(doc);

    /* With the size limit lifted, the field limit stops the parse. */
    struct alert_xml *big;
    struct alert_xml_limits lim = {.max_datagram = 4 << 20};
    assert_int_equal(alert_xml_new(&lim, &big), 0);
    doc = alert_with_field("LongMsg", 1 << 20, &n);
    struct alert_xml_result r;
    assert_int_equal(alert_xml_parse(big, doc, n, &r), -EBADMSG);
    assert_int_equal(r.reason, ALERT_XML_FIELD_TOO_LONG);
    assert_non_null(strstr(r.error, "LongMsg"));
    free(doc);
    alert_xml_free(big);
}

static void test_alert_xml_host_length_limit(void **state)
{
    char host[ALERT_KEY_MAX + 2];
    char doc[1024];
    struct alert_xml_result r;

    memset(host, 'h', ALERT_KEY_MAX);
    host[ALERT_KEY_MAX] = '\0';
    snprintf(doc, sizeof(doc),
             "<Alert><Action>Upd</Action><ProblemHost>%s</ProblemHost>"
             "<Component>c</Component></Alert>",
             host);
    assert_int_equal(parse(state, doc, &r), 0);
    assert_int_equal(r.alerts[0].host_len, ALERT_KEY_MAX);

    host[ALERT_KEY_MAX] = 'h';
    host[ALERT_KEY_MAX + 1] = '\0';
    snprintf(doc, sizeof(doc),
             "<Alert><Action>Upd</Action><ProblemHost>%s</ProblemHost>"
             "<Component>c</Component></Alert>",
             host);
    assert_refused(state, doc, strlen(doc), ALERT_XML_FIELD_TOO_LONG);
}

static void test_alert_xml_truncated_refused_with_position(void **state)
{
    size_t len;
    char *doc = load("upd_full.xml", &len);
    assert_refused(state, doc, len / 2, ALERT_XML_SYNTAX);
    struct alert_xml_result r;
    alert_xml_parse(*state, doc, len / 2, &r);
    assert_non_null(strstr(r.error, "line "));
    const char *cut = "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>";
    assert_int_equal(parse(state, cut, &r), -EBADMSG);
    if (strstr(r.error, "truncated") == NULL)
        fail_msg("error does not say truncated: %s", r.error);
}

static void test_alert_xml_binary_junk_and_empty_refused(void **state)
{
    unsigned char junk[512];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        junk[i] = (unsigned char)x;
    }
    junk[0] = 0xff; /* never a '<' or a blank */
    assert_refused(state, (const char *)junk, sizeof(junk), ALERT_XML_SYNTAX);
    assert_refused(state, "", 0, ALERT_XML_SYNTAX);
    assert_refused(state, " \n\t", 3, ALERT_XML_SYNTAX);
    assert_refused(state, "<Alert>", 7, ALERT_XML_SYNTAX);
}

static void test_alert_xml_invalid_utf8_that_libxml2_passes_is_refused(void **state)
{
    /* An overlong encoding in a CDATA section: libxml2 2.9 hands it over (the fuzzer found
     * it); the parser must not, or the change could not be encoded downstream. */
    const char *doc = "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>"
                      "<Component>c</Component><Msg><![CDATA[BB\xc1\xbd]]></Msg></Alert>";
    assert_refused(state, doc, strlen(doc), ALERT_XML_ENCODING);
    struct alert_xml_result r;
    parse(state, doc, &r);
    assert_non_null(strstr(r.error, "Msg is not valid UTF-8"));
    const char *ok = "<Alert><Action>Upd</Action><ProblemHost>h\xc3\xa9</ProblemHost>"
                     "<Component>c</Component><Msg><![CDATA[\xe2\x9c\x93]]></Msg></Alert>";
    assert_int_equal(parse(state, ok, &r), 0);
}

static void test_alert_xml_well_formed_without_alert_refused(void **state)
{
    const char *doc = "<Event><Id>1</Id></Event>";
    assert_refused(state, doc, strlen(doc), ALERT_XML_NO_ALERT);
}

static void assert_alert_rejected(void **state, const char *doc, enum alert_xml_reason reason)
{
    struct alert_xml_result r;
    assert_int_equal(parse(state, doc, &r), 0);
    assert_int_equal(r.n_alerts, 0);
    assert_int_equal(r.n_rejected, 1);
    assert_int_equal(r.rejected[reason], 1);
    if (r.reason != reason)
        fail_msg("reason %s, expected %s", alert_xml_reason_name(r.reason),
                 alert_xml_reason_name(reason));
    assert_false(alert_xml_reason_is_document(r.reason));
}

static void test_alert_xml_missing_required_fields_reject_the_alert(void **state)
{
    assert_alert_rejected(state, "<Alert><Action>Upd</Action><Component>c</Component></Alert>",
                          ALERT_XML_NO_HOST);
    assert_alert_rejected(state,
                          "<Alert><Action>Upd</Action><ProblemHost> </ProblemHost>"
                          "<Component>c</Component></Alert>",
                          ALERT_XML_NO_HOST);
    assert_alert_rejected(state, "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost></Alert>",
                          ALERT_XML_NO_COMPONENT);
    assert_alert_rejected(state,
                          "<Alert><ProblemHost>h</ProblemHost><Component>c</Component></Alert>",
                          ALERT_XML_NO_ACTION);
    assert_alert_rejected(state,
                          "<Alert><Action>Explode</Action><ProblemHost>h</ProblemHost>"
                          "<Component>c</Component></Alert>",
                          ALERT_XML_BAD_ACTION);
    assert_alert_rejected(state,
                          "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>"
                          "<Component>c</Component><Severity>high</Severity></Alert>",
                          ALERT_XML_BAD_NUMBER);
    assert_alert_rejected(state,
                          "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>"
                          "<Component>c</Component><Count>-1</Count></Alert>",
                          ALERT_XML_BAD_NUMBER);
    assert_alert_rejected(state,
                          "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>"
                          "<Component>c</Component><AutoClear>maybe</AutoClear></Alert>",
                          ALERT_XML_BAD_NUMBER);
    /* The value is quoted cut at 32 bytes: here inside a two-byte character, which must not
     * leave half of it in the text (the TCP reply carries it as XML). */
    struct alert_xml_result r;
    assert_int_equal(parse(state,
                           "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>"
                           "<Component>c</Component><Severity>x\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
                           "\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
                           "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9</Severity></Alert>",
                           &r),
                     0);
    assert_int_equal(r.reason, ALERT_XML_BAD_NUMBER);
    assert_true(alert_utf8_valid(r.error, strlen(r.error)));
    assert_non_null(strstr(r.error, "\xc3\xa9?'"));
}

/* Every kind of field refuses an undecodable value for its encoding, not for its content:
 * numbers, booleans and the action are checked only when they do not read right. */
static void test_alert_xml_invalid_utf8_in_every_kind_of_field(void **state)
{
    static const char *const docs[][2] = {
        {"<Alert><Action>Upd</Action><ProblemHost><![CDATA[h\xc1\xbd]]></ProblemHost>"
         "<Component>c</Component></Alert>",
         "ProblemHost"},
        {"<Alert><Action><![CDATA[Upd\xc1\xbd]]></Action><ProblemHost>h</ProblemHost>"
         "<Component>c</Component></Alert>",
         "Action"},
        {"<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost><Component>c</Component>"
         "<Severity><![CDATA[3\xc1\xbd]]></Severity></Alert>",
         "Severity"},
        {"<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost><Component>c</Component>"
         "<AutoClear><![CDATA[\xc1\xbd]]></AutoClear></Alert>",
         "AutoClear"},
        {"<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost><Component>c</Component>"
         "<Rack><![CDATA[\xc1\xbd]]></Rack></Alert>",
         "Rack"},
    };
    for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        struct alert_xml_result r;
        assert_int_equal(parse(state, docs[i][0], &r), -EBADMSG);
        assert_int_equal(r.reason, ALERT_XML_ENCODING);
        char want[64];
        snprintf(want, sizeof(want), "%s is not valid UTF-8", docs[i][1]);
        assert_non_null(strstr(r.error, want));
    }
}

/* The validator reads words, and overlapping words at the end: a bad or a good multi-byte
 * sequence at every position of every short length is seen. */
static void test_alert_xml_utf8_check_at_every_position(void **state)
{
    (void)state;
    char buf[40];
    for (size_t n = 1; n <= 24; n++) {
        for (size_t at = 0; at < n; at++) {
            memset(buf, 'a', sizeof(buf));
            buf[at] = (char)0xff; /* never valid */
            assert_false(alert_utf8_valid(buf, n));
            buf[at] = (char)0x80; /* a lone continuation byte */
            assert_false(alert_utf8_valid(buf, n));
            assert_true(alert_utf8_valid(buf, at)); /* the ASCII before it */
            if (at + 2 <= n) {
                memcpy(buf + at, "\xc3\xa9", 2);
                assert_true(alert_utf8_valid(buf, n));
                assert_false(alert_utf8_valid(buf, at + 1)); /* cut in the middle */
                memcpy(buf + at, "\xc1\xbd", 2);             /* overlong */
                assert_false(alert_utf8_valid(buf, n));
            }
        }
    }
    assert_true(alert_utf8_valid("", 0));
}

/* The number, boolean and action readers are the parser's own: their edges, one by one. */
static void test_alert_xml_numbers_booleans_and_actions_at_their_edges(void **state)
{
    static const struct {
        const char *field, *value;
        int ok;
        int64_t want;
    } cases[] = {
        {"Severity", "3", 1, 3},
        {"Severity", " -7 ", 1, -7},
        {"Severity", "+12", 1, 12},
        {"Severity", "0007", 1, 7},
        {"Severity", "2147483647", 1, INT32_MAX},
        {"Severity", "-2147483648", 1, INT32_MIN},
        {"Severity", "2147483648", 0, 0},
        {"Severity", "-2147483649", 0, 0},
        {"Severity", "", 0, 0},
        {"Severity", "-", 0, 0},
        {"Severity", "+", 0, 0},
        {"Severity", "1 2", 0, 0},
        {"Severity", "0x10", 0, 0},
        {"Severity", "3.0", 0, 0},
        {"StartTime", "4503599627370496", 1, INT64_C(1) << 52},
        {"StartTime", "4503599627370497", 0, 0},
        {"StartTime", "9223372036854775807", 0, 0},
        {"StartTime", "9223372036854775808", 0, 0},
        {"StartTime", "-9223372036854775808", 0, 0},
        {"StartTime", "99999999999999999999999", 0, 0},
        {"AutoClear", "TRUE", 1, 1},
        {"AutoClear", "Yes", 1, 1},
        {"AutoClear", "1", 1, 1},
        {"AutoClear", "fAlSe", 1, 0},
        {"AutoClear", "NO", 1, 0},
        {"AutoClear", "0", 1, 0},
        {"AutoClear", "2", 0, 0},
        {"AutoClear", "tru", 0, 0},
        {"AutoClear", "truee", 0, 0},
        {"AutoClear", "", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char doc[512];
        struct alert_xml_result r;
        snprintf(doc, sizeof(doc),
                 "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>"
                 "<Component>c</Component><%s>%s</%s></Alert>",
                 cases[i].field, cases[i].value, cases[i].field);
        assert_int_equal(parse(state, doc, &r), 0);
        if (!cases[i].ok) {
            assert_int_equal(r.n_alerts, 0);
            assert_int_equal(r.rejected[ALERT_XML_BAD_NUMBER], 1);
            continue;
        }
        assert_int_equal(r.n_alerts, 1);
        enum alert_num f = strcmp(cases[i].field, "Severity") == 0    ? ALERT_SEVERITY
                           : strcmp(cases[i].field, "StartTime") == 0 ? ALERT_START_TIME
                                                                      : ALERT_AUTOCLEAR;
        assert_true(alert_has_num(&r.alerts[0], f));
        assert_true(r.alerts[0].num[f] == cases[i].want);
    }
    static const struct {
        const char *text;
        int action; /* -1: refused */
    } actions[] = {{"Upd", ALERT_UPD},
                   {"UPD", ALERT_UPD},
                   {" del ", ALERT_DEL},
                   {"UpdOnly", ALERT_UPDONLY},
                   {"post", ALERT_POST},
                   {"Up", -1},
                   {"Updo", -1},
                   {"Dell", -1},
                   {"", -1}};
    for (size_t i = 0; i < sizeof(actions) / sizeof(actions[0]); i++) {
        char doc[512];
        struct alert_xml_result r;
        snprintf(doc, sizeof(doc),
                 "<Alert><Action>%s</Action><ProblemHost>h</ProblemHost>"
                 "<Component>c</Component></Alert>",
                 actions[i].text);
        assert_int_equal(parse(state, doc, &r), 0);
        if (actions[i].action < 0) {
            assert_int_equal(r.rejected[ALERT_XML_BAD_ACTION], 1);
            continue;
        }
        assert_int_equal(r.n_alerts, 1);
        assert_int_equal(r.alerts[0].action, actions[i].action);
    }
}

/* Known element names are recognised by their interned pointer; a wrapper named like a field,
 * a field named like a wrapper, and a name the dictionary met only later all still land where
 * their text says. */
static void test_alert_xml_names_recognised_in_any_position(void **state)
{
    struct alert_xml_result r;
    const char *doc = "<Msg><Severity>9</Severity><Alerts><Alert><Action>Upd</Action>"
                      "<ProblemHost>h</ProblemHost><Component>c</Component><Alert>x</Alert>"
                      "<NewName>v</NewName><Msg>m</Msg></Alert></Alerts></Msg>";
    assert_int_equal(parse(state, doc, &r), 0);
    assert_int_equal(r.n_alerts, 1);
    const struct alert *a = &r.alerts[0];
    assert_false(alert_has_num(a, ALERT_SEVERITY)); /* outside the Alert: a wrapper field */
    assert_string_equal(a->text[ALERT_MSG], "m");
    assert_int_equal(a->n_extra, 2);
    assert_string_equal(a->extra[0].name, "Alert");
    assert_string_equal(a->extra[0].value, "x");
    assert_string_equal(a->extra[1].name, "NewName");
    /* The same document again: NewName is in the dictionary now, still an extra. */
    assert_int_equal(parse(state, doc, &r), 0);
    assert_int_equal(r.alerts[0].n_extra, 2);
    assert_string_equal(r.alerts[0].extra[1].name, "NewName");
}

static void test_alert_xml_bad_alert_does_not_take_siblings_down(void **state)
{
    const char *doc = "<Alerts>"
                      "<Alert><Action>Upd</Action><ProblemHost>a</ProblemHost>"
                      "<Component>1</Component></Alert>"
                      "<Alert><Action>Upd</Action><Component>2</Component></Alert>"
                      "<Alert><Action>Del</Action><ProblemHost>a</ProblemHost>"
                      "<Component>3</Component></Alert></Alerts>";
    struct alert_xml_result r;
    assert_int_equal(parse(state, doc, &r), 0);
    assert_int_equal(r.n_alerts, 2);
    assert_string_equal(r.alerts[0].component, "1");
    assert_string_equal(r.alerts[1].component, "3");
    assert_int_equal(r.n_rejected, 1);
    assert_int_equal(r.reason, ALERT_XML_NO_HOST);
    assert_non_null(strstr(r.error, "alert 2"));
}

static void test_alert_xml_alert_count_limit(void **state)
{
    (void)state;
    struct alert_xml *p;
    struct alert_xml_limits lim = {.max_alerts = 2};
    assert_int_equal(alert_xml_new(&lim, &p), 0);
    size_t len;
    char *doc = load("batch.xml", &len); /* three alerts */
    struct alert_xml_result r;
    assert_int_equal(alert_xml_parse(p, doc, len, &r), -EBADMSG);
    assert_int_equal(r.reason, ALERT_XML_TOO_MANY_ALERTS);
    alert_xml_free(p);
}

static void test_alert_xml_context_reusable_after_refusals(void **state)
{
    size_t len;
    struct alert_xml_result r;
    char *bomb = load("billion_laughs.xml", &len);
    assert_int_equal(alert_xml_parse(*state, bomb, len, &r), -EBADMSG);
    assert_int_equal(parse(state, "<Alert><a", &r), -EBADMSG);
    assert_int_equal(parse_file(state, "del.xml", &r), 0);
    assert_int_equal(r.n_alerts, 1);
    assert_string_equal(r.alerts[0].host, "web12");
}

static void test_alert_xml_invented_names_do_not_grow_without_bound(void **state)
{
    /* Every datagram a new element name: the context is rebuilt past its name budget,
     * and parsing stays correct throughout. */
    char doc[256];
    struct alert_xml_result r;
    for (int i = 0; i < 10000; i++) {
        snprintf(doc, sizeof(doc),
                 "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>"
                 "<Component>c</Component><N%d>v</N%d></Alert>",
                 i, i);
        assert_int_equal(parse(state, doc, &r), 0);
        assert_int_equal(r.alerts[0].n_extra, 1);
    }
}

/* A document with a refused alert: status="error", the refusal first, then the results of
 * the alerts applied; values escaped; a buffer too small is -ENOSPC, not a cut reply. */
static void test_alert_xml_reply_error_keeps_the_results(void **st)
{
    (void)st;
    char buf[512];
    struct alert_xml_reply_item item = {"raise", 7, "web<12>", "disk"};
    int n = alert_xml_reply(buf, sizeof(buf), &item, 1, "bad_number",
                            "line 1: alert 2: Severity 'x&y' is not an integer");
    assert_int_equal(n, (int)strlen(buf));
    assert_string_equal(buf,
                        "<Reply status=\"error\"><Error reason=\"bad_number\">line 1: alert 2: "
                        "Severity 'x&amp;y' is not an integer</Error><Result outcome=\"raise\" "
                        "version=\"7\" host=\"web&lt;12&gt;\" component=\"disk\"/></Reply>");
    n = alert_xml_reply(buf, sizeof(buf), NULL, 0, "bad_number", "refused");
    assert_string_equal(buf, "<Reply status=\"error\"><Error reason=\"bad_number\">refused</Error>"
                             "</Reply>");
    n = alert_xml_reply(buf, sizeof(buf), &item, 1, NULL, NULL);
    assert_string_equal(buf, "<Reply status=\"ok\"><Result outcome=\"raise\" version=\"7\" "
                             "host=\"web&lt;12&gt;\" component=\"disk\"/></Reply>");
    assert_int_equal(alert_xml_reply(buf, 20, &item, 1, "bad_number", "refused"), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_alert_xml_del_example, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_full_upd_example_any_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_event_wrapper_cdata_and_blanks, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_batch_keeps_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_proxd_attribute_form, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_declaration_whitespace_newline, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_latin1_is_transcoded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_seq_ttl_and_extras, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_extras_past_the_cap_are_dropped_and_counted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_billion_laughs_refused_at_doctype, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_external_entity_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_undeclared_entity_is_syntax_error, setup,
                                        teardown),
        cmocka_unit_test(test_alert_xml_deep_nesting_refused),
        cmocka_unit_test_setup_teardown(test_alert_xml_megabyte_field_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_host_length_limit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_truncated_refused_with_position, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_binary_junk_and_empty_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_invalid_utf8_that_libxml2_passes_is_refused,
                                        setup, teardown),
        cmocka_unit_test(test_alert_xml_utf8_check_at_every_position),
        cmocka_unit_test_setup_teardown(test_alert_xml_invalid_utf8_in_every_kind_of_field, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_numbers_booleans_and_actions_at_their_edges,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_names_recognised_in_any_position, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_well_formed_without_alert_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_missing_required_fields_reject_the_alert,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_bad_alert_does_not_take_siblings_down, setup,
                                        teardown),
        cmocka_unit_test(test_alert_xml_alert_count_limit),
        cmocka_unit_test_setup_teardown(test_alert_xml_context_reusable_after_refusals, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_alert_xml_invented_names_do_not_grow_without_bound,
                                        setup, teardown),
        cmocka_unit_test(test_alert_xml_reply_error_keeps_the_results),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
