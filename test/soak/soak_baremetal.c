/*
 * soak_baremetal.c — bare metal as the soak's cloud: `lbprov controller
 * --cloud baremetal` hands out pool addresses, and `lbprov speaker` on
 * every node answers ARP for the addresses its node wins.
 *
 * The soak moves itself into a network namespace of its own (the hub)
 * before anything starts, so the fake API server and both controller
 * replicas live there on its loopback; the hub holds a bridge (10.0.0.254/16)
 * with one veth to each node's namespace (node-i: eth0 10.0.0.i, MAC
 * 02:00:00:00:00:i, its speaker) and to a client namespace (10.0.0.250).
 * The fake API server listens on every hub address, so the speakers reach
 * it over the bridge. Nothing here is reachable from outside these
 * namespaces.
 *
 * The judge is the wire: an AF_PACKET socket opened in the client
 * namespace sends a real ARP request (RFC 826, built here byte by byte)
 * for every address a Service holds or ever held, and counts the distinct
 * MACs that reply to it. A live Service's "load balancer" is its address
 * answered by exactly one node; an address no live Service holds that is
 * still answered is a leak. Faults on top of the API's: a random speaker
 * is SIGKILLed every 10 s and restarted 2 s later.
 */
#include "test/soak/soak.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <uthash.h>

#include "common/util.h"
#include "test/integration/harness.h"

#define MAX_NODES 60
#define HUB_ADDR "10.0.0.254"
#define CLIENT_ADDR "10.0.0.250"
#define CLIENT_MAC_LAST 0xfa
#define POOL "10.0.64.0/18" /* inside the LAN's /16: the speakers answer on eth0 */
#define SPEAKER_NS "lbprov-system"
#define KILL_EVERY_MS 10000
#define DOWN_MS 2000
#define REPLY_WAIT_MS 700

struct speaker {
    pid_t pid;
    uint64_t down_until; /* killed by the soak: restart then (0: not down) */
    char log[600];
};

static char g_ip[64], g_pfx[32], g_cfg[600], g_kc[600];
static int g_nodes, g_arp = -1, g_ifindex;
static bool g_made;                         /* namespaces exist (to be removed) */
static struct speaker g_spk[MAX_NODES + 1]; /* 1-based, as the nodes */
static const char *g_logs[MAX_NODES + 1];
static unsigned g_rand = 1;
static uint64_t g_next_kill;
static long n_kills, n_crashes, n_probes, n_replies;

/* One shell command (our own words only); its exit status, -1 when it did not run. */
__attribute__((format(printf, 1, 2))) static int sh(const char *fmt, ...)
{
    char cmd[2048];
    va_list ap;
    int st;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    st = system(cmd);
    if (st != 0)
        fprintf(stderr, "soak: `%s` failed (status %d)\n", cmd, st);
    return st == -1 || !WIFEXITED(st) ? -1 : WEXITSTATUS(st);
}

/* A host namespace on the hub's bridge: <pfx><name>, eth0 at addr with MAC ...:last. */
static int add_host(const char *name, const char *addr, int last)
{
    return sh("%1$s netns add %2$s%3$s && %1$s -n %2$s%3$s link set lo up && "
              "%1$s link add v%3$s type veth peer name eth0 netns %2$s%3$s && "
              "%1$s -n %2$s%3$s link set eth0 address 02:00:00:00:00:%4$02x && "
              "%1$s link set v%3$s master br0 up && "
              "%1$s -n %2$s%3$s addr add %5$s/16 dev eth0 && %1$s -n %2$s%3$s link set eth0 up",
              g_ip, g_pfx, name, last, addr);
}

/* The ARP socket, made inside the client's namespace (a socket keeps the namespace it was
 * made in) and bound to its eth0. */
