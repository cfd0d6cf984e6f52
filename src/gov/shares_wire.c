/*
 * The recovery share formats (shares.h): the public header, the plain
 * share, and the checks on a share's binding. Parsers read through a
 * cursor and refuse trailing bytes.
 */
#include "gov/shares.h"

#include "gov/shares_priv.h"

#include <string.h>

static const uint8_t MAGIC[4] = {'C', 'S', 'R', 'S'};
#define SHARE_VERSION 1

void cs_gov_share_wipe(cs_gov_share *share)
{
    if (share != NULL)
        cs_wipe(share, sizeof *share);
}

consort_err cs_gov_share_meta_encode(const cs_gov_share_meta *m, cs_buf *out)
{
    size_t old_len = out->len;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_buf_append(out, MAGIC, sizeof MAGIC), fail);
    CS_TRY_GOTO(rc, cs_buf_append_u8(out, SHARE_VERSION), fail);
    CS_TRY_GOTO(rc, cs_buf_append_u8(out, m->threshold), fail);
    CS_TRY_GOTO(rc, cs_buf_append_u8(out, m->count), fail);
    CS_TRY_GOTO(rc, cs_buf_append_u8(out, m->index), fail);
    CS_TRY_GOTO(rc, cs_buf_append_u8(out, m->secret_len), fail);
    CS_TRY_GOTO(rc, cs_buf_append_be64(out, m->binding.epoch), fail);
    CS_TRY_GOTO(rc, cs_buf_append(out, m->binding.service_id, CS_GOV_SHARE_ID_LEN), fail);
    CS_TRY_GOTO(rc, cs_buf_append(out, m->member_id, CS_GOV_SHARE_ID_LEN), fail);
    return CONSORT_OK;
fail:
    out->len = old_len;
    return rc;
}

consort_err cs_gov_share_meta_read(cs_cursor *c, cs_gov_share_meta *m)
{
    uint8_t magic[sizeof MAGIC], version;
    CS_TRY_CTX(cs_cursor_read_into(c, magic, sizeof magic), "recovery share header");
    CS_ENSURE(memcmp(magic, MAGIC, sizeof MAGIC) == 0, CONSORT_E_MALFORMED,
              "recovery share: magic %02x%02x%02x%02x, expected \"CSRS\"", magic[0], magic[1],
              magic[2], magic[3]);
    CS_TRY_CTX(cs_cursor_read_u8(c, &version), "recovery share header");
    CS_ENSURE(version == SHARE_VERSION, CONSORT_E_UNSUPPORTED,
              "recovery share: version %u unsupported, expected %d", version, SHARE_VERSION);
    CS_TRY_CTX(cs_cursor_read_u8(c, &m->threshold), "recovery share header");
    CS_TRY_CTX(cs_cursor_read_u8(c, &m->count), "recovery share header");
    CS_TRY_CTX(cs_cursor_read_u8(c, &m->index), "recovery share header");
    CS_TRY_CTX(cs_cursor_read_u8(c, &m->secret_len), "recovery share header");
    CS_TRY_CTX(cs_cursor_read_be64(c, &m->binding.epoch), "recovery share header");
    CS_TRY_CTX(cs_cursor_read_into(c, m->binding.service_id, CS_GOV_SHARE_ID_LEN),
               "recovery share header");
    CS_TRY_CTX(cs_cursor_read_into(c, m->member_id, CS_GOV_SHARE_ID_LEN), "recovery share header");
    CS_ENSURE(m->count >= 1, CONSORT_E_MALFORMED, "recovery share: member count 0");
    CS_ENSURE(m->threshold >= 1 && m->threshold <= m->count, CONSORT_E_MALFORMED,
              "recovery share: threshold %u, expected 1..%u", m->threshold, m->count);
    CS_ENSURE(m->index >= 1 && m->index <= m->count, CONSORT_E_MALFORMED,
              "recovery share: index %u, expected 1..%u", m->index, m->count);
    CS_ENSURE(m->secret_len >= CS_GOV_SECRET_MIN && m->secret_len <= CS_GOV_SECRET_MAX,
              CONSORT_E_MALFORMED, "recovery share: secret length %u, expected %d..%d",
              m->secret_len, CS_GOV_SECRET_MIN, CS_GOV_SECRET_MAX);
    return CONSORT_OK;
}

