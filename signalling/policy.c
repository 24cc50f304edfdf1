/* The live policy of one meeting: see policy.h for the rules. Everything
 * here is a fixed-size table walked linearly: a meeting holds at most
 * KG_POLICY_MAX people, so a scan is cheaper than any index. */
#include "signalling/policy.h"

#include <stdlib.h>
#include <string.h>

#define NICK_MAX 64

_Static_assert(KG_POLICY_EVQ >= 2 * KG_POLICY_MAX + 8,
               "one call's commands must fit in the event queue");

enum wait_why { WAIT_HOST, WAIT_ROOM };

typedef struct member {
    kg_pid pid;
    char nick[NICK_MAX + 1];
    bool waiting;
    enum wait_why why;   /* while waiting */
    bool muted;          /* audio is not forwarded */
    bool may_unmute;     /* the host asked it to unmute */
    bool generic;
    kg_time joined;      /* 0 while waiting */
    uint64_t seq;        /* arrival order; the table is kept in it */
} member;

struct kg_policy {
    kg_meeting m;
    kg_meeting_settings s;
    kg_time opens, ends; /* the window in ns, both edges inclusive */
    int64_t opens_s;     /* for "not_open" */
    bool locked, ended;

    member mem[KG_POLICY_MAX];
    size_t n;
    uint64_t next_seq;

    kg_pid host;         /* 0: hostless */
    bool host_away;      /* host dropped, grace running */
    kg_time grace_until;
    char away_nick[NICK_MAX + 1];
    kg_time away_joined;

    kg_pid removed[KG_POLICY_REMOVED_MAX]; /* ring */
    size_t n_removed, removed_next;

    kg_policy_ev evq[KG_POLICY_EVQ]; /* ring */
    size_t ev_head, ev_len;
    uint64_t ev_dropped;
};

/* ---- small helpers ---------------------------------------------------- */

static kg_time sec_to_ns(int64_t s)
{
    if (s <= 0)
        return 0;
    if ((uint64_t)s >= (KG_TIME_NEVER - 2) / KG_SEC)
        return KG_TIME_NEVER - 2;
    return (kg_time)s * KG_SEC;
}

/* Copies at most NICK_MAX bytes without cutting a UTF-8 sequence. */
static void copy_nick(char *dst, const char *src)
{
    size_t len = src ? strlen(src) : 0;
    if (len > NICK_MAX) {
        len = NICK_MAX;
        while (len > 0 && ((unsigned char)src[len] & 0xC0) == 0x80)
            len--;
    }
    if (len)
        memcpy(dst, src, len);
    dst[len] = '\0';
}

static member *find(const kg_policy *p, kg_pid pid)
{
    if (pid == 0)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        if (p->mem[i].pid == pid)
            return (member *)&p->mem[i];
    return NULL;
}

static void del_member(kg_policy *p, member *m)
{
    size_t i = (size_t)(m - p->mem);
    memmove(&p->mem[i], &p->mem[i + 1], (p->n - i - 1) * sizeof(member));
    p->n--;
}

static member *add_member(kg_policy *p, kg_pid pid, const char *nick)
{
    member *m = &p->mem[p->n++];
    memset(m, 0, sizeof(*m));
    m->pid = pid;
    copy_nick(m->nick, nick);
    m->generic = kg_nickname_generic(m->nick);
    m->seq = p->next_seq++;
    return m;
}

static size_t count_admitted(const kg_policy *p)
{
    size_t c = 0;
    for (size_t i = 0; i < p->n; i++)
        c += !p->mem[i].waiting;
    return c;
}

static bool any_waiting(const kg_policy *p)
{
    return count_admitted(p) < p->n;
}

/* The host is present (not merely holding the role through a grace). */
static bool is_host(const kg_policy *p, kg_pid pid)
{
    return pid != 0 && pid == p->host && !p->host_away;
}

static bool was_removed(const kg_policy *p, kg_pid pid)
{
    for (size_t i = 0; i < p->n_removed; i++)
        if (p->removed[i] == pid)
            return true;
    return false;
}

static void note_removed(kg_policy *p, kg_pid pid)
{
    p->removed[p->removed_next] = pid;
    p->removed_next = (p->removed_next + 1) % KG_POLICY_REMOVED_MAX;
    if (p->n_removed < KG_POLICY_REMOVED_MAX)
        p->n_removed++;
}

