/* config.c - the settings table, value parsers and the command line. */
#include "collector/config.h"

#include "collector/acl.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

enum key_id {
    K_LISTEN,
    K_RCVBUF,
    K_OUTPUT,
    K_COLLECTOR_ID,
    K_STATS_INTERVAL,
    K_LOG_LEVEL,
    K_MAX_ALERTS,
    K_SHUTDOWN_GRACE,
    K_AMQP,
    K_AMQP_EXCHANGE,
    K_AMQP_PASSWORD_FILE,
    K_AMQP_CONFIRM_WINDOW,
    K_AMQP_MANDATORY,
    K_AMQP_HEARTBEAT,
    K_SPOOL_DIR,
    K_OUTBOX_SIZE,
    K_HTTP,
    K_DEFAULT_TTL,
    K_SNAPSHOT,
    K_SNAPSHOT_INTERVAL,
    K_TCP,
    K_ALLOW,
    K_MAX_HOSTS,
    K_RATE_LIMIT,
    K_RATE_BURST,
    K_HTTP_TOKEN_FILE,
    K_HTTP_TOKEN_METRICS,
    K_KEY_FILE,
    K_REQUIRE_SIGNATURE,
    K_SIGNATURE_SKEW,
    K_AMQP_CA_FILE,
    K_AMQP_CERT_FILE,
    K_AMQP_KEY_FILE,
    K_REUSEPORT,
    K_FAST_PATH,
    K_COUNT
};

struct key {
    const char *name;
    const char *arg;
    const char *help;
};

