/* plot_svg.c - a line chart as SVG text. */
#include "plot_svg.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The canvas and the plot area inside it, in SVG user units (px). */
#define WIDTH  800.0
#define HEIGHT 480.0
#define LEFT   80.0
#define RIGHT  30.0
#define TOP    70.0
#define BOTTOM 70.0

/* Ticks an axis gets at most: a label needs some 60 px. */
#define MAX_TICKS 16

struct axis {
    double lo, hi; /* the values at the ends (log10 of them for a log axis) */
    bool log;
    double ticks[MAX_TICKS]; /* values, not logs */
    size_t n_ticks;
};

static void put_escaped(FILE *f, const char *s)
{
    for (; *s != '\0'; s++) {
        switch (*s) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

/* 1000 -> "1k", 2000000 -> "2M", 0.5 -> "0.5": the short form a tick label wants. */
static void format_value(double v, char *buf, size_t size)
{
    double a = fabs(v);
    if (a >= 1e6 && fmod(a, 1e5) == 0)
        snprintf(buf, size, "%gM", v / 1e6);
    else if (a >= 1e3 && fmod(a, 100) == 0)
        snprintf(buf, size, "%gk", v / 1e3);
    else
        snprintf(buf, size, "%g", v);
}

/* A linear axis from lo to hi with "nice" ticks (1, 2 or 5 times a power of ten apart),
 * widened to whole ticks. */
static void linear_axis(double lo, double hi, struct axis *a)
{
    if (hi <= lo) { /* one value: in the middle */
        double d = lo != 0 ? fabs(lo) / 2 : 1;
        lo -= d;
        hi += d;
    }
    double raw = (hi - lo) / 5, p = pow(10, floor(log10(raw))), step = p;
    if (raw / p > 5)
        step = 10 * p;
    else if (raw / p > 2)
        step = 5 * p;
    else if (raw / p > 1)
        step = 2 * p;
    a->log = false;
    a->lo = floor(lo / step) * step;
    a->hi = ceil(hi / step) * step;
    a->n_ticks = 0;
    for (double v = a->lo; v <= a->hi + step / 2 && a->n_ticks < MAX_TICKS; v += step)
        a->ticks[a->n_ticks++] = fabs(v) < step / 2 ? 0 : v; /* no "-0" */
}

/* A log axis over [lo, hi] (both > 0), from the power of ten below to the one above when
 * that is near, ticks at 1, 2, 5 x 10^k; thinned to 1 x 10^k when there are too many. */
static void log_axis(double lo, double hi, struct axis *a)
{
    static const double mant[] = {1, 2, 5};
    a->log = true;
    if (hi <= lo) { /* one value: a factor of two either side */
        lo /= 2;
        hi *= 2;
    }
    a->lo = log10(lo) - 0.05;
    a->hi = log10(hi) + 0.05;
    for (int pass = 0; pass < 2; pass++) {
        a->n_ticks = 0;
        for (double p = pow(10, floor(a->lo)); p <= pow(10, ceil(a->hi)); p *= 10)
            for (size_t m = 0; m < (pass == 0 ? 3 : 1); m++) {
                double v = mant[m] * p, l = log10(v);
                if (l >= a->lo && l <= a->hi && a->n_ticks < MAX_TICKS)
                    a->ticks[a->n_ticks++] = v;
            }
        if (a->n_ticks <= 10)
            break;
    }
}

/* Where value v falls on axis a, from 0 to 1. */
static double frac(const struct axis *a, double v)
{
    double t = a->log ? log10(v) : v;
    return (t - a->lo) / (a->hi - a->lo);
}

static double px(const struct axis *a, double v)
{
    return LEFT + frac(a, v) * (WIDTH - LEFT - RIGHT);
}

static double py(const struct axis *a, double v)
{
    return HEIGHT - BOTTOM - frac(a, v) * (HEIGHT - TOP - BOTTOM);
}

static int by_x(const void *a, const void *b)
{
    double x = ((const struct plot_svg_point *)a)->x, y = ((const struct plot_svg_point *)b)->x;
    return (x > y) - (x < y);
}

int plot_svg_write(const struct plot_svg *p, FILE *f)
{
    if (p->n == 0)
        return -EINVAL;
    struct plot_svg_point *pts = malloc(p->n * sizeof(*pts));
    if (pts == NULL)
        return -ENOMEM;
    memcpy(pts, p->points, p->n * sizeof(*pts));
    qsort(pts, p->n, sizeof(*pts), by_x);
    double x_lo = pts[0].x, x_hi = pts[p->n - 1].x, y_lo = 0, y_hi = 0;
    for (size_t i = 0; i < p->n; i++) {
        y_lo = fmin(y_lo, pts[i].y);
        y_hi = fmax(y_hi, pts[i].y);
    }
    if (p->log_x && x_lo <= 0) {
        free(pts);
        return -EINVAL;
    }
    struct axis ax, ay;
    if (p->log_x)
        log_axis(x_lo, x_hi, &ax);
    else
        linear_axis(x_lo, x_hi, &ax);
    linear_axis(y_lo, y_hi > y_lo ? y_hi : y_lo + 1, &ay);

    char v[32];
    double x0 = LEFT, x1 = WIDTH - RIGHT, y0 = HEIGHT - BOTTOM, y1 = TOP;
    fprintf(f,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
            "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%.0f\" "
            "height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\" font-family=\"sans-serif\" "
            "font-size=\"13\">\n"
            "<style>.grid{stroke:#ddd}.axis{stroke:#333}.line{fill:none;stroke:#1f6fb2;"
            "stroke-width:2}.point{fill:#1f6fb2}.point.bad{fill:#c62828}</style>\n"
            "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
            WIDTH, HEIGHT, WIDTH, HEIGHT);
    fprintf(f,
            "<text x=\"%.1f\" y=\"28\" text-anchor=\"middle\" font-size=\"16\" "
            "font-weight=\"bold\">",
            WIDTH / 2);
    put_escaped(f, p->title);
    fputs("</text>\n", f);
    if (p->subtitle != NULL) {
        fprintf(f, "<text x=\"%.1f\" y=\"50\" text-anchor=\"middle\">", WIDTH / 2);
        put_escaped(f, p->subtitle);
        fputs("</text>\n", f);
    }
    /* Grid lines and tick labels, then the axes over them. */
    for (size_t i = 0; i < ax.n_ticks; i++) {
        double x = px(&ax, ax.ticks[i]);
        format_value(ax.ticks[i], v, sizeof(v));
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
                x, y0, x, y1, x, y0 + 20, v);
    }
    for (size_t i = 0; i < ay.n_ticks; i++) {
        double y = py(&ay, ay.ticks[i]);
        format_value(ay.ticks[i], v, sizeof(v));
        fprintf(f,
                "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
                "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
                x0, y, x1, y, x0 - 8, y + 4, v);
    }
    fprintf(f,
            "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>"
            "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\"/>\n",
            x0, y0, x1, y0, x0, y0, x0, y1);
    fprintf(f, "<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">", (x0 + x1) / 2, HEIGHT - 20);
    put_escaped(f, p->x_label);
    fprintf(f,
            "</text>\n<text x=\"20\" y=\"%.1f\" text-anchor=\"middle\" "
            "transform=\"rotate(-90 20 %.1f)\">",
            (y0 + y1) / 2, (y0 + y1) / 2);
    put_escaped(f, p->y_label);
    fputs("</text>\n<polyline class=\"line\" points=\"", f);
    for (size_t i = 0; i < p->n; i++)
        fprintf(f, "%s%.1f,%.1f", i > 0 ? " " : "", px(&ax, pts[i].x), py(&ay, pts[i].y));
    fputs("\"/>\n", f);
    for (size_t i = 0; i < p->n; i++) {
        char xs[32], ys[32];
        format_value(pts[i].x, xs, sizeof(xs));
        snprintf(ys, sizeof(ys), "%g", pts[i].y);
        fprintf(f,
                "<circle class=\"point%s\" cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\"><title>%.0f: "
                "%s</title></circle>\n",
                pts[i].bad ? " bad" : "", px(&ax, pts[i].x), py(&ay, pts[i].y), pts[i].x, ys);
    }
    fputs("</svg>\n", f);
    free(pts);
    return ferror(f) ? -EIO : 0;
}
