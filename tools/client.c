/* kaigi-client: a headless participant. Joins a room over the signalling
 * WebSocket, publishes a synthetic Opus tone and a VP8 test pattern (and
 * with --screen a second, smaller one marked as a screen share) over
 * DTLS-SRTP, receives and decodes everyone else's media, and writes a
 * JSON report of what it sent and what it could verify.
 *
 * Phases: connect + join (+ the waiting room of a scheduled meeting,
 * with no media transport at all) → negotiate (publish offer/answer, subscribe
 * offers) → publish for --duration → drain 500 ms → leave → report. Every
 * phase has a timeout and a global watchdog bounds the whole run, so the
 * program always ends. */
#include <arpa/inet.h>
#include <getopt.h>
#include <jansson.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto/random.h"
#include "tools/client.h"

#define LEAVE_GRACE_MS 1000 /* for the leave message and the close frame */
#define GUARD_MS 3000       /* for lws to close its handles */

static void finish(kc_app *app);

kg_time kc_now(void)
{
    return uv_hrtime();
}

int64_t kc_unix_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t ms_until(kg_time t, kg_time now)
{
    return t > now ? (t - now + KG_MS - 1) / KG_MS : 0;
}

/* --- phases --------------------------------------------------------- */

static void on_finish_timer(uv_timer_t *timer)
{
    finish(timer->data);
}

/* Sends leave and closes the WebSocket; finish() runs when it has closed,
 * or after a grace period. */
static void begin_leave(kc_app *app)
{
    if (app->phase >= KC_LEAVING)
        return;
    bool open = app->ws_open;
    app->phase = KC_LEAVING;
    uv_timer_stop(&app->media_timer);
    uv_timer_stop(&app->connect_timer);
    /* After removed or ended, kaigi is closing the socket itself. */
    if (open && app->joined && !app->meeting.removed && !app->meeting.ended)
        kc_signal_send_leave(app);
    kc_ws_close(app->ws);
    uv_timer_start(&app->phase_timer, on_finish_timer,
                   open ? LEAVE_GRACE_MS : 0, 0);
}

void kc_fail(kc_app *app, int code, const char *fmt, ...)
{
    if (app->exit_code == 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(app->error, sizeof(app->error), fmt, ap);
        va_end(ap);
        app->exit_code = code;
        fprintf(stderr, "kaigi-client: %s\n", app->error);
    }
    kc_end(app, code);
}

void kc_end(kc_app *app, int code)
{
    if (app->exit_code == 0)
        app->exit_code = code;
    if (app->phase == KC_PUBLISHING)
        app->publish_end = kc_now();
    begin_leave(app);
}

static void on_drain_end(uv_timer_t *timer)
{
    begin_leave(timer->data);
}

static void on_duration_end(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    uv_timer_stop(&app->media_timer);
    kc_garbage_close(app);
    app->publish_end = kc_now();
    kc_freeze_tones(app);
    app->phase = KC_DRAINING;
    /* Keep receiving a little: the others' last packets are in flight. */
    uv_timer_start(&app->phase_timer, on_drain_end,
                   KC_DRAIN / KG_MS + (uint64_t)(app->opts.linger * 1000.0),
                   0);
}

static void on_media_timer(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    kg_time now = kc_now();
    kg_time next = kc_pub_tick(app, now);
    kc_nack_tick(app, now);
    uv_timer_start(&app->media_timer, on_media_timer, ms_until(next, now), 0);
}

void kc_maybe_start_publishing(kc_app *app)
{
    if (app->phase != KC_NEGOTIATING || !kc_transport_connected(&app->pub_t))
        return;
    /* Waiting for the others' tracks, not just their presence, lines the
     * clients up: each one has published by the time we start. */
    if (app->opts.wait_remotes &&
        (kc_remotes_with_tracks(app) < app->opts.wait_remotes ||
         !kc_transport_connected(&app->sub_t)))
        return;
    kg_time now = kc_now();
    app->phase = KC_PUBLISHING;
    app->publish_start = now;
    app->pub.next_audio = now;
    app->pub.video_epoch = now;
    app->pub.video_base = app->pub.frame_no;
    uv_timer_start(&app->media_timer, on_media_timer, 0, 0);
    uv_timer_start(&app->phase_timer, on_duration_end,
                   (uint64_t)(app->opts.duration * 1000.0), 0);
    int rc = kc_garbage_start(app);
    if (rc < 0)
        kc_fail(app, 1, "garbage socket: %s", kg_strerror(rc));
}

static void on_connect_timeout(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    const char *st = app->pub_t.peer
                         ? kg_client_peer_state_name(
                               kg_client_peer_state(app->pub_t.peer))
                         : "no answer";
    kc_fail(app, 1, "publish transport did not connect within %llu s (%s)",
            (unsigned long long)(KC_CONNECT_TIMEOUT / KG_SEC), st);
}

