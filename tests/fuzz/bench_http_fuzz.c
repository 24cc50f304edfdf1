/* kaigi-bench's HTTP/1.1 response parser (bench/bench_http.c): whatever
 * it accepts, the body lies inside the input and the status is 3 digits;
 * the URL splitter never overruns its output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench_http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *buf = malloc(size + 1);
    if (!buf)
        return 0;
    memcpy(buf, data, size);
    buf[size] = '\0';
    int status = 0;
    size_t off = 0, len = 0;
    if (kb_http_parse_response(buf, size, &status, &off, &len) == 0 &&
        (off > size || len > size - off || status < 0 || status > 999))
        abort();
    struct sockaddr_in a;
    char path[64];
    if (kb_http_parse_url(buf, &a, path, sizeof(path)) == 0 &&
        strlen(path) >= sizeof(path))
        abort();
    free(buf);
    return 0;
}
