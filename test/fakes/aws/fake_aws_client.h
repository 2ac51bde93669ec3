/*
 * fake_aws_client.h — starting fake-aws from a test or benchmark, talking
 * to its /_fake/ control endpoint, and pointing the AWS provider at it
 * through the environment (AWS_ENDPOINT_URL, keys, region, IMDS off).
 */
#ifndef LBP_FAKE_AWS_CLIENT_H
#define LBP_FAKE_AWS_CLIENT_H

#include <json-c/json.h>
#include <sys/types.h>

#define FAKE_AWS_AK "AKIDFAKEAWS"
#define FAKE_AWS_SK "fake/secret/key/for/tests"

struct fake_aws {
    pid_t pid;
    int port;
    char url[64]; /* "http://127.0.0.1:PORT/" */
};

/* extra: NULL-terminated extra arguments or NULL. 0 on success. */
int fake_aws_start(struct fake_aws *f, const char *const *extra);
void fake_aws_stop(struct fake_aws *f);
/* HTTP status, -1 when no answer; *resp malloc'd (may be NULL). */
long fake_aws_req(struct fake_aws *f, const char *method, const char *path, const char *body,
                  char **resp);
/* GET path parsed as JSON (caller puts), NULL on failure. */
struct json_object *fake_aws_json(struct fake_aws *f, const char *path);
/* Calls to one operation since the last reset. */
int fake_aws_count(struct fake_aws *f, const char *op);
long fake_aws_counter(struct fake_aws *f, const char *name); /* "total", "throttled", ... */
int fake_aws_reset_counters(struct fake_aws *f);
/* Sets AWS_* so the provider talks to f with the fake's key. */
void fake_aws_env(struct fake_aws *f);
/*
 * Seeds a VPC with 3 zones (a public and an internal subnet each, role- and
 * cluster-tagged), a node security group tagged for the cluster, and
 * n instances i-00000000000000001... in it (round-robin over the zones).
 */
int fake_aws_seed_cluster(struct fake_aws *f, const char *cluster, int n_instances);

#endif