void kc_arm_connect_timeout(kc_app *app)
{
    uv_timer_start(&app->connect_timer, on_connect_timeout,
                   KC_CONNECT_TIMEOUT / KG_MS, 0);
}

void kc_on_transport_state(kc_app *app, kc_transport *t)
{
    enum kg_client_peer_state st = t->last_state;
    bool is_pub = t == &app->pub_t;
    if (st == KG_CLIENT_PEER_CONNECTED) {
        if (t->profile == KG_SRTP_NONE) {
            kc_fail(app, 1, "%s transport: negotiated SRTP profile is none",
                    t->label);
            return;
        }
        if (is_pub)
            uv_timer_stop(&app->connect_timer);
        kc_maybe_start_publishing(app);
    } else if (st == KG_CLIENT_PEER_FAILED && app->phase < KC_LEAVING) {
        int err = kg_client_peer_error(t->peer);
        if (is_pub)
            kc_fail(app, 1, "publish transport failed: %s", kg_strerror(err));
        else
            fprintf(stderr, "kaigi-client: subscribe transport failed: %s\n",
                    kg_strerror(err));
    }
}

static void on_watchdog(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    if (app->phase == KC_DONE) {
        /* finish() re-armed it as a guard: lws kept the loop alive. */
        fprintf(stderr, "kaigi-client: event loop did not wind down\n");
        uv_stop(app->loop);
        return;
    }
    if (app->meeting.waited && !app->joined) {
        kc_fail(app, 1, "still in the waiting room after %g s",
                app->opts.max_wait);
        return;
    }
    kc_fail(app, 1, "watchdog: run took longer than duration + %llu s",
            (unsigned long long)(KC_WATCHDOG_SLACK / KG_SEC));
}

void kc_watchdog_rearm(kc_app *app, kg_time ns)
{
    if (app->phase < KC_LEAVING)
        uv_timer_start(&app->watchdog, on_watchdog, ns / KG_MS, 0);
}

/* --- WebSocket events ----------------------------------------------- */

static void ws_message(void *user, const char *text, size_t len)
{
    kc_signal_on_message(user, text, len);
}

static void ws_event(void *user, enum kc_ws_event ev, const char *detail)
{
    kc_app *app = user;
    if (ev == KC_WS_OPEN) {
        app->ws_open = true;
        kc_signal_on_open(app);
        return;
    }
    app->ws_open = false;
    if (app->phase < KC_LEAVING)
        kc_fail(app, 1, "%s: signalling connection closed (%s)",
                app->joined ? "left early" : "join failed", detail);
    else if (app->phase == KC_LEAVING)
        /* Not from here: this runs inside lws, which finish() destroys. */
        uv_timer_start(&app->phase_timer, on_finish_timer, 0, 0);
}

/* --- report --------------------------------------------------------- */

static json_t *remote_json_base(const kc_remote *r);

/* The remote's counters and, for simulcast tests, the size of its last
 * decoded camera frame. */
static json_t *remote_json(const kc_remote *r)
{
    json_t *j = remote_json_base(r);
    if (j)
        json_object_set_new(
            j, "video_resolution",
            json_pack("{s:I, s:I, s:I}", "width", (json_int_t)r->video_width,
                      "height", (json_int_t)r->video_height, "changes",
                      (json_int_t)r->resolution_changes));
    return j;
}

static json_t *remote_json_base(const kc_remote *r)
{
    return json_pack(
        "{s:s, s:I, s:I, s:f, s:I, s:I, s:I, s:I, s:I, s:b, s:o}", "name",
        r->name, "audio_packets", (json_int_t)r->audio_packets,
        "audio_frames_decoded", (json_int_t)r->audio_frames_decoded,
        "audio_peak_hz", kc_remote_peak_hz(r), "video_packets",
        (json_int_t)r->video_packets, "video_frames_decoded",
        (json_int_t)r->video_frames_decoded, "screen_packets",
        (json_int_t)r->screen_packets, "screen_frames_decoded",
        (json_int_t)r->screen_frames_decoded, "decode_errors",
        (json_int_t)r->decode_errors, "present", r->present,
        "last_media_unix_ms",
        r->last_media_ms ? json_integer(r->last_media_ms) : json_null());
}

/* {"sent_frames", "sent_packets", "error"}: error is share_denied when
 * kaigi refused to forward it. All 0 / null without --screen. */
static json_t *screen_json(const kc_app *app)
{
    const kc_vtrack *v = &app->pub.screen;
    return json_pack("{s:I, s:I, s:o}", "sent_frames", (json_int_t)v->frames,
                     "sent_packets", (json_int_t)v->packets, "error",
                     app->screen_error[0] ? json_string(app->screen_error)
                                          : json_null());
}

static uint64_t unprotect_failures(const kc_app *app)
{
    uint64_t n = 0;
    if (app->pub_t.peer)
        n += kg_client_peer_get_stats(app->pub_t.peer)->unprotect_fail;
    if (app->sub_t.peer)
        n += kg_client_peer_get_stats(app->sub_t.peer)->unprotect_fail;
    return n;
}

