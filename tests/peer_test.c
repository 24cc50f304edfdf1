/* kaigi's server transport (kg_peer: ICE-lite + DTLS server + SRTP, as the
 * media worker drives it) against kaigi's client transport, in one
 * process with a simulated clock and no sockets. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "codec/rtp.h"
#include "relay/client_peer.h"
#include "relay/peer.h"
#include "relay/stun.h"

#define CAP 2048

typedef struct fixture {
    kg_dtls_cert *scert, *ccert;
    kg_dtls_ctx *sctx, *cctx;
    kg_ice_creds screds, ccreds;
    kg_peer server;
    kg_client_peer *client;
    struct sockaddr_in caddr;
    kg_time now;
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof(f));
    f.now = 5 * KG_SEC;
    f.scert = kg_dtls_cert_new();
    f.ccert = kg_dtls_cert_new();
    assert_non_null(f.scert);
    assert_non_null(f.ccert);
    f.sctx = kg_dtls_ctx_new(f.scert, KG_DTLS_SERVER, 0);
    f.cctx = kg_dtls_ctx_new(f.ccert, KG_DTLS_CLIENT, 0);
    assert_non_null(f.sctx);
    assert_non_null(f.cctx);
    assert_int_equal(kg_ice_creds_random(&f.screds), 0);
    assert_int_equal(kg_ice_creds_random(&f.ccreds), 0);
    assert_int_equal(kg_peer_init(&f.server, f.sctx, &f.screds,
                                  f.ccreds.ufrag,
                                  kg_dtls_cert_fingerprint(f.ccert), f.now),
                     0);
    f.client = kg_client_peer_new(f.cctx, &f.ccreds, &f.screds,
                                  kg_dtls_cert_fingerprint(f.scert), f.now);
    assert_non_null(f.client);
    f.caddr.sin_family = AF_INET;
    f.caddr.sin_port = htons(50000);
    inet_pton(AF_INET, "127.0.0.1", &f.caddr.sin_addr);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kg_client_peer_del(f->client);
    kg_peer_free(&f->server);
    kg_dtls_ctx_del(f->sctx);
    kg_dtls_ctx_del(f->cctx);
    kg_dtls_cert_del(f->scert);
    kg_dtls_cert_del(f->ccert);
    return 0;
}

/* Delivers one client datagram to the server the way the worker does,
 * and every server reply back. */
static void client_to_server(fixture *f, uint8_t *pkt, size_t len)
{
    uint8_t out[CAP];
    size_t plain;
    if (pkt[0] <= 3) {
        kg_stun_msg msg;
        assert_int_equal(kg_stun_parse(pkt, len, &msg), 0);
        bool selected;
        ssize_t n = kg_peer_on_stun(&f->server, pkt, len, &msg,
                                    (struct sockaddr *)&f->caddr, f->now, out,
                                    sizeof(out), &selected);
        if (n > 0)
            kg_client_peer_recv(f->client, out, (size_t)n, f->now, &plain);
        return;
    }
    kg_peer_on_dtls(&f->server, pkt, len, f->now);
    ssize_t n;
    while ((n = kg_peer_pull(&f->server, out, sizeof(out))) > 0)
        kg_client_peer_recv(f->client, out, (size_t)n, f->now, &plain);
}

static void run_until_connected(fixture *f)
{
    uint8_t buf[CAP];
    for (int step = 0; step < 200; step++) {
        if (f->server.state == KG_PEER_CONNECTED &&
            kg_client_peer_state(f->client) == KG_CLIENT_PEER_CONNECTED)
            return;
        ssize_t n;
        while ((n = kg_client_peer_poll(f->client, f->now, buf,
                                        sizeof(buf))) > 0)
            client_to_server(f, buf, (size_t)n);
        f->now += 10 * KG_MS;
    }
    fail_msg("no connection: server %s, client %s",
             kg_peer_state_name(f->server.state),
             kg_client_peer_state_name(kg_client_peer_state(f->client)));
}

static void test_connects_on_gcm256(void **state)
{
    fixture *f = *state;
    assert_int_equal(f->server.state, KG_PEER_NEW);
    run_until_connected(f);
    assert_int_equal(f->server.profile, KG_SRTP_AEAD_AES_256_GCM);
    assert_int_equal(kg_client_peer_profile(f->client),
                     KG_SRTP_AEAD_AES_256_GCM);
    assert_true(f->server.ice.selected_valid);
    assert_true(f->server.stats.stun_ok >= 1);
    assert_int_equal(f->server.stats.stun_bad, 0);
}

