/* test_kubeconfig.c — kubeconfig loading, merging and in-cluster config (kube/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/rc.h"
#include "kube/kube.h"
#include "tmpdir.h"

static int setup(void **state)
{
    (void)state;
    if (tmpdir_make("lbp-kubeconfig"))
        return -1;
    unsetenv("KUBECONFIG");
    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
    setenv("HOME", tmpdir, 1);
    return 0;
}

/* Writes tmpdir/name and returns its path in a static-per-call buffer the caller copies. */
static const char *write_file(const char *name, const char *text)
{
    return tmpdir_write(name, text, 0644);
}

static const char two_contexts[] = "apiVersion: v1\n"
                                   "kind: Config\n"
                                   "current-context: dev\n"
                                   "clusters:\n"
                                   "- name: dev-cluster\n"
                                   "  cluster:\n"
                                   "    server: https://dev.example:6443/\n"
                                   "    insecure-skip-tls-verify: true\n"
                                   "- name: prod-cluster\n"
                                   "  cluster:\n"
                                   "    server: https://prod.example:443\n"
                                   "    tls-server-name: api.prod\n"
                                   "users:\n"
                                   "- name: dev-user\n"
                                   "  user:\n"
                                   "    token: dev-token\n"
                                   "- name: prod-user\n"
                                   "  user:\n"
                                   "    client-certificate: certs/prod.crt\n"
                                   "    client-key: /etc/prod.key\n"
                                   "contexts:\n"
                                   "- name: dev\n"
                                   "  context:\n"
                                   "    cluster: dev-cluster\n"
                                   "    user: dev-user\n"
                                   "    namespace: team-a\n"
                                   "- name: prod\n"
                                   "  context:\n"
                                   "    cluster: prod-cluster\n"
                                   "    user: prod-user\n";

static struct lbp_kube_config *load_ok(const char *path, const char *context, const char *master)
{
    struct lbp_kube_config_opts o = {.kubeconfig = path, .context = context, .master = master};
    struct lbp_kube_config *cfg = NULL;
    char err[512] = "";
    int rc = lbp_kube_config_load(&o, &cfg, err, sizeof(err));
    if (rc != LBP_OK)
        fail_msg("load failed: %s", err);
    assert_non_null(cfg);
    return cfg;
}

static int load_err(const char *path, const char *context, char *err, size_t errlen)
{
    struct lbp_kube_config_opts o = {.kubeconfig = path, .context = context};
    struct lbp_kube_config *cfg = NULL;
    int rc = lbp_kube_config_load(&o, &cfg, err, errlen);
    assert_int_not_equal(rc, LBP_OK);
    assert_null(cfg);
    return rc;
}

static void current_context_selected(void **state)
{
    char path[512];
    snprintf(path, sizeof(path), "%s", write_file("config", two_contexts));
    struct lbp_kube_config *cfg = load_ok(path, NULL, NULL);
    assert_string_equal(cfg->server, "https://dev.example:6443"); /* trailing slash dropped */
    assert_true(cfg->insecure_skip_tls_verify);
    assert_string_equal(cfg->token, "dev-token");
    assert_string_equal(cfg->namespace, "team-a");
    assert_string_equal(cfg->source, path);
    assert_null(cfg->client_cert_file);
    assert_null(cfg->exec);
    lbp_kube_config_free(cfg);
}

static void context_override(void **state)
{
    char path[512], want[600];
    snprintf(path, sizeof(path), "%s", write_file("config", two_contexts));
    struct lbp_kube_config *cfg = load_ok(path, "prod", NULL);
    assert_string_equal(cfg->server, "https://prod.example:443");
    assert_false(cfg->insecure_skip_tls_verify);
    assert_string_equal(cfg->tls_server_name, "api.prod");
    assert_null(cfg->token);
    snprintf(want, sizeof(want), "%s/certs/prod.crt", tmpdir);
    assert_string_equal(cfg->client_cert_file, want);
    assert_string_equal(cfg->client_key_file, "/etc/prod.key");
    assert_string_equal(cfg->namespace, "default");
    lbp_kube_config_free(cfg);
}

static void master_override(void **state)
{
    char path[512];
    snprintf(path, sizeof(path), "%s", write_file("config", two_contexts));
    struct lbp_kube_config *cfg = load_ok(path, "prod", "https://127.0.0.1:8443");
    assert_string_equal(cfg->server, "https://127.0.0.1:8443");
    assert_string_equal(cfg->tls_server_name, "api.prod"); /* the rest still applies */
    lbp_kube_config_free(cfg);
}

