#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "codec/video.h"
#include "codec/vp8.h"
#include "relay/simulcast.h"

/* ---- synthetic packets ---- */

/* A VP8 payload: X=1, I=1 (15-bit or 7-bit picture ID), optional
 * TL0PICIDX, S=1/PID=0 when start, then a one-byte frame tag whose low bit
 * is 0 for a keyframe. Returns the length. */
static size_t syn_payload(uint8_t *buf, bool start, bool key, uint16_t pic,
                          bool pic16, int tl0)
{
    size_t n = 0;
    buf[n++] = (uint8_t)(0x80 | (start ? 0x10 : 0));
    buf[n++] = (uint8_t)(0x80 | (tl0 >= 0 ? 0x40 : 0));
    if (pic16) {
        buf[n++] = (uint8_t)(0x80 | ((pic >> 8) & 0x7f));
        buf[n++] = (uint8_t)(pic & 0xff);
    } else {
        buf[n++] = (uint8_t)(pic & 0x7f);
    }
    if (tl0 >= 0)
        buf[n++] = (uint8_t)tl0;
    buf[n++] = key ? 0x00 : 0x01;
    buf[n++] = 0xaa;
    return n;
}

static kg_rtp_hdr syn_hdr(uint32_t ssrc, uint16_t seq, uint32_t ts,
                          const uint8_t *payload, size_t len)
{
    kg_rtp_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = 2;
    h.pt = 96;
    h.ssrc = ssrc;
    h.seq = seq;
    h.ts = ts;
    h.payload = payload;
    h.payload_len = len;
    return h;
}

static void three_layers(kg_sc_track *t)
{
    kg_sc_track_init(t);
    assert_int_equal(kg_sc_track_set_layer(t, 0, 0x100, 150000), 0);
    assert_int_equal(kg_sc_track_set_layer(t, 1, 0x200, 500000), 0);
    assert_int_equal(kg_sc_track_set_layer(t, 2, 0x300, 1500000), 0);
}

static void test_layers_declared(void **state)
{
    (void)state;
    kg_sc_track t;
    three_layers(&t);
    assert_int_equal(kg_sc_track_layer_of(&t, 0x200), 1);
    assert_int_equal(kg_sc_track_layer_of(&t, 0x999), -1);
    assert_int_equal(kg_sc_track_layer_of(&t, 0), -1);
    assert_int_equal(kg_sc_track_set_layer(&t, 0, 0x300, 0), KG_ERR_EXISTS);
    assert_int_equal(kg_sc_track_set_layer(&t, 3, 0x400, 0), KG_ERR_INVAL);
    assert_int_equal(kg_sc_track_set_layer(&t, 0, 0, 0), KG_ERR_INVAL);
    assert_int_equal(kg_sc_layer_bps(&t, 2), 1500000);
}

/* Feeds one synthetic frame (one packet) on each of the three layers at
 * now; layer i's n-th frame has seq base[i]+n. Returns which layer r got
 * (-1: none) and its output in *out. */
struct syn {
    kg_sc_track t;
    uint16_t seq[KG_SC_LAYERS];
    uint32_t ts[KG_SC_LAYERS];
    uint16_t pic[KG_SC_LAYERS];
    bool key_next[KG_SC_LAYERS];
};

static unsigned syn_frame(struct syn *s, kg_sc_receiver *r, size_t nr,
                          kg_time now, kg_sc_out *out, bool pic16)
{
    unsigned got = 0;
    for (int i = 0; i < KG_SC_LAYERS; i++) {
        uint8_t p[16];
        size_t len = syn_payload(p, true, s->key_next[i], s->pic[i], pic16,
                                 -1);
        s->key_next[i] = false;
        kg_rtp_hdr h = syn_hdr(s->t.layer[i].ssrc, s->seq[i], s->ts[i], p,
                               len);
        kg_sc_track_on_packet(&s->t, i, 100 * (size_t)(1 + i * 3), p, len,
                              now);
        for (size_t k = 0; k < nr; k++) {
            kg_sc_out o;
            if (kg_sc_forward(&s->t, &r[k], i, &h, now, &o) == 1 && k == 0) {
                got |= 1u << i;
                out[i] = o;
            }
        }
        s->seq[i]++;
        s->ts[i] += 3000;
        s->pic[i] = (uint16_t)((s->pic[i] + 1) & (pic16 ? 0x7fff : 0x7f));
    }
    return got;
}

