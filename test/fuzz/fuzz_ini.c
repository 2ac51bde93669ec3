/*
 * fuzz_ini.c — the INI reader behind the AWS shared credentials and config
 * files. Input: a first line "section key" naming what to look up, then the
 * file. The profiles and keys the credential chain asks for are looked up
 * too.
 */
#include "test/fuzz/harness.h"
#include "common/ini.h"
#include "common/rc.h"

#include <string.h>

static void lookup(const char *text, const char *section, const char *key)
{
    char out[64];
    int rc = lbp_ini_get(text, section, key, out, sizeof(out));
    if (rc == LBP_OK) {
        FZ_CHECK(strlen(out) < sizeof(out));
        /* A value's surrounding blanks are trimmed. */
        FZ_CHECK(!out[0] || (out[0] != ' ' && out[strlen(out) - 1] != ' '));
    }
    lbp_ini_has_section(text, section);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const sections[] = {"default", "profile default", "profile x", "x"};
    static const char *const keys[] = {"aws_access_key_id", "aws_secret_access_key",
                                       "aws_session_token", "role_arn", "web_identity_token_file"};
    fz_setup();
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hl = nl ? (size_t)(nl - data) : size;
    char *head = fz_strndup(data, hl);
    char *text = fz_strndup(data + (nl ? hl + 1 : hl), size - (nl ? hl + 1 : hl));
    char *sp = strchr(head, ' ');
    if (sp) {
        *sp = '\0';
        lookup(text, head, sp + 1);
    }
    for (size_t i = 0; i < sizeof(sections) / sizeof(sections[0]); i++)
        for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
            lookup(text, sections[i], keys[k]);
    free(head);
    free(text);
    return 0;
}
