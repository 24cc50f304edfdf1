/* SDP negotiation: kaigi's publish answer and subscribe offer, and the
 * mirrored client-side helpers kaigi-client uses. Everything here works
 * on parsed kg_sdp objects through the public API of sdp.h; the text
 * rules live in sdp.c. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "codec/err.h"
#include "signalling/sdp.h"

#define OPUS_FMTP "minptime=10;useinbandfec=1"
#define PROTO "UDP/TLS/RTP/SAVPF"
#define PLACEHOLDER_PORT 9 /* JSEP: the real address is in the candidate */
#define KAIGI_VIDEO_FB (KG_SDP_FB_NACK | KG_SDP_FB_NACK_PLI | KG_SDP_FB_CCM_FIR)

/* Copies a NUL-terminated string into a fixed field; KG_ERR_INVAL when
 * it does not fit (these strings come from code, not from the wire). */
static int copy_str(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        return KG_ERR_INVAL;
    memcpy(dst, src, n + 1);
    return 0;
}

#define COPY_STR(field, src) copy_str((field), sizeof(field), (src))

/* A token the writer accepts for a mid, cname or msid id. */
static bool is_token(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == 0 || n >= cap)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
            return false;
    return true;
}

/* Empties out, checks local and fills the session level. */
static int begin(kg_sdp *out, const kg_sdp_local *local, bool lite,
                 enum kg_sdp_setup setup)
{
    if (!out || out->n_media || out->n_bundle || out->media)
        return KG_ERR_INVAL;
    int rc = kg_sdp_local_check(local);
    if (rc)
        return rc;
    kg_sdp_transport *t = &out->transport;
    COPY_STR(t->ice_ufrag, local->ice_ufrag);
    COPY_STR(t->ice_pwd, local->ice_pwd);
    COPY_STR(t->fingerprint, local->fingerprint);
    if (local->cand_ip && local->cand_ip[0]) {
        COPY_STR(t->cand_ip, local->cand_ip);
        t->cand_port = local->cand_port;
        t->tcp_port = local->tcp_port;
    }
    t->setup = setup;
    out->sess_id = local->sess_id;
    out->sess_version = local->sess_version;
    out->ice_lite = lite;
    return 0;
}

/* Appends an m-section that carries the local transport, and bundles it. */
static kg_sdp_media *add_live(kg_sdp *out, enum kg_sdp_kind kind,
                              const char *mid)
{
    kg_sdp_media *m = kg_sdp_add_media(out);
    if (!m)
        return NULL;
    m->kind = kind;
    memcpy(m->kind_text, kind == KG_SDP_AUDIO ? "audio" : "video", 6);
    m->port = PLACEHOLDER_PORT;
    memcpy(m->proto, PROTO, sizeof PROTO);
    COPY_STR(m->mid, mid); /* callers checked the length */
    m->rtcp_mux = true;
    m->transport = out->transport;
    memcpy(out->bundle[out->n_bundle++], m->mid, sizeof m->mid);
    return m;
}

/* Answers an offered section with port 0: kind, proto, formats, mid. */
static int add_rejected(kg_sdp *out, const kg_sdp_media *om)
{
    kg_sdp_media *m = kg_sdp_add_media(out);
    if (!m)
        return KG_ERR_NOMEM;
    m->kind = om->kind;
    memcpy(m->kind_text, om->kind_text, sizeof m->kind_text);
    memcpy(m->proto, om->proto, sizeof m->proto);
    memcpy(m->mid, om->mid, sizeof m->mid);
    memcpy(m->fmt_text, om->fmt_text, sizeof m->fmt_text);
    m->n_codecs = om->n_codecs;
    for (size_t i = 0; i < om->n_codecs; i++)
        m->codecs[i].pt = om->codecs[i].pt;
    return 0;
}

/* The offered section with this mid, or NULL. */
static const kg_sdp_media *by_mid(const kg_sdp *offer, const char *mid)
{
    for (size_t i = 0; i < offer->n_media; i++)
        if (strcmp(offer->media[i].mid, mid) == 0)
            return &offer->media[i];
    return NULL;
}

