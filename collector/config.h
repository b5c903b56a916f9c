/* config.h - injectord's settings: one table, and everything that walks it.
 *
 * Every setting is declared once, in CONFIG_SETTINGS below: its field in struct config,
 * its type, command-line option, INI section and key, argument name, default, limits,
 * what a reload does with it, and its help. The command line, the INI file, --help,
 * --check-config (printed as the INI file it would read back) and the reload diff
 * (reload.c) all walk that list, so they accept, show and compare the same settings.
 *
 * Adding a setting is one X(...) line here plus its use; a setting that a reload applies
 * live names its apply function (reload.c must define apply_<name>), every other one says
 * RESTART and a reload names it as needing a restart.
 *
 * Parsed once at start into a struct config that the daemon reads; a reload parses a
 * fresh one and reload.c moves the changed values over (loop thread). The functions here
 * touch no globals and may be called from any thread.
 */
#ifndef INJECTOR_CONFIG_H
#define INJECTOR_CONFIG_H

#include "collector/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#define CONFIG_MAX_LISTEN   16
#define CONFIG_MAX_URLS     8
#define CONFIG_PATH_MAX     1024
#define CONFIG_TEXT_MAX     256
#define CONFIG_CIDRS_MAX    2048
#define CONFIG_DEFAULT_FILE "/etc/injector/injectord.conf"

/* What --check-config checks about a path (the daemon would fail on it at start, or
 * later: a snapshot is first written at the first interval). */
enum config_file {
    CONFIG_FILE_NONE,
    CONFIG_FILE_READ,   /* a readable regular file */
    CONFIG_FILE_SECRET, /* readable, and its first line is not empty (a token, a password) */
    CONFIG_FILE_KEYS,   /* readable 'keyid hexkey' lines (parsers/FORMAT.md) */
    CONFIG_FILE_CREATE, /* a file this user can create or replace in an existing directory */
    CONFIG_FILE_OUTPUT, /* CREATE, or - for stdout */
    CONFIG_FILE_DIR,    /* a directory this user can write, or create in an existing one */
};

/* Value types, and the C type of their field in struct config. */
typedef char config_path[CONFIG_PATH_MAX];   /* PATH: "" when the setting is off */
typedef char config_text[CONFIG_TEXT_MAX];   /* TEXT */
typedef char config_cidrs[CONFIG_CIDRS_MAX]; /* CIDRS: as given, checked; "" : everyone */
struct config_address {                      /* ADDRESS: text "" when off */
    char text[64];
    struct sockaddr_storage sa;
};
struct config_addresses { /* ADDRESSES: one or more */
    struct config_address a[CONFIG_MAX_LISTEN];
    size_t n;
};
struct config_urls { /* URLS: the nodes of one cluster; n == 0 when off */
    char url[CONFIG_MAX_URLS][CONFIG_PATH_MAX];
    size_t n;
};

#define CONFIG_CTYPE_BOOL      bool
#define CONFIG_CTYPE_COUNT     uint64_t
#define CONFIG_CTYPE_NUMBER    double
#define CONFIG_CTYPE_SIZE      uint64_t /* bytes; K/M/G suffixes, powers of 1024 */
#define CONFIG_CTYPE_DURATION  uint64_t /* ms; "60" is seconds, or 100ms, 5s, 2m, 1h */
#define CONFIG_CTYPE_ENUM      int      /* the index of its name in limits.names */
#define CONFIG_CTYPE_TEXT      config_text
#define CONFIG_CTYPE_PATH      config_path
#define CONFIG_CTYPE_CIDRS     config_cidrs
#define CONFIG_CTYPE_ADDRESS   struct config_address
#define CONFIG_CTYPE_ADDRESSES struct config_addresses
#define CONFIG_CTYPE_URLS      struct config_urls

