#include "signalling/session.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto/random.h"
#include "relay/room.h"
#include "signalling/sfu_internal.h"

/* --- output ---------------------------------------------------------- */

void sfu_send_json(kg_session *ss, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return;
    ss->sfu->ops.send(ss->conn, text, strlen(text));
    free(text);
}

void sfu_send_error(kg_session *ss, const char *code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    ss->sfu->errors++;
    sfu_send_json(ss, json_pack("{s:s, s:s, s:s}", "type", "error", "code", code,
                            "message", msg));
}

void sfu_post(kg_session *ss, const kg_worker_cmd *c)
{
    if (kg_worker_post(ss->sfu->workers[ss->worker], c) != 0)
        fprintf(stderr, "kaigi: out of memory posting to the media worker\n");
}

/* --- validation ------------------------------------------------------- */

/* Checks that every key of obj is in allowed (NULL-terminated): kaigi
 * refuses fields it did not define rather than ignore (or store) them. */
const char *sfu_unknown_field(json_t *obj, const char *const *allowed)
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
bool sfu_valid_nickname(const char *n)
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
sroom *sfu_admit(kg_sfu *s, const char *room_name, const char **code)
{
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
        /* Pin the room to the worker with the fewest rooms: its media
         * then never crosses threads. */
        for (unsigned i = 1; i < s->n_workers; i++) {
            if (s->rooms_on[i] < s->rooms_on[r->worker])
                r->worker = i;
        }
        s->rooms_on[r->worker]++;
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
        s->rooms_on[r->worker]--;
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
    out->cand_port = s->udp_port[ss->worker];
    out->tcp_port = s->tcp_port[ss->worker];
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
        t->active = sl->pub != NULL || (i == 0 && ss->mixed_audio);
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
    sfu_send_json(ss, json_pack("{s:s, s:i, s:s}", "type", "subscribe", "version",
                            (json_int_t)ss->sub_version, "sdp",
                            ss->sfu->sdp_buf));
}

