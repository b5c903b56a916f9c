/* http.h - the HTTP API: /v1/alerts, /v1/stats, /v1/history, /metrics, /v1/sources, /healthz,
 * and acknowledgements (POST /v1/ack, /v1/unack: with a token configured only).
 *
 * libmicrohttpd without a thread of its own: its epoll descriptor is watched by a libuv
 * poll handle and its timeouts by a libuv timer, so every request runs on the loop thread
 * and reads the state table and counters directly, with no lock and no copy. An answer is
 * built in one go (a 100,000-alert /v1/alerts takes tens of ms, which the socket buffer
 * absorbs) and written out piecewise as the client reads it, between datagram batches.
 *
 * No client can hold it: the listening socket is ours (libmicrohttpd gets each accepted
 * connection), watched only while a connection can be taken; at most 64 connections, and
 * at the limit a newcomer takes the slot of the one waiting longest for its request; a
 * request's headers (and a POST's body) must be whole within 10 s; out of descriptors,
 * waiting clients are closed at once (a spare descriptor), a batch per loop iteration,
 * rather than the loop spinning. Counted in http_connections, http_refused, http_dropped.
 * libmicrohttpd's messages go to our log, prefixed and rate-limited.
 *
 * Loop thread only. http_close() stops serving; memory is freed when libuv has closed
 * the handles.
 */
#ifndef INJECTOR_HTTP_H
#define INJECTOR_HTTP_H

#include "collector/history.h"
#include "collector/ingest.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

/* One listening socket, as /v1/stats and /metrics show it. */
struct http_listener {
    const char *address;  /* "127.0.0.1:8341"; valid for the call only */
    size_t rcvbuf;        /* the receive buffer the kernel granted */
    bool rcvbuf_clamped;  /* below what was asked (net.core.rmem_max) */
    int64_t kernel_drops; /* -1: unknown */
    uint64_t queued;      /* datagrams in its intake queue now (intake.h) */
    uint64_t queued_peak; /* the most it held at once */
};

typedef void (*http_listener_fn)(const struct http_listener *l, void *arg);

struct http_config {
    const struct sockaddr *addr;
    struct ingest *ingest;
    const char *collector_id;
    /* Calls fn(l, arg) once per listener, in order; at each request that shows them, right
     * after refresh (what it shows may be what refresh read). */
    void (*listeners)(http_listener_fn fn, void *arg, void *data);
    const char *token;  /* bearer token required for all but /healthz; NULL: none */
    bool token_metrics; /* the token guards /metrics too */
    /* Called before counters are read (brings the daemon's gauges up to date). */
    void (*refresh)(void *data);
    const struct history *history; /* GET /v1/history; NULL: not kept (404) */
    void *data;
};

struct http;

/* Start serving. Returns 0 and *out, or a negative errno (the address cannot be bound). */
int http_new(uv_loop_t *loop, const struct http_config *cfg, struct http **out);

/* Change the token (SIGHUP); NULL removes it. Copied. Returns 0 or -ENOMEM. */
int http_set_token(struct http *h, const char *token, bool token_metrics);

/* Stop serving and close. Safe on NULL. */
void http_close(struct http *h);

/* "127.0.0.1:8342", with the real port. */
const char *http_name(const struct http *h);

#endif