/* Ten receivers that all switch layers within one pli_interval make one
 * PLI per layer; one that keeps waiting re-asks after kf_retry, and the
 * publisher still sees at most one PLI per layer per 500 ms. */
static void test_keyframe_requests_merged(void **state)
{
    (void)state;
    struct syn s;
    memset(&s, 0, sizeof(s));
    three_layers(&s.t);
    s.seq[0] = 10;
    s.seq[1] = 2000;
    s.seq[2] = 60000;
    kg_sc_receiver r[10];
    kg_time now = 5 * KG_SEC;
    /* Warm up: layers arrive, measured rates become known. */
    for (int f = 0; f < 40; f++, now += 33 * KG_MS)
        syn_frame(&s, NULL, 0, now, NULL, true);
    unsigned plis[KG_SC_LAYERS] = {0};
    kg_time last[KG_SC_LAYERS] = {0};
    kg_time next = 0, next_frame = now;
    kg_time start = now, end = now + 3 * KG_SEC;
    int joined = 0;
    for (kg_time t = start; t < end; t += 10 * KG_MS) {
        /* Layers keep arriving (no keyframe: the publisher ignores the
         * PLIs); the receivers join one every 30 ms. */
        if (t >= next_frame) {
            syn_frame(&s, NULL, 0, t, NULL, true);
            next_frame += 33 * KG_MS;
        }
        while (joined < 10 && t >= start + (kg_time)joined * 30 * KG_MS) {
            kg_sc_receiver_init(&r[joined], 2, (uint16_t)(joined * 1000),
                                7u * (unsigned)joined);
            kg_sc_receiver_set_estimate(&r[joined], 100000000);
            joined++;
        }
        for (int k = 0; k < joined; k++)
            assert_int_equal(kg_sc_receiver_update(&s.t, &r[k], t), 2);
        unsigned mask = kg_sc_track_poll_keyframes(&s.t, t, &next);
        for (int i = 0; i < KG_SC_LAYERS; i++) {
            if (!(mask & (1u << i)))
                continue;
            if (plis[i] > 0)
                assert_true(t - last[i] >= 500 * KG_MS);
            plis[i]++;
            last[i] = t;
        }
    }
    /* The first PLI goes at once, later ones at most every 500 ms: the
     * receivers re-ask every kf_retry (1 s) since no keyframe came, ten
     * of them spread over 300 ms, so 3 s give at most 7. */
    print_message("PLIs for layer 2 over 3 s, 10 receivers waiting: %u\n",
                  plis[2]);
    assert_true(plis[2] >= 3 && plis[2] <= 7);
    assert_int_equal(plis[0], 0);
    assert_int_equal(plis[1], 0);
    /* A request inside the interval waits and the deadline says when. */
    kg_sc_track_want_keyframe(&s.t, 2);
    assert_int_equal(kg_sc_track_poll_keyframes(&s.t, last[2] + KG_MS, &next),
                     0);
    assert_true(next == last[2] + 500 * KG_MS);
    assert_int_equal(kg_sc_track_poll_keyframes(&s.t, next, NULL), 4u);
    /* A keyframe satisfies a pending request. */
    kg_sc_track_want_keyframe(&s.t, 1);
    s.key_next[1] = true;
    syn_frame(&s, NULL, 0, next + KG_SEC, NULL, true);
    assert_int_equal(kg_sc_track_poll_keyframes(&s.t, next + KG_SEC, NULL),
                     0);
}

/* Rewriting on synthetic packets: seq without a gap at a switch, gaps
 * inside a layer kept, late packets dropped, 7-bit picture IDs continue
 * modulo 128, TL0PICIDX continues. */
