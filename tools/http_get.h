/* http_get.h - a request to a collector's HTTP API: a GET of one JSON document, or a POST
 * of one (an acknowledgement) and its JSON answer.
 *
 * HTTP/1.0 over a plain socket: the tools only ever ask injectord's own API (on loopback or
 * a monitoring network) for /v1/stats or /v1/alerts, or post to /v1/ack, and libcurl would
 * be a new dependency for these few lines. Any thread; blocking (5 s socket timeouts). */
#ifndef INJECTOR_HTTP_GET_H
#define INJECTOR_HTTP_GET_H

#include <jansson.h>
#include <stddef.h>

/* Send method ("GET" or "POST") to url (http://host[:port]/path, host may be [v6]) with a
 * 5 s socket timeout, 'Authorization: Bearer token' when token is not NULL, and body (NULL:
 * none) as the JSON request body. Returns 0 when the collector answered with a JSON body,
 * whatever its status: *status and *out (json_decref it; on a failure the collector's
 * {"error":...}). Returns -1 with err filled and *out NULL otherwise (unreachable, no
 * HTTP answer, a body that is not JSON); *status is then the status the collector
 * answered, or 0 when there was none. */
int http_get_request(const char *method, const char *url, const char *token, const json_t *body,
                     int *status, json_t **out, char *err, size_t errlen);

/* GET url as http_get_request does, and want a 200. Returns 0 and the parsed body in *out
 * (json_decref it), or -1 with err filled (unreachable, status not 200 with the collector's
 * error message when it gave one, not JSON). */
int http_get_json(const char *url, const char *token, json_t **out, char *err, size_t errlen);

#endif
