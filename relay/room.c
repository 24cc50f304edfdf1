#include "relay/room.h"

#include <stdlib.h>
#include <string.h>

#include "codec/bytes.h"
#include "codec/rtcp.h"
#include "crypto/random.h"
#include "relay/nack.h"

void kg_room_init(kg_room *r, uint64_t id)
{
    memset(r, 0, sizeof(*r));
    r->id = id;
}

static void track_del(kg_track *t)
{
    if (t->rtx)
        kg_rtx_cache_free(t->rtx);
    free(t->rtx);
    free(t->nack);
    free(t->routes);
    free(t);
}

void kg_room_free(kg_room *r)
{
    for (size_t i = 0; i < r->n_tracks; i++)
        track_del(r->tracks[i]);
    free(r->tracks);
    memset(r, 0, sizeof(*r));
}

kg_track *kg_room_find_track(const kg_room *r, const void *pub,
                             uint32_t in_ssrc)
{
    for (size_t i = 0; i < r->n_tracks; i++) {
        kg_track *t = r->tracks[i];
        if (t->pub == pub && t->in_ssrc == in_ssrc)
            return t;
    }
    return NULL;
}

/* Allocated once per video track, so that the packet path never does. */
static int track_nack_init(kg_track *t)
{
    t->rtx = calloc(1, sizeof(*t->rtx));
    t->nack = malloc(sizeof(*t->nack));
    if (!t->rtx || !t->nack)
        return KG_ERR_NOMEM;
    kg_nack_gen_init(t->nack);
    int rc = kg_rtx_cache_init(t->rtx, KG_RTX_SLOTS, KG_RTX_BYTES,
                               KG_RTX_MAX_AGE);
    if (rc != 0) {
        free(t->rtx); /* init left it empty */
        t->rtx = NULL;
    }
    return rc;
}

int kg_room_add_track(kg_room *r, void *pub, uint32_t in_ssrc,
                      enum kg_track_kind kind)
{
    if (kg_room_find_track(r, pub, in_ssrc))
        return KG_ERR_EXISTS;
    if (r->n_tracks == r->cap_tracks) {
        size_t cap = r->cap_tracks ? r->cap_tracks * 2 : 8;
        kg_track **n = realloc(r->tracks, cap * sizeof(*n));
        if (!n)
            return KG_ERR_NOMEM;
        r->tracks = n;
        r->cap_tracks = cap;
    }
    kg_track *t = calloc(1, sizeof(*t));
    if (!t)
        return KG_ERR_NOMEM;
    t->pub = pub;
    t->in_ssrc = in_ssrc;
    t->kind = kind;
    if (kind == KG_TRACK_VIDEO && track_nack_init(t) != 0) {
        track_del(t);
        return KG_ERR_NOMEM;
    }
    r->tracks[r->n_tracks++] = t;
    return 0;
}

kg_track *kg_room_find_by_out(const kg_room *r, const void *sub,
                              uint32_t out_ssrc, kg_route **route)
{
    for (size_t i = 0; i < r->n_tracks; i++) {
        kg_track *t = r->tracks[i];
        for (size_t j = 0; j < t->n_routes; j++) {
            if (t->routes[j].sub == sub && t->routes[j].out_ssrc == out_ssrc) {
                if (route)
                    *route = &t->routes[j];
                return t;
            }
        }
    }
    return NULL;
}

int kg_room_add_route(kg_room *r, const void *pub, uint32_t in_ssrc,
                      void *sub, uint32_t out_ssrc, uint8_t out_pt)
{
    kg_track *t = kg_room_find_track(r, pub, in_ssrc);
    if (!t)
        return KG_ERR_NOTFOUND;
    if (sub == pub)
        return KG_ERR_DENIED;
    for (size_t j = 0; j < t->n_routes; j++) {
        if (t->routes[j].sub == sub)
            return KG_ERR_EXISTS;
    }
    if (kg_room_find_by_out(r, sub, out_ssrc, NULL))
        return KG_ERR_EXISTS;
    if (t->n_routes == t->cap_routes) {
        size_t cap = t->cap_routes ? t->cap_routes * 2 : 4;
        kg_route *n = realloc(t->routes, cap * sizeof(*n));
        if (!n)
            return KG_ERR_NOMEM;
        t->routes = n;
        t->cap_routes = cap;
    }
    kg_route *rt = &t->routes[t->n_routes++];
    memset(rt, 0, sizeof(*rt));
    rt->sub = sub;
    rt->out_ssrc = out_ssrc;
    rt->out_pt = out_pt;
    rt->base_seq = (uint16_t)kg_random_u32();
    rt->base_ts = kg_random_u32();
    return 0;
}

