#include "codec/video.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <vpx/vp8cx.h>
#include <vpx/vp8dx.h>
#include <vpx/vpx_decoder.h>
#include <vpx/vpx_encoder.h>

#include "codec/err.h"

/* VP8 frame dimensions are 14-bit fields. */
#define VP8_MAX_DIM 16383

struct kg_vp8_enc {
    vpx_codec_ctx_t codec;
    bool codec_ready;
    vpx_image_t img;
    bool img_ready;
    unsigned width, height;
    vpx_codec_pts_t pts;
    /* Our own copy of the last frame: libvpx keeps a packet valid only
     * until the next vpx_codec_* call, and finding out that a packet was
     * the only one takes another call. */
    uint8_t *out;
    size_t out_cap;
};

struct kg_vp8_dec {
    vpx_codec_ctx_t codec;
};

static int enc_configure(kg_vp8_enc *e, unsigned fps, unsigned kbps,
                         unsigned kf_interval)
{
    vpx_codec_enc_cfg_t cfg;
    if (vpx_codec_enc_config_default(vpx_codec_vp8_cx(), &cfg, 0) !=
        VPX_CODEC_OK)
        return KG_ERR_UNSUPPORTED;
    cfg.g_w = e->width;
    cfg.g_h = e->height;
    cfg.g_timebase.num = 1;
    cfg.g_timebase.den = (int)fps;
    cfg.g_threads = 1;
    cfg.g_lag_in_frames = 0; /* one frame out per frame in, no delay */
    cfg.g_error_resilient = VPX_ERROR_RESILIENT_DEFAULT;
    cfg.g_pass = VPX_RC_ONE_PASS;
    cfg.rc_end_usage = VPX_CBR;
    cfg.rc_target_bitrate = kbps;
    /* The tests and the bench want every frame they feed to come out;
     * a client on a real link may still see KG_ERR_AGAIN if this is
     * raised. */
    cfg.rc_dropframe_thresh = 0;
    cfg.rc_min_quantizer = 2;
    cfg.rc_max_quantizer = 56;
    cfg.rc_undershoot_pct = 100;
    cfg.rc_overshoot_pct = 15;
    cfg.rc_buf_initial_sz = 500;
    cfg.rc_buf_optimal_sz = 600;
    cfg.rc_buf_sz = 1000;
    if (kf_interval == 0) {
        cfg.kf_mode = VPX_KF_DISABLED; /* first and forced keyframes only */
    } else {
        cfg.kf_mode = VPX_KF_AUTO;
        cfg.kf_min_dist = 0;
        cfg.kf_max_dist = kf_interval;
    }
    if (vpx_codec_enc_init(&e->codec, vpx_codec_vp8_cx(), &cfg, 0) !=
        VPX_CODEC_OK)
        return KG_ERR_UNSUPPORTED;
    e->codec_ready = true;
    /* Speed 8 of 16 in real-time mode; one token partition so that a
     * frame is one VP8 partition for the packetizer (PID 0). */
    if (vpx_codec_control(&e->codec, VP8E_SET_CPUUSED, 8) != VPX_CODEC_OK ||
        vpx_codec_control(&e->codec, VP8E_SET_TOKEN_PARTITIONS,
                          VP8_ONE_TOKENPARTITION) != VPX_CODEC_OK ||
        vpx_codec_control(&e->codec, VP8E_SET_NOISE_SENSITIVITY, 0u) !=
            VPX_CODEC_OK)
        return KG_ERR_UNSUPPORTED;
    return 0;
}

kg_vp8_enc *kg_vp8_enc_new(unsigned width, unsigned height, unsigned fps,
                           unsigned kbps, unsigned kf_interval)
{
    if (width < 2 || height < 2 || width > VP8_MAX_DIM ||
        height > VP8_MAX_DIM || fps == 0 || fps > 1000 || kbps == 0 ||
        kbps > 100000)
        return NULL;
    kg_vp8_enc *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->width = width;
    e->height = height;
    if (vpx_img_alloc(&e->img, VPX_IMG_FMT_I420, width, height, 16) == NULL)
        goto fail;
    e->img_ready = true;
    if (enc_configure(e, fps, kbps, kf_interval) != 0)
        goto fail;
    return e;
fail:
    kg_vp8_enc_del(e);
    return NULL;
}

