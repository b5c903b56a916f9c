/* ingest.c - one datagram through parser, state table and sinks, with its counters. */
#include "collector/ingest.h"

#include "collector/acl.h"
#include "collector/address.h"
#include "collector/auth.h"
#include "collector/log.h"
#include "collector/ratelimit.h"
#include "collector/repeat.h"
#include "collector/sources.h"
#include "parsers/alert_xml.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The journal's counters join the sinks' in a report (under "sink" in /v1/stats, as
 * injector_sink_journal_... in /metrics): a sink that takes nothing and reports them. */
struct journal_reporter {
    struct sink base;
    struct journal *journal;
};

struct ingest {
    char *collector_id;
    struct alert_xml *parser;
    struct state *state;
    struct sources *sources;
    struct acl *acl; /* NULL: everyone */
    struct ratelimit *rate;
    struct auth *auth;       /* NULL: signatures not checked */
    struct journal *journal; /* borrowed; NULL: none */
    struct repeat *repeat;   /* NULL: the fast path is off */
    struct sink *sinks[INGEST_MAX_SINKS];
    size_t n_sinks;
    struct journal_reporter reporter;
    struct sink *reported[INGEST_MAX_SINKS + 1]; /* the reporter, then the sinks */
    bool dirty;                                  /* written since the last flush */
    struct stats stats;
    struct change_json json;
    struct alert_xml_result res; /* large: kept here rather than on the stack */
    /* The last sender formatted: a burst comes from one address, and inet_ntop plus
     * snprintf per change showed in the profile. */
    struct sockaddr_storage last_from;
    char last_sender[ADDRESS_TEXT_MAX];
    struct log_ratelimit rl_malformed, rl_invalid, rl_full, rl_sink, rl_acl, rl_rate, rl_auth;
};

static int reporter_write(struct sink *sk, const struct change *c, const char *json, size_t len)
{
    (void)sk;
    (void)c;
    (void)json;
    (void)len;
    return 0;
}

static void reporter_counters(struct sink *sk, counter_fn fn, void *data)
{
    journal_counters(((struct journal_reporter *)sk)->journal, fn, data);
}

static void reporter_free(struct sink *sk)
{
    (void)sk; /* the journal is the daemon's */
}

static const struct sink_ops reporter_ops = {
    .name = "journal",
    .write = reporter_write,
    .counters = reporter_counters,
    .free = reporter_free,
};

int ingest_new(const struct ingest_config *cfg, struct sink **sinks, size_t n_sinks,
               struct ingest **out)
{
    int rc = -ENOMEM;
    struct ingest *in = calloc(1, sizeof(*in));
    if (in == NULL)
        goto fail_sinks;
    if (n_sinks > INGEST_MAX_SINKS) {
        rc = -EINVAL;
        goto fail_sinks;
    }
    for (size_t i = 0; i < n_sinks; i++)
        in->sinks[i] = sinks[i];
    in->n_sinks = n_sinks;
    n_sinks = 0; /* owned by in from here */
    in->journal = cfg->journal;
    in->reporter = (struct journal_reporter){.base.ops = &reporter_ops, .journal = cfg->journal};

    in->rl_malformed.what = "malformed datagrams";
    in->rl_invalid.what = "invalid alerts";
    in->rl_full.what = "alerts refused at the active-alert cap";
    in->rl_sink.what = "sink errors";
    in->rl_acl.what = "datagrams from sources outside the allow-list";
    in->rl_rate.what = "rate-limited senders";
    in->rl_auth.what = "datagrams refused by the signature check";

    struct state_config sc = {.max_alerts = cfg->max_alerts,
                              .default_ttl_s = cfg->default_ttl_s,
                              .max_hosts = cfg->max_hosts};
    if ((in->collector_id = strdup(cfg->collector_id)) == NULL ||
        alert_xml_new(NULL, &in->parser) != 0 || state_new(&sc, &in->state) != 0 ||
        sources_new(0, &in->sources) != 0 ||
        ratelimit_new(cfg->rate_limit, cfg->rate_burst, 0, &in->rate) != 0 ||
        (cfg->fast_path && repeat_new(0, &in->repeat) != 0))
        goto fail;
    *out = in;
    return 0;
fail_sinks:
    for (size_t i = 0; i < n_sinks; i++)
        sink_free(sinks[i]);
fail:
    ingest_free(in);
    return rc;
}

