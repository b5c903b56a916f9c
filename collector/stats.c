/* stats.c - the stats line. */
#include "collector/stats.h"

#include <inttypes.h>
#include <stdio.h>

int stats_format(const struct stats *s, char *buf, size_t size)
{
    int n = snprintf(buf, size,
                     "datagrams=%" PRIu64 " bytes=%" PRIu64 " alerts=%" PRIu64
                     " malformed=%" PRIu64 " invalid=%" PRIu64 " kernel_drops=%" PRIu64,
                     s->datagrams, s->bytes, s->alerts, s->malformed, s->invalid,
                     s->kernel_drops);
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
