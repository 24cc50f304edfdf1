/* kaigi-bench --janus: the same synthetic client, signalled through Janus
 * VideoRoom's REST API (janus.plugin.videoroom, Janus 1.x multistream)
 * instead of kaigi's WebSocket, so that one load can be run against both.
 *
 * Per client, on the bench process's uv loop (bench_http.c, one TCP
 * connection per request, no threads):
 *   1. POST /janus            {"janus":"create"}             -> session
 *   2. POST /janus/S          {"janus":"attach", videoroom}  -> publisher
 *   3. POST /janus/S/H        "create" room 1000 + r (publishers P, vp8,
 *      opus, no recording); "already exists" (427) is fine: every client
 *      of a room asks, the first one creates it, so there is no race;
 *   4. POST /janus/S/H        "joinandconfigure" as publisher with the
 *      publish offer (a=setup:active: Janus is the DTLS server, as kaigi
 *      is); the answer comes as an event;
 *   5. GET  /janus/S?maxev=N  long poll, re-armed after every answer:
 *      "joined" (the JSEP answer, the publishers already there) and
 *      "event"s listing new publishers;
 *   6. once all P - 1 others publish: attach a second handle and "join"
 *      it as subscriber with one stream entry per feed (one
 *      PeerConnection carrying every other publisher, as kaigi's
 *      subscribe transport does); Janus's offer ("attached") is answered
 *      with "start" (a=setup:active);
 *   7. {"janus":"keepalive"} every KEEPALIVE_MS, beside the long poll.
 * Subscribing once to all the room's publishers instead of renegotiating
 * per arrival keeps the client simple; the steady state is the same.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bench/bench_client.h"
#include "bench/bench_http.h"
#include "signalling/sdp.h"

#define REQUEST_TIMEOUT_MS 10000
#define POLL_TIMEOUT_MS 45000 /* Janus answers an idle poll after 30 s */
#define KEEPALIVE_MS 20000    /* Janus's default session timeout: 60 s */
#define ROOM_BASE 1000
#define PATH_MAX_LEN 160

typedef struct kb_janus {
    kb_client *c;
    struct sockaddr_in addr;
    char base[64]; /* "/janus" */
    json_int_t session, pub_handle, sub_handle, own_id;
    json_int_t room;
    json_int_t feeds[KB_MAX_PARTICIPANTS];
    size_t n_feeds;
    bool sub_requested, sub_answered;
    unsigned txn;
    uv_timer_t keepalive;
} kb_janus;

typedef void (*step_fn)(kb_janus *j, json_t *reply);

typedef struct pending {
    kb_janus *j;
    step_fn next;
    const char *what;
} pending;

/* SDP text for offers and answers: one client at a time uses it. */
static char sdp_buf[KG_SDP_MAX_TEXT];

static void fail(kb_janus *j, const char *what, const char *detail)
{
    char msg[256];
    snprintf(msg, sizeof(msg), "janus %s: %s", what, detail ? detail : "");
    kb_client_fail(j->c, "%s", msg);
}

/* Whether the run is over (late failures are not the server's fault). */
static bool over(const kb_janus *j)
{
    return uv_hrtime() >= j->c->proc->plan->we;
}

static void on_reply(void *user, int status, const char *body, size_t len)
{
    pending *p = user;
    kb_janus *j = p->j;
    step_fn next = p->next;
    const char *what = p->what;
    free(p);
    if (j->c->failed || over(j))
        return;
    if (status != 200) {
        char d[64];
        snprintf(d, sizeof(d), "HTTP %d%s", status,
                 status < 0 ? " (no response)" : "");
        fail(j, what, d);
        return;
    }
    json_error_t err;
    json_t *reply = json_loadb(body, len, 0, &err);
    const char *type = json_string_value(json_object_get(reply, "janus"));
    if (!type || strcmp(type, "error") == 0) {
        json_t *e = json_object_get(reply, "error");
        fail(j, what,
             e ? json_string_value(json_object_get(e, "reason")) : "bad reply");
    } else if (next) {
        next(j, reply);
    }
    json_decref(reply);
}

/* POSTs msg (consumed) to base + suffix with a transaction id; next gets
 * the reply when it is not a Janus error. */
static void post(kb_janus *j, const char *suffix, json_t *msg, step_fn next,
                 const char *what)
{
    char path[PATH_MAX_LEN], txn[32];
    snprintf(path, sizeof(path), "%s%s", j->base, suffix);
    snprintf(txn, sizeof(txn), "kb%u-%u", j->c->index, j->txn++);
    if (msg)
        json_object_set_new(msg, "transaction", json_string(txn));
    char *text = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    json_decref(msg);
    pending *p = malloc(sizeof(*p));
    int rc = text && p ? 0 : KG_ERR_NOMEM;
    if (rc == 0) {
        *p = (pending){.j = j, .next = next, .what = what};
        rc = kb_http_request(&j->c->proc->loop, &j->addr, "POST", path, text,
                             REQUEST_TIMEOUT_MS, on_reply, p);
    }
    if (rc < 0) {
        free(p);
        fail(j, what, kg_strerror(rc));
    }
    free(text);
}

