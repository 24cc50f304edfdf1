/* RTCP reports per leg: RR blocks, RTT, SR timestamps, compound packets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "codec/rtcp.h"
#include "codec/rtp.h"
#include "relay/room.h"
#include "relay/rtcp_report.h"

static int PUB, SUB; /* members: only their addresses matter */

/* Counts packets seq first..first+n-1 (mod 2^16), 20 ms apart from t0,
 * leaving out every seq for which drop(i) is true. */
static kg_time feed(kg_rx_stats *s, uint16_t first, unsigned n, kg_time t0,
                    unsigned drop_every)
{
    kg_time t = t0;
    for (unsigned i = 0; i < n; i++) {
        t = t0 + (kg_time)i * 20 * KG_MS;
        if (drop_every && i % drop_every == drop_every - 1)
            continue;
        kg_rx_stats_update(s, (uint16_t)(first + i), i * 960, t, 48000);
    }
    return t;
}

static void test_rr_fraction_lost(void **state)
{
    (void)state;
    kg_rx_stats s;
    memset(&s, 0, sizeof(s));
    kg_rtcp_rx rx;
    memset(&rx, 0, sizeof(rx));
    kg_rtcp_report_block b;
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 7, 0, &b), KG_ERR_AGAIN);

    /* 99 sent across the sequence wrap, every 10th lost (i = 9, 19, ...
     * 89): 9 of 99 → floor(9 * 256 / 99) = 23 */
    kg_time t = feed(&s, 65500, 99, 0, 10); /* seq 65500..65598 (wraps) */
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 7, t, &b), 0);
    assert_int_equal(b.ssrc, 7);
    assert_int_equal(b.fraction_lost, 9 * 256 / 99); /* 23 */
    assert_int_equal(b.cumulative_lost, 9);
    /* extended highest: one wrap, 65500 + 98 - 65536 = 62 */
    assert_int_equal(b.highest_seq, 65536 + 62);
    assert_int_equal(b.lsr, 0);
    assert_int_equal(b.dlsr, 0);
    assert_int_equal(rx.last_fraction, 23);

    /* the next 100, nothing lost: 0 for the interval, cumulative kept */
    t = feed(&s, 63, 100, t + 20 * KG_MS, 0);
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 7, t, &b), 0);
    assert_int_equal(b.fraction_lost, 0);
    assert_int_equal(b.cumulative_lost, 9);
    assert_int_equal(b.highest_seq, 65536 + 162);

    /* seq 163..212 with every odd i dropped, then 213: 25 lost */
    t = feed(&s, 163, 50, t + 20 * KG_MS, 2);
    kg_rx_stats_update(&s, 213, 0, t + 20 * KG_MS, 48000);
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 7, t, &b), 0);
    /* 51 expected (163..213), 25 lost: floor(25 * 256 / 51) = 125 */
    assert_int_equal(b.fraction_lost, 25 * 256 / 51);
    assert_int_equal(b.cumulative_lost, 34);

    /* no packet since: an empty interval reports 0 */
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 7, t, &b), 0);
    assert_int_equal(b.fraction_lost, 0);
    assert_int_equal(b.cumulative_lost, 34);
}

static void test_rr_duplicates_and_clamp(void **state)
{
    (void)state;
    kg_rtcp_rx rx;
    memset(&rx, 0, sizeof(rx));
    kg_rtcp_report_block b;
    kg_rx_stats s;
    memset(&s, 0, sizeof(s));
    /* 10 packets, each twice: received 20 of 10 expected → -10, and the
     * fraction is 0, never negative */
    for (int rep = 0; rep < 2; rep++)
        for (uint16_t q = 0; q < 10; q++)
            kg_rx_stats_update(&s, q, 0, 0, 48000);
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 1, 0, &b), 0);
    assert_int_equal(b.cumulative_lost, -10);
    assert_int_equal(b.fraction_lost, 0);

    /* counts beyond 24 bits clamp both ways */
    memset(&s, 0, sizeof(s));
    s.started = true;
    s.base_seq = 0;
    s.cycles = 200u * 65536u; /* 13,107,200 + 1 expected */
    s.max_seq = 0;
    s.received = 1;
    memset(&rx, 0, sizeof(rx));
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 1, 0, &b), 0);
    assert_int_equal(b.cumulative_lost, 0x7fffff);
    assert_int_equal(b.fraction_lost, 255);
    s.cycles = 0;
    s.received = 9000000;
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 1, 0, &b), 0);
    assert_int_equal(b.cumulative_lost, -0x800000);
    assert_int_equal(b.fraction_lost, 0);

    /* the counts restarted (sender restart): a new interval */
    s.received = 1;
    s.cycles = 0;
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 1, 0, &b), 0);
    assert_int_equal(b.fraction_lost, 0);
    assert_int_equal(rx.expected_prior, 1);
}

