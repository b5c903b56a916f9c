/* http.c - the HTTP API on libmicrohttpd, driven by the libuv loop. */
#include "collector/http.h"
#include "collector/dashboard.h"

#include "collector/sources.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>
#include <microhttpd.h>

struct http {
    struct http_config cfg;
    char *token; /* owned copy; NULL: none */
    struct MHD_Daemon *mhd;
    uv_poll_t poll;
    uv_timer_t timer;
    int closing;
    char name[72];
};

/* ---- counters, listed once for /v1/stats and /metrics ---------------------------- */

struct metric {
    const char *name; /* JSON key; Prometheus: injector_<name>[_total] */
    const char *help;
    bool counter;
    double value;
};

#define MAX_METRICS 48

static size_t collect(struct http *h, struct metric *m)
{
    if (h->cfg.refresh != NULL)
        h->cfg.refresh(h->cfg.data);
    const struct stats *s = ingest_stats(h->cfg.ingest);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    int64_t up_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 - h->cfg.started_ms;
    double uptime = (double)up_ms / 1000.0;
    size_t n = 0;
#define C(nm, hp, v) m[n++] = (struct metric){nm, hp, true, (double)(v)}
#define G(nm, hp, v) m[n++] = (struct metric){nm, hp, false, (double)(v)}
    C("datagrams", "Datagrams received on the UDP sockets.", s->datagrams);
    C("bytes", "Payload bytes of those datagrams.", s->bytes);
    C("alerts", "Alerts parsed and applied to the table.", s->alerts);
    C("malformed", "Datagrams refused whole (see refused by reason).", s->malformed);
    C("invalid", "Alerts refused inside an accepted datagram.", s->invalid);
    C("truncated", "Datagrams longer than the receive slot.", s->truncated);
    C("kernel_drops", "Datagrams the kernel dropped on our sockets for want of buffer.",
      s->kernel_drops);
    C("seq_gaps", "Seq numbers senders skipped: loss anywhere on the path.", s->seq_gaps);
    C("seq_reordered", "Seq numbers that arrived late.", s->seq_reordered);
    C("seq_duplicates", "Seq numbers that arrived twice.", s->seq_duplicates);
    C("extra_dropped", "Unknown elements past the per-alert cap.", s->extra_dropped);
    C("rejected_acl", "Datagrams and documents from sources outside the allow-list.",
      s->rejected_acl);
    C("rate_limited", "Alerts refused by the per-sender rate limit.", s->rate_limited);
    C("fast_path", "Alerts that skipped the parser: byte-identical repeats of a datagram "
                   "whose alert nothing changed since (duplicates, redundant clears).",
      s->fast_path);
    C("tcp_connections", "TCP clients accepted.", s->tcp_connections);
    C("tcp_refused", "TCP clients turned away at the connection limit.", s->tcp_refused);
    C("tcp_documents", "Documents received over TCP.", s->tcp_documents);
    C("refused_full", "Raises refused at the active-alert cap.", s->refused_full);
    C("nomem", "Alerts not applied for lack of memory.", s->nomem);
    C("published", "Changes handed to every sink.", s->published);
    C("sink_errors", "Sink writes that failed.", s->sink_errors);
    G("active_alerts", "Alerts active now.", s->active);
    G("hosts", "Hosts with at least one active alert.", s->hosts);
    G("version", "Version of the last change.", s->version);
    G("uptime_seconds", "Seconds since start.", uptime);
#undef C
#undef G
    return n;
}

/* The sink's own counters come as " key=value" tokens (sink_format_stats). */
static void sink_tokens(struct http *h, void (*cb)(const char *k, const char *v, void *d), void *d)
{
    char buf[1024];
    ingest_format_sink_stats(h->cfg.ingest, buf, sizeof(buf));
    char *save = NULL;
    for (char *tok = strtok_r(buf, " ", &save); tok != NULL; tok = strtok_r(NULL, " ", &save)) {
        char *eq = strchr(tok, '=');
        if (eq == NULL)
            continue;
        *eq = '\0';
        cb(tok, eq + 1, d);
    }
}

/* ---- answers --------------------------------------------------------------------- */

struct reply {
    int status;
    const char *type;
    char *body; /* malloc'd; handed to MHD */
    size_t len;
    bool page; /* a dashboard file */
};

static void reply_json(struct reply *r, int status, json_t *o)
{
    r->status = status;
    r->type = "application/json";
    r->body = json_dumps(o, JSON_COMPACT);
    r->len = r->body ? strlen(r->body) : 0;
    json_decref(o);
}

