/* test_ingest.c - the data path (datagram -> parser -> state table -> sinks) through
 * ingest.h with capturing sinks: one counter per fate of every datagram and alert, what
 * the sinks receive and in which order, refusals (allow-list, signatures, rate limit,
 * active-alert cap), Seq accounting, sink failures, flushes, expiry. It pins the full
 * path's behaviour: a faster path must give the same outcomes and counters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/acl.h"
#include "collector/auth.h"
#include "collector/ingest.h"
#include "collector/sources.h"
#include "parsers/envelope.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define T0 1795676400000LL /* wall clock, ms */

/* ---- a sink that keeps what it is given ---- */

#define CAPTURE_MAX 64

struct captured {
    enum change_outcome outcome;
    uint64_t version;
    char host[64], component[64];
    char json[1024];
};

struct capture {
    struct sink sink;                  /* first: ingest holds &capture.sink */
    int write_rc, flush_rc, reopen_rc; /* what the next calls return */
    unsigned writes, flushes, reopens, frees;
    struct captured got[CAPTURE_MAX];
    size_t n; /* changes taken (write returned 0) */
};

static int capture_write(struct sink *sk, const struct change *c, const char *json, size_t len)
{
    struct capture *cap = (struct capture *)sk;
    cap->writes++;
    assert_int_equal(strlen(json), len);
    if (cap->write_rc != 0)
        return cap->write_rc;
    assert_true(cap->n < CAPTURE_MAX);
    struct captured *g = &cap->got[cap->n++];
    g->outcome = c->outcome;
    g->version = c->version;
    snprintf(g->host, sizeof(g->host), "%s", c->alert->host);
    snprintf(g->component, sizeof(g->component), "%s", c->alert->component);
    snprintf(g->json, sizeof(g->json), "%s", json);
    return 0;
}

static int capture_flush(struct sink *sk)
{
    struct capture *cap = (struct capture *)sk;
    cap->flushes++;
    return cap->flush_rc;
}

static int capture_reopen(struct sink *sk)
{
    struct capture *cap = (struct capture *)sk;
    cap->reopens++;
    return cap->reopen_rc;
}

static void capture_counters(struct sink *sk, counter_fn fn, void *data)
{
    struct capture *cap = (struct capture *)sk;
    counter_total(fn, data, "capture_writes", COUNTER_UNIT_NONE, cap->writes,
                  "Changes the capture took.");
}

/* The capture is the test's (static or on its stack): free only notes the call. */
static void capture_free(struct sink *sk)
{
    ((struct capture *)sk)->frees++;
}

static const struct sink_ops capture_ops = {
    .name = "capture",
    .write = capture_write,
    .flush = capture_flush,
    .reopen = capture_reopen,
    .counters = capture_counters,
    .free = capture_free,
};

/* ---- fixture: an ingest with two capturing sinks ---- */

struct fx {
    struct capture a, b;
    struct ingest *in;
    struct sockaddr_in from;
    char keys[64];
};

static struct sockaddr_in addr4(const char *ip, int port)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
}

static struct fx *fx_new(const struct ingest_config *cfg)
{
    static struct fx f;
    memset(&f, 0, sizeof(f));
    f.a.sink.ops = &capture_ops;
    f.b.sink.ops = &capture_ops;
    f.from = addr4("10.0.0.1", 5000);
    snprintf(f.keys, sizeof(f.keys), "/tmp/injector-test-ingest-%d", (int)getpid());
    struct ingest_config def = {.collector_id = "test-col"};
    struct sink *sinks[] = {&f.a.sink, &f.b.sink};
    assert_int_equal(ingest_new(cfg != NULL ? cfg : &def, sinks, 2, &f.in), 0);
    return &f;
}

static int setup(void **st)
{
    *st = fx_new(NULL);
    return 0;
}

static int teardown(void **st)
{
    struct fx *f = *st;
    ingest_free(f->in);
    assert_int_equal(f->a.frees, 1);
    assert_int_equal(f->b.frees, 1);
    unlink(f->keys);
    return 0;
}

/* Send one datagram from f->from at T0 + ms (the monotonic clock is the same number). */
static void dgram_at(struct fx *f, const char *doc, int64_t ms)
{
    ingest_datagram(f->in, doc, strlen(doc), false, (const struct sockaddr *)&f->from, T0 + ms, ms);
}

static void dgram(struct fx *f, const char *doc)
{
    dgram_at(f, doc, 0);
}

/* An alert element; fields is the XML of any further fields ("" for none). */
static const char *alert(char *buf, size_t size, const char *action, const char *host,
                         const char *comp, const char *fields)
{
    snprintf(buf, size,
             "<Alert><Action>%s</Action><ProblemHost>%s</ProblemHost><Component>%s</Component>"
             "%s</Alert>",
             action, host, comp, fields);
    return buf;
}

static const struct stats *stats(struct fx *f)
{
    return ingest_stats(f->in);
}

static void assert_contains(const char *hay, const char *needle)
{
    if (strstr(hay, needle) == NULL)
        fail_msg("'%s' not in %s", needle, hay);
}

/* ---- outcomes ---- */

