/* secret.c - where a URL keeps its password, and keeping it out of sight. */
#include "sink/secret.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int secret_read_file(const char *path, char **out)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -errno;
    char *line = NULL;
    size_t cap = 0;
    errno = 0;
    ssize_t n = getline(&line, &cap, f);
    int rc = n < 0 && errno != 0 ? -errno : 0;
    fclose(f);
    while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
    if (rc == 0 && n <= 0)
        rc = -ENODATA;
    if (rc != 0) {
        free(line); /* nothing was read into it */
        return rc;
    }
    *out = line;
    return 0;
}

void secret_free(char *s)
{
    if (s == NULL)
        return;
    /* volatile: the wipe of memory about to be freed is not optimised away */
    for (volatile char *p = s; *p != '\0'; p++)
        *p = '\0';
    free(s);
}

/* The password in the URL that starts somewhere in s: *start and *len span the characters
 * between "user:" and "@host" (the last '@' before the path, as passwords may hold '@').
 * Returns 0, or -1 when there is none. */
static int password_span(const char *s, size_t *start, size_t *len)
{
    const char *scheme = strstr(s, "://");
    if (scheme == NULL)
        return -1;
    const char *auth = scheme + 3;
    size_t auth_len = strcspn(auth, "/?#");
    const char *at = NULL;
    for (const char *p = auth; p < auth + auth_len; p++)
        if (*p == '@')
            at = p;
    if (at == NULL)
        return -1;
    const char *colon = memchr(auth, ':', (size_t)(at - auth));
    if (colon == NULL)
        return -1;
    *start = (size_t)(colon + 1 - s);
    *len = (size_t)(at - colon - 1);
    return 0;
}

const char *secret_mask_url(const char *url, char *buf, size_t size)
{
    size_t start, len;
    if (password_span(url, &start, &len) != 0)
        snprintf(buf, size, "%s", url);
    else /* without the ':' before the password either */
        snprintf(buf, size, "%.*s%s", (int)(start - 1), url, url + start + len);
    return buf;
}

void secret_scrub_url(char *s)
{
    size_t start, len;
    if (password_span(s, &start, &len) == 0)
        memset(s + start, '*', len);
}
