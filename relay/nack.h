/* NACK-based loss recovery (RFC 4585 generic NACK), sans-IO.
 *
 * Two pieces, used by kaigi for each published video track and by
 * kaigi-client for what it sends and receives:
 *
 * - kg_rtx_cache keeps the last second or so of one stream's RTP packets
 *   (plaintext, as sent or received) so that a NACKed packet can be sent
 *   again. Slots are indexed by sequence number; the bytes live in one
 *   preallocated ring, so storing a packet never allocates.
 *
 * - kg_nack_gen is the receiving side of one stream: fed every sequence
 *   number that arrives, it keeps a bounded list of the missing ones and
 *   says which are due for a (re)request. A missing packet is asked for
 *   again every retry interval (smoothed RTT + 20 ms) until it arrives,
 *   or is given up after KG_NACK_MAX_TRIES requests or KG_NACK_MAX_AGE.
 *
 * Time is a parameter (kg_time, ns); nothing here reads a clock or owns a
 * socket. Packing the sequence numbers into NACK items is
 * kg_rtcp_nack_pack (codec/rtcp.h).
 */
#ifndef KG_NACK_H
#define KG_NACK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/err.h"

/* What kaigi and kaigi-client use: a second of history, 512 packets
 * but at most 256 KiB of bytes (a second at 2 Mbit/s), whichever runs out
 * first. The ring grows to what a second of the stream needs. */
#define KG_RTX_SLOTS 512
#define KG_RTX_BYTES (256u * 1024u)
#define KG_RTX_MAX_AGE (1000 * KG_MS)

typedef struct kg_rtx_slot {
    uint64_t pos; /* where its bytes start in the ring's running count */
    kg_time at;   /* when it was stored */
    uint16_t seq;
    uint16_t len; /* 0: empty */
    bool late;    /* the caller's mark; kg_rtx_cache_put clears it */
} kg_rtx_slot;

typedef struct kg_rtx_cache {
    kg_rtx_slot *slots; /* n_slots, a power of two, indexed seq & mask */
    size_t n_slots;
    uint8_t *ring;
    size_t ring_cap;  /* now; doubles up to ring_max (see _put) */
    size_t ring_max;
    kg_time lap_at;   /* when the ring last came round to its start */
    uint64_t grown;   /* times the ring doubled */
    uint64_t head; /* bytes ever written (plus skipped tails) */
    kg_time max_age;
    uint64_t stored, hits, misses;
} kg_rtx_cache;

/* The byte ring starts this small and doubles (up to ring_bytes) when it
 * comes round while what it would overwrite is younger than max_age: a
 * 100 kbit/s track keeps 16 KiB, a 2 Mbit/s one grows to 256 KiB. */
#define KG_RTX_START_BYTES (16u * 1024u)

/* Allocates the slots and a first byte ring (KG_RTX_START_BYTES, or
 * ring_bytes if smaller). n_slots must be a power of two, ring_bytes at
 * least 1,500. Returns 0, KG_ERR_INVAL, KG_ERR_NOMEM. */
int kg_rtx_cache_init(kg_rtx_cache *c, size_t n_slots, size_t ring_bytes,
                      kg_time max_age);
void kg_rtx_cache_free(kg_rtx_cache *c);

/* Stores a copy of pkt (a whole RTP packet whose sequence number is seq),
 * replacing whatever the slot held. Returns 0, or KG_ERR_INVAL for an
 * empty packet or one larger than the ring or 65,535 bytes. */
int kg_rtx_cache_put(kg_rtx_cache *c, uint16_t seq, const uint8_t *pkt,
                     size_t len, kg_time now);

/* The stored packet with sequence number seq if it is there, its bytes
 * have not been overwritten and it is at most max_age old at now: a view
 * into the ring, valid until the next put. NULL otherwise. Counts hits
 * and misses. */
const uint8_t *kg_rtx_cache_get(kg_rtx_cache *c, uint16_t seq, kg_time now,
                                size_t *len);

/* Like kg_rtx_cache_get, without counting: is seq stored (a duplicate)? */
bool kg_rtx_cache_has(const kg_rtx_cache *c, uint16_t seq, kg_time now);

/* The slot of seq when kg_rtx_cache_get would return it, else NULL; its
 * late mark is the caller's to set. Not counted. */
