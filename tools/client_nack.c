/* kaigi-client's NACK loss recovery (relay/nack.h) and --loss.
 *
 * Sending: every video packet we send is kept for a second in its track's
 * retransmission cache; a NACK from kaigi resends it as it was (plain
 * retransmission, no RTX payload type: the same sequence number, the same
 * SRTP index). --loss drops that share of our outgoing RTP, first sends
 * and resends alike, as a lossy uplink would; --recv-loss drops that share
 * of what kaigi sends us, as a lossy downlink would.
 *
 * Receiving: each video SSRC kaigi forwards has a NACK generator (we NACK
 * kaigi for what we miss; kaigi answers from its cache) and a reorder
 * buffer, because a recovered packet arrives after the ones behind it and
 * the VP8 depacketizer wants packets in order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec/bytes.h"
#include "codec/rtcp.h"
#include "codec/rtp.h"
#include "relay/nack.h"
#include "relay/reorder.h"
#include "tools/client.h"

/* How long a missing packet holds back those after it: time for a few
 * NACK rounds through kaigi (and for kaigi's own NACK to the sender). */
#define REORDER_WAIT (300 * KG_MS)
#define REORDER_SLOTS 256
#define NACK_BATCH 64

void kc_nack_init(kc_app *app)
{
    /* Deterministic per --seed, so a lossy run can be repeated. */
    app->loss_rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)app->opts.seed << 1);
    if (app->loss_rng == 0)
        app->loss_rng = 1;
    app->recv_loss_rng =
        0xd1b54a32d192ed03ull ^ ((uint64_t)app->opts.seed << 1);
}

