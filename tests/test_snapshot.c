/* test_snapshot.c - the state table written and read back: fields, versions, times,
 * expiry; truncated, corrupt and missing files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/snapshot.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[256], path[300];

static int setup(void **st)
{
    (void)st;
    snprintf(dir, sizeof(dir), "/tmp/injector-snap.XXXXXX");
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/snapshot.json", dir);
    return 0;
}

static int teardown(void **st)
{
    (void)st;
    char cmd[400];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static struct alert mk(const char *host, const char *comp)
{
    struct alert a;
    alert_clear(&a);
    a.action = ALERT_UPD;
    a.host = host;
    a.host_len = (uint32_t)strlen(host);
    a.component = comp;
    a.component_len = (uint32_t)strlen(comp);
    return a;
}

static struct state *filled(void)
{
    struct state *s;
    struct state_result r;
    assert_int_equal(state_new(NULL, &s), 0);
    struct alert a = mk("web12", "disk");
    a.text[ALERT_MSG] = "disk \"95%\" full\n\xc3\xa9";
    a.text_len[ALERT_MSG] = (uint32_t)strlen(a.text[ALERT_MSG]);
    a.text[ALERT_OWNER] = "";
    a.text_len[ALERT_OWNER] = 0;
    alert_set_num(&a, ALERT_SEVERITY, 6);
    alert_set_num(&a, ALERT_AUTOCLEAR, 1);
    alert_set_num(&a, ALERT_TTL, 600);
    a.n_extra = 1;
    a.extra[0] = (struct alert_extra){"Rack", "r7"};
    assert_int_equal(state_apply(s, &a, 1000, &r), 0);
    for (int i = 0; i < 100; i++) {
        char h[16];
        snprintf(h, sizeof(h), "n%03d", i);
        struct alert b = mk(h, "node");
        assert_int_equal(state_apply(s, &b, 2000 + i, &r), 0);
    }
    struct alert d = mk("n050", "node");
    d.action = ALERT_DEL;
    assert_int_equal(state_apply(s, &d, 3000, &r), 0); /* version 102 */
    return s;
}

static int find_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    if (strcmp(a->host, "web12") != 0)
        return 0;
    assert_string_equal(a->component, "disk");
    assert_string_equal(a->text[ALERT_MSG], "disk \"95%\" full\n\xc3\xa9");
    assert_string_equal(a->text[ALERT_OWNER], "");
    assert_null(a->text[ALERT_CONTACT]);
    assert_int_equal(a->num[ALERT_SEVERITY], 6);
    assert_true(alert_has_num(a, ALERT_AUTOCLEAR));
    assert_int_equal(a->num[ALERT_AUTOCLEAR], 1);
    assert_int_equal(a->n_extra, 1);
    assert_string_equal(a->extra[0].value, "r7");
    assert_int_equal(m->version, 1);
    assert_int_equal(m->first_seen_ms, 1000);
    assert_int_equal(m->expires_ms, 601000);
    (*(int *)data)++;
    return 0;
}

