/*
 * auth.c — bearer credentials for API requests: a static token, a token
 * file that rotates, or an exec credential plugin.
 *
 * Token file: bound service-account tokens are refreshed by the kubelet,
 * which swaps a symlink in a projected volume, so the path (never an open
 * fd) is stat'ed at most once a second and re-read when its inode, size or
 * mtime changes. A failed re-read keeps the previous token, as client-go does.
 *
 * Exec plugin (client.authentication.k8s.io ExecCredential): the command runs
 * with posix_spawn in its own process group, stdin from /dev/null, stderr
 * passed through, stdout captured up to 1 MiB within a 30 s deadline (the
 * whole group is killed past it). The result is cached until 60 s before its
 * expirationTimestamp, or until lbp_kube_auth_invalidate after a 401. One
 * mutex serialises everything, so at most one plugin runs at a time and
 * concurrent callers wait for its answer instead of starting their own.
 * Messages name the command and its exit status, never its output.
 */
#include "kube/kube_int.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "common/file.h"
#include "common/log.h"
#include "common/rc.h"
#include "common/util.h"

extern char **environ;

#define EXEC_OUTPUT_MAX (1u << 20)
#define EXEC_TIMEOUT_MS 30000L
#define TOKEN_RECHECK_MS 1000L
#define TOKEN_FILE_MAX (64u << 10)
#define EXPIRY_MARGIN_S 60
#define CA_FILE_MAX (1u << 20)

struct lbp_kube_auth {
    pthread_mutex_t mu;
    char *token; /* static */

    char *token_file;
    char *file_token;
    bool have_stat;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    uint64_t last_check_ms;
    long recheck_ms;

    struct lbp_kube_exec *exec; /* deep copy */
    char *exec_info;            /* KUBERNETES_EXEC_INFO=... */
    struct lbp_kube_cred cached;
    bool have_cached;
    long exec_timeout_ms;
};

static void free_secret(char *p)
{
    if (!p)
        return;
    OPENSSL_cleanse(p, strlen(p));
    free(p);
}

void lbp_kube_cred_free(struct lbp_kube_cred *c)
{
    if (!c)
        return;
    free_secret(c->token);
    free(c->client_cert_pem);
    free_secret(c->client_key_pem);
    memset(c, 0, sizeof(*c));
}

static int cred_copy(const struct lbp_kube_cred *src, struct lbp_kube_cred *dst)
{
    memset(dst, 0, sizeof(*dst));
    dst->expires_s = src->expires_s;
    if ((src->token && !(dst->token = strdup(src->token))) ||
        (src->client_cert_pem && !(dst->client_cert_pem = strdup(src->client_cert_pem))) ||
        (src->client_key_pem && !(dst->client_key_pem = strdup(src->client_key_pem)))) {
        lbp_kube_cred_free(dst);
        return LBP_NOMEM;
    }
    return LBP_OK;
}

/* ------------------------------------------------------------ setup */

/*
 * KUBERNETES_EXEC_INFO: the request, plus the cluster when the kubeconfig
 * asks for it (provideClusterInfo), with the CA as base64 like client-go.
 */
