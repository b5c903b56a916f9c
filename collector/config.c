/* config.c - the settings table, walked: value parsers, the command line, the INI file,
 * --help, the effective configuration, comparisons for reload. */
#include "collector/config.h"

#include "collector/acl.h"
#include "collector/address.h"
#include "parsers/alert.h"
#include "sink/secret.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#define CONFIG_UNPAREN(...) __VA_ARGS__
#define CONFIG_ENTRY(field_, type_, option_, section_, key_, arg_, dflt_, lim_, reload_, help_)    \
    [CONFIG_##field_] = {                                                                          \
        .field = #field_,                                                                          \
        .type = CONFIG_TYPE_##type_,                                                               \
        .option = option_,                                                                         \
        .section = section_,                                                                       \
        .key = key_,                                                                               \
        .arg = arg_,                                                                               \
        .dflt = dflt_,                                                                             \
        .help = help_,                                                                             \
        .lim = {CONFIG_UNPAREN lim_},                                                              \
        .offset = offsetof(struct config, field_),                                                 \
        .size = sizeof(((struct config *)0)->field_),                                              \
    },

const struct config_setting config_settings[CONFIG_N] = {CONFIG_SETTINGS(CONFIG_ENTRY)};

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static void *field_of(struct config *c, enum config_id id)
{
    return (char *)c + config_settings[id].offset;
}

static const void *cfield_of(const struct config *c, enum config_id id)
{
    return (const char *)c + config_settings[id].offset;
}

/* ---- value parsers ------------------------------------------------------------- */

static int parse_uint(const char *s, uint64_t *out, const char **rest)
{
    char *end;
    errno = 0;
    if (!isdigit((unsigned char)s[0]))
        return -EINVAL;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0 || (rest == NULL && *end != '\0'))
        return -EINVAL;
    if (rest != NULL)
        *rest = end;
    *out = v;
    return 0;
}

int config_parse_size(const char *s, uint64_t *out)
{
    uint64_t v;
    const char *end;
    if (parse_uint(s, &v, &end) != 0)
        return -EINVAL;
    unsigned shift = 0;
    if (*end != '\0') {
        switch (toupper((unsigned char)*end)) {
        case 'K':
            shift = 10;
            break;
        case 'M':
            shift = 20;
            break;
        case 'G':
            shift = 30;
            break;
        default:
            return -EINVAL;
        }
        end++;
        if (strcasecmp(end, "") != 0 && strcasecmp(end, "B") != 0 && strcasecmp(end, "iB") != 0)
            return -EINVAL;
    }
    if (v > (UINT64_MAX >> shift))
        return -EINVAL;
    *out = v << shift;
    return 0;
}

int config_parse_bool(const char *s, bool *out)
{
    /* The wire format's spellings (1/0, true/false, yes/no, as the parser reads them), and
     * on/off, which a config file says too. */
    int64_t v;
    if (alert_parse_bool(s, strlen(s), &v))
        *out = v != 0;
    else if (strcasecmp(s, "on") == 0 || strcasecmp(s, "off") == 0)
        *out = strcasecmp(s, "on") == 0;
    else
        return -EINVAL;
    return 0;
}

/* 32M rather than 33554432 when it is a whole number of K, M or G. */
static const char *format_size(uint64_t v, char *buf, size_t size)
{
    static const char units[] = "GMK";
    for (int i = 0; i < 3; i++) {
        uint64_t unit = 1ull << (10 * (3 - i));
        if (v != 0 && v % unit == 0) {
            snprintf(buf, size, "%" PRIu64 "%c", v / unit, units[i]);
            return buf;
        }
    }
    snprintf(buf, size, "%" PRIu64, v);
    return buf;
}

static const char *format_duration(uint64_t ms, char *buf, size_t size)
{
    if (ms == 0)
        snprintf(buf, size, "0");
    else if (ms % 1000 == 0)
        snprintf(buf, size, "%" PRIu64 "s", ms / 1000);
    else
        snprintf(buf, size, "%" PRIu64 "ms", ms);
    return buf;
}