static void test_rewrite_synthetic(void **state)
{
    (void)state;
    struct syn s;
    memset(&s, 0, sizeof(s));
    three_layers(&s.t);
    s.seq[0] = 65530; /* wraps during the test */
    s.seq[1] = 100;
    s.seq[2] = 40000;
    s.ts[0] = 0xfffff000u;
    s.ts[1] = 5;
    s.ts[2] = 123456;
    s.pic[0] = 120; /* 7-bit, wraps */
    s.pic[1] = 3;
    s.pic[2] = 77;
    s.t.up_hold = 0;
    kg_time now = KG_SEC;
    kg_sc_receiver r;
    kg_sc_receiver_init(&r, 2, 65535, 1000);
    /* Declared rates 150k/500k/1.5M: 200k fits layer 0 only. */
    kg_sc_receiver_set_estimate(&r, 200000);
    kg_sc_out o[KG_SC_LAYERS];
    /* Nothing arrives before the keyframe of layer 0. */
    for (int f = 0; f < 3; f++, now += 33 * KG_MS)
        assert_int_equal(syn_frame(&s, &r, 1, now, o, false), 0);
    s.key_next[0] = true;
    assert_int_equal(syn_frame(&s, &r, 1, now, o, false), 1u);
    assert_true(o[0].switched);
    assert_int_equal(o[0].seq, 65535);
    assert_int_equal(o[0].ts, 1000);
    uint16_t last_seq = o[0].seq;
    uint32_t last_ts = o[0].ts;
    uint16_t last_pic = o[0].pic;
    for (int f = 0; f < 10; f++) {
        now += 33 * KG_MS;
        assert_int_equal(syn_frame(&s, &r, 1, now, o, false), 1u);
        assert_false(o[0].switched);
        assert_int_equal(o[0].seq, (uint16_t)(last_seq + 1));
        assert_int_equal(o[0].ts, last_ts + 3000);
        assert_int_equal(o[0].pic, (last_pic + 1) & 0x7f);
        last_seq = o[0].seq;
        last_ts = o[0].ts;
        last_pic = o[0].pic;
    }
    /* A gap inside the layer stays a gap. */
    s.seq[0] += 2;
    now += 33 * KG_MS;
    assert_int_equal(syn_frame(&s, &r, 1, now, o, false), 1u);
    assert_int_equal(o[0].seq, (uint16_t)(last_seq + 3));
    /* More bandwidth: the target becomes layer 2 (up_hold is 0 here),
     * layer 0 goes on until layer 2's keyframe. */
    kg_sc_receiver_set_estimate(&r, 100000000);
    now += 33 * KG_MS;
    assert_int_equal(syn_frame(&s, &r, 1, now, o, false), 1u);
    assert_int_equal(r.target, 2);
    s.key_next[2] = true;
    now += 33 * KG_MS;
    /* In the switch frame layer 0's packet (it comes first) still goes
     * out, then layer 2's keyframe follows it without a gap. */
    assert_int_equal(syn_frame(&s, &r, 1, now, o, false), 1u | 4u);
    assert_true(o[2].switched);
    assert_int_equal(o[2].seq, (uint16_t)(o[0].seq + 1));
    assert_int_equal(o[2].ts, o[0].ts + 3000);
    assert_int_equal(o[2].pic, (o[0].pic + 1) & 0x7f);
    last_seq = o[2].seq;
    now += 33 * KG_MS;
    assert_int_equal(syn_frame(&s, &r, 1, now, o, false), 4u);
    assert_int_equal(o[2].seq, (uint16_t)(last_seq + 1));
    assert_int_equal(r.switches, 2);
    /* A late layer-2 packet from before the switch is dropped. */
    uint8_t p[16];
    size_t len = syn_payload(p, false, false, 1, false, -1);
    kg_rtp_hdr h = syn_hdr(0x300, (uint16_t)(s.seq[2] - 5), 0, p, len);
    uint64_t dropped = r.dropped;
    assert_int_equal(kg_sc_forward(&s.t, &r, 2, &h, now, &o[0]), 0);
    assert_int_equal(r.dropped, dropped + 1);

    /* The rewrite writes the picture ID in place, 7- and 15-bit, and
     * TL0PICIDX; a bad descriptor is an error and is left alone. */
    kg_sc_out w = {.has_pic = true, .pic = 0x1234, .has_tl0 = true,
                   .tl0 = 9};
    len = syn_payload(p, true, false, 0x7fff, true, 200);
    assert_int_equal(kg_sc_rewrite_vp8(&w, p, len), 0);
    kg_vp8_desc d;
    assert_int_equal(kg_vp8_desc_parse(p, len, &d), 0);
    assert_true(d.picture_id_16);
    assert_int_equal(d.picture_id, 0x1234);
    assert_int_equal(d.tl0picidx, 9);
    len = syn_payload(p, true, false, 5, false, 1);
    assert_int_equal(kg_sc_rewrite_vp8(&w, p, len), 0);
    assert_int_equal(kg_vp8_desc_parse(p, len, &d), 0);
    assert_false(d.picture_id_16);
    assert_int_equal(d.picture_id, 0x34);
    assert_int_equal(d.tl0picidx, 9);
    uint8_t bad[2] = {0x80, 0x80};
    assert_int_equal(kg_sc_rewrite_vp8(&w, bad, sizeof(bad)), KG_ERR_TRUNC);
}

