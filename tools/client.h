/* kaigi-client: shared state of the headless client. One libuv loop drives
 * the signalling WebSocket, the two media transports (publish, subscribe)
 * and the media timers; everything here lives on that loop's thread. */
#ifndef KC_CLIENT_H
#define KC_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include <uv.h>

#include "codec/audio.h"
#include "codec/rtcp.h"
#include "codec/err.h"
#include "codec/video.h"
#include "codec/vp8.h"
#include "crypto/dtls.h"
#include "relay/client_peer.h"
#include "relay/framing.h"
#include "relay/ice.h"
#include "relay/room.h"
#include "relay/rtcp_report.h"
#include "tools/client_ws.h"

#define KC_MAX_REMOTES 64
#define KC_MAX_SSRCS 256
#define KC_ID_LEN 64
#define KC_PKT_CAP 1500
#define KC_CONNECT_TIMEOUT (10 * KG_SEC)
#define KC_DRAIN (500 * KG_MS)
#define KC_WATCHDOG_SLACK (15 * KG_SEC) /* past --duration: never hang */
#define KC_PEAK_WINDOW KG_AUDIO_RATE /* one second of mono samples */
#define KC_MAX_HOLD 16 /* --hold names */
#define KC_MAX_HELD 64 /* held waiting participants remembered */
/* The msid track id of a screen share ends so; kaigi forwards the
 * publisher's track id, so receivers tell a screen from a camera by it. */
#define KC_SCREEN_SUFFIX "-screen"
#define KC_MAX_TONES 8 /* --expect-tones frequencies */

typedef struct kc_opts {
    const char *server;
    /* Join credentials: exactly one of room, meeting + pin, invite,
     * meeting + host_key (checked by the argument parser). */
    const char *room;
    const char *meeting;
    const char *pin;
    const char *invite;
    const char *host_key;
    const char *name;
    double duration;
    double linger; /* seconds joined after the drain, still receiving */
    const char *report;
    double tone;
    uint32_t seed;
    unsigned video_kbps;
    unsigned wait_remotes;
    unsigned garbage; /* datagrams/s of junk toward kaigi, 0 = none */
    double max_wait;  /* seconds in the waiting room before giving up */
    /* Host mode (acted on only while joined says we are host). */
    bool admit_all;
    const char *remove;   /* name or id to remove once it is in */
    double lock_after;    /* seconds after joined; 0 = never */
    double end_after;     /* seconds after joined; 0 = never */
    const char *leave_to; /* name or id to hand the host role to */
    const char *hold[KC_MAX_HOLD]; /* nicknames admitted only late */
    size_t n_hold;
    double hold_for; /* seconds a held nickname waits (default 3) */
    /* Numeric IP every socket (WebSocket and UDP) binds to; NULL: the
     * address the kernel picks toward the server. */
    const char *bind;
    const char *ca; /* --ca: PEM CA file for wss://, NULL = system store */
    bool tcp;         /* --tcp: media over ICE-TCP */
    double tcp_stall; /* --tcp-stall: seconds, 0 = never */
    bool screen; /* also publish a screen-share video track */
    bool simulcast;         /* the camera as 3 layers (ssrc-group:SIM) */
    unsigned max_recv_kbps; /* REMB we send as a receiver; 0 = no cap */
    bool simulcast_rid;     /* the layers as rids (as Chromium), no SSRCs */
    int max_layer;          /* video_layer we ask of every remote, -1: none */
    double amplitude; /* of the tone, 0..1 of full scale (0: silence) */
    bool mixed_audio; /* join with "audio": "mixed" */
    double expect_tones[KC_MAX_TONES]; /* --expect-tones: reported */
    size_t n_expect_tones;
    double loss;  /* --loss: percent of our outgoing RTP dropped */
    bool no_nack; /* --no-nack: neither send nor answer NACKs */
    double recv_loss; /* --recv-loss: percent of incoming RTP dropped */
    unsigned timeline_ms; /* --timeline: bucket length, 0 = no timeline */
    /* --mute / --ask-unmute WHO@S (host), --accept-unmute: client_mute.c */
    const char *mute_who, *ask_unmute_who, *handover_who;
    double mute_at, ask_unmute_at, handover_at; /* seconds after joined */
    bool accept_unmute;
    /* --remb-drop START:END:KBPS, seconds after joined; end 0: none */
    double remb_drop_start, remb_drop_end;
    unsigned remb_drop_kbps;
} kc_opts;

