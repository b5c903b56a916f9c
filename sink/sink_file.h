/* sink_file.h - the JSON-lines sink: one change per line to stdout or a file.
 *
 * The embedded default: with no broker configured, injectord prints every change here.
 * Output is buffered and written once per loop iteration, so a burst costs one write(2)
 * per batch, not per change. Writes never block the loop: the descriptor is non-blocking
 * (on a pipe or terminal, our own open file description of it, so nobody else sharing
 * it is affected; on a socket, per-call MSG_DONTWAIT). What a stalled reader or a full
 * disk does not take waits in a bounded buffer; a change that does not fit is lost,
 * counted in changes (output_lost), and said in a rate-limited line naming the output.
 * When the reader comes back or space returns, writing resumes with the buffer, whole
 * lines in order.
 *
 * Loop thread only (log may be called from it).
 */
#ifndef INJECTOR_SINK_FILE_H
#define INJECTOR_SINK_FILE_H

#include "sink/sink.h"

#include <stddef.h>

/* What waits for a slow reader: a few seconds of a busy collector's changes. */
#define SINK_FILE_BUFFER (4u * 1024 * 1024)

/* path "-" is stdout; anything else is opened for append (created 0644; a FIFO must have
 * its reader already). buffer: bytes held for a reader that does not keep up (0:
 * SINK_FILE_BUFFER). log (may be NULL) gets the lines about stalls and losses.
 * Returns 0 and *out, or a negative errno (the file could not be opened). */
int sink_file_new(const char *path, size_t buffer, sink_log_fn log, struct sink **out);

#endif
