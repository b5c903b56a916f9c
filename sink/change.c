/* change.c - outcome names and the JSON encoding of a change. */
#include "sink/change.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

static const char *const outcome_names[CHANGE_OUTCOME_COUNT] = {
    [CHANGE_RAISE] = "raise",
    [CHANGE_UPDATE] = "update",
    [CHANGE_CLEAR] = "clear",
    [CHANGE_EXPIRE] = "expire",
    [CHANGE_DUPLICATE] = "duplicate",
    [CHANGE_REDUNDANT_CLEAR] = "redundant_clear",
    [CHANGE_UPDONLY_MISS] = "updonly_miss",
    [CHANGE_ACK] = "ack",
    [CHANGE_UNACK] = "unack",
};

const char *change_outcome_name(enum change_outcome outcome)
{
    if ((unsigned)outcome >= CHANGE_OUTCOME_COUNT)
        return "?";
    return outcome_names[outcome];
}

bool change_outcome_forwarded(enum change_outcome outcome)
{
    return outcome == CHANGE_RAISE || outcome == CHANGE_UPDATE || outcome == CHANGE_CLEAR ||
           outcome == CHANGE_EXPIRE || outcome == CHANGE_ACK || outcome == CHANGE_UNACK;
}

/* Encoding is written out here rather than built as a jansson tree: jansson's encoder
 * costs ~5 us per change on this machine (a tree of ~20 allocations, then a dump), more
 * than three times the whole parse, which capped the collector near 180,000 changes/s.
 * This writer does the same in a reused buffer with no allocation. What makes JSON
 * right is small and fixed: keys are ASCII constants (or XML names, escaped like
 * values), strings are escaped per RFC 8259 and checked to be UTF-8, integers are
 * decimal. jansson stays for every decode, and the tests decode every encoding with it. */

static int reserve(struct change_json *out, size_t more)
{
    if (out->len + more + 1 <= out->cap)
        return 0;
    size_t cap = out->cap ? out->cap : 1024;
    while (cap < out->len + more + 1)
        cap *= 2;
    char *b = realloc(out->buf, cap);
    if (b == NULL)
        return -ENOMEM;
    out->buf = b;
    out->cap = cap;
    return 0;
}

static int put(struct change_json *out, const char *s, size_t n)
{
    if (reserve(out, n) != 0)
        return -ENOMEM;
    memcpy(out->buf + out->len, s, n);
    out->len += n;
    return 0;
}

/* A JSON string: quotes, escapes for '"', '\\' and control characters (C0, DEL, C1), UTF-8
 * checked. */
static int put_str(struct change_json *out, const char *str, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str;
    /* Worst case every byte becomes \u00XX. */
    if (reserve(out, 6 * n + 2) != 0)
        return -ENOMEM;
    char *p = out->buf + out->len;
    *p++ = '"';
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c >= 0x80) {
            size_t k = alert_utf8_len(s + i, n - i);
            if (k == 0)
                return -EINVAL;
            /* A C1 control (U+0080-U+009F) escaped as C0 and DEL are: no terminal that
             * shows the line obeys it (U+009B is CSI). k == 2 here: s[i + 1] exists. */
            if (c == 0xc2 && s[i + 1] < 0xa0) {
                memcpy(p, "\\u00", 4);
                p[4] = hex[s[i + 1] >> 4];
                p[5] = hex[s[i + 1] & 15];
                p += 6;
                i += 2;
                continue;
            }
            memcpy(p, s + i, k);
            p += k;
            i += k;
            continue;
        }
        if (c == '"' || c == '\\') {
            *p++ = '\\';
            *p++ = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            *p++ = '\\';
            switch (c) {
            case '\n':
                *p++ = 'n';
                break;
            case '\t':
                *p++ = 't';
                break;
            case '\r':
                *p++ = 'r';
                break;
            case '\b':
                *p++ = 'b';
                break;
            case '\f':
                *p++ = 'f';
                break;
            default:
                *p++ = 'u';
                *p++ = '0';
                *p++ = '0';
                *p++ = hex[c >> 4];
                *p++ = hex[c & 15];
            }
        } else {
            *p++ = (char)c;
        }
        i++;
    }
    *p++ = '"';
    out->len = (size_t)(p - out->buf);
    return 0;
}

static int put_int(struct change_json *out, int64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
    do {
        *--p = (char)('0' + u % 10);
        u /= 10;
    } while (u != 0);
    if (v < 0)
        *--p = '-';
    return put(out, p, (size_t)(tmp + sizeof(tmp) - p));
}