/* ---- the event queue -------------------------------------------------- */

static bool is_notice(enum kg_policy_ev_type t)
{
    return t == KG_PEV_JOINED || t == KG_PEV_LEFT ||
           t == KG_PEV_WAITING_LIST || t == KG_PEV_LOCKED_OUT ||
           t == KG_PEV_SETTINGS;
}

static kg_policy_ev *ev_at(kg_policy *p, size_t i)
{
    return &p->evq[(p->ev_head + i) % KG_POLICY_EVQ];
}

/* Makes room by dropping the oldest notice; only a caller that never
 * drains can fill the queue with commands, and then the oldest goes. */
static void ev_make_room(kg_policy *p)
{
    size_t i = 0;
    while (i < p->ev_len && !is_notice(ev_at(p, i)->type))
        i++;
    if (i == p->ev_len)
        i = 0;
    for (; i + 1 < p->ev_len; i++)
        *ev_at(p, i) = *ev_at(p, i + 1);
    p->ev_len--;
    p->ev_dropped++;
}

static void push(kg_policy *p, enum kg_policy_ev_type t, kg_pid pid,
                 const char *nick)
{
    /* The caller reads the waiting list when it handles the notice, so
     * two in a row say no more than one. */
    if (t == KG_PEV_WAITING_LIST && p->ev_len &&
        ev_at(p, p->ev_len - 1)->type == KG_PEV_WAITING_LIST)
        return;
    if (p->ev_len == KG_POLICY_EVQ)
        ev_make_room(p);
    kg_policy_ev *ev = ev_at(p, p->ev_len++);
    memset(ev, 0, sizeof(*ev));
    ev->type = t;
    ev->pid = pid;
    copy_nick(ev->nickname, nick);
}

/* ---- transitions ------------------------------------------------------ */

static void admit_member(kg_policy *p, member *m, kg_time joined)
{
    m->waiting = false;
    m->joined = joined;
    push(p, KG_PEV_ADMITTED, m->pid, m->nick);
    push(p, KG_PEV_JOINED, m->pid, m->nick);
}

/* pid (admitted) takes the role. People who waited only for a host get
 * in now unless the waiting room holds them for the host's admit. */
static void become_host(kg_policy *p, kg_pid pid, kg_time now)
{
    member *h = find(p, pid);
    p->host = pid;
    p->host_away = false;
    push(p, KG_PEV_HOST, pid, h ? h->nick : "");
    bool changed = false;
    for (size_t i = 0; i < p->n; i++) {
        member *m = &p->mem[i];
        if (!m->waiting || m->why != WAIT_HOST)
            continue;
        changed = true;
        if (p->s.waiting_room)
            m->why = WAIT_ROOM;
        else
            admit_member(p, m, now);
    }
    /* Changed or not, a new host needs to see who waits. */
    if (changed || any_waiting(p))
        push(p, KG_PEV_WAITING_LIST, 0, "");
}

/* The grace ran out: the longest-present admitted participant (join time,
 * then arrival order) hosts, or nobody does. */
static void grace_expire(kg_policy *p, kg_time now)
{
    p->host_away = false;
    p->host = 0;
    const member *best = NULL;
    for (size_t i = 0; i < p->n; i++) {
        const member *m = &p->mem[i];
        if (!m->waiting && (!best || m->joined < best->joined))
            best = m; /* the table is in arrival order: ties keep the first */
    }
    if (best)
        become_host(p, best->pid, now);
}

static void end_meeting(kg_policy *p)
{
    p->ended = true;
    p->host_away = false;
    push(p, KG_PEV_ENDED, 0, "");
}

/* Whatever a timer at now would do: every call with a time runs this
 * first, so the order of timers and calls does not change the outcome. */
static void run_due(kg_policy *p, kg_time now)
{
    if (p->ended)
        return;
    if (p->host_away && now >= p->grace_until)
        grace_expire(p, now);
    if (now > p->ends)
        end_meeting(p);
}

/* The dropped host is back as pid (already in the table, admitted). */
static void restore_host(kg_policy *p, member *m, kg_time now)
{
    admit_member(p, m, p->away_joined); /* seniority survives */
    become_host(p, m->pid, now);
}

/* ---- lifecycle -------------------------------------------------------- */

