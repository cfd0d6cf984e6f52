/* Connection counts per client address and in total (net/conn_limit.h): the
 * caps at and beyond their value, address grouping, and the table against a
 * reference model through many admits and releases. */
#include "testutil.h"

#include "net/conn_limit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>

static cs_conn_key v4(const char *text)
{
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_port = htons(1234)};
    assert_int_equal(inet_pton(AF_INET, text, &in.sin_addr), 1);
    cs_conn_key k;
    cs_conn_key_of((const struct sockaddr *)&in, &k);
    return k;
}

static cs_conn_key v6(const char *text)
{
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6, .sin6_port = htons(1234)};
    assert_int_equal(inet_pton(AF_INET6, text, &in6.sin6_addr), 1);
    cs_conn_key k;
    cs_conn_key_of((const struct sockaddr *)&in6, &k);
    return k;
}

static void per_address_cap(void **state)
{
    (void)state;
    cs_conn_table *t;
    cst_ok(cs_conn_table_new(&t));
    cs_conn_table_set_limits(t, 100, 3);
    cs_conn_key a = v4("10.0.0.1"), b = v4("10.0.0.2");
    for (int i = 0; i < 3; i++) /* at the cap */
        assert_int_equal(cs_conn_table_admit(t, &a), CS_CONN_ADMITTED);
    /* beyond it, again and again: nothing is counted */
    for (int i = 0; i < 5; i++)
        assert_int_equal(cs_conn_table_admit(t, &a), CS_CONN_OVER_ADDRESS);
    assert_int_equal(cs_conn_table_count(t, &a), 3);
    assert_int_equal(cs_conn_table_total(t), 3);
    /* another address is not affected */
    assert_int_equal(cs_conn_table_admit(t, &b), CS_CONN_ADMITTED);
    /* one closes: one more may come */
    cs_conn_table_release(t, &a);
    assert_int_equal(cs_conn_table_admit(t, &a), CS_CONN_ADMITTED);
    assert_int_equal(cs_conn_table_admit(t, &a), CS_CONN_OVER_ADDRESS);
    assert_int_equal(cs_conn_table_total(t), 4);
    cs_conn_table_free(t);
}

static void total_cap(void **state)
{
    (void)state;
    cs_conn_table *t;
    cst_ok(cs_conn_table_new(&t));
    cs_conn_table_set_limits(t, 5, 2);
    const char *addrs[] = {"10.0.0.1", "10.0.0.2", "10.0.0.3"};
    for (int i = 0; i < 5; i++) {
        cs_conn_key k = v4(addrs[i % 3]);
        assert_int_equal(cs_conn_table_admit(t, &k), CS_CONN_ADMITTED);
    }
    /* the total is checked first: an address under its cap is refused too */
    cs_conn_key k3 = v4("10.0.0.3"), k4 = v4("10.0.0.4");
    assert_int_equal(cs_conn_table_count(t, &k3), 1);
    assert_int_equal(cs_conn_table_admit(t, &k3), CS_CONN_OVER_TOTAL);
    assert_int_equal(cs_conn_table_admit(t, &k4), CS_CONN_OVER_TOTAL);
    assert_int_equal(cs_conn_table_count(t, &k4), 0);
    cs_conn_table_release(t, &k3);
    assert_int_equal(cs_conn_table_admit(t, &k4), CS_CONN_ADMITTED);
    assert_int_equal(cs_conn_table_total(t), 5);
    /* lowering the cap below what is open refuses until enough have closed */
    cs_conn_table_set_limits(t, 3, 2);
    assert_int_equal(cs_conn_table_admit(t, &k3), CS_CONN_OVER_TOTAL);
    /* no caps at all */
    cs_conn_table_set_limits(t, 0, 0);
    for (int i = 0; i < 10; i++)
        assert_int_equal(cs_conn_table_admit(t, &k4), CS_CONN_ADMITTED);
    assert_int_equal(cs_conn_table_count(t, &k4), 11);
    cs_conn_table_free(t);
}

static void address_grouping(void **state)
{
    (void)state;
    cs_conn_table *t;
    cst_ok(cs_conn_table_new(&t));
    cs_conn_table_set_limits(t, 100, 2);
    /* one IPv6 /64 is one client, whatever its interface identifiers */
    cs_conn_key a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2:ffff:ffff:ffff:ffff");
    cs_conn_key other = v6("2001:db8:1:3::1");
    assert_int_equal(cs_conn_table_admit(t, &a), CS_CONN_ADMITTED);
    assert_int_equal(cs_conn_table_admit(t, &b), CS_CONN_ADMITTED);
    assert_int_equal(cs_conn_table_admit(t, &a), CS_CONN_OVER_ADDRESS);
    assert_int_equal(cs_conn_table_admit(t, &other), CS_CONN_ADMITTED);
    /* an IPv4-mapped IPv6 address is its IPv4 address */
    cs_conn_key m = v6("::ffff:10.1.2.3"), p = v4("10.1.2.3");
    assert_int_equal(m.len, 4);
    assert_memory_equal(m.bytes, p.bytes, 4);
    assert_int_equal(cs_conn_table_admit(t, &m), CS_CONN_ADMITTED);
    assert_int_equal(cs_conn_table_admit(t, &p), CS_CONN_ADMITTED);
    assert_int_equal(cs_conn_table_admit(t, &p), CS_CONN_OVER_ADDRESS);
    /* the port never matters; IPv4 0.0.0.0 and the IPv6 prefix 0::/64 are different keys */
    cs_conn_key z4 = v4("0.0.0.0"), z6 = v6("::1");
    assert_int_equal(cs_conn_table_admit(t, &z4), CS_CONN_ADMITTED);
    assert_int_equal(cs_conn_table_count(t, &z6), 0);
    /* releasing what was never admitted changes nothing */
    cs_conn_key never = v4("192.0.2.1");
    size_t before = cs_conn_table_total(t);
    cs_conn_table_release(t, &never);
    assert_int_equal(cs_conn_table_total(t), before);
    cs_conn_table_free(t);
}

