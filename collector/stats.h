/* stats.h - the collector's counters, and the one-line summary printed to stderr.
 *
 * Plain integers owned by the loop thread; anything that reports them (the stats line,
 * later the HTTP API) reads them on that thread. Counters only grow; gauges are set by
 * their owner before a report.
 */
#ifndef INJECTOR_STATS_H
#define INJECTOR_STATS_H

#include "collector/auth.h"
#include "parsers/alert_xml.h"
#include "sink/change.h"

#include <stddef.h>
#include <stdint.h>

struct stats {
    /* counters */
    uint64_t datagrams;   /* received from the sockets */
    uint64_t bytes;       /* their payload bytes */
    uint64_t truncated;   /* longer than the receive slot: refused, counted as malformed */
    uint64_t alerts;      /* alerts accepted by the parser and applied */
    uint64_t malformed;   /* datagrams refused whole */
    uint64_t invalid;     /* alerts refused inside an accepted datagram */
    uint64_t rejects[ALERT_XML_REASON_COUNT]; /* malformed and invalid, by reason */
    uint64_t extra_dropped;                   /* unknown elements past the per-alert cap */
    uint64_t outcomes[CHANGE_OUTCOME_COUNT];
    uint64_t refused_full; /* raises refused: the active-alert cap was reached */
    uint64_t nomem;        /* alerts not applied for lack of memory */
    uint64_t published;    /* changes handed to every sink */
    uint64_t sink_errors;  /* sink writes that failed */
    uint64_t kernel_drops; /* datagrams the kernel dropped on our sockets (SO_MEMINFO) */
    uint64_t rejected_acl;    /* datagrams/documents from sources not in the allow-list */
    uint64_t rate_limited;    /* alerts refused by the per-sender rate limit */
    uint64_t fast_path;       /* alerts that skipped the parser: byte-identical repeats */
    uint64_t auth[AUTH_REASON_COUNT]; /* datagrams refused by the signature check, by reason */
    uint64_t tcp_connections; /* TCP clients accepted */
    uint64_t tcp_refused;     /* TCP clients turned away at the connection limit */
    uint64_t tcp_documents;   /* documents received over TCP (not in datagrams) */
    uint64_t seq_gaps;       /* Seq numbers senders skipped: loss anywhere on the path */
    uint64_t seq_reordered;  /* Seq numbers that came late */
    uint64_t seq_duplicates; /* Seq numbers that came twice */

    /* gauges */
    uint64_t active;
    uint64_t hosts;
    uint64_t version;
};

/* Format the one-line summary ("datagrams=... alerts=... raise=..."). Returns the length
 * (as snprintf: may exceed size, then the line is cut). */
int stats_format(const struct stats *s, char *buf, size_t size);

#endif
