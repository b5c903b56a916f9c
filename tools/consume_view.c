/* consume_view.c - see consume_view.h. */
#include "consume_view.h"

#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uthash.h>

#include "sink/change.h"
#include "text_table.h"

#define MAX_LOGGED_FOREIGN 16

struct source {
    char *url;
    char *id;       /* from its snapshot; NULL before the first */
    uint64_t epoch; /* version series of the snapshot */
    uint64_t version;
    uint64_t stale_epoch; /* an older series still draining from the queue */
    bool synced;
};

struct entry {
    UT_hash_handle hh;
    char *key; /* collector \0 host \0 component */
    size_t keylen;
    size_t src;
    json_t *alert; /* collector, version, [first_seen], the alert's fields */
    int64_t severity;
    bool seen;          /* resync bookkeeping */
    uint64_t drawn_gen; /* the table drawing it first appeared in (0: not drawn yet) */
};

struct view {
    struct view_config cfg;
    struct source *src;
    struct entry *entries;
    struct view_stats stats;
    bool dirty;
    bool table_stale;  /* changed since the table was last drawn */
    uint64_t draw_gen; /* table drawings after a change (view_print_table) */
    char *foreign[MAX_LOGGED_FOREIGN];
    size_t n_foreign;
};

/* The view changed: for the view file's writer, and for the table's new-row marks. */
static void mark_dirty(struct view *v)
{
    v->dirty = true;
    v->table_stale = true;
}

