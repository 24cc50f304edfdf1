/* The meetings store on SQLite.
 *
 * Durability: WAL with synchronous=FULL, so every COMMIT has reached the
 * disk (WAL fsync) before it returns; a kill -9 or a power cut loses no
 * committed meeting. Every write is one statement or one explicit
 * BEGIN IMMEDIATE ... COMMIT.
 *
 * Secrets: host keys and invite tokens are ~154-bit random strings, so a
 * plain SHA-256 of them is the right stored form: nobody can brute-force
 * 2^154, and a slow password hash would only cost CPU on every check.
 * PINs are short (6..12 digits) and must be shown again (join-info), so
 * they are sealed (AES-256-GCM) instead, and kept unique through an HMAC
 * of the PIN: without the key in secret.key, neither column says
 * anything about the PIN. Two sub-keys are derived from secret.key
 * (HMAC-SHA256 with distinct labels) so that one key never serves two
 * algorithms.
 *
 * Settings are one TEXT column of compact JSON (jansson, sorted keys): a
 * new setting needs no migration, a missing key reads as its default.
 *
 * SQL is literal text with bound parameters only, never formatted.
 */
#include "signalling/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "codec/err.h"
#include "crypto/hmac.h"
#include "crypto/random.h"
#include "crypto/seal.h"

#define SECRET_LEN 32
#define RETRIES 64           /* collision retries for IDs, PINs, tokens */
#define NICK_MAX_BYTES 128   /* audit nicknames (session allows 64) */
#define BUSY_TIMEOUT_MS 5000
#define SEALED_PIN_MAX (KG_PIN_MAX + KG_SEAL_OVERHEAD)

struct kg_store {
    sqlite3 *db;
    uint8_t seal_key[KG_SEAL_KEY_LEN]; /* PIN at-rest encryption */
    uint8_t mac_key[KG_SHA256_LEN];    /* PIN uniqueness HMAC */
    int (*test_digits)(void *user, char *out, size_t len);
    void *test_user;
};

/* --- small helpers ---------------------------------------------------- */

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Wall-clock Unix seconds for the created columns. The store is the I/O
 * side of the meetings server; protocol code gets its time as a
 * parameter. */
static int64_t now_unix(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec;
}

static int prep(kg_store *st, const char *sql, sqlite3_stmt **stmt)
{
    return sqlite3_prepare_v2(st->db, sql, -1, stmt, NULL) == SQLITE_OK
               ? 0
               : KG_ERR_IO;
}

/* Runs literal SQL without parameters (transaction control, schema). */
static int exec(sqlite3 *db, const char *sql)
{
    return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0
                                                                : KG_ERR_IO;
}

static int begin(kg_store *st)
{
    return exec(st->db, "BEGIN IMMEDIATE");
}

static int commit(kg_store *st)
{
    return exec(st->db, "COMMIT");
}

static void rollback(kg_store *st)
{
    if (!sqlite3_get_autocommit(st->db))
        exec(st->db, "ROLLBACK");
}

/* Steps a write statement to completion: 0, KG_ERR_EXISTS (a PRIMARY
 * KEY or UNIQUE collision), KG_ERR_IO. */
static int step_done(sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_DONE)
        return 0;
    rc = sqlite3_extended_errcode(sqlite3_db_handle(s));
    if (rc == SQLITE_CONSTRAINT_PRIMARYKEY || rc == SQLITE_CONSTRAINT_UNIQUE)
        return KG_ERR_EXISTS;
    return KG_ERR_IO;
}

/* UTF-8 without overlongs, surrogates or code points past U+10FFFF, and
 * without control characters (C0, DEL, C1): a title or nickname cannot
 * forge lines in logs or pages. */
static bool valid_text(const char *s, size_t max)
{
    size_t len = strnlen(s, max + 1);
    if (len < 1 || len > max)
        return false;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        unsigned c = p[i];
        if (c < 0x80) {
            if (c < 0x20 || c == 0x7f)
                return false;
            i++;
            continue;
        }
        size_t n;
        uint32_t cp, min;
        if ((c & 0xe0) == 0xc0) {
            n = 2, cp = c & 0x1f, min = 0x80;
        } else if ((c & 0xf0) == 0xe0) {
            n = 3, cp = c & 0x0f, min = 0x800;
        } else if ((c & 0xf8) == 0xf0) {
            n = 4, cp = c & 0x07, min = 0x10000;
        } else {
            return false;
        }
        if (i + n > len)
            return false;
        for (size_t k = 1; k < n; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        if (cp >= 0x80 && cp <= 0x9f)
            return false;
        i += n;
    }
    return true;
}

static bool valid_id(const char *id)
{
    if (!id || strnlen(id, KG_MEETING_ID_LEN + 1) != KG_MEETING_ID_LEN ||
        id[0] == '0')
        return false;
    for (size_t i = 0; i < KG_MEETING_ID_LEN; i++) {
        if (id[i] < '0' || id[i] > '9')
            return false;
    }
    return true;
}

