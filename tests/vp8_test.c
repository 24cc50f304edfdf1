#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "codec/video.h"
#include "codec/vp8.h"

/* ---- payload descriptor vectors (RFC 7741 4.2) ---- */

struct desc_vec {
    const char *name;
    const uint8_t *bytes;
    size_t len;      /* whole payload: descriptor + VP8 data */
    kg_vp8_desc want;
};

static const uint8_t v_min[] = {
    0x10, // X=0 R=0 N=0 S=1 R=0 PID=0
    0x9d, // VP8 data
};

static const uint8_t v_x_empty[] = {
    0x80, // X=1 S=0 PID=0
    0x00, // I=0 L=0 T=0 K=0: extension byte present but empty
    0x55, // VP8 data
};

static const uint8_t v_pic7[] = {
    0x90, // X=1 S=1 PID=0
    0x80, // I=1
    0x2a, // M=0 PictureID=42 (7 bit)
    0x50, 0x42, // VP8 data
};

static const uint8_t v_pic15_ltk[] = {
    0xb3, // X=1 N=1 S=1 PID=3
    0xf0, // I=1 L=1 T=1 K=1
    0x81, 0x23, // M=1 PictureID=0x0123 (15 bit)
    0x45, // TL0PICIDX=0x45
    0xa5, // TID=2 Y=1 KEYIDX=5
    0x01, // VP8 data
};

static const uint8_t v_pic7_t[] = {
    0x84, // X=1 S=0 PID=4
    0xa0, // I=1 T=1
    0x7f, // M=0 PictureID=127
    0x40, // TID=1 Y=0 KEYIDX=0 (K=0)
    0xff, 0xee, // VP8 data
};

static const uint8_t v_l_k[] = {
    0xa0, // X=1 N=1 S=0 PID=0
    0x50, // L=1 K=1
    0x00, // TL0PICIDX=0
    0x1f, // TID=0 Y=0 KEYIDX=31
    0x00, // VP8 data
};

static const uint8_t v_pic15_max[] = {
    0x90, // X=1 S=1 PID=0
    0x80, // I=1
    0xff, 0xff, // M=1 PictureID=0x7fff
    0x9d, 0x01, 0x2a, // VP8 data
};

static const struct desc_vec vectors[] = {
    {"min", v_min, sizeof(v_min), {.s = true, .len = 1}},
    {"x-empty", v_x_empty, sizeof(v_x_empty), {.x = true, .len = 2}},
    {"pic7", v_pic7, sizeof(v_pic7),
     {.x = true, .s = true, .has_picture_id = true, .picture_id = 42,
      .len = 3}},
    {"pic15-ltk", v_pic15_ltk, sizeof(v_pic15_ltk),
     {.x = true, .n = true, .s = true, .pid = 3, .has_picture_id = true,
      .picture_id_16 = true, .picture_id = 0x0123, .has_tl0picidx = true,
      .tl0picidx = 0x45, .has_tid = true, .tid = 2, .y = true,
      .has_keyidx = true, .keyidx = 5, .len = 6}},
    {"pic7-t", v_pic7_t, sizeof(v_pic7_t),
     {.x = true, .pid = 4, .has_picture_id = true, .picture_id = 127,
      .has_tid = true, .tid = 1, .len = 4}},
    {"l-k", v_l_k, sizeof(v_l_k),
     {.x = true, .n = true, .has_tl0picidx = true, .tl0picidx = 0,
      .has_keyidx = true, .keyidx = 31, .len = 4}},
    {"pic15-max", v_pic15_max, sizeof(v_pic15_max),
     {.x = true, .s = true, .has_picture_id = true, .picture_id_16 = true,
      .picture_id = 0x7fff, .len = 4}},
};

