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

/* One get that must succeed with token want; the credential is dropped again. */
static void expect_token(struct lbp_kube_auth *a, const char *want)
{
    struct lbp_kube_cred c;
    char err[256] = "";
    assert_int_equal(lbp_kube_auth_get(a, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.token, want);
    lbp_kube_cred_free(&c);
}

/* An exec-plugin client: the plugin (api_version api) is run by a's gets. */
struct plug {
    struct lbp_kube_exec e;
    struct lbp_kube_config cfg;
    struct lbp_kube_auth *a;
    struct lbp_kube_cred c;
    char err[512];
};

/* base (or none) holds the rest of the cluster's configuration. */
static void plug_init(struct plug *p, const char *api, const struct lbp_kube_config *base)
{
    memset(p, 0, sizeof(*p));
    p->e = make_exec(api);
    if (base)
        p->cfg = *base;
    p->cfg.exec = &p->e;
}

static void plug_new(struct plug *p, const char *api, const struct lbp_kube_config *base)
{
    plug_init(p, api, base);
    assert_int_equal(lbp_kube_auth_new(&p->cfg, &p->a), LBP_OK);
}

/* One get that must fail with rc; p->err holds the message. */
static void plug_fails(struct plug *p, int rc)
{
    p->err[0] = 0;
    assert_int_equal(lbp_kube_auth_get(p->a, &p->c, p->err, sizeof(p->err)), rc);
}

/* The same, handing out no token, naming the plugin and showing nothing of secret. */
static void plug_refused(struct plug *p, int rc, const char *secret)
{
    plug_fails(p, rc);
    assert_null(p->c.token);
    assert_non_null(strstr(p->err, plugin_path));
    if (strstr(p->err, secret))
        fail_msg("the error shows the plugin's output: %s", p->err);
}

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
    expect_token(a, "first-token"); /* trailing newline dropped */

    /* Same size, new content and mtime: not looked at within the recheck interval... */
    write_file("token", "secnd-token\n", 0600);
    bump_mtime("token", 1000000100);
    expect_token(a, "first-token");

    /* ...and seen once the interval has passed. */
    lbp_kube_auth_set_token_recheck_ms(a, 0);
    expect_token(a, "secnd-token");

    /* The kubelet's projected volume swaps a symlink: the path is followed, not an fd. */
    char target[512];
    write_file("token-v3", "third-token", 0600);
    path_in(target, sizeof(target), "token-v3");
    char link_tmp[512];
    path_in(link_tmp, sizeof(link_tmp), "token.tmp");
    assert_int_equal(symlink(target, link_tmp), 0);
    assert_int_equal(rename(link_tmp, path), 0);
    expect_token(a, "third-token");

    /* A vanished file keeps the last good token. */
    assert_int_equal(unlink(path), 0);
    expect_token(a, "third-token");
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
    const struct lbp_kube_config base = {.server = "https://127.0.0.1:6443"};
    struct plug p;
    int64_t exp = lbp_wall_s() + 3600;

    write_plugin(credential(V1, "exec-token-1", exp), 0);
    plug_new(&p, V1, &base);
    assert_int_equal(lbp_kube_auth_get(p.a, &p.c, p.err, sizeof(p.err)), LBP_OK);
    assert_string_equal(p.c.token, "exec-token-1");
    assert_int_equal(p.c.expires_s, exp);
    lbp_kube_cred_free(&p.c);
    assert_int_equal(invocations(), 1);

    /* The request the plugin saw: non-interactive, our apiVersion, no cluster unless asked. */
    const char *info = read_file("info");
    assert_non_null(info);
    assert_non_null(strstr(info, "\"kind\":\"ExecCredential\""));
    assert_non_null(strstr(info, "\"apiVersion\":\"client.authentication.k8s.io/v1\""));
    assert_non_null(strstr(info, "\"interactive\":false"));
    assert_null(strstr(info, "cluster"));

    expect_token(p.a, "exec-token-1");
    assert_int_equal(invocations(), 1); /* cached */

    write_plugin(credential(V1, "exec-token-2", exp), 0);
    lbp_kube_auth_invalidate(p.a);
    expect_token(p.a, "exec-token-2");
    assert_int_equal(invocations(), 2);
    lbp_kube_auth_free(p.a);
}

static void exec_expiry_honoured(void **state)
{
    struct plug p;

    /* Expires in 30 s: inside the 60 s margin, so every get runs the plugin again. */
    write_plugin(credential(V1B1, "short-lived", lbp_wall_s() + 30), 0);
    plug_new(&p, V1B1, NULL);
    for (int i = 1; i <= 3; i++) {
        expect_token(p.a, "short-lived");
        assert_int_equal(invocations(), i);
    }
    /* Expires in 120 s: cached. */
    write_plugin(credential(V1B1, "longer-lived", lbp_wall_s() + 120), 0);
    for (int i = 0; i < 3; i++)
        expect_token(p.a, "longer-lived");
    assert_int_equal(invocations(), 4);
    lbp_kube_auth_free(p.a);
}

