/* ingest.h - the collector's data path: datagram -> parser -> state table -> sinks.
 *
 * Owns the parser, the state table, the counters and the sinks it is given. Knows nothing
 * of sockets (it takes bytes and a sender address) nor of clocks (the caller passes the
 * receive time), so it runs the same under the daemon, a benchmark and a unit test.
 *
 * Loop thread only.
 */
#ifndef INJECTOR_INGEST_H
#define INJECTOR_INGEST_H

#include "collector/state.h"
#include "collector/stats.h"
#include "sink/journal.h"
#include "sink/sink.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The daemon's sinks: AMQP and the JSON-lines output, both at most. */
#define INGEST_MAX_SINKS 2

struct ingest_config {
    const char *collector_id; /* copied */
    size_t max_alerts;        /* 0: no cap */
    unsigned default_ttl_s;   /* 0: alerts without TTL never expire */
    size_t max_hosts;         /* 0: no cap */
    double rate_limit;        /* alerts/s per sender address; 0: off */
    double rate_burst;        /* 0: rate_limit */
    struct journal *journal;  /* every change goes here before any sink; borrowed (it
                               * outlives ingest); NULL: no journal */
    bool fast_path;           /* repeats skip the parser (collector/repeat.h) */
};

struct ingest;

/* Takes ownership of the n_sinks sinks (also on failure). Returns 0 and *out, or -ENOMEM,
 * -EINVAL (too many sinks). */
int ingest_new(const struct ingest_config *cfg, struct sink **sinks, size_t n_sinks,
               struct ingest **out);

/* Flushes and frees the sinks, then everything else. Safe on NULL. */
void ingest_free(struct ingest *in);

/* Process one datagram received at wall-clock now_ms (ms since the epoch) from `from`
 * (may be NULL in tests). mono_ms is a monotonic clock for log rate limits. */
void ingest_datagram(struct ingest *in, const char *buf, size_t len, bool truncated,
                     const struct sockaddr *from, int64_t now_ms, int64_t mono_ms);

/* What happened to one alert of a document, for a reply to a client that waits (TCP).
 * host and component are valid until the next call into ingest. */
struct ingest_item {
    enum change_outcome outcome; /* meaningful when refused == 0 */
    uint64_t version;
    const char *host, *component;
    int refused; /* 0, or -ENOSPC (active-alert cap), -ENOMEM */
};

/* One document from a stream client. Like ingest_datagram, counted as a TCP document, and
 * it reports each alert's outcome in items (at most max; *n set). Returns 0; -EAGAIN when
 * the document is cut short and final is false (nothing counted: wait for more bytes);
 * -EBADMSG when it is refused (*reason, *error describe it; valid until the next call);
 * -EACCES when its source or its signature is refused (the same); -ENOMEM. */
int ingest_document(struct ingest *in, const char *buf, size_t len, bool final,
                    const struct sockaddr *from, int64_t now_ms, int64_t mono_ms,
                    struct ingest_item *items, size_t max, size_t *n, const char **reason,
                    const char **error);

/* Count TCP connection events (the TCP listener owns the connections, ingest the counters). */
void ingest_count_tcp(struct ingest *in, bool accepted);

/* HTTP connection events, counted the same way (the HTTP API owns the connections). */
enum ingest_http_event {
    INGEST_HTTP_ACCEPTED, /* taken */
    INGEST_HTTP_REFUSED,  /* closed at once: no descriptor, or refused by libmicrohttpd */
    INGEST_HTTP_DROPPED,  /* closed by us without a whole request: too slow, or gave way */
};
void ingest_count_http(struct ingest *in, enum ingest_http_event e);

struct acl;
struct auth;

/* Check signatures with auth from now on (NULL: none); takes ownership, frees the old. */
void ingest_set_auth(struct ingest *in, struct auth *auth);
struct auth *ingest_auth(struct ingest *in);

/* Turn the fast path (byte-identical repeats skip the parser, collector/repeat.h) on or off
 * (SIGHUP); off gives its memory back. Returns 0, or -ENOMEM (then it stays off). */
int ingest_set_fast_path(struct ingest *in, bool on);

/* Change the per-sender rate limit (SIGHUP). */
void ingest_set_rate_limit(struct ingest *in, double rate, double burst);

/* Use acl as the source allow-list from now on (NULL: everyone); takes ownership and frees
 * the previous one. */
void ingest_set_acl(struct ingest *in, struct acl *acl);

/* Expire every alert due at wall-clock now_ms and forward the expire changes. */
void ingest_expire(struct ingest *in, int64_t now_ms, int64_t mono_ms);

/* An acknowledgement from the HTTP API, or its taking back. Strings borrowed for the call. */
struct ingest_ack {
    bool unack;
    const char *host, *component;
    const char *author;  /* who; unack: may be NULL */
    const char *comment; /* ack only */
    int64_t expires_ms;  /* ack only: when it lapses, wall clock; 0: never by itself */
};

/* Apply req to the table at wall-clock now_ms and forward its change exactly as a datagram's
 * (journal, then sinks; counted by outcome), then write the journal out, so the version it
 * answers with is never taken back. Returns 0 and *out (CHANGE_ACK or CHANGE_UNACK, the
 * version, the alert and its ack; valid until the next call into ingest); -ENOENT (no such
 * active alert), -ENODATA (an unack of an alert not acknowledged), -ENOMEM. Nothing changed
 * on an error. */
int ingest_ack(struct ingest *in, const struct ingest_ack *req, int64_t now_ms, int64_t mono_ms,
               struct state_result *out);

/* Write the journal out (every iteration: it also retries a failed write), then flush the
 * sinks if anything was written since the last flush, or a sink still has output waiting
 * (a stalled reader): call it once per loop iteration (mono_ms: a monotonic clock, for the
 * rate limit of the error line and the journal's back-off). Returns whether output is
 * still waiting: then call it again soon, even if nothing else happens. */
bool ingest_flush(struct ingest *in, int64_t mono_ms);

/* Write what the journal holds to its file now (no sync), so that every version the table
 * shows is written: the HTTP API calls it before answering /v1/alerts. */
void ingest_write_journal(struct ingest *in);

/* Reopen file sinks (SIGHUP). Returns 0 or the first error. */
int ingest_reopen(struct ingest *in);

/* Counters, with the gauges (active_alerts, hosts, version, seq_*) brought up to date. */
const struct stats *ingest_stats(struct ingest *in);

/* The counters for their owners outside ingest (the daemon: kernel_drops, uptime; set them
 * before a report). */
struct stats *ingest_counters(struct ingest *in);

/* A report of every counter: ingest_stats, the journal's and the sinks' (stats.h). Valid until the
 * next call into ingest. */
void ingest_report(struct ingest *in, struct stats_report *out);

/* Emit summaries of rate-limited log lines whose window has passed. */
void ingest_tick(struct ingest *in, int64_t mono_ms);

struct state *ingest_state(struct ingest *in);

/* The per-sender table (for the HTTP API). */
struct sources *ingest_sources(struct ingest *in);

#endif
