/*
 * test_aws_xml_load.c — libxml2 is loaded when the AWS cloud first needs
 * it, not linked into the program (clouds/aws/xml.c): before the first
 * parse it is not in the process, a library that cannot be loaded is named
 * in the error, and after the first parse it is there and answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dlfcn.h>
#include <string.h>

#include "clouds/aws/aws_int.h"
#include "common/rc.h"

#if LIBXML_VERSION >= 21400
#define SONAME "libxml2.so.16"
#else
#define SONAME "libxml2.so.2"
#endif

static int loaded(void)
{
    void *h = dlopen(SONAME, RTLD_NOW | RTLD_NOLOAD);
    if (h)
        dlclose(h);
    return h != NULL;
}

static void loaded_on_first_use(void **state)
{
    (void)state;
    static const char ok[] = "<DescribeLoadBalancersResponse><DescribeLoadBalancersResult>"
                             "<NextMarker>m&amp;1</NextMarker></DescribeLoadBalancersResult>"
                             "</DescribeLoadBalancersResponse>";
    char err[256] = "", v[32];
    /* the program is linked without it: nothing has loaded it yet */
    assert_false(loaded());

    assert_int_equal(awsx_xml_open("libxml2-not-here.so.9", err, sizeof(err)), LBP_INVALID);
    assert_non_null(strstr(err, "libxml2-not-here.so.9"));
    assert_false(loaded());

    xmlDoc *d = awsx_parse(ok, sizeof(ok) - 1);
    assert_non_null(d);
    assert_true(loaded());
    assert_int_equal(awsx_text(awsx_result(d), "NextMarker", v, sizeof(v)), LBP_OK);
    assert_string_equal(v, "m&1");
    assert_int_equal(awsx_text(awsx_result(d), "NextMarker", v, 3), LBP_TOOBIG);
    assert_string_equal(v, "");
    awsx_free(d);
    awsx_free(NULL);
    assert_null(awsx_root(NULL));
    /* loaded once: a later open with any name is a no-op */
    assert_int_equal(awsx_xml_open("libxml2-not-here.so.9", err, sizeof(err)), LBP_OK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(loaded_on_first_use),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
