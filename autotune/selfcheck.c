/* autotune/selfcheck.c — one op, one small random problem, checked against the
 * reference: the tuner's correctness gate, offered for bring-up (`kiln demo`). */
#include <stdio.h>

#include "autotune/tune_internal.h"

kiln_status kiln_selfcheck(kiln_context *ctx, kiln_op op, kiln_dtype fmt, char *report, size_t cap)
{
    if (!ctx || !report || !cap) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_selfcheck: NULL argument");
    report[0] = '\0';
    kiln_tune_shape s = {.op = op, .fmt = fmt, .act = KILN_F32};
    switch (op) {
    case KILN_OP_MATMUL: {
        const kiln_dtype_info *info = kiln_dtype_get(fmt);
        if (!info || !info->is_weight_format)
            return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_selfcheck: %d is not a weight format", (int)fmt);
        s.m = 67, s.n = 3, s.k = 2 * (info->block_elems > 32 ? info->block_elems : 128);
        break;
    }
    case KILN_OP_FLASH_ATTN:
        s.act = fmt, s.causal = 1, s.n_q = 37, s.n_kv = 133, s.n_head = 4, s.n_kv_head = 2, s.head_dim = 64;
        break;
    case KILN_OP_PAGED_ATTN:
        s.n_q = 2, s.n_kv = 150, s.n_head = 4, s.n_kv_head = 2, s.head_dim = 64, s.block_size = 16;
        break;
    case KILN_OP_NORM:
        s.fmt = KILN_F32, s.flags = KILN_SPEC_NORM_RESIDUAL, s.n = 5, s.k = 300;
        break;
    default:
        return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_selfcheck: bad op %d", (int)op);
    }
    char shape[96];
    kiln_tune_shape_text(&s, shape, sizeof shape);
    kiln_tune_problem *p;
    kiln_status st = kiln_tune_problem_create(ctx, &s, &p);
    if (st != KILN_OK) {
        snprintf(report, cap, "%s %s: setup failed: %s", kiln_op_name(op), shape, kiln_last_error());
        return st;
    }
    kiln_spec spec;
    const void *params = kiln_tune_problem_params(p, 0);
    st = kiln_kernel_choose(ctx, op, params, &spec);
    char text[KILN_SPEC_TEXT_MAX] = "?";
    if (st == KILN_OK) {
        kiln_spec_to_text(&spec, text, sizeof text);
        st = kiln_tune_problem_poison(p, 0);
    }
    if (st == KILN_OK) st = kiln_kernel_run(ctx, &spec, params);
    if (st == KILN_OK) st = kiln_tune_problem_check(p, 0, &spec);
    if (st == KILN_OK) snprintf(report, cap, "%s %s: ok (%s)", kiln_op_name(op), shape, text);
    else snprintf(report, cap, "%s %s: FAILED: %s", kiln_op_name(op), shape, kiln_last_error());
    kiln_tune_problem_free(p);
    return st;
}