struct kc_app;

/* One media transport: a UDP socket, its timer, and the sans-IO peer. */
typedef struct kc_transport {
    struct kc_app *app;
    const char *label; /* "publish" / "subscribe" */
    uv_udp_t udp;
    uv_timer_t timer;
    bool handles_open;
    kg_ice_creds local;
    kg_ice_creds remote_creds;
    struct sockaddr_storage local_addr;
    struct sockaddr_storage remote;
    kg_client_peer *peer; /* NULL until the remote SDP is known */
    /* --tcp: the connection to kaigi's TCP candidate, RFC 4571 framed */
    bool tcp;
    bool tcp_open;  /* the handle is initialised (close it) */
    bool tcp_up;    /* connected */
    uv_tcp_t tcp_h;
    uv_connect_t tcp_conn;
    uv_timer_t stall_timer;
    bool stalled;
    kg_framer rx;
    uint64_t tcp_dropped; /* packets our own full write queue refused */
    enum kg_client_peer_state last_state;
    kg_srtp_profile profile;
    char cipher[64];
    char version[32];
    uint64_t bytes_out;
    /* Delivery of decrypted media. */
    void (*on_rtp)(struct kc_transport *t, uint8_t *pkt, size_t len,
                   kg_time now);
    void (*on_rtcp)(struct kc_transport *t, uint8_t *pkt, size_t len,
                    kg_time now);
} kc_transport;

typedef struct kc_remote {
    char id[KC_ID_LEN];
    char name[KC_ID_LEN * 2];
    bool present;
    uint64_t audio_packets;
    uint64_t audio_frames_decoded;
    uint64_t video_packets;
    uint64_t video_frames_decoded;
    uint64_t screen_packets; /* its screen share, apart from its camera */
    uint64_t screen_frames_decoded;
    uint64_t decode_errors;
    int64_t last_media_ms; /* wall clock of its last RTP packet, 0: none */
    unsigned video_width, video_height; /* of its last decoded camera frame */
    unsigned resolution_changes;        /* how often that size changed */
    bool layer_asked; /* --max-layer: video_layer sent for its video */
    /* The last second of decoded left-channel samples, for the tone scan. */
    int16_t *window;
    size_t window_pos;
    size_t window_fill;
    /* --expect-tones over the last second before publishing ended */
    bool tones_frozen;
    double tones[KC_MAX_TONES];
    /* --timeline (client_timeline.c): the open bucket, and the closed
     * ones (an owned array, NULL until the first closes) */
    uint64_t tl_audio_at, tl_video_at, tl_screen_at; /* frames decoded
                                                       when it opened */
    size_t tl_samples;                 /* samples decoded in it */
    json_t *timeline;
} kc_remote;

typedef struct kc_ssrc {
    uint32_t ssrc;
    bool video;
    bool screen; /* video whose msid track id ends in KC_SCREEN_SUFFIX */
    int remote;  /* index into app->remotes */
    kg_opus_dec *opus;
    kg_vp8_dec *vp8;
    kg_vp8_depacketizer depack;
    bool depack_ok;
    bool got_keyframe;
    kg_time last_pli;
    kg_rx_stats rx;  /* for our RRs (tools/client_rtcp.c) */
    kg_rtcp_rx rtcp; /* kaigi's last SR for it */
    /* video: NACK generator and reorder buffer (client_nack.c), owned */
    struct kg_nack_gen *nack;
    struct kg_reorder *reorder;
} kc_ssrc;

typedef struct kc_sent {
    uint64_t audio_packets, audio_frames;
    uint64_t bytes; /* every track's */
} kc_sent;

/* One VP8 track we send: the camera, or the --screen share. */
typedef struct kc_vtrack {
    uint32_t ssrc;
    uint16_t seq;
    uint32_t ts;
    uint16_t picture_id;
    uint32_t seed;   /* of its test pattern */
    kg_vp8_enc *vp8; /* NULL: the track is not sent */
    bool force_key;
    kg_time last_forced_key;
    uint64_t packets, frames, keyframes; /* sent */
    const char *rid; /* --simulcast-rid: its RTP stream ID, else NULL */
    struct kg_rtx_cache *rtx; /* what we sent, for NACKs; owned */
} kc_vtrack;

/* The publishing side: encoders and RTP state of our tracks. Both video
 * tracks share the frame clock and the payload type. */
