/* kaigi-client's side of the signalling protocol (signalling/PROTOCOL.md):
 * join, the publish offer/answer, the subscribe offers it answers, and
 * the roster. */
#include <arpa/inet.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "crypto/random.h"
#include "signalling/sdp.h"
#include "tools/client.h"

/* One SDP text buffer for the loop's thread (messages are at most 64 KiB
 * anyway). */
static char sdp_text[KG_SDP_MAX_TEXT];

int kc_signal_send(kc_app *app, json_t *msg)
{
    if (!msg)
        return KG_ERR_NOMEM;
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return KG_ERR_NOMEM;
    int rc = kc_ws_send(app->ws, text);
    free(text);
    return rc < 0 ? KG_ERR_IO : 0;
}

void kc_signal_on_open(kc_app *app)
{
    json_t *m = json_pack("{s:s, s:s}", "type", "join", "name",
                          app->opts.name);
    int rc = m ? kc_meeting_join_fields(app, m) : KG_ERR_NOMEM;
    if (rc == 0 && app->opts.mixed_audio)
        rc = json_object_set_new(m, "audio", json_string("mixed")) == 0
                 ? 0
                 : KG_ERR_NOMEM;
    if (rc == 0)
        rc = kc_signal_send(app, m);
    else
        json_decref(m);
    if (rc < 0)
        kc_fail(app, 1, "join failed: cannot send");
}

int kc_signal_send_leave(kc_app *app)
{
    json_t *m = json_pack("{s:s}", "type", "leave");
    const char *new_host = kc_meeting_new_host(app);
    if (m && new_host)
        json_object_set_new(m, "new_host", json_string(new_host));
    return kc_signal_send(app, m);
}

static void ip_string(const struct sockaddr_storage *ss, char *out,
                      size_t cap, uint16_t *port)
{
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const void *)ss;
        inet_ntop(AF_INET6, &a->sin6_addr, out, (socklen_t)cap);
        *port = ntohs(a->sin6_port);
    } else {
        const struct sockaddr_in *a = (const void *)ss;
        inet_ntop(AF_INET, &a->sin_addr, out, (socklen_t)cap);
        *port = ntohs(a->sin_port);
    }
}

/* Writes our SDP and sends it as {"type": type, "sdp": ...} plus version
 * when version >= 0, plus extra's fields (taking its reference). */
static int send_sdp(kc_app *app, const char *type, const kg_sdp *sdp,
                    json_int_t version, json_t *extra)
{
    ssize_t n = kg_sdp_write(sdp, sdp_text, sizeof(sdp_text));
    if (n < 0) {
        json_decref(extra);
        return (int)n;
    }
    json_t *m = json_pack("{s:s, s:s}", "type", type, "sdp", sdp_text);
    if (m && version >= 0)
        json_object_set_new(m, "version", json_integer(version));
    if (m && extra)
        json_object_update(m, extra);
    json_decref(extra);
    return kc_signal_send(app, m);
}

static void local_of(kc_app *app, kc_transport *t, kg_sdp_local *l,
                     char *ip, size_t ipcap, uint64_t version)
{
    memset(l, 0, sizeof(*l));
    ip_string(&t->local_addr, ip, ipcap, &l->cand_port);
    l->ice_ufrag = t->local.ufrag;
    l->ice_pwd = t->local.pwd;
    l->fingerprint = kg_dtls_cert_fingerprint(app->cert);
    l->cand_ip = ip;
    l->sess_id = ((uint64_t)kg_random_u32() << 31) | kg_random_u32();
    l->sess_version = version;
}

/* With --screen, the publish message says which section is the screen
 * share (mids as kg_sdp_offer_publish_tracks numbers them). */
static json_t *publish_sources(const kc_app *app)
{
    if (!app->opts.screen)
        return NULL;
    return json_pack("{s:{s:s, s:s, s:s}}", "sources", "0", "microphone",
                     "1", "camera", "2", "screen");
}

/* --simulcast: the camera's section (mid "1") announces the three
 * layers, lowest first, as a=ssrc-group:SIM with an a=ssrc per layer. */
