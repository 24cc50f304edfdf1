#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "codec/err.h"
#include "signalling/meeting.h"
#include "signalling/store.h"

/* Each test runs in a fresh mkdtemp directory; the store's data dir is
 * dir/data so that the store has to create it. */
typedef struct fixture {
    char dir[64];
    char data[96];
} fixture;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    strcpy(f->dir, "/tmp/kg_store_XXXXXX");
    if (!mkdtemp(f->dir)) {
        free(f);
        return -1;
    }
    snprintf(f->data, sizeof(f->data), "%s/data", f->dir);
    *state = f;
    return 0;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(path);
}

static int teardown(void **state)
{
    fixture *f = *state;
    int rc = nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return rc;
}

static kg_store *open_ok(const fixture *f)
{
    kg_store *st = NULL;
    char err[256];
    int rc = kg_store_open(f->data, &st, err, sizeof(err));
    if (rc != 0)
        fprintf(stderr, "open: %s\n", err);
    assert_int_equal(rc, 0);
    assert_non_null(st);
    return st;
}

static void path_of(const fixture *f, const char *name, char *out,
                    size_t cap)
{
    snprintf(out, cap, "%s/%s", f->data, name);
}

static mode_t mode_of(const char *path)
{
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    return sb.st_mode & 07777;
}

static kg_meeting sample(const char *title, int64_t start)
{
    kg_meeting m;
    memset(&m, 0, sizeof(m));
    snprintf(m.title, sizeof(m.title), "%s", title);
    m.start = start;
    m.duration = 3600;
    kg_meeting_settings_default(&m.settings);
    return m;
}

static void create_ok(kg_store *st, const kg_meeting *in, int digits,
                      kg_meeting *out, char *key, char *pin)
{
    assert_int_equal(kg_store_meeting_create(st, in, digits, out, key, pin),
                     0);
}

static bool all_digits(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
    }
    return true;
}

static bool all_alnum(const char *s, size_t len)
{
    if (strlen(s) != len)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9')))
            return false;
    }
    return true;
}

/* Runs one integer query straight on kaigi.db, behind the store's back. */
static int64_t db_int(const fixture *f, const char *sql)
{
    char path[256];
    path_of(f, "kaigi.db", path, sizeof(path));
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *s;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK);
    int64_t v = -1;
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW)
        v = sqlite3_column_int64(s, 0);
    else
        assert_int_equal(rc, SQLITE_DONE);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

static void read_file(const char *path, uint8_t **buf, size_t *len)
{
    *buf = NULL;
    *len = 0;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return; /* -wal may be gone after close */
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    long n = ftell(fp);
    assert_true(n >= 0);
    rewind(fp);
    *buf = malloc((size_t)n + 1);
    assert_non_null(*buf);
    assert_int_equal(fread(*buf, 1, (size_t)n, fp), (size_t)n);
    fclose(fp);
    *len = (size_t)n;
}

/* --- files ------------------------------------------------------------- */

static void test_open_files(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    char p[256];
    assert_int_equal(mode_of(f->data), 0700);
    path_of(f, "secret.key", p, sizeof(p));
    assert_int_equal(mode_of(p), 0600);
    struct stat sb;
    assert_int_equal(stat(p, &sb), 0);
    assert_int_equal(sb.st_size, 32);
    path_of(f, "kaigi.db", p, sizeof(p));
    assert_int_equal(mode_of(p), 0600);
    path_of(f, "kaigi.db-wal", p, sizeof(p));
    assert_int_equal(mode_of(p), 0600);
    path_of(f, "admin.token", p, sizeof(p));
    assert_int_equal(mode_of(p), 0600);

    uint8_t *tok;
    size_t len;
    read_file(p, &tok, &len);
    assert_int_equal(len, KG_ADMIN_TOKEN_LEN + 1);
    assert_int_equal(tok[KG_ADMIN_TOKEN_LEN], '\n');
    tok[KG_ADMIN_TOKEN_LEN] = '\0';
    assert_true(all_alnum((char *)tok, KG_ADMIN_TOKEN_LEN));
    assert_true(kg_store_check_admin(st, (char *)tok));
    assert_false(kg_store_check_admin(st, NULL));
    assert_false(kg_store_check_admin(st, ""));
    char wrong[KG_ADMIN_TOKEN_LEN + 1];
    memcpy(wrong, tok, sizeof(wrong));
    wrong[5] = wrong[5] == 'a' ? 'b' : 'a';
    assert_false(kg_store_check_admin(st, wrong));
    wrong[5] = (char)tok[5];
    wrong[KG_ADMIN_TOKEN_LEN - 1] = '\0'; /* a prefix is not the token */
    assert_false(kg_store_check_admin(st, wrong));
    /* Only the hash is in the database. */
    assert_int_equal(db_int(f, "SELECT count(*) FROM admin"), 1);
    assert_int_equal(db_int(f, "SELECT length(hash) FROM admin"), 32);
    kg_store_close(st);

    /* Reopen: the same token, read back from the file. */
    st = open_ok(f);
    assert_true(kg_store_check_admin(st, (char *)tok));
    kg_store_close(st);

    /* Deleting admin.token rotates it. */
    assert_int_equal(unlink(p), 0);
    st = open_ok(f);
    assert_false(kg_store_check_admin(st, (char *)tok));
    uint8_t *tok2;
    read_file(p, &tok2, &len);
    assert_int_equal(len, KG_ADMIN_TOKEN_LEN + 1);
    tok2[KG_ADMIN_TOKEN_LEN] = '\0';
    assert_true(kg_store_check_admin(st, (char *)tok2));
    assert_int_equal(db_int(f, "SELECT count(*) FROM admin"), 1);
    kg_store_close(st);
    free(tok);
    free(tok2);

    /* Settings the store asked for are in force. */
    assert_int_equal(db_int(f, "PRAGMA user_version"),
                     KG_STORE_SCHEMA_VERSION);
}

