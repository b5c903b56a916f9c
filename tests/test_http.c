/* test_http.c - the HTTP API's connection handling on a real libuv loop and real loopback
 * sockets, one loop iteration at a time: how much one wake-up may do when descriptors run
 * out, and which connections the once-a-second look may close. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "collector/address.h"
#include "collector/http.h"
#include "collector/ingest.h"
#include "collector/state.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

/* http.c's HTTP_ACCEPT_BATCH: what one wake-up may accept. */
#define ACCEPT_BATCH 16

struct fixture {
    uv_loop_t loop;
    struct ingest *ingest;
    struct http *http;
    struct sockaddr_storage addr;
};

static void open_fixture(struct fixture *f)
{
    memset(f, 0, sizeof(*f));
    assert_int_equal(uv_loop_init(&f->loop), 0);
    struct ingest_config ic = {.collector_id = "test"};
    assert_int_equal(ingest_new(&ic, NULL, 0, &f->ingest), 0);
    struct sockaddr_storage any;
    assert_int_equal(address_parse("127.0.0.1:0", &any), 0);
    struct http_config hc = {
        .addr = (const struct sockaddr *)&any, .ingest = f->ingest, .collector_id = "test"};
    assert_int_equal(http_new(&f->loop, &hc, &f->http), 0);
    assert_int_equal(address_parse(http_name(f->http), &f->addr), 0);
}

static void close_fixture(struct fixture *f)
{
    http_close(f->http);
    uv_run(&f->loop, UV_RUN_DEFAULT); /* the handles' close callbacks */
    assert_int_equal(uv_loop_close(&f->loop), 0);
    ingest_free(f->ingest);
}

static const struct stats *stats(struct fixture *f)
{
    return ingest_stats(f->ingest);
}

/* A client connected to the API (the kernel completes it from the listen queue: no accept
 * needed). */
static int client(struct fixture *f)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&f->addr, sizeof(struct sockaddr_in)), 0);
    return fd;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Run loop iterations until cond holds (5 s at most). */
static void run_until(struct fixture *f, bool (*cond)(struct fixture *, void *), void *arg)
{
    int64_t deadline = mono_ms() + 5000;
    while (!cond(f, arg)) {
        assert_true(mono_ms() < deadline);
        uv_run(&f->loop, UV_RUN_NOWAIT);
    }
}

static bool refused_at_least(struct fixture *f, void *arg)
{
    return stats(f)->http_refused >= *(uint64_t *)arg;
}

static bool taken_at_least(struct fixture *f, void *arg)
{
    return stats(f)->http_connections >= *(uint64_t *)arg;
}

/* Every descriptor number below the limit in use, the limit lowered to the highest one:
 * the next accept fails with EMFILE. Returns the fillers opened (*n of them; free it). */
static int *exhaust_descriptors(size_t *n, struct rlimit *saved)
{
    int top = 0;
    DIR *d = opendir("/proc/self/fd");
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (atoi(e->d_name) > top)
            top = atoi(e->d_name);
    closedir(d); /* its own descriptor was counted: top is at least one above the rest */
    int *fill = calloc((size_t)top + 1, sizeof(*fill));
    assert_non_null(fill);
    assert_int_equal(getrlimit(RLIMIT_NOFILE, saved), 0);
    struct rlimit low = {.rlim_cur = (rlim_t)top + 1, .rlim_max = saved->rlim_max};
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
    *n = 0;
    int fd;
    while (*n <= (size_t)top && (fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) >= 0)
        fill[(*n)++] = fd;
    assert_int_equal(errno, EMFILE);
    return fill;
}

/* Out of descriptors with 40 clients in the listen queue: one loop iteration closes at
 * most a batch of them, and the loop comes back for the rest. It used to accept and close
 * until EAGAIN, which a flood refilling the queue may never let come, with UDP and the
 * timers waiting all the while. */
static void test_http_out_of_descriptors_sheds_a_batch_per_iteration(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f);
    int clients[40];
    for (size_t i = 0; i < 40; i++)
        clients[i] = client(&f);
    struct rlimit saved;
    size_t n_fill;
    int *fill = exhaust_descriptors(&n_fill, &saved);

    uv_run(&f.loop, UV_RUN_NOWAIT);
    assert_int_equal(stats(&f)->http_refused, ACCEPT_BATCH);
    uint64_t all = 40;
    run_until(&f, refused_at_least, &all);
    assert_int_equal(stats(&f)->http_refused, 40);
    assert_int_equal(stats(&f)->http_connections, 0);

    for (size_t i = 0; i < n_fill; i++)
        close(fill[i]);
    free(fill);
    assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
    /* Descriptors back: a client is taken again. */
    int again = client(&f);
    uint64_t one = 1;
    run_until(&f, taken_at_least, &one);
    close(again);
    for (size_t i = 0; i < 40; i++)
        close(clients[i]);
    close_fixture(&f);
}