static int simulcast_offer(const kc_app *app, kg_sdp *offer)
{
    if (offer->n_media < 2 || offer->media[1].n_ssrcs != 1)
        return KG_ERR_STATE;
    kg_sdp_media *m = &offer->media[1];
    const kc_pub *pub = &app->pub;
    const uint32_t ssrcs[3] = {pub->sim_low[0].ssrc, pub->sim_low[1].ssrc,
                               pub->cam.ssrc};
    kg_sdp_ssrc cam = m->ssrcs[0];
    m->n_ssrcs = 0;
    if (app->opts.simulcast_rid) {
        /* As Chromium's sendEncodings with rids: no a=ssrc at all, the
         * RTP stream ID extension names each layer. */
        static const char *const rids[3] = {"q", "h", "f"};
        for (int i = 0; i < 3; i++) {
            snprintf(m->rids[i].id, sizeof m->rids[i].id, "%s", rids[i]);
            snprintf(m->simulcast[i], sizeof m->simulcast[i], "%s", rids[i]);
        }
        m->n_rids = m->n_simulcast = 3;
        if (m->n_extmaps == KG_SDP_MAX_EXTMAP)
            return KG_ERR_FULL;
        kg_sdp_extmap *e = &m->extmaps[m->n_extmaps++];
        e->id = 10;
        snprintf(e->uri, sizeof e->uri, "%s", KG_SDP_EXT_RID);
        return 0;
    }
    for (int i = 0; i < 3; i++) {
        m->ssrcs[m->n_ssrcs] = cam;
        m->ssrcs[m->n_ssrcs++].ssrc = ssrcs[i];
        m->sim_ssrc[i] = ssrcs[i];
    }
    m->n_sim = 3;
    return 0;
}

static void send_publish(kc_app *app)
{
    char ip[INET6_ADDRSTRLEN];
    kg_sdp_local l;
    local_of(app, &app->pub_t, &l, ip, sizeof(ip), 1);
    const kg_sdp_pub_track tracks[] = {
        {KG_SDP_AUDIO, app->pub.audio_ssrc, "audio"},
        {KG_SDP_VIDEO, app->pub.cam.ssrc, "video"},
        {KG_SDP_VIDEO, app->pub.screen.ssrc, "video" KC_SCREEN_SUFFIX},
    };
    size_t n = app->opts.screen ? 3 : 2;
    kg_sdp *offer = kg_sdp_new();
    int rc = offer ? kg_sdp_offer_publish_tracks(tracks, n, app->opts.name,
                                                 &l, offer)
                   : KG_ERR_NOMEM;
    if (rc == 0 && app->opts.simulcast)
        rc = simulcast_offer(app, offer);
    if (rc == 0)
        rc = send_sdp(app, "publish", offer, -1, publish_sources(app));
    kg_sdp_del(offer);
    if (rc < 0)
        kc_fail(app, 1, "publish offer: %s", kg_strerror(rc));
}

static void add_present(kc_app *app, json_t *participants)
{
    size_t i;
    json_t *p;
    json_array_foreach(participants, i, p) {
        const char *pid = json_string_value(json_object_get(p, "id"));
        const char *name = json_string_value(json_object_get(p, "name"));
        kc_remote *r = pid ? kc_remote_get(app, pid, true) : NULL;
        if (r) {
            r->present = true;
            snprintf(r->name, sizeof(r->name), "%s", name ? name : "");
            kc_meeting_on_participant(app, pid, name);
        }
    }
}

/* Admitted: only now does the client open its first socket. Whatever
 * came before (the join, the waiting room) had no transport at all. */
static void on_joined(kc_app *app, json_t *msg)
{
    const char *id = json_string_value(json_object_get(msg, "participant"));
    const char *room = json_string_value(json_object_get(msg, "room"));
    const char *node = json_string_value(json_object_get(msg, "node"));
    if (!id || strlen(id) >= sizeof(app->participant)) {
        kc_fail(app, 1, "join failed: 'joined' without a participant id");
        return;
    }
    app->joined = true;
    snprintf(app->participant, sizeof(app->participant), "%s", id);
    snprintf(app->room, sizeof(app->room), "%s",
             room ? room : app->opts.room ? app->opts.room : "");
    snprintf(app->node, sizeof(app->node), "%s", node ? node : "");
    kc_meeting_on_joined(app, msg);
    add_present(app, json_object_get(msg, "participants"));
    app->phase = KC_NEGOTIATING;
    int rc = kc_transport_open(app, &app->pub_t, "publish",
                               (const struct sockaddr *)&app->bind_addr);
    if (rc < 0) {
        kc_fail(app, 1, "publish transport: %s", kg_strerror(rc));
        return;
    }
    send_publish(app);
    kc_arm_connect_timeout(app);
}