static bool valid_digits(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

static int validate(const kg_meeting *m)
{
    if (!m || !valid_text(m->title, KG_TITLE_MAX))
        return KG_ERR_INVAL;
    if (m->start <= 0 || m->duration < 60 || m->duration > 86400)
        return KG_ERR_INVAL;
    if (m->settings.screen_share != KG_SHARE_HOST &&
        m->settings.screen_share != KG_SHARE_ALL)
        return KG_ERR_INVAL;
    return 0;
}

static int random_digits(kg_store *st, char *out, size_t len)
{
    if (st->test_digits)
        return st->test_digits(st->test_user, out, len);
    return kg_random_digits(out, len) == 0 ? 0 : KG_ERR_CRYPTO;
}

static int pin_mac(kg_store *st, const char *pin, uint8_t out[32])
{
    return kg_hmac_sha256(st->mac_key, sizeof(st->mac_key),
                          (const uint8_t *)pin, strlen(pin), NULL, 0, out);
}

/* --- settings as JSON ------------------------------------------------- */

static char *settings_json(const kg_meeting_settings *s)
{
    json_t *o = json_pack(
        "{s:b, s:b, s:s, s:b, s:b}", "waiting_room", s->waiting_room,
        "join_before_host", s->join_before_host, "screen_share",
        s->screen_share == KG_SHARE_ALL ? "all" : "host", "chat", s->chat,
        "allow_rename", s->allow_rename);
    if (!o)
        return NULL;
    char *txt = json_dumps(o, JSON_COMPACT | JSON_SORT_KEYS);
    json_decref(o);
    return txt;
}

static int bool_field(json_t *o, const char *key, bool *v)
{
    json_t *f = json_object_get(o, key);
    if (!f)
        return 0; /* a setting newer than the row: keep the default */
    if (!json_is_boolean(f))
        return KG_ERR_IO;
    *v = json_is_true(f);
    return 0;
}

static int settings_parse(const char *txt, kg_meeting_settings *s)
{
    kg_meeting_settings_default(s);
    json_t *o = txt ? json_loads(txt, 0, NULL) : NULL;
    int rc = json_is_object(o) ? 0 : KG_ERR_IO;
    if (rc == 0)
        rc = bool_field(o, "waiting_room", &s->waiting_room);
    if (rc == 0)
        rc = bool_field(o, "join_before_host", &s->join_before_host);
    if (rc == 0)
        rc = bool_field(o, "chat", &s->chat);
    if (rc == 0)
        rc = bool_field(o, "allow_rename", &s->allow_rename);
    json_t *share = rc == 0 ? json_object_get(o, "screen_share") : NULL;
    if (share) {
        const char *v = json_string_value(share);
        if (v && strcmp(v, "host") == 0)
            s->screen_share = KG_SHARE_HOST;
        else if (v && strcmp(v, "all") == 0)
            s->screen_share = KG_SHARE_ALL;
        else
            rc = KG_ERR_IO;
    }
    json_decref(o);
    return rc;
}

/* --- files: data dir, secret.key, admin.token ------------------------ */

static int make_dir(const char *dir, char *err, size_t errlen)
{
    if (mkdir(dir, 0700) == 0) {
        /* mkdir's mode passes through the umask; make it exactly 0700. */
        if (chmod(dir, 0700) != 0)
            return fail(err, errlen, KG_ERR_IO, "chmod %s: %s", dir,
                        strerror(errno));
        return 0;
    }
    struct stat sb;
    if (errno != EEXIST || stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode))
        return fail(err, errlen, KG_ERR_IO,
                    "data dir %s: cannot create (%s)", dir, strerror(errno));
    return 0;
}

static int join_path(char *out, size_t cap, const char *dir,
                     const char *name)
{
    int n = snprintf(out, cap, "%s/%s", dir, name);
    return n > 0 && (size_t)n < cap ? 0 : KG_ERR_INVAL;
}

/* Creates dir/name holding data, mode 0600, never replacing an existing
 * file. The bytes go to name.new first (O_CREAT|O_EXCL, mode 0600 given
 * to open so there is no window with wider permissions), are fsync'd,
 * and link() publishes them: a crash leaves either no file or a whole
 * one. Returns 0, KG_ERR_EXISTS (someone made it first), KG_ERR_IO. */
static int create_file(const char *dir, const char *name, const void *data,
                       size_t len, char *err, size_t errlen)
{
    char path[4096], tmp[4096];
    if (join_path(path, sizeof(path), dir, name) ||
        snprintf(tmp, sizeof(tmp), "%s.new", path) >= (int)sizeof(tmp))
        return fail(err, errlen, KG_ERR_INVAL, "data dir path too long");
    unlink(tmp); /* a leftover of a crash before link(): never used */
    int fd = open(tmp, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW,
                  0600);
    if (fd < 0)
        return fail(err, errlen, KG_ERR_IO, "create %s: %s", tmp,
                    strerror(errno));
    ssize_t w = write(fd, data, len);
    int ok = w == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(tmp);
        return fail(err, errlen, KG_ERR_IO, "write %s failed", tmp);
    }
    int rc = link(tmp, path) == 0 ? 0 : errno == EEXIST ? KG_ERR_EXISTS
                                                          : KG_ERR_IO;
    int link_errno = errno;
    unlink(tmp);
    if (rc == KG_ERR_IO)
        return fail(err, errlen, rc, "link %s: %s", path,
                    strerror(link_errno));
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return rc;
}

/* Reads dir/name into buf (at most cap bytes) after checking that it is
 * a regular file nobody but its owner can read. Returns the length,
 * KG_ERR_NOTFOUND (no such file), KG_ERR_IO or KG_ERR_DENIED. */
static int read_private_file(const char *dir, const char *name, void *buf,
                             size_t cap, char *err, size_t errlen)
{
    char path[4096];
    if (join_path(path, sizeof(path), dir, name))
        return fail(err, errlen, KG_ERR_INVAL, "data dir path too long");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0 && errno == ENOENT)
        return KG_ERR_NOTFOUND;
    if (fd < 0)
        return fail(err, errlen, KG_ERR_IO, "open %s: %s", path,
                    strerror(errno));
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        rc = fail(err, errlen, KG_ERR_IO, "%s is not a regular file", path);
    } else if (sb.st_mode & 077) {
        rc = fail(err, errlen, KG_ERR_DENIED,
                  "%s has mode %04o: group or others have access; "
                  "chmod 600 it (and consider it leaked)",
                  path, (unsigned)(sb.st_mode & 07777));
    } else if ((size_t)sb.st_size > cap) {
        rc = fail(err, errlen, KG_ERR_IO, "%s is %lld bytes, too long",
                  path, (long long)sb.st_size);
    } else {
        ssize_t n = read(fd, buf, cap);
        rc = n == sb.st_size ? (int)n
                             : fail(err, errlen, KG_ERR_IO, "read %s failed",
                                    path);
    }
    close(fd);
    return rc;
}

static int has_pins(kg_store *st, bool *yes)
{
    sqlite3_stmt *s;
    if (prep(st, "SELECT EXISTS(SELECT 1 FROM pin_macs)", &s))
        return KG_ERR_IO;
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : KG_ERR_IO;
    *yes = rc == 0 && sqlite3_column_int(s, 0) != 0;
    sqlite3_finalize(s);
    return rc;
}

