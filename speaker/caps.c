/*
 * caps.c — reduces the process to the one capability the announcer needs,
 * CAP_NET_RAW (AF_PACKET sockets), with libcap. The bounding set is trimmed
 * first, while CAP_SETPCAP is still held, so nothing dropped can come back
 * through an exec; PR_SET_KEEPCAPS keeps CAP_NET_RAW in the permitted set if
 * the process later switches to a non-root uid.
 */
#include "speaker/speaker.h"
#include "common/log.h"
#include "common/rc.h"

#include <errno.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/prctl.h>

int lbp_speaker_drop_caps(void)
{
    int rc = LBP_IO;
    cap_value_t keep = CAP_NET_RAW;
    cap_t cur = cap_get_proc();
    cap_t want = cap_init();
    if (!cur || !want)
        goto out;
    cap_flag_value_t have = CAP_CLEAR;
    if (cap_get_flag(cur, CAP_NET_RAW, CAP_PERMITTED, &have) != 0)
        goto out;
    if (have != CAP_SET) {
        lbp_error("speaker: CAP_NET_RAW is not held; raw ARP/NDP sockets will fail");
        rc = LBP_AUTH;
        goto out;
    }
    cap_flag_value_t setpcap = CAP_CLEAR;
    (void)cap_get_flag(cur, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
    if (setpcap == CAP_SET) {
        for (cap_value_t c = 0; c < (cap_value_t)cap_max_bits(); c++) {
            if (c == keep || cap_get_bound(c) <= 0)
                continue;
            if (cap_drop_bound(c) != 0) {
                lbp_error("speaker: dropping capability %d from the bounding set: %s", (int)c,
                          strerror(errno));
                goto out;
            }
        }
    }
    if (prctl(PR_SET_KEEPCAPS, 1L, 0L, 0L, 0L) != 0)
        goto out;
    if (cap_set_flag(want, CAP_PERMITTED, 1, &keep, CAP_SET) != 0 ||
        cap_set_flag(want, CAP_EFFECTIVE, 1, &keep, CAP_SET) != 0 || cap_set_proc(want) != 0) {
        lbp_error("speaker: setting capabilities: %s", strerror(errno));
        goto out;
    }
    rc = LBP_OK;
out:
    if (cur)
        cap_free(cur);
    if (want)
        cap_free(want);
    return rc;
}
