/* kg_client_peer against an in-process kaigi-style server leg (ICE-lite +
 * DTLS server + SRTP), over a simulated link with a simulated clock. */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include <cmocka.h>

#include "codec/rtcp.h"
#include "codec/rtp.h"
#include "relay/client_peer.h"
#include "relay/ice.h"
#include "relay/stun.h"

#define CAP 2048

/* OpenSSL 3.0 runs its DTLS retransmission timer on gettimeofday() and
 * retransmits only once that has expired; as in dtls_test.c, this
 * definition replaces libc's for the test process so that OpenSSL sees
 * the simulated clock, and loss can be tested without sleeping. */
static kg_time sim_now;

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;
    kg_time t = (kg_time)1700000000 * KG_SEC + sim_now;
    tv->tv_sec = (time_t)(t / KG_SEC);
    tv->tv_usec = (suseconds_t)((t % KG_SEC) / 1000);
    return 0;
}

typedef struct server_leg {
    kg_dtls_cert *cert;
    kg_dtls_ctx *ctx;
    kg_ice_lite ice;
    kg_dtls *dtls;
    kg_srtp *srtp;
    bool answer_stun; /* false: the server has gone silent */
} server_leg;

typedef struct fixture {
    kg_dtls_cert *ccert;
    kg_dtls_ctx *cctx;
    kg_ice_creds client_creds, server_creds;
    server_leg s;
    kg_client_peer *p;
    kg_time now;
    unsigned drop_every; /* drop every Nth datagram in both directions */
    unsigned n_sent;
    struct sockaddr_in client_addr;
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ccert = kg_dtls_cert_new();
    f->s.cert = kg_dtls_cert_new();
    assert_non_null(f->ccert);
    assert_non_null(f->s.cert);
    f->cctx = kg_dtls_ctx_new(f->ccert, KG_DTLS_CLIENT, 0);
    f->s.ctx = kg_dtls_ctx_new(f->s.cert, KG_DTLS_SERVER, 0);
    assert_non_null(f->cctx);
    assert_non_null(f->s.ctx);
    assert_int_equal(kg_ice_creds_random(&f->client_creds), 0);
    assert_int_equal(kg_ice_creds_random(&f->server_creds), 0);
    f->now = sim_now = 1000 * KG_SEC;
    f->s.answer_stun = true;
    f->client_addr.sin_family = AF_INET;
    f->client_addr.sin_port = htons(40000);
    f->client_addr.sin_addr.s_addr = htonl(0x7f000001);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kg_client_peer_del(f->p);
    kg_srtp_del(f->s.srtp);
    kg_dtls_del(f->s.dtls);
    kg_dtls_ctx_del(f->s.ctx);
    kg_dtls_ctx_del(f->cctx);
    kg_dtls_cert_del(f->s.cert);
    kg_dtls_cert_del(f->ccert);
    free(f);
    return 0;
}

/* Creates the client peer and the server leg, the server trusting the
 * client's real fingerprint and the client trusting server_fp. */
static void start(fixture *f, const char *server_fp)
{
    kg_ice_lite_init(&f->s.ice, &f->server_creds, f->client_creds.ufrag,
                     f->now);
    f->s.dtls = kg_dtls_new(f->s.ctx, kg_dtls_cert_fingerprint(f->ccert),
                            &f->client_addr, sizeof(f->client_addr), f->now);
    assert_non_null(f->s.dtls);
    f->p = kg_client_peer_new(f->cctx, &f->client_creds, &f->server_creds,
                              server_fp, f->now);
    assert_non_null(f->p);
    assert_int_equal(kg_client_peer_state(f->p), KG_CLIENT_PEER_ICE);
}

static bool lose(fixture *f)
{
    f->n_sent++;
    return f->drop_every && f->n_sent % f->drop_every == 0;
}

static void to_client(fixture *f, uint8_t *pkt, size_t len)
{
    size_t out = 0;
    if (lose(f))
        return;
    int rc = kg_client_peer_recv(f->p, pkt, len, f->now, &out);
    (void)rc; /* DTLS may refuse a reordered record; the state tells */
}

/* The server leg handles one datagram from the client, as kaigi does. */
static void to_server(fixture *f, uint8_t *pkt, size_t len)
{
    uint8_t out[CAP];
    if (lose(f))
        return;
    if (kg_stun_is(pkt, len)) {
        kg_stun_msg msg;
        int ev = 0;
        assert_int_equal(kg_stun_parse(pkt, len, &msg), 0);
        ssize_t n = kg_ice_lite_on_stun(&f->s.ice, pkt, len, &msg,
                                        (struct sockaddr *)&f->client_addr,
                                        f->now, out, sizeof(out), &ev);
        assert_true(n > 0);
        if (f->s.answer_stun)
            to_client(f, out, (size_t)n);
        return;
    }
    if (kg_dtls_is(pkt, len)) {
        kg_dtls_read(f->s.dtls, pkt, len, f->now);
        ssize_t n;
        while ((n = kg_dtls_pull(f->s.dtls, out, sizeof(out))) > 0)
            to_client(f, out, (size_t)n);
    }
}

