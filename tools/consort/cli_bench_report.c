/* The report of `consort bench` (cli_bench_report.h). */
#include "cli_bench_report.h"

#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

static double ms(uint64_t us)
{
    return (double)us / 1000.0;
}

static bool all_2xx(const cs_cli_load_counts *k)
{
    return k->transport == 0 && k->answered == k->status[2];
}

/* 2xx answers per second of the measured window. */
static double throughput(const cs_cli_load_result *r)
{
    return r->seconds > 0 ? (double)r->measured.status[2] / r->seconds : 0;
}

static const double QUANTILES[] = {0.50, 0.90, 0.99, 0.999};
static const char *const QUANTILE_NAMES[] = {"p50", "p90", "p99", "p99.9"};

static void print_text(const cs_cli_bench_setup *a, const cs_cli_load_result *r)
{
    const cs_cli_load_counts *m = &r->measured;
    printf("%s %s: %zu node%s, %u connections, ", a->method, a->path, a->node_count,
           a->node_count == 1 ? "" : "s", a->connections);
    if (a->rate > 0)
        printf("open loop at %g requests/s", a->rate);
    else
        printf("closed loop");
    printf(", %.2f s measured after %g s of warm-up\n", r->seconds, a->warmup);
    printf("requests:    %" PRIu64 " sent, %" PRIu64 " answered (2xx %" PRIu64 ", 3xx %" PRIu64
           ", 4xx %" PRIu64 ", 5xx %" PRIu64 ", other %" PRIu64 "), %" PRIu64 " transport errors\n",
           m->sent, m->answered, m->status[2], m->status[3], m->status[4], m->status[5],
           m->status[0] + m->status[1], m->transport);
    if (a->rate > 0 && r->unsent > 0)
        printf("not sent:    %" PRIu64 " requests due in the window found every connection "
               "full: the service did not keep up with --rate\n",
               r->unsent);
    printf("throughput:  %.1f requests/s (2xx answers)\n", throughput(r));
    printf("latency ms: ");
    for (size_t i = 0; i < CS_ARRAY_LEN(QUANTILES); i++)
        printf(" %s %.3f", QUANTILE_NAMES[i], ms(cs_hist_quantile(&r->latency, QUANTILES[i])));
    printf("  max %.3f\n", ms(r->latency.max_us));
    printf("warm-up:     %" PRIu64 " sent, %" PRIu64 " 2xx (not in the figures above)\n",
           r->warmup.sent, r->warmup.status[2]);
    if (r->next_n > a->first)
        printf("{n}:         %" PRIu64 " to %" PRIu64 "\n", a->first, r->next_n - 1);
}

static json_t *counts_json(const cs_cli_load_counts *k)
{
    return json_pack("{s:I, s:I, s:{s:I, s:I, s:I, s:I, s:I, s:I}, s:I}", "sent",
                     (json_int_t)k->sent, "answered", (json_int_t)k->answered, "status", "1xx",
                     (json_int_t)k->status[1], "2xx", (json_int_t)k->status[2], "3xx",
                     (json_int_t)k->status[3], "4xx", (json_int_t)k->status[4], "5xx",
                     (json_int_t)k->status[5], "other", (json_int_t)k->status[0],
                     "transport_errors", (json_int_t)k->transport);
}

static consort_err print_json(const cs_cli_bench_setup *a, const cs_cli_load_result *r, bool ok)
{
    json_t *doc = counts_json(&r->measured);
    json_t *nodes = json_array(), *lat = json_object();
    for (size_t i = 0; i < a->node_count; i++)
        json_array_append_new(nodes, json_string(a->nodes[i]));
    for (size_t i = 0; i < CS_ARRAY_LEN(QUANTILES); i++)
        json_object_set_new(lat, QUANTILE_NAMES[i],
                            json_real(ms(cs_hist_quantile(&r->latency, QUANTILES[i]))));
    json_object_set_new(lat, "max", json_real(ms(r->latency.max_us)));
    json_t *more = json_pack(
        "{s:s, s:s, s:o, s:I, s:s, s:o, s:f, s:f, s:I, s:f, s:o, s:o, s:{s:I, s:I}, s:I, s:o, "
        "s:b}",
        "method", a->method, "path", a->path, "nodes", nodes, "connections",
        (json_int_t)a->connections, "mode", a->rate > 0 ? "open" : "closed", "rate",
        a->rate > 0 ? json_real(a->rate) : json_null(), "warmup_seconds", a->warmup, "seconds",
        r->seconds, "unsent", (json_int_t)r->unsent, "throughput", throughput(r), "latency_ms", lat,
        "warmup", counts_json(&r->warmup), "n", "first", (json_int_t)a->first, "next",
        (json_int_t)r->next_n, "connections_lost", (json_int_t)r->conns_lost, "first_error",
        r->first_error[0] != '\0' ? json_string(r->first_error) : json_null(), "ok", ok);
    consort_err rc = CONSORT_OK;
    if (doc == NULL || more == NULL || json_object_update(doc, more) != 0)
        rc = cs_fail(CONSORT_E_NOMEM, "building the JSON report");
    char *text = rc == CONSORT_OK ? json_dumps(doc, JSON_COMPACT) : NULL;
    if (rc == CONSORT_OK && text == NULL)
        rc = cs_fail(CONSORT_E_NOMEM, "printing the JSON report");
    if (text != NULL)
        printf("%s\n", text);
    free(text);
    json_decref(more);
    json_decref(doc);
    return rc;
}

int cs_cli_bench_report(const cs_cli_verb *verb, const cs_cli_bench_setup *a,
                        const cs_cli_load_result *r)
{
    if (r->not_found) {
        fprintf(stderr,
                "consort %s: %s %s answered 404 before any 2xx (%s): is it an endpoint of the "
                "application? Give the application's endpoint with --method, --path and "
                "--body ({n} stands for a counter)\n",
                verb->name, a->method, a->path, r->first_error);
        return CS_EXIT_REJECTED;
    }
    bool ok = r->measured.answered > 0 && all_2xx(&r->measured) && all_2xx(&r->warmup);
    if (a->json) {
        consort_err rc = print_json(a, r, ok);
        if (rc != CONSORT_OK)
            return cs_cli_fail(verb, rc);
    } else {
        print_text(a, r);
    }
    fflush(stdout);
    if (ok)
        return CS_EXIT_OK;
    if (r->first_error[0] != '\0')
        fprintf(stderr, "consort %s: not every answer was 2xx; the first error: %s\n", verb->name,
                r->first_error);
    else
        fprintf(stderr, "consort %s: no answer in the measured time\n", verb->name);
    return CS_EXIT_REJECTED;
}
