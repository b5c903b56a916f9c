/* test_repeat.c - the repeat cache, and the fast path it gives ingest: a differential test
 * (the same random streams through a collector with the fast path on and one with it off
 * give the same changes, counters, per-sender counts and table), and the cache's own cases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/acl.h"
#include "collector/auth.h"
#include "collector/ingest.h"
#include "collector/log.h"
#include "collector/repeat.h"
#include "collector/sources.h"
#include "parsers/envelope.h"

#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- the cache on its own ----------------------------------------------------------- */

static const char KEY[] = "web12\0disk"; /* state_key() form */
#define KLEN (sizeof(KEY) - 1)

static void test_repeat_hit_gives_back_what_was_remembered(void **st)
{
    (void)st;
    struct repeat *r;
    struct repeat_hit hit;
    const char *d = "<Alert><Action>Upd</Action><ProblemHost>web12</ProblemHost>"
                    "<Component>disk</Component></Alert>";
    size_t len = strlen(d);
    assert_int_equal(repeat_new(0, &r), 0);
    uint32_t h = repeat_hash(d, len);
    assert_int_equal(h, repeat_hash(d, len));
    assert_false(repeat_lookup(r, d, len, h, &hit));
    repeat_insert(r, d, len, h, REPEAT_SET, KEY, KLEN, 77, 42);
    assert_true(repeat_lookup(r, d, len, h, &hit));
    assert_int_equal(hit.kind, REPEAT_SET);
    assert_int_equal(hit.klen, KLEN);
    assert_memory_equal(hit.key, KEY, KLEN);
    assert_int_equal(hit.key_hash, 77);
    assert_int_equal(hit.generation, 42);
    /* The record for the same bytes again replaces the first. */
    repeat_insert(r, d, len, h, REPEAT_CLEAR, KEY, KLEN, 77, 0);
    assert_true(repeat_lookup(r, d, len, h, &hit));
    assert_int_equal(hit.kind, REPEAT_CLEAR);
    assert_int_equal(hit.generation, 0);
    repeat_free(r);
}

/* The hash only finds the slot: other bytes under the same hash and length are a miss. */
static void test_repeat_changed_bytes_miss_even_under_the_same_hash(void **st)
{
    (void)st;
    struct repeat *r;
    struct repeat_hit hit;
    char a[] = "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost>"
               "<Component>c</Component><Msg>one</Msg></Alert>";
    char b[sizeof(a)];
    memcpy(b, a, sizeof(a));
    memcpy(strstr(b, "one"), "two", 3);
    assert_int_equal(repeat_new(0, &r), 0);
    uint32_t h = repeat_hash(a, strlen(a));
    repeat_insert(r, a, strlen(a), h, REPEAT_SET, KEY, KLEN, 1, 5);
    assert_false(repeat_lookup(r, b, strlen(b), h, &hit)); /* forced collision */
    assert_false(repeat_lookup(r, a, strlen(a) - 1, h, &hit));
    assert_false(repeat_lookup(r, a, strlen(a), h ^ 1, &hit)); /* another slot's hash */
    assert_true(repeat_lookup(r, a, strlen(a), h, &hit));
    repeat_free(r);
}

/* A small cache forgets: a slot goes to the newer record, the ring overwrites the oldest
 * ones, and what it still says is still right. */
