/* daemon.c - start, serve, drain and stop: the collector's lifecycle on one libuv loop. */
#include "collector/daemon.h"

#include "collector/acl.h"
#include "collector/address.h"
#include "collector/auth.h"
#include "collector/check.h"
#include "collector/log.h"
#include "collector/notify.h"
#include "collector/reload.h"
#include "collector/snapshot.h"
#include "sink/change.h"
#include "sink/secret.h"
#include "sink/sink_amqp.h"
#include "sink/sink_file.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

static void start_epoch(struct state *st);

static void on_datagram(const struct intake_datagram *d, void *data)
{
    struct daemon *dm = data;
    ingest_datagram(dm->ingest, d->buf, d->len, d->truncated, d->from, d->received_ms,
                    (int64_t)uv_now(&dm->loop));
}

/* The gauges the daemon keeps, up to date before a report. Each listener's socket and
 * intake are read once here; list_listeners shows what was read (dm->seen). */
static void refresh_gauges(void *data)
{
    struct daemon *dm = data;
    struct stats *s = ingest_counters(dm->ingest);
    uint64_t total = 0, full_ms = 0;
    s->intake_queued = s->intake_queued_bytes = 0;
    s->intake_queued_peak = s->intake_queued_peak_bytes = s->intake_waiting = 0;
    for (size_t i = 0; i < dm->n_udp; i++) {
        int64_t d = dm->seen[i].kernel_drops = udp_drops(dm->udp[i]);
        if (d > 0)
            total += (uint64_t)d;
        const struct intake_stats *is = &dm->seen[i].intake;
        udp_stats(dm->udp[i], &dm->seen[i].intake);
        s->intake_queued += is->queued;
        s->intake_queued_bytes += is->queued_bytes;
        s->intake_queued_peak += is->peak;
        s->intake_queued_peak_bytes += is->peak_bytes;
        s->intake_waiting += is->waiting;
        full_ms += is->full_ms;
    }
    s->kernel_drops = total;
    s->intake_memory_bytes = dm->pool != NULL ? intake_pool_memory(dm->pool) : 0;
    s->intake_full_seconds = (double)full_ms / 1000.0;
    uv_update_time(&dm->loop);
    s->uptime_seconds = (double)(uv_now(&dm->loop) - dm->started_ms) / 1000.0;
}

/* The HTTP API's view of the listeners (http.h): what refresh_gauges read for this request. */
static void list_listeners(http_listener_fn fn, void *arg, void *data)
{
    struct daemon *dm = data;
    for (size_t i = 0; i < dm->n_udp; i++) {
        const struct udp *u = dm->udp[i];
        struct http_listener l = {.address = udp_name(u),
                                  .rcvbuf = udp_rcvbuf(u),
                                  .rcvbuf_clamped = udp_rcvbuf_clamped(u),
                                  .kernel_drops = dm->seen[i].kernel_drops,
                                  .queued = dm->seen[i].intake.queued,
                                  .queued_peak = dm->seen[i].intake.peak};
        fn(&l, arg);
    }
}

void daemon_status(struct daemon *dm, char *buf, size_t size)
{
    const struct stats *s = ingest_stats(dm->ingest);
    snprintf(buf, size, "%llu active alerts, %llu datagrams, %llu kernel drops, version %llu",
             (unsigned long long)s->active_alerts, (unsigned long long)s->datagrams,
             (unsigned long long)s->kernel_drops, (unsigned long long)s->version);
}

static void print_stats(struct daemon *dm, const char *why)
{
    char small[2048], head[32], status[256];
    struct stats_report r;
    refresh_gauges(dm);
    ingest_report(dm->ingest, &r);
    /* Whole, however long: the sinks' counters (and a broker node's URL) make it longer
     * than any fixed buffer could be sure of. Cut only without memory for it. */
    char *line = small;
    int n = stats_format_line(&r, small, sizeof(small));
    if (n >= (int)sizeof(small) && (line = malloc((size_t)n + 1)) != NULL)
        stats_format_line(&r, line, (size_t)n + 1);
    snprintf(head, sizeof(head), "stats%s: ", why);
    log_text(LOG_LEVEL_INFO, head, line != NULL ? line : small);
    if (line != small)
        free(line);
    daemon_status(dm, status, sizeof(status));
    notify_status(status);
}

/* WATCHDOG=1 comes from the loop itself: if the loop wedges, systemd restarts us. */
static void on_watchdog_timer(uv_timer_t *t)
{
    (void)t;
    notify_watchdog();
}

static void sink_log(int level, const char *msg)
{
    log_msg((enum log_level)level, "%s", msg);
}