/* ,"key": */
static int put_key(struct change_json *out, const char *key, bool first)
{
    size_t n = strlen(key);
    if (reserve(out, n + 4) != 0)
        return -ENOMEM;
    char *p = out->buf + out->len;
    if (!first)
        *p++ = ',';
    *p++ = '"';
    memcpy(p, key, n);
    p += n;
    *p++ = '"';
    *p++ = ':';
    out->len = (size_t)(p - out->buf);
    return 0;
}

/* Seconds-resolution part of the time, formatted once per second. */
struct time_cache {
    int64_t sec;
    char text[24];
};

static _Thread_local struct time_cache time_cache = {.sec = -1};

int change_routing_key(const struct change *c, char *buf, size_t size)
{
    /* Built by hand: snprintf cost ~1,300 instructions a change on the loop thread. */
    const struct alert *al = c->alert;
    const char *name = change_outcome_name(c->outcome);
    char sev[24], *p = sev + sizeof(sev);
    size_t nlen = strlen(name), slen;
    if (alert_has_num(al, ALERT_SEVERITY)) {
        int64_t v = al->num[ALERT_SEVERITY];
        uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
        do {
            *--p = (char)('0' + u % 10);
            u /= 10;
        } while (u != 0);
        if (v < 0)
            *--p = '-';
        slen = (size_t)(sev + sizeof(sev) - p);
    } else {
        p = "none";
        slen = 4;
    }
    size_t total = nlen + 1 + slen + 1 + al->host_len;
    if (size > 0) {
        char tmp[ALERT_KEY_MAX + 64];
        char *d = total < size && total < sizeof(tmp) ? buf : tmp;
        if (total < sizeof(tmp)) {
            memcpy(d, name, nlen);
            d[nlen] = '.';
            memcpy(d + nlen + 1, p, slen);
            d[nlen + 1 + slen] = '.';
            memcpy(d + nlen + 2 + slen, al->host, al->host_len);
            d[total] = '\0';
            if (d == tmp) {
                memcpy(buf, tmp, size - 1);
                buf[size - 1] = '\0';
            }
        } else {
            buf[0] = '\0';
        }
    }
    return (int)total;
}

int64_t change_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

char *change_format_time(int64_t ms, char *buf, size_t size)
{
    int64_t sec = ms / 1000;
    if (sec != time_cache.sec) {
        time_t t = (time_t)sec;
        struct tm tm;
        gmtime_r(&t, &tm);
        strftime(time_cache.text, sizeof(time_cache.text), "%Y-%m-%dT%H:%M:%S", &tm);
        time_cache.sec = sec;
    }
    int msec = (int)(ms % 1000);
    snprintf(buf, size, "%s.%c%c%cZ", time_cache.text, '0' + msec / 100, '0' + msec / 10 % 10,
             '0' + msec % 10);
    return buf;
}

#define TRY(x)                                                                                     \
    do {                                                                                           \
        if ((rc = (x)) != 0)                                                                       \
            goto fail;                                                                             \
    } while (0)

/* host, component and every field the alert has, each preceded by a comma. */
static int put_alert_fields(struct change_json *out, const struct alert *a)
{
    int rc;
    TRY(put_key(out, "host", false));
    TRY(put_str(out, a->host, a->host_len));
    TRY(put_key(out, "component", false));
    TRY(put_str(out, a->component, a->component_len));
    if (alert_has_num(a, ALERT_SEVERITY)) {
        TRY(put_key(out, "severity", false));
        TRY(put_int(out, a->num[ALERT_SEVERITY]));
    }
    for (int i = 0; i < ALERT_TEXT_COUNT; i++) {
        if (a->text[i] == NULL)
            continue;
        TRY(put_key(out, alert_text_info[i].json, false));
        TRY(put_str(out, a->text[i], a->text_len[i]));
    }
    for (int i = 0; i < ALERT_NUM_COUNT; i++) {
        if (i == ALERT_SEVERITY || !alert_has_num(a, (enum alert_num)i))
            continue;
        TRY(put_key(out, alert_num_info[i].json, false));
        if (alert_num_info[i].kind == ALERT_KIND_BOOL)
            TRY(a->num[i] ? put(out, "true", 4) : put(out, "false", 5));
        else
            TRY(put_int(out, a->num[i]));
    }
    if (a->n_extra > 0) {
        TRY(put_key(out, "extra", false));
        for (uint32_t i = 0; i < a->n_extra; i++) {
            TRY(put(out, i == 0 ? "{" : ",", 1));
            TRY(put_str(out, a->extra[i].name, strlen(a->extra[i].name)));
            TRY(put(out, ":", 1));
            TRY(put_str(out, a->extra[i].value, strlen(a->extra[i].value)));
        }
        TRY(put(out, "}", 1));
    }
    return 0;
fail:
    return rc;
}

