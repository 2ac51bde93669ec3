/*
 * daemon.c — the speaker's control plane: membership, heartbeats, ownership
 * and fail-static (the design is argued in speaker/README.md).
 *
 * Threads:
 *   loop     poll() on the heartbeat sockets and an eventfd, at most every
 *            TICK_MS: sends heartbeats, takes in peers' heartbeats and ICMP
 *            port-unreachable errors (IP_RECVERR), notices liveness changes,
 *            and recomputes the owned set when anything it depends on moved.
 *            It is the only thread that calls the announcer.
 *   lease    creates and renews lbprov-speaker-<node> every lease_renew_ms.
 *   metallb  re-lists IPAddressPools/L2Advertisements every metallb_poll_ms
 *            (404: not installed) and swaps the pool set.
 * Informer handlers only update membership or set a dirty flag and poke the
 * eventfd.
 *
 * Fail-static: the owned set is recomputed only while our view of the API is
 * current — caches synced, our own latest renewal seen back through the
 * Lease watch, and, after an outage, one more lease_duration so the peers'
 * renewals have been seen again. Otherwise what we announce stays exactly
 * as it was, with one exception: when our own Lease has run out while a peer
 * tells us (in its heartbeat) that its API access works, we are the
 * partitioned node, the others have taken our VIPs, and we stop announcing
 * them.
 */
#include "speaker/speaker.h"
#include "speaker/heartbeat.h"

#include "common/buf.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/rc.h"
#include "common/util.h"
#include "kube/kube.h"
#include "pools/api.h"
#include "pools/pools.h"

#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <linux/errqueue.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <netinet/ip_icmp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <uthash.h>

#define LEASE_PREFIX "lbprov-speaker-"
#define TICK_MS 50
#define MAX_PEERS 4096
#define SYNC_WAIT_MS 200
#define RENEW_SLACK_MS 500 /* how late a renewal may be before we stop trusting our view */

struct owned {
    char *ip;
    char *svc; /* ns/name */
};

struct peer_addr {
    char *node;
    struct sockaddr_storage sa;
    socklen_t len;
};

struct lbp_speaker {
    struct lbp_speaker_opts o;
    char *lease_name;
    char *pool_yaml;

    struct lbp_members *members;
    struct lbp_informer *svc_inf, *node_inf, *eps_inf, *lease_inf;

    pthread_mutex_t pools_mu; /* guards pools, pool_yaml, pool_gen; held through a recompute */
    uint64_t pool_gen;        /* bumped when pool_yaml is replaced (SIGHUP) */
    pthread_mutex_t mu;       /* guards everything below but pools */
    pthread_cond_t cv;
    bool stopping, leaving;
    struct lbp_pool_set *pools;
    bool pools_fresh;     /* the first MetalLB poll is done */
    uint64_t lease_ok_ms; /* last successful write of our Lease (monotonic); 0 = never */
    uint64_t own_seen_ms; /* last time a renewal of ours came back through the watch */
    int64_t own_seen_renew_us;
    bool lease_last_ok;      /* the last write attempt succeeded */
    struct lbp_lease *lease; /* our Lease as last written */
    bool api_ok, frozen, ever_ok;
    uint64_t resume_ms;
    struct owned *owned;
    size_t n_owned;
    char **live;
    size_t n_live;

    int evfd, fd4, fd6;
    bool dirty; /* loop thread only (plus the atomic below) */
    bool warned_no_node;
    int poke; /* atomic: informers changed something */
    pthread_t loop_th, lease_th, metallb_th;
    bool loop_started, lease_started, metallb_started;
    struct peer_addr *peers;
    size_t n_peers;
    uint64_t seq;
    struct lbp_announcer_stats last_stats;
};

/* ------------------------------------------------------------ metrics */

static struct lbp_metric *m_req, *m_rep, *m_garp, *m_owned, *m_renew, *m_changes, *m_hb_sent,
    *m_hb_recv, *m_live, *m_api;

static void metrics_register(void)
{
    m_req = lbp_metric_new(LBP_COUNTER, "lbprov_speaker_requests_received_total",
                           "ARP requests and neighbor solicitations received for owned VIPs", NULL);
    m_rep = lbp_metric_new(LBP_COUNTER, "lbprov_speaker_responses_sent_total",
                           "ARP replies and neighbor advertisements sent", NULL);
    m_garp = lbp_metric_new(LBP_COUNTER, "lbprov_speaker_gratuitous_sent_total",
                            "gratuitous ARPs and unsolicited neighbor advertisements sent", NULL);
    m_owned =
        lbp_metric_new(LBP_GAUGE, "lbprov_speaker_owned_vips", "VIPs this node announces", NULL);
    m_renew = lbp_metric_new(LBP_COUNTER, "lbprov_speaker_lease_renewals_total",
                             "writes of this node's speaker Lease", "result");
    m_changes = lbp_metric_new(LBP_COUNTER, "lbprov_speaker_owner_changes_total",
                               "VIPs this node took over or gave up", "change");
    m_hb_sent = lbp_metric_new(LBP_COUNTER, "lbprov_speaker_heartbeats_sent_total",
                               "heartbeats sent to peers", NULL);
    m_hb_recv = lbp_metric_new(LBP_COUNTER, "lbprov_speaker_heartbeats_received_total",
                               "valid heartbeats received from peers", NULL);
    m_live = lbp_metric_new(LBP_GAUGE, "lbprov_speaker_live_speakers",
                            "speakers this node considers live, itself included", NULL);
    m_api = lbp_metric_new(LBP_GAUGE, "lbprov_speaker_api_healthy",
                           "1 while ownership follows the API, 0 while frozen (fail-static)", NULL);
}

/* ------------------------------------------------------------ helpers */

static int64_t wall_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* Wakes the loop (membership may have changed: it re-checks liveness). */
static void wake(struct lbp_speaker *s)
{
    uint64_t one = 1;
    if (write(s->evfd, &one, sizeof(one)) < 0) {
        /* Counter full: a wake-up is already pending. */
    }
}

/* An object ownership depends on changed: recompute (rate-limited). */
static void poke(struct lbp_speaker *s)
{
    __atomic_store_n(&s->poke, 1, __ATOMIC_RELEASE);
    wake(s);
}

static void owned_free(struct owned *v, size_t n)
{
    for (size_t i = 0; v && i < n; i++) {
        free(v[i].ip);
        free(v[i].svc);
    }
    free(v);
}

static void labels_of(const struct lbp_meta *m, struct lbp_pools_label *out)
{
    for (size_t i = 0; i < m->n_labels; i++) {
        out[i].key = m->labels[i].key;
        out[i].value = m->labels[i].value;
    }
}

/* ------------------------------------------------------------ informer handlers */

static void lease_seen(struct lbp_speaker *s, const struct lbp_lease *l)
{
    const char *name = l->meta.name;
    if (!name || strncmp(name, LEASE_PREFIX, strlen(LEASE_PREFIX)) != 0)
        return;
    if (strcmp(name, s->lease_name) == 0 && lbp_streq(l->holder_identity, s->o.node_name)) {
        /* Our own renewal, back through the same stream that brings the peers'
         * ones: proof that our view of the peers is current up to now. */
        pthread_mutex_lock(&s->mu);
        if (l->renew_time_us != s->own_seen_renew_us) {
            s->own_seen_renew_us = l->renew_time_us;
            s->own_seen_ms = lbp_now_ms();
        }
        pthread_mutex_unlock(&s->mu);
    }
    lbp_members_lease(s->members, name + strlen(LEASE_PREFIX), l->holder_identity, l->renew_time_us,
                      l->lease_duration_s, lbp_now_ms(), wall_us());
    /* Every renewal of every node lands here: only a change of who is live
     * (the loop compares) is worth a recompute. */
    wake(s);
}

