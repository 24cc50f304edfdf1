#include "relay/worker_internal.h"

/* --- simulcast (relay/simulcast.h holds the logic) ----------------- */

/* Sends the PLIs the track's layers have due (merged over receivers,
 * at most one per layer per pli_interval). */
static void sc_send_plis(kg_worker *w, kg_track *tr, kg_time now)
{
    unsigned mask = kg_sc_track_poll_keyframes(tr->sc, now, NULL);
    if (mask == 0)
        return;
    wpart *pub = tr->pub;
    wtransport *t = pub->t[KG_ROLE_PUBLISH];
    if (!t || t->peer.state != KG_PEER_CONNECTED || !t->has_addr)
        return;
    for (int i = 0; i < KG_SC_LAYERS; i++) {
        if (!(mask & (1u << i)))
            continue;
        ssize_t n = kg_rtcp_write_pli(SERVER_RTCP_SSRC, tr->sc->layer[i].ssrc,
                                      w->tx, sizeof(w->tx));
        if (n < 0)
            continue;
        size_t len = (size_t)n;
        if (kg_peer_protect(&t->peer, w->tx, &len, sizeof(w->tx), true) != 0)
            continue;
        w->st.pli_sent++;
        pub->c.pli_sent++;
        wk_send_t(w, t, w->tx, len);
    }
}

/* Tells the publisher of a simulcast track that it may send all its
 * layers (KG_SC_PUBLISH_REMB_BPS over the SSRCs known so far). */
static void sc_publisher_remb(kg_worker *w, kg_track *tr, kg_time now)
{
    wtransport *t = ((wpart *)tr->pub)->t[KG_ROLE_PUBLISH];
    tr->sc->last_remb = now ? now : 1;
    if (!t || t->peer.state != KG_PEER_CONNECTED || !t->has_addr)
        return;
    kg_rtcp_remb remb;
    memset(&remb, 0, sizeof(remb));
    remb.bitrate_bps = KG_SC_PUBLISH_REMB_BPS;
    for (int i = 0; i < KG_SC_LAYERS; i++)
        if (tr->sc->layer[i].ssrc)
            remb.ssrc[remb.n_ssrc++] = tr->sc->layer[i].ssrc;
    ssize_t n = kg_rtcp_write_remb(SERVER_RTCP_SSRC, &remb, w->tx,
                                   sizeof(w->tx));
    if (n < 0)
        return;
    size_t len = (size_t)n;
    if (kg_peer_protect(&t->peer, w->tx, &len, sizeof(w->tx), true) == 0)
        wk_send_t(w, t, w->tx, len);
}

/* One packet of a simulcast layer: each connected receiver of the track
 * gets it if it is on (or switching to) that layer, renumbered into its
 * own stream. */
void wk_forward_simulcast(kg_worker *w, kg_track *tr,
                          const kg_rtp_hdr *h, const uint8_t *pkt,
                          size_t len, kg_time now)
{
    int layer = kg_sc_track_layer_of(tr->sc, h->ssrc);
    kg_sc_track_on_packet(tr->sc, layer, len, h->payload, h->payload_len,
                          now);
    tr->packets++;
    tr->bytes += h->payload_len;
    if (layer == 0) /* loss and jitter: of the lowest layer */
        kg_rx_stats_update(&tr->rx, h->seq, h->ts, now,
                           kg_track_clock_rate(tr->kind));
    if (len + KG_SRTP_MAX_TRAILER > TX_BUF) {
        w->st.malformed++;
        return;
    }
    size_t payload_off = (size_t)(h->payload - pkt);
    for (size_t i = 0; i < tr->n_routes; i++) {
        kg_route *rt = &tr->routes[i];
        wpart *sub = rt->sub;
        wtransport *st = sub->t[KG_ROLE_SUBSCRIBE];
        if (!st || st->peer.state != KG_PEER_CONNECTED || !st->has_addr)
            continue;
        kg_sc_out o;
        if (kg_sc_forward(tr->sc, &rt->sc, layer, h, now, &o) != 1)
            continue;
        uint8_t *out = wk_tx_slot(w);
        memcpy(out, pkt, len);
        kg_rtp_rewrite(out, rt->out_pt, o.seq, o.ts, rt->out_ssrc);
        kg_sc_rewrite_vp8(&o, out + payload_off, h->payload_len);
        size_t out_len = len;
        if (kg_peer_protect(&st->peer, out, &out_len, TX_BUF, false) != 0)
            continue;
        rt->packets++;
        rt->bytes += h->payload_len;
        rt->started = true; /* a sender now: SRs are due (rtcp_report.h) */
        kg_rtcp_tx_on_packet(&rt->rtcp, o.ts, now);
        w->st.rtp_forwarded++;
        sub->c.packets_out++;
        sub->c.bytes_out += out_len;
        wk_tx_commit_t(w, st, out_len);
    }
    sc_send_plis(w, tr, now);
    if (tr->sc->last_remb == 0 ||
        now - tr->sc->last_remb >= KG_SC_PUBLISH_REMB_EVERY)
        sc_publisher_remb(w, tr, now);
}

