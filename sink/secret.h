/* secret.h - credentials in URLs: keep passwords out of what is shown.
 *
 * The daemon and the tools show broker URLs in logs, in --check-config and on their
 * command line (ps); this module is the one place that knows where a URL keeps its
 * password. Pure functions; any thread.
 */
#ifndef INJECTOR_SECRET_H
#define INJECTOR_SECRET_H

/* Star out, in place, the password of the amqp:// or amqps:// URL in s, if any (its
 * length stays: argv strings cannot grow, and ps(1) shows them). */
void secret_scrub_url(char *s);

#endif