static void lease_add(void *ctx, const void *obj)
{
    lease_seen(ctx, obj);
}

static void lease_update(void *ctx, const void *old, const void *obj)
{
    (void)old;
    lease_seen(ctx, obj);
}

static void lease_delete(void *ctx, const void *obj)
{
    struct lbp_speaker *s = ctx;
    const struct lbp_lease *l = obj;
    if (l->meta.name && strncmp(l->meta.name, LEASE_PREFIX, strlen(LEASE_PREFIX)) == 0) {
        lbp_members_lease_gone(s->members, l->meta.name + strlen(LEASE_PREFIX));
        wake(s);
    }
}

static void any_add(void *ctx, const void *obj)
{
    (void)obj;
    poke(ctx);
}

static void any_update(void *ctx, const void *old, const void *obj)
{
    /* Resyncs (old == new) change nothing we compute from. */
    if (old != obj)
        poke(ctx);
}

/* ------------------------------------------------------------ pools */

/* Builds from the pool file and the given MetalLB objects; *gen says which pool file. */
static int build_pools(struct lbp_speaker *s, const char *const *pj, size_t np,
                       const char *const *lj, size_t nl, struct lbp_pool_set **out, uint64_t *gen,
                       char *err, size_t errlen)
{
    struct lbp_pools_diag d = {0};
    struct lbp_pool_set *set = lbp_pool_set_new();
    int rc = LBP_NOMEM;
    if (!set)
        goto out;
    pthread_mutex_lock(&s->pools_mu);
    rc = s->pool_yaml ? lbp_pools_add_yaml(set, s->pool_yaml, strlen(s->pool_yaml), &d) : LBP_OK;
    if (gen)
        *gen = s->pool_gen;
    pthread_mutex_unlock(&s->pools_mu);
    if (rc)
        goto out;
    if (np && (rc = lbp_pools_add_metallb(set, pj, np, lj, nl, &d)))
        goto out;
    if ((rc = lbp_pool_set_check(set, &d)))
        goto out;
    if (d.n_warn)
        lbp_v(1, "speaker: pools: %s", d.warn);
    *out = set;
    set = NULL;
out:
    if (rc && err)
        snprintf(err, errlen, "%s", d.err[0] ? d.err : lbp_rc_str(rc));
    lbp_pool_set_free(set);
    return rc;
}

static void metallb_refresh(struct lbp_speaker *s)
{
    struct lbp_pools_listing pl, ll = {0};
    char err[LBP_POOLS_ERR_LEN];
    uint64_t gen = 0;
    struct lbp_pool_set *set = NULL;
    /* LBP_NOT_FOUND: not installed, an empty listing: the YAML pools alone */
    int rc = lbp_pools_list(s->o.lease_client, LBP_METALLB_POOLS_PATH, &pl);
    if (rc == LBP_OK) {
        rc = lbp_pools_list(s->o.lease_client, LBP_METALLB_L2ADVS_PATH, &ll);
        if (rc == LBP_NOT_FOUND)
            rc = LBP_OK;
    }
    if (rc != LBP_OK && rc != LBP_NOT_FOUND) {
        lbp_v(1, "speaker: listing MetalLB objects: %s (keeping the pools in force)",
              lbp_rc_str(rc));
        goto out;
    }
    if (build_pools(s, (const char *const *)pl.objects, pl.n, (const char *const *)ll.objects, ll.n,
                    &set, &gen, err, sizeof(err))) {
        lbp_warn("speaker: MetalLB pools refused, keeping the pools in force: %s", err);
        goto out;
    }
    pthread_mutex_lock(&s->pools_mu);
    if (gen != s->pool_gen) { /* the pool file changed meanwhile: that refresh wins */
        pthread_mutex_unlock(&s->pools_mu);
        goto out;
    }
    lbp_pool_set_free(s->pools);
    s->pools = set;
    pthread_mutex_unlock(&s->pools_mu);
    pthread_mutex_lock(&s->mu);
    s->pools_fresh = true;
    pthread_mutex_unlock(&s->mu);
    set = NULL;
    poke(s);
out:
    lbp_pool_set_free(set);
    lbp_pools_listing_free(&pl);
    lbp_pools_listing_free(&ll);
}

/* Sleeps up to ms unless stopping; false when stopping. */
static bool nap(struct lbp_speaker *s, uint64_t ms)
{
    struct timespec ts;
    bool stop;
    lbp_deadline_ts(ms, &ts);
    pthread_mutex_lock(&s->mu);
    while (!s->stopping && pthread_cond_timedwait(&s->cv, &s->mu, &ts) == 0)
        ;
    stop = s->stopping;
    pthread_mutex_unlock(&s->mu);
    return !stop;
}

static void *metallb_thread(void *arg)
{
    struct lbp_speaker *s = arg;
    do
        metallb_refresh(s);
    while (nap(s, s->o.metallb_poll_ms));
    return NULL;
}

/* ------------------------------------------------------------ our Lease */

static int lease_write(struct lbp_speaker *s, bool release)
{
    struct lbp_lease want = {0}, *got = NULL, *cur;
    static char empty[] = "";
    int64_t now = wall_us();
    int rc;

    pthread_mutex_lock(&s->mu);
    cur = s->lease ? lbp_kube_obj_ref(s->lease) : NULL;
    pthread_mutex_unlock(&s->mu);
    if (!cur) {
        rc = lbp_lease_get(s->o.lease_client, s->o.namespace, s->lease_name, &cur);
        if (rc != LBP_OK && rc != LBP_NOT_FOUND) {
            pthread_mutex_lock(&s->mu);
            if (!release)
                s->lease_last_ok = false;
            pthread_mutex_unlock(&s->mu);
            return rc;
        }
        if (release && (!cur || !lbp_streq(cur->holder_identity, s->o.node_name))) {
            lbp_kube_obj_unref(cur);
            return LBP_OK; /* nothing of ours to give up */
        }
    }
    want.meta.name = s->lease_name;
    want.meta.namespace = (char *)s->o.namespace;
    want.holder_identity = release ? empty : (char *)s->o.node_name;
    want.lease_duration_s = (int)((s->o.lease_duration_ms + 999) / 1000);
    want.renew_time_us = now;
    want.acquire_time_us = now;
    if (cur) {
        want.meta.resource_version = cur->meta.resource_version;
        want.lease_transitions = cur->lease_transitions;
        if (lbp_streq(cur->holder_identity, s->o.node_name) && cur->acquire_time_us)
            want.acquire_time_us = cur->acquire_time_us;
        else if (!release)
            want.lease_transitions++;
        rc = lbp_lease_update(s->o.lease_client, &want, &got);
    } else {
        rc = lbp_lease_create(s->o.lease_client, s->o.namespace, &want, &got);
    }
    pthread_mutex_lock(&s->mu);
    if (!release)
        s->lease_last_ok = rc == LBP_OK;
    if (rc == LBP_OK) {
        lbp_kube_obj_unref(s->lease);
        s->lease = got;
        got = NULL;
        if (!release)
            s->lease_ok_ms = lbp_now_ms();
    } else if (rc == LBP_CONFLICT || rc == LBP_NOT_FOUND) {
        /* Someone wrote it (or deleted it): read it afresh next time. */
        lbp_kube_obj_unref(s->lease);
        s->lease = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    lbp_kube_obj_unref(got);
    lbp_kube_obj_unref(cur);
    return rc;
}

static void *lease_thread(void *arg)
{
    struct lbp_speaker *s = arg;
    int last = -1, rc;
    do {
        rc = lease_write(s, false);
        const char *res[] = {rc == LBP_OK ? "ok" : "error"};
        lbp_metric_add(m_renew, res, 1);
        if (rc != last)
            lbp_log_write(rc ? LBP_LOG_WARNING : LBP_LOG_INFO, __FILE__, __LINE__,
                          "speaker: lease %s/%s: %s", s->o.namespace, s->lease_name,
                          rc ? lbp_rc_str(rc) : "held");
        last = rc;
        /* A conflict only means our copy was stale: read and write again at once. */
    } while (nap(s, rc == LBP_CONFLICT ? 50 : s->o.lease_renew_ms));
    return NULL;
}

/* ------------------------------------------------------------ heartbeats */

/* The first InternalIP of node of family fam (0: any), as a socket address with port. */
static bool node_addr(struct lbp_speaker *s, const char *node, int fam, struct sockaddr_storage *sa,
                      socklen_t *len)
{
    struct lbp_node *n = lbp_informer_get(s->node_inf, node);
    bool ok = false;
    if (!n)
        return false;
    for (size_t i = 0; i < n->n_addresses && !ok; i++) {
        const char *a = n->addresses[i].address;
        if (!lbp_streq(n->addresses[i].type, "InternalIP") || !a)
            continue;
        struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)sa;
        memset(sa, 0, sizeof(*sa));
        if ((fam == 0 || fam == AF_INET) && inet_pton(AF_INET, a, &s4->sin_addr) == 1) {
            s4->sin_family = AF_INET;
            s4->sin_port = htons((uint16_t)s->o.hb_port);
            *len = sizeof(*s4);
            ok = true;
        } else if ((fam == 0 || fam == AF_INET6) && inet_pton(AF_INET6, a, &s6->sin6_addr) == 1) {
            s6->sin6_family = AF_INET6;
            s6->sin6_port = htons((uint16_t)s->o.hb_port);
            *len = sizeof(*s6);
            ok = true;
        }
    }
    lbp_kube_obj_unref(n);
    return ok;
}

