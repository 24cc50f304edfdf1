/* kaigi-client's side of a scheduled meeting (signalling/PROTOCOL.md):
 * the join credentials, the waiting room, the outcomes that end a run
 * (denied, removed, ended, a join error), the host controls that the
 * command line asks for, and the log of notices kaigi sent us.
 *
 * The waiting room holds no media: nothing here opens a socket. The only
 * places that do are on_joined() and on_subscribe() in client_signal.c,
 * both after `joined`; kc_transport_open() counts any call before it. */
#include <stdio.h>
#include <string.h>

#include "tools/client.h"

#define REMOVE_DELAY_MS 1000

static void on_lock_timer(uv_timer_t *timer);
static void on_end_timer(uv_timer_t *timer);
static void on_remove_timer(uv_timer_t *timer);
static void on_hold_timer(uv_timer_t *timer);

void kc_meeting_init(kc_app *app)
{
    kc_meeting *m = &app->meeting;
    uv_timer_t *timers[] = {&m->lock_timer, &m->end_timer, &m->remove_timer,
                            &m->hold_timer};
    for (size_t i = 0; i < KG_ARRAY_LEN(timers); i++) {
        uv_timer_init(app->loop, timers[i]);
        timers[i]->data = app;
    }
    m->timers_open = true;
    m->notices = json_array();
    m->removes = json_array();
}

void kc_meeting_close(kc_app *app)
{
    kc_meeting *m = &app->meeting;
    if (!m->timers_open)
        return;
    m->timers_open = false;
    uv_close((uv_handle_t *)&m->lock_timer, NULL);
    uv_close((uv_handle_t *)&m->end_timer, NULL);
    uv_close((uv_handle_t *)&m->remove_timer, NULL);
    uv_close((uv_handle_t *)&m->hold_timer, NULL);
}

void kc_meeting_free(kc_app *app)
{
    kc_meeting *m = &app->meeting;
    json_decref(m->notices);
    json_decref(m->opens_at);
    json_decref(m->retry_after);
    json_decref(m->removes);
    m->notices = m->opens_at = m->retry_after = m->removes = NULL;
}

int kc_meeting_join_fields(const kc_app *app, json_t *join)
{
    const kc_opts *o = &app->opts;
    const struct {
        const char *key, *value;
    } fields[] = {
        {"room", o->room},       {"meeting", o->meeting}, {"pin", o->pin},
        {"invite", o->invite},   {"host_key", o->host_key},
    };
    for (size_t i = 0; i < KG_ARRAY_LEN(fields); i++)
        if (fields[i].value &&
            json_object_set_new(join, fields[i].key,
                                json_string(fields[i].value)) != 0)
            return KG_ERR_NOMEM;
    return 0;
}

/* --- the notice log ------------------------------------------------- */

static void notice(kc_app *app, json_t *n)
{
    if (n && app->meeting.notices)
        json_array_append(app->meeting.notices, n);
    json_decref(n);
}

static const char *str_field(json_t *obj, const char *key)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s ? s : "";
}

/* {"type", "name", "participant"} from a notice that carries a
 * participant object (join_notice, leave_notice). */
static json_t *participant_notice(const char *type, json_t *msg)
{
    json_t *p = json_object_get(msg, "participant");
    return json_pack("{s:s, s:s, s:s}", "type", type, "name",
                     str_field(p, "name"), "participant", str_field(p, "id"));
}

static json_t *count_notice(const char *type, json_t *msg, const char *key)
{
    return json_pack("{s:s, s:I}", "type", type, "count",
                     (json_int_t)json_array_size(json_object_get(msg, key)));
}

/* --- host controls -------------------------------------------------- */

static bool can_control(const kc_app *app)
{
    return app->joined && app->meeting.host && app->phase < KC_LEAVING;
}

/* Logs when a remove went out, by the removed one's name (its id if we
 * never learnt a name), for the report's "removes". */
static void log_remove(kc_app *app, const char *id)
{
    const kc_remote *r = kc_remote_get(app, id, false);
    const char *name = r && r->name[0] ? r->name : id;
    json_t *e = json_pack("{s:s, s:I}", "name", name, "unix_ms",
                          (json_int_t)kc_unix_ms());
    if (e && app->meeting.removes)
        json_array_append(app->meeting.removes, e);
    json_decref(e);
}