static const struct key keys[K_COUNT] = {
    [K_LISTEN] = {"listen", "ADDR:PORT",
                  "UDP address to receive alerts on; repeat for several (IPv6: [::]:8341)"
                  " [0.0.0.0:8341]"},
    [K_RCVBUF] = {"rcvbuf", "BYTES",
                  "socket receive buffer per listener, K/M/G suffixes [32M]"},
    [K_OUTPUT] = {"output", "PATH", "JSON-lines output for changes, - for stdout [-]"},
    [K_COLLECTOR_ID] = {"collector-id", "ID", "this collector's name in every change [host name]"},
    [K_STATS_INTERVAL] = {"stats-interval", "SECONDS",
                          "print a stats line to stderr this often, 0 never [60]"},
    [K_LOG_LEVEL] = {"log-level", "LEVEL", "error, warning, notice, info or debug [info]"},
    [K_MAX_ALERTS] = {"max-alerts", "N", "refuse new alerts past this many active, 0 no cap [0]"},
    [K_SHUTDOWN_GRACE] = {"shutdown-grace", "SECONDS",
                          "on SIGTERM, keep reading queued datagrams (and publishing) this "
                          "long at most [5]"},
    [K_AMQP] = {"amqp", "URL",
                "publish changes to RabbitMQ: amqp://user[:password]@host[:port][/vhost]; "
                "stdout is then off unless --output is given [off]"},
    [K_AMQP_EXCHANGE] = {"amqp-exchange", "NAME", "durable topic exchange to publish to [injector]"},
    [K_AMQP_PASSWORD_FILE] = {"amqp-password-file", "PATH",
                              "read the AMQP password from this file (else from "
                              "$INJECTOR_AMQP_PASSWORD, else the URL)"},
    [K_AMQP_CONFIRM_WINDOW] = {"amqp-confirm-window", "N",
                               "published changes awaiting the broker's confirm [256]"},
    [K_AMQP_MANDATORY] = {"amqp-mandatory", "BOOL",
                          "count changes no queue is bound for (basic.return) [false]"},
    [K_AMQP_HEARTBEAT] = {"amqp-heartbeat", "SECONDS", "AMQP heartbeat, 0 off [10]"},
    [K_SPOOL_DIR] = {"spool-dir", "DIR",
                     "spool changes here while the broker is slow or down [off]"},
    [K_OUTBOX_SIZE] = {"outbox-size", "N", "changes held in memory for the broker [100000]"},
    [K_DEFAULT_TTL] = {"default-ttl", "SECONDS",
                       "alerts without a TTL of their own expire after this long without "
                       "a refresh, 0 never [0]"},
    [K_SNAPSHOT] = {"snapshot", "PATH",
                    "keep the active alerts in this file (written every --snapshot-interval "
                    "and at exit, read at start) [off]"},
    [K_SNAPSHOT_INTERVAL] = {"snapshot-interval", "SECONDS", "how often to write it [60]"},
    [K_ALLOW] = {"allow", "CIDRS",
                 "accept alerts only from these sources, e.g. '10.0.0.0/8, 2001:db8::/32, "
                 "127.0.0.1'; the rest is counted (rejected_acl) and dropped [everyone]"},
    [K_REUSEPORT] = {"reuseport", "N",
                     "share each listen port with the other processes of a group of N "
                     "injectord (SO_REUSEPORT); a sender's address picks the process, so one "
                     "host's alerts always meet the same table (README: Scale-out); 0 the "
                     "port is ours alone [0]"},
    [K_MAX_HOSTS] = {"max-hosts", "N",
                     "refuse new alerts for hosts past this many with active alerts, 0 no cap "
                     "[0]"},
    [K_RATE_LIMIT] = {"rate-limit", "N",
                      "alerts per second per sender address, the rest refused and counted; "
                      "0 off [0]"},
    [K_RATE_BURST] = {"rate-burst", "N", "alerts a sender may send at once [rate-limit]"},
    [K_HTTP_TOKEN_FILE] = {"http-token-file", "PATH",
                           "require 'Authorization: Bearer <token>' (the file's first line) "
                           "for the HTTP API, /healthz excepted [off]"},
    [K_HTTP_TOKEN_METRICS] = {"http-token-metrics", "BOOL",
                              "the token guards /metrics too [false]"},
    [K_KEY_FILE] = {"key-file", "PATH",
                    "HMAC keys ('keyid hexkey' lines) to check signed datagrams with "
                    "(parsers/FORMAT.md) [off]"},
    [K_REQUIRE_SIGNATURE] = {"require-signature", "BOOL",
                             "refuse datagrams that are not signed with a key of key-file "
                             "[false]"},
    [K_SIGNATURE_SKEW] = {"signature-skew", "SECONDS",
                          "accepted difference between a signature's time and ours [60]"},
    [K_AMQP_CA_FILE] = {"amqp-ca-file", "PATH",
                        "amqps://: CA certificates to verify the broker with [system default]"},
    [K_AMQP_CERT_FILE] = {"amqp-cert-file", "PATH", "amqps://: client certificate [none]"},
    [K_AMQP_KEY_FILE] = {"amqp-key-file", "PATH", "amqps://: the client certificate's key"},
    [K_FAST_PATH] = {"fast-path", "BOOL",
                     "a datagram byte-identical to one whose alert nothing changed since is "
                     "answered (duplicate, redundant clear) without the parser [true]"},
    [K_TCP] = {"tcp", "BOOL",
               "also take documents over TCP on each listen address (one document, one XML "
               "reply, per connection) [false]"},
    [K_HTTP] = {"http", "ADDR:PORT",
                "HTTP API and the dashboard page (/, /v1/alerts, /v1/stats, /metrics, "
                "/v1/sources, /healthz), or off [" CONFIG_DEFAULT_HTTP "]"},
};

void config_defaults(struct config *c)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->listen[0], sizeof(c->listen[0]), "0.0.0.0:%d", CONFIG_DEFAULT_PORT);
    config_parse_address(c->listen[0], &c->listen_addr[0]);
    c->n_listen = 1;
    c->rcvbuf = 32u << 20;
    snprintf(c->output, sizeof(c->output), "-");
    if (gethostname(c->collector_id, sizeof(c->collector_id) - 1) != 0 ||
        c->collector_id[0] == '\0')
        snprintf(c->collector_id, sizeof(c->collector_id), "injector");
    c->stats_interval_s = 60;
    c->log_level = LOG_LEVEL_INFO;
    c->shutdown_grace_s = 5;
    snprintf(c->amqp_exchange, sizeof(c->amqp_exchange), "injector");
    c->amqp_confirm_window = 256;
    c->amqp_heartbeat_s = 10;
    c->outbox_size = 100000;
    c->snapshot_interval_s = 60;
    c->signature_skew_s = 60;
    c->fast_path = true;
    snprintf(c->http, sizeof(c->http), "%s", CONFIG_DEFAULT_HTTP);
    config_parse_address(c->http, &c->http_addr);
}

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static int parse_port(const char *s, uint16_t *out)
{
    char *end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v > 65535)
        return -EINVAL;
    *out = (uint16_t)v;
    return 0;
}