typedef struct kc_pub {
    uint32_t audio_ssrc;
    uint8_t audio_pt, video_pt;
    uint8_t audio_level_id; /* 0: the answer dropped the extension */
    uint16_t audio_seq;
    uint32_t audio_ts;
    uint32_t frame_no;
    bool first_audio;
    kg_tone tone;
    kg_opus_enc *opus;
    kc_vtrack cam, screen;
    kg_time next_audio, next_video;
    kg_time video_epoch; /* when frame number video_base was due */
    uint32_t video_base;
    /* --simulcast: the camera's lower layers (160x90, 320x180); cam is
     * the top one. Same frame clock and pattern. */
    kc_vtrack sim_low[2];
    uint8_t rid_ext_id; /* rtp-stream-id extension id, 0: not agreed */
    uint8_t audio_level; /* RFC 6464 level of the last frame sent */
} kc_pub;

/* --garbage: the flood and what went out of it. */
typedef struct kc_garbage {
    uv_udp_t udp; /* the unvalidated source */
    uv_timer_t timer;
    bool open;
    kg_time start;
    uint64_t sent, next;
    uint64_t bad_srtp, bad_stun, malformed, unknown_source;
} kc_garbage;

/* The scheduled-meeting side of the conversation: the waiting room, the
 * outcome (denied, removed, ended, a join error), host controls and the
 * notices kaigi sent us. */
/* A waiting participant --hold names: admitted at due. */
typedef struct kc_held {
    char id[KC_ID_LEN];
    kg_time due;
    bool admitted;
} kc_held;

typedef struct kc_meeting {
    bool waited;
    char waiting_reason[32];
    bool host;
    char host_id[KC_ID_LEN];
    bool denied, removed, ended;
    char error_code[32]; /* a join error's code, "" if none */
    json_t *opens_at;    /* from a not_open error, or NULL */
    json_t *retry_after; /* from a locked_out error, or NULL */
    json_t *notices;     /* array of {"type", ...} */
    /* Before joined there is no UDP socket at all (PROTOCOL.md: a waiting
     * participant has no media transport); these count what would break
     * that, and must stay 0. */
    uint64_t transports_while_waiting;
    uint64_t media_while_waiting;
    uint64_t controls_sent; /* admit/remove/lock/end: errors may answer */
    char remove_id[KC_ID_LEN];
    bool remove_armed;
    kc_held held[KC_MAX_HELD];
    size_t n_held;
    int64_t waiting_ms; /* wall clock of the first `waiting`, 0: none */
    int64_t joined_ms;  /* ... of `joined` */
    int64_t removed_ms; /* ... of our `removed` */
    json_t *removes;    /* [{"name", "unix_ms"}] of each remove we sent */
    uv_timer_t lock_timer, end_timer, remove_timer, hold_timer;
    bool timers_open;
} kc_meeting;

/* Host mute as a test drives it (client_mute.c). */
typedef struct kc_mute {
    uv_timer_t mute_timer, ask_timer, handover_timer;
    bool open;
    /* due, but WHO is not in yet */
    bool mute_pending, ask_pending, handover_pending;
    json_t *log; /* [{"type", "name"?, "unix_ms"}], owned */
} kc_mute;

enum kc_phase {
    KC_CONNECTING = 0, /* WebSocket and join */
    KC_NEGOTIATING,    /* joined, publish offer out, transports coming up */
    KC_PUBLISHING,
    KC_DRAINING,
    KC_LEAVING,
    KC_DONE,
};

/* RTCP reports (tools/client_rtcp.c): SRs for what we publish, RRs for
 * what kaigi forwards us, and the RTT of each leg. */
#define KC_RTCP_STREAMS 3 /* audio, camera, screen */
typedef struct kc_rtcp_stream {
    uint32_t ssrc; /* 0: unused */
    uint32_t clock_rate;
    uint64_t packets, octets;
    kg_rtcp_tx tx;
} kc_rtcp_stream;

typedef struct kc_rtcp {
    uv_timer_t timer;
    bool timer_open;
    kc_rtcp_stream out[KC_RTCP_STREAMS];
    kg_rtt pub_rtt; /* publish leg: from kaigi's RRs about our SRs */
    uint64_t sr_sent, rr_sent, sr_in, rr_in, malformed;
} kc_rtcp;