void ingest_free(struct ingest *in)
{
    if (in == NULL)
        return;
    for (size_t i = 0; i < in->n_sinks; i++)
        sink_free(in->sinks[i]);
    state_free(in->state);
    sources_free(in->sources);
    acl_free(in->acl);
    ratelimit_free(in->rate);
    auth_free(in->auth);
    repeat_free(in->repeat);
    alert_xml_free(in->parser);
    change_json_free(&in->json);
    free(in->collector_id);
    free(in);
}

static const char *sender_text(const struct sockaddr *from, char *buf, size_t size)
{
    return from != NULL ? address_format(from, buf, size) : NULL;
}

static const char *sender_cached(struct ingest *in, const struct sockaddr *from)
{
    if (from == NULL)
        return NULL;
    size_t n = address_len(from);
    if (memcmp(&in->last_from, from, n) != 0) {
        memcpy(&in->last_from, from, n);
        address_format(from, in->last_sender, sizeof(in->last_sender));
    }
    return in->last_sender;
}

static void forward(struct ingest *in, const struct state_result *r, const struct sockaddr *from,
                    int64_t now_ms, int64_t mono_ms)
{
    struct change c = {
        .outcome = r->outcome,
        .version = r->version,
        .collector = in->collector_id,
        .epoch = state_epoch(in->state),
        .received_ms = now_ms,
        .sender = sender_cached(in, from),
        .alert = &r->alert,
        .ack = r->ack,
        .unack = r->outcome == CHANGE_UNACK ? &r->unack : NULL,
    };
    int rc = change_json_encode(&in->json, &c);
    if (rc != 0) {
        in->stats.sink_errors++;
        log_ratelimited(&in->rl_sink, mono_ms, LOG_LEVEL_ERROR,
                        "change %llu (%s %s/%s) could not be encoded: %s",
                        (unsigned long long)r->version, change_outcome_name(r->outcome),
                        r->alert.host, r->alert.component, strerror(-rc));
        return;
    }
    bool all = true;
    /* The journal first: the publisher reads it, and a restart replays it. */
    if (in->journal != NULL &&
        (rc = journal_append(in->journal, &c, in->json.buf, in->json.len)) != 0) {
        all = false;
        in->stats.sink_errors++;
        log_ratelimited(&in->rl_sink, mono_ms, LOG_LEVEL_ERROR,
                        "journal refused change %llu: %s (memory and disk full: lost, "
                        "counted in journal_lost)",
                        (unsigned long long)r->version, strerror(-rc));
    }
    for (size_t i = 0; i < in->n_sinks; i++) {
        rc = sink_write(in->sinks[i], &c, in->json.buf, in->json.len);
        if (rc != 0) {
            all = false;
            in->stats.sink_errors++;
            log_ratelimited(&in->rl_sink, mono_ms, LOG_LEVEL_ERROR,
                            "%s sink refused change %llu: %s", in->sinks[i]->ops->name,
                            (unsigned long long)r->version, strerror(-rc));
        }
    }
    if (all)
        in->stats.forwarded++;
    in->dirty = true;
}

/* Returns the alert's outcome (enum change_outcome), or a negative errno when the table
 * refused it (-ENOSPC: the active-alert cap; -ENOMEM). */
static int apply(struct ingest *in, const struct alert *a, const struct sockaddr *from,
                 int64_t now_ms, int64_t mono_ms, struct ingest_item *item)
{
    struct state_result r;
    int rc = state_apply_from(in->state, a, sender_cached(in, from), now_ms, &r);
    if (item != NULL) {
        item->host = a->host;
        item->component = a->component;
        item->refused = rc;
        item->outcome = r.outcome;
        item->version = rc == 0 ? r.version : 0;
    }
    if (rc == -ENOSPC) {
        in->stats.refused_full++;
        log_ratelimited(&in->rl_full, mono_ms, LOG_LEVEL_WARNING,
                        "alert %s/%s refused: the active-alert cap is reached", a->host,
                        a->component);
        return rc;
    }
    if (rc != 0) {
        in->stats.nomem++;
        log_ratelimited(&in->rl_full, mono_ms, LOG_LEVEL_ERROR,
                        "alert %s/%s not applied: out of memory", a->host, a->component);
        return rc;
    }
    in->stats.outcomes[r.outcome]++;
    if (change_outcome_forwarded(r.outcome))
        forward(in, &r, from, now_ms, mono_ms);
    return (int)r.outcome;
}