/* "amplitude", "audio_level" (the last frame's) and "speaker":
 * {"events", "last"} of the `speaker` messages received. */
static void speaker_report(const kc_app *app, json_t *r)
{
    json_object_set_new(r, "amplitude", json_real(app->opts.amplitude));
    json_object_set_new(r, "audio_level",
                        json_integer(app->pub.audio_level));
    json_object_set_new(
        r, "speaker",
        json_pack("{s:I, s:o}", "events", (json_int_t)app->speaker_events,
                  "last", app->speaker_last[0]
                              ? json_string(app->speaker_last)
                              : json_null()));
}

/* What the test aids did: --timeline's buckets (into each remote),
 * --mute's log, --remb-drop's window in wall-clock time. */
static void test_aids_report(const kc_app *app, json_t *r)
{
    const kc_opts *o = &app->opts;
    int64_t joined = app->meeting.joined_ms;
    kc_timeline_report(app, r, json_object_get(r, "remotes"));
    kc_mute_report(app, r);
    if (o->remb_drop_end > 0 && joined)
        json_object_set_new(
            r, "remb_drop",
            json_pack("{s:I, s:I, s:I}", "start_unix_ms",
                      (json_int_t)(joined + (int64_t)(o->remb_drop_start *
                                                      1000.0)),
                      "end_unix_ms",
                      (json_int_t)(joined +
                                   (int64_t)(o->remb_drop_end * 1000.0)),
                      "kbps", (json_int_t)o->remb_drop_kbps));
}

static json_t *report_json(const kc_app *app)
{
    const kc_sent *s = &app->sent;
    const kc_vtrack *cam = &app->pub.cam;
    json_t *remotes = json_object();
    for (size_t i = 0; i < app->n_remotes; i++)
        json_object_set_new(remotes, app->remotes[i].id,
                            remote_json(&app->remotes[i]));
    kc_report_tones(app, remotes);
    kg_time end = app->publish_end ? app->publish_end : kc_now();
    double dur = app->publish_start
                     ? (double)(end - app->publish_start) / (double)KG_SEC
                     : 0.0;
    json_t *r = json_pack(
        "{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:f, s:I,"
        " s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:o, s:I, s:I, s:f}",
        "joined", app->joined, "participant", app->participant, "room",
        app->room, "node", app->node, "srtp_profile",
        kg_srtp_profile_name(app->pub_t.profile), "subscribe_srtp_profile",
        kg_srtp_profile_name(app->sub_t.profile), "dtls_cipher",
        app->pub_t.cipher, "dtls_version", app->pub_t.version, "tone_hz",
        app->opts.tone, "seed", (json_int_t)app->opts.seed, "sent",
        "audio_packets", (json_int_t)s->audio_packets, "audio_frames",
        (json_int_t)s->audio_frames, "video_packets", (json_int_t)cam->packets,
        "video_frames", (json_int_t)cam->frames, "keyframes",
        (json_int_t)cam->keyframes,
        "bytes", (json_int_t)s->bytes, "remotes", remotes,
        "srtp_unprotect_failures", (json_int_t)unprotect_failures(app),
        "subscribe_offers", (json_int_t)app->subscribe_offers, "duration_s",
        dur);
    const kc_garbage *g = &app->garbage;
    if (r && app->opts.garbage)
        json_object_set_new(
            r, "garbage",
            json_pack("{s:I, s:I, s:I, s:I, s:I}", "sent", (json_int_t)g->sent,
                      "bad_srtp", (json_int_t)g->bad_srtp, "bad_stun",
                      (json_int_t)g->bad_stun, "malformed",
                      (json_int_t)g->malformed, "unknown_source",
                      (json_int_t)g->unknown_source));
    if (r)
        json_object_set_new(r, "screen", screen_json(app));
    if (r)
        speaker_report(app, r);
    if (r)
        test_aids_report(app, r);
    if (r && app->error[0])
        json_object_set_new(r, "error", json_string(app->error));
    if (r)
        kc_meeting_report(app, r);
    if (r)
        json_object_set_new(r, "rtcp", kc_rtcp_report(app));
    uint64_t replays = 0;
    if (app->pub_t.peer)
        replays += kg_client_peer_get_stats(app->pub_t.peer)->replays;
    if (app->sub_t.peer)
        replays += kg_client_peer_get_stats(app->sub_t.peer)->replays;
    if (r)
        json_object_set_new(r, "srtp_replays", json_integer((json_int_t)replays));
    if (r)
        json_object_update_new(
            r, json_pack("{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
                         "nacks_sent",
                         (json_int_t)app->nacks_sent, "nacks_in",
                         (json_int_t)app->nacks_in, "retransmits",
                         (json_int_t)app->retransmits, "packets_recovered",
                         (json_int_t)app->packets_recovered,
                         "packets_given_up", (json_int_t)app->packets_given_up,
                         "reorder_skipped", (json_int_t)app->reorder_skipped,
                         "loss_dropped", (json_int_t)app->loss_dropped,
                         "stream_resets", (json_int_t)app->stream_resets));
    if (r)
        json_object_update_new(
            r, json_pack("{s:I, s:I, s:I}", "nack_recovered",
                         (json_int_t)app->nack_recovered, "recv_loss_dropped",
                         (json_int_t)app->recv_loss_dropped,
                         "recv_loss_video",
                         (json_int_t)app->recv_loss_video));
    return r;
}