static void test_ingest_each_outcome_and_what_the_sinks_get(void **st)
{
    struct fx *f = *st;
    char x[512];
    dgram(f, alert(x, sizeof(x), "Upd", "web12", "disk", "<Severity>3</Severity>"));
    assert_int_equal(stats(f)->active_alerts, 1);
    assert_int_equal(stats(f)->hosts, 1);
    assert_int_equal(stats(f)->version, 1);
    dgram(f, x); /* the same again */
    dgram(f, alert(x, sizeof(x), "Upd", "web12", "disk", "<Severity>2</Severity>"));
    dgram(f, alert(x, sizeof(x), "Del", "web12", "disk", ""));
    dgram(f, x); /* nothing active any more */
    dgram(f, alert(x, sizeof(x), "Updonly", "web12", "disk", "<Severity>1</Severity>"));
    dgram(f, alert(x, sizeof(x), "Post", "web13", "cpu", ""));

    const struct stats *s = stats(f);
    assert_int_equal(s->datagrams, 7);
    assert_int_equal(s->alerts, 7);
    assert_int_equal(s->outcomes[CHANGE_RAISE], 2);
    assert_int_equal(s->outcomes[CHANGE_UPDATE], 1);
    assert_int_equal(s->outcomes[CHANGE_CLEAR], 1);
    assert_int_equal(s->outcomes[CHANGE_DUPLICATE], 1);
    assert_int_equal(s->outcomes[CHANGE_REDUNDANT_CLEAR], 1);
    assert_int_equal(s->outcomes[CHANGE_UPDONLY_MISS], 1);
    assert_int_equal(s->outcomes[CHANGE_EXPIRE], 0);
    assert_int_equal(s->forwarded, 4);
    assert_int_equal(s->sink_errors, 0);
    assert_int_equal(s->malformed + s->invalid, 0);
    assert_int_equal(s->active_alerts, 1);
    assert_int_equal(s->hosts, 1);
    assert_int_equal(s->version, 4);

    /* Only forwarded outcomes reach the sinks, each sink gets every one, versions 1.. in
     * order. */
    const enum change_outcome want[] = {CHANGE_RAISE, CHANGE_UPDATE, CHANGE_CLEAR, CHANGE_RAISE};
    for (struct capture *c = &f->a; c != NULL; c = c == &f->a ? &f->b : NULL) {
        assert_int_equal(c->n, 4);
        for (size_t i = 0; i < 4; i++) {
            assert_int_equal(c->got[i].outcome, want[i]);
            assert_int_equal(c->got[i].version, i + 1);
        }
    }
    assert_string_equal(f->a.got[3].host, "web13");
    assert_string_equal(f->b.got[1].json, f->a.got[1].json);
    const char *j = f->a.got[0].json;
    assert_contains(j, "\"outcome\":\"raise\"");
    assert_contains(j, "\"version\":1,");
    assert_contains(j, "\"collector\":\"test-col\"");
    assert_contains(j, "\"sender\":\"10.0.0.1:5000\"");
    assert_contains(j, "\"host\":\"web12\"");
    assert_contains(j, "\"component\":\"disk\"");
    assert_contains(j, "\"severity\":3");
    assert_contains(f->a.got[1].json, "\"severity\":2");
    assert_contains(f->a.got[2].json, "\"outcome\":\"clear\"");
}

/* A datagram byte-identical to one seen before is a duplicate only while nothing else
 * changed the alert since: the outcome comes from the table, not from the bytes. */
static void test_ingest_repeat_after_a_change_is_an_update(void **st)
{
    struct fx *f = *st;
    char a[512], b[512], del[512];
    alert(a, sizeof(a), "Upd", "h", "c", "<Severity>1</Severity>");
    alert(b, sizeof(b), "Upd", "h", "c", "<Severity>2</Severity>");
    alert(del, sizeof(del), "Del", "h", "c", "");
    dgram(f, a);   /* raise */
    dgram(f, b);   /* update */
    dgram(f, a);   /* update back */
    dgram(f, a);   /* duplicate */
    dgram(f, del); /* clear */
    dgram(f, del); /* redundant */
    dgram(f, a);   /* raise again */
    dgram(f, del); /* clear again, though these bytes were a redundant clear before */
    const struct stats *s = stats(f);
    assert_int_equal(s->outcomes[CHANGE_RAISE], 2);
    assert_int_equal(s->outcomes[CHANGE_UPDATE], 2);
    assert_int_equal(s->outcomes[CHANGE_DUPLICATE], 1);
    assert_int_equal(s->outcomes[CHANGE_CLEAR], 2);
    assert_int_equal(s->outcomes[CHANGE_REDUNDANT_CLEAR], 1);
    assert_int_equal(f->a.n, 6);
    assert_int_equal(f->a.got[5].outcome, CHANGE_CLEAR);
    assert_int_equal(f->a.got[5].version, 6);
    /* Increment adds to Count: the same bytes are an update every time. */
    char inc[512];
    alert(inc, sizeof(inc), "Upd", "h2", "c", "<Count>1</Count><Increment>true</Increment>");
    dgram(f, inc);
    dgram(f, inc);
    dgram(f, inc);
    assert_int_equal(stats(f)->outcomes[CHANGE_UPDATE], 4);
    assert_contains(f->a.got[f->a.n - 1].json, "\"count\":3");
}

static void test_ingest_ipv6_sender_and_no_sender(void **st)
{
    struct fx *f = *st;
    char x[512];
    struct sockaddr_in6 six;
    memset(&six, 0, sizeof(six));
    six.sin6_family = AF_INET6;
    six.sin6_port = htons(6000);
    inet_pton(AF_INET6, "::1", &six.sin6_addr);
    alert(x, sizeof(x), "Upd", "h", "c", "");
    ingest_datagram(f->in, x, strlen(x), false, (const struct sockaddr *)&six, T0, 0);
    assert_contains(f->a.got[0].json, "\"sender\":\"[::1]:6000\"");
    /* A caller without an address (tests, tools): no sender field, no source entry. */
    alert(x, sizeof(x), "Upd", "h2", "c", "");
    ingest_datagram(f->in, x, strlen(x), false, NULL, T0, 0);
    assert_int_equal(f->a.n, 2);
    assert_null(strstr(f->a.got[1].json, "\"sender\""));
    struct sources_totals t;
    sources_totals(ingest_sources(f->in), &t);
    assert_int_equal(t.tracked, 1);
}

/* ---- batches and refusals by the parser ---- */