static void count_rate_limited(struct ingest *in, size_t n, const struct sockaddr *from,
                               int64_t mono_ms)
{
    char sender[ADDRESS_TEXT_MAX];
    in->stats.rate_limited += n;
    log_ratelimited(&in->rl_rate, mono_ms, LOG_LEVEL_WARNING,
                    "%zu alert(s) from %s refused: over the per-sender rate limit", n,
                    sender_text(from, sender, sizeof(sender)));
}

/* Apply a document alert_xml_parse just read into in->res (rc: what it returned); items
 * (may be NULL) get each alert's fate. *last (may be NULL) gets apply()'s answer for the
 * last alert (its outcome, or a negative errno when refused), -1 when none was applied. */
static int process(struct ingest *in, int rc, const struct sockaddr *from, int64_t now_ms,
                   int64_t mono_ms, struct ingest_item *items, size_t max, size_t *n, void *src,
                   int *last)
{
    struct alert_xml_result *res = &in->res;
    char sender[ADDRESS_TEXT_MAX];
    if (last != NULL)
        *last = -1;
    if (rc == -ENOMEM) {
        in->stats.nomem++;
        return rc;
    }
    if (rc != 0) {
        in->stats.malformed++;
        in->stats.refused[res->reason]++;
        log_ratelimited(&in->rl_malformed, mono_ms, LOG_LEVEL_WARNING, "%s from %s refused: %s: %s",
                        items ? "document" : "datagram", sender_text(from, sender, sizeof(sender)),
                        alert_xml_reason_name(res->reason), res->error);
        return rc;
    }
    if (res->n_rejected > 0) {
        in->stats.invalid += res->n_rejected;
        for (int i = 0; i < ALERT_XML_REASON_COUNT; i++)
            in->stats.refused[i] += res->rejected[i];
        log_ratelimited(&in->rl_invalid, mono_ms, LOG_LEVEL_WARNING,
                        "%zu alert(s) from %s refused, %zu kept: %s: %s", res->n_rejected,
                        sender_text(from, sender, sizeof(sender)), res->n_alerts,
                        alert_xml_reason_name(res->reason), res->error);
    }
    in->stats.extra_dropped += res->n_extra_dropped;
    if (n != NULL)
        *n = 0;
    /* The rate limit counts alerts, not datagrams (a batch is as many alerts as it holds);
     * the first ones in a batch pass. */
    size_t pass = ratelimit_take(in->rate, from, res->n_alerts, mono_ms);
    if (pass < res->n_alerts)
        count_rate_limited(in, res->n_alerts - pass, from, mono_ms);
    for (size_t i = 0; i < pass; i++) {
        const struct alert *a = &res->alerts[i];
        struct ingest_item *item = items != NULL && i < max ? &items[i] : NULL;
        in->stats.alerts++;
        sources_alert(in->sources, src, alert_has_num(a, ALERT_SEQ), a->num[ALERT_SEQ]);
        int outcome = apply(in, a, from, now_ms, mono_ms, item);
        if (last != NULL)
            *last = outcome;
        if (item != NULL)
            (*n)++;
    }
    return 0;
}

/* Outside the allow-list: counted, logged (rate-limited), never parsed. *must_sign tells
 * whether the sender's block wants signed datagrams. */
static bool refused_by_acl(struct ingest *in, const struct sockaddr *from, int64_t mono_ms,
                           bool *must_sign)
{
    char sender[ADDRESS_TEXT_MAX];
    int m = acl_match(in->acl, from);
    *must_sign = m == 1;
    if (m >= 0)
        return false;
    in->stats.rejected_acl++;
    log_ratelimited(&in->rl_acl, mono_ms, LOG_LEVEL_WARNING,
                    "alerts from %s rejected: not in the allow-list",
                    sender_text(from, sender, sizeof(sender)));
    return true;
}

void ingest_set_rate_limit(struct ingest *in, double rate, double burst)
{
    ratelimit_set(in->rate, rate, burst);
}

void ingest_set_auth(struct ingest *in, struct auth *auth)
{
    auth_free(in->auth);
    in->auth = auth;
}

struct auth *ingest_auth(struct ingest *in)
{
    return in->auth;
}

/* The signature check (AUTH_ACCEPT when signatures are not checked); on acceptance, buf
 * and len are narrowed to the document. Counts nothing: a TCP document cut short is looked
 * at again. */
