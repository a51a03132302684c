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

/* The matmul epilogue for one output element, in the order kiln.h defines:
 *   SWIGLU:   silu(acc + bias) * (acc_up + bias)   (bias only with BIAS)
 *   BIAS:     acc + bias
 *   RESIDUAL: ... + residual
 * acc is x . w, acc_up is x . w_up (ignored without SWIGLU); bias and residual
 * are ignored without their flags, so callers may pass 0 for absent operands. */
KILN_FN kiln_f32 kiln_epilogue(kiln_f32 acc, kiln_f32 acc_up, kiln_f32 bias, kiln_f32 residual)
{
    /* Constant conditions rather than #if, so every parameter is used in every
     * variant (no unused-parameter warnings; GLSL has no (void) casts). */
    kiln_f32 b = KILN_EPI_BIAS != 0 ? bias : 0.0f;
    kiln_f32 y = acc + b;
    if (KILN_EPI_SWIGLU != 0) y = kiln_silu(y) * (acc_up + b);
    if (KILN_EPI_RESIDUAL != 0) y = y + residual;
    return y;
}

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
