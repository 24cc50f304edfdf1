/* Fuzzes the RTCP compound walk and every packet parser; packets that
 * parse are written back and must parse to the same values. */
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"
#include "codec/rtcp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)          \
    do {                  \
        if (!(c))         \
            abort();      \
    } while (0)

static uint8_t out[1 << 18];

/* Reads the one packet in out[0..n) back. */
static void reread(ssize_t n, kg_rtcp_pkt *p)
{
    CHECK(n > 0);
    size_t off = 0;
    CHECK(kg_rtcp_next(out, (size_t)n, &off, p) == 1);
    CHECK(off == (size_t)n);
}

static void fuzz_sr(const kg_rtcp_pkt *p)
{
    static kg_rtcp_sr a, b;
    if (kg_rtcp_parse_sr(p, &a) != 0)
        return;
    kg_rtcp_pkt q;
    reread(kg_rtcp_write_sr(&a, out, sizeof(out)), &q);
    CHECK(kg_rtcp_parse_sr(&q, &b) == 0);
    CHECK(a.ssrc == b.ssrc && a.ntp == b.ntp && a.rtp_ts == b.rtp_ts);
    CHECK(a.packet_count == b.packet_count && a.octet_count == b.octet_count);
    CHECK(a.n_blocks == b.n_blocks);
    CHECK(memcmp(a.blocks, b.blocks, a.n_blocks * sizeof(a.blocks[0])) == 0);
}

static void fuzz_rr(const kg_rtcp_pkt *p)
{
    static kg_rtcp_rr a, b;
    if (kg_rtcp_parse_rr(p, &a) != 0)
        return;
    kg_rtcp_pkt q;
    reread(kg_rtcp_write_rr(&a, out, sizeof(out)), &q);
    CHECK(kg_rtcp_parse_rr(&q, &b) == 0);
    CHECK(a.ssrc == b.ssrc && a.n_blocks == b.n_blocks);
    CHECK(memcmp(a.blocks, b.blocks, a.n_blocks * sizeof(a.blocks[0])) == 0);
}

static void fuzz_sdes(const kg_rtcp_pkt *p)
{
    kg_rtcp_sdes a, b;
    if (kg_rtcp_parse_sdes(p, &a) != 0)
        return;
    CHECK(a.n_items <= p->count);
    for (size_t i = 0; i < a.n_items; i++) {
        const kg_rtcp_sdes_item *it = &a.items[i];
        CHECK(it->text >= p->data && it->text + it->len <= p->data + p->len);
        char name[256];
        memcpy(name, it->text, it->len);
        name[it->len] = 0;
        size_t l = strlen(name); /* a NUL inside shortens it */
        kg_rtcp_pkt q;
        reread(kg_rtcp_write_sdes_cname(it->ssrc, name, out, sizeof(out)),
               &q);
        CHECK(kg_rtcp_parse_sdes(&q, &b) == 0 && b.n_items == 1);
        CHECK(b.items[0].ssrc == it->ssrc && b.items[0].len == l);
        CHECK(memcmp(b.items[0].text, name, l) == 0);
    }
}

static void fuzz_bye(const kg_rtcp_pkt *p)
{
    kg_rtcp_bye a, b;
    if (kg_rtcp_parse_bye(p, &a) != 0)
        return;
    kg_rtcp_pkt q;
    reread(kg_rtcp_write_bye(&a, out, sizeof(out)), &q);
    CHECK(kg_rtcp_parse_bye(&q, &b) == 0 && a.n_ssrc == b.n_ssrc);
    CHECK(memcmp(a.ssrc, b.ssrc, a.n_ssrc * sizeof(uint32_t)) == 0);
}

