/* kaigi-client's media: the synthetic Opus + VP8 publisher, and the
 * receiver that decodes what kaigi forwards and measures it. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/rtcp.h"
#include "codec/rtp.h"
#include "crypto/random.h"
#include "tools/client.h"

#define AUDIO_PERIOD (20 * KG_MS)
#define VIDEO_FPS 30
#define VIDEO_TS_STEP 3000 /* 90 kHz / 30 fps */
#define VIDEO_MAX_PAYLOAD 1100
#define KEYFRAME_MIN_GAP (100 * KG_MS)
#define PLI_GAP (500 * KG_MS)
/* A loop that fell this far behind skips frames rather than bursting
 * them out: a real sender's capture clock would not wait either. */
#define MAX_LAG (200 * KG_MS)
#define MAX_OPUS_SAMPLES 5760 /* 120 ms per channel, libopus's maximum */
#define SCREEN_W 320
#define SCREEN_H 180
#define SCREEN_KBPS 150
#define SCREEN_SEED_XOR 0x53435245u /* "SCRE": a pattern of its own */

/* Random RTP state for a video track; its encoder comes separately. */
static void vtrack_init(kc_vtrack *v, uint32_t seed)
{
    v->seq = (uint16_t)kg_random_u32();
    v->ts = kg_random_u32();
    v->picture_id = (uint16_t)(kg_random_u32() & 0x7fff);
    v->seed = seed;
}

/* A random SSRC none of ours uses yet (0 means unset). */
static uint32_t fresh_ssrc(const kc_pub *pub)
{
    uint32_t s;
    do
        s = kg_random_u32();
    while (s == 0 || s == pub->audio_ssrc || s == pub->cam.ssrc ||
           s == pub->screen.ssrc || s == pub->sim_low[0].ssrc ||
           s == pub->sim_low[1].ssrc);
    return s;
}

/* --simulcast: two more encoders for the camera's lower layers, at an
 * eighth and a third of its bitrate (what libwebrtc gives 1/4 and 1/2
 * scaled layers, roughly). */
static int sim_init(kc_app *app)
{
    static const unsigned w[2] = {160, 320}, h[2] = {90, 180};
    static const unsigned div[2] = {8, 3};
    kc_pub *pub = &app->pub;
    for (int i = 0; i < 2; i++) {
        kc_vtrack *v = &pub->sim_low[i];
        v->ssrc = fresh_ssrc(pub);
        vtrack_init(v, app->opts.seed);
        unsigned kbps = app->opts.video_kbps / div[i];
        v->vp8 = kg_vp8_enc_new(w[i], h[i], VIDEO_FPS, kbps < 30 ? 30 : kbps,
                                300);
        if (!v->vp8)
            return KG_ERR_NOMEM;
    }
    if (app->opts.simulcast_rid) {
        pub->sim_low[0].rid = "q";
        pub->sim_low[1].rid = "h";
        pub->cam.rid = "f";
    }
    return 0;
}

int kc_pub_init(kc_app *app)
{
    kc_pub *pub = &app->pub;
    pub->audio_ssrc = fresh_ssrc(pub);
    pub->cam.ssrc = fresh_ssrc(pub);
    pub->audio_pt = 111;
    pub->video_pt = 96;
    pub->audio_seq = (uint16_t)kg_random_u32();
    pub->audio_ts = kg_random_u32();
    pub->first_audio = true;
    vtrack_init(&pub->cam, app->opts.seed);
    kg_tone_init(&pub->tone, app->opts.tone, app->opts.amplitude);
    pub->opus = kg_opus_enc_new(32000);
    pub->cam.vp8 =
        kg_vp8_enc_new(640, 360, VIDEO_FPS, app->opts.video_kbps, 300);
    if (!pub->opus || !pub->cam.vp8)
        return KG_ERR_NOMEM;
    kc_nack_init(app);
    if (kc_nack_vtrack_init(app, &pub->cam) != 0)
        return KG_ERR_NOMEM;
    if (app->opts.simulcast && sim_init(app) != 0)
        return KG_ERR_NOMEM;
    if (!app->opts.screen)
        return 0;
    pub->screen.ssrc = fresh_ssrc(pub);
    vtrack_init(&pub->screen, app->opts.seed ^ SCREEN_SEED_XOR);
    pub->screen.vp8 =
        kg_vp8_enc_new(SCREEN_W, SCREEN_H, VIDEO_FPS, SCREEN_KBPS, 300);
    if (pub->screen.vp8 && kc_nack_vtrack_init(app, &pub->screen) != 0)
        return KG_ERR_NOMEM;
    return pub->screen.vp8 ? 0 : KG_ERR_NOMEM;
}

