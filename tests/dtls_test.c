/* DTLS-SRTP: a kaigi server and a client in one process, datagrams
 * shuttled by hand over a simulated, optionally lossy link. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>

#include <cmocka.h>

#include "codec/err.h"
#include "crypto/dtls.h"
#include "crypto/srtp.h"

/* The simulated clock. OpenSSL 3.0 runs its DTLS retransmission timer
 * on gettimeofday() and only retransmits once that timer has expired,
 * whatever we ask; there is no API to give it a clock. This definition
 * takes the place of libc's for the whole test process (libssl calls it
 * through the PLT), so the wall clock OpenSSL sees is the simulated one
 * and retransmission can be tested without sleeping. */
static kg_time sim_now;
static unsigned long fake_clock_reads;

int gettimeofday(struct timeval *restrict tv, void *restrict tz)
{
    (void)tz;
    kg_time t = (kg_time)1700000000 * KG_SEC + sim_now;
    tv->tv_sec = (time_t)(t / KG_SEC);
    tv->tv_usec = (suseconds_t)((t % KG_SEC) / 1000);
    fake_clock_reads++;
    return 0;
}

#define MTU 1200
#define REC_HDR 13 /* DTLS record header; the handshake header follows */
#define CT_HANDSHAKE 22
#define HT_SERVER_HELLO 2
#define HT_HELLO_VERIFY_REQUEST 3

static const uint8_t client_addr[] = {127, 0, 0, 1, 0xc3, 0x50};

struct peers {
    kg_dtls_cert *ccert, *scert;
    kg_dtls_ctx *cctx, *sctx;
    kg_dtls *c, *s;
};

/* The link: counts datagrams, drops every drop_every-th one (0: none). */
struct link {
    unsigned drop_every;
    unsigned loss_pct; /* random loss from seed, if drop_every is 0 */
    uint32_t seed;
    unsigned sent, dropped;
    size_t largest;
};

/* Makes both sessions; a NULL fingerprint means the right one. */
static void peers_make(struct peers *p, kg_dtls_ctx *cctx, kg_dtls_ctx *sctx,
                       const char *fp_for_client, const char *fp_for_server)
{
    p->cctx = cctx;
    p->sctx = sctx;
    p->c = kg_dtls_new(cctx,
                       fp_for_client ? fp_for_client
                                     : kg_dtls_cert_fingerprint(p->scert),
                       NULL, 0, sim_now);
    p->s = kg_dtls_new(sctx,
                       fp_for_server ? fp_for_server
                                     : kg_dtls_cert_fingerprint(p->ccert),
                       client_addr, sizeof(client_addr), sim_now);
    assert_non_null(p->c);
    assert_non_null(p->s);
}

static void peers_init(struct peers *p)
{
    memset(p, 0, sizeof(*p));
    sim_now = 0;
    p->ccert = kg_dtls_cert_new();
    p->scert = kg_dtls_cert_new();
    assert_non_null(p->ccert);
    assert_non_null(p->scert);
}

static void peers_free(struct peers *p)
{
    kg_dtls_del(p->c);
    kg_dtls_del(p->s);
    kg_dtls_ctx_del(p->cctx);
    kg_dtls_ctx_del(p->sctx);
    kg_dtls_cert_del(p->ccert);
    kg_dtls_cert_del(p->scert);
}

static uint32_t lcg(uint32_t *s)
{
    *s = *s * 1664525u + 1013904223u;
    return *s >> 8;
}

static bool lost(struct link *l)
{
    if (l->drop_every)
        return l->sent % l->drop_every == 0;
    return l->loss_pct && lcg(&l->seed) % 100 < l->loss_pct;
}

/* Moves every queued datagram from one side to the other. Returns how
 * many were taken off the sender. */
static unsigned move_all(struct link *l, kg_dtls *from, kg_dtls *to)
{
    uint8_t buf[2048];
    unsigned n = 0;
    ssize_t len;
    while ((len = kg_dtls_pull(from, buf, sizeof(buf))) > 0) {
        n++;
        l->sent++;
        if ((size_t)len > l->largest)
            l->largest = (size_t)len;
        if (lost(l)) {
            l->dropped++;
            continue;
        }
        (void)kg_dtls_read(to, buf, (size_t)len, sim_now);
    }
    assert_int_equal(len, 0);
    return n;
}

