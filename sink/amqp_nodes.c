/* amqp_nodes.c - the broker nodes of a cluster, which to try next, how long to wait, and
 * how much to say about it. */
#include "sink/amqp_nodes.h"

#include "sink/secret.h"
#include "sink/sink_log.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>

struct node {
    char *url;
    char *shown;     /* the URL without its password */
    char where[220]; /* host:port */
    char name[260];  /* "node 2 (host:port)" */
};

struct amqp_nodes {
    struct node nodes[AMQP_NODES_MAX];
    size_t n, current;
    size_t failed_in_round; /* since the last success or pause */
    unsigned failures;      /* since the last success */
    int pause_ms;           /* before the next round */
    struct sink_log_limit told;
};

int amqp_nodes_new(struct amqp_nodes **out)
{
    struct amqp_nodes *n = calloc(1, sizeof(*n));
    *out = n;
    if (n == NULL)
        return -ENOMEM;
    n->pause_ms = AMQP_NODES_FIRST_PAUSE_MS;
    n->told = SINK_LOG_LIMIT(AMQP_NODES_TOLD, AMQP_NODES_TOLD_EVERY_MS);
    return 0;
}

void amqp_nodes_free(struct amqp_nodes *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->n; i++) {
        free(n->nodes[i].url);
        free(n->nodes[i].shown);
    }
    free(n);
}

/* Give every node its name; with one node, no number (the messages of a single broker). */
static void name_nodes(struct amqp_nodes *n)
{
    for (size_t i = 0; i < n->n; i++) {
        struct node *nd = &n->nodes[i];
        char where[sizeof(nd->where)];
        memcpy(where, nd->where, sizeof(where));
        if (n->n == 1)
            snprintf(nd->name, sizeof(nd->name), "%s", where);
        else
            snprintf(nd->name, sizeof(nd->name), "node %zu (%s)", i + 1, where);
    }
}

static int add_one(struct amqp_nodes *n, const char *url, size_t len, char *err, size_t errlen)
{
    if (n->n >= AMQP_NODES_MAX) {
        snprintf(err, errlen, "at most %d broker URLs", AMQP_NODES_MAX);
        return -E2BIG;
    }
    struct node *nd = &n->nodes[n->n];
    char *copy = strndup(url, len); /* amqp_parse_url cuts the string it parses */
    char shown[1024];
    struct amqp_connection_info info;
    int rc = 0;
    memset(nd, 0, sizeof(*nd));
    if (copy == NULL || (nd->url = strndup(url, len)) == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
    } else if (amqp_parse_url(copy, &info) != AMQP_STATUS_OK) {
        rc = -EINVAL;
        /* not the URL itself: it may hold a password */
        snprintf(err, errlen, "broker URL %zu is not amqp[s]://user[:password]@host[:port][/vhost]",
                 n->n + 1);
    } else if ((nd->shown = strdup(secret_mask_url(nd->url, shown, sizeof(shown)))) == NULL) {
        rc = -ENOMEM;
        snprintf(err, errlen, "out of memory");
    } else {
        const char *lb = strchr(info.host, ':') != NULL ? "[" : "", *rb = *lb ? "]" : "";
        snprintf(nd->where, sizeof(nd->where), "%s%.200s%s:%d", lb, info.host, rb, info.port);
    }
    free(copy);
    if (rc != 0) {
        free(nd->url);
        free(nd->shown);
        memset(nd, 0, sizeof(*nd));
        return rc;
    }
    n->n++;
    return 0;
}

int amqp_nodes_add(struct amqp_nodes *n, const char *urls, char *err, size_t errlen)
{
    const char *p = urls;
    size_t before = n->n;
    int rc = 0;
    for (;;) {
        while (isspace((unsigned char)*p))
            p++;
        if (*p == '\0')
            break;
        const char *end = p;
        while (*end != '\0' && !isspace((unsigned char)*end))
            end++;
        if ((rc = add_one(n, p, (size_t)(end - p), err, errlen)) != 0)
            break;
        p = end;
    }
    if (rc == 0 && n->n == before) {
        snprintf(err, errlen, "an empty broker URL");
        rc = -EINVAL;
    }
    while (rc != 0 && n->n > before) { /* all of urls or none */
        struct node *nd = &n->nodes[--n->n];
        free(nd->url);
        free(nd->shown);
        memset(nd, 0, sizeof(*nd));
    }
    name_nodes(n);
    return rc;
}

size_t amqp_nodes_count(const struct amqp_nodes *n)
{
    return n->n;
}

size_t amqp_nodes_current(const struct amqp_nodes *n)
{
    return n->current;
}

const char *amqp_nodes_url(const struct amqp_nodes *n, size_t i)
{
    return i < n->n ? n->nodes[i].url : NULL;
}

const char *amqp_nodes_name(const struct amqp_nodes *n, size_t i)
{
    return i < n->n ? n->nodes[i].name : "";
}

const char *amqp_nodes_where(const struct amqp_nodes *n, size_t i)
{
    return i < n->n ? n->nodes[i].where : "";
}

const char *amqp_nodes_shown(const struct amqp_nodes *n, size_t i)
{
    return i < n->n ? n->nodes[i].shown : "";
}

int amqp_nodes_failed(struct amqp_nodes *n)
{
    if (n->n == 0)
        return AMQP_NODES_MAX_PAUSE_MS;
    n->failures++;
    n->current = (n->current + 1) % n->n;
    if (++n->failed_in_round < n->n)
        return 0;
    /* A whole round failed: the cluster (or our way to it) is down; do not spin on it. */
    int wait = n->pause_ms;
    n->pause_ms =
        n->pause_ms * 2 > AMQP_NODES_MAX_PAUSE_MS ? AMQP_NODES_MAX_PAUSE_MS : n->pause_ms * 2;
    n->failed_in_round = 0;
    return wait;
}

uint64_t amqp_nodes_ok(struct amqp_nodes *n)
{
    n->failed_in_round = 0;
    n->failures = 0;
    n->pause_ms = AMQP_NODES_FIRST_PAUSE_MS;
    return sink_log_limit_active(&n->told) ? sink_log_limit_end(&n->told) : 0;
}

unsigned amqp_nodes_failures(const struct amqp_nodes *n)
{
    return n->failures;
}

bool amqp_nodes_all_failed(const struct amqp_nodes *n)
{
    return n->failures >= n->n;
}

bool amqp_nodes_may_say(struct amqp_nodes *n, int64_t now_ms, uint64_t *untold)
{
    return sink_log_limit_pass(&n->told, now_ms, untold);
}
