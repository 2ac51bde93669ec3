/*
 * json_view.h — a JSON document read in place: jsmn's tokens over the
 * caller's bytes, checked against RFC 8259, with lookups that never build a
 * tree and never allocate.
 *
 * A view owns one token array. It starts as memory the caller lends (a
 * stack array) or nothing, grows on the heap only when a document needs
 * more tokens, and is reused by the next parse, so a long-lived view
 * (one per informer) settles at the size its largest documents need and
 * then parses without allocating. Tokens are addressed by index; 0 is the
 * root. Strings are decoded only when asked, into the caller's bounded
 * buffer.
 *
 * What a parse accepts is RFC 8259, where jsmn alone is lax: exactly one
 * value with only whitespace around it; literals true, false, null and
 * numbers by the RFC's grammar (no "tru", "01", "1.", "+1"); commas and
 * colons exactly where the grammar puts them; no raw control character in
 * a string; at most LBP_JV_DEPTH nested arrays and objects. Escapes are
 * checked by the grammar (\uD800 alone is grammatical); a string holding
 * a lone surrogate or \u0000 is refused when it is decoded, not when the
 * document is parsed, so such a value is skipped like any other bad field.
 * Bytes are not checked to be UTF-8. Duplicate keys: the first wins —
 * lookups return the first member with the key.
 */
#ifndef LBP_KUBE_JSON_VIEW_H
#define LBP_KUBE_JSON_VIEW_H

#ifndef JSMN_PARENT_LINKS
#define JSMN_PARENT_LINKS
#endif
#ifndef JSMN_STRICT
#define JSMN_STRICT
#endif
#ifndef JSMN_STATIC
#define JSMN_HEADER
#endif
#include <jsmn.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LBP_JV_DEPTH 64 /* nested arrays/objects a document may have */

struct lbp_json_view {
    const char *js; /* the document, not copied */
    size_t len;
    jsmntok_t *tok;   /* tok[0] is the root; after a parse, tok[i].parent is
                       * the index just past token i's subtree, and a
                       * string's .size is 1 when it holds an escape */
    unsigned n, cap;  /* tokens in use; room */
    jsmntok_t *fixed; /* the caller's array, used until a document needs more */
    unsigned n_fixed;
};

/* fixed (may be NULL) lends n_fixed tokens; nothing is allocated yet. */
void lbp_jv_init(struct lbp_json_view *v, jsmntok_t *fixed, unsigned n_fixed);
/* Room for at least cap tokens now, so the first documents do not allocate. */
int lbp_jv_reserve(struct lbp_json_view *v, unsigned cap);
/* Gives back heap tokens beyond keep (a huge document should not pin memory). */
void lbp_jv_trim(struct lbp_json_view *v, unsigned keep);
void lbp_jv_free(struct lbp_json_view *v);

/*
 * Tokenises and checks js[0..len): LBP_OK, LBP_PARSE (not exactly one
 * well-formed value), LBP_TOOBIG (over INT_MAX bytes) or LBP_NOMEM. The
 * view points into js until the next parse.
 */
int lbp_jv_parse(struct lbp_json_view *v, const char *js, size_t len);

/*
 * Where the JSON value starting at js[at] (after blanks) ends: brackets
 * are matched and strings skipped, nothing else is checked — for cutting
 * one value out of a larger text to parse it alone. LBP_PARSE when the
 * value does not end within len or nests deeper than LBP_JV_DEPTH.
 */
int lbp_jv_value_span(const char *js, size_t len, size_t at, size_t *start, size_t *end);

static inline jsmntype_t lbp_jv_type(const struct lbp_json_view *v, int i)
{
    return i >= 0 && (unsigned)i < v->n ? v->tok[i].type : JSMN_UNDEFINED;
}

/* The index just past i's subtree. */
static inline int lbp_jv_skip(const struct lbp_json_view *v, int i)
{
    return v->tok[i].parent;
}

/* Member key of object obj (first of duplicates), or -1. */
int lbp_jv_get(const struct lbp_json_view *v, int obj, const char *key);

/*
 * Children: the first element of an array or the first key of an object,
 * then the next one; -1 at the end or when i is no container. An object
 * member's value is the key's index + 1.
 */
int lbp_jv_first(const struct lbp_json_view *v, int i);
int lbp_jv_next(const struct lbp_json_view *v, int parent, int child);
/* Elements of an array, members of an object, 0 for anything else. */
size_t lbp_jv_count(const struct lbp_json_view *v, int i);

/* An integer (no fraction, no exponent) in [min, max]. */
bool lbp_jv_int(const struct lbp_json_view *v, int i, int64_t min, int64_t max, int64_t *out);
/* -1 not a boolean, 0 false, 1 true. */
int lbp_jv_bool(const struct lbp_json_view *v, int i);
bool lbp_jv_null(const struct lbp_json_view *v, int i);

/*
 * Decodes string i. dst NULL: only checks it and sets *len. Else writes
 * the bytes and a NUL into dst[cap]. LBP_PARSE when i is no string or holds
 * a lone surrogate or a NUL; LBP_TOOBIG when it does not fit in cap - 1.
 */
int lbp_jv_str(const struct lbp_json_view *v, int i, char *dst, size_t cap, size_t *len);
/* String i decodes to exactly s[0..n). */
bool lbp_jv_str_eq(const struct lbp_json_view *v, int i, const char *s, size_t n);

#endif
