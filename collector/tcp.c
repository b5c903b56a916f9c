/* tcp.c - one document per connection, one reply, on libuv streams. */
#include "collector/tcp.h"

#include "collector/log.h"
#include "collector/address.h"
#include "parsers/alert_xml.h"
#include "sink/change.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ITEMS ALERT_XML_MAX_ALERTS /* the parser's per-document alert limit */
/* After an accept error that would repeat at once (no descriptor, no memory), the listener
 * is closed for this long: pending clients are refused by the kernel meanwhile, and the loop
 * does not spin on a socket it cannot accept from. */
#define PAUSE_MS 1000

struct conn {
    uv_tcp_t handle;
    uv_timer_t idle;
    uv_write_t write;
    uv_shutdown_t shutdown;
    struct tcp *srv;
    struct conn *prev, *next;
    struct sockaddr_storage peer;
    char *buf;
    size_t len;
    char *reply;
    bool done; /* replied, or closing */
    int open_handles;
};

struct tcp {
    /* NULL while paused. On the heap: a listener being closed outlives its successor. */
    uv_tcp_t *listener;
    uv_timer_t retry; /* listens again after a pause; prints the log summaries */
    struct tcp_config cfg;
    struct sockaddr_storage bound; /* the address with the port the kernel gave */
    struct conn *conns;
    unsigned n_conns; /* linked in conns: accepted and under the limit */
    char name[ADDRESS_TEXT_MAX];
    bool closing;
    int open_handles;          /* retry timer and listeners not yet closed */
    struct ingest_item *items; /* scratch for a reply, MAX_ITEMS */
    struct log_ratelimit rl_refused, rl_accept;
};

static void conn_closed(uv_handle_t *h)
{
    struct conn *c = h->data;
    if (--c->open_handles > 0)
        return;
    free(c->buf);
    free(c->reply);
    free(c);
}

static void conn_close(struct conn *c)
{
    struct tcp *t = c->srv;
    if (c->open_handles < 2 || uv_is_closing((uv_handle_t *)&c->handle))
        return;
    c->done = true;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        t->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    t->n_conns--;
    uv_close((uv_handle_t *)&c->handle, conn_closed);
    uv_close((uv_handle_t *)&c->idle, conn_closed);
}

static void on_shutdown(uv_shutdown_t *sh, int status)
{
    struct conn *c = sh->data;
    if (status != 0)
        conn_close(c);
    /* else: the reply is out and our side is closed; reading goes on, discarding, until the
     * client closes or the idle timer does (see on_read). */
}

static void on_written(uv_write_t *w, int status)
{
    struct conn *c = w->data;
    c->shutdown.data = c;
    if (status != 0 || uv_shutdown(&c->shutdown, (uv_stream_t *)&c->handle, on_shutdown) != 0)
        conn_close(c);
}

/* Send the reply, then half-close. The connection is not closed while the client may still
 * be sending (a document past the limit, say): closing with unread input makes the kernel
 * send a reset, which can destroy the reply before the client reads it. */
static void send_reply(struct conn *c, const char *text, int len)
{
    c->done = true;
    if (len <= 0) {
        conn_close(c);
        return;
    }
    c->reply = malloc((size_t)len + 1);
    if (c->reply == NULL) {
        conn_close(c);
        return;
    }
    memcpy(c->reply, text, (size_t)len);
    c->reply[len] = '\n';
    uv_buf_t b = uv_buf_init(c->reply, (unsigned)len + 1);
    c->write.data = c;
    if (uv_write(&c->write, (uv_stream_t *)&c->handle, &b, 1, on_written) != 0)
        conn_close(c);
}

static void reply_error(struct conn *c, const char *reason, const char *text)
{
    char buf[1024];
    send_reply(c, buf, alert_xml_reply(buf, sizeof(buf), NULL, 0, reason, text));
}

/* Whether the bytes so far could end a document (a closing '>' then blanks): only then is
 * the parser asked, so a client sending byte by byte costs no parse per byte. */
