/*
 * test_wire_format.c — the protobuf encoding the wire-format benchmark
 * times (test/bench/wire_pb.c) carries the whole Service: every field
 * lbprov decodes comes back equal to what lbprov's JSON decoder makes of
 * the same object, through the object envelope, a watch frame and a LIST
 * page, and the fields it does not decode (managedFields, the
 * last-applied annotation, clusterIPs, ...) are in the bytes. Also: a body
 * that is not an enveloped Service is refused.
 */
#include "kube/kube.h"
#include "common/file.h"
#include "common/rc.h"
#include "test/bench/wire_pb.h"

#include <json-c/json.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

static char *fixture(const char *name, size_t *len)
{
    char path[512], *json = NULL;
    snprintf(path, sizeof(path), "%s/kube/%s", LBP_TEST_DATA_DIR, name);
    assert_int_equal(lbp_file_read(path, 1 << 20, 0, &json, len), LBP_OK);
    return json;
}

static void str_eq(const char *a, const char *b)
{
    if (!a || !b)
        assert_ptr_equal(a, b);
    else
        assert_string_equal(a, b);
}

static void list_eq(char **a, size_t na, char **b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++)
        str_eq(a[i], b[i]);
}

static void kv_eq(const struct lbp_kv *a, size_t na, const struct lbp_kv *b, size_t nb)
{
    assert_int_equal(na, nb);
    for (size_t i = 0; i < na; i++) {
        str_eq(a[i].key, b[i].key);
        str_eq(a[i].value, b[i].value);
    }
}

/* Every field of struct lbp_service. */
static void service_eq(const struct lbp_service *a, const struct lbp_service *b)
{
    str_eq(a->meta.namespace, b->meta.namespace);
    str_eq(a->meta.name, b->meta.name);
    str_eq(a->meta.key, b->meta.key);
    str_eq(a->meta.uid, b->meta.uid);
    str_eq(a->meta.resource_version, b->meta.resource_version);
    assert_int_equal(a->meta.creation_s, b->meta.creation_s);
    assert_int_equal(a->meta.deleting, b->meta.deleting);
    assert_int_equal(a->meta.partial, b->meta.partial);
    kv_eq(a->meta.labels, a->meta.n_labels, b->meta.labels, b->meta.n_labels);
    kv_eq(a->meta.annotations, a->meta.n_annotations, b->meta.annotations, b->meta.n_annotations);
    list_eq(a->meta.finalizers, a->meta.n_finalizers, b->meta.finalizers, b->meta.n_finalizers);
    str_eq(a->type, b->type);
    str_eq(a->lb_class, b->lb_class);
    str_eq(a->lb_ip, b->lb_ip);
    list_eq(a->lb_source_ranges, a->n_lb_source_ranges, b->lb_source_ranges, b->n_lb_source_ranges);
    assert_int_equal(a->n_ports, b->n_ports);
    for (size_t i = 0; i < a->n_ports; i++) {
        str_eq(a->ports[i].name, b->ports[i].name);
        str_eq(a->ports[i].protocol, b->ports[i].protocol);
        assert_int_equal(a->ports[i].port, b->ports[i].port);
        assert_int_equal(a->ports[i].node_port, b->ports[i].node_port);
        str_eq(a->ports[i].target_port, b->ports[i].target_port);
        str_eq(a->ports[i].app_protocol, b->ports[i].app_protocol);
    }
    kv_eq(a->selector, a->n_selector, b->selector, b->n_selector);
    str_eq(a->session_affinity, b->session_affinity);
    assert_int_equal(a->session_affinity_timeout, b->session_affinity_timeout);
    str_eq(a->external_traffic_policy, b->external_traffic_policy);
    str_eq(a->internal_traffic_policy, b->internal_traffic_policy);
    assert_int_equal(a->health_check_node_port, b->health_check_node_port);
    list_eq(a->ip_families, a->n_ip_families, b->ip_families, b->n_ip_families);
    str_eq(a->ip_family_policy, b->ip_family_policy);
    assert_int_equal(a->allocate_lb_node_ports, b->allocate_lb_node_ports);
    list_eq(a->external_ips, a->n_external_ips, b->external_ips, b->n_external_ips);
    str_eq(a->cluster_ip, b->cluster_ip);
    assert_int_equal(a->n_ingress, b->n_ingress);
    for (size_t i = 0; i < a->n_ingress; i++) {
        str_eq(a->ingress[i].ip, b->ingress[i].ip);
        str_eq(a->ingress[i].hostname, b->ingress[i].hostname);
        str_eq(a->ingress[i].ip_mode, b->ingress[i].ip_mode);
    }
}

