/* secret.h - secrets: read one from a file; keep passwords in URLs out of what is shown.
 *
 * The daemon and the tools read passwords and tokens from files, and show broker URLs in
 * logs, in --check-config and on their command line (ps); this module is the one place
 * that reads such a file and the one that knows where a URL keeps its password. Any
 * thread.
 */
#ifndef INJECTOR_SECRET_H
#define INJECTOR_SECRET_H

#include <stddef.h>

/* Read a secret: the first line of path, its line end removed. Returns 0 and *out
 * (malloc'd; give it to secret_free, which wipes it), -ENODATA when the file or its first
 * line is empty, or a negative errno (cannot open or read it). */
int secret_read_file(const char *path, char **out);

/* Wipe and free a secret from secret_read_file. Safe on NULL. */
void secret_free(char *s);

/* Copy url into buf with the password of its user info left out, the form every log line
 * and printout shows ("amqp://guest:secret@host/" -> "amqp://guest@host/"); a URL without
 * one is copied as it is. Returns buf. */
const char *secret_mask_url(const char *url, char *buf, size_t size);

/* Star out, in place, the password of the URL in s, if any (its length stays: argv
 * strings cannot grow, and ps(1) shows them). s may hold more than the URL
 * ("--amqp=amqp://..."). */
void secret_scrub_url(char *s);

#endif