static bool in_bundle(const kg_sdp *offer, const char *mid)
{
    for (size_t b = 0; b < offer->n_bundle; b++)
        if (strcmp(offer->bundle[b], mid) == 0)
            return true;
    return false;
}

/* Whether an offered section could be accepted, BUNDLE aside: a mid,
 * RTP over DTLS, codecs, audio or video, and a port unless it is
 * bundle-only. */
static bool acceptable(const kg_sdp_media *m)
{
    return m->mid[0] && (m->port != 0 || m->bundle_only) &&
           strcmp(m->proto, PROTO) == 0 && m->n_codecs != 0 &&
           (m->kind == KG_SDP_AUDIO || m->kind == KG_SDP_VIDEO);
}

/* Whether an offered section can share kaigi's one transport: it is in
 * the BUNDLE group, or, with no group, it is the first acceptable one
 * with a port of its own. rtcp-mux is the section's own or, in the
 * group, the offerer-tagged section's (the first mid of the group), where
 * RFC 8843 puts the attributes that every bundled section shares. */
static bool usable(const kg_sdp *offer, size_t idx)
{
    const kg_sdp_media *m = &offer->media[idx];
    if (!acceptable(m))
        return false;
    if (offer->n_bundle == 0) {
        if (m->port == 0 || !m->rtcp_mux)
            return false;
        for (size_t i = 0; i < idx; i++)
            if (acceptable(&offer->media[i]) && offer->media[i].port &&
                offer->media[i].rtcp_mux)
                return false;
        return true;
    }
    if (!in_bundle(offer, m->mid))
        return false;
    const kg_sdp_media *tagged = by_mid(offer, offer->bundle[0]);
    return m->rtcp_mux || (tagged && tagged->port && tagged->rtcp_mux);
}

static bool transport_complete(const kg_sdp_transport *t)
{
    return t->ice_ufrag[0] && t->ice_pwd[0] && t->fingerprint[0];
}

static enum kg_sdp_dir receive_dir(enum kg_sdp_dir offered)
{
    return offered == KG_SDP_SENDRECV || offered == KG_SDP_SENDONLY
               ? KG_SDP_RECVONLY
               : KG_SDP_INACTIVE;
}

/* The codec kaigi takes from a publish offer's section, NULL if none. */
static const kg_sdp_codec *publish_codec(const kg_sdp_media *m)
{
    for (size_t i = 0; i < m->n_codecs; i++) {
        const kg_sdp_codec *c = &m->codecs[i];
        if (m->kind == KG_SDP_AUDIO && strcasecmp(c->name, "opus") == 0 &&
            c->clock == 48000 && c->channels == 2)
            return c;
        if (m->kind == KG_SDP_VIDEO && strcasecmp(c->name, "VP8") == 0 &&
            c->clock == 90000)
            return c;
    }
    return NULL;
}

/* rid-based simulcast offered (a=simulcast:send with a=rid send lines
 * and the RTP stream ID extension): kaigi receives up to three of the
 * streams, in the offer's order (which kaigi takes as lowest first), and
 * echoes them as a=rid recv + a=simulcast:recv with the extension. */
static void answer_simulcast(const kg_sdp_media *om, kg_sdp_media *m)
{
    uint8_t rid_ext = kg_sdp_find_extmap(om, KG_SDP_EXT_RID);
    if (om->kind != KG_SDP_VIDEO || om->simulcast_recv || rid_ext == 0 ||
        om->n_simulcast < 2 || m->n_extmaps >= KG_SDP_MAX_EXTMAP)
        return;
    size_t n = 0;
    for (size_t i = 0; i < om->n_simulcast && n < 3; i++) {
        for (size_t j = 0; j < om->n_rids; j++) {
            if (om->rids[j].recv || strcmp(om->rids[j].id, om->simulcast[i]))
                continue;
            memcpy(m->rids[n].id, om->rids[j].id, sizeof m->rids[n].id);
            m->rids[n].recv = true;
            memcpy(m->simulcast[n], om->rids[j].id, sizeof m->simulcast[n]);
            n++;
            break;
        }
    }
    if (n < 2)
        return;
    m->n_rids = m->n_simulcast = n;
    m->simulcast_recv = true;
    kg_sdp_extmap *e = &m->extmaps[m->n_extmaps++];
    e->id = rid_ext;
    memcpy(e->uri, KG_SDP_EXT_RID, sizeof KG_SDP_EXT_RID);
}