typedef struct kc_app {
    kc_opts opts;
    uv_loop_t *loop;
    kc_ws *ws;
    bool ws_open;
    enum kc_phase phase;
    int exit_code;
    char error[256]; /* first fatal error, for stderr and the report */

    uv_timer_t watchdog;   /* duration + 15 s: never hang */
    uv_timer_t phase_timer; /* connect timeout, duration, drain, leave */
    uv_timer_t media_timer;
    uv_timer_t connect_timer; /* KC_CONNECT_TIMEOUT for the publish leg */

    bool joined;
    kc_meeting meeting;
    char participant[KC_ID_LEN];
    char room[KC_ID_LEN + 1];
    char node[KC_ID_LEN * 2];

    kg_dtls_cert *cert;
    kg_dtls_ctx *dtls_ctx;
    struct sockaddr_storage bind_addr; /* local address for media */
    kc_transport pub_t, sub_t;
    bool sub_created;
    bool publish_answered;
    kg_time publish_answer_at;

    kc_pub pub;
    kc_sent sent;
    kg_time publish_start, publish_end;
    uint32_t rtcp_ssrc; /* sender SSRC of our PLIs */
    kc_garbage garbage;

    kc_remote remotes[KC_MAX_REMOTES];
    size_t n_remotes;
    kc_ssrc ssrcs[KC_MAX_SSRCS];
    size_t n_ssrcs;
    uint64_t subscribe_offers;
    uint64_t rtp_malformed;
    uint64_t rtp_unknown_ssrc;
    uint64_t rtcp_in;
    char screen_error[32]; /* share_denied, "" if none */
    kg_time next_remb; /* as a receiver: when our next REMB is due */
    uint64_t remb_sent;
    kc_rtcp rtcp;
    /* `speaker` messages: how many, and the last one's id */
    uint64_t speaker_events;
    char speaker_last[KC_ID_LEN];
    bool tones_frozen; /* --expect-tones taken (kc_freeze_tones) */
    /* NACK loss recovery and --loss (client_nack.c) */
    uint64_t loss_rng;
    uint64_t loss_dropped;      /* RTP packets --loss did not send */
    uint64_t nacks_sent;        /* sequence numbers we NACKed */
    uint64_t nacks_in;          /* sequence numbers kaigi NACKed to us */
    uint64_t retransmits;       /* packets we resent for them */
    uint64_t packets_recovered; /* missing video packets that came after all */
    uint64_t nack_recovered;    /* ... of them, those we had NACKed */
    /* --recv-loss: its own draws, so that it does not shift --loss's */
    uint64_t recv_loss_rng;
    uint64_t recv_loss_dropped; /* SRTP packets dropped on arrival */
    uint64_t recv_loss_video;   /* ... of them on a video SSRC */
    uint64_t packets_given_up;  /* missing ones we stopped asking for */
    uint64_t reorder_skipped;   /* sequence numbers the decoder never got */
    uint64_t stream_resets;     /* jumps too long to NACK or hold: lost */
    kc_mute mute;
    uv_timer_t timeline_timer; /* --timeline */
    bool timeline_open;
    uint64_t timeline_dropped; /* entries past the cap, not kept */
    int64_t timeline_start_ms; /* wall clock the open bucket began */
} kc_app;

/* client.c */
kg_time kc_now(void);
/* Wall-clock ms since the epoch (CLOCK_REALTIME): only for the report's
 * *_unix_ms fields, which are compared across processes. */