kg_policy *kg_policy_new(const kg_meeting *m)
{
    if (!m)
        return NULL;
    kg_policy *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    p->m = *m;
    p->s = m->settings;
    /* The store checks start and duration; this only keeps absurd ones
     * from overflowing. */
    int64_t opens, ends;
    if (__builtin_sub_overflow(m->start, (int64_t)KG_EARLY_JOIN_S, &opens))
        opens = INT64_MIN;
    if (__builtin_add_overflow(m->start, m->duration, &ends))
        ends = m->duration > 0 ? INT64_MAX : INT64_MIN;
    p->opens_s = opens;
    p->opens = sec_to_ns(opens);
    p->ends = sec_to_ns(ends);
    if (p->ends < p->opens)
        p->ends = p->opens;
    p->next_seq = 1;
    return p;
}

void kg_policy_del(kg_policy *p)
{
    free(p);
}

/* ---- joins ------------------------------------------------------------ */

static kg_join_result refused(const char *why)
{
    return (kg_join_result){KG_JOIN_REFUSED, why, 0};
}

static kg_join_result join_checks(kg_policy *p, kg_pid pid,
                                  const char *nickname, bool claims,
                                  kg_time now)
{
    kg_join_result r = {KG_JOIN_ADMITTED, NULL, 0};
    if (find(p, pid) || (p->host_away && pid == p->host))
        return refused("duplicate");
    if (was_removed(p, pid))
        return refused("removed");
    if (p->ended)
        return refused("ended");
    if (now < p->opens) {
        r = refused("not_open");
        r.opens_at = p->opens_s;
        return r;
    }
    if (now > p->ends)
        return refused("ended");
    if (p->locked && !claims) {
        char nick[NICK_MAX + 1];
        copy_nick(nick, nickname);
        push(p, KG_PEV_LOCKED_OUT, pid, nick);
        return refused("locked");
    }
    if (p->n >= KG_POLICY_MAX)
        return refused("full");
    return r;
}

kg_join_result kg_policy_join(kg_policy *p, kg_pid pid, const char *nickname,
                              bool host, kg_time now)
{
    if (!p || pid == 0)
        return refused("invalid");
    run_due(p, now);
    /* A host key claims the role when nobody present holds it. */
    bool claims = host && (p->host == 0 || p->host_away);
    kg_join_result r = join_checks(p, pid, nickname, claims, now);
    if (r.outcome == KG_JOIN_REFUSED)
        return r;

    member *m = add_member(p, pid, nickname);
    if (claims && p->host_away) {
        restore_host(p, m, now);
        return r;
    }
    if (claims) {
        admit_member(p, m, now);
        become_host(p, pid, now);
        return r;
    }
    /* A second host key while the host is in: a trusted participant. */
    bool wait_host = !p->s.join_before_host && p->host == 0;
    if (host || (!wait_host && !p->s.waiting_room)) {
        admit_member(p, m, now);
        return r;
    }
    m->waiting = true;
    m->why = wait_host ? WAIT_HOST : WAIT_ROOM;
    r.outcome = KG_JOIN_WAITING;
    r.reason = m->why == WAIT_HOST ? "no_host" : "waiting_room";
    push(p, KG_PEV_WAITING_LIST, 0, "");
    return r;
}

int kg_policy_rejoin_host(kg_policy *p, kg_pid new_pid, kg_time now)
{
    if (!p || new_pid == 0)
        return KG_ERR_INVAL;
    run_due(p, now);
    if (p->ended || !p->host_away)
        return KG_ERR_STATE;
    if (was_removed(p, new_pid))
        return KG_ERR_DENIED;
    member *m = find(p, new_pid);
    if (m && !m->waiting) {
        become_host(p, new_pid, now);
        return 0;
    }
    if (m) {
        restore_host(p, m, now);
        push(p, KG_PEV_WAITING_LIST, 0, "");
        return 0;
    }
    if (p->n >= KG_POLICY_MAX)
        return KG_ERR_FULL;
    m = add_member(p, new_pid, p->away_nick);
    restore_host(p, m, now);
    return 0;
}

/* ---- host actions ----------------------------------------------------- */

/* The common gate of every host action: 0 or the error to return. */
static int host_gate(kg_policy *p, kg_pid by, kg_time now)
{
    if (!p)
        return KG_ERR_INVAL;
    run_due(p, now);
    if (p->ended)
        return KG_ERR_STATE;
    if (!is_host(p, by))
        return KG_ERR_DENIED;
    return 0;
}