static void fuzz_nack(const kg_rtcp_fb *fb)
{
    static kg_rtcp_nack_item a[1 << 14], b[1 << 14];
    int n = kg_rtcp_parse_nack(fb, a, KG_ARRAY_LEN(a));
    if (n <= 0)
        return;
    CHECK((size_t)n == fb->fci_len / 4 || (size_t)n == KG_ARRAY_LEN(a));
    kg_rtcp_pkt q;
    kg_rtcp_fb g;
    reread(kg_rtcp_write_nack(fb->sender_ssrc, fb->media_ssrc, a, (size_t)n,
                              out, sizeof(out)),
           &q);
    CHECK(kg_rtcp_parse_fb(&q, &g) == 0);
    CHECK(kg_rtcp_parse_nack(&g, b, KG_ARRAY_LEN(b)) == n);
    CHECK(memcmp(a, b, (size_t)n * sizeof(a[0])) == 0);

    /* The first item's losses packed alone give back that item. */
    uint16_t lost[17];
    size_t k = 0;
    lost[k++] = a[0].pid;
    for (int i = 0; i < 16; i++)
        if (a[0].blp & (1u << i))
            lost[k++] = (uint16_t)(a[0].pid + i + 1);
    kg_rtcp_nack_item one[2];
    CHECK(kg_rtcp_nack_pack(lost, k, one, 2) == 1);
    CHECK(one[0].pid == a[0].pid && one[0].blp == a[0].blp);
}

static void fuzz_fir(const kg_rtcp_fb *fb)
{
    static kg_rtcp_fir_item a[1 << 13], b[1 << 13];
    int n = kg_rtcp_parse_fir(fb, a, KG_ARRAY_LEN(a));
    if (n <= 0)
        return;
    kg_rtcp_pkt q;
    kg_rtcp_fb g;
    reread(kg_rtcp_write_fir(fb->sender_ssrc, a, (size_t)n, out,
                             sizeof(out)),
           &q);
    CHECK(kg_rtcp_parse_fb(&q, &g) == 0);
    CHECK(kg_rtcp_parse_fir(&g, b, KG_ARRAY_LEN(b)) == n);
    for (int i = 0; i < n; i++)
        CHECK(a[i].ssrc == b[i].ssrc && a[i].seq == b[i].seq);
}

static void fuzz_remb(const kg_rtcp_fb *fb)
{
    kg_rtcp_remb a, b;
    if (kg_rtcp_parse_remb(fb, &a) != 0)
        return;
    kg_rtcp_pkt q;
    kg_rtcp_fb g;
    reread(kg_rtcp_write_remb(fb->sender_ssrc, &a, out, sizeof(out)), &q);
    CHECK(kg_rtcp_parse_fb(&q, &g) == 0);
    CHECK(kg_rtcp_parse_remb(&g, &b) == 0);
    /* an exponent/mantissa pair always has an exact smallest form */
    CHECK(a.bitrate_bps == b.bitrate_bps && a.n_ssrc == b.n_ssrc);
    CHECK(memcmp(a.ssrc, b.ssrc, a.n_ssrc * sizeof(uint32_t)) == 0);
}

static void fuzz_fb(const kg_rtcp_pkt *p)
{
    kg_rtcp_fb fb;
    if (kg_rtcp_parse_fb(p, &fb) != 0)
        return;
    CHECK(fb.fci == p->data + 12 && fb.fci + fb.fci_len <= p->data + p->len);
    /* Every FCI parser on every feedback packet: the wrong ones must
     * refuse it. */
    fuzz_nack(&fb);
    fuzz_fir(&fb);
    fuzz_remb(&fb);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t off = 0;
    kg_rtcp_pkt p;
    int rc;
    while ((rc = kg_rtcp_next(data, size, &off, &p)) == 1) {
        CHECK(p.data >= data && p.data + p.len <= data + size);
        CHECK(p.len >= 4 && p.len % 4 == 0);
        switch (p.pt) {
        case KG_RTCP_SR: fuzz_sr(&p); break;
        case KG_RTCP_RR: fuzz_rr(&p); break;
        case KG_RTCP_SDES: fuzz_sdes(&p); break;
        case KG_RTCP_BYE: fuzz_bye(&p); break;
        case KG_RTCP_RTPFB:
        case KG_RTCP_PSFB: fuzz_fb(&p); break;
        default: break;
        }
    }
    CHECK(rc == 0 || rc == KG_ERR_TRUNC || rc == KG_ERR_MALFORMED);
    CHECK(off <= size);
    return 0;
}