static bool same_ip(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
    if (a->ss_family != b->ss_family)
        return false;
    if (a->ss_family == AF_INET)
        return ((const struct sockaddr_in *)a)->sin_addr.s_addr ==
               ((const struct sockaddr_in *)b)->sin_addr.s_addr;
    return memcmp(&((const struct sockaddr_in6 *)a)->sin6_addr,
                  &((const struct sockaddr_in6 *)b)->sin6_addr, 16) == 0;
}

static int open_hb(struct lbp_speaker *s, int fam, const struct sockaddr_storage *bind_sa)
{
    int one = 1, fd = socket(fam, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    struct sockaddr_storage sa;
    socklen_t len;
    char txt[INET6_ADDRSTRLEN] = "*";
    if (fd < 0)
        return -1;
    if (bind_sa) {
        sa = *bind_sa;
    } else {
        memset(&sa, 0, sizeof(sa));
        sa.ss_family = (sa_family_t)fam;
    }
    if (fam == AF_INET) {
        ((struct sockaddr_in *)&sa)->sin_port = htons((uint16_t)s->o.hb_port);
        len = sizeof(struct sockaddr_in);
        setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
        if (bind_sa)
            inet_ntop(AF_INET, &((struct sockaddr_in *)&sa)->sin_addr, txt, sizeof(txt));
    } else {
        ((struct sockaddr_in6 *)&sa)->sin6_port = htons((uint16_t)s->o.hb_port);
        len = sizeof(struct sockaddr_in6);
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
        setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
        if (bind_sa)
            inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&sa)->sin6_addr, txt, sizeof(txt));
    }
    if (bind(fd, (struct sockaddr *)&sa, len) < 0) {
        lbp_warn("speaker: heartbeat: bind %s port %u: %s", txt, s->o.hb_port, strerror(errno));
        close(fd);
        return -1;
    }
    lbp_info("speaker: heartbeats on %s port %u", txt, s->o.hb_port);
    return fd;
}

/* Binds to our own InternalIPs when the Node has them (several speakers on one host in tests). */
static void open_hb_sockets(struct lbp_speaker *s)
{
    struct sockaddr_storage sa4, sa6;
    socklen_t l;
    bool has4 = node_addr(s, s->o.node_name, AF_INET, &sa4, &l);
    bool has6 = node_addr(s, s->o.node_name, AF_INET6, &sa6, &l);
    if (has4 || !has6)
        s->fd4 = open_hb(s, AF_INET, has4 ? &sa4 : NULL);
    if (has6 || !has4)
        s->fd6 = open_hb(s, AF_INET6, has6 ? &sa6 : NULL);
}

static void peers_free(struct lbp_speaker *s)
{
    for (size_t i = 0; i < s->n_peers; i++)
        free(s->peers[i].node);
    free(s->peers);
    s->peers = NULL;
    s->n_peers = 0;
}

/*
 * Rebuilds the list of peers to heartbeat: every other node with a speaker
 * Lease, held or not — one whose Lease expired because it lost the API must
 * still hear from us that we reach it (the cut-off rule in the loop).
 */
static void peers_refresh(struct lbp_speaker *s)
{
    char **names = NULL;
    size_t n = lbp_members_lease_names(s->members, &names);
    peers_free(s);
    s->peers = calloc(n ? n : 1, sizeof(*s->peers));
    for (size_t i = 0; s->peers && i < n && s->n_peers < MAX_PEERS; i++) {
        struct peer_addr *p = &s->peers[s->n_peers];
        if (lbp_streq(names[i], s->o.node_name))
            continue;
        if (!node_addr(s, names[i],
                       s->fd4 >= 0 && s->fd6 >= 0 ? 0
                       : s->fd4 >= 0              ? AF_INET
                                                  : AF_INET6,
                       &p->sa, &p->len))
            continue;
        p->node = names[i];
        names[i] = NULL;
        s->n_peers++;
    }
    lbp_members_names_free(names, n);
}

static void send_hb(struct lbp_speaker *s, uint8_t flags)
{
    uint8_t buf[LBP_HB_MAX];
    size_t len = lbp_hb_encode(buf, sizeof(buf), s->o.node_name, flags, ++s->seq);
    if (!len)
        return;
    for (size_t i = 0; i < s->n_peers; i++) {
        int fd = s->peers[i].sa.ss_family == AF_INET ? s->fd4 : s->fd6;
        if (fd < 0)
            continue;
        /*
         * An ICMP error for an earlier datagram (a dead peer's port) is also
         * left pending on the socket and reported by the next send, which
         * then sends nothing: without the retry one dead peer would silence
         * us towards the peer after it. Reporting clears it.
         */
        for (int tries = 0; tries < 2; tries++) {
            if (sendto(fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL,
                       (const struct sockaddr *)&s->peers[i].sa, s->peers[i].len) == (ssize_t)len) {
                lbp_metric_add(m_hb_sent, NULL, 1);
                break;
            }
            if (errno != ECONNREFUSED && errno != EHOSTUNREACH && errno != ENETUNREACH &&
                errno != EHOSTDOWN)
                break;
        }
    }
}

