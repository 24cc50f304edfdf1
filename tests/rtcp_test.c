#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "codec/rtcp.h"
#include "codec/rtp.h"

/* SR + SDES compound as Chromium sends it from a sending audio track
 * that also receives (one report block), with its 16-character CNAME. */
static const uint8_t sr_sdes[] = {
    0x81, 0xc8, 0x00, 0x0c, // V=2 RC=1 PT=200 (SR), length 12 (52 bytes)
    0x1a, 0x2b, 0x3c, 0x4d, // sender SSRC
    0xe8, 0x2b, 0x8c, 0x9a, // NTP timestamp, most significant word
    0x4f, 0x5d, 0x28, 0x00, // NTP timestamp, least significant word
    0x00, 0x0f, 0x42, 0x40, // RTP timestamp 1000000
    0x00, 0x00, 0x01, 0xf4, // sender's packet count 500
    0x00, 0x01, 0x86, 0xa0, // sender's octet count 100000
    0xde, 0xad, 0xbe, 0xef, // report block: SSRC of source
    0x0a, 0x00, 0x00, 0x03, // fraction lost 10/256, cumulative lost 3
    0x00, 0x01, 0x12, 0x34, // extended highest sequence number
    0x00, 0x00, 0x00, 0x2a, // interarrival jitter 42
    0x8c, 0x9a, 0x4f, 0x5d, // last SR (middle 32 bits of its NTP)
    0x00, 0x00, 0x80, 0x00, // delay since last SR: 0.5 s
    0x81, 0xca, 0x00, 0x06, // V=2 SC=1 PT=202 (SDES), length 6 (28 bytes)
    0x1a, 0x2b, 0x3c, 0x4d, // chunk SSRC
    0x01, 0x10,             // CNAME, 16 bytes
    'Y', 'F', 'V', 'n', 'd', '4', 'p', 'A',
    '1', 'W', 'R', 'b', 'p', 'B', 'Z', 'p',
    0x00, 0x00,             // END, padding to the word boundary
};

/* RR with two blocks, the second one with a negative cumulative loss
 * (duplicates), then a BYE with a reason. */
static const uint8_t rr_bye[] = {
    0x82, 0xc9, 0x00, 0x0d, // V=2 RC=2 PT=201 (RR), length 13 (56 bytes)
    0x00, 0x00, 0x00, 0x01, // reporter SSRC
    0x1a, 0x2b, 0x3c, 0x4d, // block 1: source SSRC
    0x00, 0x00, 0x00, 0x00, // no loss
    0x00, 0x00, 0xff, 0xff, // highest seq 65535
    0x00, 0x00, 0x00, 0x05, // jitter
    0x00, 0x00, 0x00, 0x00, // no SR received yet
    0x00, 0x00, 0x00, 0x00,
    0xca, 0xfe, 0xba, 0xbe, // block 2
    0x00, 0xff, 0xff, 0xfe, // fraction 0, cumulative lost -2
    0x00, 0x02, 0x00, 0x10, // highest seq, 2 cycles
    0x00, 0x00, 0x01, 0x00, // jitter 256
    0x11, 0x22, 0x33, 0x44, // LSR
    0x00, 0x01, 0x00, 0x00, // DLSR 1 s
    0x81, 0xcb, 0x00, 0x03, // V=2 SC=1 PT=203 (BYE), length 3 (16 bytes)
    0x00, 0x00, 0x00, 0x01, // SSRC
    0x04, 'g', 'o', 'n',    // reason, 4 bytes
    'e', 0x00, 0x00, 0x00,  // padding to the word boundary
};

/* Generic NACK: 1234 lost, and 1235 and 1237 from the bitmask. */
static const uint8_t nack[] = {
    0x81, 0xcd, 0x00, 0x03, // V=2 FMT=1 PT=205 (RTPFB), length 3
    0x00, 0x00, 0x00, 0x01, // sender SSRC
    0x1a, 0x2b, 0x3c, 0x4d, // media SSRC
    0x04, 0xd2, 0x00, 0x05, // PID 1234, BLP 0b101
};

static const uint8_t pli[] = {
    0x81, 0xce, 0x00, 0x02, // V=2 FMT=1 PT=206 (PSFB), length 2
    0x00, 0x00, 0x00, 0x01, // sender SSRC
    0x1a, 0x2b, 0x3c, 0x4d, // media SSRC
};

static const uint8_t fir[] = {
    0x84, 0xce, 0x00, 0x04, // V=2 FMT=4 PT=206 (PSFB), length 4
    0x00, 0x00, 0x00, 0x01, // sender SSRC
    0x00, 0x00, 0x00, 0x00, // media SSRC unused (RFC 5104)
    0x1a, 0x2b, 0x3c, 0x4d, // FCI: target SSRC
    0x07, 0x00, 0x00, 0x00, // command sequence number 7, reserved
};

