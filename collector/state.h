/* state.h - the table of active alerts, keyed by (host, component), and its outcomes.
 *
 * Every alert applied yields exactly one outcome (DESIGN.md, "State table and changes");
 * forwarded outcomes (raise, update, clear, expire, ack, unack) take the next collector-wide
 * version.
 *
 * An active alert may carry an acknowledgement (state_ack): who, why, when, and an optional
 * expiry. It is part of the alert's state (results, state_foreach, snapshots) and goes away
 * with no change of its own when the alert clears or expires, and when an update makes the
 * alert worse than it was when acknowledged (a lower severity number; without a severity on
 * either side nothing is worse). An ack's expiry is an unack change ("expired") that
 * state_expire returns, from a heap of ack deadlines, like the alerts' TTLs.
 * The table knows nothing of sockets, sinks or clocks: the caller passes the time in, so
 * tests drive it with a fake clock.
 *
 * Loop thread only. Hot path: a duplicate (the common case under a refresh storm) is one
 * hash lookup and a field compare, with no allocation; so is an update that fits the room
 * its alert already has.
 */
#ifndef INJECTOR_STATE_H
#define INJECTOR_STATE_H

#include "parsers/alert.h"
#include "sink/change.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct state_config {
    size_t max_alerts;      /* refuse raises past this many active alerts; 0: no cap */
    unsigned default_ttl_s; /* expiry for alerts without a TTL of their own; 0: never */
    size_t max_hosts;       /* refuse raises for a new host past this many; 0: no cap */
};

struct state_result {
    enum change_outcome outcome;
    uint64_t version; /* the change's version for forwarded outcomes, else 0 */
    /* For forwarded outcomes: the alert as it stands after the change (clear: as it stood,
     * with the Del's Seq). Points into the table; valid until the next call into it. */
    struct alert alert;
    /* Its acknowledgement after the change (raise, clear, expire, unack, an update that made
     * it worse: NULL). Valid as alert. */
    const struct change_ack *ack;
    /* CHANGE_UNACK: who took it back (state_unack's author, borrowed; NULL: not said) and
     * why ("taken back", or "expired" from state_expire). */
    struct change_unack unack;
};

/* Per-alert bookkeeping handed to state_foreach callbacks. */
struct state_meta {
    uint64_t version;      /* version of the last change to this alert */
    int64_t first_seen_ms; /* when it was raised */
    int64_t last_seen_ms;  /* last Upd/Post/Updonly for it, duplicates included */
    int64_t expires_ms;    /* when it expires unless refreshed; 0: never */
    /* The address of the datagram that last raised or updated it, as change lines show it
     * ("10.1.2.3:40112"); NULL when unknown (applied without one, or restored from a
     * snapshot or journal written before alerts kept it). state_restore copies it. */
    const char *sender;
    const struct change_ack *ack; /* its acknowledgement; NULL: none. state_restore copies it */
};

struct state;

/* cfg may be NULL for no cap. Returns 0 and *out, or -ENOMEM. */
int state_new(const struct state_config *cfg, struct state **out);

/* Frees every entry. Safe on NULL. */
void state_free(struct state *s);

/* Apply one parsed alert (host and component non-empty) received at now_ms.
 * Returns 0 and fills *out; -ENOSPC when a raise would pass max_alerts or, for a new host,
 * max_hosts (nothing changed);
 * -ENOMEM when a raise or update could not be stored (nothing changed). */
int state_apply(struct state *s, const struct alert *in, int64_t now_ms, struct state_result *out);

/* state_apply, and a raise or update records sender (copied; NULL: none) as the alert's
 * (state_meta.sender). A duplicate keeps the sender of the last change. */
int state_apply_from(struct state *s, const struct alert *in, const char *sender, int64_t now_ms,
                     struct state_result *out);

/* Expire the alert whose time is up soonest, if its time (its TTL, or the default TTL,
 * since its last Upd/Post/Updonly) is <= now_ms, or the ack whose expiry came sooner.
 * Returns 1 and fills *out (outcome CHANGE_EXPIRE, a new version, the alert as it stood; or
 * CHANGE_UNACK with unack.reason "expired", a new version, the alert as it stands; valid
 * until the next call into the table), or 0 when nothing is due. Call until it returns 0.
 * O(log n) per alert or ack: the deadlines are kept in heaps, nothing is scanned. */
int state_expire(struct state *s, int64_t now_ms, struct state_result *out);

/* When the next alert or ack is due (ms, same clock as now_ms), or -1 when none will. */
int64_t state_next_expiry(const struct state *s);

/* Acknowledge the active alert (host, component), replacing the ack it had: ack's author,
 * comment, at_ms and expires_ms (0: none) are copied; the severity it was made at is the
 * alert's. Returns 0 and fills *out (CHANGE_ACK, the alert's next version, out->ack),
 * -ENOENT (no such active alert) or -ENOMEM (nothing changed). */
