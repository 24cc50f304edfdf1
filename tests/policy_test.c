/* The meeting policy on a simulated clock: the join window's edges, the
 * waiting room and join-before-host matrix, lock, host controls, the
 * host hand-over on leave and drop, the end, and the event queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "codec/err.h"
#include "signalling/policy.h"

#define START 1800000000      /* Unix seconds */
#define DUR 3600
#define T0 ((kg_time)START * KG_SEC)
#define OPENS (T0 - 300 * KG_SEC)
#define ENDS (T0 + DUR * KG_SEC)
#define H 1000 /* the host's pid */

static kg_policy *mk(bool waiting_room, bool join_before_host)
{
    kg_meeting m;
    memset(&m, 0, sizeof(m));
    strcpy(m.id, "12345678901");
    strcpy(m.title, "standup");
    m.start = START;
    m.duration = DUR;
    m.settings.waiting_room = waiting_room;
    m.settings.join_before_host = join_before_host;
    m.settings.screen_share = KG_SHARE_HOST;
    m.settings.chat = true;
    m.created = START - 86400;
    kg_policy *p = kg_policy_new(&m);
    assert_non_null(p);
    return p;
}

typedef struct {
    enum kg_policy_ev_type t;
    kg_pid pid;
} evs;

static void expect(kg_policy *p, const evs *want, size_t n)
{
    kg_policy_ev ev;
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(kg_policy_next_event(p, &ev), 1);
        assert_int_equal(ev.type, want[i].t);
        assert_int_equal(ev.pid, want[i].pid);
    }
    assert_int_equal(kg_policy_next_event(p, &ev), 0);
}

#define EXPECT(p, ...)                                  \
    do {                                                \
        const evs w_[] = {__VA_ARGS__};                 \
        expect((p), w_, KG_ARRAY_LEN(w_));              \
    } while (0)
#define EXPECT_NONE(p) expect((p), NULL, 0)

static void drain(kg_policy *p)
{
    kg_policy_ev ev;
    while (kg_policy_next_event(p, &ev))
        ;
}

static void assert_join(kg_join_result r, enum kg_join_outcome o,
                        const char *reason)
{
    assert_int_equal(r.outcome, o);
    if (reason)
        assert_string_equal(r.reason, reason);
    else
        assert_null(r.reason);
}

/* A meeting with the host in (at T0) and nothing queued. */
static kg_policy *with_host(bool wr, bool jbh)
{
    kg_policy *p = mk(wr, jbh);
    assert_join(kg_policy_join(p, H, "Hana", true, T0), KG_JOIN_ADMITTED,
                NULL);
    drain(p);
    return p;
}

/* ---- the join window ------------------------------------------------- */

static void window_edges(bool host)
{
    kg_join_result r;
    kg_policy *p = mk(false, true);
    r = kg_policy_join(p, 1, "Ann", host, OPENS - KG_SEC);
    assert_join(r, KG_JOIN_REFUSED, "not_open");
    assert_int_equal(r.opens_at, START - 300);
    r = kg_policy_join(p, 1, "Ann", host, OPENS - 1);
    assert_join(r, KG_JOIN_REFUSED, "not_open");
    EXPECT_NONE(p);
    assert_int_equal(kg_policy_is_admitted(p, 1), false);
    /* opens exactly 5 minutes early */
    assert_join(kg_policy_join(p, 1, "Ann", host, OPENS), KG_JOIN_ADMITTED,
                NULL);
    assert_true(kg_policy_is_admitted(p, 1));
    assert_int_equal(kg_policy_host(p), host ? 1 : 0);
    /* the end itself is still inside */
    assert_join(kg_policy_join(p, 2, "Ben", host, ENDS), KG_JOIN_ADMITTED,
                NULL);
    assert_true(kg_policy_is_admitted(p, 2));
    /* one second past the end; a fresh policy so nothing ran on_timeout */
    kg_policy_del(p);
    p = mk(false, true);
    assert_join(kg_policy_join(p, 3, "Cy", host, ENDS + KG_SEC),
                KG_JOIN_REFUSED, "ended");
    kg_policy_del(p);
    p = mk(false, true);
    assert_join(kg_policy_join(p, 3, "Cy", host, ENDS + 1), KG_JOIN_REFUSED,
                "ended");
    kg_policy_del(p);
}

static void test_window_edges_pin(void **state)
{
    (void)state;
    window_edges(false);
}

static void test_window_edges_host(void **state)
{
    (void)state;
    window_edges(true);
}

static void test_window_deadline(void **state)
{
    (void)state;
    kg_policy *p = mk(true, false);
    assert_int_equal(kg_policy_deadline(p), ENDS + 1);
    kg_policy_on_timeout(p, ENDS);
    EXPECT_NONE(p);
    assert_join(kg_policy_join(p, H, "Hana", true, ENDS), KG_JOIN_ADMITTED,
                NULL);
    drain(p);
    kg_policy_on_timeout(p, ENDS + 1);
    EXPECT(p, {KG_PEV_ENDED, 0});
    assert_int_equal(kg_policy_deadline(p), KG_TIME_NEVER);
    kg_policy_del(p);
}

/* ---- waiting room x join before host ---------------------------------- */

