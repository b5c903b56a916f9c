/* injector_ctl.c - query and act on a collector over its HTTP API, in the manner of
 * Alertmanager's amtool: list the active alerts with filters (alerts), acknowledge one or
 * take the acknowledgement back (ack, unack), show the counters (stats). */
#include <errno.h>
#include <fnmatch.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <jansson.h>

#include "http_get.h"
#include "parsers/alert.h"
#include "sink/change.h"
#include "sink/secret.h"
#include "text_table.h"

#define DEFAULT_COLLECTOR "http://127.0.0.1:8342"

enum command { CMD_ALERTS, CMD_ACK, CMD_UNACK, CMD_STATS, CMD_COUNT };
enum output { OUT_TABLE, OUT_JSON, OUT_LINES, OUT_TEXT };

/* The command's options (getopt values past any character), and a bit each in a set: which
 * command takes which is checked after parsing, so the options may come before or after
 * the command (as amtool's do). */
enum opt {
    OPT_HOST = 256,
    OPT_COMPONENT,
    OPT_SENDER,
    OPT_SEVERITY,
    OPT_ACKED,
    OPT_UNACKED,
    OPT_OLDER,
    OPT_NEWER,
    OPT_OUTPUT,
    OPT_AUTHOR,
    OPT_COMMENT,
    OPT_EXPIRE,
    OPT_END
};
#define BIT(o) (1u << ((o)-OPT_HOST))

static const struct {
    const char *name;
    int args;         /* positional arguments after the command (HOST COMPONENT) */
    unsigned options; /* BIT() of each enum opt it takes */
    const char *outputs;
} commands[CMD_COUNT] = {
    [CMD_ALERTS] = {"alerts", 0,
                    BIT(OPT_HOST) | BIT(OPT_COMPONENT) | BIT(OPT_SENDER) | BIT(OPT_SEVERITY) |
                        BIT(OPT_ACKED) | BIT(OPT_UNACKED) | BIT(OPT_OLDER) | BIT(OPT_NEWER) |
                        BIT(OPT_OUTPUT),
                    "table, json or lines"},
    [CMD_ACK] = {"ack", 2, BIT(OPT_AUTHOR) | BIT(OPT_COMMENT) | BIT(OPT_EXPIRE) | BIT(OPT_OUTPUT),
                 "text or json"},
    [CMD_UNACK] = {"unack", 2, BIT(OPT_AUTHOR) | BIT(OPT_OUTPUT), "text or json"},
    [CMD_STATS] = {"stats", 0, BIT(OPT_OUTPUT), "table or json"},
};

