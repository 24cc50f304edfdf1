/* The active-speaker detector: hysteresis, silence, loudest-N forwarding,
 * bounds. Time is simulated: every member sends one packet per 20 ms. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "codec/rtp.h"
#include "relay/speaker.h"

#define PTIME (20 * KG_MS)
#define MAXM 16

/* Feeds members 1..n (levels[i] for member i + 1, -1: sends nothing) for
 * dur from *t, one packet each per PTIME. Returns the time at which
 * member `watch` first became dominant, or KG_TIME_NEVER. */
static kg_time run(kg_speaker *sp, const int *levels, size_t n, kg_time *t,
                   kg_time dur, uint64_t watch)
{
    kg_time seen = KG_TIME_NEVER;
    for (kg_time end = *t + dur; *t < end; *t += PTIME) {
        for (size_t i = 0; i < n; i++) {
            if (levels[i] < 0)
                continue;
            int rc = kg_speaker_feed(sp, i + 1, (uint8_t)levels[i], true, *t);
            assert_true(rc == 0 || rc == 1);
        }
        if (seen == KG_TIME_NEVER && kg_speaker_dominant(sp) == watch)
            seen = *t;
    }
    return seen;
}

static void add_members(kg_speaker *sp, size_t n)
{
    for (size_t i = 1; i <= n; i++)
        assert_int_equal(kg_speaker_add(sp, i), 0);
}

static void test_config(void **state)
{
    (void)state;
    kg_speaker_config c;
    kg_speaker_config_default(&c);
    assert_int_equal(c.interval, 300 * KG_MS);
    assert_int_equal(c.challenge, 3);
    kg_speaker sp;
    c.interval = 0;
    assert_int_equal(kg_speaker_init(&sp, &c), KG_ERR_INVAL);
    kg_speaker_config_default(&c);
    c.challenge = 0;
    assert_int_equal(kg_speaker_init(&sp, &c), KG_ERR_INVAL);
    kg_speaker_config_default(&c);
    c.silence = 128;
    assert_int_equal(kg_speaker_init(&sp, &c), KG_ERR_INVAL);
    kg_speaker_config_default(&c);
    c.margin_db = -1;
    assert_int_equal(kg_speaker_init(&sp, &c), KG_ERR_INVAL);
    assert_int_equal(kg_speaker_init(&sp, NULL), 0);
    assert_int_equal(kg_speaker_deadline(&sp), KG_TIME_NEVER);
    kg_speaker_free(&sp);
}

static void test_first_speaker_after_one_window(void **state)
{
    (void)state;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, NULL), 0);
    add_members(&sp, 3);
    kg_time t = 1000 * KG_SEC;
    int lv[3] = {127, 30, 127};
    kg_time seen = run(&sp, lv, 3, &t, 2 * KG_SEC, 2);
    /* the first window closes 300 ms after the first packet */
    assert_int_equal(seen, 1000 * KG_SEC + 300 * KG_MS);
    uint64_t id = 0;
    assert_true(kg_speaker_take_change(&sp, &id));
    assert_int_equal(id, 2);
    assert_false(kg_speaker_take_change(&sp, &id));
    kg_speaker_free(&sp);
}

static void test_silence_never_wins(void **state)
{
    (void)state;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, NULL), 0);
    add_members(&sp, 3);
    kg_time t = 0;
    /* 60 -dBov and quieter is silence, as is sending nothing */
    int lv[3] = {127, 60, -1};
    assert_int_equal(run(&sp, lv, 3, &t, 5 * KG_SEC, 2), KG_TIME_NEVER);
    assert_int_equal(kg_speaker_dominant(&sp), 0);
    assert_int_equal(sp.changes, 0);
    /* once someone speaks, a silent one does not take over */
    int lv2[3] = {127, 59, -1};
    run(&sp, lv2, 3, &t, KG_SEC, 2);
    assert_int_equal(kg_speaker_dominant(&sp), 2);
    int lv3[3] = {127, 127, 127};
    run(&sp, lv3, 3, &t, 5 * KG_SEC, 0);
    assert_int_equal(kg_speaker_dominant(&sp), 2); /* the last who spoke */
    assert_int_equal(sp.changes, 1);
    kg_speaker_free(&sp);
}

