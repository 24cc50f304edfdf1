#include "relay/simulcast.h"

#include <string.h>

#include "codec/vp8.h"

#define VIDEO_CLOCK 90000u
#define DEFAULT_FRAME_TICKS (VIDEO_CLOCK / 30u)
/* A frame step longer than this is a pause, not a frame rate. */
#define MAX_FRAME_TICKS (VIDEO_CLOCK / 5u)

void kg_sc_track_init(kg_sc_track *t)
{
    memset(t, 0, sizeof(*t));
    t->headroom = 1.0;
    t->up_factor = 1.2;
    t->up_hold = 2 * KG_SEC;
    t->pli_interval = 500 * KG_MS;
    t->stale_after = 1 * KG_SEC;
    t->kf_retry = 1 * KG_SEC;
}

int kg_sc_track_set_layer(kg_sc_track *t, int idx, uint32_t ssrc,
                          uint32_t target_bps)
{
    if (idx < 0 || idx >= KG_SC_LAYERS || ssrc == 0)
        return KG_ERR_INVAL;
    for (int i = 0; i < KG_SC_LAYERS; i++)
        if (i != idx && t->layer[i].ssrc == ssrc)
            return KG_ERR_EXISTS;
    t->layer[idx].ssrc = ssrc;
    t->layer[idx].target_bps = target_bps;
    return 0;
}

int kg_sc_track_set_rid(kg_sc_track *t, int idx, const char *rid,
                        uint8_t ext_id)
{
    size_t n = rid ? strlen(rid) : 0;
    if (idx < 0 || idx >= KG_SC_LAYERS || n == 0 || n >= KG_SC_RID_LEN ||
        ext_id == 0)
        return KG_ERR_INVAL;
    for (int i = 0; i < KG_SC_LAYERS; i++)
        if (i != idx && strcmp(t->rid[i], rid) == 0)
            return KG_ERR_INVAL;
    memcpy(t->rid[idx], rid, n + 1);
    t->rid_ext = ext_id;
    return 0;
}

int kg_sc_track_rid_layer(const kg_sc_track *t, const kg_rtp_hdr *h)
{
    kg_rtp_ext_elem e;
    if (t->rid_ext == 0 || kg_rtp_ext_find(h, t->rid_ext, &e) != 0 ||
        e.len == 0 || e.len >= KG_SC_RID_LEN)
        return -1;
    for (int i = 0; i < KG_SC_LAYERS; i++) {
        const char *r = t->rid[i];
        if (t->layer[i].ssrc == 0 && r[0] && strlen(r) == e.len &&
            memcmp(r, e.data, e.len) == 0)
            return i;
    }
    return -1;
}

int kg_sc_track_layer_of(const kg_sc_track *t, uint32_t ssrc)
{
    for (int i = 0; i < KG_SC_LAYERS; i++)
        if (ssrc != 0 && t->layer[i].ssrc == ssrc)
            return i;
    return -1;
}

void kg_sc_track_on_packet(kg_sc_track *t, int idx, size_t len,
                           const uint8_t *payload, size_t payload_len,
                           kg_time now)
{
    if (idx < 0 || idx >= KG_SC_LAYERS)
        return;
    kg_sc_layer *l = &t->layer[idx];
    l->packets++;
    l->last_packet = now ? now : 1;
    if (l->win_start == 0)
        l->win_start = now ? now : 1;
    l->win_bytes += len;
    /* A window of a second or more smooths over keyframes, which are
     * several times the size of the frames between them. */
    if (now > l->win_start && now - l->win_start >= KG_SEC) {
        l->measured_bps =
            (uint32_t)(l->win_bytes * 8 * KG_SEC / (now - l->win_start));
        l->win_start = now;
        l->win_bytes = 0;
    }
    if (kg_vp8_is_keyframe(payload, payload_len)) {
        l->keyframes++;
        l->kf_pending = false;
    }
}

uint32_t kg_sc_layer_bps(const kg_sc_track *t, int idx)
{
    if (idx < 0 || idx >= KG_SC_LAYERS)
        return 0;
    const kg_sc_layer *l = &t->layer[idx];
    return l->measured_bps ? l->measured_bps : l->target_bps;
}

void kg_sc_track_want_keyframe(kg_sc_track *t, int idx)
{
    if (idx >= 0 && idx < KG_SC_LAYERS && t->layer[idx].ssrc != 0)
        t->layer[idx].kf_pending = true;
}