static void server_timers(fixture *f)
{
    uint8_t out[CAP];
    if (f->now >= kg_dtls_deadline(f->s.dtls))
        kg_dtls_on_timeout(f->s.dtls, f->now);
    ssize_t n;
    while ((n = kg_dtls_pull(f->s.dtls, out, sizeof(out))) > 0)
        to_client(f, out, (size_t)n);
}

/* Runs both sides for up to span of simulated time, jumping to the
 * next deadline each time, until the client reaches `until`. */
static void run(fixture *f, kg_time span, enum kg_client_peer_state until)
{
    kg_time end = f->now + span;
    while (f->now < end && kg_client_peer_state(f->p) != until) {
        uint8_t buf[CAP];
        ssize_t n;
        while ((n = kg_client_peer_poll(f->p, f->now, buf, sizeof(buf))) > 0)
            to_server(f, buf, (size_t)n);
        assert_true(n == 0);
        server_timers(f);
        kg_time next = kg_client_peer_deadline(f->p);
        kg_time sdl = kg_dtls_deadline(f->s.dtls);
        if (sdl < next)
            next = sdl;
        if (next <= f->now)
            next = f->now + KG_MS;
        if (next > end)
            next = end;
        f->now = sim_now = next;
    }
}

static void connect_ok(fixture *f)
{
    start(f, kg_dtls_cert_fingerprint(f->s.cert));
    run(f, 10 * KG_SEC, KG_CLIENT_PEER_CONNECTED);
    assert_int_equal(kg_client_peer_state(f->p), KG_CLIENT_PEER_CONNECTED);
    assert_int_equal(kg_dtls_state(f->s.dtls), KG_DTLS_CONNECTED);
    kg_srtp_keys keys;
    assert_int_equal(kg_dtls_srtp_keys(f->s.dtls, &keys), 0);
    f->s.srtp = kg_srtp_new(&keys);
    kg_srtp_keys_wipe(&keys);
    assert_non_null(f->s.srtp);
}

static void test_connects_gcm256(void **state)
{
    fixture *f = *state;
    connect_ok(f);
    assert_int_equal(kg_client_peer_profile(f->p), KG_SRTP_AEAD_AES_256_GCM);
    assert_string_equal(kg_client_peer_version(f->p), "DTLSv1.2");
    assert_true(strlen(kg_client_peer_cipher(f->p)) > 0);
    assert_true(f->s.ice.selected_valid);
    assert_int_equal(kg_client_peer_error(f->p), 0);
}

static size_t make_rtp(uint8_t *buf, size_t cap, uint16_t seq)
{
    static const uint8_t payload[] = {0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4};
    kg_rtp_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = 2;
    h.pt = 111;
    h.seq = seq;
    h.ts = 960u * seq;
    h.ssrc = 0x11223344;
    ssize_t n = kg_rtp_write(&h, payload, sizeof(payload), buf, cap);
    assert_true(n > 0);
    return (size_t)n;
}

static void test_media_both_ways(void **state)
{
    fixture *f = *state;
    connect_ok(f);
    uint8_t pkt[CAP], plain[CAP];
    /* client → server RTP */
    size_t len = make_rtp(pkt, sizeof(pkt), 1);
    memcpy(plain, pkt, len);
    ssize_t n = kg_client_peer_send_rtp(f->p, pkt, len, sizeof(pkt));
    assert_true(n > (ssize_t)len);
    size_t sl = (size_t)n;
    assert_int_equal(kg_srtp_unprotect(f->s.srtp, pkt, &sl), 0);
    assert_int_equal(sl, len);
    assert_memory_equal(pkt, plain, len);
    /* server → client RTP, decrypted in place */
    len = make_rtp(pkt, sizeof(pkt), 2);
    memcpy(plain, pkt, len);
    sl = len;
    assert_int_equal(kg_srtp_protect(f->s.srtp, pkt, &sl, sizeof(pkt)), 0);
    size_t out = 0;
    assert_int_equal(kg_client_peer_recv(f->p, pkt, sl, f->now, &out),
                     KG_CLIENT_PEER_RTP);
    assert_int_equal(out, len);
    assert_memory_equal(pkt, plain, len);
    /* server → client RTCP (PLI): classified by the second byte */
    n = kg_rtcp_write_pli(1, 2, pkt, sizeof(pkt));
    assert_true(n > 0);
    len = (size_t)n;
    memcpy(plain, pkt, len);
    sl = len;
    assert_int_equal(kg_srtcp_protect(f->s.srtp, pkt, &sl, sizeof(pkt)), 0);
    assert_int_equal(kg_client_peer_recv(f->p, pkt, sl, f->now, &out),
                     KG_CLIENT_PEER_RTCP);
    assert_int_equal(out, len);
    assert_memory_equal(pkt, plain, len);
    /* client → server RTCP */
    n = kg_client_peer_send_rtcp(f->p, pkt, len, sizeof(pkt));
    assert_true(n > (ssize_t)len);
    sl = (size_t)n;
    assert_int_equal(kg_srtcp_unprotect(f->s.srtp, pkt, &sl), 0);
    assert_int_equal(sl, len);
    const kg_client_peer_stats *st = kg_client_peer_get_stats(f->p);
    assert_int_equal(st->srtp_in, 1);
    assert_int_equal(st->srtcp_in, 1);
    assert_int_equal(st->unprotect_fail, 0);
}

