/*
 * tmpdir.h — the scratch folder a unit test writes its files into: made
 * fresh for each test (mkdtemp under /tmp), removed with all it holds
 * afterwards, and a writer that fails the test rather than leave a file
 * half-written (also for files elsewhere: write_text). Header-only (static
 * inline) so a test includes it without a change to the build.
 */
#ifndef LBP_TEST_TMPDIR_H
#define LBP_TEST_TMPDIR_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

static char tmpdir[256] __attribute__((unused));

/* Makes tmpdir as /tmp/<prefix>-XXXXXX; 0, or -1 (a cmocka set-up's failure). */
static inline int tmpdir_make(const char *prefix)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/%s-XXXXXX", prefix);
    return mkdtemp(tmpdir) ? 0 : -1;
}

static inline int tmpdir_rm_entry(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

/* Removes tmpdir and everything below it (links are removed, never followed). */
static inline int tmpdir_remove(void **state)
{
    (void)state;
    nftw(tmpdir, tmpdir_rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return 0;
}

/* Writes path whole; the test fails when it cannot. */
static inline void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
}

/* Writes tmpdir/name whole with the given mode; returns its path (static, valid until the next
 * call). */
static inline const char *tmpdir_write(const char *name, const char *text, mode_t mode)
{
    static char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    write_text(path, text);
    assert_int_equal(chmod(path, mode), 0);
    return path;
}

#endif
