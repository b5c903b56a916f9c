/* test_state.c - the active-alert table: every outcome, Increment, Updonly, versions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/state.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct alert mk(enum alert_action action, const char *host, const char *comp)
{
    struct alert a;
    alert_clear(&a);
    a.action = action;
    a.host = host;
    a.host_len = (uint32_t)strlen(host);
    a.component = comp;
    a.component_len = (uint32_t)strlen(comp);
    return a;
}

static void set_text(struct alert *a, enum alert_text f, const char *v)
{
    a->text[f] = v;
    a->text_len[f] = (uint32_t)strlen(v);
}

static int setup(void **st)
{
    struct state *s;
    assert_int_equal(state_new(NULL, &s), 0);
    *st = s;
    return 0;
}

static int teardown(void **st)
{
    state_free(*st);
    return 0;
}

static enum change_outcome apply(struct state *s, const struct alert *a, struct state_result *r)
{
    assert_int_equal(state_apply(s, a, 1000, r), 0);
    return r->outcome;
}

static void test_state_upd_of_inactive_raises_with_version_1(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "web12", "disk");
    alert_set_num(&a, ALERT_SEVERITY, 6);
    set_text(&a, ALERT_MSG, "disk 95% full");
    assert_int_equal(apply(*st, &a, &r), CHANGE_RAISE);
    assert_int_equal(r.version, 1);
    assert_string_equal(r.alert.host, "web12");
    assert_string_equal(r.alert.component, "disk");
    assert_string_equal(r.alert.text[ALERT_MSG], "disk 95% full");
    assert_int_equal(r.alert.text_len[ALERT_MSG], 13);
    assert_int_equal(r.alert.num[ALERT_SEVERITY], 6);
    assert_int_equal(state_count(*st), 1);
    assert_int_equal(state_version(*st), 1);
}

static void test_state_identical_upd_is_duplicate_and_not_versioned(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    set_text(&a, ALERT_MSG, "m");
    alert_set_num(&a, ALERT_SEQ, 1);
    apply(*st, &a, &r);
    alert_set_num(&a, ALERT_SEQ, 2); /* Seq numbers the datagram, not the alert */
    assert_int_equal(apply(*st, &a, &r), CHANGE_DUPLICATE);
    assert_int_equal(r.version, 0);
    a.action = ALERT_POST;
    assert_int_equal(apply(*st, &a, &r), CHANGE_DUPLICATE);
    assert_int_equal(state_version(*st), 1);
}

static int last_seen_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    (void)a;
    *(int64_t *)data = m->last_seen_ms;
    return 0;
}

static void test_state_duplicate_refreshes_last_seen(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    assert_int_equal(state_apply(*st, &a, 1000, &r), 0);
    assert_int_equal(state_apply(*st, &a, 5000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_DUPLICATE);
    int64_t seen = 0;
    state_foreach(*st, NULL, last_seen_cb, &seen);
    assert_int_equal(seen, 5000);
}

static void test_state_changed_field_is_update(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    alert_set_num(&a, ALERT_SEVERITY, 3);
    set_text(&a, ALERT_MSG, "one");
    apply(*st, &a, &r);

    alert_set_num(&a, ALERT_SEVERITY, 4);
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.alert.num[ALERT_SEVERITY], 4);

    set_text(&a, ALERT_MSG, "two");
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_string_equal(r.alert.text[ALERT_MSG], "two");

    /* Upd replaces: a field it leaves out is gone, and that is a change. */
    a.text[ALERT_MSG] = NULL;
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_null(r.alert.text[ALERT_MSG]);

    /* Sent empty differs from absent. */
    set_text(&a, ALERT_MSG, "");
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_string_equal(r.alert.text[ALERT_MSG], "");
    assert_int_equal(state_count(*st), 1);
    assert_int_equal(state_version(*st), 5); /* raise + four updates */
}

static void test_state_extra_field_change_is_update(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    a.n_extra = 1;
    a.extra[0] = (struct alert_extra){"Rack", "r1"};
    apply(*st, &a, &r);
    assert_int_equal(r.alert.n_extra, 1);
    assert_string_equal(r.alert.extra[0].value, "r1");
    assert_int_equal(apply(*st, &a, &r), CHANGE_DUPLICATE);
    a.extra[0].value = "r2";
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_string_equal(r.alert.extra[0].name, "Rack");
    assert_string_equal(r.alert.extra[0].value, "r2");
}

static void test_state_del_of_active_clears_with_last_fields(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    alert_set_num(&a, ALERT_SEVERITY, 2);
    set_text(&a, ALERT_MSG, "down");
    apply(*st, &a, &r);

    struct alert d = mk(ALERT_DEL, "h", "c");
    alert_set_num(&d, ALERT_SEQ, 9);
    assert_int_equal(apply(*st, &d, &r), CHANGE_CLEAR);
    assert_int_equal(r.version, 2);
    assert_int_equal(r.alert.action, ALERT_DEL);
    assert_string_equal(r.alert.text[ALERT_MSG], "down"); /* as it stood */
    assert_int_equal(r.alert.num[ALERT_SEVERITY], 2);
    assert_int_equal(r.alert.num[ALERT_SEQ], 9); /* the Del's Seq */
    assert_int_equal(state_count(*st), 0);
    assert_int_equal(state_host_count(*st), 0);
}

static void test_state_del_of_inactive_is_redundant(void **st)
{
    struct state_result r;
    struct alert d = mk(ALERT_DEL, "web12", "disk");
    assert_int_equal(apply(*st, &d, &r), CHANGE_REDUNDANT_CLEAR);
    assert_int_equal(r.version, 0);
    struct alert a = mk(ALERT_UPD, "web12", "disk");
    apply(*st, &a, &r);
    apply(*st, &d, &r);
    assert_int_equal(apply(*st, &d, &r), CHANGE_REDUNDANT_CLEAR);
    assert_int_equal(state_version(*st), 2);
}

static void test_state_updonly_of_inactive_is_a_miss(void **st)
{
    struct state_result r;
    struct alert u = mk(ALERT_UPDONLY, "h", "c");
    alert_set_num(&u, ALERT_SEVERITY, 1);
    assert_int_equal(apply(*st, &u, &r), CHANGE_UPDONLY_MISS);
    assert_int_equal(state_count(*st), 0);
    assert_int_equal(state_version(*st), 0);
}

static void test_state_updonly_changes_only_the_fields_it_carries(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    alert_set_num(&a, ALERT_SEVERITY, 3);
    set_text(&a, ALERT_MSG, "keep me");
    a.n_extra = 1;
    a.extra[0] = (struct alert_extra){"Rack", "r1"};
    apply(*st, &a, &r);

    struct alert u = mk(ALERT_UPDONLY, "h", "c");
    alert_set_num(&u, ALERT_SEVERITY, 5);
    u.n_extra = 1;
    u.extra[0] = (struct alert_extra){"Row", "7"};
    assert_int_equal(apply(*st, &u, &r), CHANGE_UPDATE);
    assert_int_equal(r.alert.num[ALERT_SEVERITY], 5);
    assert_string_equal(r.alert.text[ALERT_MSG], "keep me");
    assert_int_equal(r.alert.n_extra, 2);
    assert_string_equal(r.alert.extra[0].value, "r1");
    assert_string_equal(r.alert.extra[1].name, "Row");

    assert_int_equal(apply(*st, &u, &r), CHANGE_DUPLICATE);
}

