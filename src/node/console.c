/* The web console's file table (console.h): lookup and validators, no I/O. */
#include "node/console.h"

#include <string.h>

bool cs_console_owns(const char *path)
{
    size_t n = strlen(CS_CONSOLE_PATH);
    return strncmp(path, CS_CONSOLE_PATH, n) == 0 && (path[n] == '\0' || path[n] == '/');
}

const cs_console_asset *cs_console_find(const char *path)
{
    if (strcmp(path, CS_CONSOLE_PATH) == 0 || strcmp(path, CS_CONSOLE_PATH "/") == 0)
        path = CS_CONSOLE_INDEX;
    for (size_t i = 0; i < cs_console_asset_count; i++)
        if (strcmp(cs_console_assets[i].path, path) == 0)
            return &cs_console_assets[i];
    return NULL;
}

/*
 * RFC 9110 §13.1.2: If-None-Match = "*" / #entity-tag, entity-tag =
 * [ "W/" ] DQUOTE *etagc DQUOTE; the comparison is weak (§8.8.3.2): the
 * opaque tags are equal, whatever W/ says.
 */
bool cs_console_etag_matches(const cs_console_asset *asset, const char *v)
{
    if (v == NULL)
        return false;
    const size_t tag_len = strlen(asset->etag);
    const char *p = v;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            return false;
        if (*p == '*')
            return true;
        if (strncmp(p, "W/", 2) == 0)
            p += 2;
        if (*p != '"')
            return false; /* not a list of entity tags: no match */
        const char *end = strchr(p + 1, '"');
        if (end == NULL)
            return false;
        if ((size_t)(end + 1 - p) == tag_len && memcmp(p, asset->etag, tag_len) == 0)
            return true;
        p = end + 1;
    }
}
