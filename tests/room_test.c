/* The room routing table: who receives what, and with which header. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/rtp.h"
#include "relay/room.h"

static int A, B, C, D; /* members: only their addresses matter */

static kg_rtp_hdr pkt(uint32_t ssrc, uint16_t seq, uint32_t ts)
{
    kg_rtp_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = 2;
    h.pt = 96;
    h.ssrc = ssrc;
    h.seq = seq;
    h.ts = ts;
    h.payload_len = 100;
    return h;
}

static void test_fanout_excludes_publisher(void **state)
{
    (void)state;
    kg_room r;
    kg_room_init(&r, 1);
    assert_int_equal(kg_room_add_track(&r, &A, 1111, KG_TRACK_VIDEO), 0);
    assert_int_equal(kg_room_add_track(&r, &A, 1111, KG_TRACK_VIDEO),
                     KG_ERR_EXISTS);
    assert_int_equal(kg_room_add_route(&r, &A, 1111, &B, 500, 96), 0);
    assert_int_equal(kg_room_add_route(&r, &A, 1111, &C, 600, 100), 0);
    /* never back to the publisher, never twice, no unknown track */
    assert_int_equal(kg_room_add_route(&r, &A, 1111, &A, 700, 96),
                     KG_ERR_DENIED);
    assert_int_equal(kg_room_add_route(&r, &A, 1111, &B, 501, 96),
                     KG_ERR_EXISTS);
    assert_int_equal(kg_room_add_route(&r, &A, 2222, &B, 502, 96),
                     KG_ERR_NOTFOUND);

    kg_track *t = kg_room_find_track(&r, &A, 1111);
    assert_non_null(t);
    kg_rtp_hdr h = pkt(1111, 65530, 4000000000u);
    kg_fwd out[8];
    size_t n = kg_room_route(t, &h, 0, out, 8);
    assert_int_equal(n, 2);
    assert_ptr_equal(out[0].sub, &B);
    assert_int_equal(out[0].ssrc, 500);
    assert_int_equal(out[0].pt, 96);
    assert_ptr_equal(out[1].sub, &C);
    assert_int_equal(out[1].ssrc, 600);
    assert_int_equal(out[1].pt, 100);
    /* the first packet leaves at the route's random base */
    assert_int_equal(out[0].seq, out[0].route->base_seq);
    assert_int_equal(out[0].ts, out[0].route->base_ts);
    kg_room_free(&r);
}

static void test_rewrite_is_continuous_across_wrap(void **state)
{
    (void)state;
    kg_room r;
    kg_room_init(&r, 1);
    kg_room_add_track(&r, &A, 1, KG_TRACK_AUDIO);
    kg_room_add_route(&r, &A, 1, &B, 10, 111);
    kg_track *t = kg_room_find_track(&r, &A, 1);
    kg_fwd first, f;
    kg_rtp_hdr h = pkt(1, 65534, 0xFFFFFC40u);
    assert_int_equal(kg_room_route(t, &h, 0, &first, 1), 1);
    for (uint16_t i = 1; i < 10; i++) {
        h = pkt(1, (uint16_t)(65534 + i), 0xFFFFFC40u + 960u * i);
        assert_int_equal(kg_room_route(t, &h, 0, &f, 1), 1);
        assert_int_equal(f.seq, (uint16_t)(first.seq + i));
        assert_int_equal(f.ts, first.ts + 960u * i);
    }
    /* a late (reordered) packet keeps its distance */
    h = pkt(1, 65533, 0xFFFFFC40u - 960u);
    kg_room_route(t, &h, 0, &f, 1);
    assert_int_equal(f.seq, (uint16_t)(first.seq - 1));
    assert_int_equal(t->packets, 11);
    kg_room_free(&r);
}

