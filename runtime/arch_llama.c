/* runtime/arch_llama.c — the "llama" architecture in GGUF as llama.cpp writes
 * it: tensor names of each role and the llama.* metadata.
 *
 * Note on RoPE: llama.cpp's converters store Q and K rows so that RoPE rotates
 * consecutive pairs (x[2i], x[2i+1]) of each head (ggml rope mode 0), the same
 * layout llama2.c checkpoints use, so both load without permuting rows. */
#include <string.h>

#include "kiln/error.h"
#include "runtime/model.h"

static kiln_status get_int(const kiln_gguf *g, const char *key, int32_t *out, int required)
{
    int64_t v;
    if (kiln_gguf_find_key(g, key) < 0) {
        if (!required) return KILN_OK;
        return kiln_fail(KILN_ERR_FORMAT, "GGUF metadata %s is missing", key);
    }
    if (kiln_gguf_get_i64(g, key, &v) != KILN_OK || v <= 0 || v > INT32_MAX)
        return kiln_fail(KILN_ERR_FORMAT, "GGUF metadata %s must be a positive integer", key);
    *out = (int32_t)v;
    return KILN_OK;
}

static kiln_status get_float(const kiln_gguf *g, const char *key, float *out)
{
    double v;
    if (kiln_gguf_find_key(g, key) < 0) return KILN_OK;
    if (kiln_gguf_get_f64(g, key, &v) != KILN_OK)
        return kiln_fail(KILN_ERR_FORMAT, "GGUF metadata %s must be a number", key);
    *out = (float)v;
    return KILN_OK;
}

static kiln_status llama_read_config(const kiln_gguf *g, kiln_model_config *c)
{
    kiln_status st;
    if ((st = get_int(g, "llama.embedding_length", &c->dim, 1)) ||
        (st = get_int(g, "llama.block_count", &c->n_layers, 1)) ||
        (st = get_int(g, "llama.attention.head_count", &c->n_heads, 1)) ||
        (st = get_int(g, "llama.feed_forward_length", &c->hidden_dim, 1)))
        return st;
    c->n_kv_heads = c->n_heads;
    c->ctx_len = 2048;
    c->rope_theta = 10000.0f;
    c->rope_scale = 1.0f;
    c->norm_eps = 1e-5f;
    if ((st = get_int(g, "llama.attention.head_count_kv", &c->n_kv_heads, 0)) ||
        (st = get_int(g, "llama.context_length", &c->ctx_len, 0)) ||
        (st = get_float(g, "llama.rope.freq_base", &c->rope_theta)) ||
        (st = get_float(g, "llama.attention.layer_norm_rms_epsilon", &c->norm_eps)))
        return st;
    if (c->dim % c->n_heads)
        return kiln_fail(KILN_ERR_FORMAT, "llama.embedding_length %d is not a multiple of head_count %d", c->dim, c->n_heads);
    c->head_dim = c->dim / c->n_heads;
    c->rope_dim = c->head_dim;
    if ((st = get_int(g, "llama.rope.dimension_count", &c->rope_dim, 0))) return st;
    /* Rope scaling: linear only (positions divided by the factor). */
    kiln_gguf_str type = {0};
    if (kiln_gguf_find_key(g, "llama.rope.scaling.type") >= 0 &&
        kiln_gguf_get_str(g, "llama.rope.scaling.type", &type) == KILN_OK && type.len &&
        !(type.len == 4 && !memcmp(type.ptr, "none", 4))) {
        if (!(type.len == 6 && !memcmp(type.ptr, "linear", 6)))
            return kiln_fail(KILN_ERR_UNSUPPORTED, "rope scaling '%.*s' is not supported (kiln does linear)",
                             (int)(type.len > 32 ? 32 : type.len), type.ptr);
        if ((st = get_float(g, "llama.rope.scaling.factor", &c->rope_scale))) return st;
    } else if (kiln_gguf_find_key(g, "llama.rope.scale_linear") >= 0) {
        if ((st = get_float(g, "llama.rope.scale_linear", &c->rope_scale))) return st;
    }
    if (!(c->rope_scale > 0)) c->rope_scale = 1.0f;
    return KILN_OK;
}

const kiln_arch kiln_arch_llama = {
    .name = "llama",
    .tensor_names = {
        [KILN_ROLE_TOKEN_EMBD] = "token_embd.weight",
        [KILN_ROLE_OUTPUT_NORM] = "output_norm.weight",
        [KILN_ROLE_OUTPUT] = "output.weight",
        [KILN_ROLE_ATTN_NORM] = "blk.%d.attn_norm.weight",
        [KILN_ROLE_ATTN_Q] = "blk.%d.attn_q.weight",
        [KILN_ROLE_ATTN_K] = "blk.%d.attn_k.weight",
        [KILN_ROLE_ATTN_V] = "blk.%d.attn_v.weight",
        [KILN_ROLE_ATTN_OUT] = "blk.%d.attn_output.weight",
        [KILN_ROLE_FFN_NORM] = "blk.%d.ffn_norm.weight",
        [KILN_ROLE_FFN_GATE] = "blk.%d.ffn_gate.weight",
        [KILN_ROLE_FFN_UP] = "blk.%d.ffn_up.weight",
        [KILN_ROLE_FFN_DOWN] = "blk.%d.ffn_down.weight",
    },
    .output_optional = 1,
    .read_config = llama_read_config,
};
