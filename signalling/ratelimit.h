/* Failed-credential limiting, sans-IO: per source address and per
 * meeting, failures are counted in a sliding window; past the limit the
 * key is locked out for a while (doubling on each lock-out, capped).
 * Keys are short byte strings (an address key, a meeting ID). Memory is
 * bounded: at most `cap` keys, the stalest evicted first. Addresses live
 * only in memory, never in the store or the logs.
 *
 * The window is fixed, not sliding: it opens at a key's first failure
 * and lasts `window`; a failure after it closes opens a new one with a
 * count of 1. The max_failures-th failure within one window starts a
 * lock-out of [now, until): lockout, then 2x, 4x... per lock-out since
 * the key's last success, capped at lockout_max; the doubling restarts
 * once the key stayed quiet for lockout_max after a lock-out ended.
 * After a lock-out the failure count restarts from 0. "Stalest" is the
 * key whose last failure is oldest; only kg_ratelimit_fail stores a key.
 */
#ifndef KG_RATELIMIT_H
#define KG_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "codec/err.h"

#define KG_RATELIMIT_KEY_MAX 64 /* bytes; longer keys are KG_ERR_INVAL */

typedef struct kg_ratelimit_cfg {
    unsigned max_failures; /* failures allowed within window */
    kg_time window;
    kg_time lockout;     /* first lock-out; doubles, up to lockout_max */
    kg_time lockout_max;
    size_t cap;          /* keys tracked */
} kg_ratelimit_cfg;

typedef struct kg_ratelimit kg_ratelimit;

/* NULL on allocation failure or a bad cfg (max_failures 0, cap 0 or
 * over 2^31). lockout_max below lockout reads as lockout. */
kg_ratelimit *kg_ratelimit_new(const kg_ratelimit_cfg *cfg);
void kg_ratelimit_del(kg_ratelimit *rl);

/* May key try now? Returns 0, or KG_ERR_DENIED with *until set to the
 * end of its lock-out (until may be NULL). KG_ERR_INVAL for a key of
 * length 0 or over KG_RATELIMIT_KEY_MAX, here and below. */
int kg_ratelimit_check(kg_ratelimit *rl, const void *key, size_t len,
                       kg_time now, kg_time *until);

/* Records a failure. Returns 0, or KG_ERR_DENIED when this failure
 * started a lock-out (*until set): the moment to tell someone. A failure
 * while the key is locked out (the caller should have checked) neither
 * counts nor extends the lock-out, and returns 0. */
int kg_ratelimit_fail(kg_ratelimit *rl, const void *key, size_t len,
                      kg_time now, kg_time *until);

/* Forgets key's failures (after a success). */
void kg_ratelimit_reset(kg_ratelimit *rl, const void *key, size_t len);

/* Lock-outs started so far (for stats). */
uint64_t kg_ratelimit_lockouts(const kg_ratelimit *rl);

/* Keys tracked now (at most cfg->cap). */
size_t kg_ratelimit_count(const kg_ratelimit *rl);

#endif
