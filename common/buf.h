/*
 * buf.h — a growable byte buffer with a hard cap (curl's dynbuf idea).
 *
 * Every body, line and document lbprov reads from a peer goes through one of
 * these, so a hostile or broken peer can make lbprov refuse input
 * (LBP_TOOBIG) but never make it allocate without bound. The contents are
 * always NUL-terminated.
 */
#ifndef LBP_COMMON_BUF_H
#define LBP_COMMON_BUF_H

#include <stddef.h>

struct lbp_buf {
    char *data;   /* NULL until the first add */
    size_t len;   /* bytes in use, not counting the NUL */
    size_t alloc; /* bytes allocated */
    size_t max;   /* cap on len */
};

void lbp_buf_init(struct lbp_buf *b, size_t max);
int lbp_buf_add(struct lbp_buf *b, const void *data, size_t len);
int lbp_buf_adds(struct lbp_buf *b, const char *s);
int lbp_buf_addf(struct lbp_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Appends s as a JSON string: quoted, with '"', '\\' and control characters
 * escaped (the bytes json-c's serialiser escapes, except '/', which JSON
 * does not require). Other bytes, UTF-8 included, are copied as they are.
 */
int lbp_buf_add_json_str(struct lbp_buf *b, const char *s);
/* Empties without freeing. */
void lbp_buf_reset(struct lbp_buf *b);
/* Drops the first n bytes. */
void lbp_buf_consume(struct lbp_buf *b, size_t n);
/* Hands the allocation to the caller ("" when empty); the buffer is empty after. */
char *lbp_buf_take(struct lbp_buf *b, size_t *len);
void lbp_buf_free(struct lbp_buf *b);

#endif
