#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/audio.h"
#include "codec/err.h"

#define STEREO (KG_AUDIO_FRAME * KG_AUDIO_CHANNELS)

static void test_tone_continuous(void **state)
{
    (void)state;
    kg_tone t;
    kg_tone_init(&t, 440.0, 0.5);
    int16_t pcm[3][STEREO];
    for (int f = 0; f < 3; f++)
        kg_tone_fill(&t, pcm[f]);
    /* Every sample of three frames matches one unbroken sine, so there
     * is no click at the frame boundaries; both channels carry it. */
    for (int f = 0; f < 3; f++) {
        for (size_t i = 0; i < KG_AUDIO_FRAME; i++) {
            double k = (double)(f * KG_AUDIO_FRAME + (int)i);
            double want = 0.5 * 32767.0 * sin(2.0 * M_PI * 440.0 * k /
                                              KG_AUDIO_RATE);
            assert_true(fabs(pcm[f][2 * i] - want) <= 1.0);
            assert_int_equal(pcm[f][2 * i], pcm[f][2 * i + 1]);
        }
    }
    assert_true(t.phase >= 0.0 && t.phase < 2.0 * M_PI);

    /* Amplitude is clamped to full scale. */
    kg_tone_init(&t, 1000.0, 3.0);
    kg_tone_fill(&t, pcm[0]);
    int peak = 0;
    for (size_t i = 0; i < STEREO; i++)
        peak = abs(pcm[0][i]) > peak ? abs(pcm[0][i]) : peak;
    assert_true(peak <= 32767 && peak > 32000);
}

static void test_goertzel_pure(void **state)
{
    (void)state;
    kg_tone t;
    int16_t pcm[STEREO];
    kg_tone_init(&t, 440.0, 0.5);
    kg_tone_fill(&t, pcm);
    double at = kg_goertzel(pcm, KG_AUDIO_FRAME, 2, 440.0, KG_AUDIO_RATE);
    double near = kg_goertzel(pcm, KG_AUDIO_FRAME, 2, 740.0, KG_AUDIO_RATE);
    double below = kg_goertzel(pcm, KG_AUDIO_FRAME, 2, 140.0, KG_AUDIO_RATE);
    double far = kg_goertzel(pcm, KG_AUDIO_FRAME, 2, 5000.0, KG_AUDIO_RATE);
    print_message("440 Hz tone: at 440 %.4f, 740 %.6f, 140 %.6f, 5k %.6f\n",
                  at, near, below, far);
    assert_true(at > 0.95 && at < 1.05);
    assert_true(near < 0.001);
    assert_true(below < 0.001);
    assert_true(far < 0.001);

    /* Two equal tones share the power. */
    int16_t a[STEREO], b[STEREO], mix[STEREO];
    kg_tone ta, tb;
    kg_tone_init(&ta, 1000.0, 0.3);
    kg_tone_init(&tb, 2500.0, 0.3);
    kg_tone_fill(&ta, a);
    kg_tone_fill(&tb, b);
    for (size_t i = 0; i < STEREO; i++)
        mix[i] = (int16_t)(a[i] + b[i]);
    double g1 = kg_goertzel(mix, KG_AUDIO_FRAME, 2, 1000.0, KG_AUDIO_RATE);
    double g2 = kg_goertzel(mix, KG_AUDIO_FRAME, 2, 2500.0, KG_AUDIO_RATE);
    assert_true(fabs(g1 - 0.5) < 0.05);
    assert_true(fabs(g2 - 0.5) < 0.05);

    /* Silence and bad arguments are 0, not NaN. */
    memset(pcm, 0, sizeof(pcm));
    assert_true(kg_goertzel(pcm, KG_AUDIO_FRAME, 2, 440.0, KG_AUDIO_RATE) ==
                0.0);
    assert_true(kg_goertzel(pcm, 1, 2, 440.0, KG_AUDIO_RATE) == 0.0);
    assert_true(kg_goertzel(mix, KG_AUDIO_FRAME, 0, 440.0, KG_AUDIO_RATE) ==
                0.0);

    /* White-ish noise has no tone anywhere. */
    uint32_t x = 12345;
    for (size_t i = 0; i < STEREO; i++) {
        x = x * 1664525u + 1013904223u;
        pcm[i] = (int16_t)(x >> 16);
    }
    assert_true(kg_goertzel(pcm, KG_AUDIO_FRAME, 2, 440.0, KG_AUDIO_RATE) <
                0.05);
}