void daemon_amqp_config(const struct daemon *dm, const struct config *c,
                        const char *urls[CONFIG_MAX_URLS], struct sink_amqp_config *out)
{
    for (size_t i = 0; i < c->amqp.n; i++)
        urls[i] = c->amqp.url[i];
    *out = (struct sink_amqp_config){
        .urls = urls,
        .n_urls = c->amqp.n,
        .password_file = c->amqp_password_file[0] ? c->amqp_password_file : NULL,
        .ca_file = c->amqp_ca_file[0] ? c->amqp_ca_file : NULL,
        .cert_file = c->amqp_cert_file[0] ? c->amqp_cert_file : NULL,
        .key_file = c->amqp_key_file[0] ? c->amqp_key_file : NULL,
        .exchange = c->amqp_exchange,
        .confirm_window = c->amqp_confirm_window,
        .mandatory = c->amqp_mandatory,
        .heartbeat_s = (unsigned)(c->amqp_heartbeat_ms / 1000),
        .flush_timeout_s = (unsigned)(c->shutdown_grace_ms / 1000),
        .journal = dm->journal,
        .log = sink_log,
    };
}

/* Build the sinks: AMQP when a broker is configured (it reads dm->journal), the
 * JSON-lines output when none is or when --output was asked for as well. */
static int open_sinks(struct daemon *dm, struct sink **sinks, size_t *n)
{
    const struct config *cfg = dm->cfg;
    int rc;
    *n = 0;
    if (cfg->amqp.n > 0) {
        const char *urls[CONFIG_MAX_URLS];
        struct sink_amqp_config ac;
        daemon_amqp_config(dm, cfg, urls, &ac);
        if ((rc = sink_amqp_new(&ac, &sinks[*n])) != 0) {
            log_error("cannot start the AMQP sink: %s", strerror(-rc));
            return rc;
        }
        dm->amqp = sinks[*n];
        (*n)++;
        if (ac.n_urls > 1)
            log_info("amqp: %zu nodes, failed over in the order given", ac.n_urls);
        if (!dm->journal_disk)
            log_warning("amqp: no --state-dir: the journal is in memory only; a crash loses what "
                        "the broker has not confirmed, and while it is down changes past the "
                        "%zu held in memory are lost (counted)",
                        (size_t)cfg->outbox_size);
    }
    if (cfg->amqp.n == 0 || cfg->given[CONFIG_output]) {
        if ((rc = sink_file_new(cfg->output, 0, sink_log, &sinks[*n])) != 0) {
            log_error("cannot open output %s: %s", cfg->output, strerror(-rc));
            for (size_t i = 0; i < *n; i++)
                sink_free(sinks[i]);
            *n = 0;
            dm->amqp = NULL;
            return rc;
        }
        (*n)++;
    }
    return 0;
}

/* The change journal: on disk in STATE-DIR/journal; in memory only when there is a broker
 * but no state directory; none without either. Opening it recovers what is on disk. */
static int open_journal(struct daemon *dm, struct journal_recovery *rec)
{
    const struct config *cfg = dm->cfg;
    char dir[CONFIG_PATH_MAX + 16] = "(memory)"; /* named in the lines below either way */
    memset(rec, 0, sizeof(*rec));
    if (cfg->state_dir[0] == '\0' && cfg->amqp.n == 0)
        return 0;
    if (cfg->state_dir[0] != '\0') /* made by daemon_run */
        snprintf(dir, sizeof(dir), "%s/journal", cfg->state_dir);
    struct journal_config jc = {
        .dir = cfg->state_dir[0] ? dir : NULL,
        .sync_ms = (unsigned)cfg->journal_sync_ms,
        .segment_max = cfg->journal_segment,
        .cache_changes = (size_t)cfg->outbox_size,
        .reader = cfg->amqp.n > 0,
        .log = sink_log,
    };
    int rc = journal_open(&jc, &dm->journal, rec);
    if (rc != 0) {
        log_error("journal %s: %s", dir, strerror(-rc));
        return rc;
    }
    dm->journal_disk = jc.dir != NULL;
    if (dm->journal_disk)
        log_info("journal: %s holds %llu changes in %zu segment(s), versions %llu-%llu; the "
                 "last run %s; the broker had confirmed up to %llu",
                 dir, (unsigned long long)rec->records, rec->segments,
                 (unsigned long long)rec->first_version, (unsigned long long)rec->last_version,
                 !rec->meta_found ? "left no record"
                 : rec->clean     ? "stopped cleanly"
                                  : "did not stop cleanly",
                 (unsigned long long)rec->confirmed);
    return 0;
}

struct replay {
    struct state *st;
    struct alert_json aj;
    uint64_t applied, bad, refused;
};