static void assert_desc_equal(const kg_vp8_desc *a, const kg_vp8_desc *b)
{
    assert_int_equal(a->x, b->x);
    assert_int_equal(a->n, b->n);
    assert_int_equal(a->s, b->s);
    assert_int_equal(a->pid, b->pid);
    assert_int_equal(a->has_picture_id, b->has_picture_id);
    assert_int_equal(a->picture_id_16, b->picture_id_16);
    assert_int_equal(a->picture_id, b->picture_id);
    assert_int_equal(a->has_tl0picidx, b->has_tl0picidx);
    assert_int_equal(a->tl0picidx, b->tl0picidx);
    assert_int_equal(a->has_tid, b->has_tid);
    assert_int_equal(a->tid, b->tid);
    assert_int_equal(a->y, b->y);
    assert_int_equal(a->has_keyidx, b->has_keyidx);
    assert_int_equal(a->keyidx, b->keyidx);
    assert_int_equal(a->len, b->len);
}

static void test_desc_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < KG_ARRAY_LEN(vectors); i++) {
        const struct desc_vec *v = &vectors[i];
        kg_vp8_desc d;
        print_message("vector %s\n", v->name);
        assert_int_equal(kg_vp8_desc_parse(v->bytes, v->len, &d), 0);
        assert_desc_equal(&d, &v->want);

        uint8_t out[16];
        ssize_t n = kg_vp8_desc_write(&d, out, sizeof(out));
        assert_int_equal(n, (ssize_t)v->want.len);
        assert_memory_equal(out, v->bytes, v->want.len);
        /* The exact size fits; one byte less does not, at every cap. */
        for (size_t cap = 0; cap < v->want.len; cap++)
            assert_int_equal(kg_vp8_desc_write(&d, out, cap),
                             KG_ERR_NOSPACE);
        assert_int_equal(kg_vp8_desc_write(&d, out, v->want.len),
                         (ssize_t)v->want.len);
    }
}

static void test_desc_truncation(void **state)
{
    (void)state;
    for (size_t i = 0; i < KG_ARRAY_LEN(vectors); i++) {
        const struct desc_vec *v = &vectors[i];
        kg_vp8_desc d;
        /* Cut inside the descriptor: truncated. Exactly the descriptor
         * with no VP8 byte after it: malformed. */
        for (size_t k = 0; k < v->want.len; k++)
            assert_int_equal(kg_vp8_desc_parse(v->bytes, k, &d),
                             KG_ERR_TRUNC);
        assert_int_equal(kg_vp8_desc_parse(v->bytes, v->want.len, &d),
                         KG_ERR_MALFORMED);
        for (size_t k = v->want.len + 1; k <= v->len; k++)
            assert_int_equal(kg_vp8_desc_parse(v->bytes, k, &d), 0);
    }
}

static void test_desc_reserved_bits_ignored(void **state)
{
    (void)state;
    static const uint8_t p[] = {
        0x58, // X=0 R=1 N=0 S=1 R=1 PID=0
        0x00, // VP8 data
    };
    static const uint8_t x[] = {
        0x80, // X=1
        0x8f, // I=1 RSV=0xf
        0x05, // PictureID=5
        0x00, // VP8 data
    };
    kg_vp8_desc d;
    assert_int_equal(kg_vp8_desc_parse(p, sizeof(p), &d), 0);
    assert_true(d.s);
    assert_false(d.x);
    assert_int_equal(d.pid, 0);
    assert_int_equal(d.len, 1);
    assert_int_equal(kg_vp8_desc_parse(x, sizeof(x), &d), 0);
    assert_int_equal(d.picture_id, 5);
    assert_int_equal(d.len, 3);
    /* Written back, reserved bits are zero. */
    uint8_t out[8];
    assert_int_equal(kg_vp8_desc_write(&d, out, sizeof(out)), 3);
    assert_int_equal(out[1], 0x80);
}