static void test_repeat_eviction_by_slot_and_by_ring(void **st)
{
    (void)st;
    struct repeat *r;
    struct repeat_hit hit;
    char d[600];
    assert_int_equal(repeat_new(64 << 10, &r), 0); /* ~56 KiB of ring, 512 slots */
    /* Five datagrams whose hashes share a set of four slots (4..7; 512 * k + 5 is in it
     * too): four that come in turns all stay, a fifth evicts the oldest. */
    char dg[5][32];
    const uint32_t h[5] = {5, 5 + 512 * 3, 4, 7 + 512, 6};
    for (int i = 0; i < 5; i++)
        snprintf(dg[i], sizeof(dg[i]), "<Alert>%d</Alert>", i);
    for (int i = 0; i < 4; i++)
        repeat_insert(r, dg[i], strlen(dg[i]), h[i], REPEAT_SET, KEY, KLEN, 1, 1);
    for (int turn = 0; turn < 3; turn++)
        for (int i = 0; i < 4; i++)
            assert_true(repeat_lookup(r, dg[i], strlen(dg[i]), h[i], &hit));
    /* The same bytes again take their own slot: nothing else goes. */
    repeat_insert(r, dg[0], strlen(dg[0]), h[0], REPEAT_SET, KEY, KLEN, 1, 3);
    for (int i = 1; i < 4; i++)
        assert_true(repeat_lookup(r, dg[i], strlen(dg[i]), h[i], &hit));
    repeat_insert(r, dg[4], strlen(dg[4]), h[4], REPEAT_SET, KEY, KLEN, 1, 4);
    assert_false(repeat_lookup(r, dg[1], strlen(dg[1]), h[1], &hit)); /* the oldest went */
    assert_true(repeat_lookup(r, dg[0], strlen(dg[0]), h[0], &hit));
    assert_int_equal(hit.generation, 3);
    for (int i = 2; i < 5; i++)
        assert_true(repeat_lookup(r, dg[i], strlen(dg[i]), h[i], &hit));
    /* 1,000 records of ~500 bytes: the ring holds about a hundred of them. */
    memset(d, 'x', 480);
    for (uint32_t i = 0; i < 1000; i++) {
        snprintf(d + 480, sizeof(d) - 480, "%u", i);
        repeat_insert(r, d, strlen(d), i * 7919u, REPEAT_SET, KEY, KLEN, 1, i + 1);
    }
    size_t found = 0;
    for (uint32_t i = 0; i < 1000; i++) {
        snprintf(d + 480, sizeof(d) - 480, "%u", i);
        if (repeat_lookup(r, d, strlen(d), i * 7919u, &hit)) {
            found++;
            assert_int_equal(hit.generation, i + 1);
            assert_true(i >= 850); /* only the newest survive */
        }
    }
    assert_true(found > 50 && found < 150);
    /* Too long to remember: never found. */
    static char big[REPEAT_MAX_DATAGRAM + 1];
    memset(big, 'y', sizeof(big));
    repeat_insert(r, big, sizeof(big), 9, REPEAT_SET, KEY, KLEN, 1, 3);
    assert_false(repeat_lookup(r, big, sizeof(big), 9, &hit));
    repeat_free(r);
}

/* ---- through ingest ------------------------------------------------------------------ */

struct capture {
    struct sink sink;
    char **lines;
    size_t n, cap;
};

static int capture_write(struct sink *sk, const struct change *c, const char *json, size_t len)
{
    (void)c;
    struct capture *cp = (struct capture *)sk;
    if (cp->n == cp->cap) {
        cp->cap = cp->cap ? 2 * cp->cap : 256;
        cp->lines = realloc(cp->lines, cp->cap * sizeof(*cp->lines));
        assert_non_null(cp->lines);
    }
    cp->lines[cp->n] = malloc(len + 1);
    assert_non_null(cp->lines[cp->n]);
    memcpy(cp->lines[cp->n], json, len + 1);
    cp->n++;
    return 0;
}

static void capture_free(struct sink *sk)
{
    (void)sk; /* owned by the test, which reads it after ingest_free */
}

static const struct sink_ops capture_ops = {
    .name = "capture", .write = capture_write, .free = capture_free};

static void capture_clear(struct capture *cp)
{
    for (size_t i = 0; i < cp->n; i++)
        free(cp->lines[i]);
    free(cp->lines);
    memset(cp, 0, sizeof(*cp));
    cp->sink.ops = &capture_ops;
}

/* A collector with the fast path on or off, everything else alike. */
struct side {
    struct capture cap;
    struct ingest *in;
};

static const char KEY_HEX[] = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

struct setup {
    double rate, burst;
    size_t max_alerts, max_hosts;
    unsigned default_ttl_s;
    const char *allow;    /* NULL: everyone */
    const char *key_file; /* NULL: no signatures */
};