static int replay_one(uint64_t version, const char *body, size_t len, void *data)
{
    struct replay *r = data;
    enum change_outcome oc;
    int64_t received;
    int rc = change_json_decode_change(body, len, &r->aj, &oc, &received);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0) {
        r->bad++;
        return 0;
    }
    rc = state_replay(r->st, &r->aj.alert, r->aj.sender, oc, version,
                      received ? received : change_now_ms(), r->aj.ack);
    if (rc == -ENOMEM)
        return rc;
    if (rc != 0)
        r->refused++;
    else
        r->applied++;
    return 0;
}

/* After the snapshot: the journal's changes past it replayed onto the table, then the
 * version series and numbering decided (journal_resume), then the journal started. */
static int resume_journal(struct daemon *dm, const struct journal_recovery *rec)
{
    struct state *st = ingest_state(dm->ingest);
    uint64_t snap_version = state_version(st), snap_epoch = state_epoch(st);
    if (dm->journal_disk) {
        struct replay r = {.st = st};
        int64_t t0 = (int64_t)(uv_hrtime() / 1000000);
        int rc = journal_replay(dm->journal, snap_version, replay_one, &r);
        alert_json_free(&r.aj);
        if (rc != 0) {
            log_error("journal: replay failed: %s", strerror(-rc));
            return rc;
        }
        if (r.applied + r.bad + r.refused > 0)
            log_info("journal: replayed %llu changes after version %llu in %lld ms; the table "
                     "holds %zu alerts at version %llu",
                     (unsigned long long)r.applied, (unsigned long long)snap_version,
                     (long long)((int64_t)(uv_hrtime() / 1000000) - t0), state_count(st),
                     (unsigned long long)state_version(st));
        if (r.bad + r.refused > 0)
            log_error("journal: %llu changes could not be read back and %llu were refused by "
                      "a cap; the table may miss them",
                      (unsigned long long)r.bad, (unsigned long long)r.refused);
        if (rec->records > 0 && rec->first_version > snap_version + 1 && snap_version > 0)
            log_warning("journal: it starts at version %llu, the snapshot is at %llu: the "
                        "changes between are in neither",
                        (unsigned long long)rec->first_version, (unsigned long long)snap_version);
        /* What the journal (with the snapshot that compacted it) ends at, against what the
         * last run recorded it had numbered (every sync interval: a lower bound). */
        uint64_t end = rec->last_version > snap_version ? rec->last_version : snap_version;
        if (rec->meta_found && !rec->clean && rec->issued > end)
            log_warning("journal: the last run did not stop cleanly: it had numbered at least "
                        "%llu changes, the journal ends at %llu: %llu changes (never shown nor "
                        "published) died with it",
                        (unsigned long long)rec->issued, (unsigned long long)end,
                        (unsigned long long)(rec->issued - end));
        else if (rec->meta_found && !rec->clean)
            log_info("journal: the last run did not stop cleanly; the journal ends at %llu, past "
                     "everything it recorded as numbered",
                     (unsigned long long)end);
        struct journal_resume jr;
        journal_resume(rec, snap_epoch, snap_version, &jr);
        state_set_version(st, jr.version);
        state_set_epoch(st, jr.epoch);
        if (jr.epoch != 0)
            log_info("versions: the same series %016llx goes on after %llu",
                     (unsigned long long)jr.epoch, (unsigned long long)jr.version);
        else if (jr.why != NULL)
            log_warning("versions: %s: a new series starts (consumers resynchronise)", jr.why);
    }
    start_epoch(st);
    int rc = journal_start(dm->journal, state_epoch(st), state_version(st));
    if (rc != 0)
        log_error("journal: cannot start: %s", strerror(-rc));
    return rc;
}

static void on_stats_timer(uv_timer_t *t)
{
    print_stats(t->data, "");
}

void daemon_set_stats_timer(struct daemon *dm, uint64_t ms)
{
    uv_timer_stop(&dm->stats_timer);
    if (ms > 0)
        uv_timer_start(&dm->stats_timer, on_stats_timer, ms, ms);
}

/* Every --history-step: a sample of the report the stats line shows (history.h). */
static void on_history_timer(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    struct stats_report r;
    refresh_gauges(dm);
    ingest_report(dm->ingest, &r);
    history_sample(dm->history, &r, (int64_t)(uv_hrtime() / 1000000), change_now_ms());
}

/* Once a second: expire what is due. TTLs are whole seconds, so this is exact enough, and
 * the heap makes an idle tick cost one comparison. */
static void on_expiry_timer(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    ingest_expire(dm->ingest, change_now_ms(), (int64_t)uv_now(&dm->loop));
    /* The "... N more" summaries of rate-limited lines, whatever the stats interval. */
    ingest_tick(dm->ingest, (int64_t)uv_now(&dm->loop));
}

