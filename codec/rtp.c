/* RTP (RFC 3550) header parse/write and header extensions (RFC 8285,
 * RFC 6464). */
#include "codec/rtp.h"

#include <string.h>

#include "codec/bytes.h"
#include "codec/err.h"

#define RTP_FIXED_LEN 12

int kg_rtp_parse(const uint8_t *buf, size_t len, kg_rtp_hdr *out)
{
    if (buf == NULL || out == NULL)
        return KG_ERR_INVAL;
    if (len < RTP_FIXED_LEN)
        return KG_ERR_TRUNC;

    memset(out, 0, sizeof(*out));
    out->version = buf[0] >> 6;
    if (out->version != 2)
        return KG_ERR_MALFORMED;
    out->padding = (buf[0] & 0x20) != 0;
    out->extension = (buf[0] & 0x10) != 0;
    out->csrc_count = buf[0] & 0x0f;
    out->marker = (buf[1] & 0x80) != 0;
    out->pt = buf[1] & 0x7f;
    out->seq = kg_rd16(buf + 2);
    out->ts = kg_rd32(buf + 4);
    out->ssrc = kg_rd32(buf + 8);

    size_t off = RTP_FIXED_LEN;
    if (len - off < (size_t)out->csrc_count * 4)
        return KG_ERR_TRUNC;
    for (unsigned i = 0; i < out->csrc_count; i++, off += 4)
        out->csrc[i] = kg_rd32(buf + off);

    if (out->extension) {
        if (len - off < 4)
            return KG_ERR_TRUNC;
        out->ext_profile = kg_rd16(buf + off);
        size_t ext_len = (size_t)kg_rd16(buf + off + 2) * 4;
        off += 4;
        if (len - off < ext_len)
            return KG_ERR_TRUNC;
        out->ext = buf + off;
        out->ext_len = ext_len;
        off += ext_len;
    }
    out->header_len = off;

    /* The padding count is the last byte of the packet and includes
     * itself, so it is at least 1 and can cover the whole payload but
     * never reach into the header. */
    size_t body = len - off;
    if (out->padding) {
        uint8_t pad = buf[len - 1];
        if (pad == 0 || pad > body)
            return KG_ERR_MALFORMED;
        out->pad_len = pad;
        body -= pad;
    }
    out->payload = buf + off;
    out->payload_len = body;
    return 0;
}

ssize_t kg_rtp_write(const kg_rtp_hdr *h, const uint8_t *payload,
                     size_t payload_len, uint8_t *buf, size_t cap)
{
    if (h == NULL || buf == NULL || (payload == NULL && payload_len > 0))
        return KG_ERR_INVAL;
    if (h->csrc_count > KG_RTP_MAX_CSRC || h->pt > 127)
        return KG_ERR_INVAL;
    if (h->extension &&
        (h->ext_len % 4 != 0 || h->ext_len / 4 > UINT16_MAX ||
         (h->ext == NULL && h->ext_len > 0)))
        return KG_ERR_INVAL;

    size_t hlen = RTP_FIXED_LEN + (size_t)h->csrc_count * 4;
    if (h->extension)
        hlen += 4 + h->ext_len;
    if (cap < hlen || cap - hlen < payload_len)
        return KG_ERR_NOSPACE;

    /* The payload may already sit in buf (a caller building the header in
     * front of it), so move it before the header overwrites it. */
    if (payload_len > 0)
        memmove(buf + hlen, payload, payload_len);

    buf[0] = (uint8_t)(2 << 6 | (h->extension ? 0x10 : 0) | h->csrc_count);
    buf[1] = (uint8_t)((h->marker ? 0x80 : 0) | h->pt);
    kg_wr16(buf + 2, h->seq);
    kg_wr32(buf + 4, h->ts);
    kg_wr32(buf + 8, h->ssrc);
    size_t off = RTP_FIXED_LEN;
    for (unsigned i = 0; i < h->csrc_count; i++, off += 4)
        kg_wr32(buf + off, h->csrc[i]);
    if (h->extension) {
        kg_wr16(buf + off, h->ext_profile);
        kg_wr16(buf + off + 2, (uint16_t)(h->ext_len / 4));
        off += 4;
        if (h->ext_len > 0)
            memmove(buf + off, h->ext, h->ext_len);
    }
    return (ssize_t)(hlen + payload_len);
}

/* Walks a one-byte-form block (RFC 8285 section 4.2). A zero byte is
 * padding; ID 15 ends processing of the whole block. */
