#include "relay/stun.h"

#include <netinet/in.h>
#include <string.h>

#include "codec/bytes.h"
#include "codec/err.h"
#include "crypto/hmac.h"
#include "crypto/random.h"

#define FINGERPRINT_XOR 0x5354554eu
#define ATTR_HDR_LEN 4
#define MI_ATTR_LEN (ATTR_HDR_LEN + KG_SHA1_LEN)
#define FP_ATTR_LEN (ATTR_HDR_LEN + 4)
/* RFC 8489 section 14.3: USERNAME is fewer than 509 bytes. */
#define USERNAME_MAX 508
/* RFC 8489 section 14.8: the reason phrase is at most 763 bytes. */
#define REASON_MAX 763

/* CRC-32 (reflected polynomial 0xEDB88320), one byte per step. The table
 * is a constant rather than built on first use so that media worker
 * threads never race to fill it. */
static const uint32_t crc_table[256] = {
    0x00000000u, 0x77073096u, 0xee0e612cu, 0x990951bau, 0x076dc419u, 0x706af48fu,
    0xe963a535u, 0x9e6495a3u, 0x0edb8832u, 0x79dcb8a4u, 0xe0d5e91eu, 0x97d2d988u,
    0x09b64c2bu, 0x7eb17cbdu, 0xe7b82d07u, 0x90bf1d91u, 0x1db71064u, 0x6ab020f2u,
    0xf3b97148u, 0x84be41deu, 0x1adad47du, 0x6ddde4ebu, 0xf4d4b551u, 0x83d385c7u,
    0x136c9856u, 0x646ba8c0u, 0xfd62f97au, 0x8a65c9ecu, 0x14015c4fu, 0x63066cd9u,
    0xfa0f3d63u, 0x8d080df5u, 0x3b6e20c8u, 0x4c69105eu, 0xd56041e4u, 0xa2677172u,
    0x3c03e4d1u, 0x4b04d447u, 0xd20d85fdu, 0xa50ab56bu, 0x35b5a8fau, 0x42b2986cu,
    0xdbbbc9d6u, 0xacbcf940u, 0x32d86ce3u, 0x45df5c75u, 0xdcd60dcfu, 0xabd13d59u,
    0x26d930acu, 0x51de003au, 0xc8d75180u, 0xbfd06116u, 0x21b4f4b5u, 0x56b3c423u,
    0xcfba9599u, 0xb8bda50fu, 0x2802b89eu, 0x5f058808u, 0xc60cd9b2u, 0xb10be924u,
    0x2f6f7c87u, 0x58684c11u, 0xc1611dabu, 0xb6662d3du, 0x76dc4190u, 0x01db7106u,
    0x98d220bcu, 0xefd5102au, 0x71b18589u, 0x06b6b51fu, 0x9fbfe4a5u, 0xe8b8d433u,
    0x7807c9a2u, 0x0f00f934u, 0x9609a88eu, 0xe10e9818u, 0x7f6a0dbbu, 0x086d3d2du,
    0x91646c97u, 0xe6635c01u, 0x6b6b51f4u, 0x1c6c6162u, 0x856530d8u, 0xf262004eu,
    0x6c0695edu, 0x1b01a57bu, 0x8208f4c1u, 0xf50fc457u, 0x65b0d9c6u, 0x12b7e950u,
    0x8bbeb8eau, 0xfcb9887cu, 0x62dd1ddfu, 0x15da2d49u, 0x8cd37cf3u, 0xfbd44c65u,
    0x4db26158u, 0x3ab551ceu, 0xa3bc0074u, 0xd4bb30e2u, 0x4adfa541u, 0x3dd895d7u,
    0xa4d1c46du, 0xd3d6f4fbu, 0x4369e96au, 0x346ed9fcu, 0xad678846u, 0xda60b8d0u,
    0x44042d73u, 0x33031de5u, 0xaa0a4c5fu, 0xdd0d7cc9u, 0x5005713cu, 0x270241aau,
    0xbe0b1010u, 0xc90c2086u, 0x5768b525u, 0x206f85b3u, 0xb966d409u, 0xce61e49fu,
    0x5edef90eu, 0x29d9c998u, 0xb0d09822u, 0xc7d7a8b4u, 0x59b33d17u, 0x2eb40d81u,
    0xb7bd5c3bu, 0xc0ba6cadu, 0xedb88320u, 0x9abfb3b6u, 0x03b6e20cu, 0x74b1d29au,
    0xead54739u, 0x9dd277afu, 0x04db2615u, 0x73dc1683u, 0xe3630b12u, 0x94643b84u,
    0x0d6d6a3eu, 0x7a6a5aa8u, 0xe40ecf0bu, 0x9309ff9du, 0x0a00ae27u, 0x7d079eb1u,
    0xf00f9344u, 0x8708a3d2u, 0x1e01f268u, 0x6906c2feu, 0xf762575du, 0x806567cbu,
    0x196c3671u, 0x6e6b06e7u, 0xfed41b76u, 0x89d32be0u, 0x10da7a5au, 0x67dd4accu,
    0xf9b9df6fu, 0x8ebeeff9u, 0x17b7be43u, 0x60b08ed5u, 0xd6d6a3e8u, 0xa1d1937eu,
    0x38d8c2c4u, 0x4fdff252u, 0xd1bb67f1u, 0xa6bc5767u, 0x3fb506ddu, 0x48b2364bu,
    0xd80d2bdau, 0xaf0a1b4cu, 0x36034af6u, 0x41047a60u, 0xdf60efc3u, 0xa867df55u,
    0x316e8eefu, 0x4669be79u, 0xcb61b38cu, 0xbc66831au, 0x256fd2a0u, 0x5268e236u,
    0xcc0c7795u, 0xbb0b4703u, 0x220216b9u, 0x5505262fu, 0xc5ba3bbeu, 0xb2bd0b28u,
    0x2bb45a92u, 0x5cb36a04u, 0xc2d7ffa7u, 0xb5d0cf31u, 0x2cd99e8bu, 0x5bdeae1du,
    0x9b64c2b0u, 0xec63f226u, 0x756aa39cu, 0x026d930au, 0x9c0906a9u, 0xeb0e363fu,
    0x72076785u, 0x05005713u, 0x95bf4a82u, 0xe2b87a14u, 0x7bb12baeu, 0x0cb61b38u,
    0x92d28e9bu, 0xe5d5be0du, 0x7cdcefb7u, 0x0bdbdf21u, 0x86d3d2d4u, 0xf1d4e242u,
    0x68ddb3f8u, 0x1fda836eu, 0x81be16cdu, 0xf6b9265bu, 0x6fb077e1u, 0x18b74777u,
    0x88085ae6u, 0xff0f6a70u, 0x66063bcau, 0x11010b5cu, 0x8f659effu, 0xf862ae69u,
    0x616bffd3u, 0x166ccf45u, 0xa00ae278u, 0xd70dd2eeu, 0x4e048354u, 0x3903b3c2u,
    0xa7672661u, 0xd06016f7u, 0x4969474du, 0x3e6e77dbu, 0xaed16a4au, 0xd9d65adcu,
    0x40df0b66u, 0x37d83bf0u, 0xa9bcae53u, 0xdebb9ec5u, 0x47b2cf7fu, 0x30b5ffe9u,
    0xbdbdf21cu, 0xcabac28au, 0x53b39330u, 0x24b4a3a6u, 0xbad03605u, 0xcdd70693u,
    0x54de5729u, 0x23d967bfu, 0xb3667a2eu, 0xc4614ab8u, 0x5d681b02u, 0x2a6f2b94u,
    0xb40bbe37u, 0xc30c8ea1u, 0x5a05df1bu, 0x2d02ef8du,
};

