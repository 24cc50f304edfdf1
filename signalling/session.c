#include "signalling/session.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/err.h"
#include "crypto/dtls.h"
#include "crypto/random.h"
#include "relay/ice.h"
#include "relay/room.h"
#include "relay/worker.h"
#include "signalling/api.h"
#include "signalling/policy.h"
#include "signalling/ratelimit.h"
#include "signalling/sdp.h"
#include "signalling/store.h"

#define ID_LEN 8
#define NAME_MAX_BYTES 64
#define MAX_TRACKS 4
#define SDP_BUF (64 * 1024)

typedef struct sroom sroom;

typedef struct sess_track {
    enum kg_sdp_kind kind;
    uint32_t ssrc;
    char track_id[64];
} sess_track;

/* One m-section of a participant's subscribe transport. Slots are only
 * ever appended, so m-line indexes never move across re-offers. */
typedef struct sub_slot {
    enum kg_sdp_kind kind;
    kg_session *pub; /* NULL once the publisher left: section inactive */
    uint32_t in_ssrc;
    uint32_t out_ssrc;
    uint8_t pt;
    bool routed;
    char stream_id[ID_LEN + 2];
    char track_id[64];
} sub_slot;

struct kg_session {
    kg_sfu *sfu;
    void *conn;
    uint64_t num; /* worker-facing participant number */
    char id[ID_LEN + 2];
    char name[NAME_MAX_BYTES + 1];
    sroom *room;
    kg_session *next;      /* all sessions */
    kg_session *room_next; /* room members in join order */
    kg_ice_creds pub_creds, sub_creds;
    bool pub_transport, sub_transport;
    sess_track tracks[MAX_TRACKS];
    size_t n_tracks;
    sub_slot slots[KG_SDP_MAX_MEDIA];
    size_t n_slots;
    uint32_t sub_version;
    bool sub_pending; /* an offer awaits its answer */
    bool sub_dirty;   /* tracks changed since the last offer */
    uint64_t sdp_sess_id;
    uint32_t pub_version;
    /* meetings */
    struct live *live;  /* the meeting joined (waiting or in) */
    bool waiting;       /* in the waiting room: no transport at all */
    bool left;          /* sent 'leave': not a drop */
    char peer[64];      /* source address, memory only, for rate limits */
};

/* A meeting someone has joined since kaigi started: its live policy and
 * its media room. Kept until its end has passed and nobody is left, so
 * that "ended" and "locked" hold for late joiners. */
typedef struct live {
    kg_meeting m;
    kg_policy *policy;
    struct live *next;
} live;

struct sroom {
    char name[80];
    uint64_t num;
    kg_session *members;
    size_t n_members;
    sroom *next;
};

struct kg_sfu {
    kg_sfu_config cfg;
    kg_conn_ops ops;
    char public_ip[64];
    char node[64];
    uint16_t udp_port;
    kg_dtls_cert *cert;
    kg_worker *worker;
    sroom *rooms;
    kg_session *sessions;
    size_t n_sessions;
    uint64_t next_num;
    char *sdp_buf;
    kg_store *store;
    kg_api api;
    char base_url[128];
    live *lives;
    kg_ratelimit *rl_source, *rl_meeting, *rl_strict;
    uv_timer_t policy_timer;
    /* counters */
    uint64_t messages, errors, joins, sdp_errors;
    uint64_t pin_failures, lockouts_source, lockouts_meeting;
};

static void drop_publisher(kg_session *pub, sroom *r);

/* --- output ---------------------------------------------------------- */

static void send_json(kg_session *ss, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return;
    ss->sfu->ops.send(ss->conn, text, strlen(text));
    free(text);
}

static void send_error(kg_session *ss, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ss->sfu->errors++;
    send_json(ss, json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
                            "message", msg));
}

static void post(kg_sfu *s, const kg_worker_cmd *c)
{
    if (kg_worker_post(s->worker, c) != 0)
        fprintf(stderr, "kaigi: out of memory posting to the media worker\n");
}

/* --- validation ------------------------------------------------------- */

/* Checks that every key of obj is in allowed (NULL-terminated): kaigi
 * refuses fields it did not define rather than ignore (or store) them. */