/* REMB from a receiver: its estimate, shared evenly by the video tracks
 * it names, picks the layer of each simulcast one. */
void wk_sc_on_remb(kg_worker *w, wtransport *t, const kg_rtcp_fb *fb,
                   kg_time now)
{
    kg_rtcp_remb remb;
    int rc = kg_rtcp_parse_remb(fb, &remb);
    if (rc == KG_ERR_INVAL)
        return; /* another application-layer feedback */
    if (rc != 0) {
        w->st.malformed++;
        t->part->c.malformed++;
        return;
    }
    if (!t->part->room)
        return;
    kg_track *trs[KG_RTCP_REMB_MAX_SSRC];
    kg_route *rts[KG_RTCP_REMB_MAX_SSRC];
    size_t n = 0;
    for (size_t i = 0; i < remb.n_ssrc; i++) {
        kg_route *rt = NULL;
        kg_track *tr = kg_room_find_by_out(t->part->room, t->part,
                                           remb.ssrc[i], &rt);
        bool dup = false;
        for (size_t j = 0; j < n; j++)
            dup = dup || rts[j] == rt;
        if (tr && tr->kind == KG_TRACK_VIDEO && !dup) {
            trs[n] = tr;
            rts[n++] = rt;
        }
    }
    for (size_t i = 0; i < n; i++) {
        if (!trs[i]->sc)
            continue;
        kg_sc_receiver_set_estimate(&rts[i]->sc, remb.bitrate_bps / n);
        kg_sc_receiver_update(trs[i]->sc, &rts[i]->sc, now);
        sc_send_plis(w, trs[i], now);
    }
}

_Static_assert(sizeof(((kg_worker_cmd *)0)->layer_rid[0]) == KG_SC_RID_LEN,
               "a command's rid fits a layer's");

/* An RTP packet from an SSRC no track has: the rid-based simulcast track
 * (and layer) its clear header's RTP stream ID names, if any. Nothing is
 * learnt before SRTP has authenticated the packet. */
kg_track *wk_sc_rid_track(const wtransport *t, const uint8_t *pkt,
                          size_t len, int *layer)
{
    kg_rtp_hdr h;
    if (t->role != KG_ROLE_PUBLISH || !t->part->room ||
        kg_rtp_parse(pkt, len, &h) != 0)
        return NULL;
    return kg_room_find_rid_track(t->part->room, t->part, &h, layer);
}

/* --- keyframes ------------------------------------------------------ */

/* Sends a PLI for track tr to its publisher, at most every 500 ms unless
 * force is set: one receiver's request must not become a storm. */
