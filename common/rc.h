/*
 * rc.h — the one result code every lbprov module returns.
 *
 * Functions return 0 (LBP_OK) or one of these; never "pointer or -1". The
 * provider-facing subset (NOT_FOUND, PENDING, RETRY, AUTH, INVALID, NOMEM) is
 * what the reconciler acts on; the rest are for plumbing.
 */
#ifndef LBP_COMMON_RC_H
#define LBP_COMMON_RC_H

enum lbp_rc {
    LBP_OK = 0,
    LBP_NOT_FOUND, /* the object does not exist (delete: counts as done) */
    LBP_PENDING,   /* accepted, not finished: ask again after retry-after */
    LBP_RETRY,     /* transient: throttled, 5xx, timeout, connection refused */
    LBP_AUTH,      /* credentials missing, wrong or forbidden */
    LBP_INVALID,   /* the request can never succeed as written */
    LBP_NOMEM,     /* allocation failed */
    LBP_TOOBIG,    /* a bounded buffer or field limit was hit */
    LBP_CONFLICT,  /* optimistic-concurrency conflict (HTTP 409) */
    LBP_GONE,      /* resourceVersion too old (HTTP 410): re-list */
    LBP_IO,        /* local I/O or system call failure */
    LBP_PARSE,     /* malformed input from a peer or file */
    LBP_CANCELLED, /* shutdown in progress */
};

const char *lbp_rc_str(int rc);

#endif