/* Does the datagram's source address belong to the node it names? */
static bool from_node(struct lbp_speaker *s, const char *node, const struct sockaddr_storage *src)
{
    struct lbp_node *n = lbp_informer_get(s->node_inf, node);
    bool ok = false;
    if (!n)
        return false;
    for (size_t i = 0; i < n->n_addresses && !ok; i++) {
        struct sockaddr_storage sa = {0};
        const char *a = n->addresses[i].address;
        if (!a || !lbp_streq(n->addresses[i].type, "InternalIP"))
            continue;
        if (src->ss_family == AF_INET &&
            inet_pton(AF_INET, a, &((struct sockaddr_in *)&sa)->sin_addr) == 1)
            sa.ss_family = AF_INET;
        else if (src->ss_family == AF_INET6 &&
                 inet_pton(AF_INET6, a, &((struct sockaddr_in6 *)&sa)->sin6_addr) == 1)
            sa.ss_family = AF_INET6;
        ok = sa.ss_family && same_ip(&sa, src);
    }
    lbp_kube_obj_unref(n);
    return ok;
}

static void recv_hb(struct lbp_speaker *s, int fd, uint64_t now)
{
    for (int k = 0; k < 256; k++) {
        uint8_t buf[LBP_HB_MAX + 1], flags;
        struct sockaddr_storage src;
        socklen_t sl = sizeof(src);
        char node[LBP_HB_NAME_MAX + 1];
        uint64_t seq;
        ssize_t n = recvfrom(fd, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&src, &sl);
        if (n < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK)
                return;
            continue; /* a pending ICMP error reported here; the error queue has the detail */
        }
        if (lbp_hb_decode(buf, (size_t)n, node, &flags, &seq) != LBP_OK ||
            lbp_streq(node, s->o.node_name))
            continue;
        if (!from_node(s, node, &src)) {
            lbp_v(2, "speaker: heartbeat naming %s from an address that is not its InternalIP",
                  node);
            continue;
        }
        lbp_metric_add(m_hb_recv, NULL, 1);
        if (flags & LBP_HB_LEAVING)
            lbp_info("speaker: %s is leaving", node);
        lbp_members_heartbeat(s->members, node, flags & LBP_HB_LEAVING, flags & LBP_HB_API_OK, now);
    }
}

/* ICMP errors for our heartbeats: port unreachable means the peer's speaker is gone. */
static void recv_errors(struct lbp_speaker *s, int fd, uint64_t now)
{
    for (int k = 0; k < 256; k++) {
        uint8_t data[LBP_HB_MAX];
        char cbuf[512];
        struct sockaddr_storage dst;
        struct iovec iov = {data, sizeof(data)};
        struct msghdr mh = {.msg_name = &dst,
                            .msg_namelen = sizeof(dst),
                            .msg_iov = &iov,
                            .msg_iovlen = 1,
                            .msg_control = cbuf,
                            .msg_controllen = sizeof(cbuf)};
        if (recvmsg(fd, &mh, MSG_ERRQUEUE | MSG_DONTWAIT) < 0)
            return;
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
            const struct sock_extended_err *ee = (const void *)CMSG_DATA(c);
            bool unreach =
                (c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR &&
                 ee->ee_origin == SO_EE_ORIGIN_ICMP && ee->ee_type == ICMP_DEST_UNREACH &&
                 ee->ee_code == ICMP_PORT_UNREACH) ||
                (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR &&
                 ee->ee_origin == SO_EE_ORIGIN_ICMP6 && ee->ee_type == ICMP6_DST_UNREACH &&
                 ee->ee_code == ICMP6_DST_UNREACH_NOPORT);
            if (!unreach)
                continue;
            for (size_t i = 0; i < s->n_peers; i++) {
                if (!same_ip(&s->peers[i].sa, &dst))
                    continue;
                if (lbp_members_live(s->members, s->peers[i].node, now))
                    lbp_info("speaker: %s: heartbeat port unreachable, its speaker is down",
                             s->peers[i].node);
                lbp_members_refused(s->members, s->peers[i].node, now);
            }
        }
    }
}

/* ------------------------------------------------------------ ownership */

struct eps_entry {
    char *key; /* ns/service */
    bool any_ready;
    const char **nodes;
    size_t n, cap;
    UT_hash_handle hh;
};

static void eps_index(void **eps, size_t n, struct eps_entry **tab)
{
    for (size_t i = 0; i < n; i++) {
        const struct lbp_endpointslice *es = eps[i];
        struct eps_entry *e;
        char key[512];
        if (!es->service_name || !es->meta.namespace)
            continue;
        snprintf(key, sizeof(key), "%s/%s", es->meta.namespace, es->service_name);
        HASH_FIND_STR(*tab, key, e);
        if (!e) {
            e = calloc(1, sizeof(*e));
            if (!e || !(e->key = strdup(key))) {
                free(e);
                continue;
            }
            HASH_ADD_KEYPTR(hh, *tab, e->key, strlen(e->key), e);
        }
        for (size_t j = 0; j < es->n_endpoints; j++) {
            const struct lbp_endpoint *ep = &es->endpoints[j];
            if (ep->ready == 0)
                continue;
            e->any_ready = true;
            if (!ep->node_name)
                continue;
            if (e->n == e->cap) {
                size_t nc = e->cap ? e->cap * 2 : 8;
                const char **nv = realloc(e->nodes, nc * sizeof(*nv));
                if (!nv)
                    continue;
                e->nodes = nv;
                e->cap = nc;
            }
            e->nodes[e->n++] = ep->node_name;
        }
    }
}

static void eps_free(struct eps_entry *tab)
{
    struct eps_entry *e, *tmp;
    HASH_ITER(hh, tab, e, tmp)
    {
        HASH_DEL(tab, e);
        free(e->key);
        free(e->nodes);
        free(e);
    }
}

static int cmp_owned(const void *a, const void *b)
{
    const struct owned *x = a, *y = b;
    int c = strcmp(x->ip, y->ip);
    return c ? c : strcmp(x->svc, y->svc);
}

static bool owned_has(const struct owned *v, size_t n, const struct owned *k)
{
    return n && bsearch(k, v, n, sizeof(*v), cmp_owned) != NULL;
}

/* Is ip in v (sorted by ip, then Service)? */
static bool ip_in(const struct owned *v, size_t n, const char *ip)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(v[mid].ip, ip);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* The Services holding one IP: they share its owner (see group_owner). */
struct ip_group {
    const char *ip; /* points into a referenced Service */
    const struct lbp_pool *pool;
    const struct lbp_service **svcs;
    size_t n, cap;
    UT_hash_handle hh;
};

static int group_add(struct ip_group **tab, const char *ip, const struct lbp_pool *pool,
                     const struct lbp_service *svc)
{
    struct ip_group *g;
    HASH_FIND_STR(*tab, ip, g);
    if (!g) {
        g = calloc(1, sizeof(*g));
        if (!g)
            return LBP_NOMEM;
        g->ip = ip;
        g->pool = pool;
        HASH_ADD_KEYPTR(hh, *tab, g->ip, strlen(g->ip), g);
    }
    if (g->n && g->svcs[g->n - 1] == svc)
        return LBP_OK; /* the same IP twice in one status */
    if (g->n == g->cap) {
        size_t nc = g->cap ? g->cap * 2 : 2;
        const struct lbp_service **v = realloc(g->svcs, nc * sizeof(*v));
        if (!v)
            return LBP_NOMEM;
        g->svcs = v;
        g->cap = nc;
    }
    g->svcs[g->n++] = svc;
    return LBP_OK;
}

static void groups_free(struct ip_group *tab)
{
    struct ip_group *g, *tmp;
    HASH_ITER(hh, tab, g, tmp)
    {
        HASH_DEL(tab, g);
        free(g->svcs);
        free(g);
    }
}