static int open_arp(void)
{
    char path[128];
    int self = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC), client, rc = -1, big = 4 << 20;
    struct sockaddr_ll ll = {.sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ARP)};
    snprintf(path, sizeof(path), "/run/netns/%sclient", g_pfx);
    client = open(path, O_RDONLY | O_CLOEXEC);
    if (self < 0 || client < 0 || setns(client, CLONE_NEWNET) != 0)
        goto out;
    g_arp = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP));
    g_ifindex = (int)if_nametoindex("eth0");
    if (setns(self, CLONE_NEWNET) != 0) {
        fprintf(stderr, "soak: cannot return to the hub namespace\n");
        exit(1);
    }
    ll.sll_ifindex = g_ifindex;
    if (g_arp < 0 || !g_ifindex || bind(g_arp, (struct sockaddr *)&ll, sizeof(ll)) != 0)
        goto out;
    setsockopt(g_arp, SOL_SOCKET, SO_RCVBUF, &big, sizeof(big));
    rc = 0;
out:
    if (self >= 0)
        close(self);
    if (client >= 0)
        close(client);
    return rc;
}

static int bm_prepare(const char *dir, int n_nodes)
{
    static const char *const ips[] = {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"};
    char name[16], addr[32];
    (void)dir;
    if (geteuid() != 0) {
        fprintf(stderr, "soak: bare metal needs root (network namespaces, raw sockets)\n");
        return 77;
    }
    for (size_t i = 0; i < sizeof(ips) / sizeof(ips[0]) && !g_ip[0]; i++)
        if (access(ips[i], X_OK) == 0)
            snprintf(g_ip, sizeof(g_ip), "%s", ips[i]);
    if (!g_ip[0] || n_nodes > MAX_NODES) {
        fprintf(stderr, "soak: bare metal needs iproute2 (ip) and at most %d nodes\n", MAX_NODES);
        return 77;
    }
    snprintf(g_pfx, sizeof(g_pfx), "lbps%d-", (int)getpid());
    if (sh("%1$s netns add %2$sprobe && %1$s netns del %2$sprobe", g_ip, g_pfx) != 0 ||
        unshare(CLONE_NEWNET) != 0) {
        fprintf(stderr, "soak: network namespaces do not work here\n");
        return 77;
    }
    g_nodes = n_nodes;
    g_made = true;
    if (sh("%1$s link set lo up && %1$s link add br0 type bridge && "
           "%1$s addr add " HUB_ADDR "/16 dev br0 && %1$s link set br0 up",
           g_ip) != 0)
        return -1;
    for (int i = 1; i <= n_nodes; i++) {
        snprintf(name, sizeof(name), "n%d", i);
        snprintf(addr, sizeof(addr), "10.0.0.%d", i);
        if (add_host(name, addr, i) != 0)
            return -1;
    }
    if (add_host("client", CLIENT_ADDR, CLIENT_MAC_LAST) != 0 || open_arp() != 0)
        return -1;
    return 0;
}

static void start_speaker(int i)
{
    char ns[64], node[16];
    snprintf(ns, sizeof(ns), "%sn%d", g_pfx, i);
    snprintf(node, sizeof(node), "node-%d", i);
    const char *argv[] = {g_ip,
                          "netns",
                          "exec",
                          ns,
                          lbp_test_lbprov_bin(),
                          "speaker",
                          "--node-name",
                          node,
                          "--kubeconfig",
                          g_kc,
                          "--namespace",
                          SPEAKER_NS,
                          "--pool-config",
                          g_cfg,
                          "--http-bind-address",
                          "127.0.0.1:7472",
                          NULL};
    g_spk[i].pid = lbp_test_spawn((char *const *)argv, g_spk[i].log);
    g_spk[i].down_until = 0;
}

static int bm_start(const char *dir, const char *cluster, int n_nodes, const char *cfg_path)
{
    FILE *f;
    long code;
    (void)cluster;
    snprintf(g_cfg, sizeof(g_cfg), "%s", cfg_path);
    snprintf(g_kc, sizeof(g_kc), "%s/speaker.kubeconfig", dir);
    if (!(f = fopen(cfg_path, "w")))
        return -1;
    fprintf(f, "pools:\n  - name: soak\n    addresses: [" POOL "]\n");
    if (fclose(f) != 0 || soak_api_kubeconfig(HUB_ADDR, g_kc) != 0)
        return -1;
    code = soak_api_do("POST", "/api/v1/namespaces", "application/json",
                       "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":"
                       "\"" SPEAKER_NS "\"}}",
                       NULL);
    if (code != 201 && code != 409)
        return -1;
    for (int i = 1; i <= n_nodes; i++) {
        snprintf(g_spk[i].log, sizeof(g_spk[i].log), "%s/speaker-%d.log", dir, i);
        g_logs[i - 1] = g_spk[i].log;
        start_speaker(i);
    }
    g_rand = (unsigned)getpid();
    g_next_kill = lbp_now_ms() + KILL_EVERY_MS;
    return 0;
}

static void bm_stop(void)
{
    for (int i = 1; i <= g_nodes; i++)
        if (g_spk[i].pid > 0) {
            lbp_test_stop(g_spk[i].pid, SIGKILL, 5000);
            g_spk[i].pid = 0;
        }
    if (g_arp >= 0)
        close(g_arp);
    g_arp = -1;
    if (!g_made)
        return;
    for (int i = 1; i <= g_nodes; i++)
        sh("%s netns del %sn%d", g_ip, g_pfx, i);
    sh("%s netns del %sclient 2>/dev/null", g_ip, g_pfx);
    g_made = false;
}

/* Bare-metal nodes have no providerID; targets are not compared (addr_only). */
static void bm_provider_id(int i, char *out, size_t cap)
{
    (void)i;
    snprintf(out, cap, "%s", "");
}

static void bm_target_id(int i, char *out, size_t cap)
{
    snprintf(out, cap, "node-%d", i);
}

/* There is no cloud API to fail: the faults are the API server's and the speaker kills. */
static int bm_faults(bool on, unsigned seed)
{
    (void)on;
    g_rand = seed ? seed : g_rand;
    return 0;
}

/* Every Service is served on every node (one ready endpoint each), so every live speaker is a
 * candidate for every address. */
static void bm_created(const char *svc)
{
    char body[8192];
    size_t off = 0;
    off += (size_t)snprintf(body, sizeof(body),
                            "{\"apiVersion\":\"discovery.k8s.io/v1\",\"kind\":\"EndpointSlice\","
                            "\"metadata\":{\"name\":\"%s-soak\",\"namespace\":\"default\","
                            "\"labels\":{\"kubernetes.io/service-name\":\"%s\"}},"
                            "\"addressType\":\"IPv4\",\"endpoints\":[",
                            svc, svc);
    for (int i = 1; i <= g_nodes && off < sizeof(body); i++)
        off += (size_t)snprintf(body + off, sizeof(body) - off,
                                "%s{\"addresses\":[\"10.1.%d.1\"],\"nodeName\":\"node-%d\","
                                "\"conditions\":{\"ready\":true}}",
                                i > 1 ? "," : "", i, i);
    if (off < sizeof(body))
        snprintf(body + off, sizeof(body) - off, "]}");
    long code = soak_api_do("POST", "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices",
                            "application/json", body, NULL);
    if (code != 201 && code != 409)
        fprintf(stderr, "soak: EndpointSlice for %s: HTTP %ld\n", svc, code);
}

/* Speakers that ended on their own are crashes (restarted); killed ones come back on time. */
static void bm_tick(bool faults)
{
    uint64_t now = lbp_now_ms();
    for (int i = 1; i <= g_nodes; i++) {
        int st;
        if (g_spk[i].pid > 0 && waitpid(g_spk[i].pid, &st, WNOHANG) == g_spk[i].pid) {
            n_crashes++;
            fprintf(stderr,
                    "soak: speaker on node-%d ended unexpectedly (status 0x%x); restarting\n", i,
                    st);
            start_speaker(i);
        } else if (g_spk[i].pid <= 0 && (!faults || now >= g_spk[i].down_until)) {
            start_speaker(i);
        }
    }
    if (!faults || now < g_next_kill)
        return;
    g_next_kill = now + KILL_EVERY_MS;
    int i = 1 + (int)((unsigned)rand_r(&g_rand) % (unsigned)g_nodes);
    if (g_spk[i].pid <= 0)
        return;
    kill(g_spk[i].pid, SIGKILL);
    waitpid(g_spk[i].pid, NULL, 0);
    g_spk[i].pid = 0;
    g_spk[i].down_until = now + DOWN_MS;
    n_kills++;
    fprintf(stderr, "soak: SIGKILL speaker on node-%d (back in %d ms)\n", i, DOWN_MS);
}

/* ---- ARP, as a client on the LAN sees it ---- */

struct vip {
    char addr[64];
    uint32_t ip;    /* network order */
    char owner[40]; /* the live Service's LB name holding it, "" when none */
    int n_macs;
    unsigned char macs[8][6];
    UT_hash_handle hh;
};

static void vip_add(struct vip **set, const char *addr, const char *owner)
{
    struct vip *v;
    struct in_addr a;
    if (inet_pton(AF_INET, addr, &a) != 1 || strlen(addr) >= sizeof(v->addr))
        return;
    HASH_FIND(hh, *set, &a.s_addr, sizeof(a.s_addr), v);
    if (!v) {
        if (!(v = calloc(1, sizeof(*v))))
            return;
        snprintf(v->addr, sizeof(v->addr), "%s", addr);
        v->ip = a.s_addr;
        HASH_ADD(hh, *set, ip, sizeof(v->ip), v);
    }
    if (owner)
        snprintf(v->owner, sizeof(v->owner), "%s", owner);
}

static void seen_cb(const char *addr, void *ctx)
{
    vip_add(ctx, addr, NULL);
}

/* RFC 826 request from the client: who has ip? */
static void send_request(uint32_t ip)
{
    unsigned char f[28] = {0, 1, 8, 0, 6, 4, 0, 1, 2, 0, 0, 0, 0, CLIENT_MAC_LAST};
    struct sockaddr_ll to = {.sll_family = AF_PACKET,
                             .sll_protocol = htons(ETH_P_ARP),
                             .sll_ifindex = g_ifindex,
                             .sll_halen = 6,
                             .sll_addr = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
    inet_pton(AF_INET, CLIENT_ADDR, f + 14); /* sender IP; target MAC stays zero */
    memcpy(f + 24, &ip, 4);
    if (sendto(g_arp, f, sizeof(f), 0, (struct sockaddr *)&to, sizeof(to)) == (ssize_t)sizeof(f))
        n_probes++;
}

/* Reads what has arrived: replies to the client, counted per address and sender MAC. */
static void read_replies(struct vip *set)
{
    unsigned char f[64], client_ip[4];
    static const unsigned char hdr[8] = {0, 1, 8, 0, 6, 4, 0, 2};
    static const unsigned char client_mac[6] = {2, 0, 0, 0, 0, CLIENT_MAC_LAST};
    ssize_t n;
    inet_pton(AF_INET, CLIENT_ADDR, client_ip);
    while ((n = recv(g_arp, f, sizeof(f), MSG_DONTWAIT)) >= 0) {
        struct vip *v;
        uint32_t ip;
        bool known = false;
        /* A reply (oper 2) to our request: target = the client. Gratuitous ones are not. */
        if (n < 28 || memcmp(f, hdr, 8) || memcmp(f + 18, client_mac, 6) ||
            memcmp(f + 24, client_ip, 4))
            continue;
        memcpy(&ip, f + 14, 4);
        HASH_FIND(hh, set, &ip, sizeof(ip), v);
        if (!v)
            continue;
        n_replies++;
        for (int k = 0; k < v->n_macs && !known; k++)
            known = !memcmp(v->macs[k], f + 8, 6);
        if (!known && v->n_macs < 8)
            memcpy(v->macs[v->n_macs++], f + 8, 6);
    }
}

static void probe(struct vip *set)
{
    struct vip *v, *tmp;
    struct pollfd p = {.fd = g_arp, .events = POLLIN};
    int batch = 0;
    uint64_t end;
    read_replies(NULL); /* what came before (gratuitous announcements) is not an answer */
    HASH_ITER(hh, set, v, tmp)
    {
        send_request(v->ip);
        if (++batch % 64 == 0) { /* paced: a speaker's socket buffer is finite */
            usleep(5000);
            read_replies(set);
        }
    }
    end = lbp_now_ms() + REPLY_WAIT_MS;
    for (uint64_t now = lbp_now_ms(); now < end; now = lbp_now_ms()) {
        if (poll(&p, 1, (int)(end - now)) > 0)
            read_replies(set);
    }
}

static void mac_node(const unsigned char *mac, char *out, size_t cap)
{
    if (!memcmp(mac, "\x02\0\0\0\0", 5) && mac[5] >= 1 && mac[5] <= g_nodes)
        snprintf(out, cap, "node-%d", mac[5]);
    else
        snprintf(out, cap, "%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3], mac[4],
                 mac[5]);
}

/*
 * The live Services' addresses, those of Services being deleted, and every
 * address ever seen, each asked for once. A live Service's LB is its address
 * when exactly one node answers; an answered address without a live Service
 * is a leak.
 */
static int bm_snapshot(json_object *unused, struct soak_cloud_state *s)
{
    json_object *list = soak_api_json("/api/v1/namespaces/default/services"), *items;
    struct vip *set = NULL, *v, *tmp;
    int rc = -1;
    (void)unused;
    if (!list || g_arp < 0)
        goto out;
    items = soak_jget(list, "items");
    for (size_t i = 0; i < soak_jlen(items); i++) {
        json_object *svc = json_object_array_get_idx(items, i), *meta = soak_jget(svc, "metadata");
        char lb[40];
        soak_lb_name(soak_jstr(meta, "uid"), lb, sizeof(lb));
        vip_add(&set, soak_ingress(svc), soak_jget(meta, "deletionTimestamp") ? NULL : lb);
    }
    soak_seen_addresses(seen_cb, &set);
    probe(set);
    HASH_ITER(hh, set, v, tmp)
    {
        char what[200], who[32];
        struct soak_lb *lb;
        if (v->owner[0]) {
            if (v->n_macs == 1)
                lb = soak_cloud_state_add(s, v->owner, v->addr);
            else {
                snprintf(what, sizeof(what), "%s answered by %d nodes", v->addr, v->n_macs);
                lb = soak_cloud_state_add(s, v->owner, what);
            }
            if (!lb)
                goto out;
            lb->addr_only = true;
        } else if (v->n_macs) {
            mac_node(v->macs[0], who, sizeof(who));
            snprintf(what, sizeof(what), "address %s answered by %s", v->addr, who);
            if (soak_cloud_state_own(s, what, "") != 0)
                goto out;
        }
    }
    rc = 0;
out:
    HASH_ITER(hh, set, v, tmp)
    {
        HASH_DEL(set, v);
        free(v);
    }
    json_object_put(list);
    return rc;
}

static int bm_counts(json_object *unused, struct soak_cloud_counts *c)
{
    (void)unused;
    c->calls = n_probes;
    c->faults = n_kills;
    c->lost_replies = 0;
    return 0;
}

/* SIGTERM to every speaker: each must exit 0 (sanitizers included). */
static long bm_finish(void)
{
    long bad = n_crashes;
    for (int i = 1; i <= g_nodes; i++) {
        int st;
        if (g_spk[i].pid <= 0)
            continue;
        st = lbp_test_stop(g_spk[i].pid, SIGTERM, 10000);
        g_spk[i].pid = 0;
        if (st != 0) {
            bad++;
            fprintf(stderr, "soak: speaker on node-%d: SIGTERM exit status %d\n", i, st);
        }
    }
    return bad;
}

static const char *const *bm_logs(void)
{
    return g_logs;
}

static void bm_report(void)
{
    /* "cloud API calls" above are the ARP requests, its faults the speaker SIGKILLs. */
    printf("speaker crashes                 %ld\n", n_crashes);
    printf("ARP replies counted             %ld\n", n_replies);
}

static const char *const bm_secrets[] = {NULL};
#define bm_fetch NULL /* no fake to read: the state is the API's and the LAN's */

const struct soak_cloud soak_cloud_baremetal = {.name = "baremetal",
                                                SOAK_CLOUD_OPS(bm),
                                                SOAK_CLOUD_HOOKS(bm),
                                                .secrets = bm_secrets,
                                                .api_bind = "0.0.0.0",
                                                .no_source_ranges = true};