static void write_report(kc_app *app)
{
    json_t *r = report_json(app);
    int rc = -1;
    if (r && strcmp(app->opts.report, "-") == 0) {
        rc = json_dumpf(r, stdout, JSON_INDENT(2));
        fputc('\n', stdout);
        fflush(stdout);
    } else if (r) {
        rc = json_dump_file(r, app->opts.report, JSON_INDENT(2));
    }
    json_decref(r);
    if (rc != 0) {
        fprintf(stderr, "kaigi-client: cannot write the report to %s\n",
                app->opts.report);
        if (app->exit_code == 0)
            app->exit_code = 1;
    }
}

/* Ends the run from a libuv callback: the report goes out first, so that
 * it exists even if a handle then refuses to close. */
static void finish(kc_app *app)
{
    if (app->phase == KC_DONE)
        return;
    app->phase = KC_DONE;
    write_report(app);
    kc_garbage_close(app);
    kc_transport_close(&app->pub_t);
    kc_transport_close(&app->sub_t);
    kc_meeting_close(app);
    kc_mute_close(app);
    kc_timeline_close(app);
    uv_close((uv_handle_t *)&app->phase_timer, NULL);
    uv_close((uv_handle_t *)&app->media_timer, NULL);
    uv_close((uv_handle_t *)&app->connect_timer, NULL);
    kc_rtcp_close(app);
    kc_ws_del(app->ws);
    uv_timer_start(&app->watchdog, on_watchdog, GUARD_MS, 0);
    uv_unref((uv_handle_t *)&app->watchdog);
}