static bool in_list(const char *const *v, size_t n, const char *x)
{
    for (size_t i = 0; i < n; i++)
        if (lbp_streq(v[i], x))
            return true;
    return false;
}

/*
 * The owner of an IP shared by several Services (allow-shared-ip): one
 * owner for all of them, or two nodes would answer for one address. It
 * serves something when any sharer has a ready endpoint; when a sharer is
 * Local, only nodes with a ready endpoint of every Local sharer qualify.
 */
static int group_owner(const struct ip_group *g, struct eps_entry *etab,
                       const struct lbp_owner_node *on, size_t nn)
{
    struct lbp_owner_svc os = {0};
    const char **ready = NULL;
    size_t n_ready = 0;
    bool first_local = true;
    int owner = -1;
    for (size_t i = 0; i < g->n; i++) {
        struct eps_entry *e;
        HASH_FIND_STR(etab, g->svcs[i]->meta.key, e);
        if (e && e->any_ready)
            os.any_ready = true;
        if (!lbp_streq(g->svcs[i]->external_traffic_policy, "Local"))
            continue;
        os.local = true;
        if (first_local) {
            first_local = false;
            if (e && e->n) {
                ready = malloc(e->n * sizeof(*ready));
                if (!ready)
                    return -1;
                memcpy(ready, e->nodes, e->n * sizeof(*ready));
                n_ready = e->n;
            }
            continue;
        }
        size_t k = 0;
        for (size_t j = 0; j < n_ready; j++)
            if (e && in_list(e->nodes, e->n, ready[j]))
                ready[k++] = ready[j];
        n_ready = k;
    }
    os.ready_nodes = ready;
    os.n_ready_nodes = n_ready;
    owner = lbp_owner_pick(g->pool, g->ip, &os, on, nn);
    free(ready);
    return owner;
}

/* The announcer's view of the owned set: one lbp_vip per distinct IP. */
static void announce(struct lbp_speaker *s, const struct lbp_vip *vips, size_t nv)
{
    if (s->o.announcer && lbp_announcer_set_vips(s->o.announcer, vips, nv) != LBP_OK)
        lbp_warn("speaker: the announcer refused the owned set (%zu VIPs)", nv);
    lbp_metric_set(m_owned, NULL, (double)nv);
}

static void record_assigned(struct lbp_speaker *s, const struct owned *o)
{
    char ns[256];
    const char *slash = strchr(o->svc, '/');
    struct lbp_service *svc;
    if (!s->o.events || !slash || (size_t)(slash - o->svc) >= sizeof(ns))
        return;
    svc = lbp_informer_get(s->svc_inf, o->svc);
    if (!svc)
        return;
    memcpy(ns, o->svc, (size_t)(slash - o->svc));
    ns[slash - o->svc] = '\0';
    struct lbp_object_ref ref = {.kind = "Service",
                                 .api_version = "v1",
                                 .namespace = ns,
                                 .name = slash + 1,
                                 .uid = svc->meta.uid,
                                 .resource_version = svc->meta.resource_version};
    lbp_event_record(s->o.events, &ref, "Normal", "nodeAssigned",
                     "announcing from node \"%s\" with protocol \"layer2\"", s->o.node_name);
    lbp_kube_obj_unref(svc);
}

/*
 * release_only: keep only VIPs we already announce (used while resuming after
 * an outage, when a stale view could only make us claim too much, never too
 * little). regarp: announce every owned VIP afresh — after a freeze, peers
 * may have taken them over meanwhile and the LAN's caches point there.
 */
static void recompute(struct lbp_speaker *s, uint64_t now, bool release_only, bool regarp)
{
    void **svcs = NULL, **nodes = NULL, **eps = NULL;
    size_t ns = lbp_informer_list(s->svc_inf, &svcs);
    size_t nn = lbp_informer_list(s->node_inf, &nodes);
    size_t ne = lbp_informer_list(s->eps_inf, &eps);
    struct lbp_owner_node *on = calloc(nn ? nn : 1, sizeof(*on));
    struct lbp_pools_label **lab = calloc(nn ? nn : 1, sizeof(*lab));
    struct eps_entry *etab = NULL;
    struct owned *nv = NULL;
    struct lbp_vip *vips = NULL;
    struct ip_group *groups = NULL, *g, *gtmp;
    size_t n_nv = 0, cap = 0, n_vips = 0, vcap = 0, self = (size_t)-1;
    bool failed = false;

    if (!on || !lab)
        goto out;
    for (size_t i = 0; i < nn; i++) {
        const struct lbp_node *n = nodes[i];
        lab[i] = calloc(n->meta.n_labels ? n->meta.n_labels : 1, sizeof(**lab));
        if (!lab[i])
            goto out;
        labels_of(&n->meta, lab[i]);
        on[i].name = n->meta.name;
        on[i].labels = lab[i];
        on[i].n_labels = n->meta.n_labels;
        on[i].excluded = lbp_owner_node_excluded(lab[i], n->meta.n_labels);
        on[i].live = lbp_members_live(s->members, n->meta.name, now);
        if (lbp_streq(n->meta.name, s->o.node_name))
            self = i;
    }
    eps_index(eps, ne, &etab);
    if (self == (size_t)-1 && !s->warned_no_node) {
        lbp_warn("speaker: no Node named %s: this node announces nothing (check --node-name)",
                 s->o.node_name);
        s->warned_no_node = true;
    } else if (self != (size_t)-1) {
        s->warned_no_node = false;
    }

    pthread_mutex_lock(&s->pools_mu); /* the loop only reads the pool set */
    for (size_t i = 0; i < ns && self != (size_t)-1; i++) {
        const struct lbp_service *svc = svcs[i];
        if (!lbp_streq(svc->type, "LoadBalancer"))
            continue;
        for (size_t j = 0; j < svc->n_ingress; j++) {
            const char *ipt = svc->ingress[j].ip;
            struct lbp_ip ip;
            const struct lbp_pool *pool;
            if (!ipt || lbp_ip_parse(ipt, &ip) || !(pool = lbp_pool_set_lookup(s->pools, &ip)))
                continue;
            if (group_add(&groups, ipt, pool, svc)) {
                failed = true;
                goto unlock;
            }
        }
    }
    HASH_ITER(hh, groups, g, gtmp)
    {
        bool added = false;
        if (group_owner(g, etab, on, nn) != (int)self)
            continue;
        for (size_t k = 0; k < g->n; k++) {
            struct owned key = {(char *)g->ip, g->svcs[k]->meta.key};
            if (release_only && !owned_has(s->owned, s->n_owned, &key))
                continue;
            if (n_nv == cap) {
                size_t nc = cap ? cap * 2 : 16;
                struct owned *t = realloc(nv, nc * sizeof(*nv));
                if (!t) {
                    failed = true;
                    goto unlock;
                }
                nv = t;
                cap = nc;
            }
            nv[n_nv].ip = strdup(g->ip);
            nv[n_nv].svc = strdup(g->svcs[k]->meta.key);
            if (!nv[n_nv].ip || !nv[n_nv].svc) {
                free(nv[n_nv].ip);
                free(nv[n_nv].svc);
                failed = true;
                goto unlock;
            }
            n_nv++;
            added = true;
        }
        if (!added || n_vips >= LBP_ANNOUNCER_MAX_VIPS)
            continue;
        if (n_vips == vcap) {
            size_t nc = vcap ? vcap * 2 : 16;
            struct lbp_vip *tv = realloc(vips, nc * sizeof(*vips));
            if (!tv) {
                failed = true;
                goto unlock;
            }
            vips = tv;
            vcap = nc;
        }
        struct lbp_vip *v = &vips[n_vips];
        bool any;
        char ifs[LBP_VIP_MAX_IFACES][LBP_IFNAME_MAX];
        if (lbp_vip_parse(g->ip, v))
            continue;
        size_t nif = lbp_owner_interfaces(g->pool, lab[self], on[self].n_labels, ifs,
                                          LBP_VIP_MAX_IFACES, &any);
        for (size_t k = 0; !any && k < nif; k++)
            lbp_vip_add_iface(v, ifs[k]);
        n_vips++;
    }
unlock:
    pthread_mutex_unlock(&s->pools_mu);
    if (failed) {
        /* Half a set would drop VIPs: keep announcing the old one, try again. */
        s->dirty = true;
        goto out;
    }
    if (n_nv)
        qsort(nv, n_nv, sizeof(*nv), cmp_owned);

    /* Changes, by VIP for the counters and by (Service, VIP) for the Events. */
    for (size_t i = 0; i < n_nv; i++) {
        if (owned_has(s->owned, s->n_owned, &nv[i]))
            continue;
        record_assigned(s, &nv[i]);
        if (!ip_in(s->owned, s->n_owned, nv[i].ip) && (i == 0 || strcmp(nv[i - 1].ip, nv[i].ip))) {
            const char *l[] = {"acquired"};
            lbp_metric_add(m_changes, l, 1);
            lbp_info("speaker: %s (%s): announcing from this node", nv[i].ip, nv[i].svc);
        }
    }
    for (size_t i = 0; i < s->n_owned; i++) {
        if (ip_in(nv, n_nv, s->owned[i].ip) ||
            (i > 0 && strcmp(s->owned[i - 1].ip, s->owned[i].ip) == 0))
            continue;
        const char *l[] = {"released"};
        lbp_metric_add(m_changes, l, 1);
        lbp_info("speaker: %s (%s): no longer announced from this node", s->owned[i].ip,
                 s->owned[i].svc);
    }
    if (regarp && n_vips)
        announce(s, NULL, 0);
    announce(s, vips, n_vips);
    pthread_mutex_lock(&s->mu);
    owned_free(s->owned, s->n_owned);
    s->owned = nv;
    s->n_owned = n_nv;
    pthread_mutex_unlock(&s->mu);
    nv = NULL;
out:
    owned_free(nv, n_nv);
    free(vips);
    groups_free(groups);
    eps_free(etab);
    for (size_t i = 0; lab && i < nn; i++)
        free(lab[i]);
    free(lab);
    free(on);
    lbp_informer_list_free(svcs, ns);
    lbp_informer_list_free(nodes, nn);
    lbp_informer_list_free(eps, ne);
}