static void test_no_wr_no_jbh(void **state)
{
    (void)state;
    kg_policy *p = mk(false, false);
    assert_join(kg_policy_join(p, 1, "Ann", false, T0), KG_JOIN_WAITING,
                "no_host");
    assert_join(kg_policy_join(p, 2, "Ben", false, T0 + 1), KG_JOIN_WAITING,
                "no_host");
    EXPECT(p, {KG_PEV_WAITING_LIST, 0});
    assert_false(kg_policy_is_admitted(p, 1));
    /* the host arrives: those waiting for a host are in */
    assert_join(kg_policy_join(p, H, "Hana", true, T0 + 10),
                KG_JOIN_ADMITTED, NULL);
    EXPECT(p, {KG_PEV_ADMITTED, H}, {KG_PEV_JOINED, H}, {KG_PEV_HOST, H},
           {KG_PEV_ADMITTED, 1}, {KG_PEV_JOINED, 1}, {KG_PEV_ADMITTED, 2},
           {KG_PEV_JOINED, 2}, {KG_PEV_WAITING_LIST, 0});
    assert_true(kg_policy_is_admitted(p, 1));
    assert_true(kg_policy_is_admitted(p, 2));
    assert_int_equal(kg_policy_host(p), H);
    /* later arrivals walk in */
    assert_join(kg_policy_join(p, 3, "Cy", false, T0 + 20),
                KG_JOIN_ADMITTED, NULL);
    EXPECT(p, {KG_PEV_ADMITTED, 3}, {KG_PEV_JOINED, 3});
    kg_policy_del(p);
}

static void test_no_wr_jbh(void **state)
{
    (void)state;
    kg_policy *p = mk(false, true);
    assert_join(kg_policy_join(p, 1, "Ann", false, T0), KG_JOIN_ADMITTED,
                NULL);
    EXPECT(p, {KG_PEV_ADMITTED, 1}, {KG_PEV_JOINED, 1});
    assert_int_equal(kg_policy_host(p), 0);
    assert_join(kg_policy_join(p, H, "Hana", true, T0 + 1),
                KG_JOIN_ADMITTED, NULL);
    EXPECT(p, {KG_PEV_ADMITTED, H}, {KG_PEV_JOINED, H}, {KG_PEV_HOST, H});
    assert_join(kg_policy_join(p, 2, "Ben", false, T0 + 2),
                KG_JOIN_ADMITTED, NULL);
    kg_policy_del(p);
}

static void test_wr_no_jbh(void **state)
{
    (void)state;
    kg_policy *p = mk(true, false);
    assert_join(kg_policy_join(p, 1, "Ann", false, T0), KG_JOIN_WAITING,
                "no_host");
    EXPECT(p, {KG_PEV_WAITING_LIST, 0});
    assert_join(kg_policy_join(p, H, "Hana", true, T0 + 1),
                KG_JOIN_ADMITTED, NULL);
    /* the host arrives, Ann keeps waiting for the host's admit */
    EXPECT(p, {KG_PEV_ADMITTED, H}, {KG_PEV_JOINED, H}, {KG_PEV_HOST, H},
           {KG_PEV_WAITING_LIST, 0});
    assert_false(kg_policy_is_admitted(p, 1));
    assert_join(kg_policy_join(p, 2, "Ben", false, T0 + 2), KG_JOIN_WAITING,
                "waiting_room");
    EXPECT(p, {KG_PEV_WAITING_LIST, 0});
    assert_int_equal(kg_policy_admit(p, H, 1, T0 + 3), 0);
    EXPECT(p, {KG_PEV_ADMITTED, 1}, {KG_PEV_JOINED, 1},
           {KG_PEV_WAITING_LIST, 0});
    assert_true(kg_policy_is_admitted(p, 1));
    assert_false(kg_policy_is_admitted(p, 2));
    kg_policy_del(p);
}

static void test_wr_jbh(void **state)
{
    (void)state;
    kg_policy *p = mk(true, true);
    assert_join(kg_policy_join(p, 1, "Ann", false, T0), KG_JOIN_WAITING,
                "waiting_room");
    EXPECT(p, {KG_PEV_WAITING_LIST, 0});
    assert_join(kg_policy_join(p, H, "Hana", true, T0 + 1),
                KG_JOIN_ADMITTED, NULL);
    EXPECT(p, {KG_PEV_ADMITTED, H}, {KG_PEV_JOINED, H}, {KG_PEV_HOST, H},
           {KG_PEV_WAITING_LIST, 0});
    assert_false(kg_policy_is_admitted(p, 1));
    assert_int_equal(kg_policy_admit(p, H, 1, T0 + 2), 0);
    assert_true(kg_policy_is_admitted(p, 1));
    kg_policy_del(p);
}

static void test_second_host_key(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, false);
    /* one host: a second host-key join is an ordinary participant, but
     * one that holds the key does not wait */
    assert_join(kg_policy_join(p, 2, "Hana laptop", true, T0 + 1),
                KG_JOIN_ADMITTED, NULL);
    EXPECT(p, {KG_PEV_ADMITTED, 2}, {KG_PEV_JOINED, 2});
    assert_int_equal(kg_policy_host(p), H);
    assert_int_equal(kg_policy_lock(p, 2, true, T0 + 2), KG_ERR_DENIED);
    kg_policy_del(p);
}

static void test_duplicate_invalid(void **state)
{
    (void)state;
    kg_policy *p = with_host(false, true);
    assert_join(kg_policy_join(p, 0, "Zero", false, T0), KG_JOIN_REFUSED,
                "invalid");
    assert_join(kg_policy_join(NULL, 5, "x", false, T0), KG_JOIN_REFUSED,
                "invalid");
    assert_join(kg_policy_join(p, H, "Again", false, T0), KG_JOIN_REFUSED,
                "duplicate");
    assert_join(kg_policy_join(p, 1, NULL, false, T0), KG_JOIN_ADMITTED,
                NULL);
    assert_join(kg_policy_join(p, 1, "Ann", false, T0), KG_JOIN_REFUSED,
                "duplicate");
    /* a 70-byte name is cut at 64 bytes, not inside a UTF-8 sequence:
     * 63 'a' then "é" (2 bytes) would end at 65 */
    char nick[80];
    memset(nick, 'a', 63);
    strcpy(nick + 63, "\xc3\xa9tc");
    assert_join(kg_policy_join(p, 2, nick, false, T0), KG_JOIN_ADMITTED,
                NULL);
    kg_attendee a[4];
    assert_int_equal(kg_policy_attendees(p, a, 4), 3);
    assert_string_equal(a[1].nickname, "");
    assert_int_equal(strlen(a[2].nickname), 63);
    kg_policy_del(p);
}

