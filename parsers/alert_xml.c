/* alert_xml.c - alert datagrams (XML) to struct alert, on libxml2 SAX2 with a reused context. */
#include "parsers/alert_xml.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/SAX2.h>
#include <libxml/dict.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlwriter.h>

#define DEFAULT_MAX_DATAGRAM 65507u
#define DEFAULT_MAX_DEPTH    16u

/* The context's name dictionary keeps every element name ever seen; a sender inventing
 * names would grow it without bound, so past this many names the context is rebuilt. */
#define DICT_REBUILD_NAMES 4096

/* Short values (numbers, booleans, Action) may carry blanks around them; past this they
 * are not a number anyway, and the parse stops instead of copying a huge value. */
#define SHORT_VALUE_MAX 64

enum field_kind { F_HOST, F_COMPONENT, F_ACTION, F_TEXT, F_NUM, F_EXTRA };

struct field_def {
    const char *element; /* element name (Injector form) */
    const char *attr;    /* attribute name (ProxD form), matched case-insensitively */
    enum field_kind kind;
    int idx;        /* enum alert_text or enum alert_num */
    size_t cap_max; /* bytes captured at most: the limit, with room for blanks if trimmed */
};

/* Built once from alert.h's tables: ProblemHost, Component, Action, texts, numbers. */
#define N_FIELDS (3 + ALERT_TEXT_COUNT + ALERT_NUM_COUNT)
/* Candidates per first character: a lookup is at most a few strcmp, not a scan. */
#define MAX_PER_CHAR 6

struct name_index {
    const struct field_def *by_char[256][MAX_PER_CHAR];
    unsigned n[256];
};

/* What an element name means to us, besides the fields. */
enum name_role { ROLE_NONE, ROLE_FIELD, ROLE_ALERT, ROLE_UPD_ALERT, ROLE_DEL_ALERT };

/* libxml2 hands every element name over interned in the context's dictionary (its own
 * tree builder keeps those pointers as node names), so the names we know are interned once
 * when the context is made and then recognised by their pointer: no string compare per
 * element. A pointer not in this table is looked up by its text (an unknown element; or,
 * should a libxml2 ever pass a name from elsewhere, any name): a miss costs time, never a
 * wrong answer. Open addressing, at most a third full. */
#define NAME_SLOTS 64

struct name_slot {
    const xmlChar *name; /* NULL: empty */
    const struct field_def *field;
    enum name_role role;
};

struct alert_xml {
    xmlParserCtxtPtr ctxt;
    struct alert_xml_limits lim;

    struct field_def fields[N_FIELDS];
    struct name_index elem_index;       /* exact element names */
    struct name_index attr_index;       /* lower-cased attribute names */
    struct name_slot names[NAME_SLOTS]; /* by pointer into ctxt->dict */

    char *arena; /* every value of the current datagram, NUL-terminated */
    size_t arena_len, arena_cap;
    struct alert *alerts; /* lim.max_alerts slots */
    size_t n_alerts;      /* accepted so far */
    size_t n_seen;        /* accepted + refused, against the limit */

    struct alert_xml_result *res;
    bool stopped; /* a document-level reason was found; the rest is not looked at */

    unsigned depth;
    unsigned alert_depth; /* depth of the open <Alert>, 0 when none is open */
    bool cur_has_action;
    enum alert_xml_reason cur_bad; /* first alert-level problem of the open alert */
    char cur_bad_text[120];

    unsigned cap_depth;                /* depth of the field element being captured; 0: none */
    const struct field_def *cap_field; /* NULL for an unknown element (extra) */
    const char *cap_name;              /* extra: its name, in the arena */
    size_t cap_start, cap_max;
};

static const char *const reason_names[ALERT_XML_REASON_COUNT] = {
    [ALERT_XML_OK] = "ok",
    [ALERT_XML_SYNTAX] = "syntax",
    [ALERT_XML_DOCTYPE] = "doctype",
    [ALERT_XML_DEPTH] = "depth",
    [ALERT_XML_TOO_LARGE] = "too_large",
    [ALERT_XML_FIELD_TOO_LONG] = "field_too_long",
    [ALERT_XML_TOO_MANY_ALERTS] = "too_many_alerts",
    [ALERT_XML_ENCODING] = "encoding",
    [ALERT_XML_NO_ALERT] = "no_alert",
    [ALERT_XML_NO_HOST] = "no_host",
    [ALERT_XML_NO_COMPONENT] = "no_component",
    [ALERT_XML_NO_ACTION] = "no_action",
    [ALERT_XML_BAD_ACTION] = "bad_action",
    [ALERT_XML_BAD_NUMBER] = "bad_number",
};

