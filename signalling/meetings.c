/* Scheduled meetings on the signalling thread: credentials (PIN, invite,
 * host key) checked against the store, failures rate limited per address
 * and per meeting, the live policy (signalling/policy.h) deciding who is
 * in, and its events turned into messages and media-worker commands. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signalling/sfu_internal.h"

/* A participant of meeting lv by its protocol ID (in or waiting). */
static kg_session *session_by_id(kg_sfu *s, const live *lv, const char *id)
{
    if (!id)
        return NULL;
    for (kg_session *ss = s->sessions; ss; ss = ss->next) {
        if (ss->live == lv && strcmp(ss->id, id) == 0)
            return ss;
    }
    return NULL;
}

/* The media room of a meeting, created on first entry. */
static sroom *meeting_room(kg_sfu *s, const live *lv)
{
    char name[32];
    snprintf(name, sizeof(name), "mtg:%s", lv->m.id);
    const char *code;
    return sfu_admit(s, name, &code);
}

static void audit(kg_sfu *s, const live *lv, const char *event,
                  const char *nickname)
{
    kg_store_audit(s->store, lv->m.id, event, nickname,
                   (int64_t)(sfu_wall_now() / KG_SEC));
}

static json_t *waiting_list_json(const live *lv)
{
    kg_attendee a[KG_POLICY_MAX];
    size_t n = kg_policy_attendees(lv->policy, a, KG_POLICY_MAX);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (!a[i].waiting)
            continue;
        json_array_append_new(arr, json_pack("{s:I, s:s, s:b}", "num",
                                             (json_int_t)a[i].pid, "name",
                                             a[i].nickname, "generic",
                                             a[i].generic_name));
    }
    return arr;
}

/* Replaces the policy's pid numbers by protocol IDs in a list. */
static json_t *with_ids(kg_sfu *s, json_t *arr)
{
    size_t i;
    json_t *e;
    json_array_foreach(arr, i, e)
    {
        kg_session *t = sfu_session_by_num(
            s, (uint64_t)json_integer_value(json_object_get(e, "num")));
        json_object_set_new(e, "id", json_string(t ? t->id : ""));
        json_object_del(e, "num");
    }
    return arr;
}

static json_t *attendees_json(kg_sfu *s, const live *lv)
{
    kg_attendee a[KG_POLICY_MAX];
    size_t n = kg_policy_attendees(lv->policy, a, KG_POLICY_MAX);
    json_t *arr = json_array();
    for (size_t i = 0; i < n; i++) {
        if (a[i].waiting)
            continue;
        kg_session *t = sfu_session_by_num(s, a[i].pid);
        char when[32];
        kg_rfc3339_format((int64_t)(a[i].joined / KG_SEC), when);
        /* legacy_srtp: a transport of theirs runs AES-CM (kaigi with
         * --allow-legacy-srtp), weaker than everyone else's GCM. */
        bool legacy = t && (t->srtp_profile[0] == KG_SRTP_AES128_CM_SHA1_80 ||
                            t->srtp_profile[1] == KG_SRTP_AES128_CM_SHA1_80);
        json_array_append_new(
            arr, json_pack("{s:s, s:s, s:s, s:b, s:b, s:b, s:b}", "id",
                           t ? t->id : "", "name", a[i].nickname, "joined_at",
                           when, "host", a[i].host, "muted", a[i].muted,
                           "generic", a[i].generic_name, "legacy_srtp",
                           legacy));
    }
    return arr;
}

json_t *sfu_settings_msg(const live *lv)
{
    const kg_meeting_settings *st = kg_policy_settings(lv->policy);
    return json_pack("{s:s, s:b, s:s, s:b, s:b}", "type", "settings",
                     "locked", kg_policy_locked(lv->policy), "screen_share",
                     st->screen_share == KG_SHARE_ALL ? "all" : "host",
                     "chat", st->chat, "allow_rename", st->allow_rename);
}

