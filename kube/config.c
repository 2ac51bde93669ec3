/*
 * config.c — where the API server is and who we are: kubeconfig files and
 * in-cluster service-account configuration.
 *
 * A kubeconfig is loaded with libyaml's document API (the files are small;
 * reads are capped at 4 MiB) and only the fields lbprov uses are read, each
 * type-checked. Several files ($KUBECONFIG=a:b:c) are merged the way
 * client-go merges them: the first file that names a cluster, user or
 * context wins for that name, and the first file that sets current-context
 * wins. Relative paths inside a file are relative to that file's directory.
 * Every error is one line "<file>: <field path>: <problem>"; values of
 * secret fields never appear in a message.
 */
#include "kube/kube.h"
#include "kube/kube_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <yaml.h>

#include "common/buf.h"
#include "common/file.h"
#include "common/rc.h"
#include "common/util.h"

#define KUBECONFIG_MAX (4u << 20)
#define SA_FILE_MAX (1u << 20)
#define DEFAULT_SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"

struct kc_file {
    char *path;
    char *dir; /* directory relative paths in this file are resolved against */
    yaml_document_t doc;
    bool have_doc;
};

/* One named cluster, user or context and where it was defined. */
struct kc_entry {
    const char *name;
    struct kc_file *file;
    yaml_node_t *body; /* the cluster/user/context mapping; NULL if absent */
    size_t idx;        /* index in its file's list, for messages */
};

struct kc_list {
    struct kc_entry *v;
    size_t n;
};

struct kc_merged {
    struct kc_file **files; /* one allocation each: entries point at them */
    size_t n_files;
    struct kc_list clusters, users, contexts;
    const char *current_context;
    struct kc_file *current_context_file;
};

/* ------------------------------------------------------------ yaml helpers */

static const char *scalar(yaml_node_t *n)
{
    return n && n->type == YAML_SCALAR_NODE ? (const char *)n->data.scalar.value : NULL;
}

