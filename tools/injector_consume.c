/* injector_consume.c - follow the change stream from RabbitMQ: print it, or keep an exact
 * view of the active alerts of one or more collectors (consume_view.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <jansson.h>

#include "consume_view.h"
#include "http_get.h"
#include "sink/secret.h"
#include "sink/sink_amqp.h"

#define MAX_BINDS      32
#define MAX_COLLECTORS 32
#define CHANNEL        1

enum format { FORMAT_JSON, FORMAT_TEXT, FORMAT_TABLE, FORMAT_NONE };

struct args {
    const char *url, *exchange, *queue, *password_file;
    enum format format;
    const char *ca_file, *cert_file, *key_file;
    const char *binds[MAX_BINDS];
    int n_binds;
    char *collectors[MAX_COLLECTORS]; /* their /v1/alerts URLs (malloc'd) */
    size_t n_collectors;
    const char *view_file, *token_file, *queue_type;
    char *token;
    double view_interval;
    unsigned prefetch;
    long count;
    double timeout;
    bool setup;
};

static volatile sig_atomic_t stopping, resync_asked;

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        resync_asked = 1;
    else
        stopping = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: injector-consume --amqp URL [--collector URL]... [OPTION]...\n"
               "Follow injector's change stream from RabbitMQ: print each change as one JSON\n"
               "line (or an aligned text line), acknowledging it only after it is written.\n"
               "With --collector: keep an exact view of the collectors' active alerts (bind the\n"
               "queue, take each collector's /v1/alerts snapshot, apply the newer changes; on a\n"
               "gap in versions or a collector restart, resynchronise from the snapshot and say\n"
               "so). Changes a resync makes up are marked \"resync\":true.\n\n"
               "  --amqp URL            amqp[s]://user[:password]@host[:port][/vhost]\n"
               "                        (or $INJECTOR_AMQP_URL)\n"
               "  --ca-file PATH        amqps: CA certificates to verify the broker with\n"
               "  --cert-file PATH      amqps: client certificate; --key-file PATH its key\n"
               "  --password-file PATH  read the password from this file\n"
               "  --exchange NAME       the collector's exchange [injector]\n"
               "  --queue NAME          a durable named queue (survives us); default: a private\n"
               "                        queue that goes away when we do\n"
               "  --queue-type TYPE     classic or quorum (replicated across a RabbitMQ cluster;\n"
               "                        needs --queue) [classic]\n"
               "  --bind KEY            routing key pattern, repeatable [#]; keys are\n"
               "                        <outcome>.<severity>.<host>, e.g. 'raise.#', '*.1.#'\n"
               "  --prefetch N          unacknowledged deliveries at a time [100]\n"
               "  --collector URL       a collector's HTTP API (http://host:8342), repeatable:\n"
               "                        keep the view of its active alerts; the view is keyed\n"
               "                        by (collector, host, component)\n"
               "  --view FILE           keep FILE (atomically replaced) equal to the view: JSON\n"
               "                        {updated, collectors, count, alerts}\n"
               "  --view-interval S     write FILE / redraw the table at most this often [1]\n"
               "  --http-token-file P   bearer token for the collectors' HTTP API\n"
               "  --format json|text|table|none\n"
               "                        output: change lines as JSON [json] or text, a live\n"
               "                        table of the view (most severe, lowest number, first),\n"
               "                        or none (with --view: only the file)\n"
               "  --count N             exit after N changes\n"
               "  --timeout S           exit after S seconds without a change\n"
               "  --setup               declare and bind the queue, then exit (so it collects\n"
               "                        changes before anyone consumes)\n"
               "  -h, --help            show this help\n\n"
               "Signals: SIGINT/SIGTERM write the view and stop; SIGUSR1 resynchronises now.\n"
               "A view waits for its broker and outlives a lost connection: it reconnects\n"
               "and resynchronises.\n"
               "Exit status: 0 done, 1 connection failed or lost (without --collector),\n"
               "2 usage error, 3 --timeout reached before --count changes.\n");
}

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"amqp", required_argument, NULL, 'a'},
        {"exchange", required_argument, NULL, 'e'},
        {"queue", required_argument, NULL, 'q'},
        {"bind", required_argument, NULL, 'b'},
        {"prefetch", required_argument, NULL, 'p'},
        {"format", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},
        {"timeout", required_argument, NULL, 't'},
        {"password-file", required_argument, NULL, 'P'},
        {"setup", no_argument, NULL, 's'},
        {"ca-file", required_argument, NULL, 'A'},
        {"cert-file", required_argument, NULL, 'E'},
        {"key-file", required_argument, NULL, 'k'},
        {"collector", required_argument, NULL, 'C'},
        {"view", required_argument, NULL, 'v'},
        {"view-interval", required_argument, NULL, 'i'},
        {"http-token-file", required_argument, NULL, 'T'},
        {"queue-type", required_argument, NULL, 'Q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    a->url = getenv("INJECTOR_AMQP_URL");
    a->exchange = "injector";
    a->format = FORMAT_JSON;
    a->prefetch = 100;
    a->count = -1;
    a->timeout = -1;
    a->view_interval = 1;
    opterr = 0;
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            a->url = optarg;
            break;
        case 'e':
            a->exchange = optarg;
            break;
        case 'q':
            a->queue = optarg;
            break;
        case 'P':
            a->password_file = optarg;
            break;
        case 's':
            a->setup = true;
            break;
        case 'A':
            a->ca_file = optarg;
            break;
        case 'E':
            a->cert_file = optarg;
            break;
        case 'k':
            a->key_file = optarg;
            break;
        case 'v':
            a->view_file = optarg;
            break;
        case 'T':
            a->token_file = optarg;
            break;
        case 'Q':
            if (strcmp(optarg, "classic") != 0 && strcmp(optarg, "quorum") != 0) {
                fprintf(stderr, "injector-consume: --queue-type is classic or quorum\n");
                return -1;
            }
            a->queue_type = optarg;
            break;
        case 'C': {
            if (a->n_collectors >= MAX_COLLECTORS) {
                fprintf(stderr, "injector-consume: at most %d --collector\n", MAX_COLLECTORS);
                return -1;
            }
            /* http://host:port or http://host:port/ means its /v1/alerts */
            size_t n = strlen(optarg);
            while (n > 0 && optarg[n - 1] == '/')
                n--;
            const char *path = strncmp(optarg, "http://", 7) == 0 ? strchr(optarg + 7, '/') : NULL;
            bool bare = path == NULL || (size_t)(path - optarg) >= n;
            char *u = malloc(n + 16);
            if (u == NULL || strncmp(optarg, "http://", 7) != 0) {
                free(u);
                fprintf(stderr,
                        "injector-consume: --collector takes http://HOST:PORT (the "
                        "collector's HTTP API), not '%s'\n",
                        optarg);
                return -1;
            }
            snprintf(u, n + 16, "%.*s%s", (int)n, optarg, bare ? "/v1/alerts" : "");
            a->collectors[a->n_collectors++] = u;
            break;
        }
        case 'i':
            a->view_interval = strtod(optarg, &end);
            if (*end != '\0' || a->view_interval < 0.01 || a->view_interval > 3600) {
                fprintf(stderr, "injector-consume: --view-interval takes seconds, 0.01 to 3600\n");
                return -1;
            }
            break;
        case 'b':
            if (a->n_binds >= MAX_BINDS) {
                fprintf(stderr, "injector-consume: at most %d --bind\n", MAX_BINDS);
                return -1;
            }
            a->binds[a->n_binds++] = optarg;
            break;
        case 'p':
            a->prefetch = (unsigned)strtoul(optarg, &end, 10);
            if (*end != '\0' || a->prefetch == 0 || a->prefetch > 65535) {
                fprintf(stderr, "injector-consume: --prefetch takes 1 to 65535\n");
                return -1;
            }
            break;
        case 'f':
            if (strcmp(optarg, "json") == 0)
                a->format = FORMAT_JSON;
            else if (strcmp(optarg, "text") == 0)
                a->format = FORMAT_TEXT;
            else if (strcmp(optarg, "table") == 0)
                a->format = FORMAT_TABLE;
            else if (strcmp(optarg, "none") == 0)
                a->format = FORMAT_NONE;
            else {
                fprintf(stderr, "injector-consume: --format is json, text, table or none\n");
                return -1;
            }
            break;
        case 'n':
            a->count = strtol(optarg, &end, 10);
            if (*end != '\0' || a->count < 1) {
                fprintf(stderr, "injector-consume: --count takes a positive number\n");
                return -1;
            }
            break;
        case 't':
            a->timeout = strtod(optarg, &end);
            if (*end != '\0' || a->timeout <= 0) {
                fprintf(stderr, "injector-consume: --timeout takes seconds > 0\n");
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case ':':
            fprintf(stderr, "injector-consume: %s needs a value (see --help)\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "injector-consume: unknown option '%s' (see --help)\n",
                    argv[optind - 1]);
            return -1;
        }
    }
    if (a->url == NULL) {
        fprintf(stderr, "injector-consume: --amqp URL is required (see --help)\n");
        return -1;
    }
    if (a->n_collectors == 0 && (a->view_file != NULL || a->format == FORMAT_TABLE)) {
        fprintf(stderr, "injector-consume: --view and --format table need --collector URL (the "
                        "snapshot the view starts from)\n");
        return -1;
    }
    if (a->format == FORMAT_NONE && a->view_file == NULL) {
        fprintf(stderr, "injector-consume: --format none prints nothing: give --view FILE\n");
        return -1;
    }
    if (a->n_collectors > 0 && a->n_binds > 0) {
        fprintf(stderr, "injector-consume: --bind filters the stream, and a view needs every "
                        "change: use one or the other\n");
        return -1;
    }
    if (a->token_file != NULL) {
        /* the same reader as passwords: first line, trailing newline dropped */
        int rc = secret_read_file(a->token_file, &a->token);
        if (rc != 0) {
            fprintf(stderr, "injector-consume: %s: %s\n", a->token_file,
                    rc == -ENODATA ? "empty" : strerror(-rc));
            return -1;
        }
    }
    if (a->n_binds == 0)
        a->binds[a->n_binds++] = "#";
    if (a->queue_type != NULL && a->queue == NULL) {
        fprintf(stderr, "injector-consume: --queue-type needs --queue NAME (a private queue is "
                        "always classic)\n");
        return -1;
    }
    if (a->setup && a->queue == NULL) {
        fprintf(stderr, "injector-consume: --setup needs --queue NAME (a private queue would "
                        "vanish at once)\n");
        return -1;
    }
    return 0;
}