static void test_state_increment_adds_count(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    alert_set_num(&a, ALERT_INCREMENT, 1);
    assert_int_equal(apply(*st, &a, &r), CHANGE_RAISE);
    assert_int_equal(r.alert.num[ALERT_COUNT], 1); /* no Count: counts as 1 */
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_int_equal(r.alert.num[ALERT_COUNT], 2);
    alert_set_num(&a, ALERT_COUNT, 3);
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_int_equal(r.alert.num[ALERT_COUNT], 5);

    /* Without Increment, Count is just a field. */
    alert_set_num(&a, ALERT_INCREMENT, 0);
    alert_set_num(&a, ALERT_COUNT, 5);
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE); /* Increment field changed */
    assert_int_equal(r.alert.num[ALERT_COUNT], 5);
    assert_int_equal(apply(*st, &a, &r), CHANGE_DUPLICATE);
}

static void test_state_versions_strictly_increase_over_mixed_stream(void **st)
{
    struct state_result r;
    uint64_t last = 0;
    char host[16], comp[16];
    for (int i = 0; i < 3000; i++) {
        snprintf(host, sizeof(host), "h%d", i % 37);
        snprintf(comp, sizeof(comp), "c%d", i % 11);
        struct alert a = mk(i % 3 == 0 ? ALERT_DEL : ALERT_UPD, host, comp);
        alert_set_num(&a, ALERT_SEVERITY, i % 5);
        assert_int_equal(state_apply(*st, &a, i, &r), 0);
        if (change_outcome_forwarded(r.outcome)) {
            assert_true(r.version == last + 1);
            last = r.version;
        } else {
            assert_int_equal(r.version, 0);
        }
    }
    assert_int_equal(state_version(*st), last);
}

static int count_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    (void)m;
    assert_string_equal(a->host, "web1");
    (*(int *)data)++;
    return 0;
}

static void test_state_per_host_view(void **st)
{
    struct state_result r;
    const char *comps[] = {"disk", "cpu", "mem"};
    for (int i = 0; i < 3; i++) {
        struct alert a = mk(ALERT_UPD, "web1", comps[i]);
        apply(*st, &a, &r);
        struct alert b = mk(ALERT_UPD, "web2", comps[i]);
        apply(*st, &b, &r);
    }
    assert_int_equal(state_count(*st), 6);
    assert_int_equal(state_host_count(*st), 2);
    int n = 0;
    state_foreach(*st, "web1", count_cb, &n);
    assert_int_equal(n, 3);

    struct alert d = mk(ALERT_DEL, "web1", "cpu");
    apply(*st, &d, &r);
    n = 0;
    state_foreach(*st, "web1", count_cb, &n);
    assert_int_equal(n, 2);
    n = 0;
    state_foreach(*st, "nosuch", count_cb, &n);
    assert_int_equal(n, 0);
}

static void test_state_same_component_different_hosts_are_different_keys(void **st)
{
    struct state_result r;
    /* "ab"+"c" and "a"+"bc" must not collide: the key keeps the boundary. */
    struct alert a = mk(ALERT_UPD, "ab", "c");
    struct alert b = mk(ALERT_UPD, "a", "bc");
    assert_int_equal(apply(*st, &a, &r), CHANGE_RAISE);
    assert_int_equal(apply(*st, &b, &r), CHANGE_RAISE);
    assert_int_equal(state_count(*st), 2);
}

static void test_state_cap_refuses_raises_not_updates(void **st)
{
    (void)st;
    struct state *s;
    struct state_config cfg = {.max_alerts = 2};
    struct state_result r;
    assert_int_equal(state_new(&cfg, &s), 0);
    struct alert a = mk(ALERT_UPD, "h", "1"), b = mk(ALERT_UPD, "h", "2"),
                 c = mk(ALERT_UPD, "h", "3");
    assert_int_equal(state_apply(s, &a, 0, &r), 0);
    assert_int_equal(state_apply(s, &b, 0, &r), 0);
    assert_int_equal(state_apply(s, &c, 0, &r), -ENOSPC);
    assert_int_equal(state_count(s), 2);
    assert_int_equal(state_version(s), 2);
    alert_set_num(&a, ALERT_SEVERITY, 1);
    assert_int_equal(state_apply(s, &a, 0, &r), 0);
    assert_int_equal(r.outcome, CHANGE_UPDATE);
    struct alert d = mk(ALERT_DEL, "h", "2");
    assert_int_equal(state_apply(s, &d, 0, &r), 0);
    assert_int_equal(state_apply(s, &c, 0, &r), 0);
    assert_int_equal(r.outcome, CHANGE_RAISE);
    state_free(s);
}

static void test_state_host_cap_refuses_new_hosts_only(void **st)
{
    (void)st;
    struct state *s;
    struct state_config cfg = {.max_hosts = 2};
    struct state_result r;
    assert_int_equal(state_new(&cfg, &s), 0);
    struct alert a = mk(ALERT_UPD, "h1", "x"), b = mk(ALERT_UPD, "h2", "x"),
                 c = mk(ALERT_UPD, "h3", "x"), a2 = mk(ALERT_UPD, "h1", "y");
    assert_int_equal(state_apply(s, &a, 0, &r), 0);
    assert_int_equal(state_apply(s, &b, 0, &r), 0);
    assert_int_equal(state_apply(s, &c, 0, &r), -ENOSPC); /* a third host */
    assert_int_equal(state_apply(s, &a2, 0, &r), 0);      /* a known host: fine */
    assert_int_equal(state_host_count(s), 2);
    state_set_caps(s, 0, 0);
    assert_int_equal(state_apply(s, &c, 0, &r), 0);
    state_free(s);
}

static void test_state_set_version_only_raises(void **st)
{
    struct state_result r;
    state_set_version(*st, 41);
    struct alert a = mk(ALERT_UPD, "h", "c");
    apply(*st, &a, &r);
    assert_int_equal(r.version, 42);
    state_set_version(*st, 5);
    assert_int_equal(state_version(*st), 42);
}