static void send_control(kc_app *app, const char *type, const char *id)
{
    json_t *m = id ? json_pack("{s:s, s:s}", "type", type, "participant", id)
                   : json_pack("{s:s}", "type", type);
    int rc = kc_signal_send(app, m);
    if (rc < 0) {
        fprintf(stderr, "kaigi-client: cannot send %s: %s\n", type,
                kg_strerror(rc));
        return;
    }
    app->meeting.controls_sent++;
    if (id && strcmp(type, "remove") == 0)
        log_remove(app, id);
}

static void timed_control(kc_app *app, const char *type, const char *id)
{
    if (can_control(app))
        send_control(app, type, id);
    else if (app->phase < KC_LEAVING)
        fprintf(stderr, "kaigi-client: not host: no %s sent\n", type);
}

static void on_lock_timer(uv_timer_t *timer)
{
    timed_control(timer->data, "lock", NULL);
}

static void on_end_timer(uv_timer_t *timer)
{
    timed_control(timer->data, "end", NULL);
}

static void on_remove_timer(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    timed_control(app, "remove", app->meeting.remove_id);
}

static void arm(uv_timer_t *t, uv_timer_cb cb, double seconds)
{
    if (seconds > 0)
        uv_timer_start(t, cb, (uint64_t)(seconds * 1000.0), 0);
}

/* --- --hold: admit some nicknames only late ------------------------ */

static bool held_name(const kc_app *app, const char *name)
{
    for (size_t i = 0; name && i < app->opts.n_hold; i++)
        if (strcmp(app->opts.hold[i], name) == 0)
            return true;
    return false;
}

/* Re-arms the hold timer for the earliest held participant still due. */
static void arm_hold_timer(kc_app *app, kg_time now)
{
    kc_meeting *m = &app->meeting;
    kg_time next = KG_TIME_NEVER;
    for (size_t i = 0; i < m->n_held; i++)
        if (!m->held[i].admitted && m->held[i].due < next)
            next = m->held[i].due;
    if (next == KG_TIME_NEVER || !m->timers_open)
        return;
    uint64_t ms = next > now ? (next - now + KG_MS - 1) / KG_MS : 0;
    uv_timer_start(&m->hold_timer, on_hold_timer, ms, 0);
}

static void on_hold_timer(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    kc_meeting *m = &app->meeting;
    kg_time now = kc_now();
    for (size_t i = 0; i < m->n_held; i++) {
        kc_held *h = &m->held[i];
        if (h->admitted || h->due > now)
            continue;
        h->admitted = true;
        if (can_control(app))
            send_control(app, "admit", h->id);
    }
    arm_hold_timer(app, now);
}

/* Holds id from its first waiting_list on; later lists change nothing. */
static void hold(kc_app *app, const char *id)
{
    kc_meeting *m = &app->meeting;
    for (size_t i = 0; i < m->n_held; i++)
        if (strcmp(m->held[i].id, id) == 0)
            return;
    if (m->n_held == KC_MAX_HELD || strlen(id) >= KC_ID_LEN) {
        fprintf(stderr, "kaigi-client: cannot hold %s: admitted now\n", id);
        send_control(app, "admit", id);
        return;
    }
    kc_held *h = &m->held[m->n_held++];
    kg_time now = kc_now();
    snprintf(h->id, sizeof(h->id), "%s", id);
    h->due = now + (kg_time)(app->opts.hold_for * 1e9);
    h->admitted = false;
    arm_hold_timer(app, now);
}

static void admit_waiting(kc_app *app, json_t *msg)
{
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(msg, "waiting"), i, w) {
        const char *id = json_string_value(json_object_get(w, "id"));
        const char *name = json_string_value(json_object_get(w, "name"));
        if (id && held_name(app, name))
            hold(app, id);
        else if (id)
            send_control(app, "admit", id);
    }
}