/* Has the last forked snapshot writer finished? Reaps it and says how it went. */
static bool snapshot_child_done(struct daemon *dm, bool block)
{
    int status;
    if (dm->snapshot_child == 0)
        return true;
    pid_t r = waitpid(dm->snapshot_child, &status, block ? 0 : WNOHANG);
    if (r == 0)
        return false;
    int64_t now = (int64_t)uv_now(&dm->loop);
    if (r == dm->snapshot_child && WIFSIGNALED(status))
        log_ratelimited(&dm->rl_snapshot, now, LOG_LEVEL_ERROR,
                        "snapshot: the writer of %s was killed by signal %d (%s); the previous "
                        "snapshot stays",
                        dm->cfg->snapshot, WTERMSIG(status), strsignal(WTERMSIG(status)));
    else if (r == dm->snapshot_child && WIFEXITED(status) && WEXITSTATUS(status) != 0)
        log_ratelimited(&dm->rl_snapshot, now, LOG_LEVEL_ERROR,
                        "snapshot: writing %s failed: %s; the previous snapshot stays",
                        dm->cfg->snapshot, strerror(WEXITSTATUS(status)));
    else if (r == dm->snapshot_child && dm->journal != NULL)
        journal_snapshot_done(dm->journal, dm->snapshot_child_version); /* compacts it */
    dm->snapshot_child = 0;
    return true;
}

/* Every snapshot_interval: a forked child writes the table (copy-on-write), the loop goes on
 * reading datagrams. A writer still busy from last time is left alone, not doubled. */
static void on_snapshot_timer(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    int64_t now = (int64_t)uv_now(&dm->loop);
    log_ratelimit_flush(&dm->rl_snapshot, now);
    if (!snapshot_child_done(dm, false)) {
        log_ratelimited(&dm->rl_snapshot, now, LOG_LEVEL_WARNING,
                        "snapshot: the previous write is still running; skipping this one");
        return;
    }
    /* Everything the snapshot holds is written to the journal first. */
    ingest_write_journal(dm->ingest);
    pid_t pid =
        snapshot_write_async(ingest_state(dm->ingest), dm->cfg->snapshot, dm->cfg->collector_id);
    if (pid < 0) {
        log_ratelimited(&dm->rl_snapshot, now, LOG_LEVEL_ERROR,
                        "snapshot: cannot fork a writer: %s", strerror((int)-pid));
    } else {
        dm->snapshot_child = pid;
        dm->snapshot_child_version = state_version(ingest_state(dm->ingest));
    }
}

void daemon_set_snapshot_timer(struct daemon *dm, uint64_t ms)
{
    if (dm->cfg->snapshot[0] != '\0')
        uv_timer_start(&dm->snapshot_timer, on_snapshot_timer, ms, ms);
}

static void load_snapshot(struct daemon *dm)
{
    const struct config *cfg = dm->cfg;
    struct snapshot_restored r;
    /* With a journal on disk, what a crashed run numbered after the snapshot is in it: no
     * jump (interval 0). */
    snapshot_restore(ingest_state(dm->ingest), cfg->snapshot,
                     dm->journal_disk ? 0 : (unsigned)(cfg->snapshot_interval_ms / 1000),
                     (int64_t)time(NULL), &r);
    if (r.rc == 0 && dm->journal != NULL)
        journal_snapshot_done(dm->journal, r.info.version); /* it is on disk */
    if (r.jumped_to != 0)
        log_warning("snapshot: the previous run did not stop cleanly; numbering goes on from "
                    "%llu instead of %llu, so no version is used twice",
                    (unsigned long long)r.jumped_to, (unsigned long long)r.info.version);
    if (r.rc == 0)
        log_info("snapshot: restored %zu active alerts from %s (version %llu); they are not "
                 "announced again",
                 r.info.loaded, cfg->snapshot, (unsigned long long)r.info.version);
    else if (r.rc == -ENOENT)
        log_info("snapshot: %s does not exist yet; starting with an empty table", cfg->snapshot);
    else if (r.aside[0] != '\0')
        log_error("snapshot: %s; kept the %zu alerts read before the damage; the file is "
                  "set aside as %s",
                  r.err, r.info.loaded, r.aside);
    else
        log_error("snapshot: %s; kept the %zu alerts read before the damage; the file "
                  "stays in place (cannot rename it: %s)",
                  r.err, r.info.loaded, strerror(r.aside_errno));
}

/* Without a snapshot to go on from, this run starts a new version series: consumers that
 * see its id change know the numbering may have started over, and resync. */
static void start_epoch(struct state *st)
{
    if (state_begin_series(st, state_random64))
        log_info("versions: a new series %016llx, numbering on from %llu",
                 (unsigned long long)state_epoch(st), (unsigned long long)state_version(st));
}

