/* plot_svg.h - a small line chart of points as a standalone SVG file, for the tools.
 *
 * Points joined by a line in order of x and drawn as circles (one <circle class="point">
 * each, so a reader can count them), axes with ticks and labels, a title and a subtitle.
 * The x axis may be logarithmic (ticks at 1, 2 and 5 times powers of ten), the y axis is
 * linear from 0 (or below, for negative values). Plain SVG 1.1 text: no script, no fonts
 * to fetch, any browser or viewer shows it. Text given is escaped for XML.
 *
 * Any thread; nothing is kept between calls.
 */
#ifndef INJECTOR_PLOT_SVG_H
#define INJECTOR_PLOT_SVG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct plot_svg_point {
    double x, y;
    bool bad; /* drawn in the warning colour (a step with loss) */
};

struct plot_svg {
    const char *title, *subtitle; /* subtitle may be NULL */
    const char *x_label, *y_label;
    bool log_x; /* every x must then be > 0 */
    const struct plot_svg_point *points;
    size_t n; /* in any order; drawn sorted by x */
};

/* Write the chart to f. Returns 0, -EINVAL (no points, or log_x with an x <= 0), -ENOMEM, or
 * -EIO when writing failed (errno may say more). Does not close f. */
int plot_svg_write(const struct plot_svg *p, FILE *f);

#endif
