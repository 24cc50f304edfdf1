/* RTCP sender and receiver reports per leg (RFC 3550 sections 6.4, A.3),
 * sans-IO.
 *
 * kaigi is the RTP endpoint of every leg it terminates, so it reports on
 * each one itself:
 *  - a receiving leg (a track kaigi receives from a publisher) gets a
 *    receiver report block built from the track's kg_rx_stats and the
 *    last SR the publisher sent for it (kg_rtcp_rx);
 *  - a sending leg (a route kaigi forwards to a receiver) gets a sender
 *    report (kg_rtcp_tx), and the receiver's report blocks about it give
 *    its round-trip time, loss and jitter.
 *
 * Nothing here reads a clock: `now` is the caller's monotonic kg_time and
 * `ntp` its wall clock as NTP 32.32 fixed point, read at the same moment.
 * Nothing allocates; every state struct is embedded by its owner (kg_track
 * and kg_route in relay/room.h, the client's streams in tools/).
 *
 * How the SR's RTP timestamp is chosen (the receiver's lip sync depends on
 * it). kaigi rewrites timestamps per receiver (route ts_delta) and stamps
 * its SRs with its own wall clock (it must: the receiver's RR echoes that
 * clock back as LSR for RTT). The RTP timestamp is then:
 *  1. from the publisher's last SR for the track, when there is one no
 *     older than KG_RTCP_SR_MAX_AGE: its RTP timestamp + ts_delta, plus
 *     the time since that SR arrived times the clock rate. This treats the
 *     SR's arrival as its send time; audio and video SRs of one publisher
 *     travel the same path, so both are shifted by the same one-way delay
 *     and their relative timing (what A/V sync needs) survives, to within
 *     the difference in their delays (milliseconds).
 *  2. else from the last packet kaigi forwarded on the route: its
 *     timestamp plus the time since it left times the clock rate. This
 *     follows the media clock but not the capture time of a packet that
 *     waited in the publisher's pacer, so lip sync may be off by that
 *     much until the publisher's first SR arrives.
 */
#ifndef KG_RTCP_REPORT_H
#define KG_RTCP_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec/err.h"
#include "codec/rtcp.h"

struct kg_rx_stats;
struct kg_track;
struct kg_route;

/* Seconds from 1900-01-01 (NTP era 0) to 1970-01-01 (Unix epoch). */
#define KG_NTP_UNIX_OFFSET 2208988800u
/* A publisher SR older than this no longer maps its RTP clock. */
#define KG_RTCP_SR_MAX_AGE (30 * KG_SEC)
/* RFC 3550 6.2: the nominal report interval kaigi uses per transport. */
#define KG_RTCP_INTERVAL KG_SEC
/* The longest CNAME kaigi writes (RFC 3550 allows 255). */
#define KG_RTCP_CNAME_MAX 48
/* RTT samples above this are not believed (a stale or forged LSR). */
#define KG_RTCP_RTT_MAX_MS 10000.0

/* NTP 32.32 fixed point for a wall-clock time in ns since the Unix
 * epoch. */
uint64_t kg_ntp_from_unix_ns(uint64_t unix_ns);

/* The middle 32 bits of an NTP timestamp (16.16 seconds): LSR's unit. */
static inline uint32_t kg_ntp_mid32(uint64_t ntp)
{
    return (uint32_t)(ntp >> 16);
}

/* A delay in ns as 1/65536 s (DLSR's unit), saturating at UINT32_MAX. */
uint32_t kg_rtcp_q16_from_ns(kg_time ns);

/* The next report interval: base times a uniform factor in [0.5, 1.5)
 * taken from rnd (RFC 3550 6.3.1 randomisation, so that transports set
 * up together do not report in lockstep). */
kg_time kg_rtcp_report_interval(kg_time base, uint32_t rnd);

/* --- round-trip time ------------------------------------------------- */

/* Latest and smoothed RTT of one leg (or one participant's legs). */
typedef struct kg_rtt {
    bool valid;         /* a sample has been taken */
    uint32_t last_q16;  /* latest, 1/65536 s */
    double last_ms;
    double smoothed_ms; /* SRTT += (sample - SRTT) / 8, as RFC 6298 */
    uint64_t samples;
} kg_rtt;

/* Takes one sample in 1/65536 s. */
void kg_rtt_update(kg_rtt *r, uint32_t rtt_q16);

/* RFC 3550 6.4.1: RTT = A - LSR - DLSR, where A is the middle 32 bits of
 * the NTP time the report block arrived (ntp_now). Returns the RTT in
 * 1/65536 s (>= 0), KG_ERR_AGAIN when LSR is 0 (the receiver has had no
 * SR from us yet), KG_ERR_INVAL when the result is negative or above
 * KG_RTCP_RTT_MAX_MS (an LSR we never sent, or clocks stepped). Returned
 * as int64_t so that every uint32 RTT fits beside the errors. */
int64_t kg_rtcp_rtt_q16(uint32_t lsr, uint32_t dlsr, uint64_t ntp_now);

/* --- receiving leg --------------------------------------------------- */

/* What a receiver keeps about one incoming stream beside its kg_rx_stats:
 * the counts at its last report (for the fraction lost of the next
 * interval) and the sender's last SR. */
typedef struct kg_rtcp_rx {
    uint64_t expected_prior, received_prior; /* RFC 3550 A.3 */
    bool have_sr;
    uint64_t sr_ntp;    /* the sender's NTP timestamp */
    uint32_t sr_rtp_ts; /* its RTP timestamp */
    kg_time sr_at;      /* when it arrived (caller's clock) */
    uint64_t srs_in;
    uint8_t last_fraction; /* of the last block built, for stats */
} kg_rtcp_rx;

