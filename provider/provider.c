/*
 * provider.c — the registry of built-in clouds and helpers every cloud uses.
 *
 * Which clouds are in the table is decided at build time (one LBP_CLOUD_*
 * definition per compiled cloud); --cloud picks one at run time.
 */
#include "provider/provider.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef LBP_CLOUD_MOCK
extern const struct lbp_provider lbp_provider_mock;
#endif
#ifdef LBP_CLOUD_BAREMETAL
extern const struct lbp_provider lbp_provider_baremetal;
#endif
#ifdef LBP_CLOUD_AWS
extern const struct lbp_provider lbp_provider_aws;
#endif
#ifdef LBP_CLOUD_CLOUDSTACK
extern const struct lbp_provider lbp_provider_cloudstack;
#endif
#ifdef LBP_CLOUD_GCE
extern const struct lbp_provider lbp_provider_gce;
#endif
#ifdef LBP_CLOUD_AZURE
extern const struct lbp_provider lbp_provider_azure;
#endif

const struct lbp_provider *const lbp_providers[] = {
#ifdef LBP_CLOUD_MOCK
    &lbp_provider_mock,
#endif
#ifdef LBP_CLOUD_BAREMETAL
    &lbp_provider_baremetal,
#endif
#ifdef LBP_CLOUD_AWS
    &lbp_provider_aws,
#endif
#ifdef LBP_CLOUD_CLOUDSTACK
    &lbp_provider_cloudstack,
#endif
#ifdef LBP_CLOUD_GCE
    &lbp_provider_gce,
#endif
#ifdef LBP_CLOUD_AZURE
    &lbp_provider_azure,
#endif
    NULL,
};

const struct lbp_provider *lbp_provider_find(const char *name)
{
    for (size_t i = 0; lbp_providers[i]; i++)
        if (strcmp(lbp_providers[i]->name, name) == 0)
            return lbp_providers[i];
    return NULL;
}

int lbp_provider_check(const struct lbp_provider *p, char *err, size_t errlen)
{
    const char *what = NULL;
    size_t kinds = 0;
    for (; p->config_kinds && p->config_kinds[kinds].kind; kinds++)
        if (!p->config_kinds[kinds].path || !p->config_kinds[kinds].source)
            what = "a config kind without an API path or source";
    if (!p->init || !p->cleanup || !p->get || !p->ensure || !p->remove || !p->ping)
        what = "one of the slots every cloud needs (init, cleanup, get, ensure, remove, ping)";
    else if ((p->caps & LBP_CAP_RUNTIME_CONFIG) && (!p->configure || !kinds))
        what = "LBP_CAP_RUNTIME_CONFIG without a configure slot and config_kinds";
    else if (kinds > LBP_CONFIG_KINDS_MAX)
        what = "more than LBP_CONFIG_KINDS_MAX config kinds";
    else if (!(p->caps & LBP_CAP_RUNTIME_CONFIG) && (p->configure || kinds))
        what = "a configure slot or config_kinds without LBP_CAP_RUNTIME_CONFIG";
    else if ((p->caps & LBP_CAP_ALLOCATES_ADDRESSES) && !p->restore)
        what = "LBP_CAP_ALLOCATES_ADDRESSES without a restore slot";
    if (!what)
        return LBP_OK;
    snprintf(err, errlen, "cloud %s: %s", p->name ? p->name : "(unnamed)", what);
    return LBP_INVALID;
}

void lbp_failf(struct lbp_call *call, const char *fmt, ...)
{
    va_list ap;
    if (!call)
        return;
    va_start(ap, fmt);
    vsnprintf(call->err, sizeof(call->err), fmt, ap);
    va_end(ap);
}

void lbp_lb_name(const char *uid, char out[LBP_LB_NAME_LEN + 1])
{
    size_t n = 0;
    out[n++] = 'a';
    for (const char *p = uid; *p && n < LBP_LB_NAME_LEN; p++)
        if (*p != '-')
            out[n++] = *p;
    out[n] = '\0';
}

/* ---- list_owned's answer ---- */