static void test_opus_roundtrip(void **state)
{
    (void)state;
    kg_opus_enc *enc = kg_opus_enc_new(64000);
    kg_opus_dec *dec = kg_opus_dec_new();
    assert_non_null(enc);
    assert_non_null(dec);
    kg_tone t;
    kg_tone_init(&t, 440.0, 0.5);
    int16_t in[STEREO], out[5760 * 2];
    uint8_t pkt[1500];
    double min440 = 1.0, max880 = 0.0, max1320 = 0.0;
    size_t bytes = 0;
    for (int f = 0; f < 50; f++) {
        kg_tone_fill(&t, in);
        ssize_t n = kg_opus_encode(enc, in, pkt, sizeof(pkt));
        assert_true(n > 0);
        bytes += (size_t)n;
        int got = kg_opus_decode(dec, pkt, (size_t)n, out, 5760);
        assert_int_equal(got, KG_AUDIO_FRAME);
        /* Opus needs a few frames (look-ahead, the encoder's first
         * decisions) before the output is a clean tone. */
        if (f < 5)
            continue;
        for (int ch = 0; ch < 2; ch++) {
            double g440 = kg_goertzel(out + ch, KG_AUDIO_FRAME, 2, 440.0,
                                      KG_AUDIO_RATE);
            double g880 = kg_goertzel(out + ch, KG_AUDIO_FRAME, 2, 880.0,
                                      KG_AUDIO_RATE);
            double g1320 = kg_goertzel(out + ch, KG_AUDIO_FRAME, 2, 1320.0,
                                       KG_AUDIO_RATE);
            min440 = fmin(min440, g440);
            max880 = fmax(max880, g880);
            max1320 = fmax(max1320, g1320);
        }
    }
    print_message("opus 64k: %zu bytes in 50 frames; 440 >= %.4f, "
                  "880 <= %.6f, 1320 <= %.6f\n",
                  bytes, min440, max880, max1320);
    assert_true(min440 > 0.5);
    assert_true(max880 < 0.05);
    assert_true(max1320 < 0.05);

    /* Loss concealment: a 20 ms frame of audio that still carries the
     * tone, and decoding carries on afterwards. */
    int got = kg_opus_decode(dec, NULL, 0, out, 5760);
    assert_int_equal(got, KG_AUDIO_FRAME);
    double plc = kg_goertzel(out, KG_AUDIO_FRAME, 2, 440.0, KG_AUDIO_RATE);
    print_message("PLC frame: 440 Hz %.4f\n", plc);
    assert_true(plc > 0.3);
    assert_int_equal(kg_opus_decode(dec, pkt, 0, out, 480), 480);
    kg_tone_fill(&t, in);
    ssize_t n = kg_opus_encode(enc, in, pkt, sizeof(pkt));
    assert_true(n > 0);
    assert_int_equal(kg_opus_decode(dec, pkt, (size_t)n, out, 5760),
                     KG_AUDIO_FRAME);
    /* A 20 ms packet into room for 10 ms. */
    assert_int_equal(kg_opus_decode(dec, pkt, (size_t)n, out, 480),
                     KG_ERR_NOSPACE);

    /* Encoder output space. */
    assert_int_equal(kg_opus_encode(enc, in, pkt, 0), KG_ERR_NOSPACE);

    kg_opus_enc_del(enc);
    kg_opus_dec_del(dec);
}

static void test_opus_garbage(void **state)
{
    (void)state;
    kg_opus_dec *dec = kg_opus_dec_new();
    assert_non_null(dec);
    int16_t out[5760 * 2];
    /* RFC 6716 3.2: packets a decoder must reject. */
    static const uint8_t zero_frames[] = {
        0x03, // TOC: config 0 (SILK NB 10 ms), mono, code 3
        0x00, // frame count byte: M=0 frames, which is invalid
    };
    static const uint8_t too_long[] = {
        0xfb, // TOC: config 31 (CELT FB 20 ms), stereo, code 3
        0x07, // M=7: 140 ms, over the 120 ms limit
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    };
    static const uint8_t odd_cbr[] = {
        0x01, // TOC: code 1, two frames of equal size
        0x11, 0x22, 0x33, // odd number of bytes cannot split in two
    };
    static const uint8_t short_code2[] = {
        0x02, // TOC: code 2, two frames of different sizes
        0xfc, // first frame length needs a second byte
    };
    assert_int_equal(kg_opus_decode(dec, zero_frames, sizeof(zero_frames),
                                    out, 5760),
                     KG_ERR_MALFORMED);
    assert_int_equal(kg_opus_decode(dec, too_long, sizeof(too_long), out,
                                    5760),
                     KG_ERR_MALFORMED);
    assert_int_equal(kg_opus_decode(dec, odd_cbr, sizeof(odd_cbr), out, 5760),
                     KG_ERR_MALFORMED);
    assert_int_equal(kg_opus_decode(dec, short_code2, sizeof(short_code2),
                                    out, 5760),
                     KG_ERR_MALFORMED);

    /* Random bytes: either decoded as something or rejected, never a
     * crash (the sanitizer build checks the "never"). */
    uint32_t x = 99;
    uint8_t junk[400];
    int rejected = 0;
    for (int round = 0; round < 200; round++) {
        size_t len = 1 + round % sizeof(junk);
        for (size_t i = 0; i < len; i++) {
            x = x * 1664525u + 1013904223u;
            junk[i] = (uint8_t)(x >> 24);
        }
        int rc = kg_opus_decode(dec, junk, len, out, 5760);
        assert_true(rc == KG_ERR_MALFORMED || (rc > 0 && rc <= 5760));
        rejected += rc == KG_ERR_MALFORMED;
    }
    print_message("random packets rejected: %d of 200\n", rejected);
    kg_opus_dec_del(dec);

    assert_null(kg_opus_enc_new(0));
    assert_null(kg_opus_enc_new(-5));
}