struct args {
    char *collector; /* the API's base URL, no trailing '/' (malloc'd) */
    const char *token_file;
    char *token;
    enum command cmd;
    const char *host, *component; /* ack, unack: the alert; alerts: globs */
    const char *sender;
    bool has_severity, at_most; /* --severity N, or <=N */
    long long severity;
    int acked; /* -1 either, 0 unacked, 1 acked */
    bool has_older, has_newer;
    uint64_t older_ms, newer_ms;
    enum output output;
    const char *author, *comment, *expire;
};

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: injector-ctl [--collector URL] [--http-token-file PATH] COMMAND [ARG]...\n"
            "Query and act on an injector collector over its HTTP API, in the manner of\n"
            "Alertmanager's amtool: list the active alerts, acknowledge one, show the counters.\n"
            "Options may come before or after the command.\n\n"
            "Commands:\n"
            "  alerts [FILTER]... [-o table|json|lines]\n"
            "                        the active alerts, most severe (lowest number) first;\n"
            "                        every filter given must hold:\n"
            "    --host GLOB         the host matches GLOB (shell wildcards: * ? [...]; a name\n"
            "                        or a glob is 1 to %d bytes)\n"
            "    --component GLOB    the component matches GLOB\n"
            "    --sender GLOB       the address that last set it matches GLOB (10.1.2.3:*)\n"
            "    --severity N|<=N    severity N exactly, or N or worse (1 is the most\n"
            "                        severe; quote it for the shell: '<=2')\n"
            "    --acked, --unacked  acknowledged, or not\n"
            "    --older-than DUR    raised at least DUR ago (DUR: seconds, or a whole number\n"
            "                        with ms, s, m or h: 90, 15m, 4h)\n"
            "    --newer-than DUR    raised less than DUR ago\n"
            "    -o, --output FORMAT\n"
            "                        table: SEV HOST COMPONENT AGE ACK MESSAGE, fitted to the\n"
            "                        terminal, long names cut with an ellipsis, coloured by\n"
            "                        severity on a terminal unless NO_COLOR is set [table];\n"
            "                        json: the collector's alert items, one array; lines: one\n"
            "                        JSON object per alert\n"
            "  ack HOST COMPONENT --comment TEXT [--author NAME] [--expire DUR] [-o text|json]\n"
            "                        acknowledge the active alert of HOST and COMPONENT: every\n"
            "                        view of the collector shows it (needs the collector's\n"
            "                        token: --http-token-file); acknowledging again replaces it\n"
            "    --comment TEXT      why, what is being done (1 to 1024 bytes)\n"
            "    --author NAME       who [$USER]\n"
            "    --expire DUR        the acknowledgement ends after DUR, at most %lldh [when\n"
            "                        the alert clears or gets worse]\n"
            "  unack HOST COMPONENT [--author NAME] [-o text|json]\n"
            "                        take the acknowledgement back\n"
            "  stats [-o table|json]\n"
            "                        the collector's counters: name and value lines [table],\n"
            "                        or its JSON document\n"
            "ack and unack print the outcome and the change's version (-o json: the collector's\n"
            "answer).\n\n"
            "Options:\n"
            "  --collector URL       the collector's HTTP API (http://HOST[:PORT])\n"
            "                        [" DEFAULT_COLLECTOR "]\n"
            "  --http-token-file P   bearer token for the collector's HTTP API (the file's\n"
            "                        first line)\n"
            "  -h, --help            show this help\n"
            "  -V, --version         show the version\n\n"
            "Exit status: 0 done; 1 a failure at run time: the collector cannot be reached or\n"
            "refused the request (its message is printed: no such active alert, not\n"
            "acknowledged, a token needed), the token file cannot be read; 2 usage error (a\n"
            "command, option or value not as this help says).\n",
            ALERT_KEY_MAX, ALERT_ACK_EXPIRE_MAX_MS / 3600000);
}

/* ---- arguments ------------------------------------------------------------------------ */

/* "injector-ctl: MESSAGE" on stderr. A message may quote the network (the collector's
 * error, a URL): cleaned as every output is (text_table_put). */
static void vsay(const char *fmt, va_list ap)
{
    char msg[16384]; /* room for an 8 KiB URL and what is said about it */
    vsnprintf(msg, sizeof(msg), fmt, ap);
    fputs("injector-ctl: ", stderr);
    text_table_put(stderr, msg, SIZE_MAX);
    fputc('\n', stderr);
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsay(fmt, ap);
    va_end(ap);
    return -1;
}

/* --collector: http://HOST[:PORT][/PREFIX], kept without its trailing '/'s. */
static int set_collector(struct args *a, const char *url)
{
    size_t n = strlen(url);
    while (n > 7 && url[n - 1] == '/')
        n--;
    if (strncmp(url, "http://", 7) != 0 || n <= 7 || url[7] == '/' || url[7] == ':')
        return usage_error("--collector takes http://HOST[:PORT] (the collector's HTTP API), "
                           "not '%s'",
                           url);
    free(a->collector);
    a->collector = strndup(url, n);
    return a->collector != NULL ? 0 : usage_error("out of memory");
}

static bool parse_dur(const char *s, uint64_t *ms)
{
    return alert_parse_duration(s, ms) == 0;
}

/* A name or a glob for one (what: "--host", "ack: HOST"): 1 to ALERT_KEY_MAX bytes, the
 * longest name a collector holds. Said here, as usage: the collector would refuse it at
 * run time, and a long glob would only make a long URL. */
static int check_name(const char *what, const char *s, const char *takes)
{
    if (s[0] == '\0')
        return usage_error("%s takes %s, not ''", what, takes);
    if (strlen(s) > ALERT_KEY_MAX)
        return usage_error("%s takes at most %d bytes (the longest name a collector holds), "
                           "not %zu",
                           what, ALERT_KEY_MAX, strlen(s));
    return 0;
}

/* What a person writes into an acknowledgement (--author, --comment: lines, a newline or a
 * tab allowed): UTF-8 of 1 to max bytes without control characters, as the collector checks
 * it (alert_text_has_control); said here, as usage. */