static void free_args(struct args *a)
{
    free(a->token);
    for (size_t i = 0; i < a->n_collectors; i++)
        free(a->collectors[i]);
}

static bool reply_ok(amqp_rpc_reply_t r, const char *what)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return true;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        fprintf(stderr, "injector-consume: %s: %s\n", what, amqp_error_string2(r.library_error));
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *m = r.reply.decoded;
        fprintf(stderr, "injector-consume: %s: broker closed the connection: %u %.*s\n", what,
                m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = r.reply.decoded;
        fprintf(stderr, "injector-consume: %s: broker closed the channel: %u %.*s\n", what,
                m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
    } else {
        fprintf(stderr, "injector-consume: %s: failed\n", what);
    }
    return false;
}

static amqp_connection_state_t connect_to(const struct args *a, char **password_buf)
{
    struct amqp_connection_info info;
    char *url = strdup(a->url);
    struct timeval tv = {5, 0};
    amqp_connection_state_t conn = NULL;
    const char *password;

    amqp_default_connection_info(&info);
    if (url == NULL || amqp_parse_url(url, &info) != AMQP_STATUS_OK) {
        fprintf(stderr,
                "injector-consume: --amqp: want amqp[s]://user[:password]@host[:port][/vhost]\n");
        goto fail;
    }
    if (info.vhost == NULL || info.vhost[0] == '\0')
        info.vhost = "/";
    password = info.password;
    if (a->password_file != NULL) {
        free(*password_buf); /* a reconnect reads it again */
        *password_buf = NULL;
        int rc = secret_read_file(a->password_file, password_buf);
        if (rc != 0) {
            fprintf(stderr, "injector-consume: %s: %s\n", a->password_file,
                    rc == -ENODATA ? "empty" : strerror(-rc));
            goto fail;
        }
        password = *password_buf;
    } else if (getenv("INJECTOR_AMQP_PASSWORD") != NULL) {
        password = getenv("INJECTOR_AMQP_PASSWORD");
    }
    conn = amqp_new_connection();
    amqp_socket_t *sock = info.ssl ? amqp_ssl_socket_new(conn) : amqp_tcp_socket_new(conn);
    if (info.ssl) {
        amqp_ssl_socket_set_verify_peer(sock, 1);
        amqp_ssl_socket_set_verify_hostname(sock, 1);
        if ((a->ca_file != NULL && amqp_ssl_socket_set_cacert(sock, a->ca_file) != 0) ||
            (a->cert_file != NULL &&
             amqp_ssl_socket_set_key(sock, a->cert_file, a->key_file) != 0)) {
            fprintf(stderr, "injector-consume: cannot use the TLS files given\n");
            goto fail;
        }
    }
    int rc = amqp_socket_open_noblock(sock, info.host, info.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        fprintf(stderr, "injector-consume: cannot connect to %s:%d: %s\n", info.host, info.port,
                amqp_error_string2(rc));
        goto fail;
    }
    amqp_set_rpc_timeout(conn, &tv);
    if (!reply_ok(amqp_login(conn, info.vhost, 0, 131072, 30, AMQP_SASL_METHOD_PLAIN, info.user,
                             password),
                  "login"))
        goto fail;
    amqp_channel_open(conn, CHANNEL);
    if (!reply_ok(amqp_get_rpc_reply(conn), "channel.open"))
        goto fail;
    free(url);
    return conn;
fail:
    if (conn != NULL)
        amqp_destroy_connection(conn);
    free(url);
    return NULL;
}

