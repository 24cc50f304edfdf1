/* Fuzzes the NACK generator, the retransmission cache and the reorder
 * buffer with sequence numbers and times a sender chooses (a publisher
 * picks its own sequence numbers): the missing list stays sorted and
 * bounded, polls stay within their cap and name only missing packets,
 * the cache returns only the packet asked for, the reorder buffer
 * releases in order and holds no more than it has slots.
 *
 * Input: 4-byte steps [op, seq high, seq low, ms to advance]. */
#include <stdlib.h>
#include <string.h>

#include "codec/bytes.h"
#include "codec/err.h"
#include "relay/nack.h"
#include "relay/reorder.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)          \
    do {                  \
        if (!(c))         \
            abort();      \
    } while (0)

static void check_gen(const kg_nack_gen *g)
{
    CHECK(g->n_miss <= KG_NACK_MAX_MISSING);
    for (size_t i = 0; i < g->n_miss; i++) {
        CHECK(g->miss[i].ext < g->max_ext);
        CHECK(i == 0 || g->miss[i - 1].ext < g->miss[i].ext);
        CHECK(g->miss[i].tries <= KG_NACK_MAX_TRIES);
    }
}

static size_t pkt_len(uint16_t seq)
{
    return 12 + (size_t)(seq % 1400);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static kg_nack_gen g; /* 10 KB: not on the stack */
    static uint8_t pkt[1500];
    kg_rtx_cache c;
    kg_reorder r;
    /* A small cache and buffer, so that overwrites and resets happen;
     * the ring may grow from 16 to 64 KiB, so doublings happen too. */
    if (kg_rtx_cache_init(&c, 64, 65536, KG_SEC) != 0)
        abort();
    if (kg_reorder_init(&r, 32, 50 * KG_MS) != 0)
        abort();
    kg_nack_gen_init(&g);
    kg_time now = 1;
    int last_out = -1;
    uint64_t resets = 0;
    for (size_t i = 0; i + 4 <= size; i += 4) {
        uint8_t op = data[i];
        uint16_t seq = (uint16_t)(data[i + 1] << 8 | data[i + 2]);
        now += (kg_time)data[i + 3] * KG_MS;
        switch (op % 4) {
        case 0: {
            size_t len = pkt_len(seq);
            memset(pkt, (uint8_t)seq, len);
            kg_wr16(pkt + 2, seq);
            int seen = kg_nack_gen_on_packet(&g, seq, now);
            CHECK(seen >= KG_NACK_NEW && seen <= KG_NACK_RESET);
            CHECK(kg_rtx_cache_put(&c, seq, pkt, len, now) == 0);
            int rc = kg_reorder_push(&r, seq, pkt, len, now);
            CHECK(rc == 0 || rc == KG_ERR_EXISTS);
            break;
        }
        case 1: {
            uint16_t out[16];
            size_t n = kg_nack_gen_poll(&g, now, out, op % 17);
            CHECK(n <= op % 17 && n <= 16);
            for (size_t j = 1; j < n; j++)
                CHECK((int16_t)(uint16_t)(out[j] - out[j - 1]) > 0);
            break;
        }
        case 2: {
            size_t len;
            const uint8_t *p = kg_rtx_cache_get(&c, seq, now, &len);
            if (p) {
                CHECK(len == pkt_len(seq));
                CHECK(kg_rd16(p + 2) == seq);
                CHECK(p[len - 1] == (uint8_t)seq);
            }
            break;
        }
        default: {
            size_t len;
            const uint8_t *p;
            while ((p = kg_reorder_pop(&r, now, &len))) {
                CHECK(len == pkt_len(r.out_seq));
                CHECK(kg_rd16(p + 2) == r.out_seq);
                /* In order, unless a reset restarted the stream. */
                if (last_out >= 0 && r.resets == resets)
                    CHECK((int16_t)(uint16_t)(r.out_seq - last_out) > 0);
                last_out = r.out_seq;
                resets = r.resets;
            }
            break;
        }
        }
        check_gen(&g);
        CHECK(r.held <= r.n_slots);
        CHECK(kg_nack_gen_deadline(&g) == UINT64_MAX || g.n_miss > 0);
    }
    kg_rtx_cache_free(&c);
    kg_reorder_free(&r);
    return 0;
}
