#include "signalling/api.h"

#include <ctype.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/err.h"

/* --- time ------------------------------------------------------------ */

static bool digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

int kg_rfc3339_parse(const char *s, int64_t *out)
{
    int Y, M, D, h, m, sec;
    if (strlen(s) < 20 || !digits(s, 4, &Y) || s[4] != '-' ||
        !digits(s + 5, 2, &M) || s[7] != '-' || !digits(s + 8, 2, &D) ||
        (s[10] != 'T' && s[10] != 't') || !digits(s + 11, 2, &h) ||
        s[13] != ':' || !digits(s + 14, 2, &m) || s[16] != ':' ||
        !digits(s + 17, 2, &sec))
        return KG_ERR_INVAL;
    if (Y < 1970 || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 ||
        sec > 60)
        return KG_ERR_INVAL;
    const char *p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return KG_ERR_INVAL;
        while (isdigit((unsigned char)*p))
            p++;
    }
    int64_t offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int oh, om;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return KG_ERR_INVAL;
        offset = (int64_t)(oh * 3600 + om * 60) * (*p == '+' ? 1 : -1);
        p += 6;
    } else {
        return KG_ERR_INVAL;
    }
    if (*p)
        return KG_ERR_INVAL;
    struct tm tm = {.tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                    .tm_hour = h, .tm_min = m, .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1 || tm.tm_mday != D) /* 2026-02-31 normalises */
        return KG_ERR_INVAL;
    /* Only what kg_rfc3339_format writes back as a time this parser
     * reads: 1970-01-01T00:00:00Z to 9999-12-31T23:59:59Z. An offset can
     * push a year-9999 time into the year 10000, or 1970 into 1969. */
    int64_t v = (int64_t)t - offset;
    if (v < 0 || v > KG_RFC3339_MAX)
        return KG_ERR_INVAL;
    *out = v;
    return 0;
}

void kg_rfc3339_format(int64_t t, char out[32])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* --- responses ------------------------------------------------------- */

static void error(kg_api_resp *r, unsigned status, const char *code,
                  const char *msg)
{
    r->status = status;
    r->body = json_pack("{s:s, s:s}", "error", code, "message", msg);
}

static json_t *settings_json(const kg_meeting_settings *s)
{
    return json_pack("{s:b, s:b, s:s, s:b, s:b}", "waiting_room",
                     s->waiting_room, "join_before_host", s->join_before_host,
                     "screen_share",
                     s->screen_share == KG_SHARE_ALL ? "all" : "host", "chat",
                     s->chat, "allow_rename", s->allow_rename);
}

static json_t *meeting_json(const kg_meeting *m)
{
    char start[32], created[32];
    kg_rfc3339_format(m->start, start);
    kg_rfc3339_format(m->created, created);
    return json_pack("{s:s, s:s, s:s, s:I, s:s, s:o}", "id", m->id, "title",
                     m->title, "start", start, "duration",
                     (json_int_t)m->duration, "created", created, "settings",
                     settings_json(&m->settings));
}

/* --- request bodies -------------------------------------------------- */

static const char *unknown_key(json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i] && !ok; i++)
            ok = strcmp(key, allowed[i]) == 0;
        if (!ok)
            return key;
    }
    return NULL;
}

static bool parse_settings(json_t *js, kg_meeting_settings *s, char *why,
                           size_t wlen)
{
    static const char *const keys[] = {"waiting_room", "join_before_host",
                                       "screen_share", "chat",
                                       "allow_rename", NULL};
    if (!json_is_object(js)) {
        snprintf(why, wlen, "'settings' must be an object");
        return false;
    }
    const char *bad = unknown_key(js, keys);
    if (bad) {
        snprintf(why, wlen, "unknown settings field '%s'", bad);
        return false;
    }
    struct {
        const char *name;
        bool *field;
    } flags[] = {{"waiting_room", &s->waiting_room},
                 {"join_before_host", &s->join_before_host},
                 {"chat", &s->chat},
                 {"allow_rename", &s->allow_rename}};
    for (size_t i = 0; i < KG_ARRAY_LEN(flags); i++) {
        json_t *v = json_object_get(js, flags[i].name);
        if (!v)
            continue;
        if (!json_is_boolean(v)) {
            snprintf(why, wlen, "'%s' must be true or false", flags[i].name);
            return false;
        }
        *flags[i].field = json_is_true(v);
    }
    json_t *share = json_object_get(js, "screen_share");
    if (share) {
        const char *v = json_string_value(share);
        if (v && strcmp(v, "host") == 0)
            s->screen_share = KG_SHARE_HOST;
        else if (v && strcmp(v, "all") == 0)
            s->screen_share = KG_SHARE_ALL;
        else {
            snprintf(why, wlen, "'screen_share' must be \"host\" or \"all\"");
            return false;
        }
    }
    return true;
}