uint32_t kg_crc32(const uint8_t *buf, size_t len)
{
    uint32_t c = 0xffffffffu;
    for (size_t i = 0; i < len; i++)
        c = crc_table[(c ^ buf[i]) & 0xffu] ^ (c >> 8);
    return c ^ 0xffffffffu;
}


static size_t pad4(size_t n)
{
    return (n + 3) & ~(size_t)3;
}

bool kg_stun_is(const uint8_t *buf, size_t len)
{
    if (!buf || len < KG_STUN_HEADER_LEN || (buf[0] & 0xc0) != 0)
        return false;
    if (kg_rd32(buf + 4) != KG_STUN_MAGIC)
        return false;
    size_t body = kg_rd16(buf + 2);
    return body % 4 == 0 && KG_STUN_HEADER_LEN + body == len;
}

/* --- Parsing ---------------------------------------------------------- */

/* XOR-MAPPED-ADDRESS (RFC 8489 section 14.2): the port is XORed with the
 * top half of the magic cookie, an IPv4 address with the cookie, an IPv6
 * address with the cookie followed by the transaction ID. */
static int parse_xor_mapped(kg_stun_msg *out, const uint8_t *v, size_t alen)
{
    if (alen < 4)
        return KG_ERR_MALFORMED;
    uint16_t port = kg_rd16(v + 2) ^ (uint16_t)(KG_STUN_MAGIC >> 16);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    if (v[1] == 0x01) {
        if (alen != 8)
            return KG_ERR_MALFORMED;
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        sin->sin_addr.s_addr = htonl(kg_rd32(v + 4) ^ KG_STUN_MAGIC);
    } else if (v[1] == 0x02) {
        if (alen != 20)
            return KG_ERR_MALFORMED;
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
        uint8_t mask[16];
        kg_wr32(mask, KG_STUN_MAGIC);
        memcpy(mask + 4, out->txid, 12);
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        for (size_t i = 0; i < 16; i++)
            sin6->sin6_addr.s6_addr[i] = v[4 + i] ^ mask[i];
    } else {
        return KG_ERR_MALFORMED;
    }
    if (!out->has_xor_mapped) {
        out->xor_mapped = ss;
        out->has_xor_mapped = true;
    }
    return 0;
}

