/* RTCP (RFC 3550, 4585, 5104, draft-alvestrand-rmcat-remb) parse/write.
 *
 * A compound packet is walked with kg_rtcp_next(); each packet is then
 * parsed by its type. Parsers return views; report blocks and NACK items
 * are decoded on demand so no parser allocates.
 */
#ifndef KG_RTCP_H
#define KG_RTCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

enum {
    KG_RTCP_SR = 200,
    KG_RTCP_RR = 201,
    KG_RTCP_SDES = 202,
    KG_RTCP_BYE = 203,
    KG_RTCP_APP = 204,
    KG_RTCP_RTPFB = 205, /* fmt 1 = generic NACK */
    KG_RTCP_PSFB = 206,  /* fmt 1 = PLI, 4 = FIR, 15 = AFB (REMB) */
};
#define KG_RTCP_FMT_NACK 1
#define KG_RTCP_FMT_PLI 1
#define KG_RTCP_FMT_FIR 4
#define KG_RTCP_FMT_AFB 15

/* One packet inside a compound packet (a view). */
typedef struct kg_rtcp_pkt {
    uint8_t pt;
    uint8_t count; /* RC / SC / FMT field */
    bool padding;
    const uint8_t *data; /* whole packet, header included */
    size_t len;          /* (length field + 1) * 4 */
} kg_rtcp_pkt;

/* Iterates a compound packet: *off starts at 0. Returns 1 and fills out
 * while packets remain, 0 at the end, KG_ERR_TRUNC / KG_ERR_MALFORMED on a
 * bad header (version != 2, length past the end). */
int kg_rtcp_next(const uint8_t *buf, size_t len, size_t *off,
                 kg_rtcp_pkt *out);

typedef struct kg_rtcp_report_block {
    uint32_t ssrc;
    uint8_t fraction_lost;
    int32_t cumulative_lost; /* 24-bit signed */
    uint32_t highest_seq;
    uint32_t jitter;
    uint32_t lsr;
    uint32_t dlsr;
} kg_rtcp_report_block;

#define KG_RTCP_MAX_BLOCKS 31

typedef struct kg_rtcp_sr {
    uint32_t ssrc;
    uint64_t ntp; /* 32.32 fixed point */
    uint32_t rtp_ts;
    uint32_t packet_count;
    uint32_t octet_count;
    uint8_t n_blocks;
    kg_rtcp_report_block blocks[KG_RTCP_MAX_BLOCKS];
} kg_rtcp_sr;

typedef struct kg_rtcp_rr {
    uint32_t ssrc;
    uint8_t n_blocks;
    kg_rtcp_report_block blocks[KG_RTCP_MAX_BLOCKS];
} kg_rtcp_rr;

typedef struct kg_rtcp_sdes_item {
    uint32_t ssrc;
    uint8_t type;        /* 1 = CNAME */
    const uint8_t *text; /* view, not NUL-terminated */
    uint8_t len;
} kg_rtcp_sdes_item;

#define KG_RTCP_MAX_SDES 31
/* Each chunk yields at most one item: its first CNAME. Chunks without a
 * CNAME are checked for well-formedness but not reported. */
typedef struct kg_rtcp_sdes {
    uint8_t n_items;
    kg_rtcp_sdes_item items[KG_RTCP_MAX_SDES]; /* one CNAME per chunk */
} kg_rtcp_sdes;

typedef struct kg_rtcp_bye {
    uint8_t n_ssrc;
    uint32_t ssrc[31];
} kg_rtcp_bye;

/* Feedback header common to RTPFB and PSFB. pt was added so that the FCI
 * parsers can tell a NACK (RTPFB fmt 1) from a PLI (PSFB fmt 1). */
typedef struct kg_rtcp_fb {
    uint8_t pt; /* KG_RTCP_RTPFB or KG_RTCP_PSFB */
    uint8_t fmt;
    uint32_t sender_ssrc;
    uint32_t media_ssrc;
    const uint8_t *fci; /* view of the FCI */
    size_t fci_len;
} kg_rtcp_fb;

typedef struct kg_rtcp_nack_item {
    uint16_t pid;
    uint16_t blp;
} kg_rtcp_nack_item;

typedef struct kg_rtcp_fir_item {
    uint32_t ssrc;
    uint8_t seq;
} kg_rtcp_fir_item;