static void test_ingest_batch_in_document_order(void **st)
{
    struct fx *f = *st;
    const char *doc = "<Alerts>"
                      "<Alert><Action>Upd</Action><ProblemHost>h1</ProblemHost>"
                      "<Component>c</Component></Alert>"
                      "<Alert><Action>Upd</Action><ProblemHost>h2</ProblemHost>"
                      "<Component>c</Component></Alert>"
                      "<Alert><Action>Del</Action><ProblemHost>h1</ProblemHost>"
                      "<Component>c</Component></Alert>"
                      "</Alerts>";
    dgram(f, doc);
    const struct stats *s = stats(f);
    assert_int_equal(s->datagrams, 1);
    assert_int_equal(s->bytes, strlen(doc));
    assert_int_equal(s->alerts, 3);
    assert_int_equal(s->forwarded, 3);
    assert_int_equal(f->a.n, 3);
    assert_string_equal(f->a.got[0].host, "h1");
    assert_int_equal(f->a.got[0].outcome, CHANGE_RAISE);
    assert_string_equal(f->a.got[1].host, "h2");
    assert_int_equal(f->a.got[2].outcome, CHANGE_CLEAR);
    assert_int_equal(f->a.got[2].version, 3);
    assert_int_equal(s->active_alerts, 1);
}

static void test_ingest_bad_alert_refused_its_siblings_kept(void **st)
{
    struct fx *f = *st;
    const char *doc = "<Alerts>"
                      "<Alert><Action>Upd</Action><ProblemHost>h1</ProblemHost>"
                      "<Component>c</Component></Alert>"
                      "<Alert><Action>Upd</Action><Component>c</Component></Alert>"
                      "<Alert><Action>Upd</Action><ProblemHost>h3</ProblemHost>"
                      "<Component>c</Component><Severity>high</Severity></Alert>"
                      "<Alert><Action>Upd</Action><ProblemHost>h4</ProblemHost>"
                      "<Component>c</Component></Alert>"
                      "</Alerts>";
    dgram(f, doc);
    const struct stats *s = stats(f);
    assert_int_equal(s->datagrams, 1);
    assert_int_equal(s->malformed, 0);
    assert_int_equal(s->invalid, 2);
    assert_int_equal(s->refused[ALERT_XML_NO_HOST], 1);
    assert_int_equal(s->refused[ALERT_XML_BAD_NUMBER], 1);
    assert_int_equal(s->alerts, 2);
    assert_int_equal(f->a.n, 2);
    assert_string_equal(f->a.got[1].host, "h4");
}

static void test_ingest_malformed_datagrams_are_counted_by_reason(void **st)
{
    struct fx *f = *st;
    dgram(f, "this is not XML");
    dgram(f, "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e \"x\">]><Alert/>");
    dgram(f, "<Nothing><Here/></Nothing>");
    dgram(f, "<Alert><Action>Upd</Action><ProblemHost>h"); /* cut short */
    const struct stats *s = stats(f);
    assert_int_equal(s->datagrams, 4);
    assert_int_equal(s->malformed, 4);
    assert_int_equal(s->refused[ALERT_XML_SYNTAX], 2);
    assert_int_equal(s->refused[ALERT_XML_DOCTYPE], 1);
    assert_int_equal(s->refused[ALERT_XML_NO_ALERT], 1);
    assert_int_equal(s->alerts, 0);
    assert_int_equal(s->invalid, 0);
    assert_int_equal(s->version, 0);
    assert_int_equal(f->a.writes + f->b.writes, 0);
    /* A good datagram after them is untouched. */
    char x[512];
    dgram(f, alert(x, sizeof(x), "Upd", "h", "c", ""));
    assert_int_equal(f->a.n, 1);
    assert_int_equal(f->a.got[0].version, 1);
}

static void test_ingest_truncated_datagram_is_refused_unread(void **st)
{
    struct fx *f = *st;
    char x[512];
    alert(x, sizeof(x), "Upd", "h", "c", "<Seq>1</Seq>");
    /* The socket said the datagram did not fit: what we have is a valid document, but not
     * the whole of what was sent. */
    ingest_datagram(f->in, x, strlen(x), true, (const struct sockaddr *)&f->from, T0, 0);
    const struct stats *s = stats(f);
    assert_int_equal(s->datagrams, 1);
    assert_int_equal(s->truncated, 1);
    assert_int_equal(s->malformed, 1);
    assert_int_equal(s->refused[ALERT_XML_TOO_LARGE], 1);
    assert_int_equal(s->alerts, 0);
    assert_int_equal(f->a.writes, 0);
    /* The sender is known (its datagram arrived), its alert is not. */
    struct sources_totals t;
    sources_totals(ingest_sources(f->in), &t);
    assert_int_equal(t.tracked, 1);
}

/* ---- refusals before the parser, and the caps ---- */

static void test_ingest_active_alert_cap(void **st)
{
    (void)st;
    struct ingest_config cfg = {.collector_id = "capped", .max_alerts = 2};
    struct fx *f = fx_new(&cfg);
    char x[512];
    dgram(f, alert(x, sizeof(x), "Upd", "h1", "c", ""));
    dgram(f, alert(x, sizeof(x), "Upd", "h2", "c", ""));
    dgram(f, alert(x, sizeof(x), "Upd", "h3", "c", ""));
    const struct stats *s = stats(f);
    assert_int_equal(s->refused_full, 1);
    assert_int_equal(s->outcomes[CHANGE_RAISE], 2);
    assert_int_equal(s->alerts, 3); /* accepted by the parser, refused by the table */
    assert_int_equal(s->active_alerts, 2);
    assert_int_equal(f->a.n, 2);
    /* Updates and clears of what is active still go through; a clear makes room. */
    dgram(f, alert(x, sizeof(x), "Upd", "h1", "c", "<Severity>9</Severity>"));
    dgram(f, alert(x, sizeof(x), "Del", "h2", "c", ""));
    dgram(f, alert(x, sizeof(x), "Upd", "h3", "c", ""));
    s = stats(f);
    assert_int_equal(s->refused_full, 1);
    assert_int_equal(s->outcomes[CHANGE_RAISE], 3);
    assert_int_equal(f->a.n, 5);
    assert_int_equal(f->a.got[4].version, 5); /* a refused raise takes no version */
    teardown((void **)&f);
}

