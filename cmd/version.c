/*
 * version.c — `lbprov version`: the version and what the binary was built
 * with (compiler, the versions of libcurl, OpenSSL and json-c it runs
 * against, the clouds compiled in). -o json prints the same as one object
 * for scripts.
 */
#include "cmd/cmd.h"
#include "cmd/flags.h"
#include "cmd/observe.h"
#include "provider/provider.h"

#include <curl/curl.h>
#include <getopt.h>
#include <json-c/json.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: lbprov version [flags]\n\n"
               "Prints the version, the compiler, the libcurl, OpenSSL and json-c versions in use\n"
               "and the clouds built in.\n\n"
               "  -o, --output text|json   (default text)\n"
               "  -h, --help\n\n"
               "The Kubernetes client flags every subcommand takes (--kubeconfig, --context,\n"
               "--master, --kube-api-qps, --kube-api-burst) are accepted and checked, but\n"
               "version does not contact the API server.\n");
}

int lbp_cmd_version(int argc, char **argv)
{
    static const struct option opts[] = {
        LBP_KUBE_LONG_OPTIONS,
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const curl_version_info_data *cv = curl_version_info(CURLVERSION_NOW);
    struct lbp_kube_config_opts kopts = {0};
    struct lbp_kube_client_opts copts = {0};
    bool json = false;
    int opt;

    /* the same command line as the other subcommands works here */
    struct lbp_flag_parser fp;
    lbp_flag_start(&fp, "version", argc, argv, ":o:h", opts, &kopts, &copts, usage);
    while ((opt = lbp_flag_next(&fp)) != LBP_FLAG_DONE) {
        switch (opt) {
        case LBP_FLAG_EXIT:
            return fp.status;
        case 'o':
            if (strcmp(optarg, "json") == 0)
                json = true;
            else if (strcmp(optarg, "text") != 0) {
                return lbp_flag_bad("version", "-o", optarg, "text or json");
            }
            break;
        }
    }
    if (json) {
        json_object *o = json_object_new_object(), *clouds = json_object_new_array();
        json_object_object_add(o, "version", json_object_new_string(LBP_VERSION));
        json_object_object_add(o, "compiler", json_object_new_string(lbp_observe_compiler()));
        json_object_object_add(o, "libcurl", json_object_new_string(cv->version));
        json_object_object_add(o, "openssl",
                               json_object_new_string(OpenSSL_version(OPENSSL_VERSION)));
        json_object_object_add(o, "jsonc", json_object_new_string(json_c_version()));
        for (size_t i = 0; lbp_providers[i]; i++)
            json_object_array_add(clouds, json_object_new_string(lbp_providers[i]->name));
        json_object_object_add(o, "clouds", clouds);
        printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
                                                             JSON_C_TO_STRING_NOSLASHESCAPE));
        json_object_put(o);
        return 0;
    }
    printf("lbprov %s\n", LBP_VERSION);
    printf("compiler: %s\n", lbp_observe_compiler());
    printf("libcurl:  %s (%s)\n", cv->version, cv->ssl_version ? cv->ssl_version : "no TLS");
    printf("OpenSSL:  %s\n", OpenSSL_version(OPENSSL_VERSION));
    printf("json-c:   %s\n", json_c_version());
    printf("clouds:  ");
    for (size_t i = 0; lbp_providers[i]; i++)
        printf(" %s", lbp_providers[i]->name);
    printf("\n");
    return 0;
}
