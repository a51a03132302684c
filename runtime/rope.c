/* runtime/rope.c — rotary position embedding on the host.
 *
 * Pairs (x[2i], x[2i+1]) of each head turn by pos/scale * theta^(-2i/rope_dim),
 * computed in float exactly as llama2.c's run.c does (its reference ids hinge
 * on a 0.003 logit margin). This runs on the host for every backend; on GPU
 * backends Q and K make a round trip through host memory per layer, which a
 * RoPE op in the kernel library would remove. */
#include <math.h>

#include "runtime/session.h"

void kiln_rope_freqs(float *freq, int rope_dim, float theta)
{
    for (int i = 0; i < rope_dim; i += 2) freq[i / 2] = 1.0f / powf(theta, (float)i / (float)rope_dim);
}

#define ROPE_PAIRS_AT_ONCE 128

void kiln_rope_apply(float *v, int n, int n_heads, int head_dim, int rope_dim, int pos0, float scale,
                     const float *freq)
{
    /* Angles once per token and pair, then every head in memory order. */
    float cs[ROPE_PAIRS_AT_ONCE], sn[ROPE_PAIRS_AT_ONCE];
    int pairs = rope_dim / 2;
    for (int t = 0; t < n; t++) {
        float pos = (float)(pos0 + t) / scale;
        for (int i0 = 0; i0 < pairs; i0 += ROPE_PAIRS_AT_ONCE) {
            int m = pairs - i0 < ROPE_PAIRS_AT_ONCE ? pairs - i0 : ROPE_PAIRS_AT_ONCE;
            for (int i = 0; i < m; i++) {
                float a = pos * freq[i0 + i];
                cs[i] = cosf(a);
                sn[i] = sinf(a);
            }
            for (int h = 0; h < n_heads; h++) {
                float *p = v + ((size_t)t * n_heads + h) * head_dim + 2 * i0;
                for (int i = 0; i < m; i++) {
                    float x0 = p[2 * i], x1 = p[2 * i + 1];
                    p[2 * i] = x0 * cs[i] - x1 * sn[i];
                    p[2 * i + 1] = x0 * sn[i] + x1 * cs[i];
                }
            }
        }
    }
}
