/* NACK loss recovery: the retransmission cache, the NACK generator, and
 * a publisher → kaigi → 10 receivers simulation over lossy, delayed links
 * with a simulated clock, driving the same track functions (relay/room.h)
 * that kaigi's worker calls. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/bytes.h"
#include "codec/rtcp.h"
#include "codec/rtp.h"
#include "relay/nack.h"
#include "relay/room.h"

/* --- the cache ------------------------------------------------------- */

static size_t make_pkt(uint16_t seq, uint8_t fill, size_t len, uint8_t *buf)
{
    memset(buf, fill, len);
    buf[0] = 0x80;
    buf[1] = 96;
    kg_wr16(buf + 2, seq);
    return len;
}

static void test_cache_put_get(void **state)
{
    (void)state;
    kg_rtx_cache c;
    uint8_t p[1500];
    size_t len;
    assert_int_equal(kg_rtx_cache_init(&c, 1000, 4096, KG_SEC), KG_ERR_INVAL);
    assert_int_equal(kg_rtx_cache_init(&c, 16, 100, KG_SEC), KG_ERR_INVAL);
    assert_int_equal(kg_rtx_cache_init(&c, 16, 16 * 1500, KG_SEC), 0);
    assert_null(kg_rtx_cache_get(&c, 5, 0, &len)); /* empty */
    assert_int_equal(kg_rtx_cache_put(&c, 5, p, 0, 0), KG_ERR_INVAL);
    /* Across the 16-bit wrap. */
    for (uint16_t s = 65530; s != 6; s++)
        kg_rtx_cache_put(&c, s, p, make_pkt(s, (uint8_t)s, 100 + s % 7, p),
                         10 * KG_MS);
    for (uint16_t s = 65530; s != 6; s++) {
        const uint8_t *got = kg_rtx_cache_get(&c, s, 20 * KG_MS, &len);
        assert_non_null(got);
        assert_int_equal(len, 100 + s % 7);
        assert_int_equal(kg_rd16(got + 2), s);
        assert_int_equal(got[50], (uint8_t)s);
    }
    assert_null(kg_rtx_cache_get(&c, 6, 20 * KG_MS, &len));
    /* The slot of seq 5 now holds 5 + 16: 5 is gone, not confused. */
    kg_rtx_cache_put(&c, 21, p, make_pkt(21, 21, 100, p), 30 * KG_MS);
    assert_null(kg_rtx_cache_get(&c, 5, 30 * KG_MS, &len));
    assert_true(kg_rtx_cache_has(&c, 21, 30 * KG_MS));
    /* Too old. */
    assert_non_null(kg_rtx_cache_get(&c, 0, 10 * KG_MS + KG_SEC, &len));
    assert_null(kg_rtx_cache_get(&c, 0, 11 * KG_MS + KG_SEC, &len));
    assert_true(c.hits > 0 && c.misses > 0);
    kg_rtx_cache_free(&c);
}

/* The byte ring bounds memory: older packets are overwritten by bytes
 * before their slots are reused. */
static void test_cache_byte_ring(void **state)
{
    (void)state;
    kg_rtx_cache c;
    uint8_t p[1500];
    size_t len;
    assert_int_equal(kg_rtx_cache_init(&c, 64, 4000, KG_SEC), 0);
    assert_int_equal(kg_rtx_cache_put(&c, 1, p, 4001, 0), KG_ERR_INVAL);
    for (uint16_t s = 0; s < 10; s++)
        assert_int_equal(kg_rtx_cache_put(&c, s, p, make_pkt(s, 0xa0, 1000, p),
                                          0),
                         0);
    /* 4000 bytes hold 4 of them at most; the tail that cannot hold a
     * whole packet is skipped, so 3 may be all that survive. */
    unsigned present = 0;
    for (uint16_t s = 0; s < 10; s++) {
        const uint8_t *got = kg_rtx_cache_get(&c, s, 0, &len);
        if (!got)
            continue;
        present++;
        assert_true(s >= 6);
        assert_int_equal(kg_rd16(got + 2), s);
        assert_int_equal(len, 1000);
    }
    assert_true(present >= 3 && present <= 4);
    assert_non_null(kg_rtx_cache_get(&c, 9, 0, &len));
    kg_rtx_cache_free(&c);
}

/* The ring keeps its first size for a slow stream and doubles for a fast
 * one until it holds max_age of it, never past its maximum, and no stored
 * packet is lost or changed by a doubling. */