static void test_state_many_alerts_raised_and_cleared(void **st)
{
    struct state_result r;
    char host[16], comp[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(host, sizeof(host), "n%04d", i / 10);
        snprintf(comp, sizeof(comp), "c%d", i % 10);
        struct alert a = mk(ALERT_UPD, host, comp);
        assert_int_equal(apply(*st, &a, &r), CHANGE_RAISE);
    }
    assert_int_equal(state_count(*st), 20000);
    assert_int_equal(state_host_count(*st), 2000);
    for (int i = 0; i < 20000; i += 2) {
        snprintf(host, sizeof(host), "n%04d", i / 10);
        snprintf(comp, sizeof(comp), "c%d", i % 10);
        struct alert d = mk(ALERT_DEL, host, comp);
        assert_int_equal(apply(*st, &d, &r), CHANGE_CLEAR);
    }
    assert_int_equal(state_count(*st), 10000);
    /* the rest is freed by state_free (ASan checks) */
}

static void test_state_ttl_expires_with_a_version(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    set_text(&a, ALERT_MSG, "down");
    alert_set_num(&a, ALERT_TTL, 10);
    assert_int_equal(state_apply(*st, &a, 0, &r), 0);
    assert_int_equal(state_next_expiry(*st), 10000);
    assert_int_equal(state_expire(*st, 9999, &r), 0);
    assert_int_equal(state_expire(*st, 10000, &r), 1);
    assert_int_equal(r.outcome, CHANGE_EXPIRE);
    assert_int_equal(r.version, 2);
    assert_string_equal(r.alert.host, "h");
    assert_string_equal(r.alert.text[ALERT_MSG], "down");
    assert_int_equal(state_count(*st), 0);
    assert_int_equal(state_expire(*st, 99999, &r), 0);
    assert_int_equal(state_next_expiry(*st), -1);
}

static void test_state_refresh_restarts_the_ttl(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    alert_set_num(&a, ALERT_TTL, 10);
    state_apply(*st, &a, 0, &r);
    assert_int_equal(state_apply(*st, &a, 8000, &r), 0); /* a duplicate refreshes */
    assert_int_equal(r.outcome, CHANGE_DUPLICATE);
    assert_int_equal(state_expire(*st, 15000, &r), 0);
    assert_int_equal(state_expire(*st, 18000, &r), 1);
}

static void test_state_default_ttl_and_no_ttl(void **st)
{
    (void)st;
    struct state *s;
    struct state_config cfg = {.default_ttl_s = 60};
    struct state_result r;
    assert_int_equal(state_new(&cfg, &s), 0);
    struct alert a = mk(ALERT_UPD, "h", "default");
    struct alert b = mk(ALERT_UPD, "h", "own");
    alert_set_num(&b, ALERT_TTL, 5);
    struct alert c = mk(ALERT_UPD, "h", "never");
    alert_set_num(&c, ALERT_TTL, 0); /* TTL 0: never expires, whatever the default */
    state_apply(s, &a, 0, &r);
    state_apply(s, &b, 0, &r);
    state_apply(s, &c, 0, &r);
    assert_int_equal(state_expire(s, 5000, &r), 1);
    assert_string_equal(r.alert.component, "own");
    assert_int_equal(state_expire(s, 59999, &r), 0);
    assert_int_equal(state_expire(s, 60000, &r), 1);
    assert_string_equal(r.alert.component, "default");
    assert_int_equal(state_expire(s, INT64_MAX / 2, &r), 0);
    assert_int_equal(state_count(s), 1);
    state_free(s);
}

static void test_state_cleared_alert_does_not_expire(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    alert_set_num(&a, ALERT_TTL, 10);
    state_apply(*st, &a, 0, &r);
    struct alert d = mk(ALERT_DEL, "h", "c");
    state_apply(*st, &d, 1000, &r);
    assert_int_equal(state_expire(*st, 20000, &r), 0);
    assert_int_equal(state_version(*st), 2);
}

static void test_state_many_alerts_expire_in_deadline_order(void **st)
{
    enum { N = 5000 };
    static int64_t due[N]; /* expected deadline per component; 0: cleared */
    struct state_result r;
    char comp[16];
    uint32_t x = 12345;
    for (int i = 0; i < N; i++) {
        snprintf(comp, sizeof(comp), "c%d", i);
        struct alert a = mk(ALERT_UPD, "h", comp);
        x = x * 1103515245u + 12345u;
        int64_t ttl = 1 + (x >> 16) % 1000, at = (int64_t)(x >> 20) % 5000;
        alert_set_num(&a, ALERT_TTL, ttl);
        state_apply(*st, &a, at, &r);
        due[i] = at + ttl * 1000;
        if (i % 7 == 0) { /* a change with a new TTL: the heap must follow */
            ttl = 1 + (x >> 8) % 1000;
            alert_set_num(&a, ALERT_TTL, ttl);
            state_apply(*st, &a, 6000, &r);
            due[i] = 6000 + ttl * 1000;
        }
        if (i % 11 == 0) {
            struct alert d = mk(ALERT_DEL, "h", comp);
            state_apply(*st, &d, 7000, &r);
            due[i] = 0;
        }
    }
    size_t active = state_count(*st), expired = 0;
    for (int64_t now = 0; now <= 2000000; now += 1000) {
        while (state_expire(*st, now, &r) == 1) {
            int i = atoi(r.alert.component + 1);
            if (due[i] == 0 || due[i] > now || due[i] <= now - 1000)
                fail_msg("%s expired at %lld, due %lld", r.alert.component, (long long)now,
                         (long long)due[i]);
            due[i] = 0;
            expired++;
        }
    }
    assert_int_equal(expired, active);
    assert_int_equal(state_count(*st), 0);
}

struct seen {
    char key[64];
    struct state_meta m;
    char msg[32];
};

static int collect_all(const struct alert *a, const struct state_meta *m, void *data)
{
    struct seen *out = data;
    while (out->key[0] != '\0')
        out++;
    snprintf(out->key, sizeof(out->key), "%s/%s", a->host, a->component);
    out->m = *m;
    snprintf(out->msg, sizeof(out->msg), "%s", a->text[ALERT_MSG] ? a->text[ALERT_MSG] : "");
    return 0;
}

static int by_key(const void *x, const void *y)
{
    return strcmp(((const struct seen *)x)->key, ((const struct seen *)y)->key);
}

/* Replaying a table's changes onto an empty table gives the same table: alerts, fields,
 * versions, times and deadlines (what a restart does with the journal). */
