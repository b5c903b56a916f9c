/* text_table.c - see text_table.h. */
#include "text_table.h"

#include "parsers/alert.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>

#define ELLIPSIS "\u2026" /* one column, three bytes */

/* The character at s (not at its end): returns the bytes it takes, and in *sub what is
 * printed instead of them, or '\0' to print them as they are. Each character takes one
 * column either way. Replaced: a newline and a tab by a space (a comment typed in lines
 * stays on its one line of output); the C0 controls, DEL, the C1 controls (U+0080-U+009F:
 * a terminal takes U+009B as CSI, an escape sequence without the ESC) and every byte that
 * does not begin a well-formed UTF-8 sequence (the Unicode standard's table 3-7: no
 * overlong forms, no surrogates) by '?', one byte at a time; a bidi override or a line
 * separator (alert_reordering_char: it would move the columns after it) by '?'. */
static size_t char_at(const unsigned char *s, char *sub)
{
    unsigned char c = s[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* the second byte's range */
    *sub = '\0';
    if (c < 0x80) {
        if (c == '\n' || c == '\t')
            *sub = ' ';
        else if (c < 0x20 || c == 0x7F)
            *sub = '?';
        return 1;
    }
    if (c == 0xC2 && s[1] >= 0x80 && s[1] <= 0x9F) {
        *sub = '?';
        return 2;
    }
    if (c >= 0xC2 && c <= 0xDF)
        len = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        len = 3, lo = c == 0xE0 ? 0xA0 : 0x80, hi = c == 0xED ? 0x9F : 0xBF;
    else if (c >= 0xF0 && c <= 0xF4)
        len = 4, lo = c == 0xF0 ? 0x90 : 0x80, hi = c == 0xF4 ? 0x8F : 0xBF;
    else
        len = 0;
    bool ok = len > 0 && s[1] >= lo && s[1] <= hi;
    for (size_t i = 2; ok && i < len; i++)
        ok = (s[i] & 0xC0) == 0x80; /* stops at the terminating NUL too */
    if (!ok) {
        *sub = '?';
        return 1;
    }
    if (alert_reordering_char(s) != 0)
        *sub = '?'; /* a bidi override or a line separator: it would move the columns */
    return len;
}

size_t text_table_cols(const char *s)
{
    size_t n = 0;
    char sub;
    for (const unsigned char *p = (const unsigned char *)s; p != NULL && *p != '\0'; n++)
        p += char_at(p, &sub);
    return n;
}

size_t text_table_put(FILE *f, const char *s, size_t width)
{
    if (s == NULL || width == 0)
        return 0;
    bool cut = text_table_cols(s) > width;
    size_t limit = cut ? width - 1 : width, n = 0;
    char sub;
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0' && n < limit; n++) {
        size_t len = char_at(p, &sub);
        if (sub != '\0')
            fputc(sub, f);
        else
            fwrite(p, 1, len, f);
        p += len;
    }
    if (cut)
        fputs(ELLIPSIS, f);
    return cut ? width : n;
}

void text_table_cell(FILE *f, const char *s, size_t width)
{
    size_t n = text_table_put(f, s, width);
    for (; n < width + 1; n++)
        fputc(' ', f);
}

int text_table_json(FILE *f, const json_t *json, size_t flags)
{
    char *text = json_dumps(json, flags);
    if (text == NULL)
        return -ENOMEM;
    /* jansson escapes the C0 controls only. Outside its strings JSON text is ASCII with no
     * DEL, and 0xC2 only ever leads a character: these bytes are inside strings, where
     * "\u009b" means the same character. */
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == 0x7F) {
            fputs("\\u007F", f);
        } else if (*p == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F) {
            fprintf(f, "\\u%04X", p[1]); /* as jansson writes them */
            p++;
        } else {
            fputc(*p, f);
        }
    }
    free(text);
    return 0;
}

const char *text_table_age(int64_t ms, char *buf, size_t size)
{
    int64_t s = ms > 0 ? ms / 1000 : 0;
    if (s < 60)
        snprintf(buf, size, "%" PRId64 "s", s);
    else if (s < 3600)
        snprintf(buf, size, "%" PRId64 "m", s / 60);
    else if (s < 86400)
        snprintf(buf, size, "%" PRId64 "h", s / 3600);
    else
        snprintf(buf, size, "%" PRId64 "d", s / 86400);
    return buf;
}
