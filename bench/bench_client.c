/* kaigi-bench's synthetic clients on the real client stack: per client a
 * signalling WebSocket (tools/client_ws.c), and a publish and a subscribe
 * transport, each a kg_client_peer (ICE + DTLS + SRTP) on its own UDP
 * socket. Many clients share one uv loop: one bench process. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

#include "bench/bench.h"
#include "crypto/dtls.h"
#include "crypto/random.h"
#include "codec/rtcp.h"
#include "relay/client_peer.h"
#include "relay/ice.h"
#include "relay/stun.h"
#include "signalling/sdp.h"
#include "tools/client_ws.h"
#include "tools/frame_send.h"
#include "bench/bench_client.h"

#define SEND_BURST 32   /* control datagrams per service call */
#define MEDIA_BURST 256 /* media packets per client per tick */

/* One receive buffer per loop: each datagram is consumed before the next
 * read. One text buffer for SDP (messages are at most 64 KiB). */
static uint8_t rx_buf[2048];
static char sdp_text[KG_SDP_MAX_TEXT];

static double process_cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void kb_client_fail(kb_client *c, const char *fmt, const char *detail)
{
    if (c->failed)
        return;
    c->failed = true;
    fprintf(stderr, "kaigi-bench: client %u: ", c->index);
    fprintf(stderr, fmt, detail ? detail : "");
    fputc('\n', stderr);
}

/* --- transports -------------------------------------------------------- */

/* One packet behind its RFC 4571 length; past 1 MiB queued on a slow
 * connection, packets are dropped. */
static void tcp_send(kb_transport *t, const uint8_t *pkt, size_t len)
{
    if (t->tcp_up)
        kc_frame_send((uv_stream_t *)&t->tcp_h, pkt, len, 1u << 20);
}

static void send_raw(kb_transport *t, const uint8_t *pkt, size_t len)
{
    if (t->tcp) {
        tcp_send(t, pkt, len);
        return;
    }
    uv_buf_t b = uv_buf_init((char *)pkt, (unsigned)len);
    /* UDP: a full socket buffer drops the datagram, as a network would. */
    (void)uv_udp_try_send(&t->udp, &b, 1, (const struct sockaddr *)&t->remote);
}

static void on_timer(uv_timer_t *timer);

static void service(kb_transport *t)
{
    if (!t->peer || !t->open)
        return;
    uint8_t buf[2048];
    kg_time now = uv_hrtime();
    for (int i = 0; i < SEND_BURST; i++) {
        ssize_t n = kg_client_peer_poll(t->peer, now, buf, sizeof(buf));
        if (n <= 0)
            break;
        send_raw(t, buf, (size_t)n);
    }
    enum kg_client_peer_state st = kg_client_peer_state(t->peer);
    if (st == KG_CLIENT_PEER_CONNECTED && !t->connected_at) {
        t->connected_at = now;
        if (kg_client_peer_profile(t->peer) != KG_SRTP_AEAD_AES_256_GCM)
            kb_client_fail(
                t->c, "SRTP profile is %s, not AEAD_AES_256_GCM",
                kg_srtp_profile_name(kg_client_peer_profile(t->peer)));
    } else if (st == KG_CLIENT_PEER_FAILED) {
        kb_client_fail(t->c, "transport failed: %s",
                       kg_strerror(kg_client_peer_error(t->peer)));
    }
    kg_time dl = kg_client_peer_deadline(t->peer);
    if (dl == KG_TIME_NEVER) {
        uv_timer_stop(&t->timer);
        return;
    }
    uint64_t ms = dl > now ? (dl - now + KG_MS - 1) / KG_MS : 0;
    uv_timer_start(&t->timer, on_timer, ms, 0);
}

static void on_timer(uv_timer_t *timer)
{
    service(timer->data);
}

/* Answers a connectivity check from the server, which kg_client_peer
 * does not (kaigi is ice-lite and never sends one). Janus's libnice, even
 * in its ICE-lite mode, sends a triggered check back on the nominated
 * pair and only completes ICE (and so starts DTLS) when it is answered,
 * as RFC 8445 section 7.3 has a full agent do. Returns true when pkt was
 * a Binding request (answered or dropped). */
