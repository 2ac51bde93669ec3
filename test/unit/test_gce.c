/*
 * test_gce.c — the GCE provider's rules without a network: recorded
 * Compute responses (libcloud's fixtures in ../shared/testdata/recorded/gce)
 * read as the provider reads them, the RS256 JWT it signs checked with
 * OpenSSL against the public key, GCE names, providerIDs, ownership
 * descriptions, gce.conf and the Service annotations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clouds/gce/gce_int.h"
#include "common/file.h"
#include "common/json.h"
#include "common/rc.h"

static char g_dir[512];

static struct json_object *fixture(const char *name)
{
    char path[800], *text = NULL, err[128];
    struct json_object *j = NULL;
    snprintf(path, sizeof(path), "%s/%s", g_dir, name);
    assert_int_equal(lbp_file_read(path, 1u << 20, 0, &text, NULL), LBP_OK);
    if (lbp_json_parse(text, strlen(text), 1u << 20, &j, err, sizeof(err)) != LBP_OK)
        fail_msg("%s: %s", name, err);
    free(text);
    return j;
}

static int have_data(void **state)
{
    const char *env = getenv("LBP_SHARED_TESTDATA");
    DIR *d;
    (void)state;
    snprintf(g_dir, sizeof(g_dir), "%s/recorded/gce",
             env && *env ? env : LBP_SHARED_TESTDATA_DEFAULT);
    d = opendir(g_dir);
    if (!d)
        return -1;
    closedir(d);
    return 0;
}

/* Every recorded answer parses; each Operation is judged as the provider judges it. */
static void t_recorded(void **state)
{
    DIR *d = opendir(g_dir);
    struct dirent *de;
    int n = 0, ops = 0;
    (void)state;
    if (!d)
        skip();
    while ((de = readdir(d))) {
        struct json_object *j;
        const char *kind = NULL;
        if (!strstr(de->d_name, ".json"))
            continue;
        j = fixture(de->d_name);
        assert_int_equal(lbp_json_get_str(j, "kind", 64, &kind, NULL, 0) == LBP_OK ||
                             lbp_json_at(j, "items") || lbp_json_at(j, "id"),
                         1);
        if (kind && !strcmp(kind, "compute#operation")) {
            struct gce_ops s;
            struct lbp_call call = {0};
            const char *status = NULL;
            assert_int_equal(lbp_json_get_str(j, "status", 16, &status, NULL, 0), LBP_OK);
            gce_ops_init(&s, "op");
            assert_int_equal(gce_ops_add(&s, j, "op", &call), LBP_OK);
            /* a running one is followed by scope and name, a DONE one is not */
            assert_int_equal(s.n, strcmp(status, "DONE") ? 1 : 0);
            if (s.n)
                assert_true(s.ref[0] == (lbp_json_at(j, "region") ? 'r' : 'g'));
            ops++;
        }
        json_object_put(j);
        n++;
    }
    closedir(d);
    assert_true(n >= 14);
    assert_true(ops >= 7);
}

static void t_recorded_objects(void **state)
{
    struct json_object *fr = fixture("regions_us-central1_forwardingRules_lcforwardingrule.json");
    struct json_object *tp = fixture("regions_us-central1_targetPools_lctargetpool.json");
    struct json_object *list = fixture("regions_us-central1_forwardingRules.json");
    struct json_object *fw = fixture("global_firewalls_lcfirewall.json");
    const char *s = NULL;
    (void)state;
    /* the capitalised fields GCE writes */
    assert_int_equal(lbp_json_get_str(fr, "IPAddress", 64, &s, NULL, 0), LBP_OK);
    assert_string_equal(s, "173.255.119.224");
    assert_int_equal(lbp_json_get_str(fr, "IPProtocol", 64, &s, NULL, 0), LBP_OK);
    assert_string_equal(s, "TCP");
    assert_int_equal(lbp_json_get_str(fr, "portRange", 64, &s, NULL, 0), LBP_OK);
    assert_string_equal(s, "8000-8500");
    /* references compare by their path from projects/ on, whatever the host */
    assert_int_equal(lbp_json_get_str(fr, "target", 512, &s, NULL, 0), LBP_OK);
    assert_string_equal(gce_ref_path(s), "projects/project_name/regions/us-central1/targetPools/"
                                         "lctargetpool");
    assert_int_equal(lbp_json_get_str(tp, "instances[0]", 512, &s, NULL, 0), LBP_OK);
    assert_string_equal(
        gce_ref_path(s),
        "projects/project_name/zones/us-central1-b/instances/libcloud-lb-demo-www-000");
    assert_non_null(lbp_json_at(list, "items[0].IPAddress"));
    assert_int_equal(lbp_json_get_str(fw, "allowed[0].IPProtocol", 8, &s, NULL, 0), LBP_OK);
    assert_string_equal(s, "tcp");
    assert_string_equal(gce_ref_path("zones/z/instances/x"), "");
    json_object_put(fr);
    json_object_put(tp);
    json_object_put(list);
    json_object_put(fw);
}