void kc_meeting_on_participant(kc_app *app, const char *id, const char *name)
{
    kc_meeting *m = &app->meeting;
    const char *want = app->opts.remove;
    kc_mute_on_participant(app);
    if (!want || m->remove_armed || !id || !m->timers_open)
        return;
    if (strcmp(id, want) != 0 && !(name && strcmp(name, want) == 0))
        return;
    if (strlen(id) >= sizeof(m->remove_id))
        return;
    strcpy(m->remove_id, id);
    m->remove_armed = true;
    uv_timer_start(&m->remove_timer, on_remove_timer, REMOVE_DELAY_MS, 0);
}

const char *kc_meeting_new_host(const kc_app *app)
{
    const char *want = app->opts.leave_to;
    if (!want || !app->meeting.host)
        return NULL;
    for (size_t i = 0; i < app->n_remotes; i++) {
        const kc_remote *r = &app->remotes[i];
        if (r->present && (strcmp(r->id, want) == 0 || strcmp(r->name, want) == 0))
            return r->id;
    }
    fprintf(stderr, "kaigi-client: --leave-to %s: no such participant\n", want);
    return NULL;
}

/* --- joined and the outcomes ---------------------------------------- */

static void set_host_id(kc_app *app, const char *id)
{
    kc_meeting *m = &app->meeting;
    snprintf(m->host_id, sizeof(m->host_id), "%s", id ? id : "");
    m->host = id && strcmp(id, app->participant) == 0;
}

void kc_meeting_on_joined(kc_app *app, json_t *msg)
{
    kc_meeting *m = &app->meeting;
    const char *host_id = json_string_value(json_object_get(msg, "host_id"));
    set_host_id(app, host_id);
    m->joined_ms = kc_unix_ms();
    /* "host" is what binds; host_id may be absent for ad-hoc rooms. */
    m->host = json_is_true(json_object_get(msg, "host"));
    if (m->waited) /* the time spent waiting is not the run's */
        kc_watchdog_rearm(app, (kg_time)(app->opts.duration * 1e9) +
                                   KC_WATCHDOG_SLACK);
    arm(&m->lock_timer, on_lock_timer, app->opts.lock_after);
    arm(&m->end_timer, on_end_timer, app->opts.end_after);
    kc_mute_on_joined(app);
}

static void on_waiting(kc_app *app, json_t *msg)
{
    kc_meeting *m = &app->meeting;
    if (app->joined)
        return;
    const char *reason = str_field(msg, "reason");
    if (!m->waited) {
        m->waiting_ms = kc_unix_ms();
        kc_watchdog_rearm(app, (kg_time)(app->opts.max_wait * 1e9));
    }
    m->waited = true;
    snprintf(m->waiting_reason, sizeof(m->waiting_reason), "%s", reason);
    notice(app, json_pack("{s:s, s:s}", "type", "waiting", "reason", reason));
    fprintf(stderr, "kaigi-client: waiting (%s)\n", reason);
}

/* removed: the transports go at once, before anything else can arrive on
 * them; the rest of the leave is the usual one. */
static void on_removed(kc_app *app)
{
    app->meeting.removed = true;
    app->meeting.removed_ms = kc_unix_ms();
    if (app->phase == KC_PUBLISHING)
        app->publish_end = kc_now();
    kc_garbage_close(app);
    kc_transport_close(&app->pub_t);
    kc_transport_close(&app->sub_t);
    kc_end(app, 0);
}

/* The messages that end the run. Returns false for any other type. */
static bool on_outcome(kc_app *app, const char *type)
{
    kc_meeting *m = &app->meeting;
    if (strcmp(type, "denied") == 0) {
        m->denied = true;
        kc_end(app, 3);
    } else if (strcmp(type, "removed") == 0) {
        on_removed(app);
    } else if (strcmp(type, "ended") == 0) {
        m->ended = true;
        kc_end(app, 0);
    } else {
        return false;
    }
    notice(app, json_pack("{s:s}", "type", type));
    fprintf(stderr, "kaigi-client: %s\n", type);
    return true;
}

static json_t *host_notice(kc_app *app, json_t *msg)
{
    const char *id = json_string_value(json_object_get(msg, "participant"));
    set_host_id(app, id);
    return json_pack("{s:s, s:s}", "type", "host", "participant",
                     id ? id : "");
}

static json_t *waiting_list_notice(kc_app *app, json_t *msg)
{
    if (app->opts.admit_all && can_control(app))
        admit_waiting(app, msg);
    return count_notice("waiting_list", msg, "waiting");
}

