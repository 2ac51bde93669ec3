/* test_kube_auth.c — request credentials (kube/auth.c): token files and exec plugins. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/rc.h"
#include "common/util.h"
#include "kube/kube_int.h"
#include "tmpdir.h"

static char count_env[400]; /* COUNT_FILE=... */
static char info_env[400];  /* INFO_FILE=... */

static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("lbp-auth"))
        return -1;
    snprintf(count_env, sizeof(count_env), "COUNT_FILE=%s/count", tmpdir);
    snprintf(info_env, sizeof(info_env), "INFO_FILE=%s/info", tmpdir);
    return 0;
}

static void path_in(char *out, size_t n, const char *name)
{
    snprintf(out, n, "%s/%s", tmpdir, name);
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    tmpdir_write(name, text, mode);
}

static char *read_file(const char *name)
{
    char path[512];
    static char buf[8192];
    FILE *f;
    size_t n;
    path_in(path, sizeof(path), name);
    f = fopen(path, "r");
    if (!f)
        return NULL;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static int invocations(void)
{
    const char *s = read_file("count");
    int n = 0;
    for (; s && *s; s++)
        n += *s == '\n';
    return n;
}

/*
 * A plugin that counts its runs, records KUBERNETES_EXEC_INFO, prints body
 * on stdout and exits with status.
 */
static void write_plugin(const char *body, int status)
{
    char text[4096];
    snprintf(text, sizeof(text),
             "#!/bin/sh\n"
             "echo run >> \"$COUNT_FILE\"\n"
             "printf '%%s' \"$KUBERNETES_EXEC_INFO\" > \"$INFO_FILE\"\n"
             "cat <<'EOF'\n%s\nEOF\n"
             "exit %d\n",
             body, status);
    write_file("plugin.sh", text, 0755);
}

static char plugin_path[512];
static char *plugin_args[] = {NULL};
static char *plugin_env[3];

static struct lbp_kube_exec make_exec(const char *api)
{
    path_in(plugin_path, sizeof(plugin_path), "plugin.sh");
    plugin_env[0] = count_env;
    plugin_env[1] = info_env;
    plugin_env[2] = NULL;
    return (struct lbp_kube_exec){.command = plugin_path,
                                  .args = plugin_args,
                                  .env = plugin_env,
                                  .api_version = (char *)api,
                                  .install_hint = "install it from example.com"};
}

static char *credential(const char *api, const char *token, int64_t expires)
{
    static char out[1024];
    char when[32] = "";
    if (expires)
        lbp_rfc3339(expires, when);
    snprintf(
        out, sizeof(out),
        "{\"apiVersion\":\"%s\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"%s\"%s%s%s}}",
        api, token, expires ? ",\"expirationTimestamp\":\"" : "", when, expires ? "\"" : "");
    return out;
}

static const char V1[] = "client.authentication.k8s.io/v1";
static const char V1B1[] = "client.authentication.k8s.io/v1beta1";

static void static_token(void **state)
{
    struct lbp_kube_config cfg = {.token = "static-token"};
    struct lbp_kube_auth *a;
    struct lbp_kube_cred c;
    char err[256] = "";
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.token, "static-token");
    assert_null(c.client_cert_pem);
    lbp_kube_cred_free(&c);
    lbp_kube_auth_free(a);

    /* No credentials at all is fine (client certificates or anonymous). */
    struct lbp_kube_config none = {0};
    assert_int_equal(lbp_kube_auth_new(&none, &a), LBP_OK);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_null(c.token);
    lbp_kube_auth_free(a);
    lbp_kube_auth_free(NULL);
    lbp_kube_cred_free(NULL);
}

static void bump_mtime(const char *name, time_t sec)
{
    char path[512];
    struct timespec ts[2] = {{sec, 0}, {sec, 0}};
    path_in(path, sizeof(path), name);
    assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void token_file_rotation(void **state)
{
    char path[512], err[256] = "";
    struct lbp_kube_config cfg = {0};
    struct lbp_kube_auth *a;
    struct lbp_kube_cred c;

    write_file("token", "first-token\n", 0600);
    bump_mtime("token", 1000000000);
    path_in(path, sizeof(path), "token");
    cfg.token_file = path;
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    lbp_kube_auth_set_token_recheck_ms(a, 60000);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.token, "first-token"); /* trailing newline dropped */
    lbp_kube_cred_free(&c);

    /* Same size, new content and mtime: not looked at within the recheck interval... */
    write_file("token", "secnd-token\n", 0600);
    bump_mtime("token", 1000000100);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.token, "first-token");
    lbp_kube_cred_free(&c);

    /* ...and seen once the interval has passed. */
    lbp_kube_auth_set_token_recheck_ms(a, 0);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.token, "secnd-token");
    lbp_kube_cred_free(&c);

    /* The kubelet's projected volume swaps a symlink: the path is followed, not an fd. */
    char target[512];
    write_file("token-v3", "third-token", 0600);
    path_in(target, sizeof(target), "token-v3");
    char link_tmp[512];
    path_in(link_tmp, sizeof(link_tmp), "token.tmp");
    assert_int_equal(symlink(target, link_tmp), 0);
    assert_int_equal(rename(link_tmp, path), 0);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.token, "third-token");
    lbp_kube_cred_free(&c);

    /* A vanished file keeps the last good token. */
    assert_int_equal(unlink(path), 0);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.token, "third-token");
    lbp_kube_cred_free(&c);
    lbp_kube_auth_free(a);

    /* With no token ever read, it is an error naming the file. */
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    assert_int_not_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_non_null(strstr(err, path));
    assert_null(c.token);
    lbp_kube_auth_free(a);
}