static enum auth_reason check_auth(struct ingest *in, const char **buf, size_t *len, bool must_sign,
                                   int64_t now_ms)
{
    if (in->auth == NULL)
        return AUTH_ACCEPT; /* +signed blocks without keys are refused at start-up */
    return auth_check(in->auth, *buf, *len, now_ms / 1000, must_sign, buf, len);
}

/* A refusal by the signature check: counted by reason, logged (rate-limited). */
static void count_auth_refusal(struct ingest *in, enum auth_reason r, const char *what,
                               const struct sockaddr *from, int64_t mono_ms)
{
    char sender[ADDRESS_TEXT_MAX];
    in->stats.auth_refused[r]++;
    log_ratelimited(&in->rl_auth, mono_ms, LOG_LEVEL_WARNING, "%s from %s refused: signature: %s",
                    what, sender_text(from, sender, sizeof(sender)), auth_reason_name(r));
}

void ingest_set_acl(struct ingest *in, struct acl *acl)
{
    acl_free(in->acl);
    in->acl = acl;
}

/* A datagram the repeat cache knows (hit). If the table still agrees (the alert has the
 * generation the record says, or for a Del still none), do exactly what process() does for
 * a one-alert document whose alert comes out a duplicate, or a redundant clear: rate limit,
 * counters, the sender's alert count, last seen and TTL. Returns false when the record is
 * stale: then nothing was done, and the datagram takes the full path. */
static bool repeat_apply(struct ingest *in, const struct repeat_hit *hit,
                         const struct sockaddr *from, void *src, int64_t now_ms, int64_t mono_ms)
{
    if (state_generation(in->state, hit->key, hit->klen, hit->key_hash) != hit->generation)
        return false;
    if (ratelimit_take(in->rate, from, 1, mono_ms) < 1) {
        count_rate_limited(in, 1, from, mono_ms);
        return true;
    }
    in->stats.alerts++;
    sources_alert(in->sources, src, 0, 0);
    enum change_outcome o = CHANGE_REDUNDANT_CLEAR;
    if (hit->kind == REPEAT_SET) {
        state_refresh(in->state, hit->key, hit->klen, hit->key_hash, now_ms);
        o = CHANGE_DUPLICATE;
    }
    in->stats.outcomes[o]++;
    in->stats.fast_path++;
    return true;
}

/* After the full path: remember a datagram whose repeat would be a plain repeat. That is
 * one alert (several: each is its own question; none: nothing to repeat), nothing refused
 * or dropped in it, no Seq (a repeated number is counted), no Increment (a repeat adds to
 * Count), and applied: set (raise, update or duplicate: the alert now holds what it says)
 * or cleared (clear or redundant clear), as outcome (process()'s *last) says. Not applied
 * (rate limit, caps, Updonly of nothing): the table does not hold what it says, nothing to
 * remember. */
static void repeat_remember(struct ingest *in, int rc, int outcome, const char *buf, size_t len,
                            uint32_t hash)
{
    const struct alert_xml_result *res = &in->res;
    if (rc != 0 || res->n_alerts != 1 || res->n_rejected != 0 || res->n_extra_dropped != 0)
        return;
    const struct alert *a = &res->alerts[0];
    if (alert_has_num(a, ALERT_SEQ) ||
        (alert_has_num(a, ALERT_INCREMENT) && a->num[ALERT_INCREMENT] != 0))
        return;
    enum repeat_kind kind;
    switch (outcome) {
    case CHANGE_RAISE:
    case CHANGE_UPDATE:
    case CHANGE_DUPLICATE:
        kind = REPEAT_SET;
        break;
    case CHANGE_CLEAR:
    case CHANGE_REDUNDANT_CLEAR:
        kind = REPEAT_CLEAR;
        break;
    default:
        return;
    }
    char key[STATE_KEY_MAX];
    uint32_t kh;
    size_t klen = state_key(a->host, a->host_len, a->component, a->component_len, key, &kh);
    uint64_t g = kind == REPEAT_SET ? state_generation(in->state, key, klen, kh) : 0;
    if (kind == REPEAT_SET && g == 0)
        return;
    repeat_insert(in->repeat, buf, len, hash, kind, key, klen, kh, g);
}

