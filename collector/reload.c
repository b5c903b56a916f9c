/* reload.c - SIGHUP: the running configuration against a fresh read of the same sources,
 * setting by setting, as config.h's table says. */
#include "collector/reload.h"

#include "collector/acl.h"
#include "collector/auth.h"
#include "collector/daemon.h"
#include "collector/intake.h"
#include "collector/log.h"
#include "collector/notify.h"
#include "sink/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* An apply function's answer besides 0 (applied) and a negative errno (the new value is
 * not usable; why says why and the old value stays). */
#define NEEDS_RESTART 1

/* Put next's values of a group of settings into effect on the running daemon. dm->cfg
 * still holds the old values; the caller moves the new ones over once this returned 0.
 * Returns 0 (why: an optional note for the log line), NEEDS_RESTART (why: the reason) or
 * a negative errno (why: what is wrong). */
typedef int (*apply_fn)(struct daemon *dm, const struct config *next, char *why, size_t size);

static int apply_log_level(struct daemon *dm, const struct config *next, char *why, size_t size)
{
    (void)dm, (void)why, (void)size;
    log_set_level((enum log_level)next->log_level);
    return 0;
}

static int apply_stats_interval(struct daemon *dm, const struct config *next, char *why,
                                size_t size)
{
    (void)why, (void)size;
    daemon_set_stats_timer(dm, next->stats_interval_ms);
    return 0;
}

static int apply_default_ttl(struct daemon *dm, const struct config *next, char *why, size_t size)
{
    state_set_default_ttl(ingest_state(dm->ingest), (unsigned)(next->default_ttl_ms / 1000));
    snprintf(why, size, "(from each alert's next refresh)");
    return 0;
}

static int apply_snapshot_interval(struct daemon *dm, const struct config *next, char *why,
                                   size_t size)
{
    if (dm->cfg->snapshot[0] == '\0')
        snprintf(why, size, "(no snapshot is kept: nothing to time)");
    else
        daemon_set_snapshot_timer(dm, next->snapshot_interval_ms);
    return 0;
}

/* The grace is read when SIGTERM comes. */
static int apply_shutdown_grace(struct daemon *dm, const struct config *next, char *why,
                                size_t size)
{
    (void)next;
    snprintf(why, size, "(from the next SIGTERM%s)",
             dm->amqp != NULL ? "; the AMQP sink keeps the grace it started with" : "");
    return 0;
}

static int apply_caps(struct daemon *dm, const struct config *next, char *why, size_t size)
{
    state_set_caps(ingest_state(dm->ingest), next->max_alerts, next->max_hosts);
    snprintf(why, size, "(alerts over a lowered cap stay)");
    return 0;
}

/* One cap for every listener's queue; an intake waiting at the old cap looks again at once. */
static int apply_queue_memory(struct daemon *dm, const struct config *next, char *why, size_t size)
{
    (void)why, (void)size;
    intake_pool_set_cap(dm->pool, (size_t)next->queue_memory);
    return 0;
}

static int apply_rate_limit(struct daemon *dm, const struct config *next, char *why, size_t size)
{
    (void)why, (void)size;
    ingest_set_rate_limit(dm->ingest, next->rate_limit, next->rate_burst);
    return 0;
}

/* Off gives the repeat cache's memory back; on allocates it again (empty). */
static int apply_fast_path(struct daemon *dm, const struct config *next, char *why, size_t size)
{
    int rc = ingest_set_fast_path(dm->ingest, next->fast_path);
    if (rc != 0)
        snprintf(why, size, "%s; it stays off", strerror(-rc));
    return rc;
}

static int apply_allow(struct daemon *dm, const struct config *next, char *why, size_t size)
{
    struct acl *acl;
    if (acl_parse(next->allow, &acl, why, size) != 0)
        return -EINVAL;
    if (acl_any_signed(acl) && ingest_auth(dm->ingest) == NULL) {
        snprintf(why, size,
                 "a block is marked +signed, but signatures are not checked (no "
                 "key-file at start)");
        acl_free(acl);
        return -EINVAL;
    }
    ingest_set_acl(dm->ingest, acl);
    return 0;
}

/* Keys are read again at every reload (rotation); the nonce cache is kept, so a reload
 * opens no replay window. Turning signatures on or off changes the data path: restart. */
static int apply_auth(struct daemon *dm, const struct config *next, char *why, size_t size)
{
    struct auth *auth = ingest_auth(dm->ingest);
    if (auth == NULL && (next->key_file[0] != '\0' || next->require_signature)) {
        snprintf(why, size, "turning signatures on");
        return NEEDS_RESTART;
    }
    if (auth == NULL) {
        snprintf(why, size, "(signatures are not checked)");
        return 0;
    }
    if (next->key_file[0] == '\0') {
        snprintf(why, size, "turning signatures off");
        return NEEDS_RESTART;
    }
    struct auth_config au = {.key_file = next->key_file,
                             .required = next->require_signature,
                             .skew_s = (unsigned)(next->signature_skew_ms / 1000)};
    return auth_reload(auth, &au, why, size);
}

/* The token file is read again at every reload: rotating the token needs no restart. */
static int apply_http_token(struct daemon *dm, const struct config *next, char *why, size_t size)
{
    char *token = NULL;
    int rc = 0;
    if (dm->http == NULL) {
        snprintf(why, size, "(the HTTP API is off)");
        return 0;
    }
    if (next->http_token_file[0] != '\0' &&
        (rc = secret_read_file(next->http_token_file, &token)) != 0) {
        snprintf(why, size, "%s: %s", next->http_token_file,
                 rc == -ENODATA ? "empty" : strerror(-rc));
        return rc;
    }
    rc = http_set_token(dm->http, token, next->http_token_metrics);
    secret_free(token);
    if (rc != 0)
        snprintf(why, size, "%s", strerror(-rc));
    return rc;
}