/* REMB of 1.5 Mbit/s = 187500 << 3 for one SSRC, as Chromium sends. */
static const uint8_t remb[] = {
    0x8f, 0xce, 0x00, 0x05, // V=2 FMT=15 PT=206 (PSFB AFB), length 5
    0x00, 0x00, 0x00, 0x01, // sender SSRC
    0x00, 0x00, 0x00, 0x00, // media SSRC 0
    'R', 'E', 'M', 'B',     // unique identifier
    0x01, 0x0e, 0xdc, 0x6c, // 1 SSRC, exp 3, mantissa 0x2dc6c
    0x1a, 0x2b, 0x3c, 0x4d, // SSRC feedback
};

static uint8_t *dup_exact(const uint8_t *p, size_t len)
{
    uint8_t *d = malloc(len ? len : 1);
    assert_non_null(d);
    if (len)
        memcpy(d, p, len);
    return d;
}

/* Reads one whole packet into p, asserting that buf holds exactly one. */
static void one_pkt(const uint8_t *buf, size_t len, kg_rtcp_pkt *p)
{
    size_t off = 0;
    assert_int_equal(kg_rtcp_next(buf, len, &off, p), 1);
    assert_int_equal(off, len);
    assert_int_equal(kg_rtcp_next(buf, len, &off, p), 0);
}

static void test_sr_sdes(void **state)
{
    (void)state;
    size_t off = 0;
    kg_rtcp_pkt p;
    assert_int_equal(kg_rtcp_next(sr_sdes, sizeof(sr_sdes), &off, &p), 1);
    assert_int_equal(p.pt, KG_RTCP_SR);
    assert_int_equal(p.count, 1);
    assert_false(p.padding);
    assert_ptr_equal(p.data, sr_sdes);
    assert_int_equal(p.len, 52);

    kg_rtcp_sr sr;
    assert_int_equal(kg_rtcp_parse_sr(&p, &sr), 0);
    assert_int_equal(sr.ssrc, 0x1a2b3c4d);
    assert_true(sr.ntp == 0xe82b8c9a4f5d2800ull);
    assert_int_equal(sr.rtp_ts, 1000000);
    assert_int_equal(sr.packet_count, 500);
    assert_int_equal(sr.octet_count, 100000);
    assert_int_equal(sr.n_blocks, 1);
    assert_int_equal(sr.blocks[0].ssrc, 0xdeadbeef);
    assert_int_equal(sr.blocks[0].fraction_lost, 10);
    assert_int_equal(sr.blocks[0].cumulative_lost, 3);
    assert_int_equal(sr.blocks[0].highest_seq, 0x11234);
    assert_int_equal(sr.blocks[0].jitter, 42);
    assert_int_equal(sr.blocks[0].lsr, 0x8c9a4f5d);
    assert_int_equal(sr.blocks[0].dlsr, 0x8000);
    /* the wrong parser for this packet */
    kg_rtcp_rr rr;
    assert_int_equal(kg_rtcp_parse_rr(&p, &rr), KG_ERR_INVAL);

    assert_int_equal(kg_rtcp_next(sr_sdes, sizeof(sr_sdes), &off, &p), 1);
    assert_int_equal(p.pt, KG_RTCP_SDES);
    assert_int_equal(p.len, 28);
    kg_rtcp_sdes sdes;
    assert_int_equal(kg_rtcp_parse_sdes(&p, &sdes), 0);
    assert_int_equal(sdes.n_items, 1);
    assert_int_equal(sdes.items[0].ssrc, 0x1a2b3c4d);
    assert_int_equal(sdes.items[0].type, 1);
    assert_int_equal(sdes.items[0].len, 16);
    assert_memory_equal(sdes.items[0].text, "YFVnd4pA1WRbpBZp", 16);
    assert_int_equal(off, sizeof(sr_sdes));
    assert_int_equal(kg_rtcp_next(sr_sdes, sizeof(sr_sdes), &off, &p), 0);

    uint8_t out[128];
    ssize_t n = kg_rtcp_write_sr(&sr, out, sizeof(out));
    assert_int_equal(n, 52);
    ssize_t m = kg_rtcp_write_sdes_cname(0x1a2b3c4d, "YFVnd4pA1WRbpBZp",
                                         out + n, sizeof(out) - (size_t)n);
    assert_int_equal(m, 28);
    assert_memory_equal(out, sr_sdes, sizeof(sr_sdes));

    for (size_t cap = 0; cap < 52; cap++)
        assert_int_equal(kg_rtcp_write_sr(&sr, out, cap), KG_ERR_NOSPACE);
    for (size_t cap = 0; cap < 28; cap++)
        assert_int_equal(kg_rtcp_write_sdes_cname(1, "YFVnd4pA1WRbpBZp",
                                                  out, cap),
                         KG_ERR_NOSPACE);
    sr.n_blocks = 32;
    assert_int_equal(kg_rtcp_write_sr(&sr, out, sizeof(out)), KG_ERR_INVAL);
}

