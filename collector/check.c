/* check.c - --check-config: the files, rules and addresses start-up depends on. */
#include "collector/check.h"

#include "collector/acl.h"
#include "collector/address.h"
#include "parsers/envelope.h"
#include "sink/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

static int say(char *why, size_t size, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int say(char *why, size_t size, int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, size, fmt, ap);
    va_end(ap);
    return rc;
}

/* Can this user create a file in dir? A probe file, made and removed: permissions,
 * read-only mounts and ACLs all answer the same way they will at start. */
static int probe_dir(const char *dir)
{
    char probe[CONFIG_PATH_MAX + 32];
    snprintf(probe, sizeof(probe), "%s/.injectord-check.XXXXXX", dir);
    int fd = mkstemp(probe);
    if (fd < 0)
        return -errno;
    close(fd);
    unlink(probe);
    return 0;
}

static const char *dir_of(const char *path, char *buf, size_t size)
{
    snprintf(buf, size, "%s", path);
    return dirname(buf);
}

/* A file start-up creates or appends to (the output) or replaces by rename (snapshot). */
static int check_create(const char *opt, const char *path, bool append, char *why, size_t size)
{
    char dbuf[CONFIG_PATH_MAX];
    struct stat st;
    int rc;
    if (stat(path, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return say(why, size, -EISDIR, "%s %s: is a directory", opt, path);
        if (append) { /* opened as it will be, without creating anything */
            int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
            if (fd < 0)
                return say(why, size, -errno, "%s %s: cannot write: %s", opt, path,
                           strerror(errno));
            close(fd);
            return 0;
        }
    }
    const char *dir = dir_of(path, dbuf, sizeof(dbuf));
    if ((rc = probe_dir(dir)) != 0)
        return say(why, size, rc, "%s %s: cannot create files in %s: %s", opt, path, dir,
                   strerror(-rc));
    return 0;
}

/* A directory start-up writes in, creating it (not its parents) when missing. */
static int check_dir(const char *opt, const char *path, char *why, size_t size)
{
    char dbuf[CONFIG_PATH_MAX];
    struct stat st;
    int rc;
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return say(why, size, -ENOTDIR, "%s %s: is not a directory", opt, path);
        if ((rc = probe_dir(path)) != 0)
            return say(why, size, rc, "%s %s: cannot write there: %s", opt, path, strerror(-rc));
        return 0;
    }
    if (errno != ENOENT)
        return say(why, size, -errno, "%s %s: %s", opt, path, strerror(errno));
    const char *parent = dir_of(path, dbuf, sizeof(dbuf));
    if ((rc = probe_dir(parent)) != 0)
        return say(why, size, rc, "%s %s: does not exist, and cannot be created in %s: %s", opt,
                   path, parent, strerror(-rc));
    return 0;
}

int check_path(const struct config *c, enum config_id id, char *why, size_t size)
{
    const struct config_setting *s = &config_settings[id];
    const char *path = (const char *)c + s->offset;
    struct envelope_key keys[16];
    char *secret = NULL;
    int rc, fd;
    if (s->type != CONFIG_TYPE_PATH || path[0] == '\0')
        return 0;
    /* A snapshot in the state directory: start-up creates the directory first, and
     * state-dir's own check covers it. */
    size_t dl = strlen(c->state_dir);
    if (id == CONFIG_snapshot && dl > 0 && strncmp(path, c->state_dir, dl) == 0 &&
        path[dl] == '/' && strchr(path + dl + 1, '/') == NULL && access(c->state_dir, F_OK) != 0)
        return check_path(c, CONFIG_state_dir, why, size);
    switch (s->lim.file) {
    case CONFIG_FILE_NONE:
        return 0;
    case CONFIG_FILE_READ:
        if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
            return say(why, size, -errno, "%s %s: cannot read: %s", s->option, path,
                       strerror(errno));
        close(fd);
        return 0;
    case CONFIG_FILE_SECRET:
        rc = secret_read_file(path, &secret);
        secret_free(secret);
        if (rc != 0)
            return say(why, size, rc, "%s %s: %s", s->option, path,
                       rc == -ENODATA ? "its first line is empty" : strerror(-rc));
        return 0;
    case CONFIG_FILE_KEYS: {
        char err[256];
        rc = envelope_load_keys(path, keys, sizeof(keys) / sizeof(keys[0]), err, sizeof(err));
        memset(keys, 0, sizeof(keys));
        return rc < 0 ? say(why, size, rc, "%s: %s", s->option, err) : 0;
    }
    case CONFIG_FILE_CREATE:
        return check_create(s->option, path, false, why, size);
    case CONFIG_FILE_OUTPUT:
        return strcmp(path, "-") == 0 ? 0 : check_create(s->option, path, true, why, size);
    case CONFIG_FILE_DIR:
        return check_dir(s->option, path, why, size);
    }
    return 0;
}