static void test_rr_lsr_dlsr(void **state)
{
    (void)state;
    kg_rx_stats s;
    memset(&s, 0, sizeof(s));
    kg_rx_stats_update(&s, 1, 0, 0, 90000);
    kg_rtcp_rx rx;
    memset(&rx, 0, sizeof(rx));
    /* SR at NTP 0xe82b8c9a.4f5d2800 arriving at 10 s */
    kg_rtcp_rx_on_sr(&rx, 0xe82b8c9a4f5d2800ull, 1234, 10 * KG_SEC);
    kg_rtcp_report_block b;
    /* 1.5 s later: DLSR = 1.5 * 65536 = 98304 */
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 1, 11500 * KG_MS, &b), 0);
    assert_int_equal(b.lsr, 0x8c9a4f5d);
    assert_int_equal(b.dlsr, 98304);
    /* 1 ms = 65.536 → 65 */
    assert_int_equal(kg_rtcp_rx_block(&rx, &s, 1, 10 * KG_SEC + KG_MS, &b),
                     0);
    assert_int_equal(b.dlsr, 65);
    assert_int_equal(kg_rtcp_q16_from_ns(KG_SEC), 65536);
    assert_int_equal(kg_rtcp_q16_from_ns((kg_time)100000 * KG_SEC),
                     UINT32_MAX);
}

static void test_ntp_and_interval(void **state)
{
    (void)state;
    assert_true(kg_ntp_from_unix_ns(0) ==
                (uint64_t)KG_NTP_UNIX_OFFSET << 32);
    uint64_t n = kg_ntp_from_unix_ns(1700000000ull * KG_SEC + 500 * KG_MS);
    assert_int_equal(n >> 32, 1700000000ull + KG_NTP_UNIX_OFFSET);
    assert_int_equal((uint32_t)n, 0x80000000u);
    assert_int_equal(kg_ntp_mid32(0x1122334455667788ull), 0x33445566u);
    assert_int_equal(kg_rtcp_report_interval(KG_SEC, 0), KG_SEC / 2);
    assert_int_equal(kg_rtcp_report_interval(KG_SEC, 0x80000000u), KG_SEC);
    kg_time hi = kg_rtcp_report_interval(KG_SEC, UINT32_MAX);
    assert_true(hi < 3 * KG_SEC / 2 && hi > 3 * KG_SEC / 2 - KG_MS);
}