/* At exit: the last word, written in place (the loop is done, nothing waits for it). */
static void final_snapshot(struct daemon *dm)
{
    char err[512];
    snapshot_child_done(dm, true);
    if (snapshot_write(ingest_state(dm->ingest), dm->cfg->snapshot, dm->cfg->collector_id, true,
                       err, sizeof(err)) == 0) {
        log_info("snapshot: %zu active alerts written to %s", state_count(ingest_state(dm->ingest)),
                 dm->cfg->snapshot);
        if (dm->journal != NULL)
            journal_snapshot_done(dm->journal, state_version(ingest_state(dm->ingest)));
    } else {
        log_error("snapshot: %s", err);
    }
}

static void on_flush_timer(uv_timer_t *t);

/* After each poll phase: one flush for everything the sinks got in this iteration. While
 * output waits for a stalled reader, a timer tries again every 20 ms, so that it goes out
 * as soon as the reader is back rather than with the next datagram. */
static void on_flush_check(uv_check_t *c)
{
    struct daemon *dm = c->data;
    bool waiting = ingest_flush(dm->ingest, (int64_t)uv_now(&dm->loop));
    if (waiting && !uv_is_active((uv_handle_t *)&dm->flush_timer))
        uv_timer_start(&dm->flush_timer, on_flush_timer, 20, 20);
    else if (!waiting)
        uv_timer_stop(&dm->flush_timer);
}

static void on_flush_timer(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    on_flush_check(&dm->flush_check);
}

static void close_all(struct daemon *dm)
{
    for (size_t i = 0; i < dm->n_udp; i++)
        udp_close(dm->udp[i]);
    dm->n_udp = 0;
    for (size_t i = 0; i < dm->n_tcp; i++)
        tcp_close(dm->tcp[i]);
    dm->n_tcp = 0;
    http_close(dm->http);
    dm->http = NULL;
    uv_handle_t *handles[] = {
        (uv_handle_t *)&dm->sig_int,        (uv_handle_t *)&dm->sig_term,
        (uv_handle_t *)&dm->sig_usr1,       (uv_handle_t *)&dm->sig_hup,
        (uv_handle_t *)&dm->stats_timer,    (uv_handle_t *)&dm->drain_timer,
        (uv_handle_t *)&dm->expiry_timer,   (uv_handle_t *)&dm->snapshot_timer,
        (uv_handle_t *)&dm->watchdog_timer, (uv_handle_t *)&dm->flush_check,
        (uv_handle_t *)&dm->flush_timer,    (uv_handle_t *)&dm->history_timer,
    };
    for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
        if (!uv_is_closing(handles[i]))
            uv_close(handles[i], NULL);
}

/* Stopping gives up on what is not processed yet: the intakes stop, so their queues hold
 * exactly what was taken in and not processed (intake_queued, in the final stats line), and
 * what is left in the sockets is read and dropped, counted in shutdown_unread. With the
 * kernel's drops, every datagram is then counted as processed or lost. */
static void give_up_backlog(struct daemon *dm, const char *why)
{
    uint64_t held = 0, unread = 0;
    for (size_t i = 0; i < dm->n_udp; i++) {
        struct intake_stats is;
        udp_stop(dm->udp[i]);
        unread += udp_discard(dm->udp[i]);
        udp_stats(dm->udp[i], &is);
        held += is.queued;
    }
    ingest_counters(dm->ingest)->shutdown_unread += unread;
    if (held > 0 || unread > 0)
        log_warning("%s with %llu datagrams taken in but not processed (intake_queued) and "
                    "%llu still in the sockets, read and dropped (shutdown_unread); those "
                    "datagrams are lost",
                    why, (unsigned long long)held, (unsigned long long)unread);
}

/* The last of a run: what the sinks hold goes out, the final stats line, and every handle
 * closes (the loop then ends). */
static void stop_now(struct daemon *dm)
{
    ingest_flush(dm->ingest, (int64_t)uv_now(&dm->loop));
    print_stats(dm, " (final)");
    close_all(dm);
}

/* Datagrams in the sockets (bytes of them, as the kernel counts) and in the intake queues. */
static void backlog(struct daemon *dm, int64_t *in_sockets, uint64_t *held)
{
    *in_sockets = 0;
    *held = 0;
    for (size_t i = 0; i < dm->n_udp; i++) {
        int64_t q = udp_queued(dm->udp[i]);
        struct intake_stats is;
        udp_stats(dm->udp[i], &is);
        if (q > 0)
            *in_sockets += q;
        *held += is.queued;
    }
}

/* While stopping: keep reading until every socket and intake queue is empty or the grace
 * period is over, so a SIGTERM in the middle of a burst does not throw the queued part away.
 * Once they are empty the intakes stop, what they took in meanwhile is processed, and what
 * came into the sockets since is counted as unread (give_up_backlog): a sender that goes on
 * through the stop loses what it sends from then on, counted, not silently. */
