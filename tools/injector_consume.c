/* injector_consume.c - follow the change stream from RabbitMQ: print it, or keep an exact
 * view of the active alerts of one or more collectors (consume_view.h). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <jansson.h>

#include "consume_view.h"
#include "http_get.h"
#include "sink/amqp_nodes.h"
#include "sink/change.h"
#include "sink/secret.h"
#include "sink/sink_amqp.h"
#include "sink/sink_log.h"
#include "text_table.h"

#define MAX_BINDS      32
#define MAX_COLLECTORS 32
#define CHANNEL        1

enum format { FORMAT_JSON, FORMAT_TEXT, FORMAT_TABLE, FORMAT_NONE };

struct args {
    struct amqp_nodes *nodes; /* the --amqp URLs: the nodes of one cluster */
    const char *exchange, *queue, *password_file;
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

/* The table on a terminal (--format table, stdout a tty). Messages while it runs (retries,
 * resyncs) are shown in its header line; they go to stderr too unless stderr is that same
 * terminal, where they would scroll the header away. File-wide like the signal flags: the
 * broker's retry paths, far from main, say things. */
static struct {
    struct view *view; /* once it exists */
    bool on;           /* the table goes to a terminal */
    bool stderr_there; /* stderr is that terminal */
    bool color;        /* and NO_COLOR is not set */
    char status[1420]; /* the last message, with its time */
} screen;

static void draw_table(struct view *v);

/* A message for the person watching: stderr ("injector-consume: msg"), and/or the table's
 * header (redrawn at once: a retry may pause for seconds). */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char msg[1400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    /* Before the table is drawn (the broker waited for at start) stderr is all there is.
     * msg may quote the network (a collector's error, a broker's reason): cleaned. */
    if (!screen.on || !screen.stderr_there || screen.view == NULL) {
        fputs("injector-consume: ", stderr);
        text_table_put(stderr, msg, SIZE_MAX);
        fputc('\n', stderr);
    }
    if (screen.on) {
        char when[16] = "";
        time_t sec = (time_t)(change_now_ms() / 1000);
        struct tm tm;
        if (localtime_r(&sec, &tm) != NULL)
            strftime(when, sizeof(when), "%H:%M:%S", &tm);
        snprintf(screen.status, sizeof(screen.status), "%s %s", when, msg);
        if (screen.view != NULL)
            draw_table(screen.view);
    }
}