static void test_ingest_allow_list_refuses_before_parsing(void **st)
{
    struct fx *f = *st;
    char x[512], err[128];
    struct acl *acl;
    assert_int_equal(acl_parse("10.0.0.0/8", &acl, err, sizeof(err)), 0);
    ingest_set_acl(f->in, acl);
    alert(x, sizeof(x), "Upd", "h", "c", "<Seq>1</Seq>");
    dgram(f, x);
    f->from = addr4("192.168.1.1", 5000);
    dgram(f, x);
    dgram(f, "not even XML");
    const struct stats *s = stats(f);
    assert_int_equal(s->datagrams, 3);
    assert_int_equal(s->bytes, 2 * strlen(x) + strlen("not even XML"));
    assert_int_equal(s->rejected_acl, 2);
    assert_int_equal(s->malformed, 0); /* never parsed */
    assert_int_equal(s->alerts, 1);
    struct sources_totals t;
    sources_totals(ingest_sources(f->in), &t);
    assert_int_equal(t.tracked, 1);
    /* NULL: everyone again. */
    ingest_set_acl(f->in, NULL);
    dgram(f, alert(x, sizeof(x), "Upd", "h2", "c", ""));
    assert_int_equal(stats(f)->rejected_acl, 2);
    assert_int_equal(f->a.n, 2);
}

static void test_ingest_rate_limit_counts_alerts_not_datagrams(void **st)
{
    (void)st;
    struct ingest_config cfg = {.collector_id = "rl", .rate_limit = 1, .rate_burst = 2};
    struct fx *f = fx_new(&cfg);
    const char *three = "<Alerts>"
                        "<Alert><Action>Upd</Action><ProblemHost>h1</ProblemHost>"
                        "<Component>c</Component></Alert>"
                        "<Alert><Action>Upd</Action><ProblemHost>h2</ProblemHost>"
                        "<Component>c</Component></Alert>"
                        "<Alert><Action>Upd</Action><ProblemHost>h3</ProblemHost>"
                        "<Component>c</Component></Alert>"
                        "</Alerts>";
    dgram_at(f, three, 0);
    const struct stats *s = stats(f);
    assert_int_equal(s->rate_limited, 1);
    assert_int_equal(s->alerts, 2);
    assert_int_equal(f->a.n, 2);
    assert_string_equal(f->a.got[1].host, "h2"); /* the first ones in a batch pass */
    char x[512];
    alert(x, sizeof(x), "Upd", "h9", "c", "");
    dgram_at(f, x, 10);
    assert_int_equal(stats(f)->rate_limited, 2);
    dgram_at(f, x, 1010); /* one token back a second later */
    assert_int_equal(stats(f)->rate_limited, 2);
    assert_int_equal(f->a.n, 3);
    /* Another sender has a bucket of its own. */
    f->from = addr4("10.0.0.2", 5000);
    dgram_at(f, three, 1010);
    assert_int_equal(stats(f)->rate_limited, 3);
    /* Off on reload. */
    ingest_set_rate_limit(f->in, 0, 0);
    dgram_at(f, three, 1010);
    dgram_at(f, three, 1010);
    s = stats(f);
    assert_int_equal(s->rate_limited, 3);
    assert_int_equal(s->datagrams, 6);
    assert_int_equal(s->alerts, 2 + 1 + 2 + 6);
    teardown((void **)&f);
}

static const char *HEX_KEY = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";

static size_t sign(char *out, size_t size, const char *doc, int64_t t, const char *nonce)
{
    struct envelope_key k = {.id = "k1", .len = 32};
    for (int i = 0; i < 32; i++)
        k.key[i] = (unsigned char)i;
    int n = envelope_sign(&k, t, nonce, doc, strlen(doc), out, size);
    assert_true(n > 0);
    return (size_t)n;
}

static void signed_dgram(struct fx *f, const char *buf, size_t len)
{
    ingest_datagram(f->in, buf, len, false, (const struct sockaddr *)&f->from, T0, 0);
}

static void test_ingest_signatures_refused_by_reason(void **st)
{
    struct fx *f = *st;
    char x[512], buf[1024], err[256];
    FILE *fp = fopen(f->keys, "w");
    assert_non_null(fp);
    fprintf(fp, "k1 %s\n", HEX_KEY);
    fclose(fp);
    struct auth *auth;
    struct auth_config ac = {.key_file = f->keys, .required = true};
    assert_int_equal(auth_new(&ac, &auth, err, sizeof(err)), 0);
    ingest_set_auth(f->in, auth);
    assert_ptr_equal(ingest_auth(f->in), auth);

    alert(x, sizeof(x), "Upd", "h", "c", "<Seq>1</Seq>");
    dgram(f, x); /* unsigned */
    size_t n = sign(buf, sizeof(buf), x, T0 / 1000, "n1");
    signed_dgram(f, buf, n);
    signed_dgram(f, buf, n); /* replayed */
    n = sign(buf, sizeof(buf), x, T0 / 1000 - 3600, "n2");
    signed_dgram(f, buf, n); /* an hour old */
    n = sign(buf, sizeof(buf), x, T0 / 1000, "n3");
    buf[n - 2] ^= 1;
    signed_dgram(f, buf, n); /* forged */
    const struct stats *s = stats(f);
    assert_int_equal(s->datagrams, 5);
    assert_int_equal(s->auth_refused[AUTH_UNSIGNED], 1);
    assert_int_equal(s->auth_refused[AUTH_REPLAY], 1);
    assert_int_equal(s->auth_refused[AUTH_STALE], 1);
    assert_int_equal(s->auth_refused[AUTH_BAD_MAC], 1);
    assert_int_equal(s->auth_refused[AUTH_ACCEPT], 0);
    assert_int_equal(s->malformed, 0);
    assert_int_equal(s->alerts, 1);
    assert_int_equal(f->a.n, 1);
    /* Only the accepted datagram reached the per-sender table. */
    assert_int_equal(s->seq_duplicates, 0);
    struct sources_totals t;
    sources_totals(ingest_sources(f->in), &t);
    assert_int_equal(t.tracked, 1);

    /* Signatures off: everything passes unchecked. */
    ingest_set_auth(f->in, NULL);
    dgram(f, alert(x, sizeof(x), "Upd", "h2", "c", ""));
    assert_int_equal(f->a.n, 2);
}

