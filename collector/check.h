/* check.h - what start-up would run into, checked before it starts (--check-config).
 *
 * Walks the settings table: each path a setting names is checked as its entry says
 * (config.h, enum config_file: a file to read, a secret that is not empty, key lines that
 * parse, a file this user can create, a directory it can write), when start-up would use
 * it; then the rules between settings that start-up enforces (require-signature and
 * +signed blocks need a key file; a client certificate needs its key); with bind, every
 * address start-up binds (UDP listeners, TCP with --tcp, the HTTP API) is bound and
 * released. Touches nothing: probes are temporary files, removed at once.
 *
 * Any thread (--check-config runs it before any loop exists; the daemon, at start).
 */
#ifndef INJECTOR_CHECK_H
#define INJECTOR_CHECK_H

#include "collector/config.h"

#include <stdbool.h>
#include <stddef.h>

/* Called once per problem found: one line, naming the setting and what is wrong. */
typedef void (*check_report_fn)(const char *problem, void *data);

/* Check c as start-up would meet it (bind: also bind the addresses). Returns the number
 * of problems, each handed to report. */
int check_config(const struct config *c, bool bind, check_report_fn report, void *data);

/* The rules between settings (require-signature and +signed blocks need a key file; a
 * client certificate needs its key): the part of check_config that the daemon also runs
 * at start, refusing to start on any. Returns the number of problems, each handed to
 * report. */
int check_rules(const struct config *c, check_report_fn report, void *data);

/* Check the path of setting id as its table entry says. Returns 0, or a negative errno
 * with why ("snapshot /x/y.json: directory /x: No such file or directory"). */
int check_path(const struct config *c, enum config_id id, char *why, size_t size);

#endif