int config_parse_address(const char *s, struct sockaddr_storage *out)
{
    char host[64];
    const char *port;
    uint16_t p;
    memset(out, 0, sizeof(*out));

    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (close == NULL || close[1] != ':' || (size_t)(close - s - 1) >= sizeof(host))
            return -EINVAL;
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port = close + 2;
        struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;
        if (parse_port(port, &p) != 0 || inet_pton(AF_INET6, host, &a6->sin6_addr) != 1)
            return -EINVAL;
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons(p);
        return 0;
    }
    const char *colon = strrchr(s, ':');
    if (colon == NULL || (size_t)(colon - s) >= sizeof(host))
        return -EINVAL;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    struct sockaddr_in *a4 = (struct sockaddr_in *)out;
    if (parse_port(colon + 1, &p) != 0)
        return -EINVAL;
    if (host[0] == '\0')
        a4->sin_addr.s_addr = htonl(INADDR_ANY);
    else if (inet_pton(AF_INET, host, &a4->sin_addr) != 1)
        return -EINVAL;
    a4->sin_family = AF_INET;
    a4->sin_port = htons(p);
    return 0;
}

int config_parse_size(const char *s, size_t *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)s[0]))
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -EINVAL;
    unsigned shift = 0;
    if (*end != '\0') {
        switch (toupper((unsigned char)*end)) {
        case 'K': shift = 10; break;
        case 'M': shift = 20; break;
        case 'G': shift = 30; break;
        default: return -EINVAL;
        }
        end++;
        if (strcasecmp(end, "") != 0 && strcasecmp(end, "B") != 0 && strcasecmp(end, "iB") != 0)
            return -EINVAL;
    }
    if (v > (SIZE_MAX >> shift))
        return -EINVAL;
    *out = (size_t)(v << shift);
    return 0;
}

static int parse_uint(const char *s, unsigned long long max, unsigned long long *out)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)s[0]))
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > max)
        return -EINVAL;
    *out = v;
    return 0;
}

static int set_path(char *dst, size_t size, const char *key, const char *value, char *err,
                    size_t errlen)
{
    if (value[0] == '\0' || strlen(value) >= size)
        return fail(err, errlen, "%s: give a path of 1 to %zu characters", key, size - 1);
    snprintf(dst, size, "%s", value);
    return 0;
}