static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *map, const char *key)
{
    if (!map || map->type != YAML_MAPPING_NODE)
        return NULL;
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        const char *k = scalar(yaml_document_get_node(doc, p->key));
        if (k && strcmp(k, key) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

/* A YAML null: "~", "null", "" or an empty plain scalar counts as absent. */
static bool is_null(yaml_node_t *n)
{
    const char *s = scalar(n);
    if (!n)
        return true;
    if (!s || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return false;
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/*
 * Field readers. field is the path for messages ("users[0].user.token").
 * Absent or null fields leave *out NULL and succeed.
 */
static int get_str(struct kc_file *f, yaml_node_t *map, const char *key, const char *field,
                   const char **out, char *err, size_t errlen)
{
    yaml_node_t *n = map_get(&f->doc, map, key);
    *out = NULL;
    if (is_null(n))
        return LBP_OK;
    if (n->type != YAML_SCALAR_NODE) {
        lbp_seterr(err, errlen, "%s: %s: expected a string", f->path, field);
        return LBP_PARSE;
    }
    *out = (const char *)n->data.scalar.value;
    return LBP_OK;
}

static int get_bool(struct kc_file *f, yaml_node_t *map, const char *key, const char *field,
                    bool *out, char *err, size_t errlen)
{
    const char *s;
    int rc = get_str(f, map, key, field, &s, err, errlen);
    if (rc != LBP_OK || !s)
        return rc;
    if (strcmp(s, "true") == 0 || strcmp(s, "True") == 0 || strcmp(s, "TRUE") == 0) {
        *out = true;
    } else if (strcmp(s, "false") == 0 || strcmp(s, "False") == 0 || strcmp(s, "FALSE") == 0) {
        *out = false;
    } else {
        lbp_seterr(err, errlen, "%s: %s: expected true or false", f->path, field);
        return LBP_PARSE;
    }
    return LBP_OK;
}

/* Returns the sequence or NULL when absent; LBP_PARSE when present but not a sequence. */
static int get_seq(struct kc_file *f, yaml_node_t *map, const char *key, const char *field,
                   yaml_node_t **out, char *err, size_t errlen)
{
    yaml_node_t *n = map_get(&f->doc, map, key);
    *out = NULL;
    if (is_null(n))
        return LBP_OK;
    if (n->type != YAML_SEQUENCE_NODE) {
        lbp_seterr(err, errlen, "%s: %s: expected a list", f->path, field);
        return LBP_PARSE;
    }
    *out = n;
    return LBP_OK;
}

/* ------------------------------------------------------------ values */

/* "dir/rel" for a relative path, a copy otherwise. */
static char *resolve_path(const struct kc_file *f, const char *p)
{
    char *r;
    size_t n;
    if (!p || !*p)
        return NULL;
    if (p[0] == '/' || !f->dir)
        return strdup(p);
    n = strlen(f->dir) + strlen(p) + 2;
    r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", f->dir, p);
    return r;
}

/*
 * Strict standard base64 (whitespace ignored, as kubeconfig writers wrap long
 * lines). The result is NUL-terminated so PEM can be used as a string.
 */
static int b64_decode(const char *in, char **out, size_t *outlen)
{
    size_t n = strlen(in), m = 0, pad = 0;
    unsigned char *clean = malloc(n + 1), *dec = NULL;
    int rc = LBP_PARSE, got;

    if (!clean)
        return LBP_NOMEM;
    for (size_t i = 0; i < n; i++) {
        char c = in[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
            continue;
        if (pad && c != '=')
            goto out; /* data after padding */
        if (c == '=') {
            pad++;
        } else if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '+' || c == '/')) {
            goto out;
        }
        clean[m++] = (unsigned char)c;
    }
    if (m == 0 || m % 4 != 0 || pad > 2 || m > INT32_MAX)
        goto out;
    dec = malloc(m / 4 * 3 + 1);
    if (!dec) {
        rc = LBP_NOMEM;
        goto out;
    }
    got = EVP_DecodeBlock(dec, clean, (int)m);
    if (got < 0 || (size_t)got < pad)
        goto out;
    *outlen = (size_t)got - pad;
    dec[*outlen] = 0;
    *out = (char *)dec;
    dec = NULL;
    rc = LBP_OK;
out:
    free(dec);
    free(clean);
    return rc;
}

static int dup_into(char **dst, const char *s)
{
    if (!s)
        return LBP_OK;
    *dst = strdup(s);
    return *dst ? LBP_OK : LBP_NOMEM;
}

static int decode_field(struct kc_file *f, yaml_node_t *map, const char *key, const char *field,
                        char **out, size_t *outlen, char *err, size_t errlen)
{
    const char *s;
    int rc = get_str(f, map, key, field, &s, err, errlen);
    if (rc != LBP_OK || !s || !*s)
        return rc;
    rc = b64_decode(s, out, outlen);
    if (rc == LBP_PARSE)
        lbp_seterr(err, errlen, "%s: %s: invalid base64", f->path, field);
    return rc;
}

/* ------------------------------------------------------------ files */

static void kc_file_free(struct kc_file *f)
{
    if (!f)
        return;
    if (f->have_doc)
        yaml_document_delete(&f->doc);
    free(f->path);
    free(f->dir);
    free(f);
}

static int kc_file_load(const char *path, struct kc_file *f, char *err, size_t errlen)
{
    yaml_parser_t parser;
    char *text = NULL, *slash;
    size_t len = 0;
    int rc;

    memset(f, 0, sizeof(*f));
    f->path = strdup(path);
    if (!f->path)
        return LBP_NOMEM;
    slash = strrchr(f->path, '/');
    if (slash)
        f->dir = slash == f->path ? strdup("/") : strndup(f->path, (size_t)(slash - f->path));
    else
        f->dir = strdup(".");
    if (!f->dir)
        return LBP_NOMEM;

    rc = lbp_file_read(path, KUBECONFIG_MAX, 0, &text, &len);
    if (rc == LBP_IO) {
        lbp_seterr(err, errlen, "%s: %s", path, strerror(errno));
        return rc;
    }
    if (rc == LBP_TOOBIG) {
        lbp_seterr(err, errlen, "%s: larger than %u bytes", path, KUBECONFIG_MAX);
        return rc;
    }
    if (rc != LBP_OK)
        return rc;

    if (!yaml_parser_initialize(&parser)) {
        free(text);
        return LBP_NOMEM;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &f->doc)) {
        const char *what = parser.problem ? parser.problem : "invalid YAML";
        if (parser.context)
            lbp_seterr(err, errlen, "%s: line %zu: %s %s", path, parser.problem_mark.line + 1, what,
                       parser.context);
        else
            lbp_seterr(err, errlen, "%s: line %zu: %s", path, parser.problem_mark.line + 1, what);
        rc = parser.error == YAML_MEMORY_ERROR ? LBP_NOMEM : LBP_PARSE;
    } else {
        yaml_node_t *root = yaml_document_get_root_node(&f->doc);
        f->have_doc = true;
        if (root && !is_null(root) && root->type != YAML_MAPPING_NODE) {
            lbp_seterr(err, errlen, "%s: expected a mapping at the top level", path);
            rc = LBP_PARSE;
        }
    }
    yaml_parser_delete(&parser);
    free(text);
    return rc;
}

static struct kc_entry *list_find(struct kc_list *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i].name, name) == 0)
            return &l->v[i];
    return NULL;
}

