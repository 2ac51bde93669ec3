/*
 * file.h — the one whole-file reader.
 *
 * Every small file lbprov reads (kubeconfig, service-account files, pools,
 * cloud-configs, token files, credential files) comes in through here: read
 * to the end with a hard cap, NUL-terminated, EINTR retried. With
 * LBP_FILE_SECRET no intermediate copy is left behind in freed memory
 * (token and key files); the caller still wipes the result it gets.
 */
#ifndef LBP_COMMON_FILE_H
#define LBP_COMMON_FILE_H

#include <stddef.h>

#define LBP_FILE_SECRET (1u << 0) /* wipe every buffer given back to malloc */

/*
 * Reads path into *out (malloc'd, NUL-terminated; *len without the NUL; len
 * may be NULL). LBP_IO with errno set (ENOENT, EACCES, EISDIR, ...),
 * LBP_TOOBIG (errno EFBIG) when the file holds more than max bytes,
 * LBP_NOMEM. *out is NULL on every error.
 */
int lbp_file_read(const char *path, size_t max, unsigned flags, char **out, size_t *len);

/*
 * The same, with err filled for an operator: "PATH: No such file or
 * directory", "PATH: larger than MAX bytes".
 */
int lbp_file_read_err(const char *path, size_t max, unsigned flags, char **out, size_t *len,
                      char *err, size_t errlen);

#endif
