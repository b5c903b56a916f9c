/* alert.h - the parsed alert record: what one <Alert> (or ProxD updAlert/delAlert) said.
 *
 * A struct alert never owns its strings. One filled by alert_xml_parse() points into the
 * parser's arena and is valid until the next call on that parser; one filled by the state
 * table points into the table's entry and is valid until the next call into the table.
 * Copy what you need to keep.
 *
 * Fields are grouped by kind (text, number) and described by tables below, so that the
 * parser, the state table and the JSON encoder walk one list instead of naming each field
 * three times. Wire names, JSON names and limits: parsers/FORMAT.md.
 */
#ifndef INJECTOR_ALERT_H
#define INJECTOR_ALERT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* Limits a sender can rely on; longer values make the datagram malformed. */
#define ALERT_KEY_MAX         255  /* ProblemHost, Component (bytes, after trimming) */
#define ALERT_TEXT_MAX        8192 /* Msg, LongMsg and the other text fields */
#define ALERT_EXTRA_MAX       16   /* unknown child elements kept per alert; more are dropped */
#define ALERT_EXTRA_NAME_MAX  64
#define ALERT_EXTRA_VALUE_MAX 1024

/* The longest an acknowledgement may last ("expire" of POST /v1/ack): 366 days, 8784 h.
 * The collector refuses more; injector-ctl --expire says so before asking. */
#define ALERT_ACK_EXPIRE_MAX_MS (366LL * 24 * 3600 * 1000)
/* An acknowledgement's author and comment, in bytes (1 to this many). */
#define ALERT_ACK_AUTHOR_MAX  255
#define ALERT_ACK_COMMENT_MAX 1024

enum alert_action {
    ALERT_UPD,     /* create or update */
    ALERT_DEL,     /* clear */
    ALERT_UPDONLY, /* update an active alert, never create one */
    ALERT_POST,    /* same as Upd */
};

enum alert_text {
    ALERT_MSG,
    ALERT_LONGMSG,
    ALERT_CONTACT,
    ALERT_OWNER,
    ALERT_TICKET,
    ALERT_FLAVOR,
    ALERT_ORIGIN,
    ALERT_ISSUE_NUM,
    ALERT_ITEM_NUM,
    ALERT_TEXT_COUNT
};

/* Numbers and booleans (booleans hold 0 or 1). */
enum alert_num {
    ALERT_SEVERITY,
    ALERT_COUNT,
    ALERT_INCREMENT,
    ALERT_START_TIME,
    ALERT_AUTOCLEAR,
    ALERT_SEQ,
    ALERT_TTL,
    ALERT_NUM_COUNT
};

enum alert_num_kind { ALERT_KIND_INT, ALERT_KIND_BOOL };

struct alert_text_info {
    const char *element; /* wire element name; ProxD attributes are the same, lower-cased */
    const char *json;    /* key in the change JSON */
};

struct alert_num_info {
    const char *element;
    const char *json;
    enum alert_num_kind kind;
    int64_t min, max; /* accepted range for ALERT_KIND_INT */
};

extern const struct alert_text_info alert_text_info[ALERT_TEXT_COUNT];
extern const struct alert_num_info alert_num_info[ALERT_NUM_COUNT];

struct alert_extra {
    const char *name;
    const char *value;
};

struct alert {
    enum alert_action action;
    const char *host; /* never NULL nor empty in an alert the parser returns */
    const char *component;
    uint32_t host_len, component_len;
    const char *text[ALERT_TEXT_COUNT]; /* NULL when absent; "" when sent empty (<Owner/>) */
    uint32_t text_len[ALERT_TEXT_COUNT];
    int64_t num[ALERT_NUM_COUNT]; /* meaningful only where num_present has the bit */
    uint32_t num_present;         /* bit (1u << enum alert_num) */
    uint32_t n_extra;
    struct alert_extra extra[ALERT_EXTRA_MAX];
};

static inline bool alert_has_num(const struct alert *a, enum alert_num f)
{
    return (a->num_present >> f) & 1u;
}