/* Sends msg to every admitted participant of lv (a new reference each). */
static void broadcast(kg_sfu *s, const live *lv, json_t *msg)
{
    for (kg_session *o = s->sessions; o; o = o->next) {
        if (o->live == lv && o->room)
            sfu_send_json(o, json_deep_copy(msg));
    }
    json_decref(msg);
}

static void enforce_share(kg_sfu *s, const live *lv)
{
    for (kg_session *o = s->sessions; o; o = o->next) {
        if (o->live == lv && o->room)
            sfu_enforce_share(o);
    }
}

static void to_host(kg_sfu *s, const live *lv, json_t *msg)
{
    kg_session *h = sfu_session_by_num(s, kg_policy_host(lv->policy));
    if (h && h->room)
        sfu_send_json(h, msg);
    else
        json_decref(msg);
}

void sfu_transport_connected(kg_session *ss)
{
    if (ss->live && (ss->srtp_profile[0] == KG_SRTP_AES128_CM_SHA1_80 ||
                     ss->srtp_profile[1] == KG_SRTP_AES128_CM_SHA1_80))
        to_host(ss->sfu, ss->live,
                json_pack("{s:s, s:o}", "type", "attendees", "attendees",
                          attendees_json(ss->sfu, ss->live)));
}

static void post_mute(kg_session *ss, bool mute)
{
    kg_worker_cmd c = {.type = KG_CMD_MUTE,
                       .participant = ss->num,
                       .mute = mute};
    sfu_post(ss, &c);
}

static void dispatch(kg_sfu *s, live *lv, const kg_policy_ev *ev)
{
    kg_session *t = sfu_session_by_num(s, ev->pid);
    switch (ev->type) {
    case KG_PEV_ADMITTED:
        if (t && t->waiting) {
            audit(s, lv, "admitted", t->name);
            sfu_enter_room(t, meeting_room(s, lv));
        }
        break;
    case KG_PEV_DENIED:
        audit(s, lv, "denied", ev->nickname);
        if (t) {
            sfu_send_json(t, json_pack("{s:s}", "type", "denied"));
            t->live = NULL;
            s->ops.close(t->conn);
        }
        break;
    case KG_PEV_REMOVED:
        audit(s, lv, "removed", ev->nickname);
        if (t) {
            sfu_send_json(t, json_pack("{s:s}", "type", "removed"));
            sfu_leave_room(t); /* transports close now, not at socket close */
            t->live = NULL;
            s->ops.close(t->conn);
        }
        break;
    case KG_PEV_HOST:
        if (t) {
            audit(s, lv, "host", t->name);
            broadcast(s, lv, json_pack("{s:s, s:s}", "type", "host",
                                       "participant", t->id));
            enforce_share(s, lv);
            to_host(s, lv, json_pack("{s:s, s:o}", "type", "attendees",
                                     "attendees", attendees_json(s, lv)));
        }
        break;
    case KG_PEV_JOINED:
    case KG_PEV_LEFT:
        if (ev->type == KG_PEV_LEFT)
            audit(s, lv, "left", ev->nickname);
        if (ev->pid == kg_policy_host(lv->policy))
            break; /* no notice to the host about itself */
        to_host(s, lv, json_pack("{s:s, s:{s:s, s:s}}", "type",
                                 ev->type == KG_PEV_JOINED ? "join_notice"
                                                           : "leave_notice",
                                 "participant", "id", t ? t->id : "", "name",
                                 ev->nickname));
        to_host(s, lv, json_pack("{s:s, s:o}", "type", "attendees",
                                 "attendees", attendees_json(s, lv)));
        break;
    case KG_PEV_WAITING_LIST:
        to_host(s, lv, json_pack("{s:s, s:o}", "type", "waiting_list",
                                 "waiting",
                                 with_ids(s, waiting_list_json(lv))));
        break;
    case KG_PEV_LOCKED_OUT:
        to_host(s, lv, json_pack("{s:s, s:s}", "type", "lock_attempt",
                                 "name", ev->nickname));
        break;
    case KG_PEV_MUTED:
        if (t)
            post_mute(t, true);
        if (t)
            sfu_send_json(t, json_pack("{s:s}", "type", "muted"));
        break;
    case KG_PEV_UNMUTE_ASKED:
        if (t)
            sfu_send_json(t, json_pack("{s:s}", "type", "unmute_request"));
        break;
    case KG_PEV_SETTINGS:
        broadcast(s, lv, sfu_settings_msg(lv));
        enforce_share(s, lv);
        break;
    case KG_PEV_RENAMED:
        if (t) {
            snprintf(t->name, sizeof(t->name), "%s", ev->nickname);
            broadcast(s, lv, json_pack("{s:s, s:s, s:s}", "type", "renamed",
                                       "participant", t->id, "name",
                                       t->name));
            to_host(s, lv, json_pack("{s:s, s:o}", "type", "attendees",
                                     "attendees", attendees_json(s, lv)));
        }
        break;
    case KG_PEV_ENDED:
        audit(s, lv, "ended", NULL);
        for (kg_session *o = s->sessions; o; o = o->next) {
            if (o->live != lv)
                continue;
            sfu_send_json(o, json_pack("{s:s}", "type", "ended"));
            sfu_leave_room(o);
            o->live = NULL;
            s->ops.close(o->conn);
        }
        break;
    }
}