static void embedded_data_decoded(void **state)
{
    static const char cert_pem[] = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    static const unsigned char ca_bytes[] = {0x00, 0xff, 0x10, 0x41};
    static const char key_bytes[] = {'k', 0, 'e', 'y', '!'};
    char path[512];
    snprintf(path, sizeof(path), "%s",
             write_file("config", "current-context: c\n"
                                  "clusters:\n"
                                  "- name: k\n"
                                  "  cluster:\n"
                                  "    server: https://k:6443\n"
                                  "    certificate-authority-data: AP8QQQ==\n"
                                  "users:\n"
                                  "- name: u\n"
                                  "  user:\n"
                                  "    client-certificate-data: "
                                  "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUIKLS0tLS1FTkQgQ0VSVElG"
                                  "SUNBVEUtLS0tLQo=\n"
                                  "    client-key-data: awBleSE=\n"
                                  "contexts:\n"
                                  "- name: c\n"
                                  "  context: {cluster: k, user: u}\n"));
    struct lbp_kube_config *cfg = load_ok(path, NULL, NULL);
    assert_int_equal(cfg->ca_data_len, sizeof(ca_bytes));
    assert_memory_equal(cfg->ca_data, ca_bytes, sizeof(ca_bytes));
    assert_int_equal(cfg->client_cert_data_len, strlen(cert_pem));
    assert_string_equal(cfg->client_cert_data, cert_pem);
    assert_int_equal(cfg->client_key_data_len, sizeof(key_bytes));
    assert_memory_equal(cfg->client_key_data, key_bytes, sizeof(key_bytes));
    lbp_kube_config_free(cfg);
}

static void relative_paths_and_token_file(void **state)
{
    char path[512], want[600];
    snprintf(want, sizeof(want), "%s/sub", tmpdir);
    assert_int_equal(mkdir(want, 0700), 0);
    snprintf(path, sizeof(path), "%s",
             write_file("sub/config", "current-context: c\n"
                                      "clusters:\n"
                                      "- name: k\n"
                                      "  cluster:\n"
                                      "    server: https://k:6443\n"
                                      "    certificate-authority: ../ca.pem\n"
                                      "users:\n"
                                      "- name: u\n"
                                      "  user:\n"
                                      "    tokenFile: tokens/sa\n"
                                      "    client-key: key.pem\n"
                                      "contexts:\n"
                                      "- name: c\n"
                                      "  context: {cluster: k, user: u, namespace: ns1}\n"));
    struct lbp_kube_config *cfg = load_ok(path, NULL, NULL);
    snprintf(want, sizeof(want), "%s/sub/../ca.pem", tmpdir);
    assert_string_equal(cfg->ca_file, want);
    snprintf(want, sizeof(want), "%s/sub/tokens/sa", tmpdir);
    assert_string_equal(cfg->token_file, want);
    snprintf(want, sizeof(want), "%s/sub/key.pem", tmpdir);
    assert_string_equal(cfg->client_key_file, want);
    assert_null(cfg->token);
    assert_string_equal(cfg->namespace, "ns1");
    lbp_kube_config_free(cfg);
}

static const char exec_config[] = "current-context: c\n"
                                  "clusters:\n"
                                  "- name: k\n"
                                  "  cluster: {server: 'https://k:6443'}\n"
                                  "users:\n"
                                  "- name: other\n"
                                  "  user: {token: x}\n"
                                  "- name: u\n"
                                  "  user:\n"
                                  "    exec:\n"
                                  "      apiVersion: client.authentication.k8s.io/v1beta1\n"
                                  "      command: %s\n"
                                  "      args: [\"token\", \"--cluster\", \"k 1\"]\n"
                                  "      env:\n"
                                  "      - name: AWS_PROFILE\n"
                                  "        value: prod\n"
                                  "      - name: EMPTY\n"
                                  "        value: \"\"\n"
                                  "      installHint: install the plugin\n"
                                  "      interactiveMode: Never\n"
                                  "      provideClusterInfo: true\n"
                                  "contexts:\n"
                                  "- name: c\n"
                                  "  context: {cluster: k, user: u}\n";

