/* injector_send.c - send one alert datagram from a shell script, like logger(1) for syslog. */
#include "parsers/alert.h"
#include "parsers/alert_xml.h"
#include "parsers/envelope.h"
#include "target.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlwriter.h>

#define MAX_EXTRA    ALERT_EXTRA_MAX
#define MAX_DATAGRAM 65507      /* the largest UDP payload, and the collector's document limit */
#define MAX_REPLY    (4u << 20) /* a reply to 1,024 alerts with long names fits many times over */

/* Exit statuses, as --help states them. */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

enum {
    OPT_TARGET = 1000,
    OPT_HOST,
    OPT_COMPONENT,
    OPT_ACTION,
    OPT_DEL,
    OPT_UPDONLY,
    OPT_EXTRA,
    OPT_PRINT,
    OPT_RAW,
    OPT_KEY_FILE,
    OPT_KEY_ID,
    OPT_TCP,
    OPT_TIMEOUT,
    OPT_TEXT = 2000, /* + enum alert_text */
    OPT_NUM = 3000,  /* + enum alert_num */
};

struct args {
    const char *target;
    const char *host, *component, *action;
    const char *text[ALERT_TEXT_COUNT];
    const char *num[ALERT_NUM_COUNT];
    const char *extra[MAX_EXTRA];
    int n_extra;
    int print, raw, tcp;
    uint64_t timeout_ms; /* --tcp: the whole exchange */
    const char *key_file, *key_id;
    struct envelope_key key;            /* when signing */
    char num_text[ALERT_NUM_COUNT][24]; /* the numbers as sent, once checked */
    char *stdin_text;                   /* a text field given as '-', read once */
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: injector-send [OPTION]... --host HOST --component COMP [MESSAGE]...\n"
               "  or:  injector-send --raw [--target ADDR] [--tcp] < documents\n"
               "Send one alert to an injector collector: over UDP (one datagram, no reply), or\n"
               "with --tcp over its TCP reply mode (injectord --tcp true), waiting for the\n"
               "collector's answer. MESSAGE, if given, is the Msg field; a MESSAGE or a text\n"
               "value of '-' (--msg -) is read from standard input (one field at most; trailing\n"
               "newlines dropped). Every value is checked as the collector would before anything\n"
               "is sent.\n\n"
               "  --target HOST:PORT     collector address [127.0.0.1:8341]; [v6]:PORT for IPv6\n"
               "  --tcp                  send over TCP and wait for the reply: exit 0 only when\n"
               "                         the collector accepted every alert\n"
               "  --timeout DURATION     --tcp: connect, send and reply within this [10s]\n"
               "                         (seconds, or with ms, s, m, h)\n"
               "  --host HOST            ProblemHost (required)\n"
               "  --component COMP       Component (required)\n"
               "  --action ACTION        Upd, Del, Updonly or Post [Upd]\n"
               "  --del                  same as --action Del (clear the alert)\n"
               "  --updonly              same as --action Updonly\n");
    for (int i = 0; i < ALERT_TEXT_COUNT; i++) {
        char opt[32];
        snprintf(opt, sizeof(opt), "%s", alert_text_info[i].json);
        for (char *p = opt; *p; p++)
            if (*p == '_')
                *p = '-';
        fprintf(f, "  --%-20s %s\n", opt, alert_text_info[i].element);
    }
    for (int i = 0; i < ALERT_NUM_COUNT; i++) {
        const struct alert_num_info *ni = &alert_num_info[i];
        char opt[40], range[64];
        snprintf(opt, sizeof(opt), "%s %s", ni->json,
                 ni->kind == ALERT_KIND_BOOL ? "true|false"
                 : i == ALERT_TTL            ? "DURATION"
                                             : "N");
        for (char *p = opt; *p && *p != ' '; p++)
            if (*p == '_')
                *p = '-';
        if (ni->kind == ALERT_KIND_BOOL)
            snprintf(range, sizeof(range), "(also 1|0, yes|no)");
        else if (i == ALERT_TTL)
            snprintf(range, sizeof(range), "(seconds, or with s, m, h; at most %" PRId64 " s)",
                     ni->max);
        else
            snprintf(range, sizeof(range), "(%" PRId64 " to %" PRId64 ")", ni->min, ni->max);
        fprintf(f, "  --%-20s %s %s%s\n", opt, ni->element, range,
                i == ALERT_SEVERITY ? ", 1 the most severe" : "");
    }
    fprintf(f,
            "  --extra NAME=VALUE     an extra element <NAME>VALUE</NAME> (repeatable, at most "
            "%d;\n"
            "                         NAME an XML name of up to %d bytes)\n"
            "  --print                print the XML instead of sending it\n"
            "  --raw                  send each line of stdin as one datagram (with --tcp: one\n"
            "                         document per connection), verbatim and unchecked\n"
            "  --key-file PATH        sign with a key of this file ('keyid hexkey' lines)\n"
            "  --key-id ID            which key [the first]\n"
            "  -h, --help             show this help\n"
            "  -V, --version          print the version\n\n"
            "Exit status: 0 sent (with --tcp: every alert accepted by the collector);\n"
            "1 failure at run time (could not send; with --tcp also: an alert refused, with\n"
            "the collector's reason on stderr, or no reply); 2 usage error (a bad option or\n"
            "value, said on stderr; nothing is sent).\n"
            "Example: injector-send --host web12 --component disk --severity 6 "
            "\"disk 95%% full\"\n",
            MAX_EXTRA, ALERT_EXTRA_NAME_MAX);
}

