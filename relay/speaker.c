#include "relay/speaker.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The dominant speaker's rank in the top-N selection: above any
 * loudness, so the voice everyone is told about is also heard. */
#define DOMINANT_KEY 1e9

void kg_speaker_config_default(kg_speaker_config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->interval = 300 * KG_MS;
    cfg->challenge = 3;
    cfg->margin_db = 3.0;
    cfg->silence = 60;
    cfg->min_gap = 500 * KG_MS;
    cfg->loudest = 0;
    cfg->keep_db = 6.0;
    cfg->use_vad = false;
}

int kg_speaker_init(kg_speaker *sp, const kg_speaker_config *cfg)
{
    kg_speaker_config c;
    if (cfg)
        c = *cfg;
    else
        kg_speaker_config_default(&c);
    if (c.interval == 0 || c.challenge == 0 || !(c.margin_db >= 0) ||
        !(c.keep_db >= 0) || c.silence > KG_SPEAKER_SILENT_LEVEL)
        return KG_ERR_INVAL;
    memset(sp, 0, sizeof(*sp));
    sp->cfg = c;
    /* RFC 6464: the level is -dBov; power relative to full scale is
     * 10^(-level/10). Averaging power, not decibels, lets a loud word
     * count for what it is against the pauses around it. */
    for (unsigned l = 0; l <= KG_SPEAKER_SILENT_LEVEL; l++)
        sp->lin[l] = (float)pow(10.0, -(double)l / 10.0);
    sp->window_end = KG_TIME_NEVER;
    sp->last_change = KG_TIME_NEVER;
    return 0;
}

void kg_speaker_free(kg_speaker *sp)
{
    free(sp->m);
    sp->m = NULL;
    sp->n = sp->cap = 0;
}

static kg_speaker_member *find(const kg_speaker *sp, uint64_t id)
{
    for (size_t i = 0; i < sp->n; i++) {
        if (sp->m[i].id == id)
            return &sp->m[i];
    }
    return NULL;
}

static size_t n_forwarded(const kg_speaker *sp)
{
    size_t k = 0;
    for (size_t i = 0; i < sp->n; i++)
        k += sp->m[i].forwarded;
    return k;
}

int kg_speaker_add(kg_speaker *sp, uint64_t id)
{
    if (id == 0)
        return KG_ERR_INVAL;
    if (find(sp, id))
        return KG_ERR_EXISTS;
    if (sp->n == KG_SPEAKER_MAX)
        return KG_ERR_FULL;
    if (sp->n == sp->cap) {
        size_t cap = sp->cap ? sp->cap * 2 : 4;
        if (cap > KG_SPEAKER_MAX)
            cap = KG_SPEAKER_MAX;
        kg_speaker_member *m = realloc(sp->m, cap * sizeof(*m));
        if (!m)
            return KG_ERR_NOMEM;
        sp->m = m;
        sp->cap = cap;
    }
    kg_speaker_member *m = &sp->m[sp->n];
    memset(m, 0, sizeof(*m));
    m->id = id;
    m->forwarded = sp->cfg.loudest == 0 || n_forwarded(sp) < sp->cfg.loudest;
    sp->n++;
    return 0;
}

void kg_speaker_remove(kg_speaker *sp, uint64_t id)
{
    kg_speaker_member *m = find(sp, id);
    if (!m)
        return;
    size_t i = (size_t)(m - sp->m);
    /* Kept in order: ties are broken by the order members came in. */
    memmove(&sp->m[i], &sp->m[i + 1], (sp->n - i - 1) * sizeof(*m));
    sp->n--;
    if (sp->dominant == id)
        sp->dominant = 0;
    if (sp->challenger == id) {
        sp->challenger = 0;
        sp->wins = 0;
    }
}

/* The loudness of the window that just ended, and a fresh window. */
static void close_member(kg_speaker *sp, kg_speaker_member *m)
{
    double db = KG_SPEAKER_SILENT_LEVEL;
    if (m->n > 0 && m->acc > 0)
        db = -10.0 * log10(m->acc / m->n);
    m->loud = db >= sp->cfg.silence ? 0.0 : KG_SPEAKER_SILENT_LEVEL - db;
    m->acc = 0;
    m->n = 0;
}

/* The loudest member that is not silent, ties to the earliest added. */
static const kg_speaker_member *loudest_member(const kg_speaker *sp)
{
    const kg_speaker_member *best = NULL;
    for (size_t i = 0; i < sp->n; i++) {
        const kg_speaker_member *m = &sp->m[i];
        if (m->loud > 0 && (!best || m->loud > best->loud))
            best = m;
    }
    return best;
}

