/* version.c — `lbprov version`: version, compiler and the clouds built in. */
#include "cmd/cmd.h"
#include "provider/provider.h"

#include <curl/curl.h>
#include <stdio.h>

int lbp_cmd_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("lbprov %s\n", LBP_VERSION);
    printf("built with %s, %s\n", __VERSION__, curl_version());
    printf("clouds:");
    for (size_t i = 0; lbp_providers[i]; i++)
        printf(" %s", lbp_providers[i]->name);
    printf("\n");
    return 0;
}