static bool settled(kg_dtls *d)
{
    return kg_dtls_state(d) != KG_DTLS_HANDSHAKING;
}

/* Runs the handshake to the end (or until limit of simulated time),
 * jumping the clock to the next deadline whenever the link is idle. */
static void run(struct peers *p, struct link *l, kg_time limit)
{
    assert_int_equal(kg_dtls_start(p->s, sim_now), 0);
    assert_int_equal(kg_dtls_start(p->c, sim_now), 0);
    while (sim_now <= limit) {
        unsigned moved = move_all(l, p->c, p->s) + move_all(l, p->s, p->c);
        if (moved)
            continue;
        if (settled(p->c) && settled(p->s))
            break;
        kg_time dc = kg_dtls_deadline(p->c), ds = kg_dtls_deadline(p->s);
        kg_time next = dc < ds ? dc : ds;
        if (next == KG_TIME_NEVER)
            break;
        if (next > sim_now)
            sim_now = next;
        (void)kg_dtls_on_timeout(p->c, sim_now);
        (void)kg_dtls_on_timeout(p->s, sim_now);
    }
}

static void default_ctxs(struct peers *p, unsigned sflags)
{
    peers_make(p, kg_dtls_ctx_new(p->ccert, KG_DTLS_CLIENT, 0),
               kg_dtls_ctx_new(p->scert, KG_DTLS_SERVER, sflags), NULL, NULL);
}

static void assert_keys_mirror(kg_dtls *c, kg_dtls *s, kg_srtp_profile prof,
                               size_t key_len, size_t salt_len)
{
    kg_srtp_keys ck, sk;
    assert_int_equal(kg_dtls_srtp_keys(c, &ck), 0);
    assert_int_equal(kg_dtls_srtp_keys(s, &sk), 0);
    assert_int_equal(ck.profile, prof);
    assert_int_equal(sk.profile, prof);
    assert_int_equal(ck.key_len, key_len);
    assert_int_equal(ck.salt_len, salt_len);
    assert_int_equal(sk.key_len, key_len);
    assert_int_equal(sk.salt_len, salt_len);
    assert_memory_equal(ck.local_key, sk.remote_key, key_len);
    assert_memory_equal(ck.local_salt, sk.remote_salt, salt_len);
    assert_memory_equal(ck.remote_key, sk.local_key, key_len);
    assert_memory_equal(ck.remote_salt, sk.local_salt, salt_len);
    /* The two directions must not share a key. */
    assert_memory_not_equal(ck.local_key, ck.remote_key, key_len);

    /* And the keys work: client -> server and server -> client. */
    kg_srtp *cs = kg_srtp_new(&ck), *ss = kg_srtp_new(&sk);
    assert_non_null(cs);
    assert_non_null(ss);
    uint8_t pkt[64 + KG_SRTP_MAX_TRAILER] = {0x80, 0x6f, 0x00, 0x01, 0, 0, 0,
                                             1, 0x11, 0x22, 0x33, 0x44};
    uint8_t orig[64];
    memcpy(orig, pkt, sizeof(orig));
    size_t len = 64;
    assert_int_equal(kg_srtp_protect(cs, pkt, &len, sizeof(pkt)), 0);
    assert_int_equal(kg_srtp_unprotect(ss, pkt, &len), 0);
    assert_int_equal(len, 64);
    assert_memory_equal(pkt, orig, 64);
    assert_int_equal(kg_srtp_protect(ss, pkt, &len, sizeof(pkt)), 0);
    assert_int_equal(kg_srtp_unprotect(cs, pkt, &len), 0);
    assert_memory_equal(pkt, orig, 64);
    kg_srtp_del(cs);
    kg_srtp_del(ss);
    kg_srtp_keys_wipe(&ck);
    kg_srtp_keys_wipe(&sk);
    assert_int_equal(ck.key_len, 0);
}

static void test_cert(void **state)
{
    (void)state;
    kg_dtls_cert *a = kg_dtls_cert_new(), *b = kg_dtls_cert_new();
    assert_non_null(a);
    assert_non_null(b);
    const char *fa = kg_dtls_cert_fingerprint(a);
    assert_int_equal(strlen(fa), KG_DTLS_FINGERPRINT_LEN - 1);
    for (size_t i = 0; i < strlen(fa); i++) {
        if (i % 3 == 2)
            assert_int_equal(fa[i], ':');
        else
            assert_non_null(strchr("0123456789ABCDEF", fa[i]));
    }
    assert_string_not_equal(fa, kg_dtls_cert_fingerprint(b));
    kg_dtls_cert_del(a);
    kg_dtls_cert_del(b);
    kg_dtls_cert_del(NULL);
}

