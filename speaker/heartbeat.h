/*
 * heartbeat.h — the speakers' UDP heartbeat datagram, shared by the speaker
 * daemon and the unit tests. Nothing else in the program needs it.
 *
 * Layout (network order): "LBPH", version (1), flags, name length, 0,
 * sequence (u64), node name (1..253 bytes, no NUL).
 */
#ifndef LBP_SPEAKER_HEARTBEAT_H
#define LBP_SPEAKER_HEARTBEAT_H

#include <stddef.h>
#include <stdint.h>

#define LBP_HB_VERSION 1
#define LBP_HB_HDR 16
#define LBP_HB_NAME_MAX 253
#define LBP_HB_MAX (LBP_HB_HDR + LBP_HB_NAME_MAX)

#define LBP_HB_LEAVING 0x01 /* the sender is stopping: take its VIPs now */
#define LBP_HB_API_OK 0x02  /* the sender's own Lease writes succeed */

/* Bytes written (0 when the name does not fit or is empty). */
size_t lbp_hb_encode(uint8_t *buf, size_t cap, const char *node, uint8_t flags, uint64_t seq);
/* LBP_OK, or LBP_PARSE for anything that is not a well-formed heartbeat. */
int lbp_hb_decode(const uint8_t *buf, size_t len, char node[LBP_HB_NAME_MAX + 1], uint8_t *flags,
                  uint64_t *seq);

#endif
