/* test_sources.c - per-sender Seq accounting: gaps, late numbers, repeats, the bounded
 * table. Pins today's behaviour through sources.h before the control-plane refactor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/sources.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

static struct sockaddr_in addr4(const char *ip, int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct sockaddr_in6 addr6(const char *ip, int port)
{
    struct sockaddr_in6 a;
    memset(&a, 0, sizeof(a));
    a.sin6_family = AF_INET6;
    a.sin6_port = htons((uint16_t)port);
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return a;
}

/* One datagram holding one alert with Seq seq from sa. */
static void seq(struct sources *s, const struct sockaddr_in *sa, int64_t n)
{
    void *e = sources_datagram(s, (const struct sockaddr *)sa, 1000);
    assert_non_null(e);
    sources_alert(s, e, 1, n);
}

static struct sources_totals totals(const struct sources *s)
{
    struct sources_totals t;
    sources_totals(s, &t);
    return t;
}

/* The one sender's entry, copied out by sources_foreach. */
struct found {
    struct source_info info;
    int calls;
};

static int find_cb(const struct source_info *info, void *data)
{
    struct found *f = data;
    f->info = *info;
    f->calls++;
    return 0;
}

static struct source_info only_sender(const struct sources *s)
{
    struct found f = {.calls = 0};
    assert_int_equal(sources_foreach(s, find_cb, &f), 0);
    assert_int_equal(f.calls, 1);
    return f.info;
}

static void test_sources_in_order_has_no_gap(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(0, &s), 0);
    struct sockaddr_in a = addr4("10.0.0.1", 5000);
    /* The first number seen starts the count, whatever it is: a sender that started
     * before us is not a gap. */
    for (int64_t n = 17; n < 27; n++)
        seq(s, &a, n);
    struct sources_totals t = totals(s);
    assert_int_equal(t.seq_gaps, 0);
    assert_int_equal(t.reordered, 0);
    assert_int_equal(t.duplicates, 0);
    assert_int_equal(t.tracked, 1);
    assert_int_equal(t.untracked, 0);
    struct source_info i = only_sender(s);
    assert_int_equal(i.datagrams, 10);
    assert_int_equal(i.alerts, 10);
    assert_int_equal(i.last_seq, 26);
    assert_int_equal(i.last_seen_ms, 1000);
    sources_free(s);
}

static void test_sources_jump_counts_every_missing_number(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(0, &s), 0);
    struct sockaddr_in a = addr4("10.0.0.1", 5000);
    seq(s, &a, 1);
    seq(s, &a, 2);
    seq(s, &a, 6); /* 3, 4, 5 missing */
    assert_int_equal(totals(s).seq_gaps, 3);
    seq(s, &a, 7);
    seq(s, &a, 1007); /* 999 more */
    assert_int_equal(totals(s).seq_gaps, 1002);
    struct source_info i = only_sender(s);
    assert_int_equal(i.seq_gaps, 1002);
    assert_int_equal(i.last_seq, 1007);
    sources_free(s);
}

static void test_sources_late_number_fills_a_gap(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(0, &s), 0);
    struct sockaddr_in a = addr4("10.0.0.1", 5000);
    seq(s, &a, 1);
    seq(s, &a, 4); /* 2, 3 counted missing */
    seq(s, &a, 3); /* late: one gap filled */
    struct sources_totals t = totals(s);
    assert_int_equal(t.seq_gaps, 1);
    assert_int_equal(t.reordered, 1);
    seq(s, &a, 2);
    t = totals(s);
    assert_int_equal(t.seq_gaps, 0);
    assert_int_equal(t.reordered, 2);
    assert_int_equal(t.duplicates, 0);
    /* A late number does not move the sender's position: 5 is the next in order. */
    assert_int_equal(only_sender(s).last_seq, 4);
    seq(s, &a, 5);
    assert_int_equal(totals(s).seq_gaps, 0);
    sources_free(s);
}

static void test_sources_same_number_again_is_a_duplicate(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(0, &s), 0);
    struct sockaddr_in a = addr4("10.0.0.1", 5000);
    seq(s, &a, 1);
    seq(s, &a, 1);
    seq(s, &a, 1);
    seq(s, &a, 2);
    struct sources_totals t = totals(s);
    assert_int_equal(t.duplicates, 2);
    assert_int_equal(t.seq_gaps, 0);
    assert_int_equal(t.reordered, 0);
    assert_int_equal(only_sender(s).duplicates, 2);
    sources_free(s);
}

/* Today's accounting only remembers the highest number: a number below it counts as late
 * whether it came before or not, and the gap count never goes below zero. Both are pinned
 * here as they are (the first under-counts loss: see the note in the report on issue 14). */
static void test_sources_only_the_last_number_is_remembered(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(0, &s), 0);
    struct sockaddr_in a = addr4("10.0.0.1", 5000);
    seq(s, &a, 1);
    seq(s, &a, 2);
    seq(s, &a, 3);
    seq(s, &a, 2); /* a repeat of an older number: late, and no gap to fill */
    struct sources_totals t = totals(s);
    assert_int_equal(t.reordered, 1);
    assert_int_equal(t.duplicates, 0);
    assert_int_equal(t.seq_gaps, 0);
    seq(s, &a, 6); /* 4, 5 missing */
    seq(s, &a, 4); /* late: fills one */
    seq(s, &a, 4); /* the same late number again fills the other, though 5 never came */
    t = totals(s);
    assert_int_equal(t.reordered, 3);
    assert_int_equal(t.seq_gaps, 0);
    sources_free(s);
}

