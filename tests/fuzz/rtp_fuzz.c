/* Fuzzes the RTP parser, the header extension walk and the writers:
 * whatever parses must re-write to something that parses back to the
 * same header, and every element found must lie inside the input. */
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"
#include "codec/rtp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)          \
    do {                  \
        if (!(c))         \
            abort();      \
    } while (0)

static void check_same(const kg_rtp_hdr *a, const kg_rtp_hdr *b)
{
    CHECK(b->version == 2);
    CHECK(!b->padding);
    CHECK(a->extension == b->extension);
    CHECK(a->csrc_count == b->csrc_count);
    CHECK(a->marker == b->marker);
    CHECK(a->pt == b->pt);
    CHECK(a->seq == b->seq);
    CHECK(a->ts == b->ts);
    CHECK(a->ssrc == b->ssrc);
    CHECK(memcmp(a->csrc, b->csrc, a->csrc_count * sizeof(uint32_t)) == 0);
    CHECK(a->header_len == b->header_len);
    CHECK(a->payload_len == b->payload_len);
    CHECK(b->pad_len == 0);
    if (a->payload_len)
        CHECK(memcmp(a->payload, b->payload, a->payload_len) == 0);
    if (a->extension) {
        CHECK(a->ext_profile == b->ext_profile);
        CHECK(a->ext_len == b->ext_len);
        if (a->ext_len)
            CHECK(memcmp(a->ext, b->ext, a->ext_len) == 0);
    }
}

/* Collects every element, re-writes them as a block and finds each one
 * again in the new block. */
static void rewrite_ext(const kg_rtp_hdr *h)
{
    kg_rtp_ext_elem elems[255];
    size_t n = 0;
    for (unsigned id = 1; id < 256; id++) {
        kg_rtp_ext_elem e;
        int rc = kg_rtp_ext_find(h, (uint8_t)id, &e);
        CHECK(rc == 0 || rc == KG_ERR_NOTFOUND || rc == KG_ERR_MALFORMED);
        if (rc != 0)
            continue;
        CHECK(e.id == id);
        CHECK(e.data >= h->ext && e.data + e.len <= h->ext + h->ext_len);
        elems[n++] = e;
    }
    static uint8_t block[255 * 257 + 4];
    uint16_t profile;
    ssize_t len = kg_rtp_ext_write(elems, n, &profile, block, sizeof(block));
    CHECK(len >= 0 && len % 4 == 0);
    kg_rtp_hdr g = {0};
    g.extension = true;
    g.ext_profile = profile;
    g.ext = block;
    g.ext_len = (size_t)len;
    for (size_t i = 0; i < n; i++) {
        kg_rtp_ext_elem e;
        CHECK(kg_rtp_ext_find(&g, elems[i].id, &e) == 0);
        CHECK(e.len == elems[i].len);
        if (e.len)
            CHECK(memcmp(e.data, elems[i].data, e.len) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_rtp_hdr h;
    int rc = kg_rtp_parse(data, size, &h);
    if (rc != 0) {
        CHECK(rc == KG_ERR_TRUNC || rc == KG_ERR_MALFORMED);
        return 0;
    }
    CHECK(h.header_len + h.payload_len + h.pad_len == size);
    CHECK(h.payload == data + h.header_len);

    uint8_t level;
    bool voice;
    for (unsigned id = 0; id < 16; id++) {
        if (kg_rtp_audio_level(&h, (uint8_t)id, &level, &voice) == 0)
            CHECK(level <= 127);
    }
    rewrite_ext(&h);

    uint8_t *out = malloc(size ? size : 1);
    CHECK(out != NULL);
    ssize_t n = kg_rtp_write(&h, h.payload, h.payload_len, out, size);
    CHECK(n == (ssize_t)(size - h.pad_len));
    kg_rtp_hdr g;
    CHECK(kg_rtp_parse(out, (size_t)n, &g) == 0);
    check_same(&h, &g);

    kg_rtp_rewrite(out, (uint8_t)(h.pt + 1), (uint16_t)(h.seq + 1),
                   h.ts + 1, ~h.ssrc);
    CHECK(kg_rtp_parse(out, (size_t)n, &g) == 0);
    CHECK(g.pt == ((h.pt + 1) & 0x7f) && g.marker == h.marker);
    CHECK(g.seq == (uint16_t)(h.seq + 1) && g.ssrc == ~h.ssrc);
    free(out);
    return 0;
}
