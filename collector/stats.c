/* stats.c - the registry walked: the stats line, /v1/stats JSON and /metrics text. */
#include "collector/stats.h"

#include <inttypes.h>
#include <math.h>
#include <string.h>

/* A family's labels, through functions that take an int (the *_name functions take their
 * own enums). */
#define STATS_LABEL_FN(name, label, count, first, label_fn, ...)                                   \
    static const char *family_label_##name(int i)                                                  \
    {                                                                                              \
        return label_fn(i);                                                                        \
    }
#define STATS_NO_FN(...)
STATS_LIST(STATS_NO_FN, STATS_LABEL_FN)

/* The registry as data: one entry per STATS_LIST line. */
struct entry {
    const char *name, *help;
    enum counter_kind kind;
    enum counter_unit unit;
    enum counter_line line;
    size_t offset;
    /* families */
    const char *label_name, *line_prefix;
    int count, first;
    const char *(*label)(int i);
};

#define STATS_ENTRY(name_, kind_, unit_, line_, help_)                                             \
    {.name = #name_,                                                                               \
     .help = help_,                                                                                \
     .kind = COUNTER_##kind_,                                                                      \
     .unit = COUNTER_UNIT_##unit_,                                                                 \
     .line = COUNTER_LINE_##line_,                                                                 \
     .offset = offsetof(struct stats, name_)},