static int find_one_byte(const uint8_t *p, size_t len, uint8_t id,
                         kg_rtp_ext_elem *out)
{
    size_t off = 0;
    while (off < len) {
        uint8_t eid = p[off] >> 4;
        size_t elen = (size_t)(p[off] & 0x0f) + 1;
        if (eid == 0) {
            off++;
            continue;
        }
        if (eid == 15)
            return KG_ERR_NOTFOUND;
        off++;
        if (len - off < elen)
            return KG_ERR_MALFORMED;
        if (eid == id) {
            out->id = eid;
            out->data = p + off;
            out->len = elen;
            return 0;
        }
        off += elen;
    }
    return KG_ERR_NOTFOUND;
}

/* Walks a two-byte-form block (RFC 8285 section 4.3): ID byte, length
 * byte, data; a zero ID byte is padding. */
static int find_two_byte(const uint8_t *p, size_t len, uint8_t id,
                         kg_rtp_ext_elem *out)
{
    size_t off = 0;
    while (off < len) {
        uint8_t eid = p[off];
        if (eid == 0) {
            off++;
            continue;
        }
        if (len - off < 2)
            return KG_ERR_MALFORMED;
        size_t elen = p[off + 1];
        off += 2;
        if (len - off < elen)
            return KG_ERR_MALFORMED;
        if (eid == id) {
            out->id = eid;
            out->data = p + off;
            out->len = elen;
            return 0;
        }
        off += elen;
    }
    return KG_ERR_NOTFOUND;
}

int kg_rtp_ext_find(const kg_rtp_hdr *h, uint8_t id, kg_rtp_ext_elem *out)
{
    if (h == NULL || out == NULL)
        return KG_ERR_INVAL;
    if (!h->extension || id == 0 || h->ext_len == 0 || h->ext == NULL)
        return KG_ERR_NOTFOUND;
    if (h->ext_profile == KG_RTP_EXT_ONE_BYTE)
        return find_one_byte(h->ext, h->ext_len, id, out);
    if ((h->ext_profile & 0xfff0) == KG_RTP_EXT_TWO_BYTE)
        return find_two_byte(h->ext, h->ext_len, id, out);
    return KG_ERR_NOTFOUND; /* some other profile: no RFC 8285 elements */
}

ssize_t kg_rtp_ext_write(const kg_rtp_ext_elem *elems, size_t n,
                         uint16_t *profile, uint8_t *buf, size_t cap)
{
    if (profile == NULL || (n > 0 && (elems == NULL || buf == NULL)))
        return KG_ERR_INVAL;

    bool one_byte = true;
    size_t need = 0;
    for (size_t i = 0; i < n; i++) {
        const kg_rtp_ext_elem *e = &elems[i];
        if (e->id == 0 || e->len > 255 || (e->data == NULL && e->len > 0))
            return KG_ERR_INVAL;
        if (e->id > 14 || e->len < 1 || e->len > 16)
            one_byte = false;
        need += e->len;
    }
    need += one_byte ? n : 2 * n;
    size_t padded = (need + 3) & ~(size_t)3;
    if (padded > cap)
        return KG_ERR_NOSPACE;

    size_t off = 0;
    for (size_t i = 0; i < n; i++) {
        const kg_rtp_ext_elem *e = &elems[i];
        if (one_byte) {
            buf[off++] = (uint8_t)(e->id << 4 | (e->len - 1));
        } else {
            buf[off++] = e->id;
            buf[off++] = (uint8_t)e->len;
        }
        if (e->len > 0)
            memcpy(buf + off, e->data, e->len);
        off += e->len;
    }
    memset(buf + off, 0, padded - off);
    *profile = one_byte ? KG_RTP_EXT_ONE_BYTE : KG_RTP_EXT_TWO_BYTE;
    return (ssize_t)padded;
}

int kg_rtp_audio_level(const kg_rtp_hdr *h, uint8_t id, uint8_t *level,
                       bool *voice)
{
    if (level == NULL || voice == NULL)
        return KG_ERR_INVAL;
    kg_rtp_ext_elem e;
    int rc = kg_rtp_ext_find(h, id, &e);
    if (rc < 0)
        return rc;
    /* RFC 6464: one byte, V flag in the top bit, level in -dBov below.
     * Longer elements (some senders pad it) are accepted. */
    if (e.len < 1)
        return KG_ERR_MALFORMED;
    *voice = (e.data[0] & 0x80) != 0;
    *level = e.data[0] & 0x7f;
    return 0;
}

void kg_rtp_rewrite(uint8_t *buf, uint8_t pt, uint16_t seq, uint32_t ts,
                    uint32_t ssrc)
{
    buf[1] = (uint8_t)((buf[1] & 0x80) | (pt & 0x7f));
    kg_wr16(buf + 2, seq);
    kg_wr32(buf + 4, ts);
    kg_wr32(buf + 8, ssrc);
}
