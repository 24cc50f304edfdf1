/* A media worker: one thread (or one child process), its own uv loop and
 * UDP socket, the transports and rooms pinned to it. The signalling thread talks to it
 * only through commands (kg_worker_post) and hears back through events
 * delivered on the signalling loop; the hot path takes no lock.
 */
#ifndef KG_WORKER_H
#define KG_WORKER_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "crypto/dtls.h"
#include "relay/delay.h"
#include "relay/ice.h"

enum kg_role { KG_ROLE_PUBLISH = 0, KG_ROLE_SUBSCRIBE = 1 };

/* What a transport's media path runs on: nothing selected yet, a UDP
 * address, or an RFC 4571-framed TCP connection (ICE-TCP). */
enum kg_proto { KG_PROTO_NONE = 0, KG_PROTO_UDP = 1, KG_PROTO_TCP = 2 };

/* "none", "udp" or "tcp". */
const char *kg_proto_name(int proto);

enum kg_cmd_type {
    KG_CMD_JOIN,      /* participant enters room */
    KG_CMD_TRANSPORT, /* add a transport for participant/role */
    KG_CMD_TRACK,     /* participant publishes ssrc of kind */
    KG_CMD_ROUTE,     /* track (pub, ssrc) → sub as out_ssrc/out_pt */
    KG_CMD_LEAVE,     /* participant leaves: transports, tracks, routes */
    KG_CMD_MUTE,      /* stop (mute) or resume forwarding its audio */
    KG_CMD_BLOCK,     /* stop (mute) or resume forwarding track ssrc */
    KG_CMD_MIX,       /* participant hears the room's audio mixed, as
                         out_ssrc/out_pt, instead of one track each */
    KG_CMD_MAX_LAYER, /* route (pub, ssrc) → sub: its simulcast layer cap */
};

typedef struct kg_worker_cmd {
    enum kg_cmd_type type;
    uint64_t participant;
    uint64_t room;
    enum kg_role role;
    kg_ice_creds local;      /* TRANSPORT */
    char remote_ufrag[257];  /* TRANSPORT */
    char remote_fp[100];     /* TRANSPORT */
    uint32_t ssrc;           /* TRACK, ROUTE (publisher's) */
    int kind;                /* TRACK: enum kg_track_kind */
    uint64_t sub;            /* ROUTE */
    uint32_t out_ssrc;       /* ROUTE, MIX */
    uint8_t out_pt;          /* ROUTE, MIX */
    bool mute;               /* MUTE, BLOCK: true stops forwarding */
    struct kg_worker_cmd *next;
    /* TRACK of a simulcast video source: its layers' SSRCs, lowest first
     * (layer_ssrc[0] == ssrc), and expected bitrates (0 = unknown). */
    uint8_t n_layers; /* 0: a single stream */
    uint32_t layer_ssrc[3];
    uint32_t layer_bps[3];
    /* rid-based (rid_ext_id != 0): the layers' RTP stream IDs instead of
     * SSRCs, which the worker learns from authenticated packets. */
    uint8_t rid_ext_id;
    char layer_rid[3][17];
    uint8_t audio_level_id;  /* TRACK (audio): RFC 6464 extmap id, 0 none */
    /* ROUTE, MAX_LAYER: 1 + the highest simulcast layer sub wants of the
     * track (what it shows it at); 0: no cap. */
    uint8_t sc_max_layer;
} kg_worker_cmd;

enum kg_worker_event_type {
    KG_WEV_CONNECTED, /* transport's DTLS done, SRTP ready */
    KG_WEV_FAILED,    /* transport torn down (consent lapsed, DTLS failed) */
    KG_WEV_SPEAKER,   /* room's dominant speaker is now participant */
};

typedef struct kg_worker_event {
    enum kg_worker_event_type type;
    uint64_t participant;
    enum kg_role role;
    int reason;        /* FAILED: KG_ERR_* */
    int profile;       /* CONNECTED: kg_srtp_profile */
    char cipher[64];   /* CONNECTED: DTLS cipher suite */
    /* FAILED with KG_ERR_SRTP_PROFILE: what the client's DTLS offered
     * (kg_dtls_offered_srtp), for the log and the client's error. */
    char offered[128];
    struct kg_worker_event *next;
    uint64_t room;     /* SPEAKER: the room's number */
} kg_worker_event;

