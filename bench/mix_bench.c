/* mix-bench: the CPU cost of kaigi's audio mixer (codec/mixer.h).
 *
 * N sources publish a tone each (pre-encoded Opus, 20 ms, stereo); M
 * listeners hear the minus-one mix. Runs a fixed number of 20 ms ticks
 * on simulated time, several times, and prints the median CPU time:
 *   - per source: one Opus decode (timed alone, same packets);
 *   - per tick: push + tick of the whole room;
 *   - per listener: (tick - N decodes) / M, for listeners who publish
 *     (own encoder: "publishing") and for listeners who do not (the full
 *     mix is encoded once for all of them: "shared").
 *
 * usage: mix-bench [--sources N] [--listeners M] [--ticks T] [--runs R]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/audio.h"
#include "codec/err.h"
#include "codec/mixer.h"

#define STEREO (KG_AUDIO_FRAME * KG_AUDIO_CHANNELS)
#define RING 50 /* distinct pre-encoded frames per source, replayed */
#define MAX_RUNS 31

typedef struct pkt {
    uint8_t data[KG_MIXER_MAX_PAYLOAD];
    size_t len;
} pkt;

static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

/* RING frames of a tone per source, encoded as kaigi-client does. */
static pkt *encode_sources(int n)
{
    pkt *p = calloc((size_t)n * RING, sizeof(*p));
    if (!p)
        return NULL;
    for (int s = 0; s < n; s++) {
        kg_tone t;
        kg_tone_init(&t, 300.0 + 37.0 * s, 0.3);
        kg_opus_enc *e = kg_opus_enc_new(64000);
        if (!e) {
            free(p);
            return NULL;
        }
        for (int f = 0; f < RING; f++) {
            int16_t pcm[STEREO];
            kg_tone_fill(&t, pcm);
            ssize_t len = kg_opus_encode(e, pcm, p[s * RING + f].data,
                                         KG_MIXER_MAX_PAYLOAD);
            p[s * RING + f].len = len > 0 ? (size_t)len : 0;
        }
        kg_opus_enc_del(e);
    }
    return p;
}

/* CPU µs of one Opus decode, over ticks frames of source 0. */
static double decode_us(const pkt *p, int ticks)
{
    kg_opus_dec *d = kg_opus_dec_new();
    if (!d)
        return -1;
    int16_t pcm[STEREO];
    double t0 = cpu_us();
    for (int i = 0; i < ticks; i++)
        kg_opus_decode(d, p[i % RING].data, p[i % RING].len, pcm,
                       KG_AUDIO_FRAME);
    double t = cpu_us() - t0;
    kg_opus_dec_del(d);
    return t / ticks;
}

/* CPU µs per tick of a room: n sources, m listeners; publishing: the
 * first listeners own the sources (min(n, m) of them have an encoder of
 * their own, the rest share), else every listener shares. */