static int check_text(const char *what, const char *s, size_t max, bool lines)
{
    size_t n = strlen(s);
    if (n == 0)
        return usage_error("%s takes %s, not ''", what, lines ? "a text" : "a name");
    if (n > max)
        return usage_error("%s takes at most %zu bytes, not %zu", what, max, n);
    if (!alert_utf8_valid(s, n))
        return usage_error("%s must be UTF-8", what);
    if (alert_text_has_control(s, lines))
        return usage_error("%s takes no control characters%s", what,
                           lines ? " (newlines and tabs are fine)" : "");
    return 0;
}

static int parse_args(int argc, char **argv, struct args *a)
{
    static const struct option opts[] = {
        {"collector", required_argument, NULL, 'C'},
        {"http-token-file", required_argument, NULL, 'T'},
        {"host", required_argument, NULL, OPT_HOST},
        {"component", required_argument, NULL, OPT_COMPONENT},
        {"sender", required_argument, NULL, OPT_SENDER},
        {"severity", required_argument, NULL, OPT_SEVERITY},
        {"acked", no_argument, NULL, OPT_ACKED},
        {"unacked", no_argument, NULL, OPT_UNACKED},
        {"older-than", required_argument, NULL, OPT_OLDER},
        {"newer-than", required_argument, NULL, OPT_NEWER},
        {"output", required_argument, NULL, OPT_OUTPUT},
        {"author", required_argument, NULL, OPT_AUTHOR},
        {"comment", required_argument, NULL, OPT_COMMENT},
        {"expire", required_argument, NULL, OPT_EXPIRE},
        {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    static const char duration[] = "a duration: seconds, or a whole number with ms, s, m or h "
                                   "(90, 15m, 4h)";
    unsigned given = 0;
    const char *output = NULL, *given_name[OPT_END - OPT_HOST] = {0}; /* an enum opt bit's option */
    char *end;
    a->acked = -1;
    opterr = 0;
    int ch, idx;
    while ((idx = -1, ch = getopt_long(argc, argv, ":hVo:", opts, &idx)) != -1) {
        if (ch == 'o')
            ch = OPT_OUTPUT;
        if (ch >= OPT_HOST && ch < OPT_END) {
            given |= BIT(ch);
            given_name[ch - OPT_HOST] = idx >= 0 ? opts[idx].name : "output";
        }
        switch (ch) {
        case 'C':
            if (set_collector(a, optarg) != 0)
                return -1;
            break;
        case 'T':
            a->token_file = optarg;
            break;
        case OPT_HOST:
        case OPT_COMPONENT:
            if (check_name(ch == OPT_HOST ? "--host" : "--component", optarg,
                           "a name or a glob (shell wildcards: * ? [...])") != 0)
                return -1;
            *(ch == OPT_HOST ? &a->host : &a->component) = optarg;
            break;
        case OPT_SENDER:
            if (check_name("--sender", optarg, "an address or a glob (10.1.2.3:*)") != 0)
                return -1;
            a->sender = optarg;
            break;
        case OPT_SEVERITY: {
            const char *s = optarg;
            a->at_most = strncmp(s, "<=", 2) == 0;
            s += a->at_most ? 2 : 0;
            errno = 0;
            a->severity = strtoll(s, &end, 10);
            bool digit = (*s >= '0' && *s <= '9') || (*s == '-' && s[1] >= '0' && s[1] <= '9');
            if (!digit || errno != 0 || *end != '\0')
                return usage_error("--severity takes N or <=N (a whole number; 1 is the most "
                                   "severe), not '%s'",
                                   optarg);
            a->has_severity = true;
            break;
        }
        case OPT_ACKED:
        case OPT_UNACKED:
            if (a->acked == (ch == OPT_UNACKED))
                return usage_error("--acked and --unacked: one or the other");
            a->acked = ch == OPT_ACKED;
            break;
        case OPT_OLDER:
            if (!parse_dur(optarg, &a->older_ms))
                return usage_error("--older-than takes %s, not '%s'", duration, optarg);
            a->has_older = true;
            break;
        case OPT_NEWER:
            if (!parse_dur(optarg, &a->newer_ms))
                return usage_error("--newer-than takes %s, not '%s'", duration, optarg);
            a->has_newer = true;
            break;
        case OPT_OUTPUT:
            output = optarg;
            break;
        case OPT_AUTHOR:
            a->author = optarg;
            break;
        case OPT_COMMENT:
            a->comment = optarg;
            break;
        case OPT_EXPIRE: {
            uint64_t ms;
            if (!parse_dur(optarg, &ms))
                return usage_error("--expire takes %s, not '%s'", duration, optarg);
            if (ms > (uint64_t)ALERT_ACK_EXPIRE_MAX_MS)
                return usage_error("--expire takes at most %lldh (%lld days), not '%s'",
                                   ALERT_ACK_EXPIRE_MAX_MS / 3600000,
                                   ALERT_ACK_EXPIRE_MAX_MS / 86400000, optarg);
            a->expire = optarg;
            break;
        }
        case 'h':
            usage(stdout);
            exit(0);
        case 'V':
            printf("injector-ctl %s\n", INJECTOR_VERSION);
            exit(0);
        case ':':
            return usage_error("%s needs a value (see --help)", argv[optind - 1]);
        default: /* optopt: an unknown short option, perhaps inside a cluster ("-ox") */
            if (optopt != 0)
                return usage_error("unknown option '-%c' (see --help)", optopt);
            return usage_error("unknown option '%s' (see --help)", argv[optind - 1]);
        }
    }
    if (optind >= argc)
        return usage_error("a command is needed: alerts, ack, unack or stats (see --help)");
    const char *name = argv[optind++];
    int c = 0;
    while (c < CMD_COUNT && strcmp(name, commands[c].name) != 0)
        c++;
    if (c == CMD_COUNT)
        return usage_error("unknown command '%s': the commands are alerts, ack, unack and "
                           "stats (see --help)",
                           name);
    a->cmd = (enum command)c;
    unsigned stray = given & ~commands[c].options;
    if (stray != 0)
        return usage_error("--%s is not an option of %s (see --help)",
                           given_name[__builtin_ctz(stray)], name);
    if (argc - optind < commands[c].args)
        return usage_error("%s takes HOST COMPONENT (the alert), then options (see --help)", name);
    if (argc - optind > commands[c].args)
        return usage_error("unexpected argument '%s' (%s takes %s, see --help)",
                           argv[optind + commands[c].args], name,
                           commands[c].args ? "HOST COMPONENT and options" : "options only");
    if (commands[c].args == 2) {
        a->host = argv[optind];
        a->component = argv[optind + 1];
        if (a->host[0] == '\0' || a->component[0] == '\0')
            return usage_error("%s takes HOST COMPONENT, not empty names", name);
        char what[32];
        snprintf(what, sizeof(what), "%s: HOST", name);
        if (check_name(what, a->host, "a name") != 0)
            return -1;
        snprintf(what, sizeof(what), "%s: COMPONENT", name);
        if (check_name(what, a->component, "a name") != 0)
            return -1;
    }
    /* -o: the formats each command has (commands[].outputs); table, or text for ack and
     * unack, unless asked */
    static const struct {
        const char *name;
        enum output out;
    } formats[] = {
        {"table", OUT_TABLE}, {"json", OUT_JSON}, {"lines", OUT_LINES}, {"text", OUT_TEXT}};
    a->output = a->cmd == CMD_ACK || a->cmd == CMD_UNACK ? OUT_TEXT : OUT_TABLE;
    if (output != NULL) {
        size_t k = 0;
        while (k < sizeof(formats) / sizeof(formats[0]) &&
               (strcmp(output, formats[k].name) != 0 ||
                strstr(commands[c].outputs, formats[k].name) == NULL))
            k++;
        if (k == sizeof(formats) / sizeof(formats[0]))
            return usage_error("-o for %s takes %s, not '%s'", name, commands[c].outputs, output);
        a->output = formats[k].out;
    }
    if (a->cmd == CMD_ACK || a->cmd == CMD_UNACK) {
        if (a->author == NULL && getenv("USER") != NULL && getenv("USER")[0] != '\0')
            a->author = getenv("USER");
        if (a->cmd == CMD_ACK && a->author == NULL)
            return usage_error("ack needs --author NAME ($USER is not set)");
        if (a->author != NULL &&
            check_text("--author", a->author, ALERT_ACK_AUTHOR_MAX, false) != 0)
            return -1;
        if (a->cmd == CMD_ACK && (a->comment == NULL || a->comment[0] == '\0'))
            return usage_error("ack needs --comment TEXT: why, what is being done");
        if (a->comment != NULL &&
            check_text("--comment", a->comment, ALERT_ACK_COMMENT_MAX, true) != 0)
            return -1;
    }
    if (a->collector == NULL && set_collector(a, DEFAULT_COLLECTOR) != 0)
        return -1;
    return 0;
}

/* ---- requests ------------------------------------------------------------------------- */

/* Append s to f percent-encoded for a query string ('*' kept: it is the prefix mark). */
static void put_encoded(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~*", c) != NULL)
            fputc(c, f);
        else
            fprintf(f, "%%%02X", c);
    }
}

/* What the collector can filter for a glob: itself when it has no wildcard, else its
 * literal start as a prefix ("web*" for "web-*-01"); nothing when it starts with one. The
 * API takes only exact names and trailing-'*' prefixes (a glob of several stars could cost
 * its loop thread too much), so the rest is matched here. Writes "&key=value" or nothing. */
static void put_server_pattern(FILE *f, const char *key, const char *glob)
{
    size_t lit = strcspn(glob, "*?[\\");
    if (lit == 0 && glob[0] != '\0')
        return;
    fprintf(f, "&%s=", key);
    char *start = strndup(glob, lit);
    if (start != NULL)
        put_encoded(f, start);
    free(start);
    if (glob[lit] != '\0')
        fputc('*', f);
}

/* The request and its answer; a failure said on stderr (what: the command's words). */
static int request(const struct args *a, const char *method, const char *path, const json_t *body,
                   const char *what, json_t **out)
{
    char url[8192], err[sizeof(url) + 1024]; /* err may quote the URL whole */
    int status, n = snprintf(url, sizeof(url), "%s%s", a->collector, path);
    if (n >= (int)sizeof(url)) {
        say("%s: the URL is too long (%d bytes, at most %zu): a shorter --collector URL", what, n,
            sizeof(url) - 1);
        return -1;
    }
    if (http_get_request(method, url, a->token, body, &status, out, err, sizeof(err)) != 0) {
        say("%s: %s", what, err);
        return -1;
    }
    if (status == 200)
        return 0;
    const char *why = json_string_value(json_object_get(*out, "error"));
    say("%s: the collector answered %d: %s%s", what, status, why ? why : "(no message)",
        status == 401 && a->token == NULL ? " (a token is needed: --http-token-file)" : "");
    json_decref(*out);
    *out = NULL;
    return -1;
}

/* One JSON document and a newline on stdout, its strings made safe for a terminal
 * (text_table_json). Returns 0, or -1 said on stderr. */
static int print_json(const json_t *doc, size_t flags)
{
    if (text_table_json(stdout, doc, flags) != 0) {
        say("out of memory");
        return -1;
    }
    fputc('\n', stdout);
    return 0;
}

/* ---- alerts --------------------------------------------------------------------------- */

static bool glob_match(const char *glob, json_t *item, const char *key)
{
    const char *s = json_string_value(json_object_get(item, key));
    return glob == NULL || (s != NULL && fnmatch(glob, s, 0) == 0);
}

/* Every filter given holds for item (those the collector applied too: it may be older). */
static bool keep(const struct args *a, json_t *item, int64_t now_ms)
{
    json_t *sev = json_object_get(item, "severity");
    if (!glob_match(a->host, item, "host") || !glob_match(a->component, item, "component") ||
        !glob_match(a->sender, item, "sender"))
        return false;
    if (a->has_severity &&
        (!json_is_integer(sev) || (a->at_most ? json_integer_value(sev) > a->severity
                                              : json_integer_value(sev) != a->severity)))
        return false;
    if (a->acked >= 0 && (json_object_get(item, "ack") != NULL) != (a->acked == 1))
        return false;
    if (a->has_older || a->has_newer) {
        int64_t first;
        if (change_parse_time(json_string_value(json_object_get(item, "first_seen")), &first) != 0)
            return false; /* an age not known is neither */
        int64_t age = now_ms - first;
        if ((a->has_older && age < (int64_t)a->older_ms) ||
            (a->has_newer && age >= (int64_t)a->newer_ms))
            return false;
    }
    return true;
}

/* Most severe (lowest number) first, those without a severity last; then host, component. */
static int by_severity(const void *pa, const void *pb)
{
    json_t *a = *(json_t *const *)pa, *b = *(json_t *const *)pb;
    json_t *sa = json_object_get(a, "severity"), *sb = json_object_get(b, "severity");
    if (json_is_integer(sa) != json_is_integer(sb))
        return json_is_integer(sa) ? -1 : 1;
    if (json_is_integer(sa) && json_integer_value(sa) != json_integer_value(sb))
        return json_integer_value(sa) < json_integer_value(sb) ? -1 : 1;
    const char *ha = json_string_value(json_object_get(a, "host")) ?: "",
               *hb = json_string_value(json_object_get(b, "host")) ?: "";
    int r = strcmp(ha, hb);
    if (r != 0)
        return r;
    return strcmp(json_string_value(json_object_get(a, "component")) ?: "",
                  json_string_value(json_object_get(b, "component")) ?: "");
}

/* One row's cells, as printed. */
struct row {
    char sev[24], age[24];
    const char *host, *component, *ack, *msg;
    json_int_t severity; /* for the colour; INT64_MAX: none */
};

static size_t max_size(size_t a, size_t b)
{
    return a > b ? a : b;
}

/* The table: columns as wide as their widest cell; on a terminal, fitted to its width
 * (names cut with "…" so the message keeps some room) and coloured unless NO_COLOR. */
static void print_table(json_t **items, size_t n, int64_t now_ms)
{
    struct row *rows = calloc(n + 1, sizeof(*rows));
    if (rows == NULL) {
        say("out of memory");
        return;
    }
    size_t w_sev = 3, w_host = 4, w_comp = 9, w_age = 3, w_ack = 3;
    for (size_t i = 0; i < n; i++) {
        struct row *r = &rows[i];
        json_t *sev = json_object_get(items[i], "severity"), *ack;
        r->severity = json_is_integer(sev) ? json_integer_value(sev) : INT64_MAX;
        if (json_is_integer(sev))
            snprintf(r->sev, sizeof(r->sev), "%" JSON_INTEGER_FORMAT, r->severity);
        else
            strcpy(r->sev, "-");
        int64_t first;
        if (change_parse_time(json_string_value(json_object_get(items[i], "first_seen")), &first) ==
            0)
            text_table_age(now_ms - first, r->age, sizeof(r->age));
        else
            strcpy(r->age, "-");
        r->host = json_string_value(json_object_get(items[i], "host")) ?: "";
        r->component = json_string_value(json_object_get(items[i], "component")) ?: "";
        ack = json_object_get(items[i], "ack");
        r->ack = ack == NULL ? "-" : json_string_value(json_object_get(ack, "author")) ?: "yes";
        r->msg = json_string_value(json_object_get(items[i], "msg")) ?: "";
        w_sev = max_size(w_sev, text_table_cols(r->sev));
        w_host = max_size(w_host, text_table_cols(r->host));
        w_comp = max_size(w_comp, text_table_cols(r->component));
        w_age = max_size(w_age, text_table_cols(r->age));
        w_ack = max_size(w_ack, text_table_cols(r->ack));
    }
    struct winsize ws = {0};
    bool tty = isatty(STDOUT_FILENO) && ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0;
    const char *no_color = getenv("NO_COLOR"); /* no-color.org: set and not empty */
    bool color = tty && (no_color == NULL || no_color[0] == '\0');
    size_t w_msg = SIZE_MAX; /* not a terminal: nothing cut */
    if (tty) {
        /* The message keeps at least 20 columns: the names give way, the wider first, down
         * to 8 each, then the acknowledger down to 3. */
        size_t width = ws.ws_col, fixed = w_sev + w_age + 5;
        while (fixed + w_host + w_comp + w_ack + 20 > width && (w_host > 8 || w_comp > 8)) {
            if (w_host >= w_comp)
                w_host--;
            else
                w_comp--;
        }
        while (fixed + w_host + w_comp + w_ack + 20 > width && w_ack > 3)
            w_ack--;
        size_t used = fixed + w_host + w_comp + w_ack;
        w_msg = width > used + 10 ? width - used : 10;
    }
    text_table_cell(stdout, "SEV", w_sev);
    text_table_cell(stdout, "HOST", w_host);
    text_table_cell(stdout, "COMPONENT", w_comp);
    text_table_cell(stdout, "AGE", w_age);
    text_table_cell(stdout, "ACK", w_ack);
    fputs("MESSAGE\n", stdout);
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        const char *c = r->severity <= 2 ? "31" : r->severity <= 4 ? "33" : NULL;
        if (color && c != NULL)
            printf("\033[%sm", c);
        text_table_cell(stdout, r->sev, w_sev);
        text_table_cell(stdout, r->host, w_host);
        text_table_cell(stdout, r->component, w_comp);
        text_table_cell(stdout, r->age, w_age);
        text_table_cell(stdout, r->ack, w_ack);
        text_table_put(stdout, r->msg, w_msg);
        if (color && c != NULL)
            fputs("\033[0m", stdout);
        fputc('\n', stdout);
    }
    free(rows);
}