void kc_pub_free(kc_pub *pub)
{
    kg_opus_enc_del(pub->opus);
    kg_vp8_enc_del(pub->cam.vp8);
    kg_vp8_enc_del(pub->screen.vp8);
    for (int i = 0; i < 2; i++) {
        kg_vp8_enc_del(pub->sim_low[i].vp8);
        pub->sim_low[i].vp8 = NULL;
    }
    kc_nack_vtrack_free(&pub->cam);
    kc_nack_vtrack_free(&pub->screen);
    pub->opus = NULL;
    pub->cam.vp8 = pub->screen.vp8 = NULL;
}

/* v: the video track the packet belongs to (cached for NACKs), or
 * NULL. */
static void send_rtp_track(kc_app *app, kc_vtrack *v, kg_rtp_hdr *h,
                           const uint8_t *payload, size_t len)
{
    uint8_t pkt[KC_PKT_CAP + KG_SRTP_MAX_TRAILER];
    ssize_t n = kg_rtp_write(h, payload, len, pkt, KC_PKT_CAP);
    if (n < 0) {
        fprintf(stderr, "kaigi-client: RTP write: %s\n", kg_strerror((int)n));
        return;
    }
    n = kc_nack_send_rtp(app, v, pkt, (size_t)n, sizeof(pkt));
    if (n > 0)
        app->sent.bytes += (uint64_t)n;
    if (n > 0)
        kc_rtcp_on_sent(app, h, len, kc_now());
}

static void send_rtp(kc_app *app, kg_rtp_hdr *h, const uint8_t *payload,
                     size_t len)
{
    send_rtp_track(app, NULL, h, payload, len);
}

static void send_audio(kc_app *app)
{
    kc_pub *pub = &app->pub;
    int16_t pcm[KG_AUDIO_FRAME * KG_AUDIO_CHANNELS];
    uint8_t payload[1276]; /* the largest Opus frame */
    kg_tone_fill(&pub->tone, pcm);
    ssize_t n = kg_opus_encode(pub->opus, pcm, payload, sizeof(payload));
    if (n < 0) {
        fprintf(stderr, "kaigi-client: opus encode: %s\n", kg_strerror((int)n));
        return;
    }
    kg_rtp_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = 2;
    h.marker = pub->first_audio; /* start of a talkspurt */
    h.pt = pub->audio_pt;
    h.seq = pub->audio_seq++;
    h.ts = pub->audio_ts;
    h.ssrc = pub->audio_ssrc;
    uint8_t ext[8];
    /* RFC 6464: -dBov of the very samples encoded; the V bit is set
     * unless the frame is digital silence (we have no VAD). */
    pub->audio_level = kg_audio_level(pcm, KG_AUDIO_FRAME * KG_AUDIO_CHANNELS);
    uint8_t level = pub->audio_level;
    if (level < 127)
        level |= 0x80;
    if (pub->audio_level_id) {
        kg_rtp_ext_elem e = {pub->audio_level_id, &level, 1};
        ssize_t el = kg_rtp_ext_write(&e, 1, &h.ext_profile, ext, sizeof(ext));
        if (el > 0) {
            h.extension = true;
            h.ext = ext;
            h.ext_len = (size_t)el;
        }
    }
    send_rtp(app, &h, payload, (size_t)n);
    pub->first_audio = false;
    pub->audio_ts += KG_AUDIO_FRAME;
    app->sent.audio_packets++;
    app->sent.audio_frames++;
}

typedef struct emit_ctx {
    kc_app *app;
    kc_vtrack *v;
} emit_ctx;

