#include "codec/mixer.h"

#include <stdlib.h>
#include <string.h>

#include "codec/jitter.h"

#define STEREO (KG_AUDIO_FRAME * KG_AUDIO_CHANNELS)

typedef struct source {
    void *owner;
    uint32_t ssrc;
    bool active; /* contributed to the last tick */
    kg_opus_dec *dec;
    kg_jitter jb;
    int16_t pcm[STEREO];
} source;

typedef struct listener {
    void *owner;
    uint32_t ssrc;
    uint8_t pt;
    uint16_t seq;
    uint32_t ts;
    /* Its own encoder once its owner publishes audio; NULL: it hears the
     * full mix, encoded once for every such listener. */
    kg_opus_enc *enc;
    size_t len;
    int16_t pcm[STEREO];
    uint8_t buf[KG_MIXER_MAX_PAYLOAD];
} listener;

struct kg_mixer {
    int bitrate;
    bool started;
    kg_time next;
    source *src[KG_MIXER_MAX_SOURCES];
    size_t n_src;
    listener *lis[KG_MIXER_MAX_LISTENERS];
    size_t n_lis;
    kg_opus_enc *full_enc;
    bool full_ok; /* full and full_buf hold the last tick's mix */
    size_t full_len;
    kg_mixer_stats st;
    kg_jitter_stats gone; /* of removed sources */
    int32_t total[STEREO];
    int16_t full[STEREO];
    uint8_t full_buf[KG_MIXER_MAX_PAYLOAD];
};

kg_mixer *kg_mixer_new(int bitrate)
{
    kg_mixer *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    m->bitrate = bitrate;
    m->full_enc = kg_opus_enc_new(bitrate);
    if (!m->full_enc) {
        free(m);
        return NULL;
    }
    return m;
}

static void source_del(source *s)
{
    kg_opus_dec_del(s->dec);
    free(s);
}

static void listener_del(listener *l)
{
    kg_opus_enc_del(l->enc);
    free(l);
}

void kg_mixer_del(kg_mixer *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n_src; i++)
        source_del(m->src[i]);
    for (size_t i = 0; i < m->n_lis; i++)
        listener_del(m->lis[i]);
    kg_opus_enc_del(m->full_enc);
    free(m);
}

static source *find_source(const kg_mixer *m, const void *owner,
                           uint32_t ssrc)
{
    for (size_t i = 0; i < m->n_src; i++) {
        if (m->src[i]->owner == owner && m->src[i]->ssrc == ssrc)
            return m->src[i];
    }
    return NULL;
}

static listener *find_listener(const kg_mixer *m, const void *owner)
{
    for (size_t i = 0; i < m->n_lis; i++) {
        if (m->lis[i]->owner == owner)
            return m->lis[i];
    }
    return NULL;
}

static bool owns_source(const kg_mixer *m, const void *owner)
{
    for (size_t i = 0; i < m->n_src; i++) {
        if (m->src[i]->owner == owner)
            return true;
    }
    return false;
}

int kg_mixer_add_source(kg_mixer *m, void *owner, uint32_t ssrc)
{
    if (find_source(m, owner, ssrc))
        return KG_ERR_EXISTS;
    if (m->n_src == KG_MIXER_MAX_SOURCES)
        return KG_ERR_FULL;
    /* A listener that starts publishing must stop hearing the shared
     * full mix, which now holds its own voice. */
    listener *l = find_listener(m, owner);
    if (l && !l->enc && !(l->enc = kg_opus_enc_new(m->bitrate)))
        return KG_ERR_NOMEM;
    source *s = calloc(1, sizeof(*s));
    if (!s)
        return KG_ERR_NOMEM;
    s->dec = kg_opus_dec_new();
    if (!s->dec) {
        free(s);
        return KG_ERR_NOMEM;
    }
    s->owner = owner;
    s->ssrc = ssrc;
    kg_jitter_init(&s->jb);
    m->src[m->n_src++] = s;
    return 0;
}

int kg_mixer_push(kg_mixer *m, const void *owner, uint32_t ssrc,
                  uint16_t seq, uint32_t ts, const uint8_t *payload,
                  size_t len)
{
    source *s = find_source(m, owner, ssrc);
    if (!s) {
        m->st.unknown++;
        return KG_ERR_NOTFOUND;
    }
    return kg_jitter_push(&s->jb, seq, ts, payload, len);
}

