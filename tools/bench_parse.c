/* bench_parse.c - our cost per alert vs. a bare libxml2 SAX2 parse of the same documents.
 *
 * Both sides run in this process, interleaved round by round, so the machine's noise hits
 * both alike; the ratio of medians is the result (house rule 11). Each round is timed in
 * this thread's CPU time, not wall time: on a shared machine a round otherwise counts
 * whatever ran while this thread waited for a core (the ratio varied by 0.5 at load 8;
 * in CPU time by 0.05). Streams:
 *   new alerts      every document a new key: parse + state (a raise, with its allocation)
 *   repeats         the same document again and again (the refresh storm): parse + state
 *   repeats, ingest the same through ingest_datagram, the fast path off, then on
 *   Dels, ingest    the same Del of a clear key (the startup storm), fast path off, then on
 * A DOM parse of the first stream is timed for reference.
 *
 * Instruction counts (repeatable on a shared machine), per stream:
 *   valgrind --tool=callgrind --toggle-collect=run_bare --toggle-collect=run_ours \
 *       --toggle-collect=run_ingest bench-parse --docs 20000 --rounds 1 --only new
 *   callgrind_annotate --inclusive=yes callgrind.out.* | grep run_
 * (run_ingest counts the fast path off and on together; --only fast runs it with it on only.)
 */
#include "collector/ingest.h"
#include "collector/state.h"
#include "parsers/alert_xml.h"

#include <libxml/parser.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_ROUNDS 64

static int docs = 100000;
static int rounds = 7;

static const char *const TEMPLATE =
    "<Alert><Action>Upd</Action><ProblemHost>n%06d</ProblemHost><Component>node</Component>"
    "<Severity>3</Severity><Msg>Node n%06d is Down</Msg><LongMsg>Node stopped answering "
    "ping at 07:00</LongMsg><Contact>hpc-ops</Contact><Flavor>hyak</Flavor><Count>1</Count>"
    "<AutoClear>true</AutoClear></Alert>";
static const char *const DEL =
    "<Alert><Action>Del</Action><ProblemHost>n%06d</ProblemHost><Component>node</Component>"
    "</Alert>";

struct stream {
    char *buf;
    size_t *off, *len;
    size_t n;
};

static void stream_make(struct stream *s, const char *fmt, int distinct)
{
    size_t cap = (size_t)docs * 400;
    s->buf = malloc(cap);
    s->off = malloc((size_t)docs * sizeof(size_t));
    s->len = malloc((size_t)docs * sizeof(size_t));
    if (s->buf == NULL || s->off == NULL || s->len == NULL)
        abort();
    s->n = (size_t)docs;
    size_t at = 0;
    for (int i = 0; i < docs; i++) {
        int k = distinct ? i : 418;
        int n = snprintf(s->buf + at, cap - at, fmt, k, k);
        s->off[i] = at;
        s->len[i] = (size_t)n;
        at += (size_t)n;
    }
}

static void stream_free(struct stream *s)
{
    free(s->buf);
    free(s->off);
    free(s->len);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The baseline: SAX2 with callbacks that do nothing, on one reused push context. */
static unsigned long sink_count;
static void bare_start(void *ctx, const xmlChar *l, const xmlChar *p, const xmlChar *u, int nn,
                       const xmlChar **ns, int na, int nd, const xmlChar **a)
{
    (void)ctx, (void)l, (void)p, (void)u, (void)nn, (void)ns, (void)na, (void)nd, (void)a;
    sink_count++;
}
static void bare_end(void *ctx, const xmlChar *l, const xmlChar *p, const xmlChar *u)
{
    (void)ctx, (void)l, (void)p, (void)u;
}
static void bare_chars(void *ctx, const xmlChar *ch, int len)
{
    (void)ctx, (void)ch;
    sink_count += (unsigned long)len;
}

__attribute__((noinline)) static double run_bare(const struct stream *s)
{
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = bare_start;
    sax.endElementNs = bare_end;
    sax.characters = bare_chars;
    xmlParserCtxtPtr ctxt = xmlCreatePushParserCtxt(&sax, NULL, NULL, 0, NULL);
    double t0 = now_s();
    for (size_t i = 0; i < s->n; i++) {
        xmlCtxtResetPush(ctxt, NULL, 0, NULL, NULL);
        xmlParseChunk(ctxt, s->buf + s->off[i], (int)s->len[i], 1);
    }
    double t = now_s() - t0;
    xmlFreeParserCtxt(ctxt);
    return t;
}

__attribute__((noinline)) static double run_dom(const struct stream *s)
{
    double t0 = now_s();
    for (size_t i = 0; i < s->n; i++) {
        xmlDocPtr d =
            xmlReadMemory(s->buf + s->off[i], (int)s->len[i], NULL, NULL, XML_PARSE_NONET);
        xmlFreeDoc(d);
    }
    return now_s() - t0;
}

/* Ours: the collector's parse and state update, as ingest does it (minus the sinks). */
__attribute__((noinline)) static double run_ours(const struct stream *s, unsigned long *changes)
{
    struct alert_xml *p;
    struct state *st;
    struct alert_xml_result r;
    struct state_result sr;
    if (alert_xml_new(NULL, &p) != 0 || state_new(NULL, &st) != 0)
        abort();
    double t0 = now_s();
    for (size_t i = 0; i < s->n; i++) {
        if (alert_xml_parse(p, s->buf + s->off[i], s->len[i], &r) != 0)
            abort();
        for (size_t k = 0; k < r.n_alerts; k++)
            if (state_apply(st, &r.alerts[k], 1000, &sr) == 0 &&
                change_outcome_forwarded(sr.outcome))
                (*changes)++;
    }
    double t = now_s() - t0;
    state_free(st);
    alert_xml_free(p);
    return t;
}

/* The whole path of a datagram as the daemon takes it (allow-list, sources, rate limit,
 * counters, parse or fast path, state), with no sink. */
__attribute__((noinline)) static double run_ingest(const struct stream *s, bool fast,
                                                   unsigned long *changes)
{
    struct ingest_config cfg = {.collector_id = "bench", .fast_path = fast};
    struct ingest *in;
    struct sockaddr_in from = {
        .sin_family = AF_INET, .sin_port = htons(40000), .sin_addr.s_addr = htonl(0x7f000001)};
    if (ingest_new(&cfg, NULL, 0, &in) != 0)
        abort();
    double t0 = now_s();
    for (size_t i = 0; i < s->n; i++)
        ingest_datagram(in, s->buf + s->off[i], s->len[i], false, (struct sockaddr *)&from, 1000,
                        1000);
    double t = now_s() - t0;
    const struct stats *st = ingest_stats(in);
    if (st->alerts != s->n)
        abort();
    for (int i = 0; i < CHANGE_OUTCOME_COUNT; i++)
        if (change_outcome_forwarded((enum change_outcome)i))
            *changes += st->outcomes[i];
    ingest_free(in);
    return t;
}

static int cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp);
    return v[n / 2];
}

