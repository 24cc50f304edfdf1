/* SRTP/SRTCP sessions with fixed test keys: round trips for every
 * profile, tampering, replay, buffer limits. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "crypto/srtp.h"

struct profile_case {
    kg_srtp_profile profile;
    size_t key_len, salt_len;
    size_t rtp_trailer, rtcp_trailer;
};

static const struct profile_case cases[] = {
    {KG_SRTP_AEAD_AES_256_GCM, 32, 12, 16, 20},
    {KG_SRTP_AEAD_AES_128_GCM, 16, 12, 16, 20},
    {KG_SRTP_AES128_CM_SHA1_80, 16, 14, 10, 14},
};

/* Two mirrored key sets: a's local is b's remote and vice versa. */
static void make_keys(const struct profile_case *pc, kg_srtp_keys *a,
                      kg_srtp_keys *b)
{
    memset(a, 0, sizeof(*a));
    a->profile = pc->profile;
    a->key_len = pc->key_len;
    a->salt_len = pc->salt_len;
    for (size_t i = 0; i < KG_SRTP_MAX_KEY; i++) {
        a->local_key[i] = (uint8_t)(0x10 + i);
        a->remote_key[i] = (uint8_t)(0xa0 + i);
    }
    for (size_t i = 0; i < KG_SRTP_MAX_SALT; i++) {
        a->local_salt[i] = (uint8_t)(0x50 + i);
        a->remote_salt[i] = (uint8_t)(0xe0 + i);
    }
    *b = *a;
    memcpy(b->local_key, a->remote_key, sizeof(a->local_key));
    memcpy(b->remote_key, a->local_key, sizeof(a->local_key));
    memcpy(b->local_salt, a->remote_salt, sizeof(a->local_salt));
    memcpy(b->remote_salt, a->local_salt, sizeof(a->local_salt));
}

static void make_pair(const struct profile_case *pc, kg_srtp **a, kg_srtp **b)
{
    kg_srtp_keys ka, kb;
    make_keys(pc, &ka, &kb);
    *a = kg_srtp_new(&ka);
    *b = kg_srtp_new(&kb);
    assert_non_null(*a);
    assert_non_null(*b);
    kg_srtp_keys_wipe(&ka);
    kg_srtp_keys_wipe(&kb);
}

/* An RTP packet: V=2, PT 111, the given sequence number, timestamp,
 * SSRC 0x11223344, then a patterned payload up to len. */
static size_t make_rtp(uint8_t *buf, uint16_t seq, size_t len)
{
    static const uint8_t hdr[12] = {
        0x80, 0x6f,             // V=2, no padding/ext/CSRC; M=0, PT=111
        0x00, 0x00,             // sequence number (patched below)
        0x00, 0x00, 0x03, 0xc0, // timestamp 960
        0x11, 0x22, 0x33, 0x44, // SSRC
    };
    memcpy(buf, hdr, sizeof(hdr));
    buf[2] = (uint8_t)(seq >> 8);
    buf[3] = (uint8_t)seq;
    for (size_t i = sizeof(hdr); i < len; i++)
        buf[i] = (uint8_t)(i * 7 + seq);
    return len;
}

/* An RTCP sender report (RFC 3550 6.4.1), 28 bytes. */
static size_t make_rtcp(uint8_t *buf)
{
    static const uint8_t sr[28] = {
        0x80, 0xc8, 0x00, 0x06, // V=2, RC=0, PT=200 SR, length 6 words
        0x11, 0x22, 0x33, 0x44, // SSRC of sender
        0xe8, 0x00, 0x00, 0x00, // NTP timestamp, most significant word
        0x00, 0x00, 0x00, 0x01, // NTP timestamp, least significant word
        0x00, 0x00, 0x03, 0xc0, // RTP timestamp
        0x00, 0x00, 0x00, 0x0a, // sender's packet count
        0x00, 0x00, 0x04, 0x00, // sender's octet count
    };
    memcpy(buf, sr, sizeof(sr));
    return sizeof(sr);
}