/* Many addresses come and go (the table grows, entries are removed by
 * shifting clusters back): every count stays what a plain array says. */
#define MODEL_ADDRS 3000
static void matches_a_model(void **state)
{
    (void)state;
    cs_conn_table *t;
    cst_ok(cs_conn_table_new(&t));
    cs_conn_table_set_limits(t, 20000, 7);
    static unsigned model[MODEL_ADDRS];
    memset(model, 0, sizeof model);
    size_t total = 0;
    srand(11);
    for (int step = 0; step < 400000; step++) {
        unsigned i = (unsigned)rand() % MODEL_ADDRS;
        struct sockaddr_in in = {.sin_family = AF_INET};
        in.sin_addr.s_addr = htonl(0x0a000000u + i * 977u); /* spread over 10/8 */
        cs_conn_key k;
        cs_conn_key_of((const struct sockaddr *)&in, &k);
        if (rand() % 100 < 55) {
            cs_conn_verdict v = cs_conn_table_admit(t, &k);
            cs_conn_verdict want = total >= 20000  ? CS_CONN_OVER_TOTAL
                                   : model[i] >= 7 ? CS_CONN_OVER_ADDRESS
                                                   : CS_CONN_ADMITTED;
            assert_int_equal(v, want);
            if (v == CS_CONN_ADMITTED) {
                model[i]++;
                total++;
            }
        } else if (model[i] > 0) {
            cs_conn_table_release(t, &k);
            model[i]--;
            total--;
        }
        if (step % 9973 == 0) {
            for (unsigned j = 0; j < MODEL_ADDRS; j++) {
                struct sockaddr_in q = {.sin_family = AF_INET};
                q.sin_addr.s_addr = htonl(0x0a000000u + j * 977u);
                cs_conn_key_of((const struct sockaddr *)&q, &k);
                assert_int_equal(cs_conn_table_count(t, &k), model[j]);
            }
        }
        assert_int_equal(cs_conn_table_total(t), total);
    }
    /* everyone leaves */
    for (unsigned j = 0; j < MODEL_ADDRS; j++) {
        struct sockaddr_in q = {.sin_family = AF_INET};
        q.sin_addr.s_addr = htonl(0x0a000000u + j * 977u);
        cs_conn_key k;
        cs_conn_key_of((const struct sockaddr *)&q, &k);
        while (model[j]-- > 0)
            cs_conn_table_release(t, &k);
        assert_int_equal(cs_conn_table_count(t, &k), 0);
    }
    assert_int_equal(cs_conn_table_total(t), 0);
    cs_conn_table_free(t);
}

/* Every allocation failing in turn: creation fails cleanly; a table that
 * cannot grow refuses (fails closed) and keeps its counts. */
static void out_of_memory(void **state)
{
    (void)state;
    cst_alloc_install();
    cs_conn_table_free(NULL);
    for (long fail_at = 0; fail_at < 2; fail_at++) {
        cs_conn_table *t = NULL;
        cst_alloc_fail_after(fail_at);
        cst_fails(cs_conn_table_new(&t), CONSORT_E_NOMEM);
        cst_alloc_fail_after(-1);
        assert_null(t);
    }
    cs_conn_table *t;
    cst_ok(cs_conn_table_new(&t));
    for (unsigned i = 0; i < 32; i++) { /* fills the first 64 slots to one half */
        struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(i + 1)};
        cs_conn_key k;
        cs_conn_key_of((const struct sockaddr *)&in, &k);
        assert_int_equal(cs_conn_table_admit(t, &k), CS_CONN_ADMITTED);
    }
    struct sockaddr_in in = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(1000)};
    cs_conn_key k;
    cs_conn_key_of((const struct sockaddr *)&in, &k);
    cst_alloc_fail_after(0);
    assert_int_equal(cs_conn_table_admit(t, &k), CS_CONN_NO_MEMORY);
    cst_alloc_fail_after(-1);
    assert_int_equal(cs_conn_table_total(t), 32);
    assert_int_equal(cs_conn_table_admit(t, &k), CS_CONN_ADMITTED);
    assert_int_equal(cs_conn_table_total(t), 33);
    cs_conn_table_free(t);
    assert_int_equal(cst_alloc_live(), 0);
    cst_alloc_uninstall();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(per_address_cap),  cmocka_unit_test(total_cap),
        cmocka_unit_test(address_grouping), cmocka_unit_test(matches_a_model),
        cmocka_unit_test(out_of_memory),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
