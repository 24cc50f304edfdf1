/* Fuzzes the VP8 payload descriptor parser/writer and the depacketizer.
 *
 * The whole input is first parsed as one payload; a successful parse must
 * write back to a descriptor that parses to the same fields.
 *
 * Then the input is read as a stream of packets, each
 *   ctl  (1 byte): bits 0-2 seq step (0 = duplicate, 7 = one back),
 *                  bit 3 new timestamp, bit 4 marker
 *   len  (1 byte): payload length, cut to what is left
 *   payload
 * and pushed into one depacketizer; every frame it hands out is read
 * whole so that ASan sees a bad view. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"
#include "codec/vp8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static volatile uint8_t sink_out;

static void check_roundtrip(const uint8_t *data, size_t size)
{
    kg_vp8_desc d, again;
    int rc = kg_vp8_desc_parse(data, size, &d);
    if (rc != 0) {
        if (rc != KG_ERR_TRUNC && rc != KG_ERR_MALFORMED)
            abort();
        return;
    }
    if (d.len >= size)
        abort();
    uint8_t buf[8];
    ssize_t n = kg_vp8_desc_write(&d, buf, sizeof(buf));
    if (n <= 0 || (size_t)n != d.len)
        abort();
    /* Parse needs a VP8 byte after the descriptor. */
    buf[n] = data[d.len];
    if (kg_vp8_desc_parse(buf, (size_t)n + 1, &again) != 0)
        abort();
    if (again.has_picture_id != d.has_picture_id ||
        again.picture_id_16 != d.picture_id_16 ||
        again.has_tl0picidx != d.has_tl0picidx ||
        again.has_tid != d.has_tid || again.has_keyidx != d.has_keyidx)
        abort();
    if (again.x != d.x || again.n != d.n || again.s != d.s ||
        again.pid != d.pid || again.picture_id != d.picture_id ||
        again.tl0picidx != d.tl0picidx || again.tid != d.tid ||
        again.y != d.y || again.keyidx != d.keyidx || again.len != d.len)
        abort();
    (void)kg_vp8_is_keyframe(data, size);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    check_roundtrip(data, size);

    kg_vp8_depacketizer d;
    if (kg_vp8_depacketizer_init(&d) != 0)
        return 0;
    uint16_t seq = 0;
    uint32_t ts = 0;
    size_t off = 0;
    uint8_t sink = 0;
    while (off + 2 <= size) {
        uint8_t ctl = data[off], want = data[off + 1];
        off += 2;
        size_t len = want < size - off ? want : size - off;
        unsigned step = ctl & 7;
        seq = (uint16_t)(seq + (step == 7 ? 0xffff : step));
        if (ctl & 8)
            ts += 3000;
        const uint8_t *frame = NULL;
        size_t frame_len = 0;
        int rc = kg_vp8_depacketizer_push(&d, seq, ts, (ctl & 16) != 0,
                                          data + off, len, &frame,
                                          &frame_len);
        if (rc == 1) {
            if (frame == NULL || frame_len == 0 ||
                frame_len > KG_VP8_MAX_FRAME)
                abort();
            for (size_t i = 0; i < frame_len; i++)
                sink ^= frame[i];
        } else if (rc != 0 && rc != KG_ERR_TRUNC && rc != KG_ERR_MALFORMED) {
            abort();
        }
        off += len;
    }
    kg_vp8_depacketizer_free(&d);
    sink_out = sink; /* keeps the reads */
    return 0;
}
