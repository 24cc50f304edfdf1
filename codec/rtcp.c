/* RTCP (RFC 3550, 4585, 5104, draft-alvestrand-rmcat-remb) parse/write. */
#include "codec/rtcp.h"

#include <string.h>

#include "codec/bytes.h"
#include "codec/err.h"
#include "codec/rtp.h"

#define HDR_LEN 4
#define BLOCK_LEN 24
#define SENDER_INFO_LEN 20
#define FB_HDR_LEN 12
#define FIR_ITEM_LEN 8
#define REMB_FCI_MIN 8


/* Writes the common header of a len-byte packet (len a multiple of 4). */
static void wr_hdr(uint8_t *p, uint8_t count, uint8_t pt, size_t len)
{
    p[0] = (uint8_t)(2 << 6 | (count & 0x1f));
    p[1] = pt;
    kg_wr16(p + 2, (uint16_t)(len / 4 - 1));
}

/* Padding count of a packet whose padding bit is set: the last byte,
 * counting itself, never reaching into the 4-byte header. */
static int pad_len(const uint8_t *data, size_t len, size_t *pad)
{
    uint8_t n = data[len - 1];
    if (n == 0 || n > len - HDR_LEN)
        return KG_ERR_MALFORMED;
    *pad = n;
    return 0;
}

int kg_rtcp_next(const uint8_t *buf, size_t len, size_t *off,
                 kg_rtcp_pkt *out)
{
    if (buf == NULL || off == NULL || out == NULL || *off > len)
        return KG_ERR_INVAL;
    size_t rem = len - *off;
    if (rem == 0)
        return 0;
    const uint8_t *p = buf + *off;
    if (rem < HDR_LEN)
        return KG_ERR_TRUNC;
    if (p[0] >> 6 != 2)
        return KG_ERR_MALFORMED;
    size_t plen = ((size_t)kg_rd16(p + 2) + 1) * 4;
    if (plen > rem)
        return KG_ERR_TRUNC;
    out->pt = p[1];
    out->count = p[0] & 0x1f;
    out->padding = (p[0] & 0x20) != 0;
    out->data = p;
    out->len = plen;
    if (out->padding) {
        size_t pad;
        int rc = pad_len(p, plen, &pad);
        if (rc < 0)
            return rc;
    }
    *off += plen;
    return 1;
}

/* Checks a packet view and returns its length without padding in *body. */
static int pkt_body(const kg_rtcp_pkt *p, uint8_t pt, size_t *body)
{
    if (p == NULL || p->data == NULL)
        return KG_ERR_INVAL;
    if (p->pt != pt)
        return KG_ERR_INVAL;
    if (p->len < HDR_LEN)
        return KG_ERR_TRUNC;
    size_t pad = 0;
    if (p->padding) {
        int rc = pad_len(p->data, p->len, &pad);
        if (rc < 0)
            return rc;
    }
    *body = p->len - pad;
    return 0;
}