/* Gives subscriber sub a slot for every track of pub it lacks. */
static void add_slots_for(kg_session *sub, kg_session *pub)
{
    for (size_t i = 0; i < pub->n_tracks; i++) {
        const sess_track *t = &pub->tracks[i];
        if (sub->mixed_audio && t->kind == KG_SDP_AUDIO)
            continue; /* it hears this track in kaigi's mix */
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
    sfu_post(ss, &c);
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

/* The name (an SSRC never seen on the wire) of a rid-based simulcast
 * track: FNV-1a of its mid, so that a re-offer names it the same. */
static uint32_t rid_track_name(const char *mid)
{
    uint32_t h = 2166136261u;
    for (const char *c = mid; *c; c++)
        h = (h ^ (uint8_t)*c) * 16777619u;
    return h | 1u;
}

static void set_blocked(kg_session *ss, sess_track *t, bool block)
{
    kg_worker_cmd c = {.type = KG_CMD_BLOCK,
                       .participant = ss->num,
                       .ssrc = t->ssrc,
                       .mute = block};
    t->blocked = block;
    sfu_post(ss, &c);
}

void sfu_enforce_share(kg_session *ss)
{
    if (!ss->live || kg_policy_may_share(ss->live->policy, ss->num))
        return;
    for (size_t i = 0; i < ss->n_tracks; i++) {
        sess_track *t = &ss->tracks[i];
        if (!t->screen || t->blocked)
            continue;
        set_blocked(ss, t, true);
        sfu_send_error(ss, "share_denied",
                       "the host stopped your screen share: screen "
                       "sharing is for the host only now");
    }
}

static bool learn_tracks(kg_session *ss, const kg_sdp *offer,
                         const kg_sdp *answer, json_t *sources)
{
    bool added = false;
    for (size_t i = 0; i < offer->n_media && i < answer->n_media; i++) {
        const kg_sdp_media *m = &offer->media[i];
        const kg_sdp_media *am = &answer->media[i];
        /* rid-based simulcast (the answer accepted it): the layers' SSRCs
         * are learnt by the worker; the track needs a name of its own. */
        uint8_t rid_ext = am->n_simulcast >= 2
                              ? kg_sdp_find_extmap(am, KG_SDP_EXT_RID)
                              : 0;
        if (am->port == 0 || (m->n_ssrcs == 0 && !rid_ext) ||
            (m->dir != KG_SDP_SENDONLY && m->dir != KG_SDP_SENDRECV))
            continue;
        uint32_t ssrc = m->n_ssrcs == 0 ? 0
                        : m->fid_ssrc[0] ? m->fid_ssrc[0]
                                         : m->ssrcs[0].ssrc;
        if (rid_ext && ssrc == 0)
            ssrc = rid_track_name(m->mid);
        bool simulcast = m->kind == KG_SDP_VIDEO && m->n_sim >= 2;
        if (simulcast) /* the lowest layer names the track */
            ssrc = m->sim_ssrc[0];
        bool have = false;
        for (size_t j = 0; j < ss->n_tracks; j++) {
            if (ss->tracks[j].ssrc == ssrc) {
                have = true;
                /* Shared again (a re-offer) once the policy allows it. */
                if (ss->tracks[j].blocked && ss->live &&
                    kg_policy_may_share(ss->live->policy, ss->num))
                    set_blocked(ss, &ss->tracks[j], false);
            }
        }
        if (have || ss->n_tracks == MAX_TRACKS)
            continue;
        if (m->kind == KG_SDP_VIDEO && is_screen(sources, m->mid) &&
            ss->live && !kg_policy_may_share(ss->live->policy, ss->num)) {
            /* Never routed: receivers cannot get a screen the policy
             * does not allow, whatever the client does. */
            sfu_send_error(ss, "share_denied",
                       "screen sharing is for the host only here");
            continue;
        }
        sess_track *t = &ss->tracks[ss->n_tracks++];
        t->kind = m->kind;
        t->ssrc = ssrc;
        t->screen = m->kind == KG_SDP_VIDEO && is_screen(sources, m->mid);
        t->blocked = false;
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
        if (simulcast) {
            c.n_layers = (uint8_t)m->n_sim;
            memcpy(c.layer_ssrc, m->sim_ssrc, m->n_sim * sizeof(uint32_t));
        } else if (rid_ext) {
            c.n_layers = (uint8_t)(am->n_simulcast > 3 ? 3 : am->n_simulcast);
            c.rid_ext_id = rid_ext;
            for (size_t k = 0; k < c.n_layers; k++)
                memcpy(c.layer_rid[k], am->simulcast[k], KG_SDP_RID_LEN);
        }
        /* The id the answer kept: the worker reads levels with it. */
        if (m->kind == KG_SDP_AUDIO)
            c.audio_level_id = kg_sdp_find_extmap(&answer->media[i],
                                                  KG_SDP_EXT_AUDIO_LEVEL);
        sfu_post(ss, &c);
        added = true;
    }
    return added;
}

/* --- participants ----------------------------------------------------- */

kg_time sfu_wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (kg_time)ts.tv_sec * KG_SEC + (kg_time)ts.tv_nsec;
}

kg_session *sfu_session_by_num(kg_sfu *s, uint64_t num)
{
    for (kg_session *ss = s->sessions; ss; ss = ss->next) {
        if (ss->num == num)
            return ss;
    }
    return NULL;
}


/* --- mixed audio (codec/mixer.h) ------------------------------------- */

/* The join's "audio" field: "tracks" (the default: one m-section per
 * remote audio track) or "mixed". Returns 0, or -1 after an error. */
static int join_audio(kg_session *ss, json_t *msg)
{
    json_t *j = json_object_get(msg, "audio");
    if (!j)
        return 0;
    const char *v = json_string_value(j);
    if (!v || (strcmp(v, "mixed") != 0 && strcmp(v, "tracks") != 0)) {
        sfu_send_error(ss, "bad_request",
                       "field 'audio' must be \"tracks\" or \"mixed\"");
        return -1;
    }
    ss->mixed_audio = strcmp(v, "mixed") == 0;
    return 0;
}

/* The mix arrives on m-line 0, which every subscribe offer has as an
 * audio section anyway: no m-line is added, none changes kind, and it
 * is active from the first offer. */
static void start_mix(kg_session *ss)
{
    sub_slot *sl = &ss->slots[0];
    snprintf(sl->stream_id, sizeof(sl->stream_id), "kaigi-mix");
    snprintf(sl->track_id, sizeof(sl->track_id), "mix");
    kg_worker_cmd c = {.type = KG_CMD_MIX,
                       .participant = ss->num,
                       .out_ssrc = sl->out_ssrc,
                       .out_pt = sl->pt};
    sfu_post(ss, &c);
}

/* Puts an admitted participant into room r: tells the others, starts its
 * media on the worker, and sends `joined` and the first subscribe offer.
 * Only here does a participant get ICE credentials and SDP. */
void sfu_enter_room(kg_session *ss, sroom *r)
{
    kg_sfu *s = ss->sfu;
    if (ss->room)
        return;
    json_t *others = json_array();
    for (kg_session *o = r->members; o; o = o->room_next) {
        json_array_append_new(others, json_pack("{s:s, s:s}", "id", o->id,
                                                "name", o->name));
        sfu_send_json(o, json_pack("{s:s, s:{s:s, s:s}}", "type",
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
    ss->worker = r->worker;
    ss->waiting = false;
    s->joins++;

    kg_worker_cmd c = {.type = KG_CMD_JOIN,
                       .participant = ss->num,
                       .room = r->num};
    sfu_post(ss, &c);
    if (ss->mixed_audio)
        start_mix(ss);
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:o}", "type", "joined",
                          "participant", ss->id, "room", ss->live ? ss->live->m.id
                                                                  : r->name + 5,
                          "node", s->node, "participants", others);
    if (ss->live) {
        kg_session *h = sfu_session_by_num(s, kg_policy_host(ss->live->policy));
        json_object_set_new(j, "host", json_boolean(h == ss));
        json_object_set_new(j, "host_id", json_string(h ? h->id : ""));
        json_object_set_new(j, "title", json_string(ss->live->m.title));
        /* The meeting's settings now, so that a client knows from the
         * start whether it may share its screen or chat. */
        json_t *st = sfu_settings_msg(ss->live);
        json_object_del(st, "type");
        json_object_set_new(j, "settings", st);
    }
    sfu_send_json(ss, j);
    sfu_tell_speaker(ss, r);
    for (kg_session *o = r->members; o; o = o->room_next) {
        if (o != ss)
            add_slots_for(ss, o);
    }
    ss->sub_dirty = true; /* the first offer goes out even with no track */
    maybe_offer(ss);
}

/* Takes ss out of its media room at once: its transports close on the
 * worker and the others' subscribe offers drop its tracks. */
void sfu_leave_room(kg_session *ss)
{
    kg_sfu *s = ss->sfu;
    if (!ss->room)
        return;
    kg_worker_cmd c = {.type = KG_CMD_LEAVE, .participant = ss->num};
    sfu_post(ss, &c);
    sroom *r = ss->room;
    bool others = r->n_members > 1;
    room_remove(s, r, ss); /* frees r when ss was the last */
    if (others)
        sfu_drop_publisher(ss, r);
    ss->room = NULL;
}

static void on_join(kg_session *ss, json_t *msg)
{
    static const char *const allowed[] = {"type",   "room",     "name",
                                          "meeting", "pin",     "invite",
                                          "host_key", "audio",  NULL};
    kg_sfu *s = ss->sfu;
    const char *bad = sfu_unknown_field(msg, allowed);
    if (bad) {
        sfu_send_error(ss, "bad_request", "unknown field '%s'", bad);
        return;
    }
    if (ss->room || ss->live) {
        sfu_send_error(ss, "already_joined", "this socket already joined");
        return;
    }
    /* Only joined sessions hold participant slots (a socket that never
     * joins cannot take one from a real participant). */
    if (s->n_joined >= s->cfg.max_participants) {
        sfu_send_error(ss, "room_full", "the server is full");
        s->ops.close(ss->conn);
        return;
    }
    const char *name = json_string_value(json_object_get(msg, "name"));
    if (!name || !sfu_valid_nickname(name)) {
        sfu_send_error(ss, "bad_request",
                   "field 'name' must be 1-64 bytes of UTF-8 without "
                   "control characters");
        return;
    }
    snprintf(ss->name, sizeof(ss->name), "%s", name);
    if (join_audio(ss, msg) != 0)
        return;
    json_t *jroom = json_object_get(msg, "room");
    if (!jroom) {
        sfu_join_meeting(ss, msg);
        return;
    }
    const char *room = json_string_value(jroom);
    if (!s->cfg.open_rooms) {
        sfu_send_error(ss, "bad_request",
                   "ad-hoc rooms are off: join a meeting with its ID and PIN");
        return;
    }
    if (!room || !valid_room_name(room)) {
        sfu_send_error(ss, "bad_request",
                   "field 'room' must be 1-64 chars of A-Za-z0-9_.-");
        return;
    }
    char name_key[80];
    snprintf(name_key, sizeof(name_key), "room:%s", room);
    const char *code = NULL;
    sroom *r = sfu_admit(s, name_key, &code);
    if (!r) {
        sfu_send_error(ss, code, "cannot join room '%s'", room);
        s->ops.close(ss->conn);
        return;
    }
    sfu_mark_joined(ss);
    sfu_enter_room(ss, r);
}

static void on_publish(kg_session *ss, json_t *msg)
{
    static const char *const allowed[] = {"type", "sdp", "sources", NULL};
    kg_sfu *s = ss->sfu;
    const char *bad = sfu_unknown_field(msg, allowed);
    if (bad) {
        sfu_send_error(ss, "bad_request", "unknown field '%s'", bad);
        return;
    }
    if (!ss->room) {
        sfu_send_error(ss, "not_joined", "send 'join' first");
        return;
    }
    json_t *jsdp = json_object_get(msg, "sdp");
    if (!json_is_string(jsdp)) {
        sfu_send_error(ss, "bad_request", "field 'sdp' must be a string");
        return;
    }
    kg_sdp *offer = kg_sdp_new();
    kg_sdp *answer = kg_sdp_new();
    if (!offer || !answer) {
        sfu_send_error(ss, "internal", "out of memory");
        goto out;
    }
    int rc = kg_sdp_parse(json_string_value(jsdp), json_string_length(jsdp),
                          offer);
    if (rc != 0) {
        s->sdp_errors++;
        sfu_send_error(ss, "bad_sdp", "offer does not parse: %s", kg_strerror(rc));
        goto out;
    }
    kg_sdp_local local;
    local_sdp(ss, &ss->pub_creds, ++ss->pub_version, &local);
    rc = kg_sdp_answer_publish(offer, &local, answer);
    if (rc != 0) {
        s->sdp_errors++;
        sfu_send_error(ss, "unsupported_sdp", "cannot answer the offer: %s",
                   kg_strerror(rc));
        goto out;
    }
    ssize_t n = kg_sdp_write(answer, s->sdp_buf, SDP_BUF);
    if (n < 0) {
        sfu_send_error(ss, "internal", "cannot write the answer");
        goto out;
    }
    if (!ss->pub_transport &&
        !(ss->pub_transport = register_transport(ss, KG_ROLE_PUBLISH, offer))) {
        sfu_send_error(ss, "unsupported_sdp", "offer lacks ICE/DTLS parameters");
        goto out;
    }
    sfu_send_json(ss, json_pack("{s:s, s:s}", "type", "publish_answer", "sdp",
                            s->sdp_buf));
    json_t *sources = json_object_get(msg, "sources");
    if (sources && !json_is_object(sources)) {
        sfu_send_error(ss, "bad_request",
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
                           .out_pt = sl->pt,
                           .sc_max_layer = sl->sc_max_layer};
        sfu_post(ss, &c);
        sl->routed = true;
    }
}

static void on_subscribe_answer(kg_session *ss, json_t *msg)
{
    static const char *const allowed[] = {"type", "sdp", "version", NULL};
    kg_sfu *s = ss->sfu;
    const char *bad = sfu_unknown_field(msg, allowed);
    if (bad) {
        sfu_send_error(ss, "bad_request", "unknown field '%s'", bad);
        return;
    }
    if (!ss->room) {
        sfu_send_error(ss, "not_joined", "send 'join' first");
        return;
    }
    json_t *jsdp = json_object_get(msg, "sdp");
    json_t *jver = json_object_get(msg, "version");
    if (!json_is_string(jsdp) || !json_is_integer(jver)) {
        sfu_send_error(ss, "bad_request",
                   "fields 'sdp' (string) and 'version' (integer) required");
        return;
    }
    if (!ss->sub_pending || json_integer_value(jver) != ss->sub_version)
        return; /* an answer to an older offer: ignored, as documented */
    kg_sdp *answer = kg_sdp_new();
    if (!answer) {
        sfu_send_error(ss, "internal", "out of memory");
        return;
    }
    int rc = kg_sdp_parse(json_string_value(jsdp), json_string_length(jsdp),
                          answer);
    if (rc != 0) {
        s->sdp_errors++;
        sfu_send_error(ss, "bad_sdp", "answer does not parse: %s",
                   kg_strerror(rc));
        kg_sdp_del(answer);
        return;
    }
    const kg_sdp_transport *tr = kg_sdp_bundle_transport(answer);
    if (tr && tr->setup == KG_SDP_SETUP_PASSIVE) {
        s->sdp_errors++;
        sfu_send_error(ss, "unsupported_sdp",
                   "answer must say a=setup:active (kaigi is DTLS server)");
        kg_sdp_del(answer);
        return;
    }
    if (!ss->sub_transport &&
        !(ss->sub_transport =
              register_transport(ss, KG_ROLE_SUBSCRIBE, answer))) {
        sfu_send_error(ss, "unsupported_sdp", "answer lacks ICE/DTLS parameters");
        kg_sdp_del(answer);
        return;
    }
    kg_sdp_del(answer);
    ss->sub_pending = false;
    route_slots(ss);
    maybe_offer(ss);
}

/* {"type": "video_layer", "participant": ID, "max": 0..2}: the highest
 * simulcast layer this receiver wants of ID's video (what it shows it
 * at; 2 lifts the cap). Kept per slot, so that a route made later gets
 * it too; a publisher without simulcast is not affected. */
static void on_video_layer(kg_session *ss, json_t *msg)
{
    static const char *const allowed[] = {"type", "participant", "max", NULL};
    const char *bad = sfu_unknown_field(msg, allowed);
    if (bad) {
        sfu_send_error(ss, "bad_request", "unknown field '%s'", bad);
        return;
    }
    if (!ss->room) {
        sfu_send_error(ss, "not_joined", "send 'join' first");
        return;
    }
    const char *pid = json_string_value(json_object_get(msg, "participant"));
    json_t *jmax = json_object_get(msg, "max");
    if (!pid || !json_is_integer(jmax) || json_integer_value(jmax) < 0 ||
        json_integer_value(jmax) > 2) {
        sfu_send_error(ss, "bad_request",
                       "fields 'participant' (string) and 'max' (0-2) required");
        return;
    }
    uint8_t cap = (uint8_t)(json_integer_value(jmax) + 1);
    for (size_t i = 0; i < ss->n_slots; i++) {
        sub_slot *sl = &ss->slots[i];
        if (!sl->pub || sl->kind != KG_SDP_VIDEO || strcmp(sl->pub->id, pid))
            continue;
        sl->sc_max_layer = cap;
        if (!sl->routed)
            continue; /* the ROUTE command will carry it */
        kg_worker_cmd c = {.type = KG_CMD_MAX_LAYER,
                           .participant = sl->pub->num,
                           .ssrc = sl->in_ssrc,
                           .sub = ss->num,
                           .sc_max_layer = cap};
        sfu_post(ss, &c);
    }
}

void kg_session_on_message(kg_session *ss, const char *text, size_t len)
{
    json_error_t jerr;
    ss->sfu->messages++;
    if (ss->closing)
        return; /* evicted or past its join deadline: going away */
    if (len > KG_MAX_MESSAGE) {
        sfu_send_error(ss, "bad_json", "message over %d bytes", KG_MAX_MESSAGE);
        return;
    }
    json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!msg || !json_is_object(msg)) {
        sfu_send_error(ss, "bad_json", "not a JSON object");
        json_decref(msg);
        return;
    }
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!type)
        sfu_send_error(ss, "bad_request", "field 'type' must be a string");
    else if (strcmp(type, "join") == 0)
        on_join(ss, msg);
    else if (strcmp(type, "publish") == 0)
        on_publish(ss, msg);
    else if (strcmp(type, "subscribe_answer") == 0)
        on_subscribe_answer(ss, msg);
    else if (strcmp(type, "video_layer") == 0)
        on_video_layer(ss, msg);
    else if (sfu_meeting_message(ss, type, msg))
        ; /* leave, host controls, chat, recording, unmute */
    else
        sfu_send_error(ss, "unknown_type", "unknown message type");
    json_decref(msg);
}