static void test_state_replay_of_the_changes_rebuilds_the_table(void **st)
{
    struct state *a = *st, *b;
    struct state_config cfg = {.default_ttl_s = 100};
    assert_int_equal(state_new(&cfg, &b), 0);
    state_set_default_ttl(a, 100);
    struct alert in[6] = {mk(ALERT_UPD, "h1", "c"), mk(ALERT_UPD, "h1", "c"),
                          mk(ALERT_UPD, "h2", "c"), mk(ALERT_DEL, "h2", "c"),
                          mk(ALERT_UPD, "h3", "d"), mk(ALERT_UPDONLY, "h3", "d")};
    set_text(&in[0], ALERT_MSG, "first");
    set_text(&in[1], ALERT_MSG, "second");
    set_text(&in[5], ALERT_MSG, "merged");
    alert_set_num(&in[4], ALERT_TTL, 30);
    for (int i = 0; i < 6; i++) {
        struct state_result r;
        int64_t now = 1000 + i * 500;
        assert_int_equal(state_apply(a, &in[i], now, &r), 0);
        assert_true(change_outcome_forwarded(r.outcome));
        assert_int_equal(state_replay(b, &r.alert, NULL, r.outcome, r.version, now, r.ack), 0);
    }
    /* A clear of something not there (the snapshot was older) is fine. */
    struct alert gone = mk(ALERT_DEL, "nobody", "c");
    assert_int_equal(state_replay(b, &gone, NULL, CHANGE_CLEAR, 7, 9000, NULL), 0);
    assert_int_equal(state_count(b), state_count(a));
    assert_int_equal(state_count(b), 2);
    assert_int_equal(state_version(b), 7);
    struct seen sa[4] = {0}, sb[4] = {0};
    state_foreach(a, NULL, collect_all, sa);
    state_foreach(b, NULL, collect_all, sb);
    qsort(sa, 2, sizeof(sa[0]), by_key);
    qsort(sb, 2, sizeof(sb[0]), by_key);
    for (int i = 0; i < 2; i++) {
        assert_string_equal(sa[i].key, sb[i].key);
        assert_string_equal(sa[i].msg, sb[i].msg);
        assert_int_equal(sa[i].m.version, sb[i].m.version);
        assert_int_equal(sa[i].m.first_seen_ms, sb[i].m.first_seen_ms);
        assert_int_equal(sa[i].m.last_seen_ms, sb[i].m.last_seen_ms);
        assert_int_equal(sa[i].m.expires_ms, sb[i].m.expires_ms);
    }
    assert_string_equal(sb[1].msg, "merged");
    /* The replayed deadlines work: h3's TTL of 30 s from its last change. */
    struct state_result r;
    assert_int_equal(state_expire(b, 3500 + 30000, &r), 1);
    assert_string_equal(r.alert.host, "h3");
    state_free(b);
}

static uint64_t rand_seq[4];
static size_t rand_at;
static uint64_t fake_random(void)
{
    return rand_seq[rand_at++ % 4];
}

/* A table without a series (no snapshot) starts one with a non-zero random id; one that
 * has a series (restored from a snapshot) keeps it. */
static void test_state_begin_series_only_without_one(void **st)
{
    uint64_t seq[4] = {0, 0, 0xabcdef, 7};
    memcpy(rand_seq, seq, sizeof(seq));
    rand_at = 0;
    assert_int_equal(state_epoch(*st), 0);
    assert_true(state_begin_series(*st, fake_random)); /* zeros are not an id */
    assert_true(state_epoch(*st) == 0xabcdef);
    assert_false(state_begin_series(*st, fake_random));
    assert_true(state_epoch(*st) == 0xabcdef);

    struct state *t;
    assert_int_equal(state_new(NULL, &t), 0);
    assert_true(state_begin_series(t, state_random64));
    assert_true(state_epoch(t) != 0);
    state_free(t);
}

struct model_count {
    size_t n;
    size_t per_host[64];
};

static int model_count_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    (void)m;
    struct model_count *c = data;
    c->n++;
    c->per_host[atoi(a->host + 1) % 64]++;
    return 0;
}

/* Raises and clears at random against a model of which keys are active, through the
 * tables' growth, removals from the middle of bucket chains and per-host lists, and a mass
 * clear: every key answers as the model says, by lookup, by count and by the per-host lists. */
static void test_state_table_follows_a_model_through_churn(void **st)
{
    enum { HOSTS = 64, COMPS = 200, KEYS = HOSTS * COMPS };
    static bool active[KEYS];
    memset(active, 0, sizeof(active));
    struct state_result r;
    char host[16], comp[16], key[STATE_KEY_MAX];
    uint32_t x = 7;
    size_t n = 0;
    for (int round = 0; round < 3; round++) {
        /* Churn at about 60% active, twice, then clear nearly all. */
        for (int step = 0; step < 4 * KEYS; step++) {
            x = x * 1103515245u + 12345u;
            int k = (int)((x >> 8) % KEYS);
            bool want_up = round == 2 ? (x >> 4) % 32 == 0 : (x >> 4) % 8 < 5;
            snprintf(host, sizeof(host), "h%d", k % HOSTS);
            snprintf(comp, sizeof(comp), "c%d", k / HOSTS);
            struct alert a = mk(want_up ? ALERT_UPD : ALERT_DEL, host, comp);
            enum change_outcome o = apply(*st, &a, &r);
            if (want_up) {
                assert_int_equal(o, active[k] ? CHANGE_DUPLICATE : CHANGE_RAISE);
                n += !active[k];
                active[k] = true;
            } else {
                assert_int_equal(o, active[k] ? CHANGE_CLEAR : CHANGE_REDUNDANT_CLEAR);
                n -= active[k];
                active[k] = false;
            }
        }
        assert_int_equal(state_count(*st), n);
        struct model_count c = {0};
        state_foreach(*st, NULL, model_count_cb, &c);
        assert_int_equal(c.n, n);
        for (int k = 0; k < KEYS; k++) {
            snprintf(host, sizeof(host), "h%d", k % HOSTS);
            snprintf(comp, sizeof(comp), "c%d", k / HOSTS);
            uint32_t hash;
            size_t klen = state_key(host, strlen(host), comp, strlen(comp), key, &hash);
            assert_int_equal(state_generation(*st, key, klen, hash) != 0, active[k]);
        }
        size_t hosts = 0;
        for (int h = 0; h < HOSTS; h++) {
            struct model_count one = {0};
            snprintf(host, sizeof(host), "h%d", h);
            state_foreach(*st, host, model_count_cb, &one);
            size_t want = 0;
            for (int k = h; k < KEYS; k += HOSTS)
                want += active[k];
            assert_int_equal(one.n, want);
            assert_int_equal(one.per_host[h], want);
            hosts += want > 0;
        }
        assert_int_equal(state_host_count(*st), hosts);
    }
}

/* An update is written in place when it fits, moves to a blob of its own when it does not;
 * an Updonly (whose merged view points into the blob being replaced) comes out whole. */
