/* reload.h - SIGHUP: re-read the configuration, apply what can change live, name what
 * cannot, reopen the output (logrotate).
 *
 * The sockets stay open throughout, so a burst across a reload loses nothing; a file that
 * does not parse changes nothing. Loop thread only.
 */
#ifndef INJECTOR_RELOAD_H
#define INJECTOR_RELOAD_H

struct daemon;

/* Reload dm's configuration from the same file and options it started with. */
void reload_run(struct daemon *dm);

#endif
