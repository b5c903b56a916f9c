/* alert.c - field tables and small helpers for struct alert. */
#include "parsers/alert.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

const struct alert_text_info alert_text_info[ALERT_TEXT_COUNT] = {
    [ALERT_MSG] = {"Msg", "msg"},
    [ALERT_LONGMSG] = {"LongMsg", "longmsg"},
    [ALERT_CONTACT] = {"Contact", "contact"},
    [ALERT_OWNER] = {"Owner", "owner"},
    [ALERT_TICKET] = {"Ticket", "ticket"},
    [ALERT_FLAVOR] = {"Flavor", "flavor"},
    [ALERT_ORIGIN] = {"Origin", "origin"},
    [ALERT_ISSUE_NUM] = {"IssueNum", "issue_num"},
    [ALERT_ITEM_NUM] = {"ItemNum", "item_num"},
};

/* Ranges: wide enough for every value real clients send, narrow enough that
 * arithmetic on them (Count + increment, now + TTL) cannot overflow. */
const struct alert_num_info alert_num_info[ALERT_NUM_COUNT] = {
    [ALERT_SEVERITY] = {"Severity", "severity", ALERT_KIND_INT, INT32_MIN, INT32_MAX},
    [ALERT_COUNT] = {"Count", "count", ALERT_KIND_INT, 0, INT32_MAX},
    [ALERT_INCREMENT] = {"Increment", "increment", ALERT_KIND_BOOL, 0, 1},
    [ALERT_START_TIME] = {"StartTime", "start_time", ALERT_KIND_INT, 0, INT64_C(1) << 52},
    [ALERT_AUTOCLEAR] = {"AutoClear", "autoclear", ALERT_KIND_BOOL, 0, 1},
    [ALERT_SEQ] = {"Seq", "seq", ALERT_KIND_INT, 0, INT64_C(1) << 53},
    [ALERT_TTL] = {"TTL", "ttl", ALERT_KIND_INT, 0, 10LL * 366 * 24 * 3600},
};

int alert_action_parse(const char *s, size_t len, enum alert_action *out)
{
    /* By length first: one compare instead of a scan of every name. */
    switch (len) {
    case 3:
        if (alert_same_word(s, 3, "upd")) {
            *out = ALERT_UPD;
            return 0;
        }
        if (alert_same_word(s, 3, "del")) {
            *out = ALERT_DEL;
            return 0;
        }
        return -EINVAL;
    case 4:
        if (!alert_same_word(s, 4, "post"))
            return -EINVAL;
        *out = ALERT_POST;
        return 0;
    case 7:
        if (!alert_same_word(s, 7, "updonly"))
            return -EINVAL;
        *out = ALERT_UPDONLY;
        return 0;
    }
    return -EINVAL;
}

void alert_clear(struct alert *a)
{
    /* Only the fields a reader looks at before checking presence need resetting;
     * num[] is guarded by num_present and extra[] by n_extra. */
    a->action = ALERT_UPD;
    a->host = a->component = NULL;
    a->host_len = a->component_len = 0;
    memset(a->text, 0, sizeof(a->text));
    memset(a->text_len, 0, sizeof(a->text_len));
    a->num_present = 0;
    a->n_extra = 0;
}

size_t alert_utf8_len(const unsigned char *s, size_t avail)
{
    unsigned char c = s[0];
    size_t n;
    uint32_t cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1f;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07;
    } else {
        return 0; /* continuation byte, C0/C1 (overlong), or past F4 */
    }
    if (n > avail)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

bool alert_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (alert_ascii(s, n))
        return true;
    for (size_t i = 0; i < n;) {
        if (p[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = alert_utf8_len(p + i, n - i);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

bool alert_text_has_control(const char *s, bool lines)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
        if (*p < 0x20 && !(lines && (*p == '\n' || *p == '\t')))
            return true;
        if (*p == 0x7f || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) ||
            alert_reordering_char(p) != 0)
            return true;
    }
    return false;
}

int alert_parse_duration(const char *s, uint64_t *ms)
{
    static const struct {
        const char *suffix;
        uint64_t ms;
    } units[] = {{"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60000}, {"h", 3600000}};
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -EINVAL;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -EINVAL;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcmp(p, units[i].suffix) == 0) {
            if (v > UINT64_MAX / units[i].ms)
                return -EINVAL;
            *ms = v * units[i].ms;
            return 0;
        }
    }
    return -EINVAL;
}