static void handle_path(const kb_janus *j, json_int_t handle, char *out,
                        size_t cap)
{
    snprintf(out, cap, "/%lld/%lld", (long long)j->session, (long long)handle);
}

/* --- the subscriber ------------------------------------------------- */

static void on_sub_attached(kb_janus *j, json_t *reply)
{
    j->sub_handle = json_integer_value(
        json_object_get(json_object_get(reply, "data"), "id"));
    json_t *streams = json_array();
    for (size_t i = 0; i < j->n_feeds; i++)
        json_array_append_new(streams, json_pack("{s:I}", "feed", j->feeds[i]));
    char path[PATH_MAX_LEN];
    handle_path(j, j->sub_handle, path, sizeof(path));
    post(j, path,
         json_pack("{s:s, s:{s:s, s:s, s:I, s:o}}", "janus", "message", "body",
                   "request", "join", "ptype", "subscriber", "room", j->room,
                   "streams", streams),
         NULL, "subscriber join");
}

static void maybe_subscribe(kb_janus *j)
{
    unsigned others = j->c->proc->plan->participants - 1;
    if (j->sub_requested || !j->c->publish_answered || j->n_feeds < others)
        return;
    j->sub_requested = true;
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/%lld", (long long)j->session);
    post(j, path,
         json_pack("{s:s, s:s}", "janus", "attach", "plugin",
                   "janus.plugin.videoroom"),
         on_sub_attached, "attach subscriber");
}

static void on_sub_offer(kb_janus *j, json_t *jsep)
{
    const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
    const char *type = json_string_value(json_object_get(jsep, "type"));
    if (!sdp || !type || strcmp(type, "offer") != 0) {
        fail(j, "subscriber", "no JSEP offer");
        return;
    }
    int rc = kb_client_subscribe_answer(j->c, sdp, 1, sdp_buf, sizeof(sdp_buf));
    if (rc < 0) {
        fail(j, "subscriber offer", kg_strerror(rc));
        return;
    }
    j->sub_answered = true;
    char path[PATH_MAX_LEN];
    handle_path(j, j->sub_handle, path, sizeof(path));
    post(j, path,
         json_pack("{s:s, s:{s:s}, s:{s:s, s:s, s:b}}", "janus", "message",
                   "body", "request", "start", "jsep", "type", "answer", "sdp",
                   sdp_buf, "trickle", 0),
         NULL, "subscriber start");
}

/* --- events (the long poll) ----------------------------------------- */

static void add_publishers(kb_janus *j, json_t *list)
{
    size_t i;
    json_t *pub;
    json_array_foreach(list, i, pub) {
        json_int_t id = json_integer_value(json_object_get(pub, "id"));
        bool known = id == j->own_id || id == 0;
        for (size_t k = 0; k < j->n_feeds && !known; k++)
            known = j->feeds[k] == id;
        if (!known && j->n_feeds < KB_MAX_PARTICIPANTS)
            j->feeds[j->n_feeds++] = id;
    }
    maybe_subscribe(j);
}

static void on_publisher_event(kb_janus *j, json_t *data, json_t *jsep)
{
    const char *vr = json_string_value(json_object_get(data, "videoroom"));
    if (vr && strcmp(vr, "joined") == 0) {
        j->own_id = json_integer_value(json_object_get(data, "id"));
        const char *sdp = json_string_value(json_object_get(jsep, "sdp"));
        int rc = sdp ? kb_client_publish_answer(j->c, sdp) : KG_ERR_MALFORMED;
        if (rc < 0) {
            fail(j, "publish answer", kg_strerror(rc));
            return;
        }
    }
    add_publishers(j, json_object_get(data, "publishers"));
}

static void on_event(kb_janus *j, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "janus"));
    json_int_t sender = json_integer_value(json_object_get(ev, "sender"));
    if (!type)
        return;
    if (strcmp(type, "hangup") == 0 || strcmp(type, "detached") == 0 ||
        strcmp(type, "timeout") == 0) {
        if (!over(j))
            fail(j, type, json_string_value(json_object_get(ev, "reason")));
        return;
    }
    if (strcmp(type, "event") != 0)
        return; /* webrtcup, media, slowlink, keepalive... */
    json_t *data = json_object_get(json_object_get(ev, "plugindata"), "data");
    json_t *jsep = json_object_get(ev, "jsep");
    if (json_object_get(data, "error_code")) {
        fail(j, "event", json_string_value(json_object_get(data, "error")));
        return;
    }
    if (sender == j->pub_handle) {
        on_publisher_event(j, data, jsep);
    } else if (sender == j->sub_handle && jsep && !j->sub_answered) {
        on_sub_offer(j, jsep);
    }
}

static void poll_events(kb_janus *j);