/* Long option names are the JSON names with dashes: --issue-num, --start-time. */
static char option_names[ALERT_TEXT_COUNT + ALERT_NUM_COUNT][32];

static int build_options(struct option *o)
{
    int n = 0;
    o[n++] = (struct option){"target", required_argument, NULL, OPT_TARGET};
    o[n++] = (struct option){"host", required_argument, NULL, OPT_HOST};
    o[n++] = (struct option){"component", required_argument, NULL, OPT_COMPONENT};
    o[n++] = (struct option){"action", required_argument, NULL, OPT_ACTION};
    o[n++] = (struct option){"del", no_argument, NULL, OPT_DEL};
    o[n++] = (struct option){"updonly", no_argument, NULL, OPT_UPDONLY};
    o[n++] = (struct option){"extra", required_argument, NULL, OPT_EXTRA};
    o[n++] = (struct option){"print", no_argument, NULL, OPT_PRINT};
    o[n++] = (struct option){"raw", no_argument, NULL, OPT_RAW};
    o[n++] = (struct option){"key-file", required_argument, NULL, OPT_KEY_FILE};
    o[n++] = (struct option){"key-id", required_argument, NULL, OPT_KEY_ID};
    o[n++] = (struct option){"tcp", no_argument, NULL, OPT_TCP};
    o[n++] = (struct option){"timeout", required_argument, NULL, OPT_TIMEOUT};
    o[n++] = (struct option){"help", no_argument, NULL, 'h'};
    o[n++] = (struct option){"version", no_argument, NULL, 'V'};
    for (int i = 0; i < ALERT_TEXT_COUNT + ALERT_NUM_COUNT; i++) {
        const char *json = i < ALERT_TEXT_COUNT ? alert_text_info[i].json
                                                : alert_num_info[i - ALERT_TEXT_COUNT].json;
        snprintf(option_names[i], sizeof(option_names[i]), "%s", json);
        for (char *p = option_names[i]; *p; p++)
            if (*p == '_')
                *p = '-';
        int val = i < ALERT_TEXT_COUNT ? OPT_TEXT + i : OPT_NUM + (i - ALERT_TEXT_COUNT);
        o[n++] = (struct option){option_names[i], required_argument, NULL, val};
    }
    o[n] = (struct option){NULL, 0, NULL, 0};
    return n;
}

static bool is_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* s without the blanks the parser trims around numbers, host and component. */
static const char *trimmed(const char *s, size_t *len)
{
    size_t n = strlen(s);
    while (n > 0 && is_blank(*s)) {
        s++;
        n--;
    }
    while (n > 0 && is_blank(s[n - 1]))
        n--;
    *len = n;
    return s;
}

/* The option's name as --help shows it: the JSON name with dashes. */
static const char *option_of(const char *json, char *buf, size_t size)
{
    snprintf(buf, size, "--%s", json);
    for (char *p = buf; *p; p++)
        if (*p == '_')
            *p = '-';
    return buf;
}

/* Standard input as one value: at most ALERT_TEXT_MAX bytes, trailing newlines dropped.
 * Returns 0, EXIT_USAGE (too long) or EXIT_RUNTIME (a read error), having said why. */