static void test_desc_write_invalid(void **state)
{
    (void)state;
    uint8_t out[16];
    kg_vp8_desc d = {.has_picture_id = true, .picture_id = 0x80};
    assert_int_equal(kg_vp8_desc_write(&d, out, sizeof(out)), KG_ERR_INVAL);
    d.picture_id_16 = true;
    assert_int_equal(kg_vp8_desc_write(&d, out, sizeof(out)), 4);
    d.picture_id = 0x8000;
    assert_int_equal(kg_vp8_desc_write(&d, out, sizeof(out)), KG_ERR_INVAL);
    d = (kg_vp8_desc){.pid = 8};
    assert_int_equal(kg_vp8_desc_write(&d, out, sizeof(out)), KG_ERR_INVAL);
    d = (kg_vp8_desc){.has_tid = true, .tid = 4};
    assert_int_equal(kg_vp8_desc_write(&d, out, sizeof(out)), KG_ERR_INVAL);
    d = (kg_vp8_desc){.has_keyidx = true, .keyidx = 32};
    assert_int_equal(kg_vp8_desc_write(&d, out, sizeof(out)), KG_ERR_INVAL);
    /* Extensions force X=1 even if the caller forgot it. */
    d = (kg_vp8_desc){.has_tl0picidx = true, .tl0picidx = 9};
    assert_int_equal(kg_vp8_desc_write(&d, out, sizeof(out)), 3);
    static const uint8_t want[] = {0x80, 0x40, 0x09};
    assert_memory_equal(out, want, sizeof(want));
}

static void test_keyframe_synthetic(void **state)
{
    (void)state;
    static const uint8_t key[] = {0x10, 0x00};     // S=1 PID=0, P=0
    static const uint8_t delta[] = {0x10, 0x01};   // P=1
    static const uint8_t not_s[] = {0x00, 0x00};   // S=0
    static const uint8_t pid1[] = {0x11, 0x00};    // PID=1
    static const uint8_t ext_key[] = {0x90, 0x80, 0x81, 0x00, 0x50};
    assert_true(kg_vp8_is_keyframe(key, sizeof(key)));
    assert_true(kg_vp8_is_keyframe(ext_key, sizeof(ext_key)));
    assert_false(kg_vp8_is_keyframe(delta, sizeof(delta)));
    assert_false(kg_vp8_is_keyframe(not_s, sizeof(not_s)));
    assert_false(kg_vp8_is_keyframe(pid1, sizeof(pid1)));
    assert_false(kg_vp8_is_keyframe(key, 1));
    assert_false(kg_vp8_is_keyframe(ext_key, 4));
    assert_false(kg_vp8_is_keyframe(key, 0));
}

/* ---- packetizer / depacketizer ---- */

#define MAX_PKTS 2048
struct pkts {
    size_t n;
    uint8_t *data[MAX_PKTS];
    size_t len[MAX_PKTS];
    bool last[MAX_PKTS];
    int fail_at; /* emit returns an error on this payload index, or -1 */
};

static int collect(void *user, const uint8_t *payload, size_t len, bool last)
{
    struct pkts *p = user;
    if ((int)p->n == p->fail_at)
        return KG_ERR_IO;
    assert_true(p->n < MAX_PKTS);
    p->data[p->n] = malloc(len);
    assert_non_null(p->data[p->n]);
    memcpy(p->data[p->n], payload, len);
    p->len[p->n] = len;
    p->last[p->n] = last;
    p->n++;
    return 0;
}

static void pkts_init(struct pkts *p)
{
    memset(p, 0, sizeof(*p));
    p->fail_at = -1;
}

static void pkts_free(struct pkts *p)
{
    for (size_t i = 0; i < p->n; i++)
        free(p->data[i]);
    p->n = 0;
}

static void fill_pattern(uint8_t *buf, size_t len, uint8_t salt)
{
    for (size_t i = 0; i < len; i++)
        buf[i] = (uint8_t)(i * 7 + salt + (i >> 8));
}