static void on_signal(int sig)
{
    if (sig == SIGUSR1)
        resync_asked = 1;
    else
        stopping = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: injector-consume --amqp URL... [--collector URL]... [OPTION]...\n"
               "Follow injector's change stream from RabbitMQ: print each change as one JSON\n"
               "line (or an aligned text line), acknowledging it only after it is written.\n"
               "With --collector: keep an exact view of the collectors' active alerts (bind the\n"
               "queue, take each collector's /v1/alerts snapshot, apply the newer changes; on a\n"
               "gap in versions or a collector restart, resynchronise from the snapshot and say\n"
               "so). Changes a resync makes up are marked \"resync\":true.\n\n"
               "  --amqp URL            amqp[s]://user[:password]@host[:port][/vhost];\n"
               "                        repeat it for each node of a cluster: a lost node\n"
               "                        gives way to the next at once (or $INJECTOR_AMQP_URL,\n"
               "                        URLs separated by spaces)\n"
               "  --ca-file PATH        amqps: CA certificates to verify the broker with\n"
               "  --cert-file PATH      amqps: client certificate; --key-file PATH its key\n"
               "  --password-file PATH  read the password from this file\n"
               "  --exchange NAME       the collector's exchange [injector]\n"
               "  --queue NAME          a durable named queue (survives us); default: a private\n"
               "                        queue that goes away when we do\n"
               "  --queue-type TYPE     classic or quorum (replicated across a RabbitMQ cluster,\n"
               "                        it outlives a node; needs --queue) [classic]\n"
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
               "                        or none (with --view: only the file); the table is\n"
               "                        coloured by severity on a terminal unless NO_COLOR\n"
               "                        is set\n"
               "  --count N             exit after N changes\n"
               "  --timeout S           exit after S seconds without a change\n"
               "  --setup               declare and bind the queue, then exit (so it collects\n"
               "                        changes before anyone consumes)\n"
               "  -h, --help            show this help\n"
               "  -V, --version         show the version\n\n"
               "Signals: SIGINT/SIGTERM write the view and stop; SIGUSR1 resynchronises now.\n"
               "A lost connection moves to the next --amqp node at once. A view waits for its\n"
               "broker (every node tried, then 0.25 s to 1 s apart) and resynchronises after a\n"
               "reconnect, unless its queue is a named quorum queue (that kept the changes).\n"
               "Exit status: 0 done; 1 a failure at run time: no node could be used (without\n"
               "--collector: after trying each once), a file named cannot be read, --timeout\n"
               "reached before --count changes; 2 usage error (an option or value not as this\n"
               "help says).\n");
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
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    char err[256];
    if (amqp_nodes_new(&a->nodes) != 0) {
        fprintf(stderr, "injector-consume: out of memory\n");
        return -1;
    }
    a->exchange = "injector";
    a->format = FORMAT_JSON;
    a->prefetch = 100;
    a->count = -1;
    a->timeout = -1;
    a->view_interval = 1;
    opterr = 0;
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, ":hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'a':
            if (amqp_nodes_add(a->nodes, optarg, err, sizeof(err)) != 0) {
                fprintf(stderr, "injector-consume: --amqp: %s\n", err);
                return -1;
            }
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
                fprintf(stderr,
                        "injector-consume: --queue-type takes classic or quorum, not '%s'\n",
                        optarg);
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
            if (u == NULL || strncmp(optarg, "http://", 7) != 0 || optarg[7] == '\0' ||
                optarg[7] == '/') {
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
                fprintf(stderr,
                        "injector-consume: --view-interval takes seconds, 0.01 to 3600, not '%s'\n",
                        optarg);
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
                fprintf(stderr, "injector-consume: --prefetch takes 1 to 65535, not '%s'\n",
                        optarg);
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
                fprintf(stderr,
                        "injector-consume: --format takes json, text, table or none, not '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case 'n':
            a->count = strtol(optarg, &end, 10);
            if (*end != '\0' || a->count < 1) {
                fprintf(stderr, "injector-consume: --count takes a whole number > 0, not '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case 't':
            a->timeout = strtod(optarg, &end);
            if (*end != '\0' || a->timeout <= 0) {
                fprintf(stderr, "injector-consume: --timeout takes seconds > 0, not '%s'\n",
                        optarg);
                return -1;
            }
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("injector-consume %s\n", INJECTOR_VERSION);
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
    if (optind < argc) {
        fprintf(stderr, "injector-consume: unexpected argument '%s' (options only, see --help)\n",
                argv[optind]);
        return -1;
    }
    if (amqp_nodes_count(a->nodes) == 0 && getenv("INJECTOR_AMQP_URL") != NULL &&
        amqp_nodes_add(a->nodes, getenv("INJECTOR_AMQP_URL"), err, sizeof(err)) != 0) {
        fprintf(stderr, "injector-consume: $INJECTOR_AMQP_URL: %s\n", err);
        return -1;
    }
    if (amqp_nodes_count(a->nodes) == 0) {
        fprintf(stderr, "injector-consume: --amqp amqp[s]://user[:password]@host[:port][/vhost] is "
                        "required (or $INJECTOR_AMQP_URL; see --help)\n");
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
    amqp_nodes_free(a->nodes);
    secret_free(a->token);
    for (size_t i = 0; i < a->n_collectors; i++)
        free(a->collectors[i]);
}

/* Whether r is a success; if not, what went wrong, in err ("what: why"). */
static bool reply_ok(amqp_rpc_reply_t r, const char *what, char *err, size_t errlen)
{
    if (r.reply_type == AMQP_RESPONSE_NORMAL)
        return true;
    if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
        snprintf(err, errlen, "%s: %s", what, amqp_error_string2(r.library_error));
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *m = r.reply.decoded;
        snprintf(err, errlen, "%s: broker closed the connection: %u %.*s", what, m->reply_code,
                 (int)m->reply_text.len, (char *)m->reply_text.bytes);
    } else if (r.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION &&
               r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = r.reply.decoded;
        snprintf(err, errlen, "%s: broker closed the channel: %u %.*s", what, m->reply_code,
                 (int)m->reply_text.len, (char *)m->reply_text.bytes);
    } else {
        snprintf(err, errlen, "%s: failed", what);
    }
    return false;
}

/* Connect to url and open the channel. Returns the connection, or NULL with why in err
 * (naming the node as name). */
static amqp_connection_state_t connect_to(const struct args *a, const char *url_given,
                                          const char *name, char **password_buf, char *err,
                                          size_t errlen)
{
    struct amqp_connection_info info;
    char *url = strdup(url_given);
    struct timeval tv = {5, 0};
    amqp_connection_state_t conn = NULL;
    const char *password;
    char why[512];

    amqp_default_connection_info(&info);
    if (url == NULL || amqp_parse_url(url, &info) != AMQP_STATUS_OK) {
        snprintf(err, errlen, "%s: want amqp[s]://user[:password]@host[:port][/vhost]", name);
        goto fail;
    }
    if (info.vhost == NULL || info.vhost[0] == '\0')
        info.vhost = "/";
    password = info.password;
    if (a->password_file != NULL) {
        secret_free(*password_buf); /* a reconnect reads it again */
        *password_buf = NULL;
        int rc = secret_read_file(a->password_file, password_buf);
        if (rc != 0) {
            snprintf(err, errlen, "%s: %s", a->password_file,
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
            snprintf(err, errlen, "cannot use the TLS files given");
            goto fail;
        }
    }
    int rc = amqp_socket_open_noblock(sock, info.host, info.port, &tv);
    if (rc != AMQP_STATUS_OK) {
        snprintf(err, errlen, "cannot connect to %s: %s", name, amqp_error_string2(rc));
        goto fail;
    }
    amqp_set_rpc_timeout(conn, &tv);
    /* consumer_cancel_notify: told (basic.cancel) when the queue goes from under us, e.g.
     * a classic queue whose node stopped, rather than waiting for deliveries forever. */
    amqp_table_entry_t cap = {.key = amqp_cstring_bytes("consumer_cancel_notify"),
                              .value = {.kind = AMQP_FIELD_KIND_BOOLEAN, .value.boolean = 1}};
    amqp_table_entry_t prop = {.key = amqp_cstring_bytes("capabilities"),
                               .value = {.kind = AMQP_FIELD_KIND_TABLE, .value.table = {1, &cap}}};
    amqp_table_t props = {1, &prop};
    if (!reply_ok(amqp_login_with_properties(conn, info.vhost, 0, 131072, 30, &props,
                                             AMQP_SASL_METHOD_PLAIN, info.user, password),
                  "login", why, sizeof(why))) {
        snprintf(err, errlen, "%s: %s", name, why);
        goto fail;
    }
    amqp_channel_open(conn, CHANNEL);
    if (!reply_ok(amqp_get_rpc_reply(conn), "channel.open", why, sizeof(why))) {
        snprintf(err, errlen, "%s: %s", name, why);
        goto fail;
    }
    free(url);
    return conn;
fail:
    if (conn != NULL)
        amqp_destroy_connection(conn);
    free(url);
    return NULL;
}

static int setup_queue(amqp_connection_state_t conn, const struct args *a, amqp_bytes_t *queue,
                       char *err, size_t errlen)
{
    /* Same declaration as the collector's, so either may come first. */
    amqp_exchange_declare(conn, CHANNEL, amqp_cstring_bytes(a->exchange),
                          amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
    if (!reply_ok(amqp_get_rpc_reply(conn), "exchange.declare", err, errlen))
        return -1;
    bool named = a->queue != NULL;
    amqp_table_entry_t type = {.key = amqp_cstring_bytes("x-queue-type"),
                               .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                         .value.bytes = amqp_cstring_bytes(a->queue_type ?: "")}};
    amqp_table_t args = {.num_entries = a->queue_type != NULL, .entries = &type};
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(conn, CHANNEL, named ? amqp_cstring_bytes(a->queue) : amqp_empty_bytes,
                           0, named, !named, !named, args);
    if (!reply_ok(amqp_get_rpc_reply(conn), "queue.declare", err, errlen))
        return -1;
    amqp_bytes_free(*queue); /* a reconnect declares it again */
    *queue = amqp_bytes_malloc_dup(ok->queue);
    for (int i = 0; i < a->n_binds; i++) {
        amqp_queue_bind(conn, CHANNEL, *queue, amqp_cstring_bytes(a->exchange),
                        amqp_cstring_bytes(a->binds[i]), amqp_empty_table);
        if (!reply_ok(amqp_get_rpc_reply(conn), "queue.bind", err, errlen))
            return -1;
    }
    return 0;
}

static int start_consuming(amqp_connection_state_t conn, const struct args *a, amqp_bytes_t queue,
                           char *err, size_t errlen)
{
    amqp_basic_qos(conn, CHANNEL, 0, (uint16_t)a->prefetch, 0);
    if (!reply_ok(amqp_get_rpc_reply(conn), "basic.qos", err, errlen))
        return -1;
    amqp_basic_consume(conn, CHANNEL, queue, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (!reply_ok(amqp_get_rpc_reply(conn), "basic.consume", err, errlen))
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

/* The reason the broker gave, if it left one in the connection: it closed the connection
 * (a node shutting down says 320 CONNECTION_FORCED), closed the channel, or cancelled the
 * consumer. Deliveries read meanwhile are dropped: they were not acknowledged, so they come
 * again. Returns whether there was a reason. */
static bool broker_said(amqp_connection_state_t conn, char *err, size_t errlen)
{
    amqp_frame_t f;
    struct timeval tv = {0, 200000};
    /* at most a prefetch window of deliveries (three frames each, more for big ones) */
    for (int i = 0; i < 4 * 65536; i++) {
        if (amqp_simple_wait_frame_noblock(conn, &f, &tv) != AMQP_STATUS_OK)
            return false;
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue; /* a delivery's header or body */
        switch (f.payload.method.id) {
        case AMQP_CONNECTION_CLOSE_METHOD: {
            amqp_connection_close_t *m = f.payload.method.decoded;
            snprintf(err, errlen, "broker closed the connection: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (char *)m->reply_text.bytes);
            return true;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
            amqp_channel_close_t *m = f.payload.method.decoded;
            snprintf(err, errlen, "broker closed the channel: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (char *)m->reply_text.bytes);
            return true;
        }
        case AMQP_BASIC_CANCEL_METHOD:
            snprintf(err, errlen,
                     "the broker cancelled our consumer (the queue was deleted, "
                     "or the node that holds it went down)");
            return true;
        default:
            break; /* basic.deliver */
        }
        amqp_maybe_release_buffers(conn);
    }
    return false;
}

/* Why the connection stopped serving, from amqp_consume_message's reply r (or an ack that
 * failed: what): the broker's own words when it left some. */
static void why_lost(amqp_connection_state_t conn, amqp_rpc_reply_t r, const char *what, char *err,
                     size_t errlen)
{
    if (broker_said(conn, err, errlen))
        return;
    reply_ok(r, what, err, errlen);
}

/* One line per change (--format text). Every string in it came over the network: printed
 * through text_table_put, so an escape is a '?' and a comment typed in lines stays on the
 * line. */
static void print_text(const amqp_bytes_t body)
{
    json_error_t err;
    json_t *o = json_loadb(body.bytes, body.len, 0, &err);
    if (o == NULL) {
        char *text = strndup(body.bytes, body.len);
        fputs("(not JSON) ", stdout);
        text_table_put(stdout, text, SIZE_MAX);
        putchar('\n');
        free(text);
        return;
    }
    json_t *sev = json_object_get(o, "severity");
    char sevbuf[24] = "-";
    if (json_is_integer(sev))
        snprintf(sevbuf, sizeof(sevbuf), "%" JSON_INTEGER_FORMAT, json_integer_value(sev));
    const char *msg = json_string_value(json_object_get(o, "msg"));
    /* Who acknowledged it (any line of an acknowledged alert), or who took it back and why. */
    json_t *ack = json_object_get(o, "ack"), *unack = json_object_get(o, "unack");
    const char *who = json_string_value(json_object_get(ack ? ack : unack, "author"));
    const char *why = json_string_value(json_object_get(ack, "comment"));
    if (unack != NULL)
        why = json_string_value(json_object_get(unack, "reason"));
    text_table_cell(stdout, json_string_value(json_object_get(o, "outcome")) ?: "?", 7);
    printf("v%-9" JSON_INTEGER_FORMAT " sev %-4s ",
           json_integer_value(json_object_get(o, "version")), sevbuf);
    text_table_put(stdout, json_string_value(json_object_get(o, "host")) ?: "?", SIZE_MAX);
    putchar('/');
    text_table_put(stdout, json_string_value(json_object_get(o, "component")) ?: "?", SIZE_MAX);
    if (msg != NULL) {
        fputs("  ", stdout);
        text_table_put(stdout, msg, SIZE_MAX);
    }
    if (ack != NULL || unack != NULL) {
        printf("  [%s%s", ack != NULL ? "acked" : "unacked", who ? " by " : "");
        text_table_put(stdout, who, SIZE_MAX);
        fputs(": ", stdout);
        text_table_put(stdout, why, SIZE_MAX);
        putchar(']');
    }
    putchar('\n');
    json_decref(o);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
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
    say("%s", msg);
}

static void print_change(const char *line, size_t len, void *data)
{
    struct out *o = data;
    if (o->text)
        print_text((amqp_bytes_t){.len = len, .bytes = (void *)line});
    else
        printf("%.*s\n", (int)len, line);
}

/* Whether stdout and stderr are one terminal (both ttys, the same device). */
static bool same_terminal(void)
{
    struct stat o, e;
    return isatty(STDOUT_FILENO) && isatty(STDERR_FILENO) && fstat(STDOUT_FILENO, &o) == 0 &&
           fstat(STDERR_FILENO, &e) == 0 && o.st_rdev == e.st_rdev;
}

/* Draw the table: in place on a terminal (sized to it, coloured unless NO_COLOR), else
 * appended, a blank line after it. */
static void draw_table(struct view *v)
{
    struct winsize ws = {0};
    bool tty = screen.on && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0;
    if (tty)
        fputs("\033[H\033[2J", stdout); /* home, clear */
    struct view_table t = {.max_rows = tty && ws.ws_row > 3 ? ws.ws_row - 3u : 0,
                           .width = tty && ws.ws_col > 40 ? ws.ws_col : 120,
                           .color = tty && screen.color,
                           .now_ms = change_now_ms(),
                           .status = screen.on ? screen.status : NULL};
    view_print_table(v, stdout, &t);
    if (!tty)
        putchar('\n');
    fflush(stdout);
}

/* Write the view file and/or redraw the table (the table only when it changed). */
static void show_view(struct view *v, const struct args *a)
{
    char err[4400];
    if (a->view_file != NULL &&
        view_write_file(v, a->view_file, change_now_ms(), err, sizeof(err)) != 0)
        say("%s", err);
    if (a->format == FORMAT_TABLE && view_dirty(v))
        draw_table(v);
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
 * (the output cannot be written: stop) or -EPIPE (the ack did not go: the connection; why
 * says so). */
static int ack_written(amqp_connection_state_t conn, uint64_t tag, char *why, size_t whylen)
{
    if (fflush(stdout) != 0) {
        fprintf(stderr, "injector-consume: writing output: %s\n", strerror(errno));
        return -EIO;
    }
    int rc = amqp_basic_ack(conn, CHANNEL, tag, 1);
    if (rc != AMQP_STATUS_OK) {
        amqp_rpc_reply_t r = {.reply_type = AMQP_RESPONSE_LIBRARY_EXCEPTION, .library_error = rc};
        why_lost(conn, r, "ack", why, whylen);
        return -EPIPE;
    }
    return 0;
}

/* The node in use failed (what: which and why): count it, say so (amqp_nodes_may_say: a
 * cluster down for hours stays a few lines), and move to the next node, at once or after
 * the pause (amqp_nodes.h). Returns false when a command that does not wait (!wait) has
 * now tried every node: it gives up. */
static bool next_node(const struct args *a, const char *what, bool wait)
{
    int pause = amqp_nodes_failed(a->nodes);
    if (!wait && amqp_nodes_all_failed(a->nodes)) {
        say("%s", what); /* a command: stderr (no table) */
        return false;
    }
    const char *next = amqp_nodes_name(a->nodes, amqp_nodes_current(a->nodes));
    uint64_t untold = 0;
    if (amqp_nodes_may_say(a->nodes, sink_log_now_ms(), &untold)) {
        char more[96] = "";
        if (untold > 0)
            snprintf(more, sizeof(more), " (and %" PRIu64 " lines like it in the last %d s)",
                     untold, AMQP_NODES_TOLD_EVERY_MS / 1000);
        if (pause == 0)
            say("%s; trying %s now%s", what, next, more);
        else if (amqp_nodes_count(a->nodes) == 1)
            say("%s; retrying in %u ms%s", what, (unsigned)pause, more);
        else
            say("%s; every node failed: retrying in %u ms, from %s%s", what, (unsigned)pause, next,
                more);
    }
    pause_s(pause / 1000.0);
    return true;
}

/* A connection to a node that serves, the queue declared and bound (not consumed yet): the
 * current node, else the next. The queue is bound before any snapshot is taken, so no
 * change falls between. A view (wait) waits as long as it takes; a command gives up once
 * every node has failed. Returns NULL then, or when asked to stop. */
static amqp_connection_state_t attach(const struct args *a, char **password, amqp_bytes_t *queue,
                                      bool wait)
{
    char err[1024], why[900];
    while (!stopping) {
        size_t i = amqp_nodes_current(a->nodes);
        const char *name = amqp_nodes_name(a->nodes, i);
        amqp_connection_state_t conn =
            connect_to(a, amqp_nodes_url(a->nodes, i), name, password, err, sizeof(err));
        if (conn != NULL) {
            if (setup_queue(conn, a, queue, why, sizeof(why)) == 0)
                return conn;
            snprintf(err, sizeof(err), "%s: %s", name, why);
            destroy_quietly(conn);
        }
        if (!next_node(a, err, wait))
            return NULL;
    }
    return NULL;
}

/* A named quorum queue is replicated across the cluster: it outlives the node we lose and
 * keeps every change published meanwhile. Any other queue may have lost some: a private
 * queue goes with its connection, a classic one is out of reach while its node is down. */
static bool queue_outlives_node(const struct args *a)
{
    return a->queue != NULL && a->queue_type != NULL && strcmp(a->queue_type, "quorum") == 0;
}

/* Consume from the queue on the node attach() found; failing that, from the next one. A
 * view resynchronises first unless the queue kept the changes (redeliveries are then
 * skipped by version, and a gap would still resynchronise). Returns the connection, or
 * NULL: given up (a command, every node failed) or asked to stop. */
static amqp_connection_state_t consume_from(amqp_connection_state_t conn, const struct args *a,
                                            char **password, amqp_bytes_t *queue, struct view *view,
                                            bool again)
{
    char err[1024], why[900];
    while (conn != NULL) {
        const char *name = amqp_nodes_name(a->nodes, amqp_nodes_current(a->nodes));
        if (again && view != NULL && !queue_outlives_node(a))
            view_resync_all(view, "after a reconnect to the broker");
        else if (again && view != NULL)
            say("quorum queue %s kept the changes: the view goes on from where it was", a->queue);
        if (start_consuming(conn, a, *queue, why, sizeof(why)) == 0) {
            uint64_t untold = amqp_nodes_ok(a->nodes);
            char more[96] = "";
            if (untold > 0)
                snprintf(more, sizeof(more), " (%" PRIu64 " lines about the trouble were left out)",
                         untold);
            if (again)
                say("connected to the broker again at %s%s%s", name,
                    view == NULL && a->queue == NULL
                        ? " (a new private queue: changes published meanwhile are not in "
                          "it; --queue NAME keeps them)"
                        : "",
                    more);
            else if (amqp_nodes_count(a->nodes) > 1 || untold > 0)
                say("consuming from %s%s", name, more);
            return conn;
        }
        destroy_quietly(conn);
        snprintf(err, sizeof(err), "%s: %s", name, why);
        if (!next_node(a, err, view != NULL))
            return NULL;
        conn = attach(a, password, queue, view != NULL);
        again = true;
    }
    return NULL;
}

/* The node in use stopped serving (why): to the next node at once, and consume there. */
static amqp_connection_state_t failover(amqp_connection_state_t conn, const struct args *a,
                                        char **password, amqp_bytes_t *queue, struct view *view,
                                        const char *why)
{
    char what[1200];
    destroy_quietly(conn);
    snprintf(what, sizeof(what), "lost the broker at %s: %s",
             amqp_nodes_name(a->nodes, amqp_nodes_current(a->nodes)), why);
    if (!next_node(a, what, view != NULL))
        return NULL;
    conn = attach(a, password, queue, view != NULL);
    return consume_from(conn, a, password, queue, view, true);
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
    char why[1024];

    if (parse_args(argc, argv, &a) != 0) {
        free_args(&a);
        return 2;
    }
    if (a.token_file != NULL) {
        /* the same reader as passwords: first line, trailing newline dropped; a file that
         * cannot be read is a failure at run time (1), like the password file */
        int rc = secret_read_file(a.token_file, &a.token);
        if (rc != 0) {
            fprintf(stderr, "injector-consume: %s: %s\n", a.token_file,
                    rc == -ENODATA ? "empty" : strerror(-rc));
            free_args(&a);
            return 1;
        }
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGUSR1, on_signal);
    signal(SIGPIPE, SIG_IGN);

    struct out o = {.a = &a, .text = a.format == FORMAT_TEXT};
    if (a.format == FORMAT_TABLE && isatty(STDOUT_FILENO)) {
        const char *no_color = getenv("NO_COLOR"); /* no-color.org: set and not empty */
        screen.on = true;
        screen.stderr_there = same_terminal();
        screen.color = no_color == NULL || no_color[0] == '\0';
    }
    /* A view is a service: it waits for its broker. A command says why and ends (exit 1). */
    amqp_connection_state_t conn = attach(&a, &password, &queue, a.n_collectors > 0 && !a.setup);
    if (conn == NULL) {
        status = stopping ? 0 : 1; /* asked to stop: not a failure */
        goto out;
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
        screen.view = view;
        view_sync(view);
        fflush(stdout);
        show_view(view, &a);
    }
    conn = consume_from(conn, &a, &password, &queue, view, false);
    if (conn == NULL) {
        status = stopping ? 0 : 1;
        goto out;
    }

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
            } else if (screen.on && t - shown >= show_every) {
                draw_table(view); /* unchanged: the ages move */
                shown = now_s();
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
                status = a.count > 0 ? 1 : 0; /* fewer changes than asked for */
                if (a.count > 0)
                    fprintf(stderr, "injector-consume: %ld of %ld changes, none for %.1f s\n",
                            received, a.count, a.timeout);
                goto out;
            }
            continue;
        }
        if (r.reply_type != AMQP_RESPONSE_NORMAL) {
            why_lost(conn, r, "consume", why, sizeof(why));
            n_pending = 0; /* those tags were the old channel's: redelivered, or resynced */
            if (stopping) {
                status = 0;
                goto out;
            }
            conn = failover(conn, &a, &password, &queue, view, why);
            if (conn == NULL) {
                status = stopping ? 0 : 1;
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
            int rc = ack_written(conn, pending, why, sizeof(why));
            n_pending = 0;
            if (rc == -EIO)
                goto out;
            if (rc != 0 && (conn = failover(conn, &a, &password, &queue, view, why)) == NULL) {
                status = stopping ? 0 : 1;
                goto out;
            }
        }
    }
    status = 0;
out:
    if (conn != NULL && n_pending > 0 && ack_written(conn, pending, why, sizeof(why)) == -EIO)
        status = 1;
    if (view != NULL) {
        show_view(view, &a);
        screen.view = NULL;
        print_view_stats(view);
        view_free(view);
    }
    close_connection(conn);
    amqp_bytes_free(queue);
    secret_free(password);
    free_args(&a);
    return status;
}
