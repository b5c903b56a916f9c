/* injector_burst.c - burst sender and capacity checker: send N alerts as fast as possible
 * (sendmmsg batches) or at a rate, then ask the collector what arrived and report the loss,
 * and where it happened (the collector's kernel drop counter, the senders' Seq gaps). */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "parsers/envelope.h"
#include "http_get.h"
#include "plot_svg.h"
#include "target.h"

#define BATCH    256
#define MAX_SIZE 65000
/* Steps --find-capacity can take: doublings and halvings of a long are 63 each at most. */
#define MAX_STEPS 128

struct opts {
    const char *target, *stats_url, *source;
    long count, repeat;
    double pause_s, rate, settle_s, timeout_s;
    long size, hosts, components;
    int upd_pct;     /* the rest are Del */
    int changes_pct; /* -1: off; else this share are new alerts, the rest refresh one */
    bool ipv6, seq, json, find_capacity, fresh, no_stats;
    long max_count;
    const char *key_file;
    const char *plot;            /* --plot FILE.svg */
    char stats_from_target[300]; /* the --stats default, made from --target's host */
    struct envelope_key key;     /* when --key-file */
    unsigned nonce_prefix;       /* random per run: nonces never repeat across runs */
};

struct counts {
    int64_t datagrams, kernel_drops, seq_gaps;
};

struct result {
    long sent;
    int64_t received, lost, kernel_drops, seq_gaps;
    double send_rate, drain_s;
    bool settled;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_s(double s)
{
    if (s <= 0)
        return;
    struct timespec ts = {(time_t)s, (long)((s - floor(s)) * 1e9)};
    nanosleep(&ts, NULL);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: injector-burst [OPTION]...\n"
            "Send a burst of alerts to an injector collector, then ask it (HTTP API) what\n"
            "arrived: sent, received, lost, kernel drops, sequence gaps, send rate, drain time.\n\n"
            "  --target HOST:PORT   collector [127.0.0.1:8341, or [::1]:8341 with --ipv6]\n"
            "  --ipv6               send over IPv6\n"
            "  --source ADDR        send from this local address (e.g. 127.0.0.2: another\n"
            "                       sender, for collectors sharing a port with --reuseport)\n"
            "  --count N            alerts per burst [1000]\n"
            "  --repeat N           bursts [1]\n"
            "  --pause DURATION     between bursts, like a monitor restarting [1s]\n"
            "  --rate N             alerts per second; 0 is as fast as possible [0]\n"
            "  --size BYTES         pad each datagram to this size (LongMsg) [unpadded]\n"
            "  --hosts N            distinct hosts [count]\n"
            "  --components N       components per host [1]\n"
            "  --mix upd=P,del=Q    share of Upd and Del, in percent [upd=100]\n"
            "  --fresh              new host names for every burst (all raises), else repeats\n"
            "                       of a burst refresh the same alerts (duplicates)\n"
            "  --changes P          P%% of the alerts are new ones (raises), the rest refresh\n"
            "                       one alert (duplicates): a refresh storm with changes in it\n"
            "  --seq                number alerts with Seq (gaps show loss on the path)\n"
            "  --key-file PATH      sign every datagram with the file's first key\n"
            "  --stats URL          collector's stats [http://HOST:8342/v1/stats, HOST that of\n"
            "                       --target]\n"
            "  --no-stats           only send; do not ask the collector\n"
            "  --settle S           counts unchanged this long mean drained [0.5]\n"
            "  --timeout S          give up waiting for the drain after this long [60]\n"
            "  --find-capacity      grow, then bisect, the burst size to find the largest burst\n"
            "                       with zero loss for the collector's current settings\n"
            "  --max-count N        upper bound for --find-capacity [4000000]\n"
            "  --plot FILE.svg      with --find-capacity: draw the loss (%%) against the burst\n"
            "                       size of every step tried, as an SVG chart; FILE is\n"
            "                       created before anything is sent, so a missing directory\n"
            "                       or an unwritable file fails at once (exit 1)\n"
            "  --json               one JSON object per burst: sent, received, lost,\n"
            "                       kernel_drops, seq_gaps, send_rate, drain_s\n"
            "  -h, --help           show this help\n"
            "  -V, --version        show the version\n\n"
            "Exit status: 0 no loss (or capacity found), 1 loss or a failure at run time (the\n"
            "collector or its stats cannot be reached, a key file cannot be read, the --plot\n"
            "file cannot be written), 2 usage error (an option or value not as this help\n"
            "says).\n");
}

