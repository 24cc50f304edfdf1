#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "codec/rtp.h"

/* An Opus packet as Chromium sends it, with the default audio extmap:
 * 1 = ssrc-audio-level, 2 = abs-send-time, 3 = transport-wide-cc,
 * 4 = sdes:mid, in the one-byte form. */
static const uint8_t opus_one_byte[] = {
    0x90, 0x6f, 0x12, 0x34, // V=2 X=1 CC=0, M=0 PT=111, seq 0x1234
    0x00, 0x01, 0xe2, 0x40, // timestamp 123456
    0x1a, 0x2b, 0x3c, 0x4d, // SSRC
    0xbe, 0xde, 0x00, 0x03, // one-byte profile, 3 words of extensions
    0x10, 0xa5,             // id 1 L=0: audio level, V=1, level 37
    0x22, 0x12, 0x34, 0x56, // id 2 L=2: abs-send-time
    0x31, 0x00, 0x2a,       // id 3 L=1: transport-wide seq 42
    0x40, 0x30,             // id 4 L=0: mid "0"
    0x00,                   // padding to the word boundary
    0x78, 0x0b, 0xe4, 0xc1, // Opus payload (TOC 0x78 + frame)
    0x36, 0xec, 0xc5, 0x8d,
};

/* A VP8 packet with the two-byte form (needed for a 0-length element and
 * an id above 14). */
static const uint8_t vp8_two_byte[] = {
    0x90, 0xe0, 0xff, 0xff, // V=2 X=1, M=1 PT=96, seq 65535
    0xff, 0xff, 0xff, 0xf0, // timestamp
    0x00, 0x00, 0x00, 0x01, // SSRC 1
    0x10, 0x00, 0x00, 0x03, // two-byte profile (appbits 0), 3 words
    0x01, 0x01, 0x85,       // id 1 len 1: audio level V=1 level 5
    0x14, 0x03, 0xab, 0xcd, // id 20 len 3
    0xef,
    0xc8, 0x00,             // id 200 len 0
    0x00, 0x00,             // padding
    0x90, 0x80, 0x01, 0x9d, // VP8 payload descriptor + data
    0x01, 0x2a,
};

/* A mixer's packet: two CSRCs, marker, and 4 bytes of padding. */
static const uint8_t mixed_padded[] = {
    0xa2, 0xef, 0x00, 0x07, // V=2 P=1 X=0 CC=2, M=1 PT=111, seq 7
    0x00, 0x00, 0x03, 0xc0, // timestamp 960
    0xca, 0xfe, 0xba, 0xbe, // SSRC
    0x11, 0x11, 0x11, 0x11, // CSRC 1
    0x22, 0x22, 0x22, 0x22, // CSRC 2
    0xf8, 0xff, 0xfe, 0x01, // payload (4 bytes)
    0x00, 0x00, 0x00, 0x04, // padding, count 4 in the last byte
};

/* A copy of len bytes in its own allocation, so ASan catches any read
 * past len. */
static uint8_t *dup_exact(const uint8_t *p, size_t len)
{
    uint8_t *d = malloc(len ? len : 1);
    assert_non_null(d);
    if (len)
        memcpy(d, p, len);
    return d;
}