kg_rtx_slot *kg_rtx_cache_find(kg_rtx_cache *c, uint16_t seq, kg_time now);

/* --- the NACK generator --------------------------------------------- */

#define KG_NACK_MAX_MISSING 256 /* a larger gap resets instead */
#define KG_NACK_MAX_TRIES 10
#define KG_NACK_MAX_AGE (1000 * KG_MS)
/* Until an answer to a first request says otherwise. Too low makes
 * every loss cost two requests on a long path: the retry goes before the
 * answer can come. */
#define KG_NACK_DEFAULT_RTT (100 * KG_MS)
#define KG_NACK_RETRY_SLACK (20 * KG_MS)
#define KG_NACK_MIN_RTT (5 * KG_MS)
#define KG_NACK_MAX_RTT (500 * KG_MS)

typedef struct kg_nack_miss {
    uint64_t ext;    /* extended sequence number */
    kg_time found;   /* when the gap showed it */
    kg_time next;    /* when it is due for a request */
    kg_time first;   /* when it was first requested */
    kg_time last;    /* when it was last requested */
    unsigned tries;  /* requests so far */
} kg_nack_miss;

typedef struct kg_nack_gen {
    bool started;
    uint64_t max_ext; /* highest extended sequence number seen */
    kg_nack_miss miss[KG_NACK_MAX_MISSING]; /* ascending ext */
    size_t n_miss;
    kg_time rtt;      /* smoothed, from request → arrival times */
    bool rtt_fixed;   /* set by kg_nack_gen_set_rtt: not learnt */
    kg_time deadline; /* earliest next of miss[], UINT64_MAX if none */
    /* counters */
    uint64_t requested; /* sequence numbers put in NACKs (each try) */
    uint64_t recovered; /* missing ones that arrived after all */
    /* ... of them, those asked for first: what NACKs brought back, not
     * packets that were merely reordered */
    uint64_t recovered_nacked;
    uint64_t given_up;  /* dropped: too many tries, too old, no room */
    uint64_t resets;    /* jumps too large to NACK */
    uint64_t duplicates; /* behind the newest and not missing */
} kg_nack_gen;

/* What kg_nack_gen_on_packet saw. */
enum kg_nack_seen {
    KG_NACK_NEW = 0,       /* the first or a newer packet (gaps noted) */
    KG_NACK_RECOVERED = 1, /* a missing one arrived (late or resent) */
    KG_NACK_OLD = 2,       /* behind the newest and not missing: a
                              duplicate, or one already given up */
    KG_NACK_RESET = 3,     /* a jump of more than KG_NACK_MAX_MISSING:
                              forgotten what was missing, restarted here
                              (a keyframe request is the better repair) */
    KG_NACK_DUPLICATE = 4, /* only from kg_track_rtp_in (relay/room.h):
                              KG_NACK_OLD and already cached, to drop */
};

void kg_nack_gen_init(kg_nack_gen *g);

/* Fixes the RTT used for retry intervals (clamped to
 * [KG_NACK_MIN_RTT, KG_NACK_MAX_RTT]); without it the generator learns
 * the RTT from how long requests take to be answered: from an answer to a
 * single request (Karn's rule), or, after retries, from the first request
 * when that says the RTT is longer than thought (a spurious retry). */
void kg_nack_gen_set_rtt(kg_nack_gen *g, kg_time rtt);

/* Notes that seq arrived at now. Newly missing sequence numbers are due
 * at once. When the list is full the oldest missing ones are given up to
 * make room. Returns an enum kg_nack_seen. */
int kg_nack_gen_on_packet(kg_nack_gen *g, uint16_t seq, kg_time now);

/* Writes into out (at most cap, ascending) the sequence numbers due at
 * now, marks them requested and schedules their retries; gives up the
 * ones past KG_NACK_MAX_TRIES or KG_NACK_MAX_AGE first. Returns how many
 * were written. Those that did not fit stay due. */
size_t kg_nack_gen_poll(kg_nack_gen *g, kg_time now, uint16_t *out,
                        size_t cap);

/* When kg_nack_gen_poll next has work: UINT64_MAX if nothing is missing. */
kg_time kg_nack_gen_deadline(const kg_nack_gen *g);

/* The retry interval in use: RTT + KG_NACK_RETRY_SLACK. */
kg_time kg_nack_gen_retry_interval(const kg_nack_gen *g);

#endif
