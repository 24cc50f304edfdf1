/* Audio mixing for one room, sans-IO: Opus in, one minus-one Opus mix
 * per listener out.
 *
 * Sources are the room's audio tracks (a publisher and its SSRC): each
 * has a jitter buffer (codec/jitter.h) and an Opus decoder. Listeners
 * are the members that asked for mixed audio: each has an output SSRC,
 * payload type, sequence number and timestamp, and hears every source
 * but its own (minus-one: total - own, clipped to int16). A listener
 * that publishes no audio hears the full mix, which is the same for all
 * such listeners, so it is encoded once for all of them; a listener that
 * publishes has an encoder of its own.
 *
 * Every 20 ms the caller (the media worker) calls kg_mixer_tick with the
 * time; the mixer pops one frame per source (concealing a lost one with
 * Opus PLC), sums them in int32, encodes, and returns one packet per
 * listener. Owners are opaque pointers (the worker's participants),
 * compared, never dereferenced.
 *
 * Memory: sources and listeners are allocated when added (a decoder, an
 * encoder, the jitter buffer); nothing is allocated by push or tick.
 * Capacities are fixed: KG_MIXER_MAX_SOURCES, KG_MIXER_MAX_LISTENERS.
 */
#ifndef KG_MIXER_H
#define KG_MIXER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/audio.h"
#include "codec/err.h"

#define KG_MIXER_MAX_SOURCES 64
#define KG_MIXER_MAX_LISTENERS 64
#define KG_MIXER_PERIOD (20 * KG_MS)
#define KG_MIXER_MAX_PAYLOAD 1275
#define KG_MIXER_BITRATE 32000 /* bit/s of each mix, stereo Opus */
/* Behind by more than this (a stalled loop): skip ahead, do not burst. */
#define KG_MIXER_MAX_LAG (200 * KG_MS)

typedef struct kg_mixer kg_mixer;

/* One packet for one listener. payload is a view into the mixer, valid
 * until the next tick or until that listener is removed. */
typedef struct kg_mix_out {
    void *owner; /* the listener's owner */
    uint32_t ssrc;
    uint8_t pt;
    uint16_t seq;
    uint32_t ts;
    const uint8_t *payload;
    size_t len;
} kg_mix_out;

typedef struct kg_mixer_stats {
    uint64_t ticks;
    uint64_t decoded;     /* frames decoded from packets */
    uint64_t concealed;   /* frames made by PLC */
    uint64_t fec;         /* lost frames rebuilt from the next packet's
                             in-band FEC (PLC when it carried none) */
    uint64_t decode_errors;
    uint64_t encodes;     /* opus_encode calls */
    uint64_t shared;      /* packets that reused the shared full mix */
    uint64_t clipped;     /* samples clipped to int16 */
    uint64_t skipped;     /* ticks skipped after a stall */
    uint64_t late, dup, resets, overflow, bad; /* jitter buffers, summed */
    uint64_t unknown;     /* pushes for a source the mixer lacks */
} kg_mixer_stats;

/* A mixer whose listeners' Opus runs at bitrate bit/s (500..512000).
 * NULL on failure. */
kg_mixer *kg_mixer_new(int bitrate);

/* Frees the mixer with every source and listener. NULL is a no-op. */
void kg_mixer_del(kg_mixer *m);

/* Adds the source (owner, ssrc). Returns 0, KG_ERR_EXISTS, KG_ERR_FULL,
 * KG_ERR_NOMEM. */
int kg_mixer_add_source(kg_mixer *m, void *owner, uint32_t ssrc);

/* Feeds one RTP packet's payload (Opus, 20 ms) of source (owner, ssrc).
 * The payload is copied. Returns 0, KG_ERR_NOTFOUND (no such source),
 * or what kg_jitter_push returns (dropped: late, duplicate, bad). */
int kg_mixer_push(kg_mixer *m, const void *owner, uint32_t ssrc,
                  uint16_t seq, uint32_t ts, const uint8_t *payload,
                  size_t len);

/* Adds listener owner, whose packets leave as ssrc/pt, starting at seq
 * and ts (draw them at random). Returns 0, KG_ERR_EXISTS (owner already
 * listens), KG_ERR_FULL, KG_ERR_NOMEM. */
int kg_mixer_add_listener(kg_mixer *m, void *owner, uint32_t ssrc,
                          uint8_t pt, uint16_t seq, uint32_t ts);

/* Removes every source and the listener of owner. */
void kg_mixer_remove(kg_mixer *m, const void *owner);

/* Removes one source. Returns 0 or KG_ERR_NOTFOUND. */
int kg_mixer_remove_source(kg_mixer *m, const void *owner, uint32_t ssrc);

size_t kg_mixer_n_sources(const kg_mixer *m);
size_t kg_mixer_n_listeners(const kg_mixer *m);

/* When the next frame is due: KG_TIME_NEVER without a listener, 0 before
 * the first tick (due at once). */
kg_time kg_mixer_deadline(const kg_mixer *m);

/* Makes the frame due at now, if one is: one packet per listener into
 * out (at most cap; listeners past cap miss this frame, counted in no
 * stat, so give cap >= kg_mixer_n_listeners). Returns the number of
 * packets, 0 if nothing was due. Call again while kg_mixer_deadline(m)
 * <= now to catch up; after a stall over KG_MIXER_MAX_LAG it skips ahead
 * instead. */
size_t kg_mixer_tick(kg_mixer *m, kg_time now, kg_mix_out *out, size_t cap);

/* The decoded PCM (interleaved stereo, KG_AUDIO_FRAME per channel) that
 * listener owner got in the last tick, before encoding: for tests and
 * benchmarks. NULL if owner does not listen or shares the full mix (then
 * see kg_mixer_last_full). */
const int16_t *kg_mixer_last_pcm(const kg_mixer *m, const void *owner);
const int16_t *kg_mixer_last_full(const kg_mixer *m);

void kg_mixer_get_stats(const kg_mixer *m, kg_mixer_stats *out);

#endif
