/* sink_file.h - the JSON-lines sink: one change per line to stdout or a file.
 *
 * The embedded default: with no broker configured, injectord prints every change here.
 * Output is buffered and flushed once per loop iteration, so a burst costs one write(2)
 * per batch, not per change. Writes happen on the loop thread: a local file or a terminal
 * keeps up; a pipe to a reader that stops reading would stall the loop (use the AMQP sink
 * for anything that is not a file).
 */
#ifndef INJECTOR_SINK_FILE_H
#define INJECTOR_SINK_FILE_H

#include "sink/sink.h"

/* path "-" is stdout; anything else is opened for append (created 0644).
 * Returns 0 and *out, or a negative errno (the file could not be opened). */
int sink_file_new(const char *path, struct sink **out);

#endif
