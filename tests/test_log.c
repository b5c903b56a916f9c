/* test_log.c - levels and the rate limit for sender-provoked messages. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Run fn with stderr captured into a temporary file; return what it printed. */
static char captured[16384];

static const char *capture(void (*fn)(void))
{
    FILE *tmp = tmpfile();
    assert_non_null(tmp);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(fileno(tmp), STDERR_FILENO);
    fn();
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    rewind(tmp);
    size_t n = fread(captured, 1, sizeof(captured) - 1, tmp);
    captured[n] = '\0';
    fclose(tmp);
    return captured;
}

static int count_lines(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

static void burst(void)
{
    struct log_ratelimit rl = {.what = "malformed datagrams"};
    for (int i = 0; i < 1234 + LOG_RATELIMIT_BURST; i++)
        log_ratelimited(&rl, 100 + i, LOG_LEVEL_WARNING, "bad datagram %d", i);
    log_ratelimit_flush(&rl, 100 + LOG_RATELIMIT_WINDOW_MS - 1); /* window not over */
    log_ratelimit_flush(&rl, 100 + LOG_RATELIMIT_WINDOW_MS + 5000);
    log_ratelimited(&rl, 100 + LOG_RATELIMIT_WINDOW_MS + 5001, LOG_LEVEL_WARNING,
                    "bad datagram after");
}

static void test_log_ratelimit_summarises_suppressed_lines(void **st)
{
    (void)st;
    unsetenv("JOURNAL_STREAM");
    const char *out = capture(burst);
    assert_int_equal(count_lines(out, "bad datagram "), LOG_RATELIMIT_BURST + 1);
    assert_non_null(strstr(out, "... 1234 more malformed datagrams in the last 10 s"));
    assert_int_equal(count_lines(out, "more malformed"), 1);
    assert_non_null(strstr(out, "bad datagram after"));
}

static void levels(void)
{
    log_set_level(LOG_LEVEL_WARNING);
    log_info("quiet info");
    log_warning("loud warning");
    log_set_level(LOG_LEVEL_INFO);
}

static void test_log_level_filters(void **st)
{
    (void)st;
    unsetenv("JOURNAL_STREAM");
    const char *out = capture(levels);
    assert_null(strstr(out, "quiet info"));
    assert_non_null(strstr(out, "warning: loud warning"));
}

static void journal(void)
{
    log_error("to the journal");
}

static void test_log_journal_priority_prefix(void **st)
{
    (void)st;
    setenv("JOURNAL_STREAM", "8:1234", 1);
    const char *out = capture(journal);
    unsetenv("JOURNAL_STREAM");
    assert_string_equal(out, "<3>to the journal\n");
}

static void test_log_level_names(void **st)
{
    (void)st;
    enum log_level l;
    assert_int_equal(log_level_parse("debug", &l), 0);
    assert_int_equal(l, LOG_LEVEL_DEBUG);
    assert_int_equal(log_level_parse("verbose", &l), -EINVAL);
    assert_string_equal(log_level_name(LOG_LEVEL_NOTICE), "notice");
}

/* A stats line is longer than log_msg's buffer once a broker, a journal and refusal
 * families are in it (1,100 bytes cut it silently): log_text writes it whole, one line. */
static char long_text[6001];

static void long_line(void)
{
    memset(long_text, 'x', sizeof(long_text) - 1);
    memcpy(long_text + sizeof(long_text) - 6, "=end!", 5);
    log_text(LOG_LEVEL_INFO, "stats (final): ", long_text);
    log_set_level(LOG_LEVEL_WARNING);
    log_text(LOG_LEVEL_INFO, "stats: ", "filtered");
    log_set_level(LOG_LEVEL_INFO);
}

static void test_log_text_is_never_cut(void **st)
{
    (void)st;
    unsetenv("JOURNAL_STREAM");
    const char *out = capture(long_line);
    const char *at = strstr(out, " info: stats (final): xxx");
    assert_non_null(at);
    at += strlen(" info: stats (final): ");
    assert_int_equal(strcspn(at, "\n"), sizeof(long_text) - 1);
    assert_string_equal(at + sizeof(long_text) - 6, "=end!\n");
    assert_int_equal(count_lines(out, "\n"), 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_ratelimit_summarises_suppressed_lines),
        cmocka_unit_test(test_log_level_filters),
        cmocka_unit_test(test_log_journal_priority_prefix),
        cmocka_unit_test(test_log_level_names),
        cmocka_unit_test(test_log_text_is_never_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
