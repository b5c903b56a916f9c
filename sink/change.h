/* change.h - one change of the active-alert table, and its JSON encoding.
 *
 * A change is what sinks receive: an outcome of the state table, the collector-wide
 * version, where and when the alert came from, and the alert's fields. The JSON field
 * names are fixed by DESIGN.md (Output) and relied on by consumers.
 *
 * Encoding is single-threaded per struct change_json; the buffer is reused across calls.
 */
#ifndef INJECTOR_CHANGE_H
#define INJECTOR_CHANGE_H

#include "parsers/alert.h"

#include <stdbool.h>
#include <stdint.h>

enum change_outcome {
    CHANGE_RAISE,           /* Upd/Post with nothing active */
    CHANGE_UPDATE,          /* a field of an active alert changed */
    CHANGE_CLEAR,           /* Del of an active alert */
    CHANGE_EXPIRE,          /* TTL passed without a refresh */
    CHANGE_DUPLICATE,       /* identical to the active alert: refreshed, not forwarded */
    CHANGE_REDUNDANT_CLEAR, /* Del with nothing active: not forwarded */
    CHANGE_UPDONLY_MISS,    /* Updonly with nothing active: not forwarded */
    CHANGE_ACK,             /* a person acknowledged an active alert (HTTP API) */
    CHANGE_UNACK,           /* its ack was taken back, or its expiry passed */
    CHANGE_OUTCOME_COUNT
};

/* "raise", "update", ... */
const char *change_outcome_name(enum change_outcome outcome);

/* Whether the outcome goes to the sinks (raise, update, clear, expire, ack, unack). */
bool change_outcome_forwarded(enum change_outcome outcome);

/* An acknowledgement of an alert: part of the alert's state while it lasts. In JSON:
 * "ack":{"author":..,"comment":..,"at":"<RFC 3339>","expires":"<RFC 3339>"} (expires only
 * when set); a snapshot adds "severity": N, or null when the alert had none. */
struct change_ack {
    const char *author;  /* 1-255 bytes of UTF-8 */
    const char *comment; /* 1-1024 bytes of UTF-8 */
    int64_t at_ms;       /* when it was made, ms since the epoch */
    int64_t expires_ms;  /* when it lapses (an unack "expired"); 0: it lasts until the alert
                          * clears or gets worse */
    /* The alert's severity when acknowledged (an update to a lower number makes it worse,
     * and the ack goes). Neither flag: the line did not say (a change line carries no
     * severity: the table takes the alert's); no_severity: the alert had none (a snapshot's
     * "severity":null). Both bools sit in what was padding. */
    bool has_severity, no_severity;
    int64_t severity;
};

/* What an unack line says besides the alert: "unack":{"author":..,"reason":..}. */
struct change_unack {
    const char *author; /* NULL: not said (expired, or not given) */
    const char *reason; /* "taken back", "expired" */
};

struct change {
    enum change_outcome outcome;
    uint64_t version;                 /* collector-wide, strictly increasing */
    const char *collector;            /* collector id */
    uint64_t epoch;                   /* the version series (16 hex digits); 0: not encoded */
    int64_t received_ms;              /* wall clock, ms since the epoch; 0: not encoded */
    const char *sender;               /* "10.1.2.3:40112", "[::1]:5000"; NULL: not encoded */
    const struct alert *alert;        /* the alert as it stands after the change (for clear and
                                       * expire: as it stood); borrowed */
    const struct change_ack *ack;     /* its acknowledgement after the change; NULL: none */
    const struct change_unack *unack; /* CHANGE_UNACK's; NULL: not encoded */
};

/* A reusable output buffer for encoded changes. Zero-initialise; free with
 * change_json_free(). */
struct change_json {
    char *buf; /* NUL-terminated JSON object, no trailing newline */
    size_t len;
    size_t cap;
};

