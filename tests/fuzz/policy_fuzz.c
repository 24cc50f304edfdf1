/* Drives one meeting's policy with a sequence of joins, host actions,
 * leaves, drops and timers decoded from the input, and checks after
 * every step what must always hold: at most one host, nobody both
 * waiting and admitted, no event about a pid never seen, never more than
 * KG_POLICY_MAX people, no command lost by a caller that drains.
 *
 * Input: byte 0 = settings (bit 0 waiting room, bit 1 join before host,
 * bit 2 share all), then 4-byte steps: op, a, b, c. a and b name pids
 * (1..80; with the top bit set, "the current host"), c picks how far the
 * clock moves before the step and a flag. */
#include <stdlib.h>
#include <string.h>

#include "codec/err.h"
#include "signalling/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(c)          \
    do {                  \
        if (!(c))         \
            abort();      \
    } while (0)

#define START 100000 /* Unix seconds */
#define DUR 3600
#define PID_MAX 80

static const kg_time steps[8] = {
    0, 1, KG_SEC, 5 * KG_SEC, KG_HOST_GRACE, 60 * KG_SEC, 300 * KG_SEC,
    1200 * KG_SEC,
};

static const char *const nicks[8] = {
    "Hana", "iPhone", "user123", "", "Kenji Watanabe", "x",
    "\xe5\xb1\xb1\xe7\x94\xb0\xe8\x8a\xb1\xe5\xad\x90",
    "a very long nickname that goes on past sixty-four bytes for sure ok",
};

typedef struct state {
    kg_policy *p;
    bool seen[PID_MAX + 1]; /* pids ever offered to the policy */
    bool ended;
} state;

static kg_pid pick(const state *s, uint8_t b)
{
    if (b & 0x80)
        return kg_policy_host(s->p);
    return (kg_pid)(b % (PID_MAX + 1)); /* 0 too: must be refused */
}

static bool known(const state *s, kg_pid pid)
{
    return pid <= PID_MAX && s->seen[pid];
}

static void check_events(state *s)
{
    kg_policy_ev ev;
    kg_pid last_host = 0;
    bool any_host = false;
    while (kg_policy_next_event(s->p, &ev)) {
        CHECK(!s->ended); /* nothing after the end */
        CHECK(memchr(ev.nickname, '\0', sizeof(ev.nickname)) != NULL);
        switch (ev.type) {
        case KG_PEV_ENDED:
            s->ended = true;
            /* fall through */
        case KG_PEV_SETTINGS:
        case KG_PEV_WAITING_LIST:
            CHECK(ev.pid == 0);
            break;
        case KG_PEV_ADMITTED:
            CHECK(known(s, ev.pid));
            CHECK(kg_policy_is_admitted(s->p, ev.pid));
            break;
        case KG_PEV_HOST:
            CHECK(known(s, ev.pid));
            last_host = ev.pid;
            any_host = true;
            break;
        default:
            CHECK(known(s, ev.pid));
            break;
        }
    }
    /* the last HOST names the host, unless it then left alone */
    if (any_host && !s->ended)
        CHECK(kg_policy_host(s->p) == last_host ||
              kg_policy_host(s->p) == 0);
    CHECK(kg_policy_events_dropped(s->p) == 0);
}

static void check_state(state *s)
{
    kg_attendee a[KG_POLICY_MAX + 1];
    size_t n = kg_policy_attendees(s->p, a, KG_ARRAY_LEN(a));
    CHECK(n <= KG_POLICY_MAX);
    size_t hosts = 0;
    bool waiting_seen = false;
    for (size_t i = 0; i < n; i++) {
        CHECK(known(s, a[i].pid));
        for (size_t j = 0; j < i; j++)
            CHECK(a[j].pid != a[i].pid);
        if (a[i].host) {
            hosts++;
            CHECK(a[i].pid == kg_policy_host(s->p));
            CHECK(!a[i].waiting);
        }
        if (a[i].waiting) {
            waiting_seen = true;
            CHECK(!kg_policy_is_admitted(s->p, a[i].pid));
            CHECK(a[i].joined == 0);
            CHECK(!kg_policy_may_share(s->p, a[i].pid));
        } else {
            CHECK(!waiting_seen); /* in, then waiting */
            CHECK(kg_policy_is_admitted(s->p, a[i].pid) == !s->ended);
            if (i > 0 && !a[i - 1].waiting)
                CHECK(a[i - 1].joined <= a[i].joined);
        }
        CHECK(a[i].generic_name == kg_nickname_generic(a[i].nickname));
    }
    CHECK(hosts <= 1);
    for (kg_pid pid = 0; pid <= PID_MAX; pid++) {
        if (!kg_policy_is_admitted(s->p, pid))
            continue;
        bool listed = false;
        for (size_t i = 0; i < n; i++)
            listed |= a[i].pid == pid && !a[i].waiting;
        CHECK(listed);
    }
    CHECK(kg_policy_deadline(s->p) != 0);
    if (s->ended)
        CHECK(kg_policy_deadline(s->p) == KG_TIME_NEVER);
}