void sfu_drain(kg_sfu *s, live *lv)
{
    kg_policy_ev ev;
    while (kg_policy_next_event(lv->policy, &ev) == 1)
        dispatch(s, lv, &ev);
}

static live *live_get(kg_sfu *s, const kg_meeting *m)
{
    for (live *lv = s->lives; lv; lv = lv->next) {
        if (strcmp(lv->m.id, m->id) == 0)
            return lv;
    }
    live *lv = calloc(1, sizeof(*lv));
    if (!lv)
        return NULL;
    lv->m = *m;
    lv->policy = kg_policy_new(m);
    if (!lv->policy) {
        free(lv);
        return NULL;
    }
    lv->next = s->lives;
    s->lives = lv;
    return lv;
}

/* Rate limits: the key of this source and of a meeting. */
static size_t rl_key(char *out, size_t cap, const char *kind, const char *v)
{
    int n = snprintf(out, cap, "%s:%s", kind, v);
    return n < 0 ? 0 : (size_t)n < cap ? (size_t)n : cap - 1;
}

static void refuse_locked_out(kg_session *ss, kg_time until, kg_time now)
{
    json_int_t retry = (json_int_t)((until - now + KG_SEC - 1) / KG_SEC);
    ss->sfu->errors++;
    sfu_send_json(ss, json_pack("{s:s, s:s, s:s, s:I}", "type", "error", "code",
                            "locked_out", "message",
                            "too many failed attempts; try again later",
                            "retry_after", retry));
    ss->sfu->ops.close(ss->conn);
}

/* Is this source locked out (after its own failures, or after one failure
 * against a meeting under attack)? Answers the client if so. */
static bool rate_limited(kg_session *ss, kg_time now)
{
    kg_sfu *s = ss->sfu;
    char key[96];
    kg_time until = 0;
    size_t n = rl_key(key, sizeof(key), "a", ss->source);
    if (kg_ratelimit_check(s->rl_source, key, n, now, &until) != 0 ||
        kg_ratelimit_check(s->rl_strict, key, n, now, &until) != 0) {
        refuse_locked_out(ss, until, now);
        return true;
    }
    return false;
}

/* A meeting is under attack when its failures from all sources pass the
 * per-meeting limit. Then every source gets one wrong try before its own
 * lock-out, but a right credential still gets in: a storm must not lock
 * the meeting's real participants out. */