static int cmd_alerts(const struct args *a)
{
    char *query = NULL;
    size_t query_len = 0;
    json_t *doc = NULL, **kept = NULL;
    int rc = 1;
    FILE *q = open_memstream(&query, &query_len);
    if (q == NULL) {
        say("out of memory");
        return 1;
    }
    /* The filters the collector has, so it sends less; all of them are applied here too. */
    fputs("/v1/alerts?", q);
    if (a->host != NULL)
        put_server_pattern(q, "host", a->host);
    if (a->component != NULL)
        put_server_pattern(q, "component", a->component);
    if (a->sender != NULL)
        put_server_pattern(q, "sender", a->sender);
    if (a->has_severity)
        fprintf(q, "&%s=%lld", a->at_most ? "max_severity" : "severity", a->severity);
    if (a->acked >= 0)
        fprintf(q, "&acked=%s", a->acked ? "true" : "false");
    if (fclose(q) != 0 || query == NULL) {
        say("out of memory");
        goto out;
    }
    /* "/v1/alerts?&host=x" -> "/v1/alerts?host=x"; no filter: "/v1/alerts" */
    size_t base = strlen("/v1/alerts?");
    if (query[base] == '&')
        memmove(query + base, query + base + 1, strlen(query + base));
    else
        query[base - 1] = '\0';
    if (request(a, "GET", query, NULL, "alerts", &doc) != 0)
        goto out;
    json_t *items = json_object_get(doc, "alerts");
    if (!json_is_array(items)) {
        say("alerts: the collector's answer has no alerts array");
        goto out;
    }
    int64_t now_ms = change_now_ms();
    size_t n = 0, i;
    json_t *item;
    kept = malloc((json_array_size(items) + 1) * sizeof(*kept));
    if (kept == NULL) {
        say("out of memory");
        goto out;
    }
    json_array_foreach(items, i, item)
    {
        if (json_is_object(item) && keep(a, item, now_ms))
            kept[n++] = item;
    }
    qsort(kept, n, sizeof(*kept), by_severity);
    if (a->output == OUT_TABLE) {
        print_table(kept, n, now_ms);
    } else if (a->output == OUT_LINES) {
        for (i = 0; i < n; i++)
            if (print_json(kept[i], JSON_COMPACT) != 0)
                goto out;
    } else {
        json_t *arr = json_array();
        for (i = 0; arr != NULL && i < n; i++)
            json_array_append(arr, kept[i]);
        int printed = arr != NULL ? print_json(arr, JSON_INDENT(2)) : (say("out of memory"), -1);
        json_decref(arr);
        if (printed != 0)
            goto out;
    }
    rc = 0;
out:
    free(kept);
    json_decref(doc);
    free(query);
    return rc;
}

