#include "codec/audio.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include <opus.h>

#include "codec/err.h"

#define TWO_PI (2.0 * M_PI)
/* The longest Opus packet is 120 ms. */
#define OPUS_MAX_SAMPLES (KG_AUDIO_RATE / 1000 * 120)

void kg_tone_init(kg_tone *t, double freq, double amplitude)
{
    t->freq = freq;
    t->phase = 0.0;
    t->amplitude = amplitude < 0.0 ? 0.0 : amplitude > 1.0 ? 1.0 : amplitude;
}

void kg_tone_fill(kg_tone *t, int16_t pcm[KG_AUDIO_FRAME * KG_AUDIO_CHANNELS])
{
    double step = TWO_PI * t->freq / KG_AUDIO_RATE;
    double scale = t->amplitude * 32767.0;
    for (size_t i = 0; i < KG_AUDIO_FRAME; i++) {
        int16_t s = (int16_t)lrint(scale * sin(t->phase));
        for (size_t c = 0; c < KG_AUDIO_CHANNELS; c++)
            pcm[i * KG_AUDIO_CHANNELS + c] = s;
        t->phase += step;
    }
    /* Keep the phase small so that sin() stays exact over hours of
     * frames; the wave itself continues unbroken. */
    t->phase = fmod(t->phase, TWO_PI);
}

struct kg_opus_enc {
    OpusEncoder *enc;
};

struct kg_opus_dec {
    OpusDecoder *dec;
};

kg_opus_enc *kg_opus_enc_new(int bitrate)
{
    if (bitrate < 500 || bitrate > 512000)
        return NULL;
    kg_opus_enc *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    int err;
    e->enc = opus_encoder_create(KG_AUDIO_RATE, KG_AUDIO_CHANNELS,
                                 OPUS_APPLICATION_AUDIO, &err);
    if (err != OPUS_OK ||
        opus_encoder_ctl(e->enc, OPUS_SET_BITRATE(bitrate)) != OPUS_OK ||
        /* Mid complexity: a client or bench runs many encoders. */
        opus_encoder_ctl(e->enc, OPUS_SET_COMPLEXITY(5)) != OPUS_OK) {
        kg_opus_enc_del(e);
        return NULL;
    }
    return e;
}

void kg_opus_enc_del(kg_opus_enc *e)
{
    if (e == NULL)
        return;
    if (e->enc)
        opus_encoder_destroy(e->enc);
    free(e);
}

ssize_t kg_opus_encode(kg_opus_enc *e,
                       const int16_t pcm[KG_AUDIO_FRAME * KG_AUDIO_CHANNELS],
                       uint8_t *out, size_t cap)
{
    if (cap == 0)
        return KG_ERR_NOSPACE;
    /* Opus never needs more than 1275 bytes per frame; a larger cap is
     * just clamped to what opus_int32 holds. */
    opus_int32 max = cap > INT32_MAX ? INT32_MAX : (opus_int32)cap;
    opus_int32 n = opus_encode(e->enc, pcm, KG_AUDIO_FRAME, out, max);
    if (n == OPUS_BUFFER_TOO_SMALL)
        return KG_ERR_NOSPACE;
    if (n < 0)
        return KG_ERR_INVAL;
    return n;
}

kg_opus_dec *kg_opus_dec_new(void)
{
    kg_opus_dec *d = calloc(1, sizeof(*d));
    if (d == NULL)
        return NULL;
    int err;
    d->dec = opus_decoder_create(KG_AUDIO_RATE, KG_AUDIO_CHANNELS, &err);
    if (err != OPUS_OK) {
        kg_opus_dec_del(d);
        return NULL;
    }
    return d;
}

void kg_opus_dec_del(kg_opus_dec *d)
{
    if (d == NULL)
        return;
    if (d->dec)
        opus_decoder_destroy(d->dec);
    free(d);
}