static int emit_video(void *user, const uint8_t *payload, size_t len,
                      bool last)
{
    emit_ctx *e = user;
    kg_rtp_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = 2;
    h.marker = last; /* last packet of the frame */
    h.pt = e->app->pub.video_pt;
    h.seq = e->v->seq++;
    h.ts = e->v->ts;
    h.ssrc = e->v->ssrc;
    uint8_t ext[24];
    uint8_t rid_id = e->app->pub.rid_ext_id;
    if (e->v->rid && rid_id) { /* which layer this SSRC is, as Chromium */
        kg_rtp_ext_elem el = {rid_id, (const uint8_t *)e->v->rid,
                              strlen(e->v->rid)};
        ssize_t n = kg_rtp_ext_write(&el, 1, &h.ext_profile, ext, sizeof(ext));
        if (n > 0) {
            h.extension = true;
            h.ext = ext;
            h.ext_len = (size_t)n;
        }
    }
    send_rtp_track(e->app, e->v, &h, payload, len);
    e->v->packets++;
    return 0;
}

/* Encodes and sends frame n of v's pattern. */
static void send_video(kc_app *app, kc_vtrack *v, uint32_t n)
{
    const uint8_t *frame;
    size_t len;
    bool key;
    kg_time now = kc_now();
    bool force = v->force_key &&
                 (!v->last_forced_key ||
                  now - v->last_forced_key >= KEYFRAME_MIN_GAP);
    int rc = kg_vp8_enc_frame(v->vp8, n, v->seed, force, &frame, &len, &key);
    if (rc == 0) {
        if (key) {
            v->force_key = false;
            v->last_forced_key = now;
        }
        emit_ctx e = {app, v};
        rc = kg_vp8_packetize(frame, len, v->picture_id, VIDEO_MAX_PAYLOAD,
                              emit_video, &e);
        v->picture_id = (v->picture_id + 1) & 0x7fff;
        v->frames++;
        if (key)
            v->keyframes++;
    }
    if (rc < 0 && rc != KG_ERR_AGAIN)
        fprintf(stderr, "kaigi-client: VP8 frame: %s\n", kg_strerror(rc));
    /* A dropped frame still takes its slot of the 90 kHz clock. */
    v->ts += VIDEO_TS_STEP;
}

/* One tick of the frame clock: the camera's frame, and the screen's. */
static void send_frames(kc_app *app)
{
    kc_pub *pub = &app->pub;
    uint32_t n = pub->frame_no++;
    for (int i = 0; i < 2; i++) /* simulcast: lowest layer first */
        if (pub->sim_low[i].vp8)
            send_video(app, &pub->sim_low[i], n);
    send_video(app, &pub->cam, n);
    if (pub->screen.vp8)
        send_video(app, &pub->screen, n);
}

static kg_time video_due(const kc_pub *pub, uint32_t n)
{
    return pub->video_epoch + (kg_time)n * KG_SEC / VIDEO_FPS;
}

kg_time kc_pub_tick(kc_app *app, kg_time now)
{
    kc_pub *pub = &app->pub;
    kg_time mid = (kg_time)(app->opts.duration * 0.5 * (double)KG_SEC) +
                  KG_SEC / 2;
    if (!app->tones_frozen && now - app->publish_start >= mid)
        kc_freeze_tones(app);
    if (now > pub->next_audio + MAX_LAG)
        pub->next_audio = now;
    while (pub->next_audio <= now) {
        send_audio(app);
        pub->next_audio += AUDIO_PERIOD;
    }
    uint32_t n = pub->frame_no - pub->video_base;
    if (now > video_due(pub, n) + MAX_LAG) {
        pub->video_epoch = now;
        pub->video_base = pub->frame_no;
        n = 0;
    }
    while (video_due(pub, n) <= now) {
        send_frames(app);
        n++;
    }
    kg_time next = video_due(pub, n);
    return pub->next_audio < next ? pub->next_audio : next;
}

/* PLI or FIR for our video SSRC: a receiver (kaigi, for a new subscriber
 * or after loss) needs a keyframe. Rate-limited, since every subscriber's
 * request may reach us. */