static void test_cache_ring_grows(void **state)
{
    (void)state;
    kg_rtx_cache c;
    uint8_t p[1500];
    size_t len;
    /* 100 kbit/s: 1,000-byte packets every 80 ms fill 12.5 kB a second */
    assert_int_equal(kg_rtx_cache_init(&c, 1024, 256 * 1024, KG_SEC), 0);
    kg_time t = 0;
    for (uint16_t s = 0; s < 200; s++, t += 80 * KG_MS)
        kg_rtx_cache_put(&c, s, p, make_pkt(s, 0xa0, 1000, p), t);
    assert_int_equal(c.ring_cap, KG_RTX_START_BYTES);
    assert_int_equal(c.grown, 0);
    kg_rtx_cache_free(&c);

    /* 2 Mbit/s: 1,200-byte packets every 4.8 ms, 250 kB a second */
    assert_int_equal(kg_rtx_cache_init(&c, 1024, 256 * 1024, KG_SEC), 0);
    t = 0;
    uint16_t s = 0;
    for (; s < 1000; s++, t += (kg_time)4800000) {
        size_t n = make_pkt(s, (uint8_t)s, 1200, p);
        assert_int_equal(kg_rtx_cache_put(&c, s, p, n, t), 0);
    }
    assert_int_equal(c.ring_cap, 256 * 1024);
    assert_int_equal(c.grown, 4);
    /* the last 0.9 s are all there, byte for byte */
    kg_time now = t - (kg_time)4800000;
    unsigned present = 0;
    for (uint16_t q = (uint16_t)(s - 187); q != s; q++) {
        const uint8_t *got = kg_rtx_cache_get(&c, q, now, &len);
        assert_non_null(got);
        assert_int_equal(len, 1200);
        assert_int_equal(kg_rd16(got + 2), q);
        assert_int_equal(got[len - 1], (uint8_t)q);
        present++;
    }
    assert_int_equal(present, 187);
    kg_rtx_cache_free(&c);

    /* a ring whose maximum is under the first size never grows */
    assert_int_equal(kg_rtx_cache_init(&c, 64, 4000, KG_SEC), 0);
    for (uint16_t q = 0; q < 50; q++)
        kg_rtx_cache_put(&c, q, p, make_pkt(q, 0xa0, 1000, p), 0);
    assert_int_equal(c.ring_cap, 4000);
    kg_rtx_cache_free(&c);
}

/* A packet overwritten before the ring doubles must not look intact in
 * the bigger ring (the fuzzer found this). */
static void test_cache_grow_forgets_overwritten(void **state)
{
    (void)state;
    kg_rtx_cache c;
    uint8_t p[1500];
    size_t len;
    assert_int_equal(kg_rtx_cache_init(&c, 64, 64 * 1024, KG_SEC), 0);
    /* a slow first lap: it comes round after 1.6 s, no growth, and the
     * second lap overwrites packets younger than a second */
    kg_time t = 0;
    uint16_t s = 0;
    for (; s < 20; s++, t += 100 * KG_MS)
        kg_rtx_cache_put(&c, s, p, make_pkt(s, (uint8_t)s, 1000, p), t);
    assert_int_equal(c.grown, 0);
    /* then a burst: the next round comes within a second, so it grows */
    for (; s < 40; s++)
        kg_rtx_cache_put(&c, s, p, make_pkt(s, (uint8_t)s, 1000, p), t);
    assert_int_equal(c.grown, 1);
    for (uint16_t q = 0; q < s; q++) {
        const uint8_t *got = kg_rtx_cache_get(&c, q, t, &len);
        if (!got)
            continue;
        assert_int_equal(kg_rd16(got + 2), q);
        assert_int_equal(got[len - 1], (uint8_t)q);
    }
    assert_non_null(kg_rtx_cache_get(&c, (uint16_t)(s - 1), t, &len));
    kg_rtx_cache_free(&c);
}

/* --- the generator --------------------------------------------------- */

static void feed(kg_nack_gen *g, uint16_t from, uint16_t to, kg_time now)
{
    for (uint16_t s = from; s != (uint16_t)(to + 1); s++)
        assert_int_equal(kg_nack_gen_on_packet(g, s, now), KG_NACK_NEW);
}

static void test_gen_in_order_and_gap(void **state)
{
    (void)state;
    kg_nack_gen g;
    uint16_t out[64];
    kg_nack_gen_init(&g);
    feed(&g, 100, 110, 0);
    assert_int_equal(kg_nack_gen_deadline(&g), UINT64_MAX);
    assert_int_equal(kg_nack_gen_poll(&g, 0, out, 64), 0);
    /* 111..113 lost: due at once, in order. */
    assert_int_equal(kg_nack_gen_on_packet(&g, 114, KG_MS), KG_NACK_NEW);
    assert_int_equal(kg_nack_gen_deadline(&g), KG_MS);
    assert_int_equal(kg_nack_gen_poll(&g, KG_MS, out, 2), 2);
    assert_int_equal(out[0], 111);
    assert_int_equal(out[1], 112);
    /* The one that did not fit stays due. */
    assert_int_equal(kg_nack_gen_deadline(&g), KG_MS);
    assert_int_equal(kg_nack_gen_poll(&g, KG_MS, out, 64), 1);
    assert_int_equal(out[0], 113);
    /* Not again before the retry interval. */
    kg_time retry = kg_nack_gen_retry_interval(&g);
    assert_int_equal(retry, KG_NACK_DEFAULT_RTT + KG_NACK_RETRY_SLACK);
    assert_int_equal(kg_nack_gen_poll(&g, KG_MS + retry - 1, out, 64), 0);
    /* 112 arrives (retransmitted); duplicates of it are old. */
    assert_int_equal(kg_nack_gen_on_packet(&g, 112, 2 * KG_MS),
                     KG_NACK_RECOVERED);
    assert_int_equal(kg_nack_gen_on_packet(&g, 112, 2 * KG_MS), KG_NACK_OLD);
    assert_int_equal(kg_nack_gen_on_packet(&g, 105, 2 * KG_MS), KG_NACK_OLD);
    assert_int_equal(kg_nack_gen_poll(&g, KG_MS + retry, out, 64), 2);
    assert_int_equal(out[0], 111);
    assert_int_equal(out[1], 113);
    assert_int_equal(g.requested, 5);
    assert_int_equal(g.recovered, 1);
    assert_int_equal(g.recovered_nacked, 1);
    assert_int_equal(g.duplicates, 2);
}

