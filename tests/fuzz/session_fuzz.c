/* Fuzzes the WebSocket protocol handler (signalling/session.c and
 * meetings.c): each input is one connection's messages, separated by NUL
 * bytes, fed to a real kg_sfu (ad-hoc rooms on, a real store with one
 * meeting, one media worker on an ephemeral loopback port). "MID", "PIN"
 * and "HOSTKEY" in a message stand for that meeting's real values, so
 * joins get past the credential check. Each input is one connection,
 * opened and closed; the meeting's live policy (lock, settings, who is
 * host) carries over from one input to the next, as on a server. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ftw.h>
#include <uv.h>

#include "codec/err.h"
#include "signalling/session.h"
#include "signalling/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uv_loop_t loop;
static kg_sfu *sfu;
static char dir[] = "/tmp/kaigi-session-fuzz-XXXXXX";
static char mid[KG_MEETING_ID_LEN + 1], pin[KG_PIN_MAX + 1];
static char hostkey[KG_HOST_KEY_LEN + 1];
static size_t sent_bytes;
static int closes;

static void conn_send(void *conn, const char *text, size_t len)
{
    (void)conn;
    (void)text;
    sent_bytes += len;
}

static void conn_close(void *conn)
{
    (void)conn;
    closes++;
}

static int rm_one(const char *path, const struct stat *sb, int flag,
                  struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void cleanup(void)
{
    nftw(dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static void setup(void)
{
    if (!mkdtemp(dir) || uv_loop_init(&loop) != 0)
        abort();
    atexit(cleanup);
    char data[80];
    snprintf(data, sizeof(data), "%s/data", dir);
    struct sockaddr_in udp = {.sin_family = AF_INET};
    udp.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    kg_sfu_config cfg = {.loop = &loop,
                         .udp_addr = (struct sockaddr *)&udp,
                         .node = "fuzz",
                         .max_participants = 64,
                         .data_dir = data,
                         .open_rooms = true,
                         .base_url = "http://127.0.0.1:1",
                         .pin_digits = 8,
                         .workers = 1};
    static const kg_conn_ops ops = {.send = conn_send, .close = conn_close};
    if (kg_sfu_new(&sfu, &cfg, &ops) != 0)
        abort();
    kg_meeting m, out;
    memset(&m, 0, sizeof(m));
    snprintf(m.title, sizeof(m.title), "fuzz");
    m.start = (int64_t)time(NULL) - 60;
    m.duration = 86400;
    kg_meeting_settings_default(&m.settings);
    if (kg_store_meeting_create((kg_store *)kg_sfu_store(sfu), &m, 8, &out,
                                hostkey, pin) != 0)
        abort();
    snprintf(mid, sizeof(mid), "%s", out.id);
}

/* Replaces the placeholders in msg (in place, into out). */
static size_t expand(const char *msg, size_t len, char *out, size_t cap)
{
    static const struct {
        const char *word;
        const char *value;
    } subs[] = {{"HOSTKEY", hostkey}, {"MID", mid}, {"PIN", pin}};
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap;) {
        size_t k;
        for (k = 0; k < sizeof(subs) / sizeof(subs[0]); k++) {
            size_t wl = strlen(subs[k].word);
            if (len - i >= wl && memcmp(msg + i, subs[k].word, wl) == 0)
                break;
        }
        if (k < sizeof(subs) / sizeof(subs[0])) {
            size_t vl = strlen(subs[k].value);
            if (n + vl >= cap)
                break;
            memcpy(out + n, subs[k].value, vl);
            n += vl;
            i += strlen(subs[k].word);
        } else {
            out[n++] = msg[i++];
        }
    }
    return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!sfu)
        setup();
    static int conn_token;
    kg_session *ss = kg_session_open(sfu, &conn_token, "127.0.0.9");
    if (!ss)
        return 0;
    static char buf[KG_MAX_MESSAGE + 1];
    const char *p = (const char *)data, *end = p + size;
    while (p < end) {
        const char *z = memchr(p, '\0', (size_t)(end - p));
        size_t len = z ? (size_t)(z - p) : (size_t)(end - p);
        size_t n = expand(p, len, buf, sizeof(buf));
        kg_session_on_message(ss, buf, n);
        p += len + 1;
    }
    kg_session_closed(ss);
    /* let the policy timer and the worker's events run a little */
    uv_run(&loop, UV_RUN_NOWAIT);
    return 0;
}