/* --- lifetime ---------------------------------------------------------- */

char *kg_source_key(const char *peer, unsigned v6_prefix, char *out,
                    size_t cap)
{
    unsigned char a[16];
    char text[INET6_ADDRSTRLEN];
    if (!cap)
        return out;
    if (inet_pton(AF_INET, peer, a) == 1) {
        snprintf(out, cap, "4:%s", peer);
    } else if (inet_pton(AF_INET6, peer, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0,
                                                 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, sizeof(mapped)) == 0) {
            inet_ntop(AF_INET, a + 12, text, sizeof(text));
            snprintf(out, cap, "4:%s", text);
            return out;
        }
        unsigned bits = v6_prefix >= 1 && v6_prefix <= 128 ? v6_prefix : 64;
        for (unsigned i = 0; i < 16; i++) {
            unsigned keep = bits > i * 8 ? bits - i * 8 : 0;
            if (keep < 8)
                a[i] &= (unsigned char)(0xff00u >> keep);
        }
        inet_ntop(AF_INET6, a, text, sizeof(text));
        snprintf(out, cap, "6:%s/%u", text, bits);
    } else {
        snprintf(out, cap, "%s", peer);
    }
    return out;
}

static uint64_t source_hash(const char *source)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (const char *c = source; *c; c++)
        h = (h ^ (uint8_t)*c) * 1099511628211ull;
    return h | 1; /* 0 marks an empty slot */
}

