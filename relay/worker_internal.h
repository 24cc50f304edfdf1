/* The media worker's internals, shared by relay/worker*.c only: the
 * types of its participants, transports and rooms, the worker itself,
 * and the helpers one part of it calls in another. Nothing outside
 * relay/worker*.c includes this. */
#ifndef KG_WORKER_INTERNAL_H
#define KG_WORKER_INTERNAL_H

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
#include "relay/delay.h"
#include "relay/framing.h"
#include "relay/map.h"
#include "relay/nack.h"
#include "relay/peer.h"
#include "relay/room.h"
#include "relay/rtcp_report.h"
#include "relay/speaker.h"
#include "relay/stun.h"

#define TICK_MS 20
/* Datagrams per recvmmsg, and recvmmsg calls per wakeup: a bounded
 * batch, so one busy socket cannot keep timers and commands waiting. */
#define RX_BATCH 32
#define RX_ROUNDS 4
/* A receive slot: everything kaigi speaks fits (DTLS flights are cut at
 * 1,200 bytes, RTP at the path MTU); a larger datagram is malformed. */
#define RX_SLOT 2048
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
typedef struct wtcp wtcp;

/* ICE-TCP (relay/worker_tcp.c). Unauthenticated connections (no valid
 * STUN check yet) hold only their framer and are capped and timed:
 * TCP_UNAUTH_MAX at once per worker, TCP_AUTH_DEADLINE each. An
 * authenticated one gets a send ring of TCP_TXQ bytes; what does not fit
 * is dropped and counted, the worker never waits for a slow reader. */
#define TCP_UNAUTH_MAX 64
#define TCP_AUTH_DEADLINE (5 * KG_SEC)
#define TCP_TXQ (128 * 1024)
#define TCP_SNDBUF (64 * 1024)
#define TCP_ACCEPT_BATCH 16

struct wtcp {
    kg_worker *w;
    int fd;
    uv_poll_t poll;
    struct wtransport *t; /* after a valid check: its transport */
    struct sockaddr_storage peer;
    kg_time deadline; /* while unauthenticated: closed then */
    bool closing;
    bool want_write; /* the poll watches writability too */
    bool dirty;      /* on the worker's list of rings to flush */
    wtcp *prev, *next;   /* every connection of the worker */
    wtcp *dprev, *dnext; /* the list to flush */
    uint8_t *txq; /* TCP_TXQ-byte ring, allocated on authentication */
    size_t tx_head, tx_len;
    kg_framer rx;
};

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
    struct sockaddr_storage tcp_addr; /* family 0: no TCP listener */
} wmsg_started;
#define PARTS_PER_MSG 16
#define WMSG_MAX (sizeof(wmsg_hdr) + PARTS_PER_MSG * sizeof(kg_part_stats))

typedef struct wtransport wtransport;
struct wtransport {
    kg_peer peer;
    wpart *part;
    enum kg_role role;
    bool has_addr;
    struct sockaddr_storage addr;
    wtcp *tcp; /* media path over this TCP connection, NULL: UDP addr */
    bool connected_reported;
    kg_time next_rtcp; /* its next SR/RR compound, 0: not scheduled */
};

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
    int udp_fd;          /* the media socket, non-blocking */
    uv_poll_t udp_poll;  /* its readability, on the worker loop */
    int tcp_fd;          /* the ICE-TCP listener, -1: none */
    uv_poll_t tcp_poll;
    wtcp *tcp_conns;     /* open connections */
    wtcp *tcp_dirty;     /* connections with queued bytes to send */
    unsigned tcp_unauth; /* connections without a valid check yet */
    struct sockaddr_storage tcp_local; /* parent side: the child's */
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
    /* the receive batch: one buffer set per worker, reused */
    uint8_t rx[RX_BATCH][RX_SLOT];
    struct mmsghdr rx_msg[RX_BATCH];
    struct iovec rx_iov[RX_BATCH];
    struct sockaddr_storage rx_addr[RX_BATCH];
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(struct timespec))];
    } rx_ctl[RX_BATCH];
    /* Kernel receive time (CLOCK_REALTIME, ns) of the SRTP/SRTCP
     * datagram being handled, 0 outside one: what that datagram makes
     * kaigi send is timed from it. */
    int64_t fwd_stamp;
    uint8_t tx[TX_BUF]; /* scratch for control packets */
    /* the send batch */
    unsigned tx_n;
    int64_t tx_stamp[TX_BATCH]; /* fwd_stamp at queueing, 0: untimed */
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
    uint32_t rx_total;       /* its record count */
    uint8_t *msg;  /* parent side: one message */
    /* Messages the socketpair could not take yet, in order (both sides:
     * neither ever blocks on the other). */
    struct wmsg_q *outq, *outq_tail;
    size_t n_outq;
    /* audio mixing */
    uv_timer_t mix_timer; /* runs while some room has a mixer */
    unsigned n_mixers;
    kg_mix_out mix_out[KG_MIXER_MAX_LISTENERS];
};


