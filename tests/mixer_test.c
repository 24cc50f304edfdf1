#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/audio.h"
#include "codec/err.h"
#include "codec/jitter.h"
#include "codec/mixer.h"

#define STEREO (KG_AUDIO_FRAME * KG_AUDIO_CHANNELS)
#define WINDOW_FRAMES 10 /* 200 ms of mono for the tone check: 5 Hz bins */

static const uint8_t P1[] = {1, 2, 3};

/* --- jitter buffer --------------------------------------------------- */

static int pop_seq(kg_jitter *j, int *first_byte)
{
    const uint8_t *p = NULL;
    size_t len = 0;
    int what = kg_jitter_pop(j, &p, &len);
    *first_byte = what == KG_JITTER_FRAME ? p[0] : -1;
    return what;
}

static void push_byte(kg_jitter *j, uint16_t seq, uint8_t b, int want)
{
    uint8_t pkt[4] = {b, 0, 0, 0};
    assert_int_equal(kg_jitter_push(j, seq, (uint32_t)seq * 960, pkt, 4),
                     want);
}

static void test_jitter_order_and_reorder(void **state)
{
    (void)state;
    static kg_jitter j;
    kg_jitter_init(&j);
    int b;
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_NONE); /* empty */
    /* Arrives reordered: 11 before 10. Playout waits for two frames and
     * then starts at the oldest. */
    push_byte(&j, 11, 11, 0);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_NONE);
    push_byte(&j, 10, 10, 0);
    assert_int_equal(kg_jitter_buffered(&j), 2);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    assert_int_equal(b, 10);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    assert_int_equal(b, 11);
    /* In order from then on, across the sequence number wrap. */
    static kg_jitter w;
    kg_jitter_init(&w);
    uint16_t seq = 65533;
    push_byte(&w, seq, 0, 0);
    for (int i = 1; i < 6; i++) {
        push_byte(&w, (uint16_t)(seq + i), (uint8_t)i, 0);
        assert_int_equal(pop_seq(&w, &b), KG_JITTER_FRAME);
        assert_int_equal(b, i - 1);
    }
    assert_int_equal(w.st.played, 5);
    assert_int_equal(w.st.lost, 0);
}

static void test_jitter_late_dup_bad(void **state)
{
    (void)state;
    static kg_jitter j;
    kg_jitter_init(&j);
    int b;
    push_byte(&j, 100, 0, 0);
    push_byte(&j, 101, 1, 0);
    push_byte(&j, 101, 1, KG_ERR_REPLAY); /* duplicate */
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    push_byte(&j, 100, 0, KG_ERR_STATE); /* its turn has passed */
    push_byte(&j, 99, 0, KG_ERR_STATE);
    assert_int_equal(j.st.dup, 1);
    assert_int_equal(j.st.late, 2);
    uint8_t big[KG_JITTER_MAX_PAYLOAD + 1] = {0};
    assert_int_equal(kg_jitter_push(&j, 102, 0, big, sizeof(big)),
                     KG_ERR_INVAL);
    assert_int_equal(kg_jitter_push(&j, 102, 0, P1, 0), KG_ERR_INVAL);
    assert_int_equal(kg_jitter_push(&j, 102, 0, big, KG_JITTER_MAX_PAYLOAD),
                     0); /* the longest Opus frame fits */
    assert_int_equal(j.st.bad, 2);
}

static void test_jitter_loss_and_stop(void **state)
{
    (void)state;
    static kg_jitter j;
    kg_jitter_init(&j);
    int b;
    push_byte(&j, 10, 10, 0);
    push_byte(&j, 11, 11, 0);
    push_byte(&j, 13, 13, 0); /* 12 is lost */
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    /* 12's turn: lost, and 13 (whose FEC may rebuild 12) is offered */
    const uint8_t *next = NULL;
    size_t next_len = 0;
    assert_int_equal(kg_jitter_pop(&j, &next, &next_len), KG_JITTER_LOST);
    assert_non_null(next);
    assert_int_equal(next[0], 13);
    assert_int_equal(next_len, 4);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME); /* 13 still plays */
    assert_int_equal(b, 13);
    push_byte(&j, 12, 12, KG_ERR_STATE); /* too late to play */
    /* The sender stops: concealment for KG_JITTER_MAX_MISSES - 1 turns,
     * then silence, not endless PLC. */
    for (int i = 0; i < KG_JITTER_MAX_MISSES - 1; i++) {
        assert_int_equal(kg_jitter_pop(&j, &next, &next_len), KG_JITTER_LOST);
        assert_null(next); /* nothing after it to rebuild from */
    }
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_NONE);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_NONE);
    assert_int_equal(j.st.lost, KG_JITTER_MAX_MISSES);
    /* It resumes a bit later (within the window): primes again. */
    push_byte(&j, 19, 19, 0);
    push_byte(&j, 20, 20, 0);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    assert_int_equal(b, 19);
}