static int setup_queue(amqp_connection_state_t conn, const struct args *a, amqp_bytes_t *queue)
{
    /* Same declaration as the collector's, so either may come first. */
    amqp_exchange_declare(conn, CHANNEL, amqp_cstring_bytes(a->exchange),
                          amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
    if (!reply_ok(amqp_get_rpc_reply(conn), "exchange.declare"))
        return -1;
    bool named = a->queue != NULL;
    amqp_table_entry_t type = {.key = amqp_cstring_bytes("x-queue-type"),
                               .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                         .value.bytes = amqp_cstring_bytes(a->queue_type ?: "")}};
    amqp_table_t args = {.num_entries = a->queue_type != NULL, .entries = &type};
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(conn, CHANNEL, named ? amqp_cstring_bytes(a->queue) : amqp_empty_bytes,
                           0, named, !named, !named, args);
    if (!reply_ok(amqp_get_rpc_reply(conn), "queue.declare"))
        return -1;
    amqp_bytes_free(*queue); /* a reconnect declares it again */
    *queue = amqp_bytes_malloc_dup(ok->queue);
    for (int i = 0; i < a->n_binds; i++) {
        amqp_queue_bind(conn, CHANNEL, *queue, amqp_cstring_bytes(a->exchange),
                        amqp_cstring_bytes(a->binds[i]), amqp_empty_table);
        if (!reply_ok(amqp_get_rpc_reply(conn), "queue.bind"))
            return -1;
    }
    return 0;
}