static void test_one_byte_ext(void **state)
{
    (void)state;
    kg_rtp_hdr h;
    assert_int_equal(kg_rtp_parse(opus_one_byte, sizeof(opus_one_byte), &h),
                     0);
    assert_int_equal(h.version, 2);
    assert_false(h.padding);
    assert_true(h.extension);
    assert_int_equal(h.csrc_count, 0);
    assert_false(h.marker);
    assert_int_equal(h.pt, 111);
    assert_int_equal(h.seq, 0x1234);
    assert_int_equal(h.ts, 123456);
    assert_int_equal(h.ssrc, 0x1a2b3c4d);
    assert_int_equal(h.ext_profile, KG_RTP_EXT_ONE_BYTE);
    assert_ptr_equal(h.ext, opus_one_byte + 16);
    assert_int_equal(h.ext_len, 12);
    assert_int_equal(h.header_len, 28);
    assert_ptr_equal(h.payload, opus_one_byte + 28);
    assert_int_equal(h.payload_len, 8);
    assert_int_equal(h.pad_len, 0);

    kg_rtp_ext_elem e;
    assert_int_equal(kg_rtp_ext_find(&h, 2, &e), 0);
    assert_int_equal(e.id, 2);
    assert_int_equal(e.len, 3);
    assert_memory_equal(e.data, "\x12\x34\x56", 3);
    assert_int_equal(kg_rtp_ext_find(&h, 3, &e), 0);
    assert_int_equal(e.len, 2);
    assert_int_equal(e.data[1], 42);
    assert_int_equal(kg_rtp_ext_find(&h, 4, &e), 0);
    assert_int_equal(e.len, 1);
    assert_int_equal(e.data[0], '0');
    assert_int_equal(kg_rtp_ext_find(&h, 5, &e), KG_ERR_NOTFOUND);
    assert_int_equal(kg_rtp_ext_find(&h, 0, &e), KG_ERR_NOTFOUND);
    assert_int_equal(kg_rtp_ext_find(&h, 15, &e), KG_ERR_NOTFOUND);

    uint8_t level;
    bool voice;
    assert_int_equal(kg_rtp_audio_level(&h, 1, &level, &voice), 0);
    assert_int_equal(level, 37);
    assert_true(voice);
    assert_int_equal(kg_rtp_audio_level(&h, 9, &level, &voice),
                     KG_ERR_NOTFOUND);

    uint8_t out[64];
    ssize_t n = kg_rtp_write(&h, h.payload, h.payload_len, out, sizeof(out));
    assert_int_equal(n, sizeof(opus_one_byte));
    assert_memory_equal(out, opus_one_byte, sizeof(opus_one_byte));

    /* Every shorter buffer is refused, not overrun. */
    for (size_t cap = 0; cap < sizeof(opus_one_byte); cap++)
        assert_int_equal(
            kg_rtp_write(&h, h.payload, h.payload_len, out, cap),
            KG_ERR_NOSPACE);
}

static void test_two_byte_ext(void **state)
{
    (void)state;
    kg_rtp_hdr h;
    assert_int_equal(kg_rtp_parse(vp8_two_byte, sizeof(vp8_two_byte), &h), 0);
    assert_true(h.marker);
    assert_int_equal(h.pt, 96);
    assert_int_equal(h.seq, 65535);
    assert_int_equal(h.ts, 0xfffffff0);
    assert_int_equal(h.ssrc, 1);
    assert_int_equal(h.ext_profile, KG_RTP_EXT_TWO_BYTE);
    assert_int_equal(h.ext_len, 12);
    assert_int_equal(h.payload_len, 6);

    kg_rtp_ext_elem e;
    assert_int_equal(kg_rtp_ext_find(&h, 20, &e), 0);
    assert_int_equal(e.len, 3);
    assert_memory_equal(e.data, "\xab\xcd\xef", 3);
    assert_int_equal(kg_rtp_ext_find(&h, 200, &e), 0);
    assert_int_equal(e.len, 0);
    assert_int_equal(kg_rtp_ext_find(&h, 2, &e), KG_ERR_NOTFOUND);

    uint8_t level;
    bool voice;
    assert_int_equal(kg_rtp_audio_level(&h, 1, &level, &voice), 0);
    assert_int_equal(level, 5);
    assert_true(voice);
    /* A 0-length element cannot carry a level. */
    assert_int_equal(kg_rtp_audio_level(&h, 200, &level, &voice),
                     KG_ERR_MALFORMED);

    /* appbits in the low nibble still mean the two-byte form */
    uint8_t app[sizeof(vp8_two_byte)];
    memcpy(app, vp8_two_byte, sizeof(app));
    app[13] = 0x05;
    assert_int_equal(kg_rtp_parse(app, sizeof(app), &h), 0);
    assert_int_equal(kg_rtp_ext_find(&h, 20, &e), 0);

    assert_int_equal(kg_rtp_parse(vp8_two_byte, sizeof(vp8_two_byte), &h), 0);
    uint8_t out[64];
    ssize_t n = kg_rtp_write(&h, h.payload, h.payload_len, out, sizeof(out));
    assert_int_equal(n, sizeof(vp8_two_byte));
    assert_memory_equal(out, vp8_two_byte, sizeof(vp8_two_byte));
}

