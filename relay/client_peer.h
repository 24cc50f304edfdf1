/* A client's media transport, sans-IO: ICE (controlling, one candidate
 * pair) + DTLS 1.2 (client role) + SRTP, as kaigi-client and kaigi-bench
 * use it toward one kaigi transport.
 *
 * Datagrams and a time go in (kg_client_peer_recv), datagrams to send come
 * out (kg_client_peer_poll) together with the next deadline
 * (kg_client_peer_deadline). The object never opens a socket and never
 * reads the clock. Received datagrams are demultiplexed as RFC 7983 says:
 * first byte 0..3 STUN, 20..63 DTLS, 128..191 SRTP or SRTCP (RFC 5761
 * section 4: a second byte of 192..223 is an RTCP packet type).
 *
 * Lifecycle: ICE checks go out at once; when a check with USE-CANDIDATE
 * succeeds, the DTLS handshake starts (this side is the DTLS client, the
 * server answers a=setup:passive); when it completes and the fingerprint
 * matches, SRTP keys are exported and the peer is CONNECTED.
 */
#ifndef KG_CLIENT_PEER_H
#define KG_CLIENT_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec/err.h"
#include "crypto/dtls.h"
#include "crypto/srtp.h"
#include "relay/ice.h"

enum kg_client_peer_state {
    KG_CLIENT_PEER_ICE = 0,       /* sending connectivity checks */
    KG_CLIENT_PEER_DTLS = 1,      /* ICE connected, handshaking */
    KG_CLIENT_PEER_CONNECTED = 2, /* SRTP keys in place */
    KG_CLIENT_PEER_FAILED = 3,    /* DTLS failed, or ICE consent lapsed */
    KG_CLIENT_PEER_CLOSED = 4,    /* kg_client_peer_close, or close_notify */
};

/* What kg_client_peer_recv found in a datagram. */
enum {
    KG_CLIENT_PEER_CONTROL = 0, /* STUN or DTLS, consumed */
    KG_CLIENT_PEER_RTP = 1,     /* decrypted RTP in place */
    KG_CLIENT_PEER_RTCP = 2,    /* decrypted (compound) RTCP in place */
};

typedef struct kg_client_peer_stats {
    uint64_t stun_in, stun_bad;
    uint64_t dtls_in;
    uint64_t srtp_in, srtcp_in;
    uint64_t unprotect_fail; /* auth or malformed (replays: below) */
    uint64_t dropped;        /* unknown first byte, or media before keys */
    /* Replays: with NACK a packet can rightly come twice (a resend that
     * crossed the first copy), so they are not failures. */
    uint64_t replays;
} kg_client_peer_stats;

typedef struct kg_client_peer kg_client_peer;

/* Creates a peer. ctx must be a KG_DTLS_CLIENT context and outlive the
 * peer; local and remote are copied (remote: the server's ICE ufrag and
 * password from its SDP); remote_fp is the server's SHA-256 fingerprint
 * from its SDP. Returns NULL on allocation or DTLS failure. */
kg_client_peer *kg_client_peer_new(kg_dtls_ctx *ctx, const kg_ice_creds *local,
                                   const kg_ice_creds *remote,
                                   const char *remote_fp, kg_time now);
void kg_client_peer_del(kg_client_peer *p);

/* Feeds one received datagram. pkt is modified in place: SRTP/SRTCP is
 * decrypted and *out_len receives the plaintext length.
 * Returns KG_CLIENT_PEER_CONTROL (STUN/DTLS handled; there may now be
 * datagrams to poll), KG_CLIENT_PEER_RTP or KG_CLIENT_PEER_RTCP, or an
 * error: KG_ERR_AUTH / KG_ERR_REPLAY / KG_ERR_MALFORMED from SRTP (counted
 * in unprotect_fail, replays in replays), KG_ERR_STATE for media before keys or an unknown
 * first byte or a DTLS record before our ClientHello (counted in
 * dropped), the STUN/ICE error for a bad or
 * unexpected STUN message, or a DTLS error (the peer is then FAILED when
 * the handshake failed). Errors are never fatal for the caller: drop the
 * datagram and carry on, looking at kg_client_peer_state(). */
int kg_client_peer_recv(kg_client_peer *p, uint8_t *pkt, size_t len,
                        kg_time now, size_t *out_len);

/* Writes the next datagram to send at now into buf: DTLS flights first
 * (retransmissions included, once their timer has passed), then a due
 * ICE check. Returns its length, 0 when nothing is due (call again after
 * kg_client_peer_deadline), or an error (KG_ERR_NOSPACE: cap too small). */
ssize_t kg_client_peer_poll(kg_client_peer *p, kg_time now, uint8_t *buf,
                            size_t cap);

/* When kg_client_peer_poll must be called next; KG_TIME_NEVER if not. */
kg_time kg_client_peer_deadline(const kg_client_peer *p);

/* Protects an RTP (or RTCP) packet of len bytes in place; cap is the
 * buffer size (keep KG_SRTP_MAX_TRAILER spare). Returns the protected
 * length, KG_ERR_STATE before CONNECTED, KG_ERR_NOSPACE or
 * KG_ERR_CRYPTO. */
ssize_t kg_client_peer_send_rtp(kg_client_peer *p, uint8_t *pkt, size_t len,
                                size_t cap);
ssize_t kg_client_peer_send_rtcp(kg_client_peer *p, uint8_t *pkt, size_t len,
                                 size_t cap);

/* Sends DTLS close_notify (poll it out) and moves to CLOSED. */
void kg_client_peer_close(kg_client_peer *p);

enum kg_client_peer_state kg_client_peer_state(const kg_client_peer *p);
const char *kg_client_peer_state_name(enum kg_client_peer_state s);

/* The negotiated SRTP profile (KG_SRTP_NONE before CONNECTED), and the
 * DTLS cipher suite and version ("" before CONNECTED). Borrowed. */
kg_srtp_profile kg_client_peer_profile(const kg_client_peer *p);
const char *kg_client_peer_cipher(const kg_client_peer *p);
const char *kg_client_peer_version(const kg_client_peer *p);

/* The DTLS error that failed the peer (0 if none). */
int kg_client_peer_error(const kg_client_peer *p);

const kg_client_peer_stats *kg_client_peer_get_stats(const kg_client_peer *p);

/* RFC 7983 / RFC 5761 classification of a datagram's first bytes. */
static inline bool kg_client_peer_is_rtcp(const uint8_t *pkt, size_t len)
{
    return len >= 2 && pkt[1] >= 192 && pkt[1] <= 223;
}

#endif
