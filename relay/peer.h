/* A server-side peer transport, sans-IO: ICE-lite + DTLS server + SRTP
 * for one WebRTC PeerConnection of one participant.
 *
 * The media worker feeds it datagrams (already demultiplexed by RFC 7983
 * first byte) and the time; it returns datagrams to send and its next
 * deadline. It owns its DTLS session and SRTP contexts; keys never leave
 * it.
 */
#ifndef KG_PEER_H
#define KG_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "codec/err.h"
#include "crypto/dtls.h"
#include "crypto/srtp.h"
#include "relay/ice.h"

enum kg_peer_state {
    KG_PEER_NEW = 0,      /* waiting for the first valid ICE check */
    KG_PEER_DTLS = 1,     /* address selected, DTLS handshaking */
    KG_PEER_CONNECTED = 2, /* SRTP ready */
    KG_PEER_FAILED = 3,   /* DTLS failed or consent lapsed: tear down */
};

typedef struct kg_peer_stats {
    uint64_t rtp_in, rtcp_in, rtp_out, rtcp_out;
    uint64_t bytes_in, bytes_out;
    uint64_t srtp_auth_fail;
    uint64_t srtp_replay;
    uint64_t malformed;
    uint64_t stun_ok, stun_bad;
    uint64_t dtls_in;
    uint64_t ssrc_refused; /* SRTCP from one SSRC too many */
} kg_peer_stats;

/* libsrtp keeps a stream per SSRC that authenticates: an admitted but
 * hostile client could grow that without bound, so a transport accepts
 * SRTCP from at most this many SSRCs (RTP SSRCs are checked against the
 * SDP by the worker before decryption). */
#define KG_PEER_MAX_RTCP_SSRC 16

typedef struct kg_peer {
    enum kg_peer_state state;
    kg_ice_lite ice;
    kg_dtls *dtls;
    kg_srtp *srtp;
    kg_srtp_profile profile;
    char remote_fp[KG_DTLS_FINGERPRINT_LEN + 4];
    kg_dtls_ctx *dtls_ctx; /* borrowed, per worker */
    int fail_reason;       /* KG_ERR_* when FAILED */
    kg_peer_stats stats;
    uint32_t rtcp_ssrc[KG_PEER_MAX_RTCP_SSRC];
    size_t n_rtcp_ssrc;
    void *user; /* the worker's owner of this transport */
    kg_time connected_at;
    char cipher[64]; /* the DTLS cipher suite, kept past the DTLS state */
} kg_peer;

/* Once SRTP keys are derived kaigi needs nothing more from DTLS but to
 * repeat its last flight if the client did not get it. The OpenSSL state
 * (about 60 kB per transport, most of it buffers) is freed as soon as the
 * client proves it has its keys (an authenticated SRTP or SRTCP packet),
 * or this long after the handshake, whichever comes first: a client that
 * lost kaigi's last flight retransmits well within it. DTLS datagrams
 * arriving after that are ignored (consent freshness ends a transport). */
#define KG_PEER_DTLS_LINGER (60 * KG_SEC)

/* Sets up a peer with local ICE credentials, the remote ufrag and the
 * remote DTLS fingerprint from the client's SDP. Returns 0 or an error. */
int kg_peer_init(kg_peer *p, kg_dtls_ctx *ctx, const kg_ice_creds *local,
                 const char *remote_ufrag, const char *remote_fp,
                 kg_time now);
void kg_peer_free(kg_peer *p);

/* A parsed STUN message from addr. Writes a response into out and
 * returns its length (0 if none); *selected is set when the selected
 * address changed (the worker re-keys its address map). Errors: see
 * kg_ice_lite_on_stun. */
ssize_t kg_peer_on_stun(kg_peer *p, const uint8_t *pkt, size_t len,
                        const kg_stun_msg *msg, const struct sockaddr *addr,
                        kg_time now, uint8_t *out, size_t cap,
                        bool *selected);

/* A DTLS datagram from the selected address. Returns 0, or the DTLS
 * error (the peer is then FAILED), or KG_ERR_STATE once the DTLS state
 * was freed (the datagram is ignored). On the transition to CONNECTED the
 * SRTP session is made from the exported keys. */
int kg_peer_on_dtls(kg_peer *p, const uint8_t *pkt, size_t len, kg_time now);

/* Whether the DTLS state is still held (see KG_PEER_DTLS_LINGER). */
static inline bool kg_peer_holds_dtls(const kg_peer *p)
{
    return p->dtls != NULL;
}

/* Next DTLS datagram to send to the selected address, 0 if none. */
ssize_t kg_peer_pull(kg_peer *p, uint8_t *buf, size_t cap);

/* Earliest of the ICE consent deadline, the DTLS retransmission
 * deadline and, once connected, the end of the DTLS linger. */
kg_time kg_peer_deadline(const kg_peer *p);

/* Runs timers due at now (frees the DTLS state when its linger is
 * over). Returns 0, or KG_ERR_TIMEOUT when consent lapsed or the
 * handshake timed out (the peer is then FAILED). */
int kg_peer_on_timeout(kg_peer *p, kg_time now);

/* Decrypts an SRTP (rtcp false) or SRTCP (rtcp true) packet in place;
 * the first one that authenticates frees the DTLS state.
 * Returns 0, KG_ERR_STATE before CONNECTED, KG_ERR_AUTH, KG_ERR_REPLAY,
 * KG_ERR_FULL (SRTCP from a new SSRC past KG_PEER_MAX_RTCP_SSRC),
 * KG_ERR_MALFORMED; each failure is counted in stats. */
int kg_peer_unprotect(kg_peer *p, uint8_t *pkt, size_t *len, bool rtcp);

/* Encrypts in place (cap is the buffer size). Returns 0 or an error. */
int kg_peer_protect(kg_peer *p, uint8_t *pkt, size_t *len, size_t cap,
                    bool rtcp);

const char *kg_peer_state_name(enum kg_peer_state s);

#endif
