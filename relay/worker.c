#include "relay/worker.h"
#include "relay/worker_internal.h"

kg_time wk_worker_now(void)
{
    return (kg_time)uv_hrtime();
}

/* --- events back to the signalling thread --------------------------- */


void wk_emit(kg_worker *w, const kg_worker_event *ev)
{
    if (w->proc) {
        wk_child_send(w, WMSG_EVENT, 0, 1, 1, ev, sizeof(*ev));
        return;
    }
    kg_worker_event *e = malloc(sizeof(*e));
    if (!e)
        return;
    *e = *ev;
    e->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->events_tail)
        w->events_tail->next = e;
    else
        w->events = e;
    w->events_tail = e;
    pthread_mutex_unlock(&w->lock);
    uv_async_send(&w->ev_async);
}

static void on_events(uv_async_t *a)
{
    kg_worker *w = a->data;
    pthread_mutex_lock(&w->lock);
    kg_worker_event *e = w->events;
    w->events = w->events_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    while (e) {
        kg_worker_event *next = e->next;
        if (w->cfg.on_event)
            w->cfg.on_event(w->cfg.user, e);
        free(e);
        e = next;
    }
}

/* --- sending ------------------------------------------------------- */

/* Sends the queued batch with sendmmsg. A datagram the socket refuses
 * (full buffer) is counted and dropped, as UDP would. Each datagram a
 * received SRTP/SRTCP datagram caused adds its delay to st.fwd_delay. */
void wk_tx_flush(kg_worker *w)
{
    unsigned done = 0;
    if (w->tx_n == 0 || w->udp_fd < 0) {
        if (w->tcp_dirty)
            wk_tcp_flush_all(w);
        goto out;
    }
    while (done < w->tx_n) {
        int n = sendmmsg(w->udp_fd, w->tx_msg + done, w->tx_n - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* skip the datagram that failed, keep the rest */
            w->st.tx_errors++;
            w->tx_stamp[done] = 0;
            done++;
            continue;
        }
        for (int i = 0; i < n; i++) {
            w->st.tx_datagrams++;
            w->st.tx_bytes += w->tx_msg[done + i].msg_len;
        }
        done += (unsigned)n;
    }
    if (w->tcp_dirty)
        wk_tcp_flush_all(w);
    int64_t now = 0;
    for (unsigned i = 0; i < w->tx_n; i++) {
        if (!w->tx_stamp[i])
            continue;
        if (!now)
            now = kg_delay_clock();
        kg_delay_hist_add(&w->st.fwd_delay, now - w->tx_stamp[i]);
    }
out:
    w->tx_n = 0;
}

/* The next free slot of the send batch, flushing first if it is full. */
uint8_t *wk_tx_slot(kg_worker *w)
{
    if (w->tx_n == TX_BATCH)
        wk_tx_flush(w);
    return w->tx_data[w->tx_n];
}

/* Queues the slot from wk_tx_slot() with len bytes for to. */
void wk_tx_commit(kg_worker *w, const struct sockaddr_storage *to,
                  size_t len)
{
    unsigned i = w->tx_n++;
    w->tx_stamp[i] = w->fwd_stamp;
    w->tx_addr[i] = *to;
    w->tx_iov[i].iov_base = w->tx_data[i];
    w->tx_iov[i].iov_len = len;
    memset(&w->tx_msg[i], 0, sizeof(w->tx_msg[i]));
    w->tx_msg[i].msg_hdr.msg_name = &w->tx_addr[i];
    w->tx_msg[i].msg_hdr.msg_namelen = to->ss_family == AF_INET6
                                           ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in);
    w->tx_msg[i].msg_hdr.msg_iov = &w->tx_iov[i];
    w->tx_msg[i].msg_hdr.msg_iovlen = 1;
}

void wk_send_to(kg_worker *w, const struct sockaddr_storage *to,
                const uint8_t *buf, size_t len)
{
    if (len > TX_BUF)
        return;
    memcpy(wk_tx_slot(w), buf, len);
    wk_tx_commit(w, to, len);
}

/* Sends buf to t's media path (UDP address or TCP connection). */
void wk_send_t(kg_worker *w, wtransport *t, const uint8_t *buf, size_t len)
{
    if (t->tcp) {
        if (!wk_tcp_queue(w, t->tcp, buf, len))
            t->part->c.tcp_tx_dropped++;
        return;
    }
    wk_send_to(w, &t->addr, buf, len);
}

const char *kg_proto_name(int proto)
{
    switch (proto) {
    case KG_PROTO_UDP:
        return "udp";
    case KG_PROTO_TCP:
        return "tcp";
    default:
        return "none";
    }
}

/* Sends whatever DTLS has queued for t. */
static void flush_dtls(kg_worker *w, wtransport *t)
{
    for (;;) {
        ssize_t n = kg_peer_pull(&t->peer, w->tx, sizeof(w->tx));
        if (n <= 0)
            break;
        if (t->has_addr)
            wk_send_t(w, t, w->tx, (size_t)n);
    }
}

/* --- lookups ------------------------------------------------------- */

wpart *wk_find_part(kg_worker *w, uint64_t id)
{
    for (wpart *p = w->parts; p; p = p->next) {
        if (p->id == id)
            return p;
    }
    return NULL;
}

static wroom *find_room(kg_worker *w, uint64_t id)
{
    for (wroom *r = w->rooms; r; r = r->next) {
        if (r->room.id == id)
            return r;
    }
    return NULL;
}

static void transport_set_addr(kg_worker *w, wtransport *t,
                               const struct sockaddr *addr)
{
    uint8_t key[KG_MAP_KEY_MAX];
    size_t klen;
    if (t->tcp) /* ICE moved it from its TCP connection to UDP */
        wk_tcp_conn_close(w, t->tcp);
    if (t->has_addr && !t->tcp) {
        klen = kg_map_addr_key((const struct sockaddr *)&t->addr, key);
        if (kg_map_get(&w->by_addr, key, klen) == t)
            kg_map_del(&w->by_addr, key, klen);
    }
    klen = kg_map_addr_key(addr, key);
    if (klen == 0)
        return;
    memset(&t->addr, 0, sizeof(t->addr));
    memcpy(&t->addr, addr,
           addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                       : sizeof(struct sockaddr_in));
    t->has_addr = true;
    kg_map_put(&w->by_addr, key, klen, t);
}

