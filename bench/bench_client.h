/* kaigi-bench's synthetic clients, shared between the kaigi signalling
 * (bench_client.c, one WebSocket per client) and the Janus VideoRoom
 * signalling (bench_janus.c, Janus's REST API). Private to bench/: the
 * structs are the bench process's own state, not an interface. */
#ifndef KB_BENCH_CLIENT_H
#define KB_BENCH_CLIENT_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "bench/bench.h"
#include "crypto/dtls.h"
#include "relay/client_peer.h"
#include "relay/framing.h"
#include "relay/ice.h"
#include "tools/client_ws.h"

struct kb_proc;
struct kb_janus;

typedef struct kb_transport {
    struct kb_client *c;
    uv_udp_t udp;
    uv_timer_t timer;
    bool open;
    kg_ice_creds local;
    struct sockaddr_storage local_addr, remote;
    kg_client_peer *peer;
    kg_time connected_at; /* 0 until CONNECTED */
    /* --tcp: the connection to kaigi's passive TCP candidate */
    bool tcp, tcp_up;
    uv_tcp_t tcp_h;
    uv_connect_t tcp_conn;
    kg_framer rx;
} kb_transport;

typedef struct kb_client {
    struct kb_proc *proc;
    unsigned index, room;
    kc_ws *ws;
    struct kb_janus *janus; /* --janus: the REST session's state */
    bool ws_open, joined, failed, publish_answered;
    kg_time ws_open_at; /* signalling up (kaigi) or started (Janus) */
    kb_transport pub, sub;
    kg_time next_rr; /* receiver reports on the subscribe leg */
    kb_source src;
    kb_rx rx;
    uint64_t sent_packets, sent_bytes; /* in the window */
} kb_client;

typedef struct kb_proc {
    uv_loop_t loop;
    const kb_client_plan *plan;
    kg_dtls_cert *cert;
    kg_dtls_ctx *dtls;
    kb_client *clients;
    unsigned n;
    uv_timer_t start_timer, window_timer, end_timer;
    int media_fd;          /* timerfd: when the next packet is due */
    kg_time media_due;     /* what it is armed for; 0 before media */
    uv_poll_t media_poll;
    double cpu_at_ws;
    bool window_open;
    kb_hist *lat;
    kb_result *out;
} kb_proc;

/* Marks c failed (once) with a message on stderr. */
void kb_client_fail(kb_client *c, const char *fmt, const char *detail);

/* Opens the publish transport's socket and writes the client's publish
 * offer (audio + video, kg_sdp_offer_publish) into text (cap bytes).
 * setup_active: a=setup:active instead of actpass, so that the server is
 * the DTLS server whatever it prefers. Returns 0 or an error. */
int kb_client_publish_offer(kb_client *c, bool setup_active, char *text,
                            size_t cap);

/* Takes the server's answer to the publish offer: the payload types it
 * chose, then starts ICE + DTLS toward it. Returns 0 or an error. */
int kb_client_publish_answer(kb_client *c, const char *text);

/* Answers a subscribe offer (kg_sdp_answer_subscribe) into answer (cap
 * bytes), opening the subscribe transport on the first one and starting
 * ICE + DTLS toward the offer's transport. version: the offer's version
 * (the answer's o= version is version + 1). Returns 0 or an error. */
int kb_client_subscribe_answer(kb_client *c, const char *offer,
                               uint64_t version, char *answer, size_t cap);

/* bench_janus.c: the Janus VideoRoom signalling of one client. Starts
 * it (the first request goes out at once); failures go to
 * kb_client_fail. */
void kb_janus_start(kb_client *c);

#endif