/* --- command line --------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
        "usage: kaigi-client CREDENTIALS --name N [options]\n"
        "CREDENTIALS, exactly one of:\n"
        "  --meeting ID --pin PIN       a scheduled meeting, with its PIN\n"
        "  --invite TOKEN               a one-time invite\n"
        "  --meeting ID --host-key KEY  a scheduled meeting, as its host\n"
        "  --room R                     an ad-hoc room (kaigi --open-rooms)\n"
        "options:\n"
        "  --server URL       signalling URL (default ws://127.0.0.1:8080/ws;\n"
        "                     wss://HOST:PORT/ws for a kaigi with TLS)\n"
        "  --ca FILE          trust only this PEM CA for wss:// (default:\n"
        "                     the system's trusted CAs); the certificate\n"
        "                     must also name the URL's host\n"
        "  --name N           display name (required)\n"
        "  --duration S       seconds to publish (default 10)\n"
        "  --report FILE|-    where to write the JSON report (default -)\n"
        "  --tone HZ          audio tone (default 400 + 100 * (seed %% 10))\n"
        "  --seed N           seed of the tone and the video pattern\n"
        "  --amplitude A      tone amplitude, 0..1 of full scale (default\n"
        "                     0.3; 0 sends silence); the RFC 6464 level in\n"
        "                     each packet is measured from what is encoded\n"
        "                     (default random)\n"
        "  --video-kbps K     VP8 target bitrate (default 500)\n"
        "  --wait-remotes N   publish only once N others are admitted with\n"
        "                     tracks and the subscribe transport is up\n"
        "                     (default 0)\n"
        "  --linger S         stay in the room S s after publishing ends,\n"
        "                     still receiving (default 0; a test aid)\n"
        "  --max-wait S       give up after S s in the waiting room\n"
        "                     (default 120)\n"
        "  --garbage PPS      also send PPS malformed datagrams/s to kaigi's\n"
        "                     media port while publishing (a test aid)\n"
        "  --tcp              media over ICE-TCP (RFC 6544/4571) to kaigi's\n"
        "                     passive TCP candidate instead of UDP\n"
        "  --tcp-stall S      with --tcp: stop reading the subscribe\n"
        "                     connection S s after it connects (a test aid:\n"
        "                     a receiver too slow for its stream)\n"
        "  --bind IP          local address (numeric IPv4/IPv6) of every\n"
        "                     socket: the WebSocket (when the server's\n"
        "                     address is of the same family) and the\n"
        "                     media (UDP, or TCP with --tcp)\n"
        "  --screen           also publish a screen share (a second VP8\n"
        "                     track, 320x180, marked \"screen\")\n"
        "  --simulcast        publish the camera as 3 layers (160x90,\n"
        "                     320x180, 640x360; a=ssrc-group:SIM)\n"
        "  --simulcast-rid    as --simulcast, announced as Chromium does\n"
        "                     with rids (a=rid, a=simulcast, no a=ssrc)\n"
        "  --max-layer L      ask kaigi for at most simulcast layer L\n"
        "                     (0-2) of every remote's video (video_layer)\n"
        "  --max-recv-kbps K  as a receiver, tell kaigi (REMB) that K\n"
        "                     kbit/s is all we can take (default: no cap)\n"
        "  --mixed-audio      hear kaigi's minus-one audio mix (one track)\n"
        "                     instead of each participant's audio\n"
        "  --expect-tones HZ,...  report each remote's audio energy at\n"
        "                     these frequencies (\"tones\", up to 8)\n"
        "  --loss PERCENT     drop that share of our outgoing RTP, first\n"
        "                     sends and retransmissions alike (seeded by\n"
        "                     --seed; a test aid)\n"
        "  --recv-loss PERCENT  drop that share of the RTP kaigi sends us,\n"
        "                     on arrival, before SRTP and the NACK\n"
        "                     generator see it (seeded by --seed; a test\n"
        "                     aid; reported as recv_loss_dropped)\n"
        "  --no-nack          neither send nor answer NACKs (a test aid)\n"
        "  --timeline MS      report each remote's media over time, one\n"
        "                     entry per MS (50-10000) in its \"timeline\":\n"
        "                     unix_ms, audio and video frames decoded,\n"
        "                     --expect-tones energies, camera width and\n"
        "                     height (a test aid)\n"
        "  --remb-drop START:END:KBPS  from START to END seconds after\n"
        "                     joined, tell kaigi (REMB) KBPS kbit/s is\n"
        "                     all we can take (a test aid)\n"
        "  --accept-unmute    answer the host's unmute_request with unmute\n"
        "                     (muted or not, we keep sending our audio)\n"
        "host controls (acted on while kaigi says we are host):\n"
        "  --admit-all        admit everyone on each waiting_list\n"
        "  --hold NAME[,...]  with --admit-all: admit these nicknames only\n"
        "                     --hold-for S after they first wait (repeatable)\n"
        "  --hold-for S       seconds a held nickname waits (default 3)\n"
        "  --remove WHO       remove WHO (name or id) 1 s after it is in\n"
        "  --lock-after S     lock the meeting S s after joining\n"
        "  --end-after S      end the meeting S s after joining\n"
        "  --leave-to WHO     on leaving, hand the host role to WHO\n"
        "  --mute WHO@S       mute WHO (name or id) S s after joining, or\n"
        "                     once WHO is in\n"
        "  --ask-unmute WHO@S  ask WHO to unmute S s after joining\n"
        "  --handover WHO@S   hand the host role to WHO S s after joining\n"
        "  --help             this text\n"
        "exit status: 0 done (also when removed or the meeting ended),\n"
        "1 failure or join error, 2 usage, 3 denied from the waiting room\n");
}

static int parse_num(const char *s, double lo, double hi, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v >= lo && v <= hi))
        return -1;
    *out = v;
    return 0;
}

static bool given(const char *s)
{
    return s && *s;
}

/* Exactly one way in: room, invite, or meeting with one of pin and
 * host_key. Returns 0 or -1 with a message. */
static int check_credentials(const kc_opts *o)
{
    int ways = given(o->room) + given(o->invite) + given(o->meeting);
    bool ok = ways == 1 &&
              (given(o->meeting) ? given(o->pin) != given(o->host_key)
                                 : !o->pin && !o->host_key);
    bool empty = (o->room && !*o->room) || (o->invite && !*o->invite) ||
                 (o->meeting && !*o->meeting) || (o->pin && !*o->pin) ||
                 (o->host_key && !*o->host_key);
    if (ok && !empty)
        return 0;
    fprintf(stderr, "kaigi-client: give exactly one of --meeting with --pin,"
                    " --invite, --meeting with --host-key, --room\n");
    return -1;
}

/* A numeric IPv4 or IPv6 address, nothing a resolver would have to
 * look up. */
static int numeric_ip(const char *s)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1
               ? 0
               : -1;
}

/* --hold a,b (split in place, once checked, so that an error message
 * still shows the whole value: argv's strings are ours to modify).
 * Returns 0 or -1 for an empty name or more than KC_MAX_HOLD names. */
static int add_holds(kc_opts *o, char *list)
{
    size_t n = 1;
    for (const char *p = list; *p; p++)
        n += *p == ',';
    if (!*list || strstr(list, ",,") || list[strlen(list) - 1] == ',' ||
        *list == ',' || n > KC_MAX_HOLD - o->n_hold)
        return -1;
    char *save = NULL;
    for (char *p = strtok_r(list, ",", &save); p;
         p = strtok_r(NULL, ",", &save))
        o->hold[o->n_hold++] = p;
    return 0;
}

