/* http.c - the HTTP API on libmicrohttpd, driven by the libuv loop. */
#include "collector/http.h"
#include "collector/dashboard.h"

#include "collector/address.h"
#include "collector/log.h"
#include "collector/sources.h"
#include "sink/change.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <jansson.h>
#include <microhttpd.h>

/* Connections at once. At the limit a newcomer takes the slot of the oldest connection
 * still waiting for its request (a slowloris, an idle keep-alive), so the API stays
 * reachable however many addresses hold connections open. */
#define HTTP_MAX_CONNECTIONS 64
/* A request's headers must be whole this long after the connection opened or the last
 * answer went out, trickled byte by byte or not; then the connection is closed. */
#define HTTP_REQUEST_S 10
/* libmicrohttpd's own timeout: no byte either way for this long (a client that stopped
 * reading an answer). */
#define HTTP_IDLE_S 30
/* Connections that gave way may still be open until libmicrohttpd has read their EOF (the
 * same loop iteration, normally): at most this many over the limit. */
#define HTTP_SLACK 8
/* Accepted per wake-up, so a connection storm cannot starve the UDP path. */
#define HTTP_ACCEPT_BATCH 16
/* Out of descriptors and unable to shed: accepting pauses this long rather than spin. */
#define HTTP_PAUSE_MS 1000
/* Distinct libmicrohttpd messages rate-limited apart; the rest share the last slot. */
#define MHD_LOG_KINDS 8

/* One per connection libmicrohttpd holds, for the request deadline and the count. */
struct http_conn {
    struct http_conn *prev, *next;
    int fd;
    uint64_t since_ms; /* opened, or the last answer finished */
    bool in_request;   /* headers whole, answer not yet finished: no deadline */
    bool in_body;      /* but a POST's body still coming: the deadline holds */
    bool shut;         /* shut down by us; libmicrohttpd closes it when it sees EOF */
};

struct http {
    struct http_config cfg;
    char *token; /* owned copy; NULL: none */
    uv_loop_t *loop;
    struct MHD_Daemon *mhd;
    uv_poll_t poll;   /* libmicrohttpd's epoll descriptor */
    uv_timer_t timer; /* libmicrohttpd's next timeout */
    /* The listening socket is ours, not libmicrohttpd's: it is watched only while a
     * connection can be taken, so it never wakes the loop for nothing and never waits for
     * libmicrohttpd to notice a slot has freed. */
    int listen_fd;
    int spare_fd; /* held for running out of descriptors: closed to accept and refuse */
    uv_poll_t listen;
    bool accepting;           /* listen is started */
    uint64_t paused_until_ms; /* accepting paused (out of descriptors) */
    uv_timer_t tick;          /* 1 s: request deadlines, the pause, log summaries */
    struct http_conn *conns;
    unsigned n_conns, n_shut;
    struct log_ratelimit rl_conn, rl_fd;
    struct log_ratelimit rl_mhd[MHD_LOG_KINDS];
    const char *mhd_fmt[MHD_LOG_KINDS];
    char mhd_what[MHD_LOG_KINDS][96];
    int closing;
    char name[ADDRESS_TEXT_MAX];
};

static void request_started(struct http *h, struct MHD_Connection *conn);
static void body_coming(struct MHD_Connection *conn, bool coming);

/* Waiting for its request (or the rest of a POST's body): the request deadline holds, and
 * it may give way to a newcomer at the connection limit. */
static bool waiting(const struct http_conn *c)
{
    return !c->in_request || c->in_body;
}

/* The counters, brought up to date (kernel drops, uptime) by the daemon first. */
static void report(struct http *h, struct stats_report *r)
{
    if (h->cfg.refresh != NULL)
        h->cfg.refresh(h->cfg.data);
    ingest_report(h->cfg.ingest, r);
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
    /* Durations are rounded to ms: 15 digits print them as such (17 print 16.877 as
     * 16.876999999999999). */
    r->body = json_dumps(o, JSON_COMPACT | JSON_REAL_PRECISION(15));
    r->len = r->body ? strlen(r->body) : 0;
    json_decref(o);
}

static void reply_error(struct reply *r, int status, const char *msg)
{
    reply_json(r, status, json_pack("{ss}", "error", msg));
}

/* /v1/alerts?host=&component=&severity=&max_severity=&sender=&acked=: every filter given must
 * hold (AND). host, component and sender are exact, or, ending in '*', a prefix ("web*"):
 * no other pattern, because a glob with several stars costs fnmatch(3) a time that grows
 * with the name's length to the power of the stars, for every alert of the table, on the
 * loop thread (one request could stall the collector). Any other '*' is refused. '?' and
 * '[' are plain characters (an IPv6 sender is "[::1]:5000"). severity is exact; max_severity=N
 * keeps N or worse (1 is the most severe: severity <= N). An alert without a severity passes
 * neither. */
struct alerts_filter {
    const char *host, *component, *sender;
    bool host_prefix, component_prefix, sender_prefix; /* the value ended in a star */
    bool has_acked, acked;                             /* acked=true|false: acknowledged or not */
    bool has_severity, has_max_severity;
    int64_t severity, max_severity;
    char error[160]; /* set: the query is refused with a 400 naming the parameter */
};

/* A trailing '*' makes a prefix; a '*' anywhere else is refused (false). */
static bool prefix_pattern(const char *s, bool *prefix)
{
    const char *star = strchr(s, '*');
    *prefix = star != NULL;
    return star == NULL || star[1] == '\0';
}

static bool parse_int(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = v;
    return true;
}

/* A name or value from the query, for an error message: at most 40 bytes, anything but
 * printable ASCII as '?', so the message is valid UTF-8 (jansson refuses it otherwise). */
static const char *shown(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; s[n] != '\0' && n < 40 && n + 1 < size; n++)
        buf[n] = s[n] >= 0x20 && s[n] < 0x7f ? s[n] : '?';
    buf[n] = '\0';
    return buf;
}