static bool under_attack(kg_sfu *s, const char *meeting, kg_time now)
{
    char key[96];
    kg_time until;
    if (!meeting)
        return false;
    size_t n = rl_key(key, sizeof(key), "m", meeting);
    return kg_ratelimit_check(s->rl_meeting, key, n, now, &until) != 0;
}

/* A source was just locked out until until: the operator's log names it
 * (operators need it to block; never the credential tried), the
 * meeting's audit counts it (no address there). */
static void note_lockout(kg_session *ss, const char *meeting, bool known,
                         kg_time until, kg_time now)
{
    kg_sfu *s = ss->sfu;
    s->lockouts_source++;
    fprintf(stderr,
            "kaigi: lock-out: %s (source %s) for %llu s after failed "
            "credentials%s%s\n",
            ss->peer, ss->source,
            (unsigned long long)((until - now + KG_SEC - 1) / KG_SEC),
            known ? " for meeting " : "", known ? meeting : "");
    if (known)
        kg_store_audit(s->store, meeting, "locked_out", NULL,
                       (int64_t)(now / KG_SEC));
}

/* Counts a failed credential and refuses the join. */
static void credential_failed(kg_session *ss, const char *meeting,
                              kg_time now)
{
    kg_sfu *s = ss->sfu;
    char key[96];
    kg_time until;
    kg_meeting m;
    bool known = meeting && kg_store_meeting_get(s->store, meeting, &m) == 0;
    s->pin_failures++;
    if (known)
        kg_store_audit(s->store, meeting, "credential_failed", NULL,
                       (int64_t)(now / KG_SEC));
    size_t n = rl_key(key, sizeof(key), "a", ss->source);
    if (kg_ratelimit_fail(s->rl_source, key, n, now, &until) != 0)
        note_lockout(ss, meeting, known, until, now);
    if (under_attack(s, meeting, now) &&
        kg_ratelimit_fail(s->rl_strict, key, n, now, &until) != 0)
        note_lockout(ss, meeting, known, until, now);
    if (meeting) {
        n = rl_key(key, sizeof(key), "m", meeting);
        if (kg_ratelimit_fail(s->rl_meeting, key, n, now, &until) != 0) {
            s->lockouts_meeting++;
            if (known) {
                fprintf(stderr, "kaigi: meeting %s is under attack: %s\n",
                        meeting, "many failed credentials from several "
                                 "sources; each gets one try for a while");
                kg_store_audit(s->store, meeting, "under_attack", NULL,
                               (int64_t)(now / KG_SEC));
            }
            for (live *lv = s->lives; lv; lv = lv->next) {
                if (strcmp(lv->m.id, meeting) == 0)
                    to_host(s, lv,
                            json_pack("{s:s, s:s}", "type", "under_attack",
                                      "message",
                                      "many wrong PINs for this meeting "
                                      "from several addresses: each gets "
                                      "one try for a while"));
            }
        }
    }
    sfu_send_error(ss, "wrong_credentials",
               "meeting, PIN, host key or invite not valid");
    s->ops.close(ss->conn);
}

/* Answers a join that the meeting's window refuses: why is "not_open"
 * (with opens_at, Unix seconds) or "ended"; the socket closes. */
static void refuse_join(kg_session *ss, const char *why, int64_t opens_at)
{
    json_t *e = json_pack("{s:s, s:s, s:s}", "type", "error", "code", why,
                          "message", "cannot join now");
    if (strcmp(why, "not_open") == 0) {
        char when[32];
        kg_rfc3339_format(opens_at, when);
        json_object_set_new(e, "opens_at", json_string(when));
    }
    ss->sfu->errors++;
    sfu_send_json(ss, e);
    ss->sfu->ops.close(ss->conn);
}

/* Outside its window a meeting answers every PIN and host key the same
 * (not_open or ended) without checking it: a guess before the meeting
 * opens or after it ended proves nothing and costs no try; an invite is
 * not spent. Returns true
 * after answering so. An unknown ID falls through to the credential
 * check, which refuses it as any wrong credential. */