const char *alert_xml_reason_name(enum alert_xml_reason reason)
{
    if ((unsigned)reason >= ALERT_XML_REASON_COUNT)
        return "?";
    return reason_names[reason];
}

int alert_xml_reason_is_document(enum alert_xml_reason reason)
{
    return reason >= ALERT_XML_SYNTAX && reason <= ALERT_XML_NO_ALERT;
}

static void index_add(struct name_index *ix, unsigned char c, const struct field_def *f)
{
    /* MAX_PER_CHAR is sized for the fixed field list; overflowing it is a coding error. */
    if (ix->n[c] < MAX_PER_CHAR)
        ix->by_char[c][ix->n[c]++] = f;
}

static void build_fields(struct alert_xml *p)
{
    size_t n = 0;
    p->fields[n++] = (struct field_def){"ProblemHost", "host", F_HOST, 0, 0};
    p->fields[n++] = (struct field_def){"Component", "component", F_COMPONENT, 0, 0};
    p->fields[n++] = (struct field_def){"Action", "action", F_ACTION, 0, 0};
    for (int i = 0; i < ALERT_TEXT_COUNT; i++)
        p->fields[n++] = (struct field_def){alert_text_info[i].element, alert_text_info[i].element,
                                            F_TEXT, i, 0};
    for (int i = 0; i < ALERT_NUM_COUNT; i++)
        p->fields[n++] =
            (struct field_def){alert_num_info[i].element, alert_num_info[i].element, F_NUM, i, 0};
    for (size_t i = 0; i < n; i++) {
        enum field_kind k = p->fields[i].kind;
        p->fields[i].cap_max = k == F_TEXT                       ? ALERT_TEXT_MAX
                               : k == F_HOST || k == F_COMPONENT ? ALERT_KEY_MAX + SHORT_VALUE_MAX
                                                                 : SHORT_VALUE_MAX;
        index_add(&p->elem_index, (unsigned char)p->fields[i].element[0], &p->fields[i]);
        index_add(&p->attr_index, (unsigned char)tolower((unsigned char)p->fields[i].attr[0]),
                  &p->fields[i]);
    }
}

static const struct field_def *lookup_element(const struct alert_xml *p, const char *name)
{
    unsigned char c = (unsigned char)name[0];
    for (unsigned i = 0; i < p->elem_index.n[c]; i++)
        if (strcmp(p->elem_index.by_char[c][i]->element, name) == 0)
            return p->elem_index.by_char[c][i];
    return NULL;
}

static const struct field_def *lookup_attr(const struct alert_xml *p, const char *name)
{
    unsigned char c = (unsigned char)tolower((unsigned char)name[0]);
    for (unsigned i = 0; i < p->attr_index.n[c]; i++)
        if (strcasecmp(p->attr_index.by_char[c][i]->attr, name) == 0)
            return p->attr_index.by_char[c][i];
    return NULL;
}

static size_t name_slot_at(const xmlChar *name)
{
    /* Dictionary strings sit next to each other in its pools: the low bits differ. */
    uintptr_t v = (uintptr_t)name;
    return (size_t)(v ^ (v >> 6)) & (NAME_SLOTS - 1);
}

static int names_add(struct alert_xml *p, const char *text, const struct field_def *f,
                     enum name_role role)
{
    const xmlChar *name = xmlDictLookup(p->ctxt->dict, BAD_CAST text, -1);
    if (name == NULL)
        return -ENOMEM;
    size_t i = name_slot_at(name);
    while (p->names[i].name != NULL && p->names[i].name != name)
        i = (i + 1) & (NAME_SLOTS - 1);
    p->names[i] = (struct name_slot){name, f, role};
    return 0;
}

/* Intern the names we know in a new context's dictionary. */
static int names_build(struct alert_xml *p)
{
    memset(p->names, 0, sizeof(p->names));
    int rc = names_add(p, "Alert", NULL, ROLE_ALERT) |
             names_add(p, "updAlert", NULL, ROLE_UPD_ALERT) |
             names_add(p, "delAlert", NULL, ROLE_DEL_ALERT);
    for (size_t i = 0; i < N_FIELDS; i++)
        rc |= names_add(p, p->fields[i].element, &p->fields[i], ROLE_FIELD);
    return rc != 0 ? -ENOMEM : 0;
}

/* The role of a name not in the table, by its text. */
__attribute__((noinline)) static enum name_role
name_role_by_text(const struct alert_xml *p, const char *s, const struct field_def **f)
{
    *f = lookup_element(p, s);
    if (*f != NULL)
        return ROLE_FIELD;
    if (strcmp(s, "Alert") == 0)
        return ROLE_ALERT;
    if (strcmp(s, "updAlert") == 0)
        return ROLE_UPD_ALERT;
    if (strcmp(s, "delAlert") == 0)
        return ROLE_DEL_ALERT;
    return ROLE_NONE;
}