static bool answer_check(kb_transport *t, const uint8_t *pkt, size_t len,
                         const struct sockaddr *addr)
{
    kg_stun_msg msg;
    if (!kg_stun_is(pkt, len) || kg_stun_parse(pkt, len, &msg) != 0 ||
        msg.type != KG_STUN_BINDING_REQUEST)
        return false;
    char local[sizeof(t->local.ufrag)];
    size_t pwd_len = strlen(t->local.pwd);
    uint8_t out[256];
    if (kg_ice_username_local(&msg, local, sizeof(local)) != 0 ||
        strcmp(local, t->local.ufrag) != 0 ||
        kg_stun_check_integrity(pkt, len, &msg, (const uint8_t *)t->local.pwd,
                                pwd_len) != 0)
        return true;
    ssize_t n = kg_stun_write_binding_success(msg.txid, addr,
                                              (const uint8_t *)t->local.pwd,
                                              pwd_len, out, sizeof(out));
    if (n > 0)
        send_raw(t, out, (size_t)n);
    return true;
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    *buf = uv_buf_init((char *)rx_buf, sizeof(rx_buf));
}

static void send_due_media(kb_proc *p);

static void on_packet(kb_transport *t, uint8_t *pkt, size_t nread,
                      const struct sockaddr *addr);

static void on_recv(uv_udp_t *udp, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *addr, unsigned flags)
{
    kb_transport *t = udp->data;
    if (nread <= 0 || !addr || !t->peer || (flags & UV_UDP_PARTIAL) ||
        t->tcp)
        return;
    on_packet(t, (uint8_t *)buf->base, (size_t)nread, addr);
}

static bool tcp_packet(void *arg, uint8_t *pkt, size_t n)
{
    kb_transport *t = arg;
    on_packet(t, pkt, n, (const struct sockaddr *)&t->remote);
    return t->peer != NULL;
}

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    kb_transport *t = s->data;
    if (nread < 0) {
        uv_read_stop(s);
        t->tcp_up = false;
        kb_client_fail(t->c, "TCP: %s", uv_strerror((int)nread));
        return;
    }
    int rc = t->peer ? kc_frame_recv(&t->rx, (uint8_t *)buf->base,
                                     (size_t)nread, tcp_packet, t)
                     : 0;
    if (rc < 0) {
        uv_read_stop(s);
        t->tcp_up = false;
        kb_client_fail(t->c, "TCP framing: %s", kg_strerror(rc));
    }
}

static void on_packet(kb_transport *t, uint8_t *pkt, size_t nread,
                      const struct sockaddr *addr)
{
    kg_time now = uv_hrtime();
    /* Sending comes first: one poll can hand this loop hundreds of
     * datagrams, and media due meanwhile would leave late and bunched. */
    kb_proc *p = t->c->proc;
    if (p->media_due && now >= p->media_due) {
        send_due_media(p);
        now = uv_hrtime();
    }
    size_t out_len = 0;
    if (pkt[0] < 4 && answer_check(t, pkt, (size_t)nread, addr))
        return;
    int rc = kg_client_peer_recv(t->peer, pkt, (size_t)nread, now, &out_len);
    if (rc == KG_CLIENT_PEER_RTP) {
        if (t == &t->c->sub)
            kb_rx_packet(&t->c->rx, pkt, out_len, (size_t)nread, now);
        return; /* media needs no service: nothing to send back */
    }
    if (rc == KG_CLIENT_PEER_RTCP)
        return;
    service(t);
}

static int transport_open(kb_client *c, kb_transport *t)
{
    t->c = c;
    int rc = kg_ice_creds_random(&t->local);
    if (rc < 0)
        return rc;
    if (uv_udp_init(&c->proc->loop, &t->udp) < 0)
        return KG_ERR_IO;
    uv_timer_init(&c->proc->loop, &t->timer);
    t->open = true;
    t->udp.data = t;
    t->timer.data = t;
    struct sockaddr_in any;
    const char *ip = c->proc->plan->media_ip;
    uv_ip4_addr(ip ? ip : "127.0.0.1", 0, &any);
    if (uv_udp_bind(&t->udp, (const struct sockaddr *)&any, 0) < 0)
        return KG_ERR_IO;
    /* Room for bursts of fan-out: a keyframe times the room. */
    int sz = 1 << 20;
    uv_recv_buffer_size((uv_handle_t *)&t->udp, &sz);
    int len = sizeof(t->local_addr);
    if (uv_udp_getsockname(&t->udp, (struct sockaddr *)&t->local_addr, &len) < 0)
        return KG_ERR_IO;
    if (uv_udp_recv_start(&t->udp, on_alloc, on_recv) < 0)
        return KG_ERR_IO;
    return 0;
}

