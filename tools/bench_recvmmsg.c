/* bench_recvmmsg.c - the baseline for the drain benchmark: a bare recvmmsg loop that only
 * counts datagrams. Binds, sets the receive buffer like injectord, says "ready", then waits
 * for SIGUSR1 while datagrams pile up in its socket; on SIGUSR1 it drains N datagrams and
 * prints the seconds it took.  Usage: bench-recvmmsg PORT RCVBUF_BYTES N */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define BATCH 64
#define SLOT  2048

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: bench-recvmmsg PORT RCVBUF_BYTES N\n");
        return 2;
    }
    int port = atoi(argv[1]), rcvbuf = atoi(argv[2]);
    long n = atol(argv[3]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
        perror("bind");
        return 1;
    }
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    sigprocmask(SIG_BLOCK, &set, NULL);
    printf("ready\n");
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);

    static char bufs[BATCH][SLOT];
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    for (int i = 0; i < BATCH; i++) {
        iov[i] = (struct iovec){bufs[i], SLOT};
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    /* MSG_WAITFORONE: take what is there; a plain recvmmsg waits for all BATCH. A
     * datagram that never comes ends the run after 5 s instead of hanging it. */
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    long got = 0;
    while (got < n) {
        int k = recvmmsg(fd, msgs, BATCH, MSG_WAITFORONE, NULL);
        if (k > 0) {
            got += k;
        } else if (k < 0) {
            fprintf(stderr, "bench-recvmmsg: %ld of %ld datagrams arrived\n", got, n);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("%.6f\n", (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