/* CONFIG_SETTINGS(X): every setting, in --help and --check-config order.
 *
 * X(field, TYPE, "option", "section", "key", "ARG", "default", (limits), reload, "help")
 *   field     the member of struct config (and CONFIG_<field>, its index)
 *   option    --option on the command line, and a key valid in any INI section
 *   section, key   its place in the INI file ([section] key = value)
 *   default   parsed like any value at start; "" leaves the field empty (off)
 *   limits    designated initializers of struct config_limits: .min/.max (numbers: the
 *             range, durations in ms; text and paths: the length), .names (enum),
 *             .shown (the default as --help says it), .off (an address may be "off"),
 *             .resolution_ms (durations; 1000 unless said), .file (what --check-config
 *             checks about a path)
 *   reload    RESTART: a reload names it as needing a restart;
 *             LIVE(fn): reload.c's apply_fn applies it (settings naming the same fn are
 *             applied together);
 *             REREAD(fn): as LIVE, and apply_fn runs at every reload even when the
 *             setting did not change (the file it names is read again: key rotation)
 *   help      one line for --help, without the default
 *
 * Lists (ADDRESSES, URLS, CIDRS) take a value per repeated option or key, or several in
 * one value (comma- or space-separated); the first from the command line replaces the
 * file's, the first in the file replaces the default.
 */