static void test_sdes_lengths(void **state)
{
    (void)state;
    /* CNAME lengths around the word boundary: the END octet always fits,
     * padding makes the rest up. */
    char cname[256];
    uint8_t out[300];
    for (size_t l = 0; l <= 255; l++) {
        memset(cname, 'a' + (int)(l % 26), l);
        cname[l] = 0;
        ssize_t n = kg_rtcp_write_sdes_cname(7, cname, out, sizeof(out));
        assert_int_equal(n, (8 + 2 + l + 1 + 3) / 4 * 4);
        kg_rtcp_pkt p;
        one_pkt(out, (size_t)n, &p);
        kg_rtcp_sdes s;
        assert_int_equal(kg_rtcp_parse_sdes(&p, &s), 0);
        assert_int_equal(s.n_items, 1);
        assert_int_equal(s.items[0].ssrc, 7);
        assert_int_equal(s.items[0].len, l);
        assert_memory_equal(s.items[0].text, cname, l);
    }
    char longer[257];
    memset(longer, 'x', 256);
    longer[256] = 0;
    assert_int_equal(kg_rtcp_write_sdes_cname(7, longer, out, sizeof(out)),
                     KG_ERR_INVAL);

    /* Two chunks, the first with a NAME item before its CNAME, the second
     * with no CNAME at all. */
    static const uint8_t two[] = {
        0x82, 0xca, 0x00, 0x06, // SC=2 SDES, 28 bytes
        0x00, 0x00, 0x00, 0x0a, // chunk 1 SSRC
        0x02, 0x01, 'n',        // NAME "n"
        0x01, 0x02, 'c', 'n',   // CNAME "cn"
        0x00,                   // END (already at a boundary after it)
        0x00, 0x00, 0x00, 0x0b, // chunk 2 SSRC
        0x06, 0x02, 'h', 'i',   // TOOL "hi"
        0x00, 0x00, 0x00, 0x00, // END + padding
    };
    kg_rtcp_pkt p;
    one_pkt(two, sizeof(two), &p);
    kg_rtcp_sdes s;
    assert_int_equal(kg_rtcp_parse_sdes(&p, &s), 0);
    assert_int_equal(s.n_items, 1);
    assert_int_equal(s.items[0].ssrc, 10);
    assert_memory_equal(s.items[0].text, "cn", 2);

    /* A chunk without its END octet. */
    static const uint8_t no_end[] = {
        0x81, 0xca, 0x00, 0x02, // SC=1 SDES, 12 bytes
        0x00, 0x00, 0x00, 0x0a, // SSRC
        0x01, 0x02, 'c', 'n',   // CNAME "cn", then nothing
    };
    one_pkt(no_end, sizeof(no_end), &p);
    assert_int_equal(kg_rtcp_parse_sdes(&p, &s), KG_ERR_TRUNC);
    /* SC says 2 where one chunk is present. */
    uint8_t sc2[28];
    memcpy(sc2, sr_sdes + 52, 28);
    sc2[0] = 0x82;
    one_pkt(sc2, sizeof(sc2), &p);
    assert_int_equal(kg_rtcp_parse_sdes(&p, &s), KG_ERR_TRUNC);
    /* An item length past the packet. */
    memcpy(sc2, sr_sdes + 52, 28);
    sc2[9] = 0x20;
    one_pkt(sc2, sizeof(sc2), &p);
    assert_int_equal(kg_rtcp_parse_sdes(&p, &s), KG_ERR_TRUNC);
}