/*
 * Adds f's "clusters" (or users/contexts) to l. Each item is
 * {name: ..., <inner>: {...}}; the first definition of a name wins.
 */
static int merge_list(struct kc_file *f, const char *key, const char *inner, struct kc_list *l,
                      char *err, size_t errlen)
{
    yaml_node_t *root = yaml_document_get_root_node(&f->doc), *seq;
    char field[96];
    size_t i = 0;
    int rc = get_seq(f, root, key, key, &seq, err, errlen);

    if (rc != LBP_OK || !seq)
        return rc;
    for (yaml_node_item_t *it = seq->data.sequence.items.start; it < seq->data.sequence.items.top;
         it++, i++) {
        yaml_node_t *item = yaml_document_get_node(&f->doc, *it), *body;
        const char *name;
        struct kc_entry *grown;

        if (!item || item->type != YAML_MAPPING_NODE) {
            lbp_seterr(err, errlen, "%s: %s[%zu]: expected a mapping", f->path, key, i);
            return LBP_PARSE;
        }
        snprintf(field, sizeof(field), "%s[%zu].name", key, i);
        rc = get_str(f, item, "name", field, &name, err, errlen);
        if (rc != LBP_OK)
            return rc;
        if (!name || !*name) {
            lbp_seterr(err, errlen, "%s: %s: missing", f->path, field);
            return LBP_PARSE;
        }
        body = map_get(&f->doc, item, inner);
        if (is_null(body)) {
            body = NULL;
        } else if (body->type != YAML_MAPPING_NODE) {
            lbp_seterr(err, errlen, "%s: %s[%zu].%s: expected a mapping", f->path, key, i, inner);
            return LBP_PARSE;
        }
        if (list_find(l, name))
            continue;
        grown = realloc(l->v, (l->n + 1) * sizeof(*l->v));
        if (!grown)
            return LBP_NOMEM;
        l->v = grown;
        l->v[l->n++] = (struct kc_entry){.name = name, .file = f, .body = body, .idx = i};
    }
    return LBP_OK;
}

static void merged_free(struct kc_merged *m)
{
    for (size_t i = 0; i < m->n_files; i++)
        kc_file_free(m->files[i]);
    free(m->files);
    free(m->clusters.v);
    free(m->users.v);
    free(m->contexts.v);
}

static int merged_add(struct kc_merged *m, const char *path, char *err, size_t errlen)
{
    struct kc_file **grown = realloc(m->files, (m->n_files + 1) * sizeof(*m->files)), *f;
    yaml_node_t *root;
    const char *cur;
    int rc;

    if (!grown)
        return LBP_NOMEM;
    m->files = grown;
    f = calloc(1, sizeof(*f));
    if (!f)
        return LBP_NOMEM;
    m->files[m->n_files++] = f;
    rc = kc_file_load(path, f, err, errlen);
    if (rc != LBP_OK)
        return rc;
    root = yaml_document_get_root_node(&f->doc);
    if (!root || is_null(root))
        return LBP_OK;
    rc = get_str(f, root, "current-context", "current-context", &cur, err, errlen);
    if (rc != LBP_OK)
        return rc;
    if (cur && *cur && !m->current_context) {
        m->current_context = cur;
        m->current_context_file = f;
    }
    if ((rc = merge_list(f, "clusters", "cluster", &m->clusters, err, errlen)) != LBP_OK ||
        (rc = merge_list(f, "users", "user", &m->users, err, errlen)) != LBP_OK ||
        (rc = merge_list(f, "contexts", "context", &m->contexts, err, errlen)) != LBP_OK)
        return rc;
    return LBP_OK;
}

/* ------------------------------------------------------------ building */

static int strv_push(char ***v, size_t *n, char *s)
{
    char **grown;
    if (!s)
        return LBP_NOMEM;
    grown = realloc(*v, (*n + 2) * sizeof(**v));
    if (!grown) {
        free(s);
        return LBP_NOMEM;
    }
    *v = grown;
    (*v)[(*n)++] = s;
    (*v)[*n] = NULL;
    return LBP_OK;
}

static void strv_free(char **v)
{
    if (!v)
        return;
    for (char **p = v; *p; p++)
        free(*p);
    free(v);
}

