/* test_text_table.c - text from the network on a terminal: names cut to their column with
 * "…" (never inside a UTF-8 sequence), control characters shown as '?', a newline as a
 * space, bytes that are not UTF-8 as '?', JSON with C1 escaped, padding, ages in one
 * unit. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tools/text_table.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What text_table_put(s, width) prints, into buf; its return value into *cols. */
static const char *put(const char *s, size_t width, size_t *cols, char *buf, size_t size)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    assert_non_null(f);
    *cols = text_table_put(f, s, width);
    fclose(f);
    snprintf(buf, size, "%s", out);
    free(out);
    return buf;
}

static void test_text_table_short_text_is_printed_whole(void **st)
{
    char b[64];
    size_t cols;
    (void)st;
    assert_string_equal(put("db1", 8, &cols, b, sizeof(b)), "db1");
    assert_int_equal(cols, 3);
    assert_string_equal(put("exactly8", 8, &cols, b, sizeof(b)), "exactly8");
    assert_int_equal(cols, 8);
    assert_string_equal(put(NULL, 8, &cols, b, sizeof(b)), "");
    assert_int_equal(cols, 0);
    assert_string_equal(put("x", 0, &cols, b, sizeof(b)), "");
}

static void test_text_table_long_text_is_cut_with_an_ellipsis(void **st)
{
    char b[64];
    size_t cols;
    (void)st;
    assert_string_equal(put("web-frontend-01", 8, &cols, b, sizeof(b)), "web-fro\u2026");
    assert_int_equal(cols, 8);
    assert_int_equal(text_table_cols(b), 8);
    assert_string_equal(put("ninechars", 8, &cols, b, sizeof(b)), "ninecha\u2026");
}

/* "é" is two bytes and one column: counted as one, and a cut never splits it. */
static void test_text_table_utf8_counts_columns_and_is_cut_whole(void **st)
{
    char b[64];
    size_t cols;
    (void)st;
    assert_int_equal(text_table_cols("caf\u00e9"), 4);
    assert_int_equal(text_table_cols(NULL), 0);
    assert_string_equal(put("caf\u00e9", 4, &cols, b, sizeof(b)), "caf\u00e9");
    assert_int_equal(cols, 4);
    assert_string_equal(put("\u00e9\u00e9\u00e9\u00e9\u00e9", 3, &cols, b, sizeof(b)),
                        "\u00e9\u00e9\u2026");
    assert_int_equal(cols, 3);
}

/* A terminal escape from the network is shown, not obeyed. */
static void test_text_table_control_characters_are_question_marks(void **st)
{
    char b[64];
    size_t cols;
    (void)st;
    assert_string_equal(put("evil\033[31mhost\x7f\r\a", 40, &cols, b, sizeof(b)),
                        "evil?[31mhost???");
    assert_int_equal(cols, 16);
}

/* An acknowledgement's comment typed in lines stays on the one line of a change or a row:
 * a newline and a tab are a space each. */
static void test_text_table_newline_and_tab_are_spaces(void **st)
{
    char b[64];
    size_t cols;
    (void)st;
    assert_string_equal(put("disk ordered\nticket\t4711\r\n", 40, &cols, b, sizeof(b)),
                        "disk ordered ticket 4711? ");
    assert_int_equal(cols, 26);
    assert_int_equal(text_table_cols("a\nb"), 3);
    assert_string_equal(put("a\n\n\nlong", 4, &cols, b, sizeof(b)), "a  \u2026");
}

/* What is not UTF-8 (a change line from another publisher, a cut body) is '?' a byte, and
 * counted as the column it takes: a lone continuation byte (0x9B, CSI in Latin-1), a lead
 * byte without its continuation, an overlong form, a surrogate. Well-formed characters of
 * 2, 3 and 4 bytes are printed. */
static void test_text_table_bytes_that_are_not_utf8_are_question_marks(void **st)
{
    char b[64];
    size_t cols;
    (void)st;
    assert_string_equal(put("a\x9b"
                            "b\xc3"
                            "c\xc0\xaf"
                            "d\xed\xa0\x80"
                            "e\xf5",
                            40, &cols, b, sizeof(b)),
                        "a?b?c??d???e?");
    assert_int_equal(cols, 13);
    assert_int_equal(text_table_cols("a\x9b"
                                     "b\xc3"),
                     4);
    assert_string_equal(put("\xe2\x82", 40, &cols, b, sizeof(b)), "??"); /* cut short */
    assert_string_equal(put("\u20ac\U0001F600\u00e9", 40, &cols, b, sizeof(b)),
                        "\u20ac\U0001F600\u00e9");
    assert_int_equal(cols, 3);
}

/* U+009B is CSI in one character (bytes 0xC2 0x9B): "\u009b2J" clears a terminal as
 * "\033[2J" does. Every C1 control (U+0080-U+009F) is one '?', a column as counted; the
 * characters around them (U+00A0, "é": 0xC2/0xC3 leads too) are printed. */