#define CONFIG_SETTINGS(X)                                                                         \
    X(listen, ADDRESSES, "listen", "listen", "address", "ADDR:PORT", "0.0.0.0:8341",               \
      (.min = 1, .max = CONFIG_MAX_LISTEN), RESTART,                                               \
      "UDP address to receive alerts on; repeat for several (IPv6: [::]:8341)")                    \
    X(tcp, BOOL, "tcp", "listen", "tcp", "BOOL", "false", (), RESTART,                             \
      "also take documents over TCP on each listen address (one document, one XML reply, per "     \
      "connection)")                                                                               \
    X(rcvbuf, SIZE, "rcvbuf", "listen", "rcvbuf", "BYTES", "32M", (.min = 4096, .max = 1u << 30),  \
      RESTART, "socket receive buffer per listener, K/M/G suffixes")                               \
    X(queue_memory, SIZE, "queue-memory", "listen", "queue_memory", "BYTES", "512M",               \
      (.min = 64u << 10, .max = 1024ull << 30), LIVE(queue_memory),                                \
      "memory for datagrams taken from the sockets and not yet processed, all listeners "          \
      "together; when it is full the sockets are left unread (their buffers take the rest, the "   \
      "kernel counts what overflows), K/M/G suffixes")                                             \
    X(reuseport, COUNT, "reuseport", "listen", "reuseport", "N", "0", (.max = 64), RESTART,        \
      "share each listen port with the other processes of a group of N injectord "                 \
      "(SO_REUSEPORT); a sender's address picks the process, so one host's alerts always meet "    \
      "the same table (README: Scale-out); 0 the port is ours alone")                              \
    X(allow, CIDRS, "allow", "listen", "allow", "CIDRS", "", (.shown = "everyone"), LIVE(allow),   \
      "accept alerts only from these sources, e.g. '10.0.0.0/8, 2001:db8::/32, 127.0.0.1'; the "   \
      "rest is counted (rejected_acl) and dropped")                                                \
    X(fast_path, BOOL, "fast-path", "listen", "fast_path", "BOOL", "true", (), LIVE(fast_path),    \
      "a datagram byte-identical to one whose alert nothing changed since is answered "            \
      "(duplicate, redundant clear) without the parser")                                           \
    X(output, PATH, "output", "output", "path", "PATH", "-", (.file = CONFIG_FILE_OUTPUT),         \
      RESTART, "JSON-lines output for changes, - for stdout")                                      \
    X(collector_id, TEXT, "collector-id", "output", "collector_id", "ID", "",                      \
      (.min = 1, .max = CONFIG_TEXT_MAX - 1, .shown = "host name"), RESTART,                       \
      "this collector's name in every change")                                                     \
    X(max_alerts, COUNT, "max-alerts", "limits", "max_alerts", "N", "0", (.max = UINT64_MAX),      \
      LIVE(caps), "refuse new alerts past this many active, 0 no cap")                             \
    X(max_hosts, COUNT, "max-hosts", "limits", "max_hosts", "N", "0", (.max = UINT64_MAX),         \
      LIVE(caps), "refuse new alerts for hosts past this many with active alerts, 0 no cap")       \
    X(rate_limit, NUMBER, "rate-limit", "limits", "rate_limit", "N", "0", (.max = 1000000000),     \
      LIVE(rate_limit),                                                                            \
      "alerts per second per sender address, the rest refused and counted; 0 off")                 \
    X(rate_burst, NUMBER, "rate-burst", "limits", "rate_burst", "N", "0",                          \
      (.max = 1000000000, .shown = "rate-limit"), LIVE(rate_limit),                                \
      "alerts a sender may send at once")                                                          \
    X(default_ttl_ms, DURATION, "default-ttl", "limits", "default_ttl", "SECONDS", "0",            \
      (.max = 10ull * 366 * 24 * 3600 * 1000), LIVE(default_ttl),                                  \
      "alerts without a TTL of their own expire after this long without a refresh, 0 never")       \
    X(shutdown_grace_ms, DURATION, "shutdown-grace", "limits", "shutdown_grace", "SECONDS", "5",   \
      (.max = 3600 * 1000), LIVE(shutdown_grace),                                                  \
      "on SIGTERM, keep reading queued datagrams (and publishing) this long at most")              \
    X(key_file, PATH, "key-file", "auth", "key_file", "PATH", "",                                  \
      (.shown = "off", .file = CONFIG_FILE_KEYS), REREAD(auth),                                    \
      "HMAC keys ('keyid hexkey' lines) to check signed datagrams with (parsers/FORMAT.md); "      \
      "read again at every reload")                                                                \
    X(require_signature, BOOL, "require-signature", "auth", "require_signature", "BOOL", "false",  \
      (), LIVE(auth), "refuse datagrams that are not signed with a key of key-file")               \
    X(signature_skew_ms, DURATION, "signature-skew", "auth", "signature_skew", "SECONDS", "60",    \
      (.min = 1000, .max = 86400 * 1000), LIVE(auth),                                              \
      "accepted difference between a signature's time and ours")                                   \
    X(amqp, URLS, "amqp", "amqp", "url", "URL", "", (.max = CONFIG_MAX_URLS, .shown = "off"),      \
      LIVE(amqp_target),                                                                           \
      "publish changes to RabbitMQ: amqp[s]://user[:password]@host[:port][/vhost], repeat for "    \
      "the nodes of one cluster; stdout is then off unless --output is given")                     \
    X(amqp_exchange, TEXT, "amqp-exchange", "amqp", "exchange", "NAME", "injector",                \
      (.min = 1, .max = CONFIG_TEXT_MAX - 1), LIVE(amqp_target),                                   \
      "durable topic exchange to publish to")                                                      \
    X(amqp_password_file, PATH, "amqp-password-file", "amqp", "password_file", "PATH", "",         \
      (.file = CONFIG_FILE_SECRET), LIVE(amqp_target),                                             \
      "read the AMQP password from this file (else from $INJECTOR_AMQP_PASSWORD, else the "        \
      "URL)")                                                                                      \
    X(amqp_ca_file, PATH, "amqp-ca-file", "amqp", "ca_file", "PATH", "",                           \
      (.shown = "system default", .file = CONFIG_FILE_READ), RESTART,                              \
      "amqps://: CA certificates to verify the broker with")                                       \
    X(amqp_cert_file, PATH, "amqp-cert-file", "amqp", "cert_file", "PATH", "",                     \
      (.shown = "none", .file = CONFIG_FILE_READ), RESTART, "amqps://: client certificate")        \
    X(amqp_key_file, PATH, "amqp-key-file", "amqp", "key_file", "PATH", "",                        \
      (.file = CONFIG_FILE_READ), RESTART, "amqps://: the client certificate's key")               \
    X(amqp_confirm_window, COUNT, "amqp-confirm-window", "amqp", "confirm_window", "N", "256",     \
      (.min = 1, .max = 65535), RESTART, "changes sent and awaiting the broker's confirm")         \
    X(amqp_mandatory, BOOL, "amqp-mandatory", "amqp", "mandatory", "BOOL", "false", (), RESTART,   \
      "count changes no queue is bound for (basic.return)")                                        \
    X(amqp_heartbeat_ms, DURATION, "amqp-heartbeat", "amqp", "heartbeat", "SECONDS", "10",         \
      (.max = 3600 * 1000), RESTART, "AMQP heartbeat, 0 off")                                      \
    X(state_dir, PATH, "state-dir", "state", "dir", "DIR", "",                                     \
      (.max = CONFIG_PATH_MAX - 33, .shown = "off: changes in memory only",                        \
       .file = CONFIG_FILE_DIR),                                                                   \
      RESTART,                                                                                     \
      "keep the change journal (DIR/journal) and the snapshot (DIR/snapshot.json unless "          \
      "--snapshot says otherwise) here: a crash or a broker outage loses nothing accepted")        \
    X(journal_sync_ms, DURATION, "journal-sync", "journal", "sync", "DURATION", "50ms",            \
      (.min = 1, .max = 10000, .resolution_ms = 1), RESTART,                                       \
      "fdatasync the journal at most this often (never per change): the broker gets a change "     \
      "once it is on disk")                                                                        \
    X(journal_segment, SIZE, "journal-segment", "journal", "segment", "BYTES", "16M",              \
      (.min = 64 << 10, .max = 1u << 30), RESTART,                                                 \
      "journal segment files of this size, K/M/G suffixes; one goes once a snapshot holds it "     \
      "and the broker confirmed it")                                                               \
    X(outbox_size, COUNT, "outbox-size", "journal", "memory", "N", "100000",                       \
      (.min = 1, .max = 100000000), RESTART,                                                       \
      "changes the journal keeps in memory for the broker (without --state-dir all it has: "       \
      "past it, changes are lost while the broker is down)")                                       \
    X(http, ADDRESS, "http", "http", "listen", "ADDR:PORT", "127.0.0.1:8342", (.off = true),       \
      RESTART,                                                                                     \
      "HTTP API and the dashboard page (/, /v1/alerts, /v1/stats, /v1/history, /metrics, "         \
      "/v1/sources, /healthz), or off")                                                            \
    X(http_token_file, PATH, "http-token-file", "http", "token_file", "PATH", "",                  \
      (.shown = "off", .file = CONFIG_FILE_SECRET), REREAD(http_token),                            \
      "require 'Authorization: Bearer <token>' (the file's first line) for the HTTP API, "         \
      "/healthz excepted; acknowledgements (POST /v1/ack, /v1/unack) need it; read again at "      \
      "every reload")                                                                              \
    X(http_token_metrics, BOOL, "http-token-metrics", "http", "token_metrics", "BOOL", "false",    \
      (), LIVE(http_token), "the token guards /metrics too")                                       \
    X(history_step_ms, DURATION, "history-step", "http", "history_step", "SECONDS", "10",          \
      (.min = 1000, .max = 60 * 1000), RESTART,                                                    \
      "sample the counters for /v1/history this often; it keeps 360 samples")                      \
    X(snapshot, PATH, "snapshot", "snapshot", "path", "PATH", "",                                  \
      (.max = CONFIG_PATH_MAX - 33, .shown = "off", .file = CONFIG_FILE_CREATE), RESTART,          \
      "keep the active alerts in this file (written every --snapshot-interval and at exit, "       \
      "read at start, then the journal's later changes)")                                          \
    X(snapshot_interval_ms, DURATION, "snapshot-interval", "snapshot", "interval", "SECONDS",      \
      "60", (.min = 1000, .max = 86400 * 1000), LIVE(snapshot_interval), "how often to write it")  \
    X(log_level, ENUM, "log-level", "logging", "level", "LEVEL", "info",                           \
      (.names = log_level_names, .n_names = LOG_LEVEL_DEBUG + 1), LIVE(log_level),                 \
      "error, warning, notice, info or debug")                                                     \
    X(stats_interval_ms, DURATION, "stats-interval", "logging", "stats_interval", "SECONDS", "60", \
      (.max = 86400 * 1000), LIVE(stats_interval),                                                 \
      "print a stats line to stderr this often, 0 never")