/* Run the loop until fd, a client, has its whole answer (the server closed); returns its
 * length in buf (NUL-terminated). */
static size_t answer(struct fixture *f, int fd, char *buf, size_t size)
{
    size_t n = 0;
    int64_t deadline = mono_ms() + 5000;
    for (;;) {
        assert_true(mono_ms() < deadline);
        uv_run(&f->loop, UV_RUN_NOWAIT);
        ssize_t k = recv(fd, buf + n, size - 1 - n, MSG_DONTWAIT);
        if (k > 0)
            n += (size_t)k;
        else if (k == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
            break; /* closed (or reset: then what came is all there is) */
    }
    buf[n] = '\0';
    return n;
}

/* A whole request and the client's FIN in the socket, not read yet, when the once-a-second
 * look comes (timers run before the loop polls): the request is answered. It was shut
 * unanswered (POLLRDHUP was taken for "the client has gone"): an HTTP/1.0 client that
 * half-closes after its request, as "printf 'GET ...' | nc -N" does. */
static void test_http_request_then_half_close_is_answered(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f);
    int fd = client(&f);
    uint64_t one = 1;
    run_until(&f, taken_at_least, &one); /* libmicrohttpd holds the connection */
    const char req[] = "GET /healthz HTTP/1.0\r\n\r\n";
    assert_int_equal(send(fd, req, sizeof(req) - 1, 0), (ssize_t)(sizeof(req) - 1));
    assert_int_equal(shutdown(fd, SHUT_WR), 0);
    /* The look is a 1 s timer: with the loop not run for longer than that, it is due and
     * runs first in the next iteration, before anything reads the request. */
    struct timespec pause = {1, 100 * 1000000};
    nanosleep(&pause, NULL);
    char buf[4096];
    answer(&f, fd, buf, sizeof(buf));
    if (strncmp(buf, "HTTP/1.", 7) != 0 || strstr(buf, " 200 ") == NULL)
        fail_msg("no answer to a request followed by FIN: \"%s\"", buf);
    assert_non_null(strstr(buf, "\r\n\r\nok\n"));
    assert_int_equal(stats(&f)->http_dropped, 0);
    close(fd);
    close_fixture(&f);
}

/* GET path over HTTP/1.0 on the fixture; returns the status, the body parsed into *body
 * (NULL when not JSON; the caller frees it). */
static int get_json(struct fixture *f, const char *path, json_t **body)
{
    char req[512], buf[65536];
    int fd = client(f);
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\n\r\n", path);
    assert_int_equal(send(fd, req, (size_t)n, 0), n);
    answer(f, fd, buf, sizeof(buf));
    close(fd);
    int status = 0;
    assert_int_equal(sscanf(buf, "HTTP/1.%*d %d", &status), 1);
    const char *b = strstr(buf, "\r\n\r\n");
    *body = b != NULL ? json_loads(b + 4, 0, NULL) : NULL;
    return status;
}

/* The components of a /v1/alerts answer, sorted, joined by spaces. */
static void components(json_t *o, char *out, size_t size)
{
    const char *names[16];
    size_t n = 0, i;
    json_t *a;
    json_array_foreach(json_object_get(o, "alerts"), i, a)
    {
        assert_true(n < 16);
        names[n++] = json_string_value(json_object_get(a, "component"));
    }
    for (size_t x = 1; x < n; x++) /* insertion sort: a handful */
        for (size_t y = x; y > 0 && strcmp(names[y - 1], names[y]) > 0; y--) {
            const char *t = names[y];
            names[y] = names[y - 1];
            names[y - 1] = t;
        }
    out[0] = '\0';
    for (i = 0; i < n; i++)
        snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", names[i]);
    assert_int_equal(json_integer_value(json_object_get(o, "count")), (json_int_t)n);
}

