/* tests/support/contexts.c — which backends (and CPU ISAs) the op tests run on.
 * See harness.h for KILN_TEST_BACKENDS / KILN_REQUIRE_BACKENDS. */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cpu/cpu_context.h"
#include "support/harness.h"

static const char *const cpu_isas[] = {"generic", "avx2", "avx512"};
static const kiln_isa cpu_isa_ids[] = {KILN_ISA_GENERIC, KILN_ISA_AVX2, KILN_ISA_AVX512};

/* Whether word appears in the comma-separated list (NULL list: no). */
static int list_has(const char *list, const char *word)
{
    if (!list) return 0;
    size_t n = strlen(word);
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        while (len && *p == ' ') p++, len--;
        while (len && p[len - 1] == ' ') len--;
        if (len == n && strncmp(p, word, n) == 0) return 1;
        if (!end) break;
        p = end + 1;
    }
    return 0;
}

static int required(const char *backend)
{
    return list_has(getenv("KILN_REQUIRE_BACKENDS"), backend);
}

static void add(kt_ctx_list *list, kiln_context *ctx, kiln_backend b, kiln_isa isa, const char *label)
{
    cr_assert_lt(list->count, KT_MAX_CONTEXTS, "harness: more than %d test contexts", KT_MAX_CONTEXTS);
    kt_ctx *c = &list->items[list->count++];
    c->ctx = ctx;
    c->backend = b;
    c->isa = isa;
    snprintf(c->label, sizeof c->label, "%s", label);
}

/* One cpu context per ISA asked for (want: NULL = $KILN_CPU_ISA, else all). An
 * ISA the machine lacks is rejected by kiln_context_create as unsupported: skip it. */
static void open_cpu(kt_ctx_list *list, const char *only_isa)
{
    int opened = 0;
    const char *env_isa = getenv("KILN_CPU_ISA");
    if (!only_isa && env_isa && *env_isa) {
        only_isa = env_isa;
        int known = 0;
        for (size_t i = 0; i < sizeof cpu_isas / sizeof cpu_isas[0]; i++) known |= !strcmp(env_isa, cpu_isas[i]);
        if (!known) cr_assert_fail("harness: KILN_CPU_ISA='%s' is not generic, avx2 or avx512", env_isa);
    }
    for (size_t i = 0; i < sizeof cpu_isas / sizeof cpu_isas[0]; i++) {
        if (only_isa && strcmp(only_isa, cpu_isas[i]) != 0) continue;
        kiln_context_options o = kiln_context_options_default();
        o.cpu_isa = cpu_isas[i];
        o.use_tuning = 0; /* the tests choose from heuristics, not from whatever a local tune cache says */
        kiln_context *ctx = NULL;
        kiln_status st = kiln_context_create("cpu", &o, &ctx);
        char label[32];
        snprintf(label, sizeof label, "cpu-%s", cpu_isas[i]);
        if (st == KILN_OK) {
            /* every op splits into tasks, however small: the split is what is under test */
            ((kiln_cpu_context *)ctx->impl)->min_task_work = 1;
            add(list, ctx, KILN_BACKEND_CPU, cpu_isa_ids[i], label);
            opened++;
        } else if (st == KILN_ERR_UNSUPPORTED || st == KILN_ERR_UNAVAILABLE) {
            if (only_isa) cr_log_warn("harness: %s not supported here (%s)", label, kiln_last_error());
        } else {
            cr_assert_fail("harness: kiln_context_create(cpu, isa=%s) failed: %s: %s", cpu_isas[i],
                           kiln_status_name(st), kiln_last_error());
        }
    }
    if (!opened && required("cpu"))
        cr_assert_fail("harness: KILN_REQUIRE_BACKENDS has cpu but no cpu context could be opened (%s)", kiln_last_error());
}

static void open_gpu(kt_ctx_list *list, kiln_backend b, int explicit_ask)
{
    const char *name = kiln_backend_name(b);
    if (!kiln_backend_available(b)) {
        if (required(name)) cr_assert_fail("harness: required backend %s unavailable: %s", name, kiln_last_error());
        if (explicit_ask) cr_log_warn("harness: backend %s unavailable, skipped: %s", name, kiln_last_error());
        return;
    }
    kiln_context_options o = kiln_context_options_default();
    o.use_tuning = 0;
    kiln_context *ctx = NULL;
    kiln_status st = kiln_context_create(name, &o, &ctx);
    if (st != KILN_OK) {
        if (required(name) || st != KILN_ERR_UNAVAILABLE)
            cr_assert_fail("harness: kiln_context_create(%s) failed: %s: %s", name, kiln_status_name(st), kiln_last_error());
        return;
    }
    add(list, ctx, b, KILN_ISA_NONE, name);
}