static void rd_block(const uint8_t *p, kg_rtcp_report_block *b)
{
    b->ssrc = kg_rd32(p);
    b->fraction_lost = p[4];
    /* 24-bit two's complement: shift it up to the sign bit and back. */
    uint32_t raw = (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
    b->cumulative_lost = (int32_t)(raw << 8) >> 8;
    b->highest_seq = kg_rd32(p + 8);
    b->jitter = kg_rd32(p + 12);
    b->lsr = kg_rd32(p + 16);
    b->dlsr = kg_rd32(p + 20);
}

static void wr_block(uint8_t *p, const kg_rtcp_report_block *b)
{
    int32_t lost = b->cumulative_lost;
    /* Clamp to the 24-bit field rather than wrap a huge count into a
     * negative one. */
    if (lost > 0x7fffff)
        lost = 0x7fffff;
    if (lost < -0x800000)
        lost = -0x800000;
    uint32_t raw = (uint32_t)lost & 0xffffff;
    kg_wr32(p, b->ssrc);
    p[4] = b->fraction_lost;
    p[5] = (uint8_t)(raw >> 16);
    p[6] = (uint8_t)(raw >> 8);
    p[7] = (uint8_t)raw;
    kg_wr32(p + 8, b->highest_seq);
    kg_wr32(p + 12, b->jitter);
    kg_wr32(p + 16, b->lsr);
    kg_wr32(p + 20, b->dlsr);
}

int kg_rtcp_parse_sr(const kg_rtcp_pkt *p, kg_rtcp_sr *out)
{
    size_t body;
    int rc = pkt_body(p, KG_RTCP_SR, &body);
    if (rc < 0)
        return rc;
    if (out == NULL)
        return KG_ERR_INVAL;
    size_t n = p->count;
    if (body < HDR_LEN + 4 + SENDER_INFO_LEN + n * BLOCK_LEN)
        return KG_ERR_TRUNC;
    const uint8_t *d = p->data;
    out->ssrc = kg_rd32(d + 4);
    out->ntp = (uint64_t)kg_rd32(d + 8) << 32 | kg_rd32(d + 12);
    out->rtp_ts = kg_rd32(d + 16);
    out->packet_count = kg_rd32(d + 20);
    out->octet_count = kg_rd32(d + 24);
    out->n_blocks = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        rd_block(d + 28 + i * BLOCK_LEN, &out->blocks[i]);
    return 0;
}

int kg_rtcp_parse_rr(const kg_rtcp_pkt *p, kg_rtcp_rr *out)
{
    size_t body;
    int rc = pkt_body(p, KG_RTCP_RR, &body);
    if (rc < 0)
        return rc;
    if (out == NULL)
        return KG_ERR_INVAL;
    size_t n = p->count;
    if (body < HDR_LEN + 4 + n * BLOCK_LEN)
        return KG_ERR_TRUNC;
    out->ssrc = kg_rd32(p->data + 4);
    out->n_blocks = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        rd_block(p->data + 8 + i * BLOCK_LEN, &out->blocks[i]);
    return 0;
}

/* Parses one SDES chunk at *off: SSRC, items, a null octet, and null
 * padding to the next 32-bit boundary. Keeps the chunk's first CNAME. */
static int sdes_chunk(const uint8_t *d, size_t body, size_t *off,
                      kg_rtcp_sdes *out)
{
    size_t o = *off;
    if (body - o < 4)
        return KG_ERR_TRUNC;
    uint32_t ssrc = kg_rd32(d + o);
    o += 4;
    bool have_cname = false;
    for (;;) {
        if (o >= body)
            return KG_ERR_TRUNC;
        uint8_t type = d[o];
        if (type == 0)
            break;
        if (body - o < 2)
            return KG_ERR_TRUNC;
        uint8_t ilen = d[o + 1];
        o += 2;
        if (body - o < ilen)
            return KG_ERR_TRUNC;
        if (type == 1 && !have_cname) {
            kg_rtcp_sdes_item *it = &out->items[out->n_items++];
            it->ssrc = ssrc;
            it->type = type;
            it->text = d + o;
            it->len = ilen;
            have_cname = true;
        }
        o += ilen;
    }
    /* o is at the null octet; the chunk ends at the next 32-bit boundary
     * after it. */
    o = (o + 4) & ~(size_t)3;
    if (o > body)
        return KG_ERR_TRUNC;
    *off = o;
    return 0;
}

int kg_rtcp_parse_sdes(const kg_rtcp_pkt *p, kg_rtcp_sdes *out)
{
    size_t body;
    int rc = pkt_body(p, KG_RTCP_SDES, &body);
    if (rc < 0)
        return rc;
    if (out == NULL)
        return KG_ERR_INVAL;
    out->n_items = 0;
    size_t off = HDR_LEN;
    for (unsigned i = 0; i < p->count; i++) {
        rc = sdes_chunk(p->data, body, &off, out);
        if (rc < 0)
            return rc;
    }
    return 0;
}

int kg_rtcp_parse_bye(const kg_rtcp_pkt *p, kg_rtcp_bye *out)
{
    size_t body;
    int rc = pkt_body(p, KG_RTCP_BYE, &body);
    if (rc < 0)
        return rc;
    if (out == NULL)
        return KG_ERR_INVAL;
    size_t n = p->count;
    if (body < HDR_LEN + n * 4)
        return KG_ERR_TRUNC;
    size_t off = HDR_LEN + n * 4;
    /* An optional reason follows: a length octet and that many bytes. */
    if (body > off && body - off - 1 < p->data[off])
        return KG_ERR_TRUNC;
    out->n_ssrc = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        out->ssrc[i] = kg_rd32(p->data + HDR_LEN + i * 4);
    return 0;
}

int kg_rtcp_parse_fb(const kg_rtcp_pkt *p, kg_rtcp_fb *out)
{
    if (p == NULL || out == NULL)
        return KG_ERR_INVAL;
    if (p->pt != KG_RTCP_RTPFB && p->pt != KG_RTCP_PSFB)
        return KG_ERR_INVAL;
    size_t body;
    int rc = pkt_body(p, p->pt, &body);
    if (rc < 0)
        return rc;
    if (body < FB_HDR_LEN)
        return KG_ERR_TRUNC;
    out->pt = p->pt;
    out->fmt = p->count;
    out->sender_ssrc = kg_rd32(p->data + 4);
    out->media_ssrc = kg_rd32(p->data + 8);
    out->fci = p->data + FB_HDR_LEN;
    out->fci_len = body - FB_HDR_LEN;
    return 0;
}

int kg_rtcp_parse_nack(const kg_rtcp_fb *fb, kg_rtcp_nack_item *out,
                       size_t cap)
{
    if (fb == NULL || (out == NULL && cap > 0))
        return KG_ERR_INVAL;
    if (fb->pt != KG_RTCP_RTPFB || fb->fmt != KG_RTCP_FMT_NACK)
        return KG_ERR_INVAL;
    if (fb->fci_len == 0 || fb->fci_len % 4 != 0 || fb->fci == NULL)
        return KG_ERR_MALFORMED;
    size_t n = fb->fci_len / 4;
    if (n > cap)
        n = cap;
    if (n > INT32_MAX)
        n = INT32_MAX;
    for (size_t i = 0; i < n; i++) {
        out[i].pid = kg_rd16(fb->fci + i * 4);
        out[i].blp = kg_rd16(fb->fci + i * 4 + 2);
    }
    return (int)n;
}

int kg_rtcp_parse_fir(const kg_rtcp_fb *fb, kg_rtcp_fir_item *out,
                      size_t cap)
{
    if (fb == NULL || (out == NULL && cap > 0))
        return KG_ERR_INVAL;
    if (fb->pt != KG_RTCP_PSFB || fb->fmt != KG_RTCP_FMT_FIR)
        return KG_ERR_INVAL;
    if (fb->fci_len == 0 || fb->fci_len % FIR_ITEM_LEN != 0 ||
        fb->fci == NULL)
        return KG_ERR_MALFORMED;
    size_t n = fb->fci_len / FIR_ITEM_LEN;
    if (n > cap)
        n = cap;
    if (n > INT32_MAX)
        n = INT32_MAX;
    for (size_t i = 0; i < n; i++) {
        out[i].ssrc = kg_rd32(fb->fci + i * FIR_ITEM_LEN);
        out[i].seq = fb->fci[i * FIR_ITEM_LEN + 4];
    }
    return (int)n;
}

int kg_rtcp_parse_remb(const kg_rtcp_fb *fb, kg_rtcp_remb *out)
{
    if (fb == NULL || out == NULL)
        return KG_ERR_INVAL;
    if (fb->pt != KG_RTCP_PSFB || fb->fmt != KG_RTCP_FMT_AFB)
        return KG_ERR_INVAL;
    if (fb->fci_len < 4 || fb->fci == NULL)
        return KG_ERR_TRUNC;
    const uint8_t *f = fb->fci;
    /* Other application-layer feedback shares fmt 15; only the "REMB"
     * identifier says this is one. */
    if (memcmp(f, "REMB", 4) != 0)
        return KG_ERR_INVAL;
    if (fb->fci_len < REMB_FCI_MIN)
        return KG_ERR_TRUNC;
    size_t num = f[4];
    unsigned exp = f[5] >> 2;
    uint64_t mantissa = (uint64_t)(f[5] & 3) << 16 | (uint64_t)f[6] << 8 |
                        f[7];
    if (fb->fci_len - REMB_FCI_MIN < num * 4)
        return KG_ERR_TRUNC;
    /* An 18-bit mantissa shifted by up to 63 can leave 64 bits. */
    uint64_t bitrate = mantissa << exp;
    if (bitrate >> exp != mantissa)
        return KG_ERR_MALFORMED;
    out->bitrate_bps = bitrate;
    out->n_ssrc = (uint8_t)(num < KG_RTCP_REMB_MAX_SSRC
                                ? num
                                : KG_RTCP_REMB_MAX_SSRC);
    for (size_t i = 0; i < out->n_ssrc; i++)
        out->ssrc[i] = kg_rd32(f + REMB_FCI_MIN + i * 4);
    return 0;
}

ssize_t kg_rtcp_write_sr(const kg_rtcp_sr *sr, uint8_t *buf, size_t cap)
{
    if (sr == NULL || buf == NULL || sr->n_blocks > KG_RTCP_MAX_BLOCKS)
        return KG_ERR_INVAL;
    size_t len = HDR_LEN + 4 + SENDER_INFO_LEN +
                 (size_t)sr->n_blocks * BLOCK_LEN;
    if (cap < len)
        return KG_ERR_NOSPACE;
    wr_hdr(buf, sr->n_blocks, KG_RTCP_SR, len);
    kg_wr32(buf + 4, sr->ssrc);
    kg_wr32(buf + 8, (uint32_t)(sr->ntp >> 32));
    kg_wr32(buf + 12, (uint32_t)sr->ntp);
    kg_wr32(buf + 16, sr->rtp_ts);
    kg_wr32(buf + 20, sr->packet_count);
    kg_wr32(buf + 24, sr->octet_count);
    for (size_t i = 0; i < sr->n_blocks; i++)
        wr_block(buf + 28 + i * BLOCK_LEN, &sr->blocks[i]);
    return (ssize_t)len;
}

ssize_t kg_rtcp_write_rr(const kg_rtcp_rr *rr, uint8_t *buf, size_t cap)
{
    if (rr == NULL || buf == NULL || rr->n_blocks > KG_RTCP_MAX_BLOCKS)
        return KG_ERR_INVAL;
    size_t len = HDR_LEN + 4 + (size_t)rr->n_blocks * BLOCK_LEN;
    if (cap < len)
        return KG_ERR_NOSPACE;
    wr_hdr(buf, rr->n_blocks, KG_RTCP_RR, len);
    kg_wr32(buf + 4, rr->ssrc);
    for (size_t i = 0; i < rr->n_blocks; i++)
        wr_block(buf + 8 + i * BLOCK_LEN, &rr->blocks[i]);
    return (ssize_t)len;
}

ssize_t kg_rtcp_write_sdes_cname(uint32_t ssrc, const char *cname,
                                 uint8_t *buf, size_t cap)
{
    if (cname == NULL || buf == NULL)
        return KG_ERR_INVAL;
    size_t n = strlen(cname);
    if (n > 255)
        return KG_ERR_INVAL;
    /* header, SSRC, CNAME item, then at least one null octet padded to a
     * 32-bit boundary */
    size_t len = (HDR_LEN + 4 + 2 + n + 1 + 3) & ~(size_t)3;
    if (cap < len)
        return KG_ERR_NOSPACE;
    wr_hdr(buf, 1, KG_RTCP_SDES, len);
    kg_wr32(buf + 4, ssrc);
    buf[8] = 1;
    buf[9] = (uint8_t)n;
    memcpy(buf + 10, cname, n);
    memset(buf + 10 + n, 0, len - 10 - n);
    return (ssize_t)len;
}

ssize_t kg_rtcp_write_bye(const kg_rtcp_bye *bye, uint8_t *buf, size_t cap)
{
    if (bye == NULL || buf == NULL || bye->n_ssrc > 31)
        return KG_ERR_INVAL;
    size_t len = HDR_LEN + (size_t)bye->n_ssrc * 4;
    if (cap < len)
        return KG_ERR_NOSPACE;
    wr_hdr(buf, bye->n_ssrc, KG_RTCP_BYE, len);
    for (size_t i = 0; i < bye->n_ssrc; i++)
        kg_wr32(buf + HDR_LEN + i * 4, bye->ssrc[i]);
    return (ssize_t)len;
}

/* Writes a feedback header for a packet of len bytes. */
static void wr_fb(uint8_t *buf, uint8_t pt, uint8_t fmt, uint32_t sender,
                  uint32_t media, size_t len)
{
    wr_hdr(buf, fmt, pt, len);
    kg_wr32(buf + 4, sender);
    kg_wr32(buf + 8, media);
}

/* The length field counts 32-bit words minus one in 16 bits. */
#define MAX_PKT_LEN ((size_t)(UINT16_MAX + 1) * 4)

ssize_t kg_rtcp_write_nack(uint32_t sender_ssrc, uint32_t media_ssrc,
                           const kg_rtcp_nack_item *items, size_t n,
                           uint8_t *buf, size_t cap)
{
    if (items == NULL || buf == NULL || n == 0 ||
        n > (MAX_PKT_LEN - FB_HDR_LEN) / 4)
        return KG_ERR_INVAL;
    size_t len = FB_HDR_LEN + n * 4;
    if (cap < len)
        return KG_ERR_NOSPACE;
    wr_fb(buf, KG_RTCP_RTPFB, KG_RTCP_FMT_NACK, sender_ssrc, media_ssrc, len);
    for (size_t i = 0; i < n; i++) {
        kg_wr16(buf + FB_HDR_LEN + i * 4, items[i].pid);
        kg_wr16(buf + FB_HDR_LEN + i * 4 + 2, items[i].blp);
    }
    return (ssize_t)len;
}

ssize_t kg_rtcp_write_pli(uint32_t sender_ssrc, uint32_t media_ssrc,
                          uint8_t *buf, size_t cap)
{
    if (buf == NULL)
        return KG_ERR_INVAL;
    if (cap < FB_HDR_LEN)
        return KG_ERR_NOSPACE;
    wr_fb(buf, KG_RTCP_PSFB, KG_RTCP_FMT_PLI, sender_ssrc, media_ssrc,
          FB_HDR_LEN);
    return FB_HDR_LEN;
}

ssize_t kg_rtcp_write_fir(uint32_t sender_ssrc, const kg_rtcp_fir_item *items,
                          size_t n, uint8_t *buf, size_t cap)
{
    if (items == NULL || buf == NULL || n == 0 ||
        n > (MAX_PKT_LEN - FB_HDR_LEN) / FIR_ITEM_LEN)
        return KG_ERR_INVAL;
    size_t len = FB_HDR_LEN + n * FIR_ITEM_LEN;
    if (cap < len)
        return KG_ERR_NOSPACE;
    /* RFC 5104 4.3.1.2: the media source SSRC is unused and set to 0; the
     * targets are in the FCI entries. */
    wr_fb(buf, KG_RTCP_PSFB, KG_RTCP_FMT_FIR, sender_ssrc, 0, len);
    for (size_t i = 0; i < n; i++) {
        uint8_t *e = buf + FB_HDR_LEN + i * FIR_ITEM_LEN;
        kg_wr32(e, items[i].ssrc);
        e[4] = items[i].seq;
        e[5] = e[6] = e[7] = 0;
    }
    return (ssize_t)len;
}

ssize_t kg_rtcp_write_remb(uint32_t sender_ssrc, const kg_rtcp_remb *remb,
                           uint8_t *buf, size_t cap)
{
    if (remb == NULL || buf == NULL || remb->n_ssrc > KG_RTCP_REMB_MAX_SSRC)
        return KG_ERR_INVAL;
    size_t len = FB_HDR_LEN + REMB_FCI_MIN + (size_t)remb->n_ssrc * 4;
    if (cap < len)
        return KG_ERR_NOSPACE;
    /* Smallest exponent whose 18-bit mantissa holds the bitrate; the low
     * bits that do not fit are dropped (rounding down, as libwebrtc does). */
    unsigned exp = 0;
    while ((remb->bitrate_bps >> exp) > 0x3ffff)
        exp++;
    uint32_t mantissa = (uint32_t)(remb->bitrate_bps >> exp);
    wr_fb(buf, KG_RTCP_PSFB, KG_RTCP_FMT_AFB, sender_ssrc, 0, len);
    uint8_t *f = buf + FB_HDR_LEN;
    memcpy(f, "REMB", 4);
    f[4] = remb->n_ssrc;
    f[5] = (uint8_t)(exp << 2 | mantissa >> 16);
    f[6] = (uint8_t)(mantissa >> 8);
    f[7] = (uint8_t)mantissa;
    for (size_t i = 0; i < remb->n_ssrc; i++)
        kg_wr32(f + REMB_FCI_MIN + i * 4, remb->ssrc[i]);
    return (ssize_t)len;
}

size_t kg_rtcp_nack_pack(const uint16_t *lost, size_t n,
                         kg_rtcp_nack_item *out, size_t cap)
{
    if (lost == NULL || out == NULL)
        return 0;
    size_t k = 0;
    for (size_t i = 0; i < n;) {
        if (k == cap)
            break;
        uint16_t pid = lost[i++];
        uint16_t blp = 0;
        /* Following losses up to 16 after pid go into the bitmask;
         * duplicates of what is already covered are skipped. */
        while (i < n) {
            int d = kg_seq_diff(lost[i], pid);
            if (d < 0 || d > 16)
                break;
            if (d > 0)
                blp |= (uint16_t)(1u << (d - 1));
            i++;
        }
        out[k].pid = pid;
        out[k].blp = blp;
        k++;
    }
    return k;
}