static void side_new(struct side *s, bool fast, const struct setup *su)
{
    memset(s, 0, sizeof(*s));
    s->cap.sink.ops = &capture_ops;
    struct sink *sinks[1] = {&s->cap.sink};
    struct ingest_config cfg = {.collector_id = "t",
                                .max_alerts = su->max_alerts,
                                .default_ttl_s = su->default_ttl_s,
                                .max_hosts = su->max_hosts,
                                .rate_limit = su->rate,
                                .rate_burst = su->burst,
                                .fast_path = fast};
    assert_int_equal(ingest_new(&cfg, sinks, 1, &s->in), 0);
    if (su->allow != NULL) {
        struct acl *acl;
        char why[128];
        assert_int_equal(acl_parse(su->allow, &acl, why, sizeof(why)), 0);
        ingest_set_acl(s->in, acl);
    }
    if (su->key_file != NULL) {
        struct auth *au;
        char why[128];
        struct auth_config ac = {.key_file = su->key_file};
        assert_int_equal(auth_new(&ac, &au, why, sizeof(why)), 0);
        ingest_set_auth(s->in, au);
    }
}

static void side_free(struct side *s)
{
    ingest_free(s->in);
    capture_clear(&s->cap);
}

/* The stream's building blocks: few hosts, components and values, so that contents repeat
 * (a duplicate by other bytes) as well as bytes. */
static uint32_t rnd(uint32_t *x)
{
    *x = *x * 1103515245u + 12345u;
    return *x >> 8;
}

static const char *const HOSTS[] = {"web1", "web2", "db1", " db1 ", "n0418", "mail"};
static const char *const COMPS[] = {"disk", "load", "node", "ping"};
static const char *const MSGS[] = {"disk 95% full", "Node is Down", "caf\xc3\xa9 &amp; more", ""};

/* One alert, in one of a few ways of writing it. */
static int one_alert(char *p, size_t size, uint32_t *x, uint64_t *seq)
{
    const char *host = HOSTS[rnd(x) % 6], *comp = COMPS[rnd(x) % 4];
    static const char *const actions[] = {"Upd", "Upd", "Upd", "Del", "Updonly", "Post", "upd"};
    const char *action = actions[rnd(x) % 7];
    uint32_t form = rnd(x) % 10;
    if (form == 0) /* ProxD */
        return snprintf(p, size, "<%s host=\"%s\" component=\"%s\" severity=\"%u\"/>",
                        action[0] == 'D' ? "delAlert" : "updAlert", host, comp, rnd(x) % 3);
    int n = snprintf(p, size,
                     "<Alert><Action>%s</Action><ProblemHost>%s</ProblemHost>%s"
                     "<Component>%s</Component>",
                     action, host, form == 1 ? "\n  " : "", comp);
    if (rnd(x) % 2)
        n += snprintf(p + n, size - (size_t)n, "<Severity>%u</Severity>", rnd(x) % 3);
    if (rnd(x) % 2)
        n += snprintf(p + n, size - (size_t)n, "<Msg>%s</Msg>", MSGS[rnd(x) % 4]);
    if (rnd(x) % 4 == 0)
        n += snprintf(p + n, size - (size_t)n, "<TTL>%u</TTL>", 1 + rnd(x) % 5);
    if (rnd(x) % 5 == 0)
        n += snprintf(p + n, size - (size_t)n, "<Rack>r%u</Rack>", rnd(x) % 2);
    if (rnd(x) % 8 == 0)
        n += snprintf(p + n, size - (size_t)n, "<Increment>%s</Increment><Count>%u</Count>",
                      rnd(x) % 2 ? "true" : "false", rnd(x) % 3);
    if (rnd(x) % 8 == 0)
        n += snprintf(p + n, size - (size_t)n, "<Seq>%llu</Seq>",
                      (unsigned long long)(rnd(x) % 4 ? ++*seq : *seq));
    if (rnd(x) % 30 == 0)
        n += snprintf(p + n, size - (size_t)n, "<Severity>high</Severity>"); /* invalid */
    n += snprintf(p + n, size - (size_t)n, "</Alert>");
    return n;
}

#define HISTORY 64

struct stream {
    uint32_t x;
    uint64_t seq;
    unsigned nonce;
    char history[HISTORY][2048];
    size_t history_len[HISTORY];
    size_t n_history;
    struct envelope_key key;
    bool sign;
};