/* Removes routes to m from t, keeping the order of the others. */
static void track_drop_routes_to(kg_track *t, const void *m)
{
    size_t w = 0;
    for (size_t i = 0; i < t->n_routes; i++) {
        if (t->routes[i].sub != m)
            t->routes[w++] = t->routes[i];
    }
    t->n_routes = w;
}

void kg_room_remove_member(kg_room *r, const void *m)
{
    size_t w = 0;
    for (size_t i = 0; i < r->n_tracks; i++) {
        kg_track *t = r->tracks[i];
        if (t->pub == m) {
            track_del(t);
            continue;
        }
        track_drop_routes_to(t, m);
        r->tracks[w++] = t;
    }
    r->n_tracks = w;
}

uint32_t kg_track_clock_rate(enum kg_track_kind kind)
{
    return kind == KG_TRACK_AUDIO ? 48000 : 90000;
}

#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define SEQ_MOD 65536u

/* now (ns) in units of a clock_rate Hz clock, modulo 2^32: only
 * differences matter. Split so that nothing overflows. */
static uint32_t clock_units(kg_time now, uint32_t clock_rate)
{
    uint64_t sec = now / KG_SEC, ns = now % KG_SEC;
    return (uint32_t)(sec * clock_rate + ns * clock_rate / KG_SEC);
}

static void rx_restart(kg_rx_stats *s, uint16_t seq)
{
    s->max_seq = seq;
    s->cycles = 0;
    s->base_seq = seq;
    s->bad_seq = SEQ_MOD + 1; /* no sequence number equals it */
    s->received = 0;
    s->have_transit = false;
    s->started = true;
}

/* RFC 3550 A.1, update_seq(). Returns false for a packet not counted. */
static bool rx_seq(kg_rx_stats *s, uint16_t seq)
{
    uint16_t udelta = (uint16_t)(seq - s->max_seq);
    if (udelta < MAX_DROPOUT) {
        if (seq < s->max_seq)
            s->cycles += SEQ_MOD; /* wrapped */
        s->max_seq = seq;
    } else if (udelta <= SEQ_MOD - MAX_MISORDER) {
        /* A very large jump: believe it only if the next packet follows
         * it, as a restarted sender's would. */
        if (seq != s->bad_seq) {
            s->bad_seq = (seq + 1u) & (SEQ_MOD - 1);
            return false;
        }
        rx_restart(s, seq);
    }
    /* else a duplicate or a late packet: counted, max_seq kept */
    s->received++;
    return true;
}

/* RFC 3550 A.8: J += (|D| - J) / 16, kept times 16 as an integer. */
static void rx_jitter(kg_rx_stats *s, uint32_t ts, kg_time now)
{
    uint32_t transit = clock_units(now, s->clock_rate) - ts;
    if (s->have_transit) {
        int32_t d = (int32_t)(transit - s->transit);
        uint32_t ad = d < 0 ? (uint32_t)-(int64_t)d : (uint32_t)d;
        s->jitter += ad - ((s->jitter + 8) >> 4);
    }
    s->transit = transit;
    s->have_transit = true;
}

void kg_rx_stats_update(kg_rx_stats *s, uint16_t seq, uint32_t ts,
                        kg_time now, uint32_t clock_rate)
{
    if (!s->started) {
        rx_restart(s, seq);
        s->received = 1;
    } else if (!rx_seq(s, seq)) {
        return;
    }
    s->clock_rate = clock_rate ? clock_rate : 90000;
    rx_jitter(s, ts, now);
}

uint64_t kg_rx_stats_expected(const kg_rx_stats *s)
{
    if (!s->started)
        return 0;
    uint64_t ext_max = (uint64_t)s->cycles + s->max_seq;
    return ext_max - s->base_seq + 1;
}

uint64_t kg_rx_stats_lost(const kg_rx_stats *s)
{
    uint64_t expected = kg_rx_stats_expected(s);
    return expected > s->received ? expected - s->received : 0;
}

double kg_rx_stats_jitter_ms(const kg_rx_stats *s)
{
    if (!s->clock_rate)
        return 0.0;
    return (double)s->jitter / 16.0 * 1000.0 / (double)s->clock_rate;
}

