/* stats.c - the stats line. */
#include "collector/stats.h"

#include <inttypes.h>
#include <stdio.h>

int stats_format(const struct stats *s, char *buf, size_t size)
{
    int n = snprintf(buf, size,
                     "datagrams=%" PRIu64 " bytes=%" PRIu64 " alerts=%" PRIu64
                     " malformed=%" PRIu64 " invalid=%" PRIu64 " kernel_drops=%" PRIu64
                     " seq_gaps=%" PRIu64,
                     s->datagrams, s->bytes, s->alerts, s->malformed, s->invalid,
                     s->kernel_drops, s->seq_gaps);
    /* Per-reason refusals and the rare counters only once they happen: a quiet line
     * when all is well, the reason in plain sight when it is not. */
    for (int i = 1; i < ALERT_XML_REASON_COUNT && n >= 0 && (size_t)n < size; i++)
        if (s->rejects[i] > 0)
            n += snprintf(buf + n, size - (size_t)n, " refused_%s=%" PRIu64,
                          alert_xml_reason_name((enum alert_xml_reason)i), s->rejects[i]);
    for (int i = 1; i < AUTH_REASON_COUNT && n >= 0 && (size_t)n < size; i++)
        if (s->auth[i] > 0)
            n += snprintf(buf + n, size - (size_t)n, " auth_%s=%" PRIu64,
                          auth_reason_name((enum auth_reason)i), s->auth[i]);
    const struct {
        const char *name;
        uint64_t v;
    } rare[] = {{"truncated", s->truncated},
                {"extra_dropped", s->extra_dropped},
                {"refused_full", s->refused_full},
                {"rejected_acl", s->rejected_acl},
                {"rate_limited", s->rate_limited},
                {"fast_path", s->fast_path},
                {"tcp_connections", s->tcp_connections},
                {"tcp_documents", s->tcp_documents},
                {"tcp_refused", s->tcp_refused},
                {"seq_reordered", s->seq_reordered},
                {"seq_duplicates", s->seq_duplicates},
                {"nomem", s->nomem}};
    for (size_t i = 0; i < sizeof(rare) / sizeof(rare[0]) && n >= 0 && (size_t)n < size; i++)
        if (rare[i].v > 0)
            n += snprintf(buf + n, size - (size_t)n, " %s=%" PRIu64, rare[i].name, rare[i].v);
    for (int i = 0; i < CHANGE_OUTCOME_COUNT && n >= 0 && (size_t)n < size; i++)
        n += snprintf(buf + n, size - (size_t)n, " %s=%" PRIu64,
                      change_outcome_name((enum change_outcome)i), s->outcomes[i]);
    if (n >= 0 && (size_t)n < size)
        n += snprintf(buf + n, size - (size_t)n,
                      " published=%" PRIu64 " sink_errors=%" PRIu64 " active=%" PRIu64
                      " hosts=%" PRIu64 " version=%" PRIu64,
                      s->published, s->sink_errors, s->active, s->hosts, s->version);
    return n;
}