/* Loads secret.key, or makes it on first start, and derives the two
 * sub-keys from it. A missing key with PINs already in the database is
 * refused: a new key would make every sealed PIN unreadable and every
 * PIN HMAC meaningless. */
static int load_secret(kg_store *st, const char *dir, char *err,
                       size_t errlen)
{
    uint8_t secret[SECRET_LEN + 1];
    int rc = read_private_file(dir, "secret.key", secret, sizeof(secret),
                               err, errlen);
    if (rc == KG_ERR_NOTFOUND) {
        bool pins = false;
        if (has_pins(st, &pins))
            return fail(err, errlen, KG_ERR_IO, "cannot read kaigi.db");
        if (pins)
            return fail(err, errlen, KG_ERR_NOTFOUND,
                        "%s/secret.key is missing but kaigi.db holds "
                        "meetings; restore it from backup",
                        dir);
        if (kg_random_bytes(secret, SECRET_LEN) != 0)
            return fail(err, errlen, KG_ERR_CRYPTO, "CSPRNG failure");
        rc = create_file(dir, "secret.key", secret, SECRET_LEN, err, errlen);
        if (rc == KG_ERR_EXISTS) /* lost a race: use the winner's */
            rc = read_private_file(dir, "secret.key", secret,
                                   sizeof(secret), err, errlen);
        else if (rc == 0)
            rc = SECRET_LEN;
    }
    if (rc >= 0 && rc != SECRET_LEN)
        rc = fail(err, errlen, KG_ERR_INVAL,
                  "%s/secret.key is %d bytes, expected %d", dir, rc,
                  SECRET_LEN);
    if (rc >= 0) {
        static const char seal_label[] = "kaigi store pin seal v1";
        static const char mac_label[] = "kaigi store pin mac v1";
        if (kg_hmac_sha256(secret, SECRET_LEN, (const uint8_t *)seal_label,
                           strlen(seal_label), NULL, 0, st->seal_key) ||
            kg_hmac_sha256(secret, SECRET_LEN, (const uint8_t *)mac_label,
                           strlen(mac_label), NULL, 0, st->mac_key))
            rc = fail(err, errlen, KG_ERR_CRYPTO, "key derivation failed");
        else
            rc = 0;
    }
    explicit_bzero(secret, sizeof(secret));
    return rc;
}

static int store_admin_hash(kg_store *st, const uint8_t *hash)
{
    sqlite3_stmt *del = NULL, *ins = NULL;
    int rc = begin(st);
    if (rc == 0)
        rc = prep(st, "DELETE FROM admin", &del);
    if (rc == 0)
        rc = step_done(del);
    if (rc == 0)
        rc = prep(st, "INSERT INTO admin(hash) VALUES(?)", &ins);
    if (rc == 0) {
        sqlite3_bind_blob(ins, 1, hash, KG_SHA256_LEN, SQLITE_STATIC);
        rc = step_done(ins);
    }
    sqlite3_finalize(del);
    sqlite3_finalize(ins);
    if (rc == 0)
        rc = commit(st);
    if (rc)
        rollback(st);
    return rc ? KG_ERR_IO : 0;
}

static bool all_alnum(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* Loads admin.token (made on first start, or again if an operator
 * deleted it to rotate it) and stores its hash in the admin table. */
static int load_admin(kg_store *st, const char *dir, char *err,
                      size_t errlen)
{
    char tok[KG_ADMIN_TOKEN_LEN + 2];
    uint8_t hash[KG_SHA256_LEN];
    int rc = read_private_file(dir, "admin.token", tok, sizeof(tok), err,
                               errlen);
    if (rc == KG_ERR_NOTFOUND) {
        if (kg_random_alnum(tok, KG_ADMIN_TOKEN_LEN) != 0)
            return fail(err, errlen, KG_ERR_CRYPTO, "CSPRNG failure");
        tok[KG_ADMIN_TOKEN_LEN] = '\n';
        rc = create_file(dir, "admin.token", tok, KG_ADMIN_TOKEN_LEN + 1,
                         err, errlen);
        if (rc == KG_ERR_EXISTS)
            rc = read_private_file(dir, "admin.token", tok, sizeof(tok),
                                   err, errlen);
        else if (rc == 0)
            rc = KG_ADMIN_TOKEN_LEN + 1;
    }
    if (rc == KG_ADMIN_TOKEN_LEN + 1 && tok[KG_ADMIN_TOKEN_LEN] == '\n')
        rc = KG_ADMIN_TOKEN_LEN;
    if (rc >= 0 && (rc != KG_ADMIN_TOKEN_LEN ||
                    !all_alnum(tok, KG_ADMIN_TOKEN_LEN)))
        rc = fail(err, errlen, KG_ERR_INVAL,
                  "%s/admin.token must hold %d characters [A-Za-z0-9]", dir,
                  KG_ADMIN_TOKEN_LEN);
    if (rc >= 0 && kg_sha256(tok, KG_ADMIN_TOKEN_LEN, hash) != 0)
        rc = fail(err, errlen, KG_ERR_CRYPTO, "sha256 failed");
    explicit_bzero(tok, sizeof(tok));
    if (rc >= 0 && store_admin_hash(st, hash) != 0)
        rc = fail(err, errlen, KG_ERR_IO, "cannot store the admin hash: %s",
                  sqlite3_errmsg(st->db));
    return rc < 0 ? rc : 0;
}

/* --- schema ----------------------------------------------------------- */

/* v0 → v1: the first schema. No column anywhere can hold an e-mail
 * address, an IP address or a phone number. */
static int migrate_v1(sqlite3 *db)
{
    return exec(db,
                "CREATE TABLE meetings("
                " id TEXT PRIMARY KEY NOT NULL,"
                " title TEXT NOT NULL,"
                " start INTEGER NOT NULL,"
                " duration INTEGER NOT NULL,"
                " settings TEXT NOT NULL," /* compact JSON */
                " host_key_hash BLOB NOT NULL," /* SHA-256 */
                " pin_sealed BLOB NOT NULL," /* nonce||ct||tag */
                " pin_mac BLOB NOT NULL," /* HMAC-SHA256 */
                " created INTEGER NOT NULL);"
                "CREATE INDEX meetings_by_start ON meetings(start, id);"
                /* Every PIN ever issued, kept after its meeting is gone. */
                "CREATE TABLE pin_macs(mac BLOB PRIMARY KEY NOT NULL)"
                " WITHOUT ROWID;"
                "CREATE TABLE invites("
                " token_hash BLOB PRIMARY KEY NOT NULL," /* SHA-256 */
                " meeting_id TEXT NOT NULL"
                "  REFERENCES meetings(id) ON DELETE CASCADE,"
                " spent INTEGER NOT NULL DEFAULT 0,"
                " created INTEGER NOT NULL) WITHOUT ROWID;"
                "CREATE INDEX invites_by_meeting ON invites(meeting_id);"
                "CREATE TABLE audit("
                " seq INTEGER PRIMARY KEY,"
                " meeting_id TEXT NOT NULL,"
                " ts INTEGER NOT NULL,"
                " event TEXT NOT NULL,"
                " nickname TEXT);"
                "CREATE INDEX audit_by_meeting ON audit(meeting_id, seq);"
                "CREATE TABLE admin(hash BLOB NOT NULL);"
                "PRAGMA user_version = 1;");
}

/* migrations[v] takes a database at version v to v + 1. */
static int (*const migrations[KG_STORE_SCHEMA_VERSION])(sqlite3 *db) = {
    migrate_v1,
};

static int user_version(sqlite3 *db, int *v)
{
    sqlite3_stmt *s;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &s, NULL) !=
        SQLITE_OK)
        return KG_ERR_IO;
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : KG_ERR_IO;
    *v = sqlite3_column_int(s, 0);
    sqlite3_finalize(s);
    return rc;
}