int64_t kc_unix_ms(void);
void kc_fail(kc_app *app, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Ends the run without an error message: leaves (if still open) and
 * writes the report. code becomes the exit status unless one is set. */
void kc_end(kc_app *app, int code);
/* Re-arms the watchdog to fire after ns from now. */
void kc_watchdog_rearm(kc_app *app, kg_time ns);
void kc_maybe_start_publishing(kc_app *app);
/* The publish transport must connect within KC_CONNECT_TIMEOUT. */
void kc_arm_connect_timeout(kc_app *app);
/* The transport's state changed (connected, failed). */
void kc_on_transport_state(kc_app *app, kc_transport *t);

/* client_signal.c: the signalling conversation. */
void kc_signal_on_open(kc_app *app);
void kc_signal_on_message(kc_app *app, const char *text, size_t len);
/* Sends leave, with new_host when --leave-to names someone present. */
int kc_signal_send_leave(kc_app *app);
/* Sends msg (taking its reference). Returns 0 or a negative error. */
int kc_signal_send(kc_app *app, json_t *msg);

/* client_meeting.c: credentials, the waiting room, outcomes, host
 * controls. */
void kc_meeting_init(kc_app *app);
/* Closes the meeting's timers (from finish()). */
void kc_meeting_close(kc_app *app);
void kc_meeting_free(kc_app *app);
/* Adds the credential fields of opts to a join message. */
int kc_meeting_join_fields(const kc_app *app, json_t *join);
/* From joined: records host and host_id, arms the host timers. */
void kc_meeting_on_joined(kc_app *app, json_t *msg);
/* Handles a meeting message (waiting, denied, removed, ended, host
 * notices...). Returns true if type was one of them. */
bool kc_meeting_on_message(kc_app *app, const char *type, json_t *msg);
/* A participant is in (joined's list, participant_joined): --remove. */
void kc_meeting_on_participant(kc_app *app, const char *id, const char *name);
/* A join error: records code, opens_at, retry_after. */
void kc_meeting_on_join_error(kc_app *app, const char *code, json_t *msg);
/* The id --leave-to names, if that participant is present, else NULL. */
const char *kc_meeting_new_host(const kc_app *app);
/* Adds the meeting fields to the report (with removed_unix_ms and
 * removes). */
void kc_meeting_report(const kc_app *app, json_t *report);

/* client_transport.c */
int kc_transport_open(kc_app *app, kc_transport *t, const char *label,
                      const struct sockaddr *bind_addr);
/* Creates the peer toward the remote's candidate and starts ICE. */
int kc_transport_start(kc_transport *t, const kg_ice_creds *remote,
                       const char *remote_fp, const char *ip, uint16_t port);
/* Protects and sends RTP/RTCP. Returns bytes sent or a negative error. */
ssize_t kc_transport_send_rtp(kc_transport *t, uint8_t *pkt, size_t len,
                              size_t cap);
ssize_t kc_transport_send_rtcp(kc_transport *t, uint8_t *pkt, size_t len,
                               size_t cap);
/* Sends close_notify and stops the timers; then closes the handles. */
void kc_transport_close(kc_transport *t);
bool kc_transport_connected(const kc_transport *t);

/* client_nack.c: NACK loss recovery (relay/nack.h) and --loss. */
void kc_nack_init(kc_app *app);
/* Allocates v's retransmission cache (unless --no-nack). 0 or
 * KG_ERR_NOMEM. */
int kc_nack_vtrack_init(kc_app *app, kc_vtrack *v);
void kc_nack_vtrack_free(kc_vtrack *v);
/* Sends one of our RTP packets (plaintext, len bytes in a buffer of cap)
 * on the publish transport, first caching it if v (a video track) is
 * given; --loss may drop it (first sends and resends alike). Returns
 * kc_transport_send_rtp's result, or len when --loss dropped it (the
 * sender sent it; the "network" lost it). */
ssize_t kc_nack_send_rtp(kc_app *app, kc_vtrack *v, uint8_t *pkt, size_t len,
                         size_t cap);
/* --recv-loss: true if the datagram pkt (as it came from the network,
 * still protected) is SRTP on the subscribe transport that the draw
 * drops. Dropped before SRTP sees it, as a lossy downlink would: a
 * retransmission of it then is no replay. */
bool kc_nack_recv_drop(kc_app *app, const uint8_t *pkt, size_t len);
/* A generic NACK from kaigi on the publish transport: resends. */
void kc_nack_on_feedback(kc_app *app, const kg_rtcp_fb *fb, kg_time now);
/* For a received video SSRC: its NACK generator and reorder buffer. */
int kc_nack_ssrc_init(kc_app *app, kc_ssrc *s);
void kc_nack_ssrc_free(kc_ssrc *s);
/* A received video packet: noted for NACKs, then released in order
 * through kc_sub_on_video_packet. */
void kc_nack_video_in(kc_app *app, kc_ssrc *s, uint8_t *pkt, size_t len,
                      kg_time now);
/* Due NACKs and reorder timeouts of every received video stream. */
void kc_nack_tick(kc_app *app, kg_time now);
/* client_media.c: one video packet, in order, to the depacketizer. */
void kc_sub_on_video_packet(kc_app *app, kc_ssrc *s, uint8_t *pkt,
                            size_t len, kg_time now);

/* client_mute.c: --mute, --ask-unmute, --accept-unmute. */
void kc_mute_init(kc_app *app);
void kc_mute_close(kc_app *app);
void kc_mute_free(kc_app *app);
/* Splits "WHO@S" (in place) into who and at (0..86400 s). Returns 0, or
 * -1 (arg untouched) for a missing WHO, '@' or number. */
int kc_mute_parse_target(char *arg, const char **who, double *at);
/* joined: arms the host's timers. */
void kc_mute_on_joined(kc_app *app);
/* Someone came in: sends a control that waited for its target. */
void kc_mute_on_participant(kc_app *app);
/* muted, unmute_request (answered with --accept-unmute); other types are
 * ignored. */
void kc_mute_on_message(kc_app *app, const char *type);
/* Adds "mute_log" to the report. */
void kc_mute_report(const kc_app *app, json_t *report);

/* client_timeline.c: --timeline. */
void kc_timeline_init(kc_app *app);
/* Starts the bucket clock (a no-op without --timeline). */
void kc_timeline_start(kc_app *app);
void kc_timeline_close(kc_app *app);
/* Adds "timeline_ms", "timeline_dropped" to report and each remote's
 * "timeline" to its object in remotes. */
void kc_timeline_report(const kc_app *app, json_t *report, json_t *remotes);

/* client_garbage.c */
int kc_garbage_start(kc_app *app);
void kc_garbage_close(kc_app *app);

/* client_rtcp.c: SR/RR every ~1 s on each connected transport. */
void kc_rtcp_init(kc_app *app);
void kc_rtcp_close(kc_app *app);
/* An RTP packet we sent: its header and payload length. */
void kc_rtcp_on_sent(kc_app *app, const kg_rtp_hdr *h, size_t payload_len,
                     kg_time now);
/* An RTP packet kaigi forwarded to us on stream s. */
void kc_rtcp_on_received(kc_ssrc *s, const kg_rtp_hdr *h, kg_time now);
/* RTCP from kaigi on the publish (RRs) or the subscribe (SRs) leg. */
void kc_rtcp_on_pub_rtcp(kc_app *app, const uint8_t *pkt, size_t len);
void kc_rtcp_on_sub_rtcp(kc_app *app, const uint8_t *pkt, size_t len,
                         kg_time now);
/* The report's "rtcp" object. */
json_t *kc_rtcp_report(const kc_app *app);

/* client_media.c */
int kc_pub_init(kc_app *app);
void kc_pub_free(kc_pub *pub);
/* Sends every audio and video frame due at now; returns the next due. */
kg_time kc_pub_tick(kc_app *app, kg_time now);
void kc_pub_on_rtcp(kc_transport *t, uint8_t *pkt, size_t len, kg_time now);
void kc_sub_on_rtp(kc_transport *t, uint8_t *pkt, size_t len, kg_time now);
void kc_sub_on_rtcp(kc_transport *t, uint8_t *pkt, size_t len, kg_time now);
kc_remote *kc_remote_get(kc_app *app, const char *id, bool create);
/* Records that ssrc carries kind (video, and then screen or camera) of
 * remote (from a subscribe offer). */
int kc_ssrc_map(kc_app *app, uint32_t ssrc, bool video, bool screen,
                const char *remote);
void kc_media_free(kc_app *app);
/* How many present remotes have tracks in our subscribe offers. */
size_t kc_remotes_with_tracks(const kc_app *app);
/* The dominant frequency of a remote's last second of audio, 0 if none. */
double kc_remote_peak_hz(const kc_remote *r);
/* --expect-tones: adds "tones": {"HZ": share of power, ...} to each
 * remote's report object in remotes: over the second of audio that ends
 * half a second past the middle of publishing (when every client that a
 * test started together is surely sending), or the last second received
 * if publishing ended before that. */
void kc_report_tones(const kc_app *app, json_t *remotes);
/* The --expect-tones energies of r's last n decoded samples (n at most
 * r->window_fill) into out; lin is scratch of KC_PEAK_WINDOW samples. */
void kc_tones_last(const kc_app *app, const kc_remote *r, size_t n,
                   int16_t *lin, double *out);
/* Takes the tone energies now (once; from kc_pub_tick at the middle of
 * publishing, or when publishing ends). */
void kc_freeze_tones(kc_app *app);
/* Parses "440,660,880" into opts->expect_tones. Returns 0 or -1. */
int kc_parse_tones(kc_opts *o, const char *list);

#endif
