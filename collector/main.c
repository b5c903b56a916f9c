/* main.c - injectord: wire config, listeners, the data path and signals onto one libuv loop. */
#include "collector/acl.h"
#include "collector/auth.h"
#include "collector/config.h"
#include "collector/http.h"
#include "collector/ingest.h"
#include "collector/log.h"
#include "collector/notify.h"
#include "collector/snapshot.h"
#include "collector/tcp.h"
#include "collector/udp.h"
#include "sink/sink_amqp.h"
#include "sink/sink_file.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/wait.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

static void scrub_url(char *s);

struct daemon {
    struct config *cfg; /* changed only by a reload, on the loop thread */
    int argc;           /* kept to re-read the same file and options on SIGHUP */
    char **argv;
    uv_loop_t loop;
    struct ingest *ingest;
    struct udp *udp[CONFIG_MAX_LISTEN];
    size_t n_udp;
    struct tcp *tcp[CONFIG_MAX_LISTEN];
    size_t n_tcp;
    struct sink *amqp; /* the AMQP sink (owned by ingest), NULL without a broker */
    struct http *http;
    uv_signal_t sig_int, sig_term, sig_usr1, sig_hup;
    uv_timer_t stats_timer, drain_timer, expiry_timer, snapshot_timer, watchdog_timer;
    pid_t snapshot_child; /* a forked writer still running, or 0 */
    uv_check_t flush_check;
    bool stopping;
    uint64_t stop_deadline_ms;
};

