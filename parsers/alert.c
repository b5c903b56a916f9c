/* alert.c - field tables and small helpers for struct alert. */
#include "parsers/alert.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>

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

static const char *const action_names[] = {
    [ALERT_UPD] = "Upd",
    [ALERT_DEL] = "Del",
    [ALERT_UPDONLY] = "Updonly",
    [ALERT_POST] = "Post",
};

const char *alert_action_name(enum alert_action action)
{
    if ((unsigned)action >= sizeof(action_names) / sizeof(action_names[0]))
        return "?";
    return action_names[action];
}

int alert_action_parse(const char *s, size_t len, enum alert_action *out)
{
    for (size_t i = 0; i < sizeof(action_names) / sizeof(action_names[0]); i++) {
        if (strlen(action_names[i]) == len && strncasecmp(s, action_names[i], len) == 0) {
            *out = (enum alert_action)i;
            return 0;
        }
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