static void test_gen_wrap_and_reorder(void **state)
{
    (void)state;
    kg_nack_gen g;
    uint16_t out[64];
    kg_nack_gen_init(&g);
    feed(&g, 65533, 65534, 0);
    /* 65535 and 0 are missing across the wrap. */
    assert_int_equal(kg_nack_gen_on_packet(&g, 1, 0), KG_NACK_NEW);
    assert_int_equal(g.n_miss, 2);
    /* Reordered, not lost: arrives before any request. */
    assert_int_equal(kg_nack_gen_on_packet(&g, 0, 0), KG_NACK_RECOVERED);
    assert_int_equal(g.recovered_nacked, 0); /* never asked for */
    assert_int_equal(kg_nack_gen_poll(&g, 0, out, 64), 1);
    assert_int_equal(out[0], 65535);
    feed(&g, 2, 30000, KG_MS); /* far past the wrap, in order */
    assert_int_equal(kg_nack_gen_poll(&g, 2 * KG_SEC, out, 64), 0);
    assert_int_equal(g.given_up, 1);
    assert_int_equal(kg_nack_gen_on_packet(&g, 65535, 2 * KG_SEC),
                     KG_NACK_OLD); /* given up: an old one now */
}

static void test_gen_give_up(void **state)
{
    (void)state;
    kg_nack_gen g;
    uint16_t out[64];
    kg_nack_gen_init(&g);
    kg_nack_gen_set_rtt(&g, 10 * KG_MS);
    feed(&g, 0, 0, 0);
    kg_nack_gen_on_packet(&g, 2, 0);
    kg_time now = 0;
    unsigned asked = 0;
    for (int i = 0; i < 100; i++) {
        asked += (unsigned)kg_nack_gen_poll(&g, now, out, 64);
        now += 5 * KG_MS;
    }
    assert_int_equal(asked, KG_NACK_MAX_TRIES);
    assert_int_equal(g.given_up, 1);
    assert_int_equal(g.n_miss, 0);
    assert_int_equal(kg_nack_gen_deadline(&g), UINT64_MAX);
    /* It arrives after all: too late, an old one. */
    assert_int_equal(kg_nack_gen_on_packet(&g, 1, now), KG_NACK_OLD);

    /* By age: a slow retry interval gives up on KG_NACK_MAX_AGE. */
    kg_nack_gen_init(&g);
    kg_nack_gen_set_rtt(&g, KG_NACK_MAX_RTT);
    feed(&g, 0, 0, 0);
    kg_nack_gen_on_packet(&g, 2, 0);
    asked = 0;
    for (now = 0; now < 2 * KG_SEC; now += 10 * KG_MS)
        asked += (unsigned)kg_nack_gen_poll(&g, now, out, 64);
    assert_int_equal(asked, 2); /* at 0 and 520 ms; 1,040 ms is too old */
    assert_int_equal(g.given_up, 1);
}

static void test_gen_bounded_and_reset(void **state)
{
    (void)state;
    kg_nack_gen g;
    uint16_t out[KG_NACK_MAX_MISSING];
    kg_nack_gen_init(&g);
    feed(&g, 1000, 1000, 0);
    /* A gap of 200, then one of 100: the oldest 44 make room. */
    kg_nack_gen_on_packet(&g, 1201, 0);
    kg_nack_gen_on_packet(&g, 1302, 0);
    assert_int_equal(g.n_miss, KG_NACK_MAX_MISSING);
    assert_int_equal(g.given_up, 44);
    assert_int_equal(kg_nack_gen_poll(&g, 0, out, KG_NACK_MAX_MISSING),
                     KG_NACK_MAX_MISSING);
    assert_int_equal(out[0], 1045);
    assert_int_equal(out[KG_NACK_MAX_MISSING - 1], 1301);
    /* A jump of 30,000 (a restarted sender): no 30,000 NACKs. */
    assert_int_equal(kg_nack_gen_on_packet(&g, 31302, KG_MS), KG_NACK_RESET);
    assert_int_equal(g.n_miss, 0);
    assert_int_equal(g.resets, 1);
    assert_int_equal(kg_nack_gen_poll(&g, 10 * KG_SEC, out, 64), 0);
    assert_int_equal(kg_nack_gen_on_packet(&g, 31303, KG_MS), KG_NACK_NEW);
    /* Just within the bound is still NACKed. */
    kg_nack_gen_on_packet(&g, (uint16_t)(31303 + KG_NACK_MAX_MISSING + 1),
                          KG_MS);
    assert_int_equal(g.n_miss, KG_NACK_MAX_MISSING);
}