/* ---- lock ------------------------------------------------------------- */

static void test_lock(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, false);
    assert_join(kg_policy_join(p, 1, "Ann", false, T0 + 1), KG_JOIN_WAITING,
                "waiting_room");
    drain(p);
    assert_int_equal(kg_policy_lock(p, 1, true, T0 + 2), KG_ERR_DENIED);
    assert_int_equal(kg_policy_lock(p, H, true, T0 + 2), 0);
    EXPECT(p, {KG_PEV_SETTINGS, 0});
    assert_true(kg_policy_locked(p));
    assert_int_equal(kg_policy_lock(p, H, true, T0 + 2), 0);
    EXPECT_NONE(p); /* no change, no notice */
    /* nobody new, not even into the waiting room; the host hears of it */
    assert_join(kg_policy_join(p, 2, "Ben", false, T0 + 3), KG_JOIN_REFUSED,
                "locked");
    kg_policy_ev ev;
    assert_int_equal(kg_policy_next_event(p, &ev), 1);
    assert_int_equal(ev.type, KG_PEV_LOCKED_OUT);
    assert_int_equal(ev.pid, 2);
    assert_string_equal(ev.nickname, "Ben");
    EXPECT_NONE(p);
    /* a second host key is a newcomer too */
    assert_join(kg_policy_join(p, 3, "Key", true, T0 + 3), KG_JOIN_REFUSED,
                "locked");
    EXPECT(p, {KG_PEV_LOCKED_OUT, 3});
    /* who waited still waits, and may be admitted */
    kg_attendee a[4];
    assert_int_equal(kg_policy_attendees(p, a, 4), 2);
    assert_true(a[1].waiting);
    assert_int_equal(kg_policy_admit(p, H, 1, T0 + 4), 0);
    assert_true(kg_policy_is_admitted(p, 1));
    drain(p);
    /* unlocked: people come in again */
    assert_int_equal(kg_policy_lock(p, H, false, T0 + 5), 0);
    EXPECT(p, {KG_PEV_SETTINGS, 0});
    assert_join(kg_policy_join(p, 2, "Ben", false, T0 + 6), KG_JOIN_WAITING,
                "waiting_room");
    kg_policy_del(p);
}

static void test_lock_keeps_owner_in(void **state)
{
    (void)state;
    /* locked, then the host drops: the host key still reclaims the role */
    kg_policy *p = with_host(false, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    assert_int_equal(kg_policy_lock(p, H, true, T0 + 1), 0);
    kg_policy_drop(p, H, T0 + 2);
    drain(p);
    assert_join(kg_policy_join(p, 2, "Ben", false, T0 + 3), KG_JOIN_REFUSED,
                "locked");
    assert_join(kg_policy_join(p, 3, "Hana", true, T0 + 4),
                KG_JOIN_ADMITTED, NULL);
    assert_int_equal(kg_policy_host(p), 3);
    kg_policy_del(p);
}

/* ---- admit, deny, remove, and who may do them -------------------------- */

static void test_admit_deny_remove(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, true);
    kg_policy_join(p, 1, "Ann", false, T0 + 1);
    kg_policy_join(p, 2, "Ben", false, T0 + 2);
    kg_policy_join(p, 3, "Cy", false, T0 + 3);
    drain(p);
    assert_int_equal(kg_policy_admit(p, H, 1, T0 + 4), 0);
    EXPECT(p, {KG_PEV_ADMITTED, 1}, {KG_PEV_JOINED, 1},
           {KG_PEV_WAITING_LIST, 0});
    assert_int_equal(kg_policy_admit(p, H, 1, T0 + 4), KG_ERR_NOTFOUND);
    assert_int_equal(kg_policy_admit(p, H, 99, T0 + 4), KG_ERR_NOTFOUND);
    assert_int_equal(kg_policy_deny(p, H, 1, T0 + 4), KG_ERR_NOTFOUND);
    assert_int_equal(kg_policy_deny(p, H, 2, T0 + 5), 0);
    EXPECT(p, {KG_PEV_DENIED, 2}, {KG_PEV_WAITING_LIST, 0});
    assert_int_equal(kg_policy_deny(p, H, 2, T0 + 5), KG_ERR_NOTFOUND);
    /* remove a waiting one, then an admitted one */
    assert_int_equal(kg_policy_remove(p, H, 3, T0 + 6), 0);
    EXPECT(p, {KG_PEV_REMOVED, 3}, {KG_PEV_WAITING_LIST, 0});
    assert_int_equal(kg_policy_remove(p, H, 1, T0 + 7), 0);
    kg_policy_ev ev;
    assert_int_equal(kg_policy_next_event(p, &ev), 1);
    assert_int_equal(ev.type, KG_PEV_REMOVED);
    assert_string_equal(ev.nickname, "Ann");
    EXPECT(p, {KG_PEV_LEFT, 1});
    assert_false(kg_policy_is_admitted(p, 1));
    assert_int_equal(kg_policy_remove(p, H, 1, T0 + 7), KG_ERR_NOTFOUND);
    assert_int_equal(kg_policy_remove(p, H, H, T0 + 7), KG_ERR_INVAL);
    /* a removed pid does not come back; a denied one may knock again */
    assert_join(kg_policy_join(p, 1, "Ann", false, T0 + 8), KG_JOIN_REFUSED,
                "removed");
    assert_join(kg_policy_join(p, 3, "Cy", false, T0 + 8), KG_JOIN_REFUSED,
                "removed");
    assert_join(kg_policy_join(p, 2, "Ben", false, T0 + 8), KG_JOIN_WAITING,
                "waiting_room");
    kg_policy_del(p);
}

