/* DTLS 1.2 for DTLS-SRTP (RFC 5764), sans-IO on OpenSSL memory BIOs.
 *
 * Datagrams and a time go in (kg_dtls_read), datagrams come out
 * (kg_dtls_pull) with a retransmission deadline (kg_dtls_deadline). The
 * object never touches a socket or the clock. This file and srtp.c are
 * the only ones that include OpenSSL/libsrtp headers for DTLS/SRTP.
 */
#ifndef KG_DTLS_H
#define KG_DTLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "codec/err.h"
#include "crypto/srtp.h"

/* "sha-256 " is not included: the hex form "AB:CD:..." (95 chars). */
#define KG_DTLS_FINGERPRINT_LEN 96

typedef struct kg_dtls_cert kg_dtls_cert;

/* Makes a fresh self-signed ECDSA P-256 certificate (random serial,
 * CN "kaigi", valid from one day ago for 30 days). NULL on failure. */
kg_dtls_cert *kg_dtls_cert_new(void);
void kg_dtls_cert_del(kg_dtls_cert *c);

/* The certificate's SHA-256 fingerprint as upper-case hex pairs joined
 * by ':' (what SDP a=fingerprint:sha-256 carries). Borrowed. */
const char *kg_dtls_cert_fingerprint(const kg_dtls_cert *c);

enum kg_dtls_role { KG_DTLS_SERVER = 0, KG_DTLS_CLIENT = 1 };

/* Context flags. */
#define KG_DTLS_ALLOW_LEGACY_SRTP 0x1u /* also offer AES128_CM_SHA1_80 */

typedef struct kg_dtls_ctx kg_dtls_ctx; /* one SSL_CTX; shared by the
                                           sessions of one thread */

/* use_srtp profiles in this order: SRTP_AEAD_AES_256_GCM,
 * SRTP_AEAD_AES_128_GCM, then SRTP_AES128_CM_SHA1_80 only with
 * KG_DTLS_ALLOW_LEGACY_SRTP. The server role enables cookie exchange
 * (HelloVerifyRequest) with an HMAC cookie keyed by a random secret.
 * The certificate is borrowed and must outlive the context.
 * NULL on failure. */
kg_dtls_ctx *kg_dtls_ctx_new(const kg_dtls_cert *cert, enum kg_dtls_role role,
                             unsigned flags);

/* Like kg_dtls_ctx_new, but offers (client) or accepts (server, which
 * picks the first of ITS list that the client offers) exactly the n
 * profiles given, in that order. For tests and for clients that emulate
 * a browser: Chromium offers AES128_CM_SHA1_80, AEAD_AES_256_GCM,
 * AEAD_AES_128_GCM. NULL on failure (n == 0, unknown profile). */
kg_dtls_ctx *kg_dtls_ctx_new_profiles(const kg_dtls_cert *cert,
                                      enum kg_dtls_role role,
                                      const kg_srtp_profile *profiles,
                                      size_t n);

/* The context must outlive every session made from it. */
void kg_dtls_ctx_del(kg_dtls_ctx *ctx);

enum kg_dtls_state {
    KG_DTLS_HANDSHAKING = 0,
    KG_DTLS_CONNECTED = 1, /* handshake done, fingerprint verified, keys */
    KG_DTLS_FAILED = 2,
    KG_DTLS_CLOSED = 3, /* close_notify received */
};

typedef struct kg_dtls kg_dtls;

/* One session. remote_fp is the peer's SHA-256 fingerprint from its SDP
 * (hex with colons, case-insensitive); the handshake fails with
 * KG_ERR_FINGERPRINT if the peer's certificate does not match.
 * cookie_peer is an opaque identity of the peer (its transport address
 * bytes) mixed into the server's cookie; may be NULL for the client.
 * NULL on failure. */
kg_dtls *kg_dtls_new(kg_dtls_ctx *ctx, const char *remote_fp,
                     const void *cookie_peer, size_t cookie_peer_len,
                     kg_time now);
void kg_dtls_del(kg_dtls *d);

/* Client: starts the handshake (queues the ClientHello). Server: no-op.
 * Returns 0 or an error. */