static double parse_duration(const char *s, bool *ok)
{
    char *end;
    double v = strtod(s, &end);
    double mult = 1;
    if (strcmp(end, "ms") == 0)
        mult = 0.001;
    else if (strcmp(end, "m") == 0)
        mult = 60;
    else if (*end != '\0' && strcmp(end, "s") != 0)
        *ok = false;
    if (v < 0 || end == s)
        *ok = false;
    return v * mult;
}

/* The host part of a --target (an IPv6 address keeps its brackets), into host; whether
 * the target has the form HOST:PORT or [v6]:PORT with a numeric port. */
static bool target_host(const char *target, char *host, size_t len)
{
    const char *colon = strrchr(target, ':');
    if (target[0] == '[') {
        const char *close = strchr(target, ']');
        colon = close != NULL && close[1] == ':' ? close + 1 : NULL;
    }
    if (colon == NULL || colon == target || colon[1] == '\0')
        return false;
    char *end;
    long port = strtol(colon + 1, &end, 10);
    if (*end != '\0' || port < 1 || port > 65535)
        return false;
    return snprintf(host, len, "%.*s", (int)(colon - target), target) < (int)len;
}

static int parse_args(int argc, char **argv, struct opts *o)
{
    static const struct option lo[] = {
        {"target", required_argument, NULL, 't'},
        {"count", required_argument, NULL, 'n'},
        {"repeat", required_argument, NULL, 'r'},
        {"pause", required_argument, NULL, 'p'},
        {"rate", required_argument, NULL, 'R'},
        {"size", required_argument, NULL, 's'},
        {"hosts", required_argument, NULL, 'H'},
        {"components", required_argument, NULL, 'C'},
        {"mix", required_argument, NULL, 'm'},
        {"ipv6", no_argument, NULL, '6'},
        {"seq", no_argument, NULL, 'q'},
        {"stats", required_argument, NULL, 'S'},
        {"no-stats", no_argument, NULL, 'N'},
        {"settle", required_argument, NULL, 'T'},
        {"timeout", required_argument, NULL, 'W'},
        {"find-capacity", no_argument, NULL, 'F'},
        {"max-count", required_argument, NULL, 'M'},
        {"json", no_argument, NULL, 'j'},
        {"fresh", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {"changes", required_argument, NULL, 'c'},
        {"key-file", required_argument, NULL, 'K'},
        {"source", required_argument, NULL, 'o'},
        {"plot", required_argument, NULL, 'P'},
        {NULL, 0, NULL, 0},
    };
    static const char positive[] = "a whole number > 0",
                      duration[] = "a duration >= 0: seconds, or N followed by ms, s or m";
    o->count = 1000;
    o->repeat = 1;
    o->pause_s = 1;
    o->upd_pct = 100;
    o->changes_pct = -1;
    o->settle_s = 0.5;
    o->timeout_s = 60;
    o->max_count = 4000000;
    opterr = 0;
    int ch;
    char *end = NULL;
    int idx = -1;
    while ((idx = -1, ch = getopt_long(argc, argv, ":hV", lo, &idx)) != -1) {
        bool ok = true;
        const char *want = positive; /* what the option takes, for the message */
        switch (ch) {
        case 't':
            o->target = optarg;
            break;
        case 'n':
            o->count = strtol(optarg, &end, 10);
            ok = end != optarg && *end == '\0' && o->count > 0;
            break;
        case 'r':
            o->repeat = strtol(optarg, &end, 10);
            ok = end != optarg && *end == '\0' && o->repeat > 0;
            break;
        case 'p':
            o->pause_s = parse_duration(optarg, &ok);
            want = duration;
            break;
        case 'R':
            o->rate = strtod(optarg, &end);
            ok = end != optarg && *end == '\0' && o->rate >= 0;
            want = "alerts per second, a number >= 0 (0: as fast as possible)";
            break;
        case 's':
            o->size = strtol(optarg, &end, 10);
            ok = end != optarg && *end == '\0' && o->size > 0 && o->size <= MAX_SIZE;
            want = "bytes, 1 to 65000";
            break;
        case 'H':
            o->hosts = strtol(optarg, &end, 10);
            ok = end != optarg && *end == '\0' && o->hosts > 0;
            break;
        case 'C':
            o->components = strtol(optarg, &end, 10);
            ok = end != optarg && *end == '\0' && o->components > 0;
            break;
        case 'm': {
            int u = -1, d = -1, n = 0;
            if ((sscanf(optarg, "upd=%d,del=%d%n", &u, &d, &n) == 2 ||
                 sscanf(optarg, "del=%d,upd=%d%n", &d, &u, &n) == 2) &&
                optarg[n] == '\0')
                ok = u >= 0 && d >= 0 && u + d == 100;
            else
                ok = false;
            o->upd_pct = u;
            want = "upd=P,del=Q: percentages adding up to 100, e.g. upd=90,del=10";
            break;
        }
        case '6':
            o->ipv6 = true;
            break;
        case 'o': {
            unsigned char a[sizeof(struct in6_addr)];
            o->source = optarg;
            ok = inet_pton(AF_INET, optarg, a) == 1 || inet_pton(AF_INET6, optarg, a) == 1;
            want = "a local IPv4 or IPv6 address (numeric)";
            break;
        }
        case 'q':
            o->seq = true;
            break;
        case 'S':
            o->stats_url = optarg;
            ok = strncmp(optarg, "http://", 7) == 0 && optarg[7] != '\0';
            want = "http://HOST:PORT/v1/stats (the collector's HTTP API)";
            break;
        case 'N':
            o->no_stats = true;
            break;
        case 'T':
            o->settle_s = parse_duration(optarg, &ok);
            want = duration;
            break;
        case 'W':
            o->timeout_s = parse_duration(optarg, &ok);
            want = duration;
            break;
        case 'F':
            o->find_capacity = true;
            break;
        case 'M':
            o->max_count = strtol(optarg, &end, 10);
            ok = end != optarg && *end == '\0' && o->max_count > 0;
            break;
        case 'j':
            o->json = true;
            break;
        case 'f':
            o->fresh = true;
            break;
        case 'K':
            o->key_file = optarg;
            break;
        case 'P':
            o->plot = optarg;
            ok = optarg[0] != '\0';
            want = "the SVG file to write";
            break;
        case 'c':
            o->changes_pct = (int)strtol(optarg, &end, 10);
            ok = end != optarg && *end == '\0' && o->changes_pct >= 0 && o->changes_pct <= 100;
            want = "a percentage, 0 to 100";
            break;
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("injector-burst %s\n", INJECTOR_VERSION);
            exit(0);
        case ':':
            fprintf(stderr, "injector-burst: %s needs a value (see --help)\n", argv[optind - 1]);
            return -1;
        default:
            fprintf(stderr, "injector-burst: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return -1;
        }
        if (!ok) {
            fprintf(stderr, "injector-burst: --%s takes %s, not '%s'\n",
                    idx >= 0 ? lo[idx].name : "?", want, optarg);
            return -1;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "injector-burst: unexpected argument '%s' (options only, see --help)\n",
                argv[optind]);
        return -1;
    }
    if (o->target == NULL)
        o->target = o->ipv6 ? "[::1]:8341" : "127.0.0.1:8341";
    char host[256];
    if (!target_host(o->target, host, sizeof(host))) {
        fprintf(stderr, "injector-burst: --target takes HOST:PORT or [v6]:PORT, not '%s'\n",
                o->target);
        return -1;
    }
    if (o->find_capacity && o->no_stats) {
        fprintf(stderr, "injector-burst: --find-capacity needs the collector's stats: drop "
                        "--no-stats\n");
        return -1;
    }
    if (o->plot != NULL && !o->find_capacity) {
        fprintf(stderr, "injector-burst: --plot draws the steps of --find-capacity: add "
                        "--find-capacity\n");
        return -1;
    }
    if (o->stats_url == NULL) {
        /* The collector's API is most often where its UDP port is, on its default port. */
        bool bare_v6 = host[0] != '[' && strchr(host, ':') != NULL; /* ::1:8341 */
        snprintf(o->stats_from_target, sizeof(o->stats_from_target), "http://%s%s%s:8342/v1/stats",
                 bare_v6 ? "[" : "", host, bare_v6 ? "]" : "");
        o->stats_url = o->stats_from_target;
    }
    return 0;
}

static int get_counts(const struct opts *o, struct counts *c)
{
    json_t *j;
    char err[768];
    if (http_get_json(o->stats_url, NULL, &j, err, sizeof(err)) != 0) {
        if (o->stats_url == o->stats_from_target)
            fprintf(stderr,
                    "injector-burst: %s; that URL is --target's host on port 8342, the "
                    "default: give --stats URL when the API is elsewhere\n",
                    err);
        else
            fprintf(stderr, "injector-burst: --stats: %s\n", err);
        return -1;
    }
    c->datagrams = json_integer_value(json_object_get(j, "datagrams"));
    c->kernel_drops = json_integer_value(json_object_get(j, "kernel_drops"));
    c->seq_gaps = json_integer_value(json_object_get(j, "seq_gaps"));
    json_decref(j);
    return 0;
}

/* ---- sending ------------------------------------------------------------------------ */

static int open_target(const struct opts *o)
{
    const char *t = o->target;
    struct addrinfo *ai;
    int gai = target_resolve(t, &ai);
    if (gai != 0) {
        fprintf(stderr, "injector-burst: --target %s: %s\n", t, target_error(gai));
        return -1;
    }
    int fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && o->source != NULL) {
        struct addrinfo hints = {.ai_family = ai->ai_family,
                                 .ai_socktype = SOCK_DGRAM,
                                 .ai_flags = AI_NUMERICHOST | AI_PASSIVE},
                        *src;
        if (getaddrinfo(o->source, "0", &hints, &src) != 0) {
            fprintf(stderr,
                    "injector-burst: --source %s: not an address of the target's "
                    "family\n",
                    o->source);
            freeaddrinfo(ai);
            close(fd);
            return -1;
        }
        int rc = bind(fd, src->ai_addr, src->ai_addrlen);
        freeaddrinfo(src);
        if (rc != 0) {
            fprintf(stderr, "injector-burst: --source %s: %s\n", o->source, strerror(errno));
            freeaddrinfo(ai);
            close(fd);
            return -1;
        }
    }
    /* Connected: sendmmsg needs no addresses, and ICMP errors surface. */
    if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        fprintf(stderr, "injector-burst: --target %s: %s\n", t, strerror(errno));
        freeaddrinfo(ai);
        if (fd >= 0)
            close(fd);
        return -1;
    }
    int sndbuf = 4 << 20;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
    freeaddrinfo(ai);
    return fd;
}