static void request_keyframe(kc_app *app, uint32_t ssrc)
{
    /* Never dropped, only coalesced: send_video makes the keyframe once
     * KEYFRAME_MIN_GAP has passed since the last forced one. A dropped
     * request leaves a new receiver without a picture until it asks
     * again. */
    kc_pub *pub = &app->pub;
    if (ssrc == pub->cam.ssrc)
        pub->cam.force_key = true;
    else if (pub->screen.vp8 && ssrc == pub->screen.ssrc)
        pub->screen.force_key = true;
    for (int i = 0; i < 2; i++)
        if (pub->sim_low[i].vp8 && ssrc == pub->sim_low[i].ssrc)
            pub->sim_low[i].force_key = true;
}

void kc_pub_on_rtcp(kc_transport *t, uint8_t *pkt, size_t len, kg_time now)
{
    kc_app *app = t->app;
    (void)now;
    kc_rtcp_on_pub_rtcp(app, pkt, len); /* kaigi's RRs: our RTT */
    size_t off = 0;
    kg_rtcp_pkt p;
    while (kg_rtcp_next(pkt, len, &off, &p) == 1) {
        kg_rtcp_fb fb;
        if (p.pt == KG_RTCP_RTPFB && p.count == KG_RTCP_FMT_NACK &&
            kg_rtcp_parse_fb(&p, &fb) == 0) {
            kc_nack_on_feedback(app, &fb, now);
            continue;
        }
        if (p.pt != KG_RTCP_PSFB || kg_rtcp_parse_fb(&p, &fb) < 0)
            continue;
        if (fb.fmt == KG_RTCP_FMT_PLI) {
            request_keyframe(app, fb.media_ssrc);
        } else if (fb.fmt == KG_RTCP_FMT_FIR) {
            kg_rtcp_fir_item items[8];
            int n = kg_rtcp_parse_fir(&fb, items, KG_ARRAY_LEN(items));
            for (int i = 0; i < n; i++)
                request_keyframe(app, items[i].ssrc);
        }
    }
}

/* --- receiving ---------------------------------------------------- */

kc_remote *kc_remote_get(kc_app *app, const char *id, bool create)
{
    for (size_t i = 0; i < app->n_remotes; i++)
        if (strcmp(app->remotes[i].id, id) == 0)
            return &app->remotes[i];
    if (!create || app->n_remotes == KC_MAX_REMOTES ||
        strlen(id) >= KC_ID_LEN)
        return NULL;
    kc_remote *r = &app->remotes[app->n_remotes];
    memset(r, 0, sizeof(*r));
    r->window = calloc(KC_PEAK_WINDOW, sizeof(int16_t));
    if (!r->window)
        return NULL;
    snprintf(r->id, sizeof(r->id), "%s", id);
    app->n_remotes++;
    return r;
}

static kc_ssrc *find_ssrc(kc_app *app, uint32_t ssrc)
{
    for (size_t i = 0; i < app->n_ssrcs; i++)
        if (app->ssrcs[i].ssrc == ssrc)
            return &app->ssrcs[i];
    return NULL;
}

int kc_ssrc_map(kc_app *app, uint32_t ssrc, bool video, bool screen,
                const char *remote)
{
    kc_remote *r = kc_remote_get(app, remote, true);
    if (!r)
        return KG_ERR_FULL;
    int idx = (int)(r - app->remotes);
    kc_ssrc *s = find_ssrc(app, ssrc);
    if (s) {
        /* kaigi keeps an SSRC per (receiver, track); if it ever reuses one
         * for another publisher, attribute packets to the new owner. */
        if (s->video == video) {
            s->remote = idx;
            s->screen = screen;
            return 0;
        }
        return KG_ERR_EXISTS;
    }
    if (app->n_ssrcs == KC_MAX_SSRCS)
        return KG_ERR_FULL;
    s = &app->ssrcs[app->n_ssrcs];
    memset(s, 0, sizeof(*s));
    s->ssrc = ssrc;
    s->video = video;
    s->screen = video && screen;
    s->remote = idx;
    if (video) {
        s->vp8 = kg_vp8_dec_new();
        s->depack_ok = kg_vp8_depacketizer_init(&s->depack) == 0;
        if (!s->vp8 || !s->depack_ok || kc_nack_ssrc_init(app, s) != 0)
            goto nomem;
    } else if (!(s->opus = kg_opus_dec_new())) {
        goto nomem;
    }
    app->n_ssrcs++;
    return 0;
nomem:
    kc_nack_ssrc_free(s);
    kg_vp8_dec_del(s->vp8);
    if (s->depack_ok)
        kg_vp8_depacketizer_free(&s->depack);
    return KG_ERR_NOMEM;
}

