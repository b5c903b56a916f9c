/* secret.c - passwords starred out of URLs. */
#include "sink/secret.h"

#include <string.h>

void secret_scrub_url(char *s)
{
    size_t skip = 8;
    char *url = strstr(s, "amqps://");
    if (url == NULL) {
        url = strstr(s, "amqp://");
        skip = 7;
    }
    if (url == NULL)
        return;
    char *at = strchr(url, '@');
    char *colon = strchr(url + skip, ':');
    if (at != NULL && colon != NULL && colon < at)
        memset(colon + 1, '*', (size_t)(at - colon - 1));
}