/* Whether start-up uses setting id's path at all with c (a broker's files without a
 * broker, the output behind a broker, a token without the HTTP API are not opened). */
static bool used(const struct config *c, enum config_id id)
{
    bool broker = c->amqp.n > 0;
    switch (id) {
    case CONFIG_output:
        return !broker || c->given[CONFIG_output];
    case CONFIG_amqp_password_file:
    case CONFIG_amqp_ca_file:
    case CONFIG_amqp_cert_file:
    case CONFIG_amqp_key_file:
        return broker;
    case CONFIG_http_token_file:
    case CONFIG_http_token_metrics:
        return c->http.text[0] != '\0';
    default:
        return true;
    }
}

/* Bind sa as start-up would; *fd keeps the socket (start-up holds them all at once, so two
 * settings naming one port collide here too), -1 when it failed. */
static int bind_one(const char *what, const struct sockaddr *sa, int type, bool reuseport,
                    int *fd_out, char *why, size_t size)
{
    char text[ADDRESS_TEXT_MAX];
    int fd = socket(sa->sa_family, type | SOCK_CLOEXEC, 0), on = 1, rc = 0;
    if (fd < 0)
        return say(why, size, -errno, "%s %s: %s", what, address_format(sa, text, sizeof(text)),
                   strerror(errno));
    /* As start-up sets them: v6 sockets are v6 only, TCP may reuse a TIME_WAIT port. */
    if (sa->sa_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on));
    /* A TCP port is taken only once it listens (two binds with SO_REUSEADDR both pass). */
    if (bind(fd, sa, address_len(sa)) != 0 || (type == SOCK_STREAM && listen(fd, 1) != 0)) {
        rc = say(why, size, -errno, "%s %s: cannot bind: %s", what,
                 address_format(sa, text, sizeof(text)), strerror(errno));
        close(fd);
        fd = -1;
    }
    *fd_out = fd;
    return rc;
}

struct problems {
    check_report_fn report;
    void *data;
    int n;
};

static void problem(struct problems *p, const char *why)
{
    p->report(why, p->data);
    p->n++;
}

int check_rules(const struct config *c, check_report_fn report, void *data)
{
    struct problems p = {.report = report, .data = data};
    char why[256];
    struct acl *acl = NULL;
    if (acl_parse(c->allow, &acl, why, sizeof(why)) == 0 && acl_any_signed(acl) &&
        c->key_file[0] == '\0')
        problem(&p, "allow: a block is marked +signed, but no key-file is given to check "
                    "signatures with");
    acl_free(acl);
    if (c->require_signature && c->key_file[0] == '\0')
        problem(&p, "require-signature: needs key-file");
    if (c->amqp.n > 0 && (c->amqp_cert_file[0] != '\0') != (c->amqp_key_file[0] != '\0'))
        problem(&p, "amqp-cert-file and amqp-key-file: give both (a client certificate and "
                    "its key) or neither");
    return p.n;
}

int check_config(const struct config *c, bool bind, check_report_fn report, void *data)
{
    struct problems p = {.report = report, .data = data};
    char why[CONFIG_PATH_MAX * 2 + 256];
    for (int i = 0; i < CONFIG_N; i++)
        if (used(c, i) && check_path(c, i, why, sizeof(why)) != 0)
            problem(&p, why);
    p.n += check_rules(c, report, data);

    int fds[2 * CONFIG_MAX_LISTEN + 1];
    size_t n_fds = 0;
    for (size_t i = 0; bind && i < c->listen.n; i++) {
        const struct sockaddr *sa = (const struct sockaddr *)&c->listen.a[i].sa;
        if (bind_one("listen (udp)", sa, SOCK_DGRAM, c->reuseport > 0, &fds[n_fds++], why,
                     sizeof(why)) != 0)
            problem(&p, why);
        if (c->tcp &&
            bind_one("listen (tcp)", sa, SOCK_STREAM, false, &fds[n_fds++], why, sizeof(why)) != 0)
            problem(&p, why);
    }
    if (bind && c->http.text[0] != '\0' &&
        bind_one("http", (const struct sockaddr *)&c->http.sa, SOCK_STREAM, false, &fds[n_fds++],
                 why, sizeof(why)) != 0)
        problem(&p, why);
    while (n_fds > 0)
        if (fds[--n_fds] >= 0)
            close(fds[n_fds]);
    return p.n;
}
