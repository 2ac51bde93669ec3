/*
 * health.c — the heartbeat registry (see health.h).
 *
 * Heartbeats form one list under a mutex taken only to register, to
 * unregister and by /healthz; a stamp is a single atomic store of the
 * monotonic time the work began (0: idle), so loops never contend.
 */
#include "common/health.h"
#include "common/util.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct lbp_heartbeat {
    struct lbp_heartbeat *next;
    uint64_t busy_since_ms; /* atomic; 0 while idle */
    char name[48];
};

static pthread_mutex_t hb_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lbp_heartbeat *hb_head;
static uint64_t bound_ms = LBP_HEALTH_DEFAULT_BOUND_MS; /* atomic */

struct lbp_heartbeat *lbp_heartbeat_new(const char *name)
{
    struct lbp_heartbeat *hb = calloc(1, sizeof(*hb));
    if (!hb)
        return NULL;
    lbp_strlcpy(hb->name, name, sizeof(hb->name));
    pthread_mutex_lock(&hb_mu);
    hb->next = hb_head;
    hb_head = hb;
    pthread_mutex_unlock(&hb_mu);
    return hb;
}

void lbp_heartbeat_busy(struct lbp_heartbeat *hb)
{
    uint64_t now = lbp_now_ms();
    if (hb)
        __atomic_store_n(&hb->busy_since_ms, now ? now : 1, __ATOMIC_RELAXED);
}

void lbp_heartbeat_idle(struct lbp_heartbeat *hb)
{
    if (hb)
        __atomic_store_n(&hb->busy_since_ms, 0, __ATOMIC_RELAXED);
}

void lbp_heartbeat_free(struct lbp_heartbeat *hb)
{
    struct lbp_heartbeat **pp;
    if (!hb)
        return;
    pthread_mutex_lock(&hb_mu);
    for (pp = &hb_head; *pp; pp = &(*pp)->next)
        if (*pp == hb) {
            *pp = hb->next;
            break;
        }
    pthread_mutex_unlock(&hb_mu);
    free(hb);
}

void lbp_health_set_bound_ms(uint64_t ms)
{
    __atomic_store_n(&bound_ms, ms ? ms : LBP_HEALTH_DEFAULT_BOUND_MS, __ATOMIC_RELAXED);
}

uint64_t lbp_health_bound_ms(void)
{
    return __atomic_load_n(&bound_ms, __ATOMIC_RELAXED);
}

bool lbp_health_check(struct lbp_buf *out)
{
    uint64_t now = lbp_now_ms(), bound = lbp_health_bound_ms();
    bool ok = true;
    pthread_mutex_lock(&hb_mu);
    for (struct lbp_heartbeat *hb = hb_head; hb; hb = hb->next) {
        uint64_t since = __atomic_load_n(&hb->busy_since_ms, __ATOMIC_RELAXED);
        if (since && now > since && now - since > bound) {
            ok = false;
            lbp_buf_addf(out, "%s busy for %llu ms (bound %llu ms)\n", hb->name,
                         (unsigned long long)(now - since), (unsigned long long)bound);
        }
    }
    pthread_mutex_unlock(&hb_mu);
    return ok;
}