/* max_layer caps the choice whatever the estimate; a layer that stops
 * arriving is left for a live one. */
static void test_max_layer_and_stale(void **state)
{
    (void)state;
    struct syn s;
    memset(&s, 0, sizeof(s));
    three_layers(&s.t);
    kg_time now = KG_SEC;
    for (int f = 0; f < 40; f++, now += 33 * KG_MS)
        syn_frame(&s, NULL, 0, now, NULL, true);
    kg_sc_receiver r;
    kg_sc_receiver_init(&r, 1, 0, 0);
    kg_sc_receiver_set_estimate(&r, 100000000);
    assert_int_equal(kg_sc_receiver_update(&s.t, &r, now), 1);
    kg_sc_receiver_set_max_layer(&r, 7);
    assert_int_equal(r.max_layer, 2);
    assert_int_equal(kg_sc_receiver_update(&s.t, &r, now), 2);
    /* Layer 2 falls silent for longer than stale_after. */
    s.t.layer[2].last_packet = now - 2 * KG_SEC;
    assert_int_equal(kg_sc_receiver_update(&s.t, &r, now), 1);
}

/* Hysteresis: an estimate that keeps dipping under the top layer's rate
 * x up_factor never moves the receiver up; one that stays above it for
 * up_hold does, and a drop below the current layer's rate moves it down
 * at once. */
static void test_upswitch_hold(void **state)
{
    (void)state;
    struct syn s;
    memset(&s, 0, sizeof(s));
    three_layers(&s.t);
    kg_time now = KG_SEC;
    for (int f = 0; f < 40; f++, now += 33 * KG_MS)
        syn_frame(&s, NULL, 0, now, NULL, true);
    uint64_t b2 = kg_sc_layer_bps(&s.t, 2), b1 = kg_sc_layer_bps(&s.t, 1);
    assert_true(b2 > 0 && b1 > 0);
    kg_sc_receiver r;
    kg_sc_receiver_init(&r, 2, 0, 0);
    kg_sc_receiver_set_estimate(&r, b1 * 11 / 10); /* layer 1 only */
    assert_int_equal(kg_sc_receiver_update(&s.t, &r, now), 1);
    s.key_next[1] = true;
    kg_sc_out o[KG_SC_LAYERS];
    now += 33 * KG_MS;
    syn_frame(&s, &r, 1, now, o, true);
    assert_int_equal(r.cur, 1);
    /* 6 s of an estimate flipping every 0.9 s between 1.3 and 1.1 x b2. */
    for (int f = 0; f < 180; f++) {
        now += 33 * KG_MS;
        bool high = (now / (900 * KG_MS)) % 2 == 0;
        kg_sc_receiver_set_estimate(&r, high ? b2 * 13 / 10 : b2 * 11 / 10);
        syn_frame(&s, &r, 1, now, o, true);
        assert_int_equal(r.target, 1);
    }
    /* Steady at 1.3 x b2: up after 2 s, not before. */
    kg_sc_receiver_set_estimate(&r, b2 * 13 / 10);
    kg_time start = now;
    while (r.target == 1 && now - start < 3 * KG_SEC) {
        now += 33 * KG_MS;
        syn_frame(&s, &r, 1, now, o, true);
    }
    assert_int_equal(r.target, 2);
    assert_true(now - start >= 2 * KG_SEC - 33 * KG_MS);
    /* Below layer 1's rate: down to 0 on the next update. */
    kg_sc_receiver_set_estimate(&r, b1 / 2);
    assert_int_equal(kg_sc_receiver_update(&s.t, &r, now), 0);
}