static int answer_publish_section(const kg_sdp_media *om, kg_sdp *answer)
{
    const kg_sdp_codec *oc = publish_codec(om);
    if (!oc)
        return add_rejected(answer, om);
    kg_sdp_media *m = add_live(answer, om->kind, om->mid);
    if (!m)
        return KG_ERR_NOMEM;
    m->dir = receive_dir(om->dir);
    m->rtcp_rsize = om->rtcp_rsize;
    kg_sdp_codec *c = &m->codecs[m->n_codecs++];
    c->pt = oc->pt;
    memcpy(c->name, oc->name, sizeof c->name);
    c->clock = oc->clock;
    c->channels = oc->channels;
    c->fb = oc->fb & KAIGI_VIDEO_FB;
    if (om->kind == KG_SDP_AUDIO)
        memcpy(c->fmtp, OPUS_FMTP, sizeof OPUS_FMTP);
    for (size_t i = 0; i < om->n_extmaps; i++) {
        const kg_sdp_extmap *e = &om->extmaps[i];
        if (strcmp(e->uri, KG_SDP_EXT_MID) == 0 ||
            (om->kind == KG_SDP_AUDIO &&
             strcmp(e->uri, KG_SDP_EXT_AUDIO_LEVEL) == 0))
            m->extmaps[m->n_extmaps++] = *e;
    }
    answer_simulcast(om, m);
    /* A simulcast publisher hears from kaigi (REMB) that it may send
     * every layer (relay/worker.c). */
    if (m->n_simulcast || om->n_sim >= 2)
        c->fb |= oc->fb & KG_SDP_FB_GOOG_REMB;
    return 0;
}

/* Runs fn over every offered section, rejecting the unusable ones.
 * KG_ERR_UNSUPPORTED when none was usable. */
static int answer_sections(const kg_sdp *offer, kg_sdp *answer,
                           int (*fn)(const kg_sdp_media *, kg_sdp *))
{
    bool any = false;
    for (size_t i = 0; i < offer->n_media; i++) {
        int rc;
        if (usable(offer, i)) {
            size_t before = answer->n_bundle;
            rc = fn(&offer->media[i], answer);
            any = any || answer->n_bundle > before;
        } else {
            rc = add_rejected(answer, &offer->media[i]);
        }
        if (rc)
            return rc;
    }
    return any ? 0 : KG_ERR_UNSUPPORTED;
}

/* Every public function checks that out is empty before it starts, so
 * an error here only ever clears what this file built. */
static int finish(kg_sdp *out, int rc)
{
    if (rc)
        kg_sdp_clear(out);
    return rc;
}

int kg_sdp_answer_publish(const kg_sdp *offer, const kg_sdp_local *local,
                          kg_sdp *answer)
{
    if (!offer || !answer || answer->n_media || answer->media ||
        answer->n_bundle)
        return KG_ERR_INVAL;
    const kg_sdp_transport *bt = kg_sdp_bundle_transport(offer);
    int rc = begin(answer, local, true, KG_SDP_SETUP_PASSIVE);
    if (!rc && (!transport_complete(bt) || (bt->setup != KG_SDP_SETUP_ACTPASS &&
                                            bt->setup != KG_SDP_SETUP_ACTIVE)))
        rc = KG_ERR_UNSUPPORTED;
    if (!rc)
        rc = answer_sections(offer, answer, answer_publish_section);
    return finish(answer, rc);
}