/* Counters, copied from the worker into a snapshot every tick. */
typedef struct kg_worker_stats {
    uint64_t rx_datagrams, rx_bytes, tx_datagrams, tx_bytes, tx_errors;
    uint64_t stun_ok, stun_bad, unknown_source, malformed;
    uint64_t dtls_fail, srtp_auth_fail, srtp_replay;
    uint64_t rtp_in, rtcp_in, rtp_forwarded, rtcp_feedback_in, pli_sent;
    uint64_t transports, transports_connected, participants, rooms;
    uint64_t consent_timeouts;
    uint64_t ssrc_refused; /* SRTP/SRTCP from an SSRC not negotiated */
    uint64_t cpu_ns;       /* the worker thread's CPU time */
    /* RTCP reports (relay/rtcp_report.h): SR and RR report packets kaigi
     * sent (one SR per outgoing SSRC), SR and RR packets received */
    uint64_t rtcp_sr_sent, rtcp_rr_sent, rtcp_sr_in, rtcp_rr_in;
    uint64_t audio_suppressed; /* audio not among a room's loudest N */
    /* audio mixing (codec/mixer.h) */
    uint64_t mix_rooms;     /* rooms with a mixer now */
    uint64_t mix_listeners; /* participants hearing a mix now */
    uint64_t mix_sources;   /* audio tracks feeding a mixer now */
    uint64_t mix_packets;   /* mixed packets sent */
    uint64_t mix_concealed; /* frames made up by Opus PLC */
    uint64_t mix_late;      /* packets too late for the jitter buffer */
    uint64_t mix_cpu_ns;    /* worker CPU spent in mixer ticks */
    uint64_t rtx_limited;  /* NACKed packets over a receiver's budget */
    /* ICE-TCP (RFC 6544, relay/worker_tcp.c): connections accepted, open
     * now, refused (over the cap on unauthenticated ones), closed for
     * sending no valid STUN check in time, closed for bad framing or
     * for a first packet that is not STUN; packets not queued because a
     * connection's send buffer was full (its receiver is too slow). */
    uint64_t tcp_accepted, tcp_open, tcp_refused, tcp_timeouts;
    uint64_t tcp_bad_stream, tcp_tx_dropped;
    /* Per datagram sent because an SRTP/SRTCP datagram came in (forwards,
     * resends, feedback): kernel receive timestamp of that datagram to
     * the sendmmsg that sent this one. */
    kg_delay_hist fwd_delay;
} kg_worker_stats;

#define KG_PART_MAX_TRACKS 8

/* One track a participant publishes, as its receiver (kaigi) sees it. */
typedef struct kg_track_stats {
    uint32_t ssrc;
    int kind; /* enum kg_track_kind */
    uint64_t packets, bytes;
    uint64_t expected, lost; /* RFC 3550 A.3, since the first packet */
    double jitter_ms;        /* RFC 3550 A.8 */
    unsigned subscribers;
    /* What its receivers report about it in their RRs (the worst of
     * them, each one's latest report): fraction lost over their last
     * interval (0..1) and jitter; 0 until an RR arrives. */
    double receiver_loss_fraction;
    double receiver_jitter_ms;
    uint64_t srs_in; /* SRs the publisher sent for it */
    /* Simulcast (sc_layers > 0): per layer, lowest first, its SSRC (0:
     * not learnt yet), measured bit/s and how many receivers get it. */
    unsigned sc_layers;
    uint32_t sc_ssrc[3];
    uint32_t sc_bps[3];
    unsigned sc_receivers[3];
} kg_track_stats;

/* Per-participant counters, counted on the worker's packet path.
 * "in" is what the participant publishes, "out" what kaigi forwards to
 * it; feedback counters are RTCP the participant sent as a receiver. */
typedef struct kg_part_counters {
    uint64_t packets_in, bytes_in;   /* SRTP datagrams accepted */
    uint64_t packets_out, bytes_out; /* SRTP forwarded to it */
    uint64_t srtp_auth_fail, srtp_replay, malformed;
    uint64_t nacks_in;  /* RTPFB generic NACK packets */
    uint64_t plis_in;   /* PSFB PLI and FIR */
    uint64_t pli_sent;  /* PLIs kaigi sent to it as a publisher */
    /* RTCP reports: SRs kaigi sent it (one per SSRC it receives), RRs
     * kaigi sent it about what it publishes, SR and RR packets it sent */
    uint64_t sr_sent, rr_sent, sr_in, rr_in;
    /* NACK loss recovery (relay/nack.h), video only. As a receiver: */
    uint64_t retransmits;    /* packets resent to it from the cache */
    uint64_t rtx_misses;     /* NACKed packets the cache did not hold */
    /* As a publisher: */
    uint64_t nacks_sent;     /* sequence numbers kaigi NACKed to it */
    uint64_t nack_recovered; /* missing packets that arrived after all */
    uint64_t nack_given_up;  /* missing packets kaigi stopped asking for */
    /* Packets for it that its TCP connection's full send buffer refused */
    uint64_t tcp_tx_dropped;
} kg_part_counters;