static void on_drain_timer(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    int64_t in_sockets;
    uint64_t held;
    backlog(dm, &in_sockets, &held);
    bool late = uv_now(&dm->loop) >= dm->stop_deadline_ms;
    if (!dm->intakes_stopped) {
        if ((in_sockets > 0 || held > 0) && !late)
            return;
        for (size_t i = 0; i < dm->n_udp; i++)
            udp_stop(dm->udp[i]);
        dm->intakes_stopped = true;
        backlog(dm, &in_sockets, &held);
    }
    if (held > 0 && !late)
        return;
    char why[64] = "stopping";
    if (late)
        snprintf(why, sizeof(why), "shutdown grace of %llu s over",
                 (unsigned long long)(dm->cfg->shutdown_grace_ms / 1000));
    give_up_backlog(dm, why);
    stop_now(dm);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    struct daemon *dm = s->data;
    if (dm->stopping) {
        log_warning("second %s: stopping now", strsignal(signum));
        give_up_backlog(dm, "stopping now");
        stop_now(dm);
        return;
    }
    dm->stopping = true;
    notify_stopping();
    log_info("%s: draining the sockets, then stopping", strsignal(signum));
    dm->stop_deadline_ms = uv_now(&dm->loop) + dm->cfg->shutdown_grace_ms;
    /* The datagrams themselves are read by the normal path; this only checks for empty. */
    uv_timer_start(&dm->drain_timer, on_drain_timer, 0, 10);
}

static void on_usr1(uv_signal_t *s, int signum)
{
    (void)signum;
    print_stats(s->data, "");
}

static void on_hup(uv_signal_t *s, int signum)
{
    (void)signum;
    reload_run(s->data);
}

/* The port asked for is 0: the kernel picks one. */
static bool ephemeral(const struct sockaddr *sa)
{
    return sa->sa_family == AF_INET6 ? ((const struct sockaddr_in6 *)sa)->sin6_port == 0
                                     : ((const struct sockaddr_in *)sa)->sin_port == 0;
}

/* One listen address: the UDP socket and, with --tcp, a TCP one on the same port number.
 * When the kernel picked the UDP port, that number may be taken for TCP by some other
 * program: then another UDP port is picked. */
static int open_listener(struct daemon *dm, size_t i)
{
    const struct config *cfg = dm->cfg;
    const struct sockaddr *asked = (const struct sockaddr *)&cfg->listen.a[i].sa;
    for (int attempt = 0;; attempt++) {
        struct udp *u;
        int rc = udp_new(&dm->loop, asked, (size_t)cfg->rcvbuf, (unsigned)cfg->reuseport, dm->pool,
                         on_datagram, dm, &u);
        if (rc != 0) {
            log_error("cannot listen on udp %s: %s", cfg->listen.a[i].text, uv_strerror(rc));
            return rc;
        }
        struct tcp *t = NULL;
        if (cfg->tcp) {
            /* The same address and port number, the bound one when 0 was asked. */
            struct tcp_config tc = {.addr = udp_address(u), .ingest = dm->ingest};
            if ((rc = tcp_new(&dm->loop, &tc, &t)) == UV_EADDRINUSE && ephemeral(asked) &&
                attempt < 10) {
                udp_close(u);
                continue;
            }
            if (rc != 0) {
                log_error("cannot listen on tcp %s: %s", udp_name(u), uv_strerror(rc));
                udp_close(u);
                return rc;
            }
        }
        dm->udp[dm->n_udp++] = u;
        log_info("listening on udp %s (receive buffer: asked %zu bytes, kernel reports %zu)",
                 udp_name(u), (size_t)cfg->rcvbuf, udp_rcvbuf(u));
        if (cfg->reuseport > 0)
            log_info("udp %s is shared by a group of %u processes (SO_REUSEPORT): this one "
                     "sees the senders whose address falls to it",
                     udp_name(u), (unsigned)cfg->reuseport);
        if (t != NULL) {
            dm->tcp[dm->n_tcp++] = t;
            log_info("listening on tcp %s (one document per connection)", tcp_name(t));
        }
        if (udp_rcvbuf_clamped(u))
            log_warning("udp %s: asked for a %zu-byte receive buffer, the kernel granted %zu: "
                        "bursts larger than that are dropped. Raise the limit with "
                        "'sysctl -w net.core.rmem_max=%zu' or run with CAP_NET_ADMIN",
                        udp_name(u), (size_t)cfg->rcvbuf, udp_rcvbuf(u) / 2, (size_t)cfg->rcvbuf);
        return 0;
    }
}

static int open_listeners(struct daemon *dm)
{
    for (size_t i = 0; i < dm->cfg->listen.n; i++) {
        int rc = open_listener(dm, i);
        if (rc != 0)
            return rc;
    }
    return 0;
}

/* The allow-list and the signature keys, checked before the first datagram (the rules
 * between them, check_rules, before anything was started). */