static int put_time(struct change_json *out, const char *key, int64_t ms)
{
    char t[32];
    change_format_time(ms, t, sizeof(t));
    int rc = put_key(out, key, false);
    return rc != 0 ? rc : put_str(out, t, strlen(t));
}

/* ,"ack":{"author":..,"comment":..,"at":..[,"expires":..][,"severity":N|null]} */
static int put_ack(struct change_json *out, const struct change_ack *ack, bool stored)
{
    int rc;
    TRY(put_key(out, "ack", false));
    TRY(put(out, "{", 1));
    TRY(put_key(out, "author", true));
    TRY(put_str(out, ack->author, strlen(ack->author)));
    TRY(put_key(out, "comment", false));
    TRY(put_str(out, ack->comment, strlen(ack->comment)));
    TRY(put_time(out, "at", ack->at_ms));
    if (ack->expires_ms != 0)
        TRY(put_time(out, "expires", ack->expires_ms));
    /* Stored: null when the alert had no severity, so that reading it back does not take
     * the severity the alert has by then (what a missing key means: a change line's ack). */
    if (stored) {
        TRY(put_key(out, "severity", false));
        TRY(ack->has_severity ? put_int(out, ack->severity) : put(out, "null", 4));
    }
    TRY(put(out, "}", 1));
    return 0;
fail:
    return rc;
}

/* ,"unack":{["author":..,]"reason":..} */
static int put_unack(struct change_json *out, const struct change_unack *u)
{
    int rc;
    const char *reason = u->reason != NULL ? u->reason : "taken back";
    TRY(put_key(out, "unack", false));
    TRY(put(out, "{", 1));
    if (u->author != NULL) {
        TRY(put_key(out, "author", true));
        TRY(put_str(out, u->author, strlen(u->author)));
    }
    TRY(put_key(out, "reason", u->author == NULL));
    TRY(put_str(out, reason, strlen(reason)));
    TRY(put(out, "}", 1));
    return 0;
fail:
    return rc;
}

int change_json_encode(struct change_json *out, const struct change *c)
{
    const char *outcome = change_outcome_name(c->outcome);
    int rc;
    out->len = 0;

    TRY(put(out, "{", 1));
    TRY(put_key(out, "outcome", true));
    TRY(put_str(out, outcome, strlen(outcome)));
    TRY(put_key(out, "version", false));
    TRY(put_int(out, (int64_t)c->version));
    if (c->collector != NULL) {
        TRY(put_key(out, "collector", false));
        TRY(put_str(out, c->collector, strlen(c->collector)));
    }
    if (c->epoch != 0) {
        char hex[17];
        snprintf(hex, sizeof(hex), "%016" PRIx64, c->epoch);
        TRY(put_key(out, "epoch", false));
        TRY(put_str(out, hex, 16));
    }
    if (c->received_ms != 0)
        TRY(put_time(out, "received", c->received_ms));
    if (c->sender != NULL) {
        TRY(put_key(out, "sender", false));
        TRY(put_str(out, c->sender, strlen(c->sender)));
    }
    TRY(put_alert_fields(out, c->alert));
    if (c->ack != NULL)
        TRY(put_ack(out, c->ack, false));
    if (c->unack != NULL)
        TRY(put_unack(out, c->unack));
    TRY(put(out, "}", 1));
    out->buf[out->len] = '\0'; /* reserve() always leaves room for it */
    return 0;
fail:
    out->len = 0;
    if (out->buf != NULL)
        out->buf[0] = '\0';
    return rc;
}

/* One alert object, appended: version, then the times (ISO text for the API, numbers with
 * the expiry deadline for a snapshot), then its fields. Out is left whole on failure. */
