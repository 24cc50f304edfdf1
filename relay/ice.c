#include "relay/ice.h"

#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "crypto/random.h"

/* The client paces its checks at 50 ms until one succeeds (RFC 8445's Ta
 * is 50 ms by default). */
#define CLIENT_RETRANSMIT (50 * KG_MS)

/* RFC 8445 section 5.1.2.1: priority = 2^24 * type preference +
 * 2^8 * local preference + (256 - component ID); a host candidate has
 * type preference 126, the only candidate gets local preference 65535,
 * and RTP is component 1. */
#define HOST_PRIORITY ((126u << 24) | (65535u << 8) | (256u - 1u))

int kg_ice_creds_random(kg_ice_creds *out)
{
    if (!out)
        return KG_ERR_INVAL;
    if (kg_random_alnum(out->ufrag, KG_ICE_UFRAG_LEN) != 0 ||
        kg_random_alnum(out->pwd, KG_ICE_PWD_LEN) != 0) {
        memset(out, 0, sizeof(*out));
        return KG_ERR_CRYPTO;
    }
    return 0;
}

/* Finds the colon in USERNAME; both sides must be non-empty. */
static int split_username(const kg_stun_msg *msg, size_t *colon)
{
    if (!msg->username)
        return KG_ERR_MALFORMED;
    const uint8_t *c = memchr(msg->username, ':', msg->username_len);
    if (!c)
        return KG_ERR_MALFORMED;
    size_t n = (size_t)(c - msg->username);
    if (n == 0 || n + 1 == msg->username_len)
        return KG_ERR_MALFORMED;
    *colon = n;
    return 0;
}

int kg_ice_username_local(const kg_stun_msg *msg, char *out, size_t cap)
{
    size_t n = 0;
    if (!msg || !out)
        return KG_ERR_INVAL;
    int rc = split_username(msg, &n);
    if (rc < 0)
        return rc;
    if (cap < n + 1)
        return KG_ERR_NOSPACE;
    memcpy(out, msg->username, n);
    out[n] = '\0';
    return 0;
}

/* Ufrags appear in SDP and are not secret, so their lengths may differ in
 * time; the bytes are still compared in constant time, as the
 * credentials they stand next to are. */
static bool ufrag_equal(const uint8_t *got, size_t gotlen, const char *want)
{
    size_t wantlen = strlen(want);
    return gotlen == wantlen && kg_ct_equal(got, want, wantlen);
}

static size_t sockaddr_len(const struct sockaddr *addr)
{
    if (addr->sa_family == AF_INET)
        return sizeof(struct sockaddr_in);
    if (addr->sa_family == AF_INET6)
        return sizeof(struct sockaddr_in6);
    return 0;
}

static bool sockaddr_equal(const struct sockaddr *a,
                           const struct sockaddr_storage *b)
{
    if (a->sa_family != b->ss_family)
        return false;
    if (a->sa_family == AF_INET) {
        const struct sockaddr_in *x = (const struct sockaddr_in *)a;
        const struct sockaddr_in *y = (const struct sockaddr_in *)b;
        return x->sin_port == y->sin_port &&
               x->sin_addr.s_addr == y->sin_addr.s_addr;
    }
    const struct sockaddr_in6 *x = (const struct sockaddr_in6 *)a;
    const struct sockaddr_in6 *y = (const struct sockaddr_in6 *)b;
    return x->sin6_port == y->sin6_port &&
           x->sin6_scope_id == y->sin6_scope_id &&
           memcmp(&x->sin6_addr, &y->sin6_addr, sizeof(x->sin6_addr)) == 0;
}

/* --- Server: ICE-lite ---------------------------------------------- */

void kg_ice_lite_init(kg_ice_lite *ice, const kg_ice_creds *local,
                      const char *remote_ufrag, kg_time now)
{
    memset(ice, 0, sizeof(*ice));
    ice->local = *local;
    /* A remote ufrag too long for the field is cut short, which can then
     * never match a check: a failure that shows, not a silent accept. */
    if (remote_ufrag)
        snprintf(ice->remote_ufrag, sizeof(ice->remote_ufrag), "%s",
                 remote_ufrag);
    ice->last_consent = now;
}

/* USERNAME of a check sent to us is "ourufrag:theirufrag". */
static bool lite_username_ok(const kg_ice_lite *ice, const kg_stun_msg *msg)
{
    size_t n = 0;
    if (split_username(msg, &n) != 0)
        return false;
    if (!ufrag_equal(msg->username, n, ice->local.ufrag))
        return false;
    if (ice->remote_ufrag[0] == '\0')
        return true;
    return ufrag_equal(msg->username + n + 1, msg->username_len - n - 1,
                       ice->remote_ufrag);
}

/* The mediasoup rule: the first valid check picks the address; after
 * that only a nomination (USE-CANDIDATE) moves it, so a stray valid check
 * from an old path cannot steal the media. */
static void lite_select(kg_ice_lite *ice, const kg_stun_msg *msg,
                        const struct sockaddr *addr, int *event)
{
    if (ice->selected_valid &&
        (!msg->use_candidate || sockaddr_equal(addr, &ice->selected)))
        return;
    memset(&ice->selected, 0, sizeof(ice->selected));
    memcpy(&ice->selected, addr, sockaddr_len(addr));
    ice->selected_valid = true;
    *event = KG_ICE_EV_SELECTED;
}

