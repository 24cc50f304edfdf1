/* The routing table of one room, sans-IO.
 *
 * A room holds the tracks its members publish; each track holds routes to
 * the members that subscribe to it. Forwarding one RTP packet yields, per
 * route, the payload type, sequence number, timestamp and SSRC that this
 * receiver must see: every receiver has its own SSRC (announced in its
 * subscribe SDP) and its own randomly based sequence and timestamp space,
 * so no two receivers' streams are linked and a receiver's stream stays
 * continuous when kaigi changes what feeds it.
 *
 * Members are opaque pointers owned by the caller (the media worker). The
 * room never routes a member's media back to itself.
 */
#ifndef KG_ROOM_H
#define KG_ROOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec/err.h"
#include "codec/rtp.h"
#include "relay/simulcast.h"
#include "relay/rtcp_report.h"

enum kg_track_kind { KG_TRACK_AUDIO = 0, KG_TRACK_VIDEO = 1 };

typedef struct kg_route {
    void *sub;         /* receiving member, borrowed */
    uint32_t out_ssrc; /* what the receiver sees */
    uint8_t out_pt;
    bool started;        /* first packet seen: deltas fixed */
    uint16_t base_seq;   /* random first outgoing seq */
    uint32_t base_ts;    /* random first outgoing timestamp */
    uint16_t seq_delta;  /* out = in + delta (mod 2^16) */
    uint32_t ts_delta;   /* out = in + delta (mod 2^32) */
    uint64_t packets;
    uint64_t bytes;
    kg_sc_receiver sc; /* layer choice and rewrite, if the track has sc */
    kg_rtcp_tx rtcp; /* its last packet, SRs sent, the receiver's RRs */
} kg_route;

/* What a receiver learns from one incoming RTP stream (RFC 3550 section
 * 6.4.1 and appendices A.1, A.3, A.8): the extended highest sequence
 * number, packets received, and the interarrival jitter. */
typedef struct kg_rx_stats {
    bool started;
    uint16_t max_seq;  /* highest sequence number seen */
    uint32_t cycles;   /* wraps of max_seq, times 2^16 */
    uint32_t base_seq; /* the first sequence number */
    uint32_t bad_seq;  /* a large jump: resynchronize if seq follows it */
    uint64_t received; /* packets, duplicates and late ones included */
    bool have_transit;
    uint32_t transit;  /* arrival - RTP timestamp, in clock units */
    uint32_t jitter;   /* RFC 3550 A.8: jitter in clock units, times 16 */
    uint32_t clock_rate;
} kg_rx_stats;

typedef struct kg_track {
    void *pub; /* publishing member, borrowed */
    uint32_t in_ssrc;
    enum kg_track_kind kind;
    kg_route *routes;
    size_t n_routes;
    size_t cap_routes;
    kg_time last_keyframe_request;
    uint64_t packets;
    uint64_t bytes;
    kg_rx_stats rx; /* loss and jitter of what the publisher sends */
    /* Simulcast layers (owned), NULL for a single stream. in_ssrc is then
     * the lowest layer's SSRC; kg_room_find_track finds every layer's. */
    kg_sc_track *sc;
    kg_rtcp_rx rtcp; /* the publisher's last SR, the RR interval */
    uint8_t audio_level_id; /* RFC 6464 extmap id, 0: none (set by the
                               worker; the room does not read it) */
    /* Video only (NULL for audio, which has Opus FEC instead): the last
     * second of the publisher's packets, to answer receivers' NACKs, and
     * the publisher's losses, to NACK upstream (relay/nack.h). Owned. */
    struct kg_rtx_cache *rtx;
    struct kg_nack_gen *nack;
    /* Not forwarded (KG_CMD_BLOCK): a screen share the meeting's policy
     * no longer allows. Set and read by the worker only. */
    bool blocked;
} kg_track;

typedef struct kg_room {
    uint64_t id;
    kg_track **tracks; /* pointers stay valid while the track exists */
    size_t n_tracks;
    size_t cap_tracks;
} kg_room;