/* The next datagram: half the time a byte-for-byte repeat of a recent one. */
static size_t next_datagram(struct stream *s, char *buf, size_t size, int64_t now_ms)
{
    if (s->n_history > 0 && rnd(&s->x) % 2 == 0) {
        size_t i = rnd(&s->x) % (s->n_history < HISTORY ? s->n_history : HISTORY);
        memcpy(buf, s->history[i], s->history_len[i]);
        return s->history_len[i];
    }
    char body[1900];
    int n;
    uint32_t kind = rnd(&s->x) % 20;
    if (kind == 0) { /* a batch */
        n = snprintf(body, sizeof(body), "<Alerts>");
        for (uint32_t k = 0; k < 2 + rnd(&s->x) % 2; k++)
            n += one_alert(body + n, sizeof(body) - (size_t)n, &s->x, &s->seq);
        n += snprintf(body + n, sizeof(body) - (size_t)n, "</Alerts>");
    } else if (kind == 1) { /* not well-formed */
        n = snprintf(body, sizeof(body), "<Alert><Action>Upd</Action><ProblemHost>web1");
    } else if (kind == 2) { /* an alert refused inside a good document */
        n = snprintf(body, sizeof(body),
                     "<Alert><Action>Upd</Action><Component>c</Component>"
                     "</Alert>");
    } else if (kind == 3) { /* wrapped */
        n = snprintf(body, sizeof(body), "<Event><Msg>x</Msg>");
        n += one_alert(body + n, sizeof(body) - (size_t)n, &s->x, &s->seq);
        n += snprintf(body + n, sizeof(body) - (size_t)n, "</Event>");
    } else {
        n = one_alert(body, sizeof(body), &s->x, &s->seq);
    }
    size_t len = (size_t)n;
    if (s->sign && rnd(&s->x) % 4 == 0) {
        char nonce[32];
        snprintf(nonce, sizeof(nonce), "n%u", ++s->nonce);
        int m = envelope_sign(&s->key, now_ms / 1000, nonce, body, len, buf, size);
        assert_true(m > 0);
        len = (size_t)m;
    } else {
        memcpy(buf, body, len);
    }
    size_t slot = s->n_history++ % HISTORY;
    memcpy(s->history[slot], buf, len);
    s->history_len[slot] = len;
    return len;
}

static int table_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    struct capture *lines = data;
    char t[1200];
    int n = snprintf(t, sizeof(t), "%s/%s v=%llu first=%lld last=%lld exp=%lld sev=%lld", a->host,
                     a->component, (unsigned long long)m->version, (long long)m->first_seen_ms,
                     (long long)m->last_seen_ms, (long long)m->expires_ms,
                     alert_has_num(a, ALERT_SEVERITY) ? (long long)a->num[ALERT_SEVERITY] : -1);
    return capture_write(&lines->sink, NULL, t, (size_t)n);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void table_lines(struct ingest *in, struct capture *out)
{
    capture_clear(out);
    state_foreach(ingest_state(in), NULL, table_cb, out);
    qsort(out->lines, out->n, sizeof(*out->lines), cmp_str);
}

static int sender_cb(const struct source_info *si, void *data)
{
    struct capture *lines = data;
    char t[256];
    const struct sockaddr_in *sa = (const struct sockaddr_in *)si->addr;
    int n =
        snprintf(t, sizeof(t), "%08x:%u d=%llu a=%llu seq=%lld g=%llu r=%llu dup=%llu t=%lld",
                 ntohl(sa->sin_addr.s_addr), ntohs(sa->sin_port), (unsigned long long)si->datagrams,
                 (unsigned long long)si->alerts, (long long)si->last_seq,
                 (unsigned long long)si->seq_gaps, (unsigned long long)si->reordered,
                 (unsigned long long)si->duplicates, (long long)si->last_seen_ms);
    return capture_write(&lines->sink, NULL, t, (size_t)n);
}

static void sources_lines(struct ingest *in, struct capture *out)
{
    capture_clear(out);
    sources_foreach(ingest_sources(in), sender_cb, out);
    qsort(out->lines, out->n, sizeof(*out->lines), cmp_str);
}

static void assert_same_lines(const struct capture *a, const struct capture *b, const char *what)
{
    for (size_t i = 0; i < a->n && i < b->n; i++)
        if (strcmp(a->lines[i], b->lines[i]) != 0)
            fail_msg("%s %zu differ:\n  fast path on:  %s\n  fast path off: %s", what, i,
                     a->lines[i], b->lines[i]);
    if (a->n != b->n)
        fail_msg("%s: %zu with the fast path, %zu without", what, a->n, b->n);
}