static void test_state_updates_smaller_larger_and_merged(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    set_text(&a, ALERT_MSG, "a fairly long message to start with");
    set_text(&a, ALERT_OWNER, "ops");
    a.extra[0] = (struct alert_extra){"Rack", "r12"};
    a.n_extra = 1;
    assert_int_equal(apply(*st, &a, &r), CHANGE_RAISE);
    set_text(&a, ALERT_MSG, "short");
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_string_equal(r.alert.text[ALERT_MSG], "short");
    assert_int_equal(r.alert.text_len[ALERT_MSG], 5);
    assert_string_equal(r.alert.text[ALERT_OWNER], "ops");
    assert_int_equal(r.alert.text_len[ALERT_OWNER], 3);
    assert_string_equal(r.alert.extra[0].value, "r12");
    assert_int_equal(apply(*st, &a, &r), CHANGE_DUPLICATE);
    char big[3000];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    set_text(&a, ALERT_LONGMSG, big);
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_int_equal(r.alert.text_len[ALERT_LONGMSG], sizeof(big) - 1);
    assert_int_equal(apply(*st, &a, &r), CHANGE_DUPLICATE);
    struct alert u = mk(ALERT_UPDONLY, "h", "c");
    set_text(&u, ALERT_OWNER, "night shift");
    u.extra[0] = (struct alert_extra){"Rack", "r13"};
    u.extra[1] = (struct alert_extra){"Row", "4"};
    u.n_extra = 2;
    assert_int_equal(apply(*st, &u, &r), CHANGE_UPDATE);
    assert_string_equal(r.alert.text[ALERT_MSG], "short");
    assert_string_equal(r.alert.text[ALERT_OWNER], "night shift");
    assert_int_equal(r.alert.text_len[ALERT_LONGMSG], sizeof(big) - 1);
    assert_int_equal(r.alert.n_extra, 2);
    assert_string_equal(r.alert.extra[0].value, "r13");
    assert_string_equal(r.alert.extra[1].name, "Row");
    set_text(&u, ALERT_OWNER, "ops"); /* shorter: in place, through the scratch buffer */
    assert_int_equal(apply(*st, &u, &r), CHANGE_UPDATE);
    assert_string_equal(r.alert.text[ALERT_OWNER], "ops");
    assert_string_equal(r.alert.text[ALERT_MSG], "short");
    assert_string_equal(r.alert.extra[0].value, "r13");
    assert_int_equal(apply(*st, &u, &r), CHANGE_DUPLICATE);
    a.text[ALERT_LONGMSG] = NULL; /* an Upd replaces every field: the big one goes */
    a.text_len[ALERT_LONGMSG] = 0;
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_null(r.alert.text[ALERT_LONGMSG]);
    assert_int_equal(r.alert.n_extra, 1);
    assert_string_equal(r.alert.extra[0].value, "r12");
}

/* The repeat path's view: the version is the generation, a refresh is a duplicate's. */
static void test_state_generation_and_refresh(void **st)
{
    struct state_result r;
    char key[STATE_KEY_MAX];
    uint32_t hash;
    size_t klen = state_key("h", 1, "c", 1, key, &hash);
    assert_int_equal(klen, 3);
    assert_memory_equal(key, "h\0c", 4);
    assert_int_equal(state_generation(*st, key, klen, hash), 0);
    assert_int_equal(state_refresh(*st, key, klen, hash, 5), -ENOENT);

    struct alert a = mk(ALERT_UPD, "h", "c");
    alert_set_num(&a, ALERT_TTL, 10);
    assert_int_equal(state_apply(*st, &a, 0, &r), 0);
    uint64_t g = state_generation(*st, key, klen, hash);
    assert_int_equal(g, r.version);
    assert_int_equal(state_refresh(*st, key, klen, hash, 8000), 0);
    assert_int_equal(state_generation(*st, key, klen, hash), g); /* a refresh changes nothing */
    int64_t seen = 0;
    state_foreach(*st, NULL, last_seen_cb, &seen);
    assert_int_equal(seen, 8000);
    assert_int_equal(state_expire(*st, 17999, &r), 0); /* the TTL started again at 8000 */
    assert_int_equal(state_next_expiry(*st), 18000);

    alert_set_num(&a, ALERT_SEVERITY, 2);
    assert_int_equal(state_apply(*st, &a, 9000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_UPDATE);
    assert_true(state_generation(*st, key, klen, hash) > g);
    g = state_generation(*st, key, klen, hash);
    struct alert d = mk(ALERT_DEL, "h", "c");
    state_apply(*st, &d, 9500, &r);
    assert_int_equal(state_generation(*st, key, klen, hash), 0);
    state_apply(*st, &a, 9600, &r);
    assert_true(state_generation(*st, key, klen, hash) > g); /* raised again: a new one */
}

/* Each table keeps a bloom filter whose bits a delete never clears, and uthash frees a
 * table (and its filter) with its last key: keys cleared stay cleared (their bits still
 * set), and a table emptied and made again finds what is raised into it. */
static void test_state_emptied_table_answers_after_refill(void **st)
{
    enum { KEYS = 3000 };
    struct state_result r;
    char host[16], comp[16];
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < KEYS; i++) {
            snprintf(host, sizeof(host), "n%d", i / 3);
            snprintf(comp, sizeof(comp), "c%d", i % 3);
            struct alert a = mk(ALERT_UPD, host, comp);
            assert_int_equal(apply(*st, &a, &r), CHANGE_RAISE);
            assert_int_equal(apply(*st, &a, &r), CHANGE_DUPLICATE);
        }
        assert_int_equal(state_count(*st), KEYS);
        assert_int_equal(state_host_count(*st), KEYS / 3);
        for (int i = 0; i < KEYS; i++) {
            snprintf(host, sizeof(host), "n%d", i / 3);
            snprintf(comp, sizeof(comp), "c%d", i % 3);
            struct alert d = mk(ALERT_DEL, host, comp);
            assert_int_equal(apply(*st, &d, &r), CHANGE_CLEAR);
            assert_int_equal(apply(*st, &d, &r), CHANGE_REDUNDANT_CLEAR);
        }
        assert_int_equal(state_count(*st), 0);
        assert_int_equal(state_host_count(*st), 0);
    }
}

/* The sender of an alert is the one of its last raise or update; a duplicate from another
 * address does not change it (no change line carries that address); senders are shared
 * and freed with the last alert naming them (the sanitizer build checks the freeing). */
struct sender_of {
    const char *host, *component, *sender;
};

static int sender_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    struct sender_of *f = data;
    if (strcmp(a->host, f->host) == 0 && strcmp(a->component, f->component) == 0)
        f->sender = m->sender;
    return 0;
}

static const char *sender_of(struct state *s, const char *host, const char *component)
{
    struct sender_of f = {host, component, "absent"};
    state_foreach(s, NULL, sender_cb, &f);
    return f.sender;
}

