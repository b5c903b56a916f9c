/* bench_parse.c - parse + state update vs. a bare libxml2 SAX2 parse of the same documents.
 *
 * Both sides run in this process, interleaved round by round, so the machine's noise hits
 * both alike; the ratio of medians is the result (house rule 11). Streams: new alerts
 * (every document a new key: a raise, with its allocation) and all duplicates (the same
 * document again and again: the refresh storm). A DOM parse is timed for reference.
 */
#include "collector/state.h"
#include "parsers/alert_xml.h"

#include <libxml/parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define DOCS   100000
#define ROUNDS 7

static const char *const TEMPLATE =
    "<Alert><Action>Upd</Action><ProblemHost>n%06d</ProblemHost><Component>node</Component>"
    "<Severity>3</Severity><Msg>Node n%06d is Down</Msg><LongMsg>Node stopped answering "
    "ping at 07:00</LongMsg><Contact>hpc-ops</Contact><Flavor>hyak</Flavor><Count>1</Count>"
    "<AutoClear>true</AutoClear></Alert>";

struct stream {
    char *buf;
    size_t *off, *len;
    size_t n;
};

static void stream_make(struct stream *s, int distinct)
{
    size_t cap = (size_t)DOCS * 400;
    s->buf = malloc(cap);
    s->off = malloc(DOCS * sizeof(size_t));
    s->len = malloc(DOCS * sizeof(size_t));
    s->n = DOCS;
    size_t at = 0;
    for (int i = 0; i < DOCS; i++) {
        int k = distinct ? i : 418;
        int n = snprintf(s->buf + at, cap - at, TEMPLATE, k, k);
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
    clock_gettime(CLOCK_MONOTONIC, &ts);
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

static double run_bare(const struct stream *s)
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

static double run_dom(const struct stream *s)
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
static double run_ours(const struct stream *s, unsigned long *changes)
{
    struct alert_xml *p;
    struct state *st;
    struct alert_xml_result r;
    struct state_result sr;
    alert_xml_new(NULL, &p);
    state_new(NULL, &st);
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

int main(void)
{
    const char *names[2] = {"new alerts", "all duplicates"};
    xmlInitParser();
    printf("parse benchmark: %d documents of ~%zu bytes per run, %d rounds, medians\n", DOCS,
           strlen(TEMPLATE), ROUNDS);
    printf("%-16s %14s %14s %14s %10s\n", "stream", "bare SAX2/s", "ours/s", "DOM/s", "ours/bare");
    for (int distinct = 1; distinct >= 0; distinct--) {
        struct stream s;
        double bare[ROUNDS], ours[ROUNDS], dom[ROUNDS];
        unsigned long changes = 0;
        stream_make(&s, distinct);
        for (int r = 0; r < ROUNDS; r++) {
            bare[r] = run_bare(&s);
            ours[r] = run_ours(&s, &changes);
            dom[r] = run_dom(&s);
        }
        double b = median(bare, ROUNDS), o = median(ours, ROUNDS), d = median(dom, ROUNDS);
        printf("%-16s %14.0f %14.0f %14.0f %9.2fx\n", names[distinct == 0], DOCS / b, DOCS / o,
               DOCS / d, o / b);
        /* A sanity check that the work happened: every new alert raised, duplicates did not. */
        unsigned long want = distinct ? (unsigned long)DOCS * ROUNDS : ROUNDS;
        if (changes != want) {
            fprintf(stderr, "bench: %lu changes, expected %lu\n", changes, want);
            return 1;
        }
        stream_free(&s);
    }
    printf("ours/bare is time per alert relative to the bare parse; target <= 2.00x\n");
    xmlCleanupParser();
    return 0;
}