static double room_us(const pkt *p, int n, int m, bool publishing, int ticks)
{
    static char owners[KG_MIXER_MAX_SOURCES + KG_MIXER_MAX_LISTENERS];
    static kg_mix_out out[KG_MIXER_MAX_LISTENERS];
    kg_mixer *mx = kg_mixer_new(KG_MIXER_BITRATE);
    if (!mx)
        return -1;
    for (int s = 0; s < n; s++)
        kg_mixer_add_source(mx, &owners[s], 1);
    for (int l = 0; l < m; l++) {
        void *o = publishing && l < n ? &owners[l]
                                      : &owners[KG_MIXER_MAX_SOURCES + l];
        kg_mixer_add_listener(mx, o, 100u + (unsigned)l, 111, 0, 0);
    }
    kg_time now = 0;
    uint16_t seq = 0;
    /* Two frames in each jitter buffer first: playout starts at once. */
    for (int s = 0; s < n; s++)
        kg_mixer_push(mx, &owners[s], 1, seq, 0, p[s * RING].data,
                      p[s * RING].len);
    seq++;
    double t0 = cpu_us();
    for (int i = 0; i < ticks; i++, seq++, now += KG_MIXER_PERIOD) {
        for (int s = 0; s < n; s++) {
            const pkt *k = &p[s * RING + seq % RING];
            kg_mixer_push(mx, &owners[s], 1, seq, seq * 960u, k->data,
                          k->len);
        }
        size_t got = kg_mixer_tick(mx, now, out, KG_ARRAY_LEN(out));
        if (got != (size_t)m) {
            fprintf(stderr, "mix-bench: tick made %zu packets, not %d\n",
                    got, m);
            exit(1);
        }
    }
    double t = cpu_us() - t0;
    kg_mixer_stats st;
    kg_mixer_get_stats(mx, &st);
    if (n && st.concealed + st.late > 0) {
        fprintf(stderr, "mix-bench: %llu concealed, %llu late: not steady\n",
                (unsigned long long)st.concealed,
                (unsigned long long)st.late);
        exit(1);
    }
    kg_mixer_del(mx);
    return t / ticks;
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return -1;
    *out = (int)v;
    return 0;
}

int main(int argc, char **argv)
{
    int n = 4, m = 4, ticks = 1000, runs = 5;
    static const struct option longs[] = {
        {"sources", required_argument, NULL, 'n'},
        {"listeners", required_argument, NULL, 'm'},
        {"ticks", required_argument, NULL, 't'},
        {"runs", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        int rc = -1;
        switch (c) {
        case 'n': rc = parse_int(optarg, 1, KG_MIXER_MAX_SOURCES, &n); break;
        case 'm':
            rc = parse_int(optarg, 1, KG_MIXER_MAX_LISTENERS, &m);
            break;
        case 't': rc = parse_int(optarg, 10, 1000000, &ticks); break;
        case 'r': rc = parse_int(optarg, 1, MAX_RUNS, &runs); break;
        default: break;
        }
        if (rc < 0) {
            fprintf(stderr, "usage: mix-bench [--sources 1..%d] "
                            "[--listeners 1..%d] [--ticks T] [--runs 1..%d]\n",
                    KG_MIXER_MAX_SOURCES, KG_MIXER_MAX_LISTENERS, MAX_RUNS);
            return c == 'h' ? 0 : 2;
        }
    }
    pkt *p = encode_sources(n);
    if (!p) {
        fprintf(stderr, "mix-bench: out of memory\n");
        return 1;
    }
    double dec[MAX_RUNS], pub[MAX_RUNS], shr[MAX_RUNS];
    for (int r = 0; r < runs; r++) {
        dec[r] = decode_us(p, ticks);
        pub[r] = room_us(p, n, m, true, ticks);
        shr[r] = room_us(p, n, m, false, ticks);
    }
    double d = median(dec, runs), tp = median(pub, runs),
           ts = median(shr, runs);
    int own = m < n ? m : n;
    printf("mix-bench: %d sources, %d listeners, %d ticks of 20 ms, "
           "median of %d runs, Opus %d bit/s stereo, complexity 5\n",
           n, m, ticks, runs, KG_MIXER_BITRATE);
    printf("  decode per source:          %8.1f us per 20 ms frame\n", d);
    printf("  publishing listeners (%d own encoders, %d shared):\n", own,
           m - own);
    printf("    room per tick:            %8.1f us\n", tp);
    printf("    per listener:             %8.1f us per 20 ms frame "
           "(%.2f %% of a core)\n",
           (tp - n * d) / m, (tp - n * d) / m / 200.0);
    printf("  listeners who publish nothing (1 shared encoder):\n");
    printf("    room per tick:            %8.1f us\n", ts);
    printf("    per listener:             %8.1f us per 20 ms frame\n",
           (ts - n * d) / m);
    printf("  one core mixes for about %.0f publishing listeners "
           "(rooms like this one, %d sources each)\n",
           20000.0 / (tp / m), n);
    free(p);
    return 0;
}