static void transport_del(kg_worker *w, wtransport *t)
{
    uint8_t key[KG_MAP_KEY_MAX];
    wk_tcp_forget_transport(w, t); /* closes its connections */
    if (t->has_addr) {
        size_t klen = kg_map_addr_key((const struct sockaddr *)&t->addr, key);
        if (kg_map_get(&w->by_addr, key, klen) == t)
            kg_map_del(&w->by_addr, key, klen);
    }
    const char *uf = t->peer.ice.local.ufrag;
    if (kg_map_get(&w->by_ufrag, uf, strlen(uf)) == t)
        kg_map_del(&w->by_ufrag, uf, strlen(uf));
    if (t->peer.state == KG_PEER_CONNECTED)
        w->st.transports_connected--;
    kg_peer_free(&t->peer);
    t->part->t[t->role] = NULL;
    w->st.transports--;
    free(t);
}

static void transport_fail(kg_worker *w, wtransport *t, int reason)
{
    kg_worker_event ev = {.type = KG_WEV_FAILED,
                          .participant = t->part->id,
                          .role = t->role,
                          .reason = reason};
    if (reason == KG_ERR_SRTP_PROFILE && t->peer.dtls)
        kg_dtls_offered_srtp(t->peer.dtls, ev.offered, sizeof(ev.offered));
    if (reason == KG_ERR_TIMEOUT)
        w->st.consent_timeouts++;
    else
        w->st.dtls_fail++;
    transport_del(w, t);
    wk_emit(w, &ev);
}

/* --- media path ----------------------------------------------------- */


/* wire_len: the datagram's size before SRTP came off, for bitrates. */
/* A decrypted RTP packet of track tr (SRTP leaves the header's SSRC as it
 * was, so the track found before decryption is still the right one). */
static void forward_rtp(kg_worker *w, wtransport *t, kg_track *tr,
                        uint8_t *pkt, size_t len, size_t wire_len,
                        kg_time now)
{
    kg_rtp_hdr h;
    if (kg_rtp_parse(pkt, len, &h) != 0) {
        w->st.malformed++;
        t->part->c.malformed++;
        return;
    }
    w->st.rtp_in++;
    t->part->c.packets_in++;
    t->part->c.bytes_in += wire_len;
    /* Muted by the host: kaigi stops forwarding its audio, but counts it
     * as received (or the RR to the publisher would report the muted
     * stretch as lost) and takes it out of every receiver's sequence
     * space (no gap, no false loss downstream after the unmute). */
    if (tr->kind == KG_TRACK_AUDIO && t->part->muted) {
        kg_room_skip(tr, &h, now);
        return;
    }
    /* Blocked (a screen the share policy stopped): the same, and never
     * into the NACK cache, so no receiver's NACK can fetch it either. */
    if (tr->blocked) {
        if (!tr->sc)
            kg_room_skip(tr, &h, now);
        return;
    }
    if (tr->kind == KG_TRACK_AUDIO &&
        !wk_speaker_admits(w, t->part, tr, &h, now))
        return; /* not among the room's loudest N */
    if (tr->sc) {
        wk_forward_simulcast(w, tr, &h, pkt, len, now);
        return;
    }
    if (tr->nack && wk_nack_on_rtp(w, tr, pkt, len, &h, now))
        return;
    if (tr->kind == KG_TRACK_AUDIO)
        wk_mix_push(w, t->part, tr, &h);
    size_t n = kg_room_route(tr, &h, now, w->fwd, MAX_FANOUT);
    if (len + KG_SRTP_MAX_TRAILER > TX_BUF) {
        w->st.malformed++;
        return;
    }
    for (size_t i = 0; i < n; i++) {
        wpart *sub = w->fwd[i].sub;
        wtransport *st = sub->t[KG_ROLE_SUBSCRIBE];
        if (!st || st->peer.state != KG_PEER_CONNECTED || !st->has_addr)
            continue;
        /* Rewritten and encrypted in place in the send batch: one copy
         * per receiver, no allocation. */
        uint8_t *out = wk_tx_slot(w);
        memcpy(out, pkt, len);
        kg_rtp_rewrite(out, w->fwd[i].pt, w->fwd[i].seq, w->fwd[i].ts,
                       w->fwd[i].ssrc);
        size_t out_len = len;
        if (kg_peer_protect(&st->peer, out, &out_len, TX_BUF, false) != 0)
            continue;
        w->st.rtp_forwarded++;
        sub->c.packets_out++;
        sub->c.bytes_out += out_len;
        wk_tx_commit_t(w, st, out_len);
    }
}

/* RTCP from a receiver: PLI/FIR become (rate-limited) keyframe requests
 * to the publisher. Publisher RTCP (SR, SDES) ends here: kaigi is the
 * RTP endpoint of every leg. */
static void handle_rtcp(kg_worker *w, wtransport *t, const uint8_t *pkt,
                        size_t len, kg_time now)
{
    size_t off = 0;
    kg_rtcp_pkt p;
    int rc;
    w->st.rtcp_in++;
    while ((rc = kg_rtcp_next(pkt, len, &off, &p)) == 1) {
        wk_rtcp_report_in(w, t, &p, now);
        if (t->role != KG_ROLE_SUBSCRIBE)
            continue;
        if (p.pt == KG_RTCP_RTPFB && p.count == KG_RTCP_FMT_NACK) {
            t->part->c.nacks_in++;
            wk_nack_answer(w, t, &p, now);
            continue;
        }
        if (p.pt != KG_RTCP_PSFB)
            continue;
        kg_rtcp_fb fb;
        if (kg_rtcp_parse_fb(&p, &fb) != 0) {
            w->st.malformed++;
            t->part->c.malformed++;
            continue;
        }
        w->st.rtcp_feedback_in++;
        uint32_t media = fb.media_ssrc;
        if (fb.fmt == KG_RTCP_FMT_AFB) {
            wk_sc_on_remb(w, t, &fb, now);
            continue;
        }
        if (fb.fmt == KG_RTCP_FMT_FIR) {
            kg_rtcp_fir_item item;
            if (kg_rtcp_parse_fir(&fb, &item, 1) < 1)
                continue;
            media = item.ssrc;
        } else if (fb.fmt != KG_RTCP_FMT_PLI) {
            continue;
        }
        t->part->c.plis_in++;
        kg_route *rt = NULL;
        kg_track *tr =
            t->part->room ? kg_room_find_by_out(t->part->room, t->part, media,
                                                &rt)
                          : NULL;
        if (tr && tr->sc)
            kg_sc_track_want_keyframe(tr->sc,
                                      rt->sc.cur >= 0 ? rt->sc.cur
                                                      : rt->sc.target);
        if (tr)
            wk_request_keyframe(w, tr, now, false);
    }
    if (rc < 0) {
        w->st.malformed++;
        t->part->c.malformed++;
    }
}