static void logf_(const struct view *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(const struct view *v, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (v->cfg.log != NULL)
        v->cfg.log(msg, v->cfg.data);
}

int view_new(const struct view_config *cfg, struct view **out)
{
    struct view *v = calloc(1, sizeof(*v));
    if (v == NULL || (v->src = calloc(cfg->n_urls, sizeof(*v->src))) == NULL) {
        free(v);
        return -ENOMEM;
    }
    v->cfg = *cfg;
    for (size_t i = 0; i < cfg->n_urls; i++)
        if ((v->src[i].url = strdup(cfg->urls[i])) == NULL) {
            view_free(v);
            return -ENOMEM;
        }
    *out = v;
    return 0;
}

static void entry_free(struct entry *e)
{
    json_decref(e->alert);
    free(e->key);
    free(e);
}

static void entry_delete(struct view *v, struct entry *e)
{
    HASH_DEL(v->entries, e);
    entry_free(e);
}

void view_free(struct view *v)
{
    if (v == NULL)
        return;
    struct entry *e, *tmp;
    HASH_ITER(hh, v->entries, e, tmp)
    entry_delete(v, e);
    for (size_t i = 0; i < v->cfg.n_urls; i++) {
        free(v->src[i].url);
        free(v->src[i].id);
    }
    for (size_t i = 0; i < v->n_foreign; i++)
        free(v->foreign[i]);
    free(v->src);
    free(v);
}

static uint64_t parse_epoch(json_t *o)
{
    const char *s = json_string_value(json_object_get(o, "epoch"));
    return s != NULL ? strtoull(s, NULL, 16) : 0;
}

/* key = collector \0 host \0 component, in buf (malloc'd). */
static char *make_key(const char *collector, const char *host, const char *component, size_t *len)
{
    size_t a = strlen(collector), b = strlen(host), c = strlen(component);
    char *k = malloc(a + b + c + 3);
    if (k == NULL)
        return NULL;
    memcpy(k, collector, a + 1);
    memcpy(k + a + 1, host, b + 1);
    memcpy(k + a + b + 2, component, c + 1);
    *len = a + b + c + 2;
    return k;
}

static struct entry *find(const struct view *v, const char *collector, const char *host,
                          const char *component)
{
    size_t len;
    char *k = make_key(collector, host, component, &len);
    struct entry *e = NULL;
    if (k != NULL)
        HASH_FIND(hh, v->entries, k, len, e);
    free(k);
    return e;
}

/* Put alert (a new reference is taken) under its key, replacing e, the entry the caller
 * found under that key (NULL: there is none yet). */
static int upsert(struct view *v, size_t src, json_t *alert, struct entry *e)
{
    const char *collector = json_string_value(json_object_get(alert, "collector"));
    const char *host = json_string_value(json_object_get(alert, "host"));
    const char *component = json_string_value(json_object_get(alert, "component"));
    json_t *sev = json_object_get(alert, "severity");
    if (e == NULL) {
        if ((e = calloc(1, sizeof(*e))) == NULL ||
            (e->key = make_key(collector, host, component, &e->keylen)) == NULL) {
            free(e);
            return -ENOMEM;
        }
        HASH_ADD_KEYPTR(hh, v->entries, e->key, e->keylen, e);
    } else {
        json_decref(e->alert);
    }
    e->src = src;
    e->alert = json_incref(alert);
    e->severity = json_is_integer(sev) ? (int64_t)json_integer_value(sev) : INT64_MAX;
    e->seen = true;
    mark_dirty(v);
    return 0;
}

/* The view's form of an alert: collector, version, first_seen when known, then the alert's
 * fields and its ack; never the per-delivery fields (outcome, epoch, received, sender, an
 * unack line's unack) nor last_seen (refreshes move it, and they are not changes: the
 * stream cannot keep it exact). */
static json_t *stored_form(json_t *from, const char *collector, const char *first_seen)
{
    json_t *o = json_object();
    const char *k;
    json_t *val;
    json_object_set_new(o, "collector", json_string(collector));
    json_object_set(o, "version", json_object_get(from, "version"));
    if (first_seen != NULL)
        json_object_set_new(o, "first_seen", json_string(first_seen));
    json_object_foreach(from, k, val)
    {
        if (strcmp(k, "outcome") == 0 || strcmp(k, "epoch") == 0 || strcmp(k, "received") == 0 ||
            strcmp(k, "sender") == 0 || strcmp(k, "last_seen") == 0 ||
            strcmp(k, "collector") == 0 || strcmp(k, "version") == 0 ||
            strcmp(k, "first_seen") == 0 || strcmp(k, "unack") == 0)
            continue;
        json_object_set(o, k, val);
    }
    return o;
}

static void emit_made_up(struct view *v, json_t *alert, const char *outcome)
{
    if (v->cfg.emit == NULL)
        return;
    json_t *o = json_object();
    json_object_set_new(o, "outcome", json_string(outcome));
    json_object_set_new(o, "resync", json_true());
    json_object_update(o, alert);
    char *s = json_dumps(o, JSON_COMPACT);
    if (s != NULL)
        v->cfg.emit(s, strlen(s), v->cfg.data);
    free(s);
    json_decref(o);
}

/* Replace collector i's part of the view by its snapshot; report the difference. */
static int resync(struct view *v, size_t i, bool first)
{
    struct source *s = &v->src[i];
    json_t *doc = NULL;
    char err[1024];
    if (v->cfg.fetch(s->url, &doc, err, sizeof(err), v->cfg.data) != 0) {
        if (s->synced || first)
            logf_(v,
                  "%s (will retry; its changes are dropped until then, the snapshot "
                  "covers them)",
                  err);
        s->synced = false;
        return -1;
    }
    json_t *ver = json_object_get(doc, "version");
    const char *id = json_string_value(json_object_get(doc, "collector"));
    json_t *alerts = json_object_get(doc, "alerts");
    if (!json_is_integer(ver) || id == NULL || !json_is_array(alerts)) {
        logf_(v, "%s: not a collector's /v1/alerts document (version, collector, alerts)", s->url);
        json_decref(doc);
        s->synced = false;
        return -1;
    }
    if (s->id != NULL && strcmp(s->id, id) != 0)
        logf_(v, "%s is now collector '%s' (was '%s'): its old alerts leave the view", s->url, id,
              s->id);
    for (size_t j = 0; j < v->cfg.n_urls; j++)
        if (j != i && v->src[j].id != NULL && strcmp(v->src[j].id, id) == 0)
            logf_(v,
                  "%s and %s both say they are collector '%s': give each collector its "
                  "own collector-id, or the view mixes them up",
                  s->url, v->src[j].url, id);

    struct entry *e, *tmp;
    HASH_ITER(hh, v->entries, e, tmp)
    if (e->src == i)
        e->seen = false;
    size_t idx;
    json_t *a;
    json_array_foreach(alerts, idx, a)
    {
        const char *host = json_string_value(json_object_get(a, "host"));
        const char *comp = json_string_value(json_object_get(a, "component"));
        if (host == NULL || comp == NULL)
            continue;
        struct entry *old = find(v, id, host, comp);
        if (old != NULL && old->src == i &&
            json_integer_value(json_object_get(old->alert, "version")) ==
                json_integer_value(json_object_get(a, "version"))) {
            old->seen = true; /* unchanged since we had it */
            continue;
        }
        json_t *st = stored_form(a, id, json_string_value(json_object_get(a, "first_seen")));
        upsert(v, i, st, old);
        emit_made_up(v, st, old != NULL ? "update" : "raise");
        json_decref(st);
    }
    HASH_ITER(hh, v->entries, e, tmp)
    if (e->src == i && !e->seen) {
        emit_made_up(v, e->alert, "clear");
        entry_delete(v, e);
        mark_dirty(v);
    }
    free(s->id);
    s->id = strdup(id);
    s->epoch = parse_epoch(doc);
    s->version = (uint64_t)json_integer_value(ver);
    s->synced = true;
    if (!first)
        v->stats.resyncs++;
    logf_(v, "%s: collector '%s' in step at version %" PRIu64 " (%zu active alerts)", s->url, id,
          s->version, json_array_size(alerts));
    mark_dirty(v); /* the collectors' versions are part of the view */
    json_decref(doc);
    return 0;
}

size_t view_sync(struct view *v)
{
    size_t left = 0;
    for (size_t i = 0; i < v->cfg.n_urls; i++)
        if (!v->src[i].synced && resync(v, i, v->src[i].id == NULL) != 0)
            left++;
    return left;
}

void view_resync_all(struct view *v, const char *why)
{
    logf_(v, "resynchronising every collector: %s", why);
    for (size_t i = 0; i < v->cfg.n_urls; i++)
        resync(v, i, false);
}

static struct source *source_of(struct view *v, const char *id, size_t *idx)
{
    for (size_t i = 0; i < v->cfg.n_urls; i++)
        if (v->src[i].id != NULL && strcmp(v->src[i].id, id) == 0) {
            *idx = i;
            return &v->src[i];
        }
    return NULL;
}

/* Whether id is a collector already looked for (and not found). The first sighting of an
 * id returns false (look for it); past MAX_LOGGED_FOREIGN ids, every id counts as seen, so
 * a stream of invented ids cannot make us ask the collectors again and again. */
static bool foreign_known(struct view *v, const char *id)
{
    for (size_t i = 0; i < v->n_foreign; i++)
        if (strcmp(v->foreign[i], id) == 0)
            return true;
    if (v->n_foreign == MAX_LOGGED_FOREIGN)
        return true;
    v->foreign[v->n_foreign++] = strdup(id);
    return false;
}

void view_apply(struct view *v, const char *body, size_t len)
{
    json_error_t je;
    json_t *c = json_loadb(body, len, 0, &je);
    const char *outcome = json_string_value(json_object_get(c, "outcome"));
    const char *id = json_string_value(json_object_get(c, "collector"));
    const char *host = json_string_value(json_object_get(c, "host"));
    const char *comp = json_string_value(json_object_get(c, "component"));
    json_t *jv = json_object_get(c, "version");
    /* An ack or unack line carries the whole alert, as an update does: its ack, or none. */
    bool up = outcome != NULL && (strcmp(outcome, "raise") == 0 || strcmp(outcome, "update") == 0 ||
                                  strcmp(outcome, "ack") == 0 || strcmp(outcome, "unack") == 0);
    bool down =
        outcome != NULL && (strcmp(outcome, "clear") == 0 || strcmp(outcome, "expire") == 0);
    if (id == NULL || host == NULL || comp == NULL || !json_is_integer(jv) || (!up && !down)) {
        if (v->stats.malformed++ < 10)
            logf_(v,
                  "a delivery that is not a change (outcome raise/update/clear/expire/ack/"
                  "unack, version, collector, host, component) is ignored: %.*s",
                  (int)(len < 200 ? len : 200), body);
        json_decref(c);
        return;
    }
    uint64_t ver = (uint64_t)json_integer_value(jv);
    size_t i;
    struct source *s = source_of(v, id, &i);
    if (s == NULL && !foreign_known(v, id)) {
        /* A collector restarted under a new id, or one nobody told us of: ask them all. */
        view_resync_all(v, "a change from an unknown collector id");
        s = source_of(v, id, &i);
        if (s == NULL)
            logf_(v, "changes from collector '%s' are ignored: no --collector URL serves it", id);
    }
    if (s == NULL) {
        v->stats.foreign++;
        goto out;
    }
    if (!s->synced) { /* view_sync() retries it; a down host must not cost each change */
        v->stats.unsynced++;
        goto out;
    }
    uint64_t epoch = parse_epoch(c);
    if (epoch != 0 && epoch != s->epoch) {
        if (epoch == s->stale_epoch) {
            v->stats.skipped++;
            goto out;
        }
        logf_(v,
              "collector '%s' numbers in a new series (%016" PRIx64 ", was %016" PRIx64
              "): it restarted without its snapshot; resynchronising",
              id, epoch, s->epoch);
        if (resync(v, i, false) != 0) {
            v->stats.unsynced++;
            goto out;
        }
        if (epoch != s->epoch) { /* the old series still draining from the queue */
            s->stale_epoch = epoch;
            v->stats.skipped++;
            goto out;
        }
    }
    if (ver <= s->version) {
        v->stats.skipped++;
        goto out;
    }
    if (ver > s->version + 1) {
        v->stats.gaps++;
        logf_(v,
              "collector '%s': version %" PRIu64 " follows %" PRIu64 " (%" PRIu64
              " changes missing): resynchronising from %s",
              id, ver, s->version, ver - s->version - 1, s->url);
        if (resync(v, i, false) != 0) {
            v->stats.unsynced++;
            goto out;
        }
        if (ver <= s->version) {
            v->stats.skipped++;
            goto out;
        }
        if (ver > s->version + 1)
            logf_(v,
                  "collector '%s': its snapshot (version %" PRIu64 ") is older than change "
                  "%" PRIu64 "; applying it",
                  id, s->version, ver);
    }
    struct entry *e = find(v, id, host, comp);
    if (up) {
        const char *first = NULL;
        if (strcmp(outcome, "raise") == 0)
            first = json_string_value(json_object_get(c, "received"));
        else if (e != NULL)
            first = json_string_value(json_object_get(e->alert, "first_seen"));
        json_t *st = stored_form(c, id, first);
        upsert(v, i, st, e);
        json_decref(st);
    } else if (e != NULL) {
        entry_delete(v, e);
        mark_dirty(v);
    }
    s->version = ver;
    v->stats.applied++;
    if (v->cfg.emit != NULL)
        v->cfg.emit(body, len, v->cfg.data);
out:
    json_decref(c);
}

bool view_dirty(const struct view *v)
{
    return v->dirty;
}

void view_clear_dirty(struct view *v)
{
    v->dirty = false;
}

size_t view_count(const struct view *v)
{
    return HASH_COUNT(v->entries);
}

const struct view_stats *view_get_stats(const struct view *v)
{
    return &v->stats;
}

static int by_severity(const void *pa, const void *pb)
{
    const struct entry *a = *(struct entry *const *)pa, *b = *(struct entry *const *)pb;
    if (a->severity != b->severity)
        return a->severity < b->severity ? -1 : 1;
    /* the key is collector\0host\0component: compare host, component, then collector */
    const char *ha = a->key + strlen(a->key) + 1, *hb = b->key + strlen(b->key) + 1;
    int r = strcmp(ha, hb);
    if (r == 0)
        r = strcmp(ha + strlen(ha) + 1, hb + strlen(hb) + 1);
    return r != 0 ? r : strcmp(a->key, b->key);
}

static struct entry **sorted(const struct view *v, size_t *n)
{
    *n = HASH_COUNT(v->entries);
    struct entry **arr = malloc((*n + 1) * sizeof(*arr));
    if (arr == NULL)
        return NULL;
    size_t k = 0;
    for (struct entry *e = v->entries; e != NULL; e = e->hh.next)
        arr[k++] = e;
    qsort(arr, *n, sizeof(*arr), by_severity);
    return arr;
}

json_t *view_to_json(const struct view *v, int64_t now_ms)
{
    char when[40];
    size_t n;
    struct entry **arr = sorted(v, &n);
    if (arr == NULL)
        return NULL;
    json_t *cols = json_array(), *alerts = json_array();
    for (size_t i = 0; i < v->cfg.n_urls; i++) {
        const struct source *s = &v->src[i];
        char ep[17];
        snprintf(ep, sizeof(ep), "%016" PRIx64, s->epoch);
        json_array_append_new(cols, json_pack("{ss ss? ss sI sb}", "url", s->url, "id", s->id,
                                              "epoch", ep, "version", (json_int_t)s->version,
                                              "synced", s->synced));
    }
    for (size_t i = 0; i < n; i++)
        json_array_append(alerts, arr[i]->alert);
    free(arr);
    return json_pack("{ss so sI so}", "updated", change_format_time(now_ms, when, sizeof(when)),
                     "collectors", cols, "count", (json_int_t)n, "alerts", alerts);
}

int view_write_file(const struct view *v, const char *path, int64_t now_ms, char *err,
                    size_t errlen)
{
    char tmp[4200];
    json_t *doc = view_to_json(v, now_ms);
    if (doc == NULL ||
        snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof(tmp)) {
        json_decref(doc);
        snprintf(err, errlen, "%s: out of memory or path too long", path);
        return -1;
    }
    /* A reader sees the old file or the new one, never half of one. No fsync: the view is
     * rebuilt from the collectors at every start. */
    int rc = json_dump_file(doc, tmp, JSON_COMPACT);
    json_decref(doc);
    if (rc != 0 || rename(tmp, path) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", rc != 0 ? tmp : path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}

/* The header in words: "collector vm, 30 alerts, version 77" (with several collectors:
 * "45 alerts; collector a: 30, version 77; collector b: 15, version 12"), whether one cannot
 * be reached, the time, and the status line. */
static void put_header(const struct view *v, FILE *f, size_t n, const struct view_table *t)
{
    char buf[4096], when[16] = "";
    size_t used = 0;
#define ADD(...)                                                                                   \
    do {                                                                                           \
        if (used < sizeof(buf))                                                                    \
            used += (size_t)snprintf(buf + used, sizeof(buf) - used, __VA_ARGS__);                 \
    } while (0)
    bool many = v->cfg.n_urls > 1;
    if (many)
        ADD("%zu alert%s;", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < v->cfg.n_urls; i++) {
        const struct source *s = &v->src[i];
        size_t mine = 0;
        for (const struct entry *e = v->entries; e != NULL; e = e->hh.next)
            mine += e->src == i;
        if (s->id == NULL) {
            ADD("%scollector %s not reached yet", many && i > 0 ? "; " : many ? " " : "", s->url);
            continue;
        }
        if (many)
            ADD("%scollector %s: %zu, version %" PRIu64, i > 0 ? "; " : " ", s->id, mine,
                s->version);
        else
            ADD("collector %s, %zu alert%s, version %" PRIu64, s->id, mine, mine == 1 ? "" : "s",
                s->version);
        if (!s->synced)
            ADD(" (unreachable: retrying)");
    }
    time_t sec = (time_t)(t->now_ms / 1000);
    struct tm tm;
    if (localtime_r(&sec, &tm) != NULL)
        strftime(when, sizeof(when), "%H:%M:%S", &tm);
    ADD(" at %s", when);
    if (t->status != NULL && t->status[0] != '\0')
        ADD(" | %s", t->status);
#undef ADD
    text_table_put(f, buf, t->width > 0 ? t->width : sizeof(buf));
    fputc('\n', f);
}

void view_print_table(struct view *v, FILE *f, const struct view_table *t)
{
    size_t n;
    struct entry **arr = sorted(v, &n);
    if (arr == NULL)
        return;
    /* A drawing after a change starts a new generation; entries first drawn in it are the
     * new rows. A redraw of an unchanged view keeps the generation, so the marks stay. */
    if (v->table_stale || v->draw_gen == 0) {
        v->draw_gen++;
        v->table_stale = false;
    }
    for (size_t i = 0; i < n; i++)
        if (arr[i]->drawn_gen == 0)
            arr[i]->drawn_gen = v->draw_gen;
    put_header(v, f, n, t);
    bool many = v->cfg.n_urls > 1;
    /* An ACK column (who acknowledged it) only while some alert is acknowledged: a view
     * without acks keeps the room for its messages. */
    bool acks = false;
    for (size_t i = 0; i < n && !acks; i++)
        acks = json_object_get(arr[i]->alert, "ack") != NULL;
    size_t used = 5 + 5 + 21 + 17 + (many ? 13 : 0) + (acks ? 11 : 0);
    size_t msgw = t->width > used + 10 ? t->width - used : 10;
    fprintf(f, "%-4s %-4s %-20s %-16s %s%s%s\n", "SEV", "AGE", "HOST", "COMPONENT",
            many ? "COLLECTOR    " : "", acks ? "ACK        " : "", "MESSAGE");
    size_t rows = t->max_rows == 0 || t->max_rows > n ? n : t->max_rows;
    if (t->max_rows != 0 && rows < n && rows > 0)
        rows--; /* room for the "more" line */
    for (size_t i = 0; i < rows; i++) {
        const struct entry *e = arr[i];
        bool fresh = v->draw_gen > 1 && e->drawn_gen == v->draw_gen;
        char sev[32] = "-", age[24] = "-";
        if (e->severity != INT64_MAX)
            snprintf(sev, sizeof(sev), "%" PRId64, e->severity);
        if (fresh)
            strcat(sev, "*");
        int64_t first;
        if (change_parse_time(json_string_value(json_object_get(e->alert, "first_seen")), &first) ==
            0)
            text_table_age(t->now_ms - first, age, sizeof(age));
        const char *c = e->severity <= 2 ? "31" : e->severity <= 4 ? "33" : NULL;
        bool styled = t->color && (fresh || c != NULL);
        if (styled)
            fprintf(f, "\033[%s%s%sm", fresh ? "1" : "", fresh && c ? ";" : "", c ? c : "");
        const char *host = e->key + strlen(e->key) + 1;
        text_table_cell(f, sev, 4);
        text_table_cell(f, age, 4);
        text_table_cell(f, host, 20);
        text_table_cell(f, host + strlen(host) + 1, 16);
        if (many)
            text_table_cell(f, e->key, 12);
        if (acks) {
            const char *by =
                json_string_value(json_object_get(json_object_get(e->alert, "ack"), "author"));
            text_table_cell(f, by != NULL ? by : "", 10);
        }
        text_table_put(f, json_string_value(json_object_get(e->alert, "msg")), msgw);
        if (styled)
            fputs("\033[0m", f);
        fputc('\n', f);
    }
    if (rows < n)
        fprintf(f, "... %zu more\n", n - rows);
    free(arr);
}