int kg_dtls_start(kg_dtls *d, kg_time now);

/* Feeds one received datagram. Returns 0 (progress or nothing to do),
 * KG_ERR_FINGERPRINT, KG_ERR_SRTP_PROFILE (the peer offered no SRTP
 * profile this context accepts), KG_ERR_CRYPTO (another handshake
 * failure; either way the state becomes FAILED), KG_ERR_CLOSED. Application data is discarded (kaigi sends
 * none over DTLS). A datagram that is not DTLS at all (kg_dtls_is false)
 * is dropped with KG_ERR_MALFORMED and changes nothing; malformed
 * records inside a DTLS datagram are dropped silently, as RFC 6347 4.1.2.7
 * asks. Once FAILED, every call returns the error that failed it. */
int kg_dtls_read(kg_dtls *d, const uint8_t *pkt, size_t len, kg_time now);

/* Takes the next datagram to send, if any. Returns its length, 0 when
 * nothing is queued, or KG_ERR_NOSPACE if cap is too small (the datagram
 * stays queued). */
ssize_t kg_dtls_pull(kg_dtls *d, uint8_t *buf, size_t cap);

/* When kg_dtls_on_timeout must next be called, KG_TIME_NEVER if not. */
kg_time kg_dtls_deadline(const kg_dtls *d);

/* Retransmits the last flight if the deadline passed (datagrams become
 * available from kg_dtls_pull). Fails the handshake (KG_ERR_TIMEOUT)
 * after the retransmission budget. Returns 0 or an error.
 *
 * Schedule: the first retransmission 100 ms after a flight, doubling
 * each time up to 6.4 s; the handshake fails at the first timeout that
 * falls 30 s or more after the flight was first sent (10 sends in all).
 * OpenSSL 3.0 also keeps its own retransmission timer on the wall clock
 * (gettimeofday) and acts on it only when it has expired; kaigi sets
 * that timer to the same schedule, so the two agree when kg_time runs
 * at wall-clock rate. A simulated clock in tests must move the wall
 * clock OpenSSL sees too (tests/dtls_test.c shows how). */
int kg_dtls_on_timeout(kg_dtls *d, kg_time now);

enum kg_dtls_state kg_dtls_state(const kg_dtls *d);

/* After CONNECTED: exports the SRTP keying material (RFC 5764 4.2,
 * "EXTRACTOR-dtls_srtp") and splits it into local/remote halves by role.
 * Returns 0 or KG_ERR_STATE. */
int kg_dtls_srtp_keys(const kg_dtls *d, kg_srtp_keys *out);

/* Negotiated cipher suite name ("ECDHE-ECDSA-AES128-GCM-SHA256") and
 * protocol ("DTLSv1.2"); "" before CONNECTED. Borrowed. */
const char *kg_dtls_cipher(const kg_dtls *d);
const char *kg_dtls_version(const kg_dtls *d);

/* The SRTP profiles the peer's ClientHello offered (server side), as
 * text for logs and error messages: IANA names in the client's order
 * ("SRTP_AES128_CM_SHA1_80, SRTP_AEAD_AES_128_GCM"; an unknown ID as
 * 0x....), "no use_srtp extension", or "nothing" (also before any
 * ClientHello). At most KG_DTLS_MAX_OFFERED are kept. Truncated to cap,
 * always NUL-terminated when cap > 0. A handshake that finds no profile
 * in common fails with KG_ERR_SRTP_PROFILE. */
#define KG_DTLS_MAX_OFFERED 8
void kg_dtls_offered_srtp(const kg_dtls *d, char *out, size_t cap);

/* The IANA name of an SRTP protection profile ID ("SRTP_AEAD_AES_256_GCM"
 * for 0x0008), NULL if unknown. */
const char *kg_dtls_srtp_id_name(uint16_t id);

/* Sends close_notify (pull it) and moves to CLOSED. */
void kg_dtls_close(kg_dtls *d);

/* True if the first byte says DTLS (RFC 7983: 20..63). */
static inline bool kg_dtls_is(const uint8_t *buf, size_t len)
{
    return len >= 13 && buf[0] >= 20 && buf[0] <= 63;
}

#endif