/* Unjoined sockets per source, one pass: counts and each one's oldest. */
typedef struct src_count {
    uint64_t hash;
    size_t n;
    kg_session *oldest;
} src_count;

static void close_unjoined(kg_session *ss, const char *code, const char *why)
{
    kg_sfu *s = ss->sfu;
    ss->closing = true;
    s->n_closing++;
    sfu_send_error(ss, code, "%s", why);
    s->ops.close(ss->conn);
}

/* The pool is full: closes the oldest unjoined socket of the source that
 * holds the most, if it holds more than source would with one more.
 * Returns whether a place was freed. */
static bool evict_for(kg_sfu *s, const char *source, size_t pool)
{
    size_t cap = 2 * pool + 2;
    src_count *t = calloc(cap, sizeof(*t));
    if (!t)
        return false;
    src_count *top = NULL;
    for (kg_session *o = s->sessions; o; o = o->next) {
        if (o->joined || o->closing)
            continue;
        uint64_t h = source_hash(o->source);
        size_t i = (size_t)(h % cap);
        while (t[i].hash && t[i].hash != h)
            i = (i + 1) % cap;
        t[i].hash = h;
        t[i].n++;
        if (!t[i].oldest || o->opened <= t[i].oldest->opened)
            t[i].oldest = o;
        if (!top || t[i].n > top->n)
            top = &t[i];
    }
    uint64_t mine = source_hash(source);
    size_t own = 0;
    for (size_t i = mine % cap; t[i].hash; i = (i + 1) % cap)
        if (t[i].hash == mine) {
            own = t[i].n;
            break;
        }
    kg_session *victim = top && top->n > own + 1 ? top->oldest : NULL;
    free(t);
    if (!victim)
        return false;
    s->unjoined_evicted++;
    close_unjoined(victim, "busy",
                   "too many unjoined connections from your network");
    return true;
}