/* The durability the README promises is what the live connection runs
 * with: WAL, and synchronous=FULL (WAL fsync'd at every COMMIT). NORMAL
 * or OFF would pass every kill -9 test and still lose commits to a power
 * cut (tests/e2e/powercut_test.py shows that part). */
static void test_durability_in_force(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_store_durability d;
    assert_int_equal(kg_store_get_durability(st, &d), 0);
    assert_string_equal(d.journal_mode, "wal");
    assert_string_equal(d.synchronous, "full");
    kg_store_close(st);
}

static void test_open_bad_args(void **state)
{
    fixture *f = *state;
    kg_store *st = NULL;
    char err[128];
    assert_int_equal(kg_store_open(NULL, &st, err, sizeof(err)),
                     KG_ERR_INVAL);
    assert_int_equal(kg_store_open("", &st, err, sizeof(err)),
                     KG_ERR_INVAL);
    /* a data dir that is a file */
    char p[128];
    snprintf(p, sizeof(p), "%s/file", f->dir);
    int fd = open(p, O_CREAT | O_WRONLY, 0600);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(kg_store_open(p, &st, err, sizeof(err)), KG_ERR_IO);
    assert_null(st);
    assert_non_null(strstr(err, "data dir"));
    /* err may be NULL */
    assert_int_equal(kg_store_open(p, &st, NULL, 0), KG_ERR_IO);
}

static void test_secret_mode_refused(void **state)
{
    fixture *f = *state;
    kg_store_close(open_ok(f));
    char p[256], err[256];
    kg_store *st = NULL;
    path_of(f, "secret.key", p, sizeof(p));
    assert_int_equal(chmod(p, 0644), 0);
    assert_int_equal(kg_store_open(f->data, &st, err, sizeof(err)),
                     KG_ERR_DENIED);
    assert_null(st);
    assert_non_null(strstr(err, "secret.key"));
    assert_non_null(strstr(err, "0644"));
    assert_int_equal(chmod(p, 0640), 0);
    assert_int_equal(kg_store_open(f->data, &st, err, sizeof(err)),
                     KG_ERR_DENIED);
    assert_int_equal(chmod(p, 0600), 0);
    kg_store_close(open_ok(f));

    /* wrong size */
    assert_int_equal(truncate(p, 31), 0);
    assert_int_equal(kg_store_open(f->data, &st, err, sizeof(err)),
                     KG_ERR_INVAL);
    assert_non_null(strstr(err, "31 bytes"));
    assert_int_equal(truncate(p, 33), 0);
    assert_int_equal(kg_store_open(f->data, &st, err, sizeof(err)),
                     KG_ERR_INVAL);
    assert_int_equal(truncate(p, 4096), 0);
    assert_int_equal(kg_store_open(f->data, &st, err, sizeof(err)),
                     KG_ERR_IO);
    assert_non_null(strstr(err, "too long"));

    /* admin.token open to others, or malformed */
    assert_int_equal(truncate(p, 32), 0);
    path_of(f, "admin.token", p, sizeof(p));
    assert_int_equal(chmod(p, 0604), 0);
    assert_int_equal(kg_store_open(f->data, &st, err, sizeof(err)),
                     KG_ERR_DENIED);
    assert_non_null(strstr(err, "admin.token"));
    assert_int_equal(chmod(p, 0600), 0);
    assert_int_equal(truncate(p, 10), 0);
    assert_int_equal(kg_store_open(f->data, &st, err, sizeof(err)),
                     KG_ERR_INVAL);
    assert_null(st);
}

static void test_missing_secret_with_meetings(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_meeting in = sample("Standup", 1700000000), m;
    char key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    create_ok(st, &in, 8, &m, key, pin);
    kg_store_close(st);
    char p[256], err[256];
    path_of(f, "secret.key", p, sizeof(p));
    assert_int_equal(unlink(p), 0);
    st = NULL;
    assert_int_equal(kg_store_open(f->data, &st, err, sizeof(err)),
                     KG_ERR_NOTFOUND);
    assert_non_null(strstr(err, "secret.key is missing"));
    assert_int_equal(access(p, F_OK), -1); /* not silently remade */
}