/* Everything a user can see must be the same with and without the fast path. */
static void assert_same(struct side *on, struct side *off)
{
    assert_same_lines(&on->cap, &off->cap, "change line");
    struct stats a = *ingest_stats(on->in), b = *ingest_stats(off->in);
    assert_int_equal(b.fast_path, 0);
    assert_int_equal(b.fast_path_lookups, 0);
    a.fast_path = a.fast_path_lookups = 0;
    /* Every field of struct stats is 8 bytes: name the first that differs by its place. */
    uint64_t wa[sizeof(a) / 8], wb[sizeof(b) / 8];
    memcpy(wa, &a, sizeof(wa));
    memcpy(wb, &b, sizeof(wb));
    for (size_t i = 0; i < sizeof(wa) / 8; i++)
        if (wa[i] != wb[i])
            fail_msg("counters differ: struct stats word %zu: %llu with the fast path, %llu "
                     "without",
                     i, (unsigned long long)wa[i], (unsigned long long)wb[i]);
    struct capture ta = {0}, tb = {0};
    table_lines(on->in, &ta);
    table_lines(off->in, &tb);
    assert_same_lines(&ta, &tb, "active alert");
    sources_lines(on->in, &ta);
    sources_lines(off->in, &tb);
    assert_same_lines(&ta, &tb, "sender");
    capture_clear(&ta);
    capture_clear(&tb);
}

/* Run n datagrams of one stream through both sides, from three senders, with a fake clock
 * that lets TTLs run out; returns how many alerts took the fast path. */
static uint64_t run_differential(const struct setup *su, uint32_t seed, int n)
{
    struct side on, off;
    side_new(&on, true, su);
    side_new(&off, false, su);
    struct stream *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    s->x = seed;
    s->sign = su->key_file != NULL;
    s->key = (struct envelope_key){.id = "k1", .len = 32};
    for (int i = 0; i < 32; i++)
        s->key.key[i] = (unsigned char)i;
    struct sockaddr_in from[3];
    for (int i = 0; i < 3; i++)
        from[i] = (struct sockaddr_in){.sin_family = AF_INET,
                                       .sin_port = htons((uint16_t)(40000 + i)),
                                       .sin_addr.s_addr = htonl(0x7f000001u + (uint32_t)i)};
    int64_t now = INT64_C(1795676400000), mono = 1000;
    static char buf[4096];
    for (int i = 0; i < n; i++) {
        size_t len = next_datagram(s, buf, sizeof(buf), now);
        const struct sockaddr *sa = (const struct sockaddr *)&from[rnd(&s->x) % 3];
        bool truncated = rnd(&s->x) % 100 == 0;
        ingest_datagram(on.in, buf, len, truncated, sa, now, mono);
        ingest_datagram(off.in, buf, len, truncated, sa, now, mono);
        uint32_t dt = rnd(&s->x) % 4 == 0 ? rnd(&s->x) % 1500 : 0;
        now += dt;
        mono += dt;
        ingest_expire(on.in, now, mono);
        ingest_expire(off.in, now, mono);
        if (i % 500 == 499)
            assert_same(&on, &off); /* on the way, so a difference shows near its cause */
    }
    assert_same(&on, &off);
    uint64_t fast = ingest_stats(on.in)->fast_path;
    free(s);
    side_free(&on);
    side_free(&off);
    return fast;
}

static void test_repeat_fast_path_changes_nothing_a_user_sees(void **st)
{
    (void)st;
    struct setup su = {0};
    for (uint32_t seed = 1; seed <= 4; seed++) {
        uint64_t fast = run_differential(&su, seed, 6000);
        assert_true(fast > 300); /* the fast path was taken, often (~650 of 6,000) */
    }
}

static void test_repeat_fast_path_with_rate_limit_caps_and_default_ttl(void **st)
{
    (void)st;
    /* Tight enough that the rate limit refuses some repeats; caps that refuse some raises. */
    struct setup su = {.rate = 3, .burst = 4, .max_alerts = 14, .max_hosts = 4, .default_ttl_s = 3};
    for (uint32_t seed = 11; seed <= 13; seed++)
        assert_true(run_differential(&su, seed, 6000) > 150); /* ~400 */
}

