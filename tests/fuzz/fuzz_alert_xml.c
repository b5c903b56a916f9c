/* fuzz_alert_xml.c - libFuzzer target: any bytes through the parser, the state table and
 * the JSON encoder. Properties checked beyond "no crash, no sanitizer report": every
 * accepted alert has a non-empty host and component within limits, every change the
 * table produces encodes to JSON that jansson reads back with the same host, and the
 * repeat fast path changes nothing (the input twice, as a datagram, into a collector with
 * it and one without: the same counters and table). */
#include "collector/ingest.h"
#include "collector/log.h"
#include "collector/state.h"
#include "parsers/alert_xml.h"
#include "parsers/envelope.h"
#include "sink/change.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static struct alert_xml *parser;
static struct state *table;
static struct change_json json;
static unsigned long runs;
static struct ingest *with_fast, *without_fast;

static void check_fast_path(const unsigned char *data, size_t size)
{
    if (with_fast == NULL || runs % 4096 == 0) {
        ingest_free(with_fast);
        ingest_free(without_fast);
        struct ingest_config on = {.collector_id = "fuzz", .fast_path = true};
        struct ingest_config off = {.collector_id = "fuzz", .fast_path = false};
        if (ingest_new(&on, NULL, 0, &with_fast) != 0 ||
            ingest_new(&off, NULL, 0, &without_fast) != 0)
            abort();
    }
    for (int i = 0; i < 2; i++) {
        int64_t t = (int64_t)runs * 1000 + i;
        ingest_datagram(with_fast, (const char *)data, size, false, NULL, t, t);
        ingest_datagram(without_fast, (const char *)data, size, false, NULL, t, t);
    }
    struct stats a = *ingest_stats(with_fast), b = *ingest_stats(without_fast);
    a.fast_path = a.fast_path_lookups = 0; /* the fast path's own counters */
    if (memcmp(&a, &b, sizeof(a)) != 0)
        abort(); /* counters, active alerts, hosts and version: all the same */
}

static void check_change(const struct state_result *r)
{
    struct change c = {.outcome = r->outcome,
                       .version = r->version,
                       .collector = "fuzz",
                       .received_ms = 1,
                       .sender = "127.0.0.1:1",
                       .alert = &r->alert};
    if (change_json_encode(&json, &c) != 0)
        abort(); /* the parser hands over UTF-8 only: encoding cannot fail */
    json_error_t err;
    json_t *o = json_loadb(json.buf, json.len, 0, &err);
    const char *host = json_string_value(json_object_get(o, "host"));
    if (o == NULL || host == NULL || strlen(host) != r->alert.host_len ||
        memcmp(host, r->alert.host, r->alert.host_len) != 0)
        abort();
    json_decref(o);
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);
int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    struct alert_xml_result res;
    struct state_result r;
    if (parser == NULL) {
        log_set_level(LOG_LEVEL_ERROR);
        if (alert_xml_new(NULL, &parser) != 0)
            abort();
    }
    /* A bounded table: start afresh now and then so memory stays flat. */
    if (table == NULL || ++runs % 4096 == 0) {
        state_free(table);
        if (state_new(NULL, &table) != 0)
            abort();
    }
    check_fast_path(data, size);
    /* The signature envelope first, as the collector sees it: parse, check a MAC, and go on
     * with the body. */
    const char *doc = (const char *)data;
    size_t len = size;
    if (envelope_present(doc, len)) {
        static const struct envelope_key key = {.id = "k1", .len = 16};
        struct envelope e;
        if (envelope_parse(doc, len, &e) != 0)
            return 0;
        if (e.body < doc || e.body + e.body_len != doc + len)
            abort(); /* the body must be the tail of the datagram */
        (void)envelope_verify(&key, &e);
        doc = e.body;
        len = e.body_len;
    }
    if (alert_xml_parse(parser, doc, len, &res) != 0)
        return 0;
    for (size_t i = 0; i < res.n_alerts; i++) {
        const struct alert *a = &res.alerts[i];
        if (a->host_len == 0 || a->host_len > ALERT_KEY_MAX || a->component_len == 0 ||
            a->component_len > ALERT_KEY_MAX || strlen(a->host) != a->host_len)
            abort();
        if (state_apply(table, a, (int64_t)runs, &r) == 0 && change_outcome_forwarded(r.outcome))
            check_change(&r);
    }
    while (state_expire(table, INT64_MAX / 4, &r) == 1)
        check_change(&r);
    return 0;
}
