/* sink_amqp.c - the AMQP sink: a publisher thread that reads the journal, with confirms
 * and failover between the nodes of a cluster. */
#include "sink/sink_amqp.h"

#include "sink/amqp_nodes.h"
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

#define CHANNEL       1
#define READ_EVERY_MS 60000 /* journal_next failing: a line this often at most */
#define IDLE_POLL_MS  200   /* also bounds how late a heartbeat is sent */

/* Where to publish: the nodes (which next, how long to wait, how much to say: the policy
 * injector-consume follows too), the credentials, the exchange. */
struct target {
    struct amqp_nodes *nodes;
    char *password; /* from the password file or the environment; NULL: each URL's own */
    char *exchange;
};

/* One message of the confirm window, with a buffer of its own that is reused. */
struct slot {
    uint64_t version;
    uint16_t rk_len;
    uint32_t body_len;
    bool acked;
    char *buf; /* routing key, then body */
    size_t cap;
};

struct sink_amqp {
    struct sink base;
    struct sink_amqp_config cfg;
    struct journal *j;
    struct target t;

    /* A new target from sink_amqp_retarget, taken over by the publisher thread. */
    pthread_mutex_t target_mu;
    struct target *pending;
    atomic_bool retarget;

    pthread_t thread;
    bool thread_started;
    int stopfd;
    atomic_bool stop;
    atomic_llong deadline_ms;
    atomic_int sockfd; /* for a forced shutdown(2) when the grace period is over */

    /* publisher thread only */
    amqp_connection_state_t conn;
    size_t last_node;                   /* the node of the last connection that succeeded */
    struct slot *win;                   /* ring of confirm_window slots */
    size_t head, count;                 /* unconfirmed messages: win[head], ... */
    size_t sent;                        /* how many of them went out on this connection */
    uint64_t first_tag;                 /* delivery tag of win[head] once sent */
    bool drained;                       /* the journal had nothing more the last time we asked */
    char reason[256];                   /* why the connection was lost */
    struct sink_log_limit read_trouble; /* journal_next failing */

    /* counters, any thread */
    atomic_ullong published, confirmed, nacked, returned, reconnects, failovers;
    atomic_bool connected;
    pthread_mutex_t where_mu; /* guards where */
    char where[280];
};

/* A line about connection trouble (cannot connect, lost, connected while it lasts),
 * rate-limited per streak of trouble (amqp_nodes_may_say); the streak ends when the broker
 * confirms something. */