void kg_vp8_enc_del(kg_vp8_enc *e)
{
    if (e == NULL)
        return;
    if (e->codec_ready)
        vpx_codec_destroy(&e->codec);
    if (e->img_ready)
        vpx_img_free(&e->img);
    free(e->out);
    free(e);
}

/* BT.601 limited-range YUV of a fully saturated hue (0..359) at 3/4
 * brightness, as on a test card. */
static void hue_to_yuv(unsigned hue, uint8_t yuv[3])
{
    const int v = 191;
    unsigned sector = hue / 60, f = hue % 60;
    int up = (int)(v * f / 60), down = v - up;
    int r, g, b;
    switch (sector) {
    case 0: r = v; g = up; b = 0; break;
    case 1: r = down; g = v; b = 0; break;
    case 2: r = 0; g = v; b = up; break;
    case 3: r = 0; g = down; b = v; break;
    case 4: r = up; g = 0; b = v; break;
    default: r = v; g = 0; b = down; break;
    }
    yuv[0] = (uint8_t)(16 + ((66 * r + 129 * g + 25 * b + 128) >> 8));
    yuv[1] = (uint8_t)(128 + ((-38 * r - 74 * g + 112 * b + 128) >> 8));
    yuv[2] = (uint8_t)(128 + ((112 * r - 94 * g - 18 * b + 128) >> 8));
}

/* A little per-frame grain on the luma: without it the picture is flat
 * colour plus one moving box, which a real-time encoder codes in a few
 * hundred bytes, and nothing would exercise rate control or fragment
 * into several RTP packets. */
static uint8_t grain(unsigned x, unsigned y, uint32_t n)
{
    uint32_t h = x * 0x9E3779B1u ^ y * 0x85EBCA77u ^ n * 0xC2B2AE3Du;
    h ^= h >> 15;
    h *= 0x2C1B3C6Du;
    h ^= h >> 13;
    return (uint8_t)(h & 15);
}

static void draw_pattern(vpx_image_t *img, uint32_t n, uint32_t seed)
{
    unsigned w = img->d_w, h = img->d_h;
    unsigned cw = (w + 1) / 2, ch = (h + 1) / 2;
    enum { BARS = 8 };
    uint8_t bars[BARS][3];
    for (unsigned i = 0; i < BARS; i++)
        hue_to_yuv((seed * 47u + i * 45u) % 360u, bars[i]);

    /* The box walks 4 px right and 2 px down per frame and wraps. */
    unsigned box = h / 4 < 2 ? 2 : h / 4;
    if (box > w)
        box = w;
    if (box > h)
        box = h;
    unsigned bx = (n * 4u) % (w - box + 1), by = (n * 2u) % (h - box + 1);

    for (unsigned y = 0; y < h; y++) {
        uint8_t *row = img->planes[VPX_PLANE_Y] + y * img->stride[VPX_PLANE_Y];
        for (unsigned x = 0; x < w; x++) {
            bool in_box = x >= bx && x < bx + box && y >= by && y < by + box;
            unsigned g = grain(x, y, n);
            if (in_box) {
                row[x] = (uint8_t)(235 - g);
            } else {
                /* Fine diagonal stripes: static detail that a keyframe
                 * must spend bits on and delta frames get for free. Bar
                 * luma is 34..161, so +-20 and the grain stay in 0..255. */
                int stripe = ((x + y) / 3) & 1 ? 20 : -20;
                int luma = bars[x * BARS / w][0] + stripe + (int)g - 8;
                row[x] = (uint8_t)luma;
            }
        }
    }
    for (unsigned y = 0; y < ch; y++) {
        uint8_t *u = img->planes[VPX_PLANE_U] + y * img->stride[VPX_PLANE_U];
        uint8_t *v = img->planes[VPX_PLANE_V] + y * img->stride[VPX_PLANE_V];
        for (unsigned x = 0; x < cw; x++) {
            bool in_box = 2 * x >= bx && 2 * x < bx + box && 2 * y >= by &&
                          2 * y < by + box;
            const uint8_t *c = bars[2 * x * BARS / w];
            u[x] = in_box ? 128 : c[1];
            v[x] = in_box ? 128 : c[2];
        }
    }
}