static void test_handshake(void **state)
{
    (void)state;
    struct peers p;
    struct link l = {0};
    peers_init(&p);
    /* The server's copy of the client fingerprint is lower-case, as some
     * browsers write it: the comparison ignores case. */
    char lower[KG_DTLS_FINGERPRINT_LEN];
    strcpy(lower, kg_dtls_cert_fingerprint(p.ccert));
    for (char *c = lower; *c; c++)
        if (*c >= 'A' && *c <= 'F')
            *c = (char)(*c - 'A' + 'a');
    peers_make(&p, kg_dtls_ctx_new(p.ccert, KG_DTLS_CLIENT, 0),
               kg_dtls_ctx_new(p.scert, KG_DTLS_SERVER, 0), NULL, lower);
    assert_string_equal(kg_dtls_cipher(p.c), "");
    assert_string_equal(kg_dtls_version(p.c), "");
    kg_srtp_keys k;
    assert_int_equal(kg_dtls_srtp_keys(p.c, &k), KG_ERR_STATE);

    run(&p, &l, 10 * KG_SEC);
    assert_int_equal(kg_dtls_state(p.c), KG_DTLS_CONNECTED);
    assert_int_equal(kg_dtls_state(p.s), KG_DTLS_CONNECTED);
    assert_int_equal(sim_now, 0); /* no retransmission on a clean link */
    assert_true(fake_clock_reads > 0);
    assert_true(l.largest <= MTU);
    /* HVR makes it 4 client and 3 server flights; at least the server's
     * certificate flight is split into several datagrams. */
    assert_true(l.sent >= 6);
    assert_string_equal(kg_dtls_cipher(p.c), "ECDHE-ECDSA-AES128-GCM-SHA256");
    assert_string_equal(kg_dtls_cipher(p.s), "ECDHE-ECDSA-AES128-GCM-SHA256");
    assert_string_equal(kg_dtls_version(p.c), "DTLSv1.2");
    assert_string_equal(kg_dtls_version(p.s), "DTLSv1.2");
    assert_int_equal(kg_dtls_deadline(p.c), KG_TIME_NEVER);
    assert_int_equal(kg_dtls_deadline(p.s), KG_TIME_NEVER);
    assert_keys_mirror(p.c, p.s, KG_SRTP_AEAD_AES_256_GCM, 32, 12);

    /* close_notify: the client closes, the server sees CLOSED. */
    kg_dtls_close(p.c);
    assert_int_equal(kg_dtls_state(p.c), KG_DTLS_CLOSED);
    uint8_t buf[2048];
    ssize_t n = kg_dtls_pull(p.c, buf, sizeof(buf));
    assert_true(n > REC_HDR);
    assert_int_equal(buf[0], 21); /* alert (encrypted, epoch 1) */
    assert_int_equal(kg_dtls_read(p.s, buf, (size_t)n, sim_now), KG_ERR_CLOSED);
    assert_int_equal(kg_dtls_state(p.s), KG_DTLS_CLOSED);
    assert_int_equal(kg_dtls_read(p.s, buf, (size_t)n, sim_now), KG_ERR_CLOSED);
    assert_int_equal(kg_dtls_srtp_keys(p.s, &k), KG_ERR_STATE);
    peers_free(&p);
}