static void test_newer_schema_refused(void **state)
{
    fixture *f = *state;
    kg_store_close(open_ok(f));
    char p[256], err[256];
    path_of(f, "kaigi.db", p, sizeof(p));
    sqlite3 *db;
    assert_int_equal(sqlite3_open(p, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    kg_store *st = NULL;
    assert_int_equal(kg_store_open(f->data, &st, err, sizeof(err)),
                     KG_ERR_UNSUPPORTED);
    assert_null(st);
    assert_non_null(strstr(err, "schema version 2"));
    assert_non_null(strstr(err, "newer"));
    /* and it was left as it was */
    assert_int_equal(db_int(f, "PRAGMA user_version"), 2);
}

/* --- meetings ----------------------------------------------------------- */

static void test_defaults(void **state)
{
    (void)state;
    kg_meeting_settings s;
    memset(&s, 0xff, sizeof(s));
    kg_meeting_settings_default(&s);
    assert_true(s.waiting_room);
    assert_false(s.join_before_host);
    assert_int_equal(s.screen_share, KG_SHARE_HOST);
    assert_true(s.chat);
    assert_false(s.allow_rename);
}

typedef struct listed {
    int n;
    kg_meeting m[8];
} listed;

static void on_meeting(void *user, const kg_meeting *m)
{
    listed *l = user;
    if (l->n < 8)
        l->m[l->n] = *m;
    l->n++;
}

static void assert_same_meeting(const kg_meeting *a, const kg_meeting *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->title, b->title);
    assert_int_equal(a->start, b->start);
    assert_int_equal(a->duration, b->duration);
    assert_int_equal(a->created, b->created);
    assert_int_equal(a->settings.waiting_room, b->settings.waiting_room);
    assert_int_equal(a->settings.join_before_host,
                     b->settings.join_before_host);
    assert_int_equal(a->settings.screen_share, b->settings.screen_share);
    assert_int_equal(a->settings.chat, b->settings.chat);
    assert_int_equal(a->settings.allow_rename, b->settings.allow_rename);
}

static void test_round_trip(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_meeting in = sample("Weekly sync \xe4\xbc\x9a\xe8\xad\xb0", 1800000000);
    in.duration = 5400;
    in.settings = (kg_meeting_settings){
        .waiting_room = false,
        .join_before_host = true,
        .screen_share = KG_SHARE_ALL,
        .chat = false,
        .allow_rename = true,
    };
    strcpy(in.id, "ignored");
    in.created = 42;
    kg_meeting m, got;
    char key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    int64_t t0 = time(NULL);
    create_ok(st, &in, KG_PIN_DEFAULT, &m, key, pin);
    assert_true(all_digits(m.id, KG_MEETING_ID_LEN));
    assert_true(m.id[0] != '0');
    assert_true(all_alnum(key, KG_HOST_KEY_LEN));
    assert_true(all_digits(pin, KG_PIN_DEFAULT));
    assert_true(m.created >= t0 && m.created <= time(NULL));
    assert_string_equal(m.title, in.title);
    assert_int_equal(m.start, in.start);

    assert_int_equal(kg_store_meeting_get(st, m.id, &got), 0);
    assert_same_meeting(&got, &m);
    assert_false(got.settings.waiting_room);
    assert_true(got.settings.join_before_host);
    assert_int_equal(got.settings.screen_share, KG_SHARE_ALL);
    assert_false(got.settings.chat);
    assert_true(got.settings.allow_rename);

    /* update */
    kg_meeting up = got;
    strcpy(up.title, "Renamed");
    up.start = 1800003600;
    up.duration = 60;
    kg_meeting_settings_default(&up.settings);
    assert_int_equal(kg_store_meeting_update(st, &up), 0);
    assert_int_equal(kg_store_meeting_get(st, m.id, &got), 0);
    assert_same_meeting(&got, &up);
    assert_int_equal(got.created, m.created);

    /* list: by start */
    kg_meeting early = sample("Early", 1700000000), late = sample("Late",
                                                                  1900000000);
    kg_meeting me, ml;
    create_ok(st, &late, 6, &ml, key, pin);
    create_ok(st, &early, 12, &me, key, pin);
    assert_true(all_digits(pin, 12));
    listed l = {0};
    assert_int_equal(kg_store_meeting_list(st, on_meeting, &l), 0);
    assert_int_equal(l.n, 3);
    assert_same_meeting(&l.m[0], &me);
    assert_same_meeting(&l.m[1], &up);
    assert_same_meeting(&l.m[2], &ml);

    /* delete */
    assert_int_equal(kg_store_meeting_delete(st, m.id), 0);
    assert_int_equal(kg_store_meeting_get(st, m.id, &got), KG_ERR_NOTFOUND);
    assert_int_equal(kg_store_meeting_delete(st, m.id), KG_ERR_NOTFOUND);
    assert_int_equal(kg_store_meeting_update(st, &up), KG_ERR_NOTFOUND);
    assert_int_equal(kg_store_meeting_get(st, "12345678901", &got),
                     KG_ERR_NOTFOUND);
    assert_int_equal(kg_store_meeting_get(st, "", &got), KG_ERR_NOTFOUND);
    l.n = 0;
    assert_int_equal(kg_store_meeting_list(st, on_meeting, &l), 0);
    assert_int_equal(l.n, 2);
    assert_int_equal(kg_store_meeting_list(st, NULL, &l), KG_ERR_INVAL);
    kg_store_close(st);
}

static void expect_bad_title(kg_store *st, const kg_meeting *good,
                             const char *title)
{
    kg_meeting in = *good, m;
    char key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    snprintf(in.title, sizeof(in.title), "%s", title);
    assert_int_equal(kg_store_meeting_create(st, &in, 8, &m, key, pin),
                     KG_ERR_INVAL);
    assert_int_equal(kg_store_meeting_update(st, &in), KG_ERR_INVAL);
}

static void test_bad_fields(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_meeting good = sample("Good", 1700000000), m, in;
    char key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    create_ok(st, &good, 8, &m, key, pin);
    memcpy(good.id, m.id, sizeof(m.id));

    expect_bad_title(st, &good, "");
    expect_bad_title(st, &good, "line\nbreak");
    expect_bad_title(st, &good, "tab\there");
    expect_bad_title(st, &good, "del\x7f");
    expect_bad_title(st, &good, "c1 \xc2\x85 next line");
    expect_bad_title(st, &good, "bad \xff byte");
    expect_bad_title(st, &good, "overlong \xc0\xaf slash");
    expect_bad_title(st, &good, "overlong \xe0\x80\xaf");
    expect_bad_title(st, &good, "surrogate \xed\xa0\x80");
    expect_bad_title(st, &good, "past max \xf4\x90\x80\x80");
    expect_bad_title(st, &good, "cut \xe4\xbc");
    /* 201 bytes: the title array is full with no NUL in reach */
    in = good;
    memset(in.title, 'x', sizeof(in.title));
    assert_int_equal(kg_store_meeting_create(st, &in, 8, &m, key, pin),
                     KG_ERR_INVAL);
    assert_int_equal(kg_store_meeting_update(st, &in), KG_ERR_INVAL);
    /* 200 bytes is fine, and so is 4-byte UTF-8 */
    memset(in.title, 'x', KG_TITLE_MAX);
    in.title[KG_TITLE_MAX] = '\0';
    create_ok(st, &in, 8, &m, key, pin);
    strcpy(in.title, "emoji \xf0\x9f\x98\x80");
    create_ok(st, &in, 8, &m, key, pin);

    int64_t durations[][2] = {{59, KG_ERR_INVAL},  {60, 0},
                              {86400, 0},          {86401, KG_ERR_INVAL},
                              {0, KG_ERR_INVAL},   {-60, KG_ERR_INVAL}};
    for (size_t i = 0; i < KG_ARRAY_LEN(durations); i++) {
        in = good;
        in.duration = durations[i][0];
        assert_int_equal(kg_store_meeting_create(st, &in, 8, &m, key, pin),
                         durations[i][1]);
        assert_int_equal(kg_store_meeting_update(st, &in), durations[i][1]);
    }
    int64_t starts[][2] = {{0, KG_ERR_INVAL}, {-1, KG_ERR_INVAL}, {1, 0}};
    for (size_t i = 0; i < KG_ARRAY_LEN(starts); i++) {
        in = good;
        in.start = starts[i][0];
        assert_int_equal(kg_store_meeting_create(st, &in, 8, &m, key, pin),
                         starts[i][1]);
        assert_int_equal(kg_store_meeting_update(st, &in), starts[i][1]);
    }
    in = good;
    in.settings.screen_share = (enum kg_share_policy)7;
    assert_int_equal(kg_store_meeting_create(st, &in, 8, &m, key, pin),
                     KG_ERR_INVAL);
    assert_int_equal(kg_store_meeting_update(st, &in), KG_ERR_INVAL);

    int digits[][2] = {{5, KG_ERR_INVAL}, {6, 0},  {12, 0},
                       {13, KG_ERR_INVAL}, {0, KG_ERR_INVAL},
                       {-8, KG_ERR_INVAL}};
    for (size_t i = 0; i < KG_ARRAY_LEN(digits); i++) {
        assert_int_equal(
            kg_store_meeting_create(st, &good, digits[i][0], &m, key, pin),
            digits[i][1]);
        if (digits[i][1] == 0)
            assert_true(all_digits(pin, (size_t)digits[i][0]));
    }
    assert_int_equal(kg_store_meeting_create(st, NULL, 8, &m, key, pin),
                     KG_ERR_INVAL);

    /* the refused updates changed nothing: the row is the last accepted
     * update (start 1) */
    kg_meeting got;
    assert_int_equal(kg_store_meeting_get(st, good.id, &got), 0);
    assert_string_equal(got.title, "Good");
    assert_int_equal(got.start, 1);
    assert_int_equal(got.duration, 3600);
    assert_int_equal(got.settings.screen_share, KG_SHARE_HOST);
    kg_store_close(st);
}

/* --- PINs ---------------------------------------------------------------- */

static void test_pin_unique_2000(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    uint8_t *seen = calloc(1000000 / 8, 1);
    assert_non_null(seen);
    kg_meeting in = sample("Many", 1700000000), m;
    char key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    char first_id[KG_MEETING_ID_LEN + 1] = "";
    for (int i = 0; i < 2000; i++) {
        create_ok(st, &in, 6, &m, key, pin);
        assert_true(all_digits(pin, 6));
        long v = strtol(pin, NULL, 10);
        assert_false(seen[v / 8] & (1u << (v % 8)));
        seen[v / 8] |= (uint8_t)(1u << (v % 8));
        if (i == 0)
            strcpy(first_id, m.id);
    }
    assert_int_equal(db_int(f, "SELECT count(*) FROM meetings"), 2000);
    assert_int_equal(db_int(f, "SELECT count(*) FROM pin_macs"), 2000);
    /* Deleting a meeting keeps its PIN's HMAC. */
    assert_int_equal(kg_store_meeting_delete(st, first_id), 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM meetings"), 1999);
    assert_int_equal(db_int(f, "SELECT count(*) FROM pin_macs"), 2000);
    /* and each meeting's pin_mac is one of them */
    assert_int_equal(db_int(f, "SELECT count(*) FROM meetings WHERE pin_mac"
                               " NOT IN (SELECT mac FROM pin_macs)"),
                     0);
    free(seen);
    kg_store_close(st);
}

/* The test digit source: hands out scripted candidates per length. */
typedef struct script {
    const char *pins[4];
    int n_pins, pin_calls;
    const char *ids[4];
    int n_ids, id_calls;
} script;

static int scripted(void *user, char *out, size_t len)
{
    script *s = user;
    if (len == KG_MEETING_ID_LEN) {
        assert_true(s->id_calls < s->n_ids);
        strcpy(out, s->ids[s->id_calls++]);
    } else {
        assert_true(s->pin_calls < s->n_pins);
        strcpy(out, s->pins[s->pin_calls++]);
    }
    assert_int_equal(strlen(out), len);
    return 0;
}

static void test_pin_never_reissued(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_meeting in = sample("Once", 1700000000), a, b, c;
    char key[KG_HOST_KEY_LEN + 1], pin_a[KG_PIN_MAX + 1],
        pin_c[KG_PIN_MAX + 1], pin[KG_PIN_MAX + 1];
    create_ok(st, &in, 6, &a, key, pin_a);
    create_ok(st, &in, 6, &c, key, pin_c);
    assert_int_equal(kg_store_meeting_delete(st, a.id), 0);
    kg_store_close(st);
    st = open_ok(f); /* and across a restart */

    /* The next create draws the deleted meeting's PIN, then the live
     * one's, then a fresh one: the first two must be refused. Its first
     * ID candidates start with 0, then collide with meeting c. */
    script s = {.pins = {pin_a, pin_c, "424242"},
                .n_pins = 3,
                .ids = {"01234567890", c.id, "55555555555"},
                .n_ids = 3};
    kg_store_test_digits(st, scripted, &s);
    create_ok(st, &in, 6, &b, key, pin);
    assert_string_equal(pin, "424242");
    assert_int_equal(s.pin_calls, 3);
    assert_string_equal(b.id, "55555555555");
    assert_int_equal(s.id_calls, 3);
    assert_int_equal(kg_store_check_pin(st, b.id, "424242"), 0);
    assert_int_equal(kg_store_check_pin(st, c.id, pin_c), 0);

    /* A deleted meeting's ID may come back if nothing remembers it; its
     * PIN never does. An ID with an audit log is never reused, so two
     * meetings' logs cannot merge. */
    assert_int_equal(kg_store_audit(st, c.id, "created", NULL, 1), 0);
    assert_int_equal(kg_store_meeting_delete(st, c.id), 0);
    script again = {.pins = {pin_a, "434343"},
                    .n_pins = 2,
                    .ids = {c.id, a.id},
                    .n_ids = 2};
    kg_store_test_digits(st, scripted, &again);
    create_ok(st, &in, 6, &b, key, pin);
    assert_string_equal(b.id, a.id);
    assert_int_equal(again.id_calls, 2);
    assert_string_equal(pin, "434343");
    assert_int_equal(kg_store_check_pin(st, a.id, pin_a), KG_ERR_AUTH);

    kg_store_test_digits(st, NULL, NULL);
    create_ok(st, &in, 6, &b, key, pin);
    assert_true(all_digits(pin, 6));
    assert_int_equal(db_int(f, "SELECT count(*) FROM pin_macs"), 5);
    kg_store_close(st);
}

static int always_same(void *user, char *out, size_t len)
{
    int *calls = user;
    (*calls)++;
    memset(out, '7', len);
    out[len] = '\0';
    return 0;
}

static void test_pin_space_full(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_meeting in = sample("Full", 1700000000), m;
    char key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    int calls = 0;
    kg_store_test_digits(st, always_same, &calls);
    create_ok(st, &in, 6, &m, key, pin);
    assert_string_equal(pin, "777777");
    assert_string_equal(m.id, "77777777777");
    /* every candidate now collides, for the PIN first */
    calls = 0;
    assert_int_equal(kg_store_meeting_create(st, &in, 6, &m, key, pin),
                     KG_ERR_FULL);
    assert_int_equal(calls, 64);
    assert_string_equal(pin, ""); /* secrets wiped on failure */
    assert_string_equal(key, "");
    /* a longer PIN is free, but the ID collides every time */
    calls = 0;
    assert_int_equal(kg_store_meeting_create(st, &in, 7, &m, key, pin),
                     KG_ERR_FULL);
    assert_int_equal(calls, 1 + 64);
    /* the failed transaction left no PIN HMAC behind */
    assert_int_equal(db_int(f, "SELECT count(*) FROM pin_macs"), 1);
    assert_int_equal(db_int(f, "SELECT count(*) FROM meetings"), 1);
    kg_store_close(st);
}

static void test_check_secrets(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_meeting in = sample("Secrets", 1700000000), a, b;
    char key_a[KG_HOST_KEY_LEN + 1], pin_a[KG_PIN_MAX + 1];
    char key_b[KG_HOST_KEY_LEN + 1], pin_b[KG_PIN_MAX + 1];
    create_ok(st, &in, 8, &a, key_a, pin_a);
    create_ok(st, &in, 10, &b, key_b, pin_b);

    assert_int_equal(kg_store_check_pin(st, a.id, pin_a), 0);
    assert_int_equal(kg_store_check_pin(st, b.id, pin_b), 0);
    assert_int_equal(kg_store_check_pin(st, a.id, pin_b), KG_ERR_AUTH);
    char wrong[KG_PIN_MAX + 1];
    strcpy(wrong, pin_a);
    wrong[7] = wrong[7] == '0' ? '1' : '0';
    assert_int_equal(kg_store_check_pin(st, a.id, wrong), KG_ERR_AUTH);
    memcpy(wrong, pin_a, 7); /* a prefix */
    wrong[7] = '\0';
    assert_int_equal(kg_store_check_pin(st, a.id, wrong), KG_ERR_AUTH);
    assert_int_equal(kg_store_check_pin(st, a.id, ""), KG_ERR_AUTH);
    assert_int_equal(kg_store_check_pin(st, a.id, NULL), KG_ERR_AUTH);
    assert_int_equal(kg_store_check_pin(st, "99999999999", pin_a),
                     KG_ERR_NOTFOUND);

    assert_int_equal(kg_store_check_host_key(st, a.id, key_a), 0);
    assert_int_equal(kg_store_check_host_key(st, a.id, key_b), KG_ERR_AUTH);
    assert_int_equal(kg_store_check_host_key(st, b.id, key_b), 0);
    char wk[KG_HOST_KEY_LEN + 1];
    strcpy(wk, key_a);
    wk[0] = wk[0] == 'A' ? 'B' : 'A';
    assert_int_equal(kg_store_check_host_key(st, a.id, wk), KG_ERR_AUTH);
    assert_int_equal(kg_store_check_host_key(st, a.id, pin_a), KG_ERR_AUTH);
    assert_int_equal(kg_store_check_host_key(st, a.id, NULL), KG_ERR_AUTH);
    assert_int_equal(kg_store_check_host_key(st, "99999999999", key_a),
                     KG_ERR_NOTFOUND);

    char got[KG_PIN_MAX + 1];
    assert_int_equal(kg_store_meeting_pin(st, a.id, got), 0);
    assert_string_equal(got, pin_a);
    assert_int_equal(kg_store_meeting_pin(st, b.id, got), 0);
    assert_string_equal(got, pin_b);
    assert_int_equal(kg_store_meeting_pin(st, "99999999999", got),
                     KG_ERR_NOTFOUND);

    /* the stored forms are hashes and sealed bytes of the right size */
    assert_int_equal(db_int(f, "SELECT max(length(host_key_hash))"
                               " FROM meetings"),
                     32);
    assert_int_equal(db_int(f, "SELECT max(length(pin_mac)) FROM meetings"),
                     32);
    assert_int_equal(db_int(f, "SELECT max(length(pin_sealed))"
                               " FROM meetings"),
                     10 + 28);
    kg_store_close(st);
}

static void test_wrong_secret_key(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_meeting in = sample("Key", 1700000000), m;
    char key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    create_ok(st, &in, 8, &m, key, pin);
    kg_store_close(st);

    char p[256];
    path_of(f, "secret.key", p, sizeof(p));
    uint8_t other[32];
    for (int i = 0; i < 32; i++)
        other[i] = (uint8_t)(i * 7 + 1);
    int fd = open(p, O_WRONLY | O_TRUNC);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, other, sizeof(other)), 32);
    close(fd);

    st = open_ok(f);
    char got[KG_PIN_MAX + 1] = "untouched";
    assert_int_equal(kg_store_meeting_pin(st, m.id, got), KG_ERR_AUTH);
    assert_int_equal(kg_store_check_pin(st, m.id, pin), KG_ERR_AUTH);
    /* host keys do not depend on secret.key */
    assert_int_equal(kg_store_check_host_key(st, m.id, key), 0);
    kg_store_close(st);
}