/* Applies the fields of a create/update body to m. */
static bool parse_meeting(json_t *body, kg_meeting *m, bool create,
                          int64_t now, char *why, size_t wlen)
{
    static const char *const keys[] = {"title", "start", "duration",
                                       "settings", NULL};
    const char *bad = unknown_key(body, keys);
    if (bad) {
        snprintf(why, wlen, "unknown field '%s'", bad);
        return false;
    }
    json_t *title = json_object_get(body, "title");
    json_t *start = json_object_get(body, "start");
    json_t *dur = json_object_get(body, "duration");
    json_t *settings = json_object_get(body, "settings");
    if (create && (!title || !start || !dur)) {
        snprintf(why, wlen, "'title', 'start' and 'duration' are required");
        return false;
    }
    if (title) {
        const char *t = json_string_value(title);
        if (!t || strlen(t) == 0 || strlen(t) > KG_TITLE_MAX) {
            snprintf(why, wlen, "'title' must be 1-%d bytes", KG_TITLE_MAX);
            return false;
        }
        snprintf(m->title, sizeof(m->title), "%s", t);
    }
    if (start) {
        const char *t = json_string_value(start);
        if (!t || kg_rfc3339_parse(t, &m->start) != 0) {
            snprintf(why, wlen, "'start' must be an RFC 3339 time");
            return false;
        }
        if (m->start > now + KG_MAX_AHEAD_S) {
            snprintf(why, wlen, "'start' must be at most 5 years ahead");
            return false;
        }
    }
    if (dur) {
        if (!json_is_integer(dur) || json_integer_value(dur) < 60 ||
            json_integer_value(dur) > 86400) {
            snprintf(why, wlen, "'duration' must be 60-86400 seconds");
            return false;
        }
        m->duration = json_integer_value(dur);
    }
    if (settings && !parse_settings(settings, &m->settings, why, wlen))
        return false;
    return true;
}

static json_t *parse_body(const kg_api_req *req, kg_api_resp *resp)
{
    json_error_t jerr;
    if (req->body_len > KG_API_MAX_BODY) {
        error(resp, 413, "too_large", "request body over 16 KiB");
        return NULL;
    }
    json_t *j = req->body ? json_loadb(req->body, req->body_len,
                                       JSON_REJECT_DUPLICATES, &jerr)
                          : NULL;
    if (!json_is_object(j)) {
        json_decref(j);
        error(resp, 400, "bad_json", "the body must be a JSON object");
        return NULL;
    }
    return j;
}

/* --- authentication -------------------------------------------------- */

enum auth { AUTH_NONE, AUTH_ADMIN, AUTH_HOST };

static enum auth authenticate(const kg_api *api, const kg_api_req *req,
                              const char *meeting_id)
{
    const char *a = req->authorization;
    if (strncmp(a, "Bearer ", 7) == 0 && kg_store_check_admin(api->store, a + 7))
        return AUTH_ADMIN;
    if (meeting_id && strncmp(a, "HostKey ", 8) == 0 &&
        kg_store_check_host_key(api->store, meeting_id, a + 8) == 0)
        return AUTH_HOST;
    return AUTH_NONE;
}

bool kg_api_is_admin(const kg_api *api, const char *authorization)
{
    kg_api_req req = {.authorization = authorization ? authorization : ""};
    return authenticate(api, &req, NULL) == AUTH_ADMIN;
}

static bool valid_id(const char *id)
{
    if (strlen(id) != KG_MEETING_ID_LEN)
        return false;
    for (const char *p = id; *p; p++) {
        if (!isdigit((unsigned char)*p))
            return false;
    }
    return true;
}

/* --- handlers -------------------------------------------------------- */

static void list_one(void *user, const kg_meeting *m)
{
    json_array_append_new(user, meeting_json(m));
}