/* The role of an element name (and its field for ROLE_FIELD, else NULL). */
/* The table's slot for a name, or NULL when it is not there. */
static inline const struct name_slot *name_slot_find(const struct alert_xml *p, const xmlChar *name)
{
    for (size_t i = name_slot_at(name); p->names[i].name != NULL; i = (i + 1) & (NAME_SLOTS - 1))
        if (p->names[i].name == name)
            return &p->names[i];
    return NULL;
}

static enum name_role name_role(const struct alert_xml *p, const xmlChar *name,
                                const struct field_def **f)
{
    for (size_t i = name_slot_at(name); p->names[i].name != NULL; i = (i + 1) & (NAME_SLOTS - 1)) {
        if (p->names[i].name == name) {
            *f = p->names[i].field;
            return p->names[i].role;
        }
    }
    return name_role_by_text(p, (const char *)name, f);
}

static int current_line(const struct alert_xml *p)
{
    return xmlSAX2GetLineNumber(p->ctxt);
}

static int current_col(const struct alert_xml *p)
{
    return xmlSAX2GetColumnNumber(p->ctxt);
}

/* Refuse the whole datagram and stop parsing now: the cheap exit for hostile input. */
static void stop(struct alert_xml *p, enum alert_xml_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void stop(struct alert_xml *p, enum alert_xml_reason reason, const char *fmt, ...)
{
    if (p->stopped)
        return;
    p->stopped = true;
    p->res->reason = reason;
    int n = snprintf(p->res->error, sizeof(p->res->error), "line %d col %d: ", current_line(p),
                     current_col(p));
    if (n > 0 && (size_t)n < sizeof(p->res->error)) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(p->res->error + n, sizeof(p->res->error) - (size_t)n, fmt, ap);
        va_end(ap);
    }
    xmlStopParser(p->ctxt);
}

/* Mark the open alert as refused (first problem wins); parsing goes on. */
static void alert_bad(struct alert_xml *p, enum alert_xml_reason reason, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void alert_bad(struct alert_xml *p, enum alert_xml_reason reason, const char *fmt, ...)
{
    if (p->cur_bad != ALERT_XML_OK)
        return;
    p->cur_bad = reason;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->cur_bad_text, sizeof(p->cur_bad_text), fmt, ap);
    va_end(ap);
    /* A value quoted with %.32s may be cut inside a character: such bytes become '?', so
     * the text stays UTF-8 (the TCP reply carries it as XML; log lines too). */
    unsigned char *t = (unsigned char *)p->cur_bad_text;
    for (size_t i = 0, n = strlen(p->cur_bad_text); i < n;) {
        size_t k = alert_utf8_len(t + i, n - i);
        if (k == 0) {
            t[i++] = '?';
            continue;
        }
        i += k;
    }
}

/* Append to the arena. The arena is sized at parse start to hold any datagram of that
 * length (see arena_reserve), so the check below is a guard, not a growth path. */
__attribute__((cold, noinline)) static bool arena_full(struct alert_xml *p)
{
    stop(p, ALERT_XML_FIELD_TOO_LONG, "values exceed the parser's buffer");
    return false;
}

static inline bool arena_put(struct alert_xml *p, const char *s, size_t n)
{
    if (n > p->arena_cap - p->arena_len)
        return arena_full(p);
    alert_copy_bytes(p->arena + p->arena_len, s, n);
    p->arena_len += n;
    return true;
}

/* End a value: its NUL. */
static inline bool arena_nul(struct alert_xml *p)
{
    if (p->arena_len == p->arena_cap)
        return arena_full(p);
    p->arena[p->arena_len++] = '\0';
    return true;
}

static char *arena_strdup(struct alert_xml *p, const char *s, size_t n)
{
    size_t at = p->arena_len;
    if (!arena_put(p, s, n) || !arena_nul(p))
        return NULL;
    return p->arena + at;
}

/* Values are at most the datagram's bytes (entities and references only shrink them),
 * doubled for a transcoded single-byte encoding, plus one NUL per element (>= 4 bytes). */