static inline void alert_set_num(struct alert *a, enum alert_num f, int64_t v)
{
    a->num[f] = v;
    a->num_present |= 1u << f;
}

/* Parse an action name (case-insensitive, surrounding blanks not allowed).
 * Returns 0 and sets *out, or -EINVAL. */
int alert_action_parse(const char *s, size_t len, enum alert_action *out);

/* Length of the UTF-8 sequence starting at s (avail bytes there), or 0 when it is not
 * valid UTF-8: overlong forms, surrogates and values past U+10FFFF are invalid. ASCII is 1. */
size_t alert_utf8_len(const unsigned char *s, size_t avail);

/* Whether s[0..n) is valid UTF-8. */
bool alert_utf8_valid(const char *s, size_t n);

/* Whether the UTF-8 character at s (valid, NUL-terminated) is one that moves or breaks the
 * text around it where it is shown: the bidirectional marks, embeddings, overrides and
 * isolates (U+061C, U+200E-U+200F, U+202A-U+202E, U+2066-U+2069: "a\u202eb" shows the rest
 * of a table's row reversed) and the line and paragraph separators (U+2028, U+2029).
 * Returns its length in bytes (2 or 3), or 0. */
static inline size_t alert_reordering_char(const unsigned char *s)
{
    if (s[0] == 0xD8 && s[1] == 0x9C)
        return 2;
    if (s[0] != 0xE2)
        return 0;
    if ((s[1] == 0x80 && ((s[2] >= 0x8E && s[2] <= 0x8F) || (s[2] >= 0xA8 && s[2] <= 0xAE))) ||
        (s[1] == 0x81 && s[2] >= 0xA6 && s[2] <= 0xA9))
        return 3;
    return 0;
}

/* Whether s (NUL-terminated, UTF-8) holds a control character: C0, DEL or C1 (U+0080-U+009F,
 * 0xC2 0x80-0x9F in UTF-8: U+009B is a terminal's CSI), or one that reorders or breaks the
 * text (alert_reordering_char); with lines, a newline or a tab is fine. What a person
 * writes into an acknowledgement (author: no lines; comment: lines), checked by the
 * collector and, before asking, by injector-ctl. */
bool alert_text_has_control(const char *s, bool lines);

/* Whether s[0..n) is all ASCII (so valid UTF-8): values nearly always are, and this is the
 * check that runs per value. The bytes are ORed a word at a time, the last word overlapping
 * rather than a byte loop for the tail, and tested once. */
static inline bool alert_ascii(const char *s, size_t n)
{
    uint64_t acc = 0, w;
    uint32_t h;
    if (n >= 8) {
        for (size_t i = 0; i + 8 <= n; i += 8) {
            memcpy(&w, s + i, 8);
            acc |= w;
        }
        memcpy(&w, s + n - 8, 8);
        return ((acc | w) & UINT64_C(0x8080808080808080)) == 0;
    }
    if (n >= 4) {
        memcpy(&h, s, 4);
        acc = h;
        memcpy(&h, s + n - 4, 4);
        return ((acc | h) & 0x80808080u) == 0;
    }
    for (size_t i = 0; i < n; i++)
        acc |= (unsigned char)s[i];
    return (acc & 0x80) == 0;
}

/* Whether s (len bytes) is word, ASCII case-insensitively; word is lower-case letters
 * only, so setting bit 0x20 of each byte (upper to lower case) is an exact compare. */
static inline bool alert_same_word(const char *s, size_t len, const char *word)
{
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] | 0x20) != (unsigned char)word[i])
            return false;
    return word[len] == '\0';
}

/* Values and keys are short: for up to 16 bytes, two overlapping word loads or moves
 * instead of a call to memcmp or memcpy (a tenth of the state table's cost for a
 * duplicate; the parser's arena copies every value this way). */
