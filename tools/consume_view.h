/* consume_view.h - the exact active-alert view injector-consume keeps.
 *
 * One view merges several collectors; an alert is keyed by (collector, host, component).
 * Per collector it holds the version series (epoch) and the last version applied. It starts
 * from each collector's snapshot (GET /v1/alerts: the table and its version) and applies
 * the changes from the queue in version order:
 *   - version <= the last applied: already in the view (the snapshot or a redelivery), skip;
 *   - version == last + 1: apply (raise, update, ack and unack put the alert as the change
 *     carries it, with its ack or without; clear and expire remove it);
 *   - version >  last + 1: changes are missing (lost, purged, out of order, a collector that
 *     crashed and jumped its numbering): resynchronise from the snapshot;
 *   - another epoch, or a collector id no source has: the collector restarted (perhaps with
 *     a new id, or numbering from 1 again): resynchronise.
 * A resync replaces that collector's part of the view by its snapshot and reports the
 * difference as changes (marked "resync":true), so a reader of the change lines stays exact
 * too. The queue must be bound before the first snapshot is fetched.
 *
 * No sockets here: the snapshot comes through a fetch callback (HTTP in injector-consume,
 * canned documents in the unit test). Single-threaded.
 */
#ifndef INJECTOR_CONSUME_VIEW_H
#define INJECTOR_CONSUME_VIEW_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Fetch url's snapshot (/v1/alerts document). Returns 0 and *doc, or -1 with err filled. */
typedef int (*view_fetch_fn)(const char *url, json_t **doc, char *err, size_t errlen, void *data);
/* A change line for the output: an applied change as it came, or one a resync made up. */
typedef void (*view_emit_fn)(const char *line, size_t len, void *data);
/* A line for the log (stderr), without a trailing newline. */
typedef void (*view_log_fn)(const char *msg, void *data);

struct view_config {
    const char *const *urls; /* each collector's /v1/alerts URL */
    size_t n_urls;
    view_fetch_fn fetch;
    view_emit_fn emit; /* NULL: no change lines */
    view_log_fn log;
    void *data; /* passed to the callbacks */
};

struct view_stats {
    uint64_t applied;   /* changes applied to the view */
    uint64_t skipped;   /* already in the view (version not newer, or an old series) */
    uint64_t gaps;      /* version jumps seen */
    uint64_t resyncs;   /* snapshots fetched after the first ones */
    uint64_t unsynced;  /* changes dropped while their collector could not be reached */
    uint64_t foreign;   /* changes from a collector no --collector URL serves */
    uint64_t malformed; /* deliveries that are not a change */
};

struct view;

int view_new(const struct view_config *cfg, struct view **out);
void view_free(struct view *v);

/* Fetch the snapshot of every collector not yet in step. Returns how many still are not. */
size_t view_sync(struct view *v);

/* Apply one delivery (a change as JSON). Never fails: what cannot be applied is counted. */
void view_apply(struct view *v, const char *body, size_t len);

/* Force a resync of every collector (e.g. on SIGUSR1). */
void view_resync_all(struct view *v, const char *why);

/* Whether the view changed since the last view_clear_dirty(). */
bool view_dirty(const struct view *v);
void view_clear_dirty(struct view *v);

size_t view_count(const struct view *v);
const struct view_stats *view_get_stats(const struct view *v);

/* The whole view as one JSON document: updated, collectors (id, url, epoch, version,
 * synced), count, alerts (sorted by severity, host, component, collector). */
json_t *view_to_json(const struct view *v, int64_t now_ms);

/* Write view_to_json to path atomically (temporary file in the same directory, rename).
 * Returns 0 or -1 with err filled. */
int view_write_file(const struct view *v, const char *path, int64_t now_ms, char *err,
                    size_t errlen);

/* How view_print_table draws: the seams a test sets (clock, colour) and the terminal's
 * size. */
struct view_table {
    size_t max_rows;    /* at most this many alert rows, a "... N more" line included; 0: all */
    size_t width;       /* columns; names and messages are cut to fit, with "…" */
    bool color;         /* ANSI colour: severity 1-2 red, 3-4 yellow; new rows bold */
    int64_t now_ms;     /* wall clock (ms since the epoch), for the ages and the time */
    const char *status; /* NULL, or a line for the header (a retry, a resync) */
};

/* A terminal table, most severe first. Line 1 is the header in words ("collector vm, 30
 * alerts, version 77", the time, t->status), line 2 the column titles, then one row per
 * alert: severity, age (since the alert was raised: its first_seen; "-" when unknown),
 * host, component, [collector,] [ack: who acknowledged it, blank when nobody; the column is
 * there while some alert is acknowledged,] message. A row not in the table drawn after the previous
 * change is marked new ('*' after its severity, and bold with colour) until the next change
 * is drawn: a redraw of an unchanged view (to move the ages) keeps the marks. The first
 * drawing marks nothing. Writes to f; strings from the network are shown with control
 * characters as '?'. */
void view_print_table(struct view *v, FILE *f, const struct view_table *t);

#endif