/* ERROR-CODE (RFC 8489 section 14.8): class 3..6 in the low three bits of
 * byte 2, number 0..99 in byte 3, then a reason phrase we do not keep. */
static int parse_error_code(kg_stun_msg *out, const uint8_t *v, size_t alen)
{
    if (alen < 4 || alen > 4 + REASON_MAX)
        return KG_ERR_MALFORMED;
    unsigned cls = v[2] & 0x07u, num = v[3];
    if (cls < 3 || cls > 6 || num > 99)
        return KG_ERR_MALFORMED;
    if (out->error_code == 0)
        out->error_code = (uint16_t)(cls * 100 + num);
    return 0;
}

static int parse_ice_role(kg_stun_msg *out, uint16_t type, const uint8_t *v,
                          size_t alen)
{
    if (alen != 8)
        return KG_ERR_MALFORMED;
    if (!out->ice_controlling && !out->ice_controlled)
        out->tiebreaker = kg_rd64(v);
    if (type == KG_STUN_ATTR_ICE_CONTROLLING)
        out->ice_controlling = true;
    else
        out->ice_controlled = true;
    return 0;
}

/* One attribute before MESSAGE-INTEGRITY. When an attribute repeats, the
 * first one counts (RFC 8489 section 14: "only the first occurrence needs
 * to be processed"); every occurrence is still length-checked. */
static int parse_attr(kg_stun_msg *out, uint16_t type, const uint8_t *v,
                      size_t alen, size_t off)
{
    switch (type) {
    case KG_STUN_ATTR_USERNAME:
        if (alen > USERNAME_MAX)
            return KG_ERR_MALFORMED;
        if (!out->username) {
            out->username = v;
            out->username_len = alen;
        }
        return 0;
    case KG_STUN_ATTR_MESSAGE_INTEGRITY:
        if (alen != KG_SHA1_LEN)
            return KG_ERR_MALFORMED;
        out->has_integrity = true;
        out->integrity_off = off;
        return 0;
    case KG_STUN_ATTR_ERROR_CODE:
        return parse_error_code(out, v, alen);
    case KG_STUN_ATTR_XOR_MAPPED_ADDRESS:
        return parse_xor_mapped(out, v, alen);
    case KG_STUN_ATTR_PRIORITY:
        if (alen != 4)
            return KG_ERR_MALFORMED;
        if (!out->has_priority) {
            out->priority = kg_rd32(v);
            out->has_priority = true;
        }
        return 0;
    case KG_STUN_ATTR_USE_CANDIDATE:
        if (alen != 0)
            return KG_ERR_MALFORMED;
        out->use_candidate = true;
        return 0;
    case KG_STUN_ATTR_ICE_CONTROLLED:
    case KG_STUN_ATTR_ICE_CONTROLLING:
        return parse_ice_role(out, type, v, alen);
    default:
        /* SOFTWARE, MAPPED-ADDRESS and every attribute we do not know,
         * comprehension-required or not: see the header. */
        return 0;
    }
}