static void say_trouble(struct sink_amqp *a, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say_trouble(struct sink_amqp *a, int level, const char *fmt, ...)
{
    uint64_t untold;
    if (!amqp_nodes_may_say(a->t.nodes, sink_log_now_ms(), &untold))
        return;
    char msg[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (untold > 0)
        sink_log_say(a->cfg.log, level, "%s (and %" PRIu64 " lines like it in the last %d s)", msg,
                     untold, AMQP_NODES_TOLD_EVERY_MS / 1000);
    else
        sink_log_say(a->cfg.log, level, "%s", msg);
}

/* The broker confirmed something: the node serves, the trouble (if any) is over. */
static void trouble_over(struct sink_amqp *a)
{
    uint64_t untold = amqp_nodes_ok(a->t.nodes);
    if (untold > 0)
        sink_log_say(a->cfg.log, SINK_LOG_NOTICE,
                     "amqp: publishing again (%" PRIu64 " lines about the trouble "
                     "were left out)",
                     untold);
}

static size_t cur_node(const struct sink_amqp *a)
{
    return amqp_nodes_current(a->t.nodes);
}

static const char *shown(const struct sink_amqp *a, size_t i)
{
    return amqp_nodes_shown(a->t.nodes, i);
}

static void set_where(struct sink_amqp *a)
{
    pthread_mutex_lock(&a->where_mu);
    snprintf(a->where, sizeof(a->where), "%s", amqp_nodes_where(a->t.nodes, cur_node(a)));
    pthread_mutex_unlock(&a->where_mu);
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
    struct amqp_connection_info info;
    /* Parsed again at each connect (the URL is short): amqp_parse_url cuts the string it
     * parses, and info points into it. */
    char *url = strdup(amqp_nodes_url(a->t.nodes, cur_node(a)));
    amqp_default_connection_info(&info);
    if (url == NULL || amqp_parse_url(url, &info) != AMQP_STATUS_OK) {
        snprintf(a->reason, sizeof(a->reason), url ? "cannot parse its URL" : "out of memory");
        goto fail;
    }
    /* "amqp://host:5672/" parses to vhost "": users mean the default vhost by it. */
    if (info.vhost == NULL || info.vhost[0] == '\0')
        info.vhost = "/";

    a->conn = amqp_new_connection();
    amqp_socket_t *sock = NULL;
    if (a->conn != NULL)
        sock = info.ssl ? amqp_ssl_socket_new(a->conn) : amqp_tcp_socket_new(a->conn);
    if (sock == NULL) {
        snprintf(a->reason, sizeof(a->reason), "out of memory");
        goto fail;
    }
    if (info.ssl) {
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
    int rc = amqp_socket_open_noblock(sock, info.host, info.port, &open_tv);
    if (rc != AMQP_STATUS_OK) {
        snprintf(a->reason, sizeof(a->reason), "TCP connect to %s:%d: %s", info.host, info.port,
                 amqp_error_string2(rc));
        goto fail;
    }
    set_keepalive(amqp_get_sockfd(a->conn));
    atomic_store(&a->sockfd, amqp_get_sockfd(a->conn));
    amqp_set_rpc_timeout(a->conn, &rpc_tv);
    amqp_set_handshake_timeout(a->conn, &rpc_tv);

    r = amqp_login(a->conn, info.vhost, 0, 131072, (int)a->cfg.heartbeat_s, AMQP_SASL_METHOD_PLAIN,
                   info.user, a->t.password != NULL ? a->t.password : info.password);
    if (r.reply_type != AMQP_RESPONSE_NORMAL) {
        describe_reply(r, "login", a->reason, sizeof(a->reason));
        goto fail;
    }
    amqp_channel_open(a->conn, CHANNEL);
    if ((r = amqp_get_rpc_reply(a->conn)).reply_type != AMQP_RESPONSE_NORMAL) {
        describe_reply(r, "channel.open", a->reason, sizeof(a->reason));
        goto fail;
    }
    amqp_exchange_declare(a->conn, CHANNEL, amqp_cstring_bytes(a->t.exchange),
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
    free(url);
    return 0;
fail:
    disconnect(a);
    free(url);
    return -1;
}

static struct slot *slot_at(struct sink_amqp *a, size_t i)
{
    return &a->win[(a->head + i) % a->cfg.confirm_window];
}

static int publish(struct sink_amqp *a, size_t i)
{
    const struct slot *m = slot_at(a, i);
    amqp_basic_properties_t props;
    memset(&props, 0, sizeof(props));
    props._flags =
        AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_APP_ID_FLAG;
    props.content_type = amqp_cstring_bytes("application/json");
    props.delivery_mode = 2; /* persistent */
    props.app_id = amqp_cstring_bytes("injector");
    amqp_bytes_t rk = {m->rk_len, m->buf};
    amqp_bytes_t body = {m->body_len, m->buf + m->rk_len};
    int rc = amqp_basic_publish(a->conn, CHANNEL, amqp_cstring_bytes(a->t.exchange), rk,
                                a->cfg.mandatory, 0, &props, body);
    if (rc != AMQP_STATUS_OK) {
        snprintf(a->reason, sizeof(a->reason), "publish: %s", amqp_error_string2(rc));
        return -1;
    }
    atomic_fetch_add(&a->published, 1);
    return 0;
}

/* Drop the confirmed run at the front of the window; the journal learns how far. */
static void pop_confirmed(struct sink_amqp *a)
{
    size_t k = 0;
    uint64_t last = 0;
    while (a->count > 0 && a->sent > 0 && slot_at(a, 0)->acked) {
        last = slot_at(a, 0)->version;
        a->head = (a->head + 1) % a->cfg.confirm_window;
        a->count--;
        a->sent--;
        a->first_tag++;
        k++;
    }
    if (k == 0)
        return;
    atomic_fetch_add(&a->confirmed, k);
    journal_confirmed(a->j, last);
    trouble_over(a);
}

static void on_ack(struct sink_amqp *a, uint64_t tag, bool multiple)
{
    if (tag < a->first_tag)
        return;
    uint64_t last = tag - a->first_tag; /* index */
    if (last >= a->sent)
        return; /* not one of ours on this channel: ignore */
    for (uint64_t i = multiple ? 0 : last; i <= last; i++)
        slot_at(a, i)->acked = true;
    pop_confirmed(a);
}

/* Read every frame that is there, without waiting. Returns 0, or -1 with a->reason. */
static int read_frames(struct sink_amqp *a)
{
    for (int frames = 0;; frames++) {
        amqp_frame_t f;
        struct timeval tv = {0, 0};
        /* The decoded frames' memory goes back every 64 frames, not after each one (that
         * was a fifth of the publisher's instructions per message). */
        if (frames % 64 == 63)
            amqp_maybe_release_buffers(a->conn);
        int rc = amqp_simple_wait_frame_noblock(a->conn, &f, &tv);
        if (rc == AMQP_STATUS_TIMEOUT) {
            amqp_maybe_release_buffers(a->conn);
            return 0;
        }
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
                sink_log_say(a->cfg.log, SINK_LOG_WARNING,
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
    }
}

/* Publish what is waiting: the unsent part of the window first (after a reconnect), then
 * new changes from the journal while the window has room (a->drained says whether the
 * journal ran dry first). Returns 0 or -1 (connection lost). */
static int fill_window(struct sink_amqp *a)
{
    a->drained = false;
    while (a->sent < a->count) {
        if (publish(a, a->sent) != 0)
            return -1;
        a->sent++;
    }
    while (a->count < a->cfg.confirm_window) {
        struct slot *m = slot_at(a, a->count);
        struct journal_record r;
        int rc = journal_next(a->j, &m->buf, &m->cap, &r);
        if (rc != 0) {
            /* Tried again at the next turn: as soon as the broker sends anything (an ack, a
             * heartbeat), IDLE_POLL_MS at the latest, so tries can come milliseconds apart.
             * The journal gives a segment up only once its reads have failed for 10 s
             * (journal_unreadable, its changes in journal_skipped). */
            uint64_t untold = 0;
            if (rc != -EAGAIN && sink_log_limit_pass(&a->read_trouble, sink_log_now_ms(), &untold))
                sink_log_say(a->cfg.log, SINK_LOG_ERROR,
                             "amqp: reading the journal: %s; trying again (%" PRIu64
                             " failed reads since the last such line)",
                             strerror(-rc), untold + 1);
            a->drained = true;
            break;
        }
        m->version = r.version;
        m->rk_len = r.rk_len;
        m->body_len = r.body_len;
        m->acked = false;
        a->count++;
        if (publish(a, a->sent) != 0)
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
    return atomic_load(&a->stop) && sink_log_now_ms() >= atomic_load(&a->deadline_ms);
}

/* Without a connection: try the current node; on failure move to the next, after a whole
 * round of failures only after a pause (amqp_nodes.h). Returns 0 when connected. */
static int connect_next(struct sink_amqp *a)
{
    size_t i = cur_node(a), n = amqp_nodes_count(a->t.nodes);
    set_where(a);
    if (connect_broker(a) == 0) {
        if (a->last_node != SIZE_MAX)
            atomic_fetch_add(&a->reconnects, 1);
        if (a->last_node != SIZE_MAX && a->last_node != i)
            atomic_fetch_add(&a->failovers, 1);
        say_trouble(a, SINK_LOG_INFO, "amqp: connected to %s (node %zu of %zu), exchange %s%s",
                    shown(a, i), i + 1, n, a->t.exchange,
                    a->count ? "; publishing the unconfirmed changes again" : "");
        a->last_node = i;
        /* Not a success yet: that is the broker confirming something on this connection
         * (pop_confirmed). A node that takes the connection and then refuses every change
         * (a quorum queue without its majority nacks) must not make us reconnect in a
         * tight loop. */
        return 0;
    }
    int wait = amqp_nodes_failed(a->t.nodes);
    if (wait == 0)
        say_trouble(a, SINK_LOG_WARNING, "amqp: cannot connect to %s: %s; trying %s now",
                    shown(a, i), a->reason, shown(a, cur_node(a)));
    else
        say_trouble(a, SINK_LOG_WARNING, "amqp: cannot connect to %s: %s; %sretrying in %d ms",
                    shown(a, i), a->reason, n > 1 ? "no node answered; " : "", wait);
    wait_stop(a, wait);
    return -1;
}

static void take_target(struct sink_amqp *a);

static void *publisher_main(void *arg)
{
    struct sink_amqp *a = arg;

    for (;;) {
        take_target(a);
        if (a->conn == NULL) {
            if (atomic_load(&a->stop))
                break; /* no broker at shutdown: what is left stays in the journal */
            if (connect_next(a) != 0)
                continue;
        }
        if (fill_window(a) != 0 || read_frames(a) != 0) {
            /* The next node at once, unless this was a round of nodes that took no change
             * since the last confirm: then a pause first. */
            size_t lost = cur_node(a);
            int wait = amqp_nodes_failed(a->t.nodes);
            say_trouble(a, SINK_LOG_ERROR,
                        "amqp: connection to %s lost: %s; %zu changes unconfirmed, they are "
                        "published again on %s",
                        shown(a, lost), a->reason, a->count,
                        amqp_nodes_count(a->t.nodes) > 1 ? shown(a, cur_node(a)) : "reconnecting");
            disconnect(a);
            wait_stop(a, wait);
            continue;
        }
        if (atomic_load(&a->stop) && ((a->count == 0 && a->drained) || past_deadline(a)))
            break;
        /* Acks made room and more is waiting: publish now, not after the next frame. */
        if (!a->drained && a->count < a->cfg.confirm_window)
            continue;
        struct pollfd p[3] = {
            {.fd = amqp_get_sockfd(a->conn), .events = POLLIN},
            {.fd = journal_wakefd(a->j), .events = POLLIN},
            {.fd = a->stopfd, .events = POLLIN},
        };
        /* Frames may already sit in librabbitmq's buffer, where poll cannot see them. */
        int timeout =
            amqp_frames_enqueued(a->conn) || amqp_data_in_buffer(a->conn) ? 0 : IDLE_POLL_MS;
        if (poll(p, a->count < a->cfg.confirm_window ? 3 : 1, timeout) > 0 &&
            (p[1].revents & POLLIN))
            journal_clear_wake(a->j);
    }
    if (a->conn != NULL) {
        amqp_channel_close(a->conn, CHANNEL, AMQP_REPLY_SUCCESS);
        amqp_connection_close(a->conn, AMQP_REPLY_SUCCESS);
        disconnect(a);
    }
    return NULL;
}

/* ---- the sink, on the loop thread -------------------------------------------------- */

/* The change is in the journal already; the publisher takes it from there. */
static int amqp_write(struct sink *sk, const struct change *c, const char *json, size_t len)
{
    (void)sk;
    (void)c;
    (void)json;
    (void)len;
    return 0;
}

static void amqp_counters(struct sink *sk, counter_fn fn, void *d)
{
    struct sink_amqp *a = (struct sink_amqp *)sk;
    char where[280];
    pthread_mutex_lock(&a->where_mu);
    snprintf(where, sizeof(where), "%s", a->where);
    pthread_mutex_unlock(&a->where_mu);
    counter_gauge(fn, d, "amqp_up", COUNTER_UNIT_NONE, atomic_load(&a->connected),
                  "1 while connected to the broker.");
    counter_info(fn, d, "amqp_node", where, "The broker node in use (or being tried).");
    counter_total(fn, d, "failovers", COUNTER_UNIT_NONE, atomic_load(&a->failovers),
                  "Connections made to another node than the last one.");
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
}

static void target_clear(struct target *t)
{
    amqp_nodes_free(t->nodes);
    secret_free(t->password); /* wipes it; a strdup'd one from the environment too */
    free(t->exchange);
    memset(t, 0, sizeof(*t));
}

static void amqp_free(struct sink *sk)
{
    struct sink_amqp *a = (struct sink_amqp *)sk;
    if (a->thread_started) {
        atomic_store(&a->deadline_ms, sink_log_now_ms() + (int64_t)a->cfg.flush_timeout_s * 1000);
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
        struct journal_stats js;
        journal_stats(a->j, &js);
        uint64_t left = js.newest > js.confirmed ? js.newest - js.confirmed : 0;
        uint64_t confirmed = atomic_load(&a->confirmed);
        if (left == 0)
            sink_log_say(a->cfg.log, SINK_LOG_INFO,
                         "amqp: stopped; %llu changes confirmed, none left over",
                         (unsigned long long)confirmed);
        else if (js.disk)
            sink_log_say(a->cfg.log, SINK_LOG_NOTICE,
                         "amqp: stopped; %llu changes confirmed, %" PRIu64 " unconfirmed stay in "
                         "the journal and are published at the next start",
                         (unsigned long long)confirmed, left);
        else
            sink_log_say(a->cfg.log, SINK_LOG_ERROR,
                         "amqp: stopped; %llu changes confirmed, %" PRIu64 " unconfirmed are lost "
                         "(no --state-dir: the journal was in memory only)",
                         (unsigned long long)confirmed, left);
    }
    if (a->stopfd >= 0)
        close(a->stopfd);
    for (size_t i = 0; a->win != NULL && i < a->cfg.confirm_window; i++)
        free(a->win[i].buf);
    free(a->win);
    target_clear(&a->t);
    if (a->pending != NULL) {
        target_clear(a->pending);
        free(a->pending);
    }
    pthread_mutex_destroy(&a->target_mu);
    pthread_mutex_destroy(&a->where_mu);
    free(a);
}

static const struct sink_ops amqp_ops = {
    .name = "amqp",
    .write = amqp_write,
    .counters = amqp_counters,
    .free = amqp_free,
};

/* Fill t from cfg (the nodes, credentials, exchange). Returns 0, -EINVAL or -ENOMEM;
 * logs why through a. */
static int target_parse(struct sink_amqp *a, const struct sink_amqp_config *cfg, struct target *t)
{
    int rc;
    memset(t, 0, sizeof(*t));
    if (cfg->n_urls == 0) {
        sink_log_say(a->cfg.log, SINK_LOG_ERROR, "amqp: no broker URL");
        return -EINVAL;
    }
    if (amqp_nodes_new(&t->nodes) != 0 ||
        (t->exchange = strdup(cfg->exchange ? cfg->exchange : "injector")) == NULL)
        return -ENOMEM;
    for (size_t i = 0; i < cfg->n_urls; i++) {
        char err[256];
        if ((rc = amqp_nodes_add(t->nodes, cfg->urls[i], err, sizeof(err))) != 0) {
            sink_log_say(a->cfg.log, SINK_LOG_ERROR, "amqp: %s", err);
            return rc == -E2BIG ? -EINVAL : rc;
        }
    }
    const char *env = getenv("INJECTOR_AMQP_PASSWORD");
    if (cfg->password_file != NULL) {
        if ((rc = secret_read_file(cfg->password_file, &t->password)) != 0) {
            sink_log_say(a->cfg.log, SINK_LOG_ERROR, "amqp: cannot read the password file %s: %s",
                         cfg->password_file, rc == -ENODATA ? "empty" : strerror(-rc));
            return -EINVAL;
        }
    } else if (env != NULL && (t->password = strdup(env)) == NULL) {
        return -ENOMEM;
    }
    return 0;
}

/* Publisher thread: take over a pending target, if any. */
static void take_target(struct sink_amqp *a)
{
    if (!atomic_exchange(&a->retarget, false))
        return;
    pthread_mutex_lock(&a->target_mu);
    struct target *p = a->pending;
    a->pending = NULL;
    pthread_mutex_unlock(&a->target_mu);
    if (p == NULL)
        return;
    sink_log_say(a->cfg.log, SINK_LOG_NOTICE,
                 "amqp: switching from %s to %s%s, exchange %s; %zu unconfirmed changes are "
                 "published there first",
                 shown(a, cur_node(a)), amqp_nodes_shown(p->nodes, 0),
                 amqp_nodes_count(p->nodes) > 1 ? " (and its cluster)" : "", p->exchange, a->count);
    disconnect(a); /* everything unconfirmed goes again, to the new target */
    target_clear(&a->t);
    a->t = *p;
    free(p);
    a->last_node = SIZE_MAX;
    set_where(a);
}

int sink_amqp_retarget(struct sink *sk, const struct sink_amqp_config *cfg)
{
    struct sink_amqp *a = (struct sink_amqp *)sk;
    struct target *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    int rc = target_parse(a, cfg, p);
    if (rc != 0) {
        target_clear(p);
        free(p);
        return rc;
    }
    pthread_mutex_lock(&a->target_mu);
    if (a->pending != NULL) {
        target_clear(a->pending);
        free(a->pending);
    }
    a->pending = p;
    pthread_mutex_unlock(&a->target_mu);
    atomic_store(&a->retarget, true);
    return 0;
}

int sink_amqp_new(const struct sink_amqp_config *cfg, struct sink **out)
{
    int rc = -ENOMEM;
    struct sink_amqp *a = calloc(1, sizeof(*a));
    if (a == NULL)
        return -ENOMEM;
    a->base.ops = &amqp_ops;
    a->cfg = *cfg;
    a->j = cfg->journal;
    a->stopfd = -1;
    a->last_node = SIZE_MAX;
    a->read_trouble = SINK_LOG_LIMIT(1, READ_EVERY_MS);
    atomic_store(&a->sockfd, -1);
    pthread_mutex_init(&a->target_mu, NULL);
    pthread_mutex_init(&a->where_mu, NULL);
    if (a->cfg.confirm_window == 0)
        a->cfg.confirm_window = 256;
    if (a->j == NULL) {
        rc = -EINVAL;
        goto fail;
    }
    if ((rc = target_parse(a, cfg, &a->t)) != 0)
        goto fail;
    set_where(a);
    rc = -ENOMEM;
    if ((a->win = calloc(a->cfg.confirm_window, sizeof(*a->win))) == NULL)
        goto fail;
    if ((a->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
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