/* Lay out `count` datagrams in one buffer. */
static char *build(const struct opts *o, long count, long burst, uint64_t *seq, size_t **off,
                   size_t **len)
{
    size_t slot = (size_t)(o->size > 0 ? o->size : 400) + 512 + (o->key_file ? 160 : 0);
    char *buf = malloc(slot * (size_t)count);
    *off = malloc(sizeof(size_t) * (size_t)count);
    *len = malloc(sizeof(size_t) * (size_t)count);
    if (buf == NULL || *off == NULL || *len == NULL) {
        free(buf);
        return NULL;
    }
    long hosts = o->hosts > 0 ? o->hosts : count;
    long comps = o->components > 0 ? o->components : 1;
    size_t at = 0;
    for (long i = 0; i < count; i++) {
        char *p = buf + at;
        bool del = (i % 100) >= o->upd_pct; /* the share of Del, spread evenly */
        long host = i % hosts;
        if (o->changes_pct >= 0) /* a new key for the changes, key 0 for the refreshes */
            host = (i % 100) < o->changes_pct ? i + 1 : 0;
        int n = snprintf(p, slot,
                         "<Alert><Action>%s</Action><ProblemHost>b%ld-n%ld</ProblemHost>"
                         "<Component>c%ld</Component><Severity>3</Severity>",
                         del ? "Del" : "Upd", o->fresh ? burst : 0, host, (i / hosts) % comps);
        if (o->seq)
            n += snprintf(p + n, slot - (size_t)n, "<Seq>%" PRIu64 "</Seq>", ++*seq);
        if (o->size > 0 && (size_t)o->size > (size_t)n + 30) {
            size_t pad = (size_t)o->size - (size_t)n - 28; /* <LongMsg></LongMsg></Alert> */
            n += snprintf(p + n, slot - (size_t)n, "<LongMsg>");
            memset(p + n, 'x', pad);
            n += (int)pad;
        } else {
            n += snprintf(p + n, slot - (size_t)n, "<LongMsg>");
        }
        n += snprintf(p + n, slot - (size_t)n, "</LongMsg></Alert>");
        if (o->key_file != NULL) {
            /* Sign in place: the header goes in front, so the body moves by its length. */
            char body[MAX_SIZE + 512], nonce[ENVELOPE_NONCE_MAX + 1];
            memcpy(body, p, (size_t)n);
            snprintf(nonce, sizeof(nonce), "%08x%lx-%ld", o->nonce_prefix, burst, i);
            n = envelope_sign(&o->key, (int64_t)time(NULL), nonce, body, (size_t)n, p, slot);
            if (n < 0) {
                free(buf);
                return NULL;
            }
        }
        (*off)[i] = at;
        (*len)[i] = (size_t)n;
        at += (size_t)n;
    }
    return buf;
}

