#include "relay/worker_internal.h"

/* --- active speaker (relay/speaker.h) ------------------------------ */

/* Every wroom embeds its kg_room: the worker's members point at the
 * latter. */
wroom *wk_wroom_of(kg_room *room)
{
    return (wroom *)(void *)((char *)room - offsetof(wroom, room));
}

void wk_speaker_room_init(kg_worker *w, wroom *r)
{
    kg_speaker_config sc;
    kg_speaker_config_default(&sc);
    sc.loudest = w->cfg.loudest;
    if (kg_speaker_init(&r->speaker, &sc) != 0)
        kg_speaker_init(&r->speaker, NULL);
}

/* An audio track with an audio-level extension makes its publisher a
 * candidate speaker. Without one its loudness is unknown: it is never
 * the speaker, and always forwarded. */
void wk_speaker_track(wpart *p, const kg_worker_cmd *c)
{
    if (c->kind != KG_TRACK_AUDIO || c->audio_level_id == 0)
        return;
    kg_track *tr = kg_room_find_track(p->room, p, c->ssrc);
    if (!tr)
        return;
    tr->audio_level_id = c->audio_level_id;
    int rc = kg_speaker_add(&wk_wroom_of(p->room)->speaker, p->id);
    if (rc != 0 && rc != KG_ERR_EXISTS)
        tr->audio_level_id = 0; /* full: forwarded like a track without */
}

/* One decrypted audio packet of p: feeds its level to the room's
 * detector, tells signalling when the dominant speaker changes, and says
 * whether the packet may be forwarded (a suppressed one is accounted for
 * with kg_room_skip). A packet without the element, or with a malformed
 * extension block, counts as silence. No allocation except for the
 * (rare) change event. */
bool wk_speaker_admits(kg_worker *w, wpart *p, kg_track *tr,
                       const kg_rtp_hdr *h, kg_time now)
{
    if (tr->audio_level_id == 0)
        return true;
    wroom *r = wk_wroom_of(p->room);
    uint8_t level = KG_SPEAKER_SILENT_LEVEL;
    bool voice = false;
    if (!h->extension ||
        kg_rtp_audio_level(h, tr->audio_level_id, &level, &voice) != 0) {
        level = KG_SPEAKER_SILENT_LEVEL;
        voice = false;
    }
    int rc = kg_speaker_feed(&r->speaker, p->id, level, voice, now);
    uint64_t id;
    if (kg_speaker_take_change(&r->speaker, &id)) {
        kg_worker_event ev = {.type = KG_WEV_SPEAKER,
                              .participant = id,
                              .room = r->room.id};
        wk_emit(w, &ev);
    }
    if (rc == 0) {
        w->st.audio_suppressed++;
        kg_room_skip(tr, h, now); /* no false loss, no gap downstream */
        return false;
    }
    return true;
}

/* --- audio mixing (codec/mixer.h) -------------------------------------
 * A room gets a kg_mixer when its first participant asks for mixed audio
 * and loses it with its last mixed listener. Every audio packet of the
 * room (after the mute check) feeds the mixer; a timer ticks it and the
 * mixes leave like forwarded packets, protected with each listener's own
 * subscribe SRTP context. */

/* Checked often enough that a 20 ms frame leaves at most this late. */
#define MIX_TIMER_MS 5
/* Frames one room may catch up on in one timer run. */
#define MIX_MAX_CATCHUP 3

void wk_mix_push(kg_worker *w, wpart *pub, const kg_track *tr,
                 const kg_rtp_hdr *h)
{
    (void)w;
    wroom *r = wk_wroom_of(pub->room);
    if (r->mixer)
        kg_mixer_push(r->mixer, pub, tr->in_ssrc, h->seq, h->ts, h->payload,
                      h->payload_len);
}

void wk_mix_track(kg_worker *w, wpart *p, uint32_t ssrc, int kind)
{
    wroom *r = wk_wroom_of(p->room);
    if (kind == KG_TRACK_AUDIO && r->mixer &&
        kg_mixer_add_source(r->mixer, p, ssrc) == 0)
        w->st.mix_sources++;
}

/* Adds the stats the mixer gathered since the last call to the
 * worker's. */
static void mix_account(kg_worker *w, wroom *r)
{
    kg_mixer_stats now;
    kg_mixer_get_stats(r->mixer, &now);
    w->st.mix_concealed += now.concealed - r->mix_seen.concealed;
    w->st.mix_late += now.late - r->mix_seen.late;
    r->mix_seen = now;
}