/* The fixture through JSON and through each protobuf payload: the same struct. */
static void roundtrip(const char *name)
{
    struct lbp_wire_arena a;
    Lbpwire__Service *msg = NULL;
    struct lbp_service *js = NULL, *pb = NULL, **items = NULL;
    uint8_t *env = NULL, *frame = NULL, *list_env = NULL;
    size_t len, env_len, frame_len, list_len, n = 0;
    char type[17];
    char *json = fixture(name, &len);

    lbp_wire_arena_init(&a, 1 << 16);
    assert_int_equal(lbp_kube_decode(LBP_KIND_SERVICE, json, len, (void **)&js), LBP_OK);
    assert_int_equal(lbp_wire_service_from_json(&a, json, len, &msg), LBP_OK);
    assert_int_equal(lbp_wire_envelope(&msg->base, "v1", "Service", &env, &env_len), LBP_OK);

    /* the object, with protobuf-c's own allocator and with the arena */
    assert_int_equal(lbp_wire_decode_service(env, env_len, NULL, &pb), LBP_OK);
    service_eq(js, pb);
    lbp_kube_obj_unref(pb);
    struct lbp_wire_arena ua;
    lbp_wire_arena_init(&ua, 4096);
    assert_int_equal(lbp_wire_decode_service(env, env_len, &ua.pa, &pb), LBP_OK);
    service_eq(js, pb);
    lbp_kube_obj_unref(pb);
    lbp_wire_arena_free(&ua);

    /* a watch frame */
    assert_int_equal(lbp_wire_watch_frame("MODIFIED", env, env_len, &frame, &frame_len), LBP_OK);
    assert_int_equal(lbp_wire_decode_watch(frame, frame_len, NULL, type, sizeof(type), &pb),
                     LBP_OK);
    assert_string_equal(type, "MODIFIED");
    service_eq(js, pb);
    lbp_kube_obj_unref(pb);

    /* a LIST page of two */
    Lbpwire__ServiceList list = LBPWIRE__SERVICE_LIST__INIT;
    Lbpwire__Service *two[2] = {msg, msg};
    list.items = two;
    list.n_items = 2;
    assert_int_equal(lbp_wire_envelope(&list.base, "v1", "ServiceList", &list_env, &list_len),
                     LBP_OK);
    assert_int_equal(lbp_wire_decode_list(list_env, list_len, NULL, &items, &n), LBP_OK);
    assert_int_equal(n, 2);
    for (size_t i = 0; i < n; i++) {
        service_eq(js, items[i]);
        lbp_kube_obj_unref(items[i]);
    }
    free(items);

    free(list_env);
    free(frame);
    free(env);
    lbp_kube_obj_unref(js);
    lbp_wire_arena_free(&a);
    free(json);
}

static void test_roundtrip_managed(void **state)
{
    (void)state;
    roundtrip("service_managed.json");
}

/* The hand-written fixture has what the served one lacks: named targetPort, appProtocol,
 * source ranges, affinity timeout, healthCheckNodePort, class, a hostname ingress. */
static void test_roundtrip_rich(void **state)
{
    (void)state;
    roundtrip("service_lb.json");
}

static json_object *jget(json_object *o, const char *k)
{
    json_object *v = NULL;
    assert_true(json_object_object_get_ex(o, k, &v));
    return v;
}