#define KG_RTCP_REMB_MAX_SSRC 16
typedef struct kg_rtcp_remb {
    uint64_t bitrate_bps;
    uint8_t n_ssrc; /* the parser keeps the first KG_RTCP_REMB_MAX_SSRC */
    uint32_t ssrc[KG_RTCP_REMB_MAX_SSRC];
} kg_rtcp_remb;

/* Each parser takes one packet from kg_rtcp_next(). They return 0,
 * KG_ERR_TRUNC, KG_ERR_MALFORMED or KG_ERR_INVAL (wrong pt/fmt). Padding
 * (when p->padding) is stripped before the body is read; a bad padding
 * count is KG_ERR_MALFORMED. kg_rtcp_parse_fb checks pt (RTPFB or PSFB)
 * and length only; the FCI parsers below check fb->pt and fb->fmt. */
int kg_rtcp_parse_sr(const kg_rtcp_pkt *p, kg_rtcp_sr *out);
int kg_rtcp_parse_rr(const kg_rtcp_pkt *p, kg_rtcp_rr *out);
int kg_rtcp_parse_sdes(const kg_rtcp_pkt *p, kg_rtcp_sdes *out);
int kg_rtcp_parse_bye(const kg_rtcp_pkt *p, kg_rtcp_bye *out);
int kg_rtcp_parse_fb(const kg_rtcp_pkt *p, kg_rtcp_fb *out);
/* NACK FCI items: returns the number of items (fci_len / 4) written to
 * out (at most cap), or KG_ERR_MALFORMED (empty FCI or not a multiple of
 * 4). Lost seqs of one item: pid, and pid + i + 1 for each bit i set in
 * blp. */
int kg_rtcp_parse_nack(const kg_rtcp_fb *fb, kg_rtcp_nack_item *out,
                       size_t cap);
/* FIR FCI entries (8 bytes each): like kg_rtcp_parse_nack. */
int kg_rtcp_parse_fir(const kg_rtcp_fb *fb, kg_rtcp_fir_item *out,
                      size_t cap);
/* REMB: KG_ERR_INVAL when the AFB identifier is not "REMB" (other
 * application-layer feedback), KG_ERR_TRUNC when the FCI is short of its
 * SSRC list, KG_ERR_MALFORMED when exponent and mantissa overflow 64
 * bits. */
int kg_rtcp_parse_remb(const kg_rtcp_fb *fb, kg_rtcp_remb *out);

/* Writers append one packet at buf and return its length, or
 * KG_ERR_NOSPACE / KG_ERR_INVAL. They never write padding. NACK and FIR
 * need n >= 1 (KG_ERR_INVAL otherwise); FIR and REMB write media SSRC 0;
 * REMB rounds the bitrate down to an 18-bit mantissa; a CNAME longer than
 * 255 bytes is KG_ERR_INVAL. */
ssize_t kg_rtcp_write_sr(const kg_rtcp_sr *sr, uint8_t *buf, size_t cap);
ssize_t kg_rtcp_write_rr(const kg_rtcp_rr *rr, uint8_t *buf, size_t cap);
ssize_t kg_rtcp_write_sdes_cname(uint32_t ssrc, const char *cname,
                                 uint8_t *buf, size_t cap);
ssize_t kg_rtcp_write_bye(const kg_rtcp_bye *bye, uint8_t *buf, size_t cap);
ssize_t kg_rtcp_write_nack(uint32_t sender_ssrc, uint32_t media_ssrc,
                           const kg_rtcp_nack_item *items, size_t n,
                           uint8_t *buf, size_t cap);
ssize_t kg_rtcp_write_pli(uint32_t sender_ssrc, uint32_t media_ssrc,
                          uint8_t *buf, size_t cap);
ssize_t kg_rtcp_write_fir(uint32_t sender_ssrc, const kg_rtcp_fir_item *items,
                          size_t n, uint8_t *buf, size_t cap);
ssize_t kg_rtcp_write_remb(uint32_t sender_ssrc, const kg_rtcp_remb *remb,
                           uint8_t *buf, size_t cap);

/* Packs a list of lost sequence numbers (ascending, serial order) into
 * NACK items. Returns the item count (at most cap); losses that do not
 * fit are left out. Duplicates are folded into one. */
size_t kg_rtcp_nack_pack(const uint16_t *lost, size_t n,
                         kg_rtcp_nack_item *out, size_t cap);

#endif
