/*
 * status.c — the controller's two kinds of Service writes, both PATCHes on
 * the status subresource (as upstream): the finalizer, and
 * status.loadBalancer.
 *
 * The finalizer list is replaced whole by a merge patch, so it carries the
 * resourceVersion it was computed from: a concurrent writer makes it fail
 * with 409 and we re-read and recompute instead of dropping their
 * finalizer. status.loadBalancer is written only by us, so its patch needs
 * no precondition and a 409 is simply retried.
 *
 * Both bodies are written straight into a buffer, not built as json-c
 * objects and serialised: they run twice per Service, and the objects cost
 * more than the few strings they hold. The bytes are those json-c wrote.
 */
#include "reconcile/reconcile_int.h"
#include "common/buf.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

#include <stdio.h>
#include <string.h>

#define WRITE_ATTEMPTS 5
#define BODY_MAX (256 * 1024)

/* Appends src to out at *at, cut at len - 1 like snprintf; no printf on the write path. */
static void put(char *out, size_t len, size_t *at, const char *src)
{
    size_t n = strlen(src);
    if (*at + n >= len)
        n = *at < len - 1 ? len - 1 - *at : 0;
    memcpy(out + *at, src, n);
    *at += n;
    out[*at] = '\0';
}

static void svc_path(const struct lbp_service *svc, bool status, char *out, size_t len)
{
    size_t at = 0;
    out[0] = '\0';
    put(out, len, &at, "/api/v1/namespaces/");
    put(out, len, &at, svc->meta.namespace ? svc->meta.namespace : "");
    put(out, len, &at, "/services/");
    put(out, len, &at, svc->meta.name ? svc->meta.name : "");
    if (status)
        put(out, len, &at, "/status");
}

static int fetch(struct lbp_kube_client *c, const struct lbp_service *svc, struct lbp_service **out)
{
    char path[600];
    struct lbp_kube_response resp = {0};
    int rc;
    svc_path(svc, false, path, sizeof(path));
    rc = lbp_kube_get(c, path, &resp);
    if (rc == LBP_OK)
        rc = lbp_kube_decode(LBP_KIND_SERVICE, resp.body, resp.body_len, (void **)out);
    lbp_kube_response_free(&resp);
    return rc;
}

int lbp_svc_finalizer(struct lbp_kube_client *c, const struct lbp_service *svc, bool add)
{
    struct lbp_service *fresh = NULL;
    const struct lbp_service *cur = svc;
    char path[600];
    int rc = LBP_OK;
    svc_path(svc, true, path, sizeof(path));
    for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        bool has = lbp_meta_has_finalizer(&cur->meta, LBP_FINALIZER);
        struct lbp_buf body;
        bool first = true;
        if (has == add) {
            rc = LBP_OK;
            goto out;
        }
        /* {"metadata":{"resourceVersion":RV,"finalizers":[...]}} */
        lbp_buf_init(&body, BODY_MAX);
        rc = lbp_buf_adds(&body, "{\"metadata\":{\"resourceVersion\":");
        if (!rc)
            rc = lbp_buf_add_json_str(&body,
                                      cur->meta.resource_version ? cur->meta.resource_version : "");
        if (!rc)
            rc = lbp_buf_adds(&body, ",\"finalizers\":[");
        for (size_t i = 0; !rc && i < cur->meta.n_finalizers; i++) {
            if (strcmp(cur->meta.finalizers[i], LBP_FINALIZER) == 0)
                continue;
            if (!first)
                rc = lbp_buf_adds(&body, ",");
            if (!rc)
                rc = lbp_buf_add_json_str(&body, cur->meta.finalizers[i]);
            first = false;
        }
        if (!rc && add)
            rc = lbp_buf_adds(&body, first ? "\"" LBP_FINALIZER "\"" : ",\"" LBP_FINALIZER "\"");
        if (!rc)
            rc = lbp_buf_adds(&body, "]}}");
        if (!rc)
            rc = lbp_kube_patch(c, path, LBP_PATCH_MERGE, body.data, NULL);
        lbp_buf_free(&body);
        if (rc != LBP_CONFLICT)
            goto out;
        lbp_v(2, "%s: conflict writing the finalizer, re-reading", svc->meta.key);
        if (fresh)
            lbp_kube_obj_unref(fresh);
        fresh = NULL;
        rc = fetch(c, svc, &fresh);
        if (rc == LBP_NOT_FOUND && !add) {
            rc = LBP_OK; /* gone already: nothing left to release */
            goto out;
        }
        if (rc)
            goto out;
        if (fresh->meta.uid && svc->meta.uid && strcmp(fresh->meta.uid, svc->meta.uid) != 0) {
            rc = LBP_CONFLICT; /* a new object with the same name: its own sync will handle it */
            goto out;
        }
        cur = fresh;
        rc = LBP_CONFLICT;
    }
out:
    if (fresh)
        lbp_kube_obj_unref(fresh);
    return rc;
}

/*
 * One "key":value member of an ingress entry when val is set: sep ("{" for
 * the first member, "," after) opens it.
 */
static int add_member(struct lbp_buf *b, const char **sep, const char *key, const char *val)
{
    int rc;
    if (!val[0])
        return LBP_OK;
    rc = lbp_buf_adds(b, *sep);
    if (!rc)
        rc = lbp_buf_adds(b, key);
    if (!rc)
        rc = lbp_buf_add_json_str(b, val);
    *sep = ",";
    return rc;
}

int lbp_svc_write_status(struct lbp_kube_client *c, const struct lbp_service *svc,
                         const struct lbp_lb_status *st)
{
    struct lbp_buf body;
    char path[600];
    int rc;

    /* {"status":{"loadBalancer":{"ingress":[{"ip":..,"hostname":..,"ipMode":..}]}}} */
    lbp_buf_init(&body, BODY_MAX);
    rc = lbp_buf_adds(&body, "{\"status\":{\"loadBalancer\":{\"ingress\":");
    if (!rc && st && st->n_ingress) {
        rc = lbp_buf_adds(&body, "[");
        for (size_t i = 0; !rc && i < st->n_ingress; i++) {
            const struct lbp_lb_ingress_addr *a = &st->ingress[i];
            const char *sep = "{";
            rc = i ? lbp_buf_adds(&body, ",") : LBP_OK;
            if (!rc)
                rc = add_member(&body, &sep, "\"ip\":", a->ip);
            if (!rc)
                rc = add_member(&body, &sep, "\"hostname\":", a->hostname);
            if (!rc)
                rc = add_member(&body, &sep, "\"ipMode\":", a->ip_mode);
            if (!rc)
                rc = lbp_buf_adds(&body, *sep == '{' ? "{}" : "}");
        }
        if (!rc)
            rc = lbp_buf_adds(&body, "]");
    } else if (!rc) {
        rc = lbp_buf_adds(&body, "null"); /* merge patch: delete the list */
    }
    if (!rc)
        rc = lbp_buf_adds(&body, "}}}");
    if (rc)
        goto out;
    svc_path(svc, true, path, sizeof(path));
    for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        rc = lbp_kube_patch(c, path, LBP_PATCH_MERGE, body.data, NULL);
        if (rc != LBP_CONFLICT)
            break;
        lbp_v(2, "%s: conflict writing status, retrying", svc->meta.key);
    }
out:
    lbp_buf_free(&body);
    return rc;
}
