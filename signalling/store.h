/* The meetings store: SQLite (WAL) in the data directory.
 *
 * What it keeps: meetings (ID, title, times, settings), host keys and
 * invite tokens as SHA-256 hashes only, each meeting's PIN sealed with
 * AES-256-GCM under a key kept in DATA/secret.key (0600) plus an HMAC of
 * it to keep PINs unique, and an audit log of meeting events with
 * nicknames and times. What it never keeps: e-mail, IP addresses, phone
 * numbers, or any secret in clear.
 *
 * Files in the data directory: kaigi.db (+ -wal, -shm), secret.key (32
 * random bytes, 0600), admin.token (the admin bearer token, 0600, read by
 * tools/run and kaigictl; the database holds only its hash).
 *
 * Every write is one transaction: a kill -9 at any moment loses no
 * committed meeting. Runs on the signalling thread only.
 *
 * KG_ERR_NOTFOUND (an unknown meeting, token) is for internal use: the
 * API layer must not let a client tell "no such meeting" from "wrong PIN"
 * or "wrong host key", or IDs could be enumerated.
 *
 * The store reads the wall clock only for the "created" columns; audit
 * times are given by the caller. Creating a meeting writes no audit
 * entry: the caller logs "created" with its own time.
 */
#ifndef KG_STORE_H
#define KG_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "signalling/meeting.h"

#define KG_STORE_SCHEMA_VERSION 1
#define KG_ADMIN_TOKEN_LEN 32 /* [A-Za-z0-9] */

typedef struct kg_store kg_store;

/* Opens (creating if missing, 0700) data_dir and kaigi.db in it, applies
 * migrations up to KG_STORE_SCHEMA_VERSION (PRAGMA user_version), makes
 * secret.key and admin.token on first start. Refuses a database from a
 * newer schema. Returns 0 or an error with a one-line reason in err:
 * KG_ERR_UNSUPPORTED (newer schema), KG_ERR_DENIED (secret.key or
 * admin.token readable by group/others), KG_ERR_INVAL (secret.key not 32
 * bytes, admin.token malformed), KG_ERR_NOTFOUND (secret.key missing
 * while the database holds PINs), KG_ERR_IO. */
int kg_store_open(const char *data_dir, kg_store **out, char *err,
                  size_t errlen);
void kg_store_close(kg_store *st);

/* What the live connection runs with, read back from SQLite itself (not
 * what kaigi asked for): journal_mode ("wal") and synchronous ("off",
 * "normal", "full" or "extra"), for the stats and the tests that hold
 * kaigi to its durability promise. Returns 0 or KG_ERR_IO. */
typedef struct kg_store_durability {
    char journal_mode[16];
    char synchronous[16];
} kg_store_durability;
int kg_store_get_durability(kg_store *st, kg_store_durability *out);

/* True if token is the admin token (hash compared in constant time). */
bool kg_store_check_admin(kg_store *st, const char *token);

/* Creates a meeting from in (title, start, duration, settings; id and
 * created are ignored) with a fresh unguessable ID, host key and PIN of
 * pin_digits digits (never one the store already knows, for any meeting,
 * ended or deleted ones included). Writes the record to out and the
 * secrets, NUL-terminated, to host_key and pin: they exist in clear only
 * in this return. Fields: title 1..KG_TITLE_MAX bytes of UTF-8 without
 * control characters, start > 0, duration 60..86400, screen_share a
 * kg_share_policy, pin_digits KG_PIN_MIN..KG_PIN_MAX. Returns 0,
 * KG_ERR_INVAL (bad field), KG_ERR_FULL (no unused PIN of that length
 * found in 64 draws: the PIN space is nearly spent, use longer PINs),
 * KG_ERR_IO. */
int kg_store_meeting_create(kg_store *st, const kg_meeting *in,
                            int pin_digits, kg_meeting *out,
                            char host_key[KG_HOST_KEY_LEN + 1],
                            char pin[KG_PIN_MAX + 1]);

/* Returns 0, KG_ERR_NOTFOUND, KG_ERR_IO. */
int kg_store_meeting_get(kg_store *st, const char *id, kg_meeting *out);

/* Replaces title, start, duration and settings of meeting in->id (same
 * field rules as create). Returns 0, KG_ERR_INVAL, KG_ERR_NOTFOUND,
 * KG_ERR_IO. */
int kg_store_meeting_update(kg_store *st, const kg_meeting *in);

/* Deletes a meeting and its invites (its audit log stays, its PIN's HMAC
 * stays so the PIN is never reused). Returns 0 or KG_ERR_NOTFOUND. */
int kg_store_meeting_delete(kg_store *st, const char *id);

/* Calls fn for every meeting, by start time (then ID). fn may read the
 * store but must not write to it. Returns 0 or an error. */
int kg_store_meeting_list(kg_store *st,
                          void (*fn)(void *user, const kg_meeting *m),
                          void *user);

/* The meeting's PIN in clear (unsealed), for join-info inside its window
 * (the caller checks the window). Returns 0, KG_ERR_NOTFOUND, KG_ERR_AUTH
 * (the sealed PIN does not open: wrong secret.key). */
int kg_store_meeting_pin(kg_store *st, const char *id,
                         char pin[KG_PIN_MAX + 1]);

/* Checks a PIN or host key for meeting id, in constant time.
 * Returns 0, KG_ERR_AUTH, KG_ERR_NOTFOUND. */
int kg_store_check_pin(kg_store *st, const char *id, const char *pin);
int kg_store_check_host_key(kg_store *st, const char *id, const char *key);

/* Makes n (1..100) one-time invite tokens for meeting id into tokens
 * (each KG_INVITE_LEN + 1 bytes). Returns 0 or an error. */
int kg_store_invites_create(kg_store *st, const char *id, size_t n,
                            char (*tokens)[KG_INVITE_LEN + 1]);

/* The meeting of an unspent invite, without spending it (so that a join
 * the meeting's window refuses does not use the invite up). Returns 0,
 * KG_ERR_NOTFOUND (unknown token), KG_ERR_DENIED (spent), KG_ERR_IO. */
int kg_store_invite_meeting(kg_store *st, const char *token,
                            char meeting_id[KG_MEETING_ID_LEN + 1]);

/* Spends an invite atomically: returns 0 and the meeting ID the first
 * time, KG_ERR_DENIED if already spent, KG_ERR_NOTFOUND if unknown. */
int kg_store_invite_spend(kg_store *st, const char *token,
                          char meeting_id[KG_MEETING_ID_LEN + 1]);

/* Appends to the audit log: event is one of "created", "host_joined",
 * "admitted", "denied", "removed", "locked", "unlocked", "ended",
 * "joined", "left", "credential_failed", "locked_out", "under_attack";
 * nickname may be NULL. */
int kg_store_audit(kg_store *st, const char *meeting_id, const char *event,
                   const char *nickname, int64_t now);

/* Calls fn for each audit entry of a meeting, oldest first. */
int kg_store_audit_list(kg_store *st, const char *meeting_id,
                        void (*fn)(void *user, int64_t ts, const char *event,
                                   const char *nickname),
                        void *user);

/* TEST ONLY: makes the store take the random digits of meeting IDs
 * (len KG_MEETING_ID_LEN) and PINs (len = pin digits) from fn instead of
 * the CSPRNG, so a test can force a collision and see it retried. fn
 * writes len digits plus a NUL into out and returns 0. NULL restores the
 * CSPRNG. Never called outside tests. */
void kg_store_test_digits(kg_store *st,
                          int (*fn)(void *user, char *out, size_t len),
                          void *user);

#endif
