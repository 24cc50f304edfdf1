/* A histogram of forwarding delay: how long a datagram spent inside
 * kaigi, from the kernel's receive timestamp to the sendmmsg that hands
 * its copies back to the kernel. One per media worker, counted once per
 * copy sent; exported as a Prometheus histogram and read by kaigi-bench
 * as "the latency kaigi adds".
 *
 * Buckets have fixed upper bounds (kg_delay_bound_us) chosen to be
 * readable and fine around 1 ms; the last bucket is everything above the
 * last bound. Counts only grow: two readings subtract into the delays of
 * the interval between them. */
#ifndef KG_DELAY_H
#define KG_DELAY_H

#include <stdint.h>
#include <sys/socket.h>

#define KG_DELAY_BOUNDS 36
#define KG_DELAY_BUCKETS (KG_DELAY_BOUNDS + 1)

/* Upper bounds (inclusive) of the buckets, in microseconds, ascending. */
extern const uint32_t kg_delay_bound_us[KG_DELAY_BOUNDS];

typedef struct kg_delay_hist {
    uint64_t count[KG_DELAY_BUCKETS];
    uint64_t sum_ns; /* of every sample added, for a Prometheus _sum */
} kg_delay_hist;

/* The bucket a delay of ns nanoseconds falls in; a negative delay (the
 * clock stepped) counts as 0. */
unsigned kg_delay_bucket(int64_t ns);

/* The two ends of a delay, in CLOCK_REALTIME nanoseconds (the kernel's
 * receive timestamps are on that clock): now, and the SO_TIMESTAMPNS
 * timestamp a received message carries (0 if it carries none). */
int64_t kg_delay_clock(void);
int64_t kg_delay_rx_stamp(struct msghdr *m);

/* Counts one sample. */
void kg_delay_hist_add(kg_delay_hist *h, int64_t ns);

/* Samples in h. */
uint64_t kg_delay_hist_total(const kg_delay_hist *h);

/* out = later - earlier, bucket by bucket; a bucket that went down (a
 * restarted worker) reads 0. out may alias either argument. */
void kg_delay_hist_diff(kg_delay_hist *out, const kg_delay_hist *later,
                        const kg_delay_hist *earlier);

/* The q-quantile (0 < q <= 1) in microseconds, interpolated linearly
 * inside its bucket (the first bucket starts at 0). A quantile in the
 * overflow bucket reads as the last bound. Returns -1 when h is empty
 * or q is out of range. */
double kg_delay_hist_quantile_us(const kg_delay_hist *h, double q);

#endif