static int read_stdin_value(const char *option, char **out)
{
    size_t cap = ALERT_TEXT_MAX + 2, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        fprintf(stderr, "injector-send: out of memory\n");
        return EXIT_RUNTIME;
    }
    size_t n;
    while (len < cap - 1 && (n = fread(buf + len, 1, cap - 1 - len, stdin)) > 0)
        len += n;
    /* The buffer full and more to come: too long, even if what was read ends in a newline
     * (the rest would be dropped without a word). */
    bool more = len == cap - 1 && fgetc(stdin) != EOF;
    if (ferror(stdin)) {
        fprintf(stderr, "injector-send: %s -: reading standard input: %s\n", option,
                strerror(errno));
        free(buf);
        return EXIT_RUNTIME;
    }
    while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
        len--;
    if (len > ALERT_TEXT_MAX || more) {
        fprintf(stderr, "injector-send: %s -: standard input is longer than %d bytes, the limit\n",
                option, ALERT_TEXT_MAX);
        free(buf);
        return EXIT_USAGE;
    }
    buf[len] = '\0';
    *out = buf;
    return 0;
}

/* Returns 0, or the exit status, having said why on stderr. */
static int parse_args(int argc, char **argv, struct args *a, char **msg)
{
    struct option opts[20 + ALERT_TEXT_COUNT + ALERT_NUM_COUNT];
    build_options(opts);
    a->target = "127.0.0.1:8341";
    a->action = "Upd";
    a->timeout_ms = 10000;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":hV", opts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            usage(stdout);
            exit(EXIT_OK);
        case 'V':
            printf("injector-send %s\n", INJECTOR_VERSION);
            exit(EXIT_OK);
        case OPT_TARGET:
            a->target = optarg;
            break;
        case OPT_HOST:
            a->host = optarg;
            break;
        case OPT_COMPONENT:
            a->component = optarg;
            break;
        case OPT_ACTION:
            a->action = optarg;
            break;
        case OPT_DEL:
            a->action = "Del";
            break;
        case OPT_UPDONLY:
            a->action = "Updonly";
            break;
        case OPT_PRINT:
            a->print = 1;
            break;
        case OPT_RAW:
            a->raw = 1;
            break;
        case OPT_TCP:
            a->tcp = 1;
            break;
        case OPT_TIMEOUT:
            if (alert_parse_duration(optarg, &a->timeout_ms) != 0 || a->timeout_ms == 0 ||
                a->timeout_ms > 3600000) {
                fprintf(stderr,
                        "injector-send: --timeout '%s' is not a duration from 1ms to 1h (seconds, "
                        "or a number with ms, s, m or h)\n",
                        optarg);
                return EXIT_USAGE;
            }
            break;
        case OPT_KEY_FILE:
            a->key_file = optarg;
            break;
        case OPT_KEY_ID:
            a->key_id = optarg;
            break;
        case OPT_EXTRA:
            if (a->n_extra >= MAX_EXTRA || strchr(optarg, '=') == NULL || optarg[0] == '=') {
                fprintf(stderr, "injector-send: --extra takes NAME=VALUE, at most %d\n", MAX_EXTRA);
                return EXIT_USAGE;
            }
            a->extra[a->n_extra++] = optarg;
            break;
        case ':':
            fprintf(stderr, "injector-send: %s needs a value (see --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        case '?':
            fprintf(stderr, "injector-send: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return EXIT_USAGE;
        default:
            if (ch >= OPT_NUM)
                a->num[ch - OPT_NUM] = optarg;
            else
                a->text[ch - OPT_TEXT] = optarg;
        }
    }
    /* Remaining words are the message, joined by spaces. */
    if (optind < argc && a->text[ALERT_MSG] == NULL) {
        size_t len = 1;
        for (int i = optind; i < argc; i++)
            len += strlen(argv[i]) + 1;
        if ((*msg = calloc(1, len)) == NULL) {
            fprintf(stderr, "injector-send: out of memory\n");
            return EXIT_RUNTIME;
        }
        for (int i = optind; i < argc; i++) {
            if (i > optind)
                strcat(*msg, " ");
            strcat(*msg, argv[i]);
        }
        a->text[ALERT_MSG] = *msg;
    } else if (optind < argc) {
        fprintf(stderr, "injector-send: give the message either as --msg or as words\n");
        return EXIT_USAGE;
    }
    enum alert_action act;
    if (alert_action_parse(a->action, strlen(a->action), &act) != 0) {
        fprintf(stderr, "injector-send: --action '%s' is not Upd, Del, Updonly or Post\n",
                a->action);
        return EXIT_USAGE;
    }
    if (a->raw && a->print) {
        fprintf(stderr, "injector-send: --raw sends stdin as it is: --print has nothing to show\n");
        return EXIT_USAGE;
    }
    if (!a->raw && (a->host == NULL || a->component == NULL)) {
        fprintf(stderr, "injector-send: --host and --component are required (see --help)\n");
        return EXIT_USAGE;
    }
    return 0;
}