unsigned kg_sc_track_poll_keyframes(kg_sc_track *t, kg_time now,
                                    kg_time *next)
{
    unsigned mask = 0;
    kg_time soonest = KG_TIME_NEVER;
    for (int i = 0; i < KG_SC_LAYERS; i++) {
        kg_sc_layer *l = &t->layer[i];
        if (!l->kf_pending)
            continue;
        kg_time due = l->last_kf_request == 0
                          ? 0
                          : l->last_kf_request + t->pli_interval;
        if (now >= due) {
            mask |= 1u << i;
            l->kf_pending = false;
            l->last_kf_request = now ? now : 1;
            l->kf_requests++;
        } else if (due < soonest) {
            soonest = due;
        }
    }
    if (next)
        *next = soonest;
    return mask;
}

void kg_sc_receiver_init(kg_sc_receiver *r, int max_layer, uint16_t base_seq,
                         uint32_t base_ts)
{
    memset(r, 0, sizeof(*r));
    r->cur = -1;
    r->target = -1;
    kg_sc_receiver_set_max_layer(r, max_layer);
    /* The first packet goes out as base_seq / base_ts: pretend the one
     * before it was sent. */
    r->out_seq = (uint16_t)(base_seq - 1);
    r->out_ts = base_ts - DEFAULT_FRAME_TICKS;
    r->frame_ticks = DEFAULT_FRAME_TICKS;
}

void kg_sc_receiver_set_estimate(kg_sc_receiver *r, uint64_t bps)
{
    r->estimate_bps = bps;
    r->have_estimate = true;
}

void kg_sc_receiver_set_max_layer(kg_sc_receiver *r, int max_layer)
{
    if (max_layer < 0)
        max_layer = 0;
    if (max_layer >= KG_SC_LAYERS)
        max_layer = KG_SC_LAYERS - 1;
    r->max_layer = max_layer;
}

static bool layer_live(const kg_sc_track *t, int i, kg_time now)
{
    const kg_sc_layer *l = &t->layer[i];
    return l->ssrc != 0 && l->last_packet != 0 &&
           now - l->last_packet <= t->stale_after;
}

static bool fits(const kg_sc_track *t, int i, uint64_t estimate, double f)
{
    return (double)kg_sc_layer_bps(t, i) * f <=
           (double)estimate * t->headroom;
}

/* The layer the estimate allows right now, ignoring hysteresis: the
 * highest live layer <= max_layer that fits, else the lowest live one.
 * Without an estimate yet, the highest live layer <= max_layer (REMB
 * follows within a second and moves the receiver down if it must). */
static int best_layer(const kg_sc_track *t, const kg_sc_receiver *r,
                      kg_time now, double factor)
{
    int lowest = -1, best = -1;
    for (int i = 0; i < KG_SC_LAYERS; i++) {
        if (!layer_live(t, i, now))
            continue;
        if (lowest < 0)
            lowest = i;
        if (i > r->max_layer)
            continue;
        if (!r->have_estimate || fits(t, i, r->estimate_bps, factor))
            best = i;
    }
    return best >= 0 ? best : lowest;
}

static int choose(const kg_sc_track *t, kg_sc_receiver *r, kg_time now)
{
    /* Before the first packet the receiver waits for a keyframe anyway:
     * no reason to hold it below what fits. */
    int base = r->cur;
    if (base < 0 || !layer_live(t, base, now))
        return best_layer(t, r, now, 1.0); /* nothing to hold on to */
    int down = best_layer(t, r, now, 1.0);
    if (down < base) {
        r->up_since = 0;
        return down;
    }
    /* Going up needs room above the next layer's rate for up_hold. */
    int up = best_layer(t, r, now, t->up_factor);
    if (up <= base) {
        r->up_since = 0;
        return base;
    }
    if (r->up_since == 0)
        r->up_since = now ? now : 1;
    if (now - r->up_since >= t->up_hold)
        return up;
    return base;
}

int kg_sc_receiver_update(kg_sc_track *t, kg_sc_receiver *r, kg_time now)
{
    int want = choose(t, r, now);
    if (want != r->target) {
        r->target = want;
        r->kf_asked = 0;
    }
    /* Ask for a keyframe of the target when the receiver is waiting for
     * one, and again if it has not come within kf_retry (lost). */
    if (r->target >= 0 && r->target != r->cur &&
        (r->kf_asked == 0 || now - r->kf_asked >= t->kf_retry)) {
        kg_sc_track_want_keyframe(t, r->target);
        r->kf_asked = now ? now : 1;
    }
    return r->target;
}

