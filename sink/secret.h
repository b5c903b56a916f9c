/* secret.h - credentials in URLs: keep passwords out of what is shown.
 *
 * The daemon and the tools show broker URLs in logs, in --check-config and on their
 * command line (ps); this module is the one place that knows where a URL keeps its
 * password. Pure functions; any thread.
 */
#ifndef INJECTOR_SECRET_H
#define INJECTOR_SECRET_H

#include <stddef.h>

/* Copy url into buf with the password of its user info left out, the form every log line
 * and printout shows ("amqp://guest:secret@host/" -> "amqp://guest@host/"); a URL without
 * one is copied as it is. Returns buf. */
const char *secret_mask_url(const char *url, char *buf, size_t size);

/* Star out, in place, the password of the URL in s, if any (its length stays: argv
 * strings cannot grow, and ps(1) shows them). s may hold more than the URL
 * ("--amqp=amqp://..."). */
void secret_scrub_url(char *s);

#endif