static void create_meeting(const kg_api *api, const kg_api_req *req,
                           kg_api_resp *resp)
{
    json_t *body = parse_body(req, resp);
    if (!body)
        return;
    kg_meeting m;
    memset(&m, 0, sizeof(m));
    kg_meeting_settings_default(&m.settings);
    char why[128];
    if (!parse_meeting(body, &m, true, req->now, why, sizeof(why))) {
        json_decref(body);
        error(resp, 400, strstr(why, "unknown") ? "unknown_field"
                                                : "bad_request",
              why);
        return;
    }
    json_decref(body);
    kg_meeting out;
    char host_key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    int rc = kg_store_meeting_create(api->store, &m, api->pin_digits, &out,
                                     host_key, pin);
    memset(pin, 0, sizeof(pin)); /* the PIN is released by join-info */
    if (rc != 0) {
        error(resp, rc == KG_ERR_INVAL ? 400 : 500,
              rc == KG_ERR_INVAL ? "bad_request" : "internal",
              kg_strerror(rc));
        return;
    }
    kg_store_audit(api->store, out.id, "created", NULL, req->now);
    json_t *j = meeting_json(&out);
    char link[512];
    snprintf(link, sizeof(link), "%s/?meeting=%s&host_key=%s", api->base_url,
             out.id, host_key);
    json_object_set_new(j, "host_key", json_string(host_key));
    json_object_set_new(j, "host_link", json_string(link));
    memset(host_key, 0, sizeof(host_key));
    memset(link, 0, sizeof(link));
    resp->status = 201;
    resp->body = j;
}

static void update_meeting(const kg_api *api, const kg_api_req *req,
                           const char *id, kg_api_resp *resp)
{
    kg_meeting m;
    if (kg_store_meeting_get(api->store, id, &m) != 0) {
        error(resp, 404, "not_found", "no such meeting");
        return;
    }
    json_t *body = parse_body(req, resp);
    if (!body)
        return;
    char why[128];
    bool ok = parse_meeting(body, &m, false, req->now, why, sizeof(why));
    json_decref(body);
    if (!ok) {
        error(resp, 400, strstr(why, "unknown") ? "unknown_field"
                                                : "bad_request",
              why);
        return;
    }
    int rc = kg_store_meeting_update(api->store, &m);
    if (rc != 0) {
        error(resp, rc == KG_ERR_INVAL ? 400 : 500, "bad_request",
              kg_strerror(rc));
        return;
    }
    resp->status = 200;
    resp->body = meeting_json(&m);
}

static void join_info(const kg_api *api, const kg_api_req *req,
                      const kg_meeting *m, kg_api_resp *resp)
{
    char when[32];
    if (req->now < kg_meeting_opens(m)) {
        kg_rfc3339_format(kg_meeting_opens(m), when);
        char msg[128];
        snprintf(msg, sizeof(msg),
                 "join credentials are released from %s (5 minutes before "
                 "the start)",
                 when);
        error(resp, 403, "not_yet", msg);
        json_object_set_new(resp->body, "opens_at", json_string(when));
        return;
    }
    if (req->now > kg_meeting_ends(m)) {
        error(resp, 403, "ended", "the meeting has ended");
        return;
    }
    char pin[KG_PIN_MAX + 1];
    if (kg_store_meeting_pin(api->store, m->id, pin) != 0) {
        error(resp, 500, "internal", "cannot unseal the PIN");
        return;
    }
    char link[256];
    snprintf(link, sizeof(link), "%s/?meeting=%s", api->base_url, m->id);
    resp->status = 200;
    resp->body = json_pack("{s:s, s:s, s:s}", "meeting", m->id, "pin", pin,
                           "link", link);
    memset(pin, 0, sizeof(pin));
}

