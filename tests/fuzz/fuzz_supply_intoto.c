/*
 * libFuzzer target for the in-toto parsers (src/supply/): the first byte
 * picks the parser, the rest is its input.
 *   'L' layout (cs_intoto_layout_parse)   'K' link (cs_intoto_link_parse)
 *   'J' canonical JSON (parse, encode)    'P' pattern NUL name (fnmatch)
 *   'V' a layout verified against itself as its only link file
 * Nothing may crash, leak or read out of bounds; a failure must carry a
 * message. Seeds: corpus/supply_intoto, the honest chain of
 * tests/unit/supply/vectors with a mode byte in front, and patterns.
 */
#include "supply/cjson.h"
#include "supply/fnmatch.h"
#include "supply/intoto_meta.h"
#include "supply/intoto_verify.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void must_say_why(consort_err rc)
{
    if (rc != CONSORT_OK && consort_errmsg()[0] == '\0')
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    cs_slice in = CS_SLICE(data + 1, size - 1);
    cs_err_clear();
    switch (data[0]) {
    case 'L': {
        cs_intoto_layout l;
        must_say_why(cs_intoto_layout_parse(in, &l));
        cs_intoto_layout_cleanup(&l);
        break;
    }
    case 'K': {
        cs_intoto_link k;
        must_say_why(cs_intoto_link_parse(in, &k));
        cs_intoto_link_cleanup(&k);
        break;
    }
    case 'J': {
        json_t *v = NULL;
        if (cs_cjson_parse(in, &v) == CONSORT_OK) {
            cs_buf out;
            cs_buf_init(&out, 0);
            must_say_why(cs_cjson_encode(v, &out));
            cs_buf_cleanup(&out);
            json_decref(v);
        }
        break;
    }
    case 'P': {
        const uint8_t *nul = memchr(in.ptr, 0, in.len);
        if (nul == NULL || memchr(nul + 1, 0, in.len - (size_t)(nul + 1 - in.ptr)) == NULL)
            break; /* "pattern\0name\0" */
        cs_fnmatch *m = NULL;
        if (cs_fnmatch_compile((const char *)in.ptr, &m) == CONSORT_OK) {
            bool hit;
            must_say_why(cs_fnmatch_match(m, (const char *)nul + 1, &hit));
        }
        cs_fnmatch_free(m);
        break;
    }
    case 'V': {
        static const char key[] =
            "{\"keytype\":\"ed25519\",\"scheme\":\"ed25519\",\"keyval\":{\"public\":"
            "\"d983154cf3fc5a42cd34460c5a985cd95d236ec86fec0a6d2479124ee62673b4\"}}";
        cs_slice k = CS_SLICE_LIT(key);
        cs_intoto_file f = {"write-code.1caffc58.link", in};
        cs_intoto_result res;
        must_say_why(cs_intoto_verify(in, &k, 1, &f, 1, 1796342400, &res));
        break;
    }
    default:
        break;
    }
    return 0;
}