/* Whether another unjoined socket from source may be kept. */
static bool unjoined_fits(kg_sfu *s, const char *source)
{
    size_t pool = s->cfg.max_unjoined ? s->cfg.max_unjoined
                                      : KG_MAX_UNJOINED;
    if (s->n_sessions - s->n_joined - s->n_closing < pool)
        return true;
    return evict_for(s, source, pool);
}

void sfu_mark_joined(kg_session *ss)
{
    if (!ss->joined) {
        ss->joined = true;
        ss->sfu->n_joined++;
    }
}

void sfu_expire_unjoined(kg_sfu *s, kg_time now)
{
    for (kg_session *ss = s->sessions; ss; ss = ss->next) {
        if (ss->joined || ss->closing || now - ss->opened < KG_JOIN_DEADLINE)
            continue;
        s->join_timeouts++;
        close_unjoined(ss, "join_timeout", "no join within the deadline");
    }
}

kg_session *kg_session_open(kg_sfu *s, void *conn, const char *peer)
{
    char source[64];
    kg_source_key(peer ? peer : "", s->cfg.ipv6_prefix, source,
                  sizeof(source));
    if (!unjoined_fits(s, source)) {
        s->unjoined_refused++;
        return NULL;
    }
    kg_session *ss = calloc(1, sizeof(*ss));
    if (!ss)
        return NULL;
    ss->sfu = s;
    ss->conn = conn;
    ss->opened = sfu_wall_now();
    memcpy(ss->source, source, sizeof(source));
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
void sfu_drop_publisher(kg_session *pub, sroom *r)
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
        sfu_send_json(o, json_pack("{s:s, s:s}", "type", "participant_left",
                               "participant", pub->id));
        maybe_offer(o);
    }
}

