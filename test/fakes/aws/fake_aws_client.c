/*
 * fake_aws_client.c — see fake_aws_client.h. The fake prints
 * "listening on http://127.0.0.1:PORT" first; we read that line from a pipe
 * and leave the rest of its output on our stderr. HTTP goes through the
 * REST fakes' shared client (fake_client.h).
 */
#include "test/fakes/aws/fake_aws_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test/fakes/fake_client.h"
#include "test/fakes/fake_util.h"

#ifndef LBP_FAKE_AWS_BIN
#define LBP_FAKE_AWS_BIN "fake-aws"
#endif

int fake_aws_start(struct fake_aws *f, const char *const *extra)
{
    memset(f, 0, sizeof(*f));
    if (fake_spawn_listening(LBP_FAKE_AWS_BIN, extra, &f->pid, &f->port) != 0)
        return -1;
    snprintf(f->url, sizeof(f->url), "http://127.0.0.1:%d/", f->port);
    return 0;
}

void fake_aws_stop(struct fake_aws *f)
{
    fake_spawn_stop(&f->pid);
}

long fake_aws_req(struct fake_aws *f, const char *method, const char *path, const char *body,
                  char **resp)
{
    char url[512];
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", f->port, path);
    if (!body && strcmp(method, "POST") == 0)
        body = "{}";
    return fake_http(url, method, NULL, body, NULL, NULL, NULL, resp);
}

struct json_object *fake_aws_json(struct fake_aws *f, const char *path)
{
    char base[64];
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", f->port);
    return fake_http_json(base, path);
}

int fake_aws_count(struct fake_aws *f, const char *op)
{
    char base[64];
    long n;
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", f->port);
    n = fake_http_counter(base, "ops", op);
    return n > 0 ? (int)n : 0;
}

long fake_aws_counter(struct fake_aws *f, const char *name)
{
    struct json_object *c = fake_aws_json(f, "/_fake/counters"), *v;
    long n = -1;
    if (c && json_object_object_get_ex(c, name, &v))
        n = (long)json_object_get_int64(v);
    json_object_put(c);
    return n;
}

int fake_aws_reset_counters(struct fake_aws *f)
{
    return fake_aws_req(f, "POST", "/_fake/reset-counters", "{}", NULL) == 200 ? 0 : -1;
}

void fake_aws_env(struct fake_aws *f)
{
    setenv("AWS_ENDPOINT_URL", f->url, 1);
    setenv("AWS_ACCESS_KEY_ID", FAKE_AWS_AK, 1);
    setenv("AWS_SECRET_ACCESS_KEY", FAKE_AWS_SK, 1);
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_PROFILE");
    setenv("AWS_REGION", "us-east-1", 1);
    setenv("AWS_EC2_METADATA_DISABLED", "true", 1);
    /* Loopback only: never through a proxy the environment may name. */
    setenv("NO_PROXY", "127.0.0.1,localhost", 1);
    setenv("no_proxy", "127.0.0.1,localhost", 1);
}

int fake_aws_seed_cluster(struct fake_aws *f, const char *cluster, int n)
{
    struct json_object *seed = json_object_new_object(), *subnets = json_object_new_array(),
                       *sgs = json_object_new_array(), *inst = json_object_new_array(), *sg, *tags;
    static const char *const az[3] = {"us-east-1a", "us-east-1b", "us-east-1c"};
    char key[200], buf[64];
    int rc;
    snprintf(key, sizeof(key), "kubernetes.io/cluster/%s", cluster);
    for (int i = 0; i < 6; i++) {
        struct json_object *s = json_object_new_object();
        bool internal = i >= 3;
        snprintf(buf, sizeof(buf), "subnet-%s%d", internal ? "int" : "pub", i % 3);
        json_object_object_add(s, "id", json_object_new_string(buf));
        json_object_object_add(s, "vpc", json_object_new_string("vpc-1"));
        json_object_object_add(s, "az", json_object_new_string(az[i % 3]));
        snprintf(buf, sizeof(buf), "10.0.%d.0/24", i);
        json_object_object_add(s, "cidr", json_object_new_string(buf));
        tags = json_object_new_object();
        json_object_object_add(
            tags, internal ? "kubernetes.io/role/internal-elb" : "kubernetes.io/role/elb",
            json_object_new_string("1"));
        json_object_object_add(tags, key, json_object_new_string("shared"));
        json_object_object_add(s, "tags", tags);
        json_object_array_add(subnets, s);
    }
    sg = json_object_new_object();
    json_object_object_add(sg, "id", json_object_new_string("sg-nodes"));
    json_object_object_add(sg, "name", json_object_new_string("nodes"));
    json_object_object_add(sg, "vpc", json_object_new_string("vpc-1"));
    json_object_object_add(sg, "rules", json_object_new_array());
    tags = json_object_new_object();
    json_object_object_add(tags, key, json_object_new_string("owned"));
    json_object_object_add(sg, "tags", tags);
    json_object_array_add(sgs, sg);
    for (int i = 1; i <= n; i++) {
        struct json_object *o = json_object_new_object(), *g = json_object_new_array();
        snprintf(buf, sizeof(buf), "i-%017d", i);
        json_object_object_add(o, "id", json_object_new_string(buf));
        json_object_object_add(o, "vpc", json_object_new_string("vpc-1"));
        snprintf(buf, sizeof(buf), "subnet-pub%d", i % 3);
        json_object_object_add(o, "subnet", json_object_new_string(buf));
        json_object_object_add(o, "az", json_object_new_string(az[i % 3]));
        json_object_object_add(o, "state", json_object_new_string("running"));
        snprintf(buf, sizeof(buf), "ip-10-0-%d-%d.ec2.internal", i % 3, i);
        json_object_object_add(o, "private_dns", json_object_new_string(buf));
        json_object_array_add(g, json_object_new_string("sg-nodes"));
        json_object_object_add(o, "sgs", g);
        json_object_array_add(inst, o);
    }
    json_object_object_add(seed, "subnets", subnets);
    json_object_object_add(seed, "sgs", sgs);
    json_object_object_add(seed, "instances", inst);
    rc = fake_aws_req(f, "POST", "/_fake/seed",
                      json_object_to_json_string_ext(seed, JSON_C_TO_STRING_PLAIN), NULL) == 200
             ? 0
             : -1;
    json_object_put(seed);
    return rc;
}