/* ---- the libvpx test ---- */

#define N_FRAMES 150
#define FPS 30
#define KF_DELAY 4 /* frames between a PLI and the publisher's keyframe */
#define MAX_PAYLOAD 1000

static const unsigned W[KG_SC_LAYERS] = {160, 320, 640};
static const unsigned H[KG_SC_LAYERS] = {90, 180, 360};
static const unsigned KBPS[KG_SC_LAYERS] = {100, 300, 900};

struct pub_layer {
    kg_vp8_enc *enc;
    uint16_t seq;
    uint32_t ts;
    uint16_t pic;
    int kf_at; /* frame at which a requested keyframe is produced, or -1 */
};

struct emit_ctx {
    uint8_t pkts[64][MAX_PAYLOAD];
    size_t len[64];
    bool last[64];
    size_t n;
};

static int emit(void *user, const uint8_t *payload, size_t len, bool last)
{
    struct emit_ctx *c = user;
    assert_true(c->n < 64);
    memcpy(c->pkts[c->n], payload, len);
    c->len[c->n] = len;
    c->last[c->n] = last;
    c->n++;
    return 0;
}

/* What the receiver got, checked as it arrives. */
struct rx {
    kg_vp8_depacketizer dep;
    kg_vp8_dec *dec;
    bool have;
    uint16_t seq;
    uint32_t ts;
    uint16_t pic;
    int frame_layer; /* layer of the frame being received */
    unsigned frames, decode_errors;
    unsigned width_at[N_FRAMES]; /* decoded width per source frame */
    int switch_at[8];
    int switch_layer[8];
    int n_switches;
};

static void rx_packet(struct rx *x, const kg_sc_out *o, const uint8_t *p,
                      size_t len, bool marker, int frame_no)
{
    kg_vp8_desc d;
    assert_int_equal(kg_vp8_desc_parse(p, len, &d), 0);
    if (x->have) {
        /* One continuous stream: no seq gap, a new frame moves the
         * timestamp forward by a sane step and the picture ID by one. */
        assert_int_equal(o->seq, (uint16_t)(x->seq + 1));
        int32_t dts = (int32_t)(o->ts - x->ts);
        if (dts != 0) {
            assert_true(dts > 0 && dts <= 3 * 90000 / FPS);
            assert_int_equal(d.picture_id, (x->pic + 1) & 0x7fff);
        } else {
            assert_int_equal(d.picture_id, x->pic);
            assert_int_equal(o->layer, x->frame_layer);
        }
    }
    if (o->switched) {
        assert_true(kg_vp8_is_keyframe(p, len));
        assert_true(x->n_switches < 8);
        x->switch_at[x->n_switches] = frame_no;
        x->switch_layer[x->n_switches] = o->layer;
        x->n_switches++;
    }
    x->have = true;
    x->seq = o->seq;
    x->ts = o->ts;
    x->pic = d.picture_id;
    x->frame_layer = o->layer;
    const uint8_t *frame;
    size_t flen;
    int rc = kg_vp8_depacketizer_push(&x->dep, o->seq, o->ts, marker, p, len,
                                      &frame, &flen);
    assert_true(rc >= 0);
    if (rc == 1) {
        unsigned w = 0, h = 0;
        if (kg_vp8_decode(x->dec, frame, flen, &w, &h) != 0)
            x->decode_errors++;
        x->frames++;
        x->width_at[frame_no] = w;
    }
}