static void test_gen_learns_rtt(void **state)
{
    (void)state;
    kg_nack_gen g;
    uint16_t out[8];
    kg_nack_gen_init(&g);
    feed(&g, 0, 0, 0);
    kg_time now = 0;
    /* Answers always come 10 ms after the first request. */
    for (uint16_t s = 2; s < 200; s += 2) {
        kg_nack_gen_on_packet(&g, s, now);
        assert_int_equal(kg_nack_gen_poll(&g, now, out, 8), 1);
        kg_nack_gen_on_packet(&g, (uint16_t)(s - 1), now + 10 * KG_MS);
        now += 20 * KG_MS;
    }
    assert_true(g.rtt < 11 * KG_MS && g.rtt > 9 * KG_MS);
    /* A long path: every first request goes unanswered for 300 ms, so
     * each loss is asked twice at first; the RTT grows until it is not. */
    uint64_t before = g.requested;
    for (uint16_t s = 200; s < 400; s += 2) {
        kg_nack_gen_on_packet(&g, s, now);
        kg_time first = now;
        for (kg_time t = now; t < first + 300 * KG_MS; t += KG_MS)
            kg_nack_gen_poll(&g, t, out, 8);
        kg_nack_gen_on_packet(&g, (uint16_t)(s - 1), first + 300 * KG_MS);
        now += 400 * KG_MS;
    }
    assert_true(g.rtt > 250 * KG_MS);
    uint64_t last10 = g.requested;
    for (uint16_t s = 400; s < 420; s += 2) {
        kg_nack_gen_on_packet(&g, s, now);
        for (kg_time t = now; t < now + 300 * KG_MS; t += KG_MS)
            kg_nack_gen_poll(&g, t, out, 8);
        kg_nack_gen_on_packet(&g, (uint16_t)(s - 1), now + 300 * KG_MS);
        now += 400 * KG_MS;
    }
    assert_true(g.requested - before > 99); /* some were asked twice */
    assert_int_equal(g.requested - last10, 10); /* now once each */
}

/* --- the track functions kaigi's worker calls ------------------------- */

static int PUB, SUB;

/* One publisher packet through kg_track_rtp_in and kg_room_route, as the
 * worker's forward_rtp does it. Returns kg_track_rtp_in's answer. */
static int track_in(kg_track *t, uint16_t seq, kg_time now)
{
    uint8_t p[200];
    kg_rtp_hdr h;
    kg_fwd fwd[4];
    memset(p, 0, sizeof(p));
    p[0] = 0x80;
    p[1] = 100;
    kg_wr16(p + 2, seq);
    kg_wr32(p + 4, 1000u * seq);
    kg_wr32(p + 8, 42);
    p[12] = (uint8_t)seq;
    int seen = kg_track_rtp_in(t, p, sizeof(p), seq, now);
    if (seen != KG_NACK_DUPLICATE) {
        assert_int_equal(kg_rtp_parse(p, sizeof(p), &h), 0);
        kg_room_route(t, &h, now, fwd, 4);
    }
    return seen;
}

static void test_track_resend(void **state)
{
    (void)state;
    kg_room r;
    uint8_t buf[300];
    kg_rtp_hdr h;
    kg_route *rt;
    kg_room_init(&r, 1);
    assert_int_equal(kg_room_add_track(&r, &PUB, 42, KG_TRACK_VIDEO), 0);
    assert_int_equal(kg_room_add_track(&r, &PUB, 43, KG_TRACK_AUDIO), 0);
    assert_int_equal(kg_room_add_route(&r, &PUB, 42, &SUB, 900, 96), 0);
    kg_track *t = kg_room_find_by_out(&r, &SUB, 900, &rt);
    kg_track *audio = kg_room_find_track(&r, &PUB, 43);
    assert_non_null(t);
    assert_null(audio->rtx);
    assert_null(audio->nack);
    assert_int_equal(kg_track_resend(t, rt, 5, 0, buf, sizeof(buf)),
                     KG_ERR_INVAL); /* nothing forwarded yet */
    for (uint16_t s = 100; s <= 110; s++)
        assert_int_equal(track_in(t, s, 0), KG_NACK_NEW);
    uint16_t out105 = (uint16_t)(105 + rt->seq_delta);
    ssize_t n = kg_track_resend(t, rt, out105, KG_MS, buf, sizeof(buf));
    assert_int_equal(n, 200);
    assert_int_equal(kg_rtp_parse(buf, (size_t)n, &h), 0);
    assert_int_equal(h.ssrc, 900);
    assert_int_equal(h.pt, 96);
    assert_int_equal(h.seq, out105);
    assert_int_equal(h.ts, 105000u + rt->ts_delta);
    assert_int_equal(h.payload[0], 105);
    assert_int_equal(kg_track_resend(t, rt, out105, KG_MS, buf, 100),
                     KG_ERR_NOSPACE);
    /* Not before the route started, not ahead of what it was sent. */
    assert_int_equal(kg_track_resend(t, rt, (uint16_t)(out105 - 6), KG_MS,
                                     buf, sizeof(buf)),
                     KG_ERR_INVAL);
    assert_int_equal(kg_track_resend(t, rt, (uint16_t)(out105 + 6), KG_MS,
                                     buf, sizeof(buf)),
                     KG_ERR_INVAL);
    /* 111 lost: not in the cache, and due for an upstream NACK. */
    assert_int_equal(track_in(t, 112, 10 * KG_MS), KG_NACK_NEW);
    assert_int_equal(kg_track_resend(t, rt, (uint16_t)(out105 + 6),
                                     10 * KG_MS, buf, sizeof(buf)),
                     KG_ERR_NOTFOUND);
    size_t n_seqs;
    n = kg_track_nack_poll(t, 10 * KG_MS, 1, buf, sizeof(buf), &n_seqs);
    assert_int_equal(n, 16);
    assert_int_equal(n_seqs, 1);
    assert_int_equal(kg_rd16(buf + 12), 111); /* the NACK's PID */
    /* It comes, late: forwarded to all, so a NACK for it right after is
     * held off; later it is answered. A second copy is dropped. */
    assert_int_equal(track_in(t, 111, 20 * KG_MS), KG_NACK_RECOVERED);
    assert_int_equal(track_in(t, 111, 21 * KG_MS), KG_NACK_DUPLICATE);
    assert_int_equal(kg_track_resend(t, rt, (uint16_t)(out105 + 6),
                                     25 * KG_MS, buf, sizeof(buf)),
                     KG_ERR_AGAIN);
    assert_int_equal(kg_track_resend(t, rt, (uint16_t)(out105 + 6),
                                     20 * KG_MS + KG_TRACK_LATE_HOLDOFF, buf,
                                     sizeof(buf)),
                     200);
    /* Audio: nothing to do. */
    assert_int_equal(kg_track_rtp_in(audio, buf, 200, 1, 0), KG_NACK_NEW);
    assert_int_equal(kg_track_nack_poll(audio, 0, 1, buf, sizeof(buf),
                                        &n_seqs),
                     0);
    kg_room_free(&r);
}