/* What lbprov does not decode is in the bytes too, so the sizes are a whole object's. */
static void test_undecoded_fields_encoded(void **state)
{
    struct lbp_wire_arena a;
    Lbpwire__Service *msg = NULL, *back = NULL;
    Lbpwire__Unknown *u = NULL;
    uint8_t *env = NULL;
    size_t len, env_len;
    char *json = fixture("service_managed.json", &len);
    json_object *root = json_tokener_parse(json), *md = jget(root, "metadata");
    (void)state;

    lbp_wire_arena_init(&a, 1 << 16);
    assert_int_equal(lbp_wire_service_from_json(&a, json, len, &msg), LBP_OK);
    assert_int_equal(lbp_wire_envelope(&msg->base, "v1", "Service", &env, &env_len), LBP_OK);
    assert_memory_equal(env, "k8s\0", 4);
    assert_int_equal(lbp_wire_unwrap(env, env_len, NULL, &u), LBP_OK);
    assert_string_equal(u->typemeta->apiversion, "v1");
    assert_string_equal(u->typemeta->kind, "Service");
    back = lbpwire__service__unpack(NULL, u->raw.len, u->raw.data);
    assert_non_null(back);

    const Lbpwire__ObjectMeta *m = back->metadata;
    json_object *mf = jget(md, "managedFields");
    assert_int_equal(m->n_managedfields, json_object_array_length(mf));
    for (size_t i = 0; i < m->n_managedfields; i++) {
        json_object *e = json_object_array_get_idx(mf, i);
        const Lbpwire__ManagedFieldsEntry *d = m->managedfields[i];
        size_t fl;
        const char *fields =
            json_object_to_json_string_length(jget(e, "fieldsV1"), JSON_C_TO_STRING_PLAIN, &fl);
        assert_string_equal(d->manager, json_object_get_string(jget(e, "manager")));
        assert_string_equal(d->operation, json_object_get_string(jget(e, "operation")));
        assert_string_equal(d->fieldstype, "FieldsV1");
        assert_non_null(d->time);
        assert_true(d->time->seconds > 0);
        assert_int_equal(d->fieldsv1->raw.len, fl);
        assert_memory_equal(d->fieldsv1->raw.data, fields, fl);
    }
    assert_string_equal(m->managedfields[1]->subresource, "status");
    assert_int_equal(m->generation, 1);
    const char *last = NULL;
    for (size_t i = 0; i < m->n_annotations; i++)
        if (!strcmp(m->annotations[i]->key, "kubectl.kubernetes.io/last-applied-configuration"))
            last = m->annotations[i]->value;
    assert_non_null(last);
    assert_string_equal(
        last, json_object_get_string(jget(jget(md, "annotations"),
                                          "kubectl.kubernetes.io/last-applied-configuration")));
    const Lbpwire__ServiceSpec *sp = back->spec;
    assert_int_equal(sp->n_clusterips, 1);
    assert_string_equal(sp->clusterips[0], sp->clusterip);
    assert_int_equal(sp->ports[0]->targetport->intval, 8080);

    lbpwire__service__free_unpacked(back, NULL);
    lbpwire__unknown__free_unpacked(u, NULL);
    free(env);
    json_object_put(root);
    lbp_wire_arena_free(&a);
    free(json);
}

static void test_refused(void **state)
{
    struct lbp_wire_arena a;
    Lbpwire__Service *msg = NULL;
    struct lbp_service *s = (void *)1;
    uint8_t *env = NULL, *frame = NULL;
    size_t len, env_len, frame_len;
    char type[17];
    char *json = fixture("service_managed.json", &len);
    (void)state;

    lbp_wire_arena_init(&a, 1 << 16);
    assert_int_equal(lbp_wire_service_from_json(&a, json, len, &msg), LBP_OK);
    /* a Service under another kind's envelope */
    assert_int_equal(lbp_wire_envelope(&msg->base, "v1", "Node", &env, &env_len), LBP_OK);
    assert_int_equal(lbp_wire_decode_service(env, env_len, NULL, &s), LBP_PARSE);
    assert_null(s);
    free(env);
    assert_int_equal(lbp_wire_envelope(&msg->base, "v1", "Service", &env, &env_len), LBP_OK);
    /* JSON where protobuf was asked for (a server without it), and a bad magic */
    assert_int_equal(lbp_wire_decode_service((const uint8_t *)json, len, NULL, &s), LBP_PARSE);
    env[3] = 'x';
    assert_int_equal(lbp_wire_decode_service(env, env_len, NULL, &s), LBP_PARSE);
    env[3] = '\0';
    /* a frame cut short, and one whose length runs past the buffer */
    assert_int_equal(lbp_wire_watch_frame("ADDED", env, env_len, &frame, &frame_len), LBP_OK);
    assert_int_equal(lbp_wire_decode_watch(frame, frame_len - 1, NULL, type, sizeof(type), &s),
                     LBP_PARSE);
    assert_int_equal(lbp_wire_decode_watch(frame, 3, NULL, type, sizeof(type), &s), LBP_PARSE);
    /* a Service without a name is refused, as the JSON decoder refuses it */
    msg->metadata->name = (char *)"";
    free(env);
    assert_int_equal(lbp_wire_envelope(&msg->base, "v1", "Service", &env, &env_len), LBP_OK);
    assert_int_equal(lbp_wire_decode_service(env, env_len, NULL, &s), LBP_PARSE);

    free(frame);
    free(env);
    lbp_wire_arena_free(&a);
    free(json);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_managed),
        cmocka_unit_test(test_roundtrip_rich),
        cmocka_unit_test(test_undecoded_fields_encoded),
        cmocka_unit_test(test_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