static const char *unknown_field(json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *v;
    json_object_foreach(obj, key, v)
    {
        bool ok = false;
        for (size_t i = 0; allowed[i]; i++) {
            if (strcmp(key, allowed[i]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok)
            return key;
    }
    return NULL;
}

static bool valid_room_name(const char *r)
{
    size_t n = strlen(r);
    if (n < 1 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = r[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                  (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* jansson has already checked UTF-8; refuse control characters so a
 * nickname cannot forge lines in logs or pages. */
static bool valid_nickname(const char *n)
{
    size_t len = strlen(n);
    if (len < 1 || len > NAME_MAX_BYTES)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)n[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* --- rooms and admission --------------------------------------------- */

static sroom *room_find(kg_sfu *s, const char *name)
{
    for (sroom *r = s->rooms; r; r = r->next) {
        if (strcmp(r->name, name) == 0)
            return r;
    }
    return NULL;
}

/* Admission: the single place that decides whether a join may enter a
 * room. The meetings layer (issue 3) replaces the ad-hoc room rule here
 * with meeting ID + PIN, invites, waiting room and lock. Returns the room
 * (created on demand) or NULL with *code set. */
static sroom *kg_admit(kg_sfu *s, const char *room_name, const char **code)
{
    if (s->n_sessions > s->cfg.max_participants) {
        *code = "room_full";
        return NULL;
    }
    sroom *r = room_find(s, room_name);
    if (r && r->n_members >= KG_ROOM_MAX_PARTICIPANTS) {
        *code = "room_full";
        return NULL;
    }
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r) {
            *code = "internal";
            return NULL;
        }
        snprintf(r->name, sizeof(r->name), "%s", room_name);
        r->num = ++s->next_num;
        r->next = s->rooms;
        s->rooms = r;
    }
    return r;
}

static void room_remove(kg_sfu *s, sroom *r, kg_session *ss)
{
    kg_session **pp = &r->members;
    while (*pp && *pp != ss)
        pp = &(*pp)->room_next;
    if (*pp) {
        *pp = ss->room_next;
        r->n_members--;
    }
    if (r->n_members == 0) {
        sroom **rp = &s->rooms;
        while (*rp && *rp != r)
            rp = &(*rp)->next;
        if (*rp)
            *rp = r->next;
        free(r);
    }
}

/* --- SDP --------------------------------------------------------------- */

static void local_sdp(kg_session *ss, const kg_ice_creds *creds,
                      uint32_t version, kg_sdp_local *out)
{
    kg_sfu *s = ss->sfu;
    out->ice_ufrag = creds->ufrag;
    out->ice_pwd = creds->pwd;
    out->fingerprint = kg_dtls_cert_fingerprint(s->cert);
    out->cand_ip = s->public_ip;
    out->cand_port = s->udp_port;
    out->sess_id = ss->sdp_sess_id;
    out->sess_version = version;
}

/* Sends the next subscribe offer if tracks changed and none is pending. */
static void maybe_offer(kg_session *ss)
{
    if (ss->sub_pending || !ss->sub_dirty)
        return;
    kg_sdp_track tracks[KG_SDP_MAX_MEDIA];
    memset(tracks, 0, sizeof(tracks));
    for (size_t i = 0; i < ss->n_slots; i++) {
        sub_slot *sl = &ss->slots[i];
        kg_sdp_track *t = &tracks[i];
        t->kind = sl->kind;
        snprintf(t->mid, sizeof(t->mid), "%zu", i);
        t->pt = sl->pt;
        t->ssrc = sl->out_ssrc;
        snprintf(t->cname, sizeof(t->cname), "%s", sl->stream_id);
        snprintf(t->stream_id, sizeof(t->stream_id), "%s", sl->stream_id);
        snprintf(t->track_id, sizeof(t->track_id), "%s", sl->track_id);
        t->active = sl->pub != NULL;
    }
    kg_sdp *offer = kg_sdp_new();
    if (!offer)
        return;
    kg_sdp_local local;
    local_sdp(ss, &ss->sub_creds, ss->sub_version + 1, &local);
    int rc = kg_sdp_offer_subscribe(tracks, ss->n_slots, &local, offer);
    ssize_t n = rc == 0 ? kg_sdp_write(offer, ss->sfu->sdp_buf, SDP_BUF)
                        : rc;
    kg_sdp_del(offer);
    if (n < 0) {
        fprintf(stderr, "kaigi: cannot write subscribe offer: %s\n",
                kg_strerror((int)n));
        return;
    }
    ss->sub_version++;
    ss->sub_pending = true;
    ss->sub_dirty = false;
    send_json(ss, json_pack("{s:s, s:i, s:s}", "type", "subscribe", "version",
                            (json_int_t)ss->sub_version, "sdp",
                            ss->sfu->sdp_buf));
}

/* Gives subscriber sub a slot for every track of pub it lacks. */
static void add_slots_for(kg_session *sub, kg_session *pub)
{
    for (size_t i = 0; i < pub->n_tracks; i++) {
        const sess_track *t = &pub->tracks[i];
        bool have = false;
        for (size_t j = 0; j < sub->n_slots; j++) {
            if (sub->slots[j].pub == pub && sub->slots[j].in_ssrc == t->ssrc)
                have = true;
        }
        if (have)
            continue;
        if (sub->n_slots == KG_SDP_MAX_MEDIA) {
            fprintf(stderr, "kaigi: participant %s has no m-line left\n",
                    sub->id);
            return;
        }
        sub_slot *sl = &sub->slots[sub->n_slots++];
        memset(sl, 0, sizeof(*sl));
        sl->kind = t->kind;
        sl->pub = pub;
        sl->in_ssrc = t->ssrc;
        sl->out_ssrc = kg_random_u32() | 1u; /* never 0 */
        sl->pt = t->kind == KG_SDP_AUDIO ? 111 : 96;
        snprintf(sl->stream_id, sizeof(sl->stream_id), "%s", pub->id);
        snprintf(sl->track_id, sizeof(sl->track_id), "%s", t->track_id);
        sub->sub_dirty = true;
    }
}

static bool register_transport(kg_session *ss, enum kg_role role,
                               const kg_sdp *remote)
{
    const kg_sdp_transport *tr = kg_sdp_bundle_transport(remote);
    if (!tr || !tr->ice_ufrag[0] || !tr->fingerprint[0])
        return false;
    kg_worker_cmd c = {.type = KG_CMD_TRANSPORT,
                       .participant = ss->num,
                       .role = role};
    c.local = role == KG_ROLE_PUBLISH ? ss->pub_creds : ss->sub_creds;
    snprintf(c.remote_ufrag, sizeof(c.remote_ufrag), "%s", tr->ice_ufrag);
    snprintf(c.remote_fp, sizeof(c.remote_fp), "%s", tr->fingerprint);
    post(ss->sfu, &c);
    memset(&c, 0, sizeof(c));
    return true;
}

/* Learns the tracks a publish offer sends. Returns true if any is new. */
/* True when the publish message marks m-section mid as a screen share
 * ({"sources": {"1": "screen"}}). */
static bool is_screen(json_t *sources, const char *mid)
{
    const char *v = json_string_value(json_object_get(sources, mid));
    return v && strcmp(v, "screen") == 0;
}

static bool learn_tracks(kg_session *ss, const kg_sdp *offer,
                         const kg_sdp *answer, json_t *sources)
{
    bool added = false;
    for (size_t i = 0; i < offer->n_media && i < answer->n_media; i++) {
        const kg_sdp_media *m = &offer->media[i];
        if (answer->media[i].port == 0 || m->n_ssrcs == 0 ||
            (m->dir != KG_SDP_SENDONLY && m->dir != KG_SDP_SENDRECV))
            continue;
        uint32_t ssrc = m->fid_ssrc[0] ? m->fid_ssrc[0] : m->ssrcs[0].ssrc;
        bool have = false;
        for (size_t j = 0; j < ss->n_tracks; j++) {
            if (ss->tracks[j].ssrc == ssrc)
                have = true;
        }
        if (have || ss->n_tracks == MAX_TRACKS)
            continue;
        if (m->kind == KG_SDP_VIDEO && is_screen(sources, m->mid) &&
            ss->live && !kg_policy_may_share(ss->live->policy, ss->num)) {
            /* Never routed: receivers cannot get a screen the policy
             * does not allow, whatever the client does. */
            send_error(ss, "share_denied",
                       "screen sharing is for the host only here");
            continue;
        }
        sess_track *t = &ss->tracks[ss->n_tracks++];
        t->kind = m->kind;
        t->ssrc = ssrc;
        const char *msid = m->msid[0] ? strchr(m->msid, ' ') : NULL;
        if (msid && msid[1])
            snprintf(t->track_id, sizeof(t->track_id), "%s", msid + 1);
        else
            snprintf(t->track_id, sizeof(t->track_id), "%s-%s", ss->id,
                     m->kind == KG_SDP_AUDIO ? "audio" : "video");
        kg_worker_cmd c = {.type = KG_CMD_TRACK,
                           .participant = ss->num,
                           .ssrc = ssrc,
                           .kind = m->kind == KG_SDP_AUDIO ? KG_TRACK_AUDIO
                                                           : KG_TRACK_VIDEO};
        post(ss->sfu, &c);
        added = true;
    }
    return added;
}

/* --- messages ---------------------------------------------------------- */

static kg_time wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (kg_time)ts.tv_sec * KG_SEC + (kg_time)ts.tv_nsec;
}

static kg_session *session_by_num(kg_sfu *s, uint64_t num)
{
    for (kg_session *ss = s->sessions; ss; ss = ss->next) {
        if (ss->num == num)
            return ss;
    }
    return NULL;
}

/* A participant of meeting lv by its protocol ID (in or waiting). */
static kg_session *session_by_id(kg_sfu *s, const live *lv, const char *id)
{
    if (!id)
        return NULL;
    for (kg_session *ss = s->sessions; ss; ss = ss->next) {
        if (ss->live == lv && strcmp(ss->id, id) == 0)
            return ss;
    }
    return NULL;
}

static json_t *settings_msg(const live *lv);

/* Puts an admitted participant into room r: tells the others, starts its
 * media on the worker, and sends `joined` and the first subscribe offer.
 * Only here does a participant get ICE credentials and SDP. */
static void enter_room(kg_session *ss, sroom *r)
{
    kg_sfu *s = ss->sfu;
    if (ss->room)
        return;
    json_t *others = json_array();
    for (kg_session *o = r->members; o; o = o->room_next) {
        json_array_append_new(others, json_pack("{s:s, s:s}", "id", o->id,
                                                "name", o->name));
        send_json(o, json_pack("{s:s, s:{s:s, s:s}}", "type",
                               "participant_joined", "participant", "id",
                               ss->id, "name", ss->name));
    }
    kg_session **pp = &r->members; /* append in join order */
    while (*pp)
        pp = &(*pp)->room_next;
    *pp = ss;
    ss->room_next = NULL;
    r->n_members++;
    ss->room = r;
    ss->waiting = false;
    s->joins++;

    kg_worker_cmd c = {.type = KG_CMD_JOIN,
                       .participant = ss->num,
                       .room = r->num};
    post(s, &c);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "joined",
                          "participant", ss->id, "room", ss->live ? ss->live->m.id
                                                                  : r->name + 5,
                          "node", s->node, "participants", others);
    if (ss->live) {
        kg_session *h = session_by_num(s, kg_policy_host(ss->live->policy));
        json_object_set_new(j, "host", json_boolean(h == ss));
        json_object_set_new(j, "host_id", json_string(h ? h->id : ""));
        json_object_set_new(j, "title", json_string(ss->live->m.title));
        /* The meeting's settings now, so that a client knows from the
         * start whether it may share its screen or chat. */
        json_t *st = settings_msg(ss->live);
        json_object_del(st, "type");
        json_object_set_new(j, "settings", st);
    }
    send_json(ss, j);
    for (kg_session *o = r->members; o; o = o->room_next) {
        if (o != ss)
            add_slots_for(ss, o);
    }
    ss->sub_dirty = true; /* the first offer goes out even with no track */
    maybe_offer(ss);
}

/* Takes ss out of its media room at once: its transports close on the
 * worker and the others' subscribe offers drop its tracks. */
static void leave_room(kg_session *ss)
{
    kg_sfu *s = ss->sfu;
    if (!ss->room)
        return;
    kg_worker_cmd c = {.type = KG_CMD_LEAVE, .participant = ss->num};
    post(s, &c);
    sroom *r = ss->room;
    bool others = r->n_members > 1;
    room_remove(s, r, ss); /* frees r when ss was the last */
    if (others)
        drop_publisher(ss, r);
    ss->room = NULL;
}

/* The media room of a meeting, created on first entry. */
static sroom *meeting_room(kg_sfu *s, const live *lv)
{
    char name[32];
    snprintf(name, sizeof(name), "mtg:%s", lv->m.id);
    const char *code;
    return kg_admit(s, name, &code);
}

static void audit(kg_sfu *s, const live *lv, const char *event,
                  const char *nickname)
{
    kg_store_audit(s->store, lv->m.id, event, nickname,
                   (int64_t)(wall_now() / KG_SEC));
}

static json_t *waiting_list_json(const live *lv)
{
    kg_attendee a[KG_POLICY_MAX];
    size_t n = kg_policy_attendees(lv->policy, a, KG_POLICY_MAX);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!a[i].waiting)
            continue;
        json_array_append_new(arr, json_pack("{s:I, s:s, s:b}", "num",
                                             (json_int_t)a[i].pid, "name",
                                             a[i].nickname, "generic",
                                             a[i].generic_name));
    }
    return arr;
}

/* Replaces the policy's pid numbers by protocol IDs in a list. */
static json_t *with_ids(kg_sfu *s, json_t *arr)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        kg_session *t = session_by_num(
            s, (uint64_t)json_integer_value(json_object_get(e, "num")));
        json_object_set_new(e, "id", json_string(t ? t->id : ""));
        json_object_del(e, "num");
    }
    return arr;
}

