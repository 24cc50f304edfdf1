#include "codec/vp8.h"

#include <stdlib.h>
#include <string.h>

#include "codec/err.h"

/* RFC 7741 section 4.2:
 *
 *        0 1 2 3 4 5 6 7
 *       +-+-+-+-+-+-+-+-+
 *       |X|R|N|S|R| PID | (REQUIRED)
 *       +-+-+-+-+-+-+-+-+
 *  X:   |I|L|T|K| RSV   | (OPTIONAL)
 *       +-+-+-+-+-+-+-+-+
 *  I:   |M| PictureID   | (OPTIONAL)
 *       +-+-+-+-+-+-+-+-+
 *       |   PictureID   | (present when M = 1)
 *       +-+-+-+-+-+-+-+-+
 *  L:   |   TL0PICIDX   | (OPTIONAL)
 *       +-+-+-+-+-+-+-+-+
 *  T/K: |TID|Y| KEYIDX  | (OPTIONAL)
 *       +-+-+-+-+-+-+-+-+
 */
#define B0_X 0x80
#define B0_N 0x20
#define B0_S 0x10
#define B0_PID 0x07
#define EXT_I 0x80
#define EXT_L 0x40
#define EXT_T 0x20
#define EXT_K 0x10
#define PIC_M 0x80

/* The descriptor the packetizer puts on every payload: X, I, M with a
 * 15-bit picture ID. */
#define PKT_DESC_LEN 4

int kg_vp8_desc_parse(const uint8_t *payload, size_t len, kg_vp8_desc *out)
{
    size_t off = 0;
    memset(out, 0, sizeof(*out));
    if (len < 1)
        return KG_ERR_TRUNC;
    uint8_t b0 = payload[off++];
    /* The R bits must be ignored by receivers (RFC 7741 4.2). */
    out->x = (b0 & B0_X) != 0;
    out->n = (b0 & B0_N) != 0;
    out->s = (b0 & B0_S) != 0;
    out->pid = b0 & B0_PID;
    if (out->x) {
        if (len < off + 1)
            return KG_ERR_TRUNC;
        uint8_t ext = payload[off++];
        if (ext & EXT_I) {
            if (len < off + 1)
                return KG_ERR_TRUNC;
            out->has_picture_id = true;
            uint8_t p = payload[off++];
            if (p & PIC_M) {
                if (len < off + 1)
                    return KG_ERR_TRUNC;
                out->picture_id_16 = true;
                out->picture_id =
                    (uint16_t)(((p & 0x7f) << 8) | payload[off++]);
            } else {
                out->picture_id = p;
            }
        }
        /* RFC 7741 asks senders to set T whenever L is set; libwebrtc
         * and other receivers do not enforce it, and neither do we. */
        if (ext & EXT_L) {
            if (len < off + 1)
                return KG_ERR_TRUNC;
            out->has_tl0picidx = true;
            out->tl0picidx = payload[off++];
        }
        if (ext & (EXT_T | EXT_K)) {
            if (len < off + 1)
                return KG_ERR_TRUNC;
            uint8_t tk = payload[off++];
            if (ext & EXT_T) {
                out->has_tid = true;
                out->tid = tk >> 6;
                out->y = (tk & 0x20) != 0;
            }
            if (ext & EXT_K) {
                out->has_keyidx = true;
                out->keyidx = tk & 0x1f;
            }
        }
    }
    out->len = off;
    /* A VP8 RTP payload carries at least one byte of the frame. */
    if (len == off)
        return KG_ERR_MALFORMED;
    return 0;
}

ssize_t kg_vp8_desc_write(const kg_vp8_desc *d, uint8_t *buf, size_t cap)
{
    if (d->pid > 7 || d->tid > 3 || d->keyidx > 31)
        return KG_ERR_INVAL;
    if (d->has_picture_id &&
        d->picture_id > (d->picture_id_16 ? 0x7fff : 0x7f))
        return KG_ERR_INVAL;
    bool x = d->x || d->has_picture_id || d->has_tl0picidx || d->has_tid ||
             d->has_keyidx;
    size_t need = 1;
    if (x) {
        need += 1;
        if (d->has_picture_id)
            need += d->picture_id_16 ? 2 : 1;
        if (d->has_tl0picidx)
            need += 1;
        if (d->has_tid || d->has_keyidx)
            need += 1;
    }
    if (cap < need)
        return KG_ERR_NOSPACE;

    size_t off = 0;
    buf[off++] = (uint8_t)((x ? B0_X : 0) | (d->n ? B0_N : 0) |
                           (d->s ? B0_S : 0) | d->pid);
    if (!x)
        return (ssize_t)off;
    buf[off++] = (uint8_t)((d->has_picture_id ? EXT_I : 0) |
                           (d->has_tl0picidx ? EXT_L : 0) |
                           (d->has_tid ? EXT_T : 0) |
                           (d->has_keyidx ? EXT_K : 0));
    if (d->has_picture_id) {
        if (d->picture_id_16) {
            buf[off++] = (uint8_t)(PIC_M | (d->picture_id >> 8));
            buf[off++] = (uint8_t)(d->picture_id & 0xff);
        } else {
            buf[off++] = (uint8_t)d->picture_id;
        }
    }
    if (d->has_tl0picidx)
        buf[off++] = d->tl0picidx;
    if (d->has_tid || d->has_keyidx) {
        uint8_t tk = 0;
        if (d->has_tid)
            tk |= (uint8_t)((d->tid << 6) | (d->y ? 0x20 : 0));
        if (d->has_keyidx)
            tk |= d->keyidx;
        buf[off++] = tk;
    }
    return (ssize_t)off;
}

