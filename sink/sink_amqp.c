/* sink_amqp.c - the AMQP sink: outbox on the loop thread, one publisher thread with confirms. */
#include "sink/sink_amqp.h"

#include "sink/outbox.h"
#include "sink/secret.h"

#include <errno.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>

#define CHANNEL        1
#define BACKOFF_MIN_MS 500
#define BACKOFF_MAX_MS 30000
#define SYNC_EVERY_MS  1000
#define IDLE_POLL_MS   200 /* also bounds how late a heartbeat is sent */

struct sink_amqp {
    struct sink base;
    struct sink_amqp_config cfg;
    char *url_buf; /* amqp_parse_url writes into it; info points into it */
    struct amqp_connection_info info;
    char *password;
    char *url_shown; /* the URL without its password, for logs */
    char *exchange;
    struct outbox *ob;

    /* A new target from sink_amqp_retarget, taken over by the publisher thread. */
    pthread_mutex_t target_mu;
    struct sink_amqp *pending; /* only its target fields are used */
    atomic_bool retarget;

    pthread_t thread;
    bool thread_started;
    int stopfd;
    atomic_bool stop;
    atomic_llong deadline_ms;
    atomic_int sockfd; /* for a forced shutdown(2) when the grace period is over */

    /* publisher thread only */
    amqp_connection_state_t conn;
    struct outbox_msg **inflight; /* published (or to be republished) and unconfirmed */
    bool *acked;
    int64_t *taken_ms;
    size_t n_inflight, sent;
    uint64_t first_tag; /* delivery tag of inflight[0] once sent */
    char reason[256];   /* why the connection was lost */

    /* counters, any thread */
    atomic_ullong published, confirmed, nacked, returned, reconnects;
    atomic_llong oldest_ms;
    atomic_bool connected;
};

static void take_target(struct sink_amqp *a);
static void target_free(struct sink_amqp *a);

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void say(struct sink_amqp *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(struct sink_amqp *a, int level, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (a->cfg.log != NULL)
        a->cfg.log(level, msg);
}

int sink_amqp_routing_key(const struct change *c, char *buf, size_t size)
{
    const struct alert *al = c->alert;
    if (alert_has_num(al, ALERT_SEVERITY))
        return snprintf(buf, size, "%s.%" PRId64 ".%.*s", change_outcome_name(c->outcome),
                        al->num[ALERT_SEVERITY], (int)al->host_len, al->host);
    return snprintf(buf, size, "%s.none.%.*s", change_outcome_name(c->outcome), (int)al->host_len,
                    al->host);
}

/* ---- the publisher thread ---------------------------------------------------------- */

static void describe_reply(amqp_rpc_reply_t r, const char *what, char *buf, size_t size)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        snprintf(buf, size, "%s: ok", what);
        return;
    case AMQP_RESPONSE_NONE:
        snprintf(buf, size, "%s: no reply from the broker", what);
        return;
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        snprintf(buf, size, "%s: %s", what, amqp_error_string2(r.library_error));
        return;
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            snprintf(buf, size, "%s: broker closed the connection: %u %.*s", what, m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            snprintf(buf, size, "%s: broker closed the channel: %u %.*s", what, m->reply_code,
                     (int)m->reply_text.len, (const char *)m->reply_text.bytes);
        } else {
            snprintf(buf, size, "%s: broker error (method 0x%08x)", what, r.reply.id);
        }
        return;
    }
}

