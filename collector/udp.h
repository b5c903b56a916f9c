/* udp.h - one UDP listener: the socket, and the intake thread that reads it.
 *
 * Sets the receive buffer as large as asked (SO_RCVBUF, then SO_RCVBUFFORCE when the
 * kernel clamped it and we may force), reads the effective size back, and counts the
 * datagrams the kernel dropped on this socket for want of buffer (SO_MEMINFO). An intake
 * thread (intake.h) takes the datagrams off the socket at the kernel's pace into an in-memory
 * queue; the callback still gets them on the loop thread, in arrival order.
 *
 * Loop thread only.
 */
#ifndef INJECTOR_UDP_H
#define INJECTOR_UDP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <uv.h>

#include "collector/intake.h"

struct udp;

/* Bind addr (IPv6 sockets are IPv6-only, so 0.0.0.0 and [::] can both be bound) and start
 * receiving; cb gets each datagram (intake.h's struct intake_datagram, straight from the
 * queue) on the loop thread, in arrival order. The queue's memory
 * comes from pool (shared by every listener; it must outlive the listener). Returns 0 and
 * *out, or a negative errno (-EADDRINUSE, -EACCES, ...): then nothing is left open and cb is
 * never called.
 *
 * reuseport > 0: the port is shared (SO_REUSEPORT) by a group of that many processes, and a
 * classic BPF program steers each datagram by its source address (the low 32 bits, mod the
 * group size), so one sender reaches the same process whatever its source port. While fewer
 * processes than that are bound, the kernel spreads the rest by its own 4-tuple hash. */
int udp_new(uv_loop_t *loop, const struct sockaddr *addr, size_t rcvbuf, unsigned reuseport,
            struct intake_pool *pool, intake_datagram_cb cb, void *data, struct udp **out);

/* Stop reading the socket (what is queued is still delivered): at the end of the shutdown
 * grace, so the count of what is left (udp_stats) is final. */
void udp_stop(struct udp *u);

/* After udp_stop, when stopping: the socket takes no datagram any more, and what it still
 * holds is read and dropped unprocessed. Returns how many datagrams that was, for the count
 * of what was lost. From here on the kernel turns senders away as from a closed port
 * (counted in its UDP NoPorts), so nothing arrives between this count and the close
 * uncounted. At most what the receive buffer can hold at once is read. */
uint64_t udp_discard(struct udp *u);

/* Stop receiving and close; what is still queued is dropped (count it first: udp_stats).
 * Safe on NULL. */
void udp_close(struct udp *u);

/* The intake's counters: taken from the socket, delivered, queued now, the peak. */
void udp_stats(const struct udp *u, struct intake_stats *out);

/* The bound address as text ("127.0.0.1:40112", "[::1]:8341"), with the real port. */
const char *udp_name(const struct udp *u);

/* The bound address, with the real port (valid while u is open). */
const struct sockaddr *udp_address(const struct udp *u);

/* The receive buffer the kernel granted (as getsockopt reports it: twice the usable
 * payload, the kernel's bookkeeping share included). */
size_t udp_rcvbuf(const struct udp *u);

/* Whether the kernel clamped the buffer below what was asked (net.core.rmem_max). */
bool udp_rcvbuf_clamped(const struct udp *u);

/* Datagrams dropped by the kernel on this socket since it was opened; -1 if unknown. */
int64_t udp_drops(const struct udp *u);

/* Bytes waiting in the socket's receive queue (0: drained); -1 if unknown. */
int64_t udp_queued(const struct udp *u);

#endif