static void test_tampered_and_replayed(void **state)
{
    fixture *f = *state;
    connect_ok(f);
    uint8_t pkt[CAP], copy[CAP];
    size_t len = make_rtp(pkt, sizeof(pkt), 7), sl = len, out;
    assert_int_equal(kg_srtp_protect(f->s.srtp, pkt, &sl, sizeof(pkt)), 0);
    memcpy(copy, pkt, sl);
    pkt[sl - 1] ^= 0x01; /* flip a tag bit */
    assert_int_equal(kg_client_peer_recv(f->p, pkt, sl, f->now, &out),
                     KG_ERR_AUTH);
    memcpy(pkt, copy, sl);
    assert_int_equal(kg_client_peer_recv(f->p, pkt, sl, f->now, &out),
                     KG_CLIENT_PEER_RTP);
    memcpy(pkt, copy, sl);
    assert_int_equal(kg_client_peer_recv(f->p, pkt, sl, f->now, &out),
                     KG_ERR_REPLAY);
    assert_int_equal(kg_client_peer_get_stats(f->p)->unprotect_fail, 1);
    assert_int_equal(kg_client_peer_get_stats(f->p)->replays, 1);
}

static void test_media_before_keys(void **state)
{
    fixture *f = *state;
    start(f, kg_dtls_cert_fingerprint(f->s.cert));
    uint8_t pkt[CAP];
    size_t len = make_rtp(pkt, sizeof(pkt), 1), out = 99;
    assert_int_equal(kg_client_peer_send_rtp(f->p, pkt, len, sizeof(pkt)),
                     KG_ERR_STATE);
    assert_int_equal(kg_client_peer_recv(f->p, pkt, len, f->now, &out),
                     KG_ERR_STATE);
    assert_int_equal(out, 0);
    /* RFC 7983 bytes that belong to nobody here (TURN channel, QUIC). */
    uint8_t odd[16] = {0x40};
    assert_int_equal(kg_client_peer_recv(f->p, odd, sizeof(odd), f->now, &out),
                     KG_ERR_STATE);
    odd[0] = 0xc0;
    assert_int_equal(kg_client_peer_recv(f->p, odd, sizeof(odd), f->now, &out),
                     KG_ERR_STATE);
    assert_int_equal(kg_client_peer_recv(f->p, odd, 0, f->now, &out),
                     KG_ERR_STATE);
    /* A DTLS record before our ClientHello is refused, not processed. */
    odd[0] = 22;
    assert_int_equal(kg_client_peer_recv(f->p, odd, sizeof(odd), f->now, &out),
                     KG_ERR_STATE);
    assert_int_equal(kg_client_peer_get_stats(f->p)->dropped, 5);
    assert_int_equal(kg_client_peer_state(f->p), KG_CLIENT_PEER_ICE);
}

static void test_bad_stun_counted(void **state)
{
    fixture *f = *state;
    start(f, kg_dtls_cert_fingerprint(f->s.cert));
    uint8_t junk[20] = {0x01, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42};
    size_t out;
    assert_true(kg_client_peer_recv(f->p, junk, sizeof(junk), f->now, &out) <
                0);
    assert_true(kg_client_peer_recv(f->p, junk, 7, f->now, &out) < 0);
    assert_int_equal(kg_client_peer_get_stats(f->p)->stun_bad, 2);
    assert_int_equal(kg_client_peer_state(f->p), KG_CLIENT_PEER_ICE);
}

