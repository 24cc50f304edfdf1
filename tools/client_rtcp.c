/* kaigi-client's RTCP reports (RFC 3550 6.4), with relay/rtcp_report.h:
 * every ~1 s (randomised 0.5-1.5 s), an SR compound for what we publish
 * on the publish leg and an RR compound with a block (LSR/DLSR from
 * kaigi's SRs) for each SSRC kaigi forwards us on the subscribe leg.
 * kaigi answers our SRs with RR blocks: their LSR/DLSR give the RTT of
 * the publish leg, which the report shows. */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "codec/rtcp.h"
#include "crypto/random.h"
#include "crypto/srtp.h"
#include "tools/client.h"

#define RTCP_CAP 1200
#define CNAME "kaigi-client"

static uint64_t ntp_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return kg_ntp_from_unix_ns((uint64_t)ts.tv_sec * KG_SEC +
                               (uint64_t)ts.tv_nsec);
}

static kc_rtcp_stream *out_stream(kc_app *app, uint32_t ssrc, bool create)
{
    kc_rtcp_stream *free_slot = NULL;
    for (size_t i = 0; i < KC_RTCP_STREAMS; i++) {
        kc_rtcp_stream *s = &app->rtcp.out[i];
        if (s->ssrc == ssrc && ssrc != 0)
            return s;
        if (s->ssrc == 0 && !free_slot)
            free_slot = s;
    }
    if (!create || !free_slot)
        return NULL;
    free_slot->ssrc = ssrc;
    free_slot->clock_rate = ssrc == app->pub.audio_ssrc ? 48000 : 90000;
    return free_slot;
}

void kc_rtcp_on_sent(kc_app *app, const kg_rtp_hdr *h, size_t payload_len,
                     kg_time now)
{
    kc_rtcp_stream *s = out_stream(app, h->ssrc, true);
    if (!s)
        return;
    s->packets++;
    s->octets += payload_len;
    kg_rtcp_tx_on_packet(&s->tx, h->ts, now);
}

void kc_rtcp_on_received(kc_ssrc *s, const kg_rtp_hdr *h, kg_time now)
{
    kg_rx_stats_update(&s->rx, h->seq, h->ts, now, s->video ? 90000 : 48000);
}

static void send_compound(kc_transport *t, uint8_t *pkt, size_t len)
{
    kc_transport_send_rtcp(t, pkt, len, RTCP_CAP + KG_SRTP_MAX_TRAILER);
}

/* One SR per stream we have sent on; RTP timestamps from the last packet
 * of each (our own clock: no mapping to carry over). */
static void send_srs(kc_app *app, kg_time now)
{
    if (!kc_transport_connected(&app->pub_t))
        return;
    kg_rtcp_sender s[KC_RTCP_STREAMS];
    size_t n = 0;
    uint64_t ntp = ntp_now();
    for (size_t i = 0; i < KC_RTCP_STREAMS; i++) {
        kc_rtcp_stream *o = &app->rtcp.out[i];
        uint32_t ts;
        if (o->ssrc == 0 ||
            kg_rtcp_tx_rtp_ts(&o->tx, NULL, 0, o->clock_rate, now, &ts) != 0)
            continue;
        memset(&s[n], 0, sizeof(s[n]));
        s[n].ssrc = o->ssrc;
        s[n].ntp = ntp;
        s[n].rtp_ts = ts;
        s[n].packets = (uint32_t)o->packets;
        s[n].octets = (uint32_t)o->octets;
        snprintf(s[n].cname, sizeof(s[n].cname), "%s", CNAME);
        n++;
    }
    if (n == 0)
        return;
    uint8_t pkt[RTCP_CAP + KG_SRTP_MAX_TRAILER];
    size_t written;
    ssize_t len = kg_rtcp_write_srs(s, n, pkt, RTCP_CAP, &written);
    if (len > 0) {
        send_compound(&app->pub_t, pkt, (size_t)len);
        app->rtcp.sr_sent += written;
    }
}

/* One RR with a block for each SSRC kaigi has sent us. */
static void send_rr(kc_app *app, kg_time now)
{
    if (!kc_transport_connected(&app->sub_t))
        return;
    kg_rtcp_report_block b[KG_RTCP_MAX_BLOCKS];
    size_t n = 0;
    for (size_t i = 0; i < app->n_ssrcs && n < KG_RTCP_MAX_BLOCKS; i++) {
        kc_ssrc *s = &app->ssrcs[i];
        if (kg_rtcp_rx_block(&s->rtcp, &s->rx, s->ssrc, now, &b[n]) == 0)
            n++;
    }
    if (n == 0)
        return;
    uint8_t pkt[RTCP_CAP + KG_SRTP_MAX_TRAILER];
    size_t written;
    ssize_t len = kg_rtcp_write_rr_compound(app->rtcp_ssrc, CNAME, b, n, pkt,
                                            RTCP_CAP, &written);
    if (len > 0) {
        send_compound(&app->sub_t, pkt, (size_t)len);
        app->rtcp.rr_sent++;
    }
}