/* Starts t toward the transport an SDP from kaigi describes. */
static int start_toward(kc_transport *t, const kg_sdp *sdp)
{
    const kg_sdp_transport *tr = kg_sdp_bundle_transport(sdp);
    if (!tr || !tr->ice_ufrag[0] || !tr->ice_pwd[0] || !tr->fingerprint[0] ||
        !tr->cand_ip[0] || !tr->cand_port)
        return KG_ERR_UNSUPPORTED;
    kg_ice_creds remote;
    memset(&remote, 0, sizeof(remote));
    if (strlen(tr->ice_ufrag) >= sizeof(remote.ufrag) ||
        strlen(tr->ice_pwd) >= sizeof(remote.pwd))
        return KG_ERR_UNSUPPORTED;
    strcpy(remote.ufrag, tr->ice_ufrag);
    strcpy(remote.pwd, tr->ice_pwd);
    if (t->app->opts.tcp) {
        if (!tr->tcp_port) {
            fprintf(stderr, "kaigi-client: --tcp, but kaigi's SDP has no "
                            "passive TCP candidate\n");
            return KG_ERR_UNSUPPORTED;
        }
        t->tcp = true;
        return kc_transport_start(t, &remote, tr->fingerprint, tr->cand_ip,
                                  tr->tcp_port);
    }
    return kc_transport_start(t, &remote, tr->fingerprint, tr->cand_ip,
                              tr->cand_port);
}

/* Takes payload types and the audio-level id from kaigi's answer: it
 * answers with the offer's values, but the answer is what binds. */
static void apply_publish_answer(kc_app *app, const kg_sdp *ans)
{
    kc_pub *pub = &app->pub;
    pub->audio_level_id = 0;
    for (size_t i = 0; i < ans->n_media; i++) {
        const kg_sdp_media *m = &ans->media[i];
        if (m->port == 0)
            continue;
        const kg_sdp_codec *c;
        if (m->kind == KG_SDP_AUDIO &&
            (c = kg_sdp_find_codec(m, "opus", 48000))) {
            pub->audio_pt = c->pt;
            pub->audio_level_id = kg_sdp_find_extmap(m, KG_SDP_EXT_AUDIO_LEVEL);
        } else if (m->kind == KG_SDP_VIDEO &&
                   (c = kg_sdp_find_codec(m, "VP8", 90000))) {
            pub->video_pt = c->pt;
            if (m->n_simulcast) /* only the camera is simulcast */
                pub->rid_ext_id = kg_sdp_find_extmap(m, KG_SDP_EXT_RID);
        }
    }
}

static void on_publish_answer(kc_app *app, json_t *msg)
{
    const char *text = json_string_value(json_object_get(msg, "sdp"));
    if (app->publish_answered) /* a renegotiation we did not ask for */
        return;
    kg_sdp *ans = kg_sdp_new();
    int rc = !text ? KG_ERR_MALFORMED
             : !ans ? KG_ERR_NOMEM
                    : kg_sdp_parse(text, strlen(text), ans);
    if (rc == 0) {
        apply_publish_answer(app, ans);
        rc = start_toward(&app->pub_t, ans);
    }
    kg_sdp_del(ans);
    if (rc < 0) {
        kc_fail(app, 1, "publish answer unusable: %s", kg_strerror(rc));
        return;
    }
    app->publish_answered = true;
}

/* Whether an msid "stream track" names a screen share: kaigi forwards the
 * publisher's track id, and ours end in KC_SCREEN_SUFFIX. */
static bool screen_msid(const char *msid)
{
    const char *track = strchr(msid, ' ');
    size_t n = track ? strlen(track + 1) : 0, k = strlen(KC_SCREEN_SUFFIX);
    return n > k && strcmp(track + 1 + n - k, KC_SCREEN_SUFFIX) == 0;
}