void wk_request_keyframe(kg_worker *w, kg_track *tr, kg_time now,
                         bool force)
{
    if (tr->sc) {
        /* Each receiver asks for its own layer when it next gets a
         * packet (relay/simulcast.c); only what is due goes out. */
        sc_send_plis(w, tr, now);
        return;
    }
    wpart *pub = tr->pub;
    wtransport *t = pub->t[KG_ROLE_PUBLISH];
    if (!t || t->peer.state != KG_PEER_CONNECTED || !t->has_addr)
        return;
    if (!force && tr->last_keyframe_request &&
        now - tr->last_keyframe_request < KEYFRAME_MIN_INTERVAL)
        return;
    ssize_t n = kg_rtcp_write_pli(SERVER_RTCP_SSRC, tr->in_ssrc, w->tx,
                                  sizeof(w->tx));
    if (n < 0)
        return;
    size_t len = (size_t)n;
    if (kg_peer_protect(&t->peer, w->tx, &len, sizeof(w->tx), true) != 0)
        return;
    tr->last_keyframe_request = now;
    w->st.pli_sent++;
    pub->c.pli_sent++;
    wk_send_t(w, t, w->tx, len);
}

/* A receiver just became able to decode: ask for keyframes of every video
 * track it receives. */
void wk_keyframes_for_subscriber(kg_worker *w, wpart *sub, kg_time now)
{
    if (!sub->room)
        return;
    kg_room *r = sub->room;
    for (size_t i = 0; i < r->n_tracks; i++) {
        kg_track *tr = r->tracks[i];
        if (tr->kind != KG_TRACK_VIDEO)
            continue;
        for (size_t j = 0; j < tr->n_routes; j++) {
            if (tr->routes[j].sub == sub) {
                wk_request_keyframe(w, tr, now, true);
                break;
            }
        }
    }
}

/* --- RTCP reports (relay/rtcp_report.h) ------------------------------ */

/* kaigi's wall clock as NTP, for the SRs it sends and the RTT of the RRs
 * it receives (both sides of one subtraction, so steps cancel out except
 * across a step). */
static uint64_t worker_ntp(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return kg_ntp_from_unix_ns((uint64_t)ts.tv_sec * KG_SEC +
                               (uint64_t)ts.tv_nsec);
}

/* Protects and queues one compound RTCP packet written at w->tx. */
static void rtcp_send(kg_worker *w, wtransport *t, size_t len)
{
    if (kg_peer_protect(&t->peer, w->tx, &len, sizeof(w->tx), true) != 0)
        return;
    wk_send_t(w, t, w->tx, len);
}

/* Writes out the SRs gathered in w->rtcp_senders, as many compound
 * packets as they need. */
static void rtcp_flush_srs(kg_worker *w, wtransport *t, size_t n)
{
    size_t done = 0;
    while (done < n) {
        size_t written = 0;
        ssize_t len = kg_rtcp_write_srs(w->rtcp_senders + done, n - done,
                                        w->tx, RTCP_MTU - KG_SRTP_MAX_TRAILER,
                                        &written);
        if (len < 0)
            return;
        rtcp_send(w, t, (size_t)len);
        w->st.rtcp_sr_sent += written;
        t->part->c.sr_sent += written;
        done += written;
    }
}

/* A subscribe transport: an SR for each SSRC kaigi forwards to it. Each
 * publisher's streams share a CNAME of their own (RFC 3550 6.5.1: the
 * streams a receiver should synchronise). */
static void rtcp_send_srs(kg_worker *w, wtransport *t)
{
    wpart *sub = t->part;
    if (!sub->room)
        return;
    /* Both clocks read together: the SR pairs this NTP time with the RTP
     * timestamp extrapolated to this instant. */
    kg_time now = wk_worker_now();
    uint64_t ntp = worker_ntp();
    size_t n = 0;
    kg_room *r = sub->room;
    for (size_t i = 0; i < r->n_tracks; i++) {
        kg_track *tr = r->tracks[i];
        for (size_t j = 0; j < tr->n_routes; j++) {
            kg_route *rt = &tr->routes[j];
            kg_rtcp_sender *s = &w->rtcp_senders[n];
            if (rt->sub != sub)
                continue;
            if (kg_rtcp_route_sr(tr, rt, now, ntp, s) != 0)
                break; /* nothing forwarded on it yet */
            snprintf(s->cname, sizeof(s->cname), "kaigi-%" PRIx64,
                     ((const wpart *)tr->pub)->id);
            rt->rtcp.srs_sent++;
            if (++n == RTCP_SENDERS) {
                rtcp_flush_srs(w, t, n);
                n = 0;
            }
            break; /* one route per (track, receiver) */
        }
    }
    if (n)
        rtcp_flush_srs(w, t, n);
}