/* --- the simulation -------------------------------------------------- */

#define SIM_RX 10
#define SIM_DELAY (50 * KG_MS)
#define SIM_PAYLOAD 160
#define SIM_PKT 300
#define SIM_QUEUE 1024
#define SIM_SSRC 0x5eed1234u
#define SIM_PT 96
#define SIM_BASE_SEQ 64000 /* wraps within the run */
#define SIM_PERIOD (4 * KG_MS) /* 250 packets/s */
#define SIM_PACKETS 2500
#define SIM_END (SIM_PACKETS * SIM_PERIOD + 3 * KG_SEC)

typedef struct sim_pkt {
    kg_time at;
    uint16_t len;
    uint8_t data[SIM_PKT];
} sim_pkt;

/* A one-way link: fixed delay (so a FIFO), random loss. */
typedef struct sim_link {
    sim_pkt *q;
    size_t head, n;
    unsigned loss_pm; /* per mille */
    uint64_t *rng;
    uint64_t sent, dropped;
} sim_link;

static uint64_t rnd(uint64_t *s)
{
    /* xorshift64*: deterministic, good enough for loss decisions. */
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* Returns false when the link lost the packet. */
static bool link_send(sim_link *l, const uint8_t *p, size_t len, kg_time now)
{
    assert_true(len <= SIM_PKT);
    l->sent++;
    if (l->loss_pm && rnd(l->rng) % 1000 < l->loss_pm) {
        l->dropped++;
        return false;
    }
    assert_true(l->n < SIM_QUEUE);
    sim_pkt *s = &l->q[(l->head + l->n++) % SIM_QUEUE];
    s->at = now + SIM_DELAY;
    s->len = (uint16_t)len;
    memcpy(s->data, p, len);
    return true;
}

static sim_pkt *link_due(sim_link *l, kg_time now)
{
    if (l->n == 0 || l->q[l->head].at > now)
        return NULL;
    sim_pkt *s = &l->q[l->head];
    l->head = (l->head + 1) % SIM_QUEUE;
    l->n--;
    return s;
}

typedef struct sim_rx {
    int tag; /* its address is the member */
    uint32_t out_ssrc;
    kg_nack_gen gen;
    uint8_t got[SIM_PACKETS];
    unsigned unique;
    uint64_t nack_items;
    sim_link down, up; /* kaigi → it (RTP), it → kaigi (RTCP) */
} sim_rx;

typedef struct sim {
    uint64_t rng;
    /* publisher */
    int pub_tag;
    kg_rtx_cache pub_cache;
    unsigned sent;
    uint64_t pub_rtx;
    sim_link up, down; /* publisher → kaigi (RTP), kaigi → publisher */
    int drop_index;    /* lose this packet's first send on up, or -1 */
    /* kaigi */
    kg_room room;
    kg_track *tr;
    uint64_t kaigi_rtx, kaigi_rtx_miss, kaigi_rtx_held, dups;
    uint64_t rx_dups; /* copies a receiver already had */
    /* per packet index: upstream NACK items, and losses that justify a
     * retry (a NACK carrying it or its retransmission lost) */
    unsigned up_nacks[SIM_PACKETS];
    unsigned retry_cause[SIM_PACKETS];
    uint64_t up_nack_items;
    sim_rx rx[SIM_RX];
} sim;

static unsigned seq_index(uint16_t in_seq)
{
    return (uint16_t)(in_seq - SIM_BASE_SEQ);
}

static void link_init(sim_link *l, unsigned loss_pm, uint64_t *rng)
{
    memset(l, 0, sizeof(*l));
    l->q = calloc(SIM_QUEUE, sizeof(*l->q));
    assert_non_null(l->q);
    l->loss_pm = loss_pm;
    l->rng = rng;
}

static void sim_init(sim *s, unsigned loss_pm, uint64_t seed)
{
    memset(s, 0, sizeof(*s));
    s->rng = seed;
    s->drop_index = -1;
    link_init(&s->up, loss_pm, &s->rng);
    link_init(&s->down, loss_pm, &s->rng);
    assert_int_equal(kg_rtx_cache_init(&s->pub_cache, KG_RTX_SLOTS,
                                       KG_RTX_BYTES, KG_RTX_MAX_AGE),
                     0);
    kg_room_init(&s->room, 1);
    assert_int_equal(kg_room_add_track(&s->room, &s->pub_tag, SIM_SSRC,
                                       KG_TRACK_VIDEO),
                     0);
    s->tr = kg_room_find_track(&s->room, &s->pub_tag, SIM_SSRC);
    assert_non_null(s->tr->rtx);
    for (int i = 0; i < SIM_RX; i++) {
        sim_rx *r = &s->rx[i];
        r->out_ssrc = 7000u + (uint32_t)i;
        kg_nack_gen_init(&r->gen);
        link_init(&r->down, loss_pm, &s->rng);
        link_init(&r->up, loss_pm, &s->rng);
        assert_int_equal(kg_room_add_route(&s->room, &s->pub_tag, SIM_SSRC,
                                           &r->tag, r->out_ssrc, SIM_PT),
                         0);
    }
}

static void sim_free(sim *s)
{
    free(s->up.q);
    free(s->down.q);
    for (int i = 0; i < SIM_RX; i++) {
        free(s->rx[i].down.q);
        free(s->rx[i].up.q);
    }
    kg_rtx_cache_free(&s->pub_cache);
    kg_room_free(&s->room);
}

/* Calls fn for every sequence number a NACK packet (one RTCP packet)
 * names; returns the media SSRC. */
static uint32_t nack_each(const uint8_t *p, size_t len,
                          void (*fn)(void *, uint16_t), void *user)
{
    size_t off = 0;
    kg_rtcp_pkt rp;
    kg_rtcp_fb fb;
    kg_rtcp_nack_item items[64];
    assert_int_equal(kg_rtcp_next(p, len, &off, &rp), 1);
    assert_int_equal(kg_rtcp_parse_fb(&rp, &fb), 0);
    int n = kg_rtcp_parse_nack(&fb, items, 64);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++) {
        fn(user, items[i].pid);
        for (unsigned b = 0; b < 16; b++)
            if (items[i].blp & (1u << b))
                fn(user, (uint16_t)(items[i].pid + b + 1));
    }
    return fb.media_ssrc;
}