/* Maps every SSRC of an offered, active section to its publisher: the
 * msid stream id is the publishing participant's id. */
/* --max-layer: asks kaigi, once per remote, for at most that simulcast
 * layer of its video (as a page would for a small tile). */
static void ask_video_layer(kc_app *app, const char *remote)
{
    kc_remote *r = kc_remote_get(app, remote, false);
    if (app->opts.max_layer < 0 || !r || r->layer_asked)
        return;
    r->layer_asked = true;
    json_t *m = json_pack("{s:s, s:s, s:i}", "type", "video_layer",
                          "participant", remote, "max", app->opts.max_layer);
    if (kc_signal_send(app, m) < 0)
        fprintf(stderr, "kaigi-client: video_layer: cannot send\n");
}

static void map_ssrcs(kc_app *app, const kg_sdp *offer)
{
    for (size_t i = 0; i < offer->n_media; i++) {
        const kg_sdp_media *m = &offer->media[i];
        if (m->port == 0 || m->dir == KG_SDP_INACTIVE ||
            m->kind == KG_SDP_OTHER)
            continue;
        for (size_t j = 0; j < m->n_ssrcs; j++) {
            const char *msid = m->ssrcs[j].msid[0] ? m->ssrcs[j].msid : m->msid;
            char stream[KC_ID_LEN];
            size_t n = strcspn(msid, " ");
            if (n == 0 || n >= sizeof(stream))
                continue;
            memcpy(stream, msid, n);
            stream[n] = '\0';
            bool video = m->kind == KG_SDP_VIDEO;
            int rc = kc_ssrc_map(app, m->ssrcs[j].ssrc, video,
                                 video && screen_msid(msid), stream);
            if (rc < 0)
                fprintf(stderr, "kaigi-client: ssrc %u: %s\n",
                        m->ssrcs[j].ssrc, kg_strerror(rc));
            if (rc == 0 && video)
                ask_video_layer(app, stream);
        }
    }
}

static int answer_subscribe(kc_app *app, const kg_sdp *offer,
                            json_int_t version)
{
    char ip[INET6_ADDRSTRLEN];
    kg_sdp_local l;
    local_of(app, &app->sub_t, &l, ip, sizeof(ip), (uint64_t)version + 1);
    kg_sdp *ans = kg_sdp_new();
    int rc = ans ? kg_sdp_answer_subscribe(offer, &l, ans) : KG_ERR_NOMEM;
    if (rc == 0)
        rc = send_sdp(app, "subscribe_answer", ans, version, NULL);
    kg_sdp_del(ans);
    return rc;
}

static void on_subscribe(kc_app *app, json_t *msg)
{
    const char *text = json_string_value(json_object_get(msg, "sdp"));
    json_t *v = json_object_get(msg, "version");
    if (!text || !json_is_integer(v)) {
        fprintf(stderr, "kaigi-client: subscribe without sdp/version\n");
        return;
    }
    kg_sdp *offer = kg_sdp_new();
    int rc = offer ? kg_sdp_parse(text, strlen(text), offer) : KG_ERR_NOMEM;
    if (rc == 0 && !app->sub_created) {
        app->sub_created = true;
        /* A socket we cannot bind is a local failure, not the server's. */
        int orc = kc_transport_open(app, &app->sub_t, "subscribe",
                                    (const struct sockaddr *)&app->bind_addr);
        if (orc < 0) {
            kg_sdp_del(offer);
            kc_fail(app, 1, "subscribe transport: %s", kg_strerror(orc));
            return;
        }
    }
    if (rc == 0)
        rc = answer_subscribe(app, offer, json_integer_value(v));
    if (rc == 0) {
        map_ssrcs(app, offer);
        app->subscribe_offers++;
        if (!app->sub_t.peer)
            rc = start_toward(&app->sub_t, offer);
    }
    kg_sdp_del(offer);
    if (rc < 0)
        fprintf(stderr, "kaigi-client: subscribe offer %lld: %s\n",
                (long long)json_integer_value(v), kg_strerror(rc));
    kc_maybe_start_publishing(app);
}

