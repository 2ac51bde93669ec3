/*
 * test_manifests.c — every YAML file under examples/ parses (libyaml, every
 * document) and every object has apiVersion, kind and metadata.name; then,
 * where kubectl is installed (`test_manifests kubectl`, skipped otherwise),
 * every kustomization builds with `kubectl kustomize` and what it builds,
 * like every sample Service file, passes `kubectl apply --dry-run=client`.
 *
 * Client dry-run still needs an API server: kubectl maps each kind to its
 * resource through discovery before it "applies" anything. So kubectl is
 * pointed at the fake API server (which lists the kinds the manifests use)
 * with --validate=false (the fake serves no OpenAPI schemas). Nothing is
 * stored: the test checks the fake's resourceVersion does not move. Then
 * one real `kubectl apply -k` of the bare-metal overlay, as the admin of a
 * fake that enforces RBAC over HTTPS, must create every object, RBAC kinds
 * included. Each mode's cloud-config must pass its provider's init (once
 * its REPLACE_ME placeholders are filled in; unfilled, it must fail), and the
 * lbprov containers' args must be flags lbprov knows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "provider/provider.h"
#include "test/integration/harness.h"
#include "test/integration/yaml_json.h"

#define MAX_FILES 128

static char files[MAX_FILES][512];
static size_t nfiles;
static char kdirs[MAX_FILES][512];
static size_t nkdirs;

static int collect(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    size_t n = strlen(path);
    if (flag != FTW_F || n < 5 || strcmp(path + n - 5, ".yaml") != 0)
        return 0;
    if (nfiles >= MAX_FILES)
        return 1;
    snprintf(files[nfiles++], sizeof(files[0]), "%s", path);
    const char *base = strrchr(path, '/');
    if (base && strcmp(base + 1, "kustomization.yaml") == 0 && nkdirs < MAX_FILES)
        snprintf(kdirs[nkdirs++], sizeof(kdirs[0]), "%.*s", (int)(base - path), path);
    return 0;
}

static const char *str(json_object *o, const char *k)
{
    json_object *v = json_object_object_get(o, k);
    return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

static void test_every_manifest_parses(void **state)
{
    size_t objects = 0, kustomizations = 0;
    bool saw_rbac = false, saw_daemonset = false;
    for (size_t i = 0; i < nfiles; i++) {
        json_object *docs;
        char err[512];
        if (lbp_test_yaml_load(files[i], &docs, err, sizeof(err))) {
            fprintf(stderr, "%s\n", err);
            fail();
        }
        assert_true(json_object_array_length(docs) > 0);
        for (size_t d = 0; d < json_object_array_length(docs); d++) {
            json_object *o = json_object_array_get_idx(docs, d);
            const char *av = str(o, "apiVersion"), *kind = str(o, "kind");
            if (!av || !kind)
                fprintf(stderr, "%s: document %zu lacks apiVersion or kind\n", files[i], d);
            assert_non_null(av);
            assert_non_null(kind);
            if (strcmp(kind, "Kustomization") == 0) {
                kustomizations++;
                continue; /* a build file, not an object: it has no metadata */
            }
            const char *name = str(json_object_object_get(o, "metadata"), "name");
            if (!name || !*name)
                fprintf(stderr, "%s: %s without metadata.name\n", files[i], kind);
            assert_true(name && *name);
            saw_rbac = saw_rbac || strcmp(kind, "ClusterRole") == 0;
            saw_daemonset = saw_daemonset || strcmp(kind, "DaemonSet") == 0;
            objects++;
        }
        json_object_put(docs);
    }
    printf("%zu files, %zu objects, %zu kustomizations\n", nfiles, objects, kustomizations);
    assert_true(objects >= 10);
    assert_int_equal(kustomizations, nkdirs);
    assert_true(saw_rbac);
    assert_true(saw_daemonset);
}

/*
 * Every mode's lbprov-config: its "cloud" names a provider and its
 * "cloud-config" is accepted by that provider's init, exactly as
 * `lbprov controller --cloud X --cloud-config F` reads it at start (the
 * speaker reads the same pools file). A provider not built into this tree
 * is reported, not failed; at least one config must be checked.
 */
/* Runs the provider's init on conf, written to a temporary file as the controller reads it. */
static int init_with(const struct lbp_provider *p, const char *conf, struct lbp_provider_ctx **ctx,
                     char *err, size_t errlen)
{
    char path[] = "/tmp/lbp-cloud-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, conf, strlen(conf)), (ssize_t)strlen(conf));
    close(fd);
    err[0] = '\0';
    int rc = p->init(path, "kubernetes", ctx, err, errlen);
    unlink(path);
    return rc;
}