static int parse_attrs(const uint8_t *buf, size_t len, kg_stun_msg *out)
{
    size_t off = KG_STUN_HEADER_LEN;
    while (off < len) {
        /* FINGERPRINT must be the last attribute. */
        if (out->has_fingerprint)
            return KG_ERR_MALFORMED;
        if (len - off < ATTR_HDR_LEN)
            return KG_ERR_MALFORMED;
        uint16_t type = kg_rd16(buf + off);
        size_t alen = kg_rd16(buf + off + 2);
        if (pad4(alen) > len - off - ATTR_HDR_LEN)
            return KG_ERR_MALFORMED;
        const uint8_t *v = buf + off + ATTR_HDR_LEN;
        if (type == KG_STUN_ATTR_FINGERPRINT) {
            if (alen != 4)
                return KG_ERR_MALFORMED;
            if ((kg_crc32(buf, off) ^ FINGERPRINT_XOR) != kg_rd32(v))
                return KG_ERR_AUTH;
            out->has_fingerprint = true;
        } else if (!out->has_integrity) {
            int rc = parse_attr(out, type, v, alen, off);
            if (rc < 0)
                return rc;
        }
        off += ATTR_HDR_LEN + pad4(alen);
    }
    return 0;
}

int kg_stun_parse(const uint8_t *buf, size_t len, kg_stun_msg *out)
{
    if (!buf || !out)
        return KG_ERR_INVAL;
    memset(out, 0, sizeof(*out));
    if (len < KG_STUN_HEADER_LEN)
        return KG_ERR_TRUNC;
    if ((buf[0] & 0xc0) != 0 || kg_rd32(buf + 4) != KG_STUN_MAGIC)
        return KG_ERR_MALFORMED;
    out->type = kg_rd16(buf);
    out->length = kg_rd16(buf + 2);
    memcpy(out->txid, buf + 8, sizeof(out->txid));
    if (out->length % 4 != 0)
        return KG_ERR_MALFORMED;
    if ((size_t)KG_STUN_HEADER_LEN + out->length > len)
        return KG_ERR_TRUNC;
    /* One datagram is one message: bytes past the declared length mean
     * the sender and we disagree about the framing. */
    if ((size_t)KG_STUN_HEADER_LEN + out->length < len)
        return KG_ERR_MALFORMED;
    return parse_attrs(buf, len, out);
}

/* MESSAGE-INTEGRITY (RFC 8489 section 14.5): HMAC-SHA1 over the message
 * up to the attribute, with the header length patched as if the message
 * ended right after MESSAGE-INTEGRITY. */
static int integrity_mac(const uint8_t *buf, size_t mi_off, const uint8_t *key,
                         size_t keylen, uint8_t mac[KG_SHA1_LEN])
{
    uint8_t hdr[KG_STUN_HEADER_LEN];
    memcpy(hdr, buf, sizeof(hdr));
    kg_wr16(hdr + 2, (uint16_t)(mi_off + MI_ATTR_LEN - KG_STUN_HEADER_LEN));
    return kg_hmac_sha1(key, keylen, hdr, sizeof(hdr),
                        buf + KG_STUN_HEADER_LEN,
                        mi_off - KG_STUN_HEADER_LEN, mac);
}

int kg_stun_check_integrity(const uint8_t *buf, size_t len,
                            const kg_stun_msg *msg, const uint8_t *key,
                            size_t keylen)
{
    if (!buf || !msg || !key || keylen == 0 || !msg->has_integrity)
        return KG_ERR_AUTH;
    size_t off = msg->integrity_off;
    /* msg should come from kg_stun_parse(buf, len); check anyway so a
     * mismatched pair cannot make us read out of bounds. */
    if (off < KG_STUN_HEADER_LEN || off > len || len - off < MI_ATTR_LEN ||
        off + MI_ATTR_LEN - KG_STUN_HEADER_LEN > UINT16_MAX ||
        kg_rd16(buf + off) != KG_STUN_ATTR_MESSAGE_INTEGRITY ||
        kg_rd16(buf + off + 2) != KG_SHA1_LEN)
        return KG_ERR_AUTH;
    uint8_t mac[KG_SHA1_LEN];
    if (integrity_mac(buf, off, key, keylen, mac) != 0)
        return KG_ERR_CRYPTO;
    return kg_ct_equal(mac, buf + off + ATTR_HDR_LEN, KG_SHA1_LEN)
               ? 0
               : KG_ERR_AUTH;
}

