/*
 * fake_gce_client.h — starting fake-gce from a test or benchmark and
 * talking to it over loopback: raw HTTP (any path, any headers, so callers
 * bring their own Authorization), its /_fake/ control endpoint, the call
 * counters and the object count that shows leaks.
 */
#ifndef LBP_FAKE_GCE_CLIENT_H
#define LBP_FAKE_GCE_CLIENT_H

#include <json-c/json.h>

#include "test/fakes/fake_client.h"

struct fake_gce {
    struct fake_proc proc; /* url, temp dir, log (dir/fake-gce.log) */
    char key_file[128];    /* dir/key.json, from --write-credentials */
};

struct fake_gce_resp {
    long status; /* -1 when no answer came */
    char *body;  /* NUL-terminated, "" when empty */
    char www_authenticate[256];
    char metadata_flavor[32];
};

/* Starts fake-gce on a free loopback port with extra (NULL-terminated, or NULL) arguments. */
int fake_gce_start(struct fake_gce *f, const char *const *extra);
/* SIGTERM, reap, remove the temp dir; the exit status (non-zero: the log went to stderr). */
int fake_gce_stop(struct fake_gce *f);
/* One request; headers NULL-terminated or NULL; content_type NULL means JSON. */
long fake_gce_req(struct fake_gce *f, const char *method, const char *path,
                  const char *content_type, const char *body, const char *const *headers,
                  struct fake_gce_resp *out);
void fake_gce_resp_free(struct fake_gce_resp *r);
/* POST (body non-NULL) or GET a /_fake/ path; the status. */
long fake_gce_control(struct fake_gce *f, const char *path, const char *body);
/* GET a /_fake/ path parsed as JSON (caller puts), NULL on failure. */
struct json_object *fake_gce_json(struct fake_gce *f, const char *path);
/* Compute calls counted as "METHOD collection[/verb]", e.g. "POST targetPools/addInstance". */
long fake_gce_calls(struct fake_gce *f, const char *call);
/* Objects a client made and did not delete (-1 on failure). */
long fake_gce_objects(struct fake_gce *f);
/* Objects in /_fake/state other than the seeded VMs, each named on stderr (-1 on failure). */
long fake_gce_leftovers(struct fake_gce *f);

#endif
