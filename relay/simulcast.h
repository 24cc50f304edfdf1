/* Simulcast layer selection and VP8 stream rewriting, sans-IO.
 *
 * A publisher sends one video source as up to three RTP streams (layers
 * 0 = low, 1 = mid, 2 = high), each with its own SSRC, sequence numbers,
 * timestamps and VP8 picture IDs. Each receiver gets exactly one of them
 * at a time, rewritten so that it sees one continuous stream:
 *
 *  - which layer: the highest one (up to the receiver's max layer, and
 *    only among layers that are arriving) whose measured bitrate fits the
 *    receiver's bandwidth estimate (REMB). Going down happens as soon as
 *    the estimate falls below the current layer's bitrate; going up needs
 *    the estimate to exceed the higher layer's bitrate times up_factor
 *    for up_hold, so that a noisy estimate does not flap.
 *  - when: a receiver moves to its target layer only on a keyframe of that
 *    layer (the first packet of it), and kaigi asks the publisher for
 *    one. Keyframe requests are per track and layer: merged (any number of
 *    receivers wanting a keyframe of one layer make one request) and rate
 *    limited (one per layer per pli_interval).
 *  - how: out seq = in seq + delta (gaps inside one layer stay gaps, no gap
 *    at a switch), out timestamp advances by the wall-clock time between
 *    the last packet of the old layer and the first of the new one, VP8
 *    picture ID (7 or 15 bit) and TL0PICIDX continue from where the old
 *    layer left them.
 *
 * Nothing here allocates; the caller embeds the structs. Time is a
 * parameter (kg_time ns). One kg_sc_track per simulcast source, one
 * kg_sc_receiver per (source, receiver).
 */
#ifndef KG_SIMULCAST_H
#define KG_SIMULCAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/err.h"
#include "codec/rtp.h"

#define KG_SC_LAYERS 3
#define KG_SC_RID_LEN 17 /* RFC 8851 allows longer; kaigi takes 16 */

typedef struct kg_sc_layer {
    uint32_t ssrc;       /* 0 = this layer is not published */
    uint32_t target_bps; /* from SDP or a default; 0 = unknown */
    /* Measured rate: bytes over a window of at least one second. */
    kg_time win_start;
    uint64_t win_bytes;
    uint32_t measured_bps; /* 0 until one window completed */
    kg_time last_packet;   /* 0 = never */
    uint64_t packets;
    uint64_t keyframes;
    /* Keyframe requests toward the publisher. */
    bool kf_pending;
    kg_time last_kf_request; /* 0 = never */
    uint64_t kf_requests;    /* requests actually emitted */
} kg_sc_layer;

typedef struct kg_sc_track {
    kg_sc_layer layer[KG_SC_LAYERS];
    /* Tunables (kg_sc_track_init sets the defaults in brackets). */
    double headroom;       /* a layer fits if bps <= estimate*headroom [1.0] */
    double up_factor;      /* go up only if estimate >= bps*up_factor [1.2] */
    kg_time up_hold;       /* ... for this long [2 s] */
    kg_time pli_interval;  /* per layer [500 ms] */
    kg_time stale_after;   /* a layer silent this long is gone [1 s] */
    kg_time kf_retry;      /* re-ask if the switch keyframe is late [1 s] */
    /* rid-based simulcast (RFC 8853, as Chromium sends it): the layers'
     * SSRCs are not in the SDP but learnt from the RTP stream ID header
     * extension (RFC 8852). rid_ext 0: SSRC-based. */
    uint8_t rid_ext;
    char rid[KG_SC_LAYERS][KG_SC_RID_LEN];
    kg_time last_remb; /* kaigi's last REMB to the publisher, 0 = never */
} kg_sc_track;

/* What kaigi tells a simulcast publisher it may send (REMB), once a
 * second: kaigi does not estimate the publisher's uplink, and without
 * such a ceiling Chromium stays at its 300 kbit/s start rate, which
 * leaves its top layers off. */
#define KG_SC_PUBLISH_REMB_BPS 3000000u
#define KG_SC_PUBLISH_REMB_EVERY KG_SEC

typedef struct kg_sc_receiver {
    int cur;       /* layer being forwarded, -1 before the first */
    int target;    /* layer wanted, -1 when none is arriving */
    int max_layer; /* highest layer the receiver wants (what it shows) */
    uint64_t estimate_bps;
    bool have_estimate;
    kg_time up_since; /* when the estimate began to allow target + 1 */
    kg_time kf_asked; /* when a keyframe of target was last asked for */
    /* Rewrite state: what the receiver has seen last. */
    bool started;
    uint16_t out_seq;  /* highest out seq sent */
    uint32_t out_ts;   /* out ts of the latest frame */
    uint32_t frame_ticks; /* ts step between frames seen lately */
    kg_time out_time;  /* when the latest packet went out */
    uint16_t out_pic;  /* 15-bit picture ID space */
    bool have_pic;
    uint8_t out_tl0;
    bool have_tl0;
    uint16_t switch_seq; /* in seq of the switch packet: older ones drop */
    uint16_t seq_delta;
    uint32_t ts_delta;
    uint16_t pic_delta;
    uint8_t tl0_delta;
    uint64_t switches;
    uint64_t dropped; /* packets of other layers, or older than a switch */
} kg_sc_receiver;

