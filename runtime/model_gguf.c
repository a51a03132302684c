/* runtime/model_gguf.c — a Llama-family model from a GGUF file as llama.cpp
 * writes it. The file stays mapped; weights point into it.
 *
 * What is read:
 *   general.architecture            -> the kiln_arch (tensor names, metadata keys)
 *   <arch>.* metadata               -> kiln_model_config (arch_<name>.c)
 *   tokenizer.ggml.*                -> the tokenizer, when present
 *   tensors by role                 -> ne[0] = cols (innermost), ne[1] = rows */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/model.h"

static kiln_status find_weight(const kiln_gguf *g, const kiln_arch *a, kiln_role role, int layer, int optional,
                               kiln_weight *w)
{
    char name[128];
    snprintf(name, sizeof name, a->tensor_names[role], layer);
    const kiln_gguf_tensor *t = kiln_gguf_find_tensor(g, name);
    memset(w, 0, sizeof *w);
    if (!t) return optional ? KILN_OK : kiln_fail(KILN_ERR_FORMAT, "tensor %s is missing", name);
    if (t->dtype < 0)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "tensor %s has GGUF type %d, which kiln does not support", name,
                         t->ggml_type);
    if (t->n_dims > 2 || (t->n_dims == 2 && t->ne[2] > 1))
        return kiln_fail(KILN_ERR_SHAPE, "tensor %s has %d dimensions; a weight has 1 or 2", name, t->n_dims);
    w->data = t->data;
    w->dtype = (kiln_dtype)t->dtype;
    w->cols = t->ne[0];
    w->rows = t->n_dims >= 2 ? t->ne[1] : 1;
    return KILN_OK;
}

kiln_status kiln_model_load_gguf(kiln_model *m, const char *path, const char *tokenizer_pre)
{
    kiln_status st = kiln_gguf_open(path, &m->gguf);
    if (st != KILN_OK) return st;
    const kiln_gguf *g = m->gguf;
    kiln_gguf_str arch_name;
    if (kiln_gguf_get_str(g, "general.architecture", &arch_name) != KILN_OK)
        return kiln_fail(KILN_ERR_FORMAT, "GGUF metadata general.architecture is missing");
    const kiln_arch *a = kiln_arch_find(arch_name.ptr, arch_name.len);
    if (!a)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "architecture '%.*s' is not supported (kiln runs: llama)",
                         (int)(arch_name.len > 64 ? 64 : arch_name.len), arch_name.ptr);
    snprintf(m->cfg.arch, sizeof m->cfg.arch, "%s", a->name);
    if ((st = a->read_config(g, &m->cfg)) != KILN_OK) return st;

    /* "none" / "no_vocab" (llama.cpp's words for a file without a vocabulary,
     * as kiln synth writes): ids only, like a file without the key */
    kiln_gguf_str tok_model = {0};
    int no_vocab = kiln_gguf_find_key(g, "tokenizer.ggml.model") < 0 ||
                   kiln_gguf_get_str(g, "tokenizer.ggml.model", &tok_model) != KILN_OK ||
                   (tok_model.len == 4 && !memcmp(tok_model.ptr, "none", 4)) ||
                   (tok_model.len == 8 && !memcmp(tok_model.ptr, "no_vocab", 8));
    if (no_vocab && tokenizer_pre)
        return kiln_fail(KILN_ERR_INVALID_ARG, "tokenizer_pre '%s' given, but the file has no vocabulary to apply it to",
                         tokenizer_pre);
    kiln_tokenizer_options topts = {.tokenizer_pre = tokenizer_pre};
    if (!no_vocab && (st = kiln_tokenizer_from_gguf_ex(g, &topts, &m->tokenizer)) != KILN_OK) return st;

    if ((st = find_weight(g, a, KILN_ROLE_TOKEN_EMBD, 0, 0, &m->token_embd)) ||
        (st = find_weight(g, a, KILN_ROLE_OUTPUT_NORM, 0, 0, &m->output_norm)) ||
        (st = find_weight(g, a, KILN_ROLE_OUTPUT, 0, a->output_optional, &m->output)))
        return st;
    m->cfg.n_vocab = (int32_t)m->token_embd.rows;
    if (!m->output.data) {
        m->output = m->token_embd;
        m->cfg.tied_output = 1;
    }
    m->layers = calloc((size_t)m->cfg.n_layers, sizeof *m->layers);
    if (!m->layers) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "out of memory for %d layers", m->cfg.n_layers);
    for (int l = 0; l < m->cfg.n_layers; l++)
        for (int r = KILN_ROLE_FIRST_PER_LAYER; r < KILN_ROLE_COUNT; r++)
            if ((st = find_weight(g, a, (kiln_role)r, l, 0, &m->layers[l].w[r]))) return st;
    if (m->tokenizer && kiln_tokenizer_vocab_size(m->tokenizer) != m->cfg.n_vocab)
        return kiln_fail(KILN_ERR_FORMAT, "the vocabulary has %d tokens but token_embd has %d rows",
                         kiln_tokenizer_vocab_size(m->tokenizer), m->cfg.n_vocab);
    return KILN_OK;
}
