/*
 * ini.h — a small, bounded INI reader for AWS shared credentials/config,
 * GCE gce.conf and other INI-style cloud-config files.
 *
 * "[section]" headers, "key = value" lines, '#' and ';' comments; keys and
 * section names compare case-sensitively except for surrounding blanks.
 * Files over 1 MiB and lines over 4 KiB are refused, not truncated.
 */
#ifndef LBP_COMMON_INI_H
#define LBP_COMMON_INI_H

#include <stddef.h>

#define LBP_INI_MAX_FILE (1u << 20)
#define LBP_INI_MAX_LINE 4096

/* Reads a whole file (capped); caller frees. LBP_NOT_FOUND, LBP_TOOBIG, LBP_IO. */
int lbp_ini_load(const char *path, char **text);
/*
 * Looks key up in section. LBP_OK (value copied, blanks trimmed),
 * LBP_NOT_FOUND, LBP_TOOBIG (value longer than cap-1) or LBP_PARSE.
 */
int lbp_ini_get(const char *text, const char *section, const char *key, char *out, size_t cap);
/* LBP_OK when the section header exists. */
int lbp_ini_has_section(const char *text, const char *section);

#endif
