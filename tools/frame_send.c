#include "tools/frame_send.h"

#include <stdlib.h>
#include <string.h>

#include "codec/err.h"

/* A write the socket did not take at once: its bytes, in order. */
typedef struct wreq {
    uv_write_t req;
    uint8_t data[];
} wreq;

static void on_written(uv_write_t *req, int status)
{
    (void)status;
    free(req->data);
}

int kc_frame_send(uv_stream_t *s, const uint8_t *pkt, size_t len,
                  size_t queue_max)
{
    uint8_t all[KG_FRAME_HDR + KG_FRAME_MAX];
    if (len > KG_FRAME_MAX || kg_frame_header(all, len) != 0)
        return KG_ERR_INVAL;
    memcpy(all + KG_FRAME_HDR, pkt, len);
    size_t total = KG_FRAME_HDR + len, done = 0;
    size_t queued = uv_stream_get_write_queue_size(s);
    if (queued > queue_max)
        return KG_ERR_FULL;
    if (queued == 0) {
        uv_buf_t b = uv_buf_init((char *)all, (unsigned)total);
        int n = uv_try_write(s, &b, 1);
        if (n < 0 && n != UV_EAGAIN)
            return KG_ERR_IO;
        done = n > 0 ? (size_t)n : 0;
        if (done == total)
            return 0;
    }
    /* The rest (all of it, or what a partial write left) in order. */
    wreq *w = malloc(sizeof(*w) + total - done);
    if (!w)
        return KG_ERR_NOMEM;
    memcpy(w->data, all + done, total - done);
    w->req.data = w;
    uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)(total - done));
    if (uv_write(&w->req, s, &b, 1, on_written) < 0) {
        free(w);
        return KG_ERR_IO;
    }
    return 0;
}

int kc_frame_recv(kg_framer *f, uint8_t *in, size_t len,
                  bool (*fn)(void *arg, uint8_t *pkt, size_t n), void *arg)
{
    while (len > 0) {
        size_t used, n;
        uint8_t *pkt;
        int rc = kg_framer_feed(f, in, len, &used, &pkt, &n);
        in += used;
        len -= used;
        if (rc < 0)
            return rc;
        if (rc == 0 || !fn(arg, pkt, n))
            break;
    }
    return 0;
}
