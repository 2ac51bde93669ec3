/*
 * test_common_helpers.c — the whole-file reader, the growable vector and the
 * SHA-256 helper in common/.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "common/rc.h"
#include "common/sha256.h"
#include "common/vec.h"

static char dir[] = "/tmp/lbp-file-XXXXXX";

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* Exactly max bytes pass; one more is refused; sizes around the growth steps survive intact. */
static void file_read_caps_and_copies(void **state)
{
    char path[128], *out = NULL, err[256];
    size_t len = 0;
    (void)state;
    snprintf(path, sizeof(path), "%s/f", dir);

    for (size_t sz = 0; sz < 20000; sz = sz ? sz * 2 + 1 : 1) {
        char *data = malloc(sz + 1);
        for (size_t i = 0; i < sz; i++)
            data[i] = (char)('a' + i % 26);
        write_file(path, data, sz);
        assert_int_equal(lbp_file_read(path, sz, LBP_FILE_SECRET, &out, &len), LBP_OK);
        assert_int_equal(len, sz);
        assert_memory_equal(out, data, sz);
        assert_int_equal(out[sz], 0);
        free(out);
        if (sz) {
            assert_int_equal(lbp_file_read(path, sz - 1, 0, &out, &len), LBP_TOOBIG);
            assert_null(out);
            assert_int_equal(errno, EFBIG);
            assert_int_equal(lbp_file_read_err(path, sz - 1, 0, &out, &len, err, sizeof(err)),
                             LBP_TOOBIG);
            assert_non_null(strstr(err, "larger than"));
        }
        free(data);
    }
    snprintf(path, sizeof(path), "%s/missing", dir);
    assert_int_equal(lbp_file_read(path, 10, 0, &out, NULL), LBP_IO);
    assert_int_equal(errno, ENOENT);
    assert_int_equal(lbp_file_read_err(path, 10, 0, &out, NULL, err, sizeof(err)), LBP_IO);
    assert_non_null(strstr(err, "No such file"));
    assert_non_null(strstr(err, "missing"));
    /* A directory is an error, not an empty file. */
    assert_int_equal(lbp_file_read(dir, 10, 0, &out, NULL), LBP_IO);
    assert_null(out);
}

struct pt {
    int x;
    char name[20];
};

static void vec_grows_zeroed_and_caps(void **state)
{
    struct lbp_vec v;
    (void)state;
    lbp_vec_init(&v, sizeof(struct pt));
    for (int i = 0; i < 1000; i++) {
        struct pt *p = lbp_vec_push(&v);
        assert_non_null(p);
        assert_int_equal(p->x, 0);
        assert_int_equal(p->name[0], 0);
        p->x = i;
        snprintf(p->name, sizeof(p->name), "n%d", i);
    }
    assert_int_equal(v.n, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(((struct pt *)lbp_vec_at(&v, (size_t)i))->x, i);
    lbp_vec_free(&v);
    assert_null(v.v);
    assert_int_equal(v.n, 0);
    lbp_vec_free(&v); /* twice is harmless */

    lbp_vec_init(&v, 1);
    for (size_t i = 0; i < LBP_VEC_MAX_ITEMS; i++)
        assert_non_null(lbp_vec_push(&v));
    assert_null(lbp_vec_push(&v));
    lbp_vec_free(&v);
}

/* FIPS 180-2 examples. */
static void sha256_known_answers(void **state)
{
    char hex[65];
    unsigned char md[32];
    (void)state;
    assert_int_equal(lbp_sha256_hex("abc", 3, hex), LBP_OK);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal(lbp_sha256_hex(NULL, 0, hex), LBP_OK);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    assert_int_equal(lbp_sha256("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", 56, md),
                     LBP_OK);
    lbp_hex(md, 4, hex);
    assert_string_equal(hex, "248d6a61");
}

static int setup(void **state)
{
    (void)state;
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    char cmd[160];
    (void)state;
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(file_read_caps_and_copies),
        cmocka_unit_test(vec_grows_zeroed_and_caps),
        cmocka_unit_test(sha256_known_answers),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