static void test_profile_names(void **state)
{
    (void)state;
    assert_string_equal(kg_srtp_profile_name(KG_SRTP_AEAD_AES_256_GCM),
                        "AEAD_AES_256_GCM");
    assert_string_equal(kg_srtp_profile_name(KG_SRTP_AEAD_AES_128_GCM),
                        "AEAD_AES_128_GCM");
    assert_string_equal(kg_srtp_profile_name(KG_SRTP_AES128_CM_SHA1_80),
                        "AES_CM_128_HMAC_SHA1_80");
    assert_string_equal(kg_srtp_profile_name(KG_SRTP_NONE), "none");
    assert_string_equal(kg_srtp_profile_name((kg_srtp_profile)99), "none");
}

static void test_round_trip(void **state)
{
    (void)state;
    for (size_t c = 0; c < KG_ARRAY_LEN(cases); c++) {
        const struct profile_case *pc = &cases[c];
        kg_srtp *a, *b;
        make_pair(pc, &a, &b);
        uint8_t pkt[200 + KG_SRTP_MAX_TRAILER], orig[200];

        /* RTP both ways. */
        size_t len = make_rtp(pkt, 1, 200);
        memcpy(orig, pkt, len);
        assert_int_equal(kg_srtp_protect(a, pkt, &len, sizeof(pkt)), 0);
        assert_int_equal(len, 200 + pc->rtp_trailer);
        assert_memory_equal(pkt, orig, 12); /* header in the clear */
        assert_memory_not_equal(pkt + 12, orig + 12, 188);
        assert_int_equal(kg_srtp_unprotect(b, pkt, &len), 0);
        assert_int_equal(len, 200);
        assert_memory_equal(pkt, orig, 200);
        assert_int_equal(kg_srtp_protect(b, pkt, &len, sizeof(pkt)), 0);
        assert_int_equal(kg_srtp_unprotect(a, pkt, &len), 0);
        assert_memory_equal(pkt, orig, 200);

        /* The wrong direction's key does not open it. */
        len = make_rtp(pkt, 2, 200);
        assert_int_equal(kg_srtp_protect(a, pkt, &len, sizeof(pkt)), 0);
        assert_int_equal(kg_srtp_unprotect(a, pkt, &len), KG_ERR_AUTH);

        /* RTCP both ways. */
        len = make_rtcp(pkt);
        memcpy(orig, pkt, len);
        assert_int_equal(kg_srtcp_protect(a, pkt, &len, sizeof(pkt)), 0);
        assert_int_equal(len, 28 + pc->rtcp_trailer);
        assert_memory_not_equal(pkt + 8, orig + 8, 20);
        assert_int_equal(kg_srtcp_unprotect(b, pkt, &len), 0);
        assert_int_equal(len, 28);
        assert_memory_equal(pkt, orig, 28);
        assert_int_equal(kg_srtcp_protect(b, pkt, &len, sizeof(pkt)), 0);
        assert_int_equal(kg_srtcp_unprotect(a, pkt, &len), 0);
        assert_memory_equal(pkt, orig, 28);
        kg_srtp_del(a);
        kg_srtp_del(b);
    }
}

/* One flipped bit anywhere (header, payload, tag, SRTCP index) fails
 * authentication. */
static void test_tamper(void **state)
{
    (void)state;
    for (size_t c = 0; c < KG_ARRAY_LEN(cases); c++) {
        const struct profile_case *pc = &cases[c];
        kg_srtp *a, *b;
        make_pair(pc, &a, &b);
        uint8_t pkt[100 + KG_SRTP_MAX_TRAILER], prot[sizeof(pkt)];
        size_t plen = make_rtp(pkt, 7, 100);
        assert_int_equal(kg_srtp_protect(a, pkt, &plen, sizeof(pkt)), 0);
        memcpy(prot, pkt, plen);
        static const size_t at[] = {1, 5, 9, 12, 50, 99, 100};
        size_t spots[KG_ARRAY_LEN(at) + 1];
        memcpy(spots, at, sizeof(at));
        spots[KG_ARRAY_LEN(at)] = plen - 1; /* last tag byte */
        for (size_t i = 0; i < KG_ARRAY_LEN(spots); i++) {
            memcpy(pkt, prot, plen);
            pkt[spots[i]] ^= 0x01;
            size_t len = plen;
            assert_int_equal(kg_srtp_unprotect(b, pkt, &len), KG_ERR_AUTH);
        }
        /* Untouched, it still opens: the failures did not poison the
         * replay window. */
        memcpy(pkt, prot, plen);
        assert_int_equal(kg_srtp_unprotect(b, pkt, &plen), 0);

        plen = make_rtcp(pkt);
        assert_int_equal(kg_srtcp_protect(a, pkt, &plen, sizeof(pkt)), 0);
        memcpy(prot, pkt, plen);
        static const size_t rat[] = {4, 10, 27, 28};
        for (size_t i = 0; i < KG_ARRAY_LEN(rat); i++) {
            memcpy(pkt, prot, plen);
            pkt[rat[i]] ^= 0x80;
            size_t len = plen;
            assert_int_equal(kg_srtcp_unprotect(b, pkt, &len), KG_ERR_AUTH);
        }
        kg_srtp_del(a);
        kg_srtp_del(b);
    }
}