/* A publish transport: one RR with a block for each track it publishes
 * that kaigi has received something of. */
static void rtcp_send_rr(kg_worker *w, wtransport *t, kg_time now)
{
    wpart *pub = t->part;
    if (!pub->room)
        return;
    kg_room *r = pub->room;
    size_t n = 0;
    for (size_t i = 0; i < r->n_tracks && n < KG_RTCP_MAX_BLOCKS; i++) {
        kg_track *tr = r->tracks[i];
        if (tr->pub == pub &&
            kg_rtcp_track_block(tr, now, &w->rtcp_blocks[n]) == 0) {
            /* Simulcast: the counts are the lowest layer's (whose SSRC a
             * rid-based track's name is not). */
            if (tr->sc && tr->sc->layer[0].ssrc)
                w->rtcp_blocks[n].ssrc = tr->sc->layer[0].ssrc;
            n++;
        }
    }
    size_t done = 0;
    while (done < n) {
        size_t written = 0;
        ssize_t len = kg_rtcp_write_rr_compound(
            SERVER_RTCP_SSRC, "kaigi", w->rtcp_blocks + done, n - done, w->tx,
            RTCP_MTU - KG_SRTP_MAX_TRAILER, &written);
        if (len < 0 || written == 0)
            return;
        rtcp_send(w, t, (size_t)len);
        w->st.rtcp_rr_sent++;
        pub->c.rr_sent++;
        done += written;
    }
}

/* Every KG_RTCP_INTERVAL, randomised per transport: its reports. */
static void rtcp_report_transport(kg_worker *w, wtransport *t, kg_time now)
{
    if (t->peer.state != KG_PEER_CONNECTED || !t->has_addr)
        return;
    if (t->next_rtcp == 0) {
        /* RFC 3550 6.2: the first report after half an interval */
        t->next_rtcp = now + kg_rtcp_report_interval(KG_RTCP_INTERVAL / 2,
                                                     kg_random_u32());
        return;
    }
    if (now < t->next_rtcp)
        return;
    t->next_rtcp = now + kg_rtcp_report_interval(KG_RTCP_INTERVAL,
                                                 kg_random_u32());
    if (t->role == KG_ROLE_SUBSCRIBE)
        rtcp_send_srs(w, t);
    else
        rtcp_send_rr(w, t, now);
}

void wk_rtcp_report_tick(kg_worker *w, kg_time now)
{
    for (wpart *p = w->parts; p; p = p->next) {
        for (int role = 0; role < 2; role++) {
            if (p->t[role])
                rtcp_report_transport(w, p->t[role], now);
        }
    }
    /* Out now, not at the end of the loop iteration: that comes only
     * after the next poll, up to a tick later when no media flows, and
     * the wait would count in the receiver's RTT (LSR was read above). */
    wk_tx_flush(w);
}

/* Report blocks a receiver sent about SSRCs kaigi sends it: RTT, loss,
 * jitter per route, and the receiver's RTT. One pass over the room's
 * routes per packet (up to 31 blocks), not one per block: a receiver
 * reports on every SSRC it gets, each second. */
static void rtcp_blocks_in(wtransport *t, const kg_rtcp_report_block *b,
                           size_t n)
{
    wpart *sub = t->part;
    if (t->role != KG_ROLE_SUBSCRIBE || !sub->room || n == 0)
        return;
    uint64_t ntp = worker_ntp();
    kg_room *r = sub->room;
    for (size_t i = 0; i < r->n_tracks; i++) {
        kg_track *tr = r->tracks[i];
        for (size_t j = 0; j < tr->n_routes; j++) {
            kg_route *rt = &tr->routes[j];
            if (rt->sub != sub)
                continue;
            for (size_t k = 0; k < n; k++) {
                if (b[k].ssrc != rt->out_ssrc)
                    continue;
                int64_t rtt = kg_rtcp_tx_on_block(&rt->rtcp, &b[k], ntp);
                if (rtt >= 0)
                    kg_rtt_update(&sub->rtt, (uint32_t)rtt);
            }
            break; /* one route per (track, receiver) */
        }
    }
}