static void exec_block_parsed(void **state)
{
    char path[512], text[2048], want[600];
    snprintf(text, sizeof(text), exec_config, "bin/plugin");
    snprintf(path, sizeof(path), "%s", write_file("config", text));
    struct lbp_kube_config *cfg = load_ok(path, NULL, NULL);
    struct lbp_kube_exec *e = cfg->exec;
    assert_non_null(e);
    snprintf(want, sizeof(want), "%s/bin/plugin", tmpdir);
    assert_string_equal(e->command, want);
    assert_string_equal(e->api_version, "client.authentication.k8s.io/v1beta1");
    assert_string_equal(e->args[0], "token");
    assert_string_equal(e->args[1], "--cluster");
    assert_string_equal(e->args[2], "k 1");
    assert_null(e->args[3]);
    assert_string_equal(e->env[0], "AWS_PROFILE=prod");
    assert_string_equal(e->env[1], "EMPTY=");
    assert_null(e->env[2]);
    assert_string_equal(e->install_hint, "install the plugin");
    assert_string_equal(e->interactive_mode, "Never");
    assert_true(e->provide_cluster_info);
    lbp_kube_config_free(cfg);

    /* A bare command name is left for a PATH search. */
    snprintf(text, sizeof(text), exec_config, "aws-iam-authenticator");
    snprintf(path, sizeof(path), "%s", write_file("config", text));
    cfg = load_ok(path, NULL, NULL);
    assert_string_equal(cfg->exec->command, "aws-iam-authenticator");
    lbp_kube_config_free(cfg);
}

static void exec_bad_api_version(void **state)
{
    char path[512], text[2048], err[512];
    snprintf(text, sizeof(text), exec_config, "p");
    char *v = strstr(text, "v1beta1");
    memcpy(v, "v1alpha", 7); /* "v1alpha1" */
    snprintf(path, sizeof(path), "%s", write_file("config", text));
    assert_int_equal(load_err(path, NULL, err, sizeof(err)), LBP_PARSE);
    assert_non_null(strstr(err, "users[1].user.exec.apiVersion"));
}

static void kubeconfig_env_merged(void **state)
{
    char a[512], b[512], list[1600];
    snprintf(a, sizeof(a), "%s",
             write_file("a.yaml", "current-context: ctx-a\n"
                                  "clusters:\n"
                                  "- name: shared\n"
                                  "  cluster: {server: 'https://a.example'}\n"
                                  "users:\n"
                                  "- name: ua\n"
                                  "  user: {token: token-a}\n"
                                  "contexts:\n"
                                  "- name: ctx-a\n"
                                  "  context: {cluster: shared, user: ua}\n"));
    snprintf(b, sizeof(b), "%s",
             write_file("b.yaml", "current-context: ctx-b\n"
                                  "clusters:\n"
                                  "- name: shared\n"
                                  "  cluster: {server: 'https://b.example'}\n"
                                  "- name: only-b\n"
                                  "  cluster: {server: 'https://only-b.example'}\n"
                                  "users:\n"
                                  "- name: ua\n"
                                  "  user: {token: token-b-shadowed}\n"
                                  "- name: ub\n"
                                  "  user: {token: token-b}\n"
                                  "contexts:\n"
                                  "- name: ctx-b\n"
                                  "  context: {cluster: shared, user: ub, namespace: nb}\n"
                                  "- name: ctx-only-b\n"
                                  "  context: {cluster: only-b, user: ua}\n"));
    snprintf(list, sizeof(list), "%s/missing.yaml:%s::%s", tmpdir, a, b);
    setenv("KUBECONFIG", list, 1);

    struct lbp_kube_config_opts o = {0};
    struct lbp_kube_config *cfg = NULL;
    char err[512] = "";

    /* The first file's current-context wins. */
    assert_int_equal(lbp_kube_config_load(&o, &cfg, err, sizeof(err)), LBP_OK);
    assert_string_equal(cfg->server, "https://a.example");
    assert_string_equal(cfg->token, "token-a");
    assert_string_equal(cfg->source, a);
    lbp_kube_config_free(cfg);

    /* A context from the second file; its cluster name resolves to the first file's. */
    o.context = "ctx-b";
    assert_int_equal(lbp_kube_config_load(&o, &cfg, err, sizeof(err)), LBP_OK);
    assert_string_equal(cfg->server, "https://a.example");
    assert_string_equal(cfg->token, "token-b");
    assert_string_equal(cfg->namespace, "nb");
    lbp_kube_config_free(cfg);

    o.context = "ctx-only-b";
    assert_int_equal(lbp_kube_config_load(&o, &cfg, err, sizeof(err)), LBP_OK);
    assert_string_equal(cfg->server, "https://only-b.example");
    assert_string_equal(cfg->token, "token-a");
    lbp_kube_config_free(cfg);
    unsetenv("KUBECONFIG");
}