void ingest_datagram(struct ingest *in, const char *buf, size_t len, bool truncated,
                     const struct sockaddr *from, int64_t now_ms, int64_t mono_ms)
{
    char sender[ADDRESS_TEXT_MAX];
    const char *datagram = buf;

    /* Counted as received first, whatever becomes of it: datagrams is what arrived, and
     * every refusal below has a counter of its own. */
    in->stats.datagrams++;
    in->stats.bytes += len;
    bool must_sign;
    if (refused_by_acl(in, from, mono_ms, &must_sign))
        return;
    enum auth_reason r = check_auth(in, &buf, &len, must_sign, now_ms);
    if (r != AUTH_ACCEPT) {
        count_auth_refusal(in, r, "datagram", from, mono_ms);
        return;
    }

    void *src = sources_datagram(in->sources, from, now_ms);
    if (truncated) {
        in->stats.truncated++;
        in->stats.malformed++;
        in->stats.refused[ALERT_XML_TOO_LARGE]++;
        log_ratelimited(&in->rl_malformed, mono_ms, LOG_LEVEL_WARNING,
                        "datagram from %s refused: too_large: longer than %zu bytes",
                        sender_text(from, sender, sizeof(sender)), len);
        return;
    }
    /* A signed datagram is never a repeat: its nonce makes every one unique, and one that
     * is not unique was refused above as a replay. */
    bool plain = in->repeat != NULL && buf == datagram;
    uint32_t hash = 0;
    if (plain) {
        struct repeat_hit hit;
        in->stats.fast_path_lookups++;
        hash = repeat_hash(buf, len);
        if (repeat_lookup(in->repeat, buf, len, hash, &hit) &&
            repeat_apply(in, &hit, from, src, now_ms, mono_ms))
            return;
    }
    int outcome;
    int rc = alert_xml_parse(in->parser, buf, len, &in->res);
    process(in, rc, from, now_ms, mono_ms, NULL, 0, NULL, src, &outcome);
    if (plain)
        repeat_remember(in, rc, outcome, buf, len, hash);
}

int ingest_set_fast_path(struct ingest *in, bool on)
{
    if (!on) {
        repeat_free(in->repeat);
        in->repeat = NULL;
        return 0;
    }
    return in->repeat != NULL ? 0 : repeat_new(0, &in->repeat);
}

int ingest_document(struct ingest *in, const char *buf, size_t len, bool final,
                    const struct sockaddr *from, int64_t now_ms, int64_t mono_ms,
                    struct ingest_item *items, size_t max, size_t *n, const char **reason,
                    const char **error)
{
    *n = 0;
    bool must_sign;
    if (refused_by_acl(in, from, mono_ms, &must_sign)) {
        in->stats.tcp_documents++; /* received, and refused: counted both ways */
        *reason = "rejected_acl";
        *error = "this source is not in the allow-list";
        return -EACCES;
    }
    /* A signed document on a stream is whole once its MAC matches: a bad MAC on a document
     * that is not final may only be cut short. */
    size_t received = len;
    enum auth_reason ar = check_auth(in, &buf, &len, must_sign, now_ms);
    if (ar == AUTH_BAD_MAC && !final)
        return -EAGAIN;
    if (ar != AUTH_ACCEPT) {
        in->stats.tcp_documents++;
        count_auth_refusal(in, ar, "document", from, mono_ms);
        *reason = auth_reason_name(ar);
        *error = "signature refused";
        return -EACCES;
    }
    /* A document cut short is looked at again when more bytes come: count it only once
     * it is whole, or final. */
    int rc = alert_xml_parse(in->parser, buf, len, &in->res);
    if (rc == -EBADMSG && in->res.truncated && !final)
        return -EAGAIN;
    in->stats.tcp_documents++;
    in->stats.bytes += received;
    void *src = sources_datagram(in->sources, from, now_ms);
    rc = process(in, rc, from, now_ms, mono_ms, items, max, n, src, NULL);
    /* The reply names versions: they are written to the journal before anyone sees them. */
    if (*n > 0)
        ingest_write_journal(in);
    *reason = alert_xml_reason_name(in->res.reason);
    *error = in->res.error;
    return rc;
}

void ingest_count_tcp(struct ingest *in, bool accepted)
{
    if (accepted)
        in->stats.tcp_connections++;
    else
        in->stats.tcp_refused++;
}

void ingest_count_http(struct ingest *in, enum ingest_http_event e)
{
    switch (e) {
    case INGEST_HTTP_ACCEPTED:
        in->stats.http_connections++;
        break;
    case INGEST_HTTP_REFUSED:
        in->stats.http_refused++;
        break;
    case INGEST_HTTP_DROPPED:
        in->stats.http_dropped++;
        break;
    }
}