static void test_sources_alerts_without_seq_are_counted_only(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(0, &s), 0);
    struct sockaddr_in a = addr4("10.0.0.1", 5000);
    void *e = sources_datagram(s, (const struct sockaddr *)&a, 5);
    sources_alert(s, e, 0, 0);
    sources_alert(s, e, 0, 99);
    seq(s, &a, 10);
    e = sources_datagram(s, (const struct sockaddr *)&a, 7);
    sources_alert(s, e, 0, 0); /* no Seq: the sequence is not broken */
    seq(s, &a, 11);
    struct source_info i = only_sender(s);
    assert_int_equal(i.datagrams, 4);
    assert_int_equal(i.alerts, 5);
    assert_int_equal(i.last_seq, 11);
    assert_int_equal(i.seq_gaps, 0);
    assert_int_equal(i.last_seen_ms, 1000);
    sources_free(s);
}

static void test_sources_batch_of_alerts_in_one_datagram(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(0, &s), 0);
    struct sockaddr_in a = addr4("10.0.0.1", 5000);
    void *e = sources_datagram(s, (const struct sockaddr *)&a, 1);
    for (int64_t n = 1; n <= 5; n++)
        sources_alert(s, e, 1, n == 3 ? 4 : n); /* 1 2 4 4 5: 3 missing, 4 twice */
    struct sources_totals t = totals(s);
    assert_int_equal(t.seq_gaps, 1);
    assert_int_equal(t.duplicates, 1);
    struct source_info i = only_sender(s);
    assert_int_equal(i.datagrams, 1);
    assert_int_equal(i.alerts, 5);
    sources_free(s);
}

static void test_sources_keyed_by_address_and_port(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(0, &s), 0);
    struct sockaddr_in a = addr4("10.0.0.1", 5000), b = addr4("10.0.0.1", 5001),
                       c = addr4("10.0.0.2", 5000);
    struct sockaddr_in6 d = addr6("::1", 5000);
    /* Each sender numbers on its own: no gaps between them. */
    seq(s, &a, 1);
    seq(s, &b, 100);
    seq(s, &c, 50);
    void *e = sources_datagram(s, (const struct sockaddr *)&d, 1);
    sources_alert(s, e, 1, 7);
    seq(s, &a, 2);
    seq(s, &b, 101);
    seq(s, &c, 51);
    assert_ptr_equal(sources_datagram(s, (const struct sockaddr *)&d, 1), e);
    sources_alert(s, e, 1, 9); /* 8 missing from this one */
    struct sources_totals t = totals(s);
    assert_int_equal(t.tracked, 4);
    assert_int_equal(t.seq_gaps, 1);
    sources_free(s);
}

static void test_sources_no_address_is_not_tracked(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(0, &s), 0);
    void *e = sources_datagram(s, NULL, 1);
    assert_null(e);
    sources_alert(s, e, 1, 5); /* ignored */
    struct sources_totals t = totals(s);
    assert_int_equal(t.tracked, 0);
    assert_int_equal(t.untracked, 0);
    sources_free(s);
}

static void test_sources_table_is_bounded(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(3, &s), 0);
    char ip[32];
    struct sockaddr_in a;
    for (int i = 0; i < 3; i++) {
        snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
        a = addr4(ip, 5000);
        seq(s, &a, 1);
    }
    /* Past the cap: counted per datagram, not tracked, no Seq accounting. */
    for (int i = 0; i < 10; i++) {
        snprintf(ip, sizeof(ip), "10.0.1.%d", i + 1);
        a = addr4(ip, 5000);
        void *e = sources_datagram(s, (const struct sockaddr *)&a, 1);
        assert_null(e);
        sources_alert(s, e, 1, i * 10);
    }
    a = addr4("10.0.1.1", 5000);
    assert_null(sources_datagram(s, (const struct sockaddr *)&a, 1));
    struct sources_totals t = totals(s);
    assert_int_equal(t.tracked, 3);
    assert_int_equal(t.untracked, 11);
    assert_int_equal(t.seq_gaps, 0);
    /* The senders already known keep being tracked. */
    a = addr4("10.0.0.2", 5000);
    seq(s, &a, 3);
    t = totals(s);
    assert_int_equal(t.seq_gaps, 1);
    assert_int_equal(t.untracked, 11);
    sources_free(s);
}

static int stop_cb(const struct source_info *info, void *data)
{
    (void)info;
    int *calls = data;
    return ++*calls == 2 ? 42 : 0;
}

static void test_sources_foreach_stops_early(void **st)
{
    (void)st;
    struct sources *s;
    assert_int_equal(sources_new(0, &s), 0);
    char ip[32];
    for (int i = 0; i < 5; i++) {
        snprintf(ip, sizeof(ip), "10.0.0.%d", i + 1);
        struct sockaddr_in a = addr4(ip, 5000);
        seq(s, &a, 1);
    }
    int calls = 0;
    assert_int_equal(sources_foreach(s, stop_cb, &calls), 42);
    assert_int_equal(calls, 2);
    sources_free(s);
    sources_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sources_in_order_has_no_gap),
        cmocka_unit_test(test_sources_jump_counts_every_missing_number),
        cmocka_unit_test(test_sources_late_number_fills_a_gap),
        cmocka_unit_test(test_sources_same_number_again_is_a_duplicate),
        cmocka_unit_test(test_sources_only_the_last_number_is_remembered),
        cmocka_unit_test(test_sources_alerts_without_seq_are_counted_only),
        cmocka_unit_test(test_sources_batch_of_alerts_in_one_datagram),
        cmocka_unit_test(test_sources_keyed_by_address_and_port),
        cmocka_unit_test(test_sources_no_address_is_not_tracked),
        cmocka_unit_test(test_sources_table_is_bounded),
        cmocka_unit_test(test_sources_foreach_stops_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
