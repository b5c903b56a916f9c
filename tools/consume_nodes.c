/* consume_nodes.c - the broker nodes injector-consume may use, and when to try which. */
#include "consume_nodes.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>

#define ROUNDS_LOGGED 3  /* every failure of the first rounds after a success */
#define ROUNDS_QUIET  30 /* then one round in this many */

struct node {
    char *url;
    char name[300]; /* "node 2 (host:port)" */
};

struct consume_nodes {
    struct consume_nodes_config cfg;
    struct node nodes[CONSUME_NODES_MAX];
    size_t n, current;
    size_t failed_in_round; /* since the last success or pause */
    unsigned failures;      /* since the last success */
    unsigned rounds;        /* whole rounds failed since the last success */
    double pause;           /* before the next round */
};

int consume_nodes_new(const struct consume_nodes_config *cfg, struct consume_nodes **out)
{
    *out = NULL;
    if (cfg->first_pause_s < 0 || cfg->max_pause_s < cfg->first_pause_s)
        return -EINVAL;
    struct consume_nodes *n = calloc(1, sizeof(*n));
    if (n == NULL)
        return -ENOMEM;
    n->cfg = *cfg;
    n->pause = cfg->first_pause_s;
    *out = n;
    return 0;
}

void consume_nodes_free(struct consume_nodes *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++)
        free(n->nodes[i].url);
    free(n);
}

/* Give every node its name; with one node, no number (the messages of a single broker). */
static void name_nodes(struct consume_nodes *n)
{
    for (size_t i = 0; i < n->n; i++) {
        struct node *nd = &n->nodes[i];
        struct amqp_connection_info info;
        char *copy = strdup(nd->url); /* amqp_parse_url cuts the string it parses */
        const char *host = "?";
        int port = 0;
        if (copy != NULL && amqp_parse_url(copy, &info) == AMQP_STATUS_OK) {
            host = info.host;
            port = info.port;
        }
        const char *lb = strchr(host, ':') != NULL ? "[" : "", *rb = *lb ? "]" : "";
        if (n->n == 1)
            snprintf(nd->name, sizeof(nd->name), "%s%.200s%s:%d", lb, host, rb, port);
        else
            snprintf(nd->name, sizeof(nd->name), "node %zu (%s%.200s%s:%d)", i + 1, lb, host, rb,
                     port);
        free(copy);
    }
}

static int add_one(struct consume_nodes *n, const char *url, size_t len, char *err, size_t errlen)
{
    if (n->n >= CONSUME_NODES_MAX) {
        snprintf(err, errlen, "--amqp: at most %d broker URLs", CONSUME_NODES_MAX);
        return -E2BIG;
    }
    char *u = strndup(url, len), *copy = strndup(url, len);
    struct amqp_connection_info info;
    int rc = 0;
    if (u == NULL || copy == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
    } else if (amqp_parse_url(copy, &info) != AMQP_STATUS_OK) {
        rc = -EINVAL;
        /* not the URL itself: it may hold a password */
        snprintf(err, errlen,
                 "--amqp: broker URL %zu is not amqp[s]://user[:password]@host[:port][/vhost]",
                 n->n + 1);
    }
    free(copy);
    if (rc != 0) {
        free(u);
        return rc;
    }
    n->nodes[n->n++].url = u;
    name_nodes(n);
    return 0;
}

int consume_nodes_add(struct consume_nodes *n, const char *urls, char *err, size_t errlen)
{
    const char *p = urls;
    size_t before = n->n;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        const char *end = p;
        while (*end != '\0' && !isspace((unsigned char)*end))
            end++;
        int rc = add_one(n, p, (size_t)(end - p), err, errlen);
        if (rc != 0)
            return rc;
        p = end;
    }
    if (n->n == before) {
        snprintf(err, errlen, "--amqp: an empty broker URL");
        return -EINVAL;
    }
    return 0;
}

size_t consume_nodes_count(const struct consume_nodes *n)
{
    return n->n;
}

size_t consume_nodes_current(const struct consume_nodes *n)
{
    return n->current;
}

const char *consume_nodes_url(const struct consume_nodes *n, size_t i)
{
    return i < n->n ? n->nodes[i].url : NULL;
}

const char *consume_nodes_name(const struct consume_nodes *n, size_t i)
{
    return i < n->n ? n->nodes[i].name : "";
}

double consume_nodes_failed(struct consume_nodes *n)
{
    if (n->n == 0)
        return n->cfg.max_pause_s;
    n->failures++;
    n->current = (n->current + 1) % n->n;
    if (++n->failed_in_round < n->n)
        return 0;
    /* A whole round failed: the cluster (or our way to it) is down; do not spin on it. */
    double wait = n->pause;
    n->pause = n->pause * 2 > n->cfg.max_pause_s ? n->cfg.max_pause_s : n->pause * 2;
    n->failed_in_round = 0;
    n->rounds++;
    return wait;
}

void consume_nodes_ok(struct consume_nodes *n)
{
    n->failed_in_round = 0;
    n->failures = 0;
    n->rounds = 0;
    n->pause = n->cfg.first_pause_s;
}

unsigned consume_nodes_failures(const struct consume_nodes *n)
{
    return n->failures;
}

bool consume_nodes_all_failed(const struct consume_nodes *n)
{
    return n->failures >= n->n;
}

bool consume_nodes_should_log(const struct consume_nodes *n)
{
    /* rounds counts the round just completed when the failure closed one */
    unsigned round = n->failed_in_round == 0 && n->rounds > 0 ? n->rounds - 1 : n->rounds;
    return round < ROUNDS_LOGGED || round % ROUNDS_QUIET == 0;
}