static json_t *attendees_json(kg_sfu *s, const live *lv)
{
    kg_attendee a[KG_POLICY_MAX];
    size_t n = kg_policy_attendees(lv->policy, a, KG_POLICY_MAX);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (a[i].waiting)
            continue;
        kg_session *t = session_by_num(s, a[i].pid);
        char when[32];
        kg_rfc3339_format((int64_t)(a[i].joined / KG_SEC), when);
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:b, s:b, s:b}", "id",
                           t ? t->id : "", "name", a[i].nickname, "joined_at",
                           when, "host", a[i].host, "muted", a[i].muted,
                           "generic", a[i].generic_name));
    }
    return arr;
}

static json_t *settings_msg(const live *lv)
{
    const kg_meeting_settings *st = kg_policy_settings(lv->policy);
    return json_pack("{s:s, s:b, s:s, s:b, s:b}", "type", "settings",
                     "locked", kg_policy_locked(lv->policy), "screen_share",
                     st->screen_share == KG_SHARE_ALL ? "all" : "host",
                     "chat", st->chat, "allow_rename", st->allow_rename);
}

/* Sends msg to every admitted participant of lv (a new reference each). */
static void broadcast(kg_sfu *s, const live *lv, json_t *msg)
{
    for (kg_session *o = s->sessions; o; o = o->next) {
        if (o->live == lv && o->room)
            send_json(o, json_deep_copy(msg));
    }
    json_decref(msg);
}

static void to_host(kg_sfu *s, const live *lv, json_t *msg)
{
    kg_session *h = session_by_num(s, kg_policy_host(lv->policy));
    if (h && h->room)
        send_json(h, msg);
    else
        json_decref(msg);
}

static void post_mute(kg_sfu *s, uint64_t num, bool mute)
{
    kg_worker_cmd c = {.type = KG_CMD_MUTE, .participant = num, .mute = mute};
    post(s, &c);
}