static void test_wrong_fingerprint_fails(void **state)
{
    fixture *f = *state;
    /* The client expects some other certificate than the server's. */
    start(f, kg_dtls_cert_fingerprint(f->ccert));
    run(f, 10 * KG_SEC, KG_CLIENT_PEER_FAILED);
    assert_int_equal(kg_client_peer_state(f->p), KG_CLIENT_PEER_FAILED);
    assert_int_equal(kg_client_peer_error(f->p), KG_ERR_FINGERPRINT);
    assert_int_equal(kg_client_peer_profile(f->p), KG_SRTP_NONE);
    assert_string_equal(kg_client_peer_cipher(f->p), "");
    assert_int_equal(kg_client_peer_deadline(f->p), KG_TIME_NEVER);
}

static void test_lossy_link_connects(void **state)
{
    fixture *f = *state;
    f->drop_every = 3;
    connect_ok(f);
    assert_int_equal(kg_client_peer_profile(f->p), KG_SRTP_AEAD_AES_256_GCM);
}

static void test_consent_lapse_fails(void **state)
{
    fixture *f = *state;
    connect_ok(f);
    /* Keepalives flow while the server answers. */
    run(f, 40 * KG_SEC, KG_CLIENT_PEER_FAILED);
    assert_int_equal(kg_client_peer_state(f->p), KG_CLIENT_PEER_CONNECTED);
    f->s.answer_stun = false;
    run(f, 40 * KG_SEC, KG_CLIENT_PEER_FAILED);
    assert_int_equal(kg_client_peer_state(f->p), KG_CLIENT_PEER_FAILED);
    assert_int_equal(kg_client_peer_error(f->p), KG_ERR_TIMEOUT);
}

static void test_close_sends_close_notify(void **state)
{
    fixture *f = *state;
    connect_ok(f);
    kg_client_peer_close(f->p);
    assert_int_equal(kg_client_peer_state(f->p), KG_CLIENT_PEER_CLOSED);
    uint8_t buf[CAP];
    ssize_t n = kg_client_peer_poll(f->p, f->now, buf, sizeof(buf));
    assert_true(n > 0);
    assert_true(kg_dtls_is(buf, (size_t)n));
    kg_dtls_read(f->s.dtls, buf, (size_t)n, f->now);
    assert_int_equal(kg_dtls_state(f->s.dtls), KG_DTLS_CLOSED);
    /* Nothing more: no ICE checks from a closed peer. */
    assert_int_equal(kg_client_peer_poll(f->p, f->now + 10 * KG_SEC, buf,
                                         sizeof(buf)),
                     0);
    uint8_t pkt[CAP];
    size_t len = make_rtp(pkt, sizeof(pkt), 1);
    assert_int_equal(kg_client_peer_send_rtp(f->p, pkt, len, sizeof(pkt)),
                     KG_ERR_STATE);
}

static void test_rtcp_classification(void **state)
{
    (void)state;
    const uint8_t sr[] = {0x80, 200}, pli[] = {0x81, 206}, rtp[] = {0x80, 111},
                  rtp_m[] = {0x80, 0x80 | 96}, low[] = {0x80, 191},
                  high[] = {0x80, 224};
    assert_true(kg_client_peer_is_rtcp(sr, 2));
    assert_true(kg_client_peer_is_rtcp(pli, 2));
    assert_false(kg_client_peer_is_rtcp(rtp, 2));
    assert_false(kg_client_peer_is_rtcp(rtp_m, 2));
    assert_false(kg_client_peer_is_rtcp(low, 2));
    assert_false(kg_client_peer_is_rtcp(high, 2));
    assert_false(kg_client_peer_is_rtcp(sr, 1));
    assert_string_equal(kg_client_peer_state_name(KG_CLIENT_PEER_DTLS),
                        "dtls");
}

static void test_new_rejects_null(void **state)
{
    fixture *f = *state;
    assert_null(kg_client_peer_new(NULL, &f->client_creds, &f->server_creds,
                                   "AA", f->now));
    assert_null(kg_client_peer_new(f->cctx, &f->client_creds,
                                   &f->server_creds, NULL, f->now));
    size_t out;
    uint8_t b[4] = {0};
    assert_int_equal(kg_client_peer_recv(NULL, b, 4, f->now, &out),
                     KG_ERR_INVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_connects_gcm256, setup, teardown),
        cmocka_unit_test_setup_teardown(test_media_both_ways, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tampered_and_replayed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_media_before_keys, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_bad_stun_counted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wrong_fingerprint_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_lossy_link_connects, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_consent_lapse_fails, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_close_sends_close_notify, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_rtcp_classification, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_new_rejects_null, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
