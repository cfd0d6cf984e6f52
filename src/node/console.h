/*
 * The web console's files (docs/operating.md "Web console"): a fixed table
 * compiled into the binary from console/ (src/node/console_assets.cmake),
 * looked up by exact request path. Nothing here touches the file system, so
 * no request path can name anything but an entry of the table.
 */
#ifndef CS_NODE_CONSOLE_H
#define CS_NODE_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

/* The console's entry page: GET /console (and /console/) answers it. */
#define CS_CONSOLE_PATH  "/console"
#define CS_CONSOLE_INDEX "/console/index.html"

typedef struct cs_console_asset {
    const char *path;         /* "/console/<name>" */
    const char *content_type; /* from the file's extension */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted entity tag: 128 bits of the file's SHA-256, hex */
} cs_console_asset;

/* The generated table (console_assets.c). */
extern const cs_console_asset cs_console_assets[];
extern const size_t cs_console_asset_count;

/* True if `path` (exact, still percent-encoded, without the query) is
 * /console or under /console/: the console owns it, found or not. */
bool cs_console_owns(const char *path);

/* The file `path` names, or NULL (404): "/console" and "/console/" name the
 * entry page; any other path must equal an entry's path byte for byte. */
const cs_console_asset *cs_console_find(const char *path);

/* True if an If-None-Match field value (RFC 9110 §13.1.2: "*" or a list of
 * entity tags, weak ones compared weakly) matches `asset`'s entity tag.
 * NULL (no such field) matches nothing. */
bool cs_console_etag_matches(const cs_console_asset *asset, const char *if_none_match);

#endif