/* acked=true|false (the parser's spellings of a boolean: 1/0, yes/no as well). */
static enum MHD_Result acked_arg(struct alerts_filter *f, const char *value)
{
    int64_t b;
    char v[48];
    if (f->has_acked) {
        snprintf(f->error, sizeof(f->error), "parameter 'acked' given twice");
        return MHD_NO;
    }
    if (value == NULL || !alert_parse_bool(value, strlen(value), &b)) {
        snprintf(f->error, sizeof(f->error), "bad value for 'acked': '%s': true or false",
                 shown(value != NULL ? value : "", v, sizeof(v)));
        return MHD_NO;
    }
    f->has_acked = true;
    f->acked = b != 0;
    return MHD_YES;
}

static enum MHD_Result filter_arg(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct alerts_filter *f = cls;
    const char **text = NULL;
    bool *prefix = NULL, *has = NULL;
    int64_t *num = NULL;
    char k[48], v[48];
    (void)kind;
    if (strcmp(key, "host") == 0)
        text = &f->host, prefix = &f->host_prefix;
    else if (strcmp(key, "component") == 0)
        text = &f->component, prefix = &f->component_prefix;
    else if (strcmp(key, "sender") == 0)
        text = &f->sender, prefix = &f->sender_prefix;
    else if (strcmp(key, "severity") == 0)
        num = &f->severity, has = &f->has_severity;
    else if (strcmp(key, "max_severity") == 0)
        num = &f->max_severity, has = &f->has_max_severity;
    else if (strcmp(key, "acked") == 0)
        return acked_arg(f, value);
    else {
        snprintf(f->error, sizeof(f->error),
                 "unknown parameter '%s': /v1/alerts takes host, component, severity, "
                 "max_severity, sender, acked",
                 shown(key, k, sizeof(k)));
        return MHD_NO;
    }
    if ((text != NULL && *text != NULL) || (has != NULL && *has)) {
        snprintf(f->error, sizeof(f->error), "parameter '%s' given twice", key);
        return MHD_NO;
    }
    if (value == NULL || *value == '\0') {
        snprintf(f->error, sizeof(f->error), "parameter '%s' needs a value", key);
        return MHD_NO;
    }
    if (text != NULL) {
        *text = value;
        if (!prefix_pattern(value, prefix)) {
            snprintf(f->error, sizeof(f->error),
                     "bad value for '%s': '%s': a '*' may only end it (a prefix, as web*)", key,
                     shown(value, v, sizeof(v)));
            return MHD_NO;
        }
    } else if (parse_int(value, num)) {
        *has = true;
    } else {
        snprintf(f->error, sizeof(f->error), "bad value for '%s': '%s' is not an integer", key,
                 shown(value, v, sizeof(v)));
        return MHD_NO;
    }
    return MHD_YES;
}

/* Exact, or with prefix set, pattern less its '*' begins s: at most the pattern's length
 * of bytes compared, whatever the name. */
static bool text_match(const char *pattern, bool prefix, const char *s)
{
    if (pattern == NULL)
        return true;
    if (s == NULL)
        return false;
    return prefix ? strncmp(pattern, s, strlen(pattern) - 1) == 0 : strcmp(pattern, s) == 0;
}

static bool filter_match(const struct alerts_filter *f, const struct alert *a,
                         const struct state_meta *m)
{
    bool has_sev = alert_has_num(a, ALERT_SEVERITY);
    int64_t sev = a->num[ALERT_SEVERITY];
    const char *sender = m->sender;
    return (!f->has_acked || f->acked == (m->ack != NULL)) &&
           text_match(f->host, f->host_prefix, a->host) &&
           text_match(f->component, f->component_prefix, a->component) &&
           text_match(f->sender, f->sender_prefix, sender) &&
           (!f->has_severity || (has_sev && sev == f->severity)) &&
           (!f->has_max_severity || (has_sev && sev <= f->max_severity));
}

struct alerts_ctx {
    struct change_json *out;
    const struct alerts_filter *filter;
    size_t n;
    int rc;
};

static int alerts_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    struct alerts_ctx *c = data;
    if (!filter_match(c->filter, a, m))
        return 0;
    if (c->n > 0 && (c->rc = change_json_append(c->out, ",", 1)) != 0)
        return c->rc;
    c->rc = change_json_append_alert(c->out, a, m->version, m->first_seen_ms, m->last_seen_ms,
                                     m->sender, m->ack);
    if (c->rc == 0)
        c->n++;
    return c->rc == -ENOMEM ? c->rc : 0; /* a non-UTF-8 alert cannot exist; skip it */
}

static void get_alerts(struct http *h, struct MHD_Connection *conn, struct reply *r)
{
    struct alerts_filter filter = {0};
    MHD_get_connection_values(conn, MHD_GET_ARGUMENT_KIND, filter_arg, &filter);
    if (filter.error[0] != '\0') {
        reply_error(r, 400, filter.error);
        return;
    }
    /* An exact host walks that host's alerts only. */
    const char *host = filter.host != NULL && !filter.host_prefix ? filter.host : NULL;
    struct state *st = ingest_state(h->cfg.ingest);
    struct change_json out = {0};
    char head[512];
    /* Every version shown here is written to the journal first: a crash (kill -9) can
     * then not take back a version a consumer has seen. */
    ingest_write_journal(h->cfg.ingest);
    /* The version is read in the same loop turn as the alerts: no change can fall between,
     * so a consumer applying queued changes with a higher version is exact. */
    int n = snprintf(head, sizeof(head),
                     "{\"version\":%" PRIu64 ",\"epoch\":\"%016" PRIx64 "\",\"collector\":",
                     state_version(st), state_epoch(st));
    struct alerts_ctx c = {.out = &out, .filter = &filter};
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

/* ---- active alerts by severity ---------------------------------------------------- */

/* Distinct severities counted in a sorted array (binary search, insertion) up to this
 * many; past it, every alert's severity is gathered and sorted instead, so a table of a
 * million distinct severities costs n log n, not n squared. */
#define SEVERITY_SMALL 256

struct severity_count {
    int64_t severity;
    uint64_t n;
};

struct severities {
    struct severity_count *v; /* ascending by severity; malloc'd */
    size_t n, cap;
    uint64_t none; /* alerts without a severity */
    bool overflow; /* more than SEVERITY_SMALL distinct: v is redone by sorting */
    int64_t *all;  /* the overflow path: every severity */
    size_t n_all;
};

static int severity_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    struct severities *s = data;
    (void)m;
    if (!alert_has_num(a, ALERT_SEVERITY)) {
        s->none++;
        return 0;
    }
    int64_t sev = a->num[ALERT_SEVERITY];
    if (s->overflow) {
        s->all[s->n_all++] = sev;
        return 0;
    }
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->v[mid].severity < sev)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < s->n && s->v[lo].severity == sev) {
        s->v[lo].n++;
        return 0;
    }
    if (s->n == SEVERITY_SMALL)
        return 1; /* too many: start over on the sorting path */
    memmove(&s->v[lo + 1], &s->v[lo], (s->n - lo) * sizeof(s->v[0]));
    s->v[lo] = (struct severity_count){sev, 1};
    s->n++;
    return 0;
}