/* ---- ack, unack ----------------------------------------------------------------------- */

static int cmd_ack(const struct args *a)
{
    bool ack = a->cmd == CMD_ACK;
    char what[600];
    json_t *answer = NULL;
    snprintf(what, sizeof(what), "%s %s %s", commands[a->cmd].name, a->host, a->component);
    json_t *body = json_pack("{ss ss}", "host", a->host, "component", a->component);
    if (body == NULL ||
        (a->author != NULL && json_object_set_new(body, "author", json_string(a->author)) != 0) ||
        (ack && json_object_set_new(body, "comment", json_string(a->comment)) != 0) ||
        (a->expire != NULL && json_object_set_new(body, "expire", json_string(a->expire)) != 0)) {
        /* json_string refuses what is not UTF-8 */
        say("%s: the names, author and comment must be UTF-8", what);
        json_decref(body);
        return 1;
    }
    int rc = request(a, "POST", ack ? "/v1/ack" : "/v1/unack", body, what, &answer);
    json_decref(body);
    if (rc != 0)
        return 1;
    if (a->output == OUT_JSON) {
        rc = print_json(answer, JSON_INDENT(2)) != 0;
    } else {
        /* "ack web12 disk: version 7, until ...": the collector's words cleaned, as every
         * string printed (and the names, which may be anything the shell passed) */
        json_t *by = json_object_get(json_object_get(answer, "alert"), "ack");
        const char *until = json_string_value(json_object_get(by, "expires"));
        text_table_put(stdout, json_string_value(json_object_get(answer, "outcome")) ?: "done",
                       SIZE_MAX);
        fputc(' ', stdout);
        text_table_put(stdout, a->host, SIZE_MAX);
        fputc(' ', stdout);
        text_table_put(stdout, a->component, SIZE_MAX);
        printf(": version %" JSON_INTEGER_FORMAT,
               json_integer_value(json_object_get(answer, "version")));
        if (until != NULL) {
            fputs(", until ", stdout);
            text_table_put(stdout, until, SIZE_MAX);
        }
        fputc('\n', stdout);
    }
    json_decref(answer);
    return rc;
}

