/*
 * fuzz_kubeconfig.c — kubeconfig files (kube/config.c), merged as
 * $KUBECONFIG lists them: the input is cut at "\n#%%%\n" into up to three
 * files, named in that order in KUBECONFIG, and loaded once with the
 * current context and once with --context prod. A config that loads has a
 * server and a namespace, and its credentials can be set up (an exec
 * plugin is prepared but never run).
 */
#include "test/fuzz/harness.h"
#include "common/rc.h"
#include "kube/kube.h"
#include "kube/kube_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void load(const char *context)
{
    struct lbp_kube_config_opts o = {.context = context};
    struct lbp_kube_config *cfg = NULL;
    struct lbp_kube_auth *a = NULL;
    char err[512] = "";
    if (lbp_kube_config_load(&o, &cfg, err, sizeof(err)) != LBP_OK) {
        FZ_CHECK(err[0] && !cfg);
        return;
    }
    FZ_CHECK(cfg->server && cfg->server[0] && cfg->namespace);
    if (lbp_kube_auth_new(cfg, &a) == LBP_OK)
        lbp_kube_auth_free(a);
    lbp_kube_config_free(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fz_part parts[3];
    char path[3][512], list[1600] = "";
    size_t used = 0;
    const char *dir = fz_setup();
    size_t n = fz_split(data, size, "\n#%%%\n", parts, 3);
    for (size_t i = 0; i < n; i++) {
        char name[16];
        snprintf(name, sizeof(name), "config%zu", i);
        FZ_CHECK(fz_write(dir, name, parts[i].p, parts[i].n, path[i], sizeof(path[i])) == 0);
        used += (size_t)snprintf(list + used, sizeof(list) - used, "%s%s", i ? ":" : "", path[i]);
    }
    setenv("KUBECONFIG", list, 1);
    load(NULL);
    load("prod");
    return 0;
}