static bool outside_window(kg_session *ss, const char *mid, kg_time now)
{
    kg_meeting m;
    if (kg_store_meeting_get(ss->sfu->store, mid, &m) != 0)
        return false;
    int64_t now_s = (int64_t)(now / KG_SEC);
    if (now_s < kg_meeting_opens(&m)) {
        refuse_join(ss, "not_open", kg_meeting_opens(&m));
        return true;
    }
    if (now_s > kg_meeting_ends(&m)) {
        refuse_join(ss, "ended", 0);
        return true;
    }
    return false;
}

/* Checks the credential and finds the meeting. Returns the meeting's
 * live state, or NULL after answering the client. */
static live *authenticate_join(kg_session *ss, json_t *msg, bool *host,
                               kg_time now)
{
    kg_sfu *s = ss->sfu;
    const char *mid = json_string_value(json_object_get(msg, "meeting"));
    const char *pin = json_string_value(json_object_get(msg, "pin"));
    const char *inv = json_string_value(json_object_get(msg, "invite"));
    const char *hk = json_string_value(json_object_get(msg, "host_key"));
    int ways = (mid && pin) + (inv != NULL) + (mid && hk);
    if (ways != 1 || (pin && hk) || (inv && mid) ||
        (mid && strlen(mid) > KG_MEETING_ID_LEN)) {
        sfu_send_error(ss, "bad_request",
                   "join with meeting+pin, invite, or meeting+host_key");
        return NULL;
    }
    if (rate_limited(ss, now))
        return NULL;
    char id[KG_MEETING_ID_LEN + 1];
    if (mid && outside_window(ss, mid, now))
        return NULL;
    /* An invite used too early (or late) stays unspent. */
    if (inv && kg_store_invite_meeting(s->store, inv, id) == 0 &&
        outside_window(ss, id, now))
        return NULL;
    int rc;
    if (inv) {
        rc = kg_store_invite_spend(s->store, inv, id);
    } else {
        snprintf(id, sizeof(id), "%s", mid);
        rc = pin ? kg_store_check_pin(s->store, id, pin)
                 : kg_store_check_host_key(s->store, id, hk);
    }
    kg_meeting m;
    if (rc != 0 || kg_store_meeting_get(s->store, id, &m) != 0) {
        credential_failed(ss, mid, now);
        return NULL;
    }
    char key[96];
    kg_ratelimit_reset(s->rl_source, key,
                       rl_key(key, sizeof(key), "a", ss->source));
    *host = hk != NULL;
    live *lv = live_get(s, &m);
    if (!lv) {
        sfu_send_error(ss, "internal", "out of memory");
        s->ops.close(ss->conn);
    }
    return lv;
}

void sfu_join_meeting(kg_session *ss, json_t *msg)
{
    kg_sfu *s = ss->sfu;
    kg_time now = sfu_wall_now();
    bool host = false;
    live *lv = authenticate_join(ss, msg, &host, now);
    if (!lv)
        return;
    kg_join_result jr = kg_policy_join(lv->policy, ss->num, ss->name, host,
                                       now);
    if (jr.outcome == KG_JOIN_REFUSED) {
        refuse_join(ss, jr.reason, jr.opens_at);
        sfu_drain(s, lv);
        return;
    }
    ss->live = lv;
    sfu_mark_joined(ss);
    if (host)
        audit(s, lv, "host_joined", ss->name);
    if (jr.outcome == KG_JOIN_ADMITTED) {
        if (!host)
            audit(s, lv, "joined", ss->name);
        sfu_enter_room(ss, meeting_room(s, lv));
    } else {
        ss->waiting = true;
        sfu_send_json(ss, json_pack("{s:s, s:s, s:{s:s, s:s}}", "type", "waiting",
                                "reason", jr.reason, "meeting", "id",
                                lv->m.id, "title", lv->m.title));
    }
    sfu_drain(s, lv);
}