static int build_exec_info(const struct lbp_kube_config *cfg, char **out)
{
    struct json_object *root = json_object_new_object(), *spec = json_object_new_object();
    char *ca = NULL, *b64 = NULL;
    size_t ca_len = 0;
    int rc = LBP_NOMEM;
    const char *s;
    size_t n;

    if (!root || !spec)
        goto out;
    json_object_object_add(root, "apiVersion", json_object_new_string(cfg->exec->api_version));
    json_object_object_add(root, "kind", json_object_new_string("ExecCredential"));
    json_object_object_add(root, "spec", spec);
    json_object_object_add(spec, "interactive", json_object_new_boolean(0));
    if (cfg->exec->provide_cluster_info) {
        struct json_object *cl = json_object_new_object();
        if (!cl)
            goto out;
        json_object_object_add(spec, "cluster", cl);
        if (cfg->server)
            json_object_object_add(cl, "server", json_object_new_string(cfg->server));
        if (cfg->tls_server_name)
            json_object_object_add(cl, "tls-server-name",
                                   json_object_new_string(cfg->tls_server_name));
        if (cfg->insecure_skip_tls_verify)
            json_object_object_add(cl, "insecure-skip-tls-verify", json_object_new_boolean(1));
        if (cfg->ca_data) {
            ca = malloc(cfg->ca_data_len + 1);
            if (!ca)
                goto out;
            memcpy(ca, cfg->ca_data, cfg->ca_data_len);
            ca_len = cfg->ca_data_len;
        } else if (cfg->ca_file) {
            int r = lbp_file_read(cfg->ca_file, CA_FILE_MAX, 0, &ca, &ca_len);
            if (r == LBP_NOMEM)
                goto out;
            if (r != LBP_OK)
                lbp_warn("exec plugin cluster info: cannot read %s: %s", cfg->ca_file,
                         strerror(errno));
        }
        if (ca && ca_len > 0 && ca_len < INT32_MAX / 2) {
            b64 = malloc(4 * ((ca_len + 2) / 3) + 1);
            if (!b64)
                goto out;
            EVP_EncodeBlock((unsigned char *)b64, (unsigned char *)ca, (int)ca_len);
            json_object_object_add(cl, "certificate-authority-data", json_object_new_string(b64));
        }
    }
    s = json_object_to_json_string_ext(root,
                                       JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
    if (!s)
        goto out;
    n = strlen(s) + sizeof("KUBERNETES_EXEC_INFO=");
    *out = malloc(n);
    if (!*out)
        goto out;
    snprintf(*out, n, "KUBERNETES_EXEC_INFO=%s", s);
    rc = LBP_OK;
out:
    free(ca);
    free(b64);
    json_object_put(root);
    return rc;
}

int lbp_kube_auth_new(const struct lbp_kube_config *cfg, struct lbp_kube_auth **out)
{
    struct lbp_kube_auth *a = calloc(1, sizeof(*a));
    int rc = LBP_NOMEM;

    *out = NULL;
    if (!a)
        return LBP_NOMEM;
    pthread_mutex_init(&a->mu, NULL);
    a->recheck_ms = TOKEN_RECHECK_MS;
    a->exec_timeout_ms = EXEC_TIMEOUT_MS;
    if (cfg->token && !(a->token = strdup(cfg->token)))
        goto out;
    if (cfg->token_file && !(a->token_file = strdup(cfg->token_file)))
        goto out;
    if (cfg->exec) {
        if (!cfg->exec->command || !*cfg->exec->command) {
            rc = LBP_INVALID;
            goto out;
        }
        if (!(a->exec = lbp_kube_exec_dup(cfg->exec)))
            goto out;
        struct lbp_kube_config tmp = *cfg;
        tmp.exec = a->exec;
        if ((rc = build_exec_info(&tmp, &a->exec_info)) != LBP_OK)
            goto out;
    }
    *out = a;
    a = NULL;
    rc = LBP_OK;
out:
    lbp_kube_auth_free(a);
    return rc;
}

void lbp_kube_auth_set_exec_timeout_ms(struct lbp_kube_auth *a, long ms)
{
    pthread_mutex_lock(&a->mu);
    a->exec_timeout_ms = ms > 0 ? ms : EXEC_TIMEOUT_MS;
    pthread_mutex_unlock(&a->mu);
}

void lbp_kube_auth_set_token_recheck_ms(struct lbp_kube_auth *a, long ms)
{
    pthread_mutex_lock(&a->mu);
    a->recheck_ms = ms >= 0 ? ms : TOKEN_RECHECK_MS;
    pthread_mutex_unlock(&a->mu);
}

void lbp_kube_auth_invalidate(struct lbp_kube_auth *a)
{
    if (!a)
        return;
    pthread_mutex_lock(&a->mu);
    lbp_kube_cred_free(&a->cached);
    a->have_cached = false;
    /* A rejected file token: look at the file again on the next request. */
    a->last_check_ms = 0;
    a->have_stat = false;
    pthread_mutex_unlock(&a->mu);
}

void lbp_kube_auth_free(struct lbp_kube_auth *a)
{
    if (!a)
        return;
    pthread_mutex_destroy(&a->mu);
    free_secret(a->token);
    free(a->token_file);
    free_secret(a->file_token);
    lbp_kube_exec_free(a->exec);
    free(a->exec_info);
    lbp_kube_cred_free(&a->cached);
    free(a);
}

/* ------------------------------------------------------------ token file */

static int token_file_refresh(struct lbp_kube_auth *a, char *err, size_t errlen)
{
    struct stat st;
    uint64_t now = lbp_now_ms();
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (a->file_token && a->last_check_ms && now - a->last_check_ms < (uint64_t)a->recheck_ms)
        return LBP_OK;
    a->last_check_ms = now ? now : 1;
    if (stat(a->token_file, &st) != 0) {
        rc = LBP_IO;
        goto fail;
    }
    if (a->file_token && a->have_stat && st.st_dev == a->dev && st.st_ino == a->ino &&
        st.st_size == a->size && st.st_mtim.tv_sec == a->mtime.tv_sec &&
        st.st_mtim.tv_nsec == a->mtime.tv_nsec)
        return LBP_OK;
    rc = lbp_file_read(a->token_file, TOKEN_FILE_MAX, LBP_FILE_SECRET, &text, &len);
    if (rc != LBP_OK)
        goto fail;
    while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r' || text[len - 1] == ' ' ||
                       text[len - 1] == '\t'))
        text[--len] = 0;
    if (len == 0) {
        free(text);
        errno = ENODATA;
        rc = LBP_AUTH;
        goto fail;
    }
    free_secret(a->file_token);
    a->file_token = text;
    a->have_stat = true;
    a->dev = st.st_dev;
    a->ino = st.st_ino;
    a->size = st.st_size;
    a->mtime = st.st_mtim;
    return LBP_OK;