static void test_packetize_layout(void **state)
{
    (void)state;
    uint8_t frame[2500];
    fill_pattern(frame, sizeof(frame), 3);
    struct pkts p;
    pkts_init(&p);
    /* 2500 bytes in payloads of 1000 (996 of data): three payloads of
     * 834/833/833, never a runt at the end. */
    assert_int_equal(kg_vp8_packetize(frame, sizeof(frame), 0x1234, 1000,
                                      collect, &p),
                     3);
    assert_int_equal(p.n, 3);
    size_t off = 0;
    for (size_t i = 0; i < p.n; i++) {
        assert_true(p.len[i] <= 1000);
        kg_vp8_desc d;
        assert_int_equal(kg_vp8_desc_parse(p.data[i], p.len[i], &d), 0);
        assert_true(d.x && d.has_picture_id && d.picture_id_16);
        assert_int_equal(d.picture_id, 0x1234);
        assert_int_equal(d.s, i == 0);
        assert_int_equal(d.pid, 0);
        assert_int_equal(d.len, 4);
        assert_int_equal(p.last[i], i == 2);
        assert_memory_equal(p.data[i] + 4, frame + off, p.len[i] - 4);
        off += p.len[i] - 4;
    }
    assert_int_equal(off, sizeof(frame));
    static const uint8_t first_desc[] = {
        0x90, // X=1 S=1 PID=0
        0x80, // I=1
        0x92, 0x34, // M=1 PictureID=0x1234
    };
    assert_memory_equal(p.data[0], first_desc, sizeof(first_desc));
    assert_int_equal(p.len[0], 4 + 834);
    assert_int_equal(p.len[2], 4 + 833);
    pkts_free(&p);

    /* Picture IDs wrap at 15 bits; a one-byte frame is one payload. */
    assert_int_equal(kg_vp8_packetize(frame, 1, 0xffff, 5, collect, &p), 1);
    static const uint8_t one[] = {
        0x90, // X=1 S=1 PID=0
        0x80, // I=1
        0xff, 0xff, // M=1 PictureID=0x7fff (the top bit of 0xffff is cut)
    };
    assert_int_equal(p.len[0], 5);
    assert_memory_equal(p.data[0], one, sizeof(one));
    assert_int_equal(p.data[0][4], frame[0]);
    assert_true(p.last[0]);
    pkts_free(&p);

    /* Bad arguments. */
    assert_int_equal(kg_vp8_packetize(frame, 0, 1, 1000, collect, &p),
                     KG_ERR_INVAL);
    assert_int_equal(kg_vp8_packetize(frame, 10, 1, 4, collect, &p),
                     KG_ERR_INVAL);
    assert_int_equal(kg_vp8_packetize(frame, 10, 1, 100, NULL, NULL),
                     KG_ERR_INVAL);
    /* An emit error stops the split and comes back. */
    p.fail_at = 1;
    assert_int_equal(kg_vp8_packetize(frame, sizeof(frame), 1, 1000, collect,
                                      &p),
                     KG_ERR_IO);
    assert_int_equal(p.n, 1);
    pkts_free(&p);
    /* Payloads larger than an MTU take the heap path. */
    p.fail_at = -1;
    assert_int_equal(kg_vp8_packetize(frame, sizeof(frame), 1, 9000, collect,
                                      &p),
                     1);
    assert_memory_equal(p.data[0] + 4, frame, sizeof(frame));
    pkts_free(&p);
}

/* A stream of packets with RTP seq/ts, built by packetizing frames. */
struct stream {
    struct pkts p;
    uint16_t seq[MAX_PKTS];
    uint32_t ts[MAX_PKTS];
    size_t frame_of[MAX_PKTS];
};

static void stream_add(struct stream *s, const uint8_t *frame, size_t len,
                       size_t max_payload, uint16_t first_seq,
                       uint32_t ts, size_t frame_no)
{
    size_t before = s->p.n;
    int n = kg_vp8_packetize(frame, len, (uint16_t)frame_no, max_payload,
                             collect, &s->p);
    assert_true(n > 0);
    for (size_t i = before; i < s->p.n; i++) {
        s->seq[i] = (uint16_t)(first_seq + i);
        s->ts[i] = ts;
        s->frame_of[i] = frame_no;
    }
}

