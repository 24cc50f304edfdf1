/* SRTP/SRTCP on libsrtp2: one outbound and one inbound session per
 * transport, keyed from DTLS-SRTP. */
#include "crypto/srtp.h"

#include <limits.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <srtp2/srtp.h>

#include "codec/err.h"

/* Replay window in packets. libsrtp's default is 128; a receiver that
 * also gets NACK retransmissions and reordered video bursts needs more
 * (libsrtp accepts 64 to 32767; the bitmap costs one bit per packet). */
#define REPLAY_WINDOW 1024

#define RTP_HEADER_MIN 12
#define RTCP_HEADER_MIN 8
#define SRTCP_INDEX_LEN 4

struct kg_srtp {
    srtp_t out;
    srtp_t in;
    kg_srtp_profile profile;
};

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static srtp_err_status_t init_status = srtp_err_status_fail;

static void init_libsrtp(void)
{
    init_status = srtp_init();
}

const char *kg_srtp_profile_name(kg_srtp_profile p)
{
    switch (p) {
    case KG_SRTP_AEAD_AES_256_GCM:
        return "AEAD_AES_256_GCM";
    case KG_SRTP_AEAD_AES_128_GCM:
        return "AEAD_AES_128_GCM";
    case KG_SRTP_AES128_CM_SHA1_80:
        return "AES_CM_128_HMAC_SHA1_80";
    case KG_SRTP_NONE:
    default:
        return "none";
    }
}

void kg_srtp_keys_wipe(kg_srtp_keys *keys)
{
    OPENSSL_cleanse(keys, sizeof(*keys));
}

/* Sets both crypto policies for p and returns the expected key and
 * salt lengths, or false for an unknown profile. */
static bool set_crypto(srtp_policy_t *pol, kg_srtp_profile p, size_t *key_len,
                       size_t *salt_len)
{
    switch (p) {
    case KG_SRTP_AEAD_AES_256_GCM:
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol->rtp);
        srtp_crypto_policy_set_aes_gcm_256_16_auth(&pol->rtcp);
        *key_len = 32;
        *salt_len = 12;
        return true;
    case KG_SRTP_AEAD_AES_128_GCM:
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol->rtp);
        srtp_crypto_policy_set_aes_gcm_128_16_auth(&pol->rtcp);
        *key_len = 16;
        *salt_len = 12;
        return true;
    case KG_SRTP_AES128_CM_SHA1_80:
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol->rtp);
        srtp_crypto_policy_set_aes_cm_128_hmac_sha1_80(&pol->rtcp);
        *key_len = 16;
        *salt_len = 14;
        return true;
    case KG_SRTP_NONE:
    default:
        return false;
    }
}

static int make_session(srtp_t *out, kg_srtp_profile profile,
                        srtp_ssrc_type_t type, const uint8_t *key,
                        const uint8_t *salt, size_t key_len, size_t salt_len)
{
    /* libsrtp wants key || salt in one buffer and copies it. */
    uint8_t master[KG_SRTP_MAX_KEY + KG_SRTP_MAX_SALT];
    srtp_policy_t pol;
    size_t want_key, want_salt;
    memset(&pol, 0, sizeof(pol));
    if (!set_crypto(&pol, profile, &want_key, &want_salt) ||
        want_key != key_len || want_salt != salt_len)
        return KG_ERR_INVAL;
    memcpy(master, key, key_len);
    memcpy(master + key_len, salt, salt_len);
    pol.ssrc.type = type;
    pol.key = master;
    pol.window_size = REPLAY_WINDOW;
    /* kaigi resends packets it already protected when a receiver NACKs. */
    pol.allow_repeat_tx = 1;
    pol.next = NULL;
    srtp_err_status_t st = srtp_create(out, &pol);
    OPENSSL_cleanse(master, sizeof(master));
    return st == srtp_err_status_ok ? 0 : KG_ERR_CRYPTO;
}

kg_srtp *kg_srtp_new(const kg_srtp_keys *keys)
{
    pthread_once(&init_once, init_libsrtp);
    if (init_status != srtp_err_status_ok || !keys)
        return NULL;
    kg_srtp *s = calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->profile = keys->profile;
    if (make_session(&s->out, keys->profile, ssrc_any_outbound,
                     keys->local_key, keys->local_salt, keys->key_len,
                     keys->salt_len) != 0 ||
        make_session(&s->in, keys->profile, ssrc_any_inbound, keys->remote_key,
                     keys->remote_salt, keys->key_len, keys->salt_len) != 0) {
        kg_srtp_del(s);
        return NULL;
    }
    return s;
}

