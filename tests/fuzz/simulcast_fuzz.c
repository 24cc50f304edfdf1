/* Fuzzes the simulcast selector and VP8 rewriter with a stream of
 * packets on three layers toward three receivers (max layer 0, 1, 2).
 *
 * The input is read as records
 *   ctl  (1 byte): bits 0-1 layer (3 = a new estimate: the payload's
 *                  first byte times 20 kbit/s), bits 2-4 seq step
 *                  (0 = duplicate, 7 = five back), bit 5 new timestamp,
 *                  bit 6 time jumps 600 ms (else 10 ms)
 *   len  (1 byte): payload length, cut to what is left
 *   payload
 * Every packet a receiver accepts is rewritten in a copy of exactly the
 * payload's size (ASan sees any write past it), and the rewritten
 * descriptor must parse to the same length with the picture ID and
 * TL0PICIDX the selector chose. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"
#include "codec/vp8.h"
#include "relay/simulcast.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_rewrite(const kg_sc_out *o, const uint8_t *payload,
                          size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy)
        return;
    memcpy(copy, payload, len);
    kg_vp8_desc before, after;
    int rc = kg_sc_rewrite_vp8(o, copy, len);
    if (rc == 0) {
        if (kg_vp8_desc_parse(payload, len, &before) != 0 ||
            kg_vp8_desc_parse(copy, len, &after) != 0 ||
            before.len != after.len)
            abort();
        if (after.has_picture_id && o->has_pic &&
            after.picture_id !=
                (o->pic & (after.picture_id_16 ? 0x7fff : 0x7f)))
            abort();
        if (after.has_tl0picidx && o->has_tl0 && after.tl0picidx != o->tl0)
            abort();
    } else if (memcmp(copy, payload, len) != 0) {
        abort(); /* an error leaves the payload alone */
    }
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_sc_track t;
    kg_sc_track_init(&t);
    for (int i = 0; i < KG_SC_LAYERS; i++)
        kg_sc_track_set_layer(&t, i, 100u + (unsigned)i, 100000u << i);
    kg_sc_receiver r[3];
    for (int i = 0; i < 3; i++)
        kg_sc_receiver_init(&r[i], i, (uint16_t)(i * 7000), 1000u * i);
    uint16_t seq[KG_SC_LAYERS] = {0, 30000, 65500};
    uint32_t ts[KG_SC_LAYERS] = {0, 1u << 31, 0xfffff000u};
    kg_time now = KG_SEC;
    size_t off = 0;
    while (off + 2 <= size) {
        uint8_t ctl = data[off], len = data[off + 1];
        off += 2;
        size_t n = len < size - off ? len : size - off;
        const uint8_t *p = data + off;
        off += n;
        now += (ctl & 0x40) ? 600 * KG_MS : 10 * KG_MS;
        int layer = ctl & 3;
        if (layer == 3) {
            for (int i = 0; i < 3; i++) {
                kg_sc_receiver_set_estimate(&r[i], n ? p[0] * 20000u : 0);
                int tgt = kg_sc_receiver_update(&t, &r[i], now);
                if (tgt < -1 || tgt >= KG_SC_LAYERS)
                    abort();
            }
            continue;
        }
        static const int16_t steps[8] = {0, 1, 2, 3, 100, 3001, -1, -5};
        seq[layer] = (uint16_t)(seq[layer] + steps[(ctl >> 2) & 7]);
        if (ctl & 0x20)
            ts[layer] += 3000;
        kg_rtp_hdr h;
        memset(&h, 0, sizeof(h));
        h.version = 2;
        h.ssrc = t.layer[layer].ssrc;
        h.seq = seq[layer];
        h.ts = ts[layer];
        h.payload = p;
        h.payload_len = n;
        kg_sc_track_on_packet(&t, layer, n + 12, p, n, now);
        for (int i = 0; i < 3; i++) {
            kg_sc_out o;
            if (kg_sc_forward(&t, &r[i], layer, &h, now, &o) != 1)
                continue;
            if (o.layer != layer || r[i].cur != layer)
                abort();
            check_rewrite(&o, p, n);
        }
        kg_time next;
        unsigned mask = kg_sc_track_poll_keyframes(&t, now, &next);
        if (mask > 7 || (next != KG_TIME_NEVER && next <= now))
            abort();
    }
    return 0;
}
