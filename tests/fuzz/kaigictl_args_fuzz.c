/* kaigictl's text parsers: the input is one string for the time, span
 * and URL parsers, and, split at NUL bytes, an argv for the command line.
 * Checks that whatever parses as RFC 3339 formats and parses back to the
 * same instant, and that a parsed command builds its request. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tools/kaigictl_args.h"

static void one_string(const char *s)
{
    int64_t t, back, span;
    char buf[KCTL_RFC3339_LEN];
    if (kctl_rfc3339_parse(s, &t) == 0) {
        if (kctl_rfc3339_format(t, buf, sizeof buf) != 0 ||
            kctl_rfc3339_parse(buf, &back) != 0 || back != t)
            abort();
    }
    if (kctl_span_parse(s, &span) == 0 && (span < 0 || span > 315360000))
        abort();
    if (kctl_time_parse(s, 1795381200, buf, sizeof buf) == 0 &&
        kctl_rfc3339_parse(buf, &t) != 0)
        abort();
    kctl_url u;
    if (kctl_url_parse(s, &u) == 0 &&
        (u.port < 1 || u.port > 65535 || u.host[0] == '\0'))
        abort();
    (void)kctl_secret_ok(s);
    (void)kctl_id_ok(s);
}

static void command_line(char *s, size_t len)
{
    char *argv[33] = {"kaigictl"};
    int argc = 1;
    for (size_t i = 0; i < len && argc < 32;) {
        argv[argc++] = s + i;
        i += strlen(s + i) + 1;
    }
    argv[argc] = NULL;
    kctl_cmd cmd;
    char err[256];
    if (kctl_args_parse(argc, argv, 1795381200, &cmd, err, sizeof err) != 0 ||
        cmd.help)
        return;
    kctl_url u;
    if (kctl_url_parse(cmd.server, &u) != 0)
        return;
    const char *method;
    char path[512];
    if (kctl_request_line(&cmd, &u, &method, path, sizeof path) != 0)
        abort(); /* an ID is at most 32 digits and a prefix 255 bytes */
    json_decref(kctl_request_body(&cmd));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = '\0';
    one_string(s);
    command_line(s, size);
    free(s);
    return 0;
}
