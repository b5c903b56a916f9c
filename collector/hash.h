/* hash.h - uthash, with a failed allocation failing the call instead of exiting.
 *
 * uthash's default on out of memory is exit(-1). Every table here (the alerts, the
 * senders, the rate limits, the nonces) grows with what the network sends, so running out
 * must be a refused and counted alert, not the end of the daemon. Include this instead of
 * <uthash.h>: after a HASH_ADD*, oom_flag says whether it failed (clear it before). The
 * flag is static: each file that includes this has its own, owned by the thread that owns
 * that file's tables (the loop thread). A file may define HASH_BLOOM first (state.c does):
 * its tables then carry uthash's filter fields, which is harmless because no table is
 * handed to another file.
 */
#ifndef INJECTOR_HASH_H
#define INJECTOR_HASH_H

#include <stdbool.h>

#define HASH_NONFATAL_OOM        1
#define uthash_nonfatal_oom(obj) (oom_flag = true)
static bool oom_flag;
#include <uthash.h>

#endif