/* A host or component as the parser takes it: 1 to ALERT_KEY_MAX bytes once trimmed. */
static int check_key(const char *option, const char *v)
{
    size_t len;
    trimmed(v, &len);
    if (len == 0) {
        fprintf(stderr, "injector-send: %s is empty\n", option);
        return EXIT_USAGE;
    }
    if (len > ALERT_KEY_MAX) {
        fprintf(stderr, "injector-send: %s is %zu bytes, the limit is %d\n", option, len,
                ALERT_KEY_MAX);
        return EXIT_USAGE;
    }
    if (!alert_utf8_valid(v, strlen(v))) {
        fprintf(stderr, "injector-send: %s is not valid UTF-8\n", option);
        return EXIT_USAGE;
    }
    return 0;
}

static int check_text(const char *option, const char *v, size_t max)
{
    size_t len = strlen(v);
    if (len > max) {
        fprintf(stderr, "injector-send: %s is %zu bytes, the limit is %zu\n", option, len, max);
        return EXIT_USAGE;
    }
    if (!alert_utf8_valid(v, len)) {
        fprintf(stderr, "injector-send: %s is not valid UTF-8\n", option);
        return EXIT_USAGE;
    }
    return 0;
}

/* One number or boolean, read as the parser reads it (alert.h); --ttl also takes a duration
 * (1h), sent as seconds. The value as sent goes to a->num_text. */
static int check_num(struct args *a, int i)
{
    const struct alert_num_info *ni = &alert_num_info[i];
    char opt[40];
    option_of(ni->json, opt, sizeof(opt));
    size_t len;
    const char *v = trimmed(a->num[i], &len);
    int64_t n;
    uint64_t ms;
    char copy[40];
    snprintf(copy, sizeof(copy), "%.*s", (int)(len < sizeof(copy) ? len : sizeof(copy) - 1), v);
    if (i == ALERT_TTL && len < sizeof(copy) && alert_parse_duration(copy, &ms) == 0) {
        if (ms % 1000 != 0 || ms / 1000 > (uint64_t)ni->max) {
            fprintf(stderr,
                    "injector-send: %s '%s' is not a whole number of seconds from %" PRId64
                    " to %" PRId64 "\n",
                    opt, a->num[i], ni->min, ni->max);
            return EXIT_USAGE;
        }
        snprintf(a->num_text[i], sizeof(a->num_text[i]), "%" PRIu64, ms / 1000);
        a->num[i] = a->num_text[i];
        return 0;
    }
    if (!alert_num_parse((enum alert_num)i, v, len, &n)) {
        if (ni->kind == ALERT_KIND_BOOL)
            fprintf(stderr, "injector-send: %s '%s' is not true or false (also 1/0, yes/no)\n", opt,
                    a->num[i]);
        else if (i == ALERT_TTL)
            fprintf(stderr,
                    "injector-send: %s '%s' is not a duration from %" PRId64 " to %" PRId64
                    " seconds (seconds, or a number with s, m or h)\n",
                    opt, a->num[i], ni->min, ni->max);
        else
            fprintf(stderr,
                    "injector-send: %s '%s' is not an integer from %" PRId64 " to %" PRId64 "\n",
                    opt, a->num[i], ni->min, ni->max);
        return EXIT_USAGE;
    }
    if (ni->kind == ALERT_KIND_BOOL)
        snprintf(a->num_text[i], sizeof(a->num_text[i]), "%s", n ? "true" : "false");
    else
        snprintf(a->num_text[i], sizeof(a->num_text[i]), "%" PRId64, n);
    a->num[i] = a->num_text[i];
    return 0;
}