/* Chromium offers AES-CM first; kaigi's server order must still win. */
static void test_chromium_order_gets_gcm256(void **state)
{
    (void)state;
    static const kg_srtp_profile chromium[] = {
        KG_SRTP_AES128_CM_SHA1_80,
        KG_SRTP_AEAD_AES_256_GCM,
        KG_SRTP_AEAD_AES_128_GCM,
    };
    for (unsigned legacy = 0; legacy < 2; legacy++) {
        struct peers p;
        struct link l = {0};
        peers_init(&p);
        peers_make(&p,
                   kg_dtls_ctx_new_profiles(p.ccert, KG_DTLS_CLIENT, chromium,
                                            3),
                   kg_dtls_ctx_new(p.scert, KG_DTLS_SERVER,
                                   legacy ? KG_DTLS_ALLOW_LEGACY_SRTP : 0),
                   NULL, NULL);
        run(&p, &l, 10 * KG_SEC);
        assert_int_equal(kg_dtls_state(p.c), KG_DTLS_CONNECTED);
        assert_int_equal(kg_dtls_state(p.s), KG_DTLS_CONNECTED);
        assert_keys_mirror(p.c, p.s, KG_SRTP_AEAD_AES_256_GCM, 32, 12);
        char offered[128];
        kg_dtls_offered_srtp(p.s, offered, sizeof(offered));
        assert_string_equal(offered, "SRTP_AES128_CM_SHA1_80, "
                                     "SRTP_AEAD_AES_256_GCM, "
                                     "SRTP_AEAD_AES_128_GCM");
        peers_free(&p);
    }
    assert_string_equal(kg_dtls_srtp_id_name(0x0008), "SRTP_AEAD_AES_256_GCM");
    assert_null(kg_dtls_srtp_id_name(0x0003));
}

/* Firefox-like order (128 before 256): the server still picks 256. A
 * client offering only GCM-128 gets GCM-128. */
static void test_gcm128(void **state)
{
    (void)state;
    static const kg_srtp_profile only128[] = {KG_SRTP_AEAD_AES_128_GCM};
    struct peers p;
    struct link l = {0};
    peers_init(&p);
    peers_make(&p,
               kg_dtls_ctx_new_profiles(p.ccert, KG_DTLS_CLIENT, only128, 1),
               kg_dtls_ctx_new(p.scert, KG_DTLS_SERVER, 0), NULL, NULL);
    run(&p, &l, 10 * KG_SEC);
    assert_int_equal(kg_dtls_state(p.c), KG_DTLS_CONNECTED);
    assert_keys_mirror(p.c, p.s, KG_SRTP_AEAD_AES_128_GCM, 16, 12);
    peers_free(&p);
}

static void test_legacy_only_client(void **state)
{
    (void)state;
    static const kg_srtp_profile cm_only[] = {KG_SRTP_AES128_CM_SHA1_80};
    for (unsigned legacy = 0; legacy < 2; legacy++) {
        struct peers p;
        struct link l = {0};
        peers_init(&p);
        peers_make(&p,
                   kg_dtls_ctx_new_profiles(p.ccert, KG_DTLS_CLIENT, cm_only, 1),
                   kg_dtls_ctx_new(p.scert, KG_DTLS_SERVER,
                                   legacy ? KG_DTLS_ALLOW_LEGACY_SRTP : 0),
                   NULL, NULL);
        run(&p, &l, 10 * KG_SEC);
        if (!legacy) {
            assert_int_equal(kg_dtls_state(p.s), KG_DTLS_FAILED);
            assert_int_equal(kg_dtls_state(p.c), KG_DTLS_FAILED);
            kg_srtp_keys k;
            assert_int_equal(kg_dtls_srtp_keys(p.s, &k), KG_ERR_STATE);
            /* The server says why, and what the client wanted. */
            uint8_t junk[20] = {22, 0xfe, 0xfd};
            assert_int_equal(kg_dtls_read(p.s, junk, sizeof(junk), sim_now),
                             KG_ERR_SRTP_PROFILE);
            char offered[64];
            kg_dtls_offered_srtp(p.s, offered, sizeof(offered));
            assert_string_equal(offered, "SRTP_AES128_CM_SHA1_80");
            kg_dtls_offered_srtp(p.s, offered, 8); /* truncates, NUL */
            assert_string_equal(offered, "SRTP_AE");
        } else {
            assert_int_equal(kg_dtls_state(p.s), KG_DTLS_CONNECTED);
            assert_int_equal(kg_dtls_state(p.c), KG_DTLS_CONNECTED);
            assert_keys_mirror(p.c, p.s, KG_SRTP_AES128_CM_SHA1_80, 16, 14);
            char offered[64];
            kg_dtls_offered_srtp(p.c, offered, sizeof(offered));
            assert_string_equal(offered, "nothing"); /* client side */
        }
        peers_free(&p);
    }
}