static int arena_reserve(struct alert_xml *p, size_t len)
{
    size_t need = 3 * len + 64;
    if (need <= p->arena_cap)
        return 0;
    char *a = realloc(p->arena, need);
    if (a == NULL)
        return -ENOMEM;
    p->arena = a;
    p->arena_cap = need;
    return 0;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Trim blanks in place; returns the start, sets *len. The value is NUL-terminated. */
static inline char *trim(char *s, size_t *len)
{
    size_t n = *len;
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    s[n] = '\0';
    *len = n;
    return s;
}

static bool alert_slot_free(struct alert_xml *p)
{
    if (p->n_seen >= p->lim.max_alerts) {
        stop(p, ALERT_XML_TOO_MANY_ALERTS, "more than %u alerts in one datagram",
             p->lim.max_alerts);
        return false;
    }
    p->n_seen++;
    return true;
}

static void begin_alert(struct alert_xml *p, enum alert_action action, bool has_action)
{
    struct alert *a = &p->alerts[p->n_alerts];
    alert_clear(a);
    a->action = action;
    p->cur_has_action = has_action;
    p->cur_bad = ALERT_XML_OK;
    p->cur_bad_text[0] = '\0';
}

/* libxml2 (2.9) lets some invalid UTF-8 through, in CDATA sections for one (an overlong
 * C1 BD, found by the fuzzer). Everything downstream relies on UTF-8: a value that is not
 * refuses the datagram here. */
__attribute__((cold, noinline)) static bool not_utf8(struct alert_xml *p, const char *what)
{
    stop(p, ALERT_XML_ENCODING, "%s is not valid UTF-8", what);
    return false;
}

__attribute__((always_inline)) static inline bool
valid_or_stop(struct alert_xml *p, const char *what, const char *v, size_t len)
{
    if (alert_ascii(v, len) || alert_utf8_valid(v, len))
        return true;
    return not_utf8(p, what);
}

/* The refusals of set_field, out of its way: the common path stays short. */
__attribute__((cold, noinline)) static void
field_too_long(struct alert_xml *p, const struct field_def *f, size_t len, size_t max)
{
    stop(p, ALERT_XML_FIELD_TOO_LONG, "%s is %zu bytes, the limit is %zu", f->element, len, max);
}

__attribute__((cold, noinline)) static void bad_number(struct alert_xml *p,
                                                       const struct field_def *f, const char *v)
{
    const struct alert_num_info *ni = &alert_num_info[f->idx];
    if (ni->kind == ALERT_KIND_BOOL)
        alert_bad(p, ALERT_XML_BAD_NUMBER, "%s '%.32s' is not true or false", f->element, v);
    else
        alert_bad(p, ALERT_XML_BAD_NUMBER,
                  "%s '%.32s' is not an integer in [%" PRId64 ", %" PRId64 "]", f->element, v,
                  ni->min, ni->max);
}

__attribute__((cold, noinline)) static void bad_action(struct alert_xml *p, const char *v)
{
    alert_bad(p, ALERT_XML_BAD_ACTION, "Action '%.32s' is not one of Upd, Del, Updonly, Post", v);
}

/* Store one field value (NUL-terminated, in the arena) into the open alert. */
__attribute__((always_inline)) static inline void
set_field(struct alert_xml *p, const struct field_def *f, char *v, size_t len)
{
    struct alert *a = &p->alerts[p->n_alerts];
    if (f->kind == F_TEXT) {
        if (!valid_or_stop(p, f->element, v, len))
            return;
        if (len > ALERT_TEXT_MAX) {
            field_too_long(p, f, len, ALERT_TEXT_MAX);
            return;
        }
        a->text[f->idx] = v;
        a->text_len[f->idx] = (uint32_t)len;
        return;
    }
    v = trim(v, &len);
    switch (f->kind) {
    case F_HOST:
    case F_COMPONENT:
        if (!valid_or_stop(p, f->element, v, len))
            return;
        if (len > ALERT_KEY_MAX) {
            field_too_long(p, f, len, ALERT_KEY_MAX);
            return;
        }
        if (f->kind == F_HOST) {
            a->host = v;
            a->host_len = (uint32_t)len;
        } else {
            a->component = v;
            a->component_len = (uint32_t)len;
        }
        return;
    /* An action, a number, a boolean that reads right is ASCII: the UTF-8 check is only
     * needed to tell a bad value from an undecodable one. */
    case F_ACTION:
        if (alert_action_parse(v, len, &a->action) != 0) {
            if (!valid_or_stop(p, f->element, v, len))
                return;
            bad_action(p, v);
        }
        p->cur_has_action = true;
        return;
    case F_NUM: {
        int64_t n;
        bool ok = alert_num_parse((enum alert_num)f->idx, v, len, &n);
        if (!ok) {
            if (valid_or_stop(p, f->element, v, len))
                bad_number(p, f, v);
            return;
        }
        alert_set_num(a, (enum alert_num)f->idx, n);
        return;
    }
    case F_TEXT:
    case F_EXTRA:
        return; /* F_TEXT above; F_EXTRA by the caller: it needs the name too */
    }
}

static void end_alert(struct alert_xml *p)
{
    struct alert *a = &p->alerts[p->n_alerts];
    if (p->cur_bad == ALERT_XML_OK) {
        if (a->host == NULL || a->host_len == 0)
            alert_bad(p, ALERT_XML_NO_HOST, "ProblemHost is missing or empty");
        else if (a->component == NULL || a->component_len == 0)
            alert_bad(p, ALERT_XML_NO_COMPONENT, "Component is missing or empty");
        else if (!p->cur_has_action)
            alert_bad(p, ALERT_XML_NO_ACTION, "Action is missing");
    }
    if (p->cur_bad == ALERT_XML_OK) {
        p->n_alerts++;
        return;
    }
    struct alert_xml_result *r = p->res;
    r->n_rejected++;
    r->rejected[p->cur_bad]++;
    if (r->reason == ALERT_XML_OK) {
        r->reason = p->cur_bad;
        snprintf(r->error, sizeof(r->error), "line %d: alert %zu: %s", current_line(p), p->n_seen,
                 p->cur_bad_text);
    }
}

/* Copy an attribute value into the arena. Without XML_PARSE_NOENT (never set here) libxml2
 * hands '&' in attribute values over as the character reference "&#38;", for a DOM to
 * re-parse later; every other reference arrives decoded. A raw '&' cannot occur in a
 * well-formed value, so each "&#38;" is exactly one '&'. */
static char *attr_strdup(struct alert_xml *p, const char *s, size_t *len)
{
    size_t at = p->arena_len, n = *len;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '&' && n - i >= 5 && memcmp(s + i, "&#38;", 5) == 0) {
            if (!arena_put(p, "&", 1))
                return NULL;
            i += 4;
        } else if (!arena_put(p, s + i, 1)) {
            return NULL;
        }
    }
    if (!arena_nul(p))
        return NULL;
    *len = p->arena_len - at - 1;
    return p->arena + at;
}

