/*
 * auth.c — bearer-token authentication. A token maps to a user: a name and
 * the groups the real server's authenticators would give it. A
 * ServiceAccount name ("system:serviceaccount:NS:SA") gets
 * system:serviceaccounts and system:serviceaccounts:NS, as the token
 * authenticator does; the admin token gets system:masters; every
 * authenticated user gets system:authenticated. Authorization (rbac.c) is
 * keyed by these.
 *
 * Tokens are added at start (--token) and by the control endpoint
 * (POST /_fake/tokens) while serving, so the list has its own lock; users
 * are never removed before exit, so the pointers handed out stay valid.
 * Tokens are compared in constant time and never logged.
 */
#include "fake.h"
#include "common/util.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SA_PREFIX "system:serviceaccount:"

struct user {
    char *token;
    struct fake_user u;
    char *owned[FAKE_USER_GROUPS_MAX + 1]; /* name and groups, freed at exit */
    struct user *next;
};
static struct user *users;
static pthread_mutex_t users_lock = PTHREAD_MUTEX_INITIALIZER;
static int ntokens;

static const struct fake_user anonymous = {
    .name = "system:anonymous",
    .groups = {"system:unauthenticated", NULL},
};

static void user_free(struct user *u)
{
    if (!u)
        return;
    free(u->token);
    for (size_t i = 0; i < LBP_ARRAY_LEN(u->owned); i++)
        free(u->owned[i]);
    free(u);
}

/* Adds s to u's groups (the list keeps a NULL end); -1 when out of memory. */
static int add_group(struct user *u, const char *s)
{
    size_t i = 0;
    while (u->u.groups[i])
        i++;
    if (i + 1 >= FAKE_USER_GROUPS_MAX)
        return -1;
    if (!(u->owned[i + 1] = strdup(s)))
        return -1;
    u->u.groups[i] = u->owned[i + 1];
    return 0;
}

/* uname NULL: "admin" for the first token, then user1, user2... */
static int add_user(const char *token, size_t tlen, const char *uname, bool admin)
{
    char name[FAKE_NAME_MAX + 64];
    int rc = -1;
    struct user *u = calloc(1, sizeof(*u));
    if (!u || tlen == 0 || (uname && (!*uname || strlen(uname) >= sizeof(name))))
        goto out;
    if (!(u->token = strndup(token, tlen)))
        goto out;
    pthread_mutex_lock(&users_lock);
    int n = ntokens++;
    pthread_mutex_unlock(&users_lock);
    admin = admin || (!uname && n == 0);
    if (uname)
        lbp_strlcpy(name, uname, sizeof(name));
    else if (admin)
        lbp_strlcpy(name, "admin", sizeof(name));
    else
        snprintf(name, sizeof(name), "user%d", n);
    if (!(u->owned[0] = strdup(name)))
        goto out;
    u->u.name = u->owned[0];
    if (admin && add_group(u, "system:masters"))
        goto out;
    if (strncmp(name, SA_PREFIX, strlen(SA_PREFIX)) == 0) {
        const char *ns = name + strlen(SA_PREFIX), *sep = strchr(ns, ':');
        char g[FAKE_NAME_MAX + 64];
        if (!sep || sep == ns || !sep[1] || strchr(sep + 1, ':'))
            goto out; /* not NS:NAME: the real authenticator would not produce it */
        snprintf(g, sizeof(g), "system:serviceaccounts:%.*s", (int)(sep - ns), ns);
        if (add_group(u, "system:serviceaccounts") || add_group(u, g))
            goto out;
    }
    if (add_group(u, "system:authenticated"))
        goto out;
    pthread_mutex_lock(&users_lock);
    u->next = users;
    users = u;
    pthread_mutex_unlock(&users_lock);
    u = NULL;
    rc = 0;
out:
    user_free(u);
    return rc;
}

int fake_auth_add_token(const char *spec, bool admin)
{
    const char *colon = strchr(spec, ':');
    return add_user(spec, colon ? (size_t)(colon - spec) : strlen(spec), colon ? colon + 1 : NULL,
                    admin);
}

int fake_auth_add_user(const char *token, const char *name)
{
    return add_user(token, strlen(token), name, false);
}

bool fake_auth_enabled(void)
{
    pthread_mutex_lock(&users_lock);
    bool on = users != NULL;
    pthread_mutex_unlock(&users_lock);
    return on;
}

const struct fake_user *fake_auth_lookup(const char *authorization)
{
    if (!authorization || strncmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *t = authorization + 7;
    size_t n = strlen(t);
    const struct fake_user *found = NULL;
    pthread_mutex_lock(&users_lock);
    for (struct user *u = users; u; u = u->next)
        if (strlen(u->token) == n && CRYPTO_memcmp(u->token, t, n) == 0)
            found = &u->u;
    pthread_mutex_unlock(&users_lock);
    return found;
}

const struct fake_user *fake_auth_anonymous(void)
{
    return &anonymous;
}

bool fake_user_in_group(const struct fake_user *u, const char *group)
{
    for (size_t i = 0; u && i < FAKE_USER_GROUPS_MAX && u->groups[i]; i++)
        if (strcmp(u->groups[i], group) == 0)
            return true;
    return false;
}

void fake_auth_free(void)
{
    while (users) {
        struct user *u = users;
        users = u->next;
        user_free(u);
    }
}