void lbp_kube_exec_free(struct lbp_kube_exec *e)
{
    if (!e)
        return;
    free(e->command);
    strv_free(e->args);
    strv_free(e->env);
    free(e->api_version);
    free(e->install_hint);
    free(e->interactive_mode);
    free(e);
}

/* A copy of a NULL-terminated list (NULL stands for an empty one); NULL on ENOMEM. */
static char **strv_dup(char **v)
{
    size_t n = 0;
    char **r;
    while (v && v[n])
        n++;
    r = calloc(n + 1, sizeof(*r));
    for (size_t i = 0; r && i < n; i++)
        if (!(r[i] = strdup(v[i]))) {
            strv_free(r);
            return NULL;
        }
    return r;
}

struct lbp_kube_exec *lbp_kube_exec_dup(const struct lbp_kube_exec *s)
{
    struct lbp_kube_exec *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->command = lbp_strdup(s->command);
    e->args = strv_dup(s->args);
    e->env = strv_dup(s->env);
    e->api_version =
        lbp_strdup(s->api_version ? s->api_version : "client.authentication.k8s.io/v1");
    e->install_hint = lbp_strdup(s->install_hint);
    e->interactive_mode = lbp_strdup(s->interactive_mode);
    e->provide_cluster_info = s->provide_cluster_info;
    if (!e->command || !e->args || !e->env || !e->api_version ||
        (s->install_hint && !e->install_hint) || (s->interactive_mode && !e->interactive_mode)) {
        lbp_kube_exec_free(e);
        return NULL;
    }
    return e;
}

static int parse_exec(struct kc_file *f, yaml_node_t *node, size_t uidx, struct lbp_kube_exec **out,
                      char *err, size_t errlen)
{
    struct lbp_kube_exec *e = calloc(1, sizeof(*e));
    char field[128];
    const char *s;
    yaml_node_t *seq;
    size_t n = 0, i = 0;
    int rc;

    if (!e)
        return LBP_NOMEM;
    if (node->type != YAML_MAPPING_NODE) {
        lbp_seterr(err, errlen, "%s: users[%zu].user.exec: expected a mapping", f->path, uidx);
        rc = LBP_PARSE;
        goto out;
    }
#define FIELD(name) (snprintf(field, sizeof(field), "users[%zu].user.exec.%s", uidx, name), field)
    if ((rc = get_str(f, node, "command", FIELD("command"), &s, err, errlen)) != LBP_OK)
        goto out;
    if (!s || !*s) {
        lbp_seterr(err, errlen, "%s: %s: missing", f->path, field);
        rc = LBP_PARSE;
        goto out;
    }
    /* client-go: a command with a '/' is a path, relative to the kubeconfig. */
    e->command = strchr(s, '/') ? resolve_path(f, s) : strdup(s);
    if (!e->command) {
        rc = LBP_NOMEM;
        goto out;
    }
    if ((rc = get_str(f, node, "apiVersion", FIELD("apiVersion"), &s, err, errlen)) != LBP_OK)
        goto out;
    if (!s || (strcmp(s, "client.authentication.k8s.io/v1") != 0 &&
               strcmp(s, "client.authentication.k8s.io/v1beta1") != 0)) {
        lbp_seterr(err, errlen,
                   "%s: %s: must be client.authentication.k8s.io/v1 or "
                   "client.authentication.k8s.io/v1beta1",
                   f->path, field);
        rc = LBP_PARSE;
        goto out;
    }
    if ((rc = dup_into(&e->api_version, s)) != LBP_OK)
        goto out;
    if ((rc = get_str(f, node, "installHint", FIELD("installHint"), &s, err, errlen)) != LBP_OK ||
        (rc = dup_into(&e->install_hint, s)) != LBP_OK)
        goto out;
    if ((rc = get_str(f, node, "interactiveMode", FIELD("interactiveMode"), &s, err, errlen)) !=
        LBP_OK)
        goto out;
    if (s && strcmp(s, "Never") != 0 && strcmp(s, "IfAvailable") != 0 && strcmp(s, "Always") != 0) {
        lbp_seterr(err, errlen, "%s: %s: must be Never, IfAvailable or Always", f->path, field);
        rc = LBP_PARSE;
        goto out;
    }
    if ((rc = dup_into(&e->interactive_mode, s)) != LBP_OK)
        goto out;
    if ((rc = get_bool(f, node, "provideClusterInfo", FIELD("provideClusterInfo"),
                       &e->provide_cluster_info, err, errlen)) != LBP_OK)
        goto out;

    if ((rc = get_seq(f, node, "args", FIELD("args"), &seq, err, errlen)) != LBP_OK)
        goto out;
    if (seq) {
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++, i++) {
            const char *a = scalar(yaml_document_get_node(&f->doc, *it));
            if (!a) {
                lbp_seterr(err, errlen, "%s: users[%zu].user.exec.args[%zu]: expected a string",
                           f->path, uidx, i);
                rc = LBP_PARSE;
                goto out;
            }
            if ((rc = strv_push(&e->args, &n, strdup(a))) != LBP_OK)
                goto out;
        }
    }
    if ((rc = get_seq(f, node, "env", FIELD("env"), &seq, err, errlen)) != LBP_OK)
        goto out;
    n = i = 0;
    if (seq) {
        for (yaml_node_item_t *it = seq->data.sequence.items.start;
             it < seq->data.sequence.items.top; it++, i++) {
            yaml_node_t *kv = yaml_document_get_node(&f->doc, *it);
            const char *name, *value;
            char *entry;
            size_t len;

            snprintf(field, sizeof(field), "users[%zu].user.exec.env[%zu].name", uidx, i);
            if (!kv || kv->type != YAML_MAPPING_NODE) {
                lbp_seterr(err, errlen, "%s: users[%zu].user.exec.env[%zu]: expected a mapping",
                           f->path, uidx, i);
                rc = LBP_PARSE;
                goto out;
            }
            if ((rc = get_str(f, kv, "name", field, &name, err, errlen)) != LBP_OK)
                goto out;
            if (!name || !*name || strchr(name, '=')) {
                lbp_seterr(err, errlen, "%s: %s: missing or invalid", f->path, field);
                rc = LBP_PARSE;
                goto out;
            }
            snprintf(field, sizeof(field), "users[%zu].user.exec.env[%zu].value", uidx, i);
            if ((rc = get_str(f, kv, "value", field, &value, err, errlen)) != LBP_OK)
                goto out;
            len = strlen(name) + (value ? strlen(value) : 0) + 2;
            entry = malloc(len);
            if (entry)
                snprintf(entry, len, "%s=%s", name, value ? value : "");
            if ((rc = strv_push(&e->env, &n, entry)) != LBP_OK)
                goto out;
        }
    }