static void test_snapshot_round_trip_keeps_everything(void **st)
{
    (void)st;
    char err[512];
    struct state *s = filled(), *t;
    state_set_epoch(s, 0xfedcba9876543210ull);
    assert_int_equal(snapshot_write(s, path, "mon1", true, err, sizeof(err)), 0);
    assert_int_equal(state_new(NULL, &t), 0);
    struct snapshot_info info;
    if (snapshot_load(t, path, &info, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(info.loaded, 100);
    assert_int_equal(info.count, 100);
    assert_true(info.clean);
    assert_int_equal(state_count(t), 100);
    assert_int_equal(state_version(t), 102);
    assert_true(state_epoch(t) == 0xfedcba9876543210ull); /* the series goes on */
    int found = 0;
    state_foreach(t, NULL, find_cb, &found);
    assert_int_equal(found, 1);

    /* Restored, not re-announced: the same Upd is a duplicate, a Del clears with 103. */
    struct state_result r;
    struct alert b = mk("n007", "node");
    assert_int_equal(state_apply(t, &b, 5000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_DUPLICATE);
    b.action = ALERT_DEL;
    assert_int_equal(state_apply(t, &b, 5000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_CLEAR);
    assert_int_equal(r.version, 103);
    /* The restored deadline still holds. */
    assert_int_equal(state_expire(t, 600999, &r), 0);
    assert_int_equal(state_expire(t, 601000, &r), 1);
    assert_string_equal(r.alert.host, "web12");
    state_free(s);
    state_free(t);
}

static void test_snapshot_written_by_a_forked_child(void **st)
{
    (void)st;
    char err[512];
    struct state *s = filled(), *t;
    pid_t pid = snapshot_write_async(s, path, "mon1");
    assert_true(pid > 0);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(state_new(NULL, &t), 0);
    struct snapshot_info info;
    assert_int_equal(snapshot_load(t, path, &info, err, sizeof(err)), 0);
    assert_int_equal(state_count(t), 100);
    assert_false(info.clean); /* periodic: the run may go on past it */
    state_free(s);
    state_free(t);
}

static void truncate_file(long keep)
{
    assert_int_equal(truncate(path, keep), 0);
}

static void test_snapshot_truncated_or_corrupt_is_an_error_not_a_crash(void **st)
{
    (void)st;
    char err[512];
    struct state *s = filled(), *t;
    struct snapshot_info info;
    assert_int_equal(snapshot_write(s, path, "mon1", true, err, sizeof(err)), 0);
    truncate_file(3000); /* cut in the middle of the alerts */
    assert_int_equal(state_new(NULL, &t), 0);
    assert_int_equal(snapshot_load(t, path, &info, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "snapshot.json"));
    assert_true(info.loaded < 100);
    assert_int_equal(state_count(t), info.loaded); /* what was whole is kept */
    state_free(t);

    FILE *f = fopen(path, "w");
    fputs("this is not a snapshot\n", f);
    fclose(f);
    assert_int_equal(state_new(NULL, &t), 0);
    assert_int_equal(snapshot_load(t, path, &info, err, sizeof(err)), -EBADMSG);
    assert_non_null(strstr(err, "not an injector snapshot"));
    assert_int_equal(state_count(t), 0);
    state_free(t);

    f = fopen(path, "w");
    fclose(f);
    assert_int_equal(state_new(NULL, &t), 0);
    assert_int_equal(snapshot_load(t, path, &info, err, sizeof(err)), -EBADMSG);
    state_free(t);
    state_free(s);
}

static void test_snapshot_missing_is_enoent(void **st)
{
    (void)st;
    char err[512];
    struct state *t;
    struct snapshot_info info;
    assert_int_equal(state_new(NULL, &t), 0);
    assert_int_equal(snapshot_load(t, path, &info, err, sizeof(err)), -ENOENT);
    state_free(t);
    /* An unwritable place is a clear error, and leaves nothing behind. */
    struct state *s = filled();
    assert_true(snapshot_write(s, "/nonexistent/dir/snap.json", "m", true, err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "/nonexistent/dir/snap.json"));
    state_free(s);
}

/* A periodic snapshot (a run that may have crashed after it): numbering jumps past what
 * that run could have issued in interval + 10 s at a million changes a second. */
static void test_snapshot_restore_after_a_crash_jumps_the_version(void **st)
{
    (void)st;
    struct state *s = filled(), *t;
    pid_t pid = snapshot_write_async(s, path, "mon1");
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(state_new(NULL, &t), 0);
    struct snapshot_restored r;
    assert_int_equal(snapshot_restore(t, path, 60, 1000, &r), 0);
    assert_false(r.info.clean);
    assert_int_equal(r.info.version, 102);
    assert_int_equal(r.jumped_to, 102 + 70 * 1000000ull);
    assert_int_equal(state_version(t), 102 + 70 * 1000000ull);
    assert_int_equal(state_count(t), 100);
    state_free(t);

    /* With a journal (interval 0) what came after is known: no jump. */
    assert_int_equal(state_new(NULL, &t), 0);
    assert_int_equal(snapshot_restore(t, path, 0, 1000, &r), 0);
    assert_int_equal(r.jumped_to, 0);
    assert_int_equal(state_version(t), 102);
    state_free(t);

    /* A clean exit's snapshot: numbering goes on right after it. */
    char err[512];
    assert_int_equal(snapshot_write(s, path, "mon1", true, err, sizeof(err)), 0);
    assert_int_equal(state_new(NULL, &t), 0);
    assert_int_equal(snapshot_restore(t, path, 60, 1000, &r), 0);
    assert_int_equal(r.jumped_to, 0);
    assert_int_equal(state_version(t), 102);
    state_free(t);
    state_free(s);
}

/* A damaged file keeps what was whole, and moves aside (named after the time) so the next
 * snapshot does not overwrite it; a missing one is an empty table and moves nothing. */
static void test_snapshot_restore_sets_a_damaged_file_aside(void **st)
{
    (void)st;
    char err[512], aside[400];
    struct state *s = filled(), *t;
    assert_int_equal(snapshot_write(s, path, "mon1", true, err, sizeof(err)), 0);
    truncate_file(3000);
    assert_int_equal(state_new(NULL, &t), 0);
    struct snapshot_restored r;
    assert_int_equal(snapshot_restore(t, path, 60, 1234567, &r), -EBADMSG);
    snprintf(aside, sizeof(aside), "%s.corrupt-1234567", path);
    assert_string_equal(r.aside, aside);
    assert_int_equal(access(path, F_OK), -1);
    assert_int_equal(access(aside, F_OK), 0);
    assert_true(r.info.loaded > 0 && r.info.loaded < 100);
    assert_int_equal(state_count(t), r.info.loaded);
    assert_int_equal(r.jumped_to, 0);
    state_free(t);

    assert_int_equal(state_new(NULL, &t), 0);
    assert_int_equal(snapshot_restore(t, path, 60, 1234568, &r), -ENOENT);
    assert_string_equal(r.aside, "");
    assert_int_equal(state_count(t), 0);
    state_free(t);
    state_free(s);
}

static int ack_of_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    (void)a;
    *(const struct change_ack **)data = m->ack;
    return 0;
}

/* An acknowledged alert comes back acknowledged: author, comment, times, the severity it was
 * made at (a worse update after the restart still drops it), and its expiry still fires. */
static void test_snapshot_keeps_acks(void **st)
{
    (void)st;
    char err[512];
    struct state *s = filled(), *t;
    struct state_result r;
    struct change_ack k = {
        .author = "alice", .comment = "disk \"ordered\"", .at_ms = 4000, .expires_ms = 900000};
    assert_int_equal(state_ack(s, "web12", "disk", &k, &r), 0); /* made at severity 6 */
    struct alert better = mk("web12", "disk");
    better.text[ALERT_MSG] = "better";
    better.text_len[ALERT_MSG] = 6;
    alert_set_num(&better, ALERT_SEVERITY, 7);
    assert_int_equal(state_apply(s, &better, 5000, &r), 0);
    assert_non_null(r.ack);
    k = (struct change_ack){.author = "bob", .comment = "n1", .at_ms = 4500};
    assert_int_equal(state_ack(s, "n001", "node", &k, &r), 0);
    assert_int_equal(snapshot_write(s, path, "mon1", true, err, sizeof(err)), 0);
    assert_int_equal(state_new(NULL, &t), 0);
    struct snapshot_info info;
    if (snapshot_load(t, path, &info, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    assert_int_equal(state_version(t), state_version(s));
    assert_int_equal(state_ack_count(t), 2);
    const struct change_ack *got = NULL;
    assert_int_equal(state_lookup(t, "web12", "disk", ack_of_cb, &got), 0);
    assert_non_null(got);
    assert_string_equal(got->author, "alice");
    assert_string_equal(got->comment, "disk \"ordered\"");
    assert_int_equal(got->at_ms, 4000);
    assert_int_equal(got->expires_ms, 900000);
    assert_int_equal(state_lookup(t, "n001", "node", ack_of_cb, &got), 0);
    assert_string_equal(got->author, "bob");
    assert_int_equal(got->expires_ms, 0);
    assert_int_equal(state_lookup(t, "n002", "node", ack_of_cb, &got), 0);
    assert_null(got);
    /* Made at 6: back to 6 keeps it, 5 drops it. */
    alert_set_num(&better, ALERT_SEVERITY, 6);
    assert_int_equal(state_apply(t, &better, 6000, &r), 0);
    assert_non_null(r.ack);
    /* The ack's deadline is restored (the update, without a TTL, ended the alert's). */
    assert_int_equal(state_next_expiry(t), 900000);
    alert_set_num(&better, ALERT_SEVERITY, 5);
    assert_int_equal(state_apply(t, &better, 7000, &r), 0);
    assert_null(r.ack);
    assert_int_equal(state_ack_count(t), 1);
    state_free(s);
    state_free(t);
}

/* An ack made when the alert had no severity compares with nothing: no update makes it worse.
 * Through a restart too: the snapshot says it had none, and reading it back does not take
 * the severity the alert had by then (3 here, which a 2 would then have been worse than). */
static void test_snapshot_keeps_an_ack_made_without_a_severity(void **st)
{
    (void)st;
    char err[512];
    struct state *s, *t;
    struct state_result r;
    assert_int_equal(state_new(NULL, &s), 0);
    struct alert a = mk("web12", "disk");
    assert_int_equal(state_apply(s, &a, 1000, &r), 0);
    struct change_ack k = {.author = "alice", .comment = "c", .at_ms = 2000};
    assert_int_equal(state_ack(s, "web12", "disk", &k, &r), 0);
    alert_set_num(&a, ALERT_SEVERITY, 3);
    assert_int_equal(state_apply(s, &a, 3000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_UPDATE);
    assert_non_null(r.ack);
    assert_int_equal(snapshot_write(s, path, "mon1", true, err, sizeof(err)), 0);
    assert_int_equal(state_new(NULL, &t), 0);
    struct snapshot_info info;
    if (snapshot_load(t, path, &info, err, sizeof(err)) != 0)
        fail_msg("%s", err);
    alert_set_num(&a, ALERT_SEVERITY, 2);
    assert_int_equal(state_apply(s, &a, 4000, &r), 0); /* without the restart */
    assert_non_null(r.ack);
    assert_int_equal(state_apply(t, &a, 4000, &r), 0); /* after it: the same */
    assert_int_equal(r.outcome, CHANGE_UPDATE);
    assert_non_null(r.ack);
    assert_string_equal(r.ack->author, "alice");
    assert_int_equal(state_ack_count(t), 1);
    state_free(s);
    state_free(t);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_snapshot_round_trip_keeps_everything),
        T(test_snapshot_written_by_a_forked_child),
        T(test_snapshot_truncated_or_corrupt_is_an_error_not_a_crash),
        T(test_snapshot_missing_is_enoent),
        T(test_snapshot_restore_after_a_crash_jumps_the_version),
        T(test_snapshot_restore_sets_a_damaged_file_aside),
        T(test_snapshot_keeps_acks),
        T(test_snapshot_keeps_an_ack_made_without_a_severity),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