static void dispatch(kg_sfu *s, live *lv, const kg_policy_ev *ev)
{
    kg_session *t = session_by_num(s, ev->pid);
    switch (ev->type) {
    case KG_PEV_ADMITTED:
        if (t && t->waiting) {
            audit(s, lv, "admitted", t->name);
            enter_room(t, meeting_room(s, lv));
        }
        break;
    case KG_PEV_DENIED:
        audit(s, lv, "denied", ev->nickname);
        if (t) {
            send_json(t, json_pack("{s:s}", "type", "denied"));
            t->live = NULL;
            s->ops.close(t->conn);
        }
        break;
    case KG_PEV_REMOVED:
        audit(s, lv, "removed", ev->nickname);
        if (t) {
            send_json(t, json_pack("{s:s}", "type", "removed"));
            leave_room(t); /* transports close now, not at socket close */
            t->live = NULL;
            s->ops.close(t->conn);
        }
        break;
    case KG_PEV_HOST:
        if (t) {
            audit(s, lv, "host", t->name);
            broadcast(s, lv, json_pack("{s:s, s:s}", "type", "host",
                                       "participant", t->id));
            to_host(s, lv, json_pack("{s:s, s:o}", "type", "attendees",
                                     "attendees", attendees_json(s, lv)));
        }
        break;
    case KG_PEV_JOINED:
    case KG_PEV_LEFT:
        if (ev->type == KG_PEV_LEFT)
            audit(s, lv, "left", ev->nickname);
        if (ev->pid == kg_policy_host(lv->policy))
            break; /* no notice to the host about itself */
        to_host(s, lv, json_pack("{s:s, s:{s:s, s:s}}", "type",
                                 ev->type == KG_PEV_JOINED ? "join_notice"
                                                           : "leave_notice",
                                 "participant", "id", t ? t->id : "", "name",
                                 ev->nickname));
        to_host(s, lv, json_pack("{s:s, s:o}", "type", "attendees",
                                 "attendees", attendees_json(s, lv)));
        break;
    case KG_PEV_WAITING_LIST:
        to_host(s, lv, json_pack("{s:s, s:o}", "type", "waiting_list",
                                 "waiting",
                                 with_ids(s, waiting_list_json(lv))));
        break;
    case KG_PEV_LOCKED_OUT:
        to_host(s, lv, json_pack("{s:s, s:s}", "type", "lock_attempt",
                                 "name", ev->nickname));
        break;
    case KG_PEV_MUTED:
        post_mute(s, ev->pid, true);
        if (t)
            send_json(t, json_pack("{s:s}", "type", "muted"));
        break;
    case KG_PEV_UNMUTE_ASKED:
        if (t)
            send_json(t, json_pack("{s:s}", "type", "unmute_request"));
        break;
    case KG_PEV_SETTINGS:
        broadcast(s, lv, settings_msg(lv));
        break;
    case KG_PEV_ENDED:
        audit(s, lv, "ended", NULL);
        for (kg_session *o = s->sessions; o; o = o->next) {
            if (o->live != lv)
                continue;
            send_json(o, json_pack("{s:s}", "type", "ended"));
            leave_room(o);
            o->live = NULL;
            s->ops.close(o->conn);
        }
        break;
    }
}

static void drain(kg_sfu *s, live *lv)
{
    kg_policy_ev ev;
    while (kg_policy_next_event(lv->policy, &ev) == 1)
        dispatch(s, lv, &ev);
}

static live *live_get(kg_sfu *s, const kg_meeting *m)
{
    for (live *lv = s->lives; lv; lv = lv->next) {
        if (strcmp(lv->m.id, m->id) == 0)
            return lv;
    }
    live *lv = calloc(1, sizeof(*lv));
    if (!lv)
        return NULL;
    lv->m = *m;
    lv->policy = kg_policy_new(m);
    if (!lv->policy) {
        free(lv);
        return NULL;
    }
    lv->next = s->lives;
    s->lives = lv;
    return lv;
}

