/* ICE: the lite server and the client agent talking in one process with
 * simulated time and a link that drops what the test says. Only loopback
 * addresses are used. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include <cmocka.h>

#include "codec/err.h"
#include "crypto/hmac.h"
#include "relay/ice.h"
#include "relay/stun.h"

#define T0 (1000 * KG_SEC)

typedef struct world {
    kg_ice_creds srv, cli;
    kg_ice_lite lite;
    kg_ice_client client;
    struct sockaddr_in a;   /* 127.0.0.1:40000 */
    struct sockaddr_in b;   /* 127.0.0.1:40001 */
    struct sockaddr_in6 c;  /* [::1]:40002 */
} world;

static void set_creds(kg_ice_creds *c, const char *ufrag, const char *pwd)
{
    memset(c, 0, sizeof(*c));
    snprintf(c->ufrag, sizeof(c->ufrag), "%s", ufrag);
    snprintf(c->pwd, sizeof(c->pwd), "%s", pwd);
}

static void world_init(world *w)
{
    memset(w, 0, sizeof(*w));
    set_creds(&w->srv, "srvUfrag", "ServerPassword0123456789");
    set_creds(&w->cli, "cliUfrag", "ClientPassword0123456789");
    kg_ice_lite_init(&w->lite, &w->srv, w->cli.ufrag, T0);
    kg_ice_client_init(&w->client, &w->cli, &w->srv, T0);
    w->a.sin_family = AF_INET;
    w->a.sin_port = htons(40000);
    w->a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    w->b = w->a;
    w->b.sin_port = htons(40001);
    w->c.sin6_family = AF_INET6;
    w->c.sin6_port = htons(40002);
    w->c.sin6_addr = in6addr_loopback;
}

/* Hands one datagram to the lite server: parse, then on_stun. */
static ssize_t to_server(world *w, const uint8_t *pkt, size_t len,
                         const void *addr, kg_time now, uint8_t *out,
                         size_t cap, int *ev)
{
    kg_stun_msg m;
    assert_int_equal(kg_stun_parse(pkt, len, &m), 0);
    return kg_ice_lite_on_stun(&w->lite, pkt, len, &m,
                               (const struct sockaddr *)addr, now, out, cap,
                               ev);
}

static int to_client(world *w, const uint8_t *pkt, size_t len, kg_time now)
{
    kg_stun_msg m;
    assert_int_equal(kg_stun_parse(pkt, len, &m), 0);
    return kg_ice_client_on_stun(&w->client, pkt, len, &m, now);
}

/* A Binding request as a (possibly misbehaving) peer would send it. */
static size_t peer_request(const char *username, const char *key,
                           bool controlling, bool use_candidate,
                           const uint8_t txid[12], uint8_t *out, size_t cap)
{
    kg_stun_request req = {
        .username = username,
        .key = (const uint8_t *)key,
        .keylen = strlen(key),
        .priority = 0x7effffffu,
        .controlling = controlling,
        .tiebreaker = 42,
        .use_candidate = use_candidate,
    };
    ssize_t n = kg_stun_write_binding_request(&req, txid, out, cap);
    assert_true(n > 0);
    return (size_t)n;
}

/* A request with a role attribute of our choosing (0 for none, or two of
 * them), authenticated with key, no FINGERPRINT: the writer cannot make
 * these, so build them by hand. */
static size_t request_with_roles(const char *username, const char *key,
                                 const uint16_t *roles, size_t nroles,
                                 uint8_t *out)
{
    size_t ulen = strlen(username), len = KG_STUN_HEADER_LEN;
    memset(out, 0, 200);
    out[1] = 0x01; /* Binding request */
    out[4] = 0x21, out[5] = 0x12, out[6] = 0xa4, out[7] = 0x42;
    memset(out + 8, 0x77, 12);
    out[len + 1] = 0x06; /* USERNAME */
    out[len + 3] = (uint8_t)ulen;
    memcpy(out + len + 4, username, ulen);
    len += 4 + ((ulen + 3) & ~(size_t)3);
    for (size_t i = 0; i < nroles; i++) {
        out[len] = (uint8_t)(roles[i] >> 8);
        out[len + 1] = (uint8_t)roles[i];
        out[len + 3] = 8;
        out[len + 11] = 1; /* tie breaker 1 */
        len += 12;
    }
    out[3] = (uint8_t)(len + 24 - KG_STUN_HEADER_LEN);
    out[len + 1] = 0x08; /* MESSAGE-INTEGRITY */
    out[len + 3] = 20;
    assert_int_equal(kg_hmac_sha1((const uint8_t *)key, strlen(key), out,
                                  KG_STUN_HEADER_LEN,
                                  out + KG_STUN_HEADER_LEN,
                                  len - KG_STUN_HEADER_LEN, out + len + 4),
                     0);
    return len + 24;
}