/* ---- stats ---------------------------------------------------------------------------- */

/* The document as "name value" lines, nested names joined with '.' (refused.syntax,
 * listeners.0.address): with print false, only the widest name into *width. */
static void stats_lines(json_t *v, char *name, size_t len, size_t cap, bool print, size_t *width)
{
    if (json_is_object(v) || json_is_array(v)) {
        const char *key;
        json_t *child;
        size_t i;
        char num[24];
        if (json_is_object(v)) {
            json_object_foreach(v, key, child)
            {
                int n = snprintf(name + len, cap - len, "%s%s", len ? "." : "", key);
                if (n > 0 && (size_t)n < cap - len)
                    stats_lines(child, name, len + (size_t)n, cap, print, width);
            }
        } else {
            json_array_foreach(v, i, child)
            {
                snprintf(num, sizeof(num), "%zu", i);
                int n = snprintf(name + len, cap - len, "%s%s", len ? "." : "", num);
                if (n > 0 && (size_t)n < cap - len)
                    stats_lines(child, name, len + (size_t)n, cap, print, width);
            }
        }
        name[len] = '\0';
        return;
    }
    if (!print) {
        *width = max_size(*width, text_table_cols(name));
        return;
    }
    text_table_cell(stdout, name, *width);
    if (json_is_string(v)) {
        text_table_put(stdout, json_string_value(v), SIZE_MAX);
    } else if (json_is_real(v)) {
        printf("%.10g", json_real_value(v)); /* 1.359, not 1.3590000000000000 */
    } else {
        char *text = json_dumps(v, JSON_ENCODE_ANY);
        fputs(text ? text : "?", stdout);
        free(text);
    }
    fputc('\n', stdout);
}

