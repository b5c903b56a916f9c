/* alert_xml.h - parse one alert datagram (XML, wire format in parsers/FORMAT.md).
 *
 * Built on libxml2's SAX2 push interface with one parser context reused for every
 * datagram: no DOM, no allocation per datagram once the arena has grown to the largest
 * datagram seen. Hostile input is refused cheaply: any DOCTYPE stops the parse at once
 * (so no entity is ever declared, let alone expanded), no network access, depth, size,
 * alert-count and field-length limits stop the parse as soon as they are crossed.
 *
 * A parser is single-threaded: one per thread. No libxml2 type appears in this header.
 */
#ifndef INJECTOR_ALERT_XML_H
#define INJECTOR_ALERT_XML_H

#include "parsers/alert.h"

#include <stddef.h>

/* Why a datagram or an alert was refused. The document-level reasons refuse the whole
 * datagram (its contents cannot be trusted: a truncated Msg would be a wrong update);
 * the alert-level reasons refuse one alert and keep its well-formed siblings. */
enum alert_xml_reason {
    ALERT_XML_OK = 0,
    /* document level */
    ALERT_XML_SYNTAX,          /* not well-formed XML (includes undeclared entities) */
    ALERT_XML_DOCTYPE,         /* a DOCTYPE: never accepted, DTDs are how XXE starts */
    ALERT_XML_DEPTH,           /* nested deeper than the depth limit */
    ALERT_XML_TOO_LARGE,       /* datagram longer than the size limit */
    ALERT_XML_FIELD_TOO_LONG,  /* a field longer than its limit (alert.h) */
    ALERT_XML_TOO_MANY_ALERTS, /* more alerts than the per-datagram limit */
    ALERT_XML_ENCODING,        /* a value that is not valid UTF-8 once decoded */
    ALERT_XML_NO_ALERT,        /* well-formed, but no Alert/updAlert/delAlert in it */
    /* alert level */
    ALERT_XML_NO_HOST,      /* ProblemHost missing or empty */
    ALERT_XML_NO_COMPONENT, /* Component missing or empty */
    ALERT_XML_NO_ACTION,    /* Action missing */
    ALERT_XML_BAD_ACTION,   /* Action not one of Upd, Del, Updonly, Post */
    ALERT_XML_BAD_NUMBER,   /* Severity, Count, ... not an integer in range, or bad boolean */
    ALERT_XML_REASON_COUNT
};

/* Short stable name of a reason, used in counters and logs ("syntax", "doctype", ...). */
const char *alert_xml_reason_name(enum alert_xml_reason reason);

/* True for the reasons that refuse the whole datagram. */
int alert_xml_reason_is_document(enum alert_xml_reason reason);

/* Alerts one document may hold unless limits say otherwise: a reader of results (a TCP
 * reply) needs room for this many. */
#define ALERT_XML_MAX_ALERTS 1024u

struct alert_xml_limits {
    size_t max_datagram; /* bytes; default 65507 (the largest UDP payload) */
    unsigned max_depth;  /* element nesting; default 16 */
    unsigned max_alerts; /* alerts in one datagram; default ALERT_XML_MAX_ALERTS */
};

struct alert_xml_result {
    const struct alert *alerts; /* the accepted alerts, in document order; owned by parser */
    size_t n_alerts;
    size_t n_rejected;                         /* alerts refused for alert-level reasons */
    unsigned rejected[ALERT_XML_REASON_COUNT]; /* ... by reason */
    size_t n_extra_dropped;                    /* unknown elements past ALERT_EXTRA_MAX */
    enum alert_xml_reason reason;              /* document reason, else first alert reason */
    int truncated;                             /* refused because the document ends early:
                                                * on a stream, more bytes may complete it */
    char error[200];                           /* "line 1 col 42: ..." for reason, else "" */
};

struct alert_xml;

/* Create a parser. limits may be NULL for the defaults; zero fields take the defaults.
 * Returns 0 and *out, or -ENOMEM. Free with alert_xml_free(). */
int alert_xml_new(const struct alert_xml_limits *limits, struct alert_xml **out);

/* Safe on NULL. */
void alert_xml_free(struct alert_xml *p);

/* Parse one datagram. buf need not be NUL-terminated and is not kept.
 * Returns 0 when the document was accepted: out->alerts holds its valid alerts (possibly
 * none, when every alert was refused: then n_rejected > 0). Returns -EBADMSG when the
 * datagram is refused whole (out->reason, out->error say why, out->n_alerts is 0), or
 * -ENOMEM. out is always filled; its pointers stay valid until the next call on p. */
int alert_xml_parse(struct alert_xml *p, const char *buf, size_t len, struct alert_xml_result *out);

/* One alert's fate, for a reply to a client that waits for one (TCP). */
struct alert_xml_reply_item {
    const char *outcome; /* "raise", ... */
    uint64_t version;    /* 0 when the outcome had none */
    const char *host, *component;
};

/* Write the reply to one document into buf: <Reply status="ok"> with one <Result> per
 * alert; or, when error_reason is not NULL, <Reply status="error"> with <Error
 * reason="...">text</Error> first, then the <Result> of each item (the alerts applied when
 * others of the document were refused). Values are escaped. Returns the length, or -ENOSPC /
 * -ENOMEM. */
int alert_xml_reply(char *buf, size_t size, const struct alert_xml_reply_item *items, size_t n,
                    const char *error_reason, const char *error_text);

#endif