static void on_tcp_connect(uv_connect_t *req, int status)
{
    kb_transport *t = req->data;
    if (status < 0) {
        kb_client_fail(t->c, "TCP connect: %s", uv_strerror(status));
        return;
    }
    if (!t->open)
        return;
    t->tcp_up = true;
    uv_tcp_nodelay(&t->tcp_h, 1);
    uv_read_start((uv_stream_t *)&t->tcp_h, on_alloc, on_tcp_read);
    service(t);
}

/* --tcp: connects from the transport's address to kaigi's candidate. */
static int tcp_start(kb_transport *t)
{
    kg_framer_init(&t->rx);
    if (uv_tcp_init(&t->c->proc->loop, &t->tcp_h) < 0)
        return KG_ERR_IO;
    t->tcp_h.data = t;
    t->tcp_conn.data = t;
    struct sockaddr_in local = *(struct sockaddr_in *)&t->local_addr;
    local.sin_port = 0;
    if (uv_tcp_bind(&t->tcp_h, (const struct sockaddr *)&local, 0) < 0 ||
        uv_tcp_connect(&t->tcp_conn, &t->tcp_h,
                       (const struct sockaddr *)&t->remote,
                       on_tcp_connect) < 0)
        return KG_ERR_IO;
    return 0;
}

/* Starts t toward the transport an SDP from kaigi describes. */
static int transport_start(kb_transport *t, const kg_sdp *sdp)
{
    const kg_sdp_transport *tr = kg_sdp_bundle_transport(sdp);
    if (!tr->ice_ufrag[0] || !tr->ice_pwd[0] || !tr->fingerprint[0] ||
        !tr->cand_ip[0] || !tr->cand_port)
        return KG_ERR_UNSUPPORTED;
    kg_ice_creds remote;
    memset(&remote, 0, sizeof(remote));
    if (strlen(tr->ice_ufrag) >= sizeof(remote.ufrag) ||
        strlen(tr->ice_pwd) >= sizeof(remote.pwd))
        return KG_ERR_UNSUPPORTED;
    strcpy(remote.ufrag, tr->ice_ufrag);
    strcpy(remote.pwd, tr->ice_pwd);
    memset(&t->remote, 0, sizeof(t->remote));
    t->tcp = t->c->proc->plan->tcp;
    if (t->tcp && !tr->tcp_port)
        return KG_ERR_UNSUPPORTED; /* --tcp, but no TCP candidate */
    if (uv_ip4_addr(tr->cand_ip, t->tcp ? tr->tcp_port : tr->cand_port,
                    (struct sockaddr_in *)&t->remote) < 0)
        return KG_ERR_UNSUPPORTED; /* the bench is 127.0.0.1 only */
    t->peer = kg_client_peer_new(t->c->proc->dtls, &t->local, &remote,
                                 tr->fingerprint, uv_hrtime());
    if (!t->peer)
        return KG_ERR_NOMEM;
    if (t->tcp && tcp_start(t) < 0)
        return KG_ERR_IO;
    service(t);
    return 0;
}

static void transport_close(kb_transport *t)
{
    if (!t->open)
        return;
    if (t->peer) {
        /* close_notify tells kaigi at once instead of waiting for consent
         * to lapse. */
        kg_client_peer_close(t->peer);
        uint8_t buf[2048];
        ssize_t n;
        for (int i = 0; i < 4 && (n = kg_client_peer_poll(t->peer, uv_hrtime(),
                                                          buf, sizeof(buf))) > 0;
             i++)
            send_raw(t, buf, (size_t)n);
    }
    t->open = false;
    if (t->tcp && t->peer) {
        t->tcp_up = false;
        uv_close((uv_handle_t *)&t->tcp_h, NULL);
    }
    uv_udp_recv_stop(&t->udp);
    uv_close((uv_handle_t *)&t->udp, NULL);
    uv_close((uv_handle_t *)&t->timer, NULL);
}

/* --- signalling -------------------------------------------------------- */