/* --remb-drop START:END:KBPS: 0 <= START < END <= 86400 seconds,
 * 10..1000000 kbit/s. Returns 0 or -1. */
static int parse_remb_drop(kc_opts *o, const char *arg)
{
    double start, end, kbps;
    char tail;
    if (sscanf(arg, "%lf:%lf:%lf%c", &start, &end, &kbps, &tail) != 3 ||
        !(start >= 0 && start < end && end <= 86400) ||
        !(kbps >= 10 && kbps <= 1000000))
        return -1;
    o->remb_drop_start = start;
    o->remb_drop_end = end;
    o->remb_drop_kbps = (unsigned)kbps;
    return 0;
}

/* One option's value; returns 0 or -1 for a bad value, 1 for --help, 2
 * for an unknown option. */
static int take_opt(int c, kc_opts *o, double *nums)
{
    switch (c) {
    case 's': o->server = optarg; return 0;
    case 'r': o->room = optarg; return 0;
    case 'm': o->meeting = optarg; return 0;
    case 'p': o->pin = optarg; return 0;
    case 'i': o->invite = optarg; return 0;
    case 'K': o->host_key = optarg; return 0;
    case 'n': o->name = optarg; return 0;
    case 'o': o->report = optarg; return 0;
    case 'A': o->admit_all = true; return 0;
    case 'R': o->remove = optarg; return 0;
    case 'T': o->leave_to = optarg; return 0;
    case 'C': o->screen = true; return 0;
    case 'U': o->simulcast = true; return 0;
    case 'I': o->simulcast = o->simulcast_rid = true; return 0;
    case 'J': return parse_num(optarg, 0, 2, &nums[6]);
    case 'Z': return parse_num(optarg, 10, 1000000, &nums[5]);
    case 'X': o->mixed_audio = true; return 0;
    case 'Q': return kc_parse_tones(o, optarg);
    case 'N': o->no_nack = true; return 0;
    case 'Y': return parse_num(optarg, 0, 100, &o->loss);
    case 'V': return parse_num(optarg, 0, 100, &o->recv_loss);
    case 'e': return parse_num(optarg, 50, 10000, &nums[7]);
    case 'M': return kc_mute_parse_target(optarg, &o->mute_who, &o->mute_at);
    case 'G':
        return kc_mute_parse_target(optarg, &o->ask_unmute_who,
                                    &o->ask_unmute_at);
    case 'u': o->accept_unmute = true; return 0;
    case 'O':
        return kc_mute_parse_target(optarg, &o->handover_who,
                                    &o->handover_at);
    case 'D': return parse_remb_drop(o, optarg);
    case 'B': o->bind = optarg; return numeric_ip(optarg);
    case 'c': o->ca = optarg; return 0;
    case 1001: o->tcp = true; return 0;
    case 1002: return parse_num(optarg, 0.1, 86400, &o->tcp_stall);
    case 'H': return add_holds(o, optarg);
    case 'F': return parse_num(optarg, 0, 86400, &o->hold_for);
    case 'd': return parse_num(optarg, 0.1, 86400, &o->duration);
    case 'l': return parse_num(optarg, 0, 3600, &o->linger);
    case 't': return parse_num(optarg, 20, 20000, &nums[0]);
    case 'S': return parse_num(optarg, 0, UINT32_MAX, &nums[1]);
    case 'k': return parse_num(optarg, 30, 50000, &nums[2]);
    case 'w': return parse_num(optarg, 0, KC_MAX_REMOTES - 1, &nums[3]);
    case 'g': return parse_num(optarg, 0, 100000, &nums[4]);
    case 'W': return parse_num(optarg, 0.1, 86400, &o->max_wait);
    case 'L': return parse_num(optarg, 0.001, 86400, &o->lock_after);
    case 'E': return parse_num(optarg, 0.001, 86400, &o->end_after);
    case 'a': return parse_num(optarg, 0, 1, &o->amplitude);
    case 'h': return 1;
    default: return 2;
    }
}

