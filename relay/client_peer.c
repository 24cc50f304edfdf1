/* Client transport: ICE controlling agent + DTLS client + SRTP. See
 * client_peer.h. */
#include "relay/client_peer.h"

#include <stdlib.h>
#include <string.h>

#include "relay/stun.h"

struct kg_client_peer {
    enum kg_client_peer_state state;
    kg_ice_client ice;
    kg_dtls *dtls;
    bool dtls_started;
    kg_srtp *srtp;
    kg_srtp_profile profile;
    int error;
    kg_client_peer_stats stats;
};

kg_client_peer *kg_client_peer_new(kg_dtls_ctx *ctx, const kg_ice_creds *local,
                                   const kg_ice_creds *remote,
                                   const char *remote_fp, kg_time now)
{
    if (!ctx || !local || !remote || !remote_fp)
        return NULL;
    kg_client_peer *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    /* The DTLS object exists from the start so that a bad fingerprint or
     * context fails here, not halfway through ICE. */
    p->dtls = kg_dtls_new(ctx, remote_fp, NULL, 0, now);
    if (!p->dtls) {
        free(p);
        return NULL;
    }
    kg_ice_client_init(&p->ice, local, remote, now);
    p->state = KG_CLIENT_PEER_ICE;
    return p;
}

void kg_client_peer_del(kg_client_peer *p)
{
    if (!p)
        return;
    kg_srtp_del(p->srtp);
    kg_dtls_del(p->dtls);
    free(p);
}

static void fail(kg_client_peer *p, int err)
{
    if (p->state == KG_CLIENT_PEER_CLOSED)
        return;
    p->state = KG_CLIENT_PEER_FAILED;
    if (!p->error)
        p->error = err;
}

/* The handshake is done: derive the SRTP sessions. A handshake that
 * agreed on no SRTP profile cannot carry media, so it fails the peer. */
static void on_dtls_connected(kg_client_peer *p)
{
    kg_srtp_keys keys;
    int rc = kg_dtls_srtp_keys(p->dtls, &keys);
    if (rc < 0) {
        fail(p, rc);
        return;
    }
    p->profile = keys.profile;
    p->srtp = kg_srtp_new(&keys);
    kg_srtp_keys_wipe(&keys);
    if (!p->srtp) {
        fail(p, KG_ERR_CRYPTO);
        return;
    }
    p->state = KG_CLIENT_PEER_CONNECTED;
}

static int recv_stun(kg_client_peer *p, const uint8_t *pkt, size_t len,
                     kg_time now)
{
    kg_stun_msg msg;
    p->stats.stun_in++;
    int rc = kg_stun_parse(pkt, len, &msg);
    if (rc == 0)
        rc = kg_ice_client_on_stun(&p->ice, pkt, len, &msg, now);
    if (rc < 0) {
        p->stats.stun_bad++;
        return rc;
    }
    /* ICE nominated the pair: DTLS may begin (the ClientHello is pulled by
     * the next poll). */
    if (p->ice.connected && !p->dtls_started &&
        p->state == KG_CLIENT_PEER_ICE) {
        p->dtls_started = true;
        p->state = KG_CLIENT_PEER_DTLS;
        rc = kg_dtls_start(p->dtls, now);
        if (rc < 0)
            fail(p, rc);
    }
    return KG_CLIENT_PEER_CONTROL;
}

static int recv_dtls(kg_client_peer *p, const uint8_t *pkt, size_t len,
                     kg_time now)
{
    p->stats.dtls_in++;
    /* Before our ClientHello there is nothing a server may say. */
    if (!p->dtls_started) {
        p->stats.dropped++;
        return KG_ERR_STATE;
    }
    int rc = kg_dtls_read(p->dtls, pkt, len, now);
    enum kg_dtls_state ds = kg_dtls_state(p->dtls);
    if (ds == KG_DTLS_FAILED) {
        fail(p, rc < 0 ? rc : KG_ERR_CRYPTO);
    } else if (ds == KG_DTLS_CLOSED) {
        if (p->state != KG_CLIENT_PEER_FAILED)
            p->state = KG_CLIENT_PEER_CLOSED;
    } else if (ds == KG_DTLS_CONNECTED && p->state == KG_CLIENT_PEER_DTLS) {
        on_dtls_connected(p);
    }
    return rc < 0 ? rc : KG_CLIENT_PEER_CONTROL;
}

static int recv_srtp(kg_client_peer *p, uint8_t *pkt, size_t len,
                     size_t *out_len)
{
    if (!p->srtp || p->state != KG_CLIENT_PEER_CONNECTED) {
        p->stats.dropped++;
        return KG_ERR_STATE;
    }
    bool rtcp = kg_client_peer_is_rtcp(pkt, len);
    size_t n = len;
    int rc = rtcp ? kg_srtcp_unprotect(p->srtp, pkt, &n)
                  : kg_srtp_unprotect(p->srtp, pkt, &n);
    if (rc == KG_ERR_REPLAY) {
        p->stats.replays++;
        return rc;
    }
    if (rc < 0) {
        p->stats.unprotect_fail++;
        return rc;
    }
    if (rtcp)
        p->stats.srtcp_in++;
    else
        p->stats.srtp_in++;
    *out_len = n;
    return rtcp ? KG_CLIENT_PEER_RTCP : KG_CLIENT_PEER_RTP;
}