/* Every value checked as the collector's parser would take it, each with the option's name
 * in the message; the document itself is parsed again before sending (check_document).
 * Returns 0, or the exit status, having said why. */
static int check_values(struct args *a)
{
    int rc;
    if ((rc = check_key("--host", a->host)) != 0 || (rc = check_key("--component", a->component)))
        return rc;
    for (int i = 0; i < ALERT_TEXT_COUNT; i++) {
        if (a->text[i] == NULL)
            continue;
        char opt[40];
        option_of(alert_text_info[i].json, opt, sizeof(opt));
        if (strcmp(a->text[i], "-") == 0) {
            if (a->stdin_text != NULL) {
                fprintf(stderr, "injector-send: one field at most can be read from stdin ('-')\n");
                return EXIT_USAGE;
            }
            if ((rc = read_stdin_value(opt, &a->stdin_text)) != 0)
                return rc;
            a->text[i] = a->stdin_text;
        }
        if ((rc = check_text(opt, a->text[i], ALERT_TEXT_MAX)) != 0)
            return rc;
    }
    for (int i = 0; i < ALERT_NUM_COUNT; i++)
        if (a->num[i] != NULL && (rc = check_num(a, i)) != 0)
            return rc;
    for (int i = 0; i < a->n_extra; i++) {
        const char *eq = strchr(a->extra[i], '=');
        size_t nlen = (size_t)(eq - a->extra[i]);
        char name[ALERT_EXTRA_NAME_MAX + 1];
        if (nlen > ALERT_EXTRA_NAME_MAX) {
            fprintf(stderr, "injector-send: --extra name '%.*s...' is %zu bytes, the limit is %d\n",
                    16, a->extra[i], nlen, ALERT_EXTRA_NAME_MAX);
            return EXIT_USAGE;
        }
        memcpy(name, a->extra[i], nlen);
        name[nlen] = '\0';
        /* An XML name without a namespace prefix: the collector takes <a:b> with no prefix
         * declared for a syntax error and refuses the whole datagram. */
        if (!alert_utf8_valid(name, nlen) || xmlValidateNCName(BAD_CAST name, 0) != 0) {
            fprintf(stderr,
                    "injector-send: --extra '%s': '%s' is not an XML element name (a letter or _ "
                    "first, then letters, digits, '-', '_', '.'; no spaces, no ':')\n",
                    a->extra[i], name);
            return EXIT_USAGE;
        }
        if ((rc = check_text("--extra value", eq + 1, ALERT_EXTRA_VALUE_MAX)) != 0)
            return rc;
    }
    return 0;
}

/* The document as the collector will read it: what its parser would refuse (a character XML
 * cannot carry, a whole too large, ...) is refused here, before anything is sent. */
static int check_document(const char *doc, size_t len)
{
    struct alert_xml *p = NULL;
    struct alert_xml_result res;
    if (alert_xml_new(NULL, &p) != 0) {
        fprintf(stderr, "injector-send: out of memory\n");
        return EXIT_RUNTIME;
    }
    int rc = alert_xml_parse(p, doc, len, &res);
    int status = EXIT_OK;
    if (rc == -ENOMEM) {
        fprintf(stderr, "injector-send: out of memory\n");
        status = EXIT_RUNTIME;
    } else if (rc != 0 || res.n_rejected > 0 || res.n_extra_dropped > 0) {
        fprintf(stderr, "injector-send: the collector would refuse this alert: %s: %s\n",
                alert_xml_reason_name(res.reason), res.error);
        status = EXIT_USAGE;
    }
    alert_xml_free(p);
    return status;
}

