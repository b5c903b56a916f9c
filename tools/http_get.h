/* http_get.h - a GET of one JSON document from a collector's HTTP API.
 *
 * HTTP/1.0 over a plain socket: the tools only ever ask injectord's own API (on loopback or
 * a monitoring network) for /v1/stats or /v1/alerts, and libcurl would be a new dependency
 * for these few lines. */
#ifndef INJECTOR_HTTP_GET_H
#define INJECTOR_HTTP_GET_H

#include <jansson.h>
#include <stddef.h>

/* GET url (http://host[:port]/path, host may be [v6]) with a 5 s socket timeout, sending
 * 'Authorization: Bearer token' when token is not NULL. Returns 0 and the parsed body in
 * *out (json_decref it), or -1 with err filled (unreachable, status not 200, not JSON). */
int http_get_json(const char *url, const char *token, json_t **out, char *err, size_t errlen);

#endif
