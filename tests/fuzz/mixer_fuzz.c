/* Fuzzes the audio mixer's packet path (codec/jitter.c, codec/mixer.c,
 * and libopus behind it) with what a publisher controls: RTP sequence
 * numbers, timestamps and Opus payloads in any order, interleaved with
 * ticks. Input: records of [op][seq hi][seq lo][len][len bytes]; op's low
 * 2 bits pick one of three sources (3: a source the mixer lacks), bit 7
 * ticks the mixer first. Nothing may crash, every tick yields at most one
 * packet per listener, no packet exceeds its bound, and no jitter buffer
 * holds more than its slots. */
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"
#include "codec/jitter.h"
#include "codec/mixer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)          \
    do {                  \
        if (!(c))         \
            abort();      \
    } while (0)

static kg_jitter jb;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char owners[4];
    kg_mixer *m = kg_mixer_new(KG_MIXER_BITRATE);
    if (!m)
        return 0;
    for (int i = 0; i < 3; i++)
        CHECK(kg_mixer_add_source(m, &owners[i], 7) == 0);
    CHECK(kg_mixer_add_listener(m, &owners[0], 1, 111, 0, 0) == 0);
    CHECK(kg_mixer_add_listener(m, &owners[3], 2, 111, 0, 0) == 0);
    kg_jitter_init(&jb);
    kg_time now = 0;
    kg_mix_out out[2];
    size_t off = 0;
    while (off + 4 <= size) {
        uint8_t op = data[off];
        uint16_t seq = (uint16_t)(data[off + 1] << 8 | data[off + 2]);
        size_t len = data[off + 3];
        off += 4;
        if (len > size - off)
            len = size - off;
        const uint8_t *p = data + off;
        off += len;
        if (op & 0x80) {
            size_t n = kg_mixer_tick(m, now, out, 2);
            CHECK(n <= 2);
            for (size_t i = 0; i < n; i++)
                CHECK(out[i].len > 0 && out[i].len <= KG_MIXER_MAX_PAYLOAD);
            now += KG_MIXER_PERIOD;
        }
        int rc = kg_mixer_push(m, &owners[op & 3], 7, seq, seq * 960u, p,
                               len);
        CHECK(rc <= 0);
        /* The same stream through a bare jitter buffer, popped as the
         * mixer would. */
        kg_jitter_push(&jb, seq, 0, p, len);
        CHECK(kg_jitter_buffered(&jb) <= KG_JITTER_SLOTS);
        if (op & 0x40) {
            const uint8_t *fp;
            size_t flen;
            if (kg_jitter_pop(&jb, &fp, &flen) == KG_JITTER_FRAME)
                CHECK(flen > 0 && flen <= KG_JITTER_MAX_PAYLOAD);
        }
    }
    kg_mixer_del(m);
    return 0;
}
