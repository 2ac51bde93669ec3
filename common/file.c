/*
 * file.c — the whole-file reader (see file.h). Grows one buffer by doubling;
 * in secret mode the old block is wiped before it is freed, so the only copy
 * of a token is the one handed to the caller.
 */
#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/rc.h"

static void drop(char *p, size_t cap, unsigned flags)
{
    if (p && (flags & LBP_FILE_SECRET))
        OPENSSL_cleanse(p, cap);
    free(p);
}

int lbp_file_read(const char *path, size_t max, unsigned flags, char **out, size_t *len)
{
    char *buf = NULL;
    size_t n = 0, cap = 0;
    int rc = LBP_OK, saved = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *out = NULL;
    if (len)
        *len = 0;
    if (fd < 0)
        return LBP_IO;
    for (;;) {
        ssize_t r;
        /* Room for one byte past max, so a file of exactly max bytes is told
           apart from a larger one, plus the NUL. */
        if (n + 1 >= cap) {
            size_t nc = cap ? cap * 2 : 4096;
            char *nb;
            if (nc > max + 2)
                nc = max + 2;
            if (nc <= n + 1) {
                rc = LBP_TOOBIG;
                saved = EFBIG;
                goto out;
            }
            nb = malloc(nc);
            if (!nb) {
                rc = LBP_NOMEM;
                saved = ENOMEM;
                goto out;
            }
            if (n)
                memcpy(nb, buf, n);
            drop(buf, cap, flags);
            buf = nb;
            cap = nc;
        }
        r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            rc = LBP_IO;
            saved = errno;
            goto out;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > max) {
            rc = LBP_TOOBIG;
            saved = EFBIG;
            goto out;
        }
    }
    if (!buf && !(buf = malloc(1))) {
        rc = LBP_NOMEM;
        saved = ENOMEM;
        goto out;
    }
    buf[n] = 0;
    *out = buf;
    if (len)
        *len = n;
    buf = NULL;
out:
    drop(buf, cap, flags);
    close(fd);
    if (rc)
        errno = saved;
    return rc;
}

int lbp_file_read_err(const char *path, size_t max, unsigned flags, char **out, size_t *len,
                      char *err, size_t errlen)
{
    int rc = lbp_file_read(path, max, flags, out, len);
    if (rc == LBP_TOOBIG)
        snprintf(err, errlen, "%s: larger than %zu bytes", path, max);
    else if (rc)
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
    return rc;
}