static void test_fingerprint_mismatch(void **state)
{
    (void)state;
    kg_dtls_cert *other = kg_dtls_cert_new();
    assert_non_null(other);
    /* The client expects another certificate than the server shows. */
    struct peers p;
    struct link l = {0};
    peers_init(&p);
    peers_make(&p, kg_dtls_ctx_new(p.ccert, KG_DTLS_CLIENT, 0),
               kg_dtls_ctx_new(p.scert, KG_DTLS_SERVER, 0),
               kg_dtls_cert_fingerprint(other), NULL);
    run(&p, &l, 10 * KG_SEC);
    assert_int_equal(kg_dtls_state(p.c), KG_DTLS_FAILED);
    assert_int_not_equal(kg_dtls_state(p.s), KG_DTLS_CONNECTED);
    uint8_t junk[20] = {22, 0xfe, 0xfd};
    assert_int_equal(kg_dtls_read(p.c, junk, sizeof(junk), sim_now),
                     KG_ERR_FINGERPRINT);
    peers_free(&p);

    /* The server expects another client certificate. */
    l = (struct link){0};
    peers_init(&p);
    peers_make(&p, kg_dtls_ctx_new(p.ccert, KG_DTLS_CLIENT, 0),
               kg_dtls_ctx_new(p.scert, KG_DTLS_SERVER, 0), NULL,
               kg_dtls_cert_fingerprint(other));
    run(&p, &l, 10 * KG_SEC);
    assert_int_equal(kg_dtls_state(p.s), KG_DTLS_FAILED);
    assert_int_equal(kg_dtls_read(p.s, junk, sizeof(junk), sim_now),
                     KG_ERR_FINGERPRINT);
    assert_int_not_equal(kg_dtls_state(p.c), KG_DTLS_CONNECTED);
    peers_free(&p);
    kg_dtls_cert_del(other);
}

static void check_lossy(struct link *l)
{
    struct peers p;
    peers_init(&p);
    default_ctxs(&p, 0);
    run(&p, l, 60 * KG_SEC);
    assert_int_equal(kg_dtls_state(p.c), KG_DTLS_CONNECTED);
    assert_int_equal(kg_dtls_state(p.s), KG_DTLS_CONNECTED);
    assert_true(sim_now < 30 * KG_SEC); /* within the budget */
    assert_true(l->largest <= MTU);
    assert_keys_mirror(p.c, p.s, KG_SRTP_AEAD_AES_256_GCM, 32, 12);
    peers_free(&p);
}

/* Every 3rd (4th, 5th, 6th) datagram lost, then random 30 % loss with
 * 20 fixed seeds: the handshake completes through retransmission. */
static void test_lossy_link(void **state)
{
    (void)state;
    for (unsigned every = 3; every <= 6; every++) {
        struct link l = {.drop_every = every};
        check_lossy(&l);
        assert_true(l.dropped > 0);
        assert_true(sim_now > 0); /* it needed the timer */
    }
    unsigned total_dropped = 0;
    for (uint32_t seed = 1; seed <= 20; seed++) {
        struct link l = {.loss_pct = 30, .seed = seed};
        check_lossy(&l);
        total_dropped += l.dropped;
    }
    assert_true(total_dropped > 20);
}

static int pull_one(kg_dtls *d, uint8_t *buf, size_t cap)
{
    ssize_t n = kg_dtls_pull(d, buf, cap);
    assert_true(n >= 0);
    return (int)n;
}

/* A lost ClientHello is sent again when the deadline passes, with the
 * backoff schedule; with nobody answering, the handshake gives up. */