fail:
    if (a->file_token) {
        lbp_warn("token file %s: %s; keeping the previous token", a->token_file,
                 errno == ENODATA ? "empty" : strerror(errno));
        return LBP_OK;
    }
    lbp_seterr(err, errlen, "token file %s: %s", a->token_file,
               errno == ENODATA ? "empty" : strerror(errno));
    return rc == LBP_NOMEM ? rc : LBP_AUTH;
}

/* ------------------------------------------------------------ exec plugin */

static bool env_name_eq(const char *entry, const char *name_eq)
{
    size_t n = strcspn(name_eq, "=");
    return strncmp(entry, name_eq, n) == 0 && entry[n] == '=';
}

/* parent env, minus names the plugin's env overrides, + plugin env + exec info */
static char **build_env(const struct lbp_kube_auth *a)
{
    size_t n = 0, k = 0;
    char **envp;

    for (char **p = environ; p && *p; p++)
        n++;
    for (char **p = a->exec->env; *p; p++)
        n++;
    envp = calloc(n + 2, sizeof(*envp));
    if (!envp)
        return NULL;
    for (char **p = environ; p && *p; p++) {
        bool shadowed = env_name_eq(*p, "KUBERNETES_EXEC_INFO=");
        for (char **q = a->exec->env; *q && !shadowed; q++)
            shadowed = env_name_eq(*p, *q);
        if (!shadowed)
            envp[k++] = *p;
    }
    for (char **p = a->exec->env; *p; p++)
        envp[k++] = *p;
    envp[k++] = a->exec_info;
    envp[k] = NULL;
    return envp;
}

static void describe_failure(const struct lbp_kube_auth *a, const char *what, char *err,
                             size_t errlen)
{
    char hint[512] = "";
    if (a->exec->install_hint && *a->exec->install_hint) {
        /* Keep the message on one line. */
        lbp_strlcpy(hint, a->exec->install_hint, sizeof(hint));
        for (char *p = hint; *p; p++)
            if (*p == '\n' || *p == '\r')
                *p = ' ';
    }
    lbp_seterr(err, errlen, "exec plugin \"%s\": %s%s%s", a->exec->command, what, *hint ? "; " : "",
               hint);
}