/* The alert as XML, written by libxml2 so every value is escaped properly. */
static xmlBufferPtr build_xml(const struct args *a)
{
    xmlBufferPtr buf = xmlBufferCreate();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory(buf, 0) : NULL;
    int rc = 0;
    if (w == NULL) {
        xmlBufferFree(buf);
        return NULL;
    }
    rc |= xmlTextWriterStartElement(w, BAD_CAST "Alert") < 0;
    rc |= xmlTextWriterWriteElement(w, BAD_CAST "Action", BAD_CAST a->action) < 0;
    rc |= xmlTextWriterWriteElement(w, BAD_CAST "ProblemHost", BAD_CAST a->host) < 0;
    rc |= xmlTextWriterWriteElement(w, BAD_CAST "Component", BAD_CAST a->component) < 0;
    for (int i = 0; i < ALERT_NUM_COUNT; i++)
        if (a->num[i] != NULL)
            rc |= xmlTextWriterWriteElement(w, BAD_CAST alert_num_info[i].element,
                                            BAD_CAST a->num[i]) < 0;
    for (int i = 0; i < ALERT_TEXT_COUNT; i++)
        if (a->text[i] != NULL)
            rc |= xmlTextWriterWriteElement(w, BAD_CAST alert_text_info[i].element,
                                            BAD_CAST a->text[i]) < 0;
    for (int i = 0; i < a->n_extra; i++) {
        char name[ALERT_EXTRA_NAME_MAX + 1];
        const char *eq = strchr(a->extra[i], '=');
        snprintf(name, sizeof(name), "%.*s", (int)(eq - a->extra[i]), a->extra[i]);
        rc |= xmlTextWriterWriteElement(w, BAD_CAST name, BAD_CAST(eq + 1)) < 0;
    }
    rc |= xmlTextWriterEndDocument(w) < 0;
    xmlFreeTextWriter(w);
    if (rc != 0) {
        xmlBufferFree(buf);
        return NULL;
    }
    return buf;
}

/* Sign body into out when a key is loaded; else copy it. Returns the length or -1. */
static int maybe_sign(const struct args *a, const char *body, size_t len, char *out, size_t size)
{
    if (a->key_file == NULL) {
        if (len >= size)
            return -1;
        memcpy(out, body, len);
        return (int)len;
    }
    unsigned char r[8];
    char nonce[17];
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return -1;
    for (int i = 0; i < 8; i++)
        snprintf(nonce + 2 * i, 3, "%02x", r[i]);
    return envelope_sign(&a->key, (int64_t)time(NULL), nonce, body, len, out, size);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait for events on fd until deadline. Returns 1 ready, 0 timed out, -1 error (errno). */
static int wait_fd(int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - mono_ms();
        if (left <= 0)
            return 0;
        struct pollfd pfd = {.fd = fd, .events = events};
        int n = poll(&pfd, 1, (int)left);
        if (n > 0)
            return 1;
        if (n < 0 && errno != EINTR)
            return -1;
    }
}

/* The collector's reply: exit 0 when it accepted every alert, else 1 with its reasons on
 * stderr. `what` names the document for a message ("" for the only one). */
