/* config.h - injectord's settings: defaults, validation, command-line options.
 *
 * Every setting is a key in one table; the command line (--key value) and, later, the
 * INI file go through config_set(), so both accept exactly the same keys and values.
 * Parsed once at start into a struct config that the rest of the daemon reads as const.
 */
#ifndef INJECTOR_CONFIG_H
#define INJECTOR_CONFIG_H

#include "collector/log.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>

#define CONFIG_MAX_LISTEN 16
#define CONFIG_DEFAULT_PORT 8341
#define CONFIG_DEFAULT_HTTP "127.0.0.1:8342"

struct config {
    char listen[CONFIG_MAX_LISTEN][64]; /* as given: "0.0.0.0:8341", "[::1]:8341" */
    struct sockaddr_storage listen_addr[CONFIG_MAX_LISTEN];
    size_t n_listen;
    bool listen_given; /* the first --listen replaces the default */
    size_t rcvbuf;     /* requested SO_RCVBUF, bytes */
    unsigned reuseport; /* size of the SO_REUSEPORT group; 0: the ports are ours alone */
    char output[1024]; /* "-" for stdout, else a file path */
    char collector_id[256];
    unsigned stats_interval_s; /* 0: no periodic stats line */
    enum log_level log_level;
    size_t max_alerts;         /* 0: no cap */
    size_t max_hosts;          /* 0: no cap */
    double rate_limit;         /* alerts/s per sender address; 0: off */
    double rate_burst;         /* 0: rate_limit */
    unsigned default_ttl_s;    /* expiry without a TTL element; 0: never */
    bool tcp;                  /* also accept documents over TCP on the listen addresses */
    bool fast_path;            /* byte-identical repeats skip the parser */
    char allow[2048];          /* source allow-list (CIDR blocks); "" : everyone */
    char key_file[1024];       /* signature keys; "" : signatures not checked */
    bool require_signature;    /* refuse unsigned datagrams */
    unsigned signature_skew_s; /* accepted clock difference of a signature */
    char snapshot[1024];       /* "" : no snapshot */
    unsigned snapshot_interval_s;
    unsigned shutdown_grace_s; /* how long SIGTERM waits for the sockets to drain */
    /* AMQP sink: used when amqp_url is set; then stdout only if --output was given */
    char amqp_url[1024];
    char amqp_exchange[256];
    char amqp_password_file[1024];
    char amqp_ca_file[1024];
    char amqp_cert_file[1024];
    char amqp_key_file[1024];
    unsigned amqp_confirm_window;
    bool amqp_mandatory;
    unsigned amqp_heartbeat_s;
    char spool_dir[1024]; /* "" : no spool */
    size_t outbox_size;
    bool output_given;
    char http[64];                     /* "" : no HTTP API */
    char http_token_file[1024];        /* "" : no token needed */
    bool http_token_metrics;           /* the token guards /metrics too */
    struct sockaddr_storage http_addr;
};

/* Fill c with the defaults (collector id: the host name). */
void config_defaults(struct config *c);

/* Set one key ("rcvbuf", "listen", ...) from its text value. Returns 0, or -EINVAL with a
 * message in err ("rcvbuf: '12Q' is not a size; use bytes or a K/M/G suffix"). */
int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen);

#define CONFIG_DEFAULT_FILE "/etc/injector/injectord.conf"

/* Parse the command line over c. Returns 0 to run, 1 when --help or --version was
 * printed (exit 0), -EINVAL with a message in err. */
int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen);

/* Read an INI file over c. Keys are the long option names ("rcvbuf", "amqp-exchange"; '_'
 * for '-' is fine), in any section or named after their section ([amqp] exchange, [spool]
 * dir, [snapshot] interval, [logging] level, ...). Returns 0; -ENOENT when the file does not
 * exist; -EINVAL with "file:line: ..." in err. */
int config_load_file(struct config *c, const char *path, char *err, size_t errlen);

/* The whole start-up: defaults, then the file (-c PATH, else the default file if it
 * exists), then the command line, which wins. *check is set by --check-config.
 * Returns as config_parse_args. */
int config_load(struct config *c, int argc, char **argv, bool *check, char *err, size_t errlen);

/* Print the effective configuration as an INI file (the AMQP password masked). */
void config_print(const struct config *c, FILE *f);

/* Parse "a.b.c.d:port", "[v6]:port" or ":port" (all addresses). Returns 0 or -EINVAL. */
int config_parse_address(const char *s, struct sockaddr_storage *out);

/* Parse a byte size ("33554432", "32M", "208K", "1G"; powers of 1024). Returns 0 or
 * -EINVAL. */
int config_parse_size(const char *s, size_t *out);

void config_usage(FILE *f);

#endif