static void on_poll(void *user, int status, const char *body, size_t len)
{
    kb_janus *j = user;
    if (j->c->failed || over(j))
        return;
    if (status != 200) {
        char d[64];
        snprintf(d, sizeof(d), "HTTP %d", status);
        fail(j, "long poll", d);
        return;
    }
    json_error_t err;
    json_t *reply = json_loadb(body, len, 0, &err);
    if (json_is_array(reply)) {
        size_t i;
        json_t *ev;
        json_array_foreach(reply, i, ev) {
            if (!j->c->failed)
                on_event(j, ev);
        }
    } else if (json_is_object(reply)) {
        on_event(j, reply);
    }
    json_decref(reply);
    if (!j->c->failed)
        poll_events(j);
}

static void poll_events(kb_janus *j)
{
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "%s/%lld?maxev=16", j->base,
             (long long)j->session);
    int rc = kb_http_request(&j->c->proc->loop, &j->addr, "GET", path, NULL,
                             POLL_TIMEOUT_MS, on_poll, j);
    if (rc < 0)
        fail(j, "long poll", kg_strerror(rc));
}

/* --- the publisher -------------------------------------------------- */

static void on_room(kb_janus *j, json_t *reply)
{
    json_t *data = json_object_get(json_object_get(reply, "plugindata"), "data");
    json_int_t code = json_integer_value(json_object_get(data, "error_code"));
    if (code && code != 427) { /* 427: the room exists already */
        fail(j, "create room", json_string_value(json_object_get(data, "error")));
        return;
    }
    int rc = kb_client_publish_offer(j->c, true, sdp_buf, sizeof(sdp_buf));
    if (rc < 0) {
        fail(j, "publish offer", kg_strerror(rc));
        return;
    }
    char path[PATH_MAX_LEN], name[32];
    handle_path(j, j->pub_handle, path, sizeof(path));
    snprintf(name, sizeof(name), "bench-%u", j->c->index);
    post(j, path,
         json_pack("{s:s, s:{s:s, s:s, s:I, s:s}, s:{s:s, s:s, s:b}}",
                   "janus", "message", "body", "request", "joinandconfigure",
                   "ptype", "publisher", "room", j->room, "display", name,
                   "jsep", "type", "offer", "sdp", sdp_buf, "trickle", 0),
         NULL, "publisher join");
}

static void on_pub_attached(kb_janus *j, json_t *reply)
{
    j->pub_handle = json_integer_value(
        json_object_get(json_object_get(reply, "data"), "id"));
    char path[PATH_MAX_LEN];
    handle_path(j, j->pub_handle, path, sizeof(path));
    /* The room as kaigi's: no recording, no bitrate cap, and none of the
     * RTP header extensions kaigi does not negotiate either. */
    json_t *body = json_pack(
        "{s:s, s:I, s:i, s:s, s:s, s:b, s:b, s:b, s:b, s:b}", "request",
        "create", "room", j->room, "publishers",
        (int)j->c->proc->plan->participants, "videocodec", "vp8", "audiocodec",
        "opus", "record", 0, "permanent", 0, "transport_wide_cc_ext", 0,
        "videoorient_ext", 0, "playoutdelay_ext", 0);
    post(j, path, json_pack("{s:s, s:o}", "janus", "message", "body", body),
         on_room, "create room");
}

static void on_keepalive(uv_timer_t *t)
{
    kb_janus *j = t->data;
    if (j->c->failed || over(j)) {
        uv_timer_stop(t);
        return;
    }
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/%lld", (long long)j->session);
    post(j, path, json_pack("{s:s}", "janus", "keepalive"), NULL, "keepalive");
}

static void on_session(kb_janus *j, json_t *reply)
{
    j->session = json_integer_value(
        json_object_get(json_object_get(reply, "data"), "id"));
    if (!j->session) {
        fail(j, "create session", "no id");
        return;
    }
    poll_events(j);
    uv_timer_init(&j->c->proc->loop, &j->keepalive);
    j->keepalive.data = j;
    uv_timer_start(&j->keepalive, on_keepalive, KEEPALIVE_MS, KEEPALIVE_MS);
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "/%lld", (long long)j->session);
    post(j, path,
         json_pack("{s:s, s:s}", "janus", "attach", "plugin",
                   "janus.plugin.videoroom"),
         on_pub_attached, "attach publisher");
}

void kb_janus_start(kb_client *c)
{
    const kb_client_plan *plan = c->proc->plan;
    kb_janus *j = calloc(1, sizeof(*j));
    if (!j) {
        kb_client_fail(c, "janus: %s", kg_strerror(KG_ERR_NOMEM));
        return;
    }
    c->janus = j;
    j->c = c;
    j->room = ROOM_BASE + c->room;
    if (kb_http_parse_url(plan->janus_url, &j->addr, j->base,
                          sizeof(j->base)) < 0) {
        kb_client_fail(c, "janus: bad URL %s", plan->janus_url);
        return;
    }
    c->ws_open_at = uv_hrtime();
    post(j, "", json_pack("{s:s}", "janus", "create"), on_session,
         "create session");
}