static void test_receivers_are_independent(void **state)
{
    (void)state;
    kg_room r;
    kg_room_init(&r, 1);
    kg_room_add_track(&r, &A, 1, KG_TRACK_VIDEO);
    kg_room_add_route(&r, &A, 1, &B, 10, 96);
    kg_track *t = kg_room_find_track(&r, &A, 1);
    kg_fwd f[4];
    kg_rtp_hdr h = pkt(1, 100, 1000);
    kg_room_route(t, &h, 0, f, 4);
    /* C joins later: its stream starts at its own base with the packet it
     * first sees, not at B's offsets */
    kg_room_add_route(&r, &A, 1, &C, 20, 96);
    h = pkt(1, 150, 91000);
    assert_int_equal(kg_room_route(t, &h, 0, f, 4), 2);
    assert_int_equal(f[0].seq, (uint16_t)(f[0].route->base_seq + 50));
    assert_int_equal(f[1].seq, f[1].route->base_seq);
    assert_int_equal(f[1].ts, f[1].route->base_ts);
    kg_room_free(&r);
}

static void test_remove_member(void **state)
{
    (void)state;
    kg_room r;
    kg_room_init(&r, 1);
    kg_room_add_track(&r, &A, 1, KG_TRACK_AUDIO);
    kg_room_add_track(&r, &B, 2, KG_TRACK_AUDIO);
    kg_room_add_track(&r, &C, 3, KG_TRACK_AUDIO);
    kg_room_add_route(&r, &A, 1, &B, 11, 111);
    kg_room_add_route(&r, &A, 1, &C, 12, 111);
    kg_room_add_route(&r, &B, 2, &A, 21, 111);
    kg_room_add_route(&r, &B, 2, &C, 22, 111);
    kg_room_add_route(&r, &C, 3, &B, 31, 111);
    kg_route *rt = NULL;
    assert_ptr_equal(kg_room_find_by_out(&r, &C, 22, &rt),
                     kg_room_find_track(&r, &B, 2));
    assert_ptr_equal(rt->sub, &C);
    assert_null(kg_room_find_by_out(&r, &D, 22, NULL));

    kg_room_remove_member(&r, &B);
    assert_null(kg_room_find_track(&r, &B, 2));
    assert_int_equal(r.n_tracks, 2);
    kg_track *a = kg_room_find_track(&r, &A, 1);
    assert_int_equal(a->n_routes, 1);
    assert_ptr_equal(a->routes[0].sub, &C);
    assert_int_equal(kg_room_find_track(&r, &C, 3)->n_routes, 0);
    kg_room_free(&r);
}

static void test_two_rooms_do_not_mix(void **state)
{
    (void)state;
    kg_room r1, r2;
    kg_room_init(&r1, 1);
    kg_room_init(&r2, 2);
    kg_room_add_track(&r1, &A, 1, KG_TRACK_AUDIO);
    kg_room_add_route(&r1, &A, 1, &B, 5, 111);
    kg_room_add_track(&r2, &D, 1, KG_TRACK_AUDIO);
    /* D publishes the same SSRC in another room: separate tracks */
    assert_null(kg_room_find_track(&r2, &A, 1));
    kg_fwd f[4];
    kg_rtp_hdr h = pkt(1, 1, 1);
    assert_int_equal(kg_room_route(kg_room_find_track(&r2, &D, 1), &h, 0, f, 4),
                     0);
    kg_room_free(&r1);
    kg_room_free(&r2);
}

/* Sequence numbers wrap from 65535 to 0: the extended highest sequence
 * number keeps counting and nothing is lost. */
static void test_rx_seq_wrap(void **state)
{
    (void)state;
    kg_rx_stats s;
    memset(&s, 0, sizeof(s));
    for (uint32_t i = 0; i < 10; i++)
        kg_rx_stats_update(&s, (uint16_t)(65530 + i), 960 * i,
                           (kg_time)i * 20 * KG_MS, 48000);
    assert_int_equal(s.cycles, 65536);
    assert_int_equal(s.max_seq, 3);
    assert_int_equal(kg_rx_stats_expected(&s), 10);
    assert_int_equal(s.received, 10);
    assert_int_equal(kg_rx_stats_lost(&s), 0);
}