static int send_json(kb_client *c, json_t *msg)
{
    if (!msg)
        return KG_ERR_NOMEM;
    char *text = json_dumps(msg, JSON_COMPACT);
    json_decref(msg);
    if (!text)
        return KG_ERR_NOMEM;
    int rc = kc_ws_send(c->ws, text);
    free(text);
    return rc < 0 ? KG_ERR_IO : 0;
}

static void local_of(kb_client *c, kb_transport *t, kg_sdp_local *l,
                     char *ip, size_t cap, uint64_t version)
{
    const struct sockaddr_in *a = (const void *)&t->local_addr;
    memset(l, 0, sizeof(*l));
    inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)cap);
    l->cand_port = ntohs(a->sin_port);
    l->ice_ufrag = t->local.ufrag;
    l->ice_pwd = t->local.pwd;
    l->fingerprint = kg_dtls_cert_fingerprint(c->proc->cert);
    l->cand_ip = ip;
    l->sess_id = ((uint64_t)kg_random_u32() << 31) | kg_random_u32();
    l->sess_version = version;
}

int kb_client_publish_offer(kb_client *c, bool setup_active, char *text,
                            size_t cap)
{
    int rc = transport_open(c, &c->pub);
    char ip[INET6_ADDRSTRLEN], cname[32];
    kg_sdp_local l;
    kg_sdp *offer = rc == 0 ? kg_sdp_new() : NULL;
    if (rc == 0 && !offer)
        rc = KG_ERR_NOMEM;
    if (rc == 0) {
        local_of(c, &c->pub, &l, ip, sizeof(ip), 1);
        snprintf(cname, sizeof(cname), "bench%u", c->index);
        rc = kg_sdp_offer_publish(c->src.audio_ssrc, c->src.video_ssrc, cname,
                                  &l, offer);
    }
    if (rc == 0 && setup_active) {
        offer->transport.setup = KG_SDP_SETUP_ACTIVE;
        for (size_t i = 0; i < offer->n_media; i++)
            offer->media[i].transport.setup = KG_SDP_SETUP_ACTIVE;
    }
    if (rc == 0) {
        ssize_t n = kg_sdp_write(offer, text, cap);
        rc = n < 0 ? (int)n : 0;
    }
    kg_sdp_del(offer);
    return rc;
}

static void on_joined(kb_client *c)
{
    c->joined = true;
    int rc = kb_client_publish_offer(c, false, sdp_text, sizeof(sdp_text));
    if (rc == 0) {
        json_t *m = json_pack("{s:s, s:s}", "type", "publish", "sdp", sdp_text);
        rc = send_json(c, m);
    }
    if (rc < 0)
        kb_client_fail(c, "publish: %s", kg_strerror(rc));
}

int kb_client_publish_answer(kb_client *c, const char *text)
{
    if (c->publish_answered)
        return 0;
    c->publish_answered = true;
    kg_sdp *ans = kg_sdp_new();
    int rc = !text ? KG_ERR_MALFORMED
             : !ans ? KG_ERR_NOMEM
                    : kg_sdp_parse(text, strlen(text), ans);
    for (size_t i = 0; rc == 0 && i < ans->n_media; i++) {
        const kg_sdp_media *m = &ans->media[i];
        const kg_sdp_codec *k;
        if (m->port && m->kind == KG_SDP_AUDIO &&
            (k = kg_sdp_find_codec(m, "opus", 48000)))
            c->src.audio_pt = k->pt;
        else if (m->port && m->kind == KG_SDP_VIDEO &&
                 (k = kg_sdp_find_codec(m, "VP8", 90000)))
            c->src.video_pt = k->pt;
    }
    if (rc == 0)
        rc = transport_start(&c->pub, ans);
    kg_sdp_del(ans);
    return rc;
}

static void on_publish_answer(kb_client *c, json_t *msg)
{
    const char *text = json_string_value(json_object_get(msg, "sdp"));
    if (c->publish_answered)
        return;
    int rc = kb_client_publish_answer(c, text);
    if (rc < 0)
        kb_client_fail(c, "publish answer: %s", kg_strerror(rc));
}