static void reply_error(struct reply *r, int status, const char *msg)
{
    reply_json(r, status, json_pack("{ss}", "error", msg));
}

struct alerts_ctx {
    struct change_json *out;
    size_t n;
    int rc;
};

static int alerts_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    struct alerts_ctx *c = data;
    if (c->n > 0 && (c->rc = change_json_append(c->out, ",", 1)) != 0)
        return c->rc;
    c->rc = change_json_append_alert(c->out, a, m->version, m->first_seen_ms, m->last_seen_ms);
    if (c->rc == 0)
        c->n++;
    return c->rc == -ENOMEM ? c->rc : 0; /* a non-UTF-8 alert cannot exist; skip it */
}

static void get_alerts(struct http *h, struct MHD_Connection *conn, struct reply *r)
{
    const char *host = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "host");
    struct state *st = ingest_state(h->cfg.ingest);
    struct change_json out = {0};
    char head[512];
    /* The version is read in the same loop turn as the alerts: no change can fall between,
     * so a consumer applying queued changes with a higher version is exact. */
    int n = snprintf(head, sizeof(head),
                     "{\"version\":%" PRIu64 ",\"epoch\":\"%016" PRIx64 "\",\"collector\":",
                     state_version(st), state_epoch(st));
    struct alerts_ctx c = {.out = &out};
    if (change_json_append(&out, head, (size_t)n) != 0 ||
        change_json_append_str(&out, h->cfg.collector_id, strlen(h->cfg.collector_id)) != 0 ||
        change_json_append(&out, ",\"alerts\":[", 11) != 0 ||
        state_foreach(st, host, alerts_cb, &c) != 0) {
        change_json_free(&out);
        reply_error(r, 500, "out of memory");
        return;
    }
    n = snprintf(head, sizeof(head), "],\"count\":%zu}", c.n);
    if (change_json_append(&out, head, (size_t)n) != 0) {
        change_json_free(&out);
        reply_error(r, 500, "out of memory");
        return;
    }
    r->status = 200;
    r->type = "application/json";
    r->body = out.buf; /* ownership passes to the response */
    r->len = out.len;
}

static void add_sink_json(const char *k, const char *v, void *d)
{
    char *end;
    double x = strtod(v, &end);
    json_object_set_new(d, k, *end == '\0' ? json_real(x) : json_string(v));
}

static void get_stats(struct http *h, struct reply *r)
{
    struct metric m[MAX_METRICS];
    size_t n = collect(h, m);
    const struct stats *s = ingest_stats(h->cfg.ingest);
    json_t *o = json_object();
    json_object_set_new(o, "collector", json_string(h->cfg.collector_id));
    json_object_set_new(o, "injector_version", json_string(INJECTOR_VERSION));
    for (size_t i = 0; i < n; i++) {
        if (m[i].counter || strcmp(m[i].name, "uptime_seconds") != 0)
            json_object_set_new(o, m[i].name, json_integer((json_int_t)m[i].value));
        else
            json_object_set_new(o, m[i].name, json_real(m[i].value));
    }
    json_t *oc = json_object();
    for (int i = 0; i < CHANGE_OUTCOME_COUNT; i++)
        json_object_set_new(oc, change_outcome_name((enum change_outcome)i),
                            json_integer((json_int_t)s->outcomes[i]));
    json_object_set_new(o, "outcomes", oc);
    json_t *rf = json_object();
    for (int i = 1; i < ALERT_XML_REASON_COUNT; i++)
        json_object_set_new(rf, alert_xml_reason_name((enum alert_xml_reason)i),
                            json_integer((json_int_t)s->rejects[i]));
    json_object_set_new(o, "refused", rf);
    json_t *au = json_object();
    for (int i = 1; i < AUTH_REASON_COUNT; i++)
        json_object_set_new(au, auth_reason_name((enum auth_reason)i),
                            json_integer((json_int_t)s->auth[i]));
    json_object_set_new(o, "auth_refused", au);
    json_t *ls = json_array();
    for (size_t i = 0; i < *h->cfg.n_udp; i++) {
        const struct udp *u = h->cfg.udp[i];
        json_array_append_new(ls, json_pack("{ss sI sb sI}", "address", udp_name(u), "rcvbuf",
                                            (json_int_t)udp_rcvbuf(u), "rcvbuf_clamped",
                                            udp_rcvbuf_clamped(u), "kernel_drops",
                                            (json_int_t)udp_drops(u)));
    }
    json_object_set_new(o, "listeners", ls);
    json_t *sk = json_object();
    sink_tokens(h, add_sink_json, sk);
    json_object_set_new(o, "sink", sk);
    reply_json(r, 200, o);
}