static void test_ingest_signed_allow_list_block(void **st)
{
    struct fx *f = *st;
    char x[512], buf[1024], err[256];
    FILE *fp = fopen(f->keys, "w");
    assert_non_null(fp);
    fprintf(fp, "k1 %s\n", HEX_KEY);
    fclose(fp);
    struct auth *auth;
    struct auth_config ac = {.key_file = f->keys}; /* not required in general */
    assert_int_equal(auth_new(&ac, &auth, err, sizeof(err)), 0);
    ingest_set_auth(f->in, auth);
    struct acl *acl;
    assert_int_equal(acl_parse("10.0.0.0/8+signed 192.168.0.0/16", &acl, err, sizeof(err)), 0);
    ingest_set_acl(f->in, acl);

    alert(x, sizeof(x), "Upd", "h", "c", "");
    dgram(f, x); /* 10.0.0.1 must sign */
    assert_int_equal(stats(f)->auth_refused[AUTH_UNSIGNED], 1);
    size_t n = sign(buf, sizeof(buf), x, T0 / 1000, "n1");
    signed_dgram(f, buf, n);
    assert_int_equal(f->a.n, 1);
    f->from = addr4("192.168.0.9", 5000);
    dgram(f, alert(x, sizeof(x), "Upd", "h2", "c", "")); /* need not */
    assert_int_equal(f->a.n, 2);
    assert_int_equal(stats(f)->auth_refused[AUTH_UNSIGNED], 1);
}

/* ---- Seq accounting through ingest ---- */

static void test_ingest_seq_gaps_reorders_and_repeats(void **st)
{
    struct fx *f = *st;
    char x[512], fields[64];
    const int seqs[] = {1, 2, 5, 4, 6, 6};
    for (size_t i = 0; i < sizeof(seqs) / sizeof(seqs[0]); i++) {
        snprintf(fields, sizeof(fields), "<Seq>%d</Seq>", seqs[i]);
        dgram(f, alert(x, sizeof(x), "Upd", "h", "c", fields));
    }
    /* Another sender numbers on its own. */
    f->from = addr4("10.0.0.2", 5000);
    dgram(f, alert(x, sizeof(x), "Upd", "h2", "c", "<Seq>100</Seq>"));
    const struct stats *s = stats(f);
    assert_int_equal(s->seq_gaps, 1); /* 3 */
    assert_int_equal(s->seq_reordered, 1);
    assert_int_equal(s->seq_duplicates, 1);
    /* A refresh with a new number is still a duplicate alert (Seq is not compared), and
     * the repeated Seq 6 is both a duplicate alert and a repeated number. */
    assert_int_equal(s->outcomes[CHANGE_RAISE], 2);
    assert_int_equal(s->outcomes[CHANGE_DUPLICATE], 5);
    struct sources_totals t;
    sources_totals(ingest_sources(f->in), &t);
    assert_int_equal(t.tracked, 2);
    /* Seq is part of the change (consumers see the sender's number). */
    assert_contains(f->a.got[0].json, "\"seq\":1");
}

static void test_ingest_seq_counted_for_every_alert_of_a_batch(void **st)
{
    struct fx *f = *st;
    const char *doc = "<Alerts>"
                      "<Alert><Action>Upd</Action><ProblemHost>h1</ProblemHost>"
                      "<Component>c</Component><Seq>1</Seq></Alert>"
                      "<Alert><Action>Del</Action><ProblemHost>h2</ProblemHost>"
                      "<Component>c</Component><Seq>2</Seq></Alert>"
                      "<Alert><Action>Upd</Action><ProblemHost>h3</ProblemHost>"
                      "<Component>c</Component><Seq>4</Seq></Alert>"
                      "</Alerts>";
    dgram(f, doc);
    /* A redundant clear is not forwarded, but its Seq still counts. */
    const struct stats *s = stats(f);
    assert_int_equal(s->outcomes[CHANGE_REDUNDANT_CLEAR], 1);
    assert_int_equal(s->seq_gaps, 1);
    assert_int_equal(s->seq_reordered + s->seq_duplicates, 0);
}

/* ---- sinks: failures, flushes, reopen, stats ---- */

static void test_ingest_sink_refusal_is_counted_table_stays_right(void **st)
{
    struct fx *f = *st;
    char x[512];
    f->a.write_rc = -EIO;
    dgram(f, alert(x, sizeof(x), "Upd", "h1", "c", ""));
    dgram(f, alert(x, sizeof(x), "Upd", "h2", "c", ""));
    const struct stats *s = stats(f);
    assert_int_equal(s->sink_errors, 2);
    assert_int_equal(s->forwarded, 0); /* forwarded: taken by every sink */
    assert_int_equal(s->outcomes[CHANGE_RAISE], 2);
    assert_int_equal(s->active_alerts, 2);
    assert_int_equal(s->version, 2);
    assert_int_equal(f->a.writes, 2);
    assert_int_equal(f->a.n, 0);
    assert_int_equal(f->b.n, 2); /* the other sink is not held back */
    f->a.write_rc = 0;
    dgram(f, alert(x, sizeof(x), "Upd", "h3", "c", ""));
    s = stats(f);
    assert_int_equal(s->sink_errors, 2);
    assert_int_equal(s->forwarded, 1);
    assert_int_equal(f->a.got[0].version, 3);
    /* Both sinks failing: one error each. */
    f->a.write_rc = f->b.write_rc = -ENOSPC;
    dgram(f, alert(x, sizeof(x), "Del", "h3", "c", ""));
    assert_int_equal(stats(f)->sink_errors, 4);
    assert_int_equal(stats(f)->forwarded, 1);
}