/* Rate limits: the key of this source and of a meeting. */
static size_t rl_key(char *out, size_t cap, const char *kind, const char *v)
{
    int n = snprintf(out, cap, "%s:%s", kind, v);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static void refuse_locked_out(kg_session *ss, kg_time until, kg_time now)
{
    json_int_t retry = (json_int_t)((until - now + KG_SEC - 1) / KG_SEC);
    ss->sfu->errors++;
    send_json(ss, json_pack("{s:s, s:s, s:s, s:I}", "type", "error", "code",
                            "locked_out", "message",
                            "too many failed attempts; try again later",
                            "retry_after", retry));
    ss->sfu->ops.close(ss->conn);
}

/* Is this source locked out (after its own failures, or after one failure
 * against a meeting under attack)? Answers the client if so. */
static bool rate_limited(kg_session *ss, kg_time now)
{
    kg_sfu *s = ss->sfu;
    char key[96];
    kg_time until = 0;
    size_t n = rl_key(key, sizeof(key), "a", ss->peer);
    if (kg_ratelimit_check(s->rl_source, key, n, now, &until) != 0 ||
        kg_ratelimit_check(s->rl_strict, key, n, now, &until) != 0) {
        refuse_locked_out(ss, until, now);
        return true;
    }
    return false;
}

/* A meeting is under attack when its failures from all sources pass the
 * per-meeting limit. Then every source gets one wrong try before its own
 * lock-out, but a right credential still gets in: a storm must not lock
 * the meeting's real participants out. */
static bool under_attack(kg_sfu *s, const char *meeting, kg_time now)
{
    char key[96];
    kg_time until;
    if (!meeting)
        return false;
    size_t n = rl_key(key, sizeof(key), "m", meeting);
    return kg_ratelimit_check(s->rl_meeting, key, n, now, &until) != 0;
}

/* Counts a failed credential and refuses the join. */
static void credential_failed(kg_session *ss, const char *meeting,
                              kg_time now)
{
    kg_sfu *s = ss->sfu;
    char key[96];
    kg_time until;
    s->pin_failures++;
    size_t n = rl_key(key, sizeof(key), "a", ss->peer);
    if (kg_ratelimit_fail(s->rl_source, key, n, now, &until) != 0)
        s->lockouts_source++;
    if (under_attack(s, meeting, now) &&
        kg_ratelimit_fail(s->rl_strict, key, n, now, &until) != 0)
        s->lockouts_source++;
    if (meeting) {
        n = rl_key(key, sizeof(key), "m", meeting);
        if (kg_ratelimit_fail(s->rl_meeting, key, n, now, &until) != 0) {
            s->lockouts_meeting++;
            for (live *lv = s->lives; lv; lv = lv->next) {
                if (strcmp(lv->m.id, meeting) == 0)
                    to_host(s, lv,
                            json_pack("{s:s, s:s}", "type", "under_attack",
                                      "message",
                                      "many wrong PINs for this meeting "
                                      "from several addresses: each gets "
                                      "one try for a while"));
            }
        }
    }
    send_error(ss, "wrong_credentials",
               "meeting, PIN, host key or invite not valid");
    s->ops.close(ss->conn);
}

/* Checks the credential and finds the meeting. Returns the meeting's
 * live state, or NULL after answering the client. */
static live *authenticate_join(kg_session *ss, json_t *msg, bool *host,
                               kg_time now)
{
    kg_sfu *s = ss->sfu;
    const char *mid = json_string_value(json_object_get(msg, "meeting"));
    const char *pin = json_string_value(json_object_get(msg, "pin"));
    const char *inv = json_string_value(json_object_get(msg, "invite"));
    const char *hk = json_string_value(json_object_get(msg, "host_key"));
    int ways = (mid && pin) + (inv != NULL) + (mid && hk);
    if (ways != 1 || (pin && hk) || (inv && mid) ||
        (mid && strlen(mid) > KG_MEETING_ID_LEN)) {
        send_error(ss, "bad_request",
                   "join with meeting+pin, invite, or meeting+host_key");
        return NULL;
    }
    if (rate_limited(ss, now))
        return NULL;
    char id[KG_MEETING_ID_LEN + 1];
    int rc;
    if (inv) {
        rc = kg_store_invite_spend(s->store, inv, id);
    } else {
        snprintf(id, sizeof(id), "%s", mid);
        rc = pin ? kg_store_check_pin(s->store, id, pin)
                 : kg_store_check_host_key(s->store, id, hk);
    }
    kg_meeting m;
    if (rc != 0 || kg_store_meeting_get(s->store, id, &m) != 0) {
        credential_failed(ss, mid, now);
        return NULL;
    }
    char key[96];
    kg_ratelimit_reset(s->rl_source, key,
                       rl_key(key, sizeof(key), "a", ss->peer));
    *host = hk != NULL;
    live *lv = live_get(s, &m);
    if (!lv) {
        send_error(ss, "internal", "out of memory");
        s->ops.close(ss->conn);
    }
    return lv;
}

static void join_meeting(kg_session *ss, json_t *msg)
{
    kg_sfu *s = ss->sfu;
    kg_time now = wall_now();
    bool host = false;
    live *lv = authenticate_join(ss, msg, &host, now);
    if (!lv)
        return;
    kg_join_result jr = kg_policy_join(lv->policy, ss->num, ss->name, host,
                                       now);
    if (jr.outcome == KG_JOIN_REFUSED) {
        json_t *e = json_pack("{s:s, s:s, s:s}", "type", "error", "code",
                              jr.reason, "message", "cannot join now");
        if (strcmp(jr.reason, "not_open") == 0) {
            char when[32];
            kg_rfc3339_format(jr.opens_at, when);
            json_object_set_new(e, "opens_at", json_string(when));
        }
        s->errors++;
        send_json(ss, e);
        s->ops.close(ss->conn);
        drain(s, lv);
        return;
    }
    ss->live = lv;
    if (host)
        audit(s, lv, "host_joined", ss->name);
    if (jr.outcome == KG_JOIN_ADMITTED) {
        if (!host)
            audit(s, lv, "joined", ss->name);
        enter_room(ss, meeting_room(s, lv));
    } else {
        ss->waiting = true;
        send_json(ss, json_pack("{s:s, s:s, s:{s:s, s:s}}", "type", "waiting",
                                "reason", jr.reason, "meeting", "id",
                                lv->m.id, "title", lv->m.title));
    }
    drain(s, lv);
}

static void on_join(kg_session *ss, json_t *msg)
{
    static const char *const allowed[] = {"type",   "room",     "name",
                                          "meeting", "pin",     "invite",
                                          "host_key", NULL};
    kg_sfu *s = ss->sfu;
    const char *bad = unknown_field(msg, allowed);
    if (bad) {
        send_error(ss, "bad_request", "unknown field '%s'", bad);
        return;
    }
    if (ss->room || ss->live) {
        send_error(ss, "already_joined", "this socket already joined");
        return;
    }
    const char *name = json_string_value(json_object_get(msg, "name"));
    if (!name || !valid_nickname(name)) {
        send_error(ss, "bad_request",
                   "field 'name' must be 1-64 bytes of UTF-8 without "
                   "control characters");
        return;
    }
    snprintf(ss->name, sizeof(ss->name), "%s", name);
    json_t *jroom = json_object_get(msg, "room");
    if (!jroom) {
        join_meeting(ss, msg);
        return;
    }
    const char *room = json_string_value(jroom);
    if (!s->cfg.open_rooms) {
        send_error(ss, "bad_request",
                   "ad-hoc rooms are off: join a meeting with its ID and PIN");
        return;
    }
    if (!room || !valid_room_name(room)) {
        send_error(ss, "bad_request",
                   "field 'room' must be 1-64 chars of A-Za-z0-9_.-");
        return;
    }
    char name_key[80];
    snprintf(name_key, sizeof(name_key), "room:%s", room);
    const char *code = NULL;
    sroom *r = kg_admit(s, name_key, &code);
    if (!r) {
        send_error(ss, code, "cannot join room '%s'", room);
        s->ops.close(ss->conn);
        return;
    }
    enter_room(ss, r);
}

static void on_publish(kg_session *ss, json_t *msg)
{
    static const char *const allowed[] = {"type", "sdp", "sources", NULL};
    kg_sfu *s = ss->sfu;
    const char *bad = unknown_field(msg, allowed);
    if (bad) {
        send_error(ss, "bad_request", "unknown field '%s'", bad);
        return;
    }
    if (!ss->room) {
        send_error(ss, "not_joined", "send 'join' first");
        return;
    }
    json_t *jsdp = json_object_get(msg, "sdp");
    if (!json_is_string(jsdp)) {
        send_error(ss, "bad_request", "field 'sdp' must be a string");
        return;
    }
    kg_sdp *offer = kg_sdp_new();
    kg_sdp *answer = kg_sdp_new();
    if (!offer || !answer) {
        send_error(ss, "internal", "out of memory");
        goto out;
    }
    int rc = kg_sdp_parse(json_string_value(jsdp), json_string_length(jsdp),
                          offer);
    if (rc != 0) {
        s->sdp_errors++;
        send_error(ss, "bad_sdp", "offer does not parse: %s", kg_strerror(rc));
        goto out;
    }
    kg_sdp_local local;
    local_sdp(ss, &ss->pub_creds, ++ss->pub_version, &local);
    rc = kg_sdp_answer_publish(offer, &local, answer);
    if (rc != 0) {
        s->sdp_errors++;
        send_error(ss, "unsupported_sdp", "cannot answer the offer: %s",
                   kg_strerror(rc));
        goto out;
    }
    ssize_t n = kg_sdp_write(answer, s->sdp_buf, SDP_BUF);
    if (n < 0) {
        send_error(ss, "internal", "cannot write the answer");
        goto out;
    }
    if (!ss->pub_transport &&
        !(ss->pub_transport = register_transport(ss, KG_ROLE_PUBLISH, offer))) {
        send_error(ss, "unsupported_sdp", "offer lacks ICE/DTLS parameters");
        goto out;
    }
    send_json(ss, json_pack("{s:s, s:s}", "type", "publish_answer", "sdp",
                            s->sdp_buf));
    json_t *sources = json_object_get(msg, "sources");
    if (sources && !json_is_object(sources)) {
        send_error(ss, "bad_request",
                   "field 'sources' must map mids to \"camera\", "
                   "\"microphone\" or \"screen\"");
        goto out;
    }
    if (learn_tracks(ss, offer, answer, sources)) {
        for (kg_session *o = ss->room->members; o; o = o->room_next) {
            if (o == ss)
                continue;
            add_slots_for(o, ss);
            maybe_offer(o);
        }
    }
out:
    kg_sdp_del(offer);
    kg_sdp_del(answer);
}

static void route_slots(kg_session *ss)
{
    for (size_t i = 0; i < ss->n_slots; i++) {
        sub_slot *sl = &ss->slots[i];
        if (!sl->pub || sl->routed)
            continue;
        kg_worker_cmd c = {.type = KG_CMD_ROUTE,
                           .participant = sl->pub->num,
                           .ssrc = sl->in_ssrc,
                           .sub = ss->num,
                           .out_ssrc = sl->out_ssrc,
                           .out_pt = sl->pt};
        post(ss->sfu, &c);
        sl->routed = true;
    }
}

static void on_subscribe_answer(kg_session *ss, json_t *msg)
{
    static const char *const allowed[] = {"type", "sdp", "version", NULL};
    kg_sfu *s = ss->sfu;
    const char *bad = unknown_field(msg, allowed);
    if (bad) {
        send_error(ss, "bad_request", "unknown field '%s'", bad);
        return;
    }
    if (!ss->room) {
        send_error(ss, "not_joined", "send 'join' first");
        return;
    }
    json_t *jsdp = json_object_get(msg, "sdp");
    json_t *jver = json_object_get(msg, "version");
    if (!json_is_string(jsdp) || !json_is_integer(jver)) {
        send_error(ss, "bad_request",
                   "fields 'sdp' (string) and 'version' (integer) required");
        return;
    }
    if (!ss->sub_pending || json_integer_value(jver) != ss->sub_version)
        return; /* an answer to an older offer: ignored, as documented */
    kg_sdp *answer = kg_sdp_new();
    if (!answer) {
        send_error(ss, "internal", "out of memory");
        return;
    }
    int rc = kg_sdp_parse(json_string_value(jsdp), json_string_length(jsdp),
                          answer);
    if (rc != 0) {
        s->sdp_errors++;
        send_error(ss, "bad_sdp", "answer does not parse: %s",
                   kg_strerror(rc));
        kg_sdp_del(answer);
        return;
    }
    const kg_sdp_transport *tr = kg_sdp_bundle_transport(answer);
    if (tr && tr->setup == KG_SDP_SETUP_PASSIVE) {
        s->sdp_errors++;
        send_error(ss, "unsupported_sdp",
                   "answer must say a=setup:active (kaigi is DTLS server)");
        kg_sdp_del(answer);
        return;
    }
    if (!ss->sub_transport &&
        !(ss->sub_transport =
              register_transport(ss, KG_ROLE_SUBSCRIBE, answer))) {
        send_error(ss, "unsupported_sdp", "answer lacks ICE/DTLS parameters");
        kg_sdp_del(answer);
        return;
    }
    kg_sdp_del(answer);
    ss->sub_pending = false;
    route_slots(ss);
    maybe_offer(ss);
}

/* Host controls: {"type": T, "participant": ID} and the rest. Returns
 * the policy's verdict. */
static int host_control(kg_session *ss, const char *type, json_t *msg,
                        kg_time now)
{
    live *lv = ss->live;
    kg_policy *p = lv->policy;
    kg_session *who =
        session_by_id(ss->sfu, lv,
                      json_string_value(json_object_get(msg, "participant")));
    kg_pid by = ss->num, to = who ? who->num : 0;
    if (strcmp(type, "admit") == 0)
        return kg_policy_admit(p, by, to, now);
    if (strcmp(type, "deny") == 0)
        return kg_policy_deny(p, by, to, now);
    if (strcmp(type, "remove") == 0)
        return kg_policy_remove(p, by, to, now);
    if (strcmp(type, "lock") == 0 || strcmp(type, "unlock") == 0) {
        int rc = kg_policy_lock(p, by, type[0] == 'l', now);
        if (rc == 0)
            audit(ss->sfu, lv, type[0] == 'l' ? "locked" : "unlocked",
                  ss->name);
        return rc;
    }
    if (strcmp(type, "mute") == 0)
        return kg_policy_mute(p, by, to, true, now);
    if (strcmp(type, "ask_unmute") == 0)
        return kg_policy_mute(p, by, to, false, now);
    if (strcmp(type, "handover") == 0)
        return kg_policy_handover(p, by, to, now);
    if (strcmp(type, "end") == 0)
        return kg_policy_end(p, by, now);
    /* set */
    int rc = 0;
    json_t *v;
    if ((v = json_object_get(msg, "screen_share")) && rc == 0) {
        const char *sv = json_string_value(v);
        if (!sv || (strcmp(sv, "host") && strcmp(sv, "all")))
            return KG_ERR_INVAL;
        rc = kg_policy_set_share(p, by, sv[0] == 'a' ? KG_SHARE_ALL
                                                     : KG_SHARE_HOST);
    }
    if ((v = json_object_get(msg, "chat")) && rc == 0)
        rc = json_is_boolean(v) ? kg_policy_set_chat(p, by, json_is_true(v))
                                : KG_ERR_INVAL;
    if ((v = json_object_get(msg, "allow_rename")) && rc == 0)
        rc = json_is_boolean(v)
                 ? kg_policy_set_rename(p, by, json_is_true(v))
                 : KG_ERR_INVAL;
    return rc;
}

static bool is_host_control(const char *type)
{
    static const char *const controls[] = {
        "admit", "deny", "remove", "lock", "unlock", "mute", "ask_unmute",
        "handover", "end", "set", NULL};
    for (size_t i = 0; controls[i]; i++) {
        if (strcmp(type, controls[i]) == 0)
            return true;
    }
    return false;
}

static void on_control(kg_session *ss, const char *type, json_t *msg)
{
    static const char *const allowed[] = {
        "type", "participant", "screen_share", "chat", "allow_rename", NULL};
    const char *bad = unknown_field(msg, allowed);
    if (bad) {
        send_error(ss, "bad_request", "unknown field '%s'", bad);
        return;
    }
    if (!ss->live || !ss->room) {
        send_error(ss, "not_joined", "not in a meeting");
        return;
    }
    live *lv = ss->live;
    int rc = host_control(ss, type, msg, wall_now());
    if (rc == KG_ERR_DENIED)
        send_error(ss, "not_host", "only the host may do that");
    else if (rc == KG_ERR_NOTFOUND)
        send_error(ss, "bad_request", "no such participant");
    else if (rc != 0)
        send_error(ss, "bad_request", "%s", kg_strerror(rc));
    drain(ss->sfu, lv);
}

static void on_leave(kg_session *ss, json_t *msg)
{
    kg_sfu *s = ss->sfu;
    if (ss->live) {
        live *lv = ss->live;
        kg_session *nh = session_by_id(
            s, lv, json_string_value(json_object_get(msg, "new_host")));
        int rc = kg_policy_leave(lv->policy, ss->num, nh ? nh->num : 0,
                                 wall_now());
        if (rc == KG_ERR_INVAL) {
            send_error(ss, "new_host_required",
                       "the host must name a new host before leaving");
            drain(s, lv);
            return;
        }
        ss->left = true;
        drain(s, lv);
    }
    s->ops.close(ss->conn);
}

/* Chat is relayed to everyone in the meeting and never stored. */
static void on_chat(kg_session *ss, json_t *msg)
{
    const char *text = json_string_value(json_object_get(msg, "text"));
    if (!ss->room) {
        send_error(ss, "not_joined", "not in a meeting");
        return;
    }
    if (ss->live && !kg_policy_chat_on(ss->live->policy)) {
        send_error(ss, "chat_off", "the host turned chat off");
        return;
    }
    if (!text || strlen(text) == 0 || strlen(text) > 2000) {
        send_error(ss, "bad_request", "field 'text' must be 1-2000 bytes");
        return;
    }
    json_t *out = json_pack("{s:s, s:s, s:s, s:s}", "type", "chat", "from",
                            ss->id, "name", ss->name, "text", text);
    for (kg_session *o = ss->room->members; o; o = o->room_next)
        send_json(o, json_deep_copy(out));
    json_decref(out);
}

static void on_recording(kg_session *ss, json_t *msg)
{
    json_t *on = json_object_get(msg, "on");
    if (!ss->room || !json_is_boolean(on)) {
        send_error(ss, ss->room ? "bad_request" : "not_joined",
                   "send {\"type\": \"recording\", \"on\": true|false}");
        return;
    }
    json_t *out = json_pack("{s:s, s:s, s:s, s:b}", "type", "recording",
                            "participant", ss->id, "name", ss->name, "on",
                            json_is_true(on));
    for (kg_session *o = ss->room->members; o; o = o->room_next)
        send_json(o, json_deep_copy(out));
    json_decref(out);
}

static void on_unmute(kg_session *ss)
{
    if (!ss->live || !ss->room) {
        send_error(ss, "not_joined", "not in a meeting");
        return;
    }
    if (kg_policy_unmute_self(ss->live->policy, ss->num) != 0) {
        send_error(ss, "muted_by_host", "wait for the host's unmute request");
        return;
    }
    post_mute(ss->sfu, ss->num, false);
}

void kg_session_on_message(kg_session *ss, const char *text, size_t len)
{
    json_error_t jerr;
    ss->sfu->messages++;
    if (len > KG_MAX_MESSAGE) {
        send_error(ss, "bad_json", "message over %d bytes", KG_MAX_MESSAGE);
        return;
    }
    json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!msg || !json_is_object(msg)) {
        send_error(ss, "bad_json", "not a JSON object");
        json_decref(msg);
        return;
    }
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!type)
        send_error(ss, "bad_request", "field 'type' must be a string");
    else if (strcmp(type, "join") == 0)
        on_join(ss, msg);
    else if (strcmp(type, "publish") == 0)
        on_publish(ss, msg);
    else if (strcmp(type, "subscribe_answer") == 0)
        on_subscribe_answer(ss, msg);
    else if (strcmp(type, "leave") == 0)
        on_leave(ss, msg);
    else if (is_host_control(type))
        on_control(ss, type, msg);
    else if (strcmp(type, "chat") == 0)
        on_chat(ss, msg);
    else if (strcmp(type, "recording") == 0)
        on_recording(ss, msg);
    else if (strcmp(type, "unmute") == 0)
        on_unmute(ss);
    else
        send_error(ss, "unknown_type", "unknown message type");
    json_decref(msg);
}