/* RTP is only expected on a publish transport, from an SSRC its offer
 * announced. */
/* The track an RTP packet belongs to, from its clear header: RTP is only
 * expected on a publish transport, from an SSRC its offer announced. Found
 * once per packet, before decryption. */
static kg_track *rtp_track(const wtransport *t, const uint8_t *pkt,
                           size_t len)
{
    if (t->role != KG_ROLE_PUBLISH || !t->part->room || len < 12)
        return NULL;
    return kg_room_find_track(t->part->room, t->part, kg_rd32(pkt + 8));
}

static void handle_srtp(kg_worker *w, wtransport *t, uint8_t *pkt,
                        size_t len, kg_time now)
{
    /* RFC 5761 section 4: RTCP packet types 192..223 in the second byte. */
    bool rtcp = len >= 2 && pkt[1] >= 192 && pkt[1] <= 223;
    kg_track *tr = rtcp ? NULL : rtp_track(t, pkt, len);
    int learn = -1; /* a rid-based simulcast layer this SSRC may be */
    if (!rtcp && !tr)
        tr = wk_sc_rid_track(t, pkt, len, &learn);
    if (!rtcp && !tr) {
        /* Refused before decryption: costs nothing, and libsrtp never
         * makes a stream for an SSRC the SDP did not announce. */
        w->st.ssrc_refused++;
        return;
    }
    size_t wire_len = len;
    int rc = kg_peer_unprotect(&t->peer, pkt, &len, rtcp);
    if (rc == KG_ERR_FULL) {
        w->st.ssrc_refused++;
        return;
    }
    if (rc == KG_ERR_AUTH) {
        w->st.srtp_auth_fail++;
        t->part->c.srtp_auth_fail++;
        return;
    }
    if (rc == KG_ERR_REPLAY) {
        w->st.srtp_replay++;
        t->part->c.srtp_replay++;
        return;
    }
    if (rc != 0) {
        w->st.malformed++;
        t->part->c.malformed++;
        return;
    }
    if (learn >= 0) /* authenticated: now the SSRC may name the layer */
        kg_sc_track_set_layer(tr->sc, learn, kg_rd32(pkt + 8), 0);
    if (rtcp)
        handle_rtcp(w, t, pkt, len, now);
    else
        forward_rtp(w, t, tr, pkt, len, wire_len, now);
}

static void handle_dtls(kg_worker *w, wtransport *t, const uint8_t *pkt,
                        size_t len, kg_time now)
{
    int rc = kg_peer_on_dtls(&t->peer, pkt, len, now);
    flush_dtls(w, t);
    if (rc != 0 && t->peer.state == KG_PEER_FAILED) {
        transport_fail(w, t, rc);
        return;
    }
    if (t->peer.state == KG_PEER_CONNECTED && !t->connected_reported) {
        t->connected_reported = true;
        w->st.transports_connected++;
        kg_worker_event ev = {.type = KG_WEV_CONNECTED,
                              .participant = t->part->id,
                              .role = t->role,
                              .profile = t->peer.profile};
        snprintf(ev.cipher, sizeof(ev.cipher), "%s",
                 t->peer.cipher);
        wk_emit(w, &ev);
        if (t->role == KG_ROLE_SUBSCRIBE)
            wk_keyframes_for_subscriber(w, t->part, now);
    }
}

/* A STUN message from a UDP address or a TCP connection, for transport
 * *tp (NULL: not yet known: only a Binding request whose USERNAME names
 * one of our transports may go further, and nothing is allocated before
 * its MESSAGE-INTEGRITY checks out; *tp is then set). Returns the length
 * of the response in w->tx (0: none), or -1 when the message was
 * dropped (counted). */
static ssize_t stun_in(kg_worker *w, wtransport **tp, const uint8_t *pkt,
                       size_t len, const struct sockaddr *from, kg_time now,
                       bool *selected)
{
    kg_stun_msg msg;
    if (kg_stun_parse(pkt, len, &msg) != 0) {
        w->st.malformed++;
        return -1;
    }
    wtransport *t = *tp;
    if (!t) {
        char ufrag[KG_ICE_UFRAG_LEN + 1];
        if (msg.type != KG_STUN_BINDING_REQUEST ||
            kg_ice_username_local(&msg, ufrag, sizeof(ufrag)) != 0 ||
            !(t = kg_map_get(&w->by_ufrag, ufrag, strlen(ufrag)))) {
            w->st.unknown_source++;
            return -1;
        }
    }
    *selected = false;
    ssize_t n = kg_peer_on_stun(&t->peer, pkt, len, &msg, from, now, w->tx,
                                sizeof(w->tx), selected);
    if (n < 0) {
        w->st.stun_bad++;
        return -1;
    }
    w->st.stun_ok++;
    *tp = t;
    return n;
}