static void invites(const kg_api *api, const kg_api_req *req,
                    const kg_meeting *m, kg_api_resp *resp)
{
    json_t *body = parse_body(req, resp);
    if (!body)
        return;
    static const char *const keys[] = {"count", NULL};
    const char *bad = unknown_key(body, keys);
    json_t *jc = json_object_get(body, "count");
    json_int_t n = json_is_integer(jc) ? json_integer_value(jc) : 0;
    json_decref(body);
    if (bad || n < 1 || n > 100) {
        error(resp, 400, bad ? "unknown_field" : "bad_request",
              "body is {\"count\": 1..100}");
        return;
    }
    char (*tokens)[KG_INVITE_LEN + 1] = calloc((size_t)n, sizeof(*tokens));
    if (!tokens || kg_store_invites_create(api->store, m->id, (size_t)n,
                                           tokens) != 0) {
        free(tokens);
        error(resp, 500, "internal", "cannot make invites");
        return;
    }
    json_t *arr = json_array();
    for (json_int_t i = 0; i < n; i++) {
        char link[256];
        snprintf(link, sizeof(link), "%s/?invite=%s", api->base_url,
                 tokens[i]);
        json_array_append_new(arr, json_pack("{s:s, s:s}", "token", tokens[i],
                                             "link", link));
    }
    memset(tokens, 0, (size_t)n * sizeof(*tokens));
    free(tokens);
    resp->status = 201;
    resp->body = json_pack("{s:o}", "invites", arr);
}

static void audit_one(void *user, int64_t ts, const char *event,
                      const char *nickname)
{
    char when[32];
    kg_rfc3339_format(ts, when);
    json_t *e = json_pack("{s:s, s:s}", "time", when, "event", event);
    if (nickname)
        json_object_set_new(e, "name", json_string(nickname));
    json_array_append_new(user, e);
}

/* /api/meetings/{id}[/sub] */
static void one_meeting(const kg_api *api, const kg_api_req *req,
                        const char *rest, kg_api_resp *resp)
{
    char id[KG_MEETING_ID_LEN + 2];
    const char *slash = strchr(rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *sub = slash ? slash + 1 : "";
    if (idlen >= sizeof(id)) {
        error(resp, 404, "not_found", "no such meeting");
        return;
    }
    memcpy(id, rest, idlen);
    id[idlen] = '\0';
    enum auth who = valid_id(id) ? authenticate(api, req, id) : AUTH_NONE;
    if (who == AUTH_NONE) {
        error(resp, 401, "unauthorized", "admin token or host key required");
        return;
    }
    kg_meeting m;
    if (kg_store_meeting_get(api->store, id, &m) != 0) {
        error(resp, 404, "not_found", "no such meeting");
        return;
    }
    bool admin = who == AUTH_ADMIN;
    if (strcmp(sub, "") == 0 && req->method == KG_HTTP_GET) {
        resp->status = 200;
        resp->body = meeting_json(&m);
    } else if (strcmp(sub, "") == 0 && req->method == KG_HTTP_PUT && admin) {
        update_meeting(api, req, id, resp);
    } else if (strcmp(sub, "") == 0 && req->method == KG_HTTP_DELETE &&
               admin) {
        kg_store_meeting_delete(api->store, id);
        resp->status = 204;
        resp->body = NULL;
    } else if (strcmp(sub, "join-info") == 0 && req->method == KG_HTTP_GET) {
        join_info(api, req, &m, resp);
    } else if (strcmp(sub, "invites") == 0 && req->method == KG_HTTP_POST) {
        invites(api, req, &m, resp);
    } else if (strcmp(sub, "audit") == 0 && req->method == KG_HTTP_GET) {
        json_t *arr = json_array();
        kg_store_audit_list(api->store, id, audit_one, arr);
        resp->status = 200;
        resp->body = json_pack("{s:o}", "events", arr);
    } else if (!admin && (strcmp(sub, "") == 0)) {
        error(resp, 401, "unauthorized", "admin token required");
    } else {
        error(resp, 405, "method_not_allowed", "method not allowed here");
    }
}

void kg_api_meetings(const kg_api *api, const kg_api_req *req,
                     kg_api_resp *resp)
{
    const char *p = req->path + strlen("/api/meetings");
    resp->body = NULL;
    if (*p == '\0') {
        if (authenticate(api, req, NULL) != AUTH_ADMIN) {
            error(resp, 401, "unauthorized", "admin token required");
        } else if (req->method == KG_HTTP_POST) {
            create_meeting(api, req, resp);
        } else if (req->method == KG_HTTP_GET) {
            json_t *arr = json_array();
            kg_store_meeting_list(api->store, list_one, arr);
            resp->status = 200;
            resp->body = json_pack("{s:o}", "meetings", arr);
        } else {
            error(resp, 405, "method_not_allowed", "use GET or POST");
        }
        return;
    }
    if (*p != '/' || p[1] == '\0') {
        error(resp, 404, "not_found", "no such endpoint");
        return;
    }
    one_meeting(api, req, p + 1, resp);
}