static int find_key(const char *name)
{
    for (int i = 0; i < K_COUNT; i++)
        if (strcmp(keys[i].name, name) == 0)
            return i;
    /* INI style spells keys with underscores; accept both everywhere. */
    char alt[64];
    size_t n = strlen(name);
    if (n >= sizeof(alt))
        return -1;
    for (size_t i = 0; i <= n; i++)
        alt[i] = name[i] == '_' ? '-' : name[i];
    for (int i = 0; i < K_COUNT; i++)
        if (strcmp(keys[i].name, alt) == 0)
            return i;
    return -1;
}

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen)
{
    unsigned long long u;
    size_t sz;
    int k = find_key(key);

    switch (k) {
    case K_LISTEN:
        if (!c->listen_given) {
            c->n_listen = 0;
            c->listen_given = true;
        }
        if (c->n_listen >= CONFIG_MAX_LISTEN)
            return fail(err, errlen, "listen: at most %d addresses", CONFIG_MAX_LISTEN);
        if (strlen(value) >= sizeof(c->listen[0]) ||
            config_parse_address(value, &c->listen_addr[c->n_listen]) != 0)
            return fail(err, errlen,
                        "listen: '%s' is not ADDR:PORT (numeric IPv4, [IPv6]:PORT or :PORT)",
                        value);
        snprintf(c->listen[c->n_listen], sizeof(c->listen[0]), "%s", value);
        c->n_listen++;
        return 0;
    case K_RCVBUF:
        if (config_parse_size(value, &sz) != 0 || sz < 4096 || sz > (1u << 30))
            return fail(err, errlen,
                        "rcvbuf: '%s' is not a size from 4K to 1G (bytes or K/M/G suffix)",
                        value);
        c->rcvbuf = sz;
        return 0;
    case K_OUTPUT:
        if (value[0] == '\0' || strlen(value) >= sizeof(c->output))
            return fail(err, errlen, "output: give a file path or - for stdout");
        snprintf(c->output, sizeof(c->output), "%s", value);
        c->output_given = true;
        return 0;
    case K_COLLECTOR_ID:
        if (value[0] == '\0' || strlen(value) >= sizeof(c->collector_id))
            return fail(err, errlen, "collector-id: 1 to %zu characters",
                        sizeof(c->collector_id) - 1);
        snprintf(c->collector_id, sizeof(c->collector_id), "%s", value);
        return 0;
    case K_STATS_INTERVAL:
        if (parse_uint(value, 86400, &u) != 0)
            return fail(err, errlen, "stats-interval: '%s' is not seconds from 0 to 86400",
                        value);
        c->stats_interval_s = (unsigned)u;
        return 0;
    case K_LOG_LEVEL:
        if (log_level_parse(value, &c->log_level) != 0)
            return fail(err, errlen,
                        "log-level: '%s' is not one of error, warning, notice, info, debug",
                        value);
        return 0;
    case K_MAX_ALERTS:
        if (parse_uint(value, SIZE_MAX, &u) != 0)
            return fail(err, errlen, "max-alerts: '%s' is not a count", value);
        c->max_alerts = (size_t)u;
        return 0;
    case K_SHUTDOWN_GRACE:
        if (parse_uint(value, 3600, &u) != 0)
            return fail(err, errlen, "shutdown-grace: '%s' is not seconds from 0 to 3600",
                        value);
        c->shutdown_grace_s = (unsigned)u;
        return 0;
    case K_AMQP:
        if ((strncmp(value, "amqp://", 7) != 0 && strncmp(value, "amqps://", 8) != 0) ||
            strlen(value) >= sizeof(c->amqp_url))
            return fail(err, errlen,
                        "amqp: want amqp[s]://user[:password]@host[:port][/vhost]");
        snprintf(c->amqp_url, sizeof(c->amqp_url), "%s", value);
        return 0;
    case K_AMQP_EXCHANGE:
        if (value[0] == '\0' || strlen(value) >= sizeof(c->amqp_exchange))
            return fail(err, errlen, "amqp-exchange: 1 to 255 characters");
        snprintf(c->amqp_exchange, sizeof(c->amqp_exchange), "%s", value);
        return 0;
    case K_AMQP_PASSWORD_FILE:
        return set_path(c->amqp_password_file, sizeof(c->amqp_password_file), "amqp-password-file",
                        value, err, errlen);
    case K_AMQP_CONFIRM_WINDOW:
        if (parse_uint(value, 65535, &u) != 0 || u == 0)
            return fail(err, errlen, "amqp-confirm-window: '%s' is not a count from 1 to 65535",
                        value);
        c->amqp_confirm_window = (unsigned)u;
        return 0;
    case K_AMQP_MANDATORY:
        if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
            c->amqp_mandatory = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
                 strcmp(value, "0") == 0)
            c->amqp_mandatory = false;
        else
            return fail(err, errlen, "amqp-mandatory: '%s' is not true or false", value);
        return 0;
    case K_ALLOW: {
        struct acl *acl;
        char why[256];
        if (strlen(value) >= sizeof(c->allow))
            return fail(err, errlen, "allow: at most %zu characters", sizeof(c->allow) - 1);
        if (acl_parse(value, &acl, why, sizeof(why)) != 0)
            return fail(err, errlen, "allow: %s", why);
        acl_free(acl);
        snprintf(c->allow, sizeof(c->allow), "%s", value);
        return 0;
    }
    case K_REUSEPORT:
        if (parse_uint(value, 64, &u) != 0)
            return fail(err, errlen, "reuseport: '%s' is not a group size from 0 to 64", value);
        c->reuseport = (unsigned)u;
        return 0;
    case K_MAX_HOSTS:
        if (parse_uint(value, SIZE_MAX, &u) != 0)
            return fail(err, errlen, "max-hosts: '%s' is not a count", value);
        c->max_hosts = (size_t)u;
        return 0;
    case K_RATE_LIMIT:
    case K_RATE_BURST: {
        char *end;
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || !(v >= 0) || v > 1e9)
            return fail(err, errlen, "%s: '%s' is not a number of alerts (0 to 1e9)",
                        keys[k].name, value);
        if (k == K_RATE_LIMIT)
            c->rate_limit = v;
        else
            c->rate_burst = v;
        return 0;
    }
    case K_HTTP_TOKEN_FILE:
        return set_path(c->http_token_file, sizeof(c->http_token_file), "http-token-file", value,
                        err, errlen);
    case K_HTTP_TOKEN_METRICS:
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
            c->http_token_metrics = strcmp(value, "true") == 0;
            return 0;
        }
        return fail(err, errlen, "http-token-metrics: '%s' is not true or false", value);
    case K_AMQP_CA_FILE:
        return set_path(c->amqp_ca_file, sizeof(c->amqp_ca_file), "amqp-ca-file", value, err,
                        errlen);
    case K_AMQP_CERT_FILE:
        return set_path(c->amqp_cert_file, sizeof(c->amqp_cert_file), "amqp-cert-file", value,
                        err, errlen);
    case K_AMQP_KEY_FILE:
        return set_path(c->amqp_key_file, sizeof(c->amqp_key_file), "amqp-key-file", value,
                        err, errlen);
    case K_KEY_FILE:
        return set_path(c->key_file, sizeof(c->key_file), "key-file", value, err, errlen);
    case K_REQUIRE_SIGNATURE:
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
            c->require_signature = strcmp(value, "true") == 0;
            return 0;
        }
        return fail(err, errlen, "require-signature: '%s' is not true or false", value);
    case K_SIGNATURE_SKEW:
        if (parse_uint(value, 86400, &u) != 0 || u == 0)
            return fail(err, errlen, "signature-skew: '%s' is not seconds from 1 to 86400",
                        value);
        c->signature_skew_s = (unsigned)u;
        return 0;
    case K_FAST_PATH:
        if (strcmp(value, "true") == 0 || strcmp(value, "false") == 0) {
            c->fast_path = strcmp(value, "true") == 0;
            return 0;
        }
        return fail(err, errlen, "fast-path: '%s' is not true or false", value);
    case K_TCP:
        if (strcmp(value, "true") == 0 || strcmp(value, "yes") == 0 || strcmp(value, "1") == 0)
            c->tcp = true;
        else if (strcmp(value, "false") == 0 || strcmp(value, "no") == 0 ||
                 strcmp(value, "0") == 0)
            c->tcp = false;
        else
            return fail(err, errlen, "tcp: '%s' is not true or false", value);
        return 0;
    case K_AMQP_HEARTBEAT:
        if (parse_uint(value, 3600, &u) != 0)
            return fail(err, errlen, "amqp-heartbeat: '%s' is not seconds from 0 to 3600", value);
        c->amqp_heartbeat_s = (unsigned)u;
        return 0;
    case K_SPOOL_DIR:
        return set_path(c->spool_dir, sizeof(c->spool_dir), "spool-dir", value, err, errlen);
    case K_DEFAULT_TTL:
        if (parse_uint(value, 10ull * 366 * 24 * 3600, &u) != 0)
            return fail(err, errlen, "default-ttl: '%s' is not seconds (0 never)", value);
        c->default_ttl_s = (unsigned)u;
        return 0;
    case K_SNAPSHOT:
        return set_path(c->snapshot, sizeof(c->snapshot) - 32, "snapshot", value, err, errlen);
    case K_SNAPSHOT_INTERVAL:
        if (parse_uint(value, 86400, &u) != 0 || u == 0)
            return fail(err, errlen, "snapshot-interval: '%s' is not seconds from 1 to 86400",
                        value);
        c->snapshot_interval_s = (unsigned)u;
        return 0;
    case K_HTTP:
        if (strcmp(value, "off") == 0) {
            c->http[0] = '\0';
            return 0;
        }
        if (strlen(value) >= sizeof(c->http) || config_parse_address(value, &c->http_addr) != 0)
            return fail(err, errlen, "http: '%s' is not ADDR:PORT (numeric) or off", value);
        snprintf(c->http, sizeof(c->http), "%s", value);
        return 0;
    case K_OUTBOX_SIZE:
        if (parse_uint(value, 100000000, &u) != 0 || u == 0)
            return fail(err, errlen, "outbox-size: '%s' is not a count from 1 to 100000000",
                        value);
        c->outbox_size = (size_t)u;
        return 0;
    default:
        return fail(err, errlen, "unknown setting '%s'", key);
    }
}

