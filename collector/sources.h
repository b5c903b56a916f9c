/* sources.h - per-sender accounting: datagrams, alerts, and Seq gaps, reorders, repeats.
 *
 * A sender that numbers its alerts (the Seq element) lets us see loss anywhere on the
 * path, not only in our socket: a jump in its numbers is a gap. A number lower than the
 * last is a reorder (and fills a gap counted before); the same number again is a repeat.
 * Keyed by address and port. Bounded: past max senders, new ones are counted but not
 * tracked. Loop thread only.
 */
#ifndef INJECTOR_SOURCES_H
#define INJECTOR_SOURCES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct source_info {
    const struct sockaddr *addr;
    uint64_t datagrams, alerts;
    int64_t last_seq; /* -1: none seen */
    uint64_t seq_gaps, reordered, duplicates;
    int64_t last_seen_ms;
};

struct sources_totals {
    uint64_t seq_gaps, reordered, duplicates;
    uint64_t tracked;   /* senders in the table */
    uint64_t untracked; /* datagrams from senders past the cap */
};

struct sources;

/* max: most senders tracked (0: 65536). Returns 0 and *out, or -ENOMEM. */
int sources_new(size_t max, struct sources **out);
void sources_free(struct sources *s);

/* A datagram from `from`; returns its entry for the alert calls that follow, or NULL when
 * the table is full (then the sender is counted in untracked). */
void *sources_datagram(struct sources *s, const struct sockaddr *from, int64_t now_ms);

/* An alert from that sender, with its Seq when has_seq. */
void sources_alert(struct sources *s, void *entry, int has_seq, int64_t seq);

void sources_totals(const struct sources *s, struct sources_totals *out);

/* Call cb for each sender (no order); stop when it returns non-zero. */
typedef int (*sources_cb)(const struct source_info *info, void *data);
int sources_foreach(const struct sources *s, sources_cb cb, void *data);

#endif
