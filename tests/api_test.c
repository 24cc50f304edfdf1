/* The REST API over a real store in a temporary directory, without HTTP:
 * authentication, validation, the join-info window, invites. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "codec/err.h"
#include "signalling/api.h"
#include "signalling/store.h"

typedef struct fixture {
    char dir[64];
    kg_store *st;
    kg_api api;
    char bearer[KG_ADMIN_TOKEN_LEN + 16];
} fixture;

static int setup(void **state)
{
    static fixture f;
    memset(&f, 0, sizeof(f));
    snprintf(f.dir, sizeof(f.dir), "/tmp/kaigi-api-XXXXXX");
    assert_non_null(mkdtemp(f.dir));
    char data[96];
    snprintf(data, sizeof(data), "%s/data", f.dir);
    char err[256];
    assert_int_equal(kg_store_open(data, &f.st, err, sizeof(err)), 0);
    char path[128], token[KG_ADMIN_TOKEN_LEN + 2] = "";
    snprintf(path, sizeof(path), "%s/admin.token", data);
    FILE *fp = fopen(path, "r");
    assert_non_null(fp);
    assert_non_null(fgets(token, sizeof(token), fp));
    fclose(fp);
    token[strcspn(token, "\n")] = '\0';
    snprintf(f.bearer, sizeof(f.bearer), "Bearer %s", token);
    f.api.store = f.st;
    f.api.base_url = "http://127.0.0.1:8080";
    f.api.pin_digits = 8;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    kg_store_close(f->st);
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    assert_int_equal(system(cmd), 0);
    return 0;
}

static kg_api_resp call(fixture *f, enum kg_http_method m, const char *path,
                        const char *auth, const char *body, int64_t now)
{
    kg_api_req req = {.method = m,
                      .path = path,
                      .authorization = auth ? auth : "",
                      .body = body,
                      .body_len = body ? strlen(body) : 0,
                      .now = now};
    kg_api_resp r = {0};
    kg_api_meetings(&f->api, &req, &r);
    return r;
}

static const char *str(const kg_api_resp *r, const char *key)
{
    return json_string_value(json_object_get(r->body, key));
}

/* 2030-01-01T10:00:00Z */
#define T0 1893492000

static void create(fixture *f, char *id, char *host_key)
{
    kg_api_resp r = call(f, KG_HTTP_POST, "/api/meetings", f->bearer,
                         "{\"title\": \"Standup\", \"start\": "
                         "\"2030-01-01T10:00:00Z\", \"duration\": 1800}",
                         T0 - 86400);
    assert_int_equal(r.status, 201);
    snprintf(id, KG_MEETING_ID_LEN + 1, "%s", str(&r, "id"));
    snprintf(host_key, KG_HOST_KEY_LEN + 1, "%s", str(&r, "host_key"));
    assert_int_equal(strlen(id), KG_MEETING_ID_LEN);
    assert_int_equal(strlen(host_key), KG_HOST_KEY_LEN);
    assert_non_null(strstr(str(&r, "host_link"), host_key));
    assert_string_equal(str(&r, "start"), "2030-01-01T10:00:00Z");
    json_t *st = json_object_get(r.body, "settings");
    assert_true(json_is_true(json_object_get(st, "waiting_room")));
    assert_true(json_is_false(json_object_get(st, "join_before_host")));
    assert_string_equal(json_string_value(json_object_get(st, "screen_share")),
                        "host");
    json_decref(r.body);
}