/* Encodes frame n on every layer, honours the publisher's pending
 * keyframe requests, and runs each packet through the selector. */
static void run_frame(struct pub_layer *pub, kg_sc_track *t,
                      kg_sc_receiver *r, struct rx *x, int n, kg_time now)
{
    unsigned mask = kg_sc_track_poll_keyframes(t, now, NULL);
    for (int i = 0; i < KG_SC_LAYERS; i++) {
        if ((mask & (1u << i)) && pub[i].kf_at < 0)
            pub[i].kf_at = n + KF_DELAY;
        bool force = pub[i].kf_at == n;
        if (force)
            pub[i].kf_at = -1;
        const uint8_t *frame;
        size_t len;
        bool key;
        assert_int_equal(kg_vp8_enc_frame(pub[i].enc, (uint32_t)n, 7, force,
                                          &frame, &len, &key),
                         0);
        assert_int_equal(key, force || n == 0);
        struct emit_ctx c;
        c.n = 0;
        assert_true(kg_vp8_packetize(frame, len, pub[i].pic, MAX_PAYLOAD,
                                     emit, &c) > 0);
        pub[i].pic = (uint16_t)((pub[i].pic + 1) & 0x7fff);
        for (size_t k = 0; k < c.n; k++) {
            kg_rtp_hdr h = syn_hdr(t->layer[i].ssrc, pub[i].seq++, pub[i].ts,
                                   c.pkts[k], c.len[k]);
            h.marker = c.last[k];
            kg_sc_track_on_packet(t, i, c.len[k] + 12, c.pkts[k], c.len[k],
                                  now);
            kg_sc_out o;
            if (r && kg_sc_forward(t, r, i, &h, now, &o) == 1) {
                /* The receiver's own copy is rewritten, as the worker
                 * does before it protects the packet. */
                uint8_t copy[MAX_PAYLOAD];
                memcpy(copy, c.pkts[k], c.len[k]);
                assert_int_equal(kg_sc_rewrite_vp8(&o, copy, c.len[k]), 0);
                rx_packet(x, &o, copy, c.len[k], h.marker, n);
            }
        }
        pub[i].ts += 90000 / FPS;
    }
}

/* Three libvpx layers (160x90, 320x180, 640x360), keyframes only when
 * asked. A receiver joins with a high estimate and gets the top layer at
 * its first keyframe; its estimate drops below the top layer and it goes
 * to the middle one at that layer's next keyframe (and not before); the
 * estimate recovers and it goes back up after the hold time, again at a
 * keyframe. Every frame it receives decodes. */