/* Send with sendmmsg; returns the achieved rate (alerts/s) or -1. */
static double send_all(int fd, const struct opts *o, const char *buf, const size_t *off,
                       const size_t *len, long count, bool progress)
{
    struct mmsghdr msgs[BATCH];
    struct iovec iov[BATCH];
    double t0 = now_s(), last_report = t0;
    long sent = 0;
    while (sent < count) {
        int n = count - sent < BATCH ? (int)(count - sent) : BATCH;
        if (o->rate > 0) {
            /* Small batches keep a paced stream smooth. */
            int per = o->rate < 10000 ? 1 : o->rate < 100000 ? 16 : BATCH;
            if (n > per)
                n = per;
            sleep_s(t0 + (double)sent / o->rate - now_s());
        }
        memset(msgs, 0, sizeof(msgs[0]) * (size_t)n);
        for (int i = 0; i < n; i++) {
            iov[i].iov_base = (void *)(buf + off[sent + i]);
            iov[i].iov_len = len[sent + i];
            msgs[i].msg_hdr.msg_iov = &iov[i];
            msgs[i].msg_hdr.msg_iovlen = 1;
        }
        int k = sendmmsg(fd, msgs, (unsigned)n, 0);
        if (k < 0) {
            if (errno == EINTR || errno == ENOBUFS || errno == EAGAIN)
                continue;
            if (errno == ECONNREFUSED) /* ICMP for an earlier datagram: nobody listens */
                fprintf(stderr,
                        "injector-burst: %s refused datagrams: is the collector "
                        "listening there?\n",
                        o->target);
            else
                fprintf(stderr, "injector-burst: send: %s\n", strerror(errno));
            return -1;
        }
        sent += k;
        if (progress && now_s() - last_report >= 1.0) {
            last_report = now_s();
            fprintf(stderr, "  sending: %ld/%ld (%.0f alerts/s)\n", sent, count,
                    (double)sent / (last_report - t0));
        }
    }
    double t = now_s() - t0;
    return t > 0 ? (double)count / t : (double)count;
}

