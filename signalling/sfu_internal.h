/* Internal to the signalling layer: what session.c (participants, their
 * rooms and media negotiation, the WebSocket protocol's dispatch) and
 * meetings.c (scheduled meetings: credentials, rate limits, the live
 * policy, host controls) share. Signalling thread only; not an API.
 */
#ifndef KG_SFU_INTERNAL_H
#define KG_SFU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uv.h>

#include "codec/err.h"
#include "crypto/dtls.h"
#include "relay/ice.h"
#include "relay/worker.h"
#include "signalling/api.h"
#include "signalling/policy.h"
#include "signalling/ratelimit.h"
#include "signalling/sdp.h"
#include "signalling/session.h"
#include "signalling/store.h"

#define ID_LEN 8
#define NAME_MAX_BYTES 64
#define MAX_TRACKS 4
#define SDP_BUF (64 * 1024)
#define KG_MAX_WORKERS 64

typedef struct sroom sroom;

typedef struct sess_track {
    enum kg_sdp_kind kind;
    uint32_t ssrc;
    char track_id[64];
    bool screen;  /* offered as a screen share */
    bool blocked; /* the share policy stopped it (KG_CMD_BLOCK) */
} sess_track;

/* One m-section of a participant's subscribe transport. Slots are only
 * ever appended, so m-line indexes never move across re-offers. */
typedef struct sub_slot {
    enum kg_sdp_kind kind;
    kg_session *pub; /* NULL once the publisher left: section inactive */
    uint32_t in_ssrc;
    uint32_t out_ssrc;
    uint8_t pt;
    bool routed;
    char stream_id[ID_LEN + 2];
    char track_id[64];
    uint8_t sc_max_layer; /* video_layer: 1 + max simulcast layer, 0 none */
} sub_slot;

struct kg_session {
    kg_sfu *sfu;
    void *conn;
    uint64_t num; /* worker-facing participant number */
    unsigned worker; /* the worker of its room (set on entering it) */
    char id[ID_LEN + 2];
    char name[NAME_MAX_BYTES + 1];
    sroom *room;
    kg_session *next;      /* all sessions */
    kg_session *room_next; /* room members in join order */
    kg_ice_creds pub_creds, sub_creds;
    bool pub_transport, sub_transport;
    sess_track tracks[MAX_TRACKS];
    size_t n_tracks;
    sub_slot slots[KG_SDP_MAX_MEDIA];
    size_t n_slots;
    uint32_t sub_version;
    bool sub_pending; /* an offer awaits its answer */
    bool sub_dirty;   /* tracks changed since the last offer */
    uint64_t sdp_sess_id;
    uint32_t pub_version;
    /* meetings */
    struct live *live;  /* the meeting joined (waiting or in) */
    bool waiting;       /* in the waiting room: no transport at all */
    bool left;          /* sent 'leave': not a drop */
    char peer[64];      /* source address, memory only, for rate limits */
    char source[64];    /* kg_source_key(peer): what limits group by */
    bool joined;        /* a join was accepted (admitted or waiting) */
    bool closing;       /* asked to close (the join deadline passed) */
    kg_time opened;     /* wall clock of the WebSocket's start */
    bool mixed_audio;   /* join asked "audio": "mixed": m-line 0 carries
                           kaigi's minus-one mix, no audio track routes */
    int srtp_profile[2]; /* kg_srtp_profile of each connected transport,
                            by enum kg_role (KG_SRTP_NONE until then) */
};

/* A meeting someone has joined since kaigi started: its live policy and
 * its media room. Kept until its end has passed and nobody is left, so
 * that "ended" and "locked" hold for late joiners. */
typedef struct live {
    kg_meeting m;
    kg_policy *policy;
    struct live *next;
} live;

struct sroom {
    char name[80];
    uint64_t num;
    unsigned worker; /* every participant of a room is on one worker */
    kg_session *members;
    size_t n_members;
    sroom *next;
    uint64_t speaker; /* the dominant speaker's number, 0: none yet */
};

