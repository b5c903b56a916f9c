/* amqp_nodes.h - the broker nodes a client may use (the nodes of one RabbitMQ cluster, one
 * amqp[s]:// URL each), the order and pace in which it tries them, and how much it says
 * about the trouble: the one policy of the collector's publisher (sink_amqp) and of
 * injector-consume.
 *
 * A node that fails (cannot be reached, its connection is lost, it served nothing) gives
 * way to the next one at once: while some node has not failed since the last success or
 * pause, the wait is 0. Once every node has (a round), the next round starts after a pause
 * that doubles from AMQP_NODES_FIRST_PAUSE_MS up to AMQP_NODES_MAX_PAUSE_MS, so a node that
 * comes back is found within about a second; a success resets it, so a cluster that lost
 * one node costs one failed attempt, not a back-off. What counts as a success is the
 * caller's to say: for the consumer, consuming; for the publisher, the broker confirming
 * a change, not the connection alone (a node that takes connections and refuses every
 * change is backed off from like one that cannot be reached).
 *
 * Lines about the trouble (each failure, a connection made while it lasts) go through
 * amqp_nodes_may_say: the first AMQP_NODES_TOLD of a streak in full, then one every
 * AMQP_NODES_TOLD_EVERY_MS with how many were left out; a success ends the streak. A
 * cluster down for hours stays a few lines.
 *
 * No sockets here: the caller connects and says how it went. One thread: the owner's.
 */
#ifndef INJECTOR_AMQP_NODES_H
#define INJECTOR_AMQP_NODES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define AMQP_NODES_MAX            16
#define AMQP_NODES_FIRST_PAUSE_MS 250   /* after the first round that failed whole */
#define AMQP_NODES_MAX_PAUSE_MS   1000  /* the cap: a node that is back is found in a second */
#define AMQP_NODES_TOLD           6     /* lines of a streak said in full */
#define AMQP_NODES_TOLD_EVERY_MS  60000 /* then one this often */

struct amqp_nodes;

/* Returns 0 or -ENOMEM. */
int amqp_nodes_new(struct amqp_nodes **out);
void amqp_nodes_free(struct amqp_nodes *n);

/* Add the nodes in urls: one amqp[s]:// URL, or several separated by white space (as
 * $INJECTOR_AMQP_URL may hold them). Each is checked at once. Returns 0, -EINVAL (err says
 * which URL, by position, never the URL itself: it may hold a password), -E2BIG (more than
 * AMQP_NODES_MAX) or -ENOMEM; nothing of urls is added then. */
int amqp_nodes_add(struct amqp_nodes *n, const char *urls, char *err, size_t errlen);

size_t amqp_nodes_count(const struct amqp_nodes *n);

/* The node to use now (0-based). For node i: its URL as given (NULL past the last); a name
 * for messages, "node 2 (host:port)", or "host:port" when there is only one; where it is,
 * "host:port" (an IPv6 address in brackets); the URL as logs show it, without its password
 * (secret_mask_url). The strings live as long as n. */
size_t amqp_nodes_current(const struct amqp_nodes *n);
const char *amqp_nodes_url(const struct amqp_nodes *n, size_t i);
const char *amqp_nodes_name(const struct amqp_nodes *n, size_t i);
const char *amqp_nodes_where(const struct amqp_nodes *n, size_t i);
const char *amqp_nodes_shown(const struct amqp_nodes *n, size_t i);

/* The current node failed: move to the next. Returns the milliseconds to wait before
 * trying it (0 within a round). */
int amqp_nodes_failed(struct amqp_nodes *n);

/* The current node serves: the pause starts over, the next failure moves on at once, and
 * the streak of trouble lines ends. Returns how many lines about it were left out since
 * the last one said (to say with the news), 0 when none. Cheap: may be called at every
 * success. */
uint64_t amqp_nodes_ok(struct amqp_nodes *n);

/* Failures since the last success (0 after amqp_nodes_ok). */
unsigned amqp_nodes_failures(const struct amqp_nodes *n);

/* Whether every node has failed at least once since the last success: a command that does
 * not wait for its broker gives up then. */
bool amqp_nodes_all_failed(const struct amqp_nodes *n);

/* A line about the trouble is due at now_ms (a monotonic clock): whether to say it. When
 * it is, *untold (may be NULL) gets how many were left out since the last one said. */
bool amqp_nodes_may_say(struct amqp_nodes *n, int64_t now_ms, uint64_t *untold);

#endif
