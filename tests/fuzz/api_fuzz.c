/* Fuzzes the REST API handler (signalling/api.c) over a real store: the
 * method, path, Authorization header and JSON body all come from the
 * network. Input: one method byte, then path, authorization and body
 * separated by NUL bytes. In the path "MID" stands for a real meeting's
 * ID; as authorization "ADMIN" and "HOST" stand for the real admin token
 * and that meeting's host key, so that the authenticated paths are
 * reached too. Every answer must be a known status with a JSON body
 * (except 204). */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec/err.h"
#include "signalling/api.h"
#include "signalling/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static kg_store *st;
static char dir[] = "/tmp/kaigi-api-fuzz-XXXXXX";
static kg_api api;
static char bearer[64];
static char hostkey[64];
static char mid[KG_MEETING_ID_LEN + 1];

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* The store lives in a temporary directory that goes with the process. */
static void cleanup(void)
{
    if (st)
        kg_store_close(st);
    st = NULL;
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    if (!mkdtemp(dir))
        abort();
    atexit(cleanup);
    char data[64], err[256], path[96], token[KG_ADMIN_TOKEN_LEN + 2] = "";
    snprintf(data, sizeof(data), "%s/data", dir);
    if (kg_store_open(data, &st, err, sizeof(err)) != 0)
        abort();
    snprintf(path, sizeof(path), "%s/admin.token", data);
    FILE *f = fopen(path, "r");
    if (!f || !fgets(token, sizeof(token), f))
        abort();
    fclose(f);
    token[strcspn(token, "\n")] = '\0';
    snprintf(bearer, sizeof(bearer), "Bearer %s", token);
    kg_meeting m, out;
    memset(&m, 0, sizeof(m));
    snprintf(m.title, sizeof(m.title), "fuzz");
    m.start = 1893492000;
    m.duration = 3600;
    kg_meeting_settings_default(&m.settings);
    char hk[KG_HOST_KEY_LEN + 1], pin[KG_PIN_MAX + 1];
    if (kg_store_meeting_create(st, &m, 8, &out, hk, pin) != 0)
        abort();
    snprintf(mid, sizeof(mid), "%s", out.id);
    snprintf(hostkey, sizeof(hostkey), "HostKey %s", hk);
    api.store = st;
    api.base_url = "http://127.0.0.1:8080";
    api.pin_digits = 8;
}

/* Copies the next NUL-terminated field (or the rest) into out. */
static const uint8_t *field(const uint8_t *p, const uint8_t *end, char *out,
                            size_t cap)
{
    size_t n = 0;
    while (p < end && *p && n + 1 < cap)
        out[n++] = (char)*p++;
    out[n] = '\0';
    while (p < end && *p)
        p++;
    return p < end ? p + 1 : end;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!st)
        setup();
    if (size < 1)
        return 0;
    const uint8_t *p = data + 1, *end = data + size;
    char raw_path[256], path[300], auth[160];
    p = field(p, end, raw_path, sizeof(raw_path));
    p = field(p, end, auth, sizeof(auth));
    /* "MID" → the real meeting's ID */
    char *at = strstr(raw_path, "MID");
    if (at)
        snprintf(path, sizeof(path), "%.*s%s%s", (int)(at - raw_path),
                 raw_path, mid, at + 3);
    else
        snprintf(path, sizeof(path), "%s", raw_path);
    if (strncmp(path, "/api/meetings", 13) != 0)
        return 0; /* server.c routes only these paths here */
    const char *authorization = strcmp(auth, "ADMIN") == 0   ? bearer
                                : strcmp(auth, "HOST") == 0 ? hostkey
                                                            : auth;
    kg_api_req req = {.method = (enum kg_http_method)(data[0] % 5),
                      .path = path,
                      .authorization = authorization,
                      .body = (const char *)p,
                      .body_len = (size_t)(end - p),
                      .now = 1893492000 + (int64_t)(data[0] >> 3) * 60};
    kg_api_resp resp = {0};
    kg_api_meetings(&api, &req, &resp);
    static const unsigned ok[] = {200, 201, 204, 400, 401, 403,
                                  404, 405, 413, 500};
    int known = 0;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        known |= resp.status == ok[i];
    if (!known || (resp.status != 204 && !resp.body))
        abort();
    json_decref(resp.body);
    return 0;
}
