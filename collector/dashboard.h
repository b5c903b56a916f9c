/* dashboard.h - the dashboard page (collector/dashboard/), built into the binary.
 *
 * Static files only: the page's script fetches /v1/alerts like any other client, so the
 * page itself holds no data and needs no token. cmake/embed.cmake generates the table. */
#ifndef INJECTOR_DASHBOARD_H
#define INJECTOR_DASHBOARD_H

#include <stddef.h>

struct dashboard_file {
    const char *path; /* "/", "/dashboard.js", ... */
    const char *type; /* Content-Type */
    const unsigned char *data;
    size_t len;
};

/* Ends with an entry whose path is NULL. */
extern const struct dashboard_file dashboard_files[];

#endif
