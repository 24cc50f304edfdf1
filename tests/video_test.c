#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "codec/video.h"

/* 60 frames of 640x360 at 30 fps and 500 kbit/s: every frame decodes,
 * the first is a keyframe, a forced keyframe is one, no other frame is
 * (kf_interval is longer than the run), and the stream's size is within
 * 50% of the 1,000,000 bits that 2 s at 500 kbit/s allow. */
static void test_encode_decode_60(void **state)
{
    (void)state;
    kg_vp8_enc *enc = kg_vp8_enc_new(640, 360, 30, 500, 3000);
    kg_vp8_dec *dec = kg_vp8_dec_new();
    assert_non_null(enc);
    assert_non_null(dec);
    size_t total = 0, key_bytes = 0;
    int keys = 0;
    for (uint32_t n = 0; n < 60; n++) {
        const uint8_t *frame = NULL;
        size_t len = 0;
        bool key = false;
        assert_int_equal(kg_vp8_enc_frame(enc, n, 1, n == 30, &frame, &len,
                                          &key),
                         0);
        assert_non_null(frame);
        assert_true(len > 0);
        /* Frame tag P bit agrees with the encoder's flag. */
        assert_int_equal((frame[0] & 1) == 0, key);
        assert_int_equal(key, n == 0 || n == 30);
        keys += key;
        if (n == 0)
            key_bytes = len;
        total += len;
        unsigned w = 0, h = 0;
        assert_int_equal(kg_vp8_decode(dec, frame, len, &w, &h), 0);
        assert_int_equal(w, 640);
        assert_int_equal(h, 360);
    }
    double bits = (double)total * 8.0, target = 500000.0 * 60 / 30;
    print_message("60 frames: %zu bytes = %.0f bits (%.0f%% of target %.0f),"
                  " first keyframe %zu bytes\n",
                  total, bits, 100.0 * bits / target, target, key_bytes);
    assert_int_equal(keys, 2);
    assert_true(bits > 0.5 * target && bits < 1.5 * target);
    kg_vp8_dec_del(dec);
    kg_vp8_enc_del(enc);
}

/* The pattern depends on the seed and on n: otherwise receivers could
 * not tell two publishers, or a frozen stream, apart. */
static void test_pattern_varies(void **state)
{
    (void)state;
    kg_vp8_enc *a = kg_vp8_enc_new(160, 120, 30, 200, 3000);
    kg_vp8_enc *b = kg_vp8_enc_new(160, 120, 30, 200, 3000);
    assert_non_null(a);
    assert_non_null(b);
    const uint8_t *fa, *fb;
    size_t la, lb;
    bool ka, kb;
    assert_int_equal(kg_vp8_enc_frame(a, 0, 1, false, &fa, &la, &ka), 0);
    assert_int_equal(kg_vp8_enc_frame(b, 0, 2, false, &fb, &lb, &kb), 0);
    assert_true(ka && kb);
    assert_true(la != lb || memcmp(fa, fb, la) != 0);
    /* Same seed, same n, fresh encoders: same bytes (deterministic). */
    kg_vp8_enc *c = kg_vp8_enc_new(160, 120, 30, 200, 3000);
    assert_non_null(c);
    const uint8_t *fc;
    size_t lc;
    bool kc;
    assert_int_equal(kg_vp8_enc_frame(c, 0, 1, false, &fc, &lc, &kc), 0);
    assert_int_equal(lc, la);
    assert_memory_equal(fc, fa, la);
    kg_vp8_enc_del(a);
    kg_vp8_enc_del(b);
    kg_vp8_enc_del(c);
}

static void test_kf_interval(void **state)
{
    (void)state;
    kg_vp8_enc *enc = kg_vp8_enc_new(160, 120, 30, 200, 10);
    assert_non_null(enc);
    int keys = 0;
    for (uint32_t n = 0; n < 25; n++) {
        const uint8_t *f;
        size_t len;
        bool key;
        assert_int_equal(kg_vp8_enc_frame(enc, n, 3, false, &f, &len, &key),
                         0);
        keys += key;
    }
    /* Frames 0, 10 and 20 at most 10 apart. */
    assert_int_equal(keys, 3);
    kg_vp8_enc_del(enc);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(kg_vp8_enc_new(0, 360, 30, 500, 100));
    assert_null(kg_vp8_enc_new(640, 0, 30, 500, 100));
    assert_null(kg_vp8_enc_new(640, 360, 0, 500, 100));
    assert_null(kg_vp8_enc_new(640, 360, 30, 0, 100));
    assert_null(kg_vp8_enc_new(20000, 360, 30, 500, 100));
}

static void test_decode_garbage(void **state)
{
    (void)state;
    kg_vp8_dec *dec = kg_vp8_dec_new();
    assert_non_null(dec);
    uint8_t junk[500];
    uint32_t x = 7;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x = x * 1664525u + 1013904223u;
        junk[i] = (uint8_t)(x >> 24);
    }
    junk[0] &= 0xfe; /* claims to be a keyframe, bad start code */
    assert_int_equal(kg_vp8_decode(dec, junk, sizeof(junk), NULL, NULL),
                     KG_ERR_MALFORMED);
    junk[0] |= 0x01; /* a delta frame with no keyframe before it */
    assert_int_equal(kg_vp8_decode(dec, junk, sizeof(junk), NULL, NULL),
                     KG_ERR_MALFORMED);
    assert_int_equal(kg_vp8_decode(dec, junk, 0, NULL, NULL),
                     KG_ERR_MALFORMED);
    assert_int_equal(kg_vp8_decode(dec, NULL, 10, NULL, NULL),
                     KG_ERR_MALFORMED);

    /* A real keyframe cut short, then the whole one: the decoder is
     * still usable after an error. */
    kg_vp8_enc *enc = kg_vp8_enc_new(320, 180, 30, 300, 3000);
    assert_non_null(enc);
    const uint8_t *f;
    size_t len;
    bool key;
    assert_int_equal(kg_vp8_enc_frame(enc, 0, 5, false, &f, &len, &key), 0);
    assert_true(key && len > 20);
    assert_int_equal(kg_vp8_decode(dec, f, 8, NULL, NULL), KG_ERR_MALFORMED);
    unsigned w = 0, h = 0;
    assert_int_equal(kg_vp8_decode(dec, f, len, &w, &h), 0);
    assert_int_equal(w, 320);
    assert_int_equal(h, 180);
    kg_vp8_enc_del(enc);
    kg_vp8_dec_del(dec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode_decode_60),
        cmocka_unit_test(test_pattern_varies),
        cmocka_unit_test(test_kf_interval),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_decode_garbage),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
