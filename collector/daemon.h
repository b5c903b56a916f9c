/* daemon.h - injectord's lifecycle on one libuv loop: start, serve, drain, stop.
 *
 * daemon_run() builds everything the configuration asks for (sinks, the data path, the
 * snapshot, listeners, the HTTP API, signals, timers), runs the loop until SIGTERM or
 * SIGINT has drained the sockets, writes the last snapshot and frees it all. SIGHUP goes
 * to reload.h, which changes the running daemon through this header.
 *
 * Loop thread only: every field below is read and written on it.
 */
#ifndef INJECTOR_DAEMON_H
#define INJECTOR_DAEMON_H

#include "collector/config.h"
#include "collector/history.h"
#include "collector/http.h"
#include "collector/ingest.h"
#include "collector/tcp.h"
#include "collector/udp.h"
#include "sink/sink_amqp.h"

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

struct daemon {
    struct config *cfg; /* the running configuration; changed only by a reload */
    int argc;           /* to re-read the same file and options on SIGHUP (a private copy: */
    char **argv;        /* the process's own is scrubbed of passwords for ps) */
    uv_loop_t loop;
    struct ingest *ingest;
    struct udp *udp[CONFIG_MAX_LISTEN];
    size_t n_udp;
    /* Each listener as the last report read it: the HTTP API's listeners show that, so a
     * request reads each socket once. */
    struct {
        int64_t kernel_drops;
        struct intake_stats intake;
    } seen[CONFIG_MAX_LISTEN];
    struct intake_pool *pool; /* the listeners' queue memory, one cap for all */
    struct tcp *tcp[CONFIG_MAX_LISTEN];
    size_t n_tcp;
    struct sink *amqp;       /* the AMQP sink (owned by ingest), NULL without a broker */
    struct journal *journal; /* every change, before any sink; NULL without a state
                              * directory and a broker */
    bool journal_disk;       /* the journal has files (a state directory) */
    bool journal_started;
    struct http *http; /* NULL with --http off */
    uv_signal_t sig_int, sig_term, sig_usr1, sig_hup;
    uv_timer_t stats_timer, drain_timer, expiry_timer, snapshot_timer, watchdog_timer;
    pid_t snapshot_child;             /* a forked writer still running, or 0 */
    uint64_t snapshot_child_version;  /* the table's version it writes */
    struct log_ratelimit rl_snapshot; /* a failing snapshot fails every interval */
    uv_check_t flush_check;
    uv_timer_t flush_timer; /* wakes the loop while output waits for a stalled reader */
    bool stopping;
    bool intakes_stopped; /* stopping, and the sockets are read no more */
    uint64_t stop_deadline_ms;
    uint64_t started_ms; /* loop time at start, for the uptime */
    /* GET /v1/history's samples, one every --history-step (history_timer). */
    struct history *history;
    uv_timer_t history_timer;
};

/* Run the collector with cfg until it is stopped. cfg stays the caller's and is changed by
 * reloads; argc/argv are kept for them. Returns the process exit status (0, or 1 when it
 * could not start). */
int daemon_run(struct config *cfg, int argc, char **argv);

/* (Re)start the stats line timer: a line every interval_ms (0: stopped). */
void daemon_set_stats_timer(struct daemon *dm, uint64_t interval_ms);

/* (Re)start the periodic snapshot timer (when a snapshot is kept). */
void daemon_set_snapshot_timer(struct daemon *dm, uint64_t interval_ms);

/* The AMQP sink's configuration as c says (the broker's nodes into urls, which must
 * outlive *out), reading dm's journal: for the sink at start and its retarget on SIGHUP. */
void daemon_amqp_config(const struct daemon *dm, const struct config *c,
                        const char *urls[CONFIG_MAX_URLS], struct sink_amqp_config *out);

/* The one-line status for systemd ("N active alerts, ..."). */
void daemon_status(struct daemon *dm, char *buf, size_t size);

#endif