static void handle_stun(kg_worker *w, wtransport *t, const uint8_t *pkt,
                        size_t len, const struct sockaddr *from, kg_time now)
{
    bool selected;
    ssize_t n = stun_in(w, &t, pkt, len, from, now, &selected);
    if (n < 0)
        return;
    if (selected)
        transport_set_addr(w, t, from);
    if (n > 0) {
        struct sockaddr_storage to;
        memset(&to, 0, sizeof(to));
        memcpy(&to, from,
               from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
        wk_send_to(w, &to, w->tx, (size_t)n);
    }
}

/* A DTLS, SRTP or SRTCP packet from t's validated path (a UDP address
 * or a TCP connection): the demux after STUN, the same for both. stamp:
 * the packet's receive time (kg_delay_clock's clock). */
void wk_on_packet(kg_worker *w, wtransport *t, uint8_t *pkt, size_t len,
                  int64_t stamp, kg_time now)
{
    uint8_t b0 = len ? pkt[0] : 0xff;
    if (b0 >= 20 && b0 <= 63)
        handle_dtls(w, t, pkt, len, now);
    else if (b0 >= 128 && b0 <= 191) {
        w->fwd_stamp = stamp;
        handle_srtp(w, t, pkt, len, now);
        w->fwd_stamp = 0;
    } else {
        w->st.malformed++;
        t->part->c.malformed++;
    }
}

/* A STUN message on a TCP connection: as handle_stun, with the
 * connection in place of the source address. A valid check
 * authenticates the connection (it may stay past its deadline and gets
 * its send ring); one that selects it makes it the transport's path. */
void wk_handle_stun_tcp(kg_worker *w, wtcp *c, const uint8_t *pkt,
                        size_t len, kg_time now)
{
    wtransport *t = c->t;
    bool selected;
    ssize_t n = stun_in(w, &t, pkt, len, (const struct sockaddr *)&c->peer,
                        now, &selected);
    if (n < 0)
        return;
    if (!c->t)
        wk_tcp_authenticate(w, c, t);
    /* A UDP path in use is never given up for TCP: its candidate has the
     * higher priority (RFC 8445 8.1.1: of several nominated pairs, the
     * highest wins), and a client that nominates both (Firefox did, now
     * and then) keeps sending on UDP, which kaigi would then drop. */
    if (selected && !(t->has_addr && !t->tcp))
        wk_tcp_select(w, c, t);
    if (n > 0 && !wk_tcp_queue(w, c, w->tx, (size_t)n))
        t->part->c.tcp_tx_dropped++;
}

/* stamp: the datagram's kernel receive time (kg_delay_clock's clock). */
static void on_datagram(kg_worker *w, uint8_t *pkt, size_t len,
                        const struct sockaddr *from, int64_t stamp)
{
    kg_time now = wk_worker_now();
    uint8_t key[KG_MAP_KEY_MAX];
    size_t klen = kg_map_addr_key(from, key);
    wtransport *t = klen ? kg_map_get(&w->by_addr, key, klen) : NULL;
    uint8_t b0 = len ? pkt[0] : 0xff;

    w->st.rx_datagrams++;
    w->st.rx_bytes += len;
    if (b0 <= 3) { /* RFC 7983: STUN */
        handle_stun(w, t, pkt, len, from, now);
        return;
    }
    if (!t) {
        /* DTLS or SRTP from an address no ICE check has validated. */
        w->st.unknown_source++;
        return;
    }
    wk_on_packet(w, t, pkt, len, stamp, now);
}

/* Up to RX_ROUNDS recvmmsg calls of RX_BATCH datagrams each; what one
 * batch makes kaigi send leaves in one sendmmsg before the next. */
static void on_udp_readable(uv_poll_t *h, int status, int events)
{
    kg_worker *w = h->data;
    (void)events;
    if (status < 0)
        return;
    for (int round = 0; round < RX_ROUNDS; round++) {
        for (unsigned i = 0; i < RX_BATCH; i++) {
            struct msghdr *m = &w->rx_msg[i].msg_hdr;
            m->msg_namelen = sizeof(w->rx_addr[i]);
            m->msg_controllen = sizeof(w->rx_ctl[i]);
            m->msg_flags = 0;
        }
        int n = recvmmsg(w->udp_fd, w->rx_msg, RX_BATCH, MSG_DONTWAIT, NULL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        int64_t fallback = 0; /* without kernel timestamps: recvmmsg's return */
        for (int i = 0; i < n; i++) {
            struct msghdr *m = &w->rx_msg[i].msg_hdr;
            if (m->msg_flags & MSG_TRUNC) {
                w->st.rx_datagrams++;
                w->st.malformed++;
                continue;
            }
            int64_t stamp = kg_delay_rx_stamp(m);
            if (!stamp) {
                if (!fallback)
                    fallback = kg_delay_clock();
                stamp = fallback;
            }
            on_datagram(w, w->rx[i], w->rx_msg[i].msg_len,
                        (const struct sockaddr *)&w->rx_addr[i], stamp);
        }
        wk_tx_flush(w);
        if (n < RX_BATCH)
            break;
    }
}

/* --- commands ------------------------------------------------------- */

static void cmd_join(kg_worker *w, const kg_worker_cmd *c)
{
    if (wk_find_part(w, c->participant))
        return;
    wroom *r = find_room(w, c->room);
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return;
        kg_room_init(&r->room, c->room);
        wk_speaker_room_init(w, r);
        r->next = w->rooms;
        w->rooms = r;
        w->st.rooms++;
    }
    wpart *p = calloc(1, sizeof(*p));
    if (!p)
        return;
    p->id = c->participant;
    p->room = &r->room;
    p->next = w->parts;
    w->parts = p;
    r->members++;
    w->n_parts++;
    w->st.participants++;
}

static void cmd_transport(kg_worker *w, const kg_worker_cmd *c)
{
    wpart *p = wk_find_part(w, c->participant);
    if (!p || p->t[c->role])
        return;
    const char *uf = c->local.ufrag;
    if (kg_map_get(&w->by_ufrag, uf, strlen(uf)))
        return; /* signalling made a duplicate ufrag: refuse, never alias */
    wtransport *t = calloc(1, sizeof(*t));
    if (!t)
        return;
    if (kg_peer_init(&t->peer, w->dtls_ctx, &c->local, c->remote_ufrag,
                     c->remote_fp, wk_worker_now()) != 0) {
        free(t);
        return;
    }
    t->part = p;
    t->role = c->role;
    p->t[c->role] = t;
    kg_map_put(&w->by_ufrag, uf, strlen(uf), t);
    w->st.transports++;
}

/* A receiver caps the simulcast layer it gets of a track (what it shows
 * it at); relay/simulcast.c moves it at the next keyframe. */
/* Blocks or resumes one track; a resumed video track starts its
 * receivers on a keyframe. */
static void cmd_block(kg_worker *w, const kg_worker_cmd *c)
{
    wpart *pub = wk_find_part(w, c->participant);
    if (!pub || !pub->room)
        return;
    kg_track *tr = kg_room_find_track(pub->room, pub, c->ssrc);
    if (!tr || tr->blocked == c->mute)
        return;
    tr->blocked = c->mute;
    if (!tr->blocked && tr->kind == KG_TRACK_VIDEO)
        wk_request_keyframe(w, tr, wk_worker_now(), true);
}

static void cmd_max_layer(kg_worker *w, const kg_worker_cmd *c)
{
    wpart *pub = wk_find_part(w, c->participant);
    wpart *sub = wk_find_part(w, c->sub);
    if (!pub || !sub || pub->room != sub->room || !pub->room)
        return;
    kg_track *tr = kg_room_find_track(pub->room, pub, c->ssrc);
    if (!tr || !tr->sc)
        return;
    for (size_t i = 0; i < tr->n_routes; i++) {
        if (tr->routes[i].sub != sub)
            continue;
        kg_sc_receiver_set_max_layer(&tr->routes[i].sc,
                                     c->sc_max_layer
                                         ? c->sc_max_layer - 1
                                         : KG_SC_LAYERS - 1);
        kg_sc_receiver_update(tr->sc, &tr->routes[i].sc, wk_worker_now());
    }
}

static void cmd_route(kg_worker *w, const kg_worker_cmd *c)
{
    wpart *pub = wk_find_part(w, c->participant);
    wpart *sub = wk_find_part(w, c->sub);
    if (!pub || !sub || pub->room != sub->room || !pub->room)
        return;
    kg_track *mt = kg_room_find_track(pub->room, pub, c->ssrc);
    if (sub->mixed && mt && mt->kind == KG_TRACK_AUDIO)
        return; /* it hears this track in its mix: never twice */
    if (kg_room_add_route(pub->room, pub, c->ssrc, sub, c->out_ssrc,
                          c->out_pt) != 0)
        return;
    if (c->sc_max_layer)
        cmd_max_layer(w, c);
    /* A new receiver of a video track needs a keyframe to start from. */
    kg_track *tr = kg_room_find_track(pub->room, pub, c->ssrc);
    wtransport *st = sub->t[KG_ROLE_SUBSCRIBE];
    if (tr && tr->kind == KG_TRACK_VIDEO && st &&
        st->peer.state == KG_PEER_CONNECTED)
        wk_request_keyframe(w, tr, wk_worker_now(), true);
}

static void counters_add(kg_part_counters *sum, const kg_part_counters *c)
{
    sum->packets_in += c->packets_in;
    sum->bytes_in += c->bytes_in;
    sum->packets_out += c->packets_out;
    sum->bytes_out += c->bytes_out;
    sum->srtp_auth_fail += c->srtp_auth_fail;
    sum->srtp_replay += c->srtp_replay;
    sum->malformed += c->malformed;
    sum->nacks_in += c->nacks_in;
    sum->plis_in += c->plis_in;
    sum->pli_sent += c->pli_sent;
    sum->sr_sent += c->sr_sent;
    sum->rr_sent += c->rr_sent;
    sum->sr_in += c->sr_in;
    sum->rr_in += c->rr_in;
    sum->retransmits += c->retransmits;
    sum->rtx_misses += c->rtx_misses;
    sum->nacks_sent += c->nacks_sent;
    sum->nack_recovered += c->nack_recovered;
    sum->nack_given_up += c->nack_given_up;
    sum->tcp_tx_dropped += c->tcp_tx_dropped;
}

static void cmd_leave(kg_worker *w, const kg_worker_cmd *c)
{
    wpart **pp = &w->parts;
    while (*pp && (*pp)->id != c->participant)
        pp = &(*pp)->next;
    wpart *p = *pp;
    if (!p)
        return;
    *pp = p->next;
    for (int role = 0; role < 2; role++) {
        if (p->t[role])
            transport_del(w, p->t[role]);
    }
    if (p->room) {
        kg_speaker_remove(&wk_wroom_of(p->room)->speaker, p->id);
        wk_mix_leave(w, p);
        kg_room_remove_member(p->room, p);
        wroom **rp = &w->rooms;
        while (*rp && &(*rp)->room != p->room)
            rp = &(*rp)->next;
        if (*rp)
            counters_add(&(*rp)->gone, &p->c);
        if (*rp && --(*rp)->members == 0) {
            wroom *r = *rp;
            *rp = r->next;
            kg_room_free(&r->room);
            kg_speaker_free(&r->speaker);
            free(r);
            w->st.rooms--;
        }
    }
    free(p);
    w->n_parts--;
    w->st.participants--;
}

void wk_run_cmd(kg_worker *w, const kg_worker_cmd *c)
{
    switch (c->type) {
    case KG_CMD_JOIN:
        cmd_join(w, c);
        break;
    case KG_CMD_TRANSPORT:
        cmd_transport(w, c);
        break;
    case KG_CMD_TRACK: {
        wpart *p = wk_find_part(w, c->participant);
        if (p && p->room &&
            kg_room_add_track(p->room, p, c->ssrc,
                              (enum kg_track_kind)c->kind) == 0) {
            wk_speaker_track(p, c);
            wk_mix_track(w, p, c->ssrc, c->kind);
        }
        if (p && p->room && c->n_layers >= 2 && !c->rid_ext_id)
            kg_room_set_simulcast(p->room, p, c->ssrc, c->layer_ssrc,
                                  c->layer_bps, c->n_layers);
        if (p && p->room && c->n_layers >= 2 && c->rid_ext_id)
            kg_room_set_simulcast_rids(p->room, p, c->ssrc, c->layer_rid,
                                       c->n_layers, c->rid_ext_id);
        break;
    }
    case KG_CMD_ROUTE:
        cmd_route(w, c);
        break;
    case KG_CMD_LEAVE:
        cmd_leave(w, c);
        break;
    case KG_CMD_MUTE: {
        wpart *p = wk_find_part(w, c->participant);
        if (p)
            p->muted = c->mute;
        break;
    }
    case KG_CMD_MAX_LAYER:
        cmd_max_layer(w, c);
        break;
    case KG_CMD_BLOCK:
        cmd_block(w, c);
        break;
    case KG_CMD_MIX:
        wk_mix_join(w, c);
        break;
    }
}

void wk_close_cb(uv_handle_t *h)
{
    (void)h;
}

void wk_worker_shutdown(kg_worker *w)
{
    while (w->parts) {
        kg_worker_cmd c = {.type = KG_CMD_LEAVE, .participant = w->parts->id};
        cmd_leave(w, &c);
    }
    wk_tx_flush(w);
    /* uv_close stops the poll at once: the socket can go now */
    uv_close((uv_handle_t *)&w->udp_poll, wk_close_cb);
    close(w->udp_fd);
    w->udp_fd = -1;
    wk_tcp_close_all(w);
    uv_close((uv_handle_t *)&w->tick, wk_close_cb);
    uv_close((uv_handle_t *)&w->flush_check, wk_close_cb);
    uv_close((uv_handle_t *)&w->cmd_async, wk_close_cb);
    wk_mix_close(w);
}

static void on_cmds(uv_async_t *a)
{
    kg_worker *w = a->data;
    pthread_mutex_lock(&w->lock);
    kg_worker_cmd *c = w->cmds;
    w->cmds = w->cmds_tail = NULL;
    bool stopping = w->stopping;
    pthread_mutex_unlock(&w->lock);
    while (c) {
        kg_worker_cmd *next = c->next;
        wk_run_cmd(w, c);
        /* Commands carry ICE passwords: wipe before freeing. */
        memset(c, 0, sizeof(*c));
        free(c);
        c = next;
    }
    if (stopping)
        wk_worker_shutdown(w);
}

/* --- timers ----------------------------------------------------------- */

static void check_transport(kg_worker *w, wtransport *t, kg_time now)
{
    if (now < kg_peer_deadline(&t->peer))
        return;
    int rc = kg_peer_on_timeout(&t->peer, now);
    if (rc != 0) {
        transport_fail(w, t, rc);
        return;
    }
    flush_dtls(w, t);
}

/* bit/s between the ring's newest sample and the one back samples
 * before it (or the oldest there is). */
static uint64_t ring_rate(const kg_time *t, const uint64_t *bytes,
                          unsigned n, unsigned head, unsigned back)
{
    if (n < 2)
        return 0;
    if (back > n - 1)
        back = n - 1;
    unsigned old = (head + RATE_RING - back) % RATE_RING;
    kg_time dt = t[head] - t[old];
    if (dt == 0)
        return 0;
    return (uint64_t)((double)(bytes[head] - bytes[old]) * 8.0 *
                      (double)KG_SEC / (double)dt);
}

static void part_rates(wpart *p, kg_time now, kg_part_stats *o)
{
    p->ring_head = (p->ring_head + 1) % RATE_RING;
    p->ring_t[p->ring_head] = now;
    p->ring_in[p->ring_head] = p->c.bytes_in;
    p->ring_out[p->ring_head] = p->c.bytes_out;
    if (p->ring_n < RATE_RING)
        p->ring_n++;
    o->bitrate_in_1s = ring_rate(p->ring_t, p->ring_in, p->ring_n,
                                 p->ring_head, 1);
    o->bitrate_in_10s = ring_rate(p->ring_t, p->ring_in, p->ring_n,
                                  p->ring_head, 10);
    o->bitrate_out_1s = ring_rate(p->ring_t, p->ring_out, p->ring_n,
                                  p->ring_head, 1);
    o->bitrate_out_10s = ring_rate(p->ring_t, p->ring_out, p->ring_n,
                                   p->ring_head, 10);
}

/* Its tracks: loss and jitter of what it publishes, what it receives. */
/* A simulcast track's layers for ops: rates and who is on which. */
static void sc_track_stats(const kg_track *tr, kg_track_stats *ts)
{
    for (int i = 0; i < KG_SC_LAYERS; i++) {
        if (tr->sc->layer[i].ssrc == 0 && tr->sc->rid[i][0] == 0)
            continue;
        ts->sc_layers = (unsigned)i + 1;
        ts->sc_ssrc[i] = tr->sc->layer[i].ssrc;
        ts->sc_bps[i] = kg_sc_layer_bps(tr->sc, i);
    }
    for (size_t j = 0; j < tr->n_routes; j++) {
        int cur = tr->routes[j].sc.cur;
        if (cur >= 0 && cur < KG_SC_LAYERS)
            ts->sc_receivers[cur]++;
    }
}

static void part_tracks(const wpart *p, kg_part_stats *o)
{
    if (!p->room)
        return;
    const kg_room *r = p->room;
    for (size_t i = 0; i < r->n_tracks; i++) {
        const kg_track *tr = r->tracks[i];
        for (size_t j = 0; j < tr->n_routes; j++)
            o->tracks_subscribed += tr->routes[j].sub == p;
        if (tr->pub != p)
            continue;
        o->tracks_published++;
        uint64_t expected = kg_rx_stats_expected(&tr->rx);
        uint64_t lost = kg_rx_stats_lost(&tr->rx);
        double jitter = kg_rx_stats_jitter_ms(&tr->rx);
        o->expected += expected;
        o->lost += lost;
        if (jitter > o->jitter_ms)
            o->jitter_ms = jitter;
        if (o->n_tracks == KG_PART_MAX_TRACKS)
            continue;
        kg_track_stats *ts = &o->tracks[o->n_tracks++];
        ts->ssrc = tr->in_ssrc;
        ts->kind = (int)tr->kind;
        ts->packets = tr->packets;
        ts->bytes = tr->bytes;
        ts->expected = expected;
        ts->lost = lost;
        ts->jitter_ms = jitter;
        ts->subscribers = (unsigned)tr->n_routes;
        if (tr->sc)
            sc_track_stats(tr, ts);
    }
}

/* Its RTT and what it and its receivers report (relay/rtcp_report.h). */
static void part_rtcp(const wpart *p, kg_part_stats *o)
{
    o->rtt_valid = p->rtt.valid;
    o->rtt_ms = p->rtt.last_ms;
    o->rtt_smoothed_ms = p->rtt.smoothed_ms;
    if (!p->room)
        return;
    const kg_room *r = p->room;
    for (size_t i = 0; i < r->n_tracks; i++) {
        const kg_track *tr = r->tracks[i];
        uint32_t rate = kg_track_clock_rate(tr->kind);
        kg_track_stats *ts = NULL;
        for (unsigned k = 0; tr->pub == p && k < o->n_tracks; k++) {
            if (o->tracks[k].ssrc == tr->in_ssrc)
                ts = &o->tracks[k];
        }
        if (ts)
            ts->srs_in = tr->rtcp.srs_in;
        for (size_t j = 0; j < tr->n_routes; j++) {
            const kg_rtcp_tx *x = &tr->routes[j].rtcp;
            if (!x->have_rr)
                continue;
            double loss = x->fraction_lost / 256.0;
            double jit = kg_rtcp_tx_jitter_ms(x, rate);
            if (tr->routes[j].sub == p) {
                if (loss > o->receiver_loss_fraction)
                    o->receiver_loss_fraction = loss;
                if (jit > o->receiver_jitter_ms)
                    o->receiver_jitter_ms = jit;
            }
            if (ts && loss > ts->receiver_loss_fraction)
                ts->receiver_loss_fraction = loss;
            if (ts && jit > ts->receiver_jitter_ms)
                ts->receiver_jitter_ms = jit;
        }
    }
}

static void part_record(wpart *p, kg_time now, kg_part_stats *o)
{
    memset(o, 0, sizeof(*o));
    o->participant = p->id;
    o->room = p->room ? p->room->id : 0;
    o->c = p->c;
    o->muted = p->muted;
    for (int role = 0; role < 2; role++) {
        const wtransport *t = p->t[role];
        o->dtls_state[role] = t ? kg_peer_state_name(t->peer.state) : "none";
        o->srtp_profile[role] = t ? (int)t->peer.profile : 0;
        o->proto[role] = !t || !t->has_addr ? KG_PROTO_NONE
                         : t->tcp           ? KG_PROTO_TCP
                                            : KG_PROTO_UDP;
    }
    part_rates(p, now, o);
    part_tracks(p, o);
    part_rtcp(p, o);
}

/* A handshake's OpenSSL state (about 60 kB per transport) is freed once
 * the client has its keys, but glibc keeps the freed pages in the
 * worker's arena, where the long-lived SRTP state made at the same moment
 * pins them: after handshakes, give free pages back to the system. At
 * most once a second, and only when a handshake ended or DTLS state went
 * away since the last time (malloc_trim walks the arenas). */
static void trim_after_handshakes(kg_worker *w)
{
    size_t held = 0;
    for (wpart *p = w->parts; p; p = p->next) {
        for (int role = 0; role < 2; role++)
            held += p->t[role] && kg_peer_holds_dtls(&p->t[role]->peer);
    }
    if (held < w->dtls_held ||
        w->st.transports_connected != w->trimmed_at_connected)
        malloc_trim(0);
    w->dtls_held = held;
    w->trimmed_at_connected = w->st.transports_connected;
}

/* Once a second: a fresh array of every participant's numbers, swapped in
 * under the lock that readers copy it under. The packet path never takes
 * a lock or allocates for this. */
static void part_snapshot(kg_worker *w, kg_time now)
{
    size_t n_rooms = 0;
    for (wroom *r = w->rooms; r; r = r->next)
        n_rooms++;
    size_t n = w->n_parts + n_rooms;
    kg_part_stats *a = n ? calloc(n, sizeof(*a)) : NULL;
    if (n && !a)
        return; /* keep the older snapshot */
    size_t i = 0;
    for (wpart *p = w->parts; p && i < n; p = p->next)
        part_record(p, now, &a[i++]);
    for (wroom *r = w->rooms; r && i < n; r = r->next) {
        kg_part_stats *o = &a[i++];
        o->room = r->room.id;
        o->c = r->gone;
        o->dtls_state[0] = o->dtls_state[1] = "none";
    }
    trim_after_handshakes(w);
    pthread_mutex_lock(&w->lock);
    kg_part_stats *old = w->part_snap;
    w->part_snap = a;
    w->n_part_snap = i;
    pthread_mutex_unlock(&w->lock);
    free(old);
    if (!w->proc)
        return;
    /* While the parent has not taken the last snapshot whole, this one
     * is skipped: at most one snapshot ever waits in the queue. */
    if (w->outq)
        return;
    size_t off = 0;
    do {
        size_t cnt = i - off < PARTS_PER_MSG ? i - off : PARTS_PER_MSG;
        if (wk_child_send(w, WMSG_PARTS, (uint32_t)off, (uint32_t)cnt,
                          (uint32_t)i, a ? a + off : NULL,
                          cnt * sizeof(*a)) != 0)
            break;
        off += cnt;
    } while (off < i);
}

static void on_tick(uv_timer_t *timer)
{
    kg_worker *w = timer->data;
    kg_time now = wk_worker_now();
    for (wpart *p = w->parts; p; p = p->next) {
        for (int role = 0; role < 2; role++) {
            if (p->t[role])
                check_transport(w, p->t[role], now);
        }
    }
    wk_nack_tick(w, now);
    wk_tcp_tick(w, now);
    struct timespec cpu;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
        w->st.cpu_ns = (uint64_t)cpu.tv_sec * KG_SEC + (uint64_t)cpu.tv_nsec;
    wk_rtcp_report_tick(w, now);
    bool snap = now - w->last_part_snap >= SNAPSHOT_INTERVAL;
    pthread_mutex_lock(&w->lock);
    w->snapshot = w->st;
    pthread_mutex_unlock(&w->lock);
    /* A worker process sends its counters up once a second, with the
     * per-participant snapshot, not every tick: 50 wake-ups a second of
     * two processes per worker were most of an idle worker's cost. */
    if (w->proc && snap)
        wk_child_send(w, WMSG_STATS, 0, 1, 1, &w->st, sizeof(w->st));
    if (snap) {
        w->last_part_snap = now;
        part_snapshot(w, now);
    }
    /* What timers queued (PLIs, upstream NACKs, DTLS retransmissions)
     * leaves now: the flush at the end of the loop iteration comes only
     * after the next poll, up to a tick later when no media flows. */
    wk_tx_flush(w);
}

static void worker_main(void *arg)
{
    kg_worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

static void on_flush_check(uv_check_t *c)
{
    wk_tx_flush(c->data);
}

/* The media socket: bound, non-blocking, large buffers, kernel receive
 * timestamps, and the receive batch pointed at the worker's buffers.
 * Returns 0 or a negative errno (libuv's error codes are the same). */
static int open_udp(kg_worker *w)
{
    const struct sockaddr *a = w->cfg.udp_addr;
    int fd = socket(a->sa_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    0);
    if (fd < 0)
        return -errno;
    socklen_t alen = a->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    if (bind(fd, a, alen) < 0) {
        int e = errno;
        close(fd);
        return -e;
    }
    /* Best effort: the kernel caps these at net.core.[rw]mem_max, and
     * without timestamps the delay is timed from recvmmsg's return. */
    int size = 4 << 20, on = 1;
    setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
    setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &on, sizeof(on));
    for (unsigned i = 0; i < RX_BATCH; i++) {
        w->rx_iov[i] = (struct iovec){w->rx[i], RX_SLOT};
        struct msghdr *m = &w->rx_msg[i].msg_hdr;
        m->msg_name = &w->rx_addr[i];
        m->msg_iov = &w->rx_iov[i];
        m->msg_iovlen = 1;
        m->msg_control = w->rx_ctl[i].buf;
    }
    w->udp_fd = fd;
    return 0;
}

static int worker_init_loop(kg_worker *w)
{
    int rc = uv_loop_init(&w->loop);
    if (rc < 0)
        return rc;
    rc = open_udp(w);
    if (rc == 0) {
        rc = uv_poll_init_socket(&w->loop, &w->udp_poll, w->udp_fd);
        if (rc < 0) {
            close(w->udp_fd);
            w->udp_fd = -1;
        }
    }
    if (rc < 0) {
        uv_loop_close(&w->loop);
        return rc;
    }
    w->udp_poll.data = w;
    rc = wk_tcp_open(w);
    if (rc < 0) {
        uv_close((uv_handle_t *)&w->udp_poll, NULL);
        uv_run(&w->loop, UV_RUN_NOWAIT);
        close(w->udp_fd);
        w->udp_fd = -1;
        uv_loop_close(&w->loop);
        return rc;
    }
    /* Whatever timers or commands queued leaves at the end of each loop
     * iteration. */
    uv_check_init(&w->loop, &w->flush_check);
    w->flush_check.data = w;
    uv_check_start(&w->flush_check, on_flush_check);
    uv_async_init(&w->loop, &w->cmd_async, on_cmds);
    w->cmd_async.data = w;
    uv_timer_init(&w->loop, &w->tick);
    w->tick.data = w;
    uv_timer_start(&w->tick, on_tick, TICK_MS, TICK_MS);
    wk_mix_init(w);
    uv_poll_start(&w->udp_poll, UV_READABLE, on_udp_readable);
    return 0;
}

/* The worker's own state: address maps, DTLS context, loop, UDP socket.
 * Returns 0 or a negative libuv/KG error, with nothing left allocated. */
int wk_worker_setup(kg_worker *w)
{
    if (kg_map_init(&w->by_addr) != 0 || kg_map_init(&w->by_ufrag) != 0) {
        kg_map_free(&w->by_addr);
        kg_map_free(&w->by_ufrag);
        return KG_ERR_NOMEM;
    }
    w->dtls_ctx =
        kg_dtls_ctx_new(w->cfg.cert, KG_DTLS_SERVER, w->cfg.dtls_flags);
    int rc = w->dtls_ctx ? worker_init_loop(w) : KG_ERR_NOMEM;
    if (rc < 0) {
        kg_dtls_ctx_del(w->dtls_ctx);
        kg_map_free(&w->by_addr);
        kg_map_free(&w->by_ufrag);
    }
    return rc;
}

void wk_worker_teardown(kg_worker *w)
{
    int rc = uv_loop_close(&w->loop);
    if (rc != 0)
        fprintf(stderr, "kaigi: worker loop closed with handles open\n");
    kg_dtls_ctx_del(w->dtls_ctx);
    kg_map_free(&w->by_addr);
    kg_map_free(&w->by_ufrag);
}

/* --- public ----------------------------------------------------------- */

int kg_worker_start(kg_worker **out, const kg_worker_config *cfg)
{
    kg_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return KG_ERR_NOMEM;
    w->cfg = *cfg;
    w->fd = -1;
    w->udp_fd = -1;
    w->tcp_fd = -1;
    pthread_mutex_init(&w->lock, NULL);
    int rc = cfg->process ? wk_start_process(w) : wk_worker_setup(w);
    if (rc < 0) {
        pthread_mutex_destroy(&w->lock);
        free(w);
        return rc;
    }
    w->proc = cfg->process;
    if (!w->proc) {
        uv_async_init(cfg->signal_loop, &w->ev_async, on_events);
        w->ev_async.data = w;
        if (uv_thread_create(&w->thread, worker_main, w) != 0) {
            /* Cannot happen short of resource exhaustion; fail loudly. */
            fprintf(stderr, "kaigi: cannot start media worker thread\n");
            abort();
        }
    }
    *out = w;
    return 0;
}

static void ev_closed(uv_handle_t *h)
{
    kg_worker *w = h->data;
    pthread_mutex_lock(&w->lock);
    kg_worker_event *e = w->events;
    w->events = w->events_tail = NULL;
    pthread_mutex_unlock(&w->lock);
    while (e) {
        kg_worker_event *next = e->next;
        free(e);
        e = next;
    }
    free(w->part_snap);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

void kg_worker_stop(kg_worker *w)
{
    if (w->proc) {
        wk_stop_process(w);
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->stopping = true;
    pthread_mutex_unlock(&w->lock);
    uv_async_send(&w->cmd_async);
    uv_thread_join(&w->thread);
    /* Commands posted after the stop are dropped. */
    kg_worker_cmd *c = w->cmds;
    while (c) {
        kg_worker_cmd *next = c->next;
        memset(c, 0, sizeof(*c));
        free(c);
        c = next;
    }
    wk_worker_teardown(w);
    uv_close((uv_handle_t *)&w->ev_async, ev_closed);
}

int kg_worker_post(kg_worker *w, const kg_worker_cmd *cmd)
{
    if (w->proc)
        return wk_post_process(w, cmd);
    kg_worker_cmd *c = malloc(sizeof(*c));
    if (!c)
        return KG_ERR_NOMEM;
    *c = *cmd;
    c->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->cmds_tail)
        w->cmds_tail->next = c;
    else
        w->cmds = c;
    w->cmds_tail = c;
    pthread_mutex_unlock(&w->lock);
    uv_async_send(&w->cmd_async);
    return 0;
}

void kg_worker_get_stats(kg_worker *w, kg_worker_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->snapshot;
    pthread_mutex_unlock(&w->lock);
}

int kg_worker_get_parts(kg_worker *w, kg_part_stats **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    for (;;) {
        pthread_mutex_lock(&w->lock);
        size_t want = w->n_part_snap;
        pthread_mutex_unlock(&w->lock);
        if (want == 0)
            return 0;
        /* Allocated outside the lock: the worker never waits on malloc. */
        kg_part_stats *a = malloc(want * sizeof(*a));
        if (!a)
            return KG_ERR_NOMEM;
        pthread_mutex_lock(&w->lock);
        bool fits = w->n_part_snap <= want;
        size_t have = w->n_part_snap;
        if (fits && have)
            memcpy(a, w->part_snap, have * sizeof(*a));
        pthread_mutex_unlock(&w->lock);
        if (fits) {
            if (have == 0) {
                free(a);
                return 0;
            }
            *out = a;
            *n = have;
            return 0;
        }
        free(a); /* it grew meanwhile: try again */
    }
}

int kg_worker_tcp_addr(kg_worker *w, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (w->proc) {
        *out = w->tcp_local;
        return 0;
    }
    socklen_t len = sizeof(*out);
    if (w->tcp_fd >= 0)
        getsockname(w->tcp_fd, (struct sockaddr *)out, &len);
    return 0;
}

int kg_worker_local_addr(kg_worker *w, struct sockaddr_storage *out)
{
    if (w->proc) {
        *out = w->local;
        return 0;
    }
    socklen_t len = sizeof(*out);
    return getsockname(w->udp_fd, (struct sockaddr *)out, &len) < 0 ? -errno
                                                                     : 0;
}