/* SR and RR in a compound packet from a participant: a publisher's SR
 * maps its RTP clock (and gives LSR/DLSR for kaigi's RR); a receiver's
 * blocks give RTT. */
void wk_rtcp_report_in(kg_worker *w, wtransport *t, const kg_rtcp_pkt *p,
                       kg_time now)
{
    if (p->pt != KG_RTCP_SR && p->pt != KG_RTCP_RR)
        return;
    kg_rtcp_sr *sr = &w->rtcp_sr;
    kg_rtcp_rr *rr = &w->rtcp_rr;
    int rc;
    if (p->pt == KG_RTCP_SR && (rc = kg_rtcp_parse_sr(p, sr)) == 0) {
        w->st.rtcp_sr_in++;
        t->part->c.sr_in++;
        kg_track *tr = t->role == KG_ROLE_PUBLISH && t->part->room
                           ? kg_room_find_track(t->part->room, t->part,
                                                sr->ssrc)
                           : NULL;
        /* A simulcast track's layers each have their own SR and RTP
         * clock base: receivers' SRs then come from the last packet. */
        if (tr && !tr->sc)
            kg_rtcp_rx_on_sr(&tr->rtcp, sr->ntp, sr->rtp_ts, now);
        rtcp_blocks_in(t, sr->blocks, sr->n_blocks);
    } else if (p->pt == KG_RTCP_RR && (rc = kg_rtcp_parse_rr(p, rr)) == 0) {
        w->st.rtcp_rr_in++;
        t->part->c.rr_in++;
        rtcp_blocks_in(t, rr->blocks, rr->n_blocks);
    }
    if (rc != 0) {
        w->st.malformed++;
        t->part->c.malformed++;
    }
}
/* --- NACK: retransmissions and upstream requests --------------------- */

/* Sends track tr's publisher a NACK for the missing packets that are due.
 * kaigi asks once per loss it sees itself (with retries), however many
 * receivers lose the packet with it: receivers' NACKs are answered from
 * the cache or not at all, never passed upstream. */
static void nack_upstream(kg_worker *w, kg_track *tr, kg_time now)
{
    wpart *pub = tr->pub;
    uint64_t given_up = tr->nack->given_up;
    size_t n;
    ssize_t len = kg_track_nack_poll(tr, now, SERVER_RTCP_SSRC, w->tx,
                                     sizeof(w->tx) - KG_SRTP_MAX_TRAILER, &n);
    pub->c.nack_given_up += tr->nack->given_up - given_up;
    wtransport *t = pub->t[KG_ROLE_PUBLISH];
    if (len <= 0 || !t || t->peer.state != KG_PEER_CONNECTED || !t->has_addr)
        return;
    size_t out_len = (size_t)len;
    if (kg_peer_protect(&t->peer, w->tx, &out_len, sizeof(w->tx), true) != 0)
        return;
    pub->c.nacks_sent += n;
    wk_send_t(w, t, w->tx, out_len);
}

/* Before a publisher's video packet is routed: notes it for NACKs and
 * caches it. Returns true for a packet to drop, a second copy of one
 * already forwarded (kaigi asked twice and both answers came). */
