/*
 * yaml_json.c — see yaml_json.h. libyaml's document loader builds the node
 * graph; it is walked once into json-c. Depth is capped so a hostile alias
 * chain cannot recurse without end (manifests are a few levels deep).
 */
#include "test/integration/yaml_json.h"
#include "common/util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

static json_object *scalar(const yaml_node_t *n)
{
    const char *s = (const char *)n->data.scalar.value;
    long v;
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_object_new_string(s);
    if (strcmp(s, "true") == 0 || strcmp(s, "false") == 0)
        return json_object_new_boolean(s[0] == 't');
    if (!*s || strcmp(s, "null") == 0 || strcmp(s, "~") == 0)
        return NULL;
    if (strspn(s, "-0123456789") == strlen(s) &&
        lbp_parse_long(s, -2147483647L, 2147483647L, &v) == 0)
        return json_object_new_int64(v);
    return json_object_new_string(s);
}

static int convert(yaml_document_t *d, yaml_node_t *n, int depth, json_object **out)
{
    *out = NULL;
    if (!n || depth > MAX_DEPTH)
        return -1;
    switch (n->type) {
    case YAML_SCALAR_NODE:
        *out = scalar(n);
        return 0;
    case YAML_SEQUENCE_NODE: {
        json_object *a = json_object_new_array();
        for (yaml_node_item_t *i = n->data.sequence.items.start; i < n->data.sequence.items.top;
             i++) {
            json_object *v;
            if (convert(d, yaml_document_get_node(d, *i), depth + 1, &v)) {
                json_object_put(a);
                return -1;
            }
            json_object_array_add(a, v);
        }
        *out = a;
        return 0;
    }
    case YAML_MAPPING_NODE: {
        json_object *o = json_object_new_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
             p++) {
            yaml_node_t *k = yaml_document_get_node(d, p->key);
            json_object *v;
            if (!k || k->type != YAML_SCALAR_NODE ||
                convert(d, yaml_document_get_node(d, p->value), depth + 1, &v)) {
                json_object_put(o);
                return -1;
            }
            json_object_object_add(o, (const char *)k->data.scalar.value, v);
        }
        *out = o;
        return 0;
    }
    default:
        return -1;
    }
}

int lbp_test_yaml_load(const char *path, json_object **docs, char *err, size_t errlen)
{
    yaml_parser_t p;
    int rc = -1;
    FILE *f = fopen(path, "r");
    *docs = NULL;
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    yaml_parser_set_input_file(&p, f);
    json_object *a = json_object_new_array();
    for (;;) {
        yaml_document_t d;
        if (!yaml_parser_load(&p, &d)) {
            snprintf(err, errlen, "%s:%zu: %s", path, p.problem_mark.line + 1,
                     p.problem ? p.problem : "YAML error");
            goto out;
        }
        yaml_node_t *root = yaml_document_get_root_node(&d);
        if (!root) {
            yaml_document_delete(&d);
            break; /* end of stream */
        }
        json_object *o = NULL;
        int c = convert(&d, root, 0, &o);
        yaml_document_delete(&d);
        if (c) {
            snprintf(err, errlen, "%s: unsupported YAML (non-scalar key or too deep)", path);
            goto out;
        }
        if (o)
            json_object_array_add(a, o);
    }
    *docs = a;
    a = NULL;
    rc = 0;
out:
    json_object_put(a);
    yaml_parser_delete(&p);
    fclose(f);
    return rc;
}
