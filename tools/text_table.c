/* text_table.c - see text_table.h. */
#include "text_table.h"

#include <inttypes.h>
#include <stdbool.h>

#define ELLIPSIS "\u2026" /* one column, three bytes */

size_t text_table_cols(const char *s)
{
    size_t n = 0;
    for (; s != NULL && *s != '\0'; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

size_t text_table_put(FILE *f, const char *s, size_t width)
{
    if (s == NULL || width == 0)
        return 0;
    bool cut = text_table_cols(s) > width;
    size_t limit = cut ? width - 1 : width, n = 0;
    for (; *s != '\0'; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c & 0xC0) != 0x80 && n++ == limit)
            break;
        /* C1 controls (U+0080-U+009F, 0xC2 0x80-0x9F) too: a terminal takes U+009B as CSI,
         * an escape sequence without the ESC. One '?' for the two bytes: one column. */
        if (c == 0xC2 && ((unsigned char)s[1] & 0xE0) == 0x80) {
            fputc('?', f);
            s++;
            continue;
        }
        fputc(c < 0x20 || c == 0x7f ? '?' : c, f);
    }
    if (cut)
        fputs(ELLIPSIS, f);
    return cut ? width : n; /* uncut: the loop never stopped early */
}

void text_table_cell(FILE *f, const char *s, size_t width)
{
    size_t n = text_table_put(f, s, width);
    for (; n < width + 1; n++)
        fputc(' ', f);
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