static json_t *join_notice(kc_app *app, json_t *msg)
{
    json_t *p = json_object_get(msg, "participant");
    kc_meeting_on_participant(app, json_string_value(json_object_get(p, "id")),
                              json_string_value(json_object_get(p, "name")));
    return participant_notice("join_notice", msg);
}

/* Notices with no effect beyond the log. NULL if type is none of them. */
static json_t *plain_notice(const char *type, json_t *msg)
{
    if (strcmp(type, "leave_notice") == 0)
        return participant_notice(type, msg);
    if (strcmp(type, "lock_attempt") == 0 || strcmp(type, "chat") == 0)
        return json_pack("{s:s, s:s}", "type", type, "name",
                         str_field(msg, "name"));
    if (strcmp(type, "under_attack") == 0)
        return json_pack("{s:s, s:s}", "type", type, "message",
                         str_field(msg, "message"));
    if (strcmp(type, "attendees") == 0)
        return count_notice(type, msg, "attendees");
    if (strcmp(type, "settings") == 0 || strcmp(type, "recording") == 0)
        return json_deep_copy(msg);
    if (strcmp(type, "muted") == 0 || strcmp(type, "unmute_request") == 0)
        return json_pack("{s:s}", "type", type);
    return NULL;
}

bool kc_meeting_on_message(kc_app *app, const char *type, json_t *msg)
{
    json_t *n = NULL;
    kc_mute_on_message(app, type); /* logs; the notice follows below */
    if (strcmp(type, "waiting") == 0)
        on_waiting(app, msg);
    else if (on_outcome(app, type))
        ;
    else if (strcmp(type, "host") == 0)
        n = host_notice(app, msg);
    else if (strcmp(type, "waiting_list") == 0)
        n = waiting_list_notice(app, msg);
    else if (strcmp(type, "join_notice") == 0)
        n = join_notice(app, msg);
    else if (!(n = plain_notice(type, msg)))
        return false;
    notice(app, n);
    return true;
}

void kc_meeting_on_join_error(kc_app *app, const char *code, json_t *msg)
{
    kc_meeting *m = &app->meeting;
    snprintf(m->error_code, sizeof(m->error_code), "%s", code);
    json_t *v = json_object_get(msg, "opens_at");
    if (v && !m->opens_at)
        m->opens_at = json_deep_copy(v);
    v = json_object_get(msg, "retry_after");
    if (v && !m->retry_after)
        m->retry_after = json_deep_copy(v);
}

/* --- report --------------------------------------------------------- */

static json_t *unix_ms_json(int64_t ms)
{
    return ms ? json_integer(ms) : json_null();
}

void kc_meeting_report(const kc_app *app, json_t *r)
{
    const kc_meeting *m = &app->meeting;
    json_t *f = json_pack(
        "{s:b, s:s, s:b, s:b, s:s, s:b, s:b, s:b, s:I, s:I, s:O}", "host",
        m->host, "host_id", m->host_id, "admitted", app->joined, "waited",
        m->waited, "waiting_reason", m->waiting_reason, "denied", m->denied,
        "removed", m->removed, "ended", m->ended, "media_while_waiting",
        (json_int_t)m->media_while_waiting, "transports_while_waiting",
        (json_int_t)m->transports_while_waiting, "notices",
        m->notices ? m->notices : json_null());
    json_t *t = json_pack("{s:o, s:o, s:o, s:O}", "waiting_unix_ms",
                          unix_ms_json(m->waiting_ms), "joined_unix_ms",
                          unix_ms_json(m->joined_ms), "removed_unix_ms",
                          unix_ms_json(m->removed_ms), "removes",
                          m->removes ? m->removes : json_null());
    if (f && t)
        json_object_update(f, t);
    json_decref(t);
    if (f)
        json_object_update(r, f);
    json_decref(f);
    if (m->opens_at)
        json_object_set(r, "opens_at", m->opens_at);
    if (m->retry_after)
        json_object_set(r, "retry_after", m->retry_after);
    /* A join error's code is the "error"; the sentence stays beside it. */
    if (m->error_code[0]) {
        json_object_set_new(r, "error_message", json_string(app->error));
        json_object_set_new(r, "error", json_string(m->error_code));
    }
}