static void set_keepalive(int fd)
{
    /* A broker host that vanishes (no FIN, no RST) is noticed in ~1 min even when idle;
     * heartbeats catch it sooner while the connection is in use. */
    int on = 1, idle = 30, intvl = 10, cnt = 3;
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

static void disconnect(struct sink_amqp *a)
{
    if (a->conn == NULL)
        return;
    atomic_store(&a->sockfd, -1);
    amqp_destroy_connection(a->conn);
    a->conn = NULL;
    a->sent = 0; /* everything unconfirmed is published again, in order, after reconnect */
    atomic_store(&a->connected, false);
}

static int connect_broker(struct sink_amqp *a)
{
    struct timeval open_tv = {5, 0}, rpc_tv = {10, 0};
    amqp_rpc_reply_t r;

    a->conn = amqp_new_connection();
    amqp_socket_t *sock = NULL;
    if (a->conn != NULL)
        sock = a->info.ssl ? amqp_ssl_socket_new(a->conn) : amqp_tcp_socket_new(a->conn);
    if (sock == NULL) {
        snprintf(a->reason, sizeof(a->reason), "out of memory");
        goto fail;
    }
    if (a->info.ssl) {
        /* The broker's certificate and name are checked; a client certificate is sent
         * when one is configured. */
        amqp_ssl_socket_set_verify_peer(sock, 1);
        amqp_ssl_socket_set_verify_hostname(sock, 1);
        if (a->cfg.ca_file != NULL && amqp_ssl_socket_set_cacert(sock, a->cfg.ca_file) != 0) {
            snprintf(a->reason, sizeof(a->reason), "TLS: cannot use CA file %s", a->cfg.ca_file);
            goto fail;
        }
        if (a->cfg.cert_file != NULL &&
            amqp_ssl_socket_set_key(sock, a->cfg.cert_file, a->cfg.key_file) != 0) {
            snprintf(a->reason, sizeof(a->reason), "TLS: cannot use certificate %s / key %s",
                     a->cfg.cert_file, a->cfg.key_file ? a->cfg.key_file : "(none)");
            goto fail;
        }
    }
    int rc = amqp_socket_open_noblock(sock, a->info.host, a->info.port, &open_tv);
    if (rc != AMQP_STATUS_OK) {
        snprintf(a->reason, sizeof(a->reason), "TCP connect to %s:%d: %s", a->info.host,
                 a->info.port, amqp_error_string2(rc));
        goto fail;
    }
    set_keepalive(amqp_get_sockfd(a->conn));
    atomic_store(&a->sockfd, amqp_get_sockfd(a->conn));
    amqp_set_rpc_timeout(a->conn, &rpc_tv);
    amqp_set_handshake_timeout(a->conn, &rpc_tv);

    r = amqp_login(a->conn, a->info.vhost, 0, 131072, (int)a->cfg.heartbeat_s,
                   AMQP_SASL_METHOD_PLAIN, a->info.user, a->password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        describe_reply(r, "login", a->reason, sizeof(a->reason));
        goto fail;
    }
    amqp_channel_open(a->conn, CHANNEL);
    if ((r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL) {
        describe_reply(r, "channel.open", a->reason, sizeof(a->reason));
        goto fail;
    }
    amqp_exchange_declare(a->conn, CHANNEL, amqp_cstring_bytes(a->exchange),
                          amqp_cstring_bytes("topic"), 0, 1, 0, 0, amqp_empty_table);
    if ((r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL) {
        describe_reply(r, "exchange.declare", a->reason, sizeof(a->reason));
        goto fail;
    }
    amqp_confirm_select(a->conn, CHANNEL);
    if ((r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL) {
        describe_reply(r, "confirm.select", a->reason, sizeof(a->reason));
        goto fail;
    }
    a->sent = 0;
    a->first_tag = 1;
    atomic_store(&a->connected, true);
    return 0;
fail:
    disconnect(a);
    return -1;
}

static int publish(struct sink_amqp *a, size_t i)
{
    const struct outbox_msg *m = a->inflight[i];
    amqp_basic_properties_t props;
    memset(&props, 0, sizeof(props));
    props._flags =
        AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_APP_ID_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = 2; /* persistent */
    props.app_id = amqp_cstring_bytes("injector");
    amqp_bytes_t rk = {m->rk_len, (void *)outbox_msg_rk(m)};
    amqp_bytes_t body = {m->body_len, (void *)outbox_msg_body(m)};
    int rc = amqp_basic_publish(a->conn, CHANNEL, amqp_cstring_bytes(a->exchange), rk,
                                a->cfg.mandatory, 0, &props, body);
    if (rc != AMQP_STATUS_OK) {
        snprintf(a->reason, sizeof(a->reason), "publish: %s", amqp_error_string2(rc));
        return -1;
    }
    atomic_fetch_add(&a->published, 1);
    return 0;
}

/* Drop the confirmed run at the front of the window. */
static void pop_confirmed(struct sink_amqp *a)
{
    size_t k = 0;
    while (k < a->sent && a->acked[k]) {
        outbox_confirmed(a->ob, a->inflight[k]);
        k++;
    }
    if (k == 0)
        return;
    memmove(a->inflight, a->inflight + k, (a->n_inflight - k) * sizeof(*a->inflight));
    memmove(a->acked, a->acked + k, (a->n_inflight - k) * sizeof(*a->acked));
    memmove(a->taken_ms, a->taken_ms + k, (a->n_inflight - k) * sizeof(*a->taken_ms));
    a->n_inflight -= k;
    a->sent -= k;
    a->first_tag += k;
    atomic_fetch_add(&a->confirmed, k);
    atomic_store(&a->oldest_ms, a->n_inflight > 0 ? a->taken_ms[0] : 0);
}

static void on_ack(struct sink_amqp *a, uint64_t tag, bool multiple)
{
    if (tag < a->first_tag)
        return;
    uint64_t last = tag - a->first_tag; /* index */
    if (last >= a->sent)
        return; /* not one of ours on this channel: ignore */
    for (uint64_t i = multiple ? 0 : last; i <= last; i++)
        a->acked[i] = true;
    pop_confirmed(a);
}

/* Read every frame that is there, without waiting. Returns 0, or -1 with a->reason. */
static int read_frames(struct sink_amqp *a)
{
    for (;;) {
        amqp_frame_t f;
        struct timeval tv = {0, 0};
        int rc = amqp_simple_wait_frame_noblock(a->conn, &f, &tv);
        if (rc == AMQP_STATUS_TIMEOUT)
            return 0;
        if (rc != AMQP_STATUS_OK) {
            snprintf(a->reason, sizeof(a->reason), "%s", amqp_error_string2(rc));
            return -1;
        }
        if (f.frame_type != AMQP_FRAME_METHOD)
            continue;
        switch (f.payload.method.id) {
        case AMQP_BASIC_ACK_METHOD: {
            amqp_basic_ack_t *ack = f.payload.method.decoded;
            on_ack(a, ack->delivery_tag, ack->multiple);
            break;
        }
        case AMQP_BASIC_NACK_METHOD: {
            amqp_basic_nack_t *nack = f.payload.method.decoded;
            atomic_fetch_add(&a->nacked, 1);
            /* The broker could not take it: publish everything unconfirmed again, in
             * order, on a fresh connection (at-least-once, same versions). */
            snprintf(a->reason, sizeof(a->reason), "broker nacked delivery %" PRIu64 "%s",
                     (uint64_t)nack->delivery_tag, nack->multiple ? " and before" : "");
            return -1;
        }
        case AMQP_BASIC_RETURN_METHOD: {
            amqp_basic_return_t *ret = f.payload.method.decoded;
            uint64_t n = atomic_fetch_add(&a->returned, 1) + 1;
            if (n <= 5 || n % 10000 == 0)
                say(a, SINK_LOG_WARNING,
                    "amqp: change with routing key %.*s was unroutable (no queue bound; "
                    "%" PRIu64 " so far)",
                    (int)ret->routing_key.len, (const char *)ret->routing_key.bytes, n);
            amqp_message_t msg;
            amqp_rpc_reply_t r = amqp_read_message(a->conn, f.channel, &msg, 0);
            if (r.reply_type != AMQP_RESPONSE_NORMAL) {
                describe_reply(r, "reading a returned message", a->reason, sizeof(a->reason));
                return -1;
            }
            amqp_destroy_message(&msg);
            break;
        }
        case AMQP_CHANNEL_CLOSE_METHOD: {
            amqp_channel_close_t *m = f.payload.method.decoded;
            snprintf(a->reason, sizeof(a->reason), "broker closed the channel: %u %.*s",
                     m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
            return -1;
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
            amqp_connection_close_t *m = f.payload.method.decoded;
            snprintf(a->reason, sizeof(a->reason), "broker closed the connection: %u %.*s",
                     m->reply_code, (int)m->reply_text.len, (const char *)m->reply_text.bytes);
            return -1;
        }
        default:
            break;
        }
        amqp_maybe_release_buffers(a->conn);
    }
}

/* Publish what is waiting: the unsent part of the window first (after a reconnect), then
 * new changes while the window has room. *drained tells whether the outbox ran dry (else
 * the window filled first). Returns 0 or -1 (connection lost). */
static int fill_window(struct sink_amqp *a, bool *drained)
{
    *drained = false;
    while (a->sent < a->n_inflight) {
        if (publish(a, a->sent) != 0)
            return -1;
        a->sent++;
    }
    while (a->n_inflight < a->cfg.confirm_window) {
        struct outbox_msg *m = outbox_take(a->ob);
        if (m == NULL) {
            *drained = true;
            break;
        }
        size_t i = a->n_inflight++;
        a->inflight[i] = m;
        a->acked[i] = false;
        a->taken_ms[i] = mono_ms();
        if (i == 0)
            atomic_store(&a->oldest_ms, a->taken_ms[0]);
        if (publish(a, i) != 0)
            return -1;
        a->sent++;
    }
    return 0;
}

/* Sleep up to ms, or until asked to stop. */
static void wait_stop(struct sink_amqp *a, int ms)
{
    struct pollfd p = {.fd = a->stopfd, .events = POLLIN};
    poll(&p, 1, ms);
}

static bool past_deadline(struct sink_amqp *a)
{
    return atomic_load(&a->stop) && mono_ms() >= atomic_load(&a->deadline_ms);
}

static void *publisher_main(void *arg)
{
    struct sink_amqp *a = arg;
    int backoff = BACKOFF_MIN_MS;
    bool ever = false;
    int64_t next_sync = mono_ms() + SYNC_EVERY_MS;

    for (;;) {
        take_target(a);
        if (mono_ms() >= next_sync) {
            outbox_sync(a->ob);
            next_sync = mono_ms() + SYNC_EVERY_MS;
        }
        if (a->conn == NULL) {
            if (atomic_load(&a->stop))
                break; /* no broker at shutdown: the rest is spooled at once */
            if (connect_broker(a) != 0) {
                say(a, SINK_LOG_WARNING, "amqp: cannot connect to %s: %s; retrying in %.1f s",
                    a->url_shown, a->reason, backoff / 1000.0);
                wait_stop(a, backoff);
                backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
                continue;
            }
            if (ever)
                atomic_fetch_add(&a->reconnects, 1);
            ever = true;
            backoff = BACKOFF_MIN_MS;
            say(a, SINK_LOG_INFO, "amqp: connected to %s, exchange %s%s", a->url_shown, a->exchange,
                a->n_inflight ? "; publishing the unconfirmed changes again" : "");
        }
        bool drained;
        if (fill_window(a, &drained) != 0 || read_frames(a) != 0) {
            say(a, SINK_LOG_ERROR,
                "amqp: connection to %s lost: %s; %zu changes unconfirmed, they are "
                "published again after reconnecting",
                a->url_shown, a->reason, a->n_inflight);
            disconnect(a);
            continue;
        }
        if (atomic_load(&a->stop) && (a->n_inflight == 0 || past_deadline(a)))
            break;
        /* Acks made room and more is waiting: publish now, not after the next frame. */
        if (!drained && a->n_inflight < a->cfg.confirm_window)
            continue;
        struct pollfd p[3] = {
            {.fd = amqp_get_sockfd(a->conn), .events = POLLIN},
            {.fd = outbox_wakefd(a->ob), .events = POLLIN},
            {.fd = a->stopfd, .events = POLLIN},
        };
        /* Frames may already sit in librabbitmq's buffer, where poll cannot see them. */
        int timeout =
            amqp_frames_enqueued(a->conn) || amqp_data_in_buffer(a->conn) ? 0 : IDLE_POLL_MS;
        if (poll(p, a->n_inflight < a->cfg.confirm_window ? 3 : 1, timeout) > 0 &&
            (p[1].revents & POLLIN))
            outbox_clear_wake(a->ob);
    }
    if (a->conn != NULL) {
        amqp_channel_close(a->conn, CHANNEL, AMQP_REPLY_SUCCESS);
        amqp_connection_close(a->conn, AMQP_REPLY_SUCCESS);
        disconnect(a);
    }
    return NULL;
}

/* ---- the sink, on the loop thread -------------------------------------------------- */

static int amqp_write(struct sink *sk, const struct change *c, const char *json, size_t len)
{
    struct sink_amqp *a = (struct sink_amqp *)sk;
    char rk[ALERT_KEY_MAX + 64];
    int n = sink_amqp_routing_key(c, rk, sizeof(rk));
    return outbox_push(a->ob, c->version, rk, (size_t)n < sizeof(rk) ? (size_t)n : sizeof(rk) - 1,
                       json, len);
}

static int amqp_flush(struct sink *sk)
{
    return outbox_flush(((struct sink_amqp *)sk)->ob);
}

static void amqp_counters(struct sink *sk, counter_fn fn, void *d)
{
    struct sink_amqp *a = (struct sink_amqp *)sk;
    struct outbox_stats os;
    outbox_stats(a->ob, &os);
    int64_t oldest = atomic_load(&a->oldest_ms);
    counter_gauge(fn, d, "amqp_up", COUNTER_UNIT_NONE, atomic_load(&a->connected),
                  "1 while connected to the broker.");
    counter_gauge(fn, d, "queued", COUNTER_UNIT_NONE, os.queued,
                  "Changes in the outbox, waiting for the broker.");
    counter_total(fn, d, "spooled", COUNTER_UNIT_NONE, os.spooled,
                  "Changes written to the spool (the broker slow or down).");
    counter_gauge(fn, d, "spool_bytes", COUNTER_UNIT_BYTES, os.spool_bytes,
                  "Bytes in the spool now.");
    counter_total(fn, d, "amqp_sent", COUNTER_UNIT_NONE, atomic_load(&a->published),
                  "Messages sent to the broker, again after a reconnect included.");
    counter_total(fn, d, "confirmed", COUNTER_UNIT_NONE, atomic_load(&a->confirmed),
                  "Changes the broker confirmed: it has them.");
    counter_total(fn, d, "nacked", COUNTER_UNIT_NONE, atomic_load(&a->nacked),
                  "Changes the broker refused (published again).");
    counter_total(fn, d, "returned", COUNTER_UNIT_NONE, atomic_load(&a->returned),
                  "Changes no queue was bound for (--amqp-mandatory).");
    counter_total(fn, d, "reconnects", COUNTER_UNIT_NONE, atomic_load(&a->reconnects),
                  "Connections to the broker after the first.");
    counter_total(fn, d, "lost", COUNTER_UNIT_NONE, os.lost,
                  "Changes lost: the outbox full without a spool, or the spool failing.");
    counter_seconds(fn, d, "oldest_unconfirmed_s",
                    oldest ? (double)(mono_ms() - oldest) / 1000.0 : 0.0,
                    "Age of the oldest change the broker has not confirmed.");
}

static void amqp_free(struct sink *sk)
{
    struct sink_amqp *a = (struct sink_amqp *)sk;
    if (a->thread_started) {
        outbox_flush(a->ob);
        atomic_store(&a->deadline_ms, mono_ms() + (int64_t)a->cfg.flush_timeout_s * 1000);
        atomic_store(&a->stop, true);
        uint64_t one = 1;
        if (write(a->stopfd, &one, sizeof(one)) < 0) {
        }
        /* A publish blocked on a stuck broker does not see the stop flag: past the grace
         * period (and a little), cut the socket under it. */
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)a->cfg.flush_timeout_s + 2;
        if (pthread_timedjoin_np(a->thread, NULL, &until) != 0) {
            int fd = atomic_load(&a->sockfd);
            if (fd >= 0)
                shutdown(fd, SHUT_RDWR);
            pthread_join(a->thread, NULL);
        }
        uint64_t confirmed = atomic_load(&a->confirmed);
        size_t unconfirmed = a->n_inflight;
        long spooled = outbox_spool_rest(a->ob, a->inflight, a->n_inflight);
        a->n_inflight = 0;
        if (spooled > 0)
            say(a, SINK_LOG_NOTICE,
                "amqp: stopped; %" PRIu64 " changes confirmed, %ld (%zu of them "
                "unconfirmed) spooled to %s for the next start",
                confirmed, spooled, unconfirmed, a->cfg.spool_dir);
        else if (spooled < 0)
            say(a, SINK_LOG_ERROR,
                "amqp: stopped; %zu unconfirmed and the queued changes could not be "
                "spooled (%s): they are lost",
                unconfirmed, a->cfg.spool_dir ? strerror((int)-spooled) : "no --spool-dir");
        else
            say(a, SINK_LOG_INFO, "amqp: stopped; %" PRIu64 " changes confirmed, none left over",
                confirmed);
    }
    outbox_free(a->ob);
    if (a->stopfd >= 0)
        close(a->stopfd);
    free(a->inflight);
    free(a->acked);
    free(a->taken_ms);
    target_free(a);
    if (a->pending != NULL) {
        target_free(a->pending);
        free(a->pending);
    }
    pthread_mutex_destroy(&a->target_mu);
    free(a);
}

static const struct sink_ops amqp_ops = {
    .name = "amqp",
    .write = amqp_write,
    .flush = amqp_flush,
    .counters = amqp_counters,
    .free = amqp_free,
};

/* Fill a's target (URL, credentials, exchange, the URL shown in logs) from cfg.
 * Returns 0, -EINVAL or -ENOMEM; logs why. */
static int target_parse(struct sink_amqp *a, const struct sink_amqp_config *cfg)
{
    int rc;
    if ((a->url_buf = strdup(cfg->url)) == NULL ||
        (a->exchange = strdup(cfg->exchange ? cfg->exchange : "injector")) == NULL)
        return -ENOMEM;
    amqp_default_connection_info(&a->info);
    if (amqp_parse_url(a->url_buf, &a->info) != AMQP_STATUS_OK) {
        say(a, SINK_LOG_ERROR,
            "amqp: cannot use URL (want amqp[s]://user[:password]@host[:port][/vhost])");
        return -EINVAL;
    }
    /* "amqp://host:5672/" parses to vhost "": users mean the default vhost by it. */
    if (a->info.vhost == NULL || a->info.vhost[0] == '\0')
        a->info.vhost = "/";
    const char *env = getenv("INJECTOR_AMQP_PASSWORD");
    if (cfg->password_file != NULL) {
        if ((rc = secret_read_file(cfg->password_file, &a->password)) != 0) {
            say(a, SINK_LOG_ERROR, "amqp: cannot read the password file %s: %s", cfg->password_file,
                rc == -ENODATA ? "empty" : strerror(-rc));
            return -EINVAL;
        }
    } else if ((a->password = strdup(env != NULL ? env : a->info.password)) == NULL) {
        return -ENOMEM;
    }
    char shown[1024];
    if ((a->url_shown = strdup(secret_mask_url(cfg->url, shown, sizeof(shown)))) == NULL)
        return -ENOMEM;
    return 0;
}

static void target_free(struct sink_amqp *a)
{
    secret_free(a->password);
    free(a->url_buf);
    free(a->url_shown);
    free(a->exchange);
    a->password = a->url_buf = a->url_shown = a->exchange = NULL;
}

/* Publisher thread: take over a pending target, if any. */
static void take_target(struct sink_amqp *a)
{
    if (!atomic_exchange(&a->retarget, false))
        return;
    pthread_mutex_lock(&a->target_mu);
    struct sink_amqp *p = a->pending;
    a->pending = NULL;
    pthread_mutex_unlock(&a->target_mu);
    if (p == NULL)
        return;
    char *old = a->url_shown;
    a->url_shown = NULL;
    say(a, SINK_LOG_NOTICE,
        "amqp: switching from %s to %s, exchange %s; %zu unconfirmed changes are "
        "published there first",
        old ? old : "?", p->url_shown, p->exchange, a->n_inflight);
    free(old);
    disconnect(a); /* everything unconfirmed goes again, to the new target */
    target_free(a);
    a->url_buf = p->url_buf;
    a->info = p->info;
    a->password = p->password;
    a->url_shown = p->url_shown;
    a->exchange = p->exchange;
    free(p);
}

int sink_amqp_retarget(struct sink *sk, const struct sink_amqp_config *cfg)
{
    struct sink_amqp *a = (struct sink_amqp *)sk;
    struct sink_amqp *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    p->cfg.log = a->cfg.log;
    int rc = target_parse(p, cfg);
    if (rc != 0) {
        target_free(p);
        free(p);
        return rc;
    }
    pthread_mutex_lock(&a->target_mu);
    if (a->pending != NULL) {
        target_free(a->pending);
        free(a->pending);
    }
    a->pending = p;
    pthread_mutex_unlock(&a->target_mu);
    atomic_store(&a->retarget, true);
    return 0;
}

int sink_amqp_new(const struct sink_amqp_config *cfg, struct sink **out, uint64_t *spool_version)
{
    int rc = -ENOMEM;
    struct spool_recovery rec;
    struct sink_amqp *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    a->base.ops = &amqp_ops;
    a->cfg = *cfg;
    a->stopfd = -1;
    atomic_store(&a->sockfd, -1);
    pthread_mutex_init(&a->target_mu, NULL);
    if (a->cfg.confirm_window == 0)
        a->cfg.confirm_window = 256;

    if ((rc = target_parse(a, cfg)) != 0)
        goto fail;
    a->inflight = calloc(a->cfg.confirm_window, sizeof(*a->inflight));
    a->acked = calloc(a->cfg.confirm_window, sizeof(*a->acked));
    a->taken_ms = calloc(a->cfg.confirm_window, sizeof(*a->taken_ms));
    if (a->inflight == NULL || a->acked == NULL || a->taken_ms == NULL)
        goto fail;
    if ((a->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    struct outbox_config oc = {.capacity = cfg->outbox_size ? cfg->outbox_size : 100000,
                               .spool_dir = cfg->spool_dir};
    if ((rc = outbox_new(&oc, &a->ob, &rec)) != 0) {
        say(a, SINK_LOG_ERROR, "amqp: cannot open the spool %s: %s", cfg->spool_dir, strerror(-rc));
        goto fail;
    }
    if (rec.segments > 0 || rec.bytes_cut > 0)
        say(a, rec.bytes_cut ? SINK_LOG_WARNING : SINK_LOG_INFO,
            "amqp: spool %s: %" PRIu64 " changes in %zu segment(s) to replay first (versions up "
            "to %" PRIu64 ")%s",
            cfg->spool_dir, rec.records, rec.segments, rec.max_version,
            rec.bytes_cut ? "; a partial record at a segment's end was cut" : "");
    if (rec.bytes_cut > 0)
        say(a, SINK_LOG_WARNING, "amqp: spool recovery cut %" PRIu64 " bytes (a crash mid-write)",
            rec.bytes_cut);
    if (spool_version != NULL)
        *spool_version = rec.max_version;
    if ((rc = pthread_create(&a->thread, NULL, publisher_main, a)) != 0) {
        rc = -rc;
        goto fail;
    }
    a->thread_started = true;
    *out = &a->base;
    return 0;
fail:
    amqp_free(&a->base);
    return rc;
}