static void exec_cluster_info_and_certs(void **state)
{
    const struct lbp_kube_config base = {.server = "https://127.0.0.1:6443",
                                         .ca_data = "PEM",
                                         .ca_data_len = 3,
                                         .tls_server_name = "api.local"};
    struct plug p;

    write_plugin(
        "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\","
        "\"status\":{\"clientCertificateData\":\"CERT PEM\",\"clientKeyData\":\"KEY PEM\"}}",
        0);
    plug_init(&p, V1, &base);
    p.e.provide_cluster_info = true;
    assert_int_equal(lbp_kube_auth_new(&p.cfg, &p.a), LBP_OK);
    assert_int_equal(lbp_kube_auth_get(p.a, &p.c, p.err, sizeof(p.err)), LBP_OK);
    assert_null(p.c.token);
    assert_string_equal(p.c.client_cert_pem, "CERT PEM");
    assert_string_equal(p.c.client_key_pem, "KEY PEM");
    assert_int_equal(p.c.expires_s, 0);
    lbp_kube_cred_free(&p.c);
    const char *info = read_file("info");
    assert_non_null(strstr(info, "\"server\":\"https://127.0.0.1:6443\""));
    assert_non_null(strstr(info, "\"tls-server-name\":\"api.local\""));
    assert_non_null(strstr(info, "\"certificate-authority-data\":\"UEVN\"")); /* base64("PEM") */
    lbp_kube_auth_free(p.a);
}

static void exec_failure_names_command(void **state)
{
    struct plug p;

    write_plugin(credential(V1, "do-not-leak", 0), 1);
    plug_new(&p, V1, NULL);
    plug_refused(&p, LBP_AUTH, "do-not-leak");
    assert_non_null(strstr(p.err, "exit status 1"));
    assert_non_null(strstr(p.err, "install it from example.com"));
    lbp_kube_auth_free(p.a);

    /* A plugin that insists on a terminal is refused without being run. */
    int runs = invocations();
    p.e.interactive_mode = "Always";
    assert_int_equal(lbp_kube_auth_new(&p.cfg, &p.a), LBP_OK);
    plug_fails(&p, LBP_AUTH);
    assert_non_null(strstr(p.err, "interactiveMode"));
    assert_int_equal(invocations(), runs);
    lbp_kube_auth_free(p.a);
    p.e.interactive_mode = NULL;

    /* A command that does not exist. */
    char missing[512];
    path_in(missing, sizeof(missing), "no-such-plugin");
    p.e.command = missing;
    assert_int_equal(lbp_kube_auth_new(&p.cfg, &p.a), LBP_OK);
    assert_int_not_equal(lbp_kube_auth_get(p.a, &p.c, p.err, sizeof(p.err)), LBP_OK);
    assert_non_null(strstr(p.err, missing));
    lbp_kube_auth_free(p.a);
}

static void exec_garbage_output(void **state)
{
    struct plug p;
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
    plug_new(&p, V1, NULL);
    for (size_t i = 0; i < LBP_ARRAY_LEN(bad); i++) {
        write_plugin(bad[i], 0);
        print_message("case %zu\n", i);
        plug_refused(&p, LBP_PARSE, "secret-ish");
    }
    lbp_kube_auth_free(p.a);
}

static void exec_wrong_api_version(void **state)
{
    struct plug p;

    write_plugin(credential(V1B1, "secret-ish", 0), 0);
    plug_new(&p, V1, NULL);
    plug_fails(&p, LBP_PARSE);
    assert_non_null(strstr(p.err, "apiVersion"));
    assert_null(strstr(p.err, "secret-ish"));
    lbp_kube_auth_free(p.a);
}

static void exec_timeout_kills(void **state)
{
    struct plug p;

    /* sleep runs as a child of sh: the whole process group must go. */
    write_file("plugin.sh", "#!/bin/sh\necho run >> \"$COUNT_FILE\"\nsleep 30\necho '{}'\n", 0755);
    plug_new(&p, V1, NULL);
    lbp_kube_auth_set_exec_timeout_ms(p.a, 300);
    uint64_t t0 = lbp_now_ms();
    plug_fails(&p, LBP_RETRY);
    uint64_t took = lbp_now_ms() - t0;
    assert_true(took >= 300);
    assert_true(took < 2000);
    assert_non_null(strstr(p.err, "timed out"));
    assert_non_null(strstr(p.err, plugin_path));
    assert_int_equal(invocations(), 1);
    lbp_kube_auth_free(p.a);
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
    struct plug p;
    struct race r[4];
    pthread_t th[4];

    write_plugin(credential(V1, "shared", 0), 0);
    plug_new(&p, V1, NULL);
    for (int i = 0; i < 4; i++) {
        r[i] = (struct race){.a = p.a};
        assert_int_equal(pthread_create(&th[i], NULL, race_get, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(r[i].rc, LBP_OK);
        assert_string_equal(r[i].token, "shared");
    }
    assert_int_equal(invocations(), 1);
    lbp_kube_auth_free(p.a);
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