static int int64_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Count the active alerts by severity into *s (zeroed by the caller; free s->v). One walk
 * of the table: at 1,000,000 alerts some tens of ms on the loop, as /v1/alerts. Returns 0
 * or -ENOMEM. */
static int severities_count(struct state *st, struct severities *s)
{
    if ((s->v = malloc(SEVERITY_SMALL * sizeof(s->v[0]))) == NULL)
        return -ENOMEM;
    s->cap = SEVERITY_SMALL;
    if (state_foreach(st, NULL, severity_cb, s) == 0)
        return 0;
    s->overflow = true;
    s->n = s->none = 0;
    if ((s->all = malloc(state_count(st) * sizeof(s->all[0]))) == NULL)
        return -ENOMEM;
    state_foreach(st, NULL, severity_cb, s);
    qsort(s->all, s->n_all, sizeof(s->all[0]), int64_cmp);
    size_t distinct = 0;
    for (size_t i = 0; i < s->n_all; i++)
        distinct += i == 0 || s->all[i] != s->all[i - 1];
    struct severity_count *v = realloc(s->v, distinct * sizeof(*v) + 1);
    if (v == NULL) {
        free(s->all);
        return -ENOMEM;
    }
    s->v = v;
    for (size_t i = 0; i < s->n_all; i++) {
        if (i == 0 || s->all[i] != s->all[i - 1])
            s->v[s->n++] = (struct severity_count){s->all[i], 0};
        s->v[s->n - 1].n++;
    }
    free(s->all);
    return 0;
}

static void listener_json(const struct http_listener *l, void *arg)
{
    json_array_append_new(arg, json_pack("{ss sI sb sI sI sI}", "address", l->address, "rcvbuf",
                                         (json_int_t)l->rcvbuf, "rcvbuf_clamped", l->rcvbuf_clamped,
                                         "kernel_drops", (json_int_t)l->kernel_drops,
                                         "intake_queued", (json_int_t)l->queued,
                                         "intake_queued_peak", (json_int_t)l->queued_peak));
}

static void get_stats(struct http *h, struct reply *r)
{
    struct stats_report rep;
    report(h, &rep);
    json_t *o = json_object();
    json_object_set_new(o, "collector", json_string(h->cfg.collector_id));
    json_object_set_new(o, "injector_version", json_string(INJECTOR_VERSION));
    stats_json(&rep, o);
    /* No count by severity here (that is /metrics'): it walks the table, and clients poll
     * /v1/stats every few ms while a burst drains (injector-burst: every 20 ms). */
    json_t *ls = json_array();
    if (h->cfg.listeners != NULL)
        h->cfg.listeners(listener_json, ls, h->cfg.data);
    json_object_set_new(o, "listeners", ls);
    reply_json(r, 200, o);
}

static void listener_metric(const struct http_listener *l, void *arg)
{
    fprintf(arg, "injector_rcvbuf_bytes{listener=\"%s\"} %zu\n", l->address, l->rcvbuf);
}

static void get_metrics(struct http *h, struct reply *r)
{
    struct stats_report rep;
    char *body = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&body, &len);
    if (f == NULL) {
        reply_error(r, 500, "out of memory");
        return;
    }
    struct severities sev = {0};
    if (severities_count(ingest_state(h->cfg.ingest), &sev) != 0) {
        free(sev.v);
        fclose(f);
        free(body);
        reply_error(r, 500, "out of memory");
        return;
    }
    report(h, &rep);
    stats_prometheus(&rep, f);
    fprintf(f, "# HELP injector_active_alerts_by_severity Alerts active now, by severity (1 the "
               "most severe; \"none\": without one). Only the severities present.\n"
               "# TYPE injector_active_alerts_by_severity gauge\n");
    for (size_t i = 0; i < sev.n; i++)
        fprintf(f, "injector_active_alerts_by_severity{severity=\"%" PRId64 "\"} %" PRIu64 "\n",
                sev.v[i].severity, sev.v[i].n);
    if (sev.none > 0)
        fprintf(f, "injector_active_alerts_by_severity{severity=\"none\"} %" PRIu64 "\n", sev.none);
    free(sev.v);
    fprintf(f, "# HELP injector_rcvbuf_bytes Receive buffer the kernel granted, per listener.\n"
               "# TYPE injector_rcvbuf_bytes gauge\n");
    if (h->cfg.listeners != NULL)
        h->cfg.listeners(listener_metric, f, h->cfg.data);
    if (ferror(f) | fclose(f)) {
        free(body);
        reply_error(r, 500, "out of memory");
        return;
    }
    r->status = 200;
    r->type = "text/plain; version=0.0.4; charset=utf-8";
    r->body = body;
    r->len = len;
}

static int source_cb(const struct source_info *info, void *data)
{
    char addr[ADDRESS_TEXT_MAX], seen[32];
    address_format(info->addr, addr, sizeof(addr));
    change_format_time(info->last_seen_ms, seen, sizeof(seen));
    json_t *o = json_pack(
        "{ss sI sI sI sI sI ss}", "sender", addr, "datagrams", (json_int_t)info->datagrams,
        "alerts", (json_int_t)info->alerts, "seq_gaps", (json_int_t)info->seq_gaps, "reordered",
        (json_int_t)info->reordered, "duplicates", (json_int_t)info->duplicates, "last_seen", seen);
    json_object_set_new(o, "last_seq",
                        info->last_seq < 0 ? json_null() : json_integer(info->last_seq));
    json_array_append_new(data, o);
    return 0;
}

