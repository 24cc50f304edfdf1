/* RTCP sender and receiver reports per leg (RFC 3550 6.4, A.3). */
#include "relay/rtcp_report.h"

#include <string.h>

#include "codec/bytes.h"
#include "relay/room.h"

#define CUM_LOST_MAX 0x7fffff
#define CUM_LOST_MIN (-0x800000)

uint64_t kg_ntp_from_unix_ns(uint64_t unix_ns)
{
    uint64_t sec = unix_ns / KG_SEC + KG_NTP_UNIX_OFFSET;
    uint64_t frac = ((unix_ns % KG_SEC) << 32) / KG_SEC;
    return (sec << 32) | frac;
}

uint32_t kg_rtcp_q16_from_ns(kg_time ns)
{
    /* ns < 2^47 keeps ns << 16 inside 64 bits; beyond that (39 hours)
     * the value saturates anyway. */
    if (ns >= ((kg_time)1 << 47))
        return UINT32_MAX;
    uint64_t q = (ns << 16) / KG_SEC;
    return q > UINT32_MAX ? UINT32_MAX : (uint32_t)q;
}

kg_time kg_rtcp_report_interval(kg_time base, uint32_t rnd)
{
    /* base * (0.5 + rnd / 2^32), in integers */
    return base / 2 + (kg_time)((double)base * ((double)rnd / 4294967296.0));
}

/* --- RTT --------------------------------------------------------------- */

void kg_rtt_update(kg_rtt *r, uint32_t rtt_q16)
{
    double ms = (double)rtt_q16 * 1000.0 / 65536.0;
    r->last_q16 = rtt_q16;
    r->last_ms = ms;
    if (!r->valid)
        r->smoothed_ms = ms;
    else
        r->smoothed_ms += (ms - r->smoothed_ms) / 8.0;
    r->valid = true;
    r->samples++;
}

int64_t kg_rtcp_rtt_q16(uint32_t lsr, uint32_t dlsr, uint64_t ntp_now)
{
    if (lsr == 0)
        return KG_ERR_AGAIN;
    /* Modular arithmetic: the 16.16 clock wraps every 18 hours. */
    uint32_t rtt = kg_ntp_mid32(ntp_now) - lsr - dlsr;
    if ((int32_t)rtt < 0 ||
        (double)rtt * 1000.0 / 65536.0 > KG_RTCP_RTT_MAX_MS)
        return KG_ERR_INVAL;
    return (int64_t)rtt;
}

/* --- receiving leg ------------------------------------------------------- */

void kg_rtcp_rx_on_sr(kg_rtcp_rx *rx, uint64_t ntp, uint32_t rtp_ts,
                      kg_time now)
{
    rx->have_sr = true;
    rx->sr_ntp = ntp;
    rx->sr_rtp_ts = rtp_ts;
    rx->sr_at = now;
    rx->srs_in++;
}

/* RFC 3550 A.3: the fraction of the packets expected since the last
 * report that did not arrive, in 1/256. */
static uint8_t interval_fraction(kg_rtcp_rx *rx, uint64_t expected,
                                 uint64_t received)
{
    if (expected < rx->expected_prior || received < rx->received_prior) {
        /* The counts restarted (kg_rx_stats saw the sender restart):
         * the interval begins anew. */
        rx->expected_prior = 0;
        rx->received_prior = 0;
    }
    uint64_t expected_interval = expected - rx->expected_prior;
    uint64_t received_interval = received - rx->received_prior;
    rx->expected_prior = expected;
    rx->received_prior = received;
    if (expected_interval == 0 || received_interval >= expected_interval)
        return 0;
    uint64_t lost_interval = expected_interval - received_interval;
    return (uint8_t)((lost_interval << 8) / expected_interval);
}

