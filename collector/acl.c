/* acl.c - CIDR allow-list, IPv4 and IPv6, linear match. */
#include "collector/acl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct block {
    int family;
    unsigned char addr[16];
    unsigned prefix;
    bool signed_only;
};

struct acl {
    size_t n;
    struct block blocks[];
};

static int parse_block(const char *spec, struct block *b)
{
    char host[64], text[96];
    size_t tl = strlen(spec);
    bool signed_only = tl > 7 && strcmp(spec + tl - 7, "+signed") == 0;
    if (signed_only)
        tl -= 7;
    if (tl >= sizeof(text))
        return -EINVAL;
    memcpy(text, spec, tl);
    text[tl] = '\0';
    const char *slash = strchr(text, '/');
    size_t hlen = slash ? (size_t)(slash - text) : strlen(text);
    if (hlen == 0 || hlen >= sizeof(host))
        return -EINVAL;
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    memset(b, 0, sizeof(*b));
    unsigned max;
    if (inet_pton(AF_INET, host, b->addr) == 1) {
        b->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, host, b->addr) == 1) {
        b->family = AF_INET6;
        max = 128;
    } else {
        return -EINVAL;
    }
    b->prefix = max;
    b->signed_only = signed_only;
    if (slash != NULL) {
        char *end;
        unsigned long p = strtoul(slash + 1, &end, 10);
        if (end == slash + 1 || *end != '\0' || p > max)
            return -EINVAL;
        b->prefix = (unsigned)p;
    }
    /* Bits past the prefix must be zero: "10.1.2.3/8" is more likely a typo than meant. */
    for (unsigned bit = b->prefix; bit < max; bit++)
        if (b->addr[bit / 8] & (0x80 >> (bit % 8)))
            return -EINVAL;
    return 0;
}

int acl_parse(const char *spec, struct acl **out, char *err, size_t errlen)
{
    char *copy = strdup(spec), *save = NULL;
    size_t cap = 1;
    *out = NULL;
    if (copy == NULL)
        return -ENOMEM;
    for (const char *p = spec; *p; p++)
        cap += *p == ',' || *p == ' ';
    struct acl *a = calloc(1, sizeof(*a) + cap * sizeof(a->blocks[0]));
    if (a == NULL) {
        free(copy);
        return -ENOMEM;
    }
    for (char *tok = strtok_r(copy, ", \t", &save); tok != NULL;
         tok = strtok_r(NULL, ", \t", &save)) {
        if (parse_block(tok, &a->blocks[a->n]) != 0) {
            snprintf(err, errlen,
                     "'%s' is not an address or CIDR block (a.b.c.d/n, x:y::/n, "
                     "optionally +signed; no bits set past the prefix)",
                     tok);
            free(copy);
            free(a);
            return -EINVAL;
        }
        a->n++;
    }
    free(copy);
    if (a->n == 0) {
        free(a);
        return 0;
    }
    *out = a;
    return 0;
}

static bool match(const struct block *b, const unsigned char *addr)
{
    unsigned full = b->prefix / 8, rest = b->prefix % 8;
    if (memcmp(b->addr, addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (b->addr[full] & mask) == (addr[full] & mask);
}

bool acl_any_signed(const struct acl *acl)
{
    for (size_t i = 0; acl != NULL && i < acl->n; i++)
        if (acl->blocks[i].signed_only)
            return true;
    return false;
}

int acl_match(const struct acl *acl, const struct sockaddr *addr)
{
    if (acl == NULL)
        return 0;
    if (addr == NULL)
        return -1;
    const unsigned char *bytes;
    if (addr->sa_family == AF_INET)
        bytes = (const unsigned char *)&((const struct sockaddr_in *)addr)->sin_addr;
    else if (addr->sa_family == AF_INET6)
        bytes = (const unsigned char *)&((const struct sockaddr_in6 *)addr)->sin6_addr;
    else
        return -1;
    for (size_t i = 0; i < acl->n; i++)
        if (acl->blocks[i].family == addr->sa_family && match(&acl->blocks[i], bytes))
            return acl->blocks[i].signed_only ? 1 : 0;
    return -1;
}

size_t acl_size(const struct acl *acl)
{
    return acl != NULL ? acl->n : 0;
}

void acl_free(struct acl *acl)
{
    free(acl);
}