void kg_session_closed(kg_session *ss)
{
    kg_sfu *s = ss->sfu;
    sfu_meeting_closed(ss);
    sfu_leave_room(ss);
    kg_session **pp = &s->sessions;
    while (*pp && *pp != ss)
        pp = &(*pp)->next;
    if (*pp)
        *pp = ss->next;
    s->n_sessions--;
    if (ss->joined)
        s->n_joined--;
    else if (ss->closing)
        s->n_closing--;
    memset(ss, 0, sizeof(*ss)); /* wipes the ICE passwords */
    free(ss);
}

/* --- worker events ---------------------------------------------------- */

static void on_worker_event(void *user, const kg_worker_event *ev)
{
    kg_sfu *s = user;
    if (ev->type == KG_WEV_SPEAKER) {
        sfu_on_speaker(s, ev);
        return;
    }
    kg_session *ss = sfu_session_by_num(s, ev->participant);
    const char *role = ev->role == KG_ROLE_PUBLISH ? "publish" : "subscribe";
    if (!ss)
        return;
    if (ev->type == KG_WEV_CONNECTED) {
        fprintf(stderr, "kaigi: %s %s transport connected: %s, %s\n", ss->id,
                role, kg_srtp_profile_name((kg_srtp_profile)ev->profile),
                ev->cipher);
        if (ev->role == KG_ROLE_PUBLISH || ev->role == KG_ROLE_SUBSCRIBE) {
            ss->srtp_profile[ev->role] = ev->profile;
            sfu_transport_connected(ss);
        }
        return;
    }
    if (ev->reason == KG_ERR_SRTP_PROFILE) {
        /* A client that offers no profile kaigi accepts (GStreamer's
         * webrtcbin offers only AES-CM) is told why before its socket
         * closes, rather than seeing it drop. */
        const char *accepted =
            (s->cfg.dtls_flags & KG_DTLS_ALLOW_LEGACY_SRTP)
                ? "SRTP_AEAD_AES_256_GCM, SRTP_AEAD_AES_128_GCM, "
                  "SRTP_AES128_CM_SHA1_80"
                : "SRTP_AEAD_AES_256_GCM, SRTP_AEAD_AES_128_GCM "
                  "(SRTP_AES128_CM_SHA1_80 only with --allow-legacy-srtp)";
        fprintf(stderr,
                "kaigi: %s %s transport closed: %s: the client offered %s; "
                "kaigi accepts %s\n",
                ss->id, role, kg_strerror(ev->reason), ev->offered, accepted);
        s->srtp_profile_refused++;
        sfu_send_error(ss, "srtp_profile_unsupported",
                       "no SRTP profile in common: your client offered %s; "
                       "kaigi accepts %s",
                       ev->offered, accepted);
        s->ops.close(ss->conn);
        return;
    }
    fprintf(stderr, "kaigi: %s %s transport closed: %s\n", ss->id, role,
            kg_strerror(ev->reason));
    /* A participant whose transport died is gone: its peers must not wait
     * for media that cannot come. */
    s->ops.close(ss->conn);
}

