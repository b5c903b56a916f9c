/* target.c - HOST:PORT / [v6]:PORT to a UDP address, for injector-send and injector-burst. */
#include "target.h"

#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

int target_resolve(const char *target, struct addrinfo **out)
{
    char host[256];
    const char *port;
    if (target[0] == '[') {
        const char *close = strchr(target, ']');
        if (close == NULL || close[1] != ':')
            return TARGET_BAD_FORM;
        snprintf(host, sizeof(host), "%.*s", (int)(close - target - 1), target + 1);
        port = close + 2;
    } else {
        const char *colon = strrchr(target, ':');
        if (colon == NULL)
            return TARGET_BAD_FORM;
        snprintf(host, sizeof(host), "%.*s", (int)(colon - target), target);
        port = colon + 1;
    }
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM, .ai_family = AF_UNSPEC};
    return getaddrinfo(host, port, &hints, out);
}

const char *target_error(int rc)
{
    return rc == TARGET_BAD_FORM ? "want HOST:PORT or [v6]:PORT" : gai_strerror(rc);
}