/* The next item of a list value (comma- or space-separated) into buf; NULL at the end. */
static const char *next_item(const char **s, char *buf, size_t size, bool *too_long)
{
    const char *p = *s + strspn(*s, ", \t");
    size_t n = strcspn(p, ", \t");
    if (n == 0)
        return NULL;
    *too_long = n >= size;
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), p);
    *s = p + n;
    return buf;
}

/* Whether the setting may be empty: those that are off by default ("" default). */
static bool may_be_empty(const struct config_setting *s)
{
    return s->dflt[0] == '\0' && s->lim.min == 0;
}

static int set_address(const struct config_setting *s, struct config_address *a, const char *value,
                       char *err, size_t errlen)
{
    if (s->lim.off && strcmp(value, "off") == 0) {
        memset(a, 0, sizeof(*a));
        return 0;
    }
    if (strlen(value) >= sizeof(a->text) || address_parse(value, &a->sa) != 0)
        return fail(err, errlen, "%s: '%s' is not ADDR:PORT (numeric IPv4, [IPv6]:PORT or :PORT)%s",
                    s->option, value, s->lim.off ? ", nor off" : "");
    snprintf(a->text, sizeof(a->text), "%s", value);
    return 0;
}

/* Parse value into setting id of c. fresh: the first value of this setting from this
 * source, which a list takes in place of what it held; later ones are added. */
