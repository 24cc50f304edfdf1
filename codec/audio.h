/* Opus for kaigi's clients and tests (libopus): a tone source, an encoder
 * and decoder at 48 kHz stereo 20 ms, and a Goertzel tone detector. */
#ifndef KG_AUDIO_H
#define KG_AUDIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KG_AUDIO_RATE 48000
#define KG_AUDIO_CHANNELS 2
#define KG_AUDIO_FRAME 960 /* samples per channel in 20 ms */

typedef struct kg_tone {
    double freq;
    double phase;
    double amplitude; /* 0..1 of full scale */
} kg_tone;

void kg_tone_init(kg_tone *t, double freq, double amplitude);
/* Fills KG_AUDIO_FRAME interleaved stereo samples. */
void kg_tone_fill(kg_tone *t, int16_t pcm[KG_AUDIO_FRAME * KG_AUDIO_CHANNELS]);

typedef struct kg_opus_enc kg_opus_enc;
typedef struct kg_opus_dec kg_opus_dec;

/* 48 kHz stereo, OPUS_APPLICATION_AUDIO, complexity 5, bitrate in
 * bit/s (500..512000). NULL on failure. */
kg_opus_enc *kg_opus_enc_new(int bitrate);
void kg_opus_enc_del(kg_opus_enc *e);
/* Encodes one 20 ms frame. Returns bytes written or KG_ERR_CODEC-like
 * negative KG_ERR_INVAL / KG_ERR_NOSPACE. */
ssize_t kg_opus_encode(kg_opus_enc *e,
                       const int16_t pcm[KG_AUDIO_FRAME * KG_AUDIO_CHANNELS],
                       uint8_t *out, size_t cap);

kg_opus_dec *kg_opus_dec_new(void);
void kg_opus_dec_del(kg_opus_dec *d);
/* Decodes one packet (NULL/0 = packet loss concealment, which yields
 * one 20 ms frame, or less if max_samples_per_channel is smaller) into
 * interleaved stereo pcm. Returns samples per channel decoded,
 * KG_ERR_MALFORMED, or KG_ERR_NOSPACE when the packet holds more samples
 * than max_samples_per_channel. */
int kg_opus_decode(kg_opus_dec *d, const uint8_t *pkt, size_t len,
                   int16_t *pcm, size_t max_samples_per_channel);

/* Goertzel power of freq in n mono samples (take the left channel of an
 * interleaved buffer with stride 2), normalised to the signal's total
 * power: 1.0 for a pure tone at freq, near 0 for a tone far away. The
 * block is Hann-windowed: with n = 960 at 48 kHz, a tone 300 Hz away
 * reads below 0.001. Returns 0 for silence, n < 2 or stride 0. */
double kg_goertzel(const int16_t *samples, size_t n, size_t stride,
                   double freq, double rate);

/* The RFC 6464 audio level of n samples (interleaved channels alike):
 * -dBov of their RMS relative to full scale (a full-scale sine reads 3),
 * rounded, 0..127; 127 for digital silence or n = 0. */
uint8_t kg_audio_level(const int16_t *samples, size_t n);
/* Rebuilds one lost 20 ms frame from the in-band FEC (LBRR) data of pkt,
 * the packet that followed it (RFC 6716 section 2.1.7; browsers send it
 * under useinbandfec=1). A packet without FEC data (CELT-only, or FEC off
 * at the sender) yields concealment, as kg_opus_decode(NULL) would.
 * Returns samples per channel (KG_AUDIO_FRAME), KG_ERR_MALFORMED, or
 * KG_ERR_NOSPACE when max_samples_per_channel < KG_AUDIO_FRAME. */
int kg_opus_decode_fec(kg_opus_dec *d, const uint8_t *pkt, size_t len,
                       int16_t *pcm, size_t max_samples_per_channel);

/* Turns in-band FEC on for an encoder, for an expected loss of
 * loss_percent (1..100); FEC needs the SILK or hybrid mode, so it shows
 * at voice bitrates. Returns 0 or KG_ERR_INVAL. */
int kg_opus_enc_set_fec(kg_opus_enc *e, int loss_percent);

#endif