static void test_rr_bye(void **state)
{
    (void)state;
    size_t off = 0;
    kg_rtcp_pkt p;
    assert_int_equal(kg_rtcp_next(rr_bye, sizeof(rr_bye), &off, &p), 1);
    kg_rtcp_rr rr;
    assert_int_equal(kg_rtcp_parse_rr(&p, &rr), 0);
    assert_int_equal(rr.ssrc, 1);
    assert_int_equal(rr.n_blocks, 2);
    assert_int_equal(rr.blocks[0].ssrc, 0x1a2b3c4d);
    assert_int_equal(rr.blocks[0].cumulative_lost, 0);
    assert_int_equal(rr.blocks[0].highest_seq, 65535);
    assert_int_equal(rr.blocks[1].ssrc, 0xcafebabe);
    assert_int_equal(rr.blocks[1].fraction_lost, 0);
    assert_int_equal(rr.blocks[1].cumulative_lost, -2);
    assert_int_equal(rr.blocks[1].highest_seq, 0x20010);
    assert_int_equal(rr.blocks[1].jitter, 256);
    assert_int_equal(rr.blocks[1].lsr, 0x11223344);
    assert_int_equal(rr.blocks[1].dlsr, 0x10000);

    assert_int_equal(kg_rtcp_next(rr_bye, sizeof(rr_bye), &off, &p), 1);
    kg_rtcp_bye bye;
    assert_int_equal(kg_rtcp_parse_bye(&p, &bye), 0);
    assert_int_equal(bye.n_ssrc, 1);
    assert_int_equal(bye.ssrc[0], 1);
    assert_int_equal(kg_rtcp_next(rr_bye, sizeof(rr_bye), &off, &p), 0);

    uint8_t out[128];
    assert_int_equal(kg_rtcp_write_rr(&rr, out, sizeof(out)), 56);
    assert_memory_equal(out, rr_bye, 56);
    /* The writer leaves the reason out. */
    assert_int_equal(kg_rtcp_write_bye(&bye, out, sizeof(out)), 8);
    static const uint8_t bye_plain[] = {0x81, 0xcb, 0x00, 0x01,
                                        0x00, 0x00, 0x00, 0x01};
    assert_memory_equal(out, bye_plain, 8);

    /* A reason whose length runs past the packet. */
    uint8_t bad[16];
    memcpy(bad, rr_bye + 56, 16);
    bad[8] = 8;
    one_pkt(bad, sizeof(bad), &p);
    assert_int_equal(kg_rtcp_parse_bye(&p, &bye), KG_ERR_TRUNC);
    bad[8] = 7; /* exactly fills it */
    assert_int_equal(kg_rtcp_parse_bye(&p, &bye), 0);

    /* An RR with no blocks, as a receive-only Chromium sends it. */
    kg_rtcp_rr empty = {.ssrc = 0xabcdef01, .n_blocks = 0};
    static const uint8_t rr0[] = {0x80, 0xc9, 0x00, 0x01, // RC=0 RR
                                  0xab, 0xcd, 0xef, 0x01};
    assert_int_equal(kg_rtcp_write_rr(&empty, out, sizeof(out)), 8);
    assert_memory_equal(out, rr0, 8);
    for (size_t cap = 0; cap < 8; cap++)
        assert_int_equal(kg_rtcp_write_rr(&empty, out, cap), KG_ERR_NOSPACE);
    one_pkt(rr0, sizeof(rr0), &p);
    assert_int_equal(kg_rtcp_parse_rr(&p, &rr), 0);
    assert_int_equal(rr.n_blocks, 0);

    /* Cumulative loss is clamped to 24 bits, not wrapped. */
    kg_rtcp_rr big = {.ssrc = 1, .n_blocks = 2};
    big.blocks[0].cumulative_lost = 0x1000000;
    big.blocks[1].cumulative_lost = -0x1000000;
    assert_int_equal(kg_rtcp_write_rr(&big, out, sizeof(out)), 56);
    one_pkt(out, 56, &p);
    assert_int_equal(kg_rtcp_parse_rr(&p, &rr), 0);
    assert_int_equal(rr.blocks[0].cumulative_lost, 0x7fffff);
    assert_int_equal(rr.blocks[1].cumulative_lost, -0x800000);
}

static void test_nack(void **state)
{
    (void)state;
    kg_rtcp_pkt p;
    one_pkt(nack, sizeof(nack), &p);
    kg_rtcp_fb fb;
    assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
    assert_int_equal(fb.pt, KG_RTCP_RTPFB);
    assert_int_equal(fb.fmt, KG_RTCP_FMT_NACK);
    assert_int_equal(fb.sender_ssrc, 1);
    assert_int_equal(fb.media_ssrc, 0x1a2b3c4d);
    assert_int_equal(fb.fci_len, 4);
    kg_rtcp_nack_item it[4];
    assert_int_equal(kg_rtcp_parse_nack(&fb, it, 4), 1);
    assert_int_equal(it[0].pid, 1234);
    assert_int_equal(it[0].blp, 5);
    assert_int_equal(kg_rtcp_parse_nack(&fb, it, 0), 0);
    /* a NACK is not a FIR or REMB */
    kg_rtcp_fir_item fi[1];
    kg_rtcp_remb rb;
    assert_int_equal(kg_rtcp_parse_fir(&fb, fi, 1), KG_ERR_INVAL);
    assert_int_equal(kg_rtcp_parse_remb(&fb, &rb), KG_ERR_INVAL);

    uint8_t out[32];
    assert_int_equal(kg_rtcp_write_nack(1, 0x1a2b3c4d, it, 1, out,
                                        sizeof(out)),
                     16);
    assert_memory_equal(out, nack, sizeof(nack));
    for (size_t cap = 0; cap < 16; cap++)
        assert_int_equal(kg_rtcp_write_nack(1, 2, it, 1, out, cap),
                         KG_ERR_NOSPACE);
    assert_int_equal(kg_rtcp_write_nack(1, 2, it, 0, out, sizeof(out)),
                     KG_ERR_INVAL);

    /* An FCI that is not whole items. */
    uint8_t odd[] = {
        0x81, 0xcd, 0x00, 0x03, // NACK, 16 bytes
        0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x02,
        0x00, 0x01, 0x00, 0x02, // FCI, then 1 byte of padding:
    };
    odd[0] = 0xa1;           // P=1
    odd[15] = 0x01;          // padding count 1 leaves a 3-byte FCI
    one_pkt(odd, sizeof(odd), &p);
    assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
    assert_int_equal(fb.fci_len, 3);
    assert_int_equal(kg_rtcp_parse_nack(&fb, it, 4), KG_ERR_MALFORMED);
    /* An empty FCI. */
    static const uint8_t empty[] = {0x81, 0xcd, 0x00, 0x02, 0, 0, 0, 1,
                                    0, 0, 0, 2};
    one_pkt(empty, sizeof(empty), &p);
    assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
    assert_int_equal(kg_rtcp_parse_nack(&fb, it, 4), KG_ERR_MALFORMED);
}