/* ProxD form: <updAlert host=".." component=".." severity=".."/>, all in attributes. */
static void proxd_alert(struct alert_xml *p, enum alert_action action, int nb_attributes,
                        const xmlChar **attributes)
{
    if (!alert_slot_free(p))
        return;
    begin_alert(p, action, true);
    for (int i = 0; i < nb_attributes && !p->stopped; i++) {
        const char *name = (const char *)attributes[5 * i];
        const char *vstart = (const char *)attributes[5 * i + 3];
        size_t len = (size_t)(attributes[5 * i + 4] - attributes[5 * i + 3]);
        const struct field_def *f = lookup_attr(p, name);
        if (f == NULL || f->kind == F_ACTION)
            continue; /* the element name is the action; unknown attributes are ignored */
        size_t max = f->kind == F_TEXT ? ALERT_TEXT_MAX : ALERT_KEY_MAX + SHORT_VALUE_MAX;
        if (len > max) {
            stop(p, ALERT_XML_FIELD_TOO_LONG, "attribute %s is %zu bytes, the limit is %zu", name,
                 len, max);
            return;
        }
        char *v = attr_strdup(p, vstart, &len);
        if (v != NULL)
            set_field(p, f, v, len);
    }
    if (!p->stopped)
        end_alert(p);
}

/* An element outside any open alert: an Alert (or ProxD updAlert/delAlert) starts, or a
 * wrapper (<Event>, <Alerts>, <transactionlist>) or one of its fields, ignored. */
__attribute__((noinline)) static void outside_alert(struct alert_xml *p, enum name_role role,
                                                    int nb_attributes, const xmlChar **attributes)
{
    if (role == ROLE_ALERT) {
        if (alert_slot_free(p)) {
            begin_alert(p, ALERT_UPD, false);
            p->alert_depth = p->depth;
        }
    } else if (role == ROLE_UPD_ALERT) {
        proxd_alert(p, ALERT_UPD, nb_attributes, attributes);
    } else if (role == ROLE_DEL_ALERT) {
        proxd_alert(p, ALERT_DEL, nb_attributes, attributes);
    }
}

/* An unknown child of the alert: kept as an extra, its name first in the arena. */
__attribute__((noinline)) static void begin_extra(struct alert_xml *p, const char *name)
{
    size_t nlen = strlen(name);
    if (nlen > ALERT_EXTRA_NAME_MAX) {
        stop(p, ALERT_XML_FIELD_TOO_LONG, "element name is %zu bytes, the limit is %d", nlen,
             ALERT_EXTRA_NAME_MAX);
        return;
    }
    p->cap_name = arena_strdup(p, name, nlen);
    if (p->cap_name == NULL)
        return;
    p->cap_depth = p->depth;
    p->cap_field = NULL;
    p->cap_start = p->arena_len;
    p->cap_max = ALERT_EXTRA_VALUE_MAX;
}

