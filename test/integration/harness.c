/*
 * harness.c — the integration-test harness (see harness.h): runs the fake
 * API server as a child process, learns its port from the first stdout line,
 * writes a kubeconfig for it, and offers raw HTTP (libcurl) to the API and
 * its /_fake/ control endpoint, plus process and polling helpers.
 *
 * The bearer token of an instance is kept in dir/token (mode 0600) so that
 * lbp_fake_api_request can authenticate without widening the contract
 * struct. lbp_fake_api_request gives up after 60 s, so a watch made through
 * it must carry timeoutSeconds. LBP_TEST_LBPROV_BIN / LBP_TEST_FAKE_API_BIN
 * in the environment override the binaries CMake compiled in.
 */
#include "test/integration/harness.h"
#include "common/buf.h"
#include "common/util.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <json-c/json.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define RESP_MAX (256u * 1024u * 1024u)
#define START_TIMEOUT_MS 10000u

const char *lbp_test_lbprov_bin(void)
{
    const char *env = getenv("LBP_TEST_LBPROV_BIN");
    return env && *env ? env : LBP_TEST_LBPROV_BIN;
}

const char *lbp_test_fake_api_bin(void)
{
    const char *env = getenv("LBP_TEST_FAKE_API_BIN");
    return env && *env ? env : LBP_TEST_FAKE_API_BIN;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR) {
    }
}

pid_t lbp_test_spawn(char *const argv[], const char *log_path)
{
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    if (log_path) {
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
    }
    execv(argv[0], argv);
    _exit(127);
}

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

int lbp_test_stop(pid_t pid, int sig, unsigned timeout_ms)
{
    int status;
    if (pid <= 0)
        return -1;
    kill(pid, sig);
    uint64_t deadline = lbp_now_ms() + timeout_ms;
    for (;;) {
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return exit_code(status);
        if (r < 0)
            return -1;
        if (lbp_now_ms() >= deadline)
            break;
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return -1;
}

int lbp_test_free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t l = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &l) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