int kg_mixer_add_listener(kg_mixer *m, void *owner, uint32_t ssrc,
                          uint8_t pt, uint16_t seq, uint32_t ts)
{
    if (find_listener(m, owner))
        return KG_ERR_EXISTS;
    if (m->n_lis == KG_MIXER_MAX_LISTENERS)
        return KG_ERR_FULL;
    listener *l = calloc(1, sizeof(*l));
    if (!l)
        return KG_ERR_NOMEM;
    if (owns_source(m, owner) && !(l->enc = kg_opus_enc_new(m->bitrate))) {
        free(l);
        return KG_ERR_NOMEM;
    }
    l->owner = owner;
    l->ssrc = ssrc;
    l->pt = pt;
    l->seq = seq;
    l->ts = ts;
    m->lis[m->n_lis++] = l;
    return 0;
}

static void add_jitter_stats(kg_jitter_stats *sum, const kg_jitter_stats *s)
{
    sum->pushed += s->pushed;
    sum->late += s->late;
    sum->dup += s->dup;
    sum->bad += s->bad;
    sum->resets += s->resets;
    sum->overflow += s->overflow;
    sum->played += s->played;
    sum->lost += s->lost;
}

static void remove_source_at(kg_mixer *m, size_t i)
{
    add_jitter_stats(&m->gone, &m->src[i]->jb.st);
    source_del(m->src[i]);
    m->src[i] = m->src[--m->n_src];
}

int kg_mixer_remove_source(kg_mixer *m, const void *owner, uint32_t ssrc)
{
    for (size_t i = 0; i < m->n_src; i++) {
        if (m->src[i]->owner == owner && m->src[i]->ssrc == ssrc) {
            remove_source_at(m, i);
            return 0;
        }
    }
    return KG_ERR_NOTFOUND;
}

void kg_mixer_remove(kg_mixer *m, const void *owner)
{
    for (size_t i = 0; i < m->n_src;) {
        if (m->src[i]->owner == owner)
            remove_source_at(m, i);
        else
            i++;
    }
    for (size_t i = 0; i < m->n_lis; i++) {
        if (m->lis[i]->owner == owner) {
            listener_del(m->lis[i]);
            m->lis[i] = m->lis[--m->n_lis];
            break;
        }
    }
}

size_t kg_mixer_n_sources(const kg_mixer *m)
{
    return m->n_src;
}

size_t kg_mixer_n_listeners(const kg_mixer *m)
{
    return m->n_lis;
}

kg_time kg_mixer_deadline(const kg_mixer *m)
{
    if (m->n_lis == 0)
        return KG_TIME_NEVER;
    return m->started ? m->next : 0;
}

/* One 20 ms frame of source s into s->pcm; false if it is silent now. */
static bool source_frame(kg_mixer *m, source *s)
{
    const uint8_t *pkt = NULL;
    size_t len = 0;
    int what = kg_jitter_pop(&s->jb, &pkt, &len);
    if (what == KG_JITTER_NONE)
        return false;
    int n = KG_ERR_INVAL;
    if (what == KG_JITTER_LOST && pkt) {
        n = kg_opus_decode_fec(s->dec, pkt, len, s->pcm, KG_AUDIO_FRAME);
        if (n >= 0)
            m->st.fec++;
    } else if (what == KG_JITTER_FRAME) {
        n = kg_opus_decode(s->dec, pkt, len, s->pcm, KG_AUDIO_FRAME);
        if (n < 0)
            m->st.decode_errors++; /* not 20 ms, or corrupt: conceal */
        else
            m->st.decoded++;
    }
    if (n < 0) {
        /* Opus PLC: NULL decodes one frame that continues the last. */
        n = kg_opus_decode(s->dec, NULL, 0, s->pcm, KG_AUDIO_FRAME);
        if (n < 0)
            return false;
        m->st.concealed++;
    }
    if (n < KG_AUDIO_FRAME)
        memset(s->pcm + (size_t)n * KG_AUDIO_CHANNELS, 0,
               (size_t)(KG_AUDIO_FRAME - n) * KG_AUDIO_CHANNELS *
                   sizeof(int16_t));
    return true;
}

static void clip(kg_mixer *m, const int32_t *in, int16_t *out)
{
    for (size_t i = 0; i < STEREO; i++) {
        int32_t v = in[i];
        if (v > INT16_MAX) {
            v = INT16_MAX;
            m->st.clipped++;
        } else if (v < INT16_MIN) {
            v = INT16_MIN;
            m->st.clipped++;
        }
        out[i] = (int16_t)v;
    }
}

