/*
 * auth.c — bearer-token authentication. A token maps to a user name, so
 * authorization rules (RBAC-like) can later be keyed by user without
 * touching the request path. Tokens are compared in constant time and never
 * logged.
 */
#include "fake.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

struct user {
    char *token;
    char *name;
    struct user *next;
};
static struct user *users;

int fake_auth_add_token(const char *token, const char *user)
{
    struct user *u = calloc(1, sizeof(*u));
    if (!u || !(u->token = strdup(token)) || !(u->name = strdup(user))) {
        if (u)
            free(u->token);
        free(u);
        return -1;
    }
    u->next = users;
    users = u;
    return 0;
}

bool fake_auth_enabled(void)
{
    return users != NULL;
}

const char *fake_auth_user(const char *authorization)
{
    if (!authorization || strncmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *t = authorization + 7;
    size_t n = strlen(t);
    const char *found = NULL;
    for (struct user *u = users; u; u = u->next)
        if (strlen(u->token) == n && CRYPTO_memcmp(u->token, t, n) == 0)
            found = u->name;
    return found;
}

void fake_auth_free(void)
{
    while (users) {
        struct user *u = users;
        users = u->next;
        free(u->token);
        free(u->name);
        free(u);
    }
}
