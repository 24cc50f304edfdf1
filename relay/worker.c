#include "relay/worker.h"

#include <errno.h>
#include <inttypes.h>
#include <fcntl.h>
#include <malloc.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/bytes.h"
#include "codec/err.h"
#include "codec/mixer.h"
#include "codec/rtcp.h"
#include "codec/rtp.h"
#include "crypto/random.h"
#include "crypto/srtp.h"
#include "relay/map.h"
#include "relay/nack.h"
#include "relay/peer.h"
#include "relay/room.h"
#include "relay/rtcp_report.h"
#include "relay/speaker.h"
#include "relay/stun.h"

#define TICK_MS 20
/* libuv's recvmmsg splits the receive buffer into 64 KiB slots: this many
 * datagrams per system call, a bounded batch per wakeup. */
#define RX_BATCH 16
#define RX_SLOT 65536
#define RX_BUF (RX_BATCH * RX_SLOT)
/* Outgoing datagrams are queued and leave in one sendmmsg per batch. */
#define TX_BATCH 64
/* Room for the largest RTP packet kaigi forwards plus the SRTP trailer. */
#define TX_BUF 1600
#define MAX_FANOUT 256
#define KEYFRAME_MIN_INTERVAL (500 * KG_MS)
#define SERVER_RTCP_SSRC 1u
/* Sequence numbers per NACK kaigi sends or answers at once. */
#define NACK_BATCH 64
/* Resends per receiver per second: a NACK of 64 items can name 1,088
 * packets, and a receiver must not make kaigi protect and send without
 * bound. 1,000 covers a 10 % loss of a 10 Mbit/s video stream. */
#define RTX_PER_SEC 1000
/* Per-participant snapshots are made this often; bitrates come from a
 * ring of the last RATE_RING byte counts, one per snapshot. */
#define SNAPSHOT_INTERVAL KG_SEC
#define RATE_RING 11
/* SRs gathered before they are written out as compound packets, and the
 * size a compound RTCP packet keeps under (with its SRTCP trailer) so
 * that it never needs IP fragmentation. */
#define RTCP_SENDERS 32
#define RTCP_MTU 1200

typedef struct wpart wpart;

/* Messages between a worker process and its parent, over a SOCK_SEQPACKET
 * socketpair (each send is one message). Commands go down as bare
 * kg_worker_cmd; everything coming up starts with this header. Both ends
 * are the same binary (fork, no exec), so structs travel as they are. */
enum { WMSG_STARTED = 1, WMSG_EVENT, WMSG_STATS, WMSG_PARTS };
typedef struct wmsg_hdr {
    uint32_t type;
    uint32_t offset, count, total; /* PARTS: records offset..+count of total */
} wmsg_hdr;
typedef struct wmsg_started {
    int rc; /* 0, or why the child could not start (UDP bind...) */
    struct sockaddr_storage addr;
} wmsg_started;
#define PARTS_PER_MSG 16
#define WMSG_MAX (sizeof(wmsg_hdr) + PARTS_PER_MSG * sizeof(kg_part_stats))

typedef struct wtransport {
    kg_peer peer;
    wpart *part;
    enum kg_role role;
    bool has_addr;
    struct sockaddr_storage addr;
    bool connected_reported;
    kg_time next_rtcp; /* its next SR/RR compound, 0: not scheduled */
} wtransport;

struct wpart {
    uint64_t id;
    kg_room *room;
    wtransport *t[2]; /* by enum kg_role */
    bool muted;       /* by the host: its audio is not forwarded */
    kg_part_counters c;
    /* byte counts at the last snapshots, for bitrates */
    kg_time ring_t[RATE_RING];
    uint64_t ring_in[RATE_RING], ring_out[RATE_RING];
    unsigned ring_n, ring_head;
    wpart *next;
    kg_rtt rtt; /* of its subscribe leg, from its RRs */
    bool mixed; /* hears the room's mix: no audio routes toward it */
    kg_time rtx_since; /* the resend budget's current second */
    unsigned rtx_count;
};

typedef struct wroom {
    kg_room room;
    size_t members;
    kg_part_counters gone; /* of members who have left */
    struct wroom *next;
    kg_speaker speaker; /* dominant speaker, loudest N */
    kg_mixer *mixer;        /* while it has mixed listeners, else NULL */
    kg_mixer_stats mix_seen; /* its stats already added to the worker's */
} wroom;

struct kg_worker {
    kg_worker_config cfg;
    uv_loop_t loop;
    uv_udp_t udp;
    uv_async_t cmd_async;  /* on the worker loop */
    uv_async_t ev_async;   /* on the signalling loop */
    uv_timer_t tick;
    uv_thread_t thread;
    kg_dtls_ctx *dtls_ctx;
    bool stopping;

    pthread_mutex_t lock; /* guards cmds, events, the snapshots */
    kg_worker_cmd *cmds, *cmds_tail;
    kg_worker_event *events, *events_tail;
    kg_worker_stats snapshot;
    kg_part_stats *part_snap; /* made on the worker, swapped in */
    size_t n_part_snap;

