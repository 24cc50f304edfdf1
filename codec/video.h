/* VP8 video for kaigi's clients and tests (libvpx): a moving test
 * pattern, an encoder and a decoder. */
#ifndef KG_VIDEO_H
#define KG_VIDEO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct kg_vp8_enc kg_vp8_enc;
typedef struct kg_vp8_dec kg_vp8_dec;

/* Real-time VP8 encoder (libvpx, cpu-used 8-ish, error resilient,
 * keyframe every kf_interval frames), width x height at fps, target
 * bitrate in kbit/s. NULL on failure. */
kg_vp8_enc *kg_vp8_enc_new(unsigned width, unsigned height, unsigned fps,
                           unsigned kbps, unsigned kf_interval);
void kg_vp8_enc_del(kg_vp8_enc *e);

/* Draws frame number n of a moving test pattern (colour bars with a box
 * that moves one step per frame, seeded by `seed` so that each client's
 * pattern differs) and encodes it; force_key asks for a keyframe.
 * On success *frame and *len view the encoded frame (an encoder-owned
 * copy, valid until the next call) and *keyframe says whether it is one.
 * Returns 0, or KG_ERR_AGAIN when the encoder dropped the frame, or
 * KG_ERR_INVAL when libvpx fails, KG_ERR_NOMEM, or KG_ERR_UNSUPPORTED if
 * libvpx ever emitted two frames for one input (it does not in the
 * real-time, no-lag mode used here; two VP8 frames cannot travel as one).
 * kf_interval 0 means keyframes only on the first frame and on request. */
int kg_vp8_enc_frame(kg_vp8_enc *e, uint32_t n, uint32_t seed, bool force_key,
                     const uint8_t **frame, size_t *len, bool *keyframe);

kg_vp8_dec *kg_vp8_dec_new(void);
void kg_vp8_dec_del(kg_vp8_dec *d);
/* Decodes one frame. Returns 0 when a picture came out (width and height
 * set if non-NULL), KG_ERR_MALFORMED on a decode error, an empty frame,
 * or a frame libvpx flags as corrupt, KG_ERR_AGAIN for a frame that is
 * decoded but not shown. The decoder stays usable after an error. */
int kg_vp8_decode(kg_vp8_dec *d, const uint8_t *frame, size_t len,
                  unsigned *width, unsigned *height);

#endif
