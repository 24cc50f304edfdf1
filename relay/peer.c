#include "relay/peer.h"

#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "codec/bytes.h"

int kg_peer_init(kg_peer *p, kg_dtls_ctx *ctx, const kg_ice_creds *local,
                 const char *remote_ufrag, const char *remote_fp,
                 kg_time now)
{
    memset(p, 0, sizeof(*p));
    if (strlen(remote_fp) >= sizeof(p->remote_fp))
        return KG_ERR_INVAL;
    kg_ice_lite_init(&p->ice, local, remote_ufrag, now);
    snprintf(p->remote_fp, sizeof(p->remote_fp), "%s", remote_fp);
    p->dtls_ctx = ctx;
    p->state = KG_PEER_NEW;
    return 0;
}

void kg_peer_free(kg_peer *p)
{
    kg_dtls_del(p->dtls);
    kg_srtp_del(p->srtp);
    /* The ICE password is a secret too: do not leave it in freed memory. */
    memset(&p->ice, 0, sizeof(p->ice));
    p->dtls = NULL;
    p->srtp = NULL;
}

static void release_dtls(kg_peer *p)
{
    kg_dtls_del(p->dtls);
    p->dtls = NULL;
}

static void peer_fail(kg_peer *p, int reason)
{
    p->state = KG_PEER_FAILED;
    p->fail_reason = reason;
}

ssize_t kg_peer_on_stun(kg_peer *p, const uint8_t *pkt, size_t len,
                        const kg_stun_msg *msg, const struct sockaddr *addr,
                        kg_time now, uint8_t *out, size_t cap,
                        bool *selected)
{
    int event = KG_ICE_EV_NONE;
    *selected = false;
    if (p->state == KG_PEER_FAILED)
        return KG_ERR_STATE;
    ssize_t n = kg_ice_lite_on_stun(&p->ice, pkt, len, msg, addr, now, out,
                                    cap, &event);
    if (n < 0) {
        p->stats.stun_bad++;
        return n;
    }
    p->stats.stun_ok++;
    if (event == KG_ICE_EV_SELECTED) {
        *selected = true;
        if (p->state == KG_PEER_NEW) {
            /* The DTLS cookie binds the handshake to the address ICE
             * validated. */
            socklen_t alen = addr->sa_family == AF_INET6
                                 ? sizeof(struct sockaddr_in6)
                                 : sizeof(struct sockaddr_in);
            p->dtls = kg_dtls_new(p->dtls_ctx, p->remote_fp, addr, alen, now);
            if (!p->dtls) {
                peer_fail(p, KG_ERR_CRYPTO);
                return KG_ERR_CRYPTO;
            }
            p->state = KG_PEER_DTLS;
        }
    }
    return n;
}

static int peer_make_srtp(kg_peer *p)
{
    kg_srtp_keys keys;
    int rc = kg_dtls_srtp_keys(p->dtls, &keys);
    if (rc != 0)
        return rc;
    p->srtp = kg_srtp_new(&keys);
    p->profile = keys.profile;
    kg_srtp_keys_wipe(&keys);
    return p->srtp ? 0 : KG_ERR_CRYPTO;
}

int kg_peer_on_dtls(kg_peer *p, const uint8_t *pkt, size_t len, kg_time now)
{
    if (!p->dtls || p->state == KG_PEER_FAILED)
        return KG_ERR_STATE;
    p->stats.dtls_in++;
    int rc = kg_dtls_read(p->dtls, pkt, len, now);
    enum kg_dtls_state ds = kg_dtls_state(p->dtls);
    if (ds == KG_DTLS_FAILED) {
        peer_fail(p, rc ? rc : KG_ERR_CRYPTO);
        return p->fail_reason;
    }
    if (ds == KG_DTLS_CLOSED) {
        peer_fail(p, KG_ERR_CLOSED);
        return KG_ERR_CLOSED;
    }
    if (ds == KG_DTLS_CONNECTED && p->state == KG_PEER_DTLS) {
        rc = peer_make_srtp(p);
        if (rc != 0) {
            peer_fail(p, rc);
            return rc;
        }
        p->state = KG_PEER_CONNECTED;
        p->connected_at = now;
        snprintf(p->cipher, sizeof(p->cipher), "%s", kg_dtls_cipher(p->dtls));
    }
    return 0;
}

