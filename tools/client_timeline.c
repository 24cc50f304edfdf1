/* kaigi-client --timeline MS: what each remote's media looked like over
 * the run, one entry per MS (longer when the loop was late, so each entry
 * has its own start_unix_ms and unix_ms): the audio and camera frames
 * decoded in it (screen frames apart), the --expect-tones energies of the audio decoded in it,
 * and the size of the last camera frame decoded by its end. A test lines
 * the entries up with what it did to the room: a host's mute (its
 * "mute_log"), a receiver's --remb-drop. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/client.h"

/* Entries kept per remote: 10 minutes at 250 ms. Later ones are counted
 * (timeline_dropped), not kept: a report stays bounded. */
#define TIMELINE_MAX 2400

void kc_timeline_init(kc_app *app)
{
    uv_timer_init(app->loop, &app->timeline_timer);
    app->timeline_timer.data = app;
    app->timeline_open = true;
}

static void on_timeline_timer(uv_timer_t *timer);

void kc_timeline_start(kc_app *app)
{
    unsigned ms = app->opts.timeline_ms;
    if (ms && app->timeline_open) {
        app->timeline_start_ms = kc_unix_ms();
        uv_timer_start(&app->timeline_timer, on_timeline_timer, ms, ms);
    }
}

void kc_timeline_close(kc_app *app)
{
    if (!app->timeline_open)
        return;
    app->timeline_open = false;
    uv_close((uv_handle_t *)&app->timeline_timer, NULL);
}

/* {"HZ": energy} over the samples r decoded in this bucket. */
static json_t *bucket_tones(const kc_app *app, const kc_remote *r,
                            int16_t *lin)
{
    double e[KC_MAX_TONES];
    size_t n = r->tl_samples < r->window_fill ? r->tl_samples : r->window_fill;
    kc_tones_last(app, r, n, lin, e);
    json_t *tones = json_object();
    for (size_t t = 0; tones && t < app->opts.n_expect_tones; t++) {
        char key[32];
        snprintf(key, sizeof(key), "%g", app->opts.expect_tones[t]);
        json_object_set_new(tones, key, json_real(e[t]));
    }
    return tones;
}

/* Closes r's current bucket at unix_ms and opens the next. */
static void close_bucket(kc_app *app, kc_remote *r, int64_t unix_ms,
                         int16_t *lin)
{
    if (!r->timeline)
        r->timeline = json_array();
    json_t *e = NULL;
    if (r->timeline && json_array_size(r->timeline) < TIMELINE_MAX)
        e = json_pack(
            "{s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:o}", "start_unix_ms",
            (json_int_t)app->timeline_start_ms, "unix_ms", (json_int_t)unix_ms,
            "audio_frames",
            (json_int_t)(r->audio_frames_decoded - r->tl_audio_at),
            "video_frames",
            (json_int_t)(r->video_frames_decoded - r->tl_video_at),
            "screen_frames",
            (json_int_t)(r->screen_frames_decoded - r->tl_screen_at), "width",
            (json_int_t)r->video_width, "height", (json_int_t)r->video_height,
            "tones", bucket_tones(app, r, lin));
    if (e)
        json_array_append_new(r->timeline, e);
    else
        app->timeline_dropped++;
    r->tl_audio_at = r->audio_frames_decoded;
    r->tl_video_at = r->video_frames_decoded;
    r->tl_screen_at = r->screen_frames_decoded;
    r->tl_samples = 0;
}

static void on_timeline_timer(uv_timer_t *timer)
{
    kc_app *app = timer->data;
    int16_t *lin = malloc(KC_PEAK_WINDOW * sizeof(int16_t));
    if (!lin)
        return;
    int64_t now = kc_unix_ms();
    for (size_t i = 0; i < app->n_remotes; i++)
        close_bucket(app, &app->remotes[i], now, lin);
    app->timeline_start_ms = now;
    free(lin);
}

void kc_timeline_report(const kc_app *app, json_t *report, json_t *remotes)
{
    if (!app->opts.timeline_ms)
        return;
    json_object_set_new(report, "timeline_ms",
                        json_integer(app->opts.timeline_ms));
    json_object_set_new(report, "timeline_dropped",
                        json_integer((json_int_t)app->timeline_dropped));
    for (size_t i = 0; i < app->n_remotes; i++) {
        const kc_remote *r = &app->remotes[i];
        json_t *obj = json_object_get(remotes, r->id);
        if (obj)
            json_object_set(obj, "timeline",
                            r->timeline ? r->timeline : json_null());
    }
}