static void test_ingest_flush_only_after_a_write(void **st)
{
    struct fx *f = *st;
    char x[512];
    ingest_flush(f->in, 0);
    assert_int_equal(f->a.flushes + f->b.flushes, 0);
    dgram(f, alert(x, sizeof(x), "Upd", "h1", "c", ""));
    dgram(f, alert(x, sizeof(x), "Upd", "h2", "c", ""));
    ingest_flush(f->in, 0);
    assert_int_equal(f->a.flushes, 1);
    assert_int_equal(f->b.flushes, 1);
    ingest_flush(f->in, 0);
    assert_int_equal(f->a.flushes, 1);
    /* Outcomes that are not forwarded write nothing, so nothing to flush. */
    dgram(f, alert(x, sizeof(x), "Upd", "h1", "c", ""));
    dgram(f, alert(x, sizeof(x), "Del", "h9", "c", ""));
    dgram(f, "garbage");
    ingest_flush(f->in, 0);
    assert_int_equal(f->a.flushes, 1);
    /* A write every sink refused still asks for a flush (the sinks decide). */
    f->a.write_rc = f->b.write_rc = -EIO;
    dgram(f, alert(x, sizeof(x), "Upd", "h3", "c", ""));
    ingest_flush(f->in, 0);
    assert_int_equal(f->a.flushes, 2);
    assert_int_equal(stats(f)->sink_errors, 2);
}

static void test_ingest_flush_failure_is_not_a_lost_change(void **st)
{
    struct fx *f = *st;
    char x[512];
    f->b.flush_rc = -ENOSPC;
    dgram(f, alert(x, sizeof(x), "Upd", "h1", "c", ""));
    assert_false(ingest_flush(f->in, 0));
    /* sink_errors counts changes a sink refused; a failed flush loses nothing by itself
     * (the sink keeps it, or counts in changes what it has to drop): logged, not counted. */
    assert_int_equal(stats(f)->sink_errors, 0);
    assert_int_equal(f->a.flushes, 1);
    assert_int_equal(f->b.flushes, 1);
    /* Not retried on the next flush without a write. */
    assert_false(ingest_flush(f->in, 0));
    assert_int_equal(f->b.flushes, 1);
    assert_int_equal(stats(f)->forwarded, 1); /* handed over: the flush fails afterwards */
    /* Output still waiting (-EAGAIN): the caller is told, and the next flush tries again. */
    f->b.flush_rc = -EAGAIN;
    dgram(f, alert(x, sizeof(x), "Upd", "h2", "c", ""));
    assert_true(ingest_flush(f->in, 0));
    assert_int_equal(f->b.flushes, 2);
    f->b.flush_rc = 0;
    assert_false(ingest_flush(f->in, 0));
    assert_int_equal(f->b.flushes, 3);
}

static void test_ingest_reopen_stats_and_kernel_drops(void **st)
{
    struct fx *f = *st;
    char buf[2048];
    assert_int_equal(ingest_reopen(f->in), 0);
    f->a.reopen_rc = -EACCES;
    f->b.reopen_rc = -ENOENT;
    assert_int_equal(ingest_reopen(f->in), -EACCES); /* the first error */
    assert_int_equal(f->a.reopens, 2);
    assert_int_equal(f->b.reopens, 2); /* every sink is asked, whatever the first said */
    char x[512];
    dgram(f, alert(x, sizeof(x), "Upd", "h1", "c", ""));
    struct stats_report rep;
    ingest_report(f->in, &rep);
    stats_format_line(&rep, buf, sizeof(buf));
    assert_non_null(strstr(buf, " capture_writes=1 capture_writes=1"));
    ingest_counters(f->in)->kernel_drops = 40; /* the daemon sets the sockets' total */
    assert_int_equal(stats(f)->kernel_drops, 40);
}

/* ---- expiry ---- */

static void test_ingest_expiry_is_forwarded(void **st)
{
    struct fx *f = *st;
    char x[512];
    alert(x, sizeof(x), "Upd", "h", "c", "<TTL>10</TTL>");
    dgram_at(f, x, 0);
    ingest_expire(f->in, T0 + 9999, 9999);
    assert_int_equal(stats(f)->active_alerts, 1);
    dgram_at(f, x, 5000); /* a duplicate refreshes the TTL */
    ingest_expire(f->in, T0 + 10000, 10000);
    assert_int_equal(stats(f)->active_alerts, 1);
    assert_int_equal(f->a.n, 1);
    ingest_expire(f->in, T0 + 15000, 15000);
    const struct stats *s = stats(f);
    assert_int_equal(s->active_alerts, 0);
    assert_int_equal(s->outcomes[CHANGE_EXPIRE], 1);
    assert_int_equal(s->forwarded, 2);
    assert_int_equal(s->version, 2);
    assert_int_equal(f->a.n, 2);
    assert_int_equal(f->b.n, 2);
    assert_int_equal(f->a.got[1].outcome, CHANGE_EXPIRE);
    assert_int_equal(f->a.got[1].version, 2);
    assert_contains(f->a.got[1].json, "\"outcome\":\"expire\"");
    assert_contains(f->a.got[1].json, "\"host\":\"h\"");
    assert_null(strstr(f->a.got[1].json, "\"sender\"")); /* nobody sent an expiry */
    /* Expiry writes, so the next flush goes out. */
    ingest_flush(f->in, 15000);
    assert_int_equal(f->a.flushes, 1);
    /* Nothing more is due. */
    ingest_expire(f->in, T0 + 100000, 100000);
    assert_int_equal(f->a.n, 2);
}

