/* target.h - a collector address as the tools take it: HOST:PORT or [v6]:PORT. */
#ifndef INJECTOR_TARGET_H
#define INJECTOR_TARGET_H

#include <netdb.h>

/* Returned when the text is not HOST:PORT nor [v6]:PORT (getaddrinfo's errors are < 0). */
#define TARGET_BAD_FORM 1

/* Resolve target for UDP. Returns 0 and *out (freeaddrinfo it), TARGET_BAD_FORM, or a
 * getaddrinfo error. */
int target_resolve(const char *target, struct addrinfo **out);

/* What went wrong, for a message. */
const char *target_error(int rc);

#endif