static void expect_alerts(struct fixture *f, const char *query, const char *want)
{
    char path[256], got[256];
    json_t *o;
    snprintf(path, sizeof(path), "/v1/alerts%s", query);
    int status = get_json(f, path, &o);
    if (status != 200 || o == NULL)
        fail_msg("%s: status %d", query, status);
    components(o, got, sizeof(got));
    json_decref(o);
    if (strcmp(got, want) != 0)
        fail_msg("%s: got \"%s\", want \"%s\"", query, got, want);
}

static void expect_refused(struct fixture *f, const char *query, const char *named)
{
    char path[256];
    json_t *o;
    snprintf(path, sizeof(path), "/v1/alerts%s", query);
    int status = get_json(f, path, &o);
    const char *err = json_string_value(json_object_get(o, "error"));
    if (status != 400 || err == NULL || strstr(err, named) == NULL)
        fail_msg("%s: status %d, error \"%s\", wanted 400 naming %s", query, status,
                 err ? err : "(none)", named);
    json_decref(o);
}

static void raise_from(struct fixture *f, const char *host, const char *comp, int64_t severity,
                       bool has_severity, const char *sender)
{
    struct alert a;
    struct state_result r;
    alert_clear(&a);
    a.action = ALERT_UPD;
    a.host = host;
    a.host_len = (uint32_t)strlen(host);
    a.component = comp;
    a.component_len = (uint32_t)strlen(comp);
    if (has_severity)
        alert_set_num(&a, ALERT_SEVERITY, severity);
    assert_int_equal(state_apply_from(ingest_state(f->ingest), &a, sender, 1000, &r), 0);
    assert_int_equal(r.outcome, CHANGE_RAISE);
}

/* The edges of /v1/alerts' query: escaped values, IPv6 senders (brackets are plain
 * characters), prefixes and the stars refused, negative and out-of-range numbers, a
 * parameter without '=', every item's sender. */
static void test_http_alert_filters_edges(void **st)
{
    (void)st;
    struct fixture f;
    open_fixture(&f);
    raise_from(&f, "web*", "star", 2, true, "[::1]:5000");
    raise_from(&f, "web1", "one", -3, true, "10.0.0.1:7");
    raise_from(&f, "web2", "two", 0, false, NULL);

    expect_alerts(&f, "", "one star two");
    expect_alerts(&f, "?host=web%2A", "one star two"); /* decoded: the prefix web* */
    expect_alerts(&f, "?host=web1*", "one");
    expect_alerts(&f, "?sender=%5B::1%5D:5000", "star");
    expect_alerts(&f, "?sender=%5B::1%5D:*", "star");
    expect_alerts(&f, "?sender=10.0.0.1:*", "one");
    expect_alerts(&f, "?max_severity=-1", "one");
    expect_alerts(&f, "?severity=-3&host=web1", "one");
    expect_alerts(&f, "?host=web?", ""); /* '?' is a plain character */
    /* A star anywhere but at the end: several could cost fnmatch minutes on the loop. */
    expect_refused(&f, "?host=*a*a*a*a*a*a*a*a*a*a*a*a*b", "'host'");
    expect_refused(&f, "?component=w*b", "'component'");
    expect_refused(&f, "?sender=**", "'sender'");
    expect_alerts(&f, "?max_severity=2&component=t*", "");
    expect_refused(&f, "?severity", "'severity'");
    expect_refused(&f, "?severity=99999999999999999999", "'severity'");
    expect_refused(&f, "?max_severity=1.5", "'max_severity'");
    expect_refused(&f, "?host=a&host=b", "'host'");
    expect_refused(&f, "?Host=a", "'Host'");
    /* Not UTF-8, and long: the error is still JSON, the name shown cut and masked. */
    expect_refused(&f, "?ho%FFst=a", "'ho?st'");
    expect_refused(&f, "?severity=%C3%A9%C3%A9", "'?\?\?\?'");
    expect_refused(&f,
                   "?aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
                   "aaaaaaaaaaaaaaaaaa=1",
                   "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa'");

    json_t *o;
    assert_int_equal(get_json(&f, "/v1/alerts?component=two", &o), 200);
    assert_true(
        json_is_null(json_object_get(json_array_get(json_object_get(o, "alerts"), 0), "sender")));
    json_decref(o);
    assert_int_equal(get_json(&f, "/v1/alerts?component=star", &o), 200);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(o, "alerts"), 0), "sender")),
                        "[::1]:5000");
    json_decref(o);
    close_fixture(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_http_out_of_descriptors_sheds_a_batch_per_iteration),
        cmocka_unit_test(test_http_request_then_half_close_is_answered),
        cmocka_unit_test(test_http_alert_filters_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