void config_usage(FILE *f)
{
    fprintf(f,
            "Usage: injectord [OPTION]...\n"
            "Collect alert datagrams (XML) on UDP, keep the table of active alerts, and\n"
            "write every real change (raise, update, clear) as one JSON line.\n\n");
    for (int i = 0; i < K_COUNT; i++) {
        char left[48];
        snprintf(left, sizeof(left), "--%s %s", keys[i].name, keys[i].arg);
        fprintf(f, "  %-28s %s\n", left, keys[i].help);
    }
    fprintf(f, "  %-28s %s\n  %-28s %s\n  %-28s %s\n  %-28s %s\n", "-c, --config PATH",
            "read settings from this INI file [" CONFIG_DEFAULT_FILE " if it exists]",
            "--check-config", "validate the settings, print them (password masked), exit 0/1",
            "-h, --help", "show this help and exit", "-V, --version",
            "show the version and exit");
    fprintf(f, "\nSignals: SIGINT/SIGTERM drain the sockets and stop; SIGUSR1 prints the\n"
               "stats line now; SIGHUP re-reads the config file (applying what can change\n"
               "live, naming what needs a restart) and reopens the output file.\n"
               "Wire format and outcomes: parsers/FORMAT.md and the README.\n");
}

/* ---- the INI file --------------------------------------------------------------- */