/* A DONE Operation's error, as upstream maps it. */
static void t_op_errors(void **state)
{
    static const struct {
        const char *code;
        int http, rc;
    } cases[] = {
        {"RESOURCE_ALREADY_EXISTS", 409, LBP_OK},
        {"QUOTA_EXCEEDED", 403, LBP_RETRY},
        {"RESOURCE_NOT_READY", 400, LBP_RETRY},
        {"IP_IN_USE_BY_ANOTHER_RESOURCE", 409, LBP_CONFLICT},
        {"INVALID_FIELD_VALUE", 400, LBP_INVALID},
        {"PERMISSIONS_ERROR", 403, LBP_AUTH},
        {"SOMETHING_NEW", 503, LBP_RETRY},
    };
    char body[512], err[256];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct json_object *op;
        snprintf(body, sizeof(body),
                 "{\"kind\":\"compute#operation\",\"name\":\"operation-1\",\"status\":\"DONE\","
                 "\"error\":{\"errors\":[{\"code\":\"%s\",\"message\":\"Quota 'X' exceeded.\"}]},"
                 "\"httpErrorStatusCode\":%d}",
                 cases[i].code, cases[i].http);
        op = json_tokener_parse(body);
        assert_int_equal(gce_op_error(op, err, sizeof(err)), cases[i].rc);
        assert_non_null(strstr(err, cases[i].code));
        json_object_put(op);
    }
    {
        struct json_object *ok = json_tokener_parse("{\"status\":\"DONE\",\"name\":\"o\"}");
        assert_int_equal(gce_op_error(ok, err, sizeof(err)), LBP_OK);
        json_object_put(ok);
    }
    {
        /* fuzzing found it: errors that is not a list aborted the process in json-c */
        struct json_object *bad =
            json_tokener_parse("{\"status\":\"DONE\",\"error\":{\"errors\":\"In\"}}");
        assert_int_equal(gce_op_error(bad, err, sizeof(err)), LBP_RETRY);
        assert_non_null(strstr(err, "not a list"));
        json_object_put(bad);
    }
}

