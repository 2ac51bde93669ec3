/*
 * fake_cs_client.h — starting fake-cloudstack from a test or benchmark and
 * talking to its /_fake/ control endpoint (state, counters, faults, config,
 * VMs). API calls are the caller's business: the fake checks signatures,
 * so whoever calls /client/api signs with its own code.
 */
#ifndef LBP_FAKE_CS_CLIENT_H
#define LBP_FAKE_CS_CLIENT_H

#include <json-c/json.h>
#include <sys/types.h>

#define FAKE_CS_API_KEY "fake-cloudstack-api-key"
#define FAKE_CS_SECRET_KEY "fake-cloudstack-secret-key"
/* The seeded objects' ids (see README.md). */
#define FAKE_CS_ZONE_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000001"
#define FAKE_CS_NETWORK_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000010"
#define FAKE_CS_VPC_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000020"
#define FAKE_CS_TIER_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000021"
#define FAKE_CS_ACLLIST_ID "6b2a1f0e-1c3d-4e5f-8a9b-000000000030"

struct fake_cs {
    pid_t pid;
    int port;
    char api_url[80]; /* "http://127.0.0.1:PORT/client/api" */
};

/* extra: NULL-terminated extra arguments or NULL. 0 on success. */
int fake_cs_start(struct fake_cs *f, const char *const *extra);
/* SIGTERM and reap; returns the exit status (-1 if it did not exit cleanly). */
int fake_cs_stop(struct fake_cs *f);
/* A request to path ("/_fake/state", "/client/api?..."); HTTP status or -1 (no reply). */
long fake_cs_req(struct fake_cs *f, const char *method, const char *path, const char *content_type,
                 const char *body, char **resp);
/* GET path as JSON (caller puts), NULL on failure. */
struct json_object *fake_cs_json(struct fake_cs *f, const char *path);
/* POST a JSON body to a control path; 0 when the fake answered 200. */
int fake_cs_post(struct fake_cs *f, const char *path, const char *json);
/* Calls of one command since the last counter reset. */
int fake_cs_count(struct fake_cs *f, const char *command);

#endif