static void test_rtt(void **state)
{
    (void)state;
    /* SR sent at mid32 0x12340000; the receiver held it 0.5 s (0x8000);
     * its RR arrives 1/32 s (2048) after that: RTT = 31.25 ms exactly */
    uint32_t lsr = 0x12340000, dlsr = 0x8000;
    uint64_t ntp = (uint64_t)(lsr + dlsr + 2048) << 16;
    assert_int_equal(kg_rtcp_rtt_q16(lsr, dlsr, ntp), 2048);
    assert_int_equal(kg_rtcp_rtt_q16(0, dlsr, ntp), KG_ERR_AGAIN);
    /* a DLSR longer than the time since the SR: negative, refused */
    assert_int_equal(kg_rtcp_rtt_q16(lsr, dlsr + 4096, ntp), KG_ERR_INVAL);
    /* 20 s is no RTT */
    assert_int_equal(kg_rtcp_rtt_q16(lsr, 0, (uint64_t)(lsr + 20 * 65536)
                                                 << 16),
                     KG_ERR_INVAL);
    /* across the wrap of the 16.16 clock */
    assert_int_equal(kg_rtcp_rtt_q16(0xffffff00u, 0x80, 0x80ull << 16),
                     0x100);

    kg_rtcp_tx tx;
    memset(&tx, 0, sizeof(tx));
    kg_rtcp_report_block b = {.ssrc = 5, .fraction_lost = 64,
                              .cumulative_lost = -3, .highest_seq = 100,
                              .jitter = 900, .lsr = lsr, .dlsr = dlsr};
    assert_int_equal(kg_rtcp_tx_on_block(&tx, &b, ntp), 2048);
    assert_true(tx.rtt.valid);
    assert_true(tx.rtt.last_ms == 31.25);
    assert_true(tx.rtt.smoothed_ms == 31.25);
    assert_int_equal(tx.fraction_lost, 64);
    assert_int_equal(tx.cumulative_lost, -3);
    assert_true(kg_rtcp_tx_jitter_ms(&tx, 90000) == 10.0);
    /* a second sample of 1024 (15.625 ms): SRTT moves 1/8 of the way */
    ntp = (uint64_t)(lsr + dlsr + 1024) << 16;
    assert_int_equal(kg_rtcp_tx_on_block(&tx, &b, ntp), 1024);
    assert_true(tx.rtt.last_ms == 15.625);
    assert_true(tx.rtt.smoothed_ms == 31.25 + (15.625 - 31.25) / 8);
    assert_int_equal(tx.rtt.samples, 2);
    /* no LSR: loss and jitter still kept, RTT untouched */
    b.lsr = 0;
    b.fraction_lost = 1;
    assert_int_equal(kg_rtcp_tx_on_block(&tx, &b, ntp), KG_ERR_AGAIN);
    assert_int_equal(tx.fraction_lost, 1);
    assert_int_equal(tx.rtt.samples, 2);
    assert_int_equal(tx.rrs_in, 3);
}

static kg_rtp_hdr pkt(uint32_t ssrc, uint16_t seq, uint32_t ts)
{
    kg_rtp_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = 2;
    h.pt = 96;
    h.ssrc = ssrc;
    h.seq = seq;
    h.ts = ts;
    h.payload_len = 1000;
    return h;
}

/* kaigi's SR toward a receiver carries the receiver's timestamps: the
 * publisher's SR mapping shifted by the route's ts_delta. */
