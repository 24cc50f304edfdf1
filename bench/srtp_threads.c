/* srtp-threads-bench: does SRTP protection scale across threads?
 *
 * Each of N threads protects 200,000 RTP packets of 1,200 bytes with its
 * own kg_srtp (AEAD_AES_256_GCM, fixed test keys): nothing is shared by
 * kaigi's code. If the SRTP library scales, the wall time stays flat as N
 * grows and each thread's CPU per packet stays at the one-thread figure.
 *
 *   build/bench/srtp-threads-bench [THREADS]      (default 1)
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec/rtp.h"
#include "crypto/srtp.h"

#define PACKETS 200000
#define MAX_THREADS 64

static double seconds(const struct timespec *a, const struct timespec *b)
{
    return (double)(b->tv_sec - a->tv_sec) +
           (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

static void *run(void *arg)
{
    double *ns_per_packet = arg;
    kg_srtp_keys k;
    memset(&k, 0, sizeof(k));
    k.profile = KG_SRTP_AEAD_AES_256_GCM;
    k.key_len = 32;
    k.salt_len = 12;
    memset(k.local_key, 0x11, sizeof(k.local_key));
    memset(k.remote_key, 0x11, sizeof(k.remote_key));
    kg_srtp *s = kg_srtp_new(&k);
    if (!s) {
        *ns_per_packet = -1;
        return NULL;
    }
    uint8_t pkt[1400], payload[1200];
    memset(payload, 0x5a, sizeof(payload));
    struct timespec a, b;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &a);
    for (uint32_t i = 0; i < PACKETS; i++) {
        kg_rtp_hdr h = {.version = 2, .pt = 96, .seq = (uint16_t)i,
                        .ts = i * 3000u, .ssrc = 0x1234};
        ssize_t n = kg_rtp_write(&h, payload, sizeof(payload), pkt,
                                 sizeof(pkt));
        size_t len = (size_t)n;
        if (n < 0 || kg_srtp_protect(s, pkt, &len, sizeof(pkt)) != 0) {
            *ns_per_packet = -1;
            break;
        }
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &b);
    if (*ns_per_packet == 0)
        *ns_per_packet = seconds(&a, &b) * 1e9 / PACKETS;
    kg_srtp_del(s);
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 1;
    if (n < 1 || n > MAX_THREADS) {
        fprintf(stderr, "usage: srtp-threads-bench [THREADS 1..%d]\n",
                MAX_THREADS);
        return 2;
    }
    pthread_t t[MAX_THREADS];
    double ns[MAX_THREADS] = {0};
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < n; i++)
        pthread_create(&t[i], NULL, run, &ns[i]);
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double sum = 0;
    for (int i = 0; i < n; i++) {
        if (ns[i] < 0) {
            fprintf(stderr, "srtp-threads-bench: SRTP failed\n");
            return 1;
        }
        sum += ns[i];
    }
    double wall = seconds(&a, &b);
    printf("%d thread(s): wall %.2f s, %.0f protects/s in all, "
           "%.0f ns CPU per protect per thread\n",
           n, wall, n * PACKETS / wall, sum / n);
    return 0;
}
