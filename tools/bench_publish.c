/* bench_publish.c - the AMQP sink's confirmed publish rate vs. a bare librabbitmq publisher,
 * and the journal's cost per change without a broker.
 *
 * Same broker, same confirm window, same message size, same run, interleaved rounds; the
 * ratio of medians is the result. The bare publisher is the least a confirmed publisher
 * can do: publish while the window has room, read acks, nothing else. The sink goes the
 * whole way: the journal's append and flush on this thread (as the loop thread does), on
 * disk its group commit (fdatasync on its thread) before anything is published, then the
 * publisher thread and the confirm bookkeeping.
 * Usage: bench-publish AMQP_URL [MESSAGES] [WINDOW] [SYNC_MS]
 *        bench-publish --journal-only [MESSAGES]   the journal alone, on disk (no broker):
 *        time per change of append + flush (run under callgrind for instructions per change)
 */
#include "sink/journal.h"
#include "sink/sink_amqp.h"

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* A journal in dir (NULL: memory only), started at version 0. */
static unsigned sync_ms = 50;

static struct journal *journal_for(const char *dir, long n, bool reader)
{
    struct journal *j;
    struct journal_config jc = {
        .dir = dir, .cache_changes = (size_t)n + 1, .reader = reader, .sync_ms = sync_ms};
    if (dir != NULL) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            die("rm");
    }
    if (journal_open(&jc, &j, NULL) != 0 || journal_start(j, 1, 0) != 0)
        die("journal");
    return j;
}

/* Append n changes as the loop thread does: one flush per batch of 256 (a loop
 * iteration's worth). */
static void append_all(struct journal *j, long n, const char *body, size_t len)
{
    struct alert a;
    alert_clear(&a);
    a.host = "n0418";
    a.host_len = 5;
    a.component = "node";
    a.component_len = 4;
    alert_set_num(&a, ALERT_SEVERITY, 3);
    struct change c = {.outcome = CHANGE_RAISE, .alert = &a};
    for (long i = 0; i < n; i++) {
        c.version = (uint64_t)i + 1;
        journal_append(j, &c, body, len);
        if (i % 256 == 255)
            journal_flush(j, (long long)(now_s() * 1000));
    }
    journal_flush(j, (long long)(now_s() * 1000));
}

static double run_sink(const char *url, const char *dir, long n, unsigned window, const char *body,
                       size_t len)
{
    struct sink *sk;
    struct journal *j = journal_for(dir, n, true);
    const char *urls[] = {url};
    struct sink_amqp_config cfg = {.urls = urls,
                                   .n_urls = 1,
                                   .exchange = "bench",
                                   .confirm_window = window,
                                   .heartbeat_s = 10,
                                   .flush_timeout_s = 5,
                                   .journal = j};
    if (sink_amqp_new(&cfg, &sk) != 0)
        die("sink_amqp_new");
    /* Wait for the connection so both sides are timed from a connected state. */
    for (int i = 0; i < 500 && counter_of(sk, "amqp_up") == 0; i++)
        usleep(10000);
    double t0 = now_s();
    append_all(j, n, body, len);
    /* Wait for the last confirm: the journal's position, read once a millisecond (the
     * stats line, formatted every 200 us, took a tenth of a core from the publisher). */
    for (;;) {
        struct journal_stats js;
        journal_stats(j, &js);
        if (js.confirmed >= (uint64_t)n)
            break;
        usleep(1000);
    }
    double t = now_s() - t0;
    sink_free(sk);
    journal_finish(j);
    journal_free(j);
    return t;
}

/* The journal alone on disk: seconds for n changes through append + flush, then the sync
 * that makes the last of them durable. */
static double run_journal(const char *dir, long n, const char *body, size_t len)
{
    struct journal *j = journal_for(dir, n, false);
    double t0 = now_s();
    append_all(j, n, body, len);
    journal_sync(j);
    double t = now_s() - t0;
    journal_finish(j);
    journal_free(j);
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
        fprintf(stderr, "usage: bench-publish AMQP_URL [MESSAGES] [WINDOW] [SYNC_MS]\n"
                        "       bench-publish --journal-only [MESSAGES]\n");
        return 2;
    }
    const char *url = argv[1];
    long n = argc > 2 ? atol(argv[2]) : 50000;
    unsigned window = argc > 3 ? (unsigned)atoi(argv[3]) : 256;
    sync_ms = argc > 4 ? (unsigned)atoi(argv[4]) : 50;
    char body[400];
    memset(body, 'x', sizeof(body));
    int k = snprintf(body, sizeof(body), "{\"outcome\":\"raise\",\"host\":\"n0418\",\"pad\":\"");
    body[k] = 'x';
    memcpy(body + sizeof(body) - 2, "\"}", 2);
    char dir[64];
    snprintf(dir, sizeof(dir), "/tmp/bench-journal.%d", (int)getpid());

    if (strcmp(url, "--journal-only") == 0) {
        double t[ROUNDS];
        for (int r = 0; r < ROUNDS; r++)
            t[r] = run_journal(dir, n, body, sizeof(body));
        qsort(t, ROUNDS, sizeof(double), cmp);
        printf("journal on disk, no broker: %ld changes of %zu bytes, %d rounds, median "
               "%.0f changes/s, %.2f us per change (append + write, group commit)\n",
               n, sizeof(body), ROUNDS, n / t[ROUNDS / 2], t[ROUNDS / 2] / n * 1e6);
        return 0;
    }
    double bare[ROUNDS], mem[ROUNDS], disk[ROUNDS];
    for (int r = 0; r < ROUNDS; r++) {
        bare[r] = run_bare(url, n, window, body, sizeof(body));
        mem[r] = run_sink(url, NULL, n, window, body, sizeof(body));
        disk[r] = run_sink(url, dir, n, window, body, sizeof(body));
    }
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    if (system(cmd) != 0)
        return 1;
    qsort(bare, ROUNDS, sizeof(double), cmp);
    qsort(mem, ROUNDS, sizeof(double), cmp);
    qsort(disk, ROUNDS, sizeof(double), cmp);
    double b = bare[ROUNDS / 2], m = mem[ROUNDS / 2], d = disk[ROUNDS / 2];
    printf("publish benchmark: %ld persistent confirmed messages of %zu bytes, window %u, "
           "journal sync every %u ms, %d rounds, medians\n",
           n, sizeof(body), window, sync_ms, ROUNDS);
    printf("%-40s %12s %8s\n", "publisher", "messages/s", "ratio");
    printf("%-40s %12.0f %8s\n", "bare librabbitmq", n / b, "1.00");
    printf("%-40s %12.0f %8.2f\n", "injector, journal in memory", n / m, b / m);
    printf("%-40s %12.0f %8.2f\n", "injector, journal on disk (synced first)", n / d, b / d);
    printf("on disk/bare = %.2f (target >= 0.90)\n", b / d);
    return 0;
}