static void test_sr_timestamp_across_ts_delta(void **state)
{
    (void)state;
    kg_room r;
    kg_room_init(&r, 1);
    assert_int_equal(kg_room_add_track(&r, &PUB, 1111, KG_TRACK_VIDEO), 0);
    assert_int_equal(kg_room_add_route(&r, &PUB, 1111, &SUB, 500, 96), 0);
    kg_track *t = kg_room_find_track(&r, &PUB, 1111);
    kg_route *rt = &t->routes[0];
    kg_rtcp_sender s;
    /* nothing forwarded: not a sender yet */
    assert_int_equal(kg_rtcp_route_sr(t, rt, KG_SEC, 1, &s), KG_ERR_AGAIN);

    kg_fwd out[2];
    kg_rtp_hdr h = pkt(1111, 10, 4294000000u);
    assert_int_equal(kg_room_route(t, &h, 9 * KG_SEC, out, 2), 1);
    h = pkt(1111, 11, 4294000000u + 3000);
    assert_int_equal(kg_room_route(t, &h, 9 * KG_SEC + 33 * KG_MS, out, 2),
                     1);
    uint32_t delta = rt->ts_delta;
    assert_int_equal(out[0].ts, 4294000000u + 3000 + delta);

    /* no publisher SR: from the last packet, 0.5 s on at 90 kHz */
    uint64_t ntp = 0xe82b8c9a00000000ull;
    kg_time now = 9 * KG_SEC + 533 * KG_MS;
    assert_int_equal(kg_rtcp_route_sr(t, rt, now, ntp, &s), 0);
    assert_int_equal(s.ssrc, 500);
    assert_true(s.ntp == ntp);
    assert_int_equal(s.rtp_ts, 4294000000u + 3000 + delta + 45000);
    assert_int_equal(s.packets, 2);
    assert_int_equal(s.octets, 2000);

    /* the publisher's SR: RTP 4294966000 at 10 s (wraps once mapped) */
    kg_rtcp_rx_on_sr(&t->rtcp, 0xe82b8c9b00000000ull, 4294966000u,
                     10 * KG_SEC);
    now = 10 * KG_SEC + 250 * KG_MS; /* + 22500 ticks */
    assert_int_equal(kg_rtcp_route_sr(t, rt, now, ntp, &s), 0);
    assert_int_equal(s.rtp_ts, (uint32_t)(4294966000u + delta + 22500u));

    /* audio at 48 kHz, same rule */
    kg_rtcp_tx tx;
    memset(&tx, 0, sizeof(tx));
    uint32_t ts = 0;
    assert_int_equal(kg_rtcp_tx_rtp_ts(&tx, NULL, 0, 48000, 0, &ts),
                     KG_ERR_AGAIN);
    kg_rtcp_rx src;
    memset(&src, 0, sizeof(src));
    kg_rtcp_rx_on_sr(&src, 1, 1000, KG_SEC);
    assert_int_equal(kg_rtcp_tx_rtp_ts(&tx, &src, 7, 48000, 2 * KG_SEC, &ts),
                     0);
    assert_int_equal(ts, 1000 + 7 + 48000);

    /* a stale SR (over 30 s) no longer maps: the last packet does */
    kg_rtcp_tx_on_packet(&tx, 5000, 40 * KG_SEC);
    assert_int_equal(kg_rtcp_tx_rtp_ts(&tx, &src, 7, 48000,
                                       40 * KG_SEC + 10 * KG_MS, &ts),
                     0);
    assert_int_equal(ts, 5000 + 480);
    kg_room_free(&r);
}

/* Lip sync survives: audio and video captured at the same instant map to
 * the same NTP time through kaigi's two SRs, whatever the routes' random
 * timestamp offsets (the publisher's SRs arrive with the same delay). */
static void test_sr_keeps_av_sync(void **state)
{
    (void)state;
    kg_room r;
    kg_room_init(&r, 1);
    assert_int_equal(kg_room_add_track(&r, &PUB, 1, KG_TRACK_AUDIO), 0);
    assert_int_equal(kg_room_add_track(&r, &PUB, 2, KG_TRACK_VIDEO), 0);
    assert_int_equal(kg_room_add_route(&r, &PUB, 1, &SUB, 501, 111), 0);
    assert_int_equal(kg_room_add_route(&r, &PUB, 2, &SUB, 502, 96), 0);
    kg_track *ta = kg_room_find_track(&r, &PUB, 1);
    kg_track *tv = kg_room_find_track(&r, &PUB, 2);
    kg_fwd out[1];
    kg_rtp_hdr h = pkt(1, 1, 900);
    kg_room_route(ta, &h, 9 * KG_SEC, out, 1);
    h = pkt(2, 1, 4000);
    kg_room_route(tv, &h, 9 * KG_SEC, out, 1);
    /* publisher: audio ts 1000 at its instant P, video ts 5000 at P +
     * 0.2 s; each SR takes the same time to reach kaigi */
    kg_rtcp_rx_on_sr(&ta->rtcp, 7, 1000, 10 * KG_SEC);
    kg_rtcp_rx_on_sr(&tv->rtcp, 7, 5000, 10200 * KG_MS);
    kg_rtcp_sender sa, sv;
    uint64_t ntp = 0xe82b8c9b00000000ull;
    assert_int_equal(kg_rtcp_route_sr(ta, &ta->routes[0], 11 * KG_SEC, ntp,
                                      &sa), 0);
    assert_int_equal(kg_rtcp_route_sr(tv, &tv->routes[0], 11 * KG_SEC, ntp,
                                      &sv), 0);
    /* captured at P + 0.5 s: audio 1000 + 24000, video 5000 + 27000,
     * as the receiver sees them */
    uint32_t oa = 1000 + 24000 + ta->routes[0].ts_delta;
    uint32_t ov = 5000 + 27000 + tv->routes[0].ts_delta;
    /* seconds from each SR's NTP time, as fractions a/48000, v/90000 */
    int64_t a = (int32_t)(oa - sa.rtp_ts), v = (int32_t)(ov - sv.rtp_ts);
    assert_true(a * 90000 == v * 48000);
    assert_true(a == -24000); /* 0.5 s before the SR's instant */
    kg_room_free(&r);
}