static void test_challenger_needs_three_windows(void **state)
{
    (void)state;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, NULL), 0);
    add_members(&sp, 2);
    kg_time t = 0;
    int lv[2] = {30, 127};
    run(&sp, lv, 2, &t, 3 * KG_SEC, 1);
    assert_int_equal(kg_speaker_dominant(&sp), 1);
    /* t = 3 s is a window boundary; B is now 20 dB louder */
    int lv2[2] = {30, 10};
    kg_time start = t;
    kg_time seen = run(&sp, lv2, 2, &t, 3 * KG_SEC, 2);
    /* B won the windows ending at +300, +600 and +900 ms */
    assert_int_equal(seen, start + 900 * KG_MS);
    assert_int_equal(sp.changes, 2);

    /* A challenger that is louder two windows in three never wins (runs
     * aligned on the 300 ms windows, which start at the first packet). */
    kg_speaker_free(&sp);
    assert_int_equal(kg_speaker_init(&sp, NULL), 0);
    add_members(&sp, 2);
    t = 0;
    int a[2] = {20, 127};
    run(&sp, a, 2, &t, 900 * KG_MS, 1);
    for (int i = 0; i < 20; i++) {
        /* two windows louder, one window not: never three in a row */
        int loud[2] = {20, 5};
        int quiet[2] = {20, 20};
        assert_int_equal(run(&sp, loud, 2, &t, 600 * KG_MS, 2),
                         KG_TIME_NEVER);
        assert_int_equal(run(&sp, quiet, 2, &t, 300 * KG_MS, 2),
                         KG_TIME_NEVER);
    }
    assert_int_equal(kg_speaker_dominant(&sp), 1);
    kg_speaker_free(&sp);
}

static void test_equal_levels_do_not_flap(void **state)
{
    (void)state;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, NULL), 0);
    add_members(&sp, 4);
    kg_time t = 0;
    /* all within the 3 dB margin of each other, jittering */
    for (int i = 0; i < 100; i++) {
        int lv[4] = {25 + (i % 3), 24 + (i % 2), 26 - (i % 3), 25};
        run(&sp, lv, 4, &t, 100 * KG_MS, 0);
    }
    assert_int_equal(sp.changes, 1);
    /* a challenger only 2 dB louder (23 against 25 -dBov) never takes
     * over, whoever is dominant */
    int lv[4] = {25, 23, 25, 25};
    uint64_t first = kg_speaker_dominant(&sp);
    assert_true(first >= 1 && first <= 4);
    run(&sp, lv, 4, &t, 10 * KG_SEC, 0);
    assert_int_equal(kg_speaker_dominant(&sp), first);
    assert_int_equal(sp.changes, 1);
    kg_speaker_free(&sp);
}

static void test_dominant_leaves(void **state)
{
    (void)state;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, NULL), 0);
    add_members(&sp, 3);
    kg_time t = 0;
    int lv[3] = {10, 30, 40};
    run(&sp, lv, 3, &t, KG_SEC, 0);
    uint64_t id;
    assert_true(kg_speaker_take_change(&sp, &id));
    assert_int_equal(id, 1);
    kg_speaker_remove(&sp, 1);
    kg_speaker_remove(&sp, 99); /* unknown: nothing happens */
    assert_int_equal(kg_speaker_dominant(&sp), 0);
    assert_int_equal(kg_speaker_feed(&sp, 1, 10, true, t), KG_ERR_NOTFOUND);
    int lv2[3] = {-1, 30, 40};
    /* min_gap: 500 ms after the last change at 300 ms is 800 ms: already
     * past, so the next window decides */
    kg_time seen = run(&sp, lv2, 3, &t, KG_SEC, 2);
    assert_true(seen != KG_TIME_NEVER);
    assert_true(kg_speaker_take_change(&sp, &id));
    assert_int_equal(id, 2);
    kg_speaker_free(&sp);
}

static void test_min_gap(void **state)
{
    (void)state;
    kg_speaker_config c;
    kg_speaker_config_default(&c);
    c.challenge = 1;
    c.min_gap = 2 * KG_SEC;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, &c), 0);
    add_members(&sp, 2);
    kg_time t = 0;
    int a[2] = {20, 127};
    run(&sp, a, 2, &t, 600 * KG_MS, 1); /* A at 300 ms */
    int b[2] = {20, 5};
    kg_time seen = run(&sp, b, 2, &t, 3 * KG_SEC, 2);
    /* the change at 300 ms allows the next from 2300 ms: the first
     * window that ends after that ends at 2400 ms */
    assert_int_equal(seen, 2400 * KG_MS);
    kg_speaker_free(&sp);
}

