/*
 * json.h — strict parsing and typed getters on json-c whose errors name
 * the field.
 *
 * Every document lbprov reads from a peer (cloud answers, metadata
 * servers, token endpoints, MetalLB objects) is parsed with
 * lbp_json_parse: exactly one value, bounded size, no trailing data. Values
 * are then read by path — "error.code", "items[2].name" — and every
 * failure says which path and what is wrong ("error.code: not a string"),
 * so an Event or log line tells the operator exactly which field a cloud
 * got wrong. A missing value (or JSON null) is LBP_NOT_FOUND, so optional
 * fields need no second lookup; a wrong type or size is LBP_PARSE.
 */
#ifndef LBP_COMMON_JSON_H
#define LBP_COMMON_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct json_object;

/*
 * Parses len bytes of text as one JSON value (white space may follow)
 * into *out (json_object_put it). LBP_TOOBIG over max bytes, LBP_PARSE
 * with a short reason in err for the caller to frame ("empty", "truncated",
 * "trailing data", or json-c's description of the syntax error), LBP_NOMEM.
 */
int lbp_json_parse(const char *text, size_t len, size_t max, struct json_object **out, char *err,
                   size_t errlen);

/* The value at path below o ("a.b[3].c"; "" is o itself); NULL when absent or null. */
struct json_object *lbp_json_at(struct json_object *o, const char *path);

/* A string of at most max bytes; *out points into o. */
int lbp_json_get_str(struct json_object *o, const char *path, size_t max, const char **out,
                     char *err, size_t errlen);
/* A non-empty string copied into buf (it must fit: no silent cut). */
int lbp_json_copy_str(struct json_object *o, const char *path, char *buf, size_t cap, char *err,
                      size_t errlen);
/* An integer in [min, max]. */
int lbp_json_get_int(struct json_object *o, const char *path, int64_t min, int64_t max,
                     int64_t *out, char *err, size_t errlen);
/* The same, also accepting a string of decimal digits (Azure's "expires_in": "3599"). */
int lbp_json_get_num(struct json_object *o, const char *path, int64_t min, int64_t max,
                     int64_t *out, char *err, size_t errlen);
int lbp_json_get_bool(struct json_object *o, const char *path, bool *out, char *err, size_t errlen);
/* An object. */
int lbp_json_get_obj(struct json_object *o, const char *path, struct json_object **out, char *err,
                     size_t errlen);
/* An array of at most max elements. */
int lbp_json_get_array(struct json_object *o, const char *path, size_t max,
                       struct json_object **out, size_t *n, char *err, size_t errlen);

/* Adds key: n (a counter, for debug and status dumps). */
void lbp_json_add_u64(struct json_object *o, const char *key, uint64_t n);

#endif