static void on_participant(kc_app *app, json_t *msg, bool joined)
{
    json_t *p = json_object_get(msg, "participant");
    const char *id = joined ? json_string_value(json_object_get(p, "id"))
                            : json_string_value(p);
    if (!id || strcmp(id, app->participant) == 0)
        return;
    kc_remote *r = kc_remote_get(app, id, joined);
    if (!r)
        return;
    r->present = joined;
    const char *name = json_string_value(json_object_get(p, "name"));
    if (joined && name)
        snprintf(r->name, sizeof(r->name), "%s", name);
    if (joined)
        kc_meeting_on_participant(app, id, name);
    kc_maybe_start_publishing(app);
}

/* Errors that can only answer our publish offer. */
static bool publish_error(const char *code)
{
    static const char *const codes[] = {"bad_sdp", "unsupported_sdp",
                                        "not_joined", "internal",
                                        "room_full"};
    for (size_t i = 0; i < KG_ARRAY_LEN(codes); i++)
        if (strcmp(code, codes[i]) == 0)
            return true;
    return false;
}

/* Before joined, an error answers the join and ends the run. Until the
 * publish answer arrives, an error concerns our publish, and without it
 * there is nothing to do -- unless we have sent host controls, which
 * kaigi may refuse (not_host, an unknown participant) with no harm done.
 * Later errors (a subscribe answer kaigi did not like) are survived. */
static void on_error(kc_app *app, json_t *msg)
{
    const char *code = json_string_value(json_object_get(msg, "code"));
    const char *text = json_string_value(json_object_get(msg, "message"));
    code = code ? code : "?";
    text = text ? text : "";
    if (!app->joined) {
        kc_meeting_on_join_error(app, code, msg);
        kc_fail(app, 1, "join failed: %s: %s", code, text);
        return;
    }
    json_t *n = json_pack("{s:s, s:s}", "type", "error", "code", code);
    if (n && app->meeting.notices)
        json_array_append(app->meeting.notices, n);
    json_decref(n);
    if (strcmp(code, "share_denied") == 0) {
        /* Our screen is not forwarded; camera and audio go on. */
        snprintf(app->screen_error, sizeof(app->screen_error), "%s", code);
        fprintf(stderr, "kaigi-client: screen share denied: %s\n", text);
        return;
    }
    if (!app->publish_answered &&
        (publish_error(code) || app->meeting.controls_sent == 0))
        kc_fail(app, 1, "publish failed: %s: %s", code, text);
    else
        fprintf(stderr, "kaigi-client: server error %s: %s\n", code, text);
}

/* {"type": "speaker", "id": ...}: counted, the last id kept. */
static void on_speaker(kc_app *app, json_t *msg)
{
    const char *id = json_string_value(json_object_get(msg, "id"));
    if (!id || strlen(id) >= sizeof(app->speaker_last))
        return;
    app->speaker_events++;
    snprintf(app->speaker_last, sizeof(app->speaker_last), "%s", id);
}

/* Media messages are taken only once joined: a waiting client has no
 * transport for them. Meeting messages (outcomes, notices) count even
 * while leaving, so that the report says why the run ended. */
void kc_signal_on_message(kc_app *app, const char *text, size_t len)
{
    json_error_t err;
    json_t *msg = json_loadb(text, len, 0, &err);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!type) {
        fprintf(stderr, "kaigi-client: unreadable signalling message\n");
    } else if (kc_meeting_on_message(app, type, msg)) {
        /* handled */
    } else if (app->phase >= KC_LEAVING) {
        /* Leaving: nothing more is negotiated. */
    } else if (strcmp(type, "joined") == 0 && !app->joined) {
        on_joined(app, msg);
    } else if (strcmp(type, "error") == 0) {
        on_error(app, msg);
    } else if (!app->joined) {
        /* Nothing else means anything before joined. */
    } else if (strcmp(type, "publish_answer") == 0) {
        on_publish_answer(app, msg);
    } else if (strcmp(type, "subscribe") == 0) {
        on_subscribe(app, msg);
    } else if (strcmp(type, "participant_joined") == 0) {
        on_participant(app, msg, true);
    } else if (strcmp(type, "participant_left") == 0) {
        on_participant(app, msg, false);
    } else if (strcmp(type, "speaker") == 0) {
        on_speaker(app, msg);
    }
    json_decref(msg);
}