static void test_retransmit_schedule(void **state)
{
    (void)state;
    struct peers p;
    peers_init(&p);
    default_ctxs(&p, 0);
    uint8_t ch[2048], again[2048];
    assert_int_equal(kg_dtls_deadline(p.c), KG_TIME_NEVER);
    assert_int_equal(kg_dtls_start(p.c, sim_now), 0);
    int n = pull_one(p.c, ch, sizeof(ch));
    assert_true(n > REC_HDR + 12);
    assert_int_equal(ch[0], CT_HANDSHAKE);
    assert_int_equal(ch[REC_HDR], 1); /* ClientHello */
    assert_int_equal(pull_one(p.c, ch, sizeof(ch)), 0);

    /* Before the deadline nothing happens. */
    assert_int_equal(kg_dtls_deadline(p.c), 100 * KG_MS);
    sim_now = 99 * KG_MS;
    assert_int_equal(kg_dtls_on_timeout(p.c, sim_now), 0);
    assert_int_equal(pull_one(p.c, again, sizeof(again)), 0);

    static const kg_time expect_ms[] = {100,  300,  700,   1500,  3100,
                                        6300, 12700, 19100, 25500, 31900};
    unsigned sends = 1;
    for (size_t i = 0; i < KG_ARRAY_LEN(expect_ms); i++) {
        assert_int_equal(kg_dtls_deadline(p.c), expect_ms[i] * KG_MS);
        sim_now = kg_dtls_deadline(p.c);
        int rc = kg_dtls_on_timeout(p.c, sim_now);
        if (i + 1 == KG_ARRAY_LEN(expect_ms)) {
            assert_int_equal(rc, KG_ERR_TIMEOUT);
            break;
        }
        assert_int_equal(rc, 0);
        int m = pull_one(p.c, again, sizeof(again));
        assert_int_equal(m, n);
        /* Same ClientHello, new record sequence number. */
        assert_memory_equal(again + REC_HDR, ch + REC_HDR, (size_t)n - REC_HDR);
        assert_memory_not_equal(again + 5, ch + 5, 6);
        assert_int_equal(pull_one(p.c, again, sizeof(again)), 0);
        sends++;
    }
    assert_int_equal(sends, 10);
    assert_int_equal(kg_dtls_state(p.c), KG_DTLS_FAILED);
    assert_int_equal(kg_dtls_deadline(p.c), KG_TIME_NEVER);
    assert_int_equal(kg_dtls_on_timeout(p.c, sim_now + KG_SEC), KG_ERR_TIMEOUT);
    assert_int_equal(kg_dtls_start(p.c, sim_now), KG_ERR_TIMEOUT);
    peers_free(&p);
}

/* A dropped server flight: the client's timer resends its ClientHello
 * and the server answers again. */
static void test_dropped_server_flight(void **state)
{
    (void)state;
    struct peers p;
    struct link none = {0};
    peers_init(&p);
    default_ctxs(&p, 0);
    uint8_t buf[2048];
    assert_int_equal(kg_dtls_start(p.c, sim_now), 0);
    move_all(&none, p.c, p.s); /* CH -> HVR */
    move_all(&none, p.s, p.c); /* HVR -> CH with cookie */
    move_all(&none, p.c, p.s); /* -> server flight 4 */
    unsigned lost = 0;
    while (pull_one(p.s, buf, sizeof(buf)) > 0)
        lost++;
    assert_true(lost >= 1);
    kg_time dl = kg_dtls_deadline(p.c);
    assert_int_equal(dl, 100 * KG_MS);
    sim_now = dl;
    assert_int_equal(kg_dtls_on_timeout(p.c, sim_now), 0);
    assert_int_equal(kg_dtls_deadline(p.c), sim_now + 200 * KG_MS);
    struct link l = {0};
    assert_int_equal(move_all(&l, p.c, p.s), 1); /* the CH again */
    assert_int_equal(move_all(&l, p.s, p.c), lost);
    run(&p, &l, 10 * KG_SEC);
    assert_int_equal(kg_dtls_state(p.c), KG_DTLS_CONNECTED);
    assert_int_equal(kg_dtls_state(p.s), KG_DTLS_CONNECTED);
    peers_free(&p);
}

static bool has_handshake_type(const uint8_t *d, size_t n, uint8_t type)
{
    return n > REC_HDR && d[0] == CT_HANDSHAKE && d[REC_HDR] == type;
}

/* Before the cookie comes back, the server says nothing but
 * HelloVerifyRequest (to the first ClientHello and to each
 * retransmission of it), keeps no timer, and drops a replayed record; a
 * cookie made for another peer address does not get a ServerHello. */