/* --- lifetime ---------------------------------------------------------- */

kg_session *kg_session_open(kg_sfu *s, void *conn, const char *peer)
{
    if (s->n_sessions >= s->cfg.max_participants)
        return NULL;
    kg_session *ss = calloc(1, sizeof(*ss));
    if (!ss)
        return NULL;
    ss->sfu = s;
    ss->conn = conn;
    snprintf(ss->peer, sizeof(ss->peer), "%s", peer ? peer : "");
    ss->num = ++s->next_num;
    ss->id[0] = 'p';
    if (kg_random_alnum(ss->id + 1, ID_LEN - 1) != 0 ||
        kg_ice_creds_random(&ss->pub_creds) != 0 ||
        kg_ice_creds_random(&ss->sub_creds) != 0) {
        free(ss);
        return NULL;
    }
    ss->sdp_sess_id = ((uint64_t)kg_random_u32() << 31) | kg_random_u32();
    /* m-line 0 of the subscribe transport is a placeholder audio section
     * that stays inactive: the first offer needs one section to bring the
     * transport up, and a browser refuses a re-offer that changes an
     * m-line's kind, so tracks are appended after it. */
    ss->slots[0].kind = KG_SDP_AUDIO;
    ss->slots[0].pt = 111;
    ss->slots[0].out_ssrc = kg_random_u32() | 1u;
    snprintf(ss->slots[0].stream_id, sizeof(ss->slots[0].stream_id), "-");
    snprintf(ss->slots[0].track_id, sizeof(ss->slots[0].track_id), "-");
    ss->n_slots = 1;
    ss->next = s->sessions;
    s->sessions = ss;
    s->n_sessions++;
    return ss;
}

