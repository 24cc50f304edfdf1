/* Fuzzes SRTP/SRTCP unprotect with fixed keys, and protect followed by
 * unprotect (which must give the input back). Input: one mode byte
 * (bit 0: RTCP, bit 1: round trip, bits 2-3: profile), then the packet. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"
#include "crypto/srtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The keys the seed corpus was made with: local i+1 / remote i+101,
 * salts i+51 / i+151; tx and rx mirror each other. */
static void make_keys(kg_srtp_profile p, kg_srtp_keys *tx, kg_srtp_keys *rx)
{
    memset(tx, 0, sizeof(*tx));
    tx->profile = p;
    tx->key_len = p == KG_SRTP_AEAD_AES_256_GCM ? 32 : 16;
    tx->salt_len = p == KG_SRTP_AES128_CM_SHA1_80 ? 14 : 12;
    for (int i = 0; i < KG_SRTP_MAX_KEY; i++) {
        tx->local_key[i] = (uint8_t)(i + 1);
        tx->remote_key[i] = (uint8_t)(i + 101);
    }
    for (int i = 0; i < KG_SRTP_MAX_SALT; i++) {
        tx->local_salt[i] = (uint8_t)(i + 51);
        tx->remote_salt[i] = (uint8_t)(i + 151);
    }
    *rx = *tx;
    memcpy(rx->local_key, tx->remote_key, KG_SRTP_MAX_KEY);
    memcpy(rx->remote_key, tx->local_key, KG_SRTP_MAX_KEY);
    memcpy(rx->local_salt, tx->remote_salt, KG_SRTP_MAX_SALT);
    memcpy(rx->remote_salt, tx->local_salt, KG_SRTP_MAX_SALT);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const kg_srtp_profile profiles[] = {
        KG_SRTP_AEAD_AES_256_GCM, KG_SRTP_AEAD_AES_128_GCM,
        KG_SRTP_AES128_CM_SHA1_80, KG_SRTP_AEAD_AES_256_GCM};
    static kg_srtp *tx[4], *rx[4];
    static unsigned runs;
    if (size < 1 || size > 4096)
        return 0;
    /* Every new SSRC that authenticates makes a libsrtp stream; start
     * over now and then so that memory stays bounded. */
    if (++runs % 4096 == 0) {
        for (int i = 0; i < 4; i++) {
            kg_srtp_del(tx[i]);
            kg_srtp_del(rx[i]);
            tx[i] = rx[i] = NULL;
        }
    }
    bool rtcp = data[0] & 1, round_trip = data[0] & 2;
    unsigned p = (data[0] >> 2) & 3;
    if (!tx[p]) {
        kg_srtp_keys kt, kr;
        make_keys(profiles[p], &kt, &kr);
        tx[p] = kg_srtp_new(&kt);
        rx[p] = kg_srtp_new(&kr);
        if (!tx[p] || !rx[p])
            abort();
    }
    /* Fresh sessions per input would make every input independent, but
     * cost a key schedule each; shared ones also fuzz the replay window
     * across inputs. */
    uint8_t pkt[4096 + KG_SRTP_MAX_TRAILER], orig[4096];
    size_t len = size - 1;
    memcpy(pkt, data + 1, len);
    memcpy(orig, data + 1, len);
    if (round_trip) {
        int rc = rtcp ? kg_srtcp_protect(tx[p], pkt, &len, sizeof(pkt))
                      : kg_srtp_protect(tx[p], pkt, &len, sizeof(pkt));
        if (rc != 0)
            return 0;
        if (len > size - 1 + KG_SRTP_MAX_TRAILER)
            abort();
    }
    int rc = rtcp ? kg_srtcp_unprotect(rx[p], pkt, &len)
                  : kg_srtp_unprotect(rx[p], pkt, &len);
    if (round_trip && rc == 0 && (len != size - 1 || memcmp(pkt, orig, len)))
        abort();
    return 0;
}
