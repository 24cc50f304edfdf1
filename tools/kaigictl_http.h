/* kaigictl: one blocking HTTP/1.1 request over libwebsockets' client, on
 * lws's own poll loop (kaigictl has no other I/O to interleave). */
#ifndef KCTL_HTTP_H
#define KCTL_HTTP_H

#include <stddef.h>

#include "tools/kaigictl_args.h"

/* The largest response body kaigictl reads; more is an error. */
#define KCTL_HTTP_MAX_BODY (4u * 1024 * 1024)

typedef struct kctl_http_resp {
    int status;  /* HTTP status code */
    char *body;  /* owned, NUL-terminated (may hold NULs before len) */
    size_t len;
} kctl_http_resp;

/* Sends method path to url with (https: over TLS, the server's
 * certificate checked against the PEM CA file ca, or with ca NULL the
 * system's trusted CAs, and against url->host), if non-NULL, "Authorization: auth" and a
 * JSON body ("Content-Type: application/json"), and waits up to
 * timeout_ms for the whole answer. On success fills *out (free with
 * kctl_http_resp_free) and returns 0, whatever the HTTP status. Returns
 * KG_ERR_IO (could not connect, connection lost), KG_ERR_TIMEOUT,
 * KG_ERR_FULL (body over KCTL_HTTP_MAX_BODY) or KG_ERR_NOMEM, with one
 * sentence in err. auth is never written to err or any log. */
int kctl_http_request(const kctl_url *url, const char *ca,
                      const char *method, const char *path, const char *auth,
                      const char *body, int timeout_ms, kctl_http_resp *out,
                      char *err, size_t errcap);

void kctl_http_resp_free(kctl_http_resp *r);

#endif