/* The CUDA emulator (device cuda-emu:0): the cuda manifest and heuristics on
 * the CPU. Its label is "cuda-emu"; its backend is cuda (the same specs). */
static void open_emu(kt_ctx_list *list, int explicit_ask)
{
    kiln_context_options o = kiln_context_options_default();
    o.use_tuning = 0;
    kiln_context *ctx = NULL;
    kiln_status st = kiln_context_create("cuda-emu", &o, &ctx);
    if (st != KILN_OK) {
        if (required("cuda-emu") || st != KILN_ERR_UNAVAILABLE)
            cr_assert_fail("harness: kiln_context_create(cuda-emu) failed: %s: %s", kiln_status_name(st), kiln_last_error());
        if (explicit_ask) cr_log_warn("harness: cuda-emu unavailable, skipped: %s", kiln_last_error());
        return;
    }
    add(list, ctx, KILN_BACKEND_CUDA, KILN_ISA_NONE, "cuda-emu");
}

void kt_contexts_open(kt_ctx_list *list)
{
    memset(list, 0, sizeof *list);
    const char *want = getenv("KILN_TEST_BACKENDS");
    if (!want || !*want) {
        open_cpu(list, NULL);
        open_gpu(list, KILN_BACKEND_CUDA, 0);
        open_gpu(list, KILN_BACKEND_VULKAN, 0); /* also a software device (llvmpipe): CI's only Vulkan */
        open_emu(list, 0);
    } else {
        if (list_has(want, "cpu")) open_cpu(list, NULL);
        for (size_t i = 0; i < sizeof cpu_isas / sizeof cpu_isas[0]; i++) {
            char tok[32];
            snprintf(tok, sizeof tok, "cpu-%s", cpu_isas[i]);
            if (list_has(want, tok) && !list_has(want, "cpu")) open_cpu(list, cpu_isas[i]);
        }
        if (list_has(want, "cuda")) open_gpu(list, KILN_BACKEND_CUDA, 1);
        if (list_has(want, "vulkan")) open_gpu(list, KILN_BACKEND_VULKAN, 1);
        if (list_has(want, "cuda-emu")) open_emu(list, 1);
    }
    if (required("cuda-emu") && want && *want && !list_has(want, "cuda-emu")) {
        kiln_context *emu = NULL;
        if (kiln_context_create("cuda-emu", NULL, &emu) != KILN_OK)
            cr_assert_fail("harness: required backend cuda-emu unavailable: %s", kiln_last_error());
        kiln_context_destroy(emu);
    }
    /* A required backend that was not even asked for still has to be there. */
    if (required("cuda") && (!want || !list_has(want, "cuda")) && !kiln_backend_available(KILN_BACKEND_CUDA))
        cr_assert_fail("harness: required backend cuda unavailable: %s", kiln_last_error());
    if (required("vulkan") && (!want || !list_has(want, "vulkan")) && !kiln_backend_available(KILN_BACKEND_VULKAN))
        cr_assert_fail("harness: required backend vulkan unavailable: %s", kiln_last_error());
    if (list->count == 0) cr_skip_test("no backend under test is available (KILN_TEST_BACKENDS=%s)", want ? want : "");
}

void kt_contexts_close(kt_ctx_list *list)
{
    for (int i = 0; i < list->count; i++) kiln_context_destroy(list->items[i].ctx);
    list->count = 0;
}

void kt_for_each_manifest_spec(kiln_op op, kt_spec_fn fn)
{
    kt_ctx_list L;
    kt_contexts_open(&L);
    for (int ci = 0; ci < L.count; ci++) {
        const kt_ctx *c = &L.items[ci];
        int ran = 0;
        for (size_t i = 0, count = kiln_manifest_count(); i < count; i++) {
            const kiln_spec *s = kiln_manifest_get(i);
            if (s->op != op || s->backend != c->backend) continue;
            if (c->backend == KILN_BACKEND_CPU && s->isa != c->isa) continue;
            if (kiln_kernel_can_implement(c->ctx, s) != KILN_OK) continue;
            fn(c, s, ran++);
        }
        cr_log_info("%s: %d %s manifest specs run", c->label, ran, kiln_op_name(op));
        cr_expect_gt(ran, 0, "%s has no %s manifest instance it can run", c->label, kiln_op_name(op));
    }
    kt_contexts_close(&L);
}