static int open_security(struct daemon *dm)
{
    const struct config *cfg = dm->cfg;
    int rc;
    if (cfg->allow[0] != '\0') {
        struct acl *acl;
        char why[256];
        if ((rc = acl_parse(cfg->allow, &acl, why, sizeof(why))) != 0) { /* config checked it */
            log_error("allow: %s", why);
            return rc;
        }
        ingest_set_acl(dm->ingest, acl);
        log_info("accepting alerts only from: %s (%zu blocks)", cfg->allow, acl_size(acl));
    }
    if (cfg->key_file[0] != '\0') {
        struct auth *auth;
        char why[512];
        struct auth_config au = {.key_file = cfg->key_file,
                                 .required = cfg->require_signature,
                                 .skew_s = (unsigned)(cfg->signature_skew_ms / 1000)};
        if ((rc = auth_new(&au, &auth, why, sizeof(why))) != 0) {
            log_error("key-file: %s", why);
            return rc;
        }
        ingest_set_auth(dm->ingest, auth);
        log_info("signatures checked with %s%s", cfg->key_file,
                 cfg->require_signature ? "; unsigned datagrams are refused" : "");
    }
    return 0;
}

static int open_http(struct daemon *dm)
{
    const struct config *cfg = dm->cfg;
    char *token = NULL;
    int rc;
    if (cfg->http_token_file[0] != '\0' &&
        (rc = secret_read_file(cfg->http_token_file, &token)) != 0) {
        log_error("http-token-file %s: %s", cfg->http_token_file,
                  rc == -ENODATA ? "empty" : strerror(-rc));
        return rc;
    }
    struct http_config hc = {
        .addr = (const struct sockaddr *)&cfg->http.sa,
        .ingest = dm->ingest,
        .collector_id = cfg->collector_id,
        .listeners = list_listeners,
        .token = token,
        .token_metrics = cfg->http_token_metrics,
        .refresh = refresh_gauges,
        .history = dm->history,
        .data = dm,
    };
    rc = http_new(&dm->loop, &hc, &dm->http);
    secret_free(token);
    if (rc != 0) {
        log_error("cannot serve HTTP on %s: %s (--http off to go without)", cfg->http.text,
                  strerror(-rc));
        return rc;
    }
    log_info("HTTP API on http://%s/ (the dashboard page is at /)%s", http_name(dm->http),
             cfg->http_token_file[0] ? "; bearer token required for the data" : "");
    return 0;
}

/* Timers and handles: initialised before anything can fail after them, so close_all() may
 * close every one of them. */
static void init_handles(struct daemon *dm)
{
    uv_signal_t *sigs[] = {&dm->sig_int, &dm->sig_term, &dm->sig_usr1, &dm->sig_hup};
    for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
        uv_signal_init(&dm->loop, sigs[i]);
        sigs[i]->data = dm;
    }
    uv_timer_t *timers[] = {&dm->stats_timer,    &dm->drain_timer,    &dm->expiry_timer,
                            &dm->snapshot_timer, &dm->watchdog_timer, &dm->flush_timer,
                            &dm->history_timer};
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++) {
        uv_timer_init(&dm->loop, timers[i]);
        timers[i]->data = dm;
    }
    uv_check_init(&dm->loop, &dm->flush_check);
    dm->flush_check.data = dm;
}

static void start_handles(struct daemon *dm)
{
    uv_signal_start(&dm->sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&dm->sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&dm->sig_usr1, on_usr1, SIGUSR1);
    uv_signal_start(&dm->sig_hup, on_hup, SIGHUP);
    uv_check_start(&dm->flush_check, on_flush_check);
    uv_timer_start(&dm->expiry_timer, on_expiry_timer, 1000, 1000);
    daemon_set_snapshot_timer(dm, dm->cfg->snapshot_interval_ms);
    daemon_set_stats_timer(dm, dm->cfg->stats_interval_ms);
    on_history_timer(&dm->history_timer); /* the counters the first step starts from */
    uv_timer_start(&dm->history_timer, on_history_timer, dm->cfg->history_step_ms,
                   dm->cfg->history_step_ms);
    uint64_t wd = notify_watchdog_ms();
    if (wd > 0)
        uv_timer_start(&dm->watchdog_timer, on_watchdog_timer, wd, wd);
}

static void say_ready(struct daemon *dm)
{
    const struct config *cfg = dm->cfg;
    char status[256], where[1400];
    daemon_status(dm, status, sizeof(status));
    notify_ready(status);
    const char *output = strcmp(cfg->output, "-") == 0 ? "stdout" : cfg->output;
    if (cfg->amqp.n == 0)
        snprintf(where, sizeof(where), "%s", output);
    else if (!cfg->given[CONFIG_output])
        snprintf(where, sizeof(where), "amqp exchange %s", cfg->amqp_exchange);
    else
        snprintf(where, sizeof(where), "amqp exchange %s and %s", cfg->amqp_exchange, output);
    log_info("injectord %s ready: collector %s, changes to %s", INJECTOR_VERSION, cfg->collector_id,
             where);
}