/* --- active speaker ---------------------------------------------------- */

static json_t *speaker_msg(const kg_session *sp)
{
    return json_pack("{s:s, s:s}", "type", "speaker", "id", sp->id);
}

/* A room's dominant speaker changed (the worker's detector, relay/
 * speaker.h, changes it at most once per 500 ms, so this is also the
 * rate limit): everyone admitted to the room is told. Repeats and a
 * speaker who has left meanwhile are dropped. */
void sfu_on_speaker(kg_sfu *s, const kg_worker_event *ev)
{
    kg_session *sp = sfu_session_by_num(s, ev->participant);
    if (!sp || !sp->room || sp->room->num != ev->room ||
        sp->room->speaker == sp->num)
        return;
    sroom *r = sp->room;
    r->speaker = sp->num;
    for (kg_session *o = r->members; o; o = o->room_next)
        sfu_send_json(o, speaker_msg(sp));
}

/* A newcomer to r learns who speaks now, if anyone still there does. */
void sfu_tell_speaker(kg_session *ss, sroom *r)
{
    kg_session *sp = r->speaker ? sfu_session_by_num(ss->sfu, r->speaker)
                                : NULL;
    if (sp && sp != ss && sp->room == r)
        sfu_send_json(ss, speaker_msg(sp));
}

/* --- server ------------------------------------------------------------ */

static void sfu_free(kg_sfu *s)
{
    sfu_meetings_free(s);
    if (s->store)
        kg_store_close(s->store);
    free(s->sdp_buf);
    kg_dtls_cert_del(s->cert);
    free(s);
}

/* Starts cfg->workers media workers on consecutive UDP ports from
 * cfg->udp_addr (or ephemeral ports for port 0). On failure the started
 * ones are stopped. */