static void test_hello_verify(void **state)
{
    (void)state;
    struct peers p;
    peers_init(&p);
    default_ctxs(&p, 0);
    uint8_t ch1[2048], out[2048], ch2[2048], hvr[2048];
    int m = 0, hvr_len = 0;
    assert_int_equal(kg_dtls_start(p.c, sim_now), 0);
    for (int round = 0; round < 3; round++) {
        if (round) { /* the HVR was lost: the client's timer resends */
            sim_now = kg_dtls_deadline(p.c);
            assert_int_equal(kg_dtls_on_timeout(p.c, sim_now), 0);
        }
        int n1 = pull_one(p.c, ch1, sizeof(ch1));
        assert_true(has_handshake_type(ch1, (size_t)n1, 1));
        assert_int_equal(kg_dtls_read(p.s, ch1, (size_t)n1, sim_now), 0);
        hvr_len = pull_one(p.s, hvr, sizeof(hvr));
        assert_true(
            has_handshake_type(hvr, (size_t)hvr_len, HT_HELLO_VERIFY_REQUEST));
        assert_true(hvr_len < 100);
        assert_int_equal(pull_one(p.s, out, sizeof(out)), 0);
        assert_int_equal(kg_dtls_state(p.s), KG_DTLS_HANDSHAKING);
        assert_int_equal(kg_dtls_deadline(p.s), KG_TIME_NEVER);
        /* The very same record again is a replay: no answer at all. */
        assert_int_equal(kg_dtls_read(p.s, ch1, (size_t)n1, sim_now), 0);
        assert_int_equal(pull_one(p.s, out, sizeof(out)), 0);
    }
    /* The client answers the HVR with a ClientHello carrying the cookie. */
    assert_int_equal(kg_dtls_read(p.c, out, 0, sim_now), KG_ERR_MALFORMED);
    assert_int_equal(kg_dtls_read(p.c, hvr, (size_t)hvr_len, sim_now), 0);
    int n2 = pull_one(p.c, ch2, sizeof(ch2));
    assert_true(has_handshake_type(ch2, (size_t)n2, 1));
    assert_int_equal(pull_one(p.c, out, sizeof(out)), 0);

    /* The same ClientHello at a server session for another address. */
    static const uint8_t other_addr[] = {10, 0, 0, 9, 0x13, 0x88};
    kg_dtls *s2 = kg_dtls_new(p.sctx, kg_dtls_cert_fingerprint(p.ccert),
                              other_addr, sizeof(other_addr), sim_now);
    assert_non_null(s2);
    (void)kg_dtls_read(s2, ch2, (size_t)n2, sim_now);
    while ((m = pull_one(s2, out, sizeof(out))) > 0)
        assert_false(has_handshake_type(out, (size_t)m, HT_SERVER_HELLO));
    assert_int_not_equal(kg_dtls_state(s2), KG_DTLS_CONNECTED);
    kg_dtls_del(s2);

    /* The right address gets the ServerHello flight. */
    assert_int_equal(kg_dtls_read(p.s, ch2, (size_t)n2, sim_now), 0);
    m = pull_one(p.s, out, sizeof(out));
    assert_true(has_handshake_type(out, (size_t)m, HT_SERVER_HELLO));
    peers_free(&p);
}

/* Garbage never crashes, never connects; non-DTLS bytes are refused. */
static void test_garbage(void **state)
{
    (void)state;
    struct peers p;
    peers_init(&p);
    default_ctxs(&p, 0);
    uint8_t buf[1500], ch[2048];
    uint32_t seed = 12345;

    assert_int_equal(kg_dtls_read(p.s, (const uint8_t *)"\x00\x01", 2, 0),
                     KG_ERR_MALFORMED);
    memset(buf, 0x80, 100); /* RTP-looking */
    assert_int_equal(kg_dtls_read(p.s, buf, 100, 0), KG_ERR_MALFORMED);
    assert_int_equal(kg_dtls_read(p.s, NULL, 100, 0), KG_ERR_MALFORMED);
    for (int i = 0; i < 300; i++) {
        size_t len = 13 + lcg(&seed) % 600;
        for (size_t j = 0; j < len; j++)
            buf[j] = (uint8_t)lcg(&seed);
        buf[0] = (uint8_t)(20 + i % 4); /* pass the RFC 7983 check */
        if (i % 2) {
            buf[1] = 0xfe;
            buf[2] = 0xfd;
            buf[3] = buf[4] = 0; /* epoch 0 */
        }
        int rc = kg_dtls_read(p.s, buf, len, 0);
        assert_true(rc <= 0);
        assert_int_not_equal(kg_dtls_state(p.s), KG_DTLS_CONNECTED);
        while (pull_one(p.s, ch, sizeof(ch)) > 0)
            assert_false(has_handshake_type(ch, sizeof(ch), HT_SERVER_HELLO));
    }
    kg_dtls_del(p.s);

    /* A real ClientHello cut at every length. */
    p.s = kg_dtls_new(p.sctx, kg_dtls_cert_fingerprint(p.ccert), client_addr,
                      sizeof(client_addr), 0);
    assert_int_equal(kg_dtls_start(p.c, 0), 0);
    int n = pull_one(p.c, ch, sizeof(ch));
    for (int len = 0; len < n; len++) {
        int rc = kg_dtls_read(p.s, ch, (size_t)len, 0);
        assert_true(rc <= 0);
        while (pull_one(p.s, buf, sizeof(buf)) > 0)
            ;
    }
    peers_free(&p);
}