static void test_csrc_padding(void **state)
{
    (void)state;
    kg_rtp_hdr h;
    assert_int_equal(kg_rtp_parse(mixed_padded, sizeof(mixed_padded), &h), 0);
    assert_true(h.padding);
    assert_false(h.extension);
    assert_int_equal(h.csrc_count, 2);
    assert_true(h.marker);
    assert_int_equal(h.seq, 7);
    assert_int_equal(h.ts, 960);
    assert_int_equal(h.ssrc, 0xcafebabe);
    assert_int_equal(h.csrc[0], 0x11111111);
    assert_int_equal(h.csrc[1], 0x22222222);
    assert_int_equal(h.header_len, 20);
    assert_ptr_equal(h.payload, mixed_padded + 20);
    assert_int_equal(h.payload_len, 4);
    assert_int_equal(h.pad_len, 4);

    kg_rtp_ext_elem e;
    assert_int_equal(kg_rtp_ext_find(&h, 1, &e), KG_ERR_NOTFOUND);

    /* The writer drops the padding and the P bit. */
    uint8_t out[64];
    ssize_t n = kg_rtp_write(&h, h.payload, h.payload_len, out, sizeof(out));
    assert_int_equal(n, sizeof(mixed_padded) - 4);
    assert_int_equal(out[0], 0x82);
    assert_memory_equal(out + 1, mixed_padded + 1, (size_t)n - 1);
}

static void test_bad_padding(void **state)
{
    (void)state;
    uint8_t p[sizeof(mixed_padded)];
    kg_rtp_hdr h;

    memcpy(p, mixed_padded, sizeof(p));
    p[sizeof(p) - 1] = 0; /* a count of 0 cannot count itself */
    assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), KG_ERR_MALFORMED);

    p[sizeof(p) - 1] = 9; /* reaches into the CSRC list */
    assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), KG_ERR_MALFORMED);

    p[sizeof(p) - 1] = 8; /* exactly the whole body: empty payload */
    assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), 0);
    assert_int_equal(h.payload_len, 0);
    assert_int_equal(h.pad_len, 8);

    /* P set on a header-only packet: the last header byte is no count */
    uint8_t hdr_only[12] = {0xa0, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1};
    assert_int_equal(kg_rtp_parse(hdr_only, sizeof(hdr_only), &h),
                     KG_ERR_MALFORMED);
}

static void test_version(void **state)
{
    (void)state;
    static const uint8_t firsts[] = {0x00, 0x40, 0xc0, 0x10, 0x50, 0xd0};
    uint8_t p[sizeof(opus_one_byte)];
    kg_rtp_hdr h;
    for (size_t i = 0; i < KG_ARRAY_LEN(firsts); i++) {
        memcpy(p, opus_one_byte, sizeof(p));
        p[0] = firsts[i];
        assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), KG_ERR_MALFORMED);
    }
}

/* Every length shorter than the header is an error; the payload may be
 * cut (RTP has no length field), which only shortens it. */