static void test_ingest_default_ttl_expires_in_deadline_order(void **st)
{
    (void)st;
    struct ingest_config cfg = {.collector_id = "ttl", .default_ttl_s = 60};
    struct fx *f = fx_new(&cfg);
    char x[512];
    dgram_at(f, alert(x, sizeof(x), "Upd", "late", "c", ""), 0);             /* due 60 s */
    dgram_at(f, alert(x, sizeof(x), "Upd", "soon", "c", "<TTL>5</TTL>"), 0); /* due 5 s */
    dgram_at(f, alert(x, sizeof(x), "Upd", "never", "c", ""), 30000);        /* due 90 s */
    ingest_expire(f->in, T0 + 60000, 60000);
    assert_int_equal(f->a.n, 5);
    assert_string_equal(f->a.got[3].host, "soon");
    assert_string_equal(f->a.got[4].host, "late");
    assert_int_equal(f->a.got[4].version, 5);
    assert_int_equal(stats(f)->active_alerts, 1);
    teardown((void **)&f);
}

/* ---- ownership ---- */

static void test_ingest_owns_its_sinks_even_on_failure(void **st)
{
    (void)st;
    struct capture caps[INGEST_MAX_SINKS + 1];
    struct sink *sinks[INGEST_MAX_SINKS + 1];
    memset(caps, 0, sizeof(caps));
    for (size_t i = 0; i <= INGEST_MAX_SINKS; i++) {
        caps[i].sink.ops = &capture_ops;
        sinks[i] = &caps[i].sink;
    }
    struct ingest_config cfg = {.collector_id = "x"};
    struct ingest *in = NULL;
    assert_int_equal(ingest_new(&cfg, sinks, INGEST_MAX_SINKS + 1, &in), -EINVAL);
    for (size_t i = 0; i <= INGEST_MAX_SINKS; i++)
        assert_int_equal(caps[i].frees, 1);

    memset(caps, 0, sizeof(caps));
    for (size_t i = 0; i < INGEST_MAX_SINKS; i++)
        caps[i].sink.ops = &capture_ops;
    assert_int_equal(ingest_new(&cfg, sinks, INGEST_MAX_SINKS, &in), 0);
    ingest_free(in);
    for (size_t i = 0; i < INGEST_MAX_SINKS; i++)
        assert_int_equal(caps[i].frees, 1);
    ingest_free(NULL);
}

/* ---- a document from a stream client (TCP) ---- */

static void test_ingest_document_reports_each_alert(void **st)
{
    struct fx *f = *st;
    struct ingest_item items[4];
    size_t n = 99;
    const char *reason, *error;
    const char *doc = "<Alerts>"
                      "<Alert><Action>Upd</Action><ProblemHost>h1</ProblemHost>"
                      "<Component>c</Component></Alert>"
                      "<Alert><Action>Del</Action><ProblemHost>h2</ProblemHost>"
                      "<Component>c</Component></Alert>"
                      "</Alerts>";
    const struct sockaddr *from = (const struct sockaddr *)&f->from;
    /* Cut short and more may come: nothing counted yet. */
    assert_int_equal(
        ingest_document(f->in, doc, 40, false, from, T0, 0, items, 4, &n, &reason, &error),
        -EAGAIN);
    assert_int_equal(n, 0);
    assert_int_equal(stats(f)->tcp_documents, 0);
    assert_int_equal(
        ingest_document(f->in, doc, strlen(doc), true, from, T0, 0, items, 4, &n, &reason, &error),
        0);
    assert_int_equal(n, 2);
    assert_int_equal(items[0].refused, 0);
    assert_int_equal(items[0].outcome, CHANGE_RAISE);
    assert_int_equal(items[0].version, 1);
    assert_string_equal(items[0].host, "h1");
    assert_int_equal(items[1].outcome, CHANGE_REDUNDANT_CLEAR);
    assert_int_equal(items[1].version, 0);
    const struct stats *s = stats(f);
    assert_int_equal(s->tcp_documents, 1);
    assert_int_equal(s->datagrams, 0); /* documents are not datagrams */
    assert_int_equal(s->bytes, strlen(doc));
    assert_int_equal(s->alerts, 2);
    assert_int_equal(f->a.n, 1);
    /* Cut short at the end of the stream: refused whole, counted. */
    assert_int_equal(
        ingest_document(f->in, doc, 40, true, from, T0, 0, items, 4, &n, &reason, &error),
        -EBADMSG);
    assert_string_equal(reason, "syntax");
    s = stats(f);
    assert_int_equal(s->tcp_documents, 2);
    assert_int_equal(s->malformed, 1);
}

static void test_ingest_document_refusals(void **st)
{
    struct fx *f = *st;
    struct ingest_item items[4];
    size_t n;
    const char *reason, *error;
    char x[512], err[128];
    struct acl *acl;
    assert_int_equal(acl_parse("192.168.0.0/16", &acl, err, sizeof(err)), 0);
    ingest_set_acl(f->in, acl);
    alert(x, sizeof(x), "Upd", "h", "c", "");
    /* The header says -EBADMSG for refusals; the allow-list and signature checks return
     * -EACCES today. */
    assert_int_equal(ingest_document(f->in, x, strlen(x), true, (const struct sockaddr *)&f->from,
                                     T0, 0, items, 4, &n, &reason, &error),
                     -EACCES);
    assert_string_equal(reason, "rejected_acl");
    assert_int_equal(n, 0);
    const struct stats *s = stats(f);
    assert_int_equal(s->tcp_documents, 1);
    assert_int_equal(s->rejected_acl, 1);
    assert_int_equal(s->alerts, 0);
    /* The active-alert cap shows in the item. */
    ingest_set_acl(f->in, NULL);
    state_set_caps(ingest_state(f->in), 1, 0);
    assert_int_equal(ingest_document(f->in, x, strlen(x), true, (const struct sockaddr *)&f->from,
                                     T0, 0, items, 4, &n, &reason, &error),
                     0);
    alert(x, sizeof(x), "Upd", "h2", "c", "");
    assert_int_equal(ingest_document(f->in, x, strlen(x), true, (const struct sockaddr *)&f->from,
                                     T0, 0, items, 4, &n, &reason, &error),
                     0);
    assert_int_equal(n, 1);
    assert_int_equal(items[0].refused, -ENOSPC);
    assert_int_equal(items[0].version, 0);
    assert_int_equal(stats(f)->refused_full, 1);
}

static int acked_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    (void)a;
    *(bool *)data = m->ack != NULL;
    return 0;
}