static void test_pli_fir(void **state)
{
    (void)state;
    kg_rtcp_pkt p;
    kg_rtcp_fb fb;
    one_pkt(pli, sizeof(pli), &p);
    assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
    assert_int_equal(fb.pt, KG_RTCP_PSFB);
    assert_int_equal(fb.fmt, KG_RTCP_FMT_PLI);
    assert_int_equal(fb.media_ssrc, 0x1a2b3c4d);
    assert_int_equal(fb.fci_len, 0);
    /* PSFB fmt 1 is a PLI, not a NACK */
    kg_rtcp_nack_item it[1];
    assert_int_equal(kg_rtcp_parse_nack(&fb, it, 1), KG_ERR_INVAL);
    uint8_t out[64];
    assert_int_equal(kg_rtcp_write_pli(1, 0x1a2b3c4d, out, sizeof(out)), 12);
    assert_memory_equal(out, pli, sizeof(pli));
    assert_int_equal(kg_rtcp_write_pli(1, 2, out, 11), KG_ERR_NOSPACE);

    one_pkt(fir, sizeof(fir), &p);
    assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
    assert_int_equal(fb.fmt, KG_RTCP_FMT_FIR);
    assert_int_equal(fb.media_ssrc, 0);
    kg_rtcp_fir_item fi[2];
    assert_int_equal(kg_rtcp_parse_fir(&fb, fi, 2), 1);
    assert_int_equal(fi[0].ssrc, 0x1a2b3c4d);
    assert_int_equal(fi[0].seq, 7);
    assert_int_equal(kg_rtcp_write_fir(1, fi, 1, out, sizeof(out)), 20);
    assert_memory_equal(out, fir, sizeof(fir));
    for (size_t cap = 0; cap < 20; cap++)
        assert_int_equal(kg_rtcp_write_fir(1, fi, 1, out, cap),
                         KG_ERR_NOSPACE);
    assert_int_equal(kg_rtcp_write_fir(1, fi, 0, out, sizeof(out)),
                     KG_ERR_INVAL);

    /* Two entries, cap 1: the first is returned. */
    fi[1].ssrc = 5;
    fi[1].seq = 255;
    assert_int_equal(kg_rtcp_write_fir(9, fi, 2, out, sizeof(out)), 28);
    one_pkt(out, 28, &p);
    assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
    kg_rtcp_fir_item got[2];
    assert_int_equal(kg_rtcp_parse_fir(&fb, got, 2), 2);
    assert_int_equal(got[1].ssrc, 5);
    assert_int_equal(got[1].seq, 255);
    assert_int_equal(kg_rtcp_parse_fir(&fb, got, 1), 1);

    /* A FIR whose FCI is half an entry. */
    uint8_t half[16];
    memcpy(half, fir, 16);
    half[3] = 0x03;
    one_pkt(half, sizeof(half), &p);
    assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
    assert_int_equal(kg_rtcp_parse_fir(&fb, got, 2), KG_ERR_MALFORMED);
}