static int start_consuming(amqp_connection_state_t conn, const struct args *a, amqp_bytes_t queue)
{
    amqp_basic_qos(conn, CHANNEL, 0, (uint16_t)a->prefetch, 0);
    if (!reply_ok(amqp_get_rpc_reply(conn), "basic.qos"))
        return -1;
    amqp_basic_consume(conn, CHANNEL, queue, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (!reply_ok(amqp_get_rpc_reply(conn), "basic.consume"))
        return -1;
    return 0;
}

static void close_connection(amqp_connection_state_t conn)
{
    if (conn == NULL)
        return;
    amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
}

/* Sleep s seconds, or less when a signal comes. */
static void pause_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    nanosleep(&ts, NULL);
}

/* A connection that failed: no close handshake with a broker that is gone. */
static void destroy_quietly(amqp_connection_state_t conn)
{
    if (conn != NULL)
        amqp_destroy_connection(conn);
}

static void print_text(const amqp_bytes_t body)
{
    json_error_t err;
    json_t *o = json_loadb(body.bytes, body.len, 0, &err);
    if (o == NULL) {
        printf("(not JSON) %.*s\n", (int)body.len, (char *)body.bytes);
        return;
    }
    json_t *sev = json_object_get(o, "severity");
    char sevbuf[24] = "-";
    if (json_is_integer(sev))
        snprintf(sevbuf, sizeof(sevbuf), "%" JSON_INTEGER_FORMAT, json_integer_value(sev));
    const char *msg = json_string_value(json_object_get(o, "msg"));
    printf("%-7s v%-9" JSON_INTEGER_FORMAT " sev %-4s %s/%s%s%s\n",
           json_string_value(json_object_get(o, "outcome")) ?: "?",
           json_integer_value(json_object_get(o, "version")), sevbuf,
           json_string_value(json_object_get(o, "host")) ?: "?",
           json_string_value(json_object_get(o, "component")) ?: "?", msg ? "  " : "",
           msg ? msg : "");
    json_decref(o);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the view's callbacks ---------------------------------------------------------- */

struct out {
    const struct args *a;
    bool text;
};

static int fetch_snapshot(const char *url, json_t **doc, char *err, size_t errlen, void *data)
{
    const struct out *o = data;
    return http_get_json(url, o->a->token, doc, err, errlen);
}

static void log_line(const char *msg, void *data)
{
    (void)data;
    fprintf(stderr, "injector-consume: %s\n", msg);
}

static void print_change(const char *line, size_t len, void *data)
{
    struct out *o = data;
    if (o->text)
        print_text((amqp_bytes_t){.len = len, .bytes = (void *)line});
    else
        printf("%.*s\n", (int)len, line);
}

/* Write the view file and/or redraw the table (the table only when it changed). */
static void show_view(struct view *v, const struct args *a)
{
    char err[4400];
    if (a->view_file != NULL && view_write_file(v, a->view_file, wall_ms(), err, sizeof(err)) != 0)
        fprintf(stderr, "injector-consume: %s\n", err);
    if (a->format == FORMAT_TABLE && view_dirty(v)) {
        struct winsize ws = {0};
        bool tty = isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0;
        if (tty)
            fputs("\033[H\033[2J", stdout); /* home, clear */
        view_print_table(v, stdout, tty && ws.ws_row > 3 ? ws.ws_row - 3u : 0,
                         tty && ws.ws_col > 40 ? ws.ws_col : 120);
        if (!tty)
            putchar('\n');
        fflush(stdout);
    }
    view_clear_dirty(v);
}

static void print_view_stats(const struct view *v)
{
    const struct view_stats *s = view_get_stats(v);
    fprintf(stderr,
            "injector-consume: view: %zu active; applied=%" PRIu64 " skipped=%" PRIu64
            " gaps=%" PRIu64 " resyncs=%" PRIu64 " unsynced=%" PRIu64 " foreign=%" PRIu64
            " malformed=%" PRIu64 "\n",
            view_count(v), s->applied, s->skipped, s->gaps, s->resyncs, s->unsynced, s->foreign,
            s->malformed);
}

/* Write out what was printed, then acknowledge every delivery up to tag. Returns 0, -EIO
 * (the output cannot be written: stop) or -EPIPE (the ack did not go: the connection). */
static int ack_written(amqp_connection_state_t conn, uint64_t tag)
{
    if (fflush(stdout) != 0) {
        fprintf(stderr, "injector-consume: writing output: %s\n", strerror(errno));
        return -EIO;
    }
    int rc = amqp_basic_ack(conn, CHANNEL, tag, 1);
    if (rc != AMQP_STATUS_OK) {
        fprintf(stderr, "injector-consume: ack: %s\n", amqp_error_string2(rc));
        return -EPIPE;
    }
    return 0;
}

/* A view outlives its broker connection: connect again (0.5 s to 30 s apart), bind again,
 * and resynchronise, since changes published meanwhile may be gone (a private queue is gone
 * with its connection). Returns the new connection, or NULL when asked to stop. */
static amqp_connection_state_t reconnect(amqp_connection_state_t conn, const struct args *a,
                                         char **password, amqp_bytes_t *queue, struct view *view)
{
    double wait = 0.5;
    destroy_quietly(conn);
    fprintf(stderr, "injector-consume: lost the broker; the view stays as it is and is "
                    "resynchronised once connected again\n");
    while (!stopping) {
        pause_s(wait);
        if (stopping)
            break;
        conn = connect_to(a, password);
        if (conn != NULL && setup_queue(conn, a, queue) == 0) {
            view_resync_all(view, "after a reconnect to the broker");
            if (start_consuming(conn, a, *queue) == 0) {
                fprintf(stderr, "injector-consume: connected to the broker again\n");
                return conn;
            }
        }
        destroy_quietly(conn);
        conn = NULL;
        wait = wait * 2 > 30 ? 30 : wait * 2;
        fprintf(stderr, "injector-consume: retrying in %.1f s\n", wait);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    char *password = NULL;
    amqp_bytes_t queue = amqp_empty_bytes;
    struct view *view = NULL;
    int status = 1;
    long received = 0;
    uint64_t pending = 0; /* the last delivery tag read and not yet acknowledged */
    unsigned n_pending = 0;

    if (parse_args(argc, argv, &a) != 0) {
        free_args(&a);
        return 2;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_signal);
    signal(SIGPIPE, SIG_IGN);

    struct out o = {.a = &a, .text = a.format == FORMAT_TEXT};
    amqp_connection_state_t conn;
    for (double wait = 0.5;; wait = wait * 2 > 30 ? 30 : wait * 2) {
        conn = connect_to(&a, &password);
        /* The queue is bound before any snapshot is taken: no change can fall between. */
        if (conn != NULL && setup_queue(conn, &a, &queue) == 0)
            break;
        /* A view is a service: it waits for its broker. A one-shot command says why and
         * ends (exit 1). */
        if (a.n_collectors == 0 || a.setup)
            goto out;
        destroy_quietly(conn);
        conn = NULL;
        fprintf(stderr, "injector-consume: retrying in %.1f s\n", wait);
        pause_s(wait);
        if (stopping) {
            status = 0; /* asked to stop: not a failure */
            goto out;
        }
    }
    if (a.setup) {
        fprintf(stderr, "injector-consume: queue %.*s bound to %s\n", (int)queue.len,
                (char *)queue.bytes, a.exchange);
        status = 0;
        goto out;
    }
    if (a.n_collectors > 0) {
        struct view_config vc = {
            .urls = (const char *const *)a.collectors,
            .n_urls = a.n_collectors,
            .fetch = fetch_snapshot,
            .emit = a.format == FORMAT_TABLE || a.format == FORMAT_NONE ? NULL : print_change,
            .log = log_line,
            .data = &o};
        if (view_new(&vc, &view) != 0) {
            fprintf(stderr, "injector-consume: out of memory\n");
            goto out;
        }
        view_sync(view);
        fflush(stdout);
        show_view(view, &a);
    }
    if (start_consuming(conn, &a, queue) != 0)
        goto out;

    double last = now_s(), shown = last, retried = last, retry_every = 2, show_every = 0;
    while (!stopping && (a.count < 0 || received < a.count)) {
        if (view != NULL) {
            double t = now_s();
            if (resync_asked) {
                resync_asked = 0;
                view_resync_all(view, "asked (SIGUSR1)");
            }
            if (t - retried >= retry_every) { /* collectors that could not be reached */
                /* 2 s, backing off to 30 s while some stay away (each try may wait 5 s) */
                retry_every =
                    view_sync(view) == 0 ? 2 : (retry_every * 2 > 30 ? 30 : retry_every * 2);
                retried = now_s();
            }
            if (view_dirty(view) && t - shown >= show_every) {
                show_view(view, &a);
                shown = now_s();
                /* A big view takes long to write: keep that under a fifth of the time, so
                 * the queue is not starved (and --view-interval at least). */
                show_every = 5 * (shown - t) > a.view_interval ? 5 * (shown - t) : a.view_interval;
            }
        }
        /* Wake at least every 200 ms to notice signals, the timeout and the view's turn. */
        struct timeval tv = {0, 200000};
        amqp_envelope_t env;
        amqp_maybe_release_buffers(conn);
        amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION &&
            r.library_error == AMQP_STATUS_TIMEOUT) {
            if (a.timeout > 0 && now_s() - last >= a.timeout) {
                status = a.count > 0 ? 3 : 0;
                if (a.count > 0)
                    fprintf(stderr, "injector-consume: %ld of %ld changes, none for %.1f s\n",
                            received, a.count, a.timeout);
                goto out;
            }
            continue;
        }
        if (!reply_ok(r, "consume")) {
            if (view == NULL || stopping)
                goto out;
            n_pending = 0; /* those tags were the old channel's: redelivered, or resynced */
            conn = reconnect(conn, &a, &password, &queue, view);
            if (conn == NULL) {
                status = 0; /* NULL only when asked to stop */
                goto out;
            }
            continue;
        }
        if (view != NULL)
            view_apply(view, env.message.body.bytes, env.message.body.len);
        else
            print_change(env.message.body.bytes, env.message.body.len, &o);
        pending = env.delivery_tag;
        amqp_destroy_envelope(&env);
        received++;
        last = now_s();
        /* One ack (multiple) for everything read so far, once no delivery waits in our
         * buffer or half the prefetch window is held: an ack per message cost the broker
         * more than the messages. Ack only what is written out: a consumer killed before
         * the ack gets those again. (A view is rebuilt from the snapshots at every start.) */
        if (++n_pending >= (a.prefetch + 1) / 2 || (a.count > 0 && received >= a.count) ||
            (!amqp_data_in_buffer(conn) && !amqp_frames_enqueued(conn))) {
            int rc = ack_written(conn, pending);
            n_pending = 0;
            if (rc == -EIO)
                goto out;
            if (rc != 0 && view == NULL)
                goto out;
            if (rc != 0 && (conn = reconnect(conn, &a, &password, &queue, view)) == NULL) {
                status = 0; /* NULL only when asked to stop */
                goto out;
            }
        }
    }
    status = 0;
out:
    if (conn != NULL && n_pending > 0 && ack_written(conn, pending) == -EIO)
        status = 1;
    if (view != NULL) {
        show_view(view, &a);
        print_view_stats(view);
        view_free(view);
    }
    close_connection(conn);
    amqp_bytes_free(queue);
    free(password);
    free_args(&a);
    return status;
}