static void test_state_sender_is_the_last_raise_or_update(void **st)
{
    struct state *s = *st;
    struct state_result r;
    char addr[32];
    struct alert a = mk(ALERT_UPD, "h", "c");
    struct alert b = mk(ALERT_UPD, "h", "d");
    struct alert plain = mk(ALERT_UPD, "h", "e");
    /* The sender given is copied: the caller's buffer changes under it. */
    snprintf(addr, sizeof(addr), "10.0.0.1:4000");
    assert_int_equal(state_apply_from(s, &a, addr, 1000, &r), 0);
    assert_int_equal(state_apply_from(s, &b, addr, 1000, &r), 0);
    assert_int_equal(state_apply(s, &plain, 1000, &r), 0);
    snprintf(addr, sizeof(addr), "10.0.0.2:5000");
    assert_string_equal(sender_of(s, "h", "c"), "10.0.0.1:4000");
    assert_string_equal(sender_of(s, "h", "d"), "10.0.0.1:4000");
    assert_null(sender_of(s, "h", "e"));

    /* A duplicate from elsewhere keeps it; an update takes the new one. */
    assert_int_equal(state_apply_from(s, &a, "10.0.0.2:5000", 1000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_DUPLICATE);
    assert_string_equal(sender_of(s, "h", "c"), "10.0.0.1:4000");
    set_text(&a, ALERT_MSG, "changed");
    assert_int_equal(state_apply_from(s, &a, "10.0.0.2:5000", 1000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_UPDATE);
    assert_string_equal(sender_of(s, "h", "c"), "10.0.0.2:5000");
    assert_string_equal(sender_of(s, "h", "d"), "10.0.0.1:4000");

    /* Cleared and raised again: the raiser's, not the old one's. */
    struct alert del = mk(ALERT_DEL, "h", "d");
    assert_int_equal(state_apply_from(s, &del, "10.0.0.3:1", 1000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_CLEAR);
    assert_string_equal(sender_of(s, "h", "d"), "absent");
    assert_int_equal(state_apply_from(s, &b, "10.0.0.3:1", 1000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_RAISE);
    assert_string_equal(sender_of(s, "h", "d"), "10.0.0.3:1");

    /* Many senders come and go (ids reused): each alert keeps its own. */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            char comp[16];
            snprintf(comp, sizeof(comp), "x%d", i);
            snprintf(addr, sizeof(addr), "10.1.%d.%d:9", round, i);
            struct alert x = mk(ALERT_UPD, "m", comp);
            alert_set_num(&x, ALERT_SEVERITY, round); /* each round an update */
            assert_int_equal(state_apply_from(s, &x, addr, 1000, &r), 0);
            assert_int_equal(r.outcome, round == 0 ? CHANGE_RAISE : CHANGE_UPDATE);
        }
        for (int i = 0; i < 100; i += 7) {
            char comp[16], want[32];
            snprintf(comp, sizeof(comp), "x%d", i);
            snprintf(want, sizeof(want), "10.1.%d.%d:9", round, i);
            assert_string_equal(sender_of(s, "m", comp), want);
        }
    }
}

/* ---- acknowledgements ---------------------------------------------------------------- */

static struct change_ack mkack(const char *author, const char *comment, int64_t at, int64_t expires)
{
    return (struct change_ack){
        .author = author, .comment = comment, .at_ms = at, .expires_ms = expires};
}

static int ack_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    (void)a;
    *(const struct change_ack **)data = m->ack;
    return 0;
}

/* The ack the table shows for (host, comp) now, through state_lookup; NULL: none. */
static const struct change_ack *ack_now(struct state *s, const char *host, const char *comp)
{
    const struct change_ack *k = NULL;
    assert_int_equal(state_lookup(s, host, comp, ack_cb, &k), 0);
    return k;
}

static void raise_sev(struct state *s, const char *host, const char *comp, int64_t sev)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, host, comp);
    alert_set_num(&a, ALERT_SEVERITY, sev);
    set_text(&a, ALERT_MSG, "m");
    assert_int_equal(state_apply(s, &a, 1000, &r), 0);
}

static void test_state_ack_is_a_change_with_the_next_version(void **st)
{
    struct state_result r;
    raise_sev(*st, "web12", "disk", 3);
    struct change_ack k = mkack("alice", "disk ordered", 5000, 0);
    assert_int_equal(state_ack(*st, "web12", "disk", &k, &r), 0);
    assert_int_equal(r.outcome, CHANGE_ACK);
    assert_int_equal(r.version, 2);
    assert_int_equal(state_version(*st), 2);
    assert_string_equal(r.alert.host, "web12");
    assert_int_equal(r.alert.num[ALERT_SEVERITY], 3);
    assert_non_null(r.ack);
    assert_string_equal(r.ack->author, "alice");
    assert_string_equal(r.ack->comment, "disk ordered");
    assert_int_equal(r.ack->at_ms, 5000);
    assert_int_equal(r.ack->expires_ms, 0);
    assert_true(change_outcome_forwarded(CHANGE_ACK));
    /* Part of the alert's state: state_foreach and state_lookup show it. */
    const struct change_ack *now = ack_now(*st, "web12", "disk");
    assert_non_null(now);
    assert_string_equal(now->comment, "disk ordered");
    assert_int_equal(state_ack_count(*st), 1);
    /* The version is the generation the repeat path checks: the ack moved it. */
    char key[STATE_KEY_MAX];
    uint32_t h;
    size_t klen = state_key("web12", 5, "disk", 4, key, &h);
    assert_int_equal(state_generation(*st, key, klen, h), 2);
}

static void test_state_ack_of_nothing_active_is_enoent(void **st)
{
    struct state_result r;
    struct change_ack k = mkack("alice", "c", 1, 0);
    raise_sev(*st, "web12", "disk", 3);
    assert_int_equal(state_ack(*st, "web12", "cpu", &k, &r), -ENOENT);
    assert_int_equal(state_ack(*st, "web13", "disk", &k, &r), -ENOENT);
    assert_int_equal(state_unack(*st, "web12", "cpu", "bob", &r), -ENOENT);
    assert_int_equal(state_version(*st), 1);
}

static void test_state_reack_replaces_the_ack(void **st)
{
    struct state_result r;
    raise_sev(*st, "h", "c", 3);
    struct change_ack k1 = mkack("alice", "first", 2000, 9000);
    struct change_ack k2 = mkack("bob", "second", 3000, 0);
    assert_int_equal(state_ack(*st, "h", "c", &k1, &r), 0);
    assert_int_equal(state_next_expiry(*st), 9000);
    assert_int_equal(state_ack(*st, "h", "c", &k2, &r), 0);
    assert_int_equal(r.outcome, CHANGE_ACK);
    assert_int_equal(r.version, 3);
    assert_string_equal(r.ack->author, "bob");
    assert_string_equal(ack_now(*st, "h", "c")->comment, "second");
    assert_int_equal(state_ack_count(*st), 1);
    /* The first ack's expiry went with it. */
    assert_int_equal(state_next_expiry(*st), -1);
    assert_int_equal(state_expire(*st, 100000, &r), 0);
}