static void pub_send(sim *s, kg_time now)
{
    uint8_t payload[SIM_PAYLOAD], pkt[SIM_PKT];
    unsigned i = s->sent++;
    memset(payload, 0x5a, sizeof(payload));
    kg_wr32(payload, i);
    kg_rtp_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = 2;
    h.pt = SIM_PT;
    h.seq = (uint16_t)(SIM_BASE_SEQ + i);
    h.ts = 90000u + i / 3 * 3000u;
    h.ssrc = SIM_SSRC;
    ssize_t n = kg_rtp_write(&h, payload, sizeof(payload), pkt, sizeof(pkt));
    assert_true(n > 0);
    kg_rtx_cache_put(&s->pub_cache, h.seq, pkt, (size_t)n, now);
    if ((int)i == s->drop_index)
        return; /* the one loss of the single-loss test */
    link_send(&s->up, pkt, (size_t)n, now);
}

typedef struct pub_nack_ctx {
    sim *s;
    kg_time now;
} pub_nack_ctx;

static void pub_resend(void *user, uint16_t seq)
{
    pub_nack_ctx *c = user;
    size_t len;
    const uint8_t *p = kg_rtx_cache_get(&c->s->pub_cache, seq, c->now, &len);
    if (!p)
        return;
    c->s->pub_rtx++;
    if (!link_send(&c->s->up, p, len, c->now))
        c->s->retry_cause[seq_index(seq)]++;
}

static void count_up_nack(void *user, uint16_t seq)
{
    sim *s = user;
    s->up_nacks[seq_index(seq)]++;
    s->up_nack_items++;
}

static void count_lost_nack(void *user, uint16_t seq)
{
    sim *s = user;
    s->retry_cause[seq_index(seq)]++;
}

/* kaigi's upstream NACKs, as the worker's nack_upstream makes them. */
static void kaigi_nack_up(sim *s, kg_time now)
{
    uint8_t buf[SIM_PKT];
    size_t n;
    ssize_t len = kg_track_nack_poll(s->tr, now, 1, buf, sizeof(buf), &n);
    assert_true(len >= 0);
    if (len == 0)
        return;
    nack_each(buf, (size_t)len, count_up_nack, s);
    if (!link_send(&s->down, buf, (size_t)len, now))
        nack_each(buf, (size_t)len, count_lost_nack, s);
}