/* Applies every pending migration in one transaction: a crash midway
 * leaves the old schema, never half of a new one. */
static int migrate(kg_store *st, char *err, size_t errlen)
{
    int v = 0;
    if (begin(st) || user_version(st->db, &v)) {
        rollback(st);
        return fail(err, errlen, KG_ERR_IO, "kaigi.db: %s",
                    sqlite3_errmsg(st->db));
    }
    if (v > KG_STORE_SCHEMA_VERSION || v < 0) {
        rollback(st);
        return fail(err, errlen, KG_ERR_UNSUPPORTED,
                    "kaigi.db has schema version %d, newer than this "
                    "kaigi's %d: refusing to open it (upgrade kaigi)",
                    v, KG_STORE_SCHEMA_VERSION);
    }
    for (; v < KG_STORE_SCHEMA_VERSION; v++) {
        int now = -1;
        if (migrations[v](st->db) || user_version(st->db, &now) ||
            now != v + 1) {
            int rc = fail(err, errlen, KG_ERR_IO,
                          "kaigi.db: migration to v%d failed: %s", v + 1,
                          sqlite3_errmsg(st->db));
            rollback(st);
            return rc;
        }
    }
    if (commit(st)) {
        rollback(st);
        return fail(err, errlen, KG_ERR_IO, "kaigi.db: %s",
                    sqlite3_errmsg(st->db));
    }
    return 0;
}

/* sqlite creates a database 0644 (less the umask) and gives -wal and
 * -shm the database's mode; making kaigi.db 0600 first covers all
 * three. */
static int precreate_db(const char *path, char *err, size_t errlen)
{
    int fd = open(path, O_CREAT | O_RDWR | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return fail(err, errlen, KG_ERR_IO, "open %s: %s", path,
                    strerror(errno));
    struct stat sb;
    int rc = 0;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode))
        rc = fail(err, errlen, KG_ERR_IO, "%s is not a regular file", path);
    else if ((sb.st_mode & 077) && fchmod(fd, 0600) != 0)
        rc = fail(err, errlen, KG_ERR_IO, "chmod %s: %s", path,
                  strerror(errno));
    close(fd);
    return rc;
}

static int open_db(kg_store *st, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    if (join_path(path, sizeof(path), dir, "kaigi.db"))
        return fail(err, errlen, KG_ERR_INVAL, "data dir path too long");
    int rc = precreate_db(path, err, errlen);
    if (rc)
        return rc;
    if (sqlite3_open_v2(path, &st->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOFOLLOW,
                        NULL) != SQLITE_OK)
        return fail(err, errlen, KG_ERR_IO, "open %s: %s", path,
                    st->db ? sqlite3_errmsg(st->db) : "out of memory");
    sqlite3_extended_result_codes(st->db, 1);
    sqlite3_busy_timeout(st->db, BUSY_TIMEOUT_MS);

    /* journal_mode answers with the mode in force: check it took. */
    sqlite3_stmt *s;
    if (prep(st, "PRAGMA journal_mode=WAL", &s))
        return fail(err, errlen, KG_ERR_IO, "%s: %s", path,
                    sqlite3_errmsg(st->db));
    const char *mode = NULL;
    if (sqlite3_step(s) == SQLITE_ROW)
        mode = (const char *)sqlite3_column_text(s, 0);
    rc = mode && strcmp(mode, "wal") == 0 ? 0 : KG_ERR_IO;
    sqlite3_finalize(s);
    if (rc)
        return fail(err, errlen, rc, "%s: cannot enable WAL", path);
    /* FULL: WAL is fsync'd at every commit, so a committed meeting
     * survives a power cut too. secure_delete overwrites deleted rows,
     * so a deleted meeting's title does not linger in free pages. */
    if (exec(st->db, "PRAGMA synchronous=FULL;"
                     "PRAGMA foreign_keys=ON;"
                     "PRAGMA secure_delete=ON;"
                     "PRAGMA trusted_schema=OFF;"))
        return fail(err, errlen, KG_ERR_IO, "%s: %s", path,
                    sqlite3_errmsg(st->db));
    return 0;
}