/* Fixes the deltas so that packet h of a new layer continues the
 * receiver's stream right after what it saw last. */
static void begin_layer(kg_sc_receiver *r, int idx, const kg_rtp_hdr *h,
                        const kg_vp8_desc *d, kg_time now)
{
    uint32_t step = r->frame_ticks;
    if (r->started && now > r->out_time) {
        uint64_t ticks = (now - r->out_time) * VIDEO_CLOCK / KG_SEC;
        if (ticks > step)
            step = ticks > UINT32_MAX ? UINT32_MAX : (uint32_t)ticks;
    }
    r->seq_delta = (uint16_t)(r->out_seq + 1 - h->seq);
    r->ts_delta = r->out_ts + step - h->ts;
    r->switch_seq = h->seq;
    if (d && d->has_picture_id)
        r->pic_delta = (uint16_t)(r->have_pic ? r->out_pic + 1 - d->picture_id
                                              : 0);
    if (d && d->has_tl0picidx)
        r->tl0_delta = (uint8_t)(r->have_tl0 ? r->out_tl0 + 1 - d->tl0picidx
                                             : 0);
    r->cur = idx;
    r->started = true;
    r->switches++;
    r->kf_asked = 0;
}

int kg_sc_forward(kg_sc_track *t, kg_sc_receiver *r, int idx,
                  const kg_rtp_hdr *h, kg_time now, kg_sc_out *out)
{
    if (idx < 0 || idx >= KG_SC_LAYERS)
        return 0;
    kg_sc_receiver_update(t, r, now);
    kg_vp8_desc d;
    bool have_desc = kg_vp8_desc_parse(h->payload, h->payload_len, &d) == 0;
    bool switched = false;
    if (idx != r->cur) {
        if (idx != r->target ||
            !kg_vp8_is_keyframe(h->payload, h->payload_len)) {
            r->dropped++;
            return 0;
        }
        begin_layer(r, idx, h, have_desc ? &d : NULL, now);
        switched = true;
    } else if (kg_seq_diff(h->seq, r->switch_seq) < 0) {
        /* Late packet from before the switch: its seq is taken. */
        r->dropped++;
        return 0;
    }
    memset(out, 0, sizeof(*out));
    out->layer = idx;
    out->switched = switched;
    out->seq = (uint16_t)(h->seq + r->seq_delta);
    out->ts = h->ts + r->ts_delta;
    if (have_desc && d.has_picture_id) {
        out->has_pic = true;
        out->pic = (uint16_t)((d.picture_id + r->pic_delta) & 0x7fff);
    }
    if (have_desc && d.has_tl0picidx) {
        out->has_tl0 = true;
        out->tl0 = (uint8_t)(d.tl0picidx + r->tl0_delta);
    }
    /* Only the newest packet moves the receiver's "last seen" marks. */
    if (switched || kg_seq_diff(out->seq, r->out_seq) > 0) {
        int32_t step = (int32_t)(out->ts - r->out_ts);
        if (!switched && step > 0 && (uint32_t)step <= MAX_FRAME_TICKS)
            r->frame_ticks = (uint32_t)step;
        r->out_seq = out->seq;
        r->out_ts = out->ts;
        r->out_time = now;
        if (out->has_pic) {
            r->out_pic = out->pic;
            r->have_pic = true;
        }
        if (out->has_tl0) {
            r->out_tl0 = out->tl0;
            r->have_tl0 = true;
        }
    }
    return 1;
}

int kg_sc_rewrite_vp8(const kg_sc_out *out, uint8_t *payload, size_t len)
{
    kg_vp8_desc d;
    int rc = kg_vp8_desc_parse(payload, len, &d);
    if (rc < 0)
        return rc;
    /* Byte 0 is X|R|N|S|R|PID, byte 1 I|L|T|K; the picture ID and then
     * TL0PICIDX follow in that order when present. */
    size_t off = 2;
    if (d.has_picture_id) {
        if (out->has_pic) {
            if (d.picture_id_16) {
                payload[off] = (uint8_t)(0x80 | ((out->pic >> 8) & 0x7f));
                payload[off + 1] = (uint8_t)(out->pic & 0xff);
            } else {
                payload[off] = (uint8_t)(out->pic & 0x7f);
            }
        }
        off += d.picture_id_16 ? 2 : 1;
    }
    if (d.has_tl0picidx && out->has_tl0)
        payload[off] = out->tl0;
    return 0;
}