static void test_state_unack_takes_it_back_and_unacked_is_enodata(void **st)
{
    struct state_result r;
    raise_sev(*st, "h", "c", 3);
    assert_int_equal(state_unack(*st, "h", "c", "bob", &r), -ENODATA); /* the HTTP 409 */
    assert_int_equal(state_version(*st), 1);
    struct change_ack k = mkack("alice", "x", 2000, 0);
    assert_int_equal(state_ack(*st, "h", "c", &k, &r), 0);
    assert_int_equal(state_unack(*st, "h", "c", "bob", &r), 0);
    assert_int_equal(r.outcome, CHANGE_UNACK);
    assert_int_equal(r.version, 3);
    assert_null(r.ack);
    assert_string_equal(r.unack.author, "bob");
    assert_string_equal(r.unack.reason, "taken back");
    assert_null(ack_now(*st, "h", "c"));
    assert_int_equal(state_ack_count(*st), 0);
    assert_int_equal(state_unack(*st, "h", "c", NULL, &r), -ENODATA);
}

static void test_state_worse_update_drops_the_ack_better_keeps_it(void **st)
{
    struct state_result r;
    raise_sev(*st, "h", "c", 3);
    struct change_ack k = mkack("alice", "x", 2000, 0);
    assert_int_equal(state_ack(*st, "h", "c", &k, &r), 0);
    /* Better (a higher number), another message: an update that keeps the ack. */
    struct alert a = mk(ALERT_UPD, "h", "c");
    alert_set_num(&a, ALERT_SEVERITY, 5);
    set_text(&a, ALERT_MSG, "better");
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_non_null(r.ack);
    assert_string_equal(r.ack->author, "alice");
    /* Back to 3, as bad as when acknowledged: not worse, kept. */
    alert_set_num(&a, ALERT_SEVERITY, 3);
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_non_null(r.ack);
    /* A duplicate changes nothing. */
    assert_int_equal(apply(*st, &a, &r), CHANGE_DUPLICATE);
    assert_non_null(ack_now(*st, "h", "c"));
    /* Worse than when acknowledged (2 < 3): the update line has no ack, and it is gone. */
    alert_set_num(&a, ALERT_SEVERITY, 2);
    assert_int_equal(apply(*st, &a, &r), CHANGE_UPDATE);
    assert_null(r.ack);
    assert_null(ack_now(*st, "h", "c"));
    assert_int_equal(state_ack_count(*st), 0);
    assert_int_equal(state_version(*st), 5);
}

static void test_state_clear_and_expire_drop_the_ack_without_a_change(void **st)
{
    struct state_result r;
    struct change_ack k = mkack("alice", "x", 2000, 50000);
    raise_sev(*st, "h", "c", 3);
    assert_int_equal(state_ack(*st, "h", "c", &k, &r), 0);
    struct alert del = mk(ALERT_DEL, "h", "c");
    assert_int_equal(apply(*st, &del, &r), CHANGE_CLEAR);
    assert_null(r.ack);
    assert_int_equal(state_ack_count(*st), 0);
    /* Its expiry went too: nothing left to fire. */
    assert_int_equal(state_next_expiry(*st), -1);
    assert_int_equal(state_expire(*st, 60000, &r), 0);
    /* Raised again: a new alert, not acknowledged. */
    raise_sev(*st, "h", "c", 3);
    assert_null(ack_now(*st, "h", "c"));

    /* An alert that expires takes its ack with it (no unack line). */
    struct alert t = mk(ALERT_UPD, "t", "c");
    alert_set_num(&t, ALERT_TTL, 10);
    assert_int_equal(state_apply(*st, &t, 1000, &r), 0);
    struct change_ack k2 = mkack("alice", "x", 2000, 0);
    assert_int_equal(state_ack(*st, "t", "c", &k2, &r), 0);
    assert_int_equal(state_expire(*st, 11000, &r), 1);
    assert_int_equal(r.outcome, CHANGE_EXPIRE);
    assert_null(r.ack);
    assert_int_equal(state_ack_count(*st), 0);
}

static void test_state_ack_expiry_is_an_unack_from_the_heap(void **st)
{
    struct state_result r;
    raise_sev(*st, "a", "c", 3);
    raise_sev(*st, "b", "c", 3);
    raise_sev(*st, "z", "c", 3);
    struct change_ack ka = mkack("alice", "later", 2000, 30000);
    struct change_ack kb = mkack("bob", "sooner", 2000, 20000);
    struct change_ack kz = mkack("zoe", "forever", 2000, 0);
    assert_int_equal(state_ack(*st, "a", "c", &ka, &r), 0);
    assert_int_equal(state_ack(*st, "b", "c", &kb, &r), 0);
    assert_int_equal(state_ack(*st, "z", "c", &kz, &r), 0);
    assert_int_equal(state_version(*st), 6);
    assert_int_equal(state_next_expiry(*st), 20000);
    assert_int_equal(state_expire(*st, 19999, &r), 0);
    assert_int_equal(state_expire(*st, 25000, &r), 1);
    assert_int_equal(r.outcome, CHANGE_UNACK);
    assert_int_equal(r.version, 7);
    assert_string_equal(r.alert.host, "b");
    assert_null(r.ack);
    assert_null(r.unack.author);
    assert_string_equal(r.unack.reason, "expired");
    assert_int_equal(state_expire(*st, 25000, &r), 0);
    assert_int_equal(state_next_expiry(*st), 30000);
    assert_int_equal(state_expire(*st, 40000, &r), 1);
    assert_string_equal(r.alert.host, "a");
    assert_int_equal(r.version, 8);
    assert_int_equal(state_expire(*st, 1000000, &r), 0);
    /* The alerts stay; only z is still acknowledged. */
    assert_int_equal(state_count(*st), 3);
    assert_int_equal(state_ack_count(*st), 1);
    assert_non_null(ack_now(*st, "z", "c"));
    assert_int_equal(state_next_expiry(*st), -1);
}

/* Many acks with expiries over many alerts, some cleared, some taken back, some made worse:
 * every one that remains lapses exactly once, in deadline order. */
static void test_state_many_ack_expiries_fire_in_order(void **st)
{
    struct state_result r;
    enum { N = 300 };
    int64_t due[N];
    char comp[N][16];
    for (int i = 0; i < N; i++) {
        snprintf(comp[i], sizeof(comp[i]), "c%d", i);
        raise_sev(*st, "h", comp[i], 5);
        due[i] = 10000 + (int64_t)((i * 7919) % N) * 10;
        struct change_ack k = mkack("a", "x", 1, due[i]);
        assert_int_equal(state_ack(*st, "h", comp[i], &k, &r), 0);
    }
    for (int i = 0; i < N; i += 5) { /* cleared */
        struct alert d = mk(ALERT_DEL, "h", comp[i]);
        apply(*st, &d, &r);
        due[i] = 0;
    }
    for (int i = 1; i < N; i += 5) { /* taken back */
        assert_int_equal(state_unack(*st, "h", comp[i], NULL, &r), 0);
        due[i] = 0;
    }
    for (int i = 2; i < N; i += 5) { /* worse */
        struct alert w = mk(ALERT_UPD, "h", comp[i]);
        alert_set_num(&w, ALERT_SEVERITY, 1);
        set_text(&w, ALERT_MSG, "m");
        assert_int_equal(apply(*st, &w, &r), CHANGE_UPDATE);
        assert_null(r.ack);
        due[i] = 0;
    }
    int64_t last = 0;
    int fired = 0;
    while (state_expire(*st, INT64_MAX - 1, &r) == 1) {
        assert_int_equal(r.outcome, CHANGE_UNACK);
        int i = atoi(r.alert.component + 1);
        assert_true(due[i] != 0);
        assert_true(due[i] >= last);
        last = due[i];
        due[i] = 0;
        fired++;
    }
    assert_int_equal(fired, N * 2 / 5);
    assert_int_equal(state_ack_count(*st), 0);
}