int state_ack(struct state *s, const char *host, const char *component,
              const struct change_ack *ack, struct state_result *out);

/* Take the ack of the active alert (host, component) back; author (may be NULL) is borrowed
 * into out->unack. Returns 0 and fills *out (CHANGE_UNACK, its next version), -ENOENT (no
 * such active alert) or -ENODATA (it is not acknowledged: nothing changed). */
int state_unack(struct state *s, const char *host, const char *component, const char *author,
                struct state_result *out);

/* Alerts acknowledged now. */
size_t state_ack_count(const struct state *s);

/* Change the default TTL (SIGHUP). Applies from each alert's next refresh on. */
void state_set_default_ttl(struct state *s, unsigned ttl_s);

/* Change the caps (SIGHUP); alerts over a lowered cap stay, new raises are refused. */
void state_set_caps(struct state *s, size_t max_alerts, size_t max_hosts);

/* Put back an alert from a snapshot: no outcome, no new version; its own version, times
 * and deadline are kept (an already past deadline expires at the next state_expire).
 * The table's version is raised to at least meta->version. Returns 0, -EEXIST (the key is
 * already there), -ENOSPC (cap) or -ENOMEM. */
int state_restore(struct state *s, const struct alert *a, const struct state_meta *meta);

/* Number of active alerts, and of hosts with at least one. */
size_t state_count(const struct state *s);
size_t state_host_count(const struct state *s);

/* The version of the last forwarded change (0 before the first). */
uint64_t state_version(const struct state *s);

/* Continue numbering after v (a restored snapshot). Only ever raises the version. */
void state_set_version(struct state *s, uint64_t v);

/* The version series: an id (never 0 once set) chosen when numbering starts from nothing,
 * kept in snapshots, so a consumer can tell "the numbering started over" (a restart
 * without a snapshot) from old changes delivered again. 0 until set. */
uint64_t state_epoch(const struct state *s);
void state_set_epoch(struct state *s, uint64_t epoch);

/* Start a new version series unless the table already has one (from a snapshot): the
 * epoch becomes random64()'s first non-zero answer. Returns true when a new series began
 * (numbering may have started over: consumers that see the new id resync). */
bool state_begin_series(struct state *s, uint64_t (*random64)(void));

/* 64 random bits from the kernel (getrandom), for state_begin_series; falls back to the
 * time and pid when the kernel has none to give. */
uint64_t state_random64(void);

/* ---- for the repeat path (collector/repeat.h) ---------------------------------------
 * Every change to an active alert (raise, update, ack, ...) gives it a new version, and a
 * key that is cleared and raised again gets a new one too: so "the version is still v"
 * means "nothing changed this alert since it had version v". The version serves as the
 * alert's generation. */

/* Room for a key: "host\0component\0". */
#define STATE_KEY_MAX (2 * (ALERT_KEY_MAX + 1))

/* Write the table's key for (host, component) into key (STATE_KEY_MAX bytes) and its hash
 * into *hash; returns the key's length (without the final NUL). */
size_t state_key(const char *host, size_t host_len, const char *component, size_t component_len,
                 char *key, uint32_t *hash);

/* The version of the active alert with that key, or 0 when the key has no active alert.
 * Changes nothing. */
uint64_t state_generation(const struct state *s, const char *key, size_t klen, uint32_t hash);

/* Refresh the active alert with that key exactly as a duplicate Upd/Post/Updonly does
 * (last seen, and its TTL starts again) and return 0; -ENOENT when it has none. */
int state_refresh(struct state *s, const char *key, size_t klen, uint32_t hash, int64_t now_ms);

/* Call cb for every active alert (host == NULL) or those of one host, in no particular
 * order; stop early when cb returns non-zero and return that value. The alert and meta are
 * valid for the duration of the callback only; cb must not modify the table. */
typedef int (*state_foreach_cb)(const struct alert *a, const struct state_meta *meta, void *data);
int state_foreach(const struct state *s, const char *host, state_foreach_cb cb, void *data);

/* Call cb for the active alert (host, component) as state_foreach would; return what cb
 * returned, or -ENOENT when there is none. */
int state_lookup(const struct state *s, const char *host, const char *component,
                 state_foreach_cb cb, void *data);

/* Replay one journaled change onto the table at start-up (no outcome, no new version),
 * with the sender and the ack its line carries (NULL: none; an update then keeps the sender
 * before, and has no ack): raise and update put the alert as the change carries it (a raise
 * sets first_seen, both set last_seen to received_ms and count the TTL from it); ack and
 * unack set or drop its ack only (an ack is no refresh); clear and expire remove it
 * (nothing to remove is fine). An ack the alert already has (same at, author, comment) is
 * kept as it is. The table's version is raised to at least version.
 * Returns 0, -ENOSPC (a cap refused the raise) or -ENOMEM. */
int state_replay(struct state *s, const struct alert *a, const char *sender,
                 enum change_outcome outcome, uint64_t version, int64_t received_ms,
                 const struct change_ack *ack);

#endif