consort_err cs_gov_share_peek(cs_slice share, cs_gov_share_meta *out)
{
    cs_cursor c;
    cs_cursor_init(&c, share);
    return cs_gov_share_meta_read(&c, out);
}

consort_err cs_gov_share_encode(const cs_gov_share *share, cs_buf *out)
{
    size_t old_len = out->len;
    consort_err rc;
    CS_TRY_GOTO(rc, cs_gov_share_meta_encode(&share->meta, out), fail);
    CS_TRY_GOTO(rc, cs_buf_append(out, share->check, sizeof share->check), fail);
    CS_TRY_GOTO(rc, cs_buf_append(out, share->y, share->meta.secret_len), fail);
    return CONSORT_OK;
fail:
    if (out->len > old_len)
        cs_wipe(out->ptr + old_len, out->len - old_len);
    out->len = old_len;
    return rc;
}

consort_err cs_gov_share_decode(cs_slice plain, cs_gov_share *out)
{
    cs_wipe(out, sizeof *out);
    cs_cursor c;
    cs_cursor_init(&c, plain);
    consort_err rc;
    CS_TRY_GOTO(rc, cs_gov_share_meta_read(&c, &out->meta), fail);
    CS_TRY_CTX_GOTO(rc, cs_cursor_read_into(&c, out->check, sizeof out->check), fail,
                    "recovery share check");
    CS_TRY_CTX_GOTO(rc, cs_cursor_read_into(&c, out->y, out->meta.secret_len), fail,
                    "recovery share value");
    CS_TRY_CTX_GOTO(rc, cs_cursor_expect_end(&c), fail, "recovery share");
    return CONSORT_OK;
fail:
    cs_wipe(out, sizeof *out);
    return rc;
}

static void hex_id(const uint8_t id[CS_GOV_SHARE_ID_LEN], char out[2 * CS_GOV_SHARE_ID_LEN + 1])
{
    cs_hex_encode(CS_SLICE(id, CS_GOV_SHARE_ID_LEN), out);
}

consort_err cs_gov_share_binding_check(const cs_gov_share_meta *m,
                                       const cs_gov_share_binding *expect)
{
    char got[2 * CS_GOV_SHARE_ID_LEN + 1], want[2 * CS_GOV_SHARE_ID_LEN + 1];
    if (memcmp(m->binding.service_id, expect->service_id, CS_GOV_SHARE_ID_LEN) != 0) {
        hex_id(m->binding.service_id, got);
        hex_id(expect->service_id, want);
        return cs_fail(CONSORT_E_POLICY, "recovery share %u: service %s, expected %s", m->index,
                       got, want);
    }
    CS_ENSURE(m->binding.epoch == expect->epoch, CONSORT_E_POLICY,
              "recovery share %u: wrapping epoch %llu, expected %llu", m->index,
              (unsigned long long)m->binding.epoch, (unsigned long long)expect->epoch);
    return CONSORT_OK;
}

consort_err cs_gov_share_check(const cs_gov_share_meta *meta, const cs_gov_share_binding *expect,
                               const uint8_t member_id[CS_GOV_SHARE_ID_LEN])
{
    CS_TRY(cs_gov_share_binding_check(meta, expect));
    if (memcmp(meta->member_id, member_id, CS_GOV_SHARE_ID_LEN) != 0) {
        char got[2 * CS_GOV_SHARE_ID_LEN + 1], want[2 * CS_GOV_SHARE_ID_LEN + 1];
        hex_id(meta->member_id, got);
        hex_id(member_id, want);
        return cs_fail(CONSORT_E_POLICY, "recovery share %u: issued to member %s, submitted by %s",
                       meta->index, got, want);
    }
    return CONSORT_OK;
}