static void test_remb(void **state)
{
    (void)state;
    kg_rtcp_pkt p;
    kg_rtcp_fb fb;
    kg_rtcp_remb r;
    one_pkt(remb, sizeof(remb), &p);
    assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
    assert_int_equal(fb.fmt, KG_RTCP_FMT_AFB);
    assert_int_equal(kg_rtcp_parse_remb(&fb, &r), 0);
    assert_true(r.bitrate_bps == 1500000);
    assert_int_equal(r.n_ssrc, 1);
    assert_int_equal(r.ssrc[0], 0x1a2b3c4d);

    uint8_t out[128];
    assert_int_equal(kg_rtcp_write_remb(1, &r, out, sizeof(out)), 24);
    assert_memory_equal(out, remb, sizeof(remb));
    for (size_t cap = 0; cap < 24; cap++)
        assert_int_equal(kg_rtcp_write_remb(1, &r, out, cap),
                         KG_ERR_NOSPACE);

    /* Bitrates round down to an 18-bit mantissa and survive a round
     * trip to within that precision. */
    static const uint64_t rates[] = {0,          1,
                                     262143,     262144,
                                     262145,     30000000,
                                     1ull << 40, (1ull << 40) + 12345,
                                     UINT64_MAX};
    for (size_t i = 0; i < KG_ARRAY_LEN(rates); i++) {
        kg_rtcp_remb w = {.bitrate_bps = rates[i], .n_ssrc = 0};
        ssize_t n = kg_rtcp_write_remb(1, &w, out, sizeof(out));
        assert_int_equal(n, 20);
        one_pkt(out, (size_t)n, &p);
        assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
        assert_int_equal(kg_rtcp_parse_remb(&fb, &r), 0);
        assert_true(r.bitrate_bps <= rates[i]);
        assert_true(rates[i] - r.bitrate_bps <= rates[i] >> 17);
        if (rates[i] < 262144)
            assert_true(r.bitrate_bps == rates[i]);
    }
    kg_rtcp_remb many = {.bitrate_bps = 1, .n_ssrc = 17};
    assert_int_equal(kg_rtcp_write_remb(1, &many, out, sizeof(out)),
                     KG_ERR_INVAL);

    uint8_t bad[sizeof(remb)];
    /* exponent 63 with a full mantissa overflows 64 bits */
    memcpy(bad, remb, sizeof(bad));
    bad[17] = 0xff;
    bad[18] = 0xff;
    bad[19] = 0xff;
    one_pkt(bad, sizeof(bad), &p);
    assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
    assert_int_equal(kg_rtcp_parse_remb(&fb, &r), KG_ERR_MALFORMED);
    /* two SSRCs announced, one present */
    memcpy(bad, remb, sizeof(bad));
    bad[16] = 2;
    assert_int_equal(kg_rtcp_parse_remb(&fb, &r), KG_ERR_TRUNC);
    /* some other AFB message */
    memcpy(bad, remb, sizeof(bad));
    bad[15] = 'X';
    assert_int_equal(kg_rtcp_parse_remb(&fb, &r), KG_ERR_INVAL);
    /* more SSRCs than we keep: the first 16 */
    kg_rtcp_remb w = {.bitrate_bps = 5000, .n_ssrc = 16};
    for (uint32_t i = 0; i < 16; i++)
        w.ssrc[i] = i + 100;
    ssize_t n = kg_rtcp_write_remb(1, &w, out, sizeof(out));
    assert_int_equal(n, 84);
    memcpy(out + n, "\x00\x00\x00\x99", 4);
    out[3] = 21; /* one more word: 88 bytes */
    out[16] = 17;
    one_pkt(out, (size_t)n + 4, &p);
    assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
    assert_int_equal(kg_rtcp_parse_remb(&fb, &r), 0);
    assert_int_equal(r.n_ssrc, 16);
    assert_int_equal(r.ssrc[15], 115);
}

static void test_padding(void **state)
{
    (void)state;
    uint8_t rr[] = {
        0xa0, 0xc9, 0x00, 0x02, // V=2 P=1 RC=0 RR, length 2 (12 bytes)
        0x00, 0x00, 0x00, 0x09, // SSRC
        0x00, 0x00, 0x00, 0x04, // 4 bytes of padding
    };
    kg_rtcp_pkt p;
    one_pkt(rr, sizeof(rr), &p);
    assert_true(p.padding);
    kg_rtcp_rr out;
    assert_int_equal(kg_rtcp_parse_rr(&p, &out), 0);
    assert_int_equal(out.ssrc, 9);

    size_t off = 0;
    rr[11] = 0; /* zero cannot count itself */
    assert_int_equal(kg_rtcp_next(rr, sizeof(rr), &off, &p),
                     KG_ERR_MALFORMED);
    rr[11] = 9; /* reaches into the header */
    assert_int_equal(kg_rtcp_next(rr, sizeof(rr), &off, &p),
                     KG_ERR_MALFORMED);
    rr[11] = 8; /* leaves the 4-byte header only: too short for an RR */
    one_pkt(rr, sizeof(rr), &p);
    assert_int_equal(kg_rtcp_parse_rr(&p, &out), KG_ERR_TRUNC);
    /* A parser re-checks a hand-made view. */
    p.data = rr;
    p.len = 12;
    p.padding = true;
    rr[11] = 200;
    assert_int_equal(kg_rtcp_parse_rr(&p, &out), KG_ERR_MALFORMED);
}