int kg_client_peer_recv(kg_client_peer *p, uint8_t *pkt, size_t len,
                        kg_time now, size_t *out_len)
{
    if (!p || !pkt || !out_len)
        return KG_ERR_INVAL;
    *out_len = 0;
    if (len == 0) {
        p->stats.dropped++;
        return KG_ERR_STATE;
    }
    uint8_t b = pkt[0];
    if (b <= 3)
        return recv_stun(p, pkt, len, now);
    if (b >= 20 && b <= 63)
        return recv_dtls(p, pkt, len, now);
    if (b >= 128 && b <= 191)
        return recv_srtp(p, pkt, len, out_len);
    p->stats.dropped++;
    return KG_ERR_STATE;
}

/* Consent freshness (RFC 7675) from the client's side: a server that has
 * answered none of our checks for the consent timeout is gone. */
static void check_consent(kg_client_peer *p, kg_time now)
{
    if (p->ice.connected && now > p->ice.last_success &&
        now - p->ice.last_success > KG_ICE_CONSENT_TIMEOUT)
        fail(p, KG_ERR_TIMEOUT);
}

ssize_t kg_client_peer_poll(kg_client_peer *p, kg_time now, uint8_t *buf,
                            size_t cap)
{
    if (!p || !buf)
        return KG_ERR_INVAL;
    if (p->state == KG_CLIENT_PEER_DTLS &&
        now >= kg_dtls_deadline(p->dtls)) {
        int rc = kg_dtls_on_timeout(p->dtls, now);
        if (rc < 0)
            fail(p, rc);
    }
    /* DTLS datagrams go out even after failure or close: they may be the
     * alert or close_notify that tells the server. */
    if (p->dtls_started) {
        ssize_t n = kg_dtls_pull(p->dtls, buf, cap);
        if (n != 0)
            return n;
    }
    check_consent(p, now);
    if (p->state == KG_CLIENT_PEER_FAILED || p->state == KG_CLIENT_PEER_CLOSED)
        return 0;
    return kg_ice_client_poll(&p->ice, now, buf, cap);
}

static kg_time min_time(kg_time a, kg_time b)
{
    return a < b ? a : b;
}

kg_time kg_client_peer_deadline(const kg_client_peer *p)
{
    if (!p || p->state == KG_CLIENT_PEER_FAILED ||
        p->state == KG_CLIENT_PEER_CLOSED)
        return KG_TIME_NEVER;
    kg_time t = kg_ice_client_deadline(&p->ice);
    if (p->state == KG_CLIENT_PEER_DTLS)
        t = min_time(t, kg_dtls_deadline(p->dtls));
    if (p->ice.connected &&
        p->ice.last_success < KG_TIME_NEVER - KG_ICE_CONSENT_TIMEOUT)
        t = min_time(t, p->ice.last_success + KG_ICE_CONSENT_TIMEOUT + 1);
    return t;
}

static ssize_t protect(kg_client_peer *p, uint8_t *pkt, size_t len,
                       size_t cap, bool rtcp)
{
    if (!p || !pkt)
        return KG_ERR_INVAL;
    if (p->state != KG_CLIENT_PEER_CONNECTED || !p->srtp)
        return KG_ERR_STATE;
    size_t n = len;
    int rc = rtcp ? kg_srtcp_protect(p->srtp, pkt, &n, cap)
                  : kg_srtp_protect(p->srtp, pkt, &n, cap);
    return rc < 0 ? rc : (ssize_t)n;
}

ssize_t kg_client_peer_send_rtp(kg_client_peer *p, uint8_t *pkt, size_t len,
                                size_t cap)
{
    return protect(p, pkt, len, cap, false);
}

ssize_t kg_client_peer_send_rtcp(kg_client_peer *p, uint8_t *pkt, size_t len,
                                 size_t cap)
{
    return protect(p, pkt, len, cap, true);
}

void kg_client_peer_close(kg_client_peer *p)
{
    if (!p || p->state == KG_CLIENT_PEER_CLOSED)
        return;
    if (p->dtls_started)
        kg_dtls_close(p->dtls);
    p->state = KG_CLIENT_PEER_CLOSED;
}

enum kg_client_peer_state kg_client_peer_state(const kg_client_peer *p)
{
    return p->state;
}

const char *kg_client_peer_state_name(enum kg_client_peer_state s)
{
    switch (s) {
    case KG_CLIENT_PEER_ICE: return "ice";
    case KG_CLIENT_PEER_DTLS: return "dtls";
    case KG_CLIENT_PEER_CONNECTED: return "connected";
    case KG_CLIENT_PEER_FAILED: return "failed";
    case KG_CLIENT_PEER_CLOSED: return "closed";
    }
    return "unknown";
}

kg_srtp_profile kg_client_peer_profile(const kg_client_peer *p)
{
    return p->profile;
}

const char *kg_client_peer_cipher(const kg_client_peer *p)
{
    return p->profile != KG_SRTP_NONE ? kg_dtls_cipher(p->dtls) : "";
}

const char *kg_client_peer_version(const kg_client_peer *p)
{
    return p->profile != KG_SRTP_NONE ? kg_dtls_version(p->dtls) : "";
}

int kg_client_peer_error(const kg_client_peer *p)
{
    return p->error;
}

const kg_client_peer_stats *kg_client_peer_get_stats(const kg_client_peer *p)
{
    return &p->stats;
}
