/* acl.h - the source allow-list: which sender addresses may submit alerts.
 *
 * A list of CIDR blocks, IPv4 and IPv6 ("10.0.0.0/8, 2001:db8::/32, 127.0.0.1"); a bare
 * address is a /32 or /128. Checked before a datagram is parsed, so a sender outside the
 * list costs one comparison per block. Lists are short (a site's monitoring networks):
 * the check is a linear scan. An empty list allows everyone. Immutable once parsed: a
 * reload builds a new one and swaps it in.
 */
#ifndef INJECTOR_ACL_H
#define INJECTOR_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct acl;

/* A block may end in "+signed" ("10.0.0.0/8+signed"): its senders must sign their
 * datagrams (parsers/FORMAT.md) even where signatures are not required in general.
 *
 * Parse spec (comma- or space-separated blocks). Returns 0 and *out (NULL for an empty
 * spec: allow all), -EINVAL with a message naming the bad block, or -ENOMEM. */
int acl_parse(const char *spec, struct acl **out, char *err, size_t errlen);

/* -1: addr is not in the list; 0: it is; 1: it is, and must sign (the first matching
 * block decides). 0 for a NULL list. */
int acl_match(const struct acl *acl, const struct sockaddr *addr);

/* Whether any block says +signed. */
bool acl_any_signed(const struct acl *acl);

/* Number of blocks. */
size_t acl_size(const struct acl *acl);

void acl_free(struct acl *acl);

#endif
