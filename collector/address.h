/* address.h - socket addresses as text: "a.b.c.d:port", "[v6]:port", ":port".
 *
 * One place parses and formats the addresses the collector listens on and hears from, so
 * the config, the listeners, the HTTP API and the logs all write them the same way. Pure
 * functions (no sockets, no name lookups: numeric addresses only); any thread.
 */
#ifndef INJECTOR_ADDRESS_H
#define INJECTOR_ADDRESS_H

#include <stddef.h>
#include <sys/socket.h>

/* Longest text address_format writes, NUL included: "[" v6 "]:" port. */
#define ADDRESS_TEXT_MAX 72

/* Parse "a.b.c.d:port", "[v6]:port" or ":port" (every IPv4 address) into *out.
 * Returns 0, or -EINVAL (then *out is zeroed). */
int address_parse(const char *s, struct sockaddr_storage *out);

/* Format sa as "a.b.c.d:port" / "[v6]:port" ("?" for another family) into buf
 * (ADDRESS_TEXT_MAX bytes are always enough). Returns buf. */
const char *address_format(const struct sockaddr *sa, char *buf, size_t size);

/* The length of sa's family's sockaddr (for bind(2) and comparisons). */
socklen_t address_len(const struct sockaddr *sa);

#endif