/* xorshift64*: a uniform draw in [0, 1) from state s. */
static double draw(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return (double)((*s * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

static double loss_draw(kc_app *app)
{
    return draw(&app->loss_rng);
}

int kc_nack_vtrack_init(kc_app *app, kc_vtrack *v)
{
    if (app->opts.no_nack)
        return 0;
    v->rtx = malloc(sizeof(*v->rtx));
    if (!v->rtx)
        return KG_ERR_NOMEM;
    int rc = kg_rtx_cache_init(v->rtx, KG_RTX_SLOTS, KG_RTX_BYTES,
                               KG_RTX_MAX_AGE);
    if (rc != 0) {
        free(v->rtx);
        v->rtx = NULL;
    }
    return rc;
}

void kc_nack_vtrack_free(kc_vtrack *v)
{
    if (v->rtx)
        kg_rtx_cache_free(v->rtx);
    free(v->rtx);
    v->rtx = NULL;
}

ssize_t kc_nack_send_rtp(kc_app *app, kc_vtrack *v, uint8_t *pkt, size_t len,
                         size_t cap)
{
    if (v && v->rtx && len >= 4)
        kg_rtx_cache_put(v->rtx, kg_rd16(pkt + 2), pkt, len, kc_now());
    if (app->opts.loss > 0 && loss_draw(app) * 100.0 < app->opts.loss) {
        /* Sent, as far as the sender knows: the "network" lost it. Its
         * SR counts it, as a real sender's would. */
        app->loss_dropped++;
        return (ssize_t)len;
    }
    return kc_transport_send_rtp(&app->pub_t, pkt, len, cap);
}

static void resend(kc_app *app, kc_vtrack *v, uint16_t seq, kg_time now)
{
    uint8_t pkt[KC_PKT_CAP + KG_SRTP_MAX_TRAILER];
    size_t len;
    app->nacks_in++;
    const uint8_t *p = kg_rtx_cache_get(v->rtx, seq, now, &len);
    if (!p || len > KC_PKT_CAP)
        return;
    /* Copied: protection works in place and the cache keeps plaintext. */
    memcpy(pkt, p, len);
    app->retransmits++;
    /* Not cached again: v is NULL. */
    ssize_t n = kc_nack_send_rtp(app, NULL, pkt, len, sizeof(pkt));
    if (n > 0)
        app->sent.bytes += (uint64_t)n;
}

void kc_nack_on_feedback(kc_app *app, const kg_rtcp_fb *fb, kg_time now)
{
    kc_pub *pub = &app->pub;
    kc_vtrack *v = fb->media_ssrc == pub->cam.ssrc ? &pub->cam
                   : pub->screen.vp8 && fb->media_ssrc == pub->screen.ssrc
                       ? &pub->screen
                       : NULL;
    kg_rtcp_nack_item items[NACK_BATCH];
    int n = kg_rtcp_parse_nack(fb, items, NACK_BATCH);
    if (!v || !v->rtx || n <= 0)
        return;
    for (int i = 0; i < n; i++) {
        resend(app, v, items[i].pid, now);
        for (unsigned b = 0; b < 16; b++) {
            if (items[i].blp & (1u << b))
                resend(app, v, (uint16_t)(items[i].pid + b + 1), now);
        }
    }
}

/* --- receiving ------------------------------------------------------ */

bool kc_nack_recv_drop(kc_app *app, const uint8_t *pkt, size_t len)
{
    /* RFC 7983: RTP and RTCP start with 128..191; RFC 5761: RTCP packet
     * types 192..223 leave 64..95 in the marker-less payload type. */
    if (app->opts.recv_loss <= 0 || len < 12 || pkt[0] < 128 || pkt[0] > 191)
        return false;
    uint8_t pt = pkt[1] & 0x7f;
    if (pt >= 64 && pt <= 95)
        return false;
    if (draw(&app->recv_loss_rng) * 100.0 >= app->opts.recv_loss)
        return false;
    app->recv_loss_dropped++;
    /* The SRTP header is in clear: the SSRC tells video from audio. */
    uint32_t ssrc = kg_rd32(pkt + 8);
    for (size_t i = 0; i < app->n_ssrcs; i++)
        if (app->ssrcs[i].ssrc == ssrc && app->ssrcs[i].video)
            app->recv_loss_video++;
    return true;
}

int kc_nack_ssrc_init(kc_app *app, kc_ssrc *s)
{
    s->reorder = malloc(sizeof(*s->reorder));
    if (!s->reorder)
        return KG_ERR_NOMEM;
    /* Without NACK nothing comes back: hold nothing for it. */
    int rc = kg_reorder_init(s->reorder, REORDER_SLOTS,
                             app->opts.no_nack ? 0 : REORDER_WAIT);
    if (rc != 0) {
        free(s->reorder);
        s->reorder = NULL;
        return rc;
    }
    if (app->opts.no_nack)
        return 0;
    s->nack = malloc(sizeof(*s->nack));
    if (!s->nack)
        return KG_ERR_NOMEM;
    kg_nack_gen_init(s->nack);
    return 0;
}

void kc_nack_ssrc_free(kc_ssrc *s)
{
    if (s->reorder)
        kg_reorder_free(s->reorder);
    free(s->reorder);
    free(s->nack);
    s->reorder = NULL;
    s->nack = NULL;
}

static void send_nacks(kc_app *app, kc_ssrc *s, kg_time now)
{
    uint16_t seqs[NACK_BATCH];
    kg_rtcp_nack_item items[NACK_BATCH];
    uint8_t pkt[512 + KG_SRTP_MAX_TRAILER];
    uint64_t given_up = s->nack->given_up;
    size_t n = kg_nack_gen_poll(s->nack, now, seqs, NACK_BATCH);
    app->packets_given_up += s->nack->given_up - given_up;
    if (n == 0)
        return;
    size_t ni = kg_rtcp_nack_pack(seqs, n, items, NACK_BATCH);
    ssize_t len = kg_rtcp_write_nack(app->rtcp_ssrc, s->ssrc, items, ni, pkt,
                                     512);
    if (len > 0 &&
        kc_transport_send_rtcp(&app->sub_t, pkt, (size_t)len, sizeof(pkt)) > 0)
        app->nacks_sent += n;
}

/* Releases what the reorder buffer lets out at now. */
static void release(kc_app *app, kc_ssrc *s, kg_time now)
{
    const uint8_t *p;
    size_t len;
    uint64_t skipped = s->reorder->skipped;
    while ((p = kg_reorder_pop(s->reorder, now, &len))) {
        /* A copy: the consumer may keep views until the next packet. */
        uint8_t pkt[KG_REORDER_PKT];
        memcpy(pkt, p, len);
        kc_sub_on_video_packet(app, s, pkt, len, now);
    }
    app->reorder_skipped += s->reorder->skipped - skipped;
}

void kc_nack_video_in(kc_app *app, kc_ssrc *s, uint8_t *pkt, size_t len,
                      kg_time now)
{
    uint16_t seq = kg_rd16(pkt + 2);
    if (s->nack) {
        uint64_t given_up = s->nack->given_up;
        uint64_t nacked = s->nack->recovered_nacked;
        int seen = kg_nack_gen_on_packet(s->nack, seq, now);
        app->packets_given_up += s->nack->given_up - given_up;
        app->nack_recovered += s->nack->recovered_nacked - nacked;
        if (seen == KG_NACK_RECOVERED)
            app->packets_recovered++;
        else if (seen == KG_NACK_RESET)
            app->stream_resets++;
        if (kg_nack_gen_deadline(s->nack) <= now)
            send_nacks(app, s, now);
    }
    uint64_t resets = s->reorder ? s->reorder->resets : 0;
    if (!s->reorder ||
        kg_reorder_push(s->reorder, seq, pkt, len, now) == KG_ERR_INVAL) {
        kc_sub_on_video_packet(app, s, pkt, len, now);
        return;
    }
    app->stream_resets += s->reorder->resets - resets;
    release(app, s, now);
}

void kc_nack_tick(kc_app *app, kg_time now)
{
    for (size_t i = 0; i < app->n_ssrcs; i++) {
        kc_ssrc *s = &app->ssrcs[i];
        if (s->nack && kg_nack_gen_deadline(s->nack) <= now)
            send_nacks(app, s, now);
        if (s->reorder && kg_reorder_deadline(s->reorder) <= now)
            release(app, s, now);
    }
}