static void test_replay(void **state)
{
    (void)state;
    for (size_t c = 0; c < KG_ARRAY_LEN(cases); c++) {
        kg_srtp *a, *b;
        make_pair(&cases[c], &a, &b);
        uint8_t pkt[100 + KG_SRTP_MAX_TRAILER], copy[sizeof(pkt)];
        size_t len = make_rtp(pkt, 42, 100);
        assert_int_equal(kg_srtp_protect(a, pkt, &len, sizeof(pkt)), 0);
        memcpy(copy, pkt, len);
        size_t l1 = len, l2 = len;
        assert_int_equal(kg_srtp_unprotect(b, pkt, &l1), 0);
        assert_int_equal(kg_srtp_unprotect(b, copy, &l2), KG_ERR_REPLAY);

        /* Sending the same sequence number again is allowed (NACK
         * retransmission); the receiver still drops the duplicate. */
        len = make_rtp(pkt, 42, 100);
        assert_int_equal(kg_srtp_protect(a, pkt, &len, sizeof(pkt)), 0);
        assert_int_equal(kg_srtp_unprotect(b, pkt, &len), KG_ERR_REPLAY);

        len = make_rtcp(pkt);
        assert_int_equal(kg_srtcp_protect(a, pkt, &len, sizeof(pkt)), 0);
        memcpy(copy, pkt, len);
        l1 = l2 = len;
        assert_int_equal(kg_srtcp_unprotect(b, pkt, &l1), 0);
        assert_int_equal(kg_srtcp_unprotect(b, copy, &l2), KG_ERR_REPLAY);
        kg_srtp_del(a);
        kg_srtp_del(b);
    }
}

/* Reordering inside the 1024-packet window is fine; older is replay. */
static void test_replay_window(void **state)
{
    (void)state;
    kg_srtp *a, *b;
    make_pair(&cases[0], &a, &b);
    enum { N = 1101 };
    static uint8_t pkts[N][60 + KG_SRTP_MAX_TRAILER];
    static size_t lens[N];
    for (uint16_t s = 0; s < N; s++) {
        lens[s] = make_rtp(pkts[s], s, 60);
        assert_int_equal(kg_srtp_protect(a, pkts[s], &lens[s],
                                         sizeof(pkts[s])),
                         0);
    }
    assert_int_equal(kg_srtp_unprotect(b, pkts[N - 1], &lens[N - 1]), 0);
    /* 1000 behind the newest: inside the window. */
    assert_int_equal(kg_srtp_unprotect(b, pkts[100], &lens[100]), 0);
    /* 1100 behind: too old. */
    assert_int_equal(kg_srtp_unprotect(b, pkts[0], &lens[0]), KG_ERR_REPLAY);
    kg_srtp_del(a);
    kg_srtp_del(b);
}