/* The publisher pub is gone: its sections become inactive everywhere. */
static void drop_publisher(kg_session *pub, sroom *r)
{
    for (kg_session *o = r->members; o; o = o->room_next) {
        if (o == pub)
            continue;
        for (size_t i = 0; i < o->n_slots; i++) {
            if (o->slots[i].pub == pub) {
                o->slots[i].pub = NULL;
                o->sub_dirty = true;
            }
        }
        send_json(o, json_pack("{s:s, s:s}", "type", "participant_left",
                               "participant", pub->id));
        maybe_offer(o);
    }
}

void kg_session_closed(kg_session *ss)
{
    kg_sfu *s = ss->sfu;
    if (ss->live) {
        live *lv = ss->live;
        if (!ss->left)
            kg_policy_drop(lv->policy, ss->num, wall_now());
        ss->live = NULL;
        leave_room(ss);
        drain(s, lv);
    }
    leave_room(ss);
    kg_session **pp = &s->sessions;
    while (*pp && *pp != ss)
        pp = &(*pp)->next;
    if (*pp)
        *pp = ss->next;
    s->n_sessions--;
    memset(ss, 0, sizeof(*ss)); /* wipes the ICE passwords */
    free(ss);
}

/* --- worker events ---------------------------------------------------- */

static void on_worker_event(void *user, const kg_worker_event *ev)
{
    kg_sfu *s = user;
    kg_session *ss = session_by_num(s, ev->participant);
    const char *role = ev->role == KG_ROLE_PUBLISH ? "publish" : "subscribe";
    if (!ss)
        return;
    if (ev->type == KG_WEV_CONNECTED) {
        fprintf(stderr, "kaigi: %s %s transport connected: %s, %s\n", ss->id,
                role, kg_srtp_profile_name((kg_srtp_profile)ev->profile),
                ev->cipher);
        return;
    }
    fprintf(stderr, "kaigi: %s %s transport closed: %s\n", ss->id, role,
            kg_strerror(ev->reason));
    /* A participant whose transport died is gone: its peers must not wait
     * for media that cannot come. */
    s->ops.close(ss->conn);
}

/* --- server ------------------------------------------------------------ */

/* Runs the meetings' timers (host grace, the end of a meeting) and
 * forgets meetings whose end has passed with nobody left. */