static void t_names(void **state)
{
    char p[128], z[64], n[64], err[256], r[64];
    (void)state;
    assert_true(gce_name_valid("a1111111122224333844455555555555"));
    assert_true(gce_name_valid("k8s-fw-a1"));
    assert_true(gce_name_valid("a"));
    assert_false(gce_name_valid(""));
    assert_false(gce_name_valid("1abc"));
    assert_false(gce_name_valid("Abc"));
    assert_false(gce_name_valid("abc-"));
    assert_false(gce_name_valid("a_b"));
    assert_true(gce_name_valid("a23456789012345678901234567890123456789012345678901234567890123"));
    assert_false(
        gce_name_valid("a234567890123456789012345678901234567890123456789012345678901234"));

    assert_int_equal(gce_provider_id("gce://my-proj/us-central1-b/node-7", p, sizeof(p), z,
                                     sizeof(z), n, sizeof(n), err, sizeof(err)),
                     LBP_OK);
    assert_string_equal(p, "my-proj");
    assert_string_equal(z, "us-central1-b");
    assert_string_equal(n, "node-7");
    /* upstream's ^gce://([^/]+)/([^/]+)/([^/]+)$ and nothing else */
    assert_int_equal(gce_provider_id("gce://p/z-a/n/extra", p, sizeof(p), z, sizeof(z), n,
                                     sizeof(n), err, sizeof(err)),
                     LBP_INVALID);
    assert_int_equal(
        gce_provider_id("gce:///z-a/n", p, sizeof(p), z, sizeof(z), n, sizeof(n), err, sizeof(err)),
        LBP_INVALID);
    assert_int_equal(gce_provider_id("aws:///us-east-1a/i-0abc", p, sizeof(p), z, sizeof(z), n,
                                     sizeof(n), err, sizeof(err)),
                     LBP_INVALID);
    assert_non_null(strstr(err, "gce://PROJECT/ZONE/INSTANCE"));
    assert_int_equal(
        gce_provider_id("", p, sizeof(p), z, sizeof(z), n, sizeof(n), err, sizeof(err)),
        LBP_INVALID);
    assert_int_equal(gce_zone_region("europe-west4-c", r, sizeof(r)), LBP_OK);
    assert_string_equal(r, "europe-west4");
    assert_int_equal(gce_zone_region("uscentral", r, sizeof(r)), LBP_INVALID);
}

static void t_descriptions(void **state)
{
    struct gce_conf c = {0};
    char d[700], svc[520];
    (void)state;
    snprintf(c.cluster, sizeof(c.cluster), "prod-1");
    gce_desc(&c, "shop", "web", d, sizeof(d));
    assert_string_equal(d, "{\"kubernetes.io/service-name\":\"shop/web\","
                           "\"kubernetes.io/cluster-id\":\"prod-1\"}");
    assert_true(gce_desc_owned(d, "prod-1", svc, sizeof(svc)));
    assert_string_equal(svc, "shop/web");
    assert_false(gce_desc_owned(d, "prod-2", svc, sizeof(svc)));
    /* upstream's own descriptions carry no cluster id: never claimed */
    assert_false(gce_desc_owned("{\"kubernetes.io/service-name\":\"shop/web\"}", "prod-1", svc,
                                sizeof(svc)));
    assert_false(gce_desc_owned("Libcloud Test Firewall", "prod-1", NULL, 0));
    assert_false(gce_desc_owned("{\"kubernetes.io/cluster-id\":7}", "prod-1", NULL, 0));
}

static void t_conf(void **state)
{
    struct gce_conf c;
    char err[256] = "";
    (void)state;
    assert_int_equal(gce_conf_parse("[global]\nproject-id = p1\nnetwork-name = vpc\n"
                                    "node-tags = gke-a, gke-b\nlocal-zone = us-east1-b\n"
                                    "multizone = true\napi-endpoint = http://127.0.0.1:9/\n",
                                    "c1", &c, err, sizeof(err)),
                     LBP_OK);
    assert_string_equal(c.project, "p1");
    assert_string_equal(c.network, "vpc");
    assert_int_equal(c.n_tags, 2);
    assert_string_equal(c.tags[1], "gke-b");
    assert_string_equal(c.region, "us-east1");
    assert_true(c.multizone);
    assert_string_equal(c.endpoint, "http://127.0.0.1:9/compute/v1/");
    assert_string_equal(c.cluster, "c1");
    assert_int_equal(gce_conf_parse(NULL, NULL, &c, err, sizeof(err)), LBP_OK);
    assert_string_equal(c.endpoint, GCE_DEFAULT_ENDPOINT);
    assert_string_equal(c.network, "default");
    assert_string_equal(c.cluster, "kubernetes");
    /* refusals name the key */
    assert_int_equal(gce_conf_parse("[global]\nregional = yes\n", "c1", &c, err, sizeof(err)),
                     LBP_INVALID);
    assert_non_null(strstr(err, "regional"));
    assert_int_equal(
        gce_conf_parse("[global]\nproject-id = REPLACE_ME\n", "c1", &c, err, sizeof(err)),
        LBP_INVALID);
    assert_non_null(strstr(err, "project-id"));
    assert_int_equal(gce_conf_parse("[global]\nnode-tags = Bad_Tag\n", "c1", &c, err, sizeof(err)),
                     LBP_INVALID);
    assert_non_null(strstr(err, "node-tags"));
    assert_int_equal(gce_conf_parse(NULL, "My_Cluster", &c, err, sizeof(err)), LBP_INVALID);
    assert_non_null(strstr(err, "My_Cluster"));
    assert_int_equal(
        gce_conf_parse("[global]\napi-endpoint = ftp://x/\n", "c1", &c, err, sizeof(err)),
        LBP_INVALID);
    assert_non_null(strstr(err, "api-endpoint"));
}