#undef FIELD
    *out = e;
    e = NULL;
out:
    lbp_kube_exec_free(e);
    return rc;
}

static int apply_cluster(struct kc_entry *ce, struct lbp_kube_config *cfg, char *err, size_t errlen)
{
    struct kc_file *f = ce->file;
    yaml_node_t *c = ce->body;
    char field[96];
    const char *s;
    int rc;

#define FIELD(name)                                                                                \
    (snprintf(field, sizeof(field), "clusters[%zu].cluster.%s", ce->idx, name), field)
    if ((rc = get_str(f, c, "server", FIELD("server"), &s, err, errlen)) != LBP_OK ||
        (rc = dup_into(&cfg->server, s)) != LBP_OK)
        return rc;
    if ((rc = get_str(f, c, "certificate-authority", FIELD("certificate-authority"), &s, err,
                      errlen)) != LBP_OK)
        return rc;
    if (s && *s && !(cfg->ca_file = resolve_path(f, s)))
        return LBP_NOMEM;
    if ((rc = decode_field(f, c, "certificate-authority-data", FIELD("certificate-authority-data"),
                           &cfg->ca_data, &cfg->ca_data_len, err, errlen)) != LBP_OK)
        return rc;
    if ((rc = get_bool(f, c, "insecure-skip-tls-verify", FIELD("insecure-skip-tls-verify"),
                       &cfg->insecure_skip_tls_verify, err, errlen)) != LBP_OK)
        return rc;
    if ((rc = get_str(f, c, "tls-server-name", FIELD("tls-server-name"), &s, err, errlen)) !=
            LBP_OK ||
        (rc = dup_into(&cfg->tls_server_name, s)) != LBP_OK)
        return rc;
#undef FIELD
    return LBP_OK;
}

