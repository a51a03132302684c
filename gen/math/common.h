/* gen/math/common.h — math every op template shares, written once in the kiln
 * dialect (gen/math/dialect_*.h) so it compiles as C, CUDA and GLSL.
 *
 * Pure functions of values: no pointers, no out-parameters (GLSL has neither
 * in the form C has them), results by return value. The epilogue reads the
 * KILN_EPI_* macros the generator defines, so a spec without an epilogue
 * compiles to the bare accumulator. */

/* SiLU (swish): x * sigmoid(x). For very negative x, exp(-x) overflows to inf
 * and the quotient goes to -0, which is the right limit. */
KILN_FN kiln_f32 kiln_silu(kiln_f32 x)
{
    return x / (1.0f + KILN_EXP(-x));
}

/* GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))),
 * written as x * sigmoid(2 u) (the same function: 0.5 (1 + tanh u) =
 * sigmoid(2u)), so it needs only exp and keeps SiLU's limits: -0 for very
 * negative x (exp overflows to inf), x for large x. */
KILN_FN kiln_f32 kiln_gelu_tanh(kiln_f32 x)
{
    kiln_f32 u = 0.7978845608028654f * (x + 0.044715f * x * x * x);
    return x / (1.0f + KILN_EXP(-2.0f * u));
}

/* The matmul epilogue for one output element: the rows of gen/epilogues.def
 * in their stage order (kiln.h documents the same):
 *   BIAS      y = acc + bias (and acc_up + bias under SWIGLU)
 *   SWIGLU    y = silu(y) * (acc_up + bias)       GELU   y = gelu_tanh(y)
 *   SCALE     y = y * scale
 *   RESIDUAL  y = y + residual
 * flags are KILN_EPI_BIT_* (emitted from the table): the GPU templates pass
 * the spec's constant KILN_EPI_FLAGS (through kiln_epilogue below), so the
 * compiler drops what is off; the cpu passes its run-time flags. Operands of
 * absent flags are ignored, so callers may pass 0 for them. */
KILN_FN kiln_f32 kiln_epilogue_apply(kiln_u32 flags, kiln_f32 acc, kiln_f32 acc_up, kiln_f32 bias, kiln_f32 scale,
                                     kiln_f32 residual)
{
    /* no "+ 0.0f" without BIAS: it is not an identity (-0 + 0 = +0), so a
     * compiler would have to keep it */
    kiln_f32 y = acc;
    kiln_f32 up = acc_up;
    if ((flags & KILN_EPI_BIT_BIAS) != 0u) {
        y = y + bias;
        up = up + bias;
    }
    if ((flags & KILN_EPI_BIT_SWIGLU) != 0u) y = kiln_silu(y) * up;
    if ((flags & KILN_EPI_BIT_GELU) != 0u) y = kiln_gelu_tanh(y);
    if ((flags & KILN_EPI_BIT_SCALE) != 0u) y = y * scale;
    if ((flags & KILN_EPI_BIT_RESIDUAL) != 0u) y = y + residual;
    return y;
}
#define kiln_epilogue(acc, acc_up, bias, scale, residual) \
    kiln_epilogue_apply(KILN_EPI_FLAGS, acc, acc_up, bias, scale, residual)

/* Online softmax (flash attention): a running max m and a running sum l of
 * exp(score - m) over the keys seen so far. For each new score s:
 *   m_new = kiln_softmax_max(m, s)
 *   c     = kiln_softmax_rescale(m, m_new)     multiply l and the output accumulator by c
 *   p     = kiln_softmax_weight(s, m_new)      weight of this key's value row
 *   l     = l * c + p
 * Start with m = -inf (or the lowest float) and l = 0; the result is acc / l.
 * Masked keys are skipped, never passed as -inf scores. Merging two partial
 * states (split-KV) is the same step: scale each by kiln_softmax_rescale(m_part, m). */
KILN_FN kiln_f32 kiln_softmax_max(kiln_f32 m, kiln_f32 s)
{
    return KILN_MAXF(m, s);
}

/* exp(m_old - m_new); 1 when the max did not move, which also covers the
 * start (-inf, -inf) where the difference would be NaN. */
KILN_FN kiln_f32 kiln_softmax_rescale(kiln_f32 m_old, kiln_f32 m_new)
{
    return m_old == m_new ? 1.0f : KILN_EXP(m_old - m_new);
}

KILN_FN kiln_f32 kiln_softmax_weight(kiln_f32 s, kiln_f32 m)
{
    return KILN_EXP(s - m);
}
