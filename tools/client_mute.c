/* kaigi-client's side of host mute (signalling/PROTOCOL.md, "Host and
 * participant controls"), as a test drives it.
 *
 * As host: --mute WHO@S, --ask-unmute WHO@S and --handover WHO@S send
 * `mute`, `ask_unmute` and `handover` for WHO (a name or an id) S
 * seconds after `joined`, or as soon as WHO is in if it is not yet. As a participant: `muted` and
 * `unmute_request` are logged; with --accept-unmute a request is answered
 * with `unmute` at once. A muted client keeps sending its audio, as a
 * modified or buggy one could: that kaigi stops forwarding it is what a
 * test checks.
 *
 * Every step goes into the report's "mute_log" with its wall clock, so
 * that a test can line it up with a receiver's --timeline. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/client.h"

void kc_mute_init(kc_app *app)
{
    kc_mute *m = &app->mute;
    uv_timer_init(app->loop, &m->mute_timer);
    uv_timer_init(app->loop, &m->ask_timer);
    uv_timer_init(app->loop, &m->handover_timer);
    m->mute_timer.data = m->ask_timer.data = m->handover_timer.data = app;
    m->open = true;
    m->log = json_array();
}

void kc_mute_close(kc_app *app)
{
    kc_mute *m = &app->mute;
    if (!m->open)
        return;
    m->open = false;
    uv_close((uv_handle_t *)&m->mute_timer, NULL);
    uv_close((uv_handle_t *)&m->ask_timer, NULL);
    uv_close((uv_handle_t *)&m->handover_timer, NULL);
}

void kc_mute_free(kc_app *app)
{
    json_decref(app->mute.log);
    app->mute.log = NULL;
}

int kc_mute_parse_target(char *arg, const char **who, double *at)
{
    char *sep = strrchr(arg, '@');
    if (!sep || sep == arg)
        return -1;
    char *end;
    double v = strtod(sep + 1, &end);
    if (end == sep + 1 || *end || !(v >= 0 && v <= 86400))
        return -1;
    /* argv's strings are ours to modify; parse_args prints optarg on an
     * error, so it is cut only once it parsed. */
    *sep = '\0';
    *who = arg;
    *at = v;
    return 0;
}

static void log_step(kc_app *app, const char *type, const char *name)
{
    json_t *e = name ? json_pack("{s:s, s:s, s:I}", "type", type, "name",
                                 name, "unix_ms", (json_int_t)kc_unix_ms())
                     : json_pack("{s:s, s:I}", "type", type, "unix_ms",
                                 (json_int_t)kc_unix_ms());
    if (e && app->mute.log)
        json_array_append(app->mute.log, e);
    json_decref(e);
}

/* The id of a present remote whose id or name is who, else NULL. */
static const char *find_present(const kc_app *app, const char *who)
{
    for (size_t i = 0; i < app->n_remotes; i++) {
        const kc_remote *r = &app->remotes[i];
        if (r->present &&
            (strcmp(r->id, who) == 0 || strcmp(r->name, who) == 0))
            return r->id;
    }
    return NULL;
}

/* Sends type (mute, ask_unmute) for who now if it is in; else leaves
 * *pending set for kc_mute_on_participant. */
static void send_or_wait(kc_app *app, const char *type, const char *who,
                         bool *pending)
{
    *pending = false;
    if (!app->joined || !app->meeting.host || app->phase >= KC_LEAVING) {
        fprintf(stderr, "kaigi-client: not host, or leaving: no %s sent\n",
                type);
        return;
    }
    const char *id = find_present(app, who);
    if (!id) {
        *pending = true;
        return;
    }
    int rc = kc_signal_send(
        app, json_pack("{s:s, s:s}", "type", type, "participant", id));
    if (rc < 0) {
        fprintf(stderr, "kaigi-client: cannot send %s: %s\n", type,
                kg_strerror(rc));
        return;
    }
    /* kaigi may refuse a control with an error: not fatal then. */
    app->meeting.controls_sent++;
    log_step(app, type, who);
}

static void on_mute_timer(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    send_or_wait(app, "mute", app->opts.mute_who, &app->mute.mute_pending);
}

static void on_ask_timer(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    send_or_wait(app, "ask_unmute", app->opts.ask_unmute_who,
                 &app->mute.ask_pending);
}

static void on_handover_timer(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    send_or_wait(app, "handover", app->opts.handover_who,
                 &app->mute.handover_pending);
}

void kc_mute_on_joined(kc_app *app)
{
    kc_mute *m = &app->mute;
    if (!m->open)
        return;
    if (app->opts.mute_who)
        uv_timer_start(&m->mute_timer, on_mute_timer,
                       (uint64_t)(app->opts.mute_at * 1000.0), 0);
    if (app->opts.ask_unmute_who)
        uv_timer_start(&m->ask_timer, on_ask_timer,
                       (uint64_t)(app->opts.ask_unmute_at * 1000.0), 0);
    if (app->opts.handover_who)
        uv_timer_start(&m->handover_timer, on_handover_timer,
                       (uint64_t)(app->opts.handover_at * 1000.0), 0);
}

void kc_mute_on_participant(kc_app *app)
{
    kc_mute *m = &app->mute;
    /* In order: an ask_unmute due before its mute went out waits too. */
    if (m->mute_pending)
        on_mute_timer(&m->mute_timer);
    if (m->ask_pending && !m->mute_pending)
        on_ask_timer(&m->ask_timer);
    if (m->handover_pending)
        on_handover_timer(&m->handover_timer);
}

void kc_mute_on_message(kc_app *app, const char *type)
{
    if (strcmp(type, "muted") == 0) {
        log_step(app, type, NULL);
        return;
    }
    if (strcmp(type, "unmute_request") != 0)
        return;
    log_step(app, type, NULL);
    if (!app->opts.accept_unmute || app->phase >= KC_LEAVING)
        return;
    int rc = kc_signal_send(app, json_pack("{s:s}", "type", "unmute"));
    if (rc < 0)
        fprintf(stderr, "kaigi-client: cannot send unmute: %s\n",
                kg_strerror(rc));
    else
        log_step(app, "unmute", NULL);
}

void kc_mute_report(const kc_app *app, json_t *report)
{
    if (app->mute.log)
        json_object_set(report, "mute_log", app->mute.log);
}
