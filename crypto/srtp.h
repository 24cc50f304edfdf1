/* SRTP/SRTCP sessions on libsrtp2, one per direction pair of a transport.
 * The only file that includes <srtp2/srtp.h>. Keys are never logged. */
#ifndef KG_SRTP_H
#define KG_SRTP_H

#include <stddef.h>
#include <stdint.h>

typedef enum kg_srtp_profile {
    KG_SRTP_NONE = 0,
    KG_SRTP_AEAD_AES_256_GCM = 1, /* RFC 7714, use_srtp id 0x0008 */
    KG_SRTP_AEAD_AES_128_GCM = 2, /* use_srtp id 0x0007 */
    KG_SRTP_AES128_CM_SHA1_80 = 3, /* legacy, only if the operator allows */
} kg_srtp_profile;

#define KG_SRTP_MAX_KEY 32
#define KG_SRTP_MAX_SALT 14
/* Worst-case bytes SRTP/SRTCP protect adds to a packet (tag + SRTCP
 * index + MKI-free). Callers keep this much room at the end of buffers. */
#define KG_SRTP_MAX_TRAILER 32

/* Keying material from DTLS-SRTP (RFC 5764 section 4.2), already split
 * into this side's sending (local) and receiving (remote) halves. */
typedef struct kg_srtp_keys {
    kg_srtp_profile profile;
    size_t key_len;  /* 32 for GCM-256, 16 otherwise */
    size_t salt_len; /* 12 for GCM, 14 for AES-CM */
    uint8_t local_key[KG_SRTP_MAX_KEY];
    uint8_t local_salt[KG_SRTP_MAX_SALT];
    uint8_t remote_key[KG_SRTP_MAX_KEY];
    uint8_t remote_salt[KG_SRTP_MAX_SALT];
} kg_srtp_keys;

/* "AEAD_AES_256_GCM", "AEAD_AES_128_GCM", "AES_CM_128_HMAC_SHA1_80"
 * (the names Chromium's getStats() uses), or "none". */
const char *kg_srtp_profile_name(kg_srtp_profile p);

/* Wipes keys with OPENSSL_cleanse. */
void kg_srtp_keys_wipe(kg_srtp_keys *keys);

typedef struct kg_srtp kg_srtp; /* owns one outbound and one inbound
                                   libsrtp session (ssrc_any_*), with
                                   replay protection on */

/* Creates the sessions from keys. Returns NULL on failure (bad profile,
 * libsrtp error). Initialises libsrtp2 once per process, thread-safely. */
kg_srtp *kg_srtp_new(const kg_srtp_keys *keys);
void kg_srtp_del(kg_srtp *s);

/* Protect in place: *len grows by the trailer; cap is the buffer size.
 * Returns 0, KG_ERR_NOSPACE (cap - *len smaller than the trailer: 16
 * bytes for GCM RTP, 20 for GCM RTCP, 10 and 14 for AES-CM; nothing is
 * written), KG_ERR_MALFORMED (shorter than an RTP/RTCP header), or
 * KG_ERR_CRYPTO. */
int kg_srtp_protect(kg_srtp *s, uint8_t *pkt, size_t *len, size_t cap);
int kg_srtcp_protect(kg_srtp *s, uint8_t *pkt, size_t *len, size_t cap);

/* Unprotect in place: *len shrinks. Returns 0, KG_ERR_AUTH (tag check
 * failed), KG_ERR_REPLAY (replayed, or older than the 1024-packet replay
 * window), KG_ERR_MALFORMED, KG_ERR_NOMEM (a new SSRC needs a stream
 * and allocation failed) or KG_ERR_CRYPTO (libsrtp internal error).
 * On failure the packet may have been changed and must be dropped. */
int kg_srtp_unprotect(kg_srtp *s, uint8_t *pkt, size_t *len);
int kg_srtcp_unprotect(kg_srtp *s, uint8_t *pkt, size_t *len);

#endif
