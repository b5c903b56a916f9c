/* http_get.c - see http_get.h. */
#include "http_get.h"

#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* Split http://host[:port][/path] (host may be [v6]). */
static int split_url(const char *url, char *host, size_t hostlen, char *port, size_t portlen,
                     const char **path)
{
    const char *p = url, *end;
    if (strncmp(p, "http://", 7) != 0)
        return -1;
    p += 7;
    if (*p == '[') {
        end = strchr(p, ']');
        if (end == NULL || (size_t)(end - p - 1) >= hostlen)
            return -1;
        memcpy(host, p + 1, (size_t)(end - p - 1));
        host[end - p - 1] = '\0';
        p = end + 1;
    } else {
        size_t n = strcspn(p, ":/");
        if (n == 0 || n >= hostlen)
            return -1;
        memcpy(host, p, n);
        host[n] = '\0';
        p += n;
    }
    snprintf(port, portlen, "80");
    if (*p == ':') {
        size_t n = strcspn(p + 1, "/");
        if (n == 0 || n >= portlen)
            return -1;
        memcpy(port, p + 1, n);
        port[n] = '\0';
        p += 1 + n;
    }
    if (*p != '\0' && *p != '/')
        return -1;
    *path = *p == '\0' ? "/" : p;
    return 0;
}

static int connect_to(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    int gai = getaddrinfo(host, port, &hints, &ai);
    if (gai != 0) {
        errno = gai == EAI_SYSTEM ? errno : EHOSTUNREACH;
        return -1;
    }
    int fd = -1;
    for (struct addrinfo *a = ai; a != NULL && fd < 0; a = a->ai_next) {
        fd = socket(a->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        struct timeval tv = {5, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, a->ai_addr, a->ai_addrlen) != 0) {
            int e = errno;
            close(fd);
            fd = -1;
            errno = e;
        }
    }
    freeaddrinfo(ai);
    return fd;
}

int http_get_json(const char *url, const char *token, json_t **out, char *err, size_t errlen)
{
    char host[256], port[16];
    const char *path;
    *out = NULL;
    if (split_url(url, host, sizeof(host), port, sizeof(port), &path) != 0) {
        snprintf(err, errlen, "not an http://HOST[:PORT]/PATH URL: %s", url);
        return -1;
    }
    int fd = connect_to(host, port);
    if (fd < 0) {
        snprintf(err, errlen,
                 "cannot reach the collector's HTTP API at %s: %s (is injectord "
                 "running, with --http on that address?)",
                 url, strerror(errno));
        return -1;
    }
    char req[2048];
    int n =
        snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\n%s%s%s\r\n", path, host,
                 token ? "Authorization: Bearer " : "", token ? token : "", token ? "\r\n" : "");
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    if (n < 0 || (size_t)n >= sizeof(req) || buf == NULL || write(fd, req, (size_t)n) != n) {
        snprintf(err, errlen, "%s: request failed", url);
        free(buf);
        close(fd);
        return -1;
    }
    ssize_t r;
    while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)r;
        if (len + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (b == NULL) {
                snprintf(err, errlen, "%s: out of memory reading the answer", url);
                free(buf);
                close(fd);
                return -1;
            }
            buf = b;
        }
    }
    int read_errno = r < 0 ? errno : 0;
    close(fd);
    buf[len] = '\0';
    if (read_errno != 0) {
        snprintf(err, errlen, "%s: reading the answer: %s", url, strerror(read_errno));
        free(buf);
        return -1;
    }
    char *body = strstr(buf, "\r\n\r\n");
    int status = 0;
    if (body == NULL || sscanf(buf, "HTTP/%*s %d", &status) != 1 || status != 200) {
        snprintf(err, errlen, "%s answered %d, not 200%s", url, status,
                 status == 401 ? " (a token is needed: --http-token-file)" : "");
        free(buf);
        return -1;
    }
    json_error_t je;
    *out = json_loadb(body + 4, len - (size_t)(body + 4 - buf), 0, &je);
    free(buf);
    if (*out == NULL) {
        snprintf(err, errlen, "%s: not JSON: %s", url, je.text);
        return -1;
    }
    return 0;
}