/* kaigi's RR about a published track reads back through codec/rtcp.h. */
static void test_track_block(void **state)
{
    (void)state;
    kg_room r;
    kg_room_init(&r, 1);
    assert_int_equal(kg_room_add_track(&r, &PUB, 2222, KG_TRACK_AUDIO), 0);
    kg_track *t = kg_room_find_track(&r, &PUB, 2222);
    kg_rtcp_report_block b;
    assert_int_equal(kg_rtcp_track_block(t, 0, &b), KG_ERR_AGAIN);
    kg_fwd out[1];
    for (uint16_t q = 0; q < 8; q++) {
        if (q == 3)
            continue;
        kg_rtp_hdr h = pkt(2222, q, q * 960u);
        kg_room_route(t, &h, q * 20 * KG_MS, out, 1);
    }
    assert_int_equal(kg_rtcp_track_block(t, KG_SEC, &b), 0);
    assert_int_equal(b.ssrc, 2222);
    assert_int_equal(b.fraction_lost, 256 / 8);
    assert_int_equal(b.cumulative_lost, 1);
    assert_int_equal(b.highest_seq, 7);
    kg_room_free(&r);
}

static void test_write_srs_round_trip(void **state)
{
    (void)state;
    kg_rtcp_sender s[3];
    memset(s, 0, sizeof(s));
    for (int i = 0; i < 3; i++) {
        s[i].ssrc = 100u + (uint32_t)i;
        s[i].ntp = 0xe82b8c9a4f5d2800ull + (uint64_t)i;
        s[i].rtp_ts = 90000u * (uint32_t)i;
        s[i].packets = 10u + (uint32_t)i;
        s[i].octets = 1000u + (uint32_t)i;
    }
    strcpy(s[0].cname, "kaigi-a");    /* 7: 2+7+1 → chunk 4 + 12 */
    strcpy(s[1].cname, "kaigi-bb");   /* 8: → 4 + 12 */
    strcpy(s[2].cname, "kaigi-ccc0"); /* 10: → 4 + 16 */
    uint8_t buf[512];
    size_t written = 0;
    ssize_t n = kg_rtcp_write_srs(s, 3, buf, sizeof(buf), &written);
    assert_int_equal(written, 3);
    assert_int_equal(n, 3 * 28 + 4 + 16 + 16 + 20);

    size_t off = 0;
    kg_rtcp_pkt p;
    for (int i = 0; i < 3; i++) {
        assert_int_equal(kg_rtcp_next(buf, (size_t)n, &off, &p), 1);
        assert_int_equal(p.pt, KG_RTCP_SR);
        kg_rtcp_sr sr;
        assert_int_equal(kg_rtcp_parse_sr(&p, &sr), 0);
        assert_int_equal(sr.ssrc, s[i].ssrc);
        assert_true(sr.ntp == s[i].ntp);
        assert_int_equal(sr.rtp_ts, s[i].rtp_ts);
        assert_int_equal(sr.packet_count, s[i].packets);
        assert_int_equal(sr.octet_count, s[i].octets);
        assert_int_equal(sr.n_blocks, 0);
    }
    assert_int_equal(kg_rtcp_next(buf, (size_t)n, &off, &p), 1);
    kg_rtcp_sdes sd;
    assert_int_equal(kg_rtcp_parse_sdes(&p, &sd), 0);
    assert_int_equal(sd.n_items, 3);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(sd.items[i].ssrc, s[i].ssrc);
        assert_int_equal(sd.items[i].len, strlen(s[i].cname));
        assert_memory_equal(sd.items[i].text, s[i].cname, sd.items[i].len);
    }
    assert_int_equal(kg_rtcp_next(buf, (size_t)n, &off, &p), 0);

    /* room for two only: two written, still a valid compound */
    n = kg_rtcp_write_srs(s, 3, buf, 3 * 28 + 4 + 16 + 16 - 1, &written);
    assert_int_equal(written, 2);
    assert_int_equal(n, 2 * 28 + 4 + 16 + 16);
    assert_int_equal(kg_rtcp_write_srs(s, 3, buf, 40, &written),
                     KG_ERR_NOSPACE);
    assert_int_equal(kg_rtcp_write_srs(s, 0, buf, 40, &written),
                     KG_ERR_INVAL);
    s[0].cname[0] = '\0';
    assert_int_equal(kg_rtcp_write_srs(s, 1, buf, sizeof(buf), &written),
                     KG_ERR_INVAL);
}

