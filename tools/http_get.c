/* http_get.c - see http_get.h. */
#include "http_get.h"

#include <errno.h>
#include <stdbool.h>
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

/* Send all of buf (a socket may take it in parts). MSG_NOSIGNAL: a collector that closed
 * the connection is an error to report, not a SIGPIPE that ends the tool unheard. */
static int write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int http_get_request(const char *method, const char *url, const char *token, const json_t *body,
                     int *status, json_t **out, char *err, size_t errlen)
{
    char host[256], port[16];
    const char *path;
    char *text = NULL, *buf = NULL, *req = NULL;
    int fd = -1, rc = -1;
    *out = NULL;
    *status = 0;
    if (split_url(url, host, sizeof(host), port, sizeof(port), &path) != 0) {
        snprintf(err, errlen, "not an http://HOST[:PORT]/PATH URL (HOST: at most %zu bytes): %s",
                 sizeof(host) - 1, url);
        goto out;
    }
    if (body != NULL && (text = json_dumps(body, JSON_COMPACT)) == NULL) {
        snprintf(err, errlen, "%s: out of memory for the request", url);
        goto out;
    }
    fd = connect_to(host, port);
    if (fd < 0) {
        snprintf(err, errlen,
                 "cannot reach the collector's HTTP API at %s: %s (is injectord "
                 "running, with --http on that address?)",
                 url, strerror(errno));
        goto out;
    }
    /* Host: the URL's authority as written (an IPv6 address keeps its brackets). */
    char length[80] = "";
    if (text != NULL)
        snprintf(length, sizeof(length),
                 "Content-Type: application/json\r\nContent-Length: %zu\r\n", strlen(text));
    /* The head as long as the URL makes it (a query of long names, percent-encoded): in
     * memory that grows, never cut. */
    size_t n = 0, cap = 65536, len = 0;
    FILE *head = open_memstream(&req, &n);
    bool built = head != NULL &&
                 fprintf(head, "%s %s HTTP/1.0\r\nHost: %.*s\r\n%s%s%s%s\r\n", method, path,
                         (int)strcspn(url + 7, "/"), url + 7, token ? "Authorization: Bearer " : "",
                         token ? token : "", token ? "\r\n" : "", length) > 0;
    if (head != NULL && fclose(head) != 0)
        built = false;
    if (!built || (buf = malloc(cap)) == NULL) {
        snprintf(err, errlen, "%s: out of memory for the request", url);
        goto out;
    }
    if (write_all(fd, req, n) != 0 || (text != NULL && write_all(fd, text, strlen(text)) != 0)) {
        snprintf(err, errlen, "%s: sending the request: %s", url, strerror(errno));
        goto out;
    }
    ssize_t r;
    while ((r = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)r;
        if (len + 1 == cap) {
            char *b = realloc(buf, cap *= 2);
            if (b == NULL) {
                snprintf(err, errlen, "%s: out of memory reading the answer", url);
                goto out;
            }
            buf = b;
        }
    }
    if (r < 0) {
        snprintf(err, errlen, "%s: reading the answer: %s", url, strerror(errno));
        goto out;
    }
    buf[len] = '\0';
    char *start = strstr(buf, "\r\n\r\n");
    if (start == NULL || sscanf(buf, "HTTP/%*s %d", status) != 1) {
        *status = 0;
        snprintf(err, errlen, "%s: not an HTTP answer", url);
        goto out;
    }
    json_error_t je;
    *out = json_loadb(start + 4, len - (size_t)(start + 4 - buf), 0, &je);
    if (*out == NULL) {
        if (*status == 200)
            snprintf(err, errlen, "%s: not JSON: %s", url, je.text);
        else
            snprintf(err, errlen, "%s answered %d, not 200%s", url, *status,
                     *status == 401 ? " (a token is needed: --http-token-file)" : "");
        goto out;
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(req);
    free(text);
    return rc;
}

int http_get_json(const char *url, const char *token, json_t **out, char *err, size_t errlen)
{
    int status;
    if (http_get_request("GET", url, token, NULL, &status, out, err, errlen) != 0)
        return -1;
    if (status == 200)
        return 0;
    const char *why = json_string_value(json_object_get(*out, "error"));
    snprintf(err, errlen, "%s answered %d%s%s%s", url, status, why ? ": " : ", not 200",
             why ? why : "", status == 401 ? " (a token is needed: --http-token-file)" : "");
    json_decref(*out);
    *out = NULL;
    return -1;
}
