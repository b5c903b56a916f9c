/* bench_publish.c - the AMQP sink's confirmed publish rate vs. a bare librabbitmq publisher.
 *
 * Same broker, same confirm window, same message size, same run, interleaved rounds; the
 * ratio of medians is the result. The bare publisher is the least a confirmed publisher
 * can do: publish while the window has room, read acks, nothing else. The sink goes the
 * whole way: loop-thread outbox, publisher thread, confirm bookkeeping.
 * Usage: bench-publish AMQP_URL [MESSAGES] [WINDOW]
 */
#include "sink/sink_amqp.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ROUNDS 5

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench-publish: %s\n", what);
    exit(1);
}

static double run_bare(const char *url, long n, unsigned window, const char *body, size_t len)
{
    struct amqp_connection_info info;
    char *u = strdup(url);
    amqp_default_connection_info(&info);
    if (amqp_parse_url(u, &info) != AMQP_STATUS_OK)
        die("bad URL");
    amqp_connection_state_t c = amqp_new_connection();
    amqp_socket_t *s = amqp_tcp_socket_new(c);
    if (amqp_socket_open(s, info.host, info.port) != AMQP_STATUS_OK)
        die("cannot connect");
    if (amqp_login(c, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, info.user, info.password)
            .reply_type != AMQP_RESPONSE_NORMAL)
        die("login");
    amqp_channel_open(c, 1);
    amqp_exchange_declare(c, 1, amqp_cstring_bytes("bench"), amqp_cstring_bytes("topic"), 0, 1, 0,
                          0, amqp_empty_table);
    amqp_confirm_select(c, 1);
    if (amqp_get_rpc_reply(c).reply_type != AMQP_RESPONSE_NORMAL)
        die("confirm.select");
    amqp_basic_properties_t props = {0};
    props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = 2;
    amqp_bytes_t b = {len, (void *)body};

    double t0 = now_s();
    long sent = 0, acked = 0;
    while (acked < n) {
        while (sent < n && sent - acked < (long)window) {
            if (amqp_basic_publish(c, 1, amqp_cstring_bytes("bench"),
                                   amqp_cstring_bytes("raise.3.n0418"), 0, 0, &props, b) != 0)
                die("publish");
            sent++;
        }
        amqp_frame_t f;
        struct timeval tv = {1, 0};
        if (amqp_simple_wait_frame_noblock(c, &f, &tv) != AMQP_STATUS_OK)
            die("wait");
        if (f.frame_type == AMQP_FRAME_METHOD && f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *a = f.payload.method.decoded;
            acked = (long)a->delivery_tag; /* in order on one channel; multiple or not */
        }
        amqp_maybe_release_buffers(c);
    }
    double t = now_s() - t0;
    amqp_connection_close(c, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(c);
    free(u);
    return t;
}

struct lookup {
    const char *name;
    unsigned long long value;
};

static void find_counter(const struct counter *c, void *data)
{
    struct lookup *l = data;
    if (strcmp(c->name, l->name) == 0)
        l->value = c->value;
}

static unsigned long long counter_of(struct sink *sk, const char *name)
{
    struct lookup l = {name, 0};
    sink_counters(sk, find_counter, &l);
    return l.value;
}

static double run_sink(const char *url, long n, unsigned window, const char *body, size_t len)
{
    struct sink *sk;
    struct sink_amqp_config cfg = {.url = url,
                                   .exchange = "bench",
                                   .confirm_window = window,
                                   .heartbeat_s = 10,
                                   .flush_timeout_s = 5,
                                   .outbox_size = (size_t)n + 1};
    if (sink_amqp_new(&cfg, &sk, NULL) != 0)
        die("sink_amqp_new");
    /* Wait for the connection so both sides are timed from a connected state. */
    for (int i = 0; i < 500 && counter_of(sk, "amqp_up") == 0; i++)
        usleep(10000);
    struct alert a;
    alert_clear(&a);
    a.host = "n0418";
    a.host_len = 5;
    a.component = "node";
    a.component_len = 4;
    alert_set_num(&a, ALERT_SEVERITY, 3);
    struct change c = {.outcome = CHANGE_RAISE, .alert = &a};

    double t0 = now_s();
    for (long i = 0; i < n; i++) {
        c.version = (uint64_t)i + 1;
        sink_write(sk, &c, body, len);
        if (i % 256 == 255)
            sink_flush(sk);
    }
    sink_flush(sk);
    while (counter_of(sk, "confirmed") < (unsigned long long)n)
        usleep(200);
    double t = now_s() - t0;
    sink_free(sk);
    return t;
}

static int cmp(const void *x, const void *y)
{
    double a = *(const double *)x, b = *(const double *)y;
    return (a > b) - (a < b);
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: bench-publish AMQP_URL [MESSAGES] [WINDOW]\n");
        return 2;
    }
    const char *url = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 50000;
    unsigned window = argc > 3 ? (unsigned)atoi(argv[3]) : 256;
    char body[400];
    memset(body, 'x', sizeof(body));
    int k = snprintf(body, sizeof(body), "{\"outcome\":\"raise\",\"host\":\"n0418\",\"pad\":\"");
    body[k] = 'x';
    memcpy(body + sizeof(body) - 2, "\"}", 2);

    double bare[ROUNDS], ours[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        bare[r] = run_bare(url, n, window, body, sizeof(body));
        ours[r] = run_sink(url, n, window, body, sizeof(body));
    }
    qsort(bare, ROUNDS, sizeof(double), cmp);
    qsort(ours, ROUNDS, sizeof(double), cmp);
    double b = bare[ROUNDS / 2], o = ours[ROUNDS / 2];
    printf("publish benchmark: %ld persistent confirmed messages of %zu bytes, window %u, "
           "%d rounds, medians\n",
           n, sizeof(body), window, ROUNDS);
    printf("%-22s %12s\n", "publisher", "messages/s");
    printf("%-22s %12.0f\n", "bare librabbitmq", n / b);
    printf("%-22s %12.0f\n", "injector AMQP sink", n / o);
    printf("sink/bare = %.2f (target >= 0.90)\n", b / o);
    return 0;
}