int kg_store_get_durability(kg_store *st, kg_store_durability *out)
{
    static const char *const levels[] = {"off", "normal", "full", "extra"};
    memset(out, 0, sizeof(*out));
    sqlite3_stmt *s;
    if (prep(st, "PRAGMA journal_mode", &s))
        return KG_ERR_IO;
    int rc = KG_ERR_IO;
    if (sqlite3_step(s) == SQLITE_ROW && sqlite3_column_text(s, 0)) {
        snprintf(out->journal_mode, sizeof(out->journal_mode), "%s",
                 (const char *)sqlite3_column_text(s, 0));
        rc = 0;
    }
    sqlite3_finalize(s);
    if (rc || prep(st, "PRAGMA synchronous", &s))
        return KG_ERR_IO;
    rc = KG_ERR_IO;
    if (sqlite3_step(s) == SQLITE_ROW) {
        int level = sqlite3_column_int(s, 0);
        if (level >= 0 && level < 4) {
            snprintf(out->synchronous, sizeof(out->synchronous), "%s",
                     levels[level]);
            rc = 0;
        }
    }
    sqlite3_finalize(s);
    return rc;
}

/* --- open / close ----------------------------------------------------- */

int kg_store_open(const char *data_dir, kg_store **out, char *err,
                  size_t errlen)
{
    if (err && errlen)
        err[0] = '\0';
    if (!data_dir || !*data_dir || !out)
        return fail(err, errlen, KG_ERR_INVAL, "no data dir");
    *out = NULL;
    int rc = make_dir(data_dir, err, errlen);
    if (rc)
        return rc;
    kg_store *st = calloc(1, sizeof(*st));
    if (!st)
        return fail(err, errlen, KG_ERR_NOMEM, "out of memory");
    rc = open_db(st, data_dir, err, errlen);
    if (rc == 0)
        rc = migrate(st, err, errlen);
    if (rc == 0)
        rc = load_secret(st, data_dir, err, errlen);
    if (rc == 0)
        rc = load_admin(st, data_dir, err, errlen);
    if (rc) {
        kg_store_close(st);
        return rc;
    }
    *out = st;
    return 0;
}

void kg_store_close(kg_store *st)
{
    if (!st)
        return;
    sqlite3_close(st->db);
    explicit_bzero(st, sizeof(*st));
    free(st);
}

void kg_store_test_digits(kg_store *st,
                          int (*fn)(void *user, char *out, size_t len),
                          void *user)
{
    st->test_digits = fn;
    st->test_user = user;
}

bool kg_store_check_admin(kg_store *st, const char *token)
{
    if (!st || !token)
        return false;
    uint8_t h[KG_SHA256_LEN];
    if (kg_sha256(token, strlen(token), h) != 0)
        return false;
    sqlite3_stmt *s;
    if (prep(st, "SELECT hash FROM admin", &s))
        return false;
    bool ok = false;
    if (sqlite3_step(s) == SQLITE_ROW &&
        sqlite3_column_bytes(s, 0) == KG_SHA256_LEN)
        ok = kg_ct_equal(sqlite3_column_blob(s, 0), h, KG_SHA256_LEN);
    sqlite3_finalize(s);
    return ok;
}

/* --- meetings --------------------------------------------------------- */

/* Draws PINs until one was never issued before and records its HMAC.
 * Runs inside the create transaction. */
static int issue_pin(kg_store *st, int digits, char *pin,
                     uint8_t mac[KG_SHA256_LEN])
{
    sqlite3_stmt *s;
    if (prep(st, "INSERT INTO pin_macs(mac) VALUES(?)", &s))
        return KG_ERR_IO;
    int rc = KG_ERR_FULL; /* the PIN space is nearly used up */
    for (int i = 0; i < RETRIES; i++) {
        rc = random_digits(st, pin, (size_t)digits);
        if (rc == 0 && !valid_digits(pin, (size_t)digits))
            rc = KG_ERR_CRYPTO;
        if (rc == 0)
            rc = pin_mac(st, pin, mac) ? KG_ERR_CRYPTO : 0;
        if (rc)
            break;
        sqlite3_reset(s);
        sqlite3_bind_blob(s, 1, mac, KG_SHA256_LEN, SQLITE_STATIC);
        rc = step_done(s);
        if (rc != KG_ERR_EXISTS)
            break;
        rc = KG_ERR_FULL;
    }
    sqlite3_finalize(s);
    return rc;
}

/* True if id has audit entries: the ID of a deleted meeting whose log
 * is kept must not name a new meeting, or the two logs would merge. */
static int id_in_audit(kg_store *st, const char *id, bool *yes)
{
    sqlite3_stmt *s;
    if (prep(st, "SELECT EXISTS(SELECT 1 FROM audit WHERE meeting_id = ?)",
             &s))
        return KG_ERR_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s) == SQLITE_ROW ? 0 : KG_ERR_IO;
    *yes = rc == 0 && sqlite3_column_int(s, 0) != 0;
    sqlite3_finalize(s);
    return rc;
}

static int new_id(kg_store *st, char id[KG_MEETING_ID_LEN + 1])
{
    /* Rejection keeps the ID uniform over the 9 * 10^10 valid ones. */
    for (int i = 0; i < 1000; i++) {
        int rc = random_digits(st, id, KG_MEETING_ID_LEN);
        if (rc)
            return rc;
        bool used = false;
        if (valid_id(id) && (rc = id_in_audit(st, id, &used)) != 0)
            return rc;
        if (valid_id(id) && !used)
            return 0;
    }
    return KG_ERR_FULL;
}