static void release_all(struct lbp_speaker *s)
{
    if (s->o.announcer)
        lbp_announcer_set_vips(s->o.announcer, NULL, 0);
    lbp_metric_set(m_owned, NULL, 0);
    pthread_mutex_lock(&s->mu);
    if (s->n_owned) {
        const char *l[] = {"released"};
        lbp_metric_add(m_changes, l, (double)s->n_owned);
    }
    owned_free(s->owned, s->n_owned);
    s->owned = NULL;
    s->n_owned = 0;
    pthread_mutex_unlock(&s->mu);
}

/* ------------------------------------------------------------ the loop */

static bool synced(struct lbp_speaker *s)
{
    return lbp_informer_has_synced(s->svc_inf) && lbp_informer_has_synced(s->node_inf) &&
           lbp_informer_has_synced(s->eps_inf) && lbp_informer_has_synced(s->lease_inf);
}

/* The sorted list of live speakers; a change means recompute. */
static void live_update(struct lbp_speaker *s, uint64_t now, bool *changed)
{
    char **names = NULL;
    size_t n = lbp_members_held_names(s->members, now, &names), nl = 0;
    char **live = calloc(n ? n : 1, sizeof(*live));
    for (size_t i = 0; live && i < n; i++) {
        if (!lbp_members_live(s->members, names[i], now))
            continue;
        live[nl++] = names[i];
        names[i] = NULL;
    }
    lbp_members_names_free(names, n);
    if (!live) {
        *changed = true;
        return;
    }
    /* Only this thread writes s->live, so reading it here needs no lock. */
    *changed = nl != s->n_live;
    for (size_t i = 0; !*changed && i < nl; i++)
        *changed = strcmp(live[i], s->live[i]) != 0;
    lbp_metric_set(m_live, NULL, (double)nl);
    pthread_mutex_lock(&s->mu);
    lbp_members_names_free(s->live, s->n_live);
    s->live = live;
    s->n_live = nl;
    pthread_mutex_unlock(&s->mu);
}

static void stats_update(struct lbp_speaker *s)
{
    struct lbp_announcer_stats st;
    if (!s->o.announcer)
        return;
    lbp_announcer_get_stats(s->o.announcer, &st);
    lbp_metric_add(m_req, NULL, (double)(st.requests_received - s->last_stats.requests_received));
    lbp_metric_add(m_rep, NULL, (double)(st.replies_sent - s->last_stats.replies_sent));
    lbp_metric_add(m_garp, NULL, (double)(st.gratuitous_sent - s->last_stats.gratuitous_sent));
    s->last_stats = st;
}