/* A publisher packet at kaigi: the worker's forward_rtp, minus SRTP. */
static void kaigi_rtp(sim *s, const uint8_t *p, size_t len, kg_time now)
{
    kg_rtp_hdr h;
    kg_fwd fwd[SIM_RX];
    uint8_t out[SIM_PKT];
    assert_int_equal(kg_rtp_parse(p, len, &h), 0);
    if (kg_track_rtp_in(s->tr, p, len, h.seq, now) == KG_NACK_DUPLICATE) {
        s->dups++;
        return;
    }
    size_t n = kg_room_route(s->tr, &h, now, fwd, SIM_RX);
    for (size_t i = 0; i < n; i++) {
        sim_rx *r = (sim_rx *)((char *)fwd[i].sub - offsetof(sim_rx, tag));
        memcpy(out, p, len);
        kg_rtp_rewrite(out, fwd[i].pt, fwd[i].seq, fwd[i].ts, fwd[i].ssrc);
        link_send(&r->down, out, len, now);
    }
    if (kg_nack_gen_deadline(s->tr->nack) <= now)
        kaigi_nack_up(s, now);
}

typedef struct rx_nack_ctx {
    sim *s;
    sim_rx *r;
    const kg_route *rt;
    kg_time now;
} rx_nack_ctx;

static void kaigi_resend(void *user, uint16_t seq)
{
    rx_nack_ctx *c = user;
    uint8_t out[SIM_PKT];
    ssize_t len = kg_track_resend(c->s->tr, c->rt, seq, c->now, out,
                                  sizeof(out));
    if (len == KG_ERR_AGAIN) {
        c->s->kaigi_rtx_held++;
        return;
    }
    if (len < 0) {
        assert_int_equal(len, KG_ERR_NOTFOUND);
        c->s->kaigi_rtx_miss++;
        return;
    }
    c->s->kaigi_rtx++;
    link_send(&c->r->down, out, (size_t)len, c->now);
}

/* A receiver's NACK at kaigi: the worker's nack_answer. */
static void kaigi_rtcp(sim *s, sim_rx *r, const uint8_t *p, size_t len,
                       kg_time now)
{
    rx_nack_ctx c = {s, r, NULL, now};
    kg_route *rt = NULL;
    size_t off = 0;
    kg_rtcp_pkt rp;
    kg_rtcp_fb fb;
    assert_int_equal(kg_rtcp_next(p, len, &off, &rp), 1);
    assert_int_equal(kg_rtcp_parse_fb(&rp, &fb), 0);
    assert_ptr_equal(kg_room_find_by_out(&s->room, &r->tag, fb.media_ssrc,
                                         &rt),
                     s->tr);
    c.rt = rt;
    nack_each(p, len, kaigi_resend, &c);
}

static void rx_nack(sim_rx *r, kg_time now)
{
    uint16_t seqs[64];
    kg_rtcp_nack_item items[64];
    uint8_t buf[SIM_PKT];
    size_t n = kg_nack_gen_poll(&r->gen, now, seqs, 64);
    if (n == 0)
        return;
    r->nack_items += n;
    size_t ni = kg_rtcp_nack_pack(seqs, n, items, 64);
    ssize_t len = kg_rtcp_write_nack(r->out_ssrc + 100, r->out_ssrc, items,
                                     ni, buf, sizeof(buf));
    assert_true(len > 0);
    link_send(&r->up, buf, (size_t)len, now);
}

static void rx_rtp(sim *s, sim_rx *r, const uint8_t *p, size_t len,
                   kg_time now)
{
    kg_rtp_hdr h;
    kg_route *rt = NULL;
    assert_int_equal(kg_rtp_parse(p, len, &h), 0);
    assert_int_equal(h.ssrc, r->out_ssrc);
    assert_int_equal(h.pt, SIM_PT);
    assert_int_equal(h.payload_len, SIM_PAYLOAD);
    /* What arrives, first copy or resent, is what the publisher sent,
     * with this receiver's header. */
    unsigned i = kg_rd32(h.payload);
    assert_true(i < SIM_PACKETS);
    assert_non_null(kg_room_find_by_out(&s->room, &r->tag, r->out_ssrc, &rt));
    assert_int_equal((uint16_t)(h.seq - rt->seq_delta),
                     (uint16_t)(SIM_BASE_SEQ + i));
    assert_int_equal(h.ts - rt->ts_delta, 90000u + i / 3 * 3000u);
    if (!r->got[i]) {
        r->got[i] = 1;
        r->unique++;
    } else {
        s->rx_dups++;
    }
    kg_nack_gen_on_packet(&r->gen, h.seq, now);
    if (kg_nack_gen_deadline(&r->gen) <= now)
        rx_nack(r, now);
}