static int set_value(struct config *c, enum config_id id, const char *value, bool fresh, char *err,
                     size_t errlen)
{
    const struct config_setting *s = &config_settings[id];
    void *f = field_of(c, id);
    uint64_t u, max = s->lim.max;
    char lo[32], hi[32], item[CONFIG_PATH_MAX];
    bool too_long;

    switch (s->type) {
    case CONFIG_TYPE_BOOL:
        if (config_parse_bool(value, f) != 0)
            return fail(err, errlen, "%s: '%s' is not true or false", s->option, value);
        return 0;
    case CONFIG_TYPE_COUNT:
        if (parse_uint(value, &u, NULL) != 0 || u < s->lim.min || u > max) {
            if (s->lim.min == 0 && max == UINT64_MAX)
                return fail(err, errlen, "%s: '%s' is not a count (0 or more)", s->option, value);
            return fail(err, errlen, "%s: '%s' is not a count from %" PRIu64 " to %" PRIu64,
                        s->option, value, s->lim.min, max);
        }
        *(uint64_t *)f = u;
        return 0;
    case CONFIG_TYPE_NUMBER: {
        char *end;
        double v = strtod(value, &end);
        if (end == value || *end != '\0' || !isfinite(v) || !(v >= (double)s->lim.min) ||
            v > (double)max)
            return fail(err, errlen, "%s: '%s' is not a number from %" PRIu64 " to %" PRIu64,
                        s->option, value, s->lim.min, max);
        *(double *)f = v;
        return 0;
    }
    case CONFIG_TYPE_SIZE:
        if (config_parse_size(value, &u) != 0 || u < s->lim.min || u > max)
            return fail(err, errlen, "%s: '%s' is not a size from %s to %s (bytes or K/M/G suffix)",
                        s->option, value, format_size(s->lim.min, lo, sizeof(lo)),
                        format_size(max, hi, sizeof(hi)));
        *(uint64_t *)f = u;
        return 0;
    case CONFIG_TYPE_DURATION: {
        uint64_t res = s->lim.resolution_ms ? s->lim.resolution_ms : 1000;
        if (alert_parse_duration(value, &u) != 0 || u < s->lim.min || u > max)
            return fail(err, errlen,
                        "%s: '%s' is not a duration from %s to %s (seconds, or a number with "
                        "ms, s, m or h)",
                        s->option, value, format_duration(s->lim.min, lo, sizeof(lo)),
                        format_duration(max, hi, sizeof(hi)));
        if (u % res != 0)
            return fail(err, errlen, "%s: '%s' is not a whole number of %s", s->option, value,
                        res == 1000 ? "seconds" : format_duration(res, lo, sizeof(lo)));
        *(uint64_t *)f = u;
        return 0;
    }
    case CONFIG_TYPE_ENUM: {
        char names[256] = "";
        for (int i = 0; i < s->lim.n_names; i++) {
            if (s->lim.names[i] == NULL)
                continue;
            if (strcmp(value, s->lim.names[i]) == 0) {
                *(int *)f = i;
                return 0;
            }
            size_t n = strlen(names);
            snprintf(names + n, sizeof(names) - n, "%s%s", n ? ", " : "", s->lim.names[i]);
        }
        return fail(err, errlen, "%s: '%s' is not one of %s", s->option, value, names);
    }
    case CONFIG_TYPE_TEXT:
    case CONFIG_TYPE_PATH: {
        size_t n = strlen(value), most = max ? max : s->size - 1;
        if ((n == 0 && !may_be_empty(s)) || n > most || n < s->lim.min)
            return fail(err, errlen, "%s: give %s of %" PRIu64 " to %zu characters%s", s->option,
                        s->type == CONFIG_TYPE_PATH ? "a file path" : "a name",
                        s->lim.min ? s->lim.min : 1, most,
                        strcmp(s->dflt, "-") == 0 ? ", or - for stdout" : "");
        snprintf(f, s->size, "%s", value);
        return 0;
    }
    case CONFIG_TYPE_CIDRS: {
        char joined[CONFIG_CIDRS_MAX * 2], why[256];
        struct acl *acl;
        const char *old = f;
        snprintf(joined, sizeof(joined), "%s%s%s", fresh ? "" : old,
                 fresh || old[0] == '\0' ? "" : ", ", value);
        if (strlen(joined) >= s->size)
            return fail(err, errlen, "%s: at most %zu characters", s->option, s->size - 1);
        if (acl_parse(joined, &acl, why, sizeof(why)) != 0)
            return fail(err, errlen, "%s: %s", s->option, why);
        acl_free(acl);
        snprintf(f, s->size, "%s", joined);
        return 0;
    }
    case CONFIG_TYPE_ADDRESS:
        return set_address(s, f, value, err, errlen);
    case CONFIG_TYPE_ADDRESSES: {
        struct config_addresses *l = f, next = *l;
        if (fresh)
            next.n = 0;
        for (const char *p = value; next_item(&p, item, sizeof(item), &too_long) != NULL;) {
            if (next.n >= max)
                return fail(err, errlen, "%s: at most %" PRIu64 " addresses", s->option, max);
            int rc = too_long ? fail(err, errlen, "%s: '%s' is not ADDR:PORT", s->option, item)
                              : set_address(s, &next.a[next.n], item, err, errlen);
            if (rc != 0)
                return rc;
            next.n++;
        }
        if (next.n < s->lim.min)
            return fail(err, errlen, "%s: give at least one ADDR:PORT", s->option);
        *l = next;
        return 0;
    }
    case CONFIG_TYPE_URLS: {
        struct config_urls *l = f;
        size_t n = fresh ? 0 : l->n;
        char shown[CONFIG_PATH_MAX];
        for (const char *p = value; next_item(&p, item, sizeof(item), &too_long) != NULL;) {
            /* The URL may hold a password: errors show it without. */
            if (too_long || (strncmp(item, "amqp://", 7) != 0 && strncmp(item, "amqps://", 8) != 0))
                return fail(err, errlen,
                            "%s: '%s' is not amqp[s]://user[:password]@host[:port][/vhost]%s",
                            s->option, secret_mask_url(item, shown, sizeof(shown)),
                            too_long ? " (too long)" : "");
            if (n >= max)
                return fail(err, errlen, "%s: at most %" PRIu64 " URLs", s->option, max);
            snprintf(l->url[n++], sizeof(l->url[0]), "%s", item);
        }
        l->n = n;
        return 0;
    }
    }
    return fail(err, errlen, "%s: unknown type", s->option);
}