int kg_rtcp_rx_block(kg_rtcp_rx *rx, const kg_rx_stats *s, uint32_t ssrc,
                     kg_time now, kg_rtcp_report_block *out)
{
    if (!s->started)
        return KG_ERR_AGAIN;
    uint64_t expected = kg_rx_stats_expected(s);
    memset(out, 0, sizeof(*out));
    out->ssrc = ssrc;
    out->fraction_lost = interval_fraction(rx, expected, s->received);
    rx->last_fraction = out->fraction_lost;
    /* Signed: duplicates can make it negative (RFC 3550 6.4.1). */
    int64_t cum = (int64_t)expected - (int64_t)s->received;
    if (cum > CUM_LOST_MAX)
        cum = CUM_LOST_MAX;
    if (cum < CUM_LOST_MIN)
        cum = CUM_LOST_MIN;
    out->cumulative_lost = (int32_t)cum;
    out->highest_seq = s->cycles + s->max_seq;
    out->jitter = s->jitter >> 4;
    if (rx->have_sr) {
        out->lsr = kg_ntp_mid32(rx->sr_ntp);
        out->dlsr = kg_rtcp_q16_from_ns(now > rx->sr_at ? now - rx->sr_at
                                                        : 0);
    }
    return 0;
}

/* --- sending leg --------------------------------------------------------- */

void kg_rtcp_tx_on_packet(kg_rtcp_tx *tx, uint32_t ts, kg_time now)
{
    tx->have_last = true;
    tx->last_ts = ts;
    tx->last_at = now;
}

/* Clock ticks in dt ns, modulo 2^32 like RTP timestamps. */
static uint32_t ticks(kg_time dt, uint32_t clock_rate)
{
    /* split so that dt * clock_rate cannot overflow 64 bits */
    return (uint32_t)((dt / KG_SEC) * clock_rate +
                      (dt % KG_SEC) * clock_rate / KG_SEC);
}

int kg_rtcp_tx_rtp_ts(const kg_rtcp_tx *tx, const kg_rtcp_rx *src,
                      uint32_t ts_delta, uint32_t clock_rate, kg_time now,
                      uint32_t *ts)
{
    if (src && src->have_sr && now >= src->sr_at &&
        now - src->sr_at <= KG_RTCP_SR_MAX_AGE) {
        *ts = src->sr_rtp_ts + ts_delta + ticks(now - src->sr_at, clock_rate);
        return 0;
    }
    if (!tx->have_last)
        return KG_ERR_AGAIN;
    kg_time dt = now > tx->last_at ? now - tx->last_at : 0;
    *ts = tx->last_ts + ticks(dt, clock_rate);
    return 0;
}

int64_t kg_rtcp_tx_on_block(kg_rtcp_tx *tx, const kg_rtcp_report_block *b,
                            uint64_t ntp_now)
{
    tx->have_rr = true;
    tx->fraction_lost = b->fraction_lost;
    tx->cumulative_lost = b->cumulative_lost;
    tx->jitter = b->jitter;
    tx->rrs_in++;
    int64_t rtt = kg_rtcp_rtt_q16(b->lsr, b->dlsr, ntp_now);
    if (rtt >= 0)
        kg_rtt_update(&tx->rtt, (uint32_t)rtt);
    return rtt;
}

double kg_rtcp_tx_jitter_ms(const kg_rtcp_tx *tx, uint32_t clock_rate)
{
    if (!clock_rate)
        return 0.0;
    return (double)tx->jitter * 1000.0 / (double)clock_rate;
}

/* --- kaigi's legs -------------------------------------------------------- */

int kg_rtcp_route_sr(const kg_track *t, const kg_route *rt, kg_time now,
                     uint64_t ntp, kg_rtcp_sender *out)
{
    if (!rt->started || !rt->rtcp.have_last)
        return KG_ERR_AGAIN;
    uint32_t ts;
    int rc = kg_rtcp_tx_rtp_ts(&rt->rtcp, &t->rtcp, rt->ts_delta,
                               kg_track_clock_rate(t->kind), now, &ts);
    if (rc != 0)
        return rc;
    memset(out, 0, sizeof(*out));
    out->ssrc = rt->out_ssrc;
    out->ntp = ntp;
    out->rtp_ts = ts;
    out->packets = (uint32_t)rt->packets;
    out->octets = (uint32_t)rt->bytes;
    return 0;
}

int kg_rtcp_track_block(kg_track *t, kg_time now, kg_rtcp_report_block *out)
{
    return kg_rtcp_rx_block(&t->rtcp, &t->rx, t->in_ssrc, now, out);
}

/* --- compound packets ---------------------------------------------------- */

#define SR_LEN 28 /* header, SSRC, sender info; no blocks */
#define RR_HDR_LEN 8
#define BLOCK_LEN 24