static void mix_send(kg_worker *w, const kg_mix_out *o)
{
    wpart *p = o->owner;
    wtransport *st = p->t[KG_ROLE_SUBSCRIBE];
    if (!st || st->peer.state != KG_PEER_CONNECTED || !st->has_addr)
        return;
    kg_rtp_hdr h;
    memset(&h, 0, sizeof(h));
    h.version = 2;
    h.pt = o->pt;
    h.seq = o->seq;
    h.ts = o->ts;
    h.ssrc = o->ssrc;
    uint8_t *out = wk_tx_slot(w);
    ssize_t n = kg_rtp_write(&h, o->payload, o->len, out,
                             TX_BUF - KG_SRTP_MAX_TRAILER);
    if (n < 0)
        return;
    size_t len = (size_t)n;
    if (kg_peer_protect(&st->peer, out, &len, TX_BUF, false) != 0)
        return;
    w->st.mix_packets++;
    p->c.packets_out++;
    p->c.bytes_out += len;
    wk_tx_commit_t(w, st, len);
}

static void on_mix_timer(uv_timer_t *timer)
{
    kg_worker *w = timer->data;
    kg_time now = wk_worker_now();
    struct timespec c0, c1;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c0);
    for (wroom *r = w->rooms; r; r = r->next) {
        if (!r->mixer)
            continue;
        bool ticked = false;
        for (int i = 0; i < MIX_MAX_CATCHUP &&
                        kg_mixer_deadline(r->mixer) <= now;
             i++) {
            size_t n = kg_mixer_tick(r->mixer, now, w->mix_out,
                                     KG_ARRAY_LEN(w->mix_out));
            for (size_t k = 0; k < n; k++)
                mix_send(w, &w->mix_out[k]);
            ticked = true;
        }
        if (ticked)
            mix_account(w, r);
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &c1);
    int64_t ns = ((int64_t)c1.tv_sec - c0.tv_sec) * (int64_t)KG_SEC +
                 (c1.tv_nsec - c0.tv_nsec);
    if (ns > 0)
        w->st.mix_cpu_ns += (uint64_t)ns;
    wk_tx_flush(w); /* the mixes leave now, not after the next poll */
}

/* Participant c->participant hears its room's mix from now on. */
void wk_mix_join(kg_worker *w, const kg_worker_cmd *c)
{
    wpart *p = wk_find_part(w, c->participant);
    if (!p || !p->room || p->mixed)
        return;
    wroom *r = wk_wroom_of(p->room);
    if (!r->mixer) {
        if (!(r->mixer = kg_mixer_new(KG_MIXER_BITRATE)))
            return;
        memset(&r->mix_seen, 0, sizeof(r->mix_seen));
        for (size_t i = 0; i < r->room.n_tracks; i++) {
            kg_track *tr = r->room.tracks[i];
            if (tr->kind == KG_TRACK_AUDIO &&
                kg_mixer_add_source(r->mixer, tr->pub, tr->in_ssrc) == 0)
                w->st.mix_sources++;
        }
        if (w->n_mixers++ == 0)
            uv_timer_start(&w->mix_timer, on_mix_timer, MIX_TIMER_MS,
                           MIX_TIMER_MS);
        w->st.mix_rooms++;
    }
    uint32_t rnd = kg_random_u32();
    if (kg_mixer_add_listener(r->mixer, p, c->out_ssrc, c->out_pt,
                              (uint16_t)rnd, kg_random_u32()) != 0) {
        wk_mix_leave(w, p); /* drops the mixer again if it is empty */
        return;
    }
    p->mixed = true;
    w->st.mix_listeners++;
}

/* p leaves its room: its tracks leave the mix, and the mix goes with its
 * last listener. */
void wk_mix_leave(kg_worker *w, wpart *p)
{
    wroom *r = wk_wroom_of(p->room);
    if (!r->mixer)
        return;
    size_t sources = kg_mixer_n_sources(r->mixer);
    kg_mixer_remove(r->mixer, p);
    w->st.mix_sources -= sources - kg_mixer_n_sources(r->mixer);
    if (p->mixed) {
        p->mixed = false;
        w->st.mix_listeners--;
    }
    if (kg_mixer_n_listeners(r->mixer) > 0)
        return;
    mix_account(w, r);
    w->st.mix_sources -= kg_mixer_n_sources(r->mixer);
    kg_mixer_del(r->mixer);
    r->mixer = NULL;
    w->st.mix_rooms--;
    if (--w->n_mixers == 0)
        uv_timer_stop(&w->mix_timer);
}

void wk_mix_init(kg_worker *w)
{
    uv_timer_init(&w->loop, &w->mix_timer);
    w->mix_timer.data = w;
}

void wk_mix_close(kg_worker *w)
{
    uv_close((uv_handle_t *)&w->mix_timer, wk_close_cb);
}