#define CSI "\xc2\x9b" /* U+009B: C does not take \u for a control character */
#define C1S                                                                                        \
    "a" CSI "2Jb\xc2\x80"                                                                          \
    "c\xc2\x9f"                                                                                    \
    "d" /* with U+0080 and U+009F */

static void test_text_table_c1_control_characters_are_question_marks(void **st)
{
    char b[64];
    size_t cols;
    (void)st;
    assert_string_equal(put(C1S, 40, &cols, b, sizeof(b)), "a?2Jb?c?d");
    assert_int_equal(cols, 9);
    assert_int_equal(text_table_cols(C1S), 9);
    assert_string_equal(put("\u00a0caf\u00e9", 40, &cols, b, sizeof(b)), "\u00a0caf\u00e9");
    /* cut after one: the control still one '?', never half of it */
    assert_string_equal(put(CSI CSI CSI, 2, &cols, b, sizeof(b)), "?\u2026");
    assert_int_equal(cols, 2);
}

/* A bidi override shows the rest of a row reversed, a line separator breaks it: '?', as the
 * controls; the marks next to them (U+200D, U+2027, U+202F) and Arabic text stay. */
static void test_text_table_reordering_characters_are_question_marks(void **st)
{
    char b[96];
    size_t cols;
    (void)st;
    assert_string_equal(put("a\u202eb\u2066c\u2069d\u2028e\u200ff\u061cg", 40, &cols, b, sizeof(b)),
                        "a?b?c?d?e?f?g");
    assert_int_equal(cols, 13);
    assert_string_equal(put("\u200d\u2027\u202f\u0627", 40, &cols, b, sizeof(b)),
                        "\u200d\u2027\u202f\u0627");
}

static void test_text_table_cell_pads_to_its_width_and_a_gap(void **st)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    (void)st;
    assert_non_null(f);
    text_table_cell(f, "db1", 5);
    text_table_cell(f, "replication", 5);
    text_table_cell(f, NULL, 2);
    fclose(f);
    assert_string_equal(out, "db1   repl\u2026    ");
    free(out);
}

/* What json_dumps makes (C0 escaped by jansson), with DEL and C1 escaped too: the same
 * document when parsed back. */
static void test_text_table_json_escapes_del_and_c1(void **st)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    (void)st;
    assert_non_null(f);
    json_t *doc = json_pack("{s:s, s:s}", "comment", "a" CSI "2J\x7f\033[0m\n\u00e9\u00a0", "host",
                            "web\xc2\x80"
                            "1");
    assert_non_null(doc);
    assert_int_equal(text_table_json(f, doc, JSON_COMPACT | JSON_SORT_KEYS), 0);
    fclose(f);
    assert_string_equal(out, "{\"comment\":\"a\\u009B2J\\u007F\\u001B[0m\\n\u00e9\u00a0\","
                             "\"host\":\"web\\u00801\"}");
    json_t *back = json_loads(out, 0, NULL);
    assert_true(json_equal(back, doc));
    json_decref(back);
    json_decref(doc);
    free(out);
}

static void test_text_table_age_rounds_down_to_one_unit(void **st)
{
    char b[16];
    (void)st;
    assert_string_equal(text_table_age(0, b, sizeof(b)), "0s");
    assert_string_equal(text_table_age(-5000, b, sizeof(b)), "0s"); /* clocks apart */
    assert_string_equal(text_table_age(42999, b, sizeof(b)), "42s");
    assert_string_equal(text_table_age(59999, b, sizeof(b)), "59s");
    assert_string_equal(text_table_age(60000, b, sizeof(b)), "1m");
    assert_string_equal(text_table_age(5 * 60000 + 59000, b, sizeof(b)), "5m");
    assert_string_equal(text_table_age(3 * 3600000LL + 1, b, sizeof(b)), "3h");
    assert_string_equal(text_table_age(86400000LL - 1, b, sizeof(b)), "23h");
    assert_string_equal(text_table_age(2 * 86400000LL + 7, b, sizeof(b)), "2d");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text_table_short_text_is_printed_whole),
        cmocka_unit_test(test_text_table_long_text_is_cut_with_an_ellipsis),
        cmocka_unit_test(test_text_table_utf8_counts_columns_and_is_cut_whole),
        cmocka_unit_test(test_text_table_control_characters_are_question_marks),
        cmocka_unit_test(test_text_table_c1_control_characters_are_question_marks),
        cmocka_unit_test(test_text_table_reordering_characters_are_question_marks),
        cmocka_unit_test(test_text_table_newline_and_tab_are_spaces),
        cmocka_unit_test(test_text_table_bytes_that_are_not_utf8_are_question_marks),
        cmocka_unit_test(test_text_table_json_escapes_del_and_c1),
        cmocka_unit_test(test_text_table_cell_pads_to_its_width_and_a_gap),
        cmocka_unit_test(test_text_table_age_rounds_down_to_one_unit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