static void exec_cached_until_invalidated(void **state)
{
    struct lbp_kube_exec e = make_exec(V1);
    struct lbp_kube_config cfg = {.server = "https://127.0.0.1:6443", .exec = &e};
    struct lbp_kube_auth *a;
    struct lbp_kube_cred c;
    char err[256] = "";
    int64_t exp = lbp_wall_s() + 3600;

    write_plugin(credential(V1, "exec-token-1", exp), 0);
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.token, "exec-token-1");
    assert_int_equal(c.expires_s, exp);
    lbp_kube_cred_free(&c);
    assert_int_equal(invocations(), 1);

    /* The request the plugin saw: non-interactive, our apiVersion, no cluster unless asked. */
    const char *info = read_file("info");
    assert_non_null(info);
    assert_non_null(strstr(info, "\"kind\":\"ExecCredential\""));
    assert_non_null(strstr(info, "\"apiVersion\":\"client.authentication.k8s.io/v1\""));
    assert_non_null(strstr(info, "\"interactive\":false"));
    assert_null(strstr(info, "cluster"));

    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.token, "exec-token-1");
    lbp_kube_cred_free(&c);
    assert_int_equal(invocations(), 1); /* cached */

    write_plugin(credential(V1, "exec-token-2", exp), 0);
    lbp_kube_auth_invalidate(a);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.token, "exec-token-2");
    lbp_kube_cred_free(&c);
    assert_int_equal(invocations(), 2);
    lbp_kube_auth_free(a);
}

static void exec_expiry_honoured(void **state)
{
    struct lbp_kube_exec e = make_exec(V1B1);
    struct lbp_kube_config cfg = {.exec = &e};
    struct lbp_kube_auth *a;
    struct lbp_kube_cred c;
    char err[256] = "";

    /* Expires in 30 s: inside the 60 s margin, so every get runs the plugin again. */
    write_plugin(credential(V1B1, "short-lived", lbp_wall_s() + 30), 0);
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    for (int i = 1; i <= 3; i++) {
        assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
        assert_string_equal(c.token, "short-lived");
        lbp_kube_cred_free(&c);
        assert_int_equal(invocations(), i);
    }
    /* Expires in 120 s: cached. */
    write_plugin(credential(V1B1, "longer-lived", lbp_wall_s() + 120), 0);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
        assert_string_equal(c.token, "longer-lived");
        lbp_kube_cred_free(&c);
    }
    assert_int_equal(invocations(), 4);
    lbp_kube_auth_free(a);
}

static void exec_cluster_info_and_certs(void **state)
{
    struct lbp_kube_exec e = make_exec(V1);
    struct lbp_kube_config cfg = {.server = "https://127.0.0.1:6443",
                                  .ca_data = "PEM",
                                  .ca_data_len = 3,
                                  .tls_server_name = "api.local",
                                  .exec = &e};
    struct lbp_kube_auth *a;
    struct lbp_kube_cred c;
    char err[256] = "";

    e.provide_cluster_info = true;
    write_plugin(
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"clientCertificateData\":\"CERT PEM\",\"clientKeyData\":\"KEY PEM\"}}",
        0);
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_null(c.token);
    assert_string_equal(c.client_cert_pem, "CERT PEM");
    assert_string_equal(c.client_key_pem, "KEY PEM");
    assert_int_equal(c.expires_s, 0);
    lbp_kube_cred_free(&c);
    const char *info = read_file("info");
    assert_non_null(strstr(info, "\"server\":\"https://127.0.0.1:6443\""));
    assert_non_null(strstr(info, "\"tls-server-name\":\"api.local\""));
    assert_non_null(strstr(info, "\"certificate-authority-data\":\"UEVN\"")); /* base64("PEM") */
    lbp_kube_auth_free(a);
}

