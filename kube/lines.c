/*
 * lines.c — splits a watch stream into '\n'-terminated lines.
 *
 * Bytes accumulate in a capped lbp_buf until a newline arrives; the line is
 * then handed to the callback NUL-terminated, with a trailing '\r' removed
 * (some proxies speak CRLF). A line that would grow past the cap is thrown
 * away as a whole: the buffer is emptied, `skipping` is set and every byte up
 * to the next newline is discarded, so the stream resynchronises on the
 * following line instead of handing half an object to the decoder. Empty
 * lines carry nothing and are skipped. A trailing fragment without a newline
 * stays buffered: a watch stream that ends mid-line ended mid-object.
 */
#include "common/rc.h"
#include "kube/kube_int.h"

#include <string.h>

void lbp_line_splitter_init(struct lbp_line_splitter *s, size_t max)
{
    lbp_buf_init(&s->buf, max);
    s->max = max;
    s->skipping = false;
    s->overlong = 0;
}

/*
 * Returns LBP_OK, LBP_TOOBIG when a line in this chunk was dropped (the rest
 * of the chunk is still processed), LBP_NOMEM, or the callback's own nonzero
 * value when it asked to stop (the rest of the chunk is then left unread).
 */
int lbp_line_splitter_feed(struct lbp_line_splitter *s, const char *data, size_t len,
                           lbp_line_cb cb, void *ctx)
{
    int rc = LBP_OK;

    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;
        size_t step = nl ? n + 1 : n;

        if (s->skipping) {
            if (nl)
                s->skipping = false;
        } else if (n > s->max || s->buf.len > s->max - n) {
            s->overlong++;
            lbp_buf_reset(&s->buf);
            s->skipping = nl == NULL;
            rc = LBP_TOOBIG;
        } else {
            int r = lbp_buf_add(&s->buf, data, n);
            if (r)
                return r;
            if (nl) {
                size_t l = s->buf.len;
                if (l > 0 && s->buf.data[l - 1] == '\r')
                    s->buf.data[--l] = '\0';
                if (l > 0) {
                    r = cb(ctx, s->buf.data, l);
                    if (r) {
                        lbp_buf_reset(&s->buf);
                        return r;
                    }
                }
                lbp_buf_reset(&s->buf);
            }
        }
        data += step;
        len -= step;
    }
    return rc;
}

void lbp_line_splitter_free(struct lbp_line_splitter *s)
{
    if (s)
        lbp_buf_free(&s->buf);
}