/* Host controls: {"type": T, "participant": ID} and the rest. Returns
 * the policy's verdict. */
static int host_control(kg_session *ss, const char *type, json_t *msg,
                        kg_time now)
{
    live *lv = ss->live;
    kg_policy *p = lv->policy;
    kg_session *who =
        session_by_id(ss->sfu, lv,
                      json_string_value(json_object_get(msg, "participant")));
    kg_pid by = ss->num, to = who ? who->num : 0;
    if (strcmp(type, "admit") == 0)
        return kg_policy_admit(p, by, to, now);
    if (strcmp(type, "deny") == 0)
        return kg_policy_deny(p, by, to, now);
    if (strcmp(type, "remove") == 0)
        return kg_policy_remove(p, by, to, now);
    if (strcmp(type, "lock") == 0 || strcmp(type, "unlock") == 0) {
        int rc = kg_policy_lock(p, by, type[0] == 'l', now);
        if (rc == 0)
            audit(ss->sfu, lv, type[0] == 'l' ? "locked" : "unlocked",
                  ss->name);
        return rc;
    }
    if (strcmp(type, "mute") == 0)
        return kg_policy_mute(p, by, to, true, now);
    if (strcmp(type, "ask_unmute") == 0)
        return kg_policy_mute(p, by, to, false, now);
    if (strcmp(type, "handover") == 0)
        return kg_policy_handover(p, by, to, now);
    if (strcmp(type, "end") == 0)
        return kg_policy_end(p, by, now);
    /* set */
    int rc = 0;
    json_t *v;
    if ((v = json_object_get(msg, "screen_share")) && rc == 0) {
        const char *sv = json_string_value(v);
        if (!sv || (strcmp(sv, "host") && strcmp(sv, "all")))
            return KG_ERR_INVAL;
        rc = kg_policy_set_share(p, by, sv[0] == 'a' ? KG_SHARE_ALL
                                                     : KG_SHARE_HOST);
    }
    if ((v = json_object_get(msg, "chat")) && rc == 0)
        rc = json_is_boolean(v) ? kg_policy_set_chat(p, by, json_is_true(v))
                                : KG_ERR_INVAL;
    if ((v = json_object_get(msg, "allow_rename")) && rc == 0)
        rc = json_is_boolean(v)
                 ? kg_policy_set_rename(p, by, json_is_true(v))
                 : KG_ERR_INVAL;
    return rc;
}

static bool is_host_control(const char *type)
{
    static const char *const controls[] = {
        "admit", "deny", "remove", "lock", "unlock", "mute", "ask_unmute",
        "handover", "end", "set", NULL};
    for (size_t i = 0; controls[i]; i++) {
        if (strcmp(type, controls[i]) == 0)
            return true;
    }
    return false;
}

static void on_control(kg_session *ss, const char *type, json_t *msg)
{
    static const char *const allowed[] = {
        "type", "participant", "screen_share", "chat", "allow_rename", NULL};
    const char *bad = sfu_unknown_field(msg, allowed);
    if (bad) {
        sfu_send_error(ss, "bad_request", "unknown field '%s'", bad);
        return;
    }
    if (!ss->live || !ss->room) {
        sfu_send_error(ss, "not_joined", "not in a meeting");
        return;
    }
    live *lv = ss->live;
    int rc = host_control(ss, type, msg, sfu_wall_now());
    if (rc == KG_ERR_DENIED)
        sfu_send_error(ss, "not_host", "only the host may do that");
    else if (rc == KG_ERR_NOTFOUND)
        sfu_send_error(ss, "bad_request", "no such participant");
    else if (rc != 0)
        sfu_send_error(ss, "bad_request", "%s", kg_strerror(rc));
    sfu_drain(ss->sfu, lv);
}