void ingest_expire(struct ingest *in, int64_t now_ms, int64_t mono_ms)
{
    struct state_result r;
    while (state_expire(in->state, now_ms, &r) == 1) {
        in->stats.outcomes[r.outcome]++; /* expire, or unack: an ack's expiry */
        forward(in, &r, NULL, now_ms, mono_ms);
    }
}

int ingest_ack(struct ingest *in, const struct ingest_ack *req, int64_t now_ms, int64_t mono_ms,
               struct state_result *out)
{
    int rc;
    if (req->unack) {
        rc = state_unack(in->state, req->host, req->component, req->author, out);
    } else {
        struct change_ack a = {.author = req->author,
                               .comment = req->comment,
                               .at_ms = now_ms,
                               .expires_ms = req->expires_ms};
        rc = state_ack(in->state, req->host, req->component, &a, out);
    }
    if (rc == -ENOMEM)
        in->stats.nomem++;
    if (rc != 0)
        return rc;
    in->stats.outcomes[out->outcome]++;
    forward(in, out, NULL, now_ms, mono_ms);
    /* The answer names the version: written to the journal before anyone sees it. */
    ingest_write_journal(in);
    return 0;
}

bool ingest_flush(struct ingest *in, int64_t mono_ms)
{
    /* Errors are the journal's to log and count (it holds the changes in memory). */
    if (in->journal != NULL)
        journal_flush(in->journal, mono_ms);
    if (!in->dirty)
        return false;
    in->dirty = false;
    for (size_t i = 0; i < in->n_sinks; i++) {
        int rc = sink_flush(in->sinks[i]);
        if (rc == -EAGAIN) {
            /* Output waiting on a stalled reader or a full disk: tried again on the next
             * call. A flush loses nothing; what does not fit, the sink counts in changes. */
            in->dirty = true;
        } else if (rc != 0) {
            /* Not sink_errors: that counts changes, and the sink counts its lost ones. */
            log_ratelimited(&in->rl_sink, mono_ms, LOG_LEVEL_ERROR,
                            "%s sink: writing out failed: %s", in->sinks[i]->ops->name,
                            strerror(-rc));
        }
    }
    return in->dirty;
}

void ingest_write_journal(struct ingest *in)
{
    struct timespec ts;
    if (in->journal == NULL)
        return;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    journal_flush(in->journal, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

int ingest_reopen(struct ingest *in)
{
    int first = 0;
    for (size_t i = 0; i < in->n_sinks; i++) {
        int rc = sink_reopen(in->sinks[i]);
        if (rc != 0 && first == 0)
            first = rc;
    }
    return first;
}

struct sources *ingest_sources(struct ingest *in)
{
    return in->sources;
}

const struct stats *ingest_stats(struct ingest *in)
{
    struct sources_totals t;
    sources_totals(in->sources, &t);
    in->stats.seq_gaps = t.seq_gaps;
    in->stats.seq_reordered = t.reordered;
    in->stats.seq_duplicates = t.duplicates;
    in->stats.active_alerts = state_count(in->state);
    in->stats.hosts = state_host_count(in->state);
    in->stats.version = state_version(in->state);
    return &in->stats;
}

struct stats *ingest_counters(struct ingest *in)
{
    return &in->stats;
}

void ingest_report(struct ingest *in, struct stats_report *out)
{
    out->stats = ingest_stats(in);
    out->sinks = in->sinks;
    out->n_sinks = in->n_sinks;
    if (in->journal != NULL) {
        in->reported[0] = &in->reporter.base;
        for (size_t i = 0; i < in->n_sinks; i++)
            in->reported[i + 1] = in->sinks[i];
        out->sinks = in->reported;
        out->n_sinks = in->n_sinks + 1;
    }
}

void ingest_tick(struct ingest *in, int64_t mono_ms)
{
    log_ratelimit_flush(&in->rl_malformed, mono_ms);
    log_ratelimit_flush(&in->rl_invalid, mono_ms);
    log_ratelimit_flush(&in->rl_full, mono_ms);
    log_ratelimit_flush(&in->rl_sink, mono_ms);
    log_ratelimit_flush(&in->rl_acl, mono_ms);
    log_ratelimit_flush(&in->rl_rate, mono_ms);
    log_ratelimit_flush(&in->rl_auth, mono_ms);
}

struct state *ingest_state(struct ingest *in)
{
    return in->state;
}
