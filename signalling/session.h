/* The signalling side of the SFU: rooms, participants and their
 * WebSocket protocol (signalling/PROTOCOL.md), SDP negotiation, and the
 * commands that drive the media workers. Runs on the signalling thread
 * only. The WebSocket transport (server.c) hands it whole text messages
 * and gives it a way to send and close.
 */
#ifndef KG_SESSION_H
#define KG_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <jansson.h>

#define KG_MAX_MESSAGE 65536
#define KG_ROOM_MAX_PARTICIPANTS 32

struct uv_loop_s; /* libuv's uv_loop_t: only the I/O layer needs uv.h */

typedef struct kg_sfu kg_sfu;
typedef struct kg_session kg_session;

/* How a session reaches its connection (implemented by server.c). */
typedef struct kg_conn_ops {
    void (*send)(void *conn, const char *text, size_t len);
    void (*close)(void *conn); /* close after queued messages are sent */
} kg_conn_ops;

typedef struct kg_sfu_config {
    struct uv_loop_s *loop; /* the signalling thread's libuv loop */
    const struct sockaddr *udp_addr; /* media socket of worker 0; worker i
                                        binds the next port up (port 0:
                                        each gets an ephemeral port) */
    unsigned workers;                /* media worker threads, >= 1 */
    const char *public_ip;           /* advertised candidate address */
    const char *node;                /* this server's name */
    unsigned dtls_flags;             /* KG_DTLS_ALLOW_LEGACY_SRTP */
    size_t max_participants;         /* whole server */
    const char *data_dir;            /* the meetings store */
    bool open_rooms;                 /* allow ad-hoc {"room": ...} joins */
    const char *base_url;            /* for links: "http://127.0.0.1:8080" */
    int pin_digits;                  /* KG_PIN_MIN..KG_PIN_MAX */
    bool worker_processes;           /* workers as child processes */
    unsigned loudest;                /* per room: forward the audio of the
                                        N loudest publishers; 0 = all */
    /* Sockets that have not joined yet hold no participant slot; at most
     * max_unjoined of them (0: KG_MAX_UNJOINED). When that pool is full,
     * a socket from a source (an IPv4 address, or an IPv6 prefix of
     * ipv6_prefix bits, 0: 64) takes the place of the oldest unjoined
     * socket of the source that holds the most, if that source holds
     * more than it would: a flood from a few sources cannot keep anyone
     * else out. Each socket has KG_JOIN_DEADLINE to send a join that
     * kaigi accepts (admitted or waiting). */
    size_t max_unjoined;
    unsigned ipv6_prefix;
    int tcp_port;                    /* ICE-TCP: KG_TCP_SAME_PORT, 0 off,
                                        else worker i listens on it + i */
} kg_sfu_config;

#define KG_MAX_UNJOINED 1024
#define KG_JOIN_DEADLINE (10 * KG_SEC)

/* The key that groups peer's connections and failures: "4:a.b.c.d" for
 * IPv4 (and IPv4-mapped IPv6), "6:<prefix>/<bits>" for IPv6 masked to
 * v6_prefix bits (1..128), the text itself if it is no address. Writes
 * at most cap bytes with a NUL; returns out. */
char *kg_source_key(const char *peer, unsigned v6_prefix, char *out,
                    size_t cap);

/* Creates the certificate and starts the media worker. Returns 0 or a
 * negative libuv/KG error (the UDP address in use, say); *out set on
 * success. */
int kg_sfu_new(kg_sfu **out, const kg_sfu_config *cfg, const kg_conn_ops *ops);

/* Closes every session and stops the workers. Run the loop afterwards so
 * the last handles close. */
void kg_sfu_del(kg_sfu *s);

/* A new WebSocket connection from peer (numeric address, kept in memory
 * only, for rate limits). NULL if the server is full. */
kg_session *kg_session_open(kg_sfu *s, void *conn, const char *peer);

/* One complete text message from the connection. */
void kg_session_on_message(kg_session *ss, const char *text, size_t len);

/* The connection is gone: leave the room, free the session. */
void kg_session_closed(kg_session *ss);

/* The REST API over this server's store. */
struct kg_api;
const struct kg_api *kg_sfu_api(kg_sfu *s);

/* The meetings store (for --demo). */
struct kg_store;
struct kg_store *kg_sfu_store(kg_sfu *s);

/* Server-wide statistics as JSON (caller owns the reference). */
json_t *kg_sfu_stats_json(kg_sfu *s);

#endif