static void test_jitter_jump_and_overflow(void **state)
{
    (void)state;
    static kg_jitter j;
    kg_jitter_init(&j);
    int b;
    push_byte(&j, 10, 10, 0);
    push_byte(&j, 11, 11, 0);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    /* A restart far ahead: the buffer resets and primes from the new
     * number. */
    push_byte(&j, 5000, 1, 0);
    assert_int_equal(j.st.resets, 1);
    assert_int_equal(kg_jitter_buffered(&j), 1);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_NONE);
    push_byte(&j, 5001, 2, 0);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    assert_int_equal(b, 1);
    /* Far behind: a restarted sender too. */
    push_byte(&j, 4000, 3, 0);
    assert_int_equal(j.st.resets, 2);
    /* A burst: the delay stays under KG_JITTER_MAX_SPAN frames. */
    push_byte(&j, 4001, 4, 0);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    for (uint16_t s = 4002; s < 4008; s++) {
        push_byte(&j, s, (uint8_t)s, 0);
        assert_true(kg_jitter_buffered(&j) <= KG_JITTER_MAX_SPAN);
    }
    assert_true(j.st.overflow > 0);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    assert_int_equal(b, (uint8_t)(4007 - KG_JITTER_MAX_SPAN + 1));
}

/* A stalled sender: nothing buffered for two turns (concealed), then
 * its frames arrive in a burst and every one of them plays, none late;
 * the delay the burst left drains one frame a second. */
static void test_jitter_burst_and_drain(void **state)
{
    (void)state;
    static kg_jitter j;
    kg_jitter_init(&j);
    int b;
    push_byte(&j, 10, 10, 0);
    push_byte(&j, 11, 11, 0);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_LOST); /* 12 is late */
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_LOST);
    assert_int_equal(j.st.underruns, 2);
    for (uint16_t s = 12; s < 17; s++)
        push_byte(&j, s, (uint8_t)s, 0); /* the burst */
    assert_int_equal(j.st.late, 0);
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    assert_int_equal(b, 12);
    /* 4 frames still buffered, then steady: one in, one out. */
    uint16_t seq = 17;
    /* (the pop of 12 was the first of the second with extra delay) */
    for (int i = 0; i < KG_JITTER_DRAIN_POPS - 2; i++) {
        push_byte(&j, seq, (uint8_t)seq, 0);
        seq++;
        assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    }
    assert_int_equal(kg_jitter_buffered(&j), 4);
    assert_int_equal(j.st.overflow, 0);
    push_byte(&j, seq, (uint8_t)seq, 0);
    seq++;
    assert_int_equal(pop_seq(&j, &b), KG_JITTER_FRAME);
    assert_int_equal(j.st.overflow, 1);
    assert_int_equal(kg_jitter_buffered(&j), 3);
    assert_int_equal(j.st.late, 0);
    assert_int_equal(j.st.lost, 2);
}

/* --- mixer ------------------------------------------------------------ */

typedef struct sender {
    kg_tone tone;
    kg_opus_enc *enc;
    uint16_t seq;
} sender;

typedef struct ear {
    kg_opus_dec *dec;
    uint64_t packets;
    int16_t mono[WINDOW_FRAMES * KG_AUDIO_FRAME];
    size_t frames;
} ear;

static void send_frame(kg_mixer *m, void *owner, sender *s, bool drop)
{
    int16_t pcm[STEREO];
    uint8_t pkt[KG_MIXER_MAX_PAYLOAD];
    kg_tone_fill(&s->tone, pcm);
    ssize_t n = kg_opus_encode(s->enc, pcm, pkt, sizeof(pkt));
    assert_true(n > 0);
    uint16_t seq = s->seq++;
    if (!drop)
        assert_int_equal(kg_mixer_push(m, owner, 7, seq, seq * 960u, pkt,
                                       (size_t)n),
                         0);
}

