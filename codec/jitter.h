/* A small jitter buffer for one Opus stream of 20 ms packets, sans-IO.
 *
 * The audio mixer (codec/mixer.h) keeps one per publisher. Packets go in
 * as they arrive, keyed by RTP sequence number; one frame comes out per
 * 20 ms tick of the mixer. Playout starts once KG_JITTER_DEPTH frames
 * are buffered (40 ms of delay), so a packet that is up to 40 ms late,
 * or reordered within that, still plays. A frame missing at its turn is
 * reported as lost (the caller conceals it with Opus PLC); a packet that
 * arrives after its turn is dropped as late; a duplicate is dropped; a
 * jump of more than the window (a restart, a long gap, a muted sender)
 * resets the buffer, which primes again. A turn with nothing buffered at
 * all is concealed too, but its frame is waited for rather than given up:
 * a stalled sender or network delivers in bursts, and the frames of a
 * burst then still play (the extra delay drains one frame a second).
 * After KG_JITTER_MAX_MISSES turns with nothing buffered the stream counts
 * as stopped: pops report nothing (silence, not endless concealment)
 * until it primes again.
 *
 * All storage is inside the struct: nothing is allocated per packet.
 * Sequence numbers only: the timestamp is kept for the caller, since
 * kaigi's publishers send one 20 ms frame per packet.
 */
#ifndef KG_JITTER_H
#define KG_JITTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define KG_JITTER_SLOTS 8          /* window: 160 ms of 20 ms packets */
#define KG_JITTER_DEPTH 2          /* frames buffered before playout */
#define KG_JITTER_MAX_SPAN 5       /* newer than next + 5: drop the oldest */
#define KG_JITTER_MAX_MISSES 5     /* 100 ms of nothing: stopped */
#define KG_JITTER_MAX_PAYLOAD 1275 /* RFC 6716: the longest Opus frame */
#define KG_JITTER_RESTART 100      /* this far behind: the sender restarted */
#define KG_JITTER_DRAIN_POPS 50    /* 1 s with extra delay: drop a frame */

typedef struct kg_jitter_slot {
    bool used;
    uint16_t seq;
    uint32_t ts;
    uint16_t len;
    uint8_t data[KG_JITTER_MAX_PAYLOAD];
} kg_jitter_slot;

typedef struct kg_jitter_stats {
    uint64_t pushed;    /* packets stored */
    uint64_t late;      /* arrived after their turn: dropped */
    uint64_t dup;       /* already buffered: dropped */
    uint64_t bad;       /* empty or over KG_JITTER_MAX_PAYLOAD: dropped */
    uint64_t resets;    /* jumps beyond the window */
    uint64_t overflow;  /* dropped to keep the delay bounded */
    uint64_t played;    /* frames popped */
    uint64_t lost;      /* turns with the frame missing (concealed) */
    uint64_t underruns; /* of those, turns with nothing buffered: waited */
} kg_jitter_stats;

typedef struct kg_jitter {
    bool started;      /* next_seq is set */
    bool playing;      /* primed: pops advance */
    uint16_t next_seq; /* the frame the next pop plays */
    uint16_t newest;   /* highest sequence number buffered */
    unsigned count;    /* slots in use */
    unsigned misses;   /* consecutive pops with nothing buffered */
    unsigned excess;   /* consecutive pops that left >= DEPTH buffered */
    kg_jitter_stats st;
    kg_jitter_slot slots[KG_JITTER_SLOTS];
} kg_jitter;

enum kg_jitter_pop {
    KG_JITTER_NONE = 0,  /* not playing: this stream is silent now */
    KG_JITTER_FRAME = 1, /* a frame: *payload, *len */
    KG_JITTER_LOST = 2,  /* its frame is missing: conceal one frame */
};

/* Empties j and zeroes its counters. */
void kg_jitter_init(kg_jitter *j);

/* Empties j (a new stream), keeping its counters. */
void kg_jitter_reset(kg_jitter *j);

/* Stores a copy of one packet's payload. Returns 0, KG_ERR_INVAL for an
 * empty payload or one over KG_JITTER_MAX_PAYLOAD, KG_ERR_REPLAY for a
 * duplicate, KG_ERR_STATE for a packet whose turn has passed. A jump
 * beyond the window resets the buffer and stores the packet (0). */
int kg_jitter_push(kg_jitter *j, uint16_t seq, uint32_t ts,
                   const uint8_t *payload, size_t len);

/* One 20 ms turn. Returns an enum kg_jitter_pop; for KG_JITTER_FRAME,
 * *payload (a view into j, valid until the next push) and *len. For
 * KG_JITTER_LOST, *payload and *len are the packet that follows the lost
 * frame if it is buffered (its in-band FEC can rebuild the lost one; it
 * stays buffered and plays at its own turn), else NULL and 0. */
int kg_jitter_pop(kg_jitter *j, const uint8_t **payload, size_t *len);

/* Frames buffered from next_seq on (the delay, in frames). */
unsigned kg_jitter_buffered(const kg_jitter *j);

#endif