static void test_repeat_fast_path_with_allow_list_and_signatures(void **st)
{
    (void)st;
    char path[] = "/tmp/test_repeat_keys.XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fprintf(f, "k1 %s\n", KEY_HEX);
    fclose(f);
    struct setup su = {.allow = "127.0.0.1, 127.0.0.2", .key_file = path}; /* .3 refused */
    for (uint32_t seed = 21; seed <= 23; seed++)
        assert_true(run_differential(&su, seed, 6000) > 100); /* ~300: a third is refused */
    unlink(path);
}

/* ---- the cases one by one ------------------------------------------------------------ */

static const struct sockaddr_in FROM = {
    .sin_family = AF_INET, .sin_port = 40000, .sin_addr.s_addr = 0x0100007f};

static void send_dg(struct side *s, const char *d, int64_t now_ms)
{
    ingest_datagram(s->in, d, strlen(d), false, (const struct sockaddr *)&FROM, now_ms, now_ms);
}

static const char UPD[] = "<Alert><Action>Upd</Action><ProblemHost>web12</ProblemHost>"
                          "<Component>disk</Component><Msg>full</Msg><TTL>10</TTL></Alert>";
static const char DEL[] = "<Alert><Action>Del</Action><ProblemHost>web12</ProblemHost>"
                          "<Component>disk</Component></Alert>";

static void test_repeat_repeat_is_a_duplicate_and_refreshes_the_ttl(void **st)
{
    (void)st;
    struct side s;
    struct setup su = {0};
    side_new(&s, true, &su);
    send_dg(&s, UPD, 0);
    send_dg(&s, UPD, 8000);
    const struct stats *t = ingest_stats(s.in);
    assert_int_equal(t->fast_path, 1);
    assert_int_equal(t->fast_path_lookups, 2); /* the first missed */
    assert_int_equal(t->outcomes[CHANGE_DUPLICATE], 1);
    assert_int_equal(t->alerts, 2);
    assert_int_equal(s.cap.n, 1);
    ingest_expire(s.in, 17999, 17999); /* refreshed at 8 s: due at 18 s */
    assert_int_equal(s.cap.n, 1);
    ingest_expire(s.in, 18000, 18000);
    assert_int_equal(s.cap.n, 2);
    assert_non_null(strstr(s.cap.lines[1], "\"outcome\":\"expire\""));
    /* Expired: the same Upd raises again, by the full path. */
    send_dg(&s, UPD, 20000);
    assert_int_equal(s.cap.n, 3);
    assert_non_null(strstr(s.cap.lines[2], "\"outcome\":\"raise\""));
    assert_int_equal(ingest_stats(s.in)->fast_path, 1);
    side_free(&s);
}

/* Something changed the alert since: an Updonly, another Upd. The repeat is then what the
 * full path says (an update), never a duplicate from the cache. */
static void test_repeat_change_since_takes_the_full_path(void **st)
{
    (void)st;
    struct side s;
    struct setup su = {0};
    side_new(&s, true, &su);
    send_dg(&s, UPD, 0);
    send_dg(&s,
            "<Alert><Action>Updonly</Action><ProblemHost>web12</ProblemHost>"
            "<Component>disk</Component><Msg>fuller</Msg></Alert>",
            1000);
    send_dg(&s, UPD, 2000);
    assert_int_equal(s.cap.n, 3);
    assert_non_null(strstr(s.cap.lines[2], "\"outcome\":\"update\""));
    assert_non_null(strstr(s.cap.lines[2], "\"msg\":\"full\""));
    assert_int_equal(ingest_stats(s.in)->fast_path, 0);
    send_dg(&s, UPD, 3000); /* remembered again, with the new generation */
    assert_int_equal(ingest_stats(s.in)->fast_path, 1);
    assert_int_equal(s.cap.n, 3);
    side_free(&s);
}

