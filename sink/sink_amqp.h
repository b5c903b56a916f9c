/* sink_amqp.h - changes to RabbitMQ: durable topic exchange, persistent messages,
 * publisher confirms, read from the change journal, failing over between the nodes of a
 * cluster.
 *
 * The sink does nothing on the loop thread: every change is already in the journal
 * (journal.h), which is both the store and the queue. One publisher thread owns the AMQP
 * connection (librabbitmq is not thread-safe), reads the journal in version order (only
 * what is synced to disk, so the broker never holds a version a crash could take back),
 * publishes with a window of unconfirmed messages and tells the journal what the broker
 * confirmed. A lost connection moves to the next node at once; after a round of failures
 * it backs off (capped at a second, reset by a success). Unconfirmed changes are
 * published again, in order, on the new connection (at-least-once, same versions). On
 * free (shutdown) the publisher gets flush_timeout_s to publish what the journal holds;
 * what is left stays in the journal for the next start (or, memory only, is lost and said
 * so).
 *
 * Routing key: <outcome>.<severity>.<host> ("none" when the alert has no severity).
 */
#ifndef INJECTOR_SINK_AMQP_H
#define INJECTOR_SINK_AMQP_H

#include "sink/journal.h"
#include "sink/sink.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sink_amqp_config {
    /* amqp[s]://user[:password]@host[:port][/vhost], the nodes of one cluster, tried in
     * this order */
    const char *const *urls;
    size_t n_urls;
    const char *ca_file;       /* amqps: CA certificates to verify the broker with */
    const char *cert_file;     /* amqps: client certificate (optional) */
    const char *key_file;      /* amqps: its private key */
    const char *password_file; /* first line is the password; overrides the URLs' */
    const char *exchange;      /* durable topic exchange, declared at connect */
    unsigned confirm_window;   /* unconfirmed messages in flight */
    bool mandatory;            /* count (and log) messages no queue was bound for */
    unsigned heartbeat_s;
    unsigned flush_timeout_s; /* shutdown: how long to try to publish what is left */
    struct journal *journal;  /* where the changes come from; borrowed, outlives the sink */
    sink_log_fn log;
};

/* Create the sink and start its publisher (which connects in the background: a broker
 * that is down is not an error here). Returns 0, -EINVAL (no URL, a bad URL, an
 * unreadable password file) or -ENOMEM. The password is never logged. */
int sink_amqp_new(const struct sink_amqp_config *cfg, struct sink **out);

/* Point the sink at other nodes or another exchange (SIGHUP): urls, password_file and
 * exchange are taken from cfg (the rest of cfg is ignored). The publisher drops its
 * connection, connects to the new first node and publishes everything unconfirmed there
 * first; the journal is untouched, so nothing is lost. Returns 0, or -EINVAL (a bad URL,
 * an unreadable password file: the old target stays). */
int sink_amqp_retarget(struct sink *sk, const struct sink_amqp_config *cfg);

#endif