/* What one forwarded packet must carry toward the receiver. */
typedef struct kg_sc_out {
    uint16_t seq;
    uint32_t ts;
    int layer;
    bool switched; /* this packet is the keyframe that began a layer */
    bool has_pic;  /* the packet carries a picture ID: write pic */
    uint16_t pic;  /* 15-bit (only the low 7 bits go into a 7-bit one) */
    bool has_tl0;
    uint8_t tl0;
} kg_sc_out;

void kg_sc_track_init(kg_sc_track *t);

/* Declares layer idx (0..2) as ssrc with an expected bitrate (0 =
 * unknown). Returns 0, KG_ERR_INVAL (idx out of range, ssrc 0) or
 * KG_ERR_EXISTS (ssrc already used by another layer). */
int kg_sc_track_set_layer(kg_sc_track *t, int idx, uint32_t ssrc,
                          uint32_t target_bps);

/* rid-based layers: layer idx is sent with RTP stream ID rid (1..16
 * chars) in header extension ext_id (1..255). Returns 0 or KG_ERR_INVAL
 * (bad idx, empty or long rid, ext_id 0, a rid another layer has). */
int kg_sc_track_set_rid(kg_sc_track *t, int idx, const char *rid,
                        uint8_t ext_id);

/* For a packet from an SSRC no layer has yet: the layer whose rid the
 * packet's RTP stream ID extension names, if that layer has no SSRC yet;
 * else -1. The header is not authenticated when this is called (SRTP
 * leaves it in the clear): learn the SSRC (kg_sc_track_set_layer) only
 * once the packet has authenticated. */
int kg_sc_track_rid_layer(const kg_sc_track *t, const kg_rtp_hdr *h);

/* The layer index that ssrc belongs to, or -1. */
int kg_sc_track_layer_of(const kg_sc_track *t, uint32_t ssrc);

/* Counts one packet of layer idx (len bytes of RTP, payload the RTP
 * payload, for keyframe detection) arrived at now. Call once per packet
 * before kg_sc_forward for the receivers. A keyframe satisfies a pending
 * request for its layer. */
void kg_sc_track_on_packet(kg_sc_track *t, int idx, size_t len,
                           const uint8_t *payload, size_t payload_len,
                           kg_time now);

/* The bitrate kaigi assumes for layer idx: measured if known, else the
 * declared target, else 0. */
uint32_t kg_sc_layer_bps(const kg_sc_track *t, int idx);

/* Asks for a keyframe of layer idx (a receiver joined, switches, or sent
 * a PLI/FIR). Only marks it pending: kg_sc_track_poll_keyframes says when
 * to send. */
void kg_sc_track_want_keyframe(kg_sc_track *t, int idx);

/* Returns a bit mask of layers (bit i = layer i) for which a PLI must go
 * to the publisher now, and marks them sent. *next (if non-NULL) gets the
 * earliest time a pending request can go out (KG_TIME_NEVER if none). */
unsigned kg_sc_track_poll_keyframes(kg_sc_track *t, kg_time now,
                                    kg_time *next);

/* A receiver that will show at most max_layer (0..2; larger values are
 * clamped). base_seq / base_ts: its first outgoing seq and timestamp
 * (random, as kg_route draws them). */
void kg_sc_receiver_init(kg_sc_receiver *r, int max_layer, uint16_t base_seq,
                         uint32_t base_ts);

/* The receiver's new bandwidth estimate (REMB), in bit/s. */
void kg_sc_receiver_set_estimate(kg_sc_receiver *r, uint64_t bps);

/* What the receiver shows changed (e.g. a small tile): caps its layer. */
void kg_sc_receiver_set_max_layer(kg_sc_receiver *r, int max_layer);

/* Re-evaluates the receiver's target layer at now (done by kg_sc_forward
 * too; call it after a new estimate so that the keyframe request goes out
 * without waiting for the next packet). Asks the track for a keyframe of
 * a new target. Returns the target (-1: no layer is arriving). */
int kg_sc_receiver_update(kg_sc_track *t, kg_sc_receiver *r, kg_time now);

/* Decides whether packet h of layer idx goes to receiver r. Returns 1 and
 * fills out (call kg_sc_rewrite_vp8 on the receiver's copy of the payload
 * next), or 0 when the packet is not for this receiver (another layer, a
 * non-keyframe of a layer it is waiting to switch to, or a packet older
 * than its last switch). Call kg_sc_track_on_packet first. */
int kg_sc_forward(kg_sc_track *t, kg_sc_receiver *r, int idx,
                  const kg_rtp_hdr *h, kg_time now, kg_sc_out *out);

/* Rewrites, in place, the VP8 payload descriptor of the receiver's copy
 * of a packet that kg_sc_forward accepted: picture ID (7- or 15-bit, the
 * width it arrived with) and TL0PICIDX as out says. The descriptor's
 * length does not change. Returns 0, or an error from kg_vp8_desc_parse
 * (then the payload is untouched). */
int kg_sc_rewrite_vp8(const kg_sc_out *out, uint8_t *payload, size_t len);

#endif