/* One forwarded copy: where to and with which header fields. */
typedef struct kg_fwd {
    void *sub;
    const kg_route *route;
    uint8_t pt;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
} kg_fwd;

void kg_room_init(kg_room *r, uint64_t id);
/* Frees every track and route. Members are not touched. */
void kg_room_free(kg_room *r);

/* Adds a track published by pub; a video track gets its retransmission
 * cache and NACK generator. Returns 0, KG_ERR_EXISTS if pub already
 * publishes in_ssrc, KG_ERR_NOMEM. */
int kg_room_add_track(kg_room *r, void *pub, uint32_t in_ssrc,
                      enum kg_track_kind kind);

/* The track pub publishes with in_ssrc, or NULL. */
kg_track *kg_room_find_track(const kg_room *r, const void *pub,
                             uint32_t in_ssrc);

/* Routes track (pub, in_ssrc) to sub as out_ssrc/out_pt. The first
 * outgoing sequence number and timestamp are drawn from the CSPRNG.
 * Returns 0, KG_ERR_NOTFOUND (no such track), KG_ERR_DENIED (sub is the
 * publisher), KG_ERR_EXISTS (sub already receives this track, or out_ssrc
 * is already used toward sub), KG_ERR_NOMEM. */
int kg_room_add_route(kg_room *r, const void *pub, uint32_t in_ssrc,
                      void *sub, uint32_t out_ssrc, uint8_t out_pt);

/* Removes every track m publishes and every route to m. */
void kg_room_remove_member(kg_room *r, const void *m);

/* Computes the copies of packet h (published on track t, arrived at now)
 * for every route of t, into out (at most cap). Returns the number of
 * copies. The first packet a route sees fixes its deltas so that it
 * leaves as base_seq / base_ts. Also updates t->rx (loss, jitter). */
size_t kg_room_route(kg_track *t, const kg_rtp_hdr *h, kg_time now,
                     kg_fwd *out, size_t cap);

/* Makes track (pub, in_ssrc) a simulcast track whose layers, lowest
 * first, are ssrcs[0..n-1] (ssrcs[0] should be in_ssrc; 2 <= n <= 3),
 * with expected bitrates bps[i] (0 = unknown; bps may be NULL). Routes
 * made afterwards get a kg_sc_receiver. Returns 0, KG_ERR_NOTFOUND,
 * KG_ERR_INVAL (bad n, an SSRC 0 or repeated), KG_ERR_EXISTS (an SSRC is
 * another track's), KG_ERR_STATE (already simulcast), KG_ERR_NOMEM. */
int kg_room_set_simulcast(kg_room *r, const void *pub, uint32_t in_ssrc,
                          const uint32_t *ssrcs, const uint32_t *bps,
                          size_t n);

/* Makes track (pub, in_ssrc) a rid-based simulcast track: layer i (lowest
 * first) is sent with RTP stream ID rids[i] in header extension ext_id;
 * the layers' SSRCs are learnt from traffic (kg_room_find_rid_track).
 * in_ssrc is then only the track's name. Returns 0, KG_ERR_NOTFOUND,
 * KG_ERR_INVAL (bad n, rid or ext_id), KG_ERR_STATE, KG_ERR_NOMEM. */
int kg_room_set_simulcast_rids(kg_room *r, const void *pub, uint32_t in_ssrc,
                               const char (*rids)[KG_SC_RID_LEN], size_t n,
                               uint8_t ext_id);

/* The rid-based simulcast track of pub that an RTP packet from a new SSRC
 * names in its RTP stream ID extension, with the layer in *layer; NULL if
 * none. h comes from the clear header of a packet not yet authenticated:
 * learn its SSRC only after SRTP has accepted it. */
kg_track *kg_room_find_rid_track(const kg_room *r, const void *pub,
                                 const kg_rtp_hdr *h, int *layer);