static int64_t wall_ms(void)
{
    struct timespec ts;
    /* The coarse clock is a few ns per call and ms-accurate enough for "received". */
    clock_gettime(CLOCK_REALTIME_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void on_datagram(const struct udp_datagram *d, void *data)
{
    struct daemon *dm = data;
    ingest_datagram(dm->ingest, d->buf, d->len, d->truncated, d->from, wall_ms(),
                    (int64_t)uv_now(&dm->loop));
}

static void refresh_drops(void *data)
{
    struct daemon *dm = data;
    uint64_t total = 0;
    for (size_t i = 0; i < dm->n_udp; i++) {
        int64_t d = udp_drops(dm->udp[i]);
        if (d > 0)
            total += (uint64_t)d;
    }
    ingest_set_kernel_drops(dm->ingest, total);
}

static void status_line(struct daemon *dm, char *buf, size_t size)
{
    const struct stats *s = ingest_stats(dm->ingest);
    snprintf(buf, size, "%llu active alerts, %llu datagrams, %llu kernel drops, version %llu",
             (unsigned long long)s->active, (unsigned long long)s->datagrams,
             (unsigned long long)s->kernel_drops, (unsigned long long)s->version);
}

static void print_stats(struct daemon *dm, const char *why)
{
    char line[1024], sinks[512], status[256];
    refresh_drops(dm);
    stats_format(ingest_stats(dm->ingest), line, sizeof(line));
    ingest_format_sink_stats(dm->ingest, sinks, sizeof(sinks));
    log_info("stats%s: %s%s", why, line, sinks);
    status_line(dm, status, sizeof(status));
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

/* Build the sinks: AMQP when a broker is configured, the JSON-lines output when none is or
 * when --output was asked for as well. *version gets the highest version in the spool. */
static int open_sinks(const struct config *cfg, struct sink **sinks, size_t *n,
                      uint64_t *version, struct sink **amqp)
{
    int rc;
    *n = 0;
    *version = 0;
    if (cfg->amqp_url[0] != '\0') {
        struct sink_amqp_config ac = {
            .url = cfg->amqp_url,
            .password_file = cfg->amqp_password_file[0] ? cfg->amqp_password_file : NULL,
            .ca_file = cfg->amqp_ca_file[0] ? cfg->amqp_ca_file : NULL,
            .cert_file = cfg->amqp_cert_file[0] ? cfg->amqp_cert_file : NULL,
            .key_file = cfg->amqp_key_file[0] ? cfg->amqp_key_file : NULL,
            .exchange = cfg->amqp_exchange,
            .confirm_window = cfg->amqp_confirm_window,
            .mandatory = cfg->amqp_mandatory,
            .heartbeat_s = cfg->amqp_heartbeat_s,
            .flush_timeout_s = cfg->shutdown_grace_s,
            .spool_dir = cfg->spool_dir[0] ? cfg->spool_dir : NULL,
            .outbox_size = cfg->outbox_size,
            .log = sink_log,
        };
        if ((rc = sink_amqp_new(&ac, &sinks[*n], version)) != 0) {
            log_error("cannot start the AMQP sink: %s", strerror(-rc));
            return rc;
        }
        *amqp = sinks[*n];
        (*n)++;
        if (ac.spool_dir == NULL)
            log_warning("amqp: no --spool-dir: while the broker is down, changes past the "
                        "%zu held in memory are lost (counted)",
                        cfg->outbox_size);
    }
    if (cfg->amqp_url[0] == '\0' || cfg->output_given) {
        if ((rc = sink_file_new(cfg->output, &sinks[*n])) != 0) {
            log_error("cannot open output %s: %s", cfg->output, strerror(-rc));
            for (size_t i = 0; i < *n; i++)
                sink_free(sinks[i]);
            *n = 0;
            return rc;
        }
        (*n)++;
    }
    return 0;
}

static void on_stats_timer(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    ingest_tick(dm->ingest, (int64_t)uv_now(&dm->loop));
    print_stats(dm, "");
}

/* Once a second: expire what is due. TTLs are whole seconds, so this is exact enough, and
 * the heap makes an idle tick cost one comparison. */
static void on_expiry_timer(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    ingest_expire(dm->ingest, wall_ms(), (int64_t)uv_now(&dm->loop));
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
    if (r == dm->snapshot_child && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        log_error("snapshot: writing %s failed (see the line above)", dm->cfg->snapshot);
    dm->snapshot_child = 0;
    return true;
}

/* Every snapshot_interval: a forked child writes the table (copy-on-write), the loop goes on
 * reading datagrams. A writer still busy from last time is left alone, not doubled. */
static void on_snapshot_timer(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    if (!snapshot_child_done(dm, false)) {
        log_warning("snapshot: the previous write is still running; skipping this one");
        return;
    }
    pid_t pid = snapshot_write_async(ingest_state(dm->ingest), dm->cfg->snapshot,
                                     dm->cfg->collector_id);
    if (pid < 0)
        log_error("snapshot: cannot fork a writer: %s", strerror((int)-pid));
    else
        dm->snapshot_child = pid;
}

static void load_snapshot(struct daemon *dm)
{
    const struct config *cfg = dm->cfg;
    struct snapshot_info info;
    char err[512];
    int rc = snapshot_load(ingest_state(dm->ingest), cfg->snapshot, &info, err, sizeof(err));
    if (rc == 0 && !info.clean) {
        /* The last run did not stop cleanly: after this (periodic) snapshot it may have
         * numbered up to snapshot-interval seconds of changes more. Jump past anything it
         * could have issued (a million changes a second is above what one collector does),
         * so no version is ever used twice; a consumer sees a gap and resyncs. */
        uint64_t jump = ((uint64_t)cfg->snapshot_interval_s + 10) * 1000000u;
        state_set_version(ingest_state(dm->ingest), info.version + jump);
        log_warning("snapshot: the previous run did not stop cleanly; numbering goes on from "
                    "%llu instead of %llu, so no version is used twice",
                    (unsigned long long)(info.version + jump), (unsigned long long)info.version);
    }
    if (rc == 0) {
        log_info("snapshot: restored %zu active alerts from %s (version %llu); they are not "
                 "announced again",
                 info.loaded, cfg->snapshot, (unsigned long long)info.version);
    } else if (rc == -ENOENT) {
        log_info("snapshot: %s does not exist yet; starting with an empty table", cfg->snapshot);
    } else {
        char aside[1100];
        snprintf(aside, sizeof(aside), "%s.corrupt-%lld", cfg->snapshot, (long long)time(NULL));
        if (rename(cfg->snapshot, aside) == 0)
            log_error("snapshot: %s; kept the %zu alerts read before the damage; the file is "
                      "set aside as %s",
                      err, info.loaded, aside);
        else
            log_error("snapshot: %s; kept the %zu alerts read before the damage; the file "
                      "stays in place (cannot rename it: %s)",
                      err, info.loaded, strerror(errno));
    }
}

/* Without a snapshot to go on from, this run starts a new version series: consumers that
 * see its id change know the numbering may have started over, and resync. */
static void start_epoch(struct state *st)
{
    uint64_t e = 0;
    if (state_epoch(st) != 0)
        return;
    while (e == 0)
        if (getrandom(&e, sizeof(e), 0) != (ssize_t)sizeof(e))
            e = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    state_set_epoch(st, e);
    log_info("versions: a new series %016llx, numbering on from %llu", (unsigned long long)e,
             (unsigned long long)state_version(st));
}

/* At exit: the last word, written in place (the loop is done, nothing waits for it). */
static void final_snapshot(struct daemon *dm)
{
    char err[512];
    snapshot_child_done(dm, true);
    if (snapshot_write(ingest_state(dm->ingest), dm->cfg->snapshot, dm->cfg->collector_id, true,
                       err, sizeof(err)) == 0)
        log_info("snapshot: %zu active alerts written to %s",
                 state_count(ingest_state(dm->ingest)), dm->cfg->snapshot);
    else
        log_error("snapshot: %s", err);
}

/* After each poll phase: one flush for everything the sinks got in this iteration. */
static void on_flush_check(uv_check_t *c)
{
    struct daemon *dm = c->data;
    ingest_flush(dm->ingest, (int64_t)uv_now(&dm->loop));
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
        (uv_handle_t *)&dm->sig_int,     (uv_handle_t *)&dm->sig_term,
        (uv_handle_t *)&dm->sig_usr1,    (uv_handle_t *)&dm->sig_hup,
        (uv_handle_t *)&dm->stats_timer, (uv_handle_t *)&dm->drain_timer,
        (uv_handle_t *)&dm->expiry_timer,    (uv_handle_t *)&dm->snapshot_timer,
        (uv_handle_t *)&dm->watchdog_timer,
        (uv_handle_t *)&dm->flush_check,
    };
    for (size_t i = 0; i < sizeof(handles) / sizeof(handles[0]); i++)
        if (!uv_is_closing(handles[i]))
            uv_close(handles[i], NULL);
}

/* While stopping: keep reading until every socket's queue is empty or the grace period is
 * over, so a SIGTERM in the middle of a burst does not throw the queued part away. */
static void on_drain_timer(uv_timer_t *t)
{
    struct daemon *dm = t->data;
    int64_t queued = 0;
    for (size_t i = 0; i < dm->n_udp; i++) {
        int64_t q = udp_queued(dm->udp[i]);
        if (q > 0)
            queued += q;
    }
    bool late = uv_now(&dm->loop) >= dm->stop_deadline_ms;
    if (queued > 0 && !late)
        return;
    if (queued > 0)
        log_warning("shutdown grace of %u s over with %lld bytes still queued; those "
                    "datagrams are not read",
                    dm->cfg->shutdown_grace_s, (long long)queued);
    ingest_flush(dm->ingest, (int64_t)uv_now(&dm->loop));
    print_stats(dm, " (final)");
    close_all(dm);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    struct daemon *dm = s->data;
    if (dm->stopping) {
        log_warning("second %s: stopping now", strsignal(signum));
        ingest_flush(dm->ingest, (int64_t)uv_now(&dm->loop));
        close_all(dm);
        return;
    }
    dm->stopping = true;
    notify_stopping();
    log_info("%s: draining the sockets, then stopping", strsignal(signum));
    dm->stop_deadline_ms = uv_now(&dm->loop) + (uint64_t)dm->cfg->shutdown_grace_s * 1000;
    /* The datagrams themselves are read by the normal path; this only checks for empty. */
    uv_timer_start(&dm->drain_timer, on_drain_timer, 0, 10);
}

static void on_usr1(uv_signal_t *s, int signum)
{
    (void)signum;
    print_stats(s->data, "");
}

/* Settings a reload cannot apply: they hold sockets, files or a connection. */
static void needs_restart(const char *what, bool changed, int *n)
{
    if (!changed)
        return;
    log_warning("reload: %s changed; that takes a restart, the old value stays in force", what);
    (*n)++;
}

/* SIGHUP: re-read the configuration, apply what can change live, say what cannot; reopen
 * the output (logrotate). The sockets stay open throughout: nothing is lost. A file that
 * does not parse changes nothing. */
static void on_hup(uv_signal_t *s, int signum)
{
    struct daemon *dm = s->data;
    struct config *cur = dm->cfg, next;
    char err[512];
    bool check;
    int restart = 0, applied = 0;
    (void)signum;

    notify_reloading();
    int rc = config_load(&next, dm->argc, dm->argv, &check, err, sizeof(err));
    if (rc != 0) {
        log_error("reload failed, keeping the running configuration: %s", err);
        goto reopen;
    }
    if (next.log_level != cur->log_level) {
        log_info("reload: log-level %s -> %s", log_level_name(cur->log_level),
                 log_level_name(next.log_level));
        log_set_level(next.log_level);
        cur->log_level = next.log_level;
        applied++;
    }
    if (next.stats_interval_s != cur->stats_interval_s) {
        log_info("reload: stats-interval %u -> %u s", cur->stats_interval_s,
                 next.stats_interval_s);
        cur->stats_interval_s = next.stats_interval_s;
        uv_timer_stop(&dm->stats_timer);
        if (cur->stats_interval_s > 0)
            uv_timer_start(&dm->stats_timer, on_stats_timer, cur->stats_interval_s * 1000ull,
                           cur->stats_interval_s * 1000ull);
        applied++;
    }
    if (next.default_ttl_s != cur->default_ttl_s) {
        log_info("reload: default-ttl %u -> %u s (from each alert's next refresh)",
                 cur->default_ttl_s, next.default_ttl_s);
        cur->default_ttl_s = next.default_ttl_s;
        state_set_default_ttl(ingest_state(dm->ingest), next.default_ttl_s);
        applied++;
    }
    if (next.snapshot_interval_s != cur->snapshot_interval_s && cur->snapshot[0] != '\0') {
        log_info("reload: snapshot-interval %u -> %u s", cur->snapshot_interval_s,
                 next.snapshot_interval_s);
        cur->snapshot_interval_s = next.snapshot_interval_s;
        uv_timer_start(&dm->snapshot_timer, on_snapshot_timer,
                       cur->snapshot_interval_s * 1000ull, cur->snapshot_interval_s * 1000ull);
        applied++;
    }
    if (next.shutdown_grace_s != cur->shutdown_grace_s) {
        cur->shutdown_grace_s = next.shutdown_grace_s;
        applied++;
    }
    bool listen_changed = next.n_listen != cur->n_listen;
    for (size_t i = 0; !listen_changed && i < next.n_listen; i++)
        listen_changed = strcmp(next.listen[i], cur->listen[i]) != 0;
    needs_restart("listen", listen_changed, &restart);
    needs_restart("rcvbuf", next.rcvbuf != cur->rcvbuf, &restart);
    needs_restart("http", strcmp(next.http, cur->http) != 0, &restart);
    needs_restart("output", strcmp(next.output, cur->output) != 0, &restart);
    needs_restart("reuseport", next.reuseport != cur->reuseport, &restart);
    needs_restart("collector-id", strcmp(next.collector_id, cur->collector_id) != 0, &restart);
    if (next.max_alerts != cur->max_alerts || next.max_hosts != cur->max_hosts) {
        log_info("reload: max-alerts %zu -> %zu, max-hosts %zu -> %zu", cur->max_alerts,
                 next.max_alerts, cur->max_hosts, next.max_hosts);
        cur->max_alerts = next.max_alerts;
        cur->max_hosts = next.max_hosts;
        state_set_caps(ingest_state(dm->ingest), cur->max_alerts, cur->max_hosts);
        applied++;
    }
    if (next.rate_limit != cur->rate_limit || next.rate_burst != cur->rate_burst) {
        log_info("reload: rate-limit %g -> %g /s, burst %g -> %g", cur->rate_limit,
                 next.rate_limit, cur->rate_burst, next.rate_burst);
        cur->rate_limit = next.rate_limit;
        cur->rate_burst = next.rate_burst;
        ingest_set_rate_limit(dm->ingest, cur->rate_limit, cur->rate_burst);
        applied++;
    }
    if (next.fast_path != cur->fast_path) {
        if (ingest_set_fast_path(dm->ingest, next.fast_path) != 0) {
            log_error("reload: fast-path: out of memory; it stays off");
        } else {
            log_info("reload: fast-path %s", next.fast_path ? "on" : "off");
            cur->fast_path = next.fast_path;
            applied++;
        }
    }
    needs_restart("snapshot", strcmp(next.snapshot, cur->snapshot) != 0, &restart);
    if (dm->http != NULL && (strcmp(next.http_token_file, cur->http_token_file) != 0 ||
                             next.http_token_metrics != cur->http_token_metrics ||
                             next.http_token_file[0] != '\0')) {
        /* The file is read again on every reload: rotating the token needs no restart. */
        char token[512];
        int trc = next.http_token_file[0] != '\0'
                      ? http_read_token(next.http_token_file, token, sizeof(token))
                      : 0;
        if (trc != 0) {
            log_error("reload: http-token-file %s: %s; keeping the running token",
                      next.http_token_file, trc == -EINVAL ? "empty" : strerror(-trc));
        } else {
            http_set_token(dm->http, next.http_token_file[0] ? token : NULL,
                           next.http_token_metrics);
            snprintf(cur->http_token_file, sizeof(cur->http_token_file), "%s",
                     next.http_token_file);
            cur->http_token_metrics = next.http_token_metrics;
            applied++;
        }
        memset(token, 0, sizeof(token));
    }
    if (next.key_file[0] != '\0' && ingest_auth(dm->ingest) != NULL) {
        /* Keys are read again on every reload (rotation); the nonce cache is kept. */
        char why[512];
        struct auth_config au = {.key_file = next.key_file,
                                 .required = next.require_signature,
                                 .skew_s = next.signature_skew_s};
        if (auth_reload(ingest_auth(dm->ingest), &au, why, sizeof(why)) != 0) {
            log_error("reload: key-file: %s; keeping the running keys", why);
        } else {
            snprintf(cur->key_file, sizeof(cur->key_file), "%s", next.key_file);
            cur->require_signature = next.require_signature;
            cur->signature_skew_s = next.signature_skew_s;
            applied++;
        }
    } else {
        needs_restart("key-file (turning signatures on or off)",
                      strcmp(next.key_file, cur->key_file) != 0, &restart);
    }
    if (strcmp(next.allow, cur->allow) != 0) {
        struct acl *acl = NULL;
        char why[256];
        if (acl_parse(next.allow, &acl, why, sizeof(why)) != 0) {
            log_error("reload: allow: %s; keeping the running list", why);
        } else if (acl_any_signed(acl) && ingest_auth(dm->ingest) == NULL) {
            log_error("reload: allow marks a block +signed, but signatures are not checked "
                      "(no key-file at start); keeping the running list");
            acl_free(acl);
        } else {
            ingest_set_acl(dm->ingest, acl);
            log_info("reload: allow %s -> %s", cur->allow[0] ? cur->allow : "(everyone)",
                     next.allow[0] ? next.allow : "(everyone)");
            snprintf(cur->allow, sizeof(cur->allow), "%s", next.allow);
            applied++;
        }
    }
    /* The AMQP target (URL, exchange, password file) moves live: the sink reconnects and
     * keeps its outbox and spool. URLs are compared with their passwords starred, as the
     * running one is kept. */
    char next_url[sizeof(next.amqp_url)];
    snprintf(next_url, sizeof(next_url), "%s", next.amqp_url);
    scrub_url(next_url);
    bool target = strcmp(next_url, cur->amqp_url) != 0 ||
                  strcmp(next.amqp_exchange, cur->amqp_exchange) != 0 ||
                  strcmp(next.amqp_password_file, cur->amqp_password_file) != 0;
    if (target && (dm->amqp == NULL || next.amqp_url[0] == '\0')) {
        needs_restart("amqp (turning the broker on or off)", true, &restart);
    } else if (target) {
        struct sink_amqp_config ac = {
            .url = next.amqp_url,
            .password_file = next.amqp_password_file[0] ? next.amqp_password_file : NULL,
            .exchange = next.amqp_exchange,
        };
        if (sink_amqp_retarget(dm->amqp, &ac) == 0) {
            log_info("reload: amqp target -> %s, exchange %s (the outbox and spool are kept)",
                     next_url, next.amqp_exchange);
            snprintf(cur->amqp_url, sizeof(cur->amqp_url), "%s", next_url);
            snprintf(cur->amqp_exchange, sizeof(cur->amqp_exchange), "%s", next.amqp_exchange);
            snprintf(cur->amqp_password_file, sizeof(cur->amqp_password_file), "%s",
                     next.amqp_password_file);
            applied++;
        } else {
            log_error("reload: the new AMQP target is not usable; still publishing to %s",
                      cur->amqp_url);
        }
    }
    needs_restart("amqp-confirm-window, amqp-mandatory or amqp-heartbeat",
                  next.amqp_confirm_window != cur->amqp_confirm_window ||
                      next.amqp_mandatory != cur->amqp_mandatory ||
                      next.amqp_heartbeat_s != cur->amqp_heartbeat_s,
                  &restart);
    needs_restart("spool", strcmp(next.spool_dir, cur->spool_dir) != 0 ||
                               next.outbox_size != cur->outbox_size,
                  &restart);
    log_info("reload: %d setting(s) applied, %d need a restart", applied, restart);
reopen:
    rc = ingest_reopen(dm->ingest);
    if (rc != 0)
        log_error("SIGHUP: reopening %s failed: %s; still writing to the old file",
                  dm->cfg->output, strerror(-rc));
    else
        log_info("SIGHUP: output reopened");
    char status[256];
    status_line(dm, status, sizeof(status));
    notify_ready(status);
}

static int open_listeners(struct daemon *dm)
{
    const struct config *cfg = dm->cfg;
    for (size_t i = 0; i < cfg->n_listen; i++) {
        struct udp *u;
        int rc = udp_new(&dm->loop, (const struct sockaddr *)&cfg->listen_addr[i], cfg->rcvbuf,
                         cfg->reuseport, on_datagram, dm, &u);
        if (rc != 0) {
            log_error("cannot listen on udp %s: %s", cfg->listen[i], uv_strerror(rc));
            return rc;
        }
        dm->udp[dm->n_udp++] = u;
        log_info("listening on udp %s (receive buffer: asked %zu bytes, kernel reports %zu)",
                 udp_name(u), cfg->rcvbuf, udp_rcvbuf(u));
        if (cfg->reuseport > 0)
            log_info("udp %s is shared by a group of %u processes (SO_REUSEPORT): this one "
                     "sees the senders whose address falls to it",
                     udp_name(u), cfg->reuseport);
        if (cfg->tcp) {
            /* The same address and port number, the bound one when 0 was asked. */
            struct sockaddr_storage a;
            config_parse_address(udp_name(u), &a);
            struct tcp_config tc = {.addr = (const struct sockaddr *)&a, .ingest = dm->ingest};
            struct tcp *t;
            if ((rc = tcp_new(&dm->loop, &tc, &t)) != 0) {
                log_error("cannot listen on tcp %s: %s", udp_name(u), uv_strerror(rc));
                return rc;
            }
            dm->tcp[dm->n_tcp++] = t;
            log_info("listening on tcp %s (one document per connection)", tcp_name(t));
        }
        if (udp_rcvbuf_clamped(u))
            log_warning("udp %s: asked for a %zu-byte receive buffer, the kernel granted %zu: "
                        "bursts larger than that are dropped. Raise the limit with "
                        "'sysctl -w net.core.rmem_max=%zu' or run with CAP_NET_ADMIN",
                        udp_name(u), cfg->rcvbuf, udp_rcvbuf(u) / 2, cfg->rcvbuf);
    }
    return 0;
}

static int run(struct config *cfg, int argc, char **argv)
{
    struct daemon dm = {.cfg = cfg, .argc = argc, .argv = argv};
    struct sink *sinks[2];
    size_t n_sinks;
    uint64_t spool_version;
    int rc;

    if ((rc = uv_loop_init(&dm.loop)) != 0) {
        log_error("event loop: %s", uv_strerror(rc));
        return 1;
    }
    if ((rc = open_sinks(cfg, sinks, &n_sinks, &spool_version, &dm.amqp)) != 0)
        goto out;
    struct ingest_config ic = {.collector_id = cfg->collector_id,
                               .max_alerts = cfg->max_alerts,
                               .default_ttl_s = cfg->default_ttl_s,
                               .max_hosts = cfg->max_hosts,
                               .rate_limit = cfg->rate_limit,
                               .rate_burst = cfg->rate_burst,
                               .fast_path = cfg->fast_path};
    if ((rc = ingest_new(&ic, sinks, n_sinks, &dm.ingest)) != 0) {
        log_error("cannot start: %s", strerror(-rc));
        goto out;
    }
    /* The sink has its copy of the URL; the one kept here (for reloads to compare with a
     * re-read, starred argv) loses its password. */
    scrub_url(cfg->amqp_url);
    if (cfg->allow[0] != '\0') {
        struct acl *acl;
        char why[256];
        if ((rc = acl_parse(cfg->allow, &acl, why, sizeof(why))) != 0) { /* config checked it */
            log_error("allow: %s", why);
            goto out;
        }
        if (acl_any_signed(acl) && cfg->key_file[0] == '\0') {
            log_error("allow: a block is marked +signed, but no key-file is given to check "
                      "signatures with");
            acl_free(acl);
            rc = -EINVAL;
            goto out;
        }
        ingest_set_acl(dm.ingest, acl);
        log_info("accepting alerts only from: %s (%zu blocks)", cfg->allow, acl_size(acl));
    }
    if (cfg->key_file[0] != '\0') {
        struct auth *auth;
        char why[512];
        struct auth_config au = {.key_file = cfg->key_file,
                                 .required = cfg->require_signature,
                                 .skew_s = cfg->signature_skew_s};
        if ((rc = auth_new(&au, &auth, why, sizeof(why))) != 0) {
            log_error("key-file: %s", why);
            goto out;
        }
        ingest_set_auth(dm.ingest, auth);
        log_info("signatures checked with %s%s", cfg->key_file,
                 cfg->require_signature ? "; unsigned datagrams are refused" : "");
    } else if (cfg->require_signature) {
        log_error("require-signature needs key-file");
        rc = -EINVAL;
        goto out;
    }
    /* Changes still in the spool were numbered by an earlier run: number on from them. */
    state_set_version(ingest_state(dm.ingest), spool_version);

    uv_signal_t *sigs[] = {&dm.sig_int, &dm.sig_term, &dm.sig_usr1, &dm.sig_hup};
    for (size_t i = 0; i < 4; i++) {
        uv_signal_init(&dm.loop, sigs[i]);
        sigs[i]->data = &dm;
    }
    uv_timer_init(&dm.loop, &dm.stats_timer);
    uv_timer_init(&dm.loop, &dm.drain_timer);
    uv_timer_init(&dm.loop, &dm.expiry_timer);
    uv_timer_init(&dm.loop, &dm.snapshot_timer);
    uv_timer_init(&dm.loop, &dm.watchdog_timer);
    dm.expiry_timer.data = dm.snapshot_timer.data = dm.watchdog_timer.data = &dm;
    /* The table is whole before the first datagram is read. */
    if (cfg->snapshot[0] != '\0')
        load_snapshot(&dm);
    start_epoch(ingest_state(dm.ingest));
    uv_check_init(&dm.loop, &dm.flush_check);
    dm.stats_timer.data = dm.drain_timer.data = dm.flush_check.data = &dm;

    if ((rc = open_listeners(&dm)) != 0) {
        close_all(&dm);
        uv_run(&dm.loop, UV_RUN_DEFAULT);
        goto out;
    }
    if (cfg->http[0] != '\0') {
        struct timespec now;
        char token[512];
        clock_gettime(CLOCK_REALTIME, &now);
        if (cfg->http_token_file[0] != '\0' &&
            (rc = http_read_token(cfg->http_token_file, token, sizeof(token))) != 0) {
            log_error("http-token-file %s: %s", cfg->http_token_file,
                      rc == -EINVAL ? "empty" : strerror(-rc));
            close_all(&dm);
            uv_run(&dm.loop, UV_RUN_DEFAULT);
            goto out;
        }
        struct http_config hc = {
            .addr = (const struct sockaddr *)&cfg->http_addr,
            .ingest = dm.ingest,
            .collector_id = cfg->collector_id,
            .udp = dm.udp,
            .n_udp = &dm.n_udp,
            .started_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
            .token = cfg->http_token_file[0] ? token : NULL,
            .token_metrics = cfg->http_token_metrics,
            .refresh = refresh_drops,
            .data = &dm,
        };
        if ((rc = http_new(&dm.loop, &hc, &dm.http)) != 0) {
            log_error("cannot serve HTTP on %s: %s (--http off to go without)", cfg->http,
                      strerror(-rc));
            close_all(&dm);
            uv_run(&dm.loop, UV_RUN_DEFAULT);
            goto out;
        }
        log_info("HTTP API on http://%s/ (the dashboard page is at /)%s", http_name(dm.http),
                 cfg->http_token_file[0] ? "; bearer token required for the data" : "");
        memset(token, 0, sizeof(token));
    }
    uv_signal_start(&dm.sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&dm.sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&dm.sig_usr1, on_usr1, SIGUSR1);
    uv_signal_start(&dm.sig_hup, on_hup, SIGHUP);
    uv_check_start(&dm.flush_check, on_flush_check);
    uv_timer_start(&dm.expiry_timer, on_expiry_timer, 1000, 1000);
    if (cfg->snapshot[0] != '\0')
        uv_timer_start(&dm.snapshot_timer, on_snapshot_timer, cfg->snapshot_interval_s * 1000ull,
                       cfg->snapshot_interval_s * 1000ull);
    if (cfg->stats_interval_s > 0)
        uv_timer_start(&dm.stats_timer, on_stats_timer, cfg->stats_interval_s * 1000ull,
                       cfg->stats_interval_s * 1000ull);

    uint64_t wd = notify_watchdog_ms();
    if (wd > 0)
        uv_timer_start(&dm.watchdog_timer, on_watchdog_timer, wd, wd);
    char status[256];
    status_line(&dm, status, sizeof(status));
    notify_ready(status);
    const char *output = strcmp(cfg->output, "-") == 0 ? "stdout" : cfg->output;
    char where[1400];
    if (cfg->amqp_url[0] == '\0')
        snprintf(where, sizeof(where), "%s", output);
    else if (!cfg->output_given)
        snprintf(where, sizeof(where), "amqp exchange %s", cfg->amqp_exchange);
    else
        snprintf(where, sizeof(where), "amqp exchange %s and %s", cfg->amqp_exchange, output);
    log_info("injectord %s ready: collector %s, changes to %s", INJECTOR_VERSION,
             cfg->collector_id, where);
    rc = uv_run(&dm.loop, UV_RUN_DEFAULT);
    if (cfg->snapshot[0] != '\0')
        final_snapshot(&dm);
    log_info("stopped");
out:
    ingest_free(dm.ingest); /* owns the sink once ingest_new was called */
    uv_loop_close(&dm.loop);
    return rc == 0 ? 0 : 1;
}

/* Star out the password of an amqp:// URL in place. */
static void scrub_url(char *s)
{
    size_t skip = 8;
    char *url = strstr(s, "amqps://");
    if (url == NULL) {
        url = strstr(s, "amqp://");
        skip = 7;
    }
    if (url == NULL)
        return;
    char *at = strchr(url, '@');
    char *colon = strchr(url + skip, ':');
    if (at != NULL && colon != NULL && colon < at)
        memset(colon + 1, '*', (size_t)(at - colon - 1));
}

/* The URL may carry a password: blank it in our argv so ps(1) does not show it. */
static void scrub_password(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        scrub_url(argv[i]);
}

int main(int argc, char **argv)
{
    struct config cfg;
    char err[512];
    bool check;

    int rc = config_load(&cfg, argc, argv, &check, err, sizeof(err));
    if (rc == 1)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "injectord: %s\n", err);
        return check ? 1 : 2;
    }
    if (check) {
        config_print(&cfg, stdout);
        return 0;
    }
    log_set_level(cfg.log_level);
    scrub_password(argc, argv);
    /* A reader of our stdout going away must be an error on write, not a silent death. */
    signal(SIGPIPE, SIG_IGN);
    return run(&cfg, argc, argv);
}