static void get_sources(struct http *h, struct reply *r)
{
    struct sources_totals t;
    json_t *arr = json_array();
    sources_foreach(ingest_sources(h->cfg.ingest), source_cb, arr);
    sources_totals(ingest_sources(h->cfg.ingest), &t);
    reply_json(
        r, 200,
        json_pack("{so sI}", "sources", arr, "untracked_datagrams", (json_int_t)t.untracked));
}

static void get_history(struct http *h, struct reply *r)
{
    json_t *o = h->cfg.history != NULL ? history_json(h->cfg.history) : NULL;
    if (o != NULL)
        reply_json(r, 200, o);
    else if (h->cfg.history != NULL)
        reply_error(r, 500, "out of memory");
    else
        reply_error(r, 404, "not found: this collector keeps no history");
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

/* ---- acknowledgements: POST /v1/ack, /v1/unack ------------------------------------- */

/* A request body is read into this, across calls of on_request (its con_cls); past the cap
 * the rest is read and thrown away, and the answer is a 413. */
#define HTTP_BODY_MAX 8192

struct http_body {
    size_t len;
    bool too_large;
    char buf[HTTP_BODY_MAX];
};

static bool is_ack_path(const char *url)
{
    return strcmp(url, "/v1/ack") == 0 || strcmp(url, "/v1/unack") == 0;
}

/* What a POST to an ack path can be told from its headers alone: no token configured (403),
 * not authorized (401), a body announced over the cap (413). Returns false with r filled,
 * or true: read the body. */
static bool post_admitted(struct http *h, struct MHD_Connection *conn, const char *url,
                          struct reply *r)
{
    if (h->token == NULL) {
        reply_error(r, 403,
                    "acknowledgements need a token: start injectord with --http-token-file FILE");
        return false;
    }
    if (!authorized(h, conn, url)) {
        reply_error(r, 401, "a bearer token is required (Authorization: Bearer ...)");
        return false;
    }
    const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
    if (cl != NULL && strtoull(cl, NULL, 10) > HTTP_BODY_MAX) {
        reply_error(r, 413, "the body is over 8 KiB");
        return false;
    }
    return true;
}

/* The control characters a text field of the body may hold. A name or a comment reaches
 * terminals (injector-consume --format text, injector-ctl, the log) and one line per change:
 * ESC, CR, BEL and the like would be printed raw. host and component are compared with the
 * alerts', whatever those hold: not checked. */
enum body_text {
    BODY_KEY,   /* anything (UTF-8, no NUL) */
    BODY_LINE,  /* no C0 control, no DEL, no C1 control (U+0080-U+009F) */
    BODY_LINES, /* the same, but newline and tab: a person writes lines */
};

/* Whether s (UTF-8, as jansson checked it) holds a control character rule refuses. */
static bool body_has_control(const char *s, enum body_text rule)
{
    return rule != BODY_KEY && alert_text_has_control(s, rule == BODY_LINES);
}

/* Whether a field is part of a path's body. */
enum body_use { BODY_UNUSED, BODY_OPTIONAL, BODY_REQUIRED };

/* The fields of an ack or unack body: the one list that the unknown-field check, the usage
 * text and the checks of each value walk. */
struct body_field {
    const char *name;
    enum body_use use[2]; /* [0] /v1/ack, [1] /v1/unack */
    size_t max;           /* a string of 1..max bytes; 0: not a string (expire: body_expire) */
    enum body_text text;
    size_t offset; /* of its const char * in struct ingest_ack */
};

#define INTO(field) offsetof(struct ingest_ack, field)
/* One line per field: kept as a table by hand. */
/* clang-format off */
static const struct body_field body_fields[] = {
    /* name        /v1/ack         /v1/unack       max                    text        into */
    {"host",      {BODY_REQUIRED, BODY_REQUIRED}, ALERT_KEY_MAX,         BODY_KEY,   INTO(host)},
    {"component", {BODY_REQUIRED, BODY_REQUIRED}, ALERT_KEY_MAX,         BODY_KEY,   INTO(component)},
    {"author",    {BODY_REQUIRED, BODY_OPTIONAL}, ALERT_ACK_AUTHOR_MAX,  BODY_LINE,  INTO(author)},
    {"comment",   {BODY_REQUIRED, BODY_UNUSED},   ALERT_ACK_COMMENT_MAX, BODY_LINES, INTO(comment)},
    {"expire",    {BODY_OPTIONAL, BODY_UNUSED},   0,                     BODY_KEY,   0},
};
/* clang-format on */
#undef INTO
#define BODY_FIELDS (sizeof(body_fields) / sizeof(body_fields[0]))

/* The body field named key, used by path (0 ack, 1 unack), or NULL. */
static const struct body_field *body_field_find(const char *key, int path)
{
    for (size_t i = 0; i < BODY_FIELDS; i++)
        if (strcmp(body_fields[i].name, key) == 0 && body_fields[i].use[path] != BODY_UNUSED)
            return &body_fields[i];
    return NULL;
}

/* "/v1/ack takes host, component, ...": the fields path (0 ack, 1 unack) takes, into buf. */
static const char *body_usage(int path, char *buf, size_t size)
{
    size_t n = (size_t)snprintf(buf, size, "%s takes", path == 0 ? "/v1/ack" : "/v1/unack");
    const char *sep = " ";
    for (size_t i = 0; i < BODY_FIELDS && n < size; i++) {
        if (body_fields[i].use[path] == BODY_UNUSED)
            continue;
        n += (size_t)snprintf(buf + n, size - n, "%s%s", sep, body_fields[i].name);
        sep = ", ";
    }
    return buf;
}

/* A string field f of the body: absent (NULL; fine unless required), or a string of 1..max
 * bytes (jansson has checked it is UTF-8 and has no NUL) with no control character its rule
 * refuses, stored at f->offset in req. Returns false with r filled (400 naming it). */
static bool body_string(json_t *o, const struct body_field *f, enum body_use use,
                        struct ingest_ack *req, struct reply *r)
{
    char msg[160];
    json_t *v = json_object_get(o, f->name);
    if (v == NULL && use != BODY_REQUIRED)
        return true;
    if (v == NULL) {
        snprintf(msg, sizeof(msg), "missing field '%s'", f->name);
    } else if (!json_is_string(v) || json_string_length(v) == 0 || json_string_length(v) > f->max ||
               strlen(json_string_value(v)) != json_string_length(v)) {
        snprintf(msg, sizeof(msg), "bad value for '%s': a string of 1 to %zu bytes", f->name,
                 f->max);
    } else if (body_has_control(json_string_value(v), f->text)) {
        snprintf(msg, sizeof(msg), "bad value for '%s': control characters are refused%s", f->name,
                 f->text == BODY_LINES ? " (newline and tab are allowed)" : "");
    } else {
        *(const char **)((char *)req + f->offset) = json_string_value(v);
        return true;
    }
    reply_error(r, 400, msg);
    return false;
}

/* The expiry field f ("expire"): a duration as the collector's settings take them ("90",
 * "15m", "4h"), or whole seconds as a number; absent, null or 0: none. Returns false with r
 * filled (400). */
static bool body_expire(json_t *o, const struct body_field *f, int64_t *ms, struct reply *r)
{
    char msg[160];
    json_t *v = json_object_get(o, f->name);
    uint64_t d = 0;
    *ms = 0;
    if (v == NULL || json_is_null(v))
        return true;
    if (json_is_integer(v) && json_integer_value(v) >= 0 &&
        json_integer_value(v) <= ALERT_ACK_EXPIRE_MAX_MS / 1000)
        d = (uint64_t)json_integer_value(v) * 1000;
    else if (!json_is_string(v) || alert_parse_duration(json_string_value(v), &d) != 0 ||
             d > (uint64_t)ALERT_ACK_EXPIRE_MAX_MS)
        d = UINT64_MAX;
    if (d == UINT64_MAX) {
        snprintf(msg, sizeof(msg),
                 "bad value for '%s': a duration (\"90\", \"15m\", \"4h\") or whole seconds, at "
                 "most %lldh",
                 f->name, ALERT_ACK_EXPIRE_MAX_MS / 3600000);
        reply_error(r, 400, msg);
        return false;
    }
    *ms = (int64_t)d;
    return true;
}

struct item_ctx {
    struct change_json *out;
    int rc;
};

static int item_cb(const struct alert *a, const struct state_meta *m, void *data)
{
    struct item_ctx *c = data;
    c->rc = change_json_append_alert(c->out, a, m->version, m->first_seen_ms, m->last_seen_ms,
                                     m->sender, m->ack);
    return 0;
}

/* The whole body is here: check it, apply it through ingest (journal, then sinks, as a
 * datagram's change), answer with the outcome, the version and the alert as /v1/alerts
 * shows it. */
static void post_ack(struct http *h, const char *url, const struct http_body *b, struct reply *r)
{
    bool unack = strcmp(url, "/v1/unack") == 0;
    int path = unack ? 1 : 0; /* into body_field.use */
    /* The 404 and 409 name host and component whole (up to 255 bytes each, UTF-8 in JSON). */
    char msg[700], k[48], hs[48], cs[48], usage[128];
    json_error_t je;
    json_t *o = NULL;
    struct change_json out = {0};
    if (b->too_large) {
        reply_error(r, 413, "the body is over 8 KiB");
        goto out;
    }
    o = json_loadb(b->buf, b->len, JSON_REJECT_DUPLICATES, &je);
    if (!json_is_object(o)) {
        snprintf(msg, sizeof(msg), "the body is not a JSON object: %s",
                 o == NULL ? shown(je.text, k, sizeof(k)) : "another JSON value");
        reply_error(r, 400, msg);
        goto out;
    }
    const char *key;
    json_t *val;
    json_object_foreach(o, key, val)
    {
        if (body_field_find(key, path) == NULL) {
            snprintf(msg, sizeof(msg), "unknown field '%s': %s", shown(key, k, sizeof(k)),
                     body_usage(path, usage, sizeof(usage)));
            reply_error(r, 400, msg);
            goto out;
        }
    }
    bool ok = true;
    struct ingest_ack req = {.unack = unack};
    int64_t now = change_now_ms(), expire = 0;
    for (size_t i = 0; i < BODY_FIELDS && ok; i++) {
        const struct body_field *f = &body_fields[i];
        if (f->use[path] != BODY_UNUSED)
            ok = f->max != 0 ? body_string(o, f, f->use[path], &req, r)
                             : body_expire(o, f, &expire, r);
    }
    if (!ok)
        goto out;
    req.expires_ms = expire != 0 ? now + expire : 0;

    struct state_result res;
    int rc = ingest_ack(h->cfg.ingest, &req, now, (int64_t)uv_now(h->loop), &res);
    if (rc == -ENOENT) {
        snprintf(msg, sizeof(msg), "no active alert for host '%s', component '%s'", req.host,
                 req.component);
        reply_error(r, 404, msg);
        goto out;
    }
    if (rc == -ENODATA) {
        snprintf(msg, sizeof(msg), "the alert for host '%s', component '%s' is not acknowledged",
                 req.host, req.component);
        reply_error(r, 409, msg);
        goto out;
    }
    if (rc != 0) {
        reply_error(r, 500, "out of memory");
        goto out;
    }
    /* The log line stays one line of printable ASCII: names shortened, the rest as '?'. */
    log_info("http %s: %s %s/%s by %s (version %" PRIu64 ")", h->name, unack ? "unack" : "ack",
             shown(req.host, hs, sizeof(hs)), shown(req.component, cs, sizeof(cs)),
             req.author != NULL ? shown(req.author, k, sizeof(k)) : "(not said)", res.version);
    struct item_ctx c = {.out = &out};
    char head[96];
    int n = snprintf(head, sizeof(head), "{\"outcome\":\"%s\",\"version\":%" PRIu64 ",\"alert\":",
                     unack ? "unack" : "ack", res.version);
    if (change_json_append(&out, head, (size_t)n) != 0 ||
        state_lookup(ingest_state(h->cfg.ingest), req.host, req.component, item_cb, &c) != 0 ||
        c.rc != 0 || change_json_append(&out, "}", 1) != 0) {
        reply_error(r, 500, "out of memory");
        goto out;
    }
    r->status = 200;
    r->type = "application/json";
    r->body = out.buf; /* ownership passes to the response */
    r->len = out.len;
    out = (struct change_json){0};
out:
    change_json_free(&out);
    json_decref(o);
}

/* A POST to an ack path, across the calls libmicrohttpd makes: the headers (admit it or
 * answer at once), the body in pieces (kept up to the cap), the end (answer). Returns
 * MHD_YES with r->body NULL while there is more to read; r filled for the answer. */
static enum MHD_Result post_step(struct http *h, struct MHD_Connection *conn, const char *url,
                                 const char *upload_data, size_t *upload_data_size, void **con_cls,
                                 struct reply *r)
{
    struct http_body *b = *con_cls;
    if (b == NULL) {
        if (!post_admitted(h, conn, url, r)) {
            *upload_data_size = 0;
            return MHD_YES;
        }
        if ((b = malloc(sizeof(*b))) == NULL)
            return MHD_NO;
        b->len = 0;
        b->too_large = false;
        *con_cls = b; /* freed in on_completed */
        body_coming(conn, true);
        return MHD_YES;
    }
    if (*upload_data_size > 0) {
        size_t n = *upload_data_size;
        if (b->too_large || n > HTTP_BODY_MAX - b->len) {
            b->too_large = true; /* the rest is read and dropped: the answer is a 413 */
        } else {
            memcpy(b->buf + b->len, upload_data, n);
            b->len += n;
        }
        *upload_data_size = 0;
        return MHD_YES;
    }
    body_coming(conn, false);
    post_ack(h, url, b, r);
    return MHD_YES;
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
    } else if (strcmp(url, "/v1/history") == 0) {
        get_history(h, r);
    } else {
        reply_error(r, 404,
                    "not found: try / (the dashboard), /v1/alerts, /v1/stats, "
                    "/v1/history, /v1/sources, /metrics, /healthz");
    }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct http *h = cls;
    struct reply r = {0};
    (void)version;
    request_started(h, conn);

    bool ack_path = is_ack_path(url);
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    if (ack_path && strcmp(method, "POST") == 0) {
        if (post_step(h, conn, url, upload_data, upload_data_size, con_cls, &r) != MHD_YES)
            return MHD_NO;
        if (r.status == 0)
            return MHD_YES; /* more of the body to come */
    } else if (ack_path || !get) {
        *upload_data_size = 0; /* a body, if any, is not read */
        reply_error(&r, 405,
                    ack_path ? "method not allowed: POST" : "method not allowed: GET or HEAD");
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
        MHD_add_response_header(resp, "Allow", ack_path ? "POST" : "GET, HEAD");
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

static void on_listen(uv_poll_t *p, int status, int events);

/* A connection that could give way to a newcomer: still waiting for its request. */
static bool can_make_room(const struct http *h)
{
    for (const struct http_conn *c = h->conns; c != NULL; c = c->next)
        if (waiting(c) && !c->shut)
            return true;
    return false;
}

/* At the limit: a newcomer needs a slot made for it. */
static bool full(const struct http *h)
{
    return h->n_conns - h->n_shut >= HTTP_MAX_CONNECTIONS;
}

/* A connection can be taken now, a slot made for it if need be. */
static bool can_take(const struct http *h)
{
    return h->n_conns < HTTP_MAX_CONNECTIONS + HTTP_SLACK && (!full(h) || can_make_room(h));
}

/* Watch the listening socket exactly while a connection can be taken (or a slot made for
 * it): the socket is level-triggered, watching it otherwise would spin. */
static void set_accepting(struct http *h)
{
    bool want = !h->closing && uv_now(h->loop) >= h->paused_until_ms && can_take(h);
    if (want && !h->accepting)
        uv_poll_start(&h->listen, UV_READABLE, on_listen);
    else if (!want && h->accepting)
        uv_poll_stop(&h->listen);
    h->accepting = want;
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
    set_accepting(h);
}

/* libmicrohttpd's messages, prefixed and rate-limited by format (they are constant
 * strings, so the pointer tells one kind from another). */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct http *h = cls;
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    size_t i = 0;
    while (i < MHD_LOG_KINDS - 1 && h->mhd_fmt[i] != NULL && h->mhd_fmt[i] != fmt)
        i++;
    if (h->mhd_fmt[i] == NULL) {
        h->mhd_fmt[i] = fmt;
        if (i < MHD_LOG_KINDS - 1)
            snprintf(h->mhd_what[i], sizeof(h->mhd_what[i]), "like \"%.60s\"", msg);
        else
            snprintf(h->mhd_what[i], sizeof(h->mhd_what[i]), "libmicrohttpd messages");
        h->rl_mhd[i].what = h->mhd_what[i];
    }
    log_ratelimited(&h->rl_mhd[i], (int64_t)uv_now(h->loop), LOG_LEVEL_WARNING,
                    "http %s: libmicrohttpd: %s", h->name, msg);
}

/* Close c from our side: libmicrohttpd sees the hang-up and closes it, which frees the
 * slot. The descriptor stays libmicrohttpd's (shutdown, not close: no reuse race). */
static void shut(struct http *h, struct http_conn *c)
{
    shutdown(c->fd, SHUT_RDWR);
    c->shut = true;
    h->n_shut++;
}

static void drop(struct http *h, struct http_conn *c)
{
    shut(h, c);
    ingest_count_http(h->cfg.ingest, INGEST_HTTP_DROPPED);
}

/* At the limit: the oldest connection still waiting for its request gives way. Returns
 * whether one did. */
static bool make_room(struct http *h)
{
    struct http_conn *oldest = NULL;
    for (struct http_conn *c = h->conns; c != NULL; c = c->next)
        if (waiting(c) && !c->shut && (oldest == NULL || c->since_ms < oldest->since_ms))
            oldest = c;
    if (oldest == NULL)
        return false;
    log_ratelimited(&h->rl_conn, (int64_t)uv_now(h->loop), LOG_LEVEL_WARNING,
                    "http %s: %d connections open: closed the one waiting longest (%.1f s) for "
                    "its request, for a new client (counted in http_dropped)",
                    h->name, HTTP_MAX_CONNECTIONS,
                    (double)(uv_now(h->loop) - oldest->since_ms) / 1000.0);
    drop(h, oldest);
    return true;
}

/* Out of descriptors: close the spare, accept what waits and close it at once (the clients
 * learn now, rather than hang in the queue), take the spare back. At most HTTP_ACCEPT_BATCH
 * per call: a flood can refill the queue as fast as it is emptied, so "until EAGAIN" might
 * never end; the listening socket is level-triggered and brings us back next iteration,
 * after UDP and the timers had their turn. If the spare cannot be had, or the error is
 * another one, accepting pauses. */
static void shed(struct http *h, int err)
{
    unsigned refused = 0;
    int last = -1; /* the error that ended the batch; 0: the batch was used up */
    if (h->spare_fd >= 0 && (err == EMFILE || err == ENFILE)) {
        close(h->spare_fd);
        last = 0;
        for (int i = 0; i < HTTP_ACCEPT_BATCH; i++) {
            int fd = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                close(fd);
                refused++;
                ingest_count_http(h->cfg.ingest, INGEST_HTTP_REFUSED);
            } else if (errno != EINTR && errno != ECONNABORTED) {
                last = errno;
                break;
            }
        }
        h->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
    bool paused = (last != 0 && last != EAGAIN && last != EWOULDBLOCK) || h->spare_fd < 0;
    if (paused)
        h->paused_until_ms = uv_now(h->loop) + HTTP_PAUSE_MS;
    log_ratelimited(&h->rl_fd, (int64_t)uv_now(h->loop), LOG_LEVEL_ERROR,
                    "http %s: cannot accept: %s; %u connection(s) refused (counted in "
                    "http_refused)%s",
                    h->name, strerror(err), refused, paused ? "; not accepting for a second" : "");
}

static void on_listen(uv_poll_t *p, int status, int events)
{
    struct http *h = p->data;
    (void)status, (void)events;
    for (int i = 0; i < HTTP_ACCEPT_BATCH; i++) {
        if (!can_take(h))
            break;
        bool make = full(h);
        struct sockaddr_storage addr;
        socklen_t len = sizeof(addr);
        int fd =
            accept4(h->listen_fd, (struct sockaddr *)&addr, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                break;
            if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO || errno == EPERM)
                continue;   /* this one connection failed */
            shed(h, errno); /* no descriptor, no memory, or worse: do not spin on it */
            break;
        }
        if (make)
            make_room(h); /* its slot frees once libmicrohttpd has seen the hang-up */
        /* MHD closes fd itself when it cannot take it. */
        if (MHD_add_connection(h->mhd, fd, (struct sockaddr *)&addr, len) != MHD_YES) {
            ingest_count_http(h->cfg.ingest, INGEST_HTTP_REFUSED);
            log_ratelimited(&h->rl_conn, (int64_t)uv_now(h->loop), LOG_LEVEL_WARNING,
                            "http %s: a connection refused: %s (counted in http_refused)", h->name,
                            strerror(errno));
        }
    }
    run_mhd(h);
}