static void on_audio(kc_remote *r, kc_ssrc *s, const kg_rtp_hdr *h)
{
    static int16_t pcm[MAX_OPUS_SAMPLES * KG_AUDIO_CHANNELS];
    r->audio_packets++;
    int n = kg_opus_decode(s->opus, h->payload, h->payload_len, pcm,
                           MAX_OPUS_SAMPLES);
    if (n < 0) {
        r->decode_errors++;
        return;
    }
    r->audio_frames_decoded++;
    for (int i = 0; i < n; i++) {
        r->window[r->window_pos] = pcm[i * KG_AUDIO_CHANNELS];
        r->window_pos = (r->window_pos + 1) % KC_PEAK_WINDOW;
    }
    r->window_fill += (size_t)n;
    if (r->window_fill > KC_PEAK_WINDOW)
        r->window_fill = KC_PEAK_WINDOW;
    r->tl_samples += (size_t)n;
    if (r->tl_samples > KC_PEAK_WINDOW)
        r->tl_samples = KC_PEAK_WINDOW;
}

/* Until a keyframe arrives nothing can be decoded: ask the sender (through
 * kaigi) for one, at most every PLI_GAP. */
static void maybe_send_pli(kc_app *app, kc_ssrc *s, kg_time now)
{
    if (s->got_keyframe || (s->last_pli && now - s->last_pli < PLI_GAP))
        return;
    uint8_t pkt[64 + KG_SRTP_MAX_TRAILER];
    ssize_t n = kg_rtcp_write_pli(app->rtcp_ssrc, s->ssrc, pkt, 64);
    if (n > 0 &&
        kc_transport_send_rtcp(&app->sub_t, pkt, (size_t)n, sizeof(pkt)) > 0)
        s->last_pli = now;
}

/* As a receiver: a REMB every REMB_GAP naming every video SSRC we
 * receive. kaigi picks simulcast layers from it. The estimate is not
 * measured: --max-recv-kbps, or "plenty" (loopback) without it; inside
 * --remb-drop's window, its rate. */
#define REMB_GAP (250 * KG_MS)
#define REMB_PLENTY_BPS 50000000ull
static uint64_t remb_bps(const kc_app *app)
{
    const kc_opts *o = &app->opts;
    int64_t joined = app->meeting.joined_ms;
    double t = joined ? (double)(kc_unix_ms() - joined) / 1000.0 : -1;
    if (o->remb_drop_end > 0 && t >= o->remb_drop_start &&
        t < o->remb_drop_end)
        return (uint64_t)o->remb_drop_kbps * 1000;
    return o->max_recv_kbps ? (uint64_t)o->max_recv_kbps * 1000
                            : REMB_PLENTY_BPS;
}

static void maybe_send_remb(kc_app *app, kg_time now)
{
    if (now < app->next_remb)
        return;
    app->next_remb = now + REMB_GAP;
    kg_rtcp_remb remb;
    memset(&remb, 0, sizeof(remb));
    remb.bitrate_bps = remb_bps(app);
    for (size_t i = 0; i < app->n_ssrcs && remb.n_ssrc < KG_RTCP_REMB_MAX_SSRC;
         i++)
        if (app->ssrcs[i].video)
            remb.ssrc[remb.n_ssrc++] = app->ssrcs[i].ssrc;
    uint8_t pkt[128 + KG_SRTP_MAX_TRAILER];
    ssize_t n = kg_rtcp_write_remb(app->rtcp_ssrc, &remb, pkt, 128);
    if (n > 0 &&
        kc_transport_send_rtcp(&app->sub_t, pkt, (size_t)n, sizeof(pkt)) > 0)
        app->remb_sent++;
}