/* A gap of 5 packets (101..105 never come) counts as 5 lost. */
static void test_rx_gap(void **state)
{
    (void)state;
    kg_rx_stats s;
    memset(&s, 0, sizeof(s));
    for (uint16_t seq = 90; seq <= 120; seq++) {
        if (seq >= 101 && seq <= 105)
            continue;
        kg_rx_stats_update(&s, seq, 3000u * seq, (kg_time)seq * 33 * KG_MS,
                           90000);
    }
    assert_int_equal(kg_rx_stats_expected(&s), 31);
    assert_int_equal(s.received, 26);
    assert_int_equal(kg_rx_stats_lost(&s), 5);
}

/* Reordered packets (one late across the wrap) and a duplicate: the
 * highest sequence number does not go back, late packets fill the gap,
 * and the duplicate does not make loss negative. */
static void test_rx_reorder_and_duplicate(void **state)
{
    (void)state;
    kg_rx_stats s;
    memset(&s, 0, sizeof(s));
    const uint16_t order[] = {65534, 0, 65535, 1, 3, 2, 2};
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
        kg_rx_stats_update(&s, order[i], 0, 0, 48000);
    assert_int_equal(s.max_seq, 3);
    assert_int_equal(s.cycles, 65536);
    assert_int_equal(kg_rx_stats_expected(&s), 6); /* 65534 .. 3 */
    assert_int_equal(s.received, 7);
    assert_int_equal(kg_rx_stats_lost(&s), 0); /* clamped, not -1 */
    /* 5 and 6 lost, 7 arrives */
    kg_rx_stats_update(&s, 7, 0, 0, 48000);
    assert_int_equal(kg_rx_stats_expected(&s), 10);
    assert_int_equal(kg_rx_stats_lost(&s), 2);
}

/* A jump of 20000 is ignored once; when the next packet follows it the
 * sender has restarted and the counts start over. */
static void test_rx_restart(void **state)
{
    (void)state;
    kg_rx_stats s;
    memset(&s, 0, sizeof(s));
    for (uint16_t seq = 10; seq < 20; seq++)
        kg_rx_stats_update(&s, seq, 0, 0, 48000);
    kg_rx_stats_update(&s, 20000, 0, 0, 48000);
    assert_int_equal(s.received, 10);
    assert_int_equal(s.max_seq, 19);
    kg_rx_stats_update(&s, 20001, 0, 0, 48000);
    assert_int_equal(s.received, 1);
    assert_int_equal(s.base_seq, 20001);
    assert_int_equal(kg_rx_stats_expected(&s), 1);
}

/* RFC 3550 A.8 by hand, 48 kHz audio, 20 ms (960-unit) packets arriving
 * at 0, 20, 45 and 60 ms, i.e. at 0, 960, 2160, 2880 clock units:
 *   transit 0, 0, 240, 0  ->  |D| = 0, 240, 240
 *   J*16: 0 -> 0 + 0 - ((0+8)>>4) = 0
 *           -> 0 + 240 - ((0+8)>>4) = 240           (J = 15)
 *           -> 240 + 240 - ((240+8)>>4) = 465       (J = 29.0625)
 * 29.0625 units / 48 units per ms = 0.60546875 ms. */
static void test_rx_jitter_rfc3550(void **state)
{
    (void)state;
    kg_rx_stats s;
    memset(&s, 0, sizeof(s));
    const kg_time arrive[] = {0, 20 * KG_MS, 45 * KG_MS, 60 * KG_MS};
    /* an arbitrary, large start: only differences may matter */
    const kg_time t0 = 123456789 * KG_SEC;
    const uint32_t ts0 = 0xFFFFF000u; /* the timestamp wraps, too */
    uint32_t expect16[] = {0, 0, 240, 465};
    for (uint32_t i = 0; i < 4; i++) {
        kg_rx_stats_update(&s, (uint16_t)(500 + i), ts0 + 960 * i,
                           t0 + arrive[i], 48000);
        assert_int_equal(s.jitter, expect16[i]);
    }
    assert_true(kg_rx_stats_jitter_ms(&s) > 0.60546874);
    assert_true(kg_rx_stats_jitter_ms(&s) < 0.60546876);
}

