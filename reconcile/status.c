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
 */
#include "reconcile/reconcile_int.h"
#include "common/log.h"
#include "common/util.h"

#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#define WRITE_ATTEMPTS 5

static void svc_path(const struct lbp_service *svc, bool status, char *out, size_t len)
{
    snprintf(out, len, "/api/v1/namespaces/%s/services/%s%s", svc->meta.namespace, svc->meta.name,
             status ? "/status" : "");
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
        json_object *root, *meta, *fins;
        if (has == add) {
            rc = LBP_OK;
            goto out;
        }
        root = json_object_new_object();
        meta = json_object_new_object();
        fins = json_object_new_array();
        for (size_t i = 0; i < cur->meta.n_finalizers; i++)
            if (strcmp(cur->meta.finalizers[i], LBP_FINALIZER) != 0)
                json_object_array_add(fins, json_object_new_string(cur->meta.finalizers[i]));
        if (add)
            json_object_array_add(fins, json_object_new_string(LBP_FINALIZER));
        json_object_object_add(
            meta, "resourceVersion",
            json_object_new_string(cur->meta.resource_version ? cur->meta.resource_version : ""));
        json_object_object_add(meta, "finalizers", fins);
        json_object_object_add(root, "metadata", meta);
        rc = lbp_kube_patch(c, path, LBP_PATCH_MERGE,
                            json_object_to_json_string_ext(
                                root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                            NULL);
        json_object_put(root);
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

int lbp_svc_write_status(struct lbp_kube_client *c, const struct lbp_service *svc,
                         const struct lbp_lb_status *st)
{
    json_object *root = json_object_new_object(), *status = json_object_new_object();
    json_object *lb = json_object_new_object();
    char path[600];
    int rc = LBP_OK;
    if (st && st->n_ingress) {
        json_object *ing = json_object_new_array();
        for (size_t i = 0; i < st->n_ingress; i++) {
            json_object *o = json_object_new_object();
            if (st->ingress[i].ip[0])
                json_object_object_add(o, "ip", json_object_new_string(st->ingress[i].ip));
            if (st->ingress[i].hostname[0])
                json_object_object_add(o, "hostname",
                                       json_object_new_string(st->ingress[i].hostname));
            if (st->ingress[i].ip_mode[0])
                json_object_object_add(o, "ipMode", json_object_new_string(st->ingress[i].ip_mode));
            json_object_array_add(ing, o);
        }
        json_object_object_add(lb, "ingress", ing);
    } else {
        json_object_object_add(lb, "ingress", NULL); /* merge patch: delete the list */
    }
    json_object_object_add(status, "loadBalancer", lb);
    json_object_object_add(root, "status", status);
    svc_path(svc, true, path, sizeof(path));
    for (int attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
        rc = lbp_kube_patch(c, path, LBP_PATCH_MERGE,
                            json_object_to_json_string_ext(
                                root, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE),
                            NULL);
        if (rc != LBP_CONFLICT)
            break;
        lbp_v(2, "%s: conflict writing status, retrying", svc->meta.key);
    }
    json_object_put(root);
    return rc;
}