static void test_non_host_denied(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, true);
    kg_policy_join(p, 1, "Ann", false, T0 + 1);
    kg_policy_admit(p, H, 1, T0 + 1);
    kg_policy_join(p, 2, "Ben", false, T0 + 2);
    drain(p);
    const kg_pid not_hosts[] = {1, 2, 77, 0};
    for (size_t i = 0; i < KG_ARRAY_LEN(not_hosts); i++) {
        kg_pid by = not_hosts[i];
        assert_int_equal(kg_policy_admit(p, by, 2, T0 + 3), KG_ERR_DENIED);
        assert_int_equal(kg_policy_deny(p, by, 2, T0 + 3), KG_ERR_DENIED);
        assert_int_equal(kg_policy_remove(p, by, 1, T0 + 3), KG_ERR_DENIED);
        assert_int_equal(kg_policy_lock(p, by, true, T0 + 3), KG_ERR_DENIED);
        assert_int_equal(kg_policy_mute(p, by, 1, true, T0 + 3),
                         KG_ERR_DENIED);
        assert_int_equal(kg_policy_set_share(p, by, KG_SHARE_ALL),
                         KG_ERR_DENIED);
        assert_int_equal(kg_policy_set_chat(p, by, false), KG_ERR_DENIED);
        assert_int_equal(kg_policy_set_rename(p, by, true), KG_ERR_DENIED);
        assert_int_equal(kg_policy_end(p, by, T0 + 3), KG_ERR_DENIED);
        assert_int_equal(kg_policy_handover(p, by, 1, T0 + 3),
                         KG_ERR_DENIED);
    }
    EXPECT_NONE(p);
    assert_int_equal(kg_policy_host(p), H);
    assert_false(kg_policy_locked(p));
    assert_true(kg_policy_chat_on(p));
    /* the host's settings changes go through and are announced */
    assert_int_equal(kg_policy_set_chat(p, H, false), 0);
    assert_int_equal(kg_policy_set_rename(p, H, true), 0);
    EXPECT(p, {KG_PEV_SETTINGS, 0}, {KG_PEV_SETTINGS, 0});
    assert_false(kg_policy_chat_on(p));
    assert_false(kg_policy_settings(p)->chat);
    assert_true(kg_policy_settings(p)->allow_rename);
    kg_policy_del(p);
}

/* ---- mute and share --------------------------------------------------- */