int kb_client_subscribe_answer(kb_client *c, const char *text,
                               uint64_t version, char *answer, size_t cap)
{
    int rc = 0;
    if (!c->sub.open)
        rc = transport_open(c, &c->sub);
    kg_sdp *offer = kg_sdp_new(), *ans = kg_sdp_new();
    if (rc == 0)
        rc = offer && ans ? kg_sdp_parse(text, strlen(text), offer)
                          : KG_ERR_NOMEM;
    if (rc == 0) {
        char ip[INET6_ADDRSTRLEN];
        kg_sdp_local l;
        local_of(c, &c->sub, &l, ip, sizeof(ip), version + 1);
        rc = kg_sdp_answer_subscribe(offer, &l, ans);
    }
    if (rc == 0) {
        ssize_t n = kg_sdp_write(ans, answer, cap);
        rc = n < 0 ? (int)n : 0;
    }
    if (rc == 0 && !c->sub.peer)
        rc = transport_start(&c->sub, offer);
    kg_sdp_del(offer);
    kg_sdp_del(ans);
    return rc;
}

static void on_subscribe(kb_client *c, json_t *msg)
{
    const char *text = json_string_value(json_object_get(msg, "sdp"));
    json_t *v = json_object_get(msg, "version");
    if (!text || !json_is_integer(v)) {
        kb_client_fail(c, "subscribe without sdp/version%s", "");
        return;
    }
    int rc = kb_client_subscribe_answer(c, text,
                                        (uint64_t)json_integer_value(v),
                                        sdp_text, sizeof(sdp_text));
    if (rc == 0) {
        json_t *m = json_pack("{s:s, s:s, s:I}", "type", "subscribe_answer",
                              "sdp", sdp_text, "version",
                              json_integer_value(v));
        rc = send_json(c, m);
    }
    if (rc < 0)
        kb_client_fail(c, "subscribe: %s", kg_strerror(rc));
}

static void on_message(void *user, const char *text, size_t len)
{
    kb_client *c = user;
    json_error_t err;
    json_t *msg = json_loadb(text, len, 0, &err);
    const char *type = json_string_value(json_object_get(msg, "type"));
    if (!type || c->failed) {
        /* nothing */
    } else if (strcmp(type, "joined") == 0 && !c->joined) {
        on_joined(c);
    } else if (strcmp(type, "error") == 0) {
        const char *code = json_string_value(json_object_get(msg, "code"));
        /* Any error a bench client gets means the run is not what was
         * asked for. */
        kb_client_fail(c, "server error %s", code ? code : "?");
    } else if (c->joined && strcmp(type, "publish_answer") == 0) {
        on_publish_answer(c, msg);
    } else if (c->joined && strcmp(type, "subscribe") == 0) {
        on_subscribe(c, msg);
    }
    json_decref(msg);
}

static void on_event(void *user, enum kc_ws_event ev, const char *detail)
{
    kb_client *c = user;
    if (ev == KC_WS_OPEN) {
        c->ws_open = true;
        c->ws_open_at = uv_hrtime();
        char room[32], name[32];
        snprintf(room, sizeof(room), "bench-%u", c->room);
        snprintf(name, sizeof(name), "bench-%u", c->index);
        if (send_json(c, json_pack("{s:s, s:s, s:s}", "type", "join", "room",
                                   room, "name", name)) < 0)
            kb_client_fail(c, "cannot send join%s", "");
        return;
    }
    c->ws_open = false;
    if (!c->proc->window_open || uv_hrtime() < c->proc->plan->we)
        kb_client_fail(c, "signalling closed: %s", detail);
}

/* --- media and the run's timeline ------------------------------------- */

/* A receiver sends RTCP on its receive-only leg about once a second, as
 * Chromium does (RFC 3550 6.2); an empty RR is enough for the load, and it
 * is what lets kaigi free the leg's DTLS state (relay/peer.h). */
static void send_receiver_report(kb_client *c, kg_time now)
{
    if (!c->sub.connected_at || !c->sub.open || now < c->next_rr)
        return;
    c->next_rr = now + KG_SEC;
    uint8_t buf[128];
    kg_rtcp_rr rr = {.ssrc = c->src.video_ssrc};
    ssize_t n = kg_rtcp_write_rr(&rr, buf, sizeof(buf));
    if (n <= 0)
        return;
    n = kg_client_peer_send_rtcp(c->sub.peer, buf, (size_t)n, sizeof(buf));
    if (n > 0)
        send_raw(&c->sub, buf, (size_t)n);
}