/* Returns 0, 1 for --help, or -1 (with a message) for bad arguments. */
static int parse_args(int argc, char **argv, kc_opts *o)
{
    static const struct option longs[] = {
        {"server", required_argument, NULL, 's'},
        {"room", required_argument, NULL, 'r'},
        {"meeting", required_argument, NULL, 'm'},
        {"pin", required_argument, NULL, 'p'},
        {"invite", required_argument, NULL, 'i'},
        {"host-key", required_argument, NULL, 'K'},
        {"name", required_argument, NULL, 'n'},
        {"duration", required_argument, NULL, 'd'},
        {"report", required_argument, NULL, 'o'},
        {"tone", required_argument, NULL, 't'},
        {"seed", required_argument, NULL, 'S'},
        {"video-kbps", required_argument, NULL, 'k'},
        {"wait-remotes", required_argument, NULL, 'w'},
        {"linger", required_argument, NULL, 'l'},
        {"garbage", required_argument, NULL, 'g'},
        {"max-wait", required_argument, NULL, 'W'},
        {"admit-all", no_argument, NULL, 'A'},
        {"remove", required_argument, NULL, 'R'},
        {"lock-after", required_argument, NULL, 'L'},
        {"end-after", required_argument, NULL, 'E'},
        {"leave-to", required_argument, NULL, 'T'},
        {"hold", required_argument, NULL, 'H'},
        {"hold-for", required_argument, NULL, 'F'},
        {"bind", required_argument, NULL, 'B'},
        {"ca", required_argument, NULL, 'c'},
        {"screen", no_argument, NULL, 'C'},
        {"mixed-audio", no_argument, NULL, 'X'},
        {"expect-tones", required_argument, NULL, 'Q'},
        {"loss", required_argument, NULL, 'Y'},
        {"no-nack", no_argument, NULL, 'N'},
        {"recv-loss", required_argument, NULL, 'V'},
        {"timeline", required_argument, NULL, 'e'},
        {"mute", required_argument, NULL, 'M'},
        {"ask-unmute", required_argument, NULL, 'G'},
        {"accept-unmute", no_argument, NULL, 'u'},
        {"handover", required_argument, NULL, 'O'},
        {"remb-drop", required_argument, NULL, 'D'},
        {"help", no_argument, NULL, 'h'},
        {"simulcast", no_argument, NULL, 'U'},
        {"max-recv-kbps", required_argument, NULL, 'Z'},
        {"simulcast-rid", no_argument, NULL, 'I'},
        {"max-layer", required_argument, NULL, 'J'},
        {"amplitude", required_argument, NULL, 'a'},
        {"tcp", no_argument, NULL, 1001},
        {"tcp-stall", required_argument, NULL, 1002},
        {NULL, 0, NULL, 0},
    };
    /* tone, seed, video kbps, wait remotes, garbage, max recv kbps,
     * max layer, timeline ms */
    double nums[8] = {0, -1, 500, 0, 0, 0, -1, 0};
    o->server = "ws://127.0.0.1:8080/ws";
    o->duration = 10;
    o->max_wait = 120;
    o->hold_for = 3;
    o->amplitude = 0.3;
    o->report = "-";
    int c, li = 0;
    while ((c = getopt_long(argc, argv, "", longs, &li)) != -1) {
        int rc = take_opt(c, o, nums);
        if (rc == 1)
            return 1;
        if (rc == 2)
            return -1;
        if (rc < 0) {
            fprintf(stderr, "kaigi-client: bad value '%s' for --%s\n", optarg,
                    longs[li].name);
            return -1;
        }
    }
    if (optind < argc || !given(o->name)) {
        fprintf(stderr, "kaigi-client: --name is required\n");
        return -1;
    }
    if (check_credentials(o) < 0)
        return -1;
    if (o->n_hold && !o->admit_all) {
        fprintf(stderr, "kaigi-client: --hold needs --admit-all\n");
        return -1;
    }
    o->seed = nums[1] >= 0 ? (uint32_t)nums[1] : kg_random_u32();
    o->tone = nums[0] > 0 ? nums[0] : 400.0 + 100.0 * (o->seed % 10);
    o->video_kbps = (unsigned)nums[2];
    o->wait_remotes = (unsigned)nums[3];
    o->garbage = (unsigned)nums[4];
    o->max_recv_kbps = (unsigned)nums[5];
    o->max_layer = (int)nums[6];
    o->timeline_ms = (unsigned)nums[7];
    return 0;
}

/* --- setup and teardown --------------------------------------------- */

/* The local address the kernel would use toward the server (a UDP
 * "connect" sends nothing): our media candidate must be reachable from
 * it. Falls back to 127.0.0.1. */
static void pick_bind_addr(const char *url, struct sockaddr_storage *out)
{
    char host[256], path[512];
    int port;
    memset(out, 0, sizeof(*out));
    uv_ip4_addr("127.0.0.1", 0, (struct sockaddr_in *)out);
    struct addrinfo hints = {.ai_socktype = SOCK_DGRAM}, *ai = NULL;
    if (kc_ws_parse_url(url, host, sizeof(host), &port, path,
                        sizeof(path)) < 0 ||
        getaddrinfo(host, "9", &hints, &ai) != 0 || !ai)
        return;
    int fd = socket(ai->ai_family, SOCK_DGRAM, 0);
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
        getsockname(fd, (struct sockaddr *)&ss, &len) == 0) {
        if (ss.ss_family == AF_INET)
            ((struct sockaddr_in *)&ss)->sin_port = 0;
        else
            ((struct sockaddr_in6 *)&ss)->sin6_port = 0;
        *out = ss;
    }
    if (fd >= 0)
        close(fd);
    freeaddrinfo(ai);
}