static bool may_be_whole(const struct conn *c)
{
    size_t n = c->len;
    while (n > 0 && (c->buf[n - 1] == ' ' || c->buf[n - 1] == '\n' || c->buf[n - 1] == '\r' ||
                     c->buf[n - 1] == '\t'))
        n--;
    return n > 0 && c->buf[n - 1] == '>';
}

static void try_document(struct conn *c, bool final)
{
    struct tcp *t = c->srv;
    size_t n = 0;
    const char *reason = NULL, *error = NULL;
    uv_loop_t *loop = c->handle.loop;
    int rc = ingest_document(t->cfg.ingest, c->buf, c->len, final,
                             (const struct sockaddr *)&c->peer, change_now_ms(),
                             (int64_t)uv_now(loop), t->items, MAX_ITEMS, &n, &reason, &error);
    if (rc == -EAGAIN)
        return; /* cut short: wait for the rest */
    if (rc != 0) {
        reply_error(c, rc == -ENOMEM ? "nomem" : reason, rc == -ENOMEM ? "out of memory" : error);
        return;
    }
    /* An accepted document may still have refused alerts: the parser's (reason names the
     * first, error says which alert and why) or the table's (the active-alert cap, memory).
     * The client is told status="error" then, with the results of the others. */
    const char *refused = strcmp(reason, alert_xml_reason_name(ALERT_XML_OK)) != 0 ? reason : NULL;
    const char *refused_text = error;
    struct alert_xml_reply_item items[MAX_ITEMS];
    for (size_t i = 0; i < n; i++) {
        const char *outcome = change_outcome_name(t->items[i].outcome);
        if (t->items[i].refused != 0) {
            outcome = t->items[i].refused == -ENOSPC ? "refused_full" : "nomem";
            if (refused == NULL) {
                refused = outcome;
                refused_text = t->items[i].refused == -ENOSPC
                                   ? "the collector holds its limit of active alerts"
                                   : "out of memory";
            }
        }
        items[i] = (struct alert_xml_reply_item){outcome, t->items[i].version, t->items[i].host,
                                                 t->items[i].component};
    }
    /* Escaping makes a byte at most 6 ("&quot;"). */
    size_t size = 256 + (refused ? 6 * strlen(refused_text) : 0) + n * (2 * ALERT_KEY_MAX * 6 + 96);
    char *buf = malloc(size);
    if (buf == NULL) {
        conn_close(c);
        return;
    }
    send_reply(c, buf, alert_xml_reply(buf, size, items, n, refused, refused_text));
    free(buf);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    struct conn *c = h->data;
    size_t max = c->srv->cfg.max_document;
    (void)suggested;
    if (c->done)
        c->len = 0; /* replied: what still comes is read into the same buffer and dropped */
    if (c->buf == NULL)
        c->buf = malloc(max + 1);
    /* Room for one byte past the limit, to tell "too large" from "exactly at it". */
    *b = c->buf ? uv_buf_init(c->buf + c->len, (unsigned)(max + 1 - c->len)) : uv_buf_init(NULL, 0);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *b)
{
    struct conn *c = s->data;
    (void)b;
    if (c->done) {
        if (nread < 0) /* the client is done too */
            conn_close(c);
        return;
    }
    if (nread == UV_EOF) {
        if (c->len > 0)
            try_document(c, true);
        else
            conn_close(c);
        return;
    }
    if (nread < 0 || c->buf == NULL) {
        conn_close(c);
        return;
    }
    c->len += (size_t)nread;
    uv_timer_again(&c->idle);
    if (c->len > c->srv->cfg.max_document) {
        reply_error(c, "too_large", "the document is longer than the limit");
        return;
    }
    if (nread > 0 && may_be_whole(c))
        try_document(c, false);
}

static void on_idle(uv_timer_t *tm)
{
    struct conn *c = tm->data;
    if (!c->done)
        reply_error(c, "timeout", "no complete document before the idle timeout");
    else
        conn_close(c); /* replied, and the client neither closed nor went quiet */
}

static void on_retry(uv_timer_t *tm);

/* A log line through rl; the retry timer makes sure the "... N more" summary of a burst
 * that stopped is printed too. */
