/* stats.h - the collector's counters and gauges, declared once, and the three places that
 * show them: the stats line, /v1/stats (JSON) and /metrics (Prometheus text).
 *
 * STATS_LIST below declares each one: its field in struct stats, kind, unit, when the
 * stats line shows it, and its help. Adding one is one line there plus the code that
 * counts it (in->stats.<name>++); every report then has it. The sinks report theirs
 * through sink.h; the renderers here show both as struct counter (sink/counter.h).
 *
 * Plain integers owned by the loop thread: counted there, and every report reads them
 * there. Counters only grow; gauges are set by their owner before a report.
 */
#ifndef INJECTOR_STATS_H
#define INJECTOR_STATS_H

#include "collector/auth.h"
#include "parsers/alert_xml.h"
#include "sink/change.h"
#include "sink/counter.h"
#include "sink/sink.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* STATS_LIST(S, F): every counter and gauge, in the stats line's order.
 *   S(name, KIND, UNIT, LINE, help)   one value
 *   F(name, "label", count, first, label_fn, "line_prefix", LINE, help)
 *                                     a family: name[count], member i (from first on)
 *                                     labelled label_fn(i); on the stats line as
 *                                     line_prefix + label
 * KIND: TOTAL or GAUGE; UNIT: NONE, BYTES or SECONDS (a double); LINE: ALWAYS, NONZERO
 * (once it happened) or NEVER (counter.h). */
#define STATS_LIST(S, F)                                                                           \
    S(datagrams, TOTAL, NONE, ALWAYS, "Datagrams received on the UDP sockets.")                    \
    S(bytes, TOTAL, BYTES, ALWAYS, "Payload bytes of those datagrams.")                            \
    S(alerts, TOTAL, NONE, ALWAYS, "Alerts parsed and applied to the table.")                      \
    S(malformed, TOTAL, NONE, ALWAYS, "Datagrams refused whole (see refused by reason).")          \
    S(invalid, TOTAL, NONE, ALWAYS, "Alerts refused inside an accepted datagram.")                 \
    S(kernel_drops, TOTAL, NONE, ALWAYS,                                                           \
      "Datagrams the kernel dropped on our sockets for want of buffer.")                           \
    S(seq_gaps, TOTAL, NONE, ALWAYS, "Seq numbers senders skipped: loss anywhere on the path.")    \
    S(intake_queued, GAUGE, NONE, ALWAYS,                                                          \
      "Datagrams taken from the sockets, waiting to be processed.")                                \
    S(intake_queued_peak, GAUGE, NONE, ALWAYS,                                                     \
      "The most datagrams queued at once since start (per listener, summed).")                     \
    S(intake_queued_bytes, GAUGE, BYTES, NEVER,                                                    \
      "Queue memory the queued datagrams take (payload plus ~48 bytes each).")                     \
    S(intake_queued_peak_bytes, GAUGE, BYTES, NEVER,                                               \
      "The most queue memory they took at once since start.")                                      \
    S(intake_memory_bytes, GAUGE, BYTES, NEVER,                                                    \
      "Queue memory held now, spare chunks included (--queue-memory caps it).")                    \
    S(intake_full_seconds, TOTAL, SECONDS, NONZERO,                                                \
      "Time the intake waited at the queue-memory cap, the sockets unread.")                       \
    S(intake_waiting, GAUGE, NONE, NONZERO,                                                        \
      "Listeners whose intake waits at the queue-memory cap now, its socket unread.")              \
    S(shutdown_unread, TOTAL, NONE, NONZERO,                                                       \
      "Datagrams still in the sockets when stopping gave up on them (the shutdown grace over, "    \
      "or a second signal): read and dropped unprocessed, lost.")                                  \
    F(refused, "reason", ALERT_XML_REASON_COUNT, 1, alert_xml_reason_name, "refused_", NONZERO,    \
      "Datagrams and alerts refused, by reason.")                                                  \
    F(auth_refused, "reason", AUTH_REASON_COUNT, 1, auth_reason_name, "auth_", NONZERO,            \
      "Datagrams refused by the signature check.")                                                 \
    S(truncated, TOTAL, NONE, NONZERO, "Datagrams longer than the receive slot.")                  \
    S(extra_dropped, TOTAL, NONE, NONZERO, "Unknown elements past the per-alert cap.")             \
    S(refused_full, TOTAL, NONE, NONZERO, "Raises refused at the active-alert cap.")               \
    S(rejected_acl, TOTAL, NONE, NONZERO,                                                          \
      "Datagrams and documents from sources outside the allow-list.")                              \
    S(rate_limited, TOTAL, NONE, NONZERO, "Alerts refused by the per-sender rate limit.")          \
    S(fast_path, TOTAL, NONE, NONZERO,                                                             \
      "Alerts that skipped the parser: byte-identical repeats of a datagram whose alert nothing "  \
      "changed since (duplicates, redundant clears).")                                             \
    S(fast_path_lookups, TOTAL, NONE, NONZERO,                                                     \
      "Datagrams looked up in the repeat cache (plain ones, with the fast path on): "              \
      "fast_path / fast_path_lookups is its hit ratio.")                                           \
    S(tcp_connections, TOTAL, NONE, NONZERO, "TCP clients accepted.")                              \
    S(tcp_documents, TOTAL, NONE, NONZERO, "Documents received over TCP.")                         \
    S(tcp_refused, TOTAL, NONE, NONZERO,                                                           \
      "TCP clients turned away: at the connection limit, or accept failed.")                       \
    S(http_connections, TOTAL, NONE, NONZERO, "HTTP clients taken.")                               \
    S(http_refused, TOTAL, NONE, NONZERO,                                                          \
      "HTTP clients closed at once (no descriptor free, or refused).")                             \
    S(http_dropped, TOTAL, NONE, NONZERO,                                                          \
      "HTTP connections closed without a whole request in time.")                                  \
    S(seq_reordered, TOTAL, NONE, NONZERO, "Seq numbers that arrived late.")                       \
    S(seq_duplicates, TOTAL, NONE, NONZERO, "Seq numbers that arrived twice.")                     \
    S(nomem, TOTAL, NONE, NONZERO, "Alerts not applied for lack of memory.")                       \
    F(outcomes, "outcome", CHANGE_OUTCOME_COUNT, 0, change_outcome_name, "", ALWAYS,               \
      "Alerts by the outcome they had.")                                                           \
    S(forwarded, TOTAL, NONE, ALWAYS,                                                              \
      "Changes handed to every sink (what a broker has confirmed: the sink's confirmed).")         \
    S(sink_errors, TOTAL, NONE, ALWAYS, "Sink writes that failed.")                                \
    S(active_alerts, GAUGE, NONE, ALWAYS, "Alerts active now.")                                    \
    S(hosts, GAUGE, NONE, ALWAYS, "Hosts with at least one active alert.")                         \
    S(version, GAUGE, NONE, ALWAYS, "Version of the last change.")                                 \
    S(uptime_seconds, GAUGE, SECONDS, NEVER, "Seconds since start.")