static void on_video(kc_app *app, kc_remote *r, kc_ssrc *s,
                     const kg_rtp_hdr *h, kg_time now)
{
    uint64_t *frames = s->screen ? &r->screen_frames_decoded
                                 : &r->video_frames_decoded;
    if (s->screen)
        r->screen_packets++;
    else
        r->video_packets++;
    maybe_send_pli(app, s, now);
    maybe_send_remb(app, now);
    const uint8_t *frame;
    size_t len;
    int rc = kg_vp8_depacketizer_push(&s->depack, h->seq, h->ts, h->marker,
                                      h->payload, h->payload_len, &frame,
                                      &len);
    if (rc < 0) {
        r->decode_errors++;
        return;
    }
    if (rc == 0 || len == 0)
        return;
    /* VP8 frame tag (RFC 6386 9.1): bit 0 clear means a keyframe. Delta
     * frames before the first keyframe cannot decode; they are skipped,
     * not counted as errors. */
    if (!(frame[0] & 1))
        s->got_keyframe = true;
    if (!s->got_keyframe)
        return;
    /* KG_ERR_AGAIN: decoded but not shown (an alt-ref); still a frame the
     * sender sent and we decoded. */
    unsigned w = 0, hgt = 0;
    int drc = kg_vp8_decode(s->vp8, frame, len, &w, &hgt);
    if (drc == 0 || drc == KG_ERR_AGAIN)
        (*frames)++;
    else
        r->decode_errors++;
    if (drc == 0 && !s->screen && (w != r->video_width ||
                                   hgt != r->video_height)) {
        r->resolution_changes += r->video_width != 0;
        r->video_width = w;
        r->video_height = hgt;
    }
}

void kc_sub_on_rtp(kc_transport *t, uint8_t *pkt, size_t len, kg_time now)
{
    kc_app *app = t->app;
    kg_rtp_hdr h;
    if (kg_rtp_parse(pkt, len, &h) < 0) {
        app->rtp_malformed++;
        return;
    }
    kc_ssrc *s = find_ssrc(app, h.ssrc);
    if (!s) {
        app->rtp_unknown_ssrc++;
        return;
    }
    kc_remote *r = &app->remotes[s->remote];
    r->last_media_ms = kc_unix_ms();
    kc_rtcp_on_received(s, &h, now);
    if (s->video)
        kc_nack_video_in(app, s, pkt, len, now);
    else
        on_audio(r, s, &h);
    kc_nack_tick(app, now);
}

void kc_sub_on_video_packet(kc_app *app, kc_ssrc *s, uint8_t *pkt,
                            size_t len, kg_time now)
{
    kg_rtp_hdr h;
    if (kg_rtp_parse(pkt, len, &h) < 0) {
        app->rtp_malformed++;
        return;
    }
    on_video(app, &app->remotes[s->remote], s, &h, now);
}

void kc_sub_on_rtcp(kc_transport *t, uint8_t *pkt, size_t len, kg_time now)
{
    /* kaigi's SRs: LSR/DLSR for our RRs (tools/client_rtcp.c) */
    kc_rtcp_on_sub_rtcp(t->app, pkt, len, now);
    t->app->rtcp_in++;
}

size_t kc_remotes_with_tracks(const kc_app *app)
{
    size_t n = 0;
    for (size_t i = 0; i < app->n_remotes; i++) {
        if (!app->remotes[i].present)
            continue;
        for (size_t j = 0; j < app->n_ssrcs; j++) {
            if (app->ssrcs[j].remote == (int)i) {
                n++;
                break;
            }
        }
    }
    return n;
}

double kc_remote_peak_hz(const kc_remote *r)
{
    /* Less than a tenth of a second cannot resolve 10 Hz steps anyway. */
    if (r->window_fill < KC_PEAK_WINDOW / 10)
        return 0;
    int16_t *lin = malloc(KC_PEAK_WINDOW * sizeof(int16_t));
    if (!lin)
        return 0;
    /* Unroll the ring into time order, oldest sample first. */
    size_t n = r->window_fill;
    size_t start = (r->window_pos + KC_PEAK_WINDOW - n) % KC_PEAK_WINDOW;
    for (size_t i = 0; i < n; i++)
        lin[i] = r->window[(start + i) % KC_PEAK_WINDOW];
    double best = 0, best_hz = 0;
    for (int hz = 200; hz <= 2000; hz += 10) {
        double p = kg_goertzel(lin, n, 1, hz, KG_AUDIO_RATE);
        if (p > best) {
            best = p;
            best_hz = hz;
        }
    }
    free(lin);
    return best_hz;
}

