/* RFC 4571 framing, sans-IO: each packet on a stream (ICE-TCP, RFC 6544)
 * travels behind a 2-byte big-endian length. The framer takes bytes as a
 * TCP read delivers them, split anywhere, and gives back whole packets;
 * it never reads a socket and never allocates.
 */
#ifndef KG_FRAMING_H
#define KG_FRAMING_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The largest packet kaigi takes from a stream: what it takes in a UDP
 * datagram (RX_SLOT in relay/worker_internal.h). STUN, DTLS and SRTP never
 * need more; a longer frame means the stream is not RFC 4571. */
#define KG_FRAME_MAX 2048
#define KG_FRAME_HDR 2

/* Per-connection reassembly state: a partial header and the part of a
 * packet that a read cut off. About KG_FRAME_MAX bytes, embedded by the
 * caller (the only buffer an unauthenticated connection gets). */
typedef struct kg_framer {
    uint8_t hdr[KG_FRAME_HDR];
    size_t hdr_have; /* 0..2 bytes of the next length */
    size_t need;     /* the current packet's length, 0: reading a length */
    size_t have;     /* bytes of it in buf */
    uint8_t buf[KG_FRAME_MAX];
} kg_framer;

void kg_framer_init(kg_framer *f);

/* Takes bytes from in[0..len) until one packet is complete.
 * Returns 1 with *pkt and *pkt_len set to the packet (a view into in when the
 * packet lay whole in it, else into f->buf; both writable, valid until
 * the next call), 0 when in is used up without completing a packet,
 * KG_ERR_MALFORMED for a zero length (no packet kaigi speaks is empty)
 * or KG_ERR_NOSPACE for a length over KG_FRAME_MAX: the stream is then
 * unusable and the caller closes it. *used says how many bytes of in were
 * taken in every case; call again with the rest. */
int kg_framer_feed(kg_framer *f, uint8_t *in, size_t len, size_t *used,
                   uint8_t **pkt, size_t *pkt_len);

/* Writes the 2-byte length of a len-byte packet into hdr. Returns 0, or
 * KG_ERR_INVAL when len is 0 or over 65,535. */
int kg_frame_header(uint8_t hdr[KG_FRAME_HDR], size_t len);

#endif