int kg_opus_decode(kg_opus_dec *d, const uint8_t *pkt, size_t len,
                   int16_t *pcm, size_t max_samples_per_channel)
{
    if (len > INT32_MAX)
        return KG_ERR_MALFORMED;
    size_t max = max_samples_per_channel;
    if (max > OPUS_MAX_SAMPLES)
        max = OPUS_MAX_SAMPLES;
    if (pkt == NULL || len == 0) {
        /* Concealment produces exactly frame_size samples, which must be
         * a multiple of 2.5 ms: one 20 ms frame when it fits. */
        pkt = NULL;
        len = 0;
        if (max > KG_AUDIO_FRAME)
            max = KG_AUDIO_FRAME;
        max -= max % (KG_AUDIO_RATE / 400);
    }
    if (max == 0)
        return KG_ERR_NOSPACE;
    int n = opus_decode(d->dec, pkt, (opus_int32)len, pcm, (int)max, 0);
    if (n == OPUS_BUFFER_TOO_SMALL)
        return KG_ERR_NOSPACE;
    if (n < 0)
        return KG_ERR_MALFORMED;
    return n;
}

/* Generalised Goertzel over a Hann-windowed block. The window keeps the
 * leakage of a tone a few bins away far below the -13 dB sidelobes of a
 * plain rectangular block (with n = 960 at 48 kHz a bin is 50 Hz, and
 * 300 Hz away is 6 bins, about -60 dB). Frequencies need not sit on a bin:
 * the recurrence gives |X(f)| for any f.
 *
 * Normalisation: for a pure tone of amplitude A at f, |X(f)|^2 is
 * (A * S1 / 2)^2 with S1 = sum(w), and the windowed energy sum((x*w)^2)
 * is A^2 * S2 / 2 with S2 = sum(w^2). So |X|^2 / energy * 2 * S2 / S1^2
 * is 1 for that tone, the tone's share of the power for a mix, and about
 * 3 / n for white noise. */
double kg_goertzel(const int16_t *samples, size_t n, size_t stride,
                   double freq, double rate)
{
    if (n < 2 || stride == 0 || rate <= 0.0)
        return 0.0;
    double coeff = 2.0 * cos(TWO_PI * freq / rate);
    double s1 = 0.0, s2 = 0.0;
    double sum_w = 0.0, sum_w2 = 0.0, energy = 0.0;
    for (size_t i = 0; i < n; i++) {
        double w = 0.5 - 0.5 * cos(TWO_PI * (double)i / (double)(n - 1));
        double x = samples[i * stride] * w;
        double s0 = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
        sum_w += w;
        sum_w2 += w * w;
        energy += x * x;
    }
    if (energy <= 0.0 || sum_w <= 0.0)
        return 0.0;
    double power = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    return power / energy * 2.0 * sum_w2 / (sum_w * sum_w);
}

uint8_t kg_audio_level(const int16_t *samples, size_t n)
{
    double sum = 0.0;
    for (size_t i = 0; i < n; i++)
        sum += (double)samples[i] * (double)samples[i];
    if (n == 0 || sum == 0.0)
        return 127;
    double rms = sqrt(sum / (double)n) / 32768.0;
    double level = -20.0 * log10(rms);
    if (level < 0.0)
        return 0;
    return level > 127.0 ? 127 : (uint8_t)lround(level);
}

int kg_opus_decode_fec(kg_opus_dec *d, const uint8_t *pkt, size_t len,
                       int16_t *pcm, size_t max_samples_per_channel)
{
    if (!pkt || len == 0 || len > INT32_MAX)
        return KG_ERR_MALFORMED;
    if (max_samples_per_channel < KG_AUDIO_FRAME)
        return KG_ERR_NOSPACE;
    /* With decode_fec set, frame_size is the length of the lost audio:
     * one 20 ms frame. */
    int n = opus_decode(d->dec, pkt, (opus_int32)len, pcm, KG_AUDIO_FRAME, 1);
    if (n == OPUS_BUFFER_TOO_SMALL)
        return KG_ERR_NOSPACE;
    if (n < 0)
        return KG_ERR_MALFORMED;
    return n;
}

int kg_opus_enc_set_fec(kg_opus_enc *e, int loss_percent)
{
    if (loss_percent < 1 || loss_percent > 100 ||
        opus_encoder_ctl(e->enc, OPUS_SET_INBAND_FEC(1)) != OPUS_OK ||
        opus_encoder_ctl(e->enc, OPUS_SET_PACKET_LOSS_PERC(loss_percent)) !=
            OPUS_OK)
        return KG_ERR_INVAL;
    return 0;
}