/* Pushes packet i; returns what push returned and the frame view. */
static int push(kg_vp8_depacketizer *d, const struct stream *s, size_t i,
                const uint8_t **f, size_t *flen)
{
    return kg_vp8_depacketizer_push(d, s->seq[i], s->ts[i], s->p.last[i],
                                    s->p.data[i], s->p.len[i], f, flen);
}

/* Three synthetic frames of 5 payloads each, seq starting near the wrap
 * so that wrap-around is covered too. */
#define SYN_FRAMES 3
#define SYN_LEN 4000
static void make_synthetic(struct stream *s, uint8_t frames[][SYN_LEN])
{
    memset(s, 0, sizeof(*s));
    s->p.fail_at = -1;
    for (size_t f = 0; f < SYN_FRAMES; f++) {
        fill_pattern(frames[f], SYN_LEN, (uint8_t)(f * 31));
        stream_add(s, frames[f], SYN_LEN, 900, 65530, (uint32_t)(f * 3000),
                   f);
    }
    assert_int_equal(s->p.n, SYN_FRAMES * 5);
}

/* Pushes every packet except those with skip[i]; records completed
 * frames by index. */
static size_t run_stream(kg_vp8_depacketizer *d, const struct stream *s,
                         const bool *skip, uint8_t frames[][SYN_LEN],
                         bool *got)
{
    size_t completed = 0;
    for (size_t i = 0; i < s->p.n; i++) {
        if (skip && skip[i])
            continue;
        const uint8_t *f = NULL;
        size_t flen = 0;
        int rc = push(d, s, i, &f, &flen);
        assert_true(rc == 0 || rc == 1);
        if (rc == 1) {
            size_t fno = s->frame_of[i];
            assert_int_equal(flen, SYN_LEN);
            assert_memory_equal(f, frames[fno], SYN_LEN);
            got[fno] = true;
            completed++;
        }
    }
    return completed;
}

static void test_depacketize_clean(void **state)
{
    (void)state;
    static struct stream s;
    static uint8_t frames[SYN_FRAMES][SYN_LEN];
    make_synthetic(&s, frames);
    kg_vp8_depacketizer d;
    assert_int_equal(kg_vp8_depacketizer_init(&d), 0);
    bool got[SYN_FRAMES] = {0};
    assert_int_equal(run_stream(&d, &s, NULL, frames, got), SYN_FRAMES);
    assert_int_equal(d.frames_dropped, 0);
    kg_vp8_depacketizer_free(&d);
    pkts_free(&s.p);
}

/* Losing packet `lost` (index within the whole stream) drops exactly the
 * frame it belongs to; every other frame comes out intact. */
static void check_loss(size_t lost)
{
    static struct stream s;
    static uint8_t frames[SYN_FRAMES][SYN_LEN];
    make_synthetic(&s, frames);
    kg_vp8_depacketizer d;
    assert_int_equal(kg_vp8_depacketizer_init(&d), 0);
    bool skip[SYN_FRAMES * 5] = {0};
    skip[lost] = true;
    bool got[SYN_FRAMES] = {0};
    size_t done = run_stream(&d, &s, skip, frames, got);
    size_t victim = s.frame_of[lost];
    print_message("lost packet %zu (frame %zu)\n", lost, victim);
    /* Losing the last packet of the final frame leaves it pending: no
     * later packet says it is over, so it is not yet counted. */
    bool tail = lost == s.p.n - 1;
    assert_int_equal(done, SYN_FRAMES - 1);
    assert_int_equal(d.frames_dropped, tail ? 0 : 1);
    for (size_t f = 0; f < SYN_FRAMES; f++)
        assert_int_equal(got[f], f != victim);
    kg_vp8_depacketizer_free(&d);
    pkts_free(&s.p);
}

