/* injector_send.c - send one alert datagram from a shell script, like logger(1) for syslog. */
#include "parsers/alert.h"
#include "parsers/envelope.h"
#include "target.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <libxml/xmlwriter.h>

#define MAX_EXTRA ALERT_EXTRA_MAX

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
    int print, raw;
    const char *key_file, *key_id;
    struct envelope_key key; /* when signing */
};

static void usage(FILE *f)
{
    fprintf(f, "Usage: injector-send [OPTION]... --host HOST --component COMP [MESSAGE]...\n"
               "  or:  injector-send --raw [--target ADDR] < datagrams\n"
               "Send one alert to an injector collector over UDP (one datagram, no reply).\n"
               "MESSAGE, if given, is the Msg field.\n\n"
               "  --target HOST:PORT     collector address [127.0.0.1:8341]; [v6]:PORT for IPv6\n"
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
        char opt[40];
        snprintf(opt, sizeof(opt), "%s %s", alert_num_info[i].json,
                 alert_num_info[i].kind == ALERT_KIND_BOOL ? "true|false" : "N");
        for (char *p = opt; *p && *p != ' '; p++)
            if (*p == '_')
                *p = '-';
        fprintf(f, "  --%-20s %s\n", opt, alert_num_info[i].element);
    }
    fprintf(f, "  --extra NAME=VALUE     an extra element <NAME>VALUE</NAME> (repeatable)\n"
               "  --print                print the XML instead of sending it\n"
               "  --raw                  send each line of stdin as one datagram, verbatim\n"
               "  --key-file PATH        sign with a key of this file ('keyid hexkey' lines)\n"
               "  --key-id ID            which key [the first]\n"
               "  -h, --help             show this help\n\n"
               "Exit status: 0 sent, 1 could not send, 2 usage error.\n"
               "Example: injector-send --host web12 --component disk --severity 6 "
               "\"disk 95%% full\"\n");
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
    o[n++] = (struct option){"help", no_argument, NULL, 'h'};
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

static int parse_args(int argc, char **argv, struct args *a, char **msg)
{
    struct option opts[16 + ALERT_TEXT_COUNT + ALERT_NUM_COUNT];
    build_options(opts);
    a->target = "127.0.0.1:8341";
    a->action = "Upd";
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (ch) {
        case 'h':
            usage(stdout);
            exit(0);
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
        case OPT_KEY_FILE:
            a->key_file = optarg;
            break;
        case OPT_KEY_ID:
            a->key_id = optarg;
            break;
        case OPT_EXTRA:
            if (a->n_extra >= MAX_EXTRA || strchr(optarg, '=') == NULL || optarg[0] == '=') {
                fprintf(stderr, "injector-send: --extra takes NAME=VALUE, at most %d\n", MAX_EXTRA);
                return -1;
            }
            a->extra[a->n_extra++] = optarg;
            break;
        case ':':
            fprintf(stderr, "injector-send: %s needs a value (see --help)\n", argv[optind - 1]);
            return -1;
        case '?':
            fprintf(stderr, "injector-send: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return -1;
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
        if ((*msg = calloc(1, len)) == NULL)
            return -1;
        for (int i = optind; i < argc; i++) {
            if (i > optind)
                strcat(*msg, " ");
            strcat(*msg, argv[i]);
        }
        a->text[ALERT_MSG] = *msg;
    } else if (optind < argc) {
        fprintf(stderr, "injector-send: give the message either as --msg or as words\n");
        return -1;
    }
    enum alert_action act;
    if (alert_action_parse(a->action, strlen(a->action), &act) != 0) {
        fprintf(stderr, "injector-send: --action '%s' is not Upd, Del, Updonly or Post\n",
                a->action);
        return -1;
    }
    if (!a->raw && (a->host == NULL || a->component == NULL)) {
        fprintf(stderr, "injector-send: --host and --component are required (see --help)\n");
        return -1;
    }
    return 0;
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

static int send_raw(int fd, const struct addrinfo *ai, const struct args *a)
{
    static char signed_buf[70000];
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    long sent = 0;
    int rc = 0;
    while ((n = getline(&line, &cap, stdin)) > 0) {
        if (line[n - 1] == '\n')
            n--;
        if (n == 0)
            continue;
        int m = maybe_sign(a, line, (size_t)n, signed_buf, sizeof(signed_buf));
        if (m < 0 || sendto(fd, signed_buf, (size_t)m, 0, ai->ai_addr, ai->ai_addrlen) != m) {
            fprintf(stderr, "injector-send: datagram %ld: %s\n", sent + 1, strerror(errno));
            rc = 1;
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
    int fd = -1, rc = 2;

    if (parse_args(argc, argv, &a, &msg) != 0)
        goto out;
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
    if (!a.raw && (xml = build_xml(&a)) == NULL) {
        fprintf(stderr, "injector-send: could not build the XML (bad --extra name?)\n");
        goto out;
    }
    static char dgram[70000];
    int dlen = 0;
    if (!a.raw) {
        /* Without the trailing newline xmlTextWriter adds: the datagram is the document. */
        size_t len = (size_t)xmlBufferLength(xml);
        const char *p = (const char *)xmlBufferContent(xml);
        while (len > 0 && p[len - 1] == '\n')
            len--;
        if ((dlen = maybe_sign(&a, p, len, dgram, sizeof(dgram))) < 0) {
            fprintf(stderr, "injector-send: cannot sign the datagram\n");
            goto out;
        }
    }
    if (a.print) {
        fwrite(dgram, 1, (size_t)dlen, stdout);
        rc = 0;
        goto out;
    }
    rc = 1;
    int gai = target_resolve(a.target, &ai);
    if (gai != 0) {
        fprintf(stderr, "injector-send: --target %s: %s\n", a.target, target_error(gai));
        goto out;
    }
    if ((fd = socket(ai->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
        fprintf(stderr, "injector-send: socket: %s\n", strerror(errno));
        goto out;
    }
    if (a.raw) {
        rc = send_raw(fd, ai, &a);
        goto out;
    }
    if (sendto(fd, dgram, (size_t)dlen, 0, ai->ai_addr, ai->ai_addrlen) != (ssize_t)dlen) {
        fprintf(stderr, "injector-send: sending to %s: %s\n", a.target, strerror(errno));
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (ai != NULL)
        freeaddrinfo(ai);
    xmlBufferFree(xml);
    free(msg);
    return rc;
}
