/* kaigi-bench's HTTP/1.1 client for Janus's REST API (--janus): one
 * request per TCP connection ("Connection: close"), on the caller's libuv
 * loop, so the Janus signalling of many clients runs beside their media
 * without threads. Loopback only: the bench never talks to anything else.
 *
 * Bounded: a response larger than KB_HTTP_MAX_RESPONSE, or one that does
 * not complete within the request's timeout, is an error. */
#ifndef KB_BENCH_HTTP_H
#define KB_BENCH_HTTP_H

#include <netinet/in.h>
#include <stddef.h>
#include <sys/types.h>
#include <uv.h>

#define KB_HTTP_MAX_RESPONSE (1u << 20)

/* Called once per request. status is the HTTP status (200...), or a
 * negative KG_ERR_*: KG_ERR_IO (connect/read/write failed, or the peer
 * closed before a complete response), KG_ERR_TIMEOUT, KG_ERR_MALFORMED
 * (not an HTTP/1.x response), KG_ERR_TRUNC (over KB_HTTP_MAX_RESPONSE).
 * body is the response body, NUL-terminated, valid only during the call
 * (NULL when status < 0). */
typedef void (*kb_http_cb)(void *user, int status, const char *body,
                           size_t len);

/* Sends method (e.g. "GET", "POST") path to addr with body (NULL: none;
 * sent as application/json). Returns 0 (cb will be called) or
 * KG_ERR_NOMEM / KG_ERR_IO (cb will not be called). */
int kb_http_request(uv_loop_t *loop, const struct sockaddr_in *addr,
                    const char *method, const char *path, const char *body,
                    unsigned timeout_ms, kb_http_cb cb, void *user);

/* Parses a whole HTTP/1.x response in buf (len bytes; the connection has
 * closed, so the message ends at len): sets *status and the body's offset
 * and length within buf. A body with "Transfer-Encoding: chunked" is
 * de-chunked in place. With Content-Length, the body must be complete.
 * Returns 0, KG_ERR_MALFORMED or KG_ERR_TRUNC (the response is cut
 * short). Pure: no I/O; exposed for the unit test and the fuzz target. */
int kb_http_parse_response(char *buf, size_t len, int *status,
                           size_t *body_off, size_t *body_len);

/* Splits "http://127.0.0.1:PORT/path" into addr and path (path_cap
 * bytes, without a trailing '/'). Only numeric IPv4 hosts. Returns 0 or
 * KG_ERR_INVAL. */
int kb_http_parse_url(const char *url, struct sockaddr_in *addr, char *path,
                      size_t path_cap);

#endif