/* ---- names: lookup and near misses ---------------------------------------------- */

/* Equal names, '_' and '-' alike. */
static bool same_name(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        char x = *a == '_' ? '-' : *a, y = *b == '_' ? '-' : *b;
        if (x != y)
            return false;
    }
    return *a == *b;
}

int config_find(const char *option)
{
    for (int i = 0; i < CONFIG_N; i++)
        if (same_name(config_settings[i].option, option))
            return i;
    return -1;
}

/* Edit distance ('_' and '-' alike), capped: names are short. */
static size_t distance(const char *a, const char *b)
{
    size_t n = strlen(a), m = strlen(b), row[64], prev;
    if (n >= 64 || m >= 64)
        return 64;
    for (size_t j = 0; j <= m; j++)
        row[j] = j;
    for (size_t i = 1; i <= n; i++) {
        prev = row[0];
        row[0] = i;
        for (size_t j = 1; j <= m; j++) {
            char x = a[i - 1] == '_' ? '-' : a[i - 1], y = b[j - 1] == '_' ? '-' : b[j - 1];
            size_t sub = prev + (x != y), del = row[j] + 1, ins = row[j - 1] + 1, best = sub;
            if (del < best)
                best = del;
            if (ins < best)
                best = ins;
            prev = row[j];
            row[j] = best;
        }
    }
    return row[m];
}

static bool near(const char *given, const char *name, size_t *best)
{
    size_t d = distance(given, name), most = strlen(given) <= 4 ? 1 : 2;
    if (d > most || d >= *best)
        return false;
    *best = d;
    return true;
}

/* Settings that are gone, and what took their place. */
static const struct {
    const char *option, *section, *key, *instead;
} retired[] = {
    {"spool-dir", "spool", "dir",
     "spool-dir is gone: use state-dir (the change journal, kept until confirmed)"},
};

/* " (did you mean 'address'?)" for a key that is close to one we know, else "". section
 * is NULL for a command-line option. */
static void suggest(const char *section, const char *given, char *buf, size_t size)
{
    size_t best = SIZE_MAX;
    buf[0] = '\0';
    for (size_t i = 0; i < sizeof(retired) / sizeof(retired[0]); i++) {
        if (same_name(given, retired[i].option) ||
            (section != NULL && strcmp(section, retired[i].section) == 0 &&
             same_name(given, retired[i].key))) {
            snprintf(buf, size, ": %s", retired[i].instead);
            return;
        }
    }
    for (int i = 0; i < CONFIG_N; i++) {
        const struct config_setting *s = &config_settings[i];
        if (section != NULL && same_name(s->key, given) && strcmp(s->section, section) != 0) {
            snprintf(buf, size, " (did you mean [%s] %s?)", s->section, s->key);
            return;
        }
        if (section != NULL && strcmp(s->section, section) == 0 && near(given, s->key, &best))
            snprintf(buf, size, " (did you mean '%s'?)", s->key);
        if (near(given, s->option, &best)) {
            if (section == NULL)
                snprintf(buf, size, " (did you mean '--%s'?)", s->option);
            else
                snprintf(buf, size, " (did you mean '%s'?)", s->option);
        }
    }
}

/* ---- the INI file --------------------------------------------------------------- */

static int ini_lookup(const char *section, const char *name)
{
    char joined[160];
    for (int i = 0; i < CONFIG_N; i++)
        if (strcmp(config_settings[i].section, section) == 0 &&
            same_name(config_settings[i].key, name))
            return i;
    int id = config_find(name);
    if (id >= 0)
        return id;
    snprintf(joined, sizeof(joined), "%s-%s", section, name);
    return section[0] != '\0' ? config_find(joined) : -1;
}