static void sim_run(sim *s)
{
    kg_time next_pub = 0;
    for (kg_time now = 0; now < SIM_END; now += KG_MS) {
        if (s->sent < SIM_PACKETS && now >= next_pub) {
            pub_send(s, now);
            next_pub += SIM_PERIOD;
        }
        sim_pkt *p;
        while ((p = link_due(&s->up, now)))
            kaigi_rtp(s, p->data, p->len, now);
        while ((p = link_due(&s->down, now))) {
            pub_nack_ctx c = {s, now};
            assert_int_equal(nack_each(p->data, p->len, pub_resend, &c),
                             SIM_SSRC);
        }
        for (int i = 0; i < SIM_RX; i++) {
            sim_rx *r = &s->rx[i];
            while ((p = link_due(&r->down, now)))
                rx_rtp(s, r, p->data, p->len, now);
            while ((p = link_due(&r->up, now)))
                kaigi_rtcp(s, r, p->data, p->len, now);
            if (now % (10 * KG_MS) == 0 &&
                kg_nack_gen_deadline(&r->gen) <= now)
                rx_nack(r, now);
        }
        /* the worker's 20 ms tick */
        if (now % (20 * KG_MS) == 0 &&
            kg_nack_gen_deadline(s->tr->nack) <= now)
            kaigi_nack_up(s, now);
    }
}

/* One packet lost between the publisher and kaigi, seen by 10 receivers
 * who all NACK it: kaigi asks the publisher once. */
static void test_sim_one_loss_one_upstream_nack(void **state)
{
    (void)state;
    sim *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    sim_init(s, 0, 1);
    s->drop_index = 1000;
    sim_run(s);
    assert_int_equal(s->up_nack_items, 1);
    assert_int_equal(s->up_nacks[1000], 1);
    assert_int_equal(s->pub_rtx, 1);
    uint64_t rx_nacks = 0;
    for (int i = 0; i < SIM_RX; i++) {
        assert_int_equal(s->rx[i].unique, SIM_PACKETS);
        rx_nacks += s->rx[i].nack_items;
    }
    /* Every receiver asked once; kaigi answered from its cache or, if
     * the retransmission had not come yet, left it to the one upstream
     * request. */
    assert_int_equal(rx_nacks, SIM_RX);
    assert_int_equal(s->kaigi_rtx + s->kaigi_rtx_miss + s->kaigi_rtx_held,
                     SIM_RX);
    /* The NACKs that crossed the recovered copy are not answered: no
     * receiver gets the packet twice. */
    assert_int_equal(s->rx_dups, 0);
    assert_int_equal(s->tr->nack->recovered, 1);
    sim_free(s);
    free(s);
}

/* 5 % random loss and 50 ms delay on every link, both ways. */
static void test_sim_lossy(void **state)
{
    (void)state;
    sim *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    sim_init(s, 50, 0x6b61696769ull);
    sim_run(s);
    unsigned worst = SIM_PACKETS;
    uint64_t rx_nacks = 0, rx_lost = 0;
    for (int i = 0; i < SIM_RX; i++) {
        if (s->rx[i].unique < worst)
            worst = s->rx[i].unique;
        rx_nacks += s->rx[i].nack_items;
        rx_lost += s->rx[i].down.dropped;
    }
    /* Upstream NACKs per lost packet: one, plus one per NACK or
     * retransmission of it that the link lost; never one per receiver. */
    unsigned max_per_seq = 0, lost_up = 0, over = 0;
    for (unsigned i = 0; i < SIM_PACKETS; i++) {
        if (s->up_nacks[i] > max_per_seq)
            max_per_seq = s->up_nacks[i];
        lost_up += s->up_nacks[i] > 0;
        if (s->up_nacks[i] > 1 + s->retry_cause[i])
            over++;
    }
    char msg[640];
    snprintf(msg, sizeof(msg),
             "sim 5%% loss 50 ms: worst receiver %u/%u (%.2f%%); upstream: "
             "%llu of %llu dropped, %u packets NACKed, %llu NACK items, max "
             "%u per packet, %llu publisher resends, %llu dups dropped; "
             "receivers: %llu NACK items, %llu kaigi resends, %llu not in "
             "cache, %llu held off, %llu downstream drops, %llu duplicates "
             "received\n",
             worst, SIM_PACKETS, 100.0 * worst / SIM_PACKETS,
             (unsigned long long)s->up.dropped,
             (unsigned long long)s->up.sent, lost_up,
             (unsigned long long)s->up_nack_items, max_per_seq,
             (unsigned long long)s->pub_rtx, (unsigned long long)s->dups,
             (unsigned long long)rx_nacks, (unsigned long long)s->kaigi_rtx,
             (unsigned long long)s->kaigi_rtx_miss,
             (unsigned long long)s->kaigi_rtx_held,
             (unsigned long long)rx_lost, (unsigned long long)s->rx_dups);
    print_message("%s", msg);
    assert_true(worst * 100 >= SIM_PACKETS * 99);
    assert_int_equal(over, 0);
    assert_true(lost_up > 80); /* the test did lose packets upstream */
    assert_true(s->up_nack_items < rx_nacks / 5);
    sim_free(s);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cache_put_get),
        cmocka_unit_test(test_cache_byte_ring),
        cmocka_unit_test(test_cache_ring_grows),
        cmocka_unit_test(test_cache_grow_forgets_overwritten),
        cmocka_unit_test(test_gen_in_order_and_gap),
        cmocka_unit_test(test_gen_wrap_and_reorder),
        cmocka_unit_test(test_gen_give_up),
        cmocka_unit_test(test_gen_bounded_and_reset),
        cmocka_unit_test(test_gen_learns_rtt),
        cmocka_unit_test(test_track_resend),
        cmocka_unit_test(test_sim_one_loss_one_upstream_nack),
        cmocka_unit_test(test_sim_lossy),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