#define STATS_FAMILY(name_, label_, count_, first_, fn_, prefix_, line_, help_)                    \
    {.name = #name_,                                                                               \
     .help = help_,                                                                                \
     .kind = COUNTER_TOTAL,                                                                        \
     .line = COUNTER_LINE_##line_,                                                                 \
     .offset = offsetof(struct stats, name_),                                                      \
     .label_name = label_,                                                                         \
     .line_prefix = prefix_,                                                                       \
     .count = count_,                                                                              \
     .first = first_,                                                                              \
     .label = family_label_##name_},
static const struct entry entries[] = {STATS_LIST(STATS_ENTRY, STATS_FAMILY)};

void stats_foreach(const struct stats_report *r, counter_fn fn, void *data)
{
    const char *base = (const char *)r->stats;
    for (size_t i = 0; i < sizeof(entries) / sizeof(entries[0]); i++) {
        const struct entry *e = &entries[i];
        struct counter c = {
            .name = e->name, .kind = e->kind, .unit = e->unit, .line = e->line, .help = e->help};
        if (e->label == NULL) {
            if (e->unit == COUNTER_UNIT_SECONDS)
                memcpy(&c.seconds, base + e->offset, sizeof(c.seconds));
            else
                memcpy(&c.value, base + e->offset, sizeof(c.value));
            fn(&c, data);
            continue;
        }
        const uint64_t *member = (const uint64_t *)(base + e->offset);
        for (int k = e->first; k < e->count; k++) {
            char token[96];
            snprintf(token, sizeof(token), "%s%s", e->line_prefix, e->label(k));
            c.label_name = e->label_name;
            c.label = e->label(k);
            c.line_name = token;
            c.value = member[k];
            fn(&c, data);
        }
    }
    for (size_t i = 0; i < r->n_sinks; i++)
        sink_counters(r->sinks[i], fn, data);
}

/* Durations with ms precision, no float noise: "16.877", "0", "5". */
static const char *format_seconds(double s, char *buf, size_t size)
{
    long long ms = llround(s * 1000.0);
    if (ms % 1000 == 0)
        snprintf(buf, size, "%lld", ms / 1000);
    else
        snprintf(buf, size, "%lld.%03lld", ms / 1000, ms % 1000 < 0 ? -(ms % 1000) : ms % 1000);
    /* "16.870" -> "16.87" */
    size_t n = strlen(buf);
    if (strchr(buf, '.') != NULL)
        while (n > 0 && buf[n - 1] == '0')
            buf[--n] = '\0';
    return buf;
}

static const char *format_value(const struct counter *c, char *buf, size_t size)
{
    if (c->kind == COUNTER_INFO)
        snprintf(buf, size, "%s", c->text ? c->text : "");
    else if (c->unit == COUNTER_UNIT_SECONDS)
        format_seconds(c->seconds, buf, size);
    else
        snprintf(buf, size, "%" PRIu64, c->value);
    return buf;
}

struct line {
    char *buf;
    size_t size;
    int n;
};

static void line_add(const struct counter *c, void *data)
{
    struct line *l = data;
    char v[256];
    if (c->line == COUNTER_LINE_NEVER || l->n < 0)
        return;
    if (c->line == COUNTER_LINE_NONZERO && c->kind != COUNTER_INFO && c->value == 0 &&
        c->seconds == 0)
        return;
    /* Past the end, only counted (as snprintf says how long the whole would be). */
    bool room = (size_t)l->n < l->size;
    int k = snprintf(room ? l->buf + l->n : NULL, room ? l->size - (size_t)l->n : 0, "%s%s=%s",
                     l->n > 0 ? " " : "", c->line_name ? c->line_name : c->name,
                     format_value(c, v, sizeof(v)));
    l->n = k < 0 ? -1 : l->n + k;
}

int stats_format_line(const struct stats_report *r, char *buf, size_t size)
{
    struct line l = {.buf = buf, .size = size, .n = 0};
    if (size > 0)
        buf[0] = '\0';
    stats_foreach(r, line_add, &l);
    return l.n;
}

struct json_ctx {
    json_t *top, *sink;
    const struct stats_report *r;
};

static void json_add(const struct counter *c, void *data)
{
    struct json_ctx *x = data;
    json_t *v;
    if (c->kind == COUNTER_INFO)
        v = json_string(c->text ? c->text : "");
    else if (c->unit == COUNTER_UNIT_SECONDS)
        v = json_real(round(c->seconds * 1000.0) / 1000.0);
    else
        v = json_integer((json_int_t)c->value);
    json_t *into = x->sink != NULL ? x->sink : x->top;
    if (c->label != NULL) {
        json_t *family = json_object_get(into, c->name);
        if (family == NULL)
            json_object_set_new(into, c->name, family = json_object());
        json_object_set_new(family, c->label, v);
    } else {
        json_object_set_new(into, c->name, v);
    }
}

void stats_json(const struct stats_report *r, json_t *o)
{
    struct stats_report own = {.stats = r->stats};
    struct json_ctx x = {.top = o};
    stats_foreach(&own, json_add, &x);
    x.sink = json_object();
    for (size_t i = 0; i < r->n_sinks; i++)
        sink_counters(r->sinks[i], json_add, &x);
    json_object_set_new(o, "sink", x.sink);
}

struct prom_ctx {
    FILE *f;
    const char *prefix;      /* "injector_" or "injector_sink_" */
    const char *last_family; /* the family whose HELP and TYPE are out */
};

/* A label value as Prometheus wants it: backslash, quote and newline escaped. */
static const char *escape_label(const char *s, char *buf, size_t size)
{
    size_t n = 0;
    for (; *s != '\0' && n + 3 < size; s++) {
        if (*s == '\\' || *s == '"' || *s == '\n')
            buf[n++] = '\\';
        buf[n++] = *s == '\n' ? 'n' : *s;
    }
    buf[n] = '\0';
    return buf;
}

static void prom_add(const struct counter *c, void *data)
{
    struct prom_ctx *x = data;
    char name[160], v[512], lbl[256];
    bool info = c->kind == COUNTER_INFO;
    snprintf(name, sizeof(name), "%s%s%s", x->prefix, c->name,
             info                       ? "_info"
             : c->kind == COUNTER_TOTAL ? "_total"
                                        : "");
    if (c->label == NULL || x->last_family == NULL || strcmp(x->last_family, c->name) != 0)
        fprintf(x->f, "# HELP %s %s\n# TYPE %s %s\n", name, c->help, name,
                c->kind == COUNTER_TOTAL ? "counter" : "gauge");
    x->last_family = c->label != NULL ? c->name : NULL;
    if (info) /* the string as a label, the value 1: Prometheus's info convention */
        fprintf(x->f, "%s{%s=\"%s\"} 1\n", name, c->name,
                escape_label(c->text ? c->text : "", v, sizeof(v)));
    else if (c->label != NULL)
        fprintf(x->f, "%s{%s=\"%s\"} %s\n", name, c->label_name,
                escape_label(c->label, lbl, sizeof(lbl)), format_value(c, v, sizeof(v)));
    else
        fprintf(x->f, "%s %s\n", name, format_value(c, v, sizeof(v)));
}

void stats_prometheus(const struct stats_report *r, FILE *f)
{
    struct stats_report own = {.stats = r->stats};
    struct prom_ctx x = {.f = f, .prefix = "injector_"};
    stats_foreach(&own, prom_add, &x);
    x.prefix = "injector_sink_";
    for (size_t i = 0; i < r->n_sinks; i++)
        sink_counters(r->sinks[i], prom_add, &x);
}