static void on_connection_event(void *cls, struct MHD_Connection *conn, void **socket_context,
                                enum MHD_ConnectionNotificationCode toe)
{
    struct http *h = cls;
    struct http_conn *c = *socket_context;
    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *fd =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        c = calloc(1, sizeof(*c));
        h->n_conns++; /* counted whatever: CLOSED comes for it too */
        ingest_count_http(h->cfg.ingest, INGEST_HTTP_ACCEPTED);
        if (c == NULL)
            return;
        c->fd = fd != NULL ? fd->connect_fd : -1;
        c->since_ms = uv_now(h->loop);
        c->next = h->conns;
        if (h->conns != NULL)
            h->conns->prev = c;
        h->conns = c;
        *socket_context = c;
        return;
    }
    h->n_conns--;
    if (c == NULL)
        return;
    if (c->shut)
        h->n_shut--;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        h->conns = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    free(c);
    *socket_context = NULL;
}

static struct http_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i != NULL ? i->socket_context : NULL;
}

/* The headers are whole: the request deadline is met. */
static void request_started(struct http *h, struct MHD_Connection *conn)
{
    struct http_conn *c = conn_of(conn);
    (void)h;
    if (c != NULL)
        c->in_request = true;
}

/* A POST's body starts coming (the request deadline holds until it is whole), or is whole. */
static void body_coming(struct MHD_Connection *conn, bool coming)
{
    struct http_conn *c = conn_of(conn);
    if (c != NULL)
        c->in_body = coming;
}