static void *loop_thread(void *arg)
{
    struct lbp_speaker *s = arg;
    uint64_t next_hb = 0, next_peers = 0, t_synced;
    bool was_ok = false, partitioned = false, deciding = false, was_frozen = false;
    bool obj_dirty = false;
    uint64_t obj_next = 0;

    /* The heartbeat sockets bind to our Node's InternalIP, so wait for the caches. */
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop = s->stopping;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            return NULL;
        if (synced(s))
            break;
        struct pollfd p = {s->evfd, POLLIN, 0};
        poll(&p, 1, SYNC_WAIT_MS);
    }
    t_synced = lbp_now_ms();
    open_hb_sockets(s);
    s->dirty = true;

    for (;;) {
        struct pollfd p[3] = {{s->evfd, POLLIN, 0}, {s->fd4, POLLIN, 0}, {s->fd6, POLLIN, 0}};
        uint64_t now = lbp_now_ms();
        int wait = TICK_MS;
        if (next_hb > now && next_hb - now < (uint64_t)wait)
            wait = (int)(next_hb - now);
        else if (next_hb <= now)
            wait = 0;
        poll(p, 3, wait);
        now = lbp_now_ms();

        pthread_mutex_lock(&s->mu);
        bool stop = s->stopping;
        /* Freshness is what came back through the watch, not what we wrote. */
        uint64_t lease_ok = s->own_seen_ms < s->lease_ok_ms ? s->own_seen_ms : s->lease_ok_ms;
        bool last_write_ok = s->lease_last_ok;
        bool pools_fresh = s->pools_fresh;
        pthread_mutex_unlock(&s->mu);
        if (stop)
            break;
        if (p[0].revents & POLLIN) {
            uint64_t v;
            if (read(s->evfd, &v, sizeof(v)) < 0) {
                /* nothing pending */
            }
        }
        if (__atomic_exchange_n(&s->poke, 0, __ATOMIC_ACQ_REL))
            obj_dirty = true;
        for (int i = 1; i < 3; i++) {
            if (p[i].fd < 0)
                continue;
            if (p[i].revents & POLLERR)
                recv_errors(s, p[i].fd, now);
            if (p[i].revents & POLLIN)
                recv_hb(s, p[i].fd, now);
        }

        /*
         * API health decides whether ownership may change at all. Our own
         * renewal not seen back through the Lease watch for renew interval +
         * RENEW_SLACK_MS, or the last write failing, freezes us — before any
         * peer's Lease can look expired to us merely because the API (or
         * our watch) stopped telling us about renewals: peers' Leases run
         * lease_duration from their last renewal, at most one renew
         * interval before ours (see the check in lbp_speaker_new).
         */
        bool ok = synced(s) && lease_ok && last_write_ok &&
                  now <= lease_ok + s->o.lease_renew_ms + RENEW_SLACK_MS;
        if (ok && !was_ok) {
            /* Back after an outage: wait until peers' renewals have been seen again. */
            pthread_mutex_lock(&s->mu);
            s->resume_ms = s->ever_ok ? now + s->o.lease_duration_ms : now;
            s->ever_ok = true;
            pthread_mutex_unlock(&s->mu);
            if (s->resume_ms > now)
                lbp_info("speaker: API reachable again; ownership resumes in %u ms",
                         s->o.lease_duration_ms);
        } else if (!ok && was_ok) {
            lbp_warn("speaker: API unhealthy (%s); announcements frozen",
                     synced(s) ? "lease not renewed" : "caches not synced");
        }
        was_ok = ok;
        pthread_mutex_lock(&s->mu);
        bool healthy = ok && now >= s->resume_ms;
        /* At start-up there is nothing to keep: wait for the first MetalLB poll, then go. */
        bool may_decide = healthy && (pools_fresh || now > t_synced + 5000);
        s->api_ok = healthy;
        was_frozen = was_frozen || (s->ever_ok && !healthy);
        s->frozen = s->ever_ok && !healthy;
        pthread_mutex_unlock(&s->mu);
        lbp_metric_set(m_api, NULL, healthy ? 1 : 0);

        if (now >= next_hb) {
            if (now >= next_peers) {
                peers_refresh(s);
                next_peers = now + s->o.hb_interval_ms;
            }
            /* "API OK" means a renewal succeeded lately (one miss allowed), a much
             * shorter claim than our Lease's duration: see the partition rule below. */
            bool fresh = lease_ok && now < lease_ok + 2 * (uint64_t)s->o.lease_renew_ms;
            send_hb(s, fresh ? LBP_HB_API_OK : 0);
            next_hb = (next_hb && now < next_hb + s->o.hb_interval_ms ? next_hb : now) +
                      s->o.hb_interval_ms;
        }

        bool changed;
        live_update(s, now, &changed);
        if (changed)
            s->dirty = true;
        /*
         * Object changes (EndpointSlices churn) are batched so that recomputing
         * takes at most a quarter of this thread; liveness changes — the
         * failover path — never wait.
         */
        if (obj_dirty && now >= obj_next) {
            s->dirty = true;
            obj_dirty = false;
        }
        if (may_decide) {
            bool resumed = !deciding && was_frozen;
            if (!deciding)
                s->dirty = true; /* whatever changed while frozen */
            deciding = true;
            partitioned = false;
            if (s->dirty) {
                s->dirty = false;
                recompute(s, now, false, resumed);
                uint64_t end = lbp_now_ms();
                obj_next = end + 3 * (end - now);
            }
            was_frozen = false;
        } else if (ok && pools_fresh) {
            /* Resuming: peers may still look dead to us, so only let go of VIPs. */
            deciding = false;
            partitioned = false;
            if (s->dirty) {
                s->dirty = false;
                recompute(s, now, true, false);
            }
        } else {
            deciding = false;
            /*
             * Cut off alone? Only once our Lease has expired by more than the
             * time a peer may go on claiming "API OK" after a cluster-wide
             * outage began (2 renew intervals plus the heartbeat window): so
             * when the API is down for everyone, nobody releases anything.
             */
            uint64_t cutoff = lease_ok + s->o.lease_duration_ms +
                              2 * (uint64_t)s->o.lease_renew_ms +
                              (uint64_t)s->o.hb_interval_ms * s->o.hb_misses;
            if (s->ever_ok && !partitioned && lease_ok && now >= cutoff &&
                lbp_members_peer_api_ok(s->members, now)) {
                lbp_warn("speaker: our Lease expired while peers reach the API: we are cut "
                         "off, releasing every VIP to them");
                partitioned = true;
                release_all(s);
            }
        }
        stats_update(s);
    }
    return NULL;
}

/* ------------------------------------------------------------ life cycle */

int lbp_speaker_new(const struct lbp_speaker_opts *opts, struct lbp_speaker **out, char *err,
                    size_t errlen)
{
    struct lbp_speaker *s;
    struct lbp_members_opts mo;
    int rc = LBP_NOMEM;
    char name[300];

    *out = NULL;
    if (!opts->node_name || !opts->node_name[0] || !opts->namespace || !opts->client ||
        !opts->lease_client) {
        snprintf(err, errlen, "node name, namespace and API clients are required");
        return LBP_INVALID;
    }
    if (snprintf(name, sizeof(name), LEASE_PREFIX "%s", opts->node_name) > 253 ||
        strlen(opts->node_name) > LBP_HB_NAME_MAX) {
        snprintf(err, errlen, "node name too long for a Lease name (%s + name <= 253)",
                 LEASE_PREFIX);
        return LBP_INVALID;
    }
    s = calloc(1, sizeof(*s));
    if (!s)
        return LBP_NOMEM;
    s->o = *opts;
    s->fd4 = s->fd6 = s->evfd = -1;
    if (!s->o.lease_duration_ms)
        s->o.lease_duration_ms = 3000;
    if (!s->o.lease_renew_ms)
        s->o.lease_renew_ms = 1000;
    if (!s->o.hb_port)
        s->o.hb_port = 7473;
    if (!s->o.hb_interval_ms)
        s->o.hb_interval_ms = 200;
    if (!s->o.hb_misses)
        s->o.hb_misses = 3;
    if (!s->o.metallb_poll_ms)
        s->o.metallb_poll_ms = 30000;
    pthread_mutex_init(&s->mu, NULL);
    pthread_mutex_init(&s->pools_mu, NULL);
    lbp_cond_init_monotonic(&s->cv); /* a wall-clock step must not stretch a wait */
    if (2 * (uint64_t)s->o.lease_renew_ms + RENEW_SLACK_MS > s->o.lease_duration_ms) {
        snprintf(err, errlen,
                 "the lease duration (%u ms) must be at least twice the renew interval (%u ms) "
                 "plus %u ms",
                 s->o.lease_duration_ms, s->o.lease_renew_ms, RENEW_SLACK_MS);
        rc = LBP_INVALID;
        goto fail;
    }
    s->lease_name = strdup(name);
    if (opts->pool_yaml) {
        s->pool_yaml = strndup(opts->pool_yaml, opts->pool_yaml_len);
        if (!s->pool_yaml)
            goto fail;
    }
    if (!s->lease_name)
        goto fail;
    rc = build_pools(s, NULL, 0, NULL, 0, &s->pools, NULL, err, errlen);
    if (rc)
        goto fail;
    mo.hb_interval_ms = s->o.hb_interval_ms;
    mo.hb_misses = s->o.hb_misses;
    rc = lbp_members_new(&mo, &s->members);
    if (rc)
        goto fail;
    s->evfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (s->evfd < 0) {
        rc = LBP_IO;
        snprintf(err, errlen, "eventfd: %s", strerror(errno));
        goto fail;
    }
    struct lbp_informer_handlers h = {
        .on_add = any_add, .on_update = any_update, .on_delete = any_add, .ctx = s};
    struct lbp_informer_handlers hl = {
        .on_add = lease_add, .on_update = lease_update, .on_delete = lease_delete, .ctx = s};
    struct lbp_informer_opts so = {.kind = LBP_KIND_SERVICE};
    struct lbp_informer_opts no = {.kind = LBP_KIND_NODE};
    struct lbp_informer_opts eo = {.kind = LBP_KIND_ENDPOINTSLICE};
    struct lbp_informer_opts lo = {.kind = LBP_KIND_LEASE, .namespace = s->o.namespace};
    if ((rc = lbp_informer_new(s->o.client, &so, &h, &s->svc_inf)) ||
        (rc = lbp_informer_new(s->o.client, &no, &h, &s->node_inf)) ||
        (rc = lbp_informer_new(s->o.client, &eo, &h, &s->eps_inf)) ||
        (rc = lbp_informer_new(s->o.client, &lo, &hl, &s->lease_inf))) {
        snprintf(err, errlen, "cannot create informers: %s", lbp_rc_str(rc));
        goto fail;
    }
    metrics_register();
    *out = s;
    return LBP_OK;
fail:
    lbp_speaker_free(s);
    return rc;
}

