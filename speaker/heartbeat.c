/*
 * heartbeat.c — encodes and parses the heartbeat datagram (heartbeat.h).
 * The parser trusts nothing: fixed magic and version, an exact length, a
 * name of printable characters only (it ends up in logs).
 */
#include "speaker/heartbeat.h"

#include "common/rc.h"

#include <string.h>

size_t lbp_hb_encode(uint8_t *buf, size_t cap, const char *node, uint8_t flags, uint64_t seq)
{
    size_t n = node ? strlen(node) : 0;
    if (n == 0 || n > LBP_HB_NAME_MAX || cap < LBP_HB_HDR + n)
        return 0;
    memcpy(buf, "LBPH", 4);
    buf[4] = LBP_HB_VERSION;
    buf[5] = flags;
    buf[6] = (uint8_t)n;
    buf[7] = 0;
    for (int i = 0; i < 8; i++)
        buf[8 + i] = (uint8_t)(seq >> (56 - 8 * i));
    memcpy(buf + LBP_HB_HDR, node, n);
    return LBP_HB_HDR + n;
}

int lbp_hb_decode(const uint8_t *buf, size_t len, char node[LBP_HB_NAME_MAX + 1], uint8_t *flags,
                  uint64_t *seq)
{
    size_t n;
    uint64_t s = 0;
    if (len < LBP_HB_HDR + 1 || memcmp(buf, "LBPH", 4) != 0 || buf[4] != LBP_HB_VERSION)
        return LBP_PARSE;
    n = buf[6];
    if (n == 0 || len != LBP_HB_HDR + n)
        return LBP_PARSE;
    for (size_t i = 0; i < n; i++) {
        uint8_t c = buf[LBP_HB_HDR + i];
        if (c <= 0x20 || c >= 0x7f)
            return LBP_PARSE;
    }
    for (int i = 0; i < 8; i++)
        s = (s << 8) | buf[8 + i];
    memcpy(node, buf + LBP_HB_HDR, n);
    node[n] = '\0';
    *flags = buf[5];
    *seq = s;
    return LBP_OK;
}