void kg_srtp_del(kg_srtp *s)
{
    if (!s)
        return;
    if (s->out)
        srtp_dealloc(s->out);
    if (s->in)
        srtp_dealloc(s->in);
    free(s);
}

/* Bytes protect appends: the tag (16 for GCM, 10 for HMAC-SHA1-80),
 * plus the E flag and SRTCP index for RTCP. No MKI. */
static size_t trailer_len(kg_srtp_profile p, bool rtcp)
{
    size_t tag = p == KG_SRTP_AES128_CM_SHA1_80 ? 10 : 16;
    return tag + (rtcp ? SRTCP_INDEX_LEN : 0);
}

static int map_status(srtp_err_status_t st)
{
    switch (st) {
    case srtp_err_status_ok:
        return 0;
    case srtp_err_status_auth_fail:
    /* What the AEAD SRTCP path reports for a packet whose SSRC was
     * changed in flight (it cannot check it against any stream). */
    case srtp_err_status_cant_check:
        return KG_ERR_AUTH;
    case srtp_err_status_replay_fail:
    case srtp_err_status_replay_old:
    case srtp_err_status_pkt_idx_old:
        return KG_ERR_REPLAY;
    case srtp_err_status_bad_param:
    case srtp_err_status_parse_err:
    case srtp_err_status_bad_mki:
    case srtp_err_status_pkt_idx_adv:
    case srtp_err_status_no_ctx:
        return KG_ERR_MALFORMED;
    case srtp_err_status_alloc_fail:
        return KG_ERR_NOMEM;
    default:
        return KG_ERR_CRYPTO;
    }
}

static int protect(kg_srtp *s, uint8_t *pkt, size_t *len, size_t cap,
                   bool rtcp)
{
    size_t min = rtcp ? RTCP_HEADER_MIN : RTP_HEADER_MIN;
    if (*len < min)
        return KG_ERR_MALFORMED;
    /* srtp_protect writes the trailer past *len without knowing cap. */
    if (cap < *len || cap - *len < trailer_len(s->profile, rtcp))
        return KG_ERR_NOSPACE;
    if (*len > INT_MAX - KG_SRTP_MAX_TRAILER)
        return KG_ERR_INVAL;
    int n = (int)*len;
    srtp_err_status_t st =
        rtcp ? srtp_protect_rtcp(s->out, pkt, &n) : srtp_protect(s->out, pkt, &n);
    int rc = map_status(st);
    if (rc == 0)
        *len = (size_t)n;
    /* Protect failures are ours, not the network's. */
    return rc == KG_ERR_AUTH || rc == KG_ERR_REPLAY ? KG_ERR_CRYPTO : rc;
}

static int unprotect(kg_srtp *s, uint8_t *pkt, size_t *len, bool rtcp)
{
    size_t min = rtcp ? RTCP_HEADER_MIN : RTP_HEADER_MIN;
    if (*len < min + trailer_len(s->profile, rtcp))
        return KG_ERR_MALFORMED;
    if (*len > INT_MAX)
        return KG_ERR_MALFORMED;
    int n = (int)*len;
    srtp_err_status_t st = rtcp ? srtp_unprotect_rtcp(s->in, pkt, &n)
                                : srtp_unprotect(s->in, pkt, &n);
    int rc = map_status(st);
    if (rc == 0)
        *len = (size_t)n;
    return rc;
}

int kg_srtp_protect(kg_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
    return protect(s, pkt, len, cap, false);
}

int kg_srtcp_protect(kg_srtp *s, uint8_t *pkt, size_t *len, size_t cap)
{
    return protect(s, pkt, len, cap, true);
}

int kg_srtp_unprotect(kg_srtp *s, uint8_t *pkt, size_t *len)
{
    return unprotect(s, pkt, len, false);
}

int kg_srtcp_unprotect(kg_srtp *s, uint8_t *pkt, size_t *len)
{
    return unprotect(s, pkt, len, true);
}