struct ini_ctx {
    struct config *c;
    FILE *f;
    int line;     /* lines read so far: the one being handled */
    int bad_line; /* the first line with an error of ours, 0 while none */
    char err[400];
    bool seen[CONFIG_N];
};

/* inih's reader: one line at a time, so the line being handled is known, and reading stops
 * at the first error (its line and its message go together). */
static char *ini_read(char *buf, int size, void *stream)
{
    struct ini_ctx *x = stream;
    if (x->bad_line != 0 || fgets(buf, size, x->f) == NULL)
        return NULL;
    x->line++;
    size_t n = strlen(buf);
    if (n == (size_t)size - 1 && buf[n - 1] != '\n' && !feof(x->f)) {
        x->bad_line = x->line;
        snprintf(x->err, sizeof(x->err),
                 "line longer than %d characters (give a long list as several lines of the same "
                 "key)",
                 size - 3);
        return NULL;
    }
    return buf;
}

static int on_ini(void *user, const char *section, const char *name, const char *value)
{
    struct ini_ctx *x = user;
    char hint[128];
    int id = ini_lookup(section, name);
    int rc = 0;
    if (id < 0) {
        suggest(section, name, hint, sizeof(hint));
        snprintf(x->err, sizeof(x->err),
                 "unknown setting '%s' in [%s]%s; keys are those injectord --check-config "
                 "prints, or the --option names",
                 name, section, hint);
        rc = -EINVAL;
    } else {
        rc = set_value(x->c, id, value, !x->seen[id], x->err, sizeof(x->err));
        x->seen[id] = true;
        x->c->given[id] = true;
    }
    if (rc != 0 && x->bad_line == 0)
        x->bad_line = x->line;
    return rc == 0;
}