struct owned_ent {
    size_t lb_name, ns, name; /* offsets into the string buffer */
};

/* A cap no honest cloud answer reaches: LBP_VEC_MAX_ITEMS entries of typical names. */
#define OWNED_STR_MAX ((size_t)LBP_VEC_MAX_ITEMS * 256)

void lbp_owned_init(struct lbp_owned_list *l)
{
    lbp_vec_init(&l->ent, sizeof(struct owned_ent));
    lbp_buf_init(&l->str, OWNED_STR_MAX);
}

/* Appends s (at most max bytes of it) and its NUL; *off says where it starts. */
static int owned_str(struct lbp_owned_list *l, const char *s, size_t len, size_t max, size_t *off)
{
    static const char nul = '\0';
    int rc;
    *off = l->str.len;
    if (len > max)
        len = max;
    if ((rc = lbp_buf_add(&l->str, s, len)) || (rc = lbp_buf_add(&l->str, &nul, 1)))
        return rc;
    return LBP_OK;
}

static int owned_addn(struct lbp_owned_list *l, const char *lb_name, const char *ns, size_t ns_len,
                      const char *name)
{
    struct owned_ent e, *slot;
    size_t mark = l->str.len;
    int rc;
    if ((rc = owned_str(l, lb_name, strlen(lb_name), LBP_OWNED_LB_NAME_MAX, &e.lb_name)) ||
        (rc = owned_str(l, ns, ns_len, LBP_OWNED_NAME_MAX, &e.ns)) ||
        (rc = owned_str(l, name, strlen(name), LBP_OWNED_NAME_MAX, &e.name)))
        goto out;
    if (!(slot = lbp_vec_push(&l->ent))) {
        rc = LBP_NOMEM;
        goto out;
    }
    *slot = e;
out:
    if (rc) /* no half entry: drop what this one appended */
        l->str.len = mark;
    return rc;
}

int lbp_owned_add(struct lbp_owned_list *l, const char *lb_name, const char *ns, const char *name)
{
    ns = ns ? ns : "";
    return owned_addn(l, lb_name ? lb_name : "", ns, strlen(ns), name ? name : "");
}

int lbp_owned_add_key(struct lbp_owned_list *l, const char *lb_name, const char *key)
{
    const char *slash = key ? strchr(key, '/') : NULL;
    if (!slash)
        return owned_addn(l, lb_name ? lb_name : "", "", 0, "");
    return owned_addn(l, lb_name ? lb_name : "", key, (size_t)(slash - key), slash + 1);
}

bool lbp_owned_has(const struct lbp_owned_list *l, const char *lb_name)
{
    for (size_t i = 0; i < l->ent.n; i++) {
        const struct owned_ent *e = lbp_vec_at(&l->ent, i);
        if (strcmp(l->str.data + e->lb_name, lb_name) == 0)
            return true;
    }
    return false;
}

size_t lbp_owned_count(const struct lbp_owned_list *l)
{
    return l->ent.n;
}

int lbp_owned_take(struct lbp_owned_list *l, struct lbp_lb_owned **out, size_t *n)
{
    size_t arr = l->ent.n * sizeof(struct lbp_lb_owned);
    struct lbp_lb_owned *o = malloc(arr + l->str.len + 1);
    char *str;
    int rc = LBP_OK;
    *out = NULL;
    *n = 0;
    if (!o) {
        rc = LBP_NOMEM;
        goto out;
    }
    str = (char *)o + arr;
    if (l->str.len)
        memcpy(str, l->str.data, l->str.len);
    str[l->str.len] = '\0';
    for (size_t i = 0; i < l->ent.n; i++) {
        const struct owned_ent *e = lbp_vec_at(&l->ent, i);
        o[i].lb_name = str + e->lb_name;
        o[i].namespace = str + e->ns;
        o[i].name = str + e->name;
    }
    *out = o;
    *n = l->ent.n;
out:
    lbp_owned_free(l);
    return rc;
}

void lbp_owned_free(struct lbp_owned_list *l)
{
    lbp_vec_free(&l->ent);
    lbp_buf_free(&l->str);
    lbp_owned_init(l);
}