/* Media leaves when it is due, as independent clients send it: a
 * timerfd armed for the earliest packet due (libuv's timers tick in
 * milliseconds, and rounds on a fixed grid would line every client's
 * packets up). Joins and RRs need nothing finer than a millisecond. */
static void arm_media(kb_proc *p, kg_time next)
{
    kg_time now = uv_hrtime();
    if (next <= now)
        next = now + 1; /* 0 would disarm it */
    p->media_due = next;
    struct itimerspec its = {
        .it_value = {(time_t)(next / KG_SEC), (long)(next % KG_SEC)}};
    if (timerfd_settime(p->media_fd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
        fprintf(stderr, "kaigi-bench: timerfd_settime failed: no media\n");
}

/* Sends what is due from every client, then arms the timer for the
 * earliest packet due next (in a millisecond at the latest). */
static void send_due_media(kb_proc *p)
{
    uint8_t buf[KB_BUF];
    memset(buf, 0x5a, sizeof(buf));
    kg_time next = uv_hrtime() + KG_MS;
    for (unsigned i = 0; i < p->n; i++) {
        kb_client *c = &p->clients[i];
        /* The send time each packet carries is when it leaves, not when
         * this pass over the clients began. */
        kg_time now = uv_hrtime();
        if (c->failed)
            continue;
        send_receiver_report(c, now);
        if (!c->pub.connected_at || !c->pub.open)
            continue;
        if (now >= p->plan->ws && now < p->plan->we)
            kb_source_lateness(&c->src, now, &p->out->send_late);
        for (int k = 0; k < MEDIA_BURST; k++) {
            size_t len = kb_source_next(&c->src, now, buf);
            if (len == 0)
                break;
            ssize_t n = kg_client_peer_send_rtp(c->pub.peer, buf, len,
                                                sizeof(buf));
            if (n <= 0)
                break;
            send_raw(&c->pub, buf, (size_t)n);
            if (now >= p->plan->ws && now < p->plan->we) {
                c->sent_packets++;
                c->sent_bytes += (size_t)n;
            }
        }
        kg_time due = kb_source_due(&c->src);
        if (due < next)
            next = due;
    }
    arm_media(p, next);
}

static void on_media(uv_poll_t *poll, int status, int events)
{
    kb_proc *p = poll->data;
    (void)events;
    uint64_t expirations;
    if (status < 0 || read(p->media_fd, &expirations, sizeof(expirations)) < 0)
        return;
    send_due_media(p);
}

static void on_start(uv_timer_t *timer)
{
    kb_proc *p = timer->data;
    kc_ws_handler h = {.on_message = on_message, .on_event = on_event};
    for (unsigned i = 0; i < p->n; i++) {
        kb_client *c = &p->clients[i];
        if (p->plan->janus_url) {
            kb_janus_start(c);
            continue;
        }
        h.user = c;
        c->ws = kc_ws_new(&p->loop, p->plan->ws_url, "127.0.0.1",
                           p->plan->ca, &h);
        if (!c->ws)
            kb_client_fail(c, "cannot open the WebSocket%s", "");
    }
    uv_poll_start(&p->media_poll, UV_READABLE, on_media);
    arm_media(p, uv_hrtime() + KG_MS);
}

static void on_window(uv_timer_t *timer)
{
    kb_proc *p = timer->data;
    p->window_open = true;
    p->cpu_at_ws = process_cpu_s();
}

static void collect(kb_proc *p, kb_result *out, double cpu_s)
{
    out->clients = p->n;
    out->cpu_s = cpu_s;
    out->window_s = (double)(p->plan->we - p->plan->ws) / 1e9;
    for (unsigned i = 0; i < p->n; i++) {
        kb_client *c = &p->clients[i];
        bool up = c->pub.connected_at && c->sub.connected_at && !c->failed;
        if (up) {
            out->connected++;
            if (c->pub.connected_at > p->plan->ws ||
                c->sub.connected_at > p->plan->ws)
                out->late++;
        } else {
            out->failed++;
            if (!c->failed)
                fprintf(stderr, "kaigi-bench: client %u: not connected "
                                "(publish %s, subscribe %s)\n", c->index,
                        c->pub.connected_at ? "up"
                        : c->pub.peer ? kg_client_peer_state_name(
                                            kg_client_peer_state(c->pub.peer))
                                      : "down",
                        c->sub.connected_at ? "up"
                        : c->sub.peer ? kg_client_peer_state_name(
                                            kg_client_peer_state(c->sub.peer))
                                      : "down");
        }
        out->sent_packets += c->sent_packets;
        out->sent_bytes += c->sent_bytes;
        out->rx_packets += c->rx.packets;
        out->rx_bytes += c->rx.bytes;
        out->bad_payload += c->rx.bad_payload;
        kb_rx_loss(&c->rx, &out->expected, &out->received);
        for (kb_transport *t = &c->pub; t; t = t == &c->pub ? &c->sub : NULL)
            if (t->peer)
                out->unprotect_fail +=
                    kg_client_peer_get_stats(t->peer)->unprotect_fail;
        if (out->n_join < KB_MAX_CLIENTS)
            out->join_ms[out->n_join++] =
                c->rx.first_media && c->ws_open_at
                    ? (double)(c->rx.first_media - c->ws_open_at) / 1e6
                    : -1;
    }
    kb_hist_merge(&out->lat, p->lat);
}

static void on_end(uv_timer_t *timer)
{
    kb_proc *p = timer->data;
    double cpu = process_cpu_s() - p->cpu_at_ws;
    collect(p, p->out, cpu);
    uv_poll_stop(&p->media_poll);
    /* close_notify tells kaigi the transports are gone; the WebSockets
     * close when the bench process exits. */
    for (unsigned i = 0; i < p->n; i++) {
        transport_close(&p->clients[i].pub);
        transport_close(&p->clients[i].sub);
    }
    uv_stop(&p->loop);
}

static uint64_t ms_until(kg_time t)
{
    kg_time now = uv_hrtime();
    return t > now ? (t - now) / KG_MS : 0;
}

int kb_clients_run(const kb_client_plan *plan, kb_result *out)
{
    /* kb_time and uv_hrtime are both CLOCK_MONOTONIC: the plan's times
     * (made by the parent) and the payload's send times agree. */
    kb_proc *p = calloc(1, sizeof(*p));
    kb_hist *lat = calloc(1, sizeof(*lat));
    if (!p || !lat || plan->count == 0) {
        free(p);
        free(lat);
        return KG_ERR_NOMEM;
    }
    p->plan = plan;
    p->lat = lat;
    p->n = plan->count;
    p->clients = calloc(plan->count, sizeof(kb_client));
    p->cert = kg_dtls_cert_new();
    p->dtls = p->cert ? kg_dtls_ctx_new(p->cert, KG_DTLS_CLIENT, 0) : NULL;
    if (!p->clients || !p->dtls || uv_loop_init(&p->loop) != 0) {
        kg_dtls_ctx_del(p->dtls);
        kg_dtls_cert_del(p->cert);
        free(p->clients);
        free(p);
        free(lat);
        return KG_ERR_NOMEM;
    }
    for (unsigned i = 0; i < p->n; i++) {
        kb_client *c = &p->clients[i];
        c->proc = p;
        c->index = plan->first + i;
        c->room = c->index / plan->participants;
        uint32_t base = kg_random_u32() & ~1u;
        kb_source_init(&c->src, c->index, base | 0, base | 1, plan->video_kbps,
                       plan->start, plan->sync_keys);
        kb_rx_init(&c->rx, plan->ws, plan->we, lat);
    }
    uv_timer_init(&p->loop, &p->start_timer);
    p->media_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->media_fd < 0 || uv_poll_init(&p->loop, &p->media_poll, p->media_fd))
        return KG_ERR_IO;
    uv_timer_init(&p->loop, &p->window_timer);
    uv_timer_init(&p->loop, &p->end_timer);
    p->start_timer.data = p;
    p->media_poll.data = p;
    p->window_timer.data = p;
    p->end_timer.data = p;
    uv_timer_start(&p->start_timer, on_start, ms_until(plan->start), 0);
    uv_timer_start(&p->window_timer, on_window, ms_until(plan->ws), 0);
    uv_timer_start(&p->end_timer, on_end, ms_until(plan->we + KB_DRAIN), 0);
    memset(out, 0, sizeof(*out));
    p->out = out;
    uv_run(&p->loop, UV_RUN_DEFAULT);
    /* The loop, the lws contexts and the clients are left to the process's
     * exit, which follows: tearing down hundreds of lws contexts cleanly
     * would cost more code than it proves. */
    return 0;
}