/* conf with every REPLACE_ME_<WORD> replaced by a value a user might write. */
static void fill_placeholders(const char *conf, char *out, size_t cap)
{
    size_t o = 0;
    while (*conf && o + 1 < cap) {
        if (strncmp(conf, "REPLACE_ME_", 11) == 0) {
            size_t n = 11 + strspn(conf + 11, "ABCDEFGHIJKLMNOPQRSTUVWXYZ_");
            o += (size_t)snprintf(out + o, cap - o, "edited-value");
            conf += n;
        } else {
            out[o++] = *conf++;
        }
    }
    assert_true(o + 1 < cap);
    out[o] = '\0';
}

static void test_cloud_configs(void **state)
{
    int checked = 0;
    /* Whatever a cloud's init might probe stays on loopback. */
    setenv("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9/", 1);
    setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9", 1);
    /* The AWS overlay leaves the region to the pod's environment (EKS sets it). */
    setenv("AWS_REGION", "eu-west-1", 1);
    for (size_t i = 0; i < nfiles; i++) {
        json_object *docs;
        char err[512];
        assert_int_equal(lbp_test_yaml_load(files[i], &docs, err, sizeof(err)), 0);
        for (size_t d = 0; d < json_object_array_length(docs); d++) {
            json_object *o = json_object_array_get_idx(docs, d);
            json_object *data = json_object_object_get(o, "data");
            const char *kind = str(o, "kind"),
                       *name = str(json_object_object_get(o, "metadata"), "name");
            if (!kind || strcmp(kind, "ConfigMap") != 0 || !name || strcmp(name, "lbprov-config"))
                continue;
            const char *cloud = str(data, "cloud"), *conf = str(data, "cloud-config");
            assert_non_null(cloud);
            assert_non_null(conf);
            const struct lbp_provider *p = lbp_provider_find(cloud);
            if (!p) {
                printf("%s: cloud %s is not built here, not checked\n", files[i], cloud);
                continue;
            }
            struct lbp_provider_ctx *ctx = NULL;
            char edited[4096];
            int rc;
            if (strstr(conf, "REPLACE_ME")) {
                /* left as shipped, a placeholder stops the start, named */
                rc = init_with(p, conf, &ctx, err, sizeof(err));
                if (rc == 0 && p->cleanup)
                    p->cleanup(ctx);
                ctx = NULL;
                assert_int_not_equal(rc, 0);
                assert_non_null(strstr(err, "REPLACE_ME"));
                printf("%s: %s refuses the unedited placeholder: %s\n", files[i], cloud, err);
                fill_placeholders(conf, edited, sizeof(edited));
                conf = edited;
            }
            err[0] = '\0';
            rc = init_with(p, conf, &ctx, err, sizeof(err));
            if (rc)
                fprintf(stderr, "%s: %s rejects its cloud-config: %s\n", files[i], cloud, err);
            assert_int_equal(rc, 0);
            if (p->cleanup)
                p->cleanup(ctx);
            printf("%s: cloud-config accepted by %s\n", files[i], cloud);
            checked++;
        }
        json_object_put(docs);
    }
    assert_true(checked >= 2); /* mock and bare metal are always built */
}

/* Runs lbprov with argv (NULL-terminated, argv[0] ignored); its exit status. */
static int run_lbprov(char **argv)
{
    argv[0] = (char *)lbp_test_lbprov_bin();
    pid_t pid = lbp_test_spawn(argv, "/dev/null");
    return pid > 0 ? lbp_test_stop(pid, 0, 10000) : -1; /* signal 0: wait for the exit */
}

/* The value a container's $(VAR) would have: literal values, else a stand-in by source. */
static const char *env_value(json_object *container, const char *var)
{
    json_object *envs = json_object_object_get(container, "env");
    if (!json_object_is_type(envs, json_type_array))
        return NULL;
    for (size_t i = 0; i < json_object_array_length(envs); i++) {
        json_object *e = json_object_array_get_idx(envs, i);
        if (!str(e, "name") || strcmp(str(e, "name"), var) != 0)
            continue;
        if (str(e, "value"))
            return str(e, "value");
        json_object *from = json_object_object_get(e, "valueFrom");
        if (json_object_object_get(from, "configMapKeyRef"))
            return "mock"; /* the cloud key; every mode's value is checked in test_cloud_configs */
        return "placeholder";
    }
    return NULL;
}

/*
 * The lbprov containers' args are flags this build of lbprov knows: each
 * command line, with $(VAR) expanded as the kubelet would, is run with
 * --help appended — an unknown flag or a bad value exits non-zero before
 * --help is reached. A subcommand this tree does not build is reported.
 */