static int apply_user(struct kc_entry *ue, struct lbp_kube_config *cfg, char *err, size_t errlen)
{
    struct kc_file *f = ue->file;
    yaml_node_t *u = ue->body, *exec;
    char field[96];
    const char *s;
    int rc;

    if (!u)
        return LBP_OK;
#define FIELD(name) (snprintf(field, sizeof(field), "users[%zu].user.%s", ue->idx, name), field)
    if ((rc = get_str(f, u, "client-certificate", FIELD("client-certificate"), &s, err, errlen)) !=
        LBP_OK)
        return rc;
    if (s && *s && !(cfg->client_cert_file = resolve_path(f, s)))
        return LBP_NOMEM;
    if ((rc = get_str(f, u, "client-key", FIELD("client-key"), &s, err, errlen)) != LBP_OK)
        return rc;
    if (s && *s && !(cfg->client_key_file = resolve_path(f, s)))
        return LBP_NOMEM;
    if ((rc = decode_field(f, u, "client-certificate-data", FIELD("client-certificate-data"),
                           &cfg->client_cert_data, &cfg->client_cert_data_len, err, errlen)) !=
            LBP_OK ||
        (rc = decode_field(f, u, "client-key-data", FIELD("client-key-data"), &cfg->client_key_data,
                           &cfg->client_key_data_len, err, errlen)) != LBP_OK)
        return rc;
    if ((rc = get_str(f, u, "token", FIELD("token"), &s, err, errlen)) != LBP_OK)
        return rc;
    if (s && *s && !(cfg->token = strdup(s)))
        return LBP_NOMEM;
    if ((rc = get_str(f, u, "tokenFile", FIELD("tokenFile"), &s, err, errlen)) != LBP_OK)
        return rc;
    if (s && *s && !(cfg->token_file = resolve_path(f, s)))
        return LBP_NOMEM;
#undef FIELD
    exec = map_get(&f->doc, u, "exec");
    if (!is_null(exec) && (rc = parse_exec(f, exec, ue->idx, &cfg->exec, err, errlen)) != LBP_OK)
        return rc;
    /* Legacy auth providers (gcp, azure, oidc) are not built in, as in current
     * client-go; saying so beats an unexplained 401 later. */
    if (!is_null(map_get(&f->doc, u, "auth-provider")) && !cfg->exec && !cfg->token &&
        !cfg->token_file && !cfg->client_cert_file && !cfg->client_cert_data) {
        lbp_seterr(err, errlen,
                   "%s: users[%zu].user.auth-provider: not supported; use an exec plugin", f->path,
                   ue->idx);
        return LBP_INVALID;
    }
    return LBP_OK;
}

static int build(struct kc_merged *m, const struct lbp_kube_config_opts *opts,
                 struct lbp_kube_config **out, char *err, size_t errlen)
{
    struct lbp_kube_config *cfg = NULL;
    struct kc_entry *ctx, *ce = NULL, *ue = NULL;
    struct kc_file *first = m->files[0];
    const char *ctx_name, *cluster_name, *user_name, *ns;
    char field[96];
    int rc;

    if (opts->context && *opts->context) {
        ctx_name = opts->context;
    } else if (m->current_context) {
        ctx_name = m->current_context;
    } else {
        lbp_seterr(err, errlen, "%s: current-context is not set and --context was not given",
                   first->path);
        return LBP_INVALID;
    }
    ctx = list_find(&m->contexts, ctx_name);
    if (!ctx) {
        lbp_seterr(err, errlen, "%s: %s: context \"%s\" not found",
                   m->current_context_file && !(opts->context && *opts->context)
                       ? m->current_context_file->path
                       : first->path,
                   opts->context && *opts->context ? "--context" : "current-context", ctx_name);
        return LBP_INVALID;
    }
    snprintf(field, sizeof(field), "contexts[%zu].context.cluster", ctx->idx);
    if ((rc = get_str(ctx->file, ctx->body, "cluster", field, &cluster_name, err, errlen)) !=
        LBP_OK)
        return rc;
    if (cluster_name && *cluster_name) {
        ce = list_find(&m->clusters, cluster_name);
        if (!ce) {
            lbp_seterr(err, errlen, "%s: %s: cluster \"%s\" not found", ctx->file->path, field,
                       cluster_name);
            return LBP_INVALID;
        }
    } else if (!(opts->master && *opts->master)) {
        lbp_seterr(err, errlen, "%s: %s: missing", ctx->file->path, field);
        return LBP_INVALID;
    }
    snprintf(field, sizeof(field), "contexts[%zu].context.user", ctx->idx);
    if ((rc = get_str(ctx->file, ctx->body, "user", field, &user_name, err, errlen)) != LBP_OK)
        return rc;
    if (user_name && *user_name) {
        ue = list_find(&m->users, user_name);
        if (!ue) {
            lbp_seterr(err, errlen, "%s: %s: user \"%s\" not found", ctx->file->path, field,
                       user_name);
            return LBP_INVALID;
        }
    }
    snprintf(field, sizeof(field), "contexts[%zu].context.namespace", ctx->idx);
    if ((rc = get_str(ctx->file, ctx->body, "namespace", field, &ns, err, errlen)) != LBP_OK)
        return rc;

    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return LBP_NOMEM;
    if (ce && ce->body && (rc = apply_cluster(ce, cfg, err, errlen)) != LBP_OK)
        goto out;
    if (ue && (rc = apply_user(ue, cfg, err, errlen)) != LBP_OK)
        goto out;
    if (opts->master && *opts->master) {
        free(cfg->server);
        cfg->server = strdup(opts->master);
        if (!cfg->server) {
            rc = LBP_NOMEM;
            goto out;
        }
    }
    if (!cfg->server || !*cfg->server) {
        lbp_seterr(err, errlen, "%s: clusters[%zu].cluster.server: missing", ce->file->path,
                   ce->idx);
        rc = LBP_INVALID;
        goto out;
    }
    /* Requests append absolute paths; a trailing slash would double it. */
    for (size_t n = strlen(cfg->server); n > 0 && cfg->server[n - 1] == '/'; n--)
        cfg->server[n - 1] = 0;
    cfg->namespace = strdup(ns && *ns ? ns : "default");
    cfg->source = strdup(first->path);
    if (!cfg->namespace || !cfg->source) {
        rc = LBP_NOMEM;
        goto out;
    }
    *out = cfg;
    cfg = NULL;
    rc = LBP_OK;
out:
    lbp_kube_config_free(cfg);
    return rc;
}

