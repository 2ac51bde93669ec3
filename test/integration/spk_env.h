/*
 * spk_env.h — shared set-up for the speaker integration tests: a fake API
 * server with three Nodes (InternalIPs on loopback, one address each, so
 * three speakers on one host have a heartbeat socket each), a pool file,
 * and `lbprov speaker --dry-run` processes whose owned sets are read from
 * /debug/owned.
 */
#ifndef LBP_TEST_SPK_ENV_H
#define LBP_TEST_SPK_ENV_H

#include "test/integration/harness.h"

#include <json-c/json.h>
#include <stdbool.h>

#define SPK_NODES 3
#define SPK_MAX_VIPS 16

struct spk {
    char node[16];
    pid_t pid;
    int port;
    char log[400];
    char kubeconfig[400]; /* "" : the fake's own */
};

struct spk_env {
    struct lbp_fake_api api;
    char pools[400];
    int hb_port;
    unsigned char net; /* nodes are 127.<net>.0.1x */
    struct spk sp[SPK_NODES];
};

extern struct spk_env env;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
            spk_env_dump(&env);                                                                    \
            spk_env_stop(&env);                                                                    \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Fake API, namespace lbprov-system, nodes n1..n3, the pool file. */
void spk_env_init(struct spk_env *e);
void spk_env_stop(struct spk_env *e);
void spk_env_dump(struct spk_env *e);
/* Starts speaker i (0-based) and waits for its HTTP port. */
void spk_start(struct spk_env *e, int i);

long spk_api(struct spk_env *e, const char *method, const char *path, const char *ctype,
             const char *body, json_object **out);
/* A LoadBalancer Service in default with ingress ip and etp ("Cluster"/"Local"). */
void spk_service(struct spk_env *e, const char *name, const char *ip, const char *etp);
/* Its EndpointSlice: one ready endpoint per node named in nodes (NULL-terminated; may be empty). */
void spk_endpoints(struct spk_env *e, const char *name, const char *const *nodes);

/* Writes a kubeconfig for http://127.0.0.1:port to path. */
void spk_kubeconfig(const char *path, int port);

/* The rendezvous winner among the speakers whose bit is set in mask: lowest
 * SHA-256("node#ip"), computed here independently of the code under test. */
int spk_expected_owner(struct spk_env *e, const char *ip, unsigned mask);

/* Which speaker owns ip: its index, -1 when none, -2 when several; reads every live speaker. */
int spk_owner(struct spk_env *e, const char *ip);
/* The same for n addresses at once (one request per speaker). */
void spk_owners(struct spk_env *e, const char *const *ips, size_t n, int *out);
/* /debug/owned of speaker i (caller puts), or NULL. */
json_object *spk_debug(struct spk_env *e, int i);
/* The Lease's holderIdentity ("" when released, "-" when absent). */
/* Waits up to 10 s for node index WANT (-1: none) to own ip; CHECK fails otherwise. */
void spk_expect_owner(const char *ip, int want);
/* Services svc0..svc<n-1> with the given VIPs, Cluster policy, endpoints on every node. */
void spk_services_everywhere(struct spk_env *e, const char *const *vips, int n);
/* Whether a UDP port on loopback is free now (heartbeats use one). */
bool spk_udp_port_free(int port);
void spk_lease_holder(struct spk_env *e, const char *node, char *out, size_t len);

#endif