enum config_id {
#define CONFIG_ENUM_ENTRY(field, ...) CONFIG_##field,
    CONFIG_SETTINGS(CONFIG_ENUM_ENTRY)
#undef CONFIG_ENUM_ENTRY
        CONFIG_N
};

struct config {
#define CONFIG_FIELD(field, type, ...) CONFIG_CTYPE_##type field;
    CONFIG_SETTINGS(CONFIG_FIELD)
#undef CONFIG_FIELD
    bool given[CONFIG_N]; /* set by the file or the command line, not the default */
};

/* How start-up was asked to run: the daemon, or only check the settings. */
enum config_mode {
    CONFIG_RUN,
    CONFIG_CHECK,      /* --check-config: parse, check files and addresses, print */
    CONFIG_CHECK_BIND, /* --check-config=bind: and try binding the listen addresses */
};

/* Fill c with the defaults (collector id: the host name). */
void config_defaults(struct config *c);

/* Set one setting by its option name ("rcvbuf"; '_' for '-' is fine) from its text value;
 * a list setting gets the value added. Returns 0, or -EINVAL with a message in err
 * ("rcvbuf: '12Q' is not a size from 4K to 1G (bytes or K/M/G suffix)"). */
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen);

/* Parse the command line over c. Returns 0 to run, 1 when --help or --version was
 * printed (exit 0), -EINVAL with a message in err. */