/* total - what the listener's owner contributed, clipped, encoded. */
static void listener_frame(kg_mixer *m, listener *l)
{
    int32_t mix[STEREO];
    memcpy(mix, m->total, sizeof(mix));
    for (size_t i = 0; i < m->n_src; i++) {
        const source *s = m->src[i];
        if (s->owner != l->owner || !s->active)
            continue;
        for (size_t k = 0; k < STEREO; k++)
            mix[k] -= s->pcm[k];
    }
    clip(m, mix, l->pcm);
    ssize_t n = kg_opus_encode(l->enc, l->pcm, l->buf, sizeof(l->buf));
    m->st.encodes++;
    l->len = n > 0 ? (size_t)n : 0;
}

/* Decodes every source and sums them into m->total. */
static void mix_sources(kg_mixer *m)
{
    memset(m->total, 0, sizeof(m->total));
    for (size_t i = 0; i < m->n_src; i++) {
        source *s = m->src[i];
        s->active = source_frame(m, s);
        if (!s->active)
            continue;
        for (size_t k = 0; k < STEREO; k++)
            m->total[k] += s->pcm[k];
    }
}

/* The full mix, encoded once for every listener without an encoder of
 * its own. */
static void full_frame(kg_mixer *m)
{
    m->full_ok = false;
    bool needed = false;
    for (size_t i = 0; i < m->n_lis && !needed; i++)
        needed = m->lis[i]->enc == NULL;
    if (!needed)
        return;
    clip(m, m->total, m->full);
    ssize_t n = kg_opus_encode(m->full_enc, m->full, m->full_buf,
                               sizeof(m->full_buf));
    m->st.encodes++;
    m->full_len = n > 0 ? (size_t)n : 0;
    m->full_ok = true;
}

size_t kg_mixer_tick(kg_mixer *m, kg_time now, kg_mix_out *out, size_t cap)
{
    if (m->n_lis == 0)
        return 0;
    if (!m->started) {
        m->started = true;
        m->next = now;
    }
    if (now < m->next)
        return 0;
    if (now - m->next > KG_MIXER_MAX_LAG) {
        /* The skipped frames still pass in every listener's RTP clock, so
         * that its receiver plays what follows at the right time. */
        uint64_t skip = (now - m->next) / KG_MIXER_PERIOD;
        m->st.skipped += skip;
        m->next += skip * KG_MIXER_PERIOD;
        for (size_t i = 0; i < m->n_lis; i++)
            m->lis[i]->ts += (uint32_t)(skip * KG_AUDIO_FRAME);
    }
    m->next += KG_MIXER_PERIOD;
    m->st.ticks++;
    mix_sources(m);
    full_frame(m);
    size_t n = 0;
    for (size_t i = 0; i < m->n_lis; i++) {
        listener *l = m->lis[i];
        const uint8_t *payload = m->full_buf;
        size_t len = m->full_len;
        if (l->enc) {
            listener_frame(m, l);
            payload = l->buf;
            len = l->len;
        } else {
            m->st.shared++;
        }
        /* The frame's place in the listener's clock passes even when
         * the encoder failed, so the timeline stays true. */
        uint16_t seq = l->seq;
        uint32_t ts = l->ts;
        l->ts += KG_AUDIO_FRAME;
        if (len == 0 || n == cap)
            continue;
        l->seq++;
        out[n++] = (kg_mix_out){.owner = l->owner,
                                .ssrc = l->ssrc,
                                .pt = l->pt,
                                .seq = seq,
                                .ts = ts,
                                .payload = payload,
                                .len = len};
    }
    return n;
}

const int16_t *kg_mixer_last_pcm(const kg_mixer *m, const void *owner)
{
    const listener *l = find_listener(m, owner);
    return l && l->enc ? l->pcm : NULL;
}

const int16_t *kg_mixer_last_full(const kg_mixer *m)
{
    return m->full_ok ? m->full : NULL;
}

void kg_mixer_get_stats(const kg_mixer *m, kg_mixer_stats *out)
{
    *out = m->st;
    kg_jitter_stats j = m->gone;
    for (size_t i = 0; i < m->n_src; i++)
        add_jitter_stats(&j, &m->src[i]->jb.st);
    out->late = j.late;
    out->dup = j.dup;
    out->resets = j.resets;
    out->overflow = j.overflow;
    out->bad = j.bad;
}