static int insert_meeting(kg_store *st, kg_meeting *m, const char *settings,
                          const uint8_t *host_hash, const uint8_t *sealed,
                          int sealed_len, const uint8_t *mac)
{
    sqlite3_stmt *s;
    if (prep(st,
             "INSERT INTO meetings(id, title, start, duration, settings,"
             " host_key_hash, pin_sealed, pin_mac, created)"
             " VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)",
             &s))
        return KG_ERR_IO;
    int rc = KG_ERR_FULL;
    for (int i = 0; i < RETRIES; i++) {
        rc = new_id(st, m->id);
        if (rc)
            break;
        sqlite3_reset(s);
        sqlite3_bind_text(s, 1, m->id, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 2, m->title, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 3, m->start);
        sqlite3_bind_int64(s, 4, m->duration);
        sqlite3_bind_text(s, 5, settings, -1, SQLITE_STATIC);
        sqlite3_bind_blob(s, 6, host_hash, KG_SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_blob(s, 7, sealed, sealed_len, SQLITE_STATIC);
        sqlite3_bind_blob(s, 8, mac, KG_SHA256_LEN, SQLITE_STATIC);
        sqlite3_bind_int64(s, 9, m->created);
        rc = step_done(s);
        if (rc != KG_ERR_EXISTS)
            break;
        rc = KG_ERR_FULL;
    }
    sqlite3_finalize(s);
    return rc;
}

int kg_store_meeting_create(kg_store *st, const kg_meeting *in,
                            int pin_digits, kg_meeting *out,
                            char host_key[KG_HOST_KEY_LEN + 1],
                            char pin[KG_PIN_MAX + 1])
{
    if (!st || !out || !host_key || !pin || validate(in))
        return KG_ERR_INVAL;
    if (pin_digits < KG_PIN_MIN || pin_digits > KG_PIN_MAX)
        return KG_ERR_INVAL;
    kg_meeting m = *in;
    m.created = now_unix();
    char *settings = settings_json(&m.settings);
    if (!settings)
        return KG_ERR_NOMEM;

    uint8_t host_hash[KG_SHA256_LEN], mac[KG_SHA256_LEN];
    uint8_t sealed[SEALED_PIN_MAX];
    int sealed_len = 0;
    int rc = kg_random_alnum(host_key, KG_HOST_KEY_LEN) ? KG_ERR_CRYPTO : 0;
    if (rc == 0)
        rc = kg_sha256(host_key, KG_HOST_KEY_LEN, host_hash);
    if (rc == 0)
        rc = begin(st);
    if (rc == 0)
        rc = issue_pin(st, pin_digits, pin, mac);
    if (rc == 0) {
        sealed_len = kg_seal(st->seal_key, pin, (size_t)pin_digits, sealed,
                             sizeof(sealed));
        rc = sealed_len < 0 ? sealed_len : 0;
    }
    if (rc == 0)
        rc = insert_meeting(st, &m, settings, host_hash, sealed, sealed_len,
                            mac);
    if (rc == 0)
        rc = commit(st);
    free(settings);
    if (rc) {
        rollback(st);
        explicit_bzero(host_key, KG_HOST_KEY_LEN + 1);
        explicit_bzero(pin, KG_PIN_MAX + 1);
        return rc == KG_ERR_EXISTS ? KG_ERR_IO : rc;
    }
    *out = m;
    return 0;
}

/* Reads one meetings row (id, title, start, duration, settings, created)
 * from column 0 on. */
static int row_meeting(sqlite3_stmt *s, kg_meeting *m)
{
    memset(m, 0, sizeof(*m));
    const char *id = (const char *)sqlite3_column_text(s, 0);
    const char *title = (const char *)sqlite3_column_text(s, 1);
    if (!id || !title || sqlite3_column_bytes(s, 0) != KG_MEETING_ID_LEN ||
        sqlite3_column_bytes(s, 1) > KG_TITLE_MAX)
        return KG_ERR_IO;
    memcpy(m->id, id, KG_MEETING_ID_LEN);
    memcpy(m->title, title, (size_t)sqlite3_column_bytes(s, 1));
    m->start = sqlite3_column_int64(s, 2);
    m->duration = sqlite3_column_int64(s, 3);
    m->created = sqlite3_column_int64(s, 5);
    return settings_parse((const char *)sqlite3_column_text(s, 4),
                          &m->settings);
}

int kg_store_meeting_get(kg_store *st, const char *id, kg_meeting *out)
{
    if (!st || !id || !out)
        return KG_ERR_INVAL;
    sqlite3_stmt *s;
    if (prep(st,
             "SELECT id, title, start, duration, settings, created"
             " FROM meetings WHERE id = ?",
             &s))
        return KG_ERR_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        rc = row_meeting(s, out);
    else
        rc = rc == SQLITE_DONE ? KG_ERR_NOTFOUND : KG_ERR_IO;
    sqlite3_finalize(s);
    return rc;
}

int kg_store_meeting_update(kg_store *st, const kg_meeting *in)
{
    if (!st || validate(in))
        return KG_ERR_INVAL;
    char *settings = settings_json(&in->settings);
    if (!settings)
        return KG_ERR_NOMEM;
    sqlite3_stmt *s;
    int rc = prep(st,
                  "UPDATE meetings SET title = ?, start = ?, duration = ?,"
                  " settings = ? WHERE id = ?",
                  &s);
    if (rc == 0) {
        sqlite3_bind_text(s, 1, in->title, -1, SQLITE_STATIC);
        sqlite3_bind_int64(s, 2, in->start);
        sqlite3_bind_int64(s, 3, in->duration);
        sqlite3_bind_text(s, 4, settings, -1, SQLITE_STATIC);
        sqlite3_bind_text(s, 5, in->id, (int)strnlen(in->id, sizeof(in->id)),
                          SQLITE_STATIC);
        rc = step_done(s);
        if (rc == 0 && sqlite3_changes(st->db) == 0)
            rc = KG_ERR_NOTFOUND;
        if (rc == KG_ERR_EXISTS)
            rc = KG_ERR_IO;
    }
    sqlite3_finalize(s);
    free(settings);
    return rc;
}

int kg_store_meeting_delete(kg_store *st, const char *id)
{
    if (!st || !id)
        return KG_ERR_INVAL;
    sqlite3_stmt *s;
    if (prep(st, "DELETE FROM meetings WHERE id = ?", &s))
        return KG_ERR_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    /* The invites go with it (ON DELETE CASCADE); pin_macs and the audit
     * log stay. sqlite3_changes counts the meeting row only. */
    int rc = step_done(s) ? KG_ERR_IO : 0;
    if (rc == 0 && sqlite3_changes(st->db) == 0)
        rc = KG_ERR_NOTFOUND;
    sqlite3_finalize(s);
    return rc;
}

int kg_store_meeting_list(kg_store *st,
                          void (*fn)(void *user, const kg_meeting *m),
                          void *user)
{
    if (!st || !fn)
        return KG_ERR_INVAL;
    sqlite3_stmt *s;
    if (prep(st,
             "SELECT id, title, start, duration, settings, created"
             " FROM meetings ORDER BY start, id",
             &s))
        return KG_ERR_IO;
    int rc;
    kg_meeting m;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        if (row_meeting(s, &m) != 0)
            break;
        fn(user, &m);
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : KG_ERR_IO;
}

/* --- PINs and host keys ----------------------------------------------- */

/* Fetches one BLOB column of meeting id into buf (exactly len bytes, or
 * up to len with *got set). Returns 0, KG_ERR_NOTFOUND, KG_ERR_IO. */
static int meeting_blob(kg_store *st, const char *sql, const char *id,
                        uint8_t *buf, size_t cap, size_t *got)
{
    if (!st || !id)
        return KG_ERR_INVAL;
    sqlite3_stmt *s;
    if (prep(st, sql, &s))
        return KG_ERR_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        int n = sqlite3_column_bytes(s, 0);
        const void *b = sqlite3_column_blob(s, 0);
        rc = b && n > 0 && (size_t)n <= cap ? 0 : KG_ERR_IO;
        if (rc == 0) {
            memcpy(buf, b, (size_t)n);
            *got = (size_t)n;
        }
    } else {
        rc = rc == SQLITE_DONE ? KG_ERR_NOTFOUND : KG_ERR_IO;
    }
    sqlite3_finalize(s);
    return rc;
}