static void do_join(state *s, kg_pid pid, uint8_t b, bool host, kg_time now)
{
    if (pid <= PID_MAX)
        s->seen[pid] = true;
    kg_join_result r = kg_policy_join(s->p, pid, nicks[b % 8], host, now);
    CHECK(r.reason || r.outcome == KG_JOIN_ADMITTED);
    if (r.outcome == KG_JOIN_ADMITTED)
        CHECK(kg_policy_is_admitted(s->p, pid));
    else if (r.outcome == KG_JOIN_WAITING)
        CHECK(!kg_policy_is_admitted(s->p, pid));
    else
        CHECK(r.outcome == KG_JOIN_REFUSED);
}

static void step(state *s, const uint8_t *in, kg_time now)
{
    kg_policy *p = s->p;
    kg_pid a = pick(s, in[1]), b = pick(s, in[2]);
    bool flag = in[3] & 0x08;
    int rc = 0;
    switch (in[0] % 18) {
    case 0:
    case 1: do_join(s, (kg_pid)(in[1] % (PID_MAX + 1)), in[2], flag, now);
            break;
    case 2: rc = kg_policy_admit(p, a, b, now); break;
    case 3: rc = kg_policy_deny(p, a, b, now); break;
    case 4: rc = kg_policy_remove(p, a, b, now); break;
    case 5: rc = kg_policy_lock(p, a, flag, now); break;
    case 6: rc = kg_policy_mute(p, a, b, flag, now); break;
    case 7: rc = kg_policy_set_share(p, a, (enum kg_share_policy)(in[2] % 3));
            break;
    case 8: rc = kg_policy_set_chat(p, a, flag); break;
    case 9: rc = kg_policy_set_rename(p, a, flag); break;
    case 10: if (flag) rc = kg_policy_end(p, a, now); break;
    case 11: rc = kg_policy_handover(p, a, b, now); break;
    case 12: rc = kg_policy_unmute_self(p, a);
             if (rc == 0)
                 CHECK(!kg_policy_is_muted(p, a));
             break;
    case 13: rc = kg_policy_leave(p, a, b, now); break;
    case 14: kg_policy_drop(p, a, now); break;
    case 15: {
        kg_pid np = (kg_pid)(in[2] % (PID_MAX + 1));
        if (np <= PID_MAX)
            s->seen[np] = true;
        rc = kg_policy_rejoin_host(p, np, now);
        if (rc == 0)
            CHECK(kg_policy_host(p) == np && kg_policy_is_admitted(p, np));
        break;
    }
    case 16: rc = kg_policy_rename(p, a, nicks[in[2] % 8]); break;
    default: kg_policy_on_timeout(p, now); break;
    }
    CHECK(rc <= 0);
    if (s->ended)
        CHECK(rc == 0 || rc == KG_ERR_STATE || rc == KG_ERR_INVAL ||
              rc == KG_ERR_NOTFOUND || rc == KG_ERR_DENIED);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    kg_meeting m;
    memset(&m, 0, sizeof(m));
    m.start = START;
    m.duration = DUR;
    m.settings.waiting_room = data[0] & 1;
    m.settings.join_before_host = data[0] & 2;
    m.settings.screen_share = (data[0] & 4) ? KG_SHARE_ALL : KG_SHARE_HOST;
    m.settings.chat = true;
    state s;
    memset(&s, 0, sizeof(s));
    s.p = kg_policy_new(&m);
    if (!s.p)
        return 0;
    kg_time now = (kg_time)(START - KG_EARLY_JOIN_S - 2) * KG_SEC;
    for (size_t off = 1; off + 4 <= size; off += 4) {
        now += steps[data[off + 3] & 7];
        kg_time dl = kg_policy_deadline(s.p);
        if ((data[off + 3] & 0x10) && dl != KG_TIME_NEVER && dl > now)
            now = dl; /* jump to the deadline exactly */
        step(&s, data + off, now);
        check_events(&s);
        check_state(&s);
    }
    kg_policy_del(s.p);
    return 0;
}