static void truncate_all(const uint8_t *pkt, size_t len)
{
    kg_rtp_hdr full;
    assert_int_equal(kg_rtp_parse(pkt, len, &full), 0);
    for (size_t l = 0; l < len; l++) {
        uint8_t *d = dup_exact(pkt, l);
        kg_rtp_hdr h;
        int rc = kg_rtp_parse(d, l, &h);
        if (l < full.header_len) {
            assert_true(rc == KG_ERR_TRUNC || rc == KG_ERR_MALFORMED);
            if (l < 12)
                assert_int_equal(rc, KG_ERR_TRUNC);
        } else if (!full.padding) {
            assert_int_equal(rc, 0);
            assert_int_equal(h.payload_len, l - full.header_len);
        } else if (rc == 0) {
            /* with P set, whatever the last byte says must fit */
            assert_true(h.header_len + h.payload_len + h.pad_len == l);
        }
        if (rc == 0 && h.extension) {
            for (unsigned id = 0; id < 256; id++) {
                kg_rtp_ext_elem e;
                if (kg_rtp_ext_find(&h, (uint8_t)id, &e) == 0)
                    assert_true(e.data + e.len <= d + l);
            }
        }
        free(d);
    }
}

static void test_truncation(void **state)
{
    (void)state;
    truncate_all(opus_one_byte, sizeof(opus_one_byte));
    truncate_all(vp8_two_byte, sizeof(vp8_two_byte));
    truncate_all(mixed_padded, sizeof(mixed_padded));

    /* The extension length field pointing past the end. */
    uint8_t p[sizeof(opus_one_byte)];
    memcpy(p, opus_one_byte, sizeof(p));
    p[15] = 0x07; /* 7 words = 28 bytes, only 20 follow */
    kg_rtp_hdr h;
    assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), KG_ERR_TRUNC);
    /* CSRC count past the end. */
    memcpy(p, opus_one_byte, sizeof(p));
    p[0] = 0x8f; /* CC=15: 60 bytes of CSRCs */
    assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), KG_ERR_TRUNC);
}

static void test_ext_malformed(void **state)
{
    (void)state;
    kg_rtp_hdr h;
    kg_rtp_ext_elem e;
    uint8_t p[sizeof(opus_one_byte)];

    /* id 4 claims 16 bytes where 2 remain in the block */
    memcpy(p, opus_one_byte, sizeof(p));
    p[25] = 0x4f;
    assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), 0);
    assert_int_equal(kg_rtp_ext_find(&h, 3, &e), 0); /* found before it */
    assert_int_equal(kg_rtp_ext_find(&h, 4, &e), KG_ERR_MALFORMED);
    assert_int_equal(kg_rtp_ext_find(&h, 7, &e), KG_ERR_MALFORMED);

    /* id 15 stops the walk, whatever follows */
    memcpy(p, opus_one_byte, sizeof(p));
    p[18] = 0xf2;
    assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), 0);
    assert_int_equal(kg_rtp_ext_find(&h, 1, &e), 0);
    assert_int_equal(kg_rtp_ext_find(&h, 3, &e), KG_ERR_NOTFOUND);

    /* an unknown profile has no elements */
    memcpy(p, opus_one_byte, sizeof(p));
    p[12] = 0x12;
    assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), 0);
    assert_int_equal(kg_rtp_ext_find(&h, 1, &e), KG_ERR_NOTFOUND);

    /* two-byte: a length past the block, and an id with no length byte */
    uint8_t q[sizeof(vp8_two_byte)];
    memcpy(q, vp8_two_byte, sizeof(q));
    q[20] = 0x20;
    assert_int_equal(kg_rtp_parse(q, sizeof(q), &h), 0);
    assert_int_equal(kg_rtp_ext_find(&h, 200, &e), KG_ERR_MALFORMED);
    memcpy(q, vp8_two_byte, sizeof(q));
    q[24] = 0x00;
    q[25] = 0x00;
    q[27] = 0x07; /* last byte of the block: an id alone */
    assert_int_equal(kg_rtp_parse(q, sizeof(q), &h), 0);
    assert_int_equal(kg_rtp_ext_find(&h, 20, &e), 0);
    assert_int_equal(kg_rtp_ext_find(&h, 7, &e), KG_ERR_MALFORMED);

    /* no extension at all */
    assert_int_equal(kg_rtp_parse(mixed_padded, sizeof(mixed_padded), &h), 0);
    assert_int_equal(kg_rtp_ext_find(&h, 1, &e), KG_ERR_NOTFOUND);
    assert_int_equal(kg_rtp_ext_find(NULL, 1, &e), KG_ERR_INVAL);
}