static void test_container_args(void **state)
{
    int checked = 0;
    char *nosuch[] = {NULL, "controller", "--no-such-flag", "--help", NULL};
    assert_int_not_equal(run_lbprov(nosuch), 0); /* the check can fail */
    for (size_t i = 0; i < nfiles; i++) {
        json_object *docs;
        char err[512];
        assert_int_equal(lbp_test_yaml_load(files[i], &docs, err, sizeof(err)), 0);
        for (size_t d = 0; d < json_object_array_length(docs); d++) {
            json_object *o = json_object_array_get_idx(docs, d);
            json_object *cs = json_object_object_get(
                json_object_object_get(
                    json_object_object_get(json_object_object_get(o, "spec"), "template"), "spec"),
                "containers");
            if (!json_object_is_type(cs, json_type_array))
                continue;
            for (size_t c = 0; c < json_object_array_length(cs); c++) {
                json_object *ct = json_object_array_get_idx(cs, c);
                json_object *args = json_object_object_get(ct, "args");
                const char *image = str(ct, "image");
                if (!image || strncmp(image, "lbprov", 6) != 0 ||
                    !json_object_is_type(args, json_type_array) ||
                    json_object_array_length(args) == 0)
                    continue;
                char *argv[64], buf[64][256];
                size_t n = 1;
                for (size_t a = 0; a < json_object_array_length(args) && n < 62; a++, n++) {
                    const char *in = json_object_get_string(json_object_array_get_idx(args, a));
                    size_t len = 0;
                    while (*in && len + 1 < sizeof(buf[0])) {
                        const char *end;
                        if (in[0] == '$' && in[1] == '(' && (end = strchr(in, ')'))) {
                            char var[128];
                            snprintf(var, sizeof(var), "%.*s", (int)(end - in - 2), in + 2);
                            const char *v = env_value(ct, var);
                            assert_non_null(v); /* the kubelet would leave it unexpanded */
                            len += (size_t)snprintf(buf[n] + len, sizeof(buf[0]) - len, "%s", v);
                            in = end + 1;
                        } else {
                            buf[n][len++] = *in++;
                        }
                    }
                    buf[n][len < sizeof(buf[0]) ? len : sizeof(buf[0]) - 1] = '\0';
                    argv[n] = buf[n];
                }
                char *probe[] = {NULL, argv[1], "--help", NULL};
                if (run_lbprov(probe) != 0) {
                    printf("%s: `lbprov %s` is not built here, not checked\n", files[i], argv[1]);
                    continue;
                }
                argv[n++] = "--help";
                argv[n] = NULL;
                int rc = run_lbprov(argv);
                if (rc != 0)
                    fprintf(stderr, "%s: `lbprov %s` rejects its args (exit %d)\n", files[i],
                            argv[1], rc);
                assert_int_equal(rc, 0);
                printf("%s: `lbprov %s` accepts its %zu args\n", files[i], argv[1], n - 3);
                checked++;
            }
        }
        json_object_put(docs);
    }
    assert_true(checked >= 1);
}