static void test_idle_gap(void **state)
{
    (void)state;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, NULL), 0);
    add_members(&sp, 2);
    kg_time t = 0;
    int a[2] = {20, 127};
    run(&sp, a, 2, &t, KG_SEC, 1);
    kg_time d = kg_speaker_deadline(&sp);
    assert_true(d > t - PTIME && d <= t + 300 * KG_MS);
    /* nothing for a minute: windows stay aligned, nothing changes */
    assert_false(kg_speaker_tick(&sp, t + 60 * KG_SEC));
    assert_true(kg_speaker_deadline(&sp) > t + 60 * KG_SEC);
    assert_int_equal((kg_speaker_deadline(&sp) - d) % (300 * KG_MS), 0);
    assert_int_equal(kg_speaker_dominant(&sp), 1);
    kg_speaker_free(&sp);
}

static void test_vad(void **state)
{
    (void)state;
    kg_speaker_config c;
    kg_speaker_config_default(&c);
    c.use_vad = true;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, &c), 0);
    add_members(&sp, 1);
    for (kg_time t = 0; t < KG_SEC; t += PTIME)
        kg_speaker_feed(&sp, 1, 10, false, t);
    assert_int_equal(kg_speaker_dominant(&sp), 0);
    for (kg_time t = KG_SEC; t < 2 * KG_SEC; t += PTIME)
        kg_speaker_feed(&sp, 1, 10, true, t);
    assert_int_equal(kg_speaker_dominant(&sp), 1);
    kg_speaker_free(&sp);
}

static void test_loudest_n(void **state)
{
    (void)state;
    kg_speaker_config c;
    kg_speaker_config_default(&c);
    c.loudest = 2;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, &c), 0);
    add_members(&sp, 5);
    /* before any window: the first two added */
    assert_true(kg_speaker_forwards(&sp, 1));
    assert_true(kg_speaker_forwards(&sp, 2));
    assert_false(kg_speaker_forwards(&sp, 3));
    assert_false(kg_speaker_forwards(&sp, 42));
    kg_time t = 0;
    int lv[5] = {50, 40, 30, 20, 10};
    run(&sp, lv, 5, &t, 2 * KG_SEC, 0);
    uint64_t top[5];
    assert_int_equal(kg_speaker_loudest(&sp, top, 5), 2);
    assert_int_equal(top[0], 5);
    assert_int_equal(top[1], 4);
    assert_int_equal(kg_speaker_feed(&sp, 1, 50, true, t), 0);
    assert_int_equal(kg_speaker_feed(&sp, 5, 10, true, t), 1);
    /* cap smaller than the set: the loudest first, the count in full */
    assert_int_equal(kg_speaker_loudest(&sp, top, 1), 2);
    assert_int_equal(top[0], 5);

    /* stable: 3 and 4 swap by 2-5 dB each window, under keep_db (6) */
    size_t flips = 0;
    bool was4 = kg_speaker_forwards(&sp, 4);
    for (int i = 0; i < 50; i++) {
        int j[5] = {50, 40, i % 2 ? 18 : 22, i % 2 ? 23 : 18, 10};
        run(&sp, j, 5, &t, 300 * KG_MS, 0);
        flips += kg_speaker_forwards(&sp, 4) != was4;
        was4 = kg_speaker_forwards(&sp, 4);
        assert_true(kg_speaker_forwards(&sp, 5));
    }
    assert_int_equal(flips, 0);
    /* clearly louder (by more than keep_db) takes the place, and the
     * dominant speaker keeps its own */
    int k[5] = {50, 5, 30, 20, 10};
    run(&sp, k, 5, &t, 600 * KG_MS, 0);
    assert_true(kg_speaker_forwards(&sp, 2));
    assert_false(kg_speaker_forwards(&sp, 4));
    assert_true(kg_speaker_forwards(&sp, 5));
    kg_speaker_free(&sp);
}