ssize_t kg_ice_lite_on_stun(kg_ice_lite *ice, const uint8_t *pkt, size_t len,
                            const kg_stun_msg *msg,
                            const struct sockaddr *addr, kg_time now,
                            uint8_t *out, size_t cap, int *event)
{
    int ev_dummy;
    if (!event)
        event = &ev_dummy;
    *event = KG_ICE_EV_NONE;
    if (!ice || !pkt || !msg || !addr || !out || sockaddr_len(addr) == 0)
        return KG_ERR_INVAL;
    if (msg->type != KG_STUN_BINDING_REQUEST)
        return KG_ERR_UNSUPPORTED;

    const uint8_t *pwd = (const uint8_t *)ice->local.pwd;
    size_t pwdlen = strlen(ice->local.pwd);
    /* Failures of the short-term credential get no answer at all (RFC
     * 8489 would allow a 401): a prober learns nothing, not even that a
     * STUN agent listens here. */
    if (!lite_username_ok(ice, msg)) {
        ice->checks_bad++;
        return KG_ERR_AUTH;
    }
    int rc = kg_stun_check_integrity(pkt, len, msg, pwd, pwdlen);
    if (rc == KG_ERR_AUTH)
        ice->checks_bad++;
    if (rc < 0)
        return rc;

    /* The peer proved it holds the password, so it may learn why it
     * failed: a lite agent is always controlled and cannot switch roles
     * (RFC 8445 section 7.3.1.1), so a controlled peer gets 487; a check
     * with no role, or both, gets 400. */
    if (!msg->ice_controlling || msg->ice_controlled) {
        ice->checks_bad++;
        uint16_t code = msg->ice_controlled && !msg->ice_controlling ? 487
                                                                     : 400;
        return kg_stun_write_binding_error_auth(msg->txid, code, pwd,
                                                pwdlen, out, cap);
    }

    ssize_t n = kg_stun_write_binding_success(msg->txid, addr, pwd, pwdlen,
                                              out, cap);
    if (n < 0)
        return n;
    ice->checks_ok++;
    ice->last_consent = now;
    lite_select(ice, msg, addr, event);
    return n;
}

kg_time kg_ice_lite_deadline(const kg_ice_lite *ice)
{
    return ice->last_consent + KG_ICE_CONSENT_TIMEOUT;
}

/* --- Client: controlling agent with one candidate pair ------------- */

void kg_ice_client_init(kg_ice_client *ice, const kg_ice_creds *local,
                        const kg_ice_creds *remote, kg_time now)
{
    memset(ice, 0, sizeof(*ice));
    ice->local = *local;
    ice->remote = *remote;
    ice->tiebreaker = ((uint64_t)kg_random_u32() << 32) | kg_random_u32();
    ice->next_send = now;
}

ssize_t kg_ice_client_poll(kg_ice_client *ice, kg_time now, uint8_t *out,
                           size_t cap)
{
    if (!ice || !out)
        return KG_ERR_INVAL;
    if (now < ice->next_send)
        return 0;

    /* Until connected, every send is a retransmission of one transaction
     * (RFC 8489 section 6.2.1 keeps the transaction ID), so a response
     * that arrives after the next send still matches. Each keepalive is a
     * new transaction. */
    uint8_t txid[12];
    if (ice->pending && !ice->connected)
        memcpy(txid, ice->pending_txid, sizeof(txid));
    else if (kg_random_bytes(txid, sizeof(txid)) != 0)
        return KG_ERR_CRYPTO;

    /* USERNAME of a check we send is "theirufrag:ourufrag". */
    char user[2 * sizeof(ice->local.ufrag)];
    snprintf(user, sizeof(user), "%s:%s", ice->remote.ufrag,
             ice->local.ufrag);
    kg_stun_request req = {
        .username = user,
        .key = (const uint8_t *)ice->remote.pwd,
        .keylen = strlen(ice->remote.pwd),
        .priority = HOST_PRIORITY,
        .controlling = true,
        .tiebreaker = ice->tiebreaker,
        .use_candidate = true,
    };
    ssize_t n = kg_stun_write_binding_request(&req, txid, out, cap);
    if (n < 0)
        return n;
    memcpy(ice->pending_txid, txid, sizeof(txid));
    ice->pending = true;
    ice->sent++;
    ice->next_send = now + (ice->connected ? KG_ICE_KEEPALIVE
                                           : CLIENT_RETRANSMIT);
    return n;
}

int kg_ice_client_on_stun(kg_ice_client *ice, const uint8_t *pkt, size_t len,
                          const kg_stun_msg *msg, kg_time now)
{
    if (!ice || !pkt || !msg)
        return KG_ERR_INVAL;
    if (msg->type != KG_STUN_BINDING_SUCCESS &&
        msg->type != KG_STUN_BINDING_ERROR)
        return KG_ERR_NOTFOUND;
    if (!ice->pending ||
        memcmp(msg->txid, ice->pending_txid, sizeof(msg->txid)) != 0)
        return KG_ERR_NOTFOUND;
    int rc = kg_stun_check_integrity(pkt, len, msg,
                                     (const uint8_t *)ice->remote.pwd,
                                     strlen(ice->remote.pwd));
    if (rc < 0)
        return rc;
    /* An authenticated error (487 Role Conflict, 400) leaves the
     * transaction pending: the client keeps trying and the caller can
     * report the refusal. */
    if (msg->type == KG_STUN_BINDING_ERROR)
        return KG_ERR_DENIED;
    ice->pending = false;
    ice->last_success = now;
    if (!ice->connected) {
        ice->connected = true;
        ice->next_send = now + KG_ICE_KEEPALIVE;
    }
    return 0;
}

kg_time kg_ice_client_deadline(const kg_ice_client *ice)
{
    return ice->next_send;
}
