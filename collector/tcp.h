/* tcp.h - optional TCP submission for clients that connect, send one document and wait
 * for a reply before closing (as real Injector clients did).
 *
 * Each connection's bytes are collected (bounded) and handed to the parser whenever they
 * could end a document; a document cut short waits for more bytes. The client gets one
 * short XML reply (each alert's outcome and version, or the error) and the connection is
 * closed. Limits: connections at once (a client over it gets a "busy" reply and is closed
 * at once, counted in tcp_refused), document size, idle time. An accept error closes the
 * listener for a second rather than spin (clients past the descriptor limit are closed by
 * libuv with its spare descriptor, not counted). Same state table and counters as UDP
 * (documents counted apart from datagrams).
 *
 * Loop thread only. tcp_close() stops listening and closes every connection; memory is
 * freed in the close callbacks.
 */
#ifndef INJECTOR_TCP_H
#define INJECTOR_TCP_H

#include "collector/ingest.h"

#include <stddef.h>
#include <sys/socket.h>
#include <uv.h>

struct tcp_config {
    const struct sockaddr *addr;
    struct ingest *ingest;
    unsigned max_connections; /* 0: 64 */
    unsigned idle_s;          /* 0: 10 */
    size_t max_document;      /* 0: 65507 */
};

struct tcp;

/* Listen on cfg->addr. Returns 0 and *out, or a negative errno (nothing left open). */
int tcp_new(uv_loop_t *loop, const struct tcp_config *cfg, struct tcp **out);

/* Safe on NULL. */
void tcp_close(struct tcp *t);

const char *tcp_name(const struct tcp *t);

#endif