/* Wait until every datagram is accounted for (received or dropped), or the counts stop
 * moving for settle_s, or timeout. */
static int drain(const struct opts *o, const struct counts *before, long sent, struct counts *after,
                 double *drain_s, bool *settled)
{
    double t0 = now_s(), changed = t0;
    struct counts prev = *before;
    for (;;) {
        if (get_counts(o, after) != 0)
            return -1;
        int64_t accounted =
            (after->datagrams - before->datagrams) + (after->kernel_drops - before->kernel_drops);
        double t = now_s();
        if (after->datagrams != prev.datagrams || after->kernel_drops != prev.kernel_drops)
            changed = t;
        prev = *after;
        if (accounted >= sent) {
            *drain_s = t - t0;
            *settled = true;
            return 0;
        }
        if (t - changed >= o->settle_s) {
            /* Some datagrams were lost where the collector cannot count them. */
            *drain_s = changed - t0;
            *settled = true;
            return 0;
        }
        if (t - t0 >= o->timeout_s) {
            *drain_s = t - t0;
            *settled = false;
            return 0;
        }
        sleep_s(0.02);
    }
}

static int run_burst(int fd, const struct opts *o, long count, long burst, uint64_t *seq,
                     bool progress, struct result *r)
{
    size_t *off = NULL, *len = NULL;
    struct counts before = {0}, after = {0};
    memset(r, 0, sizeof(*r));
    char *buf = build(o, count, burst, seq, &off, &len);
    if (buf == NULL) {
        fprintf(stderr, "injector-burst: out of memory for %ld datagrams\n", count);
        return -1;
    }
    int rc = -1;
    if (!o->no_stats && get_counts(o, &before) != 0)
        goto out;
    r->send_rate = send_all(fd, o, buf, off, len, count, progress);
    if (r->send_rate < 0)
        goto out;
    r->sent = count;
    if (!o->no_stats) {
        if (drain(o, &before, count, &after, &r->drain_s, &r->settled) != 0)
            goto out;
        r->received = after.datagrams - before.datagrams;
        r->lost = count - r->received;
        r->kernel_drops = after.kernel_drops - before.kernel_drops;
        r->seq_gaps = after.seq_gaps - before.seq_gaps;
    }
    rc = 0;
out:
    free(buf);
    free(off);
    free(len);
    return rc;
}

