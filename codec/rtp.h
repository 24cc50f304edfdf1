/* RTP (RFC 3550) header parse/write and header extensions (RFC 8285).
 *
 * Parsers return views into the caller's buffer; nothing is copied.
 * Every parser checks lengths before it reads.
 */
#ifndef KG_RTP_H
#define KG_RTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define KG_RTP_MAX_CSRC 15
#define KG_RTP_EXT_ONE_BYTE 0xBEDE
#define KG_RTP_EXT_TWO_BYTE 0x1000 /* low 4 bits are "appbits" */

typedef struct kg_rtp_hdr {
    uint8_t version; /* always 2 after a successful parse */
    bool padding;
    bool extension;
    uint8_t csrc_count;
    bool marker;
    uint8_t pt;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    uint32_t csrc[KG_RTP_MAX_CSRC];
    /* header extension block (valid when extension): profile word and a
     * view of the extension data without its 4-byte header */
    uint16_t ext_profile;
    const uint8_t *ext;
    size_t ext_len;
    size_t header_len; /* fixed header + CSRCs + extension block */
    const uint8_t *payload; /* view into buf */
    size_t payload_len;     /* excludes padding */
    uint8_t pad_len;        /* padding bytes including the count byte */
} kg_rtp_hdr;

/* Parses an RTP packet. Returns 0, KG_ERR_TRUNC when a length field points
 * past len, KG_ERR_MALFORMED for a version other than 2 or a bad padding
 * count. */
int kg_rtp_parse(const uint8_t *buf, size_t len, kg_rtp_hdr *out);

/* Writes the header described by h (its ext/ext_len block included when
 * h->extension is set; ext_len must be a multiple of 4) followed by
 * payload. Padding is never written. Returns bytes written or
 * KG_ERR_NOSPACE / KG_ERR_INVAL. */
ssize_t kg_rtp_write(const kg_rtp_hdr *h, const uint8_t *payload,
                     size_t payload_len, uint8_t *buf, size_t cap);

/* One header extension element (RFC 8285). */
typedef struct kg_rtp_ext_elem {
    uint8_t id;          /* 1..14 for one-byte, 1..255 for two-byte */
    const uint8_t *data; /* view */
    size_t len;          /* 1..16 for one-byte, 0..255 for two-byte */
} kg_rtp_ext_elem;

/* Finds element id in h's extension block (one- or two-byte form).
 * Returns 0 and fills out, KG_ERR_NOTFOUND, or KG_ERR_MALFORMED. A block
 * with another profile has no elements (KG_ERR_NOTFOUND); in the one-byte
 * form, ID 15 ends the search (RFC 8285 4.2). */
int kg_rtp_ext_find(const kg_rtp_hdr *h, uint8_t id, kg_rtp_ext_elem *out);

/* Writes an extension block body (without the 4-byte profile/length
 * header) holding n elements, padded with zeros to a multiple of 4. Uses
 * the one-byte form when every element fits it, else two-byte; *profile
 * receives the profile word to put in the header. Returns bytes written
 * or KG_ERR_NOSPACE / KG_ERR_INVAL. */
ssize_t kg_rtp_ext_write(const kg_rtp_ext_elem *elems, size_t n,
                         uint16_t *profile, uint8_t *buf, size_t cap);

/* RFC 6464 audio level: reads the ssrc-audio-level element with the given
 * id. Returns 0 with *level (0..127, -dBov) and *voice, or an error. */
int kg_rtp_audio_level(const kg_rtp_hdr *h, uint8_t id, uint8_t *level,
                       bool *voice);

/* In-place rewrite of an already-validated packet's SSRC, sequence
 * number, timestamp and payload type (the forwarding hot path).
 * buf must hold at least 12 bytes. */
void kg_rtp_rewrite(uint8_t *buf, uint8_t pt, uint16_t seq, uint32_t ts,
                    uint32_t ssrc);

/* Serial-number arithmetic: a - b as a signed distance (RFC 1982). */
static inline int16_t kg_seq_diff(uint16_t a, uint16_t b)
{
    return (int16_t)(uint16_t)(a - b);
}

#endif