int config_load_file(struct config *c, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? -ENOENT : fail(err, errlen, "%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return fail(err, errlen, "%s: is a directory, not a config file", path);
    struct ini_ctx x = {.c = c};
    if ((x.f = fopen(path, "r")) == NULL)
        return fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
    int line = ini_parse_stream(ini_read, &x, on_ini, &x);
    fclose(x.f);
    if (line == -2)
        return fail(err, errlen, "%s: out of memory", path);
    /* inih's line is the first error it saw (ours included); a line before ours is one
     * that is neither 'key = value' nor a [section]. */
    if (x.bad_line != 0 && (line == 0 || line >= x.bad_line))
        return fail(err, errlen, "%s:%d: %s", path, x.bad_line, x.err);
    if (line != 0)
        return fail(err, errlen, "%s:%d: not a 'key = value' line nor a [section]", path, line);
    return 0;
}

/* ---- the command line ----------------------------------------------------------- */

int config_parse_args(struct config *c, int argc, char **argv, char *err, size_t errlen)
{
    struct option opts[CONFIG_N + 5];
    bool seen[CONFIG_N] = {false};
    for (int i = 0; i < CONFIG_N; i++)
        opts[i] = (struct option){config_settings[i].option, required_argument, NULL, 1000 + i};
    opts[CONFIG_N] = (struct option){"help", no_argument, NULL, 'h'};
    opts[CONFIG_N + 1] = (struct option){"version", no_argument, NULL, 'V'};
    opts[CONFIG_N + 2] = (struct option){"config", required_argument, NULL, 'c'};
    opts[CONFIG_N + 3] = (struct option){"check-config", optional_argument, NULL, 'C'};
    opts[CONFIG_N + 4] = (struct option){NULL, 0, NULL, 0};

    optind = 1;
    opterr = 0;
    int ch;
    while ((ch = getopt_long(argc, argv, ":hVc:", opts, NULL)) != -1) {
        if (ch == 'c' || ch == 'C')
            continue; /* taken by config_load */
        if (ch == 'h') {
            config_usage(stdout);
            return 1;
        }
        if (ch == 'V') {
#ifdef HAVE_SYSTEMD
            printf("injectord %s (systemd notify)\n", INJECTOR_VERSION);
#else
            printf("injectord %s (no systemd notify)\n", INJECTOR_VERSION);
#endif
            return 1;
        }
        if (ch == ':')
            return fail(err, errlen, "%s needs a value (see --help)", argv[optind - 1]);
        if (ch == '?') {
            char name[64], hint[128] = "";
            const char *a = argv[optind - 1];
            if (strncmp(a, "--", 2) == 0) {
                snprintf(name, sizeof(name), "%.*s", (int)strcspn(a + 2, "="), a + 2);
                suggest(NULL, name, hint, sizeof(hint));
            }
            return fail(err, errlen, "unknown option '%s'%s (see --help)", a, hint);
        }
        int id = ch - 1000;
        int rc = set_value(c, id, optarg, !seen[id], err, errlen);
        if (rc != 0)
            return rc;
        seen[id] = c->given[id] = true;
    }
    if (optind < argc)
        return fail(err, errlen, "unexpected argument '%s' (see --help)", argv[optind]);
    return 0;
}

int config_set(struct config *c, const char *key, const char *value, char *err, size_t errlen)
{
    char hint[128];
    int id = config_find(key);
    if (id < 0) {
        suggest(NULL, key, hint, sizeof(hint));
        return fail(err, errlen, "unknown setting '%s'%s", key, hint);
    }
    int rc = set_value(c, id, value, !c->given[id], err, errlen);
    if (rc == 0)
        c->given[id] = true;
    return rc;
}

void config_defaults(struct config *c)
{
    char err[256];
    memset(c, 0, sizeof(*c));
    for (int i = 0; i < CONFIG_N; i++) {
        if (config_settings[i].dflt[0] != '\0' &&
            set_value(c, i, config_settings[i].dflt, true, err, sizeof(err)) != 0) {
            /* A default the table cannot parse: a bug, caught by the first test run. */
            fprintf(stderr, "injectord: bad default: %s\n", err);
            abort();
        }
    }
    if (gethostname(c->collector_id, sizeof(c->collector_id) - 1) != 0 ||
        c->collector_id[0] == '\0')
        snprintf(c->collector_id, sizeof(c->collector_id), "injector");
}

int config_load(struct config *c, int argc, char **argv, enum config_mode *mode, char *err,
                size_t errlen)
{
    const char *file = NULL;
    *mode = CONFIG_RUN;
    config_defaults(c);
    /* A first look for -c and --check-config: the file goes under the options. */
    for (int i = 1; i < argc; i++) {
        if ((strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) && i + 1 < argc)
            file = argv[++i];
        else if (strncmp(argv[i], "--config=", 9) == 0)
            file = argv[i] + 9;
        else if (strcmp(argv[i], "--check-config") == 0)
            *mode = CONFIG_CHECK;
        else if (strcmp(argv[i], "--check-config=bind") == 0)
            *mode = CONFIG_CHECK_BIND;
        else if (strncmp(argv[i], "--check-config=", 15) == 0) {
            *mode = CONFIG_CHECK;
            return fail(err, errlen, "%s: --check-config takes no value, or =bind", argv[i]);
        }
    }
    int rc = config_load_file(c, file ? file : CONFIG_DEFAULT_FILE, err, errlen);
    if (rc == -ENOENT && file != NULL)
        return fail(err, errlen, "%s: no such file", file);
    if (rc != 0 && rc != -ENOENT)
        return rc;
    if ((rc = config_parse_args(c, argc, argv, err, errlen)) != 0)
        return rc;
    config_derive(c);
    return 0;
}

void config_derive(struct config *c)
{
    /* The state directory holds the snapshot too, unless it is given elsewhere. */
    if (c->state_dir[0] != '\0' && c->snapshot[0] == '\0')
        snprintf(c->snapshot, sizeof(c->snapshot), "%.990s/snapshot.json", c->state_dir);
}

/* ---- one setting: compare, copy, show --------------------------------------------- */

bool config_equal(enum config_id id, const struct config *a, const struct config *b)
{
    const struct config_setting *s = &config_settings[id];
    const void *x = cfield_of(a, id), *y = cfield_of(b, id);
    switch (s->type) {
    case CONFIG_TYPE_TEXT:
    case CONFIG_TYPE_PATH:
    case CONFIG_TYPE_CIDRS:
        return strcmp(x, y) == 0;
    case CONFIG_TYPE_ADDRESS:
        return strcmp(((const struct config_address *)x)->text,
                      ((const struct config_address *)y)->text) == 0;
    case CONFIG_TYPE_ADDRESSES: {
        const struct config_addresses *l = x, *m = y;
        if (l->n != m->n)
            return false;
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(l->a[i].text, m->a[i].text) != 0)
                return false;
        return true;
    }
    case CONFIG_TYPE_URLS: {
        const struct config_urls *l = x, *m = y;
        if (l->n != m->n)
            return false;
        for (size_t i = 0; i < l->n; i++)
            if (strcmp(l->url[i], m->url[i]) != 0)
                return false;
        return true;
    }
    case CONFIG_TYPE_NUMBER:
        return *(const double *)x == *(const double *)y;
    case CONFIG_TYPE_BOOL:
        return *(const bool *)x == *(const bool *)y;
    case CONFIG_TYPE_ENUM:
        return *(const int *)x == *(const int *)y;
    default:
        return *(const uint64_t *)x == *(const uint64_t *)y;
    }
}