static void print_result(const struct opts *o, long burst, const struct result *r)
{
    if (o->json) {
        /* Rounded: alerts/s to the unit, seconds to the ms (not 455426.70521680271). */
        json_t *j = json_pack("{sI sI sI sI sI sI sf sb}", "sent", (json_int_t)r->sent, "received",
                              (json_int_t)r->received, "lost", (json_int_t)r->lost, "kernel_drops",
                              (json_int_t)r->kernel_drops, "seq_gaps", (json_int_t)r->seq_gaps,
                              "send_rate", (json_int_t)llround(r->send_rate), "drain_s",
                              round(r->drain_s * 1000) / 1000, "settled", r->settled);
        char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10));
        printf("%s\n", s);
        free(s);
        json_decref(j);
        return;
    }
    if (burst == 1)
        printf("%-6s %10s %10s %10s %12s %9s %12s %8s\n", "burst", "sent", "received", "lost",
               "kernel_drops", "seq_gaps", "send_rate/s", "drain_s");
    if (o->no_stats)
        printf("%-6ld %10ld %10s %10s %12s %9s %12.0f %8s\n", burst, r->sent, "-", "-", "-", "-",
               r->send_rate, "-");
    else
        printf("%-6ld %10ld %10" PRId64 " %10" PRId64 " %12" PRId64 " %9" PRId64
               " %12.0f %8.3f%s\n",
               burst, r->sent, r->received, r->lost, r->kernel_drops, r->seq_gaps, r->send_rate,
               r->drain_s, r->settled ? "" : "  (still draining at --timeout)");
    fflush(stdout);
}

/* What --find-capacity tried, for --plot. */
struct capacity {
    struct plot_svg_point steps[MAX_STEPS]; /* burst size, loss in percent */
    size_t n;
    long good, bad; /* the answer; bad 0: no loss up to --max-count */
};

/* The chart of the steps into plot (opened at start); closes it. Returns 0 or 1 (said). */
static int write_plot(const struct opts *o, const struct capacity *c, FILE *plot)
{
    char title[512], subtitle[160], when[32];
    /* Sizes that double (growing) or halve (bisecting from 0) spread evenly on a log axis;
     * a bisection within one doubling reads better on a linear one. */
    double lo = c->steps[0].x, hi = lo;
    for (size_t i = 1; i < c->n; i++) {
        lo = fmin(lo, c->steps[i].x);
        hi = fmax(hi, c->steps[i].x);
    }
    bool log_x = hi >= 4 * lo;
    time_t now = time(NULL);
    struct tm tm;
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", gmtime_r(&now, &tm));
    snprintf(title, sizeof(title), "injector-burst --find-capacity: %s, %s", o->target, when);
    if (c->bad == 0)
        snprintf(subtitle, sizeof(subtitle), "no loss up to %ld alerts", c->good);
    else
        snprintf(subtitle, sizeof(subtitle), "largest zero-loss burst: %ld alerts (loss at %ld)",
                 c->good, c->bad);
    struct plot_svg p = {.title = title,
                         .subtitle = c->good > 0 || c->bad > 0 ? subtitle : NULL,
                         .x_label =
                             log_x ? "burst size (alerts, log scale)" : "burst size (alerts)",
                         .y_label = "loss (%)",
                         .log_x = log_x,
                         .points = c->steps,
                         .n = c->n};
    int rc = plot_svg_write(&p, plot);
    int err = rc == -EIO ? errno : -rc;
    if (fclose(plot) != 0 && rc == 0) {
        rc = -EIO;
        err = errno;
    }
    if (rc != 0) {
        fprintf(stderr, "injector-burst: --plot %s: %s\n", o->plot, strerror(err));
        return 1;
    }
    printf("plot of %zu step%s written to %s\n", c->n, c->n == 1 ? "" : "s", o->plot);
    return 0;
}