static void test_ext_write(void **state)
{
    (void)state;
    uint8_t buf[64];
    uint16_t profile = 0;

    const kg_rtp_ext_elem one[] = {
        {1, (const uint8_t *)"\xa5", 1},
        {2, (const uint8_t *)"\x12\x34\x56", 3},
        {3, (const uint8_t *)"\x00\x2a", 2},
        {4, (const uint8_t *)"0", 1},
    };
    ssize_t n = kg_rtp_ext_write(one, 4, &profile, buf, sizeof(buf));
    assert_int_equal(n, 12);
    assert_int_equal(profile, KG_RTP_EXT_ONE_BYTE);
    assert_memory_equal(buf, opus_one_byte + 16, 12);
    for (size_t cap = 0; cap < 12; cap++)
        assert_int_equal(kg_rtp_ext_write(one, 4, &profile, buf, cap),
                         KG_ERR_NOSPACE);

    /* A 0-length element and id 20 force the two-byte form. */
    const kg_rtp_ext_elem two[] = {
        {1, (const uint8_t *)"\x85", 1},
        {20, (const uint8_t *)"\xab\xcd\xef", 3},
        {200, NULL, 0},
    };
    n = kg_rtp_ext_write(two, 3, &profile, buf, sizeof(buf));
    assert_int_equal(n, 12);
    assert_int_equal(profile, KG_RTP_EXT_TWO_BYTE);
    assert_memory_equal(buf, vp8_two_byte + 16, 12);

    /* 17 bytes do not fit the one-byte form either */
    uint8_t big[255];
    memset(big, 0x5a, sizeof(big));
    kg_rtp_ext_elem e17 = {3, big, 17};
    n = kg_rtp_ext_write(&e17, 1, &profile, buf, sizeof(buf));
    assert_int_equal(n, 20);
    assert_int_equal(profile, KG_RTP_EXT_TWO_BYTE);
    assert_int_equal(buf[0], 3);
    assert_int_equal(buf[1], 17);
    assert_int_equal(buf[19], 0);

    /* ...and id 15 is reserved in the one-byte form only */
    kg_rtp_ext_elem e15 = {15, big, 1};
    n = kg_rtp_ext_write(&e15, 1, &profile, buf, sizeof(buf));
    assert_int_equal(n, 4);
    assert_int_equal(profile, KG_RTP_EXT_TWO_BYTE);

    kg_rtp_ext_elem bad0 = {0, big, 1};
    assert_int_equal(kg_rtp_ext_write(&bad0, 1, &profile, buf, sizeof(buf)),
                     KG_ERR_INVAL);
    kg_rtp_ext_elem bad256 = {1, big, 256};
    assert_int_equal(
        kg_rtp_ext_write(&bad256, 1, &profile, buf, sizeof(buf)),
        KG_ERR_INVAL);
    assert_int_equal(kg_rtp_ext_write(NULL, 0, &profile, buf, 0), 0);
}

/* Building a packet from parts: extension block written, header written
 * around it, then found again. */
