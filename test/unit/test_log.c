/* test_log.c — log line shapes: klog text, JSON with escaping, one line per call. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <json-c/json.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

/* Runs fn with the log going to a temp file; returns what was written. */
static char *capture(void (*fn)(void))
{
    char path[] = "/tmp/lbp-log-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    lbp_log_set_fd(fd);
    fn();
    lbp_log_set_fd(2);
    lbp_log_set_format(LBP_LOG_TEXT);
    off_t len = lseek(fd, 0, SEEK_END);
    char *buf = calloc(1, (size_t)len + 1);
    assert_int_equal(pread(fd, buf, (size_t)len, 0), len);
    close(fd);
    unlink(path);
    return buf;
}

static void emit_text(void)
{
    lbp_info("synced %s/%s in %d ms", "default", "influxdb", 12);
    lbp_warn("two\nlines");
}

static void text_is_klog_shaped(void **state)
{
    char *out = capture(emit_text);
    regex_t re;
    assert_int_equal(regcomp(&re,
                             "^I[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{6} +[0-9]+ "
                             "test_log\\.c:[0-9]+\\] synced default/influxdb in 12 ms\n"
                             "W[0-9]{4} .* test_log\\.c:[0-9]+\\] two lines\n$",
                             REG_EXTENDED),
                     0);
    assert_int_equal(regexec(&re, out, 0, NULL, 0), 0);
    regfree(&re);
    free(out);
}

static void emit_json(void)
{
    lbp_log_set_format(LBP_LOG_JSON);
    lbp_error("quote \" backslash \\ newline \n tab \t ctl \x01 end");
}

static void json_lines_parse_back(void **state)
{
    char *out = capture(emit_json);
    size_t newlines = 0;
    for (const char *p = out; *p; p++)
        newlines += *p == '\n';
    assert_int_equal(newlines, 1); /* the embedded newline is escaped, not emitted */
    json_object *o = json_tokener_parse(out);
    assert_non_null(o);
    json_object *msg, *level, *caller;
    assert_true(json_object_object_get_ex(o, "msg", &msg));
    assert_string_equal(json_object_get_string(msg),
                        "quote \" backslash \\ newline \n tab \t ctl \x01 end");
    assert_true(json_object_object_get_ex(o, "level", &level));
    assert_string_equal(json_object_get_string(level), "error");
    assert_true(json_object_object_get_ex(o, "caller", &caller));
    assert_non_null(strstr(json_object_get_string(caller), "test_log.c:"));
    json_object_put(o);
    free(out);
}

static void emit_verbose(void)
{
    lbp_log_verbosity = 1;
    lbp_v(1, "shown");
    lbp_v(2, "hidden");
    lbp_log_verbosity = 0;
    lbp_v(1, "hidden too");
}

static void verbosity_gates_lines(void **state)
{
    char *out = capture(emit_verbose);
    assert_non_null(strstr(out, "shown"));
    assert_null(strstr(out, "hidden"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(text_is_klog_shaped),
        cmocka_unit_test(json_lines_parse_back),
        cmocka_unit_test(verbosity_gates_lines),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
