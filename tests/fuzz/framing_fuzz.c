/* libFuzzer target for RFC 4571 framing (relay/framing.c): the input is
 * cut into reads at places the first byte chooses; every packet that
 * comes out must lie inside its buffer and have a length in 1..MAX. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "relay/framing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t step = 1 + data[0] % 97;
    uint8_t *copy = malloc(size);
    if (!copy)
        return 0;
    memcpy(copy, data, size);
    kg_framer f;
    kg_framer_init(&f);
    size_t off = 1;
    while (off < size) {
        size_t c = size - off < step ? size - off : step;
        uint8_t *in = copy + off;
        size_t left = c;
        int rc = 1;
        while (left && rc >= 0) {
            size_t used, n;
            uint8_t *pkt;
            rc = kg_framer_feed(&f, in, left, &used, &pkt, &n);
            if (used > left)
                __builtin_trap();
            if (rc == 1) {
                if (n < 1 || n > KG_FRAME_MAX)
                    __builtin_trap();
                volatile uint8_t sink = pkt[0] ^ pkt[n - 1];
                (void)sink;
            }
            in += used;
            left -= used;
        }
        if (rc < 0)
            break; /* the worker closes the connection here */
        off += c;
    }
    free(copy);
    return 0;
}