static int answer_subscribe_section(const kg_sdp_media *om, kg_sdp *answer)
{
    kg_sdp_media *m = add_live(answer, om->kind, om->mid);
    if (!m)
        return KG_ERR_NOMEM;
    m->dir = receive_dir(om->dir);
    m->rtcp_rsize = om->rtcp_rsize;
    memcpy(m->codecs, om->codecs, sizeof m->codecs);
    m->n_codecs = om->n_codecs;
    memcpy(m->extmaps, om->extmaps, sizeof m->extmaps);
    m->n_extmaps = om->n_extmaps;
    return 0;
}

int kg_sdp_answer_subscribe(const kg_sdp *offer, const kg_sdp_local *local,
                            kg_sdp *answer)
{
    if (!offer || !answer || answer->n_media || answer->media ||
        answer->n_bundle)
        return KG_ERR_INVAL;
    const kg_sdp_transport *bt = kg_sdp_bundle_transport(offer);
    int rc = begin(answer, local, false, KG_SDP_SETUP_ACTIVE);
    if (!rc && (!transport_complete(bt) || (bt->setup != KG_SDP_SETUP_ACTPASS &&
                                            bt->setup != KG_SDP_SETUP_PASSIVE)))
        rc = KG_ERR_UNSUPPORTED;
    if (!rc)
        rc = answer_sections(offer, answer, answer_subscribe_section);
    return finish(answer, rc);
}

/* Fills m with kaigi's one codec for its kind. */
static void kaigi_codec(kg_sdp_media *m, uint8_t pt)
{
    kg_sdp_codec *c = &m->codecs[m->n_codecs++];
    c->pt = pt;
    if (m->kind == KG_SDP_AUDIO) {
        memcpy(c->name, "opus", 5);
        c->clock = 48000;
        c->channels = 2;
        memcpy(c->fmtp, OPUS_FMTP, sizeof OPUS_FMTP);
        kg_sdp_extmap *e = &m->extmaps[m->n_extmaps++];
        e->id = 1;
        memcpy(e->uri, KG_SDP_EXT_AUDIO_LEVEL, sizeof KG_SDP_EXT_AUDIO_LEVEL);
    } else {
        memcpy(c->name, "VP8", 4);
        c->clock = 90000;
        /* goog-remb: receivers report their bandwidth estimate, which
         * picks their simulcast layer (relay/simulcast.h). */
        c->fb = KAIGI_VIDEO_FB | KG_SDP_FB_GOOG_REMB;
    }
}

/* Gives m one sending SSRC, with a=msid "stream track" on both. */
static int sender(kg_sdp_media *m, uint32_t ssrc, const char *cname,
                  const char *stream, const char *track)
{
    size_t ls = strlen(stream), lt = strlen(track);
    if (ls + 1 + lt >= sizeof m->msid)
        return KG_ERR_INVAL;
    memcpy(m->msid, stream, ls);
    m->msid[ls] = ' ';
    memcpy(m->msid + ls + 1, track, lt + 1);
    kg_sdp_ssrc *e = &m->ssrcs[m->n_ssrcs++];
    e->ssrc = ssrc;
    memcpy(e->msid, m->msid, sizeof e->msid);
    return COPY_STR(e->cname, cname);
}

static int check_track(const kg_sdp_track *t, const kg_sdp_track *all,
                       size_t idx)
{
    if ((t->kind != KG_SDP_AUDIO && t->kind != KG_SDP_VIDEO) || t->pt > 127 ||
        !is_token(t->mid, sizeof t->mid))
        return KG_ERR_INVAL;
    if (t->active && (!is_token(t->cname, sizeof t->cname) ||
                      !is_token(t->stream_id, sizeof t->stream_id) ||
                      !is_token(t->track_id, sizeof t->track_id)))
        return KG_ERR_INVAL;
    for (size_t i = 0; i < idx; i++)
        if (strcmp(all[i].mid, t->mid) == 0)
            return KG_ERR_INVAL;
    return 0;
}

