/* change.c - outcome names and the JSON encoding of a change. */
#include "sink/change.h"

#include <errno.h>
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
           outcome == CHANGE_EXPIRE;
}

char *change_format_time(int64_t ms, char *buf, size_t size)
{
    time_t secs = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(buf, size, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, size - n, ".%03dZ", (int)(ms % 1000));
    return buf;
}

/* json_object_set_new steals the value even on failure, so a NULL from a constructor
 * just makes the whole encode fail below; nothing leaks. */
static int set(json_t *obj, const char *key, json_t *value)
{
    return json_object_set_new_nocheck(obj, key, value);
}

static json_t *build(const struct change *c)
{
    const struct alert *a = c->alert;
    json_t *o = json_object();
    int rc = 0;
    if (o == NULL)
        return NULL;

    rc |= set(o, "outcome", json_string(change_outcome_name(c->outcome)));
    rc |= set(o, "version", json_integer((json_int_t)c->version));
    if (c->collector != NULL)
        rc |= set(o, "collector", json_string(c->collector));
    if (c->received_ms != 0) {
        char t[32];
        rc |= set(o, "received", json_string(change_format_time(c->received_ms, t, sizeof(t))));
    }
    if (c->sender != NULL)
        rc |= set(o, "sender", json_string(c->sender));
    /* Strings come from libxml2, which hands over only valid UTF-8; json_stringn checks
     * anyway, and a NULL here fails the encode rather than emitting bad JSON. */
    rc |= set(o, "host", json_stringn(a->host, a->host_len));
    rc |= set(o, "component", json_stringn(a->component, a->component_len));
    if (alert_has_num(a, ALERT_SEVERITY))
        rc |= set(o, "severity", json_integer(a->num[ALERT_SEVERITY]));
    for (int i = 0; i < ALERT_TEXT_COUNT; i++)
        if (a->text[i] != NULL)
            rc |= set(o, alert_text_info[i].json, json_stringn(a->text[i], a->text_len[i]));
    for (int i = 0; i < ALERT_NUM_COUNT; i++) {
        if (i == ALERT_SEVERITY || !alert_has_num(a, (enum alert_num)i))
            continue;
        json_t *v = alert_num_info[i].kind == ALERT_KIND_BOOL ? json_boolean(a->num[i])
                                                              : json_integer(a->num[i]);
        rc |= set(o, alert_num_info[i].json, v);
    }
    if (a->n_extra > 0) {
        json_t *x = json_object();
        for (uint32_t i = 0; x != NULL && i < a->n_extra; i++)
            rc |= json_object_set_new(x, a->extra[i].name, json_string(a->extra[i].value));
        rc |= set(o, "extra", x);
    }
    if (rc != 0) {
        json_decref(o);
        return NULL;
    }
    return o;
}

int change_json_encode(struct change_json *out, const struct change *c)
{
    json_t *o = build(c);
    if (o == NULL)
        return -EINVAL;
    int rc = 0;
    for (;;) {
        size_t n = json_dumpb(o, out->buf, out->cap, JSON_COMPACT);
        if (n == 0) {
            rc = -ENOMEM;
            break;
        }
        if (n < out->cap) { /* room for the NUL as well */
            out->buf[n] = '\0';
            out->len = n;
            break;
        }
        size_t cap = out->cap ? out->cap : 1024;
        while (cap <= n)
            cap *= 2;
        char *b = realloc(out->buf, cap);
        if (b == NULL) {
            rc = -ENOMEM;
            break;
        }
        out->buf = b;
        out->cap = cap;
    }
    json_decref(o);
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