static int check_reply(const char *what, const char *reply, size_t len)
{
    xmlDocPtr doc = xmlReadMemory(reply, (int)len, NULL, NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    xmlNodePtr root = doc ? xmlDocGetRootElement(doc) : NULL;
    if (root == NULL || xmlStrcmp(root->name, BAD_CAST "Reply") != 0) {
        fprintf(stderr, "injector-send: %sthe collector's reply is not a <Reply>: %.200s\n", what,
                reply);
        xmlFreeDoc(doc);
        return EXIT_RUNTIME;
    }
    xmlChar *status = xmlGetProp(root, BAD_CAST "status");
    int rc = status != NULL && xmlStrcmp(status, BAD_CAST "ok") == 0 ? EXIT_OK : EXIT_RUNTIME;
    bool said = false;
    for (xmlNodePtr n = root->children; n != NULL; n = n->next) {
        if (n->type != XML_ELEMENT_NODE)
            continue;
        xmlChar *reason = xmlGetProp(n, BAD_CAST "reason");
        xmlChar *outcome = xmlGetProp(n, BAD_CAST "outcome");
        if (xmlStrcmp(n->name, BAD_CAST "Error") == 0) {
            xmlChar *text = xmlNodeGetContent(n);
            fprintf(stderr, "injector-send: %srefused by the collector: %s: %s\n", what,
                    reason ? (const char *)reason : "?", text ? (const char *)text : "");
            xmlFree(text);
            rc = EXIT_RUNTIME;
            said = true;
        } else if (rc == EXIT_OK && xmlStrcmp(n->name, BAD_CAST "Result") == 0 && outcome != NULL &&
                   (xmlStrcmp(outcome, BAD_CAST "refused_full") == 0 ||
                    xmlStrcmp(outcome, BAD_CAST "nomem") == 0)) {
            /* Said with status="ok" by a collector from before the reply said error. */
            xmlChar *host = xmlGetProp(n, BAD_CAST "host");
            xmlChar *comp = xmlGetProp(n, BAD_CAST "component");
            fprintf(stderr, "injector-send: %srefused by the collector: %s: %s %s\n", what,
                    (const char *)outcome, host ? (const char *)host : "",
                    comp ? (const char *)comp : "");
            xmlFree(host);
            xmlFree(comp);
            rc = EXIT_RUNTIME;
            said = true;
        }
        xmlFree(reason);
        xmlFree(outcome);
    }
    if (rc != EXIT_OK && !said)
        fprintf(stderr, "injector-send: %sthe collector's reply says status=\"%s\": %.200s\n", what,
                status ? (const char *)status : "", reply);
    xmlFree(status);
    xmlFreeDoc(doc);
    return rc;
}

/* One document over TCP (the collector's --tcp mode): connect, send, half-close, read the
 * one-line reply, all within a->timeout_ms. Returns 0 accepted, 1 otherwise (said why). */
static int tcp_submit(const struct args *a, const struct addrinfo *ai, const char *what,
                      const char *doc, size_t len)
{
    int64_t deadline = mono_ms() + (int64_t)a->timeout_ms;
    char *reply = NULL;
    size_t rlen = 0, rcap = 0;
    int rc = EXIT_RUNTIME, w;
    const char *step = "connecting";
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        goto fail;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int err = 0;
        socklen_t elen = sizeof(err);
        if (errno != EINPROGRESS)
            goto fail;
        if ((w = wait_fd(fd, POLLOUT, deadline)) <= 0)
            goto timeout_or_fail;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
            goto fail;
        if (err != 0) {
            errno = err;
            goto fail;
        }
    }
    step = "sending";
    for (size_t off = 0; off < len;) {
        ssize_t n = send(fd, doc + off, len - off, MSG_NOSIGNAL);
        if (n > 0) {
            off += (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if ((w = wait_fd(fd, POLLOUT, deadline)) <= 0)
                goto timeout_or_fail;
        } else if (n < 0 && errno != EINTR) {
            goto fail;
        }
    }
    /* The end of the document: the collector parses what it has. */
    shutdown(fd, SHUT_WR);
    step = "reading the reply";
    for (;;) {
        if (rcap - rlen < 4096) {
            rcap = rcap ? 2 * rcap : 8192;
            char *r = rcap <= MAX_REPLY ? realloc(reply, rcap + 1) : NULL;
            if (r == NULL) {
                errno = ENOMEM;
                goto fail;
            }
            reply = r;
        }
        ssize_t n = recv(fd, reply + rlen, rcap - rlen, 0);
        if (n > 0) {
            rlen += (size_t)n;
            if (memchr(reply + rlen - (size_t)n, '\n', (size_t)n) != NULL)
                break;
        } else if (n == 0) {
            break;
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            if ((w = wait_fd(fd, POLLIN, deadline)) <= 0)
                goto timeout_or_fail;
        } else if (errno != EINTR) {
            goto fail;
        }
    }
    while (rlen > 0 && (reply[rlen - 1] == '\n' || reply[rlen - 1] == '\r'))
        rlen--;
    if (rlen == 0) {
        fprintf(stderr,
                "injector-send: %s%s: the collector closed the connection without a reply\n", what,
                a->target);
        goto out;
    }
    reply[rlen] = '\0';
    rc = check_reply(what, reply, rlen);
    goto out;
timeout_or_fail:
    if (w == 0) {
        fprintf(stderr, "injector-send: %s%s: %s: no answer within %" PRIu64 " ms\n", what,
                a->target, step, a->timeout_ms);
        goto out;
    }
fail:
    fprintf(stderr, "injector-send: %s%s: %s: %s\n", what, a->target, step, strerror(errno));
out:
    if (fd >= 0)
        close(fd);
    free(reply);
    return rc;
}

/* --raw: each line of stdin, verbatim (signed when a key is given): a datagram each, or with
 * --tcp a document each on its own connection. */
static int send_raw(int fd, const struct addrinfo *ai, const struct args *a)
{
    static char signed_buf[70000];
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long sent = 0;
    int rc = EXIT_OK;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        if (n == 0)
            continue;
        int m = maybe_sign(a, line, (size_t)n, signed_buf, sizeof(signed_buf));
        if (m >= 0 && a->tcp) {
            char what[48];
            snprintf(what, sizeof(what), "document %ld: ", sent + 1);
            if (tcp_submit(a, ai, what, signed_buf, (size_t)m) != EXIT_OK)
                rc = EXIT_RUNTIME; /* the others are still sent: each is its own document */
        } else if (m < 0 ||
                   sendto(fd, signed_buf, (size_t)m, 0, ai->ai_addr, ai->ai_addrlen) != m) {
            fprintf(stderr, "injector-send: datagram %ld: %s\n", sent + 1,
                    m < 0 ? "too long to sign" : strerror(errno));
            rc = EXIT_RUNTIME;
            break;
        }
        sent++;
    }
    free(line);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    char *msg = NULL;
    struct addrinfo *ai = NULL;
    xmlBufferPtr xml = NULL;
    int fd = -1, rc;

    if ((rc = parse_args(argc, argv, &a, &msg)) != 0)
        goto out;
    if (!a.raw && (rc = check_values(&a)) != 0)
        goto out;
    /* What the arguments say, checked before anything outside them is used. */
    int gai = target_resolve(a.target, &ai);
    if (gai == TARGET_BAD_FORM) {
        fprintf(stderr, "injector-send: --target %s: %s\n", a.target, target_error(gai));
        rc = EXIT_USAGE;
        goto out;
    }
    rc = EXIT_RUNTIME;
    if (a.key_file != NULL) {
        struct envelope_key keys[16];
        char err[512];
        int n = envelope_load_keys(a.key_file, keys, 16, err, sizeof(err));
        if (n < 0) {
            fprintf(stderr, "injector-send: %s\n", err);
            goto out;
        }
        int k = 0;
        while (a.key_id != NULL && k < n && strcmp(keys[k].id, a.key_id) != 0)
            k++;
        if (k == n) {
            fprintf(stderr, "injector-send: no key '%s' in %s\n", a.key_id, a.key_file);
            goto out;
        }
        a.key = keys[k];
    }
    static char dgram[70000];
    int dlen = 0;
    if (!a.raw) {
        if ((xml = build_xml(&a)) == NULL) {
            fprintf(stderr, "injector-send: could not build the XML\n");
            goto out;
        }
        /* Without the trailing newline xmlTextWriter adds: the datagram is the document. */
        size_t len = (size_t)xmlBufferLength(xml);
        const char *p = (const char *)xmlBufferContent(xml);
        while (len > 0 && p[len - 1] == '\n')
            len--;
        if ((rc = check_document(p, len)) != 0)
            goto out;
        rc = EXIT_RUNTIME;
        if ((dlen = maybe_sign(&a, p, len, dgram, sizeof(dgram))) < 0 || dlen > MAX_DATAGRAM) {
            fprintf(stderr, "injector-send: the %s is longer than %d bytes, the limit\n",
                    a.key_file ? "signed datagram" : "datagram", MAX_DATAGRAM);
            rc = EXIT_USAGE;
            goto out;
        }
    }
    if (a.print) {
        fwrite(dgram, 1, (size_t)dlen, stdout);
        rc = EXIT_OK;
        goto out;
    }
    if (gai != 0) {
        fprintf(stderr, "injector-send: --target %s: %s\n", a.target, target_error(gai));
        goto out;
    }
    if (!a.tcp && (fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
        fprintf(stderr, "injector-send: socket: %s\n", strerror(errno));
        goto out;
    }
    if (a.raw) {
        rc = send_raw(fd, ai, &a);
        goto out;
    }
    if (a.tcp) {
        rc = tcp_submit(&a, ai, "", dgram, (size_t)dlen);
        goto out;
    }
    if (sendto(fd, dgram, (size_t)dlen, 0, ai->ai_addr, ai->ai_addrlen) != (ssize_t)dlen) {
        fprintf(stderr, "injector-send: sending to %s: %s\n", a.target, strerror(errno));
        goto out;
    }
    rc = EXIT_OK;
out:
    if (fd >= 0)
        close(fd);
    if (ai != NULL)
        freeaddrinfo(ai);
    xmlBufferFree(xml);
    free(msg);
    free(a.stdin_text);
    return rc;
}