static void test_write_rr_round_trip(void **state)
{
    (void)state;
    kg_rtcp_report_block b[2] = {
        {.ssrc = 1, .fraction_lost = 25, .cumulative_lost = 9,
         .highest_seq = 65598, .jitter = 12, .lsr = 0x8c9a4f5d,
         .dlsr = 98304},
        {.ssrc = 2, .fraction_lost = 0, .cumulative_lost = -10,
         .highest_seq = 9, .jitter = 0, .lsr = 0, .dlsr = 0},
    };
    uint8_t buf[256];
    size_t written;
    ssize_t n = kg_rtcp_write_rr_compound(1, "kaigi", b, 2, buf, sizeof(buf),
                                          &written);
    assert_int_equal(written, 2);
    assert_int_equal(n, 8 + 48 + 4 + 4 + 8);
    size_t off = 0;
    kg_rtcp_pkt p;
    assert_int_equal(kg_rtcp_next(buf, (size_t)n, &off, &p), 1);
    kg_rtcp_rr rr;
    assert_int_equal(kg_rtcp_parse_rr(&p, &rr), 0);
    assert_int_equal(rr.ssrc, 1);
    assert_int_equal(rr.n_blocks, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(rr.blocks[i].ssrc, b[i].ssrc);
        assert_int_equal(rr.blocks[i].fraction_lost, b[i].fraction_lost);
        assert_int_equal(rr.blocks[i].cumulative_lost, b[i].cumulative_lost);
        assert_int_equal(rr.blocks[i].highest_seq, b[i].highest_seq);
        assert_int_equal(rr.blocks[i].jitter, b[i].jitter);
        assert_int_equal(rr.blocks[i].lsr, b[i].lsr);
        assert_int_equal(rr.blocks[i].dlsr, b[i].dlsr);
    }
    assert_int_equal(kg_rtcp_next(buf, (size_t)n, &off, &p), 1);
    kg_rtcp_sdes sd;
    assert_int_equal(kg_rtcp_parse_sdes(&p, &sd), 0);
    assert_int_equal(sd.n_items, 1);
    assert_memory_equal(sd.items[0].text, "kaigi", 5);
    assert_int_equal(kg_rtcp_next(buf, (size_t)n, &off, &p), 0);

    /* fewer blocks when short of room; an empty RR is fine */
    n = kg_rtcp_write_rr_compound(1, "kaigi", b, 2, buf, 8 + 24 + 16,
                                  &written);
    assert_int_equal(written, 1);
    assert_int_equal(n, 8 + 24 + 16);
    n = kg_rtcp_write_rr_compound(1, "kaigi", NULL, 0, buf, sizeof(buf),
                                  &written);
    assert_int_equal(n, 8 + 16);
    assert_int_equal(kg_rtcp_write_rr_compound(1, "kaigi", b, 2, buf, 20,
                                               &written),
                     KG_ERR_NOSPACE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rr_fraction_lost),
        cmocka_unit_test(test_rr_duplicates_and_clamp),
        cmocka_unit_test(test_rr_lsr_dlsr),
        cmocka_unit_test(test_ntp_and_interval),
        cmocka_unit_test(test_rtt),
        cmocka_unit_test(test_sr_timestamp_across_ts_delta),
        cmocka_unit_test(test_sr_keeps_av_sync),
        cmocka_unit_test(test_track_block),
        cmocka_unit_test(test_write_srs_round_trip),
        cmocka_unit_test(test_write_rr_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