static void test_libvpx_switch(void **state)
{
    (void)state;
    struct pub_layer pub[KG_SC_LAYERS];
    kg_sc_track t;
    kg_sc_track_init(&t);
    t.up_hold = 1 * KG_SEC; /* shorter than the default 2 s, for speed */
    const uint16_t seq0[] = {65000, 7, 33333};
    const uint32_t ts0[] = {0xffff0000u, 12345, 0x80000000u};
    const uint16_t pic0[] = {32700, 0, 9999};
    for (int i = 0; i < KG_SC_LAYERS; i++) {
        pub[i].enc = kg_vp8_enc_new(W[i], H[i], FPS, KBPS[i], 0);
        assert_non_null(pub[i].enc);
        pub[i].seq = seq0[i];
        pub[i].ts = ts0[i];
        pub[i].pic = pic0[i];
        pub[i].kf_at = -1;
        assert_int_equal(kg_sc_track_set_layer(&t, i, 0x1000u * (unsigned)(i + 1),
                                               KBPS[i] * 1000),
                         0);
    }
    struct rx x;
    memset(&x, 0, sizeof(x));
    assert_int_equal(kg_vp8_depacketizer_init(&x.dep), 0);
    x.dec = kg_vp8_dec_new();
    assert_non_null(x.dec);
    kg_sc_receiver r;
    const int join = 30, drop = 60, recover = 90;
    kg_time now = 10 * KG_SEC;
    uint64_t mid_estimate = 0;
    for (int n = 0; n < N_FRAMES; n++, now += KG_SEC / FPS) {
        if (n == join) {
            kg_sc_receiver_init(&r, 2, 500, 90000);
            kg_sc_receiver_set_estimate(&r, 10000000);
            assert_int_equal(kg_sc_receiver_update(&t, &r, now), 2);
        }
        if (n == drop) {
            uint32_t b1 = kg_sc_layer_bps(&t, 1), b2 = kg_sc_layer_bps(&t, 2);
            print_message("measured layer rates: %u %u %u bit/s\n",
                          kg_sc_layer_bps(&t, 0), b1, b2);
            assert_true(b2 >= b1 * 2);
            mid_estimate = b1 * 14 / 10;
            kg_sc_receiver_set_estimate(&r, mid_estimate);
            assert_int_equal(kg_sc_receiver_update(&t, &r, now), 1);
            assert_int_equal(r.cur, 2); /* not before the keyframe */
        }
        if (n == recover)
            kg_sc_receiver_set_estimate(&r, 10000000);
        run_frame(pub, &t, n >= join ? &r : NULL, &x, n, now);
    }
    print_message("switches at frames:");
    for (int k = 0; k < x.n_switches; k++)
        print_message(" %d (layer %d)", x.switch_at[k], x.switch_layer[k]);
    print_message("; %u frames decoded, %u errors, %llu broken\n", x.frames,
                  x.decode_errors, (unsigned long long)x.dep.frames_dropped);
    /* Join: a PLI at the join frame, the keyframe KF_DELAY frames later. */
    assert_int_equal(x.n_switches, 3);
    assert_int_equal(x.switch_layer[0], 2);
    assert_int_equal(x.switch_at[0], join + KF_DELAY);
    /* Down at the middle layer's keyframe, not before. */
    assert_int_equal(x.switch_layer[1], 1);
    assert_int_equal(x.switch_at[1], drop + KF_DELAY);
    for (int n = drop; n < x.switch_at[1]; n++)
        assert_int_equal(x.width_at[n], 640);
    assert_int_equal(x.width_at[x.switch_at[1]], 320);
    /* Up again once the estimate has allowed it for up_hold. */
    assert_int_equal(x.switch_layer[2], 2);
    assert_true(x.switch_at[2] >= recover + FPS);
    assert_true(x.switch_at[2] <= recover + FPS + 2 + KF_DELAY);
    assert_int_equal(x.width_at[x.switch_at[2]], 640);
    assert_int_equal(x.width_at[N_FRAMES - 1], 640);
    /* Every frame from the join keyframe on came out and decoded; in
     * the up-switch frame the middle layer's frame (its packets come
     * first) went out too, then the top layer's keyframe. */
    assert_int_equal(x.frames, N_FRAMES - x.switch_at[0] + 1);
    assert_int_equal(x.decode_errors, 0);
    assert_int_equal(x.dep.frames_dropped, 0);
    /* Three switches asked for three keyframes (+ the encoders' first). */
    assert_int_equal(t.layer[2].keyframes, 3);
    assert_int_equal(t.layer[1].keyframes, 2);
    assert_int_equal(t.layer[0].keyframes, 1);
    kg_vp8_dec_del(x.dec);
    kg_vp8_depacketizer_free(&x.dep);
    for (int i = 0; i < KG_SC_LAYERS; i++)
        kg_vp8_enc_del(pub[i].enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layers_declared),
        cmocka_unit_test(test_keyframe_requests_merged),
        cmocka_unit_test(test_rewrite_synthetic),
        cmocka_unit_test(test_max_layer_and_stale),
        cmocka_unit_test(test_upswitch_hold),
        cmocka_unit_test(test_libvpx_switch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