int kg_store_meeting_pin(kg_store *st, const char *id,
                         char pin[KG_PIN_MAX + 1])
{
    if (!pin)
        return KG_ERR_INVAL;
    uint8_t sealed[SEALED_PIN_MAX];
    size_t n = 0;
    int rc = meeting_blob(st, "SELECT pin_sealed FROM meetings WHERE id = ?",
                          id, sealed, sizeof(sealed), &n);
    if (rc)
        return rc;
    char buf[KG_PIN_MAX];
    int len = kg_open(st->seal_key, sealed, n, (uint8_t *)buf, sizeof(buf));
    if (len == KG_ERR_AUTH)
        return KG_ERR_AUTH;
    if (len < KG_PIN_MIN || len > KG_PIN_MAX ||
        !valid_digits(buf, (size_t)len)) {
        explicit_bzero(buf, sizeof(buf));
        return KG_ERR_IO;
    }
    memcpy(pin, buf, (size_t)len);
    pin[len] = '\0';
    explicit_bzero(buf, sizeof(buf));
    return 0;
}

int kg_store_check_pin(kg_store *st, const char *id, const char *pin)
{
    uint8_t want[KG_SHA256_LEN], got[KG_SHA256_LEN];
    size_t n = 0;
    int rc = meeting_blob(st, "SELECT pin_mac FROM meetings WHERE id = ?",
                          id, want, sizeof(want), &n);
    if (rc)
        return rc;
    if (!pin || n != KG_SHA256_LEN)
        return !pin ? KG_ERR_AUTH : KG_ERR_IO;
    if (pin_mac(st, pin, got))
        return KG_ERR_CRYPTO;
    return kg_ct_equal(want, got, KG_SHA256_LEN) ? 0 : KG_ERR_AUTH;
}

int kg_store_check_host_key(kg_store *st, const char *id, const char *key)
{
    uint8_t want[KG_SHA256_LEN], got[KG_SHA256_LEN];
    size_t n = 0;
    int rc = meeting_blob(st,
                          "SELECT host_key_hash FROM meetings WHERE id = ?",
                          id, want, sizeof(want), &n);
    if (rc)
        return rc;
    if (!key || n != KG_SHA256_LEN)
        return !key ? KG_ERR_AUTH : KG_ERR_IO;
    if (kg_sha256(key, strlen(key), got))
        return KG_ERR_CRYPTO;
    return kg_ct_equal(want, got, KG_SHA256_LEN) ? 0 : KG_ERR_AUTH;
}

/* --- invites ---------------------------------------------------------- */

static int meeting_exists(kg_store *st, const char *id)
{
    sqlite3_stmt *s;
    if (prep(st, "SELECT 1 FROM meetings WHERE id = ?", &s))
        return KG_ERR_IO;
    sqlite3_bind_text(s, 1, id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(s);
    rc = rc == SQLITE_ROW ? 0 : rc == SQLITE_DONE ? KG_ERR_NOTFOUND
                                                   : KG_ERR_IO;
    sqlite3_finalize(s);
    return rc;
}

static int insert_invites(kg_store *st, const char *id, size_t n,
                          char (*tokens)[KG_INVITE_LEN + 1])
{
    sqlite3_stmt *s;
    if (prep(st,
             "INSERT INTO invites(token_hash, meeting_id, spent, created)"
             " VALUES(?, ?, 0, ?)",
             &s))
        return KG_ERR_IO;
    int64_t now = now_unix();
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = KG_ERR_FULL;
        for (int t = 0; t < RETRIES; t++) {
            uint8_t h[KG_SHA256_LEN];
            if (kg_random_alnum(tokens[i], KG_INVITE_LEN) ||
                kg_sha256(tokens[i], KG_INVITE_LEN, h)) {
                rc = KG_ERR_CRYPTO;
                break;
            }
            sqlite3_reset(s);
            sqlite3_bind_blob(s, 1, h, sizeof(h), SQLITE_TRANSIENT);
            sqlite3_bind_text(s, 2, id, -1, SQLITE_STATIC);
            sqlite3_bind_int64(s, 3, now);
            rc = step_done(s);
            if (rc != KG_ERR_EXISTS)
                break;
            rc = KG_ERR_FULL;
        }
    }
    sqlite3_finalize(s);
    return rc;
}

