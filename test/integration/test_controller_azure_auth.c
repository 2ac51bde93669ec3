/*
 * test_controller_azure_auth.c — `lbprov controller --cloud azure` getting
 * its ARM tokens each way a cluster gives them, against fake-azure, whose
 * IMDS and Entra ID token endpoints check what they are sent:
 *
 *   - managed identity, system-assigned: IMDS with `Metadata: true` and no
 *     identity named;
 *   - managed identity, user-assigned (userAssignedIdentityID), against an
 *     IMDS that has no system identity, so only the named one answers;
 *   - workload identity: AZURE_TENANT_ID, AZURE_CLIENT_ID and
 *     AZURE_FEDERATED_TOKEN_FILE in the environment as the webhook sets
 *     them, the file's token sent as a client assertion (fake-azure checks
 *     its signature, issuer, audience, subject and lifetime).
 *
 * Each run: one public Service must get its address, and the token calls
 * counted by fake-azure must be those of that way only.
 */
#include <json-c/json.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test/fakes/azure/fake_azure_client.h"
#include "test/integration/ctl_env.h"

#define CLUSTER "auth"
#define RG "lbprov-rg"
#define MSI_CLIENT "33333333-3333-3333-3333-333333333333"

static struct ctl_env env;
static struct fake_azure g_az;
static bool g_az_up;

static void stop_fake_azure(void)
{
    if (g_az_up)
        fake_azure_stop(&g_az);
    g_az_up = false;
}

static bool web_has_ingress(void *p)
{
    (void)p;
    return ctl_has_ingress(&env, "web");
}

/*
 * auth_keys: azure.json's auth keys. workload: the controller gets the webhook's
 * variables (the token file is the one this fake-azure wrote, signed with its issuer key).
 */
static void run(const char *what, const char *const *fake_args, const char *auth_keys,
                bool workload, long want_imds, long want_aad)
{
    const char *extra[] = {"--cluster-name", CLUSTER, NULL};
    char body[1024];
    FILE *f;
    long imds, aad;

    fprintf(stderr, "== %s\n", what);
    ctl_env_init(&env, NULL);
    CHECK(fake_azure_start(&g_az, fake_args) == 0);
    g_az_up = true;
    snprintf(env.cloud_conf, sizeof(env.cloud_conf), "%s/azure.json", env.api.dir);
    f = fopen(env.cloud_conf, "w");
    CHECK(f != NULL);
    fprintf(f,
            "{\"subscriptionId\":\"" FAKE_AZURE_SUBSCRIPTION "\",\"resourceGroup\":\"" RG "\","
            "\"location\":\"eastus\",\"vnetName\":\"lbprov-vnet\",\"subnetName\":"
            "\"lbprov-subnet\",\"securityGroupName\":\"lbprov-nsg\",%s,"
            "\"resourceManagerEndpoint\":\"%s\",\"activeDirectoryEndpoint\":\"%s\","
            "\"imdsEndpoint\":\"%s\"}\n",
            auth_keys, g_az.proc.url, g_az.proc.url, g_az.proc.url);
    fclose(f);
    snprintf(body, sizeof(body),
             "{\"apiVersion\":\"v1\",\"kind\":\"Node\",\"metadata\":{\"name\":\"node-0\"},"
             "\"spec\":{\"providerID\":\"azure:///subscriptions/" FAKE_AZURE_SUBSCRIPTION
             "/resourceGroups/" RG "/providers/Microsoft.Compute/virtualMachines/node-0\"},"
             "\"status\":{\"addresses\":[{\"type\":\"InternalIP\",\"address\":\"10.224.0.4\"}],"
             "\"conditions\":[{\"type\":\"Ready\",\"status\":\"True\"}]}}");
    CHECK(ctl_api(&env, "POST", "/api/v1/nodes", body, NULL) == 201);
    if (workload) {
        setenv("AZURE_TENANT_ID", FAKE_AZURE_TENANT, 1);
        setenv("AZURE_CLIENT_ID", FAKE_AZURE_CLIENT_ID, 1);
        setenv("AZURE_FEDERATED_TOKEN_FILE", g_az.fed_token, 1);
    }
    snprintf(env.cloud, sizeof(env.cloud), "azure");
    ctl_env_start_controller(&env, extra);
    unsetenv("AZURE_TENANT_ID"); /* the process has its copy */
    unsetenv("AZURE_CLIENT_ID");
    unsetenv("AZURE_FEDERATED_TOKEN_FILE");
    ctl_service(&env, "web", NULL, 80);
    CHECK(lbp_test_poll(web_has_ingress, NULL, 30000));
    imds = fake_azure_calls(&g_az, "GET imds");
    aad = fake_azure_calls(&g_az, "POST token");
    fprintf(stderr, "%s: %ld IMDS token calls, %ld Entra ID token calls\n", what, imds, aad);
    CHECK(want_imds ? imds >= 1 : imds == 0);
    CHECK(want_aad ? aad >= 1 : aad == 0);
    /* every token call was answered 200: nothing was tried that the endpoint refused */
    CHECK(fake_azure_statuses(&g_az, 400) == 0);
    CHECK(fake_azure_statuses(&g_az, 401) == 0);
    CHECK(ctl_env_stop(&env) == 0);
    g_az_up = false;
    CHECK(fake_azure_stop(&g_az) == 0);
}

int main(void)
{
    static const char *const nodes[] = {"--nodes", "1", NULL};
    static const char *const user_only[] = {"--nodes", "1", "--no-system-identity", NULL};

    atexit(stop_fake_azure);
    run("managed identity, system-assigned", nodes, "\"useManagedIdentityExtension\":true", false,
        1, 0);
    run("managed identity, user-assigned", user_only,
        "\"useManagedIdentityExtension\":true,\"userAssignedIdentityID\":\"" MSI_CLIENT "\"", false,
        1, 0);
    run("workload identity", nodes, "\"useFederatedWorkloadIdentityExtension\":true", true, 0, 1);
    printf("ok\n");
    return 0;
}