/* Runs the plugin; *out gets its stdout. */
static int exec_run(struct lbp_kube_auth *a, char **out, size_t *outlen, char *err, size_t errlen)
{
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t mask, defaults;
    struct lbp_buf b;
    char **argv = NULL, **envp = NULL, chunk[4096], what[128];
    int pipefd[2] = {-1, -1}, status = 0, rc = LBP_OK, e;
    size_t nargs = 0;
    pid_t pid = -1;
    uint64_t deadline = lbp_now_ms() + (uint64_t)a->exec_timeout_ms;
    bool fa_init = false, attr_init = false, killed = false;

    lbp_buf_init(&b, EXEC_OUTPUT_MAX);
    while (a->exec->args[nargs])
        nargs++;
    argv = calloc(nargs + 2, sizeof(*argv));
    envp = build_env(a);
    if (!argv || !envp) {
        rc = LBP_NOMEM;
        goto out;
    }
    argv[0] = a->exec->command;
    for (size_t i = 0; i < nargs; i++)
        argv[i + 1] = a->exec->args[i];
    if (pipe2(pipefd, O_CLOEXEC) != 0) {
        snprintf(what, sizeof(what), "pipe: %s", strerror(errno));
        describe_failure(a, what, err, errlen);
        rc = LBP_IO;
        goto out;
    }
    if (posix_spawn_file_actions_init(&fa) != 0) {
        rc = LBP_NOMEM;
        goto out;
    }
    fa_init = true;
    if (posix_spawnattr_init(&attr) != 0) {
        rc = LBP_NOMEM;
        goto out;
    }
    attr_init = true;
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    /* Own process group, so a timeout kills the plugin's children too; and a
     * clean signal state, since our threads block signals for sigwait. */
    sigemptyset(&mask);
    sigfillset(&defaults);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setsigmask(&attr, &mask);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK |
                                        POSIX_SPAWN_SETSIGDEF);
    e = posix_spawnp(&pid, a->exec->command, &fa, &attr, argv, envp);
    close(pipefd[1]);
    pipefd[1] = -1;
    if (e != 0) {
        pid = -1;
        describe_failure(a, strerror(e), err, errlen);
        rc = LBP_AUTH;
        goto out;
    }

    for (;;) {
        uint64_t now = lbp_now_ms();
        struct pollfd pfd = {.fd = pipefd[0], .events = POLLIN};
        ssize_t r;
        int pr;

        if (now >= deadline) {
            snprintf(what, sizeof(what), "timed out after %ld ms", a->exec_timeout_ms);
            rc = LBP_RETRY;
            break;
        }
        pr = poll(&pfd, 1, (int)(deadline - now));
        if (pr < 0 && errno == EINTR)
            continue;
        if (pr < 0) {
            snprintf(what, sizeof(what), "poll: %s", strerror(errno));
            rc = LBP_IO;
            break;
        }
        if (pr == 0)
            continue;
        r = read(pipefd[0], chunk, sizeof(chunk));
        if (r < 0 && (errno == EINTR || errno == EAGAIN))
            continue;
        if (r < 0) {
            snprintf(what, sizeof(what), "reading output: %s", strerror(errno));
            rc = LBP_IO;
            break;
        }
        if (r == 0)
            break;
        if (lbp_buf_add(&b, chunk, (size_t)r) != LBP_OK) {
            snprintf(what, sizeof(what), "output larger than %u bytes", EXEC_OUTPUT_MAX);
            rc = LBP_TOOBIG;
            break;
        }
    }
    if (rc != LBP_OK) {
        /* Before waitpid: the unreaped leader keeps the group id from being reused. */
        kill(-pid, SIGKILL);
        killed = true;
    }
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (killed) {
        describe_failure(a, what, err, errlen);
        goto out;
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) != 0) {
        snprintf(what, sizeof(what), "exit status %d", WEXITSTATUS(status));
        describe_failure(a, what, err, errlen);
        rc = LBP_AUTH;
        goto out;
    }
    if (WIFSIGNALED(status)) {
        snprintf(what, sizeof(what), "killed by signal %d", WTERMSIG(status));
        describe_failure(a, what, err, errlen);
        rc = LBP_AUTH;
        goto out;
    }
    *out = lbp_buf_take(&b, outlen);
    if (!*out)
        rc = LBP_NOMEM;
out:
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    if (b.data)
        OPENSSL_cleanse(b.data, b.len);
    lbp_buf_free(&b);
    free(argv);
    free(envp);
    return rc;
}

static int json_opt_string(struct json_object *obj, const char *key, const char **out)
{
    struct json_object *v;
    *out = NULL;
    if (!json_object_object_get_ex(obj, key, &v) || json_object_is_type(v, json_type_null))
        return LBP_OK;
    if (!json_object_is_type(v, json_type_string))
        return LBP_PARSE;
    *out = json_object_get_string(v);
    return LBP_OK;
}

static int parse_exec_credential(struct lbp_kube_auth *a, const char *text, size_t len,
                                 struct lbp_kube_cred *cred, char *err, size_t errlen)
{
    struct json_tokener *tok = json_tokener_new();
    struct json_object *root = NULL, *status;
    const char *api, *kind, *token, *cert, *key, *exp;
    char what[160];
    int rc = LBP_PARSE;