static void on_rtcp_timer(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    kg_time now = kc_now();
    if (app->phase < KC_LEAVING) {
        send_srs(app, now);
        send_rr(app, now);
    }
    kg_time next = kg_rtcp_report_interval(KG_RTCP_INTERVAL, kg_random_u32());
    uv_timer_start(timer, on_rtcp_timer, next / KG_MS, 0);
}

void kc_rtcp_init(kc_app *app)
{
    uv_timer_init(app->loop, &app->rtcp.timer);
    app->rtcp.timer.data = app;
    app->rtcp.timer_open = true;
    kg_time first =
        kg_rtcp_report_interval(KG_RTCP_INTERVAL / 2, kg_random_u32());
    uv_timer_start(&app->rtcp.timer, on_rtcp_timer, first / KG_MS, 0);
    uv_unref((uv_handle_t *)&app->rtcp.timer);
}

void kc_rtcp_close(kc_app *app)
{
    if (!app->rtcp.timer_open)
        return;
    app->rtcp.timer_open = false;
    uv_close((uv_handle_t *)&app->rtcp.timer, NULL);
}

static void blocks_in(kc_app *app, const kg_rtcp_report_block *b, size_t n)
{
    uint64_t ntp = ntp_now();
    for (size_t i = 0; i < n; i++) {
        kc_rtcp_stream *s = out_stream(app, b[i].ssrc, false);
        if (!s)
            continue;
        int64_t rtt = kg_rtcp_tx_on_block(&s->tx, &b[i], ntp);
        if (rtt >= 0)
            kg_rtt_update(&app->rtcp.pub_rtt, (uint32_t)rtt);
    }
}

void kc_rtcp_on_pub_rtcp(kc_app *app, const uint8_t *pkt, size_t len)
{
    static kg_rtcp_rr rr;
    size_t off = 0;
    kg_rtcp_pkt p;
    while (kg_rtcp_next(pkt, len, &off, &p) == 1) {
        if (p.pt != KG_RTCP_RR)
            continue;
        if (kg_rtcp_parse_rr(&p, &rr) != 0) {
            app->rtcp.malformed++;
            continue;
        }
        app->rtcp.rr_in++;
        blocks_in(app, rr.blocks, rr.n_blocks);
    }
}

void kc_rtcp_on_sub_rtcp(kc_app *app, const uint8_t *pkt, size_t len,
                         kg_time now)
{
    static kg_rtcp_sr sr;
    size_t off = 0;
    kg_rtcp_pkt p;
    while (kg_rtcp_next(pkt, len, &off, &p) == 1) {
        if (p.pt != KG_RTCP_SR)
            continue;
        if (kg_rtcp_parse_sr(&p, &sr) != 0) {
            app->rtcp.malformed++;
            continue;
        }
        app->rtcp.sr_in++;
        for (size_t i = 0; i < app->n_ssrcs; i++) {
            if (app->ssrcs[i].ssrc == sr.ssrc)
                kg_rtcp_rx_on_sr(&app->ssrcs[i].rtcp, sr.ntp, sr.rtp_ts, now);
        }
    }
}

/* kaigi's view of our streams: the worst fraction lost and jitter its
 * RRs reported. */
static void kaigi_view(const kc_app *app, double *loss, double *jitter_ms)
{
    *loss = 0;
    *jitter_ms = 0;
    for (size_t i = 0; i < KC_RTCP_STREAMS; i++) {
        const kc_rtcp_stream *s = &app->rtcp.out[i];
        if (!s->ssrc || !s->tx.have_rr)
            continue;
        double l = s->tx.fraction_lost / 256.0;
        double j = kg_rtcp_tx_jitter_ms(&s->tx, s->clock_rate);
        if (l > *loss)
            *loss = l;
        if (j > *jitter_ms)
            *jitter_ms = j;
    }
}

json_t *kc_rtcp_report(const kc_app *app)
{
    const kc_rtcp *r = &app->rtcp;
    double loss, jitter;
    kaigi_view(app, &loss, &jitter);
    return json_pack(
        "{s:o, s:o, s:I, s:I, s:I, s:I, s:I, s:I, s:f, s:f}", "rtt_ms",
        r->pub_rtt.valid ? json_real(r->pub_rtt.last_ms) : json_null(),
        "rtt_smoothed_ms",
        r->pub_rtt.valid ? json_real(r->pub_rtt.smoothed_ms) : json_null(),
        "rtt_samples", (json_int_t)r->pub_rtt.samples, "sr_sent",
        (json_int_t)r->sr_sent, "rr_sent", (json_int_t)r->rr_sent, "sr_in",
        (json_int_t)r->sr_in, "rr_in", (json_int_t)r->rr_in, "malformed",
        (json_int_t)r->malformed, "kaigi_loss_fraction", loss,
        "kaigi_jitter_ms", jitter);
}