/* The RTP clock rate kaigi uses for a kind: 48000 (Opus), 90000 (VP8). */
uint32_t kg_track_clock_rate(enum kg_track_kind kind);

/* Counts one RTP packet (seq, ts) that arrived at now (ns) on a stream
 * with the given clock rate. Per RFC 3550 A.1 without probation (the SSRC
 * was negotiated and the packet authenticated): a jump of 3000 or more
 * ahead, or more than 100 behind, is not counted unless the next packet
 * follows it, which restarts the counts (the sender restarted). */
void kg_rx_stats_update(kg_rx_stats *s, uint16_t seq, uint32_t ts,
                        kg_time now, uint32_t clock_rate);

/* Packets expected from the first to the extended highest sequence
 * number (0 before any packet). */
uint64_t kg_rx_stats_expected(const kg_rx_stats *s);

/* expected - received, or 0 if duplicates make that negative. */
uint64_t kg_rx_stats_lost(const kg_rx_stats *s);

/* The interarrival jitter in milliseconds. */
double kg_rx_stats_jitter_ms(const kg_rx_stats *s);

/* --- loss recovery on a video track (relay/nack.h) ------------------- */

/* Before a publisher's packet of t (sequence number seq) is routed: notes
 * it in t's NACK generator and caches a copy. Returns an enum
 * kg_nack_seen; KG_NACK_DUPLICATE means a second copy of a packet already
 * forwarded (asked for twice, answered twice): drop it. Returns
 * KG_NACK_NEW and does nothing for a track without NACK (audio). */
int kg_track_rtp_in(kg_track *t, const uint8_t *pkt, size_t len,
                    uint16_t seq, kg_time now);

/* A packet that reached kaigi late (recovered by its own NACK) was just
 * forwarded to every receiver; a receiver's NACK for it within this time
 * most likely crossed that copy, and answering it would only send the
 * packet twice. Were the copy lost, the receiver asks again after its
 * retry interval, which is longer (RTT + KG_NACK_RETRY_SLACK). */
#define KG_TRACK_LATE_HOLDOFF (20 * KG_MS)

/* The packet route rt of t sent as out_seq, from t's cache, rewritten
 * into buf as it was first forwarded (pt, seq, timestamp and SSRC of the
 * route). Returns its length, or KG_ERR_NOTFOUND when the cache does not
 * hold it (kaigi lost it too), KG_ERR_AGAIN when it came late and went
 * out less than KG_TRACK_LATE_HOLDOFF ago, KG_ERR_INVAL when out_seq was
 * never sent on rt (before the route started, or ahead of it; or t has no
 * cache), KG_ERR_NOSPACE when it does not fit in cap. */
ssize_t kg_track_resend(kg_track *t, const kg_route *rt, uint16_t out_seq,
                        kg_time now, uint8_t *buf, size_t cap);

/* Writes into buf an RTCP generic NACK from sender_ssrc to t's publisher
 * for the missing packets of t due at now (at most 64), and sets *n_seqs
 * to their number. Returns the packet's length, 0 when nothing is due,
 * or KG_ERR_NOSPACE. Missing packets past their last try are given up
 * (counted in t->nack->given_up). */
ssize_t kg_track_nack_poll(kg_track *t, kg_time now, uint32_t sender_ssrc,
                           uint8_t *buf, size_t cap, size_t *n_seqs);

/* Finds the track a receiver knows as out_ssrc (for its PLI/FIR/NACK).
 * Returns the track or NULL; *route receives the route if non-NULL. */
kg_track *kg_room_find_by_out(const kg_room *r, const void *sub,
                              uint32_t out_ssrc, kg_route **route);

/* Packet h of track t arrived at now and kaigi chose not to forward it
 * (a room's loudest-N audio). It counts in t's receive statistics as a
 * routed packet would, and its sequence number is taken out of every
 * started route: receivers see the stream go on without a gap, only
 * with a timestamp jump, as after a DTX pause. */
void kg_room_skip(kg_track *t, const kg_rtp_hdr *h, kg_time now);

#endif
