/* bench_recvmmsg.c - the baseline for the drain benchmark: a bare recvmmsg loop that only
 * counts datagrams. Binds, sets the receive buffer like injectord, says "ready", then waits
 * for SIGUSR1 while datagrams pile up in its socket; on SIGUSR1 it drains N datagrams and
 * prints the seconds it took, and on a second line the CPU seconds (user + system) it used:
 * the CPU time barely depends on what else the machine runs, the wall time does.
 *   Usage: bench-recvmmsg PORT RCVBUF_BYTES N [BATCH]   (BATCH: datagrams per call, 64) */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_BATCH 1024
#define SLOT      2048

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 5) {
        fprintf(stderr, "usage: bench-recvmmsg PORT RCVBUF_BYTES N [BATCH]\n");
        return 2;
    }
    int port = atoi(argv[1]), rcvbuf = atoi(argv[2]);
    long n = atol(argv[3]);
    int batch = argc == 5 ? atoi(argv[4]) : 64;
    if (batch < 1 || batch > MAX_BATCH) {
        fprintf(stderr, "bench-recvmmsg: BATCH from 1 to %d\n", MAX_BATCH);
        return 2;
    }
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

    static char bufs[MAX_BATCH][SLOT];
    static struct mmsghdr msgs[MAX_BATCH];
    static struct iovec iov[MAX_BATCH];
    for (int i = 0; i < batch; i++) {
        iov[i] = (struct iovec){bufs[i], SLOT};
        memset(&msgs[i], 0, sizeof(msgs[i]));
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    struct timespec t0, t1, c0, c1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c0);
    /* MSG_WAITFORONE: take what is there; a plain recvmmsg waits for all BATCH. A
     * datagram that never comes ends the run after 5 s instead of hanging it. */
    struct timeval tv = {5, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    long got = 0;
    while (got < n) {
        int k = recvmmsg(fd, msgs, (unsigned)batch, MSG_WAITFORONE, NULL);
        if (k > 0) {
            got += k;
        } else if (k < 0) {
            fprintf(stderr, "bench-recvmmsg: %ld of %ld datagrams arrived\n", got, n);
            return 1;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &c1);
    printf("%.6f\n%.6f\n",
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9,
           (double)(c1.tv_sec - c0.tv_sec) + (double)(c1.tv_nsec - c0.tv_nsec) / 1e9);
    return 0;
}