/* Encode c as one compact JSON object into out (replacing what was there), fields in the
 * order of DESIGN.md's example. No allocation once the buffer has grown to the largest
 * change. Returns 0; -EINVAL when a string is not valid UTF-8 (the parser never produces
 * one; nothing is emitted rather than bad JSON); -ENOMEM when the buffer could not grow. */
int change_json_encode(struct change_json *out, const struct change *c);

/* Append an active alert as one JSON object: version (of its last change), first_seen,
 * last_seen, then the same fields as a change, then ack (when acknowledged: ack non-NULL),
 * then sender (the address that last raised or updated it; null when unknown). Appends to
 * what out holds (for arrays). Returns 0, -EINVAL (not UTF-8: nothing appended) or -ENOMEM. */
int change_json_append_alert(struct change_json *out, const struct alert *a, uint64_t version,
                             int64_t first_seen_ms, int64_t last_seen_ms, const char *sender,
                             const struct change_ack *ack);

/* Append raw JSON text (punctuation, numbers), or a string value quoted and escaped.
 * Return 0, -EINVAL (not UTF-8) or -ENOMEM. */
int change_json_append(struct change_json *out, const char *s, size_t n);
int change_json_append_str(struct change_json *out, const char *s, size_t n);

/* An alert as stored in a state snapshot: like change_json_append_alert, with the times
 * as numbers (first_seen_ms, last_seen_ms, expires_ms; 0: never expires); sender only
 * when known; the ack with the severity it was made at. Appends. */
int change_json_append_stored(struct change_json *out, const struct alert *a, uint64_t version,
                              int64_t first_seen_ms, int64_t last_seen_ms, int64_t expires_ms,
                              const char *sender, const struct change_ack *ack);

/* One stored alert read back (jansson). The strings live in this struct: valid until the
 * next decode into it or alert_json_free. Zero-initialise before first use. */
struct alert_json {
    struct alert alert;
    uint64_t version;
    int64_t first_seen_ms, last_seen_ms, expires_ms;
    const char *sender;           /* the stored alert's or the change's sender; NULL: none */
    const struct change_ack *ack; /* the ack it carries (points at ack_buf); NULL: none */
    struct change_ack ack_buf;
    char *arena;
    size_t cap;
};

/* Decode one line written by change_json_append_stored. Returns 0, -EBADMSG (not JSON, or
 * host/component/version missing or of the wrong type, or an ack without author, comment
 * or a readable at), or -ENOMEM. */
int change_json_decode_stored(const char *text, size_t len, struct alert_json *out);

/* One change read back from its JSON (a journal record), for replay onto the table:
 * the alert's fields as in change_json_decode_stored, plus the outcome and the receive
 * time. Strings live in out as there. Returns 0, -EBADMSG (not a change: no outcome,
 * version, host or component), or -ENOMEM. */
int change_json_decode_change(const char *text, size_t len, struct alert_json *out,
                              enum change_outcome *outcome, int64_t *received_ms);

void alert_json_free(struct alert_json *a);

void change_json_free(struct change_json *out);

/* The AMQP routing key for a change: "<outcome>.<severity>.<host>" ("none" when the alert
 * has no severity). Returns its length (as snprintf). */
int change_routing_key(const struct change *c, char *buf, size_t size);

/* The wall clock now, ms since the epoch, as change lines carry times ("received", an ack's
 * "at"): one clock for every part that stamps one, so times compare (an ack's expiry is
 * checked against the clock that set it). Any thread. */
int64_t change_now_ms(void);

/* Format a time as RFC 3339 UTC with milliseconds ("2026-11-26T07:00:00.123Z").
 * buf must hold 25 bytes. Returns buf. */
char *change_format_time(int64_t ms, char *buf, size_t size);

/* The reverse: such a time (exactly that form) to ms since the epoch. Returns 0 or
 * -EBADMSG. */
int change_parse_time(const char *s, int64_t *ms);

#endif