static int keep_frame(kg_vp8_enc *e, const void *buf, size_t len)
{
    if (len > e->out_cap) {
        uint8_t *p = realloc(e->out, len);
        if (p == NULL)
            return KG_ERR_NOMEM;
        e->out = p;
        e->out_cap = len;
    }
    memcpy(e->out, buf, len);
    return 0;
}

int kg_vp8_enc_frame(kg_vp8_enc *e, uint32_t n, uint32_t seed, bool force_key,
                     const uint8_t **frame, size_t *len, bool *keyframe)
{
    draw_pattern(&e->img, n, seed);
    vpx_enc_frame_flags_t flags = force_key ? VPX_EFLAG_FORCE_KF : 0;
    if (vpx_codec_encode(&e->codec, &e->img, e->pts, 1, flags,
                         VPX_DL_REALTIME) != VPX_CODEC_OK)
        return KG_ERR_INVAL;
    e->pts++;

    /* With g_lag_in_frames = 0 VP8 emits at most one frame per input.
     * Two would be two VP8 frames, which cannot travel as one (VP8 has
     * no superframe syntax), so that case is reported, not glued. */
    vpx_codec_iter_t iter = NULL;
    const vpx_codec_cx_pkt_t *pkt;
    int frames = 0, rc = 0;
    while ((pkt = vpx_codec_get_cx_data(&e->codec, &iter)) != NULL) {
        if (pkt->kind != VPX_CODEC_CX_FRAME_PKT)
            continue;
        if (++frames > 1)
            return KG_ERR_UNSUPPORTED;
        rc = keep_frame(e, pkt->data.frame.buf, pkt->data.frame.sz);
        if (rc < 0)
            return rc;
        *len = pkt->data.frame.sz;
        *keyframe = (pkt->data.frame.flags & VPX_FRAME_IS_KEY) != 0;
    }
    if (frames == 0)
        return KG_ERR_AGAIN;
    *frame = e->out;
    return 0;
}

kg_vp8_dec *kg_vp8_dec_new(void)
{
    kg_vp8_dec *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    vpx_codec_dec_cfg_t cfg = {.threads = 1, .w = 0, .h = 0};
    if (vpx_codec_dec_init(&d->codec, vpx_codec_vp8_dx(), &cfg, 0) !=
        VPX_CODEC_OK) {
        free(d);
        return NULL;
    }
    return d;
}

void kg_vp8_dec_del(kg_vp8_dec *d)
{
    if (d == NULL)
        return;
    vpx_codec_destroy(&d->codec);
    free(d);
}

int kg_vp8_decode(kg_vp8_dec *d, const uint8_t *frame, size_t len,
                  unsigned *width, unsigned *height)
{
    /* An empty buffer means "flush" to libvpx, not a frame. */
    if (frame == NULL || len == 0 || len > UINT_MAX)
        return KG_ERR_MALFORMED;
    if (vpx_codec_decode(&d->codec, frame, (unsigned)len, NULL, 0) !=
        VPX_CODEC_OK)
        return KG_ERR_MALFORMED;
    int corrupted = 0;
    if (vpx_codec_control(&d->codec, VP8D_GET_FRAME_CORRUPTED, &corrupted) ==
            VPX_CODEC_OK &&
        corrupted)
        return KG_ERR_MALFORMED;
    vpx_codec_iter_t iter = NULL;
    vpx_image_t *img = vpx_codec_get_frame(&d->codec, &iter);
    if (img == NULL)
        return KG_ERR_AGAIN; /* a frame that is not shown */
    if (width)
        *width = img->d_w;
    if (height)
        *height = img->d_h;
    /* Drain: VP8 gives one picture per frame, but leave nothing behind
     * for the next call. */
    while (vpx_codec_get_frame(&d->codec, &iter) != NULL) {
    }
    return 0;
}