/* --bind: port 0, the address parse_args checked. */
static void set_bind_addr(const char *ip, struct sockaddr_storage *out)
{
    memset(out, 0, sizeof(*out));
    if (uv_ip4_addr(ip, 0, (struct sockaddr_in *)out) != 0)
        uv_ip6_addr(ip, 0, (struct sockaddr_in6 *)out);
}

static int setup(kc_app *app)
{
    /* Timers first: teardown closes them whatever fails below. */
    uv_timer_t *timers[] = {&app->watchdog, &app->phase_timer,
                            &app->media_timer, &app->connect_timer};
    for (size_t i = 0; i < KG_ARRAY_LEN(timers); i++) {
        uv_timer_init(app->loop, timers[i]);
        timers[i]->data = app;
    }
    kc_rtcp_init(app);
    kc_meeting_init(app);
    kc_mute_init(app);
    kc_timeline_init(app);
    kc_timeline_start(app);
    app->cert = kg_dtls_cert_new();
    app->dtls_ctx = app->cert ? kg_dtls_ctx_new(app->cert, KG_DTLS_CLIENT, 0)
                              : NULL;
    if (!app->dtls_ctx) {
        fprintf(stderr, "kaigi-client: cannot create the DTLS context\n");
        return -1;
    }
    if (kc_pub_init(app) < 0) {
        fprintf(stderr, "kaigi-client: cannot create the encoders\n");
        return -1;
    }
    app->rtcp_ssrc = kg_random_u32();
    app->pub_t.on_rtcp = kc_pub_on_rtcp;
    app->sub_t.on_rtp = kc_sub_on_rtp;
    app->sub_t.on_rtcp = kc_sub_on_rtcp;
    if (app->opts.bind)
        set_bind_addr(app->opts.bind, &app->bind_addr);
    else
        pick_bind_addr(app->opts.server, &app->bind_addr);
    kg_time wd = (kg_time)(app->opts.duration * 1e9) + KC_WATCHDOG_SLACK;
    uv_timer_start(&app->watchdog, on_watchdog, wd / KG_MS, 0);
    kc_ws_handler h = {app, ws_message, ws_event};
    /* --bind of the other family than the server's signalling address
     * (media on ::1, the WebSocket on 127.0.0.1) binds the media only. */
    struct sockaddr_storage toward;
    pick_bind_addr(app->opts.server, &toward);
    const char *ws_bind = app->opts.bind &&
                                  toward.ss_family == app->bind_addr.ss_family
                              ? app->opts.bind
                              : NULL;
    app->ws = kc_ws_new(app->loop, app->opts.server, ws_bind, app->opts.ca,
                        &h);
    if (!app->ws) {
        kc_fail(app, 1, "join failed: cannot connect to %s", app->opts.server);
        finish(app);
    }
    return 0;
}

static void close_leftover(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h)) {
        fprintf(stderr, "kaigi-client: closing a leftover %s handle\n",
                uv_handle_type_name(h->type));
        uv_close(h, NULL);
    }
}

static void teardown(kc_app *app)
{
    /* The guard timer, then whatever a forced stop left open. */
    if (!uv_is_closing((uv_handle_t *)&app->watchdog))
        uv_close((uv_handle_t *)&app->watchdog, NULL);
    uv_walk(app->loop, close_leftover, NULL);
    uv_run(app->loop, UV_RUN_DEFAULT);
    kc_ws_free(app->ws);
    uv_run(app->loop, UV_RUN_DEFAULT);
    if (uv_loop_close(app->loop) != 0)
        fprintf(stderr, "kaigi-client: the event loop did not close\n");
    kg_client_peer_del(app->pub_t.peer);
    kg_client_peer_del(app->sub_t.peer);
    kc_media_free(app);
    kc_meeting_free(app);
    kc_mute_free(app);
    kg_dtls_ctx_del(app->dtls_ctx);
    kg_dtls_cert_del(app->cert);
}

int main(int argc, char **argv)
{
    kc_app *app = calloc(1, sizeof(*app));
    uv_loop_t loop;
    if (!app || uv_loop_init(&loop) != 0) {
        fprintf(stderr, "kaigi-client: out of memory\n");
        return 1;
    }
    int rc = parse_args(argc, argv, &app->opts);
    if (rc != 0) {
        usage(rc > 0 ? stdout : stderr);
        uv_loop_close(&loop);
        free(app);
        return rc > 0 ? 0 : 2;
    }
    app->loop = &loop;
    snprintf(app->room, sizeof(app->room), "%s",
             app->opts.room ? app->opts.room : "");
    if (setup(app) < 0) {
        app->exit_code = 1;
        finish(app);
    } else {
        uv_run(&loop, UV_RUN_DEFAULT);
    }
    teardown(app);
    int code = app->exit_code;
    free(app);
    return code;
}
