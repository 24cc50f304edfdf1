/* Fuzzes what relay/rtcp_report does with RTCP from the network: SRs
 * (kg_rtcp_rx_on_sr, then a report block from them), report blocks
 * (kg_rtcp_tx_on_block: RTT, loss, jitter), and writes the compound
 * packets kaigi would answer with, which must parse back to the same
 * values. The first 16 bytes are the wall clock (NTP) and the monotonic
 * clock of the receiver; the rest is a compound packet. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "codec/bytes.h"
#include "codec/err.h"
#include "codec/rtcp.h"
#include "relay/room.h"
#include "relay/rtcp_report.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)          \
    do {                  \
        if (!(c))         \
            abort();      \
    } while (0)

static uint8_t out[2048];

static void blocks_in(kg_rtcp_tx *tx, const kg_rtcp_report_block *b,
                      size_t n, uint64_t ntp)
{
    for (size_t i = 0; i < n; i++) {
        int64_t rtt = kg_rtcp_tx_on_block(tx, &b[i], ntp);
        CHECK(rtt == KG_ERR_AGAIN || rtt == KG_ERR_INVAL ||
              (rtt >= 0 && rtt <= UINT32_MAX));
        CHECK(!tx->rtt.valid || (isfinite(tx->rtt.smoothed_ms) &&
                                 tx->rtt.smoothed_ms >= 0 &&
                                 tx->rtt.smoothed_ms <=
                                     KG_RTCP_RTT_MAX_MS));
    }
    /* kaigi's own RR with these blocks reads back the same */
    size_t w;
    ssize_t len = kg_rtcp_write_rr_compound(1, "kaigi", b, n, out, 1200, &w);
    CHECK(len > 0 && w <= n);
    static kg_rtcp_rr rr;
    size_t off = 0;
    kg_rtcp_pkt p;
    CHECK(kg_rtcp_next(out, (size_t)len, &off, &p) == 1);
    CHECK(kg_rtcp_parse_rr(&p, &rr) == 0 && rr.n_blocks == w);
    CHECK(memcmp(rr.blocks, b, w * sizeof(*b)) == 0);
}

static void sr_in(const kg_rtcp_sr *sr, kg_rtcp_rx *rx, kg_rx_stats *st,
                  kg_time now, uint64_t ntp)
{
    kg_rtcp_rx_on_sr(rx, sr->ntp, sr->rtp_ts, now);
    /* the SR's counts as a stream's sequence numbers */
    kg_rx_stats_update(st, (uint16_t)sr->packet_count, sr->rtp_ts, now,
                       90000);
    kg_rtcp_report_block b;
    CHECK(kg_rtcp_rx_block(rx, st, sr->ssrc, now + KG_MS, &b) == 0);
    CHECK(b.lsr == kg_ntp_mid32(sr->ntp) && b.cumulative_lost <= 0x7fffff &&
          b.cumulative_lost >= -0x800000);
    /* and an SR of ours mapped through it */
    kg_rtcp_tx tx;
    memset(&tx, 0, sizeof(tx));
    kg_rtcp_sender s;
    memset(&s, 0, sizeof(s));
    CHECK(kg_rtcp_tx_rtp_ts(&tx, rx, sr->octet_count, 48000, now + KG_SEC,
                            &s.rtp_ts) == 0);
    s.ssrc = sr->ssrc;
    s.ntp = ntp;
    strcpy(s.cname, "kaigi-1");
    size_t w;
    ssize_t len = kg_rtcp_write_srs(&s, 1, out, sizeof(out), &w);
    CHECK(len > 0 && w == 1);
    static kg_rtcp_sr back;
    size_t off = 0;
    kg_rtcp_pkt p;
    CHECK(kg_rtcp_next(out, (size_t)len, &off, &p) == 1);
    CHECK(kg_rtcp_parse_sr(&p, &back) == 0 && back.rtp_ts == s.rtp_ts &&
          back.ssrc == s.ssrc && back.ntp == s.ntp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 16)
        return 0;
    uint64_t ntp = kg_rd64(data);
    kg_time now = kg_rd64(data + 8) >> 1; /* room for now + 1 s */
    data += 16;
    size -= 16;
    static kg_rtcp_sr sr;
    static kg_rtcp_rr rr;
    kg_rtcp_rx rx;
    kg_rx_stats st;
    kg_rtcp_tx tx;
    memset(&rx, 0, sizeof(rx));
    memset(&st, 0, sizeof(st));
    memset(&tx, 0, sizeof(tx));
    size_t off = 0;
    kg_rtcp_pkt p;
    while (kg_rtcp_next(data, size, &off, &p) == 1) {
        if (p.pt == KG_RTCP_SR && kg_rtcp_parse_sr(&p, &sr) == 0) {
            sr_in(&sr, &rx, &st, now, ntp);
            blocks_in(&tx, sr.blocks, sr.n_blocks, ntp);
        } else if (p.pt == KG_RTCP_RR && kg_rtcp_parse_rr(&p, &rr) == 0) {
            blocks_in(&tx, rr.blocks, rr.n_blocks, ntp);
        }
    }
    return 0;
}
