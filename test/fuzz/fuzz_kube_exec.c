/*
 * fuzz_kube_exec.c — a kubeconfig exec plugin's output (client.authentication
 * .k8s.io ExecCredential), read as lbprov reads it after running the
 * plugin. Credentials handed out hold a token or a certificate and key.
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "kube/kube.h"
#include "kube/kube_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct lbp_kube_auth *a;
    struct lbp_kube_cred cred;
    char err[512] = "";
    fz_setup();
    if (!a) {
        static char *args[] = {"token", NULL};
        static struct lbp_kube_exec ex = {.command = "/bin/false",
                                          .args = args,
                                          .api_version = "client.authentication.k8s.io/v1"};
        static struct lbp_kube_config cfg = {.server = "https://127.0.0.1:6443",
                                             .namespace = "default",
                                             .exec = &ex,
                                             .source = "fuzz"};
        FZ_CHECK(lbp_kube_auth_new(&cfg, &a) == LBP_OK);
    }
    if (lbp_kube_auth_parse_exec_output(a, (const char *)data, size, &cred, err, sizeof(err)) ==
        LBP_OK) {
        FZ_CHECK(cred.token || (cred.client_cert_pem && cred.client_key_pem));
        lbp_kube_cred_free(&cred);
    } else {
        FZ_CHECK(err[0] && !cred.token && !cred.client_cert_pem);
    }
    return 0;
}