/* A rule between settings that start-up refuses (check_rules). */
static void refuse(const char *problem, void *data)
{
    (void)data;
    log_error("%s; not starting", problem);
}

int daemon_run(struct config *cfg, int argc, char **argv)
{
    struct daemon dm = {
        .cfg = cfg, .argc = argc, .argv = argv, .rl_snapshot = {.what = "snapshot lines"}};
    struct sink *sinks[INGEST_MAX_SINKS];
    size_t n_sinks;
    struct journal_recovery rec;
    int rc;

    if (check_rules(cfg, refuse, NULL) > 0)
        return 1;
    /* The state directory first: the snapshot may go there. */
    if (cfg->state_dir[0] != '\0' && mkdir(cfg->state_dir, 0700) != 0 && errno != EEXIST) {
        log_error("state-dir %s: %s", cfg->state_dir, strerror(errno));
        return 1;
    }
    /* The table is saved at exit: a place it cannot be written to would lose it then, after
     * running for days; say so now instead. */
    char why[CONFIG_PATH_MAX * 2 + 256];
    if (cfg->snapshot[0] != '\0' && check_path(cfg, CONFIG_snapshot, why, sizeof(why)) != 0) {
        log_error("%s; not starting (the table could not be saved)", why);
        return 1;
    }
    if ((rc = uv_loop_init(&dm.loop)) != 0) {
        log_error("event loop: %s", uv_strerror(rc));
        return 1;
    }
    dm.started_ms = uv_now(&dm.loop);
    if ((rc = intake_pool_new((size_t)cfg->queue_memory, &dm.pool)) != 0) {
        log_error("cannot start: %s", strerror(-rc));
        goto out;
    }
    if ((rc = open_journal(&dm, &rec)) != 0 || (rc = open_sinks(&dm, sinks, &n_sinks)) != 0)
        goto out;
    struct ingest_config ic = {.collector_id = cfg->collector_id,
                               .max_alerts = cfg->max_alerts,
                               .default_ttl_s = (unsigned)(cfg->default_ttl_ms / 1000),
                               .max_hosts = cfg->max_hosts,
                               .rate_limit = cfg->rate_limit,
                               .rate_burst = cfg->rate_burst,
                               .journal = dm.journal,
                               .fast_path = cfg->fast_path};
    if ((rc = ingest_new(&ic, sinks, n_sinks, &dm.ingest)) != 0) {
        log_error("cannot start: %s", strerror(-rc));
        goto out;
    }
    struct history_config hc = {.step_s = (unsigned)(cfg->history_step_ms / 1000)};
    if ((rc = history_new(&hc, &dm.history)) != 0) {
        log_error("cannot start: %s", strerror(-rc));
        goto out;
    }
    if ((rc = open_security(&dm)) != 0)
        goto out;
    /* The table is whole before the first datagram is read: the snapshot, then the
     * journal's changes past it. */
    if (cfg->snapshot[0] != '\0')
        load_snapshot(&dm);
    if (dm.journal != NULL) {
        if ((rc = resume_journal(&dm, &rec)) != 0)
            goto out;
        dm.journal_started = true;
    } else {
        start_epoch(ingest_state(dm.ingest));
    }
    init_handles(&dm);

    if ((rc = open_listeners(&dm)) != 0 ||
        (cfg->http.text[0] != '\0' && (rc = open_http(&dm)) != 0)) {
        close_all(&dm);
        uv_run(&dm.loop, UV_RUN_DEFAULT);
        goto out;
    }
    start_handles(&dm);
    say_ready(&dm);
    rc = uv_run(&dm.loop, UV_RUN_DEFAULT);
    /* The last changes synced now, so the publisher can send them in its grace period. */
    if (dm.journal != NULL) {
        ingest_write_journal(dm.ingest);
        journal_sync(dm.journal);
    }
    if (cfg->snapshot[0] != '\0')
        final_snapshot(&dm);
    log_info("stopped");
out:
    ingest_free(dm.ingest); /* owns the sinks once ingest_new was called */
    if (dm.journal_started) {
        int jrc = journal_finish(dm.journal);
        if (jrc != 0)
            log_error("journal: the clean stop could not be recorded: %s; the next start takes "
                      "this one for a crash",
                      strerror(-jrc));
    }
    journal_free(dm.journal);
    uv_loop_close(&dm.loop);
    intake_pool_free(dm.pool); /* after the loop ran the intakes' close callbacks */
    history_free(dm.history);
    return rc == 0 ? 0 : 1;
}
