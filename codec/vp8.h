/* VP8 RTP payload (RFC 7741): payload descriptor parse/write, keyframe
 * detection, and a packetizer/depacketizer for whole frames. */
#ifndef KG_VP8_H
#define KG_VP8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

typedef struct kg_vp8_desc {
    bool x, n, s;     /* extended, non-reference, start of partition */
    uint8_t pid;      /* partition index (0..7) */
    bool has_picture_id;
    bool picture_id_16; /* M bit: 15-bit picture ID */
    uint16_t picture_id;
    bool has_tl0picidx;
    uint8_t tl0picidx;
    bool has_tid;
    uint8_t tid;
    bool y;
    bool has_keyidx;
    uint8_t keyidx;
    size_t len; /* descriptor length in bytes */
} kg_vp8_desc;

/* Parses the payload descriptor at the start of an RTP payload.
 * Returns 0, KG_ERR_TRUNC (the descriptor is cut short) or
 * KG_ERR_MALFORMED (a whole descriptor with no VP8 byte after it).
 * Reserved bits are ignored, as RFC 7741 asks; tid/y are set only when
 * T=1 and keyidx only when K=1. */
int kg_vp8_desc_parse(const uint8_t *payload, size_t len, kg_vp8_desc *out);

/* Writes a descriptor (X is set whenever any extension is present;
 * reserved bits are 0). Returns bytes written, KG_ERR_NOSPACE, or
 * KG_ERR_INVAL for a field out of range (pid > 7, tid > 3, keyidx > 31,
 * picture_id > 0x7f, or > 0x7fff with picture_id_16). */
ssize_t kg_vp8_desc_write(const kg_vp8_desc *d, uint8_t *buf, size_t cap);

/* True if the payload starts a VP8 keyframe (S=1, PID=0, and the frame
 * header's P bit is 0). */
bool kg_vp8_is_keyframe(const uint8_t *payload, size_t len);

/* Splits one encoded frame into payloads of at most max_payload bytes
 * each (descriptor included: X=1, I=1 with a 15-bit picture ID, S=1 on
 * the first; payload sizes are balanced so the last is not a runt;
 * picture_id is cut to 15 bits). Calls emit for each payload with
 * last=true on the final one (the RTP marker); a negative return from
 * emit stops the split and is returned. Returns the number of payloads,
 * KG_ERR_INVAL (len 0, max_payload <= 4, no emit) or KG_ERR_NOMEM. */
typedef int (*kg_vp8_emit_fn)(void *user, const uint8_t *payload,
                              size_t len, bool last);
int kg_vp8_packetize(const uint8_t *frame, size_t len, uint16_t picture_id,
                     size_t max_payload, kg_vp8_emit_fn emit, void *user);

/* Reassembles frames from packets of one SSRC in arrival order (kaigi
 * forwards in order; a gap drops the frame being built). Owns a frame
 * buffer of up to KG_VP8_MAX_FRAME bytes.
 *
 * A packet with a new timestamp, or with S=1 and PID=0, starts a frame;
 * a frame whose first packet (S=1, PID=0) was not seen, or that saw a
 * sequence gap, or that grew past KG_VP8_MAX_FRAME, is broken and never
 * comes out. It is counted in frames_dropped once, when its marker
 * arrives or the next frame starts. Duplicates (same seq as the last
 * packet) and late packets (seq behind the last) are ignored: there is no
 * reorder buffer, so a reordered packet costs its frame. Frames lost
 * whole inside a gap are not counted (nothing of them was seen). */
#define KG_VP8_MAX_FRAME (1u << 20)
typedef struct kg_vp8_depacketizer {
    uint8_t *buf;
    size_t len;
    bool building;
    bool broken; /* a packet of the current frame was lost */
    uint16_t last_seq;
    bool have_seq;
    uint32_t ts;
    uint64_t frames_dropped;
} kg_vp8_depacketizer;

int kg_vp8_depacketizer_init(kg_vp8_depacketizer *d);
void kg_vp8_depacketizer_free(kg_vp8_depacketizer *d);

/* Feeds one RTP payload (seq, ts, marker from its header). When a frame
 * completes returns 1 and sets *frame and *frame_len to a view valid
 * until the next push; returns 0 when no frame completed (or the packet
 * was ignored); an error from kg_vp8_desc_parse for a bad descriptor,
 * which leaves the state as if the packet were lost. */
int kg_vp8_depacketizer_push(kg_vp8_depacketizer *d, uint16_t seq,
                             uint32_t ts, bool marker, const uint8_t *payload,
                             size_t len, const uint8_t **frame,
                             size_t *frame_len);

#endif