void kc_media_free(kc_app *app)
{
    kc_pub_free(&app->pub);
    for (size_t i = 0; i < app->n_ssrcs; i++) {
        kc_ssrc *s = &app->ssrcs[i];
        kg_opus_dec_del(s->opus);
        kg_vp8_dec_del(s->vp8);
        if (s->depack_ok)
            kg_vp8_depacketizer_free(&s->depack);
        kc_nack_ssrc_free(s);
    }
    app->n_ssrcs = 0;
    for (size_t i = 0; i < app->n_remotes; i++) {
        free(app->remotes[i].window);
        json_decref(app->remotes[i].timeline);
    }
    app->n_remotes = 0;
}

/* --- tone report (--expect-tones) ------------------------------------ */

int kc_parse_tones(kc_opts *o, const char *list)
{
    o->n_expect_tones = 0;
    const char *p = list;
    while (*p) {
        char *end;
        double hz = strtod(p, &end);
        if (end == p || !(hz >= 20 && hz <= 20000) ||
            o->n_expect_tones == KC_MAX_TONES || (*end && *end != ','))
            return -1;
        o->expect_tones[o->n_expect_tones++] = hz;
        p = *end ? end + 1 : end;
        if (*end && !*p)
            return -1; /* a trailing comma */
    }
    return o->n_expect_tones ? 0 : -1;
}

void kc_tones_last(const kc_app *app, const kc_remote *r, size_t n,
                   int16_t *lin, double *out)
{
    size_t start = (r->window_pos + KC_PEAK_WINDOW - n) % KC_PEAK_WINDOW;
    for (size_t k = 0; k < n; k++)
        lin[k] = r->window[(start + k) % KC_PEAK_WINDOW];
    for (size_t t = 0; t < app->opts.n_expect_tones; t++)
        out[t] = n >= 2 ? kg_goertzel(lin, n, 1, app->opts.expect_tones[t],
                                      KG_AUDIO_RATE)
                        : 0.0;
}

/* The --expect-tones energies of r's last second of audio into out. */
static void tones_now(const kc_app *app, const kc_remote *r, int16_t *lin,
                      double *out)
{
    kc_tones_last(app, r, r->window_fill, lin, out);
}

void kc_freeze_tones(kc_app *app)
{
    if (!app->opts.n_expect_tones || app->tones_frozen)
        return;
    app->tones_frozen = true;
    int16_t *lin = malloc(KC_PEAK_WINDOW * sizeof(int16_t));
    if (!lin)
        return;
    for (size_t i = 0; i < app->n_remotes; i++) {
        kc_remote *r = &app->remotes[i];
        tones_now(app, r, lin, r->tones);
        r->tones_frozen = true;
    }
    free(lin);
}

void kc_report_tones(const kc_app *app, json_t *remotes)
{
    if (!app->opts.n_expect_tones)
        return;
    int16_t *lin = malloc(KC_PEAK_WINDOW * sizeof(int16_t));
    if (!lin)
        return;
    for (size_t i = 0; i < app->n_remotes; i++) {
        const kc_remote *r = &app->remotes[i];
        json_t *obj = json_object_get(remotes, r->id);
        if (!obj)
            continue;
        double e[KC_MAX_TONES];
        if (r->tones_frozen)
            memcpy(e, r->tones, sizeof(e));
        else
            tones_now(app, r, lin, e);
        json_t *tones = json_object();
        for (size_t t = 0; t < app->opts.n_expect_tones; t++) {
            char key[32];
            snprintf(key, sizeof(key), "%g", app->opts.expect_tones[t]);
            json_object_set_new(tones, key, json_real(e[t]));
        }
        json_object_set_new(obj, "tones", tones);
    }
    free(lin);
}
