/* The live policy of one meeting, sans-IO: who may enter, who waits, who
 * hosts, and what the host's controls do. Joins, host actions, leaves and
 * drops go in with the time; decisions come back as return values and as
 * events (kg_policy_next_event) that the signalling layer turns into
 * WebSocket messages and media-worker commands. Nothing here touches a
 * socket, the store or the clock.
 *
 * Time is kg_time: Unix time in nanoseconds (the meeting's start and
 * duration are seconds). The join window is [start - KG_EARLY_JOIN_S,
 * start + duration] in nanoseconds, both edges included: a join exactly
 * at the end is admitted, one nanosecond later the meeting is over.
 * Every call that takes a time first runs what kg_policy_on_timeout
 * would run at that time (grace expiry, the end), so the order in which
 * the caller delivers timers and calls does not change the outcome.
 *
 * Rules where a host might wonder:
 * - One host, no co-hosts. A host-key join while the host is present is
 *   admitted at once as an ordinary participant (it holds the key, so
 *   no waiting room), and refused while locked.
 * - "A host is in" means the role is held, including by a host that
 *   dropped and is inside its grace period: newcomers are not held for
 *   "no_host" while the host reconnects.
 * - The lock refuses every new join, waiting room included, except a
 *   host-key join that claims a vacant role (no host, or the host's
 *   grace is running): the owner is never locked out of its meeting.
 *   People already waiting stay waiting and may still be admitted.
 * - A removed pid is refused ("removed") if it joins again; the last
 *   KG_POLICY_REMOVED_MAX removed pids are remembered. Pids only, never
 *   nicknames: the caller gives every connection a fresh pid anyway.
 * - Events: commands (ADMITTED, DENIED, REMOVED, HOST, MUTED,
 *   UNMUTE_ASKED, ENDED) and notices (JOINED, LEFT, WAITING_LIST,
 *   LOCKED_OUT, SETTINGS) share one queue of KG_POLICY_EVQ. When it is
 *   full the oldest notice is dropped (kg_policy_events_dropped counts
 *   it). One call makes at most 2 * KG_POLICY_MAX + 4 events, so a
 *   caller that drains after each call never loses a command.
 *   WAITING_LIST carries no list: the caller reads kg_policy_attendees
 *   when it handles it (two in a row are queued as one). ENDED, SETTINGS
 *   and WAITING_LIST carry pid 0; the others carry the pid and nickname
 *   they are about.
 * - Admitted people produce ADMITTED then JOINED; leaving, being removed
 *   or dropping produce LEFT; every change to the waiting list produces
 *   WAITING_LIST, and so does a change of host while people wait.
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
#define KG_POLICY_EVQ 256                /* events queued, at most */
#define KG_POLICY_REMOVED_MAX 256        /* removed pids remembered */

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
     * "locked", "full", "duplicate" (pid already known, or the pid of a
     * host whose grace is running), "removed" (the host removed this
     * pid), "invalid" (pid 0 or no policy). A static string. */
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
    KG_PEV_RENAMED,        /* pid is now called nickname */
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
 * key; host says it was the host key). nickname is copied (at most 64
 * bytes, cut at a UTF-8 boundary; NULL reads as ""). Refused outside the window
 * [start - 5 min, end], when locked (a KG_PEV_LOCKED_OUT goes to the
 * host), when full, or for a pid already known. Otherwise: the host is
 * admitted at once; with join_before_host off everyone else waits
 * ("no_host") until a host is in; with waiting_room on everyone but the
 * host waits ("waiting_room") for the host to admit them; else admitted.
 * When the host arrives, people waiting only for a host are admitted
 * (unless the waiting room is on: then they wait for the host's admit).
 * A host-key join while the host's grace runs restores the role to this
 * pid, as kg_policy_rejoin_host does. Checks run in this order:
 * invalid, duplicate, removed, ended, not_open, ended (past the end),
 * locked, full. */
kg_join_result kg_policy_join(kg_policy *p, kg_pid pid, const char *nickname,
                              bool host, kg_time now);

/* Host actions. Each returns 0, KG_ERR_DENIED (by is not the present
 * host: a host in its grace period is not present), KG_ERR_NOTFOUND (no
 * such participant / not waiting), KG_ERR_STATE (meeting ended), checked
 * in the order STATE, DENIED, then the rest. Also KG_ERR_INVAL: remove
 * of oneself, handover to oneself, a share policy out of range.
 * admit and deny take only waiting pids; mute and handover only admitted
 * ones; remove either (REMOVED, then LEFT or WAITING_LIST). Mute: MUTED,
 * the pid's audio stops; mute == false sends UNMUTE_ASKED and lets the
 * pid unmute itself (it stays muted until it does). lock, set_share,
 * set_chat and set_rename send SETTINGS only when something changed.
 * Admitting into a locked meeting is allowed (the lock stops newcomers). */
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

/* An admitted participant renames itself: allowed when the meeting's
 * allow_rename setting is on (the host may always rename itself). The
 * host gets a KG_PEV_RENAMED notice with the new nickname. Returns 0,
 * KG_ERR_DENIED (renaming is off), KG_ERR_NOTFOUND (not admitted),
 * KG_ERR_STATE (ended). */
int kg_policy_rename(kg_policy *p, kg_pid who, const char *nickname);

/* A participant unmutes itself: allowed unless the host muted it and has
 * not asked it to unmute (the host itself may always). Returns 0,
 * KG_ERR_DENIED (host-muted and not asked, or still waiting),
 * KG_ERR_NOTFOUND (unknown pid), KG_ERR_STATE (meeting ended). One
 * unmute uses up the host's ask: a later host mute needs a new one. */
int kg_policy_unmute_self(kg_policy *p, kg_pid who);

/* May who forward a screen-share track now? Only admitted pids: the
 * present host under KG_SHARE_HOST, anyone admitted under KG_SHARE_ALL.
 * is_admitted, may_share and chat_on are false once the meeting ended.
 * kg_policy_host returns the dropped host's old pid while its grace
 * runs (the role is held; that pid is not admitted). */
bool kg_policy_may_share(const kg_policy *p, kg_pid who);
bool kg_policy_chat_on(const kg_policy *p);
bool kg_policy_locked(const kg_policy *p);
bool kg_policy_is_muted(const kg_policy *p, kg_pid who);
kg_pid kg_policy_host(const kg_policy *p); /* 0 if none */
bool kg_policy_is_admitted(const kg_policy *p, kg_pid who);

/* A participant leaves on purpose. A host leaving while others are in
 * must name new_host (an admitted participant): KG_ERR_INVAL otherwise,
 * and nothing changes. A host that is the last one in leaves with
 * new_host 0 and the meeting is hostless (join_before_host applies to
 * newcomers again; people in the waiting room keep waiting). new_host
 * is ignored for a non-host. A waiting pid may leave too. Returns 0,
 * KG_ERR_INVAL, KG_ERR_NOTFOUND, KG_ERR_STATE (ended). */
int kg_policy_leave(kg_policy *p, kg_pid who, kg_pid new_host, kg_time now);

/* A participant's connection dropped. A non-host is gone at once. A host
 * keeps the role for KG_HOST_GRACE; if it has not come back (kg_policy_
 * rejoin) by then, the role passes to the longest-present participant
 * and everyone is told (KG_PEV_HOST). Longest-present: earliest join
 * time (admission), then arrival order; never the pid's value. With
 * nobody admitted the meeting becomes hostless. Every drop of an
 * admitted pid (host too) sends LEFT; of a waiting one, WAITING_LIST. */
void kg_policy_drop(kg_policy *p, kg_pid who, kg_time now);

/* The dropped host came back within the grace period under a new pid
 * (the caller checked the host key). An unknown new_pid is added,
 * admitted, under the old nickname; a waiting one is admitted; an
 * admitted one just takes the role. The restored host keeps its first
 * join time (its seniority). Sends ADMITTED + JOINED (unless it was
 * already in) and HOST. Returns 0, KG_ERR_STATE (no grace running: none
 * was started, it ran out at now, or the meeting ended), KG_ERR_DENIED
 * (a removed pid), KG_ERR_FULL, KG_ERR_INVAL (pid 0). */
int kg_policy_rejoin_host(kg_policy *p, kg_pid new_pid, kg_time now);

/* Next deadline (host grace, the meeting's end), KG_TIME_NEVER if none;
 * on_timeout runs what is due (hand-over, end at the meeting's end).
 * The end's deadline is the first nanosecond past the window (end + 1),
 * since a join at the end itself is still admitted. */
kg_time kg_policy_deadline(const kg_policy *p);
void kg_policy_on_timeout(kg_policy *p, kg_time now);

/* Takes the next event. Returns 1 and fills ev, or 0 when none. */
int kg_policy_next_event(kg_policy *p, kg_policy_ev *ev);

/* Notices dropped because the queue was full (for stats). */
uint64_t kg_policy_events_dropped(const kg_policy *p);

/* Everyone known (in, then waiting), in join order: the admitted by the
 * time they were admitted (arrival order breaks ties), then the waiting
 * by arrival. A dropped host in its grace is not listed. Returns the
 * count written (at most cap). */
size_t kg_policy_attendees(const kg_policy *p, kg_attendee *out, size_t cap);

/* Current settings (lock is separate: kg_policy_locked). */
const kg_meeting_settings *kg_policy_settings(const kg_policy *p);

/* True for nicknames that say nothing about who it is. After trimming
 * white space, case-insensitively (ASCII), runs of spaces read as one:
 * empty or NULL, a single character (one UTF-8 code point), digits only,
 * or one of "iphone", "ipad", "android", "user", "guest", "zoom user",
 * "test", "admin", "host", "participant", "unknown", "anonymous", "me"
 * followed by nothing but digits and spaces ("User123", "iPhone 12",
 * "guest 7"). "John's iPhone" is not generic. */
bool kg_nickname_generic(const char *nickname);

#endif
