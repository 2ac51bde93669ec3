/* rc.c — names for enum lbp_rc, for log lines and Events. */
#include "common/rc.h"

const char *lbp_rc_str(int rc)
{
    switch (rc) {
    case LBP_OK:
        return "ok";
    case LBP_NOT_FOUND:
        return "not found";
    case LBP_PENDING:
        return "pending";
    case LBP_RETRY:
        return "retryable failure";
    case LBP_AUTH:
        return "authentication failed";
    case LBP_INVALID:
        return "invalid request";
    case LBP_NOMEM:
        return "out of memory";
    case LBP_TOOBIG:
        return "too big";
    case LBP_CONFLICT:
        return "conflict";
    case LBP_GONE:
        return "gone (resourceVersion too old)";
    case LBP_IO:
        return "I/O error";
    case LBP_PARSE:
        return "malformed input";
    case LBP_CANCELLED:
        return "cancelled";
    }
    return "unknown error";
}
