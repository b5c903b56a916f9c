/* history.c - the ring of counter samples behind GET /v1/history. */
#include "collector/history.h"

#include "sink/change.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* The most counters one series sums. */
#define SOURCES_MAX 12

enum kind { KIND_RATE, KIND_GAUGE, KIND_FORWARDED };

/* A counter of a report: its name, and a family member's label (NULL: a plain value; "*":
 * every member). */
struct source {
    const char *name, *label;
};

struct series {
    const char *key;
    enum kind kind;
    struct source from[SOURCES_MAX];
};

#define HISTORY_DEF(key_, kind_, ...) {.key = #key_, .kind = KIND_##kind_, .from = {__VA_ARGS__}},
static const struct series series[] = {HISTORY_SERIES(HISTORY_DEF)};
#undef HISTORY_DEF
#define N_SERIES (sizeof(series) / sizeof(series[0]))

/* One stored line of numbers: a series, or one outcome of a FORWARDED one. */
struct column {
    const struct series *s;
    struct source from[SOURCES_MAX]; /* s->from, or the family member for an outcome */
    const char *label;               /* the outcome's name in a FORWARDED series, else NULL */
    double now;                      /* the sum read by this sample */
    double prev;                     /* the sum the previous sample read */
    double *v;                       /* HISTORY_POINTS values, the ring */
};

struct history {
    unsigned step_s;
    bool started; /* a first sample was taken: prev holds something */
    int64_t last_mono_ms;
    size_t head; /* the slot the next point goes to */
    size_t n;    /* points kept */
    int64_t t[HISTORY_POINTS];
    size_t n_cols;
    struct column *cols;
    double *values; /* every column's ring, one block */
};

/* Columns a series makes: one, or one per forwarded outcome. */
static size_t series_columns(const struct series *s)
{
    if (s->kind != KIND_FORWARDED)
        return 1;
    size_t n = 0;
    for (int o = 0; o < CHANGE_OUTCOME_COUNT; o++)
        n += change_outcome_forwarded((enum change_outcome)o);
    return n;
}

int history_new(const struct history_config *cfg, struct history **out)
{
    struct history *h = calloc(1, sizeof(*h));
    if (h == NULL)
        goto fail;
    h->step_s = cfg->step_s > 0 ? cfg->step_s : HISTORY_STEP_S;
    for (size_t i = 0; i < N_SERIES; i++)
        h->n_cols += series_columns(&series[i]);
    h->cols = calloc(h->n_cols, sizeof(*h->cols));
    h->values = calloc(h->n_cols * HISTORY_POINTS, sizeof(*h->values));
    if (h->cols == NULL || h->values == NULL)
        goto fail;
    struct column *c = h->cols;
    for (size_t i = 0; i < N_SERIES; i++) {
        const struct series *s = &series[i];
        if (s->kind != KIND_FORWARDED) {
            *c = (struct column){.s = s};
            memcpy(c->from, s->from, sizeof(c->from));
            c++;
            continue;
        }
        for (int o = 0; o < CHANGE_OUTCOME_COUNT; o++) {
            if (!change_outcome_forwarded((enum change_outcome)o))
                continue;
            const char *name = change_outcome_name((enum change_outcome)o);
            *c = (struct column){.s = s, .label = name};
            c->from[0] = (struct source){s->from[0].name, name};
            c++;
        }
    }
    for (size_t i = 0; i < h->n_cols; i++)
        h->cols[i].v = h->values + i * HISTORY_POINTS;
    *out = h;
    return 0;
fail:
    history_free(h);
    return -ENOMEM;
}

void history_free(struct history *h)
{
    if (h == NULL)
        return;
    free(h->values);
    free(h->cols);
    free(h);
}

/* Whether counter c is one that source s names. */
static bool names(const struct source *s, const struct counter *c)
{
    if (strcmp(s->name, c->name) != 0)
        return false;
    if (s->label == NULL || c->label == NULL)
        return s->label == c->label;
    return strcmp(s->label, "*") == 0 || strcmp(s->label, c->label) == 0;
}