static void t_annotations(void **state)
{
    struct lbp_lb_port ports[2] = {{"a", "TCP", 80, 30080}, {"b", "TCP", 443, 30443}};
    struct lbp_lb_annotation ann[3];
    struct lbp_lb_spec sp = {.ports = ports, .n_ports = 2, .annotations = ann};
    struct gce_opts o;
    struct lbp_call call = {0};
    (void)state;
    memset(&o, 0, sizeof(o));
    snprintf(o.conf.network_project, sizeof(o.conf.network_project), "p");
    snprintf(o.conf.region, sizeof(o.conf.region), "us-central1");
    assert_int_equal(gce_opts_parse(&sp, &o, &call), LBP_OK);
    assert_false(o.internal);
    assert_string_equal(o.tier, "PREMIUM");
    assert_int_equal(o.port_lo, 80);
    assert_int_equal(o.port_hi, 443);
    assert_string_equal(o.affinity, "NONE");

    ann[0] = (struct lbp_lb_annotation){GCE_ANN_LB_TYPE, "Internal"};
    ann[1] = (struct lbp_lb_annotation){GCE_ANN_SUBNET, "ilb-subnet"};
    ann[2] = (struct lbp_lb_annotation){GCE_ANN_GLOBAL_ACCESS, "true"};
    sp.n_annotations = 3;
    sp.session_affinity = "ClientIP";
    assert_int_equal(gce_opts_parse(&sp, &o, &call), LBP_OK);
    assert_true(o.internal);
    assert_true(o.global_access);
    assert_string_equal(o.subnet, "projects/p/regions/us-central1/subnetworks/ilb-subnet");
    assert_string_equal(o.affinity, "CLIENT_IP");

    ann[0] = (struct lbp_lb_annotation){GCE_ANN_TIER, "Gold"};
    sp.n_annotations = 1;
    assert_int_equal(gce_opts_parse(&sp, &o, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, GCE_ANN_TIER));
    ann[0] = (struct lbp_lb_annotation){GCE_ANN_GLOBAL_ACCESS, "sometimes"};
    assert_int_equal(gce_opts_parse(&sp, &o, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, GCE_ANN_GLOBAL_ACCESS));
    ann[0] = (struct lbp_lb_annotation){GCE_ANN_LB_TYPE_LEGACY, "internal"};
    assert_int_equal(gce_opts_parse(&sp, &o, &call), LBP_OK);
    assert_true(o.internal);
    ann[0] = (struct lbp_lb_annotation){GCE_ANN_TIER, "Standard"};
    ports[1].protocol = "UDP";
    assert_int_equal(gce_opts_parse(&sp, &o, &call), LBP_INVALID);
    assert_non_null(strstr(call.err, "spec.ports[1].protocol"));
}