long lbp_test_status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    size_t n = strlen(field);
    long kb = -1;
    FILE *f;
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if (!(f = fopen(path, "r")))
        return -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':') {
            kb = strtol(line + n + 1, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

long lbp_test_hwm_kb(pid_t pid)
{
    return lbp_test_status_kb(pid, "VmHWM");
}

bool lbp_test_poll(bool (*cond)(void *ctx), void *ctx, unsigned timeout_ms)
{
    uint64_t deadline = lbp_now_ms() + timeout_ms;
    for (;;) {
        if (cond(ctx))
            return true;
        if (lbp_now_ms() >= deadline)
            return false;
        sleep_ms(20);
    }
}

/* ---- HTTP --------------------------------------------------------------- */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t n, void *ud)
{
    return lbp_buf_add(ud, data, size * n) ? 0 : size * n;
}

static bool read_token(const struct lbp_fake_api *api, char *out, size_t cap)
{
    char path[400];
    snprintf(path, sizeof(path), "%s/token", api->dir);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool ok = fgets(out, (int)cap, f) != NULL;
    fclose(f);
    out[strcspn(out, "\n")] = '\0';
    return ok && *out;
}

long lbp_fake_api_request(struct lbp_fake_api *api, const char *method, const char *path,
                          const char *content_type, const char *body, char **resp)
{
    char token[256];
    bool admin = read_token(api, token, sizeof(token)) && strncmp(path, "/_fake/", 7) != 0;
    return lbp_fake_api_request_as(api, admin ? token : NULL, method, path, content_type, body,
                                   resp);
}

long lbp_fake_api_request_as(struct lbp_fake_api *api, const char *token, const char *method,
                             const char *path, const char *content_type, const char *body,
                             char **resp)
{
    char url[2048], hdr[300], auth[300];
    struct curl_slist *h = NULL;
    struct lbp_buf b;
    long code = -1;
    if (resp)
        *resp = NULL;
    pthread_once(&curl_once, curl_init_once);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    lbp_buf_init(&b, RESP_MAX);
    snprintf(url, sizeof(url), "%s%s", api->url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
    }
    if (content_type) {
        snprintf(hdr, sizeof(hdr), "Content-Type: %s", content_type);
        h = curl_slist_append(h, hdr);
    }
    if (token) {
        snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
        h = curl_slist_append(h, auth);
    }
    h = curl_slist_append(h, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (api->ca_file[0])
        curl_easy_setopt(c, CURLOPT_CAINFO, api->ca_file);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    if (resp && code >= 0)
        *resp = lbp_buf_take(&b, NULL);
    lbp_buf_free(&b);
    return code;
}

int lbp_fake_api_fault(struct lbp_fake_api *api, const char *json)
{
    long code = lbp_fake_api_request(api, "POST", "/_fake/faults", "application/json", json, NULL);
    return code == 200 ? 0 : -1;
}

long lbp_fake_api_count(struct lbp_fake_api *api, const char *verb_resource)
{
    char *resp = NULL;
    long n = -1;
    if (lbp_fake_api_request(api, "GET", "/_fake/stats", NULL, NULL, &resp) == 200) {
        json_object *o = json_tokener_parse(resp);
        json_object *v = o ? json_object_object_get(o, verb_resource) : NULL;
        n = v ? (long)json_object_get_int64(v) : (o ? 0 : -1);
        json_object_put(o);
    }
    free(resp);
    return n;
}

/* ---- start / stop ------------------------------------------------------- */

static int write_file(const char *path, const char *data, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return -1;
    size_t n = strlen(data);
    ssize_t w = write(fd, data, n);
    close(fd);
    return w == (ssize_t)n ? 0 : -1;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Reads the first stdout line of the child within the start timeout. */
static int read_first_line(int fd, char *out, size_t cap)
{
    size_t n = 0;
    uint64_t deadline = lbp_now_ms() + START_TIMEOUT_MS;
    while (n + 1 < cap) {
        uint64_t now = lbp_now_ms();
        if (now >= deadline)
            return -1;
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, (int)(deadline - now)) <= 0)
            return -1;
        ssize_t r = read(fd, out + n, 1);
        if (r <= 0)
            return -1;
        if (out[n] == '\n')
            break;
        n++;
    }
    out[n] = '\0';
    return 0;
}

static bool answers(void *ctx)
{
    return lbp_fake_api_request(ctx, "GET", "/version", NULL, NULL, NULL) == 200;
}

int lbp_fake_api_start(const struct lbp_fake_api_opts *opts, struct lbp_fake_api *out)
{
    struct lbp_fake_api_opts none = {0};
    char hist[32], line[256], *argv[16];
    int argc = 0, pipefd[2] = {-1, -1};
    memset(out, 0, sizeof(*out));
    if (!opts)
        opts = &none;
    snprintf(out->dir, sizeof(out->dir), "%s/lbp-fakeapi-XXXXXX",
             getenv("TMPDIR") && *getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(out->dir)) {
        out->dir[0] = '\0';
        return -1;
    }
    snprintf(out->log, sizeof(out->log), "%s/fake-apiserver.log", out->dir);
    snprintf(out->kubeconfig, sizeof(out->kubeconfig), "%s/kubeconfig", out->dir);
    argv[argc++] = (char *)lbp_test_fake_api_bin();
    argv[argc++] = "--port";
    argv[argc++] = "0";
    if (opts->tls) {
        snprintf(out->ca_file, sizeof(out->ca_file), "%s/ca.crt", out->dir);
        argv[argc++] = "--tls-cert-out";
        argv[argc++] = out->ca_file;
    }
    if (opts->token) {
        char tpath[400];
        snprintf(tpath, sizeof(tpath), "%s/token", out->dir);
        if (write_file(tpath, opts->token, 0600))
            goto fail;
        argv[argc++] = "--token";
        argv[argc++] = (char *)opts->token;
    }
    if (opts->history) {
        snprintf(hist, sizeof(hist), "%u", opts->history);
        argv[argc++] = "--history";
        argv[argc++] = hist;
    }
    if (opts->pki) {
        snprintf(out->ca_file, sizeof(out->ca_file), "%s/ca.crt", out->dir);
        argv[argc++] = "--write-pki";
        argv[argc++] = out->dir;
    }
    if (opts->extra_arg)
        argv[argc++] = (char *)opts->extra_arg;
    argv[argc] = NULL;

    if (pipe2(pipefd, O_CLOEXEC))
        goto fail;
    fflush(NULL);
    out->pid = fork();
    if (out->pid < 0)
        goto fail;
    if (out->pid == 0) {
        int fd = open(out->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        dup2(pipefd[1], 1);
        if (fd >= 0)
            dup2(fd, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(pipefd[1]);
    pipefd[1] = -1;
    if (read_first_line(pipefd[0], line, sizeof(line))) {
        fprintf(stderr, "harness: fake-apiserver did not start (see %s)\n", out->log);
        goto fail;
    }
    close(pipefd[0]);
    pipefd[0] = -1;
    const char *u = strstr(line, "http");
    const char *colon = u ? strrchr(u, ':') : NULL;
    long port;
    if (!u || !colon || lbp_parse_long(colon + 1, 1, 65535, &port))
        goto fail;
    out->port = (int)port;
    snprintf(out->url, sizeof(out->url), "%s://127.0.0.1:%d", opts->tls ? "https" : "http",
             out->port);

    char kc[2048];
    int n = snprintf(kc, sizeof(kc),
                     "apiVersion: v1\n"
                     "kind: Config\n"
                     "clusters:\n"
                     "- name: fake\n"
                     "  cluster:\n"
                     "    server: %s\n"
                     "%s%s%s"
                     "users:\n"
                     "- name: fake\n"
                     "  user:\n"
                     "%s%s%s"
                     "contexts:\n"
                     "- name: fake\n"
                     "  context:\n"
                     "    cluster: fake\n"
                     "    user: fake\n"
                     "    namespace: default\n"
                     "current-context: fake\n",
                     out->url, opts->tls ? "    certificate-authority: " : "",
                     opts->tls ? out->ca_file : "", opts->tls ? "\n" : "",
                     opts->token ? "    token: " : "", opts->token ? opts->token : "",
                     opts->token ? "\n" : "    {}\n");
    if (n < 0 || (size_t)n >= sizeof(kc) || write_file(out->kubeconfig, kc, 0600))
        goto fail;
    if (!lbp_test_poll(answers, out, START_TIMEOUT_MS)) {
        fprintf(stderr, "harness: fake-apiserver at %s does not answer\n", out->url);
        goto fail;
    }
    return 0;
fail:
    if (pipefd[0] >= 0)
        close(pipefd[0]);
    if (pipefd[1] >= 0)
        close(pipefd[1]);
    lbp_fake_api_stop(out);
    return -1;
}

void lbp_fake_api_stop(struct lbp_fake_api *api)
{
    if (api->pid > 0) {
        int rc = lbp_test_stop(api->pid, SIGTERM, 10000);
        if (rc != 0) {
            /* The log goes with the temp dir: show it while it still exists. */
            char buf[4096];
            FILE *f = fopen(api->log, "r");
            fprintf(stderr, "harness: fake-apiserver exited with %d; its log:\n", rc);
            size_t n, total = 0;
            while (f && (n = fread(buf, 1, sizeof(buf), f)) > 0 && total < 65536) {
                fwrite(buf, 1, n, stderr);
                total += n;
            }
            if (f)
                fclose(f);
        }
        api->pid = 0;
    }
    if (api->dir[0]) {
        nftw(api->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
        api->dir[0] = '\0';
    }
}