__attribute__((cold, noinline)) static void too_deep(struct alert_xml *p)
{
    stop(p, ALERT_XML_DEPTH, "elements nested deeper than %u", p->lim.max_depth);
}

/* on_start for everything but a known field of the open alert (p->depth already counts
 * this element): a wrapper, an Alert, an unknown element, markup inside a value, too deep. */
__attribute__((noinline)) static void start_other(struct alert_xml *p, const xmlChar *localname,
                                                  int nb_attributes, const xmlChar **attributes)
{
    if (p->depth > p->lim.max_depth) {
        too_deep(p);
        return;
    }
    const struct field_def *f;
    enum name_role role = name_role(p, localname, &f);
    if (p->alert_depth == 0) {
        outside_alert(p, role, nb_attributes, attributes);
        return;
    }
    if (p->depth != p->alert_depth + 1)
        return; /* markup inside a field value: ignored, its text too */
    if (f == NULL) {
        begin_extra(p, (const char *)localname);
        return;
    }
    p->cap_depth = p->depth;
    p->cap_field = f;
    p->cap_start = p->arena_len;
    p->cap_max = f->cap_max;
}

/* The common case, a known field of the open alert, takes no call: the rest goes to
 * start_other. */
static void on_start(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri,
                     int nb_namespaces, const xmlChar **namespaces, int nb_attributes,
                     int nb_defaulted, const xmlChar **attributes)
{
    struct alert_xml *p = ctx;
    (void)prefix, (void)uri, (void)nb_namespaces, (void)namespaces, (void)nb_defaulted;

    unsigned depth = ++p->depth;
    const struct name_slot *ns = name_slot_find(p, localname);
    if (ns == NULL || ns->field == NULL || p->alert_depth == 0 || depth != p->alert_depth + 1 ||
        depth > p->lim.max_depth) {
        start_other(p, localname, nb_attributes, attributes);
        return;
    }
    p->cap_depth = depth;
    p->cap_field = ns->field;
    p->cap_start = p->arena_len;
    p->cap_max = ns->field->cap_max;
}

__attribute__((cold, noinline)) static void capture_too_long(struct alert_xml *p)
{
    const char *what = p->cap_field != NULL ? p->cap_field->element : p->cap_name;
    stop(p, ALERT_XML_FIELD_TOO_LONG, "%s is longer than %zu bytes", what, p->cap_max);
}

static void on_chars(void *ctx, const xmlChar *ch, int len)
{
    struct alert_xml *p = ctx;
    if (p->depth != p->cap_depth)
        return; /* not in a field of an alert, or in markup inside one */
    if ((size_t)len > p->cap_max - (p->arena_len - p->cap_start)) {
        capture_too_long(p);
        return;
    }
    arena_put(p, (const char *)ch, (size_t)len);
}

__attribute__((noinline)) static void end_extra(struct alert_xml *p, char *v, size_t len)
{
    if (!valid_or_stop(p, "an element name", p->cap_name, strlen(p->cap_name)) ||
        !valid_or_stop(p, p->cap_name, v, len))
        return;
    struct alert *a = &p->alerts[p->n_alerts];
    if (a->n_extra < ALERT_EXTRA_MAX)
        a->extra[a->n_extra++] = (struct alert_extra){p->cap_name, v};
    else
        p->res->n_extra_dropped++;
}

/* The end of a captured value: NUL-terminate it and store it in the open alert. */
__attribute__((noinline)) static void end_capture(struct alert_xml *p)
{
    size_t len = p->arena_len - p->cap_start;
    char *v = p->arena + p->cap_start;
    p->cap_depth = 0;
    if (!arena_nul(p))
        return;
    if (p->cap_field != NULL)
        set_field(p, p->cap_field, v, len);
    else
        end_extra(p, v, len);
}

__attribute__((noinline)) static void end_open_alert(struct alert_xml *p)
{
    end_alert(p);
    p->alert_depth = 0;
}

static void on_end(void *ctx, const xmlChar *localname, const xmlChar *prefix, const xmlChar *uri)
{
    struct alert_xml *p = ctx;
    (void)localname, (void)prefix, (void)uri;

    unsigned depth = p->depth--;
    if (depth == p->cap_depth)
        end_capture(p);
    else if (depth == p->alert_depth) /* depth >= 1: never matches alert_depth 0 */
        end_open_alert(p);
}

static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *external_id,
                       const xmlChar *system_id)
{
    (void)name, (void)external_id, (void)system_id;
    stop(ctx, ALERT_XML_DOCTYPE, "DOCTYPE is not accepted");
}