void config_copy(enum config_id id, struct config *dst, const struct config *src)
{
    memcpy(field_of(dst, id), cfield_of(src, id), config_settings[id].size);
}

bool config_is_empty(enum config_id id, const struct config *c)
{
    const void *f = cfield_of(c, id);
    switch (config_settings[id].type) {
    case CONFIG_TYPE_TEXT:
    case CONFIG_TYPE_PATH:
    case CONFIG_TYPE_CIDRS:
        return ((const char *)f)[0] == '\0';
    case CONFIG_TYPE_ADDRESS:
        return ((const struct config_address *)f)->text[0] == '\0';
    case CONFIG_TYPE_ADDRESSES:
        return ((const struct config_addresses *)f)->n == 0;
    case CONFIG_TYPE_URLS:
        return ((const struct config_urls *)f)->n == 0;
    default:
        return false;
    }
}

/* Item i of setting id (lists; i == 0 for the rest) as text, or NULL past the end. */
static const char *format_item(enum config_id id, const struct config *c, size_t i, char *buf,
                               size_t size)
{
    const struct config_setting *s = &config_settings[id];
    const void *f = cfield_of(c, id);
    if (s->type == CONFIG_TYPE_ADDRESSES) {
        const struct config_addresses *l = f;
        return i < l->n ? snprintf(buf, size, "%s", l->a[i].text), buf : NULL;
    }
    if (s->type == CONFIG_TYPE_URLS) {
        const struct config_urls *l = f;
        return i < l->n ? secret_mask_url(l->url[i], buf, size) : NULL;
    }
    if (i > 0)
        return NULL;
    switch (s->type) {
    case CONFIG_TYPE_BOOL:
        snprintf(buf, size, "%s", *(const bool *)f ? "true" : "false");
        break;
    case CONFIG_TYPE_COUNT:
        snprintf(buf, size, "%" PRIu64, *(const uint64_t *)f);
        break;
    case CONFIG_TYPE_NUMBER:
        snprintf(buf, size, "%g", *(const double *)f);
        break;
    case CONFIG_TYPE_SIZE:
        format_size(*(const uint64_t *)f, buf, size);
        break;
    case CONFIG_TYPE_DURATION:
        format_duration(*(const uint64_t *)f, buf, size);
        break;
    case CONFIG_TYPE_ENUM:
        snprintf(buf, size, "%s", s->lim.names[*(const int *)f]);
        break;
    case CONFIG_TYPE_ADDRESS: {
        const struct config_address *a = f;
        snprintf(buf, size, "%s", a->text[0] != '\0' ? a->text : s->lim.off ? "off" : "");
        break;
    }
    default:
        snprintf(buf, size, "%s", (const char *)f);
        break;
    }
    return buf;
}

