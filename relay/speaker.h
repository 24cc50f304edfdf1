/* Active (dominant) speaker and "loudest N" forwarding of one room,
 * sans-IO, from RFC 6464 audio levels.
 *
 * The media worker feeds every audio packet's level (-dBov, 0 loudest ..
 * 127 silence) with the publisher's id and the arrival time. Levels are
 * turned into linear power and averaged over fixed windows (interval,
 * 300 ms by default); at the end of each window every member gets a
 * loudness for that window, and:
 *
 * - the dominant speaker changes only to a challenger that was the
 *   loudest member, louder than the dominant speaker by margin_db, in
 *   `challenge` consecutive windows (3 x 300 ms by default), and never
 *   sooner than min_gap after the previous change. A window quieter than
 *   `silence` -dBov (or without packets) is silence, and silence never
 *   wins. With no dominant speaker yet, the loudest one wins after one
 *   window. The dominant speaker stays dominant while silent, as in Jitsi
 *   and mediasoup's ActiveSpeakerObserver: the last one who spoke.
 * - with loudest = N > 0, the N loudest members are "forwarded" and the
 *   others suppressed. Members already forwarded keep their place unless
 *   a newcomer is louder by keep_db; the dominant speaker is always
 *   forwarded; silent members never push out anyone. Until a room has N
 *   members, every member is forwarded from the moment it is added.
 *
 * Time is the caller's (kg_time, ns). Memory: one array sized by the
 * members (grown in kg_speaker_add, never on the packet path); feeding a
 * packet is a scan of that array and two additions, closing a window is
 * O(members x N).
 */
#ifndef KG_SPEAKER_H
#define KG_SPEAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/err.h"

#define KG_SPEAKER_MAX 256 /* members per room */
#define KG_SPEAKER_SILENT_LEVEL 127

typedef struct kg_speaker_config {
    kg_time interval;   /* window length; default 300 ms */
    unsigned challenge; /* windows a challenger must win in a row; 3 */
    double margin_db;   /* louder than the dominant speaker by; 3 dB */
    uint8_t silence;    /* -dBov at which a window is silence; 60 */
    kg_time min_gap;    /* between two dominant changes; 500 ms */
    unsigned loudest;   /* members forwarded, 0 = all; default 0 */
    double keep_db;     /* a forwarded member's advantage; 6 dB */
    bool use_vad;       /* count packets whose V bit is 0 as silence;
                           default false: V is optional (RFC 6464 vad=on)
                           and Chromium does not negotiate it */
} kg_speaker_config;

typedef struct kg_speaker_member {
    uint64_t id;
    double acc;      /* linear power summed over the current window */
    uint32_t n;      /* packets in the current window */
    double loud;     /* last window: 127 - dBov, 0 when silent */
    bool forwarded;  /* in the loudest N (always, with loudest = 0) */
    bool pick;       /* scratch of the top-N selection */
} kg_speaker_member;

typedef struct kg_speaker {
    kg_speaker_config cfg;
    kg_speaker_member *m; /* owned; in the order members were added */
    size_t n, cap;
    float lin[KG_SPEAKER_SILENT_LEVEL + 1]; /* level → linear power */
    kg_time window_end;   /* KG_TIME_NEVER before the first packet */
    uint64_t dominant;    /* 0: none yet */
    uint64_t challenger;  /* 0: none */
    unsigned wins;        /* the challenger's windows in a row */
    kg_time last_change;  /* KG_TIME_NEVER: never changed */
    bool change_pending;  /* for kg_speaker_take_change */
    uint64_t changes;     /* dominant changes so far */
} kg_speaker;

/* The defaults listed in kg_speaker_config. */
void kg_speaker_config_default(kg_speaker_config *cfg);

/* Initialises sp with cfg (copied; NULL = the defaults). Allocates
 * nothing. Returns 0 or KG_ERR_INVAL (interval 0, challenge 0, a negative
 * margin, silence over 127). */
int kg_speaker_init(kg_speaker *sp, const kg_speaker_config *cfg);

/* Frees the member array. sp may be initialised again afterwards. */
void kg_speaker_free(kg_speaker *sp);

/* Adds a publisher (id != 0). It is forwarded at once while fewer than
 * `loudest` members are. Returns 0, KG_ERR_INVAL (id 0), KG_ERR_EXISTS,
 * KG_ERR_FULL (KG_SPEAKER_MAX members), KG_ERR_NOMEM. */
int kg_speaker_add(kg_speaker *sp, uint64_t id);

/* Removes a member; a no-op for an unknown id. If it was the dominant
 * speaker, the room has none until the next window picks one (which is
 * then reported as a change). */
void kg_speaker_remove(kg_speaker *sp, uint64_t id);

/* One audio packet of member id with its RFC 6464 level (values over 127
 * are taken as 127) and V bit, arrived at now. Closes the windows that
 * ended before now first (see kg_speaker_tick). Returns 1 if the packet
 * is to be forwarded, 0 if suppressed (not among the loudest N), or
 * KG_ERR_NOTFOUND for an id never added. */
int kg_speaker_feed(kg_speaker *sp, uint64_t id, uint8_t level, bool voice,
                    kg_time now);

/* Closes every window that ended at or before now. Needed only when no
 * packet arrives for a while; kg_speaker_feed calls it. Returns true if
 * the dominant speaker changed. */
bool kg_speaker_tick(kg_speaker *sp, kg_time now);

/* When the current window ends (KG_TIME_NEVER before the first packet). */
kg_time kg_speaker_deadline(const kg_speaker *sp);

/* The dominant speaker's id, 0 if none. */
uint64_t kg_speaker_dominant(const kg_speaker *sp);

/* True once after each change of the dominant speaker, with its id in
 * *id: lets the caller report a change without comparing ids. */
bool kg_speaker_take_change(kg_speaker *sp, uint64_t *id);

/* Whether member id's audio is forwarded now (false for an unknown id). */
bool kg_speaker_forwards(const kg_speaker *sp, uint64_t id);

/* The forwarded members, loudest (last window) first, ties in the order
 * they were added; at most cap ids into out. Returns how many there are
 * (may exceed cap). */
size_t kg_speaker_loudest(const kg_speaker *sp, uint64_t *out, size_t cap);

#endif