static void test_version_and_walk(void **state)
{
    (void)state;
    uint8_t buf[sizeof(sr_sdes)];
    static const uint8_t firsts[] = {0x01, 0x41, 0xc1};
    kg_rtcp_pkt p;
    for (size_t i = 0; i < KG_ARRAY_LEN(firsts); i++) {
        memcpy(buf, sr_sdes, sizeof(buf));
        buf[0] = firsts[i];
        size_t off = 0;
        assert_int_equal(kg_rtcp_next(buf, sizeof(buf), &off, &p),
                         KG_ERR_MALFORMED);
        /* the second packet's version is checked too */
        memcpy(buf, sr_sdes, sizeof(buf));
        buf[52] = firsts[i];
        off = 0;
        assert_int_equal(kg_rtcp_next(buf, sizeof(buf), &off, &p), 1);
        assert_int_equal(kg_rtcp_next(buf, sizeof(buf), &off, &p),
                         KG_ERR_MALFORMED);
    }
    size_t off = sizeof(buf) + 1;
    assert_int_equal(kg_rtcp_next(buf, sizeof(buf), &off, &p), KG_ERR_INVAL);
}

/* Walks every prefix of a compound packet from its own allocation: a
 * prefix that does not end on a packet boundary must fail, and each
 * packet the walk yields is parsed with the parser for its type. */
static void truncate_compound(const uint8_t *pkt, size_t len)
{
    for (size_t l = 0; l < len; l++) {
        uint8_t *d = dup_exact(pkt, l);
        size_t off = 0;
        kg_rtcp_pkt p;
        int rc;
        while ((rc = kg_rtcp_next(d, l, &off, &p)) == 1) {
            kg_rtcp_sr sr;
            kg_rtcp_rr rr;
            kg_rtcp_sdes sdes;
            kg_rtcp_bye bye;
            kg_rtcp_fb fb;
            switch (p.pt) {
            case KG_RTCP_SR:
                assert_int_equal(kg_rtcp_parse_sr(&p, &sr), 0);
                break;
            case KG_RTCP_RR:
                assert_int_equal(kg_rtcp_parse_rr(&p, &rr), 0);
                break;
            case KG_RTCP_SDES:
                assert_int_equal(kg_rtcp_parse_sdes(&p, &sdes), 0);
                break;
            case KG_RTCP_BYE:
                assert_int_equal(kg_rtcp_parse_bye(&p, &bye), 0);
                break;
            default:
                assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
            }
        }
        if (rc == 0) {
            /* the prefix ended on a boundary: a valid shorter compound */
            assert_int_equal(off, l);
        } else {
            assert_int_equal(rc, KG_ERR_TRUNC);
        }
        free(d);
    }
}

/* Each parser given a view shorter than its packet needs. The view's
 * header still claims the full length, as a hand-made view might. */
static void truncate_views(void **state)
{
    (void)state;
    struct {
        const uint8_t *pkt;
        size_t len;
        size_t min; /* the shortest view the parser accepts */
    } cases[] = {
        {sr_sdes, 52, 52},
        {sr_sdes + 52, 28, 28}, /* a chunk ends on a word boundary */
        {rr_bye, 56, 56},
        {rr_bye + 56, 16, 8},   /* without the reason, still a BYE */
        {nack, 16, 12},
        {pli, 12, 12},
        {fir, 20, 12},
        {remb, 24, 12},
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(cases); i++) {
        for (size_t l = 0; l < cases[i].len; l++) {
            uint8_t *d = dup_exact(cases[i].pkt, l);
            kg_rtcp_pkt p = {
                .pt = cases[i].pkt[1],
                .count = cases[i].pkt[0] & 0x1f,
                .padding = false,
                .data = d,
                .len = l,
            };
            kg_rtcp_sr sr;
            kg_rtcp_rr rr;
            kg_rtcp_sdes sdes;
            kg_rtcp_bye bye;
            kg_rtcp_fb fb;
            int rc;
            switch (p.pt) {
            case KG_RTCP_SR: rc = kg_rtcp_parse_sr(&p, &sr); break;
            case KG_RTCP_RR: rc = kg_rtcp_parse_rr(&p, &rr); break;
            case KG_RTCP_SDES: rc = kg_rtcp_parse_sdes(&p, &sdes); break;
            case KG_RTCP_BYE: rc = kg_rtcp_parse_bye(&p, &bye); break;
            default: rc = kg_rtcp_parse_fb(&p, &fb); break;
            }
            if (l < cases[i].min)
                assert_int_equal(rc, KG_ERR_TRUNC);
            else if (p.pt == KG_RTCP_BYE && l > 8 && l < 13)
                assert_int_equal(rc, KG_ERR_TRUNC); /* reason cut */
            else
                assert_int_equal(rc, 0);
            if (rc == 0 && p.pt == KG_RTCP_PSFB &&
                p.count == KG_RTCP_FMT_AFB) {
                kg_rtcp_remb r;
                int want = l < 24 ? KG_ERR_TRUNC : 0;
                assert_int_equal(kg_rtcp_parse_remb(&fb, &r), want);
            }
            free(d);
        }
    }
}