struct text {
    char *buf;
    size_t len, cap;
    bool oom;
};

static void tprintf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void tprintf(struct text *t, const char *fmt, ...)
{
    for (;;) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->buf + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0)
            return;
        if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = t->cap * 2 + (size_t)n;
        char *b = realloc(t->buf, cap);
        if (b == NULL) {
            t->oom = true;
            return;
        }
        t->buf = b;
        t->cap = cap;
    }
}

static void family(struct text *t, const char *name, const char *help, const char *type)
{
    tprintf(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void add_sink_metric(const char *k, const char *v, void *d)
{
    struct text *t = d;
    char *end;
    double x = strtod(v, &end);
    if (strcmp(k, "amqp") == 0) {
        family(t, "injector_amqp_up", "1 while connected to the broker.", "gauge");
        tprintf(t, "injector_amqp_up %d\n", strcmp(v, "up") == 0);
        return;
    }
    if (*end != '\0')
        return;
    /* Levels are gauges; everything else the sink reports only grows. */
    bool gauge = strcmp(k, "queued") == 0 || strcmp(k, "spool_bytes") == 0 ||
                 strcmp(k, "oldest_unconfirmed_s") == 0;
    char name[96];
    snprintf(name, sizeof(name), "injector_sink_%s%s", k, gauge ? "" : "_total");
    family(t, name, "Sink counter (see README, Send changes to RabbitMQ).",
           gauge ? "gauge" : "counter");
    tprintf(t, "%s %.17g\n", name, x);
}

static void get_metrics(struct http *h, struct reply *r)
{
    struct metric m[MAX_METRICS];
    size_t n = collect(h, m);
    const struct stats *s = ingest_stats(h->cfg.ingest);
    struct text t = {.cap = 8192};
    if ((t.buf = malloc(t.cap)) == NULL) {
        reply_error(r, 500, "out of memory");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char name[96];
        snprintf(name, sizeof(name), "injector_%s%s", m[i].name, m[i].counter ? "_total" : "");
        family(&t, name, m[i].help, m[i].counter ? "counter" : "gauge");
        tprintf(&t, "%s %.17g\n", name, m[i].value);
    }
    family(&t, "injector_outcomes_total", "Alerts by the outcome they had.", "counter");
    for (int i = 0; i < CHANGE_OUTCOME_COUNT; i++)
        tprintf(&t, "injector_outcomes_total{outcome=\"%s\"} %" PRIu64 "\n",
                change_outcome_name((enum change_outcome)i), s->outcomes[i]);
    family(&t, "injector_refused_total", "Datagrams and alerts refused, by reason.", "counter");
    for (int i = 1; i < ALERT_XML_REASON_COUNT; i++)
        tprintf(&t, "injector_refused_total{reason=\"%s\"} %" PRIu64 "\n",
                alert_xml_reason_name((enum alert_xml_reason)i), s->rejects[i]);
    family(&t, "injector_auth_refused_total", "Datagrams refused by the signature check.",
           "counter");
    for (int i = 1; i < AUTH_REASON_COUNT; i++)
        tprintf(&t, "injector_auth_refused_total{reason=\"%s\"} %" PRIu64 "\n",
                auth_reason_name((enum auth_reason)i), s->auth[i]);
    family(&t, "injector_rcvbuf_bytes", "Receive buffer the kernel granted, per listener.",
           "gauge");
    for (size_t i = 0; i < *h->cfg.n_udp; i++)
        tprintf(&t, "injector_rcvbuf_bytes{listener=\"%s\"} %zu\n", udp_name(h->cfg.udp[i]),
                udp_rcvbuf(h->cfg.udp[i]));
    sink_tokens(h, add_sink_metric, &t);
    if (t.oom) {
        free(t.buf);
        reply_error(r, 500, "out of memory");
        return;
    }
    r->status = 200;
    r->type = "text/plain; version=0.0.4; charset=utf-8";
    r->body = t.buf;
    r->len = t.len;
}

static int source_cb(const struct source_info *info, void *data)
{
    char addr[72], seen[32];
    udp_format_addr(info->addr, addr, sizeof(addr));
    change_format_time(info->last_seen_ms, seen, sizeof(seen));
    json_t *o = json_pack("{ss sI sI sI sI sI ss}", "sender", addr, "datagrams",
                          (json_int_t)info->datagrams, "alerts", (json_int_t)info->alerts,
                          "seq_gaps", (json_int_t)info->seq_gaps, "reordered",
                          (json_int_t)info->reordered, "duplicates",
                          (json_int_t)info->duplicates, "last_seen", seen);
    json_object_set_new(o, "last_seq", info->last_seq < 0 ? json_null()
                                                          : json_integer(info->last_seq));
    json_array_append_new(data, o);
    return 0;
}

static void get_sources(struct http *h, struct reply *r)
{
    struct sources_totals t;
    json_t *arr = json_array();
    sources_foreach(ingest_sources(h->cfg.ingest), source_cb, arr);
    sources_totals(ingest_sources(h->cfg.ingest), &t);
    reply_json(r, 200,
               json_pack("{so sI}", "sources", arr, "untracked_datagrams", (json_int_t)t.untracked));
}

/* Equal strings, compared in time that depends only on the length of the given one, so the
 * answer time does not tell how much of a guessed token was right. */
static bool token_equal(const char *given, const char *token)
{
    size_t n = strlen(token), m = strlen(given);
    unsigned char diff = (unsigned char)(n != m);
    for (size_t i = 0; i < m; i++)
        diff |= (unsigned char)(given[i] ^ token[i < n ? i : 0]);
    return diff == 0;
}

static const struct dashboard_file *dashboard_file(const char *url)
{
    for (const struct dashboard_file *f = dashboard_files; f->path != NULL; f++)
        if (strcmp(url, f->path) == 0)
            return f;
    return NULL;
}

/* The page's files carry no data (its script asks /v1/alerts with the token): open. */
static bool authorized(struct http *h, struct MHD_Connection *conn, const char *url)
{
    if (h->token == NULL || strcmp(url, "/healthz") == 0 || dashboard_file(url) != NULL ||
        (strcmp(url, "/metrics") == 0 && !h->cfg.token_metrics))
        return true;
    const char *auth = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
    return auth != NULL && strncmp(auth, "Bearer ", 7) == 0 && token_equal(auth + 7, h->token);
}

static void route(struct http *h, struct MHD_Connection *conn, const char *url, struct reply *r)
{
    if (!authorized(h, conn, url)) {
        reply_error(r, 401, "a bearer token is required (Authorization: Bearer ...)");
        return;
    }
    const struct dashboard_file *page = dashboard_file(url);
    if (page != NULL) {
        r->status = 200;
        r->type = page->type;
        r->body = malloc(page->len);
        r->len = page->len;
        r->page = true;
        if (r->body != NULL)
            memcpy(r->body, page->data, page->len);
    } else if (strcmp(url, "/healthz") == 0) {
        r->status = 200;
        r->type = "text/plain; charset=utf-8";
        r->body = strdup("ok\n");
        r->len = 3;
    } else if (strcmp(url, "/v1/alerts") == 0) {
        get_alerts(h, conn, r);
    } else if (strcmp(url, "/v1/stats") == 0) {
        get_stats(h, r);
    } else if (strcmp(url, "/metrics") == 0) {
        get_metrics(h, r);
    } else if (strcmp(url, "/v1/sources") == 0) {
        get_sources(h, r);
    } else {
        reply_error(r, 404, "not found: try / (the dashboard), /v1/alerts, /v1/stats, "
                            "/v1/sources, /metrics, /healthz");
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version,
                                  const char *upload_data, size_t *upload_data_size,
                                  void **con_cls)
{
    struct http *h = cls;
    struct reply r = {0};
    (void)version, (void)upload_data, (void)con_cls;

    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        *upload_data_size = 0; /* a body, if any, is not read */
        reply_error(&r, 405, "method not allowed: GET or HEAD");
    } else {
        route(h, conn, url, &r);
    }
    if (r.body == NULL)
        return MHD_NO; /* out of memory: MHD drops the connection */
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(r.len, r.body, MHD_RESPMEM_MUST_FREE);
    if (resp == NULL) {
        free(r.body);
        return MHD_NO;
    }
    MHD_add_response_header(resp, "Content-Type", r.type);
    MHD_add_response_header(resp, "Cache-Control", "no-store");
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    if (r.page) {
        /* Host names and messages come from the network: the page puts them in as text,
         * and this policy lets nothing but our own files run or load if it ever did not. */
        MHD_add_response_header(resp, "Content-Security-Policy",
                                "default-src 'none'; script-src 'self'; style-src 'self'; "
                                "connect-src 'self'; img-src 'self'; base-uri 'none'; "
                                "form-action 'none'; frame-ancestors 'none'");
        MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    }
    if (r.status == 405)
        MHD_add_response_header(resp, "Allow", "GET, HEAD");
    if (r.status == 401)
        MHD_add_response_header(resp, "WWW-Authenticate", "Bearer realm=\"injector\"");
    enum MHD_Result ret = MHD_queue_response(conn, (unsigned)r.status, resp);
    MHD_destroy_response(resp);
    return ret;
}

/* ---- libuv glue ------------------------------------------------------------------ */

static void schedule(struct http *h);

static void run_mhd(struct http *h)
{
    MHD_run(h->mhd);
    schedule(h);
}

static void on_poll(uv_poll_t *p, int status, int events)
{
    (void)status, (void)events;
    run_mhd(p->data);
}

static void on_timer(uv_timer_t *t)
{
    run_mhd(t->data);
}

/* MHD says when it next needs to run (0 while it has ready connections to serve). */
static void schedule(struct http *h)
{
    MHD_UNSIGNED_LONG_LONG ms;
    if (h->closing)
        return;
    if (MHD_get_timeout(h->mhd, &ms) == MHD_YES)
        uv_timer_start(&h->timer, on_timer, ms, 0);
    else
        uv_timer_stop(&h->timer);
}

static void on_closed(uv_handle_t *handle)
{
    struct http *h = handle->data;
    if (--h->closing == 0) {
        free(h->token);
        free(h);
    }
}

int http_new(uv_loop_t *loop, const struct http_config *cfg, struct http **out)
{
    struct http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    h->cfg = *cfg;
    if (cfg->token != NULL && (h->token = strdup(cfg->token)) == NULL) {
        free(h);
        return -ENOMEM;
    }
    h->cfg.token = NULL; /* the owned copy is h->token */
    h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG, 0, NULL, NULL, on_request, h,
                              MHD_OPTION_SOCK_ADDR, cfg->addr, MHD_OPTION_CONNECTION_LIMIT,
                              (unsigned)64, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)30,
                              MHD_OPTION_END);
    if (h->mhd == NULL) {
        int err = errno ? errno : EADDRINUSE;
        free(h->token);
        free(h);
        return -err;
    }
    const union MHD_DaemonInfo *ep = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD);
    const union MHD_DaemonInfo *port = MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_BIND_PORT);
    char addr[72];
    udp_format_addr(cfg->addr, addr, sizeof(addr));
    /* the configured address, with the port the kernel gave when 0 was asked */
    char *colon = strrchr(addr, ':');
    if (colon != NULL && port != NULL)
        snprintf(colon + 1, sizeof(addr) - (size_t)(colon + 1 - addr), "%u", port->port);
    snprintf(h->name, sizeof(h->name), "%s", addr);

    uv_poll_init(loop, &h->poll, ep->epoll_fd);
    uv_timer_init(loop, &h->timer);
    h->poll.data = h->timer.data = h;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    schedule(h);
    *out = h;
    return 0;
}

void http_close(struct http *h)
{
    if (h == NULL)
        return;
    h->closing = 2;
    uv_poll_stop(&h->poll); /* before MHD closes the descriptor it watches */
    uv_timer_stop(&h->timer);
    MHD_stop_daemon(h->mhd);
    uv_close((uv_handle_t *)&h->poll, on_closed);
    uv_close((uv_handle_t *)&h->timer, on_closed);
}

int http_set_token(struct http *h, const char *token, bool token_metrics)
{
    char *copy = NULL;
    if (token != NULL && (copy = strdup(token)) == NULL)
        return -ENOMEM;
    free(h->token);
    h->token = copy;
    h->cfg.token_metrics = token_metrics;
    return 0;
}

int http_read_token(const char *path, char *buf, size_t size)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    char *ok = fgets(buf, (int)size, f);
    fclose(f);
    if (ok == NULL)
        return -EINVAL;
    buf[strcspn(buf, "\r\n")] = '\0';
    return buf[0] != '\0' ? 0 : -EINVAL;
}

const char *http_name(const struct http *h)
{
    return h->name;
}