ssize_t kg_peer_pull(kg_peer *p, uint8_t *buf, size_t cap)
{
    if (!p->dtls)
        return 0;
    return kg_dtls_pull(p->dtls, buf, cap);
}

kg_time kg_peer_deadline(const kg_peer *p)
{
    kg_time d = kg_ice_lite_deadline(&p->ice);
    if (p->dtls && p->state == KG_PEER_DTLS) {
        kg_time t = kg_dtls_deadline(p->dtls);
        if (t < d)
            d = t;
    }
    if (p->dtls && p->state == KG_PEER_CONNECTED &&
        p->connected_at + KG_PEER_DTLS_LINGER < d)
        d = p->connected_at + KG_PEER_DTLS_LINGER;
    return d;
}

int kg_peer_on_timeout(kg_peer *p, kg_time now)
{
    if (p->state == KG_PEER_FAILED)
        return p->fail_reason;
    if (now >= kg_ice_lite_deadline(&p->ice)) {
        peer_fail(p, KG_ERR_TIMEOUT);
        return KG_ERR_TIMEOUT;
    }
    if (p->dtls && p->state == KG_PEER_DTLS &&
        now >= kg_dtls_deadline(p->dtls)) {
        int rc = kg_dtls_on_timeout(p->dtls, now);
        if (rc != 0) {
            peer_fail(p, rc);
            return rc;
        }
    }
    if (p->dtls && p->state == KG_PEER_CONNECTED &&
        now >= p->connected_at + KG_PEER_DTLS_LINGER)
        release_dtls(p);
    return 0;
}

int kg_peer_unprotect(kg_peer *p, uint8_t *pkt, size_t *len, bool rtcp)
{
    if (p->state != KG_PEER_CONNECTED)
        return KG_ERR_STATE;
    size_t in_len = *len;
    size_t slot = SIZE_MAX;
    if (rtcp) {
        if (in_len < 8) {
            p->stats.malformed++;
            return KG_ERR_MALFORMED;
        }
        uint32_t ssrc = kg_rd32(pkt + 4); /* SRTCP sender SSRC, in clear */
        bool known = false;
        for (size_t i = 0; i < p->n_rtcp_ssrc && !known; i++)
            known = p->rtcp_ssrc[i] == ssrc;
        if (!known) {
            if (p->n_rtcp_ssrc == KG_PEER_MAX_RTCP_SSRC) {
                p->stats.ssrc_refused++;
                return KG_ERR_FULL;
            }
            slot = p->n_rtcp_ssrc;
            p->rtcp_ssrc[slot] = ssrc;
        }
    }
    int rc = rtcp ? kg_srtcp_unprotect(p->srtp, pkt, len)
                  : kg_srtp_unprotect(p->srtp, pkt, len);
    if (rc == 0 && slot != SIZE_MAX)
        p->n_rtcp_ssrc++; /* remember it only once it authenticated */
    if (rc == KG_ERR_AUTH)
        p->stats.srtp_auth_fail++;
    else if (rc == KG_ERR_REPLAY)
        p->stats.srtp_replay++;
    else if (rc != 0)
        p->stats.malformed++;
    if (rc != 0)
        return rc;
    /* The client derives its keys only after kaigi's last flight reached
     * it: nothing of the handshake will be asked for again. */
    if (p->dtls)
        release_dtls(p);
    if (rtcp)
        p->stats.rtcp_in++;
    else
        p->stats.rtp_in++;
    p->stats.bytes_in += in_len;
    return 0;
}

int kg_peer_protect(kg_peer *p, uint8_t *pkt, size_t *len, size_t cap,
                    bool rtcp)
{
    if (p->state != KG_PEER_CONNECTED)
        return KG_ERR_STATE;
    int rc = rtcp ? kg_srtcp_protect(p->srtp, pkt, len, cap)
                  : kg_srtp_protect(p->srtp, pkt, len, cap);
    if (rc != 0)
        return rc;
    if (rtcp)
        p->stats.rtcp_out++;
    else
        p->stats.rtp_out++;
    p->stats.bytes_out += *len;
    return 0;
}

const char *kg_peer_state_name(enum kg_peer_state s)
{
    switch (s) {
    case KG_PEER_NEW:
        return "new";
    case KG_PEER_DTLS:
        return "dtls";
    case KG_PEER_CONNECTED:
        return "connected";
    case KG_PEER_FAILED:
        return "failed";
    }
    return "unknown";
}