/* kg_room_route feeds the track's receiver statistics with the track's
 * clock rate. */
static void test_route_counts_loss_and_jitter(void **state)
{
    (void)state;
    kg_room r;
    kg_room_init(&r, 1);
    kg_room_add_track(&r, &A, 7, KG_TRACK_VIDEO);
    kg_track *t = kg_room_find_track(&r, &A, 7);
    kg_fwd f[2];
    /* 90 kHz, 3000 units (33.3 ms) per frame; frame 3 missing; frame 2
     * arrives 10 ms late (900 units of transit change) */
    const kg_time at[] = {0, 33333333, 76666666, 0, 133333333};
    for (uint16_t i = 0; i < 5; i++) {
        if (i == 3)
            continue;
        kg_rtp_hdr h = pkt(7, (uint16_t)(1000 + i), 3000u * i);
        kg_room_route(t, &h, at[i], f, 2);
    }
    assert_int_equal(t->rx.clock_rate, 90000);
    assert_int_equal(kg_rx_stats_expected(&t->rx), 5);
    assert_int_equal(kg_rx_stats_lost(&t->rx), 1);
    assert_true(kg_rx_stats_jitter_ms(&t->rx) > 0.5);
    assert_true(kg_rx_stats_jitter_ms(&t->rx) < 2.0);
    kg_room_free(&r);
}

/* Skipped packets (loudest-N audio): no gap in the outgoing sequence,
 * the timestamp moves on, and the publisher shows no loss. */
static void test_skip_keeps_sequence_continuous(void **state)
{
    (void)state;
    kg_room r;
    kg_room_init(&r, 1);
    kg_room_add_track(&r, &A, 1, KG_TRACK_AUDIO);
    kg_room_add_route(&r, &A, 1, &B, 10, 111);
    kg_track *t = kg_room_find_track(&r, &A, 1);
    kg_fwd first, f;
    kg_rtp_hdr h = pkt(1, 65530, 1000);
    kg_room_skip(t, &h, 0); /* before the route started: nothing to move */
    h = pkt(1, 65531, 1960);
    assert_int_equal(kg_room_route(t, &h, 20 * KG_MS, &first, 1), 1);
    assert_int_equal(first.seq, first.route->base_seq);
    for (uint16_t i = 1; i <= 50; i++) { /* across the wrap */
        h = pkt(1, (uint16_t)(65531 + i), 1960 + 960u * i);
        kg_room_skip(t, &h, (20 + 20 * (kg_time)i) * KG_MS);
    }
    h = pkt(1, (uint16_t)(65531 + 51), 1960 + 960u * 51);
    assert_int_equal(kg_room_route(t, &h, 1040 * KG_MS, &f, 1), 1);
    assert_int_equal(f.seq, (uint16_t)(first.seq + 1));
    assert_int_equal(f.ts, first.ts + 960u * 51);
    assert_int_equal(t->packets, 53);
    assert_int_equal(kg_rx_stats_expected(&t->rx), 53);
    assert_int_equal(kg_rx_stats_lost(&t->rx), 0);
    assert_int_equal(t->routes[0].packets, 2);
    kg_room_free(&r);
}

int main(void)
{
    (void)A;
    (void)B;
    (void)C;
    (void)D;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fanout_excludes_publisher),
        cmocka_unit_test(test_rewrite_is_continuous_across_wrap),
        cmocka_unit_test(test_receivers_are_independent),
        cmocka_unit_test(test_remove_member),
        cmocka_unit_test(test_two_rooms_do_not_mix),
        cmocka_unit_test(test_rx_seq_wrap),
        cmocka_unit_test(test_rx_gap),
        cmocka_unit_test(test_rx_reorder_and_duplicate),
        cmocka_unit_test(test_rx_restart),
        cmocka_unit_test(test_rx_jitter_rfc3550),
        cmocka_unit_test(test_route_counts_loss_and_jitter),
        cmocka_unit_test(test_skip_keeps_sequence_continuous),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