/* Entities other than the five predefined ones (which libxml2 resolves before asking)
 * do not exist here: with no DTD accepted, every other reference is undeclared. */
static xmlEntityPtr on_get_entity(void *ctx, const xmlChar *name)
{
    (void)ctx, (void)name;
    return NULL;
}

static void on_error(void *ctx, xmlErrorPtr err)
{
    struct alert_xml *p = ctx;
    if (p->stopped || err == NULL || err->level < XML_ERR_ERROR)
        return;
    p->stopped = true;
    p->res->reason = ALERT_XML_SYNTAX;
    /* libxml2 words a document cut short as "Extra content at the end of the document";
     * say what happened instead. */
    if ((err->code == XML_ERR_DOCUMENT_END || err->code == XML_ERR_DOCUMENT_EMPTY ||
         err->code == XML_ERR_GT_REQUIRED || err->code == XML_ERR_LTSLASH_REQUIRED) &&
        p->depth > 0)
        p->res->truncated = 1;
    if (err->code == XML_ERR_DOCUMENT_END && p->depth > 0) {
        snprintf(p->res->error, sizeof(p->res->error),
                 "line %d col %d: truncated: the document ends inside %u open element(s)",
                 err->line, err->int2, p->depth);
        return;
    }
    const char *msg = err->message != NULL ? err->message : "not well-formed";
    size_t mlen = strcspn(msg, "\n");
    snprintf(p->res->error, sizeof(p->res->error), "line %d col %d: %.*s", err->line, err->int2,
             (int)mlen, msg);
}

static int context_create(struct alert_xml *p)
{
    xmlSAXHandler sax;
    memset(&sax, 0, sizeof(sax));
    sax.initialized = XML_SAX2_MAGIC;
    sax.startElementNs = on_start;
    sax.endElementNs = on_end;
    sax.characters = on_chars;
    sax.cdataBlock = on_chars;
    sax.internalSubset = on_doctype;
    sax.getEntity = on_get_entity;
    sax.serror = on_error;

    p->ctxt = xmlCreatePushParserCtxt(&sax, p, NULL, 0, NULL);
    if (p->ctxt == NULL)
        return -ENOMEM;
    /* Only NONET is set: never NOENT, DTDLOAD, DTDATTR or HUGE. The options live in the
     * context and survive xmlCtxtResetPush. */
    xmlCtxtUseOptions(p->ctxt, XML_PARSE_NONET);
    return names_build(p);
}

static void context_free(struct alert_xml *p)
{
    if (p->ctxt == NULL)
        return;
    xmlFreeParserCtxt(p->ctxt);
    p->ctxt = NULL;
}

int alert_xml_new(const struct alert_xml_limits *limits, struct alert_xml **out)
{
    struct alert_xml *p = calloc(1, sizeof(*p));
    if (p == NULL)
        return -ENOMEM;

    p->lim.max_datagram = DEFAULT_MAX_DATAGRAM;
    p->lim.max_depth = DEFAULT_MAX_DEPTH;
    p->lim.max_alerts = ALERT_XML_MAX_ALERTS;
    if (limits != NULL) {
        if (limits->max_datagram)
            p->lim.max_datagram = limits->max_datagram;
        if (limits->max_depth)
            p->lim.max_depth = limits->max_depth;
        if (limits->max_alerts)
            p->lim.max_alerts = limits->max_alerts;
    }
    build_fields(p);

    xmlInitParser();
    p->alerts = calloc(p->lim.max_alerts, sizeof(*p->alerts));
    if (p->alerts == NULL || arena_reserve(p, 4096) != 0 || context_create(p) != 0)
        goto fail;
    *out = p;
    return 0;
fail:
    alert_xml_free(p);
    return -ENOMEM;
}

void alert_xml_free(struct alert_xml *p)
{
    if (p == NULL)
        return;
    context_free(p);
    free(p->alerts);
    free(p->arena);
    free(p);
}

static void result_reset(struct alert_xml_result *r)
{
    r->alerts = NULL;
    r->n_alerts = 0;
    r->n_rejected = 0;
    memset(r->rejected, 0, sizeof(r->rejected));
    r->n_extra_dropped = 0;
    r->reason = ALERT_XML_OK;
    r->error[0] = '\0';
    r->truncated = 0;
}

static int refuse(struct alert_xml_result *r, enum alert_xml_reason reason, const char *text)
{
    int truncated = r->truncated;
    result_reset(r);
    r->truncated = truncated;
    r->reason = reason;
    snprintf(r->error, sizeof(r->error), "%s", text);
    return -EBADMSG;
}