/* Records an SR about this stream that arrived at now. */
void kg_rtcp_rx_on_sr(kg_rtcp_rx *rx, uint64_t ntp, uint32_t rtp_ts,
                      kg_time now);

/* Fills a report block about stream ssrc from s and rx at now, and starts
 * the next loss interval. fraction_lost: lost / expected over the
 * interval since the previous block (0 when packets were duplicated);
 * cumulative_lost: expected - received since the first packet, clamped
 * to 24-bit signed; highest_seq: the extended highest sequence number;
 * jitter in timestamp units; LSR and DLSR 0 before the first SR. Returns
 * 0, or KG_ERR_AGAIN (nothing written, rx untouched) when nothing has
 * been received on the stream yet. */
int kg_rtcp_rx_block(kg_rtcp_rx *rx, const struct kg_rx_stats *s,
                     uint32_t ssrc, kg_time now, kg_rtcp_report_block *out);

/* --- sending leg ----------------------------------------------------- */

/* What a sender keeps about one outgoing stream: when its last packet
 * left, and what the receiver reported about it. */
typedef struct kg_rtcp_tx {
    bool have_last;
    uint32_t last_ts; /* RTP timestamp of the last packet, as sent */
    kg_time last_at;
    uint64_t srs_sent;
    /* from the receiver's latest report block about this stream */
    bool have_rr;
    uint8_t fraction_lost;   /* 1/256 units */
    int32_t cumulative_lost; /* 24-bit signed, as reported */
    uint32_t jitter;         /* timestamp units */
    uint64_t rrs_in;
    kg_rtt rtt;
} kg_rtcp_tx;

/* Records an RTP packet with timestamp ts (as sent) leaving at now. */
void kg_rtcp_tx_on_packet(kg_rtcp_tx *tx, uint32_t ts, kg_time now);

/* The RTP timestamp the stream has at now (see the top of this file):
 * from src (the publisher's SR, may be NULL) shifted by ts_delta when it
 * has an SR no older than KG_RTCP_SR_MAX_AGE, else from tx's last packet.
 * Returns 0 and sets *ts, or KG_ERR_AGAIN when neither is known. */
int kg_rtcp_tx_rtp_ts(const kg_rtcp_tx *tx, const kg_rtcp_rx *src,
                      uint32_t ts_delta, uint32_t clock_rate, kg_time now,
                      uint32_t *ts);

/* Takes a report block the receiver sent about this stream, which arrived
 * at wall-clock ntp_now: keeps its loss and jitter, and an RTT sample when
 * it has one. Returns the RTT in 1/65536 s (>= 0), or KG_ERR_AGAIN /
 * KG_ERR_INVAL as kg_rtcp_rtt_q16 (loss and jitter are kept anyway). */
int64_t kg_rtcp_tx_on_block(kg_rtcp_tx *tx, const kg_rtcp_report_block *b,
                            uint64_t ntp_now);

/* The receiver-reported jitter in ms, for a stream of clock_rate. */
double kg_rtcp_tx_jitter_ms(const kg_rtcp_tx *tx, uint32_t clock_rate);

/* --- kaigi's legs (kg_track, kg_route of relay/room.h) --------------- */

/* One SR's sender info. */
typedef struct kg_rtcp_sender {
    uint32_t ssrc;
    uint64_t ntp;
    uint32_t rtp_ts;
    uint32_t packets, octets; /* mod 2^32, RFC 3550 6.4.1 */
    char cname[KG_RTCP_CNAME_MAX];
} kg_rtcp_sender;

/* The SR of route rt of track t at (now, ntp): its out SSRC, the route's
 * packet and payload octet counts, the RTP timestamp from
 * kg_rtcp_tx_rtp_ts with the publisher's SR of t. cname is left empty.
 * Returns 0, or KG_ERR_AGAIN when the route has forwarded nothing yet (it
 * is not a sender yet: no SR is due). */
int kg_rtcp_route_sr(const struct kg_track *t, const struct kg_route *rt,
                     kg_time now, uint64_t ntp, kg_rtcp_sender *out);

/* A report block about track t (what its publisher sends kaigi), as
 * kg_rtcp_rx_block on t's counters. */
int kg_rtcp_track_block(struct kg_track *t, kg_time now,
                        kg_rtcp_report_block *out);

/* --- compound packets ------------------------------------------------ */

/* Writes one compound packet: an SR for each of s[0..n) with no report
 * blocks, then one SDES with a CNAME chunk for each of them (RFC 3550
 * 6.1: SR first, SDES CNAME in every compound). Writes as many as fit in
 * cap, at least one, and sets *written. Returns the length, KG_ERR_INVAL
 * (n == 0, a CNAME empty or longer than KG_RTCP_CNAME_MAX - 1), or
 * KG_ERR_NOSPACE (not even one fits). */
ssize_t kg_rtcp_write_srs(const kg_rtcp_sender *s, size_t n, uint8_t *buf,
                          size_t cap, size_t *written);

/* Writes one compound packet: an RR from ssrc with the blocks b[0..n)
 * that fit (at most KG_RTCP_MAX_BLOCKS), then SDES with ssrc's cname.
 * n == 0 writes an empty RR. Sets *written to the blocks written. Returns
 * the length, KG_ERR_INVAL (bad CNAME) or KG_ERR_NOSPACE. */
ssize_t kg_rtcp_write_rr_compound(uint32_t ssrc, const char *cname,
                                  const kg_rtcp_report_block *b, size_t n,
                                  uint8_t *buf, size_t cap, size_t *written);

#endif
