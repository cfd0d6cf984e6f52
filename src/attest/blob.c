/*
 * Owned lists of byte blobs (endorsements, trust anchors) and the evidence
 * object that holds them (evidence.h). The wire encoding of the envelope is
 * in evidence.c.
 */
#include "attest/evidence.h"

#include "base/alloc.h"
#include "base/file.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* A list never holds more than this many blobs, so a directory full of files
 * cannot make a verifier loop over an unbounded input. */
#define BLOB_LIST_MAX_ITEMS 256

void cs_blob_list_init(cs_blob_list *l)
{
    *l = (cs_blob_list){NULL, 0};
}

void cs_blob_list_cleanup(cs_blob_list *l)
{
    for (size_t i = 0; i < l->count; i++)
        cs_buf_cleanup(&l->items[i]);
    cs_free(l->items);
    cs_blob_list_init(l);
}

/* Adds a copy of `data`; the list is unchanged on failure. */
consort_err cs_blob_list_add(cs_blob_list *l, cs_slice data)
{
    CS_ENSURE(l->count < BLOB_LIST_MAX_ITEMS, CONSORT_E_TOO_LARGE, "blob list: more than %d items",
              BLOB_LIST_MAX_ITEMS);
    CS_ENSURE(data.len <= CS_ENDORSEMENT_MAX_BYTES, CONSORT_E_TOO_LARGE,
              "blob list: item of %zu bytes exceeds the limit of %d", data.len,
              CS_ENDORSEMENT_MAX_BYTES);
    cs_buf copy;
    cs_buf_init(&copy, CS_ENDORSEMENT_MAX_BYTES);
    CS_TRY(cs_buf_append_slice(&copy, data));
    cs_buf *items = cs_realloc(l->items, (l->count + 1) * sizeof *items);
    if (items == NULL) {
        cs_buf_cleanup(&copy);
        return cs_fail(CONSORT_E_NOMEM, "blob list: out of memory");
    }
    l->items = items;
    l->items[l->count] = copy;
    l->count++;
    return CONSORT_OK;
}

static int skip_hidden(const struct dirent *e)
{
    return e->d_name[0] != '.';
}

/* Reads one directory entry into the list if it is a regular file. */
static consort_err add_dir_entry(cs_blob_list *l, const char *dir, const char *name)
{
    char path[4096];
    CS_TRY(cs_path_join(path, sizeof path, dir, name));
    struct stat st;
    CS_ENSURE(stat(path, &st) == 0, cs_errno_code(errno), "cannot stat %s: %s", path,
              strerror(errno));
    if (!S_ISREG(st.st_mode))
        return CONSORT_OK;
    cs_buf data;
    cs_buf_init(&data, CS_ENDORSEMENT_MAX_BYTES);
    consort_err rc = cs_file_read(path, &data);
    if (rc == CONSORT_OK)
        rc = cs_blob_list_add(l, cs_buf_slice(&data));
    cs_buf_cleanup(&data);
    return rc;
}

/*
 * Adds every regular, non-hidden file of `dir` in name order (so results do
 * not depend on the file system's directory order). Each file is capped at
 * CS_ENDORSEMENT_MAX_BYTES. On failure the files already added stay added.
 */
consort_err cs_blob_list_add_dir(cs_blob_list *l, const char *dir)
{
    struct dirent **entries = NULL;
    int n = scandir(dir, &entries, skip_hidden, alphasort);
    if (n < 0)
        return cs_fail(cs_errno_code(errno), "cannot read directory %s: %s", dir, strerror(errno));
    consort_err rc = CONSORT_OK;
    for (int i = 0; i < n; i++) {
        if (rc == CONSORT_OK)
            rc = add_dir_entry(l, dir, entries[i]->d_name);
        free(entries[i]); /* allocated by scandir with malloc */
    }
    free(entries);
    return rc;
}

void cs_evidence_init(cs_evidence *ev)
{
    ev->platform = CS_PLATFORM_NONE;
    cs_buf_init(&ev->evidence, CS_EVIDENCE_MAX_BYTES);
    cs_blob_list_init(&ev->endorsements);
}

void cs_evidence_cleanup(cs_evidence *ev)
{
    cs_buf_cleanup(&ev->evidence);
    cs_blob_list_cleanup(&ev->endorsements);
    ev->platform = CS_PLATFORM_NONE;
}