/* RFC 6464 levels of tones: a sine of amplitude A has RMS A / sqrt(2). */
static void test_audio_level(void **state)
{
    (void)state;
    int16_t pcm[KG_AUDIO_FRAME * KG_AUDIO_CHANNELS];
    kg_tone t;
    kg_tone_init(&t, 440, 1.0);
    kg_tone_fill(&t, pcm);
    assert_int_equal(kg_audio_level(pcm, KG_AUDIO_FRAME * 2), 3);
    kg_tone_init(&t, 440, 0.3);
    kg_tone_fill(&t, pcm);
    assert_int_equal(kg_audio_level(pcm, KG_AUDIO_FRAME * 2), 13);
    kg_tone_init(&t, 440, 0.01);
    kg_tone_fill(&t, pcm);
    assert_int_equal(kg_audio_level(pcm, KG_AUDIO_FRAME * 2), 43);
    memset(pcm, 0, sizeof(pcm));
    assert_int_equal(kg_audio_level(pcm, KG_AUDIO_FRAME * 2), 127);
    assert_int_equal(kg_audio_level(pcm, 0), 127);
    pcm[0] = 1; /* one LSB in a whole frame: -123 dBov */
    assert_int_equal(kg_audio_level(pcm, KG_AUDIO_FRAME * 2), 123);
    /* a full-scale square wave is 0 dBov */
    for (size_t i = 0; i < KG_AUDIO_FRAME * 2; i++)
        pcm[i] = (i / 2) % 2 ? -32768 : 32767;
    assert_int_equal(kg_audio_level(pcm, KG_AUDIO_FRAME * 2), 0);
}

/* A lost frame rebuilt from the next packet's in-band FEC: the tone is
 * back, and a frame past the lost one still decodes after it. */
static void test_opus_fec(void **state)
{
    (void)state;
    kg_opus_enc *e = kg_opus_enc_new(16000); /* voice rate: SILK, LBRR */
    kg_opus_dec *d = kg_opus_dec_new();
    assert_non_null(e);
    assert_non_null(d);
    assert_int_equal(kg_opus_enc_set_fec(e, 0), KG_ERR_INVAL);
    assert_int_equal(kg_opus_enc_set_fec(e, 20), 0);
    kg_tone t;
    kg_tone_init(&t, 440.0, 0.3);
    int16_t pcm[STEREO], out[STEREO];
    uint8_t pkt[2][1500];
    ssize_t len[2] = {0, 0};
    for (int f = 0; f < 30; f++) {
        kg_tone_fill(&t, pcm);
        ssize_t n = kg_opus_encode(e, pcm, pkt[f % 2], sizeof(pkt[0]));
        assert_true(n > 0);
        len[f % 2] = n;
        if (f < 28)
            assert_int_equal(kg_opus_decode(d, pkt[f % 2], (size_t)n, out,
                                            KG_AUDIO_FRAME),
                             KG_AUDIO_FRAME);
    }
    /* Frame 28 is lost; frame 29 carries its LBRR copy. */
    assert_int_equal(kg_opus_decode_fec(d, pkt[1], (size_t)len[1], out,
                                        KG_AUDIO_FRAME),
                     KG_AUDIO_FRAME);
    double p = kg_goertzel(out, KG_AUDIO_FRAME, 2, 440.0, KG_AUDIO_RATE);
    print_message("FEC-rebuilt frame: 440 Hz share %.3f\n", p);
    assert_true(p > 0.5);
    assert_int_equal(kg_opus_decode(d, pkt[1], (size_t)len[1], out,
                                    KG_AUDIO_FRAME),
                     KG_AUDIO_FRAME);
    assert_int_equal(kg_opus_decode_fec(d, NULL, 0, out, KG_AUDIO_FRAME),
                     KG_ERR_MALFORMED);
    assert_int_equal(kg_opus_decode_fec(d, pkt[1], (size_t)len[1], out, 480),
                     KG_ERR_NOSPACE);
    kg_opus_enc_del(e);
    kg_opus_dec_del(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tone_continuous),
        cmocka_unit_test(test_goertzel_pure),
        cmocka_unit_test(test_opus_roundtrip),
        cmocka_unit_test(test_opus_garbage),
        cmocka_unit_test(test_audio_level),
        cmocka_unit_test(test_opus_fec),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
