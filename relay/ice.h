/* ICE for kaigi, sans-IO.
 *
 * The server is ICE-lite (RFC 8445 section 2.5): it answers checks, never
 * sends them. Selection follows mediasoup: the source address of the
 * first valid check is selected; later, a valid check that carries
 * USE-CANDIDATE from a different address moves the selection there.
 * Consent freshness (RFC 7675): a peer that sends no authenticated check
 * for KG_ICE_CONSENT_TIMEOUT is declared dead.
 *
 * The client side (kaigi-client) is a full agent reduced to one host
 * candidate pair: it sends Binding requests with USE-CANDIDATE every 50 ms
 * until one succeeds, then keeps sending a check every KG_ICE_KEEPALIVE.
 * The 50 ms sends before success are retransmissions of one transaction
 * (same random transaction ID, as RFC 8489 section 6.2.1 asks), so a
 * response slower than 50 ms still counts; each keepalive is a new
 * transaction with a fresh random ID.
 */
#ifndef KG_ICE_H
#define KG_ICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "codec/err.h"
#include "relay/stun.h"

#define KG_ICE_UFRAG_LEN 8  /* >= 4 chars (RFC 8839) */
#define KG_ICE_PWD_LEN 24   /* >= 22 chars, 128 bits of entropy */
#define KG_ICE_CONSENT_TIMEOUT (30 * KG_SEC)
#define KG_ICE_KEEPALIVE (2500 * KG_MS)

typedef struct kg_ice_creds {
    char ufrag[KG_ICE_UFRAG_LEN + 1];
    char pwd[KG_ICE_PWD_LEN + 1];
} kg_ice_creds;

/* Makes random credentials from the CSPRNG. Returns 0 or KG_ERR_CRYPTO. */
int kg_ice_creds_random(kg_ice_creds *out);

/* Splits a Binding request's USERNAME "local:remote" and copies the part
 * before the colon (the ufrag of the agent receiving the request) into
 * out (NUL-terminated). Returns 0, KG_ERR_MALFORMED (no colon, empty) or
 * KG_ERR_NOSPACE. */
int kg_ice_username_local(const kg_stun_msg *msg, char *out, size_t cap);

/* --- Server: ICE-lite ---------------------------------------------- */

typedef struct kg_ice_lite {
    kg_ice_creds local;
    char remote_ufrag[64]; /* from the remote SDP */
    bool selected_valid;
    struct sockaddr_storage selected; /* nominated remote address */
    kg_time last_consent;             /* last authenticated check */
    uint64_t checks_ok;
    uint64_t checks_bad; /* bad integrity, wrong ufrag, bad role */
} kg_ice_lite;

/* remote_ufrag may be NULL or "" when the remote SDP gave none; then any
 * non-empty remote part of USERNAME is accepted. The consent deadline
 * starts at now + KG_ICE_CONSENT_TIMEOUT. */
void kg_ice_lite_init(kg_ice_lite *ice, const kg_ice_creds *local,
                      const char *remote_ufrag, kg_time now);

enum {
    KG_ICE_EV_NONE = 0,
    KG_ICE_EV_SELECTED = 1, /* first nomination, or address changed */
};

/* Handles one parsed STUN message from addr. For a valid Binding request
 * (USERNAME "localufrag:remoteufrag", correct integrity with the local
 * password, ICE-CONTROLLING) writes a success response into out and
 * returns its length; *event tells whether the selected address changed.
 * Returns KG_ERR_AUTH for a bad integrity or username (counted in
 * checks_bad; nothing is written: kaigi drops short-term credential
 * failures silently rather than sending the 401 RFC 8489 allows, so a
 * prober learns nothing), KG_ERR_UNSUPPORTED for other message types.
 * The remote ufrag is checked only when known (non-empty).
 * An authenticated request with the wrong role is counted in checks_bad
 * too, but is answered: ICE-CONTROLLED gets a 487 Role Conflict error,
 * no role (or both) a 400, each with MESSAGE-INTEGRITY; the return value
 * is then the error response's length and *event stays NONE. Also
 * KG_ERR_INVAL (addr not IPv4/IPv6), KG_ERR_NOSPACE, KG_ERR_CRYPTO. */
ssize_t kg_ice_lite_on_stun(kg_ice_lite *ice, const uint8_t *pkt, size_t len,
                            const kg_stun_msg *msg,
                            const struct sockaddr *addr, kg_time now,
                            uint8_t *out, size_t cap, int *event);

/* When consent expires: last_consent + KG_ICE_CONSENT_TIMEOUT. */
kg_time kg_ice_lite_deadline(const kg_ice_lite *ice);

/* --- Client: controlling agent with one candidate pair ------------- */

typedef struct kg_ice_client {
    kg_ice_creds local;
    kg_ice_creds remote;
    uint64_t tiebreaker;
    bool connected; /* a check with USE-CANDIDATE succeeded */
    uint8_t pending_txid[12];
    bool pending;
    kg_time next_send;
    kg_time last_success;
    uint32_t sent;
} kg_ice_client;

void kg_ice_client_init(kg_ice_client *ice, const kg_ice_creds *local,
                        const kg_ice_creds *remote, kg_time now);

/* Writes the next Binding request if one is due at now (every 50 ms
 * until connected, then every KG_ICE_KEEPALIVE). Returns bytes written,
 * 0 if none is due, or an error. */
ssize_t kg_ice_client_poll(kg_ice_client *ice, kg_time now, uint8_t *out,
                           size_t cap);

/* Handles a STUN response. Returns 0 when it was the pending check's
 * success (connected becomes true), KG_ERR_AUTH / KG_ERR_NOTFOUND else;
 * KG_ERR_DENIED for an authenticated error response (487, 400) to the
 * pending check, which stays pending. */
int kg_ice_client_on_stun(kg_ice_client *ice, const uint8_t *pkt, size_t len,
                          const kg_stun_msg *msg, kg_time now);

kg_time kg_ice_client_deadline(const kg_ice_client *ice);

#endif