enum kind { K_NEW, K_REPEAT, K_INGEST, K_DEL, K_COUNT };

static const struct {
    const char *name, *only; /* --only name */
    const char *fmt;
    int distinct;
    double target; /* ours/bare at most; 0: none */
} kinds[K_COUNT] = {
    [K_NEW] = {"new alerts", "new", NULL, 1, 1.5},
    [K_REPEAT] = {"repeats", "repeat", NULL, 0, 1.15},
    [K_INGEST] = {"repeats, ingest", "fast", NULL, 0, 0},
    [K_DEL] = {"Dels, ingest", "del", NULL, 0, 0},
};

/* Medians of bare, ours (and, for the ingest streams, ours with the fast path). */
static int run_kind(enum kind k, const char *only)
{
    bool ingest = k == K_INGEST || k == K_DEL;
    struct stream s;
    double bare[MAX_ROUNDS], ours[MAX_ROUNDS], fast[MAX_ROUNDS], dom[MAX_ROUNDS];
    unsigned long changes = 0, fchanges = 0;
    stream_make(&s, k == K_DEL ? DEL : TEMPLATE, kinds[k].distinct);
    for (int r = 0; r < rounds; r++) {
        bare[r] = run_bare(&s);
        if (!ingest) {
            ours[r] = run_ours(&s, &changes);
        } else {
            /* --only fast / del: the fast path alone, for an instruction count of it. */
            ours[r] = only == NULL ? run_ingest(&s, false, &changes) : 0;
            fast[r] = run_ingest(&s, true, &fchanges);
        }
        dom[r] = k == K_NEW && only == NULL ? run_dom(&s) : 0;
    }
    double b = median(bare, rounds), o = median(ours, rounds);
    if (!ingest) {
        printf("%-18s %12.0f %12.0f %12s %10.2fx", kinds[k].name, docs / b, docs / o, "", o / b);
        if (kinds[k].target > 0)
            printf(" (target <= %.2fx)", kinds[k].target);
        if (k == K_NEW && only == NULL)
            printf("; DOM %.0f/s", docs / median(dom, rounds));
    } else {
        double f = median(fast, rounds);
        printf("%-18s %12.0f %12.0f %12.0f %10.2fx %8.2fx", kinds[k].name, docs / b,
               only == NULL ? docs / o : 0, docs / f, only == NULL ? o / b : 0, f / b);
    }
    printf("\n");
    stream_free(&s);
    /* A sanity check that the work happened: new alerts all raised, repeats once, Dels
     * never; the fast path changes nothing. */
    unsigned long want = k == K_NEW   ? (unsigned long)docs * (unsigned long)rounds
                         : k == K_DEL ? 0
                                      : (unsigned long)rounds;
    if (changes != (only == NULL || !ingest ? want : 0) || (ingest && fchanges != want)) {
        fprintf(stderr, "bench: %lu / %lu changes, expected %lu\n", changes, fchanges, want);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    const char *only = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--docs") == 0 && i + 1 < argc) {
            docs = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) {
            rounds = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
            only = argv[++i];
        } else {
            fprintf(stderr, "usage: bench-parse [--docs N] [--rounds R] "
                            "[--only new|repeat|fast|del]\n");
            return 2;
        }
    }
    if (docs < 1 || rounds < 1 || rounds > MAX_ROUNDS) {
        fprintf(stderr, "bench-parse: --docs >= 1, --rounds 1..%d\n", MAX_ROUNDS);
        return 2;
    }
    xmlInitParser();
    printf("parse benchmark: %d documents of ~%zu bytes per run, %d rounds, medians\n", docs,
           strlen(TEMPLATE), rounds);
    printf("%-18s %12s %12s %12s %11s %9s\n", "stream", "bare SAX2/s", "ours/s", "fast path/s",
           "ours/bare", "fast/bare");
    int rc = 0;
    for (int k = 0; k < K_COUNT; k++)
        if (only == NULL || strcmp(only, kinds[k].only) == 0)
            rc |= run_kind((enum kind)k, only);
    printf("ours/bare: time per alert relative to the bare parse of the same bytes; ingest rows:\n"
           "the whole datagram path (no sink) with the fast path off (ours) and on (fast)\n");
    xmlCleanupParser();
    return rc;
}
