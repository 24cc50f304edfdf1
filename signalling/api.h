/* The REST API (signalling/API.md), independent of the HTTP library:
 * server.c hands it a parsed request and sends back what it returns. */
#ifndef KG_API_H
#define KG_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "signalling/store.h"

#define KG_API_MAX_BODY 16384

enum kg_http_method {
    KG_HTTP_GET,
    KG_HTTP_POST,
    KG_HTTP_PUT,
    KG_HTTP_DELETE,
    KG_HTTP_OTHER,
};

typedef struct kg_api_req {
    enum kg_http_method method;
    const char *path;          /* "/api/meetings/123" */
    const char *authorization; /* the header's value, "" if none */
    const char *body;          /* NULL or len bytes */
    size_t body_len;
    int64_t now;               /* Unix seconds */
} kg_api_req;

typedef struct kg_api_resp {
    unsigned status;
    json_t *body; /* owned by the caller after the call; NULL for 204 */
} kg_api_resp;

typedef struct kg_api {
    kg_store *store;
    const char *base_url; /* "http://127.0.0.1:8080" for links */
    int pin_digits;
} kg_api;

/* Handles one /api/meetings... request. Always fills resp. */
void kg_api_meetings(const kg_api *api, const kg_api_req *req,
                     kg_api_resp *resp);

/* True if authorization ("Bearer <token>") carries the admin token. */
bool kg_api_is_admin(const kg_api *api, const char *authorization);

/* RFC 3339 → Unix seconds ("2026-11-23T09:00:00Z", "+09:00" offsets,
 * optional fractional seconds), 0 to KG_RFC3339_MAX (whatever is parsed
 * can be formatted and parsed back). Returns 0 or KG_ERR_INVAL. */
#define KG_RFC3339_MAX 253402300799LL /* 9999-12-31T23:59:59Z */
int kg_rfc3339_parse(const char *s, int64_t *out);
/* Unix seconds → "2026-11-23T09:00:00Z" (21 bytes with NUL). */
void kg_rfc3339_format(int64_t t, char out[32]);

#endif