static void on_leave(kg_session *ss, json_t *msg)
{
    kg_sfu *s = ss->sfu;
    if (ss->live) {
        live *lv = ss->live;
        kg_session *nh = session_by_id(
            s, lv, json_string_value(json_object_get(msg, "new_host")));
        int rc = kg_policy_leave(lv->policy, ss->num, nh ? nh->num : 0,
                                 sfu_wall_now());
        if (rc == KG_ERR_INVAL) {
            sfu_send_error(ss, "new_host_required",
                       "the host must name a new host before leaving");
            sfu_drain(s, lv);
            return;
        }
        ss->left = true;
        sfu_drain(s, lv);
    }
    s->ops.close(ss->conn);
}

/* Chat is relayed to everyone in the meeting and never stored. */
static void on_chat(kg_session *ss, json_t *msg)
{
    const char *text = json_string_value(json_object_get(msg, "text"));
    if (!ss->room) {
        sfu_send_error(ss, "not_joined", "not in a meeting");
        return;
    }
    if (ss->live && !kg_policy_chat_on(ss->live->policy)) {
        sfu_send_error(ss, "chat_off", "the host turned chat off");
        return;
    }
    if (!text || strlen(text) == 0 || strlen(text) > 2000) {
        sfu_send_error(ss, "bad_request", "field 'text' must be 1-2000 bytes");
        return;
    }
    json_t *out = json_pack("{s:s, s:s, s:s, s:s}", "type", "chat", "from",
                            ss->id, "name", ss->name, "text", text);
    for (kg_session *o = ss->room->members; o; o = o->room_next)
        sfu_send_json(o, json_deep_copy(out));
    json_decref(out);
}

static void on_recording(kg_session *ss, json_t *msg)
{
    json_t *on = json_object_get(msg, "on");
    if (!ss->room || !json_is_boolean(on)) {
        sfu_send_error(ss, ss->room ? "bad_request" : "not_joined",
                   "send {\"type\": \"recording\", \"on\": true|false}");
        return;
    }
    json_t *out = json_pack("{s:s, s:s, s:s, s:b}", "type", "recording",
                            "participant", ss->id, "name", ss->name, "on",
                            json_is_true(on));
    for (kg_session *o = ss->room->members; o; o = o->room_next)
        sfu_send_json(o, json_deep_copy(out));
    json_decref(out);
}

static void on_unmute(kg_session *ss)
{
    if (!ss->live || !ss->room) {
        sfu_send_error(ss, "not_joined", "not in a meeting");
        return;
    }
    if (kg_policy_unmute_self(ss->live->policy, ss->num) != 0) {
        sfu_send_error(ss, "muted_by_host", "wait for the host's unmute request");
        return;
    }
    post_mute(ss, false);
}

static void on_rename(kg_session *ss, json_t *msg)
{
    static const char *const allowed[] = {"type", "name", NULL};
    const char *bad = sfu_unknown_field(msg, allowed);
    if (bad) {
        sfu_send_error(ss, "bad_request", "unknown field '%s'", bad);
        return;
    }
    const char *name = json_string_value(json_object_get(msg, "name"));
    if (!ss->live || !ss->room) {
        sfu_send_error(ss, "not_joined", "not in a meeting");
        return;
    }
    if (!name || !sfu_valid_nickname(name)) {
        sfu_send_error(ss, "bad_request",
                       "field 'name' must be 1-64 bytes of UTF-8 without "
                       "control characters");
        return;
    }
    int rc = kg_policy_rename(ss->live->policy, ss->num, name);
    if (rc == KG_ERR_DENIED)
        sfu_send_error(ss, "rename_off", "the host does not allow renaming");
    else if (rc != 0)
        sfu_send_error(ss, "bad_request", "%s", kg_strerror(rc));
    sfu_drain(ss->sfu, ss->live);
}