int kg_store_invites_create(kg_store *st, const char *id, size_t n,
                            char (*tokens)[KG_INVITE_LEN + 1])
{
    if (!st || !id || !tokens || n < 1 || n > 100)
        return KG_ERR_INVAL;
    int rc = begin(st);
    if (rc == 0)
        rc = meeting_exists(st, id);
    if (rc == 0)
        rc = insert_invites(st, id, n, tokens);
    if (rc == 0)
        rc = commit(st);
    if (rc) {
        rollback(st);
        explicit_bzero(tokens, n * sizeof(*tokens));
    }
    return rc;
}

int kg_store_invite_meeting(kg_store *st, const char *token,
                            char meeting_id[KG_MEETING_ID_LEN + 1])
{
    if (!st || !token || !meeting_id)
        return KG_ERR_INVAL;
    uint8_t h[KG_SHA256_LEN];
    if (kg_sha256(token, strlen(token), h))
        return KG_ERR_CRYPTO;
    sqlite3_stmt *sel = NULL;
    int rc = prep(st,
                  "SELECT meeting_id, spent FROM invites WHERE token_hash = ?",
                  &sel);
    if (rc == 0) {
        sqlite3_bind_blob(sel, 1, h, sizeof(h), SQLITE_STATIC);
        int r = sqlite3_step(sel);
        const char *mid = r == SQLITE_ROW
                              ? (const char *)sqlite3_column_text(sel, 0)
                              : NULL;
        if (r == SQLITE_DONE)
            rc = KG_ERR_NOTFOUND;
        else if (r != SQLITE_ROW || !mid ||
                 sqlite3_column_bytes(sel, 0) != KG_MEETING_ID_LEN)
            rc = KG_ERR_IO;
        else if (sqlite3_column_int(sel, 1) != 0)
            rc = KG_ERR_DENIED;
        else
            memcpy(meeting_id, mid, KG_MEETING_ID_LEN + 1);
    }
    sqlite3_finalize(sel);
    return rc;
}

int kg_store_invite_spend(kg_store *st, const char *token,
                          char meeting_id[KG_MEETING_ID_LEN + 1])
{
    if (!st || !token)
        return KG_ERR_INVAL;
    uint8_t h[KG_SHA256_LEN];
    if (kg_sha256(token, strlen(token), h))
        return KG_ERR_CRYPTO;
    sqlite3_stmt *up = NULL, *sel = NULL;
    int rc = begin(st);
    /* The spend itself is this one UPDATE: of two racing spends, only
     * one can change the row from spent=0. */
    if (rc == 0)
        rc = prep(st,
                  "UPDATE invites SET spent = 1"
                  " WHERE token_hash = ? AND spent = 0",
                  &up);
    if (rc == 0) {
        sqlite3_bind_blob(up, 1, h, sizeof(h), SQLITE_STATIC);
        rc = step_done(up) ? KG_ERR_IO : 0;
    }
    int spent_now = rc == 0 ? sqlite3_changes(st->db) : 0;
    if (rc == 0)
        rc = prep(st, "SELECT meeting_id FROM invites WHERE token_hash = ?",
                  &sel);
    if (rc == 0) {
        sqlite3_bind_blob(sel, 1, h, sizeof(h), SQLITE_STATIC);
        int r = sqlite3_step(sel);
        if (r == SQLITE_DONE)
            rc = KG_ERR_NOTFOUND;
        else if (r != SQLITE_ROW)
            rc = KG_ERR_IO;
        else if (spent_now != 1)
            rc = KG_ERR_DENIED;
        else if (meeting_id) {
            const char *mid = (const char *)sqlite3_column_text(sel, 0);
            if (!mid || sqlite3_column_bytes(sel, 0) != KG_MEETING_ID_LEN)
                rc = KG_ERR_IO;
            else
                memcpy(meeting_id, mid, KG_MEETING_ID_LEN + 1);
        }
    }
    sqlite3_finalize(up);
    sqlite3_finalize(sel);
    if (rc == 0)
        rc = commit(st);
    if (rc)
        rollback(st);
    return rc;
}

/* --- audit ------------------------------------------------------------ */

static bool valid_event(const char *event)
{
    static const char *const events[] = {
        "created", "host_joined", "admitted", "denied", "removed",
        "locked",  "unlocked",    "ended",    "joined", "left",
        /* failed credentials: counted per meeting, no address kept */
        "credential_failed", "locked_out", "under_attack",
    };
    for (size_t i = 0; event && i < KG_ARRAY_LEN(events); i++) {
        if (strcmp(event, events[i]) == 0)
            return true;
    }
    return false;
}

int kg_store_audit(kg_store *st, const char *meeting_id, const char *event,
                   const char *nickname, int64_t now)
{
    if (!st || !valid_id(meeting_id) || !valid_event(event) ||
        (nickname && !valid_text(nickname, NICK_MAX_BYTES)))
        return KG_ERR_INVAL;
    sqlite3_stmt *s;
    if (prep(st,
             "INSERT INTO audit(meeting_id, ts, event, nickname)"
             " VALUES(?, ?, ?, ?)",
             &s))
        return KG_ERR_IO;
    sqlite3_bind_text(s, 1, meeting_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 2, now);
    sqlite3_bind_text(s, 3, event, -1, SQLITE_STATIC);
    if (nickname)
        sqlite3_bind_text(s, 4, nickname, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null(s, 4);
    int rc = step_done(s) ? KG_ERR_IO : 0;
    sqlite3_finalize(s);
    return rc;
}

int kg_store_audit_list(kg_store *st, const char *meeting_id,
                        void (*fn)(void *user, int64_t ts, const char *event,
                                   const char *nickname),
                        void *user)
{
    if (!st || !meeting_id || !fn)
        return KG_ERR_INVAL;
    sqlite3_stmt *s;
    if (prep(st,
             "SELECT ts, event, nickname FROM audit WHERE meeting_id = ?"
             " ORDER BY seq",
             &s))
        return KG_ERR_IO;
    sqlite3_bind_text(s, 1, meeting_id, -1, SQLITE_STATIC);
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *ev = (const char *)sqlite3_column_text(s, 1);
        fn(user, sqlite3_column_int64(s, 0), ev ? ev : "",
           (const char *)sqlite3_column_text(s, 2));
    }
    sqlite3_finalize(s);
    return rc == SQLITE_DONE ? 0 : KG_ERR_IO;
}