    memset(cred, 0, sizeof(*cred));
    if (!tok)
        return LBP_NOMEM;
    if (len > INT32_MAX)
        goto bad_json;
    root = json_tokener_parse_ex(tok, text, (int)len);
    if (!root || json_tokener_get_error(tok) != json_tokener_success ||
        !json_object_is_type(root, json_type_object))
        goto bad_json;
    for (size_t i = json_tokener_get_parse_end(tok); i < len; i++)
        if (text[i] != ' ' && text[i] != '\n' && text[i] != '\r' && text[i] != '\t')
            goto bad_json;
    if (json_opt_string(root, "kind", &kind) != LBP_OK || !lbp_streq(kind, "ExecCredential")) {
        describe_failure(a, "output: kind is not ExecCredential", err, errlen);
        goto out;
    }
    if (json_opt_string(root, "apiVersion", &api) != LBP_OK ||
        !lbp_streq(api, a->exec->api_version)) {
        snprintf(what, sizeof(what), "output: apiVersion does not match the request (%s)",
                 a->exec->api_version);
        describe_failure(a, what, err, errlen);
        goto out;
    }
    if (!json_object_object_get_ex(root, "status", &status) ||
        !json_object_is_type(status, json_type_object)) {
        describe_failure(a, "output: status is missing", err, errlen);
        goto out;
    }
    if (json_opt_string(status, "token", &token) != LBP_OK) {
        describe_failure(a, "output: status.token: expected a string", err, errlen);
        goto out;
    }
    if (json_opt_string(status, "clientCertificateData", &cert) != LBP_OK ||
        json_opt_string(status, "clientKeyData", &key) != LBP_OK) {
        describe_failure(a, "output: status.clientCertificateData/clientKeyData: expected strings",
                         err, errlen);
        goto out;
    }
    if ((cert && *cert) != (key && *key)) {
        describe_failure(a,
                         "output: status.clientCertificateData and clientKeyData must both be set",
                         err, errlen);
        goto out;
    }
    if (!(token && *token) && !(cert && *cert)) {
        describe_failure(a, "output: status has neither token nor client certificate", err, errlen);
        goto out;
    }
    if (json_opt_string(status, "expirationTimestamp", &exp) != LBP_OK ||
        (exp && lbp_parse_rfc3339(exp, &cred->expires_s) != LBP_OK)) {
        describe_failure(a, "output: status.expirationTimestamp: not an RFC 3339 time", err,
                         errlen);
        goto out;
    }
    rc = LBP_NOMEM;
    if (token && *token && !(cred->token = strdup(token)))
        goto out;
    if (cert && *cert &&
        (!(cred->client_cert_pem = strdup(cert)) || !(cred->client_key_pem = strdup(key))))
        goto out;
    rc = LBP_OK;
    goto out;
bad_json:
    describe_failure(a, "output is not an ExecCredential JSON object", err, errlen);
out:
    if (rc != LBP_OK)
        lbp_kube_cred_free(cred);
    json_object_put(root);
    json_tokener_free(tok);
    return rc;
}

int lbp_kube_auth_parse_exec_output(struct lbp_kube_auth *a, const char *text, size_t len,
                                    struct lbp_kube_cred *out, char *err, size_t errlen)
{
    if (!a->exec)
        return LBP_INVALID;
    return parse_exec_credential(a, text, len, out, err, errlen);
}

static int exec_refresh(struct lbp_kube_auth *a, char *err, size_t errlen)
{
    struct lbp_kube_cred cred;
    char *text = NULL;
    size_t len = 0;
    int rc;

    if (a->have_cached &&
        (a->cached.expires_s == 0 || lbp_wall_s() < a->cached.expires_s - EXPIRY_MARGIN_S))
        return LBP_OK;
    if (lbp_streq(a->exec->interactive_mode, "Always")) {
        /* client-go refuses this without a terminal; a controller never has one. */
        describe_failure(a,
                         "interactiveMode is Always, but credentials are never requested "
                         "interactively",
                         err, errlen);
        return LBP_AUTH;
    }
    rc = exec_run(a, &text, &len, err, errlen);
    if (rc != LBP_OK)
        return rc;
    rc = parse_exec_credential(a, text, len, &cred, err, errlen);
    OPENSSL_cleanse(text, len);
    free(text);
    if (rc != LBP_OK)
        return rc;
    lbp_kube_cred_free(&a->cached);
    a->cached = cred;
    a->have_cached = true;
    lbp_v(2, "exec plugin \"%s\": new credential%s", a->exec->command,
          cred.expires_s ? " with an expiry" : "");
    return LBP_OK;
}

/* ------------------------------------------------------------ get */

int lbp_kube_auth_get(struct lbp_kube_auth *a, struct lbp_kube_cred *out, char *err, size_t errlen)
{
    int rc = LBP_OK;

    memset(out, 0, sizeof(*out));
    pthread_mutex_lock(&a->mu);
    if (a->exec) {
        rc = exec_refresh(a, err, errlen);
        if (rc == LBP_OK)
            rc = cred_copy(&a->cached, out);
    } else if (a->token) {
        out->token = strdup(a->token);
        rc = out->token ? LBP_OK : LBP_NOMEM;
    } else if (a->token_file) {
        rc = token_file_refresh(a, err, errlen);
        if (rc == LBP_OK) {
            out->token = strdup(a->file_token);
            rc = out->token ? LBP_OK : LBP_NOMEM;
        }
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}