/* [section] key spellings that are not "<section>-<key>" nor a plain key. */
static const struct {
    const char *section, *key, *setting;
} aliases[] = {
    {"listen", "address", "listen"},   {"listen", "tcp", "tcp"}, {"listen", "reuseport", "reuseport"},   {"amqp", "url", "amqp"},
    {"spool", "dir", "spool-dir"},     {"spool", "outbox_size", "outbox-size"},
    {"http", "listen", "http"},        {"http", "token_file", "http-token-file"},
    {"amqp", "ca_file", "amqp-ca-file"}, {"amqp", "cert_file", "amqp-cert-file"},
    {"amqp", "key_file", "amqp-key-file"},
    {"http", "token_metrics", "http-token-metrics"},        {"snapshot", "path", "snapshot"},
    {"logging", "level", "log-level"}, {"output", "path", "output"},
};

struct ini_ctx {
    struct config *c;
    char err[256];
};

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    char joined[160];
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++)
        if (strcmp(section, aliases[i].section) == 0 && strcmp(name, aliases[i].key) == 0)
            return config_set(x->c, aliases[i].setting, value, x->err, sizeof(x->err)) == 0;
    snprintf(joined, sizeof(joined), "%s-%s", section, name);
    if (section[0] != '\0' && find_key(joined) >= 0)
        return config_set(x->c, joined, value, x->err, sizeof(x->err)) == 0;
    if (find_key(name) >= 0)
        return config_set(x->c, name, value, x->err, sizeof(x->err)) == 0;
    snprintf(x->err, sizeof(x->err), "unknown setting '%s' in [%s] (keys are the --long "
                                     "option names; see injectord --help)",
             name, section);
    return 0;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    struct ini_ctx x = {.c = c};
    if (access(path, F_OK) != 0)
        return -ENOENT;
    int line = ini_parse(path, on_ini, &x);
    if (line == -1)
        return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    if (line == -2)
        return fail(err, errlen, "%s: out of memory", path);
    if (line > 0)
        return fail(err, errlen, "%s:%d: %s", path, line,
                    x.err[0] ? x.err : "not a 'key = value' line nor a [section]");
    return 0;
}

int config_load(struct config *c, int argc, char **argv, bool *check, char *err, size_t errlen)
{
    const char *file = NULL;
    *check = false;
    config_defaults(c);
    /* A first look for -c and --check-config: the file goes under the options. */
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
        else if (strcmp(argv[i], "--check-config") == 0)
            *check = true;
    }
    int rc = config_load_file(c, file ? file : CONFIG_DEFAULT_FILE, err, errlen);
    if (rc == -ENOENT && file != NULL)
        return fail(err, errlen, "%s: no such file", file);
    if (rc != 0 && rc != -ENOENT)
        return rc;
    return config_parse_args(c, argc, argv, err, errlen);
}

/* The URL with its password, if any, masked. */
static void masked_url(const char *url, char *buf, size_t size)
{
    snprintf(buf, size, "%s", url);
    char *at = strchr(buf, '@');
    char *colon = strchr(buf + 7, ':');
    if (at != NULL && colon != NULL && colon < at) {
        char rest[1024];
        snprintf(rest, sizeof(rest), "%s", at);
        snprintf(colon, size - (size_t)(colon - buf), ":***%s", rest);
    }
}