static void test_mute(void **state)
{
    (void)state;
    kg_policy *p = with_host(false, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    kg_policy_join(p, 2, "Ben", false, T0);
    drain(p);
    /* never host-muted: free to unmute */
    assert_int_equal(kg_policy_unmute_self(p, 2), 0);
    assert_false(kg_policy_is_muted(p, 2));
    assert_int_equal(kg_policy_mute(p, H, 1, true, T0 + 1), 0);
    EXPECT(p, {KG_PEV_MUTED, 1});
    assert_true(kg_policy_is_muted(p, 1));
    assert_int_equal(kg_policy_unmute_self(p, 1), KG_ERR_DENIED);
    assert_true(kg_policy_is_muted(p, 1));
    /* the host asks; Ann stays muted until she unmutes herself */
    assert_int_equal(kg_policy_mute(p, H, 1, false, T0 + 2), 0);
    EXPECT(p, {KG_PEV_UNMUTE_ASKED, 1});
    assert_true(kg_policy_is_muted(p, 1));
    assert_int_equal(kg_policy_unmute_self(p, 1), 0);
    assert_false(kg_policy_is_muted(p, 1));
    /* the ask is used up */
    assert_int_equal(kg_policy_mute(p, H, 1, true, T0 + 3), 0);
    assert_int_equal(kg_policy_unmute_self(p, 1), KG_ERR_DENIED);
    /* the host may mute and unmute itself */
    assert_int_equal(kg_policy_mute(p, H, H, true, T0 + 4), 0);
    assert_int_equal(kg_policy_unmute_self(p, H), 0);
    assert_int_equal(kg_policy_mute(p, H, 99, true, T0 + 4),
                     KG_ERR_NOTFOUND);
    assert_int_equal(kg_policy_unmute_self(p, 99), KG_ERR_NOTFOUND);
    kg_attendee a[4];
    assert_int_equal(kg_policy_attendees(p, a, 4), 3);
    assert_true(a[1].muted);
    assert_false(a[2].muted);
    kg_policy_del(p);

    /* nobody in the waiting room is muted or unmuted */
    p = with_host(true, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    assert_int_equal(kg_policy_mute(p, H, 1, true, T0), KG_ERR_NOTFOUND);
    assert_int_equal(kg_policy_unmute_self(p, 1), KG_ERR_DENIED);
    kg_policy_del(p);
}

static void test_share(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    kg_policy_admit(p, H, 1, T0);
    kg_policy_join(p, 2, "Ben", false, T0);
    drain(p);
    assert_true(kg_policy_may_share(p, H));
    assert_false(kg_policy_may_share(p, 1));
    assert_false(kg_policy_may_share(p, 2));
    assert_false(kg_policy_may_share(p, 99));
    assert_int_equal(kg_policy_set_share(p, H, (enum kg_share_policy)7),
                     KG_ERR_INVAL);
    assert_int_equal(kg_policy_set_share(p, H, KG_SHARE_ALL), 0);
    EXPECT(p, {KG_PEV_SETTINGS, 0});
    assert_int_equal(kg_policy_settings(p)->screen_share, KG_SHARE_ALL);
    assert_true(kg_policy_may_share(p, H));
    assert_true(kg_policy_may_share(p, 1));
    assert_false(kg_policy_may_share(p, 2)); /* waiting: never */
    assert_int_equal(kg_policy_set_share(p, H, KG_SHARE_HOST), 0);
    assert_false(kg_policy_may_share(p, 1));
    /* the role moves, the right to share moves with it */
    assert_int_equal(kg_policy_handover(p, H, 1, T0 + 1), 0);
    assert_true(kg_policy_may_share(p, 1));
    assert_false(kg_policy_may_share(p, H));
    kg_policy_del(p);
}

static void test_rename(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    kg_policy_admit(p, H, 1, T0);
    kg_policy_join(p, 2, "Ben", false, T0); /* stays waiting */
    drain(p);
    /* off by default: participants may not, the host may */
    assert_int_equal(kg_policy_rename(p, 1, "Annie"), KG_ERR_DENIED);
    assert_int_equal(kg_policy_rename(p, H, "Hana (host)"), 0);
    EXPECT(p, {KG_PEV_RENAMED, H});
    assert_int_equal(kg_policy_set_rename(p, H, true), 0);
    EXPECT(p, {KG_PEV_SETTINGS, 0});
    assert_int_equal(kg_policy_rename(p, 1, "iPhone"), 0);
    EXPECT(p, {KG_PEV_RENAMED, 1});
    assert_int_equal(kg_policy_rename(p, 2, "Benji"), KG_ERR_NOTFOUND);
    assert_int_equal(kg_policy_rename(p, 77, "Nobody"), KG_ERR_NOTFOUND);
    kg_attendee a[8];
    size_t n = kg_policy_attendees(p, a, 8);
    assert_int_equal(n, 3);
    assert_string_equal(a[1].nickname, "iPhone");
    assert_true(a[1].generic_name); /* the flag follows the new name */
    assert_int_equal(kg_policy_end(p, H, T0 + 1), 0);
    assert_int_equal(kg_policy_rename(p, H, "Later"), KG_ERR_STATE);
    kg_policy_del(p);
}

/* ---- host hand-over --------------------------------------------------- */

static void test_handover(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    kg_policy_admit(p, H, 1, T0);
    kg_policy_join(p, 2, "Ben", false, T0);
    drain(p);
    assert_int_equal(kg_policy_handover(p, H, 2, T0), KG_ERR_NOTFOUND);
    assert_int_equal(kg_policy_handover(p, H, 99, T0), KG_ERR_NOTFOUND);
    assert_int_equal(kg_policy_handover(p, H, H, T0), KG_ERR_INVAL);
    EXPECT_NONE(p);
    assert_int_equal(kg_policy_handover(p, H, 1, T0 + 1), 0);
    /* Ben waits: the new host is shown the list */
    EXPECT(p, {KG_PEV_HOST, 1}, {KG_PEV_WAITING_LIST, 0});
    assert_int_equal(kg_policy_host(p), 1);
    assert_int_equal(kg_policy_admit(p, H, 2, T0 + 2), KG_ERR_DENIED);
    assert_int_equal(kg_policy_admit(p, 1, 2, T0 + 2), 0);
    kg_policy_del(p);
}

static void test_leave(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, false);
    kg_policy_join(p, 1, "Ann", false, T0);
    kg_policy_admit(p, H, 1, T0);
    kg_policy_join(p, 2, "Ben", false, T0);
    drain(p);
    /* others are in: the host must name an admitted successor */
    assert_int_equal(kg_policy_leave(p, H, 0, T0 + 1), KG_ERR_INVAL);
    assert_int_equal(kg_policy_leave(p, H, 2, T0 + 1), KG_ERR_INVAL);
    assert_int_equal(kg_policy_leave(p, H, 99, T0 + 1), KG_ERR_INVAL);
    assert_int_equal(kg_policy_leave(p, H, H, T0 + 1), KG_ERR_INVAL);
    EXPECT_NONE(p);
    assert_int_equal(kg_policy_host(p), H);
    assert_true(kg_policy_is_admitted(p, H));
    assert_int_equal(kg_policy_leave(p, H, 1, T0 + 2), 0);
    EXPECT(p, {KG_PEV_LEFT, H}, {KG_PEV_HOST, 1}, {KG_PEV_WAITING_LIST, 0});
    assert_int_equal(kg_policy_host(p), 1);
    assert_false(kg_policy_is_admitted(p, H));
    assert_int_equal(kg_policy_leave(p, H, 0, T0 + 2), KG_ERR_NOTFOUND);
    /* a waiting one leaves: only the list changes */
    assert_int_equal(kg_policy_leave(p, 2, 0, T0 + 3), 0);
    EXPECT(p, {KG_PEV_WAITING_LIST, 0});
    /* last one out: no successor needed, none allowed */
    assert_int_equal(kg_policy_leave(p, 1, 2, T0 + 4), KG_ERR_INVAL);
    assert_int_equal(kg_policy_leave(p, 1, 0, T0 + 4), 0);
    EXPECT(p, {KG_PEV_LEFT, 1});
    assert_int_equal(kg_policy_host(p), 0);
    /* hostless again: join_before_host is off, newcomers wait */
    assert_join(kg_policy_join(p, 3, "Cy", false, T0 + 5), KG_JOIN_WAITING,
                "no_host");
    kg_policy_del(p);

    /* a non-host's leave ignores new_host */
    p = with_host(false, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    drain(p);
    assert_int_equal(kg_policy_leave(p, 1, 5, T0 + 1), 0);
    EXPECT(p, {KG_PEV_LEFT, 1});
    assert_int_equal(kg_policy_host(p), H);
    kg_policy_del(p);
}

static void test_drop_rejoin_within_grace(void **state)
{
    (void)state;
    kg_policy *p = mk(false, false);
    kg_policy_join(p, H, "Hana", true, T0);
    kg_policy_join(p, 1, "Ann", false, T0 + KG_SEC);
    drain(p);
    kg_time drop = T0 + 10 * KG_SEC;
    kg_policy_drop(p, H, drop);
    EXPECT(p, {KG_PEV_LEFT, H});
    /* the role is held through the grace */
    assert_int_equal(kg_policy_host(p), H);
    assert_false(kg_policy_is_admitted(p, H));
    assert_int_equal(kg_policy_deadline(p), drop + KG_HOST_GRACE);
    /* newcomers are not held for "no_host" while the host reconnects */
    assert_join(kg_policy_join(p, 2, "Ben", false, drop + 1),
                KG_JOIN_ADMITTED, NULL);
    /* the old pid is still the host's: not a new participant */
    assert_join(kg_policy_join(p, H, "Hana", false, drop + 2),
                KG_JOIN_REFUSED, "duplicate");
    drain(p);
    kg_policy_on_timeout(p, drop + KG_HOST_GRACE - 1);
    EXPECT_NONE(p);
    assert_int_equal(kg_policy_rejoin_host(p, 0, drop + 5), KG_ERR_INVAL);
    assert_int_equal(kg_policy_rejoin_host(p, 50, drop + KG_HOST_GRACE - 1),
                     0);
    EXPECT(p, {KG_PEV_ADMITTED, 50}, {KG_PEV_JOINED, 50}, {KG_PEV_HOST, 50});
    assert_int_equal(kg_policy_host(p), 50);
    assert_int_equal(kg_policy_deadline(p), ENDS + 1);
    /* the same nickname, and still the longest present */
    kg_attendee a[4];
    assert_int_equal(kg_policy_attendees(p, a, 4), 3);
    assert_int_equal(a[0].pid, 50);
    assert_string_equal(a[0].nickname, "Hana");
    assert_true(a[0].host);
    assert_int_equal(a[0].joined, T0);
    assert_int_equal(kg_policy_rejoin_host(p, 51, drop + KG_HOST_GRACE - 1),
                     KG_ERR_STATE);
    kg_policy_del(p);
}

static void test_drop_rejoin_by_host_key_join(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, false);
    kg_policy_join(p, 1, "Ann", false, T0);
    drain(p);
    kg_policy_drop(p, H, T0 + 1);
    drain(p);
    /* the host key during the grace brings the role back */
    assert_join(kg_policy_join(p, 60, "Hana phone", true, T0 + 2),
                KG_JOIN_ADMITTED, NULL);
    EXPECT(p, {KG_PEV_ADMITTED, 60}, {KG_PEV_JOINED, 60}, {KG_PEV_HOST, 60},
           {KG_PEV_WAITING_LIST, 0});
    assert_int_equal(kg_policy_host(p), 60);
    assert_int_equal(kg_policy_admit(p, 60, 1, T0 + 3), 0);
    kg_policy_del(p);

    /* a pid already in, or waiting, may take the role back */
    p = with_host(true, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    kg_policy_admit(p, H, 1, T0);
    kg_policy_join(p, 2, "Ben", false, T0);
    kg_policy_drop(p, H, T0 + 1);
    drain(p);
    assert_int_equal(kg_policy_rejoin_host(p, 2, T0 + 2), 0);
    EXPECT(p, {KG_PEV_ADMITTED, 2}, {KG_PEV_JOINED, 2}, {KG_PEV_HOST, 2},
           {KG_PEV_WAITING_LIST, 0});
    assert_true(kg_policy_is_admitted(p, 2));
    kg_policy_drop(p, 2, T0 + 3);
    drain(p);
    assert_int_equal(kg_policy_rejoin_host(p, 1, T0 + 4), 0);
    EXPECT(p, {KG_PEV_HOST, 1});
    kg_policy_del(p);
}

static void test_drop_grace_expiry(void **state)
{
    (void)state;
    kg_policy *p = mk(true, true);
    /* pids in reverse of their join order: the join time decides */
    kg_policy_join(p, 30, "Early", false, T0 + 1); /* waits longest... */
    kg_policy_join(p, 20, "Second", false, T0 + 2);
    kg_policy_join(p, 10, "Third", false, T0 + 3);
    kg_policy_join(p, H, "Hana", true, T0 + 4);
    kg_policy_admit(p, H, 20, T0 + 5); /* ...but 20 is admitted first */
    kg_policy_admit(p, 10, 10, T0 + 6);
    kg_policy_admit(p, H, 10, T0 + 6);
    kg_policy_admit(p, H, 30, T0 + 7);
    drain(p);
    kg_time drop = T0 + 100 * KG_SEC;
    kg_policy_drop(p, H, drop);
    drain(p);
    kg_policy_on_timeout(p, drop + KG_HOST_GRACE - 1);
    EXPECT_NONE(p);
    kg_policy_on_timeout(p, drop + KG_HOST_GRACE);
    EXPECT(p, {KG_PEV_HOST, 20});
    assert_int_equal(kg_policy_host(p), 20);
    assert_int_equal(kg_policy_rejoin_host(p, 70, drop + KG_HOST_GRACE),
                     KG_ERR_STATE);
    kg_policy_del(p);

    /* equal join times: arrival order, not pid, breaks the tie */
    p = mk(false, true);
    kg_policy_join(p, 9, "A", false, T0);
    kg_policy_join(p, 3, "B", false, T0);
    kg_policy_join(p, H, "Hana", true, T0);
    kg_policy_drop(p, H, T0 + 1);
    drain(p);
    /* a late timer: any call with a time runs the expiry first */
    assert_join(kg_policy_join(p, 4, "C", false, T0 + 1 + KG_HOST_GRACE),
                KG_JOIN_ADMITTED, NULL);
    EXPECT(p, {KG_PEV_HOST, 9}, {KG_PEV_ADMITTED, 4}, {KG_PEV_JOINED, 4});
    kg_policy_del(p);
}

static void test_drop_grace_expiry_empty(void **state)
{
    (void)state;
    kg_policy *p = mk(true, false);
    kg_policy_join(p, H, "Hana", true, T0);
    kg_policy_join(p, 1, "Ann", false, T0);
    kg_policy_drop(p, H, T0 + 1);
    drain(p);
    kg_policy_on_timeout(p, T0 + 1 + KG_HOST_GRACE);
    EXPECT_NONE(p); /* nobody to take the role */
    assert_int_equal(kg_policy_host(p), 0);
    assert_int_equal(kg_policy_deadline(p), ENDS + 1);
    assert_join(kg_policy_join(p, 2, "Ben", false, T0 + 2 * KG_HOST_GRACE),
                KG_JOIN_WAITING, "no_host");
    drain(p);
    /* a host key now starts a fresh host; Ann and Ben wait for its admit */
    assert_join(kg_policy_join(p, 3, "Hana", true, T0 + 3 * KG_HOST_GRACE),
                KG_JOIN_ADMITTED, NULL);
    EXPECT(p, {KG_PEV_ADMITTED, 3}, {KG_PEV_JOINED, 3}, {KG_PEV_HOST, 3},
           {KG_PEV_WAITING_LIST, 0});
    kg_policy_del(p);
}

static void test_non_host_drop(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    kg_policy_join(p, 2, "Ben", false, T0);
    kg_policy_admit(p, H, 1, T0);
    drain(p);
    kg_policy_drop(p, 1, T0 + 1);
    EXPECT(p, {KG_PEV_LEFT, 1});
    kg_policy_drop(p, 2, T0 + 1);
    EXPECT(p, {KG_PEV_WAITING_LIST, 0});
    kg_policy_drop(p, 99, T0 + 1);
    EXPECT_NONE(p);
    assert_int_equal(kg_policy_deadline(p), ENDS + 1);
    assert_int_equal(kg_policy_rejoin_host(p, 5, T0 + 2), KG_ERR_STATE);
    kg_policy_del(p);
}

/* ---- the end ---------------------------------------------------------- */

static void test_end_by_host(void **state)
{
    (void)state;
    kg_policy *p = with_host(true, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    kg_policy_admit(p, H, 1, T0);
    kg_policy_join(p, 2, "Ben", false, T0);
    drain(p);
    assert_int_equal(kg_policy_end(p, 1, T0 + 1), KG_ERR_DENIED);
    assert_int_equal(kg_policy_end(p, H, T0 + 1), 0);
    EXPECT(p, {KG_PEV_ENDED, 0});
    assert_join(kg_policy_join(p, 3, "Cy", false, T0 + 2), KG_JOIN_REFUSED,
                "ended");
    assert_join(kg_policy_join(p, 4, "Hana", true, T0 + 2), KG_JOIN_REFUSED,
                "ended");
    assert_int_equal(kg_policy_admit(p, H, 2, T0 + 2), KG_ERR_STATE);
    assert_int_equal(kg_policy_lock(p, H, true, T0 + 2), KG_ERR_STATE);
    assert_int_equal(kg_policy_set_chat(p, H, false), KG_ERR_STATE);
    assert_int_equal(kg_policy_end(p, H, T0 + 2), KG_ERR_STATE);
    assert_int_equal(kg_policy_leave(p, 1, 0, T0 + 2), KG_ERR_STATE);
    assert_int_equal(kg_policy_unmute_self(p, 1), KG_ERR_STATE);
    kg_policy_drop(p, H, T0 + 2);
    kg_policy_on_timeout(p, ENDS + 1);
    EXPECT_NONE(p);
    assert_false(kg_policy_is_admitted(p, 1));
    assert_false(kg_policy_may_share(p, H));
    assert_int_equal(kg_policy_deadline(p), KG_TIME_NEVER);
    kg_policy_del(p);
}

static void test_end_at_meeting_end(void **state)
{
    (void)state;
    kg_policy *p = with_host(false, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    kg_policy_drop(p, H, ENDS - 5 * KG_SEC); /* grace runs past the end */
    drain(p);
    assert_int_equal(kg_policy_deadline(p), ENDS + 1);
    kg_policy_on_timeout(p, ENDS);
    EXPECT_NONE(p);
    kg_policy_on_timeout(p, ENDS + 1);
    EXPECT(p, {KG_PEV_ENDED, 0});
    assert_int_equal(kg_policy_rejoin_host(p, 9, ENDS + 2), KG_ERR_STATE);
    kg_policy_del(p);
}

/* ---- attendees and names ---------------------------------------------- */

static void test_attendees(void **state)
{
    (void)state;
    kg_policy *p = mk(true, true);
    kg_policy_join(p, 5, "iPhone", false, T0 + 1);     /* waits first */
    kg_policy_join(p, H, "Hana Sato", true, T0 + 2);
    kg_policy_join(p, 6, "Kenji", false, T0 + 3);
    kg_policy_join(p, 7, "user123", false, T0 + 4);
    kg_policy_admit(p, H, 7, T0 + 5);
    kg_policy_admit(p, H, 6, T0 + 6);
    kg_attendee a[8];
    assert_int_equal(kg_policy_attendees(p, a, 8), 4);
    const kg_pid order[] = {H, 7, 6, 5};
    for (size_t i = 0; i < 4; i++)
        assert_int_equal(a[i].pid, order[i]);
    assert_true(a[0].host);
    assert_false(a[0].generic_name);
    assert_int_equal(a[0].joined, T0 + 2);
    assert_false(a[1].host);
    assert_true(a[1].generic_name);
    assert_int_equal(a[1].joined, T0 + 5);
    assert_false(a[2].generic_name);
    assert_int_equal(a[2].joined, T0 + 6);
    assert_true(a[3].waiting);
    assert_true(a[3].generic_name);
    assert_int_equal(a[3].joined, 0);
    assert_string_equal(a[3].nickname, "iPhone");
    assert_int_equal(kg_policy_attendees(p, a, 2), 2);
    assert_int_equal(a[1].pid, 7);
    assert_int_equal(kg_policy_attendees(p, a, 0), 0);
    kg_policy_del(p);
}

static void test_generic_names(void **state)
{
    (void)state;
    static const char *const generic[] = {
        "iPhone", "IPAD", "android", "User", "guest", "Zoom User",
        "zoom   user", "test", "Admin", "HOST", "participant", "Unknown",
        "anonymous", "me", "ME", "x", "\xc3\xa9", "12345", "  007  ",
        "user123", "User 7", "iPhone 12", "", "   ", NULL, "Guest2",
    };
    static const char *const named[] = {
        "Hana", "John's iPhone", "Mr User", "Tester", "Jo", "Zoomuser",
        "user name", "R2D2", "\xe5\xb1\xb1\xe7\x94\xb0", "A.B.", "meg",
        "hosting", "123abc",
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(generic); i++)
        if (!kg_nickname_generic(generic[i]))
            fail_msg("\"%s\" should be generic", generic[i]);
    for (size_t i = 0; i < KG_ARRAY_LEN(named); i++)
        if (kg_nickname_generic(named[i]))
            fail_msg("\"%s\" should not be generic", named[i]);
}

/* ---- capacity and the event queue ------------------------------------ */

static void test_full_meeting(void **state)
{
    (void)state;
    kg_policy *p = mk(false, false);
    /* KG_POLICY_MAX - 1 wait for a host without draining in between */
    for (kg_pid i = 1; i < KG_POLICY_MAX; i++)
        assert_join(kg_policy_join(p, i, "p", false, T0 + i),
                    KG_JOIN_WAITING, "no_host");
    drain(p);
    /* the largest burst one call makes: all fit, nothing is dropped */
    assert_join(kg_policy_join(p, H, "Hana", true, T0 + KG_SEC),
                KG_JOIN_ADMITTED, NULL);
    kg_policy_ev ev;
    size_t n = 0, admitted = 0, host = 0;
    while (kg_policy_next_event(p, &ev)) {
        n++;
        admitted += ev.type == KG_PEV_ADMITTED;
        host += ev.type == KG_PEV_HOST;
    }
    assert_int_equal(admitted, KG_POLICY_MAX);
    assert_int_equal(host, 1);
    assert_int_equal(n, 2 * KG_POLICY_MAX + 2);
    assert_true(n <= 2 * KG_POLICY_MAX + 4);
    assert_int_equal(kg_policy_events_dropped(p), 0);
    /* full: the next one is turned away, waiting room or not */
    assert_join(kg_policy_join(p, 500, "late", false, T0 + 2 * KG_SEC),
                KG_JOIN_REFUSED, "full");
    kg_attendee a[KG_POLICY_MAX + 1];
    assert_int_equal(kg_policy_attendees(p, a, KG_POLICY_MAX + 1),
                     KG_POLICY_MAX);
    /* one leaves, one gets in */
    assert_int_equal(kg_policy_leave(p, 10, 0, T0 + 3 * KG_SEC), 0);
    assert_join(kg_policy_join(p, 500, "late", false, T0 + 3 * KG_SEC),
                KG_JOIN_ADMITTED, NULL);
    kg_policy_del(p);
}

static void test_event_overflow_drops_notices(void **state)
{
    (void)state;
    kg_policy *p = with_host(false, true);
    kg_policy_join(p, 1, "Ann", false, T0);
    drain(p);
    /* a caller that never drains: commands first, then a flood of
     * notices; the oldest notices go, never a command */
    assert_int_equal(kg_policy_mute(p, H, 1, true, T0), 0);
    for (int i = 0; i < 2 * KG_POLICY_EVQ; i++)
        assert_int_equal(kg_policy_lock(p, H, i % 2 == 0, T0), 0);
    assert_int_equal(kg_policy_handover(p, H, 1, T0), 0);
    assert_int_equal(kg_policy_events_dropped(p), KG_POLICY_EVQ + 2);
    kg_policy_ev ev;
    assert_int_equal(kg_policy_next_event(p, &ev), 1);
    assert_int_equal(ev.type, KG_PEV_MUTED);
    size_t n = 1;
    while (kg_policy_next_event(p, &ev)) {
        n++;
        if (n < KG_POLICY_EVQ)
            assert_int_equal(ev.type, KG_PEV_SETTINGS);
    }
    assert_int_equal(ev.type, KG_PEV_HOST);
    assert_int_equal(n, KG_POLICY_EVQ);
    kg_policy_del(p);
}

static void test_bad_meeting_times(void **state)
{
    (void)state;
    assert_null(kg_policy_new(NULL));
    kg_meeting m;
    memset(&m, 0, sizeof(m));
    m.start = 100; /* opens before the epoch */
    m.duration = 60;
    kg_policy *p = kg_policy_new(&m);
    assert_non_null(p);
    assert_join(kg_policy_join(p, 1, "a b", true, 0), KG_JOIN_ADMITTED,
                NULL);
    assert_int_equal(kg_policy_deadline(p), 160 * KG_SEC + 1);
    kg_policy_del(p);
    m.start = INT64_MAX - 10;
    m.duration = 86400;
    p = kg_policy_new(&m);
    assert_non_null(p);
    assert_join(kg_policy_join(p, 1, "a b", true, T0), KG_JOIN_REFUSED,
                "not_open");
    kg_policy_del(p);
    kg_policy_del(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_window_edges_pin),
        cmocka_unit_test(test_window_edges_host),
        cmocka_unit_test(test_window_deadline),
        cmocka_unit_test(test_no_wr_no_jbh),
        cmocka_unit_test(test_no_wr_jbh),
        cmocka_unit_test(test_wr_no_jbh),
        cmocka_unit_test(test_wr_jbh),
        cmocka_unit_test(test_second_host_key),
        cmocka_unit_test(test_duplicate_invalid),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_lock_keeps_owner_in),
        cmocka_unit_test(test_admit_deny_remove),
        cmocka_unit_test(test_non_host_denied),
        cmocka_unit_test(test_mute),
        cmocka_unit_test(test_share),
        cmocka_unit_test(test_rename),
        cmocka_unit_test(test_handover),
        cmocka_unit_test(test_leave),
        cmocka_unit_test(test_drop_rejoin_within_grace),
        cmocka_unit_test(test_drop_rejoin_by_host_key_join),
        cmocka_unit_test(test_drop_grace_expiry),
        cmocka_unit_test(test_drop_grace_expiry_empty),
        cmocka_unit_test(test_non_host_drop),
        cmocka_unit_test(test_end_by_host),
        cmocka_unit_test(test_end_at_meeting_end),
        cmocka_unit_test(test_attendees),
        cmocka_unit_test(test_generic_names),
        cmocka_unit_test(test_full_meeting),
        cmocka_unit_test(test_event_overflow_drops_notices),
        cmocka_unit_test(test_bad_meeting_times),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