static void home_config_used(void **state)
{
    char dir[400];
    snprintf(dir, sizeof(dir), "%s/.kube", tmpdir);
    assert_int_equal(mkdir(dir, 0700), 0);
    write_file(".kube/config", two_contexts);
    struct lbp_kube_config_opts o = {0};
    struct lbp_kube_config *cfg = NULL;
    char err[512] = "";
    assert_int_equal(lbp_kube_config_load(&o, &cfg, err, sizeof(err)), LBP_OK);
    assert_string_equal(cfg->server, "https://dev.example:6443");
    lbp_kube_config_free(cfg);
}

static void nothing_found(void **state)
{
    struct lbp_kube_config_opts o = {0};
    struct lbp_kube_config *cfg = NULL;
    char err[512] = "";
    assert_int_equal(lbp_kube_config_load(&o, &cfg, err, sizeof(err)), LBP_INVALID);
    assert_null(cfg);
    assert_non_null(strstr(err, "no kubeconfig"));
    /* --master alone is enough to talk to a server. */
    o.master = "http://127.0.0.1:8080";
    assert_int_equal(lbp_kube_config_load(&o, &cfg, err, sizeof(err)), LBP_OK);
    assert_string_equal(cfg->server, "http://127.0.0.1:8080");
    lbp_kube_config_free(cfg);
}

static void in_cluster(void **state)
{
    char sa[400], want[600], err[512] = "";
    struct lbp_kube_config *cfg = NULL;
    snprintf(sa, sizeof(sa), "%s/sa", tmpdir);
    assert_int_equal(mkdir(sa, 0700), 0);
    write_file("sa/token", "eyJhbGciOi.token\n");
    write_file("sa/ca.crt", "-----BEGIN CERTIFICATE-----\n");
    write_file("sa/namespace", "kube-system\n");

    assert_int_equal(lbp_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), LBP_INVALID);
    assert_null(cfg);
    assert_non_null(strstr(err, "not running in a cluster"));

    setenv("KUBERNETES_SERVICE_HOST", "10.96.0.1", 1);
    setenv("KUBERNETES_SERVICE_PORT", "443", 1);
    assert_int_equal(lbp_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), LBP_OK);
    assert_string_equal(cfg->server, "https://10.96.0.1:443");
    snprintf(want, sizeof(want), "%s/ca.crt", sa);
    assert_string_equal(cfg->ca_file, want);
    snprintf(want, sizeof(want), "%s/token", sa);
    assert_string_equal(cfg->token_file, want);
    assert_null(cfg->token); /* read through the rotating file, not copied */
    assert_string_equal(cfg->namespace, "kube-system");
    assert_string_equal(cfg->source, "in-cluster");
    lbp_kube_config_free(cfg);

    setenv("KUBERNETES_SERVICE_HOST", "fd00:10:96::1", 1);
    assert_int_equal(lbp_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), LBP_OK);
    assert_string_equal(cfg->server, "https://[fd00:10:96::1]:443");
    lbp_kube_config_free(cfg);

    setenv("KUBERNETES_SERVICE_PORT", "https", 1);
    assert_int_equal(lbp_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), LBP_INVALID);

    /* No namespace file: "default". No token: an error naming the file. */
    setenv("KUBERNETES_SERVICE_PORT", "6443", 1);
    snprintf(want, sizeof(want), "%s/namespace", sa);
    unlink(want);
    assert_int_equal(lbp_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), LBP_OK);
    assert_string_equal(cfg->namespace, "default");
    lbp_kube_config_free(cfg);
    snprintf(want, sizeof(want), "%s/token", sa);
    unlink(want);
    assert_int_equal(lbp_kube_config_in_cluster(sa, &cfg, err, sizeof(err)), LBP_IO);
    assert_non_null(strstr(err, want));

    unsetenv("KUBERNETES_SERVICE_HOST");
    unsetenv("KUBERNETES_SERVICE_PORT");
}

/*
 * Loading yaml (as tmpdir/config) with --context context fails with rc;
 * returns the message (valid until the next call).
 */
static const char *refused(const char *yaml, const char *context, int rc)
{
    static char err[512];
    char path[512];
    snprintf(path, sizeof(path), "%s", write_file("config", yaml));
    assert_int_equal(load_err(path, context, err, sizeof(err)), rc);
    return err;
}

/* The same, and the message is exactly "<file>: msg". */
static const char *refused_with(const char *yaml, const char *context, int rc, const char *msg)
{
    const char *err = refused(yaml, context, rc);
    char want[700];
    snprintf(want, sizeof(want), "%s/config: %s", tmpdir, msg);
    assert_string_equal(err, want);
    return err;
}