static int append_object(struct change_json *out, const struct alert *a, uint64_t version,
                         int64_t first_seen_ms, int64_t last_seen_ms, int64_t expires_ms,
                         const char *sender, const struct change_ack *ack, bool stored)
{
    size_t start = out->len;
    int rc;
    TRY(put(out, "{", 1));
    TRY(put_key(out, "version", true));
    TRY(put_int(out, (int64_t)version));
    if (stored) {
        TRY(put_key(out, "first_seen_ms", false));
        TRY(put_int(out, first_seen_ms));
        TRY(put_key(out, "last_seen_ms", false));
        TRY(put_int(out, last_seen_ms));
        TRY(put_key(out, "expires_ms", false));
        TRY(put_int(out, expires_ms));
    } else {
        TRY(put_time(out, "first_seen", first_seen_ms));
        TRY(put_time(out, "last_seen", last_seen_ms));
    }
    TRY(put_alert_fields(out, a));
    if (ack != NULL)
        TRY(put_ack(out, ack, stored));
    if (sender != NULL) {
        TRY(put_key(out, "sender", false));
        TRY(put_str(out, sender, strlen(sender)));
    } else if (!stored) {
        TRY(put(out, ",\"sender\":null", 14));
    }
    TRY(put(out, "}", 1));
    out->buf[out->len] = '\0';
    return 0;
fail:
    out->len = start;
    if (out->buf != NULL)
        out->buf[out->len] = '\0';
    return rc;
}

int change_json_append_alert(struct change_json *out, const struct alert *a, uint64_t version,
                             int64_t first_seen_ms, int64_t last_seen_ms, const char *sender,
                             const struct change_ack *ack)
{
    return append_object(out, a, version, first_seen_ms, last_seen_ms, 0, sender, ack, false);
}

int change_json_append_stored(struct change_json *out, const struct alert *a, uint64_t version,
                              int64_t first_seen_ms, int64_t last_seen_ms, int64_t expires_ms,
                              const char *sender, const struct change_ack *ack)
{
    return append_object(out, a, version, first_seen_ms, last_seen_ms, expires_ms, sender, ack,
                         true);
}

/* Copy a JSON string into the arena; NULL when the arena is full (sized for the line). */
static const char *arena_copy(struct alert_json *a, size_t *used, json_t *v, uint32_t *len)
{
    const char *s = json_string_value(v);
    size_t n = json_string_length(v);
    if (s == NULL || *used + n + 1 > a->cap)
        return NULL;
    char *dst = a->arena + *used;
    memcpy(dst, s, n);
    dst[n] = '\0';
    *used += n + 1;
    if (len != NULL)
        *len = (uint32_t)n;
    return dst;
}

/* The "ack" object of a stored alert or a change line (absent: out->ack NULL). */
static int decode_ack(json_t *o, size_t *used, struct alert_json *out)
{
    struct change_ack *k = &out->ack_buf;
    out->ack = NULL;
    if (o == NULL)
        return 0;
    json_t *sev = json_object_get(o, "severity");
    const char *expires = json_string_value(json_object_get(o, "expires"));
    *k = (struct change_ack){0};
    if (!json_is_object(o) ||
        (k->author = arena_copy(out, used, json_object_get(o, "author"), NULL)) == NULL ||
        (k->comment = arena_copy(out, used, json_object_get(o, "comment"), NULL)) == NULL ||
        change_parse_time(json_string_value(json_object_get(o, "at")), &k->at_ms) != 0 ||
        (expires != NULL && change_parse_time(expires, &k->expires_ms) != 0) ||
        (sev != NULL && !json_is_integer(sev) && !json_is_null(sev)))
        return -EBADMSG;
    k->has_severity = json_is_integer(sev);
    k->no_severity = json_is_null(sev);
    k->severity = json_integer_value(sev);
    out->ack = k;
    return 0;
}

