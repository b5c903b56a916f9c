/* udp.c - UDP listener on libuv with recvmmsg batches, buffer sizing and drop counting. */
#include "collector/udp.h"

#include "collector/address.h"

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

/* libuv (1.44) splits the buffer into 64 KiB slots, one datagram each, and takes at most
 * 20 per recvmmsg call; a bigger buffer buys nothing. */
#define SLOT_SIZE (64 * 1024)
#define SLOTS     20

struct udp {
    uv_udp_t handle;
    udp_datagram_cb cb;
    void *data;
    char name[72];
    size_t rcvbuf;
    bool clamped;
    char *buf; /* SLOTS * SLOT_SIZE, reused for every batch */
};

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
    struct udp *u = handle->data;
    (void)suggested;
    *buf = uv_buf_init(u->buf, SLOTS * SLOT_SIZE);
}

static void on_recv(uv_udp_t *handle, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags)
{
    struct udp *u = handle->data;
    (void)buf;
    /* nread == 0 with no address: the socket is drained, or (UV_UDP_MMSG_FREE) the end of
     * a batch whose buffer we would free if it were not reused. */
    if (addr == NULL || (flags & UV_UDP_MMSG_FREE))
        return;
    if (nread < 0)
        return; /* a transient receive error (ICMP feedback and the like); nothing lost */
    struct udp_datagram d = {
        .buf = buf->base,
        .len = (size_t)nread,
        .from = addr,
        .truncated = (flags & UV_UDP_PARTIAL) != 0,
    };
    u->cb(&d, u->data);
}

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

static void on_close(uv_handle_t *handle)
{
    struct udp *u = handle->data;
    free(u->buf);
    free(u);
}

/* A socket bound to addr in a SO_REUSEPORT group of n, steered by source address. */
static int open_shared(const struct sockaddr *addr, unsigned n, uv_os_sock_t *out)
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
    socklen_t len = v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    if ((v6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0) ||
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) != 0 ||
        bind(fd, addr, len) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof(prog)) != 0) {
        int rc = -errno;
        close(fd);
        return rc;
    }
    *out = fd;
    return 0;
}

int udp_new(uv_loop_t *loop, const struct sockaddr *addr, size_t rcvbuf, unsigned reuseport,
            udp_datagram_cb cb, void *data, struct udp **out)
{
    int rc;
    uv_os_fd_t fd;
    struct sockaddr_storage bound;
    int blen = sizeof(bound);
    struct udp *u = calloc(1, sizeof(*u));
    if (u == NULL)
        return -ENOMEM;
    u->cb = cb;
    u->data = data;
    if ((u->buf = malloc(SLOTS * SLOT_SIZE)) == NULL) {
        free(u);
        return -ENOMEM;
    }

    uv_os_sock_t shared = -1;
    if (reuseport > 0 && (rc = open_shared(addr, reuseport, &shared)) != 0) {
        free(u->buf);
        free(u);
        return rc;
    }
    /* A shared socket is made here and handed over (libuv 1.44 has no UV_UDP_REUSEPORT). */
    rc = uv_udp_init_ex(loop, &u->handle,
                        (shared >= 0 ? AF_UNSPEC : (unsigned)addr->sa_family) | UV_UDP_RECVMMSG);
    if (rc != 0) {
        if (shared >= 0)
            close(shared);
        free(u->buf);
        free(u);
        return rc;
    }
    u->handle.data = u;
    /* From here on the handle exists: every failure closes it, and on_close frees u. */
    if (shared >= 0) {
        if ((rc = uv_udp_open(&u->handle, shared)) != 0) {
            close(shared);
            goto fail;
        }
    } else {
        rc = uv_udp_bind(&u->handle, addr, addr->sa_family == AF_INET6 ? UV_UDP_IPV6ONLY : 0);
        if (rc != 0)
            goto fail;
    }
    if ((rc = uv_fileno((uv_handle_t *)&u->handle, &fd)) != 0)
        goto fail;
    set_rcvbuf(u, fd, rcvbuf);
    if ((rc = uv_udp_getsockname(&u->handle, (struct sockaddr *)&bound, &blen)) != 0)
        goto fail;
    address_format((struct sockaddr *)&bound, u->name, sizeof(u->name));
    if ((rc = uv_udp_recv_start(&u->handle, on_alloc, on_recv)) != 0)
        goto fail;
    *out = u;
    return 0;
fail:
    uv_close((uv_handle_t *)&u->handle, on_close);
    return rc;
}

void udp_close(struct udp *u)
{
    if (u == NULL)
        return;
    uv_udp_recv_stop(&u->handle);
    uv_close((uv_handle_t *)&u->handle, on_close);
}

const char *udp_name(const struct udp *u)
{
    return u->name;
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
    uv_os_fd_t fd;
    socklen_t len = sizeof(uint32_t) * SK_MEMINFO_VARS;
    if (uv_fileno((const uv_handle_t *)&u->handle, &fd) != 0)
        return -1;
    return getsockopt(fd, SOL_SOCKET, SO_MEMINFO, mem, &len);
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
