/* tests/test_chooser.c — the core chooses through the context's chooser hook:
 * opened with the context, consulted once per kind of call (memoized), closed
 * with the context, never touched when use_tuning is 0; its answer is what
 * kiln_kernel_choose reports, and a refusal falls back to the heuristic. */
#include <criterion/criterion.h>
#include <string.h>

#include "kiln/kernel.h"
#include "kiln/kiln.h"

typedef struct counts {
    int opened, closed, chosen;
    int refuse;            /* 1: choose() declines */
} counts;

static counts g; /* the chooser's state points here: one test at a time */

static kiln_status c_open(kiln_context *ctx, void **state)
{
    (void)ctx;
    g.opened++;
    *state = &g;
    return KILN_OK;
}

static void c_close(void *state) { ((counts *)state)->closed++; }

static kiln_status c_choose(void *state, kiln_context *ctx, kiln_op op, const void *params, kiln_spec *out)
{
    (void)ctx;
    (void)params;
    counts *c = state;
    c->chosen++;
    if (c->refuse) return KILN_ERR_UNAVAILABLE;
    /* the manifest's first cpu matmul of this build, whatever its tiles: recognisable */
    for (size_t i = 0, n = kiln_manifest_count(); i < n; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        if (s->op == op && s->backend == KILN_BACKEND_CPU && s->fmt == KILN_Q8_0) {
            *out = *s;
            out->tile.stages = 7; /* a mark no heuristic sets */
            return KILN_OK;
        }
    }
    return KILN_ERR_UNAVAILABLE;
}

static const kiln_chooser counting = {
    .size = sizeof(kiln_chooser), .name = "counting", .open = c_open, .close = c_close, .choose = c_choose,
};

static kiln_context *make(int use_tuning)
{
    kiln_context_options o = kiln_context_options_default();
    o.use_tuning = use_tuning;
    o.chooser = &counting;
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cpu", &o, &ctx), KILN_OK, "%s", kiln_last_error());
    return ctx;
}

static kiln_buffer *bufs[3];

/* y[n][32] = x[n][64] W[32][64]^T over buffers big enough for n <= 128 */
static kiln_matmul_params params(kiln_context *ctx, int64_t n)
{
    for (int i = 0; i < 3; i++) {
        if (bufs[i]) continue;
        cr_assert_eq(kiln_buffer_alloc(ctx, 128 * 64 * 4, &bufs[i]), KILN_OK);
    }
    kiln_matmul_params p;
    memset(&p, 0, sizeof p);
    p.x = kiln_tensor_make(bufs[0], 0, KILN_F32, 2, (int64_t[]){n, 64});
    p.w = kiln_tensor_make(bufs[1], 0, KILN_Q8_0, 2, (int64_t[]){32, 64});
    p.y = kiln_tensor_make(bufs[2], 0, KILN_F32, 2, (int64_t[]){n, 32});
    return p;
}

static void destroy(kiln_context *ctx)
{
    for (int i = 0; i < 3; i++) kiln_buffer_free(bufs[i]), bufs[i] = NULL;
    kiln_context_destroy(ctx);
}

Test(chooser, consulted_once_per_kind_of_call_and_closed_with_the_context)
{
    memset(&g, 0, sizeof g);
    kiln_context *ctx = make(1);
    cr_assert_eq(g.opened, 1);
    kiln_matmul_params p = params(ctx, 1);
    kiln_spec s;
    for (int i = 0; i < 3; i++) {
        cr_assert_eq(kiln_kernel_choose(ctx, KILN_OP_MATMUL, &p, &s), KILN_OK, "%s", kiln_last_error());
        cr_assert_eq(s.tile.stages, 7, "the chooser's spec is the one chosen");
    }
    cr_assert_eq(g.chosen, 1, "memoized: asked once for three identical calls, not %d times", g.chosen);
    kiln_matmul_params q = params(ctx, 100); /* another size band: asked again */
    cr_assert_eq(kiln_kernel_choose(ctx, KILN_OP_MATMUL, &q, &s), KILN_OK);
    cr_assert_eq(g.chosen, 2);
    kiln_kernel_choices_forget(ctx);
    cr_assert_eq(kiln_kernel_choose(ctx, KILN_OP_MATMUL, &p, &s), KILN_OK);
    cr_assert_eq(g.chosen, 3, "forgotten choices are asked again");
    cr_assert_eq(kiln_context_chooser_state(ctx, &counting), &g);
    destroy(ctx);
    cr_assert_eq(g.closed, 1);
}

Test(chooser, a_refusal_falls_back_to_the_heuristic)
{
    memset(&g, 0, sizeof g);
    g.refuse = 1;
    kiln_context *ctx = make(1);
    kiln_matmul_params p = params(ctx, 1);
    kiln_spec s, h;
    cr_assert_eq(kiln_kernel_choose(ctx, KILN_OP_MATMUL, &p, &s), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(g.chosen, 1);
    destroy(ctx);

    memset(&g, 0, sizeof g);
    ctx = make(0);
    p = params(ctx, 1);
    cr_assert_eq(kiln_kernel_choose(ctx, KILN_OP_MATMUL, &p, &h), KILN_OK);
    cr_assert(!memcmp(&s, &h, sizeof s), "the refused call got the heuristic's spec");
    destroy(ctx);
}

Test(chooser, untouched_when_tuning_is_off)
{
    memset(&g, 0, sizeof g);
    kiln_context *ctx = make(0);
    kiln_matmul_params p = params(ctx, 1);
    kiln_spec s;
    cr_assert_eq(kiln_kernel_choose(ctx, KILN_OP_MATMUL, &p, &s), KILN_OK);
    cr_assert_neq(s.tile.stages, 7);
    cr_assert_null(kiln_context_chooser_state(ctx, &counting));
    destroy(ctx);
    cr_assert_eq(g.opened + g.chosen + g.closed, 0, "opened %d chosen %d closed %d", g.opened, g.chosen, g.closed);
}

Test(chooser, an_incomplete_chooser_is_refused)
{
    kiln_chooser bad = counting;
    bad.size = 8;
    kiln_context_options o = kiln_context_options_default();
    o.chooser = &bad;
    kiln_context *ctx = NULL;
    cr_assert_eq(kiln_context_create("cpu", &o, &ctx), KILN_ERR_INVALID_ARG);
    cr_assert_null(ctx);
    cr_assert(strstr(kiln_last_error(), "chooser"), "%s", kiln_last_error());
}
