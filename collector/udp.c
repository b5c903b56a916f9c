/* udp.c - UDP listener: the socket (buffer sizing, SO_REUSEPORT steering, drop counting),
 * read by an intake thread. */
#include "collector/udp.h"

#include "collector/address.h"
#include "collector/log.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif

struct udp {
    int fd;
    struct intake *intake;
    struct sockaddr_storage bound;
    char name[ADDRESS_TEXT_MAX];
    size_t rcvbuf;
    bool clamped;
};

/* Ask for size; when the kernel clamps to net.core.rmem_max, force it (CAP_NET_ADMIN).
 * Linux doubles the request for its bookkeeping and reports the doubled value. */
static void set_rcvbuf(struct udp *u, int fd, size_t want)
{
    int v = want > (size_t)(INT32_MAX / 2) ? INT32_MAX / 2 : (int)want;
    int got = 0;
    socklen_t len = sizeof(got);
    /* The kernel grants 2 * min(request, net.core.rmem_max). */
    size_t full = 2 * (size_t)v;

    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v));
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    if ((size_t)got < full) {
        setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v));
        len = sizeof(got);
        getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &len);
    }
    u->rcvbuf = (size_t)got;
    u->clamped = (size_t)got < full;
}

/* A socket bound to addr (IPv6: IPv6-only); with n > 0, in a SO_REUSEPORT group of n,
 * steered by source address. */
static int open_socket(const struct sockaddr *addr, unsigned n, int *out)
{
    int one = 1;
    bool v6 = addr->sa_family == AF_INET6;
    int fd = socket(addr->sa_family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -errno;
    /* The IPv4 source address is at offset 12 of its header; of an IPv6 one, the last
     * 32 bits of the source address at offset 20. SKF_NET_OFF reaches the network header
     * (the program's packet data starts after the UDP header). */
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (uint32_t)(SKF_NET_OFF + (v6 ? 20 : 12))),
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    struct sock_fprog prog = {.len = sizeof(code) / sizeof(code[0]), .filter = code};
    if ((v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
        (n > 0 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0) ||
        bind(fd, addr, address_len(addr)) != 0 ||
        (n > 0 && setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) != 0)) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

int udp_new(uv_loop_t *loop, const struct sockaddr *addr, size_t rcvbuf, unsigned reuseport,
            struct intake_pool *pool, intake_datagram_cb cb, void *data, struct udp **out)
{
    int rc;
    socklen_t blen = sizeof(struct sockaddr_storage);
    struct udp *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    u->fd = -1;
    if ((rc = open_socket(addr, reuseport, &u->fd)) != 0)
        goto fail;
    set_rcvbuf(u, u->fd, rcvbuf);
    if (getsockname(u->fd, (struct sockaddr *)&u->bound, &blen) != 0) {
        rc = -errno;
        goto fail;
    }
    address_format((struct sockaddr *)&u->bound, u->name, sizeof(u->name));
    struct intake_config ic = {.fd = u->fd, .pool = pool, .cb = cb, .data = data};
    if ((rc = intake_new(loop, &ic, &u->intake)) != 0)
        goto fail;
    *out = u;
    return 0;
fail:
    if (u->fd >= 0)
        close(u->fd);
    free(u);
    return rc;
}

void udp_stop(struct udp *u)
{
    intake_stop(u->intake);
}

/* A kernel's skb for the smallest datagram takes a few hundred bytes of the buffer (its
 * "truesize"): what the buffer can hold at once is at most rcvbuf / this many. */
#define MIN_TRUESIZE  256
#define DISCARD_BATCH 64

/* Connected to its own address, the socket is one that only its own address may send to:
 * the kernel delivers it nothing else. A socket bound to the wildcard is connected to the
 * loopback address of its family (which sets its local address to that: it is closing). */
static void seal(struct udp *u)
{
    struct sockaddr_storage self = u->bound;
    if (self.ss_family == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&self;
        if (a->sin_addr.s_addr == htonl(INADDR_ANY))
            a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (self.ss_family == AF_INET6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&self;
        if (IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr))
            a->sin6_addr = in6addr_loopback;
    }
    if (connect(u->fd, (struct sockaddr *)&self, address_len((struct sockaddr *)&self)) != 0)
        log_warning("udp %s: cannot stop the socket taking datagrams (%s): those arriving "
                    "until it closes are not counted",
                    u->name, strerror(errno));
}

uint64_t udp_discard(struct udp *u)
{
    seal(u);
    /* A byte of each: the payload is not wanted (the kernel drops the rest), only the count. */
    char byte[DISCARD_BATCH];
    struct iovec iov[DISCARD_BATCH];
    struct mmsghdr msgs[DISCARD_BATCH];
    for (int i = 0; i < DISCARD_BATCH; i++) {
        iov[i] = (struct iovec){&byte[i], 1};
        msgs[i] = (struct mmsghdr){.msg_hdr = {.msg_iov = &iov[i], .msg_iovlen = 1}};
    }
    uint64_t n = 0, max = u->rcvbuf / MIN_TRUESIZE + DISCARD_BATCH;
    int errors = 0;
    while (n < max) {
        int k = recvmmsg(u->fd, msgs, DISCARD_BATCH, MSG_DONTWAIT, NULL);
        if (k > 0) {
            n += (uint64_t)k;
            continue;
        }
        /* A pending socket error (ICMP feedback and the like) is cleared by reading it: the
         * datagrams behind it are still there. Empty (EAGAIN): done. */
        if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && ++errors < 8)
            continue;
        break;
    }
    return n;
}

void udp_close(struct udp *u)
{
    if (u == NULL)
        return;
    /* The thread is joined here, so the socket can go at once; the queue's memory follows
     * when libuv has closed the intake's handles. */
    intake_close(u->intake);
    close(u->fd);
    free(u);
}

void udp_stats(const struct udp *u, struct intake_stats *out)
{
    intake_stats(u->intake, out);
}

const char *udp_name(const struct udp *u)
{
    return u->name;
}

const struct sockaddr *udp_address(const struct udp *u)
{
    return (const struct sockaddr *)&u->bound;
}

size_t udp_rcvbuf(const struct udp *u)
{
    return u->rcvbuf;
}

bool udp_rcvbuf_clamped(const struct udp *u)
{
    return u->clamped;
}

static int meminfo(const struct udp *u, uint32_t mem[SK_MEMINFO_VARS])
{
    socklen_t len = sizeof(uint32_t) * SK_MEMINFO_VARS;
    return getsockopt(u->fd, SOL_SOCKET, SO_MEMINFO, mem, &len);
}

int64_t udp_drops(const struct udp *u)
{
    uint32_t mem[SK_MEMINFO_VARS];
    if (meminfo(u, mem) != 0)
        return -1;
    return mem[SK_MEMINFO_DROPS];
}

int64_t udp_queued(const struct udp *u)
{
    uint32_t mem[SK_MEMINFO_VARS];
    if (meminfo(u, mem) != 0)
        return -1;
    return mem[SK_MEMINFO_RMEM_ALLOC];
}
