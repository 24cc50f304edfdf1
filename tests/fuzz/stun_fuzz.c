/* libFuzzer target for STUN: parse; when that succeeds, check integrity
 * with a fixed key, and feed the message to an ICE-lite server and to a
 * client agent whose pending transaction is the message's. The fixed
 * credentials are those of RFC 5769 (username "evtj:h6vY"), so the RFC
 * vectors and the seed requests reach the authenticated paths. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <netinet/in.h>

#include "relay/ice.h"
#include "relay/stun.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char key[] = "VOkJxbRl1RmTxUk/WvJxBt";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    kg_stun_msg msg;
    (void)kg_stun_is(data, size);
    if (kg_stun_parse(data, size, &msg) != 0)
        return 0;
    (void)kg_stun_check_integrity(data, size, &msg, (const uint8_t *)key,
                                  strlen(key));
    char local[16];
    (void)kg_ice_username_local(&msg, local, sizeof(local));

    kg_ice_creds creds;
    memset(&creds, 0, sizeof(creds));
    memcpy(creds.ufrag, "evtj", 5);
    memcpy(creds.pwd, key, sizeof(key));

    kg_ice_lite lite;
    kg_ice_lite_init(&lite, &creds, "h6vY", 0);
    struct sockaddr_in6 from;
    memset(&from, 0, sizeof(from));
    from.sin6_family = AF_INET6;
    from.sin6_port = htons(40000);
    from.sin6_addr = in6addr_loopback;
    uint8_t out[512];
    int ev = 0;
    ssize_t n = kg_ice_lite_on_stun(&lite, data, size, &msg,
                                    (const struct sockaddr *)&from, 1, out,
                                    sizeof(out), &ev);
    if (n > 0) {
        /* Whatever the server writes must itself parse. */
        kg_stun_msg resp;
        if (kg_stun_parse(out, (size_t)n, &resp) != 0 ||
            kg_stun_check_integrity(out, (size_t)n, &resp,
                                    (const uint8_t *)key, strlen(key)) != 0)
            __builtin_trap();
    }

    kg_ice_client client;
    kg_ice_client_init(&client, &creds, &creds, 0);
    memcpy(client.pending_txid, msg.txid, sizeof(msg.txid));
    client.pending = true;
    (void)kg_ice_client_on_stun(&client, data, size, &msg, 1);
    return 0;
}
