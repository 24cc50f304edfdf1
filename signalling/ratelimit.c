/* Failed-credential limiting: a fixed table of cap entries, chained in a
 * seeded hash and in a list ordered by last failure, so that lookup,
 * insertion and eviction of the stalest key all cost O(1). Only fail()
 * creates or refreshes an entry: check() of an unknown key stores
 * nothing, so probing cannot push real offenders out. */
#include "signalling/ratelimit.h"

#include <stdlib.h>
#include <string.h>

#include "crypto/random.h"

#define NIL UINT32_MAX

typedef struct rl_entry {
    uint8_t key[KG_RATELIMIT_KEY_MAX];
    uint8_t len;
    bool locked;          /* a lock-out was started (maybe over by now) */
    uint32_t hnext;       /* hash chain */
    uint32_t prev, next;  /* by last failure: head is the stalest */
    unsigned failures;    /* in the current window */
    unsigned strikes;     /* lock-outs since the last success */
    kg_time window_start;
    kg_time locked_until;
} rl_entry;

struct kg_ratelimit {
    kg_ratelimit_cfg cfg;
    rl_entry *e;
    uint32_t *buckets;
    size_t n_buckets;     /* a power of two */
    uint32_t head, tail;  /* the failure-order list */
    uint32_t free_list;   /* through hnext */
    size_t count;
    uint64_t seed;
    uint64_t lockouts;
};

static kg_time add_sat(kg_time a, kg_time b)
{
    return a > KG_TIME_NEVER - 1 - b ? KG_TIME_NEVER - 1 : a + b;
}

/* FNV-1a over a random basis: an attacker who picks keys (addresses)
 * cannot aim them at one chain without knowing the seed. */
static size_t bucket_of(const kg_ratelimit *rl, const void *key, size_t len)
{
    const uint8_t *k = key;
    uint64_t h = 0xcbf29ce484222325ull ^ rl->seed;
    for (size_t i = 0; i < len; i++) {
        h ^= k[i];
        h *= 0x100000001b3ull;
    }
    h ^= h >> 29;
    return (size_t)(h & (rl->n_buckets - 1));
}

kg_ratelimit *kg_ratelimit_new(const kg_ratelimit_cfg *cfg)
{
    if (!cfg || cfg->max_failures == 0 || cfg->cap == 0 ||
        cfg->cap >= NIL / 2)
        return NULL;
    kg_ratelimit *rl = calloc(1, sizeof(*rl));
    if (!rl)
        return NULL;
    rl->cfg = *cfg;
    if (rl->cfg.lockout_max < rl->cfg.lockout)
        rl->cfg.lockout_max = rl->cfg.lockout;
    rl->n_buckets = 1;
    while (rl->n_buckets < cfg->cap * 2)
        rl->n_buckets <<= 1;
    rl->e = calloc(cfg->cap, sizeof(*rl->e));
    rl->buckets = malloc(rl->n_buckets * sizeof(*rl->buckets));
    if (!rl->e || !rl->buckets) {
        kg_ratelimit_del(rl);
        return NULL;
    }
    for (size_t i = 0; i < rl->n_buckets; i++)
        rl->buckets[i] = NIL;
    for (size_t i = 0; i < cfg->cap; i++)
        rl->e[i].hnext = i + 1 < cfg->cap ? (uint32_t)(i + 1) : NIL;
    rl->free_list = 0;
    rl->head = rl->tail = NIL;
    if (kg_random_bytes(&rl->seed, sizeof(rl->seed)) != 0)
        rl->seed = 0x9e3779b97f4a7c15ull;
    return rl;
}

void kg_ratelimit_del(kg_ratelimit *rl)
{
    if (!rl)
        return;
    free(rl->e);
    free(rl->buckets);
    free(rl);
}

static bool key_ok(const void *key, size_t len)
{
    return key && len > 0 && len <= KG_RATELIMIT_KEY_MAX;
}

static uint32_t lookup(const kg_ratelimit *rl, const void *key, size_t len)
{
    uint32_t i = rl->buckets[bucket_of(rl, key, len)];
    while (i != NIL) {
        const rl_entry *e = &rl->e[i];
        if (e->len == len && memcmp(e->key, key, len) == 0)
            return i;
        i = e->hnext;
    }
    return NIL;
}