bool sfu_meeting_message(kg_session *ss, const char *type, json_t *msg)
{
    if (strcmp(type, "rename") == 0) {
        on_rename(ss, msg);
        return true;
    }
    if (strcmp(type, "leave") == 0)
        on_leave(ss, msg);
    else if (is_host_control(type))
        on_control(ss, type, msg);
    else if (strcmp(type, "chat") == 0)
        on_chat(ss, msg);
    else if (strcmp(type, "recording") == 0)
        on_recording(ss, msg);
    else if (strcmp(type, "unmute") == 0)
        on_unmute(ss);
    else
        return false;
    return true;
}

void sfu_meeting_closed(kg_session *ss)
{
    live *lv = ss->live;
    if (!lv)
        return;
    if (!ss->left)
        kg_policy_drop(lv->policy, ss->num, sfu_wall_now());
    ss->live = NULL;
    sfu_leave_room(ss);
    sfu_drain(ss->sfu, lv);
}

/* Runs the meetings' timers (host grace, the end of a meeting) and
 * forgets meetings whose end has passed with nobody left. */
static void on_policy_timer(uv_timer_t *t)
{
    kg_sfu *s = t->data;
    kg_time now = sfu_wall_now();
    sfu_expire_unjoined(s, now);
    live **pp = &s->lives;
    while (*pp) {
        live *lv = *pp;
        if (now >= kg_policy_deadline(lv->policy)) {
            kg_policy_on_timeout(lv->policy, now);
            sfu_drain(s, lv);
        }
        bool used = false;
        for (kg_session *ss = s->sessions; ss && !used; ss = ss->next)
            used = ss->live == lv;
        if (!used && now / KG_SEC > (kg_time)kg_meeting_ends(&lv->m) + 60) {
            *pp = lv->next;
            kg_policy_del(lv->policy);
            free(lv);
            continue;
        }
        pp = &lv->next;
    }
}

int sfu_meetings_open(kg_sfu *s, const kg_sfu_config *cfg)
{
    char err[256] = "";
    int rc = kg_store_open(cfg->data_dir, &s->store, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "kaigi: %s\n", err[0] ? err : kg_strerror(rc));
        return rc;
    }
    snprintf(s->base_url, sizeof(s->base_url), "%s",
             cfg->base_url ? cfg->base_url : "");
    s->api.store = s->store;
    s->api.base_url = s->base_url;
    s->api.pin_digits = cfg->pin_digits ? cfg->pin_digits : KG_PIN_DEFAULT;
    /* A source gets 5 wrong credentials per 10 minutes, a meeting 20;
     * lock-outs start at a minute and double up to an hour. */
    kg_ratelimit_cfg src = {.max_failures = 5, .window = 600 * KG_SEC,
                            .lockout = 60 * KG_SEC,
                            .lockout_max = 3600 * KG_SEC, .cap = 65536};
    kg_ratelimit_cfg mtg = src;
    mtg.max_failures = 20;
    mtg.cap = 16384;
    kg_ratelimit_cfg strict = src;
    strict.max_failures = 1;
    s->rl_source = kg_ratelimit_new(&src);
    s->rl_meeting = kg_ratelimit_new(&mtg);
    s->rl_strict = kg_ratelimit_new(&strict);
    if (!s->rl_source || !s->rl_meeting || !s->rl_strict)
        return KG_ERR_NOMEM;
    uv_timer_init(cfg->loop, &s->policy_timer);
    s->policy_timer.data = s;
    uv_timer_start(&s->policy_timer, on_policy_timer, 500, 500);
    return 0;
}

void sfu_meetings_free(kg_sfu *s)
{
    while (s->lives) {
        live *lv = s->lives;
        s->lives = lv->next;
        kg_policy_del(lv->policy);
        free(lv);
    }
    kg_ratelimit_del(s->rl_source);
    kg_ratelimit_del(s->rl_meeting);
    kg_ratelimit_del(s->rl_strict);
}