/* --- Writing ---------------------------------------------------------- */

/* A message being written into the caller's buffer. The header length is
 * kept current after every attribute. */
typedef struct wmsg {
    uint8_t *p;
    size_t cap;
    size_t len;
} wmsg;

static int put_header(wmsg *w, uint16_t type, const uint8_t txid[12])
{
    if (w->cap < KG_STUN_HEADER_LEN)
        return KG_ERR_NOSPACE;
    kg_wr16(w->p, type);
    kg_wr16(w->p + 2, 0);
    kg_wr32(w->p + 4, KG_STUN_MAGIC);
    memcpy(w->p + 8, txid, 12);
    w->len = KG_STUN_HEADER_LEN;
    return 0;
}

/* Appends an attribute with zero padding; returns a pointer to its value
 * (vlen bytes, copied from val when val is non-NULL) or NULL when it does
 * not fit. */
static uint8_t *put_attr(wmsg *w, uint16_t type, const void *val,
                         size_t vlen)
{
    size_t total = ATTR_HDR_LEN + pad4(vlen);
    if (total > w->cap - w->len ||
        w->len + total - KG_STUN_HEADER_LEN > UINT16_MAX)
        return NULL;
    uint8_t *a = w->p + w->len;
    kg_wr16(a, type);
    kg_wr16(a + 2, (uint16_t)vlen);
    if (val && vlen)
        memcpy(a + ATTR_HDR_LEN, val, vlen);
    memset(a + ATTR_HDR_LEN + vlen, 0, pad4(vlen) - vlen);
    w->len += total;
    kg_wr16(w->p + 2, (uint16_t)(w->len - KG_STUN_HEADER_LEN));
    return a + ATTR_HDR_LEN;
}

static int put_integrity(wmsg *w, const uint8_t *key, size_t keylen)
{
    size_t off = w->len;
    uint8_t *v = put_attr(w, KG_STUN_ATTR_MESSAGE_INTEGRITY, NULL,
                          KG_SHA1_LEN);
    if (!v)
        return KG_ERR_NOSPACE;
    return integrity_mac(w->p, off, key, keylen, v) == 0 ? 0
                                                         : KG_ERR_CRYPTO;
}

/* FINGERPRINT covers the header with its final length, so the attribute
 * is placed (fixing the length) before the CRC is taken. */
static int put_fingerprint(wmsg *w)
{
    size_t off = w->len;
    uint8_t *v = put_attr(w, KG_STUN_ATTR_FINGERPRINT, NULL, 4);
    if (!v)
        return KG_ERR_NOSPACE;
    kg_wr32(v, kg_crc32(w->p, off) ^ FINGERPRINT_XOR);
    return 0;
}

/* Ends a message: MESSAGE-INTEGRITY when key is given, then FINGERPRINT.
 * Returns the message length or an error. */
static ssize_t finish(wmsg *w, const uint8_t *key, size_t keylen)
{
    int rc = key ? put_integrity(w, key, keylen) : 0;
    if (rc == 0)
        rc = put_fingerprint(w);
    return rc < 0 ? rc : (ssize_t)w->len;
}

static int encode_xor_addr(const struct sockaddr *addr, const uint8_t txid[12],
                           uint8_t out[20], size_t *outlen)
{
    out[0] = 0;
    if (addr->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)addr;
        out[1] = 0x01;
        kg_wr16(out + 2, ntohs(sin->sin_port) ^ (uint16_t)(KG_STUN_MAGIC >> 16));
        kg_wr32(out + 4, ntohl(sin->sin_addr.s_addr) ^ KG_STUN_MAGIC);
        *outlen = 8;
        return 0;
    }
    if (addr->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)addr;
        uint8_t mask[16];
        kg_wr32(mask, KG_STUN_MAGIC);
        memcpy(mask + 4, txid, 12);
        out[1] = 0x02;
        kg_wr16(out + 2,
             ntohs(sin6->sin6_port) ^ (uint16_t)(KG_STUN_MAGIC >> 16));
        for (size_t i = 0; i < 16; i++)
            out[4 + i] = sin6->sin6_addr.s6_addr[i] ^ mask[i];
        *outlen = 20;
        return 0;
    }
    return KG_ERR_INVAL;
}