/* The AMQP target (URLs, exchange, password file) moves live: the sink reconnects and
 * keeps reading the journal. Turning the broker on or off changes the sinks: restart. */
static int apply_amqp_target(struct daemon *dm, const struct config *next, char *why, size_t size)
{
    if (dm->amqp == NULL || next->amqp.n == 0) {
        snprintf(why, size, "turning the broker on or off");
        return NEEDS_RESTART;
    }
    const char *urls[CONFIG_MAX_URLS];
    struct sink_amqp_config ac;
    daemon_amqp_config(dm, next, urls, &ac);
    if (sink_amqp_retarget(dm->amqp, &ac) != 0) {
        snprintf(why, size, "the new AMQP target is not usable (see above)");
        return -EINVAL;
    }
    snprintf(why, size, "(the sink reconnects; the journal is kept)");
    return 0;
}

enum reload_kind { RELOAD_RESTART, RELOAD_LIVE, RELOAD_REREAD };

struct reload_rule {
    enum reload_kind kind;
    apply_fn apply;
};

/* What a reload does with each setting: the reload column of config.h's table. */
#define RESTART                                                                                    \
    {                                                                                              \
        RELOAD_RESTART, NULL                                                                       \
    }
#define LIVE(fn)                                                                                   \
    {                                                                                              \
        RELOAD_LIVE, apply_##fn                                                                    \
    }
#define REREAD(fn)                                                                                 \
    {                                                                                              \
        RELOAD_REREAD, apply_##fn                                                                  \
    }
#define RULE(field, type, option, section, key, arg, dflt, lim, reload, help)                      \
    [CONFIG_##field] = reload,
static const struct reload_rule rules[CONFIG_N] = {CONFIG_SETTINGS(RULE)};

/* A setting's value for a log line; an empty one as --help shows it. */
static const char *shown(enum config_id id, const struct config *c, char *buf, size_t size)
{
    config_format(id, c, buf, size);
    if (buf[0] == '\0') {
        const char *s = config_settings[id].lim.shown;
        snprintf(buf, size, "%s", s != NULL && s[0] != '\0' ? s : "(none)");
    }
    return buf;
}

struct tally {
    int applied, restart, failed;
};

/* One group: the settings that share apply (one setting for most). */
static void reload_group(struct daemon *dm, const struct config *next, int first, bool *done,
                         struct tally *t)
{
    struct config *cur = dm->cfg;
    apply_fn apply = rules[first].apply;
    bool changed = false;
    int reread = -1;
    char why[512] = "", was[2048], now[2048];
    for (int i = first; i < CONFIG_N; i++) {
        if (rules[i].apply != apply)
            continue;
        changed = changed || !config_equal(i, cur, next);
        if (rules[i].kind == RELOAD_REREAD && !config_is_empty(i, next))
            reread = i;
    }
    int rc = changed || reread >= 0 ? apply(dm, next, why, sizeof(why)) : 0;
    for (int i = first; i < CONFIG_N; i++) {
        if (rules[i].apply != apply)
            continue;
        done[i] = true;
        if (config_equal(i, cur, next))
            continue;
        const char *opt = config_settings[i].option;
        shown(i, cur, was, sizeof(was));
        shown(i, next, now, sizeof(now));
        if (rc == 0) {
            log_info("reload: %s %s -> %s%s%s", opt, was, now, why[0] ? " " : "", why);
            config_copy(i, cur, next);
            t->applied++;
        } else if (rc == NEEDS_RESTART) {
            log_warning("reload: %s changed; that takes a restart (%s), the old value stays in "
                        "force",
                        opt, why);
            t->restart++;
        } else {
            log_error("reload: %s: %s; keeping %s", opt, why, was);
            t->failed++;
        }
    }
    if (!changed && reread >= 0) {
        const char *opt = config_settings[reread].option;
        if (rc == 0)
            log_info("reload: %s %s read again", opt, shown(reread, next, now, sizeof(now)));
        else if (rc < 0)
            log_error("reload: %s: %s; keeping what was read before", opt, why);
        t->failed += rc < 0;
    }
}

void reload_run(struct daemon *dm)
{
    struct config *next = malloc(sizeof(*next)); /* tens of KB: not on the stack */
    struct tally t = {0};
    bool done[CONFIG_N] = {false};
    enum config_mode mode;
    char err[512];

    notify_reloading();
    int rc =
        next == NULL ? -ENOMEM : config_load(next, dm->argc, dm->argv, &mode, err, sizeof(err));
    if (rc != 0) {
        log_error("reload failed, keeping the running configuration: %s",
                  next == NULL ? strerror(ENOMEM) : err);
        goto reopen;
    }
    for (int i = 0; i < CONFIG_N; i++) {
        if (done[i])
            continue;
        if (rules[i].kind != RELOAD_RESTART) {
            reload_group(dm, next, i, done, &t);
            continue;
        }
        if (!config_equal(i, dm->cfg, next)) {
            log_warning("reload: %s changed; that takes a restart, the old value stays in force",
                        config_settings[i].option);
            t.restart++;
        }
    }
    if (t.failed > 0)
        log_info("reload: %d setting(s) applied, %d need a restart, %d could not be applied",
                 t.applied, t.restart, t.failed);
    else
        log_info("reload: %d setting(s) applied, %d need a restart", t.applied, t.restart);
reopen:
    free(next);
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