int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen);

/* Read an INI file over c: [section] key = value as in the table, or a setting's option
 * name in any section ('_' for '-' is fine). Returns 0; -ENOENT when the file does not
 * exist; -EINVAL with "file:line: ..." in err (the first bad line, and its own message;
 * a near miss gets "did you mean ...?"). */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* The whole start-up: defaults, then the file (-c PATH, else the default file if it
 * exists), then the command line, which wins. *mode is set by --check-config[=bind].
 * Returns as config_parse_args. */
int config_load(struct config *c, int argc, char **argv, enum config_mode *mode, char *err,
                size_t errlen);

/* Values that follow from others, set once the file and the command line are read
 * (config_load calls it): the snapshot in the state directory unless given. */
void config_derive(struct config *c);

/* Print the configuration as the INI file it would read back ([section] key = value,
 * passwords in URLs left out). */
void config_print(const struct config *c, FILE *f);

/* --help. */
void config_usage(FILE *f);

/* ---- one setting, by index (reload.c, check.c and tests walk the table with these) ---- */

struct config_limits {
    uint64_t min, max;
    const char *const *names;
    int n_names;
    const char *shown;
    bool off;
    uint64_t resolution_ms;
    enum config_file file;
};

enum config_type {
    CONFIG_TYPE_BOOL,
    CONFIG_TYPE_COUNT,
    CONFIG_TYPE_NUMBER,
    CONFIG_TYPE_SIZE,
    CONFIG_TYPE_DURATION,
    CONFIG_TYPE_ENUM,
    CONFIG_TYPE_TEXT,
    CONFIG_TYPE_PATH,
    CONFIG_TYPE_CIDRS,
    CONFIG_TYPE_ADDRESS,
    CONFIG_TYPE_ADDRESSES,
    CONFIG_TYPE_URLS,
};

struct config_setting {
    const char *field; /* "stats_interval_ms" */
    enum config_type type;
    const char *option; /* "stats-interval" */
    const char *section, *key;
    const char *arg, *dflt, *help;
    struct config_limits lim;
    size_t offset, size; /* of the field in struct config */
};

/* The table: CONFIG_N settings, indexed by enum config_id. */
extern const struct config_setting config_settings[CONFIG_N];

/* The index of a setting by option name ('_' or '-'), or -1. */
int config_find(const char *option);

/* Whether setting id has the same value in a and b. */
bool config_equal(enum config_id id, const struct config *a, const struct config *b);

/* Copy setting id's value from src to dst. */
void config_copy(enum config_id id, struct config *dst, const struct config *src);

/* Setting id's value as text, as the INI file writes it (lists joined with ", ",
 * passwords in URLs left out, "" when off). Returns buf. */
const char *config_format(enum config_id id, const struct config *c, char *buf, size_t size);

/* Whether setting id is off/empty in c (a path or list not given, an address "off"). */
bool config_is_empty(enum config_id id, const struct config *c);

/* Parse a byte size ("33554432", "32M", "208K", "1G"; powers of 1024). Returns 0 or
 * -EINVAL. */
int config_parse_size(const char *s, uint64_t *out);

/* The one boolean spelling set: true/false, yes/no, on/off, 1/0 (any case). Returns 0 or
 * -EINVAL. */
int config_parse_bool(const char *s, bool *out);

#endif
