/* The live policy of one meeting, sans-IO: who may enter, who waits, who
 * hosts, and what the host's controls do. Joins, host actions, leaves and
 * drops go in with the time; decisions come back as return values and as
 * events (kg_policy_next_event) that the signalling layer turns into
 * WebSocket messages and media-worker commands. Nothing here touches a
 * socket, the store or the clock.
 *
 * Time is kg_time: Unix time in nanoseconds (the meeting's start and
 * duration are seconds).
 */
#ifndef KG_POLICY_H
#define KG_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/err.h"
#include "signalling/meeting.h"

#define KG_POLICY_MAX 64                 /* participants + waiting */
#define KG_HOST_GRACE (15 * KG_SEC)      /* host drop → hand-over */

typedef uint64_t kg_pid; /* participant handle, never 0 */

enum kg_join_outcome {
    KG_JOIN_ADMITTED = 0,
    KG_JOIN_WAITING = 1,
    KG_JOIN_REFUSED = 2,
};

typedef struct kg_join_result {
    enum kg_join_outcome outcome;
    /* WAITING: "waiting_room" (the host admits) or "no_host" (waits for
     * the host). REFUSED: "not_open" (opens_at says when), "ended",
     * "locked", "full", "duplicate". */
    const char *reason;
    int64_t opens_at; /* Unix seconds, for "not_open" */
} kg_join_result;

enum kg_policy_ev_type {
    KG_PEV_ADMITTED,       /* pid is in: give it transports */
    KG_PEV_DENIED,         /* pid was denied from the waiting room */
    KG_PEV_REMOVED,        /* pid was removed: close its transports now */
    KG_PEV_HOST,           /* pid is the host now (tell everyone) */
    KG_PEV_JOINED,         /* notice: pid (nickname) entered the meeting */
    KG_PEV_LEFT,           /* notice: pid (nickname) left */
    KG_PEV_WAITING_LIST,   /* the waiting list changed (tell the host) */
    KG_PEV_LOCKED_OUT,     /* someone (nickname) tried a locked meeting */
    KG_PEV_MUTED,          /* host muted pid: stop forwarding its audio */
    KG_PEV_UNMUTE_ASKED,   /* host asks pid to unmute itself */
    KG_PEV_SETTINGS,       /* settings changed (lock, share, chat...) */
    KG_PEV_ENDED,          /* the meeting is over for everyone */
};

typedef struct kg_policy_ev {
    enum kg_policy_ev_type type;
    kg_pid pid;
    char nickname[65];
} kg_policy_ev;

typedef struct kg_attendee {
    kg_pid pid;
    char nickname[65];
    bool host;
    bool waiting;
    bool muted;
    bool generic_name; /* "iPhone", "User", "Guest"...: worth a look */
    kg_time joined;    /* entered the meeting (0 while waiting) */
} kg_attendee;

typedef struct kg_policy kg_policy;

/* A live policy for meeting m (copied). NULL on allocation failure. */
kg_policy *kg_policy_new(const kg_meeting *m);
void kg_policy_del(kg_policy *p);

/* A join with valid credentials (the caller checked PIN, invite or host
 * key; host says it was the host key). Refused outside the window
 * [start - 5 min, end], when locked (a KG_PEV_LOCKED_OUT goes to the
 * host), when full, or for a pid already known. Otherwise: the host is
 * admitted at once; with join_before_host off everyone else waits
 * ("no_host") until a host is in; with waiting_room on everyone but the
 * host waits ("waiting_room") for the host to admit them; else admitted.
 * When the host arrives, people waiting only for a host are admitted
 * (unless the waiting room is on). */
kg_join_result kg_policy_join(kg_policy *p, kg_pid pid, const char *nickname,
                              bool host, kg_time now);

/* Host actions. Each returns 0, KG_ERR_DENIED (by is not the host),
 * KG_ERR_NOTFOUND (no such participant / not waiting), KG_ERR_STATE
 * (meeting ended). */
int kg_policy_admit(kg_policy *p, kg_pid by, kg_pid who, kg_time now);
int kg_policy_deny(kg_policy *p, kg_pid by, kg_pid who, kg_time now);
int kg_policy_remove(kg_policy *p, kg_pid by, kg_pid who, kg_time now);
int kg_policy_lock(kg_policy *p, kg_pid by, bool locked, kg_time now);
int kg_policy_mute(kg_policy *p, kg_pid by, kg_pid who, bool mute,
                   kg_time now);
int kg_policy_set_share(kg_policy *p, kg_pid by, enum kg_share_policy s);
int kg_policy_set_chat(kg_policy *p, kg_pid by, bool on);
int kg_policy_set_rename(kg_policy *p, kg_pid by, bool on);
int kg_policy_end(kg_policy *p, kg_pid by, kg_time now);
/* Hands the host role to an admitted participant. */
int kg_policy_handover(kg_policy *p, kg_pid by, kg_pid to, kg_time now);

/* A participant unmutes itself: allowed unless the host muted it and has
 * not asked it to unmute. Returns 0 or KG_ERR_DENIED. */
int kg_policy_unmute_self(kg_policy *p, kg_pid who);

/* May who forward a screen-share track now? */
bool kg_policy_may_share(const kg_policy *p, kg_pid who);
bool kg_policy_chat_on(const kg_policy *p);
bool kg_policy_locked(const kg_policy *p);
bool kg_policy_is_muted(const kg_policy *p, kg_pid who);
kg_pid kg_policy_host(const kg_policy *p); /* 0 if none */
bool kg_policy_is_admitted(const kg_policy *p, kg_pid who);

/* A participant leaves on purpose. A host leaving while others are in
 * must name new_host (an admitted participant): KG_ERR_INVAL otherwise,
 * and nothing changes. */
int kg_policy_leave(kg_policy *p, kg_pid who, kg_pid new_host, kg_time now);

/* A participant's connection dropped. A non-host is gone at once. A host
 * keeps the role for KG_HOST_GRACE; if it has not come back (kg_policy_
 * rejoin) by then, the role passes to the longest-present participant
 * and everyone is told (KG_PEV_HOST). */
void kg_policy_drop(kg_policy *p, kg_pid who, kg_time now);

/* The dropped host came back within the grace period under a new pid. */
int kg_policy_rejoin_host(kg_policy *p, kg_pid new_pid, kg_time now);

/* Next deadline (host grace, the meeting's end), KG_TIME_NEVER if none;
 * on_timeout runs what is due (hand-over, end at the meeting's end). */
kg_time kg_policy_deadline(const kg_policy *p);
void kg_policy_on_timeout(kg_policy *p, kg_time now);

/* Takes the next event. Returns 1 and fills ev, or 0 when none. */
int kg_policy_next_event(kg_policy *p, kg_policy_ev *ev);

/* Everyone known (in, then waiting), in join order. Returns the count
 * written (at most cap). */
size_t kg_policy_attendees(const kg_policy *p, kg_attendee *out, size_t cap);

/* Current settings (lock is separate: kg_policy_locked). */
const kg_meeting_settings *kg_policy_settings(const kg_policy *p);

/* True for nicknames that say nothing about who it is ("iPhone",
 * "User", "Guest", "Zoom user", "test", digits only...). */
bool kg_nickname_generic(const char *nickname);

#endif
