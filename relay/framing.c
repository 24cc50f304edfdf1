#include "relay/framing.h"

#include <string.h>

#include "codec/err.h"

void kg_framer_init(kg_framer *f)
{
    f->hdr_have = 0;
    f->need = 0;
    f->have = 0;
}

/* Reads the length once both of its bytes are in. Returns 0, or the error
 * for a length kaigi refuses. */
static int take_length(kg_framer *f)
{
    size_t n = (size_t)f->hdr[0] << 8 | f->hdr[1];
    f->hdr_have = 0;
    if (n == 0)
        return KG_ERR_MALFORMED;
    if (n > KG_FRAME_MAX)
        return KG_ERR_NOSPACE;
    f->need = n;
    f->have = 0;
    return 0;
}

int kg_framer_feed(kg_framer *f, uint8_t *in, size_t len, size_t *used,
                   uint8_t **pkt, size_t *pkt_len)
{
    size_t off = 0;
    *used = 0;
    *pkt = NULL;
    *pkt_len = 0;
    while (off < len) {
        if (f->need == 0) {
            f->hdr[f->hdr_have++] = in[off++];
            if (f->hdr_have < KG_FRAME_HDR)
                continue;
            int rc = take_length(f);
            if (rc != 0) {
                *used = off;
                return rc;
            }
            continue;
        }
        size_t want = f->need - f->have;
        if (f->have == 0 && len - off >= want) {
            /* The whole packet is in the caller's buffer: no copy. */
            *pkt = in + off;
            *pkt_len = f->need;
            f->need = 0;
            *used = off + want;
            return 1;
        }
        size_t take = len - off < want ? len - off : want;
        memcpy(f->buf + f->have, in + off, take);
        f->have += take;
        off += take;
        if (f->have == f->need) {
            *pkt = f->buf;
            *pkt_len = f->need;
            f->need = 0;
            f->have = 0;
            *used = off;
            return 1;
        }
    }
    *used = off;
    return 0;
}

int kg_frame_header(uint8_t hdr[KG_FRAME_HDR], size_t len)
{
    if (len == 0 || len > 0xffff)
        return KG_ERR_INVAL;
    hdr[0] = (uint8_t)(len >> 8);
    hdr[1] = (uint8_t)len;
    return 0;
}