static void test_repeat_del_of_a_raised_key_goes_the_full_path(void **st)
{
    (void)st;
    struct side s;
    struct setup su = {0};
    side_new(&s, true, &su);
    send_dg(&s, DEL, 0); /* redundant, remembered */
    send_dg(&s, DEL, 1);
    assert_int_equal(ingest_stats(s.in)->fast_path, 1);
    assert_int_equal(ingest_stats(s.in)->outcomes[CHANGE_REDUNDANT_CLEAR], 2);
    send_dg(&s, UPD, 2);
    send_dg(&s, DEL, 3); /* the key is raised: a clear, by the full path */
    assert_int_equal(s.cap.n, 2);
    assert_non_null(strstr(s.cap.lines[1], "\"outcome\":\"clear\""));
    assert_int_equal(ingest_stats(s.in)->fast_path, 1);
    send_dg(&s, DEL, 4);
    assert_int_equal(ingest_stats(s.in)->fast_path, 2);
    assert_int_equal(ingest_stats(s.in)->outcomes[CHANGE_REDUNDANT_CLEAR], 3);
    side_free(&s);
}

/* Not plain repeats: Increment, Seq, batches. Each repeat goes the full path. */
static void test_repeat_increment_seq_and_batches_never_skip(void **st)
{
    (void)st;
    static const char *const docs[] = {
        "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost><Component>inc</Component>"
        "<Increment>true</Increment></Alert>",
        "<Alert><Action>Upd</Action><ProblemHost>h</ProblemHost><Component>seq</Component>"
        "<Seq>7</Seq></Alert>",
        "<Alerts><Alert><Action>Upd</Action><ProblemHost>h</ProblemHost><Component>b1"
        "</Component></Alert><Alert><Action>Del</Action><ProblemHost>h</ProblemHost>"
        "<Component>b2</Component></Alert></Alerts>",
    };
    struct side s;
    struct setup su = {0};
    side_new(&s, true, &su);
    for (int r = 0; r < 3; r++)
        for (size_t i = 0; i < 3; i++)
            send_dg(&s, docs[i], r);
    const struct stats *t = ingest_stats(s.in);
    assert_int_equal(t->fast_path, 0);
    assert_int_equal(t->outcomes[CHANGE_UPDATE], 2); /* the Count went up twice */
    assert_int_equal(t->seq_duplicates, 2);
    side_free(&s);
}

/* Off, then on at run time (SIGHUP), then off again: the counter moves only while on. */
static void test_repeat_switched_at_run_time(void **st)
{
    (void)st;
    struct side s;
    struct setup su = {0};
    side_new(&s, false, &su);
    send_dg(&s, UPD, 0);
    send_dg(&s, UPD, 1);
    assert_int_equal(ingest_stats(s.in)->fast_path, 0);
    assert_int_equal(ingest_set_fast_path(s.in, true), 0);
    send_dg(&s, UPD, 2); /* remembered */
    send_dg(&s, UPD, 3);
    assert_int_equal(ingest_stats(s.in)->fast_path, 1);
    assert_int_equal(ingest_set_fast_path(s.in, false), 0);
    send_dg(&s, UPD, 4);
    assert_int_equal(ingest_stats(s.in)->fast_path, 1);
    assert_int_equal(ingest_stats(s.in)->outcomes[CHANGE_DUPLICATE], 4);
    side_free(&s);
}

int main(void)
{
    log_set_level(LOG_LEVEL_ERROR); /* the streams' refusals would fill the test log */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_repeat_hit_gives_back_what_was_remembered),
        cmocka_unit_test(test_repeat_changed_bytes_miss_even_under_the_same_hash),
        cmocka_unit_test(test_repeat_eviction_by_slot_and_by_ring),
        cmocka_unit_test(test_repeat_repeat_is_a_duplicate_and_refreshes_the_ttl),
        cmocka_unit_test(test_repeat_change_since_takes_the_full_path),
        cmocka_unit_test(test_repeat_del_of_a_raised_key_goes_the_full_path),
        cmocka_unit_test(test_repeat_increment_seq_and_batches_never_skip),
        cmocka_unit_test(test_repeat_switched_at_run_time),
        cmocka_unit_test(test_repeat_fast_path_changes_nothing_a_user_sees),
        cmocka_unit_test(test_repeat_fast_path_with_rate_limit_caps_and_default_ttl),
        cmocka_unit_test(test_repeat_fast_path_with_allow_list_and_signatures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