static void test_depacketize_loss_each_position(void **state)
{
    (void)state;
    /* First, middle and last packet of each frame. */
    for (size_t f = 0; f < SYN_FRAMES; f++) {
        check_loss(f * 5 + 0);
        check_loss(f * 5 + 2);
        check_loss(f * 5 + 4);
    }
}

/* kaigi forwards in order, so the depacketizer does not reorder: a
 * packet that arrives after a later one of the same stream is ignored,
 * and the gap its absence left has already dropped its frame. A
 * duplicate is ignored and costs nothing. */
static void test_depacketize_reorder_and_duplicate(void **state)
{
    (void)state;
    static struct stream s;
    static uint8_t frames[SYN_FRAMES][SYN_LEN];
    make_synthetic(&s, frames);
    kg_vp8_depacketizer d;
    assert_int_equal(kg_vp8_depacketizer_init(&d), 0);
    const uint8_t *f;
    size_t flen;
    /* Frame 0 swapped: 0 2 1 3 4. */
    static const size_t order0[] = {0, 2, 1, 3, 4};
    for (size_t k = 0; k < 5; k++)
        assert_int_equal(push(&d, &s, order0[k], &f, &flen), 0);
    assert_int_equal(d.frames_dropped, 1);
    /* Frame 1 with every packet sent twice, and an old one replayed. */
    int got = 0;
    for (size_t i = 5; i < 10; i++) {
        for (int rep = 0; rep < 2; rep++) {
            int rc = push(&d, &s, i, &f, &flen);
            assert_true(rc == 0 || rc == 1);
            if (rc == 1) {
                assert_int_equal(i, 9);
                assert_int_equal(rep, 0);
                assert_int_equal(flen, SYN_LEN);
                assert_memory_equal(f, frames[1], SYN_LEN);
                got++;
            }
        }
        assert_int_equal(push(&d, &s, 2, &f, &flen), 0);
    }
    assert_int_equal(got, 1);
    assert_int_equal(d.frames_dropped, 1);
    /* Frame 2 still assembles. */
    bool gotf[SYN_FRAMES] = {0};
    for (size_t i = 10; i < 15; i++) {
        int rc = push(&d, &s, i, &f, &flen);
        if (rc == 1)
            gotf[2] = true;
    }
    assert_true(gotf[2]);
    assert_int_equal(d.frames_dropped, 1);
    kg_vp8_depacketizer_free(&d);
    pkts_free(&s.p);
}

static void test_depacketize_bad_descriptor(void **state)
{
    (void)state;
    static struct stream s;
    static uint8_t frames[SYN_FRAMES][SYN_LEN];
    make_synthetic(&s, frames);
    kg_vp8_depacketizer d;
    assert_int_equal(kg_vp8_depacketizer_init(&d), 0);
    const uint8_t *f;
    size_t flen;
    assert_int_equal(push(&d, &s, 0, &f, &flen), 0);
    assert_int_equal(push(&d, &s, 1, &f, &flen), 0);
    /* Packet 2 arrives as a bare descriptor: an error, and its frame is
     * lost like a lost packet. */
    static const uint8_t bare[] = {0x80, 0x80, 0x80, 0x00};
    assert_int_equal(kg_vp8_depacketizer_push(&d, s.seq[2], s.ts[2], false,
                                              bare, sizeof(bare), &f, &flen),
                     KG_ERR_MALFORMED);
    assert_int_equal(kg_vp8_depacketizer_push(&d, s.seq[2], s.ts[2], false,
                                              bare, 1, &f, &flen),
                     KG_ERR_TRUNC);
    for (size_t i = 3; i < 5; i++)
        assert_int_equal(push(&d, &s, i, &f, &flen), 0);
    assert_int_equal(d.frames_dropped, 1);
    int done = 0;
    for (size_t i = 5; i < s.p.n; i++)
        done += push(&d, &s, i, &f, &flen);
    assert_int_equal(done, 2);
    kg_vp8_depacketizer_free(&d);
    pkts_free(&s.p);
}