static void test_truncation(void **state)
{
    truncate_compound(sr_sdes, sizeof(sr_sdes));
    truncate_compound(rr_bye, sizeof(rr_bye));
    truncate_compound(nack, sizeof(nack));
    truncate_compound(pli, sizeof(pli));
    truncate_compound(fir, sizeof(fir));
    truncate_compound(remb, sizeof(remb));
    truncate_views(state);
}

/* Small deterministic PRNG so failures reproduce. */
static uint32_t xorshift(uint32_t *s)
{
    uint32_t x = *s;
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    return *s = x;
}

static void test_nack_pack(void **state)
{
    (void)state;
    /* hand-checked: 1234, 1235, 1237 → one item; 1251 is 17 away */
    static const uint16_t lost[] = {1234, 1235, 1237, 1250, 1251};
    kg_rtcp_nack_item it[8];
    assert_int_equal(kg_rtcp_nack_pack(lost, 5, it, 8), 2);
    assert_int_equal(it[0].pid, 1234);
    assert_int_equal(it[0].blp, 0x8005); /* 1235, 1237, 1250 */
    assert_int_equal(it[1].pid, 1251);
    assert_int_equal(it[1].blp, 0);
    assert_int_equal(kg_rtcp_nack_pack(lost, 5, it, 1), 1);
    assert_int_equal(kg_rtcp_nack_pack(lost, 0, it, 8), 0);
    /* across the wrap, with a duplicate */
    static const uint16_t wrap[] = {65534, 65535, 65535, 0, 3};
    assert_int_equal(kg_rtcp_nack_pack(wrap, 5, it, 8), 1);
    assert_int_equal(it[0].pid, 65534);
    assert_int_equal(it[0].blp, 0x0013); /* +1, +2, +5 */

    /* Random loss sets, near the wrap: pack, write, parse, expand. */
    uint32_t seed = 0x6b616967;
    for (int round = 0; round < 200; round++) {
        uint16_t base = (uint16_t)(65000 + xorshift(&seed) % 1000);
        uint16_t set[600];
        size_t n = 0;
        unsigned density = 1 + xorshift(&seed) % 100;
        for (uint16_t i = 0; i < 600; i++)
            if (xorshift(&seed) % 100 < density)
                set[n++] = (uint16_t)(base + i);
        kg_rtcp_nack_item items[600];
        size_t k = kg_rtcp_nack_pack(set, n, items, KG_ARRAY_LEN(items));
        assert_true(k <= n);
        if (n == 0) {
            assert_int_equal(k, 0);
            continue;
        }
        uint8_t pkt[12 + 4 * 600];
        ssize_t len = kg_rtcp_write_nack(1, 2, items, k, pkt, sizeof(pkt));
        assert_int_equal(len, 12 + 4 * (ssize_t)k);
        kg_rtcp_pkt p;
        one_pkt(pkt, (size_t)len, &p);
        kg_rtcp_fb fb;
        assert_int_equal(kg_rtcp_parse_fb(&p, &fb), 0);
        kg_rtcp_nack_item back[600];
        assert_int_equal(kg_rtcp_parse_nack(&fb, back, 600), (int)k);
        /* expand and compare with the original set, in order */
        size_t j = 0;
        for (size_t a = 0; a < k; a++) {
            assert_true(j < n);
            assert_int_equal(back[a].pid, set[j++]);
            for (int b = 0; b < 16; b++) {
                if (back[a].blp & (1u << b)) {
                    assert_true(j < n);
                    assert_int_equal((uint16_t)(back[a].pid + b + 1),
                                     set[j++]);
                }
            }
        }
        assert_int_equal(j, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sr_sdes),
        cmocka_unit_test(test_sdes_lengths),
        cmocka_unit_test(test_rr_bye),
        cmocka_unit_test(test_nack),
        cmocka_unit_test(test_pli_fir),
        cmocka_unit_test(test_remb),
        cmocka_unit_test(test_padding),
        cmocka_unit_test(test_version_and_walk),
        cmocka_unit_test(test_truncation),
        cmocka_unit_test(test_nack_pack),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