static bool acked(struct fx *f, const char *host, const char *comp)
{
    bool yes = false;
    assert_int_equal(state_lookup(ingest_state(f->in), host, comp, acked_cb, &yes), 0);
    return yes;
}

/* An ack from the API takes the path a datagram's change takes: both sinks get it, counted
 * by outcome and as forwarded, the next version; refusals change nothing. With the fast path
 * on, a repeat of the datagram that set the alert is still a duplicate (the ack moved the
 * generation: the full path says so) and keeps the ack; a worse one drops it; an ack's
 * expiry is an unack line from ingest_expire. */
static void test_ingest_ack_goes_where_a_datagrams_change_goes(void **st)
{
    (void)st;
    struct ingest_config cfg = {.collector_id = "test-col", .fast_path = true};
    struct fx *f = fx_new(&cfg);
    char x[512], worse[512];
    alert(x, sizeof(x), "Upd", "h", "c", "<Severity>3</Severity>");
    alert(worse, sizeof(worse), "Upd", "h", "c", "<Severity>2</Severity>");
    dgram(f, x);
    dgram(f, x); /* remembered by the repeat cache at generation 1 */
    assert_int_equal(stats(f)->fast_path, 1);
    struct state_result r;
    struct ingest_ack req = {.host = "h",
                             .component = "c",
                             .author = "alice",
                             .comment = "on it",
                             .expires_ms = T0 + 60000};
    assert_int_equal(ingest_ack(f->in, &req, T0 + 1000, 1000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_ACK);
    assert_int_equal(r.version, 2);
    assert_int_equal(f->a.n, 2);
    assert_int_equal(f->b.n, 2);
    assert_int_equal(f->a.got[1].outcome, CHANGE_ACK);
    assert_contains(f->a.got[1].json, "\"outcome\":\"ack\",\"version\":2");
    assert_contains(f->a.got[1].json, "\"ack\":{\"author\":\"alice\",\"comment\":\"on it\"");
    assert_null(strstr(f->a.got[1].json, "\"sender\""));
    const struct stats *s = stats(f);
    assert_int_equal(s->outcomes[CHANGE_ACK], 1);
    assert_int_equal(s->forwarded, 2);
    /* Refused: nothing changes, nothing is sent. */
    struct ingest_ack none = {.host = "h", .component = "zz", .author = "a", .comment = "c"};
    assert_int_equal(ingest_ack(f->in, &none, T0 + 1000, 1000, &r), -ENOENT);
    struct ingest_ack un = {.unack = true, .host = "h", .component = "zz"};
    assert_int_equal(ingest_ack(f->in, &un, T0 + 1000, 1000, &r), -ENOENT);
    assert_int_equal(f->a.n, 2);
    /* The repeat: the cache's record is stale (generation 1, the alert is at 2). */
    dgram(f, x);
    s = stats(f);
    assert_int_equal(s->outcomes[CHANGE_DUPLICATE], 2);
    assert_int_equal(s->fast_path, 1);
    assert_true(acked(f, "h", "c"));
    dgram(f, x); /* remembered again, at 2: the fast path again */
    assert_int_equal(stats(f)->fast_path, 2);
    assert_true(acked(f, "h", "c"));
    /* The ack lapses: an unack line, from the expiry tick. */
    ingest_expire(f->in, T0 + 60000, 60000);
    assert_int_equal(f->a.n, 3);
    assert_int_equal(f->a.got[2].outcome, CHANGE_UNACK);
    assert_contains(f->a.got[2].json, "\"unack\":{\"reason\":\"expired\"}");
    assert_int_equal(stats(f)->outcomes[CHANGE_UNACK], 1);
    assert_false(acked(f, "h", "c"));
    un.component = "c";
    assert_int_equal(ingest_ack(f->in, &un, T0 + 61000, 61000, &r), -ENODATA);
    /* Acknowledged again, then a worse datagram: the update line has no ack. */
    req.expires_ms = 0;
    assert_int_equal(ingest_ack(f->in, &req, T0 + 62000, 62000, &r), 0);
    dgram(f, worse);
    assert_int_equal(f->a.n, 5);
    assert_int_equal(f->a.got[4].outcome, CHANGE_UPDATE);
    assert_null(strstr(f->a.got[4].json, "\"ack\""));
    assert_false(acked(f, "h", "c"));
    assert_int_equal(stats(f)->version, 5);
    ingest_free(f->in);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_ingest_each_outcome_and_what_the_sinks_get),
        T(test_ingest_repeat_after_a_change_is_an_update),
        T(test_ingest_ipv6_sender_and_no_sender),
        T(test_ingest_batch_in_document_order),
        T(test_ingest_bad_alert_refused_its_siblings_kept),
        T(test_ingest_malformed_datagrams_are_counted_by_reason),
        T(test_ingest_truncated_datagram_is_refused_unread),
        cmocka_unit_test(test_ingest_active_alert_cap),
        T(test_ingest_allow_list_refuses_before_parsing),
        cmocka_unit_test(test_ingest_rate_limit_counts_alerts_not_datagrams),
        T(test_ingest_signatures_refused_by_reason),
        T(test_ingest_signed_allow_list_block),
        T(test_ingest_seq_gaps_reorders_and_repeats),
        T(test_ingest_seq_counted_for_every_alert_of_a_batch),
        T(test_ingest_sink_refusal_is_counted_table_stays_right),
        T(test_ingest_flush_only_after_a_write),
        T(test_ingest_flush_failure_is_not_a_lost_change),
        T(test_ingest_reopen_stats_and_kernel_drops),
        T(test_ingest_expiry_is_forwarded),
        cmocka_unit_test(test_ingest_default_ttl_expires_in_deadline_order),
        cmocka_unit_test(test_ingest_owns_its_sinks_even_on_failure),
        T(test_ingest_document_reports_each_alert),
        T(test_ingest_document_refusals),
        cmocka_unit_test(test_ingest_ack_goes_where_a_datagrams_change_goes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