static void hear(ear *e, const kg_mix_out *o)
{
    int16_t pcm[STEREO];
    int n = kg_opus_decode(e->dec, o->payload, o->len, pcm, KG_AUDIO_FRAME);
    assert_int_equal(n, KG_AUDIO_FRAME);
    size_t slot = e->frames % WINDOW_FRAMES;
    for (size_t i = 0; i < KG_AUDIO_FRAME; i++)
        e->mono[slot * KG_AUDIO_FRAME + i] = pcm[i * KG_AUDIO_CHANNELS];
    e->frames++;
    e->packets++;
}

static double energy(const ear *e, double hz)
{
    /* The ring holds WINDOW_FRAMES frames out of order; a Hann window
     * over frames of one steady tone mix is still a fair measure, but put
     * them in time order to keep the phase continuous. */
    int16_t lin[WINDOW_FRAMES * KG_AUDIO_FRAME];
    size_t oldest = e->frames % WINDOW_FRAMES;
    for (size_t f = 0; f < WINDOW_FRAMES; f++)
        memcpy(lin + f * KG_AUDIO_FRAME,
               e->mono + ((oldest + f) % WINDOW_FRAMES) * KG_AUDIO_FRAME,
               KG_AUDIO_FRAME * sizeof(int16_t));
    return kg_goertzel(lin, KG_ARRAY_LEN(lin), 1, hz, KG_AUDIO_RATE);
}

/* Three publishers A, B, C (440, 660, 880 Hz) and a fourth listener D
 * who publishes nothing. Everyone listens to the mix. */
static void test_mixer_minus_one(void **state)
{
    (void)state;
    static const double hz[3] = {440, 660, 880};
    int owners[5];
    kg_mixer *m = kg_mixer_new(KG_MIXER_BITRATE);
    assert_non_null(m);
    static sender snd[3];
    static ear ears[5];
    for (int i = 0; i < 3; i++) {
        kg_tone_init(&snd[i].tone, hz[i], 0.3);
        snd[i].enc = kg_opus_enc_new(64000);
        snd[i].seq = (uint16_t)(1000 * i + 65000); /* wraps for some */
        assert_int_equal(kg_mixer_add_source(m, &owners[i], 7), 0);
    }
    for (int i = 0; i < 5; i++) {
        ears[i].dec = kg_opus_dec_new();
        assert_int_equal(kg_mixer_add_listener(m, &owners[i], 100u + (unsigned)i,
                                               111, (uint16_t)(i * 7),
                                               (uint32_t)i * 11),
                         0);
    }
    assert_int_equal(kg_mixer_add_listener(m, &owners[0], 1, 111, 0, 0),
                     KG_ERR_EXISTS);
    assert_int_equal(kg_mixer_add_source(m, &owners[0], 7), KG_ERR_EXISTS);
    assert_int_equal(kg_mixer_deadline(m), 0);
    kg_time now = 5 * KG_SEC;
    kg_mix_out out[8];
    for (int t = 0; t < 60; t++, now += KG_MIXER_PERIOD) {
        for (int i = 0; i < 3; i++)
            send_frame(m, &owners[i], &snd[i], false);
        size_t n = kg_mixer_tick(m, now, out, KG_ARRAY_LEN(out));
        assert_int_equal(n, 5);
        assert_int_equal(kg_mixer_tick(m, now, out, 8), 0); /* not due */
        assert_int_equal(kg_mixer_deadline(m), now + KG_MIXER_PERIOD);
        for (size_t k = 0; k < n; k++) {
            int who = (int)((int *)out[k].owner - owners);
            assert_int_equal(out[k].ssrc, 100u + (unsigned)who);
            assert_int_equal(out[k].pt, 111);
            assert_int_equal(out[k].seq, (uint16_t)(who * 7 + t));
            assert_int_equal(out[k].ts, (uint32_t)(who * 11 + t * 960));
            hear(&ears[who], &out[k]);
        }
    }
    for (int i = 0; i < 3; i++) {
        double own = energy(&ears[i], hz[i]);
        double o1 = energy(&ears[i], hz[(i + 1) % 3]);
        double o2 = energy(&ears[i], hz[(i + 2) % 3]);
        print_message("listener %d (%g Hz): own %.5f, others %.3f %.3f\n", i,
                      hz[i], own, o1, o2);
        assert_true(o1 > 0.3 && o2 > 0.3);
        assert_true(own < 0.005);
        assert_true(own * 50 < o1 && own * 50 < o2);
        /* The PCM before encoding holds exactly the other two. */
        assert_non_null(kg_mixer_last_pcm(m, &owners[i]));
    }
    for (int d = 3; d < 5; d++) {
        for (int i = 0; i < 3; i++) {
            double e = energy(&ears[d], hz[i]);
            print_message("non-publisher %d: %g Hz %.3f\n", d, hz[i], e);
            assert_true(e > 0.2);
        }
        assert_null(kg_mixer_last_pcm(m, &owners[d]));
    }
    assert_non_null(kg_mixer_last_full(m));
    kg_mixer_stats st;
    kg_mixer_get_stats(m, &st);
    /* Per tick: 3 own encodes + 1 shared for both non-publishers. */
    assert_int_equal(st.ticks, 60);
    assert_int_equal(st.encodes, 60 * 4);
    assert_int_equal(st.shared, 60 * 2);
    assert_int_equal(st.concealed, 0);
    assert_int_equal(st.decode_errors, 0);
    assert_int_equal(st.clipped, 0);

    /* A lost packet is rebuilt from the next one (in-band FEC, or PLC
     * inside libopus when it has none), not a gap. */
    for (int i = 0; i < 3; i++)
        send_frame(m, &owners[i], &snd[i], i == 1);
    kg_mixer_tick(m, now, out, 8);
    now += KG_MIXER_PERIOD;
    for (int i = 0; i < 3; i++)
        send_frame(m, &owners[i], &snd[i], false);
    kg_mixer_tick(m, now, out, 8);
    now += KG_MIXER_PERIOD;
    kg_mixer_get_stats(m, &st);
    assert_int_equal(st.fec, 1);
    assert_int_equal(st.concealed, 0);

    /* A departed publisher leaves the mix and its listener goes. */
    kg_mixer_remove(m, &owners[2]);
    assert_int_equal(kg_mixer_n_sources(m), 2);
    assert_int_equal(kg_mixer_n_listeners(m), 4);
    assert_int_equal(kg_mixer_push(m, &owners[2], 7, 1, 1, P1, 3),
                     KG_ERR_NOTFOUND);
    for (int i = 0; i < 3; i++) {
        kg_opus_enc_del(snd[i].enc);
    }
    for (int i = 0; i < 5; i++)
        kg_opus_dec_del(ears[i].dec);
    kg_mixer_del(m);
}