static int host_gate_now(kg_policy *p, kg_pid by)
{
    if (!p)
        return KG_ERR_INVAL;
    if (p->ended)
        return KG_ERR_STATE;
    if (!is_host(p, by))
        return KG_ERR_DENIED;
    return 0;
}

int kg_policy_admit(kg_policy *p, kg_pid by, kg_pid who, kg_time now)
{
    int rc = host_gate(p, by, now);
    if (rc)
        return rc;
    member *m = find(p, who);
    if (!m || !m->waiting)
        return KG_ERR_NOTFOUND;
    admit_member(p, m, now);
    push(p, KG_PEV_WAITING_LIST, 0, "");
    return 0;
}

int kg_policy_deny(kg_policy *p, kg_pid by, kg_pid who, kg_time now)
{
    int rc = host_gate(p, by, now);
    if (rc)
        return rc;
    member *m = find(p, who);
    if (!m || !m->waiting)
        return KG_ERR_NOTFOUND;
    push(p, KG_PEV_DENIED, m->pid, m->nick);
    del_member(p, m);
    push(p, KG_PEV_WAITING_LIST, 0, "");
    return 0;
}

int kg_policy_remove(kg_policy *p, kg_pid by, kg_pid who, kg_time now)
{
    int rc = host_gate(p, by, now);
    if (rc)
        return rc;
    if (who == by)
        return KG_ERR_INVAL;
    member *m = find(p, who);
    if (!m)
        return KG_ERR_NOTFOUND;
    bool waiting = m->waiting;
    char nick[NICK_MAX + 1];
    memcpy(nick, m->nick, sizeof(nick));
    push(p, KG_PEV_REMOVED, who, nick);
    del_member(p, m);
    note_removed(p, who);
    if (waiting)
        push(p, KG_PEV_WAITING_LIST, 0, "");
    else
        push(p, KG_PEV_LEFT, who, nick);
    return 0;
}

int kg_policy_lock(kg_policy *p, kg_pid by, bool locked, kg_time now)
{
    int rc = host_gate(p, by, now);
    if (rc)
        return rc;
    if (p->locked != locked) {
        p->locked = locked;
        push(p, KG_PEV_SETTINGS, 0, "");
    }
    return 0;
}

int kg_policy_mute(kg_policy *p, kg_pid by, kg_pid who, bool mute,
                   kg_time now)
{
    int rc = host_gate(p, by, now);
    if (rc)
        return rc;
    member *m = find(p, who);
    if (!m || m->waiting)
        return KG_ERR_NOTFOUND;
    if (mute) {
        m->muted = true;
        m->may_unmute = false;
        push(p, KG_PEV_MUTED, who, m->nick);
    } else {
        m->may_unmute = true;
        push(p, KG_PEV_UNMUTE_ASKED, who, m->nick);
    }
    return 0;
}

int kg_policy_set_share(kg_policy *p, kg_pid by, enum kg_share_policy s)
{
    int rc = host_gate_now(p, by);
    if (rc)
        return rc;
    if (s != KG_SHARE_HOST && s != KG_SHARE_ALL)
        return KG_ERR_INVAL;
    if (p->s.screen_share != s) {
        p->s.screen_share = s;
        push(p, KG_PEV_SETTINGS, 0, "");
    }
    return 0;
}

int kg_policy_set_chat(kg_policy *p, kg_pid by, bool on)
{
    int rc = host_gate_now(p, by);
    if (rc)
        return rc;
    if (p->s.chat != on) {
        p->s.chat = on;
        push(p, KG_PEV_SETTINGS, 0, "");
    }
    return 0;
}

int kg_policy_rename(kg_policy *p, kg_pid who, const char *nickname)
{
    if (p->ended)
        return KG_ERR_STATE;
    member *m = find(p, who);
    if (!m || m->waiting)
        return KG_ERR_NOTFOUND;
    if (!p->s.allow_rename && who != p->host)
        return KG_ERR_DENIED;
    copy_nick(m->nick, nickname);
    m->generic = kg_nickname_generic(m->nick);
    push(p, KG_PEV_RENAMED, who, m->nick);
    return 0;
}