/* Answered (or failed): a kept-alive connection waits for its next request from now. */
static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct http *h = cls;
    struct http_conn *c = conn_of(conn);
    (void)toe;
    free(*con_cls); /* a POST's body (post_step), if any */
    *con_cls = NULL;
    if (c != NULL) {
        c->in_request = c->in_body = false;
        c->since_ms = uv_now(h->loop);
    }
}

/* The client's FIN is all that is left to read. A FIN may follow a whole request (an HTTP/1.0
 * client that half-closes once it has sent it): while the request is unread, the connection
 * is libmicrohttpd's to answer, not ours to shut. */
static bool nothing_unread(int fd)
{
    char c;
    return recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

/* Once a second, over the connections waiting for a request: close those past the
 * deadline, and those whose client has gone (its FIN and nothing before it unread).
 * libmicrohttpd watches its sockets edge-triggered and takes a short read for "drained",
 * so a client whose last bytes and FIN arrive together can leave a connection it never
 * reads again; a level-triggered look here frees it within a second instead of at its idle
 * timeout. This runs before the loop polls: a request that came with its FIN since the
 * last poll is still unread here, and is left to be answered. */
static void on_tick(uv_timer_t *t)
{
    struct http *h = t->data;
    uint64_t now = uv_now(h->loop);
    struct pollfd pfd[HTTP_MAX_CONNECTIONS + HTTP_SLACK];
    struct http_conn *polled[HTTP_MAX_CONNECTIONS + HTTP_SLACK];
    nfds_t n = 0;
    unsigned late = 0;
    for (struct http_conn *c = h->conns; c != NULL; c = c->next) {
        if (!waiting(c) || c->shut || c->fd < 0)
            continue;
        if (now - c->since_ms >= HTTP_REQUEST_S * 1000ull) {
            drop(h, c);
            late++;
        } else if (!c->in_request && n < sizeof(pfd) / sizeof(pfd[0])) {
            pfd[n] = (struct pollfd){.fd = c->fd, .events = POLLRDHUP};
            polled[n++] = c;
        }
    }
    if (n > 0 && poll(pfd, n, 0) > 0)
        for (nfds_t i = 0; i < n; i++)
            if (pfd[i].revents & (POLLHUP | POLLERR) ||
                ((pfd[i].revents & POLLRDHUP) && nothing_unread(polled[i]->fd)))
                shut(h, polled[i]);
    if (late > 0)
        log_ratelimited(&h->rl_conn, (int64_t)now, LOG_LEVEL_WARNING,
                        "http %s: closed %u connection(s) without a whole request %d s after "
                        "they opened or were last answered (counted in http_dropped)",
                        h->name, late, HTTP_REQUEST_S);
    log_ratelimit_flush(&h->rl_conn, (int64_t)now);
    log_ratelimit_flush(&h->rl_fd, (int64_t)now);
    for (size_t i = 0; i < MHD_LOG_KINDS && h->mhd_fmt[i] != NULL; i++)
        log_ratelimit_flush(&h->rl_mhd[i], (int64_t)now);
    run_mhd(h); /* sees the hang-ups now, and resumes accepting after a pause */
}

static void on_closed(uv_handle_t *handle)
{
    struct http *h = handle->data;
    if (--h->closing == 0) {
        while (h->conns != NULL) { /* MHD_stop_daemon reported each closed; in case not */
            struct http_conn *c = h->conns;
            h->conns = c->next;
            free(c);
        }
        free(h->token);
        free(h);
    }
}

/* A non-blocking listening socket on addr; *name gets "address:port" as bound. Returns the
 * descriptor or a negative errno. */
static int listen_on(const struct sockaddr *addr, char *name, size_t size)
{
    int one = 1, rc;
    int fd = socket(addr->sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    struct sockaddr_storage bound;
    socklen_t len = sizeof(bound);
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        (addr->sa_family == AF_INET6 &&
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
        bind(fd, addr, address_len(addr)) != 0 || listen(fd, 128) != 0 ||
        getsockname(fd, (struct sockaddr *)&bound, &len) != 0) {
        rc = -errno;
        close(fd);
        return rc;
    }
    address_format((struct sockaddr *)&bound, name, size);
    return fd;
}

int http_new(uv_loop_t *loop, const struct http_config *cfg, struct http **out)
{
    int rc = -ENOMEM;
    struct http *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return -ENOMEM;
    h->cfg = *cfg;
    h->loop = loop;
    h->listen_fd = h->spare_fd = -1;
    h->rl_conn.what = "HTTP connection lines";
    h->rl_fd.what = "HTTP accept errors";
    if (cfg->token != NULL && (h->token = strdup(cfg->token)) == NULL)
        goto fail;
    h->cfg.token = NULL; /* the owned copy is h->token */
    if ((h->listen_fd = listen_on(cfg->addr, h->name, sizeof(h->name))) < 0) {
        rc = h->listen_fd;
        goto fail;
    }
    if ((h->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) < 0) {
        rc = -errno;
        goto fail;
    }
    /* Our limit is enforced before MHD sees a connection; MHD's own is a backstop above
     * it, so a slot freed by us is never refused by it. */
    h->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_ERROR_LOG | MHD_USE_NO_LISTEN_SOCKET, 0, NULL,
                              NULL, on_request, h, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, h,
                              MHD_OPTION_CONNECTION_LIMIT, (unsigned)HTTP_MAX_CONNECTIONS + 16,
                              MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_IDLE_S,
                              MHD_OPTION_NOTIFY_CONNECTION, on_connection_event, h,
                              MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_END);
    const union MHD_DaemonInfo *ep =
        h->mhd != NULL ? MHD_get_daemon_info(h->mhd, MHD_DAEMON_INFO_EPOLL_FD) : NULL;
    if (ep == NULL) {
        rc = errno ? -errno : -EINVAL;
        goto fail;
    }
    uv_poll_init(loop, &h->poll, ep->epoll_fd);
    uv_poll_init(loop, &h->listen, h->listen_fd);
    uv_timer_init(loop, &h->timer);
    uv_timer_init(loop, &h->tick);
    h->poll.data = h->timer.data = h->listen.data = h->tick.data = h;
    uv_poll_start(&h->poll, UV_READABLE, on_poll);
    uv_timer_start(&h->tick, on_tick, 1000, 1000);
    schedule(h);
    *out = h;
    return 0;
fail:
    if (h->mhd != NULL)
        MHD_stop_daemon(h->mhd);
    if (h->spare_fd >= 0)
        close(h->spare_fd);
    if (h->listen_fd >= 0)
        close(h->listen_fd);
    free(h->token);
    free(h);
    return rc;
}

void http_close(struct http *h)
{
    if (h == NULL)
        return;
    h->closing = 4;
    /* Before the descriptors they watch are closed. */
    uv_poll_stop(&h->poll);
    uv_poll_stop(&h->listen);
    uv_timer_stop(&h->timer);
    uv_timer_stop(&h->tick);
    MHD_stop_daemon(h->mhd);
    close(h->listen_fd);
    if (h->spare_fd >= 0)
        close(h->spare_fd);
    uv_close((uv_handle_t *)&h->poll, on_closed);
    uv_close((uv_handle_t *)&h->listen, on_closed);
    uv_close((uv_handle_t *)&h->timer, on_closed);
    uv_close((uv_handle_t *)&h->tick, on_closed);
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

const char *http_name(const struct http *h)
{
    return h->name;
}