int lbp_speaker_start(struct lbp_speaker *s)
{
    if (lbp_informer_start(s->svc_inf) || lbp_informer_start(s->node_inf) ||
        lbp_informer_start(s->eps_inf) || lbp_informer_start(s->lease_inf))
        return LBP_IO;
    if (pthread_create(&s->lease_th, NULL, lease_thread, s))
        return LBP_IO;
    s->lease_started = true;
    if (pthread_create(&s->metallb_th, NULL, metallb_thread, s))
        return LBP_IO;
    s->metallb_started = true;
    if (pthread_create(&s->loop_th, NULL, loop_thread, s))
        return LBP_IO;
    s->loop_started = true;
    lbp_info("speaker: node %s, lease %s/%s, heartbeat port %u every %u ms", s->o.node_name,
             s->o.namespace, s->lease_name, s->o.hb_port, s->o.hb_interval_ms);
    return LBP_OK;
}

void lbp_speaker_leave(struct lbp_speaker *s)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    bool already = s->leaving;
    s->leaving = s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (already)
        return;
    poke(s);
    /* Order matters: the loop stops (no more ordinary heartbeats, no more
     * decisions), peers hear we are leaving, we stop answering, then the
     * Lease goes for whoever did not hear the heartbeat. */
    if (s->loop_started)
        pthread_join(s->loop_th, NULL);
    s->loop_started = false;
    for (int i = 0; i < 2; i++)
        send_hb(s, LBP_HB_LEAVING);
    release_all(s);
    if (s->lease_started)
        pthread_join(s->lease_th, NULL);
    s->lease_started = false;
    int rc = lease_write(s, true);
    if (rc == LBP_OK)
        lbp_info("speaker: released lease %s/%s", s->o.namespace, s->lease_name);
    else
        lbp_warn("speaker: releasing lease %s/%s: %s", s->o.namespace, s->lease_name,
                 lbp_rc_str(rc));
    if (s->metallb_started)
        pthread_join(s->metallb_th, NULL);
    s->metallb_started = false;
    lbp_informer_stop(s->svc_inf);
    lbp_informer_stop(s->node_inf);
    lbp_informer_stop(s->eps_inf);
    lbp_informer_stop(s->lease_inf);
}

void lbp_speaker_free(struct lbp_speaker *s)
{
    if (!s)
        return;
    if (s->loop_started || s->lease_started || s->metallb_started)
        lbp_speaker_leave(s);
    lbp_informer_free(s->svc_inf);
    lbp_informer_free(s->node_inf);
    lbp_informer_free(s->eps_inf);
    lbp_informer_free(s->lease_inf);
    lbp_members_free(s->members);
    lbp_pool_set_free(s->pools);
    lbp_kube_obj_unref(s->lease);
    owned_free(s->owned, s->n_owned);
    lbp_members_names_free(s->live, s->n_live);
    peers_free(s);
    if (s->evfd >= 0)
        close(s->evfd);
    if (s->fd4 >= 0)
        close(s->fd4);
    if (s->fd6 >= 0)
        close(s->fd6);
    pthread_cond_destroy(&s->cv);
    pthread_mutex_destroy(&s->mu);
    pthread_mutex_destroy(&s->pools_mu);
    free(s->lease_name);
    free(s->pool_yaml);
    free(s);
}

int lbp_speaker_reload_pools(struct lbp_speaker *s, const char *yaml, size_t len, char *err,
                             size_t errlen)
{
    struct lbp_pools_diag d = {0};
    struct lbp_pool_set *check = lbp_pool_set_new();
    char *copy = NULL;
    int rc = LBP_NOMEM;

    /* The file alone must stand: refuse it whole rather than half-apply it. */
    if (!check)
        goto out;
    if ((rc = lbp_pools_add_yaml(check, yaml, len, &d)) || (rc = lbp_pool_set_check(check, &d))) {
        lbp_seterr(err, errlen, "%s", d.err[0] ? d.err : lbp_rc_str(rc));
        rc = LBP_INVALID;
        goto out;
    }
    if (!(copy = strndup(yaml, len))) {
        rc = LBP_NOMEM;
        goto out;
    }
    pthread_mutex_lock(&s->pools_mu);
    free(s->pool_yaml);
    s->pool_yaml = copy;
    s->pool_gen++;
    pthread_mutex_unlock(&s->pools_mu);
    metallb_refresh(s); /* rebuild with the MetalLB objects, then recompute */
    rc = LBP_OK;
out:
    lbp_pool_set_free(check);
    return rc;
}

bool lbp_speaker_ready(struct lbp_speaker *s, char *why, size_t len)
{
    uint64_t now = lbp_now_ms();
    pthread_mutex_lock(&s->mu);
    bool held = s->lease_ok_ms && now < s->lease_ok_ms + s->o.lease_duration_ms;
    pthread_mutex_unlock(&s->mu);
    if (!synced(s)) {
        snprintf(why, len, "caches not synced");
        return false;
    }
    if (!held) {
        snprintf(why, len, "speaker lease not held");
        return false;
    }
    return true;
}

int lbp_speaker_debug_json(struct lbp_speaker *s, struct lbp_buf *out)
{
    json_object *o = json_object_new_object(), *owned = json_object_new_array(),
                *live = json_object_new_array();
    int rc = LBP_OK;
    pthread_mutex_lock(&s->mu);
    json_object_object_add(o, "node", json_object_new_string(s->o.node_name));
    json_object_object_add(o, "apiHealthy", json_object_new_boolean(s->api_ok));
    json_object_object_add(o, "frozen", json_object_new_boolean(s->frozen));
    for (size_t i = 0; i < s->n_live; i++)
        json_object_array_add(live, json_object_new_string(s->live[i]));
    for (size_t i = 0; i < s->n_owned; i++) {
        json_object *e = json_object_new_object();
        json_object_object_add(e, "ip", json_object_new_string(s->owned[i].ip));
        json_object_object_add(e, "service", json_object_new_string(s->owned[i].svc));
        json_object_array_add(owned, e);
    }
    pthread_mutex_unlock(&s->mu);
    json_object_object_add(o, "live", live);
    json_object_object_add(o, "owned", owned);
    if (lbp_buf_adds(out, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN)) ||
        lbp_buf_adds(out, "\n"))
        rc = LBP_TOOBIG;
    json_object_put(o);
    return rc;
}