static size_t make_rtp(uint8_t *buf, uint16_t seq)
{
    uint8_t payload[1000];
    memset(payload, 0xA5, sizeof(payload));
    kg_rtp_hdr h = {.version = 2, .pt = 96, .seq = seq, .ts = 90000u * seq,
                    .ssrc = 0x11223344};
    ssize_t n = kg_rtp_write(&h, payload, sizeof(payload), buf, CAP);
    assert_true(n > 0);
    return (size_t)n;
}

static void test_media_both_ways(void **state)
{
    fixture *f = *state;
    run_until_connected(f);
    uint8_t pkt[CAP], plain[CAP];
    for (uint16_t seq = 1; seq <= 50; seq++) {
        size_t len = make_rtp(pkt, seq);
        memcpy(plain, pkt, len);
        ssize_t n = kg_client_peer_send_rtp(f->client, pkt, len, sizeof(pkt));
        assert_true(n > (ssize_t)len); /* the GCM tag was added */
        size_t got = (size_t)n;
        assert_int_equal(kg_peer_unprotect(&f->server, pkt, &got, false), 0);
        assert_int_equal(got, len);
        assert_memory_equal(pkt, plain, len);

        /* and back, as the worker does toward a receiver */
        size_t out = len;
        assert_int_equal(kg_peer_protect(&f->server, pkt, &out, sizeof(pkt),
                                         false),
                         0);
        size_t dec = 0;
        assert_int_equal(kg_client_peer_recv(f->client, pkt, out, f->now,
                                             &dec),
                         KG_CLIENT_PEER_RTP);
        assert_int_equal(dec, len);
        assert_memory_equal(pkt, plain, len);
    }
    assert_int_equal(f->server.stats.rtp_in, 50);
    assert_int_equal(f->server.stats.rtp_out, 50);
}

static void test_tampered_and_replayed_counted(void **state)
{
    fixture *f = *state;
    run_until_connected(f);
    uint8_t pkt[CAP], copy[CAP];
    size_t len = make_rtp(pkt, 7);
    ssize_t n = kg_client_peer_send_rtp(f->client, pkt, len, sizeof(pkt));
    assert_true(n > 0);
    memcpy(copy, pkt, (size_t)n);
    size_t got = (size_t)n;
    assert_int_equal(kg_peer_unprotect(&f->server, pkt, &got, false), 0);
    got = (size_t)n;
    assert_int_equal(kg_peer_unprotect(&f->server, copy, &got, false),
                     KG_ERR_REPLAY);
    len = make_rtp(pkt, 8);
    n = kg_client_peer_send_rtp(f->client, pkt, len, sizeof(pkt));
    pkt[n - 1] ^= 0x01; /* corrupt the tag */
    got = (size_t)n;
    assert_int_equal(kg_peer_unprotect(&f->server, pkt, &got, false),
                     KG_ERR_AUTH);
    assert_int_equal(f->server.stats.srtp_replay, 1);
    assert_int_equal(f->server.stats.srtp_auth_fail, 1);
}

static void test_media_refused_before_keys(void **state)
{
    fixture *f = *state;
    uint8_t pkt[CAP];
    size_t len = make_rtp(pkt, 1);
    assert_int_equal(kg_peer_unprotect(&f->server, pkt, &len, false),
                     KG_ERR_STATE);
    assert_int_equal(kg_peer_protect(&f->server, pkt, &len, sizeof(pkt),
                                     false),
                     KG_ERR_STATE);
    /* DTLS before any ICE check is refused too: no state for strangers */
    uint8_t hello[32] = {22, 0xfe, 0xfd};
    assert_int_equal(kg_peer_on_dtls(&f->server, hello, sizeof(hello), f->now),
                     KG_ERR_STATE);
}