/* Each counter of the report into the columns that name it. Some hundred string compares
 * per counter, a sample every few seconds: nothing next to the report itself. */
static void add(const struct counter *c, void *data)
{
    struct history *h = data;
    if (c->kind == COUNTER_INFO)
        return;
    double v = c->unit == COUNTER_UNIT_SECONDS ? c->seconds : (double)c->value;
    for (size_t i = 0; i < h->n_cols; i++) {
        struct column *col = &h->cols[i];
        for (const struct source *s = col->from; s < col->from + SOURCES_MAX && s->name; s++)
            if (names(s, c))
                col->now += v;
    }
}

static double tenths(double v)
{
    return round(v * 10.0) / 10.0;
}

void history_sample(struct history *h, const struct stats_report *r, int64_t mono_ms,
                    int64_t wall_ms)
{
    if (h->started && mono_ms <= h->last_mono_ms)
        return;
    for (size_t i = 0; i < h->n_cols; i++)
        h->cols[i].now = 0;
    stats_foreach(r, add, h);
    if (h->started) {
        double elapsed_s = (double)(mono_ms - h->last_mono_ms) / 1000.0;
        for (size_t i = 0; i < h->n_cols; i++) {
            struct column *c = &h->cols[i];
            double v = c->now;
            if (c->s->kind != KIND_GAUGE) /* a counter that went down started again from 0 */
                v = (c->now >= c->prev ? c->now - c->prev : c->now) / elapsed_s;
            c->v[h->head] = tenths(v);
        }
        /* The nearest second: a timer a few ms late still ends its step on the second. */
        h->t[h->head] = (wall_ms + 500) / 1000;
        h->head = (h->head + 1) % HISTORY_POINTS;
        if (h->n < HISTORY_POINTS)
            h->n++;
    }
    for (size_t i = 0; i < h->n_cols; i++)
        h->cols[i].prev = h->cols[i].now;
    h->last_mono_ms = mono_ms;
    h->started = true;
}

size_t history_points(const struct history *h)
{
    return h->n;
}

/* 3 as 3, 120.5 as 120.5: a chart reads both alike, a person reads the first better. */
static json_t *number(double v)
{
    if (v == floor(v) && fabs(v) < 9e15)
        return json_integer((json_int_t)v);
    return json_real(v);
}

/* A column's points, oldest first; NULL without memory. */
static json_t *column_json(const struct history *h, const struct column *c)
{
    json_t *a = json_array();
    size_t first = (h->head + HISTORY_POINTS - h->n) % HISTORY_POINTS;
    for (size_t k = 0; a != NULL && k < h->n; k++)
        if (json_array_append_new(a, number(c->v[(first + k) % HISTORY_POINTS])) != 0) {
            json_decref(a);
            a = NULL;
        }
    return a;
}

json_t *history_json(const struct history *h)
{
    json_t *o = json_object(), *t, *all;
    if (o == NULL)
        return NULL;
    /* Each set steals its value, also when it fails: o owns all of them either way. */
    if ((json_object_set_new(o, "step_seconds", json_integer(h->step_s)) |
         json_object_set_new(o, "points", json_integer((json_int_t)h->n)) |
         json_object_set_new(o, "t", t = json_array()) |
         json_object_set_new(o, "series", all = json_object())) != 0)
        goto fail;
    size_t first = (h->head + HISTORY_POINTS - h->n) % HISTORY_POINTS;
    for (size_t k = 0; k < h->n; k++)
        if (json_array_append_new(t, json_integer(h->t[(first + k) % HISTORY_POINTS])) != 0)
            goto fail;
    for (size_t i = 0; i < h->n_cols; i++) {
        const struct column *c = &h->cols[i];
        json_t *into = all;
        if (c->label != NULL) { /* an outcome: under its series' object */
            into = json_object_get(all, c->s->key);
            if (into == NULL && json_object_set_new(all, c->s->key, into = json_object()) != 0)
                goto fail;
        }
        if (json_object_set_new(into, c->label != NULL ? c->label : c->s->key, column_json(h, c)) !=
            0)
            goto fail;
    }
    return o;
fail:
    json_decref(o);
    return NULL;
}