#define STATS_CTYPE_NONE    uint64_t
#define STATS_CTYPE_BYTES   uint64_t
#define STATS_CTYPE_SECONDS double

struct stats {
#define STATS_FIELD(name, kind, unit, line, help)   STATS_CTYPE_##unit name;
#define STATS_FAMILY_FIELD(name, label, count, ...) uint64_t name[count];
    STATS_LIST(STATS_FIELD, STATS_FAMILY_FIELD)
#undef STATS_FIELD
#undef STATS_FAMILY_FIELD
};

/* What a report shows: the collector's counters, then each sink's. */
struct stats_report {
    const struct stats *stats;
    struct sink *const *sinks;
    size_t n_sinks;
};

/* Call fn once per value of the report, in order (a family once per member). */
void stats_foreach(const struct stats_report *r, counter_fn fn, void *data);

/* The one-line summary ("datagrams=... alerts=... raise=... confirmed=..."). Returns the
 * length (as snprintf: may exceed size, then the line is cut). */
int stats_format_line(const struct stats_report *r, char *buf, size_t size);

/* Add every value to the JSON object o: a value as o.name, a family as o.name.label, a
 * sink's as o.sink.name; durations are numbers of seconds with ms precision. */
void stats_json(const struct stats_report *r, json_t *o);

/* Write every value in the Prometheus text format (0.0.4) to f: injector_<name>[_total],
 * a family as one metric with a label, a sink's as injector_sink_<name>[_total]. */
void stats_prometheus(const struct stats_report *r, FILE *f);

#endif