static void test_rfc3339(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(kg_rfc3339_parse("2030-01-01T10:00:00Z", &t), 0);
    assert_int_equal(t, T0);
    assert_int_equal(kg_rfc3339_parse("2030-01-01T11:30:00+01:30", &t), 0);
    assert_int_equal(t, T0);
    assert_int_equal(kg_rfc3339_parse("2030-01-01T10:00:00.250Z", &t), 0);
    assert_int_equal(t, T0);
    const char *bad[] = {"", "2030-01-01", "2030-01-01 10:00:00Z",
                         "2030-13-01T10:00:00Z", "2030-02-31T10:00:00Z",
                         "2030-01-01T10:00:00", "2030-01-01T10:00:00Zjunk",
                         "2030-01-01T25:00:00Z", "2030-01-01T10:00:00+1:00",
                         /* read back, these would be another year */
                         "9999-12-31T23:59:59-23:59",
                         "1970-01-01T00:00:00+01:00"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(kg_rfc3339_parse(bad[i], &t), KG_ERR_INVAL);
    char out[32];
    kg_rfc3339_format(T0, out);
    assert_string_equal(out, "2030-01-01T10:00:00Z");
    /* the ends of the range round-trip */
    assert_int_equal(kg_rfc3339_parse("9999-12-31T23:59:59Z", &t), 0);
    kg_rfc3339_format(t, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    assert_int_equal(kg_rfc3339_parse("1970-01-01T01:00:00+01:00", &t), 0);
    assert_int_equal(t, 0);
}

static void test_auth_required(void **state)
{
    fixture *f = *state;
    kg_api_resp r = call(f, KG_HTTP_GET, "/api/meetings", NULL, NULL, T0);
    assert_int_equal(r.status, 401);
    json_decref(r.body);
    r = call(f, KG_HTTP_GET, "/api/meetings", "Bearer wrong", NULL, T0);
    assert_int_equal(r.status, 401);
    json_decref(r.body);
    char id[16], hk[32];
    create(f, id, hk);
    char path[64], auth[64];
    snprintf(path, sizeof(path), "/api/meetings/%s", id);
    /* a host key opens its own meeting, never the admin list */
    snprintf(auth, sizeof(auth), "HostKey %s", hk);
    r = call(f, KG_HTTP_GET, path, auth, NULL, T0);
    assert_int_equal(r.status, 200);
    json_decref(r.body);
    r = call(f, KG_HTTP_GET, "/api/meetings", auth, NULL, T0);
    assert_int_equal(r.status, 401);
    json_decref(r.body);
    /* unknown meeting and wrong key look the same */
    r = call(f, KG_HTTP_GET, "/api/meetings/12345678901", auth, NULL, T0);
    assert_int_equal(r.status, 401);
    json_decref(r.body);
    r = call(f, KG_HTTP_DELETE, path, auth, NULL, T0); /* host cannot */
    assert_int_equal(r.status, 401);
    json_decref(r.body);
}

static void test_validation(void **state)
{
    fixture *f = *state;
    struct {
        const char *body;
        unsigned status;
        const char *code;
    } cases[] = {
        {"[]", 400, "bad_json"},
        {"{", 400, "bad_json"},
        {"{\"title\": \"x\"}", 400, "bad_request"},
        {"{\"title\": \"x\", \"start\": \"2030-01-01T10:00:00Z\", "
         "\"duration\": 30}",
         400, "bad_request"},
        {"{\"title\": \"x\", \"start\": \"tomorrow\", \"duration\": 600}", 400,
         "bad_request"},
        /* more than 5 years after now (T0), and the year 10000 */
        {"{\"title\": \"x\", \"start\": \"2035-06-01T10:00:00Z\", "
         "\"duration\": 600}",
         400, "bad_request"},
        {"{\"title\": \"x\", \"start\": \"9999-12-31T23:59:59-23:59\", "
         "\"duration\": 600}",
         400, "bad_request"},
        {"{\"title\": \"x\", \"start\": \"2030-01-01T10:00:00Z\", "
         "\"duration\": 600, \"email\": \"a@b.c\"}",
         400, "unknown_field"},
        {"{\"title\": \"x\", \"start\": \"2030-01-01T10:00:00Z\", "
         "\"duration\": 600, \"settings\": {\"record\": true}}",
         400, "unknown_field"},
        {"{\"title\": \"x\", \"start\": \"2030-01-01T10:00:00Z\", "
         "\"duration\": 600, \"settings\": {\"screen_share\": \"some\"}}",
         400, "bad_request"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        kg_api_resp r = call(f, KG_HTTP_POST, "/api/meetings", f->bearer,
                             cases[i].body, T0);
        assert_int_equal(r.status, cases[i].status);
        assert_string_equal(str(&r, "error"), cases[i].code);
        json_decref(r.body);
    }
    /* nothing was stored by the refused requests */
    kg_api_resp r = call(f, KG_HTTP_GET, "/api/meetings", f->bearer, NULL, T0);
    assert_int_equal(json_array_size(json_object_get(r.body, "meetings")), 0);
    json_decref(r.body);
}

static void test_join_info_window(void **state)
{
    fixture *f = *state;
    char id[16], hk[32], path[96], auth[64];
    create(f, id, hk);
    snprintf(path, sizeof(path), "/api/meetings/%s/join-info", id);
    snprintf(auth, sizeof(auth), "HostKey %s", hk);
    kg_api_resp r = call(f, KG_HTTP_GET, path, auth, NULL, T0 - 301);
    assert_int_equal(r.status, 403);
    assert_string_equal(str(&r, "error"), "not_yet");
    assert_string_equal(str(&r, "opens_at"), "2030-01-01T09:55:00Z");
    json_decref(r.body);
    r = call(f, KG_HTTP_GET, path, auth, NULL, T0 - 300);
    assert_int_equal(r.status, 200);
    const char *pin = str(&r, "pin");
    assert_int_equal(strlen(pin), 8);
    assert_int_equal(kg_store_check_pin(f->st, id, pin), 0);
    json_decref(r.body);
    r = call(f, KG_HTTP_GET, path, auth, NULL, T0 + 1800);
    assert_int_equal(r.status, 200);
    json_decref(r.body);
    r = call(f, KG_HTTP_GET, path, auth, NULL, T0 + 1801);
    assert_int_equal(r.status, 403);
    assert_string_equal(str(&r, "error"), "ended");
    json_decref(r.body);
}

static void test_invites_and_update(void **state)
{
    fixture *f = *state;
    char id[16], hk[32], path[96];
    create(f, id, hk);
    snprintf(path, sizeof(path), "/api/meetings/%s/invites", id);
    kg_api_resp r = call(f, KG_HTTP_POST, path, f->bearer, "{\"count\": 3}",
                         T0);
    assert_int_equal(r.status, 201);
    json_t *inv = json_object_get(r.body, "invites");
    assert_int_equal(json_array_size(inv), 3);
    const char *tok =
        json_string_value(json_object_get(json_array_get(inv, 0), "token"));
    char spent_id[KG_MEETING_ID_LEN + 1];
    assert_int_equal(kg_store_invite_spend(f->st, tok, spent_id), 0);
    assert_string_equal(spent_id, id);
    assert_int_equal(kg_store_invite_spend(f->st, tok, spent_id),
                     KG_ERR_DENIED);
    json_decref(r.body);
    r = call(f, KG_HTTP_POST, path, f->bearer, "{\"count\": 0}", T0);
    assert_int_equal(r.status, 400);
    json_decref(r.body);

    snprintf(path, sizeof(path), "/api/meetings/%s", id);
    r = call(f, KG_HTTP_PUT, path, f->bearer,
             "{\"title\": \"Retro\", \"settings\": {\"waiting_room\": false}}",
             T0);
    assert_int_equal(r.status, 200);
    assert_string_equal(str(&r, "title"), "Retro");
    json_decref(r.body);
    kg_meeting m;
    assert_int_equal(kg_store_meeting_get(f->st, id, &m), 0);
    assert_false(m.settings.waiting_room);
    assert_int_equal(m.start, T0);
    r = call(f, KG_HTTP_DELETE, path, f->bearer, NULL, T0);
    assert_int_equal(r.status, 204);
    assert_int_equal(kg_store_meeting_get(f->st, id, &m), KG_ERR_NOTFOUND);
    r = call(f, KG_HTTP_GET, path, f->bearer, NULL, T0);
    assert_int_equal(r.status, 404);
    json_decref(r.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test_setup_teardown(test_auth_required, setup, teardown),
        cmocka_unit_test_setup_teardown(test_validation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_join_info_window, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_invites_and_update, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