    /* worker-thread state */
    kg_worker_stats st;
    kg_time last_part_snap;
    size_t dtls_held; /* transports still holding DTLS, at the last snapshot */
    uint64_t trimmed_at_connected; /* st.transports_connected then */
    size_t n_parts;
    wpart *parts;
    wroom *rooms;
    kg_map by_addr;  /* address key → wtransport */
    kg_map by_ufrag; /* local ufrag → wtransport */
    uint8_t rx[RX_BUF];
    uint8_t tx[TX_BUF]; /* scratch for control packets */
    /* the send batch */
    unsigned tx_n;
    struct mmsghdr tx_msg[TX_BATCH];
    struct iovec tx_iov[TX_BATCH];
    struct sockaddr_storage tx_addr[TX_BATCH];
    uint8_t tx_data[TX_BATCH][TX_BUF];
    uv_check_t flush_check;
    kg_fwd fwd[MAX_FANOUT];
    kg_rtcp_sender rtcp_senders[RTCP_SENDERS]; /* SRs being gathered */
    kg_rtcp_report_block rtcp_blocks[KG_RTCP_MAX_BLOCKS];
    kg_rtcp_sr rtcp_sr; /* parse results of incoming reports */
    kg_rtcp_rr rtcp_rr;

    /* Process mode (cfg.process): the same worker runs in a child
     * process and talks to the signalling thread over a socketpair. */
    bool proc;
    int fd;        /* this side's end of the socketpair, -1 in thread mode */
    pid_t pid;     /* parent side: the child's */
    uv_poll_t poll; /* parent: on the signalling loop; child: on its own */
    struct sockaddr_storage local; /* parent side: the child's UDP address */
    kg_part_stats *rx_parts; /* parent side: a snapshot being received */
    uint8_t *msg;  /* parent side: one message */
    /* audio mixing */
    uv_timer_t mix_timer; /* runs while some room has a mixer */
    unsigned n_mixers;
    kg_mix_out mix_out[KG_MIXER_MAX_LISTENERS];
};

static kg_time worker_now(void)
{
    return (kg_time)uv_hrtime();
}

/* --- events back to the signalling thread --------------------------- */

static void child_send(kg_worker *w, uint32_t type, uint32_t offset,
                       uint32_t count, uint32_t total, const void *body,
                       size_t len);

static void emit(kg_worker *w, const kg_worker_event *ev)
{
    if (w->proc) {
        child_send(w, WMSG_EVENT, 0, 1, 1, ev, sizeof(*ev));
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
 * (full buffer) is counted and dropped, as UDP would. */
static void tx_flush(kg_worker *w)
{
    unsigned done = 0;
    int fd = -1;
    if (w->tx_n == 0 || uv_fileno((uv_handle_t *)&w->udp, &fd) != 0)
        goto out;
    while (done < w->tx_n) {
        int n = sendmmsg(fd, w->tx_msg + done, w->tx_n - done, 0);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            /* skip the datagram that failed, keep the rest */
            w->st.tx_errors++;
            done++;
            continue;
        }
        for (int i = 0; i < n; i++) {
            w->st.tx_datagrams++;
            w->st.tx_bytes += w->tx_msg[done + i].msg_len;
        }
        done += (unsigned)n;
    }
out:
    w->tx_n = 0;
}

/* The next free slot of the send batch, flushing first if it is full. */
static uint8_t *tx_slot(kg_worker *w)
{
    if (w->tx_n == TX_BATCH)
        tx_flush(w);
    return w->tx_data[w->tx_n];
}

/* Queues the slot from tx_slot() with len bytes for to. */
static void tx_commit(kg_worker *w, const struct sockaddr_storage *to,
                      size_t len)
{
    unsigned i = w->tx_n++;
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

static void send_to(kg_worker *w, const struct sockaddr_storage *to,
                    const uint8_t *buf, size_t len)
{
    if (len > TX_BUF)
        return;
    memcpy(tx_slot(w), buf, len);
    tx_commit(w, to, len);
}

/* Sends whatever DTLS has queued for t. */
static void flush_dtls(kg_worker *w, wtransport *t)
{
    for (;;) {
        ssize_t n = kg_peer_pull(&t->peer, w->tx, sizeof(w->tx));
        if (n <= 0)
            break;
        if (t->has_addr)
            send_to(w, &t->addr, w->tx, (size_t)n);
    }
}

/* --- lookups ------------------------------------------------------- */

static wpart *find_part(kg_worker *w, uint64_t id)
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
    if (t->has_addr) {
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
    if (reason == KG_ERR_TIMEOUT)
        w->st.consent_timeouts++;
    else
        w->st.dtls_fail++;
    transport_del(w, t);
    emit(w, &ev);
}

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
        send_to(w, &t->addr, w->tx, len);
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
        send_to(w, &t->addr, w->tx, len);
}

/* One packet of a simulcast layer: each connected receiver of the track
 * gets it if it is on (or switching to) that layer, renumbered into its
 * own stream. */
static void forward_simulcast(kg_worker *w, kg_track *tr,
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
        uint8_t *out = tx_slot(w);
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
        tx_commit(w, &st->addr, out_len);
    }
    sc_send_plis(w, tr, now);
    if (tr->sc->last_remb == 0 ||
        now - tr->sc->last_remb >= KG_SC_PUBLISH_REMB_EVERY)
        sc_publisher_remb(w, tr, now);
}

/* REMB from a receiver: its estimate, shared evenly by the video tracks
 * it names, picks the layer of each simulcast one. */