int alert_xml_parse(struct alert_xml *p, const char *buf, size_t len, struct alert_xml_result *out)
{
    result_reset(out);
    if (len > p->lim.max_datagram) {
        char text[96];
        snprintf(text, sizeof(text), "datagram is %zu bytes, the limit is %zu", len,
                 p->lim.max_datagram);
        return refuse(out, ALERT_XML_TOO_LARGE, text);
    }
    /* Leading blanks before an XML declaration are an XML error; senders add them. */
    while (len > 0 && is_blank(*buf)) {
        buf++;
        len--;
    }
    if (len == 0)
        return refuse(out, ALERT_XML_SYNTAX, "empty datagram");
    if (arena_reserve(p, len) != 0)
        return -ENOMEM;

    if (xmlDictSize(p->ctxt->dict) > DICT_REBUILD_NAMES) {
        context_free(p);
        if (context_create(p) != 0)
            return -ENOMEM;
    }
    if (xmlCtxtResetPush(p->ctxt, NULL, 0, NULL, NULL) != 0)
        return -ENOMEM;

    p->res = out;
    p->arena_len = 0;
    p->n_alerts = 0;
    p->n_seen = 0;
    p->stopped = false;
    p->depth = 0;
    p->alert_depth = 0;
    p->cap_depth = 0;

    xmlParseChunk(p->ctxt, buf, (int)len, 1);

    if (!p->stopped && !p->ctxt->wellFormed) {
        p->stopped = true;
        out->reason = ALERT_XML_SYNTAX;
        snprintf(out->error, sizeof(out->error), "not well-formed");
    }
    if (p->stopped) {
        enum alert_xml_reason reason = out->reason;
        char text[sizeof(out->error)];
        memcpy(text, out->error, sizeof(text));
        return refuse(out, reason, text);
    }
    if (p->n_alerts == 0 && out->n_rejected == 0)
        return refuse(out, ALERT_XML_NO_ALERT, "no Alert, updAlert or delAlert element");
    out->alerts = p->alerts;
    out->n_alerts = p->n_alerts;
    return 0;
}

int alert_xml_reply(char *buf, size_t size, const struct alert_xml_reply_item *items, size_t n,
                    const char *error_reason, const char *error_text)
{
    xmlBufferPtr xb = xmlBufferCreate();
    xmlTextWriterPtr w = xb ? xmlNewTextWriterMemory(xb, 0) : NULL;
    int rc = 0;
    if (w == NULL) {
        xmlBufferFree(xb);
        return -ENOMEM;
    }
    rc |= xmlTextWriterStartElement(w, BAD_CAST "Reply") < 0;
    rc |= xmlTextWriterWriteAttribute(w, BAD_CAST "status",
                                      BAD_CAST(error_reason ? "error" : "ok")) < 0;
    if (error_reason != NULL) {
        rc |= xmlTextWriterStartElement(w, BAD_CAST "Error") < 0;
        rc |= xmlTextWriterWriteAttribute(w, BAD_CAST "reason", BAD_CAST error_reason) < 0;
        rc |= xmlTextWriterWriteString(w, BAD_CAST(error_text ? error_text : "")) < 0;
        rc |= xmlTextWriterEndElement(w) < 0;
    }
    for (size_t i = 0; i < n; i++) {
        char v[24];
        snprintf(v, sizeof(v), "%" PRIu64, items[i].version);
        rc |= xmlTextWriterStartElement(w, BAD_CAST "Result") < 0;
        rc |= xmlTextWriterWriteAttribute(w, BAD_CAST "outcome", BAD_CAST items[i].outcome) < 0;
        if (items[i].version != 0)
            rc |= xmlTextWriterWriteAttribute(w, BAD_CAST "version", BAD_CAST v) < 0;
        rc |= xmlTextWriterWriteAttribute(w, BAD_CAST "host", BAD_CAST items[i].host) < 0;
        rc |= xmlTextWriterWriteAttribute(w, BAD_CAST "component", BAD_CAST items[i].component) < 0;
        rc |= xmlTextWriterEndElement(w) < 0;
    }
    rc |= xmlTextWriterEndDocument(w) < 0;
    xmlFreeTextWriter(w);
    int len = xmlBufferLength(xb);
    /* Without the newline the writer ends a document with: the caller ends the line (a
     * reply was "...</Reply>\n\n", an empty line a line-reading client took for the reply). */
    while (len > 0 && xmlBufferContent(xb)[len - 1] == '\n')
        len--;
    if (rc != 0 || len < 0) {
        xmlBufferFree(xb);
        return -ENOMEM;
    }
    if ((size_t)len >= size) {
        xmlBufferFree(xb);
        return -ENOSPC;
    }
    memcpy(buf, xmlBufferContent(xb), (size_t)len);
    buf[len] = '\0';
    xmlBufferFree(xb);
    return len;
}
