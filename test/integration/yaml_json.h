/*
 * yaml_json.h — YAML files as json-c objects, for tests that feed the deploy
 * manifests to the fake API server or check their shape. Every document of
 * a multi-document file becomes one object; plain scalars get YAML 1.2 core
 * types (true/false, null, integers), anything quoted stays a string.
 */
#ifndef LBP_TEST_YAML_JSON_H
#define LBP_TEST_YAML_JSON_H

#include <json-c/json.h>
#include <stddef.h>

/*
 * Loads every non-empty document of path into *docs (a json-c array the
 * caller puts). Returns 0, or -1 with a message (file, line) in err.
 */
int lbp_test_yaml_load(const char *path, json_object **docs, char *err, size_t errlen);

#endif