/* The YAML loader itself: types, multi-document files, and errors that name the line. */
static void test_loader(void **state)
{
    char path[] = "/tmp/lbp-yaml-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *text = "a: 1\nb: \"1\"\nc: true\nd: ~\ne: [x, 'y']\n---\n---\nk: v\n";
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
    json_object *docs;
    char err[256];
    assert_int_equal(lbp_test_yaml_load(path, &docs, err, sizeof(err)), 0);
    assert_int_equal(json_object_array_length(docs), 2);
    json_object *o = json_object_array_get_idx(docs, 0);
    assert_true(json_object_is_type(json_object_object_get(o, "a"), json_type_int));
    assert_true(json_object_is_type(json_object_object_get(o, "b"), json_type_string));
    assert_true(json_object_is_type(json_object_object_get(o, "c"), json_type_boolean));
    assert_null(json_object_object_get(o, "d"));
    assert_int_equal(json_object_array_length(json_object_object_get(o, "e")), 2);
    json_object_put(docs);

    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("a: 1\nb: [unclosed\n", f);
    fclose(f);
    assert_int_equal(lbp_test_yaml_load(path, &docs, err, sizeof(err)), -1);
    assert_non_null(strstr(err, path));
    unlink(path);
}

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int kubectl_main(void)
{
    const char *kubectl = getenv("KUBECTL") ? getenv("KUBECTL") : "/usr/bin/kubectl";
    if (access(kubectl, X_OK) != 0) {
        printf("SKIP: %s not found\n", kubectl);
        return 77;
    }
    struct lbp_fake_api api;
    /* TLS, because kubectl sends a bearer token only over HTTPS; RBAC on, as admin. */
    struct lbp_fake_api_opts o = {
        .tls = true, .token = "manifests-admin", .extra_arg = "--authorization-mode=RBAC"};
    if (lbp_fake_api_start(&o, &api))
        return 1;
    char *before = NULL, *after = NULL, cmd[4096];
    int rc = 1;
    if (lbp_fake_api_request(&api, "GET", "/_fake/info", NULL, NULL, &before) != 200)
        goto out;
    for (size_t i = 0; i < nkdirs; i++) {
        /* pipefail: a kustomize error must not hide behind a happy apply of nothing */
        snprintf(cmd, sizeof(cmd),
                 "bash -c 'set -o pipefail; %s kustomize %s | %s --kubeconfig %s --cache-dir "
                 "%s/kcache apply "
                 "--dry-run=client --validate=false -f - >/dev/null'",
                 kubectl, kdirs[i], kubectl, api.kubeconfig, api.dir);
        int r = run(cmd);
        printf("%s: kustomize + apply --dry-run=client: %d\n", kdirs[i], r);
        if (r != 0)
            goto out;
    }
    for (size_t i = 0; i < nfiles; i++) {
        if (!strstr(files[i], "/examples/services/"))
            continue;
        snprintf(cmd, sizeof(cmd),
                 "%s --kubeconfig %s --cache-dir %s/kcache apply --dry-run=client --validate=false "
                 "-f %s "
                 ">/dev/null",
                 kubectl, api.kubeconfig, api.dir, files[i]);
        int r = run(cmd);
        printf("%s: apply --dry-run=client: %d\n", files[i], r);
        if (r != 0)
            goto out;
    }
    /* A broken kustomization is caught (the check above can fail). */
    snprintf(cmd, sizeof(cmd), "%s kustomize /nonexistent-lbprov-dir >/dev/null 2>&1", kubectl);
    if (run(cmd) == 0)
        goto out;
    if (lbp_fake_api_request(&api, "GET", "/_fake/info", NULL, NULL, &after) != 200)
        goto out;
    /* Dry-run stored nothing: the resourceVersion did not move. */
    json_object *b = json_tokener_parse(before), *a = json_tokener_parse(after);
    const char *rb = json_object_get_string(json_object_object_get(b, "resourceVersion"));
    const char *ra = json_object_get_string(json_object_object_get(a, "resourceVersion"));
    rc = rb && ra && strcmp(rb, ra) == 0 ? 0 : 1;
    if (rc)
        printf("resourceVersion moved from %s to %s: something was stored\n", rb, ra);
    json_object_put(a);
    json_object_put(b);
    if (rc)
        goto out;
    /* For real now: discovery lists the RBAC kinds, so kubectl creates them (as the admin). */
    rc = 1;
    snprintf(
        cmd, sizeof(cmd),
        "%s --kubeconfig %s --cache-dir %s/kcache apply --validate=false -k %s/deploy/overlays/"
        "baremetal >/dev/null",
        kubectl, api.kubeconfig, api.dir, LBP_EXAMPLES_DIR);
    if (run(cmd) != 0)
        goto out;
    static const char *const created[] = {
        "/apis/rbac.authorization.k8s.io/v1/clusterroles/lbprov-controller",
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/lbprov-speaker",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/lbprov-system/roles/lbprov-speaker",
        "/apis/rbac.authorization.k8s.io/v1/namespaces/lbprov-system/rolebindings/"
        "lbprov-controller-leader-election",
        "/apis/apps/v1/namespaces/lbprov-system/daemonsets/lbprov-speaker",
        NULL};
    for (size_t i = 0; created[i]; i++)
        if (lbp_fake_api_request(&api, "GET", created[i], NULL, NULL, NULL) != 200) {
            printf("kubectl apply -k did not create %s\n", created[i]);
            goto out;
        }
    printf("kubectl apply -k overlays/baremetal created every object\n");
    rc = 0;
out:
    free(before);
    free(after);
    lbp_fake_api_stop(&api);
    return rc;
}

int main(int argc, char **argv)
{
    if (nftw(LBP_EXAMPLES_DIR, collect, 16, FTW_PHYS) != 0 || nfiles == 0) {
        fprintf(stderr, "cannot read %s\n", LBP_EXAMPLES_DIR);
        return 1;
    }
    if (argc > 1 && strcmp(argv[1], "kubectl") == 0)
        return kubectl_main();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_manifest_parses),
        cmocka_unit_test(test_loader),
        cmocka_unit_test(test_cloud_configs),
        cmocka_unit_test(test_container_args),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