static void test_loudest_silence_keeps_places(void **state)
{
    (void)state;
    kg_speaker_config c;
    kg_speaker_config_default(&c);
    c.loudest = 1;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, &c), 0);
    add_members(&sp, 3);
    kg_time t = 0;
    int lv[3] = {127, 90, 127};
    run(&sp, lv, 3, &t, 3 * KG_SEC, 0);
    assert_true(kg_speaker_forwards(&sp, 1));
    assert_false(kg_speaker_forwards(&sp, 2));
    /* a member leaving frees its place for the next window */
    kg_speaker_remove(&sp, 1);
    int lv2[3] = {-1, 90, 40};
    run(&sp, lv2, 3, &t, 600 * KG_MS, 0);
    assert_true(kg_speaker_forwards(&sp, 3));
    assert_false(kg_speaker_forwards(&sp, 2));
    kg_speaker_free(&sp);
}

static void test_bounded(void **state)
{
    (void)state;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, NULL), 0);
    assert_int_equal(kg_speaker_add(&sp, 0), KG_ERR_INVAL);
    for (uint64_t i = 1; i <= KG_SPEAKER_MAX; i++)
        assert_int_equal(kg_speaker_add(&sp, i), 0);
    assert_int_equal(kg_speaker_add(&sp, 5), KG_ERR_EXISTS);
    assert_int_equal(kg_speaker_add(&sp, KG_SPEAKER_MAX + 1), KG_ERR_FULL);
    assert_true(sp.cap <= KG_SPEAKER_MAX);
    /* levels past 127 are silence, not an index past the table */
    assert_int_equal(kg_speaker_feed(&sp, 7, 255, true, 0), 1);
    for (uint64_t i = 1; i <= KG_SPEAKER_MAX; i++)
        kg_speaker_remove(&sp, i);
    assert_int_equal(sp.n, 0);
    kg_speaker_free(&sp);
    kg_speaker_free(&sp); /* twice is harmless */
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The per-packet cost in a 32-member room with loudest 3 (printed, not
 * asserted: the machine is shared). Bounded: 1.6 M packets. */
static void test_cost(void **state)
{
    (void)state;
    kg_speaker_config c;
    kg_speaker_config_default(&c);
    c.loudest = 3;
    kg_speaker sp;
    assert_int_equal(kg_speaker_init(&sp, &c), 0);
    add_members(&sp, 32);
    /* What the worker adds per audio packet: read the level from the
     * parsed header's one-byte extension (id 1), feed it. */
    uint8_t ext[4] = {0x10, 0x80 | 30, 0, 0}; /* id 1, len 1, V, 30 */
    kg_rtp_hdr h;
    memset(&h, 0, sizeof(h));
    h.extension = true;
    h.ext_profile = KG_RTP_EXT_ONE_BYTE;
    h.ext = ext;
    h.ext_len = sizeof(ext);
    uint64_t fwd = 0;
    double t0 = cpu_now();
    kg_time t = 0;
    for (int round = 0; round < 50000; round++, t += PTIME) {
        for (uint64_t id = 1; id <= 32; id++) {
            uint8_t level = 127;
            bool voice = false;
            ext[1] = (uint8_t)(0x80 | (20 + (id + (uint64_t)round) % 40));
            assert_int_equal(kg_rtp_audio_level(&h, 1, &level, &voice), 0);
            fwd += (uint64_t)kg_speaker_feed(&sp, id, level, voice, t);
        }
    }
    double ns = (cpu_now() - t0) * 1e9 / (50000.0 * 32);
    printf("speaker: %.1f ns per audio packet (level read + feed, 32 "
           "members, loudest 3), %llu forwarded\n", ns,
           (unsigned long long)fwd);
    assert_true(fwd > 0 && fwd < 50000ull * 32);
    kg_speaker_free(&sp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_first_speaker_after_one_window),
        cmocka_unit_test(test_silence_never_wins),
        cmocka_unit_test(test_challenger_needs_three_windows),
        cmocka_unit_test(test_equal_levels_do_not_flap),
        cmocka_unit_test(test_dominant_leaves),
        cmocka_unit_test(test_min_gap),
        cmocka_unit_test(test_idle_gap),
        cmocka_unit_test(test_vad),
        cmocka_unit_test(test_loudest_n),
        cmocka_unit_test(test_loudest_silence_keeps_places),
        cmocka_unit_test(test_bounded),
        cmocka_unit_test(test_cost),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