static int load_files(char **paths, size_t n, const struct lbp_kube_config_opts *opts,
                      struct lbp_kube_config **out, char *err, size_t errlen)
{
    struct kc_merged m;
    int rc = LBP_OK;

    memset(&m, 0, sizeof(m));
    for (size_t i = 0; i < n && rc == LBP_OK; i++)
        rc = merged_add(&m, paths[i], err, errlen);
    if (rc == LBP_OK)
        rc = build(&m, opts, out, err, errlen);
    merged_free(&m);
    return rc;
}

static bool file_exists(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0;
}

/* A config with only a server: --master and nothing else to go on. */
static int master_only(const char *master, struct lbp_kube_config **out)
{
    struct lbp_kube_config *cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return LBP_NOMEM;
    cfg->server = strdup(master);
    cfg->namespace = strdup("default");
    cfg->source = strdup("--master");
    if (!cfg->server || !cfg->namespace || !cfg->source) {
        lbp_kube_config_free(cfg);
        return LBP_NOMEM;
    }
    *out = cfg;
    return LBP_OK;
}

int lbp_kube_config_load(const struct lbp_kube_config_opts *opts, struct lbp_kube_config **out,
                         char *err, size_t errlen)
{
    static const struct lbp_kube_config_opts none;
    const char *env, *home;
    char **paths = NULL;
    char *list = NULL, *save = NULL, *tok, home_cfg[4096];
    size_t n = 0;
    int rc;

    *out = NULL;
    if (!opts)
        opts = &none;
    if (opts->kubeconfig && *opts->kubeconfig) {
        char *one[1] = {(char *)opts->kubeconfig};
        return load_files(one, 1, opts, out, err, errlen);
    }

    env = getenv("KUBECONFIG");
    if (env && *env) {
        /* Files listed but missing are skipped, as client-go does. */
        list = strdup(env);
        if (!list)
            return LBP_NOMEM;
        for (tok = strtok_r(list, ":", &save); tok; tok = strtok_r(NULL, ":", &save)) {
            bool dup = false;
            if (!*tok || !file_exists(tok))
                continue;
            for (size_t i = 0; i < n; i++)
                dup = dup || strcmp(paths[i], tok) == 0;
            if (dup)
                continue;
            if ((rc = strv_push(&paths, &n, strdup(tok))) != LBP_OK)
                goto out;
        }
        if (n > 0) {
            rc = load_files(paths, n, opts, out, err, errlen);
            goto out;
        }
    } else {
        home = getenv("HOME");
        if (home && *home &&
            (size_t)snprintf(home_cfg, sizeof(home_cfg), "%s/.kube/config", home) <
                sizeof(home_cfg) &&
            file_exists(home_cfg)) {
            char *one[1] = {home_cfg};
            return load_files(one, 1, opts, out, err, errlen);
        }
    }

    if (opts->allow_in_cluster && getenv("KUBERNETES_SERVICE_HOST")) {
        rc = lbp_kube_config_in_cluster(NULL, out, err, errlen);
        if (rc == LBP_OK && opts->master && *opts->master) {
            free((*out)->server);
            (*out)->server = strdup(opts->master);
            if (!(*out)->server) {
                lbp_kube_config_free(*out);
                *out = NULL;
                rc = LBP_NOMEM;
            }
        }
        goto out;
    }
    if (opts->master && *opts->master) {
        rc = master_only(opts->master, out);
        goto out;
    }
    if (env && *env)
        lbp_seterr(err, errlen, "no kubeconfig: none of the files in $KUBECONFIG exists%s",
                   opts->allow_in_cluster ? " and not running in a cluster" : "");
    else
        lbp_seterr(err, errlen, "no kubeconfig: no --kubeconfig, $KUBECONFIG or ~/.kube/config%s",
                   opts->allow_in_cluster ? ", and not running in a cluster" : "");
    rc = LBP_INVALID;
out:
    strv_free(paths);
    free(list);
    return rc;
}