/* Three loud sources sum past int16: the mix is clipped, not wrapped. */
static void test_mixer_clipping(void **state)
{
    (void)state;
    int a, b, c, listener;
    void *owners[3] = {&a, &b, &c};
    kg_mixer *m = kg_mixer_new(KG_MIXER_BITRATE);
    assert_non_null(m);
    static sender snd[3];
    for (int i = 0; i < 3; i++) {
        kg_tone_init(&snd[i].tone, 500, 0.8);
        snd[i].enc = kg_opus_enc_new(64000);
        assert_int_equal(kg_mixer_add_source(m, owners[i], 7), 0);
    }
    assert_int_equal(kg_mixer_add_listener(m, &listener, 5, 111, 0, 0), 0);
    kg_mix_out out[2];
    kg_time now = 0;
    for (int t = 0; t < 20; t++, now += KG_MIXER_PERIOD) {
        for (int i = 0; i < 3; i++)
            send_frame(m, owners[i], &snd[i], false);
        kg_mixer_tick(m, now, out, 2);
    }
    kg_mixer_stats st;
    kg_mixer_get_stats(m, &st);
    assert_true(st.clipped > 0);
    const int16_t *full = kg_mixer_last_full(m);
    assert_non_null(full);
    /* Clipped: the peaks sit at the rails; wrapping would have flipped
     * the sign of samples next to them. */
    int at_rail = 0;
    for (size_t i = 0; i < STEREO; i++) {
        at_rail += full[i] == INT16_MAX || full[i] == INT16_MIN;
        if (i > 0 && full[i - 1] == INT16_MAX)
            assert_true(full[i] > 0);
    }
    assert_true(at_rail > 0);
    for (int i = 0; i < 3; i++)
        kg_opus_enc_del(snd[i].enc);
    kg_mixer_del(m);
}

