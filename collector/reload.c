/* reload.c - SIGHUP: the running configuration against a fresh read of the same sources. */
#include "collector/reload.h"

#include "collector/acl.h"
#include "collector/auth.h"
#include "collector/daemon.h"
#include "collector/log.h"
#include "collector/notify.h"
#include "sink/secret.h"
#include "sink/sink_amqp.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

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
void reload_run(struct daemon *dm)
{
    struct config *cur = dm->cfg, next;
    char err[512];
    bool check;
    int restart = 0, applied = 0;

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
        log_info("reload: stats-interval %u -> %u s", cur->stats_interval_s, next.stats_interval_s);
        cur->stats_interval_s = next.stats_interval_s;
        daemon_set_stats_timer(dm);
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
        daemon_set_snapshot_timer(dm);
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
        log_info("reload: rate-limit %g -> %g /s, burst %g -> %g", cur->rate_limit, next.rate_limit,
                 cur->rate_burst, next.rate_burst);
        cur->rate_limit = next.rate_limit;
        cur->rate_burst = next.rate_burst;
        ingest_set_rate_limit(dm->ingest, cur->rate_limit, cur->rate_burst);
        applied++;
    }
    needs_restart("snapshot", strcmp(next.snapshot, cur->snapshot) != 0, &restart);
    if (dm->http != NULL &&
        (strcmp(next.http_token_file, cur->http_token_file) != 0 ||
         next.http_token_metrics != cur->http_token_metrics || next.http_token_file[0] != '\0')) {
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
    secret_scrub_url(next_url);
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
    needs_restart("spool",
                  strcmp(next.spool_dir, cur->spool_dir) != 0 ||
                      next.outbox_size != cur->outbox_size,
                  &restart);
    log_info("reload: %d setting(s) applied, %d need a restart", applied, restart);
reopen:
    rc = ingest_reopen(dm->ingest);
    if (rc != 0)
        log_error("SIGHUP: reopening %s failed: %s; still writing to the old file", dm->cfg->output,
                  strerror(-rc));
    else
        log_info("SIGHUP: output reopened");
    char status[256];
    daemon_status(dm, status, sizeof(status));
    notify_ready(status);
}