static void assert_selected(const world *w, const void *addr, size_t len)
{
    assert_true(w->lite.selected_valid);
    assert_memory_equal(&w->lite.selected, addr, len);
}

/* --- Credentials ------------------------------------------------------ */

static bool is_alnum_str(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

static void test_creds_random(void **state)
{
    (void)state;
    kg_ice_creds x, y;
    assert_int_equal(kg_ice_creds_random(&x), 0);
    assert_int_equal(kg_ice_creds_random(&y), 0);
    assert_true(is_alnum_str(x.ufrag, KG_ICE_UFRAG_LEN));
    assert_true(is_alnum_str(x.pwd, KG_ICE_PWD_LEN));
    assert_true(is_alnum_str(y.pwd, KG_ICE_PWD_LEN));
    /* 143 bits each: equal only if the CSPRNG is broken. */
    assert_string_not_equal(x.pwd, y.pwd);
    assert_int_equal(kg_ice_creds_random(NULL), KG_ERR_INVAL);
}

static void test_username_local(void **state)
{
    (void)state;
    kg_stun_msg m;
    char out[16];
    memset(&m, 0, sizeof(m));
    assert_int_equal(kg_ice_username_local(&m, out, sizeof(out)),
                     KG_ERR_MALFORMED);

    static const struct {
        const char *user;
        int rc;
        const char *local;
    } cases[] = {
        {"srvUfrag:cliUfrag", 0, "srvUfrag"},
        {"a:b", 0, "a"},
        {"a:b:c", 0, "a"},
        {"nocolon", KG_ERR_MALFORMED, NULL},
        {":remote", KG_ERR_MALFORMED, NULL},
        {"local:", KG_ERR_MALFORMED, NULL},
        {":", KG_ERR_MALFORMED, NULL},
        {"", KG_ERR_MALFORMED, NULL},
        {"sixteencharslong:x", KG_ERR_NOSPACE, NULL},
        {"fifteencharslon:x", 0, "fifteencharslon"},
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(cases); i++) {
        m.username = (const uint8_t *)cases[i].user;
        m.username_len = strlen(cases[i].user);
        assert_int_equal(kg_ice_username_local(&m, out, sizeof(out)),
                         cases[i].rc);
        if (cases[i].rc == 0)
            assert_string_equal(out, cases[i].local);
    }
    assert_int_equal(kg_ice_username_local(NULL, out, sizeof(out)),
                     KG_ERR_INVAL);
}

/* --- Client and server together --------------------------------------- */

static void test_connect(void **state)
{
    (void)state;
    world w;
    uint8_t req[300], resp[300];
    int ev = -1;
    kg_stun_msg m;
    world_init(&w);
    assert_true(kg_ice_client_deadline(&w.client) == T0);
    assert_true(kg_ice_lite_deadline(&w.lite) ==
                T0 + KG_ICE_CONSENT_TIMEOUT);

    ssize_t n = kg_ice_client_poll(&w.client, T0, req, sizeof(req));
    assert_true(n > 0);
    assert_int_equal(w.client.sent, 1);
    assert_true(w.client.pending);
    assert_int_equal(kg_stun_parse(req, (size_t)n, &m), 0);
    assert_int_equal(m.type, KG_STUN_BINDING_REQUEST);
    assert_int_equal(m.username_len, 17);
    assert_memory_equal(m.username, "srvUfrag:cliUfrag", 17);
    /* RFC 8445 5.1.2.1: (2^24)*126 + (2^8)*65535 + (256 - 1). */
    assert_int_equal(m.priority, 0x7effffffu);
    assert_true(m.ice_controlling);
    assert_false(m.ice_controlled);
    assert_true(m.tiebreaker == w.client.tiebreaker);
    assert_true(m.use_candidate);
    assert_true(m.has_fingerprint);
    assert_memory_equal(m.txid, w.client.pending_txid, 12);

    kg_time t1 = T0 + 1 * KG_MS;
    ssize_t r = to_server(&w, req, (size_t)n, &w.a, t1, resp, sizeof(resp),
                          &ev);
    assert_true(r > 0);
    assert_int_equal(ev, KG_ICE_EV_SELECTED);
    assert_selected(&w, &w.a, sizeof(w.a));
    assert_int_equal(w.lite.checks_ok, 1);
    assert_int_equal(w.lite.checks_bad, 0);
    assert_true(kg_ice_lite_deadline(&w.lite) == t1 + KG_ICE_CONSENT_TIMEOUT);

    assert_int_equal(kg_stun_parse(resp, (size_t)r, &m), 0);
    assert_int_equal(m.type, KG_STUN_BINDING_SUCCESS);
    assert_true(m.has_xor_mapped);
    assert_memory_equal(&m.xor_mapped, &w.a, sizeof(w.a));
    assert_true(m.has_fingerprint);

    kg_time t2 = T0 + 2 * KG_MS;
    assert_int_equal(to_client(&w, resp, (size_t)r, t2), 0);
    assert_true(w.client.connected);
    assert_false(w.client.pending);
    assert_true(w.client.last_success == t2);
    assert_true(kg_ice_client_deadline(&w.client) == t2 + KG_ICE_KEEPALIVE);
    assert_int_equal(kg_ice_client_poll(&w.client, t2, req, sizeof(req)), 0);
}

static void test_wrong_password(void **state)
{
    (void)state;
    world w;
    uint8_t req[300], resp[300], untouched[300];
    int ev = -1;
    world_init(&w);
    kg_ice_creds wrong = w.srv;
    wrong.pwd[5] ^= 1;
    kg_ice_client_init(&w.client, &w.cli, &wrong, T0);

    ssize_t n = kg_ice_client_poll(&w.client, T0, req, sizeof(req));
    assert_true(n > 0);
    memset(resp, 0xaa, sizeof(resp));
    memcpy(untouched, resp, sizeof(resp));
    assert_int_equal(to_server(&w, req, (size_t)n, &w.a, T0 + KG_SEC, resp,
                               sizeof(resp), &ev),
                     KG_ERR_AUTH);
    assert_int_equal(ev, KG_ICE_EV_NONE);
    assert_memory_equal(resp, untouched, sizeof(resp)); /* nothing written */
    assert_int_equal(w.lite.checks_bad, 1);
    assert_int_equal(w.lite.checks_ok, 0);
    assert_false(w.lite.selected_valid);
    assert_true(kg_ice_lite_deadline(&w.lite) == T0 + KG_ICE_CONSENT_TIMEOUT);
}

static void test_wrong_ufrag(void **state)
{
    (void)state;
    world w;
    uint8_t req[300], resp[300], txid[12];
    int ev;
    const char *pwd = "ServerPassword0123456789";
    world_init(&w);
    memset(txid, 1, sizeof(txid));

    static const char *bad[] = {
        "srvUfraX:cliUfrag",  /* not our ufrag */
        "srvUfra:cliUfrag",   /* a prefix of it */
        "srvUfragX:cliUfrag", /* longer */
        "srvUfrag:cliUfraX",  /* not the remote ufrag from SDP */
        "srvUfrag:cliUfragX",
        "srvUfrag",           /* no colon */
        "srvUfrag:",          /* empty remote */
        ":cliUfrag",          /* empty local */
        "cliUfrag:srvUfrag",  /* the wrong way round */
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(bad); i++) {
        size_t n = peer_request(bad[i], pwd, true, true, txid, req,
                                sizeof(req));
        assert_int_equal(to_server(&w, req, n, &w.a, T0, resp, sizeof(resp),
                                   &ev),
                         KG_ERR_AUTH);
        assert_int_equal(w.lite.checks_bad, i + 1);
    }
    /* No USERNAME at all. */
    uint8_t bare[KG_STUN_HEADER_LEN] = {0x00, 0x01, 0x00, 0x00,
                                        0x21, 0x12, 0xa4, 0x42};
    assert_int_equal(to_server(&w, bare, sizeof(bare), &w.a, T0, resp,
                               sizeof(resp), &ev),
                     KG_ERR_AUTH);
    assert_int_equal(w.lite.checks_bad, KG_ARRAY_LEN(bad) + 1);
    assert_int_equal(w.lite.checks_ok, 0);
    assert_false(w.lite.selected_valid);

    /* When the SDP gave no remote ufrag, any non-empty one passes. */
    kg_ice_lite_init(&w.lite, &w.srv, "", T0);
    size_t n = peer_request("srvUfrag:whoever", pwd, true, true, txid, req,
                            sizeof(req));
    assert_true(to_server(&w, req, n, &w.a, T0, resp, sizeof(resp), &ev) > 0);
    assert_int_equal(w.lite.checks_ok, 1);
    kg_ice_lite_init(&w.lite, &w.srv, NULL, T0);
    assert_true(to_server(&w, req, n, &w.a, T0, resp, sizeof(resp), &ev) > 0);
}

static void test_role_conflict(void **state)
{
    (void)state;
    world w;
    uint8_t req[300], resp[300];
    int ev = -1;
    kg_stun_msg m;
    const char *pwd = "ServerPassword0123456789";
    world_init(&w);

    /* A peer that thinks it is controlled: authenticated, so answered. */
    size_t n = peer_request("srvUfrag:cliUfrag", pwd, false, true,
                            w.client.pending_txid, req, sizeof(req));
    ssize_t r = to_server(&w, req, n, &w.a, T0 + KG_SEC, resp, sizeof(resp),
                          &ev);
    assert_true(r > 0);
    assert_int_equal(ev, KG_ICE_EV_NONE);
    assert_int_equal(kg_stun_parse(resp, (size_t)r, &m), 0);
    assert_int_equal(m.type, KG_STUN_BINDING_ERROR);
    assert_int_equal(m.error_code, 487);
    assert_int_equal(kg_stun_check_integrity(resp, (size_t)r, &m,
                                             (const uint8_t *)pwd,
                                             strlen(pwd)),
                     0);
    assert_int_equal(w.lite.checks_bad, 1);
    assert_int_equal(w.lite.checks_ok, 0);
    assert_false(w.lite.selected_valid);
    assert_true(kg_ice_lite_deadline(&w.lite) == T0 + KG_ICE_CONSENT_TIMEOUT);

    /* The same with a wrong password is dropped, not answered. */
    n = peer_request("srvUfrag:cliUfrag", "nope", false, true,
                     w.client.pending_txid, req, sizeof(req));
    assert_int_equal(to_server(&w, req, n, &w.a, T0, resp, sizeof(resp), &ev),
                     KG_ERR_AUTH);
    assert_int_equal(w.lite.checks_bad, 2);

    /* No role, or both roles: 400. */
    static const uint16_t both[2] = {KG_STUN_ATTR_ICE_CONTROLLING,
                                     KG_STUN_ATTR_ICE_CONTROLLED};
    for (size_t k = 0; k <= 2; k += 2) {
        n = request_with_roles("srvUfrag:cliUfrag", pwd, both, k, req);
        r = to_server(&w, req, n, &w.a, T0, resp, sizeof(resp), &ev);
        assert_true(r > 0);
        assert_int_equal(kg_stun_parse(resp, (size_t)r, &m), 0);
        assert_int_equal(m.error_code, 400);
    }
    assert_int_equal(w.lite.checks_bad, 4);
    /* ...and the hand-built request is itself sound: one role passes. */
    n = request_with_roles("srvUfrag:cliUfrag", pwd, both, 1, req);
    assert_true(to_server(&w, req, n, &w.a, T0, resp, sizeof(resp), &ev) > 0);
    assert_int_equal(w.lite.checks_ok, 1);
}

static void test_client_on_error_response(void **state)
{
    (void)state;
    world w;
    uint8_t req[300], resp[300];
    world_init(&w);
    assert_true(kg_ice_client_poll(&w.client, T0, req, sizeof(req)) > 0);

    /* An authenticated 487 to the pending check: refused, still pending. */
    ssize_t r = kg_stun_write_binding_error_auth(
        w.client.pending_txid, 487, (const uint8_t *)w.srv.pwd,
        strlen(w.srv.pwd), resp, sizeof(resp));
    assert_true(r > 0);
    assert_int_equal(to_client(&w, resp, (size_t)r, T0), KG_ERR_DENIED);
    assert_true(w.client.pending);
    assert_false(w.client.connected);

    /* An error anyone could forge (no integrity) is not believed. */
    r = kg_stun_write_binding_error(w.client.pending_txid, 487, resp,
                                    sizeof(resp));
    assert_int_equal(to_client(&w, resp, (size_t)r, T0), KG_ERR_AUTH);
    assert_true(w.client.pending);
}

static void test_selection_switch(void **state)
{
    (void)state;
    world w;
    uint8_t req[300], resp[300], txid[12];
    int ev;
    const char *user = "srvUfrag:cliUfrag", *pwd = "ServerPassword0123456789";
    world_init(&w);
    memset(txid, 9, sizeof(txid));
    size_t plain = 0, nominate = 0;
    uint8_t req_uc[300];
    plain = peer_request(user, pwd, true, false, txid, req, sizeof(req));
    nominate = peer_request(user, pwd, true, true, txid, req_uc,
                            sizeof(req_uc));

    /* The first valid check selects its address, nominated or not. */
    assert_true(to_server(&w, req, plain, &w.a, T0, resp, sizeof(resp), &ev) >
                0);
    assert_int_equal(ev, KG_ICE_EV_SELECTED);
    assert_selected(&w, &w.a, sizeof(w.a));

    /* A valid check from elsewhere without USE-CANDIDATE: answered, but
     * the media stays where it is. */
    assert_true(to_server(&w, req, plain, &w.b, T0, resp, sizeof(resp), &ev) >
                0);
    assert_int_equal(ev, KG_ICE_EV_NONE);
    assert_selected(&w, &w.a, sizeof(w.a));

    /* Nominated from B: switch. */
    assert_true(to_server(&w, req_uc, nominate, &w.b, T0, resp, sizeof(resp),
                          &ev) > 0);
    assert_int_equal(ev, KG_ICE_EV_SELECTED);
    assert_selected(&w, &w.b, sizeof(w.b));

    /* Nominated again from B: nothing changes. */
    assert_true(to_server(&w, req_uc, nominate, &w.b, T0, resp, sizeof(resp),
                          &ev) > 0);
    assert_int_equal(ev, KG_ICE_EV_NONE);

    /* Nominated from IPv6 loopback: switch across families. */
    ssize_t r = to_server(&w, req_uc, nominate, &w.c, T0, resp, sizeof(resp),
                          &ev);
    assert_true(r > 0);
    assert_int_equal(ev, KG_ICE_EV_SELECTED);
    assert_selected(&w, &w.c, sizeof(w.c));
    kg_stun_msg m;
    assert_int_equal(kg_stun_parse(resp, (size_t)r, &m), 0);
    assert_memory_equal(&m.xor_mapped, &w.c, sizeof(w.c));

    /* Same IPv6 address, other port: a different address. */
    struct sockaddr_in6 c2 = w.c;
    c2.sin6_port = htons(40003);
    assert_true(to_server(&w, req_uc, nominate, &c2, T0, resp, sizeof(resp),
                          &ev) > 0);
    assert_int_equal(ev, KG_ICE_EV_SELECTED);
    assert_selected(&w, &c2, sizeof(c2));

    /* Plain check from A again: no switch. */
    assert_true(to_server(&w, req, plain, &w.a, T0, resp, sizeof(resp), &ev) >
                0);
    assert_int_equal(ev, KG_ICE_EV_NONE);
    assert_selected(&w, &c2, sizeof(c2));
    assert_int_equal(w.lite.checks_ok, 7);
    assert_int_equal(w.lite.checks_bad, 0);
}

static void test_consent_deadline(void **state)
{
    (void)state;
    world w;
    uint8_t req[300], bad[300], resp[300], txid[12];
    int ev;
    const char *user = "srvUfrag:cliUfrag";
    world_init(&w);
    memset(txid, 3, sizeof(txid));
    size_t n = peer_request(user, "ServerPassword0123456789", true, true,
                            txid, req, sizeof(req));
    size_t nb = peer_request(user, "ServerPassword012345678X", true, true,
                             txid, bad, sizeof(bad));

    assert_true(kg_ice_lite_deadline(&w.lite) == T0 + 30 * KG_SEC);
    assert_true(to_server(&w, req, n, &w.a, T0 + 10 * KG_SEC, resp,
                          sizeof(resp), &ev) > 0);
    assert_true(kg_ice_lite_deadline(&w.lite) == T0 + 40 * KG_SEC);
    /* A failed check does not keep the peer alive. */
    assert_int_equal(to_server(&w, bad, nb, &w.a, T0 + 20 * KG_SEC, resp,
                               sizeof(resp), &ev),
                     KG_ERR_AUTH);
    assert_true(kg_ice_lite_deadline(&w.lite) == T0 + 40 * KG_SEC);
    /* A check from a non-selected address is still consent. */
    assert_true(to_server(&w, req, n, &w.b, T0 + 35 * KG_SEC, resp,
                          sizeof(resp), &ev) > 0);
    assert_true(kg_ice_lite_deadline(&w.lite) == T0 + 65 * KG_SEC);
}

static void test_client_retransmit_and_keepalive(void **state)
{
    (void)state;
    world w;
    uint8_t req[300], resp[300], old_resp[300], first_txid[12];
    int ev;
    world_init(&w);

    /* Three sends 50 ms apart, the first two lost. Before success the
     * sends are one transaction: same ID. */
    assert_true(kg_ice_client_poll(&w.client, T0, req, sizeof(req)) > 0);
    memcpy(first_txid, w.client.pending_txid, 12);
    assert_int_equal(kg_ice_client_poll(&w.client, T0 + 49 * KG_MS, req,
                                        sizeof(req)),
                     0);
    assert_true(kg_ice_client_deadline(&w.client) == T0 + 50 * KG_MS);
    assert_true(kg_ice_client_poll(&w.client, T0 + 50 * KG_MS, req,
                                   sizeof(req)) > 0);
    assert_memory_equal(w.client.pending_txid, first_txid, 12);
    assert_true(kg_ice_client_deadline(&w.client) == T0 + 100 * KG_MS);
    /* Polled late: the next send is 50 ms after this one. */
    ssize_t n = kg_ice_client_poll(&w.client, T0 + 107 * KG_MS, req,
                                   sizeof(req));
    assert_true(n > 0);
    assert_int_equal(w.client.sent, 3);
    assert_true(kg_ice_client_deadline(&w.client) == T0 + 157 * KG_MS);

    ssize_t r = to_server(&w, req, (size_t)n, &w.a, T0 + 110 * KG_MS, resp,
                          sizeof(resp), &ev);
    assert_true(r > 0);
    memcpy(old_resp, resp, (size_t)r);
    kg_time tc = T0 + 120 * KG_MS;
    assert_int_equal(to_client(&w, resp, (size_t)r, tc), 0);
    assert_true(w.client.connected);

    /* A duplicate of that response: nothing pending any more. */
    assert_int_equal(to_client(&w, old_resp, (size_t)r, tc), KG_ERR_NOTFOUND);

    /* Keepalive: not before KG_ICE_KEEPALIVE, then with a fresh ID. */
    assert_int_equal(kg_ice_client_poll(&w.client, tc + KG_ICE_KEEPALIVE - 1,
                                        req, sizeof(req)),
                     0);
    n = kg_ice_client_poll(&w.client, tc + KG_ICE_KEEPALIVE, req, sizeof(req));
    assert_true(n > 0);
    assert_int_equal(w.client.sent, 4);
    assert_memory_not_equal(w.client.pending_txid, first_txid, 12);
    assert_true(kg_ice_client_deadline(&w.client) ==
                tc + 2 * KG_ICE_KEEPALIVE);

    /* The old response does not answer the keepalive. */
    assert_int_equal(to_client(&w, old_resp, (size_t)r, tc), KG_ERR_NOTFOUND);

    /* A response signed with another password: AUTH, still pending. */
    kg_ice_lite other;
    kg_ice_creds other_creds = w.srv;
    other_creds.pwd[0] ^= 1;
    kg_ice_lite_init(&other, &other_creds, NULL, T0);
    kg_stun_msg m;
    assert_int_equal(kg_stun_parse(req, (size_t)n, &m), 0);
    ssize_t r2 = kg_stun_write_binding_success(
        m.txid, (const struct sockaddr *)&w.a,
        (const uint8_t *)other_creds.pwd, strlen(other_creds.pwd), resp,
        sizeof(resp));
    assert_true(r2 > 0);
    assert_int_equal(to_client(&w, resp, (size_t)r2, tc), KG_ERR_AUTH);
    assert_true(w.client.pending);

    /* A request handed to the client is not a response. */
    assert_int_equal(to_client(&w, req, (size_t)n, tc), KG_ERR_NOTFOUND);

    /* The real answer. */
    kg_time tk = tc + KG_ICE_KEEPALIVE + 5 * KG_MS;
    r = to_server(&w, req, (size_t)n, &w.a, tk, resp, sizeof(resp), &ev);
    assert_true(r > 0);
    assert_int_equal(ev, KG_ICE_EV_NONE);
    assert_int_equal(to_client(&w, resp, (size_t)r, tk), 0);
    assert_true(w.client.last_success == tk);
    /* Success does not move the keepalive schedule. */
    assert_true(kg_ice_client_deadline(&w.client) ==
                tc + 2 * KG_ICE_KEEPALIVE);
}

/* The response to the first send arrives after the retransmission went
 * out (a path slower than 50 ms): it still counts. */
static void test_client_slow_path(void **state)
{
    (void)state;
    world w;
    uint8_t req1[300], req2[300], resp[300];
    int ev;
    world_init(&w);
    ssize_t n1 = kg_ice_client_poll(&w.client, T0, req1, sizeof(req1));
    assert_true(n1 > 0);
    assert_true(kg_ice_client_poll(&w.client, T0 + 50 * KG_MS, req2,
                                   sizeof(req2)) > 0);
    ssize_t r = to_server(&w, req1, (size_t)n1, &w.a, T0 + 40 * KG_MS, resp,
                          sizeof(resp), &ev);
    assert_true(r > 0);
    assert_int_equal(to_client(&w, resp, (size_t)r, T0 + 80 * KG_MS), 0);
    assert_true(w.client.connected);
}

static void test_lite_other_messages_and_args(void **state)
{
    (void)state;
    world w;
    uint8_t req[300], resp[300], txid[12];
    int ev = -1;
    world_init(&w);
    memset(txid, 4, sizeof(txid));

    /* Responses and indications are not checks: not counted. */
    ssize_t r = kg_stun_write_binding_success(
        txid, (const struct sockaddr *)&w.a, (const uint8_t *)"k", 1, req,
        sizeof(req));
    assert_int_equal(to_server(&w, req, (size_t)r, &w.a, T0, resp,
                               sizeof(resp), &ev),
                     KG_ERR_UNSUPPORTED);
    uint8_t ind[KG_STUN_HEADER_LEN] = {0x00, 0x11, 0x00, 0x00,
                                       0x21, 0x12, 0xa4, 0x42};
    assert_int_equal(to_server(&w, ind, sizeof(ind), &w.a, T0, resp,
                               sizeof(resp), &ev),
                     KG_ERR_UNSUPPORTED);
    assert_int_equal(w.lite.checks_bad + w.lite.checks_ok, 0);

    /* A valid check, but no room for the answer: no state changes. */
    size_t n = peer_request("srvUfrag:cliUfrag", "ServerPassword0123456789",
                            true, true, txid, req, sizeof(req));
    assert_int_equal(to_server(&w, req, n, &w.a, T0 + KG_SEC, resp, 40, &ev),
                     KG_ERR_NOSPACE);
    assert_int_equal(w.lite.checks_ok, 0);
    assert_false(w.lite.selected_valid);
    assert_true(kg_ice_lite_deadline(&w.lite) == T0 + KG_ICE_CONSENT_TIMEOUT);

    /* An address that is neither IPv4 nor IPv6. */
    struct sockaddr_un sun;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    assert_int_equal(to_server(&w, req, n, &sun, T0, resp, sizeof(resp), &ev),
                     KG_ERR_INVAL);
    /* event may be NULL. */
    kg_stun_msg m;
    assert_int_equal(kg_stun_parse(req, n, &m), 0);
    assert_true(kg_ice_lite_on_stun(&w.lite, req, n, &m,
                                    (const struct sockaddr *)&w.a, T0, resp,
                                    sizeof(resp), NULL) > 0);
    assert_true(w.lite.selected_valid);

    assert_int_equal(kg_ice_client_poll(&w.client, T0, NULL, 0),
                     KG_ERR_INVAL);
    assert_int_equal(kg_ice_client_poll(&w.client, T0, resp, 10),
                     KG_ERR_NOSPACE);
    assert_int_equal(w.client.sent, 0);
    assert_false(w.client.pending);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_creds_random),
        cmocka_unit_test(test_username_local),
        cmocka_unit_test(test_connect),
        cmocka_unit_test(test_wrong_password),
        cmocka_unit_test(test_wrong_ufrag),
        cmocka_unit_test(test_role_conflict),
        cmocka_unit_test(test_client_on_error_response),
        cmocka_unit_test(test_selection_switch),
        cmocka_unit_test(test_consent_deadline),
        cmocka_unit_test(test_client_retransmit_and_keepalive),
        cmocka_unit_test(test_client_slow_path),
        cmocka_unit_test(test_lite_other_messages_and_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