static void test_mixer_bounds_and_clock(void **state)
{
    (void)state;
    static int owners[KG_MIXER_MAX_SOURCES + 1];
    kg_mixer *m = kg_mixer_new(KG_MIXER_BITRATE);
    assert_non_null(m);
    kg_mix_out out[1];
    assert_int_equal(kg_mixer_deadline(m), KG_TIME_NEVER); /* no listener */
    assert_int_equal(kg_mixer_tick(m, 0, out, 1), 0);
    for (int i = 0; i < KG_MIXER_MAX_SOURCES; i++)
        assert_int_equal(kg_mixer_add_source(m, &owners[i], 1), 0);
    assert_int_equal(kg_mixer_add_source(m, &owners[KG_MIXER_MAX_SOURCES], 1),
                     KG_ERR_FULL);
    for (int i = 0; i < KG_MIXER_MAX_SOURCES; i++)
        assert_int_equal(kg_mixer_remove_source(m, &owners[i], 1), 0);
    assert_int_equal(kg_mixer_remove_source(m, &owners[0], 1),
                     KG_ERR_NOTFOUND);
    for (int i = 0; i < KG_MIXER_MAX_LISTENERS; i++)
        assert_int_equal(kg_mixer_add_listener(m, &owners[i], 1, 111, 0, 0),
                         0);
    assert_int_equal(
        kg_mixer_add_listener(m, &owners[KG_MIXER_MAX_LISTENERS], 1, 111, 0, 0),
        KG_ERR_FULL);
    for (int i = 1; i < KG_MIXER_MAX_LISTENERS; i++)
        kg_mixer_remove(m, &owners[i]);
    assert_int_equal(kg_mixer_n_listeners(m), 1);
    /* The clock: due at once, then every 20 ms; a late call catches up
     * one frame per call; a long stall skips instead of bursting. */
    kg_time t0 = 1000 * KG_MS;
    assert_int_equal(kg_mixer_tick(m, t0, out, 1), 1); /* silence, encoded */
    assert_true(out[0].len > 0);
    assert_int_equal(kg_mixer_tick(m, t0 + 19 * KG_MS, out, 1), 0);
    assert_int_equal(kg_mixer_tick(m, t0 + 45 * KG_MS, out, 1), 1);
    assert_int_equal(kg_mixer_deadline(m), t0 + 40 * KG_MS);
    assert_int_equal(kg_mixer_tick(m, t0 + 45 * KG_MS, out, 1), 1);
    assert_int_equal(kg_mixer_tick(m, t0 + 45 * KG_MS, out, 1), 0);
    uint32_t ts_before = out[0].ts;
    kg_time later = t0 + 5 * KG_SEC;
    assert_int_equal(kg_mixer_tick(m, later, out, 1), 1);
    assert_int_equal(kg_mixer_deadline(m), later + KG_MIXER_PERIOD);
    kg_mixer_stats st;
    kg_mixer_get_stats(m, &st);
    assert_int_equal(st.skipped, 5000 / 20 - 3);
    /* The RTP clock kept running through the stall: 5 s after the frame
     * due at t0, this one is stamped 5 s (240,000 ticks) after it. */
    assert_int_equal(out[0].ts - ts_before, 5 * 48000 - 2 * 960);
    /* A cap too small leaves listeners out, never overruns. */
    assert_int_equal(kg_mixer_add_listener(m, &owners[1], 2, 111, 0, 0), 0);
    assert_int_equal(kg_mixer_tick(m, later + KG_MIXER_PERIOD, out, 1), 1);
    kg_mixer_del(m);
    kg_mixer_del(NULL);
}

/* A listener who starts publishing stops sharing the full mix. */
static void test_mixer_listener_starts_publishing(void **state)
{
    (void)state;
    int a, b;
    kg_mixer *m = kg_mixer_new(KG_MIXER_BITRATE);
    assert_non_null(m);
    assert_int_equal(kg_mixer_add_listener(m, &a, 1, 111, 0, 0), 0);
    assert_int_equal(kg_mixer_add_listener(m, &b, 2, 111, 0, 0), 0);
    kg_mix_out out[2];
    assert_int_equal(kg_mixer_tick(m, 0, out, 2), 2);
    assert_ptr_equal(out[0].payload, out[1].payload); /* one encode */
    assert_int_equal(kg_mixer_add_source(m, &a, 9), 0);
    assert_int_equal(kg_mixer_tick(m, KG_MIXER_PERIOD, out, 2), 2);
    assert_true(out[0].payload != out[1].payload);
    assert_non_null(kg_mixer_last_pcm(m, &a));
    assert_null(kg_mixer_last_pcm(m, &b));
    kg_mixer_del(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jitter_order_and_reorder),
        cmocka_unit_test(test_jitter_late_dup_bad),
        cmocka_unit_test(test_jitter_loss_and_stop),
        cmocka_unit_test(test_jitter_jump_and_overflow),
        cmocka_unit_test(test_jitter_burst_and_drain),
        cmocka_unit_test(test_mixer_minus_one),
        cmocka_unit_test(test_mixer_clipping),
        cmocka_unit_test(test_mixer_bounds_and_clock),
        cmocka_unit_test(test_mixer_listener_starts_publishing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