/* ------------------------------------------------------------ in-cluster */

static char *join(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", dir, name);
    return r;
}

int lbp_kube_config_in_cluster(const char *sa_dir, struct lbp_kube_config **out, char *err,
                               size_t errlen)
{
    struct lbp_kube_config *cfg = NULL;
    const char *host = getenv("KUBERNETES_SERVICE_HOST");
    const char *port = getenv("KUBERNETES_SERVICE_PORT");
    char *ns_path = NULL, *ns = NULL;
    size_t ns_len, srv_len;
    long port_n;
    int rc;
    bool v6;

    *out = NULL;
    if (!sa_dir || !*sa_dir)
        sa_dir = DEFAULT_SA_DIR;
    if (!host || !*host || !port || !*port) {
        lbp_seterr(err, errlen,
                   "not running in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT "
                   "must be set");
        return LBP_INVALID;
    }
    if (lbp_parse_long(port, 1, 65535, &port_n) != LBP_OK) {
        lbp_seterr(err, errlen, "KUBERNETES_SERVICE_PORT: not a port number");
        return LBP_INVALID;
    }
    cfg = calloc(1, sizeof(*cfg));
    if (!cfg)
        return LBP_NOMEM;
    v6 = strchr(host, ':') && host[0] != '[';
    srv_len = strlen(host) + 32;
    cfg->server = malloc(srv_len);
    cfg->ca_file = join(sa_dir, "ca.crt");
    cfg->token_file = join(sa_dir, "token");
    ns_path = join(sa_dir, "namespace");
    cfg->source = strdup("in-cluster");
    if (!cfg->server || !cfg->ca_file || !cfg->token_file || !ns_path || !cfg->source) {
        rc = LBP_NOMEM;
        goto out;
    }
    snprintf(cfg->server, srv_len, v6 ? "https://[%s]:%ld" : "https://%s:%ld", host, port_n);

    /* Like client-go, a token we cannot read is fatal; it is re-read later as it rotates. */
    if (access(cfg->token_file, R_OK) != 0) {
        lbp_seterr(err, errlen, "%s: %s", cfg->token_file, strerror(errno));
        rc = LBP_IO;
        goto out;
    }
    rc = lbp_file_read(ns_path, SA_FILE_MAX, 0, &ns, &ns_len);
    if (rc == LBP_OK) {
        while (ns_len > 0 && (ns[ns_len - 1] == '\n' || ns[ns_len - 1] == ' ' ||
                              ns[ns_len - 1] == '\r' || ns[ns_len - 1] == '\t'))
            ns[--ns_len] = 0;
    } else if (rc == LBP_NOMEM) {
        goto out;
    }
    cfg->namespace = strdup(ns && *ns ? ns : "default");
    if (!cfg->namespace) {
        rc = LBP_NOMEM;
        goto out;
    }
    *out = cfg;
    cfg = NULL;
    rc = LBP_OK;
out:
    free(ns);
    free(ns_path);
    lbp_kube_config_free(cfg);
    return rc;
}

static void free_secret(char *p, size_t len)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, len);
    free(p);
}

void lbp_kube_config_free(struct lbp_kube_config *cfg)
{
    if (!cfg)
        return;
    free(cfg->server);
    free(cfg->ca_file);
    free(cfg->ca_data);
    free(cfg->tls_server_name);
    free(cfg->client_cert_file);
    free(cfg->client_key_file);
    free(cfg->client_cert_data);
    free_secret(cfg->client_key_data, cfg->client_key_data_len);
    free_secret(cfg->token, cfg->token ? strlen(cfg->token) : 0);
    free(cfg->token_file);
    lbp_kube_exec_free(cfg->exec);
    free(cfg->namespace);
    free(cfg->source);
    free(cfg);
}