bool wk_nack_on_rtp(kg_worker *w, kg_track *tr, const uint8_t *pkt,
                    size_t len, const kg_rtp_hdr *h, kg_time now)
{
    /* A jump or an overflowing list gives up missing packets too. */
    uint64_t given_up = tr->nack->given_up;
    int seen = kg_track_rtp_in(tr, pkt, len, h->seq, now);
    ((wpart *)tr->pub)->c.nack_given_up += tr->nack->given_up - given_up;
    if (seen == KG_NACK_DUPLICATE)
        return true;
    if (seen == KG_NACK_RECOVERED)
        ((wpart *)tr->pub)->c.nack_recovered++;
    else if (seen == KG_NACK_RESET)
        wk_request_keyframe(w, tr, now, false); /* too many lost to NACK */
    if (kg_nack_gen_deadline(tr->nack) <= now)
        nack_upstream(w, tr, now);
    return false;
}

/* Resends packet out_seq of route rt to receiver st from tr's cache,
 * rewritten exactly as it was first forwarded: the same plaintext under
 * the same SRTP index (libsrtp's allow_repeat_tx is on for this), so AEAD
 * never sees a nonce again with other plaintext. */
static void nack_resend(kg_worker *w, wtransport *st, kg_track *tr,
                        const kg_route *rt, uint16_t out_seq, kg_time now)
{
    wpart *sub = st->part;
    if (now - sub->rtx_since >= KG_SEC) {
        sub->rtx_since = now;
        sub->rtx_count = 0;
    }
    if (sub->rtx_count >= RTX_PER_SEC) {
        w->st.rtx_limited++;
        return;
    }
    uint8_t *out = wk_tx_slot(w);
    ssize_t n = kg_track_resend(tr, rt, out_seq, now, out,
                                TX_BUF - KG_SRTP_MAX_TRAILER);
    if (n == KG_ERR_NOTFOUND) {
        /* Lost before kaigi too: nack_upstream already asks for it, and
         * it goes to every receiver when it comes. */
        st->part->c.rtx_misses++;
        return;
    }
    if (n <= 0)
        return;
    size_t len = (size_t)n;
    if (kg_peer_protect(&st->peer, out, &len, TX_BUF, false) != 0)
        return;
    w->st.rtp_forwarded++;
    sub->rtx_count++;
    st->part->c.retransmits++;
    st->part->c.packets_out++;
    st->part->c.bytes_out += len;
    wk_tx_commit_t(w, st, len);
}

/* A receiver's generic NACK (RFC 4585 6.2.1) on its subscribe transport:
 * each lost packet is resent from the cache of the track it names. */
void wk_nack_answer(kg_worker *w, wtransport *t, const kg_rtcp_pkt *p,
                    kg_time now)
{
    kg_rtcp_fb fb;
    kg_rtcp_nack_item items[NACK_BATCH];
    int n;
    if (kg_rtcp_parse_fb(p, &fb) != 0 ||
        (n = kg_rtcp_parse_nack(&fb, items, NACK_BATCH)) < 0) {
        w->st.malformed++;
        t->part->c.malformed++;
        return;
    }
    w->st.rtcp_feedback_in++;
    kg_route *rt = NULL;
    kg_track *tr = t->part->room ? kg_room_find_by_out(t->part->room, t->part,
                                                       fb.media_ssrc, &rt)
                                 : NULL;
    if (!tr || !tr->rtx || !rt->started ||
        t->peer.state != KG_PEER_CONNECTED || !t->has_addr)
        return;
    if (tr->sc)
        return; /* simulcast routes keep no cache to resend from (yet) */
    for (int i = 0; i < n; i++) {
        nack_resend(w, t, tr, rt, items[i].pid, now);
        for (unsigned b = 0; b < 16; b++) {
            if (items[i].blp & (1u << b))
                nack_resend(w, t, tr, rt, (uint16_t)(items[i].pid + b + 1),
                            now);
        }
    }
}

/* Every tick: NACKs whose retry is due (no packet came to trigger them). */
void wk_nack_tick(kg_worker *w, kg_time now)
{
    for (wroom *r = w->rooms; r; r = r->next) {
        for (size_t i = 0; i < r->room.n_tracks; i++) {
            kg_track *tr = r->room.tracks[i];
            if (tr->nack && kg_nack_gen_deadline(tr->nack) <= now)
                nack_upstream(w, tr, now);
        }
    }
}
