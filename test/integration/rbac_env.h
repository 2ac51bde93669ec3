/*
 * rbac_env.h — what the least-privilege tests share: create the deploy
 * manifests' objects through the API as the admin, give a ServiceAccount a
 * token and a kubeconfig, and judge the fake's /_fake/audit afterwards.
 */
#ifndef LBP_TEST_RBAC_ENV_H
#define LBP_TEST_RBAC_ENV_H

#include "test/integration/harness.h"

#include <json-c/json.h>

/*
 * Reads examples/<rel> (every document) and POSTs each object as the
 * admin. Returns the objects (caller puts), or NULL after printing why.
 */
json_object *rbac_apply(struct lbp_fake_api *api, const char *rel);
/* Adds a bearer token for user (POST /_fake/tokens); 0 on success. */
int rbac_add_token(struct lbp_fake_api *api, const char *token, const char *user);
/* rbac_apply for each of n files, in order: every document in one array, or NULL. */
json_object *rbac_apply_all(struct lbp_fake_api *api, const char *const *rels, size_t n);
/*
 * A test step that, failing, first prints what RBAC denied (the likely
 * cause), then fails through the including test's CHECK.
 */
#define RBAC_STEP(api, cond)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            rbac_print_denials(api);                                                               \
            CHECK(cond);                                                                           \
        }                                                                                          \
    } while (0)
/* Writes a kubeconfig for api's URL with this token; 0 on success. */
int rbac_write_kubeconfig(const struct lbp_fake_api *api, const char *path, const char *token);
/* Prints every denial recorded so far (a failed step's likely cause). */
void rbac_print_denials(struct lbp_fake_api *api);
/*
 * Least privilege, checked: user (ServiceAccount ns/sa) was never denied,
 * and every (API group, resource, verb) granted by every role that docs
 * bind to ns/sa was allowed at least once through that role. Triples in
 * not_exercised ("ROLE GROUP RESOURCE VERB", NULL-terminated, may be NULL)
 * are reported, not failed. Wildcards in a rule are failures. Prints the
 * evidence; returns the number of failures (-1 when the audit is unreadable).
 */
int rbac_check_exact(struct lbp_fake_api *api, json_object *docs, const char *ns, const char *sa,
                     const char *user, const char *const *not_exercised);

#endif