static void on_policy_timer(uv_timer_t *t)
{
    kg_sfu *s = t->data;
    kg_time now = wall_now();
    live **pp = &s->lives;
    while (*pp) {
        live *lv = *pp;
        if (now >= kg_policy_deadline(lv->policy)) {
            kg_policy_on_timeout(lv->policy, now);
            drain(s, lv);
        }
        bool used = false;
        for (kg_session *ss = s->sessions; ss && !used; ss = ss->next)
            used = ss->live == lv;
        if (!used && now / KG_SEC > (kg_time)kg_meeting_ends(&lv->m) + 60) {
            *pp = lv->next;
            kg_policy_del(lv->policy);
            free(lv);
            continue;
        }
        pp = &lv->next;
    }
}

static int sfu_open_meetings(kg_sfu *s, const kg_sfu_config *cfg)
{
    char err[256] = "";
    int rc = kg_store_open(cfg->data_dir, &s->store, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "kaigi: %s\n", err[0] ? err : kg_strerror(rc));
        return rc;
    }
    snprintf(s->base_url, sizeof(s->base_url), "%s",
             cfg->base_url ? cfg->base_url : "");
    s->api.store = s->store;
    s->api.base_url = s->base_url;
    s->api.pin_digits = cfg->pin_digits ? cfg->pin_digits : KG_PIN_DEFAULT;
    /* A source gets 5 wrong credentials per 10 minutes, a meeting 20;
     * lock-outs start at a minute and double up to an hour. */
    kg_ratelimit_cfg src = {.max_failures = 5, .window = 600 * KG_SEC,
                            .lockout = 60 * KG_SEC,
                            .lockout_max = 3600 * KG_SEC, .cap = 65536};
    kg_ratelimit_cfg mtg = src;
    mtg.max_failures = 20;
    mtg.cap = 16384;
    kg_ratelimit_cfg strict = src;
    strict.max_failures = 1;
    s->rl_source = kg_ratelimit_new(&src);
    s->rl_meeting = kg_ratelimit_new(&mtg);
    s->rl_strict = kg_ratelimit_new(&strict);
    if (!s->rl_source || !s->rl_meeting || !s->rl_strict)
        return KG_ERR_NOMEM;
    uv_timer_init(cfg->loop, &s->policy_timer);
    s->policy_timer.data = s;
    uv_timer_start(&s->policy_timer, on_policy_timer, 500, 500);
    return 0;
}

static void sfu_free(kg_sfu *s)
{
    while (s->lives) {
        live *lv = s->lives;
        s->lives = lv->next;
        kg_policy_del(lv->policy);
        free(lv);
    }
    kg_ratelimit_del(s->rl_source);
    kg_ratelimit_del(s->rl_meeting);
    kg_ratelimit_del(s->rl_strict);
    if (s->store)
        kg_store_close(s->store);
    free(s->sdp_buf);
    kg_dtls_cert_del(s->cert);
    free(s);
}

int kg_sfu_new(kg_sfu **out, const kg_sfu_config *cfg, const kg_conn_ops *ops)
{
    kg_sfu *s = calloc(1, sizeof(*s));
    if (!s)
        return KG_ERR_NOMEM;
    s->cfg = *cfg;
    s->ops = *ops;
    snprintf(s->node, sizeof(s->node), "%s", cfg->node);
    s->sdp_buf = malloc(SDP_BUF);
    s->cert = kg_dtls_cert_new();
    if (!s->sdp_buf || !s->cert) {
        sfu_free(s);
        return KG_ERR_CRYPTO;
    }
    int rc = sfu_open_meetings(s, cfg);
    if (rc != 0) {
        if (s->policy_timer.data)
            uv_close((uv_handle_t *)&s->policy_timer, NULL);
        sfu_free(s);
        return rc;
    }
    kg_worker_config wc = {.udp_addr = cfg->udp_addr,
                           .cert = s->cert,
                           .dtls_flags = cfg->dtls_flags,
                           .signal_loop = cfg->loop,
                           .on_event = on_worker_event,
                           .user = s};
    rc = kg_worker_start(&s->worker, &wc);
    if (rc != 0) {
        uv_close((uv_handle_t *)&s->policy_timer, NULL);
        sfu_free(s);
        return rc;
    }
    struct sockaddr_storage ss;
    kg_worker_local_addr(s->worker, &ss);
    if (ss.ss_family == AF_INET6) {
        s->udp_port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr,
                  s->public_ip, sizeof(s->public_ip));
    } else {
        s->udp_port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr,
                  s->public_ip, sizeof(s->public_ip));
    }
    if (cfg->public_ip && cfg->public_ip[0])
        snprintf(s->public_ip, sizeof(s->public_ip), "%s", cfg->public_ip);
    *out = s;
    return 0;
}

static void policy_timer_closed(uv_handle_t *h)
{
    sfu_free(h->data);
}

void kg_sfu_del(kg_sfu *s)
{
    while (s->sessions)
        kg_session_closed(s->sessions);
    kg_worker_stop(s->worker);
    uv_close((uv_handle_t *)&s->policy_timer, policy_timer_closed);
}

const struct kg_api *kg_sfu_api(kg_sfu *s)
{
    return &s->api;
}

struct kg_store *kg_sfu_store(kg_sfu *s)
{
    return s->store;
}

json_t *kg_sfu_stats_json(kg_sfu *s)
{
    kg_worker_stats w;
    kg_worker_get_stats(s->worker, &w);
    size_t rooms = 0;
    for (sroom *r = s->rooms; r; r = r->next)
        rooms++;
    json_t *media = json_object();
#define W(field) json_object_set_new(media, #field, json_integer((json_int_t)w.field))
    W(rx_datagrams);
    W(rx_bytes);
    W(tx_datagrams);
    W(tx_bytes);
    W(tx_errors);
    W(stun_ok);
    W(stun_bad);
    W(unknown_source);
    W(malformed);
    W(dtls_fail);
    W(srtp_auth_fail);
    W(srtp_replay);
    W(rtp_in);
    W(rtcp_in);
    W(rtp_forwarded);
    W(rtcp_feedback_in);
    W(pli_sent);
    W(transports);
    W(transports_connected);
    W(participants);
    W(rooms);
    W(consent_timeouts);
    W(ssrc_refused);
#undef W
    json_t *sig = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}", "messages",
        (json_int_t)s->messages, "errors", (json_int_t)s->errors, "joins",
        (json_int_t)s->joins, "sdp_errors", (json_int_t)s->sdp_errors,
        "credential_failures", (json_int_t)s->pin_failures,
        "lockouts_source", (json_int_t)s->lockouts_source, "lockouts_meeting",
        (json_int_t)s->lockouts_meeting, "sessions",
        (json_int_t)s->n_sessions);
    return json_pack("{s:s, s:I, s:I, s:o, s:[o]}", "node", s->node, "rooms",
                     (json_int_t)rooms, "participants",
                     (json_int_t)s->n_sessions, "signalling", sig, "workers",
                     media);
}
