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
    size_t n = kg_room_route(t, &h, out, 8);
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
    assert_int_equal(kg_room_route(t, &h, &first, 1), 1);
    for (uint16_t i = 1; i < 10; i++) {
        h = pkt(1, (uint16_t)(65534 + i), 0xFFFFFC40u + 960u * i);
        assert_int_equal(kg_room_route(t, &h, &f, 1), 1);
        assert_int_equal(f.seq, (uint16_t)(first.seq + i));
        assert_int_equal(f.ts, first.ts + 960u * i);
    }
    /* a late (reordered) packet keeps its distance */
    h = pkt(1, 65533, 0xFFFFFC40u - 960u);
    kg_room_route(t, &h, &f, 1);
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
    kg_room_route(t, &h, f, 4);
    /* C joins later: its stream starts at its own base with the packet it
     * first sees, not at B's offsets */
    kg_room_add_route(&r, &A, 1, &C, 20, 96);
    h = pkt(1, 150, 91000);
    assert_int_equal(kg_room_route(t, &h, f, 4), 2);
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
    assert_int_equal(kg_room_route(kg_room_find_track(&r2, &D, 1), &h, f, 4),
                     0);
    kg_room_free(&r1);
    kg_room_free(&r2);
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
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