static void exec_failure_names_command(void **state)
{
    struct lbp_kube_exec e = make_exec(V1);
    struct lbp_kube_config cfg = {.exec = &e};
    struct lbp_kube_auth *a;
    struct lbp_kube_cred c;
    char err[512] = "";

    write_plugin(credential(V1, "do-not-leak", 0), 1);
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_AUTH);
    assert_null(c.token);
    assert_non_null(strstr(err, plugin_path));
    assert_non_null(strstr(err, "exit status 1"));
    assert_non_null(strstr(err, "install it from example.com"));
    assert_null(strstr(err, "do-not-leak"));
    lbp_kube_auth_free(a);

    /* A plugin that insists on a terminal is refused without being run. */
    int runs = invocations();
    e.interactive_mode = "Always";
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_AUTH);
    assert_non_null(strstr(err, "interactiveMode"));
    assert_int_equal(invocations(), runs);
    lbp_kube_auth_free(a);
    e.interactive_mode = NULL;

    /* A command that does not exist. */
    char missing[512];
    path_in(missing, sizeof(missing), "no-such-plugin");
    e.command = missing;
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    assert_int_not_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_non_null(strstr(err, missing));
    lbp_kube_auth_free(a);
}

static void exec_garbage_output(void **state)
{
    struct lbp_kube_exec e = make_exec(V1);
    struct lbp_kube_config cfg = {.exec = &e};
    struct lbp_kube_auth *a;
    struct lbp_kube_cred c;
    char err[512] = "";
    static const char *bad[] = {
        "this is not json secret-ish",
        "[1, 2]",
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"Pod\","
        "\"status\":{\"token\":\"secret-ish\"}}",
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"token\":42}}",
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"token\":\"secret-ish\",\"expirationTimestamp\":\"tomorrow\"}}",
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"clientCertificateData\":\"secret-ish\"}}",
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"}",
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"token\":\"secret-ish\"}} trailing",
    };
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    for (size_t i = 0; i < LBP_ARRAY_LEN(bad); i++) {
        write_plugin(bad[i], 0);
        err[0] = 0;
        assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_PARSE);
        assert_null(c.token);
        assert_non_null(strstr(err, plugin_path));
        if (strstr(err, "secret-ish"))
            fail_msg("case %zu leaks output: %s", i, err);
    }
    lbp_kube_auth_free(a);
}

static void exec_wrong_api_version(void **state)
{
    struct lbp_kube_exec e = make_exec(V1);
    struct lbp_kube_config cfg = {.exec = &e};
    struct lbp_kube_auth *a;
    struct lbp_kube_cred c;
    char err[512] = "";

    write_plugin(credential(V1B1, "secret-ish", 0), 0);
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_PARSE);
    assert_non_null(strstr(err, "apiVersion"));
    assert_null(strstr(err, "secret-ish"));
    lbp_kube_auth_free(a);
}

static void exec_timeout_kills(void **state)
{
    struct lbp_kube_exec e = make_exec(V1);
    struct lbp_kube_config cfg = {.exec = &e};
    struct lbp_kube_auth *a;
    struct lbp_kube_cred c;
    char err[512] = "";

    /* sleep runs as a child of sh: the whole process group must go. */
    write_file("plugin.sh", "#!/bin/sh\necho run >> \"$COUNT_FILE\"\nsleep 30\necho '{}'\n", 0755);
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    lbp_kube_auth_set_exec_timeout_ms(a, 300);
    uint64_t t0 = lbp_now_ms();
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_RETRY);
    uint64_t took = lbp_now_ms() - t0;
    assert_true(took >= 300);
    assert_true(took < 2000);
    assert_non_null(strstr(err, "timed out"));
    assert_non_null(strstr(err, plugin_path));
    assert_int_equal(invocations(), 1);
    lbp_kube_auth_free(a);
}

struct race {
    struct lbp_kube_auth *a;
    int rc;
    char token[64];
};

static void *race_get(void *p)
{
    struct race *r = p;
    struct lbp_kube_cred c;
    char err[256];
    r->rc = lbp_kube_auth_get(r->a, &c, err, sizeof(err));
    if (r->rc == LBP_OK)
        lbp_strlcpy(r->token, c.token, sizeof(r->token));
    lbp_kube_cred_free(&c);
    return NULL;
}

static void exec_concurrent_callers_share_one_run(void **state)
{
    struct lbp_kube_exec e = make_exec(V1);
    struct lbp_kube_config cfg = {.exec = &e};
    struct race r[4];
    pthread_t th[4];
    struct lbp_kube_auth *a;

    write_plugin(credential(V1, "shared", 0), 0);
    assert_int_equal(lbp_kube_auth_new(&cfg, &a), LBP_OK);
    for (int i = 0; i < 4; i++) {
        r[i] = (struct race){.a = a};
        assert_int_equal(pthread_create(&th[i], NULL, race_get, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rc, LBP_OK);
        assert_string_equal(r[i].token, "shared");
    }
    assert_int_equal(invocations(), 1);
    lbp_kube_auth_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(static_token, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(token_file_rotation, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(exec_cached_until_invalidated, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(exec_expiry_honoured, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(exec_cluster_info_and_certs, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(exec_failure_names_command, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(exec_garbage_output, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(exec_wrong_api_version, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(exec_timeout_kills, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(exec_concurrent_callers_share_one_run, setup,
                                        tmpdir_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