static void sc_on_remb(kg_worker *w, wtransport *t, const kg_rtcp_fb *fb,
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
static kg_track *sc_rid_track(const wtransport *t, const uint8_t *pkt,
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
static void request_keyframe(kg_worker *w, kg_track *tr, kg_time now,
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
    send_to(w, &t->addr, w->tx, len);
}

/* A receiver just became able to decode: ask for keyframes of every video
 * track it receives. */
static void keyframes_for_subscriber(kg_worker *w, wpart *sub, kg_time now)
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
                request_keyframe(w, tr, now, true);
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
    send_to(w, &t->addr, w->tx, len);
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
    kg_time now = worker_now();
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

static void rtcp_report_tick(kg_worker *w, kg_time now)
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
    tx_flush(w);
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
static void rtcp_report_in(kg_worker *w, wtransport *t, const kg_rtcp_pkt *p,
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
/* Audio mixing hooks, defined at the end of this file. */
static void mix_push(kg_worker *w, wpart *pub, const kg_track *tr,
                     const kg_rtp_hdr *h);
static void mix_track(kg_worker *w, wpart *p, uint32_t ssrc, int kind);
static void mix_join(kg_worker *w, const kg_worker_cmd *c);
static void mix_leave(kg_worker *w, wpart *p);
static void mix_init(kg_worker *w);
static void mix_close(kg_worker *w);

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
    send_to(w, &t->addr, w->tx, out_len);
}

/* Before a publisher's video packet is routed: notes it for NACKs and
 * caches it. Returns true for a packet to drop, a second copy of one
 * already forwarded (kaigi asked twice and both answers came). */
static bool nack_on_rtp(kg_worker *w, kg_track *tr, const uint8_t *pkt,
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
        request_keyframe(w, tr, now, false); /* too many lost to NACK */
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
    uint8_t *out = tx_slot(w);
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
    tx_commit(w, &st->addr, len);
}

/* A receiver's generic NACK (RFC 4585 6.2.1) on its subscribe transport:
 * each lost packet is resent from the cache of the track it names. */
static void nack_answer(kg_worker *w, wtransport *t, const kg_rtcp_pkt *p,
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
static void nack_tick(kg_worker *w, kg_time now)
{
    for (wroom *r = w->rooms; r; r = r->next) {
        for (size_t i = 0; i < r->room.n_tracks; i++) {
            kg_track *tr = r->room.tracks[i];
            if (tr->nack && kg_nack_gen_deadline(tr->nack) <= now)
                nack_upstream(w, tr, now);
        }
    }
}

/* --- media path ----------------------------------------------------- */

static bool speaker_admits(kg_worker *w, wpart *p, kg_track *tr,
                           const kg_rtp_hdr *h, kg_time now);

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
    /* Still received while muted: counted, or the RR to the publisher
     * would report the muted stretch as lost once it unmutes. */
    if (tr->kind == KG_TRACK_AUDIO && t->part->muted)
        kg_rx_stats_update(&tr->rx, h.seq, h.ts, now,
                           kg_track_clock_rate(tr->kind));
    if (tr->kind == KG_TRACK_AUDIO && t->part->muted)
        return; /* muted by the host: kaigi stops forwarding it */
    if (tr->kind == KG_TRACK_AUDIO && !speaker_admits(w, t->part, tr, &h, now))
        return; /* not among the room's loudest N */
    if (tr->sc) {
        forward_simulcast(w, tr, &h, pkt, len, now);
        return;
    }
    if (tr->nack && nack_on_rtp(w, tr, pkt, len, &h, now))
        return;
    if (tr->kind == KG_TRACK_AUDIO)
        mix_push(w, t->part, tr, &h);
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
        uint8_t *out = tx_slot(w);
        memcpy(out, pkt, len);
        kg_rtp_rewrite(out, w->fwd[i].pt, w->fwd[i].seq, w->fwd[i].ts,
                       w->fwd[i].ssrc);
        size_t out_len = len;
        if (kg_peer_protect(&st->peer, out, &out_len, TX_BUF, false) != 0)
            continue;
        w->st.rtp_forwarded++;
        sub->c.packets_out++;
        sub->c.bytes_out += out_len;
        tx_commit(w, &st->addr, out_len);
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
        rtcp_report_in(w, t, &p, now);
        if (t->role != KG_ROLE_SUBSCRIBE)
            continue;
        if (p.pt == KG_RTCP_RTPFB && p.count == KG_RTCP_FMT_NACK) {
            t->part->c.nacks_in++;
            nack_answer(w, t, &p, now);
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
            sc_on_remb(w, t, &fb, now);
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
            request_keyframe(w, tr, now, false);
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
        tr = sc_rid_track(t, pkt, len, &learn);
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
        emit(w, &ev);
        if (t->role == KG_ROLE_SUBSCRIBE)
            keyframes_for_subscriber(w, t->part, now);
    }
}

static void handle_stun(kg_worker *w, wtransport *t, const uint8_t *pkt,
                        size_t len, const struct sockaddr *from, kg_time now)
{
    kg_stun_msg msg;
    if (kg_stun_parse(pkt, len, &msg) != 0) {
        w->st.malformed++;
        return;
    }
    if (!t) {
        /* Unknown address: only a Binding request whose USERNAME names
         * one of our transports may go further; nothing is allocated
         * before its MESSAGE-INTEGRITY checks out. */
        char ufrag[KG_ICE_UFRAG_LEN + 1];
        if (msg.type != KG_STUN_BINDING_REQUEST ||
            kg_ice_username_local(&msg, ufrag, sizeof(ufrag)) != 0 ||
            !(t = kg_map_get(&w->by_ufrag, ufrag, strlen(ufrag)))) {
            w->st.unknown_source++;
            return;
        }
    }
    bool selected = false;
    ssize_t n = kg_peer_on_stun(&t->peer, pkt, len, &msg, from, now, w->tx,
                                sizeof(w->tx), &selected);
    if (n < 0) {
        w->st.stun_bad++;
        return;
    }
    w->st.stun_ok++;
    if (selected)
        transport_set_addr(w, t, from);
    if (n > 0) {
        struct sockaddr_storage to;
        memset(&to, 0, sizeof(to));
        memcpy(&to, from,
               from->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                           : sizeof(struct sockaddr_in));
        send_to(w, &to, w->tx, (size_t)n);
    }
}

static void on_datagram(kg_worker *w, uint8_t *pkt, size_t len,
                        const struct sockaddr *from)
{
    kg_time now = worker_now();
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
    if (b0 >= 20 && b0 <= 63)
        handle_dtls(w, t, pkt, len, now);
    else if (b0 >= 128 && b0 <= 191)
        handle_srtp(w, t, pkt, len, now);
    else {
        w->st.malformed++;
        t->part->c.malformed++;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    kg_worker *w = h->data;
    /* One receive buffer per worker: libuv fills up to RX_BATCH slots of
     * it with one recvmmsg and hands each datagram to on_recv before it
     * asks for the buffer again. */
    *buf = uv_buf_init((char *)w->rx, sizeof(w->rx));
}

static void on_recv(uv_udp_t *u, ssize_t nread, const uv_buf_t *buf,
                    const struct sockaddr *from, unsigned flags)
{
    kg_worker *w = u->data;
    if (nread <= 0 || !from) {
        /* end of a receive batch (or nothing to read): send what it
         * produced in one sendmmsg */
        tx_flush(w);
        return;
    }
    if (flags & UV_UDP_PARTIAL) {
        w->st.malformed++;
        return;
    }
    on_datagram(w, (uint8_t *)buf->base, (size_t)nread, from);
}

/* --- active speaker (relay/speaker.h) ------------------------------ */

/* Every wroom embeds its kg_room: the worker's members point at the
 * latter. */
static wroom *wroom_of(kg_room *room)
{
    return (wroom *)(void *)((char *)room - offsetof(wroom, room));
}

static void speaker_room_init(kg_worker *w, wroom *r)
{
    kg_speaker_config sc;
    kg_speaker_config_default(&sc);
    sc.loudest = w->cfg.loudest;
    if (kg_speaker_init(&r->speaker, &sc) != 0)
        kg_speaker_init(&r->speaker, NULL);
}

/* An audio track with an audio-level extension makes its publisher a
 * candidate speaker. Without one its loudness is unknown: it is never
 * the speaker, and always forwarded. */
static void speaker_track(wpart *p, const kg_worker_cmd *c)
{
    if (c->kind != KG_TRACK_AUDIO || c->audio_level_id == 0)
        return;
    kg_track *tr = kg_room_find_track(p->room, p, c->ssrc);
    if (!tr)
        return;
    tr->audio_level_id = c->audio_level_id;
    int rc = kg_speaker_add(&wroom_of(p->room)->speaker, p->id);
    if (rc != 0 && rc != KG_ERR_EXISTS)
        tr->audio_level_id = 0; /* full: forwarded like a track without */
}

/* One decrypted audio packet of p: feeds its level to the room's
 * detector, tells signalling when the dominant speaker changes, and says
 * whether the packet may be forwarded (a suppressed one is accounted for
 * with kg_room_skip). A packet without the element, or with a malformed
 * extension block, counts as silence. No allocation except for the
 * (rare) change event. */
static bool speaker_admits(kg_worker *w, wpart *p, kg_track *tr,
                           const kg_rtp_hdr *h, kg_time now)
{
    if (tr->audio_level_id == 0)
        return true;
    wroom *r = wroom_of(p->room);
    uint8_t level = KG_SPEAKER_SILENT_LEVEL;
    bool voice = false;
    if (!h->extension ||
        kg_rtp_audio_level(h, tr->audio_level_id, &level, &voice) != 0) {
        level = KG_SPEAKER_SILENT_LEVEL;
        voice = false;
    }
    int rc = kg_speaker_feed(&r->speaker, p->id, level, voice, now);
    uint64_t id;
    if (kg_speaker_take_change(&r->speaker, &id)) {
        kg_worker_event ev = {.type = KG_WEV_SPEAKER,
                              .participant = id,
                              .room = r->room.id};
        emit(w, &ev);
    }
    if (rc == 0) {
        w->st.audio_suppressed++;
        kg_room_skip(tr, h, now); /* no false loss, no gap downstream */
        return false;
    }
    return true;
}

/* --- commands ------------------------------------------------------- */

static void cmd_join(kg_worker *w, const kg_worker_cmd *c)
{
    if (find_part(w, c->participant))
        return;
    wroom *r = find_room(w, c->room);
    if (!r) {
        r = calloc(1, sizeof(*r));
        if (!r)
            return;
        kg_room_init(&r->room, c->room);
        speaker_room_init(w, r);
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
    wpart *p = find_part(w, c->participant);
    if (!p || p->t[c->role])
        return;
    const char *uf = c->local.ufrag;
    if (kg_map_get(&w->by_ufrag, uf, strlen(uf)))
        return; /* signalling made a duplicate ufrag: refuse, never alias */
    wtransport *t = calloc(1, sizeof(*t));
    if (!t)
        return;
    if (kg_peer_init(&t->peer, w->dtls_ctx, &c->local, c->remote_ufrag,
                     c->remote_fp, worker_now()) != 0) {
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
static void cmd_max_layer(kg_worker *w, const kg_worker_cmd *c)
{
    wpart *pub = find_part(w, c->participant);
    wpart *sub = find_part(w, c->sub);
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
        kg_sc_receiver_update(tr->sc, &tr->routes[i].sc, worker_now());
    }
}

static void cmd_route(kg_worker *w, const kg_worker_cmd *c)
{
    wpart *pub = find_part(w, c->participant);
    wpart *sub = find_part(w, c->sub);
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
        request_keyframe(w, tr, worker_now(), true);
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
        kg_speaker_remove(&wroom_of(p->room)->speaker, p->id);
        mix_leave(w, p);
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

static void run_cmd(kg_worker *w, const kg_worker_cmd *c)
{
    switch (c->type) {
    case KG_CMD_JOIN:
        cmd_join(w, c);
        break;
    case KG_CMD_TRANSPORT:
        cmd_transport(w, c);
        break;
    case KG_CMD_TRACK: {
        wpart *p = find_part(w, c->participant);
        if (p && p->room &&
            kg_room_add_track(p->room, p, c->ssrc,
                              (enum kg_track_kind)c->kind) == 0) {
            speaker_track(p, c);
            mix_track(w, p, c->ssrc, c->kind);
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
        wpart *p = find_part(w, c->participant);
        if (p)
            p->muted = c->mute;
        break;
    }
    case KG_CMD_MAX_LAYER:
        cmd_max_layer(w, c);
        break;
    case KG_CMD_MIX:
        mix_join(w, c);
        break;
    }
}

static void close_cb(uv_handle_t *h)
{
    (void)h;
}

static void worker_shutdown(kg_worker *w)
{
    while (w->parts) {
        kg_worker_cmd c = {.type = KG_CMD_LEAVE, .participant = w->parts->id};
        cmd_leave(w, &c);
    }
    tx_flush(w);
    uv_close((uv_handle_t *)&w->udp, close_cb);
    uv_close((uv_handle_t *)&w->tick, close_cb);
    uv_close((uv_handle_t *)&w->flush_check, close_cb);
    uv_close((uv_handle_t *)&w->cmd_async, close_cb);
    mix_close(w);
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
        run_cmd(w, c);
        /* Commands carry ICE passwords: wipe before freeing. */
        memset(c, 0, sizeof(*c));
        free(c);
        c = next;
    }
    if (stopping)
        worker_shutdown(w);
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
    size_t off = 0;
    do {
        size_t cnt = i - off < PARTS_PER_MSG ? i - off : PARTS_PER_MSG;
        child_send(w, WMSG_PARTS, (uint32_t)off, (uint32_t)cnt, (uint32_t)i,
                   a ? a + off : NULL, cnt * sizeof(*a));
        off += cnt;
    } while (off < i);
}

static void on_tick(uv_timer_t *timer)
{
    kg_worker *w = timer->data;
    kg_time now = worker_now();
    for (wpart *p = w->parts; p; p = p->next) {
        for (int role = 0; role < 2; role++) {
            if (p->t[role])
                check_transport(w, p->t[role], now);
        }
    }
    nack_tick(w, now);
    struct timespec cpu;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0)
        w->st.cpu_ns = (uint64_t)cpu.tv_sec * KG_SEC + (uint64_t)cpu.tv_nsec;
    rtcp_report_tick(w, now);
    bool snap = now - w->last_part_snap >= SNAPSHOT_INTERVAL;
    pthread_mutex_lock(&w->lock);
    w->snapshot = w->st;
    pthread_mutex_unlock(&w->lock);
    /* A worker process sends its counters up once a second, with the
     * per-participant snapshot, not every tick: 50 wake-ups a second of
     * two processes per worker were most of an idle worker's cost. */
    if (w->proc && snap)
        child_send(w, WMSG_STATS, 0, 1, 1, &w->st, sizeof(w->st));
    if (snap) {
        w->last_part_snap = now;
        part_snapshot(w, now);
    }
}

static void worker_main(void *arg)
{
    kg_worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

static void on_flush_check(uv_check_t *c)
{
    tx_flush(c->data);
}

static int worker_init_loop(kg_worker *w)
{
    int rc = uv_loop_init(&w->loop);
    if (rc < 0)
        return rc;
    rc = uv_udp_init_ex(&w->loop, &w->udp,
                        (unsigned)w->cfg.udp_addr->sa_family |
                            UV_UDP_RECVMMSG);
    if (rc < 0) {
        uv_loop_close(&w->loop);
        return rc;
    }
    w->udp.data = w;
    rc = uv_udp_bind(&w->udp, w->cfg.udp_addr, 0);
    if (rc < 0) {
        uv_close((uv_handle_t *)&w->udp, NULL);
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        return rc;
    }
    int size = 4 << 20;
    uv_send_buffer_size((uv_handle_t *)&w->udp, &size);
    size = 4 << 20;
    uv_recv_buffer_size((uv_handle_t *)&w->udp, &size);
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
    mix_init(w);
    uv_udp_recv_start(&w->udp, on_alloc, on_recv);
    return 0;
}

/* The worker's own state: address maps, DTLS context, loop, UDP socket.
 * Returns 0 or a negative libuv/KG error, with nothing left allocated. */
static int worker_setup(kg_worker *w)
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

static void worker_teardown(kg_worker *w)
{
    int rc = uv_loop_close(&w->loop);
    if (rc != 0)
        fprintf(stderr, "kaigi: worker loop closed with handles open\n");
    kg_dtls_ctx_del(w->dtls_ctx);
    kg_map_free(&w->by_addr);
    kg_map_free(&w->by_ufrag);
}

/* --- worker processes --------------------------------------------------
 *
 * Debian's libsrtp2 is built on NSS, whose AES-GCM takes process-wide
 * locks on every packet: worker threads serialise on them, worker
 * processes do not (bench/RESULTS.md). So by default each worker is a
 * child process running exactly the loop a worker thread runs. It is
 * forked (not exec'd) from the signalling process before that one serves
 * anything, keeps only its socketpair end and stdio, and dies with its
 * parent. NSS is first initialised in the child (libsrtp2 initialises it
 * at the first SRTP session), as NSS requires. Keys are made and stay in
 * the child. */

static void child_send(kg_worker *w, uint32_t type, uint32_t offset,
                       uint32_t count, uint32_t total, const void *body,
                       size_t len)
{
    wmsg_hdr h = {.type = type, .offset = offset, .count = count,
                  .total = total};
    struct iovec iov[2] = {{&h, sizeof(h)}, {(void *)body, len}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = body ? 2 : 1};
    /* Blocking: the parent drains its end all the time; losing an event
     * would leave signalling wrong about a transport. */
    while (sendmsg(w->fd, &m, MSG_NOSIGNAL) < 0 && errno == EINTR)
        ;
}

/* Child: commands from the parent. End of file means stop. */
static void on_parent_msg(uv_poll_t *h, int status, int events)
{
    kg_worker *w = h->data;
    (void)events;
    /* A bounded batch per wakeup; poll calls again for the rest. */
    for (int i = 0; status == 0; i++) {
        if (i == 64)
            return;
        kg_worker_cmd c;
        ssize_t n = recv(w->fd, &c, sizeof(c), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        if (n == (ssize_t)sizeof(c)) {
            c.next = NULL;
            run_cmd(w, &c);
            /* Commands carry ICE passwords: wipe the copy. */
            memset(&c, 0, sizeof(c));
            continue;
        }
        if (n > 0) {
            fprintf(stderr, "kaigi: worker %u: bad command size %zd\n",
                    w->cfg.index, n);
            continue;
        }
        break; /* 0: the parent closed its end, or an error */
    }
    uv_close((uv_handle_t *)&w->poll, close_cb);
    worker_shutdown(w);
}

static void child_main(kg_worker *w, int fd, pid_t parent)
{
    /* Die with the parent; if it is already gone, do not start. */
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
        _exit(1);
    /* Nothing of the parent's (its listening socket, the store) stays
     * open here: the socketpair end becomes fd 3, the rest is closed. */
    if (fd != 3) {
        if (dup2(fd, 3) < 0)
            _exit(1);
    }
    close_range(4, ~0u, 0);
    w->fd = 3;
    w->proc = true;
    signal(SIGINT, SIG_IGN); /* the parent stops its workers */
    signal(SIGPIPE, SIG_IGN);
    wmsg_started st = {.rc = worker_setup(w)};
    if (st.rc == 0) {
        int len = sizeof(st.addr);
        uv_udp_getsockname(&w->udp, (struct sockaddr *)&st.addr, &len);
    }
    child_send(w, WMSG_STARTED, 0, 1, 1, &st, sizeof(st));
    if (st.rc != 0)
        _exit(1);
    uv_poll_init(&w->loop, &w->poll, w->fd);
    w->poll.data = w;
    uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, on_parent_msg);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    worker_teardown(w);
    /* _exit: no atexit handlers or stdio buffers of the parent's. */
    _exit(0);
}

/* Parent: one message from the child. */
static void parent_msg(kg_worker *w, const uint8_t *m, size_t n)
{
    wmsg_hdr h;
    if (n < sizeof(h))
        return;
    memcpy(&h, m, sizeof(h));
    const uint8_t *body = m + sizeof(h);
    size_t len = n - sizeof(h);
    if (h.type == WMSG_EVENT && len == sizeof(kg_worker_event)) {
        kg_worker_event ev;
        memcpy(&ev, body, sizeof(ev));
        ev.next = NULL;
        if (w->cfg.on_event)
            w->cfg.on_event(w->cfg.user, &ev);
    } else if (h.type == WMSG_STATS && len == sizeof(kg_worker_stats)) {
        pthread_mutex_lock(&w->lock);
        memcpy(&w->snapshot, body, sizeof(w->snapshot));
        pthread_mutex_unlock(&w->lock);
    } else if (h.type == WMSG_PARTS &&
               len == h.count * sizeof(kg_part_stats) &&
               h.count <= PARTS_PER_MSG && h.offset <= h.total &&
               h.count <= h.total - h.offset) {
        if (h.offset == 0) {
            free(w->rx_parts);
            w->rx_parts = h.total ? malloc(h.total * sizeof(kg_part_stats))
                                  : NULL;
        }
        if (h.total && !w->rx_parts)
            return; /* out of memory: the older snapshot stays */
        if (h.count)
            memcpy(w->rx_parts + h.offset, body, len);
        if (h.offset + h.count == h.total) {
            pthread_mutex_lock(&w->lock);
            kg_part_stats *old = w->part_snap;
            w->part_snap = w->rx_parts;
            w->n_part_snap = h.total;
            pthread_mutex_unlock(&w->lock);
            free(old);
            w->rx_parts = NULL;
        }
    }
}

static void on_child_msg(uv_poll_t *p, int status, int events)
{
    kg_worker *w = p->data;
    (void)events;
    for (int i = 0; status == 0; i++) {
        if (i == 256)
            return; /* a bounded batch per wakeup */
        ssize_t n = recv(w->fd, w->msg, WMSG_MAX, MSG_DONTWAIT);
        if (n > 0) {
            parent_msg(w, w->msg, (size_t)n);
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        break;
    }
    if (w->stopping)
        return;
    /* A worker that died took its rooms' transports and keys with it;
     * signalling cannot repair that. Stop, loudly, for the supervisor
     * to restart kaigi. */
    fprintf(stderr, "kaigi: media worker %u (pid %d) exited; stopping\n",
            w->cfg.index, (int)w->pid);
    exit(EXIT_FAILURE);
}

/* Waits up to 10 s for the child's first message. */
static int wait_started(kg_worker *w)
{
    struct pollfd pfd = {.fd = w->fd, .events = POLLIN};
    int r;
    while ((r = poll(&pfd, 1, 10000)) < 0 && errno == EINTR)
        ;
    if (r <= 0)
        return KG_ERR_TIMEOUT;
    uint8_t m[sizeof(wmsg_hdr) + sizeof(wmsg_started)];
    ssize_t n = recv(w->fd, m, sizeof(m), 0);
    wmsg_hdr h;
    wmsg_started st;
    if (n != (ssize_t)sizeof(m))
        return KG_ERR_IO;
    memcpy(&h, m, sizeof(h));
    memcpy(&st, m + sizeof(h), sizeof(st));
    if (h.type != WMSG_STARTED)
        return KG_ERR_IO;
    w->local = st.addr;
    return st.rc;
}

static int start_process(kg_worker *w)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
        return KG_ERR_IO;
    int size = 1 << 20;
    setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
    w->msg = malloc(WMSG_MAX);
    if (!w->msg) {
        close(sv[0]);
        close(sv[1]);
        return KG_ERR_NOMEM;
    }
    pid_t parent = getpid();
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        close(sv[0]);
        close(sv[1]);
        free(w->msg);
        return KG_ERR_IO;
    }
    if (pid == 0) {
        close(sv[0]);
        child_main(w, sv[1], parent); /* does not return */
    }
    close(sv[1]);
    w->fd = sv[0];
    w->pid = pid;
    int rc = wait_started(w);
    if (rc != 0) {
        close(w->fd);
        waitpid(pid, NULL, 0);
        free(w->msg);
        return rc;
    }
    fcntl(w->fd, F_SETFL, fcntl(w->fd, F_GETFL) | O_NONBLOCK);
    uv_poll_init(w->cfg.signal_loop, &w->poll, w->fd);
    w->poll.data = w;
    uv_poll_start(&w->poll, UV_READABLE | UV_DISCONNECT, on_child_msg);
    return 0;
}

static void proc_closed(uv_handle_t *h)
{
    kg_worker *w = h->data;
    close(w->fd);
    free(w->msg);
    free(w->rx_parts);
    free(w->part_snap);
    pthread_mutex_destroy(&w->lock);
    free(w);
}

/* Parent: closing our end tells the child to stop; it leaves every
 * participant (wiping keys) and exits. */
static void stop_process(kg_worker *w)
{
    w->stopping = true;
    uv_poll_stop(&w->poll);
    shutdown(w->fd, SHUT_RDWR);
    while (waitpid(w->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    uv_close((uv_handle_t *)&w->poll, proc_closed);
}

/* --- public ----------------------------------------------------------- */

int kg_worker_start(kg_worker **out, const kg_worker_config *cfg)
{
    kg_worker *w = calloc(1, sizeof(*w));
    if (!w)
        return KG_ERR_NOMEM;
    w->cfg = *cfg;
    w->fd = -1;
    pthread_mutex_init(&w->lock, NULL);
    int rc = cfg->process ? start_process(w) : worker_setup(w);
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
        stop_process(w);
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
    worker_teardown(w);
    uv_close((uv_handle_t *)&w->ev_async, ev_closed);
}

int kg_worker_post(kg_worker *w, const kg_worker_cmd *cmd)
{
    if (w->proc) {
        /* Blocking on a full socket is bounded by the child's draining;
         * a dead child is reported by on_child_msg. */
        int fl = fcntl(w->fd, F_GETFL);
        fcntl(w->fd, F_SETFL, fl & ~O_NONBLOCK);
        ssize_t n;
        while ((n = send(w->fd, cmd, sizeof(*cmd), MSG_NOSIGNAL)) < 0 &&
               errno == EINTR)
            ;
        fcntl(w->fd, F_SETFL, fl);
        return n == (ssize_t)sizeof(*cmd) ? 0 : KG_ERR_CLOSED;
    }
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

int kg_worker_local_addr(kg_worker *w, struct sockaddr_storage *out)
{
    if (w->proc) {
        *out = w->local;
        return 0;
    }
    int len = sizeof(*out);
    return uv_udp_getsockname(&w->udp, (struct sockaddr *)out, &len);
}

/* --- audio mixing (codec/mixer.h) -------------------------------------
 * A room gets a kg_mixer when its first participant asks for mixed audio
 * and loses it with its last mixed listener. Every audio packet of the
 * room (after the mute check) feeds the mixer; a timer ticks it and the
 * mixes leave like forwarded packets, protected with each listener's own
 * subscribe SRTP context. */

/* Checked often enough that a 20 ms frame leaves at most this late. */
#define MIX_TIMER_MS 5
/* Frames one room may catch up on in one timer run. */
#define MIX_MAX_CATCHUP 3

static void mix_push(kg_worker *w, wpart *pub, const kg_track *tr,
                     const kg_rtp_hdr *h)
{
    (void)w;
    wroom *r = wroom_of(pub->room);
    if (r->mixer)
        kg_mixer_push(r->mixer, pub, tr->in_ssrc, h->seq, h->ts, h->payload,
                      h->payload_len);
}

static void mix_track(kg_worker *w, wpart *p, uint32_t ssrc, int kind)
{
    wroom *r = wroom_of(p->room);
    if (kind == KG_TRACK_AUDIO && r->mixer &&
        kg_mixer_add_source(r->mixer, p, ssrc) == 0)
        w->st.mix_sources++;
}

/* Adds the stats the mixer gathered since the last call to the
 * worker's. */
static void mix_account(kg_worker *w, wroom *r)
{
    kg_mixer_stats now;
    kg_mixer_get_stats(r->mixer, &now);
    w->st.mix_concealed += now.concealed - r->mix_seen.concealed;
    w->st.mix_late += now.late - r->mix_seen.late;
    r->mix_seen = now;
}

static void mix_send(kg_worker *w, const kg_mix_out *o)
{
    wpart *p = o->owner;
    wtransport *st = p->t[KG_ROLE_SUBSCRIBE];
    if (!st || st->peer.state != KG_PEER_CONNECTED || !st->has_addr)
        return;
    kg_rtp_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = 2;
    h.pt = o->pt;
    h.seq = o->seq;
    h.ts = o->ts;
    h.ssrc = o->ssrc;
    uint8_t *out = tx_slot(w);
    ssize_t n = kg_rtp_write(&h, o->payload, o->len, out,
                             TX_BUF - KG_SRTP_MAX_TRAILER);
    if (n < 0)
        return;
    size_t len = (size_t)n;
    if (kg_peer_protect(&st->peer, out, &len, TX_BUF, false) != 0)
        return;
    w->st.mix_packets++;
    p->c.packets_out++;
    p->c.bytes_out += len;
    tx_commit(w, &st->addr, len);
}

static void on_mix_timer(uv_timer_t *timer)
{
    kg_worker *w = timer->data;
    kg_time now = worker_now();
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    for (wroom *r = w->rooms; r; r = r->next) {
        if (!r->mixer)
            continue;
        bool ticked = false;
        for (int i = 0; i < MIX_MAX_CATCHUP &&
                        kg_mixer_deadline(r->mixer) <= now;
             i++) {
            size_t n = kg_mixer_tick(r->mixer, now, w->mix_out,
                                     KG_ARRAY_LEN(w->mix_out));
            for (size_t k = 0; k < n; k++)
                mix_send(w, &w->mix_out[k]);
            ticked = true;
        }
        if (ticked)
            mix_account(w, r);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    int64_t ns = ((int64_t)c1.tv_sec - c0.tv_sec) * (int64_t)KG_SEC +
                 (c1.tv_nsec - c0.tv_nsec);
    if (ns > 0)
        w->st.mix_cpu_ns += (uint64_t)ns;
}

/* Participant c->participant hears its room's mix from now on. */
static void mix_join(kg_worker *w, const kg_worker_cmd *c)
{
    wpart *p = find_part(w, c->participant);
    if (!p || !p->room || p->mixed)
        return;
    wroom *r = wroom_of(p->room);
    if (!r->mixer) {
        if (!(r->mixer = kg_mixer_new(KG_MIXER_BITRATE)))
            return;
        memset(&r->mix_seen, 0, sizeof(r->mix_seen));
        for (size_t i = 0; i < r->room.n_tracks; i++) {
            kg_track *tr = r->room.tracks[i];
            if (tr->kind == KG_TRACK_AUDIO &&
                kg_mixer_add_source(r->mixer, tr->pub, tr->in_ssrc) == 0)
                w->st.mix_sources++;
        }
        if (w->n_mixers++ == 0)
            uv_timer_start(&w->mix_timer, on_mix_timer, MIX_TIMER_MS,
                           MIX_TIMER_MS);
        w->st.mix_rooms++;
    }
    uint32_t rnd = kg_random_u32();
    if (kg_mixer_add_listener(r->mixer, p, c->out_ssrc, c->out_pt,
                              (uint16_t)rnd, kg_random_u32()) != 0) {
        mix_leave(w, p); /* drops the mixer again if it is empty */
        return;
    }
    p->mixed = true;
    w->st.mix_listeners++;
}

/* p leaves its room: its tracks leave the mix, and the mix goes with its
 * last listener. */
static void mix_leave(kg_worker *w, wpart *p)
{
    wroom *r = wroom_of(p->room);
    if (!r->mixer)
        return;
    size_t sources = kg_mixer_n_sources(r->mixer);
    kg_mixer_remove(r->mixer, p);
    w->st.mix_sources -= sources - kg_mixer_n_sources(r->mixer);
    if (p->mixed) {
        p->mixed = false;
        w->st.mix_listeners--;
    }
    if (kg_mixer_n_listeners(r->mixer) > 0)
        return;
    mix_account(w, r);
    w->st.mix_sources -= kg_mixer_n_sources(r->mixer);
    kg_mixer_del(r->mixer);
    r->mixer = NULL;
    w->st.mix_rooms--;
    if (--w->n_mixers == 0)
        uv_timer_stop(&w->mix_timer);
}

static void mix_init(kg_worker *w)
{
    uv_timer_init(&w->loop, &w->mix_timer);
    w->mix_timer.data = w;
}

static void mix_close(kg_worker *w)
{
    uv_close((uv_handle_t *)&w->mix_timer, close_cb);
}