size_t kg_room_route(kg_track *t, const kg_rtp_hdr *h, kg_time now,
                     kg_fwd *out, size_t cap)
{
    size_t n = 0;
    kg_rx_stats_update(&t->rx, h->seq, h->ts, now,
                       kg_track_clock_rate(t->kind));
    t->packets++;
    t->bytes += h->payload_len;
    for (size_t i = 0; i < t->n_routes && n < cap; i++) {
        kg_route *rt = &t->routes[i];
        if (!rt->started) {
            rt->seq_delta = (uint16_t)(rt->base_seq - h->seq);
            rt->ts_delta = rt->base_ts - h->ts;
            rt->started = true;
        }
        rt->packets++;
        rt->bytes += h->payload_len;
        out[n].sub = rt->sub;
        out[n].route = rt;
        out[n].pt = rt->out_pt;
        out[n].seq = (uint16_t)(h->seq + rt->seq_delta);
        out[n].ts = h->ts + rt->ts_delta;
        out[n].ssrc = rt->out_ssrc;
        kg_rtcp_tx_on_packet(&rt->rtcp, out[n].ts, now);
        n++;
    }
    return n;
}

void kg_room_skip(kg_track *t, const kg_rtp_hdr *h, kg_time now)
{
    kg_rx_stats_update(&t->rx, h->seq, h->ts, now,
                       kg_track_clock_rate(t->kind));
    t->packets++;
    t->bytes += h->payload_len;
    for (size_t i = 0; i < t->n_routes; i++) {
        if (t->routes[i].started)
            t->routes[i].seq_delta--;
    }
}

/* --- loss recovery -------------------------------------------------- */

#define NACK_BATCH 64

int kg_track_rtp_in(kg_track *t, const uint8_t *pkt, size_t len,
                    uint16_t seq, kg_time now)
{
    if (!t->nack)
        return KG_NACK_NEW;
    int seen = kg_nack_gen_on_packet(t->nack, seq, now);
    if (seen == KG_NACK_OLD && kg_rtx_cache_has(t->rtx, seq, now))
        return KG_NACK_DUPLICATE;
    kg_rtx_cache_put(t->rtx, seq, pkt, len, now);
    if (seen == KG_NACK_RECOVERED || seen == KG_NACK_OLD) {
        kg_rtx_slot *s = kg_rtx_cache_find(t->rtx, seq, now);
        if (s)
            s->late = true;
    }
    return seen;
}

ssize_t kg_track_resend(kg_track *t, const kg_route *rt, uint16_t out_seq,
                        kg_time now, uint8_t *buf, size_t cap)
{
    if (!t->rtx || !rt->started)
        return KG_ERR_INVAL;
    /* Only what this route was sent: nothing from before it started, so
     * a receiver cannot fetch the second before it subscribed. */
    uint16_t out_max = (uint16_t)(t->rx.max_seq + rt->seq_delta);
    if ((uint16_t)(out_seq - rt->base_seq) >
        (uint16_t)(out_max - rt->base_seq))
        return KG_ERR_INVAL;
    uint16_t in_seq = (uint16_t)(out_seq - rt->seq_delta);
    const kg_rtx_slot *s = kg_rtx_cache_find(t->rtx, in_seq, now);
    if (s && s->late && now >= s->at && now - s->at < KG_TRACK_LATE_HOLDOFF)
        return KG_ERR_AGAIN;
    size_t len;
    const uint8_t *pkt = kg_rtx_cache_get(t->rtx, in_seq, now, &len);
    if (!pkt || len < 12)
        return KG_ERR_NOTFOUND;
    if (len > cap)
        return KG_ERR_NOSPACE;
    memcpy(buf, pkt, len);
    kg_rtp_rewrite(buf, rt->out_pt, out_seq, kg_rd32(pkt + 4) + rt->ts_delta,
                   rt->out_ssrc);
    return (ssize_t)len;
}

ssize_t kg_track_nack_poll(kg_track *t, kg_time now, uint32_t sender_ssrc,
                           uint8_t *buf, size_t cap, size_t *n_seqs)
{
    uint16_t seqs[NACK_BATCH];
    kg_rtcp_nack_item items[NACK_BATCH];
    *n_seqs = 0;
    if (!t->nack)
        return 0;
    size_t n = kg_nack_gen_poll(t->nack, now, seqs, NACK_BATCH);
    if (n == 0)
        return 0;
    size_t ni = kg_rtcp_nack_pack(seqs, n, items, NACK_BATCH);
    ssize_t len = kg_rtcp_write_nack(sender_ssrc, t->in_ssrc, items, ni, buf,
                                     cap);
    if (len > 0)
        *n_seqs = n;
    return len;
}
