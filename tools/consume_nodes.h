/* consume_nodes.h - the broker nodes injector-consume may use (the nodes of one RabbitMQ
 * cluster, one --amqp URL each) and the order and pace in which it tries them.
 *
 * A node that fails (cannot be reached, or its connection is lost) gives way to the next
 * one at once: while some node has not failed since the last success or pause, the wait
 * is 0. Once every node has (a round), the next round starts after a pause that doubles
 * from first_pause_s up to max_pause_s; a node that serves resets it, so a cluster that
 * lost one node costs one failed attempt, not a backoff, and one that comes back is found
 * within max_pause_s.
 *
 * No sockets here: the caller connects and says how it went. Single-threaded.
 */
#ifndef INJECTOR_CONSUME_NODES_H
#define INJECTOR_CONSUME_NODES_H

#include <stdbool.h>
#include <stddef.h>

#define CONSUME_NODES_MAX 16

struct consume_nodes_config {
    double first_pause_s; /* the pause after the first round that failed whole */
    double max_pause_s;   /* the cap */
};

struct consume_nodes;

/* Returns 0, -EINVAL (a pause out of order) or -ENOMEM. */
int consume_nodes_new(const struct consume_nodes_config *cfg, struct consume_nodes **out);
void consume_nodes_free(struct consume_nodes *n);

/* Add the nodes in urls: one amqp[s]:// URL, or several separated by white space (as
 * $INJECTOR_AMQP_URL may hold them). Each is checked at once. Returns 0, -EINVAL (err says
 * which URL, by position: it may hold a password), -E2BIG (more than CONSUME_NODES_MAX)
 * or -ENOMEM. */
int consume_nodes_add(struct consume_nodes *n, const char *urls, char *err, size_t errlen);

size_t consume_nodes_count(const struct consume_nodes *n);

/* The node to use now (0-based), its URL as given, and a name for messages: "node 2
 * (host:port)", or "host:port" when there is only one (no user, no password). The strings
 * live as long as n. */
size_t consume_nodes_current(const struct consume_nodes *n);
const char *consume_nodes_url(const struct consume_nodes *n, size_t i);
const char *consume_nodes_name(const struct consume_nodes *n, size_t i);

/* The current node failed: move to the next. Returns the seconds to wait before trying it
 * (0 within a round). */
double consume_nodes_failed(struct consume_nodes *n);

/* The current node serves: the pause starts over, and the next failure moves on at once. */
void consume_nodes_ok(struct consume_nodes *n);

/* Failures since the last success (0 after consume_nodes_ok). */
unsigned consume_nodes_failures(const struct consume_nodes *n);

/* Whether every node has failed at least once since the last success: a command that does
 * not wait for its broker gives up then. */
bool consume_nodes_all_failed(const struct consume_nodes *n);

/* Whether to log the failure just counted: every one in the first three rounds after a
 * success, then one round in 30 (a cluster down for hours keeps the log bounded). */
bool consume_nodes_should_log(const struct consume_nodes *n);

#endif