/* The hysteresis: see the header. at is the end of the window. */
static void decide_dominant(kg_speaker *sp, kg_time at)
{
    const kg_speaker_member *best = loudest_member(sp);
    if (!best || best->id == sp->dominant) {
        sp->challenger = 0;
        sp->wins = 0;
        return;
    }
    const kg_speaker_member *dom = sp->dominant ? find(sp, sp->dominant)
                                                : NULL;
    double dom_loud = dom ? dom->loud : 0.0;
    if (dom && dom_loud > 0 && best->loud < dom_loud + sp->cfg.margin_db) {
        sp->challenger = 0;
        sp->wins = 0;
        return;
    }
    if (sp->challenger == best->id) {
        sp->wins++;
    } else {
        sp->challenger = best->id;
        sp->wins = 1;
    }
    unsigned need = sp->dominant ? sp->cfg.challenge : 1;
    bool gap_ok = sp->last_change == KG_TIME_NEVER ||
                  at - sp->last_change >= sp->cfg.min_gap;
    if (sp->wins < need || !gap_ok)
        return;
    sp->dominant = best->id;
    sp->challenger = 0;
    sp->wins = 0;
    sp->last_change = at;
    sp->change_pending = true;
    sp->changes++;
}

static double rank_key(const kg_speaker *sp, const kg_speaker_member *m)
{
    if (m->id == sp->dominant)
        return DOMINANT_KEY;
    return m->loud + (m->forwarded ? sp->cfg.keep_db : 0.0);
}

/* Picks the `loudest` members with the highest keys (ties to the
 * earliest added): O(members x N), once per window. */
static void select_loudest(kg_speaker *sp)
{
    if (sp->cfg.loudest == 0)
        return;
    for (size_t i = 0; i < sp->n; i++)
        sp->m[i].pick = false;
    for (unsigned k = 0; k < sp->cfg.loudest && k < sp->n; k++) {
        kg_speaker_member *best = NULL;
        double best_key = -1;
        for (size_t i = 0; i < sp->n; i++) {
            kg_speaker_member *m = &sp->m[i];
            double key = rank_key(sp, m);
            if (!m->pick && key > best_key) {
                best = m;
                best_key = key;
            }
        }
        best->pick = true;
    }
    for (size_t i = 0; i < sp->n; i++)
        sp->m[i].forwarded = sp->m[i].pick;
}

static void close_window(kg_speaker *sp, kg_time at)
{
    for (size_t i = 0; i < sp->n; i++)
        close_member(sp, &sp->m[i]);
    decide_dominant(sp, at);
    select_loudest(sp);
}

bool kg_speaker_tick(kg_speaker *sp, kg_time now)
{
    if (sp->window_end == KG_TIME_NEVER || now < sp->window_end)
        return false;
    uint64_t before = sp->changes;
    kg_time iv = sp->cfg.interval;
    kg_time missed = (now - sp->window_end) / iv; /* whole empty windows */
    close_window(sp, sp->window_end);
    /* Empty windows are all alike: one of them resets every challenge
     * and silences everyone; more would change nothing. */
    if (missed > 0)
        close_window(sp, sp->window_end + missed * iv);
    sp->window_end += (missed + 1) * iv;
    return sp->changes != before;
}

int kg_speaker_feed(kg_speaker *sp, uint64_t id, uint8_t level, bool voice,
                    kg_time now)
{
    if (sp->window_end == KG_TIME_NEVER)
        sp->window_end = now + sp->cfg.interval;
    else
        kg_speaker_tick(sp, now);
    kg_speaker_member *m = find(sp, id);
    if (!m)
        return KG_ERR_NOTFOUND;
    if (level > KG_SPEAKER_SILENT_LEVEL || (sp->cfg.use_vad && !voice))
        level = KG_SPEAKER_SILENT_LEVEL;
    m->acc += sp->lin[level];
    m->n++;
    return m->forwarded ? 1 : 0;
}

kg_time kg_speaker_deadline(const kg_speaker *sp)
{
    return sp->window_end;
}

uint64_t kg_speaker_dominant(const kg_speaker *sp)
{
    return sp->dominant;
}

bool kg_speaker_take_change(kg_speaker *sp, uint64_t *id)
{
    if (!sp->change_pending)
        return false;
    sp->change_pending = false;
    *id = sp->dominant;
    return true;
}

bool kg_speaker_forwards(const kg_speaker *sp, uint64_t id)
{
    const kg_speaker_member *m = find(sp, id);
    return m && m->forwarded;
}

size_t kg_speaker_loudest(const kg_speaker *sp, uint64_t *out, size_t cap)
{
    /* A stable insertion sort of the forwarded members by loudness: at
     * most KG_SPEAKER_MAX of them, and only ops and tests ask. */
    const kg_speaker_member *sorted[KG_SPEAKER_MAX];
    size_t k = 0;
    for (size_t i = 0; i < sp->n; i++) {
        const kg_speaker_member *m = &sp->m[i];
        if (!m->forwarded)
            continue;
        size_t pos = k++;
        while (pos > 0 && sorted[pos - 1]->loud < m->loud) {
            sorted[pos] = sorted[pos - 1];
            pos--;
        }
        sorted[pos] = m;
    }
    for (size_t i = 0; i < k && i < cap; i++)
        out[i] = sorted[i]->id;
    return k;
}