/* Cluster k (server https://k) for the one-context configs below. */
#define CLUSTER_K                                                                                  \
    "clusters:\n"                                                                                  \
    "- name: k\n"                                                                                  \
    "  cluster: {server: 'https://k'}\n"
/* Context c on cluster k (with the user named in extra, if any), the current one. */
#define CONTEXT_C(extra)                                                                           \
    "contexts:\n"                                                                                  \
    "- name: c\n"                                                                                  \
    "  context: {cluster: k" extra "}\n"

static void missing_file(void **state)
{
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/nope", tmpdir);
    assert_int_equal(load_err(path, NULL, err, sizeof(err)), LBP_IO);
    assert_non_null(strstr(err, path));
    assert_non_null(strstr(err, "No such file"));
}

static void yaml_syntax_error(void **state)
{
    char want[600];
    const char *err = refused("current-context: c\n"
                              "clusters:\n"
                              "- name: k\n"
                              "  cluster:\n"
                              "    server: https://k\n"
                              "  bad: indent: here\n",
                              NULL, LBP_PARSE);
    snprintf(want, sizeof(want), "%s/config: line 6: ", tmpdir);
    assert_true(strncmp(err, want, strlen(want)) == 0);
}

static void unknown_context(void **state)
{
    refused_with(two_contexts, "staging", LBP_INVALID, "--context: context \"staging\" not found");
}

static void missing_cluster(void **state)
{
    refused_with("current-context: b\n" CLUSTER_K "contexts:\n"
                 "- name: a\n"
                 "  context: {cluster: k}\n"
                 "- name: b\n"
                 "  context: {cluster: prod}\n",
                 NULL, LBP_INVALID, "contexts[1].context.cluster: cluster \"prod\" not found");
}

static void no_current_context(void **state)
{
    refused_with(CLUSTER_K, NULL, LBP_INVALID,
                 "current-context is not set and --context was not given");
}

static void invalid_base64(void **state)
{
    const char *err =
        refused_with("current-context: c\n" CLUSTER_K "users:\n"
                     "- name: u\n"
                     "  user:\n"
                     "    client-certificate-data: AP8QQQ==\n"
                     "    client-key-data: c2VjcmV0*S3k=\n" CONTEXT_C(", user: u"),
                     NULL, LBP_PARSE, "users[0].user.client-key-data: invalid base64");
    assert_null(strstr(err, "c2VjcmV0")); /* never the value */

    /* Bad padding and truncation are caught too. */
    err = refused("current-context: c\n"
                  "clusters:\n"
                  "- name: k\n"
                  "  cluster:\n"
                  "    server: https://k\n"
                  "    certificate-authority-data: AP8QQ\n" CONTEXT_C(""),
                  NULL, LBP_PARSE);
    assert_non_null(strstr(err, "clusters[0].cluster.certificate-authority-data: invalid base64"));
}

static void no_server(void **state)
{
    refused_with("current-context: c\n"
                 "clusters:\n"
                 "- name: k\n"
                 "  cluster: {insecure-skip-tls-verify: true}\n" CONTEXT_C(""),
                 NULL, LBP_INVALID, "clusters[0].cluster.server: missing");
}

static void wrong_types(void **state)
{
    const char *err = refused("current-context: c\n"
                              "clusters:\n"
                              "- name: k\n"
                              "  cluster: {server: [a, b]}\n" CONTEXT_C(""),
                              NULL, LBP_PARSE);
    assert_non_null(strstr(err, "clusters[0].cluster.server: expected a string"));

    err = refused("- just\n- a list\n", NULL, LBP_PARSE);
    assert_non_null(strstr(err, "mapping"));
}

static void auth_provider_refused(void **state)
{
    refused_with("current-context: c\n" CLUSTER_K "users:\n"
                 "- name: u\n"
                 "  user:\n"
                 "    auth-provider: {name: gcp}\n" CONTEXT_C(", user: u"),
                 NULL, LBP_INVALID,
                 "users[0].user.auth-provider: not supported; use an exec plugin");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(current_context_selected, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(context_override, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(master_override, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(embedded_data_decoded, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(relative_paths_and_token_file, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(exec_block_parsed, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(exec_bad_api_version, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(kubeconfig_env_merged, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(home_config_used, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(nothing_found, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(in_cluster, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(missing_file, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(yaml_syntax_error, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(unknown_context, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(missing_cluster, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(no_current_context, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(invalid_base64, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(no_server, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(wrong_types, setup, tmpdir_remove),
        cmocka_unit_test_setup_teardown(auth_provider_refused, setup, tmpdir_remove),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