/* --- shared between the worker's files ---------------------------- */

void wk_close_cb(uv_handle_t *h);
void wk_emit(kg_worker *w, const kg_worker_event *ev);
wpart *wk_find_part(kg_worker *w, uint64_t id);
void wk_run_cmd(kg_worker *w, const kg_worker_cmd *c);
void wk_send_to(kg_worker *w, const struct sockaddr_storage *to,
                const uint8_t *buf, size_t len);
void wk_tx_commit(kg_worker *w, const struct sockaddr_storage *to,
                  size_t len);
void wk_tx_flush(kg_worker *w);
void wk_send_t(kg_worker *w, struct wtransport *t, const uint8_t *buf,
               size_t len);
void wk_on_packet(kg_worker *w, struct wtransport *t, uint8_t *pkt,
                  size_t len, int64_t stamp, kg_time now);
void wk_handle_stun_tcp(kg_worker *w, wtcp *c, const uint8_t *pkt,
                        size_t len, kg_time now);
int wk_tcp_open(kg_worker *w);
void wk_tcp_close_all(kg_worker *w);
void wk_tcp_tick(kg_worker *w, kg_time now);
void wk_tcp_flush_all(kg_worker *w);
bool wk_tcp_queue(kg_worker *w, wtcp *c, const uint8_t *pkt, size_t len);
void wk_tcp_authenticate(kg_worker *w, wtcp *c, struct wtransport *t);
void wk_tcp_select(kg_worker *w, wtcp *c, struct wtransport *t);
void wk_tcp_forget_transport(kg_worker *w, struct wtransport *t);
void wk_tcp_conn_close(kg_worker *w, wtcp *c);
uint8_t *wk_tx_slot(kg_worker *w);

/* Queues the slot from wk_tx_slot() with len bytes for t's media path:
 * its UDP address (the send batch), or its TCP connection's ring. */
static inline void wk_tx_commit_t(kg_worker *w, wtransport *t, size_t len)
{
    if (t->tcp) {
        if (!wk_tcp_queue(w, t->tcp, w->tx_data[w->tx_n], len))
            t->part->c.tcp_tx_dropped++;
        return;
    }
    wk_tx_commit(w, &t->addr, len);
}
kg_time wk_worker_now(void);
int wk_worker_setup(kg_worker *w);
void wk_worker_shutdown(kg_worker *w);
void wk_worker_teardown(kg_worker *w);
void wk_mix_close(kg_worker *w);
void wk_mix_init(kg_worker *w);
void wk_mix_join(kg_worker *w, const kg_worker_cmd *c);
void wk_mix_leave(kg_worker *w, wpart *p);
void wk_mix_push(kg_worker *w, wpart *pub, const kg_track *tr,
                 const kg_rtp_hdr *h);
void wk_mix_track(kg_worker *w, wpart *p, uint32_t ssrc, int kind);
bool wk_speaker_admits(kg_worker *w, wpart *p, kg_track *tr,
                       const kg_rtp_hdr *h, kg_time now);
void wk_speaker_room_init(kg_worker *w, wroom *r);
void wk_speaker_track(wpart *p, const kg_worker_cmd *c);
wroom *wk_wroom_of(kg_room *room);
void wk_forward_simulcast(kg_worker *w, kg_track *tr,
                          const kg_rtp_hdr *h, const uint8_t *pkt,
                          size_t len, kg_time now);
void wk_keyframes_for_subscriber(kg_worker *w, wpart *sub, kg_time now);
void wk_nack_answer(kg_worker *w, wtransport *t, const kg_rtcp_pkt *p,
                    kg_time now);
bool wk_nack_on_rtp(kg_worker *w, kg_track *tr, const uint8_t *pkt,
                    size_t len, const kg_rtp_hdr *h, kg_time now);
void wk_nack_tick(kg_worker *w, kg_time now);
void wk_request_keyframe(kg_worker *w, kg_track *tr, kg_time now,
                         bool force);
void wk_rtcp_report_in(kg_worker *w, wtransport *t, const kg_rtcp_pkt *p,
                       kg_time now);
void wk_rtcp_report_tick(kg_worker *w, kg_time now);
void wk_sc_on_remb(kg_worker *w, wtransport *t, const kg_rtcp_fb *fb,
                   kg_time now);
kg_track *wk_sc_rid_track(const wtransport *t, const uint8_t *pkt,
                          size_t len, int *layer);
int wk_child_send(kg_worker *w, uint32_t type, uint32_t offset,
                  uint32_t count, uint32_t total, const void *body,
                  size_t len);
void wk_on_child_msg(uv_poll_t *p, int status, int events);
int wk_start_process(kg_worker *w);
int wk_post_process(kg_worker *w, const kg_worker_cmd *cmd);
void wk_stop_process(kg_worker *w);

#endif