static void test_build_with_ext(void **state)
{
    (void)state;
    uint8_t ext[16];
    uint16_t profile;
    const kg_rtp_ext_elem lvl = {1, (const uint8_t *)"\x1e", 1};
    ssize_t elen = kg_rtp_ext_write(&lvl, 1, &profile, ext, sizeof(ext));
    assert_int_equal(elen, 4);

    kg_rtp_hdr h = {0};
    h.extension = true;
    h.pt = 111;
    h.seq = 1;
    h.ext_profile = profile;
    h.ext = ext;
    h.ext_len = (size_t)elen;
    uint8_t pkt[64];
    ssize_t n = kg_rtp_write(&h, (const uint8_t *)"opus", 4, pkt, sizeof(pkt));
    assert_int_equal(n, 12 + 4 + 4 + 4);

    kg_rtp_hdr g;
    assert_int_equal(kg_rtp_parse(pkt, (size_t)n, &g), 0);
    uint8_t level;
    bool voice;
    assert_int_equal(kg_rtp_audio_level(&g, 1, &level, &voice), 0);
    assert_int_equal(level, 30);
    assert_false(voice);
    assert_memory_equal(g.payload, "opus", 4);

    /* bad arguments */
    h.ext_len = 3;
    assert_int_equal(kg_rtp_write(&h, NULL, 0, pkt, sizeof(pkt)),
                     KG_ERR_INVAL);
    h.ext_len = 4;
    h.pt = 128;
    assert_int_equal(kg_rtp_write(&h, NULL, 0, pkt, sizeof(pkt)),
                     KG_ERR_INVAL);
    h.pt = 0;
    h.csrc_count = 16;
    assert_int_equal(kg_rtp_write(&h, NULL, 0, pkt, sizeof(pkt)),
                     KG_ERR_INVAL);
    h.csrc_count = 0;
    assert_int_equal(kg_rtp_write(&h, NULL, 5, pkt, sizeof(pkt)),
                     KG_ERR_INVAL);
}

/* The payload may already sit where it belongs in buf. */
static void test_write_in_place(void **state)
{
    (void)state;
    uint8_t buf[64];
    memcpy(buf + 20, "payload", 7);
    kg_rtp_hdr h = {0};
    h.csrc_count = 2;
    h.csrc[0] = 1;
    h.csrc[1] = 2;
    h.seq = 9;
    assert_int_equal(kg_rtp_write(&h, buf + 20, 7, buf, sizeof(buf)), 27);
    kg_rtp_hdr g;
    assert_int_equal(kg_rtp_parse(buf, 27, &g), 0);
    assert_memory_equal(g.payload, "payload", 7);
    assert_int_equal(g.csrc[1], 2);
}

static void test_rewrite(void **state)
{
    (void)state;
    uint8_t p[sizeof(vp8_two_byte)];
    memcpy(p, vp8_two_byte, sizeof(p));
    kg_rtp_rewrite(p, 0xff /* high bit must not reach the marker */, 0x0102,
                   0x03040506, 0x0708090a);
    static const uint8_t want[12] = {
        0x90, 0xff, 0x01, 0x02, // marker kept, PT 127
        0x03, 0x04, 0x05, 0x06, // timestamp
        0x07, 0x08, 0x09, 0x0a, // SSRC
    };
    assert_memory_equal(p, want, 12);
    assert_memory_equal(p + 12, vp8_two_byte + 12, sizeof(p) - 12);

    memcpy(p, opus_one_byte, 12);
    kg_rtp_rewrite(p, 96, 2, 3, 4);
    kg_rtp_hdr h;
    assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), 0);
    assert_false(h.marker);
    assert_int_equal(h.pt, 96);
    assert_int_equal(h.seq, 2);
    assert_int_equal(h.ts, 3);
    assert_int_equal(h.ssrc, 4);
}

static void test_seq_diff(void **state)
{
    (void)state;
    assert_int_equal(kg_seq_diff(5, 3), 2);
    assert_int_equal(kg_seq_diff(3, 5), -2);
    assert_int_equal(kg_seq_diff(2, 65534), 4);
    assert_int_equal(kg_seq_diff(65534, 2), -4);
    assert_int_equal(kg_seq_diff(0x8000, 0), -32768);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_byte_ext),
        cmocka_unit_test(test_two_byte_ext),
        cmocka_unit_test(test_csrc_padding),
        cmocka_unit_test(test_bad_padding),
        cmocka_unit_test(test_version),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_ext_malformed),
        cmocka_unit_test(test_ext_write),
        cmocka_unit_test(test_build_with_ext),
        cmocka_unit_test(test_write_in_place),
        cmocka_unit_test(test_rewrite),
        cmocka_unit_test(test_seq_diff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