static void test_wrong_password_counted(void **state)
{
    fixture *f = *state;
    kg_ice_creds wrong = f->screds;
    wrong.pwd[0] = wrong.pwd[0] == 'a' ? 'b' : 'a';
    char user[64];
    snprintf(user, sizeof(user), "%s:%s", f->screds.ufrag, f->ccreds.ufrag);
    kg_stun_request req = {.username = user,
                           .key = (const uint8_t *)wrong.pwd,
                           .keylen = strlen(wrong.pwd),
                           .priority = 1,
                           .controlling = true,
                           .tiebreaker = 42,
                           .use_candidate = true};
    uint8_t txid[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    uint8_t buf[CAP], out[CAP];
    ssize_t n = kg_stun_write_binding_request(&req, txid, buf, sizeof(buf));
    assert_true(n > 0);
    kg_stun_msg msg;
    assert_int_equal(kg_stun_parse(buf, (size_t)n, &msg), 0);
    bool selected = true;
    assert_true(kg_peer_on_stun(&f->server, buf, (size_t)n, &msg,
                                (struct sockaddr *)&f->caddr, f->now, out,
                                sizeof(out), &selected) < 0);
    assert_false(selected);
    assert_int_equal(f->server.stats.stun_bad, 1);
    assert_int_equal(f->server.state, KG_PEER_NEW);
    assert_false(f->server.ice.selected_valid);
}

static void test_consent_lapse_tears_down(void **state)
{
    fixture *f = *state;
    run_until_connected(f);
    kg_time last = f->now;
    kg_time deadline = kg_peer_deadline(&f->server);
    assert_true(deadline <= last + KG_ICE_CONSENT_TIMEOUT);
    assert_int_equal(kg_peer_on_timeout(&f->server, deadline - 1), 0);
    assert_int_equal(f->server.state, KG_PEER_CONNECTED);
    assert_int_equal(kg_peer_on_timeout(&f->server, deadline),
                     KG_ERR_TIMEOUT);
    assert_int_equal(f->server.state, KG_PEER_FAILED);
}

/* The OpenSSL state goes as soon as the client shows it has its keys;
 * DTLS after that is ignored and the transport stays up. */
static void test_dtls_freed_after_first_srtp(void **state)
{
    fixture *f = *state;
    run_until_connected(f);
    assert_true(kg_peer_holds_dtls(&f->server));
    assert_non_null(strstr(f->server.cipher, "GCM"));
    uint8_t pkt[CAP];
    size_t len = make_rtp(pkt, 1);
    ssize_t n = kg_client_peer_send_rtp(f->client, pkt, len, sizeof(pkt));
    assert_true(n > 0);
    /* a forged packet must not free it */
    uint8_t bad[CAP];
    memcpy(bad, pkt, (size_t)n);
    bad[n - 1] ^= 0x01;
    size_t got = (size_t)n;
    assert_int_equal(kg_peer_unprotect(&f->server, bad, &got, false),
                     KG_ERR_AUTH);
    assert_true(kg_peer_holds_dtls(&f->server));
    got = (size_t)n;
    assert_int_equal(kg_peer_unprotect(&f->server, pkt, &got, false), 0);
    assert_false(kg_peer_holds_dtls(&f->server));
    uint8_t record[32] = {23, 0xfe, 0xfd, 0, 1};
    assert_int_equal(kg_peer_on_dtls(&f->server, record, sizeof(record),
                                     f->now),
                     KG_ERR_STATE);
    assert_int_equal(f->server.state, KG_PEER_CONNECTED);
    assert_int_equal(kg_peer_pull(&f->server, pkt, sizeof(pkt)), 0);
    assert_non_null(strstr(f->server.cipher, "GCM"));
    /* media still flows both ways */
    len = make_rtp(pkt, 2);
    size_t out = len;
    assert_int_equal(kg_peer_protect(&f->server, pkt, &out, sizeof(pkt),
                                     false),
                     0);
    size_t dec = 0;
    assert_int_equal(kg_client_peer_recv(f->client, pkt, out, f->now, &dec),
                     KG_CLIENT_PEER_RTP);
}

/* A client that sends nothing (a receive-only leg without RTCP) gets its
 * handshake repeated for KG_PEER_DTLS_LINGER, then the state goes. */
static void test_dtls_freed_after_linger(void **state)
{
    fixture *f = *state;
    run_until_connected(f);
    kg_time end = f->server.connected_at + KG_PEER_DTLS_LINGER;
    uint8_t buf[CAP];
    while (f->now < end - KG_SEC) {
        ssize_t n; /* consent checks keep the transport alive */
        while ((n = kg_client_peer_poll(f->client, f->now, buf,
                                        sizeof(buf))) > 0)
            client_to_server(f, buf, (size_t)n);
        assert_true(kg_peer_deadline(&f->server) <= end);
        assert_int_equal(kg_peer_on_timeout(&f->server, f->now), 0);
        f->now += 500 * KG_MS;
    }
    assert_true(kg_peer_holds_dtls(&f->server));
    assert_int_equal(kg_peer_on_timeout(&f->server, end), 0);
    assert_false(kg_peer_holds_dtls(&f->server));
    assert_int_equal(f->server.state, KG_PEER_CONNECTED);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connects_on_gcm256, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_media_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtls_freed_after_first_srtp,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_dtls_freed_after_linger, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_tampered_and_replayed_counted,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_media_refused_before_keys, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_wrong_password_counted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_consent_lapse_tears_down, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