bool kg_vp8_is_keyframe(const uint8_t *payload, size_t len)
{
    kg_vp8_desc d;
    if (kg_vp8_desc_parse(payload, len, &d) != 0)
        return false;
    /* The first byte of the VP8 frame tag holds the inverse keyframe
     * flag in its lowest bit (RFC 6386 9.1). parse guarantees a byte. */
    return d.s && d.pid == 0 && (payload[d.len] & 0x01) == 0;
}

int kg_vp8_packetize(const uint8_t *frame, size_t len, uint16_t picture_id,
                     size_t max_payload, kg_vp8_emit_fn emit, void *user)
{
    if (len == 0 || max_payload <= PKT_DESC_LEN || emit == NULL)
        return KG_ERR_INVAL;
    size_t room = max_payload - PKT_DESC_LEN;
    size_t count = (len + room - 1) / room;
    if (count > INT32_MAX)
        return KG_ERR_INVAL;
    /* Balanced sizes (the first `extra` payloads carry one byte more)
     * rather than full payloads and a small tail: same packet count, no
     * runt packet at the end. */
    size_t base = len / count, extra = len % count;
    /* Payloads the size of an MTU fit on the stack; larger ones (a
     * caller asking for jumbo payloads) take one allocation. */
    uint8_t local[1500];
    uint8_t *scratch = local;
    if (PKT_DESC_LEN + base + 1 > sizeof(local)) {
        scratch = malloc(PKT_DESC_LEN + base + 1);
        if (scratch == NULL)
            return KG_ERR_NOMEM;
    }
    size_t off = 0;
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        size_t n = base + (i < extra ? 1 : 0);
        scratch[0] = (uint8_t)(B0_X | (i == 0 ? B0_S : 0));
        scratch[1] = EXT_I;
        scratch[2] = (uint8_t)(PIC_M | ((picture_id >> 8) & 0x7f));
        scratch[3] = (uint8_t)(picture_id & 0xff);
        memcpy(scratch + PKT_DESC_LEN, frame + off, n);
        off += n;
        rc = emit(user, scratch, PKT_DESC_LEN + n, i + 1 == count);
        if (rc < 0)
            break;
    }
    if (scratch != local)
        free(scratch);
    return rc < 0 ? rc : (int)count;
}

int kg_vp8_depacketizer_init(kg_vp8_depacketizer *d)
{
    memset(d, 0, sizeof(*d));
    d->buf = malloc(KG_VP8_MAX_FRAME);
    return d->buf ? 0 : KG_ERR_NOMEM;
}

void kg_vp8_depacketizer_free(kg_vp8_depacketizer *d)
{
    free(d->buf);
    memset(d, 0, sizeof(*d));
}

/* Discards the frame being built; it never completes, so it counts as
 * dropped. */
static void drop_current(kg_vp8_depacketizer *d)
{
    if (d->building)
        d->frames_dropped++;
    d->building = false;
    d->broken = false;
    d->len = 0;
}

int kg_vp8_depacketizer_push(kg_vp8_depacketizer *d, uint16_t seq,
                             uint32_t ts, bool marker, const uint8_t *payload,
                             size_t len, const uint8_t **frame,
                             size_t *frame_len)
{
    kg_vp8_desc desc;
    /* A bad payload leaves last_seq alone, so the next packet sees a gap
     * and the frame it belonged to is dropped like a lost one. */
    int rc = kg_vp8_desc_parse(payload, len, &desc);
    if (rc != 0)
        return rc;

    if (d->have_seq) {
        uint16_t delta = (uint16_t)(seq - d->last_seq);
        /* Duplicates and late (reordered) packets are ignored: the gap
         * their absence made already broke the frame they belong to. */
        if (delta == 0 || delta >= 0x8000)
            return 0;
        if (delta > 1 && d->building)
            d->broken = true;
    }
    d->last_seq = seq;
    d->have_seq = true;

    bool start = desc.s && desc.pid == 0;
    if (!d->building || start || ts != d->ts) {
        drop_current(d);
        d->building = true;
        d->ts = ts;
        /* A frame whose first packet we did not see cannot be decoded. */
        d->broken = !start;
    }

    size_t n = len - desc.len;
    if (!d->broken) {
        if (n > KG_VP8_MAX_FRAME - d->len) {
            d->broken = true;
        } else {
            memcpy(d->buf + d->len, payload + desc.len, n);
            d->len += n;
        }
    }

    if (!marker)
        return 0;
    if (d->broken) {
        drop_current(d);
        return 0;
    }
    *frame = d->buf;
    *frame_len = d->len;
    d->building = false;
    return 1;
}