static void test_api_edges(void **state)
{
    (void)state;
    struct peers p;
    peers_init(&p);
    kg_dtls_ctx *cctx = kg_dtls_ctx_new(p.ccert, KG_DTLS_CLIENT, 0);
    assert_non_null(cctx);
    const char *good = kg_dtls_cert_fingerprint(p.scert);
    char bad[KG_DTLS_FINGERPRINT_LEN + 1];

    assert_null(kg_dtls_new(cctx, NULL, NULL, 0, 0));
    assert_null(kg_dtls_new(cctx, "", NULL, 0, 0));
    strcpy(bad, good);
    bad[2] = '-';
    assert_null(kg_dtls_new(cctx, bad, NULL, 0, 0));
    strcpy(bad, good);
    bad[0] = 'G';
    assert_null(kg_dtls_new(cctx, bad, NULL, 0, 0));
    strcpy(bad, good);
    strcat(bad, "A");
    assert_null(kg_dtls_new(cctx, bad, NULL, 0, 0));
    assert_null(kg_dtls_new(cctx, good, NULL, 5, 0));
    static const uint8_t big[200];
    assert_null(kg_dtls_new(cctx, good, big, sizeof(big), 0));
    assert_null(kg_dtls_new(NULL, good, NULL, 0, 0));

    static const kg_srtp_profile none[] = {KG_SRTP_NONE};
    assert_null(kg_dtls_ctx_new_profiles(p.ccert, KG_DTLS_CLIENT, none, 1));
    assert_null(kg_dtls_ctx_new_profiles(p.ccert, KG_DTLS_CLIENT, none, 0));
    assert_null(kg_dtls_ctx_new(NULL, KG_DTLS_CLIENT, 0));
    assert_null(kg_dtls_ctx_new(p.ccert, (enum kg_dtls_role)7, 0));

    /* A too-small pull buffer leaves the datagram queued. */
    kg_dtls *c = kg_dtls_new(cctx, good, NULL, 0, 0);
    assert_non_null(c);
    assert_int_equal(kg_dtls_pull(c, NULL, 0), 0);
    assert_int_equal(kg_dtls_start(c, 0), 0);
    uint8_t buf[2048];
    assert_int_equal(kg_dtls_pull(c, buf, 10), KG_ERR_NOSPACE);
    assert_true(kg_dtls_pull(c, buf, sizeof(buf)) > 10);
    assert_int_equal(kg_dtls_pull(c, buf, sizeof(buf)), 0);
    /* Closing during the handshake sends nothing and stops the timer. */
    kg_dtls_close(c);
    assert_int_equal(kg_dtls_state(c), KG_DTLS_CLOSED);
    assert_int_equal(kg_dtls_deadline(c), KG_TIME_NEVER);
    assert_int_equal(kg_dtls_pull(c, buf, sizeof(buf)), 0);
    assert_int_equal(kg_dtls_read(c, buf, 20, 0), KG_ERR_CLOSED);
    assert_int_equal(kg_dtls_start(c, 0), KG_ERR_STATE);
    kg_dtls_close(c);
    kg_dtls_del(c);
    kg_dtls_del(NULL);
    kg_dtls_ctx_del(cctx);
    kg_dtls_ctx_del(NULL);
    peers_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cert),
        cmocka_unit_test(test_handshake),
        cmocka_unit_test(test_chromium_order_gets_gcm256),
        cmocka_unit_test(test_gcm128),
        cmocka_unit_test(test_legacy_only_client),
        cmocka_unit_test(test_fingerprint_mismatch),
        cmocka_unit_test(test_lossy_link),
        cmocka_unit_test(test_retransmit_schedule),
        cmocka_unit_test(test_dropped_server_flight),
        cmocka_unit_test(test_hello_verify),
        cmocka_unit_test(test_garbage),
        cmocka_unit_test(test_api_edges),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
