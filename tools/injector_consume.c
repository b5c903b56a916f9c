/* injector_consume.c - follow the change stream from RabbitMQ and print it. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <jansson.h>

#include "sink/sink_amqp.h"

#define MAX_BINDS 32
#define CHANNEL   1

struct args {
    const char *url, *exchange, *queue, *password_file, *format;
    const char *ca_file, *cert_file, *key_file;
    const char *binds[MAX_BINDS];
    int n_binds;
    unsigned prefetch;
    long count;
    double timeout;
    bool setup;
};

static volatile sig_atomic_t stopping;

static void on_signal(int sig)
{
    (void)sig;
    stopping = 1;
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: injector-consume --amqp URL [OPTION]...\n"
            "Follow injector's change stream from RabbitMQ: print each change as one JSON\n"
            "line (or an aligned text line), acknowledging it only after it is written.\n\n"
            "  --amqp URL            amqp[s]://user[:password]@host[:port][/vhost]\n"
            "                        (or $INJECTOR_AMQP_URL)\n"
            "  --ca-file PATH        amqps: CA certificates to verify the broker with\n"
            "  --cert-file PATH      amqps: client certificate; --key-file PATH its key\n"
            "  --password-file PATH  read the password from this file\n"
            "  --exchange NAME       the collector's exchange [injector]\n"
            "  --queue NAME          a durable named queue (survives us); default: a private\n"
            "                        queue that goes away when we do\n"
            "  --bind KEY            routing key pattern, repeatable [#]; keys are\n"
            "                        <outcome>.<severity>.<host>, e.g. 'raise.#', '*.1.#'\n"
            "  --prefetch N          unacknowledged deliveries at a time [100]\n"
            "  --format json|text    output format [json]\n"
            "  --count N             exit after N changes\n"
            "  --timeout S           exit after S seconds without a change\n"
            "  --setup               declare and bind the queue, then exit (so it collects\n"
            "                        changes before anyone consumes)\n"
            "  -h, --help            show this help\n\n"
            "Exit status: 0 done, 1 connection failed or lost, 2 usage error,\n"
            "3 --timeout reached before --count changes.\n");
}

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"amqp", required_argument, NULL, 'a'},      {"exchange", required_argument, NULL, 'e'},
        {"queue", required_argument, NULL, 'q'},     {"bind", required_argument, NULL, 'b'},
        {"prefetch", required_argument, NULL, 'p'},  {"format", required_argument, NULL, 'f'},
        {"count", required_argument, NULL, 'n'},     {"timeout", required_argument, NULL, 't'},
        {"password-file", required_argument, NULL, 'P'}, {"setup", no_argument, NULL, 's'},
        {"ca-file", required_argument, NULL, 'A'},   {"cert-file", required_argument, NULL, 'E'},
        {"key-file", required_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},            {NULL, 0, NULL, 0},
    };
    a->url = getenv("INJECTOR_AMQP_URL");
    a->exchange = "injector";
    a->format = "json";
    a->prefetch = 100;
    a->count = -1;
    a->timeout = -1;
    opterr = 0;
    int ch;
    char *end;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'a': a->url = optarg; break;
        case 'e': a->exchange = optarg; break;
        case 'q': a->queue = optarg; break;
        case 'P': a->password_file = optarg; break;
        case 's': a->setup = true; break;
        case 'A': a->ca_file = optarg; break;
        case 'E': a->cert_file = optarg; break;
        case 'k': a->key_file = optarg; break;
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
            if (strcmp(optarg, "json") != 0 && strcmp(optarg, "text") != 0) {
                fprintf(stderr, "injector-consume: --format is json or text\n");
                return -1;
            }
            a->format = optarg;
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
        case 'h': usage(stdout); exit(0);
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
    if (a->n_binds == 0)
        a->binds[a->n_binds++] = "#";
    if (a->setup && a->queue == NULL) {
        fprintf(stderr, "injector-consume: --setup needs --queue NAME (a private queue would "
                        "vanish at once)\n");
        return -1;
    }
    return 0;
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
        fprintf(stderr, "injector-consume: --amqp: want amqp[s]://user[:password]@host[:port][/vhost]\n");
        goto fail;
    }
    if (info.vhost == NULL || info.vhost[0] == '\0')
        info.vhost = "/";
    password = info.password;
    if (a->password_file != NULL) {
        int rc = sink_amqp_read_password(a->password_file, password_buf);
        if (rc != 0) {
            fprintf(stderr, "injector-consume: %s: %s\n", a->password_file,
                    rc == -EINVAL ? "empty" : strerror(-rc));
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
    amqp_queue_declare_ok_t *ok =
        amqp_queue_declare(conn, CHANNEL, named ? amqp_cstring_bytes(a->queue) : amqp_empty_bytes,
                           0, named, !named, !named, amqp_empty_table);
    if (!reply_ok(amqp_get_rpc_reply(conn), "queue.declare"))
        return -1;
    *queue = amqp_bytes_malloc_dup(ok->queue);
    for (int i = 0; i < a->n_binds; i++) {
        amqp_queue_bind(conn, CHANNEL, *queue, amqp_cstring_bytes(a->exchange),
                        amqp_cstring_bytes(a->binds[i]), amqp_empty_table);
        if (!reply_ok(amqp_get_rpc_reply(conn), "queue.bind"))
            return -1;
    }
    return 0;
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

int main(int argc, char **argv)
{
    struct args a = {0};
    char *password = NULL;
    amqp_bytes_t queue = amqp_empty_bytes;
    int status = 1;
    long received = 0;

    if (parse_args(argc, argv, &a) != 0)
        return 2;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    amqp_connection_state_t conn = connect_to(&a, &password);
    if (conn == NULL)
        goto out;
    if (setup_queue(conn, &a, &queue) != 0)
        goto out;
    if (a.setup) {
        fprintf(stderr, "injector-consume: queue %.*s bound to %s\n", (int)queue.len,
                (char *)queue.bytes, a.exchange);
        status = 0;
        goto out;
    }
    amqp_basic_qos(conn, CHANNEL, 0, (uint16_t)a.prefetch, 0);
    if (!reply_ok(amqp_get_rpc_reply(conn), "basic.qos"))
        goto out;
    amqp_basic_consume(conn, CHANNEL, queue, amqp_empty_bytes, 0, 0, 0, amqp_empty_table);
    if (!reply_ok(amqp_get_rpc_reply(conn), "basic.consume"))
        goto out;

    bool text = strcmp(a.format, "text") == 0;
    double last = now_s();
    while (!stopping && (a.count < 0 || received < a.count)) {
        /* Wake at least every 200 ms to notice signals and the timeout. */
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
        if (!reply_ok(r, "consume"))
            goto out;
        if (text)
            print_text(env.message.body);
        else
            printf("%.*s\n", (int)env.message.body.len, (char *)env.message.body.bytes);
        /* Ack only what is written out: a consumer killed between the two gets it again. */
        if (fflush(stdout) != 0) {
            fprintf(stderr, "injector-consume: writing output: %s\n", strerror(errno));
            amqp_destroy_envelope(&env);
            goto out;
        }
        int rc = amqp_basic_ack(conn, CHANNEL, env.delivery_tag, 0);
        amqp_destroy_envelope(&env);
        if (rc != AMQP_STATUS_OK) {
            fprintf(stderr, "injector-consume: ack: %s\n", amqp_error_string2(rc));
            goto out;
        }
        received++;
        last = now_s();
    }
    status = 0;
out:
    if (conn != NULL) {
        amqp_channel_close(conn, CHANNEL, AMQP_REPLY_SUCCESS);
        amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(conn);
    }
    amqp_bytes_free(queue);
    free(password);
    return status;
}