static int cmd_stats(const struct args *a)
{
    json_t *doc = NULL;
    if (request(a, "GET", "/v1/stats", NULL, "stats", &doc) != 0)
        return 1;
    int rc = 0;
    if (a->output == OUT_JSON) {
        rc = print_json(doc, JSON_INDENT(2)) != 0;
    } else {
        char name[1024] = "";
        size_t width = 0;
        stats_lines(doc, name, 0, sizeof(name), false, &width);
        stats_lines(doc, name, 0, sizeof(name), true, &width);
    }
    json_decref(doc);
    return rc;
}

int main(int argc, char **argv)
{
    struct args a = {0};
    int status = 2;
    if (parse_args(argc, argv, &a) != 0)
        goto out;
    status = 1;
    if (a.token_file != NULL) {
        /* the reader injector-consume uses: first line, its line end dropped; a file that
         * cannot be read is a failure at run time, as there */
        int rc = secret_read_file(a.token_file, &a.token);
        if (rc != 0) {
            say("--http-token-file %s: %s", a.token_file, rc == -ENODATA ? "empty" : strerror(-rc));
            goto out;
        }
    }
    switch (a.cmd) {
    case CMD_ALERTS:
        status = cmd_alerts(&a);
        break;
    case CMD_ACK:
    case CMD_UNACK:
        status = cmd_ack(&a);
        break;
    case CMD_STATS:
        status = cmd_stats(&a);
        break;
    default:
        break;
    }
    if (fflush(stdout) != 0 || ferror(stdout)) {
        say("writing the output: %s", strerror(errno));
        status = 1;
    }
out:
    secret_free(a.token);
    free(a.collector);
    return status;
}