#define TCP_LOG(t, rl, level, ...)                                                                 \
    do {                                                                                           \
        log_ratelimited((rl), (int64_t)uv_now((t)->retry.loop), (level), __VA_ARGS__);             \
        if (!uv_is_active((uv_handle_t *)&(t)->retry))                                             \
            uv_timer_start(&(t)->retry, on_retry, LOG_RATELIMIT_WINDOW_MS, 0);                     \
    } while (0)

static void refused_closed(uv_handle_t *h)
{
    free(h);
}

/* Over the limit: a short "busy" reply if the socket takes it right away, then closed at
 * once. The connection never counts against the limit and holds nothing afterwards.
 * Returns 0, or -ENOMEM (not accepted: the caller pauses the listener). */
static int refuse(struct tcp *t, uv_stream_t *server)
{
    ingest_count_tcp(t->cfg.ingest, false);
    uv_tcp_t *h = malloc(sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    uv_tcp_init(server->loop, h);
    if (uv_accept(server, (uv_stream_t *)h) == 0) {
        char buf[256];
        int len = alert_xml_reply(buf, sizeof(buf) - 1, NULL, 0, "busy",
                                  "too many connections; try again");
        if (len > 0 && (size_t)len < sizeof(buf) - 1) {
            buf[len++] = '\n';
            uv_buf_t b = uv_buf_init(buf, (unsigned)len);
            uv_try_write((uv_stream_t *)h, &b, 1);
        }
    }
    uv_close((uv_handle_t *)h, refused_closed);
    TCP_LOG(t, &t->rl_refused, LOG_LEVEL_WARNING,
            "tcp %s: a connection refused: %u open, the limit (counted in tcp_refused)", t->name,
            t->n_conns);
    return 0;
}

/* t is freed with the last of its own handles (the retry timer and listeners). */
static void tcp_handle_closed(struct tcp *t)
{
    if (--t->open_handles == 0) {
        free(t->items);
        free(t);
    }
}

static void listener_closed(uv_handle_t *h)
{
    struct tcp *t = h->data;
    free(h);
    tcp_handle_closed(t);
}

static void retry_closed(uv_handle_t *h)
{
    tcp_handle_closed(h->data);
}

/* Close the listener and listen again in PAUSE_MS. libuv keeps accepting while the
 * descriptor is open: after an error it cannot shed (its spare descriptor for EMFILE is
 * gone), closing is the only way out of a busy loop. */
static void pause_listening(struct tcp *t)
{
    if (t->listener == NULL)
        return;
    uv_close((uv_handle_t *)t->listener, listener_closed);
    t->listener = NULL;
    uv_timer_start(&t->retry, on_retry, PAUSE_MS, 0);
}

static void on_connection(uv_stream_t *server, int status)
{
    struct tcp *t = server->data;
    if (status != 0) {
        /* libuv has already tried its spare descriptor for EMFILE; what reaches us repeats
         * at once if the listener stays open. */
        ingest_count_tcp(t->cfg.ingest, false);
        TCP_LOG(t, &t->rl_accept, LOG_LEVEL_ERROR,
                "tcp %s: cannot accept a connection: %s; not listening for %d s", t->name,
                uv_strerror(status), PAUSE_MS / 1000);
        pause_listening(t);
        return;
    }
    struct conn *c = NULL;
    if (t->n_conns >= t->cfg.max_connections || (c = calloc(1, sizeof(*c))) == NULL) {
        if (refuse(t, server) != 0) {
            /* Not accepted, libuv would stop watching the listener for good. */
            TCP_LOG(t, &t->rl_accept, LOG_LEVEL_ERROR,
                    "tcp %s: out of memory for a new connection; not listening for %d s", t->name,
                    PAUSE_MS / 1000);
            pause_listening(t);
        }
        return;
    }
    c->srv = t;
    uv_tcp_init(server->loop, &c->handle);
    uv_timer_init(server->loop, &c->idle);
    c->handle.data = c->idle.data = c;
    c->open_handles = 2;
    if (uv_accept(server, (uv_stream_t *)&c->handle) != 0) {
        c->done = true;
        uv_close((uv_handle_t *)&c->handle, conn_closed);
        uv_close((uv_handle_t *)&c->idle, conn_closed);
        return;
    }
    c->next = t->conns;
    if (t->conns != NULL)
        t->conns->prev = c;
    t->conns = c;
    t->n_conns++;
    ingest_count_tcp(t->cfg.ingest, true);
    int len = sizeof(c->peer);
    uv_tcp_getpeername(&c->handle, (struct sockaddr *)&c->peer, &len);
    uv_timer_start(&c->idle, on_idle, t->cfg.idle_s * 1000ull, t->cfg.idle_s * 1000ull);
    uv_read_start((uv_stream_t *)&c->handle, on_alloc, on_read);
}

/* A listener on t->bound. Returns 0, or a libuv error (nothing left open). */
static int start_listening(struct tcp *t, uv_loop_t *loop)
{
    int rc;
    uv_tcp_t *l = malloc(sizeof(*l));
    if (l == NULL)
        return UV_ENOMEM;
    uv_tcp_init(loop, l);
    l->data = t;
    t->open_handles++;
    const struct sockaddr *a = (const struct sockaddr *)&t->bound;
    if ((rc = uv_tcp_bind(l, a, a->sa_family == AF_INET6 ? UV_TCP_IPV6ONLY : 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)l, 128, on_connection)) != 0) {
        uv_close((uv_handle_t *)l, listener_closed);
        return rc;
    }
    t->listener = l;
    return 0;
}