/* The fields common to a stored alert and a change; o is the parsed object. */
static int decode_alert(json_t *o, size_t len, struct alert_json *out)
{
    /* Decoded strings are never longer than the text that holds them. */
    if (out->cap < len + 1) {
        char *b = realloc(out->arena, len + 1);
        if (b == NULL)
            return -ENOMEM;
        out->arena = b;
        out->cap = len + 1;
    }
    if (!json_is_object(o))
        return -EBADMSG;
    struct alert *a = &out->alert;
    size_t used = 0;
    alert_clear(a);
    json_t *v = json_object_get(o, "version");
    if (!json_is_integer(v) || json_integer_value(v) < 0)
        return -EBADMSG;
    out->version = (uint64_t)json_integer_value(v);
    out->first_seen_ms = json_integer_value(json_object_get(o, "first_seen_ms"));
    out->last_seen_ms = json_integer_value(json_object_get(o, "last_seen_ms"));
    out->expires_ms = json_integer_value(json_object_get(o, "expires_ms"));
    /* Absent in snapshots written before alerts kept their sender: then unknown. */
    json_t *sender = json_object_get(o, "sender");
    out->sender = json_is_string(sender) ? arena_copy(out, &used, sender, NULL) : NULL;
    a->host = arena_copy(out, &used, json_object_get(o, "host"), &a->host_len);
    a->component = arena_copy(out, &used, json_object_get(o, "component"), &a->component_len);
    if (a->host == NULL || a->component == NULL || a->host_len == 0 || a->component_len == 0 ||
        a->host_len > ALERT_KEY_MAX || a->component_len > ALERT_KEY_MAX)
        return -EBADMSG;
    for (int i = 0; i < ALERT_TEXT_COUNT; i++) {
        json_t *t = json_object_get(o, alert_text_info[i].json);
        if (t != NULL && (a->text[i] = arena_copy(out, &used, t, &a->text_len[i])) == NULL)
            return -EBADMSG;
    }
    for (int i = 0; i < ALERT_NUM_COUNT; i++) {
        json_t *n = json_object_get(o, alert_num_info[i].json);
        if (n == NULL)
            continue;
        if (json_is_boolean(n))
            alert_set_num(a, (enum alert_num)i, json_is_true(n));
        else if (json_is_integer(n))
            alert_set_num(a, (enum alert_num)i, json_integer_value(n));
        else
            return -EBADMSG;
    }
    json_t *extra = json_object_get(o, "extra");
    const char *key;
    json_t *val;
    json_object_foreach(extra, key, val)
    {
        if (a->n_extra >= ALERT_EXTRA_MAX)
            break;
        json_t *k = json_string(key);
        const char *name = k ? arena_copy(out, &used, k, NULL) : NULL;
        json_decref(k);
        const char *value = arena_copy(out, &used, val, NULL);
        if (name == NULL || value == NULL)
            return -EBADMSG;
        a->extra[a->n_extra++] = (struct alert_extra){name, value};
    }
    return decode_ack(json_object_get(o, "ack"), &used, out);
}

int change_json_decode_stored(const char *text, size_t len, struct alert_json *out)
{
    json_error_t err;
    json_t *o = json_loadb(text, len, 0, &err);
    int rc = decode_alert(o, len, out);
    json_decref(o);
    return rc;
}

int change_parse_time(const char *s, int64_t *ms)
{
    struct tm tm = {0};
    int millis = 0, n = 0;
    if (s == NULL ||
        sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%3dZ%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
               &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &millis, &n) != 7 ||
        s[n] != '\0')
        return -EBADMSG;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    *ms = (int64_t)timegm(&tm) * 1000 + millis;
    return 0;
}

int change_json_decode_change(const char *text, size_t len, struct alert_json *out,
                              enum change_outcome *outcome, int64_t *received_ms)
{
    json_error_t err;
    json_t *o = json_loadb(text, len, 0, &err);
    int rc = decode_alert(o, len, out);
    const char *name = json_string_value(json_object_get(o, "outcome"));
    *received_ms = 0;
    if (rc == 0) {
        rc = -EBADMSG;
        for (int i = 0; name != NULL && i < CHANGE_OUTCOME_COUNT; i++)
            if (strcmp(name, outcome_names[i]) == 0) {
                *outcome = (enum change_outcome)i;
                rc = 0;
            }
    }
    if (rc == 0 &&
        change_parse_time(json_string_value(json_object_get(o, "received")), received_ms) != 0)
        *received_ms = 0;
    json_decref(o);
    return rc;
}

void alert_json_free(struct alert_json *a)
{
    if (a == NULL)
        return;
    free(a->arena);
    a->arena = NULL;
    a->cap = 0;
}

int change_json_append(struct change_json *out, const char *s, size_t n)
{
    int rc = put(out, s, n);
    if (rc == 0)
        out->buf[out->len] = '\0';
    return rc;
}

int change_json_append_str(struct change_json *out, const char *s, size_t n)
{
    int rc = put_str(out, s, n);
    if (rc == 0)
        out->buf[out->len] = '\0';
    return rc;
}

void change_json_free(struct change_json *out)
{
    if (out == NULL)
        return;
    free(out->buf);
    out->buf = NULL;
    out->len = out->cap = 0;
}