int kg_policy_set_rename(kg_policy *p, kg_pid by, bool on)
{
    int rc = host_gate_now(p, by);
    if (rc)
        return rc;
    if (p->s.allow_rename != on) {
        p->s.allow_rename = on;
        push(p, KG_PEV_SETTINGS, 0, "");
    }
    return 0;
}

int kg_policy_end(kg_policy *p, kg_pid by, kg_time now)
{
    int rc = host_gate(p, by, now);
    if (rc)
        return rc;
    end_meeting(p);
    return 0;
}

int kg_policy_handover(kg_policy *p, kg_pid by, kg_pid to, kg_time now)
{
    int rc = host_gate(p, by, now);
    if (rc)
        return rc;
    if (to == by)
        return KG_ERR_INVAL;
    member *m = find(p, to);
    if (!m || m->waiting)
        return KG_ERR_NOTFOUND;
    become_host(p, to, now);
    return 0;
}

/* ---- participants' own actions --------------------------------------- */

int kg_policy_unmute_self(kg_policy *p, kg_pid who)
{
    if (!p)
        return KG_ERR_INVAL;
    member *m = find(p, who);
    if (!m)
        return KG_ERR_NOTFOUND;
    if (p->ended)
        return KG_ERR_STATE;
    if (m->waiting)
        return KG_ERR_DENIED;
    if (m->muted && !m->may_unmute && !is_host(p, who))
        return KG_ERR_DENIED;
    m->muted = false;
    m->may_unmute = false;
    return 0;
}

int kg_policy_leave(kg_policy *p, kg_pid who, kg_pid new_host, kg_time now)
{
    if (!p)
        return KG_ERR_INVAL;
    run_due(p, now);
    if (p->ended)
        return KG_ERR_STATE;
    member *m = find(p, who);
    if (!m)
        return KG_ERR_NOTFOUND;
    if (m->waiting) {
        del_member(p, m);
        push(p, KG_PEV_WAITING_LIST, 0, "");
        return 0;
    }
    bool was_host = is_host(p, who);
    if (was_host) {
        const member *nh = find(p, new_host);
        bool others = count_admitted(p) > 1;
        if (new_host == who || (nh && nh->waiting) ||
            (others && !nh) || (!others && new_host != 0))
            return KG_ERR_INVAL;
    }
    char nick[NICK_MAX + 1];
    memcpy(nick, m->nick, sizeof(nick));
    del_member(p, m);
    push(p, KG_PEV_LEFT, who, nick);
    if (was_host) {
        p->host = 0;
        if (new_host)
            become_host(p, new_host, now);
    }
    return 0;
}

void kg_policy_drop(kg_policy *p, kg_pid who, kg_time now)
{
    if (!p)
        return;
    run_due(p, now);
    if (p->ended)
        return;
    member *m = find(p, who);
    if (!m)
        return;
    if (m->waiting) {
        del_member(p, m);
        push(p, KG_PEV_WAITING_LIST, 0, "");
        return;
    }
    if (is_host(p, who)) {
        p->host_away = true;
        p->grace_until = now > KG_TIME_NEVER - 1 - KG_HOST_GRACE
                             ? KG_TIME_NEVER - 1
                             : now + KG_HOST_GRACE;
        memcpy(p->away_nick, m->nick, sizeof(p->away_nick));
        p->away_joined = m->joined;
    }
    char nick[NICK_MAX + 1];
    memcpy(nick, m->nick, sizeof(nick));
    del_member(p, m);
    push(p, KG_PEV_LEFT, who, nick);
}

/* ---- time ------------------------------------------------------------- */

kg_time kg_policy_deadline(const kg_policy *p)
{
    if (!p || p->ended)
        return KG_TIME_NEVER;
    kg_time d = p->ends + 1; /* the first instant past the window */
    if (p->host_away && p->grace_until < d)
        d = p->grace_until;
    return d;
}

void kg_policy_on_timeout(kg_policy *p, kg_time now)
{
    if (p)
        run_due(p, now);
}

/* ---- queries ---------------------------------------------------------- */

int kg_policy_next_event(kg_policy *p, kg_policy_ev *ev)
{
    if (!p || !p->ev_len)
        return 0;
    *ev = *ev_at(p, 0);
    p->ev_head = (p->ev_head + 1) % KG_POLICY_EVQ;
    p->ev_len--;
    return 1;
}