static inline bool alert_same_bytes(const char *a, const char *b, size_t n)
{
    uint64_t x, y, u, v;
    if (n >= 8 && n <= 16) {
        memcpy(&x, a, 8);
        memcpy(&y, b, 8);
        memcpy(&u, a + n - 8, 8);
        memcpy(&v, b + n - 8, 8);
        return ((x ^ y) | (u ^ v)) == 0;
    }
    if (n >= 4 && n < 8) {
        uint32_t p, q, r, t;
        memcpy(&p, a, 4);
        memcpy(&q, b, 4);
        memcpy(&r, a + n - 4, 4);
        memcpy(&t, b + n - 4, 4);
        return ((p ^ q) | (r ^ t)) == 0;
    }
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (a[i] != b[i])
                return false;
        return true;
    }
    return memcmp(a, b, n) == 0;
}

/* Copy n bytes (not overlapping), as alert_same_bytes compares them. */
static inline void alert_copy_bytes(char *d, const char *s, size_t n)
{
    if (n >= 8 && n <= 16) {
        uint64_t x, y;
        memcpy(&x, s, 8);
        memcpy(&y, s + n - 8, 8);
        memcpy(d, &x, 8);
        memcpy(d + n - 8, &y, 8);
    } else if (n >= 4 && n < 8) {
        uint32_t x, y;
        memcpy(&x, s, 4);
        memcpy(&y, s + n - 4, 4);
        memcpy(d, &x, 4);
        memcpy(d + n - 4, &y, 4);
    } else if (n < 4) {
        for (size_t i = 0; i < n; i++)
            d[i] = s[i];
    } else {
        memcpy(d, s, n);
    }
}

/* How the parser reads numbers and booleans, shared with the tools so that a client refuses
 * exactly what the collector would (blanks around the value are trimmed before).
 * A boolean: 1/0, true/false, yes/no, case-insensitively. */
static inline bool alert_parse_bool(const char *s, size_t len, int64_t *out)
{
    int v = -1;
    switch (len) {
    case 1:
        v = s[0] == '1' ? 1 : s[0] == '0' ? 0 : -1;
        break;
    case 2:
        v = alert_same_word(s, len, "no") ? 0 : -1;
        break;
    case 3:
        v = alert_same_word(s, len, "yes") ? 1 : -1;
        break;
    case 4:
        v = alert_same_word(s, len, "true") ? 1 : -1;
        break;
    case 5:
        v = alert_same_word(s, len, "false") ? 0 : -1;
        break;
    }
    if (v < 0)
        return false;
    *out = v;
    return true;
}

/* A decimal integer with an optional sign, nothing else (blanks are trimmed before), within
 * [min, max]: what strtoll accepted here, without its locale and errno round trip. Every
 * range in alert_num_info lies within +-10^18, so past leading zeros a number of more than
 * 18 digits is out of range, and 18 digits cannot overflow the accumulator. */
static inline bool alert_parse_int(const char *s, size_t len, int64_t min, int64_t max,
                                   int64_t *out)
{
    size_t i = 0;
    bool neg = false;
    if (len > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == len)
        return false;
    if (len - i > 18) {
        while (i + 1 < len && s[i] == '0')
            i++;
        if (len - i > 18)
            return false;
    }
    uint64_t v = 0;
    for (; i < len; i++) {
        unsigned d = (unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        v = v * 10 + d;
    }
    int64_t x = neg ? -(int64_t)v : (int64_t)v;
    if (x < min || x > max)
        return false;
    *out = x;
    return true;
}

/* The value of field f as the parser reads it: an integer in f's range, or a boolean. */
static inline bool alert_num_parse(enum alert_num f, const char *s, size_t len, int64_t *out)
{
    const struct alert_num_info *ni = &alert_num_info[f];
    return ni->kind == ALERT_KIND_BOOL ? alert_parse_bool(s, len, out)
                                       : alert_parse_int(s, len, ni->min, ni->max, out);
}

/* Reset every field to absent (host/component NULL, no extras). */
void alert_clear(struct alert *a);

/* A duration as the collector takes them, in its settings and for a TTL on a tool's command
 * line: whole seconds ("60") or a whole number with ms, s, m or h ("100ms", "1h"), nothing
 * else. Returns 0 and *ms, or -EINVAL. */
int alert_parse_duration(const char *s, uint64_t *ms);

#endif