/* A participant's snapshot, made on the worker once a second.
 * participant 0 is not a participant: it carries the counters of a
 * room's members who have left, so that a room's sums never go down. */
typedef struct kg_part_stats {
    uint64_t participant; /* the number signalling gave it */
    uint64_t room;        /* the room's number */
    kg_part_counters c;
    uint64_t bitrate_in_1s, bitrate_in_10s;   /* bit/s, SRTP bytes */
    uint64_t bitrate_out_1s, bitrate_out_10s;
    uint64_t expected, lost; /* summed over its published tracks */
    double jitter_ms;        /* the largest of its tracks' */
    const char *dtls_state[2]; /* by enum kg_role: static strings,
                                  "none" without a transport */
    int srtp_profile[2];       /* kg_srtp_profile, by enum kg_role */
    int proto[2];              /* enum kg_proto, by enum kg_role */
    unsigned tracks_published, tracks_subscribed;
    bool muted;
    unsigned n_tracks;
    kg_track_stats tracks[KG_PART_MAX_TRACKS];
    /* Round-trip time of its subscribe leg, from the RRs it sends about
     * kaigi's SRs (RFC 3550 6.4.1): the latest sample and a smoothed one
     * (1/8 gain); rtt_valid false until the first sample. */
    bool rtt_valid;
    double rtt_ms, rtt_smoothed_ms;
    /* What it reports as a receiver (worst of the SSRCs it receives,
     * latest RR of each): fraction lost (0..1) and jitter. */
    double receiver_loss_fraction;
    double receiver_jitter_ms;
} kg_part_stats;

typedef void (*kg_worker_event_fn)(void *user, const kg_worker_event *ev);

#define KG_TCP_SAME_PORT (-1)

typedef struct kg_worker_config {
    const struct sockaddr *udp_addr; /* where to bind the media socket */
    /* ICE-TCP listener on the UDP address: 0 none; KG_TCP_SAME_PORT the
     * UDP socket's port number (any free port if that one is taken and
     * the UDP port was the kernel's choice); else that port. */
    int tcp_port;
    kg_dtls_cert *cert;              /* borrowed */
    unsigned dtls_flags;             /* KG_DTLS_ALLOW_LEGACY_SRTP */
    uv_loop_t *signal_loop;          /* events are delivered here */
    kg_worker_event_fn on_event;
    void *user;
    unsigned index;
    /* Run the worker in a child process instead of a thread (see
     * worker.c: libsrtp2 on NSS serialises threads, not processes). Call
     * kg_worker_start for process workers before the calling process
     * starts any other thread, and before it makes any SRTP session. */
    bool process;
    unsigned loudest; /* per room: forward only the N loudest publishers'
                         audio (RFC 6464 levels); 0 = all */
} kg_worker_config;

typedef struct kg_worker kg_worker;

/* Binds the UDP socket in the calling thread (so that "address in use"
 * is reported to the caller) and starts the worker thread. Returns 0 or
 * a negative libuv/KG error; *out is set on success. */
int kg_worker_start(kg_worker **out, const kg_worker_config *cfg);

/* Asks the worker to finish, joins its thread, frees everything. Must be
 * called from the signalling thread; its async handle is closed there, so
 * run the signalling loop afterwards to let it close. */
void kg_worker_stop(kg_worker *w);

/* Copies cmd into the worker's queue; never blocks. Returns 0,
 * KG_ERR_NOMEM, or for a worker process KG_ERR_CLOSED (it is gone) or
 * KG_ERR_FULL (100,000 commands wait for it). */
int kg_worker_post(kg_worker *w, const kg_worker_cmd *cmd);

/* The latest snapshot of the worker's counters: at most one tick old for
 * a worker thread, about a second for a worker process. */
void kg_worker_get_stats(kg_worker *w, kg_worker_stats *out);

/* Copies the latest per-participant snapshot (at most about a second
 * old) into a new array: *out (caller frees; NULL when empty) with *n
 * records. Takes the worker's lock only for the copy. Returns 0 or
 * KG_ERR_NOMEM. */
int kg_worker_get_parts(kg_worker *w, kg_part_stats **out, size_t *n);

/* The bound UDP address (after start). */
int kg_worker_local_addr(kg_worker *w, struct sockaddr_storage *out);

/* The bound TCP listening address (after start); out->ss_family is 0
 * when the worker has no TCP listener. Returns 0. */
int kg_worker_tcp_addr(kg_worker *w, struct sockaddr_storage *out);

#endif
