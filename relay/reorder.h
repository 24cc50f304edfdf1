/* A receive-side reorder buffer for one RTP stream, sans-IO.
 *
 * Packets go in as they arrive and come out in sequence order. A missing
 * packet holds back the ones after it for at most max_wait (time for a
 * NACK to bring it back); then it is skipped, so the consumer (the VP8
 * depacketizer, which wants packets in order) sees a gap instead of
 * waiting forever. A packet that arrives after its turn was skipped, or a
 * duplicate, is refused.
 *
 * Slots are preallocated (KG_REORDER_PKT bytes each): pushing never
 * allocates. Time is a parameter.
 */
#ifndef KG_REORDER_H
#define KG_REORDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/err.h"

#define KG_REORDER_PKT 1500

typedef struct kg_reorder_slot {
    bool used;
    uint16_t seq;
    uint16_t len;
    uint8_t data[KG_REORDER_PKT];
} kg_reorder_slot;

typedef struct kg_reorder {
    kg_reorder_slot *slots; /* n_slots, a power of two */
    size_t n_slots;
    kg_time max_wait;
    bool started;
    uint16_t next;       /* the sequence number to release next */
    size_t held;
    bool blocked;        /* next is missing while later ones are held */
    kg_time blocked_at;  /* since when */
    uint16_t out_seq;    /* of the packet kg_reorder_pop returned */
    /* counters */
    uint64_t reordered; /* held at least once behind a missing one */
    uint64_t skipped;   /* sequence numbers given up */
    uint64_t late;      /* arrived after their turn, or duplicates */
    uint64_t resets;    /* a jump past the buffer: held ones dropped */
} kg_reorder;

/* n_slots must be a power of two. Returns 0, KG_ERR_INVAL, KG_ERR_NOMEM. */
int kg_reorder_init(kg_reorder *r, size_t n_slots, kg_time max_wait);
void kg_reorder_free(kg_reorder *r);

/* Holds a copy of pkt (sequence number seq). Returns 0, KG_ERR_INVAL (too
 * large for a slot, or empty), KG_ERR_EXISTS (a duplicate, or late:
 * its turn has passed; counted in late). A packet n_slots or more ahead
 * of the next one to release drops everything held and restarts there
 * (counted in resets). */
int kg_reorder_push(kg_reorder *r, uint16_t seq, const uint8_t *pkt,
                    size_t len, kg_time now);

/* The next packet in order, if it is there, or if the missing ones before
 * it have been waited for max_wait at now (they are skipped). A view
 * valid until the next push; *len gets its length, r->out_seq its
 * sequence number. NULL when nothing can come out yet. */
const uint8_t *kg_reorder_pop(kg_reorder *r, kg_time now, size_t *len);

/* When a pop could next return something although nothing new arrives:
 * blocked_at + max_wait, or UINT64_MAX when not blocked. */
kg_time kg_reorder_deadline(const kg_reorder *r);

#endif