/* A frame that starts mid-stream (we joined late), a new timestamp with
 * no marker on the old frame, and a frame over KG_VP8_MAX_FRAME. */
static void test_depacketize_edges(void **state)
{
    (void)state;
    kg_vp8_depacketizer d;
    assert_int_equal(kg_vp8_depacketizer_init(&d), 0);
    const uint8_t *f = NULL;
    size_t flen = 0;
    static const uint8_t mid[] = {0x80, 0x80, 0x80, 0x01, 0xaa};
    static const uint8_t start[] = {0x90, 0x80, 0x80, 0x02, 0xbb};
    /* Joined mid-frame: the tail is dropped, counted once. */
    assert_int_equal(kg_vp8_depacketizer_push(&d, 100, 10, true, mid,
                                              sizeof(mid), &f, &flen),
                     0);
    assert_int_equal(d.frames_dropped, 1);
    /* A start without marker, then a new timestamp that starts the next
     * frame: the first never finished. */
    assert_int_equal(kg_vp8_depacketizer_push(&d, 101, 20, false, start,
                                              sizeof(start), &f, &flen),
                     0);
    assert_int_equal(kg_vp8_depacketizer_push(&d, 102, 30, true, start,
                                              sizeof(start), &f, &flen),
                     1);
    assert_int_equal(d.frames_dropped, 2);
    assert_int_equal(flen, 1);
    assert_int_equal(f[0], 0xbb);
    /* New timestamp without S: its start is missing. */
    assert_int_equal(kg_vp8_depacketizer_push(&d, 103, 40, true, mid,
                                              sizeof(mid), &f, &flen),
                     0);
    assert_int_equal(d.frames_dropped, 3);

    /* Over 1 MiB: 17 payloads of 64 KiB. Dropped, counted, and the next
     * frame is fine. */
    size_t big = 65536;
    uint8_t *pl = calloc(1, big + 4);
    assert_non_null(pl);
    uint16_t seq = 104;
    for (int i = 0; i < 17; i++) {
        pl[0] = i == 0 ? 0x90 : 0x80;
        pl[1] = 0x80;
        pl[2] = 0x80;
        pl[3] = 0x03;
        assert_int_equal(kg_vp8_depacketizer_push(&d, seq++, 50, i == 16, pl,
                                                  big + 4, &f, &flen),
                         0);
    }
    assert_int_equal(d.frames_dropped, 4);
    /* Exactly KG_VP8_MAX_FRAME fits: 16 payloads of 64 KiB. */
    for (int i = 0; i < 16; i++) {
        pl[0] = i == 0 ? 0x90 : 0x80;
        int rc = kg_vp8_depacketizer_push(&d, seq++, 60, i == 15, pl,
                                          big + 4, &f, &flen);
        assert_int_equal(rc, i == 15 ? 1 : 0);
    }
    assert_int_equal(flen, KG_VP8_MAX_FRAME);
    assert_int_equal(d.frames_dropped, 4);
    free(pl);
    kg_vp8_depacketizer_free(&d);
}

/* ---- real frames from libvpx ---- */