/* The RS256 JWT a key file's grant sends: verified with the key's public half. */
static void t_jwt(void **state)
{
    EVP_PKEY *key = EVP_RSA_gen(2048);
    BIO *b = BIO_new(BIO_s_mem());
    char *pem = NULL, *jwt = NULL, err[128], *dot1, *dot2;
    unsigned char sig[512], *raw;
    size_t pem_len, sig_len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    (void)state;
    assert_non_null(key);
    assert_int_equal(PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL), 1);
    pem_len = (size_t)BIO_get_mem_data(b, &raw);
    pem = strndup((char *)raw, pem_len);
    assert_int_equal(
        lbp_jwt_rs256(pem, "kid-1",
                      "{\"iss\":\"sa@p.iam.gserviceaccount.com\",\"scope\":\"" GCE_SCOPE
                      "\",\"aud\":\"http://x/token\",\"iat\":1,\"exp\":3601}",
                      &jwt, err, sizeof(err)),
        LBP_OK);
    dot1 = strchr(jwt, '.');
    assert_non_null(dot1);
    dot2 = strchr(dot1 + 1, '.');
    assert_non_null(dot2);
    assert_null(strchr(jwt, '=')); /* base64url without padding */
    {
        /* decode the signature (base64url) and verify */
        const char *s = dot2 + 1;
        size_t n = strlen(s), k = 0;
        unsigned acc = 0;
        int bits = 0;
        for (size_t i = 0; i < n; i++) {
            const char *al = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
            const char *pos = strchr(al, s[i]);
            assert_non_null(pos);
            acc = (acc << 6) | (unsigned)(pos - al);
            bits += 6;
            if (bits >= 8) {
                bits -= 8;
                sig[k++] = (unsigned char)((acc >> bits) & 0xff);
            }
        }
        sig_len = k;
    }
    assert_int_equal(sig_len, 256);
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_equal(EVP_DigestVerify(md, sig, sig_len, (unsigned char *)jwt, (size_t)(dot2 - jwt)),
                     1);
    /* one flipped byte of the signed part fails */
    jwt[3] ^= 1;
    EVP_MD_CTX_reset(md);
    assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, key), 1);
    assert_int_not_equal(
        EVP_DigestVerify(md, sig, sig_len, (unsigned char *)jwt, (size_t)(dot2 - jwt)), 1);
    EVP_MD_CTX_free(md);
    free(jwt);
    free(pem);
    BIO_free(b);
    EVP_PKEY_free(key);
}

/* Metrics labels are Compute method names: bounded, never an object's name. */
static void t_method_names(void **state)
{
    static const struct {
        const char *method, *path, *want;
    } cases[] = {
        {"POST", "regions/us-central1/forwardingRules", "forwardingRules.insert"},
        {"GET", "regions/us-central1/forwardingRules/a0123456789abcdef", "forwardingRules.get"},
        {"DELETE", "regions/us-central1/forwardingRules/a0123?requestId=x",
         "forwardingRules.delete"},
        {"GET", "regions/us-central1/forwardingRules?filter=description%3Dx",
         "forwardingRules.list"},
        {"PUT", "global/firewalls/k8s-fw-a0123", "firewalls.update"},
        {"PATCH", "global/firewalls/k8s-fw-a0123", "firewalls.patch"},
        {"POST", "regions/us-central1/targetPools/a0123/addInstance", "targetPools.addInstance"},
        {"GET", "regions/us-central1/operations/operation-17-ab", "operations.get"},
        {"POST", "regions/us-central1/operations/operation-17-ab/wait", "operations.wait"},
        {"GET", "zones/us-central1-a/instances/node-1", "instances.get"},
        {"GET", "aggregated/forwardingRules?filter=x", "forwardingRules.aggregatedList"},
        {"GET", "global/httpHealthChecks", "httpHealthChecks.list"},
        {"GET", "", "GET"},
    };
    char out[80];
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        gce_method_name(cases[i].method, cases[i].path, out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(t_recorded),     cmocka_unit_test(t_recorded_objects),
        cmocka_unit_test(t_op_errors),    cmocka_unit_test(t_names),
        cmocka_unit_test(t_descriptions), cmocka_unit_test(t_conf),
        cmocka_unit_test(t_annotations),  cmocka_unit_test(t_jwt),
        cmocka_unit_test(t_method_names),
    };
    if (have_data(NULL) != 0) {
        /* the rules still run; the recorded answers are skipped */
        const struct CMUnitTest rules[] = {
            cmocka_unit_test(t_op_errors),    cmocka_unit_test(t_names),
            cmocka_unit_test(t_descriptions), cmocka_unit_test(t_conf),
            cmocka_unit_test(t_annotations),  cmocka_unit_test(t_jwt),
            cmocka_unit_test(t_method_names),
        };
        printf("no recorded GCE data at %s: those tests skipped\n", g_dir);
        return cmocka_run_group_tests(rules, NULL, NULL);
    }
    return cmocka_run_group_tests(tests, NULL, NULL);
}