/* --- invites ------------------------------------------------------------- */

static void test_invites(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_meeting in = sample("Invites", 1700000000), a, b;
    char key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    create_ok(st, &in, 8, &a, key, pin);
    create_ok(st, &in, 8, &b, key, pin);

    char tok[10][KG_INVITE_LEN + 1];
    assert_int_equal(kg_store_invites_create(st, a.id, 10, tok), 0);
    for (int i = 0; i < 10; i++) {
        assert_true(all_alnum(tok[i], KG_INVITE_LEN));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(tok[i], tok[j]);
    }
    char mid[KG_MEETING_ID_LEN + 1];
    for (int i = 0; i < 10; i++) {
        /* looking one up does not spend it */
        memset(mid, 0, sizeof(mid));
        assert_int_equal(kg_store_invite_meeting(st, tok[i], mid), 0);
        assert_string_equal(mid, a.id);
        assert_int_equal(kg_store_invite_meeting(st, tok[i], mid), 0);
        memset(mid, 0, sizeof(mid));
        assert_int_equal(kg_store_invite_spend(st, tok[i], mid), 0);
        assert_int_equal(kg_store_invite_meeting(st, tok[i], mid),
                         KG_ERR_DENIED);
        assert_string_equal(mid, a.id);
        assert_int_equal(kg_store_invite_spend(st, tok[i], mid),
                         KG_ERR_DENIED);
    }
    assert_int_equal(kg_store_invite_spend(st, tok[3], NULL), KG_ERR_DENIED);
    assert_int_equal(kg_store_invite_spend(st, "AAAAAAAAAAAAAAAAAAAAAAAAAA",
                                           mid),
                     KG_ERR_NOTFOUND);
    assert_int_equal(kg_store_invite_spend(st, "", mid), KG_ERR_NOTFOUND);
    assert_int_equal(kg_store_invite_meeting(st, "AAAAAAAAAAAAAAAAAAAAAAAAAA",
                                             mid),
                     KG_ERR_NOTFOUND);
    assert_int_equal(kg_store_invite_meeting(st, NULL, mid), KG_ERR_INVAL);
    assert_int_equal(kg_store_invite_spend(st, NULL, mid), KG_ERR_INVAL);
    assert_int_equal(db_int(f, "SELECT count(*) FROM invites WHERE spent=1"),
                     10);
    assert_int_equal(db_int(f, "SELECT max(length(token_hash))"
                               " FROM invites"),
                     32);

    /* bounds and unknown meetings */
    char big[101][KG_INVITE_LEN + 1];
    assert_int_equal(kg_store_invites_create(st, a.id, 0, big),
                     KG_ERR_INVAL);
    assert_int_equal(kg_store_invites_create(st, a.id, 101, big),
                     KG_ERR_INVAL);
    assert_int_equal(kg_store_invites_create(st, "99999999999", 1, big),
                     KG_ERR_NOTFOUND);
    assert_int_equal(kg_store_invites_create(st, a.id, 100, big), 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM invites"), 110);

    /* a deleted meeting's invites go with it, spent or not; others stay */
    char tb[2][KG_INVITE_LEN + 1];
    assert_int_equal(kg_store_invites_create(st, b.id, 2, tb), 0);
    assert_int_equal(kg_store_meeting_delete(st, a.id), 0);
    assert_int_equal(db_int(f, "SELECT count(*) FROM invites"), 2);
    assert_int_equal(kg_store_invite_spend(st, big[0], mid),
                     KG_ERR_NOTFOUND);
    assert_int_equal(kg_store_invite_spend(st, tok[0], mid),
                     KG_ERR_NOTFOUND);
    assert_int_equal(kg_store_invite_spend(st, tb[1], mid), 0);
    assert_string_equal(mid, b.id);
    kg_store_close(st);
}

/* --- audit --------------------------------------------------------------- */

typedef struct audit_log {
    int n;
    int64_t ts[16];
    char event[16][16];
    char nick[16][32];
} audit_log;

static void on_audit(void *user, int64_t ts, const char *event,
                     const char *nickname)
{
    audit_log *l = user;
    if (l->n >= 16)
        return;
    l->ts[l->n] = ts;
    snprintf(l->event[l->n], sizeof(l->event[0]), "%s", event);
    snprintf(l->nick[l->n], sizeof(l->nick[0]), "%s",
             nickname ? nickname : "(null)");
    l->n++;
}

static void test_audit(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_meeting in = sample("Audit", 1700000000), a, b;
    char key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    create_ok(st, &in, 8, &a, key, pin);
    create_ok(st, &in, 8, &b, key, pin);

    /* Times are stored as given, even out of order: the log keeps the
     * order of the calls. */
    assert_int_equal(kg_store_audit(st, a.id, "created", NULL, 100), 0);
    assert_int_equal(kg_store_audit(st, a.id, "host_joined", "Ann", 300),
                     0);
    assert_int_equal(kg_store_audit(st, b.id, "joined", "Bob", 250), 0);
    assert_int_equal(kg_store_audit(st, a.id, "admitted",
                                    "Zo\xc3\xab", 200),
                     0);
    assert_int_equal(kg_store_audit(st, a.id, "left", "Ann", 400), 0);
    /* refused */
    assert_int_equal(kg_store_audit(st, a.id, "exploded", NULL, 1),
                     KG_ERR_INVAL);
    assert_int_equal(kg_store_audit(st, a.id, NULL, NULL, 1), KG_ERR_INVAL);
    assert_int_equal(kg_store_audit(st, a.id, "joined", "a\nb", 1),
                     KG_ERR_INVAL);
    assert_int_equal(kg_store_audit(st, a.id, "joined", "", 1),
                     KG_ERR_INVAL);
    assert_int_equal(kg_store_audit(st, "123", "joined", "x", 1),
                     KG_ERR_INVAL);
    assert_int_equal(kg_store_audit(st, NULL, "joined", "x", 1),
                     KG_ERR_INVAL);

    audit_log l = {0};
    assert_int_equal(kg_store_audit_list(st, a.id, on_audit, &l), 0);
    assert_int_equal(l.n, 4);
    int64_t want_ts[] = {100, 300, 200, 400};
    const char *want_ev[] = {"created", "host_joined", "admitted", "left"};
    const char *want_nick[] = {"(null)", "Ann", "Zo\xc3\xab", "Ann"};
    for (int i = 0; i < 4; i++) {
        assert_int_equal(l.ts[i], want_ts[i]);
        assert_string_equal(l.event[i], want_ev[i]);
        assert_string_equal(l.nick[i], want_nick[i]);
    }
    /* the log outlives the meeting */
    assert_int_equal(kg_store_meeting_delete(st, a.id), 0);
    memset(&l, 0, sizeof(l));
    assert_int_equal(kg_store_audit_list(st, a.id, on_audit, &l), 0);
    assert_int_equal(l.n, 4);
    memset(&l, 0, sizeof(l));
    assert_int_equal(kg_store_audit_list(st, b.id, on_audit, &l), 0);
    assert_int_equal(l.n, 1);
    assert_string_equal(l.nick[0], "Bob");
    memset(&l, 0, sizeof(l));
    assert_int_equal(kg_store_audit_list(st, "99999999999", on_audit, &l),
                     0);
    assert_int_equal(l.n, 0);
    kg_store_close(st);
}

/* --- persistence --------------------------------------------------------- */

static void test_reopen_keeps_everything(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    kg_meeting in = sample("Persist", 1700000000), a, got;
    in.settings.screen_share = KG_SHARE_ALL;
    char key[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    create_ok(st, &in, 9, &a, key, pin);
    char tok[3][KG_INVITE_LEN + 1];
    assert_int_equal(kg_store_invites_create(st, a.id, 3, tok), 0);
    char mid[KG_MEETING_ID_LEN + 1];
    assert_int_equal(kg_store_invite_spend(st, tok[0], mid), 0);
    assert_int_equal(kg_store_audit(st, a.id, "created", NULL, 5), 0);
    kg_store_close(st);

    st = open_ok(f);
    assert_int_equal(kg_store_meeting_get(st, a.id, &got), 0);
    assert_same_meeting(&got, &a);
    char p2[KG_PIN_MAX + 1];
    assert_int_equal(kg_store_meeting_pin(st, a.id, p2), 0);
    assert_string_equal(p2, pin);
    assert_int_equal(kg_store_check_pin(st, a.id, pin), 0);
    assert_int_equal(kg_store_check_host_key(st, a.id, key), 0);
    assert_int_equal(kg_store_invite_spend(st, tok[0], mid), KG_ERR_DENIED);
    assert_int_equal(kg_store_invite_spend(st, tok[1], mid), 0);
    audit_log l = {0};
    assert_int_equal(kg_store_audit_list(st, a.id, on_audit, &l), 0);
    assert_int_equal(l.n, 1);
    assert_int_equal(l.ts[0], 5);
    kg_store_close(st);
    assert_int_equal(db_int(f, "PRAGMA user_version"), 1);
}

/* No PIN, host key or invite token may be found in clear in the
 * database files, while the store is open (WAL not yet checkpointed) or
 * after it closed. */
typedef struct secrets {
    char pins[20][KG_PIN_MAX + 1];
    char keys[20][KG_HOST_KEY_LEN + 1];
    char toks[20][KG_INVITE_LEN + 1];
} secrets;

static void assert_not_in_files(const fixture *f, const secrets *s,
                                bool open_now)
{
    static const char *const files[] = {"kaigi.db", "kaigi.db-wal",
                                        "kaigi.db-shm"};
    bool title_seen = false;
    size_t total = 0;
    for (size_t i = 0; i < KG_ARRAY_LEN(files); i++) {
        char p[256];
        path_of(f, files[i], p, sizeof(p));
        uint8_t *buf;
        size_t len;
        read_file(p, &buf, &len);
        total += len;
        for (int k = 0; k < 20 && buf; k++) {
            assert_null(memmem(buf, len, s->pins[k], strlen(s->pins[k])));
            assert_null(memmem(buf, len, s->keys[k], KG_HOST_KEY_LEN));
            assert_null(memmem(buf, len, s->toks[k], KG_INVITE_LEN));
        }
        if (buf && memmem(buf, len, "Grep target title", 17))
            title_seen = true;
        free(buf);
    }
    /* The scan did read the data: the title is there in clear. */
    assert_true(title_seen);
    assert_true(total > 0);
    if (open_now) {
        char p[256];
        path_of(f, "kaigi.db-wal", p, sizeof(p));
        struct stat sb;
        assert_int_equal(stat(p, &sb), 0);
        assert_true(sb.st_size > 0);
    }
}

static void test_grep_no_secrets(void **state)
{
    fixture *f = *state;
    kg_store *st = open_ok(f);
    secrets *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    kg_meeting in = sample("Grep target title", 1700000000), m;
    for (int i = 0; i < 20; i++) {
        /* 12-digit PINs: no 11-digit meeting ID can contain one. */
        create_ok(st, &in, KG_PIN_MAX, &m, s->keys[i], s->pins[i]);
        char tok[1][KG_INVITE_LEN + 1];
        assert_int_equal(kg_store_invites_create(st, m.id, 1, tok), 0);
        memcpy(s->toks[i], tok[0], sizeof(tok[0]));
        char pin[KG_PIN_MAX + 1];
        assert_int_equal(kg_store_meeting_pin(st, m.id, pin), 0);
        assert_int_equal(kg_store_check_pin(st, m.id, pin), 0);
        assert_int_equal(kg_store_check_host_key(st, m.id, s->keys[i]), 0);
    }
    /* the spend, too, must leave no clear token behind */
    char mid[KG_MEETING_ID_LEN + 1];
    assert_int_equal(kg_store_invite_spend(st, s->toks[0], mid), 0);
    assert_not_in_files(f, s, true);
    kg_store_close(st);
    assert_not_in_files(f, s, false);
    free(s);
}

/* The child reports each meeting after its create returned; every one
 * it reported must be there after SIGKILL. */
typedef struct report {
    char id[KG_MEETING_ID_LEN + 1];
    char pin[KG_PIN_MAX + 1];
} report;

static void child_create(const char *data, int fd, int count,
                         bool suicide)
{
    kg_store *st = NULL;
    if (kg_store_open(data, &st, NULL, 0) != 0)
        _exit(2);
    kg_meeting in = sample("Crash", 1700000000), m;
    char key[KG_HOST_KEY_LEN + 1];
    for (int i = 0; i < count; i++) {
        report r;
        memset(&r, 0, sizeof(r));
        in.start = 1700000000 + i;
        if (kg_store_meeting_create(st, &in, 8, &m, key, r.pin) != 0)
            _exit(3);
        memcpy(r.id, m.id, sizeof(r.id));
        if (write(fd, &r, sizeof(r)) != (ssize_t)sizeof(r))
            _exit(4);
    }
    if (suicide)
        raise(SIGKILL);
    for (;;) /* wait for the parent's SIGKILL */
        pause();
}

static int run_crash(const fixture *f, int count, bool suicide,
                     int kill_after, report *got, int cap)
{
    int p[2];
    assert_int_equal(pipe(p), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(p[0]);
        child_create(f->data, p[1], count, suicide);
    }
    close(p[1]);
    int n = 0;
    while (n < cap) {
        ssize_t r = read(p[0], &got[n], sizeof(got[n]));
        if (r == 0)
            break;
        assert_int_equal(r, (ssize_t)sizeof(got[n]));
        n++;
        if (n == kill_after)
            kill(pid, SIGKILL);
    }
    close(p[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);
    return n;
}

static void check_reported(const fixture *f, const report *got, int n)
{
    kg_store *st = open_ok(f);
    for (int i = 0; i < n; i++) {
        kg_meeting m;
        assert_int_equal(kg_store_meeting_get(st, got[i].id, &m), 0);
        assert_int_equal(kg_store_check_pin(st, got[i].id, got[i].pin), 0);
        char pin[KG_PIN_MAX + 1];
        assert_int_equal(kg_store_meeting_pin(st, got[i].id, pin), 0);
        assert_string_equal(pin, got[i].pin);
    }
    kg_store_close(st);
}

static void test_kill9_after_50(void **state)
{
    fixture *f = *state;
    report got[50];
    int n = run_crash(f, 50, true, -1, got, 50);
    assert_int_equal(n, 50);
    check_reported(f, got, n);
    assert_int_equal(db_int(f, "SELECT count(*) FROM meetings"), 50);
}

static void test_kill9_midway(void **state)
{
    fixture *f = *state;
    /* The parent kills the child while it is still creating: whatever
     * the child was doing then, each meeting it reported is there. */
    static report got[400];
    int n = run_crash(f, 400, false, 25, got, 400);
    assert_true(n >= 25);
    check_reported(f, got, n);
    int64_t rows = db_int(f, "SELECT count(*) FROM meetings");
    /* at most the one in flight was committed but not reported */
    assert_true(rows >= n && rows <= n + 1);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_open_files),
        T(test_durability_in_force),
        T(test_open_bad_args),
        T(test_secret_mode_refused),
        T(test_missing_secret_with_meetings),
        T(test_newer_schema_refused),
        T(test_defaults),
        T(test_round_trip),
        T(test_bad_fields),
        T(test_pin_unique_2000),
        T(test_pin_never_reissued),
        T(test_pin_space_full),
        T(test_check_secrets),
        T(test_wrong_secret_key),
        T(test_invites),
        T(test_audit),
        T(test_reopen_keeps_everything),
        T(test_grep_no_secrets),
        T(test_kill9_after_50),
        T(test_kill9_midway),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