static void test_real_keyframe_roundtrip(void **state)
{
    (void)state;
    kg_vp8_enc *enc = kg_vp8_enc_new(640, 360, 30, 500, 3000);
    assert_non_null(enc);
    kg_vp8_dec *dec = kg_vp8_dec_new();
    assert_non_null(dec);

    /* Frames 0 (key) and 1 (delta) of one stream, then two more
     * keyframes. Those come from fresh encoders: a keyframe forced right
     * after the first one is starved by rate control and fits in one
     * packet, which would not exercise reassembly. */
    static uint8_t copies[4][200000];
    size_t lens[4];
    bool keys[4];
    for (uint32_t n = 0; n < 4; n++) {
        kg_vp8_enc *e = enc;
        if (n >= 2) {
            e = kg_vp8_enc_new(640, 360, 30, 500, 3000);
            assert_non_null(e);
        }
        const uint8_t *fr;
        uint32_t fno = n < 2 ? n : 0, seed = n < 2 ? 7 : 7 + n;
        assert_int_equal(kg_vp8_enc_frame(e, fno, seed, false, &fr, &lens[n],
                                          &keys[n]),
                         0);
        assert_true(lens[n] <= sizeof(copies[n]));
        memcpy(copies[n], fr, lens[n]);
        if (e != enc)
            kg_vp8_enc_del(e);
    }
    assert_true(keys[0]);
    assert_false(keys[1]);
    assert_true(keys[2] && keys[3]);
    print_message("keyframe %zu bytes, delta %zu bytes\n", lens[0], lens[1]);

    static struct stream s;
    memset(&s, 0, sizeof(s));
    s.p.fail_at = -1;
    size_t first[5];
    for (size_t f = 0; f < 4; f++) {
        first[f] = s.p.n;
        stream_add(&s, copies[f], lens[f], 1100, 1000, (uint32_t)(f * 3000),
                   f);
    }
    first[4] = s.p.n;
    /* The keyframe spans several payloads, none over 1100 bytes. */
    assert_true(first[1] - first[0] > 3);
    assert_true(first[3] - first[2] > 3);
    for (size_t i = 0; i < s.p.n; i++)
        assert_true(s.p.len[i] <= 1100);

    /* Keyframe detection on the real first payloads. */
    assert_true(kg_vp8_is_keyframe(s.p.data[first[0]], s.p.len[first[0]]));
    assert_false(kg_vp8_is_keyframe(s.p.data[first[1]], s.p.len[first[1]]));
    assert_true(kg_vp8_is_keyframe(s.p.data[first[2]], s.p.len[first[2]]));
    /* A later payload of a keyframe is not its start. */
    assert_false(
        kg_vp8_is_keyframe(s.p.data[first[0] + 1], s.p.len[first[0] + 1]));

    /* Depacketize frames 0 and 1 clean, lose a middle packet of frame 2,
     * then frame 3 (a keyframe) must still assemble and decode. */
    kg_vp8_depacketizer d;
    assert_int_equal(kg_vp8_depacketizer_init(&d), 0);
    size_t lost = first[2] + (first[3] - first[2]) / 2;
    bool got[4] = {0};
    for (size_t i = 0; i < s.p.n; i++) {
        if (i == lost)
            continue;
        const uint8_t *fr;
        size_t flen;
        int rc = push(&d, &s, i, &fr, &flen);
        assert_true(rc == 0 || rc == 1);
        if (rc == 0)
            continue;
        size_t fno = s.frame_of[i];
        assert_int_equal(flen, lens[fno]);
        assert_memory_equal(fr, copies[fno], flen);
        unsigned w = 0, h = 0;
        assert_int_equal(kg_vp8_decode(dec, fr, flen, &w, &h), 0);
        assert_int_equal(w, 640);
        assert_int_equal(h, 360);
        got[fno] = true;
    }
    assert_true(got[0] && got[1] && !got[2] && got[3]);
    assert_int_equal(d.frames_dropped, 1);

    kg_vp8_depacketizer_free(&d);
    pkts_free(&s.p);
    kg_vp8_dec_del(dec);
    kg_vp8_enc_del(enc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_desc_vectors),
        cmocka_unit_test(test_desc_truncation),
        cmocka_unit_test(test_desc_reserved_bits_ignored),
        cmocka_unit_test(test_desc_write_invalid),
        cmocka_unit_test(test_keyframe_synthetic),
        cmocka_unit_test(test_packetize_layout),
        cmocka_unit_test(test_depacketize_clean),
        cmocka_unit_test(test_depacketize_loss_each_position),
        cmocka_unit_test(test_depacketize_reorder_and_duplicate),
        cmocka_unit_test(test_depacketize_bad_descriptor),
        cmocka_unit_test(test_depacketize_edges),
        cmocka_unit_test(test_real_keyframe_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
