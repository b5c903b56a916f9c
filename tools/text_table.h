/* text_table.h - text from the network shown on a terminal: cells of a table (names cut
 * to a column with "…", ages in one unit: "5m"), lines, JSON documents.
 *
 * The tools (injector-ctl, injector-consume --format text and table) print strings that
 * came over the network: a host name or an acknowledgement's comment may hold a terminal
 * escape or a newline, and a long name must not push the columns after it. Every string
 * printed goes through text_table_put; JSON through text_table_json. Pure functions; any
 * thread. */
#ifndef INJECTOR_TEXT_TABLE_H
#define INJECTOR_TEXT_TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

/* Terminal columns s takes as text_table_put prints it: one a character (NULL takes 0). */
size_t text_table_cols(const char *s);

/* Print s in at most width columns (SIZE_MAX: whole) on one line: a newline or a tab as a
 * space; a control character (C0, DEL, C1 U+0080-U+009F: terminal escapes from the
 * network), a bidi override or line separator, or a byte that is not UTF-8 as '?'. A longer s is
 * cut, never inside a UTF-8 sequence, and ends with "…". Returns the columns used. NULL or width 0
 * print nothing. */
size_t text_table_put(FILE *f, const char *s, size_t width);

/* text_table_put, then spaces up to width, and one more: a column and its gap. */
void text_table_cell(FILE *f, const char *s, size_t width);

/* json_dumpf(json, f, flags), with DEL and the C1 controls inside strings written as
 * "\u007F", "\u009B" (jansson escapes only the C0 ones): the same document, and nothing in
 * it a terminal obeys. Returns 0 or -ENOMEM. */
int text_table_json(FILE *f, const json_t *json, size_t flags);

/* "42s", "5m", "3h", "2d" (rounded down; "0s" for a time in the future) into buf. Returns
 * buf. */
const char *text_table_age(int64_t ms, char *buf, size_t size);

#endif