struct kg_sfu {
    kg_sfu_config cfg;
    kg_conn_ops ops;
    char public_ip[64];
    char node[64];
    uint16_t udp_port[KG_MAX_WORKERS]; /* worker i's media port */
    uint16_t tcp_port[KG_MAX_WORKERS]; /* its ICE-TCP port, 0: none */
    kg_dtls_cert *cert;
    kg_worker *workers[KG_MAX_WORKERS];
    unsigned n_workers;
    unsigned rooms_on[KG_MAX_WORKERS]; /* rooms pinned to each worker */
    sroom *rooms;
    kg_session *sessions;
    size_t n_sessions;
    uint64_t next_num;
    char *sdp_buf;
    kg_store *store;
    kg_api api;
    char base_url[128];
    live *lives;
    kg_ratelimit *rl_source, *rl_meeting, *rl_strict;
    uv_timer_t policy_timer;
    /* counters */
    uint64_t messages, errors, joins, sdp_errors;
    uint64_t pin_failures, lockouts_source, lockouts_meeting;
    uint64_t srtp_profile_refused; /* transports with no profile in common */
    size_t n_joined;               /* sessions with joined set */
    size_t n_closing;              /* unjoined sessions asked to close */
    uint64_t unjoined_refused;     /* sockets refused: the pool was full */
    uint64_t unjoined_evicted;     /* closed to make room for another */
    uint64_t join_timeouts;        /* sockets closed for not joining */
};

/* session.c */
void sfu_send_json(kg_session *ss, json_t *msg); /* takes msg */
void sfu_send_error(kg_session *ss, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Posts c to the worker that holds ss's room. */
void sfu_post(kg_session *ss, const kg_worker_cmd *c);
const char *sfu_unknown_field(json_t *obj, const char *const *allowed);
/* 1-64 bytes of UTF-8 (jansson checked it), no control characters. */
bool sfu_valid_nickname(const char *n);
sroom *sfu_admit(kg_sfu *s, const char *room_name, const char **code);
kg_time sfu_wall_now(void);
/* ss's join was accepted: it now holds a participant slot. */
void sfu_mark_joined(kg_session *ss);
/* Closes sockets that did not join within KG_JOIN_DEADLINE. */
void sfu_expire_unjoined(kg_sfu *s, kg_time now);
kg_session *sfu_session_by_num(kg_sfu *s, uint64_t num);
void sfu_enter_room(kg_session *ss, sroom *r);
void sfu_leave_room(kg_session *ss);
void sfu_drop_publisher(kg_session *pub, sroom *r);
/* The active speaker: a KG_WEV_SPEAKER from a worker; and telling a
 * newcomer to r who speaks now. */
void sfu_on_speaker(kg_sfu *s, const kg_worker_event *ev);
void sfu_tell_speaker(kg_session *ss, sroom *r);

/* meetings.c */
void sfu_join_meeting(kg_session *ss, json_t *msg);
json_t *sfu_settings_msg(const live *lv);
/* A transport of ss connected: in a meeting, the host gets the attendee
 * list again when it is on the legacy SRTP profile, so that the host
 * sees who is (the list flags them). */
void sfu_transport_connected(kg_session *ss);
/* Stops forwarding ss's screen shares that its meeting's policy no
 * longer allows (narrowed to the host, or the role handed away), and
 * tells it share_denied; a later re-offer of the screen resumes it once
 * the policy allows. Called whenever the policy or the host changes. */
void sfu_enforce_share(kg_session *ss);
void sfu_drain(kg_sfu *s, live *lv);
/* leave, host controls, chat, recording, unmute: true if type was one */
bool sfu_meeting_message(kg_session *ss, const char *type, json_t *msg);
void sfu_meeting_closed(kg_session *ss);
int sfu_meetings_open(kg_sfu *s, const kg_sfu_config *cfg);
void sfu_meetings_free(kg_sfu *s);

#endif