/* Replay r as the journal would: a change line's ack does not say the severity it was made
 * at (the line's alert does, for an ack line). */
static void replay_as_journaled(struct state *b, const struct state_result *r)
{
    struct change_ack k;
    if (r->ack != NULL) {
        k = *r->ack;
        k.has_severity = false;
        k.severity = 0;
    }
    assert_int_equal(
        state_replay(b, &r->alert, NULL, r->outcome, r->version, 1000, r->ack ? &k : NULL), 0);
}

/* An ack, its replacement, an update that keeps it, an unack: replayed onto an empty table,
 * the acks come out the same, the severity it was made at included (a later worse update
 * still drops it). */
static void test_state_replay_carries_acks(void **st)
{
    struct state *a = *st, *b;
    struct state_result r;
    assert_int_equal(state_new(NULL, &b), 0);
#define REPLAY() replay_as_journaled(b, &r)
    struct alert x = mk(ALERT_UPD, "h", "x");
    alert_set_num(&x, ALERT_SEVERITY, 3);
    assert_int_equal(state_apply(a, &x, 1000, &r), 0);
    REPLAY();
    struct alert y = mk(ALERT_UPD, "h", "y");
    assert_int_equal(state_apply(a, &y, 1000, &r), 0);
    REPLAY();
    struct change_ack k = mkack("alice", "one", 2000, 0);
    assert_int_equal(state_ack(a, "h", "x", &k, &r), 0);
    REPLAY();
    k = mkack("bob", "two", 3000, 90000);
    assert_int_equal(state_ack(a, "h", "x", &k, &r), 0);
    REPLAY();
    alert_set_num(&x, ALERT_SEVERITY, 4); /* better: kept, the line carries it */
    assert_int_equal(state_apply(a, &x, 4000, &r), 0);
    assert_non_null(r.ack);
    REPLAY();
    k = mkack("carol", "y", 5000, 0);
    assert_int_equal(state_ack(a, "h", "y", &k, &r), 0);
    REPLAY();
    assert_int_equal(state_unack(a, "h", "y", "dave", &r), 0);
    REPLAY();
#undef REPLAY
    assert_int_equal(state_version(b), state_version(a));
    const struct change_ack *ka = ack_now(a, "h", "x"), *kb = ack_now(b, "h", "x");
    assert_non_null(kb);
    assert_string_equal(kb->author, "bob");
    assert_string_equal(kb->comment, "two");
    assert_int_equal(kb->at_ms, ka->at_ms);
    assert_int_equal(kb->expires_ms, 90000);
    assert_int_equal(kb->severity, 3); /* made at 3, though the alert is at 4 now */
    assert_null(ack_now(b, "h", "y"));
    assert_int_equal(state_next_expiry(b), 90000);
    /* Severity 3 again is not worse than when acknowledged: kept, in both. */
    struct alert again = mk(ALERT_UPD, "h", "x");
    alert_set_num(&again, ALERT_SEVERITY, 3);
    assert_int_equal(state_apply(b, &again, 6000, &r), 0);
    assert_non_null(r.ack);
    state_free(b);
}

static void test_state_restore_keeps_the_ack(void **st)
{
    struct state_result r;
    struct alert a = mk(ALERT_UPD, "h", "c");
    alert_set_num(&a, ALERT_SEVERITY, 4);
    struct change_ack k = {.author = "alice",
                           .comment = "c",
                           .at_ms = 2000,
                           .expires_ms = 7000,
                           .has_severity = true,
                           .severity = 2};
    struct state_meta m = {.version = 9, .first_seen_ms = 1000, .last_seen_ms = 1000, .ack = &k};
    assert_int_equal(state_restore(*st, &a, &m), 0);
    const struct change_ack *now = ack_now(*st, "h", "c");
    assert_non_null(now);
    assert_string_equal(now->author, "alice");
    assert_int_equal(now->severity, 2);
    assert_int_equal(state_expire(*st, 7000, &r), 1);
    assert_int_equal(r.outcome, CHANGE_UNACK);
    assert_int_equal(r.version, 10);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_state_upd_of_inactive_raises_with_version_1),
        T(test_state_identical_upd_is_duplicate_and_not_versioned),
        T(test_state_duplicate_refreshes_last_seen),
        T(test_state_changed_field_is_update),
        T(test_state_extra_field_change_is_update),
        T(test_state_del_of_active_clears_with_last_fields),
        T(test_state_del_of_inactive_is_redundant),
        T(test_state_updonly_of_inactive_is_a_miss),
        T(test_state_updonly_changes_only_the_fields_it_carries),
        T(test_state_increment_adds_count),
        T(test_state_versions_strictly_increase_over_mixed_stream),
        T(test_state_per_host_view),
        T(test_state_same_component_different_hosts_are_different_keys),
        T(test_state_cap_refuses_raises_not_updates),
        T(test_state_host_cap_refuses_new_hosts_only),
        T(test_state_set_version_only_raises),
        T(test_state_many_alerts_raised_and_cleared),
        T(test_state_ttl_expires_with_a_version),
        T(test_state_refresh_restarts_the_ttl),
        T(test_state_default_ttl_and_no_ttl),
        T(test_state_cleared_alert_does_not_expire),
        T(test_state_many_alerts_expire_in_deadline_order),
        T(test_state_replay_of_the_changes_rebuilds_the_table),
        T(test_state_begin_series_only_without_one),
        T(test_state_table_follows_a_model_through_churn),
        T(test_state_updates_smaller_larger_and_merged),
        T(test_state_generation_and_refresh),
        T(test_state_emptied_table_answers_after_refill),
        T(test_state_sender_is_the_last_raise_or_update),
        T(test_state_ack_is_a_change_with_the_next_version),
        T(test_state_ack_of_nothing_active_is_enoent),
        T(test_state_reack_replaces_the_ack),
        T(test_state_unack_takes_it_back_and_unacked_is_enodata),
        T(test_state_worse_update_drops_the_ack_better_keeps_it),
        T(test_state_clear_and_expire_drop_the_ack_without_a_change),
        T(test_state_ack_expiry_is_an_unack_from_the_heap),
        T(test_state_many_ack_expiries_fire_in_order),
        T(test_state_replay_carries_acks),
        T(test_state_restore_keeps_the_ack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