static void test_limits(void **state)
{
    (void)state;
    for (size_t c = 0; c < KG_ARRAY_LEN(cases); c++) {
        const struct profile_case *pc = &cases[c];
        kg_srtp *a, *b;
        make_pair(pc, &a, &b);
        uint8_t pkt[100 + KG_SRTP_MAX_TRAILER], orig[sizeof(pkt)];
        size_t len = make_rtp(pkt, 3, 100);
        memcpy(orig, pkt, sizeof(pkt));
        /* One byte short of the trailer: refused, nothing written. */
        assert_int_equal(
            kg_srtp_protect(a, pkt, &len, 100 + pc->rtp_trailer - 1),
            KG_ERR_NOSPACE);
        assert_int_equal(len, 100);
        assert_memory_equal(pkt, orig, sizeof(pkt));
        assert_int_equal(kg_srtp_protect(a, pkt, &len, 99), KG_ERR_NOSPACE);
        /* Exactly enough. */
        assert_int_equal(kg_srtp_protect(a, pkt, &len, 100 + pc->rtp_trailer),
                         0);
        assert_int_equal(len, 100 + pc->rtp_trailer);

        len = make_rtcp(pkt);
        assert_int_equal(
            kg_srtcp_protect(a, pkt, &len, 28 + pc->rtcp_trailer - 1),
            KG_ERR_NOSPACE);
        assert_int_equal(kg_srtcp_protect(a, pkt, &len, 28 + pc->rtcp_trailer),
                         0);

        /* Too short to be RTP/RTCP. */
        len = 11;
        assert_int_equal(kg_srtp_protect(a, pkt, &len, sizeof(pkt)),
                         KG_ERR_MALFORMED);
        len = 7;
        assert_int_equal(kg_srtcp_protect(a, pkt, &len, sizeof(pkt)),
                         KG_ERR_MALFORMED);
        for (len = 0; len < 12 + pc->rtp_trailer; len++) {
            size_t l = len;
            make_rtp(pkt, 9, 40);
            assert_int_equal(kg_srtp_unprotect(b, pkt, &l), KG_ERR_MALFORMED);
        }
        for (len = 0; len < 8 + pc->rtcp_trailer; len++) {
            size_t l = len;
            make_rtcp(pkt);
            assert_int_equal(kg_srtcp_unprotect(b, pkt, &l), KG_ERR_MALFORMED);
        }
        /* Not version 2. */
        len = make_rtp(pkt, 10, 60);
        pkt[0] = 0x40;
        size_t l = len + pc->rtp_trailer;
        assert_int_not_equal(kg_srtp_unprotect(b, pkt, &l), 0);
        kg_srtp_del(a);
        kg_srtp_del(b);
    }
}

static void test_bad_keys(void **state)
{
    (void)state;
    kg_srtp_keys a, b;
    make_keys(&cases[0], &a, &b);
    a.profile = KG_SRTP_NONE;
    assert_null(kg_srtp_new(&a));
    a.profile = (kg_srtp_profile)42;
    assert_null(kg_srtp_new(&a));
    a.profile = KG_SRTP_AEAD_AES_256_GCM;
    a.key_len = 16; /* GCM-256 needs 32 */
    assert_null(kg_srtp_new(&a));
    a.key_len = 32;
    a.salt_len = 14;
    assert_null(kg_srtp_new(&a));
    assert_null(kg_srtp_new(NULL));
    kg_srtp_del(NULL);
    kg_srtp_keys_wipe(&b);
    static const kg_srtp_keys zero;
    assert_memory_equal(&b, &zero, sizeof(b));
}

static void test_many_packets(void **state)
{
    (void)state;
    for (size_t c = 0; c < KG_ARRAY_LEN(cases); c++) {
        kg_srtp *a, *b;
        make_pair(&cases[c], &a, &b);
        uint8_t pkt[1200 + KG_SRTP_MAX_TRAILER], orig[1200];
        /* Start near the 16-bit wrap so the rollover counter moves. */
        for (unsigned i = 0; i < 1000; i++) {
            uint16_t seq = (uint16_t)(65000 + i);
            size_t len = make_rtp(pkt, seq, 1200);
            memcpy(orig, pkt, len);
            assert_int_equal(kg_srtp_protect(a, pkt, &len, sizeof(pkt)), 0);
            assert_int_equal(kg_srtp_unprotect(b, pkt, &len), 0);
            assert_int_equal(len, 1200);
            assert_memory_equal(pkt, orig, 1200);
        }
        kg_srtp_del(a);
        kg_srtp_del(b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_profile_names),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_tamper),
        cmocka_unit_test(test_replay),
        cmocka_unit_test(test_replay_window),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_bad_keys),
        cmocka_unit_test(test_many_packets),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