ssize_t kg_stun_write_binding_success(const uint8_t txid[12],
                                      const struct sockaddr *addr,
                                      const uint8_t *key, size_t keylen,
                                      uint8_t *buf, size_t cap)
{
    uint8_t xma[20];
    size_t xlen = 0;
    if (!txid || !addr || !key || keylen == 0 || !buf)
        return KG_ERR_INVAL;
    if (encode_xor_addr(addr, txid, xma, &xlen) != 0)
        return KG_ERR_INVAL;
    wmsg w = {buf, cap, 0};
    if (put_header(&w, KG_STUN_BINDING_SUCCESS, txid) != 0 ||
        !put_attr(&w, KG_STUN_ATTR_XOR_MAPPED_ADDRESS, xma, xlen))
        return KG_ERR_NOSPACE;
    return finish(&w, key, keylen);
}

static const char *reason_phrase(uint16_t code)
{
    switch (code) {
    case 300: return "Try Alternate";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 420: return "Unknown Attribute";
    case 438: return "Stale Nonce";
    case 487: return "Role Conflict";
    case 500: return "Server Error";
    default: return "";
    }
}

static ssize_t write_error(const uint8_t txid[12], uint16_t code,
                           const uint8_t *key, size_t keylen, uint8_t *buf,
                           size_t cap)
{
    if (!txid || !buf || code < 300 || code > 699)
        return KG_ERR_INVAL;
    const char *reason = reason_phrase(code);
    size_t rlen = strlen(reason);
    uint8_t val[4 + 32];
    val[0] = 0;
    val[1] = 0;
    val[2] = (uint8_t)(code / 100);
    val[3] = (uint8_t)(code % 100);
    memcpy(val + 4, reason, rlen);
    wmsg w = {buf, cap, 0};
    if (put_header(&w, KG_STUN_BINDING_ERROR, txid) != 0 ||
        !put_attr(&w, KG_STUN_ATTR_ERROR_CODE, val, 4 + rlen))
        return KG_ERR_NOSPACE;
    return finish(&w, key, keylen);
}

ssize_t kg_stun_write_binding_error(const uint8_t txid[12], uint16_t code,
                                    uint8_t *buf, size_t cap)
{
    return write_error(txid, code, NULL, 0, buf, cap);
}

ssize_t kg_stun_write_binding_error_auth(const uint8_t txid[12],
                                         uint16_t code, const uint8_t *key,
                                         size_t keylen, uint8_t *buf,
                                         size_t cap)
{
    if (!key || keylen == 0)
        return KG_ERR_INVAL;
    return write_error(txid, code, key, keylen, buf, cap);
}

ssize_t kg_stun_write_binding_request(const kg_stun_request *req,
                                      const uint8_t txid[12], uint8_t *buf,
                                      size_t cap)
{
    if (!req || !req->username || !req->key || req->keylen == 0 || !txid ||
        !buf)
        return KG_ERR_INVAL;
    size_t ulen = strlen(req->username);
    if (ulen == 0 || ulen > USERNAME_MAX)
        return KG_ERR_INVAL;
    uint8_t prio[4], tie[8];
    kg_wr32(prio, req->priority);
    kg_wr64(tie, req->tiebreaker);
    uint16_t role = req->controlling ? KG_STUN_ATTR_ICE_CONTROLLING
                                     : KG_STUN_ATTR_ICE_CONTROLLED;
    wmsg w = {buf, cap, 0};
    if (put_header(&w, KG_STUN_BINDING_REQUEST, txid) != 0 ||
        !put_attr(&w, KG_STUN_ATTR_USERNAME, req->username, ulen) ||
        !put_attr(&w, KG_STUN_ATTR_PRIORITY, prio, sizeof(prio)) ||
        !put_attr(&w, role, tie, sizeof(tie)) ||
        (req->use_candidate &&
         !put_attr(&w, KG_STUN_ATTR_USE_CANDIDATE, NULL, 0)))
        return KG_ERR_NOSPACE;
    return finish(&w, req->key, req->keylen);
}
