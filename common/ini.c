/*
 * ini.c — bounded INI lookups (see ini.h).
 *
 * Lookups rescan the text; these files are read a handful of times per
 * process, so a parsed tree would only add code.
 */
#include "common/ini.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/file.h"
#include "common/rc.h"
#include "common/util.h"

int lbp_ini_load(const char *path, char **text)
{
    int rc = lbp_file_read(path, LBP_INI_MAX_FILE, LBP_FILE_SECRET, text, NULL);
    return rc == LBP_IO && errno == ENOENT ? LBP_NOT_FOUND : rc;
}

/* Trims [*b, *e) in place. */
static void trim(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static int eq(const char *b, const char *e, const char *s)
{
    size_t l = strlen(s);
    return (size_t)(e - b) == l && memcmp(b, s, l) == 0;
}

/* Walks lines; cb returns 1 to stop. */
static int scan(const char *text, const char *section, const char *key, char *out, size_t cap,
                int want_section)
{
    const char *p = text;
    int in = 0, found_section = 0;
    if (!text)
        return LBP_NOT_FOUND;
    while (*p) {
        const char *eol = strchr(p, '\n');
        const char *b = p, *e = eol ? eol : p + strlen(p);
        p = eol ? eol + 1 : e;
        if (e - b > LBP_INI_MAX_LINE)
            return LBP_TOOBIG;
        trim(&b, &e);
        if (b == e || *b == '#' || *b == ';')
            continue;
        if (*b == '[') {
            const char *sb = b + 1, *se = e;
            if (se[-1] != ']')
                return LBP_PARSE;
            se--;
            trim(&sb, &se);
            in = eq(sb, se, section);
            if (in)
                found_section = 1;
            if (in && want_section)
                return LBP_OK;
            continue;
        }
        if (!in || want_section)
            continue;
        {
            const char *eqs = memchr(b, '=', (size_t)(e - b));
            const char *kb = b, *ke, *vb, *ve = e;
            if (!eqs)
                continue;
            ke = eqs;
            vb = eqs + 1;
            trim(&kb, &ke);
            trim(&vb, &ve);
            if (!eq(kb, ke, key))
                continue;
            if ((size_t)(ve - vb) + 1 > cap)
                return LBP_TOOBIG;
            memcpy(out, vb, (size_t)(ve - vb));
            out[ve - vb] = 0;
            return LBP_OK;
        }
    }
    (void)found_section;
    return LBP_NOT_FOUND;
}

int lbp_ini_get(const char *text, const char *section, const char *key, char *out, size_t cap)
{
    return scan(text, section, key, out, cap, 0);
}

int lbp_ini_has_section(const char *text, const char *section)
{
    return scan(text, section, NULL, NULL, 0, 1);
}