static int start_workers(kg_sfu *s, const kg_sfu_config *cfg)
{
    unsigned n = cfg->workers ? cfg->workers : 1;
    if (n > KG_MAX_WORKERS)
        n = KG_MAX_WORKERS;
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof(addr));
    memcpy(&addr, cfg->udp_addr,
           cfg->udp_addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                                : sizeof(struct sockaddr_in));
    uint16_t *port = addr.ss_family == AF_INET6
                         ? &((struct sockaddr_in6 *)&addr)->sin6_port
                         : &((struct sockaddr_in *)&addr)->sin_port;
    uint16_t base = ntohs(*port);
    for (unsigned i = 0; i < n; i++) {
        if (base)
            *port = htons((uint16_t)(base + i));
        kg_worker_config wc = {.udp_addr = (struct sockaddr *)&addr,
                               .cert = s->cert,
                               .dtls_flags = cfg->dtls_flags,
                               .signal_loop = cfg->loop,
                               .on_event = on_worker_event,
                               .user = s,
                               .index = i,
                               .process = cfg->worker_processes,
                               .loudest = cfg->loudest,
                               .tcp_port = cfg->tcp_port > 0
                                               ? cfg->tcp_port + (int)i
                                               : cfg->tcp_port};
        int rc = kg_worker_start(&s->workers[i], &wc);
        if (rc != 0) {
            while (s->n_workers > 0)
                kg_worker_stop(s->workers[--s->n_workers]);
            return rc;
        }
        s->n_workers++;
        struct sockaddr_storage bound;
        kg_worker_tcp_addr(s->workers[i], &bound);
        s->tcp_port[i] =
            bound.ss_family == AF_INET6
                ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
            : bound.ss_family == AF_INET
                ? ntohs(((struct sockaddr_in *)&bound)->sin_port)
                : 0;
        kg_worker_local_addr(s->workers[i], &bound);
        if (bound.ss_family == AF_INET6) {
            s->udp_port[i] = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&bound)->sin6_addr,
                      s->public_ip, sizeof(s->public_ip));
        } else {
            s->udp_port[i] = ntohs(((struct sockaddr_in *)&bound)->sin_port);
            inet_ntop(AF_INET, &((struct sockaddr_in *)&bound)->sin_addr,
                      s->public_ip, sizeof(s->public_ip));
        }
    }
    return 0;
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
    int rc = sfu_meetings_open(s, cfg);
    if (rc != 0) {
        if (s->policy_timer.data)
            uv_close((uv_handle_t *)&s->policy_timer, NULL);
        sfu_free(s);
        return rc;
    }
    rc = start_workers(s, cfg);
    if (rc != 0) {
        uv_close((uv_handle_t *)&s->policy_timer, NULL);
        sfu_free(s);
        return rc;
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
    for (unsigned i = 0; i < s->n_workers; i++)
        kg_worker_stop(s->workers[i]);
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

static json_t *worker_json(kg_worker *wk, unsigned index, uint16_t port,
                           uint16_t tcp_port)
{
    kg_worker_stats w;
    kg_worker_get_stats(wk, &w);
    json_t *media = json_object();
    json_object_set_new(media, "index", json_integer(index));
    json_object_set_new(media, "udp_port", json_integer(port));
    json_object_set_new(media, "tcp_port", json_integer(tcp_port));
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
    W(cpu_ns);
    W(rtcp_sr_sent);
    W(rtcp_rr_sent);
    W(rtcp_sr_in);
    W(rtcp_rr_in);
    W(audio_suppressed);
    W(mix_rooms);
    W(mix_listeners);
    W(mix_sources);
    W(mix_packets);
    W(mix_concealed);
    W(mix_late);
    W(mix_cpu_ns);
    W(rtx_limited);
    W(tcp_accepted);
    W(tcp_open);
    W(tcp_refused);
    W(tcp_timeouts);
    W(tcp_bad_stream);
    W(tcp_tx_dropped);
#undef W
    /* Per bucket (not cumulative), bounds in microseconds; the last
     * count is everything above the last bound. */
    json_t *bounds = json_array(), *counts = json_array();
    for (unsigned i = 0; i < KG_DELAY_BOUNDS; i++)
        json_array_append_new(bounds, json_integer(kg_delay_bound_us[i]));
    for (unsigned i = 0; i < KG_DELAY_BUCKETS; i++)
        json_array_append_new(
            counts, json_integer((json_int_t)w.fwd_delay.count[i]));
    json_object_set_new(
        media, "forward_delay",
        json_pack("{s:o, s:o, s:I}", "bounds_us", bounds, "counts", counts,
                  "sum_ns", (json_int_t)w.fwd_delay.sum_ns));
    return media;
}

json_t *kg_sfu_stats_json(kg_sfu *s)
{
    size_t rooms = 0;
    for (sroom *r = s->rooms; r; r = r->next)
        rooms++;
    json_t *workers = json_array();
    for (unsigned i = 0; i < s->n_workers; i++)
        json_array_append_new(workers,
                              worker_json(s->workers[i], i, s->udp_port[i],
                                          s->tcp_port[i]));
    json_t *sig = json_pack(
        "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
        "messages",
        (json_int_t)s->messages, "errors", (json_int_t)s->errors, "joins",
        (json_int_t)s->joins, "sdp_errors", (json_int_t)s->sdp_errors,
        "credential_failures", (json_int_t)s->pin_failures,
        "lockouts_source", (json_int_t)s->lockouts_source, "lockouts_meeting",
        (json_int_t)s->lockouts_meeting, "sessions",
        (json_int_t)s->n_sessions, "srtp_profile_refused",
        (json_int_t)s->srtp_profile_refused, "unjoined",
        (json_int_t)(s->n_sessions - s->n_joined - s->n_closing),
        "unjoined_refused",
        (json_int_t)s->unjoined_refused, "unjoined_evicted",
        (json_int_t)s->unjoined_evicted, "join_timeouts",
        (json_int_t)s->join_timeouts);
    json_t *out = json_pack("{s:s, s:I, s:I, s:o, s:o}", "node", s->node,
                            "rooms", (json_int_t)rooms, "participants",
                            (json_int_t)s->n_sessions, "signalling", sig,
                            "workers", workers);
    kg_store_durability d;
    if (out && s->store && kg_store_get_durability(s->store, &d) == 0)
        json_object_set_new(out, "store",
                            json_pack("{s:s, s:s}", "journal_mode",
                                      d.journal_mode, "synchronous",
                                      d.synchronous));
    return out;
}
