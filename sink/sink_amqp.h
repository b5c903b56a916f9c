/* sink_amqp.h - changes to RabbitMQ: durable topic exchange, persistent messages,
 * publisher confirms, never losing a change while the disk has room.
 *
 * The loop thread only queues (outbox.h); one publisher thread owns the AMQP connection
 * (librabbitmq, which is not thread-safe) and publishes in version order with a window of
 * unconfirmed messages, reconnecting with capped exponential backoff. When the broker is
 * slow or down, changes overflow to the on-disk spool and are replayed in order once it is
 * back. A change leaves memory or the spool only after the broker confirmed it. On free
 * (shutdown) the publisher gets flush_timeout_s to empty the outbox; what is left is
 * spooled for the next start.
 *
 * Routing key: <outcome>.<severity>.<host> ("none" when the alert has no severity).
 */
#ifndef INJECTOR_SINK_AMQP_H
#define INJECTOR_SINK_AMQP_H

#include "sink/sink.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sink_amqp_config {
    const char *url;           /* amqp[s]://user[:password]@host[:port][/vhost] */
    const char *ca_file;       /* amqps: CA certificates to verify the broker with */
    const char *cert_file;     /* amqps: client certificate (optional) */
    const char *key_file;      /* amqps: its private key */
    const char *password_file; /* first line is the password; overrides the URL's */
    const char *exchange;      /* durable topic exchange, declared at connect */
    unsigned confirm_window;   /* unconfirmed messages in flight */
    bool mandatory;            /* count (and log) messages no queue was bound for */
    unsigned heartbeat_s;
    unsigned flush_timeout_s; /* shutdown: how long to try to empty the outbox */
    const char *spool_dir;    /* NULL: no spool (a full outbox loses changes, counted) */
    size_t outbox_size;       /* changes held in memory */
    sink_log_fn log;
};

/* Create the sink and start its publisher (which connects in the background: a broker
 * that is down is not an error here). *spool_version gets the highest version found in
 * the spool (0 if none), so the collector can number on from it. Returns 0, -EINVAL (bad
 * URL, unreadable password file), or a spool error. The password is never logged. */
int sink_amqp_new(const struct sink_amqp_config *cfg, struct sink **out, uint64_t *spool_version);

/* Point the sink at another broker or exchange (SIGHUP): url, password_file and exchange
 * are taken from cfg (the rest of cfg is ignored). The publisher drops its connection,
 * connects to the new target and publishes everything unconfirmed there first; the
 * outbox and the spool are untouched, so nothing is lost. Returns 0, or -EINVAL (bad URL,
 * unreadable password file: the old target stays). */
int sink_amqp_retarget(struct sink *sk, const struct sink_amqp_config *cfg);

/* The routing key for a change: "<outcome>.<severity>.<host>". Returns its length (as
 * snprintf). */
int sink_amqp_routing_key(const struct change *c, char *buf, size_t size);

#endif