static int find_capacity(int fd, struct opts *o, FILE *plot)
{
    long n = 1000, step = 0;
    uint64_t seq = 0;
    struct result r;
    struct capacity c = {0};
    int status = 0;
    printf("finding the largest zero-loss burst (growing, then bisecting)\n");
    for (;;) {
        long burst = ++step;
        if (run_burst(fd, o, n, burst, &seq, n >= 500000, &r) != 0) {
            status = 1;
            break;
        }
        bool ok = r.lost == 0 && r.settled;
        printf("step %2ld: %9ld alerts: received %9" PRId64 ", lost %8" PRId64
               " (kernel drops %" PRId64 "), %.0f/s sent, drained in %.2f s -> %s\n",
               step, n, r.received, r.lost, r.kernel_drops, r.send_rate, r.drain_s,
               ok ? "no loss" : "LOSS");
        fflush(stdout);
        if (c.n < MAX_STEPS)
            c.steps[c.n++] = (struct plot_svg_point){
                .x = (double)n, .y = 100.0 * (double)r.lost / (double)n, .bad = !ok};
        if (ok)
            c.good = n;
        else
            c.bad = n;
        if (c.bad == 0) {
            if (n >= o->max_count) {
                printf("no loss up to --max-count %ld\n", o->max_count);
                break;
            }
            n = n * 2 > o->max_count ? o->max_count : n * 2;
        } else {
            if (c.bad - c.good <= (c.good / 20 > 100 ? c.good / 20 : 100)) {
                printf("largest zero-loss burst: %ld alerts (loss at %ld)\n", c.good, c.bad);
                break;
            }
            n = (c.good + c.bad) / 2;
        }
        sleep_s(o->pause_s > 0.2 ? 0.2 : o->pause_s);
    }
    if (plot == NULL)
        return status;
    if (c.n == 0) { /* nothing to draw: no empty chart left behind */
        fclose(plot);
        unlink(o->plot);
        fprintf(stderr, "injector-burst: --plot %s: no step finished, nothing drawn\n", o->plot);
        return 1;
    }
    return write_plot(o, &c, plot) != 0 ? 1 : status;
}

int main(int argc, char **argv)
{
    struct opts o = {0};
    if (parse_args(argc, argv, &o) != 0)
        return 2;
    if (o.key_file != NULL) {
        struct envelope_key keys[16];
        char err[512];
        if (envelope_load_keys(o.key_file, keys, 16, err, sizeof(err)) < 0) {
            fprintf(stderr, "injector-burst: %s\n", err);
            return 1;
        }
        o.key = keys[0];
        if (getrandom(&o.nonce_prefix, sizeof(o.nonce_prefix), 0) != sizeof(o.nonce_prefix))
            o.nonce_prefix = (unsigned)getpid() ^ (unsigned)time(NULL);
    }
    /* Created now: a chart that cannot be written is better known before a long run. */
    FILE *plot = NULL;
    if (o.plot != NULL && (plot = fopen(o.plot, "w")) == NULL) {
        fprintf(stderr, "injector-burst: --plot %s: %s\n", o.plot, strerror(errno));
        return 1;
    }
    int fd = open_target(&o);
    if (fd < 0) {
        if (plot != NULL) {
            fclose(plot);
            unlink(o.plot);
        }
        return 1;
    }
    int status = 0;
    if (o.find_capacity) {
        status = find_capacity(fd, &o, plot);
    } else {
        uint64_t seq = 0;
        struct result r, total = {0};
        for (long b = 1; b <= o.repeat; b++) {
            if (run_burst(fd, &o, o.count, b, &seq, o.count >= 500000, &r) != 0) {
                status = 1;
                break;
            }
            print_result(&o, b, &r);
            total.sent += r.sent;
            total.lost += r.lost;
            if (b < o.repeat)
                sleep_s(o.pause_s);
        }
        if (status == 0 && !o.no_stats && total.lost > 0)
            status = 1;
        if (status == 0 && o.repeat > 1 && !o.json && !o.no_stats)
            printf("total: sent %ld, lost %" PRId64 "\n", total.sent, total.lost);
    }
    close(fd);
    return status;
}