const char *config_format(enum config_id id, const struct config *c, char *buf, size_t size)
{
    char item[CONFIG_PATH_MAX];
    size_t n = 0;
    buf[0] = '\0';
    for (size_t i = 0; format_item(id, c, i, item, sizeof(item)) != NULL && n < size; i++)
        n += (size_t)snprintf(buf + n, size - n, "%s%s", i ? ", " : "", item);
    return buf;
}

void config_print(const struct config *c, FILE *f)
{
    char item[CONFIG_PATH_MAX * 2];
    const char *done[CONFIG_N];
    size_t n_done = 0;
    fprintf(f, "# injectord %s: effective configuration (passwords in URLs left out)\n",
            INJECTOR_VERSION);
    /* Section by section, in the table's order of first appearance. */
    for (int i = 0; i < CONFIG_N; i++) {
        const char *section = config_settings[i].section;
        bool printed = false;
        for (size_t k = 0; k < n_done; k++)
            printed = printed || strcmp(done[k], section) == 0;
        if (printed)
            continue;
        done[n_done++] = section;
        fprintf(f, "\n[%s]\n", section);
        for (int j = i; j < CONFIG_N; j++) {
            if (strcmp(config_settings[j].section, section) != 0)
                continue;
            const char *key = config_settings[j].key;
            if (format_item(j, c, 0, item, sizeof(item)) == NULL)
                fprintf(f, "%s =\n", key); /* an empty list */
            for (size_t k = 0; format_item(j, c, k, item, sizeof(item)) != NULL; k++)
                fprintf(f, "%s =%s%s\n", key, item[0] ? " " : "", item);
        }
    }
}

void config_usage(FILE *f)
{
    fprintf(f, "Usage: injectord [OPTION]...\n"
               "Collect alert datagrams (XML) on UDP, keep the table of active alerts, and\n"
               "write every real change as one JSON line: raise, update, clear, expire, and\n"
               "ack and unack (a person acknowledging an alert over the HTTP API).\n\n");
    for (int i = 0; i < CONFIG_N; i++) {
        const struct config_setting *s = &config_settings[i];
        char left[64], dflt[64] = "";
        const char *shown = s->lim.shown != NULL ? s->lim.shown : s->dflt;
        if (shown[0] != '\0')
            snprintf(dflt, sizeof(dflt), " [%s]", shown);
        snprintf(left, sizeof(left), "--%s %s", s->option, s->arg);
        fprintf(f, "  %-28s %s%s\n", left, s->help, dflt);
    }
    fprintf(f, "  %-28s %s\n  %-28s %s\n  %-28s %s\n  %-28s %s\n", "-c, --config PATH",
            "read settings from this INI file [" CONFIG_DEFAULT_FILE " if it exists]",
            "--check-config[=bind]",
            "check the settings and the files and addresses they name (=bind: bind the "
            "addresses too), print them as an INI file, exit 0/1",
            "-h, --help", "show this help and exit", "-V, --version", "show the version and exit");
    fprintf(f, "\nEvery option is also a key of the config file: [section] key as --check-config\n"
               "prints it, or the option's own name in any section. Options win over the file.\n"
               "Signals: SIGINT/SIGTERM drain the sockets and stop; SIGUSR1 prints the\n"
               "stats line now; SIGHUP re-reads the config file (applying what can change\n"
               "live, naming what needs a restart) and reopens the output file.\n"
               "Wire format and outcomes: parsers/FORMAT.md and the README.\n"
               "Exit status: 0 stopped cleanly (or --help, --version); 1 failure at run time\n"
               "(a socket, file or key it cannot use; --check-config found a problem); 2 usage\n"
               "error (a bad option or value, said on stderr).\n");
}
