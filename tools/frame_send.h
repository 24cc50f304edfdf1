/* RFC 4571-framed packets (ICE-TCP) on a libuv stream, both ways, for
 * the clients kaigi-client and kaigi-bench. kaigi's own worker has its own
 * bounded ring (relay/worker_tcp.c). */
#ifndef KC_FRAME_SEND_H
#define KC_FRAME_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "relay/framing.h"

/* Sends pkt behind its 2-byte length on s without ever blocking: what the
 * socket takes now goes at once, the rest is queued in order (one
 * allocation, freed when written). A stream that already holds more than
 * queue_max bytes queued drops the packet, as a full UDP socket would.
 * Returns 0 (sent or queued), KG_ERR_FULL (dropped), KG_ERR_INVAL (len 0
 * or over KG_FRAME_MAX), KG_ERR_NOMEM or KG_ERR_IO (the stream may then
 * be cut mid-packet: the peer closes it). */
int kc_frame_send(uv_stream_t *s, const uint8_t *pkt, size_t len,
                  size_t queue_max);

/* Splits what one TCP read brought (in[0..len)) into packets through f
 * and hands each to fn(arg, pkt, n), which returns false to stop (its
 * transport went away). Returns 0, or the framer's error: the stream is
 * then unusable and the caller stops reading it. */
int kc_frame_recv(kg_framer *f, uint8_t *in, size_t len,
                  bool (*fn)(void *arg, uint8_t *pkt, size_t n), void *arg);

#endif