static void on_retry(uv_timer_t *tm)
{
    struct tcp *t = tm->data;
    int64_t now = (int64_t)uv_now(tm->loop);
    log_ratelimit_flush(&t->rl_refused, now);
    log_ratelimit_flush(&t->rl_accept, now);
    if (t->listener == NULL && !t->closing) {
        int rc = start_listening(t, tm->loop);
        if (rc != 0) {
            TCP_LOG(t, &t->rl_accept, LOG_LEVEL_ERROR, "tcp %s: cannot listen again: %s", t->name,
                    uv_strerror(rc));
            uv_timer_start(&t->retry, on_retry, PAUSE_MS, 0);
            return;
        }
        log_notice("tcp %s: listening again", t->name);
    }
    if (t->rl_refused.suppressed > 0 || t->rl_accept.suppressed > 0)
        uv_timer_start(&t->retry, on_retry, LOG_RATELIMIT_WINDOW_MS, 0);
}

int tcp_new(uv_loop_t *loop, const struct tcp_config *cfg, struct tcp **out)
{
    int rc;
    struct tcp *t = calloc(1, sizeof(*t));
    if (t == NULL || (t->items = calloc(MAX_ITEMS, sizeof(*t->items))) == NULL) {
        free(t);
        return -ENOMEM;
    }
    t->cfg = *cfg;
    t->cfg.addr = NULL; /* the caller's; t->bound is ours */
    if (t->cfg.max_connections == 0)
        t->cfg.max_connections = 64;
    if (t->cfg.idle_s == 0)
        t->cfg.idle_s = 10;
    if (t->cfg.max_document == 0)
        t->cfg.max_document = 65507;
    t->rl_refused.what = "TCP connections refused at the limit";
    t->rl_accept.what = "TCP accept errors";
    uv_timer_init(loop, &t->retry);
    t->retry.data = t;
    t->open_handles = 1;
    memcpy(&t->bound, cfg->addr, address_len(cfg->addr));
    int blen = sizeof(t->bound);
    if ((rc = start_listening(t, loop)) != 0 ||
        (rc = uv_tcp_getsockname(t->listener, (struct sockaddr *)&t->bound, &blen)) != 0) {
        tcp_close(t);
        return rc;
    }
    address_format((struct sockaddr *)&t->bound, t->name, sizeof(t->name));
    *out = t;
    return 0;
}

void tcp_close(struct tcp *t)
{
    if (t == NULL)
        return;
    t->closing = true;
    while (t->conns != NULL)
        conn_close(t->conns);
    if (t->listener != NULL)
        uv_close((uv_handle_t *)t->listener, listener_closed);
    t->listener = NULL;
    uv_close((uv_handle_t *)&t->retry, retry_closed);
}

const char *tcp_name(const struct tcp *t)
{
    return t->name;
}
