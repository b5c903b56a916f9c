/* text_table.h - cells of a terminal table: names from the network cut to a column with
 * "…", control characters shown as '?', ages in one unit ("5m").
 *
 * The tools' tables (injector-ctl alerts, injector-consume --format table) print strings
 * that came over the network: a host name may hold a terminal escape, and a long one must
 * not push the columns after it. Pure functions; any thread. */
#ifndef INJECTOR_TEXT_TABLE_H
#define INJECTOR_TEXT_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* Terminal columns s takes (UTF-8: continuation bytes take none; NULL takes 0). */
size_t text_table_cols(const char *s);

/* Print s in at most width columns, control bytes (terminal escapes from the network)
 * shown as '?'; a longer s is cut, never inside a UTF-8 sequence, and ends with "…".
 * Returns the columns used. NULL or width 0 print nothing. */
size_t text_table_put(FILE *f, const char *s, size_t width);

/* text_table_put, then spaces up to width, and one more: a column and its gap. */
void text_table_cell(FILE *f, const char *s, size_t width);

/* "42s", "5m", "3h", "2d" (rounded down; "0s" for a time in the future) into buf. Returns
 * buf. */
const char *text_table_age(int64_t ms, char *buf, size_t size);

#endif