uint64_t kg_policy_events_dropped(const kg_policy *p)
{
    return p ? p->ev_dropped : 0;
}

static void fill_attendee(const kg_policy *p, const member *m,
                          kg_attendee *a)
{
    memset(a, 0, sizeof(*a));
    a->pid = m->pid;
    memcpy(a->nickname, m->nick, sizeof(a->nickname));
    a->host = is_host(p, m->pid);
    a->waiting = m->waiting;
    a->muted = m->muted;
    a->generic_name = m->generic;
    a->joined = m->waiting ? 0 : m->joined;
}

size_t kg_policy_attendees(const kg_policy *p, kg_attendee *out, size_t cap)
{
    if (!p || !out)
        return 0;
    /* Admitted by the time they entered (arrival breaks ties), then the
     * waiting in arrival order: a stable insertion sort of indices. */
    size_t idx[KG_POLICY_MAX], k = 0;
    for (size_t i = 0; i < p->n; i++) {
        if (p->mem[i].waiting)
            continue;
        size_t j = k++;
        while (j > 0 && p->mem[idx[j - 1]].joined > p->mem[i].joined) {
            idx[j] = idx[j - 1];
            j--;
        }
        idx[j] = i;
    }
    for (size_t i = 0; i < p->n; i++)
        if (p->mem[i].waiting)
            idx[k++] = i;
    size_t w = 0;
    for (; w < k && w < cap; w++)
        fill_attendee(p, &p->mem[idx[w]], &out[w]);
    return w;
}

const kg_meeting_settings *kg_policy_settings(const kg_policy *p)
{
    return &p->s;
}

bool kg_policy_may_share(const kg_policy *p, kg_pid who)
{
    if (!p || p->ended)
        return false;
    const member *m = find(p, who);
    if (!m || m->waiting)
        return false;
    return p->s.screen_share == KG_SHARE_ALL || is_host(p, who);
}

bool kg_policy_chat_on(const kg_policy *p)
{
    return p && p->s.chat && !p->ended;
}

bool kg_policy_locked(const kg_policy *p)
{
    return p && p->locked;
}

bool kg_policy_is_muted(const kg_policy *p, kg_pid who)
{
    const member *m = p ? find(p, who) : NULL;
    return m && m->muted;
}

kg_pid kg_policy_host(const kg_policy *p)
{
    return p ? p->host : 0;
}

bool kg_policy_is_admitted(const kg_policy *p, kg_pid who)
{
    if (!p || p->ended)
        return false;
    const member *m = find(p, who);
    return m && !m->waiting;
}

/* ---- nicknames -------------------------------------------------------- */

/* Names a device, an app default or a role, not a person. Compared
 * case-insensitively (ASCII) after trimming, with runs of spaces read as
 * one, and with trailing digits and spaces ignored ("User123",
 * "iPhone 12"). Kept in sync with the list in policy.h. */
static const char *const generic_names[] = {
    "iphone", "ipad", "android", "user", "guest", "zoom user", "test",
    "admin", "host", "participant", "unknown", "anonymous", "me",
};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' ||
           c == '\f';
}

static char lower(char c)
{
    return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
}

static bool same_words(const char *b, const char *e, const char *word)
{
    while (b < e && *word) {
        if (is_space(*b)) {
            if (*word != ' ')
                return false;
            while (b < e && is_space(*b))
                b++;
            word++;
            continue;
        }
        if (lower(*b) != *word)
            return false;
        b++;
        word++;
    }
    return b == e && *word == '\0';
}

bool kg_nickname_generic(const char *nickname)
{
    if (!nickname)
        return true;
    const char *b = nickname, *e = nickname + strlen(nickname);
    while (b < e && is_space(*b))
        b++;
    while (e > b && is_space(e[-1]))
        e--;
    size_t chars = 0; /* UTF-8 code points: lead bytes */
    for (const char *c = b; c < e; c++)
        chars += ((unsigned char)*c & 0xC0) != 0x80;
    if (chars <= 1)
        return true;
    const char *w = e;
    while (w > b && ((w[-1] >= '0' && w[-1] <= '9') || is_space(w[-1])))
        w--;
    if (w == b)
        return true; /* digits only */
    for (size_t i = 0; i < KG_ARRAY_LEN(generic_names); i++)
        if (same_words(b, w, generic_names[i]))
            return true;
    return false;
}
