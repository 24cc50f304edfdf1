/* Ops statistics over HTTP (signalling/API.md, "Stats for ops"):
 * GET /api/rooms, GET /api/rooms/{id}/stats and GET /metrics (Prometheus
 * text format 0.0.4), all behind the admin token. Room names and
 * participant names live on the signalling thread; the numbers come from
 * each media worker's latest snapshot (kg_worker_get_parts), so reading
 * them never stalls a worker. Signalling thread only.
 */
#ifndef KG_STATS_H
#define KG_STATS_H

#include <stddef.h>

#include <jansson.h>

#include "signalling/api.h"
#include "signalling/session.h"

/* Handles GET /api/rooms and GET /api/rooms/{id}/stats (req->path).
 * Always fills resp: 200, 401 unauthorized, 404 not_found,
 * 405 method_not_allowed, 500 internal. */
void kg_stats_rooms(kg_sfu *s, const kg_api_req *req, kg_api_resp *resp);

/* Handles GET /metrics. On 200 *text is the exposition (malloc'd, caller
 * frees, *len bytes) and resp->body is NULL; otherwise resp holds the
 * JSON error as kg_stats_rooms would. Returns resp->status. */
unsigned kg_stats_metrics(kg_sfu *s, const kg_api_req *req, char **text,
                          size_t *len, kg_api_resp *resp);

/* Writes in as a Prometheus label value (backslash, double quote and
 * newline escaped) into out, NUL-terminated. Returns the length written,
 * or KG_ERR_NOSPACE if cap is too small. */
int kg_prom_escape(const char *in, char *out, size_t cap);

#endif