static int cname_len(const char *cname, size_t *len)
{
    *len = cname ? strlen(cname) : 0;
    return *len == 0 || *len >= KG_RTCP_CNAME_MAX ? KG_ERR_INVAL : 0;
}

/* An SDES chunk: SSRC, CNAME item, then 1 to 4 zero octets (the END item
 * and padding) up to a 32-bit boundary (RFC 3550 6.5). */
static size_t chunk_len(size_t cname_len)
{
    return 4 + ((2 + cname_len + 4) & ~(size_t)3);
}

static void write_chunk(uint8_t *p, uint32_t ssrc, const char *cname,
                        size_t n)
{
    size_t len = chunk_len(n);
    memset(p, 0, len);
    kg_wr32(p, ssrc);
    p[4] = 1; /* CNAME */
    p[5] = (uint8_t)n;
    memcpy(p + 6, cname, n);
}

static void write_sdes_hdr(uint8_t *p, size_t count, size_t len)
{
    p[0] = (uint8_t)(0x80 | count);
    p[1] = KG_RTCP_SDES;
    kg_wr16(p + 2, (uint16_t)(len / 4 - 1));
}

ssize_t kg_rtcp_write_srs(const kg_rtcp_sender *s, size_t n, uint8_t *buf,
                          size_t cap, size_t *written)
{
    *written = 0;
    if (n == 0)
        return KG_ERR_INVAL;
    /* How many fit: SR_LEN each plus a chunk each, one SDES header. The
     * SDES source count is 5 bits. */
    size_t fit = 0, total = 4;
    for (size_t i = 0; i < n && fit < 31; i++) {
        size_t cl;
        if (cname_len(s[i].cname, &cl) != 0)
            return KG_ERR_INVAL;
        size_t need = SR_LEN + chunk_len(cl);
        if (total + need > cap)
            break;
        total += need;
        fit++;
    }
    if (fit == 0)
        return KG_ERR_NOSPACE;
    size_t off = 0;
    for (size_t i = 0; i < fit; i++) {
        kg_rtcp_sr sr = {.ssrc = s[i].ssrc,
                         .ntp = s[i].ntp,
                         .rtp_ts = s[i].rtp_ts,
                         .packet_count = s[i].packets,
                         .octet_count = s[i].octets};
        ssize_t w = kg_rtcp_write_sr(&sr, buf + off, cap - off);
        if (w < 0)
            return w;
        off += (size_t)w;
    }
    size_t sdes = off;
    off += 4;
    for (size_t i = 0; i < fit; i++) {
        size_t cl = strlen(s[i].cname);
        write_chunk(buf + off, s[i].ssrc, s[i].cname, cl);
        off += chunk_len(cl);
    }
    write_sdes_hdr(buf + sdes, fit, off - sdes);
    *written = fit;
    return (ssize_t)off;
}

ssize_t kg_rtcp_write_rr_compound(uint32_t ssrc, const char *cname,
                                  const kg_rtcp_report_block *b, size_t n,
                                  uint8_t *buf, size_t cap, size_t *written)
{
    *written = 0;
    size_t cl;
    if (cname_len(cname, &cl) != 0)
        return KG_ERR_INVAL;
    size_t fixed = RR_HDR_LEN + 4 + chunk_len(cl);
    if (cap < fixed)
        return KG_ERR_NOSPACE;
    size_t fit = (cap - fixed) / BLOCK_LEN;
    if (fit > n)
        fit = n;
    if (fit > KG_RTCP_MAX_BLOCKS)
        fit = KG_RTCP_MAX_BLOCKS;
    kg_rtcp_rr rr = {.ssrc = ssrc, .n_blocks = (uint8_t)fit};
    if (fit)
        memcpy(rr.blocks, b, fit * sizeof(*b));
    ssize_t w = kg_rtcp_write_rr(&rr, buf, cap);
    if (w < 0)
        return w;
    size_t off = (size_t)w;
    write_chunk(buf + off + 4, ssrc, cname, cl);
    write_sdes_hdr(buf + off, 1, 4 + chunk_len(cl));
    off += 4 + chunk_len(cl);
    *written = fit;
    return (ssize_t)off;
}
