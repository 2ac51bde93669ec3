/*
 * fake_azure_client.h — starting fake-azure from a test or benchmark and
 * talking to it over loopback: raw HTTP (any path, any headers, so callers
 * bring their own Authorization), an ARM token by client credentials, the
 * /_fake/ control endpoint, the call counters and the object count that
 * shows leaks.
 */
#ifndef LBP_FAKE_AZURE_CLIENT_H
#define LBP_FAKE_AZURE_CLIENT_H

#include <json-c/json.h>

#include "test/fakes/fake_client.h"

/* The defaults fake-azure starts with. */
#define FAKE_AZURE_TENANT "11111111-1111-1111-1111-111111111111"
#define FAKE_AZURE_CLIENT_ID "22222222-2222-2222-2222-222222222222"
#define FAKE_AZURE_CLIENT_SECRET "fake-azure-client-secret"
#define FAKE_AZURE_SUBSCRIPTION "00000000-0000-0000-0000-000000000000"

struct fake_azure {
    struct fake_proc proc; /* url, temp dir, log (dir/fake-azure.log) */
    char fed_key[128];     /* dir/issuer.pem: the federated issuer's private key */
    char fed_token[128];   /* dir/token.jwt: a workload token AAD accepts */
};

struct fake_azure_resp {
    long status; /* -1 when no answer came */
    char *body;  /* NUL-terminated, "" when empty */
    char async_op[600];
    char location[600];
    char retry_after[32];
    char etag[96];
    char www_authenticate[400];
    char reads_left[32], writes_left[32], deletes_left[32];
};

/* Starts fake-azure on a free loopback port with extra (NULL-terminated, or NULL) arguments. */
int fake_azure_start(struct fake_azure *f, const char *const *extra);
/* SIGTERM, reap, remove the temp dir; the exit status (non-zero: the log went to stderr). */
int fake_azure_stop(struct fake_azure *f);
/* One request; headers NULL-terminated or NULL; content_type NULL means JSON. */
long fake_azure_req(struct fake_azure *f, const char *method, const char *path,
                    const char *content_type, const char *body, const char *const *headers,
                    struct fake_azure_resp *out);
void fake_azure_resp_free(struct fake_azure_resp *r);
/* An ARM token for the default client credentials into out (cap bytes); 0 or -1. */
int fake_azure_token(struct fake_azure *f, char *out, size_t cap);
/* POST (body non-NULL) or GET a /_fake/ path; the status. */
long fake_azure_control(struct fake_azure *f, const char *path, const char *body);
/* GET a /_fake/ path parsed as JSON (caller puts), NULL on failure. */
struct json_object *fake_azure_json(struct fake_azure *f, const char *path);
/* ARM calls counted as "METHOD type", e.g. "PUT loadBalancers", "LIST publicIPAddresses". */
long fake_azure_calls(struct fake_azure *f, const char *call);
/* Answers with this HTTP status so far. */
long fake_azure_statuses(struct fake_azure *f, int status);
/* Objects a client made and did not delete (-1 on failure). */
long fake_azure_objects(struct fake_azure *f);

#endif