void config_print(const struct config *c, FILE *f)
{
    char url[1100];
    fprintf(f, "# injectord %s: effective configuration\n", INJECTOR_VERSION);
    for (size_t i = 0; i < c->n_listen; i++)
        fprintf(f, "listen = %s\n", c->listen[i]);
    fprintf(f, "rcvbuf = %zu\noutput = %s\ncollector-id = %s\nstats-interval = %u\n", c->rcvbuf,
            c->output, c->collector_id, c->stats_interval_s);
    fprintf(f, "log-level = %s\nmax-alerts = %zu\ndefault-ttl = %u\nshutdown-grace = %u\n",
            log_level_name(c->log_level), c->max_alerts, c->default_ttl_s, c->shutdown_grace_s);
    fprintf(f, "reuseport = %u\nfast-path = %s\n", c->reuseport,
            c->fast_path ? "true" : "false");
    fprintf(f, "max-hosts = %zu\nrate-limit = %g\nrate-burst = %g\n", c->max_hosts,
            c->rate_limit, c->rate_burst);
    fprintf(f, "key-file = %s\nrequire-signature = %s\nsignature-skew = %u\n", c->key_file,
            c->require_signature ? "true" : "false", c->signature_skew_s);
    fprintf(f, "http = %s\nhttp-token-file = %s\nhttp-token-metrics = %s\ntcp = %s\nallow = %s\n",
            c->http[0] ? c->http : "off", c->http_token_file,
            c->http_token_metrics ? "true" : "false", c->tcp ? "true" : "false", c->allow);
    fprintf(f, "snapshot = %s\nsnapshot-interval = %u\n", c->snapshot[0] ? c->snapshot : "",
            c->snapshot_interval_s);
    masked_url(c->amqp_url, url, sizeof(url));
    fprintf(f, "amqp = %s\namqp-exchange = %s\namqp-password-file = %s\n", url,
            c->amqp_exchange, c->amqp_password_file);
    fprintf(f, "amqp-ca-file = %s\namqp-cert-file = %s\namqp-key-file = %s\n", c->amqp_ca_file,
            c->amqp_cert_file, c->amqp_key_file);
    fprintf(f, "amqp-confirm-window = %u\namqp-mandatory = %s\namqp-heartbeat = %u\n",
            c->amqp_confirm_window, c->amqp_mandatory ? "true" : "false", c->amqp_heartbeat_s);
    fprintf(f, "spool-dir = %s\noutbox-size = %zu\n", c->spool_dir, c->outbox_size);
}

int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
    struct option opts[K_COUNT + 5];
    for (int i = 0; i < K_COUNT; i++)
        opts[i] = (struct option){keys[i].name, required_argument, NULL, 1000 + i};
    opts[K_COUNT] = (struct option){"help", no_argument, NULL, 'h'};
    opts[K_COUNT + 1] = (struct option){"version", no_argument, NULL, 'V'};
    opts[K_COUNT + 2] = (struct option){"config", required_argument, NULL, 'c'};
    opts[K_COUNT + 3] = (struct option){"check-config", no_argument, NULL, 'C'};
    opts[K_COUNT + 4] = (struct option){NULL, 0, NULL, 0};

    optind = 1;
    opterr = 0;
    int ch;
    /* Options win over the file: the first --listen here replaces the file's too. */
    c->listen_given = false;
    while ((ch = getopt_long(argc, argv, ":hVc:", opts, NULL)) != -1) {
        if (ch == 'c' || ch == 'C')
            continue; /* taken by config_load */
        if (ch == 'h') {
            config_usage(stdout);
            return 1;
        }
        if (ch == 'V') {
#ifdef HAVE_SYSTEMD
            printf("injectord %s (systemd notify)\n", INJECTOR_VERSION);
#else
            printf("injectord %s (no systemd notify)\n", INJECTOR_VERSION);
#endif
            return 1;
        }
        if (ch == ':')
            return fail(err, errlen, "%s needs a value (see --help)", argv[optind - 1]);
        if (ch == '?')
            return fail(err, errlen, "unknown option '%s' (see --help)", argv[optind - 1]);
        int rc = config_set(c, keys[ch - 1000].name, optarg, err, errlen);
        if (rc != 0)
            return rc;
    }
    if (optind < argc)
        return fail(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
    return 0;
}