static int offer_subscribe_tracks(const kg_sdp_track *tracks, size_t n,
                                  kg_sdp *offer)
{
    if (n == 0) {
        kg_sdp_media *m = add_live(offer, KG_SDP_AUDIO, "0");
        if (!m)
            return KG_ERR_NOMEM;
        m->dir = KG_SDP_INACTIVE;
        m->rtcp_rsize = true;
        kaigi_codec(m, 111);
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        const kg_sdp_track *t = &tracks[i];
        int rc = check_track(t, tracks, i);
        if (rc)
            return rc;
        kg_sdp_media *m = add_live(offer, t->kind, t->mid);
        if (!m)
            return KG_ERR_NOMEM;
        m->dir = t->active ? KG_SDP_SENDONLY : KG_SDP_INACTIVE;
        m->rtcp_rsize = true;
        kaigi_codec(m, t->pt);
        if (t->active) {
            rc = sender(m, t->ssrc, t->cname, t->stream_id, t->track_id);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int kg_sdp_offer_subscribe(const kg_sdp_track *tracks, size_t n,
                           const kg_sdp_local *local, kg_sdp *offer)
{
    if (!offer || offer->n_media || offer->media || offer->n_bundle ||
        (n && !tracks))
        return KG_ERR_INVAL;
    if (n > KG_SDP_MAX_MEDIA)
        return KG_ERR_FULL;
    int rc = begin(offer, local, true, KG_SDP_SETUP_ACTPASS);
    if (!rc)
        rc = offer_subscribe_tracks(tracks, n, offer);
    return finish(offer, rc);
}

/* A track id must fit where kaigi keeps it: kg_sdp_track.track_id. */
static int check_pub_track(const kg_sdp_pub_track *t)
{
    if ((t->kind != KG_SDP_AUDIO && t->kind != KG_SDP_VIDEO) ||
        !t->track_id ||
        !is_token(t->track_id, sizeof(((kg_sdp_track *)0)->track_id)))
        return KG_ERR_INVAL;
    return 0;
}

static int offer_publish_sections(const kg_sdp_pub_track *tracks, size_t n,
                                  const char *cname, kg_sdp *offer)
{
    for (size_t i = 0; i < n; i++) {
        const kg_sdp_pub_track *t = &tracks[i];
        int rc = check_pub_track(t);
        if (rc)
            return rc;
        char mid[8];
        snprintf(mid, sizeof(mid), "%zu", i);
        kg_sdp_media *m = add_live(offer, t->kind, mid);
        if (!m)
            return KG_ERR_NOMEM;
        m->dir = KG_SDP_SENDONLY;
        m->rtcp_rsize = true;
        kaigi_codec(m, t->kind == KG_SDP_AUDIO ? 111 : 96);
        rc = sender(m, t->ssrc, cname, cname, t->track_id);
        if (rc)
            return rc;
    }
    return 0;
}

int kg_sdp_offer_publish_tracks(const kg_sdp_pub_track *tracks, size_t n,
                                const char *cname, const kg_sdp_local *local,
                                kg_sdp *offer)
{
    if (!offer || offer->n_media || offer->media || offer->n_bundle ||
        !tracks || n == 0 || !cname ||
        !is_token(cname, sizeof(((kg_sdp_ssrc *)0)->cname)))
        return KG_ERR_INVAL;
    if (n > KG_SDP_MAX_MEDIA)
        return KG_ERR_FULL;
    int rc = begin(offer, local, false, KG_SDP_SETUP_ACTPASS);
    if (!rc)
        rc = offer_publish_sections(tracks, n, cname, offer);
    return finish(offer, rc);
}

int kg_sdp_offer_publish(uint32_t audio_ssrc, uint32_t video_ssrc,
                         const char *cname, const kg_sdp_local *local,
                         kg_sdp *offer)
{
    const kg_sdp_pub_track tracks[] = {
        {KG_SDP_AUDIO, audio_ssrc, "audio"},
        {KG_SDP_VIDEO, video_ssrc, "video"},
    };
    return kg_sdp_offer_publish_tracks(tracks, KG_ARRAY_LEN(tracks), cname,
                                       local, offer);
}