static void list_unlink(kg_ratelimit *rl, uint32_t i)
{
    rl_entry *e = &rl->e[i];
    if (e->prev != NIL)
        rl->e[e->prev].next = e->next;
    else
        rl->head = e->next;
    if (e->next != NIL)
        rl->e[e->next].prev = e->prev;
    else
        rl->tail = e->prev;
}

static void list_append(kg_ratelimit *rl, uint32_t i)
{
    rl_entry *e = &rl->e[i];
    e->prev = rl->tail;
    e->next = NIL;
    if (rl->tail != NIL)
        rl->e[rl->tail].next = i;
    else
        rl->head = i;
    rl->tail = i;
}

static void forget(kg_ratelimit *rl, uint32_t i)
{
    rl_entry *e = &rl->e[i];
    uint32_t *link = &rl->buckets[bucket_of(rl, e->key, e->len)];
    while (*link != i)
        link = &rl->e[*link].hnext;
    *link = e->hnext;
    list_unlink(rl, i);
    memset(e, 0, sizeof(*e));
    e->hnext = rl->free_list;
    rl->free_list = i;
    rl->count--;
}

/* A fresh entry for key, evicting the one whose last failure is oldest
 * when the table is full. */
static uint32_t insert(kg_ratelimit *rl, const void *key, size_t len)
{
    if (rl->free_list == NIL)
        forget(rl, rl->head);
    uint32_t i = rl->free_list;
    rl_entry *e = &rl->e[i];
    rl->free_list = e->hnext;
    memset(e, 0, sizeof(*e));
    e->len = (uint8_t)len;
    memcpy(e->key, key, len);
    size_t b = bucket_of(rl, key, len);
    e->hnext = rl->buckets[b];
    rl->buckets[b] = i;
    list_append(rl, i);
    rl->count++;
    return i;
}

static kg_time lockout_for(const kg_ratelimit *rl, unsigned strikes)
{
    kg_time d = rl->cfg.lockout, max = rl->cfg.lockout_max;
    for (unsigned s = 0; s < strikes && d < max; s++)
        d = d > max / 2 ? max : d * 2;
    return d;
}

int kg_ratelimit_check(kg_ratelimit *rl, const void *key, size_t len,
                       kg_time now, kg_time *until)
{
    if (!rl || !key_ok(key, len))
        return KG_ERR_INVAL;
    uint32_t i = lookup(rl, key, len);
    if (i == NIL)
        return 0;
    const rl_entry *e = &rl->e[i];
    if (e->locked && now < e->locked_until) {
        if (until)
            *until = e->locked_until;
        return KG_ERR_DENIED;
    }
    return 0;
}

int kg_ratelimit_fail(kg_ratelimit *rl, const void *key, size_t len,
                      kg_time now, kg_time *until)
{
    if (!rl || !key_ok(key, len))
        return KG_ERR_INVAL;
    uint32_t i = lookup(rl, key, len);
    if (i == NIL)
        i = insert(rl, key, len);
    else {
        list_unlink(rl, i); /* its last failure is now the newest */
        list_append(rl, i);
    }
    rl_entry *e = &rl->e[i];
    if (e->locked) {
        if (now < e->locked_until)
            return 0; /* tried while locked out: changes nothing */
        /* Over: the count restarts; the doubling restarts too once the
         * key stayed quiet for lockout_max after its lock-out. */
        if (now - e->locked_until >= rl->cfg.lockout_max)
            e->strikes = 0;
        e->locked = false;
        e->failures = 0;
    }
    if (e->failures == 0 || now - e->window_start >= rl->cfg.window ||
        now < e->window_start) {
        e->failures = 0;
        e->window_start = now;
    }
    if (++e->failures < rl->cfg.max_failures)
        return 0;
    e->locked = true;
    e->locked_until = add_sat(now, lockout_for(rl, e->strikes));
    if (e->strikes < 64)
        e->strikes++;
    e->failures = 0;
    rl->lockouts++;
    if (until)
        *until = e->locked_until;
    return KG_ERR_DENIED;
}

void kg_ratelimit_reset(kg_ratelimit *rl, const void *key, size_t len)
{
    if (!rl || !key_ok(key, len))
        return;
    uint32_t i = lookup(rl, key, len);
    if (i != NIL)
        forget(rl, i);
}

uint64_t kg_ratelimit_lockouts(const kg_ratelimit *rl)
{
    return rl ? rl->lockouts : 0;
}

size_t kg_ratelimit_count(const kg_ratelimit *rl)
{
    return rl ? rl->count : 0;
}
